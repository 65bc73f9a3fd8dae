# bench/lib.sh: sourced by every benchmark. The tests' helpers (a vault,
# the stand-in, lighttpd) and a few for timing. Each figure is a ratio of
# two things measured in the same run; RUNS rounds, medians reported.
. "$(dirname "$0")/../t/lib.sh"
PATH=$TOP/bench:$PATH
# t/lib.sh starts t/procscan for the tests' leak check; it polls /proc
# every 3 ms and would take a CPU from what is measured: stop it.
for _i in 1 2 3 4 5 6 7 8 9 10; do
	_p=$(pgrep -f "procscan $T/proc.log") && { kill $_p; break; }
	sleep 0.1
done
RUNS=${RUNS:-5}

# Every program is a client of the vault's keeper, fa-vaultd(8), which
# the first client starts and which outlives the script; t/lib.sh's
# cleanup stops only the keeper of $T/vault.
# keeper DIR: the pid of the keeper serving the vault DIR, if one runs.
keeper() { keeperof "$1"; return 0; }
# stop DIR: the keeper of DIR, if one runs, stops, before DIR is removed,
# copied or moved: its files must not change under the keeper, nor while
# they are copied.
stop() {
	[ -z "$(keeper "$1")" ] || stopkeeper "$1"
	[ -z "$(keeper "$1")" ] || { echo "bench: the keeper of $1 runs on" >&2
	    return 1; }
}
# hwm DIR: the peak resident set of DIR's keeper so far, in KiB.
hwm() {
	_p=$(keeper "$1")
	[ -n "$_p" ] || { echo "bench: no keeper of $1" >&2; return 1; }
	awk '$1 == "VmHWM:" { print $2 }' "/proc/$_p/status"
}
# The keepers of every vault of the script stop when it ends; their
# lock files go with them, so that cleanup kills no pid but a keeper's.
benchcleanup() {
	for _d in "$T"/*/; do
		[ -f "$_d/lock" ] || continue
		stop "${_d%/}"
		rm -f "$_d/lock"
	done
	cleanup
}
trap benchcleanup EXIT

# med: the median of the numbers on stdin, one a line.
med() {
	sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2];
	    else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# div A B [DIGITS]: A / B.
div() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%." d "f\n", a / b }'; }
# verdict VALUE OP TARGET: "met" or "MISSED" (OP is <, <= or >=).
verdict() {
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
	    ok = op == "<" ? v < t : op == "<=" ? v <= t : v >= t
	    print ok ? "met" : "MISSED" }'
}
# ms US: microseconds as milliseconds, one decimal.
ms() { div "$1" 1000 1; }
# rss CMD...: runs CMD (stdout to $T/rss.out), prints its peak resident
# set in KiB, from /usr/bin/time -v; a failure is reported. For
# `env [-i] NAME=VALUE... CMD`, CMD's own: time goes after env's
# arguments, since a process keeps its peak across exec(2), and env(1)
# setting up its locale takes 1.5 MiB.
rss() {
	if [ "$1" = env ]; then
		_n=$# _t=
		while [ "$_n" -gt 0 ]; do
			case $_t$1 in env|-i|*=*) ;;
			*) [ -n "$_t" ] || set -- "$@" /usr/bin/time -v -o \
			    "$T/time.v"; _t=1 ;;
			esac
			set -- "$@" "$1"
			shift
			_n=$((_n - 1))
		done
	else
		set -- /usr/bin/time -v -o "$T/time.v" "$@"
	fi
	rm -f "$T/time.v"
	"$@" >"$T/rss.out" 2>"$T/rss.err" ||
	    { echo "bench: $* failed:" >&2; cat "$T/rss.err" >&2; return 1; }
	sed -n 's/.*Maximum resident set size (kbytes): //p' "$T/time.v"
}
# A binding connected through the stand-in, the real way.
connected() {	# connected TENANT BINDING COMPANY
	fa-vault tenant ls | grep -q "\"name\":\"$1\"" ||
	    fa-vault tenant add "$1" >/dev/null
	fa-vault add -t "$1" "$2" magento="$2.example.com" >/dev/null &&
	    connect "$2" "$3" >/dev/null
}
# Rate limits out of the way, in fa and in the stand-in.
unlimited() {
	cat >>"$FA_CONFIG" <<-CONF
	refresh_per_minute = 1000000
	api_per_minute = 1000000
	ip_per_minute = 10000000
	CONF
	ctl POST config '{"rate_limits":false}' >/dev/null
}
