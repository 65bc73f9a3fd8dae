/* vault.h: the Berkeley DB environment in vault_dir and its databases,
 * for the one process that owns them: fa-vaultd(8), or a tool that
 * holds the vault's lock instead (tests, bench). Opening takes an
 * exclusive flock(2) on VAULT_DIR/lock and recovers; threads share the
 * handles; every operation runs inside fa_vault_txn(), which retries a
 * transaction chosen to break a deadlock. */
#ifndef FA_VAULT_H
#define FA_VAULT_H

#include <pthread.h>
#include <stdint.h>

#include <db.h>
#include <jansson.h>

#include "conf.h"
#include "proto.h"
#include "seal.h"

/* FA_VAULT_CREATE: make vault_dir and the databases (fa-vault init). */
enum { FA_VAULT_CREATE = 1 };

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
	DB	*reqs;		/* request id -> kept answer of a write */
	struct fa_key *keys;	/* keys[0] seals; all open */
	int	 nkeys;
	int	 flags;
	int	 lockfd;	/* flock(2) on VAULT_DIR/lock */
	/* Set by a keeper that stops, holding its lock to write: no
	 * transaction starts after it, so the environment can close
	 * while replication's threads still deliver requests. */
	int	 stopping;
	int64_t	 started;	/* when it opened (fa_now) */
	/* Replication (repl.* in fa.conf): the events keep these. */
	int	 repl;		/* this vault is a site of a group */
	volatile int master;	/* this site is the master */
	volatile int ready;	/* a master, or a replica that caught up */
	volatile int mastereid;	/* DB_EID_INVALID: none known */
	/* A replica's handles die when its copy is rolled back to its new
	 * master's: every transaction holds this to read, and the first to
	 * see them dead opens them again, holding it to write. */
	pthread_rwlock_t hlock;
	unsigned hgen;		/* handles opened so many times */
};

/* The keeper's handler of requests forwarded to the master by a
 * replica (repmgr message channels): it answers on the channel. */
extern void	(*fa_vault_dispatch)(DB_ENV *, DB_CHANNEL *, DBT *, u_int32_t,
		    u_int32_t);
/* Set in this thread when its last commit did not reach a quorum of
 * the group: committed here, not yet acknowledged. */
extern __thread int fa_vault_permfailed;
/* The Berkeley DB error of this thread's last failed transaction. */
extern __thread int fa_vault_dberr;

/* The plaintext header of a token record, in front of the sealed part. */
struct fa_tokhdr {
	uint64_t version;
	int64_t	 expires_at;
	int64_t	 refresh_expires_at;
	int64_t	 due_at;		/* the key of the due index */
};
#define FA_TOKHDRLEN	32

typedef int (*fa_txnfn)(struct fa_vault *, DB_TXN *, void *);

/* 0; or -1: 75 when another process holds the vault (a keeper runs),
 * 78 when there is no vault or no key. */
int	 fa_vault_open(struct fa_vault *, const struct fa_conf *, int flags);
void	 fa_vault_close(struct fa_vault *);
/* fn returns 0, -1 (error set by fa_seterr: abort, no retry) or a
 * Berkeley DB error (deadlock: retried; anything else: reported). */
int	 fa_vault_txn(struct fa_vault *, fa_txnfn, void *);
int	 fa_vault_loadkeys(struct fa_vault *, const char *extra);
/* A hot backup into dir (absolute; it must not exist), recovered, so
 * that a keeper starts from a copy of it as from its own vault_dir. */
int	 fa_vault_backup(struct fa_vault *, const char *dir);
/* Writes what the cache holds and removes logs no longer needed. */
void	 fa_vault_checkpoint(struct fa_vault *);
/* Set once an fsync of the vault failed (fa-vaultd(8)): nothing after
 * it can be trusted to be on disk, so no write may be acknowledged. */
extern volatile int fa_vault_syncfailed;
extern const char *volatile fa_vault_fatal;	/* why, when set */

/* Inside a transaction. Return 0, DB_NOTFOUND, -1 or a DB error. */
int	 fa_getjson(DB *, DB_TXN *, const char *key, json_t **, uint32_t flags);
int	 fa_putjson(DB *, DB_TXN *, const char *key, json_t *);
int	 fa_puttext(DB *, DB_TXN *, const char *key, const char *, size_t);
int	 fa_del(DB *, DB_TXN *, const char *key);
/* An audit record; it names fa_audit_uid, this thread's peer (the
 * keeper sets it for the request it serves), when that is not -1. */
extern __thread long fa_audit_uid;
int	 fa_audit(struct fa_vault *, DB_TXN *, const char *binding,
	    const char *tenant, const char *event, const char *outcome,
	    const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* The audit chain (fa-vault log --verify): a record's "mac" is the
 * HMAC-SHA256, under the audit subkey of the key "k" names, of the
 * "mac" of its chain's record before it ("" for the first), a newline,
 * and the record without "mac", compact, keys sorted. A chain is a
 * binding's records; the records of no binding make one more. */
void	 fa_audit_mac(const struct fa_key *, const char *prev, json_t *rec,
	    char out[65]);
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
/* Rewrites only the due time of a binding's token record; INT64_MAX
 * takes it out of the due index. */
int	 fa_tokens_setdue(struct fa_vault *, DB_TXN *, const char *binding,
	    int64_t due);
/* The vault remembers, per endpoint, the last time a client (named by
 * a hash of its id and secret, keyed here) got tokens: a client that
 * worked in the last day is known good, so a 401 is about the grant,
 * not the client. */
int	 fa_client_known(struct fa_vault *, DB_TXN *, const char *endpoint,
	    const char *clienthash, int *known);
int	 fa_client_worked(struct fa_vault *, DB_TXN *, const char *endpoint,
	    const char *clienthash);
/* Takes one request from each of n shared per-minute limits (keys in
 * meta, e.g. "rate:ip"), all or none. *wait > 0: refused, seconds until
 * there is room. */
int	 fa_rate_take(struct fa_vault *, DB_TXN *, const char **keys,
	    const long *limits, int n, int64_t *wait);
/* One request counted against ip_per_minute alone. */
int	 fa_rate_ip(struct fa_vault *, DB_TXN *, int64_t *wait);
/* FreeAgent said wait (429, Retry-After): no request is taken from key
 * for secs seconds (at most FA_HOLD_MAX); a longer hold stands. */
#define FA_HOLD_MAX	3600
int	 fa_rate_hold(struct fa_vault *, DB_TXN *, const char *key,
	    int64_t secs);
/* Calls fn for every binding of a tenant, through the tenant index; a
 * non-zero return from fn stops the walk and is returned. */
int	 fa_each_binding(struct fa_vault *, DB_TXN *, const char *tenant,
	    int (*fn)(json_t *, void *), void *arg);
/* Calls fn with every audit record (JSON text, len bytes) of a binding,
 * oldest first, through the audit index; binding NULL: every record. */
int	 fa_each_audit(struct fa_vault *, DB_TXN *, const char *binding,
	    int (*fn)(const char *, size_t, void *), void *arg);
/* The same for one binding, newest first; fn returns DB_NOTFOUND to
 * stop there. */
int	 fa_each_audit_back(struct fa_vault *, DB_TXN *, const char *binding,
	    int (*fn)(const char *, size_t, void *), void *arg);
/* Binding ids whose due time is at most `until`, in due order; with
 * ids NULL, only how many. */
int	 fa_due_list(struct fa_vault *, DB_TXN *, int64_t until,
	    char (*ids)[65], int max, int *n);

#endif
