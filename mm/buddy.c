/*
 * mm/buddy.c — allocation, freeing, per-CPU lists, reference counts and watermarks of the buddy
 * allocator (mm/buddy.h). buddy_init.c sets an instance up; buddy_check.c holds the consistency
 * checker and the statistics readers.
 *
 * Lock order:
 *   1. per-CPU section (mm_env_cpu_enter/exit): gives this CPU its zone->pcp[cpu] in every zone
 *      and its drain request flag. Every allocation and free runs inside one.
 *   2. zone->lock: that zone's free lists, nr_free, nonempty, free_pages and watermarks.
 *      At most one zone lock is held at a time; buddy_check() alone takes all of them, in
 *      ascending zone index, and requires that no CPU is in a section.
 * Frame reference counts are atomic and need no lock. A frame's state byte changes under its
 * zone lock when it enters or leaves a free list, and otherwise only by the CPU that owns the
 * frame at that moment (allocator of the block, or the per-CPU list's CPU); it is accessed with
 * relaxed atomics because a merging CPU peeks at a neighbour's state while its owner frees it.
 *
 * Fast paths (order 0, per-CPU lists enabled): an allocation is one zonelist step, a watermark
 * check (two relaxed loads) and a list pop; a free is a lookup, three state checks and a push.
 * Nothing on them takes a lock or an atomic read-modify-write (see frame_release()).
 */
#include "buddy_internal.h"

/* ---- zone free lists (zone->lock held) ---- */

static inline void zone_set_free_pages(struct buddy_zone *z, uint64_t v)
{
	__atomic_store_n(&z->free_pages, v, __ATOMIC_RELAXED);
}

/*
 * Put a block on / take it off its free list. free_pages is not touched here: a split or a
 * merge moves frames between orders without changing the total, so zone_take_locked() and
 * buddy_zone_free_locked_() update it once per operation.
 */
static inline void zone_add_free(struct buddy_zone *z, struct buddy_frame *f, unsigned order)
{
	f->order = (uint8_t)order;
	buddy_frame_set_flags_(f, BUDDY_FRAME_FREE);
	list_add(&f->lru, &z->free_list[order]);
	z->nr_free[order]++;
	z->nonempty |= 1u << order;
}

static inline void zone_del_free(struct buddy_zone *z, struct buddy_frame *f, unsigned order)
{
	/*
	 * A descriptor that claims to be free but is on no free list (memory corruption, or an
	 * owner that rewrote the state byte) would make list_del follow poisoned or foreign links.
	 * Catch it here as a BUG (Linux's CONFIG_DEBUG_LIST check) rather than as a stray fault.
	 */
	MM_BUG_ON(f->lru.next == LIST_POISON_NEXT || f->lru.prev == LIST_POISON_PREV ||
		  f->lru.next->prev != &f->lru || f->lru.prev->next != &f->lru);
	list_del(&f->lru);
	z->nr_free[order]--;
	if (list_empty(&z->free_list[order]))
		z->nonempty &= ~(1u << order);
	buddy_frame_set_flags_(f, 0);
}

/*
 * Take a block of `order` from z (Linux's __rmqueue_smallest): the smallest non-empty order
 * >= order is split, the upper halves going back on the lists. The head returned has state 0.
 * A block lies in one section, so its frames are consecutive descriptors: f + 2^o is the head
 * of its upper half.
 *
 *   order-2 request, smallest free block order 4 at pfn P:
 *     [P ................ P+16)   take
 *     [P .. P+8)[P+8 .. P+16)     P+8 back as order 3
 *     [P..P+4)[P+4..P+8)          P+4 back as order 2; return P
 */
static struct buddy_frame *zone_take_locked(struct buddy_zone *z, unsigned order)
{
	uint32_t avail = z->nonempty >> order;
	struct buddy_frame *f;
	unsigned o;

	if (!avail)
		return NULL;
	o = order + (unsigned)__builtin_ctz(avail);
	f = list_first_entry(&z->free_list[o], struct buddy_frame, lru);
	BUDDY_DBG_BUG_ON(buddy_frame_flags_(f) != BUDDY_FRAME_FREE || f->order != o);
	zone_del_free(z, f, o);
	while (o > order) {
		o--;
		zone_add_free(z, f + (UINT64_C(1) << o), o);
	}
	zone_set_free_pages(z, z->free_pages - (UINT64_C(1) << order));
	return f;
}

