/* diag.h: how lib/ reports failure without printing or exiting.
 * A failing lib function records an exit status (sysexits.h, the table in
 * fa(7)) and a message, and returns -1; the command decides what to do. */
#ifndef FA_DIAG_H
#define FA_DIAG_H

#include <sysexits.h>

int		 fa_seterr(int status, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
const char	*fa_errmsg(void);
int		 fa_errstatus(void);
void		 fa_die(void) __attribute__((noreturn));

#endif
