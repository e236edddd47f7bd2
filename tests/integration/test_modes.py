# SPDX-License-Identifier: GPL-2.0-only
"""Every attach mode this kernel offers gives the kernel's own figures; every mode it does not
offer fails clearly.

For each mode `rawtpd --probe --json` says works (tracefs is mounted first, as the classic
tracepoint needs it): the accuracy workload of test_accuracy.py under `--attach MODE`, checked
against /proc/<pid>/task/*/status and sched (switches within 1 % or 3, CPU within 2 % or 5 ms),
and a process renamed twice (prctl, then a thread writing /proc/self/comm) served under its
last name. auto: takes --probe's choice and logs each mode it passed over at info. Each mode
that does not work here: forced, rawtpd exits 1 with the --probe reason, naming mode and hook,
and no libbpf output. In private mount namespaces: tracefs unmounted and BTF hidden give the
precise causes. Prints the figures it measured (the README's accuracy table comes from here).

RAWTPD_MODES="tp_btf kprobe" limits the modes; RAWTPD_STORM_SLEEPS (3000) sizes the signal
storm. In the VM matrix this runs on 6.1 and 5.10."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import (HIDE_BTF, RAWTPD, Checker, Daemon, check_accuracy,  # noqa: E402
                         check_figures, find_process, free_port, proc_counts, require_root,
                         vmlinux_on_disk)

ORDER = ["tp_btf", "raw_tp", "tracepoint", "kprobe"]
STORM_SLEEPS = int(os.environ.get("RAWTPD_STORM_SLEEPS", "3000"))

# Renames itself (prctl), says so, waits; then a second thread renames the process through
# /proc/self/comm (the group leader's name, written by another thread), says so, blocks.
RENAMER = r"""
import ctypes, sys, threading
libc = ctypes.CDLL(None)
libc.prctl(15, ctypes.c_char_p(sys.argv[1].encode()), 0, 0, 0)
print("one", flush=True)
sys.stdin.readline()
def other():
    with open("/proc/self/comm", "w") as f:
        f.write(sys.argv[2])
t = threading.Thread(target=other)
t.start()
t.join()
print("two", flush=True)
sys.stdin.read(1)
"""


# Sleeps in a loop while the test sends it SIGUSR1 as fast as it can: some signals arrive
# after the sleeper entered the kernel but before it blocked. __schedule() then counts a
# voluntary switch yet leaves the task runnable (signal_pending_state()) with TASK_RUNNING,
# which preempt and prev_state cannot tell from a reschedule on the way back to user space.
SIGSLEEPER = r"""
import signal, sys, time
signal.signal(signal.SIGUSR1, lambda *a: None)
print("ready", flush=True)
for _ in range(int(sys.argv[1])):
    time.sleep(0.0002)
