/* fa-dashboard: the dashboard's CGI pages (first slice: the bindings
 * list and one binding). The tenant is REMOTE_USER and nothing else;
 * another tenant's binding answers 404, as does a binding that does not
 * exist. Everything printed into HTML is escaped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cgi.h"
#include "conf.h"
#include "diag.h"
#include "secmem.h"
#include "vault.h"

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
			fputs(" &mdash; FreeAgent refused access: Reconnect",
			    stdout);
		else if (strcmp(st, "disconnected") == 0)
			fputs(" &mdash; disconnected", stdout);
		else
			fputs(" &mdash; FreeAgent not connected yet", stdout);
	}
	if (link) {
		fputs(" <a href=\"/dashboard/bindings/", stdout);
		fa_html(stdout, id);
		fputs("\">details</a>", stdout);
	}
	fputs("</div>\n", stdout);
}

static int
list(struct fa_vault *v, DB_TXN *t, void *a)
{
	json_t **out = a;
	DBC *c;
	DBT sk, pk, d;
	json_t *b;
	uint32_t op = DB_SET;
	int r;

	*out = json_array();
	if ((r = v->bytenant->cursor(v->bytenant, t, &c, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&sk, 0, sizeof(sk));
	memset(&pk, 0, sizeof(pk));
	memset(&d, 0, sizeof(d));
	sk.data = (void *)tenant;
	sk.size = strlen(tenant);
	while ((r = c->pget(c, &sk, &pk, &d, op)) == 0) {
		op = DB_NEXT_DUP;
		if ((b = json_loadb(d.data, d.size, 0, NULL)) != NULL)
			json_array_append_new(*out, b);
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

struct one {
	const char	*id;
	json_t		*b;
};

static int
getone(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct one *o = a;
	int r = fa_getjson(v->bindings, t, o->id, &o->b, 0);

	return r == DB_NOTFOUND ? 0 : r;
}

int
main(void)
{
	const char *path = getenv("PATH_INFO"), *method;
	json_t *all, *b;
	struct one o;
	size_t i;
	int connected = 0;

	if (fa_secure_init() == -1)
		page(500, "Error", "the dashboard cannot start");
	if ((tenant = fa_cgi_tenant()) == NULL)
		page(403, "Forbidden", "no tenant: the web server must "
		    "authenticate the person (REMOTE_USER)");
	method = getenv("REQUEST_METHOD");
	if (method == NULL || strcmp(method, "GET") != 0)
		page(405, "Method not allowed", "this page only answers GET");
	if (fa_conf_load(&conf, NULL) == -1 ||
	    fa_vault_open(&vault, &conf, 0) == -1)
		page(503, "Unavailable", "the vault is unavailable; try again "
		    "in a moment");
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
	} else if (path != NULL && strncmp(path, "/bindings/", 10) == 0) {
		o.id = path + 10;
		o.b = NULL;
		if (!fa_validname(o.id, 65) ||
		    fa_vault_txn(&vault, getone, &o) == -1 || o.b == NULL ||
		    strcmp(jstr(o.b, "tenant"), tenant) != 0)
			page(404, "Not found", "no such binding");
		fa_cgi_begin(stdout, 200, "Binding");
		fputs("<h1>Binding ", stdout);
		fa_html(stdout, o.id);
		fputs("</h1>\n", stdout);
		row(o.b, 0);
		printf("<p>Status: ");
		fa_html(stdout, jstr(o.b, "status"));
		fputs("</p>", stdout);
		fa_cgi_end(stdout);
	} else
		page(404, "Not found", "no such page");
	fa_vault_close(&vault);
	return fflush(stdout) == EOF;
}
