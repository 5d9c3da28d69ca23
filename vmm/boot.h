/*
 * boot.h — the boot protocols `memvisor run` speaks and how the boot vCPU enters a loaded image.
 * No state, no locks: the loaders (loader_pvh.c, loader_linux.c, loader_multiboot.c) fill a
 * struct boot_entry on the loader thread; vm_run() puts the boot vCPU in that state.
 *
 * Which protocol an image speaks is decided by its bytes, in QEMU's -kernel order (boot_detect):
 *   1. "HdrS" at offset 0x202: a Linux bzImage (x86 boot protocol, 64-bit entry)  → BOOT_LINUX
 *   2. a multiboot v1 header (magic 0x1BADB002, 4-byte aligned, in the first 8 KiB)
 *                                                                                 → BOOT_MULTIBOOT
 *   3. anything else is tried as a PVH ELF (its loader names what is wrong)       → BOOT_PVH
 *
 * Entry states (every other GPR is 0, EFLAGS = 0x2, secondary vCPUs wait in the in-kernel LAPIC
 * for INIT/SIPI):
 *   BOOT_PVH        32-bit flat protected mode, paging off; EBX = hvm_start_info (memvisor/pvh.h)
 *   BOOT_MULTIBOOT  32-bit flat protected mode, paging off; EAX = 0x2BADB002, EBX = the multiboot
 *                   information structure (memvisor/multiboot.h)
 *   BOOT_LINUX      64-bit long mode (Documentation/arch/x86/boot.rst, "64-bit boot protocol"):
 *                   paging on with cr3 = identity page tables covering the loaded kernel, the
 *                   zero page and the command line; a GDT at `gdt` with __BOOT_CS (0x10, 64-bit
 *                   code) and __BOOT_DS (0x18, data) loaded; RSI = the zero page (boot_params);
 *                   interrupts off.
 */
#ifndef MV_BOOT_H
#define MV_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <mm/types.h>

enum boot_protocol {
	BOOT_PVH,
	BOOT_LINUX,
	BOOT_MULTIBOOT,
};

struct boot_entry {
	enum boot_protocol protocol;
	uint64_t rip;            /* entry point (guest-physical) */
	uint64_t rax, rbx, rsi;  /* registers at entry, as the protocol says */
	uint64_t cr3;            /* BOOT_LINUX: the PML4 of the identity map; 0 otherwise */
	gpa_t gdt;               /* BOOT_LINUX: the GDT (4 entries: null, null, code 0x10, data 0x18) */
	uint16_t gdt_limit;      /* its size - 1 */
};

/* The protocol of image[0..size) (order above). Never fails: BOOT_PVH is the fallback. */
enum boot_protocol boot_detect(const uint8_t *image, size_t size);

/* "PVH", "Linux" or "multiboot". */
const char *boot_protocol_name(enum boot_protocol p);

#endif /* MV_BOOT_H */
