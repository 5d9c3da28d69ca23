/*
 * mm/numa.c — NUMA distances, zonelists, memory policies and numastat for the buddy allocator.
 *
 * Owns: SLIT validation, building each node's zonelist (called by buddy_init), policy
 * validation and policy-driven allocation, and summing the per-CPU numastat counters that the
 * buddy allocation path maintains (buddy.c count_alloc()).
 *
 * Locking: no lock of its own. Allocation goes through buddy_alloc_core_(), which takes the
 * buddy's locks in the buddy's order (per-CPU section > one zone lock). The interleave cursor is
 * a relaxed atomic word (see numa.h).
 */
#include "buddy_internal.h"

/* ---- reports that name a node: mm/ has no printf, so format by hand ---- */

static void put_str(char *buf, size_t *len, size_t cap, const char *s)
{
	while (*s && *len + 1 < cap)
		buf[(*len)++] = *s++;
	buf[*len] = '\0';
}

static void put_uint(char *buf, size_t *len, size_t cap, unsigned v)
{
	char digits[12];
	unsigned n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && *len + 1 < cap)
		buf[(*len)++] = digits[--n];
	buf[*len] = '\0';
}

/* Report "<pre><a><mid><b><post>" (b omitted when mid is NULL); evaluates to -MM_EINVAL. */
static int report_nodes(const char *func, const char *pre, unsigned a, const char *mid,
			unsigned b, const char *post)
{
	char buf[128];
	size_t len = 0;

	buf[0] = '\0';
	put_str(buf, &len, sizeof(buf), pre);
	put_uint(buf, &len, sizeof(buf), a);
	if (mid) {
		put_str(buf, &len, sizeof(buf), mid);
		put_uint(buf, &len, sizeof(buf), b);
	}
	put_str(buf, &len, sizeof(buf), post);
	mm_env_report(func, buf);
	return -MM_EINVAL;
}

/* ---- distances ---- */

int numa_distance_init_default(struct numa_distance *d, unsigned nr_nodes)
{
	if (!d)
		return MM_INVAL("distance table is NULL");
	if (nr_nodes == 0 || nr_nodes > MM_MAX_NODES)
		return MM_INVAL("nr_nodes must be 1..MM_MAX_NODES");
	memset(d, 0, sizeof(*d));
	d->nr_nodes = nr_nodes;
	for (unsigned i = 0; i < nr_nodes; i++)
		for (unsigned j = 0; j < nr_nodes; j++)
			d->d[i][j] = i == j ? NUMA_LOCAL_DISTANCE : NUMA_REMOTE_DISTANCE;
	return 0;
}

int numa_distance_validate(const struct numa_distance *d, bool require_symmetric)
{
	if (!d)
		return MM_INVAL("distance table is NULL");
	if (d->nr_nodes == 0 || d->nr_nodes > MM_MAX_NODES)
		return MM_INVAL("nr_nodes must be 1..MM_MAX_NODES");
	for (unsigned i = 0; i < d->nr_nodes; i++) {
		for (unsigned j = 0; j < d->nr_nodes; j++) {
			if (i == j && d->d[i][j] != NUMA_LOCAL_DISTANCE)
				return report_nodes(__func__, "local distance of node ", i, NULL, 0,
						    " is not 10");
			if (i != j && d->d[i][j] <= NUMA_LOCAL_DISTANCE)
				return report_nodes(__func__, "distance from node ", i, " to node ", j,
						    " is not above the local distance 10");
			if (require_symmetric && d->d[i][j] != d->d[j][i])
				return report_nodes(__func__, "distance table is not symmetric: node ", i,
						    " vs node ", j, "");
		}
	}
	return 0;
}

/* ---- zonelists ---- */

/*
 * Node n's zonelist: every node with memory reachable from n (distance != 255), nearest first,
 * ties broken by node id (Linux spreads ties by load instead; a fixed order keeps placement
 * reproducible); within a node NORMAL before DMA32, as Linux's node-ordered zonelists.
 */
void numa_build_zonelists_(struct buddy *b)
{
	for (unsigned n = 0; n < b->nr_nodes; n++) {
		struct buddy_zonelist *zl = &b->zonelists[n];
		const uint8_t *dist = b->distance.d[n];
		unsigned order[MM_MAX_NODES], cnt = 0;

		for (unsigned m = 0; m < b->nr_nodes; m++) {
			unsigned j;

			if (!((b->mem_nodes >> m) & 1) || dist[m] == NUMA_NO_PATH)
				continue;
			j = cnt++;      /* stable insertion: equal distances stay in node order */
			while (j > 0 && dist[order[j - 1]] > dist[m]) {
				order[j] = order[j - 1];
				j--;
			}
			order[j] = m;
		}
		zl->nr = 0;
		for (unsigned k = 0; k < cnt; k++) {
			for (int zid = BUDDY_NR_ZONES - 1; zid >= 0; zid--) {
				uint8_t idx = b->zone_of[order[k]][zid];

				if (idx != BUDDY_NO_ZONE)
					zl->zone[zl->nr++] = idx;
			}
		}
	}
}

/* ---- policies ---- */

