/*
 * mm/slab_internal.h — what mm/slab.c, mm/slab_debug.c and mm/slab_stats.c share: the owner-word
 * encoding, the slab descriptor, per-CPU list accessors and the few functions one file calls in
 * another. Not part of the API (that is mm/slab.h); lock rules are those of mm/slab.c.
 */
#ifndef MM_SLAB_INTERNAL_H
#define MM_SLAB_INTERNAL_H

#include "mm/slab.h"

#define SLAB_MAGIC        0x51ab0c0du
#define SLAB_MIN_OBJECTS  8u        /* calculate_order tries for at least this many per slab */
#define SLAB_REDZONE      16u       /* minimum red zone on each side of a debug object */
#define SLAB_STATE_FREE   UINT64_C(0xf4eef4eef4eef4ee)
#define SLAB_STATE_ALLOC  UINT64_C(0xa11ca7eda11ca7ed)

/* Internal kmem_cache flags (never accepted from callers). */
#define SLAB_KMALLOC      (1u << 8)
#define SLAB_BOOT         (1u << 9)

/*
 * Owner words (one per provider page, see struct slab_page_provider). Caches are 128-byte and
 * slab descriptors 64-byte aligned, which leaves low bits for tags:
 *
 *   page of an on-slab slab:      cache | node << OWNER_NODE_SHIFT [| OWNER_FP_OUT]
 *   page of an off-slab slab:     descriptor | OWNER_OFFSLAB
 *   first page of a large block:  order << OWNER_ORDER_SHIFT | OWNER_LARGE
 *   other pages of a large block: OWNER_LARGE | OWNER_TAIL
 *   not held by this allocator:   NULL
 *
 * The plain on-slab form is what keeps kfree fast. Its fast path ends in stores to the object's
 * free pointer and to the per-CPU list of the object's cache; while their addresses are unknown,
 * the next allocation's load of a list head must wait (or is replayed), so mixed-size
 * kmalloc/kfree runs at the speed of the chain pointer -> store addresses. Here that chain is one
 * load: the owner word gives the cache and node, and no OWNER_FP_OUT means the free pointer is
 * the object's first word. Measured: with the chain owner -> descriptor -> cache -> fp_offset,
 * alternating two kmalloc classes cost twice a single class; now 1.3x.
 * Descriptors are found by rounding the address down to the slab (slabs are naturally aligned),
 * or for off-slab slabs (only where on-slab would waste over 1/16) through the owner word.
 */
#define OWNER_LARGE        UINT64_C(0x1)
#define OWNER_OFFSLAB      UINT64_C(0x2)
#define OWNER_TAIL         UINT64_C(0x2)   /* together with OWNER_LARGE */
#define OWNER_ORDER_SHIFT  2
#define OWNER_NODE_SHIFT   2
#define OWNER_NODE_MASK    UINT64_C(0x3c)
#define OWNER_FP_OUT       UINT64_C(0x40)  /* free pointer not at offset 0 (ctor, debug) */
#define OWNER_CACHE_MASK   (~UINT64_C(0x7f))
#define OWNER_DESC_MASK    (~UINT64_C(0x3f))
_Static_assert(MM_MAX_NODES <= 16, "an owner word has four node bits");

enum slab_list { SLAB_LIST_NONE, SLAB_LIST_PARTIAL, SLAB_LIST_EMPTY, SLAB_LIST_FULL };

/*
 * A slab's descriptor. Invariants (under the node lock): objects on `freelist` number
 * objperslab - inuse; `fl_tail` is the last of them (meaningless when freelist is NULL); `list`
 * names the node list `link` is on and agrees with inuse (0: empty, objperslab: full).
 * cache, pages and node never change while the slab exists.
 */
struct slab {
	struct kmem_cache *cache;
	void *freelist;
	void *fl_tail;
	struct list_head link;
	char *pages;
	uint32_t inuse;
	uint16_t node;
	uint8_t list;
	uint8_t pad0;
	uint32_t magic;
	uint32_t pad1;
};
_Static_assert(sizeof(struct slab) == 64, "descriptor is one cache line (and 64-byte aligned)");

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

/*
 * Per-CPU list lengths and counters are written only by their CPU and read by statistics on any
 * CPU: the kernel's WRITE_ONCE/READ_ONCE idiom (volatile accesses to aligned words, which are
 * single-copy atomic on every target mm/ runs on). Relaxed C11 atomics would say the same, but
 * GCC 12 then recomputes the per-CPU address for every store: ten more instructions per
 * kmalloc+kfree pair, measured with callgrind.
 */
#define PCPU_SET(field, v) (*(volatile __typeof__(field) *)&(field) = (v))
#define PCPU_READ(field)   (*(const volatile __typeof__(field) *)&(field))

/* Objects on CPU list c (owner CPU, or any CPU for statistics). */
static inline uint32_t cpu_len(const struct kmem_cache *s, const struct slab_cpu *c)
{
	return s->cpu_limit - PCPU_READ(c->room);
}

/* A slow path sets the list length to len (owner CPU, or its users are quiescent). */
static inline void cpu_set_len(const struct kmem_cache *s, struct slab_cpu *c, uint32_t len)
{
	PCPU_SET(c->adj, c->adj + (int64_t)len - (int64_t)cpu_len(s, c));
	PCPU_SET(c->room, s->cpu_limit - len);
}

static inline void *fp_get(const struct kmem_cache *s, const void *obj)
{
	return *(void *const *)(const void *)((const char *)obj + s->fp_offset);
}

