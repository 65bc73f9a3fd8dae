#!/bin/sh
# ip_per_minute counts every request fa sends, not only refreshes and
# pages: the exchange and its company lookup, a revocation, and the
# probe after a 401. The limit is read by each process from the config,
# so the test moves it to just above what the window holds.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
echo "local.revoke_url = $SI/oauth/revoke" >>"$FA_CONFIG"
fa-vault tenant add acme
for b in b1 b2; do
	fa-vault add -t acme $b magento=$b.example && connect $b 1001
done
[ "$(fa-vault ls | jq -r 'select(.status == "connected") | .id' | wc -l)" -eq 2 ]
ok $? "two bindings connected (2 exchanges and 2 company lookups: 4 requests)"
limit() { sed -i '/^ip_per_minute/d' "$FA_CONFIG"; echo "ip_per_minute = $1" >>"$FA_CONFIG"; }

limit 5
expect 0 "a revocation, the 5th request of the minute" fa-revoke b1
[ "$(count 'POST /oauth/revoke')" -eq 1 ]; ok $? "sent"
ctl POST reset >/dev/null
expect 75 "then a forced refresh: the minute is full" fa-refresh -f b2
like "$T/err" "rate limit" "the message says why"
[ "$(count grant:refresh_token)" -eq 0 ]; ok $? "and FreeAgent is not asked"

# FreeAgent's HTML 401 to a refresh: fa asks again with a grant that
# cannot exist, to tell a refused client from a refused grant. That
# probe is a request too: with no room for it, the 401 stays unexplained
# (75), and the binding is not marked.
limit 6
ctl POST fault '{"path":"/v2/token_endpoint","kind":"html401","count":1}' >/dev/null
expect 75 "a 401 with no room left for the probe: 75" fa-refresh -f b2
like "$T/err" "could not be asked why" "the message says the 401 was not explained"
[ "$(count 'POST /v2/token_endpoint')" -eq 1 ]; ok $? "the probe was not sent"
[ "$(fa-vault show b2 | jq -r .status)" = connected ]; ok $? "b2 still connected"
limit 1000
expect 0 "with room again, the refresh works" fa-refresh -f b2
done_testing
