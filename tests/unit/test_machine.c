/*
 * test_machine.c — --numa/--cpus parsing and the guest-physical layout of nodes (vmm/machine.c).
 * Error cases first: each checks that the message names the option and the problem.
 */
#include <errno.h>
#include <string.h>

#include <memvisor/layout.h>

#include "error.h"
#include "machine.h"
#include "mvtest.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* Parse each spec in order, then finish; return the first error. */
static int build(struct machine_config *m, unsigned cpus, const char *const *specs)
{
	int err;

	machine_init(m);
	m->nr_cpus = cpus;
	mv_error_clear();
	for (; *specs; specs++) {
		err = machine_parse_numa(m, *specs);
		if (err)
			return err;
	}
	return machine_finish(m);
}

#define BUILD(m, cpus, ...) build(m, cpus, (const char *const[]){ __VA_ARGS__, NULL })

static void check_rejects(unsigned cpus, const char *const *specs, const char *msg)
{
	struct machine_config m;

	CHECK_EQ(build(&m, cpus, specs), -EINVAL);
	CHECK_CONTAINS(mv_error(), msg);
}

#define REJECTS(msg, cpus, ...) check_rejects(cpus, (const char *const[]){ __VA_ARGS__, NULL }, msg)

TEST(rejects_bad_sizes)
{
	REJECTS("node=0: size=0 must be a non-zero multiple of 4 KiB", 1, "size=0");
	REJECTS("size=1000 must be a non-zero multiple of 4 KiB", 1, "size=1000");
	REJECTS("unknown suffix", 1, "size=64X");
	REJECTS("trailing characters", 1, "size=64MB");
	REJECTS("is not a number", 1, "size=-4M");
	REJECTS("too large", 1, "size=99999999999999999999");
	REJECTS("too large", 1, "size=20000000T");
	REJECTS("node=0: size= is required", 1, "cpus=0");
	REJECTS("at least 2 MiB", 1, "size=1M");
	REJECTS("total RAM exceeds", 1, "size=1T", "size=4K");
}

TEST(rejects_bad_keys_and_ids)
{
	REJECTS("unknown key 'sise'", 1, "sise=64M");
	REJECTS("'size' is not KEY=VALUE", 1, "size");
	REJECTS("node=16 is not a node id 0..15", 1, "node=16,size=64M");
	REJECTS("node=x is not a node id", 1, "node=x,size=64M");
	REJECTS("node 0 is given twice", 1, "node=0,size=64M", "node=0,size=64M");
	REJECTS("node 1 is missing", 1, "node=0,size=64M", "node=2,size=64M");
	REJECTS("host-node=-1 is not a host node id", 1, "size=64M,host-node=-1");
}

TEST(rejects_bad_cpus)
{
	REJECTS("cpus=0-x: '0-x' is not a vCPU id or range", 2, "size=64M,cpus=0-x");
	REJECTS("'3-1' is not a vCPU id or range", 4, "size=64M,cpus=3-1");
	REJECTS("'64' is not a vCPU id", 1, "size=64M,cpus=64");
	REJECTS("names vCPU 1 twice", 2, "size=64M,cpus=0-1:1");
	REJECTS("cpus names vCPU 2, but there are only 2 vCPUs", 2, "size=64M,cpus=0-2");
	REJECTS("vCPU 1 is on node 0 and node 1", 2, "size=64M,cpus=0-1", "size=64M,cpus=1");
	REJECTS("vCPU 1 is on no node", 2, "size=64M,cpus=0", "size=64M");
	REJECTS("cpus= is empty", 2, "size=64M,cpus=");
}

TEST(rejects_bad_distances)
{
	REJECTS("a distance between different nodes must be 11..254", 1,
		"size=64M,distances=1@9", "size=64M");
	REJECTS("must be 11..254", 1, "size=64M,distances=1@10", "size=64M");
	REJECTS("must be 11..254", 1, "size=64M,distances=1@255", "size=64M");
	REJECTS("distance to itself is always 10", 1, "size=64M,distances=0@10");
	REJECTS("'1' is not NODE@DISTANCE", 1, "size=64M,distances=1", "size=64M");
	REJECTS("node 1 given twice", 1, "size=64M,distances=1@20:1@20", "size=64M");
	REJECTS("names a node that does not exist", 1, "size=64M,distances=2@20", "size=64M");
	REJECTS("asymmetric: node 0 says 1@20, node 1 says 0@30", 1,
		"size=64M,distances=1@20", "size=64M,distances=0@30");
}

TEST(rejects_bad_cpu_count)
{
	REJECTS("--cpus 0 is not in 1..64", 0, "size=64M");
	REJECTS("--cpus 65 is not in 1..64", 65, "size=64M");
}

TEST(default_is_two_nodes_of_64mib_one_vcpu_each)
{
	struct machine_config m;

	machine_init(&m);
	CHECK_EQ(machine_finish(&m), 0);
	CHECK_EQ(m.nr_cpus, 2);
	CHECK_EQ(m.nr_nodes, 2);
	for (unsigned n = 0; n < 2; n++) {
		CHECK_EQ_U(m.nodes[n].size, 64 * MiB);
		CHECK_EQ_U(m.nodes[n].cpus, UINT64_C(1) << n);
		CHECK_EQ(m.nodes[n].host_node, -1);
		CHECK_EQ(m.nodes[n].nr_ranges, 1);
		CHECK_EQ_U(m.nodes[n].ranges[0].gpa, n * 64 * MiB);
		CHECK_EQ(m.nodes[n].distance[n], 10);
		CHECK_EQ(m.nodes[n].distance[1 - n], 20);
	}
	CHECK_EQ_U(m.ram_end, 128 * MiB);
}

