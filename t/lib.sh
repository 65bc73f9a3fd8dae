# t/lib.sh: sourced by every test. TAP helpers and a fresh vault.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
# FA_BUILD: where the programs were built (make check-asan: a sanitizer copy)
B=${FA_BUILD:-$TOP}
PATH=$B/bin:$B/t:$TOP/t:$PATH
export PATH
unset FA_CONFIG
T=$(mktemp -d "${TMPDIR:-/tmp}/fa-t.XXXXXX")
n=0
fails=0
cleanup() {
	for p in $(cat "$T"/pids 2>/dev/null); do kill "$p" 2>/dev/null; done
	# The keepers of the test's vaults, started by their first clients.
	for _l in $(find "$T" -maxdepth 3 -name lock 2>/dev/null); do
		_k=$(keeperof "${_l%/lock}") && kill "$_k" 2>/dev/null
	done
	[ "$fails" -eq 0 ] && rm -rf "$T"
}
trap cleanup EXIT
# Every fa process's argv and environment, for leakscan at the end;
# not a child of ours, so that a test's wait(1) does not wait for it.
(procscan "$T/proc.log" $$ </dev/null >/dev/null 2>"$T/procscan.err" &)

ok() {	# ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		fails=$((fails + 1))
		lastfail=$n
		# make check prints these at its end, where CI's tail shows them
		[ -n "${FA_FAILS:-}" ] &&
		    echo "${0##*/} not ok $n - $2" >>"$FA_FAILS"
	fi
}
lastfail=0
diag() {
	sed 's/^/# /' "$@"
	[ -n "${FA_FAILS:-}" ] && [ "$lastfail" -eq "$n" ] &&
	    sed -n 's/^/  # /;1,12p' "$@" >>"$FA_FAILS"
	return 0
}
# The secrets this test used are nowhere they should not be (see
# t/leakscan.py): argv, environ, stderr, logs, pages, vault files.
done_testing() {
	[ -n "${FA_CONFIG:-}" ] && [ -d "$T/vault" ] &&
	    fa-vault log >"$T/audit.txt" 2>>"$T/stderr.all"
	if [ -n "${SANLOG:-}" ]; then	# privsep's sanitizer logs
		stopkeeper
		cp "$T"/san/asan.* "$T"/san/ubsan.* "$SANLOG"/ 2>/dev/null
	fi
	python3 "$TOP/t/leakscan.py" "$T" >"$T/leakscan.out"
	ok $? "no secret in argv, environment, stderr, logs, pages or vault"
	diag "$T/leakscan.out"
	echo "1..$n"
	[ "$fails" -eq 0 ]
	exit $?
}

# expect_in STATUS DESCRIPTION FILE CMD...: CMD, stdin from FILE, must
# exit with STATUS. Its stdout is in $T/out, its stderr in $T/err.
expect_in() {
	_want=$1 _desc=$2 _in=$3
	shift 3
	"$@" >"$T/out" 2>"$T/err" <"$_in"
	_got=$?
	cat "$T/err" >>"$T/stderr.all"
	if [ "$_got" -eq "$_want" ]; then
		ok 0 "$_desc"
	else
		ok 1 "$_desc (exit $_got, want $_want)"
		diag "$T/err"
	fi
}
# expect STATUS DESCRIPTION CMD...: the same with no input.
expect() {
	_w=$1 _d=$2
	shift 2
	expect_in "$_w" "$_d" /dev/null "$@"
}
# like FILE PATTERN DESCRIPTION: FILE matches the extended regex.
like() {
	if grep -Eq -- "$2" "$1"; then ok 0 "$3"; else ok 1 "$3"; diag "$1"; fi
}
unlike() {
	if grep -Eq -- "$2" "$1"; then ok 1 "$3"; diag "$1"; else ok 0 "$3"; fi
}

