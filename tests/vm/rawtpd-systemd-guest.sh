#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# rawtpd-systemd-guest.sh - the checks of rawtpd-systemd.sh, run inside the VM by run-vm.sh with
# systemd as PID 1 (from a oneshot unit, as root). Not meant to be run by hand on a host: it
# installs, starts, kills and removes things.
#
# Environment (from rawtpd-systemd.sh):
#   RAWTPD_SD_MODE  machinery  a stand-in Type=notify service (python3, no rawtpd): proves the
#                              VM, systemd, notify, restart and watchdog machinery
#                   tree       the meson install tree was copied over / before boot
#                   deb        install RAWTPD_SD_DEB with dpkg, test, then remove and purge it
#   RAWTPD_SD_DEB   the .deb (a path on the host's root, which the guest sees read-only)
#   RAWTPD_SD_CONF  the configuration file path the installed rawtpd reads
#   RAWTPD_SD_PORT  its default port
#   RAWTPD_SD_CHECKS  the groups of checks to run (default all of them): service (user,
#                   capabilities, HTTP, reload, journal), restart (SIGKILL, watchdog), modes
#                   (attach modes inside the unit), socket (socket activation), groups
#                   (group_by = unit: two transient units competing for one CPU)
#
# Prints one "ok N - ..." or "not ok N - ..." line per check (TAP) and a closing
# "N passed, N failed" line; exits 1 if any check failed.

set -euo pipefail

mode=${RAWTPD_SD_MODE:-tree}
conf=${RAWTPD_SD_CONF:-/etc/rawtpd/rawtpd.conf}
port=${RAWTPD_SD_PORT:-10291}
svc=rawtpd.service
[ "$mode" != machinery ] || svc=rawtpd-notify-test.service

n=0
passed=0
failed=0
t0=$SECONDS

