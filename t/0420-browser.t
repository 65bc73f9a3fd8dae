#!/bin/sh
# The whole connect flow in a real browser (headless Chromium from
# Debian, driven by playwright-core): connect, pick a company on the
# consent page, the green row, the settings dropdowns, disconnect. As
# deployed: the keeper as the vault's user, lighttpd and the dashboard
# as the web server's (t/lib.sh privsep).
. "$(dirname "$0")/lib.sh"

privsep
printf 'acme:pw-a\n' >"$T/users"
webserver
sed -i "s|^redirect_uri = .*|redirect_uri = $WEB/dashboard/freeagent-callback|" "$FA_CONFIG"
fa-vault tenant add acme && fa-vault add -t acme b1 magento=shop.example.com
ok $? "a tenant with a pending binding"
pgrep -u $WU -x lighttpd >/dev/null && [ "$(ps -o user= -p "$(cat "$T/vault/lock")")" = $VU ]
ok $? "lighttpd runs as $WU, the keeper as $VU"

node "$TOP/t/browser/flow.js" "$WEB" acme pw-a b1 1002 "$T/bindings.png" >"$T/flow" 2>"$T/flow.err"
ok $? "the browser went through the flow"
diag "$T/flow.err"
grep '"step":"error"' "$T/flow" | sed 's/^/# /'
step() { jq -r --arg s "$1" 'select(.step == $s) | .'"$2" "$T/flow"; }
step bindings text | grep -q 'FreeAgent not connected yet'
ok $? "first the pending binding and its banner"
step consent url | grep -q "^$SI/v2/approve_app"
ok $? "the button led to FreeAgent's consent page"
step connected text | grep -q 'Magento shop.example.com ↔ FreeAgent Beta Books LLP'
ok $? "back on the bindings page: the green row, with the company picked"
ctl GET fixture >"$T/fx"
want=$(jq -r '.companies[] | select(.id == "1002" or .id == 1002) | .income_categories[0].description' "$T/fx")
step settings 'cats[]' | grep -qxF "$want"
ok $? "the settings page lists the stand-in's income categories ($want)"
want=$(jq -r '.companies[] | select(.id == "1002" or .id == 1002) | .bank_accounts[0].name' "$T/fx")
step settings 'banks[]' | grep -qxF "$want"
ok $? "and its bank accounts ($want)"
step disconnected text | grep -q 'disconnected'
ok $? "Disconnect leaves a disconnected row"
[ "$(fa-vault show b1 | jq -r .status)" = disconnected ]; ok $? "and the vault agrees"
[ -s "$T/bindings.png" ]; ok $? "a screenshot of the bindings page"
mkdir -p "$TOP/t/out" && cp "$T/bindings.png" "$TOP/t/out/bindings.png"
echo "# screenshot: t/out/bindings.png"
done_testing
