#!/bin/sh
# fa-prefetch: every page of every list, the cache equal to FreeAgent's
# data, lists fetched side by side, a short Retry-After waited out, a
# failure keeps the old cache, a 401 to a fresh token means
# needs_reconnect.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
echo "refresh_per_minute = 100000" >>"$FA_CONFIG"
echo "api_per_minute = 100000" >>"$FA_CONFIG"
# 250 standard accounts: three pages at per_page=100. Their long names
# make a cache that goes to the keeper in parts: UTF-8 of one to four
# bytes a character, quotes and backslashes, which no part may cut.
ctl GET fixture | jq -c '.companies[0].bank_accounts += [range(1000;1250) |
    {"id": ., "type":"StandardBankAccount",
     "name":"Extra \(.) \("é€😀" * (40 + . % 7)) £\"q\"\\\\ ",
     "currency":"GBP", "is_personal":false, "is_primary":false,
     "status":"active", "bank_name":"Bank", "opening_balance":"0.0",
     "current_balance":"0.0"}]' >"$T/fx"
ctl POST fixture "$(cat "$T/fx")" >/dev/null
fa-vault tenant add acme && fa-vault add -t acme b1 magento=s.example &&
    connect b1 1001
ok $? "b1 connected"

expect 66 "-s before any prefetch: no cache" fa-prefetch -s nope
expect 1 "-s with nothing cached says how to get it" fa-prefetch -s b1
like "$T/err" "run fa-prefetch b1" "message says what to run"

ctl POST reset >/dev/null
ctl POST config '{"latency_ms":100}' >/dev/null
# (LeakSanitizer cannot run under ptrace.)
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 strace -f -qq \
    -e trace=sendto -e signal=none -s 24 -o "$T/st" \
    fa-prefetch b1 >"$T/out" 2>"$T/err"
