# SPDX-License-Identifier: GPL-2.0-only
"""rawtpd_bpf_map_memory_bytes{map}: present for every map bpf/rawtpd.bpf.c declares, positive,
equal to memlock in the daemon's own /proc/<pid>/fdinfo for that map (found by map_id, named
by bpftool), the same in /api/v1/status; and --probe's estimate of the counts map near what the
kernel says, where the kernel reports actual use (6.4 on). Prints the figures."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import RAWTPD, Checker, Daemon, require_root  # noqa: E402

# the maps each data path creates (the other path's are not made at all)
PATH_MAPS = {"process": ["counts", "oncpu", "renames", "stats", "tid_runtime"],
             "thread": ["counts", "free_slots", "hists", "preempted", "preempts", "renames",
                        "slot_cache", "slots", "stats", "threads"]}
MAPS = sorted(set(PATH_MAPS["process"]) | set(PATH_MAPS["thread"]))


def map_names():
    """map id -> name, from bpftool."""
    out = subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, check=True,
                         timeout=60).stdout
    return {m["id"]: m.get("name", "") for m in json.loads(out)}


def daemon_memlock(pid, names):
    """name -> memlock of the daemon's maps, from its fdinfo."""
    got = {}
    d = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(d):
        try:
            with open(f"{d}/{fd}") as f:
                text = f.read()
        except OSError:
            continue
        mid = re.search(r"^map_id:\s+(\d+)$", text, re.M)
        mem = re.search(r"^memlock:\s+(\d+)$", text, re.M)
        if mid and mem and names.get(int(mid.group(1))) in MAPS:
            got[names[int(mid.group(1))]] = int(mem.group(1))
    return got


def exported(text):
    return {m: int(v) for m, v in
            re.findall(r'^rawtpd_bpf_map_memory_bytes\{map="([^"]*)"\} (\d+)$', text, re.M)}


def one_snapshot(d):
    """/metrics and /api/v1/status of one snapshot: the status on both sides says so."""
    for _ in range(50):
        before = d.json("/api/v1/status")
        _, text = d.metrics()
        after = d.json("/api/v1/status")
        if before["aggregations"] == after["aggregations"]:
            return text, after
    raise RuntimeError("no two reads of the same snapshot")


def possible_cpus():
    with open("/sys/devices/system/cpu/possible") as f:
        spans = [r.split("-") for r in f.read().strip().split(",")]
    return sum(int(s[-1]) - int(s[0]) + 1 for s in spans)


def kernel_at_least(major, minor):
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return m and (int(m.group(1)), int(m.group(2))) >= (major, minor)


def main():
    require_root()
    t = Checker()
    probe = json.loads(subprocess.run([RAWTPD, "--probe", "--json", "--config", "/dev/null"],
                                      capture_output=True, check=True, timeout=300).stdout)
    est = probe["counts_map_memory"]
    t.check(est["possible_cpus"] == possible_cpus(),
            f"--probe: counts_map_memory for the {possible_cpus()} possible CPUs")

    for path in ("process", "thread"):
        one_path(t, est, path, probe["thread_path_memory"])
    t.done()


def one_path(t, est, path, probe_thread):
    maps = PATH_MAPS[path]
    with Daemon("--data-path", path, interval="500ms") as d:
        d.wait_aggregations(2)
        names = map_names()
        # The kernel's figure and the snapshot's, when the kernel's held still across the
        # snapshot (the counts map moves with every process that appears or is deleted).
        exact = False
        for _ in range(30):
            k1 = daemon_memlock(d.proc.pid, names)
            d.wait_aggregations(1)
            text, status = one_snapshot(d)
            k2 = daemon_memlock(d.proc.pid, names)
            if k1 == k2:
                exact = True
                break
        got = exported(text)
        st = status.get("bpf_map_memory_bytes")
        t.check(status.get("data_path") == path, f"{path}: status says data_path {path}")
        t.check(sorted(got) == maps, f"{path}: one series per map: {sorted(got)}")
        t.check(sorted(k2) == maps, f"{path}: the daemon holds each map: {sorted(k2)}")
        for m in maps:
            t.check(got.get(m, 0) > 0, f"{m}: positive ({got.get(m)})")
            t.check(st and st.get(m) == got.get(m), f"{m}: /api/v1/status says the same")
            # the per-process maps move with every process that comes or goes, also between
            # two equal reads of fdinfo: exact when they held still and agree, else within 5 %
            if m not in ("counts", "threads") or (exact and got.get(m) == k2.get(m)):
                t.check(got.get(m) == k2.get(m),
                        f"{m}: equals memlock in /proc/{d.proc.pid}/fdinfo ({k2.get(m)})")
            else:
                t.check(abs(got.get(m, 0) - k2.get(m, 0)) <= 0.05 * k2.get(m, 1),
                        f"{m}: within 5% of memlock in fdinfo (the map never held still): "
                        f"{got.get(m)} against {k2.get(m)}")

        entries = status["map_entries"]
        counts = got.get("counts", 0)
        per = (counts - est["bucket_bytes"]) / entries if entries and path == "process" else 0
        print(f"info  {path} path: {est['possible_cpus']} possible CPUs, {entries} processes in the map, "
              f"max_processes {status['map_capacity']}: " +
              ", ".join(f"{m} {got.get(m)} B" for m in maps) +
              f"; counts above its buckets: {per:.0f} B a process "
              f"(--probe says {est['per_process_bytes_on_demand']})")
        if path == "thread":
            # made at load: a slot and a queue entry for each of max_processes threads
            want = status["map_capacity"] * probe_thread["slot_bytes"]
            have = got.get("slots", 0) + got.get("free_slots", 0)
            t.check(want <= have <= 1.05 * want,
                    f"thread path: slots + free_slots {have} B is what --probe says, "
                    f"{probe_thread['slot_bytes']} B for each of {status['map_capacity']} threads")
        if path == "process" and kernel_at_least(6, 4) and est["allocation"] == "on_demand":
            guess = est["bucket_bytes"] + entries * est["per_process_bytes_on_demand"]
            t.check(abs(counts - guess) <= 0.2 * counts,
                    f"--probe's estimate {guess} B is within 20% of the kernel's {counts} B")


if __name__ == "__main__":
    main()
