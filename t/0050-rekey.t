#!/bin/sh
# rekey: every record re-sealed with the new key; a crash halfway leaves
# every record readable with one of the two keys, and running rekey again
# finishes the job.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
fa-vault tenant add acme
# Under the sanitizers (make check-asan), fewer records and kills, and
# fewer records put back by hand (each rawdb stops the keeper and the
# next client starts it): the code paths are the same, and each costs
# several times as much there.
N=150 KILLS=6 OLD="1 2 3 4 5 6 7 8 9 10"
[ "$B" != "$TOP" ] && N=20 KILLS=3 OLD="1 2"
i=1
while [ $i -le $N ]; do
	fa-vault add -t acme b$i magento=s$i.example &&
	    bundle b$i ACC-$i REF-$i 1001 acme | fa-vault store || break
	i=$((i + 1))
done
ok $(( i <= N )) "$N bindings stored"

keyof() { fa-vault show "$1" | jq -r .token.key; }
oldid=$(keyof b1)
for i in $OLD; do rawdb "$FA_CONFIG" tokens get b$i >"$T/old.$i"; done

fa-vault keygen "$T/new.key"
expect 0 "rekey" fa-vault rekey "$T/new.key"
newid=$(keyof b1)
[ "$newid" != "$oldid" ] && [ "$(keyof b$N)" = "$newid" ]
ok $? "records now name the new key"
cmp -s "$T/master.key" "$T/new.key"; ok $? "master_key_file holds the new key"
[ "$(stat -c %a "$T/master.key")" = 400 ]; ok $? "and is mode 0400"
cmp -s "$T/master.key.old" "$T/new.key"; ok $(( $? == 0 )) "old key kept beside it"
expect 0 "verify after rekey" fa-vault verify
[ "$(jq -r .ok "$T/out")" = $N ]; ok $? "verify opened all $N records"
fa-vault token b7 | jq -r .access_token >"$T/a"
[ "$(cat "$T/a")" = ACC-7 ]; ok $? "tokens unchanged by rekey"
fa-vault log | jq -r 'select(.event == "rekey") | .outcome' >"$T/log"
[ "$(tr '\n' ' ' <"$T/log")" = "started ok " ]; ok $? "rekey is audited"
cp "$T/master.key" "$T/same.key"
expect 0 "rekey to the key in use does nothing" fa-vault rekey "$T/same.key"
[ "$(keyof b1)" = "$newid" ]; ok $? "records keep the key"
chmod 644 "$T/new.key"
expect 78 "rekey refuses a loose new key" fa-vault rekey "$T/new.key"
chmod 400 "$T/new.key"

# The state a crash halfway leaves: the rekey mark, the old key still in
# master_key_file, the first records ($OLD) under the old key and the rest
# under the new.
cp "$T/master.key.old" "$T/k"; rm -f "$T/master.key"; mv "$T/k" "$T/master.key"
mark=$(printf '{"file":"%s","id":"%s","old":"%s"}' "$T/new.key" "$newid" \
    "$oldid" | od -An -tx1 | tr -d ' \n')
rawdb "$FA_CONFIG" meta put rekey "$mark"
for i in $OLD; do
	rawdb "$FA_CONFIG" tokens put b$i "$(cat "$T/old.$i")"
done
[ "$(keyof b1)" = "$oldid" ] && [ "$(keyof b$N)" = "$newid" ]
ok $? "half-way state: records under both keys"
expect 0 "verify passes half-way" fa-vault verify
fa-vault token b1 | jq -r .access_token >"$T/a1"
fa-vault token b$N | jq -r .access_token >"$T/aN"
[ "$(cat "$T/a1") $(cat "$T/aN")" = "ACC-1 ACC-$N" ]
ok $? "records under either key open half-way"
bundle b2 NEWACC-2 NEWREF-2 1001 acme | fa-vault store
[ "$(keyof b2)" = "$newid" ]; ok $? "writes half-way seal with the new key"
expect 0 "rekey again finishes" fa-vault rekey "$T/new.key"
fa-vault ls | jq -r .id | while read -r b; do keyof "$b"; done | sort -u >"$T/ids"
[ "$(cat "$T/ids")" = "$newid" ]; ok $? "every record is under the new key"
expect 0 "verify" fa-vault verify

# kill -9 at random moments of a rekey; each time every record stays
# readable and a rerun finishes.
round=1
while [ $round -le $KILLS ]; do
	fa-vault keygen "$T/k$round"
	fa-vault rekey "$T/k$round" 2>/dev/null &
	pid=$!
	sleep "0.0$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | cut -c1)"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	fa-vault verify >/dev/null 2>"$T/err"
	ok $? "round $round: verify passes after kill -9 of rekey"
	fa-vault rekey "$T/k$round" 2>/dev/null && fa-vault verify >/dev/null
	ok $? "round $round: rekey rerun finishes"
	round=$((round + 1))
done
cmp -s "$T/master.key" "$T/k$KILLS"; ok $? "the last key is installed"
fa-vault token b$N | jq -r .access_token >"$T/a"
[ "$(cat "$T/a")" = "ACC-$N" ]; ok $? "tokens survived every round"
done_testing
