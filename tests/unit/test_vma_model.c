/*
 * Model-based randomized tests of mm/vma: the real mm_space and the sorted-array model of
 * vma_model.h run the same operations (mmap in all its forms, munmap, mprotect, stack growth,
 * brk, gap searches, split/merge/insert/erase primitives, bad arguments); after every operation
 * return codes and find_vma/lookup/intersection at random addresses must agree, every 32
 * operations the whole layout, the counters and vma_check() must. Fixed seeds.
 */
#include <mm/vma.h>

#include "mvtest.h"
#include "vma_model.h"

#define FULL_COMPARE_EVERY 32

static void run_model(bool topdown, unsigned fail_every, uint64_t seed, unsigned ops)
{
	static struct vharness h;          /* large (the model array): keep it off the stack */
	struct mvt_rng rng;
	unsigned peak = 0;

	CHECK_EQ(vharness_init(&h, topdown, fail_every), 0);
	mvt_rng_seed(&rng, seed);
	for (unsigned i = 0; i < ops; i++) {
		uint64_t r[4] = { mvt_rng_next(&rng), mvt_rng_next(&rng), mvt_rng_next(&rng),
				  mvt_rng_next(&rng) };
		const char *err = vharness_step(&h, r);

		if (!err && i % FULL_COMPARE_EVERY == 0)
			err = vharness_compare(&h);
		if (err)
			mvt_fail(__FILE__, __LINE__, "seed %llu: %s", (unsigned long long)seed, err);
		if (h.mm.map_count > peak)
			peak = (unsigned)h.mm.map_count;
	}
	CHECK(vharness_compare(&h) == NULL);
	/* The runs must actually build non-trivial layouts and exercise failures when asked. */
	CHECK_GT(peak, 40);
	if (fail_every)
		CHECK_GT(h.alloc_failed, 100);
	vharness_destroy(&h);
	CHECK_EQ(h.mm.map_count, 0);
	CHECK_EQ(h.live, 0);
}

TEST(model_random_topdown_two_seeds_120k_ops)
{
	run_model(true, 0, 1, 60000);
	run_model(true, 0, 2, 60000);
}

TEST(model_random_bottomup_100k_ops)
{
	run_model(false, 0, 3, 100000);
}

TEST(model_random_with_failing_allocator_100k_ops)
{
	/* Every 5th VMA allocation fails: failed operations must leave the space untouched. */
	run_model(true, 5, 4, 100000);
}

/*
 * Gap searches in a tall tree (AVL height >= 13, where top-down starts its walk at the last VMA
 * instead of the root), against the model, with random windows and alignments. Layout: about
 * about 6100 one-page VMAs at random 2-4 page distances in a 24576-page space, some of them
 * VM_GROWSDOWN/VM_GROWSUP (guard gaps), so gap sizes vary and many windows cut gaps:
 *
 *   |16p..| A |gap| B |gap|  S(grows down)  |gap| ... | Z |..24576p|
 */
TEST(model_gap_search_tall_tree_100k_queries)
{
	static struct vharness h;
	struct mvt_rng rng;
	uint64_t addr = 16 * MM_PAGE_SIZE, out, mout;

	CHECK_EQ(vharness_init_sized(&h, true, 0, 24576), 0);
	mvt_rng_seed(&rng, 5);
	for (;;) {
		uint64_t len = MM_PAGE_SIZE;
		uint64_t flags = vharness_flags[mvt_rng_below(&rng, MM_ARRAY_SIZE(vharness_flags))];

		if (flags & VM_SHARED)
			flags = vharness_flags[1];
		if (addr + len > h.mm.task_size)
			break;
		CHECK_EQ(mm_mmap(&h.mm, addr, len, flags, MM_MAP_FIXED, NULL, 0, &out), 0);
		CHECK_EQ(vh_mmap_model(&h, addr, len, MM_MAP_FIXED, flags, NULL, 0, &mout), 0);
		addr += len + (2 + mvt_rng_below(&rng, 3)) * MM_PAGE_SIZE;
	}
	CHECK(vharness_compare(&h) == NULL);
	CHECK_GE(h.mm.vma_root_gap & VMA_TREE_META_MASK, 13);
	for (unsigned i = 0; i < 100000; i++) {
		struct vma_unmapped_area_info info;
		uint64_t a = vh_addr(&h, mvt_rng_next(&rng)), b = vh_addr(&h, mvt_rng_next(&rng));
		uint64_t r = mvt_rng_next(&rng);
		int ret, mret;

		info.flags = r & 1 ? VMA_UNMAPPED_AREA_TOPDOWN : 0;
		info.length = (1 + (r >> 1) % 8) * MM_PAGE_SIZE;
		info.low_limit = a < b ? a : b;
		info.high_limit = r & 0x200 ? h.mm.task_size : a < b ? b : a;
		info.align_mask = ((UINT64_C(1) << ((r >> 12) % 4)) - 1) << MM_PAGE_SHIFT;
		info.align_offset = ((r >> 20) % 64) << MM_PAGE_SHIFT;
		ret = vma_unmapped_area(&h.mm, &info, &out);
		mret = vmodel_unmapped_area(&h.m, &info, &mout);
		CHECK_EQ(ret, mret);
		if (!ret)
			CHECK_EQ_U(out, mout);
	}
	vharness_destroy(&h);
}
