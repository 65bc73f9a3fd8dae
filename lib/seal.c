#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "diag.h"
#include "secmem.h"
#include "seal.h"

#define NONCELEN crypto_aead_aes256gcm_NPUBBYTES

int
fa_key_load(struct fa_key *k, const char *path)
{
	unsigned char *master;
	int rv = 0;

	if (!crypto_aead_aes256gcm_is_available())
		return fa_seterr(1, "this CPU has no AES-NI; AES-256-GCM "
		    "sealing is unavailable");
	if ((master = fa_secalloc(FA_KEYLEN)) == NULL)
		return fa_seterr(1, "out of secure memory");
	if (fa_readkey(path, master) == -1)
		rv = -1;
	else {
		/* Never use the file's bytes directly: a subkey a use. */
		crypto_kdf_derive_from_key(k->k, sizeof(k->k), 1, "fa-seal_",
		    master);
		unsigned char id[32];
		crypto_kdf_derive_from_key(id, sizeof(id), 2, "fa-keyid",
		    master);
		memcpy(k->id, id, FA_KEYIDLEN);
		crypto_kdf_derive_from_key(k->csrf, sizeof(k->csrf), 3,
		    "fa-csrf_", master);
		crypto_kdf_derive_from_key(k->clnt, sizeof(k->clnt), 4,
		    "fa-clnt_", master);
		crypto_kdf_derive_from_key(k->repl, sizeof(k->repl), 5,
		    "fa-repl_", master);
		crypto_kdf_derive_from_key(k->audit, sizeof(k->audit), 6,
		    "fa-audit", master);
	}
	fa_secfree(master);
	return rv;
}

static void
mkad(unsigned char *ad, size_t *adlen, const char *binding, uint64_t version,
    const unsigned char *keyid)
{
	size_t n = strlen(binding) + 1;
	int i;

	memcpy(ad, binding, n);
	for (i = 0; i < 8; i++)
		ad[n + i] = (unsigned char)(version >> (56 - 8 * i));
	memcpy(ad + n + 8, keyid, FA_KEYIDLEN);
	*adlen = n + 8 + FA_KEYIDLEN;
}

#define MSGNAME	"\001fa-repl"	/* no binding's id: those are printable */

static int sealwith(const struct fa_key *, const unsigned char *,
    const char *, uint64_t, const unsigned char *, size_t, unsigned char *);
static int openwith(const struct fa_key *, int, size_t, const char *,
    uint64_t, const unsigned char *, size_t, unsigned char *, size_t *);

int
fa_seal(const struct fa_key *k, const char *binding, uint64_t version,
    const unsigned char *pt, size_t ptlen, unsigned char *out)
{
	return sealwith(k, k->k, binding, version, pt, ptlen, out);
}

int
fa_seal_msg(const struct fa_key *k, const unsigned char *pt, size_t ptlen,
    unsigned char *out)
{
	return sealwith(k, k->repl, MSGNAME, 0, pt, ptlen, out);
}

int
fa_open(const struct fa_key *keys, int nkeys, const char *binding,
    uint64_t version, const unsigned char *in, size_t inlen,
    unsigned char *pt, size_t *ptlen)
{
	return openwith(keys, nkeys, offsetof(struct fa_key, k), binding,
	    version, in, inlen, pt, ptlen);
}

int
fa_open_msg(const struct fa_key *keys, int nkeys, const unsigned char *in,
    size_t inlen, unsigned char *pt, size_t *ptlen)
{
	return openwith(keys, nkeys, offsetof(struct fa_key, repl), MSGNAME, 0,
	    in, inlen, pt, ptlen);
}

static int
sealwith(const struct fa_key *k, const unsigned char *key,
    const char *binding, uint64_t version, const unsigned char *pt,
    size_t ptlen, unsigned char *out)
{
	unsigned char ad[256 + 16];
	unsigned long long clen;
	size_t adlen;

	if (strlen(binding) >= 256)
		return fa_seterr(1, "binding id too long to seal");
	mkad(ad, &adlen, binding, version, k->id);
	out[0] = 'F';
	out[1] = 'A';
	out[2] = 1;
	memcpy(out + 3, k->id, FA_KEYIDLEN);
	randombytes_buf(out + 3 + FA_KEYIDLEN, NONCELEN);
	crypto_aead_aes256gcm_encrypt(out + FA_SEALHDR, &clen, pt, ptlen, ad,
	    adlen, NULL, out + 3 + FA_KEYIDLEN, key);
	return 0;
}

const unsigned char *
fa_sealed_keyid(const unsigned char *in, size_t inlen)
{
	if (inlen < FA_SEALLEN(0) || in[0] != 'F' || in[1] != 'A' || in[2] != 1)
		return NULL;
	return in + 3;
}

static int
openwith(const struct fa_key *keys, int nkeys, size_t field,
    const char *binding, uint64_t version, const unsigned char *in,
    size_t inlen, unsigned char *pt, size_t *ptlen)
{
	const unsigned char *id;
	unsigned char ad[256 + 16];
	unsigned long long n;
	size_t adlen;
	int i;

	if ((id = fa_sealed_keyid(in, inlen)) == NULL)
		return fa_seterr(1, "%s: sealed record is malformed", binding);
	for (i = 0; i < nkeys; i++)
		if (memcmp(keys[i].id, id, FA_KEYIDLEN) == 0)
			break;
	if (i == nkeys) {
		char hex[17];
		fa_keyid_hex(id, hex);
		return fa_seterr(1, "%s: sealed with key %s, which is not "
		    "loaded", binding, hex);
	}
	if (strlen(binding) >= 256)
		return fa_seterr(1, "binding id too long");
	mkad(ad, &adlen, binding, version, id);
	if (crypto_aead_aes256gcm_decrypt(pt, &n, NULL, in + FA_SEALHDR,
	    inlen - FA_SEALHDR, ad, adlen, in + 3 + FA_KEYIDLEN,
	    (const unsigned char *)&keys[i] + field) != 0)
		return fa_seterr(1, "%s: sealed record fails to open "
		    "(tampered, moved or replayed)", binding);
	*ptlen = n;
	return 0;
}

void
fa_keyid_hex(const unsigned char id[FA_KEYIDLEN], char out[17])
{
	sodium_bin2hex(out, 17, id, FA_KEYIDLEN);
}
