#include <err.h>
#include <stdarg.h>
#include <stdio.h>

#include "diag.h"

static char	msg[512];
static int	status = 1;

/* Always returns -1, so lib code can say: return fa_seterr(...). */
int
fa_seterr(int st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	status = st;
	return -1;
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
