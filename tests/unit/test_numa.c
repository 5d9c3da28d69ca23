/*
 * Unit tests for mm/numa.h: SLIT validation, zonelist order, memory policies and numastat.
 *
 * Most tests use three nodes at unequal distances, 256 frames each (node 0 also has 256 frames
 * below 4 GiB), no watermarks and no per-CPU lists so placement is exact:
 *
 *          to: 0    1    2           node 0's zonelist: N0 D0 N2 N1
 *   from 0    10   30   20           node 1's zonelist: N1 N2 N0 D0
 *   from 1    30   10   15           node 2's zonelist: N2 N1 N0 D0
 *   from 2    20   15   10           (N = NORMAL, D = DMA32 zone of that node)
 */
#include "buddy_util.h"

#define G4 BUDDY_DMA32_END_PFN

static const struct buddy_range three_ranges[] = {
	BT_R(0x100, 256, 0), BT_R(G4, 256, 0), BT_R(G4 + 0x1000, 256, 1), BT_R(G4 + 0x2000, 256, 2),
};

static void three_distances(struct numa_distance *d)
{
	static const uint8_t m[3][3] = { { 10, 30, 20 }, { 30, 10, 15 }, { 20, 15, 10 } };

	CHECK_EQ(numa_distance_init_default(d, 3), 0);
	for (unsigned i = 0; i < 3; i++)
		for (unsigned j = 0; j < 3; j++)
			d->d[i][j] = m[i][j];
}

static void *three_nodes(struct buddy *b, struct numa_distance *d)
{
	struct buddy_config cfg = {
		.ranges = three_ranges, .nr_ranges = MM_ARRAY_SIZE(three_ranges), .distance = d,
		.flags = BUDDY_CFG_NO_PCP | BUDDY_CFG_NO_WATERMARKS,
	};

	return bt_init_cfg(b, &cfg);
}

static struct numa_stat stat_of(const struct buddy *b, unsigned node)
{
	struct numa_stat st;

	CHECK_EQ(numa_stat_read(b, node, &st), 0);
	return st;
}

static pfn_t policy_alloc(struct buddy *b, struct numa_policy *pol, unsigned order,
			  unsigned local)
{
	pfn_t pfn = UINT64_MAX;

	CHECK_EQ(numa_alloc_pages(b, pol, order, 0, local, &pfn), 0);
	return pfn;
}

/* ---- bad arguments ---- */

TEST(distance_validate_rejects_bad_tables)
{
	struct numa_distance d;

	CHECK_EQ(numa_distance_validate(NULL, false), -MM_EINVAL);
	CHECK_REPORTED("distance table is NULL");
	CHECK_EQ(numa_distance_init_default(&d, 0), -MM_EINVAL);
	CHECK_REPORTED("nr_nodes must be 1..MM_MAX_NODES");
	CHECK_EQ(numa_distance_init_default(&d, MM_MAX_NODES + 1), -MM_EINVAL);
	CHECK_REPORTED("nr_nodes must be 1..MM_MAX_NODES");
	three_distances(&d);
	CHECK_EQ(numa_distance_validate(&d, true), 0);
	d.d[2][2] = 20;
	CHECK_EQ(numa_distance_validate(&d, false), -MM_EINVAL);
	CHECK_REPORTED("local distance of node 2 is not 10");
	d.d[2][2] = 10;
	d.d[0][1] = 10;
	CHECK_EQ(numa_distance_validate(&d, false), -MM_EINVAL);
	CHECK_REPORTED("distance from node 0 to node 1 is not above the local distance 10");
	d.d[0][1] = 5;
	CHECK_EQ(numa_distance_validate(&d, false), -MM_EINVAL);
	CHECK_REPORTED("distance from node 0 to node 1");
	d.d[0][1] = 30;
	d.nr_nodes = 0;
	CHECK_EQ(numa_distance_validate(&d, false), -MM_EINVAL);
	CHECK_REPORTED("nr_nodes must be 1..MM_MAX_NODES");
}

