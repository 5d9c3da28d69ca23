/*
 * Unit tests for the Linux bzImage loader (vmm/boot_linux.h).
 *
 * Images are synthetic bzImages built in memory: a struct setup_header with chosen fields at
 * 0x1f1 (the short jump at 0x200 giving its length), setup sectors, then a patterned
 * protected-mode kernel. The standard image:
 *
 *   setup_sects 1 (1024 bytes of setup), KSIZE bytes of kernel, protocol 2.15, XLF_KERNEL_64,
 *   relocatable, kernel_alignment 2 MiB, pref_address 2 MiB, init_size 4 MiB, cmdline_size 255
 *
 * so its kernel window (boot_linux.h) is [1 MiB, 6 MiB): loaded at 1 MiB, decompressing at
 * pref_address 2 MiB for init_size 4 MiB. Guest memory is two static buffers, each between
 * guard bytes, every byte primed with 0xa5:
 *
 *   adjacent (default, RSIZE = 8 MiB)             with a hole (guest_init(.., HOLE_GPA))
 *   0       1M      6M     8 MiB          16 MiB   0        8 MiB   24 MiB          32 MiB
 *   | low   | window |      | region 1       |     | region 0 | hole  | region 1       |
 *   | node 0                 | node 1         |     | node 0   |       | node 1         |
 *
 * Every rejection test checks that guest memory is untouched (guards included), every success
 * test that the guards are intact. The last test loads the host's own Debian kernel.
 */
#define _GNU_SOURCE
#include <asm/bootparam.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memvisor/layout.h>
#include <memvisor/pvh.h>

#include "boot_linux.h"
#include "boot_pvh.h"
#include "error.h"
#include "machine.h"
#include "mvtest.h"
#include "loader_fixture.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)

/* The last mv_error() contains substr. */
#define CHECK_ERROR(substr) \
	do { \
		const char *mvt_e_ = mv_error(); \
		if (!strstr(mvt_e_, (substr))) \
			mvt_fail(__FILE__, __LINE__, "expected an error containing \"%s\", got \"%s\"", \
				 (substr), mvt_e_); \
	} while (0)

/* ---- guest memory fixture (loader_fixture.h) ----------------------------------------------- */

#define RSIZE        (8 * MIB)      /* region size of the synthetic tests */
#define BIG_RSIZE    (64 * MIB)     /* region size for the real kernel (window ~80 MiB) */
#define ADJACENT_GPA RSIZE          /* region 1 right after region 0 */
#define HOLE_GPA     (3 * RSIZE)    /* region 1 after an 8 MiB hole */

static uint8_t backing[2][LF_GUARD + BIG_RSIZE + LF_GUARD];

/* Two regions of rsize bytes, region 0 at 0 (node 0), region 1 at region1_gpa (node 1). */
static void guest_init_sized(struct lf_guest *g, uint64_t rsize, gpa_t region1_gpa)
{
	lf_init_two(g, backing[0], backing[1], rsize, region1_gpa);
}

static void guest_init(struct lf_guest *g, gpa_t region1_gpa)
{
	guest_init_sized(g, RSIZE, region1_gpa);
}

static uint64_t rd64(struct lf_guest *g, gpa_t gpa)
{
	uint64_t v;

	memcpy(&v, lf_byte(g, gpa), sizeof(v));
	return v;
}

/* ---- bzImage builder ----------------------------------------------------------------------- */

#define HDR_OFF      0x1f1
#define JUMP_OFF     0x200
#define HDR_END      (HDR_OFF + sizeof(struct setup_header))      /* 0x26c */
#define KSIZE        0x3000                      /* protected-mode kernel bytes */
#define IMG_CAP      (64 * KIB)
#define KGPA         MV_GPA_KERNEL_MIN
#define WINDOW_END   (6 * MIB)                   /* the standard image's kernel window end */
#define RSDP_GPA     MV_GPA_ACPI

/* Fields are set in .h and the builder's own knobs; bz_finish() lays them out. */
struct bzimg {
	struct setup_header h;
	unsigned hdr_end;           /* where the jump at 0x200 says the header ends */
	uint8_t jump_op;
	size_t ksize;               /* kernel bytes appended after the setup sectors */
	size_t size;
	uint8_t buf[IMG_CAP];
};

static struct bzimg the_img;

static struct bzimg *bz_new(void)
{
	struct bzimg *b = &the_img;

	memset(b, 0, sizeof(*b));
	b->h.setup_sects = 1;
	b->h.boot_flag = 0xaa55;
	b->h.header = 0x53726448;                   /* "HdrS" */
	b->h.version = 0x020f;
	b->h.loadflags = LOADED_HIGH;
	b->h.syssize = KSIZE / 16;
	b->h.initrd_addr_max = 0x7fffffff;
	b->h.kernel_alignment = 2 * MIB;
	b->h.relocatable_kernel = 1;
	b->h.min_alignment = 21;
	b->h.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	b->h.cmdline_size = 255;
	b->h.pref_address = 2 * MIB;
	b->h.init_size = 4 * MIB;
	b->hdr_end = HDR_END;
	b->jump_op = 0xeb;
	b->ksize = KSIZE;
	return b;
}

/* Kernel byte i of the pattern (distinct from LF_PRIME at most offsets). */
static uint8_t kbyte(size_t i)
{
	return (uint8_t)(i * 13 + 7 + (i >> 8));
}

/* Lay out the image; returns its size. Setup bytes past the header are 0x5e. */
static size_t bz_finish(struct bzimg *b)
{
	unsigned sects = b->h.setup_sects ? b->h.setup_sects : 4;
	size_t setup = (size_t)(sects + 1) * 512;

	if (setup + b->ksize > IMG_CAP)
		mvt_fail(__FILE__, __LINE__, "test bug: image builder out of room");
	memset(b->buf, 0, setup);
	memset(b->buf + 0x400, 0x5e, setup - 0x400);
	memcpy(b->buf + HDR_OFF, &b->h, sizeof(b->h));
	b->buf[JUMP_OFF] = b->jump_op;
	b->buf[JUMP_OFF + 1] = (uint8_t)(b->hdr_end - (JUMP_OFF + 2));
	for (size_t i = 0; i < b->ksize; i++)
		b->buf[setup + i] = kbyte(i);
	b->size = setup + b->ksize;
	return b->size;
}

