#!/usr/bin/env python3
"""Write the seed corpus of fuzz_multiboot (tests/fuzz/corpus/fuzz_multiboot/): a few small
multiboot ELF32 kernels, each framed as fuzz_multiboot.c reads its input, for the fuzzer's guest
(RAM at [0, 4M) [4M, 5M) [6M, 7M)). Run from anywhere:
    python3 tests/fuzz/multiboot_seeds.py
Frame: le16 command-line length, le32 module length, u8 flags (bit 0: a module), the command
line, the module, the image. Every seed loads successfully."""
import os
import struct

MIB = 1 << 20
PT_LOAD, PT_GNU_STACK = 1, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4
EM_386 = 3
MB_MAGIC = 0x1BADB002
MB_PAGE_ALIGN, MB_MEMORY_INFO = 1 << 0, 1 << 1


def mb_header(flags):
    return struct.pack("<III", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xFFFFFFFF)


def elf32(entry, segs, header_at=0x100, header=None, extra=None):
    """segs: (type, paddr, vaddr, data, memsz, flags). The multiboot header goes at header_at
    (before the segment data, which starts at 0x200 or past the header); extra: (offset, bytes)
    written too (e.g. a header whose checksum fails)."""
    ehsize, phsize = 52, 32
    hdr_blob = header if header is not None else mb_header(MB_PAGE_ALIGN | MB_MEMORY_INFO)
    off = max(0x200, header_at + len(hdr_blob))
    data, phdrs = b"", b""
    for ptype, paddr, vaddr, blob, memsz, flags in segs:
        data += b"\0" * (-(off + len(data)) % 16)
        foff = off + len(data)
        data += blob
        phdrs += struct.pack("<IIIIIIII", ptype, foff, vaddr, paddr, len(blob), memsz, flags,
                             0x1000)
    ident = b"\x7fELF" + bytes([1, 1, 1]) + b"\0" * 9
    ehdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, EM_386, 1, entry, ehsize, 0, 0, ehsize,
                               phsize, len(segs), 0, 0, 0)
    img = bytearray(ehdr + phdrs)
    img += b"\0" * (off - len(img))
    img[header_at:header_at + len(hdr_blob)] = hdr_blob
    if extra:
        at, blob = extra
        img[at:at + len(blob)] = blob
    return bytes(img) + data


def frame(cmdline, module, image):
    cl = cmdline.encode()
    mod = module if module is not None else b""
    return struct.pack("<HIB", len(cl), len(mod), 1 if module is not None else 0) + cl + mod + image


def code(n, seed):
    return bytes((i * 13 + seed) & 0xFF for i in range(n))


def seeds():
    text = (PT_LOAD, MIB, MIB, code(0x40, 1), 0x1000, PF_R | PF_X)
    yield "minimal_no_module", frame("kernel", None, elf32(MIB + 0x10, [text]))
    yield "bss_and_module", frame("/boot/kernel.elf console=ttyS0", code(0x300, 2), elf32(
        MIB + 0x10, [text, (PT_LOAD, 2 * MIB, 2 * MIB, code(0x20, 3), 0x2345, PF_R | PF_W),
                     (PT_GNU_STACK, 0, 0, b"", 0, PF_R | PF_W)]))
    yield "crosses_node_boundary", frame("k a=b", code(0x1800, 4), elf32(
        4 * MIB - 0x40, [(PT_LOAD, 4 * MIB - 0x80, 4 * MIB - 0x80, code(0x100, 5), 0x200,
                          PF_R | PF_X)]))
    yield "higher_half_entry", frame("hh", b"", elf32(
        0xC0100000 + 0x20, [(PT_LOAD, MIB, 0xC0100000, code(0x80, 6), 0x80, PF_R | PF_X)]))
    yield "header_late_optional_flags", frame("", code(5, 7), elf32(
        MIB, [text], header_at=0x1FF0, header=mb_header(MB_PAGE_ALIGN | (1 << 20))))
    yield "bad_checksum_then_good", frame("x", None, elf32(
        MIB, [text], header_at=0x140, extra=(0x100, struct.pack("<III", MB_MAGIC, 3, 0))))


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_multiboot")
    os.makedirs(out, exist_ok=True)
    for name, blob in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