/*
 * Free a block into z, merging it with its buddy (pfn ^ 2^order) for as long as the buddy is the
 * head of a free block of the same order in the same zone (Linux's __free_one_page). A hole, a
 * frame of another zone or node, an allocated or per-CPU frame, or a free block of another
 * order stops the merge, so blocks never merge across holes, zones or nodes.
 *
 *   free pfn 5 at order 0; F = free block, A = allocated:
 *     before  [0 1 2 3]F  [4]F [5]A [6]A [7]A
 *     5 + its buddy 4    -> [4 5] order 1; its buddy [6 7] is not free: stop
 *     after   [0 1 2 3]F  [4 5]F    [6]A [7]A
 */
void buddy_zone_free_locked_(struct buddy *b, struct buddy_zone *z, struct buddy_frame *f,
			     unsigned order)
{
	const struct buddy_section *s = &b->sections[f->section];
	pfn_t pfn = s->start + (pfn_t)(f - s->frames);

	BUDDY_DBG_BUG_ON(buddy_frame_flags_(f) & BUDDY_FRAME_STATE_MASK);
	zone_set_free_pages(z, z->free_pages + (UINT64_C(1) << order));
	while (order + 1 < b->nr_orders) {
		pfn_t buddy_pfn = pfn ^ (UINT64_C(1) << order);
		uint64_t off = buddy_pfn - s->start;
		struct buddy_frame *bf;

		if (off >= s->nr)
			break;
		bf = &s->frames[off];
		/* zone first: it is fixed, and a frame of another zone changes under another lock */
		if (bf->zone != z->idx || buddy_frame_flags_(bf) != BUDDY_FRAME_FREE ||
		    bf->order != order)
			break;
		zone_del_free(z, bf, order);
		if (buddy_pfn < pfn) {
			pfn = buddy_pfn;
			f = bf;
		}
		order++;
	}
	zone_add_free(z, f, order);
}

/* ---- per-CPU lists (caller is in the section of the list's CPU, or that CPU is quiescent) ---- */

static inline void pcp_set_count(struct buddy_pcp *pcp, uint32_t count)
{
	__atomic_store_n(&pcp->count, count, __ATOMIC_RELAXED);
}

/* Move up to n frames from the cold end of pcp's list back into z. Returns how many. */
static __attribute__((noinline)) unsigned pcp_release(struct buddy *b, struct buddy_zone *z, struct buddy_pcp *pcp,
			    unsigned n)
{
	unsigned done = 0;

	mm_env_lock(&z->lock);
	while (done < n && !list_empty(&pcp->list)) {
		struct buddy_frame *f = list_entry(pcp->list.prev, struct buddy_frame, lru);

		BUDDY_DBG_BUG_ON(buddy_frame_flags_(f) != BUDDY_FRAME_PCP);
		list_del(&f->lru);
		buddy_frame_set_flags_(f, 0);
		buddy_zone_free_locked_(b, z, f, 0);
		done++;
	}
	mm_env_unlock(&z->lock);
	pcp_set_count(pcp, pcp->count - done);
	buddy_inc64_(&pcp->pcp_drains);
	return done;
}

/* Move up to batch order-0 frames from z to the list (Linux's rmqueue_bulk). */
static __attribute__((noinline)) unsigned pcp_refill(struct buddy_zone *z, struct buddy_pcp *pcp)
{
	unsigned n = 0;

	mm_env_lock(&z->lock);
	while (n < z->pcp_batch) {
		struct buddy_frame *f = zone_take_locked(z, 0);

		if (!f)
			break;
		f->order = 0;
		buddy_frame_set_flags_(f, BUDDY_FRAME_PCP);
		list_add_tail(&f->lru, &pcp->list);
		n++;
	}
	mm_env_unlock(&z->lock);
	if (n) {
		pcp_set_count(pcp, pcp->count + n);
		buddy_inc64_(&pcp->pcp_refills);
	}
	return n;
}

