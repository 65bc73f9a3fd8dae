#!/bin/sh
# The metrics come from kept counts, not from a scan (issue 17): the
# census of bindings by status and endpoint, the counters and the index
# of reference data by age follow every kind of change a binding goes
# through, and agree with what the vault lists; a vault from before the
# kept counts (no census, counters in the bindings) is counted once by
# the next keeper, and nothing counted is lost.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
echo "refresh_per_minute = 100000" >>"$FA_CONFIG"
ctl POST config '{"rate_limits":false}' >/dev/null
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
# census FILE: the fa_bindings lines of the metrics in FILE, sorted
census() { grep '^fa_bindings{' "$1" | sort; }
# listed: the same, made from fa-vault ls (a binding's endpoint is its
# own, else the default: the tenants here have none)
listed() {
	fa-vault ls | jq -r -s --arg d local 'group_by([.status, (.endpoint // $d)])
	    | .[] | "fa_bindings{status=\"\(.[0].status)\",endpoint=\"\(.[0].endpoint // $d)\"} \(length)"' |
	    sort
}
agree() {	# agree DESCRIPTION
	fa-vault metrics >"$T/m" && census "$T/m" >"$T/c" && listed >"$T/l" &&
	    cmp -s "$T/c" "$T/l"
	ok $? "$1"
	{ echo "metrics:"; cat "$T/c"; echo "ls:"; cat "$T/l"; } >"$T/why"
	cmp -s "$T/c" "$T/l" || diag "$T/why"
}

fa-vault tenant add acme && fa-vault tenant add beta
ok $? "two tenants"
agree "an empty vault: no bindings counted"
for b in k1 k2 k3 k4 k5; do
	fa-vault add -t acme $b magento=$b.example || echo "add $b" >>"$T/bad"
done
fa-vault add -t beta k6 magento=k6.example endpoint=production ||
    echo "add k6" >>"$T/bad"
[ ! -e "$T/bad" ]; ok $? "six bindings added, one on another endpoint"
agree "six pending, by endpoint"
connect k1 1001 && connect k2 1002 && connect k3 1003
ok $? "three connected"
agree "connected and pending"
ctl POST revoke '{"company":"1002"}' >/dev/null
fa-refresh -f k2 >/dev/null 2>&1
[ "$(fa-vault show k2 | jq -r .status)" = needs_reconnect ]
ok $? "FreeAgent refuses k2's refresh: needs_reconnect"
agree "the census follows a refresh that fails"
fa-revoke k3 >/dev/null 2>&1
ok $? "k3 disconnected"
fa-vault rm k4 && fa-vault set k5 endpoint=production
ok $? "k4 removed, k5 moved to another endpoint"
agree "the census follows a disconnect, a removal and a move"

# The index of reference data by age.
fa-vault metrics >"$T/m"
[ "$(val fa_oldest_reference_cache_age_seconds "$T/m")" = 0 ]
ok $? "no reference data fetched: age 0"
fa-prefetch k1 >/dev/null 2>&1
ok $? "k1's reference data fetched"
at=$(fa-vault show k1 | jq .fetched_at)
fa-vault metrics >"$T/m"
age=$(val fa_oldest_reference_cache_age_seconds "$T/m")
now=$(date +%s)
[ "$age" -ge 0 ] && [ "$age" -le $((now - at)) ]
ok $? "its age is since it was fetched ($age s)"
ixkey=$(printf 'ix:cache:%016x:k1' "$at")
rawdb "$FA_CONFIG" meta keys | grep -qx "$ixkey"
ok $? "it is in the index, by when it was fetched"
# Another connected binding, fetched later, does not make it younger.
fa-prefetch k3 >/dev/null 2>&1	# disconnected: not in the index
fa-vault metrics >"$T/m2"
[ "$(val fa_oldest_reference_cache_age_seconds "$T/m2")" -ge "$age" ]
ok $? "a disconnected binding's data is not counted"

# Counters: refreshes by outcome.
ok0=$(val 'fa_refreshes_total{outcome="ok"}' "$T/m")
fa-refresh -f k1 >/dev/null && fa-refresh -f k1 >/dev/null
fa-vault metrics >"$T/m"
[ "$(val 'fa_refreshes_total{outcome="ok"}' "$T/m")" -eq $((ok0 + 2)) ]
ok $? "two refreshes count two"
nr=$(val 'fa_refreshes_total{outcome="needs_reconnect"}' "$T/m")
[ "$nr" -eq 1 ]; ok $? "k2's refusal counted once"

# A vault from before the kept counts: no census, no index, a binding
# whose record counts its own refreshes (3), counters of removed ones
# (5). The next keeper counts it all again, once.
census "$T/m" >"$T/before"
okb=$(val 'fa_refreshes_total{outcome="ok"}' "$T/m")
stopkeeper
rawdb "$FA_CONFIG" meta keys | grep -e '^census' -e '^ix:cache:' >"$T/keys"
while IFS= read -r k; do	# a census key holds a tab
	rawdb "$FA_CONFIG" meta del "$k" || echo "del $k" >>"$T/bad"
done <"$T/keys"
hex() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
rawdb "$FA_CONFIG" meta put count:refresh:ok "$(hex '{"n":5}')" &&
    rawdb "$FA_CONFIG" meta put count:refresh:needs_reconnect "$(hex '{"n":0}')" &&
    rawdb "$FA_CONFIG" bindings get k1 | xxd -r -p |
    jq -c '. + {counts: {"refresh:ok": 3, "refresh:needs_reconnect": 1}}' >"$T/k1.json" &&
    rawdb "$FA_CONFIG" bindings put k1 "$(xxd -p <"$T/k1.json" | tr -d '\n' | sed 's/0a$//')"
ok $? "the vault made as one from before the kept counts"
rawdb "$FA_CONFIG" meta keys | grep -q -e '^census' -e '^ix:cache:'
[ $? -ne 0 ]; ok $? "no census, no index"
fa-vault metrics >"$T/m"
census "$T/m" >"$T/after"
cmp -s "$T/before" "$T/after"; ok $? "the next keeper counts the bindings again"
cmp -s "$T/before" "$T/after" || diag "$T/after"
[ "$(val 'fa_refreshes_total{outcome="ok"}' "$T/m")" -eq 8 ] &&
    [ "$(val 'fa_refreshes_total{outcome="needs_reconnect"}' "$T/m")" -eq 1 ]
ok $? "counters: the removed ones' and the bindings' own, added once (ok $okb -> $(val 'fa_refreshes_total{outcome="ok"}' "$T/m"))"
rawdb "$FA_CONFIG" meta keys | grep '^ix:cache:' >"$T/ix"
[ "$(cat "$T/ix")" = "$ixkey" ]; ok $? "the index of reference data again"
rawdb "$FA_CONFIG" meta keys | grep -qx census
ok $? "counted once: the census is marked"
stopkeeper
fa-vault metrics >"$T/m"
[ "$(val 'fa_refreshes_total{outcome="ok"}' "$T/m")" -eq 8 ]
ok $? "and the keeper after it counts nothing again"
fa-refresh -f k1 >/dev/null
fa-vault metrics >"$T/m"
[ "$(val 'fa_refreshes_total{outcome="ok"}' "$T/m")" -eq 9 ] &&
    ! rawdb "$FA_CONFIG" bindings get k1 | xxd -r -p | jq -e .counts >/dev/null
ok $? "k1's next write drops its own counts; the total goes on"
agree "and the census still agrees"
done_testing
