#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# guest-matrix.sh SRC [GUEST-CHECK ARGS...] [--modes RAWTPD]
#
# Runs inside a VM started by run-vm.sh, so that one boot per kernel serves the whole matrix:
# SRC/tests/vm/guest-check.sh with the arguments other than --modes (kernel facts, bpftool,
# smoke loader, --probe --json), then, with --modes, guest-modes.sh RAWTPD SRC (every attach
# mode started in turn and checked against this kernel's /proc; on arm64 also
# tests/arm64/guest-jit.sh, the JITed publish ordering, and guest-unit.sh, the unit tests
# qemu-user cannot run), then, with the smoke loader,
# guest-attach-loop.sh: $RAWTPD_VM_ATTACH_CYCLES (default 20; 0 skips it) cycles of attaching
# and detaching under switch load, the regression test for the TCG hang of issue 12. run-vm.sh
# copies only this script into the guest, hence SRC. Exit 1 if any of them failed.

set -uo pipefail

[ $# -ge 1 ] || { echo "usage: guest-matrix.sh SRC [ARGS...] [--modes RAWTPD]" >&2; exit 2; }
src=$1
shift
declare -a check=()
rawtpd=
smoke=
smoke_obj=
while [ $# -gt 0 ]; do
	case $1 in
	--modes) rawtpd=$2; shift 2 ;;
	--smoke) smoke=$2 smoke_obj=$3; check+=("$1" "$2" "$3"); shift 3 ;;
	*) check+=("$1"); shift ;;
	esac
done

failed=0
"$src/tests/vm/guest-check.sh" "${check[@]}" || failed=1
if [ -n "$rawtpd" ]; then
	"$src/tests/vm/guest-modes.sh" "$rawtpd" "$src" || failed=1
	# arm64's weaker memory order: the thread slot's publish, as the JIT made it
	if [ "$(uname -m)" = aarch64 ]; then
		"$src/tests/arm64/guest-jit.sh" "$rawtpd" || failed=1
		"$src/tests/arm64/guest-unit.sh" "$(dirname "$(dirname "$rawtpd")")" "$src" || failed=1
	fi
fi
cycles=${RAWTPD_VM_ATTACH_CYCLES:-20}
if [ -n "$smoke" ] && [ "$cycles" -gt 0 ]; then
	"$src/tests/vm/guest-attach-loop.sh" "$cycles" "$smoke" "$smoke_obj" $rawtpd >"${RAWTPD_VM_RESULT:-/tmp}/attach-loop.log" 2>&1
	rc=$?
	tail -n 1 "${RAWTPD_VM_RESULT:-/tmp}/attach-loop.log"
	grep -E 'FAIL' "${RAWTPD_VM_RESULT:-/tmp}/attach-loop.log" | head -n 20
	if [ "$rc" -eq 0 ]; then echo "ok    attach loop: $cycles cycles"; else echo "FAIL  attach loop (exit $rc)"; failed=1; fi
fi
exit "$failed"
