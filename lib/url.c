#include <string.h>
#include <strings.h>

#include "diag.h"
#include "url.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes in place; returns -1 on a bad escape or an encoded NUL. */
static int
decode(char *s)
{
	char *w = s;
	int hi, lo;

	for (; *s != '\0'; s++) {
		if (*s == '+')
			*w++ = ' ';
		else if (*s == '%') {
			if ((hi = hexval(s[1])) < 0 || (lo = hexval(s[2])) < 0)
				return -1;
			if ((*w = (char)(hi << 4 | lo)) == '\0')
				return -1;
			w++;
			s += 2;
		} else
			*w++ = *s;
	}
	*w = '\0';
	return 0;
}

int
fa_query_parse(struct fa_query *q, const char *s)
{
	char *p, *amp, *eq;
	size_t len = strlen(s);

	q->n = 0;
	if (len > FA_QMAXLEN)
		return fa_seterr(EX_DATAERR, "query string longer than %d bytes",
		    FA_QMAXLEN);
	memcpy(q->buf, s, len + 1);
	for (p = q->buf; *p != '\0'; p = amp) {
		if ((amp = strchr(p, '&')) != NULL)
			*amp++ = '\0';
		else
			amp = p + strlen(p);
		if (*p == '\0')
			continue;
		if (q->n == FA_QMAXPARAM)
			return fa_seterr(EX_DATAERR, "more than %d query parameters",
			    FA_QMAXPARAM);
		if ((eq = strchr(p, '=')) != NULL)
			*eq++ = '\0';
		else
			eq = p + strlen(p);	/* "flag": empty value */
		if (decode(p) == -1 || decode(eq) == -1)
			return fa_seterr(EX_DATAERR, "malformed percent-encoding in "
			    "query string");
		q->p[q->n].name = p;
		q->p[q->n].value = eq;
		q->n++;
	}
	return 0;
}

int
fa_query_get(const struct fa_query *q, const char *name, const char **value)
{
	int i;

	*value = NULL;
	for (i = 0; i < q->n; i++) {
		if (strcmp(q->p[i].name, name) != 0)
			continue;
		if (*value != NULL)
			return fa_seterr(EX_DATAERR, "query parameter %s given twice",
			    name);
		*value = q->p[i].value;
	}
	return 0;
}

int
fa_urlencode(char *out, size_t outsz, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(out);
	unsigned char c;

	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if (n + 4 > outsz)
			return -1;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
			out[n++] = (char)c;
		else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

/* Does the value of a rel parameter (v, n bytes, unquoted) name next?
 * It may list several types: rel="prev next". */
static int
relnext(const char *v, size_t n)
{
	size_t w;

	while (n > 0) {
		w = 0;
		while (w < n && v[w] != ' ')
			w++;
		if (w == 4 && strncasecmp(v, "next", 4) == 0)
			return 1;
		if (w == n)
			break;
		v += w + 1;
		n -= w + 1;
	}
	return 0;
}

/* Link: <url>; rel="next", <url>; rel="prev"; title="…" (RFC 8288).
 * Parameters are parsed as such: "rel" inside another parameter's name
 * or value counts for nothing. */
int
fa_link_next(const char *h, char *out, size_t outsz)
{
	const char *p, *lt, *gt, *name, *v;
	size_t nl, vl;
	int isnext;

	for (p = h;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return 0;
		if (*p != '<' || (gt = strchr(p, '>')) == NULL)
			return -1;
		lt = p + 1;
		isnext = 0;
		for (p = gt + 1;;) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0' || *p == ',')
				break;
			if (*p++ != ';')
				return -1;
			while (*p == ' ' || *p == '\t')
				p++;
			name = p;
			while (*p != '\0' && strchr("=;, \t", *p) == NULL)
				p++;
			nl = (size_t)(p - name);
			while (*p == ' ' || *p == '\t')
				p++;
			v = p;
			vl = 0;
			if (*p == '=') {
				p++;
				while (*p == ' ' || *p == '\t')
					p++;
				if (*p == '"' || *p == '\'') {
					const char *q = strchr(p + 1, *p);
					if (q == NULL)
						return -1;
					v = p + 1;
					vl = (size_t)(q - v);
					p = q + 1;
				} else {
					v = p;
					while (*p != '\0' && strchr(";, \t", *p) == NULL)
						p++;
					vl = (size_t)(p - v);
				}
			}
			if (nl == 3 && strncasecmp(name, "rel", 3) == 0 &&
			    relnext(v, vl))
				isnext = 1;
		}
		if (isnext) {
			if (gt == lt || (size_t)(gt - lt) >= outsz)
				return -1;
			memcpy(out, lt, (size_t)(gt - lt));
			out[gt - lt] = '\0';
			return 1;
		}
	}
}
