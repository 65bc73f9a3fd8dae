/* url.h: the URL pieces fa reads and writes: percent-encoding, query
 * strings and form bodies, and the Link header's rel="next". All input
 * here is untrusted: every function is bounded by its buffer sizes. */
#ifndef FA_URL_H
#define FA_URL_H

#include <stddef.h>

#define FA_QMAXLEN	4096	/* longest query string or form we read */
#define FA_QMAXPARAM	32

struct fa_param {
	char	*name;		/* decoded, NUL-terminated, in the buffer */
	char	*value;
};

struct fa_query {
	char		 buf[FA_QMAXLEN + 1];
	struct fa_param	 p[FA_QMAXPARAM];
	int		 n;
};

/* Splits and decodes s ("a=1&b=%20"); '+' is a space. Fails (65) on a
 * string too long, too many parameters, a bad escape or a NUL byte. */
int		 fa_query_parse(struct fa_query *, const char *s);
/* The value of name, or NULL; a name given twice is an error (65). */
int		 fa_query_get(const struct fa_query *, const char *name,
		    const char **value);
/* Appends the percent-encoding of s (RFC 3986 unreserved kept) to out,
 * which holds outsz bytes and a NUL-terminated string. 0 or -1. */
int		 fa_urlencode(char *out, size_t outsz, const char *s);
/* Finds the rel="next" target in a Link header value. 1 found, 0 not,
 * -1 malformed or too long. */
int		 fa_link_next(const char *hdr, char *out, size_t outsz);

#endif
