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
#include "vaultc.h"

static struct fa_conf conf;

struct arg {
	char		 binding[65];
	char		 btenant[65];
	char		 endpoint[FA_NAMELEN];
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-exchange [-f] [-c file] [-t tenant] "
	    "< query\n");
	exit(EX_USAGE);
}

/* Records the outcome in the audit log, best effort: the outcome itself
 * has happened already. */
static void
record(struct arg *x, const char *event, const char *outcome,
    const char *detail)
{
	json_t *args, *ans;

	args = json_pack("{s:s,s:s,s:s,s:s,s:s}", "binding", x->binding,
	    "tenant", x->btenant, "event", event, "outcome", outcome,
	    "detail", detail);
	if (fa_ask(&conf, "exchange.audit", args, &ans) == -1)
		warnx("audit: %s", fa_errmsg());
	json_decref(ans);
	json_decref(args);
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
	errx(status, "%s", msg);
}

/* Checks and consumes the state (state.consume): once, before any
 * network, so a state is good for exactly one try. Only its hash goes
 * to the keeper. */
static void
consume(struct arg *x, const char *state, const char *tenant)
{
	unsigned char h[32];
	char hex[65];
	json_t *args, *ans;

	fa_state_hash(state, h);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	args = json_pack("{s:s}", "hash", hex);
	if (tenant != NULL)
		json_object_set_new(args, "tenant", json_string(tenant));
	if (fa_ask(&conf, "state.consume", args, &ans) == -1)
		fa_die();
	json_decref(args);
	snprintf(x->binding, sizeof(x->binding), "%s", fa_jstr(ans,
	    "binding"));
	snprintf(x->btenant, sizeof(x->btenant), "%s", fa_jstr(ans,
	    "tenant"));
	snprintf(x->endpoint, sizeof(x->endpoint), "%s", fa_jstr(ans,
	    "endpoint"));
	json_decref(ans);
}

int
main(int argc, char *argv[])
{
	struct arg x;
	struct fa_query q;
	struct fa_tokens *tok;
	const struct fa_endpoint *e;
	const char *confpath = NULL, *tenant = NULL, *qs, *code, *error, *st;
	char form[FA_QMAXLEN * 3 + 256], line[FA_QMAXLEN + 2];
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
			tenant = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 0)
		usage();
	/* Never in argv, which every local user can read in /proc: the
	 * code is a credential until it is traded. */
	if ((qs = getenv("QUERY_STRING")) == NULL) {
		if (fgets(line, sizeof(line), stdin) == NULL)
			errx(EX_USAGE, "no query string: give it in "
			    "QUERY_STRING or on standard input");
		if (strlen(line) > FA_QMAXLEN && line[FA_QMAXLEN] != '\n')
			errx(EX_DATAERR, "query string longer than %d bytes",
			    FA_QMAXLEN);
		line[strcspn(line, "\r\n")] = '\0';
		qs = line;
	}
	if (!force && isatty(1))
		errx(EX_USAGE, "refusing to print tokens to a terminal (pipe "
		    "into fa-vault store, or use -f)");
	if (tenant != NULL && !fa_validname(tenant, 65))
		errx(EX_DATAERR, "invalid tenant name");
	if (fa_query_parse(&q, qs) == -1 ||
	    fa_query_get(&q, "state", &st) == -1 ||
	    fa_query_get(&q, "code", &code) == -1 ||
	    fa_query_get(&q, "error", &error) == -1)
		fa_die();
	sodium_memzero(line, sizeof(line));	/* q holds its own copy */
	if (st == NULL || !fa_state_valid(st))
		errx(EX_DATAERR, "missing or malformed state: start the "
		    "connect again");
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	consume(&x, st, tenant);
	if (error != NULL) {
		if (strcmp(error, "access_denied") == 0)
			fail(&x, EX_NOPERM, "declined", "the connection was "
			    "declined on FreeAgent's consent page; nothing "
			    "changed. Click Connect FreeAgent to try again");
		/* Quote it only if it is a plain OAuth error code. */
		fail(&x, EX_NOPERM, "refused", "FreeAgent answered error=%s; "
		    "nothing changed. Click Connect FreeAgent to try again",
		    strlen(error) < 64 && strspn(error, "abcdefghijklmnopqrstu"
		    "vwxyz_") == strlen(error) ? error : "(unprintable)");
	}
	if (conf.redirect_uri[0] == '\0')
		fail(&x, EX_CONFIG, "config", "redirect_uri is not set in %s",
		    conf.path);
	if (code == NULL || *code == '\0' || strlen(code) >= 1024)
		fail(&x, EX_DATAERR, "bad input", "the callback carries no "
		    "valid code");
	if ((e = fa_conf_endpoint(&conf, x.endpoint)) == NULL)
		fail(&x, EX_CONFIG, "config", "endpoint %s is no longer "
		    "defined in %s", x.endpoint, conf.path);
	snprintf(form, sizeof(form), "grant_type=authorization_code&code=");
	if (fa_urlencode(form, sizeof(form), code) == -1 ||
	    strlen(form) + 16 > sizeof(form) ||
	    !strcat(form, "&redirect_uri=") ||
	    fa_urlencode(form, sizeof(form), conf.redirect_uri) == -1)
		fail(&x, EX_DATAERR, "bad input", "the code is too long");
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
		errx(1, "out of secure memory");
	rv = fa_grant(&conf, &fa_gate_vault, e, form, tok, NULL);
	sodium_memzero(form, sizeof(form));
	if (rv != FA_GRANT_OK)
		fa_secfree(tok);
	if (rv == 1)
		fail(&x, 1, "failed", "%s", fa_errmsg());
	if (rv == FA_GRANT_REFUSED)
		fail(&x, EX_NOPERM, "refused", "FreeAgent refused the "
		    "authorisation code (used twice, or older than 15 "
		    "minutes): start the connect again");
	if (rv == FA_GRANT_CLIENT)
		fail(&x, EX_CONFIG, "config", "%s", fa_errmsg());
	if (rv != FA_GRANT_OK)
		fail(&x, EX_TEMPFAIL, "temporary", "%s. The connect has to "
		    "start again", fa_errmsg());
	/* The tokens are good now, but useless without their company: try
	 * a few times before giving up on them. */
	for (tries = 0;; tries++) {
		/* No room even after waiting: not tried again. */
		if (fa_gate_vault.rate(&conf, 1) == -1) {
			co = NULL;
			break;
		}
		co = fa_get_company(&conf, e, tok->access);
		if (co != NULL || fa_errstatus() != EX_TEMPFAIL || tries == 2)
			break;
		sleep(1 + tries);
	}
	if (co == NULL) {
		char why[512];
		int st = fa_errstatus() == EX_NOPERM ? EX_NOPERM : EX_TEMPFAIL;

		/* Useless without their company: not kept, so not left
		 * alive upstream either, where the endpoint can revoke. */
		snprintf(why, sizeof(why), "%s", fa_errmsg());
		if (e->revoke_url[0] != '\0')
			(void)fa_revoke(&conf, &fa_gate_vault, e, tok->refresh);
		fa_secfree(tok);
		fail(&x, st, "failed", "%s. The connect has to start again",
		    why);
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
	return 0;
}
