/*
 * mm/buddy.h — a binary buddy page-frame allocator in the style of Linux's mm/page_alloc.c.
 *
 * The allocator hands out frame numbers (pfns) and never touches frame contents, so one
 * implementation serves the VMM (pfn = page offset in a memfd pool) and the guest kernel
 * (guest-physical frames). Everything it needs lives in the caller's struct buddy and in a
 * metadata buffer the caller provides (buddy_meta_size()); there is no global state.
 *
 * Model:
 *   - Memory is a set of ranges (start pfn, page count, NUMA node) with holes between them.
 *   - Each node has up to two zones: DMA32 (below 4 GiB) and NORMAL (above); a range that
 *     crosses 4 GiB is split between them.
 *   - Each zone keeps free lists per order 0..nr_orders-1 (default 11: 4 KiB .. 4 MiB; at most
 *     BUDDY_MAX_ORDERS). A free block of order k is 2^k frames, aligned to 2^k frames, all in
 *     one zone. Allocation splits larger blocks; freeing merges a block with its buddy
 *     (pfn ^ 2^k) while the buddy is a free block of the same order in the same zone, so blocks
 *     never merge across holes, zones or nodes.
 *   - Order-0 frames go through per-CPU lists (per zone, per CPU id): refilled from the zone
 *     `batch` frames at a time, drained `batch` at a time when they hold more than `high`.
 *   - Each zone has min/low/high watermarks (Linux's formula from the zone size, or set by the
 *     caller). An ordinary allocation needs the low watermark to still hold after it;
 *     BUDDY_ALLOC_HIGH (atomic / high priority) may go down to min; BUDDY_ALLOC_NO_WMARK ignores
 *     them. A zone that fails the check is skipped and the next zone of the zonelist is tried.
 *   - Zonelists (one per node) list every zone reachable from that node, nearest node first and,
 *     within a node, NORMAL before DMA32 (mm/numa.h builds them from the distance matrix).
 *   - A frame descriptor (struct buddy_frame, like Linux's struct page) exists for every frame;
 *     pfn -> descriptor and back are O(1) through a section table (like SPARSEMEM).
 *
 * Locking and lock order (see buddy.c): every entry point that allocates or frees runs inside a
 * per-CPU section (mm_env_cpu_enter/exit), which owns that CPU's per-CPU lists and counters; inside
 * it at most one zone lock is taken at a time. Only buddy_check() takes several zone locks, in
 * ascending zone index. Frame reference counts are atomic.
 *
 * Errors: 0 or -MM_Exxx. Bad arguments report (mm_env_report) and return -MM_EINVAL;
 * -MM_ENOMEM means no zone could satisfy the request; -MM_EUCLEAN means buddy_check() found
 * corrupted state.
 */
#ifndef MM_BUDDY_H
#define MM_BUDDY_H

#include "types.h"
#include "list.h"
#include "env.h"
#include "numa.h"

#define BUDDY_MAX_ORDERS      16   /* compile-time cap on nr_orders: orders 0..15 (128 MiB) */
#define BUDDY_DEFAULT_ORDERS  11   /* orders 0..10: 4 KiB .. 4 MiB, as Linux on x86-64 */
#define BUDDY_MAX_RANGES      64   /* ranges one instance accepts */
#define BUDDY_MAX_PFN         (UINT64_C(1) << 40)   /* 52-bit physical addresses */

/*
 * The section table maps pfn >> BUDDY_SECTION_SHIFT to the descriptors of that 128 MiB window.
 * A section is at least as large as the largest block, so a block never straddles two sections
 * and the frames of a block are consecutive descriptors.
 */
#define BUDDY_SECTION_SHIFT   15
_Static_assert(BUDDY_SECTION_SHIFT >= BUDDY_MAX_ORDERS - 1, "a block must fit in one section");
_Static_assert(BUDDY_MAX_ORDERS <= 32, "zone->nonempty is a 32-bit order mask");