ok() { n=$((n + 1)); passed=$((passed + 1)); printf 'ok %d - %s\n' "$n" "$*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); printf 'not ok %d - %s\n' "$n" "$*"; }
indent() { sed 's/^/#   /'; }
note() { printf '# [%3ds] %s\n' "$((SECONDS - t0))" "$*"; }
# check DESCRIPTION COMMAND...: one test line from the command's exit status.
check() {
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# wait_for SECONDS COMMAND...: poll every half second until the command succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@" 2>/dev/null; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.5
	done
}
want() { [[ " ${RAWTPD_SD_CHECKS:-service restart modes socket groups} " == *" $1 "* ]]; }
prop() { systemctl show -P "$1" "$svc"; }
main_pid() { prop MainPID; }
is_running() { [ "$(prop ActiveState)/$(prop SubState)" = active/running ]; }
restarted_since() { # NRESTARTS PID: restarted at least once more, running again, another pid
	local p
	p=$(main_pid)
	[ "$(prop NRestarts)" -gt "$1" ] && is_running && [ "$p" != 0 ] && [ "$p" != "$2" ]
}
http() { curl -fsS --max-time 20 "http://127.0.0.1:$port$1"; }
# The journal's current end (-n 0 would print no cursor at all).
cursor() { journalctl -q -n 1 -o cat --show-cursor | sed -n 's/^-- cursor: //p'; }
# journal_since CURSOR [ARGS...]: the unit's journal after CURSOR.
journal_since() {
	local c=$1
	shift
	journalctl -q --no-pager -u "$svc" ${c:+--after-cursor="$c"} "$@"
}
dump_unit() {
	note "---- systemctl status $svc ----"
	systemctl status --no-pager -l "$svc" 2>&1 | sed 's/^/#   /' || true
	note "---- journal of $svc (last 40 lines) ----"
	journalctl -q --no-pager -u "$svc" -n 40 2>&1 | sed 's/^/#   /' || true
}

# ---- set-up -------------------------------------------------------------------------------

note "kernel $(uname -r), systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'), mode $mode"
note "system state: $(systemctl is-system-running 2>/dev/null || true)"
# run-vm.sh points systemd's own log at the console; the checks read it from the journal
# ("Watchdog timeout", with UNIT=), so send it there.
systemd-analyze set-log-target journal-or-kmsg || true

if [ "$mode" = machinery ]; then
	mkdir -p /run/rawtpd-test
	cat >/run/rawtpd-test/notify.py <<-'EOF'
		import os, socket, time
		addr = os.environ["NOTIFY_SOCKET"]
		if addr.startswith("@"):
		    addr = "\0" + addr[1:]
		s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
		s.sendto(b"READY=1\nSTATUS=stand-in notify service", addr)
		period = int(os.environ.get("WATCHDOG_USEC", "10000000")) / 2e6
		while True:
		    s.sendto(b"WATCHDOG=1", addr)
		    time.sleep(period)
	EOF
	cat >/run/systemd/system/$svc <<-'EOF'
		[Service]
		Type=notify
		NotifyAccess=main
		ExecStart=/usr/bin/python3 /run/rawtpd-test/notify.py
		WatchdogSec=10s
		TimeoutAbortSec=5s
		Restart=on-failure
		RestartSec=1s
	EOF
elif [ "$mode" = deb ]; then
	# man-db's trigger would re-index every manual page over 9p: minutes, and not under test.
	rm -f /var/lib/man-db/auto-update
	# The host's root is a container image whose policy-rc.d forbids starting services
	# (exit 101); a real system has none, and the maintainer scripts' start/stop are under test.
	rm -f /usr/sbin/policy-rc.d
	note "dpkg -i ${RAWTPD_SD_DEB:-}"
	if dpkg -i "${RAWTPD_SD_DEB:?}" >/tmp/dpkg-i.log 2>&1; then
		ok "dpkg -i installs the package"
	else
		not_ok "dpkg -i installs the package"
		sed 's/^/#   /' /tmp/dpkg-i.log
	fi
	note "dpkg -i done"
	check "the package created the system user rawtpd" getent passwd rawtpd
	check "the package enabled rawtpd.service" \
		test "$(systemctl is-enabled rawtpd.service 2>/dev/null)" = enabled
	check "the package did not enable rawtpd.socket" \
		test "$(systemctl is-enabled rawtpd.socket 2>/dev/null)" != enabled
	check "the package started rawtpd.service" wait_for 60 is_running
	# The checks below start from a known state.
	systemctl stop "$svc" || true
else
	# What a package's postinst does.
	systemd-sysusers
	systemctl daemon-reload
fi

if [ "$mode" != machinery ]; then
	system_user() {
		local re='^rawtpd:x:([0-9]+):[0-9]+:[^:]*:/:(/usr/sbin/nologin|/sbin/nologin)$'
		[[ $(getent passwd rawtpd) =~ $re ]] && [ "${BASH_REMATCH[1]}" -lt 1000 ]
	}
	check "user rawtpd is a system user without a home or a login shell" system_user
	mkdir -p "$(dirname "$conf")"
	cat >"$conf" <<-'EOF'
		# written by rawtpd-systemd-guest.sh
		[daemon]
		interval = 1s
		log_level = info
	EOF
	chmod 0644 "$conf"
fi

# ---- start: Type=notify, active (running) -------------------------------------------------

note "systemctl start $svc"
start=$SECONDS
if systemctl start "$svc"; then
	ok "systemctl start $svc succeeds (READY=1 arrived) in $((SECONDS - start)) s"
else
	not_ok "systemctl start $svc succeeds"
	dump_unit
fi
# rawtpd.service is Type=notify-reload when built against systemd 253 or later, as the .deb for
# a root with such a systemd is; the stand-in service is always Type=notify.
want_type=notify
sd_version=$(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
[ "$mode" = machinery ] || [ "${sd_version:-0}" -lt 253 ] || want_type=notify-reload
check "Type=$want_type" test "$(prop Type)" = "$want_type"
check "active (running)" is_running
check "NotifyAccess=main" test "$(prop NotifyAccess)" = main
check "a watchdog is set" test "$(prop WatchdogUSec)" != 0
note "StatusText: $(prop StatusText)"
check "STATUS= is set" test -n "$(prop StatusText)"
pid=$(main_pid)

# ---- rawtpd: user, capabilities, sandbox, HTTP, reload, journal -----------------------------

if [ "$mode" != machinery ] && want service && is_running; then
	status=/proc/$pid/status
	sed -n 's/^\(Uid\|Gid\|Cap[A-Za-z]*\|NoNewPrivs\|Seccomp\):/# &/p' "$status"
	uid=$(id -u rawtpd 2>/dev/null || echo none)
	check "runs as user rawtpd" \
		test "$(awk '/^Uid:/ { print $2 "/" $3 "/" $4 "/" $5 }' "$status")" = "$uid/$uid/$uid/$uid"
	# CAP_PERFMON is 38 and CAP_BPF 39: 0xc000000000, and nothing else anywhere.
	for c in CapEff CapPrm CapAmb CapBnd; do
		check "$c is CAP_BPF CAP_PERFMON only" \
			test "$(awk -v c="$c:" '$1 == c { print $2 }' "$status")" = 000000c000000000
	done
	inh_ok() { (((16#$(awk '$1 == "CapInh:" { print $2 }' "$status") & ~16#c000000000) == 0)); }
	check "CapInh has nothing beyond CAP_BPF CAP_PERFMON" inh_ok
	check "NoNewPrivs is set" grep -q '^NoNewPrivs:[[:space:]]*1$' "$status"
	check "a seccomp filter is on" grep -q '^Seccomp:[[:space:]]*2$' "$status"

	# shellcheck disable=SC2310 # a failed fetch is a failed check
	metrics=$(http /metrics || true)
	check "GET /metrics on port $port" test -n "$metrics"
	check "/metrics has rawtpd_build_info" grep -q '^rawtpd_build_info{' <<<"$metrics"
	check "/metrics has per-process context switches" \
		grep -q '^rawtpd_process_context_switches_total{' <<<"$metrics"
	check "/metrics has per-process CPU seconds" \
		grep -q '^rawtpd_process_cpu_seconds_total{' <<<"$metrics"
	mode_line=$(grep '^rawtpd_attach_info{' <<<"$metrics" || true)
	note "$mode_line"
	healthy() { http /-/healthy >/dev/null; }
	check "GET /-/healthy" healthy
	# It sees processes of every user (ProtectProc=default): journald runs as systemd-journal.
	jpid=$(systemctl show -P MainPID systemd-journald.service)
	check "it counts another user's process (systemd-journald, pid $jpid)" \
		grep -q "^rawtpd_process_cpu_seconds_total{pid=\"$jpid\"" <<<"$metrics"

	# ProtectKernelTunables=yes leaves /proc/sys readable: bpf_stats_enabled is seen.
	sysctl -q -w kernel.bpf_stats_enabled=1 || true
	stats_on() { http /metrics | grep -q '^rawtpd_bpf_stats_enabled 1$'; }
	check "kernel.bpf_stats_enabled is read under ProtectKernelTunables=yes" wait_for 15 stats_on
	runs() { http /metrics | awk '$1 == "rawtpd_bpf_program_runs_total" && $2 > 0 { n++ } END { exit !n }'; }
	check "BPF program run count grows while bpf_stats_enabled=1" wait_for 15 runs
	sysctl -q -w kernel.bpf_stats_enabled=0 || true

	# A good reload: applied, same process.
	sed -i 's/^interval = 1s$/interval = 2s/' "$conf"
	c=$(cursor)
	check "systemctl reload (good file) succeeds" systemctl reload "$svc"
	reloaded() { journal_since "$c" --grep 'Configuration reloaded' >/dev/null; }
	check "the good reload is applied" wait_for 20 reloaded
	interval_2s() { http /api/v1/status | grep -Eq '"interval(_seconds)?": *2(\.0*)?[,}]'; }
	check "/api/v1/status shows the new interval" wait_for 20 interval_2s
	check "same process after a good reload" test "$(main_pid)" = "$pid"
	check "active (running) after a good reload" is_running

	# A bad reload: logged with file:line, the running configuration stays.
	printf 'no_such_key = 1\n' >>"$conf"
	bad_line=$(wc -l <"$conf")
	c=$(cursor)
	check "systemctl reload (bad file) succeeds" systemctl reload "$svc"
	bad_logged() { journal_since "$c" --grep "$conf:$bad_line" >/dev/null; }
	check "the bad reload is logged with $conf:$bad_line" wait_for 20 bad_logged
	journal_since "$c" | sed 's/^/#   /'
	sleep 2
	check "same process after a bad reload" test "$(main_pid)" = "$pid"
	check "active (running) after a bad reload" is_running
	check "the running configuration stayed (interval 2s)" interval_2s
	sed -i '$d' "$conf"

	# Structured journal fields.
	json=$(journalctl -q --no-pager -u "$svc" -o json)
	has_fields() { # MESSAGE_ID
		grep "\"MESSAGE_ID\":\"$1\"" <<<"$json" | grep '"SYSLOG_IDENTIFIER":"rawtpd"' |
			grep '"PRIORITY":"[0-7]"' | grep '"CODE_FILE":"[^"]' | grep '"CODE_LINE":"[0-9]' |
			grep -q '"CODE_FUNC":"[^"]'
	}
	check "journal: start message with MESSAGE_ID, SYSLOG_IDENTIFIER, PRIORITY, CODE_*" \
		has_fields c8a6a6f2a0b84a4bb1e6a3b3a1e0d701
	check "journal: attach message with its MESSAGE_ID" has_fields c8a6a6f2a0b84a4bb1e6a3b3a1e0d702
	has_errno() { grep '"MESSAGE_ID":"c8a6a6f2a0b84a4bb1e6a3b3a1e0d704"' <<<"$json" | grep -q '"ERRNO":"[0-9]'; }
	check "journal: reload failure with its MESSAGE_ID and ERRNO" has_errno
fi

# ---- SIGKILL: restarted ---------------------------------------------------------------------

if want restart && is_running; then
	nr=$(prop NRestarts)
	pid=$(main_pid)
	note "kill -KILL $pid (NRestarts $nr)"
	kill -KILL "$pid"
	if wait_for 90 restarted_since "$nr" "$pid"; then
		ok "SIGKILL: restarted (NRestarts $nr -> $(prop NRestarts), pid $pid -> $(main_pid))"
	else
		not_ok "SIGKILL: restarted"
		dump_unit
	fi
fi

# ---- SIGSTOP: the watchdog fires, restarted -------------------------------------------------

if want restart && is_running; then
	nr=$(prop NRestarts)
	pid=$(main_pid)
	c=$(cursor)
	note "kill -STOP $pid (NRestarts $nr, watchdog $(prop WatchdogUSec))"
	start=$SECONDS
	kill -STOP "$pid"
	if wait_for 150 restarted_since "$nr" "$pid"; then
		ok "SIGSTOP: restarted after $((SECONDS - start)) s (NRestarts $nr -> $(prop NRestarts))"
	else
		not_ok "SIGSTOP: restarted"
		dump_unit
	fi
	wd_logged() { journal_since "$c" --grep 'Watchdog timeout' >/dev/null; }
	check "SIGSTOP: systemd logged a watchdog timeout" wd_logged
fi

# ---- rawtpd: attach modes under the unit's sandbox, socket activation --------------------------

if [ "$mode" != machinery ] && want modes; then
	exe=$(systemctl show -P ExecStart "$svc" | sed -n 's/.*path=\([^ ;]*\).*/\1/p')
	# "MODE works|no REASON" for each attach mode, from `rawtpd --probe --json` on stdin.
	modes_of() {
		python3 -c 'import json, sys
text, dec, docs, i = sys.stdin.read(), json.JSONDecoder(), [], 0
while True:
    i = text.find("{", i)
    if i < 0:
        break
    try:
        d, i = dec.raw_decode(text, i)
        docs.append(d)
    except ValueError:
        i += 1
for m in docs[-1]["attach_modes"] if docs else []:
    print(m["mode"], "works" if m["works"] else "no", m.get("reason") or "")'
	}
	# probe_in_unit [DROP-IN LINES]: the same probe inside rawtpd.service, with its user,
	# capabilities and sandbox (a drop-in makes it a oneshot running --probe --json). Its
	# stdout goes to a file, opened by systemd before the sandbox is set up: read from the
	# journal, the end of it may not be there yet when systemctl returns.
	probe_in_unit() {
		local d=/run/systemd/system/$svc.d out=/run/rawtpd-test/probe.json
		mkdir -p "$d" /run/rawtpd-test
		rm -f "$out"
		{
			printf '[Service]\nType=oneshot\nRestart=no\nWatchdogSec=0\n'
			printf 'ExecStart=\nExecStart=%s --probe --json\n' "$exe"
			printf 'StandardOutput=truncate:%s\n' "$out"
			printf '%s' "${1:-}"
		} >"$d/90-probe.conf"
		systemctl daemon-reload
		systemctl start "$svc" || true
		modes_of <"$out" || true
		rm -f "$d/90-probe.conf"
		systemctl daemon-reload
	}
	systemctl stop "$svc" || true
	root_modes=$("$exe" --probe --json 2>/dev/null | modes_of || true)
	unit_modes=$(probe_in_unit)
	note "attach modes, rawtpd --probe as root outside the unit:"
	indent <<<"$root_modes"
	note "attach modes, the same inside rawtpd.service:"
	indent <<<"$unit_modes"
	works() { grep -q "^$1 works" <<<"$2"; }
	for m in tp_btf raw_tp tracepoint kprobe; do
		if ! works "$m" "$root_modes"; then
			ok "attach = $m under the unit # SKIP: does not work as root either on this kernel"
		elif works "$m" "$unit_modes"; then
			ok "attach = $m works under the unit as shipped"
		else
			case $m in
			tracepoint) dropin=$'AmbientCapabilities=CAP_DAC_READ_SEARCH\nCapabilityBoundingSet=CAP_DAC_READ_SEARCH\n' ;;
			kprobe) dropin=$'ProtectKernelTunables=no\n' ;;
			*) dropin= ;;
			esac
			if [ -z "$dropin" ]; then
				not_ok "attach = $m works under the unit as shipped"
				continue
			fi
			# rawtpd(8): on Debian's kernels (perf_event_paranoid=3) perf_event_open() wants
			# CAP_SYS_ADMIN unless the sysctl is brought down to the upstream default, 2.
			paranoid=$(sysctl -n kernel.perf_event_paranoid)
			recipe="the drop-in rawtpd(8) gives"
			if [ "$paranoid" -gt 2 ]; then
				sysctl -q -w kernel.perf_event_paranoid=2
				recipe+=" and kernel.perf_event_paranoid=2 (was $paranoid)"
			fi
			note "attach = $m: trying $recipe"
			with=$(probe_in_unit "$dropin")
			sed -n "s/^$m /#   /p" <<<"$with"
			check "attach = $m works with $recipe" works "$m" "$with"
			sysctl -q -w kernel.perf_event_paranoid="$paranoid"
		fi
	done
	systemctl reset-failed "$svc" 2>/dev/null || true
fi

if [ "$mode" != machinery ] && want socket; then
	# Socket activation: systemd owns the port, the first connection starts the service.
	systemctl stop "$svc" || true
	if systemctl start rawtpd.socket; then
		ok "rawtpd.socket starts"
		check "rawtpd.service is not running before the first connection" \
			test "$(prop ActiveState)" != active
		c=$(cursor)
		# The whole body first: `curl | grep -q` fails with curl's "Failed writing body"
		# whenever grep has matched and gone before curl has written the rest.
		first_scrape() {
			local body
			body=$(curl -fsS --max-time 90 "http://127.0.0.1:$port/metrics") &&
				grep -q '^rawtpd_build_info{' <<<"$body"
		}
		check "GET /metrics through rawtpd.socket starts the service and is answered" first_scrape
		check "active (running) by socket activation" wait_for 60 is_running
		from_systemd() { journal_since "$c" --grep 'passed by systemd' >/dev/null; }
		check "rawtpd serves the socket passed by systemd" from_systemd
		systemctl stop rawtpd.socket "$svc" || true
	else
		not_ok "rawtpd.socket starts"
	fi
fi

# ---- group_by = unit: two transient units compete for one CPU -------------------------------

# unit_metric NAME UNIT [MORE]: the value of the sample of NAME whose labels start with
# unit="UNIT" (and hold MORE), from the body in $metrics.
unit_metric() {
	grep -F "$1{unit=\"$2\"" <<<"$metrics" | grep -F -- "${3:-}" | grep -v by_unit |
		head -n 1 | sed 's/.* //'
}
# Seconds (a decimal) to nanoseconds, exactly.
to_ns() { python3 -c 'import sys; from decimal import Decimal; print(int(Decimal(sys.argv[1]) * 10**9))' "$1"; }

if [ "$mode" != machinery ] && want groups; then
	cp "$conf" /run/rawtpd-test-conf.orig 2>/dev/null || true
	mkdir -p /run/rawtpd-test
	printf '[daemon]\ninterval = 1s\n[metrics]\ngroup_by = unit\n' >"$conf"
	systemctl restart "$svc" || true
	check "rawtpd restarts with group_by = unit" wait_for 60 is_running
	latency=$(http /api/v1/status | python3 -c 'import json, sys
print("yes" if json.load(sys.stdin).get("counting_latency") else "no")' || echo no)
	note "counting latency histograms and preemptions: $latency ($(uname -r))"
	# a real Prometheus scrapes it every second from before the hogs start (if installed)
	prom_pid=
	if command -v prometheus >/dev/null; then
		mkdir -p /run/rawtpd-test/prom
		printf 'global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: rawtpd\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' \
			"$port" >/run/rawtpd-test/prom.yml
		prometheus --config.file=/run/rawtpd-test/prom.yml \
			--storage.tsdb.path=/run/rawtpd-test/prom --web.listen-address=127.0.0.1:9099 \
			>/run/rawtpd-test/prom.log 2>&1 &
		prom_pid=$!
		prom_up() { curl -fsS --max-time 5 http://127.0.0.1:9099/-/ready >/dev/null; }
		wait_for 60 prom_up || note "Prometheus did not get ready"
	fi
	hog='import time
end = time.monotonic() + 4
while time.monotonic() < end:
    pass
time.sleep(1000)'
	for u in a b; do
		systemctl reset-failed "rawtpd-hog-$u.service" 2>/dev/null || true
		systemd-run -q --unit="rawtpd-hog-$u" -p CPUAffinity=0 /usr/bin/python3 -c "$hog"
	done
	# a container scope made by hand, as docker's systemd driver names it
	hex=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	scope=/sys/fs/cgroup/rawtpd-test.slice/docker-$hex.scope
	mkdir -p "$scope"
	python3 -c 'import time
while True: time.sleep(0.01)' &
	ctr=$!
	echo "$ctr" >"$scope/cgroup.procs"
	# until both hogs have spun their 4 s and sleep (python's start is slow under TCG), then
	# three intervals
	asleep() {
		local u p
		for u in a b; do
			p=$(systemctl show -P MainPID "rawtpd-hog-$u.service")
			[ "$p" != 0 ] && [ "$(cut -d' ' -f3 "/proc/$p/stat")" = S ] || return 1
		done
	}
	sleep 4
	wait_for 120 asleep || note "the hogs did not settle"
	sleep 3
	metrics=$(http /metrics || true)
	for u in a b; do
		unit=rawtpd-hog-$u.service
		pid=$(systemctl show -P MainPID "$unit")
		read -r _ rd pc <"/proc/$pid/schedstat"
		ran=$(sed -n 's/^se.sum_exec_runtime *: *//p' "/proc/$pid/sched")
		usage=$(sed -n 's/^usage_usec //p' "/sys/fs/cgroup/system.slice/$unit/cpu.stat")
		cpu=$(unit_metric rawtpd_process_cpu_seconds_total "$unit")
		wait=$(unit_metric rawtpd_process_run_queue_wait_seconds_total "$unit")
		note "$unit: rawtpd CPU ${cpu:-?} s, wait ${wait:-?} s; kernel run_delay $rd ns, pcount $pc, cpu.stat usage $usage us, sum_exec_runtime $ran ms"
		cpu_ns=$(to_ns "${cpu:-0}")
		close() { python3 -c 'import sys; a, b = int(sys.argv[1]), int(sys.argv[2]); sys.exit(abs(a - b) > 0.02 * b)' "$@"; }
		check "$unit: CPU within 2% of its cgroup's cpu.stat usage_usec" close "$cpu_ns" "$((usage * 1000))"
		check "$unit: wait is its process's run_delay (schedstat), exactly" test "$(to_ns "${wait:-0}")" = "$rd"
		spun() { [ "$rd" -gt 500000000 ]; }
		check "$unit: it waited for its CPU (the two units shared it)" spun
		if [ "$latency" = yes ]; then
			count=$(unit_metric rawtpd_run_queue_latency_seconds_count "$unit")
			near() { python3 -c 'import sys; a, b = float(sys.argv[1]), int(sys.argv[2]); sys.exit(abs(a - b) > 2 + 0.01 * b)' "$@"; }
			check "$unit: latency histogram count ${count:-?} is its switch-ins (pcount $pc)" near "${count:-0}" "$pc"
		fi
	done
	if [ "$latency" = yes ]; then
		ab=$(grep -F 'rawtpd_preemptions_total{unit="rawtpd-hog-a.service",by_unit="rawtpd-hog-b.service"}' <<<"$metrics" | sed 's/.* //')
		ba=$(grep -F 'rawtpd_preemptions_total{unit="rawtpd-hog-b.service",by_unit="rawtpd-hog-a.service"}' <<<"$metrics" | sed 's/.* //')
		both() { [ "${ab:-0}" -gt 0 ] && [ "${ba:-0}" -gt 0 ]; }
		check "preemptions counted both ways between the two units (a by b ${ab:-0}, b by a ${ba:-0})" both
		groups=$(http '/api/v1/groups?by=unit' || true)
		p99() { python3 -c 'import json, sys
g = {x["unit"]: x for x in json.load(sys.stdin)["groups"]}
l = g["rawtpd-hog-a.service"]["run_queue_latency"]
sys.exit(not (l["p99_seconds"] >= l["p50_seconds"] > 0))' <<<"$groups"; }
		check "/api/v1/groups has hog-a's p50 and p99 wait" p99
		if [ -n "$prom_pid" ]; then
			sleep 2 # two more scrapes
			# histogram_quantile() over the unit's buckets as Prometheus stored them, and
			# the bucket rawtpd's own p50 lies in: the same one
			q='histogram_quantile(0.5, sum by (le) (rawtpd_run_queue_latency_seconds_bucket{unit="rawtpd-hog-a.service"}))'
			promq=$(curl -fsS --max-time 20 -G http://127.0.0.1:9099/api/v1/query \
				--data-urlencode "query=$q" || true)
			same_bucket() { python3 -c 'import json, math, sys
prom = json.loads(sys.argv[1])["data"]["result"]
ours = {x["unit"]: x for x in json.loads(sys.argv[2])["groups"]}
mine = ours["rawtpd-hog-a.service"]["run_queue_latency"]["p50_seconds"]
theirs = float(prom[0]["value"][1])
print("#   Prometheus histogram_quantile(0.5):", theirs, "s; rawtpd p50:", mine, "s")
# bucket k holds (2^(9+k), 2^(10+k)] ns: the same k for both
k = lambda v: math.ceil(math.log2(v * 1e9)) - 10
sys.exit(not (theirs > 0 and k(theirs) == k(mine)))' "$promq" "$groups"; }
			check "Prometheus scrapes it: histogram_quantile() over hog-a's buckets is in rawtpd's p50 bucket" same_bucket
		fi
	else
		ok "latency histograms and preemptions # SKIP: the process data path ($(uname -r) is before 6.5)"
	fi
	container() { grep -Fq "rawtpd_process_cpu_seconds_total{unit=\"docker-$hex.scope\",container_id=\"$hex\"}" <<<"$metrics"; }
	check "a docker-<id>.scope made by hand is a unit with its container_id" container
	kill "$ctr" ${prom_pid:+"$prom_pid"} 2>/dev/null || true
	wait "$ctr" ${prom_pid:+"$prom_pid"} 2>/dev/null || true
	systemctl stop rawtpd-hog-a.service rawtpd-hog-b.service 2>/dev/null || true
	rmdir "$scope" /sys/fs/cgroup/rawtpd-test.slice 2>/dev/null || true
	if [ -e /run/rawtpd-test-conf.orig ]; then cp /run/rawtpd-test-conf.orig "$conf"; fi
	systemctl restart "$svc" || true
fi

# ---- deb: remove and purge -------------------------------------------------------------------

if [ "$mode" = deb ]; then
	systemctl start "$svc" || true
	if dpkg -r rawtpd >/tmp/dpkg-r.log 2>&1; then ok "dpkg -r removes the package"; else
		not_ok "dpkg -r removes the package"
		sed 's/^/#   /' /tmp/dpkg-r.log
	fi
	check "the service is stopped on removal" test "$(prop ActiveState)" != active
	check "the binary is gone" test ! -e /usr/sbin/rawtpd
	check "the configuration stays until purge" test -e /etc/rawtpd/rawtpd.conf
	if dpkg -P rawtpd >/tmp/dpkg-p.log 2>&1; then ok "dpkg -P purges the package"; else
		not_ok "dpkg -P purges the package"
		sed 's/^/#   /' /tmp/dpkg-p.log
	fi
	check "the configuration is gone after purge" test ! -e /etc/rawtpd/rawtpd.conf
	purged() { ! dpkg-query -W -f '${Status}' rawtpd 2>/dev/null | grep -q installed; }
	check "dpkg knows nothing of rawtpd after purge" purged
fi

note "done in $((SECONDS - t0)) s"
echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
