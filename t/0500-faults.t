#!/bin/sh
# Fault injection over the refresh and prefetch paths: rounds of slow,
# 5xx, 429, HTML, truncated, malformed, huge, reset and hung answers from
# the stand-in while sweeps, forced refreshes, token lookups and prefetches
# run side by side. Transient trouble only ever gives the documented
# statuses; afterwards no binding is lost, none is needs_reconnect, every
# stored token still works at FreeAgent, every cache is whole and verify
# passes.
#
# The plan comes from awk's rand() with a fixed seed (FA_FAULT_SEED,
# default 500; FA_FAULT_ROUNDS rounds a phase, default 15), so the same
# faults are injected in the same rounds every run. Which request meets
# which fault is the scheduler's: the processes of a round race for them
# on purpose.
#
# FREEAGENT.md: every refresh returns a refresh token to keep, and
# "whether the old one keeps working: not documented". Both are tried.
# Phase 1: the old one keeps working (the stand-in's old_refresh_valid),
# and answers are lost after FreeAgent rotated (the token endpoint slowed
# past http_timeout): that must cost nothing, the binding refreshes again
# with the token it holds. Phase 2: a used refresh token is refused, as
# FreeAgent may do, and no answer is lost on the way (no hang, nothing
# slowed past the timeout): fa then never presents a token twice, so any
# invalid_grant, and any needs_reconnect, is fa's own doing.
. "$(dirname "$0")/lib.sh"

SEED=${FA_FAULT_SEED:-500}
ROUNDS=${FA_FAULT_ROUNDS:-15}
# Under the sanitizers, ten rounds a phase: one for each kind of fault,
# which the plan below gives each in turn.
[ "$B" != "$TOP" ] && ROUNDS=${FA_FAULT_ROUNDS:-10}
NB=10
R=$T/round
KINDS="500 502 503 429 timeout truncated malformed html huge reset"

mkvault >/dev/null 2>&1
standin
# 429s only from the faults; every binding always due (2000-second access
# tokens inside a 3000-second margin).
cat >>"$FA_CONFIG" <<CONF
refresh_per_minute = 1000000
api_per_minute = 1000000
ip_per_minute = 10000000
refresh_margin = 3000
CONF
http_timeout() { sed -i '/^http_timeout/d' "$FA_CONFIG"
	echo "http_timeout = $1" >>"$FA_CONFIG"; }
# Company 1001 with three pages of standard accounts, so that faults meet
# a prefetch in a later round of its pages too.
ctl GET fixture | jq -c '
    .companies[0].bank_accounts += [range(2000;2150) | {"id": ., "type":"StandardBankAccount", "name":"Extra \(.)",
     "currency":"GBP", "is_personal":false, "is_primary":false,
     "status":(if . % 4 == 0 then "hidden" else "active" end),
     "bank_name":"Bank", "opening_balance":"0.0", "current_balance":"0.0"}]' \
    >"$T/fx"
ctl POST fixture "$(cat "$T/fx")" >/dev/null
ctl POST config '{"rate_limits":false,"access_ttl":2000}' >/dev/null
fa-vault tenant add acme
company() { echo $((1001 + ($1 - 1) % 3)); }	# of binding number N
i=1
while [ $i -le $NB ]; do
	fa-vault add -t acme b$i magento=s$i.example &&
	    connect b$i "$(company $i)" || break
	i=$((i + 1))
done
ok $(( i <= NB )) "$NB bindings connected, of three companies"
fa-vault ls | jq -r '.id + " " + (.tokver | tostring)' | sort >"$T/tokver0"

# What each binding's cache must hold: its company, numbers and lists.
jq -r '.companies[] | [(.id | tostring), (.income_categories | length),
    (.bank_accounts | length),
    ([.bank_accounts[] | select(.status != "hidden")] | length)] | @tsv' \
    "$T/fx" >"$T/want"
i=1
while [ $i -le $NB ]; do
	printf 'b%d\t' $i
	grep "^$(company $i)	" "$T/want"
	i=$((i + 1))
