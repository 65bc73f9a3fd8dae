#!/bin/sh
# The whole-suite leak check (t/leakscan.py, run by every test's
# done_testing) finds a secret in each place it looks, in each form.
. "$(dirname "$0")/lib.sh"

L=$T/l
tok='Zq8+AbCdEf/GhIjKlMnOpQrStUvWxYz0123456789abcd='
fresh() { rm -rf "$L"; mkdir -p "$L/vault"; echo "$tok" >"$L/issued"; }
scan() { python3 "$TOP/t/leakscan.py" "$L" >"$T/found"; }

fresh
scan; ok $? "nothing written: nothing found"
like "$T/found" 'scanned 0 files for 1 secrets' "it read the secrets"

for f in vault/tokens.db vault/log.0000000001 x.err err stderr errors \
    stderr.all pages.all audit.txt lighttpd.log; do
	fresh
	printf 'before %s after' "$tok" >"$L/$f"
	scan; [ $? -eq 1 ]; ok $? "a token in $f is found"
	unlike "$T/found" "$tok" "the report does not repeat it ($f)"
done
for form in "$(printf %s "$tok" | jq -sRr @uri)" \
    "$(printf %s "$tok" | jq -sRr @uri | sed 's/%2B/%2b/; s/%2F/%2f/')" \
    "$(printf %s "$tok" | sed 's|/|\\/|g')"; do
	fresh
	echo "$form" >"$L/x.err"
	scan; [ $? -eq 1 ]; ok $? "found encoded: $form"
done
fresh
echo "$tok" >"$L/standin.err"
echo "$tok" >"$L/out"
scan; ok $? "the stand-in's log and a token command's stdout are not fa's leaks"

# The master key, raw bytes, in hex or base64 anywhere fa writes.
fresh
head -c 32 /dev/urandom >"$L/master.key"
xxd -p -c 64 "$L/master.key" >"$L/vault/x"
scan; [ $? -eq 1 ]; ok $? "the master key in hex in the vault directory"
base64 "$L/master.key" >"$L/vault/x"
scan; [ $? -eq 1 ]; ok $? "the master key in base64"
base64 "$L/master.key" | tr -d '=\n' >"$L/vault/x"
scan; [ $? -eq 1 ]; ok $? "the master key in base64 without padding"

# argv and environment of fa processes, as t/procscan records them.
fresh
mkdir -p "$T/pb"
cp /bin/sh "$T/pb/fa-leaky"
(procscan "$L/proc.log" $$ </dev/null >/dev/null 2>&1 &)
i=0
until grep -q "$tok" "$L/proc.log" 2>/dev/null || [ $i -ge 100 ]; do
	"$T/pb/fa-leaky" -c 'sleep 0.1' "$tok"
	i=$((i + 1))
done
scan; [ $? -eq 1 ]; ok $? "a token in an fa process's argv"
fresh
(procscan "$L/proc.log" $$ </dev/null >/dev/null 2>&1 &)
i=0
until grep -q SECRET_X "$L/proc.log" 2>/dev/null || [ $i -ge 100 ]; do
	SECRET_X=$tok "$T/pb/fa-leaky" -c 'sleep 0.1'
	i=$((i + 1))
done
scan; [ $? -eq 1 ]; ok $? "a token in an fa process's environment"
done_testing
