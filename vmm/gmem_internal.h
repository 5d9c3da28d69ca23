/*
 * gmem_internal.h — what gmem.c and gmem_stats.c share and nothing else may use: the cluster
 * flags, address arithmetic between clusters, blocks and pools, and the stage-2 view of a
 * cluster. Callers hold gmem.lock where a name ends in _locked.
 */
#ifndef MV_GMEM_INTERNAL_H
#define MV_GMEM_INTERNAL_H

#include "gmem.h"

#define GMEM_NO_GPA       (~(gpa_t)0)
#define GMEM_C_BUSY       (1u << 0)     /* a thread is changing the cluster (no lock held) */
#define GMEM_C_WAITING    (1u << 1)     /* a fault on it waits for a free frame */

static inline uint64_t cluster_index(const struct gmem *g, gpa_t c)
{
	return c >> (MM_PAGE_SHIFT + g->cluster_order);
}

static inline uint8_t *cluster_hva(const struct gmem *g, gpa_t c)
{
	return guest_mem_ptr(g->gm, c, g->cluster_size);
}

static inline unsigned cluster_node(const struct gmem *g, gpa_t c)
{
	return guest_mem_find(g->gm, c)->node;
}

static inline unsigned pfn_pool(const struct gmem *g, pfn_t pfn)
{
	for (unsigned n = 0; n < g->m->nr_nodes; n++)
		if (pfn >= g->pool[n].base && pfn - g->pool[n].base < g->pool[n].nr_frames)
			return n;
	mm_env_bug(__FILE__, __LINE__, "pfn outside every pool");
}

static inline uint64_t pfn_offset(const struct gmem *g, pfn_t pfn)
{
	return (pfn - g->pool[pfn_pool(g, pfn)].base) << MM_PAGE_SHIFT;
}

static inline uint64_t block_index(const struct gmem *g, pfn_t pfn)
{
	return pfn >> g->cluster_order;
}

/* The stage-2 view of a cluster: its first page's entry (gmem_check verifies the rest agree). */
struct cstate {
	enum pt_state state;
	pfn_t pfn;          /* MAPPED */
	bool accessed;      /* MAPPED: A bit, i.e. mapped in the guest's address space */
	uint64_t slot;      /* SWAP */
};

static inline void cluster_state_locked(struct gmem *g, gpa_t c, struct cstate *cs)
{
	struct pgtable_info info;

	pgtable_translate(&g->s2, c, &info);
	cs->state = info.state;
	cs->pfn = info.pa >> MM_PAGE_SHIFT;
	cs->accessed = info.attr.flags & PT_A;
	cs->slot = info.slot;
}

#endif /* MV_GMEM_INTERNAL_H */