ok $? "prefetch"
cp "$T/out" "$T/cache"
[ "$(grep -c '"prefetch.part' "$T/st")" -ge 3 ]
ok $? "the cache went to the keeper in parts ($(grep -c '"prefetch.part' "$T/st"))"
jq -r '.income_categories[].description' "$T/cache" | sort >"$T/got"
jq -r '.companies[0].income_categories[].description' "$T/fx" | sort >"$T/want"
cmp -s "$T/got" "$T/want"; ok $? "income categories: exactly FreeAgent's"
jq -r '.bank_accounts[].name' "$T/cache" | sort >"$T/got"
jq -r '.companies[0].bank_accounts[].name' "$T/fx" | sort >"$T/want"
cmp -s "$T/got" "$T/want"; ok $? "bank accounts of every type and page: exactly FreeAgent's ($(wc -l <"$T/want"))"
jq -r '.payment_targets[].name' "$T/cache" | sort >"$T/got"
jq -r '.companies[0].bank_accounts[] | select(.status != "hidden") | .name' "$T/fx" | sort >"$T/want"
cmp -s "$T/got" "$T/want"; ok $? "payment targets: the accounts that are not hidden"
jq -e '.company.name == "Acme Widgets Ltd" and (.item_types | index("Hours")) != null
    and (.item_types | length) == 16' "$T/cache" >/dev/null
ok $? "company and FreeAgent's item types"
jq -e '[.income_categories[].nominal_code | type] | all(. == "string")' "$T/cache" >/dev/null
ok $? "nominal codes stay strings"
ctl GET stats >"$T/stats"
pages=$(jq '[.companies[0].bank_accounts[] | .type] | group_by(.) |
    map((length + 99) / 100 | floor) | add' "$T/fx")
[ "$(jq -r '.requests["GET /v2/bank_accounts"]' "$T/stats")" -eq "$pages" ]
ok $? "every page of every account list, each once ($pages)"
[ "$(jq .max_inflight "$T/stats")" -ge 5 ]
ok $? "the five lists were fetched side by side"
expect 0 "-s prints the cache without the network" fa-prefetch -s b1
cmp -s "$T/out" "$T/cache"; ok $? "the same cache"

# The keeper's side of the parts. A part waits as it came under a key of
# its own until the save takes it out; a save missing a part, or given
# another binding's, changes nothing; a part a client left more than an
# hour ago goes with the next save, a younger one stays.
stale=part:$(printf '%032d' 7):0
rawdb "$FA_CONFIG" cache put "$stale" \
    "$(printf '{"binding":"b1","at":1}\nx' | od -An -tx1 | tr -d ' \n')"
fa-vault ls >/dev/null	# the keeper, which rawdb stopped, started again
python3 - "$T/vault/sock" "$T/cache" "$T/wantleft" >"$T/parts" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
def ask(v, **a):
    s.sendall(json.dumps({"v": v, "a": a}, ensure_ascii=False).encode() + b"\n")
    r = json.loads(f.readline())
    return "%s %s" % (r["s"], r.get("e", ""))
text = open(sys.argv[2]).read().strip().replace("Acme Widgets Ltd", "Acme Parts Ltd")
cut = [text[i:i + 8000] for i in range(0, len(text), 8000)]
k = len(cut) - 1        # parts; the last piece goes with the save
parts = []
def part(up, i, b="b1"):
    parts.append(ask("prefetch.part", binding=b, upload=up * 32, seq=i,
                     text=cut[i]))
def save(up):
    return ask("prefetch.save", binding="b1", outcome="ok", detail="",
               upload=up * 32, parts=k, text=cut[-1])
for i in range(k - 1): part("a", i)         # the last part never sent
print(save("a"))
for i in range(k): part("b", i, "b2" if i == 0 else "b1")
print(save("b"))
part("c", 0)                                # a client that died
for i in range(k): part("d", i)
print(save("d"))
print("parts: %d, %s" % (k, " ".join(sorted(set(parts)))))
open(sys.argv[3], "w").writelines("part:%s:%d\n" % (u * 32, i) for u, n in
                                  (("a", k - 1), ("b", k), ("c", 1))
                                  for i in range(n))
PY
diag "$T/parts"
sed -n 1p "$T/parts" | grep -q '^75 b1: part of its reference data went missing; try again$'
ok $? "a save with a part missing: 75, and says so"
sed -n 2p "$T/parts" | grep -q '^75 .*went missing'
ok $? "a save given another binding's part: 75"
sed -n 3p "$T/parts" | grep -q '^0 $' && sed -n 4p "$T/parts" | grep -Eq '^parts: [0-9]+, 0 $'
ok $? "every part taken, and a save with all its parts: 0"
fa-prefetch -s b1 >"$T/got"
sed 's/Acme Widgets Ltd/Acme Parts Ltd/' "$T/cache" | cmp -s - "$T/got"
ok $? "the parts, put together, are the cache, byte for byte"
rawdb "$FA_CONFIG" cache keys | grep '^part:' | sort >"$T/left"
sort -o "$T/wantleft" "$T/wantleft"
diff "$T/left" "$T/wantleft" >"$T/leftdiff"
ok $? "the stale part went with the save; the young and the refused stayed"
diag "$T/leftdiff"

# 429: a short Retry-After is waited out and the page asked again; a
# long one is 75 with FreeAgent's wait, the page not asked again, and
# the wait kept.
ctl POST reset >/dev/null
ctl POST fault '{"path":"/v2/categories","kind":"429","count":1,"retry_after":1,"window":true}' >/dev/null
expect 0 "a 429 with Retry-After: 1 is waited out" fa-prefetch b1
jq -S '.income_categories' "$T/out" >"$T/got"
jq -S '.income_categories' "$T/cache" >"$T/want"
cmp -s "$T/got" "$T/want"; ok $? "and the categories are whole"
[ "$(count 'GET /v2/categories')" -eq 2 ]; ok $? "the page asked again, once"
cp "$T/out" "$T/cache"
ctl POST reset >/dev/null
ctl POST fault '{"path":"/v2/categories","kind":"429","count":2,"retry_after":1}' >/dev/null
expect 75 "a second 429 after waiting: 75" fa-prefetch b1
like "$T/err" "HTTP 429, FreeAgent asks to wait 1 s; try again later" \
    "with FreeAgent's wait"
# pastwait: fa-prefetch b1 again and again while it says FreeAgent's
# wait is not over (never asking FreeAgent); its status once it is.
pastwait() {
	_i=0
	until fa-prefetch b1 >"$T/out" 2>"$T/err"; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] && grep -q 'at the API rate limit' "$T/err" ||
		    return 1
		sleep 0.2
	done
}
pastwait; ok $? "fa-prefetch works once that wait is over"
diag "$T/err"
cp "$T/out" "$T/cache"
ctl POST reset >/dev/null
ctl POST fault '{"path":"/v2/categories","kind":"429","count":1,"retry_after":6}' >/dev/null
expect 75 "a 429 with Retry-After: 6: 75" fa-prefetch b1
like "$T/err" "HTTP 429, FreeAgent asks to wait 6 s" "with FreeAgent's wait"
[ "$(count 'GET /v2/categories')" -eq 1 ]; ok $? "the page not asked again"
fa-prefetch -s b1 | cmp -s - "$T/cache"
ok $? "the cache of the waited-out run stays"
# The wait is kept in the vault: until it is over nothing asks FreeAgent.
count 'GET /v2/company' >"$T/n0"
expect 75 "asked again at once: 75" fa-prefetch b1
like "$T/err" "b1: at the API rate limit; try again in [1-6] s" "saying how long"
[ "$(count 'GET /v2/company')" -eq "$(cat "$T/n0")" ]
ok $? "and FreeAgent not asked"
pastwait
[ "$(count 'GET /v2/company')" -eq $(($(cat "$T/n0") + 1)) ]
ok $? "once it is over, fa-prefetch asks FreeAgent and succeeds"
diag "$T/err"
cp "$T/out" "$T/cache"

# A failure keeps the previous cache.
for kind in 503 malformed truncated; do
	ctl POST fault "{\"path\":\"/v2/bank_accounts\",\"kind\":\"$kind\",\"count\":1}" >/dev/null
	expect 75 "$kind on a list: 75" fa-prefetch b1
	fa-prefetch -s b1 | cmp -s - "$T/cache"; ok $? "$kind: the old cache stays"
done
fa-vault log b1 | grep -q '"event":"prefetch","outcome":"failed"'; ok $? "failures audited"

# 401 from the API to a fresh token: access was revoked in FreeAgent.
ctl POST fault '{"path":"/v2/company","kind":"html401","count":1}' >/dev/null
expect 77 "401 to a fresh token: 77" fa-prefetch b1
[ "$(fa-vault show b1 | jq -r .status)" = needs_reconnect ]; ok $? "needs_reconnect"
fa-prefetch -s b1 | cmp -s - "$T/cache"; ok $? "the cache stays"
expect 77 "a binding that is not connected: 77" fa-prefetch b1

# --stale: every connected binding whose cache is older.
fa-vault add -t acme b2 magento=t.example && connect b2 1002
fa-vault add -t acme b3 magento=u.example && connect b3 1003
ctl POST reset >/dev/null
ctl POST config '{"latency_ms":300}' >/dev/null
expect 0 "--stale 3600" fa-prefetch --stale 3600
[ ! -s "$T/out" ] && [ ! -s "$T/err" ]; ok $? "quiet"
[ "$(count 'GET /v2/company')" -eq 2 ]; ok $? "b2 and b3 fetched (b1 needs reconnecting)"
[ "$(ctl GET stats | jq .max_inflight)" -gt 5 ]
ok $? "the two bindings were fetched side by side"
fa-prefetch -s b2 | jq -e '.income_categories | length > 0' >/dev/null &&
    fa-prefetch -s b3 | jq -e '.income_categories | length > 0' >/dev/null
ok $? "both caches stored"
expect 0 "--stale 3600 again" fa-prefetch --stale 3600
[ "$(count 'GET /v2/company')" -eq 2 ]; ok $? "nothing is stale: nothing fetched"
# One binding failing: its line on stderr, the other still fetched, 1.
ctl POST reset >/dev/null
now=$(date +%s)		# both caches are older than this second once it ends
while [ "$(date +%s)" -eq "$now" ]; do :; done
ctl POST fault '{"path":"/v2/company","kind":"503","count":1}' >/dev/null
expect 1 "--stale 0 with one binding failing: 1" fa-prefetch --stale 0
[ "$(wc -l <"$T/err")" -eq 1 ]; ok $? "one line on stderr"
like "$T/err" '^fa-prefetch: b[23]: .*503' "it names the binding and the failure"
[ ! -s "$T/out" ]; ok $? "no cache printed"
other=b2; grep -q 'b2:' "$T/err" && other=b3
[ "$(fa-prefetch -s $other | jq .fetched_at)" -gt "$now" ]
ok $? "the other binding was fetched too"
# A child that dies by a signal is named, not silent: a copy of
# fa-prefetch whose fa-refresh kills the child that asks it for a token.
mkdir -p "$T/kb"
cp "$B/bin/fa-prefetch" "$T/kb/"
printf '#!/bin/sh\nkill -9 $PPID\n' >"$T/kb/fa-refresh"
chmod +x "$T/kb/fa-refresh"
expect 1 "--stale with a child killed: 1" "$T/kb/fa-prefetch" --stale 0
like "$T/err" '^fa-prefetch: b[23]: killed by signal 9$' "the killed child is named"

# A hostile or broken FreeAgent cannot make a prefetch huge or slow:
# over 5,000 items in a list, or past 2 x http_timeout for the whole,
# it fails and the cache stays as it was.
ctl POST reset >/dev/null
fa-vault add -t acme bx magento=x.example && connect bx 1001
fa-prefetch bx >/dev/null
fa-prefetch -s bx | jq .fetched_at >"$T/t0"
# (Without the extra accounts: the stand-in takes a fixture of 1 MiB.)
ctl GET fixture | jq -c '.companies[0].bank_accounts |=
    map(select(.name | startswith("Extra ") | not)) |
    .companies[0].income_categories |= (.[0] as $c |
    [range(5001) | . as $i | $c | .nominal_code = "\(1000 + $i)" |
    .description = "Income \($i)"])' >"$T/fx"
ctl POST fixture "$(cat "$T/fx")" >/dev/null
expect 65 "5,001 income categories: refused" fa-prefetch bx
like "$T/err" "more than 5000 income categories" "and says so"
[ "$(fa-prefetch -s bx | jq .fetched_at)" = "$(cat "$T/t0")" ]
ok $? "the cache stays as it was"
ctl POST reset >/dev/null
ctl GET fixture | jq -c '.companies[0].income_categories |= (.[0] as $c |
    [range(700) | . as $i | $c | .nominal_code = "\(1000 + $i)" |
    .description = "Income \($i)"])' >"$T/fx"
ctl POST fixture "$(cat "$T/fx")" >/dev/null
ctl POST config '{"latency":{"/v2/categories":1500}}' >/dev/null
echo "http_timeout = 2" >>"$FA_CONFIG"
expect 75 "seven pages of 1.5 s with 4 s for the whole: temporary" fa-prefetch bx
like "$T/err" "longer than 4 s" "and says so"
[ "$(count 'GET /v2/categories')" -lt 7 ]; ok $? "it stopped asking"
[ "$(fa-prefetch -s bx | jq .fetched_at)" = "$(cat "$T/t0")" ]
ok $? "the cache stays as it was"
done_testing
