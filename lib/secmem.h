/* secmem.h: process hardening and memory that holds secrets.
 * fa_secure_init() must run first in every command: it initialises
 * libsodium, turns core dumps off, and makes every jansson allocation
 * wiped on free (token bundles pass through jansson). */
#ifndef FA_SECMEM_H
#define FA_SECMEM_H

#include <stddef.h>

#define FA_KEYLEN	32

int	 fa_secure_init(void);
void	*fa_secalloc(size_t);		/* locked, guarded, zeroed; NULL on failure */
void	 fa_secfree(void *);		/* wipes, gives back */
int	 fa_readkey(const char *path, unsigned char key[FA_KEYLEN]);
int	 fa_writekey(const char *path);
/* Syncs the directory of file: a rename(2) in it is durable only then. */
int	 fa_syncdir(const char *file);
/* Reads a whole small secret file (client secret) into secure memory,
 * trailing newline removed; the file must not be group/world readable. */
char	*fa_readsecret(const char *path);
/* Frees what jansson allocated (json_dumps output): wiped. */
void	 fa_jsonfree(void *);

#endif
