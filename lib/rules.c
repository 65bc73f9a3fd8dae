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

void
fa_count_bump(json_t *b, const char *name)
{
	json_t *c = json_object_get(b, "counts");

	if (c == NULL) {
		c = json_object();
		json_object_set_new(b, "counts", c);
	}
	json_object_set_new(c, name, json_integer(json_integer_value(
	    json_object_get(c, name)) + 1));
}

int
fa_count_retire(struct fa_vault *v, DB_TXN *t, json_t *b)
{
	const char *name;
	char key[80];
	json_t *n, *j;
	int64_t sum;
	int r = 0;

	json_object_foreach(json_object_get(b, "counts"), name, n) {
		snprintf(key, sizeof(key), "count:%s", name);
		if ((r = fa_getjson(v->meta, t, key, &j, DB_RMW)) != 0 &&
		    r != DB_NOTFOUND)
			return r;
		sum = json_integer_value(json_object_get(j, "n")) +
		    json_integer_value(n);
		json_decref(j);
		if ((j = json_pack("{s:I}", "n", (json_int_t)sum)) == NULL)
			return fa_seterr(1, "out of memory");
		r = fa_putjson(v->meta, t, key, j);
		json_decref(j);
		if (r != 0)
			return r;
	}
	return 0;
}
