/*
 * Unit tests for mm/buddy.h: bad arguments first, then layout (holes, zones, sections), split
 * and coalesce scenarios, reference counts, the owner word and the checker.
 *
 * Diagrams: one cell per frame or block; Fk = free block of order k, A = allocated, . = hole.
 */
#include "buddy_util.h"
#include "../../mm/buddy_internal.h"   /* white-box corruption tests */

/* ---- bad arguments ---- */

TEST(meta_size_rejects_bad_ranges)
{
	struct buddy_range ok = BT_R(0, 16, 0);
	struct buddy_range empty = BT_R(0, 0, 0);
	struct buddy_range node = BT_R(0, 16, MM_MAX_NODES);
	struct buddy_range huge = BT_R(BUDDY_MAX_PFN - 4, 8, 0);
	struct buddy_range overlap[2] = { BT_R(100, 50, 0), BT_R(0, 101, 1) };
	struct buddy_range many[BUDDY_MAX_RANGES + 1];

	CHECK_EQ(buddy_meta_size(NULL, 1), 0);
	CHECK_REPORTED("ranges is NULL");
	CHECK_EQ(buddy_meta_size(&ok, 0), 0);
	CHECK_REPORTED("no ranges");
	CHECK_EQ(buddy_meta_size(&empty, 1), 0);
	CHECK_REPORTED("empty range");
	CHECK_EQ(buddy_meta_size(&node, 1), 0);
	CHECK_REPORTED("node out of range");
	CHECK_EQ(buddy_meta_size(&huge, 1), 0);
	CHECK_REPORTED("beyond BUDDY_MAX_PFN");
	CHECK_EQ(buddy_meta_size(overlap, 2), 0);
	CHECK_REPORTED("ranges overlap");
	for (unsigned i = 0; i < MM_ARRAY_SIZE(many); i++)
		many[i] = (struct buddy_range)BT_R(i * 2, 1, 0);
	CHECK_EQ(buddy_meta_size(many, MM_ARRAY_SIZE(many)), 0);
	CHECK_REPORTED("BUDDY_MAX_RANGES");
	CHECK_GT(buddy_meta_size(many, BUDDY_MAX_RANGES), 0);
}

