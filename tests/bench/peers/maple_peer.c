/*
 * maple_peer.c — the Linux 6.1 maple tree as a VMA tree, driven the way 6.1 mm/mmap.c drives it.
 *
 * Owns: struct maple_peer (a maple tree plus an array of small VMA objects) and vma_peer_maple.
 * No locks of its own: the tree uses MT_FLAGS_LOCK_EXTERN like mm->mm_mt, and the benchmark
 * calls it from one thread.
 *
 * Build: only tools/bench-peers/build-linux-mm.sh compiles this file, from the unpacked
 * linux-source-6.1 tree's tools/testing/radix-tree directory, because it pulls lib/maple_tree.c
 * (GPL-2.0+) into this translation unit. The object it produces stays in the build directory.
 *
 * How each operation maps to 6.1 (mm/mmap.c):
 *   insert       vma_link(): mas_preallocate() is NOT used; a plain mas_store_gfp() over
 *                [vm_start, vm_end - 1] (see the note below on why)
 *   erase        vma_mas_remove(): store NULL over [vm_start, vm_end - 1]
 *   find         find_vma(): mt_find(&mm_mt, &addr, ULONG_MAX)
 *   gap_topdown  unmapped_area_topdown(): mas_empty_area_rev(low, high - 1, len), then
 *                mas.last + 1 - len; the VM_GROWSDOWN/guard-gap re-checks 6.1 does with
 *                mas_next()/mas_prev() afterwards are left out (no stacks here): that only
 *                makes the peer faster
 *   split_merge  __split_vma() twice (each stores the new upper part over its range), then
 *                vma_merge() case 1 (prev absorbs middle and next: one store over [s, e - 1])
 *
 * Allocation: 6.1 mm preallocates 1 + 3 * height nodes before each store (mas_preallocate) and
 * frees the unused ones afterwards. mas_store_gfp() allocates only what the store needs, so it
 * is used here: that favours the maple tree. Nodes come from peer_slab.c (a lock-free freelist
 * standing in for SLUB's fast path), not from the harness's kmem_cache shim.
 */
#include "test.h"
#include <stdlib.h>

#ifndef fallthrough
#define fallthrough __attribute__((__fallthrough__))
#endif

#include "../../../lib/maple_tree.c"

#include "vma_peer.h"

/* The part of a vm_area_struct the tree code reads. */
struct maple_peer_vma {
	unsigned long vm_start;
	unsigned long vm_end;
	uint32_t id;
};

/* Every tree's VMA objects are VMA_PEER_OBJ_STRIDE bytes apart and cache-line aligned. */
union maple_peer_slot {
	struct maple_peer_vma v;
	char stride[VMA_PEER_OBJ_STRIDE];
};
_Static_assert(sizeof(union maple_peer_slot) == VMA_PEER_OBJ_STRIDE, "object stride");

struct maple_peer {
	struct maple_tree mt;
	uint32_t nr;                             /* ids 0..nr-1 */
	uint32_t used;                           /* objects handed out since create/reset */
	struct maple_peer_vma **by_id;           /* id -> its object; NULL before 1st insert */
	/* Objects in first-insert order (as a slab would hand them out), then the two spares. */
	union maple_peer_slot *slot;
};

/* The kernel initialises its node cache once at boot; so do we, on first use. */
static void maple_peer_global_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	rcu_register_thread();
	maple_tree_init();
}

/*
 * The object of id: the k-th id inserted since create/reset gets slot[k], so memory order is
 * insertion order for every tree in the benchmark (none gets address-ordered locality).
 */
static struct maple_peer_vma *maple_peer_object(struct maple_peer *p, uint32_t id)
{
	struct maple_peer_vma *v = p->by_id[id];

	if (!v) {
		v = &p->slot[p->used++].v;
		v->id = id;
		p->by_id[id] = v;
	}
	return v;
}

static void *maple_peer_create(uint32_t nr)
{
	struct maple_peer *p;

	maple_peer_global_init();
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->nr = nr;
	p->by_id = calloc(nr, sizeof(*p->by_id));
	p->slot = vma_peer_alloc_objects(nr + VMA_PEER_SPARES);
	if (!p->by_id || !p->slot) {
		free(p->by_id);
		free(p->slot);
		free(p);
		return NULL;
	}
	mt_init_flags(&p->mt, MT_FLAGS_ALLOC_RANGE | MT_FLAGS_LOCK_EXTERN);
	return p;
}

