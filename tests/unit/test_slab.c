/*
 * Unit tests for mm/slab.c: argument checking, cache lifecycle, kmalloc classes, constructors,
 * alignment, shrinking, NUMA placement, out-of-memory and statistics.
 * Debug mode: test_slab_debug.c. Threads and the randomized model: test_slab_stress.c.
 */
#include <stdint.h>
#include <string.h>

#include "slab_fixture.h"

/* ---- error cases ------------------------------------------------------------------------- */

TEST(init_rejects_bad_provider)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = fix_zalloc(sizeof(*a) + 128);
	struct slab_page_provider p;

	CHECK_EQ(slab_allocator_init(NULL, &f->tp.p, 0), -MM_EINVAL);
	CHECK_REPORTED("allocator is NULL");
	CHECK_EQ(slab_allocator_init((struct slab_allocator *)(void *)((char *)a + 64), &f->tp.p, 0),
		 -MM_EINVAL);
	CHECK_REPORTED("not 128-byte aligned");
	CHECK_EQ(slab_allocator_init(a, NULL, 0), -MM_EINVAL);
	CHECK_REPORTED("provider is NULL");
	p = f->tp.p; p.alloc_pages = NULL;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("callbacks are NULL");
	p = f->tp.p; p.base += 8;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("not page aligned");
	p = f->tp.p; p.npages = 0;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("npages");
	p = f->tp.p; p.owner0 = NULL;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("owner table");
	p = f->tp.p; p.owner_stride = 4;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("owner_stride is not a power of two");
	p = f->tp.p; p.owner_stride = 24;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("owner_stride is not a power of two");
	p = f->tp.p; p.owner0 = (char *)p.owner0 + 4;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("owner table is NULL or misaligned");
	p = f->tp.p; p.nr_nodes = 0;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("nr_nodes");
	p = f->tp.p; p.nr_nodes = MM_MAX_NODES + 1;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("nr_nodes");
	p = f->tp.p; p.max_order = SLAB_MAX_ORDER - 1;
	CHECK_EQ(slab_allocator_init(a, &p, 0), -MM_EINVAL);
	CHECK_REPORTED("max_order");
	CHECK_EQ(slab_allocator_init(a, &f->tp.p, 1u << 5), -MM_EINVAL);
	CHECK_REPORTED("unknown flags");
	CHECK_EQ(slab_allocator_destroy(NULL), -MM_EINVAL);
	CHECK_REPORTED("allocator is NULL");
	free(a);
	fix_free(f);
}

TEST(create_rejects_bad_arguments)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;

	CHECK_NULL(kmem_cache_create(NULL, "x", 8, 0, 0, NULL));
	CHECK_REPORTED("allocator is NULL");
	CHECK_NULL(kmem_cache_create(a, NULL, 8, 0, 0, NULL));
	CHECK_REPORTED("name is NULL");
	CHECK_NULL(kmem_cache_create(a, "", 8, 0, 0, NULL));
	CHECK_REPORTED("name is empty");
	CHECK_NULL(kmem_cache_create(a, "x", 0, 0, 0, NULL));
	CHECK_REPORTED("size is 0");
	CHECK_NULL(kmem_cache_create(a, "x", SLAB_MAX_SIZE + 1, 0, 0, NULL));
	CHECK_REPORTED("too large for a cache");
	/* Fits alone, not with debug red zones and metadata. */
	CHECK_NULL(kmem_cache_create(a, "x", SLAB_MAX_SIZE, 0, SLAB_DEBUG, NULL));
	CHECK_REPORTED("debug metadata");
	CHECK_NULL(kmem_cache_create(a, "x", 8, 24, 0, NULL));
	CHECK_REPORTED("not a power of two");
	CHECK_NULL(kmem_cache_create(a, "x", 8, 2 * MM_PAGE_SIZE, 0, NULL));
	CHECK_REPORTED("align larger than a page");
	CHECK_NULL(kmem_cache_create(a, "x", 8, 0, 1u << 7, NULL));
	CHECK_REPORTED("unknown flags");
	CHECK_NULL(kmem_cache_alloc(NULL));
	CHECK_REPORTED("cache is NULL");
	CHECK_EQ(kmem_cache_destroy(NULL), -MM_EINVAL);
	CHECK_REPORTED("cache is NULL");
	CHECK_EQ(kmem_cache_destroy(kmalloc_cache(a, 64)), -MM_EINVAL);
	CHECK_REPORTED("kmalloc or boot cache");
	CHECK_EQ(kmem_cache_destroy(&a->desc_cache), -MM_EINVAL);
	CHECK_REPORTED("kmalloc or boot cache");
	CHECK_EQ(kmem_cache_shrink(NULL), -MM_EINVAL);
	CHECK_REPORTED("cache is NULL");
	CHECK_EQ(kmem_cache_check(NULL), -MM_EINVAL);
	CHECK_REPORTED("cache is NULL");
	fix_free(f);
}

