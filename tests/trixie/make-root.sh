#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make-root.sh [DIR] - make the Debian 13 (trixie) root that the trixie steps of tests/run-all.sh
# build, test and package rawtpd in, and that tests/vm/rawtpd-systemd.sh --root boots.
#
# debootstrap (installed on the host when missing) makes a minbase root of suite trixie from the
# host's own Debian mirror (the one in /etc/apt/sources.list.d/*.sources; RAWTPD_VM_MIRROR
# overrides it). Its Release is checked with the host's debian-archive-keyring first: bookworm's
# 2023.3+deb12u1 and later carry the trixie archive and release keys; an older one is named as
# the cause. apt-get in the root then installs what tests/run-all.sh installs on the host (the
# build, the unit and integration tests' tools, debhelper and lintian, systemd for the VM).
#
# DIR defaults to $RAWTPD_TRIXIE_DIR, else $RAWTPD_TEST_OUT/trixie, else
# <repository>/build-tests/trixie. Layout:
#   DIR/root                     the root (made as DIR/root.new, renamed when debootstrap is done)
#   DIR/debs                     debootstrap's package cache (--cache-dir)
#   DIR/root/etc/rawtpd-root     the package list installed; the same list next time: nothing to do
# Idempotent: a complete root with the same package list is left alone, a new list is installed
# over it, a half-made DIR/root.new is made again. RAWTPD_TRIXIE_REFRESH=1 runs apt-get update
# and upgrade in the root. Prints the root's path on stdout; progress goes to stderr.
# Exit status 1, with the step that failed, when the root cannot be made.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/trixie/root-lib.sh
. "$here/root-lib.sh"

log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

suite=trixie
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# tests/run-all.sh's install_deps, install_reliability_deps (less the sanitizer runtime and
# valgrind: the trixie steps are the plain build) and install_packaging_deps (less rpm), and what
# the systemd VM's guest checks use (systemd as PID 1, dpkg, curl, python3, procps).
packages=(
	build-essential clang llvm bpftool libbpf-dev libmicrohttpd-dev libsystemd-dev
	libjansson-dev libinih-dev libdeflate-dev zlib1g-dev libcrypt-dev meson ninja-build
	pkg-config python3 prometheus curl clang-format scdoc stress-ng procps util-linux wrk openssl
	debhelper dpkg-dev fakeroot lintian systemd systemd-dev kmod
)

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
dir=$(mkdir -p "${1:-$(trixie_dir "$repo")}" && cd "${1:-$(trixie_dir "$repo")}" && pwd -P)
root=$dir/root
mkdir -p "$dir/debs"
exec 9>"$dir/.lock"
flock -w 1800 9 || die "$dir is locked by another make-root.sh for 30 minutes"

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }

# Nothing may be mounted below a directory this script deletes or fills.
no_mounts_below() {
	local m
	m=$(findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | head -n1)
	[ -z "$m" ] || die "$m is mounted: unmount it (umount -R) before making $1 again"
}

ensure_debootstrap() {
	[ -x /usr/sbin/debootstrap ] && [ -e "/usr/share/debootstrap/scripts/$suite" ] && return 0
	log "installing debootstrap on the host"
	apt_get install -y -q --no-install-recommends debootstrap >&2 ||
		{ apt_get update -q >&2 && apt_get install -y -q --no-install-recommends debootstrap >&2; } ||
		die "cannot install debootstrap with apt-get"
	[ -e "/usr/share/debootstrap/scripts/$suite" ] || die "this debootstrap knows no $suite"
}

# The suite's InRelease must verify with the host's keyring (debootstrap would also refuse it,
# with a less clear message).
check_keyring() {
	local mirror=$1 tmp signer
	[ -r "$keyring" ] || die "$keyring missing: apt-get install debian-archive-keyring"
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now
	trap "rm -rf '$tmp'" RETURN
	/usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$mirror/dists/$suite/InRelease" "$tmp/InRelease" >&2 ||
		die "cannot download $mirror/dists/$suite/InRelease: is the mirror reachable?"
	if ! gpgv --keyring "$keyring" "$tmp/InRelease" >"$tmp/gpgv.out" 2>&1; then
		cat "$tmp/gpgv.out" >&2
		die "$keyring ($(dpkg-query -W -f '${Version}' debian-archive-keyring 2>/dev/null || echo '?')) does not verify $suite's Release: upgrade debian-archive-keyring (bookworm's 2023.3+deb12u1 and later have the $suite keys)"
	fi
	signer=$(sed -n 's/.*Good signature from "\(.*\)".*/\1/p' "$tmp/gpgv.out" | paste -sd ';' -)
	log "$suite's InRelease verifies with $keyring: $signer"
}

bootstrap() {
	local mirror new=$dir/root.new
	mirror=$(debian_mirror)
	check_keyring "$mirror"
	no_mounts_below "$new"
	rm -rf "$new"
	log "debootstrap --variant=minbase $suite from $mirror (cache $dir/debs)"
	local t0=$SECONDS
	debootstrap --variant=minbase --merged-usr --components=main --keyring="$keyring" \
		--cache-dir="$dir/debs" "$suite" "$new" "$mirror" >&2 ||
		die "debootstrap $suite failed (its log: $new/debootstrap/debootstrap.log)"
	log "debootstrap done in $((SECONDS - t0)) s"
	printf 'deb %s %s main\n' "$mirror" "$suite" >"$new/etc/apt/sources.list"
	# No service starts in a chroot (postinsts ask invoke-rc.d); the systemd VM's guest
	# removes this file in its overlay, where starting the service is what is tested.
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod 0755 "$new/usr/sbin/policy-rc.d"
	# The host's apt settings that its mirror needs (a snapshot mirror's Release may be past
	# its Valid-Until date); nothing else of the host's.
	apt-config dump | grep -E '^Acquire::Check-(Valid-Until|Date) ' \
		>"$new/etc/apt/apt.conf.d/50rawtpd-host-mirror" || true
	mv "$new" "$root"
}

install_packages() {
	local want have
	want=$(printf '%s\n' "${packages[@]}" | sort -u)
	have=$(cat "$root/etc/rawtpd-root" 2>/dev/null || true)
	if [ "$want" = "$have" ] && [ -z "${RAWTPD_TRIXIE_REFRESH:-}" ]; then
		log "$root is up to date"
		return 0
	fi
	rm -f "$root/etc/rawtpd-root"
	log "apt-get install in $root: ${packages[*]}"
	local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o Acquire::Retries=2)
	bash "$here/in-root.sh" "$root" "${apt[@]}" update >&2 || die "apt-get update in $root failed"
	if [ -n "${RAWTPD_TRIXIE_REFRESH:-}" ]; then
		bash "$here/in-root.sh" "$root" "${apt[@]}" -y upgrade >&2 || die "apt-get upgrade in $root failed"
	fi
	local t0=$SECONDS
	bash "$here/in-root.sh" "$root" "${apt[@]}" install -y --no-install-recommends "${packages[@]}" >&2 ||
		die "apt-get install in $root failed"
	log "apt-get install done in $((SECONDS - t0)) s"
	printf '%s\n' "$want" >"$root/etc/rawtpd-root"
}

ensure_debootstrap
if [ ! -x "$root/usr/bin/apt-get" ]; then
	no_mounts_below "$root"
	rm -rf "$root"
	bootstrap
fi
install_packages
printf '%s\n' "$root"
