#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# check-rpm.sh [--parse-only] [REF] - check packaging/rpm/rawtpd.spec.
#
# 1. `rpmspec -P` must parse it.
# 2. Unless --parse-only: make the sources from the commit REF (default HEAD) with git archive,
#    run `rpmbuild -bb` in a temporary _topdir and list the package's files and scriptlets.
#    On a host whose rpm lacks Fedora's meson/systemd/sysusers macros (Debian: apt-get install
#    rpm), macros.debian-host stands in for them and --nodeps skips the BuildRequires, which
#    name Fedora packages.
# The .rpm is copied to $RAWTPD_RPM_OUT when that is set.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
spec=$here/rawtpd.spec

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

parse_only=
if [ "${1:-}" = --parse-only ]; then
	parse_only=1
	shift
fi
ref=${1:-HEAD}

command -v rpmspec >/dev/null || die "rpmspec missing (apt-get install rpm)"
load=()
nodeps=()
if [ -z "$(rpm --eval '%{?meson}')" ]; then
	load=(--load "$here/macros.debian-host")
	nodeps=(--nodeps)
fi

rpmspec "${load[@]}" -P "$spec" >/dev/null || die "rpmspec -P $spec failed"
echo "$prog: rpmspec -P: ok"
[ -z "$parse_only" ] || exit 0

command -v rpmbuild >/dev/null || die "rpmbuild missing (apt-get install rpm)"
version=$(rpmspec "${load[@]}" -q --qf '%{VERSION}\n' "$spec" | head -n1)
top=$(mktemp -d "${TMPDIR:-/tmp}/rawtpd-rpm.XXXXXX")
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SOURCES"
git -C "$repo" archive --format=tar.gz --prefix="rawtpd-$version/" \
	-o "$top/SOURCES/rawtpd-$version.tar.gz" "$ref"
git -C "$repo" show "$ref:systemd/rawtpd.sysusers" >"$top/SOURCES/rawtpd.sysusers"

rpmbuild "${load[@]}" "${nodeps[@]}" --define "_topdir $top" -bb "$spec" >"$top/build.log" 2>&1 ||
	{ tail -n 40 "$top/build.log" >&2; die "rpmbuild failed"; }
rpm_file=$(find "$top/RPMS" -name "rawtpd-$version-*.rpm" ! -name '*debug*' -print -quit)
[ -n "$rpm_file" ] || die "rpmbuild made no rawtpd rpm"
echo "$prog: rpmbuild: ${rpm_file##*/}"
rpm -qlp "$rpm_file" | sed 's/^/  /'
rpm -qp --scripts "$rpm_file" | sed 's/^/  /'
if [ -n "${RAWTPD_RPM_OUT:-}" ]; then
	mkdir -p "$RAWTPD_RPM_OUT"
	cp "$rpm_file" "$RAWTPD_RPM_OUT/"
fi
