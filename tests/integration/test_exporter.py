# SPDX-License-Identifier: GPL-2.0-only
"""The exporter as a scraper sees it, against the real daemon: both exposition formats checked
by the real parsers (promtool for text 0.0.4, prometheus_client's OpenMetrics parser) with
hostile process names present, content negotiation and gzip, /api/v1/processes queries and
their errors, /api/v1/status, the self-metrics, and cardinality control: group_by = comm from
a config file and switched by SIGHUP, max_series and the comm filters with rawtpd_series_dropped.

Runs under Debian's /usr/bin/python3; prometheus_client (python3-prometheus-client) is used
when it is importable there."""
import gzip
import json
from decimal import Decimal
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import Checker, Daemon, find_process, promtool_check, require_root  # noqa

WORKLOAD = os.path.join(os.path.dirname(__file__), "workload.py")

# raw comm bytes -> the text both outputs show
HOSTILE = [
    (b'a"b\\c\nd\xff\xfe', 'a"b\\c\nd\\xff\\xfe'),
    (b"\xc3\x28{}=,\"", '\\xc3({}=,"'),
    (b"caf\xc3\xa9 \xe2\x82", "caf\u00e9 \\xe2\\x82"),
    (b"# EOF\n", "# EOF\n"),
]

# Names itself rtp-forker, then forks children that run a little under that name before they
# exec sleep: each child's name changes while it is counted.
FORKER = r"""
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
for _ in range(12):
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 0.005
        while time.monotonic() < end:
            pass
        time.sleep(0.001)
        os.execv("/bin/sleep", ["sleep", "0.3"])
    os.waitpid(pid, 0)
    time.sleep(0.02)
"""

# Accept headers as real clients send them -> the format served
PROMETHEUS_2 = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
PROMETHEUS_3 = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;"
                "escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
ACCEPTS = [
    (None, "text"),
    ("*/*", "text"),  # curl
    ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
     "text"),  # a browser
    ("text/plain;version=0.0.4", "text"),
    (PROMETHEUS_2, "om"),
    (PROMETHEUS_3, "om"),
    ("application/openmetrics-text", "om"),
    ("application/openmetrics-text;version=2.0.0", "text"),
]
CT = {"text": "text/plain; version=0.0.4; charset=utf-8",
      "om": "application/openmetrics-text; version=1.0.0; charset=utf-8"}

try:
    from prometheus_client.openmetrics import parser as om_parser
    from prometheus_client import parser as text_parser
except ImportError:  # not /usr/bin/python3, or python3-prometheus-client missing
    om_parser = text_parser = None


def hdr(headers, name):
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def parse_samples(text):
    """[(name, {label: value}, value)] of an exposition, label values unescaped."""
    out = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
        name, i, labels = m.group(1), m.end(), {}
        if line[i] == "{":
            i += 1
            while line[i] != "}":
                eq = line.index("=", i)
                key, i, val = line[i:eq], eq + 2, []
                while line[i] != '"':
                    if line[i] == "\\":
                        val.append({"n": "\n", "\\": "\\", '"': '"'}[line[i + 1]])
                        i += 2
                    else:
                        val.append(line[i])
                        i += 1
                labels[key] = "".join(val)
                i += 1
                if line[i] == ",":
                    i += 1
            i += 1
        out.append((name, labels, line[i:].strip()))
    return out


def value_of(samples, name, **labels):
    for n, l, v in samples:
        if n == name and all(l.get(k) == want for k, want in labels.items()):
            return float(v)
    return None


def same_snapshot(d, paths, headers=None, tries=40):
    """GET each path; retried until the first and a repeat of it are byte-identical, so
    everything fetched in between came from one snapshot."""
    for _ in range(tries):
        first = d.get(paths[0], headers)
        rest = [d.get(p, headers) for p in paths[1:]]
        again = d.get(paths[0], headers)
        if first[2] == again[2]:
            return [first] + rest
    raise RuntimeError("never caught two requests on one snapshot")


