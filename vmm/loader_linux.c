/*
 * loader_linux.c — the Linux x86 boot protocol loader (boot_linux.h), as QEMU, Firecracker and
 * kvmtool load a bzImage for its 64-bit entry. Owns nothing beyond the call; no locks, no global
 * state. The image, initrd and command line are untrusted: all of them are checked, and every
 * address is computed, before the first byte of guest memory is written.
 *
 * A bzImage (Documentation/arch/x86/boot.rst):
 *
 *   0x000  boot sector (legacy, unused)
 *   0x1f1  struct setup_header (<asm/bootparam.h>); "HdrS" at 0x202; a short jump at 0x200
 *          whose target, 0x202 + the byte at 0x201, is where the header ends
 *   0x200 .. (setup_sects + 1) * 512   the real-mode setup code (unused: no real-mode entry)
 *   then   the protected-mode kernel: syssize * 16 bytes, perhaps followed by a signature; all of
 *          it is loaded at MV_GPA_KERNEL_MIN (1 MiB), its 64-bit entry (startup_64) 0x200 in
 *
 * The setup header is read from a copy (the image may be unaligned) in host byte order: the
 * host is x86, as <asm/bootparam.h> is. Every range check is `off <= limit && len <= limit - off`
 * or an explicit wrap check, so no sum of image values can overflow.
 *
 * The kernel window. Before it has read its memory map, the kernel uses guest memory from where
 * it was loaded and from where it decompresses itself (arch/x86/boot/compressed/head_64.S):
 * a relocatable kernel at the load address aligned up to kernel_alignment, but not below
 * pref_address (LOAD_PHYSICAL_ADDR, 16 MiB in distribution kernels); a non-relocatable one at
 * pref_address. It needs init_size bytes there. So the window is
 *
 *   [1 MiB, max(1 MiB + max(kernel bytes, init_size), run_start + init_size))
 *
 * which must be guest RAM (it may run across regions that touch) and which the initrd avoids.
 *
 * Order of checks (the first failure is reported):
 *   1. the image: size, "HdrS", protocol version and XLF_KERNEL_64, the header jump, LOADED_HIGH,
 *      setup and kernel inside the file, syssize, kernel_alignment, pref_address
 *   2. the command line against cmdline_size and MV_CMDLINE_MAX
 *   3. the guest: boot pages and RSDP are RAM, the memory map builds, the kernel window is RAM
 *   4. the initrd: placed, and checked to be RAM and clear of the window
 *   5. writes: zero page, command line, GDT, page tables, kernel, initrd
 */
#include "boot_linux.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>
#include <mm/pte_x86.h>

#include "boot_pvh.h"
#include "error.h"
#include "loader_common.h"

/* ---- the image format ---------------------------------------------------------------------- */

#define BZ_SECTOR_SIZE        512
#define BZ_MIN_SIZE           (2 * BZ_SECTOR_SIZE)  /* boot sector + the sector the header is in */
#define BZ_DEFAULT_SETUP_SECTS 4                    /* setup_sects 0 means 4 (boot.rst) */
#define BZ_HDR_OFFSET         offsetof(struct boot_params, hdr)                      /* 0x1f1 */
#define BZ_FIELD_OFFSET(f)    (BZ_HDR_OFFSET + offsetof(struct setup_header, f))
#define BZ_HDR_END_MAX        (BZ_HDR_OFFSET + sizeof(struct setup_header))
#define BZ_JUMP_OFFSET        BZ_FIELD_OFFSET(jump)                                  /* 0x200 */
#define BZ_JUMP_BASE          (BZ_JUMP_OFFSET + 2)   /* a short jump's offset is from 0x202 */
#define BZ_JMP_SHORT          0xeb                   /* x86 "jmp rel8" */
#define BZ_HDRS_MAGIC         "HdrS"
#define BZ_SYSSIZE_UNIT       16                     /* syssize counts 16-byte paragraphs */
/* The fields this loader reads end with init_size (protocol 2.10); the jump must reach it. */
#define BZ_HDR_END_MIN        (BZ_FIELD_OFFSET(init_size) + sizeof(uint32_t))

