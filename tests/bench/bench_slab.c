/*
 * bench_slab.c — memvisor slab/kmalloc against glibc malloc, jemalloc, mimalloc and
 * tcmalloc-minimal, all measured in the same process run.
 *
 * How the peers get into one process:
 *  - jemalloc cannot be dlopen()ed (it needs the static TLS block), so this binary links it
 *    normally and it becomes the process malloc/free;
 *  - glibc's allocator is then still reachable as __libc_malloc/__libc_free, which glibc exports
 *    and of which malloc/free are plain aliases;
 *  - mimalloc (mi_malloc/mi_free) and tcmalloc-minimal (tc_malloc/tc_free) are dlopen()ed with
 *    RTLD_NOW|RTLD_LOCAL, so they do not interpose anything.
 * Every allocator, ours included, is called through a function pointer read from memory, so no
 * call is inlined or elided; ours is also measured with direct calls.
 *
 * The packages come from tools/bench.sh (tools/lib/deps.sh): libjemalloc-dev, libmimalloc-dev,
 * libtcmalloc-minimal4. This file installs nothing; a missing peer is reported and skipped.
 *
 * Cases (ns per operation, median of repetitions):
 *   1. 64 B alloc+free pair;
 *   2. batch: 4096 allocations of 64 B, then frees in a fixed random order (alloc and free apart);
 *   3. pairs over mixed sizes 16..1040 B (one fixed pseudo-random sequence for everyone).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/slab.h>

#include "bench.h"
#include "mvtest.h"
#include "../lib/slab_test_provider.h"

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);

#define BATCH    4096
#define NSIZES   4096
#define PAIR_N   (UINT64_C(1) << 14)
#define REPS     201
#define ROUNDS   301

/* An allocator under test: either a malloc-style pair or ours (which takes the instance). */
struct alloc_impl {
	const char *name;
	void *(*m)(size_t);
	void (*f)(void *);
	void *(*km)(struct slab_allocator *, size_t);
	int (*kf)(struct slab_allocator *, void *);
	const char *missing;   /* why a peer is not available, or NULL */
};

static struct slab_test_provider tp;
static struct slab_allocator sa;
static struct kmem_cache *cache64;
static uint32_t sizes[NSIZES];
static uint32_t perm[BATCH];
static void *slots[BATCH];

/* Read through a volatile pointer so the compiler cannot see which function runs. */
static struct alloc_impl *volatile current;

/* ---- the timed loops (one per calling convention) --------------------------------------- */

static void pair_malloc(void *arg, uint64_t n)
{
	struct alloc_impl *im = current;
	void *(*m)(size_t) = im->m;
	void (*f)(void *) = im->f;

	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		void *p = m(64);

		bench_keep(p);
		f(p);
	}
}

static void pair_kmalloc_ptr(void *arg, uint64_t n)
{
	struct alloc_impl *im = current;
	void *(*km)(struct slab_allocator *, size_t) = im->km;
	int (*kf)(struct slab_allocator *, void *) = im->kf;

	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		void *p = km(&sa, 64);

		bench_keep(p);
		kf(&sa, p);
	}
}

static void pair_kmalloc_direct(void *arg, uint64_t n)
{
	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		void *p = kmalloc(&sa, 64);

		bench_keep(p);
		kfree(&sa, p);
	}
}

static void pair_cache_direct(void *arg, uint64_t n)
{
	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		void *p = kmem_cache_alloc(cache64);

		bench_keep(p);
		kmem_cache_free(cache64, p);
	}
}

static void mixed_malloc(void *arg, uint64_t n)
{
	struct alloc_impl *im = current;
	void *(*m)(size_t) = im->m;
	void (*f)(void *) = im->f;

	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		void *p = m(sizes[i & (NSIZES - 1)]);

		bench_keep(p);
		f(p);
	}
}

