#!/bin/sh
# A real Prometheus scrapes the metrics as deployed: fa-vault metrics -o
# (what cron runs) into node_exporter's textfile directory, node_exporter
# and Prometheus on loopback. A binding FreeAgent refuses shows in
# Prometheus as the vault holds it.
. "$(dirname "$0")/lib.sh"
# make check-asan: t/0700 runs fa-vault metrics through the sanitizers;
# what this adds is Prometheus's reading of it.
if [ "$B" != "$TOP" ]; then
	echo "1..0 # SKIP Prometheus's reading; t/0700 runs the same C"
	exit 0
fi

mkvault >/dev/null 2>&1
standin
fa-vault tenant add acme &&
    fa-vault add -t acme p1 magento=one.example.com && connect p1 1001 &&
    fa-vault add -t acme p2 magento=two.example.com && connect p2 1002
ok $? "two bindings connected"
ctl POST revoke '{"company":"1002"}' >/dev/null
fa-refresh -f p2 >/dev/null 2>&1
want=$(fa-vault ls | jq -s '[.[] | select(.status == "needs_reconnect")] | length')
[ "$want" -eq 1 ]; ok $? "FreeAgent refused p2: the vault holds $want binding needing a reconnect"
mkdir "$T/tf"
fa-vault metrics -o "$T/tf/fa.prom"; ok $? "the metrics written for the textfile collector"
set -- $(python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
NP=$1 PP=$2
prometheus-node-exporter --web.listen-address=127.0.0.1:$NP \
    --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$T/tf" >"$T/ne.log" 2>&1 &
ne=$!
cat >"$T/prom.yml" <<-YML
	global:
	  scrape_interval: 1s
	scrape_configs:
	  - job_name: fa
	    static_configs:
	      - targets: ['127.0.0.1:$NP']
	YML
prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address=127.0.0.1:$PP >"$T/prom.log" 2>&1 &
pr=$!
q() {
	curl -sS -G "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
	    jq -r '.data.result[0].value[1] // empty' 2>/dev/null
}
i=0
until [ -n "$(q 'sum(fa_bindings{status="needs_reconnect"})')" ] || [ $i -ge 300 ]; do
	i=$((i + 1)); sleep 0.1
done
got=$(q 'sum(fa_bindings{status="needs_reconnect"})')
[ "$got" = "$want" ]; ok $? "Prometheus: fa_bindings{status=\"needs_reconnect\"} = ${got:-nothing}"
[ -n "$got" ] || { diag "$T/prom.log"; diag "$T/ne.log"; }
[ "$(q 'fa_refreshes_total{outcome="needs_reconnect"}')" = 1 ]
ok $? "and the refusal counted"
kill $ne $pr
wait $ne $pr
done_testing
