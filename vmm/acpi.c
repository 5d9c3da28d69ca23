/*
 * acpi.c — builds the machine's ACPI tables (acpi.h) into a caller-given buffer that the guest
 * sees at base_gpa. Owns nothing beyond the call; no locks.
 *
 * What the tables say, and why:
 *   FADT  hardware-reduced ACPI (no PM1/GPE/PM timer blocks, no FACS, no SCI); the sleep
 *         control and status registers both at I/O port MV_PORT_ACPI_SLEEP, 8 bits (testdev.c
 *         powers off on SLP_EN with SLP_TYP 5); power and sleep buttons "control-method" (i.e.
 *         not fixed-feature — there are none); headless; IAPC_BOOT_ARCH: no 8042, no VGA, no
 *         CMOS RTC, no ISA/LPC devices for the OS to probe (COM1, our one legacy-port device, is
 *         listed in the DSDT).
 *   MADT  the in-kernel LAPIC of each vCPU (APIC id = vCPU index), the IOAPIC (id = nr_cpus),
 *         PCAT_COMPAT because KVM_CREATE_IRQCHIP also gives a pair of 8259 PICs, and the PC
 *         override ISA IRQ 0 → GSI 2, made true by vm.c's KVM_SET_GSI_ROUTING (GSI 0, where the
 *         in-kernel PIT fires, goes to IOAPIC pin 2, as on a PC and in QEMU).
 *   SRAT  vCPU → node (proximity domain = node id), one Memory Affinity entry per node range.
 *   SLIT  the nodes' distance rows.
 *   DSDT  \_S5 (SLP_TYPa 5: without it Linux has no S5 and `poweroff` only halts), then
 *         \_SB.COM1 (PNP0501, ports 0x3f8-0x3ff, IRQ 4) and any virtio-mmio devices. \_S5 is
 *         named by its root path inside Scope (\_SB), so the DSDT stays a single top-level term.
 */
#include "acpi.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include <memvisor/layout.h>

#include <memvisor/acpi.h>
#include "error.h"

#define ACPI_TABLE_ALIGN       16
#define ACPI_SLIT_LOCAL        10      /* a node's distance to itself */
#define ACPI_SLIT_MIN_REMOTE   11      /* Linux's slit_valid() rejects <= 10 off the diagonal */
#define ACPI_ISA_TIMER_IRQ     0
#define ACPI_ISA_TIMER_GSI     2
#define ACPI_4G                (UINT64_C(1) << 32)
#define ACPI_VIRTIO_MMIO_HID   "LNRO0005"
#define ACPI_SLEEP_REG_BITS    8
#define AML_NAME_OP            0x08    /* ACPI 6.3, 20.3: what aml.h has no helper for */
#define AML_PACKAGE_OP         0x12
#define ACPI_S5_ELEMENTS_MAX   8       /* NumElements + two small integers, with room to spare */
#define AML_PKGLEN_1BYTE_MAX   63
_Static_assert(ACPI_S5_ELEMENTS_MAX + 1 <= AML_PKGLEN_1BYTE_MAX, "\\_S5's PkgLength is 1 byte");

/* Where the next table goes in the caller's buffer. */
struct acpi_writer {
	uint8_t *buf;
	size_t size;
	size_t off;               /* first free byte */
	gpa_t base;               /* guest-physical address of buf[0] */
	struct acpi_layout *out;
	int err;                  /* why the last table could not be built (-errno) */
};

/* The byte that makes the sum of p[0..len) and itself zero. */
static uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)-sum;
}

/*
 * Reserve len bytes for table `what` at the next 16-byte boundary; NULL with -ENOSPC recorded
 * if they do not fit.
 */
static void *acpi_place(struct acpi_writer *w, size_t len, const char *what)
{
	size_t at = (w->off + ACPI_TABLE_ALIGN - 1) & ~(size_t)(ACPI_TABLE_ALIGN - 1);

	if (at > w->size || len > w->size - at) {
		w->err = mv_fail(ENOSPC, "ACPI: the %s (%zu bytes at offset %zu) does not fit in "
				 "the %zu-byte ACPI area", what, len, at, w->size);
		return NULL;
	}
	w->off = at + len;
	return w->buf + at;
}

