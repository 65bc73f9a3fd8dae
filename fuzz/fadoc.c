/* fuzz/fadoc: FreeAgent's API documents as fa-prefetch reads them
 * (fa_page, fa_refcache in lib/oauth.c). The input is one page read
 * three ways, as the company, the income categories and the bank
 * accounts, and the cache built from what they gave. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oauth.h"
#include "secmem.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return fa_secure_init() == -1 ? (abort(), 1) : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *co = NULL, *cats = json_array(), *banks = json_array(), *c;
	char *body, *s;
	int i;

	/* As lib/http.c leaves it: NUL-terminated, len without the NUL. */
	if ((body = fa_secalloc(size + 1)) == NULL)
		abort();
	memcpy(body, data, size);
	/* The company page twice: the second replaces the first. */
	for (i = 0; i < 2; i++)
		(void)fa_page(body, size, NULL, NULL, &co);
	/* Pages append: twice gives every object twice. */
	for (i = 0; i < 2; i++) {
		(void)fa_page(body, size, "income_categories", cats, NULL);
		(void)fa_page(body, size, "bank_accounts", banks, NULL);
	}
	c = fa_refcache("b1", 1700000000, co, cats, banks);
	if (c != NULL) {
		if (json_array_size(json_object_get(c, "bank_accounts")) !=
		    json_array_size(banks) ||
		    json_array_size(json_object_get(c, "payment_targets")) >
		    json_array_size(banks) ||
		    json_array_size(json_object_get(c, "income_categories")) !=
		    json_array_size(cats))
			abort();
		/* What fa-prefetch prints and the vault stores. */
		if ((s = json_dumps(c, JSON_COMPACT)) == NULL)
			abort();
		fa_jsonfree(s);
	}
	json_decref(c);
	json_decref(co);
	json_decref(cats);
	json_decref(banks);
	fa_secfree(body);
	return 0;
}
