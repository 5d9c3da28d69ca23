/*
 * mm/vma_internal.h — what vma.c (address-space operations) needs from vma_tree.c (the
 * augmented AVL tree and the address-ordered list). Not part of the public API.
 *
 * Contract of every function here: the caller serialises on mm (see mm/vma.h) and passes
 * arguments that are already validated; breaking a precondition is a bug (MM_BUG_ON), not a
 * report. After each call the tree, list, gaps, highest_vm_end and map_count are consistent;
 * the usage counters are the caller's business (vma_account()).
 */
#ifndef MM_VMA_INTERNAL_H
#define MM_VMA_INTERNAL_H

#include "mm/vma.h"
#include "mm/env.h"

/*
 * Link vma (range and flags filled in, not linked) right after prev in address order; prev
 * NULL means first. The caller guarantees prev->vm_end <= vma->vm_start and that the next VMA
 * starts at or above vma->vm_end. O(log n): the position follows from prev, no search.
 */
void vma_tree_link_after(struct mm_space *mm, struct vma *vma, struct vma *prev);

/*
 * Link vma as child `side` of parent (NULL: as the root of an empty tree), between prev and next
 * in address order; the caller found the slot with a search, so it is the correct in-order
 * position (prev and next are then ancestors of the slot). O(log n).
 */
void vma_tree_link_at(struct mm_space *mm, struct vma *vma, struct vma *parent, int side,
		      struct vma *prev, struct vma *next);

/*
 * Remove vma from the tree and list; it is not freed. The next VMA's gap is recomputed from
 * vma's predecessor, so a caller that first extends the predecessor over vma's range (a merge)
 * leaves that gap unchanged and pays no gap propagation. O(log n).
 */
void vma_tree_unlink(struct mm_space *mm, struct vma *vma);

/*
 * Move one boundary of a linked VMA without crossing a neighbour (the caller guarantees the
 * new range does not overlap the previous/next VMA). Refreshes the affected gaps. O(log n).
 */
void vma_tree_set_start(struct mm_space *mm, struct vma *vma, gva_t start);
void vma_tree_set_end(struct mm_space *mm, struct vma *vma, gva_t end);

/* vma_unmapped_area() without argument validation (info must be sane). */
int vma_tree_unmapped_area(const struct mm_space *mm, const struct vma_unmapped_area_info *info,
			   gva_t *addr);

/* The first VMA with vm_end > addr (find_vma), without argument checks. */
struct vma *vma_tree_find(const struct mm_space *mm, gva_t addr);

/* The last (highest) VMA, or NULL. O(1). */
struct vma *vma_tree_last(const struct mm_space *mm);


static inline bool vma_is_exec_mapping(uint64_t flags)
{
	return (flags & (VM_EXEC | VM_WRITE | VM_STACK)) == VM_EXEC;
}

static inline bool vma_is_stack_mapping(uint64_t flags)
{
	return (flags & VM_STACK) == VM_STACK;
}

static inline bool vma_is_data_mapping(uint64_t flags)
{
	return (flags & (VM_WRITE | VM_SHARED | VM_STACK)) == VM_WRITE;
}

/* Linux vm_stat_account() plus locked_vm: add npages (negative to remove) of a flags mapping. */
static inline void vma_account(struct mm_space *mm, uint64_t flags, int64_t npages)
{
	uint64_t n = (uint64_t)npages;      /* two's complement: adding n subtracts -npages */

	mm->total_vm += n;
	if (vma_is_exec_mapping(flags))
		mm->exec_vm += n;
	else if (vma_is_stack_mapping(flags))
		mm->stack_vm += n;
	else if (vma_is_data_mapping(flags))
		mm->data_vm += n;
	if (flags & VM_LOCKED)
		mm->locked_vm += n;
}

#endif /* MM_VMA_INTERNAL_H */
