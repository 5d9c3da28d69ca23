/*
 * machine.h — the description of a memvisor machine: vCPUs, NUMA nodes (size, vCPUs, host node,
 * distances), where each node's RAM lies in guest-physical space, the command line and serial
 * output. Built from the command line by machine_parse_numa()/machine_finish(), then read by
 * everything that builds the machine (memory slots, ACPI SRAT/SLIT/MADT, the PVH memory map,
 * CPUID). Plain data, no locks: built once on the main thread before any vCPU starts.
 *
 * Topology contract: vCPU i has APIC id i; every vCPU belongs to exactly one node; node n's RAM
 * is ranges[0..nr_ranges) (layout.h: back to back from gpa 0 in id order, split at 3 GiB → 4 GiB).
 */
#ifndef MV_MACHINE_H
#define MV_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include <mm/types.h>

#define MACHINE_MAX_VCPUS   64              /* APIC ids < 255 keep xAPIC mode; 64 fits a mask */
#define MACHINE_MAX_NODES   MM_MAX_NODES
#define MACHINE_DEFAULT_CPUS       2
#define MACHINE_DEFAULT_NODES      2
#define MACHINE_DEFAULT_NODE_SIZE  (UINT64_C(64) << 20)
#define MACHINE_LOCAL_DISTANCE     10       /* ACPI SLIT: a node to itself */
#define MACHINE_REMOTE_DISTANCE    20       /* default between two different nodes */

struct machine_range {
	gpa_t gpa;
	uint64_t size;
};

/* What the host does when a node's frame pool is empty (gmem.h). */
enum machine_mem_policy {
	MACHINE_POLICY_STRICT,              /* only the node's own pool; evict to swap when full */
	MACHINE_POLICY_PREFERRED,           /* own pool, then other pools by distance, then evict */
};

struct machine_node {
	uint64_t size;                      /* bytes of RAM, page-aligned, > 0 */
	uint64_t budget;                    /* host memory for its frame pool (0 until machine_finish:
					       then size, or the budget= given, page-aligned, <= size) */
	enum machine_mem_policy policy;
	uint64_t cpus;                      /* bit i: vCPU i is on this node */
	int host_node;                      /* host NUMA node to bind to, -1: none */
	uint8_t distance[MACHINE_MAX_NODES];/* SLIT row: [self] = 10, others in 10..254 */
	unsigned nr_ranges;                 /* 1 or 2 (machine_finish) */
	struct machine_range ranges[2];
	/* parse bookkeeping */
	bool given;                         /* named by a --numa option */
	bool cpus_given;
	uint32_t dist_given;                /* bit j: distance[j] was given explicitly */
};

struct machine_config {
	unsigned nr_cpus;                   /* 1..MACHINE_MAX_VCPUS */
	unsigned nr_nodes;                  /* 1..MACHINE_MAX_NODES */
	struct machine_node nodes[MACHINE_MAX_NODES];
	const char *cmdline;                /* guest command line ("" if none) */
	const char *serial_path;            /* NULL: stdout */
	gpa_t ram_end;                      /* one past the highest RAM byte (machine_finish) */
};

/* Defaults before any option: 2 vCPUs, no nodes given yet (machine_finish adds 2 × 64 MiB). */
void machine_init(struct machine_config *m);

/*
 * Apply one --numa option value, e.g. "node=1,size=64M,cpus=1,host-node=0,distances=0@20".
 * Returns 0 or -EINVAL with mv_error() naming the key and what is wrong with it.
 */
int machine_parse_numa(struct machine_config *m, const char *spec);

/*
 * Check everything that needs the whole picture (every vCPU on exactly one node, node ids
 * contiguous, distances symmetric, node 0 large enough, RAM fits), fill defaults (2 nodes of
 * 64 MiB, vCPUs spread in blocks, distances 10/20), and lay the nodes out in guest-physical
 * space. Returns 0 or -EINVAL with mv_error() set.
 */
int machine_finish(struct machine_config *m);

/* Node of vCPU cpu (machine_finish guarantees there is exactly one). */
unsigned machine_cpu_node(const struct machine_config *m, unsigned cpu);

/* Parse "64M"-style sizes: decimal with optional K/M/G/T suffix (binary). 0 or -EINVAL. */
int machine_parse_size(const char *s, uint64_t *out);

#endif /* MV_MACHINE_H */
