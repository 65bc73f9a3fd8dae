/* rules.c: the vault's rules that more than one verb applies, one
 * function each (verb.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "verb.h"

int
fa_arg_str(json_t *in, const char *key, size_t max, int need,
    const char **out)
{
	json_t *j = json_object_get(in, key);

	*out = NULL;
	if (j == NULL || json_is_null(j))
		return need ? fa_seterr(EX_DATAERR, "no %s given", key) : 0;
	if (!json_is_string(j) || json_string_length(j) > max ||
	    strlen(json_string_value(j)) != json_string_length(j))
		return fa_seterr(EX_DATAERR, "%s: not a string of at most %zu "
		    "bytes", key, max);
	*out = json_string_value(j);
	return 0;
}

int
fa_arg_id(json_t *in, const char *key, int need, const char **out)
{
	if (fa_arg_str(in, key, 64, need, out) == -1)
		return -1;
	if (*out != NULL && !fa_validid(*out))
		return fa_seterr(EX_DATAERR, "invalid %s name: use 1-64 of A-Z "
		    "a-z 0-9 . _ @ + -", key);
	return 0;
}

int
fa_arg_int(json_t *in, const char *key, int64_t min, int64_t max,
    int64_t def, int64_t *out)
{
	json_t *j = json_object_get(in, key);

	*out = def;
	if (j == NULL)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < min ||
	    json_integer_value(j) > max)
		return fa_seterr(EX_DATAERR, "%s: an integer from %lld to %lld",
		    key, (long long)min, (long long)max);
	*out = json_integer_value(j);
	return 0;
}

int
fa_fail(struct fa_call *c, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	c->status = status;
	return 0;
}

void
fa_hook_later(struct fa_call *c, const char *binding, const char *status)
{
	if (c->nhooks == FA_MAXHOOKS)
		return;
	snprintf(c->hook[c->nhooks][0], sizeof(c->hook[0][0]), "%s", binding);
	snprintf(c->hook[c->nhooks][1], sizeof(c->hook[0][1]), "%s", status);
	c->nhooks++;
}

int
fa_binding_get(struct fa_vault *v, DB_TXN *t, const char *id,
    const char *tenant, json_t **b, uint32_t flags)
{
	const char *bt;
	int r;

	*b = NULL;
	if (!fa_validid(id))
		return fa_seterr(EX_DATAERR, "invalid binding name");
	if ((r = fa_getjson(v->bindings, t, id, b, flags)) == DB_NOTFOUND)
		return fa_seterr(EX_NOINPUT, "no binding %s", id);
	if (r != 0)
		return r;
	/* Another tenant's binding is no binding at all to this one. */
	if (tenant != NULL && ((bt = json_string_value(json_object_get(*b,
	    "tenant"))) == NULL || strcmp(bt, tenant) != 0)) {
		json_decref(*b);
		*b = NULL;
		return fa_seterr(EX_NOINPUT, "no binding %s", id);
	}
	return 0;
}

int
fa_status_set(struct fa_vault *v, DB_TXN *t, struct fa_call *c,
    const char *id, json_t *b, const char *status, const char *event,
    const char *outcome, const char *detail)
{
	const char *old = json_string_value(json_object_get(b, "status"));
	int changed = old == NULL || strcmp(old, status) != 0;
	int r;

	json_object_set_new(b, "status", json_string(status));
	json_object_set_new(b, "updated", json_integer(fa_now()));
	r = fa_audit(v, t, id, json_string_value(json_object_get(b, "tenant")),
	    event, outcome, detail != NULL ? "%s" : NULL, detail);
	if (r == 0 && changed)
		fa_hook_later(c, id, status);
	return r;
}

uint64_t
fa_tokver_bump(json_t *b)
{
	uint64_t ver = (uint64_t)json_integer_value(json_object_get(b,
	    "tokver")) + 1;

	json_object_set_new(b, "tokver", json_integer((json_int_t)ver));
	return ver;
}

