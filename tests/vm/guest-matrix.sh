#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# guest-matrix.sh SRC [GUEST-CHECK ARGS...] [--modes RAWTPD]
#
# Runs inside a VM started by run-vm.sh, so that one boot per kernel serves the whole matrix:
# SRC/tests/vm/guest-check.sh with the arguments other than --modes (kernel facts, bpftool,
# smoke loader, --probe --json), then, with --modes, guest-modes.sh RAWTPD SRC (every attach
# mode started in turn and checked against this kernel's /proc). run-vm.sh copies only this
# script into the guest, hence SRC. Exit 1 if either failed.

set -uo pipefail

[ $# -ge 1 ] || { echo "usage: guest-matrix.sh SRC [ARGS...] [--modes RAWTPD]" >&2; exit 2; }
src=$1
shift
declare -a check=()
rawtpd=
while [ $# -gt 0 ]; do
	case $1 in
	--modes) rawtpd=$2; shift 2 ;;
	*) check+=("$1"); shift ;;
	esac
done

failed=0
"$src/tests/vm/guest-check.sh" "${check[@]}" || failed=1
if [ -n "$rawtpd" ]; then
	"$src/tests/vm/guest-modes.sh" "$rawtpd" "$src" || failed=1
fi
exit "$failed"
