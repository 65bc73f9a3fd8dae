#!/bin/sh
# The audit log is tamper-evident: each record carries a keyed hash
# chained to the record before it of the same binding. fa-vault log
# --verify checks every chain and names the first record that does not
# match: one edited, one removed from the middle, one taken off the end.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
fa-vault tenant add acme &&
    for b in c1 c2 c3; do fa-vault add -t acme $b magento=$b.example.com || break; done &&
    fa-vault set c1 magento=c1b.example.com && fa-vault set c2 magento=c2b.example.com &&
    fa-vault set c1 magento=c1c.example.com && fa-vault set c1 magento=c1d.example.com
ok $? "a tenant, three bindings, changes to them"
stopkeeper && fa-vault set c3 magento=c3b.example.com
ok $? "and one more after the keeper started again"
fa-vault log >"$T/log"
nrec=$(wc -l <"$T/log")
expect 0 "log --verify" fa-vault log --verify
like "$T/out" "^$nrec records: $nrec verified," "every record verified ($nrec)"
jq -e 'select(.mac | test("^[0-9a-f]{64}$") | not)' "$T/log" >/dev/null
[ $? -eq 4 ]; ok $? "each carries its mac"
# recno BINDING N: the N-th record of BINDING in the log (from 1), as
# its record number (the log is in record order, none removed yet).
recno() { jq -r '.binding // "-"' "$T/log" | grep -nx "$1" | sed -n "${2}p" | cut -d: -f1; }
r=$(recno c1 2)
orig=$(rawdb "$FA_CONFIG" audit get r:$r)
printf '%s' "$orig" | xxd -r -p | sed 's/"1 change"/"9 change"/' | xxd -p | tr -d '\n' >"$T/hex"
[ "$(cat "$T/hex")" != "$orig" ] && rawdb "$FA_CONFIG" audit put r:$r "$(cat "$T/hex")"
ok $? "record $r edited in the database file"
expect 65 "a record edited: --verify fails" fa-vault log --verify
like "$T/err" "audit record $r \\(binding c1\\) does not match its chain" "naming it (record $r)"
rawdb "$FA_CONFIG" audit put r:$r "$orig"
expect 0 "put back, the log verifies again" fa-vault log --verify
# A record removed from the middle of c1's chain: the next of c1 fails.
r=$(recno c1 2) next=$(recno c1 3)
rawdb "$FA_CONFIG" audit del r:$r
expect 65 "a record removed: --verify fails" fa-vault log --verify
like "$T/err" "audit record $next \\(binding c1\\)" "at the next of its binding (record $next)"
rawdb "$FA_CONFIG" audit put r:$r "$orig"
expect 0 "put back" fa-vault log --verify
# The newest record of c3 taken off the end.
r=$(recno c3 2)
rawdb "$FA_CONFIG" audit del r:$r
expect 65 "the newest record of a binding removed: --verify fails" fa-vault log --verify
like "$T/err" "chain of binding c3: its newest records are missing" "and says so"
done_testing