static uint8_t the_initrd[4 * RSIZE];

/* An initrd of len pattern bytes. */
static const uint8_t *initrd_of(size_t len)
{
	if (len > sizeof(the_initrd))
		mvt_fail(__FILE__, __LINE__, "test bug: initrd too large");
	for (size_t i = 0; i < len; i++)
		the_initrd[i] = (uint8_t)(i * 31 + 11);
	return the_initrd;
}

struct result {
	struct boot_entry e;
	struct linux_image out;
};

/* Load the laid-out b with cmdline and isize bytes of initrd into a fresh guest. */
static int load_built(struct lf_guest *g, gpa_t region1_gpa, struct bzimg *b, size_t isize,
		      const char *cmdline, struct result *r)
{
	const uint8_t *initrd = isize ? initrd_of(isize) : NULL;

	guest_init(g, region1_gpa);
	memset(r, 0, sizeof(*r));
	mv_error_clear();
	return linux_load(&g->m, &g->gm, b->buf, b->size, initrd, isize, cmdline, RSDP_GPA,
			  &r->e, &r->out);
}

/* bz_finish(b), then load_built(); returns linux_load's result. */
static int load_into(struct lf_guest *g, gpa_t region1_gpa, struct bzimg *b, size_t isize,
		     const char *cmdline, struct result *r)
{
	bz_finish(b);
	return load_built(g, region1_gpa, b, isize, cmdline, r);
}

/* b must be rejected with -err, an error containing what, and guest memory untouched. */
static void expect_reject_with(struct bzimg *b, gpa_t region1_gpa, size_t isize,
			       const char *cmdline, int err, const char *what)
{
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, region1_gpa, b, isize, cmdline, &r), -err);
	CHECK_ERROR(what);
	lf_check_untouched(&g);
}

static void expect_reject(struct bzimg *b, int err, const char *what)
{
	expect_reject_with(b, ADJACENT_GPA, 0, "console=ttyS0", err, what);
}

/* ---- errors: arguments and the image ------------------------------------------------------- */

TEST(load_rejects_null_arguments)
{
	struct bzimg *b = bz_new();
	size_t size = bz_finish(b);
	struct boot_entry e;
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(linux_load(NULL, &g.gm, b->buf, size, NULL, 0, "", 0, &e, NULL), -EINVAL);
	CHECK_ERROR("must not be NULL");
	CHECK_EQ(linux_load(&g.m, NULL, b->buf, size, NULL, 0, "", 0, &e, NULL), -EINVAL);
	CHECK_EQ(linux_load(&g.m, &g.gm, NULL, size, NULL, 0, "", 0, &e, NULL), -EINVAL);
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, size, NULL, 0, "", 0, NULL, NULL), -EINVAL);
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, size, NULL, 10, "", 0, &e, NULL), -EINVAL);
	CHECK_ERROR("initrd is NULL but its size is 10");
	lf_check_untouched(&g);
}

TEST(load_rejects_image_smaller_than_two_sectors)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	bz_finish(b);
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, 1023, NULL, 0, "", 0, &r.e, &r.out), -ENOEXEC);
	CHECK_ERROR("image is 1023 bytes, too small for a bzImage (at least 1024");
	lf_check_untouched(&g);
}

TEST(load_rejects_bad_magic)
{
	struct bzimg *b = bz_new();

	b->h.header = 0x53726449;
	expect_reject(b, ENOEXEC, "not a Linux bzImage: no \"HdrS\" at 0x202 (found 49 64 72 53)");
}

TEST(load_rejects_protocol_2_11)
{
	struct bzimg *b = bz_new();

	b->h.version = 0x020b;
	expect_reject(b, ENOEXEC, "unsupported boot-protocol version 2.11 (memvisor needs 2.12 or "
		      "later with a 64-bit entry)");
}

TEST(load_rejects_protocol_2_02)
{
	struct bzimg *b = bz_new();

	b->h.version = 0x0202;
	expect_reject(b, ENOEXEC, "unsupported boot-protocol version 2.02 (memvisor needs 2.12");
}

TEST(load_rejects_kernel_without_64_bit_entry)
{
	struct bzimg *b = bz_new();

	b->h.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	expect_reject(b, ENOEXEC, "version 2.15 without a 64-bit entry: xloadflags 0x2 lacks "
		      "XLF_KERNEL_64 (memvisor needs 2.12 or later with a 64-bit entry)");
}

TEST(load_rejects_header_without_short_jump)
{
	struct bzimg *b = bz_new();

	b->jump_op = 0xe9;
	expect_reject(b, ENOEXEC, "malformed setup header: byte 0xe9 at 0x200 is not a short jump");
}

TEST(load_rejects_header_ending_before_init_size)
{
	struct bzimg *b = bz_new();

	b->hdr_end = 0x260;         /* init_size is at 0x260..0x264 */
	expect_reject(b, ENOEXEC, "the jump at 0x200 ends it at 0x260, before the end of "
		      "init_size (0x264)");
}

TEST(load_rejects_zimage)
{
	struct bzimg *b = bz_new();

	b->h.loadflags = CAN_USE_HEAP;
	expect_reject(b, ENOEXEC, "loadflags 0x80 lacks LOADED_HIGH: a zImage");
}

TEST(load_rejects_truncated_setup)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	b->h.setup_sects = 4;
	bz_finish(b);
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, 2000, NULL, 0, "", 0, &r.e, &r.out), -ENOEXEC);
	CHECK_ERROR("truncated bzImage: it is 2000 bytes, but its setup_sects (4) put the setup "
		    "code at 0..2560");
	lf_check_untouched(&g);
}

