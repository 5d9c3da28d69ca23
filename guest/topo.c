/*
 * guest/topo.c — cross-check the ACPI topology against the PVH memory map, then print the
 * topology report the VMM's tests match line for line:
 *
 *   numa: nodes=2 cpus=2
 *   numa: node 0 cpus=0 mem=64MiB ranges=0x0-0x3ffffff distances=10,20
 *   numa: node 1 cpus=1 mem=64MiB ranges=0x4000000-0x7ffffff distances=20,10
 *
 * nodes: SRAT proximity domains with memory or CPUs; cpus (first line): enabled MADT CPUs.
 * Per node, in domain order: cpus = its SRAT APIC ids, sorted ("-" if none); mem = the sum of
 * its SRAT memory ranges in MiB, else KiB, else bytes ("B"); ranges = inclusive hex ranges sorted
 * by address ("-" if none); distances = its SLIT row, or 10 to itself and 20 to the others when
 * there is no SLIT (the default ACPI leaves to the OS, as Linux does).
 * Without an SRAT: one node 0 with every MADT CPU, all memory-map RAM, distances=10.
 */
#include "acpi.h"

#define KIB           UINT64_C(1024)
#define MIB           (KIB * 1024)
#define DIST_LOCAL    10
#define DIST_REMOTE   20

static void sort_u32(uint32_t *a, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && a[j - 1] > a[j]; j--) {
			uint32_t x = a[j];

			a[j] = a[j - 1];
			a[j - 1] = x;
		}
}

static void sort_ranges(struct topo_range *a, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && a[j - 1].base > a[j].base; j--) {
			struct topo_range x = a[j];

			a[j] = a[j - 1];
			a[j - 1] = x;
		}
}

/* Whether [base, base + size) is covered by the union of a[0..n), sorted by base. */
static bool covered(uint64_t base, uint64_t size, const struct topo_range *a, unsigned n)
{
	uint64_t at = base, end = base + size;

	for (unsigned i = 0; i < n && at < end; i++) {
		if (a[i].base > at)
			break;              /* sorted: nothing later can cover `at` */
		if (a[i].base + a[i].size > at)
			at = a[i].base + a[i].size;
	}
	return at >= end;
}

static void print_size(uint64_t bytes)
{
	if (bytes % MIB == 0)
		kprintf("%luMiB", bytes / MIB);
	else if (bytes % KIB == 0)
		kprintf("%luKiB", bytes / KIB);
	else
		kprintf("%luB", bytes);
}

/* One "numa: node" line. cpus and ranges are sorted and belong to this node. */
static void print_node(unsigned node, const uint32_t *cpus, unsigned nr_cpus,
		       const struct topo_range *r, unsigned nr_ranges, const uint8_t *dist,
		       unsigned nr_dist)
{
	uint64_t total = 0;

	kprintf("numa: node %u cpus=", node);
	for (unsigned i = 0; i < nr_cpus; i++)
		kprintf("%s%u", i ? "," : "", cpus[i]);
	kprintf("%s mem=", nr_cpus ? "" : "-");
	for (unsigned i = 0; i < nr_ranges; i++)
		total += r[i].size;
	print_size(total);
	kprintf(" ranges=");
	for (unsigned i = 0; i < nr_ranges; i++)
		kprintf("%s0x%lx-0x%lx", i ? "," : "", r[i].base, r[i].base + r[i].size - 1);
	kprintf("%s distances=", nr_ranges ? "" : "-");
	for (unsigned i = 0; i < nr_dist; i++)
		kprintf("%s%u", i ? "," : "", dist[i]);
	kprintf("%s\n", nr_dist ? "" : "-");
}

/* Scratch for the report: static, the guest's stack is small. */
static struct topo_range srat_mem[TOPO_MAX_RANGES];
static struct topo_range node_mem[TOPO_MAX_RANGES];
static struct topo_range map_all[GUEST_MAX_MEMMAP], map_ram[GUEST_MAX_MEMMAP];
static uint32_t node_cpus[TOPO_MAX_CPUS];

