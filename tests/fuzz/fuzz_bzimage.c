/*
 * fuzz_bzimage — libFuzzer target for the Linux bzImage loader (vmm/boot_linux.h). An input is
 *
 *   u32 LE  kernel length K     (clamped to what the input has)
 *   u16 LE  command-line length C (clamped likewise)
 *   K bytes the bzImage, C bytes the command line (NUL-terminated at its first NUL or its end),
 *   the rest the initrd (none if empty)
 *
 * (inputs shorter than the 6-byte prefix are a kernel alone), each copied to an exact-size heap
 * buffer so ASan sees any read past its end. Guest memory is loader_fixture.h's three regions,
 * each its own static buffer (ASan's redzones between globals catch a write running out of one),
 * with a node boundary where two touch and a hole:
 *
 *   0        1 MiB             4 MiB    5 MiB    6 MiB    7 MiB
 *   | low    | node 0          | node 1 |  hole  | node 1 |
 *
 * Guest memory starts primed with 0xa5. After a failure an error message must have been recorded
 * and every guest byte must still be 0xa5. After a success the results are checked against the
 * contract (entry, zero page, GDT, page tables, command line, kernel and initrd bytes, placement)
 * and guest memory is primed again. Any mismatch aborts.
 */
#include <asm/bootparam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>

#include "boot_linux.h"
#include "error.h"
#include "../unit/loader_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MIB        (UINT64_C(1) << 20)
#define PREFIX     6                            /* u32 kernel length, u16 cmdline length */
#define HDR_OFF    offsetof(struct boot_params, hdr)
#define PAGE       UINT64_C(0x1000)
#define E820_COUNT 6                            /* 3 below 1 MiB + the three node ranges */

#define FZ_ASSERT(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_bzimage: %s:%d: %s (last error: %s)\n", __FILE__, \
				__LINE__, #cond, mv_error()); \
			abort(); \
		} \
	} while (0)

static struct lf_guest fz_g;
static bool primed;                            /* fz_g's buffers hold LF_PRIME */

/* Whether [gpa, gpa + len) is all in the fixture's RAM ([0, 5 MiB) or [6, 7 MiB)). */
static int fz_is_ram(uint64_t gpa, uint64_t len)
{
	if (gpa > 7 * MIB || len > 7 * MIB - gpa)
		return 0;
	return gpa + len <= 5 * MIB || gpa >= 6 * MIB;
}

/* Host byte of guest address gpa (which the loader accepted, so it is RAM). */
static uint8_t *fz_byte(uint64_t gpa)
{
	uint8_t *p = lf_host(&fz_g, gpa);

	FZ_ASSERT(p);
	return p;
}

/* Whether guest [gpa, gpa + len) (RAM, checked by the caller) holds src[0..len). */
static int fz_guest_equals(uint64_t gpa, const uint8_t *src, uint64_t len)
{
	while (len > 0) {
		uint64_t end = gpa < 4 * MIB ? 4 * MIB : gpa < 5 * MIB ? 5 * MIB : 7 * MIB;
		uint64_t n = end - gpa < len ? end - gpa : len;

		if (memcmp(fz_byte(gpa), src, n) != 0)
			return 0;
		gpa += n;
		src += n;
		len -= n;
	}
	return 1;
}

static uint64_t fz_rd64(uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, fz_byte(gpa), sizeof(v));
	return v;
}

static void fz_check_zero_page(const uint8_t *kernel, const struct linux_image *out,
			       size_t isize)
{
	struct boot_params bp;
	struct setup_header want;
	size_t hdr_len = (size_t)kernel[0x201] + 0x202 - HDR_OFF;

	memcpy(&bp, fz_byte(MV_GPA_LINUX_ZERO_PAGE), sizeof(bp));
	if (hdr_len > sizeof(want))
		hdr_len = sizeof(want);
	memset(&want, 0, sizeof(want));
	memcpy(&want, kernel + HDR_OFF, hdr_len);
	want.type_of_loader = 0xff;
	want.cmd_line_ptr = (uint32_t)MV_GPA_CMDLINE;
	want.ramdisk_image = (uint32_t)out->initrd_gpa;
	want.ramdisk_size = (uint32_t)isize;
	want.setup_data = 0;
	FZ_ASSERT(memcmp(&bp.hdr, &want, sizeof(want)) == 0);
	FZ_ASSERT(memcmp(&bp.hdr.header, "HdrS", 4) == 0);
	FZ_ASSERT(bp.hdr.version >= LINUX_MIN_PROTOCOL && bp.hdr.version == out->protocol);
	FZ_ASSERT(bp.hdr.xloadflags & XLF_KERNEL_64);
	FZ_ASSERT(bp.ext_ramdisk_image == 0 && bp.ext_ramdisk_size == 0);
	FZ_ASSERT(bp.ext_cmd_line_ptr == 0 && bp.sentinel == 0);
	FZ_ASSERT(bp.e820_entries == E820_COUNT);
	FZ_ASSERT(bp.e820_table[E820_COUNT - 1].addr == 6 * MIB &&
		  bp.e820_table[E820_COUNT - 1].size == MIB);
}

