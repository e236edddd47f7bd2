#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# rawtpd-systemd.sh [--root DIR] [--kernel SUITE] [--machinery | --deb FILE] [BUILD_DIR]
#
# The systemd test: boots Debian's 6.1 kernel in qemu (software emulation) with the host's root
# read-only under a tmpfs overlay and systemd 252 as PID 1 (run-vm.sh, RAWTPD_VM_INIT=systemd),
# installs rawtpd and runs rawtpd-systemd-guest.sh there: rawtpd.service reaches active (running)
# as Type=notify, runs as user rawtpd with CAP_BPF and CAP_PERFMON only, serves /metrics,
# applies a good reload and survives a bad one (logged with file:line), is restarted after
# SIGKILL and after a watchdog timeout (SIGSTOP), logs structured journal fields, works in each
# attach mode with the drop-ins rawtpd(8) documents, and answers through rawtpd.socket.
#
#   (default)       install BUILD_DIR's `meson install` tree (DESTDIR) over the guest's root
#   --deb FILE      install the .deb with dpkg in the guest, and at the end remove and purge it
#   --machinery     no rawtpd: a stand-in Type=notify service proves the VM, notify, restart
#                   and watchdog machinery (useful when the daemon does not build)
#   --root DIR      the guest's root is DIR instead of the host's (RAWTPD_VM_ROOT): the Debian 13
#                   root of tests/trixie/make-root.sh, systemd 257; its kernel defaults to trixie
#                   (6.12). With --deb the .deb is copied into the guest's overlay.
#   --kernel SUITE  boot fetch-kernels.sh's kernel of SUITE (bookworm, bullseye, trixie)
#   --root with an arm64 root (tests/arm64/make-root.sh, bookworm) boots Debian's arm64 kernel
#                   of SUITE (default bookworm) in qemu-system-aarch64 (RAWTPD_VM_ARCH=arm64 for
#                   fetch-kernels.sh); --deb must then be an arm64 .deb (build-deb.sh -a arm64)
#
# BUILD_DIR defaults to $MESON_BUILD_ROOT, else <repository>/build. The kernel is
# $RAWTPD_VM_KERNEL_DIR, else --kernel's from fetch-kernels.sh (cached; bookworm, or trixie with
# --root). The whole VM is bounded by
# RAWTPD_SD_TIMEOUT seconds (default 900); RAWTPD_VM_RESULT_DIR keeps the run's files.
# RAWTPD_SD_CHECKS picks groups of checks (see rawtpd-systemd-guest.sh).
# Exit status: the guest checks' (0 all passed, 1 some failed), 123 hung twice, 124 timeout,
# 125 VM failure, 77 (skip) when qemu or the kernel cannot be had, 2 bad usage.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit "${2:-2}"; }
log() { printf '%s: %s\n' "$prog" "$*" >&2; }

mode=tree
deb=
build=
vmroot=
suite=
while [ $# -gt 0 ]; do
	case $1 in
	--machinery) mode=machinery ;;
	--root | --kernel)
		[ $# -ge 2 ] || die "$1 needs an argument"
		if [ "$1" = --root ]; then vmroot=$(realpath "$2"); else suite=$2; fi
		shift
		;;
	--deb)
		[ $# -ge 2 ] || die "--deb needs a file"
		mode=deb
		deb=$(realpath "$2")
		shift
		;;
	-h | --help) sed -n '4,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) build=$1 ;;
	esac
	shift
done

# the guest's architecture is its root's (bash's ELF header); an arm64 root's own suite is bookworm
arch=amd64
qemu=qemu-system-x86_64 qemu_pkg=qemu-system-x86
if [ -n "$vmroot" ] && file -L "$vmroot/usr/bin/bash" | grep -q 'ARM aarch64'; then
	arch=arm64 qemu=qemu-system-aarch64 qemu_pkg=qemu-system-arm
	suite=${suite:-bookworm}
	if [ "$mode" = deb ] && [ "$(dpkg-deb -f "$deb" Architecture)" != arm64 ]; then
		die "$deb is not an arm64 package, for the arm64 root $vmroot"
	fi
fi
export RAWTPD_VM_ARCH=$arch
command -v "$qemu" >/dev/null || die "$qemu missing (apt-get install $qemu_pkg)" 77

if [ -n "$vmroot" ]; then
	[ -x "$vmroot/usr/lib/systemd/systemd" ] || die "$vmroot has no systemd: not a root for this test"
	[ "$mode" != tree ] || die "--root wants --deb or --machinery: the install tree is built for the host"
	suite=${suite:-trixie}
