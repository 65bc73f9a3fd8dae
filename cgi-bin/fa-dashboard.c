/* fa-dashboard: the dashboard's CGI pages (so far: the bindings list,
 * one binding, and the connect flow: connect-freeagent, the callback). The tenant is REMOTE_USER and nothing else;
 * another tenant's binding answers 404, as does a binding that does not
 * exist. Everything printed into HTML is escaped. */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cgi.h"
#include "conf.h"
#include "diag.h"
#include "secmem.h"
#include "url.h"
#include "vault.h"

extern char **environ;

static struct fa_conf conf;
static struct fa_vault vault;
static const char *tenant;

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static void __attribute__((noreturn))
page(int status, const char *title, const char *msg)
{
	if (status == 405)
		fputs("Allow: GET\r\n", stdout);
	fa_cgi_begin(stdout, status, title);
	fputs("<h1>", stdout);
	fa_html(stdout, title);
	fputs("</h1><p>", stdout);
	fa_html(stdout, msg);
	fputs("</p>", stdout);
	fa_cgi_end(stdout);
	exit(0);
}

static void
row(json_t *b, int link)
{
	const char *st = jstr(b, "status"), *id = jstr(b, "id");
	json_t *co = json_object_get(b, "company");

	printf("<div class=\"row %s\">", strcmp(st, "connected") == 0 ? "ok" :
	    strcmp(st, "needs_reconnect") == 0 ? "bad" : "");
	if (strcmp(st, "connected") == 0) {
		fputs("Magento ", stdout);
		fa_html(stdout, jstr(b, "magento"));
		fputs(" &harr; FreeAgent ", stdout);
		fa_html(stdout, jstr(co, "name"));
		fputs(" [<a href=\"/dashboard/settings/", stdout);
		fa_html(stdout, id);
		fputs("\">Settings</a>] [<a href=\"/dashboard/bindings/", stdout);
		fa_html(stdout, id);
		fputs("\">Sync history</a>]", stdout);
	} else {
		fputs("Magento ", stdout);
		fa_html(stdout, jstr(b, "magento"));
		if (strcmp(st, "needs_reconnect") == 0)
			fputs(" &mdash; FreeAgent refused access", stdout);
		else if (strcmp(st, "disconnected") == 0)
			fputs(" &mdash; disconnected (to cut FreeAgent off "
			    "completely, remove the app there under Settings "
			    "&rarr; Connected apps)", stdout);
		else
			fputs(" &mdash; FreeAgent not connected yet", stdout);
		fputs(" <a href=\"/dashboard/connect-freeagent?binding=",
		    stdout);
		fa_html(stdout, id);
		fputs(strcmp(st, "pending") == 0 ? "\">Connect FreeAgent</a>" :
		    "\">Reconnect</a>", stdout);
	}
	if (link) {
		fputs(" <a href=\"/dashboard/bindings/", stdout);
		fa_html(stdout, id);
		fputs("\">details</a>", stdout);
	}
	fputs("</div>\n", stdout);
}

static int
collect(json_t *b, void *a)
{
	return json_array_append(a, b);
}

static int
list(struct fa_vault *v, DB_TXN *t, void *a)
{
	json_t **out = a;

	json_decref(*out);	/* a transaction retried */
	*out = json_array();
	return fa_each_binding(v, t, tenant, collect, *out);
}

struct one {
	const char	*id;
	json_t		*b;
};

static int
getone(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct one *o = a;
	int r;

	json_decref(o->b);	/* a transaction retried */
	r = fa_getjson(v->bindings, t, o->id, &o->b, 0);
	return r == DB_NOTFOUND ? 0 : r;
}


/* Anti-CSRF token: HMAC of the tenant and the day, keyed from the vault
 * key; today's and yesterday's are accepted. */
