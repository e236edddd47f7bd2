# SPDX-License-Identifier: GPL-2.0-only
"""Faults: what the daemon does when the kernel says no, and what it leaves behind.

Injected with a real mechanism, not a debug switch: the daemon (on the process data path, whose
map reads are bpf(2) calls; the thread path reads its slots through a mapping) runs under a
seccomp filter
that hands its bpf(2) map reads (BPF_MAP_LOOKUP_BATCH, and BPF_MAP_GET_NEXT_KEY where a
scenario needs it) to this script (SECCOMP_RET_USER_NOTIF). The script lets each call
through to the kernel, fails it with an errno, or holds it, as the scenario wants:

  refuse-batch  the kernel refuses batch lookups (EINVAL, as before Linux 5.6): the daemon
                falls back to key-by-key reads and still counts right;
  fail-reads    every map read fails (EIO) for a few intervals: reported in the log, the
                previous snapshot keeps being served, /-/healthy turns 503 once it lasts 3
                intervals, the failures are counted, and all recovers after;
  fail-iter     key-by-key mode, and the key walk fails half-way: must be an error, not a
                short map (which would fold every unlisted live process as exited and count
                it again when it reappears);
  stall         a map read hangs: the aggregation loop is stuck, scrapes still answer from
                the previous snapshot, /-/healthy is 503 until it comes back.

Also: kill -9 leaves no BPF program, link or map behind (the ids the daemon held, read from
its /proc/PID/fdinfo, are gone from bpftool's lists); a restart starts clean; losing tracefs
(in a private mount namespace) does not stop the tracepoint mode once attached, and a start
without it fails with a message saying so."""
import ctypes
import errno
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import RAWTPD, Checker, Daemon, find_process  # noqa: E402
from rawtpd_test import proc_counts, require_root  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

class FaultDaemon(Daemon):
    """Daemon, started through a wrapper command or with a hook run before exec."""

    def __init__(self, *args, interval="300ms", preexec_fn=None, wrap=()):
        super().__init__(*args, interval=interval, preexec_fn=preexec_fn, wrap=wrap)


# --- seccomp user notification, with ctypes (x86_64 and aarch64) -------------------------

ARCH = os.uname().machine
SYSCALLS = {"x86_64": (0xC000003E, 317, 321), "aarch64": (0xC00000B7, 277, 280)}
BPF_MAP_LOOKUP_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_BATCH = 1, 4, 24
CMD_NAMES = {1: "LOOKUP_ELEM", 4: "GET_NEXT_KEY", 24: "LOOKUP_BATCH"}
SECCOMP_SET_MODE_FILTER, SECCOMP_GET_NOTIF_SIZES = 1, 3
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_RET_ALLOW, SECCOMP_RET_USER_NOTIF = 0x7FFF0000, 0x7FC00000
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


class SeccompData(ctypes.Structure):
    _fields_ = [("nr", ctypes.c_int), ("arch", ctypes.c_uint32),
                ("instruction_pointer", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6)]


class SeccompNotif(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("data", SeccompData)]


class SeccompNotifResp(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("val", ctypes.c_int64), ("error", ctypes.c_int32),
                ("flags", ctypes.c_uint32)]


def _iowr(nr, size):
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


NOTIF_RECV = _iowr(0, ctypes.sizeof(SeccompNotif))
NOTIF_SEND = _iowr(1, ctypes.sizeof(SeccompNotifResp))
libc = ctypes.CDLL(None, use_errno=True)


def notif_sizes_ok():
    if ARCH not in SYSCALLS:
        return False
    sizes = (ctypes.c_uint16 * 3)()
    if libc.syscall(SYSCALLS[ARCH][1], SECCOMP_GET_NOTIF_SIZES, 0, sizes) != 0:
        return False
    return (sizes[0] == ctypes.sizeof(SeccompNotif) and
            sizes[1] == ctypes.sizeof(SeccompNotifResp) and
            sizes[2] == ctypes.sizeof(SeccompData))


def bpf_read_filter(cmds):
    """Allow everything but bpf(2) with one of cmds, which goes to the listener."""
    audit_arch, _, nr_bpf = SYSCALLS[ARCH]
    ld, jeq, ret = 0x20, 0x15, 0x06
    n = len(cmds)
    insns = [
        (ld, 0, 0, 4),                                     # A = arch
        (jeq, 0, n + 3, audit_arch),                       # -> allow
        (ld, 0, 0, 0),                                     # A = nr
        (jeq, 0, n + 1, nr_bpf),                           # -> allow
        (ld, 0, 0, 16),                                    # A = low half of args[0] (cmd)
    ]
    insns += [(jeq, n - i, 0, cmd) for i, cmd in enumerate(cmds)]   # -> notify
    insns += [(ret, 0, 0, SECCOMP_RET_ALLOW), (ret, 0, 0, SECCOMP_RET_USER_NOTIF)]
    return (SockFilter * len(insns))(*[SockFilter(*i) for i in insns])