done | sort >"$T/wantsig"
sig() {	# one line per cache: binding, company, numbers
	jq -r '[.binding, .company.id, (.income_categories | length),
	    (.bank_accounts | length), (.payment_targets | length)] | @tsv'
}

ctl POST reset >/dev/null
ctl POST config '{"rate_limits":false,"access_ttl":2000}' >/dev/null

# The plan: per round 1-4 faults (kind, path, count 1-2; a 429 says
# Retry-After 0, 1 or 6: 6 is past what fa waits out, so it is kept, yet
# over by the end), sometimes a slow path, and the commands.
awk -v seed="$SEED" -v rounds="$ROUNDS" -v nb=$NB -v kinds="$KINDS" 'BEGIN {
	srand(seed)
	nk = split(kinds, K, " ")
	np = split("/v2/token_endpoint /v2/company /v2/categories " \
	    "/v2/bank_accounts *", P, " ")
	split("0 1 6", RA, " ")
	for (r = 1; r <= 2 * rounds; r++) {
		phase = r <= rounds ? 1 : 2
		turn = (r - 1) % rounds
		# Slow, or in some rounds of phase 1 (one at least) the token
		# endpoint past http_timeout, so that answers are lost: no
		# fault for the token endpoint then, which would come first.
		x = rand()
		lost = phase == 1 && (x < 0.1 || turn == int(rounds / 2))
		if (lost)
			print r, "slow", P[1], 1400
		else if (x < 0.35)
			print r, "slow", P[1 + int(rand() * 4)],
			    100 + int(rand() * 500)
		# The first fault of a round takes the kinds in turn, at the
		# token endpoint and at a list page by turns, so that each
		# kind meets both; the others are drawn.
		nf = 1 + int(rand() * 4)
		for (f = 0; f < nf; f++) {
			k = K[1 + int(rand() * nk)]
			p = P[1 + int(rand() * np)]
			if (f == 0 && turn < nk) {
				k = K[1 + turn]
				p = (turn + phase) % 2 ? P[1] : P[4]
			}
			if (phase == 2 && k == "timeout")	# no answer lost
				k = "reset"
			if (lost && (p == P[1] || p == P[5]))
				p = P[2 + int(rand() * 3)]
			print r, "fault", p, k,
			    1 + int(rand() * 2),
			    k == "429" ? RA[1 + int(rand() * 3)] : 1
		}
		if (rand() < 0.8)
			print r, "sweep"
		for (i = 1 + int(rand() * 3); i > 0; i--)
			print r, "force", "b" (1 + int(rand() * nb))
		for (i = int(rand() * 3); i > 0; i--)
			print r, "print", "b" (1 + int(rand() * nb))
		for (i = 1 + int(rand() * 3); i > 0; i--)
			print r, "prefetch", "b" (1 + int(rand() * nb))
	}
}' >"$T/plan"
echo "# seed $SEED, 2 x $ROUNDS rounds, $(grep -c ' fault ' "$T/plan") faults planned"

# The files that hold tokens on purpose, removed at the end.
mkdir "$T/tok"

# job ID COMMAND...: in the background; status in $R/ID.rc
job() {
	_j=$1
	shift
	( "$@" >"$R/$_j.out" 2>"$R/$_j.err"; echo $? >"$R/$_j.rc" ) &
	pids="$pids $!"
}
# Waits until the stand-in has no request in hand, so that a request
# still sleeping past its client's timeout takes no fault of the next round.
quiet() {
	_i=0
	until ctl GET stats | grep -q '"inflight": 0[,}]'; do
		_i=$((_i + 1))
		[ $_i -lt 400 ] || { echo "Bail out! stand-in never idle"; exit 1; }
		sleep 0.05
	done
}

