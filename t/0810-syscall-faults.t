#!/bin/sh
# Every system call of the write path failed in turn (issue 18, part 2).
# A fixed script of six writes goes through a keeper that t/scfault.so
# (LD_PRELOAD) makes fail the k-th call of one of write, pwrite64,
# fdatasync, fsync, openat, rename, ftruncate and mmap, once, counted
# across all its threads from its start (recovery, the zero-filled
# regions) to its stop (the last checkpoint):
#   1 fa-vault tenant add t2       4 fa-vault set b1 settings.k=v1
#   2 fa-vault add -t acme b4 ...  5 fa-refresh -f -p b1 (the stand-in)
#   3 fa-vault store (b2's bundle) 6 fa-vault rm b3
# then a read (fa-vault tenant ls), then stopkeeper. The first client
# starts that keeper (FA_BINDIR names a wrapper that preloads the shim
# the first time only), as a client that finds no keeper does; a keeper
# after it, started by the next request, runs without the shim. strace
# --inject counts a call per thread, not per keeper, hence the shim.
# After each run, in the vault as the keeper's stop left it, and in a
# copy taken before the stop (what kill -9 would have left: its keeper
# recovers from the log alone):
#   - every write a client was told was done (exit 0) is there;
#   - every other write is there whole or not at all: its record, its
#     audit record and the bytenant index agree; verify passes;
#   - every client exited 0, or 1 or 75 with a message, within TO (20)
#     seconds; a keeper whose sync failed while a client waited is gone
#     (it answers 75 and exits: the 0 a retry may get comes from the
#     next keeper, whose recovery found the write);
#   - a keeper comes back by itself: the read after the script, and the
#     reads of both vaults after it, are served;
#   - FreeAgent saw one refresh at most.
# The errno of each: write and pwrite64 ENOSPC (a full disk: the regions'
# zero fill, the log and the pages written at the end of their files;
# Berkeley DB retries a pwrite64 that fails as lseek and write, and
# retries EIO itself); fdatasync and fsync EIO (the fsyncgate case);
# openat EIO (Berkeley DB sleeps and retries EMFILE, ENFILE and ENOSPC
# opens itself, which ERR_openat=24 shows); rename EIO; ftruncate EIO
# (a truncation is never out of space); mmap ENOMEM.
#
# make check: every k of fdatasync, fsync, openat, rename and ftruncate
# (openat: the files a keeper opens as it starts, /dev/null as it
# detaches, the log as it goes), and of write, pwrite64 and mmap the
# first three, the last three and every k a stride keeps to about MAXK
# (10) runs: about 100 runs, 2 minutes; make check-asan, every call
# strided to MAXK 3 and no more: about 20 runs. FULL=1 (make prove): every k of every call, some 1100 runs
# (write has a thousand, most of them the regions' zero fill), about 30
# minutes. SCFAULT="openat:20 pwrite64:3" runs only those
# ("fdatasync:all": every k of fdatasync), SCFAULT_ALSO=CALL:K:ERRNO
# fails that call too in each run (t/scfault.c); RESULTS=FILE keeps each
# run's line. The figures are printed as diagnostics at the end.
. "$(dirname "$0")/lib.sh"
noleakcheck

CALLS="write pwrite64 fdatasync fsync openat rename ftruncate mmap"
MAXK=${MAXK:-10}
# make check-asan: the sanitizers look at the error paths the plain run
# went through, on about a fifth of the runs (every call strided, the
# first and last three of a call not added).
STRIDED="write pwrite64 mmap" EDGE=3
if [ "$B" != "$TOP" ] && [ -z "${FULL:-}" ]; then
	MAXK=3 STRIDED="$CALLS" EDGE=0
fi
# errno CALL: the number (Linux's) and name of the error it is failed
# with; ERR_CALL=NUMBER (ERR_pwrite64=5) chooses another.
errno() {
	eval "_e=\${ERR_$1:-}"
	if [ -n "$_e" ]; then
		echo "$_e $(python3 -c "import errno; print(errno.errorcode[$_e])")"
		return
	fi
	case $1 in
	write|pwrite64) echo 28 ENOSPC ;;
	mmap) echo 12 ENOMEM ;;
	*) echo 5 EIO ;;
	esac
}

