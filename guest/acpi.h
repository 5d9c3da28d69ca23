/*
 * guest/acpi.h — the topology the guest takes from the ACPI tables (their layouts are
 * include/memvisor/acpi.h, shared with the VMM that builds them). acpi.c fills struct topo from trusted (length- and checksum-checked) tables only;
 * topo.c cross-checks it against the PVH memory map and prints the "numa:" report.
 */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <memvisor/acpi.h>
#include <memvisor/pvh.h>

#include "kernel.h"

#define TOPO_MAX_NODES   64         /* proximity domains must be below this */
#define TOPO_MAX_RANGES  128
#define TOPO_MAX_CPUS    256

struct topo_range {
	uint64_t base, size;
	uint32_t node;
};

struct topo_cpu {
	uint32_t apic_id;
	uint32_t node;
};

#define TOPO_MAX_VIRTIO  16         /* virtio-mmio devices kept from the DSDT */

/* A virtio-mmio device of the DSDT (_HID "LNRO0005"): its register window and interrupt. */
struct topo_virtio {
	uint64_t base, size;
	uint32_t gsi;
	uint32_t uid;
};

/* What the ACPI tables say. Arrays hold enabled entries only, in table order. */
struct topo {
	unsigned nr_cpus;                       /* enabled MADT LAPIC / x2APIC entries */
	uint32_t cpus[TOPO_MAX_CPUS];           /* their APIC ids */
	uint32_t lapic_address;                 /* MADT: the local APICs' MMIO base */
	bool have_madt, have_srat, have_slit;
	unsigned nr_ranges;                     /* SRAT memory affinity */
	struct topo_range ranges[TOPO_MAX_RANGES];
	unsigned nr_cpu_nodes;                  /* SRAT (x2)APIC affinity */
	struct topo_cpu cpu_nodes[TOPO_MAX_CPUS];
	unsigned slit_n;                        /* SLIT localities */
	uint8_t slit[TOPO_MAX_NODES][TOPO_MAX_NODES];
	unsigned nr_virtio;                     /* DSDT virtio-mmio devices (guest/aml.c) */
	struct topo_virtio virtio[TOPO_MAX_VIRTIO];
};

/* The PVH memory map, copied out of low memory and sorted by address. */
#define GUEST_MAX_MEMMAP 128
struct memmap {
	unsigned n;
	struct hvm_memmap_table_entry e[GUEST_MAX_MEMMAP];
};

/* topo.c: [pa, pa + len) lies in RAM entries of mm (sorted; entries that touch, such as two
 * nodes back to back, continue each other). */
bool memmap_has_ram(const struct memmap *mm, uint64_t pa, uint64_t len);

/* acpi.c: walk RSDP → XSDT (or RSDT) → tables, printing a TAP check per validation. */
void acpi_parse(uint64_t rsdp_pa, struct topo *t);

/* topo.c: the nodes of the report, bit n for node n: SRAT proximity domains with memory or
 * CPUs; node 0 alone without a usable SRAT. */
uint64_t topo_node_mask(const struct topo *t);

/* topo.c: cross-check t against the memory map (TAP checks), then print the "numa:" lines. */
void topo_report(const struct topo *t, const struct memmap *mm);

#endif /* GUEST_ACPI_H */
