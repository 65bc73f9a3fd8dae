/*
 * t/scfault.so: LD_PRELOAD into a keeper, it counts the keeper's calls of
 * the write path's system calls, across all its threads, and makes one
 * of them fail: the k-th call of one of them, once. t/0810 drives a
 * script of writes through the keeper with each call failed in turn.
 *
 *   FA_SCFAULT=NAME:K:ERRNO    fail the K-th call of NAME (write,
 *                              pwrite64, fdatasync, fsync, openat,
 *                              rename, ftruncate, mmap) with ERRNO (a
 *                              number); unset: only count. Several,
 *                              separated by commas, fail several calls
 *                              ("pwrite64:5:28,write:1004:28": a log
 *                              write, and the write Berkeley DB tries
 *                              after it).
 *   FA_SCFAULT_COUNTS=FILE     the counts, one uint32 a call in the
 *                              order above, kept in FILE (made if need
 *                              be, never emptied: each process that
 *                              loads the shim, a fork(2) or the
 *                              sanitizers' symbolizer, adds to them)
 *                              as they go
 *   FA_SCFAULT_LOG=FILE        the call failed, appended as one line:
 *                              its name and k, pid, thread, the time
 *                              (ns since the epoch), its file, errno
 *
 * All three are read when the shim is loaded. Counting starts then: the
 * keeper's start (recovery, the zero-filled regions) counts as much as
 * the requests it serves.
 *
 * A call is one of the libc functions that make the system call: write;
 * pwrite, pwrite64; fdatasync; fsync; open, openat, creat, their 64 and
 * _2 (fortified) forms, fopen and opendir; rename, renameat, renameat2;
 * ftruncate; mmap. Berkeley DB, libsodium and fa call these through the
 * PLT, so the shim sees every call they make. It cannot see those libc
 * makes within itself: malloc's and pthread_create's mmap(2), the
 * openat(2) of NSS lookups. Never built with the sanitizers, whose
 * runtime must come first.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { WRITE, PWRITE, FDATASYNC, FSYNC, OPENAT, RENAME, FTRUNCATE, MMAP,
	NCALL };
static const char *const names[NCALL] = { "write", "pwrite64",
	"fdatasync", "fsync", "openat", "rename", "ftruncate", "mmap" };

static uint32_t own[NCALL];	/* until (or unless) the file is mapped */
static uint32_t *counts = own;
#define NFAULT	8
static struct { int call, err; uint32_t k; } faults[NFAULT];
static int nfault;
static const char *logpath;
static int ready;

/* Raw system calls: the shim's own I/O is neither counted nor failed.
 * Every argument of syscall(2) a long: an int passed on the stack (the
 * offset of mmap, its seventh) leaves the slot's upper half undefined. */
static void
setup(void)
{
	const char *s, *f;
	char *end;
	void *p;
	int i, fd;

	if (ready)
		return;
	ready = 1;
	for (s = getenv("FA_SCFAULT"); s != NULL && *s != '\0' &&
	    nfault < NFAULT; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL) {
		for (i = 0; i < NCALL; i++)
			if (strncmp(s, names[i], strlen(names[i])) == 0 &&
			    s[strlen(names[i])] == ':')
				break;
		if (i == NCALL)
			continue;
		faults[nfault].k = (uint32_t)strtoul(s + strlen(names[i]) + 1,
		    &end, 10);
		if (*end != ':' || faults[nfault].k == 0)
			continue;
		faults[nfault].err = (int)strtol(end + 1, NULL, 10);
		faults[nfault++].call = i;
	}
	logpath = getenv("FA_SCFAULT_LOG");
	if ((f = getenv("FA_SCFAULT_COUNTS")) != NULL &&
	    (fd = (int)syscall(SYS_openat, (long)AT_FDCWD, f,
	    (long)(O_RDWR | O_CREAT | O_CLOEXEC), 0600L)) >= 0) {
		if (syscall(SYS_ftruncate, (long)fd, (long)sizeof(own)) == 0 &&
		    (p = (void *)syscall(SYS_mmap, 0L, (long)sizeof(own),
		    (long)(PROT_READ | PROT_WRITE), (long)MAP_SHARED, (long)fd,
		    0L)) != MAP_FAILED)
			counts = p;
		syscall(SYS_close, (long)fd);
	}
}

__attribute__((constructor)) static void
init(void)
{
	setup();
}