mkvault >/dev/null 2>&1
standin
echo "refresh_per_minute = 100000" >>"$FA_CONFIG"
ctl POST config '{"rate_limits":false}' >/dev/null
fa-vault tenant add acme && fa-vault add -t acme b1 magento=one.example &&
    fa-vault add -t acme b2 magento=two.example &&
    fa-vault add -t acme b3 magento=three.example && connect b1 1001
ok $? "a vault: tenant acme, b1 connected, b2 and b3 pending"
mkdir "$T/tok"	# what holds tokens on purpose (not scanned by leakscan)
fa-vault token b1 >"$T/tok/a0" && [ "$(jq -r .tokver "$T/tok/a0" 2>/dev/null)" ]
A0=$(jq -r .access_token "$T/tok/a0")
stopkeeper
# The template: the databases and the log, no region files (recovery
# makes them again) and no lock.
mkdir -m 700 "$T/tmpl"
cp "$T"/vault/*.db "$T"/vault/log.* "$T/tmpl/"
bundle b2 ACC-2-0810 REF-2-0810 1002 two local >"$T/b2.json"
sed "s|^vault_dir = .*|vault_dir = $T/crash|" "$FA_CONFIG" >"$T/crash.conf"

# The keeper the first client starts: with the shim when $R/arm says
# how (and only then: arm is taken).
R=$T/run
mkdir "$T/kbin"
for p in "$B"/bin/fa-*; do
	case $p in *.c|*.o|*/fa-vaultd) continue ;; esac
	ln -s "$p" "$T/kbin/"
done
cat >"$T/kbin/fa-vaultd" <<-EOF
	#!/bin/sh
	if [ -e "$R/arm" ] && mv "$R/arm" "$R/armed" 2>/dev/null; then
		FA_SCFAULT=\$(cat "$R/armed")
		FA_SCFAULT_COUNTS=$R/counts
		FA_SCFAULT_LOG=$R/faults
		LD_PRELOAD=$B/t/scfault.so
		export FA_SCFAULT FA_SCFAULT_COUNTS FA_SCFAULT_LOG LD_PRELOAD
	fi
	exec "$B/bin/fa-vaultd" "\$@"
EOF
chmod 755 "$T/kbin/fa-vaultd"
FA_BINDIR=$T/kbin
export FA_BINDIR

# step I: the I-th write of the script
step() {
	case $1 in
	1) timeout $TO fa-vault tenant add t2 ;;
	2) timeout $TO fa-vault add -t acme b4 magento=four.example ;;
	3) timeout $TO fa-vault store <"$T/b2.json" ;;
	4) timeout $TO fa-vault set b1 settings.k=v1 ;;
	5) timeout $TO fa-refresh -f -p b1 >"$T/tok/printed" ;;
	6) timeout $TO fa-vault rm b3 ;;
	esac
}
STEPS="1 2 3 4 5 6"
TO=${TO:-20}	# seconds a step may take: a few at most, with a keeper to start
NAMES="x tenant-add add store set refresh rm"
stepname() { _sn=$1; set -- $NAMES; shift "$_sn"; echo "$1"; }

