/* v_connect.c: the keeper's verbs (verb.h) for a connect and its undoing
 * (fa-authurl, fa-exchange, fa-revoke) and for the dashboard's pages
 * (fa-dashboard). The dashboard's verbs take the tenant the web server
 * authenticated, and another tenant's binding is no binding to them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "diag.h"
#include "secmem.h"
#include "verb.h"

#define STATE_TTL	600	/* a connect has 10 minutes */
#define PURGE_MAX	100
#define EVENTS_MAX	10	/* the binding page's recent events */
#define SETTINGS_MAX	32
#define SETTING_LEN	1024
#define CSRF_LEN	43	/* base64url of an HMAC-SHA256 */

/* A state travels as the hex of its SHA-256, never as itself: the
 * keeper keeps no state that could finish a connect. */
static int
hasharg(struct fa_call *c, unsigned char h[32])
{
	const char *s = json_string_value(json_object_get(c->in, "hash"));
	size_t n;

	if (s == NULL || strlen(s) != 64 || sodium_hex2bin(h, 32, s, 64,
	    NULL, &n, NULL) != 0 || n != 32)
		return fa_seterr(EX_DATAERR, "invalid state hash");
	return 0;
}

/* A copy of o with the members named in keys (NULL-ended) that it has:
 * a page sees what it shows, not a lease or a token version. */
static json_t *
pick(json_t *o, const char *const keys[])
{
	json_t *p = json_object(), *m;

	for (; *keys != NULL; keys++)
		if ((m = json_object_get(o, *keys)) != NULL)
			json_object_set(p, *keys, m);
	return p;
}

static int
setout(struct fa_call *c, const char *key, json_t *val)
{
	if (json_object_set_new(c->out, key, val) == -1)
		return fa_seterr(1, "out of memory");
	return 0;
}

/* Drops a bounded number of expired states, so abandoned connects do
 * not pile up; each new one pays for a few old ones. */
