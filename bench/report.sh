#!/usr/bin/env bash
# bench/report.sh [OUT]: one benchmark run of everything docs/benchmarks.md
# reports, into OUT (default ./benchmark-report-<UTC time>):
#   1. chronon benchmark: kv with 1, 32 (the default) and 64 clients; the
#      ledger at the demo's shape; the ledger with an effect per transfer;
#   2. a kv sweep over client counts x batch sizes (CSV, JSON, SVG);
#   3. bench/peers: etcd and Chronon side by side, alternating (needs etcd;
#      installed with apt when root, else skipped with the reason);
#   4. where a replica's time goes: 3 `chronon start` processes under 64 kv
#      clients, a CPU profile and a syscall-blocking profile (from a
#      runtime trace) of the primary and of a backup.
# Everything is written as text and JSON beside a report.md that lists each
# command with its output. It takes 15-20 minutes and is not run by CI.
# Figures from a shared machine: compare ratios measured in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/benchmark-report-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$out/chronon
go build -o "$bin" ./cmd/chronon

report=$out/report.md
exec 3>"$report"
say() { printf '%s\n' "$@" >&3; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# run NAME CMD...: runs CMD, its stdout into NAME.txt, and into the report.
run() {
	local name=$1
	shift
	echo "== $name: $*" >&2
	say "### $name" "" '```' "\$ $*"
	local t0=$SECONDS
	if "$@" >"$out/$name.txt" 2>"$out/$name.err"; then :; else
		echo "(exit $?; stderr: $out/$name.err)" >>"$out/$name.txt"
	fi
	cat "$out/$name.txt" >&3
	say '```' "" "($((SECONDS - t0)) s wall clock, load average after: $(loadavg))" ""
}

say "# Chronon benchmark report" ""
say "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
say "- revision: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
say "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(go version | cut -d' ' -f3)"
say "- cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
say "- load average at start: $(loadavg)"
say ""

say "## 1. chronon benchmark" ""
run kv-default "$bin" benchmark
run kv-1-client "$bin" benchmark --clients=1
run kv-64-clients "$bin" benchmark --clients=64
run ledger "$bin" benchmark --workload=ledger --clients=16 --callers=8 --batch=64 --duration=5s
run ledger-effects "$bin" benchmark --workload=ledger-effects --clients=16 --callers=8 --batch=64 --duration=5s

say "## 2. kv sweep" ""
run sweep-kv "$bin" benchmark --sweep-clients=1,4,16,64 --sweep-batch=1,16,128 --warmup=2s --duration=8s --out="$out"

say "## 3. etcd side by side" ""
if [ -n "${SKIP_PEERS:-}" ]; then
	say "(skipped: SKIP_PEERS is set)" ""
else
	run peers bash -c "cd '$root/bench/peers' && go run . --out='$out/peers'"
fi

say "## 4. Where a replica's time goes" ""
prof=$out/profile
mkdir -p "$prof"
addresses=127.0.0.1:3400,127.0.0.1:3401,127.0.0.1:3402
pids=()
stop_replicas() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap stop_replicas EXIT
for i in 0 1 2; do
	"$bin" format --cluster=7 --replica=$i --replica-count=3 "$prof/r$i.chronon" >/dev/null
done
for i in 0 1 2; do
	"$bin" start --state-machine=kv --addresses=$addresses --metrics=127.0.0.1:350$i --pprof \
		--status-interval=0 "$prof/r$i.chronon" >"$prof/replica$i.log" 2>&1 &
	pids+=($!)
done
sleep 3
"$bin" benchmark --addresses=$addresses --cluster=7 --clients=64 --warmup=3s --duration=25s >"$prof/load.txt" 2>&1 &
load=$!
sleep 8
# The primary is the replica whose chronon_primary gauge is 1.
primary=0
for i in 0 1 2; do
	if curl -s "http://127.0.0.1:350$i/metrics" | grep -q '^chronon_primary{.*} 1$'; then primary=$i; fi
done
backup=$(((primary + 1) % 3))
curl -s -o "$prof/primary.cpu.pprof" "http://127.0.0.1:350$primary/debug/pprof/profile?seconds=15" &
c1=$!
curl -s -o "$prof/backup.cpu.pprof" "http://127.0.0.1:350$backup/debug/pprof/profile?seconds=15" &
c2=$!
wait $c1 $c2 || true
curl -s -o "$prof/primary.trace" "http://127.0.0.1:350$primary/debug/pprof/trace?seconds=5" &
c1=$!
curl -s -o "$prof/backup.trace" "http://127.0.0.1:350$backup/debug/pprof/trace?seconds=5" &
c2=$!
wait $c1 $c2 || true
wait $load || true
stop_replicas
say "### profile load (3 \`chronon start --state-machine=kv\` processes, replica $primary leads)" "" '```'
cat "$prof/load.txt" >&3
say '```' ""
for who in primary backup; do
	go tool trace -pprof=syscall "$prof/$who.trace" >"$prof/$who.syscall.pprof" 2>/dev/null || true
	say "### $who: CPU (15 s)" "" '```'
	go tool pprof -top -cum -nodecount=40 "$bin" "$prof/$who.cpu.pprof" 2>/dev/null | sed -n '4,48p' >&3 || true
	say '```' "" "### $who: where the event loop blocks in system calls (5 s trace)" "" '```'
	go tool pprof -top -cum -nodecount=30 "$bin" "$prof/$who.syscall.pprof" 2>/dev/null | sed -n '4,36p' >&3 || true
	say '```' ""
done
say "load average at end: $(loadavg)"
echo "report: $report" >&2
