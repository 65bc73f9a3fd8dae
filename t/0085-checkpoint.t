#!/bin/sh
# Closing the vault. Who checkpoints: fa-vault and the cron sweep do on
# closing, so Berkeley DB's logs are removed once no longer needed; a
# per-request command (fa-prefetch -s here, fa-refresh -p alike) does
# not, since a checkpoint can stall it while another process holds a
# page. And a command that fails still closes the vault: a registry slot
# left behind would make the next opener run recovery.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
logs() { ls "$T/vault" | grep -c '^log\.'; }
# About 10 MiB of log (files of 4 MiB) by a writer that never checkpoints.
hex=$(head -c 30000 /dev/zero | xxd -p | tr -d '\n')
i=0
while [ $i -lt 340 ]; do
	rawdb "$FA_CONFIG" cache put "k$i" "$hex" || break
	i=$((i + 1))
done
[ $i -eq 340 ]; ok $? "340 writes of 30 KB"
n0=$(logs)
[ "$n0" -ge 3 ]; ok $? "the log spans several files ($n0)"
expect 66 "a per-request command that fails" fa-prefetch -s nosuch
[ "$(logs)" -eq "$n0" ]; ok $? "leaves the logs"
[ "$(grep -vc '^X' "$T/vault/__db.register")" -eq 0 ]
ok $? "and its registry slot: it closed the vault"
expect 0 "fa-vault ls" fa-vault ls
[ "$(logs)" -lt "$n0" ]; ok $? "fa-vault's checkpoint removed the old ones ($(logs) left)"
expect 0 "verify passes" fa-vault verify
done_testing