TEST(vcpus_spread_in_blocks_when_no_node_names_them)
{
	struct machine_config m;

	CHECK_EQ(BUILD(&m, 5, "size=64M", "size=64M", "size=64M"), 0);
	CHECK_EQ_U(m.nodes[0].cpus, 0x3);      /* 0,1 */
	CHECK_EQ_U(m.nodes[1].cpus, 0xc);      /* 2,3 */
	CHECK_EQ_U(m.nodes[2].cpus, 0x10);     /* 4 */
	CHECK_EQ(machine_cpu_node(&m, 3), 1);
	CHECK_EQ(BUILD(&m, 1, "size=64M", "size=64M"), 0);
	CHECK_EQ_U(m.nodes[0].cpus, 0x1);
	CHECK_EQ_U(m.nodes[1].cpus, 0x0);      /* a memory-only node */
}

TEST(three_nodes_unequal_with_explicit_everything)
{
	struct machine_config m;

	CHECK_EQ(BUILD(&m, 4,
		       "node=0,size=32M,cpus=0,host-node=1,distances=1@15:2@30",
		       "node=1,size=64M,cpus=1-2",
		       "node=2,size=128M,cpus=3,distances=1@25"), 0);
	CHECK_EQ(m.nr_nodes, 3);
	CHECK_EQ(m.nodes[0].host_node, 1);
	CHECK_EQ_U(m.nodes[1].cpus, 0x6);
	/* SLIT:  10 15 30 / 15 10 25 / 30 25 10 */
	static const uint8_t want[3][3] = { { 10, 15, 30 }, { 15, 10, 25 }, { 30, 25, 10 } };
	for (unsigned i = 0; i < 3; i++)
		for (unsigned j = 0; j < 3; j++)
			CHECK_EQ(m.nodes[i].distance[j], want[i][j]);
	CHECK_EQ_U(m.nodes[1].ranges[0].gpa, 32 * MiB);
	CHECK_EQ_U(m.nodes[2].ranges[0].gpa, 96 * MiB);
	CHECK_EQ_U(m.ram_end, 224 * MiB);
}

TEST(node_ids_default_to_next_and_may_come_out_of_order)
{
	struct machine_config m;

	CHECK_EQ(BUILD(&m, 2, "node=1,size=8M", "node=0,size=16M"), 0);
	CHECK_EQ_U(m.nodes[0].ranges[0].gpa, 0);
	CHECK_EQ_U(m.nodes[1].ranges[0].gpa, 16 * MiB);
	CHECK_EQ(BUILD(&m, 2, "size=8M", "size=8M"), 0);
	CHECK_EQ(m.nr_nodes, 2);
}

/*
 * A node crossing the 3 GiB line continues at 4 GiB:
 *
 *   0            2 GiB          3 GiB    4 GiB          5 GiB      5.5 GiB
 *   |-- node 0 --|--- node 1 ---|  hole  |--- node 1 ---|- node 2 -|
 */
TEST(node_crossing_3gib_is_split_around_the_hole)
{
	struct machine_config m;

	CHECK_EQ(BUILD(&m, 1, "size=2G", "size=2G", "size=512M"), 0);
	CHECK_EQ(m.nodes[0].nr_ranges, 1);
	CHECK_EQ(m.nodes[1].nr_ranges, 2);
	CHECK_EQ_U(m.nodes[1].ranges[0].gpa, 2 * GiB);
	CHECK_EQ_U(m.nodes[1].ranges[0].size, 1 * GiB);
	CHECK_EQ_U(m.nodes[1].ranges[1].gpa, MV_GPA_HIGH_RAM_BASE);
	CHECK_EQ_U(m.nodes[1].ranges[1].size, 1 * GiB);
	CHECK_EQ(m.nodes[2].nr_ranges, 1);
	CHECK_EQ_U(m.nodes[2].ranges[0].gpa, 5 * GiB);
	CHECK_EQ_U(m.ram_end, 5 * GiB + 512 * MiB);
}

TEST(node_ending_exactly_at_3gib_leaves_the_next_at_4gib)
{
	struct machine_config m;

	CHECK_EQ(BUILD(&m, 1, "size=3G", "size=4K"), 0);
	CHECK_EQ(m.nodes[0].nr_ranges, 1);
	CHECK_EQ_U(m.nodes[1].ranges[0].gpa, MV_GPA_HIGH_RAM_BASE);
	CHECK_EQ_U(m.nodes[1].ranges[0].size, 4096);
}

TEST(sizes_take_binary_suffixes)
{
	uint64_t v;

	CHECK_EQ(machine_parse_size("4096", &v), 0);
	CHECK_EQ_U(v, 4096);
	CHECK_EQ(machine_parse_size("8k", &v), 0);
	CHECK_EQ_U(v, 8192);
	CHECK_EQ(machine_parse_size("3G", &v), 0);
	CHECK_EQ_U(v, 3 * GiB);
	CHECK_EQ(machine_parse_size("1T", &v), 0);
	CHECK_EQ_U(v, UINT64_C(1) << 40);
}
