#!/bin/sh
# fa-refresh: fresh tokens from the vault without the network, refresh
# inside the margin, rotation, single flight, and every failure class.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
# Rate limits are t/0230's: out of the way here.
echo "refresh_per_minute = 100000" >>"$FA_CONFIG"
fa-vault tenant add acme && fa-vault add -t acme b1 magento=shop.example.com
connect b1 1001
ok $? "b1 connected"
tok() { fa-vault token b1 | jq -r ".$1"; }

a0=$(tok access_token) r0=$(tok refresh_token)
n0=$(count grant:refresh_token)
fa-refresh -p b1 >"$T/p"
[ "$(cat "$T/p")" = "$a0" ]; ok $? "-p prints the stored access token"
[ "$(count grant:refresh_token)" = "$n0" ]; ok $? "a fresh token costs no request"
fa-refresh -H b1 >"$T/h"
[ "$(cat "$T/h")" = "Authorization: Bearer $a0" ]; ok $? "-H prints the header line"
fa-refresh -H b1 | curl -sS -H @- -H 'User-Agent: t' "$SI/v2/company" >"$T/co"
[ "$(jq -r .company.subdomain "$T/co")" = acme ]; ok $? "fa-refresh -H b1 | curl -H @- works"
# A fresh token is the front's alone (bin/fa-refresh.c): it runs no
# other program. A due one is fa-refresh-full's, in the same process.
# ran CMD...: how many times CMD executed fa-refresh-full; "failed"
# when CMD did. (LeakSanitizer cannot run under ptrace.)
ran() {
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -qq \
	    -e trace=execve -e signal=none -o "$T/ex" "$@" >"$T/out" ||
	    { echo failed; return; }
	grep -c 'execve(.*fa-refresh-full"' "$T/ex"
}
[ "$(ran fa-refresh -H b1)" = 0 ] && [ "$(cat "$T/out")" = "Authorization: Bearer $a0" ]
ok $? "fresh: the front prints the token and executes nothing"
python3 - "$T/vault/sock" >"$T/peek" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"v":"refresh.take","a":{"binding":"b1","peek":true}}\n')
a = json.loads(s.makefile("rb").readline())
print(a["s"], a["a"].get("state"), " ".join(sorted(k for k in a["a"] if "refresh" in k or k == "access")))
PY
[ "$(cat "$T/peek")" = "0 fresh access" ]
ok $? "a peek at a fresh token: the access token alone, no refresh token"
diag "$T/peek"
[ "$(ran fa-refresh -f -p b1)" = 1 ] && [ -s "$T/out" ] && [ "$(cat "$T/out")" != "$a0" ]
ok $? "-f: fa-refresh-full runs, once, and prints the new token"
a0=$(tok access_token) r0=$(tok refresh_token) n0=$(count grant:refresh_token)

expect 0 "-f forces a refresh" fa-refresh -f b1
[ "$(count grant:refresh_token)" = $((n0 + 1)) ]; ok $? "one refresh request"
a1=$(tok access_token) r1=$(tok refresh_token)
[ "$a1" != "$a0" ] && [ "$r1" != "$r0" ]; ok $? "new access and refresh tokens stored"
ctl POST config '{"old_refresh_valid":false}' >/dev/null
expect 0 "the next refresh uses the newest refresh token" fa-refresh -f b1
fa-vault log b1 | grep -c '"event":"refresh","outcome":"ok"' >"$T/c"
[ "$(cat "$T/c")" -eq 3 ]; ok $? "each refresh is audited (three)"

# The margin: a token expiring within refresh_margin is refreshed first.
ctl POST config '{"access_ttl":200}' >/dev/null
fa-refresh -f b1
c0=$(count grant:refresh_token)
# The front's peek at a due token takes no lease and writes nothing.
python3 - "$T/vault/sock" >"$T/peek" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"v":"refresh.take","a":{"binding":"b1","peek":true}}\n')
a = json.loads(s.makefile("rb").readline())
print(a["s"], a["a"].get("state"), "access" in a["a"])
PY
[ "$(cat "$T/peek")" = "0 stale False" ] && [ "$(fa-vault show b1 | jq .lease)" = null ]
ok $? "a peek at a due token: stale, no token, no lease"
diag "$T/peek"
[ "$(ran fa-refresh -p b1)" = 1 ]
ok $? "due: the front executes fa-refresh-full"
[ "$(count grant:refresh_token)" = $((c0 + 1)) ]; ok $? "200 s left, margin 300: refreshed"
echo "refresh_margin = 100" >>"$FA_CONFIG"
c0=$(count grant:refresh_token)
fa-refresh -p b1 >/dev/null
[ "$(count grant:refresh_token)" = "$c0" ]; ok $? "200 s left, margin 100: not refreshed"
sed -i '/^refresh_margin/d' "$FA_CONFIG"
ctl POST config '{"access_ttl":3600}' >/dev/null
fa-refresh -f b1

# Single flight: 32 processes on one due binding, one refresh upstream.
ctl POST config '{"access_ttl":200,"latency":{"/v2/token_endpoint":400}}' >/dev/null
fa-refresh -f b1	# now due: 200 s < margin
ctl POST reset >/dev/null
ctl POST config '{"latency":{"/v2/token_endpoint":400}}' >/dev/null
i=1 pids=
while [ $i -le 32 ]; do
	fa-refresh -p b1 >"$T/sf.$i" 2>>"$T/sf.err" &
	pids="$pids $!"
	i=$((i + 1))
