/* job.c: the keeper's jobs (job.h). Each is one of our programs (two
 * for a connect: fa-exchange | fa-vault store) with a fixed argv whose
 * operands are checked names, a minimal environment, stdout discarded
 * (or piped to the next), and stderr kept: its lines, which never hold
 * a secret, are the answer. A job's processes form a process group,
 * killed whole after JOB_SECS. */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "diag.h"
#include "exec.h"
#include "job.h"
#include "proto.h"
#include "url.h"

#define JOB_SECS	600	/* then its processes are killed */
#define MAXJOBS		64	/* at once */
#define MAXLINES	20	/* of its stderr, kept */
#define LINELEN		400

void	(*fa_job_log)(const char *);

static const struct kind {
	const char	*name;
	int		 roles;		/* who may ask, besides admin */
	int		 binding;	/* it names one */
} kinds[] = {
	{ "connect",	FA_DASHBOARD,			0 },
	{ "prefetch",	FA_DASHBOARD | FA_WORKER,	1 },
	{ "revoke",	FA_DASHBOARD | FA_WORKER,	1 },
	{ "refresh",	FA_WORKER,			1 },
	{ "sweep",	FA_WORKER,			0 },
	{ "stale",	FA_WORKER,			0 },
	{ NULL,		0,				0 }
};

static int njobs;
static pthread_mutex_t jobmx = PTHREAD_MUTEX_INITIALIZER;

struct run {
	char	 name[16];
	char	 binding[65];
	pid_t	 pid[2];
	int	 npid;
	int	 err;		/* the read end of their stderr */
	int	 status[2];
	json_t	*lines;
};

static void
keepline(struct run *rn, char *line)
{
	if (json_array_size(rn->lines) >= MAXLINES || *line == '\0')
		return;
	line[strnlen(line, LINELEN)] = '\0';
	json_array_append_new(rn->lines, json_string(fa_noctl(line)));
}

/* Reads the job's stderr to its end, or to the deadline, when its
 * processes are killed; then reaps them. */
static void
finish(struct run *rn)
{
	struct pollfd p = { rn->err, POLLIN, 0 };
	char buf[LINELEN + 1], line[LINELEN + 1];
	time_t end = time(NULL) + JOB_SECS;
	size_t len = 0, i;
	ssize_t n;
	int k, st;

	for (;;) {
		if (time(NULL) >= end) {
			kill(-rn->pid[0], SIGKILL);
			snprintf(line, sizeof(line), "killed after %d s",
			    JOB_SECS);
			keepline(rn, line);
			break;
		}
		if (poll(&p, 1, 1000) == -1 && errno != EINTR)
			break;
		if (p.revents == 0)
			continue;
		if ((n = read(rn->err, buf, sizeof(buf) - 1)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i] == '\n' || len == LINELEN) {
				line[len] = '\0';
				keepline(rn, line);
				len = 0;
			}
			if (buf[i] != '\n')
				line[len++] = buf[i];
		}
	}
	line[len] = '\0';
	keepline(rn, line);
	close(rn->err);
	for (k = 0; k < rn->npid; k++) {
		while (waitpid(rn->pid[k], &st, 0) == -1 && errno == EINTR)
			;
		rn->status[k] = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
}

static void
done(struct run *rn)
{
	json_decref(rn->lines);
	free(rn);
	pthread_mutex_lock(&jobmx);
	njobs--;
	pthread_mutex_unlock(&jobmx);
}

/* A job nobody waits for: its lines go to the log. */
static void *
unwaited(void *arg)
{
	struct run *rn = arg;
	char msg[LINELEN + 100];
	json_t *l;
	size_t i;

	finish(rn);
	json_array_foreach(rn->lines, i, l) {
		snprintf(msg, sizeof(msg), "job %s %s: %s", rn->name,
		    rn->binding, json_string_value(l));
		if (fa_job_log != NULL)
			fa_job_log(msg);
	}
	done(rn);
	return NULL;
}

