#!/bin/sh
# A process that stops or dies inside a transaction: the others give up
# within vault_timeout with 75 (retry later), change nothing, and carry
# on once it is gone.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
echo "vault_timeout = 2" >>"$FA_CONFIG"
fa-vault tenant add acme && fa-vault add -t acme b1 magento=one.example
ok $? "a binding"

rawdb "$FA_CONFIG" bindings hold b1 >"$T/held" &
holder=$!
echo $holder >>"$T/pids"
while [ ! -s "$T/held" ] && kill -0 $holder 2>/dev/null; do :; done
[ "$(cat "$T/held")" = held ]; ok $? "another process holds b1's lock"

expect 75 "a writer behind a stuck lock gives up with 75" \
    fa-vault set b1 magento=two.example
like "$T/err" "try again" "and says to try again"
kill -9 $holder
wait $holder 2>/dev/null
expect 0 "the holder is killed: the next writer gets through" \
    fa-vault set b1 magento=three.example
fa-vault show b1 | jq -r .magento >"$T/m"
[ "$(cat "$T/m")" = three.example ]; ok $? "the stuck write changed nothing"
expect 0 "verify" fa-vault verify
done_testing
