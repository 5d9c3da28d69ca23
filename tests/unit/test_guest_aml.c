/*
 * Unit tests for guest/aml.c, the guest's walk of DSDT devices, built hosted (the file is pure):
 * against the DSDT vmm/acpi.c builds (COM1 and virtio-mmio devices must come back exactly), every
 * truncation of it (MALFORMED, never a read past the end: ASan), and hand-written AML for what
 * the VMM does not emit (skipped bodies, an unknown opcode, EISA ids, address descriptors).
 * QEMU's own DSDTs are walked by the guest.qemu tests (pc, q35, microvm).
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/acpi.h>
#include <memvisor/layout.h>

#include "../../guest/aml.h"
#include "acpi.h"
#include "acpi_fixture.h"
#include "mvtest.h"

#define MAX_DEVS 16

struct found {
	unsigned n;
	struct aml_device dev[MAX_DEVS];
};

static void collect(void *arg, const struct aml_device *dev)
{
	struct found *f = arg;

	if (f->n < MAX_DEVS)
		f->dev[f->n] = *dev;
	f->n++;
}

static uint8_t area[MV_ACPI_SIZE];

/* The DSDT body of the two-node fixture with the fixture's virtio devices. */
static const uint8_t *vmm_dsdt(size_t *len)
{
	struct machine_config m;
	struct acpi_layout lay;

	fixture_two(&m);
	if (acpi_build_devices(&m, fixture_virtio, FIX_NR_VIRTIO, area, sizeof(area), MV_GPA_ACPI,
			       &lay) != 0)
		return NULL;
	for (unsigned i = 0; i < lay.nr_tables; i++)
		if (!strcmp(lay.table[i].signature, "DSDT")) {
			*len = lay.table[i].length - sizeof(struct acpi_table_header);
			return area + (lay.table[i].gpa - MV_GPA_ACPI) + sizeof(struct acpi_table_header);
		}
	return NULL;
}

TEST(the_vmm_dsdt_yields_com1_and_every_virtio_device)
{
	struct found f = { 0 };
	struct aml_walk w;
	size_t len = 0;
	const uint8_t *aml = vmm_dsdt(&len);

	CHECK_NOT_NULL(aml);
	aml_walk_devices(aml, len, collect, &f, &w);
	CHECK_EQ(w.result, AML_WALK_DONE);
	CHECK_EQ(w.devices, 1 + FIX_NR_VIRTIO);
	CHECK_EQ(f.n, 1 + FIX_NR_VIRTIO);
	CHECK_STREQ(f.dev[0].name, "COM1");
	CHECK_STREQ(f.dev[0].hid, "PNP0501");           /* an EISA id integer, decoded */
	CHECK_EQ(f.dev[0].has_irq, 1);
	CHECK_EQ(f.dev[0].irq, MV_IRQ_COM1);           /* small IRQ descriptor */
	CHECK_EQ(f.dev[0].has_mmio, 0);
	for (unsigned i = 0; i < FIX_NR_VIRTIO; i++) {
		const struct aml_device *d = &f.dev[1 + i];

		CHECK_STREQ(d->hid, "LNRO0005");
		CHECK_EQ(d->has_uid, 1);
		CHECK_EQ(d->uid, i);
		CHECK_EQ(d->has_mmio, 1);
		CHECK_EQ_U(d->mmio_base, fixture_virtio[i].base);
		CHECK_EQ_U(d->mmio_size, fixture_virtio[i].size);
		CHECK_EQ(d->has_irq, 1);
		CHECK_EQ(d->irq, fixture_virtio[i].gsi);
	}
}

/* Every strict prefix cuts the \_SB scope: malformed, and nothing past the prefix is read
 * (each prefix is copied into a buffer of exactly its length, so ASan sees any overrun). */
TEST(every_truncation_of_the_vmm_dsdt_is_malformed)
{
	size_t len = 0;
	const uint8_t *aml = vmm_dsdt(&len);

	CHECK_NOT_NULL(aml);
	for (size_t n = 1; n < len; n++) {
		uint8_t *copy = malloc(n);
		struct found f = { 0 };
		struct aml_walk w;

		memcpy(copy, aml, n);
		aml_walk_devices(copy, n, collect, &f, &w);
		CHECK_EQ(w.result, AML_WALK_MALFORMED);
		CHECK_LE(w.offset, n);
		free(copy);
	}
}

/*
 * Scope (\_SB) {
 *   Method (_OSC, 0) { ... }                       skipped by its package length
 *   OperationRegion (GPIO, SystemIO, 0x60, 0x10)  integers: walked
 *   Mutex (MUTX, 0)
 *   Device (DEV0) { Name (_HID, "ACPI0013") Name (_CRS, ResourceTemplate () {
 *       QWordMemory (... 0x100000000 .. length 0x2000) }) }
 *   Store (One, Local0)                            0x70: not a definition: the walk stops
 *   Device (DEV1) { ... }                          not seen
 * }
 */
