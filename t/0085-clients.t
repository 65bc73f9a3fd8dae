#!/bin/sh
# Only the keeper opens the vault: no other program links Berkeley DB,
# and none opens the master key or a file of the vault (the socket is
# connected to, not opened).
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
fa-vault tenant add acme && fa-vault add -t acme b1 magento=x.example &&
    connect b1 1001 >/dev/null
ok $? "b1 connected"
nm "$B/bin/fa-vaultd" | grep -q db_env_create; ok $? "the keeper links Berkeley DB"
for p in bin/fa-vault bin/fa-authurl bin/fa-exchange bin/fa-refresh \
    bin/fa-revoke bin/fa-prefetch cgi-bin/fa-dashboard; do
	[ "$(nm "$B/$p" | grep -c db_env_create)" -eq 0 ]
	ok $? "$p does not"
done
opens() {	# opens CMD...: the files CMD and its children open
	# (LeakSanitizer cannot run under ptrace: not here)
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -qq -e trace=openat,open -o "$T/trace" "$@" >/dev/null 2>&1
	sed -n 's/.*open[a-z]*([^"]*"\([^"]*\)".*/\1/p' "$T/trace"
}
opens fa-refresh -H b1 >"$T/o1"
opens fa-vault show b1 >"$T/o2"
opens env REQUEST_METHOD=GET REMOTE_USER=acme PATH_INFO=/bindings/b1 \
    GATEWAY_INTERFACE=CGI/1.1 "$B/cgi-bin/fa-dashboard" >"$T/o3"
opens fa-refresh -f -H b1 >"$T/o4"
for f in o1 o2 o3 o4; do
	grep -F "$T/vault" "$T/$f" >"$T/$f.vault"
	grep -F "master.key" "$T/$f" >"$T/$f.key"
done
[ -s "$T/o1" ] && [ -s "$T/o3" ]; ok $? "the traces are there"
cat "$T"/o?.vault >"$T/vaultfiles"
[ ! -s "$T/vaultfiles" ]
ok $? "fa-refresh -H, -f, fa-vault show, a dashboard page: no vault file opened"
diag "$T/vaultfiles"
cat "$T"/o?.key >"$T/keyfiles"
[ ! -s "$T/keyfiles" ]; ok $? "nor the master key"
diag "$T/keyfiles"
grep -q "fa-t.*local.secret" "$T/o4"; ok $? "(a refresh does open the client secret: the trace sees opens)"
done_testing
