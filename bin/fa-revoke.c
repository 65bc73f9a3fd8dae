/* fa-revoke: disconnect a binding. Revokes its refresh token upstream
 * where the endpoint has a revocation URL (RFC 7009), wipes the tokens
 * here whatever happens upstream, and marks it disconnected. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "hook.h"
#include "http.h"
#include "oauth.h"
#include "secmem.h"
#include "url.h"
#include "vault.h"

static struct fa_conf conf;
static struct fa_vault vault;

struct arg {
	const char	*id;
	const char	*tenant;	/* -t: must be this tenant's */
	char		 btenant[65];
	char		 status[32];
	char		 endpoint[FA_NAMELEN];
	struct fa_tokens *tok;
	int		 havetok;
	int		 unreadable;
	const char	*upstream;	/* what happened at the provider */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-revoke [-c file] [-t tenant] binding\n");
	exit(64);
}

static int
look(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct arg *x = a;
	const char *tn, *st, *ep;
	json_t *b;
	int r;

	if ((r = fa_getjson(v->bindings, t, x->id, &b, 0)) != 0)
		return r == DB_NOTFOUND ? fa_seterr(66, "no binding %s", x->id) : r;
	tn = json_string_value(json_object_get(b, "tenant"));
	if (tn == NULL || (x->tenant != NULL && strcmp(tn, x->tenant) != 0)) {
		json_decref(b);
		return fa_seterr(66, "no binding %s", x->id);
	}
	st = json_string_value(json_object_get(b, "status"));
	ep = json_string_value(json_object_get(b, "token_endpoint"));
	snprintf(x->btenant, sizeof(x->btenant), "%s", tn);
	snprintf(x->status, sizeof(x->status), "%s", st ? st : "pending");
	snprintf(x->endpoint, sizeof(x->endpoint), "%s", ep ? ep : "");
	r = fa_tokens_get(v, t, x->id, (uint64_t)json_integer_value(
	    json_object_get(b, "tokver")), x->tok, NULL);
	json_decref(b);
	if (r == DB_NOTFOUND)
		return 0;
	if (r == -1) {
		/* Unreadable tokens can still be wiped, but not revoked. */
		warnx("%s", fa_errmsg());
		x->unreadable = 1;
		return 0;
	}
	if (r == 0)
		x->havetok = 1;
	return r;
}

/* Wipes the tokens and marks the binding disconnected; the company,
 * the settings, the cache and the audit history stay. */
static int
wipe(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct arg *x = a;
	json_t *b;
	int r;

	if ((r = fa_getjson(v->bindings, t, x->id, &b, DB_RMW)) != 0)
		return r == DB_NOTFOUND ? fa_seterr(66, "no binding %s", x->id) : r;
	if ((r = fa_del(v->tokens, t, x->id)) != 0 && r != DB_NOTFOUND)
		goto out;
	json_object_set_new(b, "status", json_string("disconnected"));
	/* A refresh in flight finds another version and keeps nothing. */
	json_object_set_new(b, "tokver", json_integer(json_integer_value(
	    json_object_get(b, "tokver")) + 1));
	json_object_set_new(b, "disconnected_at", json_integer(fa_now()));
	json_object_set_new(b, "updated", json_integer(fa_now()));
	json_object_del(b, "lease");
	json_object_del(b, "retry_at");
	if ((r = fa_putjson(v->bindings, t, x->id, b)) == 0)
		r = fa_audit(v, t, x->id, x->btenant, "disconnect",
		    strcmp(x->upstream, "revoked") == 0 ||
		    strcmp(x->upstream, "no revocation URL") == 0 ||
		    strcmp(x->upstream, "nothing to revoke") == 0 ? "ok" :
		    "partial", "was %s; provider: %s", x->status, x->upstream);
out:
	json_decref(b);
	return r;
}

/* RFC 7009: POST token=…&token_type_hint=refresh_token with the
 * client's HTTP Basic credentials; 200 means gone (or never known). */
