#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vm-memory.sh BUILD_DIR [N...]: the BPF map memory of both data paths at N processes (default
# 1000 and 4000: the difference is what a process costs, without the allocator's per-CPU
# caches) with 32 possible CPUs, beside this host's own figures.
#
# Per-CPU map memory is sized by the possible CPUs, not the online ones; but qemu's hotpluggable
# CPUs (-smp 2,maxcpus=32) do not become possible ones under 6.12's x86 topology code, so the
# guest gets 32 vCPUs (RAWTPD_VM_CPUS), run in turn by one host thread. Boots Debian 13's 6.12 kernel (the thread
# data path needs 6.5+; fetch-kernels.sh gets it) under qemu (tests/vm/run-vm.sh) and runs
# tests/bench/scale.py N in the guest, which starts N sleepers, rawtpd on each data path, and
# reads the daemon's map memory (memlock) and the kernel memory charged to its memory cgroup;
# then runs the same on this host. Prints both; figures only, never a pass or fail on them.
# Root, about 4 minutes under software emulation.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [N...]" >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
n=${*:-1000 4000}
cache=${RAWTPD_VM_CACHE:-$build/vm-cache}

kdir=$(RAWTPD_VM_SUITES=trixie "$src/tests/vm/fetch-kernels.sh" "$cache" | awk '$1 == "trixie" { print $2 }')
[ -n "$kdir" ] || { echo "$0: no trixie kernel" >&2; exit 1; }

guest=$(mktemp /tmp/rawtpd-vm-memory.XXXXXX.sh)
trap 'rm -f "$guest"' EXIT
cat >"$guest" <<GUEST
#!/bin/sh
# in the guest: loopback up, a cgroup2 hierarchy with the memory controller, then scale.py
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null || true
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
echo "possible CPUs: \$(cat /sys/devices/system/cpu/possible), online: \$(cat /sys/devices/system/cpu/online)"
exec /usr/bin/python3 "$src/tests/bench/scale.py" "$build" $n
GUEST
chmod +x "$guest"

echo "== guest: Linux $(basename "$kdir"), -smp ${RAWTPD_VM_CPUS:-32}, $n processes"
# qemu's hotpluggable CPUs (maxcpus=) are not possible ones for 6.12's x86 topology code:
# 32 vCPUs online then; one host thread runs them in turn (thread=single), the idle ones halt
RAWTPD_VM_CPUS=${RAWTPD_VM_CPUS:-32} RAWTPD_VM_MEM=${RAWTPD_VM_MEM:-2048} \
	"$src/tests/vm/run-vm.sh" "$kdir" "$guest" "${RAWTPD_VM_TIMEOUT:-900}" |
	grep -v '^\s*[][{}"]'
echo "== host: Linux $(uname -r), possible CPUs $(cat /sys/devices/system/cpu/possible), $n processes"
/usr/bin/python3 "$src/tests/bench/scale.py" "$build" $n | grep -v '^\s*[][{}"]'
