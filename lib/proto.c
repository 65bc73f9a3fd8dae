#include <string.h>
#include <time.h>

#include <sodium.h>

#include "conf.h"
#include "diag.h"
#include "proto.h"

int64_t
fa_now(void)
{
	return (int64_t)time(NULL);
}

int64_t
fa_due_at(int64_t exp, int64_t rexp)
{
	return rexp - 86400 < exp ? rexp - 86400 : exp;
}

const char *
fa_jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

int
fa_validid(const char *s)
{
	return s != NULL && fa_validname(s, 65);
}

void
fa_reqid(char out[FA_REQIDLEN + 1])
{
	unsigned char r[FA_REQIDLEN / 2];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(out, FA_REQIDLEN + 1, r, sizeof(r));
}

int
fa_req_parse(const char *line, size_t len, struct fa_req *rq)
{
	json_error_t je;
	json_t *j, *v, *id, *a;
	const char *s;
	size_t n;

	memset(rq, 0, sizeof(*rq));
	if (len >= FA_REQMAX)
		return fa_seterr(EX_DATAERR, "request longer than %d bytes", FA_REQMAX);
	if ((j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return fa_seterr(EX_DATAERR, "request is not JSON (at byte %d)",
		    je.position);
	if (!json_is_object(j)) {
		json_decref(j);
		return fa_seterr(EX_DATAERR, "request is not a JSON object");
	}
	v = json_object_get(j, "v");
	id = json_object_get(j, "id");
	a = json_object_get(j, "a");
	if ((s = json_string_value(v)) == NULL || (n = strlen(s)) == 0 ||
	    n >= FA_VERBLEN || strspn(s, "abcdefghijklmnopqrstuvwxyz._") != n ||
	    n != json_string_length(v)) {
		json_decref(j);
		return fa_seterr(EX_DATAERR, "request names no valid verb");
	}
	memcpy(rq->verb, s, n + 1);
	if (id != NULL) {
		if ((s = json_string_value(id)) == NULL ||
		    strlen(s) != FA_REQIDLEN || json_string_length(id) !=
		    FA_REQIDLEN || strspn(s, "0123456789abcdef") != FA_REQIDLEN) {
			json_decref(j);
			return fa_seterr(EX_DATAERR, "request id is not %d hex digits",
			    FA_REQIDLEN);
		}
		memcpy(rq->id, s, FA_REQIDLEN + 1);
	}
	if (a != NULL && !json_is_object(a)) {
		json_decref(j);
		return fa_seterr(EX_DATAERR, "request arguments are not an object");
	}
	if (json_object_size(j) != (size_t)(1 + (id != NULL) + (a != NULL))) {
		json_decref(j);
		return fa_seterr(EX_DATAERR, "request has unknown members");
	}
	rq->args = a != NULL ? json_incref(a) : json_object();
	json_decref(j);
	if (rq->args == NULL)
		return fa_seterr(1, "out of memory");
	return 0;
}

void
fa_req_free(struct fa_req *rq)
{
	json_decref(rq->args);
	rq->args = NULL;
}

int
fa_tokenok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || i >= FA_TOKLEN - 1)
			return 0;
	return i > 0;
}