TEST(load_rejects_image_without_kernel_bytes)
{
	struct bzimg *b = bz_new();

	b->ksize = 0;
	expect_reject(b, ENOEXEC, "bzImage of 1024 bytes has no protected-mode kernel: all of it "
		      "is setup code (setup_sects 1)");
}

TEST(load_rejects_truncated_kernel)
{
	struct bzimg *b = bz_new();

	b->ksize = KSIZE - 0x10;    /* syssize still says KSIZE */
	expect_reject(b, ENOEXEC, "truncated bzImage: it is 13296 bytes, 1024 of setup code and "
		      "12272 of protected-mode kernel, but syssize (0x300) says the kernel is "
		      "12288 bytes");
}

TEST(load_rejects_zero_syssize)
{
	struct bzimg *b = bz_new();

	b->h.syssize = 0;
	expect_reject(b, ENOEXEC, "malformed setup header: syssize is 0");
}

TEST(load_rejects_kernel_alignment_not_a_power_of_two)
{
	struct bzimg *b = bz_new();

	b->h.kernel_alignment = 3 * MIB;
	expect_reject(b, ENOEXEC, "kernel_alignment 0x300000 of a relocatable kernel is not a "
		      "power of two");
	b = bz_new();
	b->h.kernel_alignment = 0;
	expect_reject(b, ENOEXEC, "kernel_alignment 0x0 of a relocatable kernel");
}

TEST(load_rejects_non_relocatable_kernel_below_1mib)
{
	struct bzimg *b = bz_new();

	b->h.relocatable_kernel = 0;
	b->h.pref_address = 0x10000;
	expect_reject(b, EINVAL, "non-relocatable kernel runs at pref_address 0x10000, below "
		      "MV_GPA_KERNEL_MIN 0x100000");
}

TEST(load_rejects_decompression_past_low_ram)
{
	struct bzimg *b = bz_new();

	b->h.pref_address = UINT64_MAX - MIB;   /* run_start + init_size would wrap */
	expect_reject(b, EINVAL, "kernel decompresses to 0xffffffffffefffff+0x400000 "
		      "(pref_address, init_size), past the end of low RAM 0xc0000000");
	b = bz_new();
	b->h.init_size = 0xffffffff;            /* more than all of low RAM */
	expect_reject(b, EINVAL, "+0xffffffff (pref_address, init_size), past the end of low RAM");
}

/* ---- errors: command line ------------------------------------------------------------------ */

TEST(load_rejects_cmdline_longer_than_cmdline_size)
{
	struct bzimg *b = bz_new();
	char cl[300];

	memset(cl, 'x', 256);
	cl[256] = '\0';
	expect_reject_with(b, ADJACENT_GPA, 0, cl, EINVAL, "command line is 256 bytes, longer "
			   "than 255: the kernel's cmdline_size is 255 and 4095 fit at 0x7000");
}

TEST(load_rejects_cmdline_longer_than_its_page)
{
	struct bzimg *b = bz_new();
	static char cl[MV_CMDLINE_MAX + 1];

	b->h.cmdline_size = 0x7fffffff;
	memset(cl, 'y', MV_CMDLINE_MAX);
	expect_reject_with(b, ADJACENT_GPA, 0, cl, EINVAL, "command line is 4096 bytes, longer "
			   "than 4095: the kernel's cmdline_size is 2147483647 and 4095 fit");
}

/* ---- errors: the guest --------------------------------------------------------------------- */

TEST(load_rejects_kernel_window_outside_ram)
{
	struct bzimg *b = bz_new();

	b->h.init_size = 15 * MIB;      /* 2 MiB + 15 MiB: one MiB past the end of RAM */
	expect_reject(b, EINVAL, "kernel needs guest RAM at [0x100000, 0x1100000) (12288 bytes "
		      "loaded at 0x100000, init_size 0xf00000 from 0x200000 where it decompresses), "
		      "but 0x1000000 is not RAM");
}

TEST(load_rejects_kernel_window_across_a_hole)
{
	struct bzimg *b = bz_new();

	b->h.init_size = 7 * MIB;       /* window to 9 MiB: region 0 ends at 8 */
	expect_reject_with(b, HOLE_GPA, 0, "", EINVAL, "kernel needs guest RAM at [0x100000, "
			   "0x900000)");
	CHECK_ERROR("but 0x800000 is not RAM");
}

TEST(load_rejects_kernel_bytes_outside_ram)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	/* No init_size to speak of, but the image itself is larger than the first region. */
	b->h.init_size = 0x1000;
	b->h.pref_address = MIB;
	b->h.kernel_alignment = 0x1000;         /* runs where it is loaded */
	bz_finish(b);
	guest_init(&g, HOLE_GPA);
	g.gm.r[0].size = MIB + 0x2000;          /* region 0 ends inside the kernel bytes */
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, b->size, NULL, 0, "", 0, &r.e, &r.out), -EINVAL);
	CHECK_ERROR("kernel needs guest RAM at [0x100000, 0x103000) (12288 bytes loaded at "
		    "0x100000, init_size 0x1000 from 0x100000 where it decompresses)");
	CHECK_ERROR("but 0x102000 is not RAM");
	lf_check_untouched(&g);
}

TEST(load_rejects_initrd_too_large)
{
	struct bzimg *b = bz_new();

	/* Room: [6 MiB, 16 MiB) = 10 MiB, one run (regions touch); the limit is low RAM's end. */
	b->h.initrd_addr_max = 0xffffffff;
	expect_reject_with(b, ADJACENT_GPA, 10 * MIB + 1, "", EINVAL, "initrd of 10485761 bytes "
			   "does not fit in guest RAM below 0xc0000000 (largest room: 10485760 "
			   "bytes, above the kernel window ending at 0x600000)");
}