static void mixed_kmalloc_ptr(void *arg, uint64_t n)
{
	struct alloc_impl *im = current;
	void *(*km)(struct slab_allocator *, size_t) = im->km;
	int (*kf)(struct slab_allocator *, void *) = im->kf;

	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		void *p = km(&sa, sizes[i & (NSIZES - 1)]);

		bench_keep(p);
		kf(&sa, p);
	}
}

static void mixed_kmalloc_direct(void *arg, uint64_t n)
{
	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		void *p = kmalloc(&sa, sizes[i & (NSIZES - 1)]);

		bench_keep(p);
		kfree(&sa, p);
	}
}

/* One batch round: returns alloc and free ns/op. */
static void batch_round(const struct alloc_impl *im, double *alloc_ns, double *free_ns)
{
	uint64_t t0, t1, t2;

	t0 = bench_now_ns();
	if (im->km)
		for (unsigned i = 0; i < BATCH; i++)
			slots[i] = im->km(&sa, 64);
	else
		for (unsigned i = 0; i < BATCH; i++)
			slots[i] = im->m(64);
	t1 = bench_now_ns();
	if (im->km)
		for (unsigned i = 0; i < BATCH; i++)
			im->kf(&sa, slots[perm[i]]);
	else
		for (unsigned i = 0; i < BATCH; i++)
			im->f(slots[perm[i]]);
	t2 = bench_now_ns();
	*alloc_ns = (double)(t1 - t0) / BATCH;
	*free_ns = (double)(t2 - t1) / BATCH;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static void load_peer(struct alloc_impl *im, const char *lib, const char *msym, const char *fsym)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		im->missing = "dlopen failed (install it: tools/bench.sh)";
		fprintf(stderr, "bench_slab: %s: %s\n", lib, dlerror());
		return;
	}
	im->m = (void *(*)(size_t))dlsym(h, msym);
	im->f = (void (*)(void *))dlsym(h, fsym);
	if (!im->m || !im->f)
		im->missing = "symbols not found";
}

enum { IM_OURS, IM_GLIBC, IM_JEMALLOC, IM_MIMALLOC, IM_TCMALLOC, IM_N };

static struct alloc_impl impls[IM_N] = {
	[IM_OURS]     = { .name = "memvisor kmalloc/kfree (via pointer)", .km = kmalloc, .kf = kfree },
	[IM_GLIBC]    = { .name = "glibc malloc", .m = __libc_malloc, .f = __libc_free },
#ifdef MV_BENCH_HAVE_JEMALLOC
	[IM_JEMALLOC] = { .name = "jemalloc", .m = malloc, .f = free },
#else
	[IM_JEMALLOC] = { .name = "jemalloc", .missing = "not linked (libjemalloc-dev missing)" },
#endif
	[IM_MIMALLOC] = { .name = "mimalloc" },
	[IM_TCMALLOC] = { .name = "tcmalloc-minimal" },
};

/*
 * One row of a pair table. Repetitions are interleaved across rows (rep 0 of every row, then
 * rep 1, ...) so that load from other processes on this shared machine hits every allocator
 * alike; the table shows the median and the note the minimum.
 */
struct row {
	const char *name;
	bench_fn fn;
	struct alloc_impl *im;
	double v[REPS], median, min;
};

static void run_rows(struct row *rows, unsigned n, uint64_t iters)
{
	for (unsigned r = 0; r < n; r++) {
		current = rows[r].im;
		rows[r].fn(NULL, iters);                   /* warm-up */
	}
	for (unsigned rep = 0; rep < REPS; rep++)
		for (unsigned r = 0; r < n; r++) {
			uint64_t t0;

			current = rows[r].im;
			t0 = bench_now_ns();
			rows[r].fn(NULL, iters);
			rows[r].v[rep] = (double)(bench_now_ns() - t0) / (double)iters;
		}
	for (unsigned r = 0; r < n; r++) {
		qsort(rows[r].v, REPS, sizeof(double), cmp_double);
		rows[r].median = rows[r].v[REPS / 2];
		rows[r].min = rows[r].v[0];
	}
}

