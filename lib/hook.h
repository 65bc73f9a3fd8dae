/* hook.h: the operator's status_hook (fa.conf(5)), run as
 * "HOOK binding new-status" when a binding changes status, so someone
 * can tell the merchant. No secret reaches it; its output goes nowhere
 * (our stdout may carry a token); it may take at most 30 seconds. */
#ifndef FA_HOOK_H
#define FA_HOOK_H

#include "conf.h"

/* Returns 0, or -1 with the message set (the caller warns; a hook's
 * failure never undoes the change it reports). */
int	 fa_status_hook(const struct fa_conf *, const char *binding,
	    const char *status);

#endif
