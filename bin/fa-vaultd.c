/* fa-vaultd: the vault's keeper. The one process that opens the
 * Berkeley DB environment and reads the master key; every other program
 * asks it, one JSON line a request, over a Unix socket (fa-vaultd(8)). */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "hook.h"
#include "job.h"
#include "proto.h"
#include "secmem.h"
#include "vault.h"
#include "verb.h"

#define MAXCONN		1024	/* connections served at once */
#define REQKEEP		600	/* s a write's answer is kept for its retry */

static time_t started;

static int
ping(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	(void)v;
	(void)t;
	json_object_set_new(c->out, "pid", json_integer(getpid()));
	json_object_set_new(c->out, "uptime", json_integer(time(NULL) -
	    started));
	return 0;
}

static const struct fa_verb own[] = {
	{ "keeper.ping", ping, FA_NOTXN | FA_BYWORKER | FA_BYDASH },
	{ "job.run", NULL, FA_JOB | FA_BYWORKER | FA_BYDASH },
	{ NULL, NULL, 0 }
};

static const struct fa_verb *tables[] = {
	own, fa_verbs_vault, fa_verbs_token, fa_verbs_connect,
	fa_verbs_metrics
};

static struct fa_vault vault;
/* Set once fa_vault_open has returned: repmgr starts inside it, and a
 * replica's forwarded request may arrive before the databases are. */
static _Atomic int opened;
static struct fa_conf *conf;		/* the one in force; under conflock */
static struct stat confst;		/* what it was loaded from */
static char confpath[PATH_MAX];		/* its path, which never changes */
/* Every request reads under it; a config reload and a rekey write, and
 * must not wait forever behind a steady stream of requests. */
static pthread_rwlock_t conflock;
static struct {				/* access.*, resolved */
	unsigned	id;			/* a uid, or a gid */
	int		group;
	int		role;
} acl[FA_MAXACCESS];
static int nacl;
static int foreground, lsock = -1, nconn;
static pthread_mutex_t connlock = PTHREAD_MUTEX_INITIALIZER;
static char sockname[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-vaultd [-f] [-c file] [-u user]\n");
	exit(EX_USAGE);
}