enum buddy_zone_id {
	BUDDY_ZONE_DMA32,       /* frames below 4 GiB */
	BUDDY_ZONE_NORMAL,      /* frames at or above 4 GiB */
	BUDDY_NR_ZONES,
};
#define BUDDY_DMA32_END_PFN   (UINT64_C(1) << (32 - MM_PAGE_SHIFT))
#define BUDDY_MAX_ZONES       (MM_MAX_NODES * BUDDY_NR_ZONES)
#define BUDDY_NO_ZONE         0xffu

enum buddy_wmark {
	BUDDY_WMARK_MIN,
	BUDDY_WMARK_LOW,
	BUDDY_WMARK_HIGH,
	BUDDY_NR_WMARKS,
};

/* Allocation flags. */
#define BUDDY_ALLOC_DMA32     (1u << 0)   /* only DMA32 zones (frames below 4 GiB) */
#define BUDDY_ALLOC_THISNODE  (1u << 1)   /* only the preferred node: no fallback to others */
#define BUDDY_ALLOC_HIGH      (1u << 2)   /* atomic / high priority: may dip to min watermark */
#define BUDDY_ALLOC_NO_WMARK  (1u << 3)   /* emergency reserves: ignore watermarks */
#define BUDDY_ALLOC_VALID     (BUDDY_ALLOC_DMA32 | BUDDY_ALLOC_THISNODE | BUDDY_ALLOC_HIGH | \
			       BUDDY_ALLOC_NO_WMARK)

/*
 * Frame state (low byte of buddy_frame.flags). Exactly the first frame ("head") of every block
 * carries a state; the other frames of a block ("tails") have state 0.
 */
#define BUDDY_FRAME_HOLE      (1u << 0)   /* no memory here (a hole inside a section) */
#define BUDDY_FRAME_FREE      (1u << 1)   /* head of a block on a zone free list */
#define BUDDY_FRAME_PCP       (1u << 2)   /* order-0 frame on a per-CPU list */
#define BUDDY_FRAME_ALLOC     (1u << 3)   /* head of an allocated block */
#define BUDDY_FRAME_STATE_MASK 0x00ffu
/* The high byte belongs to the owner of an allocated block (e.g. "this is a slab page"). */
#define BUDDY_FRAME_OWNER_SHIFT 8
#define BUDDY_FRAME_OWNER_MASK  0xff00u

/*
 * Frame descriptor, one per frame (like struct page).
 *   lru       free list / per-CPU list link while free; the owner's to use while allocated.
 *   priv      owner word while allocated (slab: its cache); NULL when handed out.
 *   refcount  1 when allocated; buddy_frame_get/put adjust it (atomic); 0 when free.
 *   flags     state byte (BUDDY_FRAME_*) + owner byte. Read/written with relaxed atomics because
 *             a merging CPU may read a neighbour's state while its owner frees it.
 *   order     order of the block this frame heads (valid for heads).
 *   zone      index of the zone in the allocator; node: its NUMA node. Fixed at init.
 *   section   index into the section table (frame -> pfn). Fixed at init.
 * The owner may use priv and the owner byte of every frame of its block. Freeing clears the
 * head's owner byte and allocation clears the head's priv; the owner must clear what it put on
 * tail frames before freeing (buddy_check() reports owner bits left on free frames).
 */
struct buddy_frame {
	struct list_head lru;
	void *priv;
	uint32_t refcount;
	uint16_t flags;
	uint8_t order;
	uint8_t zone;
	uint32_t section;
	uint8_t node;
	uint8_t pad_[3];
};
_Static_assert(sizeof(struct buddy_frame) == 40, "keep the descriptor at 40 bytes");

/* Descriptors for [start, start + nr) of one section; nr == 0 for a section with no memory. */
struct buddy_section {
	pfn_t start;
	uint64_t nr;
	struct buddy_frame *frames;
};

struct buddy_range {
	pfn_t start;            /* first frame */
	uint64_t nr_pages;      /* > 0 */
	unsigned node;          /* < MM_MAX_NODES (and < distance->nr_nodes when a table is given) */
};

/* buddy_config.flags */
#define BUDDY_CFG_NO_PCP        (1u << 0)   /* no per-CPU lists: order 0 goes to the zone */
#define BUDDY_CFG_NO_WATERMARKS (1u << 1)   /* all watermarks 0 (tests; set later per zone) */
#define BUDDY_CFG_VALID         (BUDDY_CFG_NO_PCP | BUDDY_CFG_NO_WATERMARKS)

