#!/bin/sh
# fa-vault: the verbs, a store -> token round trip, and no plaintext
# token anywhere in vault_dir.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
ok $? "vault created"
expect 0 "init again is harmless" fa-vault init
expect 0 "tenant add" fa-vault tenant add acme
expect 65 "tenant add twice" fa-vault tenant add acme
expect 65 "bad tenant name" fa-vault tenant add 'ac me'
# A name a child's getopt would read as an option (fa-authurl -t T -cfoo).
expect 65 "a tenant name that starts with -" fa-vault tenant add -- -cfoo
expect 65 "a binding id that starts with -" fa-vault add -t acme -- -cfoo magento=x.example
expect 65 "or with ." fa-vault add -t acme .x magento=x.example
expect 78 "tenant with an unknown endpoint" fa-vault tenant add t2 endpoint=mars
expect 78 "tenant with an unknown plan" fa-vault tenant add t2 plan=gold
expect 0 "tenant set endpoint" fa-vault tenant set acme endpoint=sandbox
expect 0 "tenant set back" fa-vault tenant set acme endpoint=production
expect 66 "tenant set of an unknown tenant" fa-vault tenant set nobody endpoint=sandbox
expect 0 "tenant ls" fa-vault tenant ls
[ "$(jq -r .name "$T/out")" = acme ]; ok $? "tenant ls prints JSON"

expect 0 "add a binding" fa-vault add -t acme b1 magento=shop.example.com
expect 65 "add it twice" fa-vault add -t acme b1 magento=shop.example.com
expect 66 "add for an unknown tenant" fa-vault add -t nobody b2 magento=x.example
expect 64 "add without magento" fa-vault add -t acme b2
expect 65 "add with a bad host" fa-vault add -t acme b2 'magento=a b'
expect 64 "add without -t" fa-vault add b2 magento=x.example
expect 0 "show" fa-vault show b1
[ "$(jq -r '.status + " " + .magento + " " + .tenant' "$T/out")" = \
    "pending shop.example.com acme" ]
ok $? "a new binding is pending, with host and tenant"
expect 66 "show of an unknown binding" fa-vault show nope

A='acc3ss+tok/en==SECRET'
R='r3fresh+tok/en==SECRET'
bundle b1 "$A" "$R" 1001 acme >"$T/b1.json"
expect_in 0 "store a bundle" "$T/b1.json" fa-vault store
fa-vault token b1 >"$T/tok" 2>"$T/err"
ok $? "token prints the bundle to a pipe"
[ "$(jq -r .access_token "$T/tok")" = "$A" ] &&
    [ "$(jq -r .refresh_token "$T/tok")" = "$R" ]
ok $? "round trip: the same tokens come back"
[ "$(jq -r .company.id "$T/tok")" = 1001 ] &&
    [ "$(jq -r .company.subdomain "$T/tok")" = acme ]
ok $? "company comes back with the tokens"
expect 0 "show after store" fa-vault show b1
[ "$(jq -r '.status + " " + (.tokver|tostring) + " " + .company.name' \
    "$T/out")" = "connected 1 Company acme" ]
ok $? "status connected, version 1, company kept"
unlike "$T/out" "SECRET" "show prints no token"

# A terminal never gets tokens unless forced.
if command -v script >/dev/null 2>&1; then
	script -qec "fa-vault token b1" /dev/null >"$T/tty" 2>&1
	ok $(( $? == 0 )) "token refuses a terminal"
	unlike "$T/tty" "SECRET" "nothing secret reached the terminal"
fi

expect 0 "ls" fa-vault ls
[ "$(wc -l <"$T/out")" -eq 1 ]; ok $? "ls prints one line per binding"
fa-vault add -t acme b2 magento=two.example.com
fa-vault tenant add other
fa-vault add -t other c1 magento=c.example.com
expect 0 "ls -t" fa-vault ls -t acme
[ "$(jq -r .id "$T/out" | sort | tr '\n' ' ')" = "b1 b2 " ]
ok $? "ls -t lists only that tenant's bindings"
expect 66 "ls -t of an unknown tenant" fa-vault ls -t nobody

expect 0 "set settings" fa-vault set b1 settings.default_bank_account=acct1 \
    magento=shop2.example.com
fa-vault show b1 >"$T/out"
[ "$(jq -r '.settings.default_bank_account + " " + .magento' "$T/out")" = \
    "acct1 shop2.example.com" ]
ok $? "settings and host changed"
expect 64 "set of an unknown key changes nothing" fa-vault set b1 \
    settings.default_bank_account=other colour=red
fa-vault show b1 >"$T/out"
[ "$(jq -r '.settings.default_bank_account' "$T/out")" = acct1 ]
ok $? "nothing changed after a refused set"
expect 78 "set of an unknown endpoint" fa-vault set b1 endpoint=mars
expect 66 "set of an unknown binding" fa-vault set nope magento=x.example

expect 0 "log" fa-vault log
like "$T/out" '"event":"connect"' "log has the connect"
expect 0 "log of one binding" fa-vault log b1
jq -e 'select(.binding != "b1")' "$T/out" >/dev/null
ok $(( $? == 0 )) "log B prints only B's records"
[ "$(jq -r .event "$T/out" | tr '\n' ' ')" = "add connect set " ]
ok $? "log B is in order: add connect set"
unlike "$T/out" "SECRET" "no token in the audit log"

expect 0 "rm" fa-vault rm b2
expect 66 "show after rm" fa-vault show b2
expect 66 "rm of an unknown binding" fa-vault rm b2
expect 0 "history survives rm" fa-vault log b2
like "$T/out" '"event":"rm"' "rm is in the log"

# No plaintext token anywhere in vault_dir: not the tables, not the logs.
fa-vault store <"$T/b1.json" 2>/dev/null
grep -rl -e "$A" -e "$R" -e "acc3ss" -e "r3fresh" "$T/vault" >"$T/found"
ok $(( $? == 0 )) "no token in any vault file (db, logs, regions)"
diag "$T/found"
[ -n "$(ls "$T"/vault/log.*)" ]; ok $? "there are log files to search"

expect 64 "no verb" fa-vault
expect 64 "unknown verb" fa-vault frobnicate
expect 64 "extra argument" fa-vault ls extra
expect 64 "store takes no arguments" fa-vault store b1

# Expiry times are bounded (a day ago to 100 years ahead): 2^63-1 once
# went in, and the binding's page then crashed in gmtime().
for e in 9223372036854775807 $(( $(date +%s) + 101 * 366 * 86400 )) \
    $(( $(date +%s) - 2 * 86400 )); do
	jq -c ".expires_at = $e" "$T/b1.json" >"$T/bad.json"
	expect_in 65 "a bundle that expires at $e: refused" "$T/bad.json" \
	    fa-vault store
done
like "$T/err" "a day ago to 100 years ahead" "and says what is allowed"
done_testing
