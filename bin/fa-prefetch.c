/* fa-prefetch: build a binding's reference cache (company, income
 * categories, bank accounts, payment-method targets, item types) from
 * FreeAgent, every page of every list, independent requests in parallel. */
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "hook.h"
#include "http.h"
#include "oauth.h"
#include "secmem.h"
#include "vault.h"

#define MAXPAGES	100	/* per list */
#define NCHAIN		5
#define MAXSTALE	32	/* fa-prefetch --stale: processes at once */

extern char **environ;

static struct fa_conf conf;
static struct fa_vault vault;
static const char *confpath;

/* One list followed page by page; the chains run side by side. */
struct chain {
	const char	*path;		/* first page, under base_url */
	const char	*member;	/* the array to collect, or NULL */
	char		 url[FA_URLLEN];
	json_t		*items;
	json_t		*doc;		/* company: the whole document */
	int		 pages;
	int		 done;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-prefetch [-c file] binding\n"
	    "       fa-prefetch [-c file] -s binding\n"
	    "       fa-prefetch [-c file] --stale seconds\n");
	exit(64);
}

/* Starts PROG (a program beside this one) [-c conf] OPT ID, its stdout
 * onto fd out; the pid, or -1. */
static pid_t
spawn(const char *prog, const char *opt, const char *id, int out)
{
	char self[PATH_MAX], path[PATH_MAX], *argv[6], *slash;
	posix_spawn_file_actions_t fa;
	ssize_t n;
	int e, i = 0;
	pid_t pid;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		return fa_seterr(1, "cannot find myself: %s", strerror(errno));
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", self, prog) >=
	    sizeof(path))
		return fa_seterr(1, "path of %s too long", prog);
	argv[i++] = path;
	if (confpath != NULL) {
		argv[i++] = "-c";
		argv[i++] = (char *)confpath;
	}
	if (opt != NULL)
		argv[i++] = (char *)opt;
	argv[i++] = (char *)id;
	argv[i] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	e = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0)
		return fa_seterr(1, "%s: %s", path, strerror(e));
	return pid;
}

/* The fresh access token comes from fa-refresh itself, on a pipe: one
 * piece of code decides when and how tokens are refreshed. */
static int
token(const char *id, char *out, size_t outsz)
{
	ssize_t n, len = 0;
	int p[2], st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return fa_seterr(1, "pipe: %s", strerror(errno));
	pid = spawn("fa-refresh", "-p", id, p[1]);
	close(p[1]);
	if (pid == -1) {
		close(p[0]);
		return -1;
	}
	while ((n = read(p[0], out + len, outsz - 1 - len)) > 0)
		len += n;
	close(p[0]);
	st = 0;
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			st = 1 << 8;	/* as if it exited 1 */
			break;
		}
	out[len] = '\0';
	if (len > 0 && out[len - 1] == '\n')
		out[--len] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		sodium_memzero(out, outsz);
		return fa_seterr(WIFEXITED(st) ? WEXITSTATUS(st) : 1,
		    "no fresh token for %s (fa-refresh said why)", id);
	}
	if (!fa_tokenok(out))
		return fa_seterr(1, "fa-refresh printed no token for %s", id);
	return 0;
}

struct bind {
	const char	*id;
	char		 tenant[65];
	char		 endpoint[FA_NAMELEN];
	char		 company[64];
	int		 connected;
	json_t		*cache;		/* the cached copy, for -s */
	json_t		*newcache;	/* to store */
	const char	*event;
	const char	*outcome;
	char		 detail[400];
	int		 mark;		/* set needs_reconnect */
	long		 hold;		/* FreeAgent's Retry-After, to keep */
};

/* FreeAgent's limit is per company: so are ours, and its waits. */
static void
apikey(const struct bind *x, char *key, size_t size)
{
	snprintf(key, size, "rate:api:%s:%s", x->endpoint, x->company);
}

static int
look(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct bind *x = a;
	const char *s;
	json_t *b;
	int r;

	if ((r = fa_getjson(v->bindings, t, x->id, &b, 0)) != 0)
		return r == DB_NOTFOUND ? fa_seterr(66, "no binding %s", x->id) : r;
	snprintf(x->tenant, sizeof(x->tenant), "%s",
	    json_string_value(json_object_get(b, "tenant")));
	s = json_string_value(json_object_get(b, "token_endpoint"));
	snprintf(x->endpoint, sizeof(x->endpoint), "%s", s ? s : "");
	s = json_string_value(json_object_get(json_object_get(b, "company"),
	    "id"));
	snprintf(x->company, sizeof(x->company), "%s", s ? s : "");
	s = json_string_value(json_object_get(b, "status"));
	x->connected = s != NULL && strcmp(s, "connected") == 0;
	json_decref(b);
	json_decref(x->cache);	/* a transaction retried */
	if ((r = fa_getjson(v->cache, t, x->id, &x->cache, 0)) == DB_NOTFOUND)
		r = 0;
	return r;
}

