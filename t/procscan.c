/* procscan: for t/leakscan.py, records the argv and environment of
 * every fa process it sees (comm "fa-*") in LOG, until process PID (the
 * test) is gone. As root it hears of each exec(2) from the kernel's
 * process connector and reads the new process at once, then looks at
 * the fa processes it knows every three milliseconds or so, and all of
 * /proc every tenth of a second; a scan of all of /proc every three
 * milliseconds took a fifth of a CPU for each test running. Elsewhere,
 * or when the kernel drops events, it scans /proc. */
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
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
#define LIVE	4096

static char buf[1 << 20];
static FILE *log;
static pid_t live[LIVE];		/* fa processes seen, maybe gone */
static size_t nlive;

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

/* Records process PID's argv and environment if it is an fa process and
 * they are new; 1 if it is one. */
static int
record(const char *pid)
{
	static const char *what[] = { "cmdline", "environ" };
	ssize_t n;
	uint64_t h;
	size_t i, k;

	if (slurp(pid, "comm", buf, 16) < 3 || strncmp(buf, "fa-", 3) != 0)
		return 0;
	for (k = 0; k < 2; k++) {
		if ((n = slurp(pid, what[k], buf, sizeof(buf))) <= 0)
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
		fprintf(log, "%s %s %zd\n", pid, what[k], n);
		fwrite(buf, 1, (size_t)n, log);
		fputc('\n', log);
		fflush(log);
	}
	return 1;
}

static void
addlive(pid_t pid)
{
	size_t i;

	for (i = 0; i < nlive; i++)
		if (live[i] == pid)
			return;
	if (nlive < LIVE)
		live[nlive++] = pid;
}

/* Every process in /proc. */
static void
scanall(void)
{
	struct dirent *d;
	DIR *p;

	if ((p = opendir("/proc")) == NULL)
		err(1, "/proc");
	while ((d = readdir(p)) != NULL)
		if (d->d_name[0] >= '1' && d->d_name[0] <= '9' &&
		    record(d->d_name))
			addlive(atoi(d->d_name));
	closedir(p);
}

/* The fa processes seen before: their argv may change; the gone go. */
static void
scanlive(void)
{
	char pid[16];
	size_t i;

	for (i = 0; i < nlive;) {
		snprintf(pid, sizeof(pid), "%d", (int)live[i]);
		if (record(pid))
			i++;
		else
			live[i] = live[--nlive];
	}
}

/* The process connector, subscribed; -1 if we may not (not root). */
static int
connector(void)
{
	enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
	struct sockaddr_nl sa;
	union {
		struct nlmsghdr	nl;
		char		b[NLMSG_SPACE(sizeof(struct cn_msg) +
				    sizeof(op))];
	} m;
	struct cn_msg *cn = NLMSG_DATA(&m.nl);
	int s;

	if ((s = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	    NETLINK_CONNECTOR)) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = CN_IDX_PROC;
	memset(&m, 0, sizeof(m));
	m.nl.nlmsg_len = NLMSG_LENGTH(sizeof(*cn) + sizeof(op));
	m.nl.nlmsg_type = NLMSG_DONE;
	m.nl.nlmsg_pid = (unsigned)getpid();
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	cn->len = sizeof(op);
	memcpy(cn->data, &op, sizeof(op));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    send(s, &m, m.nl.nlmsg_len, 0) == -1) {
		close(s);
		return -1;
	}
	return s;
}

static long
msnow(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

int
main(int argc, char *argv[])
{
	static char ev[1 << 16];
	struct timespec ms = { 0, 3000000 };
	struct nlmsghdr *h;
	struct proc_event pe;
	struct cn_msg *cn;
	struct pollfd pfd;
	char pid[16];
	ssize_t n;
	pid_t test;
	long last = 0, full;

	if (argc != 3 || (test = atoi(argv[2])) <= 0)
		errx(64, "usage: procscan log pid");
	if ((log = fopen(argv[1], "a")) == NULL)
		err(1, "%s", argv[1]);
	if ((pfd.fd = connector()) == -1) {
		while (kill(test, 0) == 0) {
			scanall();
			nanosleep(&ms, NULL);
		}
		return 0;
	}
	pfd.events = POLLIN;
	scanall();		/* what ran before we listened */
	full = msnow();
	while (kill(test, 0) == 0) {
		(void)poll(&pfd, 1, 3);
		while ((n = recv(pfd.fd, ev, sizeof(ev), MSG_DONTWAIT)) > 0)
			for (h = (struct nlmsghdr *)ev; NLMSG_OK(h, n);
			    h = NLMSG_NEXT(h, n)) {
				cn = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*cn)) ||
				    h->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) +
				    cn->len))
					continue;
				/* 4-aligned in the message: copied. */
				memset(&pe, 0, sizeof(pe));
				memcpy(&pe, cn->data, cn->len < sizeof(pe) ?
				    cn->len : sizeof(pe));
				if (pe.what != PROC_EVENT_EXEC)
					continue;
				snprintf(pid, sizeof(pid), "%d",
				    (int)pe.event_data.exec.process_tgid);
				if (record(pid))
					addlive(pe.event_data.exec.process_tgid);
			}
		/* Events lost; or none coming (a kernel that ignores us
		 * in a container), and a fork without exec: all of /proc
		 * now and then. */
		if ((n == -1 && errno == ENOBUFS) || msnow() - full >= 100) {
			scanall();
			full = msnow();
		}
		if (msnow() - last >= 3) {
			scanlive();
			last = msnow();
		}
	}
	return 0;
}