#define LINUX_VERSION_MAJOR(v) ((unsigned)(v) >> 8)
#define LINUX_VERSION_MINOR(v) ((unsigned)(v) & 0xff)
#define LINUX_PROTOCOL_RSDP    0x020e                 /* 2.14: boot_params.acpi_rsdp_addr */
#define LINUX_ENTRY_64_OFFSET  0x200                  /* startup_64 - startup_32 */
#define LINUX_LOADER_UNDEFINED 0xff                   /* type_of_loader: "undefined" */

_Static_assert(sizeof(struct boot_params) == 0x1000, "boot_params is the 4 KiB zero page");
_Static_assert(BZ_HDR_OFFSET == 0x1f1 && BZ_JUMP_OFFSET == 0x200 &&
	       BZ_FIELD_OFFSET(header) == 0x202, "setup header offsets of boot.rst");
_Static_assert(BZ_HDR_END_MAX <= BZ_MIN_SIZE, "the whole header lies in the first 1024 bytes");
_Static_assert(PVH_MEMMAP_MAX <= E820_MAX_ENTRIES_ZEROPAGE, "every memory map fits the zero page");

/* ---- the boot GDT (selectors __BOOT_CS 0x10 and __BOOT_DS 0x18) ----------------------------- */

/* Descriptor flags (access byte in bits 7:0, G/DB/L in 15:12), as the kernel's GDT_ENTRY takes. */
#define SEG_TYPE_ACCESSED  0x0001
#define SEG_TYPE_RW        0x0002      /* code: readable; data: writable */
#define SEG_TYPE_CODE      0x0008
#define SEG_S              0x0010      /* code or data, not system */
#define SEG_P              0x0080      /* present */
#define SEG_L              0x2000      /* 64-bit code */
#define SEG_DB             0x4000      /* 32-bit default operand size */
#define SEG_G              0x8000      /* limit in 4 KiB units */
#define SEG_FLAGS_MASK     UINT64_C(0xf0ff)
#define SEG_FLAGS_SHIFT    40
#define SEG_LIMIT_LO_MASK  UINT64_C(0x0ffff)
#define SEG_LIMIT_HI_MASK  UINT64_C(0xf0000)
#define SEG_LIMIT_HI_SHIFT 32          /* limit 19:16 → descriptor bits 51:48 */
#define SEG_BASE_LO_MASK   UINT64_C(0x00ffffff)
#define SEG_BASE_LO_SHIFT  16
#define SEG_BASE_HI_MASK   UINT64_C(0xff000000)
#define SEG_BASE_HI_SHIFT  32          /* base 31:24 → descriptor bits 63:56 */
#define SEG_LIMIT_4G       UINT64_C(0xfffff)

#define GDT_ENTRY(flags, base, limit) \
	((((uint64_t)(base) & SEG_BASE_HI_MASK) << SEG_BASE_HI_SHIFT) | \
	 (((uint64_t)(flags) & SEG_FLAGS_MASK) << SEG_FLAGS_SHIFT) | \
	 (((uint64_t)(limit) & SEG_LIMIT_HI_MASK) << SEG_LIMIT_HI_SHIFT) | \
	 (((uint64_t)(base) & SEG_BASE_LO_MASK) << SEG_BASE_LO_SHIFT) | \
	 ((uint64_t)(limit) & SEG_LIMIT_LO_MASK))

#define BOOT_CS_FLAGS (SEG_G | SEG_L | SEG_P | SEG_S | SEG_TYPE_CODE | SEG_TYPE_RW | \
		       SEG_TYPE_ACCESSED)
#define BOOT_DS_FLAGS (SEG_G | SEG_DB | SEG_P | SEG_S | SEG_TYPE_RW | SEG_TYPE_ACCESSED)
#define GDT_BOOT_CS   2                /* entry index: selector 0x10 */
#define GDT_BOOT_DS   3                /* selector 0x18 */
#define GDT_ENTRIES   4

static const uint64_t linux_gdt[GDT_ENTRIES] = {
	[GDT_BOOT_CS] = GDT_ENTRY(BOOT_CS_FLAGS, 0, SEG_LIMIT_4G),
	[GDT_BOOT_DS] = GDT_ENTRY(BOOT_DS_FLAGS, 0, SEG_LIMIT_4G),
};

