#!/bin/sh
# The dashboard through a real web server (lighttpd): the bindings page,
# one binding, tenant isolation, escaping, security headers.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
printf 'acme:pw-a\nother:pw-o\n' >"$T/users"
webserver
# A company whose name is a script.
ctl GET fixture | jq -c '.companies[1].name = "<script>alert(1)</script>"' >"$T/fx"
ctl POST fixture "$(cat "$T/fx")" >/dev/null
fa-vault tenant add acme && fa-vault tenant add other &&
    fa-vault add -t acme b1 magento=shop.example.com && connect b1 1001 &&
    fa-vault add -t acme b2 magento=two.example.com && connect b2 1002 &&
    fa-vault add -t acme p1 magento=pending.example.com &&
    fa-vault add -t other c1 magento=c.example.com
ok $? "two tenants, bindings connected and pending"

get() { curl -sS -u "$1" -D "$T/h" -o "$T/b" -w '%{http_code}' "$WEB$2"; }
[ "$(get acme:pw-a /dashboard/bindings)" = 200 ]; ok $? "the bindings page"
like "$T/b" 'Magento shop.example.com &harr; FreeAgent Acme Widgets Ltd' "the green row"
like "$T/b" 'pending.example.com &mdash; FreeAgent not connected yet' "the pending banner"
like "$T/b" '&lt;script&gt;alert\(1\)&lt;/script&gt;' "a script company name is escaped"
unlike "$T/b" '<script>' "and never raw"
unlike "$T/b" 'c.example.com' "another tenant's bindings are not listed"
tr -d '\r' <"$T/h" >"$T/hh"
like "$T/hh" "^Content-Security-Policy: default-src 'none'" "CSP header"
like "$T/hh" "^Content-Security-Policy: .*form-action 'self'" "which keeps forms to this site"
unlike "$T/hh" "unsafe-inline" "and allows no inline style or script"
like "$T/b" '<link rel="stylesheet" href="/dashboard/static/fa.css">' "the page links the stylesheet"
unlike "$T/b" '<style|style=' "and has no style of its own"
[ "$(get acme:pw-a /dashboard/static/fa.css)" = 200 ] &&
    tr -d '\r' <"$T/h" | grep -qx 'Content-Type: text/css; charset=utf-8' &&
    grep -q '^body{' "$T/b"
ok $? "the stylesheet is served as text/css"
like "$T/hh" '^X-Frame-Options: DENY' "X-Frame-Options"
like "$T/hh" '^Referrer-Policy: no-referrer' "Referrer-Policy"
[ "$(get acme:pw-a /dashboard/bindings/b1)" = 200 ]; ok $? "one binding"
[ "$(get other:pw-o /dashboard/bindings/b1)" = 404 ]; ok $? "another tenant's binding: 404"
[ "$(get acme:pw-a /dashboard/bindings/nope)" = 404 ]; ok $? "no such binding: 404, the same"
[ "$(get acme:wrong /dashboard/bindings)" = 401 ]; ok $? "no page without authentication"
[ "$(curl -s -D "$T/hh" -o /dev/null -w '%{http_code}' -u acme:pw-a --data '' "$WEB/dashboard/bindings")" = 405 ]
ok $? "no POST where there is nothing to change"
like "$T/hh" '^Allow: GET\s*$' "405 says what is allowed"
[ "$(curl -s -D "$T/h" -o /dev/null -w '%{http_code}' -u acme:pw-a -X PUT "$WEB/dashboard/settings/b1")" = 405 ] &&
    tr -d '\r' <"$T/h" | grep -qx 'Allow: GET, POST'
ok $? "a settings page's 405 allows GET, POST"
[ "$(curl -s -D "$T/h" -o /dev/null -w '%{http_code}' -u acme:pw-a "$WEB/dashboard/bindings/b1/disconnect")" = 405 ] &&
    tr -d '\r' <"$T/h" | grep -qx 'Allow: POST'
ok $? "Disconnect's 405 allows POST"
ctl GET tokens | jq -r '.refresh_tokens[].token, .access_tokens[].token' >"$T/secrets"
for b in b1 b2; do get acme:pw-a /dashboard/bindings/$b >/dev/null; cat "$T/b"; done >"$T/pages"
get acme:pw-a /dashboard/bindings >/dev/null; cat "$T/b" >>"$T/pages"
grep -F -f "$T/secrets" "$T/pages" "$T/lighttpd.err"
ok $(( $? == 0 )) "no token in any page or the web server's log"

# The connect flow in the browser's shoes (curl with a cookie jar).
fa-vault add -t acme b3 magento=three.example.com
ctl POST consent '{"mode":"approve","company":"1003"}' >/dev/null