/* stderr in the foreground, syslog once detached. */
static void
logmsg(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (foreground) {
		fprintf(stderr, "fa-vaultd: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else
		vsyslog(pri, fmt, ap);
	va_end(ap);
}

static void
jobline(const char *line)
{
	logmsg(LOG_WARNING, "%s", line);
}

static int
resolveaccess(const struct fa_conf *c)
{
	const char *n;
	struct passwd *pw;
	struct group *gr;
	int i;

	nacl = 0;
	for (i = 0; i < c->naccess; i++) {
		n = c->access[i].name;
		if (*n == '@') {
			if ((gr = getgrnam(n + 1)) == NULL)
				return fa_seterr(EX_CONFIG, "%s: access.%s: no "
				    "group %s", c->path, n, n + 1);
			acl[nacl].id = gr->gr_gid;
			acl[nacl].group = 1;
		} else {
			if ((pw = getpwnam(n)) == NULL)
				return fa_seterr(EX_CONFIG, "%s: access.%s: no "
				    "user %s", c->path, n, n);
			acl[nacl].id = pw->pw_uid;
			acl[nacl].group = 0;
		}
		acl[nacl++].role = c->access[i].role;
	}
	return 0;
}

/* The config is read again when its file changes: an operator's edit
 * (an endpoint, a plan, the status hook) needs no restart. vault_dir
 * and master_key_file do: they are kept. A file that no longer loads
 * leaves the old one in force. */
static void
reload(void)
{
	static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
	struct fa_conf *c;
	struct stat st;

	/* One thread looks at a time, and only it replaces conf: another
	 * thread's look must not read conf as it is freed. */
	pthread_mutex_lock(&mx);
	if (stat(confpath, &st) == -1 || (st.st_mtim.tv_sec ==
	    confst.st_mtim.tv_sec && st.st_mtim.tv_nsec ==
	    confst.st_mtim.tv_nsec && st.st_size == confst.st_size &&
	    st.st_ino == confst.st_ino)) {
		pthread_mutex_unlock(&mx);
		return;
	}
	confst = st;
	pthread_rwlock_wrlock(&conflock);
	if (vault.stopping || (c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	if (fa_conf_load(c, confpath) == -1 || resolveaccess(c) == -1) {
		logmsg(LOG_ERR, "%s; keeping the config loaded before",
		    fa_errmsg());
		free(c);
		(void)resolveaccess(conf);
		goto out;
	}
	memcpy(c->vault_dir, conf->vault_dir, sizeof(c->vault_dir));
	memcpy(c->master_key_file, conf->master_key_file,
	    sizeof(c->master_key_file));
	memcpy(c->vault_socket, conf->vault_socket, sizeof(c->vault_socket));
	c->repl = conf->repl;	/* the group is joined once */
	free(conf);
	conf = c;
	vault.conf = c;
out:
	pthread_rwlock_unlock(&conflock);
	pthread_mutex_unlock(&mx);
}

static const struct fa_verb *
findverb(const char *name)
{
	const struct fa_verb *v;
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (v = tables[i]; v->name != NULL; v++)
			if (strcmp(v->name, name) == 0)
				return v;
	return NULL;
}

struct run {
	const struct fa_verb	*verb;
	struct fa_call		*call;
	const char		*id;	/* a write's request id, or NULL */
	char			*kept;	/* its answer, kept from before */
};

static void
callreset(struct fa_call *c)
{
	json_decref(c->out);
	c->out = json_object();
	c->status = 0;
	c->msg[0] = '\0';
	c->nhooks = 0;
}

static json_t *
answer(struct fa_call *c, int status, const char *msg)
{
	return json_pack("{s:i,s:s*,s:O}", "s", status, "e",
	    status != 0 ? msg : NULL, "a", c->out ? c->out : json_object());
}

/* A write runs once: its request id and its answer are kept in the
 * same transaction, and a request that comes again gets the answer. */
static int
runverb(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct run *rn = a;
	json_t *kept, *ans;
	char *s;
	int r;

	callreset(rn->call);
	free(rn->kept);
	rn->kept = NULL;
	if (rn->id != NULL) {
		r = fa_getjson(v->reqs, t, rn->id, &kept, DB_RMW);
		if (r == 0) {
			s = json_dumps(json_object_get(kept, "ans"),
			    JSON_COMPACT);
			json_decref(kept);
			if (s == NULL)
				return fa_seterr(1, "out of memory");
			rn->kept = strdup(s);
			fa_jsonfree(s);
			return rn->kept == NULL ?
			    fa_seterr(1, "out of memory") : 0;
		}
		if (r != DB_NOTFOUND)
			return r;
	}
	if ((r = rn->verb->fn(v, t, rn->call)) != 0 || rn->id == NULL)
		return r;
	ans = answer(rn->call, rn->call->status, rn->call->msg);
	kept = json_pack("{s:I,s:o}", "t", (json_int_t)fa_now(), "ans", ans);
	if (kept == NULL)
		return fa_seterr(1, "out of memory");
	r = fa_putjson(v->reqs, t, rn->id, kept);
	json_decref(kept);
	return r;
}

static int
sendline(int fd, json_t *j)
{
	char *s;
	size_t len, off = 0;
	ssize_t n;
	int r = 0;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		return -1;
	len = strlen(s);
	s[len++] = '\n';
	while (off < len) {
		if ((n = send(fd, s + off, len - off, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			r = -1;
			break;
		}
		off += (size_t)n;
	}
	sodium_memzero(s, len);
	fa_jsonfree(s);
	return r;
}

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS	59
#endif

/* The peer's roles (conf.h): root and our own user are admin; else its
 * own access line, or the lines of every group it is in (the kernel's
 * word: SO_PEERCRED, SO_PEERGROUPS). 0: it may not use the vault. */
static int
roleof(int fd, const struct ucred *cr)
{
	gid_t gs[256];
	socklen_t len = sizeof(gs);
	int i, k, n, role = 0;

	if (cr->uid == 0 || cr->uid == geteuid())
		return FA_ADMIN;
	for (i = 0; i < nacl; i++)
		if (!acl[i].group && acl[i].id == cr->uid)
			return acl[i].role;
	n = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gs, &len) == 0 ?
	    (int)(len / sizeof(gs[0])) : 0;
	for (i = 0; i < nacl; i++) {
		if (!acl[i].group)
			continue;
		if (acl[i].id == cr->gid)
			role |= acl[i].role;
		for (k = 0; k < n; k++)
			if (acl[i].id == gs[k])
				role |= acl[i].role;
	}
	return role;
}

struct refusal {
	uid_t		 uid;
	pid_t		 pid;
	const char	*verb;		/* NULL: not even a connection */
	const char	*binding;
};

static int
auditrefusal(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct refusal *rf = a;

	if (rf->verb == NULL)
		return fa_audit(v, t, NULL, NULL, "access", "refused",
		    "uid %ld pid %ld has no access line in fa.conf",
		    (long)rf->uid, (long)rf->pid);
	return fa_audit(v, t, rf->binding, NULL, "access", "refused",
	    "uid %ld pid %ld may not ask %s", (long)rf->uid, (long)rf->pid,
	    rf->verb);
}

/* A verb the peer's roles do not allow: refused (77) and audited. A
 * dashboard speaks for a tenant, always. */
static int
mayask(const struct fa_verb *verb, struct fa_call *c)
{
	struct refusal rf;
	const char *tn;

	if (c->role & FA_ADMIN)
		return 0;
	if (!(verb->flags & (c->role << 4))) {
		rf.uid = c->uid;
		rf.pid = c->pid;
		rf.verb = verb->name;
		rf.binding = json_string_value(json_object_get(c->in,
		    "binding"));
		if (rf.binding != NULL && !fa_validid(rf.binding))
			rf.binding = NULL;
		pthread_rwlock_rdlock(&conflock);
		(void)fa_vault_txn(&vault, auditrefusal, &rf);
		pthread_rwlock_unlock(&conflock);
		logmsg(LOG_WARNING, "refused %s to uid %ld pid %ld", verb->name,
		    (long)c->uid, (long)c->pid);
		return fa_seterr(EX_NOPERM, "this user may not ask %s (access "
		    "in fa.conf)", verb->name);
	}
	if (!(c->role & FA_WORKER) && fa_arg_id(c->in, "tenant", 1, &tn) == -1)
		return -1;
	return 0;
}

static json_t *forward(const char *, size_t, const struct ucred *, int);

/* One request line: its answer (NULL: out of memory). site: "" for a
 * peer of ours; for a request a replica forwarded, that replica. A
 * write refused here because this site is a replica goes to the
 * master, once. */
static json_t *
handle(const char *line, size_t len, const struct ucred *cr, int role,
    const char *site)
{
	struct fa_call call;
	struct fa_req rq;
	struct run rn;
	const struct fa_verb *verb;
	json_t *ans, *w = NULL;
	int i, r, st;

	memset(&call, 0, sizeof(call));
	call.uid = cr->uid;
	call.pid = cr->pid;
	call.role = role;
	call.site = site;
	if (fa_req_parse(line, len, &rq) == -1) {
		ans = answer(&call, fa_errstatus(), fa_errmsg());
		goto reply;
	}
	if ((verb = findverb(rq.verb)) == NULL) {
		fa_req_free(&rq);
		fa_seterr(EX_USAGE, "unknown request %s", rq.verb);
		ans = answer(&call, EX_USAGE, fa_errmsg());
		goto reply;
	}
	call.in = rq.args;
	fa_audit_uid = (long)cr->uid;
	if (mayask(verb, &call) == -1) {
		fa_req_free(&rq);
		ans = answer(&call, fa_errstatus(), fa_errmsg());
		goto reply;
	}
	if (verb->flags & FA_JOB) {
		/* No lock held: the job's programs ask us in turn. */
		callreset(&call);
		r = fa_job(&vault, &conflock, confpath, &call);
		ans = answer(&call, r == 0 ? 0 : fa_errstatus(), fa_errmsg());
		fa_req_free(&rq);
		goto reply;
	}
	memset(&rn, 0, sizeof(rn));
	rn.verb = verb;
	rn.call = &call;
	rn.id = verb->flags & FA_W && rq.id[0] ? rq.id : NULL;
	/* A verb that changes the keys runs alone. */
	if (verb->flags & FA_EXCL)
		pthread_rwlock_wrlock(&conflock);
	else
		pthread_rwlock_rdlock(&conflock);
	if (vault.stopping)
		r = fa_seterr(EX_TEMPFAIL, "the keeper is stopping; try again");
	else if (verb->flags & FA_W && fa_vault_syncfailed)
		r = fa_seterr(EX_TEMPFAIL, "vault: %s; try again",
		    fa_vault_fatal);
	else if (verb->flags & FA_NOTXN) {
		callreset(&call);
		r = verb->fn(&vault, NULL, &call);
	} else
		r = fa_vault_txn(&vault, runverb, &rn);
	if (r == -1 && !vault.stopping && fa_vault_dberr == EACCES &&
	    vault.repl &&
	    !vault.master && !(verb->flags & FA_NOTXN)) {
		/* A write, and this site is a replica. */
		pthread_rwlock_unlock(&conflock);
		free(rn.kept);
		fa_req_free(&rq);
		json_decref(call.out);
		fa_audit_uid = -1;
		if (*site == '\0')
			return forward(line, len, cr, role);
		fa_seterr(EX_TEMPFAIL, "this site is no longer the master; "
		    "try again");
		return answer(&call, EX_TEMPFAIL, fa_errmsg());
	}
	if (r == 0 && rn.kept != NULL)
		ans = json_loads(rn.kept, 0, NULL);
	else if (r == 0) {
		st = call.status;
		ans = answer(&call, st, call.msg);
		for (i = 0; i < call.nhooks; i++)
			if (fa_status_hook(conf, call.hook[i][0],
			    call.hook[i][1]) == -1) {
				if (w == NULL)
					w = json_array();
				json_array_append_new(w,
				    json_string(fa_errmsg()));
			}
		if (w != NULL)
			json_object_set_new(ans, "w", w);
	} else
		ans = answer(&call, fa_errstatus(), fa_errmsg());
	pthread_rwlock_unlock(&conflock);
	free(rn.kept);
	fa_req_free(&rq);
reply:
	fa_audit_uid = -1;
	json_decref(call.out);
	return ans;
}

/* Serves one request; the answer goes back on fd. */
static int
serve(int fd, const char *line, size_t len, const struct ucred *cr, int role)
{
	json_t *ans;
	int r;

	if ((ans = handle(line, len, cr, role, "")) == NULL)
		return -1;
	if (fa_vault_syncfailed && json_integer_value(json_object_get(ans,
	    "s")) == 0) {
		/* Committed before the failure was seen: not on disk. */
		json_decref(ans);
		fa_seterr(EX_TEMPFAIL, "vault: %s; try again", fa_vault_fatal);
		ans = json_pack("{s:i,s:s,s:{}}", "s", EX_TEMPFAIL, "e",
		    fa_errmsg(), "a");
		if (ans == NULL)
			_exit(EX_TEMPFAIL);
	}
	r = sendline(fd, ans);
	json_decref(ans);
	/* Nothing written after a failed fsync can be trusted: answer,
	 * then go; the next request starts a keeper that recovers. */
	if (fa_vault_syncfailed) {
		logmsg(LOG_CRIT, "%s: exiting; the next keeper recovers "
		    "what reached the disk", fa_vault_fatal);
		_exit(EX_TEMPFAIL);
	}
	return r;
}

/* ---- replication: repmgr's connections without Nagle ----
 * Repmgr sends a log record and then waits for the acknowledgement;
 * with Nagle's algorithm on, a small message waits for the peer's
 * delayed ACK (40 ms on Linux), twice a commit: group writes took 90 ms
 * against 17 ms without it. Berkeley DB 5.3 never sets TCP_NODELAY, so
 * the keeper is linked with --wrap=connect,--wrap=accept (see the
 * Makefile) and every TCP connection it makes or takes gets it. */
int __real_connect(int, const struct sockaddr *, socklen_t);
int __real_accept(int, struct sockaddr *, socklen_t *);

static void
nodelay(int s)
{
	int on = 1;

	/* Fails, harmlessly, on the keeper's own Unix socket. */
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

int
__wrap_connect(int s, const struct sockaddr *sa, socklen_t len)
{
	int r = __real_connect(s, sa, len);

	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		nodelay(s);
	return r;
}

int
__wrap_accept(int s, struct sockaddr *sa, socklen_t *len)
{
	int fd = __real_accept(s, sa, len);

	if (fd != -1)
		nodelay(fd);
	return fd;
}

/* ---- replication: writes a replica forwards to its master ----
 * The envelope {"uid", "pid", "role", "site", "line"}: the peer as this
 * replica knew it (the master trusts a sealed envelope: every site
 * holds the same master key) and its request line; sealed both ways
 * (fa_seal_msg). Its request id keeps a write applied once however
 * often it comes. */

/* envelope or answer j, sealed into d (d->data: malloc'd). The keys
 * are read under the config lock, which a rekey holds to change them;
 * the caller does not hold it. */
static int
sealjson(json_t *j, DBT *d)
{
	char *s;
	size_t n;
	int r = -1;

	memset(d, 0, sizeof(*d));
	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		return -1;
	n = strlen(s);
	pthread_rwlock_rdlock(&conflock);
	if (!vault.stopping && (d->data = malloc(FA_SEALLEN(n))) != NULL &&
	    fa_seal_msg(&vault.keys[0], (unsigned char *)s, n,
	    d->data) == 0) {
		d->size = (u_int32_t)FA_SEALLEN(n);
		r = 0;
	}
	pthread_rwlock_unlock(&conflock);
	if (r == -1) {
		free(d->data);
		d->data = NULL;
	}
	fa_jsonfree(s);
	return r;
}

/* A sealed message, opened and parsed; NULL if it does not open. */
static json_t *
openjson(const DBT *d)
{
	unsigned char *pt;
	size_t n;
	json_t *j = NULL;
	int r;

	if (d->size < FA_SEALLEN(0) || (pt = malloc(d->size)) == NULL)
		return NULL;
	pthread_rwlock_rdlock(&conflock);
	r = vault.stopping ? -1 : fa_open_msg(vault.keys, vault.nkeys,
	    d->data, d->size, pt, &n);
	pthread_rwlock_unlock(&conflock);
	if (r == 0)
		j = json_loadb((char *)pt, n, 0, NULL);
	sodium_memzero(pt, d->size);
	free(pt);
	return j;
}

/* The channel to the master, opened once and shared by every forward
 * (DB_EID_MASTER follows the master as it changes). One that fails is
 * retired: its last user closes it, and the next forward opens another.
 * Not one a request: Berkeley DB 5.3's repmgr_channel takes its
 * reference to a new connection only after the selector thread can see
 * it, and a master lost in between has the connection freed twice. */
static struct chan {
	DB_CHANNEL	*ch;
	int		 users, dead;
} *mchan;
static pthread_mutex_t chanlock = PTHREAD_MUTEX_INITIALIZER;

static struct chan *
changet(int *r)
{
	struct chan *c;

	pthread_mutex_lock(&chanlock);
	if ((c = mchan) == NULL && (c = calloc(1, sizeof(*c))) == NULL)
		*r = ENOMEM;
	else if (mchan == NULL && (*r = vault.env->repmgr_channel(vault.env,
	    DB_EID_MASTER, &c->ch, 0)) != 0) {
		free(c);
		c = NULL;
	} else {
		mchan = c;
		c->users++;
	}
	pthread_mutex_unlock(&chanlock);
	return c;
}

/* Done with it; failed: retire it. NULL: the keeper stops, so retire
 * the one in use (no forward is in flight then). */
static void
chanput(struct chan *c, int failed)
{
	pthread_mutex_lock(&chanlock);
	if (c == NULL) {
		if ((c = mchan) == NULL)
			goto out;
		c->users++;
		failed = 1;
	}
	if (failed) {
		c->dead = 1;
		if (mchan == c)
			mchan = NULL;
	}
	if (--c->users == 0 && c->dead) {
		(void)c->ch->close(c->ch, 0);
		free(c);
	}
out:
	pthread_mutex_unlock(&chanlock);
}

static json_t *
forward(const char *line, size_t len, const struct ucred *cr, int role)
{
	struct chan *ch;
	DBT req, resp;
	json_t *env, *ans = NULL;
	db_timeout_t wait;
	int r;

	/* The config may be reloaded meanwhile: what we need of it, now. */
	pthread_rwlock_rdlock(&conflock);
	env = json_pack("{s:i,s:i,s:i,s:s,s:s%}", "uid", (int)cr->uid, "pid",
	    (int)cr->pid, "role", role, "site", conf->repl.local, "line", line,
	    len);
	wait = (db_timeout_t)conf->vault_timeout * 1000000;
	pthread_rwlock_unlock(&conflock);
	if (env == NULL || sealjson(env, &req) == -1) {
		json_decref(env);
		return NULL;
	}
	json_decref(env);
	memset(&resp, 0, sizeof(resp));
	resp.flags = DB_DBT_MALLOC;
	/* Held to read while the request is out: a keeper that stops
	 * waits for it before it closes the environment. */
	pthread_rwlock_rdlock(&conflock);
	if (vault.stopping)
		r = DB_REP_UNAVAIL;
	else if ((ch = changet(&r)) != NULL) {
		r = ch->ch->send_request(ch->ch, &req, 1, &resp, wait, 0);
		chanput(ch, r != 0);
	}
	pthread_rwlock_unlock(&conflock);
	sodium_memzero(req.data, req.size);
	free(req.data);
	if (r == 0)
		ans = openjson(&resp);
	if (resp.data != NULL) {
		sodium_memzero(resp.data, resp.size);
		free(resp.data);
	}
	if (ans == NULL)
		ans = json_pack("{s:i,s:s,s:{}}", "s", EX_TEMPFAIL, "e", r != 0 ?
		    "this site is a replica and no master answered; try again" :
		    "the master's answer did not open; try again", "a");
	return ans;
}

/* The master's side: a forwarded request, served as if its peer had
 * asked here; the answer goes back on the channel. One that does not
 * open is dropped. */
static void
dispatch(DB_ENV *e, DB_CHANNEL *ch, DBT *req, u_int32_t n, u_int32_t flags)
{
	struct ucred cr;
	json_t *env, *ans;
	const char *line, *site;
	DBT d;

	(void)e;
	/* Not open yet: no answer, which the replica takes as "try
	 * again". */
	if (n != 1 || !(flags & DB_REPMGR_NEED_RESPONSE) || !opened)
		return;
	if ((env = openjson(req)) == NULL ||
	    (line = json_string_value(json_object_get(env, "line"))) == NULL ||
	    (site = json_string_value(json_object_get(env, "site"))) == NULL ||
	    *site == '\0') {
		json_decref(env);
		logmsg(LOG_WARNING, "dropped a forwarded request that does not "
		    "open");
		return;
	}
	memset(&cr, 0, sizeof(cr));
	cr.uid = (uid_t)json_integer_value(json_object_get(env, "uid"));
	cr.pid = (pid_t)json_integer_value(json_object_get(env, "pid"));
	ans = handle(line, json_string_length(json_object_get(env, "line")),
	    &cr, (int)json_integer_value(json_object_get(env, "role")), site);
	json_decref(env);
	if (ans != NULL && sealjson(ans, &d) == 0) {
		(void)ch->send_msg(ch, &d, 1, 0);
		sodium_memzero(d.data, d.size);
		free(d.data);
	}
	json_decref(ans);
}

/* The last answer is sent: close without a reset, which would throw
 * it away before the peer reads it (unread input makes close(2) send
 * one): stop writing, then read what the peer still sends, bounded. */
static void
hangup(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	shutdown(fd, SHUT_WR);
	while (total < 4 * FA_REQMAX && poll(&p, 1, 1000) == 1 &&
	    (n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	close(fd);
}

static void *
conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	struct refusal rf;
	char *buf;
	size_t len = 0, used, i;
	ssize_t n;
	int role;

	/* Requests may hold tokens: wiped as consumed and at the end. Not
	 * sodium_malloc: locking and guarding a buffer a connection made
	 * the keeper's share of a fresh-token read several times dearer. */
	if ((buf = malloc(FA_REQMAX)) == NULL)
		goto out;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == -1)
		goto out;
	reload();
	pthread_rwlock_rdlock(&conflock);
	role = roleof(fd, &cr);
	pthread_rwlock_unlock(&conflock);
	if (role == 0) {
		json_t *a = json_pack("{s:i,s:s,s:{}}", "s", EX_NOPERM, "e",
		    "this user may not use the vault (access in fa.conf)", "a");

		rf.uid = cr.uid;
		rf.pid = cr.pid;
		rf.verb = NULL;
		rf.binding = NULL;
		pthread_rwlock_rdlock(&conflock);
		(void)fa_vault_txn(&vault, auditrefusal, &rf);
		pthread_rwlock_unlock(&conflock);
		logmsg(LOG_WARNING, "refused uid %ld pid %ld", (long)cr.uid,
		    (long)cr.pid);
		if (a != NULL)
			(void)sendline(fd, a);
		json_decref(a);
		goto out;
	}
	for (;;) {
		/* Serve every whole line in the buffer. */
		for (used = 0, i = 0; i < len; i++) {
			if (buf[i] != '\n')
				continue;
			reload();
			if (serve(fd, buf + used, i - used, &cr,
			    role) == -1)
				goto out;
			used = i + 1;
		}
		memmove(buf, buf + used, len - used);
		sodium_memzero(buf + len - used, used);
		len -= used;
		if (len == FA_REQMAX) {
			json_t *a = json_pack("{s:i,s:s,s:{}}", "s", EX_DATAERR,
			    "e", "request longer than 65536 bytes", "a");

			if (a != NULL)
				(void)sendline(fd, a);
			json_decref(a);
			goto out;
		}
		if ((n = read(fd, buf + len, FA_REQMAX - len)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
out:
	if (buf != NULL)
		sodium_memzero(buf, FA_REQMAX);
	free(buf);
	hangup(fd);
	pthread_mutex_lock(&connlock);
	nconn--;
	pthread_mutex_unlock(&connlock);
	return NULL;
}

struct purge {
	int64_t	before;
	int	more;
};

/* Kept answers older than REQKEEP go, a batch a transaction. */
static int
purgereqs(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct purge *p = a;
	json_t *j;
	DBC *c;
	DBT k, d;
	int r, n = 0;

	p->more = 0;
	if ((r = v->reqs->cursor(v->reqs, t, &c, 0)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = d.flags = DB_DBT_REALLOC;
	while ((r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		j = json_loadb(d.data, d.size, 0, NULL);
		if (j == NULL || json_integer_value(json_object_get(j, "t")) <
		    p->before) {
			if ((r = c->del(c, 0)) != 0) {
				json_decref(j);
				break;
			}
			if (++n == 1000) {
				p->more = 1;
				json_decref(j);
				break;
			}
		}
		json_decref(j);
	}
	c->close(c);
	free(k.data);
	free(d.data);
	return r == DB_NOTFOUND ? 0 : r;
}

/* Now and then: write the cache out (so recovery at the next start is
 * short and old logs go), and forget old answers. */
static void *
housekeeping(void *arg)
{
	struct purge p;

	(void)arg;
	for (;;) {
		sleep(30);
		pthread_rwlock_rdlock(&conflock);
		fa_vault_checkpoint(&vault);
		p.before = fa_now() - REQKEEP;
		do
			if (fa_vault_txn(&vault, purgereqs, &p) == -1) {
				logmsg(LOG_ERR, "%s", fa_errmsg());
				break;
			}
		while (p.more);
		pthread_rwlock_unlock(&conflock);
		if (fa_vault_syncfailed) {
			logmsg(LOG_CRIT, "%s: exiting", fa_vault_fatal);
			_exit(EX_TEMPFAIL);
		}
	}
	return NULL;
}

static pthread_attr_t attr;
static int idle, workers;		/* under connlock */

/* Workers take turns: each waits in accept(2) and serves the connection
 * it takes itself, so a request wakes one thread, not an acceptor and
 * then a thread it makes. The last idle worker to take a connection
 * starts another before it serves, so one always waits; more than
 * SPARE idle ones stop. */
#define SPARE	4
static void *
worker(void *arg)
{
	pthread_t th;
	int fd, more;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&connlock);
		if (idle >= SPARE) {
			workers--;
			pthread_mutex_unlock(&connlock);
			return NULL;
		}
		idle++;
		pthread_mutex_unlock(&connlock);
		/* Out of descriptors or memory: a pause, not a spin. Only a
		 * socket shut by stop() ends the wait (EINVAL). */
		while ((fd = accept4(lsock, NULL, NULL, SOCK_CLOEXEC)) == -1 &&
		    errno != EINVAL && errno != EBADF)
			if (errno != EINTR && errno != ECONNABORTED)
				(void)poll(NULL, 0, 10);
		pthread_mutex_lock(&connlock);
		idle--;
		if (fd == -1) {		/* the socket is shut: stopping */
			workers--;
			pthread_mutex_unlock(&connlock);
			return NULL;
		}
		if (nconn >= MAXCONN) {
			pthread_mutex_unlock(&connlock);
			close(fd);
			continue;
		}
		nconn++;
		if ((more = idle == 0 && workers < MAXCONN))
			workers++;
		pthread_mutex_unlock(&connlock);
		/* No other worker: this connection is refused rather than
		 * served while none waits in accept. */
		if (more && pthread_create(&th, &attr, worker, NULL) != 0) {
			pthread_mutex_lock(&connlock);
			workers--;
			nconn--;
			pthread_mutex_unlock(&connlock);
			close(fd);
			continue;
		}
		conn((void *)(intptr_t)fd);
	}
}

static int
listensock(const struct fa_conf *c)
{
	struct sockaddr_un sa;
	int s, n;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = c->vault_socket[0] != '\0' ?
	    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->vault_socket) :
	    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", c->vault_dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return fa_seterr(EX_CONFIG, "%s: the vault's socket path is too "
		    "long: set vault_socket", c->path);
	memcpy(sockname, sa.sun_path, sizeof(sockname));
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return fa_seterr(1, "socket: %s", strerror(errno));
	/* We hold the vault's lock: a socket file left is a dead keeper's. */
	(void)unlink(sa.sun_path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    chmod(sa.sun_path, 0660) == -1 || listen(s, 256) == -1) {
		close(s);
		return fa_seterr(EX_CONFIG, "%s: %s", sa.sun_path,
		    strerror(errno));
	}
	return s;
}

/* Detached: the parent waits on a pipe for "ready" or for the child's
 * failure, and exits with its status; so whoever starts a keeper
 * learns whether it serves. The vault is opened in the child, after
 * the fork: a Berkeley DB environment never crosses one. */
static int
detach(void)
{
	char buf[600];
	int p[2], len = 0, st;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		close(p[0]);
		setsid();
		return p[1];
	}
	close(p[1]);
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0 ||
	    (n == -1 && errno == EINTR))
		len += n > 0 ? (int)n : 0;
	buf[len] = '\0';
	if (len > 0 && buf[0] == '0')
		_exit(0);
	if (len < 2) {
		/* It said nothing: say how it ended. */
		while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
			;
		if (WIFSIGNALED(st))
			fprintf(stderr, "fa-vaultd: the keeper died as it "
			    "started: signal %d\n", WTERMSIG(st));
		else
			fprintf(stderr, "fa-vaultd: the keeper died as it "
			    "started: exit %d\n", WEXITSTATUS(st));
		_exit(WIFEXITED(st) && WEXITSTATUS(st) != 0 ?
		    WEXITSTATUS(st) : 1);
	}
	/* Gone, and reaped, before whoever started it hears of it: the
	 * pid it left in the lock file is then no live process's. */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	fprintf(stderr, "fa-vaultd: %s\n", buf + 1);
	_exit((unsigned char)buf[0]);
}

/* -u USER (a name or a uid): root makes what USER cannot (vault_dir, the socket's
 * directory), then becomes USER, with USER's group alone, for good. The
 * lock, the environment, the keys and the socket are all USER's. */
static void
become(const char *user, const struct fa_conf *c)
{
	struct passwd *pw;
	char dir[PATH_MAX], *slash;
	unsigned long v;
	gid_t gid;

	/* A name, or a uid (what a client that starts us knows). */
	if (*user != '\0' && user[strspn(user, "0123456789")] == '\0') {
		errno = 0;
		v = strtoul(user, NULL, 10);
		if (errno != 0 || (uid_t)v != v || (uid_t)v == (uid_t)-1)
			errx(EX_USAGE, "-u %s: no such user", user);
		pw = getpwuid((uid_t)v);
	} else
		pw = getpwnam(user);
	if (pw == NULL)
		errx(EX_USAGE, "-u %s: no such user", user);
	if (geteuid() != 0)
		errx(EX_USAGE, "-u %s: only root can become another user", user);
	gid = pw->pw_gid;
	if (mkdir(c->vault_dir, 0700) == 0 &&
	    (chown(c->vault_dir, pw->pw_uid, gid) == -1 ||
	    chmod(c->vault_dir, 0700) == -1))
		err(EX_CONFIG, "%s", c->vault_dir);
	if (c->vault_socket[0] != '\0') {
		snprintf(dir, sizeof(dir), "%s", c->vault_socket);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0750) == 0 &&
			    (chown(dir, pw->pw_uid, gid) == -1 ||
			    chmod(dir, 0750) == -1))
				err(EX_CONFIG, "%s", dir);
		}
	}
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setuid(pw->pw_uid) == -1)
		err(1, "cannot become %s", user);
	if (pw->pw_uid != 0 && setuid(0) != -1)
		errx(1, "became %s, yet could become root again", user);
	/* What jobs and hooks see is USER's, not the starter's. */
	if (setenv("HOME", pw->pw_dir, 1) == -1 ||
	    setenv("USER", pw->pw_name, 1) == -1 ||
	    setenv("LOGNAME", pw->pw_name, 1) == -1)
		err(1, "setenv");
}

/* The failure, to whoever started us (detach). */
static void
tell(int ready)
{
	char buf[600];
	int n;

	n = snprintf(buf, sizeof(buf), "%c%s", fa_errstatus(), fa_errmsg());
	(void)!write(ready, buf, n < (int)sizeof(buf) ? n : (int)sizeof(buf));
}

static void __attribute__((noreturn))
fail(int ready)
{
	if (ready == -1)
		fa_die();
	tell(ready);
	_exit(fa_errstatus());
}

static void stop(int) __attribute__((noreturn));

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	pthread_t th;
	sigset_t stopset;
	pthread_rwlockattr_t rwattr;
	const char *cfarg = NULL, *user = NULL;
	int ch, ready = -1, nul, sig;

	if (fa_secure_init() == -1)
		fa_die();
	while ((ch = getopt(argc, argv, "c:fu:")) != -1) {
		switch (ch) {
		case 'u':
			user = optarg;
			break;
		case 'c':
			cfarg = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 0)
		usage();
	/* Nothing of whoever started us: a pipe we held open would keep
	 * its reader waiting for as long as we live. */
	close_range(3, ~0U, 0);
	started = time(NULL);
	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		err(1, NULL);
	if (fa_conf_load(conf, cfarg) == -1 || resolveaccess(conf) == -1)
		fa_die();
	snprintf(confpath, sizeof(confpath), "%s", conf->path);
	(void)stat(confpath, &confst);
	if (user != NULL)
		become(user, conf);
	if (!foreground)
		ready = detach();
	openlog("fa-vaultd", LOG_PID, LOG_DAEMON);
	fa_job_log = jobline;
	fa_vault_dispatch = dispatch;
	pthread_rwlockattr_init(&rwattr);
	pthread_rwlockattr_setkind_np(&rwattr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&conflock, &rwattr);
	if (fa_vault_open(&vault, conf, FA_VAULT_CREATE) == -1)
		fail(ready);
	opened = 1;
	/* A vault from before the kept counts is counted once, before
	 * anyone else writes, by a keeper that may write it. */
	if ((!vault.repl || vault.master) && fa_census_build(&vault) == -1) {
		fa_vault_close(&vault);
		fail(ready);
	}
	if ((lsock = listensock(conf)) == -1) {
		fa_vault_close(&vault);
		fail(ready);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* Every thread but this one blocks the stopping signals. */
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stopset, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	workers = 1;
	if (pthread_create(&th, &attr, housekeeping, NULL) != 0 ||
	    pthread_create(&th, &attr, worker, NULL) != 0) {
		fa_seterr(1, "cannot start a thread");
		fa_vault_close(&vault);
		fail(ready);
	}
	/* Detached for good: nothing of the starter's stays open (its
	 * pipe as our stderr would keep it waiting as long as we live),
	 * and it hears that we serve. Or it hears why not (75), or, the
	 * pipe failing too, our exit status; and we stop. */
	if (ready != -1) {
		if ((nul = open("/dev/null", O_RDWR)) == -1) {
			fa_seterr(EX_TEMPFAIL, "/dev/null: %s", strerror(errno));
			tell(ready);
			stop(EX_TEMPFAIL);
		}
		if (write(ready, "0", 1) != 1)
			stop(EX_TEMPFAIL);
		close(ready);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
	logmsg(LOG_INFO, "serving %s on %s", conf->vault_dir, sockname);
	while (sigwait(&stopset, &sig) != 0 || sig == SIGHUP)
		;
	stop(0);
}

/* Stops: waits for the requests in flight, refuses those after them,
 * checkpoints and closes, and exits with status. */
static void
stop(int status)
{
	shutdown(lsock, SHUT_RDWR);
	/* Stopped: wait for the requests in flight (each holds the config
	 * lock to read), and refuse the ones after them, then checkpoint
	 * and close. The lock is let go before the close: closing joins
	 * replication's threads, which may be waiting for it to read a
	 * forwarded request (they find us stopping and drop it). Idle
	 * connections just go with us. */
	pthread_rwlock_wrlock(&conflock);
	vault.stopping = 1;
	pthread_rwlock_unlock(&conflock);
	chanput(NULL, 1);
	(void)unlink(sockname);
	fa_vault_close(&vault);
	logmsg(LOG_INFO, "stopped");
	_exit(status);
}
