#!/bin/sh
# fa-vault metrics: Prometheus's text format (promtool accepts it), each
# figure what the vault holds: bindings by status and endpoint, refresh
# counters that survive a restart of the keeper, the due backlog, the
# last sweep, audit records; -o writes a whole file or none.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
fa-vault tenant add acme &&
    fa-vault add -t acme m1 magento=one.example.com && connect m1 1001 &&
    fa-vault add -t acme m2 magento=two.example.com && connect m2 1002 &&
    fa-vault add -t acme m3 magento=three.example.com
ok $? "two bindings connected, one pending"
fa-vault metrics >"$T/m1"
ok $? "fa-vault metrics"
promtool check metrics <"$T/m1" >"$T/prom" 2>&1
ok $? "promtool accepts it"
diag "$T/prom"
# metric 'NAME{LABELS}': its value in $T/m.
val() { awk -v k="$1" '$1 == k { print $2 }' "$T/m"; }
# bindings STATUS: fa_bindings of that status, all endpoints.
bindings() {
	awk -v s="fa_bindings{status=\"$1\"," 'index($1, s) == 1 { n += $2 } END { print n + 0 }' "$T/m"
}
cp "$T/m1" "$T/m"
fa-vault ls >"$T/ls"
want=$(jq -s '[.[] | select(.status == "connected")] | length' "$T/ls")
[ "$(bindings connected)" = "$want" ]
ok $? "connected bindings: $want, as the vault lists them"
[ "$(bindings pending)" = 1 ]
ok $? "and the pending one"
r0=$(val 'fa_refreshes_total{outcome="ok"}')
fa-refresh -f m1 >/dev/null && fa-refresh -f m2 >/dev/null && fa-refresh -f m1 >/dev/null
fa-vault metrics >"$T/m"
[ "$(val 'fa_refreshes_total{outcome="ok"}')" -eq $((r0 + 3)) ]
ok $? "three refreshes count three ($r0 -> $(val 'fa_refreshes_total{outcome="ok"}'))"
# FreeAgent revokes m2's grant: its refresh is refused.
ctl POST revoke '{"company":"1002"}' >/dev/null
fa-refresh -f m2 >/dev/null 2>&1
[ "$(fa-vault show m2 | jq -r .status)" = needs_reconnect ]; ok $? "m2 needs a reconnect"
fa-vault metrics >"$T/m"
[ "$(val 'fa_refreshes_total{outcome="needs_reconnect"}')" = 1 ] &&
    [ "$(bindings needs_reconnect)" = 1 ]
ok $? "counted, and the binding shows as needs_reconnect"
ctl POST fault '{"path":"/v2/token_endpoint","kind":"429","count":1,"retry_after":1}' >/dev/null
fa-refresh -f m1 >/dev/null 2>&1
fa-vault metrics >"$T/m"
[ "$(val 'fa_refreshes_total{outcome="rate_limited"}')" -ge 1 ]
ok $? "a 429 counts as rate_limited"
grep '^fa_rate_window_headroom{window="refresh:' "$T/m" >"$T/win"
[ -s "$T/win" ] && awk '$2 < 15' "$T/win" | grep -q .
ok $? "the refresh windows show what the last minute used"
diag "$T/win"
before=$(grep '^fa_refreshes_total' "$T/m")
stopkeeper
fa-vault metrics >"$T/m"
[ "$(grep '^fa_refreshes_total' "$T/m")" = "$before" ]
ok $? "the counters survive a restart of the keeper"
[ "$(val fa_keeper_uptime_seconds)" -lt 5 ]; ok $? "whose uptime starts again"
[ "$(val fa_audit_records)" = "$(fa-vault log | wc -l)" ]
ok $? "audit records: as many as fa-vault log prints"
t0=$(date +%s)
fa-refresh --due >/dev/null 2>&1
fa-vault metrics >"$T/m"
[ "$(val fa_sweep_last_start_timestamp_seconds)" -ge "$t0" ]
ok $? "the last sweep's start"
[ "$(val fa_due_backlog)" = 0 ]; ok $? "nothing due after it"
fa-prefetch m1 >/dev/null 2>&1
fa-vault metrics >"$T/m"
[ "$(val fa_oldest_reference_cache_age_seconds)" -lt 60 ] &&
    [ "$(val 'fa_replication_role{role="none"}')" = 1 ]
ok $? "reference data just fetched; no replication"
# -o: the whole file, renamed into place; nothing left beside it.
mkdir "$T/tf"
# (Ages, uptime and rate windows move with the clock: the file is
# compared by its series, and by what does not.)
fa-vault metrics -o "$T/tf/fa.prom" && cut -d' ' -f1 "$T/tf/fa.prom" >"$T/f1" &&
    cut -d' ' -f1 "$T/m" | cmp -s - "$T/f1" &&
    grep -e '^fa_bindings' -e '^fa_refreshes_total' -e '^fa_audit_records' "$T/tf/fa.prom" >"$T/f2" &&
    grep -e '^fa_bindings' -e '^fa_refreshes_total' -e '^fa_audit_records' "$T/m" | cmp -s - "$T/f2"
ok $? "-o writes the metrics to the file"
[ "$(ls "$T/tf")" = fa.prom ]; ok $? "and leaves no temporary file"
expect 1 "-o into a directory that is not there" fa-vault metrics -o "$T/nodir/fa.prom"
grep -q 'fa-vault metrics -o /var/lib/prometheus/node-exporter/fa.prom' "$TOP/cron.d/fa"
ok $? "cron writes them for node_exporter every minute"
done_testing
