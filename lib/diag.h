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
/* The exit status for a failed open or read of a file the config names:
 * EX_CONFIG when the file is missing, of the wrong kind or not ours to
 * read; EX_TEMPFAIL for a failure of the system (EIO, ENOMEM, EMFILE,
 * ...), which a retry may not meet. */
int		 fa_errnost(int err);
/* In place: each C0 control, DEL, and C1 control (UTF-8 0xC2 0x80-0x9F)
 * becomes '?', so that text from FreeAgent cannot forge a line or steer
 * a terminal. Every message goes through it. Returns s. */
char		*fa_noctl(char *s);

#endif