TEST(kmalloc_rejects_bad_sizes_and_nodes)
{
	struct slab_fix *f = fix_new(2, 0);
	struct slab_allocator *a = &f->a;
	struct kmem_cache *s = kmem_cache_create(a, "obj", 40, 0, 0, NULL);

	CHECK_NULL(kmalloc(a, 0));
	CHECK_REPORTED("size is 0");
	CHECK_NULL(kmalloc(a, (MM_PAGE_SIZE << STP_MAX_ORDER) + 1));
	CHECK_REPORTED("size too large");
	CHECK_NULL(kmalloc(a, SIZE_MAX));
	CHECK_REPORTED("size too large");
	CHECK_NULL(kmalloc(NULL, 8));
	CHECK_REPORTED("allocator is NULL");
	CHECK_NULL(kmalloc_node(a, 8, 2));
	CHECK_REPORTED("node out of range");
	CHECK_NULL(kmalloc_node(a, 1 << 20, 9));
	CHECK_REPORTED("node out of range");
	CHECK_NULL(kmem_cache_alloc_node(s, 2));
	CHECK_REPORTED("node out of range");
	CHECK_NULL(kmalloc_cache(a, 0));
	CHECK_NULL(kmalloc_cache(a, KMALLOC_MAX_CACHE + 1));
	CHECK_EQ(slab_set_cpu_node(a, MM_MAX_CPUS, 0), -MM_EINVAL);
	CHECK_REPORTED("cpu out of range");
	CHECK_EQ(slab_set_cpu_node(a, 0, 2), -MM_EINVAL);
	CHECK_REPORTED("node out of range");
	CHECK_EQ(kmem_cache_destroy(s), 0);
	fix_free(f);
}

TEST(free_rejects_foreign_pointers)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;
	struct kmem_cache *s1 = kmem_cache_create(a, "first", 32, 0, 0, NULL);
	struct kmem_cache *s2 = kmem_cache_create(a, "second", 32, 0, 0, NULL);
	char *o1 = kmem_cache_alloc(s1), *o2 = kmem_cache_alloc(s2);
	char *big = kmalloc(a, 3 * MM_PAGE_SIZE + 1);     /* order 2: four pages */
	char *never = (char *)(f->tp.p.base + (f->tp.p.npages - 1) * MM_PAGE_SIZE);
	int on_stack;

	CHECK_NOT_NULL(o1);
	CHECK_NOT_NULL(o2);
	CHECK_NOT_NULL(big);
	CHECK_EQ(kfree(a, NULL), 0);
	CHECK_EQ(kmem_cache_free(s1, NULL), 0);
	CHECK_EQ(kfree(NULL, o1), -MM_EINVAL);
	CHECK_REPORTED("allocator is NULL");
	CHECK_EQ(kfree(a, &on_stack), -MM_EINVAL);
	CHECK_REPORTED("not from this allocator");
	CHECK_EQ(kmem_cache_free(s1, &on_stack), -MM_EINVAL);
	CHECK_REPORTED("not from this allocator");
	CHECK_EQ(kfree(a, never), -MM_EINVAL);             /* in the region, never lent to slab */
	CHECK_REPORTED("page not held by slab");
	CHECK_EQ(kfree(a, big + MM_PAGE_SIZE), -MM_EINVAL);
	CHECK_REPORTED("inside a large kmalloc block");
	CHECK_EQ(kfree(a, big + 8), -MM_EINVAL);
	CHECK_REPORTED("inside a large kmalloc block");
	CHECK_EQ(kmem_cache_free(s1, big), -MM_EINVAL);
	CHECK_REPORTED("large kmalloc block, not a slab object");
	CHECK_EQ(kmem_cache_free(s1, o2), -MM_EINVAL);
	CHECK_REPORTED("belongs to cache \"second\", not \"first\"");
	CHECK_EQ(kmem_cache_free(NULL, o1), -MM_EINVAL);
	CHECK_REPORTED("cache is NULL");
	CHECK_EQ(ksize(a, &on_stack), 0);
	CHECK_REPORTED("not from this allocator");
	CHECK_EQ(ksize(a, big + MM_PAGE_SIZE), 0);
	CHECK_REPORTED("inside a large kmalloc block");
	CHECK_EQ(ksize(a, o1 + 1), 0);
	CHECK_REPORTED("not at an object start");
	CHECK_EQ(ksize(a, big), 4 * MM_PAGE_SIZE);
	CHECK_EQ(ksize(a, o1), 32);
	/* Nothing above was freed by mistake: the real frees still work. */
	CHECK_EQ(kfree(a, big), 0);
	CHECK_EQ(kmem_cache_free(s1, o1), 0);
	CHECK_EQ(kfree(a, o2), 0);                          /* kfree takes any slab object */
	CHECK_EQ(kfree(a, big), -MM_EINVAL);                /* freed: its page is no longer ours */
	CHECK_REPORTED("page not held by slab");
	CHECK_EQ(kmem_cache_destroy(s1), 0);
	CHECK_EQ(kmem_cache_destroy(s2), 0);
	fix_free(f);
}