class Injector:
    """Runs rawtpd under the filter and answers its map reads in the current mode."""

    def __init__(self, *args, interval="300ms", cmds=(BPF_MAP_LOOKUP_BATCH,)):
        self.mode = "pass"
        self.after = 0          # let this many read calls through before the mode applies
        self.counts = {}        # (cmd, outcome) -> calls
        self.held = []          # notifications held in "stall" mode
        self.lock = threading.Lock()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        # Each intercepted call is a round trip through this script: only the commands a
        # scenario needs (the rename map is walked with GET_NEXT_KEY too, and can be long).
        filt = bpf_read_filter(cmds)
        self._prog = SockFprog(len(filt), filt)

        def install():
            fd = libc.syscall(SYSCALLS[ARCH][1], SECCOMP_SET_MODE_FILTER,
                              SECCOMP_FILTER_FLAG_NEW_LISTENER, ctypes.byref(self._prog))
            if fd < 0:
                os._exit(99)
            socket.send_fds(child, [b"fd"], [fd])
            os.close(fd)

        # the process data path: the thread path reads its slots in place, with no bpf(2)
        # call to fail or hold
        self.daemon = FaultDaemon("--data-path", "process", *args, interval=interval,
                                  preexec_fn=install)
        child.close()
        _, fds, _, _ = socket.recv_fds(parent, 16, 1)
        parent.close()
        self.fd = fds[0]
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def set_mode(self, mode, after=0):
        with self.lock:
            self.mode = mode
            self.after = after
            held, self.held = self.held, []
        for req_id in held:  # let stalled calls go on
            self._reply(req_id, 0, True)

    def count(self, cmd, outcome):
        with self.lock:
            return self.counts.get((cmd, outcome), 0)

    def _reply(self, req_id, err, cont):
        resp = SeccompNotifResp(id=req_id, val=0, error=-err if err else 0,
                                flags=SECCOMP_USER_NOTIF_FLAG_CONTINUE if cont else 0)
        # ENOENT: the call was interrupted meanwhile; nothing to answer
        libc.ioctl(self.fd, NOTIF_SEND, ctypes.byref(resp))

    def _decide(self, cmd):
        if self.after > 0:
            self.after -= 1
            return "pass"
        m = self.mode
        if m == "refuse-batch":
            return "einval" if cmd == BPF_MAP_LOOKUP_BATCH else "pass"
        if m == "fail-reads":
            return "eio"
        if m == "fail-iter":  # key-by-key mode, and the walk fails past its start
            if cmd == BPF_MAP_LOOKUP_BATCH:
                return "einval"
            return "eio" if cmd == BPF_MAP_GET_NEXT_KEY else "pass"
        if m == "stall":
            return "hold"
        return "pass"

    def _serve(self):
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self.stop_event.is_set():
            if not poller.poll(100):
                continue
            req = SeccompNotif()
            if libc.ioctl(self.fd, NOTIF_RECV, ctypes.byref(req)) != 0:
                if ctypes.get_errno() in (errno.ENOENT, errno.EINTR):
                    continue
                return  # the daemon is gone
            cmd = req.data.args[0] & 0xFFFFFFFF
            with self.lock:
                what = self._decide(cmd)
                self.counts[(cmd, what)] = self.counts.get((cmd, what), 0) + 1
                if what == "hold":
                    self.held.append(req.id)
                    continue
            if what == "pass":
                self._reply(req.id, 0, True)
            else:
                self._reply(req.id, errno.EINVAL if what == "einval" else errno.EIO, False)

    def __enter__(self):
        self.daemon.__enter__()
        return self

    def __exit__(self, *exc):
        self.set_mode("pass")
        self.daemon.stop()
        self.stop_event.set()
        self.thread.join()
        os.close(self.fd)

    def summary(self):
        with self.lock:
            return ", ".join(f"{CMD_NAMES.get(c, c)} {o} x{n}"
                             for (c, o), n in sorted(self.counts.items()))


# --- helpers -------------------------------------------------------------------------------

def status(d):
    return d.json("/api/v1/status")


def healthy(d):
    return d.get("/-/healthy")[0]


