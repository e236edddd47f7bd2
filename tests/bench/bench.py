# SPDX-License-Identifier: GPL-2.0-only
"""rawtpd benchmark: per-event BPF cost, whole-system overhead, scrape cost, steady state.

Started by tests/bench/run (which installs the tools and builds the helpers); Debian's
/usr/bin/python3, standard library only. Prints one table, writes results.json (and
bench.svg when gnuplot is there) into the output directory. A benchmark prints figures: it
never fails on a timing. It exits non-zero only when it could not measure at all.

The machine is shared and noisy, so every comparison is made inside one run: each tool's
figure is set beside a reference measured minutes (or seconds) apart on the same machine.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

QUICK = False
CHILDREN = []  # every process we started, stopped on the way out


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, **kw):
    kw.setdefault("stdin", subprocess.PIPE)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.Popen(cmd, **kw)
    CHILDREN.append(p)
    return p


def stop(p, timeout=20):
    if p is None:
        return
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for f in (p.stdin, p.stdout, p.stderr):
        try:
            if f:
                f.close()
        except OSError:
            pass
    if p in CHILDREN:
        CHILDREN.remove(p)


def stop_all():
    for p in list(CHILDREN):
        stop(p, 5)


# --- /proc and bpf figures ---------------------------------------------------------------


def cpu_ns(pid):
    """CPU time of every live thread of pid, in ns (the scheduler's own sum_exec_runtime)."""
    total = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(f) as fh:
                total += int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def cpu_ticks_ns(pid):
    """utime + stime of pid (dead threads included), tick resolution, in ns."""
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1e9 / os.sysconf("SC_CLK_TCK")


def n_processes():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def prog_ids_of(pid):
    """BPF program ids held by pid's descriptors (bpftool here shows no pids)."""
    ids = set()
    for f in glob.glob(f"/proc/{pid}/fdinfo/*"):
        try:
            with open(f) as fh:
                for line in fh:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def prog_stats():
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"]: (p.get("run_cnt", 0), p.get("run_time_ns", 0), p.get("name", ""),
                      p.get("type", "")) for p in json.loads(out)}


def bpftool_json(*args):
    """bpftool -j ARGS, parsed. `perf show` may fail on a kernel without BPF_TASK_FD_QUERY:
    then it shows nothing; link and prog show must work (the bench needs them anyway)."""
    r = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True)
    if r.returncode != 0 and args[0] == "perf":
        return []
    if r.returncode != 0:
        raise RuntimeError(f"bpftool {' '.join(args)}: {r.stderr.strip()[-200:]}")
    return json.loads(r.stdout or "[]")


SWITCH_TRACEPOINTS = ("sched_switch",)
SWITCH_FUNCS = "finish_task_switch"  # and finish_task_switch.isra.0 and the like
TRACING_ATTACH = {"trace_fentry": "fentry", "trace_fexit": "fexit",
                  "modify_return": "fmod_ret", "trace_raw_tp": "tp_btf"}


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def foreign_sched_switch_programs(own_ids, bpftool=bpftool_json, comm=proc_comm):
    """Every BPF program on the context switch path that is not one of own_ids (the ids the
    bench loaded for what it is measuring), sorted by id: [{"id", "type", "name",
    "attach": ["tracepoint sched_switch", ...], "pids": [{"pid", "comm"}, ...]}] (pids where
    bpftool shows them: perf show only).

    On the path: tp_btf, raw_tp and classic tracepoints on sched_switch; kprobes, kretprobes
    and fentry/fexit on finish_task_switch*. bpftool 7.1 shows each kind of attachment in a
    different place, so three views are read:
    - `link show`: raw_tracepoint links (raw_tp, and tp_btf here) with their tp_name;
      perf_event links (a classic tracepoint or kprobe attached by libbpf) with no name in
      7.1 (later bpftools add "tracepoint" or "func"); kprobe_multi links ("funcs" in later
      bpftools); tracing links (fentry/fexit) with no target in 7.1 (a btf id later);
    - `perf show`: every perf event and raw tracepoint fd of every process, with its
      tracepoint or kprobe function and pid; the only place that shows bpftrace's
      tracepoints (0.17 attaches them through perf_event_open, no link);
    - `prog show`: type and name.
    An fentry/fexit link whose target bpftool does not name is counted, its target marked
    unknown: better a figure marked for nothing than one disturbed without a word."""
    own = set(own_ids)
    progs = {p["id"]: p for p in bpftool("prog", "show")}
    found = {}  # prog id -> (attach points, pids)

    def add(prog_id, what, pid=None):
        if prog_id in own:
            return
        attach, pids = found.setdefault(prog_id, ([], []))
        if what not in attach:
            attach.append(what)
        if pid is not None and pid not in pids:
            pids.append(pid)

    def tp_kind(prog_id):  # a raw tracepoint attachment: tp_btf or raw_tp by program type
        return "tp_btf" if progs.get(prog_id, {}).get("type") == "tracing" else "raw_tp"

    for ln in bpftool("link", "show"):
        pid_, typ = ln.get("prog_id"), ln.get("type")
        if typ == "raw_tracepoint" and ln.get("tp_name") in SWITCH_TRACEPOINTS:
            add(pid_, f"{tp_kind(pid_)} {ln['tp_name']}")
        elif typ == "perf_event":
            if ln.get("tracepoint") in SWITCH_TRACEPOINTS:
                add(pid_, f"tracepoint {ln['tracepoint']}")
            elif str(ln.get("func", "")).startswith(SWITCH_FUNCS):
                add(pid_, f"{'kretprobe' if ln.get('retprobe') else 'kprobe'} {ln['func']}")
        elif typ == "kprobe_multi":
            for f in ln.get("funcs", []):
                if str(f.get("func", "")).startswith(SWITCH_FUNCS):
                    add(pid_, f"kprobe_multi {f['func']}")
        elif typ == "tracing" and ln.get("attach_type") in TRACING_ATTACH:
            target = (f"btf_id {ln['target_btf_id']}" if ln.get("target_btf_id")
                      else "not named by this bpftool")
            add(pid_, f"{TRACING_ATTACH[ln['attach_type']]}, target unknown ({target})")
    for pe in bpftool("perf", "show"):
        pid_, kind = pe.get("prog_id"), pe.get("fd_type")
        if kind in ("tracepoint", "raw_tracepoint") and pe.get("tracepoint") in \
                SWITCH_TRACEPOINTS:
            what = "tracepoint" if kind == "tracepoint" else tp_kind(pid_)
            add(pid_, f"{what} {pe['tracepoint']}", pe.get("pid"))
        elif kind in ("kprobe", "kretprobe") and str(pe.get("func", "")).startswith(
                SWITCH_FUNCS):
            add(pid_, f"{kind} {pe['func']}", pe.get("pid"))
    return [{"id": i, "type": progs.get(i, {}).get("type", "?"),
             "name": progs.get(i, {}).get("name", "?"), "attach": found[i][0],
             "pids": [{"pid": p, "comm": comm(p)} for p in sorted(found[i][1])]}
            for i in sorted(found)]


