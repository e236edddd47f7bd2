#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run-vm.sh KERNEL_DIR SCRIPT [TIMEOUT [ARG...]]
#
# Boots KERNEL_DIR (a directory made by fetch-kernels.sh: vmlinuz + lib/modules/<release>) in
# qemu with software emulation, the host's / shared read-only over 9p under a tmpfs overlay, and
# runs SCRIPT ARG... in it as root, in the directory run-vm.sh was called from (same paths as on
# the host, so a build directory is simply there). Prints the script's stdout on stdout and its
# stderr on stderr, and exits with its exit status. TIMEOUT (seconds, default 240) bounds the
# whole VM: qemu is killed when it is over.
#
# Exit status: the script's; 123 when the guest hung or crashed (a soft-lockup, RCU-stall, oops
# or panic line on the console, or RAWTPD_VM_STALL seconds without progress: the console lines
# and where each vCPU was are printed); 124 when the VM timed out; 125 when the VM failed before
# the script could report (the guest's console log is printed to stderr in each case, and
# whenever the script fails).
#
# Environment:
#   RAWTPD_VM_INIT=busybox   (default) the guest runner is PID 1 right after switch_root: fast
#   RAWTPD_VM_INIT=systemd   systemd (from the host's root) is PID 1 and starts
#                            rawtpd-vm.service, which runs the script; --unit= names the unit
#   RAWTPD_VM_UNIT           the unit systemd starts (default rawtpd-vm.service)
#   RAWTPD_VM_ROOT=DIR       the guest's root, shared read-only under the tmpfs overlay (default
#                            /, the host's own; tests/trixie/make-root.sh makes a Debian 13 one).
#                            Another root gets the kernel's modules over a 9p share of their own.
#   RAWTPD_VM_OVERLAY=DIR    copied over the guest's root before switch_root (units, configs, an
#                            install tree: DESTDIR layout)
#   RAWTPD_VM_PASSENV="A B"  host variables exported to the script in the guest
#   RAWTPD_VM_MODULES="m.."  more modules for the initramfs to load (dependencies resolved)
#   RAWTPD_VM_MEM=1024, RAWTPD_VM_CPUS=2, RAWTPD_VM_APPEND="..." (more kernel command line)
#   RAWTPD_VM_ACCEL=tcg,thread=single  qemu's -accel; RAWTPD_VM_CPU=max its -cpu
#                            (max,pauth-impdef=on for arm64: QARMA pointer authentication is
#                            most of an emulated arm64 kernel's time otherwise)
#   RAWTPD_VM_SHARE="DIR.."  host directories shown at the same paths in the guest (9p, under
#                            a tmpfs overlay): the build and source dirs, for another root
#   RAWTPD_VM_STALL=60       seconds without progress that make a hang (see watch_guest)
#   RAWTPD_VM_RESULT_DIR=DIR keep the run's files there (stdout, stderr, rc, console.log,
#                            boot-seconds, anything the script writes to $RAWTPD_VM_RESULT)
#   RAWTPD_VM_VERBOSE=1      always print the console log
#
# In the guest the script sees RAWTPD_VM=1, RAWTPD_VM_KERNEL=<release> and
# RAWTPD_VM_RESULT=/rawtpd-vm (shared with the host, writable: leave artefacts there).
#
# The kernel dir's `arch` file (fetch-kernels.sh writes it; amd64 when missing) picks the
# machine: qemu-system-x86_64, or for arm64 qemu-system-aarch64 -machine virt (console on
# ttyAMA0), which needs RAWTPD_VM_ROOT: an arm64 root (tests/arm64/make-root.sh) whose static
# busybox the initramfs takes.

set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 125; }
usage() { sed -n '4,5p' "$0" | sed 's/^# //' >&2; exit 2; }