TEST(nondebug_double_free_of_list_head_is_caught)
{
	struct slab_fix *f = fix_new(1, 0);
	struct kmem_cache *s = kmem_cache_create(&f->a, "dbl", 48, 0, 0, NULL);
	void *p = kmem_cache_alloc(s);

	CHECK_EQ(kmem_cache_free(s, p), 0);
	CHECK_EQ(kmem_cache_free(s, p), -MM_EINVAL);
	CHECK_REPORTED("double free of object");
	CHECK_REPORTED("\"dbl\"");
	CHECK_EQ(kmem_cache_destroy(s), 0);
	fix_free(f);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

TEST(cache_create_alloc_destroy)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;
	struct kmem_cache *s = kmem_cache_create(a, "a-rather-long-cache-name-that-gets-cut", 200,
						 0, 0, NULL);
	uint64_t base_pages;
	void *obj[300];

	CHECK_NOT_NULL(s);
	CHECK_EQ(strlen(s->name), SLAB_NAME_MAX - 1);
	CHECK_EQ(s->object_size, 200);
	base_pages = stp_pages_out(&f->tp);
	for (int i = 0; i < 300; i++) {
		obj[i] = kmem_cache_alloc(s);
		CHECK_NOT_NULL(obj[i]);
		memset(obj[i], i, 200);
	}
	CHECK_GT(stp_pages_out(&f->tp), base_pages);
	CHECK_EQ(kmem_cache_destroy(s), -MM_EBUSY);
	CHECK_REPORTED("objects still allocated");
	CHECK_EQ(slab_allocator_destroy(a), -MM_EBUSY);
	CHECK_REPORTED("cache still exists");
	for (int i = 0; i < 300; i++)
		CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
	CHECK_EQ(kmem_cache_destroy(s), 0);
	/* Its slabs (and the descriptors of off-slab ones) went back. */
	CHECK_EQ(kmem_cache_shrink(&a->desc_cache) >= 0, 1);
	CHECK_EQ_U(stp_pages_out(&f->tp), base_pages);
	fix_free(f);
}

TEST(allocator_destroy_refuses_while_kmalloc_memory_is_out)
{
	struct slab_fix *f = fix_new(1, 0);
	void *small = kmalloc(&f->a, 100), *large = kmalloc(&f->a, 100000);

	CHECK_EQ(slab_allocator_destroy(&f->a), -MM_EBUSY);
	CHECK_REPORTED("large kmalloc blocks still allocated");
	CHECK_EQ(kfree(&f->a, large), 0);
	CHECK_EQ(slab_allocator_destroy(&f->a), -MM_EBUSY);
	CHECK_REPORTED("objects still allocated in cache \"kmalloc-128\"");
	CHECK_EQ(kfree(&f->a, small), 0);
	fix_free(f);
}

/* ---- kmalloc ------------------------------------------------------------------------------ */

static size_t expected_class(size_t size)
{
	static const size_t classes[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096,
					  8192 };

	for (unsigned i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (size <= classes[i])
			return classes[i];
	return 0;
}

TEST(kmalloc_every_size_gets_the_smallest_class)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;

	for (size_t size = 1; size <= KMALLOC_MAX_CACHE; size++) {
		char *p = kmalloc(a, size);

		CHECK_NOT_NULL(p);
		CHECK_EQ(ksize(a, p), expected_class(size));
		CHECK_EQ(kmalloc_cache(a, size)->object_size, expected_class(size));
		p[0] = 1;
		p[size - 1] = 2;
		CHECK_EQ(kfree(a, p), 0);
	}
	fix_free(f);
}

TEST(kmalloc_boundaries_and_large_blocks)
{
	static const struct { size_t size, usable; bool large; } cases[] = {
		{ 8, 8, false },       { 9, 16, false },      { 96, 96, false },
		{ 97, 128, false },    { 192, 192, false },   { 193, 256, false },
		{ 8192, 8192, false }, { 8193, 16384, true }, { 12288, 16384, true },
		{ 16385, 32768, true }, { 1 << 20, 1 << 20, true },
		{ (size_t)MM_PAGE_SIZE << STP_MAX_ORDER, (size_t)MM_PAGE_SIZE << STP_MAX_ORDER, true },
	};
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t before = stp_pages_out(&f->tp);
		char *p = kmalloc(a, cases[i].size);

		CHECK_NOT_NULL(p);
		CHECK_EQ(ksize(a, p), cases[i].usable);
		memset(p, 0x5a, cases[i].size);
		if (cases[i].large) {
			CHECK_EQ(slab_large_pages(a), cases[i].usable / MM_PAGE_SIZE);
			CHECK_EQ(stp_pages_out(&f->tp) - before, cases[i].usable / MM_PAGE_SIZE);
			CHECK_EQ((uintptr_t)p % MM_PAGE_SIZE, 0);
		}
		CHECK_EQ(kfree(a, p), 0);
		CHECK_EQ(slab_large_pages(a), 0);
	}
	fix_free(f);
}

/* ---- constructors and alignment ----------------------------------------------------------- */

struct ctor_obj {
	uint64_t magic;
	uint8_t body[56];
};
static unsigned ctor_calls;

static void ctor_fill(void *p)
{
	struct ctor_obj *o = p;

	ctor_calls++;
	o->magic = 0xc0c0c0c0c0c0c0c0ull;
	memset(o->body, 0xc5, sizeof(o->body));
}

