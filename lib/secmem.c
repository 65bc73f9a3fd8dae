#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "diag.h"
#include "secmem.h"

/* jansson holds token strings while we parse and build bundles; make
 * every block it frees zeroed first. The size lives in a header. */
static void *
wipe_malloc(size_t n)
{
	size_t *p;

	if (n > SIZE_MAX - sizeof(max_align_t))
		return NULL;
	if ((p = malloc(sizeof(max_align_t) + n)) == NULL)
		return NULL;
	*p = n;
	return (char *)p + sizeof(max_align_t);
}

static void
wipe_free(void *q)
{
	size_t *p;

	if (q == NULL)
		return;
	p = (size_t *)((char *)q - sizeof(max_align_t));
	sodium_memzero(q, *p);
	free(p);
}

void
fa_jsonfree(void *p)
{
	wipe_free(p);
}

int
fa_secure_init(void)
{
	static char errbuf[BUFSIZ];
	struct rlimit rl = { 0, 0 };
	int fd;

	/* Make sure fds 0-2 are open: else the vault's files would get
	 * those numbers, and a token printed to "stdout" would land in one. */
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	/* A line a write: processes side by side (the sweeps, fa-prefetch
	 * --stale's children) share one stderr, and cron mails it. */
	setvbuf(stderr, errbuf, _IOLBF, sizeof(errbuf));
	if (sodium_init() < 0)
		return fa_seterr(1, "libsodium failed to initialise");
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		return fa_seterr(1, "cannot disable core dumps: %s",
		    strerror(errno));
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	/* jansson would open /dev/urandom for its hash seed: three system
	 * calls on the fresh-token path; libsodium has one ready. */
	json_object_seed(randombytes_random() | 1);
	return 0;
}

/* Small secrets share one sodium_malloc block (guard pages round it,
 * locked, kept out of core dumps), made at the first: a block each
 * costs ten system calls, on the fresh-token path too.
 * A freed piece is wiped at once; its space comes back when the pieces
 * above it are free too. Larger secrets, or more, get a block each, as
 * does every secret in a sanitizer build: there a block's guard page is
 * what catches an overflow. The keeper's threads share it: a lock. */
#if defined(__SANITIZE_ADDRESS__)
#define NOPOOL
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOPOOL
#endif
#endif
#define POOL	16384
#define PIECES	32
static unsigned char *pool;
static size_t pooltop, npieces;
static struct {
	size_t	off, n;
	int	used;
} piece[PIECES];
static pthread_mutex_t poollock = PTHREAD_MUTEX_INITIALIZER;

void *
fa_secalloc(size_t n)
{
	size_t a = (n + 15) & ~(size_t)15;
	void *p;

#ifndef NOPOOL
	pthread_mutex_lock(&poollock);
	if (pool == NULL)
		pool = sodium_malloc(POOL);
	if (pool != NULL && n > 0 && n <= POOL && a <= POOL - pooltop &&
	    npieces < PIECES) {
		piece[npieces].off = pooltop;
		piece[npieces].n = a;
		piece[npieces++].used = 1;
		p = pool + pooltop;
		pooltop += a;
		memset(p, 0, a);
		pthread_mutex_unlock(&poollock);
		return p;
	}
	pthread_mutex_unlock(&poollock);
#endif
	(void)a;
	if ((p = sodium_malloc(n)) != NULL)
		memset(p, 0, n);
	return p;
}

void
fa_secfree(void *p)
{
	size_t i;

	if (p == NULL)
		return;
	if (pool == NULL || (unsigned char *)p < pool ||
	    (unsigned char *)p >= pool + POOL) {
		sodium_free(p);
		return;
	}
	pthread_mutex_lock(&poollock);
	for (i = npieces; i > 0 && pool + piece[i - 1].off != p; i--)
		;
	if (i == 0 || !piece[i - 1].used)
		abort();	/* not a piece we gave out: a bug */
	sodium_memzero(p, piece[i - 1].n);
	piece[i - 1].used = 0;
	while (npieces > 0 && !piece[npieces - 1].used)
		pooltop = piece[--npieces].off;
	pthread_mutex_unlock(&poollock);
}

/* Opens a secret file and checks it: a regular file (O_NONBLOCK: a
 * FIFO planted there must not hang us), not a symlink, ours, readable
 * by nobody else, in a directory that only we or root can change
 * (or a sticky one). Returns the fd, or -1 with the error set (status
 * 78: the fix is the operator's). */
