/*
 * guest/acpi.h — the ACPI tables the guest reads (ACPI 6.5 layouts) and the topology it takes
 * from them. acpi.c fills struct topo from trusted (length- and checksum-checked) tables only;
 * topo.c cross-checks it against the PVH memory map and prints the "numa:" report.
 */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <memvisor/pvh.h>

#include "kernel.h"

struct acpi_rsdp {
	char signature[8];          /* "RSD PTR " */
	uint8_t checksum;           /* bytes 0..19 sum to 0 */
	char oem_id[6];
	uint8_t revision;           /* 0: ACPI 1.0, RSDT only; >= 2: the fields below are valid */
	uint32_t rsdt_address;
	uint32_t length;            /* of this structure */
	uint64_t xsdt_address;
	uint8_t ext_checksum;       /* all `length` bytes sum to 0 */
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "ACPI 2.0+ RSDP is 36 bytes");
#define ACPI_RSDP_V1_LEN  20

struct acpi_header {
	char signature[4];
	uint32_t length;            /* of the whole table, header included */
	uint8_t revision;
	uint8_t checksum;           /* all `length` bytes sum to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "ACPI table header is 36 bytes");

/* MADT ("APIC"): the header, then variable-length entries (type, length, ...). */
struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT fixed part is 44 bytes");

struct acpi_subtable {          /* the common start of MADT and SRAT entries */
	uint8_t type;
	uint8_t length;
} __attribute__((packed));

#define ACPI_MADT_LAPIC     0
#define ACPI_MADT_IOAPIC    1
#define ACPI_MADT_X2APIC    9
#define ACPI_MADT_ENABLED   (UINT32_C(1) << 0)    /* LAPIC / x2APIC flags: usable now */

struct acpi_madt_lapic {
	uint8_t type, length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT LAPIC entry is 8 bytes");

struct acpi_madt_ioapic {
	uint8_t type, length;
	uint8_t id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT IOAPIC entry is 12 bytes");

struct acpi_madt_x2apic {
	uint8_t type, length;
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t processor_uid;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_x2apic) == 16, "MADT x2APIC entry is 16 bytes");

/* SRAT: the header, 12 reserved bytes, then entries. */
struct acpi_srat {
	struct acpi_header h;
	uint32_t table_revision;    /* 1 */
	uint64_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat) == 48, "SRAT fixed part is 48 bytes");

#define ACPI_SRAT_CPU       0   /* processor local APIC affinity */
#define ACPI_SRAT_MEM       1   /* memory affinity */
#define ACPI_SRAT_X2APIC    2   /* processor local x2APIC affinity */
#define ACPI_SRAT_ENABLED   (UINT32_C(1) << 0)    /* all three: ignore the entry when clear */

struct acpi_srat_cpu {
	uint8_t type, length;
	uint8_t domain_lo;          /* proximity domain bits 0..7 */
	uint8_t apic_id;
	uint32_t flags;
	uint8_t sapic_eid;
	uint8_t domain_hi[3];       /* proximity domain bits 8..31 */
	uint32_t clock_domain;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_cpu) == 16, "SRAT LAPIC affinity is 16 bytes");

struct acpi_srat_mem {
	uint8_t type, length;
	uint32_t domain;
	uint16_t reserved1;
	uint64_t base;
	uint64_t size;
	uint32_t reserved2;
	uint32_t flags;
	uint64_t reserved3;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_mem) == 40, "SRAT memory affinity is 40 bytes");

struct acpi_srat_x2apic {
	uint8_t type, length;
	uint16_t reserved1;
	uint32_t domain;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t clock_domain;
	uint32_t reserved2;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_x2apic) == 24, "SRAT x2APIC affinity is 24 bytes");

/* SLIT: the header, the number of localities N, then an N x N byte matrix (row = from). */
struct acpi_slit {
	struct acpi_header h;
	uint64_t localities;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_slit) == 44, "SLIT fixed part is 44 bytes");

/* FADT ("FACP"): only the DSDT pointers are read. */
#define ACPI_FADT_DSDT_OFF    40    /* uint32_t DSDT */
#define ACPI_FADT_X_DSDT_OFF  140   /* uint64_t X_DSDT (ACPI 2.0+), preferred when present */

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
};

/* The PVH memory map, copied out of low memory and sorted by address. */
#define GUEST_MAX_MEMMAP 128
struct memmap {
	unsigned n;
	struct hvm_memmap_table_entry e[GUEST_MAX_MEMMAP];
};

/* acpi.c: walk RSDP → XSDT (or RSDT) → tables, printing a TAP check per validation. */
void acpi_parse(uint64_t rsdp_pa, struct topo *t);

/* topo.c: the nodes of the report, bit n for node n: SRAT proximity domains with memory or
 * CPUs; node 0 alone without a usable SRAT. */
uint64_t topo_node_mask(const struct topo *t);

/* topo.c: cross-check t against the memory map (TAP checks), then print the "numa:" lines. */
void topo_report(const struct topo *t, const struct memmap *mm);

#endif /* GUEST_ACPI_H */
