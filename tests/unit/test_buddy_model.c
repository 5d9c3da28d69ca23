/*
 * Model-based randomized tests of the buddy allocator: fixed seeds, >= 100,000 operations each,
 * against the bitmap model of buddy_model.h. Phases alternate between filling and emptying so
 * that both exhaustion and wide coalescing happen; at the end everything is freed and the free
 * lists must have exactly their initial shape.
 *
 * Layout (two nodes, holes, a range across 4 GiB, node 0 and node 1 touching, a far section):
 *
 *   node 0  [0x10 .. +2000)                                       DMA32
 *   node 0  [4G-1500 .. 4G+1500)                                  DMA32 | NORMAL
 *   node 1          [4G+1500 .. +1000)  (touches node 0: no merging across)
 *   node 1                      . . . [4G+2600 .. +2000)          hole of 100 before it
 *   node 0                                        [4G+40000 .. +700)  another section
 */
#include "buddy_util.h"

#define BM_ASSERT(cond) CHECK(cond)
#include "buddy_model.h"

#define G4 BUDDY_DMA32_END_PFN

static const struct buddy_range model_ranges[] = {
	BT_R(0x10, 2000, 0),
	BT_R(G4 - 1500, 3000, 0),
	BT_R(G4 + 1500, 1000, 1),
	BT_R(G4 + 2600, 2000, 1),
	BT_R(G4 + 40000, 700, 0),
};

static unsigned pick_order(struct mvt_rng *rng, unsigned nr_orders)
{
	unsigned r = (unsigned)mvt_rng_below(rng, 100);

	if (r < 50)
		return 0;
	if (r < 80)
		return 1 + (unsigned)mvt_rng_below(rng, 3);
	return (unsigned)mvt_rng_below(rng, nr_orders);
}

static const unsigned flag_choices[] = {
	0, 0, 0, BUDDY_ALLOC_DMA32, BUDDY_ALLOC_THISNODE, BUDDY_ALLOC_HIGH,
	BUDDY_ALLOC_DMA32 | BUDDY_ALLOC_THISNODE, BUDDY_ALLOC_NO_WMARK,
};

/* One allocation, directly or through a NUMA policy, checked by the model. */
static void model_alloc(struct bm *m, struct mvt_rng *rng, struct numa_policy *pol)
{
	struct bm_request rq = {
		.order = pick_order(rng, m->b->nr_orders),
		.flags = flag_choices[mvt_rng_below(rng, MM_ARRAY_SIZE(flag_choices))],
		.allowed = NUMA_ALL_NODES,
	};
	unsigned local = (unsigned)mvt_rng_below(rng, 2);
	unsigned which = (unsigned)mvt_rng_below(rng, 10);
	pfn_t pfn = 0;
	int ret;

	if (which < 6) {
		rq.preferred = local;
		ret = buddy_alloc(m->b, local, rq.order, rq.flags, &pfn);
	} else {
		struct numa_policy *p = &pol[which - 6];

		switch (p->mode) {
		case NUMA_POLICY_BIND:
			rq.preferred = local;
			rq.allowed = p->nodes;
			break;
		case NUMA_POLICY_PREFERRED:
			rq.preferred = (unsigned)__builtin_ctzll(p->nodes);
			break;
		default:
			rq.preferred = local;
			break;
		}
		ret = numa_alloc_pages(m->b, p, rq.order, rq.flags, local, &pfn);
		if (p->mode == NUMA_POLICY_INTERLEAVE)
			rq.preferred = p->il_prev;     /* the node the interleave chose */
	}
	bm_after_alloc(m, &rq, ret, pfn);
}

static void run_model(uint64_t seed, unsigned ops, unsigned cfg_flags, unsigned batch,
		      unsigned high, unsigned nr_orders)
{
	struct buddy_config cfg = {
		.ranges = model_ranges, .nr_ranges = MM_ARRAY_SIZE(model_ranges),
		.nr_orders = nr_orders,
		.flags = cfg_flags | BUDDY_CFG_NO_WATERMARKS, .pcp_batch = batch, .pcp_high = high,
	};
	static uint64_t before[4096], after[4096];
	static struct bm m;
	struct buddy b;
	void *meta = bt_init_cfg(&b, &cfg);
	struct numa_policy pol[4];
	unsigned nb = bt_shape(&b, before, 4096), na;
	struct mvt_rng rng;

	CHECK_EQ(numa_policy_init(&pol[0], &b, NUMA_POLICY_BIND, 0x2), 0);
	CHECK_EQ(numa_policy_init(&pol[1], &b, NUMA_POLICY_PREFERRED, 0x1), 0);
	CHECK_EQ(numa_policy_init(&pol[2], &b, NUMA_POLICY_INTERLEAVE, 0x3), 0);
	CHECK_EQ(numa_policy_init(&pol[3], &b, NUMA_POLICY_DEFAULT, 0), 0);
	bm_init(&m, &b, model_ranges, MM_ARRAY_SIZE(model_ranges));
	CHECK_NE_U(m.hole, UINT64_MAX);
	mvt_rng_seed(&rng, seed);
	for (unsigned op = 0; op < ops; op++) {
		bool filling = (op / 10000) % 2 == 0;
		unsigned r = (unsigned)mvt_rng_below(&rng, 100);
		unsigned alloc_pct = filling ? 60 : 30;

		if (r < alloc_pct || m.nr_live == 0)
			model_alloc(&m, &rng, pol);
		else if (r < 92)
			bm_free(&m, (unsigned)mvt_rng_below(&rng, m.nr_live),
				(unsigned)mvt_rng_below(&rng, 8) == 0 ? 2 + (unsigned)mvt_rng_below(&rng, 2)
								     : (unsigned)mvt_rng_below(&rng, 2));
		else if (r < 97)
			bm_invalid_free(&m, (unsigned)mvt_rng_below(&rng, 5),
					(unsigned)mvt_rng_below(&rng, 1u << 16));
		else
			CHECK_GE(buddy_drain_local(&b), 0);
		if (op % 2000 == 0)
			bm_verify(&m);
	}
	bm_verify(&m);
	printf("seed %llu: %lu allocs, %lu failures, %lu frees, %lu invalid frees rejected\n",
	       (unsigned long long)seed, m.allocs, m.failures, m.frees, m.invalid);
	CHECK_GT(m.failures, 100);        /* exhaustion was reached */
	CHECK_GT(m.invalid, 1000);
	bm_free_all(&m);
	na = bt_shape(&b, after, 4096);
	CHECK_EQ(na, nb);
	CHECK_EQ(memcmp(before, after, nb * sizeof(before[0])), 0);
	CHECK_EQ(bt_free_pages(&b), 8700);
	bm_destroy(&m);
	free(meta);
}

TEST(model_random_ops_with_pcp_seed_1)
{
	run_model(1, 120000, 0, 7, 31, 0);
}

TEST(model_random_ops_without_pcp_seed_2)
{
	run_model(2, 120000, BUDDY_CFG_NO_PCP, 0, 0, 0);
}

TEST(model_random_ops_pcp_batch_1_max_order_13_seed_3)
{
	run_model(3, 100000, 0, 1, 1, 13);
}
