#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# guest-unit.sh BUILD SRC - run inside an arm64 guest (tests/vm/guest-matrix.sh calls it when
# `uname -m` is aarch64): the unit tests that tests/run-all.sh's arm64-unit step leaves out
# because qemu-user cannot run them: test-slots (BPF maps, bpf() is not emulated) and
# test-self-stats (the program's own /proc figures). Prints "ok"/"FAIL" per test, keeps each
# log in $RAWTPD_VM_RESULT; exit 1 if any failed.

set -uo pipefail

[ $# -eq 2 ] || { echo "usage: guest-unit.sh BUILD SRC" >&2; exit 2; }
build=$1
src=$2
out=${RAWTPD_VM_RESULT:-/tmp}
failed=0

echo "== unit tests qemu-user cannot run, on $(uname -r)"
for t in slots self-stats; do
	rc=0
	(cd "$build" && TEST_DATA=$src/tests/data "tests/unit/test-$t") >"$out/unit-$t.log" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok    test-$t: $(tail -n 1 "$out/unit-$t.log")"
	else
		echo "FAIL  test-$t (exit $rc): $(tail -n 3 "$out/unit-$t.log" | paste -sd ' ' -)"
		failed=1
	fi
done
exit "$failed"