int
fa_planof(const struct fa_conf *conf, json_t *t, const struct fa_plan **p)
{
	const char *name = json_string_value(json_object_get(t, "plan"));

	*p = fa_conf_plan(conf, name ? name : conf->default_plan);
	if (name != NULL && *p == NULL)
		return fa_seterr(EX_CONFIG, "tenant %s is on plan %s, which %s "
		    "does not define", fa_jstr(t, "name"), name, conf->path);
	return 0;
}

int
fa_count_one(json_t *b, void *a)
{
	struct fa_count *c = a;
	const char *st = fa_jstr(b, "status"), *id;
	json_t *co;

	if (c->skip != NULL && strcmp(fa_jstr(b, "id"), c->skip) == 0)
		return 0;
	if (strcmp(st, "disconnected") == 0)
		return 0;
	c->bindings++;
	if ((co = json_object_get(b, "company")) != NULL &&
	    *(id = fa_jstr(co, "id")) != '\0' && *st != '\0' &&
	    strcmp(st, "pending") != 0)
		json_object_set_new(c->companies, id,
		    json_string(*fa_jstr(co, "name") ? fa_jstr(co, "name") : id));
	return 0;
}

/* Adds d to the counter at meta key (its "n"). */
int
fa_count_add(struct fa_vault *v, DB_TXN *t, const char *key, int64_t d)
{
	json_t *j;
	int64_t n;
	int r;

	if ((r = fa_getjson(v->meta, t, key, &j, DB_RMW)) != 0 &&
	    r != DB_NOTFOUND)
		return r;
	n = json_integer_value(json_object_get(j, "n")) + d;
	json_decref(j);
	if (n == 0)	/* a census of none: no record */
		return (r = fa_del(v->meta, t, key)) == DB_NOTFOUND ? 0 : r;
	if ((j = json_pack("{s:I}", "n", (json_int_t)n)) == NULL)
		return fa_seterr(1, "out of memory");
	r = fa_putjson(v->meta, t, key, j);
	json_decref(j);
	return r;
}

int
fa_count_bump(struct fa_vault *v, DB_TXN *t, const char *name)
{
	char key[80];

	snprintf(key, sizeof(key), "count:%s", name);
	return fa_count_add(v, t, key, 1);
}

/* The census a binding is counted in: "census:STATUS\tENDPOINT" (its
 * own endpoint, "" for the default), or "" for none. */
static void
censuskey(json_t *b, char *k, size_t n)
{
	const char *st;

	*k = '\0';
	if (b == NULL)
		return;
	st = fa_jstr(b, "status");
	snprintf(k, n, "census:%s\t%.*s", *st ? st : "pending", FA_NAMELEN,
	    fa_jstr(b, "endpoint"));
}

/* The reference-data index entry of a binding: "ix:cache:" and its
 * fetched_at, 16 hex digits, then its id; "" for none (not connected,
 * or never fetched). */
static void
cachekey(json_t *b, const char *id, char *k, size_t n)
{
	int64_t at = json_integer_value(json_object_get(b, "fetched_at"));

	*k = '\0';
	if (b != NULL && at > 0 && strcmp(fa_jstr(b, "status"),
	    "connected") == 0)
		snprintf(k, n, "ix:cache:%016llx:%s", (unsigned long long)at,
		    id);
}

/* What a binding's change from old to b (either NULL: added, removed)
 * does to the kept counts and the index. */
static int
recount(struct fa_vault *v, DB_TXN *t, const char *id, json_t *old,
    json_t *b)
{
	char ko[FA_NAMELEN + 80], kn[FA_NAMELEN + 80];
	int r = 0;

	censuskey(old, ko, sizeof(ko));
	censuskey(b, kn, sizeof(kn));
	if (strcmp(ko, kn) != 0) {
		if (*ko && (r = fa_count_add(v, t, ko, -1)) != 0)
			return r;
		if (*kn && (r = fa_count_add(v, t, kn, 1)) != 0)
			return r;
	}
	cachekey(old, id, ko, sizeof(ko));
	cachekey(b, id, kn, sizeof(kn));
	if (strcmp(ko, kn) != 0) {
		if (*ko && (r = fa_del(v->meta, t, ko)) != 0 &&
		    r != DB_NOTFOUND)
			return r;
		if (*kn) {
			json_t *e = json_object();

			r = e != NULL ? fa_putjson(v->meta, t, kn, e) :
			    fa_seterr(1, "out of memory");
			json_decref(e);
			if (r != 0)
				return r;
		}
	}
	return 0;
}