/* The SRAT side: checks against the MADT, the memory map and the SLIT, then one line per node. */
static void report_srat(const struct topo *t, unsigned nr_all, unsigned nr_ram)
{
	uint64_t nodes;                  /* bit n: domain n has memory or CPUs */
	unsigned nr_nodes = 0;
	bool ok;

	memcpy(srat_mem, t->ranges, t->nr_ranges * sizeof(srat_mem[0]));
	sort_ranges(srat_mem, t->nr_ranges);

	ok = true;
	for (unsigned i = 1; i < t->nr_ranges; i++)
		ok &= srat_mem[i - 1].base + srat_mem[i - 1].size <= srat_mem[i].base;
	tap_check(ok, "SRAT memory ranges do not overlap");

	/* SRAT ranges may span reserved holes (the legacy 640 KiB - 1 MiB area), not gaps. */
	ok = true;
	for (unsigned i = 0; i < t->nr_ranges; i++)
		if (!covered(srat_mem[i].base, srat_mem[i].size, map_all, nr_all)) {
			kprintf("# SRAT range 0x%lx-0x%lx is not in the memory map\n",
				srat_mem[i].base, srat_mem[i].base + srat_mem[i].size - 1);
			ok = false;
		}
	tap_check(ok, "SRAT memory ranges lie inside memory-map entries");

	ok = true;
	for (unsigned i = 0; i < nr_ram; i++)
		if (!covered(map_ram[i].base, map_ram[i].size, srat_mem, t->nr_ranges)) {
			kprintf("# RAM 0x%lx-0x%lx is not all in SRAT memory ranges\n",
				map_ram[i].base, map_ram[i].base + map_ram[i].size - 1);
			ok = false;
		}
	tap_check(ok, "memory-map RAM lies inside SRAT memory ranges");

	ok = true;
	for (unsigned i = 0; i < t->nr_cpus; i++) {
		unsigned found = 0;

		for (unsigned j = 0; j < t->nr_cpu_nodes; j++)
			found += t->cpu_nodes[j].apic_id == t->cpus[i];
		if (found != 1) {
			kprintf("# APIC id %u has %u SRAT affinity entries\n", t->cpus[i], found);
			ok = false;
		}
	}
	tap_check(ok, "SRAT gives every MADT CPU exactly one node");

	nodes = topo_node_mask(t);
	if (t->have_slit)
		tap_check(t->slit_n == TOPO_MAX_NODES || nodes >> t->slit_n == 0,
			  "SLIT has a row for every SRAT node");

	for (unsigned node = 0; node < TOPO_MAX_NODES; node++)
		nr_nodes += nodes >> node & 1;
	kprintf("numa: nodes=%u cpus=%u\n", nr_nodes, t->nr_cpus);
	for (unsigned node = 0; node < TOPO_MAX_NODES; node++) {
		uint8_t dist[TOPO_MAX_NODES];
		unsigned nc = 0, nr = 0, nd = 0;

		if (!(nodes >> node & 1))
			continue;
		for (unsigned i = 0; i < t->nr_cpu_nodes; i++)
			if (t->cpu_nodes[i].node == node)
				node_cpus[nc++] = t->cpu_nodes[i].apic_id;
		sort_u32(node_cpus, nc);
		for (unsigned i = 0; i < t->nr_ranges; i++)
			if (srat_mem[i].node == node)
				node_mem[nr++] = srat_mem[i];
		if (t->have_slit && node < t->slit_n) {
			nd = t->slit_n;
			memcpy(dist, t->slit[node], nd);
		} else if (!t->have_slit) {
			nd = 64 - (unsigned)__builtin_clzll(nodes);     /* highest node + 1 */
			for (unsigned j = 0; j < nd; j++)
				dist[j] = j == node ? DIST_LOCAL : DIST_REMOTE;
		}
		print_node(node, node_cpus, nc, node_mem, nr, dist, nd);
	}
}

uint64_t topo_node_mask(const struct topo *t)
{
	uint64_t nodes = 0;

	if (!t->have_srat)
		return 1;
	for (unsigned i = 0; i < t->nr_ranges; i++)
		nodes |= UINT64_C(1) << t->ranges[i].node;
	for (unsigned i = 0; i < t->nr_cpu_nodes; i++)
		nodes |= UINT64_C(1) << t->cpu_nodes[i].node;
	return nodes;
}

bool memmap_has_ram(const struct memmap *mm, uint64_t pa, uint64_t len)
{
	uint64_t end = pa + len;

	if (end < pa)
		return false;
	for (unsigned i = 0; i < mm->n && pa < end; i++) {
		const struct hvm_memmap_table_entry *m = &mm->e[i];

		if (m->type == E820_TYPE_RAM && m->addr <= pa && pa - m->addr < m->size)
			pa = m->addr + m->size;     /* covered up to here: the next must go on */
	}
	return pa >= end;
}

void topo_report(const struct topo *t, const struct memmap *mm)
{
	unsigned nr_all = 0, nr_ram = 0;

	for (unsigned i = 0; i < mm->n; i++) {
		struct topo_range r = { mm->e[i].addr, mm->e[i].size, 0 };

		map_all[nr_all++] = r;
		if (mm->e[i].type == E820_TYPE_RAM)
			map_ram[nr_ram++] = r;
	}
	if (t->have_srat) {
		report_srat(t, nr_all, nr_ram);
		return;
	}
	kprintf("# no usable SRAT: one node with all RAM and every CPU\n");
	memcpy(node_cpus, t->cpus, t->nr_cpus * sizeof(node_cpus[0]));
	sort_u32(node_cpus, t->nr_cpus);
	kprintf("numa: nodes=1 cpus=%u\n", t->nr_cpus);
	print_node(0, node_cpus, t->nr_cpus, map_ram, nr_ram, (const uint8_t[]){ DIST_LOCAL }, 1);
}
