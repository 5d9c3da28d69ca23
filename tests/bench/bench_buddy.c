/*
 * bench_buddy — buddy allocator fast and slow paths, ns per operation (median of reps).
 *
 *   order-0 alloc+free pair, with per-CPU lists and without (every pair takes the zone lock)
 *   order-0 pair through numa_alloc_pages (default policy)
 *   fill 65,536 order-0 frames, then free them in random order (coalescing all the way up)
 *   order-9 (2 MiB) alloc+free pair
 * A same-run peer: glibc malloc(4096)+free (a different kind of allocator; context only).
 * The Linux figure is published, not measured here: it is shown for scale, without a ratio.
 *
 * Build: cmake -DCMAKE_BUILD_TYPE=Release -DMV_BENCH=ON -DMV_MM_DEBUG=OFF (no checker or
 * debug assertions on the fast paths).
 */
#include <mm/buddy.h>
#include <mm/numa.h>

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "mvtest.h"

#define FILL_PAGES 65536
#define POOL_PAGES (2 * FILL_PAGES)     /* 512 MiB: room for the fill above the watermarks */
#define REPS 9

struct inst {
	struct buddy b;
	void *meta;
};

static void inst_init(struct inst *in, unsigned flags)
{
	static const struct buddy_range r = { 0, POOL_PAGES, 0 };
	struct buddy_config cfg = { .ranges = &r, .nr_ranges = 1, .flags = flags };
	size_t sz = buddy_meta_size(&r, 1);

	in->meta = malloc(sz);
	if (!in->meta || buddy_init(&in->b, &cfg, in->meta, sz)) {
		fprintf(stderr, "bench_buddy: init failed\n");
		exit(1);
	}
}

static void die(const char *what)
{
	fprintf(stderr, "bench_buddy: %s failed\n", what);
	exit(1);
}

static void pair_order0(void *arg, uint64_t n)
{
	struct buddy *b = arg;
	pfn_t p;

	for (uint64_t i = 0; i < n; i++) {
		if (buddy_alloc(b, 0, 0, 0, &p) || buddy_free(b, p, 0))
			die("order-0 pair");
		bench_keep(&p);
	}
}

static void pair_numa_default(void *arg, uint64_t n)
{
	struct buddy *b = arg;
	pfn_t p;

	for (uint64_t i = 0; i < n; i++) {
		if (numa_alloc_pages(b, NULL, 0, 0, 0, &p) || buddy_free(b, p, 0))
			die("numa pair");
		bench_keep(&p);
	}
}

static void pair_order9(void *arg, uint64_t n)
{
	struct buddy *b = arg;
	pfn_t p;

	for (uint64_t i = 0; i < n; i++) {
		if (buddy_alloc(b, 0, 9, 0, &p) || buddy_free(b, p, 9))
			die("order-9 pair");
		bench_keep(&p);
	}
}

static void pair_malloc(void *arg, uint64_t n)
{
	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		void *p = malloc(4096);

		bench_keep(p);
		free(p);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Fill FILL_PAGES order-0 frames, then free them in a fixed random order; median ns per
 * allocation and per free over REPS rounds (plus a warm-up). The shuffled order makes most frees
 * land next to a still-allocated buddy first and merge later, as real workloads do.
 */
static void fill_then_random_free(struct buddy *b, double *ns_alloc, double *ns_free)
{
	static pfn_t pfn[FILL_PAGES];
	static unsigned order[FILL_PAGES];
	double va[REPS], vf[REPS];
	struct mvt_rng rng;

	mvt_rng_seed(&rng, 42);
	for (unsigned i = 0; i < FILL_PAGES; i++)
		order[i] = i;
	for (unsigned i = FILL_PAGES - 1; i > 0; i--) {
		unsigned j = (unsigned)mvt_rng_below(&rng, i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int rep = -1; rep < REPS; rep++) {
		uint64_t t0 = bench_now_ns(), t1, t2;

		for (unsigned i = 0; i < FILL_PAGES; i++)
			if (buddy_alloc(b, 0, 0, 0, &pfn[i]))
				die("fill");
		t1 = bench_now_ns();
		for (unsigned i = 0; i < FILL_PAGES; i++)
			if (buddy_free(b, pfn[order[i]], 0))
				die("random free");
		t2 = bench_now_ns();
		if (rep >= 0) {
			va[rep] = (double)(t1 - t0) / FILL_PAGES;
			vf[rep] = (double)(t2 - t1) / FILL_PAGES;
		}
	}
	qsort(va, REPS, sizeof(va[0]), cmp_double);
	qsort(vf, REPS, sizeof(vf[0]), cmp_double);
	*ns_alloc = va[REPS / 2];
	*ns_free = vf[REPS / 2];
}

int main(void)
{
	struct inst pcp, nopcp;
	double v_pcp, v_nopcp, v_numa, v_o9_pcp, v_malloc, fa, ff, fa_n, ff_n;
	const uint64_t iters = 1u << 21;

	bench_pin_cpu(0);
	inst_init(&pcp, 0);
	inst_init(&nopcp, BUDDY_CFG_NO_PCP);

	v_malloc = bench_median_ns(pair_malloc, NULL, iters, REPS);
	v_pcp = bench_median_ns(pair_order0, &pcp.b, iters, REPS);
	v_nopcp = bench_median_ns(pair_order0, &nopcp.b, iters, REPS);
	v_numa = bench_median_ns(pair_numa_default, &pcp.b, iters, REPS);
	v_o9_pcp = bench_median_ns(pair_order9, &pcp.b, iters / 8, REPS);
	fill_then_random_free(&pcp.b, &fa, &ff);
	buddy_drain_local(&pcp.b);
	fill_then_random_free(&nopcp.b, &fa_n, &ff_n);

	bench_table_begin("buddy order-0 alloc+free pair (one CPU)", "ns/pair");
	bench_table_row("glibc malloc(4096)+free (same-run reference)", v_malloc, v_malloc,
			"not a page-frame allocator");
	bench_table_row("memvisor buddy, per-CPU lists", v_pcp, v_malloc, NULL);
	bench_table_row("memvisor buddy, no per-CPU lists", v_nopcp, v_malloc, "zone lock per op");
	bench_table_row("memvisor numa_alloc_pages (default) + free", v_numa, v_malloc, "per-CPU lists");
	bench_table_row("Linux order-0 alloc+free, per-CPU lists", 46.0, 0,
			"published figure, not measured here");

	bench_table_begin("buddy fill 65,536 order-0 frames, then free in random order", "ns/op");
	bench_table_row("fill, per-CPU lists (per alloc)", fa, fa, NULL);
	bench_table_row("random free + coalescing, per-CPU lists", ff, fa, "drains in batches");
	bench_table_row("fill, no per-CPU lists (per alloc)", fa_n, fa, NULL);
	bench_table_row("random free + coalescing, no per-CPU lists", ff_n, fa, NULL);

	bench_table_begin("buddy order-9 (2 MiB) alloc+free pair", "ns/pair");
	bench_table_row("memvisor buddy order 9", v_o9_pcp, v_pcp, "ratio to order-0 pcp pair");

	printf("\n");
	bench_target("buddy order-0 pair with per-CPU lists <= 15 ns", v_pcp, 15.0, 1);
	bench_target("buddy order-0 pair without per-CPU lists <= 40 ns", v_nopcp, 40.0, 1);
	if (buddy_check(&pcp.b) || buddy_check(&nopcp.b))
		die("final consistency check");
	free(pcp.meta);
	free(nopcp.meta);
	return 0;
}
