#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec.h"

#ifndef FA_BINDIR
#define FA_BINDIR "/usr/local/bin"
#endif

static int
put(char *buf, size_t size, const char *dir, const char *sub,
    const char *name)
{
	int n = snprintf(buf, size, "%s%s/%s", dir, sub, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int
fa_sibling(const char *name, char *buf, size_t size)
{
	const char *dir = getenv("FA_BINDIR");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (dir != NULL && *dir != '\0')
		return put(buf, size, dir, "", name);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if (put(buf, size, self, "", name) == 0 &&
			    access(buf, X_OK) == 0)
				return 0;
			if (put(buf, size, self, "/../bin", name) == 0 &&
			    access(buf, X_OK) == 0)
				return 0;
		}
	}
	return put(buf, size, FA_BINDIR, "", name);
}

void
fa_minenv(char **env, size_t max)
{
	static const char *const keep[] = { "PATH=", "HOME=", "LANG=",
	    "LC_ALL=", "TZ=", "USER=", "LOGNAME=", "FA_CONFIG=", "FA_BINDIR=",
	    "ASAN_OPTIONS=", "LSAN_OPTIONS=", "UBSAN_OPTIONS=" };
	extern char **environ;
	size_t i, k, n = 0;

	for (i = 0; environ[i] != NULL && n < max - 1; i++) {
		for (k = 0; k < sizeof(keep) / sizeof(keep[0]) &&
		    strncmp(environ[i], keep[k], strlen(keep[k])) != 0; k++)
			;
		if (k < sizeof(keep) / sizeof(keep[0]))
			env[n++] = environ[i];
	}
	env[n] = NULL;
}

pid_t
fa_spawn(char *const argv[], int in, int out, int err, pid_t pgid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char prog[PATH_MAX], *env[16];
	pid_t pid;
	int e;

	if (fa_sibling(argv[0], prog, sizeof(prog)) == -1)
		return -1;
	fa_minenv(env, sizeof(env) / sizeof(env[0]));
	posix_spawn_file_actions_init(&fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		    O_RDONLY, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
		    O_WRONLY, 0);
	if (err >= 0)
		posix_spawn_file_actions_adddup2(&fa, err, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	if (pgid >= 0) {
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
		posix_spawnattr_setpgroup(&at, pgid);
	}
	e = posix_spawn(&pid, prog, &fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return e == 0 ? pid : -1;
}
