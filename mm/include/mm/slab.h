/*
 * mm/slab.h — object caches (kmem_cache) and kmalloc over a page provider.
 *
 * Owns: struct slab_allocator (one instance per caller; no globals), its caches, their slabs and
 * per-CPU object lists, and the owner words of every page it holds from the provider.
 *
 * Layering (like Linux slab on the page allocator): slab never calls the buddy allocator; it is
 * handed a struct slab_page_provider at init. See docs/mm-slab.md for the design.
 *
 * Lock order: allocator lock (cache list) -> one cache's node lock. Node locks are only taken inside
 * a per-CPU section (mm_env_cpu_enter), which is what makes them interrupt-safe in the guest; no
 * node lock is held while calling the provider, a constructor or another cache. Sections never
 * nest: every public function is entered outside one.
 *
 * Concurrency: every function may be called from any CPU concurrently, except
 * kmem_cache_destroy() and slab_allocator_destroy() (no other user of that cache / allocator may
 * run), and slab_set_cpu_node() (called on that CPU, or while it is quiescent).
 */
#ifndef MM_SLAB_H
#define MM_SLAB_H

#include "types.h"
#include "env.h"
#include "list.h"

/* ------------------------------------------------------------------------------------------ */
/* Page provider                                                                              */
/* ------------------------------------------------------------------------------------------ */

/*
 * Where slab pages come from. All pages the provider hands out lie in one contiguous virtual
 * region [base, base + npages * MM_PAGE_SIZE), and for every page of that region the provider
 * exposes one pointer-sized *owner word*:
 *
 *     owner word of page i  =  *(void **)((char *)owner0 + i * owner_stride)
 *
 * so a frame descriptor array whose descriptors are a power of two in size could supply it
 * directly (owner0 = &frames[first].priv, owner_stride = sizeof(frame), like Linux's 64-byte
 * struct page), and anything else a flat void *[] over the region (owner_stride = 8: 8 bytes per
 * 4 KiB page, and the fastest lookup). mm/buddy's frames are 40 bytes with holes between ranges,
 * so its adapter uses the flat table (docs/mm-slab.md).
 * That is Linux's page->slab: kfree() and the free fast path find an object's cache with a shift
 * and one load, without calling through a pointer.
 *
 * Contract:
 *  - alloc_pages(ctx, order, node) returns a block of 2^order pages aligned to its size, on NUMA
 *    node `node` (< nr_nodes) and nowhere else, or NULL. order <= max_order.
 *  - free_pages(ctx, addr, order) takes back exactly such a block.
 *  - While a block is lent to slab, slab owns the owner words of its pages; it clears them to NULL
 *    before free_pages. Pages not lent to this allocator must read NULL (slab uses that to reject
 *    foreign pointers); the provider must not share owner words between two allocators.
 *  - Both callbacks are called outside any per-CPU section and with no slab lock held; they may
 *    take locks and enter per-CPU sections of their own.
 */
struct slab_page_provider {
	void *(*alloc_pages)(void *ctx, unsigned order, unsigned node);
	void (*free_pages)(void *ctx, void *addr, unsigned order);
	void *ctx;
	uintptr_t base;         /* page-aligned start of the region */
	uint64_t npages;        /* pages in the region */
	void *owner0;           /* owner word of the page at base */
	size_t owner_stride;    /* bytes between consecutive pages' owner words: a power of two
				 * >= sizeof(void *) (a frame array of another size can hand slab
				 * a flat void *[] instead: 8 bytes per page) */
	unsigned nr_nodes;      /* 1 .. MM_MAX_NODES */
	unsigned max_order;     /* largest order alloc_pages accepts (>= SLAB_MAX_ORDER) */
};

/* ------------------------------------------------------------------------------------------ */
/* Constants                                                                                  */
/* ------------------------------------------------------------------------------------------ */

#define SLAB_MAX_ORDER     3        /* slab size limit, Linux's PAGE_ALLOC_COSTLY_ORDER */
#define SLAB_MAX_SIZE      (MM_PAGE_SIZE << SLAB_MAX_ORDER)  /* largest object stride of a cache */
#define SLAB_NODE_ANY      0xffffffffu
#define SLAB_NAME_MAX      32       /* bytes including the NUL */