static int
purge(struct fa_vault *v, DB_TXN *t)
{
	DBC *c;
	DBT k, d;
	json_t *j;
	int r, n = 0;

	if ((r = v->states->cursor(v->states, t, &c, 0)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while (n < PURGE_MAX && (r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		n++;
		j = json_loadb(d.data, d.size, 0, NULL);
		if (j == NULL || json_integer_value(json_object_get(j,
		    "expires")) < fa_now())
			r = c->del(c, 0);
		json_decref(j);
		if (r != 0)
			break;
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

/* The state record under hash h into *j: 0, DB_NOTFOUND or a DB error;
 * a record that is not JSON comes back as an empty object. */
static int
getstate(struct fa_vault *v, DB_TXN *t, unsigned char h[32], json_t **j,
    uint32_t flags)
{
	DBT k, d;
	int r;

	*j = NULL;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = h;
	k.size = 32;
	d.flags = DB_DBT_MALLOC;
	if ((r = v->states->get(v->states, t, &k, &d, flags)) != 0)
		return r;
	*j = json_loadb(d.data, d.size, 0, NULL);
	free(d.data);
	if (*j == NULL || !json_is_object(*j)) {
		json_decref(*j);
		*j = json_object();
	}
	return 0;
}

static int
delstate(struct fa_vault *v, DB_TXN *t, unsigned char h[32])
{
	DBT k;

	memset(&k, 0, sizeof(k));
	k.data = h;
	k.size = 32;
	return v->states->del(v->states, t, &k, 0);
}

/* fa-authurl: {"binding", "tenant" (optional: the binding must be its),
 * "hash": the new state's} -> {"endpoint", "expires_at"}. The client
 * made the state and builds the consent URL: no secret in the answer. */
static int
v_state_mint(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const struct fa_conf *conf = v->conf;
	const struct fa_endpoint *e;
	const char *id, *tenant, *ep;
	unsigned char h[32];
	json_t *b, *tj = NULL, *s;
	DBT k, d;
	char *txt;
	int64_t expires;
	int r;

	if (fa_arg_id(c->in, "binding", 1, &id) == -1 ||
	    fa_arg_id(c->in, "tenant", 0, &tenant) == -1 || hasharg(c, h) == -1)
		return -1;
	if ((r = fa_binding_get(v, t, id, tenant, &b, 0)) != 0)
		return r;
	/* A binding of no tenant looks exactly like no binding. */
	if ((tenant = json_string_value(json_object_get(b, "tenant"))) ==
	    NULL) {
		r = fa_seterr(EX_NOINPUT, "no binding %s", id);
		goto out;
	}
	if ((r = fa_getjson(v->tenants, t, tenant, &tj, 0)) != 0 &&
	    r != DB_NOTFOUND)
		goto out;
	ep = fa_binding_endpoint(conf, b, tj);
	if ((e = fa_conf_endpoint(conf, ep)) == NULL)
		r = fa_seterr(EX_CONFIG, "binding %s uses endpoint %s, which "
		    "%s does not define", id, ep, conf->path);
	else if (e->client_id[0] == '\0')
		r = fa_seterr(EX_CONFIG, "endpoint %s has no client_id in %s",
		    ep, conf->path);
	else if (conf->redirect_uri[0] == '\0')
		r = fa_seterr(EX_CONFIG, "redirect_uri is not set in %s",
		    conf->path);
	else
		r = 0;
	if (r != 0)
		goto out;
	expires = fa_now() + STATE_TTL;
	s = json_pack("{s:s,s:s,s:s,s:I,s:I}", "binding", id, "tenant",
	    tenant, "endpoint", ep, "expires", (json_int_t)expires, "created",
	    (json_int_t)fa_now());
	txt = s != NULL ? json_dumps(s, JSON_COMPACT) : NULL;
	json_decref(s);
	if (txt == NULL) {
		r = fa_seterr(1, "out of memory");
		goto out;
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = h;
	k.size = sizeof(h);
	d.data = txt;
	d.size = strlen(txt);
	/* A hash already there is another connect's: never overwritten. */
	if ((r = purge(v, t)) == 0 && (r = v->states->put(v->states, t, &k,
	    &d, DB_NOOVERWRITE)) == DB_KEYEXIST)
		r = fa_seterr(EX_DATAERR, "state already in use");
	fa_jsonfree(txt);
	if (r == 0)
		r = fa_audit(v, t, id, tenant, "authurl", "ok", "endpoint %s",
		    ep);
	if (r == 0 && (r = setout(c, "endpoint", json_string(ep))) == 0)
		r = setout(c, "expires_at", json_integer(expires));
out:
	json_decref(tj);
	json_decref(b);
	return r;
}

/* fa-exchange: {"hash", "tenant" (optional: the state must be its)} ->
 * {"binding", "tenant", "endpoint"}. Checks and consumes the state in
 * one transaction, before any network, so a state is good for exactly
 * one try. A state consumed but refused is audited and answered 65. */
static int
v_state_consume(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *tenant, *id, *tn, *ep, *bt, *bad = NULL;
	unsigned char h[32];
	json_t *j, *b;
	int r;

	if (fa_arg_id(c->in, "tenant", 0, &tenant) == -1 || hasharg(c, h) == -1)
		return -1;
	if ((r = getstate(v, t, h, &j, DB_RMW)) != 0)
		return r == DB_NOTFOUND ? fa_seterr(EX_DATAERR, "unknown or "
		    "already used state: start the connect again") : r;
	id = json_string_value(json_object_get(j, "binding"));
	tn = json_string_value(json_object_get(j, "tenant"));
	ep = json_string_value(json_object_get(j, "endpoint"));
	if (id == NULL || tn == NULL || ep == NULL || !fa_validid(id) ||
	    !fa_validid(tn) || strlen(ep) >= FA_NAMELEN) {
		id = tn = NULL;
		bad = "malformed state record: start the connect again";
		goto refuse;
	}
	/* Another tenant's state is as good as none, and stays unused. */
	if (tenant != NULL && strcmp(tenant, tn) != 0) {
		json_decref(j);
		return fa_seterr(EX_DATAERR, "unknown or already used state: "
		    "start the connect again");
	}
	if (json_integer_value(json_object_get(j, "expires")) < fa_now())
		bad = "the connect took longer than 10 minutes: start it "
		    "again";
	/* The binding must still be the one the state was made for: same
	 * id, same tenant (it may have been removed and added again). */
	if ((r = fa_getjson(v->bindings, t, id, &b, 0)) == 0) {
		bt = json_string_value(json_object_get(b, "tenant"));
		if (bt == NULL || strcmp(bt, tn) != 0)
			bad = "the binding changed hands since the connect "
			    "started: start it again";
		json_decref(b);
	} else if (r == DB_NOTFOUND)
		bad = "the binding no longer exists";
	else
		goto out;
	if (bad != NULL)
		goto refuse;
	if ((r = delstate(v, t, h)) == 0 &&
	    (r = setout(c, "binding", json_string(id))) == 0 &&
	    (r = setout(c, "tenant", json_string(tn))) == 0)
		r = setout(c, "endpoint", json_string(ep));
	goto out;
refuse:
	if ((r = delstate(v, t, h)) == 0 && (r = fa_audit(v, t, id, tn,
	    "connect", "refused", "%s", bad)) == 0)
		r = fa_fail(c, EX_DATAERR, "%s", bad);
out:
	json_decref(j);
	return r;
}

/* fa-exchange: {"binding", "tenant", "event", "outcome", "detail"} ->
 * {}: what became of a connect once its state was consumed. */
static int
v_exchange_audit(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	static const char *const events[] = { "connect", "exchange", NULL };
	static const char *const outcomes[] = { "ok", "refused", "declined",
		"config", "bad input", "failed", "temporary", NULL };
	const char *id, *tenant, *ev, *oc, *detail;
	int i, j;

	if (fa_arg_id(c->in, "binding", 1, &id) == -1 ||
	    fa_arg_id(c->in, "tenant", 1, &tenant) == -1)
		return -1;
	ev = json_string_value(json_object_get(c->in, "event"));
	oc = json_string_value(json_object_get(c->in, "outcome"));
	detail = json_string_value(json_object_get(c->in, "detail"));
	for (i = 0; ev != NULL && events[i] != NULL; i++)
		if (strcmp(ev, events[i]) == 0)
			break;
	for (j = 0; oc != NULL && outcomes[j] != NULL; j++)
		if (strcmp(oc, outcomes[j]) == 0)
			break;
	if (ev == NULL || events[i] == NULL || oc == NULL ||
	    outcomes[j] == NULL)
		return fa_seterr(EX_DATAERR, "invalid audit event or outcome");
	return fa_audit(v, t, id, tenant, ev, oc, detail != NULL ? "%s" : NULL,
	    detail);
}

/* fa-revoke: {"binding", "tenant" (optional)} -> {"tenant", "status",
 * "endpoint", and "refresh" (its refresh token, to revoke upstream)
 * or "unreadable" (why it cannot be read)}. Carries a token: not FA_W. */
static int
v_revoke_look(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct fa_tokens *tok;
	const char *id, *tenant, *st, *ep;
	json_t *b;
	int r;

	if (fa_arg_id(c->in, "binding", 1, &id) == -1 ||
	    fa_arg_id(c->in, "tenant", 0, &tenant) == -1)
		return -1;
	if ((r = fa_binding_get(v, t, id, tenant, &b, 0)) != 0)
		return r;
	if ((tenant = json_string_value(json_object_get(b, "tenant"))) ==
	    NULL) {
		json_decref(b);
		return fa_seterr(EX_NOINPUT, "no binding %s", id);
	}
	st = json_string_value(json_object_get(b, "status"));
	ep = json_string_value(json_object_get(b, "token_endpoint"));
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL) {
		json_decref(b);
		return fa_seterr(1, "out of secure memory");
	}
	if ((r = setout(c, "tenant", json_string(tenant))) == 0 &&
	    (r = setout(c, "status", json_string(st ? st : "pending"))) == 0)
		r = setout(c, "endpoint", json_string(ep ? ep : ""));
	if (r == 0)
		r = fa_tokens_get(v, t, id, (uint64_t)json_integer_value(
		    json_object_get(b, "tokver")), tok, NULL);
	json_decref(b);
	if (r == 0)
		r = setout(c, "refresh", json_string(tok->refresh));
	else if (r == DB_NOTFOUND)
		r = 0;
	else if (r == -1)
		/* Unreadable tokens can still be wiped, but not revoked. */
		r = setout(c, "unreadable", json_string(fa_errmsg()));
	fa_secfree(tok);
	return r;
}

/* fa-revoke, whatever happened upstream: {"binding", "tenant"
 * (optional), "upstream": what happened there} -> {}. Wipes the tokens
 * and marks the binding disconnected; the company, the settings, the
 * cache and the audit history stay. */
static int
v_revoke_wipe(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	/* The first three leave nothing behind at the provider. */
	static const char *const ups[] = { "revoked", "no revocation URL",
		"nothing to revoke", "revocation failed", "tokens unreadable",
		"endpoint no longer defined", NULL };
	const char *id, *tenant, *up, *st;
	char was[32], detail[128];
	json_t *b;
	int i, r;

	if (fa_arg_id(c->in, "binding", 1, &id) == -1 ||
	    fa_arg_id(c->in, "tenant", 0, &tenant) == -1)
		return -1;
	up = json_string_value(json_object_get(c->in, "upstream"));
	for (i = 0; up != NULL && ups[i] != NULL; i++)
		if (strcmp(up, ups[i]) == 0)
			break;
	if (up == NULL || ups[i] == NULL)
		return fa_seterr(EX_DATAERR, "invalid upstream outcome");
	if ((r = fa_binding_get(v, t, id, tenant, &b, DB_RMW)) != 0)
		return r;
	st = json_string_value(json_object_get(b, "status"));
	snprintf(was, sizeof(was), "%s", st != NULL ? st : "pending");
	if ((r = fa_del(v->tokens, t, id)) != 0 && r != DB_NOTFOUND)
		goto out;
	/* A refresh in flight finds another version and keeps nothing. */
	fa_tokver_bump(b);
	json_object_set_new(b, "disconnected_at", json_integer(fa_now()));
	json_object_del(b, "lease");
	json_object_del(b, "retry_at");
	snprintf(detail, sizeof(detail), "was %s; provider: %s", was, up);
	if ((r = fa_status_set(v, t, c, id, b, "disconnected", "disconnect",
	    i < 3 ? "ok" : "partial", detail)) == 0)
		r = fa_binding_put(v, t, id, b);
out:
	json_decref(b);
	return r;
}

/* The dashboard's bindings page: {"tenant"} -> {"bindings": [...]}. */
static const char *const rowkeys[] = { "id", "status", "magento", "company",
	NULL };

struct list {
	json_t		*rows;
	struct fa_count	 n;
};

/* A row as the pages show it: of the company, its name. */
static json_t *
row(json_t *b)
{
	json_t *r = pick(b, rowkeys), *co = json_object_get(b, "company");

	if (r != NULL && co != NULL)
		json_object_set_new(r, "company", json_pack("{s:s}", "name",
		    fa_jstr(co, "name")));
	return r;
}

static int
listone(json_t *b, void *a)
{
	struct list *l = a;

	if (json_array_append_new(l->rows, row(b)) == -1)
		return fa_seterr(1, "out of memory");
	return fa_count_one(b, &l->n);
}

/* The bindings page: {"tenant"} -> {"bindings": [...], "used":
 * {"bindings", "companies"}, "plan": {"name", "bindings", "companies"}
 * (limits; null: none), no "plan" when the tenant has no limits}. */
static int
v_dash_list(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct list l = { NULL, { NULL, 0, NULL } };
	const struct fa_plan *p = NULL;
	const char *tenant;
	json_t *tj;
	int r;

	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1)
		return -1;
	if ((r = fa_getjson(v->tenants, t, tenant, &tj, 0)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(EX_NOINPUT, "no tenant %s", tenant) : r;
	r = fa_planof(v->conf, tj, &p);
	json_decref(tj);
	if (r != 0)
		return r;
	l.rows = json_array();
	l.n.companies = json_object();
	if ((r = fa_each_binding(v, t, tenant, listone, &l)) == 0 &&
	    (r = setout(c, "used", json_pack("{s:i,s:i}", "bindings",
	    (int)l.n.bindings, "companies",
	    (int)json_object_size(l.n.companies)))) == 0 && p != NULL)
		r = setout(c, "plan", json_pack("{s:s,s:o,s:o}", "name",
		    p->name, "bindings", p->bindings < 0 ? json_null() :
		    json_integer(p->bindings), "companies", p->companies < 0 ?
		    json_null() : json_integer(p->companies)));
	json_decref(l.n.companies);
	if (r != 0) {
		json_decref(l.rows);
		return r;
	}
	return setout(c, "bindings", l.rows);
}

#define HISTORY_PAGE	50

struct history {
	json_t	*events;
	int64_t	 skip;
	size_t	 max;		/* a page */
	int	 more;
};

/* The records a merchant reads: the keeper's own (a job asked for, a
 * peer refused) are left out. */
static int
historyone(const char *rec, size_t len, void *a)
{
	static const char *const keys[] = { "time", "event", "outcome",
		"detail", NULL };
	struct history *h = a;
	const char *ev;
	json_t *e;
	int r = 0;

	if ((e = json_loadb(rec, len, 0, NULL)) == NULL)
		return 0;
	ev = fa_jstr(e, "event");
	if (strcmp(ev, "job") == 0 || strcmp(ev, "access") == 0)
		;
	else if (h->skip > 0)
		h->skip--;
	else if (json_array_size(h->events) == h->max) {
		h->more = 1;
		r = DB_NOTFOUND;
	} else if (json_array_append_new(h->events, pick(e, keys)) == -1)
		r = fa_seterr(1, "out of memory");
	json_decref(e);
	return r;
}


/* The dashboard's page of one binding: {"tenant", "binding"} ->
 * {"binding": {...}, "expires_at" and "refresh_expires_at" when it has
 * tokens, "fetched_at" when it has reference data, "events": its last
 * ten audit records, newest first, as dash.history gives them}. */
static int
v_dash_get(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	static const char *const keys[] = { "id", "status", "magento",
		"company", "last_refresh", "last_failure", NULL };
	struct fa_tokhdr h;
	const char *id, *tenant;
	struct history ev = { NULL, 0, EVENTS_MAX, 0 };
	json_t *b, *cache;
	int r;

	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1 ||
	    fa_arg_id(c->in, "binding", 1, &id) == -1)
		return -1;
	if ((r = fa_binding_get(v, t, id, tenant, &b, 0)) != 0)
		return r;
	r = setout(c, "binding", pick(b, keys));
	json_decref(b);
	if (r != 0)
		return r;
	/* A malformed token record or cache is shown as none. */
	if ((r = fa_tokhdr_get(v->tokens, t, id, &h, NULL, NULL)) == 0) {
		if ((r = setout(c, "expires_at", json_integer(h.expires_at))) ||
		    (r = setout(c, "refresh_expires_at",
		    json_integer(h.refresh_expires_at))))
			return r;
	} else if (r != DB_NOTFOUND && r != -1)
		return r;
	if ((r = fa_getjson(v->cache, t, id, &cache, 0)) == 0) {
		r = setout(c, "fetched_at", json_integer(json_integer_value(
		    json_object_get(cache, "fetched_at"))));
		json_decref(cache);
		if (r != 0)
			return r;
	} else if (r != DB_NOTFOUND && r != -1)
		return r;
	ev.events = json_array();
	if ((r = fa_each_audit_back(v, t, id, historyone, &ev)) != 0) {
		json_decref(ev.events);
		return r;
	}
	return setout(c, "events", ev.events);
}

/* Sync history: {"tenant", "binding", "page"} -> {"binding": {...},
 * "events": page "page" (from 0) of 50 audit records, newest first,
 * "more": true when older ones follow}. */
static int
v_dash_history(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct history h = { NULL, 0, HISTORY_PAGE, 0 };
	const char *id, *tenant;
	json_t *b;
	int64_t page;
	int r;

	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1 ||
	    fa_arg_id(c->in, "binding", 1, &id) == -1 ||
	    fa_arg_int(c->in, "page", 0, 1000000, 0, &page) == -1)
		return -1;
	if ((r = fa_binding_get(v, t, id, tenant, &b, 0)) != 0)
		return r;
	r = setout(c, "binding", row(b));
	json_decref(b);
	if (r != 0)
		return r;
	h.events = json_array();
	h.skip = page * HISTORY_PAGE;
	if ((r = fa_each_audit_back(v, t, id, historyone, &h)) != 0) {
		json_decref(h.events);
		return r;
	}
	if ((r = setout(c, "events", h.events)) == 0)
		r = setout(c, "more", json_boolean(h.more));
	return r;
}

/* The callback page: {"tenant", "hash"} -> {"binding"} when the state
 * is this tenant's, {} when not. Reads only: fa-exchange consumes it. */
static int
v_dash_state(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *tenant, *id, *tn;
	unsigned char h[32];
	json_t *j;
	int r;

	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1 || hasharg(c, h) == -1)
		return -1;
	if ((r = getstate(v, t, h, &j, 0)) != 0)
		return r == DB_NOTFOUND ? 0 : r;
	id = json_string_value(json_object_get(j, "binding"));
	tn = json_string_value(json_object_get(j, "tenant"));
	if (id != NULL && fa_validid(id) && tn != NULL &&
	    strcmp(tn, tenant) == 0)
		r = setout(c, "binding", json_string(id));
	json_decref(j);
	return r;
}

/* The settings page: {"tenant", "binding"} -> {"binding": {"id",
 * "magento", "settings"}, "cache": the lists it offers, absent before
 * the first fetch}. */
/* The choices a settings form offers, flat, so that the page holds no
 * more than it shows: a list of categories or accounts as [value,
 * label, value, label, ...] (a category has a dozen members more); the
 * payment targets as the indexes of the accounts that take payments;
 * the item types as they are. */
static json_t *
pairs(json_t *l, const char *vk, const char *lk)
{
	json_t *a = json_array(), *it;
	size_t k;

	json_array_foreach(l, k, it) {
		json_array_append_new(a, json_string(fa_jstr(it, vk)));
		json_array_append_new(a, json_string(fa_jstr(it, lk)));
	}
	return a;
}

static json_t *
choices(json_t *cache)
{
	json_t *banks = json_object_get(cache, "bank_accounts"), *targets,
	    *idx = json_array(), *b, *t;
	size_t i, k;

	/* payment_targets: the accounts that are not hidden (fa_refcache) */
	targets = json_object_get(cache, "payment_targets");
	json_array_foreach(banks, i, b)
		json_array_foreach(targets, k, t)
			if (strcmp(fa_jstr(t, "url"), fa_jstr(b, "url")) == 0) {
				json_array_append_new(idx, json_integer(i));
				break;
			}
	return json_pack("{s:o,s:o,s:o,s:O*}", "income_categories",
	    pairs(json_object_get(cache, "income_categories"), "url",
	    "description"), "bank_accounts", pairs(banks, "url", "name"),
	    "payment_targets", idx, "item_types", json_object_get(cache,
	    "item_types"));
}

static int
v_dash_settings(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	static const char *const bkeys[] = { "id", "magento", "settings",
		NULL };
	const char *id, *tenant;
	json_t *b, *cache;
	int r;

	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1 ||
	    fa_arg_id(c->in, "binding", 1, &id) == -1)
		return -1;
	if ((r = fa_binding_get(v, t, id, tenant, &b, 0)) != 0)
		return r;
	r = setout(c, "binding", pick(b, bkeys));
	json_decref(b);
	if (r != 0)
		return r;
	if ((r = fa_getjson(v->cache, t, id, &cache, 0)) != 0)
		return r == DB_NOTFOUND ? 0 : r;
	r = setout(c, "cache", choices(cache));
	json_decref(cache);
	return r;
}

/* Is val one of the values items offers (member vk of each, or each
 * itself when a string)? "" always is: it clears the setting. */
static int
offered(json_t *items, const char *vk, const char *val)
{
	const char *s;
	json_t *it;
	size_t i;

	if (*val == '\0')
		return 1;
	json_array_foreach(items, i, it) {
		s = json_is_string(it) ? json_string_value(it) :
		    json_string_value(json_object_get(it, vk));
		if (s != NULL && strcmp(s, val) == 0)
			return 1;
	}
	return 0;
}

/* Which of the cache's lists a setting's value must come from. */
static int
offers(json_t *cache, const char *name, json_t **items, const char **vk)
{
	*vk = "url";
	if (strcmp(name, "default_income_category") == 0)
		*items = json_object_get(cache, "income_categories");
	else if (strcmp(name, "default_bank_account") == 0)
		*items = json_object_get(cache, "bank_accounts");
	else if (strncmp(name, "pay_", 4) == 0 && name[4] != '\0')
		*items = json_object_get(cache, "payment_targets");
	else if (strncmp(name, "item_", 5) == 0 && name[5] != '\0') {
		*items = json_object_get(cache, "item_types");
		*vk = "";
	} else
		return -1;
	return 0;
}

/* The settings page's Save: {"tenant", "binding", "settings": {name:
 * value}} -> {}. Only values the reference cache offers are saved, so
 * the check is here, against the cache, in the same transaction. */
static int
v_dash_save(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *id, *tenant, *name, *val, *vk;
	json_t *in, *b, *cache = NULL, *s, *m, *items;
	size_t n;
	int r;

	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1 ||
	    fa_arg_id(c->in, "binding", 1, &id) == -1)
		return -1;
	in = json_object_get(c->in, "settings");
	if (!json_is_object(in) || (n = json_object_size(in)) == 0 ||
	    n > SETTINGS_MAX)
		return fa_seterr(EX_DATAERR, "no settings, or too many");
	if ((r = fa_binding_get(v, t, id, tenant, &b, DB_RMW)) != 0)
		return r;
	if ((r = fa_getjson(v->cache, t, id, &cache, 0)) != 0 &&
	    r != DB_NOTFOUND && r != -1)
		goto out;
	if (!json_is_object(s = json_object_get(b, "settings"))) {
		s = json_object();
		json_object_set_new(b, "settings", s);
	}
	json_object_foreach(in, name, m) {
		if ((val = json_string_value(m)) == NULL ||
		    strlen(name) > 47 || !fa_validid(name) ||
		    offers(cache, name, &items, &vk) == -1) {
			r = fa_seterr(EX_DATAERR, "a choice is not among "
			    "FreeAgent's");
			goto out;
		}
		if (strlen(val) > SETTING_LEN || strpbrk(val, "\n\r")) {
			r = fa_seterr(EX_DATAERR, "a choice is too long");
			goto out;
		}
		if (!offered(items, vk, val)) {
			r = fa_seterr(EX_DATAERR, "a choice is not among "
			    "FreeAgent's");
			goto out;
		}
		if (*val == '\0')
			json_object_del(s, name);
		else
			json_object_set_new(s, name, json_string(val));
	}
	json_object_set_new(b, "updated", json_integer(fa_now()));
	if ((r = fa_binding_put(v, t, id, b)) == 0)
		r = fa_audit(v, t, id, tenant, "set", "ok", "%zu change%s", n,
		    n == 1 ? "" : "s");
out:
	json_decref(cache);
	json_decref(b);
	return r;
}

/* The anti-CSRF token of a tenant and a day: an HMAC under a subkey of
 * its own (seal.h), so a web server that shows the token holds no key
 * of the vault's. */
static int
csrf(struct fa_vault *v, const char *tenant, long day, char out[44])
{
	unsigned char h[32];
	char msg[128];

	if (v->nkeys < 1)
		return fa_seterr(EX_CONFIG, "no vault key loaded");
	snprintf(msg, sizeof(msg), "%s/%ld", tenant, day);
	crypto_auth_hmacsha256(h, (const unsigned char *)msg, strlen(msg),
	    v->keys[0].csrf);
	sodium_bin2base64(out, 44, h, sizeof(h),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(h, sizeof(h));
	return 0;
}

/* {"tenant"} -> {"token"}: today's. */
static int
v_csrf_mint(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *tenant;
	char tk[44];

	(void)t;
	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1 ||
	    csrf(v, tenant, (long)(fa_now() / 86400), tk) == -1)
		return -1;
	return setout(c, "token", json_string(tk));
}

/* {"tenant", "token"} -> {}, or 77: only today's or yesterday's. */
static int
v_csrf_check(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *tenant, *got;
	long day = (long)(fa_now() / 86400);
	char want[44];
	int i;

	(void)t;
	if (fa_arg_id(c->in, "tenant", 1, &tenant) == -1)
		return -1;
	got = json_string_value(json_object_get(c->in, "token"));
	for (i = 0; got != NULL && strlen(got) == CSRF_LEN && i < 2; i++) {
		if (csrf(v, tenant, day - i, want) == -1)
			return -1;
		if (sodium_memcmp(want, got, CSRF_LEN) == 0)
			return 0;
	}
	return fa_seterr(EX_NOPERM, "this form has expired or did not come "
	    "from the dashboard");
}

const struct fa_verb fa_verbs_connect[] = {
	{ "state.mint",		v_state_mint,		FA_W | FA_BYDASH },
	{ "state.consume",	v_state_consume,	FA_W },
	{ "exchange.audit",	v_exchange_audit,	FA_W },
	{ "revoke.look",	v_revoke_look,		0 },
	{ "revoke.wipe",	v_revoke_wipe,		FA_W },
	{ "dash.list",		v_dash_list,		FA_BYDASH },
	{ "dash.get",		v_dash_get,		FA_BYDASH },
	{ "dash.history",	v_dash_history,		FA_BYDASH },
	{ "dash.state",		v_dash_state,		FA_BYDASH },
	{ "dash.settings",	v_dash_settings,	FA_BYDASH },
	{ "dash.save",		v_dash_save,		FA_W | FA_BYDASH },
	{ "csrf.mint",		v_csrf_mint,		FA_BYDASH },
	{ "csrf.check",		v_csrf_check,		FA_BYDASH },
	{ NULL, NULL, 0 }
};