static bool ctor_intact(const struct ctor_obj *o)
{
	for (unsigned i = 0; i < sizeof(o->body); i++)
		if (o->body[i] != 0xc5)
			return false;
	return o->magic == 0xc0c0c0c0c0c0c0c0ull;
}

TEST(ctor_runs_once_per_object_construction)
{
	struct slab_fix *f = fix_new(1, 0);
	struct kmem_cache *s = kmem_cache_create(&f->a, "ctor", sizeof(struct ctor_obj), 0, 0,
						 ctor_fill);
	struct slab_stats st;
	void *obj[200];
	unsigned after_first;

	ctor_calls = 0;
	for (int i = 0; i < 200; i++) {
		obj[i] = kmem_cache_alloc(s);
		CHECK(ctor_intact(obj[i]));
	}
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_EQ(ctor_calls, st.num_objs);     /* every object of every slab, once */
	after_first = ctor_calls;
	/* Freed objects keep their constructed state (the free pointer is outside the object). */
	for (int i = 0; i < 200; i++)
		CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
	for (int i = 0; i < 200; i++) {
		obj[i] = kmem_cache_alloc(s);
		CHECK(ctor_intact(obj[i]));
	}
	CHECK_EQ(ctor_calls, after_first);
	for (int i = 0; i < 200; i++)
		CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
	/* Slabs given back and made again are constructed again. */
	CHECK_GT(kmem_cache_shrink(s), 0);
	obj[0] = kmem_cache_alloc(s);
	CHECK_EQ(ctor_calls, after_first + s->objperslab);
	CHECK_EQ(kmem_cache_free(s, obj[0]), 0);
	CHECK_EQ(kmem_cache_destroy(s), 0);
	fix_free(f);
}

TEST(alignment_is_honoured)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;

	for (size_t align = 1; align <= MM_PAGE_SIZE; align *= 2) {
		for (unsigned debug = 0; debug < 2; debug++) {
			struct kmem_cache *s = kmem_cache_create(a, "aligned", 24 + align / 2, align,
								 debug ? SLAB_DEBUG : 0, NULL);
			void *obj[40];

			CHECK_NOT_NULL(s);
			for (int i = 0; i < 40; i++) {
				obj[i] = kmem_cache_alloc(s);
				CHECK_EQ((uintptr_t)obj[i] % (align < 8 ? 8 : align), 0);
			}
			for (int i = 0; i < 40; i++)
				CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
			CHECK_EQ(kmem_cache_destroy(s), 0);
		}
	}
	{
		struct kmem_cache *s = kmem_cache_create(a, "hw", 20, 0, SLAB_HWCACHE_ALIGN, NULL);
		void *p = kmem_cache_alloc(s), *q = kmem_cache_alloc(s);

		CHECK_EQ((uintptr_t)p % 64, 0);
		CHECK_EQ((uintptr_t)q % 64, 0);
		CHECK_EQ(kmem_cache_free(s, p), 0);
		CHECK_EQ(kmem_cache_free(s, q), 0);
		CHECK_EQ(kmem_cache_destroy(s), 0);
	}
	/* kmalloc: power-of-two sizes are naturally aligned (up to a page). */
	for (size_t size = 8; size <= KMALLOC_MAX_CACHE; size *= 2) {
		void *p[5];

		for (int i = 0; i < 5; i++) {
			p[i] = kmalloc(a, size);
			CHECK_EQ((uintptr_t)p[i] % (size < MM_PAGE_SIZE ? size : MM_PAGE_SIZE), 0);
		}
		for (int i = 0; i < 5; i++)
			CHECK_EQ(kfree(a, p[i]), 0);
	}
	fix_free(f);
}

/* ---- slab geometry ------------------------------------------------------------------------ */

/* Bytes of a slab not used by objects (on-slab headers count; off-slab descriptors add 64). */
static uint64_t slab_waste(const struct kmem_cache *s)
{
	uint64_t bytes = MM_PAGE_SIZE << s->order;

	return bytes - (uint64_t)s->objperslab * s->size + (s->offslab ? 64 : 0);
}

