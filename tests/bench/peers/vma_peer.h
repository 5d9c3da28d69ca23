/*
 * vma_peer.h — one interface over the VMA trees that tests/bench/bench_vma.c compares.
 *
 * Owns: the operations table every tree is driven through (memvisor's AVL tree, Linux 6.1's maple
 * tree as 6.1 mm/mmap.c uses it, and the augmented rbtree that mm/mmap.c used up to 6.0). Driving
 * all three through the same indirect calls keeps the call overhead identical, so only the trees
 * differ. No locks: each tree is used by one thread.
 *
 * This header and the .c files beside it are memvisor's own code. The two Linux peers are compiled
 * against an unpacked linux-source-6.1 by tools/bench-peers/build-linux-mm.sh inside the build
 * directory at benchmark time; no GPL code is in this repository.
 *
 * Model: a tree holds up to nr VMAs named by ids 0..nr-1, plus VMA_PEER_SPARES ids >= nr that only
 * split_merge uses. Ranges are [start, end), page aligned, non-overlapping; every id is in the tree
 * at most once. Calls with ids or ranges that break this model are bugs in the driver, not inputs
 * the peers check.
 *
 * Placement: the k-th id inserted since create/reset lives in the k-th VMA object of the tree's
 * array, in every tree. The benchmark inserts in shuffled order, so no tree walks VMAs that sit in
 * memory in address order while another does not. Objects are VMA_PEER_OBJ_STRIDE bytes apart and
 * cache-line aligned in every tree: about a Linux vm_area_struct, so that the trees' node visits
 * touch comparable memory whatever the size of their own structs.
 */
#ifndef MV_BENCH_VMA_PEER_H
#define MV_BENCH_VMA_PEER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VMA_PEER_SPARES 2u
#define VMA_PEER_OBJ_STRIDE 192u

/* Zeroed, cache-line aligned room for n objects of VMA_PEER_OBJ_STRIDE bytes; NULL if none. */
static inline void *vma_peer_alloc_objects(uint32_t n)
{
	size_t bytes = (size_t)n * VMA_PEER_OBJ_STRIDE;
	void *p = aligned_alloc(64, bytes);

	if (p)
		memset(p, 0, bytes);
	return p;
}

struct vma_peer_ops {
	const char *name;
	/* A short caveat printed under the tables, or NULL. */
	const char *note;
	/* An empty tree with room for nr VMAs (+ spares); NULL on allocation failure. */
	void *(*create)(uint32_t nr);
	/* Free the tree and everything it allocated. */
	void (*destroy)(void *tree);
	/* Empty the tree (every id unlinked); its own VMA objects stay allocated. */
	void (*reset)(void *tree);
	/* Link id as [start, end). 0, or a negative error. */
	int (*insert)(void *tree, uint32_t id, uint64_t start, uint64_t end);
	/* Unlink id (it is in the tree); its object stays for a later insert. */
	void (*erase)(void *tree, uint32_t id);
	/*
	 * Linux find_vma(addr): the first VMA with end > addr (an object of this tree), or NULL.
	 * The timed loop only keeps the pointer: reading anything from the VMA is the caller's cost.
	 */
	const void *(*find)(void *tree, uint64_t addr);
	/* The id of a VMA find() returned (for checking results, outside the timed loops). */
	uint32_t (*id_of)(void *tree, const void *vma);
	/*
	 * Top-down get_unmapped_area without alignment or guard gaps: the highest addr with
	 * [addr, addr + len) free and inside [low, high). 0 and *addr, or a negative error if no
	 * gap fits.
	 */
	int (*gap_topdown)(void *tree, uint64_t len, uint64_t low, uint64_t high, uint64_t *addr);
	/*
	 * mprotect-style split and merge: split id's VMA [s, e) at a and b (s < a < b < e, page
	 * aligned) into three VMAs, then merge the three back into one [s, e) named id again.
	 * NULL when the tree has no natural equivalent.
	 */
	int (*split_merge)(void *tree, uint32_t id, uint64_t a, uint64_t b);
};

/* Built by tools/bench-peers/build-linux-mm.sh (maple_peer.c, rbtree_peer.c). */
extern const struct vma_peer_ops vma_peer_maple;
extern const struct vma_peer_ops vma_peer_rbtree;

#endif /* MV_BENCH_VMA_PEER_H */
