/* auditgen: test helper. Appends made-up audit records, with made-up
 * ages, to a vault, as its keeper would write them (fa_audit: chained),
 * and prints how many the retention rule keeps of them.
 *   auditgen CONF N BINDINGS DAYS KEEPDAYS
 * N records over the last DAYS days, oldest first, for the bindings
 * g0000...: record i is binding i % BINDINGS's; a binding's first is
 * "add", its third "connect" (status changes), the rest refreshes. Of
 * them, KEEPDAYS' rule keeps (printed): the young, and of each
 * binding's old ones its last status change and its newest. Linked
 * with --wrap=fa_now: the records' time is ours. It stops the vault's
 * keeper first (takeover.h). */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "diag.h"
#include "secmem.h"
#include "vault.h"
#include "takeover.h"

static int64_t now;

int64_t __wrap_fa_now(void);
int64_t
__wrap_fa_now(void)
{
	return now;
}

static struct fa_conf conf;
static struct fa_vault v;
static long n, nb, done;
static int64_t t0, step;

static int
batch(struct fa_vault *vp, DB_TXN *t, void *a)
{
	char b[32];
	long i, end = done + 10000 < n ? done + 10000 : n;
	int r;

	(void)a;
	for (i = done; i < end; i++) {
		now = t0 + i * step;
		snprintf(b, sizeof(b), "g%04ld", i % nb);
		r = fa_audit(vp, t, b, "gen", i / nb == 0 ? "add" : i / nb == 2 ?
		    "connect" : "refresh", "ok", i / nb == 2 ?
		    "company \"Gen\" (id 1, gen); was pending" : NULL);
		if (r != 0)
			return r;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	long days, keep, i, kept = 0, last, stat, b;
	int64_t cutoff;

	if (argc != 6)
		errx(64, "usage: auditgen conf n bindings days keepdays");
	n = atol(argv[2]);
	nb = atol(argv[3]);
	days = atol(argv[4]);
	keep = atol(argv[5]);
	if (n < 1 || nb < 1 || nb > 10000 || days < 1 || keep < 1)
		errx(64, "bad numbers");
	if (fa_secure_init() == -1 || fa_conf_load(&conf, argv[1]) == -1 ||
	    takeover(&v, &conf, 0) == -1)
		fa_die();
	t0 = (int64_t)time(NULL) - days * 86400;
	step = days * 86400 / n;
	if (step < 1)
		step = 1;
	while (done < n) {
		if (fa_vault_txn(&v, batch, NULL) == -1)
			fa_die();
		done = done + 10000 < n ? done + 10000 : n;
	}
	fa_vault_close(&v);
	/* The rule, applied to what was written. */
	cutoff = (int64_t)time(NULL) - keep * 86400;
	for (b = 0; b < nb && b < n; b++) {
		last = stat = -1;
		for (i = b; i < n; i += nb) {
			if (t0 + i * step >= cutoff) {
				kept++;
				continue;
			}
			last = i;
			if (i / nb == 0 || i / nb == 2)
				stat = i;
		}
		kept += (last != -1) + (stat != -1 && stat != last);
	}
	printf("%ld\n", kept);
	return 0;
}
