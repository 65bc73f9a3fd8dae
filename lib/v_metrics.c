/* v_metrics.c: what an operator watches (fa-vault metrics): the
 * vault's state in Prometheus's text format, version 0.0.4, and the
 * records it is made from that no other verb keeps: the sweep's last
 * run. Nothing is scanned: counts are kept (verb.h, rules.c), the
 * rest read from the heads of indexes and a few meta records. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <db.h>

#include "diag.h"
#include "verb.h"

/* The sweep's report of its run: {"start", "ms", "due", "failed"}. */
static int
v_sweep_done(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	int64_t start, ms, due, failed;
	json_t *j;
	int r;

	if (fa_arg_int(c->in, "start", 0, INT64_MAX / 2, -1, &start) == -1 ||
	    fa_arg_int(c->in, "ms", 0, INT64_MAX / 2, 0, &ms) == -1 ||
	    fa_arg_int(c->in, "due", 0, INT64_MAX / 2, 0, &due) == -1 ||
	    fa_arg_int(c->in, "failed", 0, INT64_MAX / 2, 0, &failed) == -1)
		return -1;
	if (start < 0)
		return fa_seterr(EX_DATAERR, "sweep.done needs start");
	j = json_pack("{s:I,s:I,s:I,s:I}", "start", (json_int_t)start, "ms",
	    (json_int_t)ms, "due", (json_int_t)due, "failed",
	    (json_int_t)failed);
	r = fa_putjson(v->meta, t, "sweep:last", j);
	json_decref(j);
	return r;
}

