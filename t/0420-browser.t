#!/bin/sh
# The dashboard in a real browser (headless Chromium from Debian, driven
# by playwright-core): a tenant with nothing bound adds a binding with
# the New binding form, connects it, picking a company on the consent
# page (the green row), opens the settings dropdowns and the sync
# history, and disconnects. The home, bindings, settings and history
# pages at 390 and 1280 px wide: a full-page screenshot of each (into
# t/out/), none scrolls sideways on a phone, and axe-core finds nothing
# serious or critical in any. As deployed: the keeper as the vault's
# user, lighttpd and the dashboard as the web server's (t/lib.sh
# privsep).
. "$(dirname "$0")/lib.sh"
# make check-asan: t/0400 drives every page and form of the dashboard
# through the sanitizers; what this adds is the browser's view.
if [ "$B" != "$TOP" ]; then
	echo "1..0 # SKIP the browser's view; t/0400 runs the same C"
	exit 0
fi

privsep
printf 'acme:pw-a\n' >"$T/users"
webserver
sed -i "s|^redirect_uri = .*|redirect_uri = $WEB/dashboard/freeagent-callback|" "$FA_CONFIG"
fa-vault tenant add acme && [ -z "$(fa-vault ls -t acme)" ]
ok $? "a tenant with nothing bound yet"
pgrep -u $WU -x lighttpd >/dev/null && [ "$(ps -o user= -p "$(cat "$T/vault/lock")")" = $VU ]
ok $? "lighttpd runs as $WU, the keeper as $VU"
ctl GET fixture >"$T/fx"
co=$(jq -r '.companies[] | select(.id == "1002" or .id == 1002) | .name' "$T/fx")

mkdir -p "$T/shots"
node "$TOP/t/browser/flow.js" "$WEB" acme pw-a b1 shop.example.com 1002 "$T/shots" >"$T/flow" 2>"$T/flow.err"
ok $? "the browser went through the flow"
diag "$T/flow.err"
grep '"step":"error"' "$T/flow" | sed 's/^/# /'
step() { jq -r --arg s "$1" 'select(.step == $s) | .'"$2" "$T/flow"; }
[ "$(step home title)" = "Home - fa" ] &&
    step home text | grep -q 'Connect your FreeAgent account'
ok $? "the home page asks a tenant with nothing connected to connect"
step bindings url | grep -q '/dashboard/bindings?done=added&binding=b1$' &&
    [ "$(step bindings flash)" = "Added Magento shop.example.com: now connect FreeAgent." ]
ok $? "the New binding form lands on the bindings page: Added Magento shop.example.com"
step bindings text | grep -q 'FreeAgent not connected yet'
ok $? "first the pending binding and its banner"
step consent url | grep -q "^$SI/v2/approve_app"
ok $? "the button led to FreeAgent's consent page"
step connected text | grep -qF "Magento shop.example.com ↔ FreeAgent $co"
ok $? "back on the bindings page: the green row, with the company picked ($co)"
step connected url | grep -q '/dashboard/bindings?done=connected&binding=b1$' &&
    [ "$(step connected flash)" = "Connected to $co" ]
ok $? "and the message: Connected to $co"
want=$(jq -r '.companies[] | select(.id == "1002" or .id == 1002) | .income_categories[0].description' "$T/fx")
step settings 'cats[]' | grep -qxF "$want"
ok $? "the settings page lists the stand-in's income categories ($want)"
want=$(jq -r '.companies[] | select(.id == "1002" or .id == 1002) | .bank_accounts[0].name' "$T/fx")
step settings 'banks[]' | grep -qxF "$want"
ok $? "and its bank accounts ($want)"
step history url | grep -q '/dashboard/bindings/b1/history$' &&
    [ "$(step history 'head | join("|")')" = "When (UTC)|What happened" ] &&
    step history 'rows[][1]' | grep -qxF "Connected to $co"
ok $? "Sync history: a row says Connected to $co"
step disconnected text | grep -q 'disconnected'
ok $? "Disconnect leaves a disconnected row"
[ "$(fa-vault show b1 | jq -r .status)" = disconnected ]; ok $? "and the vault agrees"

# pngwidth FILE: the width a PNG's header gives; nothing if not a PNG.
pngwidth() {
	[ "$(od -An -tx1 -N16 "$1" 2>/dev/null | tr -d ' \n')" = \
	    89504e470d0a1a0a0000000d49484452 ] || return 1
	set -- $(od -An -tu1 -j16 -N4 "$1")
	echo $(($1 << 24 | $2 << 16 | $3 << 8 | $4))
}
[ -n "$(pngwidth "$T/shots/bindings.png")" ]; ok $? "a screenshot of the bindings page"
mkdir -p "$TOP/t/out"
for w in 390 1280; do
	for p in home bindings settings history; do
		f=$p-$w.png
		rm -f "$TOP/t/out/$f"
		got=$(pngwidth "$T/shots/$f")
		[ "$got" = $w ] && cp "$T/shots/$f" "$TOP/t/out/$f"
		ok $? "t/out/$f: a PNG $w px wide${got:+ (got $got)}"
	done
done
cp "$T/shots/bindings.png" "$TOP/t/out/bindings.png"
echo "# screenshots: t/out/bindings.png (after Disconnect), t/out/{home,bindings,settings,history}-{390,1280}.png"

for p in home bindings settings history; do
	jq -r --arg p $p 'select(.step == "shot" and .page == $p and .width == 390) |
	    "\(.scrollWidth) \(.innerWidth)"' "$T/flow" >"$T/w"
	read -r sw iw <"$T/w"
	[ -n "${sw:-}" ] && [ "$sw" -le "$iw" ]
	ok $? "at 390 px the $p page does not scroll sideways (scrollWidth ${sw:-?}, window ${iw:-?})"
done

# axe-core on each page at each size: nothing serious or critical. Every
# violation, whatever its impact, is told with its first node.
for w in 390 1280; do
	for p in home bindings settings history; do
		jq -c --arg p $p --argjson w $w \
		    'select(.step == "axe" and .page == $p and .width == $w)' \
		    "$T/flow" >"$T/axe"
		jq -r '.violations[] | "axe: \(.id) (\(.impact)), \(.nodes) node(s): \(.help)\n  first: \(.target)\n  html: \(.html[0:300])\n  \(.summary | gsub("\n"; "\n  "))"' \
		    "$T/axe" >"$T/axe.txt"
		bad=$(jq '[.violations[] | select(.impact == "serious" or .impact == "critical")] | length' "$T/axe")
		[ -s "$T/axe" ] && [ "$bad" -eq 0 ]
		ok $? "axe: no serious or critical violation on the $p page at $w px ($(jq '.passes' "$T/axe") rules pass, ${bad:-?} serious or critical)"
		diag "$T/axe.txt"
	done
done
done_testing
