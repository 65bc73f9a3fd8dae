#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

static _Thread_local char dberr[256];

/* Set by syncfn, read by every writer: see vault.h. */
volatile int fa_vault_syncfailed;
const char *volatile fa_vault_fatal = "a write to disk failed";
void	(*fa_vault_dispatch)(DB_ENV *, DB_CHANNEL *, DBT *, u_int32_t,
	    u_int32_t);
__thread int fa_vault_permfailed;
__thread int fa_vault_dberr;

static void
errcall(const DB_ENV *e, const char *pfx, const char *msg)
{
	(void)e;
	(void)pfx;
	snprintf(dberr, sizeof(dberr), "%s", msg);
}

static void
msgcall(const DB_ENV *e, const char *msg)
{
	(void)e;
	(void)msg;	/* recovery's chatter: not for cron mail */
}

/* Berkeley DB retries a failed fsync (EIO included) up to 100 times and
 * takes the first success as proof. On Linux a failed fsync may have
 * dropped the dirty pages already, so a later success proves nothing
 * (PostgreSQL's "fsyncgate"). Try once; after a failure every fsync
 * fails, the environment panics, and the keeper exits and is started
 * again: recovery then replays only what reached the disk. */
static int
syncfn(int fd)
{
	if (!fa_vault_syncfailed && fdatasync(fd) == 0)
		return 0;
	fa_vault_syncfailed = 1;
	return EIO;	/* Berkeley DB takes the error, not -1 and errno */
}

static int
dbfail(int r, const char *what)
{
	if (r == DB_RUNRECOVERY || fa_vault_syncfailed)
		return fa_seterr(EX_TEMPFAIL, "vault: %s: %s%s%s; try again", what,
		    fa_vault_syncfailed ? fa_vault_fatal :
		    "needs recovery", dberr[0] ? ": " : "", dberr);
	if (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED)
		return fa_seterr(EX_TEMPFAIL, "vault: %s: busy; try again", what);
	if (r == ENOMEM)	/* a refresh's finish() tries again */
		return fa_seterr(EX_TEMPFAIL, "vault: %s: %s; try again", what,
		    db_strerror(r));
	/* A master cut off from its group, or no master at all. */
	if (r == DB_REP_LEASE_EXPIRED || r == DB_REP_UNAVAIL ||
	    r == DB_REP_LOCKOUT || r == DB_REP_HANDLE_DEAD)
		return fa_seterr(EX_TEMPFAIL, "vault: %s: %s; try again", what,
		    r == DB_REP_LEASE_EXPIRED ? "this master reaches no quorum "
		    "of its replication group" : "the replication group has no "
		    "master now");
	return fa_seterr(1, "vault: %s: %s%s%s", what, db_strerror(r),
	    dberr[0] ? ": " : "", dberr);
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
} dbs[] = {
#define O(f) offsetof(struct fa_vault, f)
	{ "meta.db",	O(meta),	DB_BTREE, 0, 0, NULL },
	{ "tenants.db",	O(tenants),	DB_BTREE, 0, 0, NULL },
	{ "bindings.db", O(bindings),	DB_BTREE, 0, 0, NULL },
	{ "bytenant.db", O(bytenant),	DB_BTREE, 1, O(bindings), tenant_key },
	{ "tokens.db",	O(tokens),	DB_BTREE, 0, 0, NULL },
	{ "due.db",	O(due),		DB_BTREE, 1, O(tokens), due_key },
	{ "states.db",	O(states),	DB_BTREE, 0, 0, NULL },
	{ "cache.db",	O(cache),	DB_BTREE, 0, 0, NULL },
	{ "audit.db",	O(audit),	DB_RECNO, 0, 0, NULL },
	{ "auditidx.db", O(auditidx),	DB_BTREE, 1, O(audit), binding_key },
	{ "reqs.db",	O(reqs),	DB_BTREE, 0, 0, NULL },
#undef O
};
#define NDBS (sizeof(dbs) / sizeof(dbs[0]))
#define DBP(v, off) ((DB **)((char *)(v) + (off)))

