#!/bin/sh
# A failed fsync is fatal, never retried: the write is not acknowledged,
# the keeper goes, and the next request, served by a new keeper that
# recovered what reached the disk, finds the vault consistent.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
fa-vault tenant add acme && fa-vault add -t acme b1 magento=x.example &&
    fa-vault add -t acme b2 magento=y.example
ok $? "a vault with two bindings"
k=$(cat "$T/vault/lock")
# The next fdatasync (and fsync) of the keeper fails with EIO, once: a
# retry, as Berkeley DB itself would make, would succeed.
strace -f -qq -o /dev/null -p "$k" -e trace=fdatasync,fsync \
    -e inject=fdatasync:error=EIO:when=1 -e inject=fsync:error=EIO:when=1 &
st=$!
echo $st >>"$T/pids"
i=0
until grep -q 'TracerPid:[[:space:]]*[1-9]' /proc/"$k"/task/*/status 2>/dev/null &&
    ! grep -q 'TracerPid:[[:space:]]*0$' /proc/"$k"/task/*/status; do
	i=$((i + 1)); [ $i -lt 1000 ] || break; sleep 0.01
done
bundle b1 ACC-1 REF-1 1001 one >"$T/b1.json"
bundle b2 ACC-2 REF-2 1002 two >"$T/b2.json"
expect_in 75 "a store whose fsync fails is not acknowledged" "$T/b1.json" \
    fa-vault store
like "$T/err" "write to disk failed" "and says why"
i=0
while alive "$k"; do
	i=$((i + 1)); [ $i -lt 1000 ] || break; sleep 0.01
done
! alive "$k"; ok $? "the keeper exited"
kill $st 2>/dev/null; wait $st 2>/dev/null
expect 0 "the next request is served" fa-vault show b2
[ "$(cat "$T/vault/lock")" != "$k" ]; ok $? "by a new keeper"
expect 0 "which finds the vault consistent" fa-vault verify
expect_in 0 "and stores again" "$T/b2.json" fa-vault store
done_testing