TEST(load_rejects_initrd_too_large_for_either_side_of_a_hole)
{
	struct bzimg *b = bz_new();

	/* Room: [6, 8) MiB in region 0 and [24, 32) MiB in region 1: the largest is 8 MiB. */
	expect_reject_with(b, HOLE_GPA, 8 * MIB + 0x1000, "", EINVAL, "initrd of 8392704 bytes "
			   "does not fit in guest RAM below 0x80000000 (largest room: 8388608 "
			   "bytes");
}

TEST(load_rejects_initrd_with_low_initrd_addr_max)
{
	struct bzimg *b = bz_new();

	b->h.initrd_addr_max = WINDOW_END + 0x7fff;     /* 32 KiB above the window */
	expect_reject_with(b, ADJACENT_GPA, 0x9000, "", EINVAL, "initrd of 36864 bytes does not "
			   "fit in guest RAM below 0x608000 (largest room: 32768 bytes");
}

TEST(load_rejects_boot_pages_outside_ram)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	bz_finish(b);
	guest_init(&g, ADJACENT_GPA);
	g.gm.r[0].size = MV_GPA_LINUX_PAGE_TABLES + 0x3000;     /* cuts the page tables */
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, b->size, NULL, 0, "", 0, &r.e, &r.out), -EINVAL);
	CHECK_ERROR("page tables 0xa000+0x6000 is not guest RAM");
	g.gm.r[0].size = MV_GPA_CMDLINE + 0x100;
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, b->size, NULL, 0, "", 0, &r.e, &r.out), -EINVAL);
	CHECK_ERROR("command line page 0x7000+0x1000 is not guest RAM");
	g.gm.r[0].gpa = MV_GPA_LINUX_ZERO_PAGE + 0x800;
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, b->size, NULL, 0, "", 0, &r.e, &r.out), -EINVAL);
	CHECK_ERROR("zero page 0x6000+0x1000 is not guest RAM");
	lf_check_untouched(&g);
}

TEST(load_rejects_rsdp_outside_ram)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	bz_finish(b);
	guest_init(&g, HOLE_GPA);
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, b->size, NULL, 0, "", RSIZE - 16, &r.e, &r.out),
		 -EINVAL);
	CHECK_ERROR("RSDP at 0x7ffff0+36 is not guest RAM");
	lf_check_untouched(&g);
}

TEST(load_rejects_bad_machine_without_writing)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	bz_finish(b);
	guest_init(&g, ADJACENT_GPA);
	g.m.nodes[1].ranges[0].gpa = 2 * MIB;
	CHECK_EQ(linux_load(&g.m, &g.gm, b->buf, b->size, NULL, 0, "", 0, &r.e, &r.out), -EINVAL);
	CHECK_ERROR("overlaps node 0 range 0");
	lf_check_untouched(&g);
}

TEST(load_rejects_a_valid_image_with_a_bad_initrd_without_writing)
{
	struct bzimg *b = bz_new();

	/* Everything but the initrd would load: nothing may be written. */
	b->h.initrd_addr_max = 4 * MIB;
	expect_reject_with(b, ADJACENT_GPA, 0x1000, "console=ttyS0", EINVAL, "initrd of 4096 "
			   "bytes does not fit in guest RAM below 0x400001 (largest room: 0 bytes");
}

/* ---- images that load ---------------------------------------------------------------------- */

/* The zero page as the test expects it: b's header, then the loader's fields. */
static void expected_zero_page(struct lf_guest *g, const struct bzimg *b, struct boot_params *bp,
			       gpa_t initrd_gpa, uint64_t isize, uint64_t rsdp)
{
	struct hvm_memmap_table_entry map[PVH_MEMMAP_MAX];
	size_t hdr_len = (b->hdr_end < HDR_END ? b->hdr_end : HDR_END) - HDR_OFF;
	int n = pvh_build_memmap(&g->m, map, PVH_MEMMAP_MAX);

	CHECK_GT(n, 0);
	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, b->buf + HDR_OFF, hdr_len);
	bp->hdr.type_of_loader = 0xff;
	bp->hdr.cmd_line_ptr = MV_GPA_CMDLINE;
	bp->hdr.ramdisk_image = (uint32_t)initrd_gpa;
	bp->hdr.ramdisk_size = (uint32_t)isize;
	bp->acpi_rsdp_addr = rsdp;
	bp->e820_entries = (uint8_t)n;
	for (int i = 0; i < n; i++)
		bp->e820_table[i] = (struct boot_e820_entry){ .addr = map[i].addr,
							      .size = map[i].size,
							      .type = map[i].type };
}

/* The zero page in guest memory equals want, byte for byte. */
static void check_zero_page(struct lf_guest *g, const struct boot_params *want)
{
	const uint8_t *got = lf_byte(g, MV_GPA_LINUX_ZERO_PAGE), *w = (const uint8_t *)want;

	for (size_t i = 0; i < sizeof(*want); i++)
		if (got[i] != w[i])
			mvt_fail(__FILE__, __LINE__, "zero page byte %#zx is %#x, expected %#x", i,
				 got[i], w[i]);
}

/* The kernel's bytes are at 1 MiB, and the bytes around them were not written. */
static void check_kernel_loaded(struct lf_guest *g, const struct bzimg *b, size_t setup)
{
	for (size_t i = 0; i < b->size - setup; i++)
		if (*lf_byte(g, KGPA + i) != b->buf[setup + i])
			mvt_fail(__FILE__, __LINE__, "kernel byte %#zx is %#x, expected %#x", i,
				 *lf_byte(g, KGPA + i), b->buf[setup + i]);
	CHECK_EQ_U(*lf_byte(g, KGPA - 1), LF_PRIME);
	CHECK_EQ_U(*lf_byte(g, KGPA + (b->size - setup)), LF_PRIME);
}

