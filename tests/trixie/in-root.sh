#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# in-root.sh ROOT COMMAND [ARG...] - run COMMAND as root in the chroot ROOT (the Debian 13 root
# that make-root.sh made), with /proc, /sys (bpffs, tracefs, BTF, cgroups), /dev and a tmpfs
# /run mounted as root-lib.sh's root_mount says, in a private mount namespace of its own:
# the mounts are gone when COMMAND ends, whatever way it ends, and they never show on the host.
# The environment is reset to a plain root login's (PATH, HOME, LANG=C.UTF-8), plus the
# variables named in RAWTPD_ROOT_PASSENV. Exit status: COMMAND's; 125 if ROOT is no root.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/trixie/root-lib.sh
. "$here/root-lib.sh"

[ $# -ge 2 ] || { echo "usage: $prog ROOT COMMAND [ARG...]" >&2; exit 2; }
root=$(cd "$1" 2>/dev/null && pwd -P) || { echo "$prog: $1: no such directory" >&2; exit 125; }
shift
[ -x "$root/usr/bin/env" ] || { echo "$prog: $root is not a Debian root (no usr/bin/env)" >&2; exit 125; }
[ "$(id -u)" -eq 0 ] || { echo "$prog: must run as root" >&2; exit 125; }

if [ -z "${RAWTPD_IN_ROOT_NS:-}" ]; then
	RAWTPD_IN_ROOT_NS=1 exec unshare --mount --propagation slave -- "$BASH" "$0" "$root" "$@"
fi
trap 'root_umount "$root"' EXIT
root_mount "$root"
envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
for v in ${RAWTPD_ROOT_PASSENV:-}; do
	[ -z "${!v+set}" ] || envs+=("$v=${!v}")
done
rc=0
chroot "$root" /usr/bin/env -i "${envs[@]}" "$@" || rc=$?
exit "$rc"
