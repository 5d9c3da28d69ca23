/*
 * mm/buddy_check.c — the buddy allocator's consistency checker and statistics readers.
 *
 * Lock order: buddy_check() takes every zone lock in ascending zone index (the only place that
 * holds more than one) and requires that no CPU is inside a per-CPU section of the instance, since
 * per-CPU lists have no lock. The statistics readers take one zone lock at a time and read per-CPU
 * counters with relaxed loads.
 *
 * What the checker proves, for every zone:
 *   - each free list is a well-formed list of descriptors of this zone, marked FREE with the
 *     list's order, aligned to it, and no two free buddies of the same order were left unmerged;
 *   - list lengths, nr_free, the nonempty mask and free_pages agree;
 *   - each per-CPU list is well formed, holds only PCP frames of this zone, matches its count and
 *     respects pcp_high;
 * and, walking every descriptor in pfn order, that the frames of the zone are partitioned into
 * blocks: each block has a head in exactly one state (FREE, PCP, ALLOC) aligned to its order,
 * its tails carry no state (so blocks do not overlap) and lie in the same zone with no hole;
 * the FREE and PCP heads found this way are exactly those on the lists, and free + per-CPU +
 * allocated frames add up to the zone's managed pages.
 */
#include "buddy_internal.h"

static int corrupt(const char *what)
{
	mm_env_report("buddy_check", what);
	return -MM_EUCLEAN;
}

/* Is p the address of one of b's descriptors? */
static bool is_frame(const struct buddy *b, const struct buddy_frame *p)
{
	uintptr_t lo = (uintptr_t)b->frames, x = (uintptr_t)p;

	return x >= lo && x < lo + b->nr_frames * sizeof(*p) && (x - lo) % sizeof(*p) == 0;
}

static struct buddy_frame *buddy_of(const struct buddy *b, const struct buddy_frame *f,
				    unsigned order)
{
	const struct buddy_section *s = &b->sections[f->section];
	uint64_t off = (buddy_frame_to_pfn(b, f) ^ (UINT64_C(1) << order)) - s->start;

	return off < s->nr ? &s->frames[off] : NULL;
}

static int check_free_lists(const struct buddy *b, const struct buddy_zone *z, uint64_t *heads)
{
	uint64_t pages = 0;

	*heads = 0;
	for (unsigned o = 0; o < BUDDY_MAX_ORDERS; o++) {
		long n = list_check(&z->free_list[o], z->managed_pages + 1);
		struct list_head *p;

		if (n < 0)
			return corrupt("a zone free list is corrupt (broken links)");
		if ((uint64_t)n != z->nr_free[o])
			return corrupt("nr_free does not match the free list length");
		if (o >= b->nr_orders && n)
			return corrupt("free block of an order >= nr_orders");
		if (((z->nonempty >> o) & 1) != (n != 0))
			return corrupt("nonempty order mask does not match the free lists");
		list_for_each(p, &z->free_list[o]) {
			struct buddy_frame *f = list_entry(p, struct buddy_frame, lru), *bf;

			if (!is_frame(b, f))
				return corrupt("free list links something that is not a descriptor");
			if (f->zone != z->idx)
				return corrupt("free block on the list of another zone");
			if (buddy_frame_flags_(f) != BUDDY_FRAME_FREE)
				return corrupt("block on a free list is not marked free");
			if (f->order != o)
				return corrupt("free block's order does not match its list");
			if (buddy_frame_to_pfn(b, f) & ((UINT64_C(1) << o) - 1))
				return corrupt("free block is not aligned to its order");
			bf = o + 1 < b->nr_orders ? buddy_of(b, f, o) : NULL;
			if (bf && bf->zone == z->idx && buddy_frame_flags_(bf) == BUDDY_FRAME_FREE &&
			    bf->order == o)
				return corrupt("two free buddies of the same order were not merged");
			pages += UINT64_C(1) << o;
		}
		*heads += (uint64_t)n;
	}
	if (pages != z->free_pages)
		return corrupt("free_pages does not match the free lists");
	return 0;
}

