#!/bin/sh
# fa.conf(5): malformed lines and unknown keys name file and line; key
# file problems are configuration errors (78) that say how to fix them:
# the keeper's, when it starts (so it is stopped before each).
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
ok $? "a vault is created"

for bad in "no equals sign" "bogus_key = 1" "production.colour = red" \
    "refresh_margin = soon" "refresh_margin = -5" "plan.gold.seats = 3" \
    "local.base_url = http://api.example.com/v2" "= value" \
    "local.token_url = ftp://127.0.0.1/x" "status_hook = hook.sh" \
    "status_hook = ./hook.sh" "repl.local = 127.0.0.1" \
    "repl.local = 127.0.0.1:70000" "repl.remote = -x:5" "repl.ack = most" \
    "repl.priority = high" "repl.color = red" "access.www-data = root" \
    "access.-x = worker"; do
	cp "$T/fa.conf" "$T/bad.conf"
	printf '# comment\n\n%s\n' "$bad" >>"$T/bad.conf"
	line=$(wc -l <"$T/bad.conf")
	expect 78 "refused: $bad" fa-vault -c "$T/bad.conf" ls
	like "$T/err" "$T/bad.conf:$line:" "message names file and line: $bad"
done

cp "$T/fa.conf" "$T/good.conf"
cat >>"$T/good.conf" <<'CONF'
local.base_url = http://127.0.0.1:8999/v2   # loopback may be plain http
local.client_id = abc
plan.gold.companies = 3
plan.gold.bindings = 10
refresh_margin = 600
CONF
expect 0 "comments, loopback http, plans and numbers accepted" \
    fa-vault -c "$T/good.conf" ls
echo "odd.client_id = a#b   # a comment" >>"$T/good.conf"
echo "odd.base_url = https://odd.example/v2" >>"$T/good.conf"
# The keeper's config is the one it was started with: good.conf now.
stopkeeper
fa-vault -c "$T/good.conf" tenant add t-odd endpoint=odd
fa-vault -c "$T/good.conf" add -t t-odd o1 magento=o.example
fa-authurl -c "$T/good.conf" o1 >"$T/u" 2>&1
like "$T/u" "client_id=a%23b&" "a '#' inside a value is kept; the comment after it is not"
expect 65 "a binding named .. is refused" fa-vault add -t t-odd .. magento=x.example

printf 'default_endpoint = nowhere\n' >>"$T/bad2.conf"
cat "$T/fa.conf" "$T/bad2.conf" >"$T/bad3.conf"
expect 78 "undefined default_endpoint refused" fa-vault -c "$T/bad3.conf" ls
like "$T/err" "nowhere" "message names the endpoint"

expect 78 "missing config file" fa-vault -c "$T/none.conf" ls
expect 0 "FA_CONFIG is read" env FA_CONFIG="$T/good.conf" fa-vault ls

stopkeeper
chmod 0640 "$T/master.key"
expect 78 "group-readable key file refused" fa-vault ls
like "$T/err" "chmod 600" "message says how to fix it"
stopkeeper
chmod 0604 "$T/master.key"
expect 78 "world-readable key file refused" fa-vault ls
stopkeeper
chmod 0600 "$T/master.key"
expect 0 "mode 0600 accepted" fa-vault ls
stopkeeper
chmod 0400 "$T/master.key"
expect 0 "mode 0400 accepted" fa-vault ls

stopkeeper
mv "$T/master.key" "$T/k"
expect 78 "missing key file refused" fa-vault ls
like "$T/err" "fa-vault keygen" "message says how to make one"
stopkeeper
head -c 31 /dev/urandom >"$T/master.key"; chmod 400 "$T/master.key"
expect 78 "short key file refused" fa-vault ls
rm -f "$T/master.key"
stopkeeper
head -c 33 /dev/urandom >"$T/master.key"; chmod 400 "$T/master.key"
expect 78 "long key file refused" fa-vault ls
rm -f "$T/master.key"
stopkeeper
ln -s "$T/k" "$T/master.key"
expect 78 "symlinked key file refused" fa-vault ls
rm -f "$T/master.key"; mv "$T/k" "$T/master.key"

expect 1 "keygen will not overwrite a key" fa-vault keygen "$T/master.key"
expect 0 "keygen makes a key" fa-vault keygen "$T/k2"
[ "$(stat -c %a:%s "$T/k2")" = "400:32" ]
ok $? "new key is mode 0400, 32 bytes"

rm -rf "$T/vault2"
sed "s|$T/vault|$T/vault2|" "$T/fa.conf" >"$T/v2.conf"
expect 78 "a vault that was never initialised is refused" \
    fa-vault -c "$T/v2.conf" ls
like "$T/err" "fa-vault init" "message says how to create one"
done_testing
