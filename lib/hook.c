#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include "exec.h"
#include "hook.h"

int
fa_status_hook(const struct fa_conf *c, const char *binding,
    const char *status)
{
	posix_spawn_file_actions_t fa;
	struct timespec ts = { 0, 50000000L };
	char *argv[4], *env[16];
	pid_t pid;
	int st, e, waited;

	if (c->status_hook[0] == '\0')
		return 0;
	argv[0] = (char *)c->status_hook;
	argv[1] = (char *)binding;
	argv[2] = (char *)status;
	argv[3] = NULL;
	fa_minenv(env, sizeof(env) / sizeof(env[0]));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	/* Not the keeper's sockets, files or lock: a hook that outlives
	 * the keeper must not hold a client's connection open or keep the
	 * next keeper from starting. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	e = posix_spawn(&pid, c->status_hook, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0)
		return fa_seterr(1, "status_hook %s: %s", c->status_hook,
		    strerror(e));
	/* Bounded: a hook that hangs must not hold a keeper thread. */
	st = 0;
	for (waited = 0; (e = waitpid(pid, &st, WNOHANG)) == 0; waited++) {
		if (waited == 600) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return fa_seterr(1, "status_hook %s: killed after 30 s",
			    c->status_hook);
		}
		nanosleep(&ts, NULL);
	}
	if (e == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fa_seterr(1, "status_hook %s %s %s failed",
		    c->status_hook, binding, status);
	return 0;
}
