# SPDX-License-Identifier: GPL-2.0-only
"""A process that names itself with quotes, backslashes, newlines and bytes that are not
UTF-8 still gets output that promtool accepts and JSON that parses, with the same escaped
name in both."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import Checker, Daemon, find_process, promtool_check, require_root  # noqa

WORKLOAD = os.path.join(os.path.dirname(__file__), "workload.py")
NAMES = [
    (b'a"b\\c\nd\xff\xfe', 'a"b\\c\nd\\xff\\xfe'),
    (b"\xc3\x28{}=,\"", '\\xc3({}=,"'),
    (b"caf\xc3\xa9 \xe2\x82", "café \\xe2\\x82"),
]


def main():
    require_root()
    t = Checker()
    with Daemon(interval="200ms") as d:
        procs = []
        for raw, _ in NAMES:
            p = subprocess.Popen([sys.executable, WORKLOAD, "name", raw.hex()],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert p.stdout.readline().strip() == b"done"
            procs.append(p)
        d.wait_aggregations(3)
        status, headers, body = d.get("/api/v1/processes")
        doc = json.loads(body.decode("utf-8"))  # strict: must be valid UTF-8
        _, text = d.metrics()
        ok, out = promtool_check(text)
        if ok is None:
            print("  promtool missing: skipping the promtool check")
        else:
            t.check(ok, "promtool check metrics accepts the output" + ("" if ok else ":\n" + out))
        for (raw, want), p in zip(NAMES, procs):
            got = find_process(doc, p.pid)
            t.check(got is not None and got["comm"] == want,
                    f"JSON comm of {raw!r} is {want!r} (got {got and got['comm']!r})")
            label = want.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            t.check(f'pid="{p.pid}",comm="{label}"' in text,
                    f"metrics label of {raw!r} is {label!r}")
            p.stdin.close()
            p.wait()
    t.done()


main()
