/*
 * Unit tests for vmm/acpi.c: what acpi_build() refuses (a machine the tables cannot describe
 * honestly, an area too small at every size, a bad area or device), then what it writes, read
 * back the way a guest does: RSDP → XSDT → each table, checksums, the MADT's interrupt
 * controllers, SRAT affinities against the fixture's nodes, SLIT distances, and the DSDT's AML
 * byte for byte. The machines are built by hand (acpi_fixture.h). tests/unit/acpi_iasl.sh checks
 * the same tables with ACPICA's disassembler and compiler.
 */
#include <endian.h>
#include <errno.h>

#include <memvisor/layout.h>

#include "acpi.h"
#include <memvisor/acpi.h>
#include "error.h"

#include "acpi_fixture.h"
#include "mvtest.h"

#define CHECK_ERROR(substr) \
	do { \
		if (!strstr(mv_error(), (substr))) \
			mvt_fail(__FILE__, __LINE__, "expected an error containing \"%s\", got \"%s\"", \
				 (substr), mv_error()); \
	} while (0)

static uint8_t area[MV_ACPI_SIZE];
static struct acpi_layout lay;

typedef void (*fixture_fn)(struct machine_config *m);

/* 16 nodes × 64 MiB, 64 vCPUs (vCPU i on node i % 16): the largest machine. */
static void fixture_max(struct machine_config *m)
{
	uint64_t size[MACHINE_MAX_NODES], cpus[MACHINE_MAX_NODES] = { 0 };
	uint8_t dist[MACHINE_MAX_NODES * MACHINE_MAX_NODES];

	for (unsigned n = 0; n < MACHINE_MAX_NODES; n++) {
		size[n] = 64 * FIX_MIB;
		for (unsigned j = 0; j < MACHINE_MAX_NODES; j++)
			dist[n * MACHINE_MAX_NODES + j] = n == j ? 10 : 20;
	}
	for (unsigned i = 0; i < MACHINE_MAX_VCPUS; i++)
		cpus[i % MACHINE_MAX_NODES] |= UINT64_C(1) << i;
	fixture_machine(m, MACHINE_MAX_VCPUS, MACHINE_MAX_NODES, size, cpus, dist);
}

static const fixture_fn fixtures[] = {
	fixture_one, fixture_two, fixture_three, fixture_split, fixture_max,
};
#define NR_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

static int build(const struct machine_config *m)
{
	return acpi_build(m, area, sizeof(area), MV_GPA_ACPI, &lay);
}

static uint8_t byte_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + b[i]);
	return s;
}

/* The bytes [gpa, gpa + len) of the area, failing the test if they are not all inside it. */
static const void *at(uint64_t gpa, uint64_t len)
{
	if (gpa < MV_GPA_ACPI || gpa - MV_GPA_ACPI > sizeof(area) ||
	    len > sizeof(area) - (gpa - MV_GPA_ACPI))
		mvt_fail(__FILE__, __LINE__, "[%#llx, +%#llx) is outside the ACPI area",
			 (unsigned long long)gpa, (unsigned long long)len);
	return area + (gpa - MV_GPA_ACPI);
}

static const struct acpi_table_header *table_at(uint64_t gpa)
{
	const struct acpi_table_header *h = at(gpa, sizeof(*h));

	return at(gpa, le32toh(h->length));
}

static const struct acpi_xsdt *xsdt_of_rsdp(void)
{
	const struct acpi_rsdp *r = at(MV_GPA_ACPI, sizeof(*r));

	return (const struct acpi_xsdt *)table_at(le64toh(r->xsdt_address));
}

static unsigned xsdt_entries(const struct acpi_xsdt *x)
{
	return (le32toh(x->header.length) - sizeof(*x)) / 8;
}

/* The one table with signature sig listed in the XSDT (fails if there are none or several). */
static const void *xsdt_find(const char *sig)
{
	const struct acpi_xsdt *x = xsdt_of_rsdp();
	const struct acpi_table_header *found = NULL;
	unsigned count = 0;

	for (unsigned i = 0; i < xsdt_entries(x); i++) {
		const struct acpi_table_header *h = table_at(le64toh(x->entry[i]));

		if (memcmp(h->signature, sig, 4) == 0) {
			found = h;
			count++;
		}
	}
	if (count != 1)
		mvt_fail(__FILE__, __LINE__, "XSDT lists %s %u times", sig, count);
	return found;
}

