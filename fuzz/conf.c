/* fuzz/conf: fa.conf(5) lines (fa_conf_line, fa_conf_finish in
 * lib/conf.c), split as fa_conf_load splits a file: at newlines, the
 * newline kept, at most 4096 bytes, no NUL, the first error ends it. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct fa_conf defaults, c;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* fa_conf_load fills in the defaults before it opens the file: a
	 * file that is not there leaves exactly those. */
	if (fa_conf_load(&defaults, "/nonexistent/fa.conf") != -1)
		abort();
	return 0;
}

static void
check(const struct fa_conf *cf)
{
	int i;

	if (cf->nep < 0 || cf->nep > FA_MAXEP || cf->nplan < 0 ||
	    cf->nplan > FA_MAXPLAN ||
	    fa_conf_endpoint(cf, cf->default_endpoint) == NULL)
		abort();
	for (i = 0; i < cf->nep; i++) {
		if (!fa_validname(cf->ep[i].name, FA_NAMELEN) ||
		    fa_conf_endpoint(cf, cf->ep[i].name) != &cf->ep[i] ||
		    !fa_url_allowed(cf->ep[i].base_url) ||
		    !fa_url_allowed(cf->ep[i].token_url) ||
		    !fa_url_allowed(cf->ep[i].authorize_url) ||
		    (cf->ep[i].revoke_url[0] != '\0' &&
		    !fa_url_allowed(cf->ep[i].revoke_url)))
			abort();
	}
	for (i = 0; i < cf->nplan; i++)
		if (fa_conf_plan(cf, cf->plan[i].name) == NULL ||
		    cf->plan[i].companies < -1 || cf->plan[i].bindings < -1)
			abort();
	(void)fa_conf_plan(cf, cf->default_plan);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *nl, *end = data + size;
	char *line;
	size_t n;
	int lineno = 0, rv = 0;

	memcpy(&c, &defaults, sizeof(c));
	while (rv == 0 && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		lineno++;
		if (n > 4096 || memchr(p, '\0', n) != NULL)
			return 0;	/* fa_conf_load refuses these */
		/* Exactly the line's bytes: a read past it is a report. */
		if ((line = malloc(n + 1)) == NULL)
			return 0;
		memcpy(line, p, n);
		line[n] = '\0';
		rv = fa_conf_line(&c, line, lineno);
		free(line);
		p += n;
	}
	if (rv == 0 && fa_conf_finish(&c) == 0)
		check(&c);
	return 0;
}
