/*
 * bench_pgtable.c — cost of the generic page-table walker (mm/pgtable.c), per format.
 *
 * For each format: map, translate and unmap at 4 KiB (one call per page, and 512 pages per call)
 * and at 2 MiB, in ns per page. There is no peer library to compare with, so the same-run
 * reference is the ideal walk: the same number of dependent loads over the same table pages,
 * inline, with the format's address mask hard-coded and no checks (4 loads for a 4 KiB leaf,
 * 3 for a 2 MiB one). translate / ideal says what the generic walker's function-pointer format
 * ops, argument checks and phys->virt callback cost on top of the memory accesses themselves.
 *
 * Translations run in a random order over 1 GiB of 4 KiB pages (2 MiB of PTEs) and 8 GiB of
 * 2 MiB pages, the same address sequence for translate and the ideal walk. Each walk's address
 * depends on the previous walk's result (through a mask that is zero at run time), so both
 * measure the latency of one walk, not how many independent walks the core can overlap.
 */
#include <mm/pgtable.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mvtest.h"

#define PHYS_BASE UINT64_C(0x100000000)
#define POOL_PAGES 8192
#define N4K (1u << 18)          /* 1 GiB of 4 KiB pages */
#define N2M (1u << 12)          /* 8 GiB of 2 MiB pages */
#define REPS 7

/* A trivial table-page pool: a stack of free pages, no scanning. */
struct pool {
	uint8_t *mem;
	phys_addr_t free[POOL_PAGES];
	unsigned nfree;
};

static int pool_alloc(void *arg, phys_addr_t *table)
{
	struct pool *p = arg;

	if (p->nfree == 0)
		return -12;
	*table = p->free[--p->nfree];
	memset(p->mem + (*table - PHYS_BASE), 0, 4096);
	return 0;
}

static void pool_free(void *arg, phys_addr_t table)
{
	struct pool *p = arg;

	p->free[p->nfree++] = table;
}

static void *pool_virt(void *arg, phys_addr_t pa)
{
	return ((struct pool *)arg)->mem + (pa - PHYS_BASE);
}

static struct pool pool;
static volatile uint64_t zero;  /* 0, but the compiler cannot know: chains walks together */

/* The ideal walk: levels dependent loads, mask and index hard-coded, no callbacks or checks. */
static inline uint64_t ideal_walk(const uint8_t *mem, phys_addr_t root, uint64_t ia,
				  unsigned levels, uint64_t mask)
{
	phys_addr_t t = root;
	uint64_t e = 0;

	for (unsigned k = 0; k < levels; k++) {
		unsigned l = 3 - k;

		e = ((const uint64_t *)(const void *)(mem + (t - PHYS_BASE)))[(ia >> (12 + 9 * l)) & 511];
		t = e & mask;
	}
	return e;
}

static double median(double *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j] < v[j - 1]; j--) {
			double x = v[j];

			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	return v[n / 2];
}

enum phase { P_MAP, P_MAPBATCH, P_TRANSLATE, P_IDEAL, P_UNMAP, P_NR };

static void must(int ret, const char *what)
{
	if (ret) {
		fprintf(stderr, "bench_pgtable: %s failed: %d\n", what, ret);
		exit(1);
	}
}

