/* vaultc.h: a client of the keeper, fa-vaultd(8). One connection a
 * process, made on the first request; a keeper that is not running is
 * started (when this process may: root, or the owner of vault_dir).
 * Requests and answers are proto.h's; tokens in answers live in memory
 * that is wiped when freed (fa_secure_init's jansson allocator). */
#ifndef FA_VAULTC_H
#define FA_VAULTC_H

#include <jansson.h>

#include "conf.h"

/* Asks the keeper: verb with args (an object, or NULL for none; not
 * consumed). Returns 0 and the answer's "a" in *ans (the caller
 * json_decref()s it); or -1 with the answer's status and message set
 * (fa_errstatus, fa_errmsg) and *ans still the answer's "a" (maybe
 * empty), or NULL when no keeper answered (75). A request cut off is
 * sent again once, with the same request id: the keeper applies a write
 * at most once. */
int	 fa_ask(const struct fa_conf *, const char *verb, json_t *args,
	    json_t **ans);
/* The same, but a request that no keeper answers is sent again, keeper
 * after keeper, for up to `secs` seconds: a write that must not be lost
 * (fa-refresh's rotated tokens). */
int	 fa_ask_until(const struct fa_conf *, const char *verb, json_t *args,
	    json_t **ans, int secs);
/* 1 when this process runs as the vault's owner, the user that holds
 * the client secrets (or when there is no vault yet to say); 0 when it
 * must ask the keeper to run what needs them (fa_delegate). */
int	 fa_holder(const struct fa_conf *);
/* Has the keeper run a job for us (job.run, lib/job.h: args name it):
 * the job's stderr lines go to ours. Returns its exit status, or -1
 * with the error set when it did not run. */
int	 fa_delegate(const struct fa_conf *, json_t *args);
/* Closes the connection (a keeper forgets nothing a client did not
 * finish; this only saves it the wait). */
void	 fa_vaultc_close(void);

/* oauth.h's gate, asking the keeper: verbs rate.ip, client.known,
 * client.worked (lib/v_token.c). */
struct fa_gate;
extern const struct fa_gate fa_gate_vault;

#endif
