/* fuzz/token: the token endpoint's answer (fa_grant_res, lib/oauth.c),
 * a response built by hand as lib/http.c would leave it, and the company
 * document (fa_company). Input: two bytes that pick the response's
 * status, error and headers, then the body. Never 401: that answer
 * makes fa_grant_res ask the server again (a network request). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "diag.h"
#include "http.h"
#include "oauth.h"
#include "secmem.h"
#include "proto.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct fa_conf conf;
static const struct fa_endpoint *ep;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *lines[] = {
		"vault_dir = /nonexistent/fa",
		"production.base_url = https://api.freeagent.com/v2",
		"production.client_id = fuzz-client",
		"production.client_secret_file = /nonexistent/secret",
	};
	char buf[256];
	size_t i;

	(void)argc;
	(void)argv;
	if (fa_secure_init() == -1)
		abort();
	memset(&conf, 0, sizeof(conf));
	strcpy(conf.default_endpoint, "production");
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		strcpy(buf, lines[i]);
		if (fa_conf_line(&conf, buf, (int)i + 1) == -1)
			abort();
	}
	if (fa_conf_finish(&conf) == -1 ||
	    (ep = fa_conf_endpoint(&conf, "production")) == NULL)
		abort();
	return 0;
}

static void
company(const char *body, size_t len)
{
	json_t *j, *co;

	if ((j = json_loadb(body, len, 0, NULL)) == NULL)
		return;
	if ((co = fa_company(j)) != NULL &&
	    !json_is_string(json_object_get(co, "id")))
		abort();
	json_decref(co);
	if ((co = fa_company(json_object_get(j, "company"))) != NULL &&
	    !json_is_string(json_object_get(co, "id")))
		abort();
	json_decref(co);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long status[] = { 200, 400, 429, 500, 503 };
	struct fa_http r;
	struct fa_tokens *tok;
	long retry;
	int k, rv;

	if (size < 2)
		return 0;
	memset(&r, 0, sizeof(r));
	r.status = status[data[0] % 5];
	k = data[0] / 5 % 10;	/* 0-4 JSON, 5-6 HTML, 7-9 errors */
	r.err = k == 7 ? 1 : k == 8 ? 75 : k == 9 ? 78 : 0;
	if (r.err != 0)
		strcpy(r.errmsg, "fuzz: no answer");
	strcpy(r.ctype, k == 5 || k == 6 ? "text/html" :
	    "application/json; charset=utf-8");
	r.method = "POST";
	r.url = ep->token_url;
	r.retry_after = data[1] & 1 ? 60 : -1;
	r.total = -1;
	/* As onbody() in lib/http.c: secure memory, NUL-terminated. */
	size -= 2;
	if ((r.body = fa_secalloc(size + 1)) == NULL)
		abort();
	memcpy(r.body, data + 2, size);
	r.body[size] = '\0';
	r.len = size;
	r.cap = size + 1;
	if ((tok = fa_secalloc(sizeof(*tok))) == NULL)
		abort();
	if (data[1] & 2) {	/* a refresh: the old refresh token kept */
		strcpy(tok->refresh, "old-refresh-token");
		tok->refresh_expires_at = fa_now() + (data[1] & 4 ? 86400 : -1);
	}
	rv = fa_grant_res(&conf, NULL, ep, &r, "fuzz-secret", tok, &retry,
	    data[1] >> 3 & 1);
	if (rv != FA_GRANT_OK && rv != FA_GRANT_TEMP &&
	    rv != FA_GRANT_REFUSED && rv != FA_GRANT_CLIENT && rv != 1)
		abort();
	if (rv == FA_GRANT_OK && (r.status != 200 ||
	    !fa_tokenok(tok->access) || !fa_tokenok(tok->refresh) ||
	    tok->expires_at <= 0 || tok->refresh_expires_at <= 0))
		abort();
	if (retry != -1 && !(r.status == 429 && retry == r.retry_after))
		abort();
	company(r.body, r.len);
	fa_secfree(tok);
	fa_http_free(&r);
	return 0;
}
