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
tr -d '\r' <"$T/h" | grep -qx 'Location: /dashboard/bindings?done=connected&binding=b3'
ok $? "to the bindings page, with the message that names it"
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
get acme:pw-a "/dashboard/bindings?done=connected&binding=b3" >/dev/null
like "$T/b" 'three.example.com &harr; FreeAgent Gamma Trading' "the green row"
like "$T/b" '<p class="flash" role="status">Connected to Gamma Trading</p>' "and the message: connected to the company"
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
	sed -n "s/.*<select id=\"$1\" name=\"$1\">\([^/]*\(\/[^s][^/]*\)*\)<\/select>.*/\1/p" "$T/b" |
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
like "$T/b" '<td>Connected to Gamma Trading</td>' "recent audit events, in plain words"
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
get acme:pw-a "/dashboard/bindings?done=disconnected" >/dev/null
like "$T/b" 'three.example.com &mdash; disconnected' "the bindings page says so"
like "$T/b" 'class="flash" role="status">Disconnected: now remove the app in FreeAgent under Settings &rarr; Connected apps<' "with the message what to do in FreeAgent"

# Messages are named, never reflected: an unknown one, or one about
# another tenant's binding, says nothing.
get acme:pw-a "/dashboard/bindings?done=%3Cscript%3E" >/dev/null
unlike "$T/b" 'class="flash"|<script' "an unknown message: none shown"
get acme:pw-a "/dashboard/bindings?done=added&binding=c1" >/dev/null
unlike "$T/b" 'class="flash"|c\.example\.com' "a message about another tenant's binding: none"

# Sync history: the binding's events in plain words, newest first.
[ "$(get acme:pw-a /dashboard/bindings/b3/history)" = 200 ]; ok $? "b3's sync history"
like "$T/b" '<td>Connected to Gamma Trading</td>' "says it connected to the company"
ncat=$(jq '.income_categories | length' "$T/c3")
nbank=$(jq '.bank_accounts | length' "$T/c3")
like "$T/b" "<td>Reference data refreshed \\($ncat categories, $nbank bank accounts\\)</td>" "and what reference data came ($ncat categories, $nbank bank accounts)"
like "$T/b" '<td>Disconnected</td>' "and the disconnect"
[ "$(grep -o '<td>[^<]*</td></tr>' "$T/b" | head -n 1)" = '<td>Disconnected</td></tr>' ]
ok $? "newest first"
unlike "$T/b" '<td>job' "the keeper's own records left out"
get acme:pw-a /dashboard/bindings/b1 >/dev/null
like "$T/b" 'href="/dashboard/bindings/b1/history">Sync history</a>' "[Sync history] links to it"
[ "$(get other:pw-o /dashboard/bindings/b3/history)" = 404 ]; ok $? "another tenant's history: 404"
[ "$(get acme:pw-a /dashboard/bindings/nope/history)" = 404 ]; ok $? "no such binding's: 404"
[ "$(get acme:pw-a '/dashboard/bindings/b3/history?page=x')" = 404 ]; ok $? "a page that is not a number: 404"
# 120 events: three pages of 50, 50 and 20.
fa-vault add -t acme h1 magento=h.example.com
for i in $(seq 119); do fa-vault set h1 magento=h$i.example.com || break; done
[ "$(fa-vault log h1 | wc -l)" -eq 120 ]; ok $? "a binding with 120 events"
rows() { grep -c '^<tr><td>' "$T/b"; }
get acme:pw-a /dashboard/bindings/h1/history >/dev/null
[ "$(rows)" -eq 50 ]; ok $? "the first page: 50 of them"
like "$T/b" 'rel="next" href="/dashboard/bindings/h1/history\?page=1">Older events' "and a link to older ones"
unlike "$T/b" 'rel="prev"' "none to newer"
get acme:pw-a '/dashboard/bindings/h1/history?page=1' >/dev/null
[ "$(rows)" -eq 50 ] && grep -q 'rel="prev" href="/dashboard/bindings/h1/history">Newer events' "$T/b" &&
    grep -q 'rel="next" href="/dashboard/bindings/h1/history?page=2"' "$T/b"
ok $? "the second: 50, with links both ways"
get acme:pw-a /dashboard/bindings/h1 >/dev/null
[ "$(rows)" -eq 10 ] && [ "$(grep '^<tr><td>' "$T/b" | head -n 1 | grep -o '<td>[^<]*</td></tr>')" = '<td>Settings changed</td></tr>' ]
ok $? "the binding's own page: its ten newest events, newest first"
get acme:pw-a /dashboard/bindings/b3 >/dev/null
[ "$(grep '^<tr><td>' "$T/b" | head -n 1 | grep -o '<td>[^<]*</td></tr>')" = '<td>Disconnected</td></tr>' ]
ok $? "b3's page starts with its disconnect"
get acme:pw-a '/dashboard/bindings/h1/history?page=2' >/dev/null
[ "$(rows)" -eq 20 ] && ! grep -q 'rel="next"' "$T/b" &&
    grep -q 'rel="prev" href="/dashboard/bindings/h1/history?page=1"' "$T/b"
ok $? "the third: the last 20, no older"
[ "$(grep -o '<td>[^<]*</td></tr>' "$T/b" | tail -n 1)" = '<td>Binding added</td></tr>' ]
ok $? "ending with the oldest: the binding added"

