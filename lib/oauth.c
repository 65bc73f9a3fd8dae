#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "diag.h"
#include "http.h"
#include "oauth.h"
#include "secmem.h"
#include "url.h"

#define MAXTOKENRESP	65536
#define MAXAPIRESP	(4 << 20)

void
fa_state_new(char out[FA_STATELEN + 1])
{
	unsigned char b[32];

	randombytes_buf(b, sizeof(b));
	sodium_bin2base64(out, FA_STATELEN + 1, b, sizeof(b),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(b, sizeof(b));
}

int
fa_state_valid(const char *s)
{
	return strlen(s) == FA_STATELEN && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == FA_STATELEN;
}

void
fa_state_hash(const char *state, unsigned char out[32])
{
	crypto_hash_sha256(out, (const unsigned char *)state, strlen(state));
}

int
fa_authorize_url(const struct fa_endpoint *e, const char *redirect,
    const char *state, char *out, size_t outsz)
{
	int n;

	n = snprintf(out, outsz, "%s%cclient_id=", e->authorize_url,
	    strchr(e->authorize_url, '?') ? '&' : '?');
	if (n < 0 || (size_t)n >= outsz ||
	    fa_urlencode(out, outsz, e->client_id) == -1 ||
	    strlen(out) + 40 >= outsz)
		return fa_seterr(EX_CONFIG, "authorize URL too long");
	strcat(out, "&response_type=code&redirect_uri=");
	if (fa_urlencode(out, outsz, redirect) == -1 ||
	    strlen(out) + 8 >= outsz)
		return fa_seterr(EX_CONFIG, "authorize URL too long");
	strcat(out, "&state=");
	if (fa_urlencode(out, outsz, state) == -1)
		return fa_seterr(EX_CONFIG, "authorize URL too long");
	return 0;
}

/* A short description of a response that went wrong, for messages:
 * never the body, which may hold anything. */
static const char *
what(const struct fa_http *r)
{
	static char buf[160];

	snprintf(buf, sizeof(buf), "HTTP %ld%s%.60s", r->status,
	    r->ctype[0] ? ", " : "", r->ctype);
	return buf;
}

static int
temp(const struct fa_http *r, long *retry_after, const char *what_)
{
	if (retry_after != NULL)
		*retry_after = r->status == 429 ? r->retry_after : -1;
	return fa_seterr(FA_GRANT_TEMP, "%s: temporary failure (%s); "
	    "try again later", r->url, what_);
}

/* With a 401 in hand: are the client's credentials wrong, or only the
 * grant? Ask again with a refresh token that cannot exist: a server that
 * takes the client answers invalid_grant; one that does not, 401. */
static int
probe(const struct fa_conf *c, const struct fa_gate *g,
    const struct fa_endpoint *e, const char *sec)
{
	struct fa_http r;
	int rv;

	/* No waiting here: the grant's own answer is already in hand. */
	if (g != NULL && g->rate(c, 0) == -1)
		return FA_GRANT_TEMP;
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url = e->token_url;
	r.form = "grant_type=refresh_token&refresh_token=fa-client-probe";
	r.user = e->client_id;
	r.pass = sec;
	r.max = MAXTOKENRESP;
	r.timeout = c->http_timeout;
	if (fa_http_run(&r, 1, 1) == -1)
		rv = FA_GRANT_TEMP;
	else if (r.status == 401)
		rv = FA_GRANT_CLIENT;
	else if (r.status == 400 || r.status == 403)
		rv = FA_GRANT_REFUSED;
	else
		rv = FA_GRANT_TEMP;
	fa_http_free(&r);
	return rv;
}

static int
parse_tokens(struct fa_http *r, struct fa_tokens *tok)
{
	json_t *j, *a, *rt, *ei, *rei, *tt;
	json_int_t exp, rexp;
	int64_t now = fa_now();

	if ((j = json_loadb(r->body ? r->body : "", r->len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(j)) {
		json_decref(j);
		return fa_seterr(FA_GRANT_TEMP, "%s: token response is not a "
		    "JSON object; try again later", r->url);
	}
	a = json_object_get(j, "access_token");
	rt = json_object_get(j, "refresh_token");
	ei = json_object_get(j, "expires_in");
	rei = json_object_get(j, "refresh_token_expires_in");
	tt = json_object_get(j, "token_type");
	if (!json_is_string(a) || !fa_tokenok(json_string_value(a)) ||
	    (rt != NULL && (!json_is_string(rt) ||
	    !fa_tokenok(json_string_value(rt)))) ||
	    (rt == NULL && tok->refresh[0] == '\0') ||
	    !json_is_integer(ei) || (exp = json_integer_value(ei)) <= 0 ||
	    exp > 10 * 365 * 86400LL ||
	    (rei != NULL && (!json_is_integer(rei) ||
	    (rexp = json_integer_value(rei)) <= 0 ||
	    rexp > 100 * 365 * 86400LL)) ||
	    (tt != NULL && (!json_is_string(tt) ||
	    strcasecmp(json_string_value(tt), "bearer") != 0))) {
		json_decref(j);
		return fa_seterr(FA_GRANT_TEMP, "%s: token response lacks a "
		    "valid access_token, refresh_token or expires_in; try "
		    "again later", r->url);
	}
	strcpy(tok->access, json_string_value(a));
	if (rt != NULL)		/* always keep the newest */
		strcpy(tok->refresh, json_string_value(rt));
	tok->expires_at = now + exp;
	/* Not sent: assume the 7 days FreeAgent once had, so the sweep
	 * keeps an idle binding alive early rather than late. */
	if (rei != NULL)
		tok->refresh_expires_at = now + json_integer_value(rei);
	else if (tok->refresh_expires_at <= now || rt != NULL)
		tok->refresh_expires_at = now + 7 * 86400;
	json_decref(j);
	return FA_GRANT_OK;
}

/* {"error":"invalid_grant"} and the like, whatever the status. */
static int
oautherror(const struct fa_http *r, char *err, size_t errsz)
{
	json_t *j, *e;

	err[0] = '\0';
	if (!fa_http_isjson(r) || r->body == NULL)
		return 0;
	if ((j = json_loadb(r->body, r->len, 0, NULL)) == NULL)
		return 0;
	e = json_object_get(j, "error");
	if (json_is_string(e))
		snprintf(err, errsz, "%.60s", json_string_value(e));
	json_decref(j);
	return err[0] != '\0';
}

char *
fa_client_secret(const struct fa_conf *c, const struct fa_endpoint *e)
{
	char *sec;

	if (e->client_id[0] == '\0' || e->client_secret_file[0] == '\0') {
		fa_seterr(FA_GRANT_CLIENT, "endpoint %s needs %s.client_id and "
		    "%s.client_secret_file in %s", e->name, e->name, e->name,
		    c->path);
		return NULL;
	}
	if ((sec = fa_readsecret(e->client_secret_file)) == NULL)
		fa_seterr(FA_GRANT_CLIENT, "%s", fa_errmsg());
	return sec;
}

void
fa_grant_req(struct fa_http *r, const struct fa_conf *c,
    const struct fa_endpoint *e, const char *form, const char *secret)
{
	memset(r, 0, sizeof(*r));
	r->method = "POST";
	r->url = e->token_url;
	r->form = form;
	r->user = e->client_id;
	r->pass = secret;
	r->max = MAXTOKENRESP;
	r->timeout = c->http_timeout;
}

int
fa_grant_res(const struct fa_conf *c, const struct fa_gate *g,
    const struct fa_endpoint *e, struct fa_http *r, const char *secret,
    struct fa_tokens *tok, long *retry_after, int known_good)
{
	char err[64];
	int rv;

	if (retry_after != NULL)
		*retry_after = -1;
	err[0] = '\0';
	if (r->err == 1) {	/* libcurl missing, out of memory */
		fa_seterr(1, "%s", r->errmsg);
		return 1;
	} else if (r->err != 0) {
		rv = r->err == EX_CONFIG ? FA_GRANT_CLIENT : FA_GRANT_TEMP;
		if (rv == FA_GRANT_TEMP)
			fa_seterr(rv, "%s; try again later", r->errmsg);
	} else if (r->status == 200) {
		rv = parse_tokens(r, tok) == 0 ? FA_GRANT_OK : FA_GRANT_TEMP;
	} else if (oautherror(r, err, sizeof(err)) &&
	    strcmp(err, "invalid_client") == 0) {
		rv = FA_GRANT_CLIENT;
	} else if (strcmp(err, "invalid_grant") == 0) {
		rv = FA_GRANT_REFUSED;
		fa_seterr(rv, "%s refused the grant (invalid_grant)",
		    e->token_url);
	} else if (r->status == 401) {
		/* FreeAgent's only answer, HTML "HTTP Basic: Access denied.",
		 * for a bad client and for a bad grant alike. */
		rv = probe(c, g, e, secret);
		/* A server that answers 401 to every bad grant: the client
		 * worked a moment ago, so it is this grant that is refused. */
		if (rv == FA_GRANT_CLIENT && known_good)
			rv = FA_GRANT_REFUSED;
		if (rv == FA_GRANT_REFUSED)
			fa_seterr(rv, "%s refused the grant (%s)",
			    e->token_url, what(r));
		else if (rv == FA_GRANT_TEMP)
			fa_seterr(rv, "%s refused the grant (%s) and could not "
			    "be asked why; try again later", e->token_url,
			    what(r));
	} else {
		rv = FA_GRANT_TEMP;
		temp(r, retry_after, what(r));
	}
	if (rv == FA_GRANT_CLIENT && r->err == 0)
		fa_seterr(rv, "%s refused client %s: check %s.client_id and "
		    "%s.client_secret_file in %s", e->token_url, e->client_id,
		    e->name, e->name, c->path);
	else if (rv == FA_GRANT_CLIENT)
		fa_seterr(rv, "%s", r->errmsg);
	return rv;
}

int
fa_grant(const struct fa_conf *c, const struct fa_gate *g,
    const struct fa_endpoint *e, const char *form, struct fa_tokens *tok,
    long *retry_after)
{
	struct fa_http r;
	char *sec, client[65];
	int rv;

	if (retry_after != NULL)
		*retry_after = -1;
	if ((sec = fa_client_secret(c, e)) == NULL)
		return FA_GRANT_CLIENT;
	if (g != NULL && g->rate(c, 1) == -1) {
		fa_secfree(sec);
		return fa_errstatus() == EX_TEMPFAIL ? FA_GRANT_TEMP : 1;
	}
	fa_client_hash(e, sec, client);
	fa_grant_req(&r, c, e, form, sec);
	(void)fa_http_run(&r, 1, 1);
	/* Only a 401 needs to know whether this client worked lately. */
	rv = fa_grant_res(c, g, e, &r, sec, tok, retry_after, g != NULL &&
	    r.err == 0 && r.status == 401 && g->known(c, e->name, client));
	if (rv == FA_GRANT_OK && g != NULL)
		g->worked(c, e->name, client);
	fa_http_free(&r);
	fa_secfree(sec);
	return rv;
}

/* Unkeyed here: the keeper keys it again before it keeps it (vault.c),
 * so the vault's files cannot be used to test guesses at the secret. */
void
fa_client_hash(const struct fa_endpoint *e, const char *secret,
    char out[65])
{
	crypto_generichash_state st;
	unsigned char h[32];

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)e->client_id,
	    strlen(e->client_id) + 1);
	crypto_generichash_update(&st, (const unsigned char *)secret,
	    strlen(secret));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, 65, h, sizeof(h));
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(h, sizeof(h));
}