static int
opensecret(const char *path, const char *what, struct stat *st)
{
	char dir[PATH_MAX], *slash;
	struct stat ds;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return fa_seterr(EX_CONFIG, "%s %s is missing%s", what,
			    path, strcmp(what, "key file") == 0 ?
			    "; create one with: fa-vault keygen FILE" : "");
		return fa_seterr(fa_errnost(errno), "%s %s: %s", what, path,
		    strerror(errno));
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		close(fd);
		return fa_seterr(EX_CONFIG, "%s %s is not a regular file",
		    what, path);
	}
	if (st->st_uid != geteuid()) {
		close(fd);
		return fa_seterr(EX_CONFIG, "%s %s belongs to uid %ld, not to "
		    "this user (uid %ld); fix it with: chown %ld %s", what,
		    path, (long)st->st_uid, (long)geteuid(), (long)geteuid(),
		    path);
	}
	if (st->st_mode & 077) {
		close(fd);
		return fa_seterr(EX_CONFIG, "%s %s is readable by others "
		    "(mode %04o); fix it with: chmod 600 %s", what, path,
		    (unsigned)(st->st_mode & 07777), path);
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else
		slash[slash == dir] = '\0';
	if (stat(dir, &ds) == -1 || (ds.st_uid != 0 &&
	    ds.st_uid != geteuid()) || ((ds.st_mode & 022) &&
	    !(ds.st_mode & S_ISVTX))) {
		close(fd);
		return fa_seterr(EX_CONFIG, "%s %s is in %s, which another user "
		    "can change; keep it in a directory only root or its "
		    "owner can write", what, path, dir);
	}
	return fd;
}

int
fa_readkey(const char *path, unsigned char key[FA_KEYLEN])
{
	struct stat st;
	unsigned char extra;
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = opensecret(path, "key file", &st)) == -1)
		return -1;
	if (st.st_size != FA_KEYLEN)
		goto badsize;
	while (got < FA_KEYLEN) {
		n = read(fd, key + got, FA_KEYLEN - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			sodium_memzero(key, FA_KEYLEN);
			close(fd);
			return fa_seterr(fa_errnost(errno), "key file %s: %s",
			    path, strerror(errno));
		}
		if (n == 0)
			goto badsize;
		got += n;
	}
	if (read(fd, &extra, 1) != 0)
		goto badsize;
	close(fd);
	return 0;
badsize:
	sodium_memzero(key, FA_KEYLEN);
	close(fd);
	return fa_seterr(EX_CONFIG, "key file %s is not %d bytes; create a "
	    "new one with: fa-vault keygen FILE", path, FA_KEYLEN);
}

int
fa_writekey(const char *path)
{
	unsigned char key[FA_KEYLEN];
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0400);
	if (fd == -1)
		return fa_seterr(1,
		    "%s: %s", path, strerror(errno));
	randombytes_buf(key, sizeof(key));
	n = write(fd, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	if (n != (ssize_t)sizeof(key) || fsync(fd) == -1 || close(fd) == -1) {
		unlink(path);
		return fa_seterr(1, "%s: write failed", path);
	}
	return 0;
}

char *
fa_readsecret(const char *path)
{
	struct stat st;
	char *s;
	ssize_t n;
	size_t len = 0, cap = 4096;
	int fd;

	if ((fd = opensecret(path, "secret file", &st)) == -1)
		return NULL;
	if ((s = fa_secalloc(cap + 1)) == NULL) {
		close(fd);
		fa_seterr(1, "out of secure memory");
		return NULL;
	}
	while ((n = read(fd, s + len, cap - len)) > 0)
		len += n;
	close(fd);
	if (n == -1 || len == cap) {
		fa_secfree(s);
		fa_seterr(EX_CONFIG, "secret file %s: %s", path,
		    n == -1 ? strerror(errno) : "too long");
		return NULL;
	}
	/* FreeAgent refuses secrets with trailing whitespace: drop one
	 * newline (editors add it), keep anything else to fail loudly. */
	if (len > 0 && s[len - 1] == '\n')
		len--;
	s[len] = '\0';
	if (len == 0 || strcspn(s, " \t\r\n") != len) {
		fa_secfree(s);
		fa_seterr(EX_CONFIG, "secret file %s is empty or holds "
		    "whitespace", path);
		return NULL;
	}
	return s;
}

int
fa_syncdir(const char *file)
{
	char dir[PATH_MAX], *slash;
	int fd, r = 0;

	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1)
		r = fa_seterr(1, "%s: %s", dir, strerror(errno));
	if (fd != -1)
		close(fd);
	return r;
}
