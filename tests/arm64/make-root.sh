#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make-root.sh [DIR] - make the Debian 12 (bookworm) arm64 root that the arm64 guests boot
# (tests/arm64/run.sh: the kernel matrix's checks and rawtpd-systemd.sh's --root).
#
# debootstrap --foreign --arch arm64 (first stage on the host, from the host's own Debian mirror,
# tests/vm/debian-mirror.sh), then the second stage in a chroot under qemu-user-static through
# binfmt_misc (registered here from /usr/lib/binfmt.d/qemu-aarch64.conf when it is not: a
# container's /proc/sys/fs/binfmt_misc may not even be mounted). apt-get in the root then
# installs what the guest checks run (bash, python3, bpftool, stress-ng, iproute2, procps, kmod,
# busybox-static for the initramfs), rawtpd's run-time libraries (the cross-built binary runs
# from the build dir) and systemd, curl and dpkg for the .deb under systemd.
#
# DIR defaults to $RAWTPD_ARM64_DIR, else $RAWTPD_TEST_OUT/arm64-root, else
# <repository>/build-tests/arm64-root. DIR/root is the root (DIR/root.new until debootstrap is
# done), DIR/debs debootstrap's cache, DIR/root/etc/rawtpd-root the package list installed: the
# same list next time is nothing to do. Prints the root's path on stdout, progress on stderr.
# Exit status 1, with the step that failed, when the root cannot be made.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/debian-mirror.sh
. "$repo/tests/vm/debian-mirror.sh"

log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

suite=bookworm
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
packages=(
	python3 bpftool stress-ng iproute2 procps kmod busybox-static util-linux
	libbpf1 libmicrohttpd12 libjansson4 libinih1 libdeflate0 libsystemd0 libcrypt1 zlib1g
	systemd dbus curl
)

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, binfmt_misc)"
d=${1:-${RAWTPD_ARM64_DIR:-${RAWTPD_TEST_OUT:-$repo/build-tests}/arm64-root}}
dir=$(mkdir -p "$d" && cd "$d" && pwd -P)
root=$dir/root
mkdir -p "$dir/debs"
exec 9>"$dir/.lock"
flock -w 1800 9 || die "$dir is locked by another make-root.sh for 30 minutes"

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }

ensure_tools() {
	[ -x /usr/sbin/debootstrap ] && [ -x /usr/bin/qemu-aarch64-static ] && return 0
	log "installing debootstrap and qemu-user-static on the host"
	apt_get install -y -q --no-install-recommends debootstrap qemu-user-static >&2 ||
		die "cannot install debootstrap qemu-user-static with apt-get"
}

# arm64 programs run through qemu-aarch64-static; F (fix binary): the interpreter is opened
# here, so it need not exist inside the chroot.
ensure_binfmt() {
	local bm=/proc/sys/fs/binfmt_misc
	[ -e "$bm/register" ] || mount -t binfmt_misc binfmt_misc "$bm" ||
		die "cannot mount binfmt_misc on $bm"
	if [ ! -e "$bm/qemu-aarch64" ]; then
		[ -r /usr/lib/binfmt.d/qemu-aarch64.conf ] ||
			die "/usr/lib/binfmt.d/qemu-aarch64.conf missing (qemu-user-static)"
		cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$bm/register" ||
			die "cannot register qemu-aarch64 with binfmt_misc"
	fi
	grep -qx enabled "$bm/qemu-aarch64" || die "binfmt_misc's qemu-aarch64 is disabled"
	grep -q '^flags: .*F' "$bm/qemu-aarch64" ||
		die "binfmt_misc's qemu-aarch64 lacks the F flag: a chroot cannot find its interpreter"
}

# chroot ROOT CMD..., with /proc and /dev for apt and maintainer scripts, in a private mount
# namespace: nothing stays mounted below the root when this returns or is killed.
in_root() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	unshare --mount --propagation private -- /bin/bash -c '
		set -e
		root=$1; shift
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		mount -t tmpfs -o mode=0755 tmpfs "$root/run"
		cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
		exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
			LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' in_root "$root_in" "$@"
}

bootstrap() {
	local mirror new=$dir/root.new t0=$SECONDS
	mirror=$(debian_mirror)
	rm -rf "$new"
	log "debootstrap --foreign --arch arm64 --variant=minbase $suite from $mirror"
	debootstrap --foreign --arch=arm64 --variant=minbase --merged-usr --components=main \
		--keyring="$keyring" --cache-dir="$dir/debs" "$suite" "$new" "$mirror" >&2 ||
		die "debootstrap's first stage failed (its log: $new/debootstrap/debootstrap.log)"
	log "first stage done in $((SECONDS - t0)) s; second stage under qemu-aarch64-static"
	t0=$SECONDS
	root_in=$new
	in_root /debootstrap/debootstrap --second-stage >&2 ||
		die "debootstrap's second stage failed (its log: $new/debootstrap/debootstrap.log)"
	log "second stage done in $((SECONDS - t0)) s"
	printf 'deb %s %s main\n' "$mirror" "$suite" >"$new/etc/apt/sources.list"
	# nothing starts in the chroot; the guests start what they test themselves
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod 0755 "$new/usr/sbin/policy-rc.d"
	apt-config dump | grep -E '^Acquire::Check-(Valid-Until|Date) ' \
		>"$new/etc/apt/apt.conf.d/50rawtpd-host-mirror" || true
	mv "$new" "$root"
}

install_packages() {
	local want have t0=$SECONDS
	want=$(printf '%s\n' "${packages[@]}" | sort -u)
	have=$(cat "$root/etc/rawtpd-root" 2>/dev/null || true)
	if [ "$want" = "$have" ]; then
		log "$root is up to date"
		return 0
	fi
	rm -f "$root/etc/rawtpd-root"
	root_in=$root
	in_root apt-get -q -o Acquire::Retries=2 update >&2 || die "apt-get update in $root failed"
	in_root apt-get -q -o Acquire::Retries=2 install -y --no-install-recommends "${packages[@]}" >&2 ||
		die "apt-get install in $root failed"
	in_root apt-get clean >&2 || true
	log "apt-get install done in $((SECONDS - t0)) s"
	printf '%s\n' "$want" >"$root/etc/rawtpd-root"
}

ensure_tools
ensure_binfmt
[ -x "$root/usr/bin/apt-get" ] || { rm -rf "$root"; bootstrap; }
install_packages
[ "$(chroot "$root" /usr/bin/uname -m)" = aarch64 ] || die "$root does not run as aarch64"
printf '%s\n' "$root"