def wait_for(pred, seconds, step=0.1):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def totals(doc):
    t = doc["totals"]
    return (t["context_switches"]["voluntary"], t["context_switches"]["involuntary"],
            t["cpu_seconds"], t["processes_exited"])


def start_workload(*args):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "workload.py"), *args],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "done"
    return p


def end_workload(p):
    p.stdin.close()
    p.wait(10)


# --- scenarios ----------------------------------------------------------------------------

def refuse_batch(t):
    with Injector("--log-level", "debug") as inj:
        inj.set_mode("refuse-batch")
        w = start_workload("sleep", "300")
        try:
            inj.daemon.wait_aggregations(3)
            doc = inj.daemon.json("/api/v1/processes")
            p = find_process(doc, w.pid)
            vol = proc_counts(w.pid)[0]  # the kernel's own figure; the workload now blocks
            t.check(p is not None and abs(p["context_switches"]["voluntary"] - vol) <= 3,
                    f"batch refused: key-by-key reads count the workload "
                    f"({p and p['context_switches']}, the kernel says {vol} voluntary)")
        finally:
            end_workload(w)
        refused = inj.count(BPF_MAP_LOOKUP_BATCH, "einval")
        print(f"  {inj.summary()}")
        t.check(refused >= 1, f"batch refused {refused} time(s)")
        t.check(refused <= 2, "the daemon stops asking for batches once refused")
        t.check(healthy(inj.daemon) == 200, "healthy in key-by-key mode")
        t.check("reading key by key" in inj.daemon.logs(), "the fallback is logged (debug)")


def fail_reads(t):
    with Injector() as inj:
        d = inj.daemon
        d.wait_aggregations(2)
        st0 = status(d)
        before = totals(d.json("/api/v1/processes"))
        _, body0 = d.metrics()
        interval = st0["interval_seconds"]
        inj.set_mode("fail-reads")
        failed = wait_for(lambda: inj.count(BPF_MAP_LOOKUP_BATCH, "eio") >= 2, 60)
        t.check(failed, "map reads were failed")
        # /-/healthy turns 503 once the snapshot is older than 3 intervals (bounded wait)
        code = wait_for(lambda: healthy(d) == 503 and 503, 3 * interval + 20)
        t.check(code == 503, "map reads failing: /-/healthy turns 503 once it lasts")
        st1 = status(d)
        t.check(st1["last_aggregation_timestamp"] == wait_for(
            lambda: status(d)["last_aggregation_timestamp"], 0) and
            st1["aggregations"] <= st0["aggregations"] + 2,
            "no new snapshot while reads fail")
        _, body1 = d.metrics()
        t.check(body1.count("\n") > 10 and "rawtpd_build_info" in body1,
                "/metrics keeps serving the previous snapshot")
        logs = d.logs()
        t.check("Failed to read the BPF map" in logs, "the failure is in the log")
        n_warn = logs.count("Failed to read the BPF map")
        inj.set_mode("pass")
        code = wait_for(lambda: healthy(d) == 200 and 200, 30)
        t.check(code == 200, "healthy again once reads work")
        d.wait_aggregations(2)
        st2 = status(d)
        t.check(st2["aggregation_failures"] > st0["aggregation_failures"],
                f"failures counted: {st0['aggregation_failures']} -> "
                f"{st2['aggregation_failures']}")
        after = totals(d.json("/api/v1/processes"))
        t.check(all(b >= a for a, b in zip(before, after)), "totals never went down")
        print(f"  {n_warn} warnings while failing; exited {before[3]} -> {after[3]} (the "
              f"host's own exits meanwhile); {inj.summary()}")


# Run through a symlink named like the wanted comm, so the name is the one exec gave it from the
# start (the BPF side records a process's name at its first switch).
NAMED_CHILD = r"""
import sys, time
sys.stdin.readline()  # "go" once the daemon shows the new name
for _ in range(300):
    time.sleep(0.001)
print("done", flush=True)
sys.stdin.read(1)
"""


def series_value(text, comm, kind="voluntary"):
    want = (f'rawtpd_process_context_switches_total{{comm="{comm}",type="{kind}"}} ')
    for line in text.splitlines():
        if line.startswith(want):
            return int(line[len(want):])
    return None


