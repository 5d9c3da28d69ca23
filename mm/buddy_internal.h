/*
 * mm/buddy_internal.h — the buddy allocator's private structures, shared by buddy.c and numa.c
 * only. Callers of mm/ see struct buddy_zone as an opaque pointer.
 *
 * Lock order: per-CPU section (mm_env_cpu_enter) > zone->lock. See buddy.c.
 */
#ifndef MM_BUDDY_INTERNAL_H
#define MM_BUDDY_INTERNAL_H

#include "mm/buddy.h"

#define BUDDY_CACHELINE 64

/* mm/ may call memset (env.h lists the libc symbols it may use); it includes no libc header. */
void *memset(void *s, int c, size_t n);

/*
 * Per-CPU, per-zone data: the order-0 list plus this CPU's counters for the zone. Only the CPU
 * whose id indexes it touches it, inside its per-CPU section, or a drainer that the caller
 * guarantees runs while that CPU is quiescent (buddy_drain_cpu/all). Counters are written with relaxed atomic stores so that
 * readers summing them from other CPUs are race-free; on x86 those are plain moves.
 * The first cache line holds what the order-0 fast path touches.
 */
struct buddy_pcp {
	struct list_head list;          /* order-0 frames, most recently freed first */
	uint32_t count;                 /* frames on list (relaxed atomic for remote readers) */
	uint32_t pad0_;
	uint64_t frees;                 /* blocks freed to this zone by this CPU (any order) */
	uint64_t pcp_hits;
	uint64_t numa_hit;              /* numa_hit + numa_miss = allocations from this zone */
	uint64_t local_node;
	uint64_t pad1_;
	/* second cache line: slow-path and cross-node counters */
	uint64_t pcp_refills;
	uint64_t pcp_drains;
	uint64_t numa_miss;
	uint64_t numa_foreign;
	uint64_t interleave_hit;
	uint64_t other_node;
	uint64_t pad_[2];
} __attribute__((aligned(BUDDY_CACHELINE)));
_Static_assert(sizeof(struct buddy_pcp) == 2 * BUDDY_CACHELINE, "two cache lines per pcp");

/*
 * A zone: the free lists of one node below or above 4 GiB.
 * Under lock: free_list, nr_free, nonempty, free_pages (also read racily by watermark checks,
 * hence relaxed atomic stores), wmark (likewise).
 * Fixed after init: node, zid, idx, managed_pages, span, pcp, pcp_high, pcp_batch.
 */
struct buddy_zone {
	struct mm_lock lock;
	uint8_t node;
	uint8_t zid;                    /* enum buddy_zone_id */
	uint8_t idx;                    /* index in b->zones */
	uint8_t pad_;
	uint32_t nonempty;              /* bit o set <=> free_list[o] is not empty */
	uint64_t free_pages;            /* frames on the free lists */
	uint64_t wmark[BUDDY_NR_WMARKS];
	uint32_t pcp_high;              /* 0: per-CPU lists disabled */
	uint32_t pcp_batch;
	struct buddy_pcp *pcp;          /* [MM_MAX_CPUS] */
	uint64_t managed_pages;         /* frames given at init */
	pfn_t span_start, span_end;     /* lowest and highest+1 pfn, holes included */
	uint64_t wmark_skips;           /* relaxed atomic: zone skipped for its watermark */
	uint64_t nr_free[BUDDY_MAX_ORDERS];
	struct list_head free_list[BUDDY_MAX_ORDERS];
} __attribute__((aligned(BUDDY_CACHELINE)));

/* Cheap invariant checks on the fast paths, compiled only into MM_DEBUG builds. */
#ifdef MM_DEBUG
#define BUDDY_DBG_BUG_ON(cond) MM_BUG_ON(cond)
#else
#define BUDDY_DBG_BUG_ON(cond) do { (void)sizeof(cond); } while (0)
#endif

/* Relaxed atomic accessors for a frame's flags (see struct buddy_frame). */
static inline unsigned buddy_frame_flags_(const struct buddy_frame *f)
{
	return __atomic_load_n(&f->flags, __ATOMIC_RELAXED);
}

static inline void buddy_frame_set_flags_(struct buddy_frame *f, unsigned flags)
{
	__atomic_store_n(&f->flags, (uint16_t)flags, __ATOMIC_RELAXED);
}

/* Free a block of frames whose head f has state 0 into z, merging with free buddies. */
void buddy_zone_free_locked_(struct buddy *b, struct buddy_zone *z, struct buddy_frame *f,
			     unsigned order);

/* The allocation core shared with numa.c: `interleave` counts interleave_hit for preferred. */
int buddy_alloc_core_(struct buddy *b, unsigned preferred, nodemask_t allowed, unsigned order,
		      unsigned flags, unsigned local_node, bool interleave, pfn_t *pfn);

/* numa.c: build b->zonelists from b->distance and the populated zones (called by buddy_init). */
void numa_build_zonelists_(struct buddy *b);

/* Relaxed atomic helpers: single-writer counters and racily-read words. */
static inline uint64_t buddy_ld64_(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void buddy_inc64_(uint64_t *p)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

#endif /* MM_BUDDY_INTERNAL_H */
