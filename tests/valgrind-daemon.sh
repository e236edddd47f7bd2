#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A short run of the real daemon under valgrind memcheck, with scrapes of every endpoint (text,
# gzip, OpenMetrics, JSON with queries, errors), a SIGHUP and a SIGTERM. It groups by unit, so
# that the groups, the latency histograms and the preemption pairs run too (render-prom's per-pid
# output is test-render's, under valgrind as a unit test). Fails on any memcheck
# error or definite leak (tests/valgrind.supp lists valgrind's own bpf(2) false positives only).
#
#   tests/valgrind-daemon.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp /tmp/rawtpd-valgrind.XXXXXX)
base=http://127.0.0.1:$port

valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --suppressions="$src/tests/valgrind.supp" -q \
	"$build/daemon/rawtpd" --listen "127.0.0.1:$port" --interval 500ms --config /dev/null \
	--group-by unit >"$log" 2>&1 &
pid=$!
trap 'kill -KILL $pid 2>/dev/null || true' EXIT

for _ in $(seq 240); do # valgrind starts slowly: up to 120 s
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/-/healthy" || true)" = 200 ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
fail=0
scrape() {
	local want=$1 path=$2
	shift 2
	local got
	got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$@" "$base$path" || true)
	if [ "$got" != "$want" ]; then
		echo "FAIL $path $*: $got, want $want"
		fail=1
	else
		echo "ok   $path $*: $got"
	fi
}
for round in 1 2; do
	scrape 200 /metrics
	scrape 200 /metrics -H 'Accept-Encoding: gzip'
	scrape 200 /metrics -H 'Accept: application/openmetrics-text;version=1.0.0'
	scrape 200 /api/v1/processes
	scrape 200 '/api/v1/processes?top=5&sort=cpu'
	scrape 200 '/api/v1/processes?comm=rawtpd&pid=1'
	scrape 400 '/api/v1/processes?top=0'
	scrape 200 /api/v1/groups
	scrape 200 '/api/v1/groups?by=cgroup&sort=cpu&top=3'
	scrape 400 '/api/v1/groups?by=pid'
	scrape 200 /api/v1/status
	scrape 200 /
	scrape 404 /nope
	scrape 405 /metrics -X POST
	[ $round = 1 ] && kill -HUP $pid && sleep 2
done
kill -TERM $pid
rc=0
wait $pid || rc=$?
trap - EXIT
grep -v 'unhandled eBPF command' "$log" || true
rm -f "$log"
echo "valgrind daemon run: exit $rc"
[ $rc -eq 0 ] && [ $fail -eq 0 ]