static unsigned node_of(const struct machine_config *m, unsigned cpu)
{
	for (unsigned n = 0; n < m->nr_nodes; n++)
		if (m->nodes[n].cpus & (UINT64_C(1) << cpu))
			return n;
	mvt_fail(__FILE__, __LINE__, "fixture: vCPU %u is on no node", cpu);
}

/* ---- errors first ---- */

TEST(too_small_area_is_enospc_at_every_size)
{
	static uint8_t big[MV_ACPI_SIZE + 64];
	struct machine_config m;
	bool dsdt_msg = false;
	uint64_t need;

	fixture_split(&m);
	CHECK_EQ(build(&m), 0);
	need = lay.used;
	CHECK_GT(need, 0);
	for (size_t size = 0; size < need; size++) {
		memset(big, 0xcc, sizeof(big));
		mv_error_clear();
		CHECK_EQ(acpi_build(&m, big, size, MV_GPA_ACPI, &lay), -ENOSPC);
		CHECK_ERROR("does not fit");
		dsdt_msg |= strstr(mv_error(), "DSDT's AML") != NULL;
		for (size_t i = size; i < size + 64; i++)       /* nothing past the area */
			CHECK_EQ_U(big[i], 0xcc);
	}
	CHECK(dsdt_msg);        /* some sizes fail inside the AML and say so */
	CHECK_EQ(acpi_build(&m, big, need, MV_GPA_ACPI, &lay), 0);
	CHECK_EQ_U(lay.used, need);
}

TEST(area_must_be_aligned_and_below_4g)
{
	struct machine_config m;

	fixture_two(&m);
	mv_error_clear();
	CHECK_EQ(acpi_build(&m, area, sizeof(area), MV_GPA_ACPI + 8, &lay), -EINVAL);
	CHECK_ERROR("not 16-byte aligned");
	CHECK_EQ(acpi_build(&m, area, sizeof(area), UINT64_C(0x100000000) - 0x1000, &lay),
		 -EINVAL);
	CHECK_ERROR("below 4 GiB");
	CHECK_EQ(acpi_build(&m, NULL, sizeof(area), MV_GPA_ACPI, &lay), -EINVAL);
	CHECK_ERROR("no buffer");
	/* The last 16-aligned place that ends exactly at 4 GiB is fine. */
	CHECK_EQ(acpi_build(&m, area, sizeof(area), UINT64_C(0x100000000) - sizeof(area), &lay),
		 0);
}

TEST(cpu_and_node_counts_out_of_range_are_rejected)
{
	struct machine_config m;

	fixture_two(&m);
	m.nr_cpus = 0;
	mv_error_clear();
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("nr_cpus 0");
	m.nr_cpus = MACHINE_MAX_VCPUS + 1;
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("nr_cpus 65");

	fixture_two(&m);
	m.nr_nodes = 0;
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("nr_nodes 0");
	m.nr_nodes = MACHINE_MAX_NODES + 1;
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("nr_nodes 17");
}

TEST(vcpu_on_no_node_two_nodes_or_beyond_nr_cpus_is_rejected)
{
	struct machine_config m;

	fixture_three(&m);
	m.nodes[1].cpus = 0x0a;                 /* vCPU 2 nowhere */
	mv_error_clear();
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("vCPU 2 is on no node");

	fixture_three(&m);
	m.nodes[2].cpus = 0x12;                 /* vCPU 1 on nodes 1 and 2 */
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("vCPU 1 is on node 2 and an earlier node");

	fixture_three(&m);
	m.nodes[2].cpus = 0x30;                 /* vCPU 5 of 5 */
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("node 2 lists vCPUs 0x30 beyond nr_cpus 5");
}

TEST(bad_ranges_are_rejected)
{
	struct machine_config m;

	fixture_split(&m);
	m.nodes[1].nr_ranges = 0;
	mv_error_clear();
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("node 1 has 0 RAM ranges");
	m.nodes[1].nr_ranges = 3;
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("node 1 has 3 RAM ranges");

	fixture_split(&m);
	m.nodes[2].ranges[0].size = 0;
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("node 2 range 0");

	fixture_split(&m);
	m.nodes[0].ranges[0].gpa = UINT64_MAX - 0xfff;
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("empty or wraps");

	fixture_split(&m);
	m.nodes[1].ranges[1].size -= 0x1000;
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("node 1 ranges hold");
}