TEST(slab_order_keeps_waste_low)
{
	static const size_t odd[] = { 8, 24, 40, 100, 200, 300, 700, 1100, 1500, 3000, 5000, 7000 };
	static const size_t huge[] = { 12000, 20000, SLAB_MAX_SIZE };
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;

	/* kmalloc classes: at most 1/16 of every slab wasted, at least 4 objects per slab. */
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++) {
		const struct kmem_cache *s = a->kmalloc[i];

		CHECK_LE(s->order, SLAB_MAX_ORDER);
		CHECK_GE(s->objperslab, 4);
		CHECK_LE(slab_waste(s) * 16, MM_PAGE_SIZE << s->order);
	}
	/* A 64-byte class packs 63 objects and its descriptor in one page. */
	CHECK_EQ(a->kmalloc[3]->objperslab, 63);
	CHECK_EQ(a->kmalloc[3]->order, 0);
	/* Descriptors stay on-slab unless that wastes over 1/16: up to 2 KiB, kfree's short path. */
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++)
		CHECK_EQ(a->kmalloc[i]->offslab, a->kmalloc[i]->object_size >= 4096);
	/* Other sizes: at most 1/4 (the last fraction calculate_order accepts). */
	for (unsigned i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		struct kmem_cache *s = kmem_cache_create(a, "odd", odd[i], 0, 0, NULL);

		CHECK_NOT_NULL(s);
		CHECK_GE(s->objperslab, 1);
		CHECK_LE(slab_waste(s) * 4, MM_PAGE_SIZE << s->order);
		CHECK_EQ(kmem_cache_destroy(s), 0);
	}
	/*
	 * Objects above a quarter of the largest slab: one or two per order-3 slab, so up to half of
	 * it can be lost (Linux SLUB has the same limit; such sizes belong in kmalloc's large path).
	 */
	for (unsigned i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		struct kmem_cache *s = kmem_cache_create(a, "huge", huge[i], 0, 0, NULL);

		CHECK_NOT_NULL(s);
		CHECK_GE(s->objperslab, 1);
		CHECK_LT(slab_waste(s) * 2, MM_PAGE_SIZE << s->order);
		CHECK_EQ(kmem_cache_destroy(s), 0);
	}
	fix_free(f);
}

/* ---- shrinking ---------------------------------------------------------------------------- */

TEST(shrink_returns_empty_slabs_to_the_provider)
{
	struct slab_fix *f = fix_new(1, 0);
	struct kmem_cache *s = kmem_cache_create(&f->a, "shrinkme", 96, 0, 0, NULL);
	uint64_t base_pages = stp_pages_out(&f->tp);
	struct slab_stats st;
	static void *obj[3000];
	long freed;

	CHECK_EQ(s->offslab, 0);                  /* so only this cache's pages move */
	for (int i = 0; i < 3000; i++)
		CHECK_NOT_NULL(obj[i] = kmem_cache_alloc(s));
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_EQ(stp_pages_out(&f->tp) - base_pages, st.num_slabs * st.pagesperslab);
	for (int i = 0; i < 3000; i++)
		CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
	/* Without a shrink only a few empty slabs stay (min_partial) besides the per-CPU list's. */
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_EQ(st.active_objs, 0);
	CHECK_LE(st.num_slabs - st.active_slabs, s->min_partial);
	CHECK_LE(st.cpu_cached, s->cpu_limit);
	CHECK_LT(stp_pages_out(&f->tp) - base_pages, 3000 / 42);
	CHECK_GT(stp_pages_out(&f->tp), base_pages);
	freed = kmem_cache_shrink(s);
	CHECK_GT(freed, 0);
	CHECK_EQ_U(stp_pages_out(&f->tp), base_pages);
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_EQ(st.num_slabs, 0);
	CHECK_EQ(kmem_cache_shrink(s), 0);        /* nothing left to give */
	CHECK_EQ(kmem_cache_destroy(s), 0);
	fix_free(f);
}

TEST(shrink_all_with_no_allocator_is_refused)
{
	CHECK_EQ(slab_shrink_all(NULL), -MM_EINVAL);
	CHECK_REPORTED("allocator is NULL");
}

/*
 * Empty slabs of two caches, kmalloc-64 and kmalloc-4k (off-slab descriptors: giving its slabs
 * back empties descriptor slabs in turn) after everything was freed: shrinking all gives every
 * page back to the provider, and a second shrink finds nothing.
 */
TEST(shrink_all_returns_every_cache_s_empty_slabs)
{
	struct slab_fix *f = fix_new(1, 0);
	struct kmem_cache *c1 = kmem_cache_create(&f->a, "all-1", 96, 0, 0, NULL);
	struct kmem_cache *c2 = kmem_cache_create(&f->a, "all-2", 200, 0, 0, NULL);
	uint64_t base_pages = stp_pages_out(&f->tp);
	static void *o1[1000], *o2[1000], *o3[1000], *o4[1000];
	struct slab_stats st;

	CHECK_EQ(kmalloc_cache(&f->a, 4096)->offslab, 1);
	for (int i = 0; i < 1000; i++) {
		CHECK_NOT_NULL(o1[i] = kmem_cache_alloc(c1));
		CHECK_NOT_NULL(o2[i] = kmem_cache_alloc(c2));
		CHECK_NOT_NULL(o3[i] = kmalloc(&f->a, 64));
		CHECK_NOT_NULL(o4[i] = kmalloc(&f->a, 4096));
	}
	for (int i = 0; i < 1000; i++) {
		CHECK_EQ(kmem_cache_free(c1, o1[i]), 0);
		CHECK_EQ(kmem_cache_free(c2, o2[i]), 0);
		CHECK_EQ(kfree(&f->a, o3[i]), 0);
		CHECK_EQ(kfree(&f->a, o4[i]), 0);
	}
	CHECK_GT(stp_pages_out(&f->tp), base_pages);    /* min_partial empty slabs stayed */
	CHECK_GT(slab_shrink_all(&f->a), 0);
	CHECK_EQ_U(stp_pages_out(&f->tp), base_pages);
	CHECK_EQ(kmem_cache_stats(c1, &st), 0);
	CHECK_EQ(st.num_slabs, 0);
	CHECK_EQ(kmem_cache_stats(kmalloc_cache(&f->a, 64), &st), 0);
	CHECK_EQ(st.num_slabs, 0);
	CHECK_EQ(slab_shrink_all(&f->a), 0);
	CHECK_EQ(kmem_cache_destroy(c1), 0);
	CHECK_EQ(kmem_cache_destroy(c2), 0);
	fix_free(f);
}