static int check_pcp_lists(const struct buddy *b, const struct buddy_zone *z, uint64_t *pages)
{
	*pages = 0;
	for (unsigned c = 0; c < MM_MAX_CPUS; c++) {
		const struct buddy_pcp *pcp = &z->pcp[c];
		long n = list_check(&pcp->list, z->managed_pages + 1);
		struct list_head *p;

		if (n < 0)
			return corrupt("a per-CPU list is corrupt (broken links)");
		if ((uint64_t)n != pcp->count)
			return corrupt("per-CPU list length does not match its count");
		if (pcp->count > z->pcp_high)
			return corrupt("per-CPU list holds more than pcp_high frames");
		list_for_each(p, &pcp->list) {
			struct buddy_frame *f = list_entry(p, struct buddy_frame, lru);

			if (!is_frame(b, f))
				return corrupt("per-CPU list links something that is not a descriptor");
			if (f->zone != z->idx)
				return corrupt("per-CPU list holds a frame of another zone");
			if (buddy_frame_flags_(f) != BUDDY_FRAME_PCP || f->order != 0)
				return corrupt("frame on a per-CPU list is not marked per-CPU order 0");
		}
		*pages += (uint64_t)n;
	}
	return 0;
}

struct zone_tally {
	uint64_t free_pages, free_heads, pcp_pages, total;
};

/* Check the block that starts at descriptor off of section s; *len = its frame count. */
static int check_block(const struct buddy *b, const struct buddy_section *s, uint64_t off,
		       struct zone_tally *tally, uint64_t *len)
{
	const struct buddy_frame *f = &s->frames[off];
	unsigned flags = buddy_frame_flags_(f), st = flags & BUDDY_FRAME_STATE_MASK, order;
	pfn_t pfn = s->start + off;
	const struct buddy_zone *z;
	struct zone_tally *zt;
	uint64_t n;

	if (f->zone >= b->nr_zones)
		return corrupt("descriptor names a zone that does not exist");
	z = &b->zones[f->zone];
	if (f->node != z->node ||
	    z->zid != (pfn < BUDDY_DMA32_END_PFN ? BUDDY_ZONE_DMA32 : BUDDY_ZONE_NORMAL))
		return corrupt("descriptor's node or zone does not match its pfn");
	if (st == 0)
		return corrupt("frame belongs to no block (no state and no head before it)");
	if (st != BUDDY_FRAME_FREE && st != BUDDY_FRAME_PCP && st != BUDDY_FRAME_ALLOC)
		return corrupt("frame has an invalid state combination");
	if (st != BUDDY_FRAME_ALLOC && (flags & BUDDY_FRAME_OWNER_MASK))
		return corrupt("free frame still carries owner flags");
	order = st == BUDDY_FRAME_PCP ? 0 : f->order;
	if (order >= b->nr_orders)
		return corrupt("block order >= nr_orders");
	n = UINT64_C(1) << order;
	if (pfn & (n - 1))
		return corrupt("block is not aligned to its order");
	if (off + n > s->nr)
		return corrupt("block runs past its section's descriptors");
	if ((st == BUDDY_FRAME_ALLOC) != (f->refcount != 0))
		return corrupt(st == BUDDY_FRAME_ALLOC ? "allocated block with reference count 0"
						       : "free frame with a nonzero reference count");
	for (uint64_t t = 1; t < n; t++) {
		unsigned tf = buddy_frame_flags_(&f[t]);

		if (tf & BUDDY_FRAME_HOLE)
			return corrupt("block covers a hole");
		if (tf & BUDDY_FRAME_STATE_MASK)
			return corrupt("blocks overlap (a tail frame heads another block)");
		if (f[t].zone != f->zone)
			return corrupt("block spans two zones");
		if (st != BUDDY_FRAME_ALLOC && (tf & BUDDY_FRAME_OWNER_MASK))
			return corrupt("free block's tail frame still carries owner flags");
	}
	zt = &tally[f->zone];
	if (st == BUDDY_FRAME_FREE) {
		zt->free_pages += n;
		zt->free_heads++;
	} else if (st == BUDDY_FRAME_PCP) {
		zt->pcp_pages++;
	}
	zt->total += n;
	*len = n;
	return 0;
}

