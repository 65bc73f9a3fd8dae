/* fa-dashboard: the dashboard's CGI program, a client of the keeper
 * (fa-vaultd(8)) that holds no key. Its pages: the bindings list, one
 * binding (token health, reference data age, recent events, Disconnect),
 * a binding's settings, and the connect flow (connect-freeagent, the
 * callback). The keeper answers its reads and saves (dash.*) and makes
 * and checks its anti-CSRF tokens (csrf.*); connecting, disconnecting
 * and fetching reference data run our programs (fa-authurl, fa-exchange
 * | fa-vault store, fa-revoke, fa-prefetch). The tenant is REMOTE_USER
 * and nothing else; another tenant's binding answers 404, as does a
 * binding that does not exist. Everything printed into HTML is escaped. */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cgi.h"
#include "exec.h"
#include "proto.h"
#include "conf.h"
#include "diag.h"
#include "secmem.h"
#include "url.h"
#include "vaultc.h"

#define CSRF_LEN	43

extern char **environ;

static struct fa_conf conf;
static const char *tenant;
static const char *allow = "GET";	/* the methods of the page asked */

static void flash(json_t *);
static void events(json_t *);

static void __attribute__((noreturn))
page(int status, const char *title, const char *msg)
{
	if (status == 405)
		printf("Allow: %s\r\n", allow);
	fa_cgi_begin(stdout, status, title);
	fputs("<h1>", stdout);
	fa_html(stdout, title);
	fputs("</h1><p>", stdout);
	fa_html(stdout, msg);
	fputs("</p>", stdout);
	fa_cgi_end(stdout);
	exit(0);
}

/* A binding's status in words, and the class of its colour: never
 * colour alone. */
static const char *
stword(const char *st, const char **cls)
{
	if (strcmp(st, "connected") == 0)
		return *cls = "ok", "Connected";
	if (strcmp(st, "needs_reconnect") == 0)
		return *cls = "bad", "Reconnect needed";
	if (strcmp(st, "disconnected") == 0)
		return *cls = "off", "Disconnected";
	return *cls = "wait", "Pending";
}

static void
idlink(const char *pre, const char *id, const char *post, const char *text)
{
	printf("<a href=\"%s", pre);
	fa_html(stdout, id);
	printf("%s\">%s</a>", post, text);
}

static void
row(json_t *b, int link)
{
	const char *st = fa_jstr(b, "status"), *id = fa_jstr(b, "id"), *cls;
	const char *word = stword(st, &cls);
	json_t *co = json_object_get(b, "company");

	printf("<div class=\"row %s\"><span class=\"st %s\">%s</span>", cls,
	    cls, word);
	fputs("Magento ", stdout);
	fa_html(stdout, fa_jstr(b, "magento"));
	if (strcmp(st, "connected") == 0) {
		fputs(" &harr; FreeAgent ", stdout);
		fa_html(stdout, fa_jstr(co, "name"));
		fputs(" <span class=\"acts\">[", stdout);
		idlink("/dashboard/settings/", id, "", "Settings");
		fputs("] [", stdout);
		idlink("/dashboard/bindings/", id, "/history", "Sync history");
		fputs("]</span>", stdout);
	} else {
		if (strcmp(st, "needs_reconnect") == 0)
			fputs(" &mdash; FreeAgent refused access", stdout);
		else if (strcmp(st, "disconnected") == 0)
			fputs(" &mdash; disconnected (to cut FreeAgent off "
			    "completely, remove the app there under Settings "
			    "&rarr; Connected apps)", stdout);
		else
			fputs(" &mdash; FreeAgent not connected yet", stdout);
		fputs(" ", stdout);
		idlink("/dashboard/connect-freeagent?binding=", id, "",
		    strcmp(st, "pending") == 0 ? "Connect FreeAgent" :
		    "Reconnect");
	}
	if (link) {
		fputs(" ", stdout);
		idlink("/dashboard/bindings/", id, "", "details");
	}
	fputs("</div>\n", stdout);
}

/* Asks the keeper verb for this tenant (args: an object, consumed):
 * 0 with the answer in *ans, or -1 (*ans NULL) with the error set. */
static int
ask(const char *verb, json_t *args, json_t **ans)
{
	int r;

	json_object_set_new(args, "tenant", json_string(tenant));
	r = fa_ask(&conf, verb, args, ans);
	json_decref(args);
	if (r == -1) {
		json_decref(*ans);
		*ans = NULL;
	}
	return r;
}

/* A binding's answer from the keeper, or the page that says why not:
 * another tenant's binding is no binding (66). */
static json_t *
ask_binding(const char *verb, const char *id)
{
	json_t *a;

	if (!fa_validname(id, 65))
		page(404, "Not found", "no such binding");
	if (ask(verb, json_pack("{s:s}", "binding", id), &a) == -1) {
		if (fa_errstatus() == EX_NOINPUT ||
		    fa_errstatus() == EX_DATAERR)
			page(404, "Not found", "no such binding");
		page(503, "Unavailable", "try again in a moment");
	}
	return a;
}

/* Today's anti-CSRF token for the tenant: the keeper makes it, with a
 * key this program never sees. */
static void
csrf(char out[CSRF_LEN + 1])
{
	json_t *a;

	if (ask("csrf.mint", json_object(), &a) == -1 ||
	    strlen(fa_jstr(a, "token")) != CSRF_LEN)
		page(503, "Unavailable", "try again in a moment");
	memcpy(out, fa_jstr(a, "token"), CSRF_LEN + 1);
	json_decref(a);
}

/* Returns only if got is the tenant's token of today or yesterday. */
static void
csrf_check(const char *got)
{
	json_t *a;

	if (got != NULL && strlen(got) == CSRF_LEN &&
	    ask("csrf.check", json_pack("{s:s}", "token", got), &a) == 0) {
		json_decref(a);
		return;
	}
	if (got != NULL && strlen(got) == CSRF_LEN &&
	    fa_errstatus() != EX_NOPERM)
		page(503, "Unavailable", "try again in a moment");
	page(403, "Forbidden", "this form has expired or did not come from "
	    "the dashboard: go back and try again");
}

