/* tm: time commands. Runs each command n times, taking turns (so that
 * the machine's noise falls on all of them alike), stdin from a file
 * (default /dev/null), stdout to /dev/null, and prints the median wall
 * time of each in microseconds, on one line. Commands are started with
 * posix_spawn (vfork), so what is measured is the command, not the
 * harness. A failed run is an error.
 *   tm [-n runs] [-i file] command [arg ...] [-- command [arg ...]] ... */
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXCMD	8

extern char **environ;

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
run(posix_spawn_file_actions_t *fa, char **argv)
{
	struct timespec t0, t1;
	pid_t pid;
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((errno = posix_spawnp(&pid, argv[0], fa, NULL, argv,
	    environ)) != 0)
		err(1, "%s", argv[0]);
	if (waitpid(pid, &st, 0) == -1)
		err(1, "waitpid");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		errx(1, "%s: exit status %d", argv[0],
		    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
}

int
main(int argc, char *argv[])
{
	posix_spawn_file_actions_t fa;
	const char *in = "/dev/null";
	char **cmd[MAXCMD];
	double *us[MAXCMD];
	int ch, i, c, ncmd = 0, n = 20;

	while ((ch = getopt(argc, argv, "+n:i:")) != -1) {
		switch (ch) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'i':
			in = optarg;
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || n < 1)
usage:		errx(64, "usage: tm [-n runs] [-i file] command [arg ...] "
		    "[-- command [arg ...]] ...");
	for (cmd[ncmd++] = argv, i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") != 0)
			continue;
		argv[i] = NULL;
		if (ncmd == MAXCMD || i + 1 == argc)
			goto usage;
		cmd[ncmd++] = argv + i + 1;
	}
	for (c = 0; c < ncmd; c++)
		if ((us[c] = calloc(n, sizeof(double))) == NULL)
			err(1, NULL);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	for (i = 0; i < n; i++)
		for (c = 0; c < ncmd; c++)
			us[c][i] = run(&fa, cmd[c]);
	for (c = 0; c < ncmd; c++) {
		qsort(us[c], n, sizeof(double), cmp);
		printf("%s%.0f", c ? " " : "", n % 2 ? us[c][n / 2] :
		    (us[c][n / 2 - 1] + us[c][n / 2]) / 2);
	}
	putchar('\n');
	return 0;
}
