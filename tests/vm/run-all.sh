#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run-all.sh BUILDDIR: the kernel matrix in VMs (bookworm 6.1, bullseye 5.10, trixie 6.12).
#
# Fetches the kernels (fetch-kernels.sh, cache $RAWTPD_VM_CACHE or BUILDDIR/vm-cache), builds the
# BPF smoke loader into BUILDDIR/vm-smoke (when clang and libbpf-dev are there), then per kernel
# boots one VM (run-vm.sh) running guest-matrix.sh: guest-check.sh (kernel facts, bpftool
# feature probe, the smoke loader on every attach mode, `BUILDDIR/daemon/rawtpd --probe --json`)
# and, when that binary exists and knows --probe, guest-modes.sh (the --probe facts this kernel
# must show, every attach mode and auto started in turn with test_modes.py, counts checked
# against the guest's /proc, and each mode's per-event cost). Each VM is bounded by
# $RAWTPD_VM_TIMEOUT (default 1500 s with the modes, 240 s without). A kernel that cannot be had
# is a failure of its own line. Prints a summary line per kernel; exit 0 when every kernel
# passed, 1 otherwise.
#
# RAWTPD_VM_SUITES="bookworm bullseye trixie" limits the kernels; RAWTPD_VM_PARALLEL=0 boots them one
# after the other instead of side by side; RAWTPD_VM_ATTACH_CYCLES (default 20) sizes each
# guest's attach loop (guest-attach-loop.sh). Per-kernel files (guest output,
# console log, probe.json) are kept in BUILDDIR/vm-results/<suite>/.
#
# RAWTPD_VM_ARCH=arm64 runs the same on Debian's arm64 kernels (bookworm 6.1, trixie 6.12) in
# qemu-system-aarch64, for an arm64 BUILDDIR (meson --cross-file packaging/cross/...): the guest's
# root is RAWTPD_VM_ROOT (tests/arm64/make-root.sh; required), the source tree and BUILDDIR are
# shared at their own paths (RAWTPD_VM_SHARE), and the smoke loader is cross-built with
# aarch64-linux-gnu-gcc against libbpf-dev:arm64.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)