TEST(distance_asymmetry_is_allowed_unless_symmetry_is_required)
{
	struct numa_distance d;

	three_distances(&d);
	d.d[1][2] = 17;                 /* SLIT permits 1->2 != 2->1 */
	CHECK_EQ(numa_distance_validate(&d, false), 0);
	CHECK_EQ(numa_distance_validate(&d, true), -MM_EINVAL);
	CHECK_REPORTED("distance table is not symmetric: node 1 vs node 2");
	d.d[0][2] = d.d[2][0] = NUMA_NO_PATH;   /* unreachable is a valid distance */
	d.d[1][2] = 15;
	CHECK_EQ(numa_distance_validate(&d, true), 0);
}

TEST(policy_init_rejects_bad_nodemasks)
{
	/* node 1 exists (it is in the distance table) but has no memory */
	struct buddy_range r[2] = { BT_R(0, 64, 0), BT_R(0x1000, 64, 2) };
	struct numa_distance d;
	struct buddy_config cfg = { .ranges = r, .nr_ranges = 2, .distance = &d };
	struct numa_policy pol;
	struct buddy b;
	void *meta;

	three_distances(&d);
	meta = bt_init_cfg(&b, &cfg);
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_BIND, 0), -MM_EINVAL);
	CHECK_REPORTED("empty nodemask");
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_INTERLEAVE, 0), -MM_EINVAL);
	CHECK_REPORTED("empty nodemask");
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_BIND, 0x9), -MM_EINVAL);
	CHECK_REPORTED("nodemask names node 3, which does not exist");
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_INTERLEAVE, 0x7), -MM_EINVAL);
	CHECK_REPORTED("nodemask names node 1, which has no memory");
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_PREFERRED, 0x5), -MM_EINVAL);
	CHECK_REPORTED("the preferred policy takes exactly one node");
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_DEFAULT, 0x1), -MM_EINVAL);
	CHECK_REPORTED("the default policy takes an empty nodemask");
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_NR_POLICY_MODES, 0x1), -MM_EINVAL);
	CHECK_REPORTED("unknown policy mode");
	CHECK_EQ(numa_policy_init(NULL, &b, NUMA_POLICY_BIND, 0x1), -MM_EINVAL);
	CHECK_REPORTED("NULL policy or allocator");
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_INTERLEAVE, 0x5), 0);
	free(meta);
}