TEST(load_standard_image_fills_the_zero_page)
{
	struct bzimg *b = bz_new();
	struct boot_params want;
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "console=ttyS0", &r), 0);
	expected_zero_page(&g, b, &want, 0, 0, RSDP_GPA);
	check_zero_page(&g, &want);
	/* the same, field by field, for the fields a reader looks for */
	memcpy(&want, lf_byte(&g, MV_GPA_LINUX_ZERO_PAGE), sizeof(want));
	CHECK_EQ_U(want.hdr.type_of_loader, 0xff);
	CHECK_EQ_U(want.hdr.cmd_line_ptr, 0x7000);
	CHECK_EQ_U(want.ext_cmd_line_ptr, 0);
	CHECK_EQ_U(want.hdr.ramdisk_image, 0);
	CHECK_EQ_U(want.hdr.ramdisk_size, 0);
	CHECK_EQ_U(want.acpi_rsdp_addr, RSDP_GPA);
	CHECK_EQ_U(want.hdr.version, 0x020f);
	CHECK_EQ_U(want.hdr.init_size, 4 * MIB);
	CHECK_EQ_U(want.sentinel, 0);
	CHECK_EQ(want.e820_entries, 5);
	CHECK_STREQ((const char *)lf_byte(&g, MV_GPA_CMDLINE), "console=ttyS0");
	lf_check_guards(&g);
}

/*
 * The E820 map is pvh_build_memmap()'s, converted entry by entry:
 *
 *   0        0x9fc00   0xe0000   1 MiB             8 MiB             16 MiB
 *   |  RAM   | reserved |  ACPI  | RAM (node 0)     | RAM (node 1)     |
 */
TEST(load_writes_the_e820_map)
{
	static const struct boot_e820_entry want[] = {
		{ 0, MV_GPA_LEGACY_HOLE, E820_TYPE_RAM },
		{ MV_GPA_LEGACY_HOLE, MV_GPA_ACPI - MV_GPA_LEGACY_HOLE, E820_TYPE_RESERVED },
		{ MV_GPA_ACPI, MV_ACPI_SIZE, E820_TYPE_ACPI },
		{ MIB, RSIZE - MIB, E820_TYPE_RAM },
		{ RSIZE, RSIZE, E820_TYPE_RAM },
	};
	struct bzimg *b = bz_new();
	struct boot_params bp;
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, NULL, &r), 0);
	memcpy(&bp, lf_byte(&g, MV_GPA_LINUX_ZERO_PAGE), sizeof(bp));
	CHECK_EQ(bp.e820_entries, MM_ARRAY_SIZE(want));
	for (unsigned i = 0; i < MM_ARRAY_SIZE(want); i++) {
		CHECK_EQ_U(bp.e820_table[i].addr, want[i].addr);
		CHECK_EQ_U(bp.e820_table[i].size, want[i].size);
		CHECK_EQ_U(bp.e820_table[i].type, want[i].type);
	}
	CHECK_EQ_U(bp.e820_table[MM_ARRAY_SIZE(want)].size, 0);
}

TEST(load_fills_the_entry_and_result)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	CHECK_EQ(r.e.protocol, BOOT_LINUX);
	CHECK_EQ_U(r.e.rip, MIB + 0x200);
	CHECK_EQ_U(r.e.rsi, 0x6000);
	CHECK_EQ_U(r.e.rax, 0);
	CHECK_EQ_U(r.e.rbx, 0);
	CHECK_EQ_U(r.e.cr3, 0xa000);
	CHECK_EQ_U(r.e.gdt, 0x9000);
	CHECK_EQ_U(r.e.gdt_limit, 31);
	CHECK_EQ_U(r.out.protocol, 0x020f);
	CHECK_EQ_U(r.out.kernel_gpa, MIB);
	CHECK_EQ_U(r.out.kernel_size, KSIZE);
	CHECK_EQ_U(r.out.init_size, 4 * MIB);
	CHECK_EQ_U(r.out.kernel_end, WINDOW_END);
	CHECK_EQ_U(r.out.initrd_gpa, 0);
	CHECK_EQ_U(r.out.initrd_size, 0);
	check_kernel_loaded(&g, b, 1024);
	lf_check_guards(&g);
}

TEST(load_writes_the_boot_gdt)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	CHECK_EQ_U(rd64(&g, 0x9000), 0);
	CHECK_EQ_U(rd64(&g, 0x9008), 0);
	CHECK_EQ_U(rd64(&g, 0x9010), 0x00af9b000000ffffull);      /* __BOOT_CS: 64-bit code */
	CHECK_EQ_U(rd64(&g, 0x9018), 0x00cf93000000ffffull);      /* __BOOT_DS: data */
	CHECK_EQ_U(*lf_byte(&g, 0x9020), LF_PRIME);
}

/*
 *   0xa000 PML4 [0] → 0xb000 PDPT [0..3] → 0xc000..0xf000 PDs, [j] → j * 2 MiB (+ i GiB)
 */
TEST(load_writes_the_identity_page_tables)
{
	const uint64_t table = 0x3, leaf = 0x83;    /* P | RW, P | RW | PS */
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	CHECK_EQ_U(rd64(&g, 0xa000), 0xb000 | table);
	for (unsigned i = 1; i < 512; i++)
		CHECK_EQ_U(rd64(&g, 0xa000 + 8 * i), 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ_U(rd64(&g, 0xb000 + 8 * i), (0xc000 + 0x1000 * i) | table);
	for (unsigned i = 4; i < 512; i++)
		CHECK_EQ_U(rd64(&g, 0xb000 + 8 * i), 0);
	for (uint64_t i = 0; i < 4; i++)
		for (uint64_t j = 0; j < 512; j++)
			CHECK_EQ_U(rd64(&g, 0xc000 + 0x1000 * i + 8 * j),
				   ((i << 30) + (j << 21)) | leaf);
	CHECK_EQ_U(rd64(&g, 0xc000 + 8 * 1), 0x200083);               /* 2 MiB */
	CHECK_EQ_U(rd64(&g, 0xf000 + 8 * 511), 0xffe00083);           /* 4 GiB - 2 MiB */
	CHECK_EQ_U(*lf_byte(&g, 0x10000), LF_PRIME);
}

TEST(load_setup_sects_0_means_4)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	b->h.setup_sects = 0;
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	CHECK_EQ_U(r.out.kernel_size, KSIZE);
	check_kernel_loaded(&g, b, 5 * 512);
}