/* One size: ns per page for each phase, medians over REPS runs (after one warm-up). */
static void run_size(const struct pgtable_format *f, uint64_t size, unsigned n, uint64_t mask,
		     double out[P_NR])
{
	struct pgtable_mem ops = { pool_alloc, pool_free, pool_virt, &pool };
	struct pgtable_attr a = { PT_R | PT_W, PT_MT_WB };
	unsigned levels = size == PT_SIZE_4K ? 4 : 3;
	uint64_t *order = malloc(n * sizeof(*order));
	double v[P_NR][REPS + 1];
	struct mvt_rng rng;
	struct pgtable pt;
	uint64_t sink = 0, dep = zero, prev = 0;

	mvt_rng_seed(&rng, 42);
	for (unsigned i = 0; i < n; i++)
		order[i] = (uint64_t)i * size;
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)mvt_rng_below(&rng, i + 1);
		uint64_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	must(pgtable_init(&pt, f, &ops), "init");
	for (unsigned r = 0; r <= REPS; r++) {
		uint64_t t0, t1, t2, t3, t4, t5;
		struct pgtable_info info;

		t0 = bench_now_ns();
		for (unsigned i = 0; i < n; i++)
			must(pgtable_map(&pt, (uint64_t)i * size, (uint64_t)i * size, size, size, &a, 0,
					 NULL), "map");
		t1 = bench_now_ns();
		for (unsigned i = 0; i < n; i++) {
			pgtable_translate(&pt, order[i] | (prev & dep), &info);
			prev = info.pa;
		}
		sink += prev;
		t2 = bench_now_ns();
		for (unsigned i = 0; i < n; i++)
			prev = ideal_walk(pool.mem, pt.root, order[i] | (prev & dep), levels, mask);
		sink += prev;
		t3 = bench_now_ns();
		for (unsigned i = 0; i < n; i++)
			must(pgtable_unmap(&pt, (uint64_t)i * size, size, NULL), "unmap");
		t4 = bench_now_ns();
		/* The same pages, 512 per call (4 KiB only: one 2 MiB range per call). */
		if (size == PT_SIZE_4K)
			for (unsigned i = 0; i < n; i += 512)
				must(pgtable_map(&pt, (uint64_t)i * size, 0, 512 * size, size, &a, 0,
						 NULL), "map batch");
		t5 = bench_now_ns();
		must(pgtable_unmap(&pt, 0, (uint64_t)n * size, NULL), "unmap all");
		v[P_MAP][r] = (double)(t1 - t0) / n;
		v[P_TRANSLATE][r] = (double)(t2 - t1) / n;
		v[P_IDEAL][r] = (double)(t3 - t2) / n;
		v[P_UNMAP][r] = (double)(t4 - t3) / n;
		v[P_MAPBATCH][r] = (double)(t5 - t4) / n;
	}
	bench_keep(&sink);
	for (unsigned p = 0; p < P_NR; p++)
		out[p] = median(v[p] + 1, REPS);   /* run 0 was the warm-up */
	must(pgtable_destroy(&pt), "destroy");
	free(order);
}

static void run_format(const struct pgtable_format *f, uint64_t mask)
{
	double k4[P_NR], m2[P_NR];
	char title[96];

	run_size(f, PT_SIZE_4K, N4K, mask, k4);
	run_size(f, PT_SIZE_2M, N2M, mask, m2);
	snprintf(title, sizeof(title), "page tables, %s format (ratio: to the ideal walk)", f->name);
	bench_table_begin(title, "ns/page");
	bench_table_row("ideal walk 4K (chain of 4 loads)", k4[P_IDEAL], k4[P_IDEAL], "reference");
	bench_table_row("pgtable_translate 4K (random order)", k4[P_TRANSLATE], k4[P_IDEAL], NULL);
	bench_table_row("pgtable_map 4K (1 page per call)", k4[P_MAP], k4[P_IDEAL],
			"incl. table allocation");
	bench_table_row("pgtable_map 4K (512 pages per call)", k4[P_MAPBATCH], k4[P_IDEAL], NULL);
	bench_table_row("pgtable_unmap 4K (1 page per call)", k4[P_UNMAP], k4[P_IDEAL],
			"incl. freeing empty tables");
	bench_table_row("ideal walk 2M (chain of 3 loads)", m2[P_IDEAL], m2[P_IDEAL], "reference");
	bench_table_row("pgtable_translate 2M (random order)", m2[P_TRANSLATE], m2[P_IDEAL], NULL);
	bench_table_row("pgtable_map 2M (1 page per call)", m2[P_MAP], m2[P_IDEAL], NULL);
	bench_table_row("pgtable_unmap 2M (1 page per call)", m2[P_UNMAP], m2[P_IDEAL], NULL);
}

int main(void)
{
	bench_pin_cpu(0);
	pool.mem = aligned_alloc(4096, (size_t)POOL_PAGES * 4096);
	if (!pool.mem)
		return 1;
	for (unsigned i = 0; i < POOL_PAGES; i++)
		pool.free[pool.nfree++] = PHYS_BASE + (uint64_t)(POOL_PAGES - 1 - i) * 4096;
	run_format(&pgtable_x86_64, UINT64_C(0x000ffffffffff000));
	run_format(&pgtable_ept, UINT64_C(0x000ffffffffff000));
	run_format(&pgtable_arm64_s2, UINT64_C(0x0000fffffffff000));
	free(pool.mem);
	return 0;
}
