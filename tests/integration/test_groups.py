# SPDX-License-Identifier: GPL-2.0-only
"""Who waits for a CPU, and who takes it: group_by = unit and cgroup on this kernel.

Two CPU hogs, each in a unit made by hand on the unified hierarchy (rawtpd-groups.slice/
rawtpd-hog-a.service and -b.service), pinned to one CPU so that each waits about half the time;
a sleeper in a third unit; a sibling cgroup with a hostile name. Once the hogs have stopped
(blocked, so the kernel's figures hold still):
- each unit's switches, CPU time and run-queue wait equal its process's figures in /proc
  (status, sched, schedstat), exactly, and its CPU time its cgroup's cpu.stat usage_usec;
- (thread data path) each unit's latency histogram counted every switch-in of its process
  (schedstat's third field, pcount), its _sum is its wait, and its median is within one bucket
  of libbpf-tools runqlat -P's for the same process over the same seconds;
- (thread data path) preemptions are counted both ways between the two hog units;
- /api/v1/groups?by=unit|cgroup gives the same figures, rates and p50/p99, and refuses bad
  queries with 400;
- the hostile sibling's path is escaped in both formats; promtool accepts /metrics.
Runs with /usr/bin/python3 (stdlib only)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import Checker, Daemon, proc_counts, promtool_check, require_root, skip  # noqa
from test_cgroups import HOSTILE, enter, unified_root  # noqa

HOG_SECONDS = 3.0
SLICE = "rawtpd-groups.slice"


def pinned_in(path, cpu):
    """preexec_fn: into the cgroup, then onto one CPU."""
    into = enter(path)

    def run():
        into()
        os.sched_setaffinity(0, {cpu})
    return run


def hog(path, cpu):
    """Spins HOG_SECONDS of wall time, says "done", then blocks on stdin until EOF."""
    return subprocess.Popen([sys.executable, "-c",
                             "import sys, time\n"
                             f"end = time.monotonic() + {HOG_SECONDS}\n"
                             "while time.monotonic() < end: pass\n"
                             "print('done', flush=True)\n"
                             "sys.stdin.read()\n"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            preexec_fn=pinned_in(path, cpu))


def settle(procs):
    """Until every process sleeps (blocked on stdin, its figures hold still), 30 s at most."""
    deadline = time.time() + 30
    while time.time() < deadline:
        states = []
        for p in procs:
            with open(f"/proc/{p.pid}/stat") as f:
                states.append(f.read().rpartition(")")[2].split()[0])
        if all(s == "S" for s in states):
            return
        time.sleep(0.05)


def pcount(pid):
    """Times the kernel switched pid's threads in (schedstat's third field), summed."""
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            n += int(f.read().split()[2])
    return n


def samples(text, name):
    """{labels text: value} of the samples of one metric name."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line[len(name):].rpartition(" ")
            out[labels] = float(value)
    return out


def unit_value(text, name, unit, extra=""):
    for labels, v in samples(text, name).items():
        if f'unit="{unit}"' in labels and extra in labels and "by_unit" not in labels:
            return v
    return None


def bucket_median(buckets):
    """Median of [(low, high, count)] by linear interpolation inside its bucket."""
    total = sum(c for _, _, c in buckets)
    if not total:
        return None
    rank, cum = total / 2, 0
    for lo, hi, c in buckets:
        if c and cum + c >= rank:
            return lo + (hi - lo) * (rank - cum) / c
        cum += c
    return None


