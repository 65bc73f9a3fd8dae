/* fa-authurl: start a connect: mint a single-use state and print
 * FreeAgent's consent URL for a binding. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "oauth.h"
#include "secmem.h"
#include "vault.h"

#define STATE_TTL	600
#define PURGE_MAX	100

static struct fa_conf conf;
static struct fa_vault vault;

struct arg {
	const char	*tenant;
	const char	*binding;
	char		 state[FA_STATELEN + 1];
	char		 url[2048];
	int64_t		 expires;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: fa-authurl [-j] [-c file] [-t tenant] binding\n");
	exit(64);
}

/* Drops a bounded number of expired states, so abandoned connects do
 * not pile up; each new one pays for a few old ones. */
static int
purge(struct fa_vault *v, DB_TXN *t)
{
	DBC *c;
	DBT k, d;
	json_t *j;
	int r, n = 0;

	if ((r = v->states->cursor(v->states, t, &c, 0)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while (n < PURGE_MAX && (r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		n++;
		j = json_loadb(d.data, d.size, 0, NULL);
		if (j == NULL || json_integer_value(json_object_get(j,
		    "expires")) < fa_now())
			r = c->del(c, 0);
		json_decref(j);
		if (r != 0)
			break;
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

static int
mint(struct fa_vault *v, DB_TXN *t, void *a)
{
	struct arg *x = a;
	const struct fa_endpoint *e;
	unsigned char h[32];
	const char *ep, *tenant;
	json_t *b, *tj = NULL, *s;
	DBT k, d;
	char *txt;
	int r;

	if ((r = fa_getjson(v->bindings, t, x->binding, &b, 0)) != 0)
		return r == DB_NOTFOUND ?
		    fa_seterr(66, "no binding %s", x->binding) : r;
	tenant = json_string_value(json_object_get(b, "tenant"));
	/* Another tenant's binding looks exactly like no binding. */
	if (tenant == NULL || (x->tenant != NULL &&
	    strcmp(tenant, x->tenant) != 0)) {
		json_decref(b);
		return fa_seterr(66, "no binding %s", x->binding);
	}
	if ((r = fa_getjson(v->tenants, t, tenant, &tj, 0)) != 0 &&
	    r != DB_NOTFOUND) {
		json_decref(b);
		return r;
	}
	ep = fa_binding_endpoint(&conf, b, tj);
	if ((e = fa_conf_endpoint(&conf, ep)) == NULL)
		r = fa_seterr(78, "binding %s uses endpoint %s, which %s does "
		    "not define", x->binding, ep, conf.path);
	else if (e->client_id[0] == '\0')
		r = fa_seterr(78, "endpoint %s has no client_id in %s", ep,
		    conf.path);
	else if (conf.redirect_uri[0] == '\0')
		r = fa_seterr(78, "redirect_uri is not set in %s", conf.path);
	if (r != 0 && r != DB_NOTFOUND)
		goto out;
	fa_state_new(x->state);
	if (fa_authorize_url(e, conf.redirect_uri, x->state, x->url,
	    sizeof(x->url)) == -1) {
		r = -1;
		goto out;
	}
	x->expires = fa_now() + STATE_TTL;
	fa_state_hash(x->state, h);
	s = json_pack("{s:s,s:s,s:s,s:I,s:I}", "binding", x->binding,
	    "tenant", tenant, "endpoint", ep, "expires", (json_int_t)x->expires,
	    "created", (json_int_t)fa_now());
	txt = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = h;
	k.size = sizeof(h);
	d.data = txt;
	d.size = strlen(txt);
	if ((r = purge(v, t)) == 0)
		r = v->states->put(v->states, t, &k, &d, 0);
	fa_jsonfree(txt);
	if (r == 0)
		r = fa_audit(v, t, x->binding, tenant, "authurl", "ok",
		    "endpoint %s", ep);
out:
	json_decref(tj);
	json_decref(b);
	return r;
}

int
main(int argc, char *argv[])
{
	struct arg x;
	const char *confpath = NULL;
	json_t *j;
	char *s;
	int ch, jflag = 0;

	if (fa_secure_init() == -1)
		fa_die();
	memset(&x, 0, sizeof(x));
	while ((ch = getopt(argc, argv, "c:jt:")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 'j':
			jflag = 1;
			break;
		case 't':
			x.tenant = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	x.binding = argv[0];
	if (!fa_validname(x.binding, 65) || (x.tenant != NULL &&
	    !fa_validname(x.tenant, 65)))
		errx(65, "invalid binding or tenant name");
	if (fa_conf_load(&conf, confpath) == -1 ||
	    fa_vault_open(&vault, &conf, 0) == -1)
		fa_die();
	if (fa_vault_txn(&vault, mint, &x) == -1) {
		fa_vault_close(&vault);
		fa_die();
	}
	fa_vault_close(&vault);
	if (jflag) {
		j = json_pack("{s:s,s:s,s:I}", "url", x.url, "state", x.state,
		    "expires_at", (json_int_t)x.expires);
		s = json_dumps(j, JSON_COMPACT);
		puts(s);
		fa_jsonfree(s);
		json_decref(j);
	} else
		puts(x.url);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	return 0;
}
