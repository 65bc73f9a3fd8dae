#!/bin/sh
# No token or client secret in any process's argv or environment while
# connects run, and none on stderr.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
fa-vault tenant add acme
i=1
while [ $i -le 12 ]; do fa-vault add -t acme b$i magento=s$i.example; i=$((i + 1)); done
ok $? "twelve bindings"

(
	i=1
	while [ $i -le 12 ]; do
		connect b$i 1001 2>>"$T/stderr" || echo "b$i failed" >>"$T/failed"
		fa-vault token b$i >/dev/null 2>>"$T/stderr"
		i=$((i + 1))
	done
	touch "$T/done"
) &
flow=$!
scans=0
while [ ! -e "$T/done" ]; do
	# our programs' argv, a line each (other tests' curl may carry codes)
	ps -eo args= | grep -E '^([^ ]*/)?fa-' >>"$T/argv"
	cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null |
	    tr '\0' '\n' >>"$T/proc"
	scans=$((scans + 1))
done
wait $flow
[ ! -e "$T/failed" ]; ok $? "all connects worked"
[ $scans -gt 3 ]; ok $? "scanned /proc while they ran ($scans times)"
grep -q 'fa-exchange' "$T/argv"; ok $? "the scans saw fa-exchange running"
# The authorisation code is a credential until it is traded: never in
# argv, which any local user can read.
grep "code=" "$T/argv" | sort -u | head -5 >"$T/codes"
[ ! -s "$T/codes" ]; ok $? "no authorisation code in any argv"
diag "$T/codes"
ctl GET tokens | jq -r '.refresh_tokens[].token, .access_tokens[].token' >"$T/secrets"
[ "$(wc -l <"$T/secrets")" -ge 24 ]; ok $? "the stand-in issued the tokens"
echo "$SEC" >>"$T/secrets"
grep -F -f "$T/secrets" "$T/proc" >"$T/leaks"
[ ! -s "$T/leaks" ]; ok $? "no token or secret in any argv or environment"
grep -F -f "$T/secrets" "$T/stderr" >"$T/leaks"
[ ! -s "$T/leaks" ]; ok $? "no token or secret on stderr"
done_testing