J="$T/jar"
curl -sS -c "$J" -b "$J" -u acme:pw-a "$WEB/dashboard/connect-freeagent?binding=b3" >"$T/form"
like "$T/form" 'Connect FreeAgent</button>' "the Connect FreeAgent button"
tok=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/form")
[ ${#tok} -eq 43 ]; ok $? "the form carries a CSRF token"
code=$(curl -sS -c "$J" -b "$J" -u acme:pw-a -o /dev/null -w '%{http_code}' \
    --data "binding=b3" "$WEB/dashboard/connect-freeagent")
[ "$code" = 403 ]; ok $? "a POST without the CSRF token is refused"
curl -sS -c "$J" -b "$J" -u acme:pw-a -D "$T/h" -o /dev/null \
    --data "binding=b3&csrf=$tok" "$WEB/dashboard/connect-freeagent"
tr -d '\r' <"$T/h" >"$T/hh"
like "$T/hh" '^Set-Cookie: fa_state=[A-Za-z0-9_-]{43}; Path=/dashboard/; Max-Age=600; HttpOnly; SameSite=Lax' "the state cookie"
loc=$(sed -n 's/^Location: //p' "$T/hh")
case $loc in "$SI/v2/approve_app?"*) ok 0 "303 to FreeAgent's consent page" ;;
*) ok 1 "303 to FreeAgent's consent page"; echo "# $loc" ;; esac
cb=$(curl -sS -o /dev/null -w '%{redirect_url}' "$loc")
qs=${cb#*\?}
# Another browser (no cookie) cannot finish it.
code=$(curl -sS -u acme:pw-a -o "$T/b" -w '%{http_code}' "$WEB/dashboard/freeagent-callback?$qs")
[ "$code" = 400 ]; ok $? "the callback without the state cookie is refused"
like "$T/b" 'not started in this browser' "with a readable page"
# The merchant is answered once the tokens are stored; the reference
# data (its categories slowed to 3 s here) comes after.
ctl POST config '{"latency":{"/v2/categories":3000}}' >/dev/null
code=$(curl -sS -c "$J" -b "$J" -u acme:pw-a -D "$T/h" -o /dev/null -w '%{http_code}' \
    "$WEB/dashboard/freeagent-callback?$qs")
[ "$code" = 303 ]; ok $? "the callback with the cookie: 303"
fa-prefetch -s b3 >/dev/null 2>&1
[ $? -eq 1 ]; ok $? "answered before the reference data is in"
[ "$(fa-vault show b3 | jq -r '.status + " " + .company.id')" = "connected 1003" ]
ok $? "b3 connected to the company picked"
get acme:pw-a /dashboard/bindings/b3 >/dev/null
like "$T/b" 'Reference data</th><td>loading' "its page says the reference data is loading"
# That fa-prefetch, which outlives the request, holds no code.
pf=$(pgrep -f 'fa-prefetch .*-- b3' | head -n 1)
[ -n "$pf" ] && tr '\0' '\n' <"/proc/$pf/environ" >"$T/pfenv" && ! grep -q 'code=' "$T/pfenv"
ok $? "the reference data's fetch, running on, has no code in its environment"
grep 'code=' "$T/pfenv" | cut -c1-60 | sed 's/^/# /'
i=0
until fa-prefetch -s b3 >"$T/c3" 2>/dev/null || [ $i -ge 300 ]; do
	i=$((i + 1)); sleep 0.1
done
jq -e '.company.name == "Gamma Trading"' "$T/c3" >/dev/null
ok $? "and then it is fetched"
ctl POST config '{"latency":{}}' >/dev/null
get acme:pw-a /dashboard/bindings >/dev/null
like "$T/b" 'three.example.com &harr; FreeAgent Gamma Trading' "the green row"
code=$(curl -sS -c "$J" -b "$J" -u acme:pw-a -o "$T/b" -w '%{http_code}' \
    "$WEB/dashboard/freeagent-callback?$qs")
[ "$code" = 400 ]; ok $? "the same callback again is refused"

# HTTPS as a server may spell it (ON): the state cookie is Secure, even
# from this host.
get acme:pw-a "/dashboard/connect-freeagent?binding=b3" >/dev/null
tr -d '\r' <"$T/h" | grep -q "^Content-Security-Policy: .*form-action 'self'[^;]* $SI[ ;]"
ok $? "the connect form may go on to the consent page's origin"
tk=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/b")
body="binding=b3&csrf=$tk"
printf '%s' "$body" | env -i FA_CONFIG="$FA_CONFIG" GATEWAY_INTERFACE=CGI/1.1 \
    REQUEST_METHOD=POST CONTENT_LENGTH=${#body} PATH_INFO=/connect-freeagent \
    REMOTE_USER=acme REMOTE_ADDR=127.0.0.1 HTTPS=ON "$B/cgi-bin/fa-dashboard" >"$T/cgi.out"
tr -d '\r' <"$T/cgi.out" | grep -q '^Set-Cookie: fa_state=.*; Secure$'
ok $? "HTTPS=ON: the state cookie is Secure"
diag "$T/cgi.out"

# A wrong CSRF token; another tenant finishing acme's connect; declined.
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' \
    --data "binding=b3&csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$WEB/dashboard/connect-freeagent")
[ "$code" = 403 ]; ok $? "a wrong CSRF token is refused"
fa-vault add -t acme b4 magento=four.example.com
J2="$T/jar2"
# browse B [USER:PASS]: start B's connect through the pages as acme,
# finish it (the callback) as USER (acme by default), with acme's cookie
# jar; the callback's status in $code, its page in $T/b.
browse() {
	curl -sS -c "$J2" -b "$J2" -u acme:pw-a "$WEB/dashboard/connect-freeagent?binding=$1" >"$T/form"
	_tok=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/form")
	_loc=$(curl -sS -c "$J2" -b "$J2" -u acme:pw-a -o /dev/null -w '%{redirect_url}' \
	    --data "binding=$1&csrf=$_tok" "$WEB/dashboard/connect-freeagent")
	_qs=$(curl -sS -o /dev/null -w '%{redirect_url}' "$_loc"); _qs=${_qs#*\?}
	code=$(curl -sS -c "$J2" -b "$J2" -u "${2:-acme:pw-a}" -o "$T/b" -w '%{http_code}' \
	    "$WEB/dashboard/freeagent-callback?$_qs")
}
browse b4 other:pw-o
[ "$code" = 400 ] && [ "$(fa-vault show b4 | jq -r .status)" = pending ]
ok $? "another tenant with acme's state and cookie: refused, nothing changed"
ctl POST consent '{"mode":"decline"}' >/dev/null
browse b4
[ "$code" = 403 ]; ok $? "declined consent: a page, not an error"
like "$T/b" 'declined' "that says it was declined"
ctl POST consent '{"mode":"approve","company":"1003"}' >/dev/null
ctl POST consent '{"mode":"approve","company":"1002"}' >/dev/null
browse b1
[ "$code" = 403 ] && grep -q 'locked to another' "$T/b"
ok $? "reconnecting b1 to another company: a page that says it is locked"
[ "$(fa-vault show b1 | jq -r .company.id)" = 1001 ]; ok $? "b1 keeps its company"
ctl POST consent '{"mode":"approve","company":"1003"}' >/dev/null
ctl POST fault '{"path":"/v2/token_endpoint","kind":"503","count":1}' >/dev/null
browse b4
[ "$code" = 503 ] && grep -q 'FreeAgent could not be reached' "$T/b"
ok $? "FreeAgent down: a page that says so"
[ "$(fa-vault show b4 | jq -r .status)" = pending ]; ok $? "b4 still pending"

# Settings: the dropdowns come from the reference cache; only its values
# are saved; saving and refreshing are POSTs with the CSRF token.
fa-prefetch b1 >"$T/cache1"
get acme:pw-a /dashboard/settings/b1 >/dev/null
cat1=$(jq -r '.income_categories[0].description' "$T/cache1")
bank1=$(jq -r '.bank_accounts[0].name' "$T/cache1")
like "$T/b" "$cat1" "the income categories dropdown has FreeAgent's categories"
like "$T/b" "$bank1" "the bank account dropdown has FreeAgent's accounts"
like "$T/b" '>Hours<' "the item-type map offers FreeAgent's item types"
# Each dropdown offers exactly its list: the payment methods' the
# accounts that take payments, so never a hidden one.
options() {	# options NAME: the values the dropdown NAME offers
	sed -n "s/.*<select name=\"$1\">\([^/]*\(\/[^s][^/]*\)*\)<\/select>.*/\1/p" "$T/b" |
	    grep -o 'option value="[^"]*"' | sed 's/.*value="\([^"]*\)"/\1/' |
	    grep .
}
options pay_checkmo >"$T/opts"
jq -r '.payment_targets[].url' "$T/cache1" >"$T/want"
jq -r '.bank_accounts[] | select(.status == "hidden") | .url' "$T/cache1" >"$T/hidden"
cmp -s "$T/opts" "$T/want" && [ -s "$T/hidden" ] && ! grep -qxF -f "$T/hidden" "$T/opts"
ok $? "a payment method's dropdown: the payment targets, no hidden account"
options default_income_category >"$T/opts"
jq -r '.income_categories[].url' "$T/cache1" | cmp -s - "$T/opts"
ok $? "the income category dropdown: every category, once"
options default_bank_account >"$T/opts"
jq -r '.bank_accounts[].url' "$T/cache1" | cmp -s - "$T/opts"
ok $? "the bank account dropdown: every account, once"
options item_bundle >"$T/opts"
jq -r '.item_types[]' "$T/cache1" | cmp -s - "$T/opts"
ok $? "an item type dropdown: every item type, once"
stok=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/b")
[ "$(get other:pw-o /dashboard/settings/b1)" = 404 ]; ok $? "another tenant's settings: 404"
caturl=$(jq -r '.income_categories[2].url' "$T/cache1")
bankurl=$(jq -r '.payment_targets[0].url' "$T/cache1")
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' \
    --data-urlencode "default_income_category=$caturl" "$WEB/dashboard/settings/b1")
[ "$code" = 403 ]; ok $? "saving without the CSRF token: refused"
# Before the token, as defence in depth: a form another site posts.
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' --data "csrf=$stok" \
    -H 'Origin: https://evil.example' \
    --data-urlencode "default_income_category=$(jq -r '.income_categories[1].url' "$T/cache1")" \
    "$WEB/dashboard/settings/b1")
[ "$code" = 403 ]; ok $? "a POST with another site's Origin: refused, its token good"
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' --data "csrf=$stok" \
    -H 'Sec-Fetch-Site: cross-site' \
    --data-urlencode "default_income_category=$(jq -r '.income_categories[1].url' "$T/cache1")" \
    "$WEB/dashboard/settings/b1")
[ "$code" = 403 ]; ok $? "a POST its browser calls cross-site: refused"
[ "$(fa-vault show b1 | jq -r '.settings.default_income_category // ""')" != \
    "$(jq -r '.income_categories[1].url' "$T/cache1")" ]; ok $? "and nothing saved"
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' --data "csrf=$stok" \
    --data-urlencode "default_income_category=http://evil.example/x" "$WEB/dashboard/settings/b1")
[ "$code" = 400 ]; ok $? "a value FreeAgent did not offer: refused"
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' --data "csrf=$stok" \
    --data-urlencode "default_income_category=$caturl" \
    --data-urlencode "pay_paypal_express=$bankurl" \
    --data-urlencode "item_virtual=Services" "$WEB/dashboard/settings/b1")
[ "$code" = 303 ]; ok $? "save: 303"
fa-vault show b1 | jq -e --arg c "$caturl" --arg b "$bankurl" '.settings.default_income_category == $c
    and .settings.pay_paypal_express == $b and .settings.item_virtual == "Services"' >/dev/null
ok $? "the choices are in the binding's settings"
fa-vault log b1 | grep -q '"event":"set"'; ok $? "and audited"
before=$(count 'GET /v2/categories')
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' --data "csrf=$stok&action=refresh" \
    "$WEB/dashboard/settings/b1")
[ "$code" = 303 ] && [ "$(count 'GET /v2/categories')" -gt "$before" ]
ok $? "Refresh reference data fetches it again"

# One binding: token health, reference data age, recent events; and the
# Disconnect button, a POST with the CSRF token.
get acme:pw-a /dashboard/bindings/b3 >/dev/null
like "$T/b" 'Access token expires' "token health on the binding page"
like "$T/b" 'Reference data fetched' "reference data age"
like "$T/b" 'connect: ok' "recent audit events"
tok=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/b")
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' --data '' \
    "$WEB/dashboard/bindings/b3/disconnect")
[ "$code" = 403 ]; ok $? "Disconnect without the CSRF token: refused"
[ "$(fa-vault show b3 | jq -r .status)" = connected ]; ok $? "and nothing changed"
code=$(curl -sS -u other:pw-o -o /dev/null -w '%{http_code}' --data "csrf=$tok" \
    "$WEB/dashboard/bindings/b3/disconnect")
[ "$code" = 403 ] || [ "$code" = 404 ]; ok $? "another tenant cannot disconnect it ($code)"
code=$(curl -sS -u acme:pw-a -o /dev/null -w '%{http_code}' --data "csrf=$tok" \
    "$WEB/dashboard/bindings/b3/disconnect")
[ "$code" = 303 ]; ok $? "Disconnect with the token: 303"
[ "$(fa-vault show b3 | jq -r .status)" = disconnected ]; ok $? "b3 disconnected"
get acme:pw-a /dashboard/bindings >/dev/null
like "$T/b" 'three.example.com &mdash; disconnected' "the bindings page says so"
done_testing
