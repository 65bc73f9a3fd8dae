/* fa-vault: the encrypted vault of tenants, bindings and tokens. */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "oauth.h"
#include "secmem.h"
#include "seal.h"
#include "vault.h"

#define MAXBUNDLE	65536

static struct fa_conf conf;
static struct fa_vault vault;
static const char *confpath;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: fa-vault [-c file] init | keygen file | rekey newkeyfile | verify\n"
	    "       fa-vault [-c file] tenant add tenant [plan=P] [endpoint=E]\n"
	    "       fa-vault [-c file] tenant ls | tenant set tenant key=value ...\n"
	    "       fa-vault [-c file] add -t tenant binding magento=host [endpoint=E]\n"
	    "       fa-vault [-c file] ls [-t tenant] | show binding | rm binding\n"
	    "       fa-vault [-c file] set binding key=value ...\n"
	    "       fa-vault [-c file] store | token [-f] binding | log [binding]\n");
	exit(64);
}

static void
openvault(int flags)
{
	if (fa_conf_load(&conf, confpath) == -1 ||
	    fa_vault_open(&vault, &conf, flags | FA_VAULT_CHECKPOINT) == -1)
		fa_die();
}

static void
txn(fa_txnfn fn, void *arg)
{
	if (fa_vault_txn(&vault, fn, arg) == -1) {
		fa_vault_close(&vault);
		fa_die();
	}
}

static void
putline(json_t *j)
{
	char *s;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		errx(1, "out of memory");
	puts(s);
	fa_jsonfree(s);
}

static int
finish(void)
{
	fa_vault_close(&vault);
	if (fflush(stdout) == EOF || ferror(stdout) || fclose(stdout) == EOF)
		err(1, "stdout");
	return 0;
}

static void
checkname(const char *what, const char *s)
{
	if (!fa_validname(s, 65))
		errx(65, "invalid %s \"%.64s\": use 1-64 of A-Z a-z 0-9 . _ @ + -",
		    what, s);
}

static void
checkhost(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]");

	if (n == 0 || n > 253 || s[n] != '\0')
		errx(65, "invalid magento host \"%.64s\"", s);
}

/* key=value argument; returns value, sets *k to a NUL-ended key copy. */
static const char *
kv(const char *arg, char *k, size_t ksz)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= ksz)
		errx(64, "expected key=value, got \"%.64s\"", arg);
	memcpy(k, arg, eq - arg);
	k[eq - arg] = '\0';
	return eq + 1;
}

/* A string member, "" when absent: vault records are ours, but a
 * damaged one must not crash a strcmp. */
static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static const char *
status_of(json_t *b)
{
	const char *s = jstr(b, "status");

	return *s ? s : "pending";
}

static void
checkendpoint(const char *e)
{
	if (fa_conf_endpoint(&conf, e) == NULL)
		errx(78, "unknown endpoint %s: define %s.base_url in %s", e, e,
		    conf.path);
}

/* The tenant's plan: NULL (no limits) when the tenant has none and
 * default_plan is not defined; an error when the tenant's is not. */
static int
planof(json_t *t, const struct fa_plan **p)
{
	const char *name = json_string_value(json_object_get(t, "plan"));

	*p = fa_conf_plan(&conf, name ? name : conf.default_plan);
	if (name != NULL && *p == NULL)
		return fa_seterr(78, "tenant %s is on plan %s, which %s does "
		    "not define", jstr(t, "name"), name, conf.path);
	return 0;
}

/* ---- tenants ---- */

struct tenantarg {
	const char	*name;
	const char	*plan;
	const char	*endpoint;
	int		 create;
};

static int
tenant_put(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct tenantarg *ta = a;
	json_t *j;
	int r;

	r = fa_getjson(v->tenants, t, ta->name, &j, DB_RMW);
	if (r == 0 && ta->create) {
		json_decref(j);
		return fa_seterr(65, "tenant %s exists", ta->name);
	}
	if (r == DB_NOTFOUND && !ta->create)
		return fa_seterr(66, "no tenant %s", ta->name);
	if (r != 0 && r != DB_NOTFOUND)
		return r;
	if (j == NULL)
		j = json_pack("{s:s,s:I}", "name", ta->name, "created",
		    (json_int_t)fa_now());
	/* An empty value unsets: the default plan or endpoint applies. */
	if (ta->plan != NULL && *ta->plan == '\0')
		json_object_del(j, "plan");
	else if (ta->plan != NULL)
		json_object_set_new(j, "plan", json_string(ta->plan));
	if (ta->endpoint != NULL && *ta->endpoint == '\0')
		json_object_del(j, "endpoint");
	else if (ta->endpoint != NULL)
		json_object_set_new(j, "endpoint", json_string(ta->endpoint));
	if ((r = fa_putjson(v->tenants, t, ta->name, j)) == 0)
		r = fa_audit(v, t, NULL, ta->name, ta->create ? "tenant add" :
		    "tenant set", "ok", "plan=%s endpoint=%s", *jstr(j, "plan") ?
		    jstr(j, "plan") : "-", *jstr(j, "endpoint") ?
		    jstr(j, "endpoint") : "-");
	json_decref(j);
	return r;
}

