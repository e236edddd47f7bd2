# SPDX-License-Identifier: GPL-2.0-only
"""foreign_sched_switch_programs() on bpftool output taken on a real machine (fixtures/,
see fixtures/README.md): which programs are on the context switch path and not the bench's
own, and how a figure measured beside them is marked. No root, no kernel."""
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402


def canned(name, perf=True):
    def bpftool(*args):
        what = args[0]
        if what == "perf" and not perf:
            return []  # bpftool perf show failed: no BPF_TASK_FD_QUERY
        with open(os.path.join(HERE, "fixtures", name, what + ".json")) as f:
            return json.load(f)
    return bpftool


# what /proc/PID/comm said for the pids in the fixtures
COMM = {5354: "bpftrace", 5357: "rawtpd", 7828: "rawtpd", 7829: "rawtpd", 7830: "bpftrace"}


def foreign(own, fixture, perf=True):
    return bench.foreign_sched_switch_programs(own, canned(fixture, perf), COMM.get)


def by_id(progs):
    return {p["id"]: p for p in progs}


class Foreign(unittest.TestCase):
    def test_bench_window(self):
        # the bench's three empty programs are its own: bpftrace and the rawtpd are not
        got = by_id(foreign({831, 838, 840}, "bpftrace-rawtpd-raw_tp"))
        self.assertEqual(sorted(got), [848, 854])
        self.assertEqual(got[848], {"id": 848, "type": "tracepoint", "name": "sched_switch",
                                    "attach": ["tracepoint sched_switch"],
                                    "pids": [{"pid": 5354, "comm": "bpftrace"}]})
        self.assertEqual(got[854]["name"], "rawtpd_raw_tp")
        self.assertEqual(got[854]["attach"], ["raw_tp sched_switch"])
        self.assertEqual(got[854]["pids"], [{"pid": 5357, "comm": "rawtpd"}])

    def test_nothing_own(self):
        got = by_id(foreign(set(), "bpftrace-rawtpd-raw_tp"))
        # not on the hook: bpftrace's sched_wakeup program, rawtpd's task_rename program
        self.assertEqual(sorted(got), [831, 838, 840, 848, 854])
        self.assertEqual(got[840]["attach"], ["tp_btf sched_switch"])  # a raw_tracepoint link
        self.assertEqual(got[838]["attach"], ["raw_tp sched_switch"])
        self.assertEqual(got[831]["attach"], ["tracepoint sched_switch"])  # from perf show only

    def test_without_perf_show(self):
        # links alone name raw_tp and tp_btf attachments, not classic tracepoints
        got = foreign(set(), "bpftrace-rawtpd-raw_tp", perf=False)
        self.assertEqual([p["id"] for p in got], [838, 840, 854])

    def test_leftover_rawtpd(self):
        # bpftrace is the bench's own here; two rawtpd daemons are left on the hook
        got = by_id(foreign({1083, 1084}, "rawtpd-tp_btf-tracepoint"))
        self.assertEqual(sorted(got), [1095, 1098])
        self.assertEqual((got[1095]["type"], got[1095]["attach"], got[1095]["pids"]),
                         ("tracing", ["tp_btf sched_switch"], [{"pid": 7828, "comm": "rawtpd"}]))
        self.assertEqual((got[1098]["name"], got[1098]["attach"], got[1098]["pids"]),
                         ("rawtpd_tracepoint", ["tracepoint sched_switch"],
                          [{"pid": 7829, "comm": "rawtpd"}]))

    def test_kprobes_fentry_later_bpftool(self):
        got = by_id(foreign({2011}, "handmade"))
        # out: kprobe on do_exit, an LSM program, a raw_tp on sched_wakeup, the own one
        self.assertEqual(sorted(got), [2001, 2002, 2004, 2005, 2007, 2008, 2009])
        self.assertEqual(got[2001]["attach"], ["kprobe finish_task_switch.isra.0"])
        self.assertEqual(got[2002]["attach"], ["kretprobe finish_task_switch"])
        self.assertEqual(got[2004]["attach"],
                         ["fentry, target unknown (not named by this bpftool)"])
        self.assertEqual(got[2005]["attach"], ["fexit, target unknown (btf_id 61234)"])
        self.assertEqual(got[2007]["attach"], ["tracepoint sched_switch"])
        self.assertEqual(got[2008]["attach"], ["kprobe finish_task_switch.isra.0"])
        self.assertEqual(got[2009]["attach"], ["kprobe_multi finish_task_switch.isra.0"])


class Table(unittest.TestCase):
    """How the table marks a figure measured beside foreign programs."""

    def res(self, beside):
        fs = foreign(set(), "rawtpd-tp_btf-tracepoint")
        run = {"ns_per_event": 200.0, "beside_foreign": beside}
        return {"machine": {"date": "d", "os": "o", "kernel": "k", "cpus": 2, "cpu": "c",
                            "mem_gib": 1},
                "load": {"busy_pct": 0, "steal_pct": 0, "start": 0, "end": 0},
                "foreign_sched_switch": {"start": fs, "end": []},
                "per_event": {"tools": {"bpftrace": {
                    "label": "bpftrace", "hook": "tracepoint", "runs": [run],
                    "ns_per_event": 200.0, "ns_per_event_min": 200.0,
                    "ns_per_event_max": 200.0, "beside_foreign": beside}}, "floors": {},
                    "baseline_ops_per_s": 1, "baseline_ops_per_cpu_s": 1}}

    def test_marked(self):
        beside = foreign({1083, 1084}, "rawtpd-tp_btf-tracepoint")
        lines = bench.table(self.res(beside)).splitlines()
        self.assertTrue(lines[1].startswith(
            "other BPF programs on sched_switch at the start: id 1083 tracepoint "), lines[1])
        self.assertEqual(lines[2], "other BPF programs on sched_switch at the end: none")
        row = [ln for ln in lines if ln.startswith("per-event | bpftrace ns/event")][0]
        self.assertIn("| 200 * ", row)
        self.assertTrue(lines[-1].startswith("* measured beside 2 foreign programs "), lines[-1])
        self.assertIn("id 1095 tracing rawtpd_tp_btf on tp_btf sched_switch (pid 7828 rawtpd)",
                      lines[-1])

    def test_clean(self):
        text = bench.table(self.res([]))
        self.assertNotIn("*", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
