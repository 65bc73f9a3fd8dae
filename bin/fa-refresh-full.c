/* fa-refresh-full: hand out fresh access tokens, refreshing first when
 * due; --due: the cron sweep over every due binding. fa-refresh (its
 * static front, bin/fa-refresh.c) executes it for everything but a
 * fresh token; its messages name fa-refresh. A client of the keeper
 * (fa-vaultd(8)), which keeps the tokens and the lease: this process
 * asks FreeAgent and hands the keeper what it said. */
#include <err.h>
#include <stddef.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "http.h"
#include "oauth.h"
#include "proto.h"
#include "secmem.h"
#include "url.h"
#include "vaultc.h"

#define FINISH_SECS	30	/* to commit rotated tokens, keepers dying */
#define FORMLEN		(FA_TOKLEN * 3 + 64)	/* a grant's body */

static struct fa_conf conf;
/* How long a lease holds: the worst case of what it covers, so that
 * nobody takes it over while its holder may still commit what FreeAgent
 * sent: the requests (a grant and a probe each: its own, and, held, the
 * rounds of its window; see struct pump), then finish(), FINISH_SECS,
 * and 10 s to spare. */
static long leasesecs;

enum { FRESH, BUSY, LEASED, DONE, DUE };

struct job {
	char		 id[65];
	int		 force;
	int		 state;
	int		 rv;		/* exit status of this binding */
	int		 quiet;		/* not connected: not news */
	int		 lost;		/* rotated tokens no keeper stored */
	char		 msg[400];
	char		 endpoint[FA_NAMELEN];
	char		 tenant[65];
	uint64_t	 tokver;
	pid_t		 holder;	/* BUSY: the lease holder */
	struct fa_tokens *tok;
	char		*secret;
	char		 client[65];	/* fa_client_hash of the client used */
	char		*form;		/* the grant's body: secret */
	long		 retry_after;
	struct fa_http	 req;		/* its token request */
	long		 seq;		/* the pump's count at its result */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-refresh [-c file] [-p | -H] [-f] binding\n"
	    "       fa-refresh [-c file] --due\n"
	    "       fa-refresh [-c file] --probe binding | --probe --all\n");
	exit(EX_USAGE);
}

/* The keeper's answer to refresh.take, into j. Tokens come only with
 * "fresh" and "leased"; the last ones received are kept otherwise. */
static int
taken(struct job *j, json_t *a)
{
	const char *st = fa_jstr(a, "state");

	snprintf(j->tenant, sizeof(j->tenant), "%s", fa_jstr(a, "tenant"));
	j->quiet = json_is_true(json_object_get(a, "quiet"));
	if (strcmp(st, "done") == 0) {
		j->state = DONE;
		j->rv = (int)json_integer_value(json_object_get(a, "status"));
		snprintf(j->msg, sizeof(j->msg), "%s", fa_jstr(a, "message"));
		return 0;
	}
	if (strcmp(st, "due") == 0) {
		j->state = DUE;
		return 0;
	}
	if (strcmp(st, "busy") == 0) {
		j->state = BUSY;
		j->holder = (pid_t)json_integer_value(json_object_get(a,
		    "holder"));
		return 0;
	}
	if (strcmp(st, "fresh") != 0 && strcmp(st, "leased") != 0)
		return fa_seterr(1, "%s: the vault keeper answered no state",
		    j->id);
	if (!fa_tokenok(fa_jstr(a, "access")) ||
	    !fa_tokenok(fa_jstr(a, "refresh")))
		return fa_seterr(1, "%s: the vault keeper sent no tokens",
		    j->id);
	strcpy(j->tok->access, fa_jstr(a, "access"));
	strcpy(j->tok->refresh, fa_jstr(a, "refresh"));
	j->tok->expires_at = json_integer_value(json_object_get(a,
	    "expires_at"));
	j->tok->refresh_expires_at = json_integer_value(json_object_get(a,
	    "refresh_expires_at"));
	snprintf(j->endpoint, sizeof(j->endpoint), "%s",
	    fa_jstr(a, "endpoint"));
	j->tokver = (uint64_t)json_integer_value(json_object_get(a, "tokver"));
	j->state = *st == 'f' ? FRESH : LEASED;
	return 0;
}