def check_formats(t, d, procs):
    # text 0.0.4, checked by promtool and by prometheus_client's text parser
    status, headers, body = d.get("/metrics")
    text = body.decode("utf-8")
    t.check(status == 200 and hdr(headers, "Content-Type") == CT["text"],
            f"text: 200 with {CT['text']!r} (got {status}, {hdr(headers, 'Content-Type')!r})")
    ok, out = promtool_check(text)
    if ok is None:
        print("  promtool missing: skipping promtool check metrics")
    else:
        t.check(ok, "promtool check metrics accepts the text format" + ("" if ok else
                                                                           ":\n" + out))
    doc = d.json("/api/v1/processes")
    samples = parse_samples(text)
    for (raw, want), p in zip(HOSTILE, procs):
        got = find_process(doc, p.pid)
        t.check(got is not None and got["comm"] == want,
                f"JSON comm of {raw!r} is {want!r} (got {got and got['comm']!r})")
        v = value_of(samples, "rawtpd_process_cpu_seconds_total", pid=str(p.pid))
        labels = [l for n, l, _ in samples
                  if n == "rawtpd_process_cpu_seconds_total" and l.get("pid") == str(p.pid)]
        t.check(v is not None and labels and labels[0]["comm"] == want,
                f"text: comm label of {raw!r} reads back as {want!r}")
    if text_parser:
        try:
            fams = {f.name: f for f in text_parser.text_string_to_metric_families(text)}
            comms = {s.labels.get("comm") for s in
                     fams["rawtpd_process_cpu_seconds"].samples}
            t.check(all(w in comms for _, w in HOSTILE),
                    "prometheus_client's text parser reads every hostile name back")
        except Exception as e:  # noqa: BLE001 - any parse error is the failure
            t.check(False, f"prometheus_client's text parser: {e!r}")

    # OpenMetrics, checked by prometheus_client's strict parser
    status, headers, body = d.get("/metrics", {"Accept": PROMETHEUS_2})
    om = body.decode("utf-8")
    t.check(status == 200 and hdr(headers, "Content-Type") == CT["om"],
            f"OpenMetrics for Prometheus' Accept, with {CT['om']!r}")
    t.check(om.endswith("\n# EOF\n") and om.count("# EOF\n") == 1,
            "OpenMetrics ends with its one # EOF line")
    t.check("# TYPE rawtpd_process_context_switches counter\n" in om and
            "# TYPE rawtpd_build info\n" in om and "_total counter" not in om,
            "OpenMetrics names counter and info families without the suffix")
    if om_parser:
        try:
            fams = {f.name: f for f in om_parser.text_string_to_metric_families(om)}
            comms = {s.labels.get("comm") for s in
                     fams["rawtpd_process_cpu_seconds"].samples}
            t.check(all(w in comms for _, w in HOSTILE) and
                    fams["rawtpd_build"].type == "info" and
                    fams["rawtpd_process_context_switches"].type == "counter",
                    "prometheus_client's OpenMetrics parser accepts it, hostile names intact")
        except Exception as e:  # noqa: BLE001
            t.check(False, f"prometheus_client's OpenMetrics parser: {e!r}")
    else:
        print("  prometheus_client not importable: skipping the OpenMetrics parser check")

    # content negotiation, as the real clients ask
    for accept, want in ACCEPTS:
        status, headers, body = d.get("/metrics", {"Accept": accept} if accept else {})
        ct = hdr(headers, "Content-Type")
        t.check(status == 200 and ct == CT[want] and
                body.endswith(b"# EOF\n") == (want == "om"),
                f"Accept {accept!r} -> {want} (got {ct!r})")
        t.check("Accept" in (hdr(headers, "Vary") or ""), f"Vary names Accept ({accept!r})")


def check_gzip(t, d):
    for fmt, accept in (("text", "*/*"), ("om", PROMETHEUS_2)):
        for _ in range(40):
            p1 = d.get("/metrics", {"Accept": accept})
            gz = d.get("/metrics", {"Accept": accept, "Accept-Encoding": "gzip, deflate"})
            p2 = d.get("/metrics", {"Accept": accept})
            if p1[2] == p2[2]:
                break
        status, headers, body = gz
        t.check(status == 200 and hdr(headers, "Content-Encoding") == "gzip" and
                hdr(headers, "Content-Type") == CT[fmt],
                f"{fmt}: gzip for Accept-Encoding: gzip, deflate, with the same Content-Type")
        t.check("Accept-Encoding" in (hdr(headers, "Vary") or ""),
                f"{fmt}: Vary names Accept-Encoding")
        try:
            plain = gzip.decompress(body)
        except OSError as e:
            plain = repr(e).encode()
        t.check(p1[2] == p2[2] and plain == p1[2],
                f"{fmt}: the gzip body unpacks to the identity body of the same snapshot "
                f"({len(body)} bytes for {len(p1[2])}, {len(body) / max(1, len(p1[2])):.1%})")
        t.check(hdr(p1[1], "Content-Encoding") is None, f"{fmt}: no gzip unless asked")
    status, headers, _ = d.get("/metrics", {"Accept-Encoding": "gzip;q=0, identity"})
    t.check(hdr(headers, "Content-Encoding") is None, "gzip;q=0 refuses gzip")
    status, headers, body = d.get("/metrics", {"Accept-Encoding": "gzip"}, method="HEAD")
    t.check(status == 200 and body == b"" and hdr(headers, "Content-Encoding") == "gzip" and
            hdr(headers, "Content-Type") == CT["text"],
            "HEAD /metrics: the GET headers, no body")