static int
opendbs(struct fa_vault *v, uint32_t create)
{
	size_t i;
	DB **p;
	int r;

	for (i = 0; i < NDBS; i++) {
		p = DBP(v, dbs[i].off);
		if ((r = db_create(p, v->env, 0)) != 0)
			return r;
		if (dbs[i].dup)
			(*p)->set_flags(*p, DB_DUPSORT);
		if (dbs[i].key == binding_key)
			(*p)->set_dup_compare(*p, recno_cmp);
		/* reqs.db is younger than the vaults it may find; a
		 * replica creates nothing (create is 0 there). */
		r = (*p)->open(*p, NULL, dbs[i].file, NULL, dbs[i].type,
		    DB_AUTO_COMMIT | DB_THREAD | (strcmp(dbs[i].file,
		    "reqs.db") == 0 && (!v->repl || v->master) ? DB_CREATE :
		    create), 0600);
		if (r != 0)
			return r;
		if (dbs[i].key != NULL && (r = (*DBP(v, dbs[i].primary))->
		    associate(*DBP(v, dbs[i].primary), NULL, *p, dbs[i].key,
		    DB_AUTO_COMMIT)) != 0)
			return r;
	}
	return 0;
}

static void
closehandles(struct fa_vault *v)
{
	size_t i;
	DB **p;

	/* Secondaries before their primaries. */
	for (i = NDBS; i-- > 0;) {
		p = DBP(v, dbs[i].off);
		if (*p != NULL)
			(*p)->close(*p, DB_NOSYNC);
		*p = NULL;
	}
}

/* A replica whose copy was rolled back to its new master's (an
 * election undid what it had applied) finds its handles dead
 * (DB_REP_HANDLE_DEAD): they are closed and opened again, once for all
 * the threads that saw them die at generation gen. The site goes on
 * serving, and voting. Only when they cannot be opened again within
 * vault_timeout does the keeper give up (and exit, as after a failed
 * write to disk). */
static int
reopen(struct fa_vault *v, unsigned gen)
{
	struct timespec t0, now, ts = { 0, 50000000L };
	int r = 0;

	pthread_rwlock_wrlock(&v->hlock);
	if (v->hgen == gen) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			closehandles(v);
			if ((r = opendbs(v, 0)) == 0)
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec >= v->conf->vault_timeout)
				break;
			nanosleep(&ts, NULL);
		}
		v->hgen++;
		if (r != 0) {
			fa_vault_fatal = "this site's copy was rolled back by "
			    "its replication group and could not be opened "
			    "again";
			fa_vault_syncfailed = 1;
		}
	}
	pthread_rwlock_unlock(&v->hlock);
	return r;
}

static void
closedbs(struct fa_vault *v)
{
	closehandles(v);
	if (v->env != NULL) {
		if (!fa_vault_syncfailed)
			v->env->txn_checkpoint(v->env, 0, 0, 0);
		v->env->close(v->env, 0);
	}
	v->env = NULL;
}

/* The environment's news: a panic; and the group's: who is master,
 * whether this replica caught up. A commit that no quorum acknowledged
 * is reported in its own thread. */
static void
event(DB_ENV *e, u_int32_t ev, void *info)
{
	struct fa_vault *v = e->app_private;

	switch (ev) {
	case DB_EVENT_REP_MASTER:
		v->master = 1;
		v->ready = 1;
		break;
	case DB_EVENT_REP_CLIENT:
		v->master = 0;
		break;
	case DB_EVENT_REP_NEWMASTER:
		v->mastereid = *(int *)info;
		break;
	case DB_EVENT_REP_STARTUPDONE:
		v->ready = 1;
		break;
	case DB_EVENT_REP_PERM_FAILED:
		fa_vault_permfailed = 1;
		break;
	case DB_EVENT_PANIC:
		/* Any failure Berkeley DB cannot go on from (a write, a
		 * read, an mmap): as a failed fsync, the keeper goes. */
		if (!fa_vault_syncfailed)
			fa_vault_fatal = "the vault's environment failed "
			    "(Berkeley DB panicked)";
		fa_vault_syncfailed = 1;
		break;
	}
}