[ $# -ge 2 ] || usage
kdir=$(cd "$1" 2>/dev/null && pwd -P) || die "kernel dir $1 does not exist (run fetch-kernels.sh)"
script=$2
timeout_s=${3:-240}
shift 2
[ $# -eq 0 ] || shift
[ -f "$script" ] || die "script $script does not exist"
[[ $timeout_s =~ ^[0-9]+$ ]] || die "TIMEOUT must be a number of seconds, not $timeout_s"
[ -f "$kdir/vmlinuz" ] || die "$kdir/vmlinuz missing (run fetch-kernels.sh)"
release=$(cat "$kdir/release" 2>/dev/null || ls "$kdir/lib/modules")
moddir=$kdir/lib/modules/$release
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep missing (run fetch-kernels.sh)"
vmroot=$(cd "${RAWTPD_VM_ROOT:-/}" 2>/dev/null && pwd -P) || die "RAWTPD_VM_ROOT=$RAWTPD_VM_ROOT is not a directory"
[ "$vmroot" = / ] || [ -x "$vmroot/usr/bin/bash" ] || die "RAWTPD_VM_ROOT=$vmroot has no usr/bin/bash: not a root"
init=${RAWTPD_VM_INIT:-busybox}
case $init in busybox | systemd) ;; *) die "RAWTPD_VM_INIT must be busybox or systemd" ;; esac
# One host thread runs every vCPU in turn. Multi-threaded TCG (qemu 7.2's default) lets one
# vCPU translate and run kernel text while another patches it (a tracepoint's static key and
# static call, a kprobe's int3), and the guest then froze or oopsed in its scheduler within
# 20-40 attach cycles; single-threaded it never did (tests/vm/README.md, "The TCG hang").
accel=${RAWTPD_VM_ACCEL:-tcg,thread=single}
arch=$(cat "$kdir/arch" 2>/dev/null || echo amd64)
case $arch in
amd64)
	qemu=(qemu-system-x86_64)
	cpu=${RAWTPD_VM_CPU:-max}
	console=ttyS0
	;;
arm64)
	qemu=(qemu-system-aarch64 -machine virt)
	cpu=${RAWTPD_VM_CPU:-max,pauth-impdef=on}
	console=ttyAMA0
	[ "$vmroot" != / ] || die "an arm64 kernel needs RAWTPD_VM_ROOT=<an arm64 root> (tests/arm64/make-root.sh)"
	;;
*) die "$kdir/arch says $arch: amd64 or arm64 only" ;;
esac
command -v "${qemu[0]}" >/dev/null || die "${qemu[0]} missing (run fetch-kernels.sh as root)"
command -v cpio >/dev/null || die "cpio missing (run fetch-kernels.sh as root)"

# A static busybox of the guest's architecture: the host's, or for another one the root's.
busybox=
if [ "$arch" = amd64 ]; then
	for b in /bin/busybox /usr/bin/busybox; do
		if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
	done
	[ -n "$busybox" ] || die "no static busybox (apt-get install busybox-static)"
else
	for b in "$vmroot/bin/busybox" "$vmroot/usr/bin/busybox"; do
		if [ -x "$b" ] && file -L "$b" | grep -q 'ARM aarch64.*statically linked'; then busybox=$b; break; fi
	done
	[ -n "$busybox" ] || die "$vmroot has no static arm64 busybox (busybox-static in the root)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rawtpd-vm.XXXXXX")
result=${RAWTPD_VM_RESULT_DIR:-$work/result}
qemu_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "$prog: interrupted, stopping the VM" >&2; exit 130' INT TERM
mkdir -p "$result"
result=$(cd "$result" && pwd -P)
rm -rf "${result:?}/vm" "$result/overlay"
rm -f "$result"/{stdout,stderr,rc,console.log,boot-seconds,end-seconds,heartbeat,hang,kallsyms}
mkdir -p "$result/vm"

