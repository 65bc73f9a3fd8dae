#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "diag.h"

#ifndef FA_CONFDIR
#define FA_CONFDIR "/usr/local/etc/fa"
#endif

enum { STR, NUM };

static const struct key {
	const char	*name;
	int		 type;
	size_t		 off, size;
	long		 min, max;
} globals[] = {
#define S(f)	STR, offsetof(struct fa_conf, f), sizeof(((struct fa_conf *)0)->f), 0, 0
#define N(f, lo, hi) NUM, offsetof(struct fa_conf, f), 0, lo, hi
	{ "vault_dir",		S(vault_dir) },
	{ "master_key_file",	S(master_key_file) },
	{ "vault_socket",	S(vault_socket) },
	{ "redirect_uri",	S(redirect_uri) },
	{ "default_endpoint",	S(default_endpoint) },
	{ "default_plan",	S(default_plan) },
	{ "status_hook",	S(status_hook) },
	{ "refresh_margin",	N(refresh_margin, 0, 86400) },
	{ "refresh_concurrency", N(refresh_concurrency, 1, 1024) },
	{ "refresh_per_minute",	N(refresh_per_minute, 1, 1000000) },
	{ "api_per_minute",	N(api_per_minute, 1, 1000000) },
	{ "ip_per_minute",	N(ip_per_minute, 1, 10000000) },
	{ "http_timeout",	N(http_timeout, 1, 600) },
	{ "vault_timeout",	N(vault_timeout, 1, 3600) },
	{ "probe_spread",	N(probe_spread, 0, 86400) },
	{ "audit_keep_days",	N(audit_keep_days, 1, 36500) },
#undef S
#undef N
}, epkeys[] = {
#define S(f)	STR, offsetof(struct fa_endpoint, f), sizeof(((struct fa_endpoint *)0)->f), 0, 0
	{ "base_url",		S(base_url) },
	{ "authorize_url",	S(authorize_url) },
	{ "token_url",		S(token_url) },
	{ "revoke_url",		S(revoke_url) },
	{ "client_id",		S(client_id) },
	{ "client_secret_file",	S(client_secret_file) },
#undef S
};

static const char *curfile = "";

/* c is zeroed (conf.h); an endpoint or plan slot is cleared again when
 * a line first names it. Clearing the whole 120 KiB here would fault
 * in every page of it on the fresh-token path. */
static void
defaults(struct fa_conf *c)
{
	c->nep = 2;
	c->nplan = 0;
	c->naccess = 0;
	c->repl.nremote = 0;
	c->repl.priority = 100;
	strcpy(c->default_endpoint, "production");
	strcpy(c->default_plan, "default");
	c->refresh_margin = 300;
	c->refresh_concurrency = 8;
	c->refresh_per_minute = 15;
	c->api_per_minute = 120;
	c->ip_per_minute = 1000;
	c->http_timeout = 30;
	c->vault_timeout = 10;
	c->probe_spread = 3600;
	c->audit_keep_days = 400;
	strcpy(c->ep[0].name, "production");
	strcpy(c->ep[0].base_url, "https://api.freeagent.com/v2");
	strcpy(c->ep[1].name, "sandbox");
	strcpy(c->ep[1].base_url, "https://api.sandbox.freeagent.com/v2");
}

int
fa_validname(const char *s, size_t max)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-");

	/* A letter or digit first: names end up in URLs and paths (not
	 * "." or ".."), and in argv, where "-x" would be an option. */
	return n > 0 && n < max && s[n] == '\0' &&
	    strchr("._@+-", s[0]) == NULL;
}

/* https:// to any host, or http:// to a loopback host; never userinfo
 * ("http://127.0.0.1@evil.example/" is evil.example). */
int
fa_url_allowed(const char *url)
{
	const char *h, *end;
	size_t n, i, dots;
	int https;

	if ((https = strncmp(url, "https://", 8) == 0))
		h = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		h = url + 7;
	else
		return 0;
	n = strcspn(h, "/?#");
	if (n == 0 || memchr(h, '@', n) != NULL || memchr(h, '\\', n) != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] >= 0x7f)
			return 0;
	if (https)
		return 1;
	/* The host ends at the port's ':' (or at the end of "[::1]"). */
	if (h[0] == '[')
		end = strncmp(h, "[::1]", 5) == 0 ? h + 5 : NULL;
	else {
		end = h + strcspn(h, ":/?#");
		if ((size_t)(end - h) == 9 && strncmp(h, "localhost", 9) == 0)
			;
		else {
			/* 127.d.d.d, nothing else */
			if (strncmp(h, "127.", 4) != 0)
				return 0;
			for (i = 4, dots = 1; h + i < end; i++) {
				if (h[i] == '.')
					dots++;
				else if (h[i] < '0' || h[i] > '9')
					return 0;
			}
			if (dots != 3 || end[-1] == '.')
				return 0;
		}
	}
	if (end == NULL || (*end != '\0' && strchr(":/?#", *end) == NULL))
		return 0;
	if (*end == ':' && strspn(end + 1, "0123456789") !=
	    strcspn(end + 1, "/?#"))
		return 0;
	return 1;
}