static gpa_t acpi_gpa(const struct acpi_writer *w, const void *p)
{
	return w->base + (gpa_t)((const uint8_t *)p - w->buf);
}

static void acpi_header(struct acpi_table_header *h, const char sig[4], uint8_t revision,
			size_t len)
{
	memcpy(h->signature, sig, sizeof(h->signature));
	h->length = htole32((uint32_t)len);
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, sizeof(h->oem_id));
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, sizeof(h->oem_table_id));
	h->oem_revision = htole32(ACPI_OEM_REVISION);
	memcpy(h->creator_id, ACPI_CREATOR_ID, sizeof(h->creator_id));
	h->creator_revision = htole32(ACPI_CREATOR_REVISION);
}

/* Checksum a finished table and report it in the layout. */
static void acpi_seal(struct acpi_writer *w, struct acpi_table_header *h)
{
	uint32_t len = le32toh(h->length);
	struct acpi_table_loc *loc = &w->out->table[w->out->nr_tables++];

	h->checksum = 0;
	h->checksum = acpi_checksum(h, len);
	memcpy(loc->signature, h->signature, 4);
	loc->signature[4] = '\0';
	loc->gpa = acpi_gpa(w, h);
	loc->length = len;
}

/* ---- checks of what the tables rely on ---- */

static uint64_t acpi_all_cpus(unsigned nr_cpus)
{
	return nr_cpus >= 64 ? UINT64_MAX : (UINT64_C(1) << nr_cpus) - 1;
}

static int acpi_check_node(const struct machine_config *m, unsigned n)
{
	const struct machine_node *node = &m->nodes[n];
	uint64_t total = 0;

	if (node->cpus & ~acpi_all_cpus(m->nr_cpus))
		return mv_fail(EINVAL, "ACPI: node %u lists vCPUs %#llx beyond nr_cpus %u", n,
			       (unsigned long long)node->cpus, m->nr_cpus);
	if (node->nr_ranges < 1 || node->nr_ranges > 2)
		return mv_fail(EINVAL, "ACPI: node %u has %u RAM ranges, not 1 or 2", n,
			       node->nr_ranges);
	for (unsigned r = 0; r < node->nr_ranges; r++) {
		const struct machine_range *rg = &node->ranges[r];

		if (rg->size == 0 || rg->gpa + rg->size < rg->gpa)
			return mv_fail(EINVAL, "ACPI: node %u range %u [%#llx, +%#llx) is empty or "
				       "wraps", n, r, (unsigned long long)rg->gpa,
				       (unsigned long long)rg->size);
		total += rg->size;
	}
	if (total != node->size)
		return mv_fail(EINVAL, "ACPI: node %u ranges hold %#llx bytes but its size is %#llx",
			       n, (unsigned long long)total, (unsigned long long)node->size);
	for (unsigned j = 0; j < m->nr_nodes; j++) {
		unsigned d = node->distance[j];
		int ok = j == n ? d == ACPI_SLIT_LOCAL : d >= ACPI_SLIT_MIN_REMOTE;

		if (!ok)
			return mv_fail(EINVAL, "ACPI: distance node %u → node %u is %u; the SLIT needs "
				       "%d to itself and %d..255 to another node", n, j, d,
				       ACPI_SLIT_LOCAL, ACPI_SLIT_MIN_REMOTE);
	}
	return 0;
}

