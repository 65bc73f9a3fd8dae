/* fuzz/seal: sealed records (lib/seal.c) and the token record header
 * (fa_tokhdr_decode, lib/vault.c), read from vault files anyone with
 * write access to the disk could have changed. The input is opened as a
 * record (it must not open unless sealed by us, and never crash), then
 * sealed and opened again (it must come back). The same for a message
 * between the sites of a replication group (fa_seal_msg): one with a
 * flipped bit, or a record, never opens as one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seal.h"
#include "secmem.h"
#include "vault.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct fa_key *keys;	/* [0] another key, [1] the one that seals */

/* A key from 32 fixed bytes, through a key file as fa-vault loads it. */
static void
loadkey(struct fa_key *k, unsigned char first)
{
	unsigned char raw[32];
	char path[] = "/tmp/fa-fuzz-key.XXXXXX";
	int fd, i;

	for (i = 0; i < 32; i++)
		raw[i] = (unsigned char)(first + i);
	if ((fd = mkstemp(path)) == -1 || write(fd, raw, 32) != 32 ||
	    close(fd) == -1 || fa_key_load(k, path) == -1) {
		fprintf(stderr, "fuzz/seal: key: %s\n", path);
		abort();
	}
	unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (fa_secure_init() == -1 ||
	    (keys = fa_secalloc(2 * sizeof(*keys))) == NULL)
		abort();
	loadkey(&keys[0], 0x80);
	loadkey(&keys[1], 0);
	return 0;
}

static void
tokhdr(const uint8_t *data, size_t size)
{
	struct fa_tokhdr h;
	unsigned char *in, out[FA_TOKHDRLEN];

	if (size < FA_TOKHDRLEN)
		return;
	/* Exactly the header: decode must read no further. */
	if ((in = malloc(FA_TOKHDRLEN)) == NULL)
		return;
	memcpy(in, data, FA_TOKHDRLEN);
	fa_tokhdr_decode(in, &h);
	fa_tokhdr_encode(out, &h);
	if (memcmp(in, out, FA_TOKHDRLEN) != 0)
		abort();
	free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *bindings[] = { "b1", "b2", "", "x", NULL };
	char longid[300];
	const char *binding;
	unsigned char *in, *pt, *sealed;
	size_t ptlen, n;
	int ok;

	/* The input as a record: as fa_tokens_get calls fa_open. */
	if ((in = malloc(size)) == NULL && size > 0)
		return 0;
	if (size > 0)
		memcpy(in, data, size);
	if ((pt = malloc(size)) == NULL && size > 0)
		abort();
	ok = fa_open(keys, 2, "b1", 1, in, size, pt, &ptlen) == 0;
	if (ok && (ptlen > size ||
	    fa_open(keys, 2, "b1", 2, in, size, pt, &ptlen) == 0 ||
	    fa_open(keys, 2, "b2", 1, in, size, pt, &ptlen) == 0))
		abort();
	(void)fa_sealed_keyid(in, size);
	free(pt);
	free(in);
	tokhdr(data, size);

	/* Round trip: first byte the binding and version, rest the text. */
	if (size < 1)
		return 0;
	if ((binding = bindings[data[0] % 5]) == NULL) {
		memset(longid, 'b', sizeof(longid) - 1);
		longid[255 + data[0] % 2] = '\0';	/* 255: ok, 256: too long */
		binding = longid;
	}
	n = size - 1;
	if ((sealed = malloc(FA_SEALLEN(n))) == NULL ||
	    (pt = malloc(FA_SEALLEN(n))) == NULL)
		abort();
	if (fa_seal(&keys[1], binding, data[0], data + 1, n, sealed) == 0) {
		if (strlen(binding) >= 256)
			abort();
		if (fa_open(keys, 2, binding, data[0], sealed, FA_SEALLEN(n),
		    pt, &ptlen) != 0 || ptlen != n ||
		    (n > 0 && memcmp(pt, data + 1, n) != 0))
			abort();
		/* One bit flipped anywhere: it must not open. */
		sealed[data[0] * 7 % FA_SEALLEN(n)] ^= 1 << (data[0] % 8);
		if (fa_open(keys, 2, binding, data[0], sealed, FA_SEALLEN(n),
		    pt, &ptlen) == 0)
			abort();
	} else if (strlen(binding) < 256)
		abort();
	/* The input as a message between sites, then sealed as one. */
	if (fa_open_msg(keys, 2, data, size, pt, &ptlen) == 0)
		abort();
	{
		unsigned char *m = malloc(FA_SEALLEN(size)), *q;

		if (m == NULL || (q = malloc(FA_SEALLEN(size))) == NULL ||
		    fa_seal_msg(&keys[1], data, size, m) != 0 ||
		    fa_open_msg(keys, 2, m, FA_SEALLEN(size), q, &ptlen) != 0 ||
		    ptlen != size || memcmp(q, data, size) != 0 ||
		    fa_open(keys, 2, "b1", 0, m, FA_SEALLEN(size), q,
		    &ptlen) == 0)
			abort();
		m[data[0] * 13 % FA_SEALLEN(size)] ^= 1 << (data[0] % 8);
		if (fa_open_msg(keys, 2, m, FA_SEALLEN(size), q, &ptlen) == 0)
			abort();
		free(q);
		free(m);
	}
	free(pt);
	free(sealed);
	return 0;
}
