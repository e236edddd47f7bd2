#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# fetch-kernels.sh [CACHE_DIR] - download and unpack the Debian kernels of the VM matrix.
#
#   bookworm: linux-image-amd64 (6.1), from the host's own apt sources
#   bullseye: linux-image-5.10.0-*-amd64, from a private apt directory under CACHE_DIR that names
#             the bullseye suite at the host's Debian mirror (the host's apt state is not touched)
#   trixie:   linux-image-6.12.*-amd64 (Debian 13), the same way
#
# RAWTPD_VM_MIRROR overrides the Debian mirror for bullseye and trixie (default: the host's own,
# from /etc/apt/sources.list.d/*.sources or sources.list). RAWTPD_VM_SUITES="bookworm bullseye
# trixie" (the default) picks.
# RAWTPD_VM_ARCH=arm64 fetches Debian's arm64 kernels instead (linux-image-arm64: bookworm's 6.1,
# trixie's 6.12; every suite through a private apt directory, apt-<suite>-arm64/), linked as
# CACHE_DIR/<suite>-arm64, for run-vm.sh's qemu-system-aarch64; default amd64.
# CACHE_DIR defaults to $RAWTPD_VM_CACHE, else <build dir>/vm-cache, where the build dir is
# $RAWTPD_BUILD_DIR, $MESON_BUILD_ROOT or <repository>/build. Idempotent: a kernel already
# unpacked is not downloaded again (set RAWTPD_VM_REFRESH=1 to look for newer packages).
#
# Layout of CACHE_DIR:
#   debs/                      the downloaded .deb files
#   apt-bullseye/, apt-trixie/ the private apt configurations, states and caches
#   kernels/<release>/vmlinuz  the kernel image
#   kernels/<release>/config   its build configuration
#   kernels/<release>/lib/modules/<release>/...   its modules, as shipped (.ko, .ko.xz, ...)
#   kernels/<release>/arch     its Debian architecture (amd64, arm64): run-vm.sh's qemu
#   bookworm, bullseye, trixie symbolic links to kernels/<release> (<suite>-arm64 for arm64)
#
# On success it prints one line per kernel, "<suite> <kernel dir>", on stdout; a kernel dir is
# what run-vm.sh takes. Progress goes to stderr. Exit status 1, with a message naming the kernel
# and the step that failed, if a kernel cannot be had. Needs root only to install missing tools.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

default_cache() {
	local build=${RAWTPD_BUILD_DIR:-${MESON_BUILD_ROOT:-$repo/build}}
	printf '%s/vm-cache\n' "$build"
}

cache=${1:-${RAWTPD_VM_CACHE:-$(default_cache)}}
mkdir -p "$cache/debs" "$cache/kernels"
cache=$(cd "$cache" && pwd)
arch=${RAWTPD_VM_ARCH:-amd64}
case $arch in
amd64) qemu=qemu-system-x86_64 qemu_pkg=qemu-system-x86 link_suffix= ;;
arm64) qemu=qemu-system-aarch64 qemu_pkg=qemu-system-arm link_suffix=-arm64 ;;
*) die "RAWTPD_VM_ARCH must be amd64 or arm64, not $arch" ;;
esac

apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
}

# apt-get download as root into a directory _apt cannot write: say so to apt, not to the log.
apt_download() {
	apt-get -o APT::Sandbox::User=root "$@"
}

