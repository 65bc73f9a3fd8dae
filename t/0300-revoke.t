#!/bin/sh
# fa-revoke: revoke upstream where the endpoint can (RFC 7009), wipe the
# tokens here whatever happens upstream, mark disconnected, keep company,
# settings and history; a reconnect goes through the company lock.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
echo "local.revoke_url = $SI/oauth/revoke" >>"$FA_CONFIG"
fa-vault tenant add acme && fa-vault tenant add other
for b in b1 b2 b3; do fa-vault add -t acme $b magento=$b.example && connect $b 1001; done
fa-vault add -t acme p1 magento=p.example
fa-vault set b1 settings.default_bank_account=acct-7
ok $? "three connected bindings, one pending"

rt=$(fa-vault token b1 | jq -r .refresh_token)
at=$(fa-vault token b1 | jq -r .access_token)
expect 66 "another tenant cannot disconnect it" fa-revoke -t other b1
expect 0 "disconnect with a revocation URL" fa-revoke -t acme b1
[ "$(count 'POST /oauth/revoke')" -eq 1 ]; ok $? "one revocation request"
ctl GET tokens | jq -r '.refresh_tokens[].token, .access_tokens[].token' >"$T/valid"
grep -qxF -e "$rt" -e "$at" "$T/valid"
ok $(( $? == 0 )) "FreeAgent no longer honours b1's tokens"
fa-vault show b1 >"$T/s"
jq -e '.status == "disconnected" and .company.id == "1001" and
    .settings.default_bank_account == "acct-7" and (.token == null)' "$T/s" >/dev/null
ok $? "disconnected; company and settings kept; no tokens"
expect 77 "no token to hand out" fa-refresh -p b1
expect 77 "fa-vault token has none either" fa-vault token b1
fa-vault log b1 | grep -q '"event":"disconnect","outcome":"ok"'; ok $? "audited"
grep -rlF -e "$rt" -e "$at" "$T/vault"
ok $(( $? == 0 )) "no token of b1 recoverable from the vault files"
t0=$(fa-vault show b1 | jq .disconnected_at)
expect 0 "disconnecting again is harmless" fa-revoke b1
like "$T/err" "disconnected already" "and says so"
[ "$(fa-vault show b1 | jq .disconnected_at)" = "$t0" ]; ok $? "changing nothing"

# The provider down: the local wipe happens, the status says what not.
ctl POST fault '{"path":"/oauth/revoke","kind":"503","count":1}' >/dev/null
expect 1 "revocation endpoint down: 1 (the wipe happened, a retry cannot revoke)" fa-revoke b2
like "$T/err" "wiped here" "says the local part happened"
like "$T/err" "Connected apps" "and where to finish the job by hand"
fa-vault log b2 | grep -q '"outcome":"partial"'; ok $? "audited as partial"
[ "$(fa-vault show b2 | jq -r .status)" = disconnected ]; ok $? "b2 disconnected anyway"

# The status hook hears of it.
cat >"$T/hook" <<'H'
#!/bin/sh
echo "$@" >>"$(dirname "$0")/hook.out"
H
chmod +x "$T/hook"
echo "status_hook = $T/hook" >>"$FA_CONFIG"

# FreeAgent itself: no revocation URL.
sed -i '/^local.revoke_url/d' "$FA_CONFIG"
n0=$(count 'POST /oauth/revoke')
expect 0 "disconnect without a revocation URL" fa-revoke b3
like "$T/err" "Settings -> Connected apps" "tells the person where to remove the app"
[ "$(count 'POST /oauth/revoke')" -eq "$n0" ]; ok $? "asks nothing upstream"
[ "$(fa-vault show b3 | jq -r .status)" = disconnected ]; ok $? "b3 disconnected"
[ "$(cat "$T/hook.out")" = "b3 disconnected" ]; ok $? "the status hook ran"

expect 0 "a pending binding: nothing to do" fa-revoke p1
[ "$(fa-vault show p1 | jq -r .status)" = pending ]; ok $? "stays pending"
expect 66 "an unknown binding" fa-revoke nope
expect 64 "no binding" fa-revoke

# Reconnect: the normal connect, and the company lock still holds.
connect b1 1001
ok $? "reconnect to the same company"
[ "$(fa-vault show b1 | jq -r .status)" = connected ]; ok $? "connected again"
fa-revoke b1 2>/dev/null
echo "local.revoke_url = $SI/oauth/revoke" >>"$FA_CONFIG"
callback b1 1002
fa-exchange <"$T/qs" >"$T/bundle"
# Traced, to see who revokes. (LeakSanitizer cannot run under ptrace.)
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -qq -o "$T/trace" \
    -e trace=openat,execve -e signal=none fa-vault store <"$T/bundle" \
    >"$T/out" 2>"$T/err"
[ $? -eq 77 ]; ok $? "reconnect to another company after a disconnect: refused"
# The refused connect's new tokens are not kept here, so not left alive
# upstream: revoked where the endpoint can, else the merchant is told.
like "$T/err" "the new tokens were revoked" "and its new tokens revoked"
# By fa-revoke -b, the bundle on a pipe: fa-vault never loads libcurl.
vpid=$(awk 'NR == 1 { print $1 }' "$T/trace")
[ -n "$vpid" ] && ! awk -v p="$vpid" '$1 == p' "$T/trace" | grep -q libcurl &&
    grep -q 'execve("[^"]*/fa-revoke", \["fa-revoke", "-b"\]' "$T/trace"
ok $? "revoked by fa-revoke -b; fa-vault itself loads no libcurl"
[ "$lastfail" -ne "$n" ] || diag "$T/trace"
ctl GET tokens | jq -r '.refresh_tokens[].token' >"$T/valid"
jq -r .refresh_token "$T/bundle" >"$T/new"
! grep -qxF -f "$T/new" "$T/valid"; ok $? "FreeAgent no longer honours them"
# A revocation that fails: fa-vault says why, in fa-revoke's words.
sed -i "s|^local.revoke_url = .*|local.revoke_url = http://127.0.0.1:1/oauth/revoke|" "$FA_CONFIG"
callback b1 1002
fa-exchange <"$T/qs" >"$T/bundle"
expect_in 77 "refused, and the revocation fails" "$T/bundle" fa-vault store
like "$T/err" "; and revoking the new tokens failed: http://127.0.0.1:1/oauth/revoke: " \
    "the message says so, with fa-revoke's reason"
sed -i '/^local.revoke_url/d' "$FA_CONFIG"
callback b1 1002
fa-exchange <"$T/qs" >"$T/bundle"
expect_in 77 "refused again, with no revocation URL" "$T/bundle" fa-vault store
like "$T/err" "remove the app in FreeAgent under Settings -> Connected apps" \
    "the message says to remove the app in FreeAgent"
expect_in 78 "fa-revoke -b: the endpoint has no revocation URL" "$T/bundle" \
    fa-revoke -b
like "$T/err" "endpoint local has no revocation URL" "and says so"
echo '{"binding": "b1"' >"$T/junk"
expect_in 65 "fa-revoke -b: not a bundle" "$T/junk" fa-revoke -b
expect 64 "fa-revoke -b takes no binding" fa-revoke -b b1
done_testing
