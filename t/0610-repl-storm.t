#!/bin/sh
# Replication under fire: three sites on loopback, writes and token
# refreshes through all of them, and the master killed (kill -9) ten
# times. Each time: a master within 10 s (a survivor, or the killed site
# itself when the next client started it again in time to win the
# election), writes go on, and the killed site, started again by the
# next client, rejoins as a replica or leads again. At the end every acknowledged write is on every
# site, FreeAgent never saw a refresh token sent twice, each binding
# holds a refresh token FreeAgent honours, and verify passes everywhere.
# (Under the sanitizers, two rounds: the code paths are the same and
# each round there takes three times as long.)
. "$(dirname "$0")/lib.sh"
noleakcheck

ROUNDS=10
[ -n "${FA_BUILD:-}" ] && ROUNDS=2
mkvault >/dev/null 2>&1
standin
echo "refresh_per_minute = 100000" >>"$FA_CONFIG"
replgroup
FA_CONFIG=$T/s1.conf
site 1 init && site 1 tenant add acme &&
    site 1 add -t acme b1 magento=b1.example && connect b1 1001 &&
    site 1 add -t acme b2 magento=b2.example && connect b2 1002
ok $? "site 1 starts the group; b1 and b2 connected"
# Every site up, as a replica of site 1, before the storm.
role 2 >/dev/null & r2=$!
role 3 >/dev/null
wait $r2
[ "$(role 2)" = "replica 127.0.0.1:$P1" ] && [ "$(role 3)" = "replica 127.0.0.1:$P1" ]
ok $? "sites 2 and 3 are its replicas"
# Each refresh waits at FreeAgent: a kill lands inside some.
ctl POST config '{"rate_limits":false,"latency":{"/v2/token_endpoint":30}}' >/dev/null
n0=$(count grant:refresh_token)

writer() {	# writer NAME: adds through each site in turn, logs the acked
	_n=0
	while [ ! -e "$T/stop" ]; do
		_n=$((_n + 1))
		site $((_n % 3 + 1)) add -t acme $1-$_n magento=w.example \
		    2>>"$T/write.err" && echo $1-$_n >>"$T/acked"
	done
}
refresher() {	# refresher BINDING: forced refreshes through each site
	_n=0
	while [ ! -e "$T/stop" ]; do
		_n=$((_n + 1))
		fa-refresh -c "$T/s$((_n % 3 + 1)).conf" -f -p $1 >/dev/null \
		    2>>"$T/refresh.err" && echo $1 >>"$T/refreshed"
	done
}
acked() { cat "$T/acked" 2>/dev/null | wc -l; }
# ackedafter N: waits (at most 60 s) until more than N writes are acked.
ackedafter() {
	_w=0
	while [ "$(acked)" -le "$1" ] && [ $_w -lt 600 ]; do
		_w=$((_w + 1)); sleep 0.1
	done
	[ "$(acked)" -gt "$1" ]
}
# master: the site that says it is the master, if one does.
master() {
	for _s in 1 2 3; do
		case $(role $_s) in "master "*) echo $_s; return ;; esac
	done
}
writer w1 & p1=$!
writer w2 & p2=$!
refresher b1 & p3=$!
refresher b2 & p4=$!

