/*
 * mm/vma_tree.c — the VMA tree of an mm_space: an AVL tree threaded through the VMAs, augmented
 * with the largest free gap of each subtree, plus the address-ordered list of VMAs. Owns
 * lookups (vma_find & co), the gap search (vma_unmapped_area) and the consistency checker.
 * No locking here: the caller serialises on the mm_space (mm/vma.h).
 *
 * Why an augmented AVL tree (and not a B-tree / maple tree, or an rbtree):
 *  - Intrusive: the tree links live in struct vma, so linking and unlinking never allocate.
 *    The only allocations of any VMA operation are the new VMAs themselves, which the callers
 *    obtain up front: all-or-nothing on allocation failure falls out for free. A B-tree needs
 *    node allocations (and node splits) in the middle of an update.
 *  - AVL height is <= 1.44 log2(n) against an rbtree's 2 log2(n), so find_vma walks a shorter
 *    path; the price (more rotations on update) is paid on a walk back to the root that the
 *    gap augmentation needs anyway, and the walk stops as soon as a subtree's height and max
 *    gap come out unchanged.
 *  - The lookup loop is branch-free in its direction choice (child[addr >= vm_end]) so random
 *    lookups do not pay a mispredicted branch per level.
 *
 * Gap bookkeeping (Linux's pre-maple rb_subtree_gap scheme, with the gap cached per VMA):
 *   vma->vm_gap         = vma_start_gap(vma) - vma_end_gap(prev VMA) (0 for no prev; clamped
 *                         at 0 when guard gaps overlap), i.e. the free bytes right below vma;
 *   vma->vm_subtree_gap = max of vm_gap over the subtree;
 *   mm->highest_vm_end  = vma_end_gap(last VMA): the gap above it is searched separately.
 * Every change touches at most two cached gaps (the VMA's own and its successor's); each is
 * refreshed and propagated upwards with one dirty point at a time, so the propagation may stop
 * at the first ancestor whose stored value is unchanged.
 */
#include "vma_internal.h"

/* ---- Small helpers ------------------------------------------------------------------------ */

static inline int32_t node_height(const struct vma *v)
{
	return v ? v->vm_height : 0;
}

