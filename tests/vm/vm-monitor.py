#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""vm-monitor.py SOCKET [SYMBOLS] [--samples N]

Asks a running qemu, through its human monitor on the unix SOCKET (run-vm.sh starts qemu with
one), where each vCPU is: `info cpus` (which ones are halted) and the RIP of each from
`info registers -a`, named from SYMBOLS (the text lines of the guest's /proc/kallsyms, which
guest-run.sh saves; the guest boots with nokaslr, so they stay valid). N samples (default 3),
one second apart, show whether a vCPU moves or spins in one place. run-vm.sh calls it when its
hang watch fires; it never fails the caller (exit 0 always)."""
import bisect
import re
import socket
import sys
import time


def load_map(path):
    addrs, names = [], []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in "tTwW":
                    addrs.append(int(parts[0], 16))
                    names.append(parts[2])
    except OSError:
        return [], []
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def symbol(addrs, names, rip):
    i = bisect.bisect_right(addrs, rip) - 1
    if i < 0 or not addrs:
        return "?"
    return "%s+0x%x" % (names[i], rip - addrs[i])


def ask(path, commands):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(path)
    out = b""

    def drain(wait):
        nonlocal out
        end = time.time() + wait
        while time.time() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if out.rstrip().endswith(b"(qemu)"):
                break

    drain(1)
    for c in commands:
        s.sendall(c.encode() + b"\n")
        drain(3)
    s.close()
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode(errors="replace"))


def main():
    args = sys.argv[1:]
    samples = 3
    if "--samples" in args:
        i = args.index("--samples")
        samples = int(args[i + 1])
        del args[i:i + 2]
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 0
    addrs, names = load_map(args[1]) if len(args) > 1 else ([], [])
    for n in range(samples):
        try:
            text = ask(args[0], ["info cpus", "info registers -a"])
        except OSError as e:
            print("vm-monitor: cannot ask qemu: %s" % e)
            return 0
        halted = {int(m.group(1)): "halted" in m.group(0)
                  for m in re.finditer(r"CPU #(\d+):[^\n]*", text)}
        # x86's RIP, arm64's PC (qemu-system-aarch64)
        rips = [int(x, 16) for x in re.findall(r"(?:RIP|\bPC)=([0-9a-f]{16})", text)]
        cpl = re.findall(r"CPL=(\d)", text)
        line = []
        for cpu, rip in enumerate(rips):
            where = symbol(addrs, names, rip) if rip >= 0xffff800000000000 else "user space"
            line.append("vCPU%d %s%s at %016x %s" % (
                cpu, "halted " if halted.get(cpu) else "", "CPL%s" % cpl[cpu] if cpu < len(cpl)
                else "", rip, where))
        print("sample %d: %s" % (n + 1, "; ".join(line) or "no registers in the answer"))
        if n + 1 < samples:
            time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
