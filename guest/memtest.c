/*
 * guest/memtest.c — the `memtest` scenario: write a pattern over every byte of RAM of every NUMA
 * node, then read it all back, so that a VMM paging guest memory to host swap between the two
 * passes is caught when a page comes back with wrong or stale contents or at the wrong address.
 *
 * What is tested, per node (the nodes of the "numa:" report, topo_node_mask()):
 *   the node's SRAT memory ranges (all RAM when there is no usable SRAT)
 *   ∩ memory-map RAM (E820 type 1)
 *   − the guest's own pages: skip[] below, printed as "# memtest: skip 0x..-0x.. (what)"
 *   − RAM above what the guest can identity-map (paging.c), reported as a failed check
 * in whole 8-byte words. The start info, memory map and command line pages are tested: main.c
 * copied what it needs out of them before. A node's "pages" is the number of distinct 4 KiB
 * pages holding at least one tested word.
 *
 * Passes: 1 writes every node, 2 verifies every node (so with a host frame budget smaller than
 * a node, the VMM must evict pages between the write and the read of each). Between the two:
 * with `corrupt`, one bit of one word per node is flipped (printed as "# memtest: corrupt node I
 * word 0x.."), which verify must report; with `pageout`, hostmem.c's requests. Each pass prints "# memtest: ..." progress every
 * MT_PROGRESS bytes of a node.
 *
 * Pattern: the word at address a holds memtest_word(a, seed), splitmix64's finalizer of
 * a ^ seed: a bijection, so no two words of RAM hold the same value and a page read back at
 * another address mismatches in every word. The seed comes from the TSC, so memory left over
 * from an earlier boot (a stale host swap slot) does not match either.
 *
 * One CPU, interrupts off, no locks. Everything here lives in the guest's .bss (skipped).
 */
#include "memtest.h"

#include <memvisor/hostmem.h>

#define PAGE_SHIFT       12
#define PAGE_SIZE        (UINT64_C(1) << PAGE_SHIFT)
#define MIB              (UINT64_C(1) << 20)
#define RANGE_2M         (UINT64_C(2) << 20)
#define WORD             UINT64_C(8)
#define MT_PROGRESS      (16 * MIB)          /* a progress line per this many bytes of a node */
#define MT_MAX_SEGS      256                 /* tested ranges of one node */

#define MIX_MUL1         UINT64_C(0xbf58476d1ce4e5b9)   /* splitmix64 (Steele et al., 2014) */
#define MIX_MUL2         UINT64_C(0x94d049bb133111eb)
#define SEED_SALT        UINT64_C(0x6d656d7465737421)   /* "memtest!": a zero TSC still mixes */

struct mt_range {
	uint64_t base, end;                  /* [base, end) */
};

/* The guest's own memory: the only RAM not tested. Sorted by base (the linker's order). */
struct mt_skip {
	uint64_t base, end;
	const char *what;
};

/* First mismatch of a verify pass and how many words differed. */
struct mt_result {
	uint64_t mismatches;
	uint64_t addr, expected, actual;     /* of the first mismatch */
};

extern char __image_start[], __bss_start[], __bss_end[];     /* guest.ld */

static struct mt_skip skip[2];
static struct mt_range segs[MT_MAX_SEGS];
static unsigned nr_segs;
static bool segs_overflow;

static uint64_t addr_of(const void *p)
{
	return (uint64_t)(uintptr_t)p;       /* identity map: virtual = physical */
}

/* The excluded ranges, in one place. Both are page-aligned (guest.ld). */
static void skip_init(void)
{
	skip[0] = (struct mt_skip){ addr_of(__image_start), addr_of(__bss_start),
				    "kernel image: text, rodata, data" };
	skip[1] = (struct mt_skip){ addr_of(__bss_start), addr_of(__bss_end),
				    "kernel bss: boot page tables and stack, page directories, "
				    "static data" };
}