/* Repmgr: this site, its helpers, elections, leases, acks. Timeouts
 * short enough that a lost master is replaced within seconds. */
static int
repsetup(struct fa_vault *v)
{
	const struct fa_repl *rp = &v->conf->repl;
	DB_ENV *e = v->env;
	DB_SITE *site;
	char host[FA_HOSTLEN];
	unsigned port;
	int i, r;

	v->mastereid = DB_EID_INVALID;
	if ((r = e->rep_set_priority(e, (u_int32_t)rp->priority)) != 0 ||
	    (r = e->repmgr_set_ack_policy(e, rp->ackall ?
	    DB_REPMGR_ACKS_ALL : DB_REPMGR_ACKS_QUORUM)) != 0 ||
	    (r = e->rep_set_config(e, DB_REP_CONF_LEASE, 1)) != 0 ||
	    (r = e->rep_set_timeout(e, DB_REP_LEASE_TIMEOUT, 3000000)) != 0 ||
	    (r = e->rep_set_timeout(e, DB_REP_HEARTBEAT_SEND, 500000)) != 0 ||
	    (r = e->rep_set_timeout(e, DB_REP_HEARTBEAT_MONITOR,
	    2000000)) != 0 ||
	    (r = e->rep_set_timeout(e, DB_REP_ACK_TIMEOUT, 2000000)) != 0 ||
	    (r = e->rep_set_timeout(e, DB_REP_ELECTION_TIMEOUT, 2000000)) != 0 ||
	    (r = e->rep_set_timeout(e, DB_REP_ELECTION_RETRY, 1000000)) != 0 ||
	    /* A new master's first checkpoint (and so a keeper's stop)
	     * would wait 30 s by default. */
	    (r = e->rep_set_timeout(e, DB_REP_CHECKPOINT_DELAY, 0)) != 0 ||
	    /* A group started again waits this long for every site, then
	     * elects among a majority. */
	    (r = e->rep_set_timeout(e, DB_REP_FULL_ELECTION_TIMEOUT,
	    5000000)) != 0 ||
	    (r = e->rep_set_timeout(e, DB_REP_CONNECTION_RETRY, 1000000)) != 0)
		return r;
	(void)fa_hostport(rp->local, host, &port);
	if ((r = e->repmgr_site(e, host, port, &site, 0)) != 0)
		return r;
	(void)site->set_config(site, DB_LOCAL_SITE, 1);
	/* A site that names no helper starts the group. */
	if (rp->nremote == 0)
		(void)site->set_config(site, DB_GROUP_CREATOR, 1);
	(void)site->close(site);
	for (i = 0; i < rp->nremote; i++) {
		(void)fa_hostport(rp->remote[i], host, &port);
		if ((r = e->repmgr_site(e, host, port, &site, 0)) != 0)
			return r;
		(void)site->set_config(site, DB_BOOTSTRAP_HELPER, 1);
		(void)site->close(site);
	}
	if (fa_vault_dispatch != NULL &&
	    (r = e->repmgr_msg_dispatch(e, fa_vault_dispatch, 0)) != 0)
		return r;
	return 0;
}

/* Joins the group and waits to be its master or a replica that caught
 * up: up to REPWAIT seconds for a site that has no databases yet (it
 * gets them from its master), REPSETTLE for one that has, which then
 * serves what it has while the group elects a master (a whole group
 * started again, one site after the other). A replica opens the
 * databases its master made, and creates none. */