static int
save(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct bind *x = a;
	char key[128];
	json_t *b;
	int r = 0;

	if (x->newcache != NULL &&
	    (r = fa_putjson(v->cache, t, x->id, x->newcache)) != 0)
		return r;
	if (x->hold > 0) {
		apikey(x, key, sizeof(key));
		if ((r = fa_rate_hold(v, t, key, x->hold)) != 0)
			return r;
	}
	if (x->mark) {
		if ((r = fa_getjson(v->bindings, t, x->id, &b, DB_RMW)) != 0)
			return r;
		/* Read again: disconnected or reconnected meanwhile, the
		 * 401 says nothing about the binding as it is now. */
		if (json_string_value(json_object_get(b, "status")) == NULL ||
		    strcmp(json_string_value(json_object_get(b, "status")),
		    "connected") != 0) {
			json_decref(b);
			x->mark = 0;
			x->outcome = "failed";
			return fa_audit(v, t, x->id, x->tenant, x->event,
			    x->outcome, "%s", x->detail);
		}
		json_object_set_new(b, "status", json_string("needs_reconnect"));
		json_object_set_new(b, "updated", json_integer(fa_now()));
		r = fa_putjson(v->bindings, t, x->id, b);
		json_decref(b);
		if (r == 0)
			r = fa_tokens_setdue(v, t, x->id, INT64_MAX);
		if (r == DB_NOTFOUND)
			r = 0;
	}
	if (r == 0)
		r = fa_audit(v, t, x->id, x->tenant, x->event, x->outcome,
		    "%s", x->detail);
	return r;
}

static int
apitake(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct bind *x = a;
	char key[128];
	const char *keys[2] = { key, "rate:ip" };
	long limits[2] = { conf.api_per_minute, conf.ip_per_minute };
	int64_t wait;
	int r;

	apikey(x, key, sizeof(key));
	if ((r = fa_rate_take(v, t, keys, limits, 2, &wait)) != 0)
		return r;
	return wait > 0 ? fa_seterr(75, "at the API rate limit; try again "
	    "in %lld s", (long long)wait) : 0;
}