TEST(slit_distances_linux_would_reject_are_refused)
{
	struct machine_config m;

	fixture_three(&m);
	m.nodes[1].distance[1] = 20;
	mv_error_clear();
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("node 1 → node 1 is 20");

	fixture_three(&m);
	m.nodes[2].distance[0] = 10;
	CHECK_EQ(build(&m), -EINVAL);
	CHECK_ERROR("node 2 → node 0 is 10");

	/* 255 (unreachable) and 11 are both valid remote distances. */
	fixture_three(&m);
	m.nodes[2].distance[0] = 255;
	m.nodes[0].distance[2] = 11;
	CHECK_EQ(build(&m), 0);
}

static int build_vio(const struct machine_config *m, const struct acpi_virtio_mmio *v,
		     unsigned nr)
{
	mv_error_clear();
	return acpi_build_devices(m, v, nr, area, sizeof(area), MV_GPA_ACPI, &lay);
}

TEST(bad_virtio_mmio_devices_are_rejected)
{
	struct acpi_virtio_mmio v[ACPI_MAX_VIRTIO_MMIO + 1];
	struct machine_config m;

	fixture_two(&m);
	memcpy(v, fixture_virtio, sizeof(fixture_virtio));
	for (unsigned gsi = 0; gsi < MV_IOAPIC_PINS + 2; gsi++) {
		v[1].gsi = gsi;
		if (gsi == 2 || gsi == MV_IRQ_COM1 || gsi >= MV_IOAPIC_PINS) {
			CHECK_EQ(build_vio(&m, v, 2), -EINVAL);
			CHECK_ERROR("is not a free IOAPIC pin");
		} else if (gsi == v[0].gsi) {
			CHECK_EQ(build_vio(&m, v, 2), -EINVAL);
			CHECK_ERROR("share GSI");
		} else {
			CHECK_EQ(build_vio(&m, v, 2), 0);
		}
	}

	memcpy(v, fixture_virtio, sizeof(fixture_virtio));
	v[0].base = MV_GPA_MMIO_BASE - 0x1000;
	CHECK_EQ(build_vio(&m, v, 2), -EINVAL);
	CHECK_ERROR("device 0: window [0xbffff000, +0x200) is not inside the MMIO window");
	v[0].base = MV_GPA_MMIO_END - 0x100;
	CHECK_EQ(build_vio(&m, v, 2), -EINVAL);
	CHECK_ERROR("not inside the MMIO window");
	v[0].base = MV_GPA_MMIO_BASE;
	v[0].size = 0;
	CHECK_EQ(build_vio(&m, v, 2), -EINVAL);
	CHECK_ERROR("not inside the MMIO window");

	memcpy(v, fixture_virtio, sizeof(fixture_virtio));
	v[1].base = v[0].base + 0x100;
	CHECK_EQ(build_vio(&m, v, 2), -EINVAL);
	CHECK_ERROR("devices 0 and 1 overlap");

	for (unsigned i = 0; i <= ACPI_MAX_VIRTIO_MMIO; i++)
		v[i] = (struct acpi_virtio_mmio){ MV_GPA_MMIO_BASE + i * 0x1000, 0x200, 5 + i };
	CHECK_EQ(build_vio(&m, v, ACPI_MAX_VIRTIO_MMIO + 1), -EINVAL);
	CHECK_ERROR("at most");
}

/* ---- what is written ---- */

TEST(rsdp_is_revision_2_with_both_checksums)
{
	for (unsigned f = 0; f < NR_FIXTURES; f++) {
		struct machine_config m;
		const struct acpi_rsdp *r;

		fixtures[f](&m);
		CHECK_EQ(build(&m), 0);
		CHECK_EQ_U(lay.rsdp_gpa, MV_GPA_ACPI);
		CHECK_EQ_U(lay.rsdp_length, 36);
		r = at(lay.rsdp_gpa, sizeof(*r));
		CHECK_EQ(memcmp(r->signature, "RSD PTR ", 8), 0);
		CHECK_EQ(memcmp(r->oem_id, "MEMVSR", 6), 0);
		CHECK_EQ(r->revision, 2);
		CHECK_EQ_U(le32toh(r->length), 36);
		CHECK_EQ_U(byte_sum(r, 20), 0);
		CHECK_EQ_U(byte_sum(r, 36), 0);
		CHECK_EQ_U(le32toh(r->rsdt_address), 0);
		CHECK_EQ_U(le64toh(r->xsdt_address), lay.table[0].gpa);
		CHECK_EQ(memcmp(lay.table[0].signature, "XSDT", 5), 0);
	}
}

