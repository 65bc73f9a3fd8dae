/* doc.h: the documents fa takes from outside and keeps, checked (no
 * network: doc.c links alone). */
#ifndef FA_DOC_H
#define FA_DOC_H

#include <jansson.h>

#include "proto.h"

#define FA_BUNDLEMAX	65536	/* bytes in a token bundle */

/* Checks a company object and returns a normalised copy: id as a
 * string, name and subdomain required. NULL and status 65 if bad. */
json_t	*fa_company(json_t *);
/* The token bundle fa-exchange prints and fa-vault store reads
 * (fa-vault(1)), untrusted: checks all of it, fills tok (secure memory)
 * and *company (fa_company's copy) and returns the object (binding and
 * endpoint are read from it). NULL and status 65 if bad; a message
 * never quotes the input, but for a binding name. */
json_t	*fa_bundle(const char *buf, size_t len, struct fa_tokens *tok,
	    json_t **company);
/* A token bundle read from fd, at most FA_BUNDLEMAX bytes, and checked
 * by fa_bundle (the company dropped); when bufp is not NULL, the bytes
 * read too, in secure memory (fa_secfree them). NULL and the status:
 * 65 too long or not a bundle, 1 a read error. */
json_t	*fa_bundle_read(int fd, struct fa_tokens *tok, char **bufp,
	    size_t *lenp);
/* One page of an API document (body, len bytes, untrusted): with a
 * member ("income_categories"), appends the objects of that array to
 * items; with none, replaces *company with the page's company (a new
 * reference, NULL if absent). -1 (65) if not JSON, or no such array. */
int	 fa_page(const char *body, size_t len, const char *member,
	    json_t *items, json_t **company);
/* fa-prefetch's cache of a binding: company (fa_company), categories and
 * bank accounts cut to the fields fa shows, the accounts not hidden as
 * payment targets, FreeAgent's item types. NULL (65): bad company. */
json_t	*fa_refcache(const char *binding, json_int_t fetched_at,
	    json_t *company, json_t *categories, json_t *bank_accounts);

#endif