TEST(numa_alloc_rejects_bad_arguments)
{
	struct numa_distance d;
	struct buddy b;
	void *meta;
	struct numa_policy pol;
	struct numa_stat st;
	pfn_t pfn;

	three_distances(&d);
	meta = three_nodes(&b, &d);
	CHECK_EQ(numa_alloc_pages(&b, NULL, 0, 0, 3, &pfn), -MM_EINVAL);
	CHECK_REPORTED("local node out of range");
	CHECK_EQ(numa_alloc_pages(&b, NULL, BUDDY_DEFAULT_ORDERS, 0, 0, &pfn), -MM_EINVAL);
	CHECK_REPORTED("order out of range");
	CHECK_EQ(numa_alloc_pages(&b, NULL, 0, 1u << 12, 0, &pfn), -MM_EINVAL);
	CHECK_REPORTED("unknown allocation flags");
	CHECK_EQ(numa_alloc_pages(&b, NULL, 0, 0, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL allocator or pfn pointer");
	/* a policy whose mask is wrong for this instance is rejected at use too */
	pol = (struct numa_policy){ .mode = NUMA_POLICY_BIND, .nodes = 0x10 };
	CHECK_EQ(numa_alloc_pages(&b, &pol, 0, 0, 0, &pfn), -MM_EINVAL);
	CHECK_REPORTED("nodemask names node 4, which does not exist");
	CHECK_EQ(numa_stat_read(&b, 3, &st), -MM_EINVAL);
	CHECK_REPORTED("node out of range");
	CHECK_EQ(bt_free_pages(&b), 1024);
	free(meta);
}

/* ---- zonelists ---- */

TEST(zonelists_order_nodes_by_distance_normal_before_dma32)
{
	struct numa_distance d;
	struct buddy b;
	void *meta;
	unsigned n0, d0, n1, n2;

	three_distances(&d);
	meta = three_nodes(&b, &d);
	n0 = b.zone_of[0][BUDDY_ZONE_NORMAL];
	d0 = b.zone_of[0][BUDDY_ZONE_DMA32];
	n1 = b.zone_of[1][BUDDY_ZONE_NORMAL];
	n2 = b.zone_of[2][BUDDY_ZONE_NORMAL];
	CHECK_EQ(b.zonelists[0].nr, 4);
	CHECK_EQ(b.zonelists[0].zone[0], n0);
	CHECK_EQ(b.zonelists[0].zone[1], d0);
	CHECK_EQ(b.zonelists[0].zone[2], n2);
	CHECK_EQ(b.zonelists[0].zone[3], n1);
	CHECK_EQ(b.zonelists[1].zone[0], n1);
	CHECK_EQ(b.zonelists[1].zone[1], n2);
	CHECK_EQ(b.zonelists[1].zone[2], n0);
	CHECK_EQ(b.zonelists[1].zone[3], d0);
	CHECK_EQ(b.zonelists[2].zone[0], n2);
	CHECK_EQ(b.zonelists[2].zone[1], n1);
	CHECK_EQ(b.zonelists[2].zone[2], n0);
	CHECK_EQ(b.zonelists[2].zone[3], d0);
	free(meta);
}

TEST(allocation_falls_back_along_the_zonelist)
{
	/* 256-frame blocks from node 0: N0, then D0, then node 2 (20), then node 1 (30), then none */
	struct numa_distance d;
	struct buddy b;
	void *meta;
	pfn_t p;

	three_distances(&d);
	meta = three_nodes(&b, &d);
	CHECK_EQ_U(bt_alloc(&b, 0, 8, 0), G4);
	CHECK_EQ_U(bt_alloc(&b, 0, 8, 0), 0x100);
	CHECK_EQ_U(bt_alloc(&b, 0, 8, 0), G4 + 0x2000);
	CHECK_EQ_U(bt_alloc(&b, 0, 8, 0), G4 + 0x1000);
	CHECK_EQ(buddy_alloc(&b, 0, 8, 0, &p), -MM_ENOMEM);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(thisnode_allocation_never_falls_back)
{
	struct numa_distance d;
	struct buddy b;
	void *meta;
	pfn_t p;

	three_distances(&d);
	meta = three_nodes(&b, &d);
	CHECK_EQ_U(bt_alloc(&b, 1, 8, BUDDY_ALLOC_THISNODE), G4 + 0x1000);
	CHECK_EQ(buddy_alloc(&b, 1, 0, BUDDY_ALLOC_THISNODE, &p), -MM_ENOMEM);
	CHECK_EQ(bt_node_of(&b, bt_alloc(&b, 1, 0, 0)), 2);
	free(meta);
}

TEST(unreachable_nodes_are_left_out_of_zonelists)
{
	struct numa_distance d;
	struct buddy b;
	void *meta;
	pfn_t p;

	three_distances(&d);
	d.d[0][1] = NUMA_NO_PATH;
	meta = three_nodes(&b, &d);
	CHECK_EQ(b.zonelists[0].nr, 3);
	CHECK_EQ(bt_node_of(&b, bt_alloc(&b, 0, 8, 0)), 0);
	CHECK_EQ(bt_node_of(&b, bt_alloc(&b, 0, 8, 0)), 0);
	CHECK_EQ(bt_node_of(&b, bt_alloc(&b, 0, 8, 0)), 2);
	CHECK_EQ(buddy_alloc(&b, 0, 0, 0, &p), -MM_ENOMEM);  /* node 1 is free but unreachable */
	CHECK_EQ(bt_node_of(&b, bt_alloc(&b, 1, 0, 0)), 1);
	free(meta);
}

/* ---- policies ---- */

TEST(default_policy_allocates_on_the_local_node)
{
	struct numa_distance d;
	struct numa_policy pol;
	struct buddy b;
	void *meta;

	three_distances(&d);
	meta = three_nodes(&b, &d);
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_DEFAULT, 0), 0);
	for (unsigned local = 0; local < 3; local++) {
		CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &pol, 0, local)), local);
		CHECK_EQ(bt_node_of(&b, policy_alloc(&b, NULL, 0, local)), local);
	}
	free(meta);
}

