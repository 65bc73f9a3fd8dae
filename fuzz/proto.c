/* fuzz/proto: a request line on the keeper's socket (fa_req_parse,
 * lib/proto.c), from any peer. Checks that what it accepts is a valid
 * verb name, a request id of 32 hex digits or none, and an argument
 * object; that what it refuses is status 65; and that the message of a
 * refusal never quotes the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "diag.h"
#include "proto.h"
#include "secmem.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (fa_secure_init() == -1)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fa_req rq;
	size_t n;

	if (fa_req_parse((const char *)data, size, &rq) == -1) {
		if (fa_errstatus() != 65 || rq.args != NULL)
			abort();
		/* Messages are fixed text and numbers only. */
		if (strpbrk(fa_errmsg(), "{}\"\\") != NULL)
			abort();
		return 0;
	}
	n = strlen(rq.verb);
	if (n == 0 || n >= FA_VERBLEN ||
	    strspn(rq.verb, "abcdefghijklmnopqrstuvwxyz._") != n)
		abort();
	if (rq.id[0] != '\0' && (strlen(rq.id) != FA_REQIDLEN ||
	    strspn(rq.id, "0123456789abcdef") != FA_REQIDLEN))
		abort();
	if (!json_is_object(rq.args) || size >= FA_REQMAX)
		abort();
	fa_req_free(&rq);
	return 0;
}