def check_queries(t, d, procs):
    pid = procs[2].pid
    doc = d.json("/api/v1/processes")
    t.check(doc["processes"] and [p["pid"] for p in doc["processes"]] ==
            sorted(p["pid"] for p in doc["processes"]),
            "without a query: every process, by pid")
    t.check(set(doc) >= {"timestamp", "interval_seconds", "attach_mode", "processes", "totals"}
            and set(doc["totals"]) >= {"context_switches", "cpu_seconds", "processes_exited"},
            "the documented keys are there")
    p = doc["processes"][0]
    t.check(set(p) >= {"pid", "comm", "context_switches", "cpu_seconds", "rates"} and
            set(p["rates"]) >= {"context_switches_per_second", "cpu_utilization"},
            "each process has counters and rates")
    keys = {"cpu": lambda p: p["cpu_seconds"],
            "switches": lambda p: sum(p["context_switches"].values()),
            "voluntary": lambda p: p["context_switches"]["voluntary"],
            "involuntary": lambda p: p["context_switches"]["involuntary"]}
    for sort, key in keys.items():
        got = d.json(f"/api/v1/processes?sort={sort}&top=5")["processes"]
        vals = [key(p) for p in got]
        t.check(len(got) == 5 and vals == sorted(vals, reverse=True),
                f"sort={sort}&top=5: five processes, largest first")
    got = d.json(f"/api/v1/processes?pid={pid}")["processes"]
    t.check(len(got) == 1 and got[0]["pid"] == pid, f"pid={pid}: that process only")
    sub = "caf\u00e9 \\xe2"
    got = d.json("/api/v1/processes?comm=" + urllib.parse.quote(sub))["processes"]
    t.check(got and all(sub in p["comm"] for p in got) and pid in [p["pid"] for p in got],
            f"comm={sub!r} (UTF-8 and an escaped byte): the matching processes")
    got = d.json("/api/v1/processes?comm=python&sort=cpu&top=1")["processes"]
    t.check(len(got) <= 1 and all("python" in p["comm"] for p in got),
            "parameters combine: comm, sort and top")
    got = d.json("/api/v1/processes?pid=4194304")["processes"]
    t.check(got == [], "a pid nobody has: an empty list, not an error")

    bad = [("top=0", "top"), ("top=x", "top"), ("top=", "top"), ("sort=name", "sort"),
           ("pid=0", "pid"), ("pid=-1", "pid"), ("pid=99999999999", "pid"),
           ("comm=%FF", "comm"), ("comm=" + "x" * 70, "comm"), ("colour=red", "colour"),
           ("top=1&top=2", "top"), ("sort", "sort")]
    for query, param in bad:
        status, headers, body = d.get("/api/v1/processes?" + query)
        try:
            err = json.loads(body)
        except ValueError:
            err = {}
        t.check(status == 400 and hdr(headers, "Content-Type") == "application/json" and
                err.get("parameter") == param and err.get("error"),
                f"?{query}: 400, JSON naming {param!r} and why ({err.get('error')!r})")
    status, headers, body = d.get("/api/v1/processes?top=1", method="HEAD")
    t.check(status == 200 and body == b"" and
            hdr(headers, "Content-Type") == "application/json", "HEAD with a query")
    status, headers, _ = d.get("/api/v1/processes", method="POST")
    t.check(status == 405 and "GET" in (hdr(headers, "Allow") or ""), "POST: 405 with Allow")


