/* proto.h: what crosses the keeper's socket (fa-vaultd(8)). One JSON
 * object a line each way. A request: {"v": verb, "id": request id,
 * "a": {arguments}}, at most FA_REQMAX bytes with its newline. An
 * answer: {"s": exit status, "e": message when s is not 0, "a": {…}}.
 * Plus the data types both sides share. */
#ifndef FA_PROTO_H
#define FA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define FA_REQMAX	65536		/* a request line, newline included */
#define FA_ANSMAX	(256L << 20)	/* an answer line */
#define FA_VERBLEN	32
#define FA_REQIDLEN	32		/* hex of 16 random bytes */
#define FA_TOKLEN	4096		/* longest token we accept */
/* prefetch.part's text: the keeper takes at most this many bytes.
 * fa-prefetch sends parts smaller once escaped, under FA_REQMAX. */
#define FA_PARTLEN	60000

/* Plaintext tokens; live in secure memory. */
struct fa_tokens {
	int64_t	expires_at;
	int64_t	refresh_expires_at;
	char	access[FA_TOKLEN];
	char	refresh[FA_TOKLEN];
};

struct fa_req {
	char	 verb[FA_VERBLEN];
	char	 id[FA_REQIDLEN + 1];	/* "" when the request has none */
	json_t	*args;			/* an object, never NULL once parsed */
};

/* Parses one request line (untrusted: the fuzzer's target). 0, or -1
 * with status 65 and a message that never quotes the input. */
int	 fa_req_parse(const char *line, size_t len, struct fa_req *);
void	 fa_req_free(struct fa_req *);
/* A fresh random request id. */
void	 fa_reqid(char out[FA_REQIDLEN + 1]);

int64_t	 fa_now(void);
/* A token's expiry we believe: from a day ago to 100 years ahead. */
#define FA_TIME_MIN(now)	((now) - 86400)
#define FA_TIME_MAX(now)	((now) + 100 * 366 * 86400LL)
/* The sweep finds a binding when its access token expires or, for an
 * idle binding, a day before its refresh token does. */
int64_t	 fa_due_at(int64_t expires_at, int64_t refresh_expires_at);
/* A string member of a record or an answer, "" when absent: a damaged
 * one must not crash a strcmp. */
const char *fa_jstr(json_t *, const char *key);
/* 1 if s can be a token: printable ASCII, no space, 1..FA_TOKLEN-1. */
int	 fa_tokenok(const char *s);
/* Binding and tenant ids: [A-Za-z0-9._@+-], 1..64 bytes. */
int	 fa_validid(const char *);

#endif