static inline uint64_t memtest_word(uint64_t addr, uint64_t seed)
{
	uint64_t x = addr ^ seed;

	x = (x ^ (x >> 30)) * MIX_MUL1;
	x = (x ^ (x >> 27)) * MIX_MUL2;
	return x ^ (x >> 31);
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* [base, end) clipped to [0, limit), minus skip[], appended to segs[]. */
static void seg_add(uint64_t base, uint64_t end, uint64_t limit)
{
	uint64_t at = base;

	if (end > limit)
		end = limit;
	for (unsigned i = 0; i <= ARRAY_SIZE(skip) && at < end; i++) {
		/* i == ARRAY_SIZE(skip): the piece after the last skipped range. */
		uint64_t cut = i < ARRAY_SIZE(skip) ? skip[i].base : end;

		if (cut > end)
			cut = end;
		if (cut > at) {
			if (nr_segs == MT_MAX_SEGS)
				segs_overflow = true;
			else
				segs[nr_segs++] = (struct mt_range){ at, cut };
		}
		if (i < ARRAY_SIZE(skip) && skip[i].end > at)
			at = skip[i].end;
	}
}

/* Sort segs[] by base, merge overlapping or touching ranges, shrink each to whole words. */
static void segs_normalize(void)
{
	unsigned n = 0;

	for (unsigned i = 1; i < nr_segs; i++)
		for (unsigned j = i; j > 0 && segs[j - 1].base > segs[j].base; j--) {
			struct mt_range x = segs[j];

			segs[j] = segs[j - 1];
			segs[j - 1] = x;
		}
	for (unsigned i = 0; i < nr_segs; i++) {
		if (n && segs[i].base <= segs[n - 1].end) {
			if (segs[i].end > segs[n - 1].end)
				segs[n - 1].end = segs[i].end;
		} else {
			segs[n++] = segs[i];
		}
	}
	nr_segs = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t base = (segs[i].base + WORD - 1) & ~(WORD - 1);
		uint64_t end = segs[i].end & ~(WORD - 1);

		if (segs[i].base <= UINT64_MAX - (WORD - 1) && base < end)
			segs[nr_segs++] = (struct mt_range){ base, end };
	}
}

/* End of a memory-map entry, saturated instead of wrapping past 2^64. */
static uint64_t entry_end(const struct hvm_memmap_table_entry *e)
{
	return e->size > UINT64_MAX - e->addr ? UINT64_MAX : e->addr + e->size;
}

/* Fill segs[] with what is tested on `node`, RAM below `limit` only. */
static void node_segments(const struct topo *t, const struct memmap *mm, unsigned node,
			  uint64_t limit)
{
	nr_segs = 0;
	segs_overflow = false;
	for (unsigned i = 0; i < mm->n; i++) {
		const struct hvm_memmap_table_entry *e = &mm->e[i];
		uint64_t end = entry_end(e);

		if (e->type != E820_TYPE_RAM)
			continue;
		if (!t->have_srat) {
			seg_add(e->addr, end, limit);
			continue;
		}
		for (unsigned j = 0; j < t->nr_ranges; j++) {
			const struct topo_range *r = &t->ranges[j];
			uint64_t b = r->base > e->addr ? r->base : e->addr;
			uint64_t rend = r->base + r->size;     /* acpi.c rejects wrapping ranges */

			if (r->node == node && b < (rend < end ? rend : end))
				seg_add(b, rend < end ? rend : end, limit);
		}
	}
	segs_normalize();
}

/* Distinct 4 KiB pages holding part of segs[] (sorted and disjoint). */
static uint64_t segs_pages(void)
{
	uint64_t pages = 0, last = UINT64_MAX;

	for (unsigned i = 0; i < nr_segs; i++) {
		uint64_t first = segs[i].base >> PAGE_SHIFT, lastp = (segs[i].end - 1) >> PAGE_SHIFT;

		if (first == last)
			first++;            /* shares its first page with the previous range */
		if (first <= lastp)
			pages += lastp - first + 1;
		last = lastp;
	}
	return pages;
}

static uint64_t segs_bytes(void)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; i < nr_segs; i++)
		bytes += segs[i].end - segs[i].base;
	return bytes;
}