static inline struct buddy_frame *pcp_alloc(struct buddy_zone *z, struct buddy_pcp *pcp)
{
	struct buddy_frame *f;

	if (mm_likely(!list_empty(&pcp->list)))
		buddy_inc64_(&pcp->pcp_hits);
	else if (!pcp_refill(z, pcp))
		return NULL;
	f = list_first_entry(&pcp->list, struct buddy_frame, lru);
	BUDDY_DBG_BUG_ON(buddy_frame_flags_(f) != BUDDY_FRAME_PCP);
	list_del(&f->lru);
	pcp_set_count(pcp, pcp->count - 1);
	return f;
}

static inline void pcp_free(struct buddy *b, struct buddy_zone *z, struct buddy_pcp *pcp,
			    struct buddy_frame *f)
{
	buddy_frame_set_flags_(f, BUDDY_FRAME_PCP);
	list_add(&f->lru, &pcp->list);
	pcp_set_count(pcp, pcp->count + 1);
	if (mm_unlikely(pcp->count > z->pcp_high))
		pcp_release(b, z, pcp, z->pcp_batch);
}

/* Empty CPU cpu's lists in every zone. */
static unsigned long drain_cpu_lists(struct buddy *b, unsigned cpu)
{
	unsigned long n = 0;

	for (unsigned i = 0; i < b->nr_zones; i++) {
		struct buddy_zone *z = &b->zones[i];
		struct buddy_pcp *pcp = &z->pcp[cpu];

		if (pcp->count)
			n += pcp_release(b, z, pcp, pcp->count);
	}
	return n;
}

/* Honour a drain request another CPU posted for us (buddy_drain_request_all). */
static inline void drain_if_requested(struct buddy *b, unsigned cpu)
{
	if (mm_unlikely(__atomic_load_n(&b->drain_req[cpu], __ATOMIC_RELAXED)) &&
	    __atomic_exchange_n(&b->drain_req[cpu], 0, __ATOMIC_RELAXED))
		drain_cpu_lists(b, cpu);
}

/* Ask every other CPU that holds per-CPU frames to give them back at its next operation. */
static void request_remote_drains(struct buddy *b, unsigned self)
{
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
		if (cpu == self)
			continue;
		for (unsigned i = 0; i < b->nr_zones; i++) {
			if (__atomic_load_n(&b->zones[i].pcp[cpu].count, __ATOMIC_RELAXED)) {
				__atomic_store_n(&b->drain_req[cpu], 1, __ATOMIC_RELAXED);
				break;
			}
		}
	}
}

/* ---- allocation ---- */

#define BUDDY_NOINLINE __attribute__((noinline))
#define BUDDY_COLD     __attribute__((noinline, cold))

static inline bool zone_usable(const struct buddy_zone *z, nodemask_t allowed, unsigned max_zid,
			       unsigned flags, unsigned preferred)
{
	if (z->zid > max_zid || !((allowed >> z->node) & 1))
		return false;
	return !(flags & BUDDY_ALLOC_THISNODE) || z->node == preferred;
}

/*
 * Linux's __zone_watermark_ok without lowmem reserves: after taking 2^order frames the zone's
 * free frames must stay at or above the mark the flags select (frames on per-CPU lists do not
 * count as free, as in Linux). Racy by design: free_pages is read without the lock.
 */
static inline bool zone_wmark_ok(const struct buddy_zone *z, unsigned order, unsigned flags)
{
	unsigned w = (flags & BUDDY_ALLOC_HIGH) ? BUDDY_WMARK_MIN : BUDDY_WMARK_LOW;

	if (flags & BUDDY_ALLOC_NO_WMARK)
		return true;
	return buddy_ld64_(&z->free_pages) >=
	       buddy_ld64_(&z->wmark[w]) + (UINT64_C(1) << order);
}

/* A block from the zone's free lists (any order, or order 0 with per-CPU lists off). */
static BUDDY_NOINLINE struct buddy_frame *zone_alloc_locked(struct buddy_zone *z, unsigned order)
{
	struct buddy_frame *f;

	mm_env_lock(&z->lock);
	f = zone_take_locked(z, order);
	mm_env_unlock(&z->lock);
	return f;
}

