# SPDX-License-Identifier: GPL-2.0-only
"""The command line as SPEC.md has it: --probe and --probe --json (exit 0, the fields, the
same auto choice in both, also without any capability), --version, --help, --check-config on
a good and a bad file, and bad usage exiting 2."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import RAWTPD, Checker, require_root  # noqa: E402

SRC = os.environ.get("RAWTPD_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIGS = os.path.join(SRC, "tests", "data", "config")
ORDER = ["tp_btf", "raw_tp", "tracepoint", "kprobe"]
FLAGS = ["--config", "--listen", "--attach", "--interval", "--log-level", "--probe", "--json",
         "--check-config", "--version", "--help"]


def run(*args, prefix=()):
    r = subprocess.run(list(prefix) + [RAWTPD] + list(args), capture_output=True, timeout=300)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def project_version():
    with open(os.path.join(SRC, "meson.build")) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    return m and m.group(1)


def bpf_stats():
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        return f.read().strip() == "1"


def check_probe_json(t, doc, what, stats_before, privileged=True):
    t.check(doc.get("kernel_release") == os.uname().release, f"{what}: kernel_release")
    t.check(doc.get("version") == project_version(), f"{what}: version")
    t.check(isinstance(doc.get("btf"), bool), f"{what}: btf is a boolean")
    t.check(doc["btf"] == (doc.get("btf_path") is not None), f"{what}: btf_path iff btf")
    t.check(doc.get("btf_path") in (None, "/sys/kernel/btf/vmlinux") or
            doc["btf_path"].startswith(("/boot/", "/lib/", "/usr/lib/")), f"{what}: btf_path")
    t.check(doc.get("sched_switch_prev_state_arg") in (True, False, None),
            f"{what}: sched_switch_prev_state_arg")
    t.check(doc.get("tracefs") in (None, "/sys/kernel/tracing", "/sys/kernel/debug/tracing"),
            f"{what}: tracefs is where it is mounted")
    t.check(doc.get("kprobes") in (True, False, None), f"{what}: kprobes")
    target = doc.get("kprobe_target")
    t.check(target is None or re.fullmatch(r"finish_task_switch(\.[\w.]+)?", target),
            f"{what}: kprobe_target {target}")
    caps = doc.get("capabilities", {})
    t.check(sorted(caps) == ["CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN"],
            f"{what}: capabilities listed")
    # benchmarks on a shared machine flip the sysctl: the value from before or after the run
    t.check(doc.get("bpf_stats_enabled") in (stats_before, bpf_stats()),
            f"{what}: bpf_stats_enabled is the sysctl")
    for k in ["batch_map_ops", "ring_buffer", "percpu_hash"]:
        want = (True, False) if privileged else (None,)
        t.check(doc.get(k) in want, f"{what}: {k} {doc.get(k)}")
    modes = doc.get("attach_modes", [])
    t.check([m.get("mode") for m in modes] == ORDER, f"{what}: the four modes in auto's order")
    first = None
    for m in modes:
        ok = m.get("works")
        t.check(isinstance(ok, bool), f"{what}: {m.get('mode')}: works is a boolean")
        t.check(isinstance(m.get("hook"), str) and m["hook"], f"{what}: {m.get('mode')}: hook")
        t.check(isinstance(m.get("renames"), bool), f"{what}: {m.get('mode')}: renames")
        if ok:
            t.check(m.get("reason") is None, f"{what}: {m['mode']}: works, no reason")
            first = first or m["mode"]
        else:
            reason = m.get("reason") or ""
            t.check(reason.startswith(f"{m['mode']}: {m['hook']}: ") and "[error " in reason,
                    f"{what}: {m['mode']}: the reason names mode, hook and error: {reason}")
    t.check(doc.get("auto_choice") == first, f"{what}: auto_choice {doc.get('auto_choice')} is "
            f"the first that works ({first})")
    return first


def main():
    require_root()
    t = Checker()

    rc, out, err = run("--version")
    t.check(rc == 0, f"--version exits 0 ({rc})")
    t.check(re.fullmatch(r"rawtpd (\S+) \(libbpf v?\d+\.\d+[^)]*\)\n", out) is not None,
            f"--version prints 'rawtpd VERSION (libbpf VERSION)': {out.strip()}")
    t.check(out.split()[1] == project_version(), "--version is meson's project version")

    rc, out, err = run("--help")
    t.check(rc == 0, f"--help exits 0 ({rc})")
    for flag in FLAGS:
        t.check(flag in out, f"--help mentions {flag}")
    for mode in ["auto"] + ORDER:
        t.check(mode in out, f"--help names the mode {mode}")
    # each flag line: the flag (and its argument), then two spaces or more, or its help on the
    # lines under it: a flag longer than the column never runs into its text
    glued = [l for l in out.splitlines()
             if re.match(r"\s+(-\w, )?--[\w-]+", l)
             and not re.match(r"\s+(-\w, )?--[\w-]+( [A-Z]+)?(\s{2,}\S|$)", l)]
    t.check(not glued, f"--help keeps every flag apart from its text: {glued}")

    good = os.path.join(CONFIGS, "full.conf")
    rc, out, err = run("--check-config", "--config", good)
    t.check(rc == 0 and "OK" in out, f"--check-config on a good file: exit {rc}, {out.strip()}")
    bad = os.path.join(CONFIGS, "unknown-key.conf")
    rc, out, err = run("--check-config", "--config", bad)
    t.check(rc == 2, f"--check-config on a bad file exits 2 ({rc})")
    t.check(re.search(re.escape(bad) + r":\d+: ", err) is not None,
            f"--check-config says file:line: {err.strip()}")

    for args in [["--no-such-flag"], ["--attach", "bogus"], ["--interval", "soon"],
                 ["--log-level", "loud"], ["--probe", "extra-argument"]]:
        rc, out, err = run(*args)
        t.check(rc == 2, f"{' '.join(args)}: bad usage exits 2 ({rc})")
        t.check(err.strip() != "" and "libbpf" not in err, f"{' '.join(args)}: says why")

    rc, text, err = run("--probe")
    t.check(rc == 0, f"--probe exits 0 ({rc}: {err.strip()[:200]})")
    t.check(f"on Linux {os.uname().release}" in text, "--probe names the kernel")
    for label in ["kernel BTF:", "sched_switch args:", "tracefs:", "kprobes:", "capabilities:",
                  "BPF stats:", "batch map ops:", "ring buffer:", "per-CPU hash maps:",
                  "auto would choose:"]:
        t.check(label in text, f"--probe prints {label!r}")
    for mode in ORDER:
        t.check(re.search(rf"^  {mode} +(works|no: )", text, re.M) is not None,
                f"--probe has a line for {mode}")
    t.check("libbpf:" not in err, "--probe: no libbpf output")

    stats = bpf_stats()
    rc, out, err = run("--probe", "--json")
    t.check(rc == 0, f"--probe --json exits 0 ({rc})")
    try:
        doc = json.loads(out)
    except ValueError as e:
        t.check(False, f"--probe --json is JSON ({e})")
        t.done()
    first = check_probe_json(t, doc, "--probe --json", stats)
    m = re.search(r"^auto would choose: (\S+)", text, re.M)
    t.check(m is not None and m.group(1) == (first or "nothing"),
            "--probe and --probe --json choose the same")
    print(f"  --probe --json: auto would choose {first}")

    # Without any capability it is still a report.
    if shutil.which("setpriv"):
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all"]
        stats = bpf_stats()
        rc, out, err = run("--probe", "--json", prefix=nobody)
        t.check(rc == 0, f"--probe --json as nobody exits 0 ({rc}: {err.strip()[:200]})")
        try:
            doc = json.loads(out)
            check_probe_json(t, doc, "as nobody", stats, privileged=False)
            t.check(not any(doc["capabilities"].values()), "as nobody: no capability held")
            t.check(doc["auto_choice"] is None, "as nobody: nothing would attach")
            t.check(all("CAP_BPF" in m["reason"] for m in doc["attach_modes"]
                        if m["mode"] in ("tp_btf", "raw_tp")),
                    "as nobody: the reason is the missing capabilities")
        except (ValueError, KeyError, TypeError) as e:
            t.check(False, f"--probe --json as nobody is JSON ({e})")
    t.done()


main()