/* Looks at the binding and, when a refresh is due and nobody else is
 * doing it, takes the lease: "refreshing by this process until T". */
static int
take(struct job *j)
{
	json_t *args, *a;
	int r;

	args = json_pack("{s:s,s:i,s:I}", "binding", j->id, "force",
	    j->force, "lease", (json_int_t)leasesecs);
	r = fa_ask(&conf, "refresh.take", args, &a);
	json_decref(args);
	if (r == 0)
		r = taken(j, a);
	json_decref(a);
	return r;
}

/* Hands the keeper what the token endpoint said; it commits new tokens
 * durably before anybody is handed the access token. Rotated tokens
 * must not be lost with a keeper that died or could not commit: the
 * request goes to keeper after keeper until one commits it or the
 * deadline passes. Sent twice, it is applied once (its request id, and
 * the lease it ends). */
static void
finish(struct job *j)
{
	json_t *args, *a;
	const char *st;
	time_t start = time(NULL);
	struct timespec ts = { 0, 100000000L };
	int r, left;

	args = json_pack("{s:s,s:I,s:i,s:s,s:I}", "binding", j->id, "tokver",
	    (json_int_t)j->tokver, "rv", j->rv, "message", j->msg,
	    "retry_after", (json_int_t)j->retry_after);
	if (j->rv == FA_GRANT_OK)
		json_object_update_new(args, json_pack("{s:s,s:s,s:I,s:I}",
		    "access", j->tok->access, "refresh", j->tok->refresh,
		    "expires_at", (json_int_t)j->tok->expires_at,
		    "refresh_expires_at",
		    (json_int_t)j->tok->refresh_expires_at));
	for (;;) {
		left = FINISH_SECS - (int)(time(NULL) - start);
		r = fa_ask_until(&conf, "refresh.finish", args, &a,
		    left > 0 ? left : 1);
		if (r == 0 || fa_errstatus() != EX_TEMPFAIL ||
		    time(NULL) - start >= FINISH_SECS)
			break;
		json_decref(a);
		nanosleep(&ts, NULL);
	}
	json_decref(args);
	st = r == 0 ? fa_jstr(a, "state") : "";
	if (r == -1 || (strcmp(st, "busy") == 0 && j->rv == FA_GRANT_OK)) {
		/* Rotated, and not kept (no keeper, or our lease lapsed
		 * and another process took it over): never hand out the
		 * new access token as if all were well, nor drop it in
		 * silence. */
		j->lost = j->rv == FA_GRANT_OK;
		j->state = DONE;
		j->rv = r == -1 ? fa_errstatus() : EX_TEMPFAIL;
		snprintf(j->msg, sizeof(j->msg), "%s: %s%s", j->id,
		    j->lost ? "FreeAgent's new tokens could not be stored, "
		    "so it may need a reconnect: " : "", r == -1 ?
		    fa_errmsg() : "another process took the refresh over");
	} else if (strcmp(st, "fresh") == 0)
		j->state = FRESH;
	else if (strcmp(st, "busy") == 0) {
		/* Our lease lapsed and another process refreshed
		 * meanwhile: its tokens are the newest. */
		j->state = BUSY;
		j->holder = 0;
	} else
		j->state = DONE;
	json_decref(a);
}

/* A leased job that fails before its request: keeps its lease, which
 * finish() releases while recording the failure. */
static void
jerr(struct job *j, int rv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->msg, sizeof(j->msg), fmt, ap);
	va_end(ap);
	j->rv = rv;
}

/* ---- the token requests: a pump ----
 * Leased jobs come from a source; their requests run refresh_concurrency
 * at once; each result is committed as it comes, and the slot it frees
 * starts the next job at once.
 *
 * A 401 that the probe could not pin on the grant: the client is good,
 * and so the grant refused, only if this client got tokens within a
 * window of refresh_concurrency x 4 results around it, or it is the
 * only such answer in the window and the client worked in the last day.
 * Many at once with no success is what a revoked client secret looks
 * like: 78, nobody marked. Such a job is held (with its lease) until an
 * answer decides it or its window closes. */
struct pump {
	struct job	*(*source)(void *);	/* the next leased job */
	void		 (*sink)(struct job *, void *);	/* one is done */
	void		*arg;
	struct job	**held;		/* oldest first */
	int		 nheld;
	int		 window;
	long		 seq;			/* results so far */
	long		 lastok[FA_MAXEP];	/* seq of each endpoint's last */
};