#define REPWAIT		60
#define REPSETTLE	5
static int
repstart(struct fa_vault *v, uint32_t *create)
{
	struct timespec ts = { 0, 20000000L };
	char path[PATH_MAX];
	struct stat st;
	int r, i, wait;

	if ((r = v->env->repmgr_start(v->env, 4, DB_REP_ELECTION)) != 0 &&
	    r != DB_REP_IGNORE)
		return r;
	wait = (size_t)snprintf(path, sizeof(path), "%s/meta.db",
	    v->conf->vault_dir) < sizeof(path) && stat(path, &st) == 0 ?
	    REPSETTLE : REPWAIT;
	for (i = 0; !v->ready && i < wait * 50; i++)
		nanosleep(&ts, NULL);
	if (!v->ready && wait == REPWAIT)
		return DB_REP_UNAVAIL;
	if (!v->master)
		*create = 0;
	return 0;
}

static int
envopen(struct fa_vault *v)
{
	const char *dir = v->conf->vault_dir;
	uint32_t create = v->flags & FA_VAULT_CREATE ? DB_CREATE : 0;
	DB_ENV *e;
	int r;

	db_env_set_func_fsync(syncfn);
	if ((r = db_env_create(&v->env, 0)) != 0)
		return dbfail(r, "db_env_create");
	e = v->env;
	e->set_errcall(e, errcall);
	e->set_msgcall(e, msgcall);
	e->app_private = v;
	if ((r = e->set_event_notify(e, event)) != 0)
		goto fail;
	/* Blocking locks: the one process in the environment never dies
	 * holding one without the whole environment going with it. A cycle
	 * is broken at once; a wait is bounded. */
	e->set_lk_detect(e, DB_LOCK_DEFAULT);
	e->set_timeout(e, (db_timeout_t)v->conf->vault_timeout * 1000000,
	    DB_SET_LOCK_TIMEOUT);
	e->set_cachesize(e, 0, 4 * 1024 * 1024, 1);
	/* What does not grow with the vault, small: the current log file
	 * (a new one every MiB) and the lock table's hash, which Berkeley
	 * DB sizes for lk_max_objects unless told; everyday work locks a
	 * few hundred pages at once, and a long chain costs only the rare
	 * big transaction (retention, a load). */
	e->set_lg_max(e, 1024 * 1024);
	e->set_lk_max_locks(e, 20000);
	e->set_lk_max_objects(e, 20000);
	e->set_lk_tablesize(e, 1024);
	e->set_lk_max_lockers(e, 4000);
	e->set_tx_max(e, 1000);
	e->log_set_config(e, DB_LOG_AUTO_REMOVE, 1);
	v->repl = v->conf->repl.local[0] != '\0';
	if (v->repl && (r = repsetup(v)) != 0)
		goto fail;
	/* DB_RECOVER at every open: safe, for we hold the vault's lock and
	 * so are the environment's only user. */
	r = e->open(e, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_THREAD | DB_RECOVER |
	    (v->repl ? DB_INIT_REP : 0), 0600);
	if (r != 0)
		goto fail;
	if (v->repl && (r = repstart(v, &create)) != 0)
		goto fail;
	if ((r = opendbs(v, create)) != 0)
		goto fail;
	return 0;
fail:
	r = dbfail(r, dir);
	/* A site that failed to join must not close: repmgr's threads may
	 * hang the close. The keeper exits; the next one recovers. */
	if (v->repl)
		v->env = NULL;
	closedbs(v);
	return r;
}

/* At most one owner a vault: an exclusive flock(2) held for the owner's
 * life, which the kernel drops when it dies. The lock file holds the
 * owner's pid, for people and for tests. */