static int
scan(DB *db, DB_TXN *t, void (*fn)(const DBT *, const DBT *, void *),
    void *arg)
{
	DBC *c;
	DBT k, d;
	int r;

	if ((r = db->cursor(db, t, &c, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		fn(&k, &d, arg);
		fa_vault_progress(&vault);
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

static void
print_record(const DBT *k, const DBT *d, void *arg)
{
	(void)k;
	(void)arg;
	printf("%.*s\n", (int)d->size, (char *)d->data);
}

static int
tenant_ls(struct fa_vault *v, DB_TXN *t, void *a)
{
	(void)a;
	return scan(v->tenants, t, print_record, NULL);
}

static void
cmd_tenant(int argc, char *argv[])
{
	struct tenantarg ta = { 0 };
	char k[32];
	const char *val;
	int i;

	if (argc < 1)
		usage();
	if (strcmp(argv[0], "ls") == 0) {
		if (argc != 1)
			usage();
		openvault(0);
		txn(tenant_ls, NULL);
		exit(finish());
	}
	if (strcmp(argv[0], "add") == 0)
		ta.create = 1;
	else if (strcmp(argv[0], "set") != 0)
		usage();
	if (argc < 2)
		usage();
	checkname("tenant", ta.name = argv[1]);
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	for (i = 2; i < argc; i++) {
		val = kv(argv[i], k, sizeof(k));
		if (strcmp(k, "plan") == 0) {
			if (*val != '\0' && fa_conf_plan(&conf, val) == NULL)
				errx(78, "unknown plan %s: define plan.%s."
				    "companies and plan.%s.bindings in %s",
				    val, val, val, conf.path);
			ta.plan = val;
		} else if (strcmp(k, "endpoint") == 0) {
			if (*val != '\0')
				checkendpoint(val);
			ta.endpoint = val;
		} else
			errx(64, "tenant: unknown setting %s (plan, endpoint)",
			    k);
	}
	openvault(0);
	txn(tenant_put, &ta);
	exit(finish());
}

/* ---- bindings ---- */


struct count {
	const char	*skip;		/* binding not to count */
	long		 bindings;
	json_t		*companies;	/* id -> name */
};

static int
count_one(json_t *b, void *a)
{
	struct count *c = a;
	const char *st = status_of(b), *id;
	json_t *co;

	if (c->skip != NULL && strcmp(jstr(b, "id"), c->skip) == 0)
		return 0;
	if (strcmp(st, "disconnected") == 0)
		return 0;
	c->bindings++;
	if ((co = json_object_get(b, "company")) != NULL &&
	    *(id = jstr(co, "id")) != '\0' && strcmp(st, "pending") != 0)
		json_object_set_new(c->companies, id,
		    json_string(*jstr(co, "name") ? jstr(co, "name") : id));
	return 0;
}

struct addarg {
	const char	*tenant;
	const char	*id;
	const char	*magento;
	const char	*endpoint;
};

static int
binding_add(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct addarg *aa = a;
	struct count c = { NULL, 0, NULL };
	const struct fa_plan *p;
	json_t *tj, *b;
	int r;

	if ((r = fa_getjson(v->tenants, t, aa->tenant, &tj, 0)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "no tenant %s", aa->tenant) : r;
	if ((r = fa_getjson(v->bindings, t, aa->id, &b, DB_RMW)) == 0) {
		json_decref(b);
		json_decref(tj);
		return fa_seterr(65, "binding %s exists", aa->id);
	}
	if (r != DB_NOTFOUND) {
		json_decref(tj);
		return r;
	}
	c.companies = json_object();
	r = fa_each_binding(v, t, aa->tenant, count_one, &c);
	json_decref(c.companies);
	if (r == 0)
		r = planof(tj, &p);
	if (r == 0 && p != NULL && p->bindings >= 0 &&
	    c.bindings + 1 > p->bindings)
		r = fa_seterr(77, "plan %s allows %ld binding%s (Magento "
		    "websites); tenant %s has %ld", p->name, p->bindings,
		    p->bindings == 1 ? "" : "s", aa->tenant, c.bindings);
	json_decref(tj);
	if (r != 0)
		return r;
	b = json_pack("{s:s,s:s,s:s,s:s,s:{},s:I,s:I,s:I}", "id", aa->id,
	    "tenant", aa->tenant, "magento", aa->magento, "status", "pending",
	    "settings", "tokver", (json_int_t)0, "created",
	    (json_int_t)fa_now(), "updated", (json_int_t)fa_now());
	if (aa->endpoint != NULL)
		json_object_set_new(b, "endpoint", json_string(aa->endpoint));
	r = fa_putjson(v->bindings, t, aa->id, b);
	json_decref(b);
	if (r == 0)
		r = fa_audit(v, t, aa->id, aa->tenant, "add", "ok",
		    "magento=%s", aa->magento);
	return r;
}

static int
audit_addrefused(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct addarg *aa = a;

	return fa_audit(v, t, aa->id, aa->tenant, "add", "refused",
	    "plan limit on bindings");
}

static void
cmd_add(int argc, char *argv[])
{
	struct addarg aa = { 0 };
	char k[32];
	const char *val;
	int ch, i;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		switch (ch) {
		case 't':
			aa.tenant = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (aa.tenant == NULL || argc < 2)
		usage();
	checkname("tenant", aa.tenant);
	checkname("binding", aa.id = argv[0]);
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	for (i = 1; i < argc; i++) {
		val = kv(argv[i], k, sizeof(k));
		if (strcmp(k, "magento") == 0)
			checkhost(aa.magento = val);
		else if (strcmp(k, "endpoint") == 0) {
			checkendpoint(val);
			aa.endpoint = val;
		} else
			errx(64, "add: unknown setting %s (magento, endpoint)",
			    k);
	}
	if (aa.magento == NULL)
		errx(64, "add: magento=HOST is required");
	openvault(0);
	if (fa_vault_txn(&vault, binding_add, &aa) == -1) {
		char msg[512];
		int st = fa_errstatus();

		snprintf(msg, sizeof(msg), "%s", fa_errmsg());
		if (st == 77)	/* a plan limit: worth a record */
			(void)fa_vault_txn(&vault, audit_addrefused, &aa);
		fa_vault_close(&vault);
		errx(st, "%s", msg);
	}
	exit(finish());
}

struct lsarg {
	const char	*tenant;
	int		 found;
};

static int
ls_one(json_t *b, void *a)
{
	(void)a;
	putline(b);
	return 0;
}

static void
ls_record(const DBT *k, const DBT *d, void *a)
{
	(void)k;
	(void)a;
	printf("%.*s\n", (int)d->size, (char *)d->data);
}

static int
binding_ls(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct lsarg *la = a;
	json_t *tj;
	int r;

	if (la->tenant == NULL)
		return scan(v->bindings, t, ls_record, NULL);
	if ((r = fa_getjson(v->tenants, t, la->tenant, &tj, 0)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "no tenant %s", la->tenant) : r;
	json_decref(tj);
	return fa_each_binding(v, t, la->tenant, ls_one, NULL);
}

static void
cmd_ls(int argc, char *argv[])
{
	struct lsarg la = { 0 };
	int ch;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		switch (ch) {
		case 't':
			la.tenant = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();
	if (la.tenant != NULL)
		checkname("tenant", la.tenant);
	openvault(0);
	txn(binding_ls, &la);
	exit(finish());
}

struct showarg {
	const char	*id;
	json_t		*out;
};

static int
binding_show(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct showarg *sa = a;
	struct fa_tokhdr h;
	char hex[17];
	void *rec;
	size_t len;
	int r;

	json_decref(sa->out);	/* a transaction retried */
	if ((r = fa_getjson(v->bindings, t, sa->id, &sa->out, 0)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "no binding %s", sa->id) : r;
	r = fa_tokhdr_get(v->tokens, t, sa->id, &h, &rec, &len);
	if (r == DB_NOTFOUND)
		return 0;
	if (r != 0)
		return r;
	fa_keyid_hex(fa_sealed_keyid((unsigned char *)rec + FA_TOKHDRLEN,
	    len - FA_TOKHDRLEN), hex);
	free(rec);
	json_object_set_new(sa->out, "token", json_pack("{s:I,s:I,s:I,s:I,"
	    "s:s}", "version", (json_int_t)h.version, "expires_at",
	    (json_int_t)h.expires_at, "refresh_token_expires_at",
	    (json_int_t)h.refresh_expires_at, "due_at", (json_int_t)h.due_at,
	    "key", hex));
	return 0;
}

static void
cmd_show(int argc, char *argv[])
{
	struct showarg sa = { 0 };

	if (argc != 2)
		usage();
	checkname("binding", sa.id = argv[1]);
	openvault(0);
	txn(binding_show, &sa);
	putline(sa.out);
	json_decref(sa.out);
	exit(finish());
}

struct setarg {
	const char	*id;
	int		 argc;
	char		**argv;
};

static int
binding_set(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct setarg *sa = a;
	json_t *b, *s;
	char k[64];
	const char *val;
	int i, r;

	if ((r = fa_getjson(v->bindings, t, sa->id, &b, DB_RMW)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "no binding %s", sa->id) : r;
	if (!json_is_object(s = json_object_get(b, "settings"))) {
		s = json_object();
		json_object_set_new(b, "settings", s);
	}
	for (i = 0; i < sa->argc; i++) {
		val = kv(sa->argv[i], k, sizeof(k));
		if (strcmp(k, "magento") == 0)
			json_object_set_new(b, "magento", json_string(val));
		else if (strcmp(k, "endpoint") == 0) {
			if (*val == '\0')
				json_object_del(b, "endpoint");
			else
				json_object_set_new(b, "endpoint",
				    json_string(val));
		} else if (strncmp(k, "settings.", 9) == 0) {
			if (*val == '\0')
				json_object_del(s, k + 9);
			else
				json_object_set_new(s, k + 9, json_string(val));
		}
	}
	json_object_set_new(b, "updated", json_integer(fa_now()));
	r = fa_putjson(v->bindings, t, sa->id, b);
	if (r == 0)
		r = fa_audit(v, t, sa->id, jstr(b, "tenant"), "set", "ok",
		    "%d change%s", sa->argc, sa->argc == 1 ? "" : "s");
	json_decref(b);
	return r;
}

static void
cmd_set(int argc, char *argv[])
{
	struct setarg sa;
	char k[64];
	const char *val;
	int i;

	if (argc < 3)
		usage();
	checkname("binding", sa.id = argv[1]);
	sa.argc = argc - 2;
	sa.argv = argv + 2;
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	/* Check everything before the transaction: all or nothing. */
	for (i = 0; i < sa.argc; i++) {
		val = kv(sa.argv[i], k, sizeof(k));
		if (strcmp(k, "magento") == 0)
			checkhost(val);
		else if (strcmp(k, "endpoint") == 0) {
			if (*val != '\0')
				checkendpoint(val);
		} else if (strncmp(k, "settings.", 9) == 0) {
			if (!fa_validname(k + 9, 48))
				errx(65, "invalid setting name %s", k);
			if (strlen(val) > 1024 || strpbrk(val, "\n\r"))
				errx(65, "value of %s too long or multi-line",
				    k);
		} else
			errx(64, "set: unknown key %s (magento, endpoint, "
			    "settings.NAME)", k);
	}
	openvault(0);
	txn(binding_set, &sa);
	exit(finish());
}

static int
binding_rm(struct fa_vault *v, DB_TXN *t, void *a)
{
	const char *id = a;
	json_t *b;
	int r;

	if ((r = fa_getjson(v->bindings, t, id, &b, DB_RMW)) != 0)
		return r == DB_NOTFOUND ? fa_seterr(66, "no binding %s", id) : r;
	r = fa_del(v->bindings, t, id);
	if (r == 0 && (r = fa_del(v->tokens, t, id)) == DB_NOTFOUND)
		r = 0;
	if (r == 0 && (r = fa_del(v->cache, t, id)) == DB_NOTFOUND)
		r = 0;
	if (r == 0)
		r = fa_audit(v, t, id, jstr(b, "tenant"), "rm", "ok", NULL);
	json_decref(b);
	return r;
}

static void
cmd_rm(int argc, char *argv[])
{
	if (argc != 2)
		usage();
	checkname("binding", argv[1]);
	openvault(0);
	txn(binding_rm, argv[1]);
	exit(finish());
}

/* ---- tokens ---- */

struct storearg {
	const char	*id;
	const char	*endpoint;
	json_t		*company;	/* normalised: id always a string */
	struct fa_tokens *tok;
	char		 refused[512];	/* set when refused: audit it */
	char		 tenant[65];
};

/* Reads and checks a token bundle; every failure is status 65. */
static json_t *
readbundle(struct storearg *sa)
{
	char *buf;
	size_t len = 0;
	ssize_t n;
	json_t *j;

	if ((buf = fa_secalloc(MAXBUNDLE + 1)) == NULL ||
	    (sa->tok = fa_secalloc(sizeof(*sa->tok))) == NULL)
		errx(1, "out of secure memory");
	while ((n = read(0, buf + len, MAXBUNDLE + 1 - len)) > 0)
		if ((len += n) > MAXBUNDLE)
			break;
	if (n == -1)
		err(1, "stdin");
	if (len > MAXBUNDLE)
		errx(65, "token bundle larger than %d bytes", MAXBUNDLE);
	j = fa_bundle(buf, len, sa->tok, &sa->company);
	fa_secfree(buf);
	if (j == NULL)
		fa_die();
	sa->id = jstr(j, "binding");
	sa->endpoint = jstr(j, "endpoint");
	return j;
}

static const char *
coname(json_t *co)
{
	static char buf[2][400];
	static int i;

	i = !i;
	snprintf(buf[i], sizeof(buf[i]), "\"%s\" (id %s, %s)",
	    jstr(co, "name"), jstr(co, "id"), jstr(co, "subdomain"));
	return buf[i];
}

static int
token_store(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct storearg *sa = a;
	struct count c = { NULL, 0, NULL };
	const struct fa_plan *p;
	const char *ep;
	char st[32];
	json_t *b, *tj = NULL, *old;
	json_int_t ver;
	int r, reconnect;

	sa->refused[0] = '\0';
	if ((r = fa_getjson(v->bindings, t, sa->id, &b, DB_RMW)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "no binding %s", sa->id) : r;
	snprintf(sa->tenant, sizeof(sa->tenant), "%s", jstr(b, "tenant"));
	if ((r = fa_getjson(v->tenants, t, sa->tenant, &tj, 0)) != 0 &&
	    r != DB_NOTFOUND)
		goto out;
	ep = fa_binding_endpoint(&conf, b, tj);
	if (strcmp(ep, sa->endpoint) != 0) {
		r = fa_seterr(65, "token bundle is for endpoint %s, binding %s "
		    "uses %s", sa->endpoint, sa->id, ep);
		goto out;
	}
	/* The company lock: by id, with the subdomain as a second check;
	 * never by url, which is the same for every FreeAgent company. */
	old = json_object_get(b, "company");
	if (old != NULL && (strcmp(jstr(old, "id"), jstr(sa->company, "id"))
	    != 0 || strcmp(jstr(old, "subdomain"), jstr(sa->company,
	    "subdomain")) != 0)) {
		r = fa_seterr(77, "binding %s is locked to FreeAgent company %s; "
		    "refusing company %s. Pick %s on FreeAgent's consent page, "
		    "or add a new binding for the other company", sa->id,
		    coname(old), coname(sa->company), jstr(old, "name"));
		goto refused;
	}
	c.skip = sa->id;
	c.companies = json_object();
	if ((r = fa_each_binding(v, t, sa->tenant, count_one, &c)) != 0)
		goto out;
	p = NULL;
	if (tj != NULL && (r = planof(tj, &p)) != 0)
		goto out;
	if (p != NULL && p->companies >= 0 && json_object_get(c.companies,
	    jstr(sa->company, "id")) == NULL &&
	    (long)json_object_size(c.companies) + 1 > p->companies) {
		r = fa_seterr(77, "plan %s allows %ld FreeAgent compan%s; "
		    "tenant %s already uses %zu", p->name, p->companies,
		    p->companies == 1 ? "y" : "ies", sa->tenant,
		    json_object_size(c.companies));
		goto refused;
	}
	if (p != NULL && p->bindings >= 0 && c.bindings + 1 > p->bindings) {
		r = fa_seterr(77, "plan %s allows %ld binding%s (Magento "
		    "websites); tenant %s has %ld", p->name, p->bindings,
		    p->bindings == 1 ? "" : "s", sa->tenant, c.bindings);
		goto refused;
	}
	snprintf(st, sizeof(st), "%s", status_of(b));
	reconnect = strcmp(st, "pending") != 0;
	ver = json_integer_value(json_object_get(b, "tokver")) + 1;
	json_object_set(b, "company", sa->company);
	json_object_set_new(b, "status", json_string("connected"));
	json_object_set_new(b, "token_endpoint", json_string(sa->endpoint));
	json_object_set_new(b, "tokver", json_integer(ver));
	json_object_set_new(b, "connected_at", json_integer(fa_now()));
	json_object_set_new(b, "updated", json_integer(fa_now()));
	json_object_del(b, "last_failure");
	if ((r = fa_tokens_put(v, t, sa->id, (uint64_t)ver, sa->tok)) == 0 &&
	    (r = fa_putjson(v->bindings, t, sa->id, b)) == 0)
		r = fa_audit(v, t, sa->id, sa->tenant, reconnect ? "reconnect" :
		    "connect", "ok", "company %s; was %s", coname(sa->company),
		    st);
	goto out;
refused:
	snprintf(sa->refused, sizeof(sa->refused), "%s", fa_errmsg());
out:
	json_decref(c.companies);
	json_decref(tj);
	json_decref(b);
	return r;
}

static int
audit_refusal(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct storearg *sa = a;

	return fa_audit(v, t, sa->id, sa->tenant, "connect", "refused", "%s",
	    sa->refused);
}

static void
cmd_store(int argc, char *argv[])
{
	struct storearg sa;
	json_t *j;
	int st;

	(void)argv;
	if (argc != 1)
		usage();
	memset(&sa, 0, sizeof(sa));
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	j = readbundle(&sa);
	openvault(0);
	if (fa_vault_txn(&vault, token_store, &sa) == -1) {
		st = fa_errstatus();
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", fa_errmsg());
		if (sa.refused[0] != '\0')
			(void)fa_vault_txn(&vault, audit_refusal, &sa);
		fa_vault_close(&vault);
		errx(st, "%s", msg);
	}
	fa_secfree(sa.tok);
	json_decref(sa.company);
	json_decref(j);
	exit(finish());
}

struct tokenarg {
	const char	*id;
	json_t		*bundle;
};

static int
token_get(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct tokenarg *ta = a;
	struct fa_tokens *tok;
	json_t *b;
	int r;

	if ((r = fa_getjson(v->bindings, t, ta->id, &b, 0)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "no binding %s", ta->id) : r;
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL) {
		json_decref(b);
		return fa_seterr(1, "out of secure memory");
	}
	r = fa_tokens_get(v, t, ta->id, (uint64_t)json_integer_value(
	    json_object_get(b, "tokver")), tok, NULL);
	if (r == DB_NOTFOUND)
		r = fa_seterr(77, "binding %s has no tokens (status %s)",
		    ta->id, status_of(b));
	if (r == 0)
		ta->bundle = json_pack("{s:s,s:s?,s:s,s:s,s:I,s:I,s:O?}",
		    "binding", ta->id, "endpoint", json_string_value(json_object_get(b,
		    "token_endpoint")),
		    "access_token", tok->access, "refresh_token", tok->refresh,
		    "expires_at", (json_int_t)tok->expires_at,
		    "refresh_token_expires_at",
		    (json_int_t)tok->refresh_expires_at, "company",
		    json_object_get(b, "company"));
	fa_secfree(tok);
	json_decref(b);
	return r;
}

static void
cmd_token(int argc, char *argv[])
{
	struct tokenarg ta = { 0 };
	int ch, force = 0;

	while ((ch = getopt(argc, argv, "f")) != -1) {
		switch (ch) {
		case 'f':
			force = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	checkname("binding", ta.id = argv[0]);
	if (!force && isatty(1))
		errx(64, "refusing to print tokens to a terminal (use -f)");
	openvault(0);
	txn(token_get, &ta);
	putline(ta.bundle);
	json_decref(ta.bundle);
	exit(finish());
}

/* ---- audit log ---- */

static int
log_binding(struct fa_vault *v, DB_TXN *t, void *a)
{
	const char *id = a;
	DBC *c;
	DBT sk, pk, d;
	uint32_t op = DB_SET;
	int r;

	if ((r = v->auditidx->cursor(v->auditidx, t, &c, DB_READ_COMMITTED))
	    != 0)
		return r;
	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&d, 0, sizeof(d));
	sk.data = (void *)id;
	sk.size = strlen(id);
	while ((r = c->pget(c, &sk, &pk, &d, op)) == 0) {
		op = DB_NEXT_DUP;
		printf("%.*s\n", (int)d.size, (char *)d.data);
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

static int
log_all(struct fa_vault *v, DB_TXN *t, void *a)
{
	(void)a;
	return scan(v->audit, t, print_record, NULL);
}

static void
cmd_log(int argc, char *argv[])
{
	if (argc > 2)
		usage();
	if (argc == 2)
		checkname("binding", argv[1]);
	openvault(0);
	txn(argc == 2 ? log_binding : log_all, argc == 2 ? argv[1] : NULL);
	exit(finish());
}

/* ---- keys ---- */

struct rekeyarg {
	char		 file[PATH_MAX];
	char		 newid[17];
	char		 oldid[17];
	char		 last[128];	/* resume point of the sweep */
	int		 more;
	long		 done, failed;
};

static int
rekey_mark(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct rekeyarg *ra = a;
	const char *f, *id;
	json_t *j;
	int r;

	r = fa_getjson(v->meta, t, "rekey", &j, DB_RMW);
	if (r == 0) {
		f = jstr(j, "file");
		id = jstr(j, "id");
		if (f == NULL || id == NULL || strcmp(id, ra->newid) != 0) {
			r = fa_seterr(1, "another rekey (to %s) is unfinished; "
			    "run fa-vault rekey %s first", f ? f : "?",
			    f ? f : "?");
			json_decref(j);
			return r;
		}
		json_decref(j);
		return 0;
	}
	if (r != DB_NOTFOUND)
		return r;
	j = json_pack("{s:s,s:s,s:s,s:I}", "file", ra->file, "id", ra->newid,
	    "old", ra->oldid, "started", (json_int_t)fa_now());
	r = fa_putjson(v->meta, t, "rekey", j);
	json_decref(j);
	if (r == 0)
		r = fa_audit(v, t, NULL, NULL, "rekey", "started",
		    "key %s -> %s", ra->oldid, ra->newid);
	return r;
}

/* Re-seals up to 100 records after ra->last; a crash anywhere leaves each
 * record sealed with one of the two loaded keys. */
static int
rekey_batch(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct rekeyarg *ra = a;
	unsigned char *pt;
	const unsigned char *id;
	struct fa_tokhdr h;
	DBC *c;
	DBT k, d, nd;
	size_t ptlen;
	char bid[128];
	int r, n = 0, done = 0, failed = 0;

	if ((r = v->tokens->cursor(v->tokens, t, &c, 0)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = ra->last;
	k.size = strlen(ra->last);
	r = c->get(c, &k, &d, ra->last[0] ? DB_SET_RANGE : DB_FIRST);
	if (r == 0 && ra->last[0] && k.size == strlen(ra->last) &&
	    memcmp(k.data, ra->last, k.size) == 0)
		r = c->get(c, &k, &d, DB_NEXT);
	ra->more = 0;
	for (; r == 0; r = c->get(c, &k, &d, DB_NEXT)) {
		if (k.size >= sizeof(bid))
			continue;
		memcpy(bid, k.data, k.size);
		bid[k.size] = '\0';
		if (++n > 100) {
			ra->more = 1;
			break;
		}
		snprintf(ra->last, sizeof(ra->last), "%s", bid);
		if (d.size < FA_TOKHDRLEN || (id = fa_sealed_keyid(
		    (unsigned char *)d.data + FA_TOKHDRLEN,
		    d.size - FA_TOKHDRLEN)) == NULL) {
			warnx("rekey: %s: malformed record left as it is", bid);
			failed++;
			continue;
		}
		if (memcmp(id, v->keys[0].id, FA_KEYIDLEN) == 0)
			continue;
		fa_tokhdr_decode(d.data, &h);
		if ((pt = fa_secalloc(d.size)) == NULL) {
			c->close(c);
			return fa_seterr(1, "out of secure memory");
		}
		if (fa_open(v->keys, v->nkeys, bid, h.version,
		    (unsigned char *)d.data + FA_TOKHDRLEN,
		    d.size - FA_TOKHDRLEN, pt, &ptlen) == -1) {
			warnx("rekey: %s", fa_errmsg());
			fa_secfree(pt);
			failed++;
			continue;
		}
		memset(&nd, 0, sizeof(nd));
		nd.size = FA_TOKHDRLEN + FA_SEALLEN(ptlen);
		if ((nd.data = malloc(nd.size)) == NULL) {
			fa_secfree(pt);
			c->close(c);
			return fa_seterr(1, "out of memory");
		}
		memcpy(nd.data, d.data, FA_TOKHDRLEN);
		fa_seal(&v->keys[0], bid, h.version, pt, ptlen,
		    (unsigned char *)nd.data + FA_TOKHDRLEN);
		fa_secfree(pt);
		r = c->put(c, &k, &nd, DB_CURRENT);
		free(nd.data);
		if (r != 0)
			break;
		done++;
	}
	c->close(c);
	if (r != 0 && r != DB_NOTFOUND)
		return r;
	ra->done += done;
	ra->failed += failed;
	return 0;
}

static int
rekey_incomplete(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct rekeyarg *ra = a;

	return fa_audit(v, t, NULL, NULL, "rekey", "incomplete", "key %s -> "
	    "%s; %ld resealed, %ld could not be opened", ra->oldid, ra->newid,
	    ra->done, ra->failed);
}

static int
rekey_end(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct rekeyarg *ra = a;
	int r;

	if ((r = fa_del(v->meta, t, "rekey")) == DB_NOTFOUND)
		return 0;	/* nothing was in progress */
	if (r != 0)
		return r;
	return fa_audit(v, t, NULL, NULL, "rekey", "ok", "key %s -> %s; %ld "
	    "resealed", ra->oldid, ra->newid, ra->done);
}

/* rename(2) is durable only once its directory is. */
static void
syncdir(const char *file)
{
	char dir[PATH_MAX], *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1 || fsync(fd) == -1)
		err(1, "%s", dir);
	close(fd);
}

/* Puts the new key where master_key_file points, keeping the old one
 * beside it as FILE.old (a backup of the vault may still need it). */
static void
installkey(const char *newfile)
{
	char tmp[PATH_MAX], old[PATH_MAX];
	unsigned char key[FA_KEYLEN];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.new", conf.master_key_file) >=
	    (int)sizeof(tmp) || snprintf(old, sizeof(old), "%s.old",
	    conf.master_key_file) >= (int)sizeof(old))
		errx(1, "master_key_file path too long");
	if (fa_readkey(newfile, key) == -1)
		fa_die();
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0400);
	if (fd == -1 || write(fd, key, sizeof(key)) != sizeof(key) ||
	    fsync(fd) == -1 || close(fd) == -1) {
		sodium_memzero(key, sizeof(key));
		err(1, "%s", tmp);
	}
	sodium_memzero(key, sizeof(key));
	(void)unlink(old);
	if (link(conf.master_key_file, old) == -1)
		err(1, "keeping the old key as %s", old);
	if (rename(tmp, conf.master_key_file) == -1)
		err(1, "installing the new key as %s", conf.master_key_file);
	syncdir(conf.master_key_file);
}

static void
cmd_rekey(int argc, char *argv[])
{
	struct rekeyarg ra;
	struct fa_key *nk;
	int pass;

	if (argc != 2)
		usage();
	memset(&ra, 0, sizeof(ra));
	if (realpath(argv[1], ra.file) == NULL)
		err(78, "%s", argv[1]);
	if ((nk = fa_secalloc(sizeof(*nk))) == NULL)
		errx(1, "out of secure memory");
	if (fa_key_load(nk, ra.file) == -1)
		fa_die();
	fa_keyid_hex(nk->id, ra.newid);
	fa_secfree(nk);
	openvault(0);
	if (vault.nkeys == 1 && strcmp(ra.newid, (fa_keyid_hex(
	    vault.keys[0].id, ra.oldid), ra.oldid)) == 0) {
		/* The new key is installed already: only tidy up. */
		txn(rekey_end, &ra);
		exit(finish());
	}
	fa_keyid_hex(vault.keys[vault.nkeys - 1].id, ra.oldid);
	txn(rekey_mark, &ra);
	if (fa_vault_loadkeys(&vault, ra.file) == -1)
		fa_die();
	/* A second pass catches records that processes which started
	 * before the mark sealed with the old key meanwhile. */
	for (pass = 0; pass < 2; pass++) {
		ra.last[0] = '\0';
		ra.failed = 0;
		do
			txn(rekey_batch, &ra);
		while (ra.more);
	}
	if (ra.failed) {
		txn(rekey_incomplete, &ra);
		errx(1, "rekey: %ld record%s could not be opened with either "
		    "key (see fa-vault verify); every other record is sealed "
		    "with the new key, and both keys stay in use until a rekey "
		    "finishes: repair or rm the broken bindings, then run "
		    "fa-vault rekey %s again", ra.failed, ra.failed == 1 ? "" :
		    "s", ra.file);
	}
	installkey(ra.file);
	txn(rekey_end, &ra);
	fprintf(stderr, "fa-vault: rekey: %ld record%s resealed; %s now holds "
	    "the new key, the old one is kept as %s.old\n", ra.done,
	    ra.done == 1 ? "" : "s", conf.master_key_file,
	    conf.master_key_file);
	exit(finish());
}

struct verifyarg {
	long	ok, failed;
};

static int
verify_all(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct verifyarg *va = a;
	struct fa_tokens *tok;
	DBC *c;
	DBT k, d;
	json_t *b;
	char id[128];
	int r, g;

	va->ok = va->failed = 0;
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
		return fa_seterr(1, "out of secure memory");
	if ((r = v->tokens->cursor(v->tokens, t, &c, DB_READ_COMMITTED)) != 0)
		goto out;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_PARTIAL;	/* keys only */
	while ((r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		snprintf(id, sizeof(id), "%.*s", (int)k.size, (char *)k.data);
		if ((g = fa_getjson(v->bindings, t, id, &b, 0)) != 0) {
			if (g != DB_NOTFOUND && g != -1) {
				r = g;
				break;
			}
			if (g == -1)
				warnx("verify: %s", fa_errmsg());
			else
				warnx("verify: %s: tokens without a binding",
				    id);
			va->failed++;
			continue;
		}
		g = fa_tokens_get(v, t, id, (uint64_t)json_integer_value(
		    json_object_get(b, "tokver")), tok, NULL);
		json_decref(b);
		if (g == -1) {
			warnx("verify: %s", fa_errmsg());
			va->failed++;
		} else if (g != 0) {
			r = g;
			break;
		} else
			va->ok++;
		fa_vault_progress(v);
	}
	c->close(c);
	if (r == DB_NOTFOUND)
		r = 0;
out:
	fa_secfree(tok);
	return r;
}

static void
cmd_verify(int argc, char *argv[])
{
	struct verifyarg va;

	(void)argv;
	if (argc != 1)
		usage();
	openvault(0);
	txn(verify_all, &va);
	printf("{\"ok\":%ld,\"failed\":%ld}\n", va.ok, va.failed);
	finish();
	exit(va.failed ? 1 : 0);
}

static int
init_meta(struct fa_vault *v, DB_TXN *t, void *a)
{
	json_t *j;
	int r;

	(void)a;
	if ((r = fa_getjson(v->meta, t, "schema", &j, DB_RMW)) == 0) {
		json_decref(j);
		return 0;
	}
	if (r != DB_NOTFOUND)
		return r;
	j = json_pack("{s:i,s:I}", "version", 1, "created",
	    (json_int_t)fa_now());
	r = fa_putjson(v->meta, t, "schema", j);
	json_decref(j);
	if (r == 0)
		r = fa_audit(v, t, NULL, NULL, "init", "ok", NULL);
	return r;
}

int
main(int argc, char *argv[])
{
	int ch;

	if (fa_secure_init() == -1)
		fa_die();
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	optind = 1;
	if (strcmp(argv[0], "keygen") == 0) {
		if (argc != 2)
			usage();
		if (fa_writekey(argv[1]) == -1)
			fa_die();
		syncdir(argv[1]);
		return 0;
	}
	if (strcmp(argv[0], "init") == 0) {
		if (argc != 1)
			usage();
		openvault(FA_VAULT_CREATE);
		txn(init_meta, NULL);
		return finish();
	}
	if (strcmp(argv[0], "tenant") == 0)
		cmd_tenant(argc - 1, argv + 1);
	else if (strcmp(argv[0], "add") == 0)
		cmd_add(argc, argv);
	else if (strcmp(argv[0], "ls") == 0)
		cmd_ls(argc, argv);
	else if (strcmp(argv[0], "show") == 0)
		cmd_show(argc, argv);
	else if (strcmp(argv[0], "set") == 0)
		cmd_set(argc, argv);
	else if (strcmp(argv[0], "rm") == 0)
		cmd_rm(argc, argv);
	else if (strcmp(argv[0], "store") == 0)
		cmd_store(argc, argv);
	else if (strcmp(argv[0], "token") == 0)
		cmd_token(argc, argv);
	else if (strcmp(argv[0], "log") == 0)
		cmd_log(argc, argv);
	else if (strcmp(argv[0], "rekey") == 0)
		cmd_rekey(argc, argv);
	else if (strcmp(argv[0], "verify") == 0)
		cmd_verify(argc, argv);
	usage();
}
