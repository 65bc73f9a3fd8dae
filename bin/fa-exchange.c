/* fa-exchange: finish a connect. Checks the callback's state, trades the
 * code for tokens, looks up the company, and prints the token bundle for
 * fa-vault store. */
#include <err.h>
#include <errno.h>
#include <stdarg.h>
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
#include "url.h"
#include "vault.h"

static struct fa_conf conf;
static struct fa_vault vault;

struct arg {
	const char	*tenant;	/* -t: the state must be this tenant's */
	const char	*state;
	char		 binding[65];
	char		 btenant[65];
	char		 endpoint[FA_NAMELEN];
	const char	*bad;		/* consumed, but refused: why */
	const char	*event;		/* for the audit record */
	const char	*outcome;
	char		 detail[512];
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-exchange [-f] [-c file] [-t tenant] [query]\n");
	exit(64);
}

/* Checks and consumes the state: one transaction, before any network,
 * so a state is good for exactly one try. */
static int
consume(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct arg *x = a;
	unsigned char h[32];
	const char *b, *tn, *ep;
	json_t *j;
	DBT k, d;
	int r;

	fa_state_hash(x->state, h);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = h;
	k.size = sizeof(h);
	d.flags = DB_DBT_MALLOC;
	if ((r = v->states->get(v->states, t, &k, &d, DB_RMW)) != 0)
		return r == DB_NOTFOUND ? fa_seterr(65, "unknown or already "
		    "used state: start the connect again") : r;
	j = json_loadb(d.data, d.size, 0, NULL);
	free(d.data);
	b = json_string_value(json_object_get(j, "binding"));
	tn = json_string_value(json_object_get(j, "tenant"));
	ep = json_string_value(json_object_get(j, "endpoint"));
	if (b == NULL || tn == NULL || ep == NULL || strlen(b) > 64 ||
	    strlen(tn) > 64 || strlen(ep) >= FA_NAMELEN) {
		json_decref(j);
		x->bad = "malformed state record: start the connect again";
		return v->states->del(v->states, t, &k, 0);
	}
	/* Another tenant's state is as good as none, and stays unused. */
	if (x->tenant != NULL && strcmp(x->tenant, tn) != 0) {
		json_decref(j);
		return fa_seterr(65, "unknown or already used state: start the "
		    "connect again");
	}
	strcpy(x->binding, b);
	strcpy(x->btenant, tn);
	strcpy(x->endpoint, ep);
	/* Expired: consumed all the same, and refused by the caller. */
	if (json_integer_value(json_object_get(j, "expires")) < fa_now())
		x->bad = "the connect took longer than 10 minutes: start it "
		    "again";
	json_decref(j);
	/* The binding must still be the one the state was made for: same
	 * id, same tenant (it may have been removed and added again). */
	if ((r = fa_getjson(v->bindings, t, x->binding, &j, 0)) == 0) {
		tn = json_string_value(json_object_get(j, "tenant"));
		if (tn == NULL || strcmp(tn, x->btenant) != 0)
			x->bad = "the binding changed hands since the connect "
			    "started: start it again";
		json_decref(j);
	} else if (r == DB_NOTFOUND)
		x->bad = "the binding no longer exists";
	else
		return r;
	return v->states->del(v->states, t, &k, 0);
}

static int
audit(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct arg *x = a;

	return fa_audit(v, t, x->binding, x->btenant, x->event, x->outcome,
	    "%s", x->detail);
}

/* Records the outcome in the audit log, best effort: the outcome itself
 * has happened already. */
static void
record(struct arg *x, const char *event, const char *outcome,
    const char *detail)
{
	x->event = event;
	x->outcome = outcome;
	snprintf(x->detail, sizeof(x->detail), "%s", detail);
	if (fa_vault_txn(&vault, audit, x) == -1)
		warnx("audit: %s", fa_errmsg());
}

static void __attribute__((noreturn))
fail(struct arg *x, int status, const char *outcome, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	record(x, "connect", outcome, msg);
	fa_vault_close(&vault);
	errx(status, "%s", msg);
}

