/*
 * mm/slab.c — object caches and kmalloc (see mm/slab.h for the API, docs/mm-slab.md for design).
 * Debug mode and the checker are in slab_debug.c, statistics in slab_stats.c, what they share in
 * slab_internal.h.
 *
 * Owns every struct kmem_cache and struct slab of an allocator instance, the per-CPU object lists,
 * and the owner words of the provider pages it holds.
 *
 * Shape (SLAB/"sheaves"-like per-CPU lists over SLUB-like slabs):
 *  - A slab is 2^order provider pages cut into equal slots. Its descriptor (struct slab) sits at
 *    the start of the pages (on-slab) or, where that would waste over 1/16 of the slab, in the
 *    allocator's descriptor cache (off-slab). Every page's owner word names the cache and node
 *    (on-slab) or the descriptor (off-slab): see OWNER_* in slab_internal.h.
 *  - Each CPU has, per cache, a LIFO list of free objects from its home node. Allocation pops,
 *    free pushes: no lock, no atomic instruction. An empty list refills by taking whole slab
 *    freelists from the node (O(1) per slab); a list that reaches cpu_limit flushes its older
 *    half back to the slabs under one node lock.
 *  - Slow paths: node-specific allocations for a node other than the CPU's home, frees of objects
 *    from another node, and every operation of a SLAB_DEBUG cache go straight to the node's slab
 *    lists under the node lock ("direct" paths).
 *
 * Lock order: alloc->lock -> kmem_cache node lock. Node locks are taken only inside a per-CPU
 * section and never held across a provider call, a constructor or another cache's operation
 * (so the descriptor cache, used while creating and destroying slabs of other caches, never nests
 * inside another cache's lock). Sections never nest: public entry points are called outside one.
 */
#include "slab_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Fast-path entry                                                                            */
/* ------------------------------------------------------------------------------------------ */

/*
 * Hosted environments claim a CPU id on a thread's first per-CPU section (env.h). The fast paths
 * check for that first and leave the claim to an out-of-line path, so the inline
 * mm_env_cpu_enter() they then use has no call in it (and the compiler no registers to save).
 */
#ifdef MM_ENV_HOSTED
#define SLAB_CPU_READY() mm_likely(mm_env_cpu_plus1 != 0)
#else
#define SLAB_CPU_READY() true
#endif

__attribute__((noinline, cold))
static void slab_cpu_claim(void)
{
	unsigned long flags;

	(void)mm_env_cpu_enter(&flags);
	mm_env_cpu_exit(flags);
}

/*
 * Each public fast path starts with
 *     if (!SLAB_CPU_READY()) return <op>_first(args);
 * a tail call into one of these, which claims the id and runs the operation again: nothing is
 * live across a call on the fast path.
 */
#define SLAB_FIRST_SECTION(ret, name, params, args) \
	__attribute__((noinline, cold)) static ret name##_first params \
	{ \
		slab_cpu_claim(); \
		return name args; \
	}

/* ------------------------------------------------------------------------------------------ */
/* Layout: object geometry and slab order                                                     */
/* ------------------------------------------------------------------------------------------ */

/*
 * Objects that fit in a slab of `order` and the bytes it wastes, on-slab or off-slab (an off-slab
 * descriptor costs sizeof(struct slab) elsewhere).
 */
static unsigned order_fit(uint64_t stride, uint64_t align, unsigned order, bool allow_off,
			  uint64_t *waste, bool *off)
{
	uint64_t bytes = MM_PAGE_SIZE << order;
	uint64_t hdr = MM_ALIGN_UP((uint64_t)sizeof(struct slab), align);
	uint64_t on = bytes > hdr ? (bytes - hdr) / stride : 0;
	uint64_t waste_on = bytes - on * stride;
	uint64_t offn = bytes / stride;
	uint64_t waste_off = bytes - offn * stride + sizeof(struct slab);

	/* Off-slab only where the on-slab header costs over 1/16 of the slab (see OWNER_*). */
	*off = allow_off && offn > 0 && waste_off < waste_on && waste_on * 16 > bytes;
	*waste = *off ? waste_off : waste_on;
	return (unsigned)(*off ? offn : on);
}

/*
 * Linux SLUB's calculate_order: the smallest order holding at least min_objects objects with at
 * most 1/16 (then 1/8, 1/4) of the slab wasted; min_objects halves until something fits.
 * allow_off: off-slab descriptors may be used (they never are where an on-slab layout of some
 * order wastes at most 1/16; see OWNER_*).
 */
static unsigned calculate_order_pass(uint64_t stride, uint64_t align, bool allow_off,
				     unsigned min_fraction)
{
	uint64_t waste;
	bool off;
	unsigned max_objs = order_fit(stride, align, SLAB_MAX_ORDER, allow_off, &waste, &off);
	unsigned min_objects = SLAB_MIN_OBJECTS < max_objs ? SLAB_MIN_OBJECTS : max_objs;

	for (; min_objects >= 1; min_objects /= 2)
		for (unsigned fraction = 16; fraction >= min_fraction; fraction /= 2)
			for (unsigned order = 0; order <= SLAB_MAX_ORDER; order++) {
				unsigned n = order_fit(stride, align, order, allow_off, &waste, &off);

				if (n >= min_objects && waste * fraction <= (MM_PAGE_SIZE << order))
					return order;
			}
	return SLAB_MAX_ORDER + 1;
}

static unsigned calculate_order(uint64_t stride, uint64_t align, bool allow_off)
{
	unsigned order = calculate_order_pass(stride, align, false, 16);
	uint64_t waste;
	bool off;

	if (order <= SLAB_MAX_ORDER)
		return order;
	order = calculate_order_pass(stride, align, allow_off, 4);
	if (order <= SLAB_MAX_ORDER)
		return order;
	for (order = 0; order <= SLAB_MAX_ORDER; order++)
		if (order_fit(stride, align, order, allow_off, &waste, &off) >= 1)
			return order;
	return SLAB_MAX_ORDER + 1;  /* caller checked the stride fits: unreachable */
}

/*
 * Fill in s's geometry. A debug slot looks like this (offsets from the slot start):
 *
 *   0          obj_offset              +object_size  +fp_offset   +8       +16        size
 *   | red left | object (poisoned free) | red right   | free ptr | state   | red tail |
 *
 * Without debug the object starts the slot and the free pointer overlays its first word, unless
 * a constructor owns the object's contents: then the pointer goes after the object (like SLUB).
 */
