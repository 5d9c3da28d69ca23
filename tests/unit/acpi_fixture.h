/*
 * acpi_fixture.h — machine descriptions built by hand for the ACPI tests (test_acpi.c) and the
 * table dumper the iasl check runs (acpi_dump.c). They are filled the way machine_finish() lays a
 * machine out (layout.h: nodes back to back from gpa 0 in id order, a node crossing 3 GiB
 * continues at 4 GiB), without calling it, so the ACPI code is tested on its own.
 *
 *   one     1 node of 64 MiB, 1 vCPU
 *   two     2 nodes × 64 MiB, vCPU i on node i, distance 20
 *   three   nodes of 32/64/128 MiB; 5 vCPUs: node 0 {0}, node 1 {1,2,3}, node 2 {4};
 *           distances 0-1 15, 0-2 30, 1-2 20
 *   split   nodes of 1 GiB, 2.5 GiB, 128 MiB; node 1 crosses 3 GiB:
 *
 *             0        1G               3G      4G          4.5G    4.5G+128M
 *             |node 0  |node 1 range 0  | hole  |node 1 r 1 |node 2 |
 *
 *           5 vCPUs: node 0 {0,3}, node 1 {1}, node 2 {2,4}; distances 16/32/22
 */
#ifndef ACPI_FIXTURE_H
#define ACPI_FIXTURE_H

#include <string.h>

#include <memvisor/layout.h>

#include "acpi.h"
#include "machine.h"

#define FIX_MIB (UINT64_C(1) << 20)
#define FIX_GIB (UINT64_C(1) << 30)

/* Place nodes [0, nr_nodes) back to back from 0, splitting a node at 3 GiB → 4 GiB. */
static inline void fixture_layout(struct machine_config *m)
{
	gpa_t at = 0;

	for (unsigned n = 0; n < m->nr_nodes; n++) {
		struct machine_node *node = &m->nodes[n];
		uint64_t left = node->size;

		node->nr_ranges = 0;
		if (at < MV_GPA_LOW_RAM_END && left > MV_GPA_LOW_RAM_END - at) {
			node->ranges[node->nr_ranges++] =
				(struct machine_range){ at, MV_GPA_LOW_RAM_END - at };
			left -= MV_GPA_LOW_RAM_END - at;
			at = MV_GPA_HIGH_RAM_BASE;
		}
		if (at == MV_GPA_LOW_RAM_END)
			at = MV_GPA_HIGH_RAM_BASE;
		node->ranges[node->nr_ranges++] = (struct machine_range){ at, left };
		at += left;
	}
	m->ram_end = at;
}

/* nr nodes with sizes size[], vCPU masks cpus[], distance matrix dist (row-major nr × nr). */
static inline void fixture_machine(struct machine_config *m, unsigned nr_cpus, unsigned nr,
				   const uint64_t *size, const uint64_t *cpus, const uint8_t *dist)
{
	memset(m, 0, sizeof(*m));
	m->nr_cpus = nr_cpus;
	m->nr_nodes = nr;
	m->cmdline = "";
	for (unsigned n = 0; n < nr; n++) {
		m->nodes[n].size = size[n];
		m->nodes[n].cpus = cpus[n];
		m->nodes[n].host_node = -1;
		memcpy(m->nodes[n].distance, &dist[n * nr], nr);
	}
	fixture_layout(m);
}

static inline void fixture_one(struct machine_config *m)
{
	static const uint64_t size[] = { 64 * FIX_MIB }, cpus[] = { 0x1 };
	static const uint8_t dist[] = { 10 };

	fixture_machine(m, 1, 1, size, cpus, dist);
}

static inline void fixture_two(struct machine_config *m)
{
	static const uint64_t size[] = { 64 * FIX_MIB, 64 * FIX_MIB }, cpus[] = { 0x1, 0x2 };
	static const uint8_t dist[] = { 10, 20,
					20, 10 };

	fixture_machine(m, 2, 2, size, cpus, dist);
}

static inline void fixture_three(struct machine_config *m)
{
	static const uint64_t size[] = { 32 * FIX_MIB, 64 * FIX_MIB, 128 * FIX_MIB };
	static const uint64_t cpus[] = { 0x01, 0x0e, 0x10 };
	static const uint8_t dist[] = { 10, 15, 30,
					15, 10, 20,
					30, 20, 10 };

	fixture_machine(m, 5, 3, size, cpus, dist);
}

static inline void fixture_split(struct machine_config *m)
{
	static const uint64_t size[] = { FIX_GIB, 2 * FIX_GIB + 512 * FIX_MIB, 128 * FIX_MIB };
	static const uint64_t cpus[] = { 0x09, 0x02, 0x14 };
	static const uint8_t dist[] = { 10, 16, 32,
					16, 10, 22,
					32, 22, 10 };

	fixture_machine(m, 5, 3, size, cpus, dist);
}

/* Two virtio-mmio windows and interrupts for the DSDT tests. */
#define FIX_NR_VIRTIO 2
static const struct acpi_virtio_mmio fixture_virtio[FIX_NR_VIRTIO] = {
	{ .base = MV_GPA_MMIO_BASE, .size = 0x200, .gsi = 5 },
	{ .base = MV_GPA_MMIO_BASE + 0x1000, .size = 0x200, .gsi = 6 },
};

#endif /* ACPI_FIXTURE_H */
