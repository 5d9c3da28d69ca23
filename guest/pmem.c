/*
 * guest/pmem.c — the guest's physical memory: which frames are RAM, on which node, and the
 * allocator that hands them out (mm/buddy.h + mm/numa.h).
 *
 * Managed RAM = memory-map RAM (E820 type 1, shrunk to whole pages)
 *               ∩ the node's SRAT memory ranges (all of it on node 0 without a usable SRAT)
 *               − [0, 1 MiB)            legacy area, ACPI tables, the future AP trampoline
 *               − [__image_start, pmem_boot_end)   kernel image, .bss, then the bump region
 * The bump region directly follows .bss (so carving it out adds no range): it holds the buddy's
 * metadata and slab's owner words (kmem.c), is zeroed, and is never freed. Its pages stay
 * reachable through the identity map of low memory that vmem.c keeps.
 *
 * Policies: page_alloc() takes a struct numa_policy (mm/numa.h: default / bind / preferred /
 * interleave); the local node is the calling CPU's SRAT node. Counters: numa_stat_read() per node.
 *
 * Locking: none here beyond mm/'s (per-CPU section, then one zone lock). pmem_init runs once on
 * the boot CPU before anything allocates.
 */
#include <mm/numa.h>

#include "faultinj.h"
#include "mem.h"

#define LOW_RESERVED_END  UINT64_C(0x100000)      /* [0, 1 MiB) is never managed */
#define BOOT_SLACK        (UINT64_C(64) << 10)    /* bump region beyond the computed needs */

extern char __image_start[], __bss_end[];       /* guest.ld */

struct buddy pmem_buddy;
uint64_t pmem_boot_start, pmem_boot_end;
uint64_t pmem_oom_reports;

static uint64_t boot_next;                       /* next free byte of the bump region */
static struct buddy_range ranges[BUDDY_MAX_RANGES];
static unsigned nr_ranges;
static uint8_t cpu_node[MM_MAX_CPUS];

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

void *pmem_boot_alloc(size_t bytes, size_t align)
{
	uint64_t at = align_up(boot_next, align ? align : 8);

	if (at > pmem_boot_end || bytes > pmem_boot_end - at)
		return NULL;
	boot_next = at + bytes;
	memset((void *)(uintptr_t)at, 0, bytes);
	return (void *)(uintptr_t)at;
}

unsigned pmem_cpu_node(unsigned cpu)
{
	return cpu < MM_MAX_CPUS ? cpu_node[cpu] : 0;
}

/* Append [base, end) of node to ranges[], minus [0, 1 MiB) and [skip_base, skip_end). */
static bool add_range(uint64_t base, uint64_t end, unsigned node, uint64_t skip_base,
		      uint64_t skip_end)
{
	uint64_t piece[2][2] = { { base, end < skip_base ? end : skip_base },
				 { base > skip_end ? base : skip_end, end } };

	for (unsigned i = 0; i < 2; i++) {
		uint64_t a = piece[i][0] < LOW_RESERVED_END ? LOW_RESERVED_END : piece[i][0];
		uint64_t b = piece[i][1];

		if (a >= b)
			continue;
		if (nr_ranges == BUDDY_MAX_RANGES)
			return false;
		ranges[nr_ranges++] = (struct buddy_range){ a >> MM_PAGE_SHIFT,
							    (b - a) >> MM_PAGE_SHIFT, node };
	}
	return true;
}

/* ranges[] from the memory map and the SRAT, leaving out [skip_base, skip_end). */
static bool build_ranges(const struct topo *t, const struct memmap *mm, uint64_t skip_base,
			 uint64_t skip_end)
{
	nr_ranges = 0;
	for (unsigned i = 0; i < mm->n; i++) {
		uint64_t base, end;

		if (mm->e[i].type != E820_TYPE_RAM)
			continue;
		base = align_up(mm->e[i].addr, MM_PAGE_SIZE);
		end = (mm->e[i].addr + mm->e[i].size) & MM_PAGE_MASK;
		if (!t->have_srat) {
			if (base < end && !add_range(base, end, 0, skip_base, skip_end))
				return false;
			continue;
		}
		for (unsigned j = 0; j < t->nr_ranges; j++) {
			const struct topo_range *r = &t->ranges[j];
			uint64_t a = base > r->base ? base : r->base;
			uint64_t b = end < r->base + r->size ? end : r->base + r->size;

			a = align_up(a, MM_PAGE_SIZE);
			b &= MM_PAGE_MASK;
			if (a < b && !add_range(a, b, r->node, skip_base, skip_end))
				return false;
		}
	}
	return nr_ranges > 0;
}

/* The SLIT as mm/ wants it, or 10/20 over the nodes that exist. */
static bool build_distance(const struct topo *t, struct numa_distance *d)
{
	unsigned nr = 64 - (unsigned)__builtin_clzll(topo_node_mask(t));   /* highest node + 1 */

	if (nr > MM_MAX_NODES)
		return false;
	if (!t->have_slit || t->slit_n < nr)
		return numa_distance_init_default(d, nr) == 0;
	d->nr_nodes = nr;
	for (unsigned i = 0; i < nr; i++)
		for (unsigned j = 0; j < nr; j++)
			d->d[i][j] = t->slit[i][j];
	return numa_distance_validate(d, false) == 0;
}

