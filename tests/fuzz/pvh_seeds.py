#!/usr/bin/env python3
"""Write the seed corpus of fuzz_pvh (tests/fuzz/corpus/fuzz_pvh/): a few small valid PVH ELF
images for the fuzzer's guest (RAM at [0, 4M) [4M, 5M) [6M, 7M)). Run from anywhere:
    python3 tests/fuzz/pvh_seeds.py
Each image: ELF header, program headers, then segment data; every seed loads successfully."""
import os
import struct

MIB = 1 << 20
PT_LOAD, PT_NOTE, PT_GNU_STACK = 1, 4, 0x6474E551
EM_386, EM_X86_64 = 3, 62
XEN_PHYS32_ENTRY = 18


def note(name, ntype, desc, align=4):
    """One note; name/desc padded so offsets stay aligned relative to the note start."""
    n = name.encode() + b"\0"
    out = struct.pack("<III", len(n), len(desc), ntype) + n
    out += b"\0" * (-len(out) % align) + desc
    return out + b"\0" * (-len(out) % align)


def elf(cls, machine, segs):
    """segs: (type, paddr, data, memsz, align). Returns the image bytes."""
    ehsize, phsize = (64, 56) if cls == 64 else (52, 32)
    off = ehsize + phsize * len(segs)
    data, phdrs = b"", b""
    for ptype, paddr, blob, memsz, align in segs:
        pad = -(off + len(data)) % 8
        data += b"\0" * pad
        foff = off + len(data)
        data += blob
        if cls == 64:
            phdrs += struct.pack("<IIQQQQQQ", ptype, 5, foff, paddr | 0xFFFFFFFF80000000,
                                 paddr, len(blob), memsz, align)
        else:
            phdrs += struct.pack("<IIIIIIII", ptype, foff, paddr, paddr, len(blob), memsz, 5,
                                 align)
    ident = b"\x7fELF" + bytes([2 if cls == 64 else 1, 1, 1]) + b"\0" * 9
    if cls == 64:
        hdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0, ehsize, 0, 0, ehsize,
                                  phsize, len(segs), 0, 0, 0)
    else:
        hdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, 0, ehsize, 0, 0, ehsize,
                                  phsize, len(segs), 0, 0, 0)
    return hdr + phdrs + data


def code(n, seed):
    return bytes((i * 13 + seed) & 0xFF for i in range(n))


def seeds():
    e64 = struct.pack("<Q", 2 * MIB + 0x10)
    e32 = struct.pack("<I", MIB + 0x4)
    linux_notes = (note("Linux", 6, b"6.1\0") + note("Xen", 6, b"linux\0") +
                   note("Xen", XEN_PHYS32_ENTRY, e64) + note("GNU", 3, code(20, 1)))
    yield "elf64_linux_like", elf(64, EM_X86_64, [
        (PT_LOAD, 2 * MIB, code(0x80, 2), 0x1000, 0x1000),
        (PT_LOAD, 4 * MIB - 0x40, code(0x60, 3), 0x100, 0x1000),    # crosses node 0 | node 1
        (PT_NOTE, 0, linux_notes, 0, 4),
        (PT_GNU_STACK, 0, b"", 0, 16)])
    yield "elf32_em386", elf(32, EM_386, [
        (PT_LOAD, MIB, code(0x40, 4), 0x2000, 0x1000),
        (PT_NOTE, 0, note("Xen", XEN_PHYS32_ENTRY, e32), 0, 4)])
    yield "elf32_x86_64_bss_high", elf(32, EM_X86_64, [
        (PT_LOAD, MIB, code(0x20, 5), 0x20, 0x1000),
        (PT_LOAD, 6 * MIB, b"", 0x800, 0x1000),
        (PT_NOTE, 0, note("Xen", XEN_PHYS32_ENTRY, e32), 0, 4)])
    yield "elf64_notes_align8", elf(64, EM_X86_64, [
        (PT_LOAD, 2 * MIB, code(0x30, 6), 0x30, 0x1000),
        (PT_NOTE, 0, note("GNU", 5, code(12, 7), 8) + note("Xen", XEN_PHYS32_ENTRY, e64, 8),
         0, 8)])
    yield "elf64_two_note_segments", elf(64, EM_X86_64, [
        (PT_NOTE, 0, note("Xen", 7, b"abcde"), 0, 4),
        (PT_LOAD, 2 * MIB, code(0x40, 8), 0x40, 0x1000),
        (PT_NOTE, 0, note("Xen", XEN_PHYS32_ENTRY, struct.pack("<I", 2 * MIB + 0x10)), 0, 4),
        (PT_NOTE, 0, note("Xen", XEN_PHYS32_ENTRY, e64), 0, 4)])


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_pvh")
    os.makedirs(out, exist_ok=True)
    for name, img in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(img)


if __name__ == "__main__":
    main()