TEST(flush_cpu_returns_cached_objects_to_slabs)
{
	struct slab_fix *f = fix_new(1, 0);
	struct kmem_cache *s = kmalloc_cache(&f->a, 64);
	struct slab_stats st;
	void *p[10];

	for (int i = 0; i < 10; i++)
		p[i] = kmalloc(&f->a, 64);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(kfree(&f->a, p[i]), 0);
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_GE(st.cpu_cached, 10);
	slab_flush_cpu(&f->a);
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_EQ(st.cpu_cached, 0);
	CHECK_EQ(st.active_slabs, 0);
	CHECK_EQ(kmem_cache_check(s), 0);
	fix_free(f);
}

/* ---- NUMA --------------------------------------------------------------------------------- */

TEST(alloc_node_places_objects_on_that_node)
{
	struct slab_fix *f = fix_new(2, 0);
	struct slab_allocator *a = &f->a;
	unsigned cpu = fix_cpu();
	struct kmem_cache *s;
	struct slab_stats st;
	void *p[2][100], *big;

	CHECK_EQ(slab_set_cpu_node(a, cpu, 1), 0);   /* this thread's CPU lives on node 1 */
	s = kmem_cache_create(a, "numa", 128, 0, 0, NULL);
	for (unsigned node = 0; node < 2; node++)
		for (int i = 0; i < 100; i++) {
			p[node][i] = kmem_cache_alloc_node(s, node);
			CHECK_EQ(stp_node_of(&f->tp, p[node][i]), node);
		}
	/* Plain allocations come from the CPU's home node. */
	big = kmem_cache_alloc(s);
	CHECK_EQ(stp_node_of(&f->tp, big), 1);
	CHECK_EQ(kmem_cache_free(s, big), 0);
	big = kmalloc_node(a, 64, 0);
	CHECK_EQ(stp_node_of(&f->tp, big), 0);
	CHECK_EQ(kfree(a, big), 0);
	big = kmalloc(a, 64);
	CHECK_EQ(stp_node_of(&f->tp, big), 1);
	CHECK_EQ(kfree(a, big), 0);
	big = kmalloc_node(a, 40000, 0);
	CHECK_EQ(stp_node_of(&f->tp, big), 0);
	CHECK_EQ(kfree(a, big), 0);
	big = kmalloc(a, 40000);
	CHECK_EQ(stp_node_of(&f->tp, big), 1);
	CHECK_EQ(kfree(a, big), 0);
	/* Node-0 objects freed by a node-1 CPU go straight back to their slabs. */
	for (unsigned node = 0; node < 2; node++)
		for (int i = 0; i < 100; i++)
			CHECK_EQ(kmem_cache_free(s, p[node][i]), 0);
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_GE(st.free_slow, 100);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(kmem_cache_check(s), 0);
	CHECK_EQ(kmem_cache_destroy(s), 0);
	fix_free(f);
}

TEST(home_node_out_of_memory_falls_back_to_another_node)
{
	for (unsigned debug = 0; debug < 2; debug++) {
		struct slab_fix *f = fix_new_mb(2, 0, 4);
		struct kmem_cache *s = kmem_cache_create(&f->a, "fallback", 4000, 0,
							 debug ? SLAB_DEBUG : 0, NULL);
		static void *obj[4000];
		int n = 0, on1 = 0;

		/* 4 MiB per node: node 0 runs out first, then node 1 serves SLAB_NODE_ANY. */
		while (n < 4000 && (obj[n] = kmem_cache_alloc(s)) != NULL)
			on1 += stp_node_of(&f->tp, obj[n++]) == 1;
		CHECK_LT(n, 4000);
		CHECK_GT(on1, 0);
		CHECK_LT(on1, n);
		CHECK_NULL(kmem_cache_alloc_node(s, 0));   /* a named node does not fall back */
		CHECK_EQ(mvt_report_count(), 0);
		for (int i = 0; i < n; i++)
			CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
		CHECK_EQ(kmem_cache_destroy(s), 0);
		fix_free(f);
	}
}

/* ---- provider layouts ---------------------------------------------------------------------- */