struct buddy_config {
	const struct buddy_range *ranges;   /* need not be sorted; must not overlap */
	unsigned nr_ranges;                 /* 1 .. BUDDY_MAX_RANGES */
	unsigned nr_orders;                 /* 0 = BUDDY_DEFAULT_ORDERS; at most BUDDY_MAX_ORDERS */
	unsigned flags;                     /* BUDDY_CFG_* */
	unsigned pcp_batch;                 /* 0 = Linux's zone_batchsize() */
	unsigned pcp_high;                  /* 0 = 4 * batch; must be >= batch */
	uint64_t min_free_pages;            /* 0 = Linux's min_free_kbytes formula */
	const struct numa_distance *distance;  /* NULL = 10 local / 20 remote over the ranges' nodes */
};

struct buddy_zone;                       /* private to mm/ (buddy_internal.h) */

/* One zonelist: zone indices in fallback order. */
struct buddy_zonelist {
	uint8_t nr;
	uint8_t zone[BUDDY_MAX_ZONES];
};

/*
 * One allocator instance. The caller owns it (it may live anywhere) plus the metadata buffer it
 * points into; fields are read-only outside mm/.
 */
struct buddy {
	struct buddy_section *sections;
	uint64_t first_section;             /* section number of sections[0] */
	uint64_t nr_sections;
	struct buddy_zone *zones;
	struct buddy_frame *frames;         /* all descriptors, in pfn order */
	uint64_t nr_frames;
	unsigned nr_zones;
	unsigned nr_orders;
	unsigned nr_nodes;
	unsigned flags;                     /* BUDDY_CFG_* */
	nodemask_t mem_nodes;               /* nodes that have memory */
	uint64_t alloc_failures;            /* relaxed atomic */
	uint32_t drain_req[MM_MAX_CPUS];    /* per CPU id: "drain your lists" (relaxed atomic) */
	uint8_t zone_of[MM_MAX_NODES][BUDDY_NR_ZONES];  /* zone index or BUDDY_NO_ZONE */
	struct buddy_zonelist zonelists[MM_MAX_NODES];
	struct numa_distance distance;
};

/*
 * Bytes of metadata buddy_init() needs for these ranges (descriptors, section table, zones,
 * per-CPU lists for MM_MAX_CPUS CPU ids), or 0 after reporting if the ranges are invalid.
 */
size_t buddy_meta_size(const struct buddy_range *ranges, unsigned nr);

/*
 * Set up b over meta (meta_size bytes, any alignment) and put every frame of the ranges on the
 * free lists, merged into the largest aligned blocks.
 */
mm_must_check int buddy_init(struct buddy *b, const struct buddy_config *cfg, void *meta,
			     size_t meta_size);

/*
 * Allocate 2^order contiguous frames near `node` for a CPU on `node` (Linux's alloc_pages_node):
 * node's zonelist is walked in order. 0 and *pfn = first frame on success.
 */
mm_must_check int buddy_alloc(struct buddy *b, unsigned node, unsigned order, unsigned flags,
			      pfn_t *pfn);

/*
 * The general form (Linux's __alloc_pages): walk preferred's zonelist, using only zones of
 * nodes in `allowed`; local_node is the allocating CPU's node (numastat local/other).
 */
mm_must_check int buddy_alloc_nodemask(struct buddy *b, unsigned preferred, nodemask_t allowed,
				       unsigned order, unsigned flags, unsigned local_node,
				       pfn_t *pfn);

/*
 * Drop the allocation reference of the block at pfn, which buddy_alloc returned for this
 * order; the block is freed when its reference count reaches 0 (Linux's __free_pages).
 * Frames freed at order 0 go to the calling CPU's per-CPU list.
 */
int buddy_free(struct buddy *b, pfn_t pfn, unsigned order);

/*
 * get_page/put_page: take or drop a reference on the allocated block headed by pfn. A caller
 * of get must already hold a reference (so a count seen as 1 by its only holder cannot rise
 * concurrently). put frees the block, at its allocation order, when the count reaches 0.
 */