TEST(load_kernel_with_trailing_signature)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	b->ksize = KSIZE + 0x5c0;       /* syssize covers KSIZE; a signed image appends more */
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	CHECK_EQ_U(r.out.kernel_size, KSIZE + 0x5c0);
	check_kernel_loaded(&g, b, 1024);
}

/* A 2.12-2.14 header ends at 0x268 (no kernel_info_offset): what follows is not header. */
TEST(load_copies_only_the_header_the_jump_gives)
{
	struct bzimg *b = bz_new();
	struct boot_params bp, want;
	struct result r;
	struct lf_guest g;

	b->h.version = 0x020c;
	b->h.kernel_info_offset = 0xdeadbeef;   /* in the image at 0x268, past the header */
	b->hdr_end = 0x268;
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	memcpy(&bp, lf_byte(&g, MV_GPA_LINUX_ZERO_PAGE), sizeof(bp));
	CHECK_EQ_U(bp.hdr.kernel_info_offset, 0);
	CHECK_EQ_U(bp.hdr.handover_offset, 0);
	CHECK_EQ_U(bp.acpi_rsdp_addr, 0);       /* 2.12 predates acpi_rsdp_addr */
	expected_zero_page(&g, b, &want, 0, 0, 0);
	check_zero_page(&g, &want);
}

/* A jump past sizeof(struct setup_header) copies the struct and no more. */
TEST(load_bounds_the_header_copy_by_the_struct)
{
	struct bzimg *b = bz_new();
	struct boot_params want;
	struct result r;
	struct lf_guest g;

	b->hdr_end = 0x290;
	bz_finish(b);
	memset(b->buf + HDR_END, 0x77, 0x290 - HDR_END);       /* past the struct */
	CHECK_EQ(load_built(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	expected_zero_page(&g, b, &want, 0, 0, RSDP_GPA);
	check_zero_page(&g, &want);
	CHECK_EQ_U(*lf_byte(&g, MV_GPA_LINUX_ZERO_PAGE + HDR_END), 0);
}

TEST(load_rsdp_given_from_protocol_2_14)
{
	struct bzimg *b = bz_new();
	struct boot_params bp;
	struct result r;
	struct lf_guest g;

	b->h.version = 0x020d;
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	memcpy(&bp, lf_byte(&g, MV_GPA_LINUX_ZERO_PAGE), sizeof(bp));
	CHECK_EQ_U(bp.acpi_rsdp_addr, 0);
	b = bz_new();
	b->h.version = 0x020e;
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	memcpy(&bp, lf_byte(&g, MV_GPA_LINUX_ZERO_PAGE), sizeof(bp));
	CHECK_EQ_U(bp.acpi_rsdp_addr, RSDP_GPA);
}

TEST(load_cmdline_of_cmdline_size_bytes)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;
	char cl[256];

	memset(cl, 'z', 255);
	cl[255] = '\0';
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, cl, &r), 0);
	CHECK_STREQ((const char *)lf_byte(&g, MV_GPA_CMDLINE), cl);
	CHECK_EQ_U(*lf_byte(&g, MV_GPA_CMDLINE + MV_CMDLINE_MAX - 1), 0);   /* page cleared */
}

TEST(load_null_cmdline_is_empty)
{
	struct bzimg *b = bz_new();
	struct boot_params bp;
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, NULL, &r), 0);
	memcpy(&bp, lf_byte(&g, MV_GPA_LINUX_ZERO_PAGE), sizeof(bp));
	CHECK_EQ_U(bp.hdr.cmd_line_ptr, MV_GPA_CMDLINE);
	CHECK_EQ_U(*lf_byte(&g, MV_GPA_CMDLINE), 0);
}

/*
 * A non-relocatable kernel decompresses at pref_address whatever kernel_alignment says:
 *
 *   1 MiB  kernel bytes   3 MiB                     7 MiB
 *   |  ...               | init_size 4 MiB from pref |  → window [1 MiB, 7 MiB)
 */
TEST(load_non_relocatable_kernel_window_from_pref_address)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	b->h.relocatable_kernel = 0;
	b->h.kernel_alignment = 3;              /* ignored: not relocatable */
	b->h.pref_address = 3 * MIB;
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0x1000, "", &r), 0);
	CHECK_EQ_U(r.out.kernel_end, 7 * MIB);
	CHECK_EQ_U(r.out.initrd_gpa, 2 * RSIZE - 0x1000);
}

/* A relocatable kernel decompresses at 1 MiB aligned up, if that is above pref_address. */
TEST(load_relocatable_kernel_window_from_aligned_load_address)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	b->h.pref_address = MIB;
	b->h.kernel_alignment = 4 * MIB;
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	CHECK_EQ_U(r.out.kernel_end, 8 * MIB);      /* 4 MiB + init_size 4 MiB */
	b = bz_new();
	b->h.pref_address = MIB;
	b->h.kernel_alignment = 0x1000;
	b->h.init_size = 0x1000;                    /* the kernel bytes are larger */
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0, "", &r), 0);
	CHECK_EQ_U(r.out.kernel_end, MIB + KSIZE);
}

/* The initrd's bytes are at gpa, the bytes around it untouched. */
static void check_initrd_loaded(struct lf_guest *g, gpa_t gpa, size_t len)
{
	const uint8_t *want = initrd_of(len);

	for (size_t i = 0; i < len; i++)
		if (*lf_byte(g, gpa + i) != want[i])
			mvt_fail(__FILE__, __LINE__, "initrd byte %#zx is %#x, expected %#x", i,
				 *lf_byte(g, gpa + i), want[i]);
	CHECK_EQ_U(*lf_byte(g, gpa - 1), LF_PRIME);
}