TEST(definitions_are_skipped_and_an_unknown_opcode_stops_the_walk)
{
	static const uint8_t aml[] = {
		0x10, 0x4d, 0x07, '\\', '_', 'S', 'B', '_',               /* Scope, PkgLength 125 */
		0x14, 0x07, '_', 'O', 'S', 'C', 0x00, 0xa4,               /* Method: body skipped */
		0x5b, 0x80, 'G', 'P', 'I', 'O', 0x01, 0x0a, 0x60, 0x0a, 0x10,
		0x5b, 0x01, 'M', 'U', 'T', 'X', 0x00,
		0x5b, 0x82, 0x4e, 0x04, 'D', 'E', 'V', '0',               /* Device, PkgLength 78 */
		0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00,
		0x08, '_', 'C', 'R', 'S', 0x11, 0x33, 0x0a, 0x30,         /* Buffer (48) */
		0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03,                       /* QWord: memory */
		0, 0, 0, 0, 0, 0, 0, 0,                                   /* granularity */
		0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,           /* min 0x100000000 */
		0xff, 0x1f, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,           /* max */
		0, 0, 0, 0, 0, 0, 0, 0,                                   /* translation */
		0x00, 0x20, 0, 0, 0, 0, 0, 0,                             /* length 0x2000 */
		0x79, 0x00,
		0x70, 0x01, 0x60,                                         /* Store (One, Local0) */
		0x5b, 0x82, 0x07, 'D', 'E', 'V', '1', 0x08, '_',
	};
	struct found f = { 0 };
	struct aml_walk w;

	CHECK_EQ(aml[2] << 4 | (aml[1] & 0xf), sizeof(aml) - 1);    /* the scope spans it all */
	aml_walk_devices(aml, sizeof(aml), collect, &f, &w);
	CHECK_EQ(w.result, AML_WALK_STOPPED);
	CHECK_EQ_U(w.opcode, 0x70);
	CHECK_EQ_U(w.offset, sizeof(aml) - 12);
	CHECK_EQ(f.n, 1);
	CHECK_STREQ(f.dev[0].name, "DEV0");
	CHECK_STREQ(f.dev[0].hid, "ACPI0013");
	CHECK_EQ(f.dev[0].has_mmio, 1);
	CHECK_EQ_U(f.dev[0].mmio_base, 0x100000000ull);
	CHECK_EQ_U(f.dev[0].mmio_size, 0x2000);
	CHECK_EQ(f.dev[0].has_irq, 0);
}

TEST(a_package_length_past_its_container_is_malformed)
{
	/* Device (DEV0) claims 0x20 bytes; only 8 follow. */
	static const uint8_t aml[] = { 0x5b, 0x82, 0x20, 'D', 'E', 'V', '0', 0x08, '_', 'U' };
	/* Name (_HID, "LNRO) with no NUL before the end. */
	static const uint8_t str[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O' };
	struct found f = { 0 };
	struct aml_walk w;

	aml_walk_devices(aml, sizeof(aml), collect, &f, &w);
	CHECK_EQ(w.result, AML_WALK_MALFORMED);
	CHECK_EQ_U(w.offset, 2);
	CHECK_EQ(f.n, 0);
	aml_walk_devices(str, sizeof(str), collect, &f, &w);
	CHECK_EQ(w.result, AML_WALK_MALFORMED);
	aml_walk_devices(aml, 0, collect, &f, &w);       /* empty AML: nothing, done */
	CHECK_EQ(w.result, AML_WALK_DONE);
	CHECK_EQ(w.devices, 0);
}

TEST(nesting_deeper_than_the_limit_stops_the_walk)
{
	uint8_t aml[6 * (AML_DEVICE_MAX_DEPTH + 2)];
	size_t n = sizeof(aml);
	struct found f = { 0 };
	struct aml_walk w;

	/* Scope (S000) { Scope (S001) { ... } }, each PkgLength one byte. */
	for (unsigned i = 0; i < AML_DEVICE_MAX_DEPTH + 2; i++) {
		uint8_t *s = aml + 6 * i;

		s[0] = 0x10;
		s[1] = (uint8_t)(n - 6 * i - 1);
		memcpy(s + 2, "S00", 3);
		s[5] = (uint8_t)('0' + i);
	}
	aml_walk_devices(aml, n, collect, &f, &w);
	CHECK_EQ(w.result, AML_WALK_STOPPED);
	CHECK_EQ_U(w.opcode, 0x10);
}