#define KMALLOC_MIN_SIZE   8
#define KMALLOC_MAX_CACHE  8192     /* larger kmalloc requests go straight to the provider */
#define KMALLOC_NR_CLASSES 13       /* 8 16 32 64 96 128 192 256 512 1k 2k 4k 8k */

/* kmem_cache_create() flags (and slab_allocator_init(): SLAB_DEBUG = every cache debugs). */
#define SLAB_DEBUG         (1u << 0)  /* red zones, poisoning, free checks; bypasses per-CPU lists */
#define SLAB_HWCACHE_ALIGN (1u << 1)  /* align objects to 64 bytes at least */
#define SLAB_CREATE_FLAGS  (SLAB_DEBUG | SLAB_HWCACHE_ALIGN)

/* Debug mode byte patterns (Linux's values, so a hexdump reads the same). */
#define SLAB_RED_BYTE      0xbb     /* red zones around every object */
#define SLAB_POISON_FREE   0x6b     /* a free object's bytes ... */
#define SLAB_POISON_END    0xa5     /* ... and its last byte */

/* ------------------------------------------------------------------------------------------ */
/* Structures                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/*
 * Per-CPU state of one cache: a LIFO list of free objects (linked through each object's free
 * pointer), all from slabs of node `node`. Only CPU `cpu` writes it, inside a per-CPU section.
 *
 * The fast paths touch head, room and one counter each: `room` is how many more frees fit before
 * the list flushes (cpu_limit - list length), so the free path needs no limit load, and frees are
 * not counted directly: every slow-path change of the list length is added to `adj`, so
 *     free_fast = length + alloc_fast - adj        (length = cpu_limit - room).
 * Statistics on other CPUs read these with relaxed atomic loads (the owner writes them with
 * relaxed stores: plain moves, no lock prefix). One cache line per CPU.
 */
struct slab_cpu {
	void *head;
	uint32_t room;
	uint32_t node;          /* node of every object on the list (the CPU's home node) */
	uint64_t alloc_fast;
	int64_t adj;
	uint64_t pad[4];
};
_Static_assert(sizeof(struct slab_cpu) == 64, "one cache line per CPU");

/*
 * Per-node slab lists of one cache, under `lock`. A slab is on exactly one list:
 *   partial: some objects free, some in use;  empty: all free;  full: none free.
 * "In use" includes objects sitting on per-CPU lists: the node only knows what left its slabs.
 */
struct slab_node {
	struct mm_lock lock;
	struct list_head partial, empty, full;
	uint32_t nr_partial, nr_empty, nr_full, pad;
	uint64_t inuse;         /* objects not on a slab freelist */
	uint64_t alloc_slow;    /* allocations served under this lock (refills count one) */
	uint64_t free_slow;     /* frees that returned an object here directly (not via a flush) */
	uint64_t flushed;       /* objects returned from per-CPU lists */
	uint64_t pad2[3];
};
_Static_assert(sizeof(struct slab_node) == 128, "two cache lines per node");

struct slab_allocator;

/* 128-byte aligned: owner words carry a cache pointer with tags in its low seven bits. */
struct kmem_cache {
	/* Read by the fast paths: the first cache line. */
	_Alignas(128) uint32_t cpu_limit;  /* per-CPU list length that triggers a flush; 0 = none */
	uint32_t fp_offset;      /* free pointer position, from the object start */
	uint32_t size;           /* stride between objects, including debug metadata */
	uint32_t object_size;    /* what the caller asked for (class size for kmalloc) */
	uint32_t flags;          /* SLAB_* */
	uint32_t objperslab;
	uint32_t order;          /* slab = 2^order pages */
	uint32_t min_partial;    /* empty slabs kept per node */
	struct slab_allocator *alloc;
	void (*ctor)(void *obj);
	uint32_t obj_offset;     /* object start within its stride slot (debug left red zone) */
	uint32_t slot0;          /* first slot's offset within the slab's pages (on-slab header) */
	uint32_t refill;         /* a refill stops once it has gathered this many objects */
	uint32_t failslab;       /* the allocator's fail_hook is set: ask it (atomic; tested on the
				  * fast path, so it sits in the first cache line) */

