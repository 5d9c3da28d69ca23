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
 * Gap bookkeeping (Linux's pre-maple rb_subtree_gap scheme, kept one level up):
 *   vma->vm_gap          = the free bytes right below vma (vma_start_gap(vma) -
 *                          vma_end_gap(prev VMA), 0 for none below; clamped at 0 when guard gaps
 *                          overlap), cached;
 *   vma->vm_child_gap[i] = the largest vm_gap in child i's subtree, and that subtree's height;
 *   mm->vma_root_gap     = the same for the whole tree;
 *   mm->highest_vm_end   = vma_end_gap(last VMA): the gap above it is searched separately.
 * A node's summary lives in its parent (as maple/B-tree nodes keep their children's gaps), so
 * the gap walk decides where to go from the node it stands on - one dependent load per level -
 * and rebalancing reads no sibling. Heights and the guard flags ride in the low bits of these
 * page-multiple words (VMA_TREE_META_MASK in mm/vma.h) so the tree fits one cache line.
 * Every change touches at most two cached gaps (the VMA's own and its successor's); they are
 * refreshed with one dirty point at a time, so a walk may stop at the first ancestor whose
 * summary comes out unchanged.
 */
#include "vma_internal.h"

/* ---- Small helpers ------------------------------------------------------------------------ */

/* Gap bytes and height/flag bits of a tree word (see VMA_TREE_META_MASK in mm/vma.h). */
static inline uint64_t word_gap(uint64_t w)
{
	return w & ~VMA_TREE_META_MASK;
}

static inline uint32_t word_height(uint64_t w)
{
	return (uint32_t)(w & VMA_TREE_META_MASK);
}

