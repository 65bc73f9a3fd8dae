#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

static _Thread_local char msg[512];
static _Thread_local int status = 1;

int
fa_errnost(int e)
{
	switch (e) {
	case ENOENT: case EACCES: case EPERM: case ENOTDIR: case ELOOP:
	case EISDIR: case ENAMETOOLONG: case EROFS: case ENXIO: case ENODEV:
		return EX_CONFIG;
	default:
		return EX_TEMPFAIL;
	}
}

/* Always returns -1, so lib code can say: return fa_seterr(...). */
int
fa_seterr(int st, const char *fmt, ...)
{
	char tmp[sizeof(msg)];
	va_list ap;

	/* Through tmp: the arguments may be fa_errmsg() itself. */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	fa_noctl(tmp);
	memcpy(msg, tmp, sizeof(msg));
	status = st;
	return -1;
}

char *
fa_noctl(char *s)
{
	unsigned char *p = (unsigned char *)s;

	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			*p++ = '?';
			*p = '?';
		}
	return s;
}

const char *
fa_errmsg(void)
{
	return msg;
}

int
fa_errstatus(void)
{
	return status;
}

/* For commands: report the recorded failure and exit with its status. */
void
fa_die(void)
{
	errx(status, "%s", msg);
}
