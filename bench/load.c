/* load: fills a vault with connected bindings for the benchmarks, through
 * the library, records as `fa-vault tenant add`, `fa-vault add` and
 * `fa-exchange | fa-vault store` make them (audit records and secondary
 * indexes included), a thousand bindings a transaction.
 *   load CONF N DUE [PER_TENANT] <refresh-token
 * Binding i (0 <= i < N) is b%08x of a scrambled i, so ids are spread
 * over the key space whatever N is, and bindings 0..DUE-1 are the same
 * in every vault. Those are due now (their access token expires in 60 s);
 * the others are fresh, due 2 to 3 days from now, in scattered order.
 * Every binding holds the refresh token read from stdin (one the
 * stand-in issued, so the due ones can really be refreshed) and its own
 * FreeAgent company. Tenant t%06d holds PER_TENANT (10) bindings. */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "secmem.h"
#include "vault.h"
#include "verb.h"
#include "../t/takeover.h"

#define BATCH	1000

static struct fa_conf conf;
static struct fa_vault v;
static long n, ndue, per = 10;
static int64_t now;
static struct fa_tokens *tok;

/* A bijection on 32 bits: scattered, stable ids. */
static uint32_t
scramble(uint32_t x)
{
	x = (x ^ (x >> 16)) * 0x45d9f3bU;
	x = (x ^ (x >> 16)) * 0x45d9f3bU;
	return x ^ (x >> 16);
}

static int
tenant(DB_TXN *t, long i)
{
	char name[32];
	json_t *j;
	int r;

	snprintf(name, sizeof(name), "t%06ld", i / per);
	j = json_pack("{s:s,s:I}", "name", name, "created", (json_int_t)now);
	if ((r = fa_putjson(v.tenants, t, name, j)) == 0)
		r = fa_audit(&v, t, NULL, name, "tenant add", "ok",
		    "plan=- endpoint=-");
	json_decref(j);
	return r;
}

static int
binding(DB_TXN *t, long i)
{
	char id[16], ten[32], host[64], cid[24], cname[40], sub[40];
	unsigned char raw[35];
	json_t *b;
	int r;

	snprintf(id, sizeof(id), "b%08x", scramble((uint32_t)i));
	snprintf(ten, sizeof(ten), "t%06ld", i / per);
	snprintf(host, sizeof(host), "shop%ld.example.com", i);
	snprintf(cid, sizeof(cid), "%ld", 100000 + i);
	snprintf(cname, sizeof(cname), "Company %ld", 100000 + i);
	snprintf(sub, sizeof(sub), "company%ld", 100000 + i);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(tok->access, FA_TOKLEN, raw, sizeof(raw),
	    sodium_base64_VARIANT_ORIGINAL);
	tok->expires_at = i < ndue ? now + 60 :
	    now + 2 * 86400 + scramble((uint32_t)i ^ 0x5bd1e995U) % 86400;
	tok->refresh_expires_at = now + 631151957;
	b = json_pack("{s:s,s:s,s:s,s:s,s:{},s:I,s:I,s:I,"
	    "s:{s:s,s:s,s:s,s:s,s:s,s:s},s:s,s:I}",
	    "id", id, "tenant", ten, "magento", host, "status", "connected",
	    "settings", "tokver", (json_int_t)1, "created", (json_int_t)now,
	    "updated", (json_int_t)now,
	    "company", "id", cid, "name", cname, "subdomain", sub,
	    "url", "https://api.freeagent.com/v2/company", "currency", "GBP",
	    "type", "UkLimitedCompany",
	    "token_endpoint", conf.default_endpoint,
	    "connected_at", (json_int_t)now);
	if ((r = fa_audit(&v, t, id, ten, "add", "ok", "magento=%s",
	    host)) == 0 &&
	    (r = fa_tokens_put(&v, t, id, 1, tok)) == 0 &&
	    (r = fa_binding_put(&v, t, id, b)) == 0)
		r = fa_audit(&v, t, id, ten, "connect", "ok", "company \"%s\" "
		    "(id %s, %s); was pending", cname, cid, sub);
	json_decref(b);
	return r;
}

static int
batch(struct fa_vault *vp, DB_TXN *t, void *a)
{
	long i, first = *(long *)a;
	int r = 0;

	(void)vp;
	for (i = first; i < first + BATCH && i < n && r == 0; i++)
		if ((i % per != 0 || (r = tenant(t, i)) == 0))
			r = binding(t, i);
	return r;
}

int
main(int argc, char *argv[])
{
	long i;

	if (argc < 4 || argc > 5)
		errx(64, "usage: load CONF N DUE [PER_TENANT] <refresh-token");
	n = atol(argv[2]);
	ndue = atol(argv[3]);
	if (argc == 5)
		per = atol(argv[4]);
	if (n < 1 || ndue < 0 || ndue > n || per < 1)
		errx(64, "bad numbers");
	if (fa_secure_init() == -1 || fa_conf_load(&conf, argv[1]) == -1 ||
	    takeover(&v, &conf, 0) == -1)
		fa_die();
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
		errx(1, "out of secure memory");
	if (fgets(tok->refresh, FA_TOKLEN, stdin) == NULL)
		errx(65, "no refresh token on stdin");
	tok->refresh[strcspn(tok->refresh, "\n")] = '\0';
	now = fa_now();
	for (i = 0; i < n; i += BATCH) {
		if (fa_vault_txn(&v, batch, &i) == -1)
			fa_die();
		/* So that the log files of the load can be removed. */
		if (i / BATCH % 50 == 49)
			v.env->txn_checkpoint(v.env, 0, 0, 0);
	}
	v.env->txn_checkpoint(v.env, 0, 0, DB_FORCE);
	fa_secfree(tok);
	fa_vault_close(&v);
	return 0;
}
