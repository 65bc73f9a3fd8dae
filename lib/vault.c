#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "diag.h"
#include "secmem.h"
#include "vault.h"

#define THREADS		1024	/* processes in the environment at once */

static char dberr[256];
static char recfail[256];	/* why a recovery failed: for good */
static char stuckmsg[256];

/* A process killed inside a Berkeley DB critical section leaves its
 * mutexes held; processes blocked on them would wait forever. Bound the
 * wait: exit 75 (retry later), which is as safe as being killed, and
 * lets the next opener's failchk or recovery clean up. */
static void
stuck(int sig)
{
	(void)sig;
	(void)!write(2, stuckmsg, strlen(stuckmsg));
	_exit(75);
}

/* A command that dies (errx, fa_die) after opening the vault still
 * leaves it: else its registry slot makes the next opener run recovery,
 * and every process in the vault start over. Not from inside a
 * transaction: those locks must go as a dead process's do. */
static struct fa_vault *opened;
static int intxn, atexitset;

static void
closeatexit(void)
{
	if (opened != NULL && !intxn)
		fa_vault_close(opened);
}

static void
msgcall(const DB_ENV *e, const char *msg)
{
	(void)e;
	(void)msg;	/* failchk's chatter: not for cron mail */
}

static void
errcall(const DB_ENV *e, const char *pfx, const char *msg)
{
	(void)e;
	(void)pfx;
	snprintf(dberr, sizeof(dberr), "%s", msg);
	if (strstr(msg, "BDB1520") != NULL)	/* a record failed to replay */
		snprintf(recfail, sizeof(recfail), "%s", msg);
}

/* failchk asks whether the owner of a slot still lives. A zombie does
 * not: kill(2) succeeds on it, but it will never release anything. */
static int
isalive(DB_ENV *e, pid_t pid, db_threadid_t tid, uint32_t flags)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	(void)e;
	(void)tid;
	(void)flags;
	if (kill(pid, 0) == -1 && errno != EPERM)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* pid (comm) S ...: the state follows the last ')'. */
	if ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
	    (p[2] == 'Z' || p[2] == 'X'))
		return 0;
	return 1;
}

/* Berkeley DB asks for it hundreds of times an open; taken once an open
 * (a handle never crosses a fork). */
static pid_t mypid;

static void
threadid(DB_ENV *e, pid_t *pid, db_threadid_t *tid)
{
	(void)e;
	*pid = mypid;
	if (tid != NULL)
		*tid = pthread_self();
}

static int lastdb;	/* the Berkeley DB error behind the last failure */

static int
dbfail(int r, const char *what)
{
	lastdb = r;
	if (r == EAGAIN)
		return fa_seterr(75, "vault: %s: environment not joinable (%s)",
		    what, dberr);
	if (r == DB_RUNRECOVERY)
		return fa_seterr(75, "vault: %s: needs recovery (%s)", what,
		    dberr);
	return fa_seterr(1, "vault: %s: %s%s%s", what, db_strerror(r),
	    dberr[0] ? ": " : "", dberr);
}

int64_t
fa_now(void)
{
	return (int64_t)time(NULL);
}

const char *
fa_binding_endpoint(const struct fa_conf *c, json_t *b, json_t *t)
{
	const char *e;

	if ((e = json_string_value(json_object_get(b, "endpoint"))) != NULL)
		return e;
	if (t != NULL &&
	    (e = json_string_value(json_object_get(t, "endpoint"))) != NULL)
		return e;
	return c->default_endpoint;
}

/* The sweep finds a binding when its access token expires or, for an
 * idle binding, a day before its refresh token does. */
int64_t
fa_due_at(int64_t exp, int64_t rexp)
{
	return rexp - 86400 < exp ? rexp - 86400 : exp;
}