def check_status(t, d):
    st = d.json("/api/v1/status")
    want = {"version", "kernel_release", "attach_mode", "interval_seconds", "uptime_seconds",
            "map_capacity", "map_entries", "map_fill_ratio", "map_update_failures",
            "processes_seen", "processes_exited", "last_aggregation_timestamp",
            "last_aggregation_duration_seconds", "bpf_stats_enabled", "bpf_program_runs",
            "bpf_program_run_seconds", "series_dropped", "bpf_map_memory_bytes"}
    t.check(want <= set(st), f"status has every documented field (missing {want - set(st)})")
    t.check(st.get("kernel_release") == os.uname().release, "kernel_release is uname -r")
    t.check(st.get("interval_seconds") == 0.2, "interval_seconds is the --interval")
    t.check(st.get("attach_mode") in ("tp_btf", "raw_tp", "tracepoint", "kprobe"),
            f"attach_mode is a mode ({st.get('attach_mode')!r})")
    t.check(st.get("map_capacity") == 32768 and 0 < st.get("map_entries", 0) <= 32768 and
            abs(st["map_fill_ratio"] - st["map_entries"] / st["map_capacity"]) < 1e-9,
            "map capacity, entries and fill agree")
    t.check(abs(st.get("last_aggregation_timestamp", 0) - time.time()) < 30,
            "last_aggregation_timestamp is now")
    t.check(st.get("processes_seen", 0) >= st.get("processes_live", 1),
            "processes_seen counts at least the live ones")
    # other tests may turn the statistics on and off: compare when the kernel held still
    for _ in range(20):
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            enabled = f.read().strip() == "1"
        d.wait_aggregations(1)
        st2 = d.json("/api/v1/status")
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            if (f.read().strip() == "1") == enabled:
                break
    t.check(st2.get("bpf_stats_enabled") is enabled,
            f"bpf_stats_enabled says what the kernel says ({enabled})")
    status, headers, body = d.get("/")
    t.check(status == 200 and hdr(headers, "Content-Type").startswith("text/html") and
            st["version"].encode() in body and st["attach_mode"].encode() in body and
            b'href="metrics"' in body, "landing page: version, attach mode, links")
    t.check(d.get("/-/healthy")[0] == 200, "/-/healthy: 200")
    return st


def proc_start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open("/proc/stat") as f:
        btime = int(next(l for l in f if l.startswith("btime")).split()[1])
    return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def check_self_metrics(t, d, st):
    _, text = d.metrics()
    s = parse_samples(text)
    names = {n for n, _, _ in s}
    want = {"rawtpd_build_info", "rawtpd_attach_info", "rawtpd_bpf_map_entries",
            "rawtpd_bpf_map_capacity", "rawtpd_bpf_map_update_failures_total",
            "rawtpd_bpf_map_memory_bytes", "rawtpd_bpf_program_runs_total", "rawtpd_bpf_program_run_seconds_total",
            "rawtpd_series_dropped", "rawtpd_last_aggregation_timestamp_seconds",
            "rawtpd_aggregation_duration_seconds", "rawtpd_context_switches_total",
            "rawtpd_cpu_seconds_total", "rawtpd_processes_exited_total",
            "process_cpu_seconds_total", "process_resident_memory_bytes",
            "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
            "process_start_time_seconds"}
    t.check(want <= names, f"every self-metric is there (missing {sorted(want - names)})")
    t.check(value_of(s, "rawtpd_build_info", version=st["version"]) == 1,
            f"rawtpd_build_info{{version={st['version']!r}}} 1")
    t.check(value_of(s, "rawtpd_attach_info", mode=st["attach_mode"]) == 1,
            f"rawtpd_attach_info{{mode={st['attach_mode']!r}}} 1")
    t.check(value_of(s, "rawtpd_bpf_map_capacity") == st["map_capacity"],
            "rawtpd_bpf_map_capacity agrees with the status")
    pid = d.proc.pid
    with open(f"/proc/{pid}/limits") as f:
        soft = next(l for l in f if l.startswith("Max open files")).split()[3]
    t.check(value_of(s, "process_max_fds") == float(soft), "process_max_fds is the soft limit")
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    t.check(abs(value_of(s, "process_open_fds") - fds) <= 8,
            f"process_open_fds near /proc's count ({value_of(s, 'process_open_fds')} vs {fds})")
    rss = value_of(s, "process_resident_memory_bytes") or 0
    t.check(1 << 20 < rss < 1 << 30, f"process_resident_memory_bytes is plausible ({rss:.0f})")
    t.check(abs(value_of(s, "process_start_time_seconds") - proc_start_time(pid)) < 1.5,
            "process_start_time_seconds is the daemon's start")
    cpu = value_of(s, "process_cpu_seconds_total")
    t.check(cpu is not None and cpu >= 0, "process_cpu_seconds_total")
    # in exact decimals: with no process exited yet the two are equal, and a float sum of the
    # series can come out one ulp above the total (0.6379725960000001 against 0.637972596)
    total = next((Decimal(v) for n, _, v in s if n == "rawtpd_cpu_seconds_total"), None)
    per = sum(Decimal(v) for n, _, v in s if n == "rawtpd_process_cpu_seconds_total")
    t.check(total is not None and total >= per,
            f"rawtpd_cpu_seconds_total covers every series ({total} >= {per})")