# look CONF DIR W: reads the vault DIR of CONF (W: main, the vault as
# the keeper's stop left it, or crash, the copy) into $R/W.*, then kills
# its keeper. $R/W.nokeeper: no keeper came back.
look() {
	_c=$1 _d=$2 _w=$3
	for _f in tenants ls lsacme verify log logverify; do
		: >"$R/$_w.$_f"
	done
	: >"$T/tok/$_w.b1"
	if ! fa-vault -c "$_c" tenant ls >"$R/$_w.tenants" 2>"$R/$_w.err"; then
		echo "$_w: no keeper came back: $(head -c 300 "$R/$_w.err")" \
		    >>"$R/problems"
		: >"$R/$_w.nokeeper"
		return
	fi
	for _v in ls:ls lsacme:"ls -t acme" verify:verify log:log \
	    logverify:"log --verify"; do
		# shellcheck disable=SC2086
		fa-vault -c "$_c" ${_v#*:} >"$R/$_w.${_v%%:*}" 2>>"$R/$_w.err" ||
		    echo "$_w: fa-vault ${_v#*:}: exit $?" | tee -a "$R/lookfail" \
		    >>"$R/problems"
	done
	fa-vault -c "$_c" token b1 >"$T/tok/$_w.b1" 2>>"$R/$_w.err" ||
	    echo "$_w: fa-vault token b1: exit $?" | tee -a "$R/lookfail" \
	    >>"$R/problems"
	fa-vault -c "$_c" token b2 >"$T/tok/$_w.b2" 2>>"$R/$_w.err"
	eval "_tb2_$_w=$?"
	killkeeper "$_d"
}
# killkeeper DIR: the keeper of DIR (we talked to it just now) is killed
# and gone; without a process, hundreds of times a test.
killkeeper() {
	{ read -r _k <"$1/lock"; } 2>/dev/null && [ -n "$_k" ] &&
	    { read -r _cm <"/proc/$_k/comm"; } 2>/dev/null &&
	    [ "$_cm" = fa-vaultd ] || return 0
	kill -9 "$_k" 2>/dev/null
	_i=0
	while [ $_i -lt 3000 ] && { read -r _sl <"/proc/$_k/stat"; } 2>/dev/null; do
		case $_sl in *") Z "*|*") X "*) break ;; esac
		_i=$((_i + 1))
		sleep 0.01
	done
}

