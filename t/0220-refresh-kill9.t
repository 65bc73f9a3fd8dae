#!/bin/sh
# kill -9 of a refresher at random moments, in a loop: the vault opens,
# verify passes, the binding holds tokens FreeAgent issued (old or new),
# and the next refresh works at once (a dead holder's lease is ignored).
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
# Rate limits are t/0230's: out of the way here.
echo "refresh_per_minute = 100000" >>"$FA_CONFIG"
fa-vault tenant add acme && fa-vault add -t acme b1 magento=s.example &&
    connect b1 1001
ok $? "b1 connected"
ctl POST config '{"rate_limits":false,"latency":{"/v2/token_endpoint":100}}' >/dev/null

round=1
while [ $round -le 15 ]; do
	fa-refresh -f -p b1 >/dev/null 2>&1 &
	pid=$!
	sleep "0.$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | cut -c1)"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	fa-vault show b1 >/dev/null 2>&1 && fa-vault verify >/dev/null 2>&1 ||
	    echo "round $round: vault" >>"$T/bad"
	ctl GET tokens | jq -r '.refresh_tokens[].token' >"$T/valid"
	fa-vault token b1 | jq -r .refresh_token >"$T/mine"
	grep -qxF -f "$T/mine" "$T/valid" || echo "round $round: tokens" >>"$T/bad"
	timeout 20 fa-refresh -f -p b1 >/dev/null 2>"$T/err" ||
	    echo "round $round: next refresh: $(cat "$T/err")" >>"$T/bad"
	round=$((round + 1))
done
[ ! -e "$T/bad" ]; ok $? "after every kill: vault opens, verify passes, tokens valid, next refresh works"
diag "$T/bad" 2>/dev/null
[ "$(fa-vault show b1 | jq -r .status)" = connected ]; ok $? "still connected"
done_testing