	char name[SLAB_NAME_MAX];
	struct list_head list;   /* on alloc->caches, under alloc->lock */
	uint32_t offslab;        /* slab descriptors live in the allocator's descriptor cache */
	uint32_t pad32;
	uint64_t pad;

	struct slab_cpu cpu[MM_MAX_CPUS];
	struct slab_node node[MM_MAX_NODES];
};

/*
 * One allocator instance: the provider, the boot caches (for kmem_cache objects and off-slab
 * descriptors, embedded here so nothing comes from libc), the kmalloc caches and the cache list.
 * The caller owns the memory (128-byte aligned, as the type says: static, or aligned_alloc);
 * slab_allocator_init() fills it.
 */
struct slab_allocator {
	/* Copied from the provider; read on every kfree. */
	uintptr_t base;
	uint64_t span;           /* bytes in the provider region */
	uintptr_t owner_bias;    /* owner word of page P at owner_bias + (P << owner_shift) */
	unsigned owner_shift;    /* log2(owner_stride) */
	struct slab_page_provider provider;
	unsigned flags;          /* SLAB_DEBUG: every cache debugs */
	uint8_t cpu_node[MM_MAX_CPUS];
	struct kmem_cache *kmalloc[KMALLOC_NR_CLASSES];
	uint64_t large_pages;    /* pages held by kmalloc_large blocks (atomic) */
	struct mm_lock lock;     /* protects caches */
	struct list_head caches;
	struct kmem_cache cache_cache;  /* struct kmem_cache objects */
	struct kmem_cache desc_cache;   /* off-slab struct slab descriptors */
	/* Fault injection (Linux's failslab): when set, asked before every object or kmalloc
	 * allocation of a caller; true fails it (NULL, as out of memory). slab_set_fail_hook. */
	bool (*fail_hook)(void *arg, const char *cache, size_t size);
	void *fail_hook_arg;
};

/* slabinfo-style statistics of one cache (a snapshot; exact when no CPU is using the cache). */
struct slab_stats {
	const char *name;
	uint64_t active_objs;    /* handed out to callers (not free, not on per-CPU lists) */
	uint64_t num_objs;       /* num_slabs * objperslab */
	uint64_t objsize;        /* stride including metadata, like /proc/slabinfo */
	uint64_t objperslab;
	uint64_t pagesperslab;
	uint64_t active_slabs;   /* slabs with at least one object not free */
	uint64_t num_slabs;
	uint64_t cpu_cached;     /* free objects on per-CPU lists */
	uint64_t alloc_fast, alloc_slow, free_fast, free_slow;
};

/* ------------------------------------------------------------------------------------------ */
/* API                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Set up `a` over `p` (copied). flags: 0 or SLAB_DEBUG. 0 / -MM_EINVAL / -MM_ENOMEM. */
mm_must_check int slab_allocator_init(struct slab_allocator *a, const struct slab_page_provider *p,
				      unsigned flags);
/* Tear down: every cache created by the caller must be destroyed and every kmalloc block freed
 * (else -MM_EBUSY, nothing freed). No concurrent users. */
int slab_allocator_destroy(struct slab_allocator *a);
/* CPU `cpu`'s home node (default 0): its per-CPU lists and kmalloc_large use this node. Flushes
 * the CPU's lists, so call it on that CPU or while that CPU does not use the allocator. */
int slab_set_cpu_node(struct slab_allocator *a, unsigned cpu, unsigned node);
/*
 * Fault injection (Linux's failslab, should_failslab in slab_pre_alloc_hook): from now on
 * kmem_cache_alloc{,_node} and kmalloc{,_node} ask fn(arg, cache name, object size) first and
 * return NULL when it says true, exactly as when out of memory. kmalloc_large asks with the
 * name "kmalloc-large" and the requested size. fn NULL removes the hook. fn runs on any CPU
 * in the allocating context (outside mm/'s per-CPU section, possibly under the caller's
 * locks), must not allocate and must not take a lock a slab caller may hold. Change arg only
 * by removing the hook first (a racing call may pair the old fn with the new arg otherwise).
 * Setting it walks every cache under the allocator lock. 0 or -MM_EINVAL (allocator NULL).
 */