fi
suite=${suite:-bookworm}
kdir=${RAWTPD_VM_KERNEL_DIR:-}
if [ -z "$kdir" ]; then
	kdir=$(RAWTPD_VM_SUITES=$suite bash "$here/fetch-kernels.sh" | awk -v s="$suite" '$1 == s { print $2 }') ||
		die "fetch-kernels.sh failed: no kernel to boot" 77
	[ -n "$kdir" ] || die "fetch-kernels.sh gave no $suite kernel" 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rawtpd-systemd.XXXXXX")
trap 'rm -rf "$work"' EXIT
overlay=$work/overlay
mkdir -p "$overlay"

conf=/etc/rawtpd/rawtpd.conf
port=10291
case $mode in
tree)
	build=${build:-${MESON_BUILD_ROOT:-$repo/build}}
	[ -f "$build/build.ninja" ] || die "$build is not a meson build directory"
	log "meson install $build -> overlay"
	meson install -C "$build" --destdir "$overlay" --quiet >"$work/install.log" 2>&1 ||
		{ cat "$work/install.log" >&2; die "meson install failed" 1; }
	# On a merged-/usr host /lib, /bin, /sbin are symbolic links: copying a real directory of
	# that name over them in the guest would fail, so move such files under usr/.
	for d in lib lib64 bin sbin; do
		if [ -L "/$d" ] && [ -d "$overlay/$d" ]; then
			mkdir -p "$overlay/usr/$d"
			cp -a "$overlay/$d/." "$overlay/usr/$d/"
			rm -rf "${overlay:?}/$d"
		fi
	done
	f=$(cd "$overlay" && find . -path '*/rawtpd/rawtpd.conf' -print -quit)
	[ -n "$f" ] || die "the install tree has no rawtpd/rawtpd.conf" 1
	conf=${f#.}
	f=$(find "$overlay" -name rawtpd.socket -print -quit)
	[ -n "$f" ] && port=$(sed -n 's/^ListenStream=\([0-9]*\)$/\1/p' "$f")
	[ -x "$(find "$overlay" -path '*/sbin/rawtpd' -print -quit)" ] ||
		die "the install tree has no sbin/rawtpd" 1
	;;
deb)
	[ -f "$deb" ] || die "$deb does not exist"
	if [ -n "$vmroot" ]; then
		# the guest sees DIR, not the host's root: the package goes in with the overlay
		mkdir -p "$overlay/var/cache/rawtpd-test"
		cp "$deb" "$overlay/var/cache/rawtpd-test/"
		deb_guest=/var/cache/rawtpd-test/${deb##*/}
	fi
	f=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - --wildcards '*/rawtpd.socket' 2>/dev/null |
		sed -n 's/^ListenStream=\([0-9]*\)$/\1/p')
	[ -z "$f" ] || port=$f
	;;
esac

export RAWTPD_SD_MODE=$mode RAWTPD_SD_DEB=${deb_guest:-$deb} RAWTPD_SD_CONF=$conf RAWTPD_SD_PORT=$port
export RAWTPD_VM_INIT=systemd RAWTPD_VM_OVERLAY=$overlay RAWTPD_VM_ROOT=${vmroot:-/}
export RAWTPD_VM_PASSENV="RAWTPD_SD_MODE RAWTPD_SD_DEB RAWTPD_SD_CONF RAWTPD_SD_PORT RAWTPD_SD_CHECKS"
log "mode $mode, $arch, kernel $(cat "$kdir/release" 2>/dev/null || echo "$kdir"), root ${vmroot:-/}, config $conf, port $port"
start=$SECONDS
# A guest that hangs (run-vm.sh's hang watch, exit 123) or times out (124) is booted once more;
# only a second hang fails.
for attempt in 1 2; do
	rc=0
	bash "$here/run-vm.sh" "$kdir" "$here/rawtpd-systemd-guest.sh" "${RAWTPD_SD_TIMEOUT:-900}" || rc=$?
	{ [ "$rc" -eq 123 ] || [ "$rc" -eq 124 ]; } && [ "$attempt" -eq 1 ] || break
	log "the guest $([ "$rc" -eq 123 ] && echo hung || echo "timed out") on the first boot" \
		"after $((SECONDS - start)) s; booting again"
done
log "finished in $((SECONDS - start)) s with exit status $rc$([ "$attempt" -eq 2 ] &&
	echo ", on a second boot")"
exit "$rc"