TEST(bind_policy_stays_inside_its_nodes_nearest_first)
{
	/* bind {1, 2} on a CPU of node 0: node 2 (20) before node 1 (30), never node 0 */
	struct numa_distance d;
	struct numa_policy pol;
	struct buddy b;
	void *meta;
	pfn_t p;

	three_distances(&d);
	meta = three_nodes(&b, &d);
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_BIND, 0x6), 0);
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &pol, 8, 0)), 2);
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &pol, 8, 0)), 1);
	CHECK_EQ(numa_alloc_pages(&b, &pol, 0, 0, 0, &p), -MM_ENOMEM);
	CHECK_EQ(bt_free_pages(&b), 512);                 /* node 0 untouched */
	free(meta);
}

TEST(preferred_policy_falls_back_by_distance_from_the_preferred_node)
{
	/* preferred {1} on a CPU of node 0: node 1, then node 2 (15 from 1), then node 0 */
	struct numa_distance d;
	struct numa_policy pol;
	struct buddy b;
	void *meta;

	three_distances(&d);
	meta = three_nodes(&b, &d);
	CHECK_EQ(numa_policy_init(&pol, &b, NUMA_POLICY_PREFERRED, 0x2), 0);
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &pol, 8, 0)), 1);
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &pol, 8, 0)), 2);
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &pol, 8, 0)), 0);
	free(meta);
}

TEST(interleave_spreads_evenly_in_node_order)
{
	struct numa_distance d;
	struct numa_policy all, two;
	struct buddy b;
	void *meta;
	unsigned count[3] = { 0, 0, 0 };

	three_distances(&d);
	meta = three_nodes(&b, &d);
	CHECK_EQ(numa_policy_init(&all, &b, NUMA_POLICY_INTERLEAVE, 0x7), 0);
	CHECK_EQ(numa_policy_init(&two, &b, NUMA_POLICY_INTERLEAVE, 0x5), 0);
	for (unsigned i = 0; i < 240; i++) {
		unsigned node = bt_node_of(&b, policy_alloc(&b, &all, 0, 1));

		CHECK_EQ(node, i % 3);
		count[node]++;
	}
	CHECK_EQ(count[0], 80);
	CHECK_EQ(count[1], 80);
	CHECK_EQ(count[2], 80);
	for (unsigned i = 0; i < 10; i++)
		CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &two, 0, 1)), i % 2 ? 2 : 0);
	CHECK_EQ(stat_of(&b, 0).interleave_hit, 85);
	CHECK_EQ(stat_of(&b, 1).interleave_hit, 80);
	CHECK_EQ(stat_of(&b, 2).interleave_hit, 85);
	free(meta);
}

/* ---- numastat ---- */

static void check_stat(const struct numa_stat *s, uint64_t hit, uint64_t miss, uint64_t foreign,
		       uint64_t il, uint64_t local, uint64_t other)
{
	CHECK_EQ(s->numa_hit, hit);
	CHECK_EQ(s->numa_miss, miss);
	CHECK_EQ(s->numa_foreign, foreign);
	CHECK_EQ(s->interleave_hit, il);
	CHECK_EQ(s->local_node, local);
	CHECK_EQ(s->other_node, other);
}