json_t *
fa_get_company(const struct fa_conf *c, const struct fa_endpoint *e,
    const char *access)
{
	struct fa_http r;
	char url[FA_URLLEN + 16];
	json_t *j = NULL, *co = NULL;

	snprintf(url, sizeof(url), "%s/company", e->base_url);
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.url = url;
	r.bearer = access;
	r.max = MAXAPIRESP;
	r.timeout = c->http_timeout;
	if (fa_http_run(&r, 1, 1) == -1) {
		if (fa_errstatus() != EX_CONFIG)
			fa_seterr(EX_TEMPFAIL, "%s; try again later",
			    fa_errmsg());
	} else if (r.status == 401)
		fa_seterr(EX_NOPERM, "%s: FreeAgent refused the new access "
		    "token (%s)", url, what(&r));
	else if (r.status != 200 || !fa_http_isjson(&r) ||
	    (j = json_loadb(r.body ? r.body : "", r.len, 0, NULL)) == NULL)
		temp(&r, NULL, what(&r));
	else if ((co = fa_company(json_object_get(j, "company"))) == NULL)
		fa_seterr(EX_TEMPFAIL, "%s: the company document is "
		    "malformed (%s); try again later", url, fa_errmsg());
	json_decref(j);
	fa_http_free(&r);
	return co;
}

