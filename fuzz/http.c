/* fuzz/http: what libcurl hands lib/http.c from the network: header
 * lines (fa_http_onheader keeps Content-Type, Link, Retry-After and
 * X-Total-Count) and body chunks (fa_http_onbody, bounded by max).
 * Input: byte 0 picks max and the chunk size; then header lines up to
 * an empty line; the rest is the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "secmem.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct fa_http r;
	const uint8_t *p, *end = data + size, *nl;
	char *line;
	size_t n, chunk, got;

	if (!init++ && fa_secure_init() == -1)
		abort();
	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	r.retry_after = r.total = -1;
	r.max = (size_t)(data[0] & 0x0f) * 64;
	chunk = (size_t)(data[0] >> 4) + 1;
	for (p = data + 1; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n == 0 || (n == 1 && *p == '\r')) {
			p = nl + 1;
			break;
		}
		/* Exactly the line, as libcurl gives it: not terminated. */
		if ((line = malloc(n + 2)) == NULL)
			abort();
		memcpy(line, p, n);
		memcpy(line + n, "\r\n", 2);
		if (fa_http_onheader(line, 1, n + 2, &r) != n + 2)
			abort();
		free(line);
		if (nl == end)
			break;
	}
	for (; p < end; p += n) {
		n = (size_t)(end - p) < chunk ? (size_t)(end - p) : chunk;
		if ((line = malloc(n)) == NULL)
			abort();
		memcpy(line, p, n);
		got = fa_http_onbody(line, 1, n, &r);
		free(line);
		if (got != n) {
			if (r.len + n <= r.max)	/* refused what fitted */
				abort();
			break;
		}
	}
	if (r.len > r.max || (r.body != NULL && r.body[r.len] != '\0') ||
	    memchr(r.ctype, '\0', sizeof(r.ctype)) == NULL ||
	    memchr(r.next, '\0', sizeof(r.next)) == NULL ||
	    r.retry_after < -1 || r.total < -1)
		abort();
	fa_http_free(&r);
	return 0;
}
