# SPDX-License-Identifier: GPL-2.0-only
"""Known workloads for the integration tests. Each does its work, prints "done", then blocks
on stdin so its /proc figures can be read while it still exists.

  workload.py sleep N      N short sleeps: voluntary switches
  workload.py hog SECONDS  spin pinned to CPU 0 (run two: involuntary switches)
  workload.py burn SECONDS spin wherever the scheduler puts it
  workload.py name HEX     set own comm to the given bytes (prctl), then block
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


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "sleep":
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
    sys.stdout.write("done\n")
    sys.stdout.flush()
    sys.stdin.read(1)


main()
