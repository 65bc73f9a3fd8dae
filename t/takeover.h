/* takeover.h: for test and bench tools that open the vault themselves,
 * as only its keeper may: stop the keeper (SIGTERM; it finishes what
 * is in flight and closes), then open. The next client starts a new
 * keeper once the tool exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int
takeover(struct fa_vault *v, const struct fa_conf *c, int flags)
{
	struct timespec ts = { 0, 5000000L };
	char path[4200];
	FILE *f;
	long pid = 0;
	int i;

	for (i = 0; i < 2000; i++) {
		if (fa_vault_open(v, c, flags) == 0)
			return 0;
		if (fa_errstatus() != 75)
			return -1;
		snprintf(path, sizeof(path), "%s/lock", c->vault_dir);
		if (i % 200 == 0 && (f = fopen(path, "r")) != NULL) {
			if (fscanf(f, "%ld", &pid) == 1 && pid > 1)
				kill((pid_t)pid, SIGTERM);
			fclose(f);
		}
		nanosleep(&ts, NULL);
	}
	return -1;
}