/* A child's exit status, or -1. */
static int
reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs our program argv[0] (fa_spawn) and keeps up to outsz-1 bytes of its
 * stdout in out. Returns its exit status, or -1. */
static int
run(char *const argv[], int in, char *out, size_t outsz)
{
	int p[2];
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	/* Our connection to the keeper is ours alone. */
	fa_vaultc_close();
	pid = fa_spawn(argv, in, p[1], -1, -1);
	close(p[1]);
	if (pid == -1) {
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
	return reap(pid);
}

/* " ORIGIN ..." of every endpoint's consent page (its authorize_url up
 * to the path); fa.conf allows only https and loopback http URLs, with
 * no quote, space or semicolon in them. */
static const char *
consentorigins(void)
{
	static char buf[FA_MAXEP * (FA_URLLEN + 1) + 1];
	const char *u, *h;
	size_t n, len = 0;
	int i;

	for (i = 0; i < conf.nep; i++) {
		u = conf.ep[i].authorize_url;
		if ((h = strstr(u, "://")) == NULL)
			continue;
		n = (size_t)(h + 3 - u) + strcspn(h + 3, "/?#");
		if (strcspn(u, " ;'\"") < n || len + n + 2 > sizeof(buf))
			continue;
		buf[len++] = ' ';
		memcpy(buf + len, u, n);
		len += n;
	}
	buf[len] = '\0';
	return buf;
}

/* Defence in depth before the CSRF token: a POST that its browser says
 * comes from another site (Sec-Fetch-Site), or whose Origin is not this
 * host, is refused. Browsers that send neither, or Origin "null", are
 * left to the token. */
static int
crosssite(void)
{
	const char *sfs = getenv("HTTP_SEC_FETCH_SITE");
	const char *o = getenv("HTTP_ORIGIN"), *host = getenv("HTTP_HOST");
	const char *p;

	if (sfs != NULL && strcmp(sfs, "cross-site") == 0)
		return 1;
	/* "null": our pages' no-referrer policy makes browsers send it
	 * for their own forms too. */
	if (o == NULL || strcmp(o, "null") == 0)
		return 0;
	if (strncmp(o, "https://", 8) == 0)
		p = o + 8;
	else if (strncmp(o, "http://", 7) == 0)
		p = o + 7;
	else
		return 1;
	return host == NULL || strcmp(p, host) != 0;
}

/* Plain http from this very host (the demo, the tests): the only case
 * where the state cookie goes without Secure. */
static int
loopback(void)
{
	const char *h = getenv("HTTPS"), *a = getenv("REMOTE_ADDR");

	return (h == NULL || strcasecmp(h, "on") != 0) && a != NULL &&
	    (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0);
}

static void
seeother(const char *location, const char *cookie)
{
	printf("Status: 303\r\nLocation: %s\r\n", location);
	if (cookie != NULL)
		printf("Set-Cookie: %s\r\n", cookie);
	printf("Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
	    "Content-Length: 0\r\n\r\n");
	fflush(stdout);
}

static void __attribute__((noreturn))
redirect(const char *location, const char *cookie)
{
	seeother(location, cookie);
	exit(0);
}

/* Has the keeper run a job for this tenant (job.run): the job's exit
 * status (and, for a connect, fa-vault store's in *store), or -1 when
 * it did not run. wait 0: it is only started. */
static int
job(const char *name, const char *binding, const char *query, int wait,
    int *store)
{
	json_t *a;
	int r;

	if (ask("job.run", json_pack("{s:s,s:s*,s:s*,s:b}", "job", name,
	    "binding", binding, "query", query, "wait", wait), &a) == -1)
		return fa_errstatus() == EX_NOINPUT ? EX_NOINPUT : -1;
	r = (int)json_integer_value(json_object_get(a, "exit"));
	if (store != NULL)
		*store = json_is_integer(json_object_get(a, "store")) ?
		    (int)json_integer_value(json_object_get(a, "store")) : 1;
	json_decref(a);
	return r;
}

/* A POST's body (CONTENT_LENGTH bytes, at most FA_QMAXLEN) into body. */
static void
readform(char body[FA_QMAXLEN + 1])
{
	const char *len = getenv("CONTENT_LENGTH");
	char *end;
	long n = -1;

	if (len != NULL && *len >= '0' && *len <= '9') {
		errno = 0;
		n = strtol(len, &end, 10);
		if (*end != '\0' || errno != 0)
			n = -1;
	}
	if (n < 0 || n > FA_QMAXLEN || fread(body, 1, (size_t)n, stdin) !=
	    (size_t)n)
		page(400, "Bad request", "the form could not be read");
	body[n] = '\0';
}

/* GET: the Connect FreeAgent button; POST: start the connect. */
static void
connect_page(const char *method)
{
	struct fa_query q;
	const char *id = NULL, *tok = NULL;
	char body[FA_QMAXLEN + 1], out[4096], cookie[256], tk[CSRF_LEN + 1];
	char *argv[7];
	json_t *j;
	int st;

	if (strcmp(method, "GET") == 0) {
		if (fa_query_parse(&q, getenv("QUERY_STRING") ?
		    getenv("QUERY_STRING") : "") == -1 ||
		    fa_query_get(&q, "binding", &id) == -1 || id == NULL ||
		    !fa_validname(id, 65))
			page(404, "Not found", "no such binding");
		csrf(tk);
		/* The form's answer is a redirect to a consent page: CSP's
		 * form-action must allow the endpoints' origins. */
		fa_cgi_formto = consentorigins();
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
	readform(body);
	if (fa_query_parse(&q, body) == -1 ||
	    fa_query_get(&q, "binding", &id) == -1 ||
	    fa_query_get(&q, "csrf", &tok) == -1)
		tok = NULL;
	csrf_check(tok);
	if (id == NULL || !fa_validname(id, 65))
		page(404, "Not found", "no such binding");
	argv[0] = "fa-authurl";
	argv[1] = "-j";
	argv[2] = "-t";
	argv[3] = (char *)tenant;
	argv[4] = "--";
	argv[5] = (char *)id;
	argv[6] = NULL;
	st = run(argv, -1, out, sizeof(out));
	if (st == EX_NOINPUT)
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

/* Which binding a state was minted for, when it is this tenant's: ""
 * when not, or when the keeper cannot say (dash.state reads only:
 * fa-exchange is the one that consumes it). Only its hash is sent. */
static void
statebinding(const char *state, char binding[65])
{
	unsigned char h[32];
	char hex[65];
	json_t *a;

	binding[0] = '\0';
	crypto_hash_sha256(h, (const unsigned char *)state, strlen(state));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	if (ask("dash.state", json_pack("{s:s}", "hash", hex), &a) == 0)
		snprintf(binding, 65, "%s", fa_jstr(a, "binding"));
	json_decref(a);
}

static void __attribute__((noreturn))
callback_page(void)
{
	struct fa_query q;
	const char *st = NULL, *qs = getenv("QUERY_STRING");
	char cbuf[64], binding[65], loc[128];
	int rs, rx;

	if (qs == NULL || fa_query_parse(&q, qs) == -1 ||
	    fa_query_get(&q, "state", &st) == -1 || st == NULL ||
	    fa_cookie_get(getenv("HTTP_COOKIE"), "fa_state", cbuf,
	    sizeof(cbuf)) != 1 ||
	    strlen(st) != strlen(cbuf) ||
	    sodium_memcmp(st, cbuf, strlen(cbuf)) != 0)
		page(400, "Connect not recognised", "this connect was not "
		    "started in this browser, or took too long: go back to "
		    "your bindings and click Connect FreeAgent again");
	statebinding(cbuf, binding);
	/* fa-exchange | fa-vault store, run by the keeper, which holds the
	 * client secret: the query goes to it, never into an argv. */
	rx = job("connect", NULL, qs, 1, &rs);
	if (rx == -1)
		page(503, "Unavailable", "try again in a moment");
	if (rx == EX_NOPERM)
		page(403, "Not connected", "the connection was declined, or "
		    "FreeAgent refused it; nothing changed. Click Connect "
		    "FreeAgent to try again");
	if (rx == EX_DATAERR)
		page(400, "Connect not recognised", "this connect was already "
		    "used or took too long: click Connect FreeAgent again");
	if (rx != 0)
		page(503, "FreeAgent unavailable", "FreeAgent could not be "
		    "reached; nothing changed. Try again in a few minutes");
	if (rs == EX_NOPERM)
		page(403, "Not connected", "this binding is locked to another "
		    "FreeAgent company, or your plan's limit is reached; "
		    "nothing changed here. FreeAgent may still list the app: "
		    "remove it in FreeAgent under Settings, Connected apps");
	if (rs != 0)
		page(503, "Unavailable", "the connection could not be saved; "
		    "click Connect FreeAgent again");
	/* The merchant is answered once the tokens are stored; reference
	 * data comes after (the pages say it is loading until it is in),
	 * and its failure is not the connect's. */
	snprintf(cbuf, sizeof(cbuf), "/dashboard/bindings?done=connected");
	if (fa_validname(binding, 65))
		snprintf(loc, sizeof(loc), "%s&binding=%s", cbuf, binding);
	else
		snprintf(loc, sizeof(loc), "%s", cbuf);
	seeother(loc, "fa_state=; Path=/dashboard/; Max-Age=0; HttpOnly; "
	    "SameSite=Lax");
	if (fa_validname(binding, 65))
		(void)job("prefetch", binding, NULL, 0, NULL);
	exit(0);
}

static void
when(const char *label, int64_t t)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0)
		return;
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, sizeof(buf),
	    "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, sizeof(buf), "?");
	printf("<tr><th>%s</th><td>%s</td></tr>\n", label, buf);
}

/* GET /dashboard/bindings/{id}: the binding, its token health, the age
 * of its reference data, its recent events (dash.get). */
static void
binding_page(const char *id)
{
	json_t *a = ask_binding("dash.get", id), *b, *co, *lf;
	const char *st;
	char tk[CSRF_LEN + 1];

	b = json_object_get(a, "binding");
	co = json_object_get(b, "company");
	st = fa_jstr(b, "status");
	fa_cgi_begin(stdout, 200, "Binding");
	fputs("<h1>Binding ", stdout);
	fa_html(stdout, id);
	fputs("</h1>\n", stdout);
	row(b, 0);
	fputs("<table>\n<tr><th>Status</th><td>", stdout);
	fa_html(stdout, st);
	fputs("</td></tr>\n<tr><th>FreeAgent company</th><td>", stdout);
	fa_html(stdout, fa_jstr(co, "name"));
	fputs("</td></tr>\n", stdout);
	if (json_object_get(a, "expires_at") != NULL) {
		when("Access token expires", json_integer_value(
		    json_object_get(a, "expires_at")));
		when("Refresh token expires", json_integer_value(
		    json_object_get(a, "refresh_expires_at")));
	}
	when("Last refresh", json_integer_value(json_object_get(b,
	    "last_refresh")));
	lf = json_object_get(b, "last_failure");
	if (lf != NULL) {
		when("Last failure", json_integer_value(json_object_get(lf,
		    "time")));
		fputs("<tr><th>Failure</th><td>", stdout);
		fa_html(stdout, fa_jstr(lf, "message"));
		fputs("</td></tr>\n", stdout);
	}
	if (json_integer_value(json_object_get(a, "fetched_at")) > 0)
		when("Reference data fetched", json_integer_value(
		    json_object_get(a, "fetched_at")));
	else if (strcmp(fa_jstr(b, "status"), "connected") == 0)
		fputs("<tr><th>Reference data</th><td>loading: reload this "
		    "page in a moment</td></tr>\n", stdout);
	fputs("</table>\n<h2>Recent events</h2>\n", stdout);
	events(json_object_get(a, "events"));
	fputs("<p>", stdout);
	idlink("/dashboard/bindings/", id, "/history", "Sync history");
	fputs("</p>\n", stdout);
	if (strcmp(st, "connected") == 0 || strcmp(st, "needs_reconnect") == 0) {
		csrf(tk);
		fputs("<form method=\"post\" action=\"/dashboard/bindings/",
		    stdout);
		fa_html(stdout, id);
		fputs("/disconnect\"><input type=\"hidden\" name=\"csrf\" "
		    "value=\"", stdout);
		fa_html(stdout, tk);
		fputs("\"><button type=\"submit\">Disconnect</button></form>\n",
		    stdout);
	}
	if (strcmp(st, "connected") != 0) {
		fputs("<p><a href=\"/dashboard/connect-freeagent?binding=",
		    stdout);
		fa_html(stdout, id);
		fputs("\">Connect FreeAgent</a></p>\n", stdout);
	}
	fa_cgi_end(stdout);
	json_decref(a);
}

/* POST /dashboard/bindings/{id}/disconnect, with the CSRF token. */
static void __attribute__((noreturn))
disconnect_page(const char *path)
{
	struct fa_query q;
	const char *tok = NULL;
	char id[65], body[FA_QMAXLEN + 1];
	size_t n = strlen(path) - 10 - 11;
	int st;

	if (n == 0 || n >= sizeof(id))
		page(404, "Not found", "no such binding");
	memcpy(id, path + 10, n);
	id[n] = '\0';
	if (!fa_validname(id, 65))
		page(400, "Bad request", "the form could not be read");
	readform(body);
	if (fa_query_parse(&q, body) == -1 ||
	    fa_query_get(&q, "csrf", &tok) == -1)
		tok = NULL;
	csrf_check(tok);
	st = job("revoke", id, NULL, 1, NULL);
	if (st == EX_NOINPUT)
		page(404, "Not found", "no such binding");
	if (st == 0)
		redirect("/dashboard/bindings?done=disconnected", NULL);
	if (st == EX_TEMPFAIL || st < 0)
		page(503, "Not disconnected", "nothing changed; try again in a "
		    "moment");
	page(200, "Disconnected", "the binding is disconnected here, but "
	    "FreeAgent could not be told: remove the app in FreeAgent under "
	    "Settings, Connected apps");
}

/* The settings form's choices: two defaults, a bank account for each
 * Magento payment method, a FreeAgent item type for each product type. */
static const char *const fields[] = { "default_income_category",
	"default_bank_account", NULL };
static const char *const paymethods[] = { "checkmo", "banktransfer",
	"cashondelivery", "paypal_express", "stripe_payments", NULL };
static const char *const paynames[] = { "Check / money order",
	"Bank transfer", "Cash on delivery", "PayPal Express", "Stripe", NULL };
static const char *const ptypes[] = { "simple", "configurable", "virtual",
	"downloadable", "bundle", "grouped", NULL };
static const char *const ptnames[] = { "Simple", "Configurable",
	"Virtual", "Downloadable", "Bundle", "Grouped", NULL };

/* <select name=NAME> of the choices (dash.settings): VALS as [value,
 * label, ...] pairs, or, with stride 1, values that are their labels;
 * only the pairs IDX lists, if it is not NULL. The current one is
 * selected. */
static void
dropdown(const char *name, json_t *vals, int stride, json_t *idx,
    const char *cur)
{
	const char *v, *l;
	size_t i, k, n = idx != NULL ? json_array_size(idx) :
	    json_array_size(vals) / stride;

	printf("<select id=\"%s\" name=\"%s\"><option value=\"\">(none)"
	    "</option>", name, name);
	for (i = 0; i < n; i++) {
		k = idx != NULL ? (size_t)json_integer_value(json_array_get(idx,
		    i)) : i;
		v = json_string_value(json_array_get(vals, k * stride));
		l = json_string_value(json_array_get(vals, k * stride +
		    stride - 1));
		if (v == NULL || l == NULL)
			continue;
		fputs("<option value=\"", stdout);
		fa_html(stdout, v);
		fputs(strcmp(v, cur) == 0 ? "\" selected>" : "\">", stdout);
		fa_html(stdout, l);
		fputs("</option>", stdout);
	}
	fputs("</select>", stdout);
}

/* The Save button: every field of the form, "" for a choice cleared
 * (dash.save: the keeper saves only what the reference cache offers). */
static void
save(const char *id, struct fa_query *q)
{
	json_t *set = json_object(), *a;
	const char *v;
	char f[48];
	int i;

	for (i = 0; fields[i] != NULL; i++) {
		if (fa_query_get(q, fields[i], &v) == -1 || v == NULL)
			v = "";
		json_object_set_new(set, fields[i], json_string(v));
	}
	for (i = 0; paymethods[i] != NULL; i++) {
		snprintf(f, sizeof(f), "pay_%s", paymethods[i]);
		if (fa_query_get(q, f, &v) == -1 || v == NULL)
			v = "";
		json_object_set_new(set, f, json_string(v));
	}
	for (i = 0; ptypes[i] != NULL; i++) {
		snprintf(f, sizeof(f), "item_%s", ptypes[i]);
		if (fa_query_get(q, f, &v) == -1 || v == NULL)
			v = "";
		json_object_set_new(set, f, json_string(v));
	}
	if (ask("dash.save", json_pack("{s:s,s:o}", "binding", id,
	    "settings", set), &a) == 0) {
		json_decref(a);
		return;
	}
	if (fa_errstatus() == EX_NOINPUT)
		page(404, "Not found", "no such binding");
	if (fa_errstatus() == EX_DATAERR)
		page(400, "Bad choice", fa_errmsg());
	page(503, "Not saved", "the settings could not be saved; try again");
}

/* GET and POST /dashboard/settings/{id}: the binding's choices, from
 * the lists its reference cache offers (dash.settings). */
static void __attribute__((noreturn))
settings_page(const char *id, const char *method)
{
	json_t *a = ask_binding("dash.settings", id), *set, *cache;
	struct fa_query q;
	const char *tok = NULL, *action, *done = "saved";
	char body[FA_QMAXLEN + 1], out[512], tk[CSRF_LEN + 1], key[48];
	int i;

	set = json_object_get(json_object_get(a, "binding"), "settings");
	cache = json_object_get(a, "cache");
	if (strcmp(method, "POST") == 0) {
		json_decref(a);	/* the page is not shown: freed early */
		readform(body);
		if (fa_query_parse(&q, body) == -1 ||
		    fa_query_get(&q, "csrf", &tok) == -1)
			tok = NULL;
		csrf_check(tok);
		if (fa_query_get(&q, "action", &action) == 0 &&
		    action != NULL && strcmp(action, "refresh") == 0) {
			if (job("prefetch", id, NULL, 1, NULL) != 0)
				page(503, "Not refreshed", "FreeAgent could "
				    "not be reached; the reference data you "
				    "had is kept. Try again in a few minutes");
			done = "refreshed";
		} else
			save(id, &q);
		snprintf(out, sizeof(out), "/dashboard/settings/%s?done=%s", id,
		    done);
		redirect(out, NULL);
	}
	csrf(tk);
	fa_cgi_begin(stdout, 200, "Settings");
	fputs("<h1>Settings for ", stdout);
	fa_html(stdout, fa_jstr(json_object_get(a, "binding"), "magento"));
	fputs("</h1>\n", stdout);
	flash(NULL);
	if (cache == NULL)
		fputs("<p>Reference data is loading: reload this page in a "
		    "moment. If it does not come, refresh it below.</p>\n",
		    stdout);
	fputs("<form method=\"post\"><input type=\"hidden\" name=\"csrf\" "
	    "value=\"", stdout);
	fa_html(stdout, tk);
	fputs("\"><label for=\"default_income_category\">Default income "
	    "category</label>", stdout);
	dropdown("default_income_category", json_object_get(cache,
	    "income_categories"), 2, NULL, fa_jstr(set,
	    "default_income_category"));
	fputs("<label for=\"default_bank_account\">Default bank account"
	    "</label>", stdout);
	dropdown("default_bank_account", json_object_get(cache,
	    "bank_accounts"), 2, NULL, fa_jstr(set, "default_bank_account"));
	fputs("<h2>Payment methods</h2>\n", stdout);
	for (i = 0; paymethods[i] != NULL; i++) {
		snprintf(key, sizeof(key), "pay_%s", paymethods[i]);
		printf("<label for=\"%s\">%s <span class=\"muted\">(%s)</span>"
		    "</label>", key, paynames[i], paymethods[i]);
		dropdown(key, json_object_get(cache, "bank_accounts"), 2,
		    json_object_get(cache, "payment_targets"), fa_jstr(set,
		    key));
		fputs("\n", stdout);
	}
	fputs("<h2>Item types</h2>\n", stdout);
	for (i = 0; ptypes[i] != NULL; i++) {
		snprintf(key, sizeof(key), "item_%s", ptypes[i]);
		printf("<label for=\"%s\">%s products <span class=\"muted\">"
		    "(%s)</span></label>", key, ptnames[i], ptypes[i]);
		dropdown(key, json_object_get(cache, "item_types"), 1, NULL,
		    fa_jstr(set, key));
		fputs("\n", stdout);
	}
	fputs("<p><button type=\"submit\">Save</button> <button "
	    "class=\"quiet\" type=\"submit\" name=\"action\" "
	    "value=\"refresh\">Refresh "
	    "reference data</button></p></form>\n", stdout);
	fa_cgi_end(stdout);
	json_decref(a);
	exit(0);
}

/* This page's query parameter name (checked: a name given twice, or a
 * query that does not parse, is none), or NULL. */
static const char *
qparam(struct fa_query *q, const char *name)
{
	const char *qs = getenv("QUERY_STRING"), *v = NULL;

	if (qs == NULL || fa_query_parse(q, qs) == -1 ||
	    fa_query_get(q, name, &v) == -1)
		return NULL;
	return v;
}

/* After an action, the page it lands on says what came of it: done=
 * names one of these messages, never text of the request's; a name in
 * one comes from the vault (b: the binding that binding= names, when
 * the page has it). */
static void
flash(json_t *b)
{
	struct fa_query q;
	const char *done = qparam(&q, "done");
	const char *st = fa_jstr(b, "status");

	if (done == NULL)
		return;
	if (strcmp(done, "added") == 0 && b != NULL) {
		fputs("<p class=\"flash\" role=\"status\">Added Magento ",
		    stdout);
		fa_html(stdout, fa_jstr(b, "magento"));
		fputs(": now connect FreeAgent.</p>\n", stdout);
	} else if (strcmp(done, "connected") == 0 && b != NULL &&
	    strcmp(st, "connected") == 0) {
		fputs("<p class=\"flash\" role=\"status\">Connected to ",
		    stdout);
		fa_html(stdout, fa_jstr(json_object_get(b, "company"), "name"));
		fputs("</p>\n", stdout);
	} else if (strcmp(done, "disconnected") == 0)
		fputs("<p class=\"flash\" role=\"status\">Disconnected: now "
		    "remove the app in FreeAgent under Settings &rarr; "
		    "Connected apps</p>\n", stdout);
	else if (strcmp(done, "saved") == 0)
		fputs("<p class=\"flash\" role=\"status\">Settings saved</p>"
		    "\n", stdout);
	else if (strcmp(done, "refreshed") == 0)
		fputs("<p class=\"flash\" role=\"status\">Reference data "
		    "refreshed</p>\n", stdout);
}

/* The binding of the list that binding= names, or NULL. */
static json_t *
named(json_t *all)
{
	struct fa_query q;
	const char *id = qparam(&q, "binding");
	json_t *b;
	size_t i;

	json_array_foreach(all, i, b)
		if (id != NULL && strcmp(fa_jstr(b, "id"), id) == 0)
			return b;
	return NULL;
}

static void
plural(long n, const char *one, const char *many)
{
	printf("%ld %s", n, n == 1 ? one : many);
}

static void
uses(json_t *used, json_t *max, const char *one, const char *many)
{
	long u = (long)json_integer_value(used);

	if (json_is_integer(max)) {
		printf("%ld of ", u);
		plural((long)json_integer_value(max), one, many);
	} else {
		plural(u, one, many);
		fputs(" (no limit)", stdout);
	}
}

/* "1 of 2 FreeAgent companies, 2 of 3 websites" (dash.list's used and
 * plan). */
static void
usage(json_t *a)
{
	json_t *u = json_object_get(a, "used"), *p = json_object_get(a, "plan");

	fputs("<p class=\"muted\">Your plan", stdout);
	if (p != NULL) {
		fputs(" (", stdout);
		fa_html(stdout, fa_jstr(p, "name"));
		fputs(")", stdout);
	}
	fputs(": ", stdout);
	uses(json_object_get(u, "companies"), json_object_get(p, "companies"),
	    "FreeAgent company", "FreeAgent companies");
	fputs(", ", stdout);
	uses(json_object_get(u, "bindings"), json_object_get(p, "bindings"),
	    "website", "websites");
	fputs("</p>\n", stdout);
}

static json_t *
list(void)
{
	json_t *a;

	if (ask("dash.list", json_object(), &a) == -1)
		page(503, "Unavailable", "try again in a moment");
	return a;
}

/* GET /dashboard/: a tile per binding state; a tenant with nothing
 * connected yet gets the call to connect instead. */
static void
home_page(void)
{
	json_t *a = list(), *all = json_object_get(a, "bindings"), *b;
	const char *pend = NULL, *st;
	long ok = 0, wait = 0, bad = 0, off = 0;
	size_t i;

	json_array_foreach(all, i, b) {
		st = fa_jstr(b, "status");
		if (strcmp(st, "connected") == 0)
			ok++;
		else if (strcmp(st, "needs_reconnect") == 0)
			bad++;
		else if (strcmp(st, "disconnected") == 0)
			off++;
		else if (wait++ == 0)
			pend = fa_jstr(b, "id");
	}
	fa_cgi_begin(stdout, 200, "Home");
	fputs("<h1>FreeAgent for your shop</h1>\n", stdout);
	if (ok + bad == 0) {
		fputs("<div class=\"tile\"><h2>Connect your FreeAgent account"
		    "</h2><p>Pick the FreeAgent company this Magento install "
		    "syncs into. We keep FreeAgent's tokens, encrypted; your "
		    "shop never sees them.</p><p>", stdout);
		if (pend != NULL)
			idlink("/dashboard/connect-freeagent?binding=", pend,
			    "\" class=\"button", "Connect FreeAgent");
		else
			fputs("<a class=\"button\" href=\"/dashboard/"
			    "new-binding\">New binding</a>", stdout);
		fputs("</p></div>\n", stdout);
	} else {
		fputs("<ul class=\"tiles\">", stdout);
		printf("<li class=\"tile\"><span class=\"st ok\">Connected"
		    "</span><b>%ld</b></li>", ok);
		printf("<li class=\"tile\"><span class=\"st wait\">Pending"
		    "</span><b>%ld</b></li>", wait);
		printf("<li class=\"tile\"><span class=\"st bad\">Reconnect "
		    "needed</span><b>%ld</b></li>", bad);
		fputs("</ul>\n", stdout);
		if (bad > 0)
			fputs("<p class=\"error\">FreeAgent refused access to "
			    "a binding: open <a href=\"/dashboard/bindings\">"
			    "Bindings</a> and reconnect it.</p>\n", stdout);
	}
	(void)off;
	fputs("<p><a href=\"/dashboard/bindings\">All bindings</a> &middot; "
	    "<a href=\"/dashboard/new-binding\">New binding</a></p>\n",
	    stdout);
	usage(a);
	fa_cgi_end(stdout);
	json_decref(a);
}

/* GET /dashboard/bindings: the tenant's bindings (dash.list). */
static void
list_page(void)
{
	json_t *a = list(), *all = json_object_get(a, "bindings"), *b;
	size_t i;
	int connected = 0;

	json_array_foreach(all, i, b)
		connected |= strcmp(fa_jstr(b, "status"), "connected") == 0;
	fa_cgi_begin(stdout, 200, "Bindings");
	fputs("<h1>Bindings</h1>\n", stdout);
	flash(named(all));
	if (!connected)
		fputs("<p><strong>Connect your FreeAgent account</strong>: "
		    "Connect FreeAgent on a binding below, or add a New "
		    "binding.</p>\n", stdout);
	usage(a);
	fputs("<p><a class=\"button\" href=\"/dashboard/new-binding\">"
	    "New binding</a></p>\n", stdout);
	json_array_foreach(all, i, b)
		row(b, 1);
	fa_cgi_end(stdout);
	json_decref(a);
}

/* GET /dashboard/new-binding: the form; POST: the binding, pending,
 * unless the plan's limit refuses it (binding.add). */
static void __attribute__((noreturn))
new_page(const char *method)
{
	struct fa_query q;
	const char *id = NULL, *host = NULL, *tok = NULL;
	char body[FA_QMAXLEN + 1], tk[CSRF_LEN + 1], out[256];
	json_t *a, *p, *u;

	if (strcmp(method, "POST") == 0) {
		readform(body);
		if (fa_query_parse(&q, body) == -1 ||
		    fa_query_get(&q, "csrf", &tok) == -1)
			tok = NULL;
		csrf_check(tok);
		if (fa_query_get(&q, "binding", &id) == -1 || id == NULL ||
		    !fa_validname(id, 65))
			page(400, "Not added", "a binding's name is 1 to 64 "
			    "letters, digits, '.', '-' or '_'");
		if (fa_query_get(&q, "magento", &host) == -1 || host == NULL ||
		    *host == '\0')
			page(400, "Not added", "name the Magento host");
		if (ask("binding.add", json_pack("{s:s,s:s}", "binding", id,
		    "magento", host), &a) == 0) {
			json_decref(a);
			snprintf(out, sizeof(out), "/dashboard/bindings?"
			    "done=added&binding=%s", id);
			redirect(out, NULL);
		}
		if (fa_errstatus() == EX_NOPERM) {
			a = list();
			u = json_object_get(a, "used");
			p = json_object_get(a, "plan");
			snprintf(out, sizeof(out), "Your plan allows %ld Magento "
			    "website%s; you have %ld",
			    (long)json_integer_value(json_object_get(p,
			    "bindings")), json_integer_value(json_object_get(p,
			    "bindings")) == 1 ? "" : "s",
			    (long)json_integer_value(json_object_get(u,
			    "bindings")));
			page(403, "Not added", out);
		}
		if (fa_errstatus() == EX_DATAERR && strstr(fa_errmsg(),
		    "exists") != NULL)
			page(409, "Not added", "that name is taken: choose "
			    "another");
		if (fa_errstatus() == EX_DATAERR)
			page(400, "Not added", "that is not a Magento host name "
			    "(such as shop.example.com)");
		page(503, "Not added", "nothing changed; try again in a "
		    "moment");
	}
	a = list();
	csrf(tk);
	fa_cgi_begin(stdout, 200, "New binding");
	fputs("<h1>New binding</h1>\n<p>A binding pairs one Magento website "
	    "with one FreeAgent company. Add it here, then connect "
	    "FreeAgent.</p>\n", stdout);
	usage(a);
	fputs("<form method=\"post\" action=\"/dashboard/new-binding\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"", stdout);
	fa_html(stdout, tk);
	fputs("\"><label for=\"magento\">Magento host</label><input "
	    "id=\"magento\" name=\"magento\" required maxlength=\"253\" "
	    "placeholder=\"shop.example.com\"><label for=\"binding\">"
	    "Binding name</label><input id=\"binding\" name=\"binding\" "
	    "required maxlength=\"64\" pattern=\"[A-Za-z0-9._-]+\" "
	    "aria-describedby=\"bhelp\"><p id=\"bhelp\" class=\"muted\">"
	    "Letters, digits, '.', '-' and '_'; it names the binding in "
	    "your shop's settings.</p><p class=\"muted\">FreeAgent "
	    "environment: production, unless we agreed on sandbox with you "
	    "(we set it).</p><p><button type=\"submit\">Add binding</button>"
	    "</p></form>\n", stdout);
	fa_cgi_end(stdout);
	json_decref(a);
	exit(0);
}

/* An audit record in plain words (dash.history): never a secret, for
 * no record holds one. */
static void
said(json_t *e)
{
	const char *ev = fa_jstr(e, "event"), *oc = fa_jstr(e, "outcome");
	const char *d = fa_jstr(e, "detail"), *p, *q;
	int ok = strcmp(oc, "ok") == 0;
	char name[512];
	long n1, n2;

	if ((strcmp(ev, "connect") == 0 || strcmp(ev, "reconnect") == 0) &&
	    ok) {
		/* detail: company "NAME" (id ID, SUB); was STATUS */
		fputs(*ev == 'r' ? "Reconnected to " : "Connected to ", stdout);
		if (strncmp(d, "company \"", 9) == 0 &&
		    (q = strstr(d, "\" (id ")) != NULL) {
			while ((p = strstr(q + 1, "\" (id ")) != NULL)
				q = p;
			snprintf(name, sizeof(name), "%.*s", (int)(q - d - 9),
			    d + 9);
			fa_html(stdout, name);
		} else
			fputs("FreeAgent", stdout);
	} else if (strcmp(ev, "add") == 0 && ok)
		fputs("Binding added", stdout);
	else if (strcmp(ev, "add") == 0)
		fputs("Not added: the plan's limit", stdout);
	else if (strcmp(ev, "authurl") == 0)
		fputs("Connect started", stdout);
	else if (strcmp(ev, "exchange") == 0 && ok)
		fputs("Approved at FreeAgent", stdout);
	else if ((strcmp(ev, "connect") == 0 || strcmp(ev, "exchange") == 0)
	    && strcmp(oc, "declined") == 0)
		fputs("The connect was declined at FreeAgent", stdout);
	else if (strcmp(ev, "connect") == 0 || strcmp(ev, "exchange") == 0) {
		fputs("The connect did not complete: ", stdout);
		fa_html(stdout, *d ? d : oc);
	} else if (strcmp(ev, "refresh") == 0 && ok)
		fputs("Access token refreshed", stdout);
	else if (strcmp(ev, "refresh") == 0 &&
	    strcmp(oc, "needs_reconnect") == 0)
		fputs("FreeAgent refused the refresh: reconnect needed",
		    stdout);
	else if (strcmp(ev, "refresh") == 0)
		fputs("The refresh failed for now; it is tried again", stdout);
	else if (strcmp(ev, "prefetch") == 0 && ok &&
	    sscanf(d, "%ld categories, %ld bank accounts", &n1, &n2) == 2)
		printf("Reference data refreshed (%ld categor%s, %ld bank "
		    "account%s)", n1, n1 == 1 ? "y" : "ies", n2,
		    n2 == 1 ? "" : "s");
	else if (strcmp(ev, "prefetch") == 0 && ok)
		fputs("Reference data refreshed", stdout);
	else if (strcmp(ev, "prefetch") == 0 &&
	    strcmp(oc, "needs_reconnect") == 0)
		fputs("FreeAgent refused the reference data: reconnect needed",
		    stdout);
	else if (strcmp(ev, "prefetch") == 0)
		fputs("Reference data could not be fetched; what you had is "
		    "kept", stdout);
	else if (strcmp(ev, "disconnect") == 0 && ok)
		fputs("Disconnected", stdout);
	else if (strcmp(ev, "disconnect") == 0)
		fputs("Disconnected here; FreeAgent could not be told", stdout);
	else if (strcmp(ev, "set") == 0)
		fputs("Settings changed", stdout);
	else {
		fa_html(stdout, ev);
		fputs(": ", stdout);
		fa_html(stdout, oc);
	}
}

/* Audit records, newest first, as a table in plain words. */
static void
events(json_t *ev)
{
	char buf[64];
	size_t i, n = json_array_size(ev);
	json_t *e;
	time_t tt;
	struct tm tm;

	if (n == 0) {
		fputs("<p>No events here.</p>\n", stdout);
		return;
	}
	fputs("<table>\n<thead><tr><th scope=\"col\">When (UTC)</th>"
	    "<th scope=\"col\">What happened</th></tr></thead><tbody>\n",
	    stdout);
	for (i = 0; i < n; i++) {
		e = json_array_get(ev, i);
		tt = (time_t)json_integer_value(json_object_get(e, "time"));
		if (gmtime_r(&tt, &tm) == NULL || strftime(buf, sizeof(buf),
		    "%Y-%m-%d %H:%M", &tm) == 0)
			snprintf(buf, sizeof(buf), "?");
		printf("<tr><td>%s</td><td>", buf);
		said(e);
		fputs("</td></tr>\n", stdout);
	}
	fputs("</tbody></table>\n", stdout);
}

/* GET /dashboard/bindings/{id}/history[?page=N]: the binding's events,
 * newest first, 50 a page. */
static void __attribute__((noreturn))
history_page(const char *id)
{
	struct fa_query q;
	const char *pg = qparam(&q, "page");
	char *end;
	json_t *a;
	long n = 0;

	if (pg != NULL) {
		errno = 0;
		n = strtol(pg, &end, 10);
		if (*pg < '0' || *pg > '9' || *end != '\0' || errno != 0 ||
		    n > 1000000)
			page(404, "Not found", "no such page");
	}
	if (!fa_validname(id, 65))
		page(404, "Not found", "no such binding");
	if (ask("dash.history", json_pack("{s:s,s:I}", "binding", id, "page",
	    (json_int_t)n), &a) == -1) {
		if (fa_errstatus() == EX_NOINPUT ||
		    fa_errstatus() == EX_DATAERR)
			page(404, "Not found", "no such binding");
		page(503, "Unavailable", "try again in a moment");
	}
	fa_cgi_begin(stdout, 200, "Sync history");
	fputs("<h1>Sync history</h1>\n", stdout);
	row(json_object_get(a, "binding"), 1);
	events(json_object_get(a, "events"));
	printf("<nav aria-label=\"Pages\"><p><span class=\"muted\">Page %ld"
	    "</span>", n + 1);
	if (n > 0) {
		fputs(" <a rel=\"prev\" href=\"/dashboard/bindings/", stdout);
		fa_html(stdout, id);
		if (n > 1)
			printf("/history?page=%ld\">Newer events</a>", n - 1);
		else
			fputs("/history\">Newer events</a>", stdout);
	}
	if (json_is_true(json_object_get(a, "more"))) {
		fputs(" <a rel=\"next\" href=\"/dashboard/bindings/", stdout);
		fa_html(stdout, id);
		printf("/history?page=%ld\">Older events</a>", n + 1);
	}
	fputs("</p></nav>\n", stdout);
	fa_cgi_end(stdout);
	json_decref(a);
	exit(0);
}

int
main(void)
{
	const char *path = getenv("PATH_INFO"), *method;

	if (fa_secure_init() == -1)
		page(500, "Error", "the dashboard cannot start");
	/* A page goes out in one write, not one per 4 KiB. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (path != NULL && strcmp(path, "/static/fa.css") == 0 &&
	    (method = getenv("REQUEST_METHOD")) != NULL &&
	    strcmp(method, "GET") == 0) {
		fa_cgi_css(stdout);
		return fflush(stdout) == EOF;
	}
	if ((tenant = fa_cgi_tenant()) == NULL)
		page(403, "Forbidden", "no tenant: the web server must "
		    "authenticate the person (REMOTE_USER)");
	method = getenv("REQUEST_METHOD");
	if (method == NULL)
		method = "";
	if (fa_conf_load(&conf, NULL) == -1)
		page(503, "Unavailable", "the vault is unavailable; try again "
		    "in a moment");
	if (path == NULL)
		path = "";
	if (strcmp(path, "/connect-freeagent") == 0 ||
	    strcmp(path, "/new-binding") == 0 ||
	    strncmp(path, "/settings/", 10) == 0)
		allow = "GET, POST";
	else if (strncmp(path, "/bindings/", 10) == 0 &&
	    strlen(path) > 21 &&
	    strcmp(path + strlen(path) - 11, "/disconnect") == 0)
		allow = "POST";
	if (strcmp(method, "POST") == 0 && crosssite())
		page(403, "Forbidden", "a form from another site may not act "
		    "here");
	if (strcmp(path, "/connect-freeagent") == 0 &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0))
		connect_page(method);
	if (strcmp(path, "/new-binding") == 0 &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0))
		new_page(method);
	if (strcmp(path, "/freeagent-callback") == 0 &&
	    strcmp(method, "GET") == 0)
		callback_page();
	if (strncmp(path, "/settings/", 10) == 0 &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0))
		settings_page(path + 10, method);
	if (strncmp(path, "/bindings/", 10) == 0 &&
	    strcmp(method, "POST") == 0 && strlen(path) > 21 &&
	    strcmp(path + strlen(path) - 11, "/disconnect") == 0)
		disconnect_page(path);
	if (strcmp(method, "GET") != 0 || strcmp(allow, "POST") == 0)
		page(405, "Method not allowed", "this page does not answer "
		    "that method");
	if (*path == '\0' || strcmp(path, "/") == 0)
		home_page();
	else if (strcmp(path, "/bindings") == 0)
		list_page();
	else if (strncmp(path, "/bindings/", 10) == 0 && strlen(path) > 18 &&
	    strcmp(path + strlen(path) - 8, "/history") == 0) {
		char id[65];
		size_t n = strlen(path) - 10 - 8;

		if (n >= sizeof(id))
			page(404, "Not found", "no such binding");
		memcpy(id, path + 10, n);
		id[n] = '\0';
		history_page(id);
	} else if (strncmp(path, "/bindings/", 10) == 0)
		binding_page(path + 10);
	else
		page(404, "Not found", "no such page");
	return fflush(stdout) == EOF;
}