# round R: inject, run, check.
round() {
	rm -rf "$R"
	mkdir "$R"
	: >"$R/bad"
	: >"$R/badlines"
	: >"$R/caches"
	: >"$R/prefetched"
	awk -v r=$1 '$1 == r' "$T/plan" >"$R/plan"
	logn=$(fa-vault log | wc -l)
	awk '$2 == "fault" { printf "{\"path\":\"%s\",\"kind\":\"%s\",\"count\":%d,\"retry_after\":%d,\"seconds\":10}\n", $3, $4, $5, $6 }' \
	    "$R/plan" | while read -r f; do
		ctl POST fault "$f" >/dev/null
	done
	slow=$(awk '$2 == "slow" { printf "{\"latency\":{\"%s\":%d}}", $3, $4 }' "$R/plan")
	if [ -n "$slow" ]; then
		ctl POST config "$slow" >/dev/null
		ctl GET stats >"$R/stats0"
	fi
	awk '$2 != "fault" && $2 != "slow" { print ++n, $2, $3 }' "$R/plan" \
	    >"$R/jobs"
	pids=
	while read -r id what b; do
		case $what in
		sweep)		job $id fa-refresh --due ;;
		force)		job $id fa-refresh -f "$b" ;;
		print)		job $id fa-refresh -p "$b" ;;
		prefetch)	job $id fa-prefetch "$b" ;;
		esac
	done <"$R/jobs"
	wait $pids
	quiet
	# Faults served: planned minus those still waiting.
	ctl GET fault | jq -r '.faults[] | [.kind, .path, .count] | @tsv' >"$R/left"
	awk 'NR == FNR { if ($2 == "fault") want[$4 " " $3] += $5; next }
	    { left[$1 " " $2] += $3 }
	    END { for (k in want) print k, want[k] - left[k] }' \
	    "$R/plan" FS='\t' "$R/left" >>"$T/fired"
	ctl DELETE fault >/dev/null
	if [ -n "$slow" ]; then	# requests slowed: path, ms, how many
		ctl POST config '{"latency":{}}' >/dev/null
		ctl GET stats | jq -s -r --argjson l "$slow" '($l.latency |
		    keys[0]) as $p | ($l.latency[$p]) as $ms |
		    (if $p == "/v2/token_endpoint" then "POST " else "GET " end
		    + $p) as $k | "\($p) \($ms) \((.[1].requests[$k] // 0) -
		    (.[0].requests[$k] // 0))"' "$R/stats0" - >>"$T/slowed"
	fi

	# Each job's status, output and stderr, in one pass. Tokens printed
	# go to $T/tok, caches printed to $R/caches.
	awk -v R="$R" -v tok="$T/tok/printed" '
	function slurp(f, to,	line, k) {
		while ((getline line < f) > 0) {
			k++
			if (to != "") print line >>to
		}
		close(f)
		return k
	}
	{
		id = $1; what = $2; b = $3; tag = what " " b ": "
		rc = "none"
		if ((getline rc < (R "/" id ".rc")) <= 0) rc = "none"
		close(R "/" id ".rc")
		if (what == "sweep" ? rc != "0" && rc != "1" : rc != "0" && rc != "75")
			print tag "exit " rc >>(R "/bad")
		out = R "/" id ".out"
		if (rc != "0" && slurp(out, "") > 0)
			print tag "exit " rc " with output" >>(R "/bad")
		else if (what == "print")
			slurp(out, tok)
		else if (what == "prefetch")
			slurp(out, R "/caches")
		if (what == "print") {
			printf "" >out	# the token is in $T/tok now
			close(out)
		}
		if (what == "sweep")
			pat = "^fa-refresh: b[0-9]+[: ]"
		else if (what == "prefetch")
			pat = "^fa-(refresh|prefetch): " b "[: ]"
		else
			pat = "^fa-refresh: " b "[: ]"
		nerr = 0
		while ((getline line < (R "/" id ".err")) > 0) {
			nerr++
			if (line !~ pat)
				print tag line >>(R "/badlines")
		}
		# A failure says so; a sweep says nothing unless one failed.
		if (rc != "0" && nerr == 0)
			print tag "exit " rc ", silent" >>(R "/badlines")
		if (what == "sweep" && rc == "0" && nerr > 0)
			print tag "exit 0 but failures reported" >>(R "/badlines")
		if (what == "prefetch")
			print b >>(R "/prefetched")
	}' "$R/jobs"
	cat "$R"/*.err >>"$T/stderr.all"	# for the leak checks
	# Every failure recorded in the audit log was told on stderr, once:
	# refreshes (a 429 waited out is recorded but not told) and prefetches.
	fa-vault log | tail -n +$((logn + 1)) | jq -r 'select(.outcome ==
	    "temporary" or .outcome == "failed") | "audit " + .event + " " +
	    .detail' >"$R/failures"
	cat "$R"/*.err | awk '
	    /^audit refresh / && !/HTTP 429/ { ra++ }
	    /^audit prefetch / { pa++ }
	    /^fa-refresh: / && /try again later/ && !/HTTP 429/ { rl++ }
	    /^fa-prefetch: / { pl++ }
	    END { if (ra != rl || pa != pl) printf "recorded %d refresh and " \
	        "%d prefetch failures, told %d and %d\n", ra, pa, rl, pl }' \
	    "$R/failures" - >>"$R/badlines"
	[ ! -s "$R/bad" ]
	ok $? "round $1: only 0 or 1 from sweeps, 0 or 75 from the others, no output on failure"
	diag "$R/bad"
	[ ! -s "$R/badlines" ]
	ok $? "round $1: every stderr line names its binding; every failure, every one recorded, told once"
	diag "$R/badlines"
	fa-vault ls | jq -r '.id + " " + .status' | sort >"$R/status"
	fa-vault verify >"$R/verify" 2>&1
	[ "$(grep -c ' connected$' "$R/status")" -eq $NB ] &&
	    [ "$(wc -l <"$R/status")" -eq $NB ] &&
	    [ "$(cat "$R/verify")" = "{\"ok\":$NB,\"failed\":0}" ]
	ok $? "round $1: all $NB bindings still there and connected, verify clean"
	grep -v ' connected$' "$R/status" | diag
	# Only a prefetch writes a cache: those of this round's, as kept.
	sort -u "$R/prefetched" | while read -r b; do
		fa-prefetch -s "$b" 2>/dev/null
	done >>"$R/caches"
	sig <"$R/caches" | sort -u >"$R/sig"
	join -t '	' -v 1 "$R/sig" "$T/wantsig" >"$R/badsig"
	join -t '	' "$R/sig" "$T/wantsig" |
	    awk -F'\t' '$2 != $6 || $3 != $7 || $4 != $8 || $5 != $9' >>"$R/badsig"
	[ ! -s "$R/badsig" ]
	ok $? "round $1: every cache printed or kept is whole (FreeAgent's numbers)"
	diag "$R/badsig"
}

: >"$T/fired"
: >"$T/slowed"
: >"$T/tok/printed"
start=$(date +%s)
http_timeout 1
r=1
while [ $r -le "$ROUNDS" ]; do
	round $r
	r=$((r + 1))
done
echo "# phase 1 (used refresh tokens stay good, answers lost): $(($(date +%s) - start)) s"
# Between the phases, FreeAgent well: each binding refreshes with the
# token it holds, even one whose last answer was lost, and so holds the
# newest before used ones stop working.
http_timeout 5
: >"$T/p1.err"
i=1
while [ $i -le $NB ]; do
	fa-refresh -f b$i 2>>"$T/p1.err" || echo "b$i: exit $?" >>"$T/p1.err"
	i=$((i + 1))
done
[ ! -s "$T/p1.err" ]; ok $? "after phase 1, every binding refreshes (forced)"
diag "$T/p1.err"
start=$(date +%s)
ctl POST config '{"old_refresh_valid":false}' >/dev/null
while [ $r -le $((2 * ROUNDS)) ]; do
	round $r
	r=$((r + 1))
done
echo "# phase 2 (a used refresh token is refused): $(($(date +%s) - start)) s"

# The faults really happened: each kind was served, at the token endpoint
# and at the API both.
awk '{ n[$1] += $3; if ($2 == "/v2/token_endpoint") tok += $3;
    else if ($2 != "*") api += $3 }
    END { for (k in n) print k, n[k]; print "token_endpoint", tok + 0;
    print "api", api + 0 }' "$T/fired" | sort >"$T/served"
tr '\n' ' ' <"$T/served" | sed 's/^/served: /; s/$/\n/' | diag
for k in $KINDS token_endpoint api; do
	[ "$(awk -v k=$k '$1 == k { print $2 }' "$T/served")" -gt 0 ] 2>/dev/null
	ok $? "faults of kind $k were served"
done
slow=$(awk '$2 < 1000 { n += $3 } END { print n + 0 }' "$T/slowed")
lost=$(awk '$2 > 1000 { n += $3 } END { print n + 0 }' "$T/slowed")
[ "$slow" -gt 0 ] && [ "$lost" -gt 0 ]
ok $? "slowed: $slow requests within http_timeout, $lost token requests past it"
ctl GET stats | jq -c .requests | diag

# FreeAgent well again, still refusing used refresh tokens: the sweep, a
# forced refresh and a prefetch of every binding.
http_timeout 30
expect 0 "with FreeAgent well again, a sweep" fa-refresh --due
[ ! -s "$T/err" ]; ok $? "reports nothing"
: >"$T/ff"
: >"$T/ff.err"
i=1
while [ $i -le $NB ]; do
	fa-refresh -f b$i 2>>"$T/ff.err" || echo "b$i refresh $?" >>"$T/ff"
	# A 429's Retry-After of the last rounds may still be kept.
	w=0
	until fa-prefetch b$i 2>"$T/pf.err" >"$T/cache.b$i"; do
		st=$? w=$((w + 1))
		if [ $w -ge 100 ] || ! grep -q 'at the API rate limit' "$T/pf.err"
		then
			echo "b$i prefetch $st" >>"$T/ff"
			cat "$T/pf.err" >>"$T/ff.err"
			break
		fi
		sleep 0.2
	done
	i=$((i + 1))
done
[ ! -s "$T/ff" ] && [ ! -s "$T/ff.err" ]
ok $? "every binding refreshes (forced, its token must be the newest) and prefetches"
diag "$T/ff" "$T/ff.err"
fa-vault ls | jq -r '.id + " " + .status' | sort >"$T/status"
seq 1 $NB | sed 's/^/b/; s/$/ connected/' | sort | cmp -s - "$T/status"
ok $? "all $NB bindings there, all connected"
grep -v ' connected$' "$T/status" | diag
fa-vault ls | jq -r 'select(.lease) | .id' >"$T/leases"
[ ! -s "$T/leases" ]; ok $? "no lease left behind"
cat "$T"/cache.b* | sig | sort | cmp -s - "$T/wantsig"
ok $? "every cache has FreeAgent's numbers"
: >"$T/lists"
i=1
while [ $i -le $NB ]; do
	co=$(company $i)
	jq -r '.income_categories[] | .nominal_code + " " + .description' \
	    "$T/cache.b$i" | sort >"$T/got"
	jq -r --arg c "$co" '.companies[] | select((.id | tostring) == $c) |
	    .income_categories[] | .nominal_code + " " + .description' \
	    "$T/fx" | sort >"$T/exp"
	cmp -s "$T/got" "$T/exp" || echo "b$i income categories" >>"$T/lists"
	jq -r '.bank_accounts[] | .url + " " + .name' "$T/cache.b$i" |
	    sed 's|^.*/v2/bank_accounts/||' | sort >"$T/got"
	jq -r --arg c "$co" '.companies[] | select((.id | tostring) == $c) |
	    .bank_accounts[] | "\(.id) \(.name)"' "$T/fx" | sort >"$T/exp"
	cmp -s "$T/got" "$T/exp" || echo "b$i bank accounts" >>"$T/lists"
	i=$((i + 1))
done
[ ! -s "$T/lists" ]; ok $? "every cache's lists are exactly FreeAgent's"
diag "$T/lists"
expect 0 "fa-vault verify" fa-vault verify
[ "$(cat "$T/out")" = "{\"ok\":$NB,\"failed\":0}" ]; ok $? "all $NB token records open"

# The tokens against the stand-in's books (used ones listed again). For
# each binding's grant, its chain of rotations: the stored refresh token
# is one FreeAgent issued for its company and is unused, the newest fa
# got; the tokens FreeAgent saw used are exactly the refreshes fa
# recorded, so fa never went back to an older token; the others unused
# are answers lost on the way, no more than fa's refreshes that timed out.
ctl POST config '{"old_refresh_valid":true}' >/dev/null
ctl GET tokens >"$T/tok/tokens.json"
fa-vault log >"$T/log"
: >"$T/chains"
: >"$T/badtok"
i=1
while [ $i -le $NB ]; do
	fa-vault token b$i >"$T/tok/bundle"
	rt=$(jq -r .refresh_token "$T/tok/bundle")
	at=$(jq -r .access_token "$T/tok/bundle")
	jq -rs --arg b b$i '[.[] | select(.binding == $b and .event == "refresh")] |
	    "\(map(select(.outcome == "ok")) | length) \(map(select(.outcome ==
	    "temporary" and (.detail // "" | test("[Tt]ime(out|d out)")))) |
	    length)"' "$T/log" >"$T/res"
	read -r oks tmo <"$T/res"
	ver=$(fa-vault show b$i | jq .tokver)
	ver0=$(awk -v b=b$i '$1 == b { print $2 }' "$T/tokver0")
	jq -r --arg rt "$rt" --arg at "$at" --arg co "$(company $i)" '
	    (.refresh_tokens | map(select(.token == $rt))[0]) as $me |
	    if $me == null then "not-issued"
	    elif $me.company != $co then "other-company"
	    elif $me.used then "used"
	    elif (.access_tokens | map(select(.token == $at)) | length) != 1
	    then "access-unknown"
	    else (.refresh_tokens | map(select(.grant == $me.grant))) as $g |
	        "\($g | length) \($g | map(select(.used)) | length)" end' \
	    "$T/tok/tokens.json" >"$T/res"
	read -r issued used <"$T/res"
	case $issued in
	*[!0-9]*) echo "b$i: stored refresh token $issued" >>"$T/badtok" ;;
	*)
		lost=$((issued - 1 - oks))
		echo "b$i $issued $used $oks $lost $tmo" >>"$T/chains"
		[ "$used" -eq "$oks" ] && [ $lost -ge 0 ] &&
		    [ $lost -le "$tmo" ] && [ $((ver - ver0)) -eq "$oks" ] ||
		    echo "b$i: FreeAgent issued $issued, saw $used used; fa recorded $oks refreshes, $tmo timed out; tokver $ver0 -> $ver" >>"$T/badtok"
		;;
	esac
	i=$((i + 1))
