#!/bin/sh
# Client-side rate limits, shared by every process through the vault:
# the sweep stays under refresh_per_minute per company and leaves the
# rest for the next run; FreeAgent never has to answer 429.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
echo "refresh_per_minute = 5" >>"$FA_CONFIG"
fa-vault tenant add acme
ctl POST config '{"access_ttl":200,"refresh_per_minute":5}' >/dev/null
i=1
while [ $i -le 8 ]; do
	fa-vault add -t acme b$i magento=s$i.example && connect b$i 1001 || break
	i=$((i + 1))
done
ok $(( i <= 8 )) "8 bindings of one company, all due"
ctl POST reset >/dev/null
ctl POST config '{"access_ttl":200,"refresh_per_minute":5}' >/dev/null

expect 0 "a sweep at the limit" fa-refresh --due
[ ! -s "$T/out" ] && [ ! -s "$T/err" ]; ok $? "is quiet about what it leaves for later"
[ "$(count grant:refresh_token)" -eq 5 ]; ok $? "5 refreshes, the limit"
[ "$(ctl GET stats | jq '[.requests | to_entries[] | select(.key | test("429"))] | length')" -eq 0 ]
ok $? "no 429 from FreeAgent"
fa-vault log | grep -c '"event":"refresh","outcome":"ok"' >"$T/c"
[ "$(cat "$T/c")" -eq 5 ]; ok $? "5 refreshed"
expect 0 "a second sweep in the same minute" fa-refresh --due
[ "$(count grant:refresh_token)" -eq 5 ]; ok $? "asks nothing more"

left=$(fa-vault log | jq -r 'select(.event == "refresh") | .binding' | sort >"$T/done";
    fa-vault ls | jq -r .id | sort | comm -23 - "$T/done" | head -1)
fa-vault token "$left" | jq -r .access_token >"$T/a"
fa-refresh -p "$left" >"$T/p"
ok $? "a due binding at the limit still gets its valid token"
cmp -s "$T/a" "$T/p"; ok $? "the stored one, with no request"
[ "$(count grant:refresh_token)" -eq 5 ]; ok $? "still 5"
expect 75 "forcing a refresh at the limit: 75" fa-refresh -f "$left"
like "$T/err" "rate limit" "message says why"
done_testing
