#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside the VM, in the overlay root, as PID 1 (INIT=busybox) or from a systemd unit
# (INIT=systemd). Mounts what is missing, runs the test script with the environment run-vm.sh
# recorded, stores its stdout, stderr and exit status in /rawtpd-vm, and powers the VM off.
# Never exits on its own: as PID 1 that would panic the kernel before the results are safe.

set -u

vm=/rawtpd-vm

# Each exec costs ~0.1 s under emulation: test mount points without running anything.
declare -A mounted=()
[ -e /proc/self/mounts ] || mount -t proc proc /proc
while read -r _ dir _; do mounted[$dir]=1; done </proc/self/mounts
mnt() { # TYPE DIR [OPTIONS]
	[ -z "${mounted[$2]:-}" ] || return 0
	[ -d "$2" ] || mkdir -p "$2"
	mount -t "$1" ${3:+-o "$3"} "$1" "$2" || echo "rawtpd-vm: warning: cannot mount $1 on $2" >&2
	mounted[$2]=1
}

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 60
}

mnt sysfs /sys
mnt devtmpfs /dev
mnt devpts /dev/pts gid=5,mode=620,ptmxmode=000
mnt tmpfs /dev/shm mode=1777
# devtmpfs lacks what udev would add; bash's <(...) needs /dev/fd.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
if [ ! -d /run/systemd/system ]; then
	# INIT=busybox: the host's /run is no business of the guest's.
	mnt tmpfs /run mode=0755
	hostname rawtpd-vm 2>/dev/null
fi
mnt tracefs /sys/kernel/tracing
mnt debugfs /sys/kernel/debug
mnt bpf /sys/fs/bpf mode=0700
mnt cgroup2 /sys/fs/cgroup
echo 1 >/proc/sys/kernel/sysrq 2>/dev/null

# The heartbeat that run-vm.sh's hang watch reads: the guest's uptime, every 5 s.
(
	while :; do
		read -r up _ </proc/uptime
		printf '%s\n' "$up" >"$vm/heartbeat"
		sleep 5
	done
) &

# The kernel's text symbols, for the hang watch to name where a stuck vCPU is (Debian's
# System.map is a stub; nokaslr keeps these addresses).
nice -n 19 grep ' [tT] ' /proc/kallsyms >"$vm/kallsyms" 2>/dev/null &

boot=$(cut -d' ' -f1 /proc/uptime)
printf '%s\n' "$boot" >"$vm/boot-seconds"
echo "rawtpd-vm: up $boot s, running the script" >/dev/console

# shellcheck source=/dev/null
. "$vm/vm/env"
cd "$RAWTPD_VM_CWD" 2>/dev/null || cd /
"$vm/vm/script" "${RAWTPD_VM_ARGS[@]}" >"$vm/stdout" 2>"$vm/stderr" </dev/null
rc=$?

printf '%s\n' "$(cut -d' ' -f1 /proc/uptime)" >"$vm/end-seconds"
printf '%s\n' "$rc" >"$vm/rc.tmp" && mv "$vm/rc.tmp" "$vm/rc"
echo "rawtpd-vm: script exited with $rc" >/dev/console
poweroff_now