/* Print rows; ratios against rows[0]. Returns the best (lowest median) peer row. */
static const struct row *print_rows(const char *title, const char *unit, const struct row *rows,
				    unsigned n)
{
	const struct row *best = NULL;

	bench_table_begin(title, unit);
	for (unsigned r = 0; r < n; r++) {
		char note[128];
		bool peer = rows[r].im && rows[r].im->m;

		if (rows[r].im && rows[r].im->missing) {
			bench_table_row(rows[r].name, 0, 0, rows[r].im->missing);
			continue;
		}
		if (peer)
			snprintf(note, sizeof(note), "min %.2f; memvisor/%s = %.2f", rows[r].min,
				 rows[r].name, rows[0].median / rows[r].median);
		else
			snprintf(note, sizeof(note), "min %.2f", rows[r].min);
		bench_table_row(rows[r].name, rows[r].median, rows[0].median, note);
		if (peer && (!best || rows[r].median < best->median))
			best = &rows[r];
	}
	if (best)
		printf("best peer: %s (%.2f %s)\n", best->name, best->median, unit);
	return best;
}

static bench_fn find_case(const char *name, bool ours)
{
	if (!strcmp(name, "pair64"))
		return ours ? pair_kmalloc_ptr : pair_malloc;
	if (!strcmp(name, "mixed"))
		return ours ? mixed_kmalloc_ptr : mixed_malloc;
	return NULL;
}