static int
setkey(void *base, const struct key *k, const char *val, int lineno)
{
	char *end;
	long v;

	if (k->type == STR) {
		if (strlen(val) >= k->size)
			return fa_seterr(EX_CONFIG, "%s:%d: value of %s too long",
			    curfile, lineno, k->name);
		strcpy((char *)base + k->off, val);
		return 0;
	}
	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || *val == '\0' || *end != '\0' || v < k->min || v > k->max)
		return fa_seterr(EX_CONFIG, "%s:%d: %s must be a number from "
		    "%ld to %ld", curfile, lineno, k->name, k->min, k->max);
	*(long *)((char *)base + k->off) = v;
	return 0;
}

static const struct key *
findkey(const struct key *t, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

static struct fa_endpoint *
endpoint(struct fa_conf *c, const char *name, int lineno)
{
	int i;

	for (i = 0; i < c->nep; i++)
		if (strcmp(c->ep[i].name, name) == 0)
			return &c->ep[i];
	if (c->nep == FA_MAXEP) {
		fa_seterr(EX_CONFIG, "%s:%d: more than %d endpoints", curfile,
		    lineno, FA_MAXEP);
		return NULL;
	}
	memset(&c->ep[c->nep], 0, sizeof(c->ep[0]));
	strcpy(c->ep[c->nep].name, name);
	return &c->ep[c->nep++];
}

static int
planline(struct fa_conf *c, const char *rest, const char *val, int lineno)
{
	const char *dot = strrchr(rest, '.');
	char name[FA_NAMELEN];
	struct fa_plan *p = NULL;
	long *field, v;
	char *end;
	int i;

	if (dot == NULL || (size_t)(dot - rest) >= sizeof(name))
		goto unknown;
	memcpy(name, rest, dot - rest);
	name[dot - rest] = '\0';
	if (!fa_validname(name, sizeof(name)))
		goto unknown;
	for (i = 0; i < c->nplan; i++)
		if (strcmp(c->plan[i].name, name) == 0)
			p = &c->plan[i];
	if (p == NULL) {
		if (c->nplan == FA_MAXPLAN)
			return fa_seterr(EX_CONFIG, "%s:%d: more than %d plans",
			    curfile, lineno, FA_MAXPLAN);
		p = &c->plan[c->nplan++];
		memset(p, 0, sizeof(*p));
		strcpy(p->name, name);
		p->companies = p->bindings = -1;
	}
	if (strcmp(dot + 1, "companies") == 0)
		field = &p->companies;
	else if (strcmp(dot + 1, "bindings") == 0)
		field = &p->bindings;
	else
		goto unknown;
	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || *val == '\0' || *end != '\0' || v < 0)
		return fa_seterr(EX_CONFIG, "%s:%d: plan.%s must be a number "
		    "of 0 or more", curfile, lineno, rest);
	*field = v;
	return 0;
unknown:
	return fa_seterr(EX_CONFIG, "%s:%d: unknown key plan.%s", curfile,
	    lineno, rest);
}

