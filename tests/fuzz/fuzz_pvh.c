/*
 * fuzz_pvh — libFuzzer target for the PVH ELF loader (vmm/loader.h). Each input is an ELF image
 * handed to pvh_load() as is.
 *
 * Guest memory is loader_fixture.h's three regions, each its own static buffer, so segments
 * inside a region, across two regions that touch, and across a hole are all reachable:
 *
 *   0        4 MiB    5 MiB     6 MiB    7 MiB
 *   | node 0 | node 1 |  hole   | node 1 |
 *
 * Each buffer is exactly its region (ASan puts redzones between globals), so ASan reports any
 * access outside guest RAM, including one running from a region into its neighbour's buffer. After a success
 * the result is checked against the contract and the loaded bytes against the image: every
 * PT_LOAD's file bytes at its p_paddr and zeroes up to p_memsz, the entry inside the loaded
 * extent, the extent at or above MV_GPA_KERNEL_MIN. After a failure an error message must have
 * been recorded. (That a rejected image writes nothing is checked by the unit tests, which can
 * afford to compare all of guest memory.) Any mismatch aborts.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>

#include "error.h"
#include "loader.h"
#include "../unit/loader_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_ASSERT(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_pvh: %s:%d: %s (last error: %s)\n", __FILE__, \
				__LINE__, #cond, mv_error()); \
			abort(); \
		} \
	} while (0)

static struct lf_guest fz_g;

/* Host byte of guest address gpa (the loader accepted the range, so it is RAM). */
static uint8_t *fz_byte(gpa_t gpa)
{
	uint8_t *p = lf_host(&fz_g, gpa);

	FZ_ASSERT(p);
	return p;
}

/* Program header i of an image pvh_load() accepted (so the table is inside the image). */
static void fz_phdr(const uint8_t *img, unsigned i, uint32_t *type, uint64_t *off,
		    uint64_t *filesz, uint64_t *memsz, uint64_t *paddr)
{
	if (img[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr h;
		Elf64_Phdr p;

		memcpy(&h, img, sizeof(h));
		memcpy(&p, img + h.e_phoff + (uint64_t)i * sizeof(p), sizeof(p));
		*type = p.p_type, *off = p.p_offset, *filesz = p.p_filesz;
		*memsz = p.p_memsz, *paddr = p.p_paddr;
	} else {
		Elf32_Ehdr h;
		Elf32_Phdr p;

		memcpy(&h, img, sizeof(h));
		memcpy(&p, img + h.e_phoff + (uint64_t)i * sizeof(p), sizeof(p));
		*type = p.p_type, *off = p.p_offset, *filesz = p.p_filesz;
		*memsz = p.p_memsz, *paddr = p.p_paddr;
	}
}

static unsigned fz_phnum(const uint8_t *img)
{
	uint16_t n;

	if (img[EI_CLASS] == ELFCLASS64)
		memcpy(&n, img + offsetof(Elf64_Ehdr, e_phnum), sizeof(n));
	else
		memcpy(&n, img + offsetof(Elf32_Ehdr, e_phnum), sizeof(n));
	return n;
}

static void fz_check_loaded(const uint8_t *img, const struct pvh_image *out)
{
	unsigned loaded = 0;

	FZ_ASSERT(out->load_start >= MV_GPA_KERNEL_MIN);
	FZ_ASSERT(out->load_start < out->load_end);
	FZ_ASSERT(out->entry >= out->load_start && out->entry < out->load_end);
	for (unsigned i = 0; i < fz_phnum(img); i++) {
		uint64_t off, filesz, memsz, paddr;
		uint32_t type;

		fz_phdr(img, i, &type, &off, &filesz, &memsz, &paddr);
		if (type != PT_LOAD || memsz == 0)
			continue;
		loaded++;
		FZ_ASSERT(paddr >= out->load_start && paddr + memsz <= out->load_end);
		for (uint64_t b = 0; b < filesz; b++)
			FZ_ASSERT(*fz_byte(paddr + b) == img[off + b]);
		for (uint64_t b = filesz; b < memsz; b++)
			FZ_ASSERT(*fz_byte(paddr + b) == 0);
	}
	FZ_ASSERT(loaded == out->nr_segments);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvh_image out;
	uint8_t *img;
	int ret;

	/* An exact-size copy, so ASan also sees any read past the end of the image. */
	img = malloc(size ? size : 1);
	FZ_ASSERT(img);
	memcpy(img, data, size);
	lf_init_three(&fz_g);
	mv_error_clear();
	ret = pvh_load(img, size, &fz_g.gm, &out);
	if (ret == 0)
		fz_check_loaded(img, &out);
	else
		FZ_ASSERT(mv_error()[0] != '\0');
	free(img);
	return 0;
}
