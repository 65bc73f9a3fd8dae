#!/bin/sh
# The FreeAgent stand-in (t/standin.py) behaves like FreeAgent, quirks
# included, and obeys its /_control API.  Other tests drive fa against it,
# so this pins what they rely on.  Needs sh, curl, jq, python3.

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${FA_BUILD:-}" ]; then	# make check-asan: no C code runs here
	echo "1..0 # SKIP the stand-in alone; the plain run tested it"
	exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fa-standin.XXXXXX") || exit 1
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
	[ "${fails:-1}" -eq 0 ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

n=0 fails=0
ok()  { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; echo "# files kept in $T"; }
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
t "approve mode: 302 to redirect_uri with code, state and iss" \
	'[ "$s" = 302 ] && [ "${loc#"$RU&code="}" != "$loc" ] &&
	 [ "$(qparam "$loc" state)" = "$STATE" ] && [ "$(qparam "$loc" iss)" = "$B/v2" ]'
code=$(code_of c1)
s=$(exchange x1 "$code")
t "code + HTTP Basic gives FreeAgent's token JSON" \
	'[ "$s" = 200 ] && [ "$(jq -c "[.token_type, .expires_in, .refresh_token_expires_in,
	   (.access_token|type), (.refresh_token|type)]" "$T/x1.b")" = \
	   "[\"bearer\",3600,631151957,\"string\",\"string\"]" ]'
