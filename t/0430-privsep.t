#!/bin/sh
# Privilege separation with real users: the keeper runs as the vault's
# user (fa-vaultd -u), lighttpd and the dashboard as the web server's
# user, which holds no key, no secret and no token, and may ask only
# what a dashboard may (access.* in fa.conf); a worker gets tokens, and
# the keeper runs for it what needs the client secret; a user with no
# access line gets nothing.
. "$(dirname "$0")/lib.sh"

privsep

# Root's first request started the keeper as the vault's owner.
k=$(cat "$T/vault/lock")
[ "$(ps -o user= -p "$k")" = $VU ]; ok $? "the keeper runs as $VU (fa-vaultd -u)"
pgrep -x fa-vaultd -a | grep -q -- "-u $(id -u $VU)\$"
ok $? "root started it with $VU's uid, not a name it had to look up"
# A uid past uid_t wraps to root if read carelessly: 2^32 is not uid 0.
expect 64 "-u 4294967296 is no user" fa-vaultd -f -u 4294967296 -c "$FA_CONFIG"
like "$T/err" "no such user" "and says so"
[ -z "$(find "$T/vault" ! -user $VU)" ]; ok $? "every vault file is $VU's"
diag "$T/privsep.err"
[ "$(stat -c '%a %U %G' "$T/run")" = "750 $VU $VU" ]; ok $? "the socket's directory: 0750, $VU's group"
[ "$(stat -c '%a %U' "$T/run/sock")" = "660 $VU" ]; ok $? "the socket: 0660"

fa-vault tenant add acme && fa-vault tenant add other &&
    fa-vault add -t acme b1 magento=shop.example.com &&
    fa-vault add -t other c1 magento=c.example.com
ok $? "tenants and bindings, as root (admin)"

# The web server as its own user.
printf 'acme:pw-a\nother:pw-o\n' >"$T/users"
webserver
lp=$(pgrep -u $WU -x lighttpd | head -n 1)
[ -n "$lp" ]; ok $? "lighttpd runs as $WU"

