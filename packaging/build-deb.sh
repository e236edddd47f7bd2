#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-deb.sh [-a ARCH] [--ref REF] [OUTDIR] - build the rawtpd .deb from this work tree, or
# from the commit REF (`git archive`; use it when the work tree holds others' half-done edits). A
# tree that is not a git work tree is copied whole, build directories left out. -a ARCH
# cross-builds for the Debian architecture ARCH (arm64) with Debian's multiarch packages
# (`dpkg-buildpackage -a ARCH`, meson given packaging/cross/<GNU triplet>.ini); the unit tests
# are then left out (DEB_BUILD_OPTIONS=nocheck): under qemu-user there is no bpf() and no
# /proc of the program's own, so they run in an arm64 guest instead (tests/arm64/).
#
# dpkg-buildpackage wants debian/ at the top of the source tree, and the repository keeps it in
# packaging/debian/, so this copies the tree (the files git knows of, tracked or not ignored)
# into a temporary directory, puts packaging/debian there as debian/, and runs
#	dpkg-buildpackage -us -uc -b
# in it. By hand that is:
#	git ls-files -co --exclude-standard | tar -cT - | tar -xC /tmp/rawtpd-src
#	cp -r packaging/debian /tmp/rawtpd-src/debian
#	cd /tmp/rawtpd-src && dpkg-buildpackage -us -uc -b
# The .deb, .buildinfo and .changes land in OUTDIR (default: the current directory); the path of
# the .deb is printed on stdout. Runs lintian on the result when it is installed
# (RAWTPD_LINTIAN=0 skips that). Build dependencies: see packaging/debian/control, or run
# `apt-get build-dep ./packaging/...` after copying; `mk-build-deps` also works.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

ref=
arch=
while [ $# -gt 0 ]; do
	case $1 in
	--ref) [ $# -ge 2 ] || die "--ref needs a commit"; ref=$2; shift 2 ;;
	-a) [ $# -ge 2 ] || die "-a needs a Debian architecture"; arch=$2; shift 2 ;;
	*) break ;;
	esac
done
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)

command -v dpkg-buildpackage >/dev/null || die "dpkg-buildpackage missing (apt-get install dpkg-dev debhelper)"
declare -a cross=()
if [ -n "$arch" ] && [ "$arch" != "$(dpkg --print-architecture)" ]; then
	triplet=$(dpkg-architecture -a "$arch" -q DEB_HOST_GNU_TYPE 2>/dev/null) ||
		die "dpkg-architecture knows no architecture $arch"
	[ -f "$here/cross/$triplet.ini" ] || die "no meson cross file packaging/cross/$triplet.ini"
	cross=(-a "$arch")
fi
dpkg-checkbuilddeps "${cross[@]}" "$here/debian/control" ||
	die "missing build dependencies (see above; apt-get install them${arch:+, the libraries as :$arch})"

work=$(mktemp -d "${TMPDIR:-/tmp}/rawtpd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/rawtpd
mkdir -p "$src"
if [ -n "$ref" ]; then
	git -C "$repo" archive --format=tar "$ref" | tar -xf - -C "$src"
elif git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -cT - -f -) |
		tar -xf - -C "$src"
else
	# An unpacked tree without git (tests/trixie/run.sh copies the work tree into a chroot that
	# has no git): all of it but build directories, as .gitignore says.
	(cd "$repo" && tar --exclude='./build*' --exclude='__pycache__' --exclude='*.pyc' -cf - .) |
		tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -r "$here/debian" "$src/debian"

if [ ${#cross[@]} -gt 0 ]; then
	(cd "$src" && CC=$triplet-gcc DH_MESON_CROSS_FILE=$src/packaging/cross/$triplet.ini \
		DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b "${cross[@]}") >&2
else
	(cd "$src" && dpkg-buildpackage -us -uc -b) >&2
fi
shopt -s nullglob
debs=("$work"/rawtpd_*.deb)
[ ${#debs[@]} -gt 0 ] || die "dpkg-buildpackage made no .deb"
cp "$work"/rawtpd*.deb "$work"/rawtpd_*.buildinfo "$work"/rawtpd_*.changes "$out/"
deb=$out/${debs[0]##*/}
if [ "${RAWTPD_LINTIAN:-1}" != 0 ] && command -v lintian >/dev/null; then
	echo "$prog: lintian $deb" >&2
	lintian --info --display-info --pedantic "$out/${debs[0]##*/}" "$out"/rawtpd-dbgsym_*.deb >&2 ||
		echo "$prog: lintian reported errors" >&2
fi
printf '%s\n' "$deb"