TEST(init_rejects_bad_config_and_small_buffer)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy_config cfg = { .ranges = &r, .nr_ranges = 1 };
	struct numa_distance bad_dist;
	size_t sz = buddy_meta_size(&r, 1);
	void *meta = malloc(sz);
	struct buddy b;

	CHECK_EQ(buddy_init(&b, &cfg, meta, sz - 1), -MM_EINVAL);
	CHECK_REPORTED("metadata buffer too small");
	CHECK_EQ(buddy_init(&b, &cfg, NULL, sz), -MM_EINVAL);
	CHECK_REPORTED("metadata buffer is NULL");
	CHECK_EQ(buddy_init(&b, NULL, meta, sz), -MM_EINVAL);
	CHECK_REPORTED("NULL allocator or config");
	cfg.nr_orders = BUDDY_MAX_ORDERS + 1;
	CHECK_EQ(buddy_init(&b, &cfg, meta, sz), -MM_EINVAL);
	CHECK_REPORTED("nr_orders above BUDDY_MAX_ORDERS");
	cfg.nr_orders = 0;
	cfg.flags = 1u << 30;
	CHECK_EQ(buddy_init(&b, &cfg, meta, sz), -MM_EINVAL);
	CHECK_REPORTED("unknown config flags");
	cfg.flags = 0;
	cfg.pcp_batch = 8;
	cfg.pcp_high = 4;
	CHECK_EQ(buddy_init(&b, &cfg, meta, sz), -MM_EINVAL);
	CHECK_REPORTED("pcp_high below pcp_batch");
	cfg.pcp_batch = cfg.pcp_high = 0;
	CHECK_EQ(numa_distance_init_default(&bad_dist, 2), 0);
	bad_dist.d[1][1] = 11;
	cfg.distance = &bad_dist;
	CHECK_EQ(buddy_init(&b, &cfg, meta, sz), -MM_EINVAL);
	CHECK_REPORTED("local distance of node 1 is not 10");
	r.node = 2;
	bad_dist.d[1][1] = 10;
	CHECK_EQ(buddy_init(&b, &cfg, meta, sz), -MM_EINVAL);
	CHECK_REPORTED("node is not in the distance table");
	r.node = 0;
	CHECK_EQ(buddy_init(&b, &cfg, meta, sz), 0);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(alloc_rejects_bad_arguments)
{
	struct buddy_range r = BT_R(0, 1024, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, 0, 0);
	pfn_t pfn;

	CHECK_EQ(buddy_alloc(&b, 0, BUDDY_DEFAULT_ORDERS, 0, &pfn), -MM_EINVAL);
	CHECK_REPORTED("order out of range");
	CHECK_EQ(buddy_alloc(&b, 1, 0, 0, &pfn), -MM_EINVAL);
	CHECK_REPORTED("node out of range");
	CHECK_EQ(buddy_alloc(&b, 0, 0, 1u << 9, &pfn), -MM_EINVAL);
	CHECK_REPORTED("unknown allocation flags");
	CHECK_EQ(buddy_alloc(&b, 0, 0, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL allocator or pfn pointer");
	CHECK_EQ(buddy_alloc_nodemask(&b, 0, 0x2, 0, 0, 0, &pfn), -MM_EINVAL);
	CHECK_REPORTED("allowed nodemask has no node with memory");
	CHECK_EQ(buddy_alloc_nodemask(&b, 3, 0x1, 0, 0, 0, &pfn), -MM_EINVAL);
	CHECK_REPORTED("preferred node out of range");
	CHECK_EQ(buddy_alloc_nodemask(&b, 0, 0x1, 0, 0, 3, &pfn), -MM_EINVAL);
	CHECK_REPORTED("local node out of range");
	CHECK_EQ(bt_free_pages(&b), 1024);
	free(meta);
}

TEST(free_rejects_order_out_of_range_and_misaligned_pfn)
{
	struct buddy_range r = BT_R(0, 1024, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p = bt_alloc(&b, 0, 2, 0);

	CHECK_EQ(buddy_free(&b, p, BUDDY_DEFAULT_ORDERS), -MM_EINVAL);
	CHECK_REPORTED("order out of range");
	CHECK_EQ(buddy_free(&b, p + 2, 2), -MM_EINVAL);
	CHECK_REPORTED("pfn is not aligned to the order");
	CHECK_EQ(buddy_free(&b, p + 1, 1), -MM_EINVAL);
	CHECK_REPORTED("pfn is not aligned to the order");
	CHECK_EQ(buddy_free(&b, p, 2), 0);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(free_rejects_unallocated_frame_and_double_free)
{
	struct buddy_range r = BT_R(0, 1024, 0);
	struct buddy b, bp;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	void *meta_pcp = bt_init(&bp, &r, 1, 0, 0);
	pfn_t p;

	/* never allocated: pfn 0 heads the initial free block */
	CHECK_EQ(buddy_free(&b, 0, 0), -MM_EINVAL);
	CHECK_REPORTED("already free (double free)");
	/* never allocated, inside a free block */
	CHECK_EQ(buddy_free(&b, 5, 0), -MM_EINVAL);
	CHECK_REPORTED("pfn is not allocated");
	/* freed twice; after the first free the block merged back into a larger one */
	p = bt_alloc(&b, 0, 0, 0);
	CHECK_EQ(buddy_free(&b, p, 0), 0);
	CHECK_EQ(buddy_free(&b, p, 0), -MM_EINVAL);
	CHECK_REPORTED("double free");
	/* freed twice with per-CPU lists: the first free parked it on the list */
	p = bt_alloc(&bp, 0, 0, 0);
	CHECK_EQ(buddy_free(&bp, p, 0), 0);
	CHECK_EQ(buddy_free(&bp, p, 0), -MM_EINVAL);
	CHECK_REPORTED("already free (double free)");
	CHECK_EQ(bt_free_pages(&b), 1024);
	CHECK_EQ(buddy_check(&b), 0);
	CHECK_EQ(buddy_check(&bp), 0);
	free(meta);
	free(meta_pcp);
}

TEST(free_rejects_wrong_order)
{
	struct buddy_range r = BT_R(0, 1024, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p = bt_alloc(&b, 0, 3, 0);

	CHECK_EQ(buddy_free(&b, p, 2), -MM_EINVAL);
	CHECK_REPORTED("wrong order");
	CHECK_EQ(buddy_free(&b, p, 0), -MM_EINVAL);
	CHECK_REPORTED("wrong order");
	CHECK_EQ(buddy_free(&b, p, 3), 0);
	CHECK_EQ(bt_free_pages(&b), 1024);
	free(meta);
}

TEST(free_rejects_tail_frame_hole_and_foreign_pfn)
{
	/* [0 .. 64) . . . [128 .. 192) */
	struct buddy_range r[2] = { BT_R(0, 64, 0), BT_R(128, 64, 0) };
	struct buddy b;
	void *meta = bt_init(&b, r, 2, BUDDY_CFG_NO_PCP, 0);
	pfn_t p = bt_alloc(&b, 0, 2, 0);

	CHECK_EQ(buddy_free(&b, p + 1, 0), -MM_EINVAL);
	CHECK_REPORTED("pfn is not allocated");
	CHECK_EQ(buddy_free(&b, 100, 0), -MM_EINVAL);
	CHECK_REPORTED("not a frame of this allocator");
	CHECK_EQ(buddy_free(&b, UINT64_C(1) << 35, 0), -MM_EINVAL);
	CHECK_REPORTED("not a frame of this allocator");
	CHECK_EQ(buddy_free(NULL, p, 2), -MM_EINVAL);
	CHECK_REPORTED("NULL allocator");
	CHECK_EQ(buddy_free(&b, p, 2), 0);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(frame_get_put_reject_frames_not_allocated)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p;

	CHECK_EQ(buddy_frame_get(&b, 0), -MM_EINVAL);
	CHECK_REPORTED("already free");
	CHECK_EQ(buddy_frame_put(&b, 3), -MM_EINVAL);
	CHECK_REPORTED("pfn is not allocated");
	CHECK_EQ(buddy_frame_get(&b, 999), -MM_EINVAL);
	CHECK_REPORTED("not a frame of this allocator");
	p = bt_alloc(&b, 0, 1, 0);
	CHECK_EQ(buddy_frame_put(&b, p), 0);
	CHECK_EQ(buddy_frame_put(&b, p), -MM_EINVAL);
	CHECK_REPORTED("double free");
	free(meta);
}

TEST(drain_and_watermark_setters_reject_bad_arguments)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, 0, 0);
	struct buddy_stats st;

	CHECK_EQ(buddy_drain_cpu(&b, MM_MAX_CPUS), -MM_EINVAL);
	CHECK_REPORTED("cpu id out of range");
	CHECK_EQ(buddy_drain_local(NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL allocator");
	CHECK_EQ(buddy_set_watermarks(&b, 0, BUDDY_ZONE_NORMAL, 0, 0, 0), -MM_EINVAL);
	CHECK_REPORTED("no such zone");
	CHECK_EQ(buddy_set_watermarks(&b, 0, BUDDY_ZONE_DMA32, 5, 4, 6), -MM_EINVAL);
	CHECK_REPORTED("min <= low <= high");
	CHECK_EQ(buddy_set_watermarks(&b, 0, BUDDY_ZONE_DMA32, 5, 6, 65), -MM_EINVAL);
	CHECK_REPORTED("above the zone's managed pages");
	CHECK_EQ(buddy_zone_stats(&b, 1, BUDDY_ZONE_DMA32, &st), -MM_EINVAL);
	CHECK_REPORTED("no such zone");
	CHECK_EQ(buddy_stats(&b, NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL allocator or stats");
	CHECK_EQ(buddy_check(NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL allocator");
	free(meta);
}

/* ---- the checker ---- */

/*
 * A frame marked free behind the allocator's back (on no free list, links poisoned by its last
 * list_del) is met when its buddy is freed and the merge takes it off "its" list: a BUG, not a
 * fault on the poisoned links.
 *   [0]A p   [1]A q -> forged FREE order 0   [2 .. 4)F1 ...
 */
TEST(merge_with_a_forged_free_buddy_is_a_bug)
{
	struct buddy_range r = BT_R(0, 16, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p = bt_alloc(&b, 0, 0, 0), q = bt_alloc(&b, 0, 0, 0);
	struct buddy_frame *qf = buddy_pfn_to_frame(&b, q);

	CHECK_EQ(p ^ q, 1);             /* buddies at order 0 */
	qf->flags = BUDDY_FRAME_FREE;
	qf->order = 0;
	qf->refcount = 0;
	CHECK_BUG(buddy_free(&b, p, 0));
	free(meta);
}

TEST(check_detects_corrupted_descriptors)
{
	/* [0 .. 4)A p  [4 .. 8)A q  [8 .. 16)F3  [16 .. 32)F4  [32 .. 64)F5 */
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p = bt_alloc(&b, 0, 2, 0), q = bt_alloc(&b, 0, 2, 0);
	struct buddy_frame *head = buddy_pfn_to_frame(&b, p), *qh = buddy_pfn_to_frame(&b, q);
	struct buddy_frame *free_head = buddy_pfn_to_frame(&b, 32);

	CHECK_EQ(p, 0);
	CHECK_EQ(q, 4);
	CHECK_EQ(bt_free_order(&b, 32), 5);
	/* a free block on its list whose head lost its state */
	free_head->flags = 0;
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("block on a free list is not marked free");
	free_head->flags = BUDDY_FRAME_FREE;
	/* a tail of an allocated block that claims to head a block: overlap */
	head[1].flags = BUDDY_FRAME_ALLOC;
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("blocks overlap");
	head[1].flags = 0;
	/* allocated with no reference */
	qh->refcount = 0;
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("allocated block with reference count 0");
	/* marked free but on no list */
	qh->flags = BUDDY_FRAME_FREE;
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("marked free but is on no free list");
	qh->flags = BUDDY_FRAME_ALLOC;
	qh->refcount = 1;
	/* an order that does not fit the alignment */
	qh->order = 3;
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("not aligned to its order");
	qh->order = 2;
	/* a broken back link in a free list */
	free_head->lru.next->prev = &head->lru;
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("free list is corrupt");
	free_head->lru.next->prev = &free_head->lru;
	CHECK_EQ(buddy_check(&b), 0);
	CHECK_EQ(buddy_free(&b, p, 2), 0);
	CHECK_EQ(buddy_free(&b, q, 2), 0);
	CHECK_EQ(bt_free_order(&b, 0), 6);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(check_detects_unmerged_buddies_and_owner_flags_left_on_tails)
{
	struct buddy_range r = BT_R(0, 16, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 5);
	pfn_t p = bt_alloc(&b, 0, 3, 0);     /* [0 .. 8)A   [8 .. 16)F3 */
	struct buddy_frame *f = buddy_pfn_to_frame(&b, p);
	struct buddy_zone *z = &b.zones[f->zone];

	CHECK_EQ(p, 0);
	/* put [0, 8) on the order-3 list behind the allocator's back: it should have merged */
	f->flags = BUDDY_FRAME_FREE;
	f->refcount = 0;
	list_add(&f->lru, &z->free_list[3]);
	z->nr_free[3]++;
	z->free_pages += 8;
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("two free buddies of the same order were not merged");
	list_del(&f->lru);
	z->nr_free[3]--;
	z->free_pages -= 8;
	f->flags = BUDDY_FRAME_ALLOC;
	f->refcount = 1;
	/* a wrong free-page count */
	z->free_pages++;
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("free_pages does not match the free lists");
	z->free_pages--;
	CHECK_EQ(buddy_check(&b), 0);

	f[1].flags = 1u << BUDDY_FRAME_OWNER_SHIFT;   /* the owner marks a tail ... */
	CHECK_EQ(buddy_check(&b), 0);                 /* ... which is fine while allocated */
	CHECK_EQ(buddy_free(&b, p, 3), 0);            /* ... but it forgot to clear it */
	CHECK_EQ(buddy_check(&b), -MM_EUCLEAN);
	CHECK_REPORTED("tail frame still carries owner flags");
	f[1].flags = 0;
	CHECK_EQ(bt_free_order(&b, 0), 4);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(free_of_allocated_block_without_reference_is_a_bug)
{
	struct buddy_range r = BT_R(0, 16, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p = bt_alloc(&b, 0, 0, 0);

	buddy_pfn_to_frame(&b, p)->refcount = 0;
	CHECK_BUG(buddy_free(&b, p, 0));
	free(meta);
}

/* ---- layout ---- */

TEST(init_frees_an_unaligned_range_in_largest_aligned_blocks)
{
	/*
	 * pfn   3 | 4 5 6 7 | 8 ... 15 | 16 ......... 31 | 32 33
	 *      F0 |   F2    |    F3    |       F4        |  F1
	 */
	struct buddy_range r = BT_R(3, 31, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, 0, 0);
	struct buddy_stats st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);

	CHECK_EQ(bt_free_order(&b, 3), 0);
	CHECK_EQ(bt_free_order(&b, 4), 2);
	CHECK_EQ(bt_free_order(&b, 8), 3);
	CHECK_EQ(bt_free_order(&b, 16), 4);
	CHECK_EQ(bt_free_order(&b, 32), 1);
	CHECK_EQ(st.managed_pages, 31);
	CHECK_EQ(st.free_pages, 31);
	CHECK_EQ(st.nr_free[0], 1);
	CHECK_EQ(st.nr_free[1], 1);
	CHECK_EQ(st.nr_free[2], 1);
	CHECK_EQ(st.nr_free[3], 1);
	CHECK_EQ(st.nr_free[4], 1);
	CHECK_NULL(buddy_pfn_to_frame(&b, 2));
	CHECK_NULL(buddy_pfn_to_frame(&b, 34));
	free(meta);
}

TEST(pfn_descriptor_roundtrip_across_sparse_sections)
{
	/* three ranges in sections 0, 1 and 5; sections 2-4 have no memory and no descriptors */
	const pfn_t s = UINT64_C(1) << BUDDY_SECTION_SHIFT;
	struct buddy_range r[3] = { BT_R(0, 100, 0), BT_R(s + 5, 50, 0), BT_R(5 * s + 7, 10, 1) };
	struct buddy b;
	void *meta = bt_init(&b, r, 3, 0, 0);

	CHECK_EQ(b.nr_sections, 6);
	CHECK_EQ(b.nr_frames, 100 + 50 + 10);
	for (unsigned i = 0; i < 3; i++) {
		for (pfn_t p = r[i].start; p < r[i].start + r[i].nr_pages; p++) {
			struct buddy_frame *f = buddy_pfn_to_frame(&b, p);

			CHECK_NOT_NULL(f);
			CHECK_EQ_U(buddy_frame_to_pfn(&b, f), p);
			CHECK_EQ(f->node, r[i].node);
		}
		CHECK_NULL(buddy_pfn_to_frame(&b, r[i].start + r[i].nr_pages));
	}
	CHECK_NULL(buddy_pfn_to_frame(&b, s + 4));
	CHECK_NULL(buddy_pfn_to_frame(&b, 3 * s));
	CHECK_NULL(buddy_pfn_to_frame(&b, 7 * s));
	CHECK_EQ(bt_free_pages(&b), 160);
	free(meta);
}

TEST(metadata_counts_holes_only_inside_partly_present_sections)
{
	/* one section: [10, 20) . . . [1000, 1010): descriptors for [10, 1010) */
	struct buddy_range r[2] = { BT_R(1000, 10, 0), BT_R(10, 10, 0) };
	struct buddy b;
	void *meta = bt_init(&b, r, 2, 0, 0);

	CHECK_EQ(b.nr_sections, 1);
	CHECK_EQ(b.nr_frames, 1000);
	CHECK_NULL(buddy_pfn_to_frame(&b, 500));
	CHECK_GT(buddy_meta_size(r, 2), 1000 * sizeof(struct buddy_frame));
	free(meta);
}

/* ---- split and coalesce ---- */

TEST(alloc_splits_the_smallest_sufficient_block)
{
	/*
	 * before   [0 ......................... 16) F4
	 * alloc 0  [0]A [1]F0 [2 3]F1 [4 .. 8)F2 [8 ...... 16)F3
	 */
	struct buddy_range r = BT_R(0, 16, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 5);
	struct buddy_stats st;

	CHECK_EQ(bt_free_order(&b, 0), 4);
	CHECK_EQ(bt_alloc(&b, 0, 0, 0), 0);
	CHECK_EQ(bt_free_order(&b, 1), 0);
	CHECK_EQ(bt_free_order(&b, 2), 1);
	CHECK_EQ(bt_free_order(&b, 4), 2);
	CHECK_EQ(bt_free_order(&b, 8), 3);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.free_pages, 15);
	/*
	 * alloc order 1: the order-1 block at 2 is the smallest that fits; nothing else splits
	 *          [0]A [1]F0 [2 3]A [4 .. 8)F2 [8 ...... 16)F3
	 */
	CHECK_EQ(bt_alloc(&b, 0, 1, 0), 2);
	CHECK_EQ(bt_free_order(&b, 1), 0);
	CHECK_EQ(bt_free_order(&b, 4), 2);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(free_coalesces_with_free_buddies_only)
{
	/*
	 * four order-0 allocations from [0, 16):
	 *          [0]A [1]A [2]A [3]A [4 .. 8)F2 [8 ...... 16)F3
	 * free 1:  [0]A [1]F0 [2]A [3]A ...          buddy 0 allocated: no merge
	 * free 0:  [0 1]F1 [2]A [3]A ...             merges to order 1; buddy [2 3] busy
	 * free 3:  [0 1]F1 [2]A [3]F0 ...
	 * free 2:  [0 ......................... 16)F4  2+3 -> 0..3 -> 0..7 -> 0..15
	 */
	struct buddy_range r = BT_R(0, 16, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 5);

	for (pfn_t i = 0; i < 4; i++)
		CHECK_EQ(bt_alloc(&b, 0, 0, 0), i);
	CHECK_EQ(buddy_free(&b, 1, 0), 0);
	CHECK_EQ(bt_free_order(&b, 1), 0);
	CHECK_EQ(buddy_free(&b, 0, 0), 0);
	CHECK_EQ(bt_free_order(&b, 0), 1);
	CHECK_EQ(bt_free_order(&b, 1), -1);
	CHECK_EQ(buddy_free(&b, 3, 0), 0);
	CHECK_EQ(bt_free_order(&b, 3), 0);
	CHECK_EQ(buddy_check(&b), 0);
	CHECK_EQ(buddy_free(&b, 2, 0), 0);
	CHECK_EQ(bt_free_order(&b, 0), 4);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).nr_free[4], 1);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(no_coalescing_across_a_hole)
{
	/*
	 * pfn  0 1 2 3 | 4 5 | 6 7 | 8 ........ 15
	 *        F2    |  F1 | . . |     F3
	 * [0,8) can never form: 6 and 7 do not exist, so [4,6) stays order 1 and [0,4) order 2.
	 */
	struct buddy_range r[2] = { BT_R(0, 6, 0), BT_R(8, 8, 0) };
	struct buddy b;
	void *meta = bt_init(&b, r, 2, BUDDY_CFG_NO_PCP, 0);
	pfn_t got[14];

	CHECK_EQ(bt_free_order(&b, 0), 2);
	CHECK_EQ(bt_free_order(&b, 4), 1);
	CHECK_EQ(bt_free_order(&b, 8), 3);
	for (unsigned i = 0; i < 14; i++) {
		got[i] = bt_alloc(&b, 0, 0, 0);
		CHECK(got[i] != 6 && got[i] != 7);
	}
	CHECK_EQ(buddy_alloc(&b, 0, 0, 0, &got[0]), -MM_ENOMEM);
	for (unsigned i = 0; i < 14; i++)
		CHECK_EQ(buddy_free(&b, got[i], 0), 0);
	CHECK_EQ(bt_free_order(&b, 0), 2);
	CHECK_EQ(bt_free_order(&b, 4), 1);
	CHECK_EQ(bt_free_order(&b, 8), 3);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(no_coalescing_across_nodes_but_across_adjacent_ranges_of_one_node)
{
	/*
	 * node 0 [0 .. 8) + node 1 [8 .. 16):   [0 .. 8)F3 | [8 .. 16)F3   (never one F4)
	 * node 0 [0 .. 8) + node 0 [8 .. 16):   [0 ......... 16)F4
	 */
	struct buddy_range two[2] = { BT_R(0, 8, 0), BT_R(8, 8, 1) };
	struct buddy_range one[2] = { BT_R(8, 8, 0), BT_R(0, 8, 0) };
	struct buddy b, c;
	void *mb = bt_init(&b, two, 2, BUDDY_CFG_NO_PCP, 0);
	void *mc = bt_init(&c, one, 2, BUDDY_CFG_NO_PCP, 0);
	pfn_t p;

	CHECK_EQ(bt_free_order(&b, 0), 3);
	CHECK_EQ(bt_free_order(&b, 8), 3);
	CHECK_EQ(bt_free_order(&c, 0), 4);
	CHECK_EQ(buddy_alloc(&b, 0, 4, 0, &p), -MM_ENOMEM);
	p = bt_alloc(&b, 1, 0, BUDDY_ALLOC_THISNODE);
	CHECK_EQ(bt_node_of(&b, p), 1);
	CHECK_EQ(buddy_free(&b, p, 0), 0);
	CHECK_EQ(bt_free_order(&b, 8), 3);
	CHECK_EQ(bt_free_order(&b, 0), 3);
	CHECK_EQ(buddy_check(&b), 0);
	CHECK_EQ(buddy_check(&c), 0);
	free(mb);
	free(mc);
}

TEST(zones_split_at_4GiB_and_fall_back_normal_to_dma32)
{
	/*
	 * one range of node 0 across 4 GiB (pfn 0x100000):
	 *   [0xffff0 .. 0x100000) DMA32 16 frames | [0x100000 .. 0x100010) NORMAL 16 frames
	 */
	struct buddy_range r = BT_R(BUDDY_DMA32_END_PFN - 16, 32, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p;

	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).managed_pages, 16);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_NORMAL).managed_pages, 16);
	CHECK_EQ(buddy_pfn_to_frame(&b, BUDDY_DMA32_END_PFN - 1)->zone,
		 b.zone_of[0][BUDDY_ZONE_DMA32]);
	CHECK_EQ(buddy_pfn_to_frame(&b, BUDDY_DMA32_END_PFN)->zone,
		 b.zone_of[0][BUDDY_ZONE_NORMAL]);
	/* a 32-frame block would straddle the zones: it does not exist */
	CHECK_EQ(buddy_alloc(&b, 0, 5, 0, &p), -MM_ENOMEM);
	/* DMA32 requests stay below 4 GiB */
	p = bt_alloc(&b, 0, 0, BUDDY_ALLOC_DMA32);
	CHECK_LT(p, BUDDY_DMA32_END_PFN);
	CHECK_EQ(buddy_free(&b, p, 0), 0);
	/* ordinary requests use NORMAL first, then fall back to DMA32 */
	p = bt_alloc(&b, 0, 4, 0);
	CHECK_EQ_U(p, BUDDY_DMA32_END_PFN);
	CHECK_EQ_U(bt_alloc(&b, 0, 4, 0), BUDDY_DMA32_END_PFN - 16);
	CHECK_EQ(buddy_alloc(&b, 0, 0, BUDDY_ALLOC_DMA32, &p), -MM_ENOMEM);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(nr_orders_is_configurable_up_to_the_cap)
{
	struct buddy_range r = BT_R(0, 1u << (BUDDY_MAX_ORDERS - 1), 0);
	struct buddy b, c;
	void *mb = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, BUDDY_MAX_ORDERS);
	void *mc;
	struct buddy_range small = BT_R(0, 8, 0);
	pfn_t p;

	CHECK_EQ(bt_free_order(&b, 0), BUDDY_MAX_ORDERS - 1);
	p = bt_alloc(&b, 0, BUDDY_MAX_ORDERS - 1, 0);
	CHECK_EQ(p, 0);
	CHECK_EQ(buddy_free(&b, p, BUDDY_MAX_ORDERS - 1), 0);
	/* one order: every frame is its own block and nothing ever merges */
	mc = bt_init(&c, &small, 1, BUDDY_CFG_NO_PCP, 1);
	for (pfn_t i = 0; i < 8; i++)
		CHECK_EQ(bt_free_order(&c, i), 0);
	CHECK_EQ(buddy_alloc(&c, 0, 1, 0, &p), -MM_EINVAL);
	CHECK_REPORTED("order out of range");
	CHECK_EQ(buddy_check(&c), 0);
	free(mb);
	free(mc);
}

/* ---- reference counts, owner word, statistics ---- */

TEST(frame_references_delay_the_free)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p = bt_alloc(&b, 0, 2, 0);
	struct buddy_frame *f = buddy_pfn_to_frame(&b, p);

	CHECK_EQ(f->refcount, 1);
	CHECK_EQ(buddy_frame_get(&b, p), 0);
	CHECK_EQ(buddy_frame_get(&b, p), 0);
	CHECK_EQ(f->refcount, 3);
	CHECK_EQ(buddy_free(&b, p, 2), 0);        /* drops the allocation's reference */
	CHECK_EQ(buddy_frame_put(&b, p), 0);
	CHECK_EQ(f->flags & BUDDY_FRAME_STATE_MASK, BUDDY_FRAME_ALLOC);
	CHECK_EQ(bt_free_pages(&b), 60);
	CHECK_EQ(buddy_frame_put(&b, p), 0);      /* last one frees at the allocation order */
	CHECK_EQ(bt_free_pages(&b), 64);
	CHECK_EQ(f->refcount, 0);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(owner_word_and_flags_are_cleared_for_the_next_owner)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	pfn_t p = bt_alloc(&b, 0, 0, 0);
	struct buddy_frame *f = buddy_pfn_to_frame(&b, p);
	int owner;

	CHECK_NULL(f->priv);
	f->priv = &owner;
	f->flags |= 3u << BUDDY_FRAME_OWNER_SHIFT;
	CHECK_EQ(buddy_check(&b), 0);
	CHECK_EQ(buddy_free(&b, p, 0), 0);
	CHECK_EQ(bt_alloc(&b, 0, 0, 0), p);
	CHECK_NULL(f->priv);
	CHECK_EQ(f->flags, BUDDY_FRAME_ALLOC);
	free(meta);
}

TEST(statistics_count_allocations_frees_and_failures)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	struct buddy_stats st;
	pfn_t p[3], q;

	p[0] = bt_alloc(&b, 0, 0, 0);
	p[1] = bt_alloc(&b, 0, 3, 0);
	p[2] = bt_alloc(&b, 0, 5, 0);
	CHECK_EQ(buddy_alloc(&b, 0, 5, 0, &q), -MM_ENOMEM);
	CHECK_EQ(buddy_free(&b, p[1], 3), 0);
	CHECK_EQ(buddy_stats(&b, &st), 0);
	CHECK_EQ(st.allocs, 3);
	CHECK_EQ(st.frees, 1);
	CHECK_EQ(st.alloc_failures, 1);
	CHECK_EQ(st.managed_pages, 64);
	CHECK_EQ(st.free_pages, 64 - 1 - 32);
	CHECK_EQ(buddy_free(&b, p[0], 0), 0);
	CHECK_EQ(buddy_free(&b, p[2], 5), 0);
	CHECK_EQ(buddy_stats(&b, &st), 0);
	CHECK_EQ(st.frees, 3);
	CHECK_EQ(st.nr_free[6], 1);
	free(meta);
}
