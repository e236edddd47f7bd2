#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# guest-check.sh [--smoke BIN OBJ] [--rawtpd BIN]
#
# Runs inside a VM started by run-vm.sh (run-all.sh passes the arguments). Reports the kernel
# facts the attach modes depend on, proves BPF works (bpftool feature probe; the smoke loader on
# every attach mode when given), and runs `rawtpd --probe --json` when given, checking that it
# exits 0 and prints one valid JSON document. Every check prints "ok" or "FAIL"; exit 1 if any
# failed. Files worth keeping go to $RAWTPD_VM_RESULT (the host's result dir).

set -euo pipefail

smoke='' smoke_obj='' rawtpd=''
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=$2 smoke_obj=$3; shift 3 ;;
	--rawtpd) rawtpd=$2; shift 2 ;;
	*) echo "guest-check.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
out=${RAWTPD_VM_RESULT:-/tmp}
failed=0

ok() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failed=1; }

echo "== kernel $(uname -r)"
if [ -e /sys/kernel/btf/vmlinux ]; then
	ok "/sys/kernel/btf/vmlinux present ($(stat -c %s /sys/kernel/btf/vmlinux) bytes)"
else
	fail "/sys/kernel/btf/vmlinux missing"
fi
mapfile -t fts < <(awk '$3 ~ /^finish_task_switch(\.|$)/ { print $2, $3 }' /proc/kallsyms)
if [ ${#fts[@]} -gt 0 ]; then
	ok "kprobe target in /proc/kallsyms: ${fts[*]#* }"
else
	fail "no finish_task_switch in /proc/kallsyms"
fi
kprobes=no
if [ -e /sys/kernel/tracing/kprobe_events ]; then kprobes=yes; fi
echo "info  kprobe_events in tracefs: $kprobes"
if [ -d /sys/kernel/tracing/events/sched/sched_switch ]; then
	ok "tracefs has sched:sched_switch (id $(cat /sys/kernel/tracing/events/sched/sched_switch/id))"
else
	fail "tracefs has no events/sched/sched_switch"
fi
if [ -r /sys/kernel/tracing/events/sched/sched_switch/format ]; then
	echo "info  sched_switch record fields:" \
		"$(grep -o 'field:[^;]*' /sys/kernel/tracing/events/sched/sched_switch/format |
			awk '$NF !~ /^common_/ { printf "%s ", $NF }')"
fi

# bpftool loads a tiny program of every type to answer: a first proof that bpf() works here.
if bpftool feature probe kernel >"$out/feature-probe.txt" 2>&1; then
	types=$(awk '/^eBPF program_type (tracing|raw_tracepoint|tracepoint|kprobe) is available/ \
		{ printf "%s ", $3 }' "$out/feature-probe.txt")
	if [ -n "$types" ]; then ok "bpftool feature probe: program types available: $types"
	else fail "bpftool feature probe: none of tracing raw_tracepoint tracepoint kprobe available"; fi
else
	fail "bpftool feature probe kernel failed: $(tail -n1 "$out/feature-probe.txt")"
fi

if [ -n "$smoke" ]; then
	echo "== smoke: one CO-RE program per attach mode, loaded, attached, counting"
	if "$smoke" "$smoke_obj" 2>"$out/smoke.stderr"; then
		ok "smoke: every attach mode loads, attaches and counts"
	else
		fail "smoke: see above; libbpf said:"
		sed 's/^/      /' "$out/smoke.stderr"
	fi
fi

if [ -n "$rawtpd" ]; then
	echo "== rawtpd --probe --json"
	rc=0
	"$rawtpd" --probe --json >"$out/probe.json" 2>"$out/probe.stderr" || rc=$?
	cat "$out/probe.json"
	if [ "$rc" -ne 0 ]; then
		fail "rawtpd --probe --json exited $rc: $(head -c 500 "$out/probe.stderr")"
	elif python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$out/probe.json" 2>/dev/null ||
	     jq -e . "$out/probe.json" >/dev/null 2>&1; then
		ok "rawtpd --probe --json: exit 0, valid JSON"
	else
		fail "rawtpd --probe --json printed no valid JSON"
	fi
fi

exit "$failed"
