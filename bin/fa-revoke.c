/* fa-revoke: disconnect a binding. Revokes its refresh token upstream
 * where the endpoint has a revocation URL (RFC 7009), wipes the tokens
 * here whatever happens upstream, and marks it disconnected. With -b,
 * the tokens of a bundle the vault refused, for fa-vault store, which
 * never calls FreeAgent itself. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "doc.h"
#include "http.h"
#include "oauth.h"
#include "secmem.h"
#include "url.h"
#include "vaultc.h"

static struct fa_conf conf;

struct arg {
	const char	*id;
	const char	*tenant;	/* -t: must be this tenant's */
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
	fprintf(stderr, "usage: fa-revoke [-c file] [-t tenant] binding\n"
	    "       fa-revoke [-c file] -b <bundle\n");
	exit(EX_USAGE);
}

static json_t *
args(struct arg *x)
{
	json_t *a = json_pack("{s:s}", "binding", x->id);

	if (x->tenant != NULL)
		json_object_set_new(a, "tenant", json_string(x->tenant));
	return a;
}

/* The binding's status and endpoint, and its refresh token if it has
 * one it can read (revoke.look). */
static void
look(struct arg *x)
{
	json_t *a = args(x), *ans;
	const char *rt;

	if (fa_ask(&conf, "revoke.look", a, &ans) == -1)
		fa_die();
	json_decref(a);
	snprintf(x->status, sizeof(x->status), "%s", fa_jstr(ans, "status"));
	snprintf(x->endpoint, sizeof(x->endpoint), "%s", fa_jstr(ans,
	    "endpoint"));
	if ((rt = json_string_value(json_object_get(ans, "refresh"))) !=
	    NULL) {
		if (strlen(rt) >= sizeof(x->tok->refresh))
			errx(1, "refresh token too long");
		strcpy(x->tok->refresh, rt);
		x->havetok = 1;
	} else if (json_object_get(ans, "unreadable") != NULL) {
		warnx("%s", fa_jstr(ans, "unreadable"));
		x->unreadable = 1;
	}
	json_decref(ans);
}

/* Wipes the tokens and marks the binding disconnected (revoke.wipe);
 * the company, the settings, the cache and the audit history stay. */
static void
wipe(struct arg *x)
{
	json_t *a = args(x), *ans;

	json_object_set_new(a, "upstream", json_string(x->upstream));
	if (fa_ask(&conf, "revoke.wipe", a, &ans) == -1)
		fa_die();
	json_decref(ans);
	json_decref(a);
}

/* -b: the new tokens of the bundle on stdin, which fa-vault store could
 * not keep (the keeper refused it), revoked upstream; nothing here
 * changes. */
static int
bundle(void)
{
	struct fa_tokens *tok;
	const struct fa_endpoint *e;
	json_t *j;

	if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
		errx(1, "out of secure memory");
	if ((j = fa_bundle_read(0, tok, NULL, NULL)) == NULL)
		fa_die();
	e = fa_conf_endpoint(&conf, fa_jstr(j, "endpoint"));
	if (e == NULL || e->revoke_url[0] == '\0')
		errx(EX_CONFIG, "endpoint %s has no revocation URL",
		    fa_jstr(j, "endpoint"));
	json_decref(j);
	if (fa_revoke(&conf, &fa_gate_vault, e, tok->refresh) != 0)
		fa_die();
	fa_secfree(tok);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct arg x;
	const struct fa_endpoint *e;
	const char *confpath = NULL;
	int ch, rv = 0, bflag = 0;

	if (fa_secure_init() == -1)
		fa_die();
	memset(&x, 0, sizeof(x));
	while ((ch = getopt(argc, argv, "bc:t:")) != -1) {
		switch (ch) {
		case 'b':
			bflag = 1;
			break;
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
	if (bflag) {
		if (argc != 0 || x.tenant != NULL)
			usage();
		if (fa_conf_load(&conf, confpath) == -1)
			fa_die();
		return bundle();
	}
	if (argc != 1)
		usage();
	x.id = argv[0];
	if (!fa_validname(x.id, 65) || (x.tenant != NULL &&
	    !fa_validname(x.tenant, 65)))
		errx(EX_DATAERR, "invalid binding or tenant name");
	if ((x.tok = fa_secalloc(sizeof(*x.tok))) == NULL)
		errx(1, "out of secure memory");
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	if (!fa_holder(&conf)) {
		/* We hold no client secret: the keeper disconnects, as the
		 * user that does. */
		json_t *args = json_pack("{s:s,s:s,s:s*}", "job", "revoke",
		    "binding", x.id, "tenant", x.tenant);

		rv = fa_delegate(&conf, args);
		json_decref(args);
		if (rv == -1)
			fa_die();
		fa_secfree(x.tok);
		return rv;
	}
	look(&x);
	if ((strcmp(x.status, "pending") == 0 ||
	    strcmp(x.status, "disconnected") == 0) && !x.havetok &&
	    !x.unreadable) {
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
		rv = x.unreadable ? 1 : EX_CONFIG;
		fprintf(stderr, "fa-revoke: %s: %s, so nothing was revoked "
		    "upstream; remove the app in FreeAgent under Settings -> "
		    "Connected apps\n", x.id, x.upstream);
	} else if (x.havetok && e->revoke_url[0] != '\0') {
		rv = fa_revoke(&conf, &fa_gate_vault, e, x.tok->refresh);
		x.upstream = rv == 0 ? "revoked" : "revocation failed";
		/* Not 75: with the tokens wiped a retry cannot revoke, and
		 * "retry later" would be a lie. 78 stays: the fix is ours. */
		if (rv == EX_TEMPFAIL)
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
	wipe(&x);
	return rv;
}
