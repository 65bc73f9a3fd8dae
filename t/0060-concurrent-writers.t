#!/bin/sh
# 64 clients writing and reading at once: none fails, nothing lost,
# nothing torn, and the keeper that served them is the one that began.
. "$(dirname "$0")/lib.sh"
noleakcheck

mkvault >/dev/null 2>&1
fa-vault tenant add acme && fa-vault add -t acme shared magento=s.example
ok $? "a shared binding"
bundle shared A0 R0 1001 acme | fa-vault store
k0=$(cat "$T/vault/lock")

P=32 N=6
w=1
while [ $w -le $P ]; do
	(
		i=1
		while [ $i -le $N ]; do
			b=w$w-$i
			fa-vault add -t acme $b magento=$b.example &&
			    bundle $b ACC-$b REF-$b 1001 acme | fa-vault store &&
			    echo $b >>"$T/committed.$w"
			bundle shared ACC-shared-$b REF-shared-$b 1001 acme |
			    fa-vault store && echo $b >>"$T/shared.$w"
			i=$((i + 1))
		done
	) 2>>"$T/errors" &
	w=$((w + 1))
done
# As many readers beside them, each a process that comes and goes.
r=1
while [ $r -le 32 ]; do
	(
		i=1
		while [ $i -le 12 ]; do
			fa-vault ls >/dev/null || echo "reader $r: exit $?"
			i=$((i + 1))
		done
	) 2>>"$T/errors" >>"$T/errors" &
	r=$((r + 1))
done
wait
[ "$(cat "$T/vault/lock")" = "$k0" ] && alive "$k0"
ok $? "one keeper served them all"
[ ! -s "$T/errors" ]; ok $? "no writer failed"
diag "$T/errors"
cat "$T"/committed.* | sort >"$T/committed"
[ "$(wc -l <"$T/committed")" -eq $((P * N)) ]; ok $? "every writer committed all"
fa-vault ls | jq -r 'select(.status == "connected") | .id' | grep -v shared |
    sort >"$T/present"
cmp -s "$T/committed" "$T/present"; ok $? "every committed binding is there"
expect 0 "verify passes" fa-vault verify
[ "$(jq -r .ok "$T/out")" -eq $((P * N + 1)) ]; ok $? "every record opens"
fa-vault show shared | jq -r .tokver >"$T/ver"
[ "$(cat "$T/ver")" -eq $(( $(cat "$T"/shared.* | wc -l) + 1 )) ]
ok $? "the shared binding's version counts every store: no update lost"
fa-vault token w3-5 | jq -r .access_token >"$T/a"
[ "$(cat "$T/a")" = ACC-w3-5 ]; ok $? "each binding has its own tokens"
done_testing
