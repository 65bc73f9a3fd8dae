/* v_vault.c: the keeper's verbs behind fa-vault(1): tenants, bindings,
 * storing and reading tokens, the audit log, rekey and verify. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "diag.h"
#include "oauth.h"
#include "secmem.h"
#include "seal.h"
#include "verb.h"

#define MAXCHANGES	256	/* key=value pairs in one binding.set */
#define MAXPROBLEMS	1000	/* messages in a rekey or verify answer */
#define BATCH		100	/* token records a transaction, rekey and verify */

static const char *
status_of(json_t *b)
{
	const char *s = fa_jstr(b, "status");

	return *s ? s : "pending";
}

/* ---- arguments: untrusted, every one checked ---- */

static int
checkhost(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]");

	if (n == 0 || n > 253 || s[n] != '\0')
		return fa_seterr(EX_DATAERR, "invalid magento host \"%.64s\"",
		    s);
	return 0;
}

static int
checkendpoint(const struct fa_conf *conf, const char *e)
{
	if (fa_conf_endpoint(conf, e) == NULL)
		return fa_seterr(EX_CONFIG, "unknown endpoint %s: define "
		    "%s.base_url in %s", e, e, conf->path);
	return 0;
}

static int
checkplan(const struct fa_conf *conf, const char *p)
{
	if (fa_conf_plan(conf, p) == NULL)
		return fa_seterr(EX_CONFIG, "unknown plan %s: define plan.%s."
		    "companies and plan.%s.bindings in %s", p, p, p, conf->path);
	return 0;
}

/* key=value; returns value, sets k to a NUL-ended key copy. */
static int
kv(const char *arg, char *k, size_t ksz, const char **val)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= ksz)
		return fa_seterr(EX_USAGE, "expected key=value, got \"%.64s\"",
		    arg);
	memcpy(k, arg, eq - arg);
	k[eq - arg] = '\0';
	*val = eq + 1;
	return 0;
}

/* One change of binding.set, checked before any is made: all or none. */
static int
checkset(const struct fa_conf *conf, const char *arg, char *k, size_t ksz,
    const char **val)
{
	if (kv(arg, k, ksz, val) == -1)
		return -1;
	if (strcmp(k, "magento") == 0)
		return checkhost(*val);
	if (strcmp(k, "endpoint") == 0)
		return **val != '\0' ? checkendpoint(conf, *val) : 0;
	if (strncmp(k, "settings.", 9) == 0) {
		if (!fa_validname(k + 9, 48))
			return fa_seterr(EX_DATAERR, "invalid setting name %s",
			    k);
		if (strlen(*val) > 1024 || strpbrk(*val, "\n\r"))
			return fa_seterr(EX_DATAERR, "value of %s too long or "
			    "multi-line", k);
		return 0;
	}
	return fa_seterr(EX_USAGE, "set: unknown key %s (magento, endpoint, "
	    "settings.NAME)", k);
}

static const char *
coname(json_t *co, char *buf, size_t sz)
{
	snprintf(buf, sz, "\"%s\" (id %s, %s)", fa_jstr(co, "name"),
	    fa_jstr(co, "id"), fa_jstr(co, "subdomain"));
	return buf;
}