_Static_assert(GDT_ENTRY(BOOT_CS_FLAGS, 0, SEG_LIMIT_4G) == UINT64_C(0x00af9b000000ffff),
	       "64-bit code descriptor as the kernel's boot GDT has it");
_Static_assert(GDT_ENTRY(BOOT_DS_FLAGS, 0, SEG_LIMIT_4G) == UINT64_C(0x00cf93000000ffff),
	       "data descriptor as the kernel's boot GDT has it");

/* ---- the identity map of [0, 4 GiB) ---------------------------------------------------------- */

/*
 *   MV_GPA_LINUX_PAGE_TABLES + 0x0000  PML4: [0] → PDPT
 *                            + 0x1000  PDPT: [i] → PD i, i < 4
 *                            + 0x2000  PD 0..3: [j] → 2 MiB page (i GiB + j * 2 MiB)
 */
#define PT_PAGE_SIZE      UINT64_C(0x1000)
#define PT_NR_PDS         4                            /* 4 × 1 GiB */
#define PT_PML4_GPA       MV_GPA_LINUX_PAGE_TABLES
#define PT_PDPT_GPA       (PT_PML4_GPA + PT_PAGE_SIZE)
#define PT_PD_GPA(i)      (PT_PDPT_GPA + PT_PAGE_SIZE * (1 + (uint64_t)(i)))
#define PT_TABLES_SIZE    (PT_PAGE_SIZE * (2 + PT_NR_PDS))
#define PT_ENTRIES_PER    (PT_PAGE_SIZE / sizeof(uint64_t))
#define PT_SIZE_2M_PAGE   (UINT64_C(1) << 21)
#define PT_SIZE_1G        (UINT64_C(1) << 30)
#define PT_TABLE_FLAGS    (X86_PTE_P | X86_PTE_RW)
#define PT_LEAF_FLAGS     (X86_PTE_P | X86_PTE_RW | X86_PTE_PS)

_Static_assert(MV_GPA_LINUX_ZERO_PAGE + sizeof(struct boot_params) <= MV_GPA_CMDLINE &&
	       MV_GPA_CMDLINE + MV_CMDLINE_MAX <= MV_GPA_LINUX_GDT &&
	       MV_GPA_LINUX_GDT + GDT_ENTRIES * sizeof(uint64_t) <= MV_GPA_LINUX_PAGE_TABLES &&
	       MV_GPA_LINUX_PAGE_TABLES + PT_TABLES_SIZE <= MV_GPA_LEGACY_HOLE,
	       "zero page, command line, GDT and page tables lie apart below the legacy hole");

#define RSDP_V2_SIZE 36                                /* ACPI 2.0+ RSDP */

/* ---- helpers ------------------------------------------------------------------------------- */

/* [a, a + alen) and [b, b + blen) intersect (both ends known not to wrap). */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* v rounded up to a (a power of two); callers keep v + a far below 2^64. */
static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- 1. the image -------------------------------------------------------------------------- */

/* The parsed image and the placement derived from it. */
struct linux_bz {
	const uint8_t *img;
	size_t size;
	struct setup_header hdr;    /* the image's header; fields past its end are 0 */
	size_t hdr_len;             /* bytes of it the image has, from 0x1f1 */
	uint64_t setup_size;        /* (setup_sects + 1) * 512 */
	uint64_t kernel_size;       /* the bytes after the setup code */
	gpa_t run_start;            /* where the kernel decompresses itself */
	gpa_t window_end;           /* the kernel window is [MV_GPA_KERNEL_MIN, window_end) */
	uint64_t cmdline_max;       /* longest command line accepted, without the NUL */
};