def spawn(name_bytes):
    p = subprocess.Popen([sys.executable, WORKLOAD, "name", name_bytes.hex()],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdout.readline().strip() == b"done"
    return p


def finish(p):
    p.stdin.close()
    p.wait()


def wait_for(pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = pred()
        if r:
            return r
        time.sleep(0.1)
    return None


def proc_series(text):
    return [(l, float(v)) for n, l, v in parse_samples(text)
            if n == "rawtpd_process_cpu_seconds_total"]


def check_group_by_comm(t, tmp):
    """group_by = comm from the config file; SIGHUP switches pid -> comm and back."""
    conf = os.path.join(tmp, "rawtpd.conf")
    with open(conf, "w") as f:
        f.write("[metrics]\ngroup_by = pid\n")
    name = f"rtp-grp-{os.getpid() % 10000}".encode()[:15]
    with Daemon(config=conf) as d:
        a, b = spawn(name), spawn(name)
        d.wait_aggregations(3)
        series = proc_series(d.metrics()[1])
        mine = [l for l, _ in series if l["comm"] == name.decode()]
        t.check(len(mine) == 2 and all("pid" in l for l in mine),
                "group_by = pid: one series per process, with pid")
        before = {l["pid"]: v for l, v in series if l["comm"] == name.decode()}

        with open(conf, "w") as f:
            f.write("[metrics]\ngroup_by = comm\n")
        d.proc.send_signal(signal.SIGHUP)
        text = wait_for(lambda: (lambda x: x if "pid=" not in x.split(
            "# HELP rawtpd_context_switches_total")[0] else None)(d.metrics()[1]))
        t.check(text is not None, "SIGHUP with group_by = comm: the per-pid series are gone")
        text = text or ""
        grouped = {l["comm"]: v for l, v in proc_series(text)}
        # (not compared with the per-pid sum: what the processes counted under their first
        # name, before they renamed themselves, stays with that name)
        t.check(name.decode() in grouped and len(before) == 2,
                f"{name.decode()}: one series for both processes")
        t.check(all(set(l) == {"comm"} for l, _ in proc_series(text)),
                "grouped series carry comm only")
        ok, out = promtool_check(text)
        if ok is not None:
            t.check(ok, "promtool accepts the grouped output" + ("" if ok else ":\n" + out))
        status, _, om = d.get("/metrics", {"Accept": PROMETHEUS_2})
        if om_parser:
            try:
                list(om_parser.text_string_to_metric_families(om.decode()))
                t.check(True, "the OpenMetrics parser accepts the grouped output")
            except Exception as e:  # noqa: BLE001
                t.check(False, f"the OpenMetrics parser on the grouped output: {e!r}")

        # A name whose processes fork and exec: its counters must not go down either.
        forker_name = f"rtp-fork-{os.getpid() % 10000}"
        f = subprocess.Popen([sys.executable, "-c", FORKER, forker_name])
        values = []
        while f.poll() is None:
            values.append(value_of(parse_samples(d.metrics()[1]),
                                   "rawtpd_process_cpu_seconds_total", comm=forker_name))
            time.sleep(0.05)
        f.wait()
        values = [v for v in values if v is not None]
        downs = [(a, b) for a, b in zip(values, values[1:]) if b < a]
        # What a process counted under its old name stays with that name (aggregate.c
        # named_base), so a fork+exec never takes counts away from the parent's name.
        t.check(not downs and len(values) > 1,
                f"{forker_name} never went down while its children exec'd ({len(values)} "
                f"scrapes{', e.g. ' + str(downs[0]) if downs else ''})")

        # Both processes exit: the name's counters stay, never lower.
        exited_before = d.json("/api/v1/status")["processes_exited"]
        seen = [grouped.get(name.decode())]
        finish(a)
        finish(b)
        for _ in range(6):
            d.wait_aggregations(1)
            seen.append(value_of(parse_samples(d.metrics()[1]),
                                 "rawtpd_process_cpu_seconds_total", comm=name.decode()))
        t.check(None not in seen and seen == sorted(seen),
                f"after both exit, {name.decode()} keeps its counts, never lower ({seen})")
        t.check(d.json("/api/v1/status")["processes_exited"] >= exited_before + 2,
                "the exits are counted")
        t.check(d.json(f"/api/v1/processes?pid={a.pid}")["processes"] == [],
                "the JSON lists live processes only")

        # and back
        with open(conf, "w") as f:
            f.write("[metrics]\ngroup_by = pid\n")
        d.proc.send_signal(signal.SIGHUP)
        t.check(wait_for(lambda: 'pid="' in d.metrics()[1]) is not None,
                "SIGHUP with group_by = pid: per-pid series again")
        # a bad file is refused and the running configuration stays
        with open(conf, "w") as f:
            f.write("[metrics]\ngroup_by = colour\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_aggregations(3)
        t.check(d.proc.poll() is None and 'pid="' in d.metrics()[1],
                "a bad file on SIGHUP: still running, still by pid")

    with open(conf, "w") as f:
        f.write("[metrics]\ngroup_by = comm\n")
    with Daemon(config=conf) as d:
        d.wait_aggregations(2)
        t.check(all(set(l) == {"comm"} for l, _ in proc_series(d.metrics()[1])),
                "group_by = comm from the file at start-up")


def check_cardinality(t):
    """max_series and the filters: the busiest kept, the rest counted as dropped."""
    with Daemon("--max-series", "5") as d:
        d.wait_aggregations(3)
        for _ in range(40):
            (_, _, text), (_, _, st), (_, _, top) = same_snapshot(
                d, ["/metrics", "/api/v1/status", "/api/v1/processes?sort=cpu&top=5"])
            st, top = json.loads(st), json.loads(top)
            s = parse_samples(text.decode())
            if value_of(s, "rawtpd_last_aggregation_timestamp_seconds") == top["timestamp"]:
                break
        series = proc_series(text.decode())
        dropped = value_of(s, "rawtpd_series_dropped")
        t.check(len(series) == 5, f"--max-series 5: five series (got {len(series)})")
        t.check(dropped == st["series_dropped"] and
                dropped == st["processes_live"] - 5 and dropped > 0,
                f"rawtpd_series_dropped counts the rest ({dropped}, "
                f"{st['processes_live']} live)")
        t.check(sorted(int(l["pid"]) for l, _ in series) ==
                sorted(p["pid"] for p in top["processes"]),
                "the five kept are the five busiest by CPU")
        t.check(value_of(s, "rawtpd_cpu_seconds_total") >= sum(v for _, v in series),
                "the totals still count the dropped ones")
        t.check(len(d.json("/api/v1/processes")["processes"]) > 5,
                "the JSON keeps every process")

    with Daemon("--exclude-comm", "^(kworker|ksoftirqd)", "--include-comm", ".") as d:
        d.wait_aggregations(3)
        # an idle machine may run no kworker for a while: sync(2) wakes the writeback ones
        deadline = time.time() + 20
        while time.time() < deadline and not d.json("/api/v1/processes?comm=kworker")["processes"]:
            os.sync()
            time.sleep(0.2)
        d.wait_aggregations(2)
        text = d.metrics()[1]
        comms = {l["comm"] for l, _ in proc_series(text)}
        t.check(comms and not any(re.match("^(kworker|ksoftirqd)", c) for c in comms),
                "--exclude-comm: no kworker or ksoftirqd series")
        dropped = value_of(parse_samples(text), "rawtpd_series_dropped")
        t.check(dropped and dropped > 0, f"filtered series counted as dropped ({dropped})")
        doc = d.json("/api/v1/processes?comm=kworker")
        t.check(len(doc["processes"]) > 0, "the JSON still lists the filtered processes")


def main():
    require_root()
    t = Checker()
    with tempfile.TemporaryDirectory(prefix="rawtpd-exporter-") as tmp:
        with Daemon(interval="200ms") as d:
            procs = [spawn(raw) for raw, _ in HOSTILE]
            try:
                d.wait_aggregations(3)
                check_formats(t, d, procs)
                check_gzip(t, d)
                check_queries(t, d, procs)
                st = check_status(t, d)
                check_self_metrics(t, d, st)
            finally:
                for p in procs:
                    finish(p)
        check_group_by_comm(t, tmp)
        check_cardinality(t)
    t.done()


main()
