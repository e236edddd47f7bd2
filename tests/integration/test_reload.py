# SPDX-License-Identifier: GPL-2.0-only
"""SIGHUP: storms of reloads while scraping, a changed file, a broken file, moving ports.

- 500 SIGHUPs (at most 30 s) while two threads scrape /metrics and /api/v1/processes: every
  scrape answers 200, totals never go down, the daemon stays healthy and keeps aggregating,
  and it holds no more file descriptors or memory than before (within a little);
- a changed interval takes effect; a file that does not parse is reported and the running
  configuration stays;
- 40 reloads alternating the listen port between two values end on the right one, with the
  old port closed and no descriptor left behind."""
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import Checker, Daemon, free_port, require_root, rss, sanitized  # noqa: E402

STORM = 500
STORM_SECONDS = 30
PORT_FLIPS = 40


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)  # a reload never sees half a file


def conf(port, interval="250ms", level="info"):
    return (f"[daemon]\ninterval = {interval}\nlog_level = {level}\n"
            f"[http]\nlisten = 127.0.0.1:{port}\n")


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def totals(doc):
    t = doc["totals"]
    return (t["context_switches"]["voluntary"], t["context_switches"]["involuntary"],
            t["cpu_seconds"], t["processes_exited"])


def wait_for(pred, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def storm(t, d, config, port):
    pid = d.proc.pid
    d.wait_aggregations(2)
    fds0, rss0 = nfds(pid), rss(pid)
    st0 = d.json("/api/v1/status")
    codes = {}
    seen = []
    stop = threading.Event()
    lock = threading.Lock()

    def scrape(path):
        while not stop.is_set():
            try:
                s, _, body = d.get(path)
                if path == "/api/v1/processes" and s == 200:
                    import json
                    seen.append(totals(json.loads(body)))
            except OSError as e:
                s = type(e).__name__
            with lock:
                codes[s] = codes.get(s, 0) + 1

    threads = [threading.Thread(target=scrape, args=(p,))
               for p in ("/metrics", "/api/v1/processes")]
    for th in threads:
        th.start()
    sent = 0
    t0 = time.time()
    for i in range(STORM):
        if time.time() - t0 > STORM_SECONDS or d.proc.poll() is not None:
            break
        if i % 50 == 25:  # the file changes now and then (log level only)
            write(config, conf(port, level="debug" if i % 100 == 25 else "info"))
        os.kill(pid, signal.SIGHUP)
        sent += 1
        time.sleep(0.002)
    dt = time.time() - t0
    time.sleep(1)
    stop.set()
    for th in threads:
        th.join()
    write(config, conf(port))
    os.kill(pid, signal.SIGHUP)
    alive = d.proc.poll() is None
    print(f"  {sent} SIGHUPs in {dt:.1f} s; scrapes: {codes}; "
          f"{d.logs().count('Configuration reloaded')} reloads logged")
    t.check(alive, "still running after the storm")
    if not alive:
        return
    t.check(set(codes) == {200}, f"every scrape during the storm answered 200 ({codes})")
    mono = all(all(b >= a for a, b in zip(x, y)) for x, y in zip(seen, seen[1:]))
    t.check(mono and seen, f"totals never went down ({len(seen)} scrapes)")
    t.check(d.get("/-/healthy")[0] == 200, "healthy after the storm")
    d.wait_aggregations(3)
    st1 = d.json("/api/v1/status")
    t.check(st1["aggregations"] > st0["aggregations"], "still aggregating")
    t.check("Configuration reloaded" in d.logs(), "reloads logged")
    fds1, rss1 = nfds(pid), rss(pid)
    print(f"  fds {fds0} -> {fds1}, RSS {rss0 >> 10} -> {rss1 >> 10} KiB")
    t.check(fds1 <= fds0 + 4, f"no descriptors left behind ({fds0} -> {fds1})")
    if sanitized(pid):
        print("  (ASan build: its quarantine holds freed memory, RSS is not checked)")
    else:
        t.check(rss1 <= rss0 + (4 << 20), f"memory bounded ({rss0 >> 10} -> {rss1 >> 10} KiB)")


def changes(t, d, config, port):
    pid = d.proc.pid
    write(config, conf(port, interval="500ms"))
    os.kill(pid, signal.SIGHUP)
    ok = wait_for(lambda: d.json("/api/v1/status")["interval_seconds"] == 0.5, 20)
    t.check(ok, "a changed interval takes effect on SIGHUP")
    write(config, "[daemon]\ninterval = 1s\nthis is not a key value line\n")
    os.kill(pid, signal.SIGHUP)
    ok = wait_for(lambda: "keeping the running configuration" in d.logs(), 20)
    t.check(ok, "a broken file is reported")
    d.wait_aggregations(2)
    t.check(d.json("/api/v1/status")["interval_seconds"] == 0.5,
            "... and the running configuration stays")
    t.check(":3:" in d.logs(), "the report names the line")
    write(config, conf(port))
    os.kill(pid, signal.SIGHUP)
    t.check(wait_for(lambda: d.json("/api/v1/status")["interval_seconds"] == 0.25, 20),
            "a good file again is taken")


def answers(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def ports(t, d, config, port):
    pid = d.proc.pid
    other = free_port()
    fds0 = nfds(pid)
    for i in range(PORT_FLIPS):
        write(config, conf(other if i % 2 == 0 else port))
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.05)
    # PORT_FLIPS is even: the last file names the original port
    ok = wait_for(lambda: answers(port) and not answers(other), 20)
    t.check(ok, f"{PORT_FLIPS} listen changes end on the right port, the other closed")
    write(config, conf(other))
    os.kill(pid, signal.SIGHUP)
    ok = wait_for(lambda: answers(other) and not answers(port), 20)
    t.check(ok, "one more change moves it")
    d.port, d.base = other, f"http://127.0.0.1:{other}"
    fds1 = nfds(pid)
    t.check(fds1 <= fds0 + 4, f"no descriptors left behind by the moves ({fds0} -> {fds1})")
    t.check(d.proc.poll() is None and d.get("/-/healthy")[0] == 200, "healthy after the moves")


def main():
    require_root()
    t = Checker()
    tmp = tempfile.mkdtemp(prefix="rawtpd-reload-")
    config = os.path.join(tmp, "rawtpd.conf")
    port = free_port()
    write(config, conf(port))
    # the listen address comes from the config file (no --listen flag)
    with Daemon(argv=["--config", config], port=port) as d:
        storm(t, d, config, port)
        if d.proc.poll() is None:
            changes(t, d, config, port)
            ports(t, d, config, port)
        rc = d.stop()
        t.check(rc == 0, f"clean stop (exit {rc})")
    t.done()


main()
