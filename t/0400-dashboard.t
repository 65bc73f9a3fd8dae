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
like "$T/hh" '^X-Frame-Options: DENY' "X-Frame-Options"
like "$T/hh" '^Referrer-Policy: no-referrer' "Referrer-Policy"
[ "$(get acme:pw-a /dashboard/bindings/b1)" = 200 ]; ok $? "one binding"
[ "$(get other:pw-o /dashboard/bindings/b1)" = 404 ]; ok $? "another tenant's binding: 404"
[ "$(get acme:pw-a /dashboard/bindings/nope)" = 404 ]; ok $? "no such binding: 404, the same"
[ "$(get acme:wrong /dashboard/bindings)" = 401 ]; ok $? "no page without authentication"
[ "$(curl -s -o /dev/null -w '%{http_code}' -u acme:pw-a --data '' "$WEB/dashboard/bindings")" = 405 ]
ok $? "no POST where there is nothing to change"
ctl GET tokens | jq -r '.refresh_tokens[].token, .access_tokens[].token' >"$T/secrets"
for b in b1 b2; do get acme:pw-a /dashboard/bindings/$b >/dev/null; cat "$T/b"; done >"$T/pages"
get acme:pw-a /dashboard/bindings >/dev/null; cat "$T/b" >>"$T/pages"
grep -F -f "$T/secrets" "$T/pages" "$T/lighttpd.err"
ok $(( $? == 0 )) "no token in any page or the web server's log"
done_testing