static int setup(void)
{
	struct mvt_rng rng;

	bench_pin_cpu(0);
	load_peer(&impls[IM_MIMALLOC], "libmimalloc.so.2", "mi_malloc", "mi_free");
	load_peer(&impls[IM_TCMALLOC], "libtcmalloc_minimal.so.4", "tc_malloc", "tc_free");
	if (stp_init(&tp, (size_t)1 << 30, 1) != 0 || slab_allocator_init(&sa, &tp.p, 0) != 0) {
		fprintf(stderr, "bench_slab: cannot set up the allocator\n");
		return -1;
	}
	cache64 = kmem_cache_create(&sa, "bench-64", 64, 0, 0, NULL);
	mvt_rng_seed(&rng, 42);
	for (unsigned i = 0; i < NSIZES; i++)
		sizes[i] = 16 + (uint32_t)mvt_rng_below(&rng, 1040 - 16 + 1);
	for (unsigned i = 0; i < BATCH; i++)
		perm[i] = i;
	for (unsigned i = BATCH - 1; i > 0; i--) {
		unsigned j = (unsigned)mvt_rng_below(&rng, i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	return 0;
}

/*
 * `bench_slab --one IMPL CASE ITERS` runs one loop and nothing else, for profilers:
 *   valgrind --tool=callgrind --toggle-collect=pair_malloc bench_slab --one tcmalloc pair64 1000000
 * IMPL: memvisor glibc jemalloc mimalloc tcmalloc; CASE: pair64 mixed batch (ITERS = rounds).
 */
static int run_one(char **argv)
{
	static const char *const names[IM_N] = { "memvisor", "glibc", "jemalloc", "mimalloc",
						 "tcmalloc" };
	int im = -1;
	bench_fn fn;

	for (int i = 0; i < IM_N; i++)
		if (!strcmp(argv[0], names[i]))
			im = i;
	if (im >= 0 && !impls[im].missing && !strcmp(argv[1], "batch")) {
		double a, f;

		for (unsigned long long r = strtoull(argv[2], NULL, 0); r; r--)
			batch_round(&impls[im], &a, &f);
		return 0;
	}
	fn = im < 0 ? NULL : find_case(argv[1], im == IM_OURS);
	if (!fn || impls[im].missing) {
		fprintf(stderr, "bench_slab --one: unknown or missing IMPL/CASE\n");
		return 2;
	}
	current = &impls[im];
	fn(NULL, strtoull(argv[2], NULL, 0));
	return 0;
}

int main(int argc, char **argv)
{
	struct row rows[8];
	const struct row *best;
	unsigned n;
	int met = 1;

	if (setup() != 0)
		return 1;
	if (argc == 5 && !strcmp(argv[1], "--one"))
		return run_one(argv + 2);
	printf("slab benchmark: medians of %d interleaved repetitions; ratio = value / first row "
	       "(>1: memvisor faster)\n", REPS);

	/* 1. 64 B pair. */
	n = 0;
	rows[n++] = (struct row){ .name = impls[IM_OURS].name, .fn = pair_kmalloc_ptr,
				  .im = &impls[IM_OURS] };
	rows[n++] = (struct row){ .name = "memvisor kmalloc/kfree (direct call)",
				  .fn = pair_kmalloc_direct };
	rows[n++] = (struct row){ .name = "memvisor kmem_cache_alloc/free (direct)",
				  .fn = pair_cache_direct };
	for (int i = IM_GLIBC; i < IM_N; i++)
		rows[n++] = (struct row){ .name = impls[i].name, .fn = pair_malloc, .im = &impls[i] };
	run_rows(rows, n, PAIR_N);
	best = print_rows("64 B alloc+free pair", "ns/pair", rows, n);
	if (best) {
		met &= bench_target("slab 64 B pair (kmalloc via pointer) faster than every peer",
				    rows[0].median, best->median, 1);
		met &= bench_target("slab 64 B pair (kmem_cache direct) faster than every peer",
				    rows[2].median, best->median, 1);
	}

	/* 2. Batch of 4096, random-order free: rounds interleaved across allocators too. */
	{
		static double av[IM_N][ROUNDS], fv[IM_N][ROUNDS];
		struct row ar[IM_N], fr[IM_N];

		for (unsigned round = 0; round < ROUNDS + 20; round++)
			for (int i = 0; i < IM_N; i++)
				if (!impls[i].missing)
					batch_round(&impls[i], &av[i][round % ROUNDS],
						    &fv[i][round % ROUNDS]);
		for (int i = 0; i < IM_N; i++) {
			ar[i] = (struct row){ .name = impls[i].name, .im = &impls[i] };
			fr[i] = ar[i];
			qsort(av[i], ROUNDS, sizeof(double), cmp_double);
			qsort(fv[i], ROUNDS, sizeof(double), cmp_double);
			ar[i].median = av[i][ROUNDS / 2];
			ar[i].min = av[i][0];
			fr[i].median = fv[i][ROUNDS / 2];
			fr[i].min = fv[i][0];
		}
		(void)print_rows("batch: 4096 x 64 B allocs (alloc phase)", "ns/alloc", ar, IM_N);
		(void)print_rows("batch: free of those 4096 in random order (free phase)", "ns/free",
				 fr, IM_N);
	}

	/* 3. Mixed sizes. */
	n = 0;
	rows[n++] = (struct row){ .name = impls[IM_OURS].name, .fn = mixed_kmalloc_ptr,
				  .im = &impls[IM_OURS] };
	rows[n++] = (struct row){ .name = "memvisor kmalloc/kfree (direct call)",
				  .fn = mixed_kmalloc_direct };
	for (int i = IM_GLIBC; i < IM_N; i++)
		rows[n++] = (struct row){ .name = impls[i].name, .fn = mixed_malloc, .im = &impls[i] };
	run_rows(rows, n, PAIR_N);
	best = print_rows("mixed sizes 16..1040 B alloc+free pairs", "ns/pair", rows, n);
	if (best)
		met &= bench_target("kmalloc mixed 16..1040 B pair <= best peer", rows[0].median,
				    best->median, 1);

	kmem_cache_destroy(cache64);
	if (slab_allocator_destroy(&sa) != 0)
		fprintf(stderr, "bench_slab: allocator not empty at the end\n");
	stp_destroy(&tp);
	printf("\nslab targets: %s\n", met ? "all met" : "some NOT MET");
	return 0;
}
