#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""image-btf.py IMAGE OUT: the kernel's BTF, cut out of a kernel image (an uncompressed arm64
Image, as Debian's linux-image-*-arm64 ships it at /boot/vmlinuz-*; a gzip one is unpacked
first), for gen-vmlinux.sh on another architecture: no need to boot the kernel or download
its multi-gigabyte debug package. The BTF section starts with its header (magic 0xeb9f,
version 1, 24-byte header) and the header says how long it is; the largest such blob is the
kernel's own. Exit 1 when there is none (a kernel built without CONFIG_DEBUG_INFO_BTF)."""
import gzip
import struct
import sys

MAGIC = b"\x9f\xeb\x01\x00\x18\x00\x00\x00"  # magic, version 1, flags 0, hdr_len 24


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n")[0])
    data = open(sys.argv[1], "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    best = None
    at = data.find(MAGIC)
    while at >= 0:
        _, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            "<HBBIIIII", data, at)
        size = hdr_len + max(type_off + type_len, str_off + str_len)
        if at + size <= len(data) and (best is None or size > best[1]):
            best = (at, size)
        at = data.find(MAGIC, at + 1)
    if best is None:
        sys.exit(f"{sys.argv[1]}: no BTF in it (CONFIG_DEBUG_INFO_BTF off?)")
    with open(sys.argv[2], "wb") as f:
        f.write(data[best[0]:best[0] + best[1]])
    print(f"{sys.argv[2]}: {best[1]} bytes of BTF from offset {best[0]}")


if __name__ == "__main__":
    main()