int buddy_frame_get(struct buddy *b, pfn_t pfn);
int buddy_frame_put(struct buddy *b, pfn_t pfn);

/*
 * Per-CPU lists.
 *   buddy_drain_local        empty the calling CPU's lists (all zones) into the zones.
 *   buddy_drain_cpu          empty CPU cpu's lists; the caller guarantees that CPU is not in a
 *                            per-CPU section of b (offline CPU, exited thread).
 *   buddy_drain_all          empty every CPU's lists; no other CPU may be in a section of b
 *                            (stop-machine, workers joined).
 *   buddy_drain_request_all  empty the calling CPU's lists now and ask every other CPU to empty
 *                            its own at its next allocation or free (safe while running; an
 *                            allocation that fails does this itself before giving up).
 * Each returns the number of frames moved back to the zones now.
 */
long buddy_drain_local(struct buddy *b);
long buddy_drain_cpu(struct buddy *b, unsigned cpu);
long buddy_drain_all(struct buddy *b);
long buddy_drain_request_all(struct buddy *b);

/* Override a zone's watermarks (min <= low <= high <= managed pages). */
int buddy_set_watermarks(struct buddy *b, unsigned node, unsigned zone, uint64_t min,
			 uint64_t low, uint64_t high);

struct buddy_stats {
	uint64_t managed_pages;             /* frames given at init */
	uint64_t free_pages;                /* frames on the zone free lists */
	uint64_t pcp_pages;                 /* frames on per-CPU lists (free, but not in the zone) */
	uint64_t nr_free[BUDDY_MAX_ORDERS]; /* free blocks per order */
	uint64_t wmark[BUDDY_NR_WMARKS];    /* zone: its watermarks; totals: their sums */
	uint64_t pcp_high, pcp_batch;       /* zone: per-CPU list limits; totals: 0 */
	uint64_t allocs;                    /* successful allocations served by the zone */
	uint64_t frees;                     /* blocks freed back to the zone (refcount reached 0) */
	uint64_t alloc_failures;            /* totals only: allocations that returned -MM_ENOMEM */
	uint64_t wmark_skips;               /* times the zone was skipped for its watermark */
	uint64_t pcp_hits;                  /* order-0 allocations served by a non-empty list */
	uint64_t pcp_refills;               /* batches moved zone -> per-CPU list */
	uint64_t pcp_drains;                /* batches (or whole lists) moved back to the zone */
};

/*
 * Statistics of one zone, or of the whole allocator. Free-list figures are read under the zone
 * lock; per-CPU figures are relaxed reads (exact when no CPU is allocating).
 */
int buddy_zone_stats(struct buddy *b, unsigned node, unsigned zone, struct buddy_stats *st);
int buddy_stats(struct buddy *b, struct buddy_stats *st);

/*
 * Consistency check: free lists against descriptor states, block alignment and extent, no
 * overlap, counts, unmerged buddies, per-CPU lists. Reports the first problem and returns
 * -MM_EUCLEAN, or 0. No other CPU may be in a per-CPU section of b while it runs.
 */
int buddy_check(struct buddy *b);

/* Descriptor of a managed frame, or NULL for a hole or a pfn outside every range. O(1). */
static inline struct buddy_frame *buddy_pfn_to_frame(const struct buddy *b, pfn_t pfn)
{
	uint64_t si = (pfn >> BUDDY_SECTION_SHIFT) - b->first_section;
	const struct buddy_section *s;
	uint64_t off;

	if (si >= b->nr_sections)
		return NULL;
	s = &b->sections[si];
	off = pfn - s->start;
	if (off >= s->nr ||
	    (__atomic_load_n(&s->frames[off].flags, __ATOMIC_RELAXED) & BUDDY_FRAME_HOLE))
		return NULL;
	return &s->frames[off];
}

/* pfn of a descriptor of b. O(1). */
static inline pfn_t buddy_frame_to_pfn(const struct buddy *b, const struct buddy_frame *f)
{
	const struct buddy_section *s = &b->sections[f->section];

	return s->start + (pfn_t)(f - s->frames);
}

#endif /* MM_BUDDY_H */
