#!/usr/bin/env python3
"""Blanks the device code a shared library carries for GPUs other than one architecture, in place.

A CUDA library's .nv_fatbin section holds one cubin per architecture (sm_75 ... sm_121) and PTX.
The runtime loads only the entry that matches the GPU, so on an H100/H200 (sm_90) every other
entry is dead weight. Zeroing those payloads (headers kept, sizes unchanged, so every offset in
the file stays valid) lets the library compress to a fraction of its size: how mlx-cuda-13
(90 MB) fits into one call's 64 MiB transfer to the lent GPU machine.

    slim_fatbin.py LIBRARY.so [--keep-sm 90]
"""
import argparse
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
ELF_KIND, PTX_KIND = 2, 1


def section(data, name):
    """(offset, size) of an ELF64 section by name."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    str_off, = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)
    for i in range(shnum):
        h = shoff + i * shentsize
        name_off, = struct.unpack_from("<I", data, h)
        end = data.index(b"\0", str_off + name_off)
        if data[str_off + name_off:end].decode() == name:
            off, size = struct.unpack_from("<QQ", data, h + 0x18)
            return off, size
    sys.exit(f"no {name} section")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("library")
    p.add_argument("--keep-sm", type=int, default=90)
    a = p.parse_args()
    data = bytearray(open(a.library, "rb").read())
    start, size = section(data, ".nv_fatbin")
    kept = blanked = 0
    pos = start
    while pos < start + size:
        magic, _, header, fat_size = struct.unpack_from("<IHHQ", data, pos)
        if magic != FATBIN_MAGIC:  # alignment padding between fat binaries
            pos += 8
            continue
        entry, end = pos + header, pos + header + fat_size
        while entry < end:
            kind, _, entry_header, padded = struct.unpack_from("<HHII", data, entry)
            sm, = struct.unpack_from("<I", data, entry + 28)
            payload = slice(entry + entry_header, entry + entry_header + padded)
            if kind == ELF_KIND and sm == a.keep_sm:
                kept += padded
            else:
                data[payload] = bytes(padded)
                blanked += padded
            entry += entry_header + padded
        pos = end
    if not kept:
        sys.exit(f"no sm_{a.keep_sm} cubin in {a.library}: nothing would run there")
    open(a.library, "wb").write(data)
    print(f"{a.library}: kept {kept / 1e6:.1f} MB of sm_{a.keep_sm} cubins, blanked {blanked / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
