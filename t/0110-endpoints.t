#!/bin/sh
# Endpoints: sandbox and production each use their own client id and
# secret; a custom endpoint's URLs come from the config; plain http is
# refused anywhere but loopback.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
standin
ctl GET fixture | jq -c '.clients += [{"client_id":"sbx-client",
    "client_secret":"sbx-secret-987","redirect_uris":[]},
    {"client_id":"prod-client","client_secret":"prod-secret-654",
    "redirect_uris":[]}]' >"$T/fixture"
ctl POST fixture "$(cat "$T/fixture")" >/dev/null
printf 'sbx-secret-987\n' >"$T/sbx.secret"
printf 'prod-secret-654\n' >"$T/prod.secret"
chmod 600 "$T/sbx.secret" "$T/prod.secret"
# Both built-in endpoints pointed at the stand-in (loopback is allowed).
cat >>"$FA_CONFIG" <<CONF
sandbox.base_url = $SI/v2
sandbox.client_id = sbx-client
sandbox.client_secret_file = $T/sbx.secret
production.base_url = $SI/v2
production.client_id = prod-client
production.client_secret_file = $T/prod.secret
CONF
fa-vault tenant add trial endpoint=sandbox && fa-vault tenant add live \
    endpoint=production && fa-vault add -t trial s1 magento=s.example &&
    fa-vault add -t live p1 magento=p.example &&
    fa-vault add -t live p2 magento=q.example endpoint=sandbox
ok $? "a sandbox tenant, a production tenant, a binding flipped to sandbox"

fa-authurl s1 >"$T/u"; like "$T/u" "client_id=sbx-client&" "sandbox URL uses sandbox's client id"
fa-authurl p1 >"$T/u"; like "$T/u" "client_id=prod-client&" "production URL uses production's"
fa-authurl p2 >"$T/u"; like "$T/u" "client_id=sbx-client&" "a binding's own endpoint wins over its tenant's"
connect s1 1001; ok $? "connect through sandbox"
connect p1 1001; ok $? "connect through production"
ctl GET tokens >"$T/tok"
[ "$(fa-vault token s1 | jq -r .access_token)" = \
  "$(jq -r '.access_tokens[] | select(.client_id == "sbx-client") | .token' "$T/tok")" ]
ok $? "s1's tokens were issued to the sandbox client"
[ "$(fa-vault token p1 | jq -r .access_token)" = \
  "$(jq -r '.access_tokens[] | select(.client_id == "prod-client") | .token' "$T/tok")" ]
ok $? "p1's tokens were issued to the production client"
[ "$(fa-vault show s1 | jq -r .token_endpoint)" = sandbox ]
ok $? "the binding remembers which endpoint its tokens are for"

# An operator flips the tenant to production: a new connect is needed,
# and the old sandbox bundle no longer fits the binding.
fa-vault token s1 >"$T/old"
fa-vault tenant set trial endpoint=production
expect_in 65 "a sandbox bundle is refused for a production binding" \
    "$T/old" fa-vault store
fa-authurl s1 >"$T/u"; like "$T/u" "client_id=prod-client&" "after the flip, production's client"

# A custom endpoint with its own authorize and token URLs.
cat >>"$FA_CONFIG" <<CONF
mock.base_url = $SI/v2
mock.authorize_url = $SI/v2/approve_app?prompt=company
mock.token_url = $SI/v2/token_endpoint
mock.client_id = $CID
mock.client_secret_file = $T/local.secret
CONF
fa-vault add -t live m1 magento=m.example endpoint=mock
fa-authurl m1 >"$T/u"
like "$T/u" "^$SI/v2/approve_app\\?prompt=company&client_id=$CID&" \
    "authorize_url from the config, extra query kept"
connect m1 1003; ok $? "connect through the custom endpoint"

# Plain http to anything but loopback is refused, naming file and line.
for u in http://api.example.com/v2 http://127.example.com/v2 \
    http://localhost.example.com/v2 http://10.0.0.1/v2 \
    http://127.0.0.1:1@evil.example/v2 http://localhost:80@evil.example/v2 \
    http://127.0.0.1.evil.example/v2 https://user@api.example.com/v2; do
	cp "$FA_CONFIG" "$T/bad.conf"
	echo "far.base_url = $u" >>"$T/bad.conf"
	expect 78 "plain http refused: $u" fa-authurl -c "$T/bad.conf" p1
	like "$T/err" "bad.conf:[0-9]+: far.base_url must be https" "file:line named: $u"
done
for u in https://api.example.com/v2 http://127.0.0.1:9/v2 http://localhost/v2 \
    'http://[::1]:8/v2'; do
	cp "$FA_CONFIG" "$T/good.conf"
	echo "far.base_url = $u" >>"$T/good.conf"
	expect 0 "allowed: $u" fa-authurl -c "$T/good.conf" p1
done
# The keeper checks an endpoint against its own config, which it reads
# again when the file changes.
echo "far.base_url = http://[::1]:8/v2" >>"$FA_CONFIG"
fa-vault set p1 endpoint=far
expect 78 "an endpoint without client_id" fa-authurl p1
like "$T/err" "no client_id" "message names what is missing"
done_testing
