/* v_token.c: the keeper's verbs for a token's life (verb.h): the
 * refresh lease and what the refresh brought (fa-refresh), the rate
 * windows and the known-good client (oauth.h's gate), the reference
 * cache (fa-prefetch). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "diag.h"
#include "oauth.h"
#include "secmem.h"
#include "verb.h"

#define MAXIDS		100000	/* the sweep's and --stale's lists */
#define TEMP_RETRY	300	/* s before a failed refresh is tried again */
#define LEASE_MAX	3600
#define MAXDETAIL	511	/* an audit record's detail */
/* The cache comes in parts of FA_PARTLEN: a request is at most
 * FA_REQMAX bytes. */
#define MAXPARTS	1024
#define PART_TTL	3600	/* a part left by a client that died */

static int
ishex(const char *s, size_t len)
{
	return strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

static int
alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* refresh.take's answer when it ends there: the binding's exit status
 * (0: nothing to do) and why. */
static void
done(struct fa_call *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
done(struct fa_call *c, int status, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	msg[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	json_object_set_new(c->out, "state", json_string("done"));
	json_object_set_new(c->out, "status", json_integer(status));
	json_object_set_new(c->out, "message", json_string(msg));
}

static void
tokens_out(json_t *o, const struct fa_tokens *tok)
{
	json_object_set_new(o, "access", json_string(tok->access));
	json_object_set_new(o, "refresh", json_string(tok->refresh));
	json_object_set_new(o, "expires_at", json_integer(tok->expires_at));
	json_object_set_new(o, "refresh_expires_at",
	    json_integer(tok->refresh_expires_at));
}

static int
tokens_in(json_t *in, struct fa_tokens *tok)
{
	const char *a, *r;
	int64_t e, re, now = fa_now();

	if (fa_arg_str(in, "access", FA_TOKLEN - 1, 1, &a) == -1 ||
	    fa_arg_str(in, "refresh", FA_TOKLEN - 1, 1, &r) == -1 ||
	    fa_arg_int(in, "expires_at", FA_TIME_MIN(now), FA_TIME_MAX(now),
	    0, &e) == -1 || fa_arg_int(in, "refresh_expires_at",
	    FA_TIME_MIN(now), FA_TIME_MAX(now), 0, &re) == -1)
		return -1;
	if (!fa_tokenok(a) || !fa_tokenok(r) || e == 0 || re == 0)
		return fa_seterr(EX_DATAERR, "tokens: access and refresh "
		    "printable, expires_at and refresh_expires_at present");
	strcpy(tok->access, a);
	strcpy(tok->refresh, r);
	tok->expires_at = e;
	tok->refresh_expires_at = re;
	return 0;
}

/* The site a request came from, as leases name it: this one's
 * repl.local, or the replica's that forwarded it ("" without
 * replication). */
static const char *
here(struct fa_vault *v)
{
	return v->conf->repl.local;
}

static const char *
site(struct fa_vault *v, const struct fa_call *c)
{
	return c->site != NULL && *c->site != '\0' ? c->site : here(v);
}

/* The caller holds this lease. */
static int
holds(struct fa_vault *v, const struct fa_call *c, json_t *lease)
{
	return json_integer_value(json_object_get(lease, "pid")) == c->pid &&
	    strcmp(fa_jstr(lease, "site"), site(v, c)) == 0;
}

/* A binding's token, or the lease to refresh it: {"binding", "force":
 * 0 (when due), 1 (-f), 2 (the sweep: honour retry_at), "lease":
 * seconds, "peek": true (fa-refresh's static front: a fresh access
 * token, or nothing taken or written)}. The answer's "state": "fresh"
 * (with the tokens; to a peek, the access token alone), "stale" (to a
 * peek, when not fresh), "leased"
 * (the tokens, to refresh; then refresh.finish), "busy" (someone else
 * holds the lease: wait and ask again), "due" (to a peer that holds no
 * client secret: it asks for the job refresh) or "done" (status,
 * message). */
static int
v_refresh_take(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const struct fa_conf *cf = v->conf;
	struct fa_tokens *tok = NULL;
	struct fa_tokhdr h;
	json_t *b = NULL, *lease, *o = c->out;
	const char *id, *st;
	char rkey[128];
	const char *keys[2] = { rkey, "rate:ip" };
	long limits[2] = { cf->refresh_per_minute, cf->ip_per_minute };
	int64_t now = fa_now(), force, secs, retry, wait;
	uint64_t ver;
	pid_t holder;
	int r, peek;

	id = json_string_value(json_object_get(c->in, "binding"));
	peek = json_is_true(json_object_get(c->in, "peek"));
	if (fa_arg_int(c->in, "force", 0, 2, 0, &force) == -1 ||
	    fa_arg_int(c->in, "lease", 1, LEASE_MAX, 60, &secs) == -1)
		return -1;
	/* A plain read: the fresh path, before every FreeAgent call, takes
	 * no write lock; writing the lease upgrades it (a conflict comes
	 * back as a retry of the whole verb). */
	if ((r = fa_binding_get(v, t, id, NULL, &b, 0)) != 0)
		return r;
	st = json_string_value(json_object_get(b, "status"));
	json_object_set_new(o, "tenant", json_string(fa_jstr(b, "tenant")));
	if (st == NULL || strcmp(st, "connected") != 0) {
		json_object_set_new(o, "quiet", json_true());
		done(c, EX_NOPERM, "%s: %s", id, st != NULL &&
		    strcmp(st, "needs_reconnect") == 0 ? "FreeAgent refused "
		    "its tokens: reconnect it in the dashboard" :
		    "not connected");
		goto out;
	}
	json_object_set_new(o, "endpoint",
	    json_string(fa_jstr(b, "token_endpoint")));
	ver = (uint64_t)json_integer_value(json_object_get(b, "tokver"));
	json_object_set_new(o, "tokver", json_integer((json_int_t)ver));
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL) {
		r = fa_seterr(EX_TEMPFAIL, "out of secure memory");
		goto out;
	}
	if ((r = fa_tokens_get(v, t, id, ver, tok, &h)) != 0) {
		if (r == DB_NOTFOUND) {
			done(c, EX_NOPERM, "%s: no tokens", id);
			r = 0;
		}
		goto out;
	}
	/* The sweep (force 2) uses the same test: a binding refreshed by
	 * someone else since the due list was made is left alone. */
	if (force != 1 && tok->expires_at - now > cf->refresh_margin &&
	    tok->refresh_expires_at - now > 86400) {
		json_object_set_new(o, "state", json_string("fresh"));
		if (peek)	/* what it prints, and no more */
			json_object_set_new(o, "access",
			    json_string(tok->access));
		else
			tokens_out(o, tok);
		goto out;
	}
	if (peek) {
		json_object_set_new(o, "state", json_string("stale"));
		goto out;
	}
	/* The lease holder is a client process, named by its pid as the
	 * kernel gave it to the keeper of its site: retaking its own lease
	 * is harmless; one of another site's is held until it ends. */
	lease = json_object_get(b, "lease");
	holder = (pid_t)json_integer_value(json_object_get(lease, "pid"));
	if (lease != NULL && !holds(v, c, lease) &&
	    (strcmp(fa_jstr(lease, "site"), here(v)) != 0 || alive(holder)) &&
	    json_integer_value(json_object_get(lease, "until")) > now) {
		json_object_set_new(o, "state", json_string("busy"));
		json_object_set_new(o, "holder", json_integer(holder));
		goto out;
	}
	/* After a temporary failure (or a 429's Retry-After) FreeAgent is
	 * not asked again before retry_at: the stored token serves while
	 * it lasts, the sweep skips the binding, others are told to wait. */
	retry = json_integer_value(json_object_get(b, "retry_at"));
	if (force != 1 && retry > now) {
		if (force == 0 && tok->expires_at > now + 30) {
			json_object_set_new(o, "state", json_string("fresh"));
			tokens_out(o, tok);
		} else if (force == 2)
			done(c, 0, NULL);
		else
			done(c, EX_TEMPFAIL, "%s: FreeAgent is not asked again "
			    "before %lld s from now; try again then", id,
			    (long long)(retry - now));
		goto out;
	}
	/* Only the keeper's own user holds the client secrets and can
	 * refresh: any other (a worker, root in a vault another user owns)
	 * hears "due" and asks for the job (job.h). */
	if (c->uid != geteuid()) {
		json_object_set_new(o, "state", json_string("due"));
		goto out;
	}
	/* FreeAgent allows refresh_per_minute refreshes per company and
	 * ip_per_minute requests from us in all: stay under both. */
	snprintf(rkey, sizeof(rkey), "rate:refresh:%s:%.40s",
	    fa_jstr(b, "token_endpoint"), fa_jstr(json_object_get(b, "company"),
	    "id"));
	if ((r = fa_rate_take(v, t, keys, limits, 2, &wait)) != 0)
		goto out;
	if (wait > 0) {
		if (force == 0 && tok->expires_at > now + 30) {
			json_object_set_new(o, "state", json_string("fresh"));
			tokens_out(o, tok);
		} else if (force == 2)
			done(c, 0, NULL);	/* the next sweep's */
		else
			done(c, EX_TEMPFAIL, "%s: at the refresh rate limit; "
			    "try again in %lld s", id, (long long)wait);
		goto out;
	}
	json_object_set_new(b, "lease", json_pack("{s:i,s:s,s:I}", "pid",
	    (int)c->pid, "site", site(v, c), "until", (json_int_t)(now + secs)));
	if ((r = fa_binding_put(v, t, id, b)) == 0) {
		json_object_set_new(o, "state", json_string("leased"));
		tokens_out(o, tok);
	}
out:
	fa_secfree(tok);
	json_decref(b);
	return r;
}

static int
streq(const char *a, const char *b)
{
	size_t n = strnlen(a, FA_TOKLEN);

	return n == strnlen(b, FA_TOKLEN) && sodium_memcmp(a, b, n) == 0;
}

/* The binding's tokens, version ver, are tok: 1, 0 (not), or an error. */
static int
same(struct fa_vault *v, DB_TXN *t, const char *id, uint64_t ver,
    const struct fa_tokens *tok)
{
	struct fa_tokens *cur;
	struct fa_tokhdr h;
	int r;

	if ((cur = fa_secalloc(sizeof(*cur))) == NULL)
		return fa_seterr(EX_TEMPFAIL, "out of secure memory");
	if ((r = fa_tokens_get(v, t, id, ver, cur, &h)) == 0)
		r = streq(cur->refresh, tok->refresh) &&
		    streq(cur->access, tok->access);
	else if (r == DB_NOTFOUND)
		r = 0;
	fa_secfree(cur);
	return r;
}

/* What the token endpoint said to the holder of the lease: {"binding",
 * "tokver" (take's), "rv" (0 or the exit status), "message",
 * "retry_after", and when rv is 0 the new tokens: "access", "refresh",
 * "expires_at", "refresh_expires_at"}. They are committed durably before
 * anybody is handed the access token. The answer's "state": "fresh",
 * "done", or "busy" when the lease was lost meanwhile: then nothing is
 * concluded from this refresh. No token in the answer (FA_W). */
static int
v_refresh_finish(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	struct fa_tokens *tok = NULL;
	json_t *b = NULL, *lease;
	const char *id, *msg;
	int64_t now = fa_now(), ver0, rv, ra;
	uint64_t ver;
	int r;

	id = json_string_value(json_object_get(c->in, "binding"));
	if (fa_arg_int(c->in, "tokver", 0, INT64_MAX, -1, &ver0) == -1 ||
	    fa_arg_int(c->in, "rv", 0, 255, -1, &rv) == -1 ||
	    fa_arg_int(c->in, "retry_after", INT64_MIN, INT64_MAX, -1, &ra) == -1 ||
	    fa_arg_str(c->in, "message", MAXDETAIL, 0, &msg) == -1)
		return -1;
	if (msg == NULL)
		msg = "";
	if (ver0 == -1 || rv == -1)
		return fa_seterr(EX_DATAERR, "refresh.finish needs tokver "
		    "and rv");
	if (rv == 0) {
		if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
			return fa_seterr(EX_TEMPFAIL, "out of secure memory");
		if (tokens_in(c->in, tok) == -1) {
			fa_secfree(tok);
			return -1;
		}
	}
	if ((r = fa_binding_get(v, t, id, NULL, &b, DB_RMW)) != 0) {
		if (r == -1 && fa_errstatus() == EX_NOINPUT)
			fa_seterr(EX_NOINPUT, "binding %s vanished", id);
		goto out;
	}
	lease = json_object_get(b, "lease");
	ver = (uint64_t)json_integer_value(json_object_get(b, "tokver"));
	/* Our lease lapsed and another process refreshed meanwhile: its
	 * tokens are the newest; never conclude anything from ours. */
	if (ver != (uint64_t)ver0 ||
	    !holds(v, c, lease)) {
		/* Unless this very result is what the vault holds: the
		 * answer to its commit was lost (a keeper, a master, gone)
		 * and its request id forgotten. */
		json_object_set_new(c->out, "state", json_string(rv == 0 &&
		    (r = same(v, t, id, ver, tok)) == 1 ? "fresh" : "busy"));
		if (r == 1)
			r = 0;
		goto out;
	}
	json_object_del(b, "lease");
	json_object_set_new(b, "updated", json_integer(now));
	if (rv == 0) {
		ver = fa_tokver_bump(b);
		json_object_set_new(b, "last_refresh", json_integer(now));
		json_object_del(b, "last_failure");
		json_object_del(b, "retry_at");
		if ((r = fa_tokens_put(v, t, id, ver, tok)) == 0)
			r = fa_audit(v, t, id, fa_jstr(b, "tenant"), "refresh",
			    "ok", NULL);
		json_object_set_new(c->out, "state", json_string("fresh"));
	} else {
		json_object_set_new(b, "last_failure", json_pack(
		    "{s:I,s:I,s:s}", "time", (json_int_t)now, "status",
		    (json_int_t)rv, "message", msg));
		if (rv == EX_NOPERM) {
			r = fa_status_set(v, t, c, id, b, "needs_reconnect",
			    "refresh", "needs_reconnect", msg);
			if (r == 0 && (r = fa_tokens_setdue(v, t, id,
			    INT64_MAX)) == DB_NOTFOUND)
				r = 0;
		} else {
			json_object_set_new(b, "retry_at", json_integer(now +
			    (ra <= 0 ? TEMP_RETRY : ra < 3600 ? ra : 3600)));
			r = fa_audit(v, t, id, fa_jstr(b, "tenant"), "refresh",
			    rv == EX_CONFIG ? "config" : "temporary", "%s",
			    msg);
		}
		json_object_set_new(c->out, "state", json_string("done"));
	}
	/* Counted for the metrics (v_metrics.c): a 429 is the only
	 * failure that comes with a Retry-After. */
	if (r == 0)
		r = fa_count_bump(v, t, rv == 0 ? "refresh:ok" :
		    rv == EX_NOPERM ? "refresh:needs_reconnect" : ra >= 0 ?
		    "refresh:rate_limited" : "refresh:temporary");
	if (r == 0)
		r = fa_binding_put(v, t, id, b);
out:
	fa_secfree(tok);
	json_decref(b);
	return r;
}

/* The bindings due within refresh_margin, in due order: {"ids": […]}. */
static int
v_refresh_due(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	char (*ids)[65];
	json_t *a;
	int i, n, r;

	/* Only the master's sweep runs: a replica's finds nothing due. */
	if (v->repl && !v->master) {
		json_object_set_new(c->out, "ids", json_array());
		json_object_set_new(c->out, "replica", json_true());
		return 0;
	}
	if ((ids = calloc(MAXIDS, sizeof(*ids))) == NULL)
		return fa_seterr(1, "out of memory");
	r = fa_due_list(v, t, fa_now() + v->conf->refresh_margin, ids,
	    MAXIDS, &n);
	if (r == 0) {
		a = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(a, json_string(ids[i]));
		json_object_set_new(c->out, "ids", a);
	}
	free(ids);
	return r;
}

/* One request counted against ip_per_minute: {"wait": 0} when counted,
 * else the seconds until there is room (nothing counted). */
static int
v_rate_ip(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	int64_t wait;
	int r;

	if ((r = fa_rate_ip(v, t, &wait)) == 0)
		json_object_set_new(c->out, "wait", json_integer(wait));
	return r;
}

static int
clientargs(struct fa_call *c, const char **ep, const char **client)
{
	if (fa_arg_str(c->in, "endpoint", FA_NAMELEN - 1, 1, ep) == -1 ||
	    fa_arg_str(c->in, "client", 64, 1, client) == -1)
		return -1;
	if (!fa_validname(*ep, FA_NAMELEN) || !ishex(*client, 64))
		return fa_seterr(EX_DATAERR, "endpoint: a name; client: 64 "
		    "hex digits (fa_client_hash)");
	return 0;
}

/* {"endpoint", "client": fa_client_hash} -> {"known": got tokens in
 * the last day}. */
static int
v_client_known(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *ep, *client;
	int known, r;

	if (clientargs(c, &ep, &client) == -1)
		return -1;
	if ((r = fa_client_known(v, t, ep, client, &known)) == 0)
		json_object_set_new(c->out, "known", json_boolean(known));
	return r;
}

static int
v_client_worked(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *ep, *client;

	if (clientargs(c, &ep, &client) == -1)
		return -1;
	return fa_client_worked(v, t, ep, client);
}

/* FreeAgent's API limit is per company: so are ours, and its waits. */
static void
apikey(json_t *b, char *key, size_t size)
{
	snprintf(key, size, "rate:api:%s:%.40s", fa_jstr(b, "token_endpoint"),
	    fa_jstr(json_object_get(b, "company"), "id"));
}

/* What fa-prefetch needs of a binding: {"binding", "cache": true for
 * the cached copy too}. */
static int
v_prefetch_look(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *id;
	json_t *b, *ch, *o = c->out;
	int r;

	id = json_string_value(json_object_get(c->in, "binding"));
	if ((r = fa_binding_get(v, t, id, NULL, &b, 0)) != 0)
		return r;
	json_object_set_new(o, "tenant", json_string(fa_jstr(b, "tenant")));
	json_object_set_new(o, "endpoint",
	    json_string(fa_jstr(b, "token_endpoint")));
	json_object_set_new(o, "company",
	    json_string(fa_jstr(json_object_get(b, "company"), "id")));
	json_object_set_new(o, "connected",
	    json_boolean(strcmp(fa_jstr(b, "status"), "connected") == 0));
	json_decref(b);
	if (!json_is_true(json_object_get(c->in, "cache")))
		return 0;
	if ((r = fa_getjson(v->cache, t, id, &ch, 0)) == 0)
		json_object_set_new(o, "cache", ch);
	return r == DB_NOTFOUND ? 0 : r;
}

/* One API request counted against the company's api_per_minute and
 * ip_per_minute: {"binding"}; 75 when there is no room. */
static int
v_rate_api(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const struct fa_conf *cf = v->conf;
	char key[128];
	const char *id, *keys[2] = { key, "rate:ip" };
	long limits[2] = { cf->api_per_minute, cf->ip_per_minute };
	int64_t wait;
	json_t *b;
	int r;

	id = json_string_value(json_object_get(c->in, "binding"));
	if ((r = fa_binding_get(v, t, id, NULL, &b, 0)) != 0)
		return r;
	apikey(b, key, sizeof(key));
	json_decref(b);
	if ((r = fa_rate_take(v, t, keys, limits, 2, &wait)) != 0)
		return r;
	return wait > 0 ? fa_seterr(EX_TEMPFAIL, "at the API rate limit; try "
	    "again in %lld s", (long long)wait) : 0;
}

/* Parts wait in the cache database under keys no binding id can have:
 * a line of JSON, {"binding", "at"}, then the part's text as it came.
 * Not the text inside the JSON: each part would be escaped and parsed
 * again on its way through, and the cache is the largest thing kept. */
static void
partkey(char *key, size_t size, const char *upload, int64_t seq)
{
	snprintf(key, size, "part:%s:%lld", upload, (long long)seq);
}

/* A part's head, parsed; *text and *len: the rest. NULL if the record
 * is not a part. */
static json_t *
parthead(const DBT *d, const char **text, size_t *len)
{
	const char *nl;
	json_t *h;

	if ((nl = memchr(d->data, '\n', d->size)) == NULL ||
	    (h = json_loadb(d->data, (size_t)(nl - (char *)d->data), 0,
	    NULL)) == NULL)
		return NULL;
	if (!json_is_object(h)) {
		json_decref(h);
		return NULL;
	}
	*text = nl + 1;
	*len = d->size - (size_t)(nl + 1 - (char *)d->data);
	return h;
}

/* A piece of a cache too big for one request: {"binding", "upload": 32
 * hex digits, "seq", "text"}; prefetch.save puts them together. Sent
 * again, a part is only written again. */
static int
v_prefetch_part(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	const char *id, *up, *text;
	char key[64], *head, *rec;
	size_t hl, tl;
	int64_t seq;
	json_t *h;
	int r;

	id = json_string_value(json_object_get(c->in, "binding"));
	if (!fa_validid(id))
		return fa_seterr(EX_DATAERR, "invalid binding name");
	if (fa_arg_str(c->in, "upload", 32, 1, &up) == -1 ||
	    fa_arg_int(c->in, "seq", 0, MAXPARTS - 1, -1, &seq) == -1 ||
	    fa_arg_str(c->in, "text", FA_PARTLEN, 1, &text) == -1)
		return -1;
	if (!ishex(up, 32) || seq < 0)
		return fa_seterr(EX_DATAERR, "upload: 32 hex digits; seq");
	partkey(key, sizeof(key), up, seq);
	h = json_pack("{s:s,s:I}", "binding", id, "at", (json_int_t)fa_now());
	head = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	tl = json_string_length(json_object_get(c->in, "text"));
	if (head == NULL || (rec = malloc((hl = strlen(head)) + 1 + tl)) ==
	    NULL) {
		fa_jsonfree(head);
		return fa_seterr(1, "out of memory");
	}
	memcpy(rec, head, hl);
	rec[hl] = '\n';
	memcpy(rec + hl + 1, text, tl);
	fa_jsonfree(head);
	r = fa_puttext(v->cache, t, key, rec, hl + 1 + tl);
	free(rec);
	return r;
}

/* Parts whose client died before it saved them. */
static int
dropstale(struct fa_vault *v, DB_TXN *t)
{
	const char *text;
	size_t len;
	json_t *h;
	DBC *cur;
	DBT k, d;
	int64_t old = fa_now() - PART_TTL;
	int r;

	if ((r = v->cache->cursor(v->cache, t, &cur, 0)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = "part:";
	k.size = 5;
	for (r = cur->get(cur, &k, &d, DB_SET_RANGE); r == 0;
	    r = cur->get(cur, &k, &d, DB_NEXT)) {
		if (k.size < 5 || memcmp(k.data, "part:", 5) != 0)
			break;
		h = parthead(&d, &text, &len);
		if (json_integer_value(json_object_get(h, "at")) < old &&
		    (r = cur->del(cur, 0)) != 0) {
			json_decref(h);
			break;
		}
		json_decref(h);
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

/* The cache's JSON text, *buf (*len bytes): its parts (taken out), then
 * "text"; *cache, the same parsed, which checks it. */
static int
assemble(struct fa_vault *v, DB_TXN *t, const char *id, json_t *in,
    char **buf, size_t *len, json_t **cache)
{
	const char *up = NULL, *text, *pt;
	char key[64], *nb;
	size_t n;
	int64_t parts, i;
	json_t *h;
	DBT k, d;
	int r = 0;

	*cache = NULL;
	*buf = NULL;
	*len = 0;
	if (fa_arg_str(in, "text", FA_PARTLEN, 1, &text) == -1 ||
	    fa_arg_int(in, "parts", 0, MAXPARTS, 0, &parts) == -1 ||
	    (parts > 0 && fa_arg_str(in, "upload", 32, 1, &up) == -1))
		return -1;
	if (up != NULL && !ishex(up, 32))
		return fa_seterr(EX_DATAERR, "upload: 32 hex digits");
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_REALLOC;
	for (i = 0; i <= parts; i++) {
		h = NULL;
		if (i < parts) {
			partkey(key, sizeof(key), up, i);
			k.data = key;
			k.size = strlen(key);
			if ((r = v->cache->get(v->cache, t, &k, &d, DB_RMW)) ==
			    0 && ((h = parthead(&d, &pt, &n)) == NULL ||
			    strcmp(fa_jstr(h, "binding"), id) != 0))
				r = DB_NOTFOUND;
			if (r == DB_NOTFOUND) {
				r = fa_seterr(EX_TEMPFAIL, "%s: part of its "
				    "reference data went missing; try again",
				    id);
				break;
			}
			if (r != 0 || (r = v->cache->del(v->cache, t, &k,
			    0)) != 0)
				break;
		} else {
			pt = text;
			n = json_string_length(json_object_get(in, "text"));
		}
		json_decref(h);
		h = NULL;
		if ((nb = realloc(*buf, *len + n + 1)) == NULL) {
			r = fa_seterr(1, "out of memory");
			break;
		}
		*buf = nb;
		memcpy(*buf + *len, pt, n);
		*len += n;
	}
	json_decref(h);
	free(d.data);
	if (r == 0 && parts > 0)
		r = dropstale(v, t);
	if (r == 0 && ((*cache = json_loadb(*buf, *len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(*cache) ||
	    strcmp(fa_jstr(*cache, "binding"), id) != 0)) {
		json_decref(*cache);
		*cache = NULL;
		r = fa_seterr(EX_DATAERR, "%s: the reference data is not a "
		    "JSON object of this binding", id);
	}
	if (r != 0) {
		free(*buf);
		*buf = NULL;
	}
	return r;
}

/* The end of a prefetch, in one transaction: {"binding", "outcome":
 * ok|failed|needs_reconnect, "detail", and as it applies: the new
 * cache ("text", after "parts" sent in "upload"), "hold": FreeAgent's
 * Retry-After to keep, "mark": the API refused a fresh token}. */
static int
v_prefetch_save(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	static const char *const outcomes[] = { "ok", "failed",
	    "needs_reconnect" };
	const char *id, *outcome, *detail;
	char key[128];
	json_t *b = NULL, *cache = NULL;
	char *text = NULL;
	int64_t hold;
	int mark, r;
	size_t i, len;

	id = json_string_value(json_object_get(c->in, "binding"));
	mark = json_is_true(json_object_get(c->in, "mark"));
	if (fa_arg_str(c->in, "outcome", 20, 1, &outcome) == -1 ||
	    fa_arg_str(c->in, "detail", MAXDETAIL, 0, &detail) == -1 ||
	    fa_arg_int(c->in, "hold", 0, FA_HOLD_MAX, 0, &hold) == -1)
		return -1;
	if (detail == NULL)
		detail = "";
	for (i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]) &&
	    strcmp(outcome, outcomes[i]) != 0; i++)
		;
	if (i == sizeof(outcomes) / sizeof(outcomes[0]))
		return fa_seterr(EX_DATAERR, "outcome: ok, failed or "
		    "needs_reconnect");
	if ((r = fa_binding_get(v, t, id, NULL, &b, mark ||
	    json_object_get(c->in, "text") != NULL ? DB_RMW : 0)) != 0)
		return r;
	if (json_object_get(c->in, "text") != NULL &&
	    ((r = assemble(v, t, id, c->in, &text, &len, &cache)) != 0 ||
	    (r = fa_puttext(v->cache, t, id, text, len)) != 0))
		goto out;
	if (hold > 0) {
		apikey(b, key, sizeof(key));
		if ((r = fa_rate_hold(v, t, key, hold)) != 0)
			goto out;
	}
	/* Read again under a write lock: disconnected or reconnected
	 * meanwhile, the 401 says nothing about the binding as it is now. */
	if (mark && strcmp(fa_jstr(b, "status"), "connected") != 0) {
		mark = 0;
		outcome = "failed";
	}
	if (mark) {
		if ((r = fa_status_set(v, t, c, id, b, "needs_reconnect",
		    "prefetch", outcome, detail)) == 0 &&
		    (r = fa_binding_put(v, t, id, b)) == 0 &&
		    (r = fa_tokens_setdue(v, t, id, INT64_MAX)) == DB_NOTFOUND)
			r = 0;
	} else if (i == 0 && cache != NULL) {
		/* What the merchant's history shows: what came. The binding
		 * keeps when, for the metrics' oldest reference data. */
		json_object_set_new(b, "fetched_at", json_integer(fa_now()));
		if ((r = fa_binding_put(v, t, id, b)) == 0)
			r = fa_audit(v, t, id, fa_jstr(b, "tenant"), "prefetch",
			    outcome, "%zu categories, %zu bank accounts",
			    json_array_size(json_object_get(cache,
			    "income_categories")),
			    json_array_size(json_object_get(cache,
			    "bank_accounts")));
	} else
		r = fa_audit(v, t, id, fa_jstr(b, "tenant"), "prefetch", outcome,
		    "%s", detail);
out:
	free(text);
	json_decref(cache);
	json_decref(b);
	return r;
}

/* fa-refresh --probe --all: the connected bindings, {"ids": [...]};
 * none on a replica, as for the sweep. */
static int
v_probe_list(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	json_t *b, *ids;
	DBC *cur;
	DBT k, d;
	int r, n = 0;

	ids = json_array();
	json_object_set_new(c->out, "ids", ids);
	if (v->repl && !v->master)
		return 0;
	if ((r = v->bindings->cursor(v->bindings, t, &cur,
	    DB_READ_COMMITTED)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while (n < MAXIDS && (r = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		if ((b = json_loadb(d.data, d.size, 0, NULL)) == NULL)
			continue;
		if (strcmp(fa_jstr(b, "status"), "connected") == 0 &&
		    fa_validid(fa_jstr(b, "id"))) {
			json_array_append_new(ids, json_string(fa_jstr(b, "id")));
			n++;
		}
		json_decref(b);
	}
	cur->close(cur);
	return r == DB_NOTFOUND || n == MAXIDS ? 0 : r;
}

/* A probe's outcome: {"binding", "tokver" (of the token it used),
 * "outcome": ok|needs_reconnect|failed, "detail"}, counted. A refusal
 * marks the binding needs_reconnect, with its hook, unless it changed
 * since (disconnected, reconnected, refreshed: the 401 was about a
 * token it no longer has). */
static int
v_probe_done(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	static const char *const outcomes[] = { "ok", "needs_reconnect",
		"failed", NULL };
	const char *id, *outcome, *detail;
	char name[40];
	int64_t ver;
	json_t *b;
	int i, r;

	id = json_string_value(json_object_get(c->in, "binding"));
	if (fa_arg_str(c->in, "outcome", 20, 1, &outcome) == -1 ||
	    fa_arg_str(c->in, "detail", MAXDETAIL, 0, &detail) == -1 ||
	    fa_arg_int(c->in, "tokver", 0, INT64_MAX, -1, &ver) == -1)
		return -1;
	for (i = 0; outcomes[i] != NULL && strcmp(outcome, outcomes[i]) != 0;
	    i++)
		;
	if (outcomes[i] == NULL || ver < 0)
		return fa_seterr(EX_DATAERR, "probe.done needs tokver and an "
		    "outcome: ok, needs_reconnect or failed");
	if ((r = fa_binding_get(v, t, id, NULL, &b, DB_RMW)) != 0)
		return r;
	snprintf(name, sizeof(name), "probe:%s", outcome);
	if ((r = fa_count_bump(v, t, name)) == 0 && i == 1 &&
	    strcmp(fa_jstr(b, "status"), "connected") == 0 &&
	    json_integer_value(json_object_get(b, "tokver")) == ver &&
	    (r = fa_status_set(v, t, c, id, b, "needs_reconnect", "probe",
	    "needs_reconnect", detail != NULL ? detail : "")) == 0 &&
	    (r = fa_tokens_setdue(v, t, id, INT64_MAX)) == DB_NOTFOUND)
		r = 0;
	if (r == 0)
		r = fa_binding_put(v, t, id, b);
	json_decref(b);
	return r;
}

/* Connected bindings whose cache is older than "stale" seconds, or
 * missing: {"ids": […]}. */
static int
v_prefetch_stale(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	json_t *b, *ch, *ids;
	char id[65];
	int64_t stale, before;
	DBC *cur;
	DBT k, d;
	int r, g, n = 0;

	if (fa_arg_int(c->in, "stale", 0, INT64_MAX / 2, -1, &stale) == -1)
		return -1;
	if (stale < 0)
		return fa_seterr(EX_DATAERR, "prefetch.stale needs stale");
	/* As the sweep: only the master's runs. */
	if (v->repl && !v->master) {
		json_object_set_new(c->out, "ids", json_array());
		return 0;
	}
	before = fa_now() - stale;
	if ((r = v->bindings->cursor(v->bindings, t, &cur,
	    DB_READ_COMMITTED)) != 0)
		return r;
	ids = json_array();
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while (n < MAXIDS && (r = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		if (k.size >= sizeof(id))
			continue;
		memcpy(id, k.data, k.size);
		id[k.size] = '\0';
		if (!fa_validid(id) ||
		    (b = json_loadb(d.data, d.size, 0, NULL)) == NULL)
			continue;
		if (strcmp(fa_jstr(b, "status"), "connected") == 0) {
			g = fa_getjson(v->cache, t, id, &ch, 0);
			if (g == DB_NOTFOUND || (g == 0 && json_integer_value(
			    json_object_get(ch, "fetched_at")) < before)) {
				json_array_append_new(ids, json_string(id));
				n++;
			}
			if (g == 0)
				json_decref(ch);
			else if (g != DB_NOTFOUND && g != -1)
				r = g;	/* a bad record is no reason to stop */
		}
		json_decref(b);
		if (r != 0)
			break;
	}
	cur->close(cur);
	if (r == DB_NOTFOUND || n == MAXIDS)
		r = 0;
	if (r == 0)
		json_object_set_new(c->out, "ids", ids);
	else
		json_decref(ids);
	return r;
}

const struct fa_verb fa_verbs_token[] = {
	{ "refresh.take",	v_refresh_take,		FA_BYWORKER },
	{ "refresh.finish",	v_refresh_finish,	FA_W },
	{ "refresh.due",	v_refresh_due,		FA_BYWORKER },
	{ "probe.list",		v_probe_list,		FA_BYWORKER },
	{ "probe.done",		v_probe_done,		FA_W },
	{ "rate.ip",		v_rate_ip,		0 },
	{ "rate.api",		v_rate_api,		0 },
	{ "client.known",	v_client_known,		0 },
	{ "client.worked",	v_client_worked,	0 },
	{ "prefetch.look",	v_prefetch_look,	FA_BYWORKER },
	{ "prefetch.part",	v_prefetch_part,	0 },
	{ "prefetch.save",	v_prefetch_save,	FA_W },
	{ "prefetch.stale",	v_prefetch_stale,	FA_BYWORKER },
	{ NULL, NULL, 0 }
};
