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
