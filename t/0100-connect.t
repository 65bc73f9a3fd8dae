#!/bin/sh
# The connect flow against the FreeAgent stand-in: fa-authurl, consent,
# fa-exchange | fa-vault store, and every way it can go wrong.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
fa-vault tenant add acme && fa-vault add -t acme b1 magento=shop.example.com &&
    fa-vault tenant add other && fa-vault add -t other c1 magento=c.example.com
ok $? "tenants and bindings"

# The whole flow as a person does it: the consent page, a company picked
# from the form, approve.
expect 0 "fa-authurl prints the consent URL" fa-authurl b1
url=$(cat "$T/out")
case $url in
"$SI/v2/approve_app?client_id=$CID&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fdashboard%2Ffreeagent-callback&state="*) ok 0 "URL has client_id, response_type, redirect_uri, state" ;;
*) ok 1 "URL has client_id, response_type, redirect_uri, state"; echo "# $url" ;;
esac
state=${url##*state=}
[ ${#state} -ge 22 ]; ok $? "state carries at least 128 bits (${#state} base64 chars)"
curl -sS -c "$T/jar" -b "$T/jar" "$url" >"$T/page"
like "$T/page" 'Beta Books LLP' "the consent page lists the companies"
curl -sS -c "$T/jar" -b "$T/jar" -o /dev/null -w '%{redirect_url}' \
    --data-urlencode "client_id=$CID" \
    --data-urlencode "redirect_uri=http://127.0.0.1:1/dashboard/freeagent-callback" \
    --data-urlencode "state=$state" --data-urlencode response_type=code \
    --data-urlencode company=1002 --data-urlencode decision=approve \
    "$SI/v2/approve_app" >"$T/loc"
qs=$(sed 's/^[^?]*?//' "$T/loc")
case $qs in *iss=*) ok 0 "the callback carries an extra iss parameter" ;;
*) ok 1 "the callback carries an extra iss parameter" ;; esac
printf '%s\n' "$qs" | fa-exchange >"$T/bundle" 2>"$T/err"
ok $? "fa-exchange trades the code, the query on standard input"
[ ! -s "$T/err" ]; ok $? "and says nothing on stderr"
jq -e '.binding == "b1" and .endpoint == "local" and (.access_token|length) > 20
    and (.refresh_token|length) > 20 and .expires_at > now
    and .refresh_token_expires_at > now and .company.id == "1002"
    and .company.subdomain == "beta" and .company.name == "Beta Books LLP"' \
    "$T/bundle" >/dev/null
ok $? "the bundle has binding, endpoint, tokens, expiries and company"
expect_in 0 "fa-vault store takes it" "$T/bundle" fa-vault store
fa-vault show b1 | jq -r '.status + " " + .company.name' >"$T/s"
[ "$(cat "$T/s")" = "connected Beta Books LLP" ]; ok $? "b1 is connected to Beta"
printf '%s\n' "$qs" >"$T/q"
expect_in 65 "the same callback again: state already used" "$T/q" fa-exchange
expect 64 "the query as an argument: refused (argv is public)" \
    fa-exchange "state=$(printf '%043d' 1)"

# The state: forged, malformed, expired, another tenant's.
printf '%s\n' "code=x&state=$(fa-authurl b1 >/dev/null; printf '%043d' 7)" >"$T/q"
expect_in 65 "a forged state" "$T/q" fa-exchange
printf '%s\n' "code=x&state=short" >"$T/q"
expect_in 65 "a malformed state" "$T/q" fa-exchange
printf '%s\n' "code=x" >"$T/q"
expect_in 65 "no state" "$T/q" fa-exchange
printf '%s\n' "code=%zz&state=$state" >"$T/q"
expect_in 65 "a bad escape" "$T/q" fa-exchange
printf '%s\n' "state=$state&state=$state&code=x" >"$T/q"
expect_in 65 "state given twice" "$T/q" fa-exchange
callback b1 1002
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 65 "another tenant's state" "$T/q" fa-exchange -t other
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 0 "still good for its own tenant" "$T/q" fa-exchange -t acme
callback b1 1002
st=$(sed 's/.*state=\([^&]*\).*/\1/' "$T/qs")
hash=$(printf '%s' "$st" | sha256sum | cut -c1-64)
rec=$(rawdb "$FA_CONFIG" states get "x:$hash" | xxd -r -p |
    jq -c '.expires = 1' | od -An -tx1 | tr -d ' \n')
rawdb "$FA_CONFIG" states put "x:$hash" "$rec"
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 65 "an expired state" "$T/q" fa-exchange
like "$T/err" "10 minutes" "message says why"
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 65 "an expired state is consumed" "$T/q" fa-exchange
grants=$(count grant:authorization_code)

# Declined.
ctl POST consent '{"mode":"decline"}' >/dev/null
url=$(fa-authurl b1)
qs=$(curl -sS -o /dev/null -w '%{redirect_url}' "$url" | sed 's/^[^?]*?//')
printf '%s\n' "$qs" >"$T/q"
expect_in 77 "declined consent" "$T/q" fa-exchange
like "$T/err" "declined" "message a merchant understands"
printf '%s\n' "$qs" >"$T/q"
expect_in 65 "a declined state is used up" "$T/q" fa-exchange
[ "$(count grant:authorization_code)" = "$grants" ]
ok $? "no token request for a declined or bad state"

# A code used twice (FreeAgent answers HTML 401 for it).
callback b1 1002
code=$(sed 's/.*code=\([^&]*\).*/\1/' "$T/qs")
printf '%s\n' "$(cat "$T/qs")" | fa-exchange | fa-vault store
callback b1 1002
st=$(sed 's/.*state=\([^&]*\).*/\1/' "$T/qs")
printf '%s\n' "code=$code&state=$st" >"$T/q"
expect_in 77 "a code used twice is refused" "$T/q" fa-exchange
like "$T/err" "used twice" "message says so"

# Where FreeAgent answers a reused code and an unknown refresh token both
# with its HTML 401, the client that worked a moment ago decides: the
# code is refused, not the client.
ctl POST config '{"invalid_grant_style":"html401"}' >/dev/null
printf '%s\n' "code=$code&state=$(fa-authurl -j b1 | jq -r .state)" >"$T/q"
expect_in 77 "a code used twice, 401 everywhere: still the code" "$T/q" fa-exchange
ctl POST config '{"invalid_grant_style":"json"}' >/dev/null

# A state names a binding: if it was removed and added again under
# another tenant, the state is no good.
fa-vault add -t acme gone magento=g.example
callback gone 1002
fa-vault rm gone && fa-vault add -t other gone magento=g.example
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 65 "a state for a binding that changed hands" "$T/q" fa-exchange
like "$T/err" "changed hands" "message says so"

# error= is not echoed raw into a log.
callback b1 1002
st=$(sed 's/.*state=\([^&]*\).*/\1/' "$T/qs")
printf '%s\n' "error=%1b%5b31mX%0aforged&state=$st" >"$T/q"
expect_in 77 "an unknown error= from FreeAgent" "$T/q" fa-exchange
unlike "$T/err" "forged" "its value is not echoed"

# Wrong client secret: a configuration problem, not a crash.
cp "$T/local.secret" "$T/good.secret"
echo wrong-secret >"$T/local.secret"
callback b1 1002
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 78 "wrong client secret" "$T/q" fa-exchange
like "$T/err" "client_secret_file" "message points at the configuration"
cp "$T/good.secret" "$T/local.secret"
chmod 644 "$T/local.secret"
callback b1 1002
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 78 "a loose secret file is refused" "$T/q" fa-exchange
chmod 600 "$T/local.secret"

# Reconnect: the same company keeps the binding, another is refused.
v0=$(fa-vault show b1 | jq .tokver)
connect b1 1002
ok $? "reconnect to the same company"
[ "$(fa-vault show b1 | jq .tokver)" -eq $((v0 + 1)) ]; ok $? "new tokens stored"
fa-vault token b1 >"$T/before"
callback b1 1001
printf '%s\n' "$(cat "$T/qs")" | fa-exchange >"$T/b2" 2>/dev/null
expect_in 77 "reconnect to another company refused" "$T/b2" fa-vault store
like "$T/err" "Beta Books LLP.*Acme Widgets Ltd" "message names both"
fa-vault token b1 | cmp -s - "$T/before"; ok $? "old tokens kept"

# Bad input to fa-authurl.
expect 66 "unknown binding" fa-authurl nope
expect 66 "another tenant's binding" fa-authurl -t other b1
expect 0 "own tenant's binding" fa-authurl -t acme b1
expect 65 "bad binding name" fa-authurl 'a/b'
expect 64 "no binding" fa-authurl
expect 0 "-j prints url, state and expiry" fa-authurl -j b1
jq -e '(.url|startswith("http")) and (.state|length) == 43 and
    .expires_at > now + 500 and .expires_at <= now + 601' "$T/out" >/dev/null
ok $? "-j: a 10-minute state"

# A disconnected binding connects again.
rec=$(rawdb "$FA_CONFIG" bindings get c1 | xxd -r -p |
    jq -c '.status = "disconnected"' | od -An -tx1 | tr -d ' \n')
rawdb "$FA_CONFIG" bindings put c1 "$rec"
connect c1 1003
ok $? "a disconnected binding reconnects"
[ "$(fa-vault show c1 | jq -r .status)" = connected ]; ok $? "connected again"

# FreeAgent down while exchanging: 75, the state is spent.
callback b1 1002
ctl POST fault '{"path":"/v2/token_endpoint","kind":"503","count":1}' >/dev/null
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 75 "token endpoint 503: temporary" "$T/q" fa-exchange
like "$T/err" "start again" "message says the connect must start again"
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 65 "the state is spent" "$T/q" fa-exchange
callback b1 1002
ctl POST fault '{"path":"/v2/token_endpoint","kind":"reset","count":1}' >/dev/null
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 75 "connection reset: temporary" "$T/q" fa-exchange
callback b1 1002
ctl POST fault '{"path":"/v2/token_endpoint","kind":"malformed","count":1}' >/dev/null
printf '%s\n' "$(cat "$T/qs")" >"$T/q"
expect_in 75 "malformed token response: temporary" "$T/q" fa-exchange

# A terminal never gets the bundle.
callback b1 1002
script -qec "QUERY_STRING='$(cat "$T/qs")' fa-exchange" /dev/null >"$T/tty" 2>&1
like "$T/tty" "refusing to print tokens to a terminal" "refuses a terminal"

# With stdout closed the bundle must not land in whatever file the vault
# opened on fd 1.
callback b1 1002
printf '%s\n' "$(cat "$T/qs")" | fa-exchange 1>&- 2>/dev/null
ctl GET tokens | jq -r '.refresh_tokens[].token, .access_tokens[].token' >"$T/now"
grep -rlF -f "$T/now" "$T/vault" >"$T/found"
[ ! -s "$T/found" ]; ok $? "stdout closed: no token in any vault file"
diag "$T/found"

# The audit log saw it all, and no secret.
fa-vault log b1 >"$T/log"
like "$T/log" '"outcome":"declined"' "declines are audited"
like "$T/log" '"event":"authurl"' "connect starts are audited"
ctl GET tokens >"$T/tokens"
jq -r '.refresh_tokens[].token, .access_tokens[].token' "$T/tokens" >"$T/secrets"
echo "$SEC" >>"$T/secrets"
# A company name with control characters (a forged log line, a terminal
# escape, a C1 CSI) is stored without them, and no message carries them.
ctl GET fixture | jq -c '(.companies[] | select(.id == "1003" or .id == 1003) |
    .name) = "Beta\r\n2026-01-01 password accepted for user root\u001b[2J\u009bX"' >"$T/fx"