static inline struct buddy_frame *zone_alloc(struct buddy_zone *z, struct buddy_pcp *pcp,
					     unsigned order)
{
	if (order == 0 && z->pcp_high)
		return pcp_alloc(z, pcp);
	return zone_alloc_locked(z, order);
}

/*
 * numastat, exactly as Linux's zone_statistics() + alloc_page_interleave(); see numa.h.
 * Every allocation counts one numa_hit or numa_miss on its zone, so their sum is also the zone's
 * allocation count (buddy_stats.allocs) and needs no counter of its own.
 */
static inline void count_alloc(struct buddy_zone *pz, struct buddy_zone *z, unsigned cpu,
			       unsigned local_node, bool interleave, unsigned target)
{
	struct buddy_pcp *p = &z->pcp[cpu];

	if (mm_likely(z->node == pz->node)) {
		buddy_inc64_(&p->numa_hit);
	} else {
		buddy_inc64_(&p->numa_miss);
		buddy_inc64_(&pz->pcp[cpu].numa_foreign);
	}
	if (mm_likely(z->node == local_node))
		buddy_inc64_(&p->local_node);
	else
		buddy_inc64_(&p->other_node);
	if (interleave && z->node == target)
		buddy_inc64_(&p->interleave_hit);
}

/* What a request may use: the zonelist of `preferred` filtered by nodes, zone and flags. */
struct alloc_req {
	const struct buddy_zonelist *zl;
	nodemask_t allowed;
	unsigned preferred, order, flags, max_zid, cpu;
};

/*
 * One walk of the zonelist: the first usable zone whose watermark holds and has the block.
 * *pz is set to the first usable zone (the "preferred zone" of numastat) if still NULL.
 * Inlined with rq on the caller's stack frame, so its fields live in registers.
 */
static inline struct buddy_frame *zonelist_walk(struct buddy *b, const struct alloc_req *rq,
						struct buddy_zone **pz)
{
	for (unsigned i = 0; i < rq->zl->nr; i++) {
		struct buddy_zone *z = &b->zones[rq->zl->zone[i]];
		struct buddy_frame *f;

		if (!zone_usable(z, rq->allowed, rq->max_zid, rq->flags, rq->preferred))
			continue;
		if (!*pz)
			*pz = z;
		if (!zone_wmark_ok(z, rq->order, rq->flags)) {
			__atomic_fetch_add(&z->wmark_skips, 1, __ATOMIC_RELAXED);
			continue;
		}
		f = zone_alloc(z, &z->pcp[rq->cpu], rq->order);
		if (f)
			return f;
	}
	return NULL;
}

/* Returned in two registers by the slow path. */
struct alloc_res {
	struct buddy_frame *f;
	struct buddy_zone *pz;
};

/*
 * Everything but the order-0 per-CPU hit: walk the zonelist; if no zone can serve the request,
 * frames may be parked on per-CPU lists, so give ours back and walk again; if that fails too,
 * ask the other CPUs to give theirs back (Linux drains every CPU at this point and retries; we
 * cannot reach into a running CPU's lists, so the request is served at their next operation)
 * and fail.
 */
static BUDDY_NOINLINE struct alloc_res alloc_slow(struct buddy *b, unsigned preferred,
						  nodemask_t allowed, unsigned order,
						  unsigned flags, unsigned cpu)
{
	struct alloc_req rq = {
		.zl = &b->zonelists[preferred], .allowed = allowed, .preferred = preferred,
		.order = order, .flags = flags, .cpu = cpu,
		.max_zid = (flags & BUDDY_ALLOC_DMA32) ? BUDDY_ZONE_DMA32 : BUDDY_ZONE_NORMAL,
	};
	struct alloc_res res = { NULL, NULL };

	res.f = zonelist_walk(b, &rq, &res.pz);
	if (res.f)
		return res;
	if (res.pz && drain_cpu_lists(b, cpu))
		res.f = zonelist_walk(b, &rq, &res.pz);
	if (res.f)
		return res;
	if (res.pz)
		request_remote_drains(b, cpu);
	__atomic_fetch_add(&b->alloc_failures, 1, __ATOMIC_RELAXED);
	return res;
}

/*
 * Inlined into each entry point. The fast path is Linux's common case: order 0, the first zone
 * of the zonelist usable, its watermark holding and its per-CPU list not empty: one list pop,
 * no lock, no call. Anything else goes through alloc_slow(), which re-checks from the start
 * (so a zone skipped here for its watermark is counted once, there).
 */