/* The tight loops: one 8-byte store or load per word, no calls except on a mismatch. */
static void mt_fill(uint64_t base, uint64_t end, uint64_t seed)
{
	uint64_t *p = (uint64_t *)(uintptr_t)base, *e = (uint64_t *)(uintptr_t)end;

	for (; p < e; p++)
		*p = memtest_word((uintptr_t)p, seed);
}

__attribute__((noinline, cold)) static void mt_mismatch(struct mt_result *r, uint64_t addr,
							uint64_t expected, uint64_t actual)
{
	if (r->mismatches++ == 0) {
		r->addr = addr;
		r->expected = expected;
		r->actual = actual;
	}
}

static void mt_verify(uint64_t base, uint64_t end, uint64_t seed, struct mt_result *r)
{
	const uint64_t *p = (const uint64_t *)(uintptr_t)base, *e = (const uint64_t *)(uintptr_t)end;

	for (; p < e; p++) {
		uint64_t want = memtest_word((uintptr_t)p, seed), got = *p;

		if (got != want)
			mt_mismatch(r, (uintptr_t)p, want, got);
	}
}

/* One pass over segs[] of `node`: fill (r NULL) or verify, with a progress line per MT_PROGRESS. */
static void mt_pass(unsigned node, uint64_t seed, struct mt_result *r)
{
	uint64_t total = segs_bytes(), done = 0, next = MT_PROGRESS;

	for (unsigned i = 0; i < nr_segs; i++) {
		for (uint64_t at = segs[i].base; at < segs[i].end;) {
			uint64_t end = segs[i].end;

			if (end - at > next - done)
				end = at + (next - done);
			if (r)
				mt_verify(at, end, seed, r);
			else
				mt_fill(at, end, seed);
			done += end - at;
			at = end;
			if (done == next) {
				kprintf("# memtest: node %u %s %lu of %lu MiB\n", node,
					r ? "verified" : "wrote", done / MIB, total / MIB);
				next += MT_PROGRESS;
			}
		}
	}
}

/* "# memtest: node I ranges=0x..-0x..,... pages=P" (inclusive ends, like the numa: lines). */
static void print_segs(unsigned node, uint64_t pages)
{
	kprintf("# memtest: node %u ranges=", node);
	for (unsigned i = 0; i < nr_segs; i++)
		kprintf("%s0x%lx-0x%lx", i ? "," : "", segs[i].base, segs[i].end - 1);
	kprintf("%s pages=%lu\n", nr_segs ? "" : "-", pages);
}

/* Highest end of memory-map RAM (0 if none). */
static uint64_t ram_end(const struct memmap *mm)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < mm->n; i++)
		if (mm->e[i].type == E820_TYPE_RAM && entry_end(&mm->e[i]) > end)
			end = entry_end(&mm->e[i]);
	return end;
}

/* Pages of the node's SRAT ranges (of all RAM without an SRAT): what it may page out at most. */
static uint64_t node_size_pages(const struct topo *t, const struct memmap *mm, unsigned node)
{
	uint64_t pages = 0;

	if (!t->have_srat) {
		for (unsigned i = 0; i < mm->n; i++)
			if (mm->e[i].type == E820_TYPE_RAM)
				pages += (mm->e[i].size + PAGE_SIZE - 1) >> PAGE_SHIFT;
		return pages;
	}
	for (unsigned i = 0; i < t->nr_ranges; i++)
		if (t->ranges[i].node == node)
			pages += (t->ranges[i].size + PAGE_SIZE - 1) >> PAGE_SHIFT;
	return pages;
}

/* The first 2 MiB-aligned 2 MiB block wholly inside segs[], or 0 if there is none. */
static uint64_t segs_find_2m(void)
{
	for (unsigned i = 0; i < nr_segs; i++) {
		uint64_t b = (segs[i].base + RANGE_2M - 1) & ~(RANGE_2M - 1);

		if (b >= segs[i].base && b < segs[i].end && segs[i].end - b >= RANGE_2M)
			return b;
	}
	return 0;
}

