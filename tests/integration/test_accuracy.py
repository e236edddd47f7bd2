# SPDX-License-Identifier: GPL-2.0-only
"""rawtpd's per-process figures against the kernel's own: /proc/<pid>/task/*/status
(voluntary_ctxt_switches, nonvoluntary_ctxt_switches) and /proc/<pid>/task/*/sched
(se.sum_exec_runtime). Switches within 1 % (or 3), CPU within 2 % (or 5 ms).

RAWTPD_ATTACH selects the mode (default auto). Prints the figures it measured."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import Checker, Daemon, find_process, proc_counts, require_root  # noqa: E402

WORKLOAD = os.path.join(os.path.dirname(__file__), "workload.py")


def close(a, b, rel, absolute):
    return abs(a - b) <= max(absolute, rel * max(a, b))


def main():
    require_root()
    mode = os.environ.get("RAWTPD_ATTACH", "auto")
    t = Checker()
    with Daemon("--attach", mode, interval="200ms") as d:
        specs = [("sleep", "2000"), ("hog", "1.5"), ("hog", "1.5"), ("burn", "1.0")]
        procs = [subprocess.Popen([sys.executable, WORKLOAD, m, a], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE) for m, a in specs]
        for p in procs:
            assert p.stdout.readline().strip() == b"done"
        # blocked on stdin now: let the figures settle, then read the kernel's
        time.sleep(0.3)
        kernel = {p.pid: proc_counts(p.pid) for p in procs}
        d.wait_aggregations(3)
        doc = d.json("/api/v1/processes")
        t.check(doc.get("attach_mode") not in (None, ""), f"attach mode {doc.get('attach_mode')}")
        for (m, a), p in zip(specs, procs):
            kv, ki, kns = kernel[p.pid]
            got = find_process(doc, p.pid)
            if not t.check(got is not None, f"{m} pid {p.pid} is served"):
                continue
            rv = got["context_switches"]["voluntary"]
            ri = got["context_switches"]["involuntary"]
            rns = round(got["cpu_seconds"] * 1e9)
            print(f"  {m:5} pid {p.pid}: voluntary kernel {kv} rawtpd {rv}; involuntary "
                  f"kernel {ki} rawtpd {ri}; cpu kernel {kns / 1e6:.3f} ms rawtpd "
                  f"{rns / 1e6:.3f} ms")
            t.check(close(kv, rv, 0.01, 3), f"{m}: voluntary {rv} vs kernel {kv}")
            t.check(close(ki, ri, 0.01, 3), f"{m}: involuntary {ri} vs kernel {ki}")
            t.check(close(kns, rns, 0.02, 5_000_000), f"{m}: cpu {rns} ns vs kernel {kns} ns")
        # the shapes the workloads were chosen for
        sv = find_process(doc, procs[0].pid)
        hog = find_process(doc, procs[1].pid)
        if sv and hog:
            t.check(sv["context_switches"]["voluntary"] >= 2000, "sleeper: mostly voluntary")
            t.check(hog["context_switches"]["involuntary"] > 10, "pinned hogs preempt each other")
        for p in procs:
            p.stdin.close()
            p.wait()
    t.done()


main()