TEST(every_table_sums_to_zero)
{
	for (unsigned f = 0; f <= NR_FIXTURES; f++) {
		struct machine_config m;

		if (f < NR_FIXTURES) {
			fixtures[f](&m);
			CHECK_EQ(build(&m), 0);
		} else {
			fixture_two(&m);
			CHECK_EQ(build_vio(&m, fixture_virtio, FIX_NR_VIRTIO), 0);
		}
		CHECK_EQ(lay.nr_tables, 6);
		for (unsigned i = 0; i < lay.nr_tables; i++) {
			const struct acpi_table_header *h = table_at(lay.table[i].gpa);

			if (byte_sum(h, le32toh(h->length)) != 0)
				mvt_fail(__FILE__, __LINE__, "fixture %u: %s sums to %#x", f,
					 lay.table[i].signature, byte_sum(h, le32toh(h->length)));
		}
	}
}

TEST(xsdt_lists_fadt_madt_srat_slit_once_and_fadt_the_dsdt)
{
	static const char *const listed[] = { "FACP", "APIC", "SRAT", "SLIT" };

	for (unsigned f = 0; f < NR_FIXTURES; f++) {
		struct machine_config m;
		const struct acpi_xsdt *x;
		const struct acpi_fadt *fadt;

		fixtures[f](&m);
		CHECK_EQ(build(&m), 0);
		x = xsdt_of_rsdp();
		CHECK_EQ(memcmp(x->header.signature, "XSDT", 4), 0);
		CHECK_EQ(x->header.revision, 1);
		CHECK_EQ(xsdt_entries(x), 4);
		for (unsigned i = 0; i < 4; i++)
			CHECK_NOT_NULL(xsdt_find(listed[i]));
		/* The DSDT is reached through the FADT only. */
		for (unsigned i = 0; i < xsdt_entries(x); i++)
			CHECK(memcmp(table_at(le64toh(x->entry[i]))->signature, "DSDT", 4) != 0);
		fadt = xsdt_find("FACP");
		CHECK_EQ_U(le64toh(fadt->x_dsdt), le32toh(fadt->dsdt));
		CHECK_EQ(memcmp(table_at(le64toh(fadt->x_dsdt))->signature, "DSDT", 4), 0);
	}
}

TEST(layout_lists_the_tables_as_they_lie)
{
	static const char *const order[] = { "XSDT", "FACP", "DSDT", "APIC", "SRAT", "SLIT" };
	struct machine_config m;
	uint64_t end;

	fixture_split(&m);
	memset(area, 0x5a, sizeof(area));       /* everything not a table must come back zero */
	CHECK_EQ(build(&m), 0);
	end = MV_GPA_ACPI + lay.rsdp_length;
	CHECK_EQ(lay.nr_tables, 6);
	for (unsigned i = 0; i < lay.nr_tables; i++) {
		const struct acpi_table_header *h = table_at(lay.table[i].gpa);

		CHECK_STREQ(lay.table[i].signature, order[i]);
		CHECK_EQ(memcmp(h->signature, order[i], 4), 0);
		CHECK_EQ_U(lay.table[i].length, le32toh(h->length));
		CHECK_EQ_U(lay.table[i].gpa % 16, 0);
		CHECK(lay.table[i].gpa >= end);          /* after the previous one, no overlap */
		end = lay.table[i].gpa + lay.table[i].length;
	}
	CHECK_EQ_U(MV_GPA_ACPI + lay.used, end);
	for (size_t i = lay.used; i < sizeof(area); i++)
		CHECK_EQ_U(area[i], 0);
}

TEST(headers_carry_the_oem_identity)
{
	struct machine_config m;

	fixture_three(&m);
	CHECK_EQ(build(&m), 0);
	for (unsigned i = 0; i < lay.nr_tables; i++) {
		const struct acpi_table_header *h = table_at(lay.table[i].gpa);

		CHECK_EQ(memcmp(h->oem_id, "MEMVSR", 6), 0);
		CHECK_EQ(memcmp(h->oem_table_id, "MEMVISOR", 8), 0);
		CHECK_EQ(memcmp(h->creator_id, "MVSR", 4), 0);
		CHECK_EQ_U(le32toh(h->oem_revision), 1);
		CHECK_EQ_U(le32toh(h->creator_revision), 1);
	}
}