static void fz_check_loaded(const uint8_t *kernel, size_t ksize, const char *cmdline,
			    const uint8_t *initrd, size_t isize, const struct boot_entry *e,
			    const struct linux_image *out)
{
	unsigned sects = kernel[HDR_OFF] ? kernel[HDR_OFF] : 4;
	size_t setup = ((size_t)sects + 1) * 512;
	struct setup_header h;

	memcpy(&h, kernel + HDR_OFF, sizeof(h));
	FZ_ASSERT(e->protocol == BOOT_LINUX && e->rip == MV_GPA_KERNEL_MIN + 0x200);
	FZ_ASSERT(e->rsi == MV_GPA_LINUX_ZERO_PAGE && e->cr3 == MV_GPA_LINUX_PAGE_TABLES);
	FZ_ASSERT(e->gdt == MV_GPA_LINUX_GDT && e->gdt_limit == 31);
	FZ_ASSERT(e->rax == 0 && e->rbx == 0);
	FZ_ASSERT(out->kernel_gpa == MV_GPA_KERNEL_MIN && out->kernel_size == ksize - setup);
	FZ_ASSERT(out->kernel_size >= (uint64_t)h.syssize * 16 && h.syssize > 0);
	FZ_ASSERT(out->init_size == h.init_size);
	FZ_ASSERT(out->kernel_end >= MV_GPA_KERNEL_MIN + out->kernel_size);
	FZ_ASSERT(out->kernel_end >= MV_GPA_KERNEL_MIN + out->init_size);
	FZ_ASSERT(fz_is_ram(MV_GPA_KERNEL_MIN, out->kernel_end - MV_GPA_KERNEL_MIN));
	FZ_ASSERT(fz_guest_equals(MV_GPA_KERNEL_MIN, kernel + setup, out->kernel_size));

	fz_check_zero_page(kernel, out, isize);
	FZ_ASSERT(strcmp((const char *)fz_byte(MV_GPA_CMDLINE), cmdline) == 0);
	FZ_ASSERT(fz_rd64(MV_GPA_LINUX_GDT + 0x10) == UINT64_C(0x00af9b000000ffff));
	FZ_ASSERT(fz_rd64(MV_GPA_LINUX_GDT + 0x18) == UINT64_C(0x00cf93000000ffff));
	FZ_ASSERT(fz_rd64(MV_GPA_LINUX_PAGE_TABLES) == (MV_GPA_LINUX_PAGE_TABLES + PAGE) + 3);

	FZ_ASSERT(out->initrd_size == isize);
	if (isize == 0) {
		FZ_ASSERT(out->initrd_gpa == 0);
		return;
	}
	FZ_ASSERT(out->initrd_gpa % PAGE == 0 && out->initrd_gpa >= out->kernel_end);
	FZ_ASSERT(fz_is_ram(out->initrd_gpa, isize));
	FZ_ASSERT(out->initrd_gpa + isize - 1 <= h.initrd_addr_max);
	FZ_ASSERT(fz_guest_equals(out->initrd_gpa, initrd, isize));
}

static uint64_t rd_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t ksize = size, clen = 0, isize = 0, off = 0;
	uint8_t *kernel, *initrd = NULL;
	struct linux_image out;
	struct boot_entry e;
	char *cmdline;
	int ret;

	if (size >= PREFIX) {
		ksize = (size_t)rd_le(data, 4);
		clen = (size_t)rd_le(data + 4, 2);
		off = PREFIX;
		if (ksize > size - off)
			ksize = size - off;
		if (clen > size - off - ksize)
			clen = size - off - ksize;
		isize = size - off - ksize - clen;
	}
	kernel = malloc(ksize ? ksize : 1);
	cmdline = malloc(clen + 1);
	FZ_ASSERT(kernel && cmdline);
	memcpy(kernel, data + off, ksize);
	memcpy(cmdline, data + off + ksize, clen);
	cmdline[clen] = '\0';
	if (isize) {
		initrd = malloc(isize);
		FZ_ASSERT(initrd);
		memcpy(initrd, data + off + ksize + clen, isize);
	}

	lf_init_three(&fz_g);
	if (!primed) {
		lf_prime(&fz_g);
		primed = true;
	}
	mv_error_clear();
	ret = linux_load(&fz_g.m, &fz_g.gm, kernel, ksize, initrd, isize, cmdline, MV_GPA_ACPI, &e,
			 &out);
	if (ret == 0) {
		fz_check_loaded(kernel, ksize, cmdline, initrd, isize, &e, &out);
		lf_prime(&fz_g);
	} else {
		FZ_ASSERT(ret < 0 && mv_error()[0] != '\0');
		FZ_ASSERT(lf_all_primed(&fz_g));
	}
	free(initrd);
	free(cmdline);
	free(kernel);
	return 0;
}
