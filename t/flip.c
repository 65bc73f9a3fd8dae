/*
 * t/flip.so: LD_PRELOAD into a keeper of a replication group, it flips
 * the last byte (the tag's) of every sealed message ("FA" 1 ...) the
 * keeper sends to another site as a buffer of its own, as a network
 * might. Each flip is counted in the file FA_FLIPLOG names. Only
 * writev(2) and sendmsg(2) are looked at: repmgr sends with them.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/uio.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
flip(const struct iovec *iov, int n)
{
	const char *log;
	int i, fd;

	for (i = 0; i < n; i++) {
		unsigned char *p = iov[i].iov_base;

		if (iov[i].iov_len < 3 + 8 + 12 + 16 || p[0] != 'F' ||
		    p[1] != 'A' || p[2] != 1)
			continue;
		p[iov[i].iov_len - 1] ^= 0x01;
		if ((log = getenv("FA_FLIPLOG")) != NULL &&
		    (fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600)) != -1) {
			(void)!write(fd, "flip\n", 5);
			close(fd);
		}
	}
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	static ssize_t (*next)(int, const struct iovec *, int);

	if (next == NULL)
		*(void **)&next = dlsym(RTLD_NEXT, "writev");
	flip(iov, n);
	return next(fd, iov, n);
}

ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
	static ssize_t (*next)(int, const struct msghdr *, int);

	if (next == NULL)
		*(void **)&next = dlsym(RTLD_NEXT, "sendmsg");
	flip(m->msg_iov, (int)m->msg_iovlen);
	return next(fd, m, flags);
}