#define JOB(r)	((struct job *)((char *)(r) - offsetof(struct job, req)))

/* Its request, or -1 and the failure in the job. */
static int
prep(struct job *j)
{
	const struct fa_endpoint *e;

	if ((e = fa_conf_endpoint(&conf, j->endpoint)) == NULL) {
		jerr(j, EX_CONFIG, "%s: its tokens are for endpoint %s, which "
		    "%s no longer defines", j->id, j->endpoint, conf.path);
		return -1;
	}
	if ((j->secret = fa_client_secret(&conf, e)) == NULL) {
		jerr(j, FA_GRANT_CLIENT, "%s: %s", j->id, fa_errmsg());
		return -1;
	}
	if ((j->form = fa_secalloc(FORMLEN)) == NULL) {
		jerr(j, 1, "%s: out of secure memory", j->id);
		return -1;
	}
	snprintf(j->form, FORMLEN, "grant_type=refresh_token&refresh_token=");
	if (fa_urlencode(j->form, FORMLEN, j->tok->refresh)) {
		jerr(j, 1, "%s: refresh token too long", j->id);
		return -1;
	}
	fa_client_hash(e, j->secret, j->client);
	fa_grant_req(&j->req, &conf, e, j->form, j->secret);
	return 0;
}

/* The job's result to the keeper; its secrets wiped. */
static void
settle(struct pump *p, struct job *j)
{
	fa_http_free(&j->req);
	fa_secfree(j->form);
	j->form = NULL;
	finish(j);
	fa_secfree(j->secret);
	j->secret = NULL;
	p->sink(j, p->arg);
}

static int
epindex(const struct job *j)
{
	const struct fa_endpoint *e = fa_conf_endpoint(&conf, j->endpoint);

	return e != NULL ? (int)(e - conf.ep) : 0;
}

static void
refused(struct job *j)
{
	j->rv = FA_GRANT_REFUSED;
	snprintf(j->msg, sizeof(j->msg), "%s: %s refused the grant (HTTP "
	    "401) while its client is good", j->id, j->req.url);
}

/* Settles the held jobs: those of endpoint ep (-1: all), or those whose
 * window has closed. */
static void
decide(struct pump *p, int ep, int closed)
{
	struct job *j;
	int i, k, e, amb[FA_MAXEP] = { 0 };

	for (i = 0; i < p->nheld; i++)
		amb[epindex(p->held[i])]++;
	for (i = 0, k = 0; i < p->nheld; i++) {
		j = p->held[i];
		e = epindex(j);
		if ((ep != -1 && e != ep) || (closed &&
		    p->seq - j->seq < p->window)) {
			p->held[k++] = j;
			continue;
		}
		if ((p->lastok[e] > 0 && p->lastok[e] >= j->seq - p->window) ||
		    (amb[e] == 1 && fa_gate_vault.known(&conf, j->endpoint,
		    j->client)))
			refused(j);
		settle(p, j);
	}
	p->nheld = k;
}

static struct fa_http *
pumpnext(void *arg)
{
	struct pump *p = arg;
	struct job *j;

	while ((j = p->source(p->arg)) != NULL) {
		if (prep(j) == 0)
			return &j->req;
		settle(p, j);
	}
	return NULL;
}

static void
pumpdone(struct fa_http *r, void *arg)
{
	struct pump *p = arg;
	struct job *j = JOB(r);
	int e = epindex(j);

	j->seq = ++p->seq;
	j->rv = fa_grant_res(&conf, &fa_gate_vault, fa_conf_endpoint(&conf,
	    j->endpoint), r, j->secret, j->tok, &j->retry_after, 0);
	if (j->rv == FA_GRANT_OK) {
		fa_gate_vault.worked(&conf, j->endpoint, j->client);
		p->lastok[e] = j->seq;
		settle(p, j);
		decide(p, e, 0);	/* its held 401s were the grants' */
	} else {
		snprintf(j->msg, sizeof(j->msg), "%s: %s", j->id, fa_errmsg());
		if (j->rv == FA_GRANT_CLIENT && r->status == 401)
			p->held[p->nheld++] = j;
		else
			settle(p, j);
	}
	decide(p, -1, 1);
}

