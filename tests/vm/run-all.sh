#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run-all.sh BUILDDIR: the kernel matrix in VMs (bookworm 6.1, bullseye 5.10).
#
# Fetches the kernels (fetch-kernels.sh, cache $RAWTPD_VM_CACHE or BUILDDIR/vm-cache), builds the
# BPF smoke loader into BUILDDIR/vm-smoke (when clang and libbpf-dev are there), then per kernel
# boots one VM (run-vm.sh, bounded by $RAWTPD_VM_TIMEOUT, default 240 s) running guest-check.sh:
# kernel facts, bpftool feature probe, the smoke loader on every attach mode, and
# `BUILDDIR/daemon/rawtpd --probe --json` when that binary exists and knows --probe.
# Prints a summary line per kernel; exit 0 when every kernel passed, 1 otherwise.
#
# RAWTPD_VM_SUITES="bookworm bullseye" limits the kernels. Per-kernel files (guest output,
# console log, probe.json) are kept in BUILDDIR/vm-results/<suite>/.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)

[ $# -eq 1 ] || { echo "usage: $prog BUILDDIR" >&2; exit 2; }
[ -d "$1" ] || { echo "$prog: build dir $1 does not exist" >&2; exit 2; }
build=$(cd "$1" && pwd)
timeout_s=${RAWTPD_VM_TIMEOUT:-240}
export RAWTPD_BUILD_DIR=$build

log() { printf '%s: %s\n' "$prog" "$*" >&2; }

t0=$SECONDS
mapfile -t kernels < <("$here/fetch-kernels.sh" "${RAWTPD_VM_CACHE:-$build/vm-cache}")
[ ${#kernels[@]} -gt 0 ] || { log "no kernels fetched"; exit 1; }

# The smoke loader: built here, not by meson, so the VM tests stand on their own.
build_smoke() {
	local d=$build/vm-smoke arch
	arch=$(uname -m)
	case $arch in x86_64) arch=x86 ;; aarch64) arch=arm64 ;; esac
	command -v clang >/dev/null && [ -f /usr/include/bpf/libbpf.h ] || return 1
	mkdir -p "$d"
	clang -g -O2 -Wall -Werror -target bpf "-D__TARGET_ARCH_$arch" \
		"-I/usr/include/$(uname -m)-linux-gnu" "-I$here" \
		-c "$here/smoke.bpf.c" -o "$d/smoke.bpf.o" &&
		"${CC:-cc}" -O2 -g -Wall -Wextra -Werror "-I$here" "$here/smoke.c" \
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
	args+=(--rawtpd "$rawtpd")
else
	log "$rawtpd missing or without --probe: kernel facts and smoke checks only"
fi

declare -a summary=()
failed=0
for line in "${kernels[@]}"; do
	suite=${line%% *}
	kdir=${line#* }
	res=$build/vm-results/$suite
	rm -rf "$res"
	mkdir -p "$res"
	log "$suite: booting $(basename "$kdir") (timeout ${timeout_s} s)"
	start=$SECONDS
	rc=0
	RAWTPD_VM_RESULT_DIR=$res "$here/run-vm.sh" "$kdir" "$here/guest-check.sh" "$timeout_s" \
		"${args[@]}" || rc=$?
	boot=$(cat "$res/boot-seconds" 2>/dev/null || echo "?")
	if [ "$rc" -eq 0 ]; then status=ok; else status="FAIL (exit $rc)"; failed=1; fi
	summary+=("$(printf '%-9s %-18s %-14s boot %6s s  run %4d s' "$suite" "$(basename "$kdir")" \
		"$status" "$boot" $((SECONDS - start)))")
done

echo "== VM kernel matrix ($((SECONDS - t0)) s in all)"
printf '%s\n' "${summary[@]}"
exit "$failed"