static int linux_check_version(const struct linux_bz *bz)
{
	uint16_t v = bz->hdr.version;

	if (v < LINUX_MIN_PROTOCOL)
		return mv_fail(ENOEXEC, "unsupported boot-protocol version %u.%02u (memvisor needs "
			       "%u.%02u or later with a 64-bit entry)", LINUX_VERSION_MAJOR(v),
			       LINUX_VERSION_MINOR(v), LINUX_VERSION_MAJOR(LINUX_MIN_PROTOCOL),
			       LINUX_VERSION_MINOR(LINUX_MIN_PROTOCOL));
	if (!(bz->hdr.xloadflags & XLF_KERNEL_64))
		return mv_fail(ENOEXEC, "unsupported boot-protocol version %u.%02u without a 64-bit "
			       "entry: xloadflags 0x%x lacks XLF_KERNEL_64 (memvisor needs %u.%02u "
			       "or later with a 64-bit entry)", LINUX_VERSION_MAJOR(v),
			       LINUX_VERSION_MINOR(v), bz->hdr.xloadflags,
			       LINUX_VERSION_MAJOR(LINUX_MIN_PROTOCOL),
			       LINUX_VERSION_MINOR(LINUX_MIN_PROTOCOL));
	return 0;
}

/* The header's extent from the jump at 0x200, then a copy of the header. */
static int linux_read_header(struct linux_bz *bz)
{
	const uint8_t *jump = bz->img + BZ_JUMP_OFFSET;
	uint64_t end;

	if (jump[0] != BZ_JMP_SHORT)
		return mv_fail(ENOEXEC, "malformed setup header: byte 0x%x at 0x%zx is not a short "
			       "jump (0x%x), so the header's length is unknown", jump[0],
			       (size_t)BZ_JUMP_OFFSET, BZ_JMP_SHORT);
	end = BZ_JUMP_BASE + (uint64_t)jump[1];
	if (end < BZ_HDR_END_MIN)
		return mv_fail(ENOEXEC, "malformed setup header: the jump at 0x%zx ends it at "
			       "0x%" PRIx64 ", before the end of init_size (0x%zx)",
			       (size_t)BZ_JUMP_OFFSET, end, (size_t)BZ_HDR_END_MIN);
	bz->hdr_len = (size_t)(min_u64(end, BZ_HDR_END_MAX) - BZ_HDR_OFFSET);
	memset(&bz->hdr, 0, sizeof(bz->hdr));
	memcpy(&bz->hdr, bz->img + BZ_HDR_OFFSET, bz->hdr_len);
	return 0;
}

/* setup_sects, syssize: where the kernel is in the file and that all of it is there. */
static int linux_check_extent(struct linux_bz *bz)
{
	unsigned sects = bz->hdr.setup_sects ? bz->hdr.setup_sects : BZ_DEFAULT_SETUP_SECTS;
	uint64_t sys_bytes = (uint64_t)bz->hdr.syssize * BZ_SYSSIZE_UNIT;

	bz->setup_size = (uint64_t)(sects + 1) * BZ_SECTOR_SIZE;
	if (bz->setup_size > bz->size)
		return mv_fail(ENOEXEC, "truncated bzImage: it is %zu bytes, but its setup_sects "
			       "(%u) put the setup code at 0..%" PRIu64, bz->size, sects,
			       bz->setup_size);
	bz->kernel_size = bz->size - bz->setup_size;
	if (bz->kernel_size == 0)
		return mv_fail(ENOEXEC, "bzImage of %zu bytes has no protected-mode kernel: all of "
			       "it is setup code (setup_sects %u)", bz->size, sects);
	if (sys_bytes == 0)
		return mv_fail(ENOEXEC, "malformed setup header: syssize is 0");
	if (sys_bytes > bz->kernel_size)
		return mv_fail(ENOEXEC, "truncated bzImage: it is %zu bytes, %" PRIu64 " of setup "
			       "code and %" PRIu64 " of protected-mode kernel, but syssize (0x%x) "
			       "says the kernel is %" PRIu64 " bytes", bz->size, bz->setup_size,
			       bz->kernel_size, bz->hdr.syssize, sys_bytes);
	return 0;
}

