#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# guest-attach-loop.sh CYCLES SMOKE SMOKE_OBJ [RAWTPD]
#
# Runs inside a VM started by run-vm.sh: attaches and detaches sched_switch programs CYCLES
# times while both vCPUs are busy switching, which is what once hung TCG guests in a soft lockup
# (issue 12). Each cycle loads, attaches, checks and detaches the smoke loader's tracepoint and
# kprobe programs (the two modes that patch kernel text: a static key, an int3 on
# finish_task_switch), then, with RAWTPD, starts the daemon in the next of tp_btf, tracepoint
# and kprobe, waits until it serves /metrics and kills it with SIGKILL. The load is two CPU hogs
# and `stress-ng --switch 1`. Prints one line a cycle (the host's hang watch reads progress from
# the heartbeat file, not from these lines); exit 0 when every cycle attached, 1 otherwise.

set -uo pipefail

[ $# -ge 3 ] || { echo "usage: guest-attach-loop.sh CYCLES SMOKE SMOKE_OBJ [RAWTPD]" >&2; exit 2; }
cycles=$1
smoke=$2
obj=$3
rawtpd=${4:-}
out=${RAWTPD_VM_RESULT:-/tmp}
ip link set lo up 2>/dev/null || true

declare -a load=()
cleanup() { [ ${#load[@]} -eq 0 ] || kill "${load[@]}" 2>/dev/null; }
trap cleanup EXIT
for _ in 1 2; do
	(while :; do :; done) &
	load+=($!)
done
if command -v stress-ng >/dev/null; then
	stress-ng --switch 1 --timeout 0 --quiet &
	load+=($!)
else
	echo "info  stress-ng missing: two hogs only"
fi

kprobe=$(awk '$3 ~ /^finish_task_switch(\..*)?$/ && ($2 == "t" || $2 == "T") { print $3; exit }' \
	/proc/kallsyms)
declare -a modes=(tp_btf tracepoint)
[ -n "$kprobe" ] && modes+=(kprobe)
echo "== $cycles attach cycles on $(uname -r) (kprobe target: ${kprobe:-none}), under load"

failed=0
port=9489
start=$SECONDS
for ((i = 1; i <= cycles; i++)); do
	t0=$SECONDS
	sm=ok
	"$smoke" "$obj" tracepoint ${kprobe:+kprobe} >"$out/attach-loop-smoke.log" 2>&1 || {
		sm=FAIL
		failed=1
		sed 's/^/      /' "$out/attach-loop-smoke.log"
	}
	rd=-
	if [ -n "$rawtpd" ]; then
		mode=${modes[$((i % ${#modes[@]}))]}
		"$rawtpd" --attach "$mode" --listen "127.0.0.1:$port" --interval 200ms \
			--config /dev/null >"$out/attach-loop-rawtpd.log" 2>&1 &
		pid=$!
		rd="$mode FAIL"
		for _ in $(seq 300); do
			if ! kill -0 "$pid" 2>/dev/null; then break; fi
			if curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; then
				rd="$mode ok"
				break
			fi
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		case $rd in *FAIL) failed=1; sed 's/^/      /' "$out/attach-loop-rawtpd.log" ;; esac
	fi
	printf 'cycle %3d/%d  smoke tracepoint+kprobe %s  rawtpd %s  %3d s\n' "$i" "$cycles" "$sm" \
		"$rd" $((SECONDS - t0))
done
echo "== $cycles cycles in $((SECONDS - start)) s, $([ "$failed" -eq 0 ] && echo "all attached" || echo "some FAILED")"
exit "$failed"
