/*
 * guest/mem.h — the guest kernel's own memory manager, built on the shared mm/ library:
 *
 *   pmem.c    physical memory: the early bump allocator, the buddy allocator over all RAM with
 *             the SRAT nodes and SLIT distances, NUMA policies, per-node counters, OOM reports
 *   vmem.c    kernel virtual memory: the kernel page table (identity map of low memory, direct
 *             map of all RAM, vmalloc area), CR3 switch, vmalloc/vfree, TLB flushes; and process
 *             page tables that share the kernel's half (its last section; proc.c uses them)
 *   kmem.c    slab caches and kmalloc on the buddy allocator through the direct map
 *   mmtest.c  the scenarios buddy, numa, slab, vmalloc, integrity (guest/README.md)
 *
 * Lock order: vmem's page-table lock -> per-CPU section (mm_env_cpu_enter) -> one zone lock /
 * one slab node lock (mm/'s order). Every function here may run on any CPU; boot-time setup
 * (pmem_init, vmem_init, kmem_init) runs on the boot CPU before any other CPU allocates.
 */
#ifndef GUEST_MEM_H
#define GUEST_MEM_H

#include <mm/buddy.h>
#include <mm/numa.h>
#include <mm/slab.h>

#include "acpi.h"
#include "kernel.h"

/* cpu_id(): the calling CPU's id (< MM_MAX_CPUS), guest/kernel.h + smp.c. */

/* irq_save()/irq_restore(): guest/kernel.h. */

/* ---- pmem.c --------------------------------------------------------------------------- */

/* Node of CPU cpu (its SRAT affinity; 0 without an SRAT or an entry). */
unsigned pmem_cpu_node(unsigned cpu);

/* The allocator and what it was built from; read-only outside pmem.c after pmem_init. */
extern struct buddy pmem_buddy;
extern uint64_t pmem_boot_start, pmem_boot_end;   /* the bump allocator's region [start, end) */

/*
 * Build the buddy allocator over all RAM (memory map RAM ∩ SRAT ranges) minus [0, 1 MiB), the
 * kernel image and bss and the bump region, with per-CPU lists and Linux's watermarks.
 * false after a failed TAP check (the caller ends the scenario).
 */
bool pmem_init(const struct topo *t, const struct memmap *mm);

/* Early bump allocation from the region after the kernel's bss: zeroed, never freed. Only
 * before pmem_init has sized the region; NULL when it is exhausted. */
void *pmem_boot_alloc(size_t bytes, size_t align);

/* page_alloc flags, on top of BUDDY_ALLOC_*: PAGE_ALLOC_MAY_FAIL suppresses the OOM report
 * (the caller expects and handles failure, like __GFP_NOWARN). */
#define PAGE_ALLOC_MAY_FAIL  (1u << 16)

/*
 * 2^order frames by policy pol (NULL: default = the calling CPU's node, falling back by
 * distance). 0 and *pfn, or -MM_ENOMEM after an OOM report: a failed TAP check naming the
 * node, the order and the caller ("out of memory: node N order K for CALLER"). An injected
 * failure (fail_page_alloc, faultinj.h) is -MM_ENOMEM without notifier or report, whatever the
 * flags: every caller handles -MM_ENOMEM.
 */
int page_alloc_caller(struct numa_policy *pol, unsigned order, unsigned flags, pfn_t *pfn,
		      const char *caller);
#define page_alloc(pol, order, flags, pfn) page_alloc_caller(pol, order, flags, pfn, __func__)
void page_free(pfn_t pfn, unsigned order);

/*
 * The OOM notifier (like Linux's register_oom_notifier): called when an allocation without
 * PAGE_ALLOC_MAY_FAIL finds no memory, before the OOM report, with the pages it needs; it
 * returns the pages it freed, and the allocation is tried once more if any. One at a time (the
 * balloon's deflate-on-OOM); NULL removes it.
 */
void pmem_set_oom_notifier(uint64_t (*fn)(void *arg, uint64_t pages), void *arg);

/* Per-node counters of this allocator (numastat-style) plus the OOM reports it printed. */
extern uint64_t pmem_oom_reports;

/* ---- vmem.c --------------------------------------------------------------------------- */

#define DIRECT_MAP_BASE    UINT64_C(0xffff888000000000)   /* Linux's x86-64 direct map */
#define DIRECT_MAP_SIZE    (UINT64_C(64) << 40)            /* 64 TiB of physical address space */
#define VMALLOC_START      UINT64_C(0xffffc90000000000)   /* Linux's vmalloc area */
#define VMALLOC_SIZE       (UINT64_C(32) << 30)            /* 32 GiB used of it here */
#define LOW_IDENTITY_END   (UINT64_C(4) << 30)             /* identity map kept: [0, 4 GiB) */

static inline void *phys_to_direct(uint64_t pa)
{
	return (void *)(uintptr_t)(DIRECT_MAP_BASE + pa);
}

static inline uint64_t direct_to_phys(const void *p)
{
	return (uint64_t)(uintptr_t)p - DIRECT_MAP_BASE;
}

/* Build the kernel page table and load it into CR3. false after a failed TAP check. */
bool vmem_init(const struct memmap *mm);

/* After kmem_init: the slab cache of vmalloc area descriptors. false after a failed TAP check. */
bool vmem_cache_init(void);