# judge: for main and crash, one line: W, then for each step whether its
# write is there: new (whole), old (not at all) or half; then whether
# the bytenant index agrees with the bindings, whether b1's token is the
# one fa-refresh printed, and whether verify passed. "W nokeeper" if no
# keeper came back. $T/tok/standin: the stand-in's tokens.
judge() {
	for _w in main crash; do
		[ -e "$R/$_w.nokeeper" ] && echo "$_w nokeeper"
	done
	jq -n -r --slurpfile mtn "$R/main.tenants" --slurpfile mls "$R/main.ls" \
	    --slurpfile mla "$R/main.lsacme" --slurpfile mlg "$R/main.log" \
	    --slurpfile mvf "$R/main.verify" --slurpfile mt1 "$T/tok/main.b1" \
	    --slurpfile mt2 "$T/tok/main.b2" --argjson mtb2 "${_tb2_main:-0}" \
	    --slurpfile ctn "$R/crash.tenants" --slurpfile cls "$R/crash.ls" \
	    --slurpfile cla "$R/crash.lsacme" --slurpfile clg "$R/crash.log" \
	    --slurpfile cvf "$R/crash.verify" --slurpfile ct1 "$T/tok/crash.b1" \
	    --slurpfile ct2 "$T/tok/crash.b2" --argjson ctb2 "${_tb2_crash:-0}" \
	    --slurpfile si "$T/tok/standin" --rawfile pr "$T/tok/printed" \
	    --arg a0 "$A0" --arg skip "$(ls "$R" | grep nokeeper)" '
	def st(new; old): if new then "new" elif old then "old" else "half" end;
	def verdict($tn; $ls; $la; $lg; $vf; $t1; $t2; $tb2):
	  def b($id): first($ls[] | select(.id == $id)) // null;
	  def rec($b; $e): [$lg[] | select(.binding == $b and .event == $e and
	      .outcome == "ok")] | length;
	  def acme($id): any($la[]; .id == $id);
	  b("b1") as $b1 | ($t1[0] // {}) as $k1 |
	  [$si[0].refresh_tokens[].token] as $valid |
	  [
	    (any($tn[]; .name == "t2") as $has |
	     ([$lg[] | select(.event == "tenant add" and .tenant == "t2" and
	      .outcome == "ok")] | length) as $r |
	     st($has and $r == 1; ($has | not) and $r == 0)),
	    (b("b4") as $x | rec("b4"; "add") as $r |
	     st($x != null and $x.tenant == "acme" and
	      $x.magento == "four.example" and $x.status == "pending" and
	      $x.tokver == 0 and $r == 1 and acme("b4");
	      $x == null and $r == 0 and (acme("b4") | not))),
	    (b("b2") as $x | rec("b2"; "connect") as $r | ($t2[0] // {}) as $k |
	     st($x.status == "connected" and $x.tokver == 1 and
	      $x.company.id == "1002" and $x.token_endpoint == "local" and
	      $tb2 == 0 and $k.access_token == "ACC-2-0810" and
	      $k.refresh_token == "REF-2-0810" and $r == 1;
	      $x.status == "pending" and $x.tokver == 0 and
	      $x.company == null and $tb2 == 77 and $r == 0)),
	    (rec("b1"; "set") as $r |
	     st($b1.settings.k == "v1" and $r == 1;
	      $b1.settings.k == null and $r == 0)),
	    (rec("b1"; "refresh") as $r |
	     st($b1.status == "connected" and $b1.tokver == 2 and
	      $k1.access_token != $a0 and
	      ($valid | index([$k1.refresh_token])) != null and $r == 1;
	      $b1.status == "connected" and $b1.tokver == 1 and
	      $k1.access_token == $a0 and $r == 0)),
	    (b("b3") as $x | rec("b3"; "rm") as $r |
	     st($x == null and (acme("b3") | not) and $r == 1;
	      $x.tenant == "acme" and $x.magento == "three.example" and
	      $x.status == "pending" and $x.tokver == 0 and acme("b3") and
	      $r == 0)),
	    (if ([$ls[] | select(.tenant == "acme") | .id] | sort) ==
	      ([$la[].id] | sort) then "index" else "noindex" end),
	    (if $k1.access_token == ($pr | rtrimstr("\n")) then "printed"
	     else "notprinted" end),
	    (if $vf[0].failed == 0 then "verified" else "unverified" end)
	  ] | join(" ");
	(if ($skip | contains("main")) then empty else
	  "main " + verdict($mtn; $mls; $mla; $mlg; $mvf; $mt1; $mt2; $mtb2) end),
	(if ($skip | contains("crash")) then empty else
	  "crash " + verdict($ctn; $cls; $cla; $clg; $cvf; $ct1; $ct2; $ctb2) end),
	"upstream \($si[0].refresh_tokens | length)"' 2>>"$R/problems" ||
	    echo "jq-failed"
}

# run CALL K: the script with the K-th call of CALL failed (K 0: none).
# Appends to $T/results the line
#   CALL K INJECTED S1..S6 LOST HALF OTHER NOKEEPER WENTON UPSTREAM MS |
#   COUNTS...
# (S: each step's exit status; WENTON: steps whose sync failed in a
# keeper that went on;
# UPSTREAM: the refreshes FreeAgent saw; MS: how long it took; COUNTS:
# the calls of the faulted keeper), and to $T/bad what failed.
run() {
	_rc=$1 _rk=$2
	set -- $(errno "$_rc")
	_rname=$2
	rm -rf "$T/vault" "$T/crash" "$R"
	mkdir -m 700 "$T/vault" "$T/crash"
	mkdir "$R"
	cp "$T"/tmpl/* "$T/vault/"
	echo "$_rc:$_rk:$1${SCFAULT_ALSO:+,$SCFAULT_ALSO}" >"$R/arm"
	_t0=$(date +%s%N)
	_st= _times= _went=
	for _s in $STEPS; do
		_times="$_times $(date +%s%N)"
		step $_s 2>"$R/s$_s.err"
		_st="$_st $?"
		# After a failed sync, the keeper that met it must be gone.
		if [ -z "$_went" ] && [ -s "$R/faults" ]; then
			read -r _ _ _ _fp _ <"$R/faults"
			_went=alive _i=0
			while [ $_i -lt 100 ]; do
				{ read -r _sl <"/proc/$_fp/stat"; } 2>/dev/null ||
				    { _went=gone; break; }
				case $_sl in *") Z "*|*") X "*)
					_went=gone; break ;;
				esac
				_i=$((_i + 1))
				sleep 0.01
			done
		fi
	done
	_times="$_times $(date +%s%N)"
	# The next request, a read, is served: by the keeper, or by one
	# that came by itself after it.
	timeout $TO fa-vault tenant ls >/dev/null 2>"$R/next.err"
	_next=$?
	rm -f "$R/arm"
	# What kill -9 would leave now: the databases, then the log.
	cp "$T"/vault/*.db "$T/crash/" && cp "$T"/vault/log.* "$T/crash/"
	stopkeeper
	_inj=0
	[ -s "$R/faults" ] && _inj=1
	look "$FA_CONFIG" "$T/vault" main
	look "$T/crash.conf" "$T/crash" crash
	_msg=
	for _s in $STEPS; do
		[ -s "$R/s$_s.err" ] && _msg="$_msg $_s"
	done
	ctl GET tokens >"$T/tok/standin"
	_fault=
	[ -s "$R/faults" ] && read -r _fault <"$R/faults"
	judge | awk -v st="$_st" -v names="$NAMES" -v msg="$_msg" \
	    -v up0="$UP" -v upf="$R/upstream" -v times="$_times" \
	    -v fault="$_fault" -v went="$_went" -v nxt="$_next" \
	    -v lookfail="$(cat "$R/lookfail" 2>/dev/null | wc -l)" '
	BEGIN { split(st, S, " "); split(names, N, " ")
		nm = split(msg, MM, " "); for (i = 1; i <= nm; i++) M[MM[i]] = 1
		# A failed sync in step I (a client waiting): the keeper that
		# met it answers 75 and exits (fa-vaultd(8): no write whose
		# sync failed is acknowledged). A 0 then comes from the next
		# keeper, to the same request id, after recovery: the write
		# must be there (see lost).
		split(times, TT, " ")
		if (fault ~ /^f(data)?sync / && match(fault, / at [0-9]+/)) {
			at = substr(fault, RSTART + 4, RLENGTH - 4) + 0
			for (i = 1; i <= 6; i++)
				if (TT[i] + 0 <= at && at <= TT[i + 1] + 0 &&
				    went == "alive") {
					wenton++
					print "step " i " (" N[i + 1] ", exit " S[i] "): its sync failed, and the keeper went on" >"/dev/stderr"
				}
		}
	}
	$1 == "upstream" { print $2 >upf
		if ($2 - up0 > 1) print "FreeAgent saw " $2 - up0 " refreshes" >"/dev/stderr"
		next }
	$2 == "nokeeper" { nokeeper++; next }
	$1 == "jq-failed" { half++; next }
	{	w = $1
		for (i = 1; i <= 6; i++) {
			g = $(i + 1); x = S[i]
			if (g == "new" && x == 0 || g == "old" && x != 0 ||
			    g == "new" && x != 0)
				continue
			if (g == "old" && x == 0) {
				lost++
				print w ": step " i " (" N[i + 1] ") was acknowledged, and is not there" >"/dev/stderr"
			} else {
				half++
				print w ": step " i " (" N[i + 1] ") (exit " x ") is half there (" g ")" >"/dev/stderr"
			}
		}
		if ($8 != "index") {
			half++; print w ": ls -t acme does not agree with ls" >"/dev/stderr"
		}
		if (S[5] == 0 && $9 != "printed") {
			lost++; print w ": b1 does not hold the token fa-refresh printed" >"/dev/stderr"
		}
		if ($10 != "verified") {
			half++; print w ": verify failed" >"/dev/stderr"
		}
	}
	END {
		half += lookfail	# a read of the vault that failed
		if (nxt != 0) {
			nokeeper++
			print "the request after the script (fa-vault tenant ls): exit " nxt >"/dev/stderr"
		}
		for (i = 1; i <= 6; i++) {
			if (S[i] != 0 && S[i] != 1 && S[i] != 75) {
				other++
				print "step " i " (" N[i + 1] "): exit " S[i] >"/dev/stderr"
			}
			else if (S[i] != 0 && !M[i]) {
				other++
				print "step " i " (" N[i + 1] "): exit " S[i] ", and no message" >"/dev/stderr"
			}
		}
		print lost + 0, half + 0, other + 0, nokeeper + 0, wenton + 0
	}' >"$R/verdict" 2>>"$R/problems"
	read -r _upn <"$R/upstream" || _upn=$UP
	_up=$((_upn - UP))
	UP=$_upn
	_counts=$(od -An -tu4 -v "$R/counts" 2>/dev/null | tr -s ' \n' '  ')
	read -r _verdict <"$R/verdict"
	echo "$_rc $_rk $_inj$_st $_verdict $_up" \
	    "$(( ($(date +%s%N) - _t0) / 1000000 )) |" \
	    "${_counts:-}" >>"$T/results"
	[ -s "$R/faults" ] && sed "s/^/$_rc $_rk: /" "$R/faults" >>"$T/faultlog"
	if [ -s "$R/problems" ]; then
		{
			echo "$_rc #$_rk ($_rname): statuses$_st; $(cat "$R/faults" 2>/dev/null)"
			sed 's/^/    /' "$R/problems"
			for _s in $STEPS; do
				[ -s "$R/s$_s.err" ] &&
				    sed "s/^/    step $_s: /" "$R/s$_s.err"
			done
			[ -s "$R/next.err" ] && sed "s/^/    next: /" "$R/next.err"
		} >>"$T/bad"
	fi
	# The first line of what each client that failed said, for the
	# summary.
	for _s in $STEPS; do
		[ -s "$R/s$_s.err" ] && sed 's/[0-9][0-9]*/N/g' "$R/s$_s.err" |
		    head -n 1 >>"$T/messages"
	done
	return 0
}
# The clean run: the calls to fail, counted. UP: the refresh tokens the
# stand-in has issued so far (one more each refresh: old ones stay good).
UP=$(ctl GET tokens | jq '.refresh_tokens | length')
: >"$T/results"
: >"$T/bad"
: >"$T/messages"
: >"$T/faultlog"
run none 0
sed 's/.*| *//' "$T/results" | tr ' ' '\n' | grep . | paste - - - - - - - - |
    awk -v calls="$CALLS" '{ split(calls, C, " ")
	for (i = 1; i <= 8; i++) print "CNT_" C[i] "=" ($i + 0) }' >"$T/counted"
. "$T/counted"
counted=$(for _c in $CALLS; do eval "printf '%s %s, ' $_c \$CNT_$_c"; done)
read -r _ _ _ s1 s2 s3 s4 s5 s6 lost half other nr wenton up _ <"$T/results"
[ "$s1$s2$s3$s4$s5$s6" = 000000 ] && [ "$lost$half$other$nr$wenton" = 00000 ] &&
    [ "$up" -eq 1 ] && [ ! -s "$T/bad" ] && [ "${CNT_write:-0}" -gt 0 ]
ok $? "the clean run: six writes acknowledged and there; calls: ${counted%, }"
diag "$T/bad"
: >"$T/results"
: >"$T/bad"
: >"$T/messages"

# ks CALL: the k to fail
ks() {
	eval "_cnt=\$CNT_$1"
	if [ -n "${SCFAULT:-}" ]; then
		for _f in $SCFAULT; do
			[ "${_f%%:*}" = "$1" ] || continue
			case ${_f#*:} in
			all) awk -v c="$_cnt" 'BEGIN { for (k = 1; k <= c; k++) print k }' ;;
			*) echo "${_f#*:}" ;;
			esac
		done
		return
	fi
	_step=1
	case " $STRIDED " in *" $1 "*)
		[ -z "${FULL:-}" ] && [ "$_cnt" -gt "$MAXK" ] &&
		    _step=$(( (_cnt + MAXK - 1) / MAXK )) ;;
	esac
	awk -v c="$_cnt" -v s="$_step" -v e="$EDGE" 'BEGIN {
		for (k = 1; k <= c; k++)
			if (k <= e || k > c - e || k % s == 0)
				print k
	}'
}

