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


def by_id(progs):
    return {p["id"]: p for p in progs}


class Foreign(unittest.TestCase):
    def test_bench_window(self):
        # the bench's three empty programs are its own: bpftrace and the rawtpd are not
        got = by_id(bench.foreign_sched_switch_programs(
            {831, 838, 840}, canned("bpftrace-rawtpd-raw_tp")))
        self.assertEqual(sorted(got), [848, 854])
        self.assertEqual(got[848], {"id": 848, "type": "tracepoint", "name": "sched_switch",
                                    "attach": ["tracepoint sched_switch"], "pids": [5354]})
        self.assertEqual(got[854]["name"], "rawtpd_raw_tp")
        self.assertEqual(got[854]["attach"], ["raw_tp sched_switch"])
        self.assertEqual(got[854]["pids"], [5357])

    def test_nothing_own(self):
        got = by_id(bench.foreign_sched_switch_programs(set(), canned("bpftrace-rawtpd-raw_tp")))
        # not on the hook: bpftrace's sched_wakeup program, rawtpd's task_rename program
        self.assertEqual(sorted(got), [831, 838, 840, 848, 854])
        self.assertEqual(got[840]["attach"], ["tp_btf sched_switch"])  # a raw_tracepoint link
        self.assertEqual(got[838]["attach"], ["raw_tp sched_switch"])
        self.assertEqual(got[831]["attach"], ["tracepoint sched_switch"])  # from perf show only

    def test_without_perf_show(self):
        # links alone name raw_tp and tp_btf attachments, not classic tracepoints
        got = bench.foreign_sched_switch_programs(
            set(), canned("bpftrace-rawtpd-raw_tp", perf=False))
        self.assertEqual([p["id"] for p in got], [838, 840, 854])

    def test_leftover_rawtpd(self):
        # bpftrace is the bench's own here; two rawtpd daemons are left on the hook
        got = by_id(bench.foreign_sched_switch_programs(
            {1083, 1084}, canned("rawtpd-tp_btf-tracepoint")))
        self.assertEqual(sorted(got), [1095, 1098])
        self.assertEqual((got[1095]["type"], got[1095]["attach"], got[1095]["pids"]),
                         ("tracing", ["tp_btf sched_switch"], [7828]))
        self.assertEqual((got[1098]["name"], got[1098]["attach"], got[1098]["pids"]),
                         ("rawtpd_tracepoint", ["tracepoint sched_switch"], [7829]))

    def test_kprobes_fentry_later_bpftool(self):
        got = by_id(bench.foreign_sched_switch_programs({2011}, canned("handmade")))
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
