/*
 * buddy_util.h — helpers shared by the buddy and NUMA unit tests: set up an instance over a
 * malloc'ed metadata buffer, read the free-block shape, and look at frame states.
 */
#ifndef BUDDY_UTIL_H
#define BUDDY_UTIL_H

#include <mm/buddy.h>
#include <mm/numa.h>

#include <stdlib.h>

#include "buddy_shape.h"
#include "mvtest.h"

#define BT_R(start, nr, node) { (start), (nr), (node) }

/* Initialise b from cfg; returns the metadata buffer (free() it at the end). */
static inline void *bt_init_cfg(struct buddy *b, const struct buddy_config *cfg)
{
	size_t sz = buddy_meta_size(cfg->ranges, cfg->nr_ranges);
	void *meta;

	CHECK(sz > 0);
	meta = malloc(sz);
	CHECK_NOT_NULL(meta);
	CHECK_EQ(buddy_init(b, cfg, meta, sz), 0);
	CHECK_EQ(buddy_check(b), 0);
	return meta;
}

/* Plain instance: no watermarks (tests of placement do not want reserves), given pcp flag. */
static inline void *bt_init(struct buddy *b, const struct buddy_range *r, unsigned nr,
			    unsigned cfg_flags, unsigned nr_orders)
{
	struct buddy_config cfg = {
		.ranges = r, .nr_ranges = nr, .nr_orders = nr_orders,
		.flags = cfg_flags | BUDDY_CFG_NO_WATERMARKS,
	};

	return bt_init_cfg(b, &cfg);
}

/* Order of the free block headed by pfn, or -1 if pfn does not head a free block. */
static inline int bt_free_order(const struct buddy *b, pfn_t pfn)
{
	const struct buddy_frame *f = buddy_pfn_to_frame(b, pfn);

	if (!f || (f->flags & BUDDY_FRAME_STATE_MASK) != BUDDY_FRAME_FREE)
		return -1;
	return f->order;
}

/* The free-list shape: (pfn << 8 | order) of every free block, in pfn order. */
static inline unsigned bt_shape(const struct buddy *b, uint64_t *out, unsigned max)
{
	unsigned n = buddy_shape(b, out, max);

	CHECK_LE(n, max);
	return n;
}

static inline uint64_t bt_free_pages(struct buddy *b)
{
	struct buddy_stats st;

	CHECK_EQ(buddy_stats(b, &st), 0);
	return st.free_pages;
}

static inline struct buddy_stats bt_zone_stats(struct buddy *b, unsigned node, unsigned zone)
{
	struct buddy_stats st;

	CHECK_EQ(buddy_zone_stats(b, node, zone, &st), 0);
	return st;
}

/* Allocate and expect success. */
static inline pfn_t bt_alloc(struct buddy *b, unsigned node, unsigned order, unsigned flags)
{
	pfn_t pfn = UINT64_MAX;

	CHECK_EQ(buddy_alloc(b, node, order, flags, &pfn), 0);
	return pfn;
}

static inline unsigned bt_node_of(const struct buddy *b, pfn_t pfn)
{
	const struct buddy_frame *f = buddy_pfn_to_frame(b, pfn);

	CHECK_NOT_NULL(f);
	return f->node;
}

#endif /* BUDDY_UTIL_H */
