#!/bin/sh
# The company lock (by id and subdomain, never url) and the plan limits.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
cat >>"$FA_CONFIG" <<'CONF'
plan.solo.companies = 1
plan.solo.bindings = 2
plan.duo.companies = 2
plan.duo.bindings = 3
CONF
fa-vault tenant add acme plan=solo && fa-vault add -t acme b1 magento=a.example
ok $? "tenant on plan solo with one binding"

bundle b1 A1 R1 1001 acme | fa-vault store
ok $? "first consent locks b1 to company 1001"
bundle b1 A1b R1b '"1001"' acme >"$T/same.json"
expect_in 0 "reconnect to the same company (id as a string)" "$T/same.json" \
    fa-vault store
bundle b1 A2 R2 1002 beta >"$T/other.json"
expect_in 77 "reconnect to another company refused" "$T/other.json" \
    fa-vault store
like "$T/err" "Company acme.*Company beta" "message names both companies"
unlike "$T/err" "A2|R2|A1b|R1b" "message has no token"
bundle b1 A3 R3 1001 notacme >"$T/sub.json"
expect_in 77 "same id, other subdomain: refused" "$T/sub.json" fa-vault store
fa-vault token b1 >"$T/tok"
[ "$(jq -r .access_token "$T/tok")" = A1b ]
ok $? "a refused reconnect keeps the old tokens"
fa-vault show b1 >"$T/show"
[ "$(jq -r '.status + " " + .company.id + " " + (.tokver|tostring)' \
    "$T/show")" = "connected 1001 2" ]
ok $? "and the old status, company and version"
fa-vault log b1 >"$T/log"
like "$T/log" '"outcome":"refused"' "the refusal is audited"

# FreeAgent's url is the same for every company: it must not decide.
sed 's|"url":"[^"]*"|"url":"https://api.freeagent.com/v2/company"|' \
    "$T/other.json" >"$T/url.json"
expect_in 77 "same url, other id: still refused" "$T/url.json" fa-vault store

expect 0 "second binding within the plan" fa-vault add -t acme b2 magento=b.example
expect 77 "third binding over plan solo's 2" fa-vault add -t acme b3 magento=c.example
like "$T/err" "plan solo allows 2 bindings" "message names the binding limit"
fa-vault log b3 | grep -q '"outcome":"refused"'; ok $? "the refused add is audited"
bundle b2 A4 R4 1002 beta >"$T/b2.json"
expect_in 77 "second company over plan solo's 1" "$T/b2.json" fa-vault store
like "$T/err" "plan solo allows 1 FreeAgent company" \
    "message names the company limit"
fa-vault show b2 >"$T/show"
[ "$(jq -r .status "$T/show")" = pending ]; ok $? "b2 stays pending"
bundle b2 A5 R5 1001 acme >"$T/b2same.json"
expect_in 0 "many bindings may share one company" "$T/b2same.json" \
    fa-vault store

fa-vault tenant set acme plan=duo
expect 0 "a bigger plan allows a third binding" fa-vault add -t acme b3 magento=c.example
bundle b3 A6 R6 1003 gamma >"$T/b3.json"
expect_in 0 "and a second company" "$T/b3.json" fa-vault store
expect 77 "but not a fourth binding" fa-vault add -t acme b4 magento=d.example

# A tenant on a plan the config no longer defines: a configuration error.
sed -i '/^plan.solo/d' "$FA_CONFIG"
fa-vault tenant add gone plan=duo && sed -i '/^plan.duo/d' "$FA_CONFIG"
expect 78 "a plan that is no longer defined" fa-vault add -t gone g1 magento=g.example
like "$T/err" "plan duo" "message names the plan"
cat >>"$FA_CONFIG" <<'CONF'
plan.solo.companies = 1
plan.solo.bindings = 2
plan.duo.companies = 2
plan.duo.bindings = 3
CONF

# Plans count per tenant.
fa-vault tenant add other plan=solo
expect 0 "another tenant has its own count" fa-vault add -t other c1 magento=e.example
bundle c1 A7 R7 1002 beta | fa-vault store
ok $? "and its own companies"

# Malformed bundles: 65, nothing changed.
before=$(fa-vault show b3)
for mangle in 'del(.access_token)' 'del(.company)' '.expires_at = "soon"' \
    '.company.id = {"x":1}' '.access_token = "has space"' \
    '.access_token = ""' 'del(.company.subdomain)' '.binding = "../x"' \
    '.refresh_token = 5' '[.]'; do
	jq -c "$mangle" "$T/b3.json" >"$T/bad.json"
	expect_in 65 "bad bundle refused: $mangle" "$T/bad.json" fa-vault store
done
printf '{"binding":"b3","binding":"b1"}' >"$T/dup.json"
expect_in 65 "duplicate keys refused" "$T/dup.json" fa-vault store
printf '{"binding":"b3", "access_token": SECRETBAREWORD}' >"$T/bare.json"
expect_in 65 "invalid JSON refused" "$T/bare.json" fa-vault store
unlike "$T/err" SECRETBAREWORD "the parse error does not quote the input"
jq -c '.company.name = "'"$(head -c 70000 /dev/zero | tr '\0' x)"'"' \
    "$T/b3.json" >"$T/huge.json"
expect_in 65 "oversize bundle refused" "$T/huge.json" fa-vault store
jq -c '.binding = "nosuch"' "$T/b3.json" >"$T/nb.json"
expect_in 66 "bundle for an unknown binding" "$T/nb.json" fa-vault store
jq -c '.endpoint = "sandbox"' "$T/b3.json" >"$T/ep.json"
expect_in 65 "bundle for another endpoint than the binding's" "$T/ep.json" \
    fa-vault store
[ "$(fa-vault show b3)" = "$before" ]; ok $? "nothing changed"
done_testing