# The modules to load, in order, with their dependencies; built-in ones are skipped.
resolve_modules() {
	awk -v want="$*" '
		function name(p,   n, a) {
			n = split(p, a, "/"); p = a[n]
			sub(/\.ko(\.(xz|zst|gz))?:?$/, "", p); gsub(/-/, "_", p)
			return p
		}
		function visit(m,   i, n, d) {
			if (m in seen) return
			seen[m] = 1
			if (!(m in path)) {
				if (!(m in builtin)) missing = missing " " m
				return
			}
			n = split(deps[m], d, " ")
			for (i = n; i >= 1; i--) visit(d[i])
			print path[m]
		}
		FILENAME ~ /modules\.builtin$/ { builtin[name($1)] = 1; next }
		{
			m = name($1); p = $1; sub(/:$/, "", p); path[m] = p; deps[m] = ""
			for (i = 2; i <= NF; i++) deps[m] = deps[m] " " name($i)
		}
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) { x = w[i]; gsub(/-/, "_", x); visit(x) }
			if (missing != "") { print "missing:" missing > "/dev/stderr"; exit 1 }
		}' "$moddir/modules.builtin" "$moddir/modules.dep"
}

build_initramfs() {
	local root=$work/initramfs m base
	mkdir -p "$root/bin" "$root/modules"
	cp "$busybox" "$root/bin/busybox"
	cp "$here/vm-init.sh" "$root/init"
	chmod 0755 "$root/init"
	local -a mods
	# shellcheck disable=SC2086 # a list of module names
	mapfile -t mods < <(resolve_modules virtio_pci 9pnet_virtio 9p overlay ${RAWTPD_VM_MODULES:-}) ||
		die "cannot resolve modules for $release"
	: >"$root/modules.list"
	for m in "${mods[@]}"; do
		base=${m##*/}
		case $base in
		*.ko.xz) xz -dc "$moddir/$m" >"$root/modules/${base%.xz}" ;;
		*.ko.zst) zstd -qdc "$moddir/$m" >"$root/modules/${base%.zst}" ;;
		*.ko.gz) gzip -dc "$moddir/$m" >"$root/modules/${base%.gz}" ;;
		*) cp "$moddir/$m" "$root/modules/$base" ;;
		esac
		base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
		printf '%s\n' "$base" >>"$root/modules.list"
	done
	printf 'RELEASE=%q\nKERNEL_DIR=%q\nMSIZE=%q\n' "$release" "$kdir" 262144 >"$root/init.conf"
	printf 'SHARES=%q\n' "${shares[*]}" >>"$root/init.conf"
	# The host's root has the kernel dir at its host path; another root gets it over 9p.
	[ "$vmroot" = / ] || printf 'MODULES_TAG=rawtpd-modules\n' >>"$root/init.conf"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"
}

# What the guest runner needs: the script, its arguments and environment, the command to init.
write_guest_files() {
	local v
	cp "$script" "$result/vm/script"
	chmod 0755 "$result/vm/script"
	cp "$here/guest-run.sh" "$result/vm/guest-run.sh"
	{
		printf 'export PATH=%q\n' /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		printf 'export HOME=/root LANG=C.UTF-8 RAWTPD_VM=1 RAWTPD_VM_RESULT=/rawtpd-vm\n'
		printf 'export RAWTPD_VM_KERNEL=%q RAWTPD_VM_CWD=%q\n' "$release" "$PWD"
		printf 'RAWTPD_VM_ARGS=('
		for v in "$@"; do printf ' %q' "$v"; done
		printf ' )\n'
		for v in ${RAWTPD_VM_PASSENV:-}; do
			[ -n "${!v+set}" ] && printf 'export %s=%q\n' "$v" "${!v}"
		done
	} >"$result/vm/env"
	if [ -n "${RAWTPD_VM_OVERLAY:-}" ]; then
		[ -d "$RAWTPD_VM_OVERLAY" ] || die "RAWTPD_VM_OVERLAY=$RAWTPD_VM_OVERLAY is not a directory"
		mkdir -p "$result/overlay"
		cp -a "$RAWTPD_VM_OVERLAY/." "$result/overlay/"
	fi
	if [ "$init" = systemd ]; then
		mkdir -p "$result/overlay/etc/systemd/system"
		# The host's fstab names the host's disks: nothing to mount in the guest.
		: >"$result/overlay/etc/fstab"
		# tmp.conf's "D /tmp" would empty the host's /tmp through the overlay, file by file
		# over 9p (minutes); and a build dir may live there.
		mkdir -p "$result/overlay/etc/tmpfiles.d"
		printf 'd /tmp 1777 root root -\n' >"$result/overlay/etc/tmpfiles.d/tmp.conf"
		cat >"$result/overlay/etc/systemd/system/rawtpd-vm.service" <<-'EOF'
			[Unit]
			Description=rawtpd VM test script
			After=basic.target

			[Service]
			Type=oneshot
			ExecStart=/bin/bash /rawtpd-vm/vm/guest-run.sh
			StandardOutput=journal+console
			StandardError=journal+console
		EOF
		printf '/lib/systemd/systemd --unit=%s\n' "${RAWTPD_VM_UNIT:-rawtpd-vm.service}" \
			>"$result/vm/init-cmd"
	else
		printf '/bin/bash /rawtpd-vm/vm/guest-run.sh\n' >"$result/vm/init-cmd"
	fi
}

