# SPDX-License-Identifier: GPL-2.0-only
"""Per-event cost of each attach mode, beside an empty program on the same hook, in one run.

  mode-cost.py RAWTPD [--modes "tp_btf raw_tp tracepoint kprobe"] [--seconds 10]

For each mode: rawtpd runs in that mode and an empty BPF program is attached to the same hook
(built here with clang, loaded through libbpf with ctypes); `stress-ng --switch 2` makes
context switches while kernel.bpf_stats_enabled is on; the figure is run_time_ns / run_cnt of
each program over the same seconds (rawtpd's from /api/v1/status, the empty one's from
bpftool). A benchmark: it prints a table and never fails on a figure; it exits 1 only when it
could not measure at all (no stress-ng, no clang, no libbpf). Debian's /usr/bin/python3.
Under qemu -accel tcg (the VM matrix) the figures are those of an emulated CPU."""
import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

EMPTY = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
SEC("tp_btf/sched_switch") int floor_tp_btf(void *ctx) { return 0; }
SEC("raw_tp/sched_switch") int floor_raw_tp(void *ctx) { return 0; }
SEC("tracepoint/sched/sched_switch") int floor_tp(void *ctx) { return 0; }
SEC("kprobe") int floor_kprobe(void *ctx) { return 0; }
"""
FLOOR_PROG = {"tp_btf": "floor_tp_btf", "raw_tp": "floor_raw_tp", "tracepoint": "floor_tp",
              "kprobe": "floor_kprobe"}


def log(msg):
    print(f"mode-cost: {msg}", file=sys.stderr, flush=True)


class Floor:
    """One empty program of EMPTY, loaded and attached through libbpf (ctypes)."""

    def __init__(self, obj_path, prog_name, kprobe_symbol=None):
        lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
        for fn in ["bpf_object__open_file", "bpf_object__find_program_by_name",
                   "bpf_program__attach", "bpf_program__attach_kprobe"]:
            getattr(lib, fn).restype = ctypes.c_void_p
        lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.bpf_object__load.argtypes = [ctypes.c_void_p]
        lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.bpf_program__set_autoload.argtypes = [ctypes.c_void_p, ctypes.c_bool]
        lib.bpf_object__next_program.restype = ctypes.c_void_p
        lib.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.bpf_program__attach.argtypes = [ctypes.c_void_p]
        lib.bpf_program__attach_kprobe.argtypes = [ctypes.c_void_p, ctypes.c_bool,
                                                   ctypes.c_char_p]
        lib.bpf_program__fd.argtypes = [ctypes.c_void_p]
        lib.bpf_obj_get_info_by_fd.argtypes = [ctypes.c_int, ctypes.c_void_p,
                                               ctypes.POINTER(ctypes.c_uint32)]
        lib.bpf_link__destroy.argtypes = [ctypes.c_void_p]
        lib.bpf_object__close.argtypes = [ctypes.c_void_p]
        self.lib, self.link = lib, None
        self.obj = lib.bpf_object__open_file(obj_path.encode(), None)
        if not self.obj:
            raise OSError(ctypes.get_errno(), "bpf_object__open_file")
        want = lib.bpf_object__find_program_by_name(self.obj, prog_name.encode())
        p = lib.bpf_object__next_program(self.obj, None)
        while p:
            lib.bpf_program__set_autoload(p, p == want)
            p = lib.bpf_object__next_program(self.obj, p)
        if lib.bpf_object__load(self.obj) < 0:
            raise OSError(ctypes.get_errno(), f"loading {prog_name}")
        if kprobe_symbol:
            self.link = lib.bpf_program__attach_kprobe(want, False, kprobe_symbol.encode())
        else:
            self.link = lib.bpf_program__attach(want)
        if not self.link:
            raise OSError(ctypes.get_errno(), f"attaching {prog_name}")
        info = (ctypes.c_uint32 * 2)()  # struct bpf_prog_info starts with type, id
        n = ctypes.c_uint32(8)
        lib.bpf_obj_get_info_by_fd(lib.bpf_program__fd(want), info, ctypes.byref(n))
        self.id = info[1]

    def stats(self):
        out = subprocess.run(["bpftool", "prog", "show", "id", str(self.id), "--json"],
                             capture_output=True, check=True).stdout
        d = json.loads(out)
        return d.get("run_cnt", 0), d.get("run_time_ns", 0)

    def close(self):
        if self.link:
            self.lib.bpf_link__destroy(self.link)
        self.lib.bpf_object__close(self.obj)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=10) as r:
        d = json.load(r)
    return d["bpf_program_runs"], round(d["bpf_program_run_seconds"] * 1e9)


def start_rawtpd(rawtpd, mode):
    port = free_port()
    p = subprocess.Popen([rawtpd, "--attach", mode, "--listen", f"127.0.0.1:{port}",
                          "--config", "/dev/null", "--interval", "1s"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError(p.stderr.read().decode(errors="replace").strip())
        try:
            status(port)
            return p, port
        except OSError:
            time.sleep(0.2)
    p.kill()
    raise RuntimeError("rawtpd did not come up")


def kprobe_symbol():
    best = None
    with open("/proc/kallsyms") as f:
        for line in f:
            name = line.split()[2]
            if name == "finish_task_switch":
                return name
            if name.startswith("finish_task_switch.") and ".cold" not in name and not best:
                best = name
    return best


def measure(rawtpd, mode, obj, seconds):
    floor = Floor(obj, FLOOR_PROG[mode], kprobe_symbol() if mode == "kprobe" else None)
    proc = None
    try:
        proc, port = start_rawtpd(rawtpd, mode)
        time.sleep(1)
        r0, f0 = status(port), floor.stats()
        subprocess.run(["stress-ng", "--switch", "2", "-t", str(seconds), "--quiet"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r1, f1 = status(port), floor.stats()
    finally:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        floor.close()
    runs, ns = r1[0] - r0[0], r1[1] - r0[1]
    fruns, fns = f1[0] - f0[0], f1[1] - f0[1]
    return runs, ns / runs if runs else float("nan"), fruns, fns / fruns if fruns else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rawtpd")
    ap.add_argument("--modes", default="tp_btf raw_tp tracepoint kprobe")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    for tool in ["stress-ng", "clang", "bpftool"]:
        if not shutil.which(tool):
            log(f"{tool} is missing: cannot measure")
            return 1
    tmp = tempfile.mkdtemp(prefix="rawtpd-cost.")
    src, obj = os.path.join(tmp, "floor.bpf.c"), os.path.join(tmp, "floor.bpf.o")
    with open(src, "w") as f:
        f.write(EMPTY)
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    r = subprocess.run(["clang", "-O2", "-g", "-target", "bpf", f"-D__TARGET_ARCH_{arch}",
                        f"-I/usr/include/{os.uname().machine}-linux-gnu", "-c", src, "-o", obj],
                       capture_output=True)
    if r.returncode:
        log(f"cannot build the empty program: {r.stderr.decode(errors='replace')}")
        return 1
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        was = f.read().strip()
    probe = json.loads(subprocess.run([a.rawtpd, "--probe", "--json"], capture_output=True,
                                      timeout=300).stdout or b"{}")
    works = {m["mode"] for m in probe.get("attach_modes", []) if m["works"]}
    results = {}
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        for mode in a.modes.split():
            if mode not in works:
                log(f"{mode}: not measured: the mode does not work on this kernel")
                continue
            try:
                results[mode] = measure(a.rawtpd, mode, obj, a.seconds)
            except (OSError, RuntimeError) as e:
                log(f"{mode}: not measured: {e}")
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(was)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"per-event cost on {os.uname().release} (stress-ng --switch 2, {a.seconds} s each):")
    print(f"  {'mode':11} {'events':>9} {'rawtpd ns':>10} {'empty ns':>9} {'above empty':>12}")
    for mode, (runs, ns, fruns, fns) in results.items():
        print(f"  {mode:11} {runs:9d} {ns:10.0f} {fns:9.0f} {ns - fns:12.0f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({m: {"events": r[0], "ns": r[1], "empty_events": r[2], "empty_ns": r[3]}
                       for m, r in results.items()}, f, indent=2)
    return 0 if results else 1


sys.exit(main())