static void maple_peer_reset(void *tree)
{
	struct maple_peer *p = tree;

	__mt_destroy(&p->mt);    /* the caller holds the (external) lock, as exit_mmap() does */
	mt_init_flags(&p->mt, MT_FLAGS_ALLOC_RANGE | MT_FLAGS_LOCK_EXTERN);
	p->used = 0;
	memset(p->by_id, 0, p->nr * sizeof(*p->by_id));
}

static void maple_peer_destroy(void *tree)
{
	struct maple_peer *p = tree;

	__mt_destroy(&p->mt);    /* the caller holds the (external) lock, as exit_mmap() does */
	free(p->by_id);
	free(p->slot);
	free(p);
}

/* Store entry (a VMA or NULL) over [start, end - 1], as vma_mas_store()/vma_mas_remove() do. */
static int maple_peer_store(struct maple_peer *p, unsigned long start, unsigned long end,
			    void *entry)
{
	MA_STATE(mas, &p->mt, start, end - 1);

	return mas_store_gfp(&mas, entry, GFP_KERNEL);
}

static int maple_peer_insert(void *tree, uint32_t id, uint64_t start, uint64_t end)
{
	struct maple_peer *p = tree;
	struct maple_peer_vma *v = maple_peer_object(p, id);

	v->vm_start = start;
	v->vm_end = end;
	return maple_peer_store(p, start, end, v);
}

static void maple_peer_erase(void *tree, uint32_t id)
{
	struct maple_peer *p = tree;
	struct maple_peer_vma *v = p->by_id[id];

	/* The store may need nodes (rebalancing); peer_slab.c only fails when malloc does. */
	if (maple_peer_store(p, v->vm_start, v->vm_end, NULL))
		abort();
}

static const void *maple_peer_find(void *tree, uint64_t addr)
{
	struct maple_peer *p = tree;
	unsigned long index = addr;

	return mt_find(&p->mt, &index, ULONG_MAX);
}

static uint32_t maple_peer_id_of(void *tree, const void *vma)
{
	return ((const struct maple_peer_vma *)vma)->id;
}

static int maple_peer_gap_topdown(void *tree, uint64_t len, uint64_t low, uint64_t high,
				  uint64_t *addr)
{
	struct maple_peer *p = tree;
	MA_STATE(mas, &p->mt, 0, 0);
	int err;

	err = mas_empty_area_rev(&mas, low, high - 1, len);
	if (err)
		return err;
	*addr = mas.last + 1 - len;
	return 0;
}

static int maple_peer_split_merge(void *tree, uint32_t id, uint64_t a, uint64_t b)
{
	struct maple_peer *p = tree;
	struct maple_peer_vma *v = p->by_id[id];
	struct maple_peer_vma *mid = &p->slot[p->nr].v, *hi = &p->slot[p->nr + 1].v;
	unsigned long end = v->vm_end;
	int err;

	/* __split_vma(v, a): the new upper part [a, end) is stored over its range. */
	mid->vm_start = a;
	mid->vm_end = end;
	v->vm_end = a;
	err = maple_peer_store(p, a, end, mid);
	if (err)
		return err;
	/* __split_vma(mid, b). */
	hi->vm_start = b;
	hi->vm_end = end;
	mid->vm_end = b;
	err = maple_peer_store(p, b, end, hi);
	if (err)
		return err;
	/* vma_merge() case 1: v grows over mid and hi in one store. */
	v->vm_end = end;
	return maple_peer_store(p, v->vm_start, end, v);
}

const struct vma_peer_ops vma_peer_maple = {
	.name = "Linux 6.1 maple tree",
	.note = "writes use mas_store_gfp (6.1 mm also preallocates 1 + 3 * height nodes per "
		"store); nodes come from a lock-free freelist standing in for SLUB's fast path",
	.create = maple_peer_create,
	.destroy = maple_peer_destroy,
	.reset = maple_peer_reset,
	.insert = maple_peer_insert,
	.erase = maple_peer_erase,
	.find = maple_peer_find,
	.id_of = maple_peer_id_of,
	.gap_topdown = maple_peer_gap_topdown,
	.split_merge = maple_peer_split_merge,
};
