#!/bin/sh
# The single-flight refresh lease, model-checked (issue 18): t/model/lease.pml
# under spin, every interleaving of 3 fa-refresh processes and the sweep, with
# FreeAgent's four answers, a keeper crash at any step and a kill -9 of any
# fa-refresh; with replication, a master failover. Then the model broken the
# ways the code could break: spin must find each.
# FA_MODEL_FULL=1 (make prove): larger budgets (3 forced retakes, a rate
# limit, 2 keeper crashes, 2 kills; liveness with 1 of each), the
# failover with every fault, and liveness of each.
. "$(dirname "$0")/lib.sh"

if ! command -v spin >/dev/null 2>&1; then
	echo "1..0 # SKIP spin is not installed (make deps)"
	exit 0
fi
if [ "$B" != "$TOP" ]; then	# make check-asan: the model has no build
	echo "1..0 # SKIP the model checks no build; the plain run did"
	exit 0
fi

if [ "${FA_MODEL_FULL:-0}" = 1 ]; then
	BUDGET="-DFORCED=3 -DRATES=1 -DCRASHES=2 -DDEATHS=2"
	# liveness keeps one crash and one kill: with two of each it
	# outgrows 4 GiB and an hour
	LIVEBUDGET="-DFORCED=3 -DRATES=1"
	FOBUDGET=""			# the failover with the default budgets
	HASH="-w26"
	CCX="-DCOLLAPSE"		# millions of states: less memory
else
	BUDGET=""
	LIVEBUDGET=""
	FOBUDGET="-DCRASHES=0"		# the failover its only outage
	HASH="-w22"
	CCX=""
fi

# spin_check NAME WANT KIND MACROS...: lease.pml with MACROS through spin -a,
# cc and pan. KIND: safety (assertions, invalid end states) or live (the LTL
# formula, weak fairness). WANT: 0, no error in a search that was not cut
# short; 1, an error. Prints states, depth and time.
spin_check() {
	_name=$1 _want=$2 _kind=$3
	shift 3
	_d=$T/$_name
	mkdir -p "$_d"
	cp "$TOP/t/model/lease.pml" "$_d/"
	if [ "$_kind" = live ]; then
		_cc="-DNFAIR=3" _run="-a -f"
	else
		_cc="-DSAFETY -DNOCLAIM" _run=""
	fi
	# an error comes within a few hundred states: no need to optimise
	[ "$_want" = 1 ] && _cc="-O0 $_cc" || _cc="-O2 $_cc"
	_t0=$(date +%s%N)
	(cd "$_d" && spin -a "$@" lease.pml >spin.out 2>&1 &&
	    cc -w $_cc $CCX -DMEMLIM=8192 -o pan pan.c >cc.out 2>&1 &&
	    ./pan $_run -m1000000 $HASH >pan.out 2>&1)
	_t1=$(date +%s%N)
	_errs=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$_d/pan.out")
	_states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$_d/pan.out")
	_depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\).*/\1/p' "$_d/pan.out")
	_secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) .*/\1/p' "$_d/pan.out")
	echo "# $_name ($_kind${*:+, $*}): ${_states:-?} states," \
	    "depth ${_depth:-?}, errors ${_errs:-?}; pan ${_secs:-?} s," \
	    "$(( (_t1 - _t0) / 1000000 )) ms with spin and cc"
	grep '^pan:[0-9]' "$_d/pan.out" | sed 's/^/#   /'
	if [ -z "$_errs" ]; then
		ok 1 "$_name: spin and pan ran"
		cat "$_d/spin.out" "$_d/cc.out" "$_d/pan.out" 2>/dev/null |
		    tail -20 >"$_d/why"
		diag "$_d/why"
	elif [ "$_want" = 0 ]; then
		! grep -q 'max search depth too small\|out of memory' \
		    "$_d/pan.out" && [ "$_errs" -eq 0 ]
		ok $? "$_name: errors: 0, the whole state space"
	else
		[ "$_errs" -gt 0 ]
		ok $? "$_name: spin finds it"
	fi
}

# The properties (lease.pml's header): P1 one request in flight, P2 no
# refresh token sent twice, P3 no rotated token dropped in silence, no
# deadlock; P4, every fa-refresh ends with a token or a definite error.
spin_check lease 0 safety $BUDGET
spin_check lease-live 0 live $LIVEBUDGET
spin_check failover 0 safety -DFAILOVER $FOBUDGET
[ "${FA_MODEL_FULL:-0}" = 1 ] &&
    spin_check failover-live 0 live -DFAILOVER $FOBUDGET

# The code before the fix this model found (bin/fa-refresh.c's lease did
# not cover refresh.finish; a late "busy" dropped the rotated tokens in
# silence): a keeper down longer than the lease had left, and a holder
# that stalls, each alone.
spin_check old-lease-outage 1 safety -DOLD_LEASE -DSTALLS=0
spin_check old-lease-stall 1 safety -DOLD_LEASE -DCRASHES=0

# Mutations. (a) a waiter that does not read the vault again after the
# lease: it sends the refresh token the holder already used (P2).
spin_check no-reread 1 safety -DNO_REREAD
# (b) refresh.finish without holds(): a stalled holder's late result
# frees the next holder's lease, and a third process sends while the
# second's request is at FreeAgent (P1, checked alone).
spin_check no-lease-check 1 safety -DNO_LEASE_CHECK -DNO_P2 -DNO_P3
# (c) a lease that ends before its request's timeout: two holders.
spin_check expire-early 1 safety -DEXPIRE_EARLY
done_testing