static inline uint64_t grows_bits(uint64_t vm_flags)
{
	return (vm_flags & VM_GROWSDOWN ? VMA_GAP_GROWSDOWN : 0) |
	       (vm_flags & VM_GROWSUP ? VMA_GAP_GROWSUP : 0);
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

/* For linked VMAs: the guard flags in vm_gap are on the line the tree walks already hold. */
static inline gva_t start_gap(const struct mm_space *mm, const struct vma *vma)
{
	return start_gap_of(mm, vma->vm_start,
			    vma->vm_gap & VMA_GAP_GROWSDOWN ? VM_GROWSDOWN : 0);
}

static inline gva_t end_gap(const struct mm_space *mm, const struct vma *vma)
{
	return end_gap_of(mm, vma->vm_end, vma->vm_gap & VMA_GAP_GROWSUP ? VM_GROWSUP : 0);
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

/* What v's parent stores about v's subtree: max gap | height. Needs v's fields only. */
static inline uint64_t summary(const struct vma *v)
{
	uint64_t c0 = v->vm_child_gap[0], c1 = v->vm_child_gap[1];
	uint32_t h0 = word_height(c0), h1 = word_height(c1);

	return max_u64(word_gap(v->vm_gap), max_u64(word_gap(c0), word_gap(c1))) |
	       (1 + (h0 > h1 ? h0 : h1));
}

/* Where v's summary is kept: its parent's word for that side, or the root word. */
static inline uint64_t *summary_slot(struct mm_space *mm, const struct vma *v)
{
	struct vma *p = v->vm_parent;

	return p ? &p->vm_child_gap[p->vm_child[1] == v] : &mm->vma_root_gap;
}

/* Make new take old's place under parent (or as the root); the summary word is not touched. */
static inline void replace_child(struct mm_space *mm, struct vma *parent, struct vma *old,
				 struct vma *new)
{
	if (!parent)
		mm->vma_root = new;
	else
		parent->vm_child[parent->vm_child[1] == old] = new;
}

/*
 * Rotate x's child on side d up into x's place: d = 1 is a left rotation. x's summary moves
 * into its new parent; the summary of the returned subtree root is left to the caller, whose
 * slot (x's old slot) still holds what x's parent last saw.
 */
static struct vma *rotate(struct mm_space *mm, struct vma *x, int d)
{
	struct vma *y = x->vm_child[d];
	struct vma *inner = y->vm_child[!d];

	x->vm_child[d] = inner;
	x->vm_child_gap[d] = y->vm_child_gap[!d];
	if (inner)
		inner->vm_parent = x;
	y->vm_parent = x->vm_parent;
	replace_child(mm, x->vm_parent, x, y);
	y->vm_child[!d] = x;
	x->vm_parent = y;
	y->vm_child_gap[!d] = summary(x);
	return y;
}

/* Restore the AVL balance at v (children summaries up to date). Returns the subtree's root. */
static struct vma *rebalance(struct mm_space *mm, struct vma *v)
{
	int32_t bf = (int32_t)word_height(v->vm_child_gap[1]) -
		     (int32_t)word_height(v->vm_child_gap[0]);
	int d;
	struct vma *c;

	if (bf >= -1 && bf <= 1)
		return v;
	d = bf > 0;                         /* the heavy side */
	c = v->vm_child[d];
	/* Inner-heavy child: double rotation (rotate the child outward first). */
	if (word_height(c->vm_child_gap[!d]) > word_height(c->vm_child_gap[d])) {
		c = rotate(mm, c, !d);
		v->vm_child_gap[d] = summary(c);
	}
	return rotate(mm, v, d);
}

/*
 * Walk from n to the root rebalancing and storing each subtree's summary in its slot. The walk
 * stops at the first subtree whose summary equals what its parent had — above it nothing can
 * change. Early stopping is not allowed before `floor` has been processed (a node whose own
 * gap changed, or one that took an erased node's place; see the callers).
 */
static void fix_upward(struct mm_space *mm, struct vma *n, const struct vma *floor)
{
	while (n) {
		uint64_t *slot = summary_slot(mm, n);   /* the rotations keep this slot */
		uint64_t old = *slot, now;
		bool may_stop = !floor;
		struct vma *top;

		if (n == floor)
			floor = NULL;
		top = rebalance(mm, n);
		now = summary(top);
		*slot = now;
		if (may_stop && now == old)
			return;
		n = top->vm_parent;
	}
}

/* v's own gap changed: push its subtree summary up as far as it makes a difference. */
static void propagate_gap(struct mm_space *mm, struct vma *v)
{
	while (v) {
		uint64_t *slot = summary_slot(mm, v);
		uint64_t now = summary(v);

		if (*slot == now)
			return;
		*slot = now;
		v = v->vm_parent;
	}
}

/* Store vma's new gap (bytes; the flag bits are kept) and propagate it if it changed. */
static void set_gap(struct mm_space *mm, struct vma *vma, uint64_t g)
{
	uint64_t w = g | (vma->vm_gap & VMA_TREE_META_MASK);

	if (w != vma->vm_gap) {
		vma->vm_gap = w;
		propagate_gap(mm, vma);
	}
}

/* Recompute vma's cached gap from its list predecessor. */
static void refresh_gap(struct mm_space *mm, struct vma *vma)
{
	set_gap(mm, vma, compute_gap(mm, vma_prev(mm, vma), vma));
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
	vma->vm_child_gap[0] = vma->vm_child_gap[1] = 0;
	vma->vm_parent = parent;
	vma->vm_mm = mm;
	vma->vm_gap = grows_bits(vma->vm_flags);    /* start_gap() below reads the flag bits */
	vma->vm_gap |= compute_gap(mm, prev, vma);
	if (parent) {
		MM_BUG_ON(parent->vm_child[side]);
		parent->vm_child[side] = vma;
		parent->vm_child_gap[side] = summary(vma);
	} else {
		MM_BUG_ON(mm->vma_root);
		mm->vma_root = vma;
		mm->vma_root_gap = summary(vma);
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
		uint64_t w = compute_gap(mm, vma, next) | (next->vm_gap & VMA_TREE_META_MASK);

		if (w != next->vm_gap) {
			next->vm_gap = w;
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
		int c = z->vm_child[0] ? 0 : 1;
		struct vma *child = z->vm_child[c];

		/* The child's subtree summary, kept in z, moves up into z's slot. */
		*summary_slot(mm, z) = z->vm_child_gap[c];
		replace_child(mm, parent, z, child);
		if (child)
			child->vm_parent = parent;
		fix_from = parent;
		/*
		 * Without a right subtree, next is an ancestor: the walk refreshes it (and may not
		 * stop below it). Otherwise next is in the subtree that moved up: separately.
		 */
		if (next && !z->vm_child[1] &&
		    next_gap != word_gap(next->vm_gap)) {
			next->vm_gap = next_gap | (next->vm_gap & VMA_TREE_META_MASK);
			floor = next;
		} else if (next) {
			gap_later = next;
		}
	} else {
		/*
		 * Two children: the in-order successor s (== next, leftmost in z's right subtree)
		 * takes z's place and z's children summaries; z's slot keeps what z's parent saw,
		 * so the walk compares against that. s's own gap differs from z's: s must be
		 * recomputed (floor).
		 */
		struct vma *s = next;

		MM_BUG_ON(!s || s->vm_child[0]);
		if (s->vm_parent == z) {
			fix_from = s;
		} else {
			struct vma *sp = s->vm_parent;

			sp->vm_child[0] = s->vm_child[1];
			sp->vm_child_gap[0] = s->vm_child_gap[1];
			if (s->vm_child[1])
				s->vm_child[1]->vm_parent = sp;
			s->vm_child[1] = z->vm_child[1];
			s->vm_child_gap[1] = z->vm_child_gap[1];
			z->vm_child[1]->vm_parent = s;
			fix_from = sp;
		}
		s->vm_child[0] = z->vm_child[0];
		s->vm_child_gap[0] = z->vm_child_gap[0];
		z->vm_child[0]->vm_parent = s;
		s->vm_parent = parent;
		replace_child(mm, parent, z, s);
		s->vm_gap = next_gap | (s->vm_gap & VMA_TREE_META_MASK);
		floor = s;
	}
	list_del(&z->vm_list);
	mm->map_count--;
	z->vm_child[0] = z->vm_child[1] = z->vm_parent = NULL;
	z->vm_mm = NULL;

	fix_upward(mm, fix_from, floor);
	if (gap_later)
		set_gap(mm, gap_later, next_gap);
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
 * The free gap below node v is [gs, ge) with ge = start_gap(v) and gs = ge - its gap bytes
 * (exact whenever the gap is not 0). A gap qualifies when its part inside [low_limit,
 * high_limit) holds L = length + align_mask bytes: gap >= L, gs <= hi and ge >= lo, with
 * hi = high_limit - L and lo = low_limit + L. Subtrees whose max gap is below L are skipped.
 * L is a page multiple, so tree words compare against it directly (their metadata bits are
 * below a page).
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

	if (mm->vma_root_gap < len)
		goto check_highest;
	for (;;) {
		/* Lower addresses first: a left gap can only qualify if it may end above lo. */
		if (v->vm_start >= lo && v->vm_child_gap[0] >= len) {
			v = v->vm_child[0];
			continue;
		}
check_current:
		if (v->vm_gap >= len) {
			ge = start_gap(mm, v);
			gs = ge - word_gap(v->vm_gap);
			if (ge >= lo && gs <= hi)
				goto found;
		}
		if (v->vm_end > hi)
			return -MM_ENOMEM;  /* every later gap starts at or above vm_end */
		if (v->vm_child_gap[1] >= len) {
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

/* Tree height (about 1.44 log2 of the VMA count) from which top-down starts at the top VMA. */
#define VMA_GAP_CLIMB_MIN_HEIGHT 13

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
	if (mm->vma_root_gap < len)
		return -MM_ENOMEM;
	/*
	 * Where to start. The walk below is correct from any node on the right spine (the path
	 * from the root to the last VMA): that node's subtree holds every VMA above it, and the
	 * climb continues below it in descending order. Top-down answers usually sit among the
	 * highest few dozen VMAs (the gap below the last mmap), so in a tall tree climb the spine
	 * from the last VMA to the first node S that is inside the window (vm_end <= hi) and whose
	 * subtree has a big enough gap, and descend from S: about 2 height(S) steps instead of
	 * depth(S) + height(S). The spine nodes above S all end below S, so this skips nothing
	 * that the descent from the root would prune by hi. A short tree gains nothing from it.
	 */
	if (word_height(mm->vma_root_gap) >= VMA_GAP_CLIMB_MIN_HEIGHT) {
		for (v = vma_tree_last(mm); v->vm_parent; v = v->vm_parent) {
			if (v->vm_end <= hi && v->vm_parent->vm_child_gap[1] >= len)
				break;
		}
	}
	for (;;) {
		/* Higher addresses first: a right gap can only qualify if it may start below hi. */
		if (v->vm_end <= hi && v->vm_child_gap[1] >= len) {
			v = v->vm_child[1];
			continue;
		}
check_current:
		if (v->vm_gap >= len) {
			ge = start_gap(mm, v);
			if (ge >= lo && ge - word_gap(v->vm_gap) <= hi)
				goto found;
		}
		if (v->vm_start <= lo)
			return -MM_ENOMEM;  /* every earlier gap ends below vm_start */
		if (v->vm_child_gap[0] >= len) {
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
 * continues the list at *cursor; *sum = v's summary as recomputed. Recursion depth is the
 * tree height (<= 1.44 log2 n + 2).
 */
static int check_subtree(const struct mm_space *mm, const struct vma *v, const struct vma *parent,
			 const struct list_head **cursor, uint64_t *count, uint64_t *sum)
{
	uint64_t sub[2] = { 0, 0 };
	int32_t h0, h1;
	int ret;

	*sum = 0;
	if (!v)
		return 0;
	if (v->vm_parent != parent)
		return corrupt("child's vm_parent does not point at its parent");
	if (v->vm_mm != mm)
		return corrupt("vm_mm of a linked VMA is not its mm");
	if (++*count > mm->map_count)
		return corrupt("more VMAs in the tree than map_count (or a cycle)");
	ret = check_subtree(mm, v->vm_child[0], v, cursor, count, &sub[0]);
	if (ret)
		return ret;
	*cursor = (*cursor)->next;
	if (*cursor != &v->vm_list)
		return corrupt("tree order differs from list order");
	ret = check_subtree(mm, v->vm_child[1], v, cursor, count, &sub[1]);
	if (ret)
		return ret;
	for (int i = 0; i < 2; i++) {
		if (word_height(v->vm_child_gap[i]) != word_height(sub[i]))
			return corrupt("stale subtree height in vm_child_gap");
		if (word_gap(v->vm_child_gap[i]) != word_gap(sub[i]))
			return corrupt("stale subtree max gap in vm_child_gap");
	}
	h0 = (int32_t)word_height(sub[0]);
	h1 = (int32_t)word_height(sub[1]);
	if (h0 - h1 > 1 || h1 - h0 > 1)
		return corrupt("AVL balance violated");
	*sum = summary(v);
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
		if ((v->vm_gap & VMA_TREE_META_MASK) != grows_bits(v->vm_flags))
			return corrupt("guard flag bits in vm_gap differ from vm_flags");
		if (word_gap(v->vm_gap) != compute_gap(mm, prev, v))
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
	uint64_t count = 0, sum;
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
	ret = check_subtree(mm, mm->vma_root, NULL, &cursor, &count, &sum);
	if (ret)
		return ret;
	if (mm->vma_root_gap != sum)
		return corrupt("stale vma_root_gap");
	if (count != mm->map_count)
		return corrupt("fewer VMAs in the tree than map_count");
	return check_ranges(mm);
}
