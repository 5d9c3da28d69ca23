/*
 * fuzz_buddy — libFuzzer target for the buddy allocator and NUMA policies.
 *
 * Each input is a fresh instance over a small three-node layout with holes and a range across
 * 4 GiB, configured by the first two bytes, then a sequence of 3-byte operations:
 *
 *   byte 0: nr_orders - 1 (low 4 bits), per-CPU lists off (bit 4), batch (bits 5-7)
 *   byte 1: pcp high extra over batch
 *   then per operation [op, a, b]:
 *     op % 8 = 0..2  allocate: order a % nr_orders, flags b & 0xf, CPU node (b >> 4) % 3,
 *                    directly or through policy (a >> 4) % 5 (none, bind, preferred,
 *                    interleave, default)
 *              3..4  free live block a (of the live list), how = b (free/put/get/put-extra)
 *              5     drain the local per-CPU lists
 *              6     an invalid free of kind a, selector b (must be rejected, changing nothing)
 *              7     invalid arguments to alloc / policy calls (must be rejected)
 * Every result is checked against the bitmap model (tests/unit/buddy_model.h); the checker runs
 * every 32 operations and at the end, when everything is freed and the free lists must be back
 * in their initial shape. Any mismatch aborts.
 */
#include <mm/buddy.h>
#include <mm/numa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BM_ASSERT(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_buddy: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)
#include "../unit/buddy_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define G4 BUDDY_DMA32_END_PFN

/*
 *   node 0  [0x10 .. 0x13c)  .  [0x150 .. 0x218)            holes below 0x10 and at 0x13c
 *   node 1  [0x400 .. 0x5f4)
 *   node 2  [4G-64 .. 4G+128)                               DMA32 | NORMAL
 *   node 1          [4G+128 .. 4G+200)                      touches node 2
 */
static const struct buddy_range ranges[] = {
	{ 0x10, 300, 0 }, { 0x150, 200, 0 }, { 0x400, 500, 1 }, { G4 - 64, 192, 2 },
	{ G4 + 128, 72, 1 },
};
#define TOTAL_FRAMES (300 + 200 + 500 + 192 + 72)

static const uint8_t dist[3][3] = { { 10, 21, 31 }, { 21, 10, 17 }, { 31, 17, 10 } };

static void fuzz_alloc(struct bm *m, struct numa_policy *pol, uint8_t a, uint8_t bb)
{
	struct bm_request rq = {
		.order = a % m->b->nr_orders,
		.flags = bb & BUDDY_ALLOC_VALID,
		.allowed = NUMA_ALL_NODES,
	};
	unsigned local = (unsigned)(bb >> 4) % 3, which = (unsigned)(a >> 4) % 5;
	pfn_t pfn = 0;
	int ret;

	if (which == 0) {
		rq.preferred = local;
		ret = buddy_alloc(m->b, local, rq.order, rq.flags, &pfn);
	} else {
		struct numa_policy *p = &pol[which - 1];

		rq.preferred = local;
		if (p->mode == NUMA_POLICY_BIND)
			rq.allowed = p->nodes;
		else if (p->mode == NUMA_POLICY_PREFERRED)
			rq.preferred = (unsigned)__builtin_ctzll(p->nodes);
		ret = numa_alloc_pages(m->b, p, rq.order, rq.flags, local, &pfn);
		if (p->mode == NUMA_POLICY_INTERLEAVE)
			rq.preferred = p->il_prev;
	}
	bm_after_alloc(m, &rq, ret, pfn);
}

static void fuzz_bad_args(struct bm *m, uint8_t a, uint8_t bb)
{
	struct numa_policy pol;
	pfn_t pfn;

	switch (a % 4) {
	case 0:
		BM_ASSERT(buddy_alloc(m->b, 0, m->b->nr_orders + bb % 8, 0, &pfn) == -MM_EINVAL);
		break;
	case 1:
		BM_ASSERT(buddy_alloc(m->b, 3 + bb % 20, 0, 0, &pfn) == -MM_EINVAL);
		break;
	case 2:
		BM_ASSERT(buddy_alloc(m->b, 0, 0, BUDDY_ALLOC_VALID + 1 + bb, &pfn) == -MM_EINVAL);
		break;
	default:
		/* any mask with a bit >= 3 names a missing node; an empty mask is invalid too */
		BM_ASSERT(numa_policy_init(&pol, m->b, NUMA_POLICY_BIND,
					   ((nodemask_t)bb << 3) & NUMA_ALL_NODES) == -MM_EINVAL);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *meta;
	static size_t meta_size;
	static struct bm m;
	static uint64_t before[TOTAL_FRAMES], after[TOTAL_FRAMES];
	struct numa_distance d;
	struct buddy_config cfg = { .ranges = ranges, .nr_ranges = MM_ARRAY_SIZE(ranges),
				    .distance = &d };
	struct numa_policy pol[4];
	struct buddy b;
	unsigned nb, na, ops = 0;

	if (size < 2)
		return 0;
	if (!meta) {
		meta_size = buddy_meta_size(ranges, MM_ARRAY_SIZE(ranges));
		meta = malloc(meta_size);
		BM_ASSERT(meta != NULL);
	}
	BM_ASSERT(numa_distance_init_default(&d, 3) == 0);
	memcpy(d.d[0], dist[0], 3);
	memcpy(d.d[1], dist[1], 3);
	memcpy(d.d[2], dist[2], 3);
	cfg.nr_orders = 1 + (data[0] & 0xf);
	cfg.flags = BUDDY_CFG_NO_WATERMARKS | ((data[0] & 0x10) ? BUDDY_CFG_NO_PCP : 0);
	cfg.pcp_batch = 1 + (data[0] >> 5);
	cfg.pcp_high = cfg.pcp_batch + data[1] % 64;
	BM_ASSERT(buddy_init(&b, &cfg, meta, meta_size) == 0);
	BM_ASSERT(numa_policy_init(&pol[0], &b, NUMA_POLICY_BIND, 0x6) == 0);
	BM_ASSERT(numa_policy_init(&pol[1], &b, NUMA_POLICY_PREFERRED, 0x4) == 0);
	BM_ASSERT(numa_policy_init(&pol[2], &b, NUMA_POLICY_INTERLEAVE, 0x7) == 0);
	BM_ASSERT(numa_policy_init(&pol[3], &b, NUMA_POLICY_DEFAULT, 0) == 0);
	bm_init(&m, &b, ranges, MM_ARRAY_SIZE(ranges));
	nb = bm_shape(&b, before, TOTAL_FRAMES);
	bm_verify(&m);

	for (size_t i = 2; i + 3 <= size; i += 3, ops++) {
		uint8_t op = data[i] % 8, a = data[i + 1], bb = data[i + 2];

		if (op <= 2 || (op <= 4 && m.nr_live == 0))
			fuzz_alloc(&m, pol, a, bb);
		else if (op <= 4)
			bm_free(&m, a % m.nr_live, bb);
		else if (op == 5)
			BM_ASSERT(buddy_drain_local(&b) >= 0);
		else if (op == 6)
			bm_invalid_free(&m, a, bb);
		else
			fuzz_bad_args(&m, a, bb);
		if (ops % 32 == 31)
			bm_verify(&m);
	}
	bm_verify(&m);
	bm_free_all(&m);
	na = bm_shape(&b, after, TOTAL_FRAMES);
	BM_ASSERT(na == nb && memcmp(before, after, nb * sizeof(before[0])) == 0);
	BM_ASSERT(m.free_frames == TOTAL_FRAMES);
	return 0;           /* m keeps its bit array for the next input */
}
