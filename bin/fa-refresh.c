/* fa-refresh: hand out fresh access tokens, refreshing first when due;
 * --due: the cron sweep over every due binding. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
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
#include "hook.h"
#include "http.h"
#include "oauth.h"
#include "secmem.h"
#include "url.h"
#include "vault.h"

#define MAXDUE		100000
#define TEMP_RETRY	300	/* s before the sweep retries a failure */


static struct fa_conf conf;
static struct fa_vault vault;
/* How long a lease holds: the worst case of the requests it covers (a
 * grant and a probe each, in as many rounds as the batch needs). */
static long leasesecs;

enum { FRESH, BUSY, LEASED, DONE };

struct job {
	char		 id[65];
	int		 force;
	int		 state;
	int		 rv;		/* exit status of this binding */
	int		 quiet;		/* not connected: not the sweep's news */
	char		 msg[400];
	char		 endpoint[FA_NAMELEN];
	char		 tenant[65];
	char		 newstatus[32];	/* set when the status changed */
	uint64_t	 tokver;
	pid_t		 holder;	/* BUSY: the lease holder */
	struct fa_tokens *tok;
	char		*secret;
	char		 client[33];	/* fa_client_hash of the client used */
	char		 form[FA_TOKLEN * 3 + 64];
	long		 retry_after;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-refresh [-c file] [-p | -H] [-f] binding\n"
	    "       fa-refresh [-c file] --due\n");
	exit(64);
}

static int
jfail(struct job *j, int rv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->msg, sizeof(j->msg), fmt, ap);
	va_end(ap);
	j->rv = rv;
	j->state = DONE;
	return 0;	/* the transaction commits what was set */
}

static int
alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Looks at the binding and, when a refresh is due and nobody else is
 * doing it, takes the lease: "refreshing by pid P until T". */
