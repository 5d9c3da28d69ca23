/*
 * memvisor/acpi.h — the binary layouts of the ACPI tables memvisor builds (vmm/acpi.c) and its
 * guest reads (guest/acpi.c), ACPI 6.3 chapter 5, written down here because no uapi header
 * carries them. One definition for both sides: a layout mistake shows in the QEMU-booted guest
 * tests (QEMU builds the tables there), not only in a round trip through our own code. Field names
 * follow the specification's (lowercased); every multi-byte field is little-endian in memory
 * (the VMM writes with htole*(); the x86 guest reads natively), every struct is packed and its
 * size is checked against the specification's table length.
 *
 * Plain declarations: no state, no locks. Freestanding: <stdint.h> only.
 */
#ifndef MEMVISOR_ACPI_H
#define MEMVISOR_ACPI_H

#include <stdint.h>

#define ACPI_PACKED __attribute__((packed))

/* ---- 5.2.5.3 Root System Description Pointer (RSDP), revision 2 ---- */
#define ACPI_RSDP_SIGNATURE        "RSD PTR "
#define ACPI_RSDP_REVISION         2
#define ACPI_RSDP_V1_LENGTH        20      /* bytes covered by checksum */
#define ACPI_RSDP_ALIGN            16      /* where an OS scanning memory looks for it */

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;                  /* bytes 0..19 sum to 0 */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;                   /* of this structure: 36 */
	uint64_t xsdt_address;
	uint8_t extended_checksum;         /* all 36 bytes sum to 0 */
	uint8_t reserved[3];
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP is 36 bytes");

/* ---- 5.2.6 System Description Table Header ---- */
struct acpi_table_header {
	char signature[4];
	uint32_t length;                   /* of the whole table, header included */
	uint8_t revision;
	uint8_t checksum;                  /* all `length` bytes sum to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_table_header) == 36, "table header is 36 bytes");

/* ---- 5.2.3.2 Generic Address Structure ---- */
struct acpi_gas {
	uint8_t address_space_id;
	uint8_t register_bit_width;
	uint8_t register_bit_offset;
	uint8_t access_size;
	uint64_t address;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS is 12 bytes");

/* ---- 5.2.8 Extended System Description Table (XSDT): header + 64-bit table addresses ---- */
#define ACPI_XSDT_REVISION         1

struct acpi_xsdt {
	struct acpi_table_header header;
	uint64_t entry[];
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_xsdt) == 36, "XSDT is a header + entries");

/* ---- 5.2.9 Fixed ACPI Description Table (FADT), revision 6 (ACPI 6.x) ---- */
#define ACPI_FADT_REVISION         6
#define ACPI_FADT_MINOR_VERSION    3       /* ACPI 6.3 */

/* Preferred_PM_Profile */
#define ACPI_PM_PROFILE_UNSPECIFIED 0

/* IAPC_BOOT_ARCH (Table 5-35) */
#define ACPI_IAPC_LEGACY_DEVICES        (UINT16_C(1) << 0)
#define ACPI_IAPC_8042                  (UINT16_C(1) << 1)
#define ACPI_IAPC_VGA_NOT_PRESENT       (UINT16_C(1) << 2)
#define ACPI_IAPC_MSI_NOT_SUPPORTED     (UINT16_C(1) << 3)
#define ACPI_IAPC_PCIE_ASPM_CONTROLS    (UINT16_C(1) << 4)
#define ACPI_IAPC_CMOS_RTC_NOT_PRESENT  (UINT16_C(1) << 5)

/* Flags (Table 5-34) */
#define ACPI_FADT_WBINVD                (UINT32_C(1) << 0)
#define ACPI_FADT_PWR_BUTTON            (UINT32_C(1) << 4)
#define ACPI_FADT_SLP_BUTTON            (UINT32_C(1) << 5)
#define ACPI_FADT_HEADLESS              (UINT32_C(1) << 12)
#define ACPI_FADT_HW_REDUCED_ACPI       (UINT32_C(1) << 20)

struct acpi_fadt {
	struct acpi_table_header header;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;                 /* INT_MODEL in ACPI 1.0 */
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t fadt_minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_identity;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");

/* ---- 5.2.11.1 Differentiated System Description Table (DSDT): header + AML ---- */
#define ACPI_DSDT_REVISION         2       /* 2: AML integers are 64 bits */

/* ---- 5.2.12 Multiple APIC Description Table (MADT) ---- */
#define ACPI_MADT_REVISION         5       /* ACPI 6.3 */
#define ACPI_MADT_PCAT_COMPAT      (UINT32_C(1) << 0)   /* dual 8259 PICs present */

/* Interrupt controller structure types (Table 5-45) */
#define ACPI_MADT_TYPE_LOCAL_APIC       0
#define ACPI_MADT_TYPE_IO_APIC          1
#define ACPI_MADT_TYPE_INT_SRC_OVERRIDE 2
#define ACPI_MADT_TYPE_LOCAL_X2APIC     9

struct acpi_madt {
	struct acpi_table_header header;
	uint32_t local_interrupt_controller_address;
	uint32_t flags;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT fixed part is 44 bytes");

/* Every MADT and SRAT entry starts with its type and length. */
struct acpi_subtable_header {
	uint8_t type;
	uint8_t length;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_subtable_header) == 2, "subtable header is 2 bytes");

#define ACPI_MADT_LAPIC_ENABLED         (UINT32_C(1) << 0)

struct acpi_madt_local_apic {
	struct acpi_subtable_header header;
	uint8_t acpi_processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_madt_local_apic) == 8, "Processor Local APIC is 8 bytes");

struct acpi_madt_io_apic {
	struct acpi_subtable_header header;
	uint8_t io_apic_id;
	uint8_t reserved;
	uint32_t io_apic_address;
	uint32_t global_system_interrupt_base;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_madt_io_apic) == 12, "I/O APIC is 12 bytes");