static inline __attribute__((always_inline)) int
alloc_core(struct buddy *b, unsigned preferred, nodemask_t allowed, unsigned order,
	   unsigned flags, unsigned local_node, bool interleave, pfn_t *pfn)
{
	const struct buddy_zonelist *zl = &b->zonelists[preferred];
	struct buddy_zone *pz = NULL;
	struct buddy_frame *f = NULL;
	unsigned long irq;
	unsigned cpu = mm_env_cpu_enter(&irq);

	drain_if_requested(b, cpu);
	if (mm_likely(order == 0 && zl->nr)) {
		struct buddy_zone *z = &b->zones[zl->zone[0]];
		struct buddy_pcp *pcp = &z->pcp[cpu];
		unsigned max_zid = (flags & BUDDY_ALLOC_DMA32) ? BUDDY_ZONE_DMA32
							       : BUDDY_ZONE_NORMAL;

		if (mm_likely(!list_empty(&pcp->list) && z->pcp_high &&
			      zone_usable(z, allowed, max_zid, flags, preferred) &&
			      zone_wmark_ok(z, 0, flags))) {
			buddy_inc64_(&pcp->pcp_hits);
			f = list_first_entry(&pcp->list, struct buddy_frame, lru);
			BUDDY_DBG_BUG_ON(buddy_frame_flags_(f) != BUDDY_FRAME_PCP);
			list_del(&f->lru);
			pcp_set_count(pcp, pcp->count - 1);
			pz = z;
		}
	}
	if (mm_unlikely(!f)) {
		struct alloc_res res = alloc_slow(b, preferred, allowed, order, flags, cpu);

		if (!res.f) {
			mm_env_cpu_exit(irq);
			return -MM_ENOMEM;
		}
		f = res.f;
		pz = res.pz;
	}
	f->order = (uint8_t)order;
	f->priv = NULL;
	__atomic_store_n(&f->refcount, 1, __ATOMIC_RELAXED);
	buddy_frame_set_flags_(f, BUDDY_FRAME_ALLOC);
	count_alloc(pz, &b->zones[f->zone], cpu, local_node, interleave, preferred);
	mm_env_cpu_exit(irq);
	*pfn = buddy_frame_to_pfn(b, f);
	return 0;
}

int buddy_alloc_core_(struct buddy *b, unsigned preferred, nodemask_t allowed, unsigned order,
		      unsigned flags, unsigned local_node, bool interleave, pfn_t *pfn)
{
	return alloc_core(b, preferred, allowed, order, flags, local_node, interleave, pfn);
}

static BUDDY_COLD int alloc_args_bad(const struct buddy *b, unsigned order, unsigned flags,
				     const char *func)
{
	if (!b)
		mm_env_report(func, "NULL allocator or pfn pointer");
	else if (order >= b->nr_orders)
		mm_env_report(func, "order out of range (>= nr_orders)");
	else if (flags & ~BUDDY_ALLOC_VALID)
		mm_env_report(func, "unknown allocation flags");
	else
		mm_env_report(func, "NULL allocator or pfn pointer");
	return -MM_EINVAL;
}

static inline bool alloc_args_ok(const struct buddy *b, unsigned order, unsigned flags,
				 const pfn_t *pfn)
{
	return b && pfn && order < b->nr_orders && !(flags & ~BUDDY_ALLOC_VALID);
}

int buddy_alloc(struct buddy *b, unsigned node, unsigned order, unsigned flags, pfn_t *pfn)
{
	if (mm_unlikely(!alloc_args_ok(b, order, flags, pfn)))
		return alloc_args_bad(b, order, flags, __func__);
	if (mm_unlikely(node >= b->nr_nodes))
		return MM_INVAL("node out of range");
	return alloc_core(b, node, NUMA_ALL_NODES, order, flags, node, false, pfn);
}

