# SPDX-License-Identifier: GPL-2.0-only
"""rawtpd's per-process figures against the kernel's own: /proc/<pid>/task/*/status
(voluntary_ctxt_switches, nonvoluntary_ctxt_switches) and /proc/<pid>/task/*/sched
(se.sum_exec_runtime). Switches within 1 % (or 3), CPU within 2 % (or 5 ms). Then a process
whose second thread execs, against its own getrusage() totals.

RAWTPD_ATTACH selects the mode (default auto). Prints the figures it measured. test_modes.py
runs the same check (rawtpd_test.check_accuracy) in every mode this kernel has."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import (Checker, Daemon, check_accuracy, check_exec_thread,  # noqa: E402
                         require_root)


def main():
    require_root()
    mode = os.environ.get("RAWTPD_ATTACH", "auto")
    t = Checker()
    with Daemon("--attach", mode, interval="200ms") as d:
        check_accuracy(t, d, None if mode == "auto" else mode)
        check_exec_thread(t, d, mode)
    t.done()


main()
