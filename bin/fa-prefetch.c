/* fa-prefetch: build a binding's reference cache (company, income
 * categories, bank accounts, payment-method targets, item types) from
 * FreeAgent, every page of every list, independent requests in parallel.
 * A client of the keeper (fa-vaultd(8)), which keeps the cache and the
 * shared rate windows. */
#include <sys/wait.h>

#include <pthread.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "exec.h"
#include "http.h"
#include "oauth.h"
#include "proto.h"
#include "secmem.h"
#include "vaultc.h"

#define MAXPAGES	100	/* per list */
/* A FreeAgent company has hundreds of categories and accounts; more is
 * an upstream gone wrong, which must not make us huge or slow. */
#define MAXITEMS	5000	/* per list */
#define MAXBYTES	(16L << 20)	/* of all pages */
#define NCHAIN		5
#define MAXSTALE	32	/* fa-prefetch --stale: processes at once */
/* A part of the cache for the keeper, escaped: within its FA_PARTLEN,
 * so each request stays under FA_REQMAX. */
#define PARTLEN		FA_PARTLEN


static struct fa_conf conf;
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
	exit(EX_USAGE);
}

/* Starts PROG (a program beside this one) [-c conf] OPT ID, its stdout
 * onto fd out; the pid, or -1. */
static pid_t
spawn(const char *prog, const char *opt, const char *id, int out)
{
	char *argv[7];
	int i = 0;
	pid_t pid;

	argv[i++] = (char *)prog;
	if (confpath != NULL) {
		argv[i++] = "-c";
		argv[i++] = (char *)confpath;
	}
	if (opt != NULL)
		argv[i++] = (char *)opt;
	argv[i++] = "--";
	argv[i++] = (char *)id;
	argv[i] = NULL;
	if ((pid = fa_spawn(argv, -1, out, -1, -1)) == -1)
		return fa_seterr(1, "%s could not start", prog);
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
	char		*text;		/* the same, as stored and printed */
	int		 mark;		/* set needs_reconnect */
	long		 hold;		/* FreeAgent's Retry-After, to keep */
};

static int
look(struct bind *x, int wantcache)
{
	json_t *args, *a;
	int r;

	args = json_pack("{s:s,s:b}", "binding", x->id, "cache", wantcache);
	r = fa_ask(&conf, "prefetch.look", args, &a);
	json_decref(args);
	if (r == 0) {
		snprintf(x->tenant, sizeof(x->tenant), "%s",
		    fa_jstr(a, "tenant"));
		snprintf(x->endpoint, sizeof(x->endpoint), "%s",
		    fa_jstr(a, "endpoint"));
		snprintf(x->company, sizeof(x->company), "%s",
		    fa_jstr(a, "company"));
		x->connected = json_is_true(json_object_get(a, "connected"));
		x->cache = json_incref(json_object_get(a, "cache"));
	}
	json_decref(a);
	return r;
}

/* How much of s (len bytes of JSON text) goes in one part: at most
 * PARTLEN bytes once escaped in a request (a quote or a backslash takes
 * two), ending between two characters. */
