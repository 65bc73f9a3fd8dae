#!/bin/sh
# fa-refresh --probe: one authenticated call (GET /v2/company) per
# connected binding. FreeAgent's 401 marks the binding needs_reconnect
# at once, runs the status hook, and counts in the metrics; a binding
# FreeAgent still answers for stays connected. --all probes every
# connected binding, spread over probe_spread seconds.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
cat >"$T/hook" <<'H'
#!/bin/sh
echo "$@" >>"$(dirname "$0")/hook.out"
H
chmod +x "$T/hook"
fa-vault tenant add acme &&
    fa-vault add -t acme q1 magento=one.example.com && connect q1 1001 &&
    fa-vault add -t acme q2 magento=two.example.com && connect q2 1002 &&
    fa-vault add -t acme q3 magento=three.example.com
ok $? "two bindings connected, one pending"
echo "status_hook = $T/hook" >>"$FA_CONFIG"
m() { fa-vault metrics | awk -v k="$1" '$1 == k { print $2 }'; }
c0=$(count 'GET /v2/company')
g0=$(count grant:refresh_token)
expect 0 "a probe of q1" fa-refresh --probe q1
[ "$(count 'GET /v2/company')" -eq $((c0 + 1)) ] && [ "$(count grant:refresh_token)" -eq "$g0" ]
ok $? "one call to /v2/company, no refresh (the token is fresh)"
[ "$(m 'fa_probes_total{outcome="ok"}')" = 1 ]; ok $? "counted ok"
# FreeAgent revokes q2's access: its token is not due, so no refresh
# would notice for up to an hour. The probe does.
ctl POST revoke '{"company":"1002"}' >/dev/null
expect 77 "a probe of q2, whose access FreeAgent revoked" fa-refresh --probe q2
like "$T/err" 'reconnect needed' "says a reconnect is needed"
[ "$(fa-vault show q2 | jq -r .status)" = needs_reconnect ]; ok $? "q2 needs a reconnect at once"
grep -qx 'q2 needs_reconnect' "$T/hook.out"; ok $? "the status hook ran"
[ "$(m 'fa_probes_total{outcome="needs_reconnect"}')" = 1 ]; ok $? "and the metrics count it"
fa-vault log q2 | tail -n 1 | jq -e '.event == "probe" and .outcome == "needs_reconnect"' >/dev/null
ok $? "audited as the probe's"
[ "$(fa-vault show q1 | jq -r .status)" = connected ]; ok $? "q1 stays connected"
expect 77 "a probe of a binding not connected: 77" fa-refresh --probe q3
like "$T/err" "not connected" "says so"
# --all: the connected bindings only, spread over probe_spread (0 here).
echo "probe_spread = 0" >>"$FA_CONFIG"
c0=$(count 'GET /v2/company')
expect 0 "--probe --all" fa-refresh --probe --all
want=$(fa-vault ls | jq -s '[.[] | select(.status == "connected")] | length')
[ "$(count 'GET /v2/company')" -eq $((c0 + want)) ]; ok $? "one call for each connected binding ($want)"
expect 64 "--probe with neither a binding nor --all" fa-refresh --probe
expect 64 "--all without --probe" fa-refresh --all
grep -q 'fa-refresh --probe --all' "$TOP/cron.d/fa"; ok $? "cron probes hourly"
done_testing
