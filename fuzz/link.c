/* fuzz/link: the Link header of FreeAgent's list pages (fa_link_next,
 * lib/url.c); its rel="next" target is where fa-prefetch sends the
 * token next. First byte: the buffer size; the rest is the value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "url.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h, *out;
	size_t outsz;
	int r;

	if (size < 1)
		return 0;
	/* As lib/http.c calls it (FA_URLLEN), or a small buffer. */
	outsz = data[0] < 128 ? FA_URLLEN : data[0] % 32;
	/* Exactly outsz bytes: one byte too many written is a report. */
	if ((h = malloc(size)) == NULL ||
	    ((out = malloc(outsz)) == NULL && outsz > 0)) {
		free(h);
		return 0;
	}
	memcpy(h, data + 1, size - 1);
	h[size - 1] = '\0';
	r = fa_link_next(h, out, outsz);
	if (r < -1 || r > 1)
		abort();
	if (r == 1 && (strlen(out) == 0 || strlen(out) >= outsz ||
	    strstr(h, out) == NULL))
		abort();
	free(out);
	free(h);
	return 0;
}