TEST(fadt_is_revision_6_hardware_reduced)
{
	struct machine_config m;
	const struct acpi_fadt *f;

	fixture_two(&m);
	CHECK_EQ(build(&m), 0);
	f = xsdt_find("FACP");
	CHECK_EQ(f->header.revision, 6);
	CHECK_EQ_U(le32toh(f->header.length), 276);
	CHECK_EQ(f->fadt_minor_version, 3);
	CHECK_EQ_U(le32toh(f->flags), ACPI_FADT_HW_REDUCED_ACPI | ACPI_FADT_WBINVD |
		   ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON | ACPI_FADT_HEADLESS);
	CHECK_EQ_U(le16toh(f->iapc_boot_arch),
		   ACPI_IAPC_VGA_NOT_PRESENT | ACPI_IAPC_CMOS_RTC_NOT_PRESENT);
	CHECK_EQ_U(le32toh(f->firmware_ctrl), 0);       /* no FACS in hardware-reduced ACPI */
	CHECK_EQ_U(le64toh(f->x_firmware_ctrl), 0);
	CHECK_EQ_U(le32toh(f->dsdt), lay.table[2].gpa);
	CHECK_EQ_U(le64toh(f->x_dsdt), lay.table[2].gpa);
	CHECK_EQ_U(le32toh(f->pm1a_evt_blk), 0);
	CHECK_EQ_U(le64toh(f->x_pm_tmr_blk.address), 0);
	CHECK_EQ(memcmp(&f->hypervisor_vendor_identity, "memvisor", 8), 0);
}

/* Both HW-reduced sleep registers: one byte at I/O port 0x600, what Linux's S5 path writes. */
TEST(fadt_sleep_registers_are_one_io_byte_at_0x600)
{
	for (unsigned i = 0; i < NR_FIXTURES; i++) {
		struct machine_config m;
		const struct acpi_fadt *f;
		const struct acpi_gas *regs[2];

		fixtures[i](&m);
		CHECK_EQ(build(&m), 0);
		f = xsdt_find("FACP");
		/* The fields exist from FADT revision 5 (ACPI 5.0) and a 268+-byte table on. */
		CHECK_GE(f->header.revision, 5);
		CHECK_EQ_U(offsetof(struct acpi_fadt, sleep_control_reg), 244);
		CHECK_EQ_U(offsetof(struct acpi_fadt, sleep_status_reg), 256);
		regs[0] = &f->sleep_control_reg;
		regs[1] = &f->sleep_status_reg;
		for (unsigned r = 0; r < 2; r++) {
			CHECK_EQ(regs[r]->address_space_id, 1);     /* System I/O */
			CHECK_EQ(regs[r]->register_bit_width, 8);
			CHECK_EQ(regs[r]->register_bit_offset, 0);
			CHECK_EQ(regs[r]->access_size, 1);          /* byte access */
			CHECK_EQ_U(le64toh(regs[r]->address), 0x600);
			CHECK_EQ_U(le64toh(regs[r]->address), MV_PORT_ACPI_SLEEP);
		}
	}
}

TEST(madt_has_one_enabled_lapic_per_vcpu_the_ioapic_and_irq0_override)
{
	for (unsigned f = 0; f < NR_FIXTURES; f++) {
		struct machine_config m;
		const struct acpi_madt *t;
		const uint8_t *p, *end;
		uint64_t ids = 0;
		unsigned lapics = 0, ioapics = 0, isos = 0;

		fixtures[f](&m);
		CHECK_EQ(build(&m), 0);
		t = xsdt_find("APIC");
		CHECK_EQ(t->header.revision, 5);
		CHECK_EQ_U(le32toh(t->local_interrupt_controller_address), MV_GPA_LAPIC);
		CHECK_EQ_U(le32toh(t->flags), ACPI_MADT_PCAT_COMPAT);
		p = (const uint8_t *)(t + 1);
		end = (const uint8_t *)t + le32toh(t->header.length);
		while (p < end) {
			const struct acpi_subtable_header *s = (const void *)p;

			CHECK(s->length >= 2 && s->length <= end - p);
			if (s->type == ACPI_MADT_TYPE_LOCAL_APIC) {
				const struct acpi_madt_local_apic *l = (const void *)p;

				CHECK_EQ(s->length, 8);
				CHECK_LT(l->apic_id, m.nr_cpus);
				CHECK_EQ_U(ids & (UINT64_C(1) << l->apic_id), 0);   /* once */
				ids |= UINT64_C(1) << l->apic_id;
				CHECK_EQ(l->acpi_processor_uid, l->apic_id);
				CHECK_EQ_U(le32toh(l->flags), ACPI_MADT_LAPIC_ENABLED);
				lapics++;
			} else if (s->type == ACPI_MADT_TYPE_IO_APIC) {
				const struct acpi_madt_io_apic *io = (const void *)p;

				CHECK_EQ(s->length, 12);
				CHECK_EQ(io->io_apic_id, m.nr_cpus);
				CHECK_EQ_U(le32toh(io->io_apic_address), MV_GPA_IOAPIC);
				CHECK_EQ_U(le32toh(io->global_system_interrupt_base), 0);
				ioapics++;
			} else if (s->type == ACPI_MADT_TYPE_INT_SRC_OVERRIDE) {
				const struct acpi_madt_interrupt_source_override *o = (const void *)p;

				CHECK_EQ(s->length, 10);
				CHECK_EQ(o->bus, 0);
				CHECK_EQ(o->source, 0);
				CHECK_EQ_U(le32toh(o->global_system_interrupt), 2);
				CHECK_EQ_U(le16toh(o->flags), 0);
				isos++;
			} else {
				mvt_fail(__FILE__, __LINE__, "unexpected MADT entry type %u", s->type);
			}
			p += s->length;
		}
		CHECK_EQ_PTR(p, end);
		CHECK_EQ(lapics, m.nr_cpus);
		CHECK_EQ_U(ids, m.nr_cpus == 64 ? UINT64_MAX : (UINT64_C(1) << m.nr_cpus) - 1);
		CHECK_EQ(ioapics, 1);
		CHECK_EQ(isos, 1);
	}
}