static size_t
fit(const char *s, size_t len)
{
	size_t n = 0, esc = 0;

	while (n < len && (esc += 1 + (s[n] == '"' || s[n] == '\\')) <=
	    PARTLEN)
		n++;
	while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* The end of a prefetch, audited in the keeper's one transaction with
 * the new cache, FreeAgent's wait and the status change, as they
 * apply. A cache too big for one request goes first in parts. The
 * cache's text stays in x->text, to print. */
static int
record(struct bind *x, const char *outcome, const char *detail)
{
	char up[FA_REQIDLEN + 1], *text = NULL;
	json_t *args, *p, *a;
	size_t len, off = 0, n;
	int seq = 0, r = 0;

	args = json_pack("{s:s,s:s,s:s}", "binding", x->id, "outcome",
	    outcome, "detail", detail);
	if (x->hold > 0)
		json_object_set_new(args, "hold", json_integer(x->hold));
	if (x->mark)
		json_object_set_new(args, "mark", json_true());
	if (x->newcache != NULL) {
		if ((text = json_dumps(x->newcache, JSON_COMPACT)) == NULL) {
			json_decref(args);
			return fa_seterr(1, "out of memory");
		}
		len = strlen(text);
		fa_reqid(up);
		for (; (n = fit(text + off, len - off)) < len - off;
		    off += n, seq++) {
			p = n == 0 ? NULL : json_pack("{s:s,s:s,s:i,s:o}",
			    "binding", x->id, "upload", up, "seq", seq, "text",
			    json_stringn(text + off, n));
			if (p == NULL) {
				r = fa_seterr(1, "out of memory");
				goto out;
			}
			r = fa_ask(&conf, "prefetch.part", p, &a);
			json_decref(p);
			json_decref(a);
			if (r == -1)
				goto out;
		}
		json_object_set_new(args, "text", json_stringn(text + off,
		    len - off));
		if (seq > 0) {
			json_object_set_new(args, "upload", json_string(up));
			json_object_set_new(args, "parts", json_integer(seq));
		}
	}
	r = fa_ask(&conf, "prefetch.save", args, &a);
	json_decref(a);
out:
	json_decref(args);
	if (r == 0)
		x->text = text;
	else
		fa_jsonfree(text);
	return r;
}

/* One request counted against the company's API limit and ours. */
static int
apitake(struct bind *x)
{
	json_t *args, *a;
	int r;

	args = json_pack("{s:s}", "binding", x->id);
	r = fa_ask(&conf, "rate.api", args, &a);
	json_decref(args);
	json_decref(a);
	return r;
}

struct fetch {
	struct bind			*x;
	const struct fa_endpoint	*e;
	const char			*tok;
	struct chain			*c;
	struct fa_http			 r[NCHAIN];	/* a chain's page */
	int				 busy[NCHAIN];
	int				 rv, waited;
	size_t				 bytes;		/* of all pages */
	time_t				 deadline;	/* of the whole */
};

static int
late(void)
{
	return fa_seterr(EX_TEMPFAIL, "the reference data took longer than "
	    "%ld s; the cache you had is kept; try again later",
	    2 * conf.http_timeout);
}

/* The next page of a chain that is not waiting for one: each chain runs
 * on as soon as its page is in, on connections kept open. */
static struct fa_http *
fetchnext(void *arg)
{
	struct fetch *f = arg;
	struct fa_http *r;
	int i;

	for (i = 0; f->rv == 0 && i < NCHAIN; i++) {
		if (f->c[i].done || f->busy[i])
			continue;
		if (time(NULL) >= f->deadline) {
			f->rv = late();
			return NULL;
		}
		if (apitake(f->x) == -1) {
			f->rv = fa_errstatus();
			return NULL;
		}
		r = &f->r[i];
		memset(r, 0, sizeof(*r));
		r->method = "GET";
		r->url = f->c[i].url;
		r->bearer = f->tok;
		r->max = 4 << 20;
		/* Each request within what is left of the whole. */
		r->timeout = f->deadline - time(NULL);
		if (r->timeout > conf.http_timeout)
			r->timeout = conf.http_timeout;
		f->busy[i] = 1;
		return r;
	}
	return NULL;
}

static void
fetchdone(struct fa_http *r, void *arg)
{
	struct fetch *f = arg;
	struct chain *ch = &f->c[r - f->r];
	const struct fa_endpoint *e = f->e;

	f->busy[r - f->r] = 0;
	if (f->rv != 0)
		;
	else if (r->err != 0 && time(NULL) >= f->deadline)
		f->rv = late();		/* cut short by the deadline */
	else if (r->err != 0)
		f->rv = fa_seterr(r->err == EX_CONFIG ? EX_CONFIG :
		    EX_TEMPFAIL, "%s; try again later", r->errmsg);
	else if (r->status == 401)
		f->rv = fa_seterr(EX_NOPERM, "%s: FreeAgent refused a fresh "
		    "access token (HTTP 401): access was revoked in FreeAgent",
		    ch->url);
	/* A short Retry-After is waited out, once, and the page asked
	 * again. */
	else if (r->status == 429 && !f->waited && r->retry_after >= 0 &&
	    r->retry_after <= FA_RETRY_WAIT) {
		f->waited = 1;
		sleep((unsigned)r->retry_after);
	} else if (r->status == 429 && r->retry_after >= 0) {
		/* Kept: no process asks before it is over. */
		f->x->hold = r->retry_after;
		f->rv = fa_seterr(EX_TEMPFAIL, "%s: HTTP 429, FreeAgent asks "
		    "to wait %ld s; try again later", ch->url, r->retry_after);
	} else if (r->status != 200 || !fa_http_isjson(r) || r->badlink)
		f->rv = fa_seterr(EX_TEMPFAIL, "%s: HTTP %ld%s; try again "
		    "later", ch->url, r->status, r->badlink ? ", malformed "
		    "Link header" : "");
	else if ((f->bytes += r->len) > MAXBYTES)
		f->rv = fa_seterr(EX_DATAERR, "FreeAgent sent more than %ld MiB "
		    "of reference data; refusing it, the cache you had is kept",
		    MAXBYTES >> 20);
	else if (fa_page(r->body, r->len, ch->member, ch->items,
	    &ch->doc) == -1)
		f->rv = fa_seterr(EX_TEMPFAIL, "%s: HTTP %ld, %s; try again "
		    "later", ch->url, r->status, fa_errmsg());
	else if (json_array_size(ch->items) > MAXITEMS)
		f->rv = fa_seterr(EX_DATAERR, "FreeAgent listed more than %d "
		    "%s; refusing them, the cache you had is kept", MAXITEMS,
		    strcmp(ch->member, "income_categories") == 0 ?
		    "income categories" : "accounts of one kind");
	else {
		ch->pages++;
		if (r->next[0] == '\0')
			ch->done = 1;
		/* The token goes only where FreeAgent is. */
		else if (ch->pages == MAXPAGES || strncmp(r->next, e->base_url,
		    strlen(e->base_url)) != 0 || strchr("/?",
		    r->next[strlen(e->base_url)]) == NULL ||
		    !fa_url_allowed(r->next))
			f->rv = fa_seterr(EX_TEMPFAIL, "%s: too many pages, or "
			    "a next page elsewhere", ch->url);
		else
			snprintf(ch->url, sizeof(ch->url), "%s", r->next);
	}
	fa_http_free(r);
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
	struct fetch f;
	json_t *banks;
	int i;

	memset(&f, 0, sizeof(f));
	f.x = x;
	f.e = e;
	f.tok = tok;
	f.c = c;
	f.deadline = time(NULL) + 2 * conf.http_timeout;
	for (i = 0; i < NCHAIN; i++) {
		snprintf(c[i].url, sizeof(c[i].url), "%s%s", e->base_url,
		    c[i].path);
		c[i].items = json_array();
	}
	fa_http_stream(NCHAIN, fetchnext, fetchdone, &f);
	if (f.rv != 0)
		goto out;
	banks = json_array();
	for (i = 2; i < NCHAIN; i++)
		json_array_extend(banks, c[i].items);
	x->newcache = fa_refcache(x->id, fa_now(), c[0].doc, c[1].items,
	    banks);
	json_decref(banks);
	if (x->newcache == NULL)
		f.rv = fa_seterr(EX_TEMPFAIL, "the company document is "
		    "malformed");
out:
	for (i = 0; i < NCHAIN; i++) {
		json_decref(c[i].items);
		json_decref(c[i].doc);
	}
	return f.rv == -1 ? fa_errstatus() : f.rv;
}

/* Prefetches one binding; returns its exit status, message on failure. */
static int
one(const char *id, char **text)
{
	struct bind x;
	const struct fa_endpoint *e = NULL;
	char *tok = NULL;
	pthread_t loader;
	int rv = 0, got = -1, loading;

	memset(&x, 0, sizeof(x));
	x.id = id;
	/* libcurl (tens of ms) loads while we ask the keeper and
	 * fa-refresh for the token; joined before the first request. */
	loading = pthread_create(&loader, NULL, fa_http_preload, NULL) == 0;
	if (look(&x, 0) == -1)
		rv = -1;
	else if (!x.connected)
		rv = fa_seterr(EX_NOPERM, "%s is not connected", id);
	else if ((e = fa_conf_endpoint(&conf, x.endpoint)) == NULL)
		rv = fa_seterr(EX_CONFIG, "%s: endpoint %s is not defined", id,
		    x.endpoint);
	else if ((tok = fa_secalloc(FA_TOKLEN + 2)) == NULL)
		rv = fa_seterr(1, "out of secure memory");
	else
		got = token(id, tok, FA_TOKLEN + 2);
	if (loading)
		pthread_join(loader, NULL);
	if (rv == -1)
		return fa_errstatus();
	rv = got == -1 ? fa_errstatus() : fetch(&x, e, tok);
	fa_secfree(tok);
	if (rv == 0) {
		if (record(&x, "ok", "reference data cached") == -1) {
			json_decref(x.newcache);
			return fa_errstatus();
		}
		json_decref(x.newcache);
		*text = x.text;
		return 0;
	}
	{
		char msg[400];

		snprintf(msg, sizeof(msg), "%s: %s", id, fa_errmsg());
		/* A fresh token refused by the API: access is gone. The
		 * previous cache stays in every case. */
		x.mark = rv == EX_NOPERM && strstr(msg, "HTTP 401") != NULL;
		if (record(&x, x.mark ? "needs_reconnect" : "failed", msg) ==
		    -1)
			warnx("%s", fa_errmsg());
		fa_seterr(rv, "%s", msg);
	}
	return rv;
}

/* Prints a cache's text (json_dumps, JSON_COMPACT), and frees it. */
static void
print(char *s)
{
	if (s == NULL || puts(s) == EOF || fflush(stdout) == EOF)
		err(1, "stdout");
	fa_jsonfree(s);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "stale", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	struct bind x;
	json_t *args, *a, *ids;
	char *end, *text = NULL;
	long stale = -1;
	struct { pid_t pid; const char *id; } slot[MAXSTALE];
	int ch, sflag = 0, i, k, n, rv, failed = 0, null, running, st, conc;
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
				errx(EX_USAGE, "--stale needs a number of "
				    "seconds");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (stale >= 0 ? (argc != 0 || sflag) : argc != 1)
		usage();
	if (stale < 0 && !fa_validid(argv[0]))
		errx(EX_DATAERR, "invalid binding name");
	if (fa_conf_load(&conf, confpath) == -1)
		fa_die();
	/* We hold no client secret: the keeper runs the fetch, as the
	 * user that does; then the cache is read as with -s. */
	if (!sflag && !fa_holder(&conf)) {
		args = stale < 0 ? json_pack("{s:s,s:s}", "job", "prefetch",
		    "binding", argv[0]) : json_pack("{s:s,s:I}", "job", "stale",
		    "secs", (json_int_t)stale);
		rv = fa_delegate(&conf, args);
		json_decref(args);
		if (rv == -1)
			fa_die();
		if (rv != 0 || stale >= 0)
			return rv;
		sflag = 1;
	}
	if (sflag) {
		memset(&x, 0, sizeof(x));
		x.id = argv[0];
		if (look(&x, 1) == -1)
			fa_die();
		fa_vaultc_close();
		if (x.cache == NULL)
			errx(1, "no reference data cached for %s yet: run "
			    "fa-prefetch %s", x.id, x.id);
		print(json_dumps(x.cache, JSON_COMPACT));
		json_decref(x.cache);
		return 0;
	}
	if (stale < 0) {
		if ((rv = one(argv[0], &text)) != 0) {
			fa_vaultc_close();
			errx(rv, "%s", fa_errmsg());
		}
		fa_vaultc_close();
		print(text);
		return 0;
	}
	args = json_pack("{s:I}", "stale", (json_int_t)stale);
	if (fa_ask(&conf, "prefetch.stale", args, &a) == -1)
		fa_die();
	json_decref(args);
	fa_vaultc_close();
	ids = json_object_get(a, "ids");
	n = (int)json_array_size(ids);
	/* Each binding by a process of its own, refresh_concurrency (at
	 * most MAXSTALE) at once: a slow binding does not hold up the
	 * others. Their caches are not printed; their messages are. */
	if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		err(1, "/dev/null");
	memset(slot, 0, sizeof(slot));
	conc = conf.refresh_concurrency < MAXSTALE ?
	    (int)conf.refresh_concurrency : MAXSTALE;
	for (i = running = 0; i < n || running > 0;) {
		if (i < n && running < conc) {
			for (k = 0; slot[k].pid != 0; k++)
				;
			if ((pid = spawn("fa-prefetch", NULL,
			    json_string_value(json_array_get(ids, i)),
			    null)) == -1) {
				warnx("%s", fa_errmsg());
				failed++;
			} else {
				slot[k].pid = pid;
				slot[k].id = json_string_value(
				    json_array_get(ids, i));
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
	json_decref(a);
	return failed ? 1 : 0;
}