/* Every record of db, as JSON objects, appended to out. */
static int
scanall(DB *db, DB_TXN *t, json_t *out)
{
	DBC *cur;
	DBT k, d;
	json_t *j;
	int r;

	if ((r = db->cursor(db, t, &cur, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((r = cur->get(cur, &k, &d, DB_NEXT)) == 0)
		if ((j = json_loadb(d.data, d.size, 0, NULL)) != NULL)
			json_array_append_new(out, j);
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

/* ---- the vault ---- */

static int
v_init(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	json_t *j;
	int r;

	(void)c;
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

static int
backup_audit(struct fa_vault *v, DB_TXN *t, void *dir)
{
	return fa_audit(v, t, NULL, NULL, "backup", "ok", "into %s",
	    (const char *)dir);
}

/* {"dir"}: a hot backup (fa_vault_backup), while every other request is
 * served. */
static int
v_backup(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *dir;

	(void)t;
	if (fa_arg_str(c->in, "dir", PATH_MAX - 1, 1, &dir) == -1 ||
	    fa_vault_backup(v, dir) == -1 ||
	    fa_vault_txn(v, backup_audit, (void *)dir) == -1)
		return -1;
	json_object_set_new(c->out, "dir", json_string(dir));
	return 0;
}

/* This site's place in its replication group: {"role": "master",
 * "replica" or "none", "master": HOST:PORT, "lsn": [file, offset] of
 * this site's log, "sites": [{"address", "connected", "master"}]}. */
static int
v_repl(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	DB_REPMGR_SITE *list = NULL;
	DB_REP_STAT *st = NULL;
	DB_LOG_STAT *ls = NULL;
	json_t *sites;
	char addr[FA_HOSTLEN + 8];
	u_int n = 0, i;
	int r;

	(void)t;
	if (!v->repl) {
		json_object_set_new(c->out, "role", json_string("none"));
		return 0;
	}
	if ((r = v->env->rep_stat(v->env, &st, 0)) != 0 ||
	    (r = v->env->repmgr_site_list(v->env, &n, &list)) != 0 ||
	    (r = v->env->log_stat(v->env, &ls, 0)) != 0) {
		free(st);
		free(list);
		return fa_seterr(1, "repl: %s", db_strerror(r));
	}
	json_object_set_new(c->out, "role", json_string(v->master ? "master" :
	    "replica"));
	json_object_set_new(c->out, "lsn", json_pack("[i,i]",
	    (int)ls->st_cur_file, (int)ls->st_cur_offset));
	sites = json_array();
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "%s:%u", list[i].host,
		    list[i].port);
		if (list[i].eid == st->st_master)
			json_object_set_new(c->out, "master", json_string(addr));
		json_array_append_new(sites, json_pack("{s:s,s:b,s:b}",
		    "address", addr, "connected", list[i].status ==
		    DB_REPMGR_CONNECTED, "master", list[i].eid ==
		    st->st_master));
	}
	if (v->master)
		json_object_set_new(c->out, "master",
		    json_string(v->conf->repl.local));
	json_object_set_new(c->out, "sites", sites);
	free(st);
	free(list);
	free(ls);
	return 0;
}

/* ---- tenants ---- */

static int
tenant_put(struct fa_vault *v, DB_TXN *t, struct fa_call *c, int create)
{
	const char *name, *plan, *ep;
	json_t *j;
	int r;

	if (fa_arg_id(c->in, "tenant", 1, &name) == -1 ||
	    fa_arg_str(c->in, "plan", FA_NAMELEN - 1, 0, &plan) == -1 ||
	    fa_arg_str(c->in, "endpoint", FA_NAMELEN - 1, 0, &ep) == -1)
		return -1;
	if (plan != NULL && *plan != '\0' && checkplan(v->conf, plan) == -1)
		return -1;
	if (ep != NULL && *ep != '\0' && checkendpoint(v->conf, ep) == -1)
		return -1;
	r = fa_getjson(v->tenants, t, name, &j, DB_RMW);
	if (r == 0 && create) {
		json_decref(j);
		return fa_seterr(EX_DATAERR, "tenant %s exists", name);
	}
	if (r == DB_NOTFOUND && !create)
		return fa_seterr(EX_NOINPUT, "no tenant %s", name);
	if (r != 0 && r != DB_NOTFOUND)
		return r;
	if (j == NULL)
		j = json_pack("{s:s,s:I}", "name", name, "created",
		    (json_int_t)fa_now());
	/* An empty value unsets: the default plan or endpoint applies. */
	if (plan != NULL && *plan == '\0')
		json_object_del(j, "plan");
	else if (plan != NULL)
		json_object_set_new(j, "plan", json_string(plan));
	if (ep != NULL && *ep == '\0')
		json_object_del(j, "endpoint");
	else if (ep != NULL)
		json_object_set_new(j, "endpoint", json_string(ep));
	if ((r = fa_putjson(v->tenants, t, name, j)) == 0)
		r = fa_audit(v, t, NULL, name, create ? "tenant add" :
		    "tenant set", "ok", "plan=%s endpoint=%s", *fa_jstr(j, "plan") ?
		    fa_jstr(j, "plan") : "-", *fa_jstr(j, "endpoint") ?
		    fa_jstr(j, "endpoint") : "-");
	json_decref(j);
	return r;
}

static int
v_tenant_add(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	return tenant_put(v, t, c, 1);
}

static int
v_tenant_set(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	return tenant_put(v, t, c, 0);
}

static int
v_tenant_ls(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	json_t *a = json_array();

	json_object_set_new(c->out, "tenants", a);
	return scanall(v->tenants, t, a);
}

/* ---- bindings ---- */

/* 0 if binding id is free; 65 if not. */
static int
exists(struct fa_vault *v, DB_TXN *t, const char *id, uint32_t flags)
{
	json_t *b;
	int r;

	if ((r = fa_getjson(v->bindings, t, id, &b, flags)) == 0) {
		json_decref(b);
		return fa_seterr(EX_DATAERR, "binding %s exists", id);
	}
	return r == DB_NOTFOUND ? 0 : r;
}

static int
v_binding_add(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct fa_count n = { NULL, 0, NULL };
	const struct fa_plan *p;
	const char *tenant, *id, *host, *ep;
	json_t *tj, *b;
	int r;

	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1 ||
	    fa_arg_id(c->in, "binding", 1, &id) == -1 ||
	    fa_arg_str(c->in, "magento", 1024, 0, &host) == -1 ||
	    fa_arg_str(c->in, "endpoint", FA_NAMELEN - 1, 0, &ep) == -1)
		return -1;
	if (host == NULL)
		return fa_seterr(EX_USAGE, "add: magento=HOST is required");
	if (checkhost(host) == -1 ||
	    (ep != NULL && checkendpoint(v->conf, ep) == -1))
		return -1;
	/* The tenant's record locked first: the writes that count its
	 * bindings against its plan take turns, so that two at once cannot
	 * both take the last place. */
	if ((r = fa_getjson(v->tenants, t, tenant, &tj, DB_RMW)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(EX_NOINPUT, "no tenant %s", tenant) : r;
	if ((r = exists(v, t, id, DB_READ_COMMITTED)) != 0) {
		json_decref(tj);
		return r;
	}
	n.companies = json_object();
	r = fa_each_binding(v, t, tenant, fa_count_one, &n);
	json_decref(n.companies);
	if (r == 0)
		r = fa_planof(v->conf, tj, &p);
	json_decref(tj);
	if (r != 0)
		return r;
	/* Locked for writing only now: a write lock held across the count
	 * would meet readers of the tenant index in a deadlock. */
	if ((r = exists(v, t, id, DB_RMW)) != 0)
		return r;
	if (p != NULL && p->bindings >= 0 && n.bindings + 1 > p->bindings) {
		/* A refusal is worth a record: it commits, and fails. */
		if ((r = fa_audit(v, t, id, tenant, "add", "refused",
		    "plan limit on bindings")) != 0)
			return r;
		return fa_fail(c, EX_NOPERM, "plan %s allows %ld binding%s "
		    "(Magento websites); tenant %s has %ld", p->name,
		    p->bindings, p->bindings == 1 ? "" : "s", tenant,
		    n.bindings);
	}
	b = json_pack("{s:s,s:s,s:s,s:s,s:{},s:I,s:I,s:I}", "id", id,
	    "tenant", tenant, "magento", host, "status", "pending",
	    "settings", "tokver", (json_int_t)0, "created",
	    (json_int_t)fa_now(), "updated", (json_int_t)fa_now());
	if (ep != NULL)
		json_object_set_new(b, "endpoint", json_string(ep));
	r = fa_binding_put(v, t, id, b);
	json_decref(b);
	if (r == 0)
		r = fa_audit(v, t, id, tenant, "add", "ok", "magento=%s", host);
	return r;
}

static int
ls_one(json_t *b, void *a)
{
	json_array_append(a, b);
	return 0;
}

static int
v_binding_ls(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *tenant;
	json_t *a, *tj;
	int r;

	if (fa_arg_str(c->in, "tenant", 64, 0, &tenant) == -1)
		return -1;
	a = json_array();
	json_object_set_new(c->out, "bindings", a);
	if (tenant == NULL)
		return scanall(v->bindings, t, a);
	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1)
		return -1;
	if ((r = fa_getjson(v->tenants, t, tenant, &tj, 0)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(EX_NOINPUT, "no tenant %s", tenant) : r;
	json_decref(tj);
	return fa_each_binding(v, t, tenant, ls_one, a);
}

/* The binding, and its token record's header: never the tokens. */
static int
v_binding_show(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct fa_tokhdr h;
	const char *id;
	char hex[17];
	const unsigned char *kid;
	json_t *b;
	void *rec;
	size_t len;
	int r;

	if (fa_arg_id(c->in, "binding", 1, &id) == -1)
		return -1;
	if ((r = fa_binding_get(v, t, id, NULL, &b, 0)) != 0)
		return r;
	json_object_update(c->out, b);
	json_decref(b);
	r = fa_tokhdr_get(v->tokens, t, id, &h, &rec, &len);
	if (r == DB_NOTFOUND)
		return 0;
	if (r != 0)
		return r;
	kid = fa_sealed_keyid((unsigned char *)rec + FA_TOKHDRLEN,
	    len - FA_TOKHDRLEN);
	if (kid != NULL)
		fa_keyid_hex(kid, hex);
	else
		snprintf(hex, sizeof(hex), "?");
	free(rec);
	json_object_set_new(c->out, "token", json_pack("{s:I,s:I,s:I,s:I,"
	    "s:s}", "version", (json_int_t)h.version, "expires_at",
	    (json_int_t)h.expires_at, "refresh_token_expires_at",
	    (json_int_t)h.refresh_expires_at, "due_at", (json_int_t)h.due_at,
	    "key", hex));
	return 0;
}

static int
v_binding_set(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	json_t *ch = json_object_get(c->in, "changes"), *b, *s;
	const char *id, *arg, *val;
	char k[64];
	size_t i, n;
	int r;

	if (fa_arg_id(c->in, "binding", 1, &id) == -1)
		return -1;
	if (!json_is_array(ch) || (n = json_array_size(ch)) == 0 ||
	    n > MAXCHANGES)
		return fa_seterr(EX_USAGE, "set: 1-%d changes, key=value",
		    MAXCHANGES);
	for (i = 0; i < n; i++) {
		if ((arg = json_string_value(json_array_get(ch, i))) == NULL ||
		    strlen(arg) != json_string_length(json_array_get(ch, i)))
			return fa_seterr(EX_USAGE, "set: a change is not a "
			    "key=value string");
		if (checkset(v->conf, arg, k, sizeof(k), &val) == -1)
			return -1;
	}
	if ((r = fa_binding_get(v, t, id, NULL, &b, DB_RMW)) != 0)
		return r;
	if (!json_is_object(s = json_object_get(b, "settings"))) {
		s = json_object();
		json_object_set_new(b, "settings", s);
	}
	for (i = 0; i < n; i++) {
		(void)kv(json_string_value(json_array_get(ch, i)), k,
		    sizeof(k), &val);
		if (strcmp(k, "magento") == 0)
			json_object_set_new(b, "magento", json_string(val));
		else if (strcmp(k, "endpoint") == 0 && *val == '\0')
			json_object_del(b, "endpoint");
		else if (strcmp(k, "endpoint") == 0)
			json_object_set_new(b, "endpoint", json_string(val));
		else if (*val == '\0')
			json_object_del(s, k + 9);
		else
			json_object_set_new(s, k + 9, json_string(val));
	}
	json_object_set_new(b, "updated", json_integer(fa_now()));
	r = fa_binding_put(v, t, id, b);
	if (r == 0)
		r = fa_audit(v, t, id, fa_jstr(b, "tenant"), "set", "ok",
		    "%zu change%s", n, n == 1 ? "" : "s");
	json_decref(b);
	return r;
}

static int
v_binding_rm(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *id;
	json_t *b;
	int r;

	if (fa_arg_id(c->in, "binding", 1, &id) == -1)
		return -1;
	if ((r = fa_binding_get(v, t, id, NULL, &b, DB_RMW)) != 0)
		return r;
	r = fa_binding_del(v, t, id, b);
	if (r == 0 && (r = fa_del(v->tokens, t, id)) == DB_NOTFOUND)
		r = 0;
	if (r == 0 && (r = fa_del(v->cache, t, id)) == DB_NOTFOUND)
		r = 0;
	if (r == 0)
		r = fa_audit(v, t, id, fa_jstr(b, "tenant"), "rm", "ok", NULL);
	json_decref(b);
	return r;
}

/* ---- tokens ---- */

/* A refusal's message: 1. One too long is cut, as every message is. */
static int
refusal(char *msg, size_t sz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refusal(char *msg, size_t sz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sz, fmt, ap);
	va_end(ap);
	return 1;
}

/* The company lock and the plan limits: 0 with *refused set and msg
 * when they refuse (a refusal, to audit), or -1 or a DB error. */
static int
mayconnect(struct fa_vault *v, DB_TXN *t, const char *id, json_t *b,
    json_t *tj, json_t *co, int *refused, char *msg, size_t msgsz)
{
	struct fa_count n = { NULL, 0, NULL };
	const struct fa_plan *p = NULL;
	const char *tenant = fa_jstr(b, "tenant");
	char n1[400], n2[400];
	json_t *old;
	int r;

	/* The company lock: by id, with the subdomain as a second check;
	 * never by url, which is the same for every FreeAgent company. */
	old = json_object_get(b, "company");
	if (old != NULL && (strcmp(fa_jstr(old, "id"), fa_jstr(co, "id")) != 0 ||
	    strcmp(fa_jstr(old, "subdomain"), fa_jstr(co, "subdomain")) != 0)) {
		*refused = refusal(msg, msgsz, "binding %s is locked to "
		    "FreeAgent company %s; refusing company %s. Pick %s on "
		    "FreeAgent's consent page, or add a new binding for the "
		    "other company", id, coname(old, n1, sizeof(n1)),
		    coname(co, n2, sizeof(n2)), fa_jstr(old, "name"));
		return 0;
	}
	n.skip = id;
	n.companies = json_object();
	if ((r = fa_each_binding(v, t, tenant, fa_count_one, &n)) != 0 ||
	    (tj != NULL && (r = fa_planof(v->conf, tj, &p)) != 0))
		goto out;
	if (p != NULL && p->companies >= 0 && json_object_get(n.companies,
	    fa_jstr(co, "id")) == NULL &&
	    (long)json_object_size(n.companies) + 1 > p->companies) {
		*refused = refusal(msg, msgsz, "plan %s allows %ld FreeAgent "
		    "compan%s; tenant %s already uses %zu", p->name,
		    p->companies, p->companies == 1 ? "y" : "ies", tenant,
		    json_object_size(n.companies));
	} else if (p != NULL && p->bindings >= 0 &&
	    n.bindings + 1 > p->bindings) {
		*refused = refusal(msg, msgsz, "plan %s allows %ld binding%s "
		    "(Magento websites); tenant %s has %ld", p->name,
		    p->bindings, p->bindings == 1 ? "" : "s", tenant,
		    n.bindings);
	}
out:
	json_decref(n.companies);
	return r;
}

static int
store(struct fa_vault *v, DB_TXN *t, struct fa_call *c, json_t *bundle,
    json_t *co, const struct fa_tokens *tok)
{
	const char *id = fa_jstr(bundle, "binding"), *want = fa_jstr(bundle,
	    "endpoint"), *ep;
	char tenant[65], was[32], msg[512], n1[400], detail[512];
	json_t *b, *tj, *again;
	uint64_t ver;
	int r, reconnect, refused = 0;

	if ((r = fa_binding_get(v, t, id, NULL, &b, DB_READ_COMMITTED)) != 0)
		return r;
	snprintf(tenant, sizeof(tenant), "%s", fa_jstr(b, "tenant"));
	json_decref(b);
	/* The tenant's turn first (binding.add), then the binding as it is
	 * now that no other store of the tenant's runs. */
	if ((r = fa_getjson(v->tenants, t, tenant, &tj, DB_RMW)) != 0 &&
	    r != DB_NOTFOUND)
		return r;
	if ((r = fa_binding_get(v, t, id, NULL, &b, DB_READ_COMMITTED)) != 0 ||
	    strcmp(fa_jstr(b, "tenant"), tenant) != 0) {
		/* Removed, or even added again for another tenant, meanwhile:
		 * from the start. */
		json_decref(b);
		json_decref(tj);
		return r != 0 ? r : DB_LOCK_DEADLOCK;
	}
	ep = fa_binding_endpoint(v->conf, b, tj);
	if (strcmp(ep, want) != 0)
		r = fa_seterr(EX_DATAERR, "token bundle is for endpoint %s, "
		    "binding %s uses %s", want, id, ep);
	else
		r = mayconnect(v, t, id, b, tj, co, &refused, msg,
		    sizeof(msg));
	json_decref(tj);
	if (r == 0 && refused) {
		/* Refused: the record of it commits, the binding keeps its
		 * tokens and state. */
		json_decref(b);
		if ((r = fa_audit(v, t, id, tenant, "connect", "refused", "%s",
		    msg)) != 0)
			return r;
		return fa_fail(c, EX_NOPERM, "%s", msg);
	}
	if (r != 0) {
		json_decref(b);
		return r;
	}
	/* Locked for writing only now, as in binding.add; a binding that
	 * another verb changed since it was read is checked again from the
	 * start. */
	if ((r = fa_binding_get(v, t, id, NULL, &again, DB_RMW)) != 0 ||
	    !json_equal(again, b)) {
		json_decref(again);
		json_decref(b);
		return r != 0 ? r : DB_LOCK_DEADLOCK;
	}
	json_decref(again);
	snprintf(was, sizeof(was), "%s", status_of(b));
	reconnect = strcmp(was, "pending") != 0;
	ver = fa_tokver_bump(b);
	json_object_set(b, "company", co);
	json_object_set_new(b, "token_endpoint", json_string(want));
	json_object_set_new(b, "connected_at", json_integer(fa_now()));
	json_object_del(b, "last_failure");
	snprintf(detail, sizeof(detail), "company %s; was %s",
	    coname(co, n1, sizeof(n1)), was);
	if ((r = fa_tokens_put(v, t, id, ver, tok)) == 0 &&
	    (r = fa_status_set(v, t, c, id, b, "connected", reconnect ?
	    "reconnect" : "connect", "ok", detail)) == 0)
		r = fa_binding_put(v, t, id, b);
	json_decref(b);
	if (r == 0)
		json_object_set_new(c->out, "binding", json_string(id));
	return r;
}

/* A token bundle (fa-exchange(1)), checked again here: a client is not
 * trusted to have done it. */
static int
v_token_store(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct fa_tokens *tok;
	json_t *arg = json_object_get(c->in, "bundle"), *j, *co;
	char *s;
	int r;

	if (!json_is_object(arg))
		return fa_seterr(EX_DATAERR, "token bundle is not a JSON "
		    "object");
	if ((s = json_dumps(arg, JSON_COMPACT)) == NULL)
		return fa_seterr(1, "out of memory");
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL) {
		fa_jsonfree(s);
		return fa_seterr(1, "out of secure memory");
	}
	j = fa_bundle(s, strlen(s), tok, &co);
	fa_jsonfree(s);
	if (j == NULL) {
		fa_secfree(tok);
		return -1;
	}
	r = store(v, t, c, j, co, tok);
	fa_secfree(tok);
	json_decref(co);
	json_decref(j);
	return r;
}

/* The bundle of a binding, tokens and all: a verb that is not FA_W,
 * for its answer must not be kept. */
static int
v_token_get(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct fa_tokens *tok;
	const char *id;
	json_t *b, *j;
	int r;

	if (fa_arg_id(c->in, "binding", 1, &id) == -1)
		return -1;
	if ((r = fa_binding_get(v, t, id, NULL, &b, 0)) != 0)
		return r;
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL) {
		json_decref(b);
		return fa_seterr(1, "out of secure memory");
	}
	r = fa_tokens_get(v, t, id, (uint64_t)json_integer_value(
	    json_object_get(b, "tokver")), tok, NULL);
	if (r == DB_NOTFOUND)
		r = fa_seterr(EX_NOPERM, "binding %s has no tokens (status %s)",
		    id, status_of(b));
	if (r == 0) {
		j = json_pack("{s:s,s:s?,s:s,s:s,s:I,s:I,s:O?}", "binding", id,
		    "endpoint", json_string_value(json_object_get(b,
		    "token_endpoint")), "access_token", tok->access,
		    "refresh_token", tok->refresh, "expires_at",
		    (json_int_t)tok->expires_at, "refresh_token_expires_at",
		    (json_int_t)tok->refresh_expires_at, "company",
		    json_object_get(b, "company"));
		if (j == NULL)
			r = fa_seterr(1, "out of memory");
		else
			json_object_update(c->out, j);
		json_decref(j);
	}
	fa_secfree(tok);
	json_decref(b);
	return r;
}

/* ---- the audit log ---- */

struct logarg {
	json_t	*records;
	long	 damaged;
};

static int
log_one(const char *rec, size_t len, void *a)
{
	struct logarg *la = a;
	json_t *s;

	/* As stored, byte for byte: fa-vault log prints the text. */
	if ((s = json_stringn(rec, len)) == NULL)
		la->damaged++;
	else
		json_array_append_new(la->records, s);
	return 0;
}

static int
v_audit_log(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct logarg la;
	const char *id;
	int r;

	if (fa_arg_str(c->in, "binding", 64, 0, &id) == -1 ||
	    (id != NULL && fa_arg_id(c->in, "binding", 1, &id) == -1))
		return -1;
	la.records = json_array();
	la.damaged = 0;
	json_object_set_new(c->out, "records", la.records);
	if ((r = fa_each_audit(v, t, id, log_one, &la)) == 0 && la.damaged)
		json_object_set_new(c->out, "damaged",
		    json_integer(la.damaged));
	return r;
}

/* ---- audit retention ----
 * Records older than audit_keep_days go (the sweep asks: audit.prune),
 * but for each binding the last that changed its status, so that "why
 * is this disconnected" always has an answer, and its newest old one,
 * so that a chain never ends in a gap. The vault's own records (of no
 * binding) stay. A chain stays verifiable: the record after one
 * removed gets an anchor, meta "auditgap:RECNO" = {"prev": the removed
 * one's mac, "k", "amac": a keyed hash of the binding, RECNO and prev},
 * written in the transaction that removes it; --verify takes prev from
 * the anchor, which no one without the key can make. */
#define PRUNEBATCH	5000

static int
isstatus(json_t *rec)
{
	const char *e = fa_jstr(rec, "event"), *o = fa_jstr(rec, "outcome");

	return (strcmp(e, "add") == 0 && strcmp(o, "ok") == 0) ||
	    ((strcmp(e, "connect") == 0 || strcmp(e, "reconnect") == 0) &&
	    strcmp(o, "ok") == 0) || strcmp(e, "disconnect") == 0 ||
	    strcmp(o, "needs_reconnect") == 0;
}

static void
gapmac(const struct fa_key *k, const char *binding, db_recno_t recno,
    const char *prev, char out[65])
{
	json_t *j = json_pack("{s:s,s:s,s:I}", "gap", binding, "prev", prev,
	    "recno", (json_int_t)recno);

	fa_audit_mac(k, "", j, out);
	json_decref(j);
}

struct prune {
	int64_t		 cutoff;
	json_t		*keep;		/* binding -> [status, newest] recnos */
	db_recno_t	 end;		/* the old records end before it */
	db_recno_t	 from;		/* the next batch starts here; 0: done */
	long		 deleted;
};

/* The old records, and which of them stay. */
static int
prunescan(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct prune *p = a;
	json_t *rec, *e;
	db_recno_t recno;
	DBC *cur;
	DBT k, d;
	int r;

	json_object_clear(p->keep);
	p->end = p->from = 0;
	if ((r = v->audit->cursor(v->audit, t, &cur, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((r = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		memcpy(&recno, k.data, sizeof(recno));
		p->end = recno + 1;
		if ((rec = json_loadb(d.data, d.size, 0, NULL)) == NULL)
			continue;
		/* Records are appended as they are made: the first young
		 * one of a binding ends the old ones (the vault's own are
		 * never removed, and may be anywhere). */
		if (json_integer_value(json_object_get(rec, "time")) >=
		    p->cutoff && *fa_jstr(rec, "binding") != '\0') {
			p->end = recno;
			json_decref(rec);
			break;
		}
		if (p->from == 0)
			p->from = recno;
		if (*fa_jstr(rec, "binding") != '\0') {
			if ((e = json_object_get(p->keep, fa_jstr(rec,
			    "binding"))) == NULL) {
				e = json_pack("[i,i]", 0, 0);
				json_object_set_new(p->keep, fa_jstr(rec,
				    "binding"), e);
			}
			if (isstatus(rec))
				json_array_set_new(e, 0, json_integer(recno));
			json_array_set_new(e, 1, json_integer(recno));
		}
		json_decref(rec);
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

/* Up to PRUNEBATCH old records, from p->from on. */
static int
prunebatch(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct prune *p = a;
	char gkey[40], amac[65], kid[17];
	const char *b, *mac;
	json_t *rec, *e, *g;
	db_recno_t recno, next;
	DBC *cur, *ix = NULL;
	DBT k, d, sk, pk, pd;
	long deleted = 0, all;
	int r, n = 0;

	if ((r = v->audit->cursor(v->audit, t, &cur, 0)) != 0)
		return r;
	if ((r = v->auditidx->cursor(v->auditidx, t, &ix, 0)) != 0) {
		cur->close(cur);
		return r;
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	recno = p->from;
	k.data = &recno;
	k.size = sizeof(recno);
	for (r = cur->get(cur, &k, &d, DB_SET); r == 0 && n < PRUNEBATCH;
	    r = cur->get(cur, &k, &d, DB_NEXT)) {
		memcpy(&recno, k.data, sizeof(recno));
		if (recno >= p->end)
			break;
		n++;
		if ((rec = json_loadb(d.data, d.size, 0, NULL)) == NULL)
			continue;
		b = fa_jstr(rec, "binding");
		e = json_object_get(p->keep, b);
		if (*b == '\0' || e == NULL || (db_recno_t)json_integer_value(
		    json_array_get(e, 0)) == recno || (db_recno_t)
		    json_integer_value(json_array_get(e, 1)) == recno) {
			json_decref(rec);
			continue;
		}
		mac = fa_jstr(rec, "mac");
		/* Its anchor, if it had one, goes with it. */
		snprintf(gkey, sizeof(gkey), "auditgap:%lu",
		    (unsigned long)recno);
		if ((r = fa_del(v->meta, t, gkey)) != 0 && r != DB_NOTFOUND)
			goto fail;
		if ((r = cur->del(cur, 0)) != 0)
			goto fail;
		deleted++;
		if (*mac != '\0') {
			/* Its successor in the chain: the binding's next
			 * record (one stays: its newest old one). */
			memset(&sk, 0, sizeof(sk));
			memset(&pk, 0, sizeof(pk));
			memset(&pd, 0, sizeof(pd));
			next = recno + 1;
			sk.data = (void *)b;
			sk.size = strlen(b);
			pk.data = &next;
			pk.size = sizeof(next);
			if ((r = ix->pget(ix, &sk, &pk, &pd,
			    DB_GET_BOTH_RANGE)) == DB_NOTFOUND)
				r = fa_seterr(1, "audit: record %lu of %s has "
				    "no successor", (unsigned long)recno, b);
			if (r != 0)
				goto fail;
			memcpy(&next, pk.data, sizeof(next));
			snprintf(gkey, sizeof(gkey), "auditgap:%lu",
			    (unsigned long)next);
			/* One with an anchor already lost its own
			 * predecessor before: that anchor stands. */
			if ((r = fa_getjson(v->meta, t, gkey, &g, 0)) == 0) {
				json_decref(g);
				json_decref(rec);
				rec = NULL;
				continue;
			}
			if (r != DB_NOTFOUND)
				goto fail;
			fa_keyid_hex(v->keys[0].id, kid);
			gapmac(&v->keys[0], b, next, mac, amac);
			g = json_pack("{s:s,s:s,s:s}", "prev", mac, "k", kid,
			    "amac", amac);
			r = fa_putjson(v->meta, t, gkey, g);
			json_decref(g);
			if (r != 0)
				goto fail;
		}
		json_decref(rec);
		rec = NULL;
		continue;
fail:
		json_decref(rec);
		break;
	}
	if (r == 0 && n == PRUNEBATCH) {
		/* Full: the next batch starts at the record after. */
		memcpy(&recno, k.data, sizeof(recno));
		p->from = recno < p->end ? recno : 0;
	} else if (r == 0 || r == DB_NOTFOUND) {
		p->from = 0;
		r = 0;
	}
	ix->close(ix);
	cur->close(cur);
	/* For the metrics' count of records kept (v_metrics.c). */
	if (r == 0 && deleted > 0 && ((r = fa_getjson(v->meta, t,
	    "count:audit:removed", &g, DB_RMW)) == 0 || r == DB_NOTFOUND)) {
		all = deleted + json_integer_value(json_object_get(g, "n"));
		json_decref(g);
		g = json_pack("{s:I}", "n", (json_int_t)all);
		r = fa_putjson(v->meta, t, "count:audit:removed", g);
		json_decref(g);
	}
	if (r == 0)
		p->deleted += deleted;
	return r;
}

/* {} -> {"deleted", "kept": records still older than audit_keep_days}. */
static int
v_audit_prune(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct prune p;
	int r;

	(void)t;
	memset(&p, 0, sizeof(p));
	if (v->repl && !v->master)
		return json_object_set_new(c->out, "deleted", json_integer(0));
	p.cutoff = fa_now() - (int64_t)v->conf->audit_keep_days * 86400;
	if ((p.keep = json_object()) == NULL)
		return fa_seterr(1, "out of memory");
	r = fa_vault_txn(v, prunescan, &p);
	while (r == 0 && p.from != 0)
		r = fa_vault_txn(v, prunebatch, &p);
	json_decref(p.keep);
	if (r == 0)
		json_object_set_new(c->out, "deleted", json_integer(p.deleted));
	return r;
}

/* The chains of the audit log, checked (fa-vault log --verify): every
 * record in order, each against the newest of its chain so far. {}
 * -> {"records", "verified", "unsealed": made before the chain was,
 * "retired": under a key no longer loaded, taken as they are, "bad":
 * {"recno", "binding", "time", "why"} at the first that does not
 * match}. */
static int
v_audit_verify(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	json_t *chains, *gaps = NULL, *rec = NULL, *bad = NULL, *h, *g;
	const char *b, *mac, *kid, *prev;
	char hex[65], id[17], key[80];
	long n = 0, verified = 0, unsealed = 0, retired = 0;
	db_recno_t recno;
	DBC *cur;
	DBT k, d;
	int i, j, r;

	if ((chains = json_object()) == NULL || (gaps = json_object()) == NULL) {
		json_decref(chains);
		return fa_seterr(1, "out of memory");
	}
	/* The anchors retention left (audit.prune), by record. */
	if ((r = v->meta->cursor(v->meta, t, &cur, DB_READ_COMMITTED)) != 0)
		goto out;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = "auditgap:";
	k.size = 9;
	for (r = cur->get(cur, &k, &d, DB_SET_RANGE); r == 0 &&
	    k.size > 9 && k.size < sizeof(key) + 9 &&
	    memcmp(k.data, "auditgap:", 9) == 0;
	    r = cur->get(cur, &k, &d, DB_NEXT)) {
		memcpy(key, (char *)k.data + 9, k.size - 9);
		key[k.size - 9] = '\0';
		if ((h = json_loadb(d.data, d.size, 0, NULL)) != NULL)
			json_object_set_new(gaps, key, h);
	}
	cur->close(cur);
	if (r != 0 && r != DB_NOTFOUND)
		goto out;
	if ((r = v->audit->cursor(v->audit, t, &cur, DB_READ_COMMITTED)) != 0)
		goto out;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while (bad == NULL && (r = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		n++;
		memcpy(&recno, k.data, sizeof(recno));
		if ((rec = json_loadb(d.data, d.size, 0, NULL)) == NULL ||
		    !json_is_object(rec)) {
			bad = json_pack("{s:I,s:s}", "recno", (json_int_t)recno,
			    "why", "not a record");
			break;
		}
		b = fa_jstr(rec, "binding");
		mac = fa_jstr(rec, "mac");
		kid = fa_jstr(rec, "k");
		if (*mac == '\0') {
			unsealed++;
			json_decref(rec);
			continue;
		}
		for (i = 0; i < v->nkeys; i++) {
			fa_keyid_hex(v->keys[i].id, id);
			if (strcmp(id, kid) == 0)
				break;
		}
		h = json_string(mac);
		/* After records retention removed: the anchor's prev, if
		 * the anchor is one the key made. */
		snprintf(key, sizeof(key), "%lu", (unsigned long)recno);
		prev = fa_jstr(chains, b);
		if ((g = json_object_get(gaps, key)) != NULL) {
			for (j = 0; j < v->nkeys; j++) {
				fa_keyid_hex(v->keys[j].id, id);
				if (strcmp(id, fa_jstr(g, "k")) == 0)
					break;
			}
			if (j < v->nkeys)
				gapmac(&v->keys[j], b, recno, fa_jstr(g, "prev"),
				    hex);
			if (j < v->nkeys && strlen(fa_jstr(g, "amac")) == 64 &&
			    sodium_memcmp(hex, fa_jstr(g, "amac"), 64) == 0)
				prev = fa_jstr(g, "prev");
		}
		if (i < v->nkeys) {
			json_incref(h);
			json_object_del(rec, "mac");
			fa_audit_mac(&v->keys[i], prev, rec, hex);
			if (strlen(json_string_value(h)) != 64 ||
			    sodium_memcmp(hex, json_string_value(h), 64) != 0)
				bad = json_pack("{s:I,s:s,s:I,s:s}", "recno",
				    (json_int_t)recno, "binding", b, "time",
				    json_integer_value(json_object_get(rec,
				    "time")), "why", "does not match its chain");
			else
				verified++;
			json_decref(h);
		} else
			retired++;
		json_object_set_new(chains, b, h);
		json_decref(rec);
		rec = NULL;
	}
	json_decref(rec);
	cur->close(cur);
	if (r != 0 && r != DB_NOTFOUND)
		goto out;
	r = 0;
	/* The newest record of each chain is the one the chain's head
	 * names: none was taken off the end. */
	if (bad == NULL && (r = v->meta->cursor(v->meta, t, &cur,
	    DB_READ_COMMITTED)) == 0) {
		k.data = "auditmac:";
		k.size = 9;
		for (r = cur->get(cur, &k, &d, DB_SET_RANGE); r == 0 &&
		    bad == NULL; r = cur->get(cur, &k, &d, DB_NEXT)) {
			if (k.size < 9 || memcmp(k.data, "auditmac:", 9) != 0 ||
			    k.size - 9 >= sizeof(key))
				break;
			memcpy(key, (char *)k.data + 9, k.size - 9);
			key[k.size - 9] = '\0';
			h = json_loadb(d.data, d.size, 0, NULL);
			if (strcmp(fa_jstr(h, "mac"), fa_jstr(chains, key)) != 0)
				bad = json_pack("{s:s,s:s}", "binding", key, "why",
				    "its newest records are missing");
			json_decref(h);
		}
		cur->close(cur);
		if (r == DB_NOTFOUND)
			r = 0;
	}
	if (r == 0)
		r = json_object_set_new(c->out, "records", json_integer(n)) ||
		    json_object_set_new(c->out, "verified",
		    json_integer(verified)) ||
		    json_object_set_new(c->out, "unsealed",
		    json_integer(unsealed)) ||
		    json_object_set_new(c->out, "retired",
		    json_integer(retired)) ? fa_seterr(1, "out of memory") : 0;
	if (r == 0 && bad != NULL) {
		json_object_set_new(c->out, "bad", bad);
		bad = NULL;
	}
out:
	json_decref(bad);
	json_decref(gaps);
	json_decref(chains);
	return r;
}

/* ---- token records in batches: rekey and verify ---- */

/* One batch of BATCH token records after `from`, in its own
 * transaction; what it found is kept apart until it commits, for a
 * transaction may run again. */
struct walk {
	char	 from[256];	/* resume after this binding; "": the first */
	char	 next[256];	/* the last binding this batch saw */
	int	 more;
	long	 ok, failed;	/* this batch's */
	json_t	*problems;	/* this batch's */
};

static void
walk_begin(struct walk *w)
{
	w->more = 0;
	w->ok = w->failed = 0;
	json_array_clear(w->problems);
	memcpy(w->next, w->from, sizeof(w->next));
}

/* Counts a batch that committed into the totals. */
static void
walk_add(struct walk *w, long *ok, long *failed, json_t *problems)
{
	size_t i;

	*ok += w->ok;
	*failed += w->failed;
	for (i = 0; i < json_array_size(w->problems) &&
	    json_array_size(problems) < MAXPROBLEMS; i++)
		json_array_append(problems, json_array_get(w->problems, i));
	memcpy(w->from, w->next, sizeof(w->from));
}

static void
problem(struct walk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
problem(struct walk *w, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	w->failed++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (json_array_size(w->problems) < MAXPROBLEMS)
		json_array_append_new(w->problems, json_string(buf));
}

/* Puts cur on the first token record after w->from; then each next
 * record, up to BATCH. 0 with the binding in id; DB_NOTFOUND at the
 * end, or at the end of the batch (w->more set). */
static int
walk_next(DBC *cur, DBT *k, DBT *d, struct walk *w, int *n, char *id,
    size_t idsz)
{
	size_t flen = strlen(w->from);
	int r;

	for (;;) {
		if (*n == 0 && flen == 0)
			r = cur->get(cur, k, d, DB_FIRST);
		else if (*n == 0) {
			k->data = w->from;
			k->size = flen;
			r = cur->get(cur, k, d, DB_SET_RANGE);
			if (r == 0 && k->size == flen &&
			    memcmp(k->data, w->from, flen) == 0)
				r = cur->get(cur, k, d, DB_NEXT);
		} else
			r = cur->get(cur, k, d, DB_NEXT);
		if (r != 0)
			return r;
		if (++*n > BATCH) {
			w->more = 1;
			return DB_NOTFOUND;
		}
		/* No binding has such an id: not a record of ours. */
		if (k->size >= idsz || memchr(k->data, '\0', k->size) != NULL)
			continue;
		memcpy(id, k->data, k->size);
		id[k->size] = '\0';
		memcpy(w->next, id, k->size + 1);
		return 0;
	}
}

/* ---- verify ---- */

static int
verify_batch(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct walk *w = a;
	struct fa_tokens *tok;
	DBC *cur;
	DBT k, d;
	json_t *b;
	char id[sizeof(w->next)];
	int r, g, n = 0;

	walk_begin(w);
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
		return fa_seterr(1, "out of secure memory");
	if ((r = v->tokens->cursor(v->tokens, t, &cur,
	    DB_READ_COMMITTED)) != 0) {
		fa_secfree(tok);
		return r;
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_PARTIAL;	/* keys only */
	while ((r = walk_next(cur, &k, &d, w, &n, id, sizeof(id))) == 0) {
		if ((g = fa_getjson(v->bindings, t, id, &b, 0)) == DB_NOTFOUND) {
			problem(w, "%s: tokens without a binding", id);
			continue;
		}
		if (g == -1) {
			problem(w, "%s", fa_errmsg());
			continue;
		}
		if (g != 0) {
			r = g;
			break;
		}
		g = fa_tokens_get(v, t, id, (uint64_t)json_integer_value(
		    json_object_get(b, "tokver")), tok, NULL);
		json_decref(b);
		if (g == -1)
			problem(w, "%s", fa_errmsg());
		else if (g == 0)
			w->ok++;
		else if (g != DB_NOTFOUND) {	/* removed meanwhile: fine */
			r = g;
			break;
		}
	}
	cur->close(cur);
	fa_secfree(tok);
	return r == DB_NOTFOUND ? 0 : r;
}

/* Opens every token record; batches of their own, so that a big vault
 * holds no transaction for long. */
static int
v_verify(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct walk w;
	long ok = 0, failed = 0;
	json_t *problems = json_array();

	(void)t;
	memset(&w, 0, sizeof(w));
	w.problems = json_array();
	do {
		if (fa_vault_txn(v, verify_batch, &w) == -1) {
			json_decref(w.problems);
			json_decref(problems);
			return -1;
		}
		walk_add(&w, &ok, &failed, problems);
	} while (w.more);
	json_decref(w.problems);
	json_object_set_new(c->out, "ok", json_integer(ok));
	json_object_set_new(c->out, "failed", json_integer(failed));
	json_object_set_new(c->out, "problems", problems);
	if (failed)
		return fa_fail(c, 1, "verify: %ld record%s failed to open",
		    failed, failed == 1 ? "" : "s");
	return 0;
}

/* ---- rekey ---- */

struct rekey {
	char		 file[PATH_MAX];	/* the new key, absolute */
	char		 newid[17];
	char		 oldid[17];
	long		 done, failed;
	struct walk	 w;
};

/* Marks the rekey (meta "rekey"), or takes up an unfinished one to the
 * same key: a keeper that starts loads the key a mark names. */
static int
rekey_mark(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct rekey *rk = a;
	const char *f;
	json_t *j;
	int r;

	r = fa_getjson(v->meta, t, "rekey", &j, DB_RMW);
	if (r == 0) {
		f = json_string_value(json_object_get(j, "file"));
		if (strcmp(fa_jstr(j, "id"), rk->newid) != 0)
			r = fa_seterr(1, "another rekey (to %s) is unfinished; "
			    "run fa-vault rekey %s first", f ? f : "?",
			    f ? f : "?");
		json_decref(j);
		return r;
	}
	if (r != DB_NOTFOUND)
		return r;
	j = json_pack("{s:s,s:s,s:s,s:I}", "file", rk->file, "id",
	    rk->newid, "old", rk->oldid, "started", (json_int_t)fa_now());
	r = fa_putjson(v->meta, t, "rekey", j);
	json_decref(j);
	if (r == 0)
		r = fa_audit(v, t, NULL, NULL, "rekey", "started",
		    "key %s -> %s", rk->oldid, rk->newid);
	return r;
}

/* Re-seals with v->keys[0] the records of one batch; a crash anywhere
 * leaves each record sealed with one of the two loaded keys. */
static int
rekey_batch(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct walk *w = &((struct rekey *)a)->w;
	const unsigned char *kid;
	unsigned char *pt;
	struct fa_tokhdr h;
	DBC *cur;
	DBT k, d, nd;
	size_t ptlen;
	char id[sizeof(w->next)];
	int r, n = 0;

	walk_begin(w);
	if ((r = v->tokens->cursor(v->tokens, t, &cur, 0)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((r = walk_next(cur, &k, &d, w, &n, id, sizeof(id))) == 0) {
		if (d.size < FA_TOKHDRLEN || (kid = fa_sealed_keyid(
		    (unsigned char *)d.data + FA_TOKHDRLEN,
		    d.size - FA_TOKHDRLEN)) == NULL) {
			problem(w, "%s: malformed record left as it is", id);
			continue;
		}
		if (memcmp(kid, v->keys[0].id, FA_KEYIDLEN) == 0)
			continue;
		fa_tokhdr_decode(d.data, &h);
		if ((pt = fa_secalloc(d.size)) == NULL) {
			r = fa_seterr(1, "out of secure memory");
			break;
		}
		if (fa_open(v->keys, v->nkeys, id, h.version,
		    (unsigned char *)d.data + FA_TOKHDRLEN,
		    d.size - FA_TOKHDRLEN, pt, &ptlen) == -1) {
			problem(w, "%s", fa_errmsg());
			fa_secfree(pt);
			continue;
		}
		memset(&nd, 0, sizeof(nd));
		nd.size = FA_TOKHDRLEN + FA_SEALLEN(ptlen);
		if ((nd.data = malloc(nd.size)) == NULL) {
			fa_secfree(pt);
			r = fa_seterr(1, "out of memory");
			break;
		}
		memcpy(nd.data, d.data, FA_TOKHDRLEN);
		r = fa_seal(&v->keys[0], id, h.version, pt, ptlen,
		    (unsigned char *)nd.data + FA_TOKHDRLEN);
		fa_secfree(pt);
		if (r == 0)
			r = cur->put(cur, &k, &nd, DB_CURRENT);
		free(nd.data);
		if (r != 0)
			break;
		w->ok++;
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

static int
rekey_incomplete(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct rekey *rk = a;

	return fa_audit(v, t, NULL, NULL, "rekey", "incomplete", "key %s -> "
	    "%s; %ld resealed, %ld could not be opened", rk->oldid, rk->newid,
	    rk->done, rk->failed);
}

static int
rekey_end(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct rekey *rk = a;
	const char *old;
	json_t *j;
	int r;

	if ((r = fa_getjson(v->meta, t, "rekey", &j, DB_RMW)) != 0)
		return r == DB_NOTFOUND ? 0 : r;	/* nothing in progress */
	old = *fa_jstr(j, "old") ? fa_jstr(j, "old") : rk->oldid;
	if ((r = fa_del(v->meta, t, "rekey")) == 0)
		r = fa_audit(v, t, NULL, NULL, "rekey", "ok", "key %s -> %s; "
		    "%ld resealed", old, rk->newid, rk->done);
	json_decref(j);
	return r;
}

/* Puts the new key where master_key_file points, keeping the old one
 * beside it as FILE.old (a backup of the vault may still need it). The
 * copy must be the key the records were sealed with: a file changed
 * since is refused. */
static int
installkey(const struct fa_conf *conf, const char *newfile,
    const struct fa_key *want)
{
	const char *mk = conf->master_key_file;
	char tmp[PATH_MAX], old[PATH_MAX];
	unsigned char *key;
	struct fa_key *got;
	int fd, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", mk) >= sizeof(tmp) ||
	    (size_t)snprintf(old, sizeof(old), "%s.old", mk) >= sizeof(old))
		return fa_seterr(1, "master_key_file path too long");
	if ((key = fa_secalloc(FA_KEYLEN)) == NULL ||
	    (got = fa_secalloc(sizeof(*got))) == NULL) {
		fa_secfree(key);
		return fa_seterr(1, "out of secure memory");
	}
	if (fa_readkey(newfile, key) == -1) {
		r = -1;
		goto out;
	}
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0400);
	if (fd == -1 || write(fd, key, FA_KEYLEN) != FA_KEYLEN ||
	    fsync(fd) == -1 || close(fd) == -1) {
		r = fa_seterr(1, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fa_key_load(got, tmp) == -1 ||
	    memcmp(got->id, want->id, FA_KEYIDLEN) != 0) {
		(void)unlink(tmp);
		r = fa_seterr(1, "%s changed during the rekey; run fa-vault "
		    "rekey %s again", newfile, newfile);
		goto out;
	}
	(void)unlink(old);
	if (link(mk, old) == -1)
		r = fa_seterr(1, "keeping the old key as %s: %s", old,
		    strerror(errno));
	else if (rename(tmp, mk) == -1)
		r = fa_seterr(1, "installing the new key as %s: %s", mk,
		    strerror(errno));
	else
		r = fa_syncdir(mk);
out:
	fa_secfree(got);
	fa_secfree(key);
	return r;
}

/* Re-seals every record sealed with another key than the new one. One
 * pass is enough: the verb runs alone (FA_EXCL), so no request seals
 * with the old key meanwhile. */
static int
rekey_sweep(struct fa_vault *v, struct rekey *rk, json_t *problems)
{
	rk->w.from[0] = '\0';
	do {
		if (fa_vault_txn(v, rekey_batch, rk) == -1)
			return -1;
		walk_add(&rk->w, &rk->done, &rk->failed, problems);
	} while (rk->w.more);
	return 0;
}

/* The keeper's keys are every request's, and change here, with no
 * other request in flight: while the rekey runs, the new key seals and
 * both open; once it is installed, the old one goes. */
static void
usekey(struct fa_vault *v, const struct fa_key *nk)
{
	v->keys[1] = v->keys[0];
	v->keys[0] = *nk;
	v->nkeys = 2;
}

static void
dropoldkey(struct fa_vault *v)
{
	v->nkeys = 1;
	sodium_memzero(&v->keys[1], sizeof(v->keys[1]));
}

static int
rekey(struct fa_vault *v, struct fa_call *c, struct rekey *rk,
    const struct fa_key *nk)
{
	json_t *problems;

	if (v->nkeys == 1 && memcmp(v->keys[0].id, nk->id, FA_KEYIDLEN) == 0) {
		/* The new key is installed already: only tidy up. */
		fa_keyid_hex(v->keys[0].id, rk->oldid);
		return fa_vault_txn(v, rekey_end, rk);
	}
	fa_keyid_hex(v->keys[v->nkeys - 1].id, rk->oldid);
	if (fa_vault_txn(v, rekey_mark, rk) == -1)
		return -1;
	/* Two keys loaded: the mark's, from a rekey cut off before. */
	if (v->nkeys == 1)
		usekey(v, nk);
	else if (memcmp(v->keys[0].id, nk->id, FA_KEYIDLEN) != 0)
		return fa_seterr(1, "the keeper holds another new key than "
		    "the rekey's mark; restart fa-vaultd");
	problems = json_array();
	json_object_set_new(c->out, "problems", problems);
	if (rekey_sweep(v, rk, problems) == -1)
		return -1;
	json_object_set_new(c->out, "resealed", json_integer(rk->done));
	if (rk->failed) {
		json_object_set_new(c->out, "failed",
		    json_integer(rk->failed));
		if (fa_vault_txn(v, rekey_incomplete, rk) == -1)
			return -1;
		return fa_fail(c, 1, "rekey: %ld record%s could not be opened "
		    "with either key (see fa-vault verify)", rk->failed,
		    rk->failed == 1 ? "" : "s");
	}
	if (installkey(v->conf, rk->file, nk) == -1)
		return -1;
	dropoldkey(v);
	if (fa_vault_txn(v, rekey_end, rk) == -1)
		return -1;
	json_object_set_new(c->out, "key_file",
	    json_string(v->conf->master_key_file));
	return 0;
}

/* Rotates the master key to the file the client names (absolute; the
 * keeper reads key files), alone (FA_EXCL). Idempotent: a rekey cut
 * off anywhere is finished by asking again. */
static int
v_rekey(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct rekey *rk;
	struct fa_key *nk;
	const char *file;
	int r;

	(void)t;
	if (fa_arg_str(c->in, "file", PATH_MAX - 1, 0, &file) == -1)
		return -1;
	if (file == NULL || file[0] != '/')
		return fa_seterr(EX_USAGE, "rekey: the new key file must be an "
		    "absolute path");
	if ((rk = calloc(1, sizeof(*rk))) == NULL)
		return fa_seterr(1, "out of memory");
	if ((nk = fa_secalloc(sizeof(*nk))) == NULL) {
		free(rk);
		return fa_seterr(1, "out of secure memory");
	}
	snprintf(rk->file, sizeof(rk->file), "%s", file);
	rk->w.problems = json_array();
	if ((r = fa_key_load(nk, rk->file)) == 0) {
		fa_keyid_hex(nk->id, rk->newid);
		r = rekey(v, c, rk, nk);
	}
	fa_secfree(nk);
	json_decref(rk->w.problems);
	free(rk);
	return r;
}

const struct fa_verb fa_verbs_vault[] = {
	{ "vault.init",		v_init,		FA_W },
	{ "vault.rekey",	v_rekey,	FA_NOTXN | FA_EXCL },
	{ "vault.verify",	v_verify,	FA_NOTXN },
	{ "vault.backup",	v_backup,	FA_NOTXN },
	{ "repl.status",	v_repl,		FA_NOTXN | FA_BYWORKER },
	{ "tenant.add",		v_tenant_add,	FA_W },
	{ "tenant.set",		v_tenant_set,	FA_W },
	{ "tenant.ls",		v_tenant_ls,	FA_BYWORKER },
	{ "binding.add",	v_binding_add,	FA_W | FA_BYDASH },
	{ "binding.ls",		v_binding_ls,	FA_BYWORKER },
	{ "binding.show",	v_binding_show,	FA_BYWORKER },
	{ "binding.set",	v_binding_set,	FA_W },
	{ "binding.rm",		v_binding_rm,	FA_W },
	{ "token.store",	v_token_store,	FA_W },
	{ "token.get",		v_token_get,	FA_BYWORKER },
	{ "audit.log",		v_audit_log,	FA_BYWORKER },
	{ "audit.verify",	v_audit_verify,	FA_BYWORKER },
	{ "audit.prune",	v_audit_prune,	FA_NOTXN | FA_BYWORKER },
	{ NULL, NULL, 0 }
};
