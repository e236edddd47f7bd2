#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# guest-jit.sh RAWTPD - run inside an arm64 guest (tests/vm/guest-matrix.sh calls it when
# `uname -m` is aarch64): the publish ordering of the thread data path, as the arm64 JIT made it.
#
# slot_take() (bpf/rawtpd.bpf.c) makes a thread's slot visible to user space by writing its tid
# last, with an atomic exchange that must order the slot's other stores before it: the reader
# takes tid with an acquire load, then the figures. On arm64 an atomic add whose result is unused
# is JITed as STADD (or LDXR/STXR), neither of them a barrier; BPF_XCHG as SWPAL (LSE), or
# LDXR/STLXR/CBNZ + DMB ISH. This starts RAWTPD on the thread path (tp_btf, as auto takes it on
# 6.5+), reads the JITed image of its sched_switch program (BPF_OBJ_GET_INFO_BY_FD),
# and checks that it holds a 32-bit SWPAL, or a STLXR and a DMB ISH (a STADD, a counter's, is
# reported, not failed: slot_take()'s is the program's only exchange). On a kernel without the
# thread path it says so and passes. Prints "ok"/"FAIL"/"info" lines; exit 1 on FAIL.

set -uo pipefail

[ $# -eq 1 ] || { echo "usage: guest-jit.sh RAWTPD" >&2; exit 2; }
rawtpd=$1
out=${RAWTPD_VM_RESULT:-/tmp}
port=10297

echo "== arm64 JIT: the thread slot's publish ordering"
path=$("$rawtpd" --probe --json | python3 -c '
import json, sys
m = [m for m in json.load(sys.stdin)["attach_modes"] if m["mode"] == "tp_btf"]
print(m[0].get("data_path") if m else "")')
if [ "$path" != thread ]; then
	echo "info  tp_btf takes the $path data path on $(uname -r): no thread slots to publish"
	exit 0
fi
ip link set lo up 2>/dev/null || true
"$rawtpd" --attach tp_btf --listen "127.0.0.1:$port" --config /dev/null >"$out/jit-daemon.log" 2>&1 &
pid=$!
id=
for _ in $(seq 1 120); do
	id=$(bpftool prog show --json 2>/dev/null | python3 -c '
import json, sys
ids = [p["id"] for p in json.load(sys.stdin) if p.get("name", "").startswith("rawtpd_thread_t")
       and p.get("type") == "tracing"]
print(ids[0] if ids else "")')
	[ -z "$id" ] || break
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
failed=0
if [ -z "$id" ]; then
	echo "FAIL  rawtpd --attach tp_btf loaded no rawtpd_thread_tp_btf program: $(tail -n 3 "$out/jit-daemon.log")"
	failed=1
else
	python3 - "$id" <<'PY' || failed=1
# bpftool 7.1 (Debian 12) dumps no JITed code without libbfd: the image straight from
# BPF_OBJ_GET_INFO_BY_FD's jited_prog_insns
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_bpf = 280  # arm64 (asm-generic)
BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 13, 15
def bpf(cmd, attr):
    r = libc.syscall(SYS_bpf, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return r
attr = ctypes.create_string_buffer(struct.pack("<I", int(sys.argv[1])), 128)
fd = bpf(BPF_PROG_GET_FD_BY_ID, attr)
def info(jited_len=0, buf=None):
    # struct bpf_prog_info: type, id, tag[8], jited_prog_len, xlated_prog_len, jited_prog_insns
    raw = ctypes.create_string_buffer(256)
    struct.pack_into("<I4xQ", raw, 16, jited_len, ctypes.addressof(buf) if buf else 0)
    a = ctypes.create_string_buffer(struct.pack("<IIQ", fd, 256, ctypes.addressof(raw)), 128)
    bpf(BPF_OBJ_GET_INFO_BY_FD, a)
    return struct.unpack_from("<I", raw, 16)[0]
n = info()
buf = ctypes.create_string_buffer(n)
info(n, buf)
code = buf.raw
if n == 0 or not any(code):
    print(f"FAIL  the kernel gave no JITed image ({n} bytes): JIT off, or raw dumps not allowed")
    sys.exit(1)
words = struct.unpack("<%dI" % (n // 4), code[:n // 4 * 4])
def count(mask, value):
    return sum(1 for w in words if w & mask == value)
swpal = count(0xFFE0FC00, 0xB8E08000)   # SWPAL Ws, Wt, [Xn] (32-bit, acquire + release)
stlxr = count(0xFFE0FC00, 0x8800FC00)   # STLXR Ws, Wt, [Xn] (32-bit)
dmb_ish = count(0xFFFFFFFF, 0xD5033BBF)  # DMB ISH
stadd = count(0xFFE0FC1F, 0xB820001F)   # STADD Ws, [Xn] (32-bit, no ordering)
print(f"info  JITed rawtpd_thread_tp_btf: {len(words)} instructions, SWPAL {swpal}, "
      f"STLXR {stlxr}, DMB ISH {dmb_ish}, STADD {stadd}")
ok = swpal >= 1 or (stlxr >= 1 and dmb_ish >= 1)
print(("ok    " if ok else "FAIL  ") +
      "the slot's tid is published by a fully ordered exchange (SWPAL, or STLXR + DMB ISH)")
sys.exit(0 if ok else 1)
PY
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit "$failed"