static int cache_layout(struct kmem_cache *s, uint64_t size, uint64_t align, bool allow_off)
{
	uint64_t stride, fp;
	unsigned order;
	uint64_t waste;
	bool off;

	if (align < 8)
		align = 8;
	if ((s->flags & SLAB_HWCACHE_ALIGN) && align < 64)
		align = 64;
	if (size > SLAB_MAX_SIZE)
		return MM_INVAL("object size too large for a cache");
	if (s->flags & SLAB_DEBUG) {
		s->obj_offset = (uint32_t)MM_ALIGN_UP((uint64_t)SLAB_REDZONE, align);
		fp = MM_ALIGN_UP(size, 8) + SLAB_REDZONE;
		stride = MM_ALIGN_UP(s->obj_offset + fp + 16, align);
	} else if (s->ctor) {
		s->obj_offset = 0;
		fp = MM_ALIGN_UP(size, 8);
		stride = MM_ALIGN_UP(fp + 8, align);
	} else {
		s->obj_offset = 0;
		fp = 0;
		stride = MM_ALIGN_UP(size < 8 ? 8 : size, align);
	}
	if (stride > SLAB_MAX_SIZE)
		return MM_INVAL("object size too large for a cache (with its alignment and debug metadata)");
	order = calculate_order(stride, align, allow_off);
	MM_BUG_ON(order > SLAB_MAX_ORDER);
	s->objperslab = order_fit(stride, align, order, allow_off, &waste, &off);
	s->fp_offset = (uint32_t)fp;
	s->size = (uint32_t)stride;
	s->object_size = (uint32_t)size;
	s->order = order;
	s->offslab = off;
	s->slot0 = off ? 0 : (uint32_t)MM_ALIGN_UP((uint64_t)sizeof(struct slab), align);
	/* Linux: min_partial = ilog2(size) / 2, clamped to [5, 10]. */
	s->min_partial = ilog2_u64(stride) / 2;
	if (s->min_partial < 5)
		s->min_partial = 5;
	if (s->min_partial > 10)
		s->min_partial = 10;
	/*
	 * A per-CPU list holds at most two slabs' worth: refills gather half a slab or more (whole
	 * slab freelists), and a full list flushes down to one slab's worth. Debug caches have no
	 * per-CPU list at all (cpu_limit 0 sends every operation to the checked slow path).
	 */
	s->refill = s->objperslab > 1 ? s->objperslab / 2 : 1;
	s->cpu_limit = (s->flags & SLAB_DEBUG) ? 0 : 2 * s->objperslab;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Slab lists (node lock held)                                                                */
/* ------------------------------------------------------------------------------------------ */

static void list_move_locked(struct slab_node *n, struct slab *slab, enum slab_list to)
{
	switch (slab->list) {
	case SLAB_LIST_PARTIAL: n->nr_partial--; list_del(&slab->link); break;
	case SLAB_LIST_EMPTY:   n->nr_empty--;   list_del(&slab->link); break;
	case SLAB_LIST_FULL:    n->nr_full--;    list_del(&slab->link); break;
	default: break;
	}
	slab->list = (uint8_t)to;
	switch (to) {
	case SLAB_LIST_PARTIAL: n->nr_partial++; list_add(&slab->link, &n->partial); break;
	case SLAB_LIST_EMPTY:   n->nr_empty++;   list_add(&slab->link, &n->empty);   break;
	case SLAB_LIST_FULL:    n->nr_full++;    list_add(&slab->link, &n->full);    break;
	default: break;
	}
}

/* A slab to take free objects from: partial ones first (keeps empty ones returnable). */
static struct slab *node_pick_locked(struct slab_node *n)
{
	if (!list_empty(&n->partial))
		return list_first_entry(&n->partial, struct slab, link);
	if (!list_empty(&n->empty))
		return list_first_entry(&n->empty, struct slab, link);
	return NULL;
}

/* A free pointer read from a slab must point at one of its objects (or be NULL). */
static inline void check_fp(const struct kmem_cache *s, const struct slab *slab, const void *p)
{
#ifdef MM_DEBUG
	MM_BUG_ON(p && !slab_obj_index_ok(s, slab, p));
#else
	(void)s; (void)slab; (void)p;
#endif
}

/* Pop one object from slab's freelist. */
static void *slab_pop_locked(struct kmem_cache *s, struct slab_node *n, struct slab *slab)
{
	void *obj = slab->freelist;

	MM_BUG_ON(!obj || slab->inuse >= s->objperslab);
	check_fp(s, slab, obj);
	slab->freelist = fp_get(s, obj);
	check_fp(s, slab, slab->freelist);
	slab->inuse++;
	n->inuse++;
	list_move_locked(n, slab, list_for_inuse(s, slab));
	if (s->flags & SLAB_DEBUG)
		slab_debug_alloc(s, obj);
	return obj;
}

/* Move slab's whole freelist in front of *chain (O(1)); returns how many objects moved. */
static unsigned slab_take_all_locked(struct kmem_cache *s, struct slab_node *n, struct slab *slab,
				     void **chain)
{
	unsigned nr = s->objperslab - slab->inuse;

	MM_BUG_ON(nr == 0 || !slab->freelist);
#ifdef MM_DEBUG
	{
		unsigned walked = 0;

		for (void *p = slab->freelist; p; p = fp_get(s, p)) {
			check_fp(s, slab, p);
			MM_BUG_ON(++walked > nr);
			MM_BUG_ON(!fp_get(s, p) && p != slab->fl_tail);
		}
		MM_BUG_ON(walked != nr);
	}
#endif
	fp_set(s, slab->fl_tail, *chain);
	*chain = slab->freelist;
	slab->freelist = NULL;
	slab->inuse = s->objperslab;
	n->inuse += nr;
	list_move_locked(n, slab, SLAB_LIST_FULL);
	return nr;
}

/* slab just became empty: keep it on the empty list, or hand it to *discard past min_partial. */
static void slab_emptied_locked(struct kmem_cache *s, struct slab_node *n, struct slab *slab,
				struct list_head *discard)
{
	if (n->nr_empty < s->min_partial) {
		list_move_locked(n, slab, SLAB_LIST_EMPTY);
		return;
	}
	list_move_locked(n, slab, SLAB_LIST_NONE);
	list_add(&slab->link, discard);
}

/*
 * Return obj to its slab; the caller adjusts n->inuse (once per batch when flushing). A slab that
 * becomes empty stays on the node while fewer than min_partial empty ones are there; otherwise it
 * goes on *discard, to be freed once the lock is dropped.
 */
static inline void slab_put_locked(struct kmem_cache *s, struct slab_node *n, struct slab *slab,
				   void *obj, struct list_head *discard)
{
	void *head = slab->freelist;

	MM_BUG_ON(slab->inuse == 0);
	fp_set(s, obj, head);
	if (!head)
		slab->fl_tail = obj;
	slab->freelist = obj;
	if (--slab->inuse == 0)
		slab_emptied_locked(s, n, slab, discard);
	else if (!head)                  /* it was full */
		list_move_locked(n, slab, SLAB_LIST_PARTIAL);
}

/* ------------------------------------------------------------------------------------------ */
/* Slab creation and destruction (no lock held, outside any section)                          */
/* ------------------------------------------------------------------------------------------ */

static void set_owner(struct slab_allocator *a, char *pages, unsigned order, void *owner)
{
	for (uint64_t i = 0; i < (UINT64_C(1) << order); i++)
		*owner_slot(a, (uintptr_t)pages + i * MM_PAGE_SIZE) = owner;
}

static void *provider_alloc(struct slab_allocator *a, unsigned order, unsigned node)
{
	void *p = a->provider.alloc_pages(a->provider.ctx, order, node);
	uintptr_t addr = (uintptr_t)p;

	/* A block outside the region or misaligned would corrupt the owner table. */
	MM_BUG_ON(p && (addr - a->base >= a->span ||
			(addr - a->base) + (MM_PAGE_SIZE << order) > a->span ||
			!MM_IS_ALIGNED(addr, MM_PAGE_SIZE << order)));
	return p;
}

/* A new slab on node, its objects constructed and on its freelist; not on any list yet. */
static struct slab *new_slab(struct kmem_cache *s, unsigned node)
{
	struct slab_allocator *a = s->alloc;
	char *pages = provider_alloc(a, s->order, node);
	struct slab *slab;
	void *prev = NULL;

	if (!pages)
		return NULL;
	if (s->offslab) {
		slab = kmem_cache_alloc_node(&a->desc_cache, node);
		if (!slab) {
			a->provider.free_pages(a->provider.ctx, pages, s->order);
			return NULL;
		}
	} else {
		slab = (struct slab *)(void *)pages;
	}
	slab->cache = s;
	slab->pages = pages;
	slab->inuse = 0;
	slab->node = (uint16_t)node;
	slab->list = SLAB_LIST_NONE;
	slab->magic = SLAB_MAGIC;
	slab->freelist = NULL;
	/* Link in address order so a fresh slab is handed out front to back. */
	for (unsigned i = 0; i < s->objperslab; i++) {
		char *obj = slab_obj(s, slab, i);

		if (s->flags & SLAB_DEBUG)
			slab_debug_init(s, obj);
		if (s->ctor)
			s->ctor(obj);
		if (prev)
			fp_set(s, prev, obj);
		else
			slab->freelist = obj;
		prev = obj;
	}
	fp_set(s, prev, NULL);
	slab->fl_tail = prev;
	set_owner(a, pages, s->order, (void *)owner_encode(s, slab));
	return slab;
}

/* Give an empty slab (off every list) back to the provider; returns pages freed. */
static long free_slab(struct kmem_cache *s, struct slab *slab)
{
	struct slab_allocator *a = s->alloc;
	char *pages = slab->pages;

	MM_BUG_ON(slab->inuse != 0 || slab->magic != SLAB_MAGIC);
	if (s->flags & SLAB_DEBUG)
		for (unsigned i = 0; i < s->objperslab; i++) {
			void *obj = slab_obj(s, slab, i);

			(void)slab_debug_check_redzones(__func__, s, obj);
			(void)slab_debug_check_poison(__func__, s, obj);
		}
	set_owner(a, pages, s->order, NULL);
	slab->magic = 0;
	if (s->offslab)
		(void)kmem_cache_free(&a->desc_cache, slab);
	a->provider.free_pages(a->provider.ctx, pages, s->order);
	return 1L << s->order;
}

static long free_slabs(struct kmem_cache *s, struct list_head *discard)
{
	struct list_head *p, *tmp;
	long pages = 0;

	list_for_each_safe(p, tmp, discard) {
		struct slab *slab = list_entry(p, struct slab, link);

		list_del(&slab->link);
		pages += free_slab(s, slab);
	}
	return pages;
}

/* ------------------------------------------------------------------------------------------ */
/* Allocation                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Account a new slab to its node (lock held). */
static void node_add_slab_locked(struct slab_node *n, struct slab *slab)
{
	list_move_locked(n, slab, SLAB_LIST_EMPTY);
}

/*
 * One object straight from node's slabs (debug caches, foreign-node requests, fallback). Creates
 * a slab on node when none has a free object. NULL when node is out of pages.
 */
static void *alloc_direct(struct kmem_cache *s, unsigned node)
{
	struct slab_node *n = &s->node[node];
	unsigned long flags;
	struct slab *slab;
	void *obj = NULL;

	node_lock(n, &flags);
	slab = node_pick_locked(n);
	if (slab) {
		obj = slab_pop_locked(s, n, slab);
		n->alloc_slow++;
	}
	node_unlock(n, flags);
	if (obj)
		return obj;
	slab = new_slab(s, node);
	if (!slab)
		return NULL;
	node_lock(n, &flags);
	node_add_slab_locked(n, slab);
	obj = slab_pop_locked(s, n, slab);
	n->alloc_slow++;
	node_unlock(n, flags);
	return obj;
}

/* The home node is out of pages: any other node will do (SLAB_NODE_ANY requests only). */
static void *alloc_fallback(struct kmem_cache *s, unsigned home)
{
	for (unsigned i = 1; i < s->alloc->provider.nr_nodes; i++) {
		void *obj = alloc_direct(s, (home + i) % s->alloc->provider.nr_nodes);

		if (obj)
			return obj;
	}
	return NULL;
}

/*
 * The per-CPU list was empty (or node is not the home node, or s debugs). Entered inside the
 * section opened by the fast path (cpu, flags); leaves it.
 */
__attribute__((noinline))
static void *cache_alloc_slow(struct kmem_cache *s, unsigned node, unsigned cpu,
			      unsigned long flags)
{
	struct slab_cpu *c = &s->cpu[cpu];
	unsigned home = c->node;
	struct slab_node *n = &s->node[home];
	struct slab *slab;
	void *chain = NULL, *obj;
	unsigned got;

	if (node != SLAB_NODE_ANY && node != home) {
		mm_env_cpu_exit(flags);
		return alloc_direct(s, node);
	}
	if (s->flags & SLAB_DEBUG) {
		mm_env_cpu_exit(flags);
		obj = alloc_direct(s, home);
		return obj || node != SLAB_NODE_ANY ? obj : alloc_fallback(s, home);
	}
	/* Refill from the home node's partial and empty slabs. */
	mm_env_lock(&n->lock);
	got = 0;
	while (got < s->refill && (slab = node_pick_locked(n)) != NULL)
		got += slab_take_all_locked(s, n, slab, &chain);
	if (got)
		n->alloc_slow++;
	mm_env_unlock(&n->lock);
	if (got) {
		obj = chain;
		c->head = fp_get(s, obj);
		cpu_set_len(s, c, got - 1);
		mm_env_cpu_exit(flags);
		return obj;
	}
	mm_env_cpu_exit(flags);

	/* Nothing free on the node: a new slab (outside the section: the provider may sleep/lock). */
	slab = new_slab(s, home);
	if (!slab)
		return node == SLAB_NODE_ANY ? alloc_fallback(s, home) : NULL;
	cpu = mm_env_cpu_enter(&flags);
	c = &s->cpu[cpu];
	mm_env_lock(&n->lock);
	node_add_slab_locked(n, slab);
	if (c->head == NULL && c->node == home) {
		got = slab_take_all_locked(s, n, slab, &chain);
		obj = chain;
		c->head = fp_get(s, obj);
		cpu_set_len(s, c, got - 1);
	} else {
		/* Another context refilled this CPU meanwhile (guest interrupt, migration). */
		obj = slab_pop_locked(s, n, slab);
	}
	n->alloc_slow++;
	mm_env_unlock(&n->lock);
	mm_env_cpu_exit(flags);
	return obj;
}

/* failslab: does the allocator's fault-injection hook fail this allocation? */
static bool should_failslab(const struct slab_allocator *a, const char *cache, size_t size)
{
	bool (*fn)(void *, const char *, size_t) = __atomic_load_n(&a->fail_hook, __ATOMIC_ACQUIRE);

	return fn != NULL && fn(a->fail_hook_arg, cache, size);
}

static void *cache_alloc_failslab(struct kmem_cache *s, unsigned node);

/*
 * The fast path: pop from this CPU's list. hook (a constant at each call site): first test the
 * cache's failslab word, inside the section where the CPU id is already at hand, and leave to
 * cache_alloc_failslab when it is set. Tested before the section, or with the hook called
 * inline, it cost 0.6-1.1 ns per 64 B pair in bench_slab (a frame, a second CPU-id load).
 */
static inline void *cache_alloc_in(struct kmem_cache *s, unsigned node, bool hook)
{
	unsigned long flags;
	unsigned cpu = mm_env_cpu_enter(&flags);
	struct slab_cpu *c = &s->cpu[cpu];
	void *obj = c->head;

	if (hook && mm_unlikely(__atomic_load_n(&s->failslab, __ATOMIC_RELAXED))) {
		mm_env_cpu_exit(flags);
		return cache_alloc_failslab(s, node);
	}
	if (mm_likely(obj && (node == SLAB_NODE_ANY || node == c->node))) {
		uint32_t room = c->room;
		uint64_t n = c->alloc_fast;

		c->head = fp_get(s, obj);
		PCPU_SET(c->room, room + 1);
		PCPU_SET(c->alloc_fast, n + 1);
		mm_env_cpu_exit(flags);
		return obj;
	}
	return cache_alloc_slow(s, node, cpu, flags);
}

/* failslab is set: ask the hook (outside the per-CPU section: it may print), then allocate. */
__attribute__((noinline, cold))
static void *cache_alloc_failslab(struct kmem_cache *s, unsigned node)
{
	if (should_failslab(s->alloc, s->name, s->object_size))
		return NULL;
	return cache_alloc_in(s, node, false);
}

static inline void *cache_alloc(struct kmem_cache *s, unsigned node)
{
	return cache_alloc_in(s, node, true);
}

SLAB_FIRST_SECTION(void *, kmem_cache_alloc, (struct kmem_cache *s), (s))

void *kmem_cache_alloc(struct kmem_cache *s)
{
	if (!SLAB_CPU_READY())
		return kmem_cache_alloc_first(s);
	if (mm_unlikely(!s)) {
		mm_env_report(__func__, "cache is NULL");
		return NULL;
	}
	return cache_alloc(s, SLAB_NODE_ANY);
}

void *kmem_cache_alloc_node(struct kmem_cache *s, unsigned node)
{
	if (mm_unlikely(!s)) {
		mm_env_report(__func__, "cache is NULL");
		return NULL;
	}
	if (node != SLAB_NODE_ANY && node >= s->alloc->provider.nr_nodes) {
		mm_env_report(__func__, "node out of range (not a provider node)");
		return NULL;
	}
	return cache_alloc(s, node);
}

/* ------------------------------------------------------------------------------------------ */
/* Free                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Return obj straight to its slab (other node's object, or a debug cache). */
static int free_direct(struct kmem_cache *s, struct slab *slab, void *obj)
{
	struct slab_node *n = &s->node[slab->node];
	struct list_head discard = LIST_HEAD_INIT(discard);
	unsigned long flags;
	int rc = 0;

	node_lock(n, &flags);
	if (s->flags & SLAB_DEBUG)
		rc = slab_debug_free(s, slab, obj);
	if (rc != -MM_EINVAL) {
		slab_put_locked(s, n, slab, obj, &discard);
		n->inuse--;
		n->free_slow++;
	}
	node_unlock(n, flags);
	(void)free_slabs(s, &discard);
	return rc;
}

/*
 * Return a detached per-CPU chain of nr objects (all from node) to their slabs under one lock.
 * `trigger` counts the free that caused the flush as a slow-path free.
 */
static void flush_chain(struct kmem_cache *s, unsigned node, void *chain, uint64_t nr, bool trigger)
{
	struct slab_node *n = &s->node[node];
	struct list_head discard = LIST_HEAD_INIT(discard);
	unsigned long flags;

	node_lock(n, &flags);
	while (chain) {
		void *next = fp_get(s, chain);
		struct slab *slab = slab_of(s, chain);

		MM_BUG_ON(slab->cache != s || slab->node != node);
		slab_put_locked(s, n, slab, chain, &discard);
		chain = next;
	}
	n->inuse -= nr;
	n->flushed += nr;
	if (trigger)
		n->free_slow++;
	node_unlock(n, flags);
	(void)free_slabs(s, &discard);
}

/*
 * Not the fast path: a debug cache, an object of another node, the object already at the head of
 * the list (an immediate double free), or a full list. Entered inside the section; leaves it.
 */
__attribute__((noinline))
static int cache_free_slow(struct kmem_cache *s, unsigned obj_node, void *obj, unsigned cpu,
			   unsigned long flags)
{
	struct slab_cpu *c = &s->cpu[cpu];
	unsigned keep = s->cpu_limit / 2, node = c->node;
	void *p, *old;
	uint64_t nr;

	if ((s->flags & SLAB_DEBUG) || obj_node != c->node) {
		mm_env_cpu_exit(flags);
		return free_direct(s, slab_of(s, obj), obj);
	}
	if (obj == c->head) {
		mm_env_cpu_exit(flags);
		slab_report_obj(__func__, "double free of object", s, obj, " (already on the per-CPU list)");
		return -MM_EINVAL;
	}
	/* Full list: push obj, keep the newest `keep` objects, flush the older rest. */
	fp_set(s, obj, c->head);
	c->head = obj;
	p = obj;
	for (unsigned i = 1; i < keep; i++)
		p = fp_get(s, p);
	old = fp_get(s, p);
	fp_set(s, p, NULL);
	nr = cpu_len(s, c) + 1 - keep;
	cpu_set_len(s, c, keep);
	mm_env_cpu_exit(flags);
	flush_chain(s, node, old, nr, true);
	return 0;
}

/*
 * The fast path: push on this CPU's list. obj_node: node of obj's slab; fp_offset: s->fp_offset,
 * passed so that kfree can give a constant 0 (see OWNER_FP_OUT).
 */
static inline int cache_free(struct kmem_cache *s, unsigned obj_node, void *obj, uint32_t fp_offset)
{
	unsigned long flags;
	unsigned cpu = mm_env_cpu_enter(&flags);
	struct slab_cpu *c = &s->cpu[cpu];

	uint32_t room = c->room;
	void *head = c->head;

	if (mm_likely(room && obj_node == c->node && obj != head)) {
		*(void **)(void *)((char *)obj + fp_offset) = head;
		c->head = obj;
		PCPU_SET(c->room, room - 1);   /* counts the fast free too: see struct slab_cpu */
		mm_env_cpu_exit(flags);
		return 0;
	}
	return cache_free_slow(s, obj_node, obj, cpu, flags);
}

/* Why ptr (owner word w, not a slab) cannot be freed as a slab object. */
static int report_nonslab(const char *func, uintptr_t w)
{
	if (w == 0)
		mm_env_report(func, "pointer is not from this allocator (page not held by slab)");
	else
		mm_env_report(func, "pointer is a large kmalloc block, not a slab object");
	return -MM_EINVAL;
}

SLAB_FIRST_SECTION(int, kmem_cache_free, (struct kmem_cache *s, void *obj), (s, obj))

/* kmem_cache_free of anything but an on-slab object of s on this CPU's home node. */
__attribute__((noinline))
static int kmem_cache_free_other(struct kmem_cache *s, void *obj)
{
	struct slab_allocator *a = s->alloc;
	uintptr_t addr = (uintptr_t)obj, w;
	struct kmem_cache *owner;
	struct slab_msg m = { .len = 0 };
	unsigned node;

	if (!obj)
		return 0;
	if (addr - a->base >= a->span) {
		mm_env_report("kmem_cache_free",
			      "pointer is not from this allocator (outside the provider region)");
		return -MM_EINVAL;
	}
	w = owner_word(a, obj);
	if (!owner_is_slab(w))
		return report_nonslab("kmem_cache_free", w);
	owner = owner_cache(w, &node);
	if (owner == s)
		return cache_free(s, node, obj, s->fp_offset);
	slab_msg_str(&m, "invalid free: object ");
	slab_msg_hex(&m, addr);
	slab_msg_str(&m, " belongs to cache \"");
	slab_msg_str(&m, owner->name);
	slab_msg_str(&m, "\", not \"");
	slab_msg_str(&m, s->name);
	slab_msg_str(&m, "\"");
	mm_env_report("kmem_cache_free", m.buf);
	return -MM_EINVAL;
}

int kmem_cache_free(struct kmem_cache *s, void *obj)
{
	struct slab_allocator *a;
	uintptr_t addr = (uintptr_t)obj, home;
	struct slab_cpu *c;
	unsigned long flags;
	unsigned cpu;

	if (!SLAB_CPU_READY())
		return kmem_cache_free_first(s, obj);
	if (mm_unlikely(!s))
		return MM_INVAL("cache is NULL");
	a = s->alloc;
	/* NULL lies outside the region: the slow path sorts it out. */
	if (mm_unlikely(addr - a->base >= a->span))
		return kmem_cache_free_other(s, obj);
	/*
	 * One compare checks that obj belongs to s, that its slab is on-slab on this CPU's home
	 * node and that its free pointer is its first word: the owner word must be s | home tag.
	 */
	cpu = mm_env_cpu_enter(&flags);
	home = (uintptr_t)a->cpu_node[cpu] << OWNER_NODE_SHIFT;
	if (mm_likely(owner_word(a, obj) == ((uintptr_t)s | home))) {
		uint32_t room;
		void *head;

		c = &s->cpu[cpu];
		room = c->room;
		head = c->head;
		if (mm_likely(room && obj != head)) {
			*(void **)obj = head;
			c->head = obj;
			PCPU_SET(c->room, room - 1);
			mm_env_cpu_exit(flags);
			return 0;
		}
		return cache_free_slow(s, a->cpu_node[cpu], obj, cpu, flags);
	}
	mm_env_cpu_exit(flags);
	return kmem_cache_free_other(s, obj);
}

/* ------------------------------------------------------------------------------------------ */
/* kmalloc                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static const uint32_t kmalloc_sizes[KMALLOC_NR_CLASSES] = {
	8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
};
static const char *const kmalloc_names[KMALLOC_NR_CLASSES] = {
	"kmalloc-8", "kmalloc-16", "kmalloc-32", "kmalloc-64", "kmalloc-96", "kmalloc-128",
	"kmalloc-192", "kmalloc-256", "kmalloc-512", "kmalloc-1k", "kmalloc-2k", "kmalloc-4k",
	"kmalloc-8k",
};

/* Class index by (size - 1) / 8 for sizes 1..8192: one load, no branch on the size range. */
#define R2(x) x, x
#define R4(x) R2(x), R2(x)
#define R8(x) R4(x), R4(x)
#define R32(x) R8(x), R8(x), R8(x), R8(x)
#define R128(x) R32(x), R32(x), R32(x), R32(x)
static const uint8_t kmalloc_index_table[KMALLOC_MAX_CACHE / 8] = {
	0, 1, R2(2), R4(3), R4(4), R4(5), R8(6), R8(7), R32(8), R32(9), R32(9),
	R128(10), R128(11), R128(11), R128(12), R128(12), R128(12), R128(12),
};
_Static_assert(sizeof(kmalloc_index_table) == 1024, "one entry per 8 bytes up to 8 KiB");
#undef R2
#undef R4
#undef R8
#undef R32
#undef R128

/* Class for 1 <= size <= KMALLOC_MAX_CACHE. */
static inline unsigned kmalloc_index(size_t size)
{
	return kmalloc_index_table[(size - 1) >> 3];
}

struct kmem_cache *kmalloc_cache(struct slab_allocator *a, size_t size)
{
	if (!a || size == 0 || size > KMALLOC_MAX_CACHE)
		return NULL;
	return a->kmalloc[kmalloc_index(size)];
}

static unsigned cpu_home_node(struct slab_allocator *a)
{
	unsigned long flags;
	unsigned cpu = mm_env_cpu_enter(&flags);

	mm_env_cpu_exit(flags);
	return a->cpu_node[cpu];
}

/* Large blocks: 2^order pages straight from the provider, tagged in the owner words. */
static void *kmalloc_large(struct slab_allocator *a, size_t size, unsigned node)
{
	unsigned order = 0;
	char *p;

	if (size > (MM_PAGE_SIZE << a->provider.max_order)) {
		mm_env_report("kmalloc", "size too large (beyond the provider's max_order)");
		return NULL;
	}
	if (should_failslab(a, "kmalloc-large", size))
		return NULL;
	while ((MM_PAGE_SIZE << order) < size)
		order++;
	if (node == SLAB_NODE_ANY) {
		unsigned home = cpu_home_node(a);

		p = NULL;
		for (unsigned i = 0; i < a->provider.nr_nodes && !p; i++)
			p = provider_alloc(a, order, (home + i) % a->provider.nr_nodes);
	} else {
		p = provider_alloc(a, order, node);
	}
	if (!p)
		return NULL;
	*owner_slot(a, (uintptr_t)p) =
		(void *)(uintptr_t)(((uint64_t)order << OWNER_ORDER_SHIFT) | OWNER_LARGE);
	for (uint64_t i = 1; i < (UINT64_C(1) << order); i++)
		*owner_slot(a, (uintptr_t)p + i * MM_PAGE_SIZE) =
			(void *)(uintptr_t)(OWNER_LARGE | OWNER_TAIL);
	__atomic_fetch_add(&a->large_pages, UINT64_C(1) << order, __ATOMIC_RELAXED);
	return p;
}

__attribute__((noinline))
static void *kmalloc_slow(struct slab_allocator *a, size_t size, unsigned node)
{
	if (!a) {
		mm_env_report("kmalloc", "allocator is NULL");
		return NULL;
	}
	if (size == 0) {
		mm_env_report("kmalloc", "size is 0");
		return NULL;
	}
	if (node != SLAB_NODE_ANY && node >= a->provider.nr_nodes) {
		mm_env_report("kmalloc_node", "node out of range (not a provider node)");
		return NULL;
	}
	if (size <= KMALLOC_MAX_CACHE)
		return cache_alloc(a->kmalloc[kmalloc_index(size)], node);
	return kmalloc_large(a, size, node);
}

SLAB_FIRST_SECTION(void *, kmalloc, (struct slab_allocator *a, size_t size), (a, size))

void *kmalloc(struct slab_allocator *a, size_t size)
{
	if (!SLAB_CPU_READY())
		return kmalloc_first(a, size);
	/* size - 1 wraps for 0, so one compare admits exactly 1..KMALLOC_MAX_CACHE. */
	if (mm_likely(a && size - 1 < KMALLOC_MAX_CACHE))
		return cache_alloc(a->kmalloc[kmalloc_index(size)], SLAB_NODE_ANY);
	return kmalloc_slow(a, size, SLAB_NODE_ANY);
}

void *kmalloc_node(struct slab_allocator *a, size_t size, unsigned node)
{
	return kmalloc_slow(a, size, node);
}

/* kfree of anything but an on-slab object: off-slab objects, large blocks, foreign pointers. */
__attribute__((noinline))
static int kfree_other(struct slab_allocator *a, void *ptr, uintptr_t w)
{
	unsigned order;

	if (owner_is_slab(w)) {
		unsigned node;
		struct kmem_cache *s = owner_cache(w, &node);

		return cache_free(s, node, ptr, s->fp_offset);
	}
	if (w == 0 || (w & OWNER_TAIL) || !MM_IS_ALIGNED((uintptr_t)ptr, MM_PAGE_SIZE)) {
		if (w == 0)
			return report_nonslab("kfree", w);
		mm_env_report("kfree", "invalid free: pointer is inside a large kmalloc block, not at its start");
		return -MM_EINVAL;
	}
	order = (unsigned)(w >> OWNER_ORDER_SHIFT);
	set_owner(a, ptr, order, NULL);
	__atomic_fetch_sub(&a->large_pages, UINT64_C(1) << order, __ATOMIC_RELAXED);
	a->provider.free_pages(a->provider.ctx, ptr, order);
	return 0;
}

SLAB_FIRST_SECTION(int, kfree, (struct slab_allocator *a, void *ptr), (a, ptr))

/* Out of line so the fast path makes no call that is not a tail call. */
__attribute__((noinline, cold))
static int kfree_bad(const struct slab_allocator *a, const void *ptr)
{
	if (!ptr)
		return 0;
	if (!a)
		return MM_INVAL("allocator is NULL");
	return MM_INVAL("pointer is not from this allocator (outside the provider region)");
}

int kfree(struct slab_allocator *a, void *ptr)
{
	uintptr_t addr = (uintptr_t)ptr, w, home, k;
	struct slab_cpu *c;
	unsigned long flags;
	unsigned cpu;

	if (!SLAB_CPU_READY())
		return kfree_first(a, ptr);
	/* NULL lies outside the region (base > 0), so one compare also catches kfree(a, NULL). */
	if (mm_unlikely(!a || addr - a->base >= a->span))
		return kfree_bad(a, ptr);
	/*
	 * The fast path takes exactly the owner words cache | home tag (on-slab, free pointer at 0,
	 * this CPU's home node), so this CPU's list is at w + k with k known before the owner word
	 * arrives: the stores below need no arithmetic after that load (see OWNER_*; mixed sizes
	 * 5% faster than masking the cache out of w). The empty asm hides k's value from the
	 * compiler, which otherwise rebuilds it from w & ~OWNER_CACHE_MASK inside the branch.
	 */
	cpu = mm_env_cpu_enter(&flags);
	home = (uintptr_t)a->cpu_node[cpu] << OWNER_NODE_SHIFT;
	k = offsetof(struct kmem_cache, cpu) + cpu * sizeof(struct slab_cpu) - home;
	__asm__("" : "+r"(k));
	w = owner_word(a, ptr);
	if (mm_likely(w && (w & ~OWNER_CACHE_MASK) == home)) {
		uint32_t room;
		void *head;

		c = (struct slab_cpu *)(w + k);     /* == &((struct kmem_cache *)(w - home))->cpu[cpu] */
		room = c->room;
		head = c->head;
		if (mm_likely(room && ptr != head)) {
			*(void **)ptr = head;
			c->head = ptr;
			PCPU_SET(c->room, room - 1);
			mm_env_cpu_exit(flags);
			return 0;
		}
		return cache_free_slow((struct kmem_cache *)(w - home), a->cpu_node[cpu], ptr, cpu,
				       flags);
	}
	mm_env_cpu_exit(flags);
	return kfree_other(a, ptr, w);
}

size_t ksize(struct slab_allocator *a, const void *ptr)
{
	uintptr_t addr = (uintptr_t)ptr, w;
	struct kmem_cache *s;
	unsigned node;

	if (!a || !ptr) {
		mm_env_report(__func__, !a ? "allocator is NULL" : "pointer is NULL");
		return 0;
	}
	if (addr - a->base >= a->span) {
		mm_env_report(__func__, "pointer is not from this allocator (outside the provider region)");
		return 0;
	}
	w = owner_word(a, ptr);
	if (w & OWNER_LARGE) {
		if ((w & OWNER_TAIL) || !MM_IS_ALIGNED(addr, MM_PAGE_SIZE)) {
			mm_env_report(__func__, "pointer is inside a large kmalloc block, not at its start");
			return 0;
		}
		return (size_t)MM_PAGE_SIZE << (w >> OWNER_ORDER_SHIFT);
	}
	if (w == 0) {
		mm_env_report(__func__, "pointer is not from this allocator (page not held by slab)");
		return 0;
	}
	s = owner_cache(w, &node);
	if (!slab_obj_index_ok(s, slab_of(s, ptr), ptr)) {
		slab_report_obj(__func__, "pointer", s, ptr, " is not at an object start");
		return 0;
	}
	return s->object_size;
}

uint64_t slab_large_pages(const struct slab_allocator *a)
{
	return a ? __atomic_load_n(&a->large_pages, __ATOMIC_RELAXED) : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Shrink, flush, check                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Flush CPU cpu's list of s. The caller is that CPU, or every user of s is quiescent. */
static void cpu_flush(struct kmem_cache *s, unsigned cpu)
{
	struct slab_cpu *c = &s->cpu[cpu];
	void *chain = c->head;
	uint64_t nr = cpu_len(s, c);

	if (!chain)
		return;
	c->head = NULL;
	cpu_set_len(s, c, 0);
	flush_chain(s, c->node, chain, nr, false);
}

static void cpu_flush_own(struct kmem_cache *s)
{
	unsigned long flags;
	unsigned cpu = mm_env_cpu_enter(&flags);
	struct slab_cpu *c = &s->cpu[cpu];
	void *chain = c->head;
	uint64_t nr = cpu_len(s, c);
	unsigned node = c->node;

	c->head = NULL;
	cpu_set_len(s, c, 0);
	mm_env_cpu_exit(flags);
	if (chain)
		flush_chain(s, node, chain, nr, false);
}

/* Free every empty slab of s; returns pages given back. */
/* Move every empty slab of every node of s onto discard (node locks taken one at a time). */
static void detach_empty(struct kmem_cache *s, struct list_head *discard)
{
	for (unsigned node = 0; node < s->alloc->provider.nr_nodes; node++) {
		struct slab_node *n = &s->node[node];
		unsigned long flags;

		node_lock(n, &flags);
		while (!list_empty(&n->empty)) {
			struct slab *slab = list_first_entry(&n->empty, struct slab, link);

			list_move_locked(n, slab, SLAB_LIST_NONE);
			list_add(&slab->link, discard);
		}
		node_unlock(n, flags);
	}
}

static long release_empty(struct kmem_cache *s)
{
	struct list_head discard = LIST_HEAD_INIT(discard);

	detach_empty(s, &discard);
	return free_slabs(s, &discard);
}

long kmem_cache_shrink(struct kmem_cache *s)
{
	if (!s)
		return MM_INVAL("cache is NULL");
	cpu_flush_own(s);
	return release_empty(s);
}

/* One pass of slab_shrink_all: detach under the allocator lock (no cache can leave the list),
 * free outside any lock (the provider is never called with a slab lock held). */
static long shrink_all_pass(struct slab_allocator *a)
{
	struct list_head discard = LIST_HEAD_INIT(discard), *p, *tmp;
	long pages = 0;

	mm_env_lock(&a->lock);
	list_for_each(p, &a->caches)
		detach_empty(list_entry(p, struct kmem_cache, list), &discard);
	mm_env_unlock(&a->lock);
	list_for_each_safe(p, tmp, &discard) {
		struct slab *slab = list_entry(p, struct slab, link);

		list_del(&slab->link);
		pages += free_slab(slab->cache, slab);
	}
	return pages;
}

long slab_shrink_all(struct slab_allocator *a)
{
	long pages = 0, pass;

	if (!a)
		return MM_INVAL("allocator is NULL");
	/* Freeing a slab frees its off-slab descriptor (onto this CPU's list), which can leave a
	 * descriptor slab empty: flush and repeat until a pass gives nothing back (each pass that
	 * continues gave back a page or more, so this ends). */
	do {
		slab_flush_cpu(a);
		pass = shrink_all_pass(a);
		pages += pass;
	} while (pass > 0);
	return pages;
}

void slab_flush_cpu(struct slab_allocator *a)
{
	struct list_head *p;

	if (!a) {
		mm_env_report(__func__, "allocator is NULL");
		return;
	}
	mm_env_lock(&a->lock);
	list_for_each(p, &a->caches)
		cpu_flush_own(list_entry(p, struct kmem_cache, list));
	/* Flushing can empty off-slab slabs past min_partial; freeing them put their descriptors
	 * on this CPU's descriptor list, flushed above when it came first: once more, last.
	 * Descriptor slabs are on-slab, so this flush frees no further descriptor. */
	cpu_flush_own(&a->desc_cache);
	mm_env_unlock(&a->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Cache creation and destruction                                                             */
/* ------------------------------------------------------------------------------------------ */

static void copy_name(char *dst, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < SLAB_NAME_MAX; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

/* Initialise *s (already zeroed memory not required). */
static int cache_init(struct slab_allocator *a, struct kmem_cache *s, const char *name,
		      size_t size, size_t align, unsigned flags, void (*ctor)(void *), bool allow_off)
{
	int rc;

	MM_BUG_ON((uintptr_t)s % 128);     /* owner words keep tags in the low bits */
	__builtin_memset(s, 0, sizeof(*s));
	s->alloc = a;
	s->flags = flags;
	s->ctor = ctor;
	copy_name(s->name, name);
	rc = cache_layout(s, size, align, allow_off);
	if (rc)
		return rc;
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
		s->cpu[cpu].node = a->cpu_node[cpu];
		s->cpu[cpu].room = s->cpu_limit;
	}
	for (unsigned node = 0; node < MM_MAX_NODES; node++) {
		struct slab_node *n = &s->node[node];

		mm_env_lock_init(&n->lock);
		list_init(&n->partial);
		list_init(&n->empty);
		list_init(&n->full);
	}
	list_init(&s->list);
	return 0;
}

static void cache_link(struct slab_allocator *a, struct kmem_cache *s)
{
	mm_env_lock(&a->lock);
	__atomic_store_n(&s->failslab, (uint32_t)(a->fail_hook != NULL), __ATOMIC_RELAXED);
	list_add_tail(&s->list, &a->caches);
	mm_env_unlock(&a->lock);
}

static uint64_t cache_inuse(struct kmem_cache *s)
{
	uint64_t inuse = 0;

	for (unsigned node = 0; node < s->alloc->provider.nr_nodes; node++) {
		struct slab_node *n = &s->node[node];
		unsigned long flags;

		node_lock(n, &flags);
		inuse += n->inuse;
		node_unlock(n, flags);
	}
	return inuse;
}

/* Flush every CPU's list of s (its users are quiescent) and report whether objects are out. */
static bool cache_drain_busy(struct kmem_cache *s)
{
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		cpu_flush(s, cpu);
	if (cache_inuse(s) == 0)
		return false;
	slab_report_cache("kmem_cache_destroy", "objects still allocated", s);
	return true;
}

/* Free every slab of a drained, idle cache. */
static void cache_release_all(struct kmem_cache *s)
{
	for (unsigned node = 0; node < s->alloc->provider.nr_nodes; node++) {
		struct slab_node *n = &s->node[node];

		MM_BUG_ON(n->inuse != 0 || n->nr_partial != 0 || n->nr_full != 0);
	}
	(void)release_empty(s);
}

struct kmem_cache *kmem_cache_create(struct slab_allocator *a, const char *name, size_t size,
				     size_t align, unsigned flags, void (*ctor)(void *))
{
	struct kmem_cache *s;
	const char *bad = NULL;

	if (!a)
		bad = "allocator is NULL";
	else if (!name)
		bad = "name is NULL";
	else if (!name[0])
		bad = "name is empty";
	else if (size == 0)
		bad = "size is 0";
	else if (size > SLAB_MAX_SIZE)
		bad = "object size too large for a cache";
	else if (align && !is_pow2(align))
		bad = "align is not a power of two";
	else if (align > MM_PAGE_SIZE)
		bad = "align larger than a page";
	else if (flags & ~SLAB_CREATE_FLAGS)
		bad = "unknown flags";
	if (bad) {
		mm_env_report(__func__, bad);
		return NULL;
	}
	s = kmem_cache_alloc(&a->cache_cache);
	if (!s)
		return NULL;
	if (cache_init(a, s, name, size, align, flags | (a->flags & SLAB_DEBUG), ctor, true)) {
		(void)kmem_cache_free(&a->cache_cache, s);
		return NULL;
	}
	cache_link(a, s);
	return s;
}

int kmem_cache_destroy(struct kmem_cache *s)
{
	struct slab_allocator *a;

	if (!s)
		return MM_INVAL("cache is NULL");
	if (s->flags & (SLAB_KMALLOC | SLAB_BOOT))
		return MM_INVAL("cannot destroy a kmalloc or boot cache");
	a = s->alloc;
	if (cache_drain_busy(s))
		return -MM_EBUSY;
	cache_release_all(s);
	mm_env_lock(&a->lock);
	list_del(&s->list);
	mm_env_unlock(&a->lock);
	s->alloc = NULL;
	(void)kmem_cache_free(&a->cache_cache, s);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Allocator                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static const char *provider_problem(const struct slab_page_provider *p)
{
	if (!p)
		return "provider is NULL";
	if (!p->alloc_pages || !p->free_pages)
		return "provider callbacks are NULL";
	if (!p->base || !MM_IS_ALIGNED(p->base, MM_PAGE_SIZE))
		return "provider base is NULL or not page aligned";
	if (p->npages == 0 || p->npages > (UINT64_MAX - p->base) >> MM_PAGE_SHIFT)
		return "provider npages is 0 or wraps the address space";
	if (!p->owner0 || !MM_IS_ALIGNED((uintptr_t)p->owner0, sizeof(void *)))
		return "provider owner table is NULL or misaligned";
	if (p->owner_stride < sizeof(void *) || !is_pow2(p->owner_stride))
		return "provider owner_stride is not a power of two >= sizeof(void *)";
	if (p->nr_nodes == 0 || p->nr_nodes > MM_MAX_NODES)
		return "provider nr_nodes out of range (1..MM_MAX_NODES)";
	if (p->max_order < SLAB_MAX_ORDER || p->max_order > 40)
		return "provider max_order below SLAB_MAX_ORDER (or absurd)";
	return NULL;
}

int slab_allocator_init(struct slab_allocator *a, const struct slab_page_provider *p,
			unsigned flags)
{
	const char *bad = provider_problem(p);
	int rc;

	if (!a)
		return MM_INVAL("allocator is NULL");
	if ((uintptr_t)a % 128)
		return MM_INVAL("allocator is not 128-byte aligned (its caches are tagged into owner words)");
	if (bad)
		return MM_INVAL(bad);
	if (flags & ~SLAB_DEBUG)
		return MM_INVAL("unknown flags (only SLAB_DEBUG)");
	__builtin_memset(a, 0, sizeof(*a));
	a->provider = *p;
	a->base = p->base;
	a->span = p->npages << MM_PAGE_SHIFT;
	a->owner_shift = (unsigned)__builtin_ctzll(p->owner_stride);
	a->owner_bias = (uintptr_t)p->owner0 - ((p->base >> MM_PAGE_SHIFT) << a->owner_shift);
	a->flags = flags;
	mm_env_lock_init(&a->lock);
	list_init(&a->caches);
	/* Boot caches: descriptors (always on-slab, so no recursion) first, then caches. */
	rc = cache_init(a, &a->desc_cache, "slab_desc", sizeof(struct slab), 64, SLAB_BOOT, NULL,
			false);
	MM_BUG_ON(rc);
	cache_link(a, &a->desc_cache);
	rc = cache_init(a, &a->cache_cache, "kmem_cache", sizeof(struct kmem_cache), 128, SLAB_BOOT,
			NULL, true);
	MM_BUG_ON(rc);
	cache_link(a, &a->cache_cache);
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++) {
		uint32_t size = kmalloc_sizes[i];
		/* Natural alignment for powers of two (up to a page); 96 and 192 get 32 and 64. */
		size_t align = is_pow2(size) ? (size < MM_PAGE_SIZE ? size : MM_PAGE_SIZE) : size / 3;
		struct kmem_cache *s = kmem_cache_alloc(&a->cache_cache);

		if (!s || cache_init(a, s, kmalloc_names[i], size, align,
				     SLAB_KMALLOC | (flags & SLAB_DEBUG), NULL, true)) {
			if (s)
				(void)kmem_cache_free(&a->cache_cache, s);
			for (unsigned j = 0; j < i; j++) {
				list_del(&a->kmalloc[j]->list);
				(void)kmem_cache_free(&a->cache_cache, a->kmalloc[j]);
			}
			cache_drain_busy(&a->cache_cache);
			cache_release_all(&a->cache_cache);
			cache_drain_busy(&a->desc_cache);
			cache_release_all(&a->desc_cache);
			return -MM_ENOMEM;
		}
		a->kmalloc[i] = s;
		cache_link(a, s);
	}
	return 0;
}

int slab_set_fail_hook(struct slab_allocator *a, bool (*fn)(void *arg, const char *cache,
							     size_t size), void *arg)
{
	struct list_head *p;

	if (!a)
		return MM_INVAL("allocator is NULL");
	/* The argument first: a CPU that sees the new hook sees its argument. Then every cache's
	 * failslab word, which the fast path tests before it looks for the hook. */
	mm_env_lock(&a->lock);
	__atomic_store_n(&a->fail_hook_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&a->fail_hook, fn, __ATOMIC_RELEASE);
	list_for_each(p, &a->caches)
		__atomic_store_n(&list_entry(p, struct kmem_cache, list)->failslab,
				 (uint32_t)(fn != NULL), __ATOMIC_RELAXED);
	mm_env_unlock(&a->lock);
	return 0;
}

int slab_set_cpu_node(struct slab_allocator *a, unsigned cpu, unsigned node)
{
	struct list_head *p;

	if (!a)
		return MM_INVAL("allocator is NULL");
	if (cpu >= MM_MAX_CPUS)
		return MM_INVAL("cpu out of range (MM_MAX_CPUS)");
	if (node >= a->provider.nr_nodes)
		return MM_INVAL("node out of range (not a provider node)");
	/* The lists hold objects of the old node only: flush them, then switch. */
	mm_env_lock(&a->lock);
	list_for_each(p, &a->caches) {
		struct kmem_cache *s = list_entry(p, struct kmem_cache, list);

		cpu_flush(s, cpu);
		s->cpu[cpu].node = node;
	}
	a->cpu_node[cpu] = (uint8_t)node;
	mm_env_unlock(&a->lock);
	return 0;
}

int slab_allocator_destroy(struct slab_allocator *a)
{
	struct list_head *p;
	bool busy = false;

	if (!a)
		return MM_INVAL("allocator is NULL");
	list_for_each(p, &a->caches) {
		struct kmem_cache *s = list_entry(p, struct kmem_cache, list);

		if (!(s->flags & (SLAB_KMALLOC | SLAB_BOOT))) {
			slab_report_cache(__func__, "caller-created cache still exists", s);
			return -MM_EBUSY;
		}
	}
	if (slab_large_pages(a)) {
		mm_env_report(__func__, "large kmalloc blocks still allocated");
		return -MM_EBUSY;
	}
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++)
		busy |= cache_drain_busy(a->kmalloc[i]);
	if (busy)
		return -MM_EBUSY;
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++) {
		cache_release_all(a->kmalloc[i]);
		list_del(&a->kmalloc[i]->list);
		(void)kmem_cache_free(&a->cache_cache, a->kmalloc[i]);
		a->kmalloc[i] = NULL;
	}
	/* The kmem_cache cache's slabs may have off-slab descriptors: release it before those. */
	MM_BUG_ON(cache_drain_busy(&a->cache_cache));
	cache_release_all(&a->cache_cache);
	MM_BUG_ON(cache_drain_busy(&a->desc_cache));
	cache_release_all(&a->desc_cache);
	list_init(&a->caches);
	return 0;
}
