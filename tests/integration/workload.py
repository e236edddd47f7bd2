# SPDX-License-Identifier: GPL-2.0-only
"""Known workloads for the integration tests. Each does its work, prints "done", then blocks
on stdin so its /proc figures can be read while it still exists.

  workload.py sleep N      N short sleeps: voluntary switches
  workload.py hog SECONDS  spin pinned to CPU 0 (run two: involuntary switches)
  workload.py burn SECONDS spin wherever the scheduler puts it
  workload.py name HEX     set own comm to the given bytes (prctl), then block
  workload.py execthread N [D]
                           the main thread makes N short sleeps and waits; a second thread
                           makes 3N, spins 0.2 s, and execs "rusage N" from itself: it takes
                           the leader's pid and start time (de_thread), and the leader ends.
                           D (default 1) such generations: each exec'd thread starts the next
                           one ("execthread N D-1"), the last execs "rusage N"
  workload.py rusage N     N short sleeps, then "done" with the process's own totals from
                           getrusage(): voluntary, involuntary, CPU ns (its exec'd-away
                           threads included)
  workload.py threads N    pinned to CPU 0, N threads spin 0.3 s each, then wait; "spun" is
                           printed, and a line on stdin lets them go: each reads its own
                           figures and exits, and "done" is followed by their sums: voluntary,
                           involuntary, CPU ns, run-queue wait ns
"""
import ctypes
import os
import sys
import time


def spin(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        for _ in range(1000):
            x += 1
    return x


def own_figures():
    """This thread's voluntary, involuntary, se.sum_exec_runtime ns, run_delay ns."""
    vol = invol = 0
    with open("/proc/thread-self/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                vol = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                invol = int(line.split()[1])
    with open("/proc/thread-self/schedstat") as f:
        run, delay = (int(v) for v in f.read().split()[:2])
    return vol, invol, run, delay


def threads(n):
    import threading
    os.sched_setaffinity(0, {0})
    got = []
    go = threading.Event()

    def work():
        spin(0.3)
        go.wait()  # the other workloads are done by then: little to preempt the exit
        got.append(own_figures())  # list.append is atomic under the GIL

    ts = [threading.Thread(target=work) for _ in range(n)]
    for t in ts:
        t.start()
    time.sleep(0.3 * n + 0.2)
    sys.stdout.write("spun\n")
    sys.stdout.flush()
    sys.stdin.readline()
    go.set()
    for t in ts:
        t.join()
    return [sum(f[i] for f in got) for i in range(4)]


def execthread(n, depth):
    import threading

    def work():
        for _ in range(3 * n):
            time.sleep(0.001)
        spin(0.2)
        nxt = ["execthread", str(n), str(depth - 1)] if depth > 1 else ["rusage", str(n)]
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + nxt)

    threading.Thread(target=work).start()
    for _ in range(n):
        time.sleep(0.001)
    while True:  # the exec ends this thread
        time.sleep(60)


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    extra = ""
    if mode == "execthread":
        execthread(int(arg), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    elif mode == "rusage":
        import resource
        for _ in range(int(arg)):
            time.sleep(0.001)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu_ns = round((ru.ru_utime + ru.ru_stime) * 1e9)
        extra = f" {ru.ru_nvcsw} {ru.ru_nivcsw} {cpu_ns}"
    elif mode == "threads":
        extra = " " + " ".join(str(v) for v in threads(int(arg)))
    elif mode == "sleep":
        for _ in range(int(arg)):
            time.sleep(0.001)
    elif mode == "hog":
        os.sched_setaffinity(0, {0})
        spin(float(arg))
    elif mode == "burn":
        spin(float(arg))
    elif mode == "name":
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_NAME = 15
        if libc.prctl(PR_SET_NAME, ctypes.c_char_p(bytes.fromhex(arg)), 0, 0, 0) != 0:
            sys.exit("prctl failed")
    sys.stdout.write(f"done{extra}\n")
    sys.stdout.flush()
    sys.stdin.read(1)


main()