static void
csrf(long day, char out[44])
{
	unsigned char k[32], h[32];
	char msg[128];

	crypto_generichash(k, sizeof(k), (const unsigned char *)"fa-csrf", 7,
	    vault.keys[0].k, 32);
	snprintf(msg, sizeof(msg), "%s/%ld", tenant, day);
	crypto_auth_hmacsha256(h, (const unsigned char *)msg, strlen(msg), k);
	sodium_bin2base64(out, 44, h, sizeof(h),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(k, sizeof(k));
}

static int
csrf_ok(const char *got)
{
	char want[44];
	long day = (long)(time(NULL) / 86400);
	int i;

	if (got == NULL || strlen(got) != 43)
		return 0;
	for (i = 0; i < 2; i++) {
		csrf(day - i, want);
		if (sodium_memcmp(want, got, 43) == 0)
			return 1;
	}
	return 0;
}

/* Runs a program of ours (beside this one, in ../bin) with argv; stdin
 * from fd in (or /dev/null), stdout into out (up to outsz-1 bytes).
 * Returns its exit status, or -1. */
static int
run(char *const argv[], int in, char *out, size_t outsz)
{
	posix_spawn_file_actions_t fa;
	char prog[PATH_MAX];
	const char *bindir = getenv("FA_BINDIR");
	int p[2], st = 0, e;
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/%s", bindir ? bindir : FA_BINDIR,
	    argv[0]);
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	posix_spawn_file_actions_init(&fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	e = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e != 0) {
		close(p[0]);
		return -1;
	}
	/* Read it all, keep what fits: a child must never block on us. */
	for (;;) {
		char sink[4096];

		if (len < outsz - 1)
			n = read(p[0], out + len, outsz - 1 - len);
		else
			n = read(p[0], sink, sizeof(sink));
		if (n <= 0)
			break;
		if (len < outsz - 1)
			len += (size_t)n;
	}
	close(p[0]);
	out[len] = '\0';
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Plain http from this very host (the demo, the tests): the only case
 * where the state cookie goes without Secure. */
static int
loopback(void)
{
	const char *h = getenv("HTTPS"), *a = getenv("REMOTE_ADDR");

	return (h == NULL || strcmp(h, "on") != 0) && a != NULL &&
	    (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0);
}

static void __attribute__((noreturn))
redirect(const char *location, const char *cookie)
{
	printf("Status: 303\r\nLocation: %s\r\n", location);
	if (cookie != NULL)
		printf("Set-Cookie: %s\r\n", cookie);
	printf("Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
	    "Content-Length: 0\r\n\r\n");
	fflush(stdout);
	exit(0);
}

/* GET: the Connect FreeAgent button; POST: start the connect. */
static void
connect_page(const char *method)
{
	struct fa_query q;
	const char *id = NULL, *tok = NULL;
	char body[FA_QMAXLEN + 1], out[4096], cookie[256], tk[44];
	char *argv[6];
	const char *len = getenv("CONTENT_LENGTH");
	json_t *j;
	long n;
	int st;

	if (strcmp(method, "GET") == 0) {
		if (fa_query_parse(&q, getenv("QUERY_STRING") ?
		    getenv("QUERY_STRING") : "") == -1 ||
		    fa_query_get(&q, "binding", &id) == -1 || id == NULL ||
		    !fa_validname(id, 65))
			page(404, "Not found", "no such binding");
		csrf((long)(time(NULL) / 86400), tk);
		fa_cgi_begin(stdout, 200, "Connect FreeAgent");
		fputs("<h1>Connect FreeAgent</h1><form method=\"post\" "
		    "action=\"/dashboard/connect-freeagent\">"
		    "<input type=\"hidden\" name=\"binding\" value=\"", stdout);
		fa_html(stdout, id);
		fputs("\"><input type=\"hidden\" name=\"csrf\" value=\"",
		    stdout);
		fa_html(stdout, tk);
		fputs("\"><button type=\"submit\">Connect FreeAgent</button>"
		    "</form>", stdout);
		fa_cgi_end(stdout);
		exit(0);
	}
	n = len != NULL ? strtol(len, NULL, 10) : -1;
	if (n < 0 || n > FA_QMAXLEN || fread(body, 1, (size_t)n, stdin) !=
	    (size_t)n)
		page(400, "Bad request", "the form could not be read");
	body[n] = '\0';
	if (fa_query_parse(&q, body) == -1 ||
	    fa_query_get(&q, "binding", &id) == -1 ||
	    fa_query_get(&q, "csrf", &tok) == -1 || !csrf_ok(tok))
		page(403, "Forbidden", "this form has expired or did not come "
		    "from the dashboard: go back and try again");
	if (id == NULL || !fa_validname(id, 65))
		page(404, "Not found", "no such binding");
	argv[0] = "fa-authurl";
	argv[1] = "-j";
	argv[2] = "-t";
	argv[3] = (char *)tenant;
	argv[4] = (char *)id;
	argv[5] = NULL;
	st = run(argv, -1, out, sizeof(out));
	if (st == 66)
		page(404, "Not found", "no such binding");
	if (st != 0 || (j = json_loads(out, 0, NULL)) == NULL ||
	    !json_is_string(json_object_get(j, "url")) ||
	    !json_is_string(json_object_get(j, "state")))
		page(503, "Unavailable", "the connect could not start; try "
		    "again in a moment");
	snprintf(cookie, sizeof(cookie), "fa_state=%s; Path=/dashboard/; "
	    "Max-Age=600; HttpOnly; SameSite=Lax%s",
	    json_string_value(json_object_get(j, "state")),
	    loopback() ? "" : "; Secure");
	/* The consent URL is ours (fa-authurl built it from fa.conf); it
	 * is shorter than the JSON that held it. */
	snprintf(out, sizeof(out), "%s", json_string_value(json_object_get(j,
	    "url")));
	json_decref(j);
	redirect(out, cookie);
}

/* Which binding a state was minted for (read only: fa-exchange is the
 * one that consumes it). */
struct statearg {
	const char	*state;
	char		 binding[65];
};

static int
statebinding(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct statearg *sa = a;
	unsigned char h[32];
	json_t *j;
	DBT k, d;
	int r;

	crypto_hash_sha256(h, (const unsigned char *)sa->state,
	    strlen(sa->state));
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = h;
	k.size = sizeof(h);
	d.flags = DB_DBT_MALLOC;
	if ((r = v->states->get(v->states, t, &k, &d, 0)) != 0)
		return r == DB_NOTFOUND ? 0 : r;
	j = json_loadb(d.data, d.size, 0, NULL);
	free(d.data);
	snprintf(sa->binding, sizeof(sa->binding), "%s",
	    jstr(j, "binding"));
	json_decref(j);
	return 0;
}

static void __attribute__((noreturn))
callback_page(void)
{
	struct fa_query q;
	const char *st = NULL, *qs = getenv("QUERY_STRING");
	char cbuf[64], out[512];
	char *ex[5], *store[3], *pre[3];
	struct statearg sa;
	int p[2], rs, rx;
	pid_t pid;
	posix_spawn_file_actions_t fa;
	char prog[PATH_MAX];
	const char *bindir = getenv("FA_BINDIR");
	int stt;

	if (qs == NULL || fa_query_parse(&q, qs) == -1 ||
	    fa_query_get(&q, "state", &st) == -1 || st == NULL ||
	    fa_cookie_get(getenv("HTTP_COOKIE"), "fa_state", cbuf,
	    sizeof(cbuf)) != 1 ||
	    strlen(st) != strlen(cbuf) ||
	    sodium_memcmp(st, cbuf, strlen(cbuf)) != 0)
		page(400, "Connect not recognised", "this connect was not "
		    "started in this browser, or took too long: go back to "
		    "your bindings and click Connect FreeAgent again");
	sa.state = cbuf;
	sa.binding[0] = '\0';
	if (fa_vault_open(&vault, &conf, 0) == 0) {
		(void)fa_vault_txn(&vault, statebinding, &sa);
		fa_vault_close(&vault);
	}
	/* fa-exchange | fa-vault store */
	if (pipe2(p, O_CLOEXEC) == -1)
		page(503, "Unavailable", "try again in a moment");
	ex[0] = "fa-exchange";
	ex[1] = "-t";
	ex[2] = (char *)tenant;
	ex[3] = NULL;
	snprintf(prog, sizeof(prog), "%s/fa-exchange", bindir ? bindir :
	    FA_BINDIR);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (posix_spawn(&pid, prog, &fa, NULL, ex, environ) != 0)
		page(503, "Unavailable", "try again in a moment");
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	store[0] = "fa-vault";
	store[1] = "store";
	store[2] = NULL;
	rs = run(store, p[0], out, sizeof(out));
	close(p[0]);
	rx = -1;
	stt = 1 << 8;
	while (waitpid(pid, &stt, 0) == -1)
		if (errno != EINTR)
			break;
	if (WIFEXITED(stt))
		rx = WEXITSTATUS(stt);
	if (rx == 77)
		page(403, "Not connected", "the connection was declined, or "
		    "FreeAgent refused it; nothing changed. Click Connect "
		    "FreeAgent to try again");
	if (rx == 65)
		page(400, "Connect not recognised", "this connect was already "
		    "used or took too long: click Connect FreeAgent again");
	if (rx != 0)
		page(503, "FreeAgent unavailable", "FreeAgent could not be "
		    "reached; nothing changed. Try again in a few minutes");
	if (rs == 77)
		page(403, "Not connected", "this binding is locked to another "
		    "FreeAgent company, or your plan's limit is reached; "
		    "nothing changed");
	if (rs != 0)
		page(503, "Unavailable", "the connection could not be saved; "
		    "click Connect FreeAgent again");
	/* Reference data right away, for the settings page; a failure
	 * here is not the connect's: the page shows the cache's age. */
	if (fa_validname(sa.binding, 65)) {
		pre[0] = "fa-prefetch";
		pre[1] = sa.binding;
		pre[2] = NULL;
		(void)run(pre, -1, out, sizeof(out));
	}
	redirect("/dashboard/bindings", "fa_state=; Path=/dashboard/; "
	    "Max-Age=0; HttpOnly; SameSite=Lax");
}

static void
when(const char *label, int64_t t)
{
	char buf[64];
	time_t tt = (time_t)t;

	if (t <= 0)
		return;
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", gmtime(&tt));
	printf("<tr><th>%s</th><td>%s</td></tr>\n", label, buf);
}

struct detail {
	const char	*id;
	struct fa_tokhdr h;
	int		 havetok;
	int64_t		 fetched;
	json_t		*events;
};

static int
details(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct detail *d = a;
	json_t *c;
	DBC *cur;
	DBT sk, pk, dd;
	uint32_t op = DB_SET;
	int r;

	r = fa_tokhdr_get(v->tokens, t, d->id, &d->h, NULL, NULL);
	if (r != 0 && r != DB_NOTFOUND && r != -1)
		return r;
	d->havetok = r == 0;
	if ((r = fa_getjson(v->cache, t, d->id, &c, 0)) == 0) {
		d->fetched = json_integer_value(json_object_get(c,
		    "fetched_at"));
		json_decref(c);
	} else if (r != DB_NOTFOUND && r != -1)
		return r;
	d->events = json_array();
	if ((r = v->auditidx->cursor(v->auditidx, t, &cur,
	    DB_READ_COMMITTED)) != 0)
		return r;
	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&dd, 0, sizeof(dd));
	sk.data = (void *)d->id;
	sk.size = strlen(d->id);
	while ((r = cur->pget(cur, &sk, &pk, &dd, op)) == 0) {
		op = DB_NEXT_DUP;
		if ((c = json_loadb(dd.data, dd.size, 0, NULL)) != NULL)
			json_array_append_new(d->events, c);
		/* the last 10 */
		if (json_array_size(d->events) > 10)
			json_array_remove(d->events, 0);
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

static void
binding_page(struct one *o)
{
	struct detail d;
	const char *st = jstr(o->b, "status");
	json_t *co = json_object_get(o->b, "company"), *e, *lf;
	char tk[44];
	size_t i;

	memset(&d, 0, sizeof(d));
	d.id = o->id;
	if (fa_vault_txn(&vault, details, &d) == -1)
		page(503, "Unavailable", "try again in a moment");
	fa_cgi_begin(stdout, 200, "Binding");
	fputs("<h1>Binding ", stdout);
	fa_html(stdout, o->id);
	fputs("</h1>\n", stdout);
	row(o->b, 0);
	fputs("<table>\n<tr><th>Status</th><td>", stdout);
	fa_html(stdout, st);
	fputs("</td></tr>\n<tr><th>FreeAgent company</th><td>", stdout);
	fa_html(stdout, jstr(co, "name"));
	fputs("</td></tr>\n", stdout);
	if (d.havetok) {
		when("Access token expires", d.h.expires_at);
		when("Refresh token expires", d.h.refresh_expires_at);
	}
	when("Last refresh", json_integer_value(json_object_get(o->b,
	    "last_refresh")));
	lf = json_object_get(o->b, "last_failure");
	if (lf != NULL) {
		when("Last failure", json_integer_value(json_object_get(lf,
		    "time")));
		fputs("<tr><th>Failure</th><td>", stdout);
		fa_html(stdout, jstr(lf, "message"));
		fputs("</td></tr>\n", stdout);
	}
	when("Reference data fetched", d.fetched);
	fputs("</table>\n<h2>Recent events</h2>\n<ul>\n", stdout);
	json_array_foreach(d.events, i, e) {
		char buf[64];
		time_t tt = (time_t)json_integer_value(json_object_get(e,
		    "time"));

		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", gmtime(&tt));
		printf("<li>%s ", buf);
		fa_html(stdout, jstr(e, "event"));
		fputs(": ", stdout);
		fa_html(stdout, jstr(e, "outcome"));
		fputs("</li>\n", stdout);
	}
	fputs("</ul>\n", stdout);
	json_decref(d.events);
	if (strcmp(st, "connected") == 0 || strcmp(st, "needs_reconnect") == 0) {
		csrf((long)(time(NULL) / 86400), tk);
		fputs("<form method=\"post\" action=\"/dashboard/bindings/",
		    stdout);
		fa_html(stdout, o->id);
		fputs("/disconnect\"><input type=\"hidden\" name=\"csrf\" "
		    "value=\"", stdout);
		fa_html(stdout, tk);
		fputs("\"><button type=\"submit\">Disconnect</button></form>\n",
		    stdout);
	}
	if (strcmp(st, "connected") != 0) {
		fputs("<p><a href=\"/dashboard/connect-freeagent?binding=",
		    stdout);
		fa_html(stdout, o->id);
		fputs("\">Connect FreeAgent</a></p>\n", stdout);
	}
	fa_cgi_end(stdout);
}

/* POST /dashboard/bindings/{id}/disconnect, with the CSRF token. */
static void __attribute__((noreturn))
disconnect_page(const char *path)
{
	struct fa_query q;
	const char *tok = NULL, *len = getenv("CONTENT_LENGTH");
	char id[65], body[FA_QMAXLEN + 1], out[512];
	char *argv[5];
	size_t n = strlen(path) - 10 - 11;
	long l;
	int st;

	if (n == 0 || n >= sizeof(id))
		page(404, "Not found", "no such binding");
	memcpy(id, path + 10, n);
	id[n] = '\0';
	l = len != NULL ? strtol(len, NULL, 10) : -1;
	if (!fa_validname(id, 65) || l < 0 || l > FA_QMAXLEN ||
	    fread(body, 1, (size_t)l, stdin) != (size_t)l)
		page(400, "Bad request", "the form could not be read");
	body[l] = '\0';
	if (fa_query_parse(&q, body) == -1 ||
	    fa_query_get(&q, "csrf", &tok) == -1 || !csrf_ok(tok))
		page(403, "Forbidden", "this form has expired or did not come "
		    "from the dashboard: go back and try again");
	fa_vault_close(&vault);
	argv[0] = "fa-revoke";
	argv[1] = "-t";
	argv[2] = (char *)tenant;
	argv[3] = id;
	argv[4] = NULL;
	st = run(argv, -1, out, sizeof(out));
	if (st == 66)
		page(404, "Not found", "no such binding");
	if (st == 0)
		redirect("/dashboard/bindings", NULL);
	if (st == 75 || st < 0)
		page(503, "Not disconnected", "nothing changed; try again in a "
		    "moment");
	page(200, "Disconnected", "the binding is disconnected here, but "
	    "FreeAgent could not be told: remove the app in FreeAgent under "
	    "Settings, Connected apps");
}

static const char *paymethods[] = { "checkmo", "banktransfer",
	"cashondelivery", "paypal_express", "stripe_payments", NULL };
static const char *ptypes[] = { "simple", "configurable", "virtual",
	"downloadable", "bundle", "grouped", NULL };

struct settingsarg {
	const char	*id;
	json_t		*b;
	json_t		*cache;
};

static int
getsettings(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct settingsarg *sa = a;
	int r;

	json_decref(sa->b);	/* a transaction retried */
	json_decref(sa->cache);
	sa->cache = NULL;
	if ((r = fa_getjson(v->bindings, t, sa->id, &sa->b, 0)) != 0)
		return r == DB_NOTFOUND ? 0 : r;
	if ((r = fa_getjson(v->cache, t, sa->id, &sa->cache, 0)) != 0)
		return r == DB_NOTFOUND ? 0 : r;
	return 0;
}

/* <select name=NAME> of the array's members (value key, label key),
 * the current choice selected. */
static void
dropdown(const char *name, json_t *items, const char *vk, const char *lk,
    const char *cur)
{
	json_t *it;
	size_t i;

	printf("<select name=\"%s\"><option value=\"\">(none)</option>", name);
	json_array_foreach(items, i, it) {
		const char *v = json_is_string(it) ? json_string_value(it) :
		    jstr(it, vk);
		const char *l = json_is_string(it) ? v : jstr(it, lk);

		fputs("<option value=\"", stdout);
		fa_html(stdout, v);
		fputs(strcmp(v, cur) == 0 ? "\" selected>" : "\">", stdout);
		fa_html(stdout, l);
		fputs("</option>", stdout);
	}
	fputs("</select>", stdout);
}

/* Is v one of the values the cache offers? Only those are saved. */
static int
offered(json_t *items, const char *vk, const char *v)
{
	json_t *it;
	size_t i;

	if (*v == '\0')
		return 1;
	json_array_foreach(items, i, it)
		if (strcmp(json_is_string(it) ? json_string_value(it) :
		    jstr(it, vk), v) == 0)
			return 1;
	return 0;
}

static void __attribute__((noreturn))
settings_page(const char *id, const char *method)
{
	struct settingsarg sa = { id, NULL, NULL };
	struct fa_query q;
	json_t *set, *banks, *cats, *types;
	const char *tok = NULL, *len = getenv("CONTENT_LENGTH"), *v, *action;
	char body[FA_QMAXLEN + 1], out[512], tk[44], key[1200];
	char *argv[40], *kv[34];
	int i, n = 0, st;
	long l;

	if (!fa_validname(id, 65) || fa_vault_txn(&vault, getsettings,
	    &sa) == -1 || sa.b == NULL || strcmp(jstr(sa.b, "tenant"),
	    tenant) != 0)
		page(404, "Not found", "no such binding");
	set = json_object_get(sa.b, "settings");
	banks = json_object_get(sa.cache, "bank_accounts");
	cats = json_object_get(sa.cache, "income_categories");
	types = json_object_get(sa.cache, "item_types");
	if (strcmp(method, "POST") == 0) {
		l = len != NULL ? strtol(len, NULL, 10) : -1;
		if (l < 0 || l > FA_QMAXLEN ||
		    fread(body, 1, (size_t)l, stdin) != (size_t)l)
			page(400, "Bad request", "the form could not be read");
		body[l] = '\0';
		if (fa_query_parse(&q, body) == -1 ||
		    fa_query_get(&q, "csrf", &tok) == -1 || !csrf_ok(tok))
			page(403, "Forbidden", "this form has expired or did "
			    "not come from the dashboard: go back and try "
			    "again");
		fa_vault_close(&vault);
		if (fa_query_get(&q, "action", &action) == 0 && action != NULL &&
		    strcmp(action, "refresh") == 0) {
			argv[0] = "fa-prefetch";
			argv[1] = (char *)id;
			argv[2] = NULL;
			st = run(argv, -1, out, sizeof(out));
			if (st != 0)
				page(503, "Not refreshed", "FreeAgent could not "
				    "be reached; the reference data you had is "
				    "kept. Try again in a few minutes");
		} else {
			argv[n++] = "fa-vault";
			argv[n++] = "set";
			argv[n++] = (char *)id;
#define ADD(field, items, vk) do { \
	if (fa_query_get(&q, field, &v) == -1 || v == NULL) v = ""; \
	if (!offered(items, vk, v)) \
		page(400, "Bad choice", "a choice is not among FreeAgent's"); \
	if ((size_t)snprintf(key, sizeof(key), "settings.%s=%s", field, v) >= \
	    sizeof(key)) \
		page(400, "Bad choice", "a choice is too long"); \
	if ((kv[n - 3] = strdup(key)) == NULL) \
		page(503, "Unavailable", "out of memory"); \
	argv[n] = kv[n - 3]; n++; } while (0)
			ADD("default_income_category", cats, "url");
			ADD("default_bank_account", banks, "url");
			for (i = 0; paymethods[i] != NULL; i++) {
				char f[48];
				snprintf(f, sizeof(f), "pay_%s", paymethods[i]);
				ADD(f, json_object_get(sa.cache,
				    "payment_targets"), "url");
			}
			for (i = 0; ptypes[i] != NULL; i++) {
				char f[48];
				snprintf(f, sizeof(f), "item_%s", ptypes[i]);
				ADD(f, types, "");
			}
#undef ADD
			argv[n] = NULL;
			if (run(argv, -1, out, sizeof(out)) != 0)
				page(503, "Not saved", "the settings could not be "
				    "saved; try again");
		}
		snprintf(out, sizeof(out), "/dashboard/settings/%s", id);
		redirect(out, NULL);
	}
	csrf((long)(time(NULL) / 86400), tk);
	fa_cgi_begin(stdout, 200, "Settings");
	fputs("<h1>Settings for ", stdout);
	fa_html(stdout, jstr(sa.b, "magento"));
	fputs("</h1>\n", stdout);
	if (sa.cache == NULL)
		fputs("<p>No reference data yet: refresh it below.</p>\n",
		    stdout);
	fputs("<form method=\"post\"><input type=\"hidden\" name=\"csrf\" "
	    "value=\"", stdout);
	fa_html(stdout, tk);
	fputs("\"><p>Default income category ", stdout);
	dropdown("default_income_category", cats, "url", "description",
	    jstr(set, "default_income_category"));
	fputs("</p><p>Default bank account ", stdout);
	dropdown("default_bank_account", banks, "url", "name",
	    jstr(set, "default_bank_account"));
	fputs("</p><h2>Payment methods</h2>\n", stdout);
	for (i = 0; paymethods[i] != NULL; i++) {
		snprintf(key, sizeof(key), "pay_%s", paymethods[i]);
		printf("<p>%s ", paymethods[i]);
		dropdown(key, json_object_get(sa.cache, "payment_targets"),
		    "url", "name", jstr(set, key));
		fputs("</p>\n", stdout);
	}
	fputs("<h2>Item types</h2>\n", stdout);
	for (i = 0; ptypes[i] != NULL; i++) {
		snprintf(key, sizeof(key), "item_%s", ptypes[i]);
		printf("<p>%s ", ptypes[i]);
		dropdown(key, types, "", "", jstr(set, key));
		fputs("</p>\n", stdout);
	}
	fputs("<p><button type=\"submit\">Save</button> <button "
	    "type=\"submit\" name=\"action\" value=\"refresh\">Refresh "
	    "reference data</button></p></form>\n", stdout);
	fa_cgi_end(stdout);
	exit(0);
}

int
main(void)
{
	const char *path = getenv("PATH_INFO"), *method;
	json_t *all = NULL, *b;
	struct one o;
	size_t i;
	int connected = 0;

	if (fa_secure_init() == -1)
		page(500, "Error", "the dashboard cannot start");
	if ((tenant = fa_cgi_tenant()) == NULL)
		page(403, "Forbidden", "no tenant: the web server must "
		    "authenticate the person (REMOTE_USER)");
	method = getenv("REQUEST_METHOD");
	if (method == NULL)
		method = "";
	if (fa_conf_load(&conf, NULL) == -1 ||
	    fa_vault_open(&vault, &conf, 0) == -1)
		page(503, "Unavailable", "the vault is unavailable; try again "
		    "in a moment");
	if (path != NULL && strcmp(path, "/connect-freeagent") == 0 &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0)) {
		fa_vault_close(&vault);	/* fa-authurl opens it */
		if (strcmp(method, "POST") == 0) {
			/* csrf needs the key: open again briefly */
			if (fa_vault_open(&vault, &conf, 0) == -1)
				page(503, "Unavailable", "try again");
		} else if (fa_vault_open(&vault, &conf, 0) == -1)
			page(503, "Unavailable", "try again");
		connect_page(method);
	}
	if (path != NULL && strcmp(path, "/freeagent-callback") == 0 &&
	    strcmp(method, "GET") == 0) {
		fa_vault_close(&vault);
		callback_page();
	}
	if (path != NULL && strncmp(path, "/settings/", 10) == 0 &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0))
		settings_page(path + 10, method);
	if (path != NULL && strncmp(path, "/bindings/", 10) == 0 &&
	    strcmp(method, "POST") == 0 && strlen(path) > 21 &&
	    strcmp(path + strlen(path) - 11, "/disconnect") == 0)
		disconnect_page(path);
	if (strcmp(method, "GET") != 0)
		page(405, "Method not allowed", "this page only answers GET");
	if (path != NULL && strcmp(path, "/bindings") == 0) {
		if (fa_vault_txn(&vault, list, &all) == -1)
			page(503, "Unavailable", "try again in a moment");
		json_array_foreach(all, i, b)
			connected |= strcmp(jstr(b, "status"), "connected") == 0;
		fa_cgi_begin(stdout, 200, "Bindings");
		fputs("<h1>Bindings</h1>\n", stdout);
		if (!connected)
			fputs("<p><strong>Connect your FreeAgent account"
			    "</strong></p>\n", stdout);
		json_array_foreach(all, i, b)
			row(b, 1);
		fa_cgi_end(stdout);
		json_decref(all);
	} else if (path != NULL && strncmp(path, "/bindings/", 10) == 0) {
		o.id = path + 10;
		o.b = NULL;
		if (!fa_validname(o.id, 65) ||
		    fa_vault_txn(&vault, getone, &o) == -1 || o.b == NULL ||
		    strcmp(jstr(o.b, "tenant"), tenant) != 0)
			page(404, "Not found", "no such binding");
		binding_page(&o);
		json_decref(o.b);
	} else
		page(404, "Not found", "no such page");
	fa_vault_close(&vault);
	return fflush(stdout) == EOF;
}
