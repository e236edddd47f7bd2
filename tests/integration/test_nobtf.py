# SPDX-License-Identifier: GPL-2.0-only
"""Kernels without BTF, on this kernel: /sys/kernel/btf hidden under a tmpfs in a private mount
namespace, rawtpd given a BTF file that `bpftool gen min_core_btf` made from this kernel's own
against rawtpd.bpf.o (made before hiding).

1. --btf FILE: raw_tp, tracepoint and, where the kernel has kprobes (the VM guests), kprobe
   count the accuracy workload exactly (test_accuracy's check); auto takes raw_tp and logs why it passed over tp_btf; --probe says btf_source flag.
2. The same with the file at $RAWTPD_BTF_DIR/RELEASE.btf: btf_source "search path".
3. No file anywhere: exit 1, the message names BTFHub, pahole and bpftool gen min_core_btf.
Prints the minimized file's size."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from rawtpd_test import (HIDE_BTF, RAWTPD, Checker, Daemon, check_accuracy,  # noqa: E402
                         free_port, require_root, skip, vmlinux_on_disk)

BUILD = os.environ.get("RAWTPD_BUILD", "build")
OBJECT = os.path.join(BUILD, "bpf", "rawtpd.bpf.o")
MODES = ["raw_tp", "tracepoint"]  # and kprobe where the kernel has it: see main()
WAYS = ["btfhub-archive", "pahole --btf_encode_detached", "bpftool gen min_core_btf"]


def mount_tracefs():
    if os.path.isdir("/sys/kernel/tracing/events") or not os.path.isdir("/sys/kernel/tracing"):
        return
    subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"],
                   capture_output=True)


def probe(args, env):
    r = subprocess.run(HIDE_BTF + [RAWTPD, "--probe", "--json", "--config", "/dev/null", *args],
                       capture_output=True, timeout=300, env=env)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"error": r.stderr.decode(errors="replace")}


def modes_here():
    """Every mode but tp_btf that this kernel offers, as --probe says with the kernel's BTF."""
    if not hasattr(modes_here, "cached"):
        r = subprocess.run([RAWTPD, "--probe", "--json", "--config", "/dev/null"],
                           capture_output=True, timeout=300)
        try:
            kprobes = json.loads(r.stdout).get("kprobes") is True
        except ValueError:
            kprobes = False
        modes_here.cached = MODES + (["kprobe"] if kprobes else [])
    return modes_here.cached


def with_file(t, label, args, env, source):
    """--probe, each mode's accuracy and auto's choice, BTF hidden, the file given by args/env."""
    doc = probe(args, env)
    t.check(doc.get("btf_source") == source and doc.get("btf") is True,
            f"{label}: --probe says btf_source {doc.get('btf_source')!r} ({doc.get('btf_path')})")
    t.check(doc.get("auto_choice") == "raw_tp", f"{label}: --probe: auto would take raw_tp")
    modes = {m["mode"]: m for m in doc.get("attach_modes", [])}
    tp_btf = modes.get("tp_btf", {})
    t.check(not tp_btf.get("works", True) and
            "tp_btf needs the kernel's own BTF" in (tp_btf.get("reason") or ""),
            f"{label}: --probe: tp_btf needs the kernel's own BTF")
    for mode in modes_here():
        with Daemon("--attach", mode, *args, wrap=HIDE_BTF, env=env) as d:
            check_accuracy(t, d, f"{mode}")
    with Daemon("--attach", "auto", "--log-level", "info", *args, wrap=HIDE_BTF, env=env) as d:
        got = d.json("/api/v1/status").get("attach_mode")
        logs = d.logs()
    t.check(got == "raw_tp", f"{label}: auto attached {got}")
    t.check("Passing over attach mode tp_btf: " in logs and
            "tp_btf needs the kernel's own BTF" in logs,
            f"{label}: auto logs why it passed over tp_btf")


def without_file(t, env):
    for mode in ["raw_tp", "auto"]:
        cmd = HIDE_BTF + [RAWTPD, "--attach", mode, "--listen", f"127.0.0.1:{free_port()}",
                          "--config", "/dev/null"]
        r = subprocess.run(cmd, capture_output=True, timeout=300, env=env)
        err = r.stderr.decode(errors="replace")
        t.check(r.returncode == 1, f"no BTF, --attach {mode}: exit {r.returncode}, expected 1")
        for w in WAYS:
            t.check(w in err, f"no BTF, --attach {mode}: the message says {w!r}")
        t.check(os.uname().release + ".btf" in err,
                f"no BTF, --attach {mode}: the message names the file to put in place")
    print(f"  no BTF: {[ln for ln in err.splitlines() if 'raw_tp: ' in ln][:1]}")


def main():
    require_root()
    for tool in ["unshare", "bpftool"]:
        if not shutil.which(tool):
            skip(f"{tool} missing")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        skip("this kernel has no BTF to minimize")
    if vmlinux_on_disk():
        skip("a vmlinux with BTF is on disk: libbpf would find it")
    mount_tracefs()
    t = Checker()
    tmp = tempfile.mkdtemp(prefix="rawtpd-nobtf-")
    try:
        path = os.path.join(tmp, "min.btf")
        r = subprocess.run(["bpftool", "gen", "min_core_btf", "/sys/kernel/btf/vmlinux", path,
                            OBJECT], capture_output=True)
        if not t.check(r.returncode == 0, f"bpftool gen min_core_btf ({r.stderr[:200]!r})"):
            t.done()
        print(f"  minimized BTF: {os.path.getsize(path)} bytes "
              f"(kernel's: {os.path.getsize('/sys/kernel/btf/vmlinux')} bytes)")
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        env = dict(os.environ, RAWTPD_BTF_DIR=empty)
        with_file(t, "--btf", ["--btf", path], env, "flag")

        search = os.path.join(tmp, "search")
        os.mkdir(search)
        shutil.copy(path, os.path.join(search, os.uname().release + ".btf"))
        with_file(t, "search path", [], dict(os.environ, RAWTPD_BTF_DIR=search), "search path")

        without_file(t, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


main()
