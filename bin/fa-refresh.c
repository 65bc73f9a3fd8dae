/* fa-refresh: the front of fa-refresh-full, for the call a shop makes
 * before each FreeAgent request: `fa-refresh [-c file] [-H | -p]
 * binding` while the token is fresh. It asks the keeper for the token
 * with a peek (refresh.take that never leases nor writes) and prints it.
 * Anything else -- a refresh due, another option, a usage or
 * configuration error -- is fa-refresh-full's, which it executes with
 * the same arguments, in the same process. What the user sees is the
 * full program's: its messages, or the front's own for an error in
 * asking the keeper, which are the same. Linked with libc statically
 * (config.mk): it never loads libcurl, and a process without a dynamic
 * linker starts faster. */
#include <err.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "diag.h"
#include "exec.h"
#include "proto.h"
#include "secmem.h"
#include "vaultc.h"

static void __attribute__((noreturn))
full(char *argv[])
{
	char path[PATH_MAX];

	fa_vaultc_close();
	if (fa_sibling("fa-refresh-full", path, sizeof(path)) == -1)
		errx(1, "fa-refresh-full: path too long");
	execv(path, argv);
	err(1, "%s", path);
}

int
main(int argc, char *argv[])
{
	static struct fa_conf conf;
	const char *confpath = NULL, *access;
	json_t *args, *a;
	int ch, print = 0;

	opterr = 0;
	while ((ch = getopt(argc, argv, "+c:Hp")) != -1) {
		if (ch == 'c')
			confpath = optarg;
		else if ((ch == 'H' || ch == 'p') && (!print || print == ch))
			print = ch;
		else
			full(argv);
	}
	/* Checked as fa-refresh-full checks them, which says what is
	 * wrong: no terminal, a valid name, a configuration. */
	if (optind != argc - 1 || !fa_validid(argv[optind]) ||
	    (print && isatty(1)) || fa_secure_init() == -1 ||
	    fa_conf_load(&conf, confpath) == -1)
		full(argv);
	/* A keeper from before peeks would lease: for a second at most. */
	args = json_pack("{s:s,s:b,s:i}", "binding", argv[optind], "peek", 1,
	    "lease", 1);
	/* Refused, no keeper: what fa-refresh-full would say, once (a
	 * refused peer is audited). */
	if (fa_ask(&conf, "refresh.take", args, &a) == -1)
		fa_die();
	json_decref(args);
	access = fa_jstr(a, "access");
	if (strcmp(fa_jstr(a, "state"), "fresh") != 0 || !fa_tokenok(access))
		full(argv);
	fa_vaultc_close();
	if (print == 'p')
		printf("%s\n", access);
	else if (print == 'H')
		printf("Authorization: Bearer %s\n", access);
	json_decref(a);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	return 0;
}