static void
pump(struct job *(*source)(void *), void (*sink)(struct job *, void *),
    void *arg)
{
	struct pump p;

	memset(&p, 0, sizeof(p));
	p.source = source;
	p.sink = sink;
	p.arg = arg;
	p.window = (int)conf.refresh_concurrency * 4;
	if ((p.held = calloc(p.window + 1, sizeof(*p.held))) == NULL)
		errx(1, "out of memory");
	fa_http_stream((int)conf.refresh_concurrency, pumpnext, pumpdone, &p);
	decide(&p, -1, 0);
	free(p.held);
}

static void
waitfor(struct job *j, int try)
{
	struct timespec ts = { 0, 20000000L * (try < 10 ? try + 1 : 10) };

	(void)j;
	nanosleep(&ts, NULL);
}

static struct job *
onlyone(void *arg)
{
	struct job **jp = arg, *j = *jp;

	*jp = NULL;
	return j;
}

static void
nosink(struct job *j, void *arg)
{
	(void)j;
	(void)arg;
}

/* The keeper's job refresh, for a process that holds no client
 * secret: its exit status, or -1. */
static int
delegate(struct job *j)
{
	json_t *args;
	int r;

	args = json_pack("{s:s,s:s,s:i}", "job", "refresh", "binding", j->id,
	    "force", j->force == 1);
	r = fa_delegate(&conf, args);
	json_decref(args);
	return r;
}

/* A fresh token for j->id in j->tok (secure memory, the caller's):
 * refreshed first when due, by us or, holding no client secret, by the
 * keeper. 0, or -1 with j->rv and j->msg. */
static int
fresh(struct job *j, int force)
{
	struct job *only;
	time_t start = time(NULL);
	int try, waited = 0, delegated = 0, r = 0;

	j->force = force;
	for (try = 0;; try++) {
		if (take(j) == -1)
			fa_die();
		if (j->state == LEASED) {
			only = j;
			pump(onlyone, nosink, &only);
			if (j->state == FRESH)
				break;
			/* A short Retry-After is worth waiting out, once. */
			if (j->state == DONE && j->rv == EX_TEMPFAIL &&
			    !waited && j->retry_after > 0 &&
			    j->retry_after <= FA_RETRY_WAIT) {
				waited = 1;
				sleep((unsigned)j->retry_after);
				j->force = 1;	/* past our own retry_at */
				j->rv = 0;
				continue;
			}
		}
		if (j->state == FRESH || j->state == DONE)
			break;
		if (j->state == DUE) {
			/* We hold no client secret: the keeper runs the
			 * refresh, as the user that does; then we read. */
			if (delegated++ || (r = delegate(j)) != 0) {
				j->state = DONE;
				j->rv = delegated > 1 ? 1 : r == -1 ?
				    fa_errstatus() : r;
				snprintf(j->msg, sizeof(j->msg), "%s: %s", j->id,
				    r == -1 ? fa_errmsg() : "not refreshed");
				break;
			}
			j->force = 0;
			continue;
		}
		/* BUSY: another process is refreshing; wait for its lease
		 * to end (or its holder to die), then read the vault again.
		 * Its new token will be fresh: no second refresh. */
		j->force = 0;
		if (time(NULL) - start > leasesecs + 10) {
			j->rv = EX_TEMPFAIL;
			snprintf(j->msg, sizeof(j->msg), "%s: another process "
			    "has been refreshing it for too long; try again",
			    j->id);
			break;
		}
		waitfor(j, try);
	}
	if (j->state == DONE && j->rv == EX_TEMPFAIL && !force && !j->lost &&
	    j->tok->expires_at > fa_now() + 30) {
		warnx("%s; the current token is good for %lld s more", j->msg,
		    (long long)(j->tok->expires_at - fa_now()));
		j->state = FRESH;
	}
	return j->state == FRESH ? 0 : -1;
}

static int
one(const char *id, int force, int print)
{
	struct job j;
	int r;

	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%s", id);
	if ((j.tok = fa_secalloc(sizeof(*j.tok))) == NULL)
		errx(1, "out of secure memory");
	r = fresh(&j, force);
	fa_vaultc_close();
	if (r == -1) {
		fa_secfree(j.tok);
		errx(j.rv ? j.rv : 1, "%s", j.msg);
	}
	if (print == 'p')
		printf("%s\n", j.tok->access);
	else if (print == 'H')
		printf("Authorization: Bearer %s\n", j.tok->access);
	fa_secfree(j.tok);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	return 0;
}

