/*
 * guest/acpi.c — find the ACPI tables from the RSDP the start info names, validate each one, and
 * read the topology out of the MADT, SRAT and SLIT into struct topo, and the virtio-mmio devices
 * out of the DSDT (aml.c).
 *
 * Trust rule: every length is checked against what it must hold before anything inside is read,
 * every table lies in the identity map, every checksum is verified. Each validation prints one
 * TAP check. A table that fails a check of its length, checksum or entries is not used at all
 * (its topology fields stay empty), so the report never rests on a table reported bad. A
 * well-formed MADT without an IOAPIC is reported but still used: its CPU list is sound.
 */
#include "acpi.h"
#include "aml.h"

/* Sanity cap on a table's length: far above any real MADT/SRAT/SLIT/DSDT, far below the map. */
#define ACPI_MAX_TABLE_LEN  (UINT32_C(16) << 20)
#define ACPI_RSDP_MAX_LEN   4096
#define SLIT_LOCAL          10          /* ACPI: a locality's distance to itself */

static uint8_t sum_bytes(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

/* sig as a printable NUL-terminated string (non-printable bytes become '?'). */
static void sig_str(char out[5], const char *sig)
{
	for (int i = 0; i < 4; i++)
		out[i] = sig[i] >= 0x20 && sig[i] < 0x7f ? sig[i] : '?';
	out[4] = '\0';
}

/*
 * The table at pa, or NULL after a "not ok" saying why it cannot be used: its header must be in
 * the identity map, its signature `want` (if given), its length between the header size and
 * ACPI_MAX_TABLE_LEN and in the map, its bytes must sum to 0. A good table gets "ok - SIG
 * checksum" and a diagnostic line with its address and length.
 */
static const struct acpi_table_header *table_get(uint64_t pa, const char *want)
{
	const struct acpi_table_header *h = pa ? phys_ptr(pa, sizeof(*h)) : NULL;
	char sig[5];

	if (!h) {
		tap_check(false, "%s table address 0x%lx is mapped", want ? want : "ACPI", pa);
		return NULL;
	}
	sig_str(sig, h->signature);
	if (want && memcmp(h->signature, want, 4) != 0) {
		tap_check(false, "%s at 0x%lx has signature %s (found '%s')", want, pa, want, sig);
		return NULL;
	}
	if (h->length < sizeof(*h) || h->length > ACPI_MAX_TABLE_LEN || !phys_ptr(pa, h->length)) {
		tap_check(false, "%s at 0x%lx has a plausible length (0x%x)", sig, pa, h->length);
		return NULL;
	}
	kprintf("# %s at 0x%lx length 0x%x revision %u\n", sig, pa, h->length, h->revision);
	if (!tap_check(sum_bytes(h, h->length) == 0, "%s checksum", sig))
		return NULL;
	return h;
}

/* Walks the variable-length entries (type, length, ...) of a MADT or SRAT. */
struct entry_iter {
	const char *sig;            /* for diagnostics */
	const uint8_t *table, *p, *end;
	bool bad;                   /* something was malformed; a diagnostic says what */
};

static void iter_init(struct entry_iter *it, const char *sig, const struct acpi_table_header *h,
		      size_t fixed)
{
	it->sig = sig;
	it->table = (const uint8_t *)h;
	it->p = it->table + fixed;
	it->end = it->table + h->length;
	it->bad = false;
}

/* Mark the walk bad with a diagnostic naming the entry at the current offset. */
__attribute__((format(printf, 2, 3)))
static void iter_bad(struct entry_iter *it, const char *fmt, ...)
{
	va_list ap;

	kprintf("# %s entry at offset 0x%lx: ", it->sig, (unsigned long)(it->p - it->table));
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	serial_putc('\n');
	it->bad = true;
}

/* The next entry, or NULL at the end of the table or at a malformed entry (it->bad). */
static const struct acpi_subtable_header *iter_next(struct entry_iter *it)
{
	const struct acpi_subtable_header *e = (const void *)it->p;
	size_t left = (size_t)(it->end - it->p);

	if (it->bad || left == 0)
		return NULL;
	if (left < sizeof(*e) || e->length < sizeof(*e) || e->length > left) {
		iter_bad(it, "length %u does not fit the %lu bytes left",
			 left < sizeof(*e) ? 0 : e->length, (unsigned long)left);
		return NULL;
	}
	it->p += e->length;
	return e;
}

/* Whether entry e (just returned by iter_next) is at least size bytes, its type's minimum. */
static bool entry_fits(struct entry_iter *it, const struct acpi_subtable_header *e, size_t size)
{
	if (e->length >= size)
		return true;
	it->p -= e->length;         /* so the diagnostic names this entry's offset */
	iter_bad(it, "type %u is %u bytes, needs %lu", e->type, e->length, (unsigned long)size);
	return false;
}

static void madt_parse(const struct acpi_table_header *h, struct topo *t)
{
	struct entry_iter it;
	const struct acpi_subtable_header *e;
	unsigned nr_ioapics = 0;

	if (!tap_check(h->length >= sizeof(struct acpi_madt), "MADT holds its fixed part"))
		return;
	t->lapic_address = ((const struct acpi_madt *)h)->local_interrupt_controller_address;
	kprintf("# MADT: local APIC at 0x%x\n", t->lapic_address);
	iter_init(&it, "MADT", h, sizeof(struct acpi_madt));
	while ((e = iter_next(&it))) {
		uint32_t apic_id, flags;

		if (e->type == ACPI_MADT_TYPE_LOCAL_APIC &&
		    entry_fits(&it, e, sizeof(struct acpi_madt_local_apic))) {
			apic_id = ((const struct acpi_madt_local_apic *)e)->apic_id;
			flags = ((const struct acpi_madt_local_apic *)e)->flags;
		} else if (e->type == ACPI_MADT_TYPE_LOCAL_X2APIC &&
			   entry_fits(&it, e, sizeof(struct acpi_madt_local_x2apic))) {
			apic_id = ((const struct acpi_madt_local_x2apic *)e)->x2apic_id;
			flags = ((const struct acpi_madt_local_x2apic *)e)->flags;
		} else {
			if (e->type == ACPI_MADT_TYPE_IO_APIC &&
			    entry_fits(&it, e, sizeof(struct acpi_madt_io_apic))) {
				const struct acpi_madt_io_apic *io = (const void *)e;

				kprintf("# MADT: IOAPIC id %u at 0x%x, GSI base %u\n", io->io_apic_id,
					io->io_apic_address, io->global_system_interrupt_base);
				nr_ioapics++;
			}
			continue;
		}
		if (!(flags & ACPI_MADT_LAPIC_ENABLED))
			continue;
		if (t->nr_cpus == TOPO_MAX_CPUS) {
			iter_bad(&it, "more than %u enabled CPUs", TOPO_MAX_CPUS);
			break;
		}
		t->cpus[t->nr_cpus++] = apic_id;
	}
	if (!tap_check(!it.bad, "MADT entries well-formed") ||
	    !tap_check(t->nr_cpus > 0, "MADT lists an enabled CPU")) {
		t->nr_cpus = 0;
		return;
	}
	tap_check(nr_ioapics > 0, "MADT lists an IOAPIC");
	t->have_madt = true;
}

static void srat_add_cpu(struct entry_iter *it, struct topo *t, uint32_t apic_id, uint32_t node)
{
	if (node >= TOPO_MAX_NODES)
		iter_bad(it, "APIC id %u in proximity domain %u, above the guest's %u", apic_id,
			 node, TOPO_MAX_NODES - 1);
	else if (t->nr_cpu_nodes == TOPO_MAX_CPUS)
		iter_bad(it, "more than %u CPU affinity entries", TOPO_MAX_CPUS);
	else
		t->cpu_nodes[t->nr_cpu_nodes++] = (struct topo_cpu){ apic_id, node };
}

static void srat_add_mem(struct entry_iter *it, struct topo *t, const struct acpi_srat_mem_affinity *m)
{
	uint64_t base = m->base_address_low | (uint64_t)m->base_address_high << 32;
	uint64_t size = m->length_low | (uint64_t)m->length_high << 32;
	uint32_t domain = m->proximity_domain;

	if (domain >= TOPO_MAX_NODES)
		iter_bad(it, "memory in proximity domain %u, above the guest's %u", domain,
			 TOPO_MAX_NODES - 1);
	else if (size == 0 || base + size < base)
		iter_bad(it, "memory range base 0x%lx size 0x%lx is empty or wraps", base, size);
	else if (t->nr_ranges == TOPO_MAX_RANGES)
		iter_bad(it, "more than %u memory ranges", TOPO_MAX_RANGES);
	else
		t->ranges[t->nr_ranges++] = (struct topo_range){ base, size, domain };
}

static void srat_parse(const struct acpi_table_header *h, struct topo *t)
{
	struct entry_iter it;
	const struct acpi_subtable_header *e;

	if (!tap_check(h->length >= sizeof(struct acpi_srat), "SRAT holds its fixed part"))
		return;
	iter_init(&it, "SRAT", h, sizeof(struct acpi_srat));
	while ((e = iter_next(&it))) {
		if (e->type == ACPI_SRAT_TYPE_CPU_AFFINITY && entry_fits(&it, e, sizeof(struct acpi_srat_cpu_affinity))) {
			const struct acpi_srat_cpu_affinity *c = (const void *)e;
			uint32_t node = c->proximity_domain_lo | (uint32_t)c->proximity_domain_hi[0] << 8 |
					(uint32_t)c->proximity_domain_hi[1] << 16 |
					(uint32_t)c->proximity_domain_hi[2] << 24;

			if (c->flags & ACPI_SRAT_CPU_ENABLED)
				srat_add_cpu(&it, t, c->apic_id, node);
		} else if (e->type == ACPI_SRAT_TYPE_X2APIC_AFFINITY &&
			   entry_fits(&it, e, sizeof(struct acpi_srat_x2apic_affinity))) {
			const struct acpi_srat_x2apic_affinity *x = (const void *)e;

			if (x->flags & ACPI_SRAT_X2APIC_ENABLED)
				srat_add_cpu(&it, t, x->x2apic_id, x->proximity_domain);
		} else if (e->type == ACPI_SRAT_TYPE_MEMORY_AFFINITY &&
			   entry_fits(&it, e, sizeof(struct acpi_srat_mem_affinity))) {
			const struct acpi_srat_mem_affinity *m = (const void *)e;

			if (m->flags & ACPI_SRAT_MEM_ENABLED)
				srat_add_mem(&it, t, m);
		}
	}
	if (!tap_check(!it.bad, "SRAT entries well-formed")) {
		t->nr_ranges = t->nr_cpu_nodes = 0;
		return;
	}
	t->have_srat = true;
}

static void slit_parse(const struct acpi_table_header *h, struct topo *t)
{
	const struct acpi_slit *s = (const void *)h;
	const uint8_t *m = (const uint8_t *)h + sizeof(*s);
	uint64_t n;
	bool valid = true;

	if (!tap_check(h->length >= sizeof(*s), "SLIT holds its fixed part"))
		return;
	n = s->number_of_system_localities;
	if (!tap_check(n >= 1 && n <= TOPO_MAX_NODES && sizeof(*s) + n * n <= h->length,
		       "SLIT holds its %lu x %lu matrix (at most %u localities)", n, n,
		       TOPO_MAX_NODES))
		return;
	for (uint64_t i = 0; i < n; i++)
		for (uint64_t j = 0; j < n; j++) {
			uint8_t d = m[i * n + j];

			/* As Linux requires: 10 on the diagonal, more than 10 elsewhere. */
			if (i == j ? d != SLIT_LOCAL : d <= SLIT_LOCAL) {
				kprintf("# SLIT[%lu][%lu] = %u\n", i, j, d);
				valid = false;
			}
			t->slit[i][j] = d;
		}
	if (!tap_check(valid, "SLIT distances are 10 to self, above 10 to others"))
		return;
	t->slit_n = (unsigned)n;
	t->have_slit = true;
}

#define VIRTIO_MMIO_HID  "LNRO0005"   /* what Linux's virtio_mmio driver matches in ACPI */

/* aml_walk_devices callback: print each device, keep the virtio-mmio ones. */
static void dsdt_device(void *arg, const struct aml_device *dev)
{
	struct topo *t = arg;
	bool virtio = !memcmp(dev->hid, VIRTIO_MMIO_HID, sizeof(VIRTIO_MMIO_HID));

	kprintf("# DSDT: device %s hid=%s uid=%lu mmio=0x%lx+0x%lx irq=%u\n", dev->name,
		dev->hid[0] ? dev->hid : "-", dev->has_uid ? dev->uid : 0,
		dev->has_mmio ? dev->mmio_base : 0, dev->has_mmio ? dev->mmio_size : 0,
		dev->has_irq ? dev->irq : 0);
	if (!virtio)
		return;
	if (!tap_check(dev->has_mmio && dev->has_irq && dev->mmio_size > 0,
		       "DSDT: virtio-mmio device %s has a register window and an interrupt",
		       dev->name))
		return;
	if (!tap_check(t->nr_virtio < TOPO_MAX_VIRTIO, "DSDT: virtio-mmio device %s is one of at "
		       "most %u", dev->name, TOPO_MAX_VIRTIO))
		return;
	t->virtio[t->nr_virtio++] = (struct topo_virtio){ dev->mmio_base, dev->mmio_size, dev->irq,
							   (uint32_t)dev->uid };
}

/* The DSDT's devices (guest/aml.c): a malformed AML is a failed check; one the walk does not
 * fully understand is walked as far as it can be, with a diagnostic. */
static void dsdt_parse(const struct acpi_table_header *h, struct topo *t)
{
	struct aml_walk w;

	aml_walk_devices((const uint8_t *)(h + 1), h->length - sizeof(*h), dsdt_device, t, &w);
	if (w.result == AML_WALK_STOPPED)
		kprintf("# DSDT: walk stopped at opcode 0x%x, AML offset 0x%lx: devices after it "
			"are not seen\n", w.opcode, (uint64_t)w.offset);
	tap_check(w.result != AML_WALK_MALFORMED, "DSDT: AML well-formed as far as walked (%u "
		  "devices, %u virtio-mmio)%s", w.devices, t->nr_virtio,
		  w.result == AML_WALK_MALFORMED ? ": a length runs past its container" : "");
}

/* The FADT's DSDT (X_DSDT when the FADT is long enough and it is set): check it and walk it. */
static void fadt_parse(const struct acpi_table_header *h, struct topo *t)
{
	const struct acpi_table_header *dsdt_table;
	uint64_t dsdt = 0;
	uint32_t dsdt32;

	/* Older FADTs are shorter than struct acpi_fadt: read only what lies within length. */
	const size_t x_dsdt_off = offsetof(struct acpi_fadt, x_dsdt);
	const size_t dsdt_off = offsetof(struct acpi_fadt, dsdt);

	if (h->length >= x_dsdt_off + sizeof(dsdt))
		memcpy(&dsdt, (const char *)h + x_dsdt_off, sizeof(dsdt));
	if (!dsdt && h->length >= dsdt_off + sizeof(dsdt32)) {
		memcpy(&dsdt32, (const char *)h + dsdt_off, sizeof(dsdt32));
		dsdt = dsdt32;
	}
	if (tap_check(dsdt != 0, "FACP names a DSDT") && (dsdt_table = table_get(dsdt, "DSDT")))
		dsdt_parse(dsdt_table, t);
}

/* One table from the root table: validate, then read it if its signature is one we use. */
static void table_parse(uint64_t pa, struct topo *t)
{
	const struct acpi_table_header *h = table_get(pa, NULL);
	char sig[5];

	if (!h)
		return;
	sig_str(sig, h->signature);
	if ((!memcmp(sig, "APIC", 4) && t->have_madt) || (!memcmp(sig, "SRAT", 4) && t->have_srat) ||
	    (!memcmp(sig, "SLIT", 4) && t->have_slit)) {
		tap_check(false, "only one %s table", sig);
		return;
	}
	if (!memcmp(sig, "APIC", 4))
		madt_parse(h, t);
	else if (!memcmp(sig, "SRAT", 4))
		srat_parse(h, t);
	else if (!memcmp(sig, "SLIT", 4))
		slit_parse(h, t);
	else if (!memcmp(sig, "FACP", 4))
		fadt_parse(h, t);
}

/*
 * The RSDP: signature and checksum; revision >= 2 adds the extended checksum and the XSDT.
 * Revision 0 (ACPI 1.0, what QEMU's pc and q35 machines build) has only the RSDT: accepted,
 * with a diagnostic, so the guest can also be tested under QEMU. Returns the root table's
 * address and its entry size (8 for the XSDT, 4 for the RSDT), or 0.
 */
static uint64_t rsdp_parse(uint64_t pa, unsigned *entry_size)
{
	const struct acpi_rsdp *r = pa ? phys_ptr(pa, ACPI_RSDP_V1_LENGTH) : NULL;

	if (!tap_check(r != NULL, "start info names a mapped RSDP (0x%lx)", pa) ||
	    !tap_check(!memcmp(r->signature, "RSD PTR ", 8), "RSDP signature") ||
	    !tap_check(sum_bytes(r, ACPI_RSDP_V1_LENGTH) == 0, "RSDP checksum"))
		return 0;
	kprintf("# RSDP at 0x%lx revision %u\n", pa, r->revision);
	if (r->revision < 2) {
		kprintf("# RSDP revision %u (ACPI 1.0): using the RSDT\n", r->revision);
		*entry_size = 4;
		return r->rsdt_address;
	}
	if (!tap_check(r->length >= sizeof(*r) && r->length <= ACPI_RSDP_MAX_LEN &&
		       phys_ptr(pa, r->length), "RSDP length 0x%x is plausible", r->length) ||
	    !tap_check(sum_bytes(r, r->length) == 0, "RSDP extended checksum"))
		return 0;
	*entry_size = 8;
	return r->xsdt_address;
}

void acpi_parse(uint64_t rsdp_pa, struct topo *t)
{
	unsigned esz = 0;
	uint64_t root_pa = rsdp_parse(rsdp_pa, &esz);
	const char *root_sig = esz == 8 ? "XSDT" : "RSDT";
	const struct acpi_table_header *root;
	uint32_t body;

	if (!root_pa || !(root = table_get(root_pa, root_sig)))
		return;
	body = root->length - (uint32_t)sizeof(*root);
	if (!tap_check(body % esz == 0, "%s length is its header plus whole %u-byte entries",
		       root_sig, esz))
		return;
	for (uint32_t off = 0; off < body; off += esz) {
		uint64_t pa = 0;

		memcpy(&pa, (const char *)(root + 1) + off, esz);   /* little-endian, 4 or 8 */
		table_parse(pa, t);
	}
	tap_check(t->have_madt, "a usable MADT was found");   /* the CPUs come from it */
}