print_console() {
	echo "---- $prog: guest console ($release) ----" >&2
	if [ -s "$result/console.log" ]; then
		tr -d '\r' <"$result/console.log" | tail -n "${RAWTPD_VM_CONSOLE_LINES:-200}" >&2
	else
		echo "(empty)" >&2
	fi
	echo "---- end of console ----" >&2
}

# The hang watch. A hung guest is found in seconds, not at the timeout: the kernel's own
# soft-lockup, RCU-stall, oops and panic lines on the console, or no progress (the heartbeat
# file that guest-run.sh rewrites every 5 s, and before that the console, stay unchanged for
# RAWTPD_VM_STALL seconds, default 60; 150 before the script starts). Returns 0 when qemu is
# gone, 123 for a hang (what it saw is in $work/hang), 124 at the timeout.
hang_re="soft lockup|hard LOCKUP|rcu: INFO|rcu_[a-z]* (kthread|detected)|self-detected stall|timer wakeup didn't happen|Kernel panic|Oops|BUG: |general protection fault"
watch_guest() {
	local pid=$1 t0=$SECONDS last=$SECONDS seen='' now beat console limit
	local stall=${RAWTPD_VM_STALL:-60} boot_stall=${RAWTPD_VM_BOOT_STALL:-150}
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		now=$SECONDS
		if [ $((now - t0)) -ge "$timeout_s" ]; then
			return 124
		fi
		if tr -d '\r' <"$result/console.log" 2>/dev/null | grep -Eq "$hang_re"; then
			# A moment for the lines that follow the first (the stuck task, RIP).
			sleep 2
			tr -d '\r' <"$result/console.log" | grep -E -A 12 -m 1 "$hang_re" |
				head -n 30 >"$work/hang"
			return 123
		fi
		beat=$(cat "$result/heartbeat" 2>/dev/null || true)
		console=$(stat -c %s "$result/console.log" 2>/dev/null || echo 0)
		limit=$stall
		[ -n "$beat" ] || limit=$boot_stall
		if [ "$beat/$console" != "$seen" ]; then
			seen="$beat/$console"
			last=$now
		elif [ $((now - last)) -ge "$limit" ]; then
			printf 'no progress for %s s: the heartbeat (%s) and the console stood still\n' \
				$((now - last)) "${beat:-not started}" >"$work/hang"
			return 123
		fi
	done
	return 0
}

# RAWTPD_VM_SHARE: tag rawtpd-share<N> for each directory, mounted at its host path
shares=()
sharedev=()
for d in ${RAWTPD_VM_SHARE:-}; do
	d=$(cd "$d" 2>/dev/null && pwd -P) || die "RAWTPD_VM_SHARE: $d is not a directory"
	sharedev+=(-virtfs "local,path=$d,mount_tag=rawtpd-share${#shares[@]},security_model=none,readonly=on,multidevs=remap")
	shares+=("$d")