static int
lockvault(struct fa_vault *v)
{
	struct timespec ts = { 0, 2000000L };
	char path[PATH_MAX], pid[32];
	int fd, n, i;

	if ((size_t)snprintf(path, sizeof(path), "%s/lock",
	    v->conf->vault_dir) >= sizeof(path))
		return fa_seterr(EX_CONFIG, "vault_dir is too long");
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		return fa_seterr(fa_errnost(errno), "%s: %s", path,
		    strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		/* The holder writes its pid just after it locks. */
		for (i = 0; i < 50; i++) {
			n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			if (strchr(pid, '\n') != NULL)
				break;
			nanosleep(&ts, NULL);
		}
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		return fa_seterr(EX_TEMPFAIL, "the vault %s is in use by process %s "
		    "(its keeper)", v->conf->vault_dir, pid[0] ? pid : "?");
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, n, 0) != n) {
		close(fd);
		return fa_seterr(1, "%s: %s", path, strerror(errno));
	}
	v->lockfd = fd;
	return 0;
}

int
fa_vault_open(struct fa_vault *v, const struct fa_conf *c, int flags)
{
	struct timespec ts = { 0, 100000000L };
	char path[PATH_MAX];
	struct stat st;
	int i, r;

	memset(v, 0, sizeof(*v));
	v->conf = c;
	v->flags = flags;
	v->lockfd = -1;
	v->started = fa_now();
	pthread_rwlock_init(&v->hlock, NULL);
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
	if (fa_key_load(&v->keys[0], c->master_key_file) == -1 ||
	    lockvault(v) == -1) {
		fa_secfree(v->keys);
		v->keys = NULL;
		return -1;
	}
	v->nkeys = 1;
	if (envopen(v) == -1) {
		fa_vault_close(v);
		return -1;
	}
	/* A master reads only under a lease its group granted: a group
	 * started again grants it once a quorum is up. */
	for (i = 0; (r = fa_vault_loadkeys(v, NULL)) == -1 && v->repl &&
	    fa_vault_dberr == DB_REP_LEASE_EXPIRED && i < REPWAIT * 10; i++)
		nanosleep(&ts, NULL);
	if (r == -1 && v->repl)
		v->env = NULL;	/* as above */
	return r;
}

void
fa_vault_close(struct fa_vault *v)
{
	closedbs(v);
	fa_secfree(v->keys);
	v->keys = NULL;
	if (v->lockfd != -1)
		close(v->lockfd);
	v->lockfd = -1;
}

int
fa_vault_backup(struct fa_vault *v, const char *dir)
{
	DB_ENV *e;
	struct stat st;
	int r;

	if (dir[0] != '/')
		return fa_seterr(EX_USAGE, "backup: %s is not an absolute path",
		    dir);
	if (stat(dir, &st) == 0)
		return fa_seterr(1, "backup: %s exists: name a new directory",
		    dir);
	if (mkdir(dir, 0700) == -1)
		return fa_seterr(1, "backup: %s: %s", dir, strerror(errno));
	/* Data files, then the logs that cover their copying. */
	if ((r = v->env->backup(v->env, dir, DB_EXCL)) != 0)
		return dbfail(r, "backup");
	/* The copy is fuzzy until recovered: catastrophic recovery on it,
	 * in an environment of its own, makes it a vault a keeper starts
	 * from as from its own. */
	if ((r = db_env_create(&e, 0)) != 0)
		return dbfail(r, "backup");
	e->set_errcall(e, errcall);
	r = e->open(e, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_PRIVATE | DB_RECOVER_FATAL, 0600);
	if (r == 0)
		r = e->txn_checkpoint(e, 0, 0, DB_FORCE);
	(void)e->close(e, 0);
	if (r != 0)
		return dbfail(r, "backup: recovery");
	return fa_syncdir(dir);
}

void
fa_vault_checkpoint(struct fa_vault *v)
{
	if (v->env != NULL && !v->stopping && !fa_vault_syncfailed)
		(void)v->env->txn_checkpoint(v->env, 0, 0, 0);
}

/* A pending rekey (meta "rekey": {"file","id"}) means records may be
 * sealed with the new key: load it too, and seal with it from now on.
 * extra: the new key file when rekey starts. */
