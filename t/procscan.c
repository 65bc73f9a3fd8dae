/* procscan: for t/leakscan.py, records the argv and environment of
 * every fa process it sees (comm "fa-*") in LOG, polling /proc every
 * three milliseconds or so, until process PID (the test) is gone. */
#include <dirent.h>
#include <err.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEEN	8192

static uint64_t seen[SEEN];
static size_t nseen;

/* Reads /proc/PID/NAME whole (bounded); its length, or -1. */
static ssize_t
slurp(const char *pid, const char *name, char *buf, size_t sz)
{
	char path[64];
	ssize_t n, len = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/%s", pid, name);
	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	while ((size_t)len < sz && (n = read(fd, buf + len, sz - len)) > 0)
		len += n;
	close(fd);
	return len;
}

/* FNV-1a: only to write each distinct record once. */
static uint64_t
hash(const char *s, size_t n, uint64_t h)
{
	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

int
main(int argc, char *argv[])
{
	static char buf[1 << 20];
	struct timespec ms = { 0, 3000000 };
	const char *what[] = { "cmdline", "environ" };
	struct dirent *d;
	pid_t test;
	FILE *log;
	DIR *p;
	ssize_t n;
	uint64_t h;
	size_t i, k;

	if (argc != 3 || (test = atoi(argv[2])) <= 0)
		errx(64, "usage: procscan log pid");
	if ((log = fopen(argv[1], "a")) == NULL)
		err(1, "%s", argv[1]);
	while (kill(test, 0) == 0) {
		if ((p = opendir("/proc")) == NULL)
			err(1, "/proc");
		while ((d = readdir(p)) != NULL) {
			if (d->d_name[0] < '1' || d->d_name[0] > '9' ||
			    slurp(d->d_name, "comm", buf, 16) < 3 ||
			    strncmp(buf, "fa-", 3) != 0)
				continue;
			for (k = 0; k < 2; k++) {
				if ((n = slurp(d->d_name, what[k], buf,
				    sizeof(buf))) <= 0)
					continue;
				h = hash(buf, (size_t)n, 14695981039346656037ULL);
				for (i = h % SEEN; seen[i] != 0 && seen[i] != h;
				    i = (i + 1) % SEEN)
					;
				if (seen[i] == h)
					continue;
				if (++nseen > SEEN / 2) {	/* forget, rewrite */
					memset(seen, 0, sizeof(seen));
					nseen = 1;
					i = h % SEEN;
				}
				seen[i] = h;
				fprintf(log, "%s %s %zd\n", d->d_name, what[k], n);
				fwrite(buf, 1, (size_t)n, log);
				fputc('\n', log);
				fflush(log);
			}
		}
		closedir(p);
		nanosleep(&ms, NULL);
	}
	return 0;
}