static inline void fp_set(const struct kmem_cache *s, void *obj, void *next)
{
	*(void **)(void *)((char *)obj + s->fp_offset) = next;
}

/*
 * Owner word of the page at addr (inside the region). owner_bias is owner0 moved back by the
 * region's first page, so this is two shifts and a load: kfree's pointer -> per-CPU list chain
 * is what bounds mixed-size kmalloc/kfree (see OWNER_*), and a multiply would add to it.
 */
static inline void **owner_slot(const struct slab_allocator *a, uintptr_t addr)
{
	return (void **)(a->owner_bias + ((addr >> MM_PAGE_SHIFT) << a->owner_shift));
}

/* Owner word of the page holding p (p inside the region). */
static inline uintptr_t owner_word(const struct slab_allocator *a, const void *p)
{
	/* A flat void *[] (stride 8): the load scales the index itself, one shift fewer. */
	if (mm_likely(a->owner_shift == 3))
		return (uintptr_t)((void *const *)a->owner_bias)[(uintptr_t)p >> MM_PAGE_SHIFT];
	return (uintptr_t)*owner_slot(a, (uintptr_t)p);
}

static inline bool owner_is_slab(uintptr_t w)
{
	return w && !(w & OWNER_LARGE);
}

/* Address of the object in slot i. */
static inline char *slab_obj(const struct kmem_cache *s, const struct slab *slab, unsigned i)
{
	return slab->pages + s->slot0 + (size_t)i * s->size + s->obj_offset;
}

/* The owner word new_slab() writes for every page of slab. */
static inline uintptr_t owner_encode(const struct kmem_cache *s, const struct slab *slab)
{
	if (s->offslab)
		return (uintptr_t)slab | OWNER_OFFSLAB;
	return (uintptr_t)s | ((uintptr_t)slab->node << OWNER_NODE_SHIFT) |
	       (s->fp_offset ? OWNER_FP_OUT : 0);
}

/* Cache and node of a slab page's owner word w (owner_is_slab(w)). */
static inline struct kmem_cache *owner_cache(uintptr_t w, unsigned *node)
{
	const struct slab *slab;

	if (mm_likely(!(w & OWNER_OFFSLAB))) {
		*node = (unsigned)((w & OWNER_NODE_MASK) >> OWNER_NODE_SHIFT);
		return (struct kmem_cache *)(w & OWNER_CACHE_MASK);
	}
	slab = (const struct slab *)(w & OWNER_DESC_MASK);
	*node = slab->node;
	return slab->cache;
}

/* Descriptor of the slab of s that holds obj. */
static inline struct slab *slab_of(const struct kmem_cache *s, const void *obj)
{
	if (s->offslab)
		return (struct slab *)(owner_word(s->alloc, obj) & OWNER_DESC_MASK);
	return (struct slab *)((uintptr_t)obj & ~(((uintptr_t)MM_PAGE_SIZE << s->order) - 1));
}

static inline unsigned ilog2_u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static inline bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Take a node lock the only way allowed: inside a per-CPU section. */
static inline void node_lock(struct slab_node *n, unsigned long *flags)
{
	(void)mm_env_cpu_enter(flags);
	mm_env_lock(&n->lock);
}

static inline void node_unlock(struct slab_node *n, unsigned long flags)
{
	mm_env_unlock(&n->lock);
	mm_env_cpu_exit(flags);
}

static inline enum slab_list list_for_inuse(const struct kmem_cache *s, const struct slab *slab)
{
	if (slab->inuse == 0)
		return SLAB_LIST_EMPTY;
	return slab->inuse == s->objperslab ? SLAB_LIST_FULL : SLAB_LIST_PARTIAL;
}

/* ---- mm/slab_debug.c: reports, debug mode, consistency checker ---- */

/* A report message built without libc (reports name the cache and the object). */
struct slab_msg {
	char buf[192];
	size_t len;
};

void slab_msg_str(struct slab_msg *m, const char *str);
void slab_msg_hex(struct slab_msg *m, uint64_t v);
void slab_msg_dec(struct slab_msg *m, uint64_t v);
/* "<what> <obj> in cache "<name>"<tail>" */
void slab_report_obj(const char *func, const char *what, const struct kmem_cache *s,
		     const void *obj, const char *tail);
/* "<what> in cache "<name>"" */
void slab_report_cache(const char *func, const char *what, const struct kmem_cache *s);

/* Is obj the start of an object of slab? (divides: debug and checker paths only) */
bool slab_obj_index_ok(const struct kmem_cache *s, const struct slab *slab, const void *obj);
/* A new debug slot: red zones, poison (no ctor), state FREE. */
void slab_debug_init(const struct kmem_cache *s, void *obj);
/* Check and repair; false (after a report) if something was overwritten. */
bool slab_debug_check_redzones(const char *func, const struct kmem_cache *s, void *obj);
bool slab_debug_check_poison(const char *func, const struct kmem_cache *s, void *obj);
/* A free object is handed out (node lock held). */
void slab_debug_alloc(const struct kmem_cache *s, void *obj);
/* obj is being freed (node lock held): 0, -MM_EINVAL (not freed) or -MM_EUCLEAN (repaired). */
int slab_debug_free(const struct kmem_cache *s, const struct slab *slab, void *obj);

/* ---- mm/slab_stats.c ---- */

/* Sum a cache's per-node and per-CPU counters (takes each node lock in turn). */
void slab_stats_sum(struct kmem_cache *s, struct slab_stats *st);

#endif /* MM_SLAB_INTERNAL_H */
