/* fuzz/bundle: the token bundle fa-vault store reads on its standard
 * input (fa_bundle, lib/oauth.c). Checks that what it accepts is what
 * fa-vault stores: a valid binding name, tokens copied whole and
 * printable, positive times, a normalised company; and that what it
 * refuses is status 65 with a message that quotes no token. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "diag.h"
#include "oauth.h"
#include "secmem.h"
#include "proto.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct fa_tokens *tok;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (fa_secure_init() == -1 || (tok = fa_secalloc(sizeof(*tok))) == NULL)
		abort();
	return 0;
}

/* Aborts if msg quotes a token string of the input (8 bytes or more;
 * not one that is also in the binding name, which messages may quote):
 * the message holds it, and changes when the token is replaced by
 * another of the same length (a token such as "expires_at" is in the
 * message by coincidence). */
static void
quoted(const uint8_t *data, size_t size, const char *msg)
{
	const char *k[] = { "access_token", "refresh_token" };
	char *q, *dump, *again;
	const char *s, *b;
	json_t *j, *c, *co;
	size_t i;

	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return;
	if ((b = json_string_value(json_object_get(j, "binding"))) == NULL)
		b = "";
	for (i = 0; i < 2; i++) {
		if ((s = json_string_value(json_object_get(j, k[i]))) == NULL ||
		    strlen(s) < 8 || strstr(b, s) != NULL ||
		    strstr(msg, s) == NULL)
			continue;
		if ((q = strdup(s)) == NULL || (c = json_deep_copy(j)) == NULL)
			abort();
		memset(q, s[0] == 'Q' ? 'R' : 'Q', strlen(q));
		json_object_set_new(c, k[i], json_string(q));
		if ((dump = json_dumps(c, JSON_COMPACT)) == NULL)
			abort();
		if ((again = strdup(msg)) == NULL)
			abort();
		memset(tok, 0, sizeof(*tok));
		if (fa_bundle(dump, strlen(dump), tok, &co) != NULL ||
		    strcmp(again, fa_errmsg()) != 0)
			abort();
		free(again);
		fa_jsonfree(dump);
		free(q);
		json_decref(c);
	}
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j, *co;
	const char *a, *r;

	memset(tok, 0, sizeof(*tok));
	if ((j = fa_bundle((const char *)data, size, tok, &co)) == NULL) {
		if (co != NULL || fa_errstatus() != 65)
			abort();
		quoted(data, size, fa_errmsg());
		return 0;
	}
	a = json_string_value(json_object_get(j, "access_token"));
	r = json_string_value(json_object_get(j, "refresh_token"));
	if (co == NULL || a == NULL || r == NULL ||
	    !fa_validname(json_string_value(json_object_get(j, "binding")),
	    65) || json_string_value(json_object_get(j, "endpoint")) == NULL ||
	    strcmp(tok->access, a) != 0 || strcmp(tok->refresh, r) != 0 ||
	    strlen(a) != json_string_length(json_object_get(j,
	    "access_token")) || strlen(r) != json_string_length(
	    json_object_get(j, "refresh_token")) ||
	    !fa_tokenok(tok->access) || !fa_tokenok(tok->refresh) ||
	    tok->expires_at <= 0 || tok->refresh_expires_at <= 0 ||
	    !json_is_string(json_object_get(co, "id")) ||
	    !json_is_string(json_object_get(co, "name")) ||
	    !json_is_string(json_object_get(co, "subdomain")))
		abort();
	json_decref(co);
	json_decref(j);
	return 0;
}