done
wait $pids
[ "$(count grant:refresh_token)" = 1 ]; ok $? "32 callers, one refresh upstream"
sort -u "$T"/sf.[0-9]* >"$T/sf.all"
[ "$(wc -l <"$T/sf.all")" -eq 1 ] && [ "$(cat "$T/sf.all")" = "$(tok access_token)" ]
ok $? "all 32 printed the same, new, token"
[ ! -s "$T/sf.err" ]; ok $? "none failed"
ctl POST reset >/dev/null

# Temporary trouble: 75, status and tokens untouched.
echo "http_timeout = 2" >>"$FA_CONFIG"
for kind in 500 502 503 429 timeout truncated malformed html huge reset; do
	before=$(fa-vault token b1)
	ctl POST fault "{\"path\":\"/v2/token_endpoint\",\"kind\":\"$kind\",\"count\":1,\"seconds\":5,\"retry_after\":60}" >/dev/null
	expect 75 "$kind from the token endpoint: 75" fa-refresh -f b1
	[ "$(fa-vault show b1 | jq -r .status)" = connected ] &&
	    [ "$(fa-vault token b1)" = "$before" ]
	ok $? "$kind: still connected, tokens unchanged"
done
ctl DELETE fault >/dev/null
fa-vault show b1 | jq -e '.last_failure.status == 75 and .retry_at > now' >/dev/null
ok $? "the failure and a retry time are recorded"
ctl POST fault '{"path":"/v2/token_endpoint","kind":"429","count":1,"retry_after":120}' >/dev/null
fa-refresh -f b1 2>/dev/null
fa-vault show b1 | jq -e '.retry_at >= now + 100' >/dev/null
ok $? "429's Retry-After sets the retry time"
c0=$(count grant:refresh_token)
ctl POST fault '{"path":"/v2/token_endpoint","kind":"429","count":1,"retry_after":1}' >/dev/null
expect 0 "a 429 with a short Retry-After is waited out" fa-refresh -f b1
[ "$(count grant:refresh_token)" -eq $((c0 + 2)) ]; ok $? "and asked again once"
# Not forced, inside the margin but still valid: FreeAgent said wait, so
# the stored token serves and nobody asks again before retry_at.
ctl POST config '{"access_ttl":200}' >/dev/null
fa-refresh -f b1
ctl POST fault '{"path":"/v2/token_endpoint","kind":"429","count":1,"retry_after":120}' >/dev/null
fa-refresh -f b1 2>/dev/null
c0=$(count grant:refresh_token)
fa-refresh -p b1 >"$T/p" 2>/dev/null
ok $? "before retry_at a due binding's valid token is served"
[ "$(cat "$T/p")" = "$(tok access_token)" ] &&
    [ "$(count grant:refresh_token)" = "$c0" ]
ok $? "the stored token, and no request"
ctl POST config '{"access_ttl":3600}' >/dev/null
expect 0 "then it works again" fa-refresh -f b1

# A wrong client secret: the endpoint's problem, 78, binding untouched.
cp "$T/local.secret" "$T/good.secret"
echo wrong >"$T/local.secret"
expect 78 "wrong client secret: 78" fa-refresh -f b1
like "$T/err" "client_secret_file" "message points at the configuration"
[ "$(fa-vault show b1 | jq -r .status)" = connected ]; ok $? "still connected"
cp "$T/good.secret" "$T/local.secret"

# FreeAgent answers 401 HTML for a revoked grant too; the client worked
# a moment ago, so the binding is the one refused.
ctl POST config '{"invalid_grant_style":"html401"}' >/dev/null
fa-refresh -f b1
ctl POST revoke '{"company":"1001"}' >/dev/null
expect 77 "401 with a known-good client: 77" fa-refresh -f b1
[ "$(fa-vault show b1 | jq -r .status)" = needs_reconnect ]
ok $? "needs_reconnect"
expect 77 "then every call says reconnect" fa-refresh -p b1
like "$T/err" "reconnect" "message says reconnect"
fa-vault log b1 | grep -q '"outcome":"needs_reconnect"'; ok $? "audited"

# invalid_grant (JSON) after a reconnect, and the status hook.
ctl POST config '{"invalid_grant_style":"json"}' >/dev/null
cat >"$T/hook" <<'H'
#!/bin/sh
echo "$@" >>"$(dirname "$0")/hook.out"
env >>"$(dirname "$0")/hook.env"
echo "HOOK-OUTPUT"
H
chmod +x "$T/hook"
echo "status_hook = $T/hook" >>"$FA_CONFIG"
connect b1 1001
ok $? "reconnected"
ctl POST revoke '{"company":"1001"}' >/dev/null
expect 77 "invalid_grant: 77" fa-refresh -f -p b1
unlike "$T/out" "HOOK-OUTPUT" "the hook's output does not mix with ours"
printf 'b1 connected\nb1 needs_reconnect\n' | cmp -s - "$T/hook.out"
ok $? "status hook ran with id and status, on the reconnect and on the refusal"
ctl GET tokens >"$T/t.json"
jq -r '.refresh_tokens[].token, .access_tokens[].token' "$T/t.json" >"$T/secrets"
fa-vault log | jq -r .detail >>"$T/logtext"
echo "$SEC" >>"$T/secrets"
grep -F -f "$T/secrets" "$T/hook.env" "$T/err" "$T/logtext"
ok $(( $? == 0 )) "no secret in the hook's environment, stderr or audit log"

expect 66 "unknown binding" fa-refresh -p nope
expect 64 "-p and -H together" fa-refresh -p -H b1
expect 64 "--due takes no binding" fa-refresh --due b1
done_testing
