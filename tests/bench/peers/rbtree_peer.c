/*
 * rbtree_peer.c — the VMA tree Linux used before the maple tree (up to 6.0): a red-black tree of
 * vm_area_struct-like nodes, augmented with the largest free gap below any node of a subtree,
 * plus the vm_prev/vm_next list. This is memvisor's own reimplementation of the algorithms of
 * 5.x mm/mmap.c (find_vma's walk, __vma_link_rb's gap bookkeeping, unmapped_area_topdown's
 * gap-guided descent); it uses the kernel's rbtree library for the tree itself.
 *
 * Owns: struct rb_peer and vma_peer_rbtree. No locks: the benchmark is single-threaded.
 *
 * Build: only tools/bench-peers/build-linux-mm.sh compiles this file, against the unpacked
 * linux-source-6.1 tools/include (rbtree_augmented.h, GPL-2.0+) and tools/lib/rbtree.o; the
 * object stays in the build directory.
 *
 * Gaps: node->gap is vm_start - (vm_prev ? vm_prev->vm_end : 0), as 5.x vma_compute_gap() with
 * no stack guard gaps (no VMA here grows). rb_subtree_gap is the max of gap over the subtree.
 * find_vma() skips 5.x's per-thread vmacache: random addresses would rarely hit it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rbtree_augmented.h>

#include "vma_peer.h"

struct rb_peer_vma {
	unsigned long vm_start;
	unsigned long vm_end;
	struct rb_peer_vma *vm_next, *vm_prev;   /* address order */
	struct rb_node vm_rb;
	unsigned long rb_subtree_gap;            /* max gap in this subtree */
	uint32_t id;
};

/* Every tree's VMA objects are VMA_PEER_OBJ_STRIDE bytes apart and cache-line aligned. */
union rb_peer_slot {
	struct rb_peer_vma v;
	char stride[VMA_PEER_OBJ_STRIDE];
};
_Static_assert(sizeof(union rb_peer_slot) == VMA_PEER_OBJ_STRIDE, "object stride");

struct rb_peer {
	struct rb_root root;
	struct rb_peer_vma *first;
	unsigned long highest_vm_end;            /* end of the last VMA; 0 when empty */
	uint32_t nr;                             /* ids 0..nr-1 */
	uint32_t used;                           /* objects handed out since create/reset */
	struct rb_peer_vma **by_id;              /* id -> its object; NULL before 1st insert */
	/* Objects in first-insert order (as a slab would hand them out), then the two spares. */
	union rb_peer_slot *slot;
};

static inline struct rb_peer_vma *rb_peer_entry(struct rb_node *n)
{
	return rb_entry(n, struct rb_peer_vma, vm_rb);
}

/* Free bytes between the previous VMA and this one (0 while they transiently overlap). */
static inline unsigned long rb_peer_gap(struct rb_peer_vma *v)
{
	unsigned long prev_end = v->vm_prev ? v->vm_prev->vm_end : 0;

	return v->vm_start > prev_end ? v->vm_start - prev_end : 0;
}

RB_DECLARE_CALLBACKS_MAX(static, rb_peer_gap_callbacks, struct rb_peer_vma, vm_rb,
			 unsigned long, rb_subtree_gap, rb_peer_gap)

/* v's own gap changed: fix rb_subtree_gap from v up to the root. */
static void rb_peer_gap_update(struct rb_peer_vma *v)
{
	rb_peer_gap_callbacks_propagate(&v->vm_rb, NULL);
}

/*
 * The object of id: the k-th id inserted since create/reset gets slot[k], so memory order is
 * insertion order for every tree in the benchmark (none gets address-ordered locality).
 */
static struct rb_peer_vma *rb_peer_object(struct rb_peer *p, uint32_t id)
{
	struct rb_peer_vma *v = p->by_id[id];

	if (!v) {
		v = &p->slot[p->used++].v;
		v->id = id;
		p->by_id[id] = v;
	}
	return v;
}

static void *rb_peer_create(uint32_t nr)
{
	struct rb_peer *p;

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
	p->root = RB_ROOT;
	return p;
}