static void
be64put(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t
be64get(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void
fa_tokhdr_encode(unsigned char *p, const struct fa_tokhdr *h)
{
	be64put(p, h->version);
	be64put(p + 8, (uint64_t)h->expires_at);
	be64put(p + 16, (uint64_t)h->refresh_expires_at);
	/* Offset so that the index orders negative times correctly. */
	be64put(p + 24, (uint64_t)h->due_at ^ (1ULL << 63));
}

void
fa_tokhdr_decode(const unsigned char *p, struct fa_tokhdr *h)
{
	h->version = be64get(p);
	h->expires_at = (int64_t)be64get(p + 8);
	h->refresh_expires_at = (int64_t)be64get(p + 16);
	h->due_at = (int64_t)(be64get(p + 24) ^ (1ULL << 63));
}

static int
due_key(DB *s, const DBT *k, const DBT *d, DBT *out)
{
	(void)s;
	(void)k;
	if (d->size < FA_TOKHDRLEN)
		return DB_DONOTINDEX;
	/* Never due (needs_reconnect): out of the index altogether. */
	if (memcmp((char *)d->data + 24, "\xff\xff\xff\xff\xff\xff\xff\xff",
	    8) == 0)
		return DB_DONOTINDEX;
	memset(out, 0, sizeof(*out));
	out->data = (char *)d->data + 24;
	out->size = 8;
	return 0;
}

/* Secondary keys taken from a string member of a JSON record. */
static int
json_key(const DBT *d, const char *member, DBT *out)
{
	json_t *j, *m;
	char *s = NULL;

	if ((j = json_loadb(d->data, d->size, 0, NULL)) == NULL)
		return DB_DONOTINDEX;
	if ((m = json_object_get(j, member)) != NULL && json_is_string(m))
		s = strdup(json_string_value(m));
	json_decref(j);
	if (s == NULL)
		return DB_DONOTINDEX;
	memset(out, 0, sizeof(*out));
	out->data = s;
	out->size = strlen(s);
	out->flags = DB_DBT_APPMALLOC;
	return 0;
}

static int
tenant_key(DB *s, const DBT *k, const DBT *d, DBT *out)
{
	(void)s;
	(void)k;
	return json_key(d, "tenant", out);
}

static int
binding_key(DB *s, const DBT *k, const DBT *d, DBT *out)
{
	(void)s;
	(void)k;
	return json_key(d, "binding", out);
}

/* auditidx duplicates are recnos: order them as numbers, not bytes. */
static int
recno_cmp(DB *db, const DBT *a, const DBT *b)
{
	db_recno_t x, y;

	(void)db;
	memcpy(&x, a->data, sizeof(x));
	memcpy(&y, b->data, sizeof(y));
	return x < y ? -1 : x > y;
}

static const struct dbdesc {
	const char	*file;
	size_t		 off;
	DBTYPE		 type;
	int		 dup;
	size_t		 primary;
	int		(*key)(DB *, const DBT *, const DBT *, DBT *);
	int		 tokens;	/* opened with FA_VAULT_TOKENS */
} dbs[] = {
#define O(f) offsetof(struct fa_vault, f)
	{ "meta.db",	O(meta),	DB_BTREE, 0, 0, NULL, 1 },
	{ "tenants.db",	O(tenants),	DB_BTREE, 0, 0, NULL, 0 },
	{ "bindings.db", O(bindings),	DB_BTREE, 0, 0, NULL, 1 },
	{ "bytenant.db", O(bytenant),	DB_BTREE, 1, O(bindings), tenant_key, 1 },
	{ "tokens.db",	O(tokens),	DB_BTREE, 0, 0, NULL, 1 },
	{ "due.db",	O(due),		DB_BTREE, 1, O(tokens), due_key, 1 },
	{ "states.db",	O(states),	DB_BTREE, 0, 0, NULL, 0 },
	{ "cache.db",	O(cache),	DB_BTREE, 0, 0, NULL, 0 },
	{ "audit.db",	O(audit),	DB_RECNO, 0, 0, NULL, 1 },
	{ "auditidx.db", O(auditidx),	DB_BTREE, 1, O(audit), binding_key, 1 },
#undef O
};
#define NDBS (sizeof(dbs) / sizeof(dbs[0]))
#define DBP(v, off) ((DB **)((char *)(v) + (off)))

/* Berkeley DB's registry races: an opener reads a slot's pid, then
 * tries the slot's lock to see whether its owner lives. A process that
 * leaves between the two (empties its slot, drops its lock) looks dead,
 * and the opener recovers the environment under every live process:
 * `fa-vault ls` in 4 loops of 200 changed the environment's ID 3 rounds
 * of 5, and in t/0060 a writer's commit came back 75. So leave holding
 * the lock openers read under (byte 1 of the registry); Berkeley DB's
 * close of the registry releases it with the slot's (a process's fcntl
 * locks on a file go with any of its descriptors). */
static int
regexcl(const char *dir)
{
	char path[PATH_MAX];
	struct flock fl;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/__db.register", dir) >=
	    sizeof(path) || (fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 1;
	fl.l_len = 1;
	while (fcntl(fd, F_SETLKW, &fl) == -1 && errno == EINTR)
		;
	return fd;
}

static void
closedbs(struct fa_vault *v)
{
	size_t i;
	DB **p;
	int fd;

	alarm(v->conf->vault_timeout + 2);
	/* Secondaries before their primaries. */
	for (i = NDBS; i-- > 0;) {
		p = DBP(v, dbs[i].off);
		/* No sync: the log makes every commit durable, and writing
		 * out the shared cache is the checkpoint's job, not every
		 * reader's (it cost a fresh-token read 9 fdatasyncs). */
		if (*p != NULL)
			(*p)->close(*p, DB_NOSYNC);
		*p = NULL;
	}
	if (v->env != NULL) {
		if (v->envok && (v->flags & FA_VAULT_CHECKPOINT))
			v->env->txn_checkpoint(v->env, 256, 0, 0);
		/* Ours closed only after Berkeley DB's: closing it first
		 * would drop our slot's lock, and we would look dead. */
		fd = regexcl(v->conf->vault_dir);
		v->env->close(v->env, 0);
		if (fd != -1)
			close(fd);
	}
	v->envok = 0;
	v->env = NULL;
	alarm(0);
}

static int
envopen(struct fa_vault *v)
{
	const char *dir = v->conf->vault_dir;
	uint32_t create = v->flags & FA_VAULT_CREATE ? DB_CREATE : 0;
	DB_ENV *e;
	size_t i;
	DB **p;
	int r;

	if ((r = db_env_create(&v->env, 0)) != 0)
		return dbfail(r, "db_env_create");
	alarm(v->conf->vault_timeout + 2);
	e = v->env;
	e->set_errcall(e, errcall);
	e->set_msgcall(e, msgcall);
	e->set_thread_count(e, THREADS);
	e->set_isalive(e, isalive);
	mypid = getpid();
	e->set_thread_id(e, threadid);
	e->set_lk_detect(e, DB_LOCK_DEFAULT);
	/* 1 MiB: the region counts in every process's memory once touched
	 * (a sweep touches it all); 4 MiB made the sweep 19.8 MiB, and
	 * bought nothing measurable even in a vault of a million (BENCH.md). */
	e->set_cachesize(e, 0, 1024 * 1024, 1);
	e->set_lg_max(e, 4 * 1024 * 1024);
	e->log_set_config(e, DB_LOG_AUTO_REMOVE, 1);
	/* DB_REGISTER|DB_RECOVER: recover only when a process died with
	 * the environment open. Not DB_FAILCHK: when the dead process held
	 * a region mutex its attach path blocks on that mutex forever. The
	 * failchk after it is no luxury, though it costs a fresh-token read
	 * 5 %: without it t/0070's kill -9 loop failed 3 runs of 15 (once a
	 * stored binding not found connected; once every write refused with
	 * DB_PAGE_NOTFOUND until the next recovery), with it none of 15. */
	e->set_timeout(e, 100000, DB_SET_REG_TIMEOUT);
	r = e->open(e, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER | DB_REGISTER, 0600);
	if (r != 0)
		goto fail;
	v->envok = 1;
	if ((r = e->failchk(e, 0)) != 0)
		goto fail;
	for (i = 0; i < NDBS; i++) {
		if ((v->flags & FA_VAULT_TOKENS) && !dbs[i].tokens)
			continue;
		p = DBP(v, dbs[i].off);
		if ((r = db_create(p, e, 0)) != 0)
			goto fail;
		if (dbs[i].dup)
			(*p)->set_flags(*p, DB_DUPSORT);
		if (dbs[i].key == binding_key)
			(*p)->set_dup_compare(*p, recno_cmp);
		r = (*p)->open(*p, NULL, dbs[i].file, NULL, dbs[i].type,
		    DB_AUTO_COMMIT | create, 0600);
		if (r != 0)
			goto fail;
		if (dbs[i].key != NULL && (r = (*DBP(v, dbs[i].primary))->
		    associate(*DBP(v, dbs[i].primary), NULL, *p, dbs[i].key,
		    DB_AUTO_COMMIT)) != 0)
			goto fail;
	}
	alarm(0);
	return 0;
fail:
	r = dbfail(r, dir);
	closedbs(v);
	return r;
}

/* Berkeley DB refuses to open when a registry slot holds our pid: a
 * process killed in the environment left it, and the kernel gave us its
 * pid. Its death must still cause recovery: rewrite the slot with a pid
 * no process can have (the slot's lock is free, so Berkeley DB sees a
 * dead process and recovers). Slots are "%24lu\n", 25 bytes. */
static int
staleslot(const char *dir)
{
	char path[PATH_MAX], line[26], *end;
	int fd, fixed = 0;
	off_t off;

	if ((size_t)snprintf(path, sizeof(path), "%s/__db.register", dir) >=
	    sizeof(path) || (fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return 0;
	for (off = 0; pread(fd, line, 25, off) == 25; off += 25) {
		line[25] = '\0';
		if (line[0] != 'X' && strtoul(line, &end, 10) ==
		    (unsigned long)getpid() && *end == '\n') {
			snprintf(line, sizeof(line), "%24lu\n", 4294967295UL);
			fixed += pwrite(fd, line, 25, off) == 25;
		}
	}
	close(fd);
	return fixed;
}

static void
deadslot(const char *dir)
{
	char path[PATH_MAX], line[26];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/__db.register", dir) >=
	    sizeof(path) || (fd = open(path, O_WRONLY | O_APPEND |
	    O_CLOEXEC)) == -1)
		return;
	snprintf(line, sizeof(line), "%24lu\n", 4294967295UL);
	(void)!write(fd, line, 25);
	close(fd);
}

static void
backoff(int try)
{
	struct timespec ts;
	long us = (1 + randombytes_uniform(1000)) * (try < 10 ? try + 1 : 10);

	ts.tv_sec = us / 1000000;
	ts.tv_nsec = us % 1000000 * 1000;
	nanosleep(&ts, NULL);
}

/* Another process may be creating or recovering the environment right
 * now: wait. A recovery removes the regions and makes them anew, and one
 * who joins as it does finds a region file not yet sized (BDB0126 mmap:
 * EINVAL; t/0070, its steady writer, about one run in ten under load).
 * If the maker died, the half-made environment can never be joined and
 * no registry slot says so: add a dead process's slot, so that the next
 * open runs recovery. (Not a new registry: the processes still in the
 * environment hold their slots in this one.) */
static int
envjoin(struct fa_vault *v)
{
	const char *dir = v->conf->vault_dir;
	int try, stale = 0;

	recfail[0] = '\0';
	for (try = 0; envopen(v) == -1; try++) {
		/* Trying again would fail the same way, a second at a time
		 * (a failed recovery leaves our pid in a slot: BDB1528). */
		if (recfail[0] != '\0')
			return fa_seterr(1, "vault: %s: recovery failed (%s): "
			    "its log cannot be replayed; see BUGS in fa-vault(1)",
			    dir, recfail);
		if (lastdb == EINVAL && strstr(fa_errmsg(), "BDB1528") != NULL &&
		    !stale++ && staleslot(dir))
			continue;
		if (try >= 400 || (fa_errstatus() != 75 && !(lastdb == EINVAL &&
		    strstr(fa_errmsg(), "BDB0126 mmap") != NULL)))
			return -1;
		if (lastdb == EAGAIN && try == 200)
			deadslot(dir);
		backoff(try);
	}
	return 0;
}

int
fa_vault_open(struct fa_vault *v, const struct fa_conf *c, int flags)
{
	char path[PATH_MAX];
	struct stat st;
	struct sigaction sa;

	memset(v, 0, sizeof(*v));
	v->conf = c;
	v->flags = flags;
	snprintf(stuckmsg, sizeof(stuckmsg), "%s: vault: stuck for %d s "
	    "(a process died inside it?); try again\n",
	    program_invocation_short_name, (int)c->vault_timeout + 2);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stuck;
	sigaction(SIGALRM, &sa, NULL);
	if (c->vault_dir[0] == '\0')
		return fa_seterr(EX_CONFIG, "%s: vault_dir is not set", c->path);
	if (c->master_key_file[0] == '\0')
		return fa_seterr(EX_CONFIG, "%s: master_key_file is not set",
		    c->path);
	umask(077);
	if (flags & FA_VAULT_CREATE) {
		if (mkdir(c->vault_dir, 0700) == -1 && errno != EEXIST)
			return fa_seterr(EX_CONFIG, "%s: %s", c->vault_dir,
			    strerror(errno));
	} else {
		if ((size_t)snprintf(path, sizeof(path), "%s/meta.db",
		    c->vault_dir) >= sizeof(path) || stat(path, &st) == -1)
			return fa_seterr(EX_CONFIG, "no vault in %s; create it "
			    "with: fa-vault init", c->vault_dir);
	}
	if ((v->keys = fa_secalloc(2 * sizeof(struct fa_key))) == NULL)
		return fa_seterr(1, "out of secure memory");
	if (fa_key_load(&v->keys[0], c->master_key_file) == -1)
		return -1;
	v->nkeys = 1;
	if (envjoin(v) == -1)
		return -1;
	if (!atexitset++)
		atexit(closeatexit);
	opened = v;
	return fa_vault_loadkeys(v, NULL);
}

void
fa_vault_close(struct fa_vault *v)
{
	if (opened == v)
		opened = NULL;
	closedbs(v);
	fa_secfree(v->keys);
	v->keys = NULL;
}

/* A pending rekey (meta "rekey": {"file","id"}) means records may be
 * sealed with the new key: load it too, and seal with it from now on.
 * extra: the new key file when rekey starts. */
static int
getrekey(struct fa_vault *v, DB_TXN *t, void *a)
{
	int r;

	json_decref(*(json_t **)a);	/* a transaction retried */
	r = fa_getjson(v->meta, t, "rekey", (json_t **)a, 0);
	return r == DB_NOTFOUND ? 0 : r;
}

int
fa_vault_loadkeys(struct fa_vault *v, const char *extra)
{
	char hex[17];
	json_t *j = NULL;
	const char *file = extra, *id;
	int r;

	if (v->nkeys == 2)	/* both loaded already, from the mark */
		return 0;
	if (file == NULL) {
		if (fa_vault_txn(v, getrekey, &j) == -1)
			return -1;
		if (j == NULL)
			return 0;
		file = json_string_value(json_object_get(j, "file"));
		id = json_string_value(json_object_get(j, "id"));
		fa_keyid_hex(v->keys[0].id, hex);
		/* Finished but not yet tidied: the file already holds it. */
		if (file == NULL || id == NULL || strcmp(id, hex) == 0) {
			json_decref(j);
			return 0;
		}
	}
	v->keys[1] = v->keys[0];
	r = fa_key_load(&v->keys[0], file);
	json_decref(j);
	if (r == -1)
		return -1;
	v->nkeys = 2;
	return 0;
}

/* Transactions never block on a lock (DB_TXN_NOWAIT): a process killed
 * while blocked leaves a dead waiter in a process-shared condition
 * variable, and the next process to signal it hangs (glibc). Instead a
 * conflict comes back at once and we retry with backoff, now and then
 * asking failchk to release what dead processes held. */
int
fa_vault_txn(struct fa_vault *v, fa_txnfn fn, void *arg)
{
	struct timespec t0, now;
	DB_LSN lsn0 = { 0, 0 };
	DB_TXN *t;
	int r, try, reopened = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The backstop, for a wait inside Berkeley DB itself. */
	alarm(v->conf->vault_timeout + 2);
	for (try = 0;; try++) {
		dberr[0] = '\0';
		r = v->env->txn_begin(v->env, NULL, &t, DB_TXN_NOWAIT);
		if (r == 0) {
			intxn = 1;
			r = fn(v, t, arg);
			intxn = 0;
			if (r == 0)
				r = t->commit(t, 0);
			else
				(void)t->abort(t);
			/* Another process may have begun recovering the
			 * environment (a dead process's slot) while we
			 * committed: a commit record written after it read
			 * the log is lost. It panics the environment first,
			 * so: committed, and no panic after, is kept. (A flush
			 * up to the log's start: the panic check, no I/O.) */
			if (r == 0 && v->env->log_flush(v->env, &lsn0) ==
			    DB_RUNRECOVERY) {
				alarm(0);
				return fa_seterr(75, "vault: recovered by another "
				    "process as this change was committed: it "
				    "may not have been kept; try again");
			}
		}
		/* Any other Berkeley DB error, once: a process that died
		 * with the environment open makes the next opener recover
		 * it under our feet, which can surface as odd errors (a page
		 * LSN past the end of the log) rather than DB_RUNRECOVERY.
		 * A fresh handle on the recovered environment settles it. */
		if (r != 0 && r != -1 && r != DB_LOCK_NOTGRANTED &&
		    r != DB_LOCK_DEADLOCK && r != DB_RUNRECOVERY &&
		    !reopened) {
			reopened = 1;
			r = DB_RUNRECOVERY;
		}
		if (r != DB_LOCK_NOTGRANTED && r != DB_LOCK_DEADLOCK &&
		    r != DB_RUNRECOVERY)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec -
		    t0.tv_nsec) / 1000000 >= v->conf->vault_timeout * 1000) {
			alarm(0);
			return fa_seterr(75, "vault: busy for %ld s (a process "
			    "holding it stopped or died?); try again",
			    v->conf->vault_timeout);
		}
		if (r == DB_RUNRECOVERY) {
			closedbs(v);
			backoff(try);
			if (envjoin(v) == -1) {
				alarm(0);
				return -1;
			}
			alarm(v->conf->vault_timeout + 2);
			continue;
		}
		if (try % 8 == 7 && v->env->failchk(v->env, 0) ==
		    DB_RUNRECOVERY)
			continue;	/* the next try reopens */
		backoff(try);
	}
	alarm(0);
	if (r == 0 || r == -1)
		return r;
	return dbfail(r, "transaction");
}

void
fa_vault_progress(struct fa_vault *v)
{
	alarm(v->conf->vault_timeout + 2);
}

int
fa_getjson(DB *db, DB_TXN *t, const char *key, json_t **out, uint32_t flags)
{
	json_error_t je;
	DBT k, d;
	int r;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = strlen(key);
	d.flags = DB_DBT_MALLOC;
	*out = NULL;
	if ((r = db->get(db, t, &k, &d, flags)) != 0)
		return r;
	*out = json_loadb(d.data, d.size, JSON_REJECT_DUPLICATES, &je);
	free(d.data);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return fa_seterr(1, "vault: record %s is not valid JSON", key);
	}
	return 0;
}

int
fa_putjson(DB *db, DB_TXN *t, const char *key, json_t *j)
{
	DBT k, d;
	char *s;
	int r;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		return fa_seterr(1, "out of memory");
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = strlen(key);
	d.data = s;
	d.size = strlen(s);
	r = db->put(db, t, &k, &d, 0);
	fa_jsonfree(s);
	return r;
}

int
fa_del(DB *db, DB_TXN *t, const char *key)
{
	DBT k;

	memset(&k, 0, sizeof(k));
	k.data = (void *)key;
	k.size = strlen(key);
	return db->del(db, t, &k, 0);
}

int
fa_audit(struct fa_vault *v, DB_TXN *t, const char *binding,
    const char *tenant, const char *event, const char *outcome,
    const char *fmt, ...)
{
	char detail[512];
	db_recno_t recno;
	va_list ap;
	json_t *j;
	DBT k, d;
	char *s;
	int r;

	detail[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	j = json_pack("{s:I,s:s*,s:s*,s:s,s:s,s:s*}", "time",
	    (json_int_t)fa_now(), "binding", binding, "tenant", tenant,
	    "event", event, "outcome", outcome, "detail",
	    detail[0] ? detail : NULL);
	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return fa_seterr(1, "out of memory");
	}
	json_decref(j);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = &recno;
	k.ulen = sizeof(recno);
	k.flags = DB_DBT_USERMEM;
	d.data = s;
	d.size = strlen(s);
	r = v->audit->put(v->audit, t, &k, &d, DB_APPEND);
	fa_jsonfree(s);
	return r;
}

int
fa_tokhdr_get(DB *db, DB_TXN *t, const char *binding, struct fa_tokhdr *h,
    void **rec, size_t *reclen)
{
	DBT k, d;
	int r;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)binding;
	k.size = strlen(binding);
	d.flags = DB_DBT_MALLOC;
	if ((r = db->get(db, t, &k, &d, 0)) != 0)
		return r;
	if (d.size < FA_TOKHDRLEN + FA_SEALLEN(0)) {
		free(d.data);
		return fa_seterr(1, "%s: token record is malformed", binding);
	}
	fa_tokhdr_decode(d.data, h);
	if (rec != NULL) {
		*rec = d.data;
		*reclen = d.size;
	} else
		free(d.data);
	return 0;
}

