#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""How rawtpd's cost grows with the processes on the host, per data path.

    /usr/bin/python3 tests/bench/scale.py BUILD_DIR [N ...]      (root; default N: 10000 100000)
    SCALE_PATHS=thread ... measures the thread data path only (default: "thread process")

For each N: bench-sleepers starts N real processes (kernel.pid_max is raised for them and put
back afterwards), rawtpd starts on each data path with room for them, every sleeper is woken
once, and once the map holds them all the script reads, over several intervals, what the
daemon reports of itself: the cycle (map read, aggregation, snapshot and text exposition) from
/api/v1/status, and the BPF maps' memory. Besides the kernel's memlock (which for task local
storage leaves the per-thread elements out), the kernel memory rawtpd's start adds is read
from /proc/meminfo (Slab + Percpu) with the sleepers already running.
Prints figures; never fails on a timing (exit 1 only when something did not run).
"""
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
LEVELS = [int(a) for a in sys.argv[2:]] or [10000, 100000]
DAEMON = os.path.join(BUILD, "daemon", "rawtpd")
SLEEPERS = os.path.join(BUILD, "tests", "bench", "bench-sleepers")
# SCALE_PATHS="thread" measures one data path only
PATHS = os.environ.get("SCALE_PATHS", "thread process").split()


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def meminfo_kib():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            m[k] = int(v.split()[0])
    return m["Slab"] + m.get("Percpu", 0)


def memcg_dir():
    """A fresh memory cgroup for the daemon, under this process's own (v1 or v2): the kernel
    charges a BPF map's memory, task local storage elements included, to the memory cgroup
    that created the map."""
    with open("/proc/self/cgroup") as f:
        lines = [line.strip().split(":", 2) for line in f]
    for _, ctrl, path in lines:
        if ctrl == "memory" and os.path.isdir(f"/sys/fs/cgroup/memory{path}"):
            d = f"/sys/fs/cgroup/memory{path}/rawtpd-scale-{os.getpid()}"
            os.makedirs(d, exist_ok=True)
            return d, "v1"
    for _, ctrl, path in lines:
        if ctrl == "" and os.path.exists(f"/sys/fs/cgroup{path}/memory.stat"):
            d = f"/sys/fs/cgroup{path}/rawtpd-scale-{os.getpid()}"
            os.makedirs(d, exist_ok=True)
            return d, "v2"
    return None, None


def memcg_kernel_bytes(d, kind):
    if kind == "v1":
        with open(f"{d}/memory.kmem.usage_in_bytes") as f:
            return int(f.read())
    with open(f"{d}/memory.stat") as f:
        for line in f:
            k, v = line.split()
            if k == "kernel":
                return int(v)
    return 0


def wait_for(fn, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def one(n, path, port):
    sl = subprocess.Popen([SLEEPERS, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True)
    try:
        line = sl.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"bench-sleepers: {line!r}")
        time.sleep(2)
        mem0 = meminfo_kib()
        cg, kind = memcg_dir()
        argv = [DAEMON, "--config", "/dev/null", "--listen", f"127.0.0.1:{port}",
                "--data-path", path, "--max-processes", str(2 * n + 20000),
                "--log-level", "warning"]
        if cg:  # in its own memory cgroup before it makes a single map
            argv = ["/bin/sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh", *argv]
        d = subprocess.Popen(argv)
        status = f"http://127.0.0.1:{port}/api/v1/status"
        try:
            def started():
                try:
                    return json.loads(get(status)).get("aggregations", 0) >= 1
                except OSError:
                    if d.poll() is not None:
                        raise RuntimeError(f"rawtpd exited with {d.returncode}")
                    return False
            wait_for(started, 60, "rawtpd")
            time.sleep(1.5)
            cg0 = memcg_kernel_bytes(cg, kind) if cg else 0
            sl.stdin.write("poke\n")
            sl.stdin.flush()
            sl.stdout.readline()
            # a burst of new entries can empty the kernel's BPF allocator caches (counted as
            # map update failures): the sleepers that found none are counted when they next
            # run, so poke again until they all are
            st = None
            for _ in range(12):
                try:
                    st = wait_for(lambda: (lambda s: s if s["processes_live"] >= 0.98 * n
                                           else None)(json.loads(get(status))), 15,
                                  "every sleeper counted")
                    break
                except RuntimeError:
                    sl.stdin.write("poke\n")
                    sl.stdin.flush()
                    sl.stdout.readline()
            if st is None:
                raise RuntimeError("not every sleeper was counted after 12 pokes")
            failures = json.loads(get(status))["map_update_failures"]
            a0 = st["aggregations"]
            durs, colls = {}, {}
            while len(durs) < 8:
                s = json.loads(get(status))
                if s["aggregations"] > a0 + 1:
                    durs[s["aggregations"]] = s["last_aggregation_duration_seconds"]
                    colls[s["aggregations"]] = s["last_collect_duration_seconds"]
                time.sleep(0.3)
            mem1 = meminfo_kib()
            cg1 = memcg_kernel_bytes(cg, kind) if cg else 0
            body = get(f"http://127.0.0.1:{port}/metrics")
            return {"n": n, "path": s["data_path"], "live": s["processes_live"],
                    "map_update_failures": failures,
                    "cycle_ms_median": statistics.median(durs.values()) * 1e3,
                    "cycle_ms_max": max(durs.values()) * 1e3,
                    "collect_ms_median": statistics.median(colls.values()) * 1e3,
                    "memlock": s["bpf_map_memory_bytes"],
                    "kernel_kib_added": mem1 - mem0,
                    "memcg_kernel_bytes_per_process": (cg1 - cg0) / n if cg else None,
                    "metrics_bytes": len(body)}
        finally:
            d.terminate()
            d.wait(30)
            if cg:
                for _ in range(50):
                    try:
                        os.rmdir(cg)
                        break
                    except OSError:
                        time.sleep(0.2)
    finally:
        sl.stdin.close()
        sl.terminate()
        sl.wait(120)


def main():
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = f.read().strip()
    with open("/proc/sys/kernel/threads-max") as f:
        threads_max = f.read().strip()
    need = max(LEVELS) * 2 + 50000
    try:
        if int(pid_max) < need:
            with open("/proc/sys/kernel/pid_max", "w") as f:
                f.write(str(need))
        if int(threads_max) < need:
            with open("/proc/sys/kernel/threads-max", "w") as f:
                f.write(str(need))
        out = []
        for n in LEVELS:
            for path in PATHS:
                r = one(n, path, 19000 + len(out))
                out.append(r)
                mem = sum(r["memlock"].values())
                print(f"{n:>7} {r['path']:8} live {r['live']:>7} (map update failures "
                      f"{r['map_update_failures']})  read+fold median "
                      f"{r['collect_ms_median']:7.1f} ms, whole cycle median "
                      f"{r['cycle_ms_median']:7.1f} ms (max {r['cycle_ms_max']:7.1f})  "
                      f"memlock {mem / 1024:9.1f} KiB  kernel memory charged to the daemon: "
                      f"{r['memcg_kernel_bytes_per_process'] or 0:6.0f} B a process "
                      f"(system-wide slab+percpu {r['kernel_kib_added'] * 1024 / n:6.0f} B)  "
                      f"/metrics {r['metrics_bytes'] / 1e6:.1f} MB", flush=True)
                print("          memlock by map: " + ", ".join(
                    f"{k} {v / 1024:.1f} KiB" for k, v in sorted(r["memlock"].items())),
                    flush=True)
        print(json.dumps(out, indent=1))
    finally:
        with open("/proc/sys/kernel/pid_max", "w") as f:
            f.write(pid_max)
        with open("/proc/sys/kernel/threads-max", "w") as f:
            f.write(threads_max)


if __name__ == "__main__":
    main()