# noleakcheck: LeakSanitizer off for the programs a storm test runs by
# the thousand. Its check at exit stops the process's threads from a
# tracer that now and then crashes ("Tracer caught signal 11 ...
# LeakSanitizer has encountered a fatal error", google/sanitizers#1353)
# and so fails a program that did its work. Address and undefined-
# behaviour checks stay on; the other tests check leaks on the same
# code paths.
noleakcheck() {
	[ -n "${FA_BUILD:-}" ] || return 0
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
	export ASAN_OPTIONS
}
# alive PID: the process runs (a zombie, which no init may reap, does not).
alive() {
	[ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) [ZX]' "/proc/$1/stat"
}
# keeperof DIR: the pid of the keeper of the vault DIR, if one runs: the
# pid its lock file names, when that process holds the file open (a pid
# left by a dead keeper may be another process's by now).
keeperof() {
	_p=$(cat "$1/lock" 2>/dev/null) && [ -n "$_p" ] &&
	    ls -l "/proc/$_p/fd" 2>/dev/null | grep -q -- "-> $(cd "$1" && pwd -P)/lock\$" &&
	    echo "$_p"
}
# stopkeeper [DIR]: the keeper of the vault DIR (default $T/vault) stops
# (it rereads its key, say, when the next client starts a new one).
stopkeeper() {
	_k=$(keeperof "${1:-$T/vault}") && kill "$_k" 2>/dev/null || return 0
	_i=0
	while alive "$_k" && [ $_i -lt 3000 ]; do _i=$((_i + 1)); sleep 0.01; done
}

# A vault with a key, config in $T/fa.conf (exported as FA_CONFIG).
mkvault() {
	cat >"$T/fa.conf" <<-CONF
	vault_dir = $T/vault
	master_key_file = $T/master.key
	redirect_uri = http://127.0.0.1:1/dashboard/freeagent-callback
	default_endpoint = production
	CONF
	FA_CONFIG=$T/fa.conf
	export FA_CONFIG
	fa-vault keygen "$T/master.key" && fa-vault init
}

