/*
 * buddy_model.h — a bitmap model of a buddy allocator instance, shared by the randomized unit
 * test (test_buddy_model.c) and the fuzzer (tests/fuzz/fuzz_buddy.c).
 *
 * The model knows only the ranges: one bit per pfn (set = allocated) and the zone "pieces"
 * (maximal runs of present frames of one node and one zone). Every operation is run on the
 * allocator and checked against the model:
 *   - an allocated block was entirely free in the model, is aligned to its order, lies inside
 *     one piece (so inside the ranges, one zone, one node) that the request may use;
 *   - a failed allocation (-MM_ENOMEM) means the model has no free aligned block of that order
 *     in any usable piece (the instance has no watermarks, and a failure first drains the
 *     calling CPU's lists, so with one thread every free frame is in the zones);
 *   - invalid frees (double, wrong order, misaligned, hole, tail frame) return -MM_EINVAL and
 *     change nothing;
 *   - free counts (zone free + per-CPU) equal the model's, and buddy_check() passes.
 *
 * The includer defines BM_ASSERT(cond) (CHECK in unit tests, abort in the fuzzer).
 */
#ifndef BUDDY_MODEL_H
#define BUDDY_MODEL_H

#include <mm/buddy.h>
#include <mm/numa.h>

#include <stdlib.h>
#include <string.h>

#include "buddy_shape.h"

#define BM_MAX_PIECES  (2 * BUDDY_MAX_RANGES)
#define BM_MAX_LIVE    4096
#define BM_RECENT      8

struct bm_piece {
	pfn_t start, end;
	unsigned node, zid;
};

struct bm_block {
	pfn_t pfn;
	unsigned order;
	unsigned refs;              /* extra references taken with buddy_frame_get */
};

struct bm {
	struct buddy *b;
	uint64_t *bits;             /* bit p set <=> pfn p allocated; covers [0, span) */
	pfn_t span;
	pfn_t bits_span;            /* frames the bits allocation can hold */
	struct bm_piece piece[BM_MAX_PIECES];
	unsigned nr_pieces;
	struct bm_block live[BM_MAX_LIVE];
	unsigned nr_live;
	struct bm_block recent[BM_RECENT];   /* recently freed, for double frees */
	unsigned nr_recent;
	uint64_t free_frames;
	pfn_t hole;                 /* a pfn inside the span with no memory, or UINT64_MAX */
	unsigned long allocs, failures, frees, invalid;
};

static inline bool bm_bit(const struct bm *m, pfn_t p)
{
	return (m->bits[p / 64] >> (p % 64)) & 1;
}

/* Is [p, p + 2^order) entirely free in the model? p is aligned to 2^order. */
static inline bool bm_range_free(const struct bm *m, pfn_t p, unsigned order)
{
	uint64_t n = UINT64_C(1) << order;

	if (n < 64) {
		uint64_t mask = ((UINT64_C(1) << n) - 1) << (p % 64);

		return !(m->bits[p / 64] & mask);
	}
	for (uint64_t w = p / 64; w < (p + n) / 64; w++)
		if (m->bits[w])
			return false;
	return true;
}

static inline void bm_set(struct bm *m, pfn_t p, unsigned order, bool alloc)
{
	for (pfn_t q = p; q < p + (UINT64_C(1) << order); q++) {
		BM_ASSERT(bm_bit(m, q) != alloc);
		if (alloc)
			m->bits[q / 64] |= UINT64_C(1) << (q % 64);
		else
			m->bits[q / 64] &= ~(UINT64_C(1) << (q % 64));
	}
	if (alloc)
		m->free_frames -= UINT64_C(1) << order;
	else
		m->free_frames += UINT64_C(1) << order;
}

static inline void bm_add_piece(struct bm *m, pfn_t s, pfn_t e, unsigned node)
{
	unsigned zid = s < BUDDY_DMA32_END_PFN ? BUDDY_ZONE_DMA32 : BUDDY_ZONE_NORMAL;
	unsigned i = m->nr_pieces;

	if (s >= e)
		return;
	BM_ASSERT(i < BM_MAX_PIECES);
	while (i > 0 && m->piece[i - 1].start > s) {
		m->piece[i] = m->piece[i - 1];
		i--;
	}
	m->piece[i] = (struct bm_piece){ s, e, node, zid };
	m->nr_pieces++;
}

/*
 * Build the model of b, which was just initialised from r (everything free). m must be zeroed
 * or previously initialised (its bit array is reused).
 */
