/*
 * memvisor/pvh.h — the Xen PVH boot ABI as memvisor uses it (no Linux uapi header carries it;
 * the layout is Xen's public/arch-x86/hvm/start_info.h and public/elfnote.h, version 1).
 * Shared by the VMM's PVH loader and the guest's entry code. Freestanding: <stdint.h> only.
 *
 * Entry state (what the VMM guarantees at XEN_ELFNOTE_PHYS32_ENTRY):
 *   32-bit protected mode, paging off; CS a flat 32-bit code segment (base 0, limit 4 GiB),
 *   DS/ES/SS flat 32-bit data segments; CR0 = PE|ET; CR4 = 0; EFER = 0; EFLAGS = 0x2;
 *   EBX = guest-physical address of struct hvm_start_info; all other GPRs 0; A20 on.
 *   The start info, its memory map and the command line lie below 1 MiB (memvisor/layout.h).
 *   Secondary vCPUs are not started: they wait in the in-kernel LAPIC for INIT/SIPI.
 */
#ifndef MEMVISOR_PVH_H
#define MEMVISOR_PVH_H

#include <stdint.h>

/* ELF note naming the 32-bit PVH entry point: owner "Xen", type 18, a 32-bit (or 64-bit) address. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define XEN_ELFNOTE_OWNER        "Xen"

#define HVM_START_MAGIC_VALUE    UINT32_C(0x336ec578)
#define HVM_START_INFO_VERSION   1

/* hvm_start_info.flags */
#define SIF_PRIVILEGED           (UINT32_C(1) << 0)
#define SIF_INITDOMAIN           (UINT32_C(1) << 1)

struct hvm_start_info {
	uint32_t magic;          /* HVM_START_MAGIC_VALUE */
	uint32_t version;        /* 1: memmap_paddr/memmap_entries are valid */
	uint32_t flags;          /* SIF_* */
	uint32_t nr_modules;     /* entries at modlist_paddr */
	uint64_t modlist_paddr;  /* struct hvm_modlist_entry[nr_modules] */
	uint64_t cmdline_paddr;  /* NUL-terminated, 0 if none */
	uint64_t rsdp_paddr;     /* ACPI RSDP */
	uint64_t memmap_paddr;   /* struct hvm_memmap_table_entry[memmap_entries], sorted by addr */
	uint32_t memmap_entries;
	uint32_t reserved;       /* 0 */
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info is 56 bytes (Xen ABI)");

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry is 32 bytes (Xen ABI)");

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;           /* E820_TYPE_* */
	uint32_t reserved;       /* 0 */
};
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry is 24 bytes");

/* E820 / hvm memmap types (ACPI "address range types"). */
#define E820_TYPE_RAM        1
#define E820_TYPE_RESERVED   2
#define E820_TYPE_ACPI       3
#define E820_TYPE_NVS        4
#define E820_TYPE_UNUSABLE   5

/* How many memmap entries fit in the start-info page after the struct. */
#define MV_START_INFO_MAX_MEMMAP \
	((0x1000 - sizeof(struct hvm_start_info)) / sizeof(struct hvm_memmap_table_entry))

#endif /* MEMVISOR_PVH_H */
