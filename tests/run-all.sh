#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Every test, from a fresh Debian 12 machine, as root: installs what the build and the tests
# need, builds, runs the unit and integration tests (plain, then under ASan/UBSan), the unit
# tests and a daemon run under valgrind, the kernel-matrix VM tests, builds the .deb and .rpm and
# boots systemd in a VM to check rawtpd.service as installed from the .deb; then the same on
# Debian 13 (trixie): a root made by debootstrap, the build, unit and integration tests in it,
# its .deb, and systemd 257 in a VM on trixie's 6.12 kernel (tests/trixie/).
#
#   bash tests/run-all.sh            everything
#   SKIP_VM=1 bash tests/run-all.sh  everything but the qemu tests (and the packages, trixie's too)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=${RAWTPD_TEST_OUT:-$src/build-tests}
passed=0
failed=0
failures=()

step() {
	local name=$1
	shift
	echo "=== $name: $*"
	local t0=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: ok ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== $name: FAILED ($((SECONDS - t0)) s)"
	fi
}

install_deps() {
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends \
		build-essential clang llvm bpftool libbpf-dev libmicrohttpd-dev libsystemd-dev \
		libjansson-dev libinih-dev libdeflate-dev zlib1g-dev libcrypt-dev meson ninja-build pkg-config \
		python3 python3-prometheus-client prometheus curl valgrind clang-format scdoc >/dev/null
	# the VM guests' switch load (attach loop, per-event cost) and test-hang-watch's pgrep
	apt-get install -y -qq --no-install-recommends stress-ng procps >/dev/null
}

# Classic tracepoints need tracefs; a systemd host has it mounted, a container may not.
mount_tracefs() {
	if [ ! -e /sys/kernel/tracing/events ] && [ -d /sys/kernel/tracing ]; then
		mount -t tracefs tracefs /sys/kernel/tracing || true
	fi
}

build() {
	local dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
	ninja -C "$dir"
}

step deps install_deps
mount_tracefs
vm=true
[ -n "${SKIP_VM:-}" ] && vm=false
step build build "$out/plain" -Dwerror=true -Dvm_tests=$vm
step unit meson test -C "$out/plain" --print-errorlogs --suite unit
step integration meson test -C "$out/plain" --print-errorlogs --num-processes 1 --suite integration

# --- reliability (issue 7): fuzz corpus replay, warning_level=3, ASan/UBSan, valgrind --------
install_reliability_deps() {
	apt-get install -y -qq --no-install-recommends wrk openssl libclang-rt-14-dev \
		util-linux >/dev/null
}
build_clang() {
	CC=clang build "$@"
}
step deps-reliability install_reliability_deps
step fuzz-replay meson test -C "$out/plain" --print-errorlogs --suite fuzz
# GNU C is the house style ('?:', '{}' initialisers, statement expressions): -Wpedantic's notes
# on those are off, the rest of -Wextra -Wpedantic is an error. clang, as GCC cannot turn those
# off one by one; the one long string is in bpftool's generated skeleton.
step build-w3 build_clang "$out/w3" -Dwarning_level=3 -Dwerror=true -Dintegration_tests=false \
	"-Dc_args=-Wno-gnu-conditional-omitted-operand -Wno-gnu-empty-initializer \
	-Wno-gnu-statement-expression -Wno-gnu-zero-variadic-macro-arguments -Wno-overlength-strings"
# --no-as-needed keeps libcrypt linked: else the sanitizers' crypt_r() interceptor finds no real
# crypt_r() and jumps to address 0.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
step build-asan build "$out/asan" -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_link_args=-Wl,--no-as-needed
step unit-asan meson test -C "$out/asan" --print-errorlogs --suite unit --suite fuzz
step integration-asan env WRK_SECONDS=3 CHURN_SECONDS=5 meson test -C "$out/asan" \
	--print-errorlogs --num-processes 1 --suite integration --timeout-multiplier 3
step unit-valgrind meson test -C "$out/plain" --print-errorlogs --suite unit --suite fuzz \
	--num-processes 1 --timeout-multiplier 20 --wrap="valgrind --error-exitcode=1 \
	--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite -q \
	--suppressions=$src/tests/valgrind.supp"
step daemon-valgrind tests/valgrind-daemon.sh "$out/plain"
# --- end of the reliability steps ---------------------------------------------------------

# --- the service (issue 6): .deb (lintian), .rpm, and systemd 252 as PID 1 in qemu ------------
install_packaging_deps() {
	apt-get install -y -qq --no-install-recommends debhelper dpkg-dev fakeroot lintian rpm \
		systemd >/dev/null
}
systemd_vm() {
	local deb
	deb=$(ls "$out"/deb/rawtpd_*_amd64.deb) || return 1
	RAWTPD_SD_TIMEOUT=${RAWTPD_SD_TIMEOUT:-900} bash tests/vm/rawtpd-systemd.sh --deb "$deb"
}