AT1=$(jq -r .access_token "$T/x1.b"); RT1=$(jq -r .refresh_token "$T/x1.b")
tokshape() {
	[ ${#1} -ge 40 ] || return 1
	case $1 in *+*) ;; *) return 1;; esac
	case $1 in */*) ;; *) return 1;; esac
	case $1 in *=*) ;; *) return 1;; esac
}
t "tokens are 40+ chars holding '+', '/' and '='" \
	'tokshape "$AT1" && tokshape "$RT1" && [ "$AT1" != "$RT1" ]'
s=$(exchange x2 "$code")
t "reused code: 401 text/html 'HTTP Basic: Access denied.' + Basic realm" 'is_html401 x2 "$s"'

consent c2 1001 >/dev/null; code=$(code_of c2)
s=$(exchange x3 "$code" "$CID:wrong-secret")
t "wrong client secret: the HTML 401" 'is_html401 x3 "$s"'
s=$(exchange x4 "$code" "$CID:$SEC ")
t "client secret with a trailing space: the HTML 401" 'is_html401 x4 "$s"'
s=$(req x5 --data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
	--data-urlencode "redirect_uri=$RU" --data-urlencode "client_id=$CID" \
	--data-urlencode "client_secret=$SEC" "$B/v2/token_endpoint")
t "client id and secret as form fields are accepted" \
	'[ "$s" = 200 ] && [ "$(jq -r .token_type "$T/x5.b")" = bearer ]'
consent c3 1001 >/dev/null
s=$(exchange x6 "$(code_of c3)" "$CID:$SEC" 'http://127.0.0.1:9/other')
t "redirect_uri differing from the consent's: the HTML 401" 'is_html401 x6 "$s"'
consent c4 1001 >/dev/null
ctl POST clock '{"advance":901}' >/dev/null
s=$(exchange x7 "$(code_of c4)")
ctl POST clock '{"offset":0}' >/dev/null
t "code older than 15 minutes: the HTML 401" 'is_html401 x7 "$s"'

s=$(req a1 "$B/v2/approve_app?client_id=nobody&response_type=code&redirect_uri=http%3A%2F%2Fx%2F")
t "unknown client_id at approve_app: 400 HTML page" \
	'[ "$s" = 400 ] && [ "$(hdr a1 Content-Type)" = "text/html; charset=utf-8" ]'
ctl POST consent '{"mode":"decline"}' >/dev/null
s=$(req a2 --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" --data-urlencode "state=$STATE" "$B/v2/approve_app")
loc=$(hdr a2 Location)
t "decline mode: 302 with error=access_denied and the state" \
	'[ "$s" = 302 ] && [ "$(qparam "$loc" error)" = access_denied ] &&
	 [ "$(qparam "$loc" state)" = "$STATE" ] && [ -z "$(qparam "$loc" code)" ]'

ctl POST consent '{"mode":"interactive"}' >/dev/null
s=$(req a3 --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" --data-urlencode "state=$STATE" "$B/v2/approve_app")
t "interactive mode: a form listing every company" \
	'[ "$s" = 200 ] && grep -q "value=\"1002\"" "$T/a3.b" && grep -q "Gamma Trading" "$T/a3.b" &&
	 grep -q "method=\"post\" action=\"/v2/approve_app\"" "$T/a3.b"'
s=$(req a4 --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" --data-urlencode "state=$STATE" \
	--data-urlencode company=1002 --data-urlencode decision=approve "$B/v2/approve_app")
exchange x8 "$(code_of a4)" >/dev/null
AT2=$(jq -r .access_token "$T/x8.b")
t "approving company 1002 in the form yields a code that exchanges" \
	'[ "$s" = 302 ] && [ "$(qparam "$(hdr a4 Location)" state)" = "$STATE" ] && [ ${#AT2} -ge 40 ]'
s=$(req a4d --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" --data-urlencode decision=decline "$B/v2/approve_app")
t "declining in the form: 302 with error=access_denied" \
	'[ "$s" = 302 ] && [ "$(qparam "$(hdr a4d Location)" error)" = access_denied ]'

ctl POST fixture '{"clients":[{"client_id":"fa-test-client","client_secret":"fa-test-secret-0123456789",
	"redirect_uris":["http://127.0.0.1:9/cb?from=fa"]}],
	"companies":[{"id":7,"name":"<script>alert(1)</script> & Co"}]}' >/dev/null
req a5 --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=$RU" "$B/v2/approve_app" >/dev/null
t "company names are HTML-escaped on the consent page" \
	'grep -qF "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" "$T/a5.b" && ! grep -q "<script>" "$T/a5.b"'
s=$(req a6 --get --data-urlencode "client_id=$CID" --data-urlencode response_type=code \
	--data-urlencode "redirect_uri=http://evil.example/cb" "$B/v2/approve_app")
t "redirect_uri not registered for the client: 400, no redirect" \
	'[ "$s" = 400 ] && [ -z "$(hdr a6 Location)" ]'
ctl POST fixture '{}' >/dev/null

# ---- API basics
s=$(api p1 "$AT1" /v2/company)
t "GET /v2/company: id 1001 a number, absolute url" \
	'[ "$s" = 200 ] && [ "$(jq -c ".company | [.id, .url, .subdomain, .type, .currency]" "$T/p1.b")" = \
	   "[1001,\"$B/v2/company\",\"acme\",\"UkLimitedCompany\",\"GBP\"]" ]'
api p2 "$AT2" /v2/company >/dev/null
t "company url is the same for 1001 and 1002; ids differ, 1002 a string" \
	'[ "$(jq -r .company.url "$T/p1.b")" = "$(jq -r .company.url "$T/p2.b")" ] &&
	 [ "$(jq -c .company.id "$T/p2.b")" = "\"1002\"" ]'
s=$(api p3 "$AT1" /v2/users/me)
t "GET /v2/users/me gives the user" \
	'[ "$s" = 200 ] && jqb p3 --arg b "$B" ".user | (.url | startswith(\$b + \"/v2/users/\"))
	   and (.email | type) == \"string\" and .role and .permission_level"'
s=$(api p4 "$AT1" /v2/company -H 'User-Agent:')
t "no User-Agent: 400" '[ "$s" = 400 ]'
s=$(req p5 -A t "$B/v2/company"); s2=$(api p6 not-a-token /v2/company)
t "missing or unknown bearer token: 401 JSON 'Access token not recognised'" \
	'[ "$s" = 401 ] && [ "$s2" = 401 ] &&
	 jqb p5 ".errors.error.message == \"Access token not recognised\"" &&
	 jqb p6 ".errors.error.message == \"Access token not recognised\""'
s=$(api p7 "$AT1" /v2/nothing)
t "unknown path: 404 JSON 'Not found'" \
	'[ "$s" = 404 ] && jqb p7 ".errors.error.message == \"Not found\""'

# ---- refresh and revocation
s=$(refresh r1 "$RT1"); AT1b=$(jq -r .access_token "$T/r1.b"); RT1b=$(jq -r .refresh_token "$T/r1.b")
s2=$(api r1a "$AT1" /v2/company); s3=$(api r1b "$AT1b" /v2/company)
t "refresh rotates both tokens; the old access token still works" \
	'[ "$s" = 200 ] && [ "$RT1b" != "$RT1" ] && [ "$AT1b" != "$AT1" ] && tokshape "$RT1b" &&
	 [ "$s2" = 200 ] && [ "$s3" = 200 ]'
s=$(refresh r2 "$RT1")
t "by default a used refresh token still works" '[ "$s" = 200 ]'
ctl POST config '{"old_refresh_valid":false}' >/dev/null
refresh r3 "$RT1b" >/dev/null; RT1c=$(jq -r .refresh_token "$T/r3.b")
s=$(refresh r4 "$RT1b")
t "old_refresh_valid=false: a used refresh token gets 400 JSON invalid_grant" 'is_invalid_grant r4 "$s"'
t "each refresh token sent again is counted (r2, r4)" \
	'[ "$(ctl GET stats | jq '"'"'.requests["grant:refresh_token:again"]'"'"')" = 2 ]'
s=$(refresh r5 'no+such/token=')
t "unknown refresh token: 400 JSON invalid_grant" 'is_invalid_grant r5 "$s"'
ctl POST config '{"invalid_grant_style":"html401"}' >/dev/null
s=$(refresh r6 'no+such/token=')
t "invalid_grant_style=html401: the HTML 401 instead" 'is_html401 r6 "$s"'
ctl POST config '{"invalid_grant_style":"json","old_refresh_valid":true}' >/dev/null
curl -sS "$B/_control/tokens?company=1001" >"$T/tok.b"
t "/_control/tokens lists the company's valid tokens" \
	'jqb tok --arg r "$RT1c" --arg a "$AT1b" "([.refresh_tokens[].token] | index(\$r)) != null
	   and ([.access_tokens[].token] | index(\$a)) != null and all(.refresh_tokens[]; .company == \"1001\")"'
ctl POST revoke '{"company":"1001"}' >/dev/null
s=$(refresh r7 "$RT1c"); s2=$(api r7a "$AT1b" /v2/company)
t "revoked in FreeAgent: refresh gives invalid_grant, the API 401" \
	'is_invalid_grant r7 "$s" && [ "$s2" = 401 ]'
connect 1003
s=$(req v1 -u "$CID:$SEC" --data-urlencode "token=$RT" "$B/oauth/revoke")
s2=$(refresh v2 "$RT"); s3=$(api v3 "$AT" /v2/company)
t "RFC 7009 revoke: 200 empty, then invalid_grant and API 401" \
	'[ "$s" = 200 ] && [ ! -s "$T/v1.b" ] && is_invalid_grant v2 "$s2" && [ "$s3" = 401 ]'
s=$(req v4 -u "$CID:$SEC" --data-urlencode "token=unknown" "$B/oauth/revoke")
s2=$(req v5 -u "$CID:bad" --data-urlencode "token=$RT" "$B/oauth/revoke")
t "RFC 7009 revoke: 200 for an unknown token, HTML 401 for a wrong secret" \
	'[ "$s" = 200 ] && is_html401 v5 "$s2"'
connect 1001
ctl POST clock '{"advance":3601}' >/dev/null
s=$(api e1 "$AT" /v2/company)
ctl POST clock '{"offset":0}' >/dev/null
t "access token refused once expires_in has passed" '[ "$s" = 401 ]'

# ---- pagination
walk() { # walk URL: follows Link next; prints "pages items X-Total-Count"
	_u=$1 _pg=0 _it=0
	while [ -n "$_u" ] && [ $_pg -lt 20 ]; do
		api w "$AT" "${_u#"$B"}" >/dev/null || return 1
		_it=$((_it + $(jq '.bank_accounts | length' "$T/w.b"))); _pg=$((_pg + 1))
		_u=$(next_link w)
	done
	echo "$_pg $_it $(hdr w X-Total-Count)"
}
t "130 bank accounts at per_page=25: 6 pages via Link next, X-Total-Count 130" \
	'[ "$(walk "$B/v2/bank_accounts")" = "6 130 130" ]'
t "130 bank accounts at per_page=100: 2 pages, the last without next" \
	'[ "$(walk "$B/v2/bank_accounts?per_page=100")" = "2 130 130" ] && [ -z "$(next_link w)" ]'
api l1 "$AT" '/v2/bank_accounts?view=standard_bank_accounts&page=2&per_page=10' >/dev/null
rel_is() { # rel_is NAME REL PAGE
	hdr "$1" Link | tr ',' '\n' | grep -F "rel=\"$2\"" |
	grep -qF "<$B/v2/bank_accounts?view=standard_bank_accounts&per_page=10&page=$3>"
}
t "middle page: next, prev, first, last as absolute URLs keeping view and per_page" \
	'rel_is l1 next 3 && rel_is l1 prev 1 && rel_is l1 first 1 && rel_is l1 last 8'
connect 1003
api l2 "$AT" /v2/bank_accounts >/dev/null
t "a single page sends a Link header that is present but empty" \
	'has_hdr l2 Link && [ -z "$(hdr l2 Link)" ] && jqb l2 "(.bank_accounts | length) == 4"'
connect 1001
want=$(curl -sS "$B/_control/fixture" |
	jq '[.companies[0].bank_accounts[] | select(.type == "CreditCardAccount")] | length')
api l3 "$AT" '/v2/bank_accounts?view=credit_card_accounts&per_page=100' >/dev/null
t "view=credit_card_accounts keeps only card accounts" \
	'[ "$want" -gt 0 ] && jqb l3 "(.bank_accounts | length) == $want and
	   all(.bank_accounts[]; .type == \"CreditCardAccount\")"'
api l4 "$AT" '/v2/categories?page=3' >/dev/null
t "categories: four arrays; 60 income categories, 10 on page 3; X-Total-Count 60" \
	'jqb l4 "has(\"admin_expenses_categories\") and has(\"cost_of_sales_categories\")
	   and has(\"general_categories\") and (.income_categories | length) == 10" &&
	 [ "$(hdr l4 X-Total-Count)" = 60 ] && [ -z "$(next_link l4)" ]'
api l5 "$AT" /v2/categories >/dev/null
t "category 001: nominal_code \"001\" (a string), url .../v2/categories/001" \
	'[ "$(jq -c ".income_categories[0] | [.nominal_code, .url]" "$T/l5.b")" = \
	   "[\"001\",\"$B/v2/categories/001\"]" ]'

# ---- rate limits
ctl POST reset >/dev/null
ctl POST config '{"api_per_minute":3,"retry_after":42}' >/dev/null
for i in 1 2 3; do api q "$AT" /v2/company >/dev/null; done
s=$(api q4 "$AT" /v2/company)
t "over api_per_minute: 429 with the configured Retry-After" \
	'[ "$s" = 429 ] && [ "$(hdr q4 Retry-After)" = 42 ]'
ctl POST config '{"refresh_per_minute":2}' >/dev/null
refresh q5 "$RT" >/dev/null; RT=$(jq -r .refresh_token "$T/q5.b")
refresh q6 "$RT" >/dev/null; RT=$(jq -r .refresh_token "$T/q6.b")
s=$(refresh q7 "$RT")
t "over refresh_per_minute: 429 with Retry-After" \
	'[ "$s" = 429 ] && [ "$(hdr q7 Retry-After)" = 42 ]'
ctl POST config '{"rate_limits":false}' >/dev/null
s=$(api q8 "$AT" /v2/company); s2=$(refresh q9 "$RT")
t "rate_limits=false lifts the limits" '[ "$s" = 200 ] && [ "$s2" = 200 ]'
RT=$(jq -r .refresh_token "$T/q9.b"); AT=$(jq -r .access_token "$T/q9.b")
ctl POST reset >/dev/null

# ---- faults
fault() { ctl POST fault "$1" >/dev/null; }
for k in 500 502 503; do
	fault "{\"path\":\"/v2/company\",\"kind\":\"$k\"}"
	s=$(api f$k "$AT" /v2/company)
	t "fault $k: status $k with an HTML page" \
		'[ "$s" = $k ] && grep -q "<html" "$T/f$k.b" &&
		 [ "$(hdr f$k Content-Type)" = "text/html; charset=utf-8" ]'
done
fault '{"path":"/v2/token_endpoint","kind":"429","retry_after":7}'
s=$(refresh f429 "$RT")
t "fault 429: Retry-After from the fault" '[ "$s" = 429 ] && [ "$(hdr f429 Retry-After)" = 7 ]'
fault '{"path":"/v2/company","kind":"timeout"}'
api ft "$AT" /v2/company --max-time 1 >/dev/null; rc=$?
t "fault timeout: no answer before the client gives up" '[ $rc = 28 ]'
idle() {
	for _i in $(seq 100); do
		curl -sS "$B/_control/stats" | jq -e '.inflight == 0' >/dev/null && return 0
		sleep 0.05
	done
	return 1
}
t "fault timeout: the server lets go once the client hangs up" idle
fault '{"path":"/v2/bank_accounts","kind":"truncated"}'
api ftr "$AT" /v2/bank_accounts >/dev/null; rc=$?
t "fault truncated: body shorter than Content-Length" '[ $rc = 18 ]'
fault '{"path":"/v2/company","kind":"malformed"}'
s=$(api fm "$AT" /v2/company)
t "fault malformed: 200 application/json that does not parse" \
	'[ "$s" = 200 ] && hdr fm Content-Type | grep -q "^application/json" && ! jq . "$T/fm.b" >/dev/null 2>&1'
fault '{"path":"/v2/company","kind":"html"}'
s=$(api fh "$AT" /v2/company)
t "fault html: 200 text/html" '[ "$s" = 200 ] && [ "$(hdr fh Content-Type)" = "text/html; charset=utf-8" ]'
fault '{"path":"/v2/categories","kind":"huge"}'
size=$(curl -sS -o /dev/null -w '%{size_download}' -A t -H "Authorization: Bearer $AT" "$B/v2/categories")
t "fault huge: a 200 JSON body of about 20 MB" '[ "$size" -ge 20000000 ]'
fault '{"path":"/v2/company","kind":"reset"}'
api fr "$AT" /v2/company >/dev/null; rc=$?
t "fault reset: connection reset with no answer" '[ $rc = 56 ]'
fault '{"path":"/v2/token_endpoint","kind":"html401"}'
s=$(refresh f401 "$RT")
t "fault html401: the HTML 401 from the token endpoint" 'is_html401 f401 "$s"'
fault '{"path":"/v2/token_endpoint","kind":"invalid_grant"}'
s=$(refresh fig "$RT")
t "fault invalid_grant: 400 JSON invalid_grant" 'is_invalid_grant fig "$s"'
s=$(refresh fok "$RT")
t "injected faults leave the refresh token usable" '[ "$s" = 200 ]'
RT=$(jq -r .refresh_token "$T/fok.b")
fault '{"path":"*","kind":"503","count":2}'
s1=$(api fa1 "$AT" /v2/users/me); s2=$(api fa2 "$AT" /nowhere); s3=$(api fa3 "$AT" /v2/users/me)
t "fault on \"*\" with count 2 hits the next two requests, any path" '[ "$s1$s2$s3" = 503503200 ]'
fault '{"path":"/v2/company","kind":"500","count":5}'
ctl DELETE fault >/dev/null
s=$(api fd "$AT" /v2/company)
t "DELETE /_control/fault clears queued faults" '[ "$s" = 200 ]'

# ---- counters and concurrency
ctl POST reset >/dev/null
for i in 1 2 3; do api k "$AT" /v2/company >/dev/null; done
refresh k "$RT" >/dev/null; RT=$(jq -r .refresh_token "$T/k.b")
api k "$AT" /nowhere >/dev/null
curl -sS "$B/_control/stats" >"$T/st.b"
t "stats count requests by method+path and by grant type" \
	'jqb st ".requests == {\"GET /v2/company\":3, \"POST /v2/token_endpoint\":1,
	   \"grant:refresh_token\":1, \"GET /nowhere\":1}"'
ctl POST config '{"latency":{"/v2/categories":600}}' >/dev/null
pids=
for i in 1 2 3 4 5; do
	curl -sS -o /dev/null -A t -H "Authorization: Bearer $AT" "$B/v2/categories" & pids="$pids $!"
done
wait $pids
curl -sS "$B/_control/stats" >"$T/st2.b"
t "five slow requests at once: max_inflight above 1, all counted" \
	'jqb st2 ".max_inflight > 1 and .inflight == 0 and .requests[\"GET /v2/categories\"] == 5"'
ctl POST reset >/dev/null
curl -sS "$B/_control/config" >"$T/cf.b"; curl -sS "$B/_control/consent" >"$T/cs.b"
t "reset restores the default config and interactive consent" \
	'jqb cf ".access_ttl == 3600 and .latency == {} and .api_per_minute == 120" &&
	 jqb cs ".mode == \"interactive\""'

# ---- robustness
s1=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{bad' "$B/_control/config")
s2=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{"nope":1}' "$B/_control/config")
s3=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{"kind":"boom","path":"*"}' "$B/_control/fault")
t "control rejects bad JSON, unknown keys and unknown fault kinds with 400" \
	'[ "$s1$s2$s3" = 400400400 ]'
junk=$(python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x00garbage\xff\r\n\r\n")
print(s.recv(100).split(b" ")[1].decode())' "$PORT")
s=$(req j -X POST -H 'Content-Length: x' "$B/v2/token_endpoint")
s2=$(api j2 "$AT" /v2/company)
t "garbage requests get 400 and the server keeps serving" \
	'[ "$junk" = 400 ] && [ "$s" = 400 ] && [ "$s2" = 200 ]'

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
t "SIGTERM stops the server cleanly and removes the port file" '[ $rc = 0 ] && [ ! -e "$T/port" ]'

echo "1..$n"
[ "$fails" -eq 0 ]