/* bytes > 0 of virtually contiguous kernel memory (4 KiB pages of any frames), NULL + OOM
 * report when out of frames or address space. vfree(NULL) is a no-op. */
void *vmalloc(size_t bytes);
void vfree(void *p);

/* The physical address behind kernel virtual address va in the kernel page table (vmalloc
 * area, direct map or identity map), or VMEM_NO_PHYS when nothing is mapped there. */
#define VMEM_NO_PHYS UINT64_MAX
uint64_t vmem_virt_to_phys(const void *va);

/* Frames currently mapped by vmalloc areas, and page-table pages of the kernel table. */
uint64_t vmem_vmalloc_pages(void);
uint64_t vmem_table_pages(void);

/*
 * Invalidate [first, last] (virtual, inclusive) on every CPU after the kernel page table lost
 * or changed mappings. vmem.c flushes the calling CPU itself and then calls this hook for the
 * others: guest/smp.c, an IPI shootdown (nothing to do with one CPU online).
 */
void tlb_shootdown_others(uint64_t first, uint64_t last);

/* ---- vmem.c: user address spaces (proc.c) ------------------------------------------------ */

/* User space: above the kernel's identity map, up to Linux's x86-64 TASK_SIZE (4-level). */
#define USER_START         LOW_IDENTITY_END               /* 4 GiB: mmap_min_addr */
#define USER_TOP           UINT64_C(0x7ffffffff000)       /* exclusive */

struct pgtable;
struct pgtable_flush;

bool vmem_have_nx(void);
/* Pin the kernel's upper-half PML4 entries (vmalloc's) so process tables can share them; once,
 * before the first process. A TAP check; false if it failed. */
bool vmem_user_prepare(void);
/* A process page table: own PDPT under PML4[0] and own user entries, the kernel's identity map
 * and upper half shared (see the section in vmem.c). 0 or -MM_ENOMEM. */
int vmem_user_table_init(struct pgtable *pt);
/* Unshare and free a process table (its user half should be empty: frames are the caller's).
 * Not loaded in CR3 on any CPU. */
void vmem_user_table_destroy(struct pgtable *pt);
/* Load pt (NULL: the kernel's table) into this CPU's CR3. */
void vmem_user_load(const struct pgtable *pt);
/* Flush what fl says on this CPU if pt is the loaded table (a process runs on one CPU). */
void vmem_user_flush(const struct pgtable *pt, const struct pgtable_flush *fl);

/* ---- kmem.c --------------------------------------------------------------------------- */

extern struct slab_allocator kmem;

/* Slab on the buddy allocator through the direct map; every CPU's home node from the SRAT. */
bool kmem_init(void);

/* ---- balloon.c ------------------------------------------------------------------------ */

/* scenario=balloon: the virtio-balloon driver inflates to the device's target, reports free
 * pages, deflates (guest/README.md). The memory manager must be up. */
void balloon_scenario(const struct topo *t);

/* For other scenarios (faultinj_test.c, soak.c): the driver set up on the first virtio-balloon
 * device, or NULL (silently) when there is none; then inflate / deflate by up to n pages (the
 * pages added or removed: fewer when memory runs out or a batch fails), and the pages it holds.
 * The memory manager must be up; one CPU at a time. */
struct balloon;
struct balloon *balloon_open(const struct topo *t);
uint64_t balloon_grow(struct balloon *b, uint64_t n);
uint64_t balloon_shrink(struct balloon *b, uint64_t n);
uint64_t balloon_pages(const struct balloon *b);
/*
 * Following the device (soak.c), on the CPU that opened it:
 *   balloon_target          the device's num_pages, capped at what the balloon can hold
 *   balloon_follow          answer a statistics request, then inflate/deflate toward the
 *                           target by at most step pages: > 0 inflated, < 0 deflated (`actual`
 *                           follows every batch)
 *   balloon_use_deflate_on_oom  with b and DEFLATE_ON_OOM negotiated: pmem.c's OOM notifier
 *                           deflates (true); otherwise (b NULL too) no notifier (false)
 *   balloon_oom_deflated    pages given back on OOM notifications so far
 *   balloon_report_free     one free page report (REPORTING): the 2 MiB blocks the device
 *                           used, -1 when not negotiated or not used
 */
uint64_t balloon_target(struct balloon *b);
int64_t balloon_follow(struct balloon *b, uint64_t step);
bool balloon_use_deflate_on_oom(struct balloon *b);
uint64_t balloon_oom_deflated(const struct balloon *b);
long balloon_report_free(struct balloon *b);

/* ---- mmtest.c ------------------------------------------------------------------------- */

/*
 * mm/'s buddy checker, a drain of every per-CPU list, the checker again, under stop-machine (no
 * CPU inside the allocator): a TAP line "buddy_check WHEN", or a bail-out naming the error.
 */
void mmtest_check_buddy(const char *when);

/* The scenario named name[0..len) (index for mmtest_run), or -1. */
int mmtest_lookup(const char *name, size_t len);
/* Set up the memory manager and run scenario sc; brk: break=buddy. Returns to print the plan. */
void mmtest_run(int sc, bool brk, const struct topo *t, const struct memmap *mm);

#endif /* GUEST_MEM_H */
