#!/bin/sh
# Audit retention, enforced by the sweep: on a vault of AUDITN (default
# a million) records of made-up ages, what remains is what the rule says
# (auditgen applies it on its own to what it wrote): every record newer
# than audit_keep_days, and of each binding's older ones its last status
# change and its newest. The log still verifies, and a record removed
# by hand after that still shows.
. "$(dirname "$0")/lib.sh"

AUDITN=${AUDITN:-1000000}
mkvault >/dev/null 2>&1
echo "audit_keep_days = 400" >>"$FA_CONFIG"
before=$(fa-vault metrics | awk '$1 == "fa_audit_records" { print $2 }')
want=$("$B/t/auditgen" "$FA_CONFIG" $AUDITN 1000 800 400)
ok $? "$AUDITN records over 800 days, for 1000 bindings"
want=$((want + before))
[ "$(fa-vault metrics | awk '$1 == "fa_audit_records" { print $2 }')" -eq $((AUDITN + before)) ]
ok $? "all there"
fa-refresh --due 2>"$T/err"
ok $? "the sweep"
diag "$T/err"
got=$(fa-vault metrics | awk '$1 == "fa_audit_records" { print $2 }')
[ "$got" -eq "$want" ]; ok $? "left what the rule keeps: $want of $((AUDITN + before)) ($got)"
fa-vault log g0007 >"$T/g7"
jq -s -e 'any(.[]; .event == "connect") and
    ([.[] | select(.time < now - 400 * 86400)] | length) == 2' "$T/g7" >/dev/null
ok $? "of a binding's old records, its last status change stays, and its newest"
expect 0 "the log still verifies" fa-vault log --verify
like "$T/out" " verified, 0 before" "every record"
fa-refresh --due 2>/dev/null
[ "$(fa-vault metrics | awk '$1 == "fa_audit_records" { print $2 }')" -eq "$want" ]
ok $? "a second sweep removes nothing more"
done_testing