/* Fetches everything; returns 0 with x->newcache set, or the status. */
static int
fetch(struct bind *x, const struct fa_endpoint *e, const char *tok)
{
	struct chain c[NCHAIN] = {
		{ "/company", NULL, "", NULL, NULL, 0, 0 },
		{ "/categories?per_page=100", "income_categories", "", NULL, NULL, 0, 0 },
		{ "/bank_accounts?view=standard_bank_accounts&per_page=100",
		    "bank_accounts", "", NULL, NULL, 0, 0 },
		{ "/bank_accounts?view=credit_card_accounts&per_page=100",
		    "bank_accounts", "", NULL, NULL, 0, 0 },
		{ "/bank_accounts?view=paypal_accounts&per_page=100",
		    "bank_accounts", "", NULL, NULL, 0, 0 },
	};
	struct fa_http r[NCHAIN];
	int map[NCHAIN], i, k, rv = 0, waited = 0;
	long wait;
	json_t *banks;

	for (i = 0; i < NCHAIN; i++) {
		snprintf(c[i].url, sizeof(c[i].url), "%s%s", e->base_url,
		    c[i].path);
		c[i].items = json_array();
	}
	for (;;) {
		for (i = k = 0; i < NCHAIN; i++) {
			if (c[i].done)
				continue;
			if (fa_vault_txn(&vault, apitake, x) == -1) {
				rv = fa_errstatus();
				goto out;
			}
			memset(&r[k], 0, sizeof(r[k]));
			r[k].method = "GET";
			r[k].url = c[i].url;
			r[k].bearer = tok;
			r[k].max = 4 << 20;
			r[k].timeout = conf.http_timeout;
			map[k++] = i;
		}
		if (k == 0)
			break;
		(void)fa_http_run(r, k, NCHAIN);
		wait = -1;
		for (i = 0; i < k; i++) {
			struct chain *ch = &c[map[i]];

			if (rv == 0 && r[i].err != 0)
				rv = fa_seterr(r[i].err == 78 ? 78 : 75, "%s; try "
				    "again later", r[i].errmsg);
			else if (rv == 0 && r[i].status == 401)
				rv = fa_seterr(77, "%s: FreeAgent refused a fresh "
				    "access token (HTTP 401): access was revoked "
				    "in FreeAgent", ch->url);
			/* A short Retry-After is waited out, once, and the
			 * page asked again. */
			else if (rv == 0 && r[i].status == 429 && !waited &&
			    r[i].retry_after >= 0 &&
			    r[i].retry_after <= FA_RETRY_WAIT) {
				if (r[i].retry_after > wait)
					wait = r[i].retry_after;
			} else if (rv == 0 && r[i].status == 429 &&
			    r[i].retry_after >= 0) {
				/* Kept: no process asks before it is over. */
				x->hold = r[i].retry_after;
				rv = fa_seterr(75, "%s: HTTP 429, FreeAgent asks "
				    "to wait %ld s; try again later", ch->url,
				    r[i].retry_after);
			}
			else if (rv == 0 && (r[i].status != 200 ||
			    !fa_http_isjson(&r[i]) || r[i].badlink))
				rv = fa_seterr(75, "%s: HTTP %ld%s; try again "
				    "later", ch->url, r[i].status, r[i].badlink ?
				    ", malformed Link header" : "");
			else if (rv == 0 && fa_page(r[i].body, r[i].len,
			    ch->member, ch->items, &ch->doc) == -1)
				rv = fa_seterr(75, "%s: HTTP %ld, %s; try again "
				    "later", ch->url, r[i].status, fa_errmsg());
			else if (rv == 0) {
				ch->pages++;
				if (r[i].next[0] == '\0')
					ch->done = 1;
				/* The token goes only where FreeAgent is. */
				else if (ch->pages == MAXPAGES ||
				    strncmp(r[i].next, e->base_url,
				    strlen(e->base_url)) != 0 ||
				    strchr("/?", r[i].next[strlen(e->base_url)])
				    == NULL || !fa_url_allowed(r[i].next))
					rv = fa_seterr(75, "%s: too many pages, or "
					    "a next page elsewhere", ch->url);
				else
					snprintf(ch->url, sizeof(ch->url), "%s",
					    r[i].next);
			}
			fa_http_free(&r[i]);
		}
		if (rv != 0)
			goto out;
		if (wait >= 0) {
			waited = 1;
			sleep((unsigned)wait);
		}
	}
	banks = json_array();
	for (i = 2; i < NCHAIN; i++)
		json_array_extend(banks, c[i].items);
	x->newcache = fa_refcache(x->id, fa_now(), c[0].doc, c[1].items,
	    banks);
	json_decref(banks);
	if (x->newcache == NULL)
		rv = fa_seterr(75, "the company document is malformed");
out:
	for (i = 0; i < NCHAIN; i++) {
		json_decref(c[i].items);
		json_decref(c[i].doc);
	}
	return rv == -1 ? fa_errstatus() : rv;
}

static int
record(struct bind *x, const char *outcome, const char *detail)
{
	x->event = "prefetch";
	x->outcome = outcome;
	snprintf(x->detail, sizeof(x->detail), "%s", detail);
	return fa_vault_txn(&vault, save, x);
}

/* Prefetches one binding; returns its exit status, message on failure. */
static int
one(const char *id, json_t **cache)
{
	struct bind x;
	const struct fa_endpoint *e;
	char *tok;
	int rv;

	memset(&x, 0, sizeof(x));
	x.id = id;
	if (fa_vault_txn(&vault, look, &x) == -1)
		return fa_errstatus();
	json_decref(x.cache);
	if (!x.connected) {
		fa_seterr(77, "%s is not connected", id);
		return 77;
	}
	if ((e = fa_conf_endpoint(&conf, x.endpoint)) == NULL) {
		fa_seterr(78, "%s: endpoint %s is not defined", id, x.endpoint);
		return 78;
	}
	if ((tok = fa_secalloc(FA_TOKLEN + 2)) == NULL) {
		fa_seterr(1, "out of secure memory");
		return 1;
	}
	if ((rv = token(id, tok, FA_TOKLEN + 2)) == -1)
		rv = fa_errstatus();
	else
		rv = fetch(&x, e, tok);
	fa_secfree(tok);
	if (rv == 0) {
		if (record(&x, "ok", "reference data cached") == -1) {
			json_decref(x.newcache);
			return fa_errstatus();
		}
		*cache = x.newcache;
		return 0;
	}
	{
		char msg[400];

		snprintf(msg, sizeof(msg), "%s: %s", id, fa_errmsg());
		/* A fresh token refused by the API: access is gone. The
		 * previous cache stays in every case. */
		x.mark = rv == 77 && strstr(msg, "HTTP 401") != NULL;
		if (record(&x, x.mark ? "needs_reconnect" : "failed", msg) == -1)
			warnx("%s", fa_errmsg());
		else if (x.mark && fa_status_hook(&conf, id,
		    "needs_reconnect") == -1)
			warnx("%s", fa_errmsg());
		fa_seterr(rv, "%s", msg);
	}
	return rv;
}