int
fa_binding_put(struct fa_vault *v, DB_TXN *t, const char *id, json_t *b)
{
	json_t *old;
	int r;

	if ((r = fa_getjson(v->bindings, t, id, &old, DB_RMW)) != 0 &&
	    r != DB_NOTFOUND)
		return r;
	json_object_del(b, "counts");	/* kept per binding before */
	if ((r = recount(v, t, id, old, b)) == 0)
		r = fa_putjson(v->bindings, t, id, b);
	json_decref(old);
	return r;
}

int
fa_binding_del(struct fa_vault *v, DB_TXN *t, const char *id, json_t *b)
{
	int r;

	if ((r = recount(v, t, id, b, NULL)) == 0)
		r = fa_del(v->bindings, t, id);
	return r;
}

/* ---- fa_census_build: the kept counts from the bindings, once ---- */

#define BUILDBATCH	1000

struct build {
	char	 from[65];	/* the last binding counted */
	char	 last[65];	/* ... by this batch */
	int	 more;
	json_t	*batch;		/* "counts" of this batch's bindings */
	json_t	*counts;	/* ... of the batches done, added up */
};

/* counts += add */
static void
addup(json_t *counts, json_t *add)
{
	const char *name;
	json_t *n;

	json_object_foreach(add, name, n)
		json_object_set_new(counts, name, json_integer(
		    json_integer_value(json_object_get(counts, name)) +
		    json_integer_value(n)));
}

/* Clears the census and the index, and keeps the counters as they are
 * (what removed bindings counted) in meta "censusbuild", unless a build
 * that did not finish kept them already. */
