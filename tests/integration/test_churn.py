# SPDX-License-Identifier: GPL-2.0-only
"""Short-lived processes: thousands of fork/exit between two aggregations still show up in
the totals and in rawtpd_processes_exited_total, no counter ever goes down between scrapes,
and the map does not keep the entries of processes that are gone."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import Checker, Daemon, require_root  # noqa: E402

FORKS = 3000      # at most this many fork/exit ...
SECONDS = 60      # ... or for at most this long (a loaded machine forks slowly)
MIN_FORKS = 100   # a floor that proves the loop ran; a quiet machine does thousands


def totals(doc):
    t = doc["totals"]
    return (t["context_switches"]["voluntary"], t["context_switches"]["involuntary"],
            t["cpu_seconds"], t["processes_exited"])


def churn(n, seconds):
    end = time.monotonic() + seconds
    done = 0
    while done < n and time.monotonic() < end:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        done += 1
    return done


def main():
    require_root()
    t = Checker()
    with Daemon(interval="250ms") as d:
        before = totals(d.json("/api/v1/processes"))
        seen = [before]
        stop = threading.Event()

        def scrape():
            while not stop.is_set():
                seen.append(totals(d.json("/api/v1/processes")))
                time.sleep(0.05)

        th = threading.Thread(target=scrape)
        th.start()
        t0 = time.monotonic()
        forks = churn(FORKS, SECONDS)
        dt = time.monotonic() - t0
        d.wait_aggregations(3)
        stop.set()
        th.join()
        after = totals(d.json("/api/v1/processes"))
        seen.append(after)
        print(f"  {forks} fork/exit in {dt:.2f} s ({forks / dt:.0f}/s); exited "
              f"{before[3]} -> {after[3]}; {len(seen)} scrapes")
        t.check(forks >= MIN_FORKS, f"forked {forks} processes (>= {MIN_FORKS})")
        t.check(after[3] - before[3] >= forks, f"exited grew by >= {forks}")
        t.check(after[0] - before[0] >= forks, "each child's last switch is counted")
        mono = all(all(b >= a for a, b in zip(x, y)) for x, y in zip(seen, seen[1:]))
        t.check(mono, "totals never went down between scrapes")
        st = d.json("/api/v1/status")
        live = len(d.json("/api/v1/processes")["processes"])
        t.check(st["map_entries"] <= live + 64,
                f"map holds {st['map_entries']} entries for {live} live processes")
        _, text = d.metrics()
        t.check("rawtpd_processes_exited_total" in text, "exited counter exported")
    t.done()


main()