static int acpi_check_machine(const struct machine_config *m)
{
	uint64_t seen = 0;
	int err;

	if (m->nr_cpus < 1 || m->nr_cpus > MACHINE_MAX_VCPUS)
		return mv_fail(EINVAL, "ACPI: nr_cpus %u is not in 1..%d", m->nr_cpus,
			       MACHINE_MAX_VCPUS);
	if (m->nr_nodes < 1 || m->nr_nodes > MACHINE_MAX_NODES)
		return mv_fail(EINVAL, "ACPI: nr_nodes %u is not in 1..%d", m->nr_nodes,
			       MACHINE_MAX_NODES);
	for (unsigned n = 0; n < m->nr_nodes; n++) {
		uint64_t both = seen & m->nodes[n].cpus;

		err = acpi_check_node(m, n);
		if (err)
			return err;
		if (both)
			return mv_fail(EINVAL, "ACPI: vCPU %d is on node %u and an earlier node",
				       __builtin_ctzll(both), n);
		seen |= m->nodes[n].cpus;
	}
	if (seen != acpi_all_cpus(m->nr_cpus))
		return mv_fail(EINVAL, "ACPI: vCPU %d is on no node",
			       __builtin_ctzll(~seen & acpi_all_cpus(m->nr_cpus)));
	return 0;
}

static int acpi_check_devices(const struct acpi_virtio_mmio *vio, unsigned nr_vio)
{
	if (nr_vio > ACPI_MAX_VIRTIO_MMIO)
		return mv_fail(EINVAL, "ACPI: %u virtio-mmio devices, at most %d", nr_vio,
			       ACPI_MAX_VIRTIO_MMIO);
	for (unsigned i = 0; i < nr_vio; i++) {
		for (unsigned j = 0; j < i; j++) {
			if (vio[i].gsi == vio[j].gsi)
				return mv_fail(EINVAL, "ACPI: virtio-mmio devices %u and %u share GSI "
					       "%u", j, i, vio[i].gsi);
			if (vio[i].base < vio[j].base + vio[j].size &&
			    vio[j].base < vio[i].base + vio[i].size)
				return mv_fail(EINVAL, "ACPI: virtio-mmio devices %u and %u overlap",
					       j, i);
		}
	}
	return 0;
}

/* ---- the tables ---- */

static struct acpi_rsdp *acpi_rsdp(struct acpi_writer *w)
{
	struct acpi_rsdp *r = acpi_place(w, sizeof(*r), "RSDP");

	if (r) {
		memcpy(r->signature, ACPI_RSDP_SIGNATURE, sizeof(r->signature));
		memcpy(r->oem_id, ACPI_OEM_ID, sizeof(r->oem_id));
		r->revision = ACPI_RSDP_REVISION;
		r->rsdt_address = htole32(0);       /* no RSDT: a revision-2 RSDP has the XSDT */
		r->length = htole32(sizeof(*r));
	}
	return r;
}

static void acpi_rsdp_seal(struct acpi_writer *w, struct acpi_rsdp *r, gpa_t xsdt)
{
	r->xsdt_address = htole64(xsdt);
	r->checksum = acpi_checksum(r, ACPI_RSDP_V1_LENGTH);
	r->extended_checksum = acpi_checksum(r, sizeof(*r));
	w->out->rsdp_gpa = acpi_gpa(w, r);
	w->out->rsdp_length = sizeof(*r);
}

/* An 8-bit register at an I/O port, accessed a byte at a time. */
static void acpi_gas_io8(struct acpi_gas *g, uint16_t port)
{
	g->address_space_id = ACPI_GAS_SPACE_SYSTEM_IO;
	g->register_bit_width = ACPI_SLEEP_REG_BITS;
	g->register_bit_offset = 0;
	g->access_size = ACPI_GAS_ACCESS_BYTE;
	g->address = htole64(port);
}

static struct acpi_fadt *acpi_fadt(struct acpi_writer *w)
{
	struct acpi_fadt *f = acpi_place(w, sizeof(*f), "FADT");