def describe_foreign(progs):
    """One line for a list from foreign_sched_switch_programs()."""
    if not progs:
        return "none"
    def pids(p):
        return ", ".join(f"pid {x['pid']}" + (f" {x['comm']}" if x["comm"] else "")
                         for x in p["pids"])
    return "; ".join(f"id {p['id']} {p['type']} {p['name']} on {', '.join(p['attach'])}"
                     + (f" ({pids(p)})" if p["pids"] else "") for p in progs)


def union_foreign(lists):
    out = {}
    for lst in lists:
        for p in lst or ():
            out.setdefault(p["id"], p)
    return [out[i] for i in sorted(out)]


def stress_switch(seconds):
    """stress-ng --switch 2 for a fixed time: bogo ops per wall second and per CPU second."""
    with tempfile.NamedTemporaryFile(suffix=".yaml") as y:
        subprocess.run(["stress-ng", "--switch", "2", "-t", str(seconds), "--metrics-brief",
                        "--yaml", y.name], capture_output=True, check=True)
        text = open(y.name).read()
    out = {}
    for key, name in (("bogo-ops-per-second-real-time", "ops_per_s"),
                      ("bogo-ops-per-second-usr-sys-time", "ops_per_cpu_s")):
        m = re.search(key + r":\s*([0-9.]+)", text)
        out[name] = float(m.group(1)) if m else float("nan")
    return out


def http_get(url, headers=None, timeout=60):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def curl_times(url, k, gzip=False, timeout=600):
    """k scrapes on one kept-alive connection: [(seconds, bytes)] from curl's own timers."""
    cmd = ["curl", "-s", "--max-time", str(timeout), "-w", "%{time_total} %{size_download}\n"]
    if gzip:
        cmd += ["-H", "Accept-Encoding: gzip"]
    for _ in range(k):
        cmd += ["-o", "/dev/null", url]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    res = []
    for line in out.splitlines():
        t, b = line.split()
        res.append((float(t), int(b)))
    return res


def why_exited(proc):
    """The telling part of what a process said before it exited: a Go panic's first line, or
    the end of its stderr."""
    err = ""
    if isinstance(proc.stderr, int) or proc.stderr is None:
        path = getattr(proc, "stderr_path", None)
        if path:
            with open(path, errors="replace") as f:
                err = f.read()
    else:
        err = proc.stderr.read().decode(errors="replace")
    for line in err.splitlines():
        if line.startswith(("panic:", "fatal error:")):
            return line.strip()[:300]
    return err.strip()[-300:]


def wait_for(cond, timeout, what, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: exited with {proc.returncode}: {why_exited(proc)}")
        try:
            v = cond()
            if v:
                return v
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what}: timed out after {timeout}s")


# --- the tools -----------------------------------------------------------------------------


class Tool:
    """Something that puts a BPF program on sched_switch; started and stopped around a run."""

    def __init__(self, name, label, cmd, ready=None, note="", id_line=False):
        self.name, self.label, self.cmd, self.ready, self.note = name, label, cmd, ready, note
        self.id_line = id_line  # prints its program id once attached (bench-loader)
        self.proc = None

    def start(self):
        self.proc = start(self.cmd)
        if self.id_line:
            line = self.proc.stdout.readline().decode().strip()
            if not line.isdigit():
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"{self.name}: {err.strip()[-300:]}")
            return {int(line)}
        progs = wait_for(lambda: prog_ids_of(self.proc.pid), 60, self.name, self.proc)
        if self.ready:
            wait_for(self.ready, 60, self.name, self.proc)
        time.sleep(0.5)  # let it settle (bpftrace and cpudist finish attaching)
        return prog_ids_of(self.proc.pid) or progs

    def stop(self):
        stop(self.proc)
        self.proc = None


def rawtpd_tool(args, mode, path=None, group_by=None):
    """rawtpd in one attach mode; path: a data path forced (else auto's choice); group_by:
    unit or cgroup, which counts the latency histograms and preemptions too."""
    port = free_port()
    cmd = [args.rawtpd, "--listen", f"127.0.0.1:{port}", "--interval", "1s", "--config",
           "/dev/null", "--attach", mode, "--log-level", "warning"]
    name = "rawtpd"
    if path:
        cmd += ["--data-path", path]
        name = f"rawtpd-{path}"
    if group_by:
        cmd += ["--group-by", group_by]
        name = f"rawtpd-{group_by}"
    return Tool(f"{name} {mode}", f"{name} {mode}", cmd,
                ready=lambda: http_get(f"http://127.0.0.1:{port}/-/healthy"))


def window(ids, before, after):
    """Runs and run time over a window of the program among ids that ran most."""
    best = None
    for i in ids:
        if i in before and i in after:
            cnt = after[i][0] - before[i][0]
            ns = after[i][1] - before[i][1]
            if best is None or cnt > best["events"]:
                best = {"prog_id": i, "prog_name": after[i][2], "prog_type": after[i][3],
                        "events": cnt, "run_ns": ns}
    if best and best["events"] > 0:
        best["ns_per_event"] = best["run_ns"] / best["events"]
        return best
    return None


HOOK_OF = {"tp_btf": "tp_btf", "raw_tp": "raw_tp", "tracepoint": "tracepoint",
           "kprobe": None, "bpftrace": "tracepoint", "cpudist": "tp_btf", "part": "tp_btf"}


def measured_window(own, seconds):
    """One window of stress-ng --switch 2 with the bench's programs (ids own) attached: the
    program stats at both ends, the throughput, and the other programs on the hook, looked for
    at both ends (outside the window)."""
    foreign = foreign_sched_switch_programs(own)
    before = prog_stats()
    ops = stress_switch(seconds)
    after = prog_stats()
    return before, after, ops, union_foreign([foreign, foreign_sched_switch_programs(own)])