done
[ ! -s "$T/badtok" ]
ok $? "each stored refresh token is FreeAgent's newest; used = refreshes recorded; lost answers <= timeouts"
diag "$T/badtok"
awk '{ i += $2; u += $3; o += $4; l += $5; t += $6 } END {
    print "issued " i ", used " u ", refreshes " o ", lost " l ", timed out " t }' \
    "$T/chains" | diag
[ "$(awk '{ s += $5 } END { print s + 0 }' "$T/chains")" -gt 0 ]
ok $? "some refresh answers were lost after FreeAgent rotated, and it cost nothing"
jq -r '.access_tokens[].token' "$T/tok/tokens.json" | sort >"$T/tok/access"
sort -u "$T/tok/printed" | comm -23 - "$T/tok/access" | wc -l >"$T/unknown"
[ -s "$T/tok/printed" ] && [ "$(cat "$T/unknown")" -eq 0 ]
ok $? "every token fa-refresh -p printed is one FreeAgent issued and takes"

jq -r '.refresh_tokens[], .access_tokens[] | .token, (.token | @uri)' \
    "$T/tok/tokens.json" >"$T/tok/list"
echo "$SEC" >>"$T/tok/list"
fa-vault ls >"$T/ls"
i=1
while [ $i -le $NB ]; do
	fa-vault show b$i >>"$T/ls"
	i=$((i + 1))
done
grep -c -F -f "$T/tok/list" "$T/stderr.all" "$T/log" "$T/ls" >"$T/leaked"
! grep -qv ':0$' "$T/leaked"
ok $? "no token or secret on any stderr, in the audit log or the binding records"
grep -v ':0$' "$T/leaked" | diag
rm -rf "$T/tok"
done_testing