static int check_frames(const struct buddy *b, struct zone_tally *tally)
{
	for (uint64_t si = 0; si < b->nr_sections; si++) {
		const struct buddy_section *s = &b->sections[si];

		if (s->nr && (!is_frame(b, s->frames) || !is_frame(b, s->frames + s->nr - 1)))
			return corrupt("section table points outside the descriptor array");
		for (uint64_t off = 0, len; off < s->nr; off += len) {
			const struct buddy_frame *f = &s->frames[off];
			int ret;

			len = 1;
			if (f->section != si)
				return corrupt("descriptor's section index is wrong");
			if (buddy_frame_flags_(f) & BUDDY_FRAME_HOLE) {
				if (f->zone != BUDDY_NO_ZONE)
					return corrupt("hole descriptor belongs to a zone");
				continue;
			}
			ret = check_block(b, s, off, tally, &len);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int check_locked(struct buddy *b)
{
	struct zone_tally tally[BUDDY_MAX_ZONES];
	uint64_t heads[BUDDY_MAX_ZONES], pcp[BUDDY_MAX_ZONES];
	int ret;

	memset(tally, 0, sizeof(tally));
	for (unsigned i = 0; i < b->nr_zones; i++) {
		ret = check_free_lists(b, &b->zones[i], &heads[i]);
		if (!ret)
			ret = check_pcp_lists(b, &b->zones[i], &pcp[i]);
		if (ret)
			return ret;
	}
	ret = check_frames(b, tally);
	if (ret)
		return ret;
	for (unsigned i = 0; i < b->nr_zones; i++) {
		const struct buddy_zone *z = &b->zones[i];

		if (tally[i].free_heads != heads[i])
			return corrupt("a frame is marked free but is on no free list");
		if (tally[i].free_pages != z->free_pages)
			return corrupt("free_pages does not match the free blocks' descriptors");
		if (tally[i].pcp_pages != pcp[i])
			return corrupt("a frame is marked per-CPU but is on no per-CPU list");
		if (tally[i].total != z->managed_pages)
			return corrupt("the zone's blocks do not add up to its managed pages");
	}
	return 0;
}

int buddy_check(struct buddy *b)
{
	int ret;

	if (!b)
		return MM_INVAL("NULL allocator");
	for (unsigned i = 0; i < b->nr_zones; i++)
		mm_env_lock(&b->zones[i].lock);
	ret = check_locked(b);
	for (unsigned i = b->nr_zones; i-- > 0;)
		mm_env_unlock(&b->zones[i].lock);
	return ret;
}

/* ---- statistics ---- */

static void zone_stats_add(struct buddy_zone *z, struct buddy_stats *st)
{
	mm_env_lock(&z->lock);
	st->managed_pages += z->managed_pages;
	st->free_pages += z->free_pages;
	for (unsigned o = 0; o < BUDDY_MAX_ORDERS; o++)
		st->nr_free[o] += z->nr_free[o];
	for (unsigned w = 0; w < BUDDY_NR_WMARKS; w++)
		st->wmark[w] += z->wmark[w];
	mm_env_unlock(&z->lock);
	st->wmark_skips += buddy_ld64_(&z->wmark_skips);
	for (unsigned c = 0; c < MM_MAX_CPUS; c++) {
		const struct buddy_pcp *p = &z->pcp[c];

		st->pcp_pages += __atomic_load_n(&p->count, __ATOMIC_RELAXED);
		st->allocs += buddy_ld64_(&p->numa_hit) + buddy_ld64_(&p->numa_miss);
		st->frees += buddy_ld64_(&p->frees);
		st->pcp_hits += buddy_ld64_(&p->pcp_hits);
		st->pcp_refills += buddy_ld64_(&p->pcp_refills);
		st->pcp_drains += buddy_ld64_(&p->pcp_drains);
	}
}

int buddy_zone_stats(struct buddy *b, unsigned node, unsigned zone, struct buddy_stats *st)
{
	struct buddy_zone *z;

	if (!b || !st)
		return MM_INVAL("NULL allocator or stats");
	if (node >= MM_MAX_NODES || zone >= BUDDY_NR_ZONES ||
	    b->zone_of[node][zone] == BUDDY_NO_ZONE)
		return MM_INVAL("no such zone (node/zone has no memory)");
	z = &b->zones[b->zone_of[node][zone]];
	memset(st, 0, sizeof(*st));
	zone_stats_add(z, st);
	st->pcp_high = z->pcp_high;
	st->pcp_batch = z->pcp_batch;
	return 0;
}

int buddy_stats(struct buddy *b, struct buddy_stats *st)
{
	if (!b || !st)
		return MM_INVAL("NULL allocator or stats");
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < b->nr_zones; i++)
		zone_stats_add(&b->zones[i], st);
	st->alloc_failures = buddy_ld64_(&b->alloc_failures);
	return 0;
}
