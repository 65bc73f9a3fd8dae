/* http.h: HTTPS requests through libcurl, loaded with dlopen(3) on the
 * first request only, so commands that usually need no network (the
 * fresh-token path of fa-refresh) do not pay libcurl's start-up cost.
 * TLS is verified; plain http only to loopback; no redirects followed;
 * every response is bounded in size and time. */
#ifndef FA_HTTP_H
#define FA_HTTP_H

#include <stddef.h>

#include "conf.h"

/* The longest Retry-After a command waits out, once, before giving up
 * with 75 (try again later). */
#define FA_RETRY_WAIT	5

struct fa_http {
	/* request */
	const char	*method;	/* "GET" or "POST" */
	const char	*url;
	const char	*form;		/* POST body, x-www-form-urlencoded */
	const char	*user;		/* HTTP Basic client auth */
	const char	*pass;		/* secret */
	const char	*bearer;	/* secret: Authorization: Bearer */
	size_t		 max;		/* largest body accepted */
	long		 timeout;	/* seconds */
	/* response */
	int		 err;		/* 0, or 75 (network) / 65 (too big) */
	char		 errmsg[256];
	long		 status;
	char		 ctype[128];
	char		*body;		/* secure memory, NUL-terminated */
	size_t		 len;
	size_t		 cap;
	char		 next[FA_URLLEN];	/* Link rel="next", or "" */
	int		 badlink;
	long		 retry_after;	/* seconds, -1 if absent */
	long		 total;		/* X-Total-Count, -1 if absent */
	/* private: the transfer while it runs */
	void		*curl;
	void		*hdrs;
};

/* Runs n requests, at most `parallel` at once. Returns 0 if every request
 * got an answer (look at each status), else -1 with the first failure
 * set; r[i].err says which. */
int	 fa_http_run(struct fa_http *r, int n, int parallel);
/* Runs the requests next() hands out, at most `parallel` at once, and
 * hands each to done() as it completes; the slot it frees is offered
 * to next() at once. next() returns NULL when it has nothing now (a
 * done() may give it more); the stream ends when nothing runs and
 * next() has nothing. A request that cannot be sent goes to done()
 * with err set. */
void	 fa_http_stream(int parallel, struct fa_http *(*next)(void *),
	    void (*done)(struct fa_http *, void *), void *arg);
void	 fa_http_free(struct fa_http *);
/* Loads libcurl now, not at the first request, as a thread's start
 * routine: a program that waits for something else first loads it
 * meanwhile, then joins the thread before its first request. A failure
 * is reported by that request. */
void	*fa_http_preload(void *);
/* libcurl's callbacks, arg a struct fa_http: a body chunk (bounded by
 * max) and one header line (Content-Type, Link, Retry-After,
 * X-Total-Count kept). Here for fuzz/http. */
size_t	 fa_http_onbody(char *, size_t, size_t, void *);
size_t	 fa_http_onheader(char *, size_t, size_t, void *);
/* 1 if the response is JSON by its Content-Type. */
int	 fa_http_isjson(const struct fa_http *);

#endif