/* Starts the job: 0, or -1 with the error set. */
static int
launch(struct run *rn, const char *conf, const char *tenant,
    const char *query, int force, long secs)
{
	char *argv[8], num[24];
	int e[2], q[2] = { -1, -1 }, x[2] = { -1, -1 }, n = 0, r = -1;
	size_t len;

	if (pipe2(e, O_CLOEXEC) == -1)
		return fa_seterr(EX_TEMPFAIL, "pipe: %s", strerror(errno));
	rn->err = e[0];
	if (strcmp(rn->name, "connect") == 0) {
		/* The callback's query on fa-exchange's stdin: it fits in
		 * the pipe, so it is written before the child reads. */
		len = strlen(query);
		if (pipe2(q, O_CLOEXEC) == -1 || pipe2(x, O_CLOEXEC) == -1 ||
		    write(q[1], query, len) != (ssize_t)len ||
		    write(q[1], "\n", 1) != 1)
			goto out;
		close(q[1]);
		q[1] = -1;
		argv[n++] = "fa-exchange";
		argv[n++] = "-c";
		argv[n++] = (char *)conf;
		if (tenant != NULL) {
			argv[n++] = "-t";
			argv[n++] = (char *)tenant;
		}
		argv[n] = NULL;
		if ((rn->pid[0] = fa_spawn(argv, q[0], x[1], e[1], 0)) == -1)
			goto out;
		rn->npid = 1;
		argv[0] = "fa-vault";
		argv[3] = "store";
		argv[4] = NULL;
		if ((rn->pid[1] = fa_spawn(argv, x[0], -1, e[1],
		    rn->pid[0])) == -1) {
			kill(-rn->pid[0], SIGKILL);
			goto out;
		}
		rn->npid = 2;
		r = 0;
		goto out;
	}
	argv[n++] = strcmp(rn->name, "refresh") == 0 ||
	    strcmp(rn->name, "sweep") == 0 ? "fa-refresh" :
	    strcmp(rn->name, "revoke") == 0 ? "fa-revoke" : "fa-prefetch";
	argv[n++] = "-c";
	argv[n++] = (char *)conf;
	if (strcmp(rn->name, "sweep") == 0)
		argv[n++] = "--due";
	else if (strcmp(rn->name, "stale") == 0) {
		snprintf(num, sizeof(num), "%ld", secs);
		argv[n++] = "--stale";
		argv[n++] = num;
	} else {
		if (force)
			argv[n++] = "-f";
		if (tenant != NULL && strcmp(rn->name, "revoke") == 0) {
			argv[n++] = "-t";
			argv[n++] = (char *)tenant;
		}
		argv[n++] = "--";
		argv[n++] = rn->binding;
	}
	argv[n] = NULL;
	if ((rn->pid[0] = fa_spawn(argv, -1, -1, e[1], 0)) != -1) {
		rn->npid = 1;
		r = 0;
	}
out:
	if (r == -1 && rn->npid == 0)
		fa_seterr(EX_TEMPFAIL, "the job %s could not start", rn->name);
	close(e[1]);
	if (q[0] != -1)
		close(q[0]);
	if (q[1] != -1)
		close(q[1]);
	if (x[0] != -1)
		close(x[0]);
	if (x[1] != -1)
		close(x[1]);
	return r == -1 && rn->npid == 0 ? -1 : 0;
}

struct ask {
	const struct kind	*kind;
	const char		*binding;
	const char		*tenant;
	const struct fa_call	*c;
	int			 refused;
};

/* The binding is there (and, for a tenant, its), and the ask is in
 * the audit log, with who asked; or the refusal is. */
