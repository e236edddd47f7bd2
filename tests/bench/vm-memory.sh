#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vm-memory.sh BUILD_DIR [N]: the BPF map memory of both data paths at N processes (default
# 1000) with 32 possible CPUs, beside this host's own figures.
#
# Per-CPU map memory is sized by the possible CPUs, not the online ones, so a guest booted with
# -smp 2,maxcpus=32 shows what a 32-CPU host pays. Boots Debian 13's 6.12 kernel (the thread
# data path needs 6.5+; fetch-kernels.sh gets it) under qemu (tests/vm/run-vm.sh) and runs
# tests/bench/scale.py N in the guest, which starts N sleepers, rawtpd on each data path, and
# reads the daemon's map memory (memlock) and the kernel memory charged to its memory cgroup;
# then runs the same on this host. Prints both; figures only, never a pass or fail on them.
# Root, about 4 minutes under software emulation.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [N]" >&2; exit 2; }
build=$(cd "$1" && pwd)
n=${2:-1000}
cache=${RAWTPD_VM_CACHE:-$build/vm-cache}

kdir=$(RAWTPD_VM_SUITES=trixie "$src/tests/vm/fetch-kernels.sh" "$cache" | awk '$1 == "trixie" { print $2 }')
[ -n "$kdir" ] || { echo "$0: no trixie kernel" >&2; exit 1; }

guest=$(mktemp /tmp/rawtpd-vm-memory.XXXXXX.sh)
trap 'rm -f "$guest"' EXIT
cat >"$guest" <<GUEST
#!/bin/sh
# in the guest: a cgroup2 hierarchy with the memory controller, then scale.py
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
echo "possible CPUs: \$(cat /sys/devices/system/cpu/possible), online: \$(cat /sys/devices/system/cpu/online)"
exec /usr/bin/python3 "$src/tests/bench/scale.py" "$build" $n
GUEST
chmod +x "$guest"

echo "== guest: Linux $(basename "$kdir"), -smp 2,maxcpus=32, $n processes"
RAWTPD_VM_CPUS=2,maxcpus=32 RAWTPD_VM_MEM=${RAWTPD_VM_MEM:-2048} \
	"$src/tests/vm/run-vm.sh" "$kdir" "$guest" "${RAWTPD_VM_TIMEOUT:-900}" |
	grep -v '^\s*[][{}"]'
echo "== host: Linux $(uname -r), possible CPUs $(cat /sys/devices/system/cpu/possible), $n processes"
/usr/bin/python3 "$src/tests/bench/scale.py" "$build" "$n" | grep -v '^\s*[][{}"]'