TEST(srat_gives_each_vcpu_its_node_and_each_range_its_node)
{
	for (unsigned f = 0; f < NR_FIXTURES; f++) {
		struct machine_config m;
		const struct acpi_srat *t;
		const uint8_t *p, *end;
		uint64_t seen = 0;
		unsigned node = 0, range = 0;

		fixtures[f](&m);
		CHECK_EQ(build(&m), 0);
		t = xsdt_find("SRAT");
		CHECK_EQ(t->header.revision, 3);
		CHECK_EQ_U(le32toh(t->reserved1), 1);
		p = (const uint8_t *)(t + 1);
		end = (const uint8_t *)t + le32toh(t->header.length);
		while (p < end) {
			const struct acpi_subtable_header *s = (const void *)p;

			CHECK(s->length >= 2 && s->length <= end - p);
			if (s->type == ACPI_SRAT_TYPE_CPU_AFFINITY) {
				const struct acpi_srat_cpu_affinity *c = (const void *)p;

				CHECK_EQ(s->length, 16);
				CHECK_LT(c->apic_id, m.nr_cpus);
				CHECK_EQ_U(seen & (UINT64_C(1) << c->apic_id), 0);
				seen |= UINT64_C(1) << c->apic_id;
				CHECK_EQ(c->proximity_domain_lo, node_of(&m, c->apic_id));
				CHECK_EQ(c->proximity_domain_hi[0] | c->proximity_domain_hi[1] |
					 c->proximity_domain_hi[2], 0);
				CHECK_EQ_U(le32toh(c->flags), ACPI_SRAT_CPU_ENABLED);
			} else if (s->type == ACPI_SRAT_TYPE_MEMORY_AFFINITY) {
				const struct acpi_srat_mem_affinity *e = (const void *)p;
				const struct machine_range *r;
				uint64_t base, len;

				CHECK_EQ(s->length, 40);
				/* Ranges appear node by node, in order. */
				while (node < m.nr_nodes && range == m.nodes[node].nr_ranges) {
					node++;
					range = 0;
				}
				CHECK_LT(node, m.nr_nodes);
				r = &m.nodes[node].ranges[range++];
				base = le32toh(e->base_address_low) |
				       (uint64_t)le32toh(e->base_address_high) << 32;
				len = le32toh(e->length_low) | (uint64_t)le32toh(e->length_high) << 32;
				CHECK_EQ_U(le32toh(e->proximity_domain), node);
				CHECK_EQ_U(base, r->gpa);
				CHECK_EQ_U(len, r->size);
				CHECK_EQ_U(le32toh(e->flags), ACPI_SRAT_MEM_ENABLED);
			} else {
				mvt_fail(__FILE__, __LINE__, "unexpected SRAT entry type %u", s->type);
			}
			p += s->length;
		}
		CHECK_EQ_PTR(p, end);
		CHECK_EQ_U(seen, m.nr_cpus == 64 ? UINT64_MAX : (UINT64_C(1) << m.nr_cpus) - 1);
		CHECK_EQ(node, m.nr_nodes - 1);
		CHECK_EQ(range, m.nodes[node].nr_ranges);
	}
}