t0=$(date +%s)
for _CALL in $CALLS; do
	eval "_cnt=\$CNT_$_CALL"
	set -- $(errno $_CALL)
	_en=$2
	_runs=0
	for _K in $(ks $_CALL); do
		run $_CALL "$_K"
		_runs=$((_runs + 1))
	done
	if [ "$_runs" -eq 0 ]; then
		_why="the keeper makes no $_CALL call in the script"
		[ "$_cnt" -gt 0 ] && _why="not asked for (SCFAULT)"
		ok 0 "$_CALL: # SKIP $_why"
		continue
	fi
	awk -v c=$_CALL '$1 == c && ($10 + $11 + $12 + $13 + $14 > 0 || $15 > 1)' \
	    "$T/results" >"$T/badruns"
	_inj=$(awk -v c=$_CALL '$1 == c { s += $3 } END { print s + 0 }' "$T/results")
	[ ! -s "$T/badruns" ] && [ "$_inj" -eq "$_runs" ]
	ok $? "$_CALL ($_en): $_inj of $_runs faults injected (of $_cnt calls); every check passed"
	# The reproduction of every run that failed, with its problems.
	awk -v c="$_CALL #" 'index($0, c) == 1 { p = 1; print; next }
	    /^[^ ]/ { p = 0 } p' "$T/bad" >"$T/badcall"
	diag "$T/badcall"