[ $# -eq 1 ] || { echo "usage: $prog BUILDDIR" >&2; exit 2; }
[ -d "$1" ] || { echo "$prog: build dir $1 does not exist" >&2; exit 2; }
build=$(cd "$1" && pwd)
timeout_s=${RAWTPD_VM_TIMEOUT:-240}
export RAWTPD_BUILD_DIR=$build

log() { printf '%s: %s\n' "$prog" "$*" >&2; }

vm_arch=${RAWTPD_VM_ARCH:-amd64}
src=$(cd "$here/../.." && pwd)
case $vm_arch in
amd64) default_suites="bookworm bullseye trixie" triplet=$(uname -m)-linux-gnu cc=${CC:-cc} ;;
arm64)
	default_suites="bookworm trixie" triplet=aarch64-linux-gnu cc=aarch64-linux-gnu-gcc
	[ -n "${RAWTPD_VM_ROOT:-}" ] || { log "RAWTPD_VM_ARCH=arm64 needs RAWTPD_VM_ROOT (tests/arm64/make-root.sh)"; exit 2; }
	export RAWTPD_VM_SHARE="${RAWTPD_VM_SHARE:-} $src"
	case $build/ in "$src"/*) ;; *) RAWTPD_VM_SHARE+=" $build" ;; esac
	;;
*) log "RAWTPD_VM_ARCH must be amd64 or arm64"; exit 2 ;;
esac
export RAWTPD_VM_ARCH=$vm_arch RAWTPD_VM_SUITES=${RAWTPD_VM_SUITES:-$default_suites}

t0=$SECONDS
mapfile -t kernels < <("$here/fetch-kernels.sh" "${RAWTPD_VM_CACHE:-$build/vm-cache}")
[ ${#kernels[@]} -gt 0 ] || { log "no kernels fetched"; exit 1; }

# The smoke loader: built here, not by meson, so the VM tests stand on their own.
build_smoke() {
	local d=$build/vm-smoke arch
	arch=${triplet%%-*}
	case $arch in x86_64) arch=x86 ;; aarch64) arch=arm64 ;; esac
	command -v clang >/dev/null && command -v "$cc" >/dev/null && [ -f /usr/include/bpf/libbpf.h ] ||
		return 1
	mkdir -p "$d"
	clang -g -O2 -Wall -Werror -target bpf "-D__TARGET_ARCH_$arch" \
		"-I/usr/include/$triplet" "-I$here" \
		-c "$here/smoke.bpf.c" -o "$d/smoke.bpf.o" &&
		"$cc" -O2 -g -Wall -Wextra -Werror "-I$here" "$here/smoke.c" \
			-o "$d/rawtpd-vm-smoke" -lbpf
}

declare -a args=()
if build_smoke; then
	args+=(--smoke "$build/vm-smoke/rawtpd-vm-smoke" "$build/vm-smoke/smoke.bpf.o")
else
	log "clang or libbpf-dev missing: no smoke loader, bpftool feature probe only"
fi
rawtpd=$build/daemon/rawtpd
if [ -x "$rawtpd" ] && "$rawtpd" --help 2>&1 | grep -q -- '--probe'; then
	args+=(--rawtpd "$rawtpd" --modes "$rawtpd")
	timeout_s=${RAWTPD_VM_TIMEOUT:-1500}
else
	log "$rawtpd missing or without --probe: kernel facts and smoke checks only"
fi
export RAWTPD_VM_ATTACH_CYCLES=${RAWTPD_VM_ATTACH_CYCLES:-20}
export RAWTPD_VM_PASSENV="${RAWTPD_VM_PASSENV:-} RAWTPD_VM_ATTACH_CYCLES"

# One kernel: boot, and boot once more after a hang or a timeout. Writes the summary line to
# $res/summary and exits with the guest's status.
run_suite() {
	local suite=$1 kdir=$2 res=$3 start=$SECONDS first='' attempt rc boot status
	# A guest that hangs (run-vm.sh's hang watch: a soft-lockup, RCU-stall or panic line, or
	# 60 s without progress; exit 123) or runs out of time (124) is booted once more; only a
	# second hang fails, with the console lines quoted. The first attempt's files are kept.
	for attempt in 1 2; do
		log "$suite: booting $(basename "$kdir") (timeout ${timeout_s} s, attempt $attempt)"
		rc=0
		RAWTPD_VM_RESULT_DIR=$res "$here/run-vm.sh" "$kdir" "$here/guest-matrix.sh" \
			"$timeout_s" "$src" "${args[@]}" || rc=$?
		{ [ "$rc" -eq 123 ] || [ "$rc" -eq 124 ]; } && [ "$attempt" -eq 1 ] || break
		if [ "$rc" -eq 123 ]; then first="hung"; else first="timed out"; fi
		log "$suite: the guest $first on the first boot: its files are in" \
			"$res/attempt1/; booting again"
		mkdir -p "$res/attempt1"
		find "$res" -maxdepth 1 -type f ! -name 'run.*' -exec mv {} "$res/attempt1/" \;
	done
	boot=$(cat "$res/boot-seconds" 2>/dev/null || echo "?")
	if [ "$rc" -eq 0 ]; then status=ok; else status="FAIL (exit $rc)"; fi
	[ "$rc" -eq 123 ] && status="FAIL (hung)"
	[ "$attempt" -eq 2 ] && status="$status after a first boot that $first"
	if [ "$rc" -eq 123 ] && [ -f "$res/hang" ]; then
		log "$suite: hung twice; the second time the console said:"
		sed 's/^/    /' "$res/hang" >&2
	fi
	printf '%-9s %-18s %-14s boot %6s s  run %4d s\n' "$suite" "$(basename "$kdir")" \
		"$status" "$boot" $((SECONDS - start)) >"$res/summary"
	return "$rc"
}

# Each guest runs its vCPUs in one host thread (run-vm.sh: single-threaded TCG, see
# tests/vm/README.md), so the kernels boot side by side, one host core each. Their output is
# printed kernel by kernel once all are done.
declare -a summary=() results=()
failed=0
for line in "${kernels[@]}"; do
	suite=${line%% *}
	kdir=${line#* }
	res=$build/vm-results/$suite
	rm -rf "$res"
	mkdir -p "$res"
	(
		rc=0
		run_suite "$suite" "$kdir" "$res" >"$res/run.out" 2>"$res/run.err" || rc=$?
		echo "$rc" >"$res/run.rc"
	) &
	results+=("$res")
	[ "${RAWTPD_VM_PARALLEL:-1}" = 1 ] || wait
done
wait
for res in "${results[@]}"; do
	[ "$(cat "$res/run.rc" 2>/dev/null)" = 0 ] || failed=1
	cat "$res/run.out"
	cat "$res/run.err" >&2
	summary+=("$(cat "$res/summary" 2>/dev/null || echo "${res##*/} FAIL (no summary)")")
done

# Every suite asked for must have run: one that fetch-kernels.sh could not get fails here.
for suite in $RAWTPD_VM_SUITES; do
	printf '%s\n' "${kernels[@]}" | grep -q "^$suite " && continue
	summary+=("$(printf '%-9s %-18s %s' "$suite" "-" "FAIL (kernel could not be had: see fetch-kernels.sh above)")")
	failed=1
done

echo "== VM kernel matrix ($((SECONDS - t0)) s in all)"
printf '%s\n' "${summary[@]}"
exit "$failed"
