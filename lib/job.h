/* job.h: the jobs the keeper runs for a client that may not run them
 * itself (fa-vaultd(8), JOBS). The keeper holds the client secrets; the
 * dashboard's user and a worker do not. So the dashboard asks it to
 * finish a connect, fetch reference data or disconnect, and a worker to
 * refresh, sweep, prefetch or disconnect; the keeper runs our program
 * for it, as its own user. The keeper itself never talks to FreeAgent:
 * its jobs do. */
#ifndef FA_JOB_H
#define FA_JOB_H

#include <pthread.h>

#include "vault.h"
#include "verb.h"

/* The verb job.run: {"job", "binding", "tenant", "force", "secs",
 * "query", "wait"} -> {"exit": the job's status, "stderr": [its lines]}.
 * The binding is checked (a dashboard's must be its tenant's) and the
 * ask audited, under lock held for reading; the job itself runs with no
 * lock and no transaction, for its programs ask the keeper in turn.
 * "wait": false answers once the job started. confpath is the keeper's
 * config; its programs get it with -c. */
int	 fa_job(struct fa_vault *, pthread_rwlock_t *lock, const char *confpath,
	    struct fa_call *);
/* Where the lines of a job nobody waits for go (the keeper's log). */
extern void	(*fa_job_log)(const char *line);

#endif
