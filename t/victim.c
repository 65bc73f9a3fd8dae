/* victim: test helper. Runs a command n times, each killed with
 * SIGKILL at a random moment in its first maxus microseconds (stdin
 * from file or /dev/null, stdout and stderr to /dev/null), and prints
 * how many of the kills landed: runs that SIGKILL ended, not ones that
 * were over first.
 *   victim [-i file] n maxus command [arg ...] */
#include <sys/wait.h>

#include <err.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	const char *in = "/dev/null";
	struct timespec ts;
	long n, maxus, i, landed = 0, us;
	pid_t pid;
	int ch, st, fd;

	while ((ch = getopt(argc, argv, "+i:")) != -1) {
		if (ch != 'i')
			errx(64, "usage: victim [-i file] n maxus command ...");
		in = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || (n = atol(argv[0])) <= 0 || (maxus = atol(argv[1])) <= 0)
		errx(64, "usage: victim [-i file] n maxus command ...");
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	for (i = 0; i < n; i++) {
		if ((pid = fork()) == -1)
			err(1, "fork");
		if (pid == 0) {
			if ((fd = open(in, O_RDONLY)) == -1 ||
			    (dup2(fd, 0), (fd = open("/dev/null", O_WRONLY)))
			    == -1)
				_exit(127);
			dup2(fd, 1);
			dup2(fd, 2);
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		us = random() % maxus;
		ts.tv_sec = us / 1000000;
		ts.tv_nsec = us % 1000000 * 1000;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		if (waitpid(pid, &st, 0) == -1)
			err(1, "waitpid");
		landed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	}
	printf("%ld\n", landed);
	return 0;
}