static int
buildstart(struct fa_vault *v, DB_TXN *t, void *a)
{
	static const char *const prefixes[] = { "census:", "ix:cache:",
		NULL };
	json_t *base, *j;
	DBC *cur;
	DBT k, d;
	char key[256];
	int r, i;

	(void)a;
	if ((r = fa_getjson(v->meta, t, "censusbuild", &base, DB_RMW)) == 0) {
		json_decref(base);
		base = NULL;
	} else if (r != DB_NOTFOUND)
		return r;
	else if ((base = json_object()) == NULL)
		return fa_seterr(1, "out of memory");
	if ((r = v->meta->cursor(v->meta, t, &cur, 0)) != 0) {
		json_decref(base);
		return r;
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	for (i = 0; prefixes[i] != NULL && r == 0; i++) {
		k.data = (void *)prefixes[i];
		k.size = strlen(prefixes[i]);
		for (r = cur->get(cur, &k, &d, DB_SET_RANGE); r == 0 &&
		    k.size >= strlen(prefixes[i]) && memcmp(k.data,
		    prefixes[i], strlen(prefixes[i])) == 0;
		    r = cur->get(cur, &k, &d, DB_NEXT))
			if ((r = cur->del(cur, 0)) != 0)
				break;
		if (r == 0 || r == DB_NOTFOUND)
			r = 0;
	}
	/* count:NAME, as they were, into base */
	k.data = "count:";
	k.size = 6;
	for (r = r != 0 ? r : cur->get(cur, &k, &d, DB_SET_RANGE);
	    base != NULL && r == 0 && k.size > 6 && k.size < sizeof(key) &&
	    memcmp(k.data, "count:", 6) == 0;
	    r = cur->get(cur, &k, &d, DB_NEXT)) {
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		if ((j = json_loadb(d.data, d.size, 0, NULL)) != NULL)
			json_object_set(base, key + 6, json_object_get(j,
			    "n"));
		json_decref(j);
	}
	cur->close(cur);
	if (r != 0 && r != DB_NOTFOUND) {
		json_decref(base);
		return r;
	}
	r = base != NULL ? fa_putjson(v->meta, t, "censusbuild", base) : 0;
	json_decref(base);
	return r;
}

/* BUILDBATCH bindings after bd->from; run again from the start if the
 * transaction is: the caller takes bd->batch and bd->last after it. */
static int
buildbatch(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct build *bd = a;
	json_t *b;
	DBC *cur;
	DBT k, d;
	int r, i;

	bd->more = 0;
	json_object_clear(bd->batch);
	snprintf(bd->last, sizeof(bd->last), "%s", bd->from);
	if ((r = v->bindings->cursor(v->bindings, t, &cur, 0)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = bd->from;
	k.size = strlen(bd->from);
	r = cur->get(cur, &k, &d, *bd->from ? DB_SET_RANGE : DB_FIRST);
	if (r == 0 && *bd->from && k.size == strlen(bd->from) &&
	    memcmp(k.data, bd->from, k.size) == 0)
		r = cur->get(cur, &k, &d, DB_NEXT);
	for (i = 0; r == 0 && i < BUILDBATCH; i++) {
		if (k.size < sizeof(bd->last)) {
			memcpy(bd->last, k.data, k.size);
			bd->last[k.size] = '\0';
			if ((b = json_loadb(d.data, d.size, 0, NULL)) != NULL) {
				addup(bd->batch, json_object_get(b, "counts"));
				r = recount(v, t, bd->last, NULL, b);
				json_decref(b);
			}
		}
		if (r == 0)
			r = cur->get(cur, &k, &d, DB_NEXT);
	}
	cur->close(cur);
	if (r == 0)
		bd->more = 1;
	return r == DB_NOTFOUND ? 0 : r;
}

static int
buildend(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct build *bd = a;
	const char *name;
	json_t *base, *n, *j;
	char key[80];
	int r;

	json_object_clear(bd->batch);
	if ((r = fa_getjson(v->meta, t, "censusbuild", &base, DB_RMW)) != 0)
		return r;
	addup(bd->batch, bd->counts);
	addup(bd->batch, base);
	json_decref(base);
	json_object_foreach(bd->batch, name, n) {
		snprintf(key, sizeof(key), "count:%s", name);
		if ((j = json_pack("{s:O}", "n", n)) == NULL)
			return fa_seterr(1, "out of memory");
		r = fa_putjson(v->meta, t, key, j);
		json_decref(j);
		if (r != 0)
			return r;
	}
	if ((r = fa_del(v->meta, t, "censusbuild")) != 0)
		return r;
	if ((j = json_pack("{s:i,s:I}", "v", 1, "at",
	    (json_int_t)fa_now())) == NULL)
		return fa_seterr(1, "out of memory");
	r = fa_putjson(v->meta, t, "census", j);
	json_decref(j);
	return r;
}

static int
built(struct fa_vault *v, DB_TXN *t, void *a)
{
	json_t *j;
	int r;

	if ((r = fa_getjson(v->meta, t, "census", &j, 0)) == 0)
		*(int *)a = 1;
	json_decref(j);
	return r == DB_NOTFOUND ? 0 : r;
}

int
fa_census_build(struct fa_vault *v)
{
	struct build bd;
	int done = 0, r;

	if (fa_vault_txn(v, built, &done) == -1)
		return -1;
	if (done)
		return 0;
	memset(&bd, 0, sizeof(bd));
	if ((bd.counts = json_object()) == NULL ||
	    (bd.batch = json_object()) == NULL) {
		json_decref(bd.counts);
		return fa_seterr(1, "out of memory");
	}
	r = fa_vault_txn(v, buildstart, NULL);
	while (r == 0 && (r = fa_vault_txn(v, buildbatch, &bd)) == 0) {
		addup(bd.counts, bd.batch);
		memcpy(bd.from, bd.last, sizeof(bd.from));
		if (!bd.more)
			break;
	}
	if (r == 0)
		r = fa_vault_txn(v, buildend, &bd);
	json_decref(bd.batch);
	json_decref(bd.counts);
	return r;
}