/* run_start and the kernel window (file comment); placement only, RAM is checked later. */
static int linux_check_placement(struct linux_bz *bz)
{
	const struct setup_header *h = &bz->hdr;
	uint64_t load_end = MV_GPA_KERNEL_MIN + max_u64(bz->kernel_size, h->init_size);

	if (h->relocatable_kernel) {
		if (h->kernel_alignment == 0 || (h->kernel_alignment & (h->kernel_alignment - 1)))
			return mv_fail(ENOEXEC, "malformed setup header: kernel_alignment 0x%x of a "
				       "relocatable kernel is not a power of two",
				       h->kernel_alignment);
		bz->run_start = max_u64(align_up(MV_GPA_KERNEL_MIN, h->kernel_alignment),
					h->pref_address);
	} else {
		if (h->pref_address < MV_GPA_KERNEL_MIN)
			return mv_fail(EINVAL, "non-relocatable kernel runs at pref_address "
				       "0x%" PRIx64 ", below MV_GPA_KERNEL_MIN 0x%" PRIx64,
				       (uint64_t)h->pref_address, MV_GPA_KERNEL_MIN);
		bz->run_start = h->pref_address;
	}
	if (h->init_size > MV_GPA_LOW_RAM_END || bz->run_start > MV_GPA_LOW_RAM_END - h->init_size)
		return mv_fail(EINVAL, "kernel decompresses to 0x%" PRIx64 "+0x%x (pref_address, "
			       "init_size), past the end of low RAM 0x%" PRIx64, bz->run_start,
			       h->init_size, MV_GPA_LOW_RAM_END);
	bz->window_end = max_u64(load_end, bz->run_start + h->init_size);
	return 0;
}

static int linux_parse(struct linux_bz *bz)
{
	const uint8_t *magic;
	int ret;

	if (bz->size < BZ_MIN_SIZE)
		return mv_fail(ENOEXEC, "image is %zu bytes, too small for a bzImage (at least %d: "
			       "the boot sector and the setup header)", bz->size, BZ_MIN_SIZE);
	magic = bz->img + BZ_FIELD_OFFSET(header);
	if (memcmp(magic, BZ_HDRS_MAGIC, strlen(BZ_HDRS_MAGIC)) != 0)
		return mv_fail(ENOEXEC, "not a Linux bzImage: no \"HdrS\" at 0x%zx (found %02x %02x "
			       "%02x %02x)", (size_t)BZ_FIELD_OFFSET(header), magic[0], magic[1],
			       magic[2], magic[3]);
	/* version and xloadflags lie in the first 1024 bytes, whatever the jump says */
	memcpy(&bz->hdr, bz->img + BZ_HDR_OFFSET, sizeof(bz->hdr));
	ret = linux_check_version(bz);
	if (ret)
		return ret;
	ret = linux_read_header(bz);
	if (ret)
		return ret;
	if (!(bz->hdr.loadflags & LOADED_HIGH))
		return mv_fail(ENOEXEC, "loadflags 0x%x lacks LOADED_HIGH: a zImage, which runs at "
			       "0x10000; only bzImages are supported", bz->hdr.loadflags);
	ret = linux_check_extent(bz);
	if (ret)
		return ret;
	return linux_check_placement(bz);
}

/* ---- 2./3. command line and guest ---------------------------------------------------------- */

static int linux_check_cmdline(struct linux_bz *bz, const char *cmdline, size_t *len)
{
	bz->cmdline_max = min_u64(bz->hdr.cmdline_size, MV_CMDLINE_MAX - 1);
	*len = cmdline ? strlen(cmdline) : 0;
	if (*len > bz->cmdline_max)
		return mv_fail(EINVAL, "command line is %zu bytes, longer than %" PRIu64 ": the "
			       "kernel's cmdline_size is %u and %" PRIu64 " fit at 0x%" PRIx64, *len,
			       bz->cmdline_max, bz->hdr.cmdline_size, MV_CMDLINE_MAX - 1,
			       MV_GPA_CMDLINE);
	return 0;
}

