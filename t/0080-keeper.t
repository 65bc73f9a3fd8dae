#!/bin/sh
# The keeper: one a vault, started by the first client that may, and
# only by one; it refuses peers not allowed, answers every bad request
# with an error and goes on serving; stopped, it leaves a vault that the
# next keeper opens.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
keeper() { cat "$T/vault/lock"; }
expect 0 "the first client started a keeper" fa-vault tenant add acme
k1=$(keeper)
alive "$k1"; ok $? "it runs (pid $k1)"
tr "\\0" "\\n" </proc/"$k1"/cmdline | head -1 | grep -q fa-vaultd
ok $? "and it is fa-vaultd"

# Two keepers at once: one serves, the other says so and exits.
stopkeeper
[ ! -e "$T/vault/sock" ]; ok $? "a stopped keeper removes its socket"
fa-vaultd -f >"$T/k1.out" 2>"$T/k1.err" &
a=$!
fa-vaultd -f >"$T/k2.out" 2>"$T/k2.err" &
b=$!
i=0
until [ -S "$T/vault/sock" ] && fa-vault ls >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 500 ] || break; sleep 0.01
done
wait_one() { for p; do alive "$p" || { wait "$p"; echo "$p $?"; }; done; }
i=0
until [ -n "$(wait_one $a $b)" ]; do
	i=$((i + 1)); [ $i -lt 500 ] || break; sleep 0.01
done
wait_one $a $b >"$T/gone"
[ "$(wc -l <"$T/gone")" -eq 1 ]; ok $? "of two keepers started at once, one exited"
read -r gone st <"$T/gone"
[ "$st" -eq 75 ]; ok $? "with 75"
[ "$gone" = "$a" ] && err=k1.err || err=k2.err
like "$T/$err" "in use by process [0-9]+ \\(its keeper\\)" "saying which keeper runs"
[ "$gone" = "$a" ] && live=$b || live=$a
[ "$(keeper)" = "$live" ]; ok $? "the other serves"
expect 0 "a client uses it" fa-vault ls
kill "$live"; wait "$live"; ok $? "SIGTERM stops a keeper with 0"

# Bad requests get an error answer; the keeper serves on.
fa-vault ls >/dev/null
python3 - "$T/vault/sock" >"$T/answers" <<'PY'
import json, socket, sys
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    return s, s.makefile("rb")
s, f = conn()
for line in [b"garbage\n", b"[1,2]\n", b'{"v":"no such verb"}\n',
             b'{"v":"keeper.ping","id":"short"}\n', b'{"v":"keeper.ping","a":[]}\n',
             b'{"v":"binding.show","a":{"id":"../../etc"}}\n',
             b'{"v":"keeper.ping","v":"keeper.ping"}\n', b'\xff\xfe\n',
             # an id that a child's getopt would read as an option
             b'{"v":"binding.add","id":"' + b"7" * 32 + b'","a":{"tenant":"t1",'
             b'"binding":"-cfoo","magento":"x.example"}}\n']:
    s.sendall(line)
    a = json.loads(f.readline())
    print("bad", a["s"], a.get("e", ""))
s.sendall(b'{"v":"keeper.ping"}\n')
print("ping", json.loads(f.readline())["s"])
# oversized: an error, then the connection closes
s, f = conn()
s.sendall(b'{"v":"keeper.ping","a":{"x":"' + b"y" * 70000 + b'"}}\n')
a = f.readline()
print("big", json.loads(a)["s"] if a else "none")
# truncated: a half request, then gone
s, f = conn()
s.sendall(b'{"v":"keeper.pi')
s.close()
s, f = conn()
s.sendall(b'{"v":"keeper.ping"}\n')
print("after", json.loads(f.readline())["s"])
PY
[ "$(grep -c '^bad 6[45] ' "$T/answers")" -eq 9 ]
ok $? "nine malformed requests: nine error answers (64 or 65)"
diag "$T/answers"
grep -q '^ping 0$' "$T/answers"; ok $? "the same connection then served"
grep -q '^big 65$' "$T/answers"; ok $? "a request over 64 KiB: 65"
grep -q '^after 0$' "$T/answers"; ok $? "after a truncated request, the next is served"
expect 0 "and so is every client" fa-vault ls

# A peer the config does not name is refused (77) and audited.
chmod 711 "$T" "$T/vault"
chmod 666 "$T/vault/sock"
chmod 644 "$FA_CONFIG"
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    fa-vault -c "$FA_CONFIG" ls >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 77 ]; ok $? "uid nobody: refused with 77 (got $st)"
like "$T/err" "may not use the vault" "saying so"
fa-vault log | jq -r 'select(.event == "access") | .outcome + " " + .detail' >"$T/acc"
like "$T/acc" "^refused uid $(id -u nobody) " "the refusal is in the audit log"
asnobody() {	# as uid nobody, group nogroup: fa-vault ARGS
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    fa-vault -c "$FA_CONFIG" "$@" >"$T/out" 2>"$T/err"
}
echo "access.@nogroup = worker" >>"$FA_CONFIG"
asnobody ls
ok $? "its group is a worker: served (the keeper read its changed config)"
diag "$T/err"
fa-vault keygen "$T/new.key"
asnobody rekey "$T/new.key"
st=$?
[ $st -eq 77 ]; ok $? "a worker may not rekey: 77 (got $st)"
like "$T/err" "may not ask vault.rekey" "saying so"
fa-vault log | jq -r 'select(.event == "access") | .detail' >"$T/acc"
like "$T/acc" "^uid $(id -u nobody) pid [0-9]* may not ask vault.rekey" \
    "the refusal is in the audit log"
echo "access.nobody = dashboard" >>"$FA_CONFIG"
asnobody ls
st=$?
[ $st -eq 77 ]; ok $? "its own line wins: a dashboard may not list every binding: 77 (got $st)"
sed -i '/^access\./d' "$FA_CONFIG"
echo "access.nobody = boss" >>"$FA_CONFIG"
expect 78 "a role that is not one: 78" fa-vault -c "$FA_CONFIG" ls
like "$T/err" "access.nobody must be admin, worker or dashboard" "saying so, with file:line"
sed -i '/^access\./d' "$FA_CONFIG"

# A client that may not start a keeper says how to.
kill "$(keeper)"; while [ -S "$T/vault/sock" ]; do sleep 0.01; done
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    fa-vault -c "$FA_CONFIG" ls >"$T/out" 2>"$T/err"
[ $? -eq 75 ]; ok $? "no keeper, and not the vault's owner: 75"
like "$T/err" "the vault keeper is not running: start fa-vaultd" "saying so"
chmod 700 "$T" "$T/vault"
expect 0 "verify passes" fa-vault verify
done_testing
