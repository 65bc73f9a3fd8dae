/* exec.h: where fa's programs are, for the one that starts another. */
#ifndef FA_EXEC_H
#define FA_EXEC_H

#include <sys/types.h>

#include <stddef.h>

/* The path of program name (fa-vaultd, fa-exchange, …) into buf: in
 * $FA_BINDIR when that is set (a web server's CGI environment names
 * it); else beside this program, or in the bin/ beside its directory
 * (cgi-bin/); else where make install put it. 0, or -1 if it does not
 * fit. */
int	 fa_sibling(const char *name, char *buf, size_t size);
/* What a child of ours may see of our environment, into env (max
 * entries, NULL-terminated): PATH and the locale, who and where it is,
 * FA_CONFIG and FA_BINDIR, the sanitizers' options; never what a
 * request brought (HTTP_*, QUERY_STRING, REMOTE_USER, …). */
void	 fa_minenv(char **env, size_t max);
/* Starts our program argv[0] (fa_sibling) with that environment, stdin
 * from in and stdout into out (-1: /dev/null), stderr into err (-1:
 * ours), no other descriptor of ours, and, when pgid is not -1, in the
 * process group pgid (0: a new one). Its pid, or -1. */
pid_t	 fa_spawn(char *const argv[], int in, int out, int err, pid_t pgid);

#endif
