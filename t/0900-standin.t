#!/bin/sh
# The FreeAgent stand-in (t/standin.py) behaves like FreeAgent, quirks
# included, and obeys its /_control API.  Other tests drive fa against it,
# so this pins what they rely on.  Needs sh, curl, jq, python3.

here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/fa-standin.XXXXXX") || exit 1
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

n=0
ok()  { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
# t DESCRIPTION CONDITION: CONDITION is shell code, evaluated here
t() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
bail() { echo "Bail out! $*"; exit 1; }

python3 "$here/standin.py" --port 0 --port-file "$T/port" 2>"$T/server.err" &
pid=$!
tries=0
until [ -s "$T/port" ]; do
	kill -0 "$pid" 2>/dev/null || bail "stand-in died: $(cat "$T/server.err")"
	tries=$((tries + 1)); [ $tries -lt 500 ] || bail "no port file"
	sleep 0.02
done
PORT=$(cat "$T/port")
B=http://127.0.0.1:$PORT
CID=fa-test-client
SEC=fa-test-secret-0123456789
RU='http://127.0.0.1:9/cb?from=fa'
STATE='s+/= &x?y'
DENIED='HTTP Basic: Access denied.'

# req NAME CURL-ARGS...: body in $T/NAME.b, headers in $T/NAME.h, prints status
req() {
	_r=$1; shift
	curl -sS -o "$T/$_r.b" -D "$T/$_r.h" -w '%{http_code}' "$@" 2>"$T/$_r.e"
}
# hdr NAME HEADER: value of the header's last occurrence
hdr() { tr -d '\r' <"$T/$1.h" | grep -i "^$2:" | tail -n 1 | sed 's/^[^:]*: *//'; }
has_hdr() { tr -d '\r' <"$T/$1.h" | grep -qi "^$2:"; }
body_is() { printf '%s' "$2" | cmp -s - "$T/$1.b"; }
jqb() { _r=$1; shift; jq -e "$@" "$T/$_r.b" >/dev/null 2>&1; }
ctl() { curl -sS -X "$1" -H 'Content-Type: application/json' --data "${3:-}" "$B/_control/$2"; }
qparam() {
	python3 -c 'import sys, urllib.parse as u
q = u.parse_qs(u.urlsplit(sys.argv[1]).query, keep_blank_values=True)
print(q.get(sys.argv[2], [""])[0])' "$1" "$2"
}
next_link() { hdr "$1" Link | tr ',' '\n' | grep 'rel="next"' | sed 's/.*<\(.*\)>.*/\1/'; }
consent() { # consent NAME COMPANY: approve-mode consent, prints status
	ctl POST consent "{\"mode\":\"approve\",\"company\":\"$2\"}" >/dev/null
	req "$1" --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
		--data-urlencode "redirect_uri=$RU" --data-urlencode "state=$STATE" "$B/v2/approve_app"
}
code_of() { qparam "$(hdr "$1" Location)" code; }
exchange() { # exchange NAME CODE [ID:SECRET [REDIRECT_URI]]
	req "$1" -u "${3:-$CID:$SEC}" --data-urlencode grant_type=authorization_code \
		--data-urlencode "code=$2" --data-urlencode "redirect_uri=${4:-$RU}" "$B/v2/token_endpoint"
}
refresh() { # refresh NAME REFRESH_TOKEN
	req "$1" -u "$CID:$SEC" --data-urlencode grant_type=refresh_token \
		--data-urlencode "refresh_token=$2" "$B/v2/token_endpoint"
}
connect() { # connect COMPANY: consent + exchange, sets AT and RT
	consent cc "$1" >/dev/null
	exchange cx "$(code_of cc)" >/dev/null
	AT=$(jq -r .access_token "$T/cx.b"); RT=$(jq -r .refresh_token "$T/cx.b")
}
api() { # api NAME TOKEN PATH [CURL-ARGS...]
	_r=$1 _t=$2 _p=$3; shift 3
	req "$_r" -A fa-test/1 -H 'Accept: application/json' -H "Authorization: Bearer $_t" "$@" "$B$_p"
}
is_html401() {
	[ "$2" = 401 ] && body_is "$1" "$DENIED" &&
	[ "$(hdr "$1" Content-Type)" = "text/html; charset=utf-8" ] &&
	[ "$(hdr "$1" WWW-Authenticate)" = 'Basic realm="Application"' ]
}
is_invalid_grant() {
	[ "$2" = 400 ] && hdr "$1" Content-Type | grep -q '^application/json' &&
	jqb "$1" '.error == "invalid_grant"'
}

# ---- start-up
t "port file holds the listening port" 'case $PORT in ""|*[!0-9]*) false;; esac'
t "control stats answer with nothing in flight" \
	'curl -sS "$B/_control/stats" | jq -e ".inflight == 0 and .max_inflight == 0 and .requests == {}" >/dev/null'

# ---- consent and code exchange
s=$(consent c1 1001); loc=$(hdr c1 Location)
check "approve mode: 302 to redirect_uri with code, state and iss" \
	test "$s" = 302 -a "${loc#"$RU&code="}" != "$loc" \
	-a "$(qparam "$loc" state)" = "$STATE" -a "$(qparam "$loc" iss)" = "$B/v2"
code=$(code_of c1)
s=$(exchange x1 "$code")
check "code + HTTP Basic gives FreeAgent's token JSON" \
	test "$s" = 200 -a "$(jq -c '[.token_type, .expires_in, .refresh_token_expires_in,
	  (.access_token|type), (.refresh_token|type)]' "$T/x1.b")" = \
	'["bearer",3600,631151957,"string","string"]'
