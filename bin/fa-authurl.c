/* fa-authurl: start a connect: mint a single-use state and print
 * FreeAgent's consent URL for a binding. The state is made here and
 * only its hash goes to the keeper, which checks the binding and keeps
 * the hash for 10 minutes (state.mint). */
#include <err.h>
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
#include "vaultc.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-authurl [-j] [-c file] [-t tenant] binding\n");
	exit(EX_USAGE);
}

int
main(int argc, char *argv[])
{
	static struct fa_conf conf;
	const struct fa_endpoint *e;
	const char *confpath = NULL, *tenant = NULL, *binding, *ep;
	char state[FA_STATELEN + 1], hex[65], url[2048];
	unsigned char h[32];
	json_t *args, *ans, *j;
	json_int_t expires;
	char *s;
	int ch, jflag = 0;

	if (fa_secure_init() == -1)
		fa_die();
	while ((ch = getopt(argc, argv, "c:jt:")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 'j':
			jflag = 1;
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
	if (argc != 1)
		usage();
	binding = argv[0];
	if (!fa_validname(binding, 65) || (tenant != NULL &&
	    !fa_validname(tenant, 65)))
		errx(EX_DATAERR, "invalid binding or tenant name");
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	fa_state_new(state);
	fa_state_hash(state, h);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	args = json_pack("{s:s,s:s}", "binding", binding, "hash", hex);
	if (tenant != NULL)
		json_object_set_new(args, "tenant", json_string(tenant));
	if (fa_ask(&conf, "state.mint", args, &ans) == -1)
		fa_die();
	json_decref(args);
	ep = fa_jstr(ans, "endpoint");
	expires = json_integer_value(json_object_get(ans, "expires_at"));
	/* The keeper checked the endpoint in its fa.conf; this is ours. */
	if ((e = fa_conf_endpoint(&conf, ep)) == NULL)
		errx(EX_CONFIG, "binding %s uses endpoint %s, which %s does "
		    "not define", binding, ep, conf.path);
	if (fa_authorize_url(e, conf.redirect_uri, state, url,
	    sizeof(url)) == -1)
		fa_die();
	json_decref(ans);
	if (jflag) {
		j = json_pack("{s:s,s:s,s:I}", "url", url, "state", state,
		    "expires_at", expires);
		s = json_dumps(j, JSON_COMPACT);
		puts(s);
		fa_jsonfree(s);
		json_decref(j);
	} else
		puts(url);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	return 0;
}
