# SPDX-License-Identifier: GPL-2.0-only
"""The real Prometheus server (Debian's prometheus package) scraping rawtpd.

promtool checks the shipped config and rules (and runs their unit tests) and the Grafana
dashboard must parse. Then a Prometheus on loopback, with a temporary data directory and a 1s
scrape interval, scrapes rawtpd twice over: directly (it negotiates OpenMetrics and gzip) and
through a small proxy that asks for text 0.0.4. Its HTTP API must then return the series of
known workload processes with hostile names, label for label and with the values rawtpd served:
exactly for a process that is blocked, and between two readings of rawtpd for one that keeps
running. This proves Content-Type, both formats and label escaping with the real client. The
shipped rules are loaded into it and must evaluate, as must every query of the dashboard.
When the process exits, its series must go stale in Prometheus (no stale series served).

Bounded to about two minutes; exits 77 (skip) without prometheus or root."""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import Checker, Daemon, find_process, free_port, require_root, skip  # noqa

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("RAWTPD_SRC", os.path.join(HERE, "..", ".."))
CONF = os.path.join(SRC, "conf")
WORKLOAD = os.path.join(HERE, "workload.py")
DEADLINE = time.monotonic() + 120

TEXT_ACCEPT = "text/plain;version=0.0.4"

# A process that keeps switching under a hostile name, until stdin closes.
BUSY = r"""
import ctypes, sys, threading, time
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(bytes.fromhex(sys.argv[1])), 0, 0, 0)
stop = False
def run():
    while not stop:
        end = time.monotonic() + 0.002
        while time.monotonic() < end:
            pass
        time.sleep(0.003)
threading.Thread(target=run, daemon=True).start()
print("done", flush=True)
sys.stdin.read(1)
"""

STATIC_NAME = (b'pr"om\\et\nh\xffeus', 'pr"om\\et\nh\\xffeus')
BUSY_NAME = (b"busy \xe2\x98\x83 {x=\"", 'busy \u2603 {x="')


def left():
    return DEADLINE - time.monotonic()


