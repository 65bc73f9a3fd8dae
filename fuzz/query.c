/* fuzz/query: query strings and form bodies (lib/url.c), one parser for
 * the dashboard's QUERY_STRING and its POST bodies. What it decodes must
 * encode back (fa_urlencode) to something that decodes the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *names[] = { "state", "code", "binding", "csrf", "error",
	"redirect_uri", "grant_type", "" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fa_query q, q2;
	static char enc[3 * FA_QMAXLEN + 8];
	const char *v, *v2;
	char *s;
	size_t i;
	int k;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (fa_query_parse(&q, s) == 0) {
		if (q.n < 0 || q.n > FA_QMAXPARAM)
			abort();
		for (k = 0; k < q.n; k++) {
			if (fa_query_get(&q, q.p[k].name, &v) == 0 &&
			    v != q.p[k].value)
				abort();
			/* Round trip: the value, encoded, parses back. */
			strcpy(enc, "v=");
			if (fa_urlencode(enc, sizeof(enc), q.p[k].value) == 0 &&
			    strlen(enc) <= FA_QMAXLEN) {
				if (fa_query_parse(&q2, enc) != 0 ||
				    fa_query_get(&q2, "v", &v2) != 0 ||
				    v2 == NULL || strcmp(v2, q.p[k].value) != 0)
					abort();
			}
		}
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			(void)fa_query_get(&q, names[i], &v);
	}
	free(s);
	return 0;
}
