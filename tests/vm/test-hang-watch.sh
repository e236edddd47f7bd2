#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test-hang-watch.sh: run-vm.sh's hang watch, on purpose. Boots the bookworm kernel twice with a
# guest script that hangs in a known way, and checks that run-vm.sh kills the guest and exits
# 123, well before the timeout, with what it saw:
#   lockup   the kernel prints a soft-lockup line (written to /dev/kmsg, as the watchdog would)
#   freeze   the guest stops its heartbeat and goes quiet, as a guest whose CPUs are all stuck
# Prints "ok"/"FAIL" per check and "N passed, N failed"; exit 0 when all passed, 77 (skip) when
# qemu or the kernel cannot be had.

set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
command -v qemu-system-x86_64 >/dev/null || { echo "skip: no qemu-system-x86_64"; exit 77; }
kdir=$(bash "$here/fetch-kernels.sh" ${RAWTPD_VM_CACHE:+"$RAWTPD_VM_CACHE"} 2>/dev/null |
	awk '$1 == "bookworm" { print $2 }')
[ -n "$kdir" ] || { echo "skip: no bookworm kernel (fetch-kernels.sh)"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rawtpd-hang-watch.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/lockup.sh" <<'EOF'
#!/bin/bash
echo "<0>watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [hang-watch-test:1]" >/dev/kmsg
sleep 600
EOF
cat >"$work/freeze.sh" <<'EOF'
#!/bin/bash
# guest-run.sh's other children: the heartbeat loop (and the kallsyms copy, if still running).
for p in $(pgrep -P "$PPID"); do [ "$p" = "$$" ] || kill -STOP "$p"; done
sleep 600
EOF
chmod +x "$work"/*.sh

passed=0
failed=0
check() { # COND WHAT
	if [ "$1" = 0 ]; then
		echo "ok    $2"
		passed=$((passed + 1))
	else
		echo "FAIL  $2"
		failed=$((failed + 1))
	fi
}

for kind in lockup freeze; do
	res=$work/res-$kind
	start=$SECONDS
	rc=0
	RAWTPD_VM_RESULT_DIR=$res "$here/run-vm.sh" "$kdir" "$work/$kind.sh" 400 \
		>"$work/$kind.out" 2>"$work/$kind.err" || rc=$?
	took=$((SECONDS - start))
	check "$([ "$rc" -eq 123 ] && echo 0 || echo 1)" "$kind: run-vm.sh exits 123 (got $rc)"
	check "$([ "$took" -lt 150 ] && echo 0 || echo 1)" "$kind: found in $took s, not at the 400 s timeout"
	case $kind in
	lockup) want='soft lockup - CPU#1 stuck' ;;
	freeze) want='no progress for [0-9]+ s' ;;
	esac
	grep -Eq "$want" "$work/$kind.err"
	check $? "$kind: the message says what it saw ($want)"
	grep -Eq '^    sample 1: vCPU0 .* at [0-9a-f]{16} ' "$work/$kind.err"
	check $? "$kind: it says where each vCPU was"
	if [ "$failed" -gt 0 ]; then sed 's/^/      /' "$work/$kind.err" | head -n 40; fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