/* The pages the loader writes below 1 MiB, and the RSDP, are guest RAM. */
static int linux_check_boot_pages(const struct guest_mem *gm, uint64_t rsdp_gpa)
{
	static const struct {
		const char *what;
		gpa_t gpa;
		uint64_t len;
	} page[] = {
		{ "zero page", MV_GPA_LINUX_ZERO_PAGE, sizeof(struct boot_params) },
		{ "command line page", MV_GPA_CMDLINE, MV_CMDLINE_MAX },
		{ "boot GDT", MV_GPA_LINUX_GDT, sizeof(linux_gdt) },
		{ "page tables", MV_GPA_LINUX_PAGE_TABLES, PT_TABLES_SIZE },
	};

	for (size_t i = 0; i < sizeof(page) / sizeof(page[0]); i++)
		if (!guest_mem_ptr(gm, page[i].gpa, page[i].len))
			return mv_fail(EINVAL, "%s 0x%" PRIx64 "+0x%" PRIx64 " is not guest RAM",
				       page[i].what, page[i].gpa, page[i].len);
	if (rsdp_gpa && !guest_mem_ptr(gm, rsdp_gpa, RSDP_V2_SIZE))
		return mv_fail(EINVAL, "RSDP at 0x%" PRIx64 "+%d is not guest RAM", rsdp_gpa,
			       RSDP_V2_SIZE);
	return 0;
}

static int linux_check_window(const struct linux_bz *bz, const struct guest_mem *gm)
{
	gpa_t hole;

	if (!loader_gm_is_ram(gm, MV_GPA_KERNEL_MIN, bz->window_end - MV_GPA_KERNEL_MIN, &hole))
		return mv_fail(EINVAL, "kernel needs guest RAM at [0x%" PRIx64 ", 0x%" PRIx64 ") "
			       "(%" PRIu64 " bytes loaded at 0x%" PRIx64 ", init_size 0x%x from "
			       "0x%" PRIx64 " where it decompresses), but 0x%" PRIx64 " is not RAM",
			       MV_GPA_KERNEL_MIN, bz->window_end, bz->kernel_size, MV_GPA_KERNEL_MIN,
			       bz->hdr.init_size, bz->run_start, hole);
	return 0;
}

/* ---- 4. the initrd ------------------------------------------------------------------------- */

/*
 * Place isize bytes page-aligned as high as possible in one run of guest RAM (regions that
 * touch form one run) inside [window_end, limit), limit = min(initrd_addr_max + 1,
 * MV_GPA_LOW_RAM_END); loader_place_top() does the search:
 *
 *   1 MiB        window_end         run end or limit
 *   | kernel window |   free   | initrd |
 *                               ^ align_down(top - isize, 4 KiB)
 */
static int linux_place_initrd(const struct linux_bz *bz, const struct guest_mem *gm,
			      uint64_t isize, gpa_t *gpa)
{
	uint64_t limit = min_u64((uint64_t)bz->hdr.initrd_addr_max + 1, MV_GPA_LOW_RAM_END);
	uint64_t room;
	gpa_t hole;

	_Static_assert(LOADER_PLACE_ALIGN == PT_PAGE_SIZE, "the initrd is page-aligned");
	if (!loader_place_top(gm, bz->window_end, limit, isize, gpa, &room))
		return mv_fail(EINVAL, "initrd of %" PRIu64 " bytes does not fit in guest RAM below "
			       "0x%" PRIx64 " (largest room: %" PRIu64 " bytes, above the kernel "
			       "window ending at 0x%" PRIx64 ")", isize, limit, room,
			       bz->window_end);
	/* Impossible by construction; checked so a placement bug cannot corrupt the kernel. */
	if (ranges_overlap(*gpa, isize, MV_GPA_KERNEL_MIN, bz->window_end - MV_GPA_KERNEL_MIN) ||
	    !loader_gm_is_ram(gm, *gpa, isize, &hole))
		return mv_fail(EFAULT, "internal error: initrd placed at 0x%" PRIx64 "+0x%" PRIx64
			       " overlaps the kernel window [0x%" PRIx64 ", 0x%" PRIx64 ") or is "
			       "not RAM", *gpa, isize, MV_GPA_KERNEL_MIN, bz->window_end);
	return 0;
}

/* ---- 5. writing ---------------------------------------------------------------------------- */

