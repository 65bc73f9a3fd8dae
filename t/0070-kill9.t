#!/bin/sh
# kill -9 of clients at random moments, over a thousand times: no write
# a client was told was done is lost, and no client that was not killed
# fails or hangs. A client holds nothing in the vault between requests,
# so its death can harm nobody else.
. "$(dirname "$0")/lib.sh"

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
# to after the keeper has answered; counted when the kill landed (the
# shell's wait says SIGKILL ended it).
kills=0
round=1
while [ $kills -lt 1000 ] && [ $round -le 400 ]; do
	pids=
	j=0
	while [ $j -lt 20 ]; do
		case $((j % 4)) in
		0) fa-vault add -t acme v$round-$j magento=v.example \
		    >/dev/null 2>&1 & ;;
		1) fa-vault set s1-1 magento=k$round.example >/dev/null 2>&1 & ;;
		2) fa-vault ls >/dev/null 2>&1 & ;;
		3) bundle s2-1 AK-$round-$j RK-$round-$j 1 c 2>/dev/null |
		    fa-vault store >/dev/null 2>&1 & ;;
		esac
		pids="$pids $!"
		j=$((j + 1))
	done
	sleep "0.00$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | cut -c1)"
	kill -9 $pids 2>/dev/null
	for p in $pids; do
		wait "$p" 2>/dev/null
		[ $? -eq 137 ] && kills=$((kills + 1))
	done
	round=$((round + 1))
done
touch "$T/stop"
wait $s1 $s2
[ "$kills" -ge 1000 ]; ok $? "$kills clients killed, in $((round - 1)) rounds of 20"
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