# privsep: the keeper, the web server and a worker as users of their
# own (made if need be), as fa-dashboard(8) deploys them: VU
# (fa_t_vault) owns the vault, the master key and the client secret,
# and its keeper runs as VU (fa-vaultd -u, started by root's first
# request); WU (fa_t_web) is the dashboard's, and webserver runs
# lighttpd as WU; KU (fa_t_work) is a worker; NU (fa_t_none) has no
# access line. The socket is $T/run/sock, in VU's group, which the
# others are in. A vault as mkvault makes, with the stand-in (standin)
# and a status hook that keeps its environment in $T/hooks/env.STATUS.
# Our programs are copied where those users can run them (B, PATH); so
# are the sanitizers' logs (back at done_testing).
privsep() {
	VU=fa_t_vault WU=fa_t_web KU=fa_t_work NU=fa_t_none
	for u in $VU $WU $KU $NU; do
		id -u $u >/dev/null 2>&1 ||
		    useradd -r -M -d /nonexistent -s /usr/sbin/nologin $u ||
		    { echo "Bail out! cannot add user $u"; exit 1; }
	done
	# The socket's group is the keeper's: whoever may reach it is in that
	# group (the unlisted user too, so that the keeper itself refuses it).
	for u in $WU $KU $NU; do usermod -a -G $VU $u; done
	chmod 711 "$T"

	# Our programs where the other users can run them; the sanitizers'
	# logs and suppressions where they can write and read them (copied
	# back at the end for make check-asan to see).
	mkdir -p "$T/b/bin" "$T/b/cgi-bin" "$T/san"
	cp "$B"/bin/fa-* "$T/b/bin/" && cp "$B/cgi-bin/fa-dashboard" "$T/b/cgi-bin/"
	rm -f "$T"/b/bin/*.c "$T"/b/bin/*.o
	chmod -R a+rX "$T/b"
	chmod 1777 "$T/san"
	SANLOG=
	case ${ASAN_OPTIONS:-} in *log_path=*)
		SANLOG=$(echo "$ASAN_OPTIONS" | sed 's/.*log_path=\([^:]*\).*/\1/')
		SANLOG=${SANLOG%/*}
		ASAN_OPTIONS=$(echo "$ASAN_OPTIONS" | sed "s|log_path=[^:]*|log_path=$T/san/asan|")
		UBSAN_OPTIONS=$(echo "${UBSAN_OPTIONS:-}" | sed "s|log_path=[^:]*|log_path=$T/san/ubsan|")
		export ASAN_OPTIONS UBSAN_OPTIONS ;;
	esac
	case ${LSAN_OPTIONS:-} in *suppressions=*)
		cp "$TOP/t/lsan.supp" "$T/san/lsan.supp" && chmod 644 "$T/san/lsan.supp"
		LSAN_OPTIONS=$(echo "$LSAN_OPTIONS" | sed "s|suppressions=[^:]*|suppressions=$T/san/lsan.supp|")
		export LSAN_OPTIONS ;;
	esac
	B=$T/b
	PATH=$B/bin:$PATH
	as() { _u=$1; shift; runuser -u "$_u" -- env PATH="$PATH" "$@"; }

	cat >"$T/fa.conf" <<-CONF
	vault_dir = $T/vault
	master_key_file = $T/master.key
	vault_socket = $T/run/sock
	redirect_uri = http://127.0.0.1:1/dashboard/freeagent-callback
	status_hook = $T/hook.sh
	access.$WU = dashboard
	access.$KU = worker
	CONF
	FA_CONFIG=$T/fa.conf
	export FA_CONFIG
	chmod 644 "$FA_CONFIG"
	fa-vault keygen "$T/master.key" && chown $VU "$T/master.key"
	standin
	chmod 600 "$T/fixture.json" "$T/secrets.list"
	chown $VU "$T/local.secret" && chmod 400 "$T/local.secret"
	mkdir -m 700 "$T/vault" && chown $VU "$T/vault"
	mkdir -m 1777 "$T/hooks"
	printf '#!/bin/sh\nenv >"%s/hooks/env.$2"\n' "$T" >"$T/hook.sh"
	chmod 755 "$T/hook.sh"
	WEBUSER=$WU
	: >"$T/pages.all" && chmod 666 "$T/pages.all"
	: >"$T/lighttpd.err" && chown $WU "$T/lighttpd.err"
	fa-vault init >"$T/privsep.out" 2>"$T/privsep.err"
}

# replgroup: three sites of a replication group on loopback, configs
# $T/s1.conf … (fa.conf's, with vault_dir $T/v1 … and repl.* added),
# ports P1 P2 P3; site 1 starts the group (no repl.remote), sites 2 and
# 3 join through it, with lower priorities. site N ARGS: fa-vault on
# site N; role N: its role and master. No keeper starts here.
replgroup() {
	stopkeeper
	set -- $(python3 -c 'import socket
ss=[socket.socket() for i in range(3)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
	P1=$1 P2=$2 P3=$3
	for _i in 1 2 3; do
		eval _p=\$P$_i
		sed "s|^vault_dir = .*|vault_dir = $T/v$_i|" "$FA_CONFIG" >"$T/s$_i.conf"
		printf 'repl.local = 127.0.0.1:%s\nrepl.priority = %d\n' $_p \
		    $((100 - _i)) >>"$T/s$_i.conf"
		[ $_i -gt 1 ] && echo "repl.remote = 127.0.0.1:$P1" >>"$T/s$_i.conf"
		mkdir -m 700 "$T/v$_i"
	done
}
site() { _si=$1; shift; fa-vault -c "$T/s$_si.conf" "$@"; }
role() { site "$1" repl 2>/dev/null | jq -r '.role + " " + (.master // "")'; }

# bundle BINDING ACCESS REFRESH COMPANY_ID SUBDOMAIN [ENDPOINT]
bundle() {
	printf '%s\n%s\n' "$2" "$3" >>"$T/secrets.list"
	_now=$(date +%s)
	printf '{"binding":"%s","endpoint":"%s","access_token":"%s","refresh_token":"%s","expires_at":%d,"refresh_token_expires_at":%d,"company":{"id":%s,"url":"https://api.freeagent.com/v2/company","name":"Company %s","subdomain":"%s","currency":"GBP","type":"UkLimitedCompany"}}\n' \
	    "$1" "${6:-production}" "$2" "$3" $((_now + 3600)) \
	    $((_now + 604800)) "$4" "$5" "$5"
}

# Starts the FreeAgent stand-in and points endpoint "local" (the default)
# at it. Sets SI (its base URL) and CID/SEC (the client).
standin() {
	rm -f "$T/port"
	# A client secret of this test's own: prove -j runs tests side by
	# side, and those that scan every process's argv must not find
	# another test's copy of a shared one.
	CID=fa-test-client
	SEC=fa-test-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	printf '{"clients":[{"client_id":"%s","client_secret":"%s"}]}\n' \
	    "$CID" "$SEC" >"$T/fixture.json"
	python3 "$TOP/t/standin.py" --port 0 --port-file "$T/port" \
	    --fixture "$T/fixture.json" --issued "$T/issued" \
	    2>"$T/standin.err" &
	echo $! >>"$T/pids"
	_i=0
	until [ -s "$T/port" ]; do
		_i=$((_i + 1))
		[ $_i -lt 1000 ] || { echo "Bail out! no stand-in"; exit 1; }
		sleep 0.01
	done
	SI=http://127.0.0.1:$(cat "$T/port")
	echo "$SEC" >>"$T/secrets.list"
	printf '%s\n' "$SEC" >"$T/local.secret"
	chmod 600 "$T/local.secret"
	cat >>"$FA_CONFIG" <<-CONF
	local.base_url = $SI/v2
	local.client_id = $CID
	local.client_secret_file = $T/local.secret
	default_endpoint = local
	CONF
}
# ctl METHOD PATH [JSON]: the stand-in's control API. The JSON goes on
# stdin, not argv: a fixture holds client secrets.
ctl() {
	printf '%s' "${3:-}" | curl -sS -X "$1" \
	    -H 'Content-Type: application/json' --data-binary @- \
	    "$SI/_control/$2"
}
# count KEY: how many requests the stand-in saw, e.g. count grant:refresh_token
count() { ctl GET stats | jq -r --arg k "$1" '.requests[$k] // 0'; }
# connect B COMPANY: the whole connect flow, approve-mode consent.
# The callback's query string is left in $T/qs.
callback() {
	ctl POST consent "{\"mode\":\"approve\",\"company\":\"$2\"}" >/dev/null
	_url=$(fa-authurl "$1") || return 1
	curl -sS -o /dev/null -w '%{redirect_url}' "$_url" >"$T/loc"
	sed 's/^[^?]*?//' "$T/loc" >"$T/qs"
}
connect() {
	callback "$1" "$2" && fa-exchange <"$T/qs" | fa-vault store
}

# Starts lighttpd on loopback with /dashboard/ mapped onto the CGI
# program, HTTP Basic for the users in $T/users ("name:password" lines).
# Sets WEB (its base URL). As the user $WEBUSER, if that is set.
webserver() {
	# The dashboard, its pages also kept in pages.all for leakscan.
	mkdir -p "$T/cgi"
	printf '#!/bin/sh\n"%s" | tee -a "%s"\n' "$B/cgi-bin/fa-dashboard" \
	    "$T/pages.all" >"$T/cgi/fa-dashboard"
	chmod +x "$T/cgi/fa-dashboard"
	_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$T/www"
	cat >"$T/lighttpd.conf" <<-CONF
	server.modules = ("mod_alias", "mod_auth", "mod_authn_file", "mod_setenv", "mod_cgi")
	server.document-root = "$T/www"
	server.bind = "127.0.0.1"
	server.port = $_port
	server.errorlog = "$T/lighttpd.err"
	${WEBUSER:+server.username = \"$WEBUSER\"}
	alias.url = ("/dashboard" => "$T/cgi/fa-dashboard")
	cgi.assign = ("/fa-dashboard" => "")
	setenv.add-environment = ("FA_CONFIG" => "$FA_CONFIG", "FA_BINDIR" => "$B/bin",
	    "ASAN_OPTIONS" => "${ASAN_OPTIONS:-}", "UBSAN_OPTIONS" => "${UBSAN_OPTIONS:-}",
	    "LSAN_OPTIONS" => "${LSAN_OPTIONS:-}")
	auth.backend = "plain"
	auth.backend.plain.userfile = "$T/users"
	auth.require = ("/dashboard" => ("method" => "basic", "realm" => "fa", "require" => "valid-user"))
	CONF
	lighttpd -D -f "$T/lighttpd.conf" 2>>"$T/lighttpd.err" &
	echo $! >>"$T/pids"
	WEB=http://127.0.0.1:$_port
	_i=0
	until curl -s -o /dev/null "$WEB/"; do
		_i=$((_i + 1))
		[ $_i -lt 500 ] || { echo "Bail out! no lighttpd"; exit 1; }
		sleep 0.01
	done
}
