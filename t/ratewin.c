/* ratewin: drives fa_rate_take (lib/vault.c) on a clock of its own
 * (time() is replaced), for t/0240. Prints what each step got. */
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "conf.h"
#include "diag.h"
#include "secmem.h"
#include "vault.h"
#include "takeover.h"

static time_t fake = 1000000;
static struct fa_conf conf;
static struct fa_vault v;

time_t
time(time_t *t)
{
	if (t != NULL)
		*t = fake;
	return fake;
}

struct take {
	long	 limit;
	int64_t	 wait;
};

static int
takefn(struct fa_vault *vp, DB_TXN *t, void *p)
{
	struct take *a = p;
	const char *keys[] = { "rate:test" };

	return fa_rate_take(vp, t, keys, &a->limit, 1, &a->wait);
}

/* One request at a limit of 3 a minute: seconds to wait, 0 granted. */
static long long
take(void)
{
	struct take a = { 3, 0 };

	if (fa_vault_txn(&v, takefn, &a) == -1)
		fa_die();
	return a.wait;
}

static int
holdfn(struct fa_vault *vp, DB_TXN *t, void *p)
{
	return fa_rate_hold(vp, t, "rate:test", *(int64_t *)p);
}

/* FreeAgent said wait secs. */
static void
hold(int64_t secs)
{
	if (fa_vault_txn(&v, holdfn, &secs) == -1)
		fa_die();
}

/* How many of n requests are granted. */
static int
granted(int n)
{
	int ok = 0;

	while (n-- > 0)
		ok += take() == 0;
	return ok;
}

int
main(int argc, char *argv[])
{
	long long w;

	if (argc != 2 || fa_secure_init() == -1 ||
	    fa_conf_load(&conf, argv[1]) == -1 ||
	    takeover(&v, &conf, 0) == -1)
		fa_die();
	printf("fill %d\n", granted(3));
	w = take();
	printf("full wait %lld\n", w);
	fake += w - 1;
	printf("a second early wait %lld\n", take());
	fake += 1;
	printf("on time wait %lld\n", take());
	fake += 30;
	printf("spread %d\n", granted(2));	/* 1 at +60, 2 at +90 */
	fake += 31;				/* +60 has left */
	printf("after the oldest left %d\n", granted(5));
	fake += 1000;
	printf("fill again %d\n", granted(2));
	fake += 1;				/* another process at T+1 */
	printf("at T+1 %d\n", granted(1));
	fake -= 1;				/* our clock read before its commit */
	printf("behind by a second %d\n", granted(10));
	fake += 1;
	printf("caught up %d\n", granted(10));
	fake -= 3600;				/* the clock stepped back an hour */
	printf("clock an hour back %d\n", granted(10));
	fake += 7200;				/* an empty window */
	hold(60);
	printf("held 60 wait %lld\n", take());
	fake += 30;
	hold(10);				/* over before the first */
	printf("a shorter hold wait %lld\n", take());
	fake += 29;
	printf("held, a second early wait %lld\n", take());
	fake += 1;
	printf("hold over %d\n", granted(3));
	hold(100000);
	printf("held a day wait %lld\n", take());
	fake -= 7200;				/* the clock stepped back */
	printf("hold from the future %d\n", granted(3));
	fa_vault_close(&v);
	return 0;
}