static int
getrekey(struct fa_vault *v, DB_TXN *t, void *a)
{
	int r;

	json_decref(*(json_t **)a);	/* a transaction retried */
	*(json_t **)a = NULL;
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

/* A transaction that loses a deadlock or waits out the lock timeout is
 * aborted and run again, within vault_timeout. A panicked environment
 * (a failed write to disk) is 75: the keeper exits and recovers. */
int
fa_vault_txn(struct fa_vault *v, fa_txnfn fn, void *arg)
{
	struct timespec t0, now, ts;
	DB_TXN *t;
	unsigned gen;
	int r, try;

	if (v->stopping) {
		fa_vault_dberr = 0;
		return fa_seterr(EX_TEMPFAIL, "vault: the keeper is stopping; "
		    "try again");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (try = 0;; try++) {
		dberr[0] = '\0';
		if (fa_vault_syncfailed)
			return dbfail(DB_RUNRECOVERY, "transaction");
		fa_vault_permfailed = 0;
		pthread_rwlock_rdlock(&v->hlock);
		gen = v->hgen;
		if ((r = v->env->txn_begin(v->env, NULL, &t, 0)) == 0) {
			if ((r = fn(v, t, arg)) == 0)
				r = t->commit(t, 0);
			else
				(void)t->abort(t);
		}
		pthread_rwlock_unlock(&v->hlock);
		if (r == DB_REP_HANDLE_DEAD)
			(void)reopen(v, gen);
		if (fa_vault_syncfailed)
			return dbfail(DB_RUNRECOVERY, "commit");
		if (r != DB_LOCK_DEADLOCK && r != DB_LOCK_NOTGRANTED &&
		    r != DB_REP_HANDLE_DEAD)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) >= v->conf->vault_timeout)
			break;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(1 + randombytes_uniform(1000)) * 1000 *
		    (try < 10 ? try + 1 : 10);
		nanosleep(&ts, NULL);
	}
	fa_vault_dberr = r;
	if (r == 0 && fa_vault_permfailed)
		return fa_seterr(EX_TEMPFAIL, "vault: committed here, but not "
		    "yet by a quorum of the replication group; try again");
	if (r == 0 || r == -1)
		return r;
	return dbfail(r, "transaction");
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
fa_puttext(DB *db, DB_TXN *t, const char *key, const char *s, size_t len)
{
	DBT k, d;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = strlen(key);
	d.data = (void *)s;
	d.size = len;
	return db->put(db, t, &k, &d, 0);
}

int
fa_putjson(DB *db, DB_TXN *t, const char *key, json_t *j)
{
	char *s;
	int r;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		return fa_seterr(1, "out of memory");
	r = fa_puttext(db, t, key, s, strlen(s));
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

__thread long fa_audit_uid = -1;

void
fa_audit_mac(const struct fa_key *k, const char *prev, json_t *rec,
    char out[65])
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);

	crypto_auth_hmacsha256_init(&st, k->audit, sizeof(k->audit));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)prev,
	    strlen(prev));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)"\n", 1);
	if (s != NULL)
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)s,
		    strlen(s));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
	fa_jsonfree(s);
}

/* The record j joins its chain: "k" names the key, "mac" links it to
 * the chain's newest record (meta "auditmac:BINDING", which it then
 * becomes); the records of no binding make the chain "auditmac:". */