static void linux_fill_zero_page(const struct linux_bz *bz, struct boot_params *bp,
				 const struct hvm_memmap_table_entry *map, int nmap,
				 gpa_t initrd_gpa, uint64_t isize, uint64_t rsdp_gpa)
{
	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, bz->img + BZ_HDR_OFFSET, bz->hdr_len);
	bp->hdr.type_of_loader = LINUX_LOADER_UNDEFINED;
	bp->hdr.cmd_line_ptr = (uint32_t)MV_GPA_CMDLINE;
	bp->ext_cmd_line_ptr = (uint32_t)(MV_GPA_CMDLINE >> 32);
	bp->hdr.ramdisk_image = (uint32_t)initrd_gpa;
	bp->ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
	bp->hdr.ramdisk_size = (uint32_t)isize;
	bp->ext_ramdisk_size = (uint32_t)(isize >> 32);
	bp->hdr.setup_data = 0;                 /* memvisor passes no setup_data list */
	if (bz->hdr.version >= LINUX_PROTOCOL_RSDP)
		bp->acpi_rsdp_addr = rsdp_gpa;
	for (int i = 0; i < nmap; i++)
		bp->e820_table[i] = (struct boot_e820_entry){ .addr = map[i].addr,
							      .size = map[i].size,
							      .type = map[i].type };
	bp->e820_entries = (uint8_t)nmap;
}

static void linux_write_page_tables(uint8_t *pt)
{
	uint64_t w;

	memset(pt, 0, PT_TABLES_SIZE);
	w = PT_PDPT_GPA | PT_TABLE_FLAGS;
	memcpy(pt, &w, sizeof(w));
	for (unsigned i = 0; i < PT_NR_PDS; i++) {
		uint8_t *pd = pt + (PT_PD_GPA(i) - PT_PML4_GPA);

		w = PT_PD_GPA(i) | PT_TABLE_FLAGS;
		memcpy(pt + (PT_PDPT_GPA - PT_PML4_GPA) + i * sizeof(w), &w, sizeof(w));
		for (uint64_t j = 0; j < PT_ENTRIES_PER; j++) {
			w = (i * PT_SIZE_1G + j * PT_SIZE_2M_PAGE) | PT_LEAF_FLAGS;
			memcpy(pd + j * sizeof(w), &w, sizeof(w));
		}
	}
}

/* Everything was checked: write. loader_gm_fill() failing means a validation bug. */
static int linux_write(const struct linux_bz *bz, const struct guest_mem *gm,
		       const struct boot_params *bp, const char *cmdline, size_t cl_len,
		       const uint8_t *initrd, gpa_t initrd_gpa, uint64_t isize)
{
	uint8_t *cl = guest_mem_ptr(gm, MV_GPA_CMDLINE, MV_CMDLINE_MAX);

	memcpy(guest_mem_ptr(gm, MV_GPA_LINUX_ZERO_PAGE, sizeof(*bp)), bp, sizeof(*bp));
	memset(cl, 0, MV_CMDLINE_MAX);
	if (cl_len)
		memcpy(cl, cmdline, cl_len);
	memcpy(guest_mem_ptr(gm, MV_GPA_LINUX_GDT, sizeof(linux_gdt)), linux_gdt,
	       sizeof(linux_gdt));
	linux_write_page_tables(guest_mem_ptr(gm, MV_GPA_LINUX_PAGE_TABLES, PT_TABLES_SIZE));
	if (!loader_gm_fill(gm, MV_GPA_KERNEL_MIN, bz->img + bz->setup_size, bz->kernel_size))
		return mv_fail(EFAULT, "internal error: kernel at 0x%" PRIx64 "+0x%" PRIx64 " was "
			       "accepted but cannot be written", MV_GPA_KERNEL_MIN, bz->kernel_size);
	if (isize && !loader_gm_fill(gm, initrd_gpa, initrd, isize))
		return mv_fail(EFAULT, "internal error: initrd at 0x%" PRIx64 "+0x%" PRIx64 " was "
			       "accepted but cannot be written", initrd_gpa, isize);
	return 0;
}

/* ---- entry points -------------------------------------------------------------------------- */

