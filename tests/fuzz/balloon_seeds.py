#!/usr/bin/env python3
"""Write the seed corpus of fuzz_balloon (tests/fuzz/corpus/fuzz_balloon/): programs of a
driver that brings the device up and sends well-formed inflate, deflate, stats and reporting
requests, so the fuzzer starts from the request paths (see fuzz_balloon.c for the op format)."""
import os
import struct
import sys

QBASE = lambda q: 0x1000 + q * 0x1000
BUF = 0x8000
PAGE = 4096


def ram(off, data):
    """op 2: write data (in pieces of at most 32 bytes) at region-0 offset off."""
    out = b""
    for i in range(0, len(data), 32):
        piece = data[i:i + 32]
        out += bytes([2]) + struct.pack("<H", off + i) + bytes([len(piece) - 1]) + piece
    return out


def chain(q, idx, addr, length, write=False):
    """one descriptor at slot 0 of queue q, and avail ring entry idx pointing at it"""
    flags = 2 if write else 0                      # VRING_DESC_F_WRITE
    desc = struct.pack("<QIHH", addr, length, flags, 0)
    avail = struct.pack("<HH", 0, idx + 1)         # flags, idx
    ring = struct.pack("<H", 0)
    return (ram(QBASE(q), desc) + ram(QBASE(q) + 0x400, avail) +
            ram(QBASE(q) + 0x400 + 4 + 2 * idx, ring))


def notify(q):
    return bytes([4, q])


def pfns(first, n):
    return b"".join(struct.pack("<I", first + i) for i in range(n))


def main(out):
    os.makedirs(out, exist_ok=True)
    up = bytes([3, 0x1f])                          # every feature
    seeds = {
        "inflate": up + ram(BUF, pfns(32, 16)) + chain(0, 0, BUF, 64) + notify(0),
        "inflate_deflate": (up + ram(BUF, pfns(32, 16)) + chain(0, 0, BUF, 64) + notify(0) +
                            chain(1, 0, BUF, 64) + notify(1)),
        "stats": up + bytes([5]) + chain(2, 0, BUF, 60, write=False) + notify(2) + bytes([5]),
        "report": up + chain(3, 0, 16 * PAGE, 16 * PAGE, write=True) + notify(3),
        "target": up + bytes([6, 64, 0]) + bytes([1, 0x100 // 4, 1, 0x104 // 4]),
        "no_features": bytes([3, 0]) + ram(BUF, pfns(140, 8)) + chain(0, 0, BUF, 32) + notify(0),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_balloon"))