int buddy_alloc_nodemask(struct buddy *b, unsigned preferred, nodemask_t allowed,
			 unsigned order, unsigned flags, unsigned local_node, pfn_t *pfn)
{
	if (!alloc_args_ok(b, order, flags, pfn))
		return alloc_args_bad(b, order, flags, __func__);
	if (preferred >= b->nr_nodes)
		return MM_INVAL("preferred node out of range");
	if (local_node >= b->nr_nodes)
		return MM_INVAL("local node out of range");
	if (!(allowed & b->mem_nodes))
		return MM_INVAL("allowed nodemask has no node with memory");
	return alloc_core(b, preferred, allowed, order, flags, local_node, false, pfn);
}

/* ---- freeing and reference counts ---- */

/* Report why pfn (descriptor f, possibly NULL) does not head an allocated block. */
static BUDDY_COLD void alloc_head_bad(const struct buddy_frame *f, const char *func)
{
	unsigned st = f ? buddy_frame_flags_(f) & BUDDY_FRAME_STATE_MASK : 0;

	if (!f)
		mm_env_report(func, "pfn is not a frame of this allocator (outside the ranges or in a hole)");
	else if (st & (BUDDY_FRAME_FREE | BUDDY_FRAME_PCP))
		mm_env_report(func, "block is already free (double free)");
	else
		mm_env_report(func, "pfn is not allocated: it does not start an allocated block "
			      "(double free, or a frame inside a block)");
}

/* The head descriptor of the allocated block at pfn, or NULL after reporting why not. */
static inline struct buddy_frame *alloc_head(struct buddy *b, pfn_t pfn, const char *func)
{
	uint64_t si = (pfn >> BUDDY_SECTION_SHIFT) - b->first_section;

	/* buddy_pfn_to_frame() without its hole test: a hole's state is HOLE, never ALLOC */
	if (mm_likely(si < b->nr_sections)) {
		const struct buddy_section *s = &b->sections[si];
		uint64_t off = pfn - s->start;

		if (mm_likely(off < s->nr)) {
			struct buddy_frame *f = &s->frames[off];

			if (mm_likely((buddy_frame_flags_(f) & BUDDY_FRAME_STATE_MASK) ==
				      BUDDY_FRAME_ALLOC))
				return f;
		}
	}
	alloc_head_bad(buddy_pfn_to_frame(b, pfn), func);
	return NULL;
}

static BUDDY_NOINLINE void free_to_zone(struct buddy *b, struct buddy_zone *z,
					struct buddy_frame *f, unsigned order)
{
	buddy_frame_set_flags_(f, 0);
	mm_env_lock(&z->lock);
	buddy_zone_free_locked_(b, z, f, order);
	mm_env_unlock(&z->lock);
}

/* Give a block whose reference count reached 0 back to its zone (or the per-CPU list). */
static inline void free_block(struct buddy *b, struct buddy_frame *f)
{
	struct buddy_zone *z = &b->zones[f->zone];
	unsigned order = f->order;
	unsigned long irq;
	unsigned cpu = mm_env_cpu_enter(&irq);
	struct buddy_pcp *pcp = &z->pcp[cpu];

	drain_if_requested(b, cpu);
	buddy_inc64_(&pcp->frees);
	if (order == 0 && z->pcp_high)
		pcp_free(b, z, pcp, f);
	else
		free_to_zone(b, z, f, order);
	mm_env_cpu_exit(irq);
}

/*
 * Drop one reference; free at zero. A count of 1 belongs to the caller alone (a get needs a
 * reference already held), so nobody can raise it concurrently and the common case needs no
 * atomic read-modify-write.
 */
static inline int frame_release(struct buddy *b, struct buddy_frame *f)
{
	uint32_t ref = __atomic_load_n(&f->refcount, __ATOMIC_ACQUIRE);

	if (mm_likely(ref == 1)) {
		__atomic_store_n(&f->refcount, 0, __ATOMIC_RELAXED);
	} else {
		MM_BUG_ON(ref == 0);   /* allocated head with no reference: corrupted */
		if (__atomic_sub_fetch(&f->refcount, 1, __ATOMIC_ACQ_REL) != 0)
			return 0;
	}
	free_block(b, f);
	return 0;
}

static BUDDY_COLD int free_args_bad(const struct buddy *b, pfn_t pfn, unsigned order)
{
	if (!b)
		return MM_INVAL("NULL allocator");
	if (order >= b->nr_orders)
		return MM_INVAL("order out of range (>= nr_orders)");
	return MM_INVAL("pfn is not aligned to the order");
}

