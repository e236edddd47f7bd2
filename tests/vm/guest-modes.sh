#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# guest-modes.sh RAWTPD SRC
#
# Runs inside a VM started by run-vm.sh (run-all.sh passes the arguments): the attach modes on
# this kernel. Checks `RAWTPD --probe --json` against what the kernel is known to offer (every
# mode works on Debian's 6.1 and 5.10; sched_switch passes prev_state from 5.18; the kprobe
# target is finish_task_switch or a clone of it), then runs SRC/tests/integration/test_modes.py
# (each mode, auto included, started in turn and its counts checked against this kernel's
# /proc), then SRC/tests/integration/test_nobtf.py (the kernel's BTF hidden: every mode but tp_btf
# with a file that bpftool gen min_core_btf made from it, and the message without one), then
# prints each mode's per-event cost (mode-cost.py; emulated CPU, never a failure).
# Every check prints "ok" or "FAIL"; exit 1 if any failed. Files go to $RAWTPD_VM_RESULT.

set -uo pipefail

[ $# -eq 2 ] || { echo "usage: guest-modes.sh RAWTPD SRC" >&2; exit 2; }
rawtpd=$1
src=$2
out=${RAWTPD_VM_RESULT:-/tmp}
py=/usr/bin/python3
failed=0

# The daemon serves on 127.0.0.1: a busybox-init guest has not brought loopback up.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null || true

echo "== rawtpd --probe --json on $(uname -r)"
if ! "$rawtpd" --probe --json >"$out/modes-probe.json" 2>"$out/modes-probe.stderr"; then
	echo "FAIL  rawtpd --probe --json exited non-zero: $(head -c 500 "$out/modes-probe.stderr")"
	failed=1
fi
"$py" - "$out/modes-probe.json" <<'PY' || failed=1
import json, os, re, sys
doc = json.load(open(sys.argv[1]))
failed = 0
def check(cond, what):
    global failed
    print(("ok    " if cond else "FAIL  ") + what)
    failed |= not cond
rel = os.uname().release
major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", rel).groups())
check(doc["kernel_release"] == rel, f"kernel_release {doc['kernel_release']}")
check(doc["btf"] and doc["btf_path"] == "/sys/kernel/btf/vmlinux", "BTF from /sys/kernel/btf/vmlinux")
want = (major, minor) >= (5, 18)
check(doc["sched_switch_prev_state_arg"] is want,
      f"sched_switch prev_state argument: {doc['sched_switch_prev_state_arg']} (expected {want})")
check(doc["kprobes"] is True, "kprobes available")
check(re.fullmatch(r"finish_task_switch(\.isra\.\d+|\.constprop\.\d+)?", doc["kprobe_target"] or "")
      is not None, f"kprobe target {doc['kprobe_target']}")
for m in doc["attach_modes"]:
    check(m["works"], f"{m['mode']} works ({m['hook']})" + ("" if m["works"] else f": {m['reason']}"))
    check(m["renames"], f"{m['mode']} follows renames")
    # the thread data path needs bpf_mem_alloc in local storage (6.5) and prev as current
    path = "thread" if (major, minor) >= (6, 5) and m["mode"] != "kprobe" else "process"
    check(m.get("data_path") == path,
          f"{m['mode']}: data path {m.get('data_path')} (expected {path}: {m.get('data_path_reason')})")
check(doc["auto_choice"] == "tp_btf", f"auto would choose {doc['auto_choice']}")
for k in ("batch_map_ops", "ring_buffer", "percpu_hash"):
    check(doc[k] is True, f"{k}")
sys.exit(failed)
PY

echo "== test_modes.py: every mode against /proc"
# each mode on the data path auto takes: the process path is covered by the kprobe here, by
# 6.1 and 5.10, and on the host (RAWTPD_BOTH_PATHS keeps the emulated run within its time)
# and without the process whose threads exit early: emulated, a thread's way out after it read
# its own figures takes unbounded switches (the host runs that check)
export RAWTPD_EXITED_THREADS=0
RAWTPD=$rawtpd RAWTPD_SRC=$src RAWTPD_STORM_SLEEPS=${RAWTPD_STORM_SLEEPS:-1500} RAWTPD_BOTH_PATHS=0 \
	"$py" -u "$src/tests/integration/test_modes.py" \
	>"$out/test_modes.log" 2>&1
rc=$?
grep -E '^(FAIL|  )|passed' "$out/test_modes.log"
if [ "$rc" -eq 0 ]; then echo "ok    test_modes.py"; else echo "FAIL  test_modes.py (exit $rc)"; failed=1; fi

echo "== test_nobtf.py: the kernel's BTF hidden, a minimized file from it instead"
RAWTPD=$rawtpd RAWTPD_SRC=$src RAWTPD_BUILD=$(dirname "$(dirname "$rawtpd")") \
	"$py" -u "$src/tests/integration/test_nobtf.py" >"$out/test_nobtf.log" 2>&1
rc=$?
grep -E '^(FAIL|  )|passed' "$out/test_nobtf.log"
if [ "$rc" -eq 0 ]; then echo "ok    test_nobtf.py"; else echo "FAIL  test_nobtf.py (exit $rc)"; failed=1; fi

echo "== per-event cost (emulated CPU: relative figures only)"
"$py" "$src/tests/vm/mode-cost.py" "$rawtpd" --seconds "${RAWTPD_VM_COST_SECONDS:-5}" \
	--json "$out/mode-cost.json" 2>&1 || echo "info  per-event cost not measured"

exit "$failed"