	if (!f)
		return NULL;
	acpi_header(&f->header, "FACP", ACPI_FADT_REVISION, sizeof(*f));
	f->preferred_pm_profile = ACPI_PM_PROFILE_UNSPECIFIED;
	f->iapc_boot_arch = htole16(ACPI_IAPC_VGA_NOT_PRESENT | ACPI_IAPC_CMOS_RTC_NOT_PRESENT);
	f->flags = htole32(ACPI_FADT_WBINVD | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON |
			   ACPI_FADT_HEADLESS | ACPI_FADT_HW_REDUCED_ACPI);
	f->fadt_minor_version = ACPI_FADT_MINOR_VERSION;
	acpi_gas_io8(&f->sleep_control_reg, MV_PORT_ACPI_SLEEP);
	acpi_gas_io8(&f->sleep_status_reg, MV_PORT_ACPI_SLEEP);
	/* The identity is the 8 bytes of the name in order, not a number. */
	memcpy((uint8_t *)f + offsetof(struct acpi_fadt, hypervisor_vendor_identity),
	       ACPI_HYPERVISOR_ID, sizeof(f->hypervisor_vendor_identity));
	return f;
}

void acpi_dsdt_add_virtio_mmio(struct aml *a, unsigned index, const struct acpi_virtio_mmio *dev)
{
	static const char hex_upper[] = "0123456789ABCDEF";
	struct aml_res res;
	char name[5];

	if (a->err)
		return;
	if (index > 0xff) {
		aml_fail(a, mv_fail(EINVAL, "virtio-mmio device %u: index is not in 0..255", index));
		return;
	}
	if (dev->size == 0 || dev->base < MV_GPA_MMIO_BASE || dev->base > MV_GPA_MMIO_END ||
	    dev->size > MV_GPA_MMIO_END - dev->base) {
		aml_fail(a, mv_fail(EINVAL, "virtio-mmio device %u: window [%#llx, +%#llx) is not "
				    "inside the MMIO window [%#llx, %#llx)", index,
				    (unsigned long long)dev->base, (unsigned long long)dev->size,
				    (unsigned long long)MV_GPA_MMIO_BASE,
				    (unsigned long long)MV_GPA_MMIO_END));
		return;
	}
	if (dev->gsi >= MV_IOAPIC_PINS || dev->gsi == ACPI_ISA_TIMER_GSI ||
	    dev->gsi == MV_IRQ_COM1) {
		aml_fail(a, mv_fail(EINVAL, "virtio-mmio device %u: GSI %u is not a free IOAPIC pin "
				    "(0..%d, but not %d: timer, %d: COM1)", index, dev->gsi,
				    MV_IOAPIC_PINS - 1, ACPI_ISA_TIMER_GSI, MV_IRQ_COM1));
		return;
	}
	name[0] = 'V';
	name[1] = 'R';
	name[2] = hex_upper[index >> 4];
	name[3] = hex_upper[index & 0xf];
	name[4] = '\0';
	aml_res_init(&res);
	aml_res_memory32_fixed(&res, (uint32_t)dev->base, (uint32_t)dev->size, true);
	aml_res_interrupt(&res, dev->gsi, AML_INT_EDGE);

	aml_device_begin(a, name);
	aml_name_str(a, "_HID", ACPI_VIRTIO_MMIO_HID);
	aml_name_integer(a, "_UID", index);
	aml_name_resources(a, "_CRS", &res);
	aml_end(a);
}

/* Device (COM1): the 16550 UART at MV_PORT_COM1 on ISA IRQ MV_IRQ_COM1. */
static void acpi_dsdt_com1(struct aml *a)
{
	struct aml_res res;

	aml_res_init(&res);
	aml_res_io(&res, MV_PORT_COM1, 8);
	aml_res_irq_noflags(&res, MV_IRQ_COM1);

	aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", 0);
	aml_method_return_integer(a, "_STA", 0x0f);   /* present, enabled, shown, working */
	aml_name_resources(a, "_CRS", &res);
	aml_end(a);
}

/*
 * Name (\_S5, Package () { ACPI_SLP_TYP_S5, Zero }): the OS reads SLP_TYPa from element 0 (and
 * SLP_TYPb, unused in hardware-reduced ACPI, from element 1). The elements are encoded into a
 * scratch buffer first, so the package's PkgLength is known before it is written.
 */
