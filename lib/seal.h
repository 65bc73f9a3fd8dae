/* seal.h: sealed records. AES-256-GCM (libsodium), a fresh random nonce
 * per seal, and associated data binding id || record version || key id,
 * so a sealed record opens only where and as what it was written.
 * Layout: "FA" 1 | key id (8) | nonce (12) | ciphertext | tag (16). */
#ifndef FA_SEAL_H
#define FA_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define FA_KEYIDLEN	8
#define FA_SEALHDR	(3 + FA_KEYIDLEN + 12)
#define FA_SEALLEN(n)	(FA_SEALHDR + (n) + 16)

/* Subkeys of a master key, each for one use; the file's bytes are
 * never used directly. */
struct fa_key {
	unsigned char	k[32];		/* seals token records */
	unsigned char	id[FA_KEYIDLEN];	/* names the key in each record */
	unsigned char	csrf[32];	/* the dashboard's anti-CSRF tokens */
	unsigned char	clnt[32];	/* the names of known-good clients */
	unsigned char	repl[32];	/* messages between a group's sites */
	unsigned char	audit[32];	/* the audit log's chain (vault.c) */
};

/* Loads a master key file into k (secure memory supplied by caller). */
int	 fa_key_load(struct fa_key *k, const char *path);
int	 fa_seal(const struct fa_key *, const char *binding, uint64_t version,
	    const unsigned char *pt, size_t ptlen, unsigned char *out);
/* pt must hold inlen bytes. Fails (status 1) on any mismatch: wrong
 * binding, version or key, or a single flipped bit. */
int	 fa_open(const struct fa_key *keys, int nkeys, const char *binding,
	    uint64_t version, const unsigned char *in, size_t inlen,
	    unsigned char *pt, size_t *ptlen);
/* A message between the sites of a replication group (every site holds
 * the same master key): sealed as a record is, with the subkey repl and
 * a binding name no record has. out: FA_SEALLEN(ptlen) bytes. */
int	 fa_seal_msg(const struct fa_key *, const unsigned char *pt,
	    size_t ptlen, unsigned char *out);
int	 fa_open_msg(const struct fa_key *keys, int nkeys,
	    const unsigned char *in, size_t inlen, unsigned char *pt,
	    size_t *ptlen);
/* The key id a sealed record names, or NULL if it is not one. */
const unsigned char *fa_sealed_keyid(const unsigned char *in, size_t inlen);
void	 fa_keyid_hex(const unsigned char id[FA_KEYIDLEN], char out[17]);

#endif