/* A label value: \ " and newline escaped, as the format wants. */
static void
label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			putc(*s, f);
}

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The census (rules.c): bindings by status and endpoint, each kept as
 * meta "census:STATUS\tENDPOINT", into by ("status\tendpoint" ->
 * count; the default endpoint's name for ""). */
static int
census(struct fa_vault *v, DB_TXN *t, json_t *by)
{
	DBC *cur;
	DBT k, d;
	json_t *j;
	char key[256], name[320];
	const char *ep;
	int r;

	if ((r = v->meta->cursor(v->meta, t, &cur, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = "census:";
	k.size = 7;
	for (r = cur->get(cur, &k, &d, DB_SET_RANGE); r == 0 &&
	    k.size >= 7 && memcmp(k.data, "census:", 7) == 0;
	    r = cur->get(cur, &k, &d, DB_NEXT)) {
		if (k.size >= sizeof(key) ||
		    (j = json_loadb(d.data, d.size, 0, NULL)) == NULL)
			continue;
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		if ((ep = strchr(key, '\t')) != NULL) {
			snprintf(name, sizeof(name), "%.*s\t%s",
			    (int)(ep - key - 7), key + 7, ep[1] ? ep + 1 :
			    v->conf->default_endpoint);
			json_object_set_new(by, name, json_integer(
			    json_integer_value(json_object_get(by, name)) +
			    json_integer_value(json_object_get(j, "n"))));
		}
		json_decref(j);
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

/* The age of the reference data fetched longest ago (the index's first
 * entry, "ix:cache:AT:ID"), or 0. */
static int
oldcache(struct fa_vault *v, DB_TXN *t, int64_t now, int64_t *age)
{
	DBC *cur;
	DBT k, d;
	char hex[17];
	int r;

	*age = 0;
	if ((r = v->meta->cursor(v->meta, t, &cur, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = "ix:cache:";
	k.size = 9;
	if ((r = cur->get(cur, &k, &d, DB_SET_RANGE)) == 0 && k.size > 25 &&
	    memcmp(k.data, "ix:cache:", 9) == 0) {
		memcpy(hex, (char *)k.data + 9, 16);
		hex[16] = '\0';
		*age = now - (int64_t)strtoull(hex, NULL, 16);
		if (*age < 0)
			*age = 0;
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

/* The age of the access token that expires first of those in use (the
 * due index's first binding; one that needs a reconnect is due never):
 * since it was refreshed or connected. */
static int
oldtoken(struct fa_vault *v, DB_TXN *t, int64_t now, int64_t *age)
{
	char id[1][65];
	json_t *b;
	int64_t at;
	int r, n;

	*age = 0;
	if ((r = fa_due_list(v, t, INT64_MAX - 1, id, 1, &n)) != 0 || n == 0)
		return r;
	if ((r = fa_getjson(v->bindings, t, id[0], &b, 0)) != 0)
		return r == DB_NOTFOUND ? 0 : r;
	at = json_integer_value(json_object_get(b, "last_refresh"));
	if (json_integer_value(json_object_get(b, "connected_at")) > at)
		at = json_integer_value(json_object_get(b, "connected_at"));
	if (at > 0 && now > at)
		*age = now - at;
	json_decref(b);
	return 0;
}

/* Every shared per-minute window (meta "rate:..."): what the last 60
 * seconds used, and what its limit leaves. */
static int
windows(struct fa_vault *v, DB_TXN *t, FILE *f, int64_t now)
{
	const struct fa_conf *cf = v->conf;
	DBC *cur;
	DBT k, d;
	json_t *j, *a;
	char key[256];
	int64_t at, s;
	long used, limit;
	int r;

	if ((r = v->meta->cursor(v->meta, t, &cur, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = "rate:";
	k.size = 5;
	head(f, "fa_rate_window_headroom", "gauge", "Requests a shared "
	    "per-minute limit still allows now (limit minus the last 60 "
	    "seconds' requests).");
	for (r = cur->get(cur, &k, &d, DB_SET_RANGE); r == 0;
	    r = cur->get(cur, &k, &d, DB_NEXT)) {
		if (k.size < 5 || memcmp(k.data, "rate:", 5) != 0)
			break;
		if (k.size >= sizeof(key) ||
		    (j = json_loadb(d.data, d.size, 0, NULL)) == NULL)
			continue;
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		a = json_object_get(j, "c");
		at = json_integer_value(json_object_get(j, "at"));
		used = 0;
		/* The seconds of the last minute that the record holds. */
		for (s = now - 59; json_array_size(a) == 60 && s <= at &&
		    s <= now; s++)
			used += (long)json_integer_value(json_array_get(a,
			    (size_t)(s % 60)));
		json_decref(j);
		limit = strncmp(key, "rate:refresh:", 13) == 0 ?
		    cf->refresh_per_minute : strncmp(key, "rate:api:", 9) == 0 ?
		    cf->api_per_minute : strcmp(key, "rate:ip") == 0 ?
		    cf->ip_per_minute : -1;
		if (limit < 0)
			continue;
		fputs("fa_rate_window_headroom{window=\"", f);
		label(f, key + 5);
		fprintf(f, "\"} %ld\n", limit - used > 0 ? limit - used : 0);
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

/* A kept counter, meta "count:NAME". */
static int
counter(struct fa_vault *v, DB_TXN *t, const char *name, int64_t *n)
{
	char key[80];
	json_t *j;
	int r;

	*n = 0;
	snprintf(key, sizeof(key), "count:%s", name);
	if ((r = fa_getjson(v->meta, t, key, &j, 0)) == DB_NOTFOUND)
		return 0;
	if (r == 0)
		*n = json_integer_value(json_object_get(j, "n"));
	json_decref(j);
	return r;
}

/* {} -> {"text": the exposition}. */
static int
v_metrics(struct fa_vault *v, DB_TXN *t, struct fa_call *c)
{
	static const char *const outcomes[] = { "ok", "needs_reconnect",
		"temporary", "rate_limited", NULL };
	static const char *const probes[] = { "ok", "needs_reconnect",
		"failed", NULL };
	DB_BTREE_STAT *bs = NULL;
	DB_LOG_STAT *ls = NULL;
	char name[64], *text = NULL;
	const char *key, *p;
	size_t len = 0;
	json_t *j = NULL, *n, *by;
	int64_t cnt, now = fa_now(), oldtok, oldc;
	FILE *f;
	int r, i, due = 0;

	if ((by = json_object()) == NULL ||
	    (f = open_memstream(&text, &len)) == NULL) {
		json_decref(by);
		return fa_seterr(1, "out of memory");
	}
	if ((r = census(v, t, by)) != 0 ||
	    (r = fa_due_list(v, t, now + v->conf->refresh_margin, NULL,
	    INT_MAX, &due)) != 0 ||
	    (r = oldtoken(v, t, now, &oldtok)) != 0 ||
	    (r = oldcache(v, t, now, &oldc)) != 0 ||
	    (r = v->audit->stat(v->audit, t, &bs, DB_FAST_STAT)) != 0 ||
	    (r = fa_getjson(v->meta, t, "sweep:last", &j, 0)) == -1 ||
	    (r != 0 && r != DB_NOTFOUND))
		goto out;
	head(f, "fa_bindings", "gauge", "Bindings by status and endpoint.");
	json_object_foreach(by, key, n) {
		p = strchr(key, '\t');
		fprintf(f, "fa_bindings{status=\"%.*s\",endpoint=\"",
		    (int)(p - key), key);
		label(f, p + 1);
		fprintf(f, "\"} %lld\n", (long long)json_integer_value(n));
	}
	head(f, "fa_refreshes_total", "counter", "Token refreshes by "
	    "outcome.");
	for (i = 0; outcomes[i] != NULL; i++) {
		snprintf(name, sizeof(name), "refresh:%s", outcomes[i]);
		if ((r = counter(v, t, name, &cnt)) != 0)
			goto out;
		fprintf(f, "fa_refreshes_total{outcome=\"%s\"} %lld\n",
		    outcomes[i], (long long)cnt);
	}
	head(f, "fa_probes_total", "counter", "Health probes (fa-refresh "
	    "--probe) by outcome.");
	for (i = 0; probes[i] != NULL; i++) {
		snprintf(name, sizeof(name), "probe:%s", probes[i]);
		if ((r = counter(v, t, name, &cnt)) != 0)
			goto out;
		fprintf(f, "fa_probes_total{outcome=\"%s\"} %lld\n",
		    probes[i], (long long)cnt);
	}
	head(f, "fa_due_backlog", "gauge", "Bindings due for a refresh now "
	    "(inside refresh_margin).");
	fprintf(f, "fa_due_backlog %d\n", due);
	head(f, "fa_oldest_access_token_age_seconds", "gauge", "Age of the "
	    "access token in use that expires first.");
	fprintf(f, "fa_oldest_access_token_age_seconds %lld\n",
	    (long long)oldtok);
	head(f, "fa_oldest_reference_cache_age_seconds", "gauge", "Age of "
	    "the oldest reference data of a connected binding.");
	fprintf(f, "fa_oldest_reference_cache_age_seconds %lld\n",
	    (long long)oldc);
	if ((r = windows(v, t, f, now)) != 0)
		goto out;
	head(f, "fa_sweep_last_start_timestamp_seconds", "gauge", "When the "
	    "last refresh sweep started.");
	fprintf(f, "fa_sweep_last_start_timestamp_seconds %lld\n",
	    (long long)json_integer_value(json_object_get(j, "start")));
	head(f, "fa_sweep_last_duration_seconds", "gauge", "How long the "
	    "last refresh sweep took.");
	fprintf(f, "fa_sweep_last_duration_seconds %.3f\n",
	    (double)json_integer_value(json_object_get(j, "ms")) / 1000);
	head(f, "fa_sweep_last_failures", "gauge", "Refreshes the last "
	    "sweep could not do.");
	fprintf(f, "fa_sweep_last_failures %lld\n",
	    (long long)json_integer_value(json_object_get(j, "failed")));
	head(f, "fa_audit_records", "gauge", "Audit records kept.");
	/* A recno database's fast count is of the records ever added. */
	if ((r = counter(v, t, "audit:removed", &cnt)) != 0)
		goto out;
	fprintf(f, "fa_audit_records %lld\n", (long long)bs->bt_nkeys -
	    (long long)cnt);
	head(f, "fa_keeper_uptime_seconds", "gauge", "Seconds since this "
	    "site's keeper started.");
	fprintf(f, "fa_keeper_uptime_seconds %lld\n",
	    (long long)(now - v->started));
	head(f, "fa_replication_role", "gauge", "This site's role: 1 for the "
	    "role it has.");
	for (i = 0; i < 3; i++)
		fprintf(f, "fa_replication_role{role=\"%s\"} %d\n",
		    i == 0 ? "master" : i == 1 ? "replica" : "none",
		    i == 0 ? v->repl && v->master : i == 1 ? v->repl &&
		    !v->master : !v->repl);
	if (v->repl && v->env->log_stat(v->env, &ls, 0) == 0) {
		head(f, "fa_replication_log_position", "gauge", "The end of "
		    "this site's log (file * 2^32 + offset): a replica trails "
		    "its master by the difference.");
		fprintf(f, "fa_replication_log_position %.0f\n",
		    (double)ls->st_cur_file * 4294967296.0 +
		    (double)ls->st_cur_offset);
		free(ls);
	}
	r = 0;
out:
	if (fclose(f) != 0 && r == 0)
		r = fa_seterr(1, "out of memory");
	if (r == 0)
		r = json_object_set_new(c->out, "text", json_string(text)) ?
		    fa_seterr(1, "out of memory") : 0;
	free(text);
	free(bs);
	json_decref(j);
	json_decref(by);
	return r;
}

const struct fa_verb fa_verbs_metrics[] = {
	{ "vault.metrics",	v_metrics,	FA_BYWORKER },
	{ "sweep.done",		v_sweep_done,	FA_W | FA_BYWORKER },
	{ NULL,			NULL,		0 }
};