TEST(owner_words_inside_a_frame_array)
{
	struct slab_fix *f = fix_zalloc(sizeof(*f));
	struct kmem_cache *s, *off;
	static void *p[3000];

	/* Like the buddy's frame descriptors: one owner word per 64-byte frame. */
	CHECK_EQ(stp_init_stride(&f->tp, 64 << 20, 2, 64), 0);
	CHECK_EQ(slab_allocator_init(&f->a, &f->tp.p, 0), 0);
	s = kmem_cache_create(&f->a, "framed", 40, 0, 0, NULL);
	off = kmem_cache_create(&f->a, "framed-off", 4096, 0, 0, NULL);
	CHECK(off->offslab);
	for (int i = 0; i < 3000; i++) {
		p[i] = i % 3 == 0 ? kmem_cache_alloc(s) : i % 3 == 1 ? kmem_cache_alloc(off)
		     : kmalloc(&f->a, (size_t)(i * 37) % 20000 + 1);
		CHECK_NOT_NULL(p[i]);
	}
	CHECK_EQ(ksize(&f->a, p[0]), 40);
	for (int i = 0; i < 3000; i++)
		CHECK_EQ(kfree(&f->a, p[i]), 0);
	CHECK_EQ(kmem_cache_check(s), 0);
	CHECK_EQ(kmem_cache_check(off), 0);
	CHECK_EQ(kmem_cache_destroy(s), 0);
	CHECK_EQ(kmem_cache_destroy(off), 0);
	CHECK_EQ(stp_check_gaps(&f->tp), 0);                     /* only the owner words changed */
	fix_free(f);
}

/* ---- out of memory ------------------------------------------------------------------------ */

TEST(out_of_memory_returns_null_and_recovers)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;
	struct kmem_cache *s = kmem_cache_create(a, "oom", 1000, 0, 0, NULL);
	static void *obj[4000];
	unsigned reports;
	int n = 0;

	stp_set_limit(&f->tp, stp_pages_out(&f->tp) + 64);
	reports = mvt_report_count();
	while (n < 4000 && (obj[n] = kmem_cache_alloc(s)) != NULL)
		n++;
	CHECK_LT(n, 4000);
	CHECK_GT(n, 0);
	CHECK_NULL(kmalloc(a, 1 << 20));
	CHECK_NULL(kmalloc(a, 3000));  /* kmalloc-4k needs a fresh slab */
	CHECK_EQ(mvt_report_count(), reports);   /* running out is not a caller error */
	CHECK_EQ(kmem_cache_check(s), 0);
	for (int i = 0; i < n; i++)
		CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
	stp_set_limit(&f->tp, 0);
	obj[0] = kmalloc(a, 1 << 20);
	CHECK_NOT_NULL(obj[0]);
	CHECK_EQ(kfree(a, obj[0]), 0);
	CHECK_EQ(kmem_cache_destroy(s), 0);
	fix_free(f);
}

/* ---- statistics --------------------------------------------------------------------------- */

static int count_caches(const struct slab_stats *st, void *arg)
{
	(void)st;
	++*(int *)arg;
	return 0;
}

static int stop_at_kmalloc_64(const struct slab_stats *st, void *arg)
{
	(void)arg;
	return strcmp(st->name, "kmalloc-64") == 0 ? 42 : 0;
}

TEST(stats_add_up_and_format_like_slabinfo)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;
	struct kmem_cache *s = kmem_cache_create(a, "stats-test", 200, 0, 0, NULL);
	struct slab_stats st;
	static char buf[8192];
	char small[64];
	void *obj[500];
	int n = 0;
	size_t len;

	for (int i = 0; i < 500; i++)
		obj[i] = kmem_cache_alloc(s);
	for (int i = 0; i < 500; i += 3)
		CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_STREQ(st.name, "stats-test");
	CHECK_EQ(st.active_objs, 500 - 167);
	CHECK_EQ(st.alloc_fast + st.alloc_slow, 500);
	CHECK_EQ(st.free_fast + st.free_slow, 167);
	CHECK_EQ(st.num_objs, st.num_slabs * st.objperslab);
	CHECK_EQ(st.objsize, 200);
	CHECK_EQ(st.objperslab, s->objperslab);
	CHECK_EQ(st.pagesperslab, 1u << s->order);
	CHECK_LE(st.active_slabs, st.num_slabs);
	CHECK_GE(st.num_objs, st.active_objs + st.cpu_cached);
	CHECK_EQ(kmem_cache_stats(s, NULL), -MM_EINVAL);
	CHECK_REPORTED("stats pointer is NULL");

	CHECK_EQ(slab_for_each_cache(a, count_caches, &n), 0);
	CHECK_EQ(n, 2 + KMALLOC_NR_CLASSES + 1);
	CHECK_EQ(slab_for_each_cache(a, stop_at_kmalloc_64, NULL), 42);
	CHECK_EQ(slab_for_each_cache(a, NULL, NULL), -MM_EINVAL);
	CHECK_REPORTED("callback is NULL");

	len = slab_format_info(a, buf, sizeof(buf));
	CHECK_LT(len, sizeof(buf));
	CHECK_EQ(strlen(buf), len);
	CHECK(strstr(buf, "# name") == buf);
	CHECK_NOT_NULL(strstr(buf, "\nkmalloc-8k "));
	CHECK_NOT_NULL(strstr(buf, "\nstats-test "));
	{
		char want[64];

		snprintf(want, sizeof(want), "stats-test         %8llu",
			 (unsigned long long)st.active_objs);
		CHECK_NOT_NULL(strstr(buf, want));
	}
	CHECK_EQ(slab_format_info(a, small, sizeof(small)), len);   /* truncated, says what it needs */
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	CHECK_EQ(slab_format_info(a, NULL, 0), len);

	for (int i = 0; i < 500; i++)
		if (i % 3)
			CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
	CHECK_EQ(kmem_cache_stats(s, &st), 0);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(kmem_cache_destroy(s), 0);
	fix_free(f);
}

