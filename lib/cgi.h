/* cgi.h: what every dashboard page needs: the tenant (REMOTE_USER
 * only), the security headers, HTML escaping of everything printed, and
 * where the programs it runs are. */
#ifndef FA_CGI_H
#define FA_CGI_H

#include <stddef.h>
#include <stdio.h>

/* The tenant the web server authenticated, or NULL. */
const char	*fa_cgi_tenant(void);
/* Status line and headers, security headers included; body follows. */
void		 fa_cgi_begin(FILE *, int status, const char *title);
/* Origins a page's form may go on to (its answer's redirect), besides
 * 'self': the connect page's, FreeAgent's consent pages. */
extern const char *fa_cgi_formto;
void		 fa_cgi_end(FILE *);
/* The stylesheet every page links, headers and all. */
void		 fa_cgi_css(FILE *);
/* Writes s with & < > " ' escaped. */
void		 fa_html(FILE *, const char *s);
/* The value of cookie name in a Cookie header (untrusted, NULL allowed)
 * into out: 1 found, 0 not, -1 header over 4096 bytes or value too long. */
int		 fa_cookie_get(const char *header, const char *name, char *out,
		    size_t outsz);

#endif