/* The `pageout` requests between the passes: malformed ones first, then the real ones. */
static void mt_pageout(const struct topo *t, const struct memmap *mm, uint64_t nodes,
		       uint64_t limit)
{
	unsigned first = (unsigned)__builtin_ctzll(nodes);
	unsigned bad_node = 64 - (unsigned)__builtin_clzll(nodes);     /* highest node + 1 */
	uint64_t block;

	node_segments(t, mm, first, limit);
	block = segs_find_2m();
	tap_check(block != 0, "page-out: node %u has a 2 MiB-aligned 2 MiB block of tested RAM",
		  first);
	hostmem_bad_requests(block, bad_node);
	if (block) {
		hostmem_range(MV_HOSTMEM_OP_PAGE_OUT, block, RANGE_2M);
		hostmem_range(MV_HOSTMEM_OP_PAGE_IN, block, RANGE_2M);
	}
	for (unsigned node = 0; node < TOPO_MAX_NODES; node++)
		if (nodes >> node & 1)
			hostmem_node(node, node_size_pages(t, mm, node));
}

/* The word `corrupt` flips on the node of segs[]: the middle of its last range. */
static void mt_corrupt(unsigned node)
{
	uint64_t a;

	if (!nr_segs)
		return;
	a = segs[nr_segs - 1].base + (segs[nr_segs - 1].end - segs[nr_segs - 1].base) / 2;
	a &= ~(WORD - 1);
	kprintf("# memtest: corrupt node %u word 0x%lx (bit 0 flipped)\n", node, a);
	*(volatile uint64_t *)(uintptr_t)a ^= 1;
}

void memtest_run(const struct topo *t, const struct memmap *mm, unsigned flags)
{
	uint64_t nodes = topo_node_mask(t), end = ram_end(mm), limit;
	uint64_t seed = memtest_word(rdtsc(), SEED_SALT);

	kprintf("# memtest: seed 0x%lx\n", seed);
	skip_init();
	for (unsigned i = 0; i < ARRAY_SIZE(skip); i++)
		kprintf("# memtest: skip 0x%lx-0x%lx (%s)\n", skip[i].base, skip[i].end - 1,
			skip[i].what);
	limit = paging_map_up_to(end);
	if (limit >= end)
		tap_check(true, "memtest: identity map covers RAM up to 0x%lx", end);
	else
		tap_check(false, "memtest: RAM 0x%lx-0x%lx is above the 0x%lx the guest can map, "
			  "not tested", limit, end - 1, limit);
	if (!tap_check(nodes != 0, "memtest: there is a node to test"))
		return;

	for (unsigned node = 0; node < TOPO_MAX_NODES; node++) {
		if (!(nodes >> node & 1))
			continue;
		node_segments(t, mm, node, limit);
		print_segs(node, segs_pages());
		if (segs_overflow)
			tap_check(false, "memtest node %u: more than %u ranges to test, the rest is "
				  "not tested", node, MT_MAX_SEGS);
		mt_pass(node, seed, NULL);
		if (flags & MEMTEST_CORRUPT)
			mt_corrupt(node);
	}

	if (flags & MEMTEST_PAGEOUT)
		mt_pageout(t, mm, nodes, limit);

	for (unsigned node = 0; node < TOPO_MAX_NODES; node++) {
		struct mt_result r = { 0, 0, 0, 0 };
		uint64_t pages;

		if (!(nodes >> node & 1))
			continue;
		node_segments(t, mm, node, limit);
		pages = segs_pages();
		mt_pass(node, seed, &r);
		tap_begin(r.mismatches == 0);
		kprintf("memtest node %u: %lu pages written and verified, %lu mismatches", node,
			pages, r.mismatches);
		if (r.mismatches)
			kprintf(", first at 0x%lx: expected 0x%016lx, actual 0x%016lx", r.addr,
				r.expected, r.actual);
		kprintf("\nmemtest: node %u pages=%lu\n", node, pages);
	}
}