static inline void bm_init(struct bm *m, struct buddy *b, const struct buddy_range *r,
			   unsigned nr)
{
	uint64_t *bits = m->bits;           /* reused when big enough (the fuzzer's hot loop) */
	pfn_t bits_span = m->bits_span;
	unsigned k = 0;

	memset(m, 0, sizeof(*m));
	m->b = b;
	m->hole = UINT64_MAX;
	for (unsigned i = 0; i < nr; i++) {
		pfn_t s = r[i].start, e = r[i].start + r[i].nr_pages;
		pfn_t cut = BUDDY_DMA32_END_PFN;

		bm_add_piece(m, s, e < cut ? e : cut, r[i].node);
		bm_add_piece(m, s > cut ? s : cut, e, r[i].node);
		if (e > m->span)
			m->span = e;
		m->free_frames += r[i].nr_pages;
	}
	/* merge touching pieces of one node and zone: a block may span them */
	for (unsigned i = 1; i < m->nr_pieces; i++) {
		struct bm_piece *last = &m->piece[k];

		if (last->end == m->piece[i].start && last->node == m->piece[i].node &&
		    last->zid == m->piece[i].zid)
			last->end = m->piece[i].end;
		else
			m->piece[++k] = m->piece[i];
	}
	m->nr_pieces = m->nr_pieces ? k + 1 : 0;
	for (unsigned i = 1; i < m->nr_pieces && m->hole == UINT64_MAX; i++)
		if (m->piece[i - 1].end < m->piece[i].start)
			m->hole = m->piece[i - 1].end;
	m->span = MM_ALIGN_UP(m->span, 1u << BUDDY_SECTION_SHIFT);
	if (bits && bits_span >= m->span) {
		memset(bits, 0, m->span / 8);
	} else {
		free(bits);
		bits = calloc(m->span / 64, sizeof(uint64_t));
		bits_span = m->span;
	}
	BM_ASSERT(bits != NULL);
	m->bits = bits;
	m->bits_span = bits_span;
}

static inline void bm_destroy(struct bm *m)
{
	free(m->bits);
	m->bits = NULL;
	m->bits_span = 0;
}

/* What a request may use: zones up to max_zid of nodes in allowed (only `only` if >= 0). */
struct bm_request {
	unsigned order, flags;
	unsigned preferred;
	nodemask_t allowed;
};

static inline bool bm_piece_usable(const struct bm_piece *p, const struct bm_request *rq)
{
	unsigned max_zid = (rq->flags & BUDDY_ALLOC_DMA32) ? BUDDY_ZONE_DMA32 : BUDDY_ZONE_NORMAL;

	if (p->zid > max_zid || !((rq->allowed >> p->node) & 1))
		return false;
	return !(rq->flags & BUDDY_ALLOC_THISNODE) || p->node == rq->preferred;
}

/* Is there a free aligned block of rq->order in some usable piece? (distances: all reachable) */
static inline bool bm_fit_exists(const struct bm *m, const struct bm_request *rq)
{
	uint64_t n = UINT64_C(1) << rq->order;

	for (unsigned i = 0; i < m->nr_pieces; i++) {
		const struct bm_piece *p = &m->piece[i];

		if (!bm_piece_usable(p, rq))
			continue;
		for (pfn_t q = MM_ALIGN_UP(p->start, n); q + n <= p->end; q += n)
			if (bm_range_free(m, q, rq->order))
				return true;
	}
	return false;
}

/* Check the outcome of an allocation request against the model and record it. */
static inline void bm_after_alloc(struct bm *m, const struct bm_request *rq, int ret, pfn_t pfn)
{
	uint64_t n = UINT64_C(1) << rq->order;
	const struct bm_piece *home = NULL;

	if (ret == -MM_ENOMEM) {
		BM_ASSERT(!bm_fit_exists(m, rq));
		m->failures++;
		return;
	}
	BM_ASSERT(ret == 0);
	BM_ASSERT((pfn & (n - 1)) == 0);
	for (unsigned i = 0; i < m->nr_pieces; i++)
		if (pfn >= m->piece[i].start && pfn + n <= m->piece[i].end)
			home = &m->piece[i];
	BM_ASSERT(home != NULL);
	BM_ASSERT(bm_piece_usable(home, rq));
	BM_ASSERT(bm_range_free(m, pfn, rq->order));
	bm_set(m, pfn, rq->order, true);
	BM_ASSERT(m->nr_live < BM_MAX_LIVE);
	m->live[m->nr_live++] = (struct bm_block){ pfn, rq->order, 0 };
	m->allocs++;
}

static inline void bm_forget(struct bm *m, unsigned i)
{
	m->recent[m->nr_recent++ % BM_RECENT] = m->live[i];
	bm_set(m, m->live[i].pfn, m->live[i].order, false);
	m->live[i] = m->live[--m->nr_live];
	m->frees++;
}

