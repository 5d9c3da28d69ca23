/*
 * mm/slab_buddy.c — slab pages from a buddy allocator over a linear map (see slab_buddy.h).
 * Owns nothing but the glue; lock order is buddy's (slab calls the provider with no lock held).
 */
#include "mm/slab_buddy.h"

uint64_t slab_buddy_owner_pages(const struct buddy *b)
{
	uint64_t end = 0;

	for (uint64_t i = 0; i < b->nr_sections; i++)
		if (b->sections[i].nr && b->sections[i].start + b->sections[i].nr > end)
			end = b->sections[i].start + b->sections[i].nr;
	return end;
}

static void *slab_buddy_alloc(void *ctx, unsigned order, unsigned node)
{
	struct slab_buddy *sb = ctx;
	pfn_t pfn;

	/* Slab asks for a node and nothing else: no fallback (slab falls back itself). */
	if (buddy_alloc(sb->buddy, node, order, BUDDY_ALLOC_THISNODE, &pfn) != 0)
		return NULL;
	return (void *)(sb->direct_map + (uintptr_t)(pfn << MM_PAGE_SHIFT));
}

static void slab_buddy_free(void *ctx, void *addr, unsigned order)
{
	struct slab_buddy *sb = ctx;
	pfn_t pfn = (pfn_t)((uintptr_t)addr - sb->direct_map) >> MM_PAGE_SHIFT;

	/* Slab returns exactly the blocks it was given: a failure here is corruption. */
	MM_BUG_ON(buddy_free(sb->buddy, pfn, order) != 0);
}

int slab_buddy_provider(struct slab_page_provider *p, struct slab_buddy *sb, struct buddy *b,
			uintptr_t direct_map, void **owners, uint64_t nr_owners)
{
	if (!p || !sb || !b || !owners)
		return MM_INVAL("NULL argument");
	if (!MM_IS_ALIGNED(direct_map, MM_PAGE_SIZE))
		return MM_INVAL("direct map base is not page-aligned");
	if (nr_owners < slab_buddy_owner_pages(b))
		return MM_INVAL("owner array does not cover the buddy's highest frame");
	if (b->nr_orders - 1 < SLAB_MAX_ORDER)
		return MM_INVAL("buddy orders are too few for slab's largest slab");
	sb->buddy = b;
	sb->direct_map = direct_map;
	p->alloc_pages = slab_buddy_alloc;
	p->free_pages = slab_buddy_free;
	p->ctx = sb;
	p->base = direct_map;
	p->npages = nr_owners;
	p->owner0 = owners;
	p->owner_stride = sizeof(void *);
	p->nr_nodes = b->nr_nodes;
	p->max_order = b->nr_orders - 1;
	return 0;
}
