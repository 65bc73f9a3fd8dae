/* cgi.c: the dashboard's common parts (cgi.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgi.h"
#include "conf.h"

const char *
fa_cgi_tenant(void)
{
	const char *u = getenv("REMOTE_USER");

	return u != NULL && fa_validname(u, 65) ? u : NULL;
}

void
fa_html(FILE *fp, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		switch (*s) {
		case '&': fputs("&amp;", fp); break;
		case '<': fputs("&lt;", fp); break;
		case '>': fputs("&gt;", fp); break;
		case '"': fputs("&quot;", fp); break;
		case '\'': fputs("&#39;", fp); break;
		default: putc(*s, fp);
		}
}

const char *fa_cgi_formto = "";

/* The one stylesheet, served as a file (/dashboard/static/fa.css), so
 * that the policy needs no 'unsafe-inline'. */
static const char css[] =
    "body{font:15px/1.4 sans-serif;margin:2em;max-width:60em}\n"
    ".ok{background:#e6f4ea}.bad{background:#fce8e6}\n"
    ".row{padding:.6em;margin:.4em 0;border:1px solid #ccc}\n"
    "a:focus,button:focus,input:focus,select:focus"
    "{outline:3px solid #1a73e8;outline-offset:2px}\n"
    "@media (max-width:600px){body{margin:1em}}\n";

void
fa_cgi_css(FILE *fp)
{
	fprintf(fp, "Status: 200\r\n"
	    "Content-Type: text/css; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: max-age=3600\r\n\r\n", sizeof(css) - 1);
	fputs(css, fp);
}

void
fa_cgi_begin(FILE *fp, int status, const char *title)
{
	fprintf(fp, "Status: %d\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Security-Policy: default-src 'none'; style-src 'self'; "
	    "form-action 'self'%s; frame-ancestors 'none'\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: no-store\r\n\r\n", status, fa_cgi_formto);
	fputs("<!doctype html><html><head><meta charset=\"utf-8\"><title>",
	    fp);
	fa_html(fp, title);
	fputs("</title><meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\"><link rel=\"stylesheet\" "
	    "href=\"/dashboard/static/fa.css\"></head><body>", fp);
}

void
fa_cgi_end(FILE *fp)
{
	fputs("</body></html>\n", fp);
}

int
fa_cookie_get(const char *h, const char *name, char *out, size_t outsz)
{
	const char *p;
	size_t nl = strlen(name), n;

	if (h == NULL || nl == 0)
		return 0;
	if (strnlen(h, 4097) > 4096)
		return -1;
	/* A name counts only where a cookie starts: "xfa_state=" is not
	 * fa_state. */
	for (p = h; (p = strstr(p, name)) != NULL; p++)
		if (p[nl] == '=' && (p == h || p[-1] == ' ' || p[-1] == ';')) {
			p += nl + 1;
			if ((n = strcspn(p, "; ")) >= outsz)
				return -1;
			memcpy(out, p, n);
			out[n] = '\0';
			return 1;
		}
	return 0;
}
