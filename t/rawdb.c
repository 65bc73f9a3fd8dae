/* rawdb: test helper. Reads and writes raw vault records, so tests can
 * tamper with, move and replay sealed records the way an attacker with
 * the database files could.
 *   rawdb CONF DB get KEY        print the value as hex
 *   rawdb CONF DB put KEY HEX    store a value
 *   rawdb CONF DB del KEY        remove a record
 *   rawdb CONF DB keys           list keys
 * "x:HEX" names a binary key; "r:N" the audit log's record N. It stops
 * the vault's keeper first (takeover.h). */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "secmem.h"
#include "vault.h"
#include "takeover.h"

static struct fa_conf conf;
static struct fa_vault v;
static DB *db;
static char **args;
static void *kbuf, *dbuf;	/* the keys and data given in hex */
static db_recno_t recno;

static DB *
pick(const char *name)
{
	static const struct { const char *n; size_t off; } t[] = {
		{ "meta", offsetof(struct fa_vault, meta) },
		{ "tenants", offsetof(struct fa_vault, tenants) },
		{ "bindings", offsetof(struct fa_vault, bindings) },
		{ "tokens", offsetof(struct fa_vault, tokens) },
		{ "states", offsetof(struct fa_vault, states) },
		{ "cache", offsetof(struct fa_vault, cache) },
		{ "reqs", offsetof(struct fa_vault, reqs) },
		{ "audit", offsetof(struct fa_vault, audit) },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].n, name) == 0)
			return *(DB **)((char *)&v + t[i].off);
	errx(64, "unknown db %s", name);
}

static int
run(struct fa_vault *vp, DB_TXN *t, void *a)
{
	DBT k, d;
	DBC *c;
	char *hex;
	size_t n;
	int r;

	(void)vp;
	(void)a;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	if (strcmp(args[0], "keys") == 0) {
		if ((r = db->cursor(db, t, &c, 0)) != 0)
			return r;
		k.flags = d.flags = DB_DBT_REALLOC;
		while ((r = c->get(c, &k, &d, DB_NEXT)) == 0)
			printf("%.*s\n", (int)k.size, (char *)k.data);
		c->close(c);
		free(k.data);
		free(d.data);
		return r == DB_NOTFOUND ? 0 : r;
	}
	/* "x:HEX" names a binary key (states are keyed by a hash). */
	if (strncmp(args[1], "r:", 2) == 0) {
		recno = (db_recno_t)strtoul(args[1] + 2, NULL, 10);
		k.data = &recno;
		k.size = sizeof(recno);
	} else if (strncmp(args[1], "x:", 2) == 0) {
		n = strlen(args[1] + 2) / 2;
		free(kbuf);	/* a transaction retried */
		k.data = kbuf = malloc(n + 1);
		if (sodium_hex2bin(k.data, n, args[1] + 2, strlen(args[1] + 2),
		    NULL, &n, NULL) != 0)
			errx(65, "bad hex key");
		k.size = n;
	} else {
		k.data = args[1];
		k.size = strlen(args[1]);
	}
	if (strcmp(args[0], "get") == 0) {
		d.flags = DB_DBT_MALLOC;
		if ((r = db->get(db, t, &k, &d, 0)) != 0)
			return r;
		hex = malloc(d.size * 2 + 1);
		sodium_bin2hex(hex, d.size * 2 + 1, d.data, d.size);
		puts(hex);
		free(hex);
		free(d.data);
		return 0;
	}
	if (strcmp(args[0], "del") == 0)
		return db->del(db, t, &k, 0);
	n = strlen(args[2]) / 2;
	free(dbuf);
	d.data = dbuf = malloc(n + 1);
	if (sodium_hex2bin(d.data, n, args[2], strlen(args[2]), NULL, &n,
	    NULL) != 0)
		errx(65, "bad hex");
	d.size = n;
	return db->put(db, t, &k, &d, 0);
}

int
main(int argc, char *argv[])
{
	if (argc < 4)
		errx(64, "usage: rawdb conf db get|put|keys [key [hex]]");
	if (fa_secure_init() == -1 || fa_conf_load(&conf, argv[1]) == -1 ||
	    takeover(&v, &conf, 0) == -1)
		fa_die();
	db = pick(argv[2]);
	args = argv + 3;
	if (((strcmp(args[0], "get") == 0 || strcmp(args[0], "del") == 0) &&
	    argc != 5) || (strcmp(args[0], "put") == 0 && argc != 6))
		errx(64, "bad arguments");
	if (fa_vault_txn(&v, run, NULL) == -1)
		fa_die();
	fa_vault_close(&v);
	free(kbuf);
	free(dbuf);
	return 0;
}
