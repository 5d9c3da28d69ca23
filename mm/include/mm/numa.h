/*
 * mm/numa.h — NUMA topology, memory policies and per-node allocation counters for the buddy
 * allocator (mm/buddy.h).
 *
 * Owns: the node distance matrix (ACPI SLIT semantics) and its validation, the per-node
 * zonelists' order (built into struct buddy by buddy_init, see numa.c), the memory policies
 * default / bind / preferred / interleave, allocation through a policy, and numastat.
 *
 * Locking: nothing here takes a lock of its own. numa_alloc_pages() takes the buddy's locks in
 * the buddy's order (per-CPU section, then one zone lock). A policy's interleave cursor is
 * updated with relaxed atomics: sharing one policy between threads is safe but two threads may
 * pick the same node (Linux keeps the cursor per task for the same reason: it is a hint).
 */
#ifndef MM_NUMA_H
#define MM_NUMA_H

#include "types.h"

/* SLIT distances: 10 means local; remote nodes are > 10; 255 means "no path". */
#define NUMA_LOCAL_DISTANCE   10
#define NUMA_REMOTE_DISTANCE  20   /* what buddy_init assumes between nodes without a table */
#define NUMA_NO_PATH          255

#define NUMA_ALL_NODES ((nodemask_t)((UINT64_C(1) << MM_MAX_NODES) - 1))

/*
 * d[from][to] is the relative cost for a CPU of node `from` to reach memory of node `to`.
 * Valid (numa_distance_validate): 1 <= nr_nodes <= MM_MAX_NODES, d[i][i] == 10,
 * d[i][j] > 10 for i != j (255 = unreachable: such a node never appears in i's zonelist).
 * SLIT allows d[i][j] != d[j][i]; a caller that cannot handle that asks for symmetry.
 * Entries beyond nr_nodes are ignored.
 */
struct numa_distance {
	unsigned nr_nodes;
	uint8_t d[MM_MAX_NODES][MM_MAX_NODES];
};

/* Fill d with nr_nodes nodes, 10 on the diagonal and 20 elsewhere. */
int numa_distance_init_default(struct numa_distance *d, unsigned nr_nodes);
/* 0 if d is a valid SLIT matrix (and symmetric when require_symmetric), else -MM_EINVAL. */
int numa_distance_validate(const struct numa_distance *d, bool require_symmetric);

/* Number of nodes in a mask (no libgcc popcount: mm/ must link freestanding). */
static inline unsigned numa_nodemask_weight(nodemask_t m)
{
	unsigned n = 0;

	while (m) {
		m &= m - 1;
		n++;
	}
	return n;
}

/*
 * Memory policies (Linux's set_mempolicy modes):
 *   DEFAULT     allocate near the allocating CPU's node ("local"), falling back by distance.
 *               nodes must be empty.
 *   BIND        allocate only from `nodes`, nearest to the local node first; fail rather than
 *               leave the mask.
 *   PREFERRED   allocate from the one node in `nodes`, falling back by distance from it.
 *   INTERLEAVE  successive allocations go round-robin over `nodes` (the policy keeps the last
 *               node used); each falls back by distance from its target if the target is full.
 * Every node in `nodes` must exist and have memory in the allocator the policy is used with.
 */
enum numa_policy_mode {
	NUMA_POLICY_DEFAULT,
	NUMA_POLICY_BIND,
	NUMA_POLICY_PREFERRED,
	NUMA_POLICY_INTERLEAVE,
	NUMA_NR_POLICY_MODES,
};

struct numa_policy {
	unsigned mode;          /* enum numa_policy_mode */
	unsigned il_prev;       /* INTERLEAVE: last node used (relaxed atomic) */
	nodemask_t nodes;
};

struct buddy;

/* Validate mode and nodes against b's nodes and set up pol. */
int numa_policy_init(struct numa_policy *pol, const struct buddy *b, unsigned mode,
		     nodemask_t nodes);

/*
 * Allocate 2^order frames following pol (NULL = DEFAULT) for a CPU on local_node, with
 * BUDDY_ALLOC_* flags. 0 and *pfn set, -MM_ENOMEM when the policy's nodes cannot satisfy it,
 * -MM_EINVAL for bad arguments. Counted in numastat like Linux (see struct numa_stat).
 */
mm_must_check int numa_alloc_pages(struct buddy *b, struct numa_policy *pol, unsigned order,
				   unsigned flags, unsigned local_node, pfn_t *pfn);

/*
 * Per-node counters with Linux's numastat semantics (mm/page_alloc.c zone_statistics() and
 * mm/mempolicy.c alloc_page_interleave(), v6.1). Each counts allocations (one per successful
 * allocation, whatever its order, as Linux has done since v4.x), not pages.
 *
 * The "preferred node" of an allocation is the node of the first zone of its zonelist that the
 * allocation may use (so a memoryless preferred node is replaced by the nearest node with memory,
 * as in Linux). The "local node" is the allocating CPU's node, which the caller passes.
 *
 *   numa_hit        on the node that supplied the page, when it is the preferred node.
 *   numa_miss       on the node that supplied the page, when the preferred node was another.
 *   numa_foreign    on the preferred node, when another node supplied the page.
 *   interleave_hit  on the node that supplied an INTERLEAVE allocation, when it is the node the
 *                   interleave chose (a fallback to another node is not a hit).
 *   local_node      on the node that supplied the page, when it is the allocating CPU's node.
 *   other_node      on the node that supplied the page, when the CPU is on another node.
 *
 * Identities: sum(numa_hit) + sum(numa_miss) = sum(local_node) + sum(other_node) = successful
 * allocations; sum(numa_miss) = sum(numa_foreign). Frees are not counted.
 */
struct numa_stat {
	uint64_t numa_hit;
	uint64_t numa_miss;
	uint64_t numa_foreign;
	uint64_t interleave_hit;
	uint64_t local_node;
	uint64_t other_node;
};

/*
 * Sum node's counters over every CPU. Exact when no allocation runs concurrently; a snapshot
 * otherwise (each counter is read with a relaxed load).
 */
int numa_stat_read(const struct buddy *b, unsigned node, struct numa_stat *st);

#endif /* MM_NUMA_H */