/* ---- fault injection (the failslab hook) --------------------------------------------------- */

TEST(fail_hook_rejects_a_null_allocator)
{
	CHECK_EQ(slab_set_fail_hook(NULL, NULL, NULL), -MM_EINVAL);
	CHECK_REPORTED("allocator is NULL");
}

struct hook_log {
	unsigned calls, fail_every;     /* fail every fail_every-th call (0: never) */
	const char *last_cache;
	size_t last_size;
};

static bool hook_fail(void *arg, const char *cache, size_t size)
{
	struct hook_log *h = arg;

	h->calls++;
	h->last_cache = cache;
	h->last_size = size;
	return h->fail_every && h->calls % h->fail_every == 0;
}

TEST(fail_hook_fails_cache_kmalloc_and_large_allocations_until_removed)
{
	struct slab_fix *f = fix_new(2, 0);
	struct slab_allocator *a = &f->a;
	struct kmem_cache *s = kmem_cache_create(a, "hooked", 100, 0, 0, NULL);
	struct hook_log h = { 0, 2, NULL, 0 };
	void *obj[9], *k, *m;
	unsigned got = 0;

	CHECK_NOT_NULL(s);
	CHECK_EQ(slab_set_fail_hook(a, hook_fail, &h), 0);
	for (int i = 0; i < 8; i++) {           /* every second call fails: 4 objects */
		obj[i] = kmem_cache_alloc(s);
		got += obj[i] != NULL;
	}
	CHECK_EQ_U(got, 4);
	CHECK_EQ_U(h.calls, 8);
	CHECK_EQ(strcmp(h.last_cache, "hooked"), 0);
	CHECK_EQ_U(h.last_size, 100);
	obj[8] = kmem_cache_alloc_node(s, 1);                   /* call 9 passes */
	CHECK_NOT_NULL(obj[8]);
	CHECK_NULL(kmem_cache_alloc_node(s, 1));                /* call 10 fails */
	h.fail_every = 1;                                        /* now every call fails */
	CHECK_NULL(kmalloc(a, 50));
	CHECK_EQ(strcmp(h.last_cache, "kmalloc-64"), 0);
	CHECK_NULL(kmalloc_node(a, 3000, 0));
	CHECK_NULL(kmalloc(a, 3 * MM_PAGE_SIZE));
	CHECK_EQ(strcmp(h.last_cache, "kmalloc-large"), 0);
	CHECK_EQ_U(h.last_size, 3 * MM_PAGE_SIZE);
	CHECK_EQ(slab_set_fail_hook(a, NULL, NULL), 0);         /* removed: nothing fails */
	h.calls = 0;
	k = kmalloc(a, 3 * MM_PAGE_SIZE);
	m = kmalloc(a, 50);
	CHECK_NOT_NULL(k);
	CHECK_NOT_NULL(m);
	CHECK_EQ_U(h.calls, 0);
	CHECK_EQ(kfree(a, k), 0);
	CHECK_EQ(kfree(a, m), 0);
	for (int i = 0; i < 9; i++)
		if (obj[i])
			CHECK_EQ(kmem_cache_free(s, obj[i]), 0);
	CHECK_EQ(kmem_cache_destroy(s), 0);
	fix_free(f);
}

/*
 * Flushing a CPU's lists can empty off-slab slabs past min_partial; freeing them puts their
 * descriptors on this CPU's descriptor-cache list, which slab_flush_cpu must flush too (found by
 * the guest's scenario=faultinj: one descriptor slab stayed held by an AP's list).
 */
TEST(flush_cpu_leaves_no_descriptor_on_the_cpu_list)
{
	struct slab_fix *f = fix_new(1, 0);
	struct slab_allocator *a = &f->a;
	struct kmem_cache *k = kmalloc_cache(a, 8192);
	struct slab_stats st;
	void *obj[64];

	CHECK_NOT_NULL(k);
	CHECK_EQ_U(k->offslab, 1);
	for (int i = 0; i < 64; i++) {
		obj[i] = kmalloc(a, 8192);
		CHECK_NOT_NULL(obj[i]);
	}
	CHECK_EQ(slab_shrink_all(a) >= 0, 1);
	for (int i = 0; i < 64; i++)
		CHECK_EQ(kfree(a, obj[i]), 0);
	slab_flush_cpu(a);
	CHECK_EQ(kmem_cache_stats(&a->desc_cache, &st), 0);
	CHECK_EQ_U(st.cpu_cached, 0);
	CHECK_EQ(kmem_cache_stats(k, &st), 0);
	CHECK_EQ_U(st.cpu_cached, 0);
	CHECK_EQ(slab_shrink_all(a) >= 0, 1);
	CHECK_EQ(kmem_cache_stats(&a->desc_cache, &st), 0);
	CHECK_EQ_U(st.active_objs, 0);
	fix_free(f);
}
