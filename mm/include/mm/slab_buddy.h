/*
 * mm/slab_buddy.h — a slab page provider over a buddy allocator: how a kernel (the guest, or
 * `memvisor selfcheck`) stacks slab on its page allocator, as Linux's slab sits on alloc_pages.
 *
 * Assumes a linear map of the buddy's frames: the virtual address of frame pfn is
 * direct_map + (pfn << MM_PAGE_SHIFT) (the guest's direct map; a host mapping in selfcheck).
 * Owner words are a caller array with one void * per frame from pfn 0 to the buddy's highest
 * frame (the buddy descriptor is 40 bytes, not a power of two, so slab cannot index it).
 * No locking of its own: buddy_alloc/buddy_free lock.
 */
#ifndef MM_SLAB_BUDDY_H
#define MM_SLAB_BUDDY_H

#include "buddy.h"
#include "slab.h"

struct slab_buddy {
	struct buddy *buddy;
	uintptr_t direct_map;
};

/* Frames the owner array must cover: the buddy's highest frame + 1. */
uint64_t slab_buddy_owner_pages(const struct buddy *b);

/*
 * Fill *p to hand slab pages of b. sb must outlive the slab allocator; owners must hold
 * nr_owners zeroed words, nr_owners >= slab_buddy_owner_pages(b).
 */
mm_must_check int slab_buddy_provider(struct slab_page_provider *p, struct slab_buddy *sb,
				      struct buddy *b, uintptr_t direct_map, void **owners,
				      uint64_t nr_owners);

#endif /* MM_SLAB_BUDDY_H */