static int policy_check(const struct buddy *b, unsigned mode, nodemask_t nodes, const char *func)
{
	nodemask_t missing, memless;

	if (mode >= NUMA_NR_POLICY_MODES) {
		mm_env_report(func, "unknown policy mode");
		return -MM_EINVAL;
	}
	if (mode == NUMA_POLICY_DEFAULT) {
		if (nodes) {
			mm_env_report(func, "the default policy takes an empty nodemask");
			return -MM_EINVAL;
		}
		return 0;
	}
	if (!nodes) {
		mm_env_report(func, "empty nodemask");
		return -MM_EINVAL;
	}
	missing = nodes & ~(((nodemask_t)1 << b->nr_nodes) - 1);
	if (missing)
		return report_nodes(func, "nodemask names node ", (unsigned)__builtin_ctzll(missing),
				    NULL, 0, ", which does not exist");
	memless = nodes & ~b->mem_nodes;
	if (memless)
		return report_nodes(func, "nodemask names node ", (unsigned)__builtin_ctzll(memless),
				    NULL, 0, ", which has no memory");
	if (mode == NUMA_POLICY_PREFERRED && numa_nodemask_weight(nodes) != 1) {
		mm_env_report(func, "the preferred policy takes exactly one node");
		return -MM_EINVAL;
	}
	return 0;
}

int numa_policy_init(struct numa_policy *pol, const struct buddy *b, unsigned mode,
		     nodemask_t nodes)
{
	int ret;

	if (!pol || !b)
		return MM_INVAL("NULL policy or allocator");
	ret = policy_check(b, mode, nodes, __func__);
	if (ret)
		return ret;
	pol->mode = mode;
	pol->nodes = nodes;
	pol->il_prev = MM_MAX_NODES - 1;    /* so the first interleave pick is the lowest node */
	return 0;
}

/* Linux's interleave_nodes(): the next node of the mask after the last one used, wrapping. */
static unsigned interleave_next(struct numa_policy *pol)
{
	unsigned prev = __atomic_load_n(&pol->il_prev, __ATOMIC_RELAXED);
	nodemask_t after = prev < MM_MAX_NODES - 1 ? pol->nodes & (~(nodemask_t)0 << (prev + 1)) : 0;
	unsigned next = (unsigned)__builtin_ctzll(after ? after : pol->nodes);

	__atomic_store_n(&pol->il_prev, next, __ATOMIC_RELAXED);
	return next;
}

int numa_alloc_pages(struct buddy *b, struct numa_policy *pol, unsigned order, unsigned flags,
		     unsigned local_node, pfn_t *pfn)
{
	int ret;

	if (!b || !pfn)
		return MM_INVAL("NULL allocator or pfn pointer");
	if (order >= b->nr_orders)
		return MM_INVAL("order out of range (>= nr_orders)");
	if (flags & ~BUDDY_ALLOC_VALID)
		return MM_INVAL("unknown allocation flags");
	if (local_node >= b->nr_nodes)
		return MM_INVAL("local node out of range");
	if (!pol)
		return buddy_alloc_core_(b, local_node, NUMA_ALL_NODES, order, flags, local_node,
					 false, pfn);
	ret = policy_check(b, pol->mode, pol->nodes, __func__);
	if (ret)
		return ret;
	switch (pol->mode) {
	case NUMA_POLICY_BIND:
		return buddy_alloc_core_(b, local_node, pol->nodes, order, flags, local_node, false,
					 pfn);
	case NUMA_POLICY_PREFERRED:
		return buddy_alloc_core_(b, (unsigned)__builtin_ctzll(pol->nodes), NUMA_ALL_NODES,
					 order, flags, local_node, false, pfn);
	case NUMA_POLICY_INTERLEAVE:
		return buddy_alloc_core_(b, interleave_next(pol), NUMA_ALL_NODES, order, flags,
					 local_node, true, pfn);
	default:
		return buddy_alloc_core_(b, local_node, NUMA_ALL_NODES, order, flags, local_node,
					 false, pfn);
	}
}

/* ---- numastat ---- */

int numa_stat_read(const struct buddy *b, unsigned node, struct numa_stat *st)
{
	if (!b || !st)
		return MM_INVAL("NULL allocator or stats");
	if (node >= b->nr_nodes)
		return MM_INVAL("node out of range");
	memset(st, 0, sizeof(*st));
	for (unsigned zid = 0; zid < BUDDY_NR_ZONES; zid++) {
		const struct buddy_zone *z;

		if (b->zone_of[node][zid] == BUDDY_NO_ZONE)
			continue;
		z = &b->zones[b->zone_of[node][zid]];
		for (unsigned c = 0; c < MM_MAX_CPUS; c++) {
			const struct buddy_pcp *p = &z->pcp[c];

			st->numa_hit += buddy_ld64_(&p->numa_hit);
			st->numa_miss += buddy_ld64_(&p->numa_miss);
			st->numa_foreign += buddy_ld64_(&p->numa_foreign);
			st->interleave_hit += buddy_ld64_(&p->interleave_hit);
			st->local_node += buddy_ld64_(&p->local_node);
			st->other_node += buddy_ld64_(&p->other_node);
		}
	}
	return 0;
}