static void
logfault(int c, uint32_t k, int err, const char *what, int fd)
{
	char path[64], where[256], line[512];
	struct timespec ts;
	ssize_t n;
	int lfd, len;

	if (logpath == NULL)
		return;
	where[0] = '\0';
	if (what == NULL && fd >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if ((n = syscall(SYS_readlink, path, where,
		    (long)sizeof(where) - 1)) > 0)
			where[n] = '\0';
		what = where;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	len = snprintf(line, sizeof(line), "%s #%u pid %ld tid %ld at %ld%09ld: "
	    "%s: %s\n", names[c], k, (long)getpid(), (long)syscall(SYS_gettid),
	    (long)ts.tv_sec, ts.tv_nsec, what != NULL && *what ? what : "-",
	    strerrorname_np(err) ? strerrorname_np(err) : "?");
	if ((lfd = (int)syscall(SYS_openat, (long)AT_FDCWD, logpath,
	    (long)(O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC), 0600L)) >= 0) {
		(void)!syscall(SYS_write, (long)lfd, line, (long)len);
		syscall(SYS_close, (long)lfd);
	}
}

/* Counts the call; 1: fail it (errno is set). */
static int
fault(int c, const char *what, int fd)
{
	uint32_t k;
	int i;

	setup();
	k = __atomic_add_fetch(&counts[c], 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < nfault; i++)
		if (faults[i].call == c && faults[i].k == k) {
			logfault(c, k, faults[i].err, what, fd);
			errno = faults[i].err;
			return 1;
		}
	return 0;
}

#define NEXT(type, name, args) \
	static type (*next) args; \
	if (next == NULL) \
		*(void **)&next = dlsym(RTLD_NEXT, name)

ssize_t
write(int fd, const void *buf, size_t len)
{
	NEXT(ssize_t, "write", (int, const void *, size_t));
	return fault(WRITE, NULL, fd) ? -1 : next(fd, buf, len);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	NEXT(ssize_t, "pwrite", (int, const void *, size_t, off_t));
	return fault(PWRITE, NULL, fd) ? -1 : next(fd, buf, len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	NEXT(ssize_t, "pwrite64", (int, const void *, size_t, off64_t));
	return fault(PWRITE, NULL, fd) ? -1 : next(fd, buf, len, off);
}

int
fdatasync(int fd)
{
	NEXT(int, "fdatasync", (int));
	return fault(FDATASYNC, NULL, fd) ? -1 : next(fd);
}

int
fsync(int fd)
{
	NEXT(int, "fsync", (int));
	return fault(FSYNC, NULL, fd) ? -1 : next(fd);
}

/* The mode is there when O_CREAT or O_TMPFILE asks for it. */
#define MODE(flags, last) \
	mode_t mode = 0; \
	if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE) { \
		va_list ap; \
		va_start(ap, last); \
		mode = (mode_t)va_arg(ap, int); \
		va_end(ap); \
	}

int
open(const char *path, int flags, ...)
{
	NEXT(int, "open", (const char *, int, ...));
	MODE(flags, flags);
	return fault(OPENAT, path, -1) ? -1 : next(path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	NEXT(int, "open64", (const char *, int, ...));
	MODE(flags, flags);
	return fault(OPENAT, path, -1) ? -1 : next(path, flags, mode);
}

int
openat(int dfd, const char *path, int flags, ...)
{
	NEXT(int, "openat", (int, const char *, int, ...));
	MODE(flags, flags);
	return fault(OPENAT, path, -1) ? -1 : next(dfd, path, flags, mode);
}

int
openat64(int dfd, const char *path, int flags, ...)
{
	NEXT(int, "openat64", (int, const char *, int, ...));
	MODE(flags, flags);
	return fault(OPENAT, path, -1) ? -1 : next(dfd, path, flags, mode);
}

int
__open_2(const char *path, int flags)
{
	NEXT(int, "__open_2", (const char *, int));
	return fault(OPENAT, path, -1) ? -1 : next(path, flags);
}

int
__open64_2(const char *path, int flags)
{
	NEXT(int, "__open64_2", (const char *, int));
	return fault(OPENAT, path, -1) ? -1 : next(path, flags);
}

int
__openat_2(int dfd, const char *path, int flags)
{
	NEXT(int, "__openat_2", (int, const char *, int));
	return fault(OPENAT, path, -1) ? -1 : next(dfd, path, flags);
}

int
__openat64_2(int dfd, const char *path, int flags)
{
	NEXT(int, "__openat64_2", (int, const char *, int));
	return fault(OPENAT, path, -1) ? -1 : next(dfd, path, flags);
}

int
creat(const char *path, mode_t mode)
{
	NEXT(int, "creat", (const char *, mode_t));
	return fault(OPENAT, path, -1) ? -1 : next(path, mode);
}

int
creat64(const char *path, mode_t mode)
{
	NEXT(int, "creat64", (const char *, mode_t));
	return fault(OPENAT, path, -1) ? -1 : next(path, mode);
}

FILE *
fopen(const char *path, const char *how)
{
	NEXT(FILE *, "fopen", (const char *, const char *));
	return fault(OPENAT, path, -1) ? NULL : next(path, how);
}

FILE *
fopen64(const char *path, const char *how)
{
	NEXT(FILE *, "fopen64", (const char *, const char *));
	return fault(OPENAT, path, -1) ? NULL : next(path, how);
}

DIR *
opendir(const char *path)
{
	NEXT(DIR *, "opendir", (const char *));
	return fault(OPENAT, path, -1) ? NULL : next(path);
}

int
rename(const char *from, const char *to)
{
	NEXT(int, "rename", (const char *, const char *));
	return fault(RENAME, from, -1) ? -1 : next(from, to);
}

int
renameat(int fd1, const char *from, int fd2, const char *to)
{
	NEXT(int, "renameat", (int, const char *, int, const char *));
	return fault(RENAME, from, -1) ? -1 : next(fd1, from, fd2, to);
}

int
renameat2(int fd1, const char *from, int fd2, const char *to, unsigned fl)
{
	NEXT(int, "renameat2", (int, const char *, int, const char *,
	    unsigned));
	return fault(RENAME, from, -1) ? -1 : next(fd1, from, fd2, to, fl);
}

int
ftruncate(int fd, off_t len)
{
	NEXT(int, "ftruncate", (int, off_t));
	return fault(FTRUNCATE, NULL, fd) ? -1 : next(fd, len);
}

int
ftruncate64(int fd, off64_t len)
{
	NEXT(int, "ftruncate64", (int, off64_t));
	return fault(FTRUNCATE, NULL, fd) ? -1 : next(fd, len);
}

void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	NEXT(void *, "mmap", (void *, size_t, int, int, int, off_t));
	return fault(MMAP, NULL, fd) ? MAP_FAILED :
	    next(addr, len, prot, flags, fd, off);
}

void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	NEXT(void *, "mmap64", (void *, size_t, int, int, int, off64_t));
	return fault(MMAP, NULL, fd) ? MAP_FAILED :
	    next(addr, len, prot, flags, fd, off);
}