/*
 * The initrd goes page-aligned as high as it fits, in the run [0, 16 MiB) the two touching
 * regions form, above the kernel window:
 *
 *   0     1 MiB        6 MiB         8 MiB                  16 MiB - 0x3000   16 MiB
 *   | low | window      |   free      |      free             | initrd 0x2345 |pad|
 */
TEST(load_initrd_at_the_top_of_ram)
{
	struct bzimg *b = bz_new();
	struct boot_params want;
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0x2345, "initrd=1", &r), 0);
	CHECK_EQ_U(r.out.initrd_gpa, 2 * RSIZE - 0x3000);
	CHECK_EQ_U(r.out.initrd_size, 0x2345);
	check_initrd_loaded(&g, 2 * RSIZE - 0x3000, 0x2345);
	CHECK_EQ_U(*lf_byte(&g, 2 * RSIZE - 0x3000 + 0x2345), LF_PRIME);     /* tail padding */
	expected_zero_page(&g, b, &want, 2 * RSIZE - 0x3000, 0x2345, RSDP_GPA);
	check_zero_page(&g, &want);
	check_kernel_loaded(&g, b, 1024);
	lf_check_guards(&g);
}

/*
 * An initrd larger than region 1 runs across the boundary of the two touching regions:
 *
 *   6 MiB      7 MiB                8 MiB                          16 MiB
 *   | window end | initrd (region 0) | initrd (region 1) ............ |
 */
TEST(load_initrd_across_touching_regions)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 9 * MIB, "", &r), 0);
	CHECK_EQ_U(r.out.initrd_gpa, 7 * MIB);
	check_initrd_loaded(&g, 7 * MIB, 9 * MIB);
	lf_check_guards(&g);
}

/* Exactly the room above the window: the initrd starts where the window ends. */
TEST(load_initrd_filling_all_the_room)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 10 * MIB, "", &r), 0);
	CHECK_EQ_U(r.out.initrd_gpa, WINDOW_END);
	check_initrd_loaded(&g, WINDOW_END, 10 * MIB);
}

/*
 * initrd_addr_max caps the initrd's last byte (the limit is initrd_addr_max + 1):
 *
 *   6 MiB          7 MiB - 0x2000   7 MiB                    16 MiB
 *   | window end    | initrd        | (above initrd_addr_max) |
 */
TEST(load_initrd_below_initrd_addr_max)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	b->h.initrd_addr_max = 7 * MIB - 1;
	CHECK_EQ(load_into(&g, ADJACENT_GPA, b, 0x1800, "", &r), 0);
	CHECK_EQ_U(r.out.initrd_gpa, 7 * MIB - 0x2000);
	check_initrd_loaded(&g, 7 * MIB - 0x2000, 0x1800);
}

/*
 * With a hole, an initrd that fits region 1 goes to its top; one that fits only region 0's
 * room above the window goes there:
 *
 *   6 MiB       8 MiB     24 MiB                32 MiB
 *   | room 2 MiB | hole   | room 8 MiB  [initrd] |
 */
TEST(load_initrd_on_either_side_of_a_hole)
{
	struct bzimg *b = bz_new();
	struct result r;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, HOLE_GPA, b, 5 * MIB, "", &r), 0);
	CHECK_EQ_U(r.out.initrd_gpa, HOLE_GPA + 3 * MIB);
	check_initrd_loaded(&g, HOLE_GPA + 3 * MIB, 5 * MIB);
	b = bz_new();
	b->h.initrd_addr_max = HOLE_GPA - 1;    /* region 1 is out of reach */
	CHECK_EQ(load_into(&g, HOLE_GPA, b, MIB, "", &r), 0);
	CHECK_EQ_U(r.out.initrd_gpa, 7 * MIB);
	check_initrd_loaded(&g, 7 * MIB, MIB);
}

/* ---- files --------------------------------------------------------------------------------- */

#define TEMP_FILE "/tmp/test_linux.XXXXXX"     /* lf_temp_file()'s template */

TEST(load_files_names_a_missing_kernel)
{
	struct boot_entry e;
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(linux_load_files(&g.m, &g.gm, "/nonexistent/vmlinuz", NULL, "", 0, &e, NULL),
		 -ENOENT);
	CHECK_ERROR("/nonexistent/vmlinuz: cannot open: No such file or directory");
	lf_check_untouched(&g);
}

TEST(load_files_names_a_missing_initrd)
{
	struct bzimg *b = bz_new();
	size_t size = bz_finish(b);
	struct boot_entry e;
	struct lf_guest g;
	char path[64];
	int ret;

	lf_temp_file(path, sizeof(path), TEMP_FILE, b->buf, size);
	guest_init(&g, ADJACENT_GPA);
	ret = linux_load_files(&g.m, &g.gm, path, "/nonexistent/initrd", "", 0, &e, NULL);
	unlink(path);
	CHECK_EQ(ret, -ENOENT);
	CHECK_ERROR("/nonexistent/initrd: cannot open");
	lf_check_untouched(&g);
}

TEST(load_files_rejects_a_directory_and_an_oversized_file)
{
	struct boot_entry e;
	struct lf_guest g;
	char path[64];
	int ret;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(linux_load_files(&g.m, &g.gm, "/", NULL, "", 0, &e, NULL), -EINVAL);
	CHECK_ERROR("/: not a regular file");
	lf_temp_file(path, sizeof(path), TEMP_FILE, "", 0);
	CHECK_EQ(truncate(path, LINUX_MAX_FILE_SIZE + 1), 0);   /* sparse: costs no disk */
	ret = linux_load_files(&g.m, &g.gm, path, NULL, "", 0, &e, NULL);
	CHECK_EQ(ret, -EFBIG);
	CHECK_ERROR("268435457 bytes is more than the 256 MiB a kernel image may have");
	ret = linux_load_files(&g.m, &g.gm, "/dev/null", path, "", 0, &e, NULL);
	CHECK_EQ(ret, -EINVAL);
	CHECK_ERROR("/dev/null: not a regular file");
	unlink(path);
	lf_check_untouched(&g);
}

