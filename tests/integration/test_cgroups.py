# SPDX-License-Identifier: GPL-2.0-only
"""Where processes run: cgroups made by hand on the unified (v2) hierarchy, a process moved into
each, and the labels rawtpd gives them, on every data path this kernel has.

- a systemd-like unit (rawtpd-test.slice/rawtpd-hog.service): unit="rawtpd-hog.service" on the
  per-pid series, "unit" and "cgroup" in /api/v1/processes;
- a docker scope (docker-<64 hex>.scope): its container_id;
- a kubepods pod slice with a cri-containerd scope inside: container_id and pod_uid;
- a sibling with a quote, a backslash, a tab and a byte that is not UTF-8 in its name: the
  cgroup path escaped as process names are, in both formats, and promtool accepts /metrics;
- a process moved to another cgroup after it started: labelled with the new one.
Works on pure v2 (/sys/fs/cgroup) and on hybrid hosts (/sys/fs/cgroup/unified)."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import Checker, Daemon, find_process, promtool_check, require_root, skip  # noqa

HEX = "0123456789abcdef" * 4
POD = "1234abcd-5678-90ab-cdef-1234567890ab"
# the kernel refuses a newline in a cgroup's name (cgroup_mkdir()), and any '/': the rest go
HOSTILE = b'rawtpd-a"b\\c\td\xff{}=,'


def unified_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.startswith("cgroup2 "):
                return left.split()[4]
    return None


def enter(path):
    """preexec_fn: the child moves itself into the cgroup before exec, as systemd does."""
    return lambda: open(os.path.join(path, "cgroup.procs"), "w").write(str(os.getpid()))


def sleeper(path):
    """A process that sleeps 50 times, says "done", then sleeps 5 times more for each line on
    stdin (answering "ok"), until EOF."""
    return subprocess.Popen([sys.executable, "-c",
                             "import sys, time\n"
                             "for _ in range(50): time.sleep(0.002)\n"
                             "print('done', flush=True)\n"
                             "for line in sys.stdin:\n"
                             "    for _ in range(5): time.sleep(0.002)\n"
                             "    print('ok', flush=True)\n"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            preexec_fn=enter(path) if path else None)


def series_labels(text, pid):
    """The label sets of the per-process CPU series of pid."""
    out = []
    for line in text.splitlines():
        if line.startswith("rawtpd_process_cpu_seconds_total{") and f'pid="{pid}"' in line:
            out.append(line[line.index("{"):line.rindex("}") + 1])
    return out


def main():
    require_root()
    root = unified_root()
    if not root:
        skip("no cgroup2 hierarchy mounted")
    base = os.path.join(root, "rawtpd-test.slice")
    dirs = {
        "unit": os.path.join(base, "rawtpd-hog.service"),
        "docker": os.path.join(base, f"docker-{HEX}.scope"),
        "pod": os.path.join(base, "kubepods-burstable-pod" + POD.replace("-", "_") + ".slice",
                            f"cri-containerd-{HEX}.scope"),
        "later": os.path.join(base, "rawtpd-later.service"),
    }
    hostile = os.path.join(base.encode(), HOSTILE)
    t = Checker()
    made = []
    try:
        for d in list(dirs.values()):
            os.makedirs(d, exist_ok=True)
        os.makedirs(hostile, exist_ok=True)
        made = [hostile] + sorted(dirs.values(), key=len, reverse=True)
        probe = json.loads(subprocess.run([os.environ["RAWTPD"], "--probe", "--json", "--config",
                                           "/dev/null"], capture_output=True, check=True,
                                          timeout=300).stdout)
        # the data paths auto takes here, and the process path, which every kernel has
        paths = sorted({m["data_path"] for m in probe["attach_modes"] if m["works"]} | {"process"})
        print(f"  cgroup2 at {root}; data paths here: {paths}")
        for path in paths:
            one_path(t, path, root, dirs, hostile)
    finally:
        for d in made:
            try:
                os.rmdir(d)
            except OSError:
                pass
        for d in (os.path.dirname(dirs["pod"]), base):
            try:
                os.rmdir(d)
            except OSError:
                pass
    t.done()


def one_path(t, path, root, dirs, hostile):
    with Daemon("--data-path", path, interval="200ms") as d:
        procs = {k: sleeper(v) for k, v in dirs.items() if k != "later"}
        procs["hostile"] = sleeper(hostile.decode("utf-8", "surrogateescape"))
        procs["later"] = sleeper(None)
        for p in procs.values():
            assert p.stdout.readline().strip() == b"done"
        d.wait_aggregations(2)
        # moved after it ran: labelled with where it is now, within an interval or two
        with open(os.path.join(dirs["later"], "cgroup.procs"), "w") as f:
            f.write(str(procs["later"].pid))
        # it must run in its new cgroup for the BPF side to note it
        procs["later"].stdin.write(b"x\n")
        procs["later"].stdin.flush()
        assert procs["later"].stdout.readline().strip() == b"ok"
        d.wait_aggregations(3)
        doc = json.loads(d.get("/api/v1/processes")[2].decode("utf-8"))
        _, text = d.metrics()
        ok, out = promtool_check(text)
        if ok is not None:
            t.check(ok, f"{path}: promtool check metrics accepts the labels" +
                    ("" if ok else ":\n" + out))
        rel = lambda p: p[len(root):]  # noqa: E731
        want = {
            "unit": dict(cgroup=rel(dirs["unit"]), unit="rawtpd-hog.service",
                         container_id=None, pod_uid=None),
            "docker": dict(cgroup=rel(dirs["docker"]), unit=f"docker-{HEX}.scope",
                           container_id=HEX, pod_uid=None),
            "pod": dict(cgroup=rel(dirs["pod"]), unit=f"cri-containerd-{HEX}.scope",
                        container_id=HEX, pod_uid=POD),
            "hostile": dict(cgroup="/rawtpd-test.slice/" + 'rawtpd-a"b\\c\td\\xff{}=,', unit=None,
                            container_id=None, pod_uid=None),
            "later": dict(cgroup=rel(dirs["later"]), unit="rawtpd-later.service",
                          container_id=None, pod_uid=None),
        }
        for k, w in want.items():
            p = find_process(doc, procs[k].pid)
            if not t.check(p is not None, f"{path}: {k} pid {procs[k].pid} is served"):
                continue
            for field, v in w.items():
                t.check(p.get(field) == v, f"{path}: {k}: {field} {p.get(field)!r} (want {v!r})")
            labels = series_labels(text, procs[k].pid)
            if w["unit"]:
                esc = w["unit"].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                t.check(labels and all(f'unit="{esc}"' in s for s in labels),
                        f"{path}: {k}: its series carry unit=\"{esc}\" ({labels})")
            else:
                t.check(labels and not any("unit=" in s for s in labels),
                        f"{path}: {k}: its series carry no unit label ({labels})")
        for p in procs.values():
            p.stdin.close()
            p.wait()


if __name__ == "__main__":
    main()
