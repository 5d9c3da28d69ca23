/*
 * guest/paging.c — extend boot.S's identity map of [0, 4 GiB) to RAM above 4 GiB, for the
 * memtest scenario (memtest.c), which must reach every byte of RAM the memory map lists.
 *
 * How: boot.S's PDPT (boot_pdpt, one entry per GiB of [0, 512 GiB)) gets entries 4 and up.
 *   - CPUID 0x80000001 EDX.Page1GB set: each entry is a 1 GiB page; up to 512 GiB (one PDPT).
 *   - otherwise: each entry points at a page directory of 2 MiB pages taken from high_pd[] in
 *     .bss; up to PAGING_MAX_2M_END (64 GiB; 240 KiB of directories, zeroed by boot.S).
 * Only PDPT entries that were not present change, so nothing the guest already uses moves; CR3
 * is reloaded anyway so no paging-structure cache holds the old (not-present) view.
 * Like boot.S's map, the new one is writable, executable and write-back cacheable; it is never
 * undone. Single CPU, interrupts off: no locking.
 */
#include "kernel.h"

#define PTE_P               (UINT64_C(1) << 0)
#define PTE_W               (UINT64_C(1) << 1)
#define PTE_PS              (UINT64_C(1) << 7)    /* in a PDPT entry: 1 GiB page; PD: 2 MiB */
#define PTRS_PER_TABLE      512
#define GIB_SHIFT           30
#define HUGE_SHIFT          21                     /* 2 MiB */
#define BOOT_MAPPED_GIB     4                      /* boot.S's NR_PDS */

#define CPUID_EXT_LEAF      UINT32_C(0x80000001)
#define CPUID_EXT_PAGE1GB   (UINT32_C(1) << 26)    /* EDX: 1 GiB pages */

#define PAGING_MAX_1G_END   ((uint64_t)PTRS_PER_TABLE << GIB_SHIFT)         /* 512 GiB */
#define PAGING_MAX_2M_END   (UINT64_C(64) << GIB_SHIFT)
#define NR_HIGH_PDS         ((PAGING_MAX_2M_END >> GIB_SHIFT) - BOOT_MAPPED_GIB)

_Static_assert(GUEST_MAPPED_END == (uint64_t)BOOT_MAPPED_GIB << GIB_SHIFT,
	       "boot.S maps BOOT_MAPPED_GIB GiB");

extern uint64_t boot_pdpt[PTRS_PER_TABLE];        /* boot.S */

static uint64_t high_pd[NR_HIGH_PDS][PTRS_PER_TABLE] __attribute__((aligned(4096)));
static uint64_t mapped_end = GUEST_MAPPED_END;

static bool cpu_has_page1gb(void)
{
	uint32_t eax = UINT32_C(0x80000000), ebx, ecx = 0, edx;

	__asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
	if (eax < CPUID_EXT_LEAF)
		return false;
	eax = CPUID_EXT_LEAF;
	ecx = 0;
	__asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
	return edx & CPUID_EXT_PAGE1GB;
}

static void reload_cr3(void)
{
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

uint64_t paging_map_up_to(uint64_t end)
{
	bool gb = cpu_has_page1gb();
	uint64_t limit = gb ? PAGING_MAX_1G_END : PAGING_MAX_2M_END;
	unsigned from = (unsigned)(mapped_end >> GIB_SHIFT), to;

	if (end > limit)
		end = limit;
	if (end <= mapped_end)
		return mapped_end;
	to = (unsigned)((end + (UINT64_C(1) << GIB_SHIFT) - 1) >> GIB_SHIFT);   /* GiBs mapped */
	for (unsigned g = from; g < to; g++) {
		uint64_t base = (uint64_t)g << GIB_SHIFT;

		if (gb) {
			boot_pdpt[g] = base | PTE_P | PTE_W | PTE_PS;
			continue;
		}
		for (unsigned i = 0; i < PTRS_PER_TABLE; i++)
			high_pd[g - BOOT_MAPPED_GIB][i] =
				(base + ((uint64_t)i << HUGE_SHIFT)) | PTE_P | PTE_W | PTE_PS;
		/* Identity map: the directory's address is its physical address. */
		boot_pdpt[g] = (uint64_t)(uintptr_t)high_pd[g - BOOT_MAPPED_GIB] | PTE_P | PTE_W;
	}
	reload_cr3();
	mapped_end = (uint64_t)to << GIB_SHIFT;
	kprintf("# paging: identity map extended to 0x%lx with %s pages\n", mapped_end,
		gb ? "1 GiB" : "2 MiB");
	return mapped_end;
}