round=0 slow= stalled= norejoin= took= again=
m=1
while [ $round -lt $ROUNDS ]; do
	round=$((round + 1))
	ackedafter "$(acked)" || { stalled="$stalled $round"; break; }
	sleep "0.$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | cut -c1)"
	kill -9 "$(keeperof "$T/v$m")" || break
	t0=$(date +%s)
	# Asked on the survivors, and on the killed site only once a
	# writer's client has started its keeper again (asking would start
	# it): back first, it may win the election itself, as the highest
	# priority, and the survivors follow it. A keeper starting waits
	# for its group to settle before it answers, seconds after the group
	# may have a master: the killed site is given a second at a time.
	new=
	until [ -n "$new" ] || [ $(($(date +%s) - t0)) -gt 20 ]; do
		for s in 1 2 3; do
			[ $s = $m ] && continue
			case $(role $s) in "master "*) new=$s ;; esac
		done
		[ -z "$new" ] && [ -n "$(keeperof "$T/v$m")" ] &&
		    case $(timeout 1 fa-vault -c "$T/s$m.conf" repl 2>/dev/null |
		    jq -r .role) in master) new=$m ;; esac
		[ -n "$new" ] || sleep 0.1
	done
	took="$took $(($(date +%s) - t0))"
	[ -n "$new" ] && [ $(($(date +%s) - t0)) -le 10 ] || slow="$slow $round"
	[ -n "$new" ] || break
	[ "$new" = "$m" ] && again="$again $round"
	ackedafter "$(acked)" || { stalled="$stalled $round"; break; }
	# The killed site: its next client starts it, and it rejoins (or
	# it is the master again).
	w=0
	[ "$new" = "$m" ] && w=-1
	until [ $w -lt 0 ] ||
	    [ "$(role $m)" = "replica 127.0.0.1:$(eval echo \$P$new)" ] ||
	    [ $w -ge 300 ]; do
		w=$((w + 1)); sleep 0.1
	done
	[ $w -lt 300 ] || norejoin="$norejoin $round"
	m=$(master)
	[ -n "$m" ] || { stalled="$stalled $round"; break; }
done
touch "$T/stop"
wait $p1 $p2 $p3 $p4
[ $round -eq $ROUNDS ] && [ -z "$slow" ]
ok $? "$round kills of the master: a master within 10 s each time (took:$took s; again:${again:- none})"
[ -z "$stalled" ]; ok $? "writes went on through the survivors after each (stalled:${stalled:- none})"
[ -z "$norejoin" ]; ok $? "the killed site rejoined as a replica each time (not:${norejoin:- none})"
sort "$T/acked" >"$T/want"
bad=
for s in 1 2 3; do
	site $s ls >"$T/ls.$s" 2>"$T/ls.$s.err" || bad="$bad $s"
	jq -r .id "$T/ls.$s" | sort | comm -23 "$T/want" - >"$T/missing.$s"
	[ -s "$T/missing.$s" ] && bad="$bad $s:$(wc -l <"$T/missing.$s")"
done
[ -z "$bad" ]; ok $? "every acknowledged write ($(wc -l <"$T/want")) is on every site (missing:${bad:- none})"
[ -z "$bad" ] || head -n 3 "$T"/missing.* | diag
[ "$(cat "$T/refreshed" 2>/dev/null | wc -l)" -ge $ROUNDS ]
ok $? "refreshes acknowledged: $(cat "$T/refreshed" 2>/dev/null | wc -l) (FreeAgent saw $(($(count grant:refresh_token) - n0)))"
[ "$(count grant:refresh_token:again)" -eq 0 ]
ok $? "FreeAgent saw no refresh token sent twice ($(count grant:refresh_token:again))"
ctl GET tokens | jq -r '.refresh_tokens[].token' >"$T/valid"
for b in b1 b2; do
	site 1 token $b | jq -r .refresh_token >"$T/mine"
	grep -qxF -f "$T/mine" "$T/valid" &&
	    [ "$(site 2 show $b | jq -r .status)" = connected ] &&
	    fa-refresh -c "$T/s3.conf" -f -p $b >/dev/null
	ok $? "$b holds a refresh token FreeAgent honours, is connected, and refreshes"
done
grep -v "temporar\|try again\|no master\|busy" "$T/refresh.err" | sort | uniq -c | head -n 5 | diag
for s in 1 2 3; do site $s verify >/dev/null 2>&1 || echo "# site $s"; done >"$T/ver"
[ ! -s "$T/ver" ]; ok $? "verify passes on every site"
diag "$T/ver"
for s in 1 2 3; do stopkeeper "$T/v$s"; done
done_testing
