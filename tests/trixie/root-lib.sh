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

# The URI of the host's main Debian archive (not -security), from deb822 or one-line sources;
# RAWTPD_VM_MIRROR overrides it, as for tests/vm/fetch-kernels.sh.
debian_mirror() {
	local f uri=${RAWTPD_VM_MIRROR:-}
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -z "$uri" ] || break
		[ -r "$f" ] || continue
		uri=$(awk '
			BEGIN { RS = ""; FS = "\n" }
			{
				u = ""; s = ""
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u); sub(/[ \t].*/, "", u) }
					if ($i ~ /^Suites:/) s = $i
				}
				if (u != "" && s ~ /(bookworm|bullseye|trixie|stable)([ \t]|$)/ && u !~ /security/) { print u; exit }
			}' "$f")
	done
	if [ -z "$uri" ]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" && $0 !~ /security/ {
				for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit }
			}')
	fi
	printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

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