done

build_initramfs
write_guest_files "$@"

# nokaslr: the hang watch names where each vCPU is from System.map.
append="console=$console rdinit=/init panic=-1 loglevel=4 nokaslr ${RAWTPD_VM_APPEND:-}"
[ "$init" = systemd ] && append+=" systemd.show_status=1 systemd.log_color=0 systemd.log_target=console"
modshare=()
[ "$vmroot" = / ] ||
	modshare=(-virtfs "local,path=$moddir,mount_tag=rawtpd-modules,security_model=none,readonly=on,multidevs=remap")
start=$(date +%s%N)
"${qemu[@]}" \
	-accel "$accel" -cpu "$cpu" -smp "${RAWTPD_VM_CPUS:-2}" -m "${RAWTPD_VM_MEM:-1024}" \
	-nodefaults -no-user-config -display none -no-reboot \
	-monitor "unix:$work/monitor.sock,server=on,wait=off" \
	-serial "file:$result/console.log" \
	-kernel "$kdir/vmlinuz" -initrd "$work/initramfs.gz" -append "$append" \
	-virtfs "local,path=$vmroot,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$result,mount_tag=rawtpd-vm,security_model=none,multidevs=remap" \
	"${modshare[@]}" "${sharedev[@]}" \
	</dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!
watch=0
watch_guest "$qemu_pid" || watch=$?
if [ "$watch" -eq 123 ]; then
	# Where each vCPU is, three times a second apart: spinning, halted, or moving.
	python3 "$here/vm-monitor.py" "$work/monitor.sock" "$result/kallsyms" >>"$work/hang" 2>&1 || true
fi
if [ "$watch" -ne 0 ]; then
	kill -TERM "$qemu_pid" 2>/dev/null || true
	sleep 1
	kill -KILL "$qemu_pid" 2>/dev/null || true
fi
qrc=0
wait "$qemu_pid" 2>/dev/null || qrc=$?
qemu_pid=
wall_ms=$((($(date +%s%N) - start) / 1000000))
wall=$((wall_ms / 1000)).$((wall_ms % 1000 / 100))

[ ! -s "$result/stdout" ] || cat "$result/stdout"
[ ! -s "$result/stderr" ] || cat "$result/stderr" >&2

boot=$(cat "$result/boot-seconds" 2>/dev/null || echo "?")
if [ -f "$result/rc" ]; then
	rc=$(cat "$result/rc")
	printf '%s: %s: up in %s s (guest clock), script exit %s, %s s wall\n' \
		"$prog" "$release" "$boot" "$rc" "$wall" >&2
	if [ "$rc" -ne 0 ] || [ -n "${RAWTPD_VM_VERBOSE:-}" ]; then print_console; fi
	exit "$rc"
fi
if [ "$watch" -eq 123 ]; then
	if [ "$boot" = "?" ]; then boot="before the script started"; else boot="script started at $boot s"; fi
	printf '%s: %s: the guest hung after %s s wall (%s); qemu killed. The console said:\n' \
		"$prog" "$release" "$wall" "$boot" >&2
	sed 's/^/    /' "$work/hang" >&2
	cp "$work/hang" "$result/hang"
	rc=123
elif [ "$watch" -eq 124 ]; then
	if [ "$boot" = "?" ]; then boot="the script never started"; else boot="script started at $boot s"; fi
	printf '%s: %s: timed out after %s s (%s); qemu killed\n' \
		"$prog" "$release" "$timeout_s" "$boot" >&2
	rc=124
else
	printf '%s: %s: the VM stopped (qemu exit %s) before the script reported\n' \
		"$prog" "$release" "$qrc" >&2
	rc=125
fi
[ ! -s "$work/qemu.out" ] || { echo "---- qemu ----" >&2; cat "$work/qemu.out" >&2; }
print_console
exit "$rc"