bool pmem_init(const struct topo *t, const struct memmap *mm)
{
	static struct numa_distance dist;
	struct buddy_config cfg = { 0 };
	uint64_t image = (uint64_t)(uintptr_t)__image_start;
	size_t meta_size, need;
	void *meta;
	int ret;

	for (unsigned i = 0; t->have_srat && i < t->nr_cpu_nodes; i++)
		if (t->cpu_nodes[i].apic_id < MM_MAX_CPUS && t->cpu_nodes[i].node < MM_MAX_NODES)
			cpu_node[t->cpu_nodes[i].apic_id] = (uint8_t)t->cpu_nodes[i].node;
	for (unsigned i = 0; t->have_srat && i < t->nr_ranges; i++)
		if (!tap_check(t->ranges[i].node < MM_MAX_NODES, "pmem: SRAT node %u < %u",
			       t->ranges[i].node, MM_MAX_NODES))
			return false;
	if (!tap_check(build_distance(t, &dist), "pmem: node distances are a valid SLIT"))
		return false;

	/* Size the bump region from the ranges without it (carving it out adds no range). */
	pmem_boot_start = align_up((uint64_t)(uintptr_t)__bss_end, MM_PAGE_SIZE);
	if (!tap_check(build_ranges(t, mm, image, pmem_boot_start),
		       "pmem: RAM fits in %u ranges", BUDDY_MAX_RANGES))
		return false;
	need = 0;                                       /* slab owner words: one per frame */
	for (unsigned i = 0; i < nr_ranges; i++)
		if ((ranges[i].start + ranges[i].nr_pages) * sizeof(void *) > need)
			need = (ranges[i].start + ranges[i].nr_pages) * sizeof(void *);
	meta_size = buddy_meta_size(ranges, nr_ranges);
	need += meta_size + 2 * 64;                     /* + alignment of both */
	pmem_boot_end = align_up(pmem_boot_start + need + BOOT_SLACK, MM_PAGE_SIZE);
	boot_next = pmem_boot_start;
	if (!tap_check(build_ranges(t, mm, image, pmem_boot_end) && pmem_boot_end < LOW_IDENTITY_END,
		       "pmem: bump region 0x%lx-0x%lx after the kernel lies in low RAM",
		       pmem_boot_start, pmem_boot_end - 1))
		return false;
	for (unsigned i = 0; i < nr_ranges; i++)
		kprintf("# pmem: range %u node %u 0x%lx-0x%lx\n", i, ranges[i].node,
			ranges[i].start << MM_PAGE_SHIFT,
			((ranges[i].start + ranges[i].nr_pages) << MM_PAGE_SHIFT) - 1);

	meta_size = buddy_meta_size(ranges, nr_ranges);
	meta = pmem_boot_alloc(meta_size, 64);
	if (!tap_check(meta != NULL, "pmem: %lu bytes of buddy metadata in the bump region",
		       (uint64_t)meta_size))
		return false;
	cfg.ranges = ranges;
	cfg.nr_ranges = nr_ranges;
	cfg.distance = &dist;
	ret = buddy_init(&pmem_buddy, &cfg, meta, meta_size);
	return tap_check(ret == 0, "pmem: buddy_init over %u ranges: %d", nr_ranges, ret);
}

static uint64_t (*oom_notifier)(void *arg, uint64_t pages);
static void *oom_notifier_arg;

void pmem_set_oom_notifier(uint64_t (*fn)(void *arg, uint64_t pages), void *arg)
{
	oom_notifier_arg = arg;
	__atomic_store_n(&oom_notifier, fn, __ATOMIC_RELEASE);
}

int page_alloc_caller(struct numa_policy *pol, unsigned order, unsigned flags, pfn_t *pfn,
		      const char *caller)
{
	unsigned node = pmem_cpu_node(cpu_id());
	uint64_t (*notify)(void *, uint64_t) = __atomic_load_n(&oom_notifier, __ATOMIC_ACQUIRE);
	int ret;

	/* fail_page_alloc: an ordinary allocation failure, decided before the buddy is asked. As
	 * in Linux (should_fail_alloc_page in prepare_alloc_pages), no OOM notifier and no OOM
	 * report: the verbose line names the caller instead. */
	if (faultinj_should_fail(FAULTINJ_PAGE_ALLOC, MM_PAGE_SIZE << order, caller))
		return -MM_ENOMEM;
	ret = numa_alloc_pages(&pmem_buddy, pol, order, flags & BUDDY_ALLOC_VALID, node, pfn);
	/* Before an allocation that may not fail does: whoever holds memory back gives some. */
	if (ret == -MM_ENOMEM && !(flags & PAGE_ALLOC_MAY_FAIL) && notify &&
	    notify(oom_notifier_arg, UINT64_C(1) << order) > 0)
		ret = numa_alloc_pages(&pmem_buddy, pol, order, flags & BUDDY_ALLOC_VALID, node,
				       pfn);
	if (ret == -MM_ENOMEM && !(flags & PAGE_ALLOC_MAY_FAIL)) {
		__atomic_fetch_add(&pmem_oom_reports, 1, __ATOMIC_RELAXED);
		tap_check(false, "out of memory: node %u order %u for %s", node, order, caller);
	}
	return ret;
}

void page_free(pfn_t pfn, unsigned order)
{
	MM_BUG_ON(buddy_free(&pmem_buddy, pfn, order) != 0);
}