static int
chain(struct fa_vault *v, DB_TXN *t, const char *binding, json_t *j)
{
	char key[80], kid[17], mac[65];
	json_t *h = NULL;
	int r;

	snprintf(key, sizeof(key), "auditmac:%s", binding != NULL ? binding :
	    "");
	if ((r = fa_getjson(v->meta, t, key, &h, DB_RMW)) != 0 &&
	    r != DB_NOTFOUND)
		return r;
	fa_keyid_hex(v->keys[0].id, kid);
	json_object_set_new(j, "k", json_string(kid));
	fa_audit_mac(&v->keys[0], fa_jstr(h, "mac"), j, mac);
	json_decref(h);
	json_object_set_new(j, "mac", json_string(mac));
	if ((h = json_pack("{s:s}", "mac", mac)) == NULL)
		return fa_seterr(1, "out of memory");
	r = fa_putjson(v->meta, t, key, h);
	json_decref(h);
	return r;
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
	if (j != NULL && fa_audit_uid >= 0)
		json_object_set_new(j, "uid", json_integer(fa_audit_uid));
	if (j != NULL && v->keys != NULL && (r = chain(v, t, binding, j)) != 0) {
		json_decref(j);
		return r;
	}
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
		return fa_seterr(EX_DATAERR, "token too long");
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
 * the index: a sweep never reads the rest of the vault. ids NULL: how
 * many (the metrics' backlog). */
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
	if ((sk.data = malloc(sizeof(lo))) == NULL) {
		c->close(c);
		return fa_seterr(1, "out of memory");
	}
	memcpy(sk.data, lo, sizeof(lo));
	sk.size = sizeof(lo);
	sk.flags = pk.flags = DB_DBT_REALLOC;
	d.flags = DB_DBT_PARTIAL | DB_DBT_REALLOC;	/* the header is enough */
	d.dlen = FA_TOKHDRLEN;
	for (r = c->pget(c, &sk, &pk, &d, DB_SET_RANGE); r == 0 && *n < max;
	    r = c->pget(c, &sk, &pk, &d, DB_NEXT)) {
		if (d.size < FA_TOKHDRLEN)
			continue;
		fa_tokhdr_decode(d.data, &h);
		if (h.due_at > until)
			break;
		if (ids == NULL)
			(*n)++;
		else if (pk.size < 65) {
			memcpy(ids[*n], pk.data, pk.size);
			ids[(*n)++][pk.size] = '\0';
		}
	}
	c->close(c);
	free(sk.data);
	free(pk.data);
	free(d.data);
	return r == DB_NOTFOUND ? 0 : r;
}

#define KNOWN_GOOD	86400

/* The client's name as stored: the caller's hash of id and secret,
 * hashed again with a subkey of the vault's (seal.h), so that the
 * record cannot be checked against guesses of the secret by whoever
 * reads the files. */
static void
clientname(struct fa_vault *v, const char *hash, char out[33])
{
	unsigned char h[16];

	crypto_generichash(h, sizeof(h), (const unsigned char *)hash,
	    strlen(hash), v->keys[0].clnt, sizeof(v->keys[0].clnt));
	sodium_bin2hex(out, 33, h, sizeof(h));
}

int
fa_client_known(struct fa_vault *v, DB_TXN *t, const char *endpoint,
    const char *hash, int *known)
{
	char key[64], name[33];
	const char *id;
	json_t *m;
	int r;

	*known = 0;
	clientname(v, hash, name);
	snprintf(key, sizeof(key), "client:%s", endpoint);
	if ((r = fa_getjson(v->meta, t, key, &m, 0)) != 0)
		return r == DB_NOTFOUND ? 0 : r;
	id = json_string_value(json_object_get(m, "id"));
	*known = id != NULL && strcmp(id, name) == 0 &&
	    json_integer_value(json_object_get(m, "ok")) > fa_now() -
	    KNOWN_GOOD;
	json_decref(m);
	return 0;
}

int
fa_client_worked(struct fa_vault *v, DB_TXN *t, const char *endpoint,
    const char *hash)
{
	char key[64], name[33];
	const char *id;
	json_t *m;
	int r;

	clientname(v, hash, name);
	snprintf(key, sizeof(key), "client:%s", endpoint);
	r = fa_getjson(v->meta, t, key, &m, DB_RMW);
	if (r != 0 && r != DB_NOTFOUND)
		return r;
	/* Written at most once a minute: every refresh passes here. */
	if (r == 0 && (id = json_string_value(json_object_get(m, "id"))) !=
	    NULL && strcmp(id, name) == 0 &&
	    json_integer_value(json_object_get(m, "ok")) > fa_now() - 60) {
		json_decref(m);
		return 0;
	}
	json_decref(m);
	m = json_pack("{s:s,s:I}", "id", name, "ok", (json_int_t)fa_now());
	r = fa_putjson(v->meta, t, key, m);
	json_decref(m);
	return r;
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

int
fa_rate_ip(struct fa_vault *v, DB_TXN *t, int64_t *wait)
{
	const char *keys[1] = { "rate:ip" };

	return fa_rate_take(v, t, keys, &v->conf->ip_per_minute, 1, wait);
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
	if ((sk.data = strdup(tenant)) == NULL) {
		c->close(c);
		return fa_seterr(1, "out of memory");
	}
	sk.size = strlen(tenant);
	sk.flags = pk.flags = d.flags = DB_DBT_REALLOC;
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
	free(sk.data);
	free(pk.data);
	free(d.data);
	return r == DB_NOTFOUND ? 0 : r;
}

int
fa_each_audit(struct fa_vault *v, DB_TXN *t, const char *binding,
    int (*fn)(const char *, size_t, void *), void *arg)
{
	uint32_t op = binding != NULL ? DB_SET : DB_FIRST;
	DBC *c;
	DBT sk, pk, d;
	int r;

	r = binding != NULL ?
	    v->auditidx->cursor(v->auditidx, t, &c, DB_READ_COMMITTED) :
	    v->audit->cursor(v->audit, t, &c, DB_READ_COMMITTED);
	if (r != 0)
		return r;
	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&d, 0, sizeof(d));
	if (binding != NULL && (sk.data = strdup(binding)) == NULL) {
		c->close(c);
		return fa_seterr(1, "out of memory");
	}
	sk.size = binding != NULL ? strlen(binding) : 0;
	sk.flags = pk.flags = d.flags = DB_DBT_REALLOC;
	for (;;) {
		r = binding != NULL ? c->pget(c, &sk, &pk, &d, op) :
		    c->get(c, &sk, &d, op);
		if (r != 0)
			break;
		op = binding != NULL ? DB_NEXT_DUP : DB_NEXT;
		if ((r = fn(d.data, d.size, arg)) != 0)
			break;
	}
	c->close(c);
	free(sk.data);
	free(pk.data);
	free(d.data);
	return r == DB_NOTFOUND ? 0 : r;
}

int
fa_each_audit_back(struct fa_vault *v, DB_TXN *t, const char *binding,
    int (*fn)(const char *, size_t, void *), void *arg)
{
	DBC *c;
	DBT sk, pk, d;
	int r;

	if ((r = v->auditidx->cursor(v->auditidx, t, &c,
	    DB_READ_COMMITTED)) != 0)
		return r;
	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&d, 0, sizeof(d));
	if ((sk.data = strdup(binding)) == NULL) {
		c->close(c);
		return fa_seterr(1, "out of memory");
	}
	sk.size = strlen(binding);
	sk.flags = pk.flags = d.flags = DB_DBT_REALLOC;
	/* Its newest record: the one before the next binding's first, or
	 * the index's last. */
	if ((r = c->pget(c, &sk, &pk, &d, DB_SET)) == 0 &&
	    ((r = c->pget(c, &sk, &pk, &d, DB_NEXT_NODUP)) == 0 ||
	    r == DB_NOTFOUND))
		r = c->pget(c, &sk, &pk, &d, r == 0 ? DB_PREV : DB_LAST);
	while (r == 0 && (r = fn(d.data, d.size, arg)) == 0)
		r = c->pget(c, &sk, &pk, &d, DB_PREV_DUP);
	c->close(c);
	free(sk.data);
	free(pk.data);
	free(d.data);
	return r == DB_NOTFOUND ? 0 : r;
}