print("done", flush=True)
sys.stdin.read(1)
"""


def mount_tracefs():
    if os.path.isdir("/sys/kernel/tracing/events") or not os.path.isdir("/sys/kernel/tracing"):
        return
    r = subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"],
                       capture_output=True)
    print(f"  mounted tracefs on /sys/kernel/tracing (exit {r.returncode})")


def probe(prefix=()):
    r = subprocess.run(list(prefix) + [RAWTPD, "--probe", "--json"], capture_output=True,
                       timeout=300)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def signal_storm(t, mode, d):
    """SIGSLEEPER under a storm of signals: the split is the kernel's too (rawtpd takes it from
    the task's own nvcsw, not from preempt/prev_state, which cannot tell this case)."""
    p = subprocess.Popen([sys.executable, "-c", SIGSLEEPER, str(STORM_SLEEPS)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    done = threading.Event()

    def storm():
        while not done.is_set():
            try:
                os.kill(p.pid, signal.SIGUSR1)
            except ProcessLookupError:
                return
    sender = threading.Thread(target=storm)
    assert p.stdout.readline().strip() == b"ready"
    sender.start()
    try:
        assert p.stdout.readline().strip() == b"done"
    finally:
        done.set()
        sender.join()
    time.sleep(0.3)
    kv, ki, kns, kd = proc_counts(p.pid)
    d.wait_aggregations(3)
    got = find_process(d.json("/api/v1/processes"), p.pid)
    p.stdin.close()
    p.wait()
    if not t.check(got is not None, f"{mode}: signalled sleeper is served"):
        return
    rv = check_figures(t, f"{mode}: signalled", (kv, ki, kns, kd), got)[0]
    print(f"  figures {mode}: signalled: split off by {rv - kv:+d} "
          f"({100.0 * abs(rv - kv) / max(1, kv + ki):.2f} % of {kv + ki})")


def wait_comm(d, pid, want, deadline_s=20):
    got = None
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        got = find_process(d.json("/api/v1/processes"), pid)
        if got and got["comm"] == want:
            return want
        time.sleep(0.1)
    return got and got["comm"]


def renames(t, mode, d):
    a, b = f"rtpd-a-{mode}"[:15], f"rtpd-b-{mode}"[:15]
    p = subprocess.Popen([sys.executable, "-c", RENAMER, a, b], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"one"
        got = wait_comm(d, p.pid, a)
        t.check(got == a, f"{mode}: renamed by prctl: served as {got!r}")
        p.stdin.write(b"\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == b"two"
        got = wait_comm(d, p.pid, b)
        t.check(got == b, f"{mode}: renamed by another thread: served as {got!r}")
    finally:
        p.stdin.close()
        p.wait()


def auto(t, choice, doc):
    with Daemon("--attach", "auto", "--log-level", "info", interval="200ms") as d:
        got = d.json("/api/v1/status").get("attach_mode")
        t.check(got == choice, f"auto: attached {got}, --probe said {choice}")
        logs = d.logs()
    for m in doc["attach_modes"]:
        if m["mode"] == choice:
            break
        t.check(f"Passing over attach mode {m['mode']}: " in logs,
                f"auto: passing over {m['mode']} is logged with its reason")


def forced_failure(t, mode, reason, prefix=(), what=None):
    """rawtpd --attach mode must exit 1 with reason (or what) on stderr, nothing from libbpf."""
    port = free_port()
    cmd = list(prefix) + [RAWTPD, "--attach", mode, "--listen", f"127.0.0.1:{port}",
                          "--config", "/dev/null"]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        t.check(False, f"{mode} forced: exits (it kept running)")
        return ""
    err = r.stderr.decode(errors="replace")
    t.check(r.returncode == 1, f"{mode} forced: exit {r.returncode}, expected 1")
    lines = [ln for ln in err.splitlines() if f"{mode}: " in ln]
    t.check(len(lines) == 1, f"{mode} forced: one message naming the mode ({len(lines)})")
    if reason:
        t.check(reason in err, f"{mode} forced: the message is --probe's reason")
    if what:
        for w in what:
            t.check(w in err, f"{mode} forced: says {w!r}")
    t.check("libbpf" not in err, f"{mode} forced: no libbpf output")
    t.check(not any(ln.strip().endswith(": No such file or directory") for ln in err.splitlines()),
            f"{mode} forced: no bare 'No such file or directory'")
    print(f"  {mode} forced: {lines[0] if lines else err.strip()}")
    return err


def private_ns_checks(t):
    """Causes detected precisely: tracefs unmounted, no BTF. In private mount namespaces."""
    if not shutil.which("unshare"):
        print("  unshare missing: skipping the mount namespace checks")
        return
    unmount = ("umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/debug "
               "2>/dev/null; umount /sys/kernel/tracing 2>/dev/null; exec \"$@\"")
    prefix = ["unshare", "-m", "sh", "-c", unmount, "sh"]
    forced_failure(t, "tracepoint", None, prefix,
                   ["tracepoint sched:sched_switch", "tracefs is not mounted at "
                    "/sys/kernel/tracing", "mount -t tracefs tracefs /sys/kernel/tracing"])

    if vmlinux_on_disk():
        print("  a vmlinux with BTF is on disk: skipping the no-BTF check")
        return
    prefix = HIDE_BTF
    forced_failure(t, "raw_tp", None, prefix, ["the kernel has no BTF", "CONFIG_DEBUG_INFO_BTF"])
    rc, out, err = probe(prefix)
    t.check(rc == 0, f"--probe without BTF exits 0 (got {rc}: {err.strip()[:200]})")
    try:
        doc = json.loads(out)
        t.check(doc["btf"] is False and doc["auto_choice"] is None,
                "--probe without BTF: btf false, auto_choice null")
        t.check(not any(m["works"] for m in doc["attach_modes"]),
                "--probe without BTF: no mode works")
    except (ValueError, KeyError) as e:
        t.check(False, f"--probe without BTF prints its JSON ({e})")


def main():
    require_root()
    t = Checker()
    mount_tracefs()
    rc, out, err = probe()
    if not t.check(rc == 0, f"--probe --json exits 0 (got {rc}: {err.strip()[:300]})"):
        t.done()
    doc = json.loads(out)
    modes = {m["mode"]: m for m in doc["attach_modes"]}
    t.check(list(modes) == ORDER, f"--probe lists {list(modes)}")
    print(f"  kernel {doc['kernel_release']}: " + ", ".join(
        f"{m} {'works' if modes[m]['works'] else 'no'}" for m in ORDER) +
        f"; auto: {doc['auto_choice']}")
    only = os.environ.get("RAWTPD_MODES", "").split() or ORDER

    for mode in ORDER:
        if mode not in only:
            continue
        m = modes[mode]
        if m["works"]:
            # auto's data path for the mode, and the process path too where that is thread
            # (RAWTPD_BOTH_PATHS=0: auto's only, as the emulated guests run it)
            both = os.environ.get("RAWTPD_BOTH_PATHS", "1") != "0"
            paths = [None] + (["process"] if both and m.get("data_path") == "thread" else [])
            for path in paths:
                args = ("--attach", mode) + (("--data-path", path) if path else ())
                label = f"{mode}/{path or m.get('data_path')}"
                with Daemon(*args, interval="200ms") as d:
                    st = d.json("/api/v1/status")
                    t.check(st.get("data_path") == (path or m.get("data_path")),
                            f"{label}: status says data_path {st.get('data_path')} "
                            f"({st.get('data_path_reason')})")
                    check_accuracy(t, d, mode)
                    signal_storm(t, mode, d)
                    renames(t, mode, d)
        else:
            forced_failure(t, mode, m["reason"], what=[m["hook"]])
    if doc["auto_choice"]:
        auto(t, doc["auto_choice"], doc)
    private_ns_checks(t)
    t.done()


main()
