#!/usr/bin/env python3
"""Seed corpus for fuzz_virtq (tests/fuzz/fuzz_virtq.c): a few well-formed and malformed rings.
Input layout: [log2 size][flags: 1 indirect, 2 event_idx] then region 0 (desc at 0, avail at
0x1000, used at 0x2000) and region 1 (gpa 0x10000). Run: tests/fuzz/virtq_seeds.py OUTDIR"""
import os
import struct
import sys

NEXT, WRITE, INDIRECT = 1, 2, 4


def image(log2, flags, descs, heads, extra=None):
    ram = bytearray(0x4000)
    for i, (addr, ln, fl, nxt) in enumerate(descs):
        struct.pack_into('<QIHH', ram, 16 * i, addr, ln, fl, nxt)
    struct.pack_into('<HH', ram, 0x1000, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into('<H', ram, 0x1004 + 2 * i, h)
    for off, data in (extra or []):
        ram[off:off + len(data)] = data
    return bytes([log2, flags]) + bytes(ram)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        'one_readable': image(4, 0, [(0x3000, 64, 0, 0)], [0]),
        'read_then_write': image(4, 0, [(0x3000, 8, NEXT, 1), (0x3100, 8, WRITE, 0)], [0]),
        'indirect': image(4, 1, [(0x3800, 32, INDIRECT, 0)], [0],
                          [(0x3800, struct.pack('<QIHHQIHH', 0x3000, 4, NEXT, 1, 0x10000, 16, WRITE, 0))]),
        'loop': image(4, 0, [(0x3000, 4, NEXT, 1), (0x3000, 4, NEXT, 0)], [0]),
        'event_idx_two': image(3, 2, [(0x3000, 4, 0, 0), (0x3004, 4, 0, 0)], [0, 1]),
        'region1_buffer': image(5, 3, [(0x10000, 0x1000, WRITE, 0)], [0]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