int
fa_tokens_put(struct fa_vault *v, DB_TXN *t, const char *binding,
    uint64_t version, const struct fa_tokens *tok)
{
	size_t al = strnlen(tok->access, FA_TOKLEN);
	size_t rl = strnlen(tok->refresh, FA_TOKLEN);
	size_t ptlen = 16 + al + 1 + rl + 1;
	struct fa_tokhdr h;
	unsigned char *pt, *rec;
	DBT k, d;
	int r;

	if (al == FA_TOKLEN || rl == FA_TOKLEN)
		return fa_seterr(65, "token too long");
	if ((pt = fa_secalloc(ptlen)) == NULL ||
	    (rec = malloc(FA_TOKHDRLEN + FA_SEALLEN(ptlen))) == NULL) {
		fa_secfree(pt);
		return fa_seterr(1, "out of memory");
	}
	be64put(pt, (uint64_t)tok->expires_at);
	be64put(pt + 8, (uint64_t)tok->refresh_expires_at);
	memcpy(pt + 16, tok->access, al + 1);
	memcpy(pt + 16 + al + 1, tok->refresh, rl + 1);
	h.version = version;
	h.expires_at = tok->expires_at;
	h.refresh_expires_at = tok->refresh_expires_at;
	h.due_at = fa_due_at(tok->expires_at, tok->refresh_expires_at);
	fa_tokhdr_encode(rec, &h);
	r = fa_seal(&v->keys[0], binding, version, pt, ptlen,
	    rec + FA_TOKHDRLEN);
	fa_secfree(pt);
	if (r == 0) {
		memset(&k, 0, sizeof(k));
		memset(&d, 0, sizeof(d));
		k.data = (void *)binding;
		k.size = strlen(binding);
		d.data = rec;
		d.size = FA_TOKHDRLEN + FA_SEALLEN(ptlen);
		r = v->tokens->put(v->tokens, t, &k, &d, 0);
	}
	free(rec);
	return r;
}