static inline uint64_t node_subtree_gap(const struct vma *v)
{
	return v ? v->vm_subtree_gap : 0;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

struct vma *vma_first(const struct mm_space *mm)
{
	if (!mm || list_empty(&mm->vmas))
		return NULL;
	return list_first_entry(&mm->vmas, struct vma, vm_list);
}

struct vma *vma_tree_last(const struct mm_space *mm)
{
	if (list_empty(&mm->vmas))
		return NULL;
	return list_entry(mm->vmas.prev, struct vma, vm_list);
}

struct vma *vma_next(const struct mm_space *mm, const struct vma *vma)
{
	if (!mm || !vma)
		return NULL;
	if (vma->vm_list.next == &mm->vmas)
		return NULL;
	return list_entry(vma->vm_list.next, struct vma, vm_list);
}

struct vma *vma_prev(const struct mm_space *mm, const struct vma *vma)
{
	if (!mm || !vma)
		return NULL;
	if (vma->vm_list.prev == &mm->vmas)
		return NULL;
	return list_entry(vma->vm_list.prev, struct vma, vm_list);
}

/*
 * Linux vm_start_gap()/vm_end_gap() for a VMA with the given VM_GROWS* flags: a VM_GROWSDOWN
 * VMA keeps stack_guard_gap free below it, a VM_GROWSUP one above it.
 */
static inline gva_t start_gap_of(const struct mm_space *mm, gva_t start, uint64_t grows)
{
	gva_t s = start;

	if (grows & VM_GROWSDOWN) {
		s -= mm->stack_guard_gap;
		if (s > start)
			s = 0;
	}
	return s;
}

static inline gva_t end_gap_of(const struct mm_space *mm, gva_t end, uint64_t grows)
{
	gva_t e = end;

	if (grows & VM_GROWSUP) {
		e += mm->stack_guard_gap;
		if (e < end)
			e = (gva_t)0 - MM_PAGE_SIZE;
	}
	return e;
}

/* For linked VMAs: vm_gap_flags is on the cache line the tree walks already hold. */
static inline gva_t start_gap(const struct mm_space *mm, const struct vma *vma)
{
	return start_gap_of(mm, vma->vm_start, vma->vm_gap_flags);
}

static inline gva_t end_gap(const struct mm_space *mm, const struct vma *vma)
{
	return end_gap_of(mm, vma->vm_end, vma->vm_gap_flags);
}

gva_t vma_start_gap(const struct mm_space *mm, const struct vma *vma)
{
	if (!mm || !vma)
		return mm_env_report(__func__, "mm or vma is NULL"), 0;
	return start_gap_of(mm, vma->vm_start, vma->vm_flags);
}

gva_t vma_end_gap(const struct mm_space *mm, const struct vma *vma)
{
	if (!mm || !vma)
		return mm_env_report(__func__, "mm or vma is NULL"), 0;
	return end_gap_of(mm, vma->vm_end, vma->vm_flags);
}

/* The free bytes between prev (NULL = address 0) and vma, guard gaps excluded. */
static uint64_t compute_gap(const struct mm_space *mm, const struct vma *prev,
			    const struct vma *vma)
{
	gva_t top = start_gap(mm, vma);
	gva_t bottom = prev ? end_gap(mm, prev) : 0;

	return top > bottom ? top - bottom : 0;
}

/* ---- Augmented AVL core ------------------------------------------------------------------- */

/* Recompute a node's height and subtree gap from its children (which must be up to date). */
static inline void node_update(struct vma *v)
{
	int32_t hl = node_height(v->vm_child[0]), hr = node_height(v->vm_child[1]);

	v->vm_height = 1 + (hl > hr ? hl : hr);
	v->vm_subtree_gap = max_u64(v->vm_gap, max_u64(node_subtree_gap(v->vm_child[0]),
						       node_subtree_gap(v->vm_child[1])));
}

/* Make new take old's place under parent (or as the root). */
static inline void replace_child(struct mm_space *mm, struct vma *parent, struct vma *old,
				 struct vma *new)
{
	if (!parent)
		mm->vma_root = new;
	else
		parent->vm_child[parent->vm_child[1] == old] = new;
}

/*
 * Rotate x's child on side d up into x's place: d = 1 is a left rotation. Both nodes are
 * recomputed, lower first. Returns the new subtree root.
 */
static struct vma *rotate(struct mm_space *mm, struct vma *x, int d)
{
	struct vma *y = x->vm_child[d];
	struct vma *inner = y->vm_child[!d];

	x->vm_child[d] = inner;
	if (inner)
		inner->vm_parent = x;
	y->vm_parent = x->vm_parent;
	replace_child(mm, x->vm_parent, x, y);
	y->vm_child[!d] = x;
	x->vm_parent = y;
	node_update(x);
	node_update(y);
	return y;
}

/* Recompute v and restore the AVL balance at v. Returns the root of v's former subtree. */
static struct vma *rebalance(struct mm_space *mm, struct vma *v)
{
	int32_t bf = node_height(v->vm_child[1]) - node_height(v->vm_child[0]);
	int d;
	struct vma *c;

	if (bf >= -1 && bf <= 1) {
		node_update(v);
		return v;
	}
	d = bf > 0;                         /* the heavy side */
	c = v->vm_child[d];
	/* Inner-heavy child: double rotation (rotate the child outward first). */
	if (node_height(c->vm_child[!d]) > node_height(c->vm_child[d]))
		rotate(mm, c, !d);
	return rotate(mm, v, d);
}

/*
 * Walk from n to the root recomputing heights and subtree gaps and rebalancing. The walk stops
 * at the first subtree whose height and max gap equal what its parent last saw — above it
 * nothing can change. Early stopping is not allowed before `floor` has been processed (erase
 * puts a node with stale values there; see vma_tree_unlink()).
 */
static void fix_upward(struct mm_space *mm, struct vma *n, const struct vma *floor)
{
	while (n) {
		int32_t old_h = n->vm_height;
		uint64_t old_g = n->vm_subtree_gap;
		bool may_stop = !floor;
		struct vma *top;

		if (n == floor)
			floor = NULL;
		top = rebalance(mm, n);
		if (may_stop && top->vm_height == old_h && top->vm_subtree_gap == old_g)
			return;
		n = top->vm_parent;
	}
}

/* vm_gap of v changed: push the new subtree maximum up as far as it makes a difference. */
static void propagate_gap(struct vma *v)
{
	while (v) {
		uint64_t g = max_u64(v->vm_gap, max_u64(node_subtree_gap(v->vm_child[0]),
							node_subtree_gap(v->vm_child[1])));

		if (g == v->vm_subtree_gap)
			return;
		v->vm_subtree_gap = g;
		v = v->vm_parent;
	}
}

/* Store vma's new cached gap and propagate it if it changed. */
static void set_gap(struct vma *vma, uint64_t g)
{
	if (g != vma->vm_gap) {
		vma->vm_gap = g;
		propagate_gap(vma);
	}
}

/* Recompute vma's cached gap from its list predecessor. */
static void refresh_gap(struct mm_space *mm, struct vma *vma)
{
	set_gap(vma, compute_gap(mm, vma_prev(mm, vma), vma));
}

static void refresh_highest(struct mm_space *mm)
{
	struct vma *last = vma_tree_last(mm);

	mm->highest_vm_end = last ? end_gap(mm, last) : 0;
}

void vma_tree_link_at(struct mm_space *mm, struct vma *vma, struct vma *parent, int side,
		      struct vma *prev, struct vma *next)
{
	struct vma *floor = NULL;

	MM_BUG_ON(vma->vm_mm != NULL);
	MM_BUG_ON(prev && prev->vm_end > vma->vm_start);
	MM_BUG_ON(next && next->vm_start < vma->vm_end);

	vma->vm_child[0] = vma->vm_child[1] = NULL;
	vma->vm_parent = parent;
	vma->vm_height = 1;
	vma->vm_mm = mm;
	vma->vm_gap_flags = (uint32_t)(vma->vm_flags & (VM_GROWSDOWN | VM_GROWSUP));
	vma->vm_gap = compute_gap(mm, prev, vma);
	vma->vm_subtree_gap = vma->vm_gap;
	if (parent) {
		MM_BUG_ON(parent->vm_child[side]);
		parent->vm_child[side] = vma;
	} else {
		MM_BUG_ON(mm->vma_root);
		mm->vma_root = vma;
	}
	/* Both neighbours are known: link without loading their list words (cold lines). */
	list_insert_between_(&vma->vm_list, prev ? &prev->vm_list : &mm->vmas,
			     next ? &next->vm_list : &mm->vmas);
	mm->map_count++;

	/*
	 * next's gap now starts at vma. next is an ancestor of the new leaf (its in-order
	 * successor), so one walk refreshes both: it may not stop early below next.
	 */
	if (next) {
		uint64_t g = compute_gap(mm, vma, next);

		if (g != next->vm_gap) {
			next->vm_gap = g;
			floor = next;
		}
	} else {
		mm->highest_vm_end = end_gap(mm, vma);
	}
	fix_upward(mm, parent, floor);
}

void vma_tree_link_after(struct mm_space *mm, struct vma *vma, struct vma *prev)
{
	struct vma *next = prev ? vma_next(mm, prev) : vma_first(mm);

	/*
	 * In-order successor position of prev: prev's empty right slot, or else the empty left
	 * slot of next (which is the leftmost node of prev's right subtree). No prev: the left
	 * slot of the first node.
	 */
	if (!mm->vma_root)
		vma_tree_link_at(mm, vma, NULL, 0, prev, next);
	else if (prev && !prev->vm_child[1])
		vma_tree_link_at(mm, vma, prev, 1, prev, next);
	else
		vma_tree_link_at(mm, vma, next, 0, prev, next);
}

void vma_tree_unlink(struct mm_space *mm, struct vma *z)
{
	struct vma *next = vma_next(mm, z);
	struct vma *parent = z->vm_parent;
	struct vma *fix_from, *floor = NULL, *gap_later = NULL;
	/* next's gap after z is gone: it now starts at z's predecessor. */
	uint64_t next_gap = next ? compute_gap(mm, vma_prev(mm, z), next) : 0;

	MM_BUG_ON(z->vm_mm != mm);
	if (!z->vm_child[0] || !z->vm_child[1]) {
		struct vma *child = z->vm_child[0] ? z->vm_child[0] : z->vm_child[1];

		replace_child(mm, parent, z, child);
		if (child)
			child->vm_parent = parent;
		fix_from = parent;
		/*
		 * Without a right subtree, next is an ancestor: the walk refreshes it (and may not
		 * stop below it). Otherwise next is in the subtree that moved up: separately.
		 */
		if (next && !z->vm_child[1] && next_gap != next->vm_gap) {
			next->vm_gap = next_gap;
			floor = next;
		} else if (next) {
			gap_later = next;
		}
	} else {
		/*
		 * Two children: the in-order successor s (== next, leftmost in z's right subtree)
		 * takes z's place. s inherits z's stored height and gap so that the walk can
		 * compare against what z's parent saw; s itself must be recomputed, hence floor.
		 */
		struct vma *s = next;

		MM_BUG_ON(!s || s->vm_child[0]);
		if (s->vm_parent == z) {
			fix_from = s;
		} else {
			struct vma *sp = s->vm_parent;

			sp->vm_child[0] = s->vm_child[1];
			if (s->vm_child[1])
				s->vm_child[1]->vm_parent = sp;
			s->vm_child[1] = z->vm_child[1];
			z->vm_child[1]->vm_parent = s;
			fix_from = sp;
		}
		s->vm_child[0] = z->vm_child[0];
		z->vm_child[0]->vm_parent = s;
		s->vm_parent = parent;
		replace_child(mm, parent, z, s);
		s->vm_height = z->vm_height;
		s->vm_subtree_gap = z->vm_subtree_gap;
		s->vm_gap = next_gap;
		floor = s;
	}
	list_del(&z->vm_list);
	mm->map_count--;
	z->vm_child[0] = z->vm_child[1] = z->vm_parent = NULL;
	z->vm_mm = NULL;

	fix_upward(mm, fix_from, floor);
	if (gap_later)
		set_gap(gap_later, next_gap);
	if (!next)
		refresh_highest(mm);
}

void vma_tree_set_start(struct mm_space *mm, struct vma *vma, gva_t start)
{
	struct vma *prev = vma_prev(mm, vma);

	MM_BUG_ON(start >= vma->vm_end || (prev && prev->vm_end > start));
	vma->vm_start = start;
	refresh_gap(mm, vma);
}

void vma_tree_set_end(struct mm_space *mm, struct vma *vma, gva_t end)
{
	struct vma *next = vma_next(mm, vma);

	MM_BUG_ON(end <= vma->vm_start || (next && next->vm_start < end));
	vma->vm_end = end;
	if (next)
		refresh_gap(mm, next);
	else
		refresh_highest(mm);
}

/* ---- Lookups --------------------------------------------------------------------------- */

/*
 * Linux find_vma(): the candidate is the last node on the way down whose vm_end is above addr.
 * The walk is a chain of dependent cache misses, so each level is kept to one: both child
 * pointers are loaded together with vm_end (same line) and the next node is selected without a
 * branch (random lookups would mispredict every level) and without a second, dependent load.
 * It always reaches a leaf: at most 1.44 log2(n) levels. (Stopping at a node that contains addr
 * needs a branch that mispredicts once per lookup; it measured slower.)
 */
static inline struct vma *find_vma(const struct mm_space *mm, gva_t addr)
{
	struct vma *n = mm->vma_root;
	uintptr_t best = 0;

	/*
	 * Selects are written as masks (right ? x : y == y ^ ((y ^ x) & right)) because compilers
	 * turn ?: in this loop back into the branches we are avoiding.
	 */
	while (n) {
		uintptr_t lo = (uintptr_t)n->vm_child[0], hi = (uintptr_t)n->vm_child[1];
		uintptr_t right = -(uintptr_t)(addr >= n->vm_end);   /* all ones or zero */

		best = (uintptr_t)n ^ (((uintptr_t)n ^ best) & right);
		n = (struct vma *)(lo ^ ((lo ^ hi) & right));
	}
	return (struct vma *)best;
}

struct vma *vma_tree_find(const struct mm_space *mm, gva_t addr)
{
	return find_vma(mm, addr);
}

struct vma *vma_find(const struct mm_space *mm, gva_t addr)
{
	if (mm_unlikely(!mm))
		return mm_env_report(__func__, "mm is NULL"), NULL;
	return find_vma(mm, addr);
}

struct vma *vma_find_prev(const struct mm_space *mm, gva_t addr, struct vma **prev)
{
	struct vma *v;

	if (!mm || !prev)
		return mm_env_report(__func__, "mm or prev is NULL"), NULL;
	v = find_vma(mm, addr);
	*prev = v ? vma_prev(mm, v) : vma_tree_last(mm);
	return v;
}

struct vma *vma_lookup(const struct mm_space *mm, gva_t addr)
{
	struct vma *v;

	if (mm_unlikely(!mm))
		return mm_env_report(__func__, "mm is NULL"), NULL;
	v = find_vma(mm, addr);
	return v && v->vm_start <= addr ? v : NULL;
}

struct vma *vma_find_intersection(const struct mm_space *mm, gva_t start, gva_t end)
{
	struct vma *v;

	if (!mm)
		return mm_env_report(__func__, "mm is NULL"), NULL;
	if (start >= end)
		return mm_env_report(__func__, "empty range: start >= end"), NULL;
	v = find_vma(mm, start);
	return v && v->vm_start < end ? v : NULL;
}

/* ---- Gap search ------------------------------------------------------------------------ */

/*
 * The free gap below node v is [gs, ge) with ge = start_gap(v) and gs = ge - v->vm_gap (exact
 * whenever vm_gap > 0). A gap qualifies when its part inside [low_limit, high_limit) holds
 * L = length + align_mask bytes: vm_gap >= L, gs <= hi and ge >= lo, with hi = high_limit - L
 * and lo = low_limit + L. Subtrees whose max gap is below L are skipped.
 *
 * Pruning and early exits use vm_start/vm_end, not the guard-extended bounds (those are not
 * monotonic in address order): every gap below v ends before v->vm_start, every gap above v
 * starts at or after v->vm_end. Nothing here reads beyond the first cache line of a VMA.
 */
static int unmapped_area_bottomup(const struct mm_space *mm,
				  const struct vma_unmapped_area_info *info, uint64_t len, gva_t lo,
				  gva_t hi, gva_t *addr)
{
	struct vma *v = mm->vma_root, *from;
	gva_t gs, ge;

	if (!v || v->vm_subtree_gap < len)
		goto check_highest;
	for (;;) {
		/* Lower addresses first: a left gap can only qualify if it may end above lo. */
		if (v->vm_start >= lo && v->vm_child[0] && v->vm_child[0]->vm_subtree_gap >= len) {
			v = v->vm_child[0];
			continue;
		}
check_current:
		if (v->vm_gap >= len) {
			ge = start_gap(mm, v);
			gs = ge - v->vm_gap;
			if (ge >= lo && gs <= hi)
				goto found;
		}
		if (v->vm_end > hi)
			return -MM_ENOMEM;  /* every later gap starts at or above vm_end */
		if (v->vm_child[1] && v->vm_child[1]->vm_subtree_gap >= len) {
			v = v->vm_child[1];
			continue;
		}
		/* Climb to the first ancestor we reached from its left: it is the next gap. */
		for (;;) {
			from = v;
			v = v->vm_parent;
			if (!v)
				goto check_highest;
			if (v->vm_child[0] == from)
				goto check_current;
		}
	}
check_highest:
	gs = mm->highest_vm_end;
	if (gs > hi)
		return -MM_ENOMEM;
found:
	if (gs < info->low_limit)
		gs = info->low_limit;
	gs += (info->align_offset - gs) & info->align_mask;
	*addr = gs;
	return 0;
}

static int unmapped_area_topdown(const struct mm_space *mm,
				 const struct vma_unmapped_area_info *info, uint64_t len, gva_t lo,
				 gva_t hi, gva_t *addr)
{
	struct vma *v = mm->vma_root, *from;
	gva_t ge;

	/* The gap above the last VMA, up to high_limit. */
	if (mm->highest_vm_end <= hi) {
		ge = info->high_limit;
		goto found;
	}
	if (!v || v->vm_subtree_gap < len)
		return -MM_ENOMEM;
	for (;;) {
		/* Higher addresses first: a right gap can only qualify if it may start below hi. */
		if (v->vm_end <= hi && v->vm_child[1] && v->vm_child[1]->vm_subtree_gap >= len) {
			v = v->vm_child[1];
			continue;
		}
check_current:
		if (v->vm_gap >= len) {
			ge = start_gap(mm, v);
			if (ge >= lo && ge - v->vm_gap <= hi)
				goto found;
		}
		if (v->vm_start <= lo)
			return -MM_ENOMEM;  /* every earlier gap ends below vm_start */
		if (v->vm_child[0] && v->vm_child[0]->vm_subtree_gap >= len) {
			v = v->vm_child[0];
			continue;
		}
		/* Climb to the first ancestor we reached from its right: it is the next gap down. */
		for (;;) {
			from = v;
			v = v->vm_parent;
			if (!v)
				return -MM_ENOMEM;
			if (v->vm_child[1] == from)
				goto check_current;
		}
	}
found:
	if (ge > info->high_limit)
		ge = info->high_limit;
	ge -= info->length;
	ge -= (ge - info->align_offset) & info->align_mask;
	*addr = ge;
	return 0;
}

int vma_tree_unmapped_area(const struct mm_space *mm, const struct vma_unmapped_area_info *info,
			   gva_t *addr)
{
	uint64_t len = info->length + info->align_mask;
	gva_t lo, hi;

	if (len < info->length || info->high_limit < len)
		return -MM_ENOMEM;
	hi = info->high_limit - len;
	if (info->low_limit > hi)
		return -MM_ENOMEM;
	lo = info->low_limit + len;
	if (info->flags & VMA_UNMAPPED_AREA_TOPDOWN)
		return unmapped_area_topdown(mm, info, len, lo, hi, addr);
	return unmapped_area_bottomup(mm, info, len, lo, hi, addr);
}

int vma_unmapped_area(const struct mm_space *mm, const struct vma_unmapped_area_info *info,
		      gva_t *addr)
{
	if (!mm || !info || !addr)
		return MM_INVAL("mm, info or addr is NULL");
	if (info->flags & ~VMA_UNMAPPED_AREA_TOPDOWN)
		return MM_INVAL("unknown flags in info");
	if (info->length == 0 || !MM_IS_ALIGNED(info->length, MM_PAGE_SIZE))
		return MM_INVAL("length is zero or not page aligned");
	if (!MM_IS_ALIGNED(info->low_limit, MM_PAGE_SIZE) ||
	    !MM_IS_ALIGNED(info->high_limit, MM_PAGE_SIZE))
		return MM_INVAL("limits not page aligned");
	if (info->high_limit > mm->task_size || info->low_limit > info->high_limit)
		return MM_INVAL("limits out of order or above task_size");
	if (!MM_IS_ALIGNED(info->align_mask, MM_PAGE_SIZE))
		return MM_INVAL("align_mask is not a page multiple");
	return vma_tree_unmapped_area(mm, info, addr);
}

/* ---- Consistency checker --------------------------------------------------------------- */

static int corrupt(const char *what)
{
	mm_env_report("vma_check", what);
	return -MM_EUCLEAN;
}

/*
 * Check the subtree at v (parent expected as its parent) and that its in-order sequence
 * continues the list at *cursor. Recursion depth is the tree height (<= 1.44 log2 n + 2).
 */
static int check_subtree(const struct mm_space *mm, const struct vma *v, const struct vma *parent,
			 const struct list_head **cursor, uint64_t *count)
{
	int32_t hl, hr;
	uint64_t sg;
	int ret;

	if (!v)
		return 0;
	if (v->vm_parent != parent)
		return corrupt("child's vm_parent does not point at its parent");
	if (v->vm_mm != mm)
		return corrupt("vm_mm of a linked VMA is not its mm");
	if (++*count > mm->map_count)
		return corrupt("more VMAs in the tree than map_count (or a cycle)");
	ret = check_subtree(mm, v->vm_child[0], v, cursor, count);
	if (ret)
		return ret;
	*cursor = (*cursor)->next;
	if (*cursor != &v->vm_list)
		return corrupt("tree order differs from list order");
	ret = check_subtree(mm, v->vm_child[1], v, cursor, count);
	if (ret)
		return ret;
	hl = node_height(v->vm_child[0]);
	hr = node_height(v->vm_child[1]);
	if (v->vm_height != 1 + (hl > hr ? hl : hr))
		return corrupt("stale AVL height");
	if (hl - hr > 1 || hr - hl > 1)
		return corrupt("AVL balance violated");
	sg = max_u64(v->vm_gap, max_u64(node_subtree_gap(v->vm_child[0]),
					node_subtree_gap(v->vm_child[1])));
	if (v->vm_subtree_gap != sg)
		return corrupt("stale vm_subtree_gap");
	return 0;
}

static int check_ranges(const struct mm_space *mm)
{
	const struct vma *prev = NULL, *v;
	uint64_t total = 0, locked = 0, data = 0, exec = 0, stack = 0;

	vma_for_each(mm, v) {
		uint64_t n;

		if (v->vm_start >= v->vm_end)
			return corrupt("VMA with vm_start >= vm_end");
		if (!MM_IS_ALIGNED(v->vm_start | v->vm_end, MM_PAGE_SIZE))
			return corrupt("VMA bounds not page aligned");
		if (v->vm_end > mm->task_size)
			return corrupt("VMA above task_size");
		if (prev && prev->vm_end > v->vm_start)
			return corrupt("VMAs overlap or are out of order");
		if (v->vm_flags & ~VM_KNOWN_FLAGS)
			return corrupt("unknown bits in vm_flags");
		if (v->vm_gap_flags != (v->vm_flags & (VM_GROWSDOWN | VM_GROWSUP)))
			return corrupt("vm_gap_flags differs from vm_flags");
		if (v->vm_gap != compute_gap(mm, prev, v))
			return corrupt("stale vm_gap");
		n = vma_pages(v);
		total += n;
		if (vma_is_exec_mapping(v->vm_flags))
			exec += n;
		else if (vma_is_stack_mapping(v->vm_flags))
			stack += n;
		else if (vma_is_data_mapping(v->vm_flags))
			data += n;
		if (v->vm_flags & VM_LOCKED)
			locked += n;
		prev = v;
	}
	if (mm->highest_vm_end != (prev ? end_gap(mm, prev) : 0))
		return corrupt("stale highest_vm_end");
	if (total != mm->total_vm)
		return corrupt("total_vm differs from the sum over VMAs");
	if (locked != mm->locked_vm)
		return corrupt("locked_vm differs from the sum over VM_LOCKED VMAs");
	if (data != mm->data_vm)
		return corrupt("data_vm differs from the sum over data VMAs");
	if (exec != mm->exec_vm)
		return corrupt("exec_vm differs from the sum over exec VMAs");
	if (stack != mm->stack_vm)
		return corrupt("stack_vm differs from the sum over stack VMAs");
	return 0;
}

int vma_check(const struct mm_space *mm)
{
	const struct list_head *cursor;
	uint64_t count = 0;
	long listed;
	int ret;

	if (!mm)
		return MM_INVAL("mm is NULL");
	listed = list_check(&mm->vmas, mm->map_count);
	if (listed < 0)
		return -MM_EUCLEAN;
	if ((uint64_t)listed != mm->map_count)
		return corrupt("map_count differs from the number of listed VMAs");
	if (mm->vma_root && mm->vma_root->vm_parent)
		return corrupt("root has a parent");
	cursor = &mm->vmas;
	ret = check_subtree(mm, mm->vma_root, NULL, &cursor, &count);
	if (ret)
		return ret;
	if (count != mm->map_count)
		return corrupt("fewer VMAs in the tree than map_count");
	return check_ranges(mm);
}