done
t1=$(date +%s)

# The figures.
awk -v calls="$CALLS" -v secs=$((t1 - t0)) '
BEGIN { split(calls, C, " ") }
{
	c = $1; runs[c]++; inj[c] += $3
	ref = 0; oth = 0
	for (i = 4; i <= 9; i++) {
		if ($i == 0) acked[c]++
		else if ($i == 1 || $i == 75) { refused[c]++; ref = 1 }
		else { otherw[c]++; oth = 1 }
	}
	if (oth) rother[c]++
	else if (ref) rref[c]++
	else rack[c]++
	lost[c] += $10; half[c] += $11; nores[c] += $13; wenton[c] += $14
	ms[c] += $16
}
END {
	printf "%-10s %5s %8s | %8s %7s %5s | %6s %7s %5s | %4s %6s %4s %5s | %6s\n",
	    "call", "runs", "injected", "all-ack", "refused", "other",
	    "acked", "refused", "other", "lost", "wenton", "half", "nokpr",
	    "ms/run"
	for (i = 1; i in C; i++) {
		c = C[i]
		printf "%-10s %5d %8d | %8d %7d %5d | %6d %7d %5d | %4d %6d %4d %5d | %6d\n",
		    c, runs[c], inj[c], rack[c], rref[c], rother[c], acked[c],
		    refused[c], otherw[c], lost[c], wenton[c], half[c], nores[c],
		    runs[c] ? ms[c] / runs[c] : 0
		T["runs"] += runs[c]; T["inj"] += inj[c]; T["lost"] += lost[c]
	}
	printf "runs: outcome of the run (every write acknowledged; one or more refused, 75 or 1; another status)\n"
	printf "acked, refused, other: the writes (six a run); lost: acknowledged writes not there after the run;\n"
	printf "wenton: a keeper went on after its sync failed; half: writes half there, or verify failed;\n"
	printf "nokpr: no keeper came back by itself\n"
	printf "%d runs, %d faults injected, %d acknowledged writes lost, in %d s\n",
	    T["runs"], T["inj"], T["lost"], secs
}' "$T/results" >"$T/summary"
diag "$T/summary"
sort "$T/messages" | uniq -c | sort -rn >"$T/msgsum"
echo "what the clients said, by count:" | diag
diag "$T/msgsum"