int
fa_tokens_get(struct fa_vault *v, DB_TXN *t, const char *binding,
    uint64_t version, struct fa_tokens *tok, struct fa_tokhdr *hp)
{
	struct fa_tokhdr h;
	unsigned char *pt;
	void *rec;
	size_t len, ptlen = 0, al = 0, rl = 0;
	int r;

	if ((r = fa_tokhdr_get(v->tokens, t, binding, &h, &rec, &len)) != 0)
		return r;
	if (hp != NULL)
		*hp = h;
	if ((pt = fa_secalloc(len)) == NULL) {
		free(rec);
		return fa_seterr(1, "out of secure memory");
	}
	if (h.version != version)
		r = fa_seterr(1, "%s: token record is version %llu, binding "
		    "expects %llu (replayed?)", binding,
		    (unsigned long long)h.version, (unsigned long long)version);
	else
		r = fa_open(v->keys, v->nkeys, binding, version,
		    (unsigned char *)rec + FA_TOKHDRLEN, len - FA_TOKHDRLEN,
		    pt, &ptlen);
	free(rec);
	/* Layout: expires (8) | refresh expires (8) | access NUL refresh NUL */
	if (r == 0 && (ptlen < 18 || pt[ptlen - 1] != '\0' ||
	    (al = strnlen((char *)pt + 16, ptlen - 16)) >= FA_TOKLEN ||
	    16 + al + 1 >= ptlen || (rl = ptlen - 16 - al - 2) >= FA_TOKLEN ||
	    strlen((char *)pt + 16 + al + 1) != rl))
		r = fa_seterr(1, "%s: sealed tokens are malformed", binding);
	if (r == 0) {
		tok->expires_at = (int64_t)be64get(pt);
		tok->refresh_expires_at = (int64_t)be64get(pt + 8);
		memcpy(tok->access, pt + 16, al + 1);
		memcpy(tok->refresh, pt + 16 + al + 1, rl + 1);
	}
	fa_secfree(pt);
	return r;
}

