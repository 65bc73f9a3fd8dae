#!/bin/sh
# Key and secret files are checked before they are read: a FIFO does not
# hang anyone, and a file another user owns, or one in a directory
# another user can change, is refused with 78 saying why.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
fa-vault tenant add acme && fa-vault add -t acme b1 magento=s.example
ok $? "a vault"
stopkeeper
cp "$T/master.key" "$T/key.bak"

# A FIFO where the master key should be.
rm -f "$T/master.key" && mkfifo -m 600 "$T/master.key"
expect 78 "a FIFO as master_key_file: 78, at once" timeout 20 fa-vault ls
like "$T/err" "master.key is not a regular file" "saying so"
rm -f "$T/master.key" && cp -p "$T/key.bak" "$T/master.key"

# A key another user owns (it could read it, or have written it).
chown nobody "$T/master.key"
expect 78 "a master key another user owns: 78" fa-vault ls
like "$T/err" "master.key belongs to uid $(id -u nobody), not to this user" "saying so"
chown 0 "$T/master.key"

# A key in a directory another user can change.
mkdir -m 777 "$T/open"
cp -p "$T/master.key" "$T/open/master.key"
sed -i "s|^master_key_file = .*|master_key_file = $T/open/master.key|" "$FA_CONFIG"
expect 78 "a master key in a directory others can write: 78" fa-vault ls
like "$T/err" "is in $T/open, which another user can change" "saying so"
chmod 1777 "$T/open"
expect 0 "the same directory made sticky: served" fa-vault ls
stopkeeper
sed -i "s|^master_key_file = .*|master_key_file = $T/master.key|" "$FA_CONFIG"
expect 0 "the key back where it was: served" fa-vault ls

# The client secret: the same checks, by the program that reads it.
callback b1 1001 >/dev/null
rm -f "$T/local.secret" && mkfifo -m 600 "$T/local.secret"
expect_in 78 "a FIFO as the client secret: 78, at once" "$T/qs" timeout 20 fa-exchange
like "$T/err" "local.secret is not a regular file" "saying so"
rm -f "$T/local.secret" && printf '%s\n' "$SEC" >"$T/local.secret" &&
    chmod 600 "$T/local.secret" && chown nobody "$T/local.secret"
callback b1 1001 >/dev/null
expect_in 78 "a client secret another user owns: 78" "$T/qs" fa-exchange
like "$T/err" "local.secret belongs to uid $(id -u nobody)" "saying so"
chown 0 "$T/local.secret"
callback b1 1001 >/dev/null
fa-exchange <"$T/qs" | fa-vault store >/dev/null 2>"$T/err"
ok $? "owned by us again: the connect works"
expect 0 "verify passes" fa-vault verify
done_testing