TEST(load_files_prefixes_errors_with_the_file_they_concern)
{
	struct bzimg *b = bz_new();
	char kpath[64], ipath[64], want[160];
	struct boot_entry e;
	struct lf_guest g;
	size_t size;
	int ret;

	b->h.initrd_addr_max = 4 * MIB;         /* no room for any initrd */
	size = bz_finish(b);
	lf_temp_file(kpath, sizeof(kpath), TEMP_FILE, b->buf, size);
	lf_temp_file(ipath, sizeof(ipath), TEMP_FILE, initrd_of(0x100), 0x100);
	guest_init(&g, ADJACENT_GPA);
	ret = linux_load_files(&g.m, &g.gm, kpath, ipath, "", 0, &e, NULL);
	CHECK_EQ(ret, -EINVAL);
	snprintf(want, sizeof(want), "%s: initrd of 256 bytes does not fit", ipath);
	CHECK_ERROR(want);
	b->h.version = 0x0200;
	size = bz_finish(b);
	unlink(kpath);
	lf_temp_file(kpath, sizeof(kpath), TEMP_FILE, b->buf, size);
	ret = linux_load_files(&g.m, &g.gm, kpath, ipath, "", 0, &e, NULL);
	unlink(kpath);
	unlink(ipath);
	CHECK_EQ(ret, -ENOEXEC);
	snprintf(want, sizeof(want), "%s: unsupported boot-protocol version 2.00", kpath);
	CHECK_ERROR(want);
	lf_check_untouched(&g);
}

TEST(load_files_loads_kernel_and_initrd)
{
	struct bzimg *b = bz_new();
	char kpath[64], ipath[64];
	struct linux_image out;
	struct boot_entry e;
	struct lf_guest g;
	size_t size = bz_finish(b);
	int ret;

	lf_temp_file(kpath, sizeof(kpath), TEMP_FILE, b->buf, size);
	lf_temp_file(ipath, sizeof(ipath), TEMP_FILE, initrd_of(0x1234), 0x1234);
	guest_init(&g, ADJACENT_GPA);
	ret = linux_load_files(&g.m, &g.gm, kpath, ipath, "root=/dev/vda", RSDP_GPA, &e, &out);
	unlink(kpath);
	unlink(ipath);
	CHECK_EQ(ret, 0);
	CHECK_EQ_U(e.rip, MIB + 0x200);
	CHECK_EQ_U(out.initrd_gpa, 2 * RSIZE - 0x2000);
	check_initrd_loaded(&g, out.initrd_gpa, 0x1234);
	check_kernel_loaded(&g, b, 1024);
	CHECK_STREQ((const char *)lf_byte(&g, MV_GPA_CMDLINE), "root=/dev/vda");
}

/* The host's own kernel: /boot/vmlinuz-<release> (the first one found), read as a file. */
static int find_host_kernel(char *path, size_t cap)
{
	struct dirent *de;
	DIR *d = opendir("/boot");
	int found = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d)))
		if (strncmp(de->d_name, "vmlinuz-", 8) == 0) {
			snprintf(path, cap, "/boot/%s", de->d_name);
			found = access(path, R_OK) == 0;
		}
	closedir(d);
	return found;
}

TEST(load_files_the_hosts_debian_kernel)
{
	struct linux_image out;
	struct boot_params bp;
	struct boot_entry e;
	struct lf_guest g;
	char path[512];
	uint8_t *img;
	size_t setup;
	FILE *f;
	long len;

	if (!find_host_kernel(path, sizeof(path))) {
		printf("note: no readable /boot/vmlinuz-*: the real-kernel check is skipped\n");
		return;
	}
	guest_init_sized(&g, BIG_RSIZE, BIG_RSIZE);
	CHECK_EQ(linux_load_files(&g.m, &g.gm, path, NULL, "console=ttyS0", RSDP_GPA, &e, &out), 0);
	CHECK_GE(out.protocol, 0x020c);
	CHECK_EQ_U(e.rip, MIB + 0x200);
	CHECK_EQ_U(e.rsi, MV_GPA_LINUX_ZERO_PAGE);
	memcpy(&bp, lf_byte(&g, MV_GPA_LINUX_ZERO_PAGE), sizeof(bp));
	CHECK_EQ_U(bp.hdr.header, 0x53726448);
	CHECK_EQ_U(bp.hdr.version, out.protocol);
	CHECK(bp.hdr.xloadflags & XLF_KERNEL_64);
	CHECK_EQ_U(bp.hdr.type_of_loader, 0xff);
	CHECK_EQ_U(bp.acpi_rsdp_addr, out.protocol >= 0x020e ? RSDP_GPA : 0);
	CHECK_EQ(bp.e820_entries, 5);
	CHECK_GE(out.kernel_end, bp.hdr.pref_address + bp.hdr.init_size);
	/* the protected-mode kernel is the file after the setup sectors, byte for byte */
	f = fopen(path, "rb");
	CHECK(f != NULL);
	CHECK_EQ(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	CHECK_GT(len, 0);
	img = malloc((size_t)len);
	CHECK(img != NULL);
	rewind(f);
	CHECK_EQ(fread(img, 1, (size_t)len, f), len);
	fclose(f);
	setup = ((size_t)(img[HDR_OFF] ? img[HDR_OFF] : 4) + 1) * 512;
	CHECK_EQ_U(out.kernel_size, (size_t)len - setup);
	CHECK(memcmp(lf_byte(&g, MIB), img + setup, (size_t)len - setup) == 0);
	free(img);
	lf_check_guards(&g);
}