static int
upstream(const struct fa_endpoint *e, struct arg *x)
{
	struct fa_http r;
	char form[FA_TOKLEN * 3 + 64], *sec;
	int rv;

	if ((sec = fa_client_secret(&conf, e)) == NULL)
		return 78;
	snprintf(form, sizeof(form), "token_type_hint=refresh_token&token=");
	if (fa_urlencode(form, sizeof(form), x->tok->refresh) == -1) {
		fa_secfree(sec);
		fa_seterr(1, "refresh token too long to revoke");
		return 1;
	}
	if (fa_rate_ip(&vault, 1) == -1) {
		sodium_memzero(form, sizeof(form));
		fa_secfree(sec);
		return fa_errstatus();
	}
	fa_grant_req(&r, &conf, e, form, sec);
	r.url = e->revoke_url;
	(void)fa_http_run(&r, 1, 1);
	rv = 0;
	if (r.err != 0) {
		rv = r.err == 78 ? 78 : r.err == 1 ? 1 : 75;
		fa_seterr(rv, "%s", r.errmsg);
	} else if (r.status == 401 || r.status == 403) {
		rv = 78;
		fa_seterr(rv, "%s refused client %s (HTTP %ld)",
		    e->revoke_url, e->client_id, r.status);
	} else if (r.status >= 400 && r.status < 500 && r.status != 429) {
		rv = 1;		/* RFC 7009's 400s: a retry will not help */
		fa_seterr(rv, "%s refused the revocation (HTTP %ld)",
		    e->revoke_url, r.status);
	} else if (r.status < 200 || r.status > 299) {
		rv = 75;
		fa_seterr(rv, "%s answered HTTP %ld", e->revoke_url,
		    r.status);
	}
	sodium_memzero(form, sizeof(form));
	fa_http_free(&r);
	fa_secfree(sec);
	return rv;
}

int
main(int argc, char *argv[])
{
	struct arg x;
	const struct fa_endpoint *e;
	const char *confpath = NULL;
	int ch, rv = 0;

	if (fa_secure_init() == -1)
		fa_die();
	memset(&x, 0, sizeof(x));
	while ((ch = getopt(argc, argv, "c:t:")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 't':
			x.tenant = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	x.id = argv[0];
	if (!fa_validname(x.id, 65) || (x.tenant != NULL &&
	    !fa_validname(x.tenant, 65)))
		errx(65, "invalid binding or tenant name");
	if ((x.tok = fa_secalloc(sizeof(*x.tok))) == NULL)
		errx(1, "out of secure memory");
	if (fa_conf_load(&conf, confpath) == -1 ||
	    fa_vault_open(&vault, &conf, 0) == -1 ||
	    fa_vault_txn(&vault, look, &x) == -1)
		fa_die();
	if ((strcmp(x.status, "pending") == 0 ||
	    strcmp(x.status, "disconnected") == 0) && !x.havetok &&
	    !x.unreadable) {
		fa_vault_close(&vault);
		fprintf(stderr, "fa-revoke: %s is %s: nothing to disconnect\n",
		    x.id, strcmp(x.status, "pending") == 0 ?
		    "not connected yet" : "disconnected already");
		return 0;
	}
	e = fa_conf_endpoint(&conf, x.endpoint);
	x.upstream = "nothing to revoke";
	if (x.unreadable || (x.havetok && e == NULL)) {
		x.upstream = x.unreadable ? "tokens unreadable" :
		    "endpoint no longer defined";
		rv = x.unreadable ? 1 : 78;
		fprintf(stderr, "fa-revoke: %s: %s, so nothing was revoked "
		    "upstream; remove the app in FreeAgent under Settings -> "
		    "Connected apps\n", x.id, x.upstream);
	} else if (x.havetok && e->revoke_url[0] != '\0') {
		rv = upstream(e, &x);
		x.upstream = rv == 0 ? "revoked" : "revocation failed";
		/* Not 75: with the tokens wiped a retry cannot revoke, and
		 * "retry later" would be a lie. 78 stays: the fix is ours. */
		if (rv == 75)
			rv = 1;
		if (rv != 0)
			fprintf(stderr, "fa-revoke: %s; the tokens are wiped "
			    "here, so this cannot be retried: remove the app "
			    "in FreeAgent under Settings -> Connected apps\n",
			    fa_errmsg());
	} else if (x.havetok) {
		x.upstream = "no revocation URL";
		fprintf(stderr, "fa-revoke: %s: FreeAgent has no revocation "
		    "endpoint, so its tokens are only wiped here; to cut the "
		    "app off at FreeAgent too, remove it under Settings -> "
		    "Connected apps\n", x.id);
	}
	fa_secfree(x.tok);
	if (fa_vault_txn(&vault, wipe, &x) == -1) {
		fa_vault_close(&vault);
		fa_die();
	}
	fa_vault_close(&vault);
	if (fa_status_hook(&conf, x.id, "disconnected") == -1)
		warnx("%s", fa_errmsg());
	return rv;
}