class TextProxy(http.server.BaseHTTPRequestHandler):
    """Relays GET /metrics to rawtpd asking for text 0.0.4; keeps what it relayed."""
    upstream = None
    seen = []

    def do_GET(self):
        headers = {"Accept": TEXT_ACCEPT}
        ae = self.headers.get("Accept-Encoding")
        if ae:
            headers["Accept-Encoding"] = ae
        req = urllib.request.Request(self.upstream + self.path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, rh, body = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, rh, body = e.code, e.headers, e.read()
        self.seen.append((self.headers.get("Accept"), rh.get("Content-Type"),
                          rh.get("Content-Encoding")))
        self.send_response(status)
        for h in ("Content-Type", "Content-Encoding", "Vary"):
            if rh.get(h):
                self.send_header(h, rh.get(h))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Prometheus:
    def __init__(self, tmp, targets, rules):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cfg = os.path.join(tmp, "prometheus.yml")
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n"
            for job, addr in targets)
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    f"rule_files:\n  - {rules}\n"
                    f"scrape_configs:\n{jobs}")
        self.log = open(os.path.join(tmp, "prometheus.log"), "w+")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        while left() > 0 and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=5) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def query(self, expr):
        """The instant vector of expr: [(labels, value)], or None when the query failed."""
        doc = self.api("query", query=expr)
        if doc.get("status") != "success":
            return None
        return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]

    def wait_query(self, expr, pred=lambda v: bool(v)):
        while left() > 0:
            v = self.query(expr)
            if v is not None and pred(v):
                return v
            time.sleep(0.25)
        return self.query(expr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


def promql_string(s):
    """s as a PromQL double-quoted string (Go escapes)."""
    return json.dumps(s, ensure_ascii=False)


def rawtpd_value(d, name, **labels):
    """The value of one sample on rawtpd's /metrics now (text format)."""
    _, text = d.metrics()
    for line in text.split("\n"):
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def static_checks(t):
    """What needs neither root nor a running server."""
    rules = os.path.join(CONF, "prometheus", "rawtpd.rules.yml")
    for args, what in ((["check", "rules", rules], "promtool check rules on the shipped rules"),
                       (["test", "rules", os.path.join(CONF, "prometheus",
                                                       "rawtpd.rules.test.yml")],
                        "promtool test rules: the alerts' unit tests pass"),
                       (["check", "config", os.path.join(CONF, "prometheus", "prometheus.yml")],
                        "promtool check config on the example scrape config")):
        r = subprocess.run(["promtool"] + args, capture_output=True, timeout=60)
        out = (r.stdout + r.stderr).decode(errors="replace")
        t.check(r.returncode == 0, what + ("" if r.returncode == 0 else ":\n" + out))
    path = os.path.join(CONF, "grafana", "rawtpd-dashboard.json")
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        t.check(False, f"the Grafana dashboard parses: {e}")
        return []
    exprs = [tg["expr"] for p in dash.get("panels", []) for tg in p.get("targets", [])]
    t.check(dash.get("uid") and dash.get("title") and len(exprs) >= 10,
            f"the Grafana dashboard parses ({len(exprs)} queries)")
    return exprs


def dashboard_query(expr):
    """A dashboard query with Grafana's variables given values, for Prometheus."""
    for var, val in (("$__rate_interval", "1m"), ("$__range", "5m"), ("$instance", ".*"),
                     ("$job", ".*"), ("$top", "10"), ("$unit", ".+")):
        expr = expr.replace(var, val)
    return expr


def main():
    t = Checker()
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        skip("prometheus (Debian's prometheus package) is not installed")
    exprs = static_checks(t)
    require_root()

    with tempfile.TemporaryDirectory(prefix="rawtpd-prometheus-") as tmp, \
            Daemon("--log-level", "debug", interval="500ms") as d:
        static = subprocess.Popen([sys.executable, WORKLOAD, "name", STATIC_NAME[0].hex()],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        busy = subprocess.Popen([sys.executable, "-c", BUSY, BUSY_NAME[0].hex()],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert static.stdout.readline().strip() == b"done"
        assert busy.stdout.readline().strip() == b"done"

        TextProxy.upstream = d.base
        proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TextProxy)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        prom = Prometheus(tmp, [("rawtpd", f"127.0.0.1:{d.port}"),
                                ("rawtpd-text", f"127.0.0.1:{proxy.server_address[1]}")],
                          os.path.join(CONF, "prometheus", "rawtpd.rules.yml"))
        try:
            run(t, d, prom, static, busy, exprs)
        finally:
            prom.stop()
            proxy.shutdown()
            for p in (static, busy):
                p.stdin.close()
                p.wait()
        if t.failed:
            print("--- prometheus log ---\n" + prom.logs()[-4000:])
    t.done()


def run(t, d, prom, static, busy, exprs):
    if not t.check(prom.wait_ready(), "Prometheus starts and is ready"):
        return
    for job in ("rawtpd", "rawtpd-text"):
        up = prom.wait_query(f'up{{job="{job}"}}', lambda v: v and v[0][1] == 1)
        t.check(up and up[0][1] == 1, f'up{{job="{job}"}} == 1')
    targets = prom.api("targets")["data"]["activeTargets"]
    for tg in targets:
        t.check(tg["health"] == "up" and not tg["lastError"],
                f"target {tg['labels']['job']}: healthy, no scrape error "
                f"({tg['lastError']!r})")
    # the format each job used: rawtpd's debug log names what it served
    logs = d.logs()
    t.check(re.search(r"GET /metrics -> 200 openmetrics gzip", logs) is not None,
            "Prometheus negotiated OpenMetrics with gzip")
    seen = TextProxy.seen[:]
    t.check(seen and all(ct == "text/plain; version=0.0.4; charset=utf-8" and ce == "gzip"
                         for _, ct, ce in seen),
            f"the text job got text 0.0.4, gzipped ({len(seen)} scrapes)")
    t.check(seen and "openmetrics" in (seen[0][0] or ""),
            f"Prometheus' own Accept header prefers OpenMetrics ({seen[0][0] if seen else ''})")

    doc = d.json("/api/v1/processes")
    for job in ("rawtpd", "rawtpd-text"):
        check_static(t, d, prom, job, static, doc)
        check_busy(t, d, prom, job, busy)

    # self-metrics arrive as they were served
    status = d.json("/api/v1/status")
    for job in ("rawtpd", "rawtpd-text"):
        v = prom.query(f'rawtpd_build_info{{job="{job}"}}')
        t.check(v and v[0][0].get("version") == status["version"] and
                v[0][0].get("libbpf_version") == status["libbpf_version"] and v[0][1] == 1,
                f"{job}: rawtpd_build_info with its labels")
        v = prom.query(f'rawtpd_bpf_map_capacity{{job="{job}"}}')
        t.check(v and v[0][1] == status["map_capacity"], f"{job}: rawtpd_bpf_map_capacity")
        v = prom.query(f'process_resident_memory_bytes{{job="{job}"}}')
        t.check(v and v[0][1] > 0, f"{job}: process_resident_memory_bytes")

    # the shipped rules evaluate against real data
    rules = prom.wait_query('rawtpd:bpf_map_fill:ratio{job="rawtpd"}')
    t.check(rules and 0 < rules[0][1] <= 1, "recording rule rawtpd:bpf_map_fill:ratio has a value")
    rate = prom.wait_query(f'rawtpd:process_cpu:rate1m{{job="rawtpd",pid="{busy.pid}"}}')
    t.check(rate and rate[0][1] > 0, "recording rule rawtpd:process_cpu:rate1m for the workload")
    groups = prom.api("rules")["data"]["groups"]
    bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"]
           if r.get("health") not in ("ok", "unknown")]
    t.check(groups and not bad, f"every shipped rule evaluates without error {bad or ''}")
    firing = prom.query('ALERTS{alertname=~"RawtpdDown|RawtpdSnapshotStale|'
                        'RawtpdBPFMapUpdateFailures",alertstate="firing"}')
    t.check(firing == [], "no health alert fires for a healthy rawtpd")

    # every query of the dashboard is valid PromQL with data behind the main ones
    failed = [e for e in exprs if prom.query(dashboard_query(e)) is None]
    t.check(exprs and not failed, f"every dashboard query evaluates ({failed})")
    top = prom.query(dashboard_query(exprs[0]))
    t.check(top, "the dashboard's top-CPU query returns series")

    # a process that exits leaves rawtpd's per-pid series, and Prometheus marks it stale
    static.stdin.close()
    static.wait()
    for job in ("rawtpd", "rawtpd-text"):
        gone = prom.wait_query(f'rawtpd_process_cpu_seconds_total{{job="{job}",'
                               f'pid="{static.pid}"}}', lambda v: v == [])
        t.check(gone == [], f"{job}: the exited workload's series goes stale at once")


def check_static(t, d, prom, job, p, doc):
    """A blocked process: Prometheus holds exactly what rawtpd serves."""
    want = STATIC_NAME[1]
    got = find_process(doc, p.pid)
    t.check(got and got["comm"] == want, f"rawtpd's JSON names the workload {want!r}")
    sel = f'job="{job}",pid="{p.pid}"'
    cpu = prom.wait_query(f"rawtpd_process_cpu_seconds_total{{{sel}}}")
    t.check(cpu and len(cpu) == 1 and cpu[0][0].get("comm") == want,
            f"{job}: the workload's series, comm label {want!r} intact")
    # by the exact label value, with PromQL escaping
    by_comm = prom.query(f'rawtpd_process_cpu_seconds_total{{job="{job}",'
                         f'comm={promql_string(want)}}}')
    t.check(by_comm and by_comm[0][0].get("pid") == str(p.pid),
            f"{job}: found again by its comm label")
    for name, labels in (("rawtpd_process_cpu_seconds_total", {}),
                         ("rawtpd_process_context_switches_total", {"type": "voluntary"}),
                         ("rawtpd_process_context_switches_total", {"type": "involuntary"})):
        served = rawtpd_value(d, name, pid=str(p.pid), **labels)
        extra = "".join(f',{k}="{v}"' for k, v in labels.items())
        # wait for a scrape of the current value (the process is blocked: it does not move)
        v = prom.wait_query(f"{name}{{{sel}{extra}}}",
                            lambda v, s=served: v and v[0][1] == s)
        t.check(v and v[0][1] == served,
                f"{job}: {name}{labels or ''} is {served}, as rawtpd serves it "
                f"(Prometheus: {v and v[0][1]})")


def check_busy(t, d, prom, job, p):
    """A running process: Prometheus' value lies between two readings of rawtpd."""
    sel = f'job="{job}",pid="{p.pid}"'
    for name, extra in (("rawtpd_process_cpu_seconds_total", ""),
                        ("rawtpd_process_context_switches_total", ',type="voluntary"')):
        labels = {"pid": str(p.pid)}
        if extra:
            labels["type"] = "voluntary"
        before = rawtpd_value(d, name, **labels)
        after_before = time.time()
        # a sample Prometheus scraped after that reading
        ts = prom.wait_query(f"timestamp({name}{{{sel}{extra}}})",
                             lambda v: v and v[0][1] > after_before)
        v = prom.query(f"{name}{{{sel}{extra}}}")
        after = rawtpd_value(d, name, **labels)
        ok = bool(ts and v and before is not None and after is not None and
                  before <= v[0][1] <= after)
        t.check(ok, f"{job}: {name}{extra} of the busy workload: {before} <= "
                    f"{v and v[0][1]} (Prometheus) <= {after}")
        if v:
            t.check(v[0][0].get("comm") == BUSY_NAME[1],
                    f"{job}: busy workload's comm label {BUSY_NAME[1]!r}")
    tot = "rawtpd_context_switches_total"
    before = rawtpd_value(d, tot, type="involuntary")
    after_before = time.time()
    prom.wait_query(f'timestamp({tot}{{job="{job}",type="involuntary"}})',
                    lambda v: v and v[0][1] > after_before)
    v = prom.query(f'{tot}{{job="{job}",type="involuntary"}}')
    after = rawtpd_value(d, tot, type="involuntary")
    t.check(v and before <= v[0][1] <= after,
            f"{job}: {tot}{{type=involuntary}}: {before} <= {v and v[0][1]} <= {after}")


main()