static void acpi_dsdt_s5(struct aml *a)
{
	uint8_t elems[ACPI_S5_ELEMENTS_MAX];
	struct aml e;
	size_t elen;

	aml_init(&e, elems, sizeof(elems));
	aml_raw(&e, (const uint8_t[]){ 2 }, 1);           /* NumElements */
	aml_integer(&e, ACPI_SLP_TYP_S5);
	aml_integer(&e, 0);
	if (aml_finish(&e, &elen)) {
		aml_fail(a, e.err);
		return;
	}
	aml_raw(a, (const uint8_t[]){ AML_NAME_OP }, 1);
	aml_name_string(a, "\\_S5");
	/* PkgLength counts itself: one byte, as the elements fit in ACPI_S5_ELEMENTS_MAX. */
	aml_raw(a, (const uint8_t[]){ AML_PACKAGE_OP, (uint8_t)(1 + elen) }, 2);
	aml_raw(a, elems, elen);
}

/* The DSDT: header + AML written straight into the rest of the area. */
static struct acpi_table_header *acpi_dsdt(struct acpi_writer *w,
					   const struct acpi_virtio_mmio *vio, unsigned nr_vio)
{
	struct acpi_table_header *h = acpi_place(w, sizeof(*h), "DSDT header");
	struct aml a;
	size_t len;

	if (!h)
		return NULL;
	aml_init(&a, w->buf + w->off, w->size - w->off);
	aml_scope_begin(&a, "\\_SB");
	acpi_dsdt_s5(&a);
	acpi_dsdt_com1(&a);
	for (unsigned i = 0; i < nr_vio; i++)
		acpi_dsdt_add_virtio_mmio(&a, i, &vio[i]);
	aml_end(&a);
	w->err = aml_finish(&a, &len);
	if (w->err == -ENOSPC)
		mv_fail(ENOSPC, "ACPI: the DSDT's AML does not fit in the %zu bytes left of the "
			"%zu-byte ACPI area", w->size - w->off, w->size);
	if (w->err)
		return NULL;
	w->off += len;
	acpi_header(h, "DSDT", ACPI_DSDT_REVISION, sizeof(*h) + len);
	return h;
}

static struct acpi_table_header *acpi_madt(struct acpi_writer *w, const struct machine_config *m)
{
	size_t len = sizeof(struct acpi_madt) + m->nr_cpus * sizeof(struct acpi_madt_local_apic) +
		     sizeof(struct acpi_madt_io_apic) +
		     sizeof(struct acpi_madt_interrupt_source_override);
	struct acpi_madt *t = acpi_place(w, len, "MADT");
	struct acpi_madt_local_apic *lapic;
	struct acpi_madt_io_apic *ioapic;
	struct acpi_madt_interrupt_source_override *iso;

	if (!t)
		return NULL;
	acpi_header(&t->header, "APIC", ACPI_MADT_REVISION, len);
	t->local_interrupt_controller_address = htole32((uint32_t)MV_GPA_LAPIC);
	t->flags = htole32(ACPI_MADT_PCAT_COMPAT);

	lapic = (struct acpi_madt_local_apic *)(t + 1);
	for (unsigned i = 0; i < m->nr_cpus; i++, lapic++) {
		lapic->header.type = ACPI_MADT_TYPE_LOCAL_APIC;
		lapic->header.length = sizeof(*lapic);
		lapic->acpi_processor_uid = (uint8_t)i;
		lapic->apic_id = (uint8_t)i;          /* topology contract: APIC id = vCPU index */
		lapic->flags = htole32(ACPI_MADT_LAPIC_ENABLED);
	}

	ioapic = (struct acpi_madt_io_apic *)lapic;
	ioapic->header.type = ACPI_MADT_TYPE_IO_APIC;
	ioapic->header.length = sizeof(*ioapic);
	ioapic->io_apic_id = (uint8_t)m->nr_cpus;
	ioapic->io_apic_address = htole32((uint32_t)MV_GPA_IOAPIC);
	ioapic->global_system_interrupt_base = htole32(0);