/* The sweep: every binding due by the index, each job taken (leased)
 * only when a slot is free for its request. */
struct sweep {
	json_t		*ids;
	size_t		 next;
	struct job	**free;		/* a stack of idle jobs */
	int		 nfree;
	int		 failed;
};

static void
report(struct sweep *sw, struct job *j)
{
	/* Not connected (needs_reconnect ...) is not news. */
	if (j->state == DONE && j->rv != 0 && !j->quiet) {
		fprintf(stderr, "fa-refresh: %s\n", j->msg);
		sw->failed++;
	}
	sodium_memzero(j->tok, sizeof(*j->tok));
	sw->free[sw->nfree++] = j;
}

static struct job *
sweepnext(void *arg)
{
	struct sweep *sw = arg;
	struct fa_tokens *tok;
	struct job *j;

	while (sw->next < json_array_size(sw->ids)) {
		j = sw->free[--sw->nfree];
		tok = j->tok;
		memset(j, 0, sizeof(*j));
		j->tok = tok;
		snprintf(j->id, sizeof(j->id), "%s",
		    json_string_value(json_array_get(sw->ids, sw->next++)));
		j->force = 2;	/* due by the index; honour retry_at */
		if (take(j) == -1) {
			j->state = DONE;
			j->rv = fa_errstatus();
			snprintf(j->msg, sizeof(j->msg), "%s: %s", j->id,
			    fa_errmsg());
		}
		if (j->state == LEASED)
			return j;
		report(sw, j);
	}
	return NULL;
}

static void
sweepsink(struct job *j, void *arg)
{
	report(arg, j);
}

static int
sweep(void)
{
	struct sweep sw;
	struct timespec t0, t1;
	struct job *jobs;
	json_t *a, *args, *done;
	int64_t start = fa_now();
	int i, n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fa_ask(&conf, "refresh.due", NULL, &a) == -1)
		fa_die();
	memset(&sw, 0, sizeof(sw));
	sw.ids = json_object_get(a, "ids");
	/* In flight, and held for their window (see struct pump). */
	n = (int)conf.refresh_concurrency * 5 + 1;
	if ((jobs = calloc(n, sizeof(*jobs))) == NULL ||
	    (sw.free = calloc(n, sizeof(*sw.free))) == NULL)
		errx(1, "out of memory");
	for (i = 0; i < n; i++) {
		if ((jobs[i].tok = fa_secalloc(sizeof(*jobs[i].tok))) == NULL)
			errx(1, "out of secure memory");
		sw.free[sw.nfree++] = &jobs[i];
	}
	pump(sweepnext, sweepsink, &sw);
	for (i = 0; i < n; i++)
		fa_secfree(jobs[i].tok);
	/* For the metrics; a replica's sweep did nothing to report. */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	args = json_pack("{s:I,s:I,s:I,s:i}", "start", (json_int_t)start,
	    "ms", (json_int_t)((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000), "due",
	    (json_int_t)json_array_size(sw.ids), "failed", sw.failed);
	if (!json_is_true(json_object_get(a, "replica"))) {
		if (fa_ask(&conf, "sweep.done", args, &done) == -1)
			warnx("the sweep's report for the metrics: %s",
			    fa_errmsg());
		json_decref(done);
		/* Audit records older than audit_keep_days go. */
		if (fa_ask(&conf, "audit.prune", NULL, &done) == -1) {
			warnx("audit retention: %s", fa_errmsg());
			sw.failed++;
		}
		json_decref(done);
	}
	json_decref(args);
	json_decref(a);
	free(jobs);
	free(sw.free);
	fa_vaultc_close();
	return sw.failed ? 1 : 0;
}

/* Is FreeAgent still letting us in: one cheap authenticated call
 * (GET /company) with the binding's fresh token, counted against the
 * shared API limits. A 401 marks the binding needs_reconnect at once
 * (probe.done), not at its next refresh. 0 when FreeAgent answered;
 * else the exit status, the reason said. */
