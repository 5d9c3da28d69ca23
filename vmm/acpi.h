/*
 * acpi.h — the machine's ACPI tables, built by the VMM into the guest's ACPI area
 * (MV_GPA_ACPI, MV_ACPI_SIZE bytes; layout.h). A guest finds them from the RSDP at the start of
 * the area (hvm_start_info.rsdp_paddr, or by scanning 0xe0000-0xfffff).
 *
 *   offset 0   RSDP (revision 2) ──► XSDT ──► FADT ──► DSDT (AML: \_S5, \_SB.COM1, virtio-mmio)
 *                                       ├──► MADT (a Local APIC per vCPU, the IOAPIC, IRQ0 → GSI 2)
 *                                       ├──► SRAT (vCPU → node, node RAM ranges)
 *                                       └──► SLIT (node distances)
 *
 * Tables follow each other in that order, each 16-byte aligned; the rest of the area is zero.
 * No locks: called once on the main thread while the machine is built.
 */
#ifndef MV_ACPI_H
#define MV_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include <mm/types.h>

#include "aml.h"
#include "machine.h"

#define ACPI_MAX_TABLES       6       /* XSDT FADT DSDT MADT SRAT SLIT */
#define ACPI_MAX_VIRTIO_MMIO  32

/* OEM identity written into every table header and the RSDP. */
#define ACPI_OEM_ID           "MEMVSR"
#define ACPI_OEM_TABLE_ID     "MEMVISOR"
#define ACPI_OEM_REVISION     1
#define ACPI_CREATOR_ID       "MVSR"
#define ACPI_CREATOR_REVISION 1
#define ACPI_HYPERVISOR_ID    "memvisor"  /* FADT Hypervisor Vendor Identity: exactly 8 bytes */

/* Generic Address Structure (ACPI 6.3, 5.2.3.2) values the FADT uses. */
#define ACPI_GAS_SPACE_SYSTEM_IO  1
#define ACPI_GAS_ACCESS_BYTE      1

/*
 * The hardware-reduced sleep control register (ACPI 6.3, 4.8.3.7) at MV_PORT_ACPI_SLEEP:
 * SLP_TYP in bits 4:2 and SLP_EN in bit 5 — what Linux's acpi_hw_extended_sleep() writes. The
 * sleep status register shares the port and reads 0 (WAK_STS, bit 7, never set: nothing wakes).
 * ACPI_SLP_TYP_S5 is the value the DSDT's \_S5 package gives the OS as SLP_TYPa.
 */
#define ACPI_SLP_TYP_SHIFT        2
#define ACPI_SLP_TYP_MASK         (UINT8_C(0x7) << ACPI_SLP_TYP_SHIFT)
#define ACPI_SLP_EN               (UINT8_C(1) << 5)
#define ACPI_SLP_TYP_S5           5

struct acpi_table_loc {
	char signature[5];            /* as in the table header, NUL-terminated: XSDT FACP DSDT APIC
	                                 SRAT SLIT (the FADT's is FACP, the MADT's APIC) */
	gpa_t gpa;
	uint32_t length;
};

struct acpi_layout {
	gpa_t rsdp_gpa;
	uint32_t rsdp_length;
	unsigned nr_tables;
	struct acpi_table_loc table[ACPI_MAX_TABLES];   /* in the order they lie in the area */
	uint64_t used;                /* bytes from the start of the area holding tables */
};

/* A virtio-mmio device window and its interrupt, as the DSDT describes it. */
struct acpi_virtio_mmio {
	gpa_t base;
	uint64_t size;
	uint32_t gsi;
};

/*
 * Build every table for machine m into buf, which the guest sees at base_gpa (16-byte aligned,
 * below 4 GiB with its `size` bytes) and fill *out. The DSDT holds COM1 only.
 * Returns 0, -EINVAL if m is inconsistent (a vCPU on no node or two, a bad range, a SLIT distance
 * Linux would reject) or -ENOSPC if the tables do not fit; mv_error() names the problem.
 */
int acpi_build(const struct machine_config *m, void *buf, size_t size, uint64_t base_gpa,
	       struct acpi_layout *out);

/* The same, with virtio-mmio devices vio[0..nr_vio) in the DSDT as \_SB.VR00, VR01, ... */
int acpi_build_devices(const struct machine_config *m, const struct acpi_virtio_mmio *vio,
		       unsigned nr_vio, void *buf, size_t size, uint64_t base_gpa,
		       struct acpi_layout *out);

/*
 * Append, inside an open Scope (\_SB), Device (VRxx) { _HID "LNRO0005", _UID index, _CRS
 * Memory32Fixed (ReadWrite, base, size) + Interrupt (Edge, ActiveHigh, Exclusive) { gsi } } —
 * the description Linux's virtio_mmio driver binds to. xx is index in hex (0..255). Checks the
 * window lies in the MMIO window (layout.h) and gsi is an IOAPIC pin; errors stick in *a.
 */
void acpi_dsdt_add_virtio_mmio(struct aml *a, unsigned index, const struct acpi_virtio_mmio *dev);

#endif /* MV_ACPI_H */