int buddy_free(struct buddy *b, pfn_t pfn, unsigned order)
{
	struct buddy_frame *f;

	if (mm_unlikely(!b || order >= b->nr_orders || (pfn & ((UINT64_C(1) << order) - 1))))
		return free_args_bad(b, pfn, order);
	f = alloc_head(b, pfn, __func__);
	if (mm_unlikely(!f))
		return -MM_EINVAL;
	if (mm_unlikely(f->order != order))
		return MM_INVAL("order does not match the allocation (wrong order)");
	return frame_release(b, f);
}

int buddy_frame_get(struct buddy *b, pfn_t pfn)
{
	struct buddy_frame *f;

	if (!b)
		return MM_INVAL("NULL allocator");
	f = alloc_head(b, pfn, __func__);
	if (!f)
		return -MM_EINVAL;
	if (__atomic_load_n(&f->refcount, __ATOMIC_RELAXED) >= UINT32_MAX - 1)
		return MM_INVAL("reference count would overflow");
	__atomic_fetch_add(&f->refcount, 1, __ATOMIC_RELAXED);
	return 0;
}

int buddy_frame_put(struct buddy *b, pfn_t pfn)
{
	struct buddy_frame *f;

	if (!b)
		return MM_INVAL("NULL allocator");
	f = alloc_head(b, pfn, __func__);
	if (!f)
		return -MM_EINVAL;
	return frame_release(b, f);
}

/* ---- draining ---- */

long buddy_drain_local(struct buddy *b)
{
	unsigned long irq, n;
	unsigned cpu;

	if (!b)
		return MM_INVAL("NULL allocator");
	cpu = mm_env_cpu_enter(&irq);
	n = drain_cpu_lists(b, cpu);
	mm_env_cpu_exit(irq);
	return (long)n;
}

long buddy_drain_cpu(struct buddy *b, unsigned cpu)
{
	if (!b)
		return MM_INVAL("NULL allocator");
	if (cpu >= MM_MAX_CPUS)
		return MM_INVAL("cpu id out of range (>= MM_MAX_CPUS)");
	return (long)drain_cpu_lists(b, cpu);
}

long buddy_drain_all(struct buddy *b)
{
	unsigned long irq, n = 0;

	if (!b)
		return MM_INVAL("NULL allocator");
	(void)mm_env_cpu_enter(&irq);
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		n += drain_cpu_lists(b, cpu);
	mm_env_cpu_exit(irq);
	return (long)n;
}

long buddy_drain_request_all(struct buddy *b)
{
	unsigned long irq, n;
	unsigned cpu;

	if (!b)
		return MM_INVAL("NULL allocator");
	cpu = mm_env_cpu_enter(&irq);
	n = drain_cpu_lists(b, cpu);
	request_remote_drains(b, cpu);
	mm_env_cpu_exit(irq);
	return (long)n;
}

/* ---- watermarks ---- */

int buddy_set_watermarks(struct buddy *b, unsigned node, unsigned zone, uint64_t min,
			 uint64_t low, uint64_t high)
{
	struct buddy_zone *z;

	if (!b)
		return MM_INVAL("NULL allocator");
	if (node >= MM_MAX_NODES || zone >= BUDDY_NR_ZONES ||
	    b->zone_of[node][zone] == BUDDY_NO_ZONE)
		return MM_INVAL("no such zone (node/zone has no memory)");
	z = &b->zones[b->zone_of[node][zone]];
	if (min > low || low > high)
		return MM_INVAL("watermarks must satisfy min <= low <= high");
	if (high > z->managed_pages)
		return MM_INVAL("high watermark above the zone's managed pages");
	mm_env_lock(&z->lock);
	__atomic_store_n(&z->wmark[BUDDY_WMARK_MIN], min, __ATOMIC_RELAXED);
	__atomic_store_n(&z->wmark[BUDDY_WMARK_LOW], low, __ATOMIC_RELAXED);
	__atomic_store_n(&z->wmark[BUDDY_WMARK_HIGH], high, __ATOMIC_RELAXED);
	mm_env_unlock(&z->lock);
	return 0;
}
