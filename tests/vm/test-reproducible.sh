#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test-reproducible.sh BUILDDIR: rawtpd.bpf.o does not depend on the kernel the build runs on.
#
# The build's own clang command for bpf/rawtpd.bpf.o (from ninja) is run twice more: on this
# host, and in a VM guest running Debian's 6.1 kernel over the same root (run-vm.sh). All three
# objects must have the same sha256, and the in-tree vmlinux.h the checksum committed with it.
# A build made with -Dvmlinux_h=host (the build machine's own BTF) is not checked: that one
# depends on the kernel by design.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILDDIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
failed=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failed=1; }

arch=$(uname -m)
if (cd "$src/bpf/vmlinux/$arch" && sha256sum --quiet -c vmlinux.h.sha256); then
	ok "bpf/vmlinux/$arch/vmlinux.h matches its vmlinux.h.sha256"
else
	bad "bpf/vmlinux/$arch/vmlinux.h does not match vmlinux.h.sha256 (regenerate with gen-vmlinux.sh)"
fi
if ! cmp -s "$src/bpf/vmlinux/$arch/vmlinux.h" "$build/bpf/vmlinux.h"; then
	echo "SKIP: $build was not configured with the in-tree vmlinux.h (-Dvmlinux_h=host or a path)"
	exit 77
fi

# the clang command ninja runs for the object, writing to $OUT instead
cmd=$(ninja -C "$build" -t commands bpf/rawtpd.bpf.o | grep -- '-target bpf' | tail -n1)
[ -n "$cmd" ] || { bad "no clang command for bpf/rawtpd.bpf.o in $build"; exit 1; }
cmd=${cmd/ -o bpf\/rawtpd.bpf.o/ -o \"\$OUT\"}
work=$(mktemp -d /tmp/rawtpd-repro.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'cd %q\n%s\n' "$build" "$cmd" >"$work/compile.sh"

OUT=$work/host.o bash "$work/compile.sh"
want=$(sha256sum <"$build/bpf/rawtpd.bpf.o" | cut -d' ' -f1)
host=$(sha256sum <"$work/host.o" | cut -d' ' -f1)
[ "$host" = "$want" ] && ok "rebuilt on $(uname -r): $host" || bad "rebuilt on $(uname -r): $host, the build's: $want"

kdir=$(RAWTPD_VM_SUITES=bookworm "$here/fetch-kernels.sh" "${RAWTPD_VM_CACHE:-$build/vm-cache}" |
	awk '$1 == "bookworm" { print $2 }')
[ -n "$kdir" ] || { bad "no bookworm kernel"; exit 1; }
cat >"$work/guest.sh" <<GUEST
#!/bin/sh
uname -r >"\$RAWTPD_VM_RESULT/release"
OUT=\$RAWTPD_VM_RESULT/guest.o sh "$work/compile.sh"
GUEST
chmod +x "$work/guest.sh"
mkdir -p "$build/vm-results/reproducible"
if RAWTPD_VM_RESULT_DIR=$build/vm-results/reproducible "$here/run-vm.sh" "$kdir" "$work/guest.sh" 600 \
	>/dev/null; then
	rel=$(cat "$build/vm-results/reproducible/release" 2>/dev/null || echo '?')
	guest=$(sha256sum <"$build/vm-results/reproducible/guest.o" | cut -d' ' -f1)
	[ "$guest" = "$want" ] && ok "rebuilt in a guest on $rel: $guest" ||
		bad "rebuilt in a guest on $rel: $guest, the build's: $want"
else
	bad "the guest build failed (see $build/vm-results/reproducible)"
fi
exit "$failed"