lost=$(awk '{ s += $10 } END { print s + 0 }' "$T/results")
[ "$lost" -eq 0 ]; ok $? "acknowledged writes lost: $lost"
half=$(awk '{ s += $11 } END { print s + 0 }' "$T/results")
[ "$half" -eq 0 ]; ok $? "writes half there, or a vault that does not verify: $half"
other=$(awk '{ s += $12 } END { print s + 0 }' "$T/results")
[ "$other" -eq 0 ]; ok $? "clients that exited other than 0, or 1 or 75 with a message: $other"
wenton=$(awk '{ s += $14 } END { print s + 0 }' "$T/results")
[ "$wenton" -eq 0 ]; ok $? "keepers that went on after their sync failed: $wenton"
nr=$(awk '{ s += $13 } END { print s + 0 }' "$T/results")
[ "$nr" -eq 0 ]; ok $? "times no keeper came back by itself: $nr"
# RESULTS=FILE keeps the runs, one a line, what failed (FILE.bad) and
# the calls failed (FILE.faults).
if [ -n "${RESULTS:-}" ]; then
	cp "$T/results" "$RESULTS"
	cp "$T/bad" "$RESULTS.bad"
	cp "$T/faultlog" "$RESULTS.faults"
fi
# The vault as the last run left it, for leakscan.
done_testing
