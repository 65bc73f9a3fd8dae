/* oauth.h: FreeAgent's OAuth 2.0 (RFC 6749), its company request and
 * token revocation (RFC 7009), as FREEAGENT.md describes them, quirks
 * included. What it answers is checked by doc.h's parsers. */
#ifndef FA_OAUTH_H
#define FA_OAUTH_H

#include <jansson.h>

#include "conf.h"
#include "doc.h"
#include "proto.h"

#define FA_STATELEN	43	/* base64url of 32 random bytes */

void	 fa_state_new(char out[FA_STATELEN + 1]);
int	 fa_state_valid(const char *);
void	 fa_state_hash(const char *state, unsigned char out[32]);
int	 fa_authorize_url(const struct fa_endpoint *, const char *redirect_uri,
	    const char *state, char *out, size_t outsz);

/* Results of a token request, as exit statuses (1: something else,
 * such as libcurl missing). */
enum {
	FA_GRANT_OK = 0,
	FA_GRANT_TEMP = 75,	/* network, 5xx, 429, bad body: retry */
	FA_GRANT_REFUSED = 77,	/* invalid_grant, or 401 with good client */
	FA_GRANT_CLIENT = 78	/* the endpoint's client id/secret refused */
};

/* The vault's say in a token request, asked by the caller: oauth.c
 * knows no vault. vaultc.h's fa_gate_vault asks the keeper. */
struct fa_gate {
	/* One request counted against ip_per_minute: 0, or -1 with the
	 * error set (75: the minute is full; maywait: wait it out once). */
	int	(*rate)(const struct fa_conf *, int maywait);
	/* 1 if this client (fa_client_hash) got tokens in the last day. */
	int	(*known)(const struct fa_conf *, const char *endpoint,
		    const char *clienthash);
	/* This client just got tokens. */
	void	(*worked)(const struct fa_conf *, const char *endpoint,
		    const char *clienthash);
};

/* POSTs form (grant_type=…) to the endpoint's token URL with HTTP Basic
 * client auth and fills tok (refresh kept from tok when the response has
 * none). Returns one of the FA_GRANT_ values, message in fa_errmsg();
 * *retry_after is the server's Retry-After on 429, else -1. */
int	 fa_grant(const struct fa_conf *, const struct fa_gate *,
	    const struct fa_endpoint *, const char *form,
	    struct fa_tokens *tok, long *retry_after);
/* The same in pieces, for many requests at once (fa_http_run):
 * the secret (secure memory, fa_secfree it), a request, its result. */
struct fa_http;
char	*fa_client_secret(const struct fa_conf *, const struct fa_endpoint *);
void	 fa_grant_req(struct fa_http *, const struct fa_conf *,
	    const struct fa_endpoint *, const char *form, const char *secret);
int	 fa_grant_res(const struct fa_conf *, const struct fa_gate *,
	    const struct fa_endpoint *, struct fa_http *, const char *secret,
	    struct fa_tokens *, long *retry_after, int known_good);
/* Names a client id and secret pair without revealing the secret (a
 * hash, which the keeper hashes again with a key of its own before it
 * keeps it), so the vault can remember that it worked. */
void	 fa_client_hash(const struct fa_endpoint *, const char *secret,
	    char out[65]);
/* GETs base_url/company with the access token; returns the company
 * normalised by fa_company(), or NULL (status 75/77/65 in fa_errstatus). */
json_t	*fa_get_company(const struct fa_conf *, const struct fa_endpoint *,
	    const char *access);
/* RFC 7009 at e's revoke_url: the refresh token (and so its access
 * token) revoked, with the client's HTTP Basic credentials, the request
 * counted by g's rate. 0, or the status and message: 78 client refused
 * or config, 1 a 4xx a retry will not help, 75 try again. */
int	 fa_revoke(const struct fa_conf *, const struct fa_gate *,
	    const struct fa_endpoint *e, const char *refresh);

#endif
