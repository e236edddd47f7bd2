# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# Sourced by make-root.sh and in-root.sh: where the Debian 13 (trixie) root lives, the host's
# Debian mirror, and the mounts that make a chroot into it work like the host (BPF included).

# The trixie directory: $RAWTPD_TRIXIE_DIR, else <test output>/trixie, where the test output is
# $RAWTPD_TEST_OUT (tests/run-all.sh's), else <repository>/build-tests.
trixie_dir() {
	local repo=$1
	printf '%s\n' "${RAWTPD_TRIXIE_DIR:-${RAWTPD_TEST_OUT:-$repo/build-tests}/trixie}"
}

# shellcheck source=tests/vm/debian-mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/../vm/debian-mirror.sh"

# root_mount ROOT: what a chroot needs to build, run BPF and run the tests as on the host:
# /proc (its own), /sys recursively (so /sys/fs/bpf, /sys/kernel/tracing, /sys/kernel/btf and
# the cgroup tree come with it), /dev recursively (pts, shm), a tmpfs /run, and the host's
# resolv.conf for apt. Call it in a private mount namespace (in-root.sh does: `unshare -m`), so
# nothing outlives the process even when it is killed; root_umount undoes it all the same.
root_mount() {
	local root=$1
	# The root a mount point of its own: `unshare -m` in the chroot (the integration tests hide
	# tracefs and BTF that way) makes / private, which fails on a plain directory.
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --make-rslave "$root/sys"
	mount --rbind /dev "$root/dev"
	mount --make-rslave "$root/dev"
	mount -t tmpfs -o mode=0755 tmpfs "$root/run"
	# Classic tracepoints need tracefs; a host without it mounted gets one in this namespace.
	if [ -d "$root/sys/kernel/tracing" ] && [ ! -e "$root/sys/kernel/tracing/events" ]; then
		mount -t tracefs tracefs "$root/sys/kernel/tracing" 2>/dev/null || true
	fi
	# A build dir that lives below the root keeps its mount table short: no /tmp bind.
	cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}

root_umount() {
	local root=$1 d
	for d in run dev sys proc ""; do
		if mountpoint -q "$root/$d"; then
			umount -R "$root/$d" 2>/dev/null || umount -R -l "$root/$d" 2>/dev/null || true
		fi
	done
}