AT1=$(jq -r .access_token "$T/x1.b"); RT1=$(jq -r .refresh_token "$T/x1.b")
tokshape() { [ ${#1} -ge 40 ] && case $1 in *+*) ;; *) false;; esac &&
	case $1 in */*) ;; *) false;; esac && case $1 in *=*) ;; *) false;; esac; }
check "tokens are 40+ chars holding '+', '/' and '='" \
	sh -c "$(command -v tokshape >/dev/null; echo true)" && tokshape "$AT1" && tokshape "$RT1" &&
	[ "$AT1" != "$RT1" ] && ok "tokens are 40+ chars holding '+', '/' and '='" ||
	nok "tokens are 40+ chars holding '+', '/' and '='"
s=$(exchange x2 "$code")
check "reused code: 401 text/html 'HTTP Basic: Access denied.' + Basic realm" is_html401 x2 "$s"

consent c2 1001 >/dev/null; code=$(code_of c2)
s=$(exchange x3 "$code" "$CID:wrong-secret")
check "wrong client secret: the HTML 401" is_html401 x3 "$s"
s=$(exchange x4 "$code" "$CID:$SEC ")
check "client secret with trailing space: the HTML 401" is_html401 x4 "$s"
s=$(req x5 --data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
	--data-urlencode "redirect_uri=$RU" --data-urlencode "client_id=$CID" \
	--data-urlencode "client_secret=$SEC" "$B/v2/token_endpoint")
check "client id and secret as form fields are accepted" \
	test "$s" = 200 -a "$(jq -r .token_type "$T/x5.b")" = bearer
consent c3 1001 >/dev/null
s=$(exchange x6 "$(code_of c3)" "$CID:$SEC" 'http://127.0.0.1:9/other')
check "redirect_uri differing from the consent's: the HTML 401" is_html401 x6 "$s"
consent c4 1001 >/dev/null
ctl POST clock '{"advance":901}' >/dev/null
s=$(exchange x7 "$(code_of c4)")
ctl POST clock '{"offset":0}' >/dev/null
check "code older than 15 minutes: the HTML 401" is_html401 x7 "$s"

s=$(req a1 "$B/v2/approve_app?client_id=nobody&response_type=code&redirect_uri=http%3A%2F%2Fx%2F")
check "unknown client_id at approve_app: 400 HTML page" \
	test "$s" = 400 -a "$(hdr a1 Content-Type)" = "text/html; charset=utf-8"
ctl POST consent '{"mode":"decline"}' >/dev/null
s=$(req a2 --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" --data-urlencode "state=$STATE" "$B/v2/approve_app")
loc=$(hdr a2 Location)
check "decline mode: 302 with error=access_denied and the state" \
	test "$s" = 302 -a "$(qparam "$loc" error)" = access_denied \
	-a "$(qparam "$loc" state)" = "$STATE" -a -z "$(qparam "$loc" code)"

ctl POST consent '{"mode":"interactive"}' >/dev/null
s=$(req a3 --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" --data-urlencode "state=$STATE" "$B/v2/approve_app")
check "interactive mode: a form listing every company" \
	sh -c "[ '$s' = 200 ] && grep -q 'value=\"1002\"' '$T/a3.b' && grep -q 'Gamma Trading' '$T/a3.b' \
	  && grep -q 'method=\"post\" action=\"/v2/approve_app\"' '$T/a3.b'"
s=$(req a4 --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" --data-urlencode "state=$STATE" \
	--data-urlencode company=1002 --data-urlencode decision=approve "$B/v2/approve_app")
exchange x8 "$(code_of a4)" >/dev/null
AT2=$(jq -r .access_token "$T/x8.b")
check "approving company 1002 in the form yields a code that exchanges" \
	test "$s" = 302 -a "$(qparam "$(hdr a4 Location)" state)" = "$STATE" -a ${#AT2} -ge 40

ctl POST fixture '{"clients":[{"client_id":"fa-test-client","client_secret":"fa-test-secret-0123456789","redirect_uris":["http://127.0.0.1:9/cb?from=fa"]}],"companies":[{"id":7,"name":"<script>alert(1)</script> & Co"}]}' >/dev/null
req a5 --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" "$B/v2/approve_app" >/dev/null
check "company names are HTML-escaped on the consent page" \
	sh -c "grep -q '&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co' '$T/a5.b' && ! grep -q '<script>' '$T/a5.b'"
s=$(req a6 --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=http://evil.example/cb" "$B/v2/approve_app")
check "redirect_uri not registered for the client: 400, no redirect" \
	test "$s" = 400 -a -z "$(hdr a6 Location)"
ctl POST fixture '{}' >/dev/null

# ---- API basics
s=$(api p1 "$AT1" /v2/company)
check "GET /v2/company: id 1001 a number, absolute url" \
	test "$s" = 200 -a "$(jq -c '.company | [.id, .url, .subdomain, .type, .currency]' "$T/p1.b")" = \
	"[1001,\"$B/v2/company\",\"acme\",\"UkLimitedCompany\",\"GBP\"]"
api p2 "$AT2" /v2/company >/dev/null
check "company url is the same for 1001 and 1002; ids differ, 1002 a string" \
	test "$(jq -r .company.url "$T/p1.b")" = "$(jq -r .company.url "$T/p2.b")" \
	-a "$(jq -c .company.id "$T/p2.b")" = '"1002"'
s=$(api p3 "$AT1" /v2/users/me)
check "GET /v2/users/me gives the user" \
	sh -c "[ '$s' = 200 ] && jq -e '.user | (.url|startswith(\"$B/v2/users/\")) and .email and .role and .permission_level' '$T/p3.b' >/dev/null"
s=$(api p4 "$AT1" /v2/company -H 'User-Agent:')
check "no User-Agent: 400" test "$s" = 400
s=$(req p5 -A t "$B/v2/company"); s2=$(api p6 not-a-token /v2/company)
check "missing or unknown bearer token: 401 JSON 'Access token not recognised'" \
	sh -c "[ '$s' = 401 ] && [ '$s2' = 401 ] && jq -e '.errors.error.message == \"Access token not recognised\"' '$T/p5.b' '$T/p6.b' >/dev/null"
s=$(api p7 "$AT1" /v2/nothing)
check "unknown path: 404 JSON 'Not found'" \
	sh -c "[ '$s' = 404 ] && jq -e '.errors.error.message == \"Not found\"' '$T/p7.b' >/dev/null"

# ---- refresh
s=$(refresh r1 "$RT1"); AT1b=$(jq -r .access_token "$T/r1.b"); RT1b=$(jq -r .refresh_token "$T/r1.b")
s2=$(api r1a "$AT1" /v2/company); s3=$(api r1b "$AT1b" /v2/company)
check "refresh rotates both tokens; the old access token still works" \
	test "$s" = 200 -a "$RT1b" != "$RT1" -a "$AT1b" != "$AT1" -a ${#RT1b} -ge 40 \
	-a "$s2" = 200 -a "$s3" = 200
s=$(refresh r2 "$RT1")
check "by default a used refresh token still works" test "$s" = 200
ctl POST config '{"old_refresh_valid":false}' >/dev/null
refresh r3 "$RT1b" >/dev/null; RT1c=$(jq -r .refresh_token "$T/r3.b")
s=$(refresh r4 "$RT1b")
check "old_refresh_valid=false: a used refresh token gets 400 JSON invalid_grant" \
	is_invalid_grant r4 "$s"
s=$(refresh r5 'no+such/token=')
check "unknown refresh token: 400 JSON invalid_grant" is_invalid_grant r5 "$s"
ctl POST config '{"invalid_grant_style":"html401"}' >/dev/null
s=$(refresh r6 'no+such/token=')
check "invalid_grant_style=html401: the HTML 401 instead" is_html401 r6 "$s"
ctl POST config '{"invalid_grant_style":"json","old_refresh_valid":true}' >/dev/null
check "/_control/tokens lists the company's valid tokens" \
	sh -c "curl -sS '$B/_control/tokens?company=1001' | jq -e --arg r '$RT1c' --arg a '$AT1b' \
	  '([.refresh_tokens[].token] | index(\$r)) and ([.access_tokens[].token] | index(\$a))
	   and all(.refresh_tokens[]; .company == \"1001\")' >/dev/null"
ctl POST revoke '{"company":"1001"}' >/dev/null
s=$(refresh r7 "$RT1c"); s2=$(api r7a "$AT1b" /v2/company)
check "revoked in FreeAgent: refresh gives invalid_grant, the API 401" \
	sh -c "is_invalid_grant() { :; }; [ '$s2' = 401 ]" && is_invalid_grant r7 "$s" &&
	ok "revoked in FreeAgent: refresh gives invalid_grant, the API 401" ||
	nok "revoked in FreeAgent: refresh gives invalid_grant, the API 401"
connect 1003
s=$(req v1 -u "$CID:$SEC" --data-urlencode "token=$RT" "$B/oauth/revoke")
s2=$(refresh v2 "$RT"); s3=$(api v3 "$AT" /v2/company)
check "RFC 7009 revoke: 200 empty, then invalid_grant and API 401" \
	test "$s" = 200 -a ! -s "$T/v1.b" -a "$s3" = 401 && is_invalid_grant v2 "$s2" &&
	ok "RFC 7009 revoke: 200 empty, then invalid_grant and API 401" ||
	nok "RFC 7009 revoke: 200 empty, then invalid_grant and API 401"
s=$(req v4 -u "$CID:$SEC" --data-urlencode "token=unknown" "$B/oauth/revoke")
s2=$(req v5 -u "$CID:bad" --data-urlencode "token=$RT" "$B/oauth/revoke")
check "RFC 7009 revoke: 200 for an unknown token, HTML 401 for a wrong secret" \
	sh -c "[ '$s' = 200 ]" && is_html401 v5 "$s2" && ok "RFC 7009 revoke: 200 for an unknown token, HTML 401 for a wrong secret" ||
	nok "RFC 7009 revoke: 200 for an unknown token, HTML 401 for a wrong secret"
connect 1001
ctl POST clock '{"advance":3601}' >/dev/null
s=$(api e1 "$AT" /v2/company)
ctl POST clock '{"offset":0}' >/dev/null
check "access token refused once expires_in has passed" test "$s" = 401

# ---- pagination
walk() { # walk URL: follows Link next; prints "pages items"
	_u=$1 _pg=0 _it=0
	while [ -n "$_u" ] && [ $_pg -lt 20 ]; do
		api w "$AT" "${_u#"$B"}" >/dev/null || return 1
		_it=$((_it + $(jq '.bank_accounts | length' "$T/w.b"))); _pg=$((_pg + 1))
		_u=$(next_link w)
	done
	echo "$_pg $_it $(hdr w X-Total-Count)"
}
check "130 bank accounts at per_page=25: 6 pages via Link next, X-Total-Count 130" \
	test "$(walk "$B/v2/bank_accounts")" = "6 130 130"
check "130 bank accounts at per_page=100: 2 pages, last page has no next" \
	test "$(walk "$B/v2/bank_accounts?per_page=100")" = "2 130 130" -a -z "$(next_link w)"
api l1 "$AT" '/v2/bank_accounts?view=standard_bank_accounts&page=2&per_page=10' >/dev/null
link=$(hdr l1 Link)
check "middle page: next, prev, first, last as absolute URLs keeping view and per_page" \
	sh -c "for r in next:3 prev:1 first:1 last:8; do
	  echo '$link' | tr ',' '\n' | grep -F \"rel=\\\"\${r%:*}\\\"\" |
	  grep -qF '<$B/v2/bank_accounts?view=standard_bank_accounts&per_page=10&page='\"\${r#*:}>\" || exit 1
	done"
connect 1003
api l2 "$AT" /v2/bank_accounts >/dev/null
check "a single page sends a Link header that is present but empty" \
	sh -c "has_hdr() { :; }; [ -z '$(hdr l2 Link)' ] && [ '$(jq '.bank_accounts|length' "$T/l2.b")' = 4 ]" &&
	has_hdr l2 Link && ok "a single page sends a Link header that is present but empty" ||
	nok "a single page sends a Link header that is present but empty"
connect 1001
want=$(curl -sS "$B/_control/fixture" | jq '[.companies[0].bank_accounts[] | select(.type == "CreditCardAccount")] | length')
api l3 "$AT" '/v2/bank_accounts?view=credit_card_accounts&per_page=100' >/dev/null
check "view=credit_card_accounts keeps only card accounts" \
	sh -c "[ '$want' -gt 0 ] && jq -e '(.bank_accounts|length) == $want and all(.bank_accounts[]; .type == \"CreditCardAccount\")' '$T/l3.b' >/dev/null"
api l4 "$AT" '/v2/categories?page=3' >/dev/null
check "categories: four arrays, 60 income categories over 3 pages, string nominal codes" \
	sh -c "jq -e 'has(\"admin_expenses_categories\") and has(\"cost_of_sales_categories\") and has(\"general_categories\")
	  and (.income_categories|length) == 10' '$T/l4.b' >/dev/null && [ '$(hdr l4 X-Total-Count)' = 60 ]"
api l5 "$AT" /v2/categories >/dev/null
check "category 001: nominal_code \"001\", url .../v2/categories/001" \
	test "$(jq -c '.income_categories[0] | [.nominal_code, .url]' "$T/l5.b")" = \
	"[\"001\",\"$B/v2/categories/001\"]"

# ---- rate limits
ctl POST reset >/dev/null
ctl POST config '{"api_per_minute":3,"retry_after":42}' >/dev/null
for i in 1 2 3; do api q "$AT" /v2/company >/dev/null; done
s=$(api q4 "$AT" /v2/company)
check "over api_per_minute: 429 with the configured Retry-After" \
	test "$s" = 429 -a "$(hdr q4 Retry-After)" = 42
ctl POST config '{"refresh_per_minute":2}' >/dev/null
refresh q5 "$RT" >/dev/null; RT=$(jq -r .refresh_token "$T/q5.b")
refresh q6 "$RT" >/dev/null; RT=$(jq -r .refresh_token "$T/q6.b")
s=$(refresh q7 "$RT")
check "over refresh_per_minute: 429 with Retry-After" \
	test "$s" = 429 -a "$(hdr q7 Retry-After)" = 42
ctl POST config '{"rate_limits":false}' >/dev/null
s=$(api q8 "$AT" /v2/company); s2=$(refresh q9 "$RT")
check "rate_limits=false lifts the limits" test "$s" = 200 -a "$s2" = 200
RT=$(jq -r .refresh_token "$T/q9.b"); AT=$(jq -r .access_token "$T/q9.b")
ctl POST reset >/dev/null

# ---- faults
fault() { ctl POST fault "$1" >/dev/null; }
for k in 500 502 503; do
	fault "{\"path\":\"/v2/company\",\"kind\":\"$k\"}"
	s=$(api f$k "$AT" /v2/company)
	check "fault $k: status $k with an HTML page" \
		sh -c "[ '$s' = $k ] && grep -q '<html' '$T/f$k.b' && [ '$(hdr f$k Content-Type)' = 'text/html; charset=utf-8' ]"
done
fault '{"path":"/v2/token_endpoint","kind":"429","retry_after":7}'
s=$(refresh f429 "$RT")
check "fault 429: Retry-After from the fault" test "$s" = 429 -a "$(hdr f429 Retry-After)" = 7
fault '{"path":"/v2/company","kind":"timeout"}'
api ft "$AT" /v2/company --max-time 1 >/dev/null; rc=$?
check "fault timeout: no answer before the client gives up" test $rc = 28
gone() {
	for _i in $(seq 100); do
		curl -sS "$B/_control/stats" | jq -e '.inflight == 0' >/dev/null && return 0
		sleep 0.05
	done; return 1
}
check "fault timeout: the server lets go once the client hangs up" gone
fault '{"path":"/v2/bank_accounts","kind":"truncated"}'
api ftr "$AT" /v2/bank_accounts >/dev/null; rc=$?
check "fault truncated: body shorter than Content-Length" test $rc = 18
fault '{"path":"/v2/company","kind":"malformed"}'
s=$(api fm "$AT" /v2/company)
check "fault malformed: 200 application/json that does not parse" \
	sh -c "[ '$s' = 200 ] && ! jq . '$T/fm.b' >/dev/null 2>&1"
fault '{"path":"/v2/company","kind":"html"}'
s=$(api fh "$AT" /v2/company)
check "fault html: 200 text/html" \
	test "$s" = 200 -a "$(hdr fh Content-Type)" = "text/html; charset=utf-8"
fault '{"path":"/v2/categories","kind":"huge"}'
size=$(curl -sS -o /dev/null -w '%{size_download}' -A t -H "Authorization: Bearer $AT" "$B/v2/categories")
check "fault huge: a 200 JSON body of about 20 MB" test "$size" -ge 20000000
fault '{"path":"/v2/company","kind":"reset"}'
api fr "$AT" /v2/company >/dev/null; rc=$?
check "fault reset: connection reset with no answer" test $rc = 56
fault '{"path":"/v2/token_endpoint","kind":"html401"}'
s=$(refresh f401 "$RT")
check "fault html401: the HTML 401 from the token endpoint" is_html401 f401 "$s"
fault '{"path":"/v2/token_endpoint","kind":"invalid_grant"}'
s=$(refresh fig "$RT")
check "fault invalid_grant: 400 JSON invalid_grant" is_invalid_grant fig "$s"
s=$(refresh fok "$RT")
check "the token is untouched by injected faults" test "$s" = 200
RT=$(jq -r .refresh_token "$T/fok.b")
fault '{"path":"*","kind":"503","count":2}'
s1=$(api fa1 "$AT" /v2/users/me); s2=$(api fa2 "$AT" /nowhere); s3=$(api fa3 "$AT" /v2/users/me)
check "fault on \"*\" with count 2 hits the next two requests, any path" \
	test "$s1$s2$s3" = 503503200
fault '{"path":"/v2/company","kind":"500","count":5}'
ctl DELETE fault >/dev/null
s=$(api fd "$AT" /v2/company)
check "DELETE /_control/fault clears queued faults" test "$s" = 200

# ---- counters and concurrency
ctl POST reset >/dev/null
for i in 1 2 3; do api k "$AT" /v2/company >/dev/null; done
refresh k "$RT" >/dev/null; RT=$(jq -r .refresh_token "$T/k.b")
api k "$AT" /nowhere >/dev/null
check "stats count requests by method+path and by grant type" \
	sh -c "curl -sS '$B/_control/stats' | jq -e '.requests == {\"GET /v2/company\":3,
	  \"POST /v2/token_endpoint\":1, \"grant:refresh_token\":1, \"GET /nowhere\":1}' >/dev/null"
ctl POST config '{"latency":{"/v2/categories":600}}' >/dev/null
pids=
for i in 1 2 3 4 5; do
	curl -sS -o /dev/null -A t -H "Authorization: Bearer $AT" "$B/v2/categories" & pids="$pids $!"
done
wait $pids
check "five slow requests at once: max_inflight above 1, all counted" \
	sh -c "curl -sS '$B/_control/stats' | jq -e '.max_inflight > 1 and .inflight == 0
	  and .requests[\"GET /v2/categories\"] == 5' >/dev/null"
ctl POST reset >/dev/null
check "reset restores default config and interactive consent" \
	sh -c "curl -sS '$B/_control/config' | jq -e '.access_ttl == 3600 and .latency == {} and .api_per_minute == 120' >/dev/null &&
	  curl -sS '$B/_control/consent' | jq -e '.mode == \"interactive\"' >/dev/null"

# ---- robustness
s1=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{bad' "$B/_control/config")
s2=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{"nope":1}' "$B/_control/config")
s3=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{"kind":"boom","path":"*"}' "$B/_control/fault")
check "control rejects bad JSON, unknown keys and unknown fault kinds with 400" \
	test "$s1$s2$s3" = 400400400
junk=$(python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x00garbage\xff\r\n\r\n")
print(s.recv(100).split(b" ")[1].decode())' "$PORT")
s=$(req j -X POST -H 'Content-Length: x' "$B/v2/token_endpoint")
s2=$(api j2 "$AT" /v2/company)
check "garbage requests get 400 and the server keeps serving" \
	test "$junk" = 400 -a "$s" = 400 -a "$s2" = 200

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
check "SIGTERM stops the server cleanly and removes the port file" \
	test $rc = 0 -a ! -e "$T/port"

echo "1..$n"
