/*
 * acpi_dump CONFIG DIR — build the ACPI tables of fixture machine CONFIG (acpi_fixture.h: one,
 * two, three, split; `virtio` is `two` with two virtio-mmio devices in the DSDT) and write each
 * to DIR/<SIG>.dat (RSDP.dat, XSDT.dat, FACP.dat, DSDT.dat, APIC.dat, SRAT.dat, SLIT.dat) for
 * tests/unit/acpi_iasl.sh to disassemble and recompile with iasl. Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <memvisor/layout.h>

#include "acpi.h"
#include "error.h"

#include "acpi_fixture.h"

static uint8_t area[MV_ACPI_SIZE];

static int write_file(const char *dir, const char *sig, uint64_t gpa, uint32_t len)
{
	char path[4096];
	FILE *f;
	size_t off = gpa - MV_GPA_ACPI;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, sig);
	f = fopen(path, "wb");
	if (!f || fwrite(area + off, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "acpi_dump: writing %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; void (*fn)(struct machine_config *); } configs[] = {
		{ "one", fixture_one }, { "two", fixture_two }, { "three", fixture_three },
		{ "split", fixture_split }, { "virtio", fixture_two },
	};
	struct machine_config m;
	struct acpi_layout lay;
	unsigned nr_vio = 0;
	int found = 0, err;

	if (argc != 3) {
		fprintf(stderr, "usage: acpi_dump one|two|three|split|virtio DIR\n");
		return 1;
	}
	for (unsigned i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		if (strcmp(argv[1], configs[i].name) == 0) {
			configs[i].fn(&m);
			found = 1;
		}
	}
	if (!found) {
		fprintf(stderr, "acpi_dump: unknown configuration '%s'\n", argv[1]);
		return 1;
	}
	if (strcmp(argv[1], "virtio") == 0)
		nr_vio = FIX_NR_VIRTIO;
	err = acpi_build_devices(&m, fixture_virtio, nr_vio, area, sizeof(area), MV_GPA_ACPI,
				 &lay);
	if (err) {
		fprintf(stderr, "acpi_dump: %s\n", mv_error());
		return 1;
	}
	if (write_file(argv[2], "RSDP", lay.rsdp_gpa, lay.rsdp_length))
		return 1;
	for (unsigned i = 0; i < lay.nr_tables; i++)
		if (write_file(argv[2], lay.table[i].signature, lay.table[i].gpa,
			       lay.table[i].length))
			return 1;
	return 0;
}