int slab_set_fail_hook(struct slab_allocator *a, bool (*fn)(void *arg, const char *cache,
							     size_t size), void *arg);

/*
 * A cache of objects of `size` bytes aligned to `align` (0 = 8; a power of two <= MM_PAGE_SIZE).
 * ctor, if given, runs once for every object when its slab is created; objects must be freed in
 * their constructed state. The name is copied (at most SLAB_NAME_MAX - 1 bytes).
 * NULL with a report on bad arguments, NULL without one when out of memory.
 */
struct kmem_cache *kmem_cache_create(struct slab_allocator *a, const char *name, size_t size,
				     size_t align, unsigned flags, void (*ctor)(void *));
/* Free the cache; -MM_EBUSY (and nothing freed) if any object is still allocated. */
int kmem_cache_destroy(struct kmem_cache *s);

void *kmem_cache_alloc(struct kmem_cache *s);
/* An object from a slab on `node` (SLAB_NODE_ANY: the CPU's home node first, then any). */
void *kmem_cache_alloc_node(struct kmem_cache *s, unsigned node);
/* 0, or -MM_EINVAL with a report (foreign pointer, other cache, debug: double/invalid free),
 * or -MM_EUCLEAN (debug: red zone found overwritten; reported, repaired, object freed). */
int kmem_cache_free(struct kmem_cache *s, void *obj);
/* Flush the calling CPU's list, free every empty slab of every node; returns pages given back. */
long kmem_cache_shrink(struct kmem_cache *s);
/* Walk every slab: list/count consistency; in debug caches also poison and red zones of every
 * object. 0, or -MM_EUCLEAN with a report naming cache and object. */
int kmem_cache_check(struct kmem_cache *s);
/* Return the calling CPU's cached free objects of every cache to their slabs. */
void slab_flush_cpu(struct slab_allocator *a);
/* kmem_cache_shrink of every cache (the boot caches included), like Linux's drop_slab: the
 * calling CPU's lists flushed, every empty slab given back; returns the pages given back. No
 * cache may be destroyed while it runs. */
long slab_shrink_all(struct slab_allocator *a);

/* kmalloc: size classes 8..8192 (powers of two plus 96 and 192), larger straight from the
 * provider. Power-of-two sizes are naturally aligned (up to a page). NULL + report for size 0 or
 * a size beyond the provider's max_order. */
void *kmalloc(struct slab_allocator *a, size_t size);
void *kmalloc_node(struct slab_allocator *a, size_t size, unsigned node);
/* Free any kmalloc pointer (or any slab object); kfree(a, NULL) is a no-op. */
int kfree(struct slab_allocator *a, void *ptr);
/* Usable size of a kmalloc pointer or slab object; 0 with a report for a foreign pointer. */
size_t ksize(struct slab_allocator *a, const void *ptr);
/* The kmalloc cache serving `size` (NULL above KMALLOC_MAX_CACHE or for 0). */
struct kmem_cache *kmalloc_cache(struct slab_allocator *a, size_t size);

int kmem_cache_stats(struct kmem_cache *s, struct slab_stats *st);
/* Call fn for every cache (boot caches included) under the allocator lock; stops at the first
 * non-zero return, which it returns. fn must not create or destroy caches. */
int slab_for_each_cache(struct slab_allocator *a, int (*fn)(const struct slab_stats *, void *),
			void *arg);
/* /proc/slabinfo-like text, NUL-terminated. Returns the length it needed (like snprintf). */
size_t slab_format_info(struct slab_allocator *a, char *buf, size_t len);
/* Pages currently held from the provider for large kmalloc blocks. */
uint64_t slab_large_pages(const struct slab_allocator *a);

#endif /* MM_SLAB_H */