static void rb_peer_reset(void *tree)
{
	struct rb_peer *p = tree;

	p->root = RB_ROOT;
	p->first = NULL;
	p->highest_vm_end = 0;
	p->used = 0;
	memset(p->by_id, 0, p->nr * sizeof(*p->by_id));
}

static void rb_peer_destroy(void *tree)
{
	struct rb_peer *p = tree;

	free(p->by_id);
	free(p->slot);
	free(p);
}

/* Link v (vm_start/vm_end set) into the tree and the list. -EEXIST if it overlaps a VMA. */
static int rb_peer_link(struct rb_peer *p, struct rb_peer_vma *v)
{
	struct rb_node **link = &p->root.rb_node, *parent = NULL, *prev_node = NULL;
	struct rb_peer_vma *prev, *next;

	/* Walk to the insertion point, remembering the last node we went right at (prev). */
	while (*link) {
		struct rb_peer_vma *cur = rb_peer_entry(*link);

		parent = *link;
		if (cur->vm_end > v->vm_start) {
			if (cur->vm_start < v->vm_end)
				return -EEXIST;
			link = &parent->rb_left;
		} else {
			prev_node = parent;
			link = &parent->rb_right;
		}
	}
	prev = prev_node ? rb_peer_entry(prev_node) : NULL;

	/* The list first: gaps are computed from vm_prev. */
	next = prev ? prev->vm_next : p->first;
	v->vm_prev = prev;
	v->vm_next = next;
	if (prev)
		prev->vm_next = v;
	else
		p->first = v;
	if (next) {
		next->vm_prev = v;
		rb_peer_gap_update(next);
	} else {
		p->highest_vm_end = v->vm_end;
	}

	/*
	 * The walk could not update subtree gaps on the way down (v's gap depends on prev, known
	 * only at the bottom): link with gap 0, set the real one, then rebalance.
	 */
	rb_link_node(&v->vm_rb, parent, link);
	v->rb_subtree_gap = 0;
	rb_peer_gap_update(v);
	rb_insert_augmented(&v->vm_rb, &p->root, &rb_peer_gap_callbacks);
	return 0;
}

/* Remove v from the tree and the list; the caller fixes the gap of what followed v. */
static void rb_peer_unlink(struct rb_peer *p, struct rb_peer_vma *v)
{
	rb_erase_augmented(&v->vm_rb, &p->root, &rb_peer_gap_callbacks);
	if (v->vm_prev)
		v->vm_prev->vm_next = v->vm_next;
	else
		p->first = v->vm_next;
	if (v->vm_next)
		v->vm_next->vm_prev = v->vm_prev;
}

/* After an unlink or an end change at prev: the gap above prev (or the highest end) moved. */
static void rb_peer_fix_after(struct rb_peer *p, struct rb_peer_vma *prev, struct rb_peer_vma *next)
{
	if (next)
		rb_peer_gap_update(next);
	else
		p->highest_vm_end = prev ? prev->vm_end : 0;
}

static int rb_peer_insert(void *tree, uint32_t id, uint64_t start, uint64_t end)
{
	struct rb_peer *p = tree;
	struct rb_peer_vma *v = rb_peer_object(p, id);

	v->vm_start = start;
	v->vm_end = end;
	return rb_peer_link(p, v);
}

static void rb_peer_erase(void *tree, uint32_t id)
{
	struct rb_peer *p = tree;
	struct rb_peer_vma *v = p->by_id[id];

	rb_peer_unlink(p, v);
	rb_peer_fix_after(p, v->vm_prev, v->vm_next);
}