int
main(int argc, char *argv[])
{
	struct arg x;
	struct fa_query q;
	struct fa_tokens *tok;
	const struct fa_endpoint *e;
	const char *confpath = NULL, *qs, *code, *error, *st;
	char form[FA_QMAXLEN * 3 + 256];
	json_t *co, *bundle;
	char *out;
	int ch, force = 0, tries, rv;

	if (fa_secure_init() == -1)
		fa_die();
	memset(&x, 0, sizeof(x));
	while ((ch = getopt(argc, argv, "c:ft:")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 'f':
			force = 1;
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
	if (argc > 1)
		usage();
	if ((qs = argc == 1 ? argv[0] : getenv("QUERY_STRING")) == NULL)
		errx(64, "no query string: give it as an argument or in "
		    "QUERY_STRING");
	if (!force && isatty(1))
		errx(64, "refusing to print tokens to a terminal (pipe into "
		    "fa-vault store, or use -f)");
	if (x.tenant != NULL && !fa_validname(x.tenant, 65))
		errx(65, "invalid tenant name");
	if (fa_query_parse(&q, qs) == -1 ||
	    fa_query_get(&q, "state", &st) == -1 ||
	    fa_query_get(&q, "code", &code) == -1 ||
	    fa_query_get(&q, "error", &error) == -1)
		fa_die();
	if (st == NULL || !fa_state_valid(st))
		errx(65, "missing or malformed state: start the connect again");
	x.state = st;
	if (fa_conf_load(&conf, confpath) == -1 ||
	    fa_vault_open(&vault, &conf, 0) == -1)
		fa_die();
	if (fa_vault_txn(&vault, consume, &x) == -1) {
		fa_vault_close(&vault);
		fa_die();
	}
	if (x.bad != NULL)
		fail(&x, 65, "refused", "%s", x.bad);
	if (error != NULL) {
		if (strcmp(error, "access_denied") == 0)
			fail(&x, 77, "declined", "the connection was declined "
			    "on FreeAgent's consent page; nothing changed. "
			    "Click Connect FreeAgent to try again");
		/* Quote it only if it is a plain OAuth error code. */
		fail(&x, 77, "refused", "FreeAgent answered error=%s; nothing "
		    "changed. Click Connect FreeAgent to try again",
		    strlen(error) < 64 && strspn(error, "abcdefghijklmnopqrstu"
		    "vwxyz_") == strlen(error) ? error : "(unprintable)");
	}
	if (conf.redirect_uri[0] == '\0')
		fail(&x, 78, "config", "redirect_uri is not set in %s",
		    conf.path);
	if (code == NULL || *code == '\0' || strlen(code) >= 1024)
		fail(&x, 65, "bad input", "the callback carries no valid code");
	if ((e = fa_conf_endpoint(&conf, x.endpoint)) == NULL)
		fail(&x, 78, "config", "endpoint %s is no longer defined in %s",
		    x.endpoint, conf.path);
	snprintf(form, sizeof(form), "grant_type=authorization_code&code=");
	if (fa_urlencode(form, sizeof(form), code) == -1 ||
	    strlen(form) + 16 > sizeof(form) ||
	    !strcat(form, "&redirect_uri=") ||
	    fa_urlencode(form, sizeof(form), conf.redirect_uri) == -1)
		fail(&x, 65, "bad input", "the code is too long");
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
		errx(1, "out of secure memory");
	rv = fa_grant(&conf, &vault, e, form, tok, NULL);
	sodium_memzero(form, sizeof(form));
	if (rv != FA_GRANT_OK)
		fa_secfree(tok);
	if (rv == 1)
		fail(&x, 1, "failed", "%s", fa_errmsg());
	if (rv == FA_GRANT_REFUSED)
		fail(&x, 77, "refused", "FreeAgent refused the authorisation "
		    "code (used twice, or older than 15 minutes): start the "
		    "connect again");
	if (rv == FA_GRANT_CLIENT)
		fail(&x, 78, "config", "%s", fa_errmsg());
	if (rv != FA_GRANT_OK)
		fail(&x, 75, "temporary", "%s. The connect has to start again",
		    fa_errmsg());
	/* The tokens are good now, but useless without their company: try
	 * a few times before giving up on them. */
	for (tries = 0;; tries++) {
		/* No room even after waiting: not tried again. */
		if (fa_rate_ip(&vault, 1) == -1) {
			co = NULL;
			break;
		}
		co = fa_get_company(&conf, e, tok->access);
		if (co != NULL || fa_errstatus() != 75 || tries == 2)
			break;
		sleep(1 + tries);
	}
	if (co == NULL) {
		fa_secfree(tok);
		fail(&x, fa_errstatus() == 77 ? 77 : 75, "failed", "%s. The "
		    "connect has to start again", fa_errmsg());
	}
	bundle = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:o}", "binding",
	    x.binding, "endpoint", x.endpoint, "access_token", tok->access,
	    "refresh_token", tok->refresh, "expires_at",
	    (json_int_t)tok->expires_at, "refresh_token_expires_at",
	    (json_int_t)tok->refresh_expires_at, "company", co);
	fa_secfree(tok);
	out = json_dumps(bundle, JSON_COMPACT);
	json_decref(bundle);
	if (out == NULL || puts(out) == EOF || fflush(stdout) == EOF) {
		fa_jsonfree(out);
		fail(&x, 1, "failed", "writing the bundle: %s", strerror(errno));
	}
	fa_jsonfree(out);
	record(&x, "exchange", "ok", "tokens handed to the store");
	fa_vault_close(&vault);
	return 0;
}