/* access.NAME = admin | worker | dashboard; NAME a user, or @GROUP. */
static int
accessline(struct fa_conf *c, const char *name, const char *val, int lineno)
{
	static const char *const roles[] = { "admin", "worker", "dashboard" };
	const char *n = name + (*name == '@');
	size_t len = strlen(n);
	int i;

	if (len == 0 || len > FA_NAMELEN - 1 || strspn(n, "abcdefghijklmnop"
	    "qrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len ||
	    *n == '-' || *n == '.')
		return fa_seterr(EX_CONFIG, "%s:%d: access.%s: not a user or "
		    "@group name", curfile, lineno, name);
	for (i = 0; i < c->naccess; i++)
		if (strcmp(c->access[i].name, name) == 0)
			return fa_seterr(EX_CONFIG, "%s:%d: access.%s is given "
			    "twice", curfile, lineno, name);
	if (c->naccess == FA_MAXACCESS)
		return fa_seterr(EX_CONFIG, "%s:%d: more than %d access lines",
		    curfile, lineno, FA_MAXACCESS);
	for (i = 0; i < 3 && strcmp(val, roles[i]) != 0; i++)
		;
	if (i == 3)
		return fa_seterr(EX_CONFIG, "%s:%d: access.%s must be admin, "
		    "worker or dashboard", curfile, lineno, name);
	strcpy(c->access[c->naccess].name, name);
	c->access[c->naccess++].role = 1 << i;
	return 0;
}

int
fa_hostport(const char *s, char *host, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	size_t n;
	char *end;
	long p;

	if (colon == NULL || (n = (size_t)(colon - s)) == 0 ||
	    n >= FA_HOSTLEN || strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n || *s == '-')
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || colon[1] == '\0' || *end != '\0' || p < 1 || p > 65535)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = (unsigned)p;
	return 0;
}

/* repl.local, repl.remote (again for each helper), repl.priority,
 * repl.ack. */
static int
replline(struct fa_conf *c, const char *key, const char *val, int lineno)
{
	char host[FA_HOSTLEN], *end;
	unsigned port;
	long v;

	if (strcmp(key, "local") == 0 || strcmp(key, "remote") == 0) {
		if (strlen(val) >= FA_HOSTLEN || fa_hostport(val, host, &port) == -1)
			return fa_seterr(EX_CONFIG, "%s:%d: repl.%s must be "
			    "HOST:PORT", curfile, lineno, key);
		if (*key == 'l') {
			strcpy(c->repl.local, val);
			return 0;
		}
		if (c->repl.nremote == FA_MAXREMOTE)
			return fa_seterr(EX_CONFIG, "%s:%d: more than %d "
			    "repl.remote", curfile, lineno, FA_MAXREMOTE);
		strcpy(c->repl.remote[c->repl.nremote++], val);
		return 0;
	}
	if (strcmp(key, "priority") == 0) {
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno || *val == '\0' || *end != '\0' || v < 0 ||
		    v > 1000000)
			return fa_seterr(EX_CONFIG, "%s:%d: repl.priority must "
			    "be a number from 0 to 1000000", curfile, lineno);
		c->repl.priority = v;
		return 0;
	}
	if (strcmp(key, "ack") == 0) {
		if (strcmp(val, "quorum") != 0 && strcmp(val, "all") != 0)
			return fa_seterr(EX_CONFIG, "%s:%d: repl.ack must be "
			    "quorum or all", curfile, lineno);
		c->repl.ackall = *val == 'a';
		return 0;
	}
	return fa_seterr(EX_CONFIG, "%s:%d: unknown key repl.%s", curfile,
	    lineno, key);
}

int
fa_conf_line(struct fa_conf *c, char *line, int lineno)
{
	char *key, *val, *p, *dot;
	const struct key *k;
	struct fa_endpoint *e;

	/* A comment starts with a '#' at the start or after whitespace; a
	 * '#' inside a value ("a#b") is part of it. */
	for (p = line; (p = strchr(p, '#')) != NULL; p++)
		if (p == line || isspace((unsigned char)p[-1])) {
			*p = '\0';
			break;
		}
	for (p = line + strlen(line); p > line && isspace((unsigned char)p[-1]);)
		*--p = '\0';
	for (key = line; isspace((unsigned char)*key); key++)
		;
	if (*key == '\0')
		return 0;
	if ((val = strchr(key, '=')) == NULL)
		return fa_seterr(EX_CONFIG, "%s:%d: expected key = value",
		    curfile, lineno);
	for (p = val; p > key && isspace((unsigned char)p[-1]);)
		p--;
	*p = '\0';
	for (val++; isspace((unsigned char)*val); val++)
		;
	if (*key == '\0')
		return fa_seterr(EX_CONFIG, "%s:%d: expected key = value",
		    curfile, lineno);
	if (strncmp(key, "plan.", 5) == 0)
		return planline(c, key + 5, val, lineno);
	if (strncmp(key, "access.", 7) == 0)
		return accessline(c, key + 7, val, lineno);
	if (strncmp(key, "repl.", 5) == 0)
		return replline(c, key + 5, val, lineno);
	if ((dot = strrchr(key, '.')) == NULL) {
		if ((k = findkey(globals, sizeof(globals) / sizeof(globals[0]),
		    key)) == NULL)
			return fa_seterr(EX_CONFIG, "%s:%d: unknown key %s",
			    curfile, lineno, key);
		/* Run from the keeper's directory, a relative path would run
		 * whatever is there by that name. */
		if (k->off == offsetof(struct fa_conf, status_hook) &&
		    *val != '\0' && *val != '/')
			return fa_seterr(EX_CONFIG, "%s:%d: status_hook must be "
			    "an absolute path", curfile, lineno);
		return setkey(c, k, val, lineno);
	}
	*dot = '\0';
	if ((k = findkey(epkeys, sizeof(epkeys) / sizeof(epkeys[0]),
	    dot + 1)) == NULL || !fa_validname(key, FA_NAMELEN) ||
	    strchr(key, '.') != NULL) {
		*dot = '.';
		return fa_seterr(EX_CONFIG, "%s:%d: unknown key %s", curfile,
		    lineno, key);
	}
	if ((e = endpoint(c, key, lineno)) == NULL)
		return -1;
	if (k->off != offsetof(struct fa_endpoint, client_id) &&
	    k->off != offsetof(struct fa_endpoint, client_secret_file) &&
	    *val != '\0' && !fa_url_allowed(val))
		return fa_seterr(EX_CONFIG, "%s:%d: %s.%s must be https:// "
		    "(plain http only to a loopback address)", curfile, lineno,
		    key, k->name);
	return setkey(e, k, val, lineno);
}

