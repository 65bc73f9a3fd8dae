#!/bin/sh
# Replication: three keepers on loopback, each with its own vault_dir
# and port, one master key. Writes through any site reach the master
# (forwarded, sealed) and every site; one binding due, 32 racers spread
# over the sites: FreeAgent sees one refresh; a replica's sweep does
# nothing; the master killed (kill -9) in a storm of writes: a new one
# within 10 s, every acknowledged write on every survivor, and the old
# master rejoins and catches up; a master alone refuses writes (75); a
# forwarded write with a flipped byte is dropped. (t/0610: ten kills in
# a storm of writes and refreshes.)
. "$(dirname "$0")/lib.sh"
noleakcheck

mkvault >/dev/null 2>&1
standin
replgroup
# A new site whose helper does not answer: 75, and the keeper's reason,
# not "not running" after the client gave up on it.
expect 75 "a new site with no group to join fails" site 2 init
like "$T/err" "replication group has no master" "and says why"
site 1 init && site 1 tenant add acme
ok $? "site 1 starts the group and a vault"
[ "$(role 1)" = "master 127.0.0.1:$P1" ]; ok $? "site 1 is the master"
role 2 >"$T/role2" & r2=$!
role 3 >"$T/role3"
wait $r2
[ "$(cat "$T/role2")" = "replica 127.0.0.1:$P1" ] &&
    [ "$(cat "$T/role3")" = "replica 127.0.0.1:$P1" ]
ok $? "sites 2 and 3 join as replicas, and name the same master ($(cat "$T/role2"), $(cat "$T/role3"))"
site 1 metrics | grep -qx 'fa_replication_role{role="master"} 1' &&
    site 2 metrics | grep -qx 'fa_replication_role{role="replica"} 1' &&
    site 2 metrics | grep -q '^fa_replication_log_position [1-9]'
ok $? "the metrics say each site's role and log position"

# converged ID...: every site has every binding named (a replica may
# trail its master by a moment).
converged() {
	for _i in 1 2 3; do
		[ -d "$T/v$_i" ] || continue
		for _b in "$@"; do
			_w=0
			until site $_i show "$_b" >/dev/null 2>&1; do
				_w=$((_w + 1))
				[ $_w -lt 500 ] || { echo "# site $_i lacks $_b"; return 1; }
				sleep 0.01
			done
		done
	done
}
site 1 add -t acme a1 magento=a1.example && site 2 add -t acme a2 magento=a2.example &&
    site 3 add -t acme a3 magento=a3.example
ok $? "a write through each site (the replicas' go to the master)"
converged a1 a2 a3; ok $? "all three sites have all three"
site 1 log | jq -r 'select(.event == "add") | .binding' | sort | tr '\n' ' ' >"$T/adds"
[ "$(cat "$T/adds")" = "a1 a2 a3 " ]; ok $? "each applied once, on the master"

# A network that flips a byte: site 2's keeper again, with t/flip.so
# preloaded, which flips the tag of every sealed message it sends. Its
# forwarded write does not open on the master: dropped, 75, no change.
stopkeeper "$T/v2"
LD_PRELOAD=$B/t/flip.so FA_FLIPLOG=$T/flips fa-vaultd -c "$T/s2.conf"
expect 75 "a forwarded write with a flipped byte fails" \
    site 2 add -t acme flipped magento=f.example
had=0
for i in 1 2 3; do site $i show flipped >/dev/null 2>&1 && had=$((had + 1)); done
flips=$(cat "$T/flips" 2>/dev/null | wc -l)
if [ "$flips" -eq 0 ] && [ -n "${FA_BUILD:-}" ]; then
	ok 0 "and no site has it # skip the sanitizers' runtime comes before a preload"
else
	[ "$flips" -ge 1 ] && [ $had -eq 0 ]
	ok $? "the master dropped it: no site has it ($flips flipped, $had sites have it)"
fi
stopkeeper "$T/v2"

# A connect through the replicas: the state minted through site 3, the
# exchange and the store through site 2.
site 1 add -t acme b1 magento=b1.example
ctl POST consent '{"mode":"approve","company":"1001"}' >/dev/null
url=$(fa-authurl -c "$T/s3.conf" b1) &&
    curl -sS -o /dev/null -w '%{redirect_url}' "$url" | sed 's/^[^?]*?//' >"$T/qs" &&
    fa-exchange -c "$T/s2.conf" <"$T/qs" | fa-vault -c "$T/s2.conf" store
ok $? "a connect through the replicas"
converged b1 && [ "$(site 3 show b1 | jq -r .status)" = connected ]
ok $? "b1 is connected on every site"

# One binding due; 32 racers over the three sites: one refresh.
bundle b1 $(fa-vault -c "$T/s1.conf" token b1 | jq -r '.access_token, .refresh_token') \
    1001 acme local | jq -c '.expires_at = (now | floor) + 60' >"$T/due.json"
site 2 store <"$T/due.json"
ok $? "b1 made due (stored through site 2)"
n0=$(count grant:refresh_token)
i=0 racers=
while [ $i -lt 32 ]; do
	i=$((i + 1))
	fa-refresh -c "$T/s$((i % 3 + 1)).conf" -p b1 >"$T/tok.$i" 2>"$T/race.$i.err" &
	racers="$racers $!"
done
wait $racers
[ "$(count grant:refresh_token)" -eq $((n0 + 1)) ]
ok $? "32 racers over three sites: FreeAgent saw one refresh ($(($(count grant:refresh_token) - n0)))"
cat "$T"/race.*.err | sed 's/^/# /' | head -n 5
[ "$(cat "$T"/tok.* | sort -u | wc -l)" -eq 1 ] && [ -s "$T/tok.1" ]
ok $? "and every racer got the same new token"
cat "$T"/tok.* >>"$T/secrets.list"
expect 0 "the sweep on a replica" fa-refresh -c "$T/s3.conf" --due
[ "$(count grant:refresh_token)" -eq $((n0 + 1)) ]; ok $? "does nothing"