int
fa_tokens_setdue(struct fa_vault *v, DB_TXN *t, const char *binding,
    int64_t due)
{
	struct fa_tokhdr h;
	void *rec;
	size_t len;
	DBT k, d;
	int r;

	if ((r = fa_tokhdr_get(v->tokens, t, binding, &h, &rec, &len)) != 0)
		return r;
	h.due_at = due;
	fa_tokhdr_encode(rec, &h);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)binding;
	k.size = strlen(binding);
	d.data = rec;
	d.size = len;
	r = v->tokens->put(v->tokens, t, &k, &d, 0);
	free(rec);
	return r;
}

/* Binding ids whose due time is at most `until`, in due order, through
 * the index: a sweep never reads the rest of the vault. */
int
fa_due_list(struct fa_vault *v, DB_TXN *t, int64_t until,
    char (*ids)[65], int max, int *n)
{
	unsigned char lo[8];
	struct fa_tokhdr h;
	DBC *c;
	DBT sk, pk, d;
	int r;

	*n = 0;
	memset(lo, 0, sizeof(lo));	/* the smallest encoded time */
	if ((r = v->due->cursor(v->due, t, &c, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&d, 0, sizeof(d));
	sk.data = lo;
	sk.size = sizeof(lo);
	d.flags = DB_DBT_PARTIAL;	/* the header is enough */
	d.dlen = FA_TOKHDRLEN;
	for (r = c->pget(c, &sk, &pk, &d, DB_SET_RANGE); r == 0 && *n < max;
	    r = c->pget(c, &sk, &pk, &d, DB_NEXT)) {
		if (d.size < FA_TOKHDRLEN)
			continue;
		fa_tokhdr_decode(d.data, &h);
		if (h.due_at > until)
			break;
		if (pk.size < 65) {
			memcpy(ids[*n], pk.data, pk.size);
			ids[(*n)++][pk.size] = '\0';
		}
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

#define KNOWN_GOOD	86400

struct clientarg {
	const char	*endpoint;
	const char	*client;
	int		 known;
};

static int
clientrec(struct fa_vault *v, DB_TXN *t, struct clientarg *ca, json_t **m,
    uint32_t flags)
{
	char key[64];
	const char *id;
	int r;

	snprintf(key, sizeof(key), "client:%s", ca->endpoint);
	if ((r = fa_getjson(v->meta, t, key, m, flags)) != 0)
		return r;
	id = json_string_value(json_object_get(*m, "id"));
	ca->known = id != NULL && strcmp(id, ca->client) == 0 &&
	    json_integer_value(json_object_get(*m, "ok")) > fa_now() -
	    KNOWN_GOOD;
	return 0;
}

static int
clientknown(struct fa_vault *v, DB_TXN *t, void *a)
{
	json_t *m = NULL;
	int r = clientrec(v, t, a, &m, 0);

	json_decref(m);
	return r == DB_NOTFOUND ? 0 : r;
}

static int
clientworked(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct clientarg *ca = a;
	char key[64];
	json_t *m = NULL;
	int r;

	r = clientrec(v, t, ca, &m, DB_RMW);
	/* Written at most once a minute: every refresh passes here. */
	if (r == 0 && ca->known && json_integer_value(json_object_get(m,
	    "ok")) > fa_now() - 60) {
		json_decref(m);
		return 0;
	}
	json_decref(m);
	if (r != 0 && r != DB_NOTFOUND)
		return r;
	snprintf(key, sizeof(key), "client:%s", ca->endpoint);
	m = json_pack("{s:s,s:I}", "id", ca->client, "ok",
	    (json_int_t)fa_now());
	r = fa_putjson(v->meta, t, key, m);
	json_decref(m);
	return r;
}

int
fa_client_known(struct fa_vault *v, const char *endpoint, const char *client)
{
	struct clientarg ca = { endpoint, client, 0 };

	return fa_vault_txn(v, clientknown, &ca) == 0 && ca.known;
}

void
fa_client_worked(struct fa_vault *v, const char *endpoint, const char *client)
{
	struct clientarg ca = { endpoint, client, 0 };

	(void)fa_vault_txn(v, clientworked, &ca);
}

/* Sliding one-minute windows shared by every process, kept in meta as
 * the number of requests in each of the last 60 seconds: {"at": the
 * last second counted, "c": [60 counts, second s at s % 60]}. Constant
 * size, however many requests a minute the limits allow. */
static int
ratelog(struct fa_vault *v, DB_TXN *t, const char *key, long c[60],
    int64_t *at, int64_t *until)
{
	json_t *j, *a;
	size_t k;
	int r;

	memset(c, 0, 60 * sizeof(c[0]));
	*at = *until = INT64_MIN;
	if ((r = fa_getjson(v->meta, t, key, &j, DB_RMW)) == DB_NOTFOUND)
		return 0;
	if (r != 0)
		return r;
	if (json_is_integer(json_object_get(j, "until")))
		*until = json_integer_value(json_object_get(j, "until"));
	a = json_object_get(j, "c");
	if (json_array_size(a) == 60) {
		*at = json_integer_value(json_object_get(j, "at"));
		for (k = 0; k < 60; k++)
			c[k] = (long)json_integer_value(json_array_get(a, k));
	}
	json_decref(j);
	return 0;
}

int
fa_rate_take(struct fa_vault *v, DB_TXN *t, const char **keys,
    const long *limits, int n, int64_t *wait)
{
	long c[4][60], sum;
	int64_t now = fa_now(), at[4], until[4], s;
	json_t *a, *j;
	int i, k, r = 0;

	*wait = 0;
	if (n > 4)
		return fa_seterr(1, "too many rate limits");
	for (i = 0; i < n; i++)
		if ((r = ratelog(v, t, keys[i], c[i], &at[i], &until[i])) != 0)
			return r;
	/* FreeAgent's own wait (fa_rate_hold); one more than an hour
	 * ahead (the clock stepped back) is forgotten. */
	for (i = 0; i < n; i++)
		if (until[i] > now && until[i] - now <= FA_HOLD_MAX &&
		    until[i] - now > *wait)
			*wait = until[i] - now;
	/* A second already counted by another process (our clock read
	 * before its commit, or a clock a little behind): count from
	 * there, never lose what is recorded. A record a minute or more
	 * ahead (the clock stepped back) is forgotten. */
	for (i = 0; i < n; i++)
		if (at[i] > now && at[i] - now < 60)
			now = at[i];
	for (i = 0; i < n; i++) {
		if (at[i] > now)
			at[i] = INT64_MIN;
		/* Seconds after the last counted one, or all of them if that
		 * is a minute gone, are empty. */
		for (s = at[i] > now - 60 ? at[i] + 1 : now - 59; s <= now; s++)
			c[i][s % 60] = 0;
		for (sum = 0, k = 0; k < 60; k++)
			sum += c[i][k];
		/* Full: wait until enough of the oldest seconds leave. */
		for (s = now - 59; sum >= limits[i] && s <= now; s++)
			sum -= c[i][s % 60];
		if (s > now - 59 && s + 59 - now > *wait)
			*wait = s + 59 - now;
	}
	for (i = 0; i < n && *wait == 0; i++) {
		c[i][now % 60]++;
		a = json_array();
		for (k = 0; k < 60; k++)
			json_array_append_new(a, json_integer(c[i][k]));
		j = json_pack("{s:I,s:o}", "at", (json_int_t)now, "c", a);
		r = fa_putjson(v->meta, t, keys[i], j);
		json_decref(j);
		if (r != 0)
			return r;
	}
	return 0;
}

static int
iptake(struct fa_vault *v, DB_TXN *t, void *a)
{
	const char *keys[1] = { "rate:ip" };

	return fa_rate_take(v, t, keys, &v->conf->ip_per_minute, 1, a);
}

int
fa_rate_ip(struct fa_vault *v, int maywait)
{
	int64_t wait;
	int tries = 0;

	for (;;) {
		if (fa_vault_txn(v, iptake, &wait) == -1)
			return -1;
		if (wait == 0)
			return 0;
		if (!maywait || tries++ == 1)
			return fa_seterr(75, "at the request rate limit "
			    "(ip_per_minute); try again in %lld s",
			    (long long)wait);
		sleep((unsigned)wait);
	}
}

int
fa_rate_hold(struct fa_vault *v, DB_TXN *t, const char *key, int64_t secs)
{
	int64_t now = fa_now(), until;
	json_t *j;
	int r;

	if (secs <= 0)
		return 0;
	if (secs > FA_HOLD_MAX)
		secs = FA_HOLD_MAX;
	if ((r = fa_getjson(v->meta, t, key, &j, DB_RMW)) == DB_NOTFOUND) {
		j = json_object();
		r = 0;
	}
	if (r != 0)
		return r;
	until = json_integer_value(json_object_get(j, "until"));
	if (until < now + secs || until - now > FA_HOLD_MAX)
		json_object_set_new(j, "until", json_integer(now + secs));
	r = fa_putjson(v->meta, t, key, j);
	json_decref(j);
	return r;
}

int
fa_each_binding(struct fa_vault *v, DB_TXN *t, const char *tenant,
    int (*fn)(json_t *, void *), void *arg)
{
	DBC *c;
	DBT sk, pk, d;
	json_t *j;
	uint32_t op = DB_SET;
	int r;

	if ((r = v->bytenant->cursor(v->bytenant, t, &c,
	    DB_READ_COMMITTED)) != 0)
		return r;
	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&d, 0, sizeof(d));
	sk.data = (void *)tenant;
	sk.size = strlen(tenant);
	while ((r = c->pget(c, &sk, &pk, &d, op)) == 0) {
		op = DB_NEXT_DUP;
		if ((j = json_loadb(d.data, d.size, 0, NULL)) == NULL)
			continue;
		r = fn(j, arg);
		json_decref(j);
		if (r != 0)
			break;
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}
