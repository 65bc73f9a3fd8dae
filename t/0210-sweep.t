#!/bin/sh
# fa-refresh --due: refreshes every due binding, in parallel, found
# through the index; broken ones are reported and do not stop the rest.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
# Rate limits are t/0230's: out of the way here.
echo "refresh_per_minute = 100000" >>"$FA_CONFIG"
fa-vault tenant add acme
ctl POST config '{"access_ttl":200,"rate_limits":false}' >/dev/null
i=1
while [ $i -le 20 ]; do
	co=1001; [ $i -le 3 ] && co=1003
	fa-vault add -t acme b$i magento=s$i.example && connect b$i $co || break
	i=$((i + 1))
done
ok $(( i <= 20 )) "20 bindings connected with 200-second tokens"
fa-vault add -t acme p1 magento=p.example
ok $? "and one still pending"

ctl POST reset >/dev/null
ctl POST config '{"latency_ms":500,"rate_limits":false}' >/dev/null
ctl POST revoke '{"company":"1003"}' >/dev/null
fa-vault ls | jq -r '.id + " " + (.tokver|tostring)' | sort >"$T/before"
fa-refresh --due >"$T/out" 2>"$T/err" &
sweep=$!
# Meanwhile: every process's argv and environment, for the leak check.
while kill -0 $sweep 2>/dev/null; do
	cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null |
	    tr '\0' '\n' >>"$T/proc"
done
wait $sweep
st=$?
[ $st -ne 0 ]; ok $? "the sweep exits non-zero when a binding failed"
[ ! -s "$T/out" ]; ok $? "nothing on stdout"
[ "$(wc -l <"$T/err")" -eq 3 ] && [ "$(grep -c 'b[123]:' "$T/err")" -eq 3 ]
ok $? "one line on stderr per broken binding"
diag "$T/err"
fa-vault ls | jq -r 'select(.status == "connected") | .id' | sort >"$T/conn"
[ "$(wc -l <"$T/conn")" -eq 17 ]; ok $? "the 17 others are still connected"
fa-vault ls | jq -r 'select(.status == "needs_reconnect") | .id' | sort | tr '\n' ' ' >"$T/nr"
[ "$(cat "$T/nr")" = "b1 b2 b3 " ]; ok $? "the revoked three need reconnecting"
fa-vault ls | jq -r '.id + " " + (.tokver|tostring)' | sort >"$T/after"
changed=$(join "$T/before" "$T/after" | awk '$2 != $3' | wc -l)
[ "$changed" -eq 17 ]; ok $? "all 17 were refreshed"
[ "$(count grant:refresh_token)" -eq 20 ]; ok $? "20 requests, none twice"
[ "$(ctl GET stats | jq .max_inflight)" -gt 1 ]; ok $? "in parallel"
grep -qx -e '--due' "$T/proc"; ok $? "the scans saw the sweep"
ctl GET tokens | jq -r '.refresh_tokens[].token, .access_tokens[].token' >"$T/secrets"
echo "$SEC" >>"$T/secrets"
grep -F -f "$T/secrets" "$T/proc" "$T/err" >"$T/leaks"
[ ! -s "$T/leaks" ]; ok $? "no token or secret in any argv, environment or stderr"

ctl POST reset >/dev/null
ctl POST config '{"access_ttl":3600,"rate_limits":false}' >/dev/null
fa-vault ls | jq -r 'select(.status == "connected") | .id' | while read -r b; do
	fa-refresh -f "$b" || echo "$b" >>"$T/ff"
done
[ ! -e "$T/ff" ]; ok $? "fresh hour-long tokens for all"
ctl POST reset >/dev/null
expect 0 "a sweep with nothing due" fa-refresh --due
[ ! -s "$T/out" ] && [ ! -s "$T/err" ]; ok $? "says nothing"
[ "$(count grant:refresh_token)" -eq 0 ]; ok $? "and asks FreeAgent nothing"
fa-vault verify >/dev/null; ok $? "verify"

# The client secret revoked at FreeAgent, which then answers HTML 401 to
# everything: the whole endpoint's problem (78), no binding marked, even
# though the client worked a moment ago.
ctl POST config '{"invalid_grant_style":"html401","access_ttl":200,"rate_limits":false}' >/dev/null
fa-vault ls | jq -r 'select(.status == "connected") | .id' | while read -r b; do
	fa-refresh -f "$b"
done
# A slot freed by one refresh starts the next at once: while one token
# request hangs, the 16 other due bindings go through the other slot;
# nothing waits for a batch to end.
echo "refresh_concurrency = 2" >>"$FA_CONFIG"
before=$(count grant:refresh_token)
ctl POST fault '{"path":"/v2/token_endpoint","kind":"timeout","seconds":8}' >/dev/null
fa-refresh --due >/dev/null 2>"$T/err" &
sweep=$!
while kill -0 $sweep 2>/dev/null &&
    [ $(( $(count grant:refresh_token) - before )) -lt 17 ]; do :; done
ctl GET stats >"$T/stats"; echo >>"$T/stats"
[ $(( $(jq -r '.requests["grant:refresh_token"]' "$T/stats") - before )) -eq 17 ] &&
    [ "$(jq .hanging "$T/stats")" -eq 1 ]
ok $? "all 17 requests made while one hung"
diag "$T/stats"
wait $sweep
[ "$(grep -c 'b[0-9]*:' "$T/err")" -eq 1 ]; ok $? "and only the hung one failed"
diag "$T/err"
ctl GET fixture | jq -c '.clients[0].client_secret = "rotated-away"' >"$T/fx"
ctl POST fixture "$(cat "$T/fx")" >/dev/null
fa-refresh --due >/dev/null 2>"$T/err"
[ $? -ne 0 ]; ok $? "the sweep fails"
fa-vault ls | jq -r 'select(.status == "connected") | .id' | wc -l >"$T/nc"
[ "$(cat "$T/nc")" -eq 17 ]; ok $? "and marks nobody needs_reconnect"
like "$T/err" "client_secret_file" "it says the client is refused"
done_testing
