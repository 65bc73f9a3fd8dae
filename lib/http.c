#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#include "diag.h"
#include "http.h"
#include "secmem.h"
#include "url.h"

#define UA "fa/0.1 (+https://ledger.example.com)"

static struct {
	void		*dl;
	CURLcode	(*global_init)(long);
	CURL		*(*easy_init)(void);
	CURLcode	(*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode	(*easy_getinfo)(CURL *, CURLINFO, ...);
	void		(*easy_cleanup)(CURL *);
	const char	*(*easy_strerror)(CURLcode);
	CURLM		*(*multi_init)(void);
	CURLMcode	(*multi_add_handle)(CURLM *, CURL *);
	CURLMcode	(*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode	(*multi_perform)(CURLM *, int *);
	CURLMcode	(*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int,
			    int, int *);
	CURLMsg		*(*multi_info_read)(CURLM *, int *);
	CURLMcode	(*multi_cleanup)(CURLM *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void		(*slist_free_all)(struct curl_slist *);
} c;

/* quiet: sets no error (a thread of its own may load). */
static int
load(int quiet)
{
	static const char *names[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };
	size_t i;

	if (c.dl != NULL)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && c.dl == NULL; i++)
		c.dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (c.dl == NULL)
		return quiet ? -1 : fa_seterr(1, "cannot load libcurl: %s",
		    dlerror());
#define SYM(f, n) if ((*(void **)&c.f = dlsym(c.dl, n)) == NULL) goto bad
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(multi_init, "curl_multi_init");
	SYM(multi_add_handle, "curl_multi_add_handle");
	SYM(multi_remove_handle, "curl_multi_remove_handle");
	SYM(multi_perform, "curl_multi_perform");
	SYM(multi_poll, "curl_multi_poll");
	SYM(multi_info_read, "curl_multi_info_read");
	SYM(multi_cleanup, "curl_multi_cleanup");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
	if (c.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		dlclose(c.dl);
		c.dl = NULL;
		return quiet ? -1 : fa_seterr(1, "libcurl failed to "
		    "initialise");
	}
	return 0;
bad:
	dlclose(c.dl);
	c.dl = NULL;
	return quiet ? -1 : fa_seterr(1, "libcurl lacks a function fa "
	    "needs");
}

void *
fa_http_preload(void *arg)
{
	(void)arg;
	(void)load(1);
	return NULL;
}

size_t
fa_http_onbody(char *p, size_t sz, size_t nm, void *arg)
{
	struct fa_http *r = arg;
	size_t n = sz * nm, ncap;
	char *nb;

	if (r->len + n > r->max) {
		r->err = 65;
		return 0;	/* makes curl fail the transfer */
	}
	if (r->len + n + 1 > r->cap) {
		ncap = r->cap ? r->cap : 4096;
		while (ncap < r->len + n + 1)
			ncap *= 2;
		if ((nb = fa_secalloc(ncap)) == NULL)
			return 0;
		if (r->body != NULL) {
			memcpy(nb, r->body, r->len);
			fa_secfree(r->body);
		}
		r->body = nb;
		r->cap = ncap;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static long
headernum(const char *v)
{
	long n = 0;

	if (*v < '0' || *v > '9')
		return -1;
	for (; *v >= '0' && *v <= '9'; v++)
		if ((n = n * 10 + (*v - '0')) > 100000000)
			return -1;
	return n;
}

size_t
fa_http_onheader(char *p, size_t sz, size_t nm, void *arg)
{
	struct fa_http *r = arg;
	size_t n = sz * nm, k;
	char line[2 * FA_URLLEN + 512], *v;

	if (n >= sizeof(line)) {
		if (n > 7 && strncasecmp(p, "link:", 5) == 0)
			r->badlink = 1;
		return n;	/* ignore, but do not fail the transfer */
	}
	memcpy(line, p, n);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if ((v = strchr(line, ':')) == NULL)
		return n;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	k = strlen(line);
	if (k == 12 && strcasecmp(line, "content-type") == 0)
		snprintf(r->ctype, sizeof(r->ctype), "%s", v);
	else if (k == 4 && strcasecmp(line, "link") == 0) {
		if (fa_link_next(v, r->next, sizeof(r->next)) == -1) {
			r->badlink = 1;
			r->next[0] = '\0';
		}
	} else if (strcasecmp(line, "retry-after") == 0)
		r->retry_after = headernum(v);
	else if (strcasecmp(line, "x-total-count") == 0)
		r->total = headernum(v);
	return n;
}

static CURL *
setup(struct fa_http *r, struct curl_slist **hdrs)
{
	char auth[4096 + 32];
	CURL *h;

	if ((h = c.easy_init()) == NULL)
		return NULL;
	c.easy_setopt(h, CURLOPT_URL, r->url);
	c.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	c.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	c.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	c.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	c.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	c.easy_setopt(h, CURLOPT_TIMEOUT, r->timeout > 0 ? r->timeout : 30L);
	c.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	c.easy_setopt(h, CURLOPT_USERAGENT, UA);
	c.easy_setopt(h, CURLOPT_WRITEFUNCTION, fa_http_onbody);
	c.easy_setopt(h, CURLOPT_WRITEDATA, r);
	c.easy_setopt(h, CURLOPT_HEADERFUNCTION, fa_http_onheader);
	c.easy_setopt(h, CURLOPT_HEADERDATA, r);
	c.easy_setopt(h, CURLOPT_PRIVATE, r);
	*hdrs = c.slist_append(NULL, "Accept: application/json");
	if (r->bearer != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    r->bearer);
		*hdrs = c.slist_append(*hdrs, auth);
		sodium_memzero(auth, sizeof(auth));
	}
	c.easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	if (r->user != NULL) {
		c.easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		c.easy_setopt(h, CURLOPT_USERNAME, r->user);
		c.easy_setopt(h, CURLOPT_PASSWORD, r->pass);
	}
	if (r->form != NULL) {
		c.easy_setopt(h, CURLOPT_POSTFIELDS, r->form);
		c.easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(r->form));
	} else if (strcmp(r->method, "POST") == 0)
		c.easy_setopt(h, CURLOPT_POSTFIELDS, "");
	return h;
}

static void
fail(struct fa_http *r, int err, const char *fmt, ...)
{
	va_list ap;

	r->err = err;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
	va_end(ap);
}

static void
reset(struct fa_http *r)
{
	r->err = 0;
	r->errmsg[0] = '\0';
	r->status = 0;
	r->ctype[0] = r->next[0] = '\0';
	r->badlink = 0;
	r->retry_after = r->total = -1;
	r->len = 0;
	if (r->max == 0)
		r->max = 1 << 20;
	r->curl = r->hdrs = NULL;
}

/* One multi handle for the whole stream: a connection is kept for the
 * next request to the same host. */
void
fa_http_stream(int parallel, struct fa_http *(*next)(void *),
    void (*done)(struct fa_http *, void *), void *arg)
{
	CURLM *m = NULL;
	CURLMsg *msg;
	struct fa_http *r;
	int running = 0, still, left, ended;

	if (load(0) == -1 || (m = c.multi_init()) == NULL) {
		if (m == NULL && c.dl != NULL)
			fa_seterr(1, "out of memory");
		/* Nothing can be sent: each request carries the failure. */
		while ((r = next(arg)) != NULL) {
			reset(r);
			fail(r, fa_errstatus(), "%s", fa_errmsg());
			done(r, arg);
		}
		return;
	}
	for (;;) {
		while (running < (parallel > 0 ? parallel : 1) &&
		    (r = next(arg)) != NULL) {
			reset(r);
			if (!fa_url_allowed(r->url))
				fail(r, EX_CONFIG, "refusing %s: not https, and "
				    "not plain http to a loopback address",
				    r->url);
			else if ((r->curl = setup(r,
			    (struct curl_slist **)&r->hdrs)) == NULL)
				fail(r, 1, "out of memory");
			if (r->curl == NULL) {
				c.slist_free_all(r->hdrs);
				r->hdrs = NULL;
				done(r, arg);
				continue;
			}
			c.multi_add_handle(m, r->curl);
			running++;
		}
		if (running == 0)
			break;
		c.multi_perform(m, &still);
		ended = 0;
		while ((msg = c.multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			ended++;
			c.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&r);
			if (r->err == 65)
				fail(r, 65, "%s: response larger than %zu "
				    "bytes", r->url, r->max);
			else if (msg->data.result != CURLE_OK)
				fail(r, 75, "%s: %s", r->url,
				    c.easy_strerror(msg->data.result));
			else
				c.easy_getinfo(msg->easy_handle,
				    CURLINFO_RESPONSE_CODE, &r->status);
			c.multi_remove_handle(m, r->curl);
			c.easy_cleanup(r->curl);
			c.slist_free_all(r->hdrs);
			r->curl = r->hdrs = NULL;
			running--;
			/* May take a while (a commit, a probe): the other
			 * transfers go on in the kernel meanwhile. */
			done(r, arg);
		}
		/* A slot just freed is offered to next() before we wait. */
		if (running > 0 && ended == 0)
			c.multi_poll(m, NULL, 0, 1000, NULL);
	}
	c.multi_cleanup(m);
}

struct batch {
	struct fa_http	*r;
	int		 n, i, rv;
};

static struct fa_http *
batchnext(void *arg)
{
	struct batch *b = arg;

	return b->i < b->n ? &b->r[b->i++] : NULL;
}

static void
batchdone(struct fa_http *r, void *arg)
{
	struct batch *b = arg;

	if (r->err != 0 && b->rv == 0)
		b->rv = fa_seterr(r->err, "%s", r->errmsg);
}

int
fa_http_run(struct fa_http *r, int n, int parallel)
{
	struct batch b = { r, n, 0, 0 };

	fa_http_stream(parallel, batchnext, batchdone, &b);
	return b.rv;
}

void
fa_http_free(struct fa_http *r)
{
	fa_secfree(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
}

int
fa_http_isjson(const struct fa_http *r)
{
	return strncasecmp(r->ctype, "application/json", 16) == 0;
}