# kill -9 of the master during a storm of writes through the replicas.
writer() {	# writer SITE NAME: logs the binding ids a site said it added
	_n=0
	while [ ! -e "$T/stop" ]; do
		_n=$((_n + 1))
		site $1 add -t acme $2-$_n magento=w.example 2>/dev/null &&
		    echo $2-$_n >>"$T/acked"
	done
}
writer 2 w2 & wp2=$!
writer 3 w3 & wp3=$!
until [ "$(cat "$T/acked" 2>/dev/null | wc -l)" -ge 10 ]; do sleep 0.05; done
kill -9 "$(keeperof "$T/v1")"
t0=$(date +%s)
new=
until [ -n "$new" ] || [ $(($(date +%s) - t0)) -gt 20 ]; do
	for i in 2 3; do
		r=$(role $i)
		case $r in "master "*) new=$i ;; esac
	done
	[ -n "$new" ] || sleep 0.1
done
took=$(($(date +%s) - t0))
[ -n "$new" ] && [ $took -le 10 ]; ok $? "a new master (site ${new:-none}) within 10 s (${took} s)"
n1=$(cat "$T/acked" | wc -l)
until [ "$(cat "$T/acked" | wc -l)" -ge $((n1 + 10)) ] || [ $(($(date +%s) - t0)) -gt 40 ]; do
	sleep 0.05
done
[ "$(cat "$T/acked" | wc -l)" -ge $((n1 + 10)) ]; ok $? "writes go on through the survivors"
touch "$T/stop"
wait $wp2 $wp3
rm -rf "$T/v1.dead" && mv "$T/v1" "$T/v1.dead"	# converged skips it
converged $(cat "$T/acked"); ok $? "every acknowledged write ($(wc -l <"$T/acked")) is on both survivors"
mv "$T/v1.dead" "$T/v1"
case $(role 1) in "replica 127.0.0.1:"*) ok 0 "the old master rejoins as a replica" ;;
*) ok 1 "the old master rejoins as a replica ($(role 1))" ;; esac
converged $(cat "$T/acked"); ok $? "and catches up"

# A replica cut off (SIGSTOP): the master and the other replica are a
# quorum, and write on; the replica comes back and catches up.
m=$new; o=$((5 - m))
kill -STOP "$(keeperof "$T/v$o")"
site $m add -t acme cut1 magento=x.example
ok $? "a replica cut off: the master and the other replica write on"
kill -CONT "$(keeperof "$T/v$o")"
converged cut1; ok $? "the replica comes back and catches up"

# A master alone: no quorum, no write.
kill -STOP "$(keeperof "$T/v1")" "$(keeperof "$T/v$o")"
expect 75 "a master cut off from its group refuses a write" site $m add -t acme alone magento=x.example
kill -CONT "$(keeperof "$T/v1")" "$(keeperof "$T/v$o")"
# Not acknowledged, it may still have been committed there, inside the
# lease: once the group is whole again the sites agree on it.
# (The two cut off may elect a master of their own as they wake, and
# then the write is rolled back where it was.)
t0=$(date +%s)
while :; do
	had=0
	for i in 1 2 3; do site $i show alone >/dev/null 2>&1 && had=$((had + 1)); done
	[ $had -eq 0 ] || [ $had -eq 3 ] || [ $(($(date +%s) - t0)) -gt 20 ] && break
	sleep 0.1
done
[ $had -eq 0 ] || [ $had -eq 3 ]
ok $? "and, the group whole again, the sites agree on it ($had of 3 have it)"
# The master stopped (SIGTERM) while a replica forwards writes to it:
# it stops promptly (it once hung: its close waited for replication's
# threads, which waited for the lock it held), and nothing a writer
# was told is written is lost.
for i in 1 2 3; do case $(role $i) in "master "*) m=$i ;; esac; done
r=$((m % 3 + 1))
rm -f "$T/stop" "$T/acked"
writer $r wt & wp=$!
until [ "$(cat "$T/acked" 2>/dev/null | wc -l)" -ge 5 ]; do sleep 0.05; done
k=$(keeperof "$T/v$m")
kill "$k"
_i=0
while alive "$k" && [ $_i -lt 1000 ]; do _i=$((_i + 1)); sleep 0.01; done
! alive "$k"; ok $? "a master stopped while a replica forwards writes stops (in $((_i * 10)) ms)"
alive "$k" && kill -9 "$k"	# not to hang what follows
touch "$T/stop"
wait $wp
converged $(cat "$T/acked"); ok $? "and every write acknowledged ($(wc -l <"$T/acked")) is on every site"
# The whole group stopped, then started again one site after another
# (each by a client): it elects a master and writes on.
for i in 1 2 3; do stopkeeper "$T/v$i"; done
t0=$(date +%s)
role 1 >/dev/null & r1=$!
role 2 >/dev/null & r2=$!
role 3 >/dev/null
wait $r1 $r2
until site 3 add -t acme again magento=x.example 2>/dev/null ||
    [ $(($(date +%s) - t0)) -gt 30 ]; do
	sleep 0.2
done
converged again; ok $? "a group started again elects a master and writes ($(($(date +%s) - t0)) s)"
for i in 1 2 3; do site $i verify >/dev/null 2>&1 || echo "# site $i"; done >"$T/ver"
[ ! -s "$T/ver" ]; ok $? "verify passes on every site"
diag "$T/ver"
for i in 1 2 3; do stopkeeper "$T/v$i"; done
done_testing
