#!/bin/sh
# make demo's script: it starts the stand-in and lighttpd, prints a
# dashboard URL that works, and stops everything it started.
. "$(dirname "$0")/lib.sh"

"$TOP/t/demo" >"$T/demo.out" 2>&1 &
demo=$!
i=0
until grep -q 'dashboard/' "$T/demo.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 1000 ] && kill -0 $demo 2>/dev/null || break
	sleep 0.01
done
url=$(grep -o 'http://127.0.0.1:[0-9]*/dashboard/$' "$T/demo.out")
[ -n "$url" ]; ok $? "the demo prints the dashboard URL"
curl -sS -u demo:demo "$url" >"$T/page"
like "$T/page" 'Connect your FreeAgent account' "its home page calls the merchant to connect"
like "$T/page" '0 of 2 FreeAgent companies, 2 of 3 websites' "and shows the demo plan's use"
curl -sS -u demo:demo "${url}bindings" >"$T/page"
like "$T/page" 'your-shop.example.com &mdash; FreeAgent not connected yet' "the page answers, a pending binding on it"
like "$T/page" 'Connect FreeAgent' "with the Connect FreeAgent button"
murl=$(grep -o 'http://127.0.0.1:[0-9]*/metrics' "$T/demo.out")
curl -sS -D "$T/mh" "$murl" >"$T/metrics"
like "$T/metrics" '^fa_bindings\{status="pending",endpoint="local"\} 2$' "the demo serves its metrics"
like "$T/mh" 'Content-Type: text/plain' "as text"
kill -TERM $demo
wait $demo
pgrep -f "fa-demo" >"$T/left"
[ ! -s "$T/left" ]; ok $? "stopping it stops the servers it started"
dir=$(sed -n 's/.*its files are in //p' "$T/demo.out")
[ -n "$dir" ] && [ -s "$dir/vault/meta.db" ]; ok $? "and says where its files are"
case $dir in */fa-demo.*) rm -rf "$dir";; esac
done_testing