	iso = (struct acpi_madt_interrupt_source_override *)(ioapic + 1);
	iso->header.type = ACPI_MADT_TYPE_INT_SRC_OVERRIDE;
	iso->header.length = sizeof(*iso);
	iso->bus = ACPI_MADT_BUS_ISA;
	iso->source = ACPI_ISA_TIMER_IRQ;
	iso->global_system_interrupt = htole32(ACPI_ISA_TIMER_GSI);
	iso->flags = htole16(ACPI_MPS_INTI_CONFORMS);
	return &t->header;
}

static unsigned acpi_nr_ranges(const struct machine_config *m)
{
	unsigned nr = 0;

	for (unsigned n = 0; n < m->nr_nodes; n++)
		nr += m->nodes[n].nr_ranges;
	return nr;
}

static void acpi_srat_cpu(struct acpi_srat_cpu_affinity *c, unsigned cpu, unsigned node)
{
	c->header.type = ACPI_SRAT_TYPE_CPU_AFFINITY;
	c->header.length = sizeof(*c);
	c->proximity_domain_lo = (uint8_t)node;     /* nodes < 256: the high bytes stay 0 */
	c->apic_id = (uint8_t)cpu;
	c->flags = htole32(ACPI_SRAT_CPU_ENABLED);
}

static void acpi_srat_mem(struct acpi_srat_mem_affinity *e, unsigned node,
			  const struct machine_range *r)
{
	e->header.type = ACPI_SRAT_TYPE_MEMORY_AFFINITY;
	e->header.length = sizeof(*e);
	e->proximity_domain = htole32(node);
	e->base_address_low = htole32((uint32_t)r->gpa);
	e->base_address_high = htole32((uint32_t)(r->gpa >> 32));
	e->length_low = htole32((uint32_t)r->size);
	e->length_high = htole32((uint32_t)(r->size >> 32));
	e->flags = htole32(ACPI_SRAT_MEM_ENABLED);
}

static struct acpi_table_header *acpi_srat(struct acpi_writer *w, const struct machine_config *m)
{
	size_t len = sizeof(struct acpi_srat) +
		     m->nr_cpus * sizeof(struct acpi_srat_cpu_affinity) +
		     acpi_nr_ranges(m) * sizeof(struct acpi_srat_mem_affinity);
	struct acpi_srat *t = acpi_place(w, len, "SRAT");
	struct acpi_srat_cpu_affinity *cpu;
	struct acpi_srat_mem_affinity *mem;

	if (!t)
		return NULL;
	acpi_header(&t->header, "SRAT", ACPI_SRAT_REVISION, len);
	t->reserved1 = htole32(1);

	cpu = (struct acpi_srat_cpu_affinity *)(t + 1);
	for (unsigned n = 0; n < m->nr_nodes; n++)
		for (unsigned i = 0; i < m->nr_cpus; i++)
			if (m->nodes[n].cpus & (UINT64_C(1) << i))
				acpi_srat_cpu(&cpu[i], i, n);   /* entry i is vCPU i's */

	mem = (struct acpi_srat_mem_affinity *)(cpu + m->nr_cpus);
	for (unsigned n = 0; n < m->nr_nodes; n++)
		for (unsigned r = 0; r < m->nodes[n].nr_ranges; r++)
			acpi_srat_mem(mem++, n, &m->nodes[n].ranges[r]);
	return &t->header;
}

static struct acpi_table_header *acpi_slit(struct acpi_writer *w, const struct machine_config *m)
{
	unsigned n = m->nr_nodes;
	size_t len = sizeof(struct acpi_slit) + (size_t)n * n;
	struct acpi_slit *t = acpi_place(w, len, "SLIT");

	if (!t)
		return NULL;
	acpi_header(&t->header, "SLIT", ACPI_SLIT_REVISION, len);
	t->number_of_system_localities = htole64(n);
	for (unsigned i = 0; i < n; i++)
		memcpy(&t->entry[i * n], m->nodes[i].distance, n);
	return &t->header;
}