TEST(srat_describes_the_node_split_at_3g)
{
	/* fixture_split: node 1 is [1G, 3G) + [4G, 4.5G); node 2 follows at 4.5G. */
	static const uint64_t want[][3] = {
		{ 0, 0, FIX_GIB },
		{ 1, FIX_GIB, 2 * FIX_GIB },
		{ 1, 4 * FIX_GIB, 512 * FIX_MIB },
		{ 2, 4 * FIX_GIB + 512 * FIX_MIB, 128 * FIX_MIB },
	};
	struct machine_config m;
	const struct acpi_srat *t;
	const struct acpi_srat_mem_affinity *e;

	fixture_split(&m);
	CHECK_EQ(build(&m), 0);
	t = xsdt_find("SRAT");
	CHECK_EQ_U(le32toh(t->header.length), 48 + 5 * 16 + 4 * 40);
	e = (const void *)((const uint8_t *)(t + 1) + 5 * 16);
	for (unsigned i = 0; i < 4; i++, e++) {
		CHECK_EQ_U(le32toh(e->proximity_domain), want[i][0]);
		CHECK_EQ_U(le32toh(e->base_address_low), (uint32_t)want[i][1]);
		CHECK_EQ_U(le32toh(e->base_address_high), want[i][1] >> 32);
		CHECK_EQ_U(le32toh(e->length_low), (uint32_t)want[i][2]);
		CHECK_EQ_U(le32toh(e->length_high), want[i][2] >> 32);
	}
}

TEST(slit_holds_the_distance_matrix)
{
	for (unsigned f = 0; f < NR_FIXTURES; f++) {
		struct machine_config m;
		const struct acpi_slit *t;
		unsigned n;

		fixtures[f](&m);
		CHECK_EQ(build(&m), 0);
		t = xsdt_find("SLIT");
		n = m.nr_nodes;
		CHECK_EQ(t->header.revision, 1);
		CHECK_EQ_U(le64toh(t->number_of_system_localities), n);
		CHECK_EQ_U(le32toh(t->header.length), 44 + n * n);
		for (unsigned i = 0; i < n; i++)
			for (unsigned j = 0; j < n; j++)
				CHECK_EQ(t->entry[i * n + j], m.nodes[i].distance[j]);
	}
	/* fixture_three's rows by value, not through m. */
	{
		struct machine_config m;
		const struct acpi_slit *t;

		fixture_three(&m);
		CHECK_EQ(build(&m), 0);
		t = xsdt_find("SLIT");
		CHECK_EQ(t->entry[1], 15);
		CHECK_EQ(t->entry[2], 30);
		CHECK_EQ(t->entry[5], 20);
		CHECK_EQ(t->entry[8], 10);
	}
}

/*
 * Name (\_S5, Package (0x02) { 0x05, Zero }): named by its root path (the OS looks for \_S5),
 * though it lies inside Scope (\_SB); SLP_TYPa 5 is what the sleep control port acts on.
 */
static const uint8_t s5_aml[] = {
	0x08, 0x5c, '_', 'S', '5', '_',
	0x12, 0x05, 0x02, 0x0a, 0x05, 0x00,
};

/*
 * Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, Zero)
 *   Method (_STA) { Return (0x0F) }
 *   Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} }) }
 */
static const uint8_t com1_aml[] = {
	0x5b, 0x82, 0x35, 'C', 'O', 'M', '1',
	0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,
	0x08, '_', 'U', 'I', 'D', 0x00,
	0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f,
	0x08, '_', 'C', 'R', 'S', 0x11, 0x10, 0x0a, 0x0d,
	0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
	0x22, 0x10, 0x00,
	0x79, 0x00,
};

/*
 * The DSDT is one term, Scope (\_SB) { body }, whose body (s5_aml, com1_aml, ...) has more than
 * 63 - 1 - 5 bytes, so its PkgLength takes 2 bytes:
 *
 *   0x10 | 0x40 + len & 0xf | len >> 4 | \ _ S B _ | body       len = 2 + 5 + body_len
 *
 * Returns the body, checking the header and that the table holds exactly it.
 */