static int
take(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct job *j = a;
	struct fa_tokhdr h;
	json_t *b, *lease;
	const char *st;
	char rkey[128];
	const char *keys[2] = { rkey, "rate:ip" };
	long limits[2] = { conf.refresh_per_minute, conf.ip_per_minute };
	int64_t now = fa_now(), retry, wait;
	int r;

	/* A plain read: the fresh path, before every FreeAgent call, takes
	 * no write lock; writing the lease upgrades it (a conflict comes
	 * back as a retry of the whole transaction). */
	if ((r = fa_getjson(v->bindings, t, j->id, &b, 0)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "no binding %s", j->id) : r;
	st = json_string_value(json_object_get(b, "status"));
	snprintf(j->tenant, sizeof(j->tenant), "%s",
	    json_string_value(json_object_get(b, "tenant")));
	if (st == NULL || strcmp(st, "connected") != 0) {
		j->quiet = 1;
		r = jfail(j, 77, "%s: %s", j->id, st != NULL &&
		    strcmp(st, "needs_reconnect") == 0 ? "FreeAgent refused its "
		    "tokens: reconnect it in the dashboard" : "not connected");
		goto out;
	}
	snprintf(j->endpoint, sizeof(j->endpoint), "%s",
	    json_string_value(json_object_get(b, "token_endpoint")));
	j->tokver = (uint64_t)json_integer_value(json_object_get(b, "tokver"));
	r = fa_tokens_get(v, t, j->id, j->tokver, j->tok, &h);
	if (r != 0) {
		if (r == DB_NOTFOUND)
			r = jfail(j, 77, "%s: no tokens", j->id);
		goto out;
	}
	/* The sweep (force 2) uses the same test: a binding refreshed by
	 * someone else since the due list was made is left alone. */
	if (j->force != 1 && j->tok->expires_at - now > conf.refresh_margin &&
	    j->tok->refresh_expires_at - now > 86400) {
		j->state = FRESH;
		goto out;
	}
	lease = json_object_get(b, "lease");
	j->holder = (pid_t)json_integer_value(json_object_get(lease, "pid"));
	if (lease != NULL && j->holder != getpid() && alive(j->holder) &&
	    json_integer_value(json_object_get(lease, "until")) > now) {
		j->state = BUSY;
		goto out;
	}
	/* After a temporary failure (or a 429's Retry-After) FreeAgent is
	 * not asked again before retry_at: the stored token serves while
	 * it lasts, the sweep skips the binding, others are told to wait. */
	retry = json_integer_value(json_object_get(b, "retry_at"));
	if (j->force != 1 && retry > now) {
		if (j->force == 0 && j->tok->expires_at > now + 30)
			j->state = FRESH;
		else if (j->force == 2) {
			j->state = DONE;
			j->rv = 0;
		} else
			r = jfail(j, 75, "%s: FreeAgent is not asked again before "
			    "%lld s from now; try again then", j->id,
			    (long long)(retry - now));
		goto out;
	}
	/* FreeAgent allows refresh_per_minute refreshes per company and
	 * ip_per_minute requests from us in all: stay under both, shared
	 * with every other process through the vault. */
	snprintf(rkey, sizeof(rkey), "rate:refresh:%s:%.40s", j->endpoint,
	    json_string_value(json_object_get(json_object_get(b, "company"),
	    "id")));
	if ((r = fa_rate_take(v, t, keys, limits, 2, &wait)) != 0)
		goto out;
	if (wait > 0) {
		if (j->force == 0 && j->tok->expires_at > now + 30)
			j->state = FRESH;
		else if (j->force == 2) {
			j->state = DONE;	/* the next sweep's */
			j->rv = 0;
		} else
			r = jfail(j, 75, "%s: at the refresh rate limit; try "
			    "again in %lld s", j->id, (long long)wait);
		goto out;
	}
	json_object_set_new(b, "lease", json_pack("{s:i,s:I}", "pid",
	    (int)getpid(), "until", (json_int_t)(now + leasesecs)));
	if ((r = fa_putjson(v->bindings, t, j->id, b)) == 0)
		j->state = LEASED;
out:
	json_decref(b);
	return r;
}

static void
hook(struct job *j)
{
	if (j->newstatus[0] != '\0' &&
	    fa_status_hook(&conf, j->id, j->newstatus) == -1)
		warnx("%s", fa_errmsg());
}

/* Commits what the token endpoint said. New tokens first, durably (a
 * normal commit), before anybody is handed the access token. */
static int
finish(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct job *j = a;
	json_t *b, *lease;
	int64_t now = fa_now();
	uint64_t ver;
	int r;

	/* Run again whenever the transaction is retried: j->tokver (what
	 * take() saw) is only read here, never changed. */
	j->newstatus[0] = '\0';
	if ((r = fa_getjson(v->bindings, t, j->id, &b, DB_RMW)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "binding %s vanished", j->id) : r;
	lease = json_object_get(b, "lease");
	ver = (uint64_t)json_integer_value(json_object_get(b, "tokver"));
	/* Our lease lapsed and another process refreshed meanwhile: its
	 * tokens are the newest; never conclude anything from ours. */
	if (ver != j->tokver ||
	    json_integer_value(json_object_get(lease, "pid")) != getpid()) {
		j->state = BUSY;
		j->holder = 0;
		goto out;
	}
	json_object_del(b, "lease");
	json_object_set_new(b, "updated", json_integer(now));
	if (j->rv == FA_GRANT_OK) {
		ver++;
		json_object_set_new(b, "tokver", json_integer((json_int_t)ver));
		json_object_set_new(b, "last_refresh", json_integer(now));
		json_object_del(b, "last_failure");
		json_object_del(b, "retry_at");
		if ((r = fa_tokens_put(v, t, j->id, ver, j->tok)) == 0)
			r = fa_audit(v, t, j->id, j->tenant, "refresh", "ok",
			    NULL);
		j->state = FRESH;
	} else {
		json_object_set_new(b, "last_failure", json_pack("{s:I,s:i,s:s}",
		    "time", (json_int_t)now, "status", j->rv, "message",
		    j->msg));
		if (j->rv == FA_GRANT_REFUSED) {
			json_object_set_new(b, "status",
			    json_string("needs_reconnect"));
			strcpy(j->newstatus, "needs_reconnect");
			r = fa_tokens_setdue(v, t, j->id, INT64_MAX);
		} else
			json_object_set_new(b, "retry_at", json_integer(now +
			    (j->retry_after <= 0 ? TEMP_RETRY :
			    j->retry_after < 3600 ? j->retry_after : 3600)));
		if (r == 0)
			r = fa_audit(v, t, j->id, j->tenant, "refresh",
			    j->rv == FA_GRANT_REFUSED ? "needs_reconnect" :
			    j->rv == FA_GRANT_CLIENT ? "config" : "temporary",
			    "%s", j->msg);
		j->state = DONE;
	}
	if (r == 0)
		r = fa_putjson(v->bindings, t, j->id, b);
out:
	json_decref(b);
	return r;
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

/* Runs the token requests of the leased jobs, n at a time in parallel,
 * and commits each result. */
static void
refresh(struct job **jobs, int n)
{
	struct fa_http *reqs;
	const struct fa_endpoint *e;
	int i, k = 0, *map;

	if ((reqs = calloc(n, sizeof(*reqs))) == NULL ||
	    (map = calloc(n, sizeof(*map))) == NULL)
		errx(1, "out of memory");
	for (i = 0; i < n; i++) {
		struct job *j = jobs[i];

		if (j->state != LEASED)
			continue;
		if ((e = fa_conf_endpoint(&conf, j->endpoint)) == NULL) {
			jerr(j, 78, "%s: its tokens are for endpoint %s, which "
			    "%s no longer defines", j->id, j->endpoint,
			    conf.path);
			continue;
		}
		if ((j->secret = fa_client_secret(&conf, e)) == NULL) {
			jerr(j, FA_GRANT_CLIENT, "%s: %s", j->id, fa_errmsg());
			continue;
		}
		snprintf(j->form, sizeof(j->form),
		    "grant_type=refresh_token&refresh_token=");
		if (fa_urlencode(j->form, sizeof(j->form), j->tok->refresh)) {
			jerr(j, 1, "%s: refresh token too long", j->id);
			continue;
		}
		fa_client_hash(e, j->secret, vault.keys[0].k, j->client);
		fa_grant_req(&reqs[k], &conf, e, j->form, j->secret);
		map[k++] = i;
	}
	if (k > 0)
		(void)fa_http_run(reqs, k, (int)conf.refresh_concurrency);
	for (i = 0; i < k; i++) {
		struct job *j = jobs[map[i]];

		e = fa_conf_endpoint(&conf, j->endpoint);
		j->rv = fa_grant_res(&conf, &vault, e, &reqs[i], j->secret,
		    j->tok, &j->retry_after, 0);
		if (j->rv == FA_GRANT_OK)
			fa_client_worked(&vault, j->endpoint, j->client);
		if (j->rv != FA_GRANT_OK)
			snprintf(j->msg, sizeof(j->msg), "%s: %s", j->id,
			    fa_errmsg());
	}
	/* A 401 that the probe could not pin on the grant: the client is
	 * good, and so the grant refused, only if this client got tokens in
	 * this very batch, or it is the only such answer and the client
	 * worked in the last day. Many at once with no success is what a
	 * revoked client secret looks like: 78, nobody marked. */
	for (i = 0; i < k; i++) {
		struct job *j = jobs[map[i]];
		int x, okhere = 0, amb = 0;

		if (j->rv != FA_GRANT_CLIENT || reqs[i].status != 401)
			continue;
		for (x = 0; x < k; x++) {
			struct job *o = jobs[map[x]];

			if (strcmp(o->endpoint, j->endpoint) != 0)
				continue;
			okhere |= o->rv == FA_GRANT_OK;
			amb += o->rv == FA_GRANT_CLIENT &&
			    reqs[x].status == 401;
		}
		if (okhere || (amb == 1 && fa_client_known(&vault,
		    j->endpoint, j->client))) {
			j->rv = FA_GRANT_REFUSED;
			snprintf(j->msg, sizeof(j->msg), "%s: %s refused the "
			    "grant (HTTP 401) while its client is good", j->id,
			    reqs[i].url);
		}
	}
	for (i = 0; i < k; i++) {
		fa_http_free(&reqs[i]);
		sodium_memzero(jobs[map[i]]->form, sizeof(jobs[map[i]]->form));
	}
	for (i = 0; i < n; i++) {
		struct job *j = jobs[i];

		if (j->state != LEASED)
			continue;
		if (fa_vault_txn(&vault, finish, j) == -1) {
			j->state = DONE;
			j->newstatus[0] = '\0';
			j->rv = fa_errstatus();
			snprintf(j->msg, sizeof(j->msg), "%s: %s", j->id,
			    fa_errmsg());
		}
		hook(j);
		fa_secfree(j->secret);
		j->secret = NULL;
	}
	free(reqs);
	free(map);
}

static void
waitfor(struct job *j, int try)
{
	struct timespec ts = { 0, 20000000L * (try < 10 ? try + 1 : 10) };

	(void)j;
	nanosleep(&ts, NULL);
}

static int
one(const char *id, int force, int print)
{
	struct job j;
	struct job *jp = &j;
	time_t start = time(NULL);
	int try, waited = 0;

	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%s", id);
	j.force = force;
	if ((j.tok = fa_secalloc(sizeof(*j.tok))) == NULL)
		errx(1, "out of secure memory");
	for (try = 0;; try++) {
		if (fa_vault_txn(&vault, take, &j) == -1) {
			fa_vault_close(&vault);
			fa_die();
		}
		if (j.state == LEASED) {
			refresh(&jp, 1);
			if (j.state == FRESH)
				break;
			/* A short Retry-After is worth waiting out, once. */
			if (j.state == DONE && j.rv == 75 && !waited &&
			    j.retry_after > 0 && j.retry_after <= FA_RETRY_WAIT) {
				waited = 1;
				sleep((unsigned)j.retry_after);
				j.force = 1;	/* past our own retry_at */
				j.rv = 0;
				continue;
			}
		}
		if (j.state == FRESH || j.state == DONE)
			break;
		/* BUSY: another process is refreshing; wait for its lease
		 * to end (or its holder to die), then read the vault again.
		 * Its new token will be fresh: no second refresh. */
		j.force = 0;
		if (time(NULL) - start > leasesecs + 10) {
			j.rv = 75;
			snprintf(j.msg, sizeof(j.msg), "%s: another process has "
			    "been refreshing it for too long; try again", id);
			break;
		}
		waitfor(&j, try);
	}
	fa_vault_close(&vault);
	if (j.state == DONE && j.rv == 75 && !force &&
	    j.tok->expires_at > fa_now() + 30) {
		warnx("%s; the current token is good for %lld s more", j.msg,
		    (long long)(j.tok->expires_at - fa_now()));
		j.state = FRESH;
	}
	if (j.state != FRESH) {
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

static int
listdue(struct fa_vault *v, DB_TXN *t, void *a)
{
	void **arg = a;

	return fa_due_list(v, t, fa_now() + conf.refresh_margin, arg[0],
	    MAXDUE, arg[1]);
}

static int
sweep(void)
{
	char (*ids)[65];
	struct job *jobs, **batch;
	void *arg[2];
	int n, i, k, chunk, failed = 0;

	if ((ids = calloc(MAXDUE, sizeof(*ids))) == NULL)
		errx(1, "out of memory");
	arg[0] = ids;
	arg[1] = &n;
	if (fa_vault_txn(&vault, listdue, arg) == -1)
		fa_die();
	chunk = (int)conf.refresh_concurrency * 4;
	if ((jobs = calloc(chunk, sizeof(*jobs))) == NULL ||
	    (batch = calloc(chunk, sizeof(*batch))) == NULL)
		errx(1, "out of memory");
	for (i = 0; i < n; i += chunk) {
		for (k = 0; k < chunk && i + k < n; k++) {
			struct job *j = &jobs[k];

			memset(j, 0, sizeof(*j));
			snprintf(j->id, sizeof(j->id), "%s", ids[i + k]);
			j->force = 2;	/* due by the index; honour retry_at */
			if ((j->tok = fa_secalloc(sizeof(*j->tok))) == NULL)
				errx(1, "out of secure memory");
			if (fa_vault_txn(&vault, take, j) == -1) {
				j->state = DONE;
				j->rv = fa_errstatus();
				snprintf(j->msg, sizeof(j->msg), "%s: %s",
				    j->id, fa_errmsg());
			}
			batch[k] = j;
		}
		refresh(batch, k);
		for (k = 0; k < chunk && i + k < n; k++) {
			struct job *j = &jobs[k];

			/* Not connected (needs_reconnect …) is not news. */
			if (j->state == DONE && j->rv != 0 && !j->quiet) {
				fprintf(stderr, "fa-refresh: %s\n", j->msg);
				failed++;
			}
			fa_secfree(j->tok);
		}
	}
	free(ids);
	free(jobs);
	free(batch);
	fa_vault_close(&vault);
	return failed ? 1 : 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "due", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	const char *confpath = NULL;
	int ch, due = 0, force = 0, print = 0;

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
	if (due ? (argc != 0 || force || print) : argc != 1)
		usage();
	if (!due && !fa_validname(argv[0], 65))
		errx(65, "invalid binding name");
	if (print && isatty(1))
		errx(64, "refusing to print a token to a terminal (pipe it)");
	if (fa_conf_load(&conf, confpath) == -1 ||
	    fa_vault_open(&vault, &conf, FA_VAULT_TOKENS |
	    (due ? FA_VAULT_CHECKPOINT : 0)) == -1)
		fa_die();
	leasesecs = 2 * conf.http_timeout * (due ? 4 + 1 : 1) + 10;
	return due ? sweep() : one(argv[0], force, print);
}