/*
 * Free live block i. how: 0 buddy_free, 1 buddy_frame_put, 2 take an extra reference first
 * (the block stays until its last put), 3 drop one extra reference if any.
 */
static inline void bm_free(struct bm *m, unsigned i, unsigned how)
{
	struct bm_block *blk = &m->live[i];

	switch (how % 4) {
	case 2:
		BM_ASSERT(buddy_frame_get(m->b, blk->pfn) == 0);
		blk->refs++;
		return;
	case 3:
		if (blk->refs) {
			BM_ASSERT(buddy_frame_put(m->b, blk->pfn) == 0);
			blk->refs--;
			BM_ASSERT(buddy_pfn_to_frame(m->b, blk->pfn)->flags & BUDDY_FRAME_ALLOC);
			return;
		}
		/* fall through */
	case 0:
		BM_ASSERT(buddy_free(m->b, blk->pfn, blk->order) == 0);
		break;
	default:
		BM_ASSERT(buddy_frame_put(m->b, blk->pfn) == 0);
		break;
	}
	if (blk->refs) {            /* other references keep it allocated */
		blk->refs--;
		return;
	}
	bm_forget(m, i);
}

/* One invalid free, chosen by kind and sel; it must fail with -MM_EINVAL and change nothing. */
static inline void bm_invalid_free(struct bm *m, unsigned kind, unsigned sel)
{
	struct buddy_stats before, after;
	int ret = 1;

	BM_ASSERT(buddy_stats(m->b, &before) == 0);
	switch (kind % 5) {
	case 0: {       /* double free, if the block was not handed out again */
		struct bm_block *r = m->nr_recent ? &m->recent[sel % (m->nr_recent < BM_RECENT ?
								      m->nr_recent : BM_RECENT)] : NULL;

		if (r && bm_range_free(m, r->pfn, 0))
			ret = buddy_free(m->b, r->pfn, r->order);
		break;
	}
	case 1:         /* wrong order */
		if (m->nr_live) {
			struct bm_block *l = &m->live[sel % m->nr_live];

			if (l->order > 0)
				ret = buddy_free(m->b, l->pfn, l->order - 1);
			else if (m->b->nr_orders > 1 && !(l->pfn & 1))
				ret = buddy_free(m->b, l->pfn, 1);
		}
		break;
	case 2:         /* misaligned, or a tail frame at order 0 */
		if (m->nr_live) {
			struct bm_block *l = &m->live[sel % m->nr_live];

			if (l->order > 0)
				ret = buddy_free(m->b, l->pfn + 1, sel & 1 ? 0 : l->order);
		}
		break;
	case 3:         /* a hole, or beyond every range */
		ret = buddy_free(m->b, m->hole != UINT64_MAX && (sel & 1) ? m->hole : m->span + sel,
				 0);
		break;
	default:        /* order out of range */
		ret = buddy_free(m->b, 0, m->b->nr_orders + sel % 4);
		break;
	}
	if (ret == 1)
		return;     /* nothing suitable to try */
	BM_ASSERT(ret == -MM_EINVAL);
	BM_ASSERT(buddy_stats(m->b, &after) == 0);
	BM_ASSERT(after.free_pages == before.free_pages && after.pcp_pages == before.pcp_pages);
	m->invalid++;
}

/* Counts agree and the checker is happy. */
static inline void bm_verify(struct bm *m)
{
	struct buddy_stats st;

	BM_ASSERT(buddy_check(m->b) == 0);
	BM_ASSERT(buddy_stats(m->b, &st) == 0);
	BM_ASSERT(st.free_pages + st.pcp_pages == m->free_frames);
	BM_ASSERT(st.allocs - st.frees == m->nr_live);
}

/* The free-list shape: (pfn << 8 | order) of every free block, in pfn order. */
static inline unsigned bm_shape(const struct buddy *b, uint64_t *out, unsigned max)
{
	unsigned n = buddy_shape(b, out, max);

	BM_ASSERT(n <= max);
	return n;
}

/* Free every live block, drain, and check everything is back and free. */
static inline void bm_free_all(struct bm *m)
{
	while (m->nr_live) {
		struct bm_block *l = &m->live[m->nr_live - 1];

		while (l->refs) {
			BM_ASSERT(buddy_frame_put(m->b, l->pfn) == 0);
			l->refs--;
		}
		BM_ASSERT(buddy_free(m->b, l->pfn, l->order) == 0);
		bm_forget(m, m->nr_live - 1);
	}
	BM_ASSERT(buddy_drain_all(m->b) >= 0);
	bm_verify(m);
}

#endif /* BUDDY_MODEL_H */