# The web user's processes, sampled while the connect runs: argv,
# environment and memory maps.
sample() {
	while [ ! -e "$T/stop" ]; do
		for p in $(pgrep -u $WU); do
			{
				echo "== $p"
				tr '\0' '\n' <"/proc/$p/cmdline"; echo
				tr '\0' '\n' <"/proc/$p/environ"; echo
				cat "/proc/$p/maps"
			} 2>/dev/null
		done
	done >"$T/web.proc"
}
sample &
sp=$!
# The token endpoint slowed, so the callback's CGI lives a while.
ctl POST config '{"latency":{"/v2/token_endpoint":500}}' >/dev/null
ctl POST consent '{"mode":"approve","company":"1001"}' >/dev/null
J="$T/jar"
curl -sS -c "$J" -b "$J" -u acme:pw-a "$WEB/dashboard/connect-freeagent?binding=b1" >"$T/form"
tok=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/form")
[ ${#tok} -eq 43 ]; ok $? "the connect form, with a CSRF token the keeper made"
loc=$(curl -sS -c "$J" -b "$J" -u acme:pw-a -o /dev/null -w '%{redirect_url}' \
    --data "binding=b1&csrf=$tok" "$WEB/dashboard/connect-freeagent")
cb=$(curl -sS -o /dev/null -w '%{redirect_url}' "$loc")
code=$(curl -sS -c "$J" -b "$J" -u acme:pw-a -o "$T/b.html" -w '%{http_code}' \
    "$WEB/dashboard/freeagent-callback?${cb#*\?}")
touch "$T/stop"
wait $sp
[ "$code" = 303 ]; ok $? "the callback: 303 (the keeper ran fa-exchange | fa-vault store)"
[ "$(fa-vault show b1 | jq -r '.status + " " + .company.id')" = "connected 1001" ]
ok $? "b1 is connected"
curl -sS -u acme:pw-a "$WEB/dashboard/bindings" >"$T/list.html"
like "$T/list.html" 'Magento shop.example.com &harr; FreeAgent Acme Widgets Ltd' "the green row"
ctl POST config '{"latency":{}}' >/dev/null
grep -q '^/.*fa-dashboard$' "$T/web.proc"; ok $? "the dashboard's CGI was seen running as $WU"
ctl GET tokens | jq -r '.refresh_tokens[].token, .access_tokens[].token' >"$T/secrets"
echo "$SEC" >>"$T/secrets"
od -An -tx1 "$T/master.key" | tr -d ' \n' >>"$T/secrets"; echo >>"$T/secrets"
base64 -w0 "$T/master.key" >>"$T/secrets"; echo >>"$T/secrets"
grep -aF -f "$T/secrets" "$T/web.proc" >/dev/null
ok $(( $? == 0 )) "no token, client secret or key in the web user's argv, environment or maps"
grep -aE "$T/(master.key|local.secret|vault/)" "$T/web.proc" >"$T/maps"
[ ! -s "$T/maps" ]; ok $? "no key, secret or vault file mapped or named there"
diag "$T/maps"

i=0
until curl -sS -u acme:pw-a "$WEB/dashboard/settings/b1" >"$T/set.html" &&
    grep -q '<option value="[^"]' "$T/set.html" || [ $i -ge 300 ]; do
	i=$((i + 1)); sleep 0.1
done
grep -q 'name="default_income_category"><option value="">(none)</option><option value="[^"]' "$T/set.html"
ok $? "the settings dropdowns are filled (the keeper's prefetch job)"
[ "$(curl -sS -u other:pw-o -o /dev/null -w '%{http_code}' "$WEB/dashboard/bindings/b1")" = 404 ]
ok $? "another tenant's binding: 404"

# What the web user cannot do.
for f in "$T/master.key" "$T/local.secret" "$T/vault/meta.db"; do
	as $WU cat "$f" >/dev/null 2>"$T/err"
	[ $? -ne 0 ] && grep -q 'Permission denied' "$T/err"
	ok $? "the web user cannot read ${f#$T/}"
done
fa-vault keygen "$T/new.key"
refused() {	# refused DESCRIPTION CMD...: 77 as the web user
	_d=$1; shift
	as $WU "$@" >"$T/out" 2>"$T/err"
	_st=$?
	[ $_st -eq 77 ]; ok $? "$_d: refused, 77 (got $_st)"
	diag "$T/err"
}
refused "fa-refresh -p b1 as the web user" fa-refresh -p b1
refused "fa-vault token b1 as the web user" fa-vault token b1
refused "fa-vault rekey as the web user" fa-vault rekey "$T/new.key"
fa-vault log | jq -r 'select(.event == "access" and .outcome == "refused") | "\(.uid) \(.detail)"' >"$T/acc"
for v in refresh.take token.get vault.rekey; do
	grep -q "^$(id -u $WU) uid $(id -u $WU) pid [0-9]* may not ask $v\$" "$T/acc"
	ok $? "audited: uid $(id -u $WU) may not ask $v"
done
# Straight to the socket: another tenant's binding is no binding.
ask() {	# ask USER JSON: the keeper's answer line
	as "$1" python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode()+b"\n"); print(s.makefile().readline().strip())' "$T/run/sock" "$2"
}
ask $WU '{"v":"dash.get","a":{"tenant":"other","binding":"b1"}}' >"$T/ans"
[ "$(jq .s "$T/ans")" = 66 ]; ok $? "dash.get of acme's binding for tenant other: 66"
ask $WU '{"v":"dash.list","a":{}}' >"$T/ans"
[ "$(jq .s "$T/ans")" -ne 0 ]; ok $? "a dashboard's request without a tenant: refused"
ask $WU '{"v":"job.run","a":{"tenant":"other","job":"revoke","binding":"b1"}}' >"$T/ans"
[ "$(jq .s "$T/ans")" = 66 ] && [ "$(fa-vault show b1 | jq -r .status)" = connected ]
ok $? "a disconnect job for another tenant's binding: 66, nothing changed"
ask $WU '{"v":"job.run","a":{"tenant":"acme","job":"refresh","binding":"b1"}}' >"$T/ans"
[ "$(jq .s "$T/ans")" = 77 ]; ok $? "a refresh job for the dashboard: 77"

# The user nobody named.
as $NU fa-vault ls >"$T/out" 2>"$T/err"
[ $? -eq 77 ] && grep -q 'may not use the vault' "$T/err"
ok $? "the unlisted user: fa-vault ls refused (77)"
ask $NU '{"v":"keeper.ping","a":{}}' >"$T/ans"
[ "$(jq .s "$T/ans")" = 77 ]; ok $? "the unlisted user: even a ping is refused"
as $NU fa-refresh -p b1 >/dev/null 2>&1
[ $? -eq 77 ]; ok $? "the unlisted user: fa-refresh refused"

# A worker gets tokens; the keeper refreshes for it.
n0=$(count grant:refresh_token)
as $KU fa-refresh -f -p b1 >"$T/wtok" 2>"$T/err"
ok $? "a worker's fa-refresh -f -p b1"
diag "$T/err"
[ "$(count grant:refresh_token)" -eq $((n0 + 1)) ]; ok $? "FreeAgent saw one refresh (the keeper's job)"
ctl GET tokens | jq -r '.access_tokens[].token' | grep -qxF -f "$T/wtok"
ok $? "and the worker got the new access token"
as $KU fa-prefetch b1 >"$T/cache" 2>"$T/err"
[ $? -eq 0 ] && jq -e '.company.id' "$T/cache" >/dev/null
ok $? "a worker's fa-prefetch b1: fetched by the keeper's job, printed"
as $KU fa-vault rekey "$T/new.key" >/dev/null 2>&1
[ $? -eq 77 ]; ok $? "a worker may not rekey"
# Root is admin, but not the keeper's user: the keeper refreshes for it.
n0=$(count grant:refresh_token)
fa-refresh -f -p b1 >"$T/rtok" 2>"$T/err"
ok $? "root's fa-refresh -f -p b1"
diag "$T/err"
[ "$(count grant:refresh_token)" -eq $((n0 + 1)) ] &&
    ctl GET tokens | jq -r '.access_tokens[].token' | grep -qxF -f "$T/rtok"
ok $? "one refresh, by the keeper's job; root got the new token"
[ "$(fa-vault show b1 | jq -r .status)" = connected ]; ok $? "b1 still connected"

# Disconnect through the web server, with a header of its own: the
# status hook (run by the keeper) sees none of the request.
curl -sS -u acme:pw-a "$WEB/dashboard/bindings/b1" >"$T/page"
tk=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/page")
code=$(curl -sS -u acme:pw-a -H 'X-Evil: $(id)' -o /dev/null -w '%{http_code}' \
    --data "csrf=$tk" "$WEB/dashboard/bindings/b1/disconnect?evil=1")
[ "$(fa-vault show b1 | jq -r .status)" = disconnected ]
ok $? "disconnected through the dashboard (HTTP $code)"
[ -s "$T/hooks/env.disconnected" ]; ok $? "the status hook ran"
grep -E '^(HTTP_|QUERY_STRING|REMOTE_USER|AUTH|REQUEST_|CONTENT_|SERVER_|GATEWAY)' \
    "$T/hooks/env.disconnected" "$T/hooks/env.connected" >"$T/leak"
[ ! -s "$T/leak" ]; ok $? "the hook's environment holds nothing of the request"
diag "$T/leak"
grep -qx "USER=$VU" "$T/hooks/env.disconnected"; ok $? "and names the keeper's user (-u), not root"
expect 0 "verify passes" fa-vault verify

done_testing