ctl POST fixture "$(cat "$T/fx")" >/dev/null
fa-vault add -t acme ev magento=ev.example && connect ev 1003
ok $? "a company with control characters in its name connects"
fa-vault show ev | jq -r .company.name >"$T/name"
[ "$(wc -l <"$T/name")" -eq 1 ] && ! LC_ALL=C grep -q "$(printf '[\001-\037\177]')" "$T/name" &&
    ! grep -q "$(printf '\302[\200-\237]')" "$T/name" && grep -q 'root?\[2J??X' "$T/name"
ok $? "its name is stored with each control character made ?"
diag "$T/name"
callback ev 1002
printf '%s\n' "$(cat "$T/qs")" | fa-exchange >"$T/b3" 2>/dev/null
expect_in 77 "the company lock refuses another company" "$T/b3" fa-vault store
[ "$(wc -l <"$T/err")" -eq 1 ] && ! LC_ALL=C grep -q "$(printf '[\001-\011\013-\037\177]')" "$T/err"
ok $? "its message is one line, without a control character"
diag "$T/err"

grep -F -f "$T/secrets" "$T/log"
ok $(( $? == 0 )) "no token or secret in the audit log"
grep -rlF -f "$T/secrets" "$T/vault"
ok $(( $? == 0 )) "no token or secret in the vault files"
done_testing
