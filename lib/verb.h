/* verb.h: the keeper's verbs, each one transaction (fa-vaultd(8)).
 * A verb reads its arguments from call->in and builds its answer in
 * call->out. It returns 0 to commit, or -1 (fa_seterr: status and
 * message) or a Berkeley DB error to abort; a deadlock retries the
 * whole verb, so a verb starts from call->in every time and keeps no
 * state of its own (call->out and the hooks are cleared first).
 * fa_fail() reports a failure whose writes still commit (an audit
 * record of a refusal, a lease released). */
#ifndef FA_VERB_H
#define FA_VERB_H

#include <sys/types.h>

#include <jansson.h>

#include "proto.h"
#include "vault.h"

#define FA_MAXHOOKS	8

struct fa_call {
	json_t		*in;		/* the arguments: an object */
	json_t		*out;		/* the answer's "a" */
	uid_t		 uid;		/* the peer (SO_PEERCRED) */
	pid_t		 pid;
	int		 role;		/* its roles: FA_ADMIN ... */
	const char	*site;		/* "" here; else the replica (repl.local)
					 * that forwarded the request */
	int		 status;	/* fa_fail: the answer's status */
	char		 msg[512];
	int		 nhooks;	/* status changes: run after commit */
	char		 hook[FA_MAXHOOKS][2][65];
};

enum {
	FA_W = 1,	/* a write: its request id and answer are kept, so a
			 * retry is applied once; its answer holds no secret */
	FA_NOTXN = 2,	/* runs its own transactions (fa_vault_txn), t NULL */
	FA_EXCL = 4,	/* runs with no other request in flight (rekey:
			 * it changes the keys every verb uses) */
	FA_JOB = 8,	/* job.run (job.h): no lock, no transaction */
	/* Who may ask, besides admin (conf.h's roles, shifted): */
	FA_BYWORKER = FA_WORKER << 4,
	FA_BYDASH = FA_DASHBOARD << 4	/* always for a tenant: "tenant"
					 * is required, and the verb scopes
					 * what it reads and writes to it */
};

struct fa_verb {
	const char	*name;
	int		(*fn)(struct fa_vault *, DB_TXN *, struct fa_call *);
	int		 flags;
};

/* The tables, each ended by a NULL name: lib/v_*.c. */
extern const struct fa_verb fa_verbs_vault[];	/* v_vault.c: fa-vault */
extern const struct fa_verb fa_verbs_token[];	/* v_token.c: refresh, prefetch */
extern const struct fa_verb fa_verbs_connect[];	/* v_connect.c: authurl,
						 * exchange, revoke, dashboard */
extern const struct fa_verb fa_verbs_metrics[];	/* v_metrics.c */

/* Commits, and answers status with message. Returns 0. */
int	 fa_fail(struct fa_call *, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* The status hook, after commit: "HOOK binding status". */
void	 fa_hook_later(struct fa_call *, const char *binding,
	    const char *status);

/* Arguments are untrusted: each is checked whole, or the verb fails
 * with 65. Absent or null: need ? an error : *out NULL (ints: def). */
int	 fa_arg_str(json_t *in, const char *key, size_t max, int need,
	    const char **out);
/* A tenant or binding name (fa_validid). */
int	 fa_arg_id(json_t *in, const char *key, int need, const char **out);
int	 fa_arg_int(json_t *in, const char *key, int64_t min, int64_t max,
	    int64_t def, int64_t *out);

/* The rules, one function each (lib/rules.c). */

/* Binding id's record into *b (json_decref it): 0; DB errors as
 * returned; -1 (66, "no binding ID") when there is none, or when tenant
 * is not NULL and the binding is another tenant's. */
int	 fa_binding_get(struct fa_vault *, DB_TXN *, const char *id,
	    const char *tenant, json_t **b, uint32_t flags);
/* Changes a binding's status in b (not yet written: the caller puts
 * it), with its audit record and, after commit, the status hook. */
int	 fa_status_set(struct fa_vault *, DB_TXN *, struct fa_call *,
	    const char *id, json_t *b, const char *status, const char *event,
	    const char *outcome, const char *detail);
/* The next token record version of b (set in b), for fa_tokens_put. */
uint64_t fa_tokver_bump(json_t *b);

/* The tenant record t's plan: NULL (no limits) when it has none and
 * default_plan is not defined; an error when its plan is not. */
int	 fa_planof(const struct fa_conf *, json_t *t, const struct fa_plan **);
/* What counts against a plan, one binding at a time (fa_each_binding):
 * bindings not disconnected, and the companies of those connected or
 * once connected. */
struct fa_count {
	const char	*skip;		/* binding not to count */
	long		 bindings;
	json_t		*companies;	/* id -> name; the caller's object */
};
int	 fa_count_one(json_t *b, void *count);
/* The kept counts the metrics read (v_metrics.c), changed in the
 * transactions that change what they count, so they survive restarts
 * and replicate: meta "count:NAME" (refreshes, probes by outcome) and
 * "census:STATUS\tENDPOINT" (bindings), and the index "ix:cache:AT:ID"
 * (the connected bindings' reference data by its age). Every write of
 * a binding goes through fa_binding_put, every removal fa_binding_del,
 * which keep the census and the index. The meta pages these live on
 * are written by each audited transaction already (its chain's mac). */
int	 fa_count_add(struct fa_vault *, DB_TXN *, const char *key, int64_t);
int	 fa_count_bump(struct fa_vault *, DB_TXN *, const char *name);
int	 fa_binding_put(struct fa_vault *, DB_TXN *, const char *id, json_t *b);
int	 fa_binding_del(struct fa_vault *, DB_TXN *, const char *id, json_t *b);
/* Counts and indexes all, from the bindings, once: a vault from before
 * the kept counts (no meta "census"); the keeper, at its start. */
int	 fa_census_build(struct fa_vault *);

#endif
