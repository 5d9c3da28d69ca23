/*
 * peer_slab.c — the kmem_cache API the Linux peers allocate tree nodes from, written for the
 * benchmark to stand in for SLUB's fast path.
 *
 * Owns: struct kmem_cache and kmem_cache_{create,alloc_lru,free,alloc_bulk,free_bulk}.
 * Locking: none. The benchmark is single-threaded and SLUB's fast path takes no lock either
 * (it works on a per-CPU freelist); a cache must not be used from two threads.
 *
 * Why not the radix-tree harness's linux.c shim: for aligned caches (maple nodes are 256 bytes,
 * 256-aligned) it calls posix_memalign() and free() for every node, takes a mutex, and its bulk
 * allocation asks for size * count bytes per node, so glibc's allocator dominated every maple
 * tree write. SLUB pops an object off a per-CPU freelist; this does the same with a LIFO freelist
 * threaded through free objects, refilled from 64 KiB chunks. Chunks live until the process
 * exits, like slab pages that are never shrunk.
 *
 * Build: compiled only by tools/bench-peers/build-linux-mm.sh against the harness headers (for
 * gfp_t and __GFP_ZERO); linking it keeps the harness's linux.o out of the peers.
 */
#include <stdlib.h>
#include <string.h>
#include <linux/gfp.h>
#include <linux/slab.h>

#define PEER_SLAB_CHUNK (64u * 1024u)

struct peer_slab_free {
	struct peer_slab_free *next;
};

struct kmem_cache {
	unsigned int size;          /* object stride: size rounded up to align */
	unsigned int align;
	void (*ctor)(void *);
	struct peer_slab_free *free;
};

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size, unsigned int align,
				     unsigned int flags, void (*ctor)(void *))
{
	struct kmem_cache *c = calloc(1, sizeof(*c));

	(void)name;
	(void)flags;
	if (!c)
		abort();            /* SLAB_PANIC semantics: the peers cannot run without it */
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (size < sizeof(struct peer_slab_free))
		size = sizeof(struct peer_slab_free);
	c->align = align;
	c->size = (size + align - 1) / align * align;
	c->ctor = ctor;
	return c;
}

/* Carve a new chunk into objects and push them on the freelist. 0, or -1 out of memory. */
static int peer_slab_refill(struct kmem_cache *c)
{
	unsigned int n = PEER_SLAB_CHUNK / c->size;
	char *chunk;

	if (n == 0)
		n = 1;
	chunk = aligned_alloc(c->align, (size_t)n * c->size);
	if (!chunk)
		return -1;
	/* Push in reverse so objects come out in address order. */
	for (unsigned int i = n; i-- > 0;) {
		struct peer_slab_free *f = (struct peer_slab_free *)(chunk + (size_t)i * c->size);

		if (c->ctor)
			c->ctor(f);
		f->next = c->free;
		c->free = f;
	}
	return 0;
}

void *kmem_cache_alloc_lru(struct kmem_cache *c, struct list_lru *lru, int gfp)
{
	struct peer_slab_free *f;

	(void)lru;
	if (!c->free && peer_slab_refill(c))
		return NULL;
	f = c->free;
	c->free = f->next;
	if (gfp & __GFP_ZERO)
		memset(f, 0, c->size);
	else
		f->next = NULL;
	return f;
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
	struct peer_slab_free *f = obj;

	f->next = c->free;
	c->free = f;
}

int kmem_cache_alloc_bulk(struct kmem_cache *c, gfp_t gfp, size_t size, void **p)
{
	for (size_t i = 0; i < size; i++) {
		p[i] = kmem_cache_alloc_lru(c, NULL, (int)gfp);
		if (!p[i]) {
			kmem_cache_free_bulk(c, i, p);
			return 0;
		}
	}
	return (int)size;
}

void kmem_cache_free_bulk(struct kmem_cache *c, size_t size, void **list)
{
	for (size_t i = 0; i < size; i++)
		kmem_cache_free(c, list[i]);
}