static int
probe(const char *id)
{
	const struct fa_endpoint *e;
	struct job j;
	json_t *co, *args, *a;
	const char *outcome;
	int rv;

	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%s", id);
	if ((j.tok = fa_secalloc(sizeof(*j.tok))) == NULL)
		errx(1, "out of secure memory");
	if (fresh(&j, 0) == -1) {
		fa_secfree(j.tok);
		warnx("%s", j.msg);
		return j.rv ? j.rv : 1;
	}
	args = json_pack("{s:s}", "binding", id);
	rv = fa_ask(&conf, "rate.api", args, &a);
	json_decref(args);
	json_decref(a);
	if (rv == -1) {
		fa_secfree(j.tok);
		warnx("%s: %s", id, fa_errmsg());
		return fa_errstatus();
	}
	if ((e = fa_conf_endpoint(&conf, j.endpoint)) == NULL) {
		fa_secfree(j.tok);
		warnx("%s: endpoint %s is not in %s", id, j.endpoint, conf.path);
		return EX_CONFIG;
	}
	co = fa_get_company(&conf, e, j.tok->access);
	fa_secfree(j.tok);
	json_decref(co);
	rv = co != NULL ? 0 : fa_errstatus();
	if (rv == EX_NOPERM)
		fa_seterr(EX_NOPERM, "%s: FreeAgent refused its access token "
		    "(401): reconnect needed", id);
	outcome = rv == 0 ? "ok" : rv == EX_NOPERM ? "needs_reconnect" :
	    "failed";
	args = json_pack("{s:s,s:I,s:s,s:s}", "binding", id, "tokver",
	    (json_int_t)j.tokver, "outcome", outcome, "detail", rv ?
	    fa_errmsg() : "");
	if (rv != 0)
		warnx("%s", fa_errmsg());
	if (fa_ask(&conf, "probe.done", args, &a) == -1) {
		warnx("%s: the probe's outcome: %s", id, fa_errmsg());
		if (rv == 0)
			rv = fa_errstatus();
	}
	json_decref(args);
	json_decref(a);
	return rv;
}

/* --probe --all: every connected binding (probe.list), spread over
 * probe_spread seconds, so an hourly cron makes an even trickle. */
static int
probeall(void)
{
	json_t *a, *ids;
	size_t i, n;
	int failed = 0;

	if (fa_ask(&conf, "probe.list", NULL, &a) == -1)
		fa_die();
	ids = json_object_get(a, "ids");
	n = json_array_size(ids);
	for (i = 0; i < n; i++) {
		if (i > 0 && conf.probe_spread > 0)
			sleep((unsigned)(conf.probe_spread / n));
		failed |= probe(json_string_value(json_array_get(ids, i))) != 0;
	}
	json_decref(a);
	fa_vaultc_close();
	return failed;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "due", no_argument, NULL, 'd' },
		{ "probe", no_argument, NULL, 'P' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	const char *confpath = NULL;
	int ch, due = 0, force = 0, print = 0, probing = 0, all = 0;

	if (fa_secure_init() == -1)
		fa_die();
	while ((ch = getopt_long(argc, argv, "c:fHp", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 'd':
			due = 1;
			break;
		case 'P':
			probing = 1;
			break;
		case 'a':
			all = 1;
			break;
		case 'f':
			force = 1;
			break;
		case 'H':
		case 'p':
			if (print && print != ch)
				usage();
			print = ch;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (due ? (argc != 0 || force || print || probing) :
	    probing ? (force || print || argc != !all) : argc != 1 || all)
		usage();
	if (!due && !all && !fa_validid(argv[0]))
		errx(EX_DATAERR, "invalid binding name");
	if (print && isatty(1))
		errx(EX_USAGE, "refusing to print a token to a terminal "
		    "(pipe it)");
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	leasesecs = 2 * conf.http_timeout * (due ? 4 + 1 : 1) + FINISH_SECS +
	    10;
	if (due && !fa_holder(&conf)) {
		json_t *args = json_pack("{s:s}", "job", "sweep");
		int r = fa_delegate(&conf, args);

		json_decref(args);
		if (r == -1)
			fa_die();
		return r;
	}
	if (probing) {
		int r = all ? probeall() : probe(argv[0]);

		fa_vaultc_close();
		return r;
	}
	return due ? sweep() : one(argv[0], force, print);
}