# Install the host tools the VM tests need (qemu, a static busybox, decompressors, cpio).
ensure_tools() {
	local -a want=()
	command -v "$qemu" >/dev/null || want+=("$qemu_pkg")
	# busybox-static may be unpacked but not configured; the binary is what counts.
	if ! { [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; } &&
	   ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
		want+=(busybox-static)
	fi
	command -v xz >/dev/null || want+=(xz-utils)
	command -v zstd >/dev/null || want+=(zstd)
	command -v cpio >/dev/null || want+=(cpio)
	command -v file >/dev/null || want+=(file)
	command -v depmod >/dev/null || want+=(kmod)
	[ ${#want[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing ${want[*]}; run as root or install them: apt-get install ${want[*]}"
	log "installing ${want[*]}"
	apt_get install -y -q --no-install-recommends "${want[@]}" >&2 ||
		{ apt_get update -q >&2 && apt_get install -y -q --no-install-recommends "${want[@]}" >&2; } ||
		die "cannot install ${want[*]} with apt-get"
}

# shellcheck source=tests/vm/debian-mirror.sh
. "$here/debian-mirror.sh"

# Unpack DEB into kernels/<release>; prints the kernel dir.
unpack_kernel() {
	local deb=$1 tmp rel dir
	tmp=$(mktemp -d "$cache/kernels/.unpack.XXXXXX")
	dpkg-deb -x "$deb" "$tmp" || { rm -rf "$tmp"; die "cannot unpack $deb"; }
	rel=$(find "$tmp/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' 2>/dev/null | head -n1)
	rel=${rel#vmlinuz-}
	# Debian 13 ships modules under /usr/lib (merged /usr); the layout below keeps lib/modules
	if [ -n "$rel" ] && [ ! -d "$tmp/lib/modules/$rel" ] && [ -d "$tmp/usr/lib/modules/$rel" ]; then
		mkdir -p "$tmp/lib/modules"
		mv "$tmp/usr/lib/modules/$rel" "$tmp/lib/modules/$rel"
	fi
	if [ -z "$rel" ] || [ ! -d "$tmp/lib/modules/$rel" ]; then
		rm -rf "$tmp"
		die "$deb holds no boot/vmlinuz-* with lib/modules: not a kernel image package"
	fi
	dir=$cache/kernels/$rel
	rm -rf "$dir"
	mkdir -p "$dir/lib/modules"
	mv "$tmp/boot/vmlinuz-$rel" "$dir/vmlinuz"
	[ -f "$tmp/boot/config-$rel" ] && mv "$tmp/boot/config-$rel" "$dir/config"
	[ -f "$tmp/boot/System.map-$rel" ] && mv "$tmp/boot/System.map-$rel" "$dir/System.map"
	mv "$tmp/lib/modules/$rel" "$dir/lib/modules/$rel"
	# The package leaves modules.dep to its postinst: generate it (run-vm.sh resolves with it).
	depmod -b "$dir" "$rel" || { rm -rf "$tmp" "$dir"; die "depmod failed for $rel"; }
	printf '%s\n' "$rel" >"$dir/release"
	printf '%s\n' "${deb##*/}" >"$dir/package"
	dpkg-deb -f "$deb" Architecture >"$dir/arch"
	rm -rf "$tmp"
	printf '%s\n' "$dir"
}

# Download PKG (already resolved to a versioned kernel package) with APT_OPTS, unpack it, link
# SUITE to it; prints "<suite> <dir>".
fetch_one() {
	local suite=$1 pkg=$2 deb dir
	shift 2
	local -a apt_opts=("$@")
	deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*_$arch.deb" -printf '%p\n' | sort -V | tail -n1)
	if [ -z "$deb" ]; then
		log "$suite: downloading $pkg"
		(cd "$cache/debs" && apt_download "${apt_opts[@]}" -q download "$pkg" >&2) ||
			die "$suite: 'apt-get download $pkg' failed: is the Debian mirror reachable?"
		deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*_$arch.deb" -printf '%p\n' | sort -V | tail -n1)
		[ -n "$deb" ] || die "$suite: apt-get download $pkg left no .deb in $cache/debs"
	fi
	dir=$(readlink -f "$cache/$suite$link_suffix" 2>/dev/null || true)
	if [ -z "$dir" ] || [ ! -f "$dir/vmlinuz" ] || [ "$(cat "$dir/package" 2>/dev/null)" != "${deb##*/}" ]; then
		log "$suite: unpacking ${deb##*/}"
		dir=$(unpack_kernel "$deb")
		ln -sfn "kernels/${dir##*/}" "$cache/$suite$link_suffix"
	fi
	printf '%s %s\n' "$suite" "$dir"
}

# The versioned image package the $arch metapackage of this apt configuration points at.
resolve_image() {
	local suite=$1 pkg
	shift
	pkg=$(apt-cache "$@" depends "linux-image-$arch" 2>/dev/null |
		awk -v a="$arch" '$1 ~ /Depends:/ && $2 ~ "^linux-image-[0-9].*-" a "$" { print $2; exit }')
	[ -n "$pkg" ] || return 1
	printf '%s\n' "$pkg"
}

cached_ok() {
	local suite=$1 dir
	[ -z "${RAWTPD_VM_REFRESH:-}" ] || return 1
	dir=$(readlink -f "$cache/$suite$link_suffix" 2>/dev/null) || return 1
	[ -f "$dir/vmlinuz" ] && [ -d "$dir/lib/modules" ] || return 1
	printf '%s %s\n' "$suite" "$dir"
}

fetch_bookworm() {
	cached_ok bookworm && return 0
	local pkg
	if ! pkg=$(resolve_image bookworm); then
		log "bookworm: linux-image-amd64 unknown to apt; running apt-get update"
		apt_get update -q >&2 || die "bookworm: apt-get update failed"
		pkg=$(resolve_image bookworm) ||
			die "bookworm: apt knows no linux-image-amd64; does /etc/apt name bookworm main?"
	fi
	fetch_one bookworm "$pkg"
}

# A suite the host's apt does not name (bullseye, trixie), from a private apt directory under
# CACHE_DIR that names it at the host's Debian mirror; its linux-image-amd64 must point at a
# kernel whose package name starts with PREFIX.
fetch_private() {
	local suite=$1 prefix=$2
	cached_ok "$suite" && return 0
	local priv=$cache/apt-$suite$link_suffix mirror pkg keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$priv/state/lists/partial" "$priv/cache/archives/partial" "$priv/etc/preferences.d"
	: >"$priv/state/status"
	mirror=${RAWTPD_VM_MIRROR:-$(debian_mirror)}
	[ -r "$keyring" ] || die "$suite: $keyring missing: apt-get install debian-archive-keyring"
	printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" >"$priv/etc/sources.list"
	local -a opts=(
		-o "Dir::State=$priv/state"
		-o "Dir::State::status=$priv/state/status"
		-o "Dir::Cache=$priv/cache"
		-o "Dir::Etc::SourceList=$priv/etc/sources.list"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::Etc::Preferences=/dev/null"
		-o "Dir::Etc::PreferencesParts=$priv/etc/preferences.d"
		-o "APT::Architecture=$arch"
		-o "APT::Architectures=$arch"
		-o "Acquire::Languages=none"
		-o "Acquire::Retries=2"
		-o "Acquire::http::Timeout=30"
	)
	if ! pkg=$(resolve_image "$suite" "${opts[@]}") || [ -n "${RAWTPD_VM_REFRESH:-}" ]; then
		log "$suite: apt-get update in $priv (mirror $mirror)"
		apt-get "${opts[@]}" -q --error-on=any update >&2 ||
			die "$suite: apt-get update from $mirror $suite failed: is the mirror reachable?"
		pkg=$(resolve_image "$suite" "${opts[@]}") ||
			die "$suite: no ${prefix}*-$arch found behind linux-image-$arch at $mirror"
	fi
	case $pkg in
	"$prefix"*) ;;
	*) die "$suite: linux-image-$arch points at $pkg, not a ${prefix#linux-image-} kernel" ;;
	esac
	fetch_one "$suite" "$pkg" "${opts[@]}"
}

ensure_tools
# One fetch at a time per cache: tests may start in parallel.
exec 9>"$cache/.lock"
flock -w 900 9 || die "$cache is locked by another fetch-kernels.sh for 15 minutes"
suites=${RAWTPD_VM_SUITES:-bookworm bullseye trixie}
# The host's apt names bookworm for amd64 only; another architecture's comes privately too.
case $suites in
*bookworm*) if [ "$arch" = amd64 ]; then fetch_bookworm; else fetch_private bookworm linux-image-6.1.; fi ;;
esac
case $suites in
*bullseye*) fetch_private bullseye linux-image-5.10. ;;
esac
case $suites in
*trixie*) fetch_private trixie linux-image-6.12. ;;
esac
