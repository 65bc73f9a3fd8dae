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
