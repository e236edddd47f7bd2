#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash
#
# /init of the initramfs that run-vm.sh builds (busybox only, nothing from the host yet).
# Loads the modules listed in /modules.list, mounts the host's / (9p tag "hostroot", read-only)
# under a tmpfs overlay, mounts the run's result directory (9p tag "rawtpd-vm", read-write) at
# /rawtpd-vm inside it, copies /rawtpd-vm/overlay/ over the new root, and switch_roots into
# the command in /rawtpd-vm/vm/init-cmd: the guest runner, or systemd.
# Settings come from /init.conf (written by run-vm.sh): RELEASE, KERNEL_DIR, MSIZE, MODULES_TAG,
# SHARES (host directories, 9p tags rawtpd-share0.., each mounted at its own path under a tmpfs
# overlay).

/bin/busybox mkdir -p /bin /proc /sys /dev /lower /rw /newroot
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

# shellcheck source=/dev/null
. /init.conf

fail() {
	echo "rawtpd-vm init: $*"
	echo "RAWTPD-VM-INIT-FAILED"
	echo o >/proc/sysrq-trigger
	sleep 30
	exit 1
}

echo "rawtpd-vm init: kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime) s"
while read -r m; do
	[ -n "$m" ] || continue
	insmod "/modules/$m" || fail "insmod $m failed"
done </modules.list

opts="trans=virtio,version=9p2000.L,msize=$MSIZE"
mount -t 9p -o "$opts,ro,cache=loose" hostroot /lower || fail "cannot mount the host's / over 9p"
mount -t tmpfs -o mode=0755 rawtpd-vm-rw /rw || fail "cannot mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "cannot mount the overlay (9p lower, tmpfs upper)"
echo "rawtpd-vm init: overlay mounted, up $(cut -d' ' -f1 /proc/uptime) s"
mkdir -p /newroot/rawtpd-vm
mount -t 9p -o "$opts,cache=none" rawtpd-vm /newroot/rawtpd-vm || fail "cannot mount the result dir"

# Docker's marker in the host root makes systemd think it runs in a container.
rm -f /newroot/.dockerenv
if [ -d /newroot/rawtpd-vm/overlay ]; then
	cp -a /newroot/rawtpd-vm/overlay/. /newroot/ || fail "cannot copy the overlay files"
fi
# This kernel's modules, so that modprobe works in the guest: in the host's root at the kernel
# dir's host path, or over their own 9p share when the guest's root is another (MODULES_TAG).
mkdir -p "/newroot/lib/modules/$RELEASE"
if [ -n "${MODULES_TAG:-}" ]; then
	mount -t 9p -o "$opts,ro,cache=loose" "$MODULES_TAG" "/newroot/lib/modules/$RELEASE" ||
		echo "rawtpd-vm init: warning: cannot mount the modules share, no modprobe"
else
	mount -o bind "/newroot$KERNEL_DIR/lib/modules/$RELEASE" "/newroot/lib/modules/$RELEASE" ||
		echo "rawtpd-vm init: warning: $KERNEL_DIR/lib/modules/$RELEASE not visible, no modprobe"
fi

i=0
for d in ${SHARES:-}; do
	mkdir -p "/shares/$i" "/rw/share$i/upper" "/rw/share$i/work" "/newroot$d"
	mount -t 9p -o "$opts,ro,cache=loose" "rawtpd-share$i" "/shares/$i" || fail "cannot mount the share of $d"
	mount -t overlay -o "lowerdir=/shares/$i,upperdir=/rw/share$i/upper,workdir=/rw/share$i/work" \
		overlay "/newroot$d" || fail "cannot mount the overlay on $d"
	i=$((i + 1))
done

read -r cmd </newroot/rawtpd-vm/vm/init-cmd || fail "no /rawtpd-vm/vm/init-cmd"
mount --move /dev /newroot/dev
mount --move /sys /newroot/sys
mount --move /proc /newroot/proc
echo "rawtpd-vm init: switch_root to $cmd"
# shellcheck disable=SC2086 # init-cmd is a command line
exec switch_root /newroot $cmd
