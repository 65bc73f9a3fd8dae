/* doc.c: the documents fa takes from outside and keeps: the token
 * bundle, FreeAgent's company and its pages, the reference cache. Only
 * parsing and checking, no network: programs that never call FreeAgent
 * link it alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "diag.h"
#include "doc.h"
#include "proto.h"
#include "secmem.h"

/* A string from FreeAgent as it is stored: no control characters
 * (fa_noctl); other values as they are. */
static json_t *
clean(json_t *v)
{
	json_t *c;
	char *s;

	if (!json_is_string(v))
		return json_incref(v);
	if ((s = strdup(json_string_value(v))) == NULL)
		return NULL;
	c = json_string(fa_noctl(s));
	free(s);
	return c;
}

json_t *
fa_company(json_t *co)
{
	json_t *id, *out;
	char idbuf[32];
	const char *f[] = { "url", "currency", "type" };
	size_t i;

	if (!json_is_object(co))
		goto bad;
	id = json_object_get(co, "id");
	if (json_is_integer(id) && json_integer_value(id) >= 0)
		snprintf(idbuf, sizeof(idbuf), "%lld",
		    (long long)json_integer_value(id));
	else if (json_is_string(id) && json_string_length(id) > 0 &&
	    json_string_length(id) < sizeof(idbuf) &&
	    fa_validname(json_string_value(id), sizeof(idbuf)))
		strcpy(idbuf, json_string_value(id));
	else
		goto bad;
#define SHORTSTR(k, max) (json_is_string(json_object_get(co, k)) && \
	json_string_length(json_object_get(co, k)) > 0 && \
	json_string_length(json_object_get(co, k)) <= (max) && \
	strlen(json_string_value(json_object_get(co, k))) == \
	json_string_length(json_object_get(co, k)))
	if (!SHORTSTR("name", 256) || !SHORTSTR("subdomain", 128))
		goto bad;
	out = json_pack("{s:s,s:o,s:o}", "id", idbuf, "name",
	    clean(json_object_get(co, "name")), "subdomain",
	    clean(json_object_get(co, "subdomain")));
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (json_object_get(co, f[i]) == NULL)
			continue;
		if (!SHORTSTR(f[i], 512)) {
			json_decref(out);
			goto bad;
		}
		json_object_set_new(out, f[i], clean(json_object_get(co,
		    f[i])));
	}
#undef SHORTSTR
	return out;
bad:
	fa_seterr(EX_DATAERR, "company: needs id (number or short string), "
	    "name and subdomain (strings); url, currency and type short "
	    "strings");
	return NULL;
}

/* A string member: at most max bytes, no NUL inside; empty only when
 * not required, and absent likewise. */
static int
strfield(json_t *o, const char *k, size_t max, int required)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
		return !required;
	return json_is_string(v) && json_string_length(v) <= max &&
	    (json_string_length(v) > 0 || !required) &&
	    strlen(json_string_value(v)) == json_string_length(v);
}

static int
tokfield(json_t *o, const char *k)
{
	return strfield(o, k, FA_TOKLEN - 1, 1) &&
	    fa_tokenok(json_string_value(json_object_get(o, k)));
}

static int
timefield(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	int64_t now = fa_now();

	return json_is_integer(v) && json_integer_value(v) >=
	    FA_TIME_MIN(now) && json_integer_value(v) <= FA_TIME_MAX(now);
}

