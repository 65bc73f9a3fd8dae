/* vault.h: the Berkeley DB environment in vault_dir and its databases.
 * Every operation runs inside fa_vault_txn(), which retries deadlocks,
 * clears the locks of dead processes (failchk) and reopens the
 * environment when Berkeley DB asks for recovery. */
#ifndef FA_VAULT_H
#define FA_VAULT_H

#include <stdint.h>

#include <db.h>
#include <jansson.h>

#include "conf.h"
#include "seal.h"

#define FA_TOKLEN	4096	/* longest token we accept */

/* FA_VAULT_CHECKPOINT: checkpoint on close (the cron sweep, fa-vault);
 * not the per-request commands, whom a checkpoint can stall for a
 * second while another process holds a page. FA_VAULT_TOKENS: open only
 * what a token's life uses (meta, bindings, tokens, audit and their
 * indexes; the others stay NULL): fa-refresh, whose fresh-token path
 * opening three databases it never reads cost it 5 % (BENCH.md). */
enum { FA_VAULT_CREATE = 1, FA_VAULT_CHECKPOINT = 2, FA_VAULT_TOKENS = 4 };

struct fa_vault {
	const struct fa_conf *conf;
	DB_ENV	*env;
	DB	*meta;		/* schema, pending rekey */
	DB	*tenants;	/* tenant name -> JSON */
	DB	*bindings;	/* binding id -> JSON */
	DB	*bytenant;	/* secondary: tenant -> binding ids */
	DB	*tokens;	/* binding id -> header + sealed tokens */
	DB	*due;		/* secondary: due time (BE) -> binding ids */
	DB	*states;	/* sha256(state) -> JSON */
	DB	*cache;		/* binding id -> reference data JSON */
	DB	*audit;		/* recno -> JSON */
	DB	*auditidx;	/* secondary: binding -> audit recnos */
	struct fa_key *keys;	/* keys[0] seals; all open */
	int	 nkeys;
	int	 flags;
	int	 envok;		/* the environment opened */
};

/* Plaintext of a sealed token record; lives in secure memory. */
struct fa_tokens {
	int64_t	expires_at;
	int64_t	refresh_expires_at;
	char	access[FA_TOKLEN];
	char	refresh[FA_TOKLEN];
};

/* The plaintext header of a token record, in front of the sealed part. */
struct fa_tokhdr {
	uint64_t version;
	int64_t	 expires_at;
	int64_t	 refresh_expires_at;
	int64_t	 due_at;		/* the key of the due index */
};
#define FA_TOKHDRLEN	32

typedef int (*fa_txnfn)(struct fa_vault *, DB_TXN *, void *);

int	 fa_vault_open(struct fa_vault *, const struct fa_conf *, int flags);
void	 fa_vault_close(struct fa_vault *);
/* fn returns 0, -1 (error set by fa_seterr: abort, no retry) or a
 * Berkeley DB error (deadlock: retried; anything else: reported). */
int	 fa_vault_txn(struct fa_vault *, fa_txnfn, void *);
int	 fa_vault_loadkeys(struct fa_vault *, const char *extra);
/* Long scans call this now and then: progress, so not stuck. */
void	 fa_vault_progress(struct fa_vault *);

/* Inside a transaction. Return 0, DB_NOTFOUND, -1 or a DB error. */
int	 fa_getjson(DB *, DB_TXN *, const char *key, json_t **, uint32_t flags);
int	 fa_putjson(DB *, DB_TXN *, const char *key, json_t *);
int	 fa_del(DB *, DB_TXN *, const char *key);
int	 fa_audit(struct fa_vault *, DB_TXN *, const char *binding,
	    const char *tenant, const char *event, const char *outcome,
	    const char *fmt, ...) __attribute__((format(printf, 7, 8)));
int	 fa_tokens_put(struct fa_vault *, DB_TXN *, const char *binding,
	    uint64_t version, const struct fa_tokens *);
int	 fa_tokens_get(struct fa_vault *, DB_TXN *, const char *binding,
	    uint64_t version, struct fa_tokens *, struct fa_tokhdr *);
int	 fa_tokhdr_get(DB *, DB_TXN *, const char *binding, struct fa_tokhdr *,
	    void **rec, size_t *reclen);
void	 fa_tokhdr_decode(const unsigned char *, struct fa_tokhdr *);
void	 fa_tokhdr_encode(unsigned char *, const struct fa_tokhdr *);
/* The endpoint a binding connects through: its own, its tenant's (t may
 * be NULL), or the configured default. */
const char *fa_binding_endpoint(const struct fa_conf *, json_t *b, json_t *t);
int64_t	 fa_due_at(int64_t expires_at, int64_t refresh_expires_at);
int64_t	 fa_now(void);
/* Rewrites only the due time of a binding's token record; INT64_MAX
 * takes it out of the due index. */
int	 fa_tokens_setdue(struct fa_vault *, DB_TXN *, const char *binding,
	    int64_t due);
/* The vault remembers, per endpoint, the last time a client (named by
 * fa_client_hash) got tokens: a client that worked in the last day is
 * known good, so a 401 is about the grant, not the client. Both run
 * their own transaction and never fail the caller. */
int	 fa_client_known(struct fa_vault *, const char *endpoint,
	    const char *client);
void	 fa_client_worked(struct fa_vault *, const char *endpoint,
	    const char *client);
/* Takes one request from each of n shared per-minute limits (keys in
 * meta, e.g. "rate:ip"), all or none. *wait > 0: refused, seconds until
 * there is room. */
int	 fa_rate_take(struct fa_vault *, DB_TXN *, const char **keys,
	    const long *limits, int n, int64_t *wait);
/* One request counted against ip_per_minute alone (an exchange, a
 * probe, a revocation), in a transaction of its own: 0, or -1 (75 when
 * the minute is full: the message says how long to wait). maywait: a
 * full minute is waited out once (it ends within 60 s). */
int	 fa_rate_ip(struct fa_vault *, int maywait);
/* FreeAgent said wait (429, Retry-After): no request is taken from key
 * for secs seconds (at most FA_HOLD_MAX); a longer hold stands. */
#define FA_HOLD_MAX	3600
int	 fa_rate_hold(struct fa_vault *, DB_TXN *, const char *key,
	    int64_t secs);
/* Calls fn for every binding of a tenant, through the tenant index; a
 * non-zero return from fn stops the walk and is returned. */
int	 fa_each_binding(struct fa_vault *, DB_TXN *, const char *tenant,
	    int (*fn)(json_t *, void *), void *arg);
int	 fa_due_list(struct fa_vault *, DB_TXN *, int64_t until,
	    char (*ids)[65], int max, int *n);

#endif
