#!/bin/sh
# kill -9 of clients at random moments, over a thousand times: no write
# a client was told was done is lost, and no client that was not killed
# fails or hangs. A client holds nothing in the vault between requests,
# so its death can harm nobody else.
. "$(dirname "$0")/lib.sh"
noleakcheck

mkvault >/dev/null 2>&1
fa-vault tenant add acme
ok $? "vault and tenant"
k0=$(cat "$T/vault/lock")

# Steady clients, never killed: writers that log a binding only once
# fa-vault said it was stored, and readers. Any failure is news.
steady() {	# steady NAME
	i=0
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1)); b=$1-$i
		timeout 60 fa-vault add -t acme $b magento=$b.example \
		    2>>"$T/odd.$1" || { echo "$b add: $?" >>"$T/odd.$1"; continue; }
		_now=$(date +%s)
		printf '{"binding":"%s","endpoint":"production","access_token":"A-%s","refresh_token":"R-%s","expires_at":%d,"refresh_token_expires_at":%d,"company":{"id":1,"name":"C","subdomain":"c"}}' \
		    $b $b $b $((_now + 3600)) $((_now + 86400 * 7)) |
		    timeout 60 fa-vault store 2>>"$T/odd.$1" &&
		    echo $b >>"$T/acked" || echo "$b store: $?" >>"$T/odd.$1"
		timeout 60 fa-vault ls -t acme >/dev/null 2>>"$T/odd.$1" ||
		    echo "ls: $?" >>"$T/odd.$1"
	done
}
steady s1 & s1=$!
steady s2 & s2=$!

# The victims: clients killed at random moments, from before they ask
# to after the keeper has answered (t/victim: a kill in the first 8 ms
# of each, counted when it landed).
kills=0
round=0
while [ $kills -lt 1000 ] && [ $round -lt 20 ]; do
	round=$((round + 1))
	bundle s2-1 AK-$round RK-$round 1 c >"$T/victim.json" 2>/dev/null
	for k in $(victim 40 8000 fa-vault add -t acme v$round magento=v.example) \
	    $(victim 40 8000 fa-vault set s1-1 magento=k$round.example) \
	    $(victim 40 8000 fa-vault ls) \
	    $(victim -i "$T/victim.json" 40 8000 fa-vault store); do
		kills=$((kills + k))
	done
done
touch "$T/stop"
wait $s1 $s2
[ "$kills" -ge 1000 ]; ok $? "$kills clients killed, in $round rounds of 160"
cat "$T"/odd.* >"$T/odd" 2>/dev/null
[ ! -s "$T/odd" ]; ok $? "no client that was not killed failed"
diag "$T/odd"
[ "$(cat "$T/vault/lock")" = "$k0" ]; ok $? "the keeper never went"
fa-vault ls >"$T/out"
jq -r 'select(.status == "connected") | .id' "$T/out" | sort >"$T/present"
sort "$T/acked" | grep -v '^s[12]-1$' >"$T/want"
[ "$(wc -l <"$T/want")" -ge 10 ]; ok $? "steady writers were told $(wc -l <"$T/want") stores were done"
missing=$(comm -23 "$T/want" "$T/present")
[ -z "$missing" ]; ok $? "every one of them is there"
[ -z "$missing" ] || echo "# missing: $missing"
expect 0 "verify passes" fa-vault verify
done_testing