static void
print(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s == NULL || puts(s) == EOF || fflush(stdout) == EOF)
		err(1, "stdout");
	fa_jsonfree(s);
}

struct stale {
	int64_t	 before;
	char	(*ids)[65];
	int	 n, max;
};

static int
stalelist(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct stale *s = a;
	DBC *c;
	DBT k, d;
	json_t *b, *ch;
	char id[65];
	int r, g;

	s->n = 0;
	if ((r = v->bindings->cursor(v->bindings, t, &c, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((r = c->get(c, &k, &d, DB_NEXT)) == 0 && s->n < s->max) {
		if (k.size >= sizeof(id))
			continue;
		memcpy(id, k.data, k.size);
		id[k.size] = '\0';
		if ((b = json_loadb(d.data, d.size, 0, NULL)) == NULL)
			continue;
		if (json_string_value(json_object_get(b, "status")) != NULL &&
		    strcmp(json_string_value(json_object_get(b, "status")),
		    "connected") == 0) {
			g = fa_getjson(v->cache, t, id, &ch, 0);
			if (g == DB_NOTFOUND || (g == 0 && json_integer_value(
			    json_object_get(ch, "fetched_at")) < s->before))
				strcpy(s->ids[s->n++], id);
			if (g == 0)
				json_decref(ch);
		}
		json_decref(b);
		fa_vault_progress(v);
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "stale", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	struct bind x;
	struct stale s;
	json_t *cache = NULL;
	char *end;
	long stale = -1;
	struct { pid_t pid; const char *id; } slot[MAXSTALE];
	int ch, sflag = 0, i, k, rv, failed = 0, null, running, st, conc;
	pid_t pid;

	if (fa_secure_init() == -1)
		fa_die();
	while ((ch = getopt_long(argc, argv, "c:s", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 's':
			sflag = 1;
			break;
		case 'S':
			errno = 0;
			stale = strtol(optarg, &end, 10);
			if (errno || *end != '\0' || stale < 0)
				errx(64, "--stale needs a number of seconds");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (stale >= 0 ? (argc != 0 || sflag) : argc != 1)
		usage();
	if (stale < 0 && !fa_validname(argv[0], 65))
		errx(65, "invalid binding name");
	if (fa_conf_load(&conf, confpath) == -1 ||
	    fa_vault_open(&vault, &conf, 0) == -1)
		fa_die();
	if (sflag) {
		memset(&x, 0, sizeof(x));
		x.id = argv[0];
		if (fa_vault_txn(&vault, look, &x) == -1)
			fa_die();
		fa_vault_close(&vault);
		if (x.cache == NULL)
			errx(1, "no reference data cached for %s yet: run "
			    "fa-prefetch %s", x.id, x.id);
		print(x.cache);
		json_decref(x.cache);
		return 0;
	}
	if (stale < 0) {
		if ((rv = one(argv[0], &cache)) != 0) {
			fa_vault_close(&vault);
			errx(rv, "%s", fa_errmsg());
		}
		fa_vault_close(&vault);
		print(cache);
		json_decref(cache);
		return 0;
	}
	s.before = fa_now() - stale;
	s.max = 100000;
	if ((s.ids = calloc(s.max, sizeof(*s.ids))) == NULL)
		errx(1, "out of memory");
	if (fa_vault_txn(&vault, stalelist, &s) == -1)
		fa_die();
	fa_vault_close(&vault);
	/* Each binding by a process of its own, refresh_concurrency (at
	 * most MAXSTALE) at once: a slow binding does not hold up the
	 * others. Their caches are not printed; their messages are. */
	if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		err(1, "/dev/null");
	memset(slot, 0, sizeof(slot));
	conc = conf.refresh_concurrency < MAXSTALE ?
	    (int)conf.refresh_concurrency : MAXSTALE;
	for (i = running = 0; i < s.n || running > 0;) {
		if (i < s.n && running < conc) {
			for (k = 0; slot[k].pid != 0; k++)
				;
			if ((pid = spawn("fa-prefetch", NULL, s.ids[i],
			    null)) == -1) {
				warnx("%s", fa_errmsg());
				failed++;
			} else {
				slot[k].pid = pid;
				slot[k].id = s.ids[i];
				running++;
			}
			i++;
		} else if ((pid = wait(&st)) != -1) {
			for (k = 0; k < conc && slot[k].pid != pid; k++)
				;
			if (k == conc)
				continue;	/* not one of ours */
			slot[k].pid = 0;
			running--;
			if (WIFSIGNALED(st))
				warnx("%s: killed by signal %d", slot[k].id,
				    WTERMSIG(st));
			failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
		} else if (errno != EINTR)
			err(1, "wait");
	}
	free(s.ids);
	return failed ? 1 : 0;
}