/* 5.2.12.12 Processor Local x2APIC (flags as the local APIC's) */
struct acpi_madt_local_x2apic {
	struct acpi_subtable_header header;
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t acpi_processor_uid;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_madt_local_x2apic) == 16, "Processor Local x2APIC is 16 bytes");

/* MPS INTI flags: 0 = conforms to the bus's polarity and trigger mode (ISA: high, edge). */
#define ACPI_MPS_INTI_CONFORMS          UINT16_C(0)
#define ACPI_MADT_BUS_ISA               0

struct acpi_madt_interrupt_source_override {
	struct acpi_subtable_header header;
	uint8_t bus;
	uint8_t source;
	uint32_t global_system_interrupt;
	uint16_t flags;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_madt_interrupt_source_override) == 10,
	       "Interrupt Source Override is 10 bytes");

/* ---- 5.2.16 System Resource Affinity Table (SRAT), revision 3 ---- */
#define ACPI_SRAT_REVISION         3
#define ACPI_SRAT_TYPE_CPU_AFFINITY     0
#define ACPI_SRAT_TYPE_MEMORY_AFFINITY  1
#define ACPI_SRAT_TYPE_X2APIC_AFFINITY  2

struct acpi_srat {
	struct acpi_table_header header;
	uint32_t reserved1;                /* must be 1 for backward compatibility */
	uint64_t reserved2;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_srat) == 48, "SRAT fixed part is 48 bytes");

#define ACPI_SRAT_CPU_ENABLED           (UINT32_C(1) << 0)

struct acpi_srat_cpu_affinity {
	struct acpi_subtable_header header;
	uint8_t proximity_domain_lo;       /* bits 7:0 of the domain */
	uint8_t apic_id;
	uint32_t flags;
	uint8_t local_sapic_eid;
	uint8_t proximity_domain_hi[3];    /* bits 31:8 of the domain */
	uint32_t clock_domain;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_srat_cpu_affinity) == 16,
	       "Processor Local APIC/SAPIC Affinity is 16 bytes");

#define ACPI_SRAT_MEM_ENABLED           (UINT32_C(1) << 0)

struct acpi_srat_mem_affinity {
	struct acpi_subtable_header header;
	uint32_t proximity_domain;
	uint16_t reserved1;
	uint32_t base_address_low;
	uint32_t base_address_high;
	uint32_t length_low;
	uint32_t length_high;
	uint32_t reserved2;
	uint32_t flags;
	uint64_t reserved3;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_srat_mem_affinity) == 40, "Memory Affinity is 40 bytes");

#define ACPI_SRAT_X2APIC_ENABLED        (UINT32_C(1) << 0)

struct acpi_srat_x2apic_affinity {
	struct acpi_subtable_header header;
	uint16_t reserved1;
	uint32_t proximity_domain;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t clock_domain;
	uint32_t reserved2;
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_srat_x2apic_affinity) == 24,
	       "Processor Local x2APIC Affinity is 24 bytes");

/* ---- 5.2.17 System Locality Information Table (SLIT): header + count + count² bytes ---- */
#define ACPI_SLIT_REVISION         1

struct acpi_slit {
	struct acpi_table_header header;
	uint64_t number_of_system_localities;
	uint8_t entry[];                   /* entry[i * n + j]: distance from locality i to j */
} ACPI_PACKED;
_Static_assert(sizeof(struct acpi_slit) == 44, "SLIT fixed part is 44 bytes");

#endif /* MEMVISOR_ACPI_H */
