#!/bin/sh
# Sealed records: a flipped byte is detected and never returned; a record
# moved to another binding or replayed from an older version fails.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
fa-vault tenant add acme && fa-vault add -t acme b1 magento=one.example &&
    fa-vault add -t acme b2 magento=two.example
ok $? "two bindings"
bundle b1 OLD-ACCESS-b1 OLD-REFRESH-b1 1001 acme | fa-vault store &&
    bundle b2 ACCESS-b2 REFRESH-b2 1001 acme | fa-vault store
ok $? "both stored"
v1=$(rawdb "$FA_CONFIG" tokens get b1)
bundle b1 NEW-ACCESS-b1 NEW-REFRESH-b1 1001 acme | fa-vault store
v2=$(rawdb "$FA_CONFIG" tokens get b1)
[ -n "$v1" ] && [ "$v1" != "$v2" ]; ok $? "a second store writes a new record"

# flip HEX OFFSET: the record with byte OFFSET xor 0x01
flip() {
	printf '%s' "$1" | python3 -c '
import sys; h = bytearray(bytes.fromhex(sys.stdin.read())); o = int(sys.argv[1])
h[o if o >= 0 else len(h) + o] ^= 1; print(h.hex())' "$2"
}
# Header 32, then "FA" 1, key id 8, nonce 12, ciphertext, tag 16.
for what in "nonce:45" "key id:37" "ciphertext:60" "tag:-1" "format:33" \
    "record version in the header:7"; do
	name=${what%:*} off=${what#*:}
	rawdb "$FA_CONFIG" tokens put b1 "$(flip "$v2" "$off")"
	expect 1 "flipped $name: token refuses" fa-vault token b1
	[ ! -s "$T/out" ]; ok $? "flipped $name: nothing printed"
	expect 1 "flipped $name: verify fails" fa-vault verify
	like "$T/err" "b1" "flipped $name: verify names b1"
done

rawdb "$FA_CONFIG" tokens put b1 "$v2"
expect 0 "the untouched record opens again" fa-vault token b1
[ "$(jq -r .access_token "$T/out")" = NEW-ACCESS-b1 ]; ok $? "newest tokens"
expect 0 "verify passes" fa-vault verify

rawdb "$FA_CONFIG" tokens put b1 "$v1"
expect 1 "older version replayed: refused" fa-vault token b1
unlike "$T/out" "OLD-ACCESS" "the old token is not returned"
expect 1 "older version replayed: verify fails" fa-vault verify

# Same version number, other binding: the binding id is in the AD.
b2v1=$(rawdb "$FA_CONFIG" tokens get b2)
rawdb "$FA_CONFIG" tokens put b1 "$v2"
rawdb "$FA_CONFIG" tokens put b2 "$v1"
expect 1 "b1's record copied onto b2: refused" fa-vault token b2
unlike "$T/out" "ACCESS-b1" "b1's token is not returned as b2's"
rawdb "$FA_CONFIG" tokens put b2 "$b2v1"
expect 0 "b2's own record opens" fa-vault token b2

# A record sealed under another master key names that key and fails.
cp "$T/master.key" "$T/saved.key"
stopkeeper
rm -f "$T/master.key"; fa-vault keygen "$T/master.key"
expect 1 "records sealed with another key do not open" fa-vault token b2
like "$T/err" "not loaded" "message names the missing key"
stopkeeper
rm -f "$T/master.key"; cp "$T/saved.key" "$T/master.key"
expect 0 "verify passes with the right key" fa-vault verify
[ "$(jq -r .ok "$T/out")" = 2 ]; ok $? "verify counted 2 records"
done_testing