json_t *
fa_bundle(const char *buf, size_t len, struct fa_tokens *tok,
    json_t **company)
{
	json_error_t je;
	json_t *j;
	const char *b;

	*company = NULL;
	/* Never je.text: it may quote the input, and so a token. */
	if ((j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		fa_seterr(EX_DATAERR, "token bundle is not valid JSON (line "
		    "%d, column %d)", je.line, je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		fa_seterr(EX_DATAERR, "token bundle is not a JSON object");
		goto bad;
	}
	if (!strfield(j, "binding", 64, 1) || !strfield(j, "endpoint", 31, 1)) {
		fa_seterr(EX_DATAERR, "token bundle lacks binding or endpoint");
		goto bad;
	}
	if (!fa_validname(b = json_string_value(json_object_get(j,
	    "binding")), 65)) {
		fa_seterr(EX_DATAERR, "invalid binding \"%.64s\": use 1-64 of "
		    "A-Z a-z 0-9 . _ @ + -", b);
		goto bad;
	}
	if (!tokfield(j, "access_token") || !tokfield(j, "refresh_token")) {
		fa_seterr(EX_DATAERR, "token bundle: access_token and "
		    "refresh_token must be 1-%d printable characters",
		    FA_TOKLEN - 1);
		goto bad;
	}
	if (!timefield(j, "expires_at") ||
	    !timefield(j, "refresh_token_expires_at")) {
		fa_seterr(EX_DATAERR, "token bundle: expires_at and "
		    "refresh_token_expires_at must be Unix seconds from a day "
		    "ago to 100 years ahead");
		goto bad;
	}
	if ((*company = fa_company(json_object_get(j, "company"))) == NULL) {
		fa_seterr(EX_DATAERR, "token bundle: %s", fa_errmsg());
		goto bad;
	}
	strcpy(tok->access, json_string_value(json_object_get(j,
	    "access_token")));
	strcpy(tok->refresh, json_string_value(json_object_get(j,
	    "refresh_token")));
	tok->expires_at = json_integer_value(json_object_get(j, "expires_at"));
	tok->refresh_expires_at = json_integer_value(json_object_get(j,
	    "refresh_token_expires_at"));
	return j;
bad:
	json_decref(j);
	return NULL;
}

int
fa_page(const char *body, size_t len, const char *member, json_t *items,
    json_t **company)
{
	json_t *j, *a, *it;
	size_t i;

	if ((j = json_loadb(body != NULL ? body : "", body != NULL ? len : 0,
	    0, NULL)) == NULL)
		return fa_seterr(EX_DATAERR, "not JSON");
	if (member == NULL) {
		json_decref(*company);
		*company = json_incref(json_object_get(j, "company"));
	} else if (!json_is_array(a = json_object_get(j, member))) {
		json_decref(j);
		return fa_seterr(EX_DATAERR, "no %s list", member);
	} else
		json_array_foreach(a, i, it)
			if (json_is_object(it))
				json_array_append(items, it);
	json_decref(j);
	return 0;
}

/* A new object with o's members named in keys, NULL-terminated. */
static json_t *
pick(json_t *o, const char **keys)
{
	json_t *out = json_object();

	for (; *keys != NULL; keys++)
		if (json_object_get(o, *keys) != NULL)
			json_object_set_new(out, *keys,
			    clean(json_object_get(o, *keys)));
	return out;
}

json_t *
fa_refcache(const char *binding, json_int_t fetched_at, json_t *company,
    json_t *cats, json_t *banks)
{
	static const char *catkeys[] = { "url", "description", "nominal_code",
		"group_description", NULL };
	static const char *bankkeys[] = { "url", "name", "type", "currency",
		"status", "is_primary", "is_personal", "bank_name", NULL };
	static const char *itemtypes[] = { "Hours", "Days", "Weeks",
		"Months", "Years", "Products", "Services", "Training",
		"Expenses", "Comment", "Bills", "Discount", "Credit", "VAT",
		"Stock", "-no unit-" };
	json_t *co, *c, *b, *targets, *types, *it;
	const char *st;
	size_t n;

	if ((co = fa_company(company)) == NULL)
		return NULL;
	c = json_array();
	json_array_foreach(cats, n, it)
		json_array_append_new(c, pick(it, catkeys));
	b = json_array();
	targets = json_array();
	json_array_foreach(banks, n, it) {
		json_array_append_new(b, pick(it, bankkeys));
		/* Hidden accounts take no payments. */
		st = json_string_value(json_object_get(it, "status"));
		if (st == NULL || strcmp(st, "hidden") != 0)
			json_array_append_new(targets, pick(it, bankkeys));
	}
	types = json_array();
	for (n = 0; n < sizeof(itemtypes) / sizeof(itemtypes[0]); n++)
		json_array_append_new(types, json_string(itemtypes[n]));
	return json_pack("{s:s,s:I,s:o,s:o,s:o,s:o,s:o}", "binding", binding,
	    "fetched_at", fetched_at, "company", co, "income_categories", c,
	    "bank_accounts", b, "payment_targets", targets, "item_types",
	    types);
}

json_t *
fa_bundle_read(int fd, struct fa_tokens *tok, char **bufp, size_t *lenp)
{
	json_t *j = NULL, *company;
	size_t len = 0;
	ssize_t n;
	char *buf;

	if ((buf = fa_secalloc(FA_BUNDLEMAX + 1)) == NULL) {
		fa_seterr(1, "out of secure memory");
		return NULL;
	}
	while ((n = read(fd, buf + len, FA_BUNDLEMAX + 1 - len)) > 0 ||
	    (n == -1 && errno == EINTR))
		if (n > 0 && (len += (size_t)n) > FA_BUNDLEMAX)
			break;
	if (n == -1)
		fa_seterr(1, "reading the token bundle: %s", strerror(errno));
	else if (len > FA_BUNDLEMAX)
		fa_seterr(EX_DATAERR, "token bundle larger than %d bytes",
		    FA_BUNDLEMAX);
	else if ((j = fa_bundle(buf, len, tok, &company)) != NULL)
		json_decref(company);
	if (j != NULL && bufp != NULL) {
		*bufp = buf;
		*lenp = len;
	} else
		fa_secfree(buf);
	return j;
}