def runqlat(seconds):
    """runqlat -P for seconds: {pid: [(low_us, high_us, count)]}; None if it cannot run."""
    exe = shutil.which("runqlat") or "/usr/sbin/runqlat"
    if not os.access(exe, os.X_OK):
        return None
    p = subprocess.Popen(["stdbuf", "-oL", exe, "-P", str(int(seconds)), "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # attached once it says so: the hogs start after, and it sees their whole life
    first = p.stdout.readline()
    if b"Tracing" not in first:
        print(f"info runqlat did not start: {first!r}")
        p.kill()
        p.wait()
        return None
    return p


def parse_runqlat(out):
    hists, pid = {}, None
    for line in out.decode(errors="replace").splitlines():
        m = re.match(r"pid = (\d+)", line)
        if m:
            pid = int(m.group(1))
            hists[pid] = []
            continue
        m = re.match(r"\s*(\d+) -> (\d+)\s*: (\d+)", line)
        if m and pid is not None:
            hists[pid].append((int(m.group(1)), int(m.group(2)) + 1, int(m.group(3))))
    return hists


def rawtpd_buckets(text, unit):
    """The unit's latency histogram as [(low_us, high_us, count)] (finite buckets)."""
    cum = []
    for labels, v in samples(text, "rawtpd_run_queue_latency_seconds_bucket").items():
        if f'unit="{unit}"' in labels:
            le = re.search(r'le="([^"]+)"', labels).group(1)
            if le != "+Inf":
                cum.append((float(le) * 1e6, v))
    cum.sort()
    out, prev, lo = [], 0, 0.0
    for hi, c in cum:
        out.append((lo, hi, c - prev))
        prev, lo = c, hi
    return out


def main():
    require_root()
    root = unified_root()
    if not root:
        skip("no cgroup2 hierarchy mounted")
    base = os.path.join(root, SLICE)
    dirs = {k: os.path.join(base, f"rawtpd-{k}.service") for k in ("hog-a", "hog-b", "sleep")}
    hostile = os.path.join(base.encode(), HOSTILE)
    t = Checker()
    try:
        for d in dirs.values():
            os.makedirs(d, exist_ok=True)
        os.makedirs(hostile, exist_ok=True)
        probe = json.loads(subprocess.run([os.environ["RAWTPD"], "--probe", "--json", "--config",
                                           "/dev/null"], capture_output=True, check=True,
                                          timeout=300).stdout)
        paths = sorted({m["data_path"] for m in probe["attach_modes"] if m["works"]} | {"process"})
        print(f"  cgroup2 at {root}; data paths here: {paths}")
        for path in paths:
            one_path(t, path, root, dirs, hostile)
        # the other thread-path modes find the preemptor their own way too (no next pointer)
        for m in probe["attach_modes"]:
            if m["works"] and m.get("data_path") == "thread" and m["mode"] != probe.get("auto_choice"):
                pairs_in_mode(t, m["mode"], dirs)
    finally:
        for d in [hostile] + list(dirs.values()) + [base]:
            try:
                os.rmdir(d)
            except OSError:
                pass
    t.done()


def cpu_usage(d):
    """usage_usec of a cgroup's cpu.stat, in ns."""
    with open(os.path.join(d, "cpu.stat")) as f:
        return int(f.read().split("usage_usec")[1].split()[0]) * 1000


def one_path(t, path, root, dirs, hostile):
    latency = path == "thread"
    cpu = sorted(os.sched_getaffinity(0))[0]
    before = {k: cpu_usage(dirs[k]) for k in ("hog-a", "hog-b")}  # earlier runs' hogs
    with Daemon("--data-path", path, "--group-by", "unit", interval="250ms") as d:
        # over the hogs' whole life, as rawtpd's histograms are (a slow start included)
        rq = runqlat(HOG_SECONDS + 3) if latency else None
        hogs = {k: hog(dirs[k], cpu) for k in ("hog-a", "hog-b")}
        sleeper = subprocess.Popen([sys.executable, "-c", "import time\n"
                                    "for _ in range(100): time.sleep(0.005)\n"
                                    "print('done', flush=True)\nimport sys; sys.stdin.read()"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   preexec_fn=enter(dirs["sleep"]))
        for p in list(hogs.values()) + [sleeper]:
            assert p.stdout.readline().strip() == b"done"
        rq_out = rq.communicate(timeout=60)[0] if rq else None
        settle(list(hogs.values()) + [sleeper])
        d.wait_aggregations(3)
        kernel = {k: proc_counts(p.pid) for k, p in hogs.items()}
        switched_in = {k: pcount(p.pid) for k, p in hogs.items()}
        usage = {k: cpu_usage(dirs[k]) - before[k] for k in hogs}
        _, text = d.metrics()
        t.check(d.json("/api/v1/status").get("counting_latency") == latency,
                f"{path}: /api/v1/status says counting_latency {latency}")
        groups = d.json("/api/v1/groups?by=unit")
        by_cgroup = d.json("/api/v1/groups?by=cgroup&sort=cpu&top=50")
        check_units(t, path, text, groups, kernel, switched_in, usage, latency)
        if latency:
            check_pairs(t, text, groups)
            check_median(t, text, rq_out, hogs)
        check_api(t, d, path, by_cgroup, root, dirs)
        for p in list(hogs.values()) + [sleeper]:
            p.stdin.close()
            p.wait()
    check_hostile(t, path, hostile)


def pairs_in_mode(t, mode, dirs):
    cpu = sorted(os.sched_getaffinity(0))[0]
    with Daemon("--attach", mode, "--group-by", "unit", interval="250ms") as d:
        hogs = [hog(dirs[k], cpu) for k in ("hog-a", "hog-b")]
        for p in hogs:
            assert p.stdout.readline().strip() == b"done"
        settle(hogs)
        d.wait_aggregations(3)
        _, text = d.metrics()
        for p in hogs:
            p.stdin.close()
            p.wait()
    pre = samples(text, "rawtpd_preemptions_total")
    ab = [v for k, v in pre.items()
          if 'unit="rawtpd-hog-a.service"' in k and 'by_unit="rawtpd-hog-b.service"' in k]
    ba = [v for k, v in pre.items()
          if 'unit="rawtpd-hog-b.service"' in k and 'by_unit="rawtpd-hog-a.service"' in k]
    t.check(ab and ab[0] > 0 and ba and ba[0] > 0,
            f"{mode}: preemptions counted both ways between the hogs' units ({ab}, {ba})")


def check_units(t, path, text, groups, kernel, switched_in, usage, latency):
    for k, (vol, invol, ns, delay) in kernel.items():
        unit = f"rawtpd-{k}.service"
        cpu = unit_value(text, "rawtpd_process_cpu_seconds_total", unit)
        wait = unit_value(text, "rawtpd_process_run_queue_wait_seconds_total", unit)
        v = unit_value(text, "rawtpd_process_context_switches_total", unit, 'type="voluntary"')
        i = unit_value(text, "rawtpd_process_context_switches_total", unit, 'type="involuntary"')
        t.check(cpu is not None and round(cpu * 1e9) == ns,
                f"{path}: {unit} CPU {cpu} s is its process's se.sum_exec_runtime {ns} ns")
        t.check(wait is not None and round(wait * 1e9) == delay,
                f"{path}: {unit} wait {wait} s is its schedstat run_delay {delay} ns")
        t.check((v, i) == (vol, invol),
                f"{path}: {unit} switches {v}/{i} are /proc's {vol}/{invol}")
        t.check(cpu is not None and abs(cpu * 1e9 - usage[k]) <= 0.02 * usage[k],
                f"{path}: {unit} CPU within 2% of its cgroup's cpu.stat usage_usec "
                f"({cpu} s against {usage[k] / 1e9} s)")
        t.check(delay > 0.25 * ns,
                f"{path}: {unit} waited for its CPU ({delay / 1e9:.2f} s waiting, "
                f"{ns / 1e9:.2f} s running): the two hogs shared it")
        g = [x for x in groups["groups"] if x["unit"] == unit]
        t.check(len(g) == 1 and abs(g[0]["cpu_seconds"] - cpu) < 1e-6 and
                abs(g[0]["run_queue_wait_seconds"] - wait) < 1e-6,
                f"{path}: /api/v1/groups has {unit} with the same CPU and wait")
        if not latency:
            t.check(not groups["latency"] and unit_value(
                text, "rawtpd_run_queue_latency_seconds_count", unit) is None,
                f"{path}: no latency histograms on the process path")
            continue
        count = unit_value(text, "rawtpd_run_queue_latency_seconds_count", unit)
        inf = unit_value(text, "rawtpd_run_queue_latency_seconds_bucket", unit, 'le="+Inf"')
        hsum = unit_value(text, "rawtpd_run_queue_latency_seconds_sum", unit)
        n = switched_in[k]
        t.check(count is not None and count == inf and count == n,
                f"{path}: {unit} histogram counted {count} switch-ins; the kernel's pcount "
                f"says {n}")
        # _sum is from the thread's slot, the wait from its process's counters
        t.check(hsum == wait, f"{path}: {unit} histogram _sum {hsum} is its wait {wait}")
        lat = g[0].get("run_queue_latency") if g else None
        t.check(lat and lat["count"] == count and lat["p50_seconds"] and
                lat["p99_seconds"] >= lat["p50_seconds"],
                f"{path}: /api/v1/groups gives {unit}'s latency count, p50 and p99 ({lat})")


def check_pairs(t, text, groups):
    pre = samples(text, "rawtpd_preemptions_total")
    a_by_b = [v for k, v in pre.items()
              if 'unit="rawtpd-hog-a.service"' in k and 'by_unit="rawtpd-hog-b.service"' in k]
    b_by_a = [v for k, v in pre.items()
              if 'unit="rawtpd-hog-b.service"' in k and 'by_unit="rawtpd-hog-a.service"' in k]
    t.check(a_by_b and a_by_b[0] > 0 and b_by_a and b_by_a[0] > 0,
            f"thread: preemptions counted both ways between the hogs' units "
            f"(a by b {a_by_b}, b by a {b_by_a})")
    g = {x["unit"]: x for x in groups["groups"]}
    a = g.get("rawtpd-hog-a.service", {})
    t.check(any(p["unit"] == "rawtpd-hog-b.service" and p["preemptions"] > 0
                for p in a.get("preempted_by", [])),
            "thread: /api/v1/groups names hog-b among hog-a's preemptors")
    t.check(not any(re.search(r'[{,]unit="([^"]*)".*,by_unit="\1"', k) for k in pre),
            "thread: no unit is counted as preempting itself")


def check_median(t, text, rq_out, hogs):
    if rq_out is None:
        print("info runqlat is not installed: the median is not compared")
        return
    theirs = parse_runqlat(rq_out)
    for k, p in hogs.items():
        unit = f"rawtpd-{k}.service"
        m_theirs = bucket_median(theirs.get(p.pid, []))
        m_ours = bucket_median(rawtpd_buckets(text, unit))
        # one log2 bucket either way (runqlat's are of microseconds, rawtpd's of 1.024 us)
        t.check(m_theirs and m_ours and 0.5 / 1.1 <= m_ours / m_theirs <= 2 * 1.1,
                f"thread: {unit} median wait {m_ours and round(m_ours)} us is within one "
                f"bucket of runqlat -P's {m_theirs and round(m_theirs)} us")


def check_api(t, d, path, by_cgroup, root, dirs):
    paths = {x["cgroup"]: x for x in by_cgroup["groups"]}
    rel = dirs["hog-a"][len(root):]
    t.check(by_cgroup["by"] == "cgroup" and rel in paths and
            paths[rel]["unit"] == "rawtpd-hog-a.service",
            f"{path}: /api/v1/groups?by=cgroup has {rel} with its unit")
    # by the last interval's CPU, then by all of it
    keys = [(x["rates"]["cpu_utilization"], x["cpu_seconds"]) for x in by_cgroup["groups"]]
    t.check(len(keys) > 2 and keys == sorted(keys, reverse=True),
            f"{path}: sort=cpu orders the groups by CPU ({keys[:4]})")
    for q in ("by=pid", "sort=memory", "top=0", "by=unit&by=cgroup", "color=red"):
        status, _, body = d.get("/api/v1/groups?" + q)
        t.check(status == 400 and b"error" in body, f"{path}: /api/v1/groups?{q} is 400 ({body[:80]})")


def check_hostile(t, path, hostile):
    """group_by = cgroup with a process in the hostile cgroup: escaped in both formats."""
    busy = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"],
                            preexec_fn=enter(hostile.decode("utf-8", "surrogateescape")))
    try:
        with Daemon("--data-path", path, "--group-by", "cgroup", interval="250ms") as d:
            d.wait_aggregations(3)
            _, text = d.metrics()
            want = 'cgroup="/' + SLICE + '/rawtpd-a\\"b\\\\c\td\\\\xff{}=,"'
            t.check(f"rawtpd_process_cpu_seconds_total{{{want}}}" in text,
                    f"{path}: group_by cgroup: the hostile path is escaped as a label ({want})")
            ok, out = promtool_check(text)
            if ok is not None:
                t.check(ok, f"{path}: promtool check metrics accepts the groups" +
                        ("" if ok else ":\n" + out))
            doc = d.json("/api/v1/groups?by=cgroup")
            names = [x["cgroup"] for x in doc["groups"]]
            t.check("/" + SLICE + '/rawtpd-a"b\\c\td\\xff{}=,' in names,
                    f"{path}: and in the JSON, escaped as process names are")
            status, headers, body = d.get("/metrics", {"Accept": "application/openmetrics-text"})
            t.check(status == 200 and body.endswith(b"# EOF\n") and
                    b"# TYPE rawtpd_run_queue_latency_seconds histogram" in body
                    if path == "thread" else status == 200,
                    f"{path}: the OpenMetrics form has the histogram family")
    finally:
        busy.kill()
        busy.wait()


if __name__ == "__main__":
    main()
