# SPDX-License-Identifier: GPL-2.0-only
"""rawtpd's per-process figures against the kernel's own: /proc/<pid>/task/*/status
(voluntary_ctxt_switches, nonvoluntary_ctxt_switches) and /proc/<pid>/task/*/sched
(se.sum_exec_runtime). Switches within 1 % (or 3), CPU within 2 % (or 5 ms). Then a process
whose second thread execs, four generations over, against its own getrusage() totals, on the
data path --probe says the mode takes (the thread path where it runs: checked, so that a
fallback cannot pass for it).

RAWTPD_ATTACH selects the mode (default auto). Prints the figures it measured. test_modes.py
runs the same check (rawtpd_test.check_accuracy) in every mode this kernel has."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import (RAWTPD, Checker, Daemon, check_accuracy,  # noqa: E402
                         check_exec_thread, require_root)


def expected_data_path(mode):
    """The data path --probe says mode (auto: its choice) takes, or None."""
    probe = json.loads(subprocess.run([RAWTPD, "--probe", "--json"], capture_output=True,
                                      text=True, check=True).stdout)
    want = probe.get("auto_choice") if mode == "auto" else mode
    for m in probe["attach_modes"]:
        if m["mode"] == want and m.get("works"):
            return m.get("data_path")
    return None


def main():
    require_root()
    mode = os.environ.get("RAWTPD_ATTACH", "auto")
    t = Checker()
    with Daemon("--attach", mode, interval="200ms") as d:
        check_accuracy(t, d, None if mode == "auto" else mode)
        path = expected_data_path(mode)
        st = d.json("/api/v1/status")
        t.check(path is None or st.get("data_path") == path,
                f"{mode}: runs the data path --probe named ({st.get('data_path')}, "
                f"expected {path}: {st.get('data_path_reason')})")
        check_exec_thread(t, d, f"{mode}/{st.get('data_path')}")
    t.done()


main()
