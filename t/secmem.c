/* secmem: drives fa_secalloc/fa_secfree (lib/secmem.c) for t/0015 and
 * prints what it saw, one fact a line. Small secrets share one locked
 * block; a sanitizer build gives each its own (then "pooled 0" and the
 * pool's own lines are left out: a freed block there is unmapped). */
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secmem.h"

static int
zero(const unsigned char *p, size_t n)
{
	while (n-- > 0)
		if (*p++ != 0)
			return 0;
	return 1;
}

/* Locked memory of this process, in kB (VmLck). */
static long
locked(void)
{
	char line[256];
	long kb = -1;
	FILE *fp;

	if ((fp = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "VmLck: %ld", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

int
main(void)
{
	unsigned char *a, *b, *c, *d, *big, *p[40];
	int pooled, i, st, ok;
	pid_t pid;

	if (fa_secure_init() == -1)
		return 1;
	a = fa_secalloc(100);
	b = fa_secalloc(200);
	if (a == NULL || b == NULL)
		return 1;
	pooled = b == a + 112;
	printf("pooled %d\n", pooled);
	printf("zeroed %d\n", zero(a, 100) && zero(b, 200));
	printf("locked %d\n", locked() >= 4);
	memset(a, 'A', 100);
	memset(b, 'B', 200);
	if (pooled) {
		fa_secfree(b);
		printf("freed piece wiped %d\n", zero(b, 200));
		c = fa_secalloc(50);
		printf("top given back %d\n", c == b);
		memset(c, 'C', 50);
		fa_secfree(a);
		printf("lower piece wiped %d\n", zero(a, 100));
		d = fa_secalloc(50);
		printf("space under a live piece kept %d\n", d == c + 64);
		fa_secfree(c);
		fa_secfree(d);
		a = fa_secalloc(10);
		printf("all given back %d\n", a == b - 112);
		/* A pointer into the pool that is not a piece: a bug. */
		if ((pid = fork()) == 0) {
			fa_secfree(a + 16);
			_exit(0);
		}
		printf("bad free aborts %d\n", waitpid(pid, &st, 0) == pid &&
		    WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	} else {
		fa_secfree(b);
	}
	/* More than the pool holds, in size and in number: still secrets. */
	big = fa_secalloc(20000);
	ok = big != NULL && zero(big, 20000);
	if (big != NULL)
		memset(big, 'X', 20000);
	for (i = 0; i < 40; i++) {
		p[i] = fa_secalloc(16);
		ok = ok && p[i] != NULL && zero(p[i], 16);
		if (p[i] != NULL)
			memset(p[i], 'P', 16);
	}
	for (i = 40; i-- > 0;)
		fa_secfree(p[i]);
	fa_secfree(big);
	printf("beyond the pool %d\n", ok);
	fa_secfree(a);
	return 0;
}