if $vm; then
	export RAWTPD_VM_CACHE=${RAWTPD_VM_CACHE:-$out/vm-cache}
	step vm meson test -C "$out/plain" --print-errorlogs --num-processes 1 --suite vm
	step deps-packaging install_packaging_deps
	rm -rf "$out/deb"
	step deb bash packaging/build-deb.sh "$out/deb"
	step rpm bash packaging/rpm/check-rpm.sh
	# installs the .deb in the guest, checks the unit (notify, watchdog, reload, capabilities,
	# journal, restart, socket activation, each attach mode), then dpkg -r and -P
	step vm-systemd systemd_vm
fi

# --- Debian 13 (issue 16): a trixie root made by debootstrap; build, unit and integration tests
# in it as a chroot (BPF on this kernel), its .deb with trixie's debhelper and lintian, and
# systemd 257 booted in qemu on trixie's 6.12 kernel with that root and that .deb ----------------
export RAWTPD_TRIXIE_DIR=$out/trixie
trixie_deb() {
	local deb
	rm -f "$out/trixie-deb.path"
	deb=$(bash tests/trixie/run.sh deb) || return 1
	printf '%s\n' "$deb" >"$out/trixie-deb.path"
}
trixie_vm_systemd() {
	local deb
	deb=$(cat "$out/trixie-deb.path") || return 1
	RAWTPD_SD_TIMEOUT=${RAWTPD_SD_TIMEOUT:-900} bash tests/vm/rawtpd-systemd.sh \
		--root "$RAWTPD_TRIXIE_DIR/root" --kernel trixie --deb "$deb"
}
step trixie-root bash tests/trixie/make-root.sh "$RAWTPD_TRIXIE_DIR"
if [ -f "$RAWTPD_TRIXIE_DIR/root/etc/rawtpd-root" ]; then
	step trixie-build bash tests/trixie/run.sh build
	step trixie-unit bash tests/trixie/run.sh unit
	step trixie-integration bash tests/trixie/run.sh integration
	if $vm; then
		step trixie-deb trixie_deb
		step trixie-vm-systemd trixie_vm_systemd
	fi
fi

# --- arm64 (issue 17): the cross build (packaging/cross/), its unit tests under qemu-user, the
# arm64 .deb (lintian), an arm64 root made by debootstrap --foreign, the kernel matrix's checks
# on Debian's arm64 6.1 and 6.12 in qemu-system-aarch64, and the .deb under systemd there -------
install_arm64_deps() {
	dpkg --add-architecture arm64
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends crossbuild-essential-arm64 qemu-user-static \
		qemu-system-arm file libbpf-dev:arm64 libmicrohttpd-dev:arm64 libsystemd-dev:arm64 \
		libjansson-dev:arm64 libinih-dev:arm64 libdeflate-dev:arm64 zlib1g-dev:arm64 \
		libcrypt-dev:arm64 >/dev/null
}
# qemu-user has no bpf() (test-slots) and no /proc of the emulated program's own (test-self-stats):
# those two run in the arm64 guests instead (tests/arm64/guest-unit.sh, from arm64-vm)
arm64_unit() {
	local -a tests
	mapfile -t tests < <(meson test -C "$out/arm64" --suite unit --list 2>/dev/null |
		sed -n 's|^rawtpd:unit / ||p' | grep -vx -e slots -e self-stats)
	[ ${#tests[@]} -gt 0 ] || return 1
	meson test -C "$out/arm64" --print-errorlogs "${tests[@]}"
}
arm64_deb() {
	local deb
	rm -rf "$out/deb-arm64"
	deb=$(RAWTPD_LINTIAN=0 bash packaging/build-deb.sh -a arm64 "$out/deb-arm64") || return 1
	lintian --display-info --pedantic --fail-on error,warning,info,pedantic --tag-display-limit 0 "$deb" \
		"$out"/deb-arm64/rawtpd-dbgsym_*_arm64.deb
}
arm64_vm() {
	RAWTPD_VM_ARCH=arm64 RAWTPD_VM_ROOT=$out/arm64-root/root \
		RAWTPD_VM_ATTACH_CYCLES=${RAWTPD_ARM64_ATTACH_CYCLES:-3} bash tests/vm/run-all.sh "$out/arm64"
}
arm64_vm_systemd() {
	RAWTPD_SD_TIMEOUT=${RAWTPD_SD_TIMEOUT:-900} bash tests/vm/rawtpd-systemd.sh \
		--root "$out/arm64-root/root" --deb "$(ls "$out"/deb-arm64/rawtpd_*_arm64.deb)"
}
step deps-arm64 install_arm64_deps
step arm64-build build "$out/arm64" --cross-file packaging/cross/aarch64-linux-gnu.ini \
	-Dwerror=true -Dintegration_tests=false
step arm64-unit arm64_unit
if $vm; then
	step arm64-deb arm64_deb
	step arm64-root bash tests/arm64/make-root.sh "$out/arm64-root"
	step arm64-vm arm64_vm
	step arm64-vm-systemd arm64_vm_systemd
fi

echo
echo "Summary: ${failures[*]:-no failures}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