/* ---- the whole set ---- */

static int acpi_check_area(const void *buf, size_t size, uint64_t base_gpa)
{
	if (!buf)
		return mv_fail(EINVAL, "ACPI: no buffer");
	if (base_gpa % ACPI_RSDP_ALIGN)
		return mv_fail(EINVAL, "ACPI: area at %#llx is not %d-byte aligned (the RSDP must be)",
			       (unsigned long long)base_gpa, ACPI_RSDP_ALIGN);
	if (base_gpa > ACPI_4G || size > ACPI_4G - base_gpa)
		return mv_fail(EINVAL, "ACPI: area [%#llx, +%#zx) does not lie below 4 GiB (the "
			       "FADT's 32-bit DSDT field must reach it)",
			       (unsigned long long)base_gpa, size);
	return 0;
}

/* The XSDT's entries are filled in once the tables they point to are placed. */
static struct acpi_xsdt *acpi_xsdt(struct acpi_writer *w, unsigned nr_entries)
{
	size_t len = sizeof(struct acpi_xsdt) + nr_entries * sizeof(uint64_t);
	struct acpi_xsdt *x = acpi_place(w, len, "XSDT");

	if (x)
		acpi_header(&x->header, "XSDT", ACPI_XSDT_REVISION, len);
	return x;
}

int acpi_build_devices(const struct machine_config *m, const struct acpi_virtio_mmio *vio,
		       unsigned nr_vio, void *buf, size_t size, uint64_t base_gpa,
		       struct acpi_layout *out)
{
	struct acpi_writer w = { .buf = buf, .size = size, .base = base_gpa, .out = out };
	struct acpi_table_header *pointed[4];     /* what the XSDT lists: FADT MADT SRAT SLIT */
	struct acpi_table_header *dsdt;
	struct acpi_rsdp *rsdp;
	struct acpi_xsdt *xsdt;
	struct acpi_fadt *fadt;
	int err;

	err = acpi_check_area(buf, size, base_gpa);
	if (!err)
		err = acpi_check_machine(m);
	if (!err)
		err = acpi_check_devices(vio, nr_vio);
	if (err)
		return err;

	memset(buf, 0, size);
	memset(out, 0, sizeof(*out));
	rsdp = acpi_rsdp(&w);
	xsdt = rsdp ? acpi_xsdt(&w, 4) : NULL;
	fadt = xsdt ? acpi_fadt(&w) : NULL;
	dsdt = fadt ? acpi_dsdt(&w, vio, nr_vio) : NULL;
	pointed[0] = fadt ? &fadt->header : NULL;
	pointed[1] = dsdt ? acpi_madt(&w, m) : NULL;
	pointed[2] = pointed[1] ? acpi_srat(&w, m) : NULL;
	pointed[3] = pointed[2] ? acpi_slit(&w, m) : NULL;
	if (!pointed[3])
		return w.err;

	fadt->dsdt = htole32((uint32_t)acpi_gpa(&w, dsdt));
	fadt->x_dsdt = htole64(acpi_gpa(&w, dsdt));
	for (unsigned i = 0; i < 4; i++)
		xsdt->entry[i] = htole64(acpi_gpa(&w, pointed[i]));

	/* Seal in buffer order so out->table[] lists the tables as they lie. */
	acpi_seal(&w, &xsdt->header);
	acpi_seal(&w, &fadt->header);
	acpi_seal(&w, dsdt);
	for (unsigned i = 1; i < 4; i++)
		acpi_seal(&w, pointed[i]);
	acpi_rsdp_seal(&w, rsdp, acpi_gpa(&w, xsdt));
	out->used = w.off;
	return 0;
}

int acpi_build(const struct machine_config *m, void *buf, size_t size, uint64_t base_gpa,
	       struct acpi_layout *out)
{
	return acpi_build_devices(m, NULL, 0, buf, size, base_gpa, out);
}
