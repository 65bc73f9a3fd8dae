#!/bin/sh
# The lease covers the commit of what FreeAgent sent, found by the model
# of t/model/lease.pml (LONG_OUTAGE): a holder that has FreeAgent's
# rotated tokens and cannot reach the keeper for a while must not lose
# its lease to another process, which would send the old refresh token
# again; and a holder that lost it all the same reports its tokens lost,
# never drops them in silence.
#
# The holder is caught between FreeAgent's answer and its commit: the
# keeper is stopped while the grant is at the stand-in, so the holder
# blocks on its next request to the keeper (client.worked, then
# refresh.finish); then the holder is stopped and the keeper let go.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
cat >>"$FA_CONFIG" <<-CONF
http_timeout = 1
refresh_per_minute = 100000
CONF
fa-vault tenant add acme && fa-vault add -t acme b1 magento=s1.example &&
    fa-vault add -t acme b2 magento=s2.example &&
    connect b1 1001 && connect b2 1002
ok $? "b1 and b2 connected"
# A refresh token sent twice is refused, as FreeAgent may; the grant
# takes long enough to be caught at the stand-in.
ctl POST config '{"rate_limits":false,"old_refresh_valid":false,
    "latency":{"/v2/token_endpoint":400}}' >/dev/null
K=$(keeperof "$T/vault")

# until_ TRIES CMD...: CMD succeeds within TRIES hundredths of a second.
until_() {
	_t=$1
	shift
	while ! "$@"; do
		_t=$((_t - 1))
		[ $_t -gt 0 ] || return 1
		sleep 0.01
	done
}
# since N: N seconds or more have passed since the holder started
since() { [ $(($(date +%s) - HSTART)) -ge "$1" ]; }
inflight() { [ "$(ctl GET stats | jq .inflight)" -ge 1 ]; }
# reading PID: blocked in read(2) (the keeper's answer), or gone
reading() { ! alive "$1" || grep -q '^0 ' "/proc/$1/syscall"; }

# catch B: starts a forced refresh of B and leaves it stopped holding
# FreeAgent's new tokens, not yet committed; sets HP and HSTART.
catch() {
	HSTART=$(date +%s)
	fa-refresh -f -p "$1" >"$T/h.$1.out" 2>"$T/h.$1.err" &
	HP=$!
	until_ 1000 inflight || echo "$1: no grant at the stand-in" >>"$T/bad"
	kill -STOP "$K"
	until_ 1000 reading "$HP" || echo "$1: holder not waiting" >>"$T/bad"
	kill -STOP "$HP"
	kill -CONT "$K"
	[ ! -e "$T/bad" ]; ok $? "$1: the holder has FreeAgent's answer, and is stopped"
	diag "$T/bad" 2>/dev/null
	rm -f "$T/bad"
}

# -- 1. A holder stalled past the requests' time keeps its lease.
# Before the lease covered the commit it lasted 2 x http_timeout + 10 s.
# Another forced refresh finds it held: it does not refresh, and, the
# stored access token being good for long yet, prints that one.
a0=$(fa-vault token b1 | jq -r .access_token)
catch b1
until_ 3000 since 14
g0=$(count grant:refresh_token)
fa-refresh -f -p b1 >"$T/w.out" 2>"$T/w.err"
ok $? "another forced refresh of b1 exits 0 (the lease lapsed at 12 s before)"
[ "$(count grant:refresh_token)" -eq "$g0" ]
ok $? "it did not refresh: the lease is the holder's"
[ "$(cat "$T/w.out")" = "$a0" ]; ok $? "it printed the stored access token"
kill -CONT "$HP"
wait "$HP"; ok $? "the holder commits and prints"
[ "$(fa-vault token b1 | jq -r .access_token)" = "$(cat "$T/h.b1.out")" ] &&
    [ "$(cat "$T/h.b1.out")" != "$a0" ]
ok $? "b1 holds the holder's new access token"
[ "$(count grant:refresh_token:again)" -eq 0 ]
ok $? "no refresh token went to FreeAgent twice"
[ "$(fa-vault show b1 | jq -r .status)" = connected ]; ok $? "b1 still connected"
fa-vault token b1 | jq -r .refresh_token >"$T/mine"
ctl GET tokens | jq -r '.refresh_tokens[].token' >"$T/valid"
grep -qxF -f "$T/mine" "$T/valid"; ok $? "b1 holds FreeAgent's newest refresh token"

# -- 2. Stalled past the whole lease: another process takes it over and
# sends the old refresh token, which FreeAgent refuses; the holder's late
# result is not concluded from, and its tokens are reported lost.
catch b2
until_ 6000 since 44
expect 77 "past the lease, another refresh of b2 takes it over (and is refused)" \
    fa-refresh -f -p b2
kill -CONT "$HP"
wait "$HP"
st=$?
cat "$T/h.b2.err" >>"$T/stderr.all"
[ $st -eq 75 ]; ok $? "the late holder exits 75 (exit $st)"
like "$T/h.b2.err" "FreeAgent's new tokens could not be stored, so it may need a reconnect" \
    "and says its tokens were lost"
[ ! -s "$T/h.b2.out" ]; ok $? "it prints no token"
[ "$(fa-vault show b2 | jq -r .status)" = needs_reconnect ]
ok $? "b2 needs a reconnect, as FreeAgent said"

# -- 3. A result sent again under a new request id (its first answer a
# 75, as a master that lost its quorum gives, though the commit lived)
# finds the vault holding it: "fresh", not "busy" and lost. Another
# result in its place is "busy".
fa-vault add -t acme b3 magento=s3.example && connect b3 1003
ok $? "b3 connected"
stopkeeper
fa-vault ls >/dev/null
python3 - "$T/vault/sock" >"$T/answers" <<'PY'
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
def ask(verb, a):
    s.sendall(json.dumps({"v": verb, "id": os.urandom(16).hex(), "a": a}).encode() + b"\n")
    return json.loads(f.readline())
a = ask("refresh.take", {"binding": "b3", "force": 1, "lease": 60})
ver = a["a"]["tokver"]
print("take", a["a"]["state"])
now = int(time.time())
res = {"binding": "b3", "tokver": ver, "rv": 0, "message": "", "retry_after": -1,
       "access": "made-up-access-" + os.urandom(8).hex(),
       "refresh": "made-up-refresh-" + os.urandom(8).hex(),
       "expires_at": now + 3600, "refresh_expires_at": now + 86400 * 365}
print("first", ask("refresh.finish", res)["a"].get("state"))
print("again", ask("refresh.finish", res)["a"].get("state"))
res["refresh"] = "made-up-refresh-" + os.urandom(8).hex()
print("other", ask("refresh.finish", res)["a"].get("state"))
PY
echo $(cat "$T/answers") >"$T/ans1"
grep -qx 'take leased first fresh again fresh other busy' "$T/ans1"
ok $? "a result sent twice is fresh both times; another is busy"
diag "$T/ans1"
done_testing
