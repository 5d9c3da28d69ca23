#!/usr/bin/env python3
"""Write the seed corpus of fuzz_bzimage (tests/fuzz/corpus/fuzz_bzimage/): small bzImages, with
command lines and initrds, that load into the fuzzer's guest (RAM at [0, 4M) [4M, 5M) [6M, 7M)).
Run from anywhere:
    python3 tests/fuzz/bzimage_seeds.py
Each seed: u32 LE kernel length, u16 LE command-line length, the kernel, the command line, the
initrd (the rest). Every seed loads successfully."""
import os
import struct

MIB = 1 << 20
HDR_OFF = 0x1F1
XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G = 1, 2
LOADED_HIGH = 1

# struct setup_header (<asm/bootparam.h>), packed: (name, struct format) in order.
FIELDS = [
    ("setup_sects", "B"), ("root_flags", "H"), ("syssize", "I"), ("ram_size", "H"),
    ("vid_mode", "H"), ("root_dev", "H"), ("boot_flag", "H"), ("jump", "H"), ("header", "4s"),
    ("version", "H"), ("realmode_swtch", "I"), ("start_sys_seg", "H"), ("kernel_version", "H"),
    ("type_of_loader", "B"), ("loadflags", "B"), ("setup_move_size", "H"),
    ("code32_start", "I"), ("ramdisk_image", "I"), ("ramdisk_size", "I"),
    ("bootsect_kludge", "I"), ("heap_end_ptr", "H"), ("ext_loader_ver", "B"),
    ("ext_loader_type", "B"), ("cmd_line_ptr", "I"), ("initrd_addr_max", "I"),
    ("kernel_alignment", "I"), ("relocatable_kernel", "B"), ("min_alignment", "B"),
    ("xloadflags", "H"), ("cmdline_size", "I"), ("hardware_subarch", "I"),
    ("hardware_subarch_data", "Q"), ("payload_offset", "I"), ("payload_length", "I"),
    ("setup_data", "Q"), ("pref_address", "Q"), ("init_size", "I"), ("handover_offset", "I"),
    ("kernel_info_offset", "I"),
]
HDR_FMT = "<" + "".join(f for _, f in FIELDS)
assert struct.calcsize(HDR_FMT) == 0x7B


def bzimage(ksize, hdr_end=HDR_OFF + 0x7B, trailer=0, **fields):
    """A bzImage whose protected-mode kernel is ksize pattern bytes (syssize = ksize / 16) plus
    trailer bytes of signature; fields override the defaults below."""
    h = dict((name, 0) for name, _ in FIELDS)
    h.update(setup_sects=1, boot_flag=0xAA55, header=b"HdrS", version=0x020F,
             loadflags=LOADED_HIGH, syssize=ksize // 16, initrd_addr_max=0x7FFFFFFF,
             kernel_alignment=0x200000, relocatable_kernel=1, min_alignment=21,
             xloadflags=XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G, cmdline_size=255,
             pref_address=0x200000, init_size=0x100000)
    h.update(fields)
    h["jump"] = 0xEB | (hdr_end - 0x202) << 8
    sects = h["setup_sects"] or 4
    setup = bytearray((sects + 1) * 512)
    hdr = struct.pack(HDR_FMT, *(h[name] for name, _ in FIELDS))
    setup[HDR_OFF:HDR_OFF + len(hdr)] = hdr
    for i in range(hdr_end, len(setup)):       # what follows the header is setup code
        setup[i] = 0x90
    kernel = bytes((i * 13 + 7) & 0xFF for i in range(ksize + trailer))
    return bytes(setup) + kernel


def seed(kernel, cmdline=b"", initrd=b""):
    return struct.pack("<IH", len(kernel), len(cmdline)) + kernel + cmdline + initrd


def seeds():
    # window [1M, 3M): decompresses at 2 MiB; initrd at the top of [0, 5M)
    yield "plain", seed(bzimage(0x400), b"console=ttyS0 earlyprintk=serial")
    yield "initrd_top", seed(bzimage(0x800), b"root=/dev/ram0", bytes(range(256)) * 24)
    # initrd_addr_max 4 MiB + 0x7ff: the initrd runs across the node 0 | node 1 boundary
    yield "initrd_across_nodes", seed(bzimage(0x200, initrd_addr_max=0x4007FF), b"",
                                      bytes(range(256)) * 24)
    yield "initrd_below_addr_max", seed(bzimage(0x200, initrd_addr_max=0x3FFFFF),
                                        b"rdinit=/init", b"\x1f\x8b" * 0x900)
    # protocol 2.12 header (ends at 0x268), no RSDP field; setup_sects 0 means 4
    yield "proto_2_12_setup_sects_0", seed(bzimage(0x300, hdr_end=0x268, version=0x020C,
                                                   setup_sects=0))
    yield "non_relocatable", seed(bzimage(0x400, relocatable_kernel=0, pref_address=0x180000,
                                          init_size=0x80000), b"quiet")
    yield "signed_trailer", seed(bzimage(0x400, trailer=0x1F0), b"x" * 255)
    yield "long_jump", seed(bzimage(0x200, hdr_end=0x290, cmdline_size=4095), b"a=b " * 40,
                            b"initrd")


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_bzimage")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
