/* cgi.h: what every dashboard page needs: the tenant (REMOTE_USER
 * only), the security headers, and HTML escaping of everything printed. */
#ifndef FA_CGI_H
#define FA_CGI_H

#include <stdio.h>

/* The tenant the web server authenticated, or NULL. */
const char	*fa_cgi_tenant(void);
/* Status line and headers, security headers included; body follows. */
void		 fa_cgi_begin(FILE *, int status, const char *title);
void		 fa_cgi_end(FILE *);
/* Writes s with & < > " ' escaped. */
void		 fa_html(FILE *, const char *s);

#endif