def per_event(args, res):
    """Per-event BPF cost and stress-ng throughput of every tool.

    Each tool runs between two empty programs on its hook, started and stopped with it: its
    cost is set beside the floor measured over the very same seconds, which is what makes the
    ratio mean something on a busy shared machine. The throughput of those windows carries the
    empty programs and bpf_stats too; system_runs() measures rawtpd alone against nothing.
    Then rawtpd and bpftrace attached together (together_runs())."""
    seconds = args.seconds or (2 if QUICK else 5)
    rounds = args.rounds or (1 if QUICK else 2)
    probe = json.loads(subprocess.run([args.rawtpd, "--probe", "--json"], capture_output=True,
                                      text=True, check=True).stdout)
    modes = [m["mode"] for m in probe["attach_modes"] if m["works"]]
    res["rawtpd_modes"] = {m["mode"]: (m["reason"] or "works") for m in probe["attach_modes"]}
    loader = os.path.join(args.helpers, "bench-loader")
    tools = []
    for m in modes:
        tools.append(rawtpd_tool(args, m))
    paths = {m["mode"]: m.get("data_path") for m in probe["attach_modes"] if m["works"]}
    if paths.get("tp_btf") == "thread":  # the other data path, for comparison
        tools.append(rawtpd_tool(args, "tp_btf", "process"))
    for m in modes:  # the configuration that counts the most: latency and preemptions
        if paths.get(m) == "thread":
            tools.append(rawtpd_tool(args, m, group_by="unit"))
    if shutil.which("bpftrace"):
        tools.append(Tool("bpftrace", "bpftrace @[pid] = count() (tracepoint)",
                          ["bpftrace", "-e",
                           "tracepoint:sched:sched_switch { @[pid] = count(); }"]))
    cpudist = shutil.which("cpudist") or "/usr/sbin/cpudist"
    if os.access(cpudist, os.X_OK):
        tools.append(Tool("cpudist", "libbpf-tools cpudist -P (tp_btf)",
                          [cpudist, "-P", "3600"]))
    if not QUICK:
        parts = os.path.join(args.helpers, "parts.bpf.o")
        for p, what in (("stash", "CPU-time stash only"), ("key", "stash + process key"),
                        ("tgid", "stash + per-CPU hash by tgid"),
                        ("full", "stash + key + per-CPU hash by key"),
                        ("nostash", "alt: key + per-CPU hash, time from prev's se only"),
                        ("shared", "alt: stash + key + shared hash, atomics"),
                        ("task", "alt: stash + task storage of leader, atomics"),
                        ("tstore", "alt: prev's task storage, figures stored"),
                        ("tidhash", "alt: shared hash by thread, figures stored"),
                        ("tslot", "alt: task storage + the thread's own array slot, stored "
                                  "(the thread path's floor)"),
                        ("tslot_raw", "the same on raw_tp, prev from bpf_get_current_task_btf()")):
            tools.append(Tool(f"part {p}", f"breakdown: {what}", [loader, parts, f"parts_{p}"],
                              id_line=True))
    if args.tools:
        want = args.tools.split(",")
        tools = [t for t in tools if any(t.name.startswith(w) for w in want)]

    empty_obj = os.path.join(args.helpers, "empty.bpf.o")
    empty_prog = {"tp_btf": "empty_tp_btf", "raw_tp": "empty_raw_tp", "tracepoint": "empty_tp"}

    def floor(hook):
        return Tool(f"empty {hook}", "", [loader, empty_obj, empty_prog[hook]], id_line=True)

    runs = {t.name: [] for t in tools}
    floor_runs = {}
    base = []
    log(f"per-event: {len(tools)} tools x {rounds} round(s) x {seconds}s of stress-ng "
        f"--switch 2, each between two empty programs on its hook")
    for rnd in range(rounds):
        # a baseline before every second tool, so that each tool has one next to it
        # the breakdown programs once (round 0), the tools in every round
        this = [t for t in tools if rnd == 0 or not t.name.startswith("part ")]
        order = this if rnd % 2 == 0 else list(reversed(this))
        last_base = None
        for i, t in enumerate(order):
            if i % 2 == 0:
                last_base = stress_switch(seconds)
                base.append(dict(last_base, round=rnd))
            hook = HOOK_OF.get(t.name.split()[-1]) or HOOK_OF.get(t.name.split()[0])
            started = []
            own = set()  # the ids of the programs started for this window
            try:
                fa = floor(hook) if hook else None
                if fa:
                    started.append(fa)
                    fa_ids = fa.start()
                    own |= fa_ids
                started.append(t)
                ids = t.start()
                own |= ids
                fb = floor(hook) if hook else None
                if fb:
                    started.append(fb)
                    fb_ids = fb.start()
                    own |= fb_ids
                before, after, ops, foreign = measured_window(own, seconds)
            except RuntimeError as e:
                log(f"  {t.name}: could not start: {e}")
                runs[t.name].append({"error": str(e)})
                continue
            finally:
                for x in reversed(started):
                    x.stop()
            run = {"round": rnd, "ops": ops, "base": last_base, "beside_foreign": foreign}
            w = window(ids, before, after)
            if w:
                run.update(w)
            if hook:
                # the tool runs after fa, as fb runs after the tool: fb is its floor
                wa, wb = window(fa_ids, before, after), window(fb_ids, before, after)
                run["floor_ns"] = [x["ns_per_event"] if x else float("nan") for x in (wa, wb)]
                for x in (wa, wb):
                    if x:
                        x["beside_foreign"] = foreign
                if wb:
                    run["floor"] = wb["ns_per_event"]
                    floor_runs.setdefault(hook, {}).setdefault("after", []).append(wb)
                if wa:
                    run["floor_first"] = wa["ns_per_event"]
                    floor_runs.setdefault(hook, {}).setdefault("first", []).append(wa)
            runs[t.name].append(run)
            log(f"  {t.name}: {run.get('ns_per_event', float('nan')):.0f} ns/event over "
                f"{run.get('events', 0)} events (empty {hook} before / after it: "
                f"{'/'.join(f'{x:.0f}' for x in run.get('floor_ns', []))} ns), "
                f"{ops['ops_per_s']:.0f} ops/s, {ops['ops_per_cpu_s']:.0f} ops/CPU-s "
                f"(baseline {last_base['ops_per_s']:.0f}, {last_base['ops_per_cpu_s']:.0f})"
                + (f"; beside foreign programs: {describe_foreign(foreign)}" if foreign else ""))
        base.append(dict(stress_switch(seconds), round=rnd))

    out = {}
    for t in tools:
        ok = [r for r in runs[t.name] if "ns_per_event" in r]
        hook = HOOK_OF.get(t.name.split()[-1]) or HOOK_OF.get(t.name.split()[0])
        entry = {"label": t.label, "hook": hook, "runs": runs[t.name]}
        if ok:
            # events-weighted over the rounds: total run time over total runs
            entry["ns_per_event"] = sum(r["run_ns"] for r in ok) / sum(r["events"] for r in ok)
            entry["ns_per_event_min"] = min(r["ns_per_event"] for r in ok)
            entry["ns_per_event_max"] = max(r["ns_per_event"] for r in ok)
            paired = [r["ns_per_event"] / r["floor"] for r in ok if r.get("floor")]
            if paired:
                entry["x_floor"] = statistics.median(paired)
                entry["floor_ns"] = statistics.median(r["floor"] for r in ok if r.get("floor"))
            for k in ("ops_per_s", "ops_per_cpu_s"):
                entry[f"{k}_ratio"] = statistics.median(
                    r["ops"][k] / r["base"][k] for r in ok if r["base"][k])
            # every foreign program seen at either end of any window behind the figure
            entry["beside_foreign"] = union_foreign(r["beside_foreign"] for r in ok)
        out[t.name] = entry
    fl = {}
    for hook, pos in floor_runs.items():
        for where, ws in pos.items():
            fl.setdefault(hook, {})[where] = {
                "ns_per_event": sum(w["run_ns"] for w in ws) / sum(w["events"] for w in ws),
                "ns_per_event_min": min(w["ns_per_event"] for w in ws),
                "ns_per_event_max": max(w["ns_per_event"] for w in ws),
                "beside_foreign": union_foreign(w["beside_foreign"] for w in ws)}
    together = together_runs(args, rounds, seconds, loader, empty_obj, empty_prog)
    system = system_runs(args, rounds, seconds, loader, empty_obj, empty_prog)
    res["per_event"] = {"seconds_per_run": seconds, "rounds": rounds, "tools": out,
                        "floors": fl, "baseline_runs": base, "together": together, "system": system,
                        "baseline_ops_per_s": statistics.median(b["ops_per_s"] for b in base),
                        "baseline_ops_per_cpu_s": statistics.median(b["ops_per_cpu_s"]
                                                                    for b in base)}