/* Fills in derived URLs and checks what refers to what. */
int
fa_conf_finish(struct fa_conf *c)
{
	struct fa_endpoint *e;
	int i;

	for (i = 0; i < c->nep; i++) {
		e = &c->ep[i];
		if (e->base_url[0] == '\0')
			return fa_seterr(EX_CONFIG, "%s: endpoint %s has no "
			    "base_url", curfile, e->name);
		if (e->authorize_url[0] == '\0' && snprintf(e->authorize_url,
		    FA_URLLEN, "%s/approve_app", e->base_url) >= FA_URLLEN)
			return fa_seterr(EX_CONFIG, "%s: %s.base_url too long",
			    curfile, e->name);
		if (e->token_url[0] == '\0' && snprintf(e->token_url,
		    FA_URLLEN, "%s/token_endpoint", e->base_url) >= FA_URLLEN)
			return fa_seterr(EX_CONFIG, "%s: %s.base_url too long",
			    curfile, e->name);
	}
	if (c->repl.nremote > 0 && c->repl.local[0] == '\0')
		return fa_seterr(EX_CONFIG, "%s: repl.remote without repl.local",
		    curfile);
	if (fa_conf_endpoint(c, c->default_endpoint) == NULL)
		return fa_seterr(EX_CONFIG, "%s: default_endpoint %s is not "
		    "defined", curfile, c->default_endpoint);
	return 0;
}

int
fa_conf_load(struct fa_conf *c, const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;
	int lineno = 0, rv = 0;

	if (path == NULL && (path = getenv("FA_CONFIG")) == NULL)
		path = FA_CONFDIR "/fa.conf";
	defaults(c);
	if (strlen(path) >= sizeof(c->path))
		return fa_seterr(EX_CONFIG, "config path too long");
	strcpy(c->path, path);
	curfile = c->path;
	if ((fp = fopen(path, "re")) == NULL)
		return fa_seterr(fa_errnost(errno), "%s: %s", path,
		    strerror(errno));
	while (rv == 0 && (n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (n > 4096)
			rv = fa_seterr(EX_CONFIG, "%s:%d: line too long", path,
			    lineno);
		else if (strlen(line) != (size_t)n)
			rv = fa_seterr(EX_CONFIG, "%s:%d: NUL byte", path,
			    lineno);
		else
			rv = fa_conf_line(c, line, lineno);
	}
	if (rv == 0 && ferror(fp))
		rv = fa_seterr(fa_errnost(errno), "%s: %s", path,
		    strerror(errno));
	free(line);
	fclose(fp);
	return rv == 0 ? fa_conf_finish(c) : rv;
}

const struct fa_endpoint *
fa_conf_endpoint(const struct fa_conf *c, const char *name)
{
	int i;

	for (i = 0; i < c->nep; i++)
		if (strcmp(c->ep[i].name, name) == 0)
			return &c->ep[i];
	return NULL;
}

const struct fa_plan *
fa_conf_plan(const struct fa_conf *c, const char *name)
{
	int i;

	for (i = 0; i < c->nplan; i++)
		if (strcmp(c->plan[i].name, name) == 0)
			return &c->plan[i];
	return NULL;
}