static int
check(struct fa_vault *v, DB_TXN *t, void *arg)
{
	struct ask *a = arg;
	json_t *b = NULL;
	int r;

	if (a->refused)
		return fa_audit(v, t, a->binding, a->tenant, "job", "refused",
		    "%s asked by uid %ld pid %ld", a->kind->name,
		    (long)a->c->uid, (long)a->c->pid);
	if (a->binding != NULL &&
	    (r = fa_binding_get(v, t, a->binding, a->tenant, &b, 0)) != 0)
		return r;
	r = fa_audit(v, t, a->binding, b != NULL ? fa_jstr(b, "tenant") :
	    a->tenant, "job", a->kind->name, "asked by uid %ld pid %ld",
	    (long)a->c->uid, (long)a->c->pid);
	json_decref(b);
	return r;
}

int
fa_job(struct fa_vault *v, pthread_rwlock_t *lock, const char *conf,
    struct fa_call *c)
{
	const struct kind *k;
	const char *name, *binding, *tenant, *query;
	struct ask a;
	struct run *rn;
	pthread_t th;
	int64_t force, secs;
	int r;

	if (fa_arg_str(c->in, "job", 15, 1, &name) == -1 ||
	    fa_arg_id(c->in, "binding", 0, &binding) == -1 ||
	    fa_arg_id(c->in, "tenant", 0, &tenant) == -1 ||
	    fa_arg_int(c->in, "force", 0, 1, 0, &force) == -1 ||
	    fa_arg_int(c->in, "secs", 0, 3650L * 86400, 86400, &secs) == -1 ||
	    fa_arg_str(c->in, "query", FA_QMAXLEN, 0, &query) == -1)
		return -1;
	for (k = kinds; k->name != NULL && strcmp(k->name, name) != 0; k++)
		;
	if (k->name == NULL)
		return fa_seterr(EX_USAGE, "no job %s", name);
	if (k->binding && binding == NULL)
		return fa_seterr(EX_USAGE, "the job %s names a binding", name);
	if (k->binding == 0)
		binding = NULL;
	if (strcmp(name, "connect") == 0 && query == NULL)
		return fa_seterr(EX_USAGE, "the job connect needs the "
		    "callback's query");
	memset(&a, 0, sizeof(a));
	a.kind = k;
	a.binding = binding;
	a.tenant = tenant;
	a.c = c;
	a.refused = (c->role & (FA_ADMIN | k->roles)) == 0;
	pthread_rwlock_rdlock(lock);
	r = fa_vault_txn(v, check, &a);
	pthread_rwlock_unlock(lock);
	if (a.refused)
		return fa_seterr(EX_NOPERM, "this user may not run the job %s",
		    name);
	if (r != 0)
		return -1;
	if ((rn = calloc(1, sizeof(*rn))) == NULL ||
	    (rn->lines = json_array()) == NULL) {
		free(rn);
		return fa_seterr(1, "out of memory");
	}
	snprintf(rn->name, sizeof(rn->name), "%s", name);
	snprintf(rn->binding, sizeof(rn->binding), "%s", binding ? binding :
	    "");
	pthread_mutex_lock(&jobmx);
	r = njobs < MAXJOBS ? ++njobs : 0;
	pthread_mutex_unlock(&jobmx);
	if (r == 0) {
		json_decref(rn->lines);
		free(rn);
		return fa_seterr(EX_TEMPFAIL, "%d jobs run already; try again",
		    MAXJOBS);
	}
	if (launch(rn, conf, tenant, query, (int)force, (long)secs) == -1) {
		done(rn);
		return -1;
	}
	if (json_is_false(json_object_get(c->in, "wait"))) {
		if (pthread_create(&th, NULL, unwaited, rn) == 0) {
			pthread_detach(th);
			json_object_set_new(c->out, "started", json_true());
			return 0;
		}
	}
	finish(rn);
	json_object_set_new(c->out, "exit", json_integer(rn->status[0]));
	if (rn->npid == 2)
		json_object_set_new(c->out, "store",
		    json_integer(rn->status[1]));
	json_object_set(c->out, "stderr", rn->lines);
	done(rn);
	return 0;
}