TEST(numastat_counters_follow_linux_semantics_and_add_up)
{
	struct numa_distance d;
	struct numa_policy pref1, bind2, il12;
	struct numa_stat s[3];
	struct buddy b;
	void *meta;
	uint64_t hit = 0, miss = 0, foreign = 0, local = 0, other = 0;

	three_distances(&d);
	meta = three_nodes(&b, &d);
	CHECK_EQ(numa_policy_init(&pref1, &b, NUMA_POLICY_PREFERRED, 0x2), 0);
	CHECK_EQ(numa_policy_init(&bind2, &b, NUMA_POLICY_BIND, 0x4), 0);
	CHECK_EQ(numa_policy_init(&il12, &b, NUMA_POLICY_INTERLEAVE, 0x6), 0);
	for (unsigned i = 0; i < 3; i++)        /* CPU on 0, default: hit + local on 0 */
		policy_alloc(&b, NULL, 0, 0);
	for (unsigned i = 0; i < 2; i++)        /* CPU on 0, preferred 1: hit + other on 1 */
		policy_alloc(&b, &pref1, 0, 0);
	policy_alloc(&b, &bind2, 0, 0);         /* CPU on 0, bind {2}: hit + other on 2 */
	for (unsigned i = 0; i < 254; i++)      /* CPU on 1 fills node 1: hit + local on 1 */
		bt_alloc(&b, 1, 0, BUDDY_ALLOC_THISNODE);
	/* CPU on 0, preferred 1 but full: served by 2 -> miss + other on 2, foreign on 1 */
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &pref1, 0, 0)), 2);
	/* CPU on 2, interleave {1,2}: 1 is full -> miss on 2, foreign on 1, no interleave hit */
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &il12, 0, 2)), 2);
	/* ... next pick is node 2 itself: hit + interleave hit + local on 2 */
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, &il12, 0, 2)), 2);
	for (unsigned n = 0; n < 3; n++)
		s[n] = stat_of(&b, n);
	check_stat(&s[0], 3, 0, 0, 0, 3, 0);
	check_stat(&s[1], 256, 0, 2, 0, 254, 2);
	check_stat(&s[2], 2, 2, 0, 1, 2, 2);
	for (unsigned n = 0; n < 3; n++) {
		hit += s[n].numa_hit;
		miss += s[n].numa_miss;
		foreign += s[n].numa_foreign;
		local += s[n].local_node;
		other += s[n].other_node;
	}
	CHECK_EQ(hit + miss, 263);
	CHECK_EQ(local + other, 263);
	CHECK_EQ(miss, foreign);
	CHECK_EQ(bt_free_pages(&b), 1024 - 263);
	free(meta);
}

TEST(memoryless_local_node_counts_against_the_nearest_node_with_memory)
{
	/* node 1 has CPUs but no memory: its nearest node with memory, 2, is "preferred" */
	struct buddy_range r[2] = { BT_R(0x100, 256, 0), BT_R(G4 + 0x2000, 256, 2) };
	struct numa_distance d;
	struct buddy_config cfg = {
		.ranges = r, .nr_ranges = 2, .distance = &d,
		.flags = BUDDY_CFG_NO_PCP | BUDDY_CFG_NO_WATERMARKS,
	};
	struct buddy b;
	void *meta;

	three_distances(&d);
	meta = bt_init_cfg(&b, &cfg);
	CHECK_EQ(b.nr_nodes, 3);
	CHECK_EQ(b.mem_nodes, 0x5);
	CHECK_EQ(bt_node_of(&b, policy_alloc(&b, NULL, 0, 1)), 2);
	{
		struct numa_stat s1 = stat_of(&b, 1), s2 = stat_of(&b, 2);

		check_stat(&s1, 0, 0, 0, 0, 0, 0);
		check_stat(&s2, 1, 0, 0, 0, 0, 1);
	}
	free(meta);
}