/* linux_load(), with kname / iname (NULL: none) prefixed to errors about the kernel / initrd. */
static int linux_load_named(const struct machine_config *m, struct guest_mem *gm,
			    const uint8_t *kernel, size_t ksize, const uint8_t *initrd,
			    size_t isize, const char *cmdline, uint64_t rsdp_gpa,
			    struct boot_entry *e, struct linux_image *out, const char *kname,
			    const char *iname)
{
	struct hvm_memmap_table_entry map[PVH_MEMMAP_MAX];
	struct linux_bz bz = { .img = kernel, .size = ksize };
	struct boot_params bp;
	gpa_t initrd_gpa = 0;
	size_t cl_len;
	int ret, nmap;

	if (!m || !gm || !kernel || !e)
		return mv_fail(EINVAL, "linux_load: machine, guest memory, kernel and entry must "
			       "not be NULL");
	if (!initrd && isize)
		return mv_fail(EINVAL, "linux_load: initrd is NULL but its size is %zu", isize);
	ret = mv_fail_prefix(linux_parse(&bz), kname);
	if (ret)
		return ret;
	ret = linux_check_cmdline(&bz, cmdline, &cl_len);
	if (ret)
		return ret;
	ret = linux_check_boot_pages(gm, rsdp_gpa);
	if (ret)
		return ret;
	nmap = pvh_build_memmap(m, map, PVH_MEMMAP_MAX);
	if (nmap < 0)
		return nmap;
	ret = mv_fail_prefix(linux_check_window(&bz, gm), kname);
	if (ret)
		return ret;
	if (isize) {
		ret = mv_fail_prefix(linux_place_initrd(&bz, gm, isize, &initrd_gpa), iname);
		if (ret)
			return ret;
	}

	linux_fill_zero_page(&bz, &bp, map, nmap, initrd_gpa, isize, rsdp_gpa);
	ret = linux_write(&bz, gm, &bp, cmdline, cl_len, initrd, initrd_gpa, isize);
	if (ret)
		return ret;
	*e = (struct boot_entry){
		.protocol = BOOT_LINUX,
		.rip = MV_GPA_KERNEL_MIN + LINUX_ENTRY_64_OFFSET,
		.rsi = MV_GPA_LINUX_ZERO_PAGE,
		.cr3 = MV_GPA_LINUX_PAGE_TABLES,
		.gdt = MV_GPA_LINUX_GDT,
		.gdt_limit = sizeof(linux_gdt) - 1,
	};
	if (out)
		*out = (struct linux_image){
			.protocol = bz.hdr.version,
			.kernel_gpa = MV_GPA_KERNEL_MIN,
			.kernel_size = bz.kernel_size,
			.init_size = bz.hdr.init_size,
			.kernel_end = bz.window_end,
			.initrd_gpa = initrd_gpa,
			.initrd_size = isize,
		};
	return 0;
}

int linux_load(const struct machine_config *m, struct guest_mem *gm, const uint8_t *kernel,
	       size_t ksize, const uint8_t *initrd, size_t isize, const char *cmdline,
	       uint64_t rsdp_gpa, struct boot_entry *e, struct linux_image *out)
{
	return linux_load_named(m, gm, kernel, ksize, initrd, isize, cmdline, rsdp_gpa, e, out,
				NULL, NULL);
}

int linux_load_files(const struct machine_config *m, struct guest_mem *gm,
		     const char *kernel_path, const char *initrd_path, const char *cmdline,
		     uint64_t rsdp_gpa, struct boot_entry *e, struct linux_image *out)
{
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t ksize = 0, isize = 0;
	int ret;

	if (!kernel_path)
		return mv_fail(EINVAL, "linux_load_files: no kernel path");
	ret = loader_read_file(kernel_path, LINUX_MAX_FILE_SIZE, "a kernel image", &kernel, &ksize);
	if (ret)
		goto out;
	if (initrd_path) {
		ret = loader_read_file(initrd_path, LINUX_MAX_FILE_SIZE, "an initrd", &initrd,
				      &isize);
		if (ret)
			goto out;
	}
	ret = linux_load_named(m, gm, kernel, ksize, initrd, isize, cmdline, rsdp_gpa, e, out,
			       kernel_path, initrd_path);
out:
	free(initrd);
	free(kernel);
	return ret;
}