int
fa_revoke(const struct fa_conf *c, const struct fa_gate *g,
    const struct fa_endpoint *e, const char *refresh)
{
	struct fa_http r;
	char form[FA_TOKLEN * 3 + 64], *sec;
	int rv;

	if ((sec = fa_client_secret(c, e)) == NULL)
		return EX_CONFIG;
	snprintf(form, sizeof(form), "token_type_hint=refresh_token&token=");
	if (fa_urlencode(form, sizeof(form), refresh) == -1) {
		fa_secfree(sec);
		fa_seterr(1, "refresh token too long to revoke");
		return 1;
	}
	if (g->rate(c, 1) == -1) {
		sodium_memzero(form, sizeof(form));
		fa_secfree(sec);
		return fa_errstatus();
	}
	fa_grant_req(&r, c, e, form, sec);
	r.url = e->revoke_url;
	(void)fa_http_run(&r, 1, 1);
	rv = 0;
	if (r.err != 0) {
		rv = r.err == EX_CONFIG ? EX_CONFIG : r.err == 1 ? 1 :
		    EX_TEMPFAIL;
		fa_seterr(rv, "%s", r.errmsg);
	} else if (r.status == 401 || r.status == 403) {
		rv = EX_CONFIG;
		fa_seterr(rv, "%s refused client %s (HTTP %ld)",
		    e->revoke_url, e->client_id, r.status);
	} else if (r.status >= 400 && r.status < 500 && r.status != 429) {
		rv = 1;		/* RFC 7009's 400s: a retry will not help */
		fa_seterr(rv, "%s refused the revocation (HTTP %ld)",
		    e->revoke_url, r.status);
	} else if (r.status < 200 || r.status > 299) {
		rv = EX_TEMPFAIL;
		fa_seterr(rv, "%s answered HTTP %ld", e->revoke_url,
		    r.status);
	}
	sodium_memzero(form, sizeof(form));
	fa_http_free(&r);
	fa_secfree(sec);
	return rv;
}