/* find_vma(): the first VMA with vm_end > addr. */
static const void *rb_peer_find(void *tree, uint64_t addr)
{
	struct rb_peer *p = tree;
	struct rb_node *n = p->root.rb_node;
	struct rb_peer_vma *found = NULL;

	while (n) {
		struct rb_peer_vma *cur = rb_peer_entry(n);

		if (cur->vm_end > addr) {
			found = cur;
			if (cur->vm_start <= addr)
				break;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	return found;
}

static uint32_t rb_peer_id_of(void *tree, const void *vma)
{
	return ((const struct rb_peer_vma *)vma)->id;
}

/*
 * unmapped_area_topdown(): the highest [addr, addr + len) inside [low, high) that is free.
 * Descend towards the highest gap that can hold len: go right while the right subtree has a big
 * enough gap, check the gap below the current node, else go left, else climb back up to the
 * first ancestor we reached from its right side and check the gap below it.
 */
static int rb_peer_gap_topdown(void *tree, uint64_t len, uint64_t low, uint64_t high,
			       uint64_t *addr)
{
	struct rb_peer *p = tree;
	unsigned long gap_start, gap_end, start_max, end_min;
	struct rb_peer_vma *v;

	if (high < len || low > high - len)
		return -ENOMEM;
	start_max = high - len;       /* a gap must start at or below this */
	end_min = low + len;          /* and end at or above this */

	/* The free space above the last VMA is searched first. */
	if (p->highest_vm_end <= start_max) {
		gap_end = high;
		goto found;
	}
	if (!p->root.rb_node)
		return -ENOMEM;
	v = rb_peer_entry(p->root.rb_node);
	if (v->rb_subtree_gap < len)
		return -ENOMEM;

	for (;;) {
		gap_start = v->vm_prev ? v->vm_prev->vm_end : 0;
		if (gap_start <= start_max && v->vm_rb.rb_right) {
			struct rb_peer_vma *right = rb_peer_entry(v->vm_rb.rb_right);

			if (right->rb_subtree_gap >= len) {
				v = right;
				continue;
			}
		}
check_current:
		gap_end = v->vm_start;
		if (gap_end < end_min)
			return -ENOMEM;
		if (gap_start <= start_max && gap_end > gap_start && gap_end - gap_start >= len) {
			if (gap_end > high)
				gap_end = high;
			goto found;
		}
		if (v->vm_rb.rb_left) {
			struct rb_peer_vma *left = rb_peer_entry(v->vm_rb.rb_left);

			if (left->rb_subtree_gap >= len) {
				v = left;
				continue;
			}
		}
		/* Climb to the first ancestor whose right subtree we came from. */
		for (;;) {
			struct rb_node *child = &v->vm_rb;

			if (!rb_parent(child))
				return -ENOMEM;
			v = rb_peer_entry(rb_parent(child));
			if (child == v->vm_rb.rb_right) {
				gap_start = v->vm_prev ? v->vm_prev->vm_end : 0;
				goto check_current;
			}
		}
	}
found:
	*addr = gap_end - len;
	return 0;
}

/*
 * 5.x mprotect on the middle of a VMA and back: __split_vma() twice (shrink vm_end, link the
 * upper part), then vma_merge() case 1 (unlink the two upper parts, grow vm_end back).
 */
static int rb_peer_split_merge(void *tree, uint32_t id, uint64_t a, uint64_t b)
{
	struct rb_peer *p = tree;
	struct rb_peer_vma *v = p->by_id[id];
	struct rb_peer_vma *mid = &p->slot[p->nr].v, *hi = &p->slot[p->nr + 1].v;
	unsigned long end = v->vm_end;
	int err;

	v->vm_end = a;
	mid->vm_start = a;
	mid->vm_end = end;
	err = rb_peer_link(p, mid);
	if (err)
		return err;
	mid->vm_end = b;
	hi->vm_start = b;
	hi->vm_end = end;
	err = rb_peer_link(p, hi);
	if (err)
		return err;

	v->vm_end = end;
	rb_peer_unlink(p, mid);
	rb_peer_unlink(p, hi);
	rb_peer_fix_after(p, v, v->vm_next);
	return 0;
}

const struct vma_peer_ops vma_peer_rbtree = {
	.name = "Linux <=6.0 augmented rbtree",
	.note = NULL,
	.create = rb_peer_create,
	.destroy = rb_peer_destroy,
	.reset = rb_peer_reset,
	.insert = rb_peer_insert,
	.erase = rb_peer_erase,
	.find = rb_peer_find,
	.id_of = rb_peer_id_of,
	.gap_topdown = rb_peer_gap_topdown,
	.split_merge = rb_peer_split_merge,
};