# The home page: a tile per state, or the call to connect.
get acme:pw-a /dashboard/ >/dev/null
fa-vault ls -t acme >"$T/ls"
for st in connected:Connected pending:Pending needs_reconnect:"Reconnect needed"; do
	want=$(jq -rs --arg s "${st%%:*}" '[.[] | select(.status == $s)] | length' "$T/ls")
	grep -q "class=\"st [a-z]*\">${st#*:}</span><b>$want</b>" "$T/b" || echo "${st#*:} $want"
done >"$T/tiles"
[ ! -s "$T/tiles" ]; ok $? "acme's home: connected, pending and needs-reconnect counts"
diag "$T/tiles"
unlike "$T/b" 'Connect your FreeAgent account' "and no first-run call"
like "$T/b" '<main>' "the page has a main landmark"
like "$T/b" '<nav aria-label="Dashboard">' "and navigation"

# New binding: a POST with the CSRF token, within the plan's limits.
cat >>"$T/fa.conf" <<-CONF
	plan.two.companies = 1
	plan.two.bindings = 2
	CONF
fa-vault tenant add lim plan=two
printf 'lim:pw-l\n' >>"$T/users"
[ "$(get lim:pw-l /dashboard/)" = 200 ]; ok $? "a new tenant's home"
like "$T/b" 'Connect your FreeAgent account' "calls it to connect"
like "$T/b" 'href="/dashboard/new-binding">New binding' "through New binding"
get lim:pw-l /dashboard/bindings >/dev/null
like "$T/b" 'class="button" href="/dashboard/new-binding">New binding' "the bindings page has the New binding button"
like "$T/b" '0 of 1 FreeAgent company, 0 of 2 websites' "and the plan's use"
get lim:pw-l /dashboard/new-binding >/dev/null
like "$T/b" '<label for="magento">Magento host</label><input id="magento"' "the form labels the Magento host"
like "$T/b" '<label for="binding">Binding name</label><input id="binding"' "and the binding's name"
ntok=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/b")
post() { curl -sS -u "$1" -D "$T/h" -o "$T/b" -w '%{http_code}' --data "$3" "$WEB$2"; }
[ "$(post lim:pw-l /dashboard/new-binding 'binding=l1&magento=l1.example.com')" = 403 ] &&
    ! fa-vault show l1 >/dev/null 2>&1
ok $? "New binding without the CSRF token: refused, nothing added"
[ "$(post lim:pw-l /dashboard/new-binding "binding=l1&magento=l1.example.com&csrf=$ntok")" = 303 ] &&
    tr -d '\r' <"$T/h" | grep -qx 'Location: /dashboard/bindings?done=added&binding=l1'
ok $? "with it: 303 to the bindings page"
[ "$(fa-vault show l1 | jq -r '.tenant + " " + .status + " " + .magento')" = "lim pending l1.example.com" ]
ok $? "the new binding is lim's, pending"
get lim:pw-l "/dashboard/bindings?done=added&binding=l1" >/dev/null
like "$T/b" 'role="status">Added Magento l1.example.com: now connect FreeAgent' "the page says so"
like "$T/b" 'href="/dashboard/connect-freeagent\?binding=l1">Connect FreeAgent' "with the connect call"
like "$T/b" '0 of 1 FreeAgent company, 1 of 2 websites' "the plan's use counts it"
[ "$(post lim:pw-l /dashboard/new-binding "binding=b1&magento=x.example.com&csrf=$ntok")" = 409 ] &&
    [ "$(fa-vault show b1 | jq -r .tenant)" = acme ]
ok $? "a name taken: refused, the other binding untouched"
[ "$(post lim:pw-l /dashboard/new-binding "binding=l9&magento=not%20a%20host&csrf=$ntok")" = 400 ] &&
    ! fa-vault show l9 >/dev/null 2>&1
ok $? "a host that is not one: refused"
[ "$(post lim:pw-l /dashboard/new-binding "binding=l2&magento=l2.example.com&csrf=$ntok")" = 303 ]
ok $? "a second binding: the plan allows it"
[ "$(post lim:pw-l /dashboard/new-binding "binding=l3&magento=l3.example.com&csrf=$ntok")" = 403 ]
ok $? "a third: over the plan's limit, refused"
like "$T/b" 'Your plan allows 2 Magento websites; you have 2' "naming the limit"
! fa-vault show l3 >/dev/null 2>&1 && [ "$(fa-vault ls -t lim | wc -l)" -eq 2 ]
ok $? "and nothing added"
[ "$(post acme:pw-a /dashboard/new-binding "binding=l4&magento=l4.example.com&csrf=$ntok")" = 403 ] &&
    ! fa-vault show l4 >/dev/null 2>&1
ok $? "another tenant's CSRF token: refused"

# Every page so far, secrets aside: no token in any.
for u in acme:pw-a lim:pw-l; do
	for p in / /bindings /new-binding /bindings/b3/history /bindings/h1/history; do
		get $u /dashboard$p >/dev/null; cat "$T/b"
	done
done >"$T/pages"
ctl GET tokens | jq -r '.refresh_tokens[].token, .access_tokens[].token' >"$T/secrets"
! grep -F -f "$T/secrets" "$T/pages"; ok $? "no token on the new pages"
done_testing
