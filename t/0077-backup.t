#!/bin/sh
# fa-vault backup: a hot, consistent copy while the keeper serves a
# storm of writes; a keeper started on a copy of it serves every binding
# acknowledged before the backup began, with the same tokens, and
# verify passes.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
fa-vault tenant add acme && fa-vault add -t acme b1 magento=s.example &&
    connect b1 1001
ok $? "b1 connected"
i=0
while [ $i -lt 50 ]; do
	i=$((i + 1))
	fa-vault add -t acme p$i magento=p$i.example &&
	    bundle p$i A-p$i R-p$i 2001 c local | fa-vault store || break
done
[ $i -eq 50 ] && fa-vault ls | jq -r .id | sort >"$T/before"
ok $? "50 more bindings stored"

# Writers go on while the backup runs.
writer() {
	w=0
	while [ ! -e "$T/stop" ]; do
		w=$((w + 1))
		fa-vault add -t acme w$1-$w magento=w.example 2>>"$T/writer.err" &&
		    echo w$1-$w >>"$T/written"
	done
}
writer 1 & p1=$!
writer 2 & p2=$!
until [ -s "$T/written" ]; do :; done
expect 0 "fa-vault backup, during the writes" fa-vault backup "$T/bak"
touch "$T/stop"
wait $p1 $p2
[ ! -s "$T/writer.err" ]; ok $? "no writer failed meanwhile"
diag "$T/writer.err"
[ -z "$(ls "$T/bak" | grep -E '^(lock|sock|__db\.)')" ] && ls "$T/bak"/*.db >/dev/null
ok $? "the copy holds the databases and logs, no lock, socket or region"
expect 1 "a second backup into the same directory is refused" fa-vault backup "$T/bak"
like "$T/err" "exists: name a new directory" "saying so"
fa-vault log | jq -r 'select(.event == "backup") | .outcome + " " + .detail' >"$T/bl"
like "$T/bl" "^ok into $T/bak\$" "the backup is in the audit log"

# Restore: a copy of the backup as the vault_dir of another config.
cp -a "$T/bak" "$T/restored"
sed "s|^vault_dir = .*|vault_dir = $T/restored|" "$FA_CONFIG" >"$T/r.conf"
expect 0 "a keeper starts on the restored copy and verify passes" \
    fa-vault -c "$T/r.conf" verify
fa-vault -c "$T/r.conf" ls | jq -r .id | sort >"$T/after"
[ -z "$(comm -23 "$T/before" "$T/after")" ]
ok $? "every binding stored before the backup is in the restored vault"
fa-vault token b1 >"$T/t1" && fa-vault -c "$T/r.conf" token b1 >"$T/t2" &&
    cmp -s "$T/t1" "$T/t2"
ok $? "with the same tokens"
stopkeeper "$T/restored"
done_testing
