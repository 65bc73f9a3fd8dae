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
 * that the policy needs no 'unsafe-inline'. Status shows as a word and
 * a colour, each colour dark enough on its ground to read (WCAG AA). */
static const char css[] =
    "*{box-sizing:border-box}\n"
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1f2328;"
    "background:#f6f8fa}\n"
    "header{background:#24292f;padding:.7em 1em}\n"
    "header a{color:#fff;margin-right:1.2em;font-weight:600;"
    "text-decoration:none}\n"
    "main{max-width:60em;margin:0 auto;padding:1em}\n"
    "h1{font-size:1.6em;margin:.3em 0 .6em}h2{font-size:1.2em}\n"
    "a{color:#0550ae}.muted{color:#57606a}\n"
    ".flash{border-left:4px solid #1a7f37;background:#dafbe1;"
    "padding:.6em 1em}\n"
    ".error{border-left:4px solid #cf222e;background:#ffebe9;"
    "padding:.6em 1em}\n"
    ".row,.tile,table{background:#fff;border:1px solid #d0d7de;"
    "border-radius:6px}\n"
    ".row{border-left:6px solid #6e7781;padding:.8em 1em;margin:.6em 0}\n"
    ".row.ok{border-left-color:#1a7f37}.row.bad{border-left-color:#cf222e}"
    ".row.wait{border-left-color:#9a6700}\n"
    ".st{display:inline-block;font-size:.85em;font-weight:600;"
    "padding:0 .6em;border-radius:1em;margin-right:.5em;"
    "background:#eaeef2;color:#424a53}\n"
    ".st.ok{background:#dafbe1;color:#116329}"
    ".st.bad{background:#ffebe9;color:#a40e26}"
    ".st.wait{background:#fff8c5;color:#6c4400}\n"
    ".tiles{display:flex;flex-wrap:wrap;gap:1em;padding:0;"
    "list-style:none}\n"
    ".tile{flex:1 1 12em;padding:1em}.tile b{display:block;"
    "font-size:2em}\n"
    ".button,button{display:inline-block;background:#1a7f37;color:#fff;"
    "border:0;border-radius:6px;padding:.5em 1em;font:inherit;"
    "font-weight:600;text-decoration:none;cursor:pointer}\n"
    ".quiet{background:#eaeef2;color:#1f2328}\n"
    "label{display:block;font-weight:600;margin-top:.8em}\n"
    "input,select{font:inherit;padding:.35em;width:100%;max-width:28em}\n"
    ".acts,td:first-child{white-space:nowrap}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{text-align:left;padding:.4em .6em;vertical-align:top;"
    "border-bottom:1px solid #d0d7de}\n"
    "a:focus,button:focus,input:focus,select:focus"
    "{outline:3px solid #0969da;outline-offset:2px}\n"
    "@media (max-width:600px){main{padding:.6em}.row{padding:.6em}"
    "th,td{padding:.3em}}\n";

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
	fputs("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>", fp);
	fa_html(fp, title);
	fputs(" - fa</title><meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\"><link "
	    "rel=\"stylesheet\" href=\"/dashboard/static/fa.css\"></head>"
	    "<body><header><nav aria-label=\"Dashboard\"><a "
	    "href=\"/dashboard/\">Home</a><a href=\"/dashboard/bindings\">"
	    "Bindings</a></nav></header><main>", fp);
}

void
fa_cgi_end(FILE *fp)
{
	fputs("</main></body></html>\n", fp);
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
