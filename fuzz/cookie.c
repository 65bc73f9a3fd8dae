/* fuzz/cookie: the Cookie header (fa_cookie_get, lib/cgi.c), which any
 * browser sends the dashboard. First byte: which cookie and how big a
 * buffer; the rest is the header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgi.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *names[] = { "fa_state", "fa_csrf", "a", "fa", "state",
	"" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name;
	char *h, *out;
	size_t outsz;
	int r;

	if (size < 1)
		return 0;
	name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
	/* 0..41: the short ones; else the dashboard's 64. */
	outsz = data[0] / 6 < 42 ? data[0] / 6 : 64;
	/* Exactly outsz bytes: one byte too many written is a report. */
	if ((h = malloc(size)) == NULL ||
	    ((out = malloc(outsz)) == NULL && outsz > 0)) {
		free(h);
		return 0;
	}
	memcpy(h, data + 1, size - 1);
	h[size - 1] = '\0';
	r = fa_cookie_get(h, name, out, outsz);
	if (r < -1 || r > 1)
		abort();
	if (r == 1 && (strlen(out) >= outsz || strpbrk(out, "; ") != NULL ||
	    strstr(h, out) == NULL))
		abort();
	(void)fa_cookie_get(NULL, name, out, outsz);
	free(out);
	free(h);
	return 0;
}
