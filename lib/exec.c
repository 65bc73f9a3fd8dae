#include <limits.h>
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