static const uint8_t *dsdt_sb_body(const struct acpi_table_header *d, size_t body_len)
{
	const uint8_t *aml = (const uint8_t *)(d + 1);
	size_t len = 2 + 5 + body_len;

	CHECK_EQ(memcmp(d->signature, "DSDT", 4), 0);
	CHECK_EQ(d->revision, 2);
	CHECK_EQ_U(le32toh(d->length), 36 + 1 + len);
	CHECK_EQ_U(aml[0], 0x10);
	CHECK_EQ_U(aml[1], 0x40 | (len & 0xf));
	CHECK_EQ_U(aml[2], len >> 4);
	CHECK_EQ(memcmp(aml + 3, "\\_SB_", 5), 0);
	return aml + 8;
}

TEST(dsdt_holds_s5_then_com1)
{
	struct machine_config m;
	const uint8_t *body;

	fixture_one(&m);
	CHECK_EQ(build(&m), 0);
	body = dsdt_sb_body(table_at(lay.table[2].gpa), sizeof(s5_aml) + sizeof(com1_aml));
	CHECK_EQ(memcmp(body, s5_aml, sizeof(s5_aml)), 0);
	CHECK_EQ(memcmp(body + sizeof(s5_aml), com1_aml, sizeof(com1_aml)), 0);
}

TEST(dsdt_lists_virtio_mmio_devices_after_com1)
{
	/*
	 * Device (VR01) { Name (_HID, "LNRO0005") Name (_UID, One) Name (_CRS, ResourceTemplate ()
	 *   { Memory32Fixed (ReadWrite, 0xC0001000, 0x200)
	 *     Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {6} }) }
	 */
	static const uint8_t vr01[] = {
		0x5b, 0x82, 0x3a, 'V', 'R', '0', '1',
		0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,
		0x08, '_', 'U', 'I', 'D', 0x01,
		0x08, '_', 'C', 'R', 'S', 0x11, 0x1a, 0x0a, 0x17,
		0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xc0, 0x00, 0x02, 0x00, 0x00,
		0x89, 0x06, 0x00, 0x03, 0x01, 0x06, 0x00, 0x00, 0x00,
		0x79, 0x00,
	};
	struct machine_config m;
	const uint8_t *aml;
	size_t vr00_len = sizeof(vr01);          /* the same shape: _UID Zero is one byte too */

	fixture_two(&m);
	CHECK_EQ(build_vio(&m, fixture_virtio, FIX_NR_VIRTIO), 0);
	aml = dsdt_sb_body(table_at(lay.table[2].gpa),
			   sizeof(s5_aml) + sizeof(com1_aml) + vr00_len + sizeof(vr01));
	CHECK_EQ(memcmp(aml, s5_aml, sizeof(s5_aml)), 0);
	aml += sizeof(s5_aml);
	CHECK_EQ(memcmp(aml, com1_aml, sizeof(com1_aml)), 0);
	aml += sizeof(com1_aml);
	CHECK_EQ(memcmp(aml, "\x5b\x82\x3aVR00", 7), 0);
	CHECK_EQ_U(aml[27], 0x00);                      /* _UID Zero */
	CHECK_EQ(memcmp(aml + vr00_len, vr01, sizeof(vr01)), 0);
}

TEST(add_virtio_mmio_names_devices_in_hex)
{
	struct acpi_virtio_mmio dev = { MV_GPA_MMIO_BASE, 0x200, 7 };
	uint8_t buf[128];
	struct aml a;
	size_t len;

	aml_init(&a, buf, sizeof(buf));
	acpi_dsdt_add_virtio_mmio(&a, 0xab, &dev);
	CHECK_EQ(aml_finish(&a, &len), 0);
	CHECK_EQ(memcmp(buf + 3, "VRAB", 4), 0);

	aml_init(&a, buf, sizeof(buf));
	mv_error_clear();
	acpi_dsdt_add_virtio_mmio(&a, 0x100, &dev);
	CHECK_EQ(aml_finish(&a, &len), -EINVAL);
	CHECK_ERROR("index is not in 0..255");
	CHECK_EQ_U(len, 0);
}

TEST(build_is_independent_of_the_buffer_contents)
{
	static uint8_t again[MV_ACPI_SIZE];
	struct machine_config m;

	fixture_split(&m);
	memset(area, 0xa5, sizeof(area));
	CHECK_EQ(build(&m), 0);
	memcpy(again, area, sizeof(area));
	memset(area, 0x00, sizeof(area));
	CHECK_EQ(build(&m), 0);
	CHECK_EQ(memcmp(again, area, sizeof(area)), 0);
}
