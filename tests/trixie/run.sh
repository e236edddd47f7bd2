#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh STEP... - build, test and package rawtpd in the Debian 13 (trixie) root that
# make-root.sh made, each step through in-root.sh (a chroot with /proc, /sys, /dev and /run
# mounted in a private mount namespace, where BPF works as on the host):
#
#   build        copy this work tree (the files git knows of) to ROOT/src/rawtpd, then
#                meson setup -Dwerror=true -Dvm_tests=false and ninja in ROOT/src/build
#   unit         meson test --suite unit (and the fuzz corpus replay)
#   integration  meson test --suite integration --num-processes 1, under
#                flock /tmp/rawtpd-integration.lock: they attach BPF to sched_switch and
#                measure the machine, so they never run beside another run of them
#   deb          copy the work tree again, and packaging/build-deb.sh in the root (trixie's debhelper and lintian); the .deb,
#                .buildinfo and .changes land in ROOT/src/deb and the .deb's path is printed
#
# ROOT is $RAWTPD_TRIXIE_ROOT, else <make-root.sh's DIR>/root. RAWTPD_TRIXIE_MESON_ARGS adds
# meson setup arguments. Exit status: the first failing step's, 0 when all passed.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/trixie/root-lib.sh
. "$here/root-lib.sh"

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

[ $# -gt 0 ] || { sed -n '4,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
root=${RAWTPD_TRIXIE_ROOT:-$(trixie_dir "$repo")/root}
[ -f "$root/etc/rawtpd-root" ] || die "$root is not a complete trixie root: run tests/trixie/make-root.sh"

in_root() { bash "$here/in-root.sh" "$root" "$@"; }

copy_source() {
	rm -rf "$root/src/rawtpd"
	mkdir -p "$root/src/rawtpd"
	(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -cT - -f -) |
		tar -xf - -C "$root/src/rawtpd"
}

step_build() {
	copy_source || return 1
	rm -rf "$root/src/build"
	# shellcheck disable=SC2086 # a list of arguments
	in_root sh -ec 'cd /src/rawtpd && meson setup /src/build -Dwerror=true -Dvm_tests=false "$@" \
		>/src/build.setup.log 2>&1 || { cat /src/build.setup.log; exit 1; }
		grep -E "^(Project version|C compiler for the host machine|Run-time dependency)" \
			/src/build.setup.log
		clang --version | head -n1
		ninja -C /src/build' sh ${RAWTPD_TRIXIE_MESON_ARGS:-}
}

step_unit() {
	in_root meson test -C /src/build --print-errorlogs --suite unit --suite fuzz
}

# (The steps run in `||` context, where set -e is off: each returns its command's status.)
step_integration() {
	local rc=0
	echo "$prog: waiting for /tmp/rawtpd-integration.lock" >&2
	flock /tmp/rawtpd-integration.lock bash "$here/in-root.sh" "$root" \
		meson test -C /src/build --print-errorlogs --num-processes 1 --suite integration || rc=$?
	return "$rc"
}

step_deb() {
	copy_source || return 1
	rm -rf "$root/src/deb"
	local deb
	deb=$(in_root env TMPDIR=/var/tmp bash /src/rawtpd/packaging/build-deb.sh /src/deb) || return 1
	printf '%s\n' "$root$deb"
}

for s in "$@"; do
	case $s in
	build | unit | integration | deb) "step_$s" || exit $? ;;
	*) die "unknown step $s (build, unit, integration, deb)" ;;
	esac
done
