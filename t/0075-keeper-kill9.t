#!/bin/sh
# kill -9 of the keeper, fifty times, in a storm of writes and token
# refreshes: the next request starts a new keeper, which recovers
# alone; every write a client was told was done is there; no rotated
# refresh token is lost (the vault holds one FreeAgent still honours,
# and the next refresh works); verify passes.
. "$(dirname "$0")/lib.sh"
noleakcheck

mkvault >/dev/null 2>&1
standin
echo "refresh_per_minute = 100000" >>"$FA_CONFIG"
fa-vault tenant add acme && fa-vault add -t acme b1 magento=s.example &&
    connect b1 1001
ok $? "b1 connected"
ctl POST config '{"rate_limits":false,"latency":{"/v2/token_endpoint":30}}' >/dev/null

writer() {	# writer NAME: logs what fa-vault said was stored
	i=0
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1)); b=$1-$i
		fa-vault add -t acme $b magento=$b.example 2>/dev/null &&
		    echo $b >>"$T/added"
		bundle $b A-$b R-$b 2001 c local 2>/dev/null |
		    fa-vault store 2>>"$T/store.err" && echo $b >>"$T/stored"
	done
}
refresher() {
	while [ ! -e "$T/stop" ]; do
		fa-refresh -f -p b1 >/dev/null 2>>"$T/refresh.err" &&
		    echo ok >>"$T/refreshed"
	done
}
writer w1 & p1=$!
writer w2 & p2=$!
refresher & p3=$!
refresher & p4=$!

kills=0
last=
seen=0
while [ $kills -lt 50 ]; do
	# A keeper serving: the storm starts one after each kill.
	k=
	i=0
	while [ -z "$k" ] && [ $i -lt 3000 ]; do
		k=$(cat "$T/vault/lock" 2>/dev/null)
		alive "$k" || k=
		[ -n "$k" ] && [ "$k" = "$last" ] && k=
		i=$((i + 1))
		[ -z "$k" ] && sleep 0.01
	done
	[ -n "$k" ] || break
	# ...and one that has acknowledged a store since the last kill, so
	# the storm gets somewhere however slow the machine (sanitizers).
	i=0
	while [ "$(cat "$T/stored" 2>/dev/null | wc -l)" -le "$seen" ] &&
	    [ $i -lt 3000 ]; do
		i=$((i + 1)); sleep 0.01
	done
	seen=$(cat "$T/stored" 2>/dev/null | wc -l)
	sleep "0.0$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | cut -c1)"
	kill -9 "$k" && kills=$((kills + 1))
	last=$k
done
touch "$T/stop"
wait $p1 $p2 $p3 $p4
[ $kills -eq 50 ]; ok $? "the keeper was killed $kills times"
expect 0 "the next request is served" fa-vault ls
cp "$T/out" "$T/ls"
jq -r 'select(.status == "connected") | .id' "$T/ls" | sort >"$T/present"
sort "$T/stored" >"$T/want"
[ "$(wc -l <"$T/want")" -ge 20 ]; ok $? "stores acknowledged: $(wc -l <"$T/want")"
missing=$(comm -23 "$T/want" "$T/present")
[ -z "$missing" ]; ok $? "every acknowledged store is there"
if [ -n "$missing" ]; then	# what became of them
	for b in $(echo "$missing" | head -n 3); do
		echo "$b: $(grep -c "^$b\$" "$T/added") add(s) acknowledged"
		fa-vault show $b 2>&1 | cut -c1-200
		fa-vault log $b 2>&1 | cut -c1-200
	done >"$T/missing"
	diag "$T/missing"
fi
jq -r .id "$T/ls" | sort >"$T/ids"
missing=$(sort "$T/added" | comm -23 - "$T/ids")
[ -z "$missing" ]; ok $? "every acknowledged add is there"
[ "$(wc -l <"$T/refreshed")" -ge 5 ]; ok $? "refreshes acknowledged: $(wc -l <"$T/refreshed")"
ctl GET tokens | jq -r '.refresh_tokens[].token' >"$T/valid"
fa-vault token b1 | jq -r .refresh_token >"$T/mine"
grep -qxF -f "$T/mine" "$T/valid"; ok $? "the vault holds a refresh token FreeAgent honours"
expect 0 "the next refresh works" fa-refresh -f -p b1
[ "$(fa-vault show b1 | jq -r .status)" = connected ]; ok $? "b1 is still connected"
expect 0 "verify passes" fa-vault verify
done_testing