def ctxt_switches():
    """Context switches since boot, every CPU: /proc/stat's ctxt."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("ctxt "):
                return int(line.split()[1])
    raise RuntimeError("/proc/stat has no ctxt line")


def system_runs(args, rounds, seconds, loader, empty_obj, empty_prog):
    """The whole system's switch rate with rawtpd's default mode alone on the hook, against
    nothing at all, and an empty tp_btf program (the hook's own cost) for scale: what a user's
    host keeps, with kernel.bpf_stats_enabled off (its two clock reads per program run are the
    bench's, not rawtpd's).

    One stress-ng --switch 2 runs throughout, so every window has the same processes where
    they were: a new stress-ng per window lands its pairs on the CPUs anew, and that moved the
    rate by +-5 % here, more than rawtpd does. The arms take turns (none, empty, rawtpd, then
    the other way round), each started, left a second to settle, and measured as the kernel's
    own switch count (/proc/stat ctxt) over the window; each arm's ratio is taken against the
    "none" window of its own round, and the median of those is the figure. On this 2-CPU
    machine one window's rate moved by 4-5 % (sd) with nothing attached at all: the 12 rounds
    put the median within about 2 %, so the figure is a measurement, not a verdict."""
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        old = f.read().strip()
    n_rounds = max(4, 6 * rounds)  # 12 by default: a 2 s window moved by 4-5 % here
    secs = 2
    arms = ("none", "empty", "rawtpd")
    out = []
    # no -t: it runs until the last window is done, and is stopped then
    load = subprocess.Popen(["stress-ng", "--switch", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with open(path, "w") as f:
            f.write("0")
        time.sleep(2)
        for rnd in range(n_rounds):
            rates = {}
            for arm in (arms if rnd % 2 == 0 else tuple(reversed(arms))):
                t = None
                if arm == "empty":
                    t = Tool("empty tp_btf", "", [loader, empty_obj, empty_prog["tp_btf"]],
                             id_line=True)
                elif arm == "rawtpd":
                    t = rawtpd_tool(args, "auto")
                try:
                    if t:
                        t.start()
                    time.sleep(1)
                    c0, t0 = ctxt_switches(), time.monotonic()
                    time.sleep(secs)
                    rates[arm] = (ctxt_switches() - c0) / (time.monotonic() - t0)
                except RuntimeError as e:
                    log(f"  system: could not start {arm}: {e}")
                finally:
                    if t:
                        t.stop()
                time.sleep(0.5)
            if load.poll() is not None:
                log("  system: stress-ng ended early")
                break
            if len(rates) < len(arms) or not rates["none"]:
                continue
            run = {"round": rnd, "switches_per_s": rates,
                   "ratio": rates["rawtpd"] / rates["none"],
                   "empty_ratio": rates["empty"] / rates["none"]}
            out.append(run)
            log(f"  system: {rates['none']:.0f} switches/s with nothing attached, "
                f"{rates['empty']:.0f} with an empty program ({run['empty_ratio']:.3f}x), "
                f"{rates['rawtpd']:.0f} with rawtpd ({run['ratio']:.3f}x)")
    finally:
        load.terminate()  # SIGTERM: stress-ng stops its workers itself
        try:
            load.wait(timeout=30)
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait()
        with open(path, "w") as f:
            f.write(old)
    return out


def together_runs(args, rounds, seconds, loader, empty_obj, empty_prog):
    """rawtpd's default mode and bpftrace's one-liner attached at the same time, under the same
    load, as a user would compare them (the issue's bar): each one's ns/event over the very
    same window, with an empty tp_btf program after them as the floor."""
    if not shutil.which("bpftrace"):
        return []
    out = []
    for rnd in range(rounds):
        rt = rawtpd_tool(args, "auto")
        bt = Tool("bpftrace", "", ["bpftrace", "-e",
                                   "tracepoint:sched:sched_switch { @[pid] = count(); }"])
        fl = Tool("empty tp_btf", "", [loader, empty_obj, empty_prog["tp_btf"]], id_line=True)
        started = []
        try:
            # in turn which one is first on the hook
            order = [rt, bt] if rnd % 2 == 0 else [bt, rt]
            ids = {}
            for t in order + [fl]:
                started.append(t)
                ids[t.name] = t.start()
            before, after, ops, foreign = measured_window(set().union(*ids.values()), seconds)
        except RuntimeError as e:
            log(f"  together: could not start: {e}")
            continue
        finally:
            for x in reversed(started):
                x.stop()
        w = {n: window(i, before, after) for n, i in ids.items()}
        if not all(w.values()):
            continue
        run = {"round": rnd, "first": order[0].name, "ops": ops, "beside_foreign": foreign,
               "rawtpd_ns": w[rt.name]["ns_per_event"], "bpftrace_ns": w["bpftrace"]["ns_per_event"],
               "floor_ns": w["empty tp_btf"]["ns_per_event"]}
        run["x_bpftrace"] = run["rawtpd_ns"] / run["bpftrace_ns"]
        run["x_floor"] = run["rawtpd_ns"] / run["floor_ns"]
        out.append(run)
        log(f"  together (first: {run['first']}): rawtpd {run['rawtpd_ns']:.0f} ns/event, "
            f"bpftrace {run['bpftrace_ns']:.0f}, empty tp_btf {run['floor_ns']:.0f}: "
            f"{run['x_bpftrace']:.2f}x bpftrace, {run['x_floor']:.2f}x empty"
            + (f"; beside foreign programs: {describe_foreign(foreign)}" if foreign else ""))
    return out


# --- scrape cost -----------------------------------------------------------------------------


class Sleepers:
    """bench-sleepers: n cheap processes blocked on a pipe; poke() makes each switch once."""

    def __init__(self, helpers, n):
        self.proc = None
        self.n = n
        if n > 0:
            self.proc = start([os.path.join(helpers, "bench-sleepers"), str(n)])
            line = self.proc.stdout.readline().decode()
            if not line.startswith("ready"):
                raise RuntimeError(f"bench-sleepers: {line!r}")

    def poke(self):
        if self.proc:
            self.proc.stdin.write(b"poke\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline().decode()
            if not line.startswith("poked"):
                raise RuntimeError(f"bench-sleepers: {line!r}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # EOF: it lets its children go and reaps them
                self.proc.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop(self.proc, 10)


def memory_kib(pid):
    """RSS (and its anonymous and file-backed parts), peak RSS, and PSS (shared pages split
    among the processes that map them) of pid, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


def cpu_window(pid, idle_rate, fn):
    """Run fn(); the daemon's CPU during it beyond its idle rate, and fn's result."""
    t0, c0 = time.monotonic(), cpu_ns(pid)
    r = fn()
    t1, c1 = time.monotonic(), cpu_ns(pid)
    return max(0.0, (c1 - c0) - idle_rate * (t1 - t0)), r


def scrape_stats(times, cpu_ns_total):
    return {"scrapes": len(times),
            "ms_median": statistics.median(t for t, _ in times) * 1e3,
            "ms_max": max(t for t, _ in times) * 1e3,
            "bytes": times[-1][1],
            "cpu_ms_per_scrape": cpu_ns_total / len(times) / 1e6}


def measure_daemon(pid, scrape_url, status_url, k, k_gzip, idle_s, k_fresh=0):
    """The daemon's idle CPU rate over idle_s (no scrapes; with a status URL, polled once a
    second for the aggregation figures), then k plain and k_gzip gzip scrapes on one
    connection (many on the same snapshot), then k_fresh gzip scrapes each made right after a
    new snapshot was published (what a Prometheus scraping every 15 s meets): wall time per
    scrape from curl, the daemon's CPU per scrape beyond its idle rate, bytes, memory."""
    out = {}
    aggs = []
    t0, c0, tk0 = time.monotonic(), cpu_ns(pid), cpu_ticks_ns(pid)
    end = t0 + idle_s
    while status_url and time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        try:
            aggs.append(json.loads(http_get(status_url)))
        except (OSError, ValueError):
            pass
    if not status_url:
        time.sleep(idle_s)
    t1, c1, tk1 = time.monotonic(), cpu_ns(pid), cpu_ticks_ns(pid)
    idle_rate = (c1 - c0) / (t1 - t0)
    out["idle_cpu_share"] = idle_rate / 1e9
    out["idle_cpu_share_ticks"] = (tk1 - tk0) / (t1 - t0) / 1e9
    out["idle_seconds"] = t1 - t0
    if aggs:
        durs = {}
        for st in aggs:  # one figure per aggregation, not per poll
            durs[st.get("aggregations")] = st.get("last_aggregation_duration_seconds")
        vals = [v for v in durs.values() if v is not None]
        if vals:
            out["aggregation_ms"] = statistics.median(vals) * 1e3
            out["aggregation_ms_max"] = max(vals) * 1e3
        n_aggs = max(durs) - min(durs) if len(durs) > 1 else 0
        if n_aggs:
            out["cpu_ms_per_interval"] = idle_rate * (t1 - t0) / n_aggs / 1e6
        out["map_entries"] = aggs[-1].get("map_entries")
    for name, kk, gz in (("plain", k, False), ("gzip", k_gzip, True)):
        if kk > 0:
            cpu, times = cpu_window(pid, idle_rate, lambda: curl_times(scrape_url, kk, gzip=gz))
            out[name] = scrape_stats(times, cpu) if times else {"error": "no answer"}
    if k_fresh and status_url:
        times, cpu = [], 0.0
        for _ in range(k_fresh):
            a0 = json.loads(http_get(status_url))["aggregations"]
            wait_for(lambda: json.loads(http_get(status_url))["aggregations"] > a0, 10,
                     "next aggregation")
            c, t = cpu_window(pid, idle_rate, lambda: curl_times(scrape_url, 1, gzip=True))
            times += t
            cpu += c
        if times:
            out["gzip_fresh"] = scrape_stats(times, cpu)
    out.update(memory_kib(pid))
    return out


def rawtpd_level(binary, sl, idle, k):
    """rawtpd started, then every sleeper poked (so that it switches while rawtpd is attached
    and gets its map entry), measured once the map holds them all."""
    port = free_port()
    d = start([binary, "--listen", f"127.0.0.1:{port}", "--interval", "1s",
               "--config", "/dev/null", "--log-level", "warning"])
    status = f"http://127.0.0.1:{port}/api/v1/status"
    try:
        wait_for(lambda: json.loads(http_get(status)).get("aggregations", 0) >= 1, 60, "rawtpd", d)
        sl.poke()
        want = sl.n * 0.98  # every sleeper has switched once; the rest of the machine varies
        st0 = wait_for(lambda: (lambda st: st if st.get("map_entries", 0) >= want else None)(
            json.loads(http_get(status))), 120, "rawtpd map filling", d)
        # two more aggregations with the map full before measuring
        a0 = st0.get("aggregations", 0)
        wait_for(lambda: json.loads(http_get(status)).get("aggregations", 0) >= a0 + 2, 60,
                 "rawtpd", d)
        r = measure_daemon(d.pid, f"http://127.0.0.1:{port}/metrics", status, k, k, idle,
                           k_fresh=3 if QUICK else 5)
        r["json_bytes"] = len(http_get(f"http://127.0.0.1:{port}/api/v1/processes"))
        r["processes"] = n_processes()
        r["sleepers"] = sl.n
        return r
    finally:
        stop(d)


def pe_config(path):
    with open(path, "w") as f:
        f.write('process_names:\n  - name: "{{.Comm}}-{{.PID}}"\n    cmdline:\n    - ".*"\n')


def process_exporter_level(pe, pe_cfg, n):
    port = free_port()
    errf = tempfile.NamedTemporaryFile(prefix="process-exporter-", suffix=".log", delete=False)
    p = start([pe, "-config.path", pe_cfg, "-web.listen-address", f"127.0.0.1:{port}",
               "-gather-smaps=false"], stdout=subprocess.DEVNULL, stderr=errf)
    p.stderr_path = errf.name
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        # it lists /proc before it listens; its first scrape builds its tables: not counted
        wait_for(lambda: http_get(url, timeout=300), 300, "process-exporter", p)
        kp = 10 if n <= 100 else 4 if n <= 1000 else 2
        if QUICK:
            kp = max(1, kp // 2)
        r = measure_daemon(p.pid, url, None, kp, 1 if n <= 1000 or not QUICK else 0,
                           3 if QUICK else 5)
        if p.poll() is not None:
            raise RuntimeError(f"exited with {p.returncode}: {why_exited(p)}")
        return r
    except (RuntimeError, OSError, ValueError) as e:
        if p.poll() is not None and "exited" not in str(e):
            e = f"exited with {p.returncode}: {why_exited(p)}"
        return {"error": str(e)}
    finally:
        stop(p)
        errf.close()
        os.unlink(errf.name)


def scrape_cost(args, res):
    """At 100, 1k and 10k processes: rawtpd (and the --compare build, on the same processes)
    and prometheus-process-exporter reporting per process."""
    levels = [100, 1000, 10000]
    steady_s = 30 if QUICK else 60
    pe = shutil.which("prometheus-process-exporter")
    cfgdir = tempfile.mkdtemp(prefix="rawtpd-bench-")
    pe_cfg = os.path.join(cfgdir, "process-exporter.yml")
    pe_config(pe_cfg)
    daemons = [("rawtpd", args.rawtpd)]
    if args.compare:
        daemons.append(("compare", args.compare))
    out = []
    for n in levels:
        level = {"target": n, "existing": n_processes()}
        log(f"scrape: {n} processes ({level['existing']} on the machine before)")
        sl = Sleepers(args.helpers, max(0, n - level["existing"]))
        try:
            level["processes"] = n_processes()
            idle = steady_s if n == 1000 else (3 if QUICK else 5)
            k = 50 if n <= 1000 else (10 if QUICK else 30)
            for key, binary in daemons:
                try:
                    # the steady-state minute is for this build; the other gets 10 s
                    r = rawtpd_level(binary, sl, idle if key == "rawtpd" else min(idle, 10), k)
                    level[key] = r
                    log(f"  {key}: {r.get('map_entries')} map entries, agg "
                        f"{r.get('aggregation_ms', 0):.1f} ms, "
                        f"{r.get('cpu_ms_per_interval', 0):.1f} ms CPU/interval, scrape "
                        f"{r['plain']['ms_median']:.2f} ms (gzip 1st on snapshot "
                        f"{r.get('gzip_fresh', {}).get('ms_median', 0):.2f} ms), "
                        f"{r['plain']['cpu_ms_per_scrape']:.3f} ms CPU/scrape, "
                        f"RSS {r['VmRSS'] / 1024:.1f} MiB")
                except RuntimeError as e:
                    level[key] = {"error": str(e)}
                    log(f"  {key}: {e}")
            # prometheus-process-exporter, one group per process, on the same processes; it
            # died once on this machine (a Go panic in its collector): a second try
            for attempt in range(2) if pe else ():
                r = process_exporter_level(pe, pe_cfg, n)
                level["process_exporter"] = r
                if "error" not in r:
                    log(f"  process-exporter: scrape {r['plain']['ms_median']:.1f} ms, "
                        f"{r['plain']['cpu_ms_per_scrape']:.1f} ms CPU/scrape, "
                        f"RSS {r['VmRSS'] / 1024:.1f} MiB")
                    break
                log(f"  process-exporter (attempt {attempt + 1}): {r['error']}")
        finally:
            sl.stop()
        out.append(level)
    shutil.rmtree(cfgdir, ignore_errors=True)
    res["scrape"] = {"levels": out, "steady_seconds": steady_s}


def synthetic(args, res):
    rounds = 3 if QUICK else 10
    out = []
    for n in (100, 1000, 10000, 100000):
        r = subprocess.run([os.path.join(args.helpers, "bench-synth"), str(n),
                            str(rounds if n < 100000 else max(2, rounds // 2))],
                           capture_output=True, text=True)
        if r.returncode != 0:
            out.append({"processes": n, "error": r.stderr.strip()})
            continue
        out.append(json.loads(r.stdout))
        log(f"synthetic {n}: aggregate {out[-1]['aggregate_ms']:.1f} ms, snapshot "
            f"{out[-1]['snapshot_ms']:.1f} ms")
    res["synthetic"] = out


# --- report ----------------------------------------------------------------------------------


def machine(res):
    def read(p):
        try:
            with open(p) as f:
                return f.read()
        except OSError:
            return ""
    cpu = re.search(r"model name\s*:\s*(.*)", read("/proc/cpuinfo"))
    osr = re.search(r'PRETTY_NAME="(.*)"', read("/etc/os-release"))
    mem = re.search(r"MemTotal:\s*(\d+)", read("/proc/meminfo"))
    res["machine"] = {
        "kernel": os.uname().release, "cpu": cpu.group(1) if cpu else "?",
        "cpus": os.cpu_count(), "mem_gib": round(int(mem.group(1)) / 2**20, 1) if mem else 0,
        "os": osr.group(1) if osr else "?", "pid_max": int(read("/proc/sys/kernel/pid_max")),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def cpu_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    return sum(v[:8]), idle, steal


def fmt(v, spec=".0f", unit=""):
    if v is None or v != v:
        return "-"
    return f"{v:{spec}}{unit}"


def verdict(value, limit):
    if value is None or value != value:
        return "n/a"
    return "met" if value <= limit else f"MISSED by {value / limit:.2f}x"


def table(res):
    rows = []  # (section, figure, value, reference, ratio, goal)
    pe_ = res.get("per_event", {}).get("tools", {})
    marked = []  # foreign program lists behind the figures marked "*"

    def mark(fig):
        if fig.get("beside_foreign"):
            marked.append(fig["beside_foreign"])
            return " *"
        return ""

    def ns(name):
        return pe_.get(name, {}).get("ns_per_event")

    pev = res.get("per_event", {})
    for hook, pos in pev.get("floors", {}).items():
        for where, what in (("after", "after another program: the floor"),
                            ("first", "first on the hook")):
            f = pos.get(where)
            if f:
                rows.append(("per-event", f"empty program ({hook}) ns/event, {what}",
                             f"{f['ns_per_event']:.0f} ({f['ns_per_event_min']:.0f}-"
                             f"{f['ns_per_event_max']:.0f})" + mark(f), "", "", ""))
    bt = ns("bpftrace")
    for name, e in pe_.items():
        v = e.get("ns_per_event")
        ref, ratio, goal = "", "", ""
        if e.get("x_floor"):
            ref = f"empty {e['hook']} {e['floor_ns']:.0f} ns, same windows"
            ratio = f"{e['x_floor']:.2f}x"
        if name.startswith("rawtpd "):
            goal = "<=2.0x empty: " + verdict(e.get("x_floor"), 2.0)
            if bt and v:
                goal += f"; {v / bt:.2f}x bpftrace, <=0.5x: " + verdict(v / bt, 0.5)
        elif name.startswith("rawtpd-unit "):  # every other configuration's bar
            goal = "<=2.5x empty: " + verdict(e.get("x_floor"), 2.5)
            if bt and v:
                goal += f"; {v / bt:.2f}x bpftrace, <=0.6x: " + verdict(v / bt, 0.6)
        rng = ""
        if e.get("ns_per_event_min") is not None and len(
                [r for r in e["runs"] if "ns_per_event" in r]) > 1:
            rng = f" ({e['ns_per_event_min']:.0f}-{e['ns_per_event_max']:.0f})"
        rows.append(("per-event", f"{e['label']} ns/event", fmt(v) + rng + mark(e), ref, ratio,
                     goal))
    sysr = [r["ratio"] for r in pev.get("system", []) if r.get("ratio")]
    if sysr:
        emp = [r["empty_ratio"] for r in pev["system"] if r.get("empty_ratio")]
        q = statistics.quantiles(sysr, n=4) if len(sysr) > 1 else [sysr[0]] * 3
        rows.append(("system", "switches/s (/proc/stat ctxt) under one stress-ng --switch 2, "
                     "rawtpd (auto) alone, bpf_stats off, against nothing attached "
                     f"({len(sysr)} rounds of alternating windows)",
                     f"{statistics.median(sysr):.3f}x (quartiles {q[0]:.3f}-{q[2]:.3f}, "
                     f"{min(sysr):.3f}-{max(sysr):.3f})",
                     f"an empty tp_btf program: {statistics.median(emp):.3f}x" if emp else "",
                     "", ">=0.95x: " + ("met" if statistics.median(sysr) >= 0.95 else
                                        f"MISSED ({statistics.median(sysr):.3f}x)")))
    for r in pev.get("together", []):
        rows.append(("per-event", f"rawtpd (auto) and bpftrace attached together, "
                     f"{r['first']} first: ns/event",
                     f"{r['rawtpd_ns']:.0f} | {r['bpftrace_ns']:.0f}" +
                     (" *" if r.get("beside_foreign") else ""),
                     f"empty tp_btf {r['floor_ns']:.0f} ns, same window",
                     f"{r['x_bpftrace']:.2f}x bpftrace",
                     "<=0.5x bpftrace: " + verdict(r["x_bpftrace"], 0.5) +
                     f"; <=2.0x empty: {verdict(r['x_floor'], 2.0)}"))
        if r.get("beside_foreign"):
            marked.append(r["beside_foreign"])
    for name, e in pe_.items():
        if name.startswith("part "):
            continue
        ok = [r for r in e["runs"] if "ops" in r and r.get("base")]

        def spread(k):
            v = [r["ops"][k] / r["base"][k] for r in ok if r["base"][k]]
            return f"{statistics.median(v):.2f}x ({min(v):.2f}-{max(v):.2f})" if v else "-"
        rows.append(("system", f"stress-ng --switch 2 with {name}: ops/s | ops per CPU-s",
                     f"{spread('ops_per_s')} | {spread('ops_per_cpu_s')}",
                     f"without: {pev['baseline_ops_per_s']:.0f}/s | "
                     f"{pev['baseline_ops_per_cpu_s']:.0f}/CPU-s", "", ""))

    for lv in res.get("scrape", {}).get("levels", []):
        r, p = lv.get("rawtpd", {}), lv.get("process_exporter", {})
        n = lv["processes"]
        tag = f"{lv['target']}: {r.get('map_entries', '?')} in map, {n} procs:"
        big = lv["target"] >= 10000
        if "plain" not in r:
            rows.append(("scrape", f"{tag} rawtpd", "error", r.get("error", "?")[:60], "", ""))
            continue
        rows.append(("scrape", f"{tag} rawtpd aggregation ms (status, median)",
                     fmt(r.get("aggregation_ms"), ".1f"),
                     f"max {fmt(r.get('aggregation_ms_max'), '.1f')}", "",
                     ("<=50 ms: " + verdict(r.get("aggregation_ms"), 50)) if big else ""))
        rows.append(("scrape", f"{tag} rawtpd CPU ms per interval, no scrapes",
                     fmt(r.get("cpu_ms_per_interval"), ".1f"), "read+aggregate+render", "", ""))
        fresh = r.get("gzip_fresh", {})
        rows.append(("scrape", f"{tag} rawtpd scrape ms: plain / gzip / gzip 1st on snapshot",
                     f"{r['plain']['ms_median']:.2f} / {r['gzip']['ms_median']:.2f} / "
                     f"{fmt(fresh.get('ms_median'), '.2f')}",
                     f"process-exporter {fmt(p.get('plain', {}).get('ms_median'), '.0f')}", "",
                     ("<=10 ms: " + verdict(max(r["plain"]["ms_median"],
                                                fresh.get("ms_median", 0)), 10)) if big else ""))
        rows.append(("scrape", f"{tag} rawtpd bytes: plain / gzip / json",
                     f"{r['plain']['bytes']} / {r['gzip']['bytes']} / {r.get('json_bytes')}",
                     f"process-exporter {p.get('plain', {}).get('bytes', '-')} / "
                     f"{p.get('gzip', {}).get('bytes', '-')}", "", ""))
        cpu = r["plain"]["cpu_ms_per_scrape"]
        cpu_f = fresh.get("cpu_ms_per_scrape")
        pcpu = p.get("plain", {}).get("cpu_ms_per_scrape")
        worst = max(cpu, cpu_f or 0)
        rows.append(("scrape", f"{tag} CPU ms per scrape: rawtpd plain / gzip 1st on snapshot",
                     f"{cpu:.3f} / {fmt(cpu_f, '.3f')}", f"process-exporter {fmt(pcpu, '.0f')}",
                     f"{worst / pcpu:.5f}x" if pcpu else "-",
                     ("<=0.1x: " + verdict(worst / pcpu if pcpu else None, 0.1)) if big else ""))
        if "error" in p:
            rows.append(("scrape", f"{tag} process-exporter", "failed", p["error"][:70], "", ""))
        prss = p.get("VmRSS")
        rows.append(("scrape", f"{tag} rawtpd MiB: RSS (anon + file) / PSS",
                     f"{r['VmRSS'] / 1024:.1f} ({r.get('RssAnon', 0) / 1024:.1f} + "
                     f"{r.get('RssFile', 0) / 1024:.1f}) / {r.get('Pss', 0) / 1024:.1f}",
                     f"process-exporter RSS {fmt(prss and prss / 1024, '.1f')}",
                     fmt(prss and r["VmRSS"] / prss, ".3f", "x"),
                     ("RSS <=8 MiB: " + verdict(r["VmRSS"] / 1024, 8)) if lv["target"] == 1000
                     else ""))
        c = lv.get("compare", {})
        if "plain" in c:
            for what, get, spec in (
                    ("CPU ms per interval", lambda x: x.get("cpu_ms_per_interval"), ".1f"),
                    ("aggregation ms (status)", lambda x: x.get("aggregation_ms"), ".1f"),
                    ("scrape ms, gzip 1st on snapshot",
                     lambda x: x.get("gzip_fresh", {}).get("ms_median"), ".2f"),
                    ("CPU ms per gzip scrape, 1st on snapshot",
                     lambda x: x.get("gzip_fresh", {}).get("cpu_ms_per_scrape"), ".2f"),
                    ("RSS MiB", lambda x: x.get("VmRSS", 0) / 1024, ".1f")):
                a, b = get(r), get(c)
                rows.append(("compare", f"{tag} {what}: this build / --compare build",
                             f"{fmt(a, spec)} / {fmt(b, spec)}", "same processes, same run",
                             f"{a / b:.2f}x" if a is not None and b else "-", ""))
        if lv["target"] == 1000:
            rows.append(("steady", f"rawtpd CPU share at 1 s interval, {n} procs, "
                         f"{r['idle_seconds']:.0f} s", f"{100 * r['idle_cpu_share']:.3f}%",
                         f"(from ticks: {100 * r['idle_cpu_share_ticks']:.2f}%)", "", ""))
    for s in res.get("synthetic", []):
        if "error" in s:
            rows.append(("synthetic", f"{s['processes']} procs", "error", s["error"][:60], "", ""))
            continue
        rows.append(("synthetic", f"{s['processes']} procs aggregate / snapshot ms",
                     f"{s['aggregate_ms']:.2f} / {s['snapshot_ms']:.2f}",
                     f"prom {s['render_prom_ms']:.1f} om {s['render_openmetrics_ms']:.1f} "
                     f"gz {s['gzip_prom_ms']:.1f} json {s['render_json_ms']:.1f}", "",
                     f"{s['prom_bytes']} B, gzip {s['prom_gzip_bytes']} B"))

    m = res["machine"]
    head = (f"rawtpd benchmark{' (QUICK)' if QUICK else ''}: {m['date']}, {m['os']}, kernel "
            f"{m['kernel']}, {m['cpus']} x {m['cpu']}, {m['mem_gib']} GiB; machine busy "
            f"{res['load']['busy_pct']:.0f}% (steal {res['load']['steal_pct']:.1f}%) during the "
            f"run, load {res['load']['start']} -> {res['load']['end']}")
    fs = res.get("foreign_sched_switch", {})
    widths = [max(len(str(r[i])) for r in rows + [("section", "figure", "value", "compared with",
                                                   "ratio", "goal")]) for i in range(6)]
    lines = [head]
    for when in ("start", "end"):
        if when in fs:
            lines.append(f"other BPF programs on sched_switch at the {when}: "
                         f"{describe_foreign(fs[when])}")
    lines.append("")
    hdr = ("section", "figure", "value", "compared with", "ratio", "goal")
    lines.append(" | ".join(h.ljust(w) for h, w in zip(hdr, widths)).rstrip())
    lines.append("-+-".join("-" * w for w in widths))
    for r in rows:
        lines.append(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    if marked:
        every = union_foreign(marked)
        lines += ["", f"* measured beside {len(every)} foreign program"
                  f"{'' if len(every) == 1 else 's'} (on the hook at the start or end of a window "
                  f"behind the figure; each run's own list: beside_foreign in results.json): "
                  f"{describe_foreign(every)}"]
    return "\n".join(lines)


def chart(res, outdir):
    """bench.svg: ns/event per tool, and scrape time against the number of processes."""
    if not shutil.which("gnuplot"):
        return None
    d = tempfile.mkdtemp(prefix="rawtpd-chart-")
    ns = [(f"empty {h} (floor)", f["after"]["ns_per_event"]) for h, f in
          res.get("per_event", {}).get("floors", {}).items() if "after" in f]
    ns += [(name, e["ns_per_event"]) for name, e in
           res.get("per_event", {}).get("tools", {}).items() if e.get("ns_per_event")]
    scrape = []
    for lv in res.get("scrape", {}).get("levels", []):
        r, p = lv.get("rawtpd", {}), lv.get("process_exporter", {})
        scrape.append((lv["processes"],
                       r.get("plain", {}).get("ms_median", "NaN"),
                       r.get("gzip_fresh", {}).get("ms_median", "NaN"),
                       p.get("plain", {}).get("ms_median", "NaN"),
                       r.get("cpu_ms_per_interval", "NaN")))
    synth = [(s["processes"], s["aggregate_ms"] + s["snapshot_ms"])
             for s in res.get("synthetic", []) if "snapshot_ms" in s]
    with open(os.path.join(d, "ns.dat"), "w") as f:
        f.writelines(f'"{n}" {v:.1f}\n' for n, v in ns)
    with open(os.path.join(d, "scrape.dat"), "w") as f:
        f.writelines(" ".join(str(x) for x in row) + "\n" for row in scrape)
    with open(os.path.join(d, "synth.dat"), "w") as f:
        f.writelines(f"{n} {v}\n" for n, v in synth)
    panels = []
    if ns:
        panels.append(f"""
set title 'BPF run time per sched_switch event (bpf_stats)'
set ylabel 'ns per event'
set style fill solid 0.6
set boxwidth 0.6
set xtics rotate by -40 font ',9'
set bmargin 9
set yrange [0:*]
unset logscale
unset key
plot '{d}/ns.dat' using 0:2:xtic(1) with boxes lc rgb '#4477aa', \\
     '' using 0:2:(sprintf('%.0f', $2)) with labels offset 0,0.7
""")
    if scrape or synth:
        plots = []
        if scrape:
            plots += [f"'{d}/scrape.dat' using 1:2 with linespoints lw 2 title 'rawtpd /metrics'",
                      f"'{d}/scrape.dat' using 1:3 with linespoints lw 2 "
                      "title 'rawtpd /metrics gzip, 1st on a snapshot'",
                      f"'{d}/scrape.dat' using 1:4 with linespoints lw 2 "
                      "title 'process-exporter /metrics'",
                      f"'{d}/scrape.dat' using 1:5 with linespoints "
                      "title 'rawtpd CPU per interval (no scrapes)'"]
        if synth:
            plots.append(f"'{d}/synth.dat' using 1:2 with linespoints dt 2 "
                         "title 'synthetic: aggregate + snapshot'")
        panels.append(f"""
set title 'Scrape time and daemon work vs processes'
set xlabel 'processes'
set ylabel 'ms'
set logscale xy
set xtics norotate font ',10'
set yrange [*:*]
set key bottom right font ',9'
plot {', '.join(plots)}
""")
    if not panels:
        return None
    made = []
    for term, ext in ((f"svg size {560 * len(panels)},480 dynamic font 'sans,11'", "svg"),
                      (f"pngcairo size {560 * len(panels)},480 font 'sans,9'", "png")):
        out = os.path.join(outdir, f"bench.{ext}")
        script = (f"set terminal {term}\nset termoption noenhanced\nset output '{out}'\n"
                  f"set multiplot layout 1,{len(panels)}\n" + "".join(panels) +
                  "unset multiplot\n")
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if r.returncode == 0:
            made.append(out)
        else:
            log(f"gnuplot ({ext}): {r.stderr.strip()[-300:]}")
    shutil.rmtree(d, ignore_errors=True)
    return ", ".join(made) or None


def main():
    global QUICK
    ap = argparse.ArgumentParser()
    ap.add_argument("--rawtpd", required=True)
    ap.add_argument("--helpers", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--compare", default="",
                    help="another rawtpd binary measured beside it in the scrape phase")
    ap.add_argument("--only", default="per_event,scrape,synthetic")
    ap.add_argument("--tools", default="", help="per-event: only tools whose name starts so")
    ap.add_argument("--seconds", type=int, default=0, help="per-event: stress-ng seconds")
    ap.add_argument("--rounds", type=int, default=0, help="per-event: rounds")
    args = ap.parse_args()
    QUICK = args.quick
    os.makedirs(args.out, exist_ok=True)

    res = {"quick": QUICK}
    machine(res)
    # other BPF programs on the hook before the bench loads any (and after it stopped its own)
    res["foreign_sched_switch"] = {"start": foreign_sched_switch_programs(set())}
    load0, busy0 = os.getloadavg()[0], cpu_busy()
    t0 = time.monotonic()
    old_stats = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()

    def restore(*_):
        stop_all()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(old_stats)
        sys.exit(130)

    signal.signal(signal.SIGTERM, restore)
    signal.signal(signal.SIGINT, restore)
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        only = args.only.split(",")
        if "per_event" in only:
            per_event(args, res)
        if "synthetic" in only:
            synthetic(args, res)
        if "scrape" in only:
            scrape_cost(args, res)
    finally:
        stop_all()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(old_stats)
    res["foreign_sched_switch"]["end"] = foreign_sched_switch_programs(set())
    busy1 = cpu_busy()
    dt = busy1[0] - busy0[0]
    res["load"] = {"start": round(load0, 1), "end": round(os.getloadavg()[0], 1),
                   "busy_pct": 100 * (1 - (busy1[1] - busy0[1]) / dt) if dt else 0,
                   "steal_pct": 100 * (busy1[2] - busy0[2]) / dt if dt else 0}
    res["seconds"] = round(time.monotonic() - t0, 1)
    text = table(res)
    res["table"] = text
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(args.out, "table.txt"), "w") as f:
        f.write(text + "\n")
    svg = chart(res, args.out)
    print(text)
    print(f"\n{res['seconds']:.0f}s; results: {os.path.join(args.out, 'results.json')}"
          + (f", chart: {svg}" if svg else ""))  # svg: the chart file(s)


if __name__ == "__main__":
    main()