def fail_iter(t):
    """Key-by-key mode, and one interval's key walk breaks off: an error, not a short map.

    With group_by = comm a name's series sums its live and exited processes, so a process
    wrongly folded as exited and then read back from the map shows up twice."""
    comm = f"rtpdflt{os.getpid() % 100000}"
    with Injector("--group-by", "comm",
                  cmds=(BPF_MAP_LOOKUP_BATCH, BPF_MAP_GET_NEXT_KEY)) as inj:
        d = inj.daemon
        inj.set_mode("refuse-batch")
        link = f"/tmp/{comm}"
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.realpath(sys.executable), link)
        w = subprocess.Popen([link, "-c", NAMED_CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        try:
            # Counts made under an earlier name stay with that name (python3 before the
            # exec): start counting once the daemon has taken the rename.
            named = wait_for(lambda: (find_process(d.json("/api/v1/processes"), w.pid) or
                                      {}).get("comm") == comm, 60)
            t.check(named, f"the daemon shows the new name {comm}")
            w.stdin.write("go\n")
            w.stdin.flush()
            assert w.stdout.readline().strip() == "done"
            time.sleep(0.2)  # blocked on stdin from here: its counts stay as they are
            d.wait_aggregations(3)
            c0 = series_value(d.metrics()[1], comm)
            before = totals(d.json("/api/v1/processes"))
            # break the walk for a few intervals (four broken walks, bounded wait); a short
            # map would publish a snapshot without the processes it missed
            n0 = d.json("/api/v1/status")["processes_live"]
            min_live, missing = n0, 0
            inj.set_mode("fail-iter")
            deadline = time.time() + 60
            while inj.count(BPF_MAP_GET_NEXT_KEY, "eio") < 4 and time.time() < deadline:
                doc = d.json("/api/v1/processes")
                min_live = min(min_live, len(doc["processes"]))
                missing += find_process(doc, w.pid) is None
                time.sleep(0.05)
            inj.set_mode("refuse-batch")
            t.check(min_live >= n0 // 2 and not missing,
                    f"live processes stay listed while the walk breaks ({n0} -> at least "
                    f"{min_live}; the workload missing from {missing} scrapes)")
            d.wait_aggregations(3)
            c1 = series_value(d.metrics()[1], comm)
            after = totals(d.json("/api/v1/processes"))
            print(f"  {comm}: voluntary {c0} -> {c1}; exited {before[3]} -> {after[3]}; "
                  f"{inj.summary()}")
            vol = proc_counts(w.pid)[0]
            if not t.check(c0 is not None and 300 <= c0 <= vol,
                           f"the named process is counted ({c0}, the kernel says {vol})"):
                print(f"  as listed: {find_process(d.json('/api/v1/processes'), w.pid)}")
                print("  " + "\n  ".join(line for line in d.metrics()[1].splitlines()
                                          if "python" in line or comm in line))
            t.check(c0 is not None and c1 is not None and c1 - c0 <= 3,
                    f"a broken key walk does not count a live process twice ({c0} -> {c1})")
            t.check(inj.count(BPF_MAP_GET_NEXT_KEY, "eio") > 0, "the walk was broken")
            t.check("Failed to read the BPF map" in d.logs(), "the broken walk is reported")
            t.check(all(b >= a for a, b in zip(before, after)), "totals never went down")
        finally:
            w.stdin.close()
            w.wait(10)
            os.unlink(link)


def stall(t):
    with Injector() as inj:
        d = inj.daemon
        d.wait_aggregations(2)
        interval = status(d)["interval_seconds"]
        inj.set_mode("stall")
        code = wait_for(lambda: healthy(d) == 503 and 503, 3 * interval + 20)
        t.check(code == 503, "aggregation stuck in a map read: /-/healthy 503")
        s, _, body = d.get("/metrics")
        t.check(s == 200 and b"rawtpd_build_info" in body,
                "scrapes still answer from the previous snapshot while it is stuck")
        s, _, _ = d.get("/api/v1/processes?top=3&sort=cpu")
        t.check(s == 200, "queries too")
        inj.set_mode("pass")
        code = wait_for(lambda: healthy(d) == 200 and 200, 30)
        t.check(code == 200, "healthy again once the read returns")


# --- BPF objects left behind --------------------------------------------------------------

def held_bpf_ids(pid):
    """The BPF prog/map/link ids a process holds fds of (from /proc/PID/fdinfo)."""
    ids = {"prog": set(), "map": set(), "link": set()}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in ("prog_id", "map_id", "link_id"):
                        ids[k[:-3]].add(int(v))
        except OSError:
            pass
    return ids


def bpftool_ids(kind):
    r = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        return None
    return {o["id"] for o in json.loads(r.stdout or "[]")}


def kill9(t):
    if not shutil.which("bpftool"):
        print("  bpftool missing: kill -9 check skipped")
        return
    d = Daemon(interval="300ms")
    d.__enter__()
    ids = held_bpf_ids(d.proc.pid)
    listed = {k: bpftool_ids(k) for k in ids}
    print(f"  daemon holds progs {sorted(ids['prog'])}, maps {sorted(ids['map'])}, "
          f"links {sorted(ids['link'])}")
    t.check(ids["prog"] and ids["map"] and ids["link"],
            "the running daemon holds BPF programs, maps and links")
    t.check(all(ids[k] <= listed[k] for k in ids), "bpftool lists each of them")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(20)
    # The kernel frees BPF objects when their last reference goes; that is deferred a little.
    deadline = time.time() + 30
    while time.time() < deadline:
        left = {k: ids[k] & bpftool_ids(k) for k in ids}
        if not any(left.values()):
            break
        time.sleep(0.2)
    t.check(not any(left.values()), f"after kill -9 none is left ({left})")
    # pinned objects would survive: there must be none of ours in bpffs
    pinned = []
    if os.path.isdir("/sys/fs/bpf"):
        for root, _, files in os.walk("/sys/fs/bpf"):
            pinned += [os.path.join(root, f) for f in files if "rawtpd" in f]
    t.check(not pinned, f"nothing of rawtpd pinned in /sys/fs/bpf ({pinned})")

    # A restart starts clean: fresh objects, totals from zero again.
    with Daemon(interval="300ms") as d2:
        ids2 = held_bpf_ids(d2.proc.pid)
        t.check(not (ids2["map"] & ids["map"]), "the restart made new maps")
        st = status(d2)
        t.check(st["aggregations"] < 50 and st["uptime_seconds"] < 60,
                f"restart: {st['aggregations']} aggregations, uptime "
                f"{st['uptime_seconds']} s")
        doc = d2.json("/api/v1/processes")
        t.check(doc["totals"]["processes_exited"] < 5000,
                f"restart: exited count from zero ({doc['totals']['processes_exited']})")
        t.check(st["map_entries"] <= st["processes_live"] + 64,
                "restart: the map holds live processes only")


# --- tracefs -------------------------------------------------------------------------------

def tracefs(t):
    """In a private mount namespace, so the host's tracefs is left alone."""
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        print("  unshare/nsenter missing: tracefs check skipped")
        return
    if not os.path.exists("/sys/kernel/tracing/events/sched/sched_switch"):
        print("  tracefs not mounted here: tracefs check skipped")
        return
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        "umount /sys/kernel/tracing 2>/dev/null; "
                        "umount /sys/kernel/debug/tracing 2>/dev/null; "
                        f"exec {RAWTPD} --config /dev/null --attach tracepoint "
                        "--listen 127.0.0.1:1 --interval 1s"],
                       capture_output=True, text=True, timeout=120)
    msg = (r.stdout + r.stderr).strip().splitlines()
    t.check(r.returncode == 1 and msg and "tracepoint" in msg[-1],
            f"tracepoint mode without tracefs: exit {r.returncode}: "
            f"{msg[-1] if msg else '(nothing)'}")

    d = FaultDaemon("--attach", "tracepoint", interval="300ms",
                    wrap=["unshare", "--mount", "--propagation", "private"])
    try:
        d.__enter__()
    except RuntimeError as e:
        t.check(False, f"tracepoint mode starts: {e}")
        return
    try:
        mode = status(d)["attach_mode"]
        t.check(mode == "tracepoint", f"attached as {mode}")
        # the daemon is unshare's child after exec: same pid
        u = subprocess.run(["nsenter", "-t", str(d.proc.pid), "-m", "umount", "-l",
                            "/sys/kernel/tracing"], capture_output=True, text=True)
        t.check(u.returncode == 0, f"tracefs unmounted in the daemon's namespace {u.stderr}")
        w = start_workload("sleep", "200")
        try:
            d.wait_aggregations(3)
            p = find_process(d.json("/api/v1/processes"), w.pid)
            t.check(p is not None and p["context_switches"]["voluntary"] >= 200,
                    "still counting after tracefs went away")
        finally:
            end_workload(w)
        t.check(healthy(d) == 200, "healthy without tracefs")
    finally:
        d.stop()


def main():
    require_root()
    t = Checker()
    kill9(t)
    if notif_sizes_ok():
        refuse_batch(t)
        fail_reads(t)
        fail_iter(t)
        stall(t)
    else:
        print("  seccomp user notification is not available here: injection skipped")
    tracefs(t)
    t.done()


main()
