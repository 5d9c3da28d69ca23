/*
 * Unit tests for the multiboot v1 loader (vmm/boot_multiboot.h): the header search and flags,
 * the ELF32 image, the information structure, memory map, modules and strings it writes, the
 * entry state, and multiboot_load_files()'s files, command line and module list.
 *
 * Images are ELF32 i386 executables built in memory by the builder below (ELF header, program
 * headers, a multiboot header at MB_OFF, segment data from IMG_DATA); a test breaks one field
 * and checks the loader names it. Guest memory is two static buffers between guard bytes, every
 * byte primed with 0xa5, described to the loader both as guest_mem regions and as the matching
 * machine_config (for the memory map):
 *
 *   adjacent (default)                         with a hole (HOLE_GPA)
 *   0        4 MiB            8 MiB            0        4 MiB    12 MiB          16 MiB
 *   | region 0 | region 1     |                | region 0 |  hole  | region 1     |
 *   | node 0   | node 1       |                | node 0   |        | node 1       |
 *
 * Every rejection test checks that guest memory is untouched (guards included); every success
 * test that the guards are intact and that nothing outside what the loader owns was written.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memvisor/layout.h>
#include <memvisor/multiboot.h>
#include <memvisor/pvh.h>

#include "boot_multiboot.h"
#include "boot_pvh.h"
#include "error.h"
#include "machine.h"
#include "mvtest.h"
#include "loader_fixture.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)

/* The last mv_error() contains substr. */
#define CHECK_ERROR(substr) CHECK_CONTAINS(mv_error(), (substr))

/* ---- guest memory and machine fixture (loader_fixture.h) ----------------------------------- */

#define REGION_SIZE  (4 * MIB)
#define ADJACENT_GPA (4 * MIB)      /* region 1 right after region 0 */
#define HOLE_GPA     (12 * MIB)     /* region 1 after an 8 MiB hole */

static uint8_t backing[2][LF_GUARD + REGION_SIZE + LF_GUARD];

static struct lf_guest the_guest;

static struct lf_guest *guest_init(gpa_t region1_gpa)
{
	lf_init_two(&the_guest, backing[0], backing[1], REGION_SIZE, region1_gpa);
	return &the_guest;
}

static uint32_t rd32(struct lf_guest *g, gpa_t gpa)
{
	uint32_t v;

	memcpy(&v, lf_byte(g, gpa), sizeof(v));
	return v;
}

/* ---- ELF32 + multiboot image builder --------------------------------------------------------- */

#define IMG_CAP       (64 * KIB)
#define IMG_MAX_PH    8
#define MB_OFF        0x200          /* the multiboot header, past the ELF and program headers */
#define IMG_DATA      0x400          /* segment data starts here */
#define KBASE         (2 * MIB)      /* where the standard image's text loads */
#define KENTRY        (KBASE + 0x10)
#define KDATA         (3 * MIB)      /* its data + bss segment */
#define KDATA_MEMSZ   0x1234
#define KEND_PAGE     (KDATA + 0x2000)   /* first page boundary above the kernel */
#define MB_FLAGS_STD  (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO)

struct tphdr {
	uint32_t type, flags;
	uint32_t offset, filesz, memsz, paddr, vaddr;   /* vaddr 0: = paddr */
};

/* Header fields are plain members so a test can break one before img_finish() writes them. */
struct img {
	uint8_t ident_class;
	uint16_t type, machine;
	uint32_t entry, phoff;
	struct tphdr ph[IMG_MAX_PH];
	unsigned phnum;
	uint32_t mb_off, mb_magic, mb_flags;
	bool mb_bad_checksum;
	size_t size;
	uint8_t buf[IMG_CAP];
};

static struct img the_img;

static struct img *img_new(void)
{
	struct img *im = &the_img;

	memset(im, 0, sizeof(*im));
	im->ident_class = ELFCLASS32;
	im->type = ET_EXEC;
	im->machine = EM_386;
	im->phoff = sizeof(Elf32_Ehdr);
	im->mb_off = MB_OFF;
	im->mb_magic = MULTIBOOT_HEADER_MAGIC;
	im->mb_flags = MB_FLAGS_STD;
	im->size = IMG_DATA;
	return im;
}

/* A PT_LOAD of filesz pattern bytes at paddr (file offset: the end of the image, 16-aligned). */
static unsigned img_add_load(struct img *im, uint32_t paddr, uint32_t filesz, uint32_t memsz)
{
	uint32_t off = (uint32_t)((im->size + 15) & ~(size_t)15);

	if (off + filesz > IMG_CAP || im->phnum == IMG_MAX_PH)
		mvt_fail(__FILE__, __LINE__, "test bug: image builder out of room");
	for (uint32_t i = 0; i < filesz; i++)
		im->buf[off + i] = (uint8_t)(i * 7 + 3 + im->phnum);
	im->size = off + filesz;
	im->ph[im->phnum] = (struct tphdr){ .type = PT_LOAD, .flags = PF_R | PF_X, .offset = off,
					    .filesz = filesz, .memsz = memsz, .paddr = paddr };
	return im->phnum++;
}

/* Write the ELF header, program headers and multiboot header; returns the image size. */
static size_t img_finish(struct img *im)
{
	Elf32_Ehdr h = { .e_type = im->type, .e_machine = im->machine, .e_version = EV_CURRENT,
			 .e_entry = im->entry, .e_phoff = im->phoff, .e_ehsize = sizeof(h),
			 .e_phentsize = sizeof(Elf32_Phdr), .e_phnum = (uint16_t)im->phnum };
	uint32_t mb[3] = { im->mb_magic, im->mb_flags, -(im->mb_magic + im->mb_flags) };

	memcpy(h.e_ident, ELFMAG, SELFMAG);
	h.e_ident[EI_CLASS] = im->ident_class;
	h.e_ident[EI_DATA] = ELFDATA2LSB;
	h.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(im->buf, &h, sizeof(h));
	for (unsigned i = 0; i < im->phnum; i++) {
		const struct tphdr *t = &im->ph[i];
		Elf32_Phdr p = { .p_type = t->type, .p_offset = t->offset, .p_paddr = t->paddr,
				 .p_vaddr = t->vaddr ? t->vaddr : t->paddr, .p_filesz = t->filesz,
				 .p_memsz = t->memsz, .p_align = 0x1000, .p_flags = t->flags };

		memcpy(im->buf + sizeof(h) + i * sizeof(p), &p, sizeof(p));
	}
	if (im->mb_bad_checksum)
		mb[2] ^= 1;
	if (im->mb_off + sizeof(mb) > IMG_CAP)
		mvt_fail(__FILE__, __LINE__, "test bug: multiboot header past the image buffer");
	memcpy(im->buf + im->mb_off, mb, sizeof(mb));
	if (im->size < im->mb_off + sizeof(mb))
		im->size = im->mb_off + sizeof(mb);
	return im->size;
}

/*
 * The standard image: segment 0 is 0x100 text bytes at KBASE (0x1000 in memory), segment 1 is
 * 0x80 data bytes at KDATA with KDATA_MEMSZ in memory (bss); the entry is KENTRY.
 */
static struct img *img_std(void)
{
	struct img *im = img_new();

	img_add_load(im, KBASE, 0x100, 0x1000);
	img_add_load(im, KDATA, 0x80, KDATA_MEMSZ);
	im->entry = KENTRY;
	return im;
}

/* Module data buffers (pattern bytes, different per module). */
static uint8_t mod_data[3][2 * MIB];

static struct multiboot_module mod(unsigned i, size_t size, const char *string)
{
	for (size_t b = 0; b < size && b < sizeof(mod_data[i]); b++)
		mod_data[i][b] = (uint8_t)(b * 11 + 5 * i + 1);
	return (struct multiboot_module){ .data = mod_data[i], .size = size, .string = string };
}

#define CMDLINE "/boot/kernel.elf console=ttyS0"

/* multiboot_load() of im into a fresh guest with region 1 at region1_gpa. */
static int load(struct lf_guest **gp, gpa_t region1_gpa, struct img *im, const char *cmdline,
		const struct multiboot_module *mods, unsigned nr, struct boot_entry *e)
{
	size_t size = img_finish(im);

	*gp = guest_init(region1_gpa);
	mv_error_clear();
	return multiboot_load(&(*gp)->m, &(*gp)->gm, im->buf, size, cmdline, mods, nr, e);
}

/* im (with mods) must be rejected with -err, an error containing what, memory untouched. */
static void expect_reject_mods(struct img *im, gpa_t region1_gpa, const char *cmdline,
			       const struct multiboot_module *mods, unsigned nr, int err,
			       const char *what)
{
	struct boot_entry e = { .rip = 0x1234 };
	struct lf_guest *g;

	CHECK_EQ(load(&g, region1_gpa, im, cmdline, mods, nr, &e), -err);
	CHECK_ERROR(what);
	CHECK_EQ_U(e.rip, 0x1234);              /* the entry is not filled either */
	lf_check_untouched(g);
}

static void expect_reject(struct img *im, int err, const char *what)
{
	expect_reject_mods(im, ADJACENT_GPA, CMDLINE, NULL, 0, err, what);
}

/* ---- rejected: arguments -------------------------------------------------------------------- */

TEST(rejects_null_arguments)
{
	struct img *im = img_std();
	size_t size = img_finish(im);
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	struct boot_entry e;

	CHECK_EQ(multiboot_load(NULL, &g->gm, im->buf, size, "", NULL, 0, &e), -EINVAL);
	CHECK_ERROR("must not be NULL");
	CHECK_EQ(multiboot_load(&g->m, NULL, im->buf, size, "", NULL, 0, &e), -EINVAL);
	CHECK_EQ(multiboot_load(&g->m, &g->gm, NULL, size, "", NULL, 0, &e), -EINVAL);
	CHECK_EQ(multiboot_load(&g->m, &g->gm, im->buf, size, NULL, NULL, 0, &e), -EINVAL);
	CHECK_EQ(multiboot_load(&g->m, &g->gm, im->buf, size, "", NULL, 0, NULL), -EINVAL);
	CHECK_EQ(multiboot_load(&g->m, &g->gm, im->buf, size, "", NULL, 1, &e), -EINVAL);
	lf_check_untouched(g);
}

TEST(rejects_a_module_without_string_or_data)
{
	struct multiboot_module m = { .data = NULL, .size = 1, .string = "x" };

	expect_reject_mods(img_std(), ADJACENT_GPA, CMDLINE, &m, 1, EINVAL, "module 0 has no");
	m = (struct multiboot_module){ .data = mod_data[0], .size = 1, .string = NULL };
	expect_reject_mods(img_std(), ADJACENT_GPA, CMDLINE, &m, 1, EINVAL, "module 0 has no");
}

TEST(rejects_too_many_modules)
{
	struct multiboot_module m[MULTIBOOT_MAX_MODULES + 1];

	for (unsigned i = 0; i <= MULTIBOOT_MAX_MODULES; i++)
		m[i] = mod(0, 16, "m");
	expect_reject_mods(img_std(), ADJACENT_GPA, CMDLINE, m, MULTIBOOT_MAX_MODULES + 1, EINVAL,
			   "33 modules are more than the 32");
}

/* ---- rejected: the multiboot header ----------------------------------------------------------- */

TEST(rejects_an_image_without_header)
{
	struct img *im = img_std();

	im->mb_magic = 0x1badb003;
	expect_reject(im, ENOEXEC, "no multiboot header (magic 0x1badb002, 4-byte aligned) in the "
		      "first 8192 bytes");
}

TEST(rejects_a_misaligned_header)
{
	struct img *im = img_std();

	im->mb_off = MB_OFF + 2;
	expect_reject(im, ENOEXEC, "no multiboot header");
}

TEST(rejects_a_header_after_the_first_8k)
{
	struct img *im = img_std();

	im->mb_off = MULTIBOOT_SEARCH;
	expect_reject(im, ENOEXEC, "no multiboot header");
}

TEST(rejects_a_header_crossing_the_8k_boundary)
{
	struct img *im = img_std();

	im->mb_off = MULTIBOOT_SEARCH - 8;      /* magic inside, flags and checksum past it */
	expect_reject(im, ENOEXEC, "multiboot header at offset 8184 runs past the first 8192 "
		      "bytes");
}

TEST(rejects_a_truncated_header)
{
	struct img *im = img_std();
	struct boot_entry e;
	struct lf_guest *g;

	img_finish(im);
	g = guest_init(ADJACENT_GPA);
	/* The image ends inside the header: the magic is not even considered. */
	CHECK_EQ(multiboot_load(&g->m, &g->gm, im->buf, MB_OFF + 8, CMDLINE, NULL, 0, &e),
		 -ENOEXEC);
	CHECK_ERROR("no multiboot header");
	lf_check_untouched(g);
}

TEST(rejects_a_bad_checksum)
{
	struct img *im = img_std();

	im->mb_bad_checksum = true;
	expect_reject(im, ENOEXEC, "multiboot header at offset 512: bad checksum");
	CHECK_ERROR("(magic + flags + checksum is 0xffffffff, not 0)");
}

TEST(rejects_address_fields)
{
	struct img *im = img_std();

	im->mb_flags |= MULTIBOOT_AOUT_KLUDGE;
	expect_reject(im, ENOEXEC, "multiboot header at offset 512 asks for address fields (flag "
		      "16), which memvisor does not support: link the kernel as ELF without them");
}

TEST(rejects_a_video_mode)
{
	struct img *im = img_std();

	im->mb_flags |= MULTIBOOT_VIDEO_MODE;
	expect_reject(im, ENOEXEC, "multiboot header at offset 512 requires a video mode (flag 2): "
		      "memvisor has no video");
}

TEST(rejects_unknown_required_bits)
{
	struct img *im = img_std();

	im->mb_flags |= UINT32_C(1) << 3 | UINT32_C(1) << 15;
	expect_reject(im, ENOEXEC, "requires flag bits 3, 15 (flags 0x0000800b), which memvisor "
		      "does not support");
	im = img_std();
	im->mb_flags |= MULTIBOOT_VIDEO_MODE | UINT32_C(1) << 5;
	expect_reject(im, ENOEXEC, "requires flag bits 2, 5");
	CHECK_ERROR("bit 2 asks for video");
}

/* ---- rejected: the ELF image ------------------------------------------------------------------ */

TEST(rejects_elf64)
{
	struct img *im = img_std();

	im->ident_class = ELFCLASS64;
	im->machine = EM_X86_64;
	expect_reject(im, ENOEXEC, "ELF class (e_ident[EI_CLASS]) 2 is not ELFCLASS32 (1): a "
		      "multiboot kernel is an ELF32 image");
}

TEST(rejects_an_unknown_class_without_the_elf32_hint)
{
	struct img *im = img_std();

	im->ident_class = 7;
	expect_reject(im, ENOEXEC, "ELF class (e_ident[EI_CLASS]) 7 is not ELFCLASS32 (1)");
	CHECK(!strstr(mv_error(), "link it"));
}

TEST(rejects_elf32_x86_64_code)
{
	struct img *im = img_std();

	im->machine = EM_X86_64;
	expect_reject(im, ENOEXEC, "e_machine 62 is not EM_386 (3)");
}

TEST(rejects_a_relocatable_object)
{
	struct img *im = img_std();

	im->type = ET_REL;
	expect_reject(im, ENOEXEC, "e_type 1 is not ET_EXEC");
}

TEST(rejects_a_header_without_elf)
{
	struct img *im = img_std();

	img_finish(im);
	memset(im->buf, 0, sizeof(Elf32_Ehdr));
	{
		struct lf_guest *g = guest_init(ADJACENT_GPA);
		struct boot_entry e;

		CHECK_EQ(multiboot_load(&g->m, &g->gm, im->buf, im->size, CMDLINE, NULL, 0, &e),
			 -ENOEXEC);
		CHECK_ERROR("not an ELF image: bad magic 00 00 00 00");
		lf_check_untouched(g);
	}
}

TEST(rejects_a_truncated_segment)
{
	struct img *im = img_std();
	struct boot_entry e;
	struct lf_guest *g;
	size_t size = img_finish(im);

	g = guest_init(ADJACENT_GPA);
	CHECK_EQ(multiboot_load(&g->m, &g->gm, im->buf, size - 1, CMDLINE, NULL, 0, &e), -ENOEXEC);
	CHECK_ERROR("segment 1: file range");
	CHECK_ERROR("is past the end of the image");
	lf_check_untouched(g);
}

TEST(rejects_a_truncated_program_header_table)
{
	struct img *im = img_std();

	im->phoff = IMG_CAP;
	expect_reject(im, ENOEXEC, "program header table 0x10000+0x40");
}

TEST(rejects_a_segment_below_1mib)
{
	struct img *im = img_std();

	im->ph[0].paddr = MV_GPA_KERNEL_MIN - 0x1000;
	im->entry = (uint32_t)(MV_GPA_KERNEL_MIN - 0x1000);
	expect_reject(im, EINVAL, "segment 0: p_paddr 0xff000 is below MV_GPA_KERNEL_MIN");
}

TEST(rejects_a_segment_outside_ram)
{
	struct img *im = img_std();

	im->ph[1].paddr = 5 * MIB;              /* the hole of the HOLE_GPA layout */
	expect_reject_mods(im, HOLE_GPA, CMDLINE, NULL, 0, EINVAL,
			   "segment 1: guest range 0x500000+0x1234 is not all guest RAM");
}

TEST(rejects_a_segment_running_into_the_hole)
{
	struct img *im = img_std();

	im->ph[1].paddr = 4 * MIB - 0x1000;     /* ends 0x234 bytes past region 0 */
	expect_reject_mods(im, HOLE_GPA, CMDLINE, NULL, 0, EINVAL,
			   "(0x400000 is not RAM)");
}

TEST(rejects_overlapping_segments)
{
	struct img *im = img_std();

	im->ph[1].paddr = KBASE + 0x800;
	expect_reject(im, ENOEXEC, "segments 0 and 1 overlap in guest memory");
}

TEST(rejects_an_entry_outside_the_loaded_bytes)
{
	struct img *im = img_std();

	im->entry = KBASE + 0x100;              /* in segment 0's bss, not its file bytes */
	expect_reject(im, ENOEXEC, "entry 0x200100 (e_entry 0x200100) is not inside the file bytes "
		      "of any PT_LOAD segment");
}

/* ---- rejected: modules, strings and the memory map --------------------------------------------- */

TEST(rejects_a_module_too_big_for_ram_before_the_hole)
{
	/* Modules start at KEND_PAGE; region 0 ends at 4 MiB, then the hole. */
	struct multiboot_module m[2] = { mod(0, 0x1000, "mod0"),
					 mod(1, 4 * MIB - KEND_PAGE - 0x1000 + 1, "big arg") };

	expect_reject_mods(img_std(), HOLE_GPA, CMDLINE, m, 2, EINVAL,
			   "module 1 (\"big arg\", 1036289 bytes) does not fit: it would go at "
			   "0x303000, where 0xfd000 bytes of guest RAM run without a hole below "
			   "0xc0000000");
}

TEST(rejects_a_module_past_the_end_of_ram)
{
	struct multiboot_module m = mod(0, 2 * MIB, "m");
	struct img *im = img_new();

	img_add_load(im, 7 * MIB, 0x100, MIB - 0x800);      /* ends 0x800 below 8 MiB */
	im->entry = 7 * MIB;
	/* The module would start at 8 MiB, past the end of region 1: no room at all. */
	expect_reject_mods(im, ADJACENT_GPA, CMDLINE, &m, 1, EINVAL, "where 0x0 bytes of guest RAM");
}

TEST(rejects_a_command_line_longer_than_its_page)
{
	static char cl[MV_CMDLINE_MAX + 1];

	memset(cl, 'c', MV_CMDLINE_MAX);
	expect_reject_mods(img_std(), ADJACENT_GPA, cl, NULL, 0, EINVAL,
			   "the command line (4096 bytes and its NUL) does not fit the 4096-byte "
			   "strings page at 0x7000");
}

TEST(rejects_a_command_line_leaving_no_room_for_the_loader_name)
{
	static char cl[MV_CMDLINE_MAX];

	memset(cl, 'c', MV_CMDLINE_MAX - 5);    /* + NUL: 4092 bytes; "memvisor\0" needs 9 */
	expect_reject_mods(img_std(), ADJACENT_GPA, cl, NULL, 0, EINVAL,
			   "the boot loader name \"memvisor\" does not fit");
}

TEST(rejects_module_strings_that_do_not_fit)
{
	static char s[2][MV_CMDLINE_MAX];
	struct multiboot_module m[2];

	memset(s, 'm', sizeof(s));
	s[0][2000] = '\0';
	s[1][2055] = '\0';
	m[0] = mod(0, 16, s[0]);
	m[1] = mod(1, 16, s[1]);
	/* 31 + 9 + 2001 bytes used, 2055 left; module 1 needs 2056 (one too many). */
	expect_reject_mods(img_std(), ADJACENT_GPA, CMDLINE, m, 2, EINVAL,
			   "module 1's string (2055 bytes and its NUL) does not fit the 4096-byte "
			   "strings page at 0x7000: 2041 bytes are used");
}

TEST(rejects_a_machine_without_a_valid_memory_map)
{
	struct img *im = img_std();
	size_t size = img_finish(im);
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	struct boot_entry e;

	g->m.nodes[1].ranges[0].gpa = 2 * MIB;  /* overlaps node 0 */
	CHECK_EQ(multiboot_load(&g->m, &g->gm, im->buf, size, CMDLINE, NULL, 0, &e), -EINVAL);
	CHECK_ERROR("overlaps");
	lf_check_untouched(g);
}

TEST(rejects_boot_pages_that_are_not_ram)
{
	struct img *im = img_std();
	size_t size = img_finish(im);
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	struct boot_entry e;

	/* Region 0 starts at 1 MiB in guest_mem (the machine still says 0). */
	g->gm.r[0].gpa = MIB;
	g->gm.r[0].size = REGION_SIZE - MIB;
	CHECK_EQ(multiboot_load(&g->m, &g->gm, im->buf, size, CMDLINE, NULL, 0, &e), -EINVAL);
	CHECK_ERROR("multiboot information page 0x6000 or strings page 0x7000 is not guest RAM");
	lf_check_untouched(g);
}

/* ---- loaded: segments, entry, information ------------------------------------------------------ */

/* Segment i of im is in guest memory: its file bytes, then zeroes up to memsz. */
static void check_segment(struct lf_guest *g, const struct img *im, unsigned i)
{
	const struct tphdr *t = &im->ph[i];

	CHECK(memcmp(lf_byte(g, t->paddr), im->buf + t->offset, t->filesz) == 0);
	for (uint32_t b = t->filesz; b < t->memsz; b++)
		CHECK_EQ_U(*lf_byte(g, t->paddr + b), 0);
}

/* Nothing outside what the loader owns was written: page 0 .. 0x5fff, 0x8000 .. 1 MiB. */
static void check_low_memory_untouched(struct lf_guest *g)
{
	lf_check_primed(g, 0, MV_GPA_MULTIBOOT_INFO);
	lf_check_primed(g, MV_GPA_CMDLINE + MV_CMDLINE_MAX, MV_GPA_KERNEL_MIN - MV_GPA_CMDLINE -
		     MV_CMDLINE_MAX);
	lf_check_guards(g);
}

TEST(loads_segments_and_zeroes_the_bss)
{
	struct img *im = img_std();
	struct boot_entry e;
	struct lf_guest *g;

	CHECK_EQ(load(&g, ADJACENT_GPA, im, CMDLINE, NULL, 0, &e), 0);
	check_segment(g, im, 0);
	check_segment(g, im, 1);
	CHECK_EQ_U(*lf_byte(g, KBASE + 0x1000), LF_PRIME);            /* past memsz */
	CHECK_EQ_U(*lf_byte(g, KDATA + KDATA_MEMSZ), LF_PRIME);
	CHECK_EQ_U(*lf_byte(g, KBASE - 1), LF_PRIME);
	check_low_memory_untouched(g);
}

TEST(sets_the_entry_state)
{
	struct img *im = img_std();
	struct boot_entry e;
	struct lf_guest *g;

	memset(&e, 0xff, sizeof(e));
	CHECK_EQ(load(&g, ADJACENT_GPA, im, CMDLINE, NULL, 0, &e), 0);
	CHECK_EQ(e.protocol, BOOT_MULTIBOOT);
	CHECK_EQ_U(e.rip, KENTRY);
	CHECK_EQ_U(e.rax, MULTIBOOT_BOOTLOADER_MAGIC);
	CHECK_EQ_U(e.rbx, MV_GPA_MULTIBOOT_INFO);
	CHECK_EQ_U(e.rsi, 0);
	CHECK_EQ_U(e.cr3, 0);
	CHECK_EQ_U(e.gdt, 0);
	CHECK_EQ_U(e.gdt_limit, 0);
}

TEST(translates_a_virtual_entry_like_qemu)
{
	/* A higher-half kernel: text linked at 0xc0200000, loaded at 2 MiB. */
	struct img *im = img_std();
	struct boot_entry e;
	struct lf_guest *g;

	im->ph[0].vaddr = 0xc0000000 + KBASE;
	im->entry = 0xc0000000 + KENTRY;
	CHECK_EQ(load(&g, ADJACENT_GPA, im, CMDLINE, NULL, 0, &e), 0);
	CHECK_EQ_U(e.rip, KENTRY);
	/* Not in an executable segment: no translation, and 0xc0200010 is not loaded. */
	im->ph[0].flags = PF_R;
	CHECK_EQ(load(&g, ADJACENT_GPA, im, CMDLINE, NULL, 0, &e), -ENOEXEC);
	CHECK_ERROR("entry 0xc0200010 (e_entry 0xc0200010) is not inside");
}

TEST(takes_the_first_header_whose_checksum_holds)
{
	struct img *im = img_std();
	uint32_t bad[3] = { MULTIBOOT_HEADER_MAGIC, 0, 0 };     /* checksum does not hold */
	struct boot_entry e;
	struct lf_guest *g;

	im->mb_off = MB_OFF + 0x10;
	memcpy(im->buf + MB_OFF, bad, sizeof(bad));
	CHECK_EQ(load(&g, ADJACENT_GPA, im, CMDLINE, NULL, 0, &e), 0);
	CHECK_EQ_U(e.rip, KENTRY);
}

TEST(finds_a_header_ending_at_8k)
{
	struct img *im = img_std();
	struct boot_entry e;
	struct lf_guest *g;

	im->mb_off = MULTIBOOT_SEARCH - 12;
	CHECK_EQ(load(&g, ADJACENT_GPA, im, CMDLINE, NULL, 0, &e), 0);
}

TEST(ignores_optional_flag_bits_and_accepts_no_flags)
{
	struct img *im = img_std();
	struct boot_entry e;
	struct lf_guest *g;

	im->mb_flags |= UINT32_C(0xfffe0000);   /* bits 17-31: optional, 16 excluded */
	CHECK_EQ(load(&g, ADJACENT_GPA, im, CMDLINE, NULL, 0, &e), 0);
	im->mb_flags = 0;
	CHECK_EQ(load(&g, ADJACENT_GPA, im, CMDLINE, NULL, 0, &e), 0);
}

static const char *guest_str(struct lf_guest *g, uint32_t gpa)
{
	return (const char *)lf_byte(g, gpa);
}

/* The info fields that do not depend on the modules or the layout. */
static void check_info_common(struct lf_guest *g, unsigned nr_mods)
{
	gpa_t info = MV_GPA_MULTIBOOT_INFO;
	uint32_t flags = rd32(g, info + offsetof(struct multiboot_info, flags));

	CHECK_EQ_U(flags, MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
		   MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_LOADER_NAME);
	CHECK_EQ_U(flags & MULTIBOOT_INFO_BOOTDEV, 0);
	CHECK_EQ(rd32(g, info + offsetof(struct multiboot_info, mem_lower)), 639);
	CHECK_EQ_U(rd32(g, info + offsetof(struct multiboot_info, cmdline)), MV_GPA_CMDLINE);
	CHECK_STREQ(guest_str(g, MV_GPA_CMDLINE), CMDLINE);
	CHECK_STREQ(guest_str(g, rd32(g, info + offsetof(struct multiboot_info, boot_loader_name))),
		    "memvisor");
	CHECK_EQ_U(rd32(g, info + offsetof(struct multiboot_info, mmap_addr)),
		   info + sizeof(struct multiboot_info));
	CHECK_EQ(rd32(g, info + offsetof(struct multiboot_info, mods_count)), nr_mods);
	/* The module list follows the memory map, even when empty. */
	CHECK_EQ_U(rd32(g, info + offsetof(struct multiboot_info, mods_addr)),
		   info + sizeof(struct multiboot_info) +
		   rd32(g, info + offsetof(struct multiboot_info, mmap_length)));
	/* Fields memvisor does not provide are 0. */
	CHECK_EQ_U(rd32(g, info + offsetof(struct multiboot_info, boot_device)), 0);
	CHECK_EQ_U(rd32(g, info + offsetof(struct multiboot_info, drives_length)), 0);
	CHECK_EQ_U(rd32(g, info + offsetof(struct multiboot_info, apm_table)), 0);
}

TEST(writes_the_information_structure)
{
	struct boot_entry e;
	struct lf_guest *g;

	CHECK_EQ(load(&g, ADJACENT_GPA, img_std(), CMDLINE, NULL, 0, &e), 0);
	check_info_common(g, 0);
	/* 1 MiB to 8 MiB without a hole (region 0's and region 1's RAM touch). */
	CHECK_EQ(rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mem_upper)),
		 7 * 1024);
	check_low_memory_untouched(g);

	CHECK_EQ(load(&g, HOLE_GPA, img_std(), CMDLINE, NULL, 0, &e), 0);
	check_info_common(g, 0);
	/* 1 MiB up to the hole at 4 MiB. */
	CHECK_EQ(rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mem_upper)),
		 3 * 1024);
}

TEST(writes_the_memory_map_from_pvh_build_memmap)
{
	struct hvm_memmap_table_entry want[PVH_MEMMAP_MAX];
	struct boot_entry e;
	struct lf_guest *g;
	gpa_t mmap;
	int n;

	CHECK_EQ(load(&g, HOLE_GPA, img_std(), CMDLINE, NULL, 0, &e), 0);
	n = pvh_build_memmap(&g->m, want, PVH_MEMMAP_MAX);
	CHECK_EQ(n, 5);
	mmap = rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mmap_addr));
	CHECK_EQ(rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mmap_length)),
		 n * 24);
	/* Walk it the way a kernel does: the next entry is at + size + 4. */
	for (int i = 0; i < n; i++) {
		uint32_t size = rd32(g, mmap);

		CHECK_EQ(size, 20);
		CHECK_EQ_U(rd32(g, mmap + 4) | (uint64_t)rd32(g, mmap + 8) << 32, want[i].addr);
		CHECK_EQ_U(rd32(g, mmap + 12) | (uint64_t)rd32(g, mmap + 16) << 32, want[i].size);
		CHECK_EQ(rd32(g, mmap + 20), want[i].type);
		mmap += size + 4;
	}
	CHECK_EQ_U(want[4].addr, HOLE_GPA);
	CHECK_EQ(want[4].type, E820_TYPE_RAM);
}

/*
 * Modules go page-aligned, in order, from the first page above the kernel's highest byte
 * (KDATA + KDATA_MEMSZ = 0x301234 → 0x302000); module 1 crosses from region 0 into region 1
 * (they touch in the adjacent layout), module 2 is empty:
 *
 *   0x200000   0x300000      0x302000    0x303800 0x304000              0x400000        0x504000
 *   | text     | data+bss |  | module 0  |        | module 1 ... region 0 | region 1 ... |
 *                0x301234    (0x1800 B)           (0x200000 B, "two")              module 2 here
 *                                                                            (0 B, mod_end = start)
 */
TEST(places_modules_in_order_after_the_kernel)
{
	struct multiboot_module m[3] = { mod(0, 0x1800, "/boot/mod0 a=1"),
					 mod(1, 2 * MIB, "two"), mod(2, 0, "") };
	static const uint32_t start[3] = { 0x302000, 0x304000, 0x504000 };
	gpa_t list;
	struct boot_entry e;
	struct lf_guest *g;

	CHECK_EQ(load(&g, ADJACENT_GPA, img_std(), CMDLINE, m, 3, &e), 0);
	check_info_common(g, 3);
	list = rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mods_addr));
	for (unsigned i = 0; i < 3; i++) {
		gpa_t ml = list + i * sizeof(struct multiboot_mod_list);
		uint32_t s = rd32(g, ml + offsetof(struct multiboot_mod_list, mod_start));

		CHECK_EQ_U(s, start[i]);
		CHECK_EQ_U(rd32(g, ml + offsetof(struct multiboot_mod_list, mod_end)),
			   start[i] + m[i].size);
		CHECK_STREQ(guest_str(g, rd32(g, ml + offsetof(struct multiboot_mod_list, cmdline))),
			    m[i].string);
		CHECK_EQ_U(rd32(g, ml + offsetof(struct multiboot_mod_list, pad)), 0);
		for (size_t b = 0; b < m[i].size; b += 0x7ff)
			CHECK_EQ_U(*lf_byte(g, s + b), m[i].data[b]);
		if (m[i].size)
			CHECK_EQ_U(*lf_byte(g, s + m[i].size - 1), m[i].data[m[i].size - 1]);
	}
	/* Between the kernel and module 0, and after module 0: nothing written. */
	lf_check_primed(g, KDATA + KDATA_MEMSZ, 0x302000 - KDATA - KDATA_MEMSZ);
	lf_check_primed(g, 0x303800, 0x800);
	lf_check_primed(g, 0x504000, 0x1000);
	check_low_memory_untouched(g);
}

TEST(lays_out_the_strings_page)
{
	struct multiboot_module m[2] = { mod(0, 1, "a b"), mod(1, 1, "c") };
	static const char want[] = CMDLINE "\0memvisor\0a b\0c";
	struct boot_entry e;
	struct lf_guest *g;

	CHECK_EQ(load(&g, ADJACENT_GPA, img_std(), CMDLINE, m, 2, &e), 0);
	CHECK(memcmp(lf_byte(g, MV_GPA_CMDLINE), want, sizeof(want)) == 0);
	/* The rest of both pages is zeroed. */
	for (uint64_t b = sizeof(want); b < MV_CMDLINE_MAX; b++)
		CHECK_EQ_U(*lf_byte(g, MV_GPA_CMDLINE + b), 0);
	for (uint64_t b = sizeof(struct multiboot_info) + 5 * 24 + 2 * 16; b < 0x1000; b++)
		CHECK_EQ_U(*lf_byte(g, MV_GPA_MULTIBOOT_INFO + b), 0);
}

TEST(fits_strings_that_fill_the_page_exactly)
{
	static char s[MV_CMDLINE_MAX];
	struct multiboot_module m = mod(0, 1, s);
	struct boot_entry e;
	struct lf_guest *g;

	/* 31 + 9 bytes used by the command line and loader name, the module string the rest. */
	memset(s, 's', MV_CMDLINE_MAX - 40 - 1);
	CHECK_EQ(load(&g, ADJACENT_GPA, img_std(), CMDLINE, &m, 1, &e), 0);
	CHECK_EQ_U(*lf_byte(g, MV_GPA_CMDLINE + MV_CMDLINE_MAX - 1), 0);
	CHECK_EQ_U(*lf_byte(g, MV_GPA_CMDLINE + MV_CMDLINE_MAX - 2), 's');
}

TEST(fits_the_most_modules)
{
	struct multiboot_module m[MULTIBOOT_MAX_MODULES];
	struct boot_entry e;
	struct lf_guest *g;

	for (unsigned i = 0; i < MULTIBOOT_MAX_MODULES; i++)
		m[i] = mod(0, 0x10, "module");
	CHECK_EQ(load(&g, ADJACENT_GPA, img_std(), CMDLINE, m, MULTIBOOT_MAX_MODULES, &e), 0);
	CHECK_EQ(rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mods_count)),
		 MULTIBOOT_MAX_MODULES);
	/* The last one: 31 pages after the first. */
	CHECK_EQ_U(rd32(g, rd32(g, MV_GPA_MULTIBOOT_INFO +
				offsetof(struct multiboot_info, mods_addr)) + 31 * 16),
		   KEND_PAGE + 31 * 0x1000);
}

/* ---- files --------------------------------------------------------------------------------------- */

TEST(load_files_names_a_missing_image)
{
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	struct boot_entry e;

	CHECK_EQ(multiboot_load_files(&g->m, &g->gm, "/nonexistent/kernel", NULL, NULL, &e),
		 -ENOENT);
	CHECK_ERROR("/nonexistent/kernel: cannot open: No such file or directory");
	CHECK_EQ(multiboot_load_files(&g->m, &g->gm, "/", NULL, NULL, &e), -EINVAL);
	CHECK_ERROR("/: not a regular file");
	CHECK_EQ(multiboot_load_files(&g->m, &g->gm, NULL, NULL, NULL, &e), -EINVAL);
	lf_check_untouched(g);
}

TEST(load_files_names_a_missing_module)
{
	struct img *im = img_std();
	size_t size = img_finish(im);
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	struct boot_entry e;
	char path[64];
	int ret;

	lf_temp_file(path, sizeof(path), "/tmp/tmb.XXXXXX", im->buf, size);
	ret = multiboot_load_files(&g->m, &g->gm, path, NULL, "/nonexistent/mod arg", &e);
	unlink(path);
	CHECK_EQ(ret, -ENOENT);
	CHECK_ERROR("/nonexistent/mod: cannot open: No such file or directory");
	lf_check_untouched(g);
}

TEST(load_files_rejects_bad_module_lists)
{
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	static char many[40 * 2 + 1];
	struct boot_entry e;

	/* Checked before any file is opened: the image does not even exist. */
	CHECK_EQ(multiboot_load_files(&g->m, &g->gm, "/nonexistent", NULL, "a,", &e), -EINVAL);
	CHECK_ERROR("module 1 of the module list 'a,' has no path");
	CHECK_EQ(multiboot_load_files(&g->m, &g->gm, "/nonexistent", NULL, ",a", &e), -EINVAL);
	CHECK_ERROR("module 0 of the module list ',a' has no path");
	CHECK_EQ(multiboot_load_files(&g->m, &g->gm, "/nonexistent", NULL, "a, b", &e), -EINVAL);
	CHECK_ERROR("module 1 of the module list 'a, b' has no path");
	CHECK_EQ(multiboot_load_files(&g->m, &g->gm, "/nonexistent", NULL, "", &e), -EINVAL);
	CHECK_ERROR("module 0 of the module list '' has no path");
	for (unsigned i = 0; i < MULTIBOOT_MAX_MODULES + 1; i++)
		strcat(many, i ? ",m" : "m");   /* "m,m,...,m": 33 modules */
	CHECK_EQ(multiboot_load_files(&g->m, &g->gm, "/nonexistent", NULL, many, &e), -EINVAL);
	CHECK_ERROR("names more than the 32 modules");
	lf_check_untouched(g);
}

TEST(load_files_rejects_an_oversized_module)
{
	struct img *im = img_std();
	size_t size = img_finish(im);
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	struct boot_entry e;
	char path[64], mpath[64];
	int ret;

	lf_temp_file(path, sizeof(path), "/tmp/tmb.XXXXXX", im->buf, size);
	lf_temp_file(mpath, sizeof(mpath), "/tmp/tmb.XXXXXX", "", 0);
	CHECK_EQ(truncate(mpath, MULTIBOOT_MAX_FILE_SIZE + 1), 0);  /* sparse: costs no disk */
	ret = multiboot_load_files(&g->m, &g->gm, path, NULL, mpath, &e);
	unlink(path);
	unlink(mpath);
	CHECK_EQ(ret, -EFBIG);
	CHECK_ERROR("268435457 bytes is more than the 256 MiB a multiboot module may have");
	lf_check_untouched(g);
}

TEST(load_files_prefixes_load_errors_with_the_image_path)
{
	struct img *im = img_std();
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	struct boot_entry e;
	char path[64], want[128];
	size_t size;
	int ret;

	im->mb_bad_checksum = true;
	size = img_finish(im);
	lf_temp_file(path, sizeof(path), "/tmp/tmb.XXXXXX", im->buf, size);
	ret = multiboot_load_files(&g->m, &g->gm, path, NULL, NULL, &e);
	unlink(path);
	CHECK_EQ(ret, -ENOEXEC);
	snprintf(want, sizeof(want), "%s: multiboot header at offset 512: bad checksum", path);
	CHECK_ERROR(want);
	lf_check_untouched(g);
}

/*
 * Two modules, the first with a comma in its file name (written ",," in the list) and
 * arguments, the second without: the list is "<dir>/tmb,,a.XXXXXX x=1 y,<dir>/tmb.XXXXXX".
 */
TEST(load_files_reads_the_image_modules_and_command_line)
{
	struct img *im = img_std();
	size_t size = img_finish(im);
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	char path[64], m0[64], m1[64], spec[256], m0_string[128], *m0_escaped;
	gpa_t list;
	struct boot_entry e;
	int ret;

	lf_temp_file(path, sizeof(path), "/tmp/tmb.XXXXXX", im->buf, size);
	lf_temp_file(m0, sizeof(m0), "/tmp/tmb,a.XXXXXX", "zero", 4);
	lf_temp_file(m1, sizeof(m1), "/tmp/tmb.XXXXXX", "one!!", 5);
	m0_escaped = strdup(m0);
	CHECK_NOT_NULL(m0_escaped);
	*strchr(m0_escaped, ',') = '\0';
	snprintf(spec, sizeof(spec), "%s,,%s x=1 y,%s", m0_escaped, strchr(m0, ',') + 1, m1);
	snprintf(m0_string, sizeof(m0_string), "%s x=1 y", m0);
	free(m0_escaped);

	ret = multiboot_load_files(&g->m, &g->gm, path, "console=ttyS0 quiet", spec, &e);
	CHECK_EQ(ret, 0);
	CHECK_EQ(e.protocol, BOOT_MULTIBOOT);
	CHECK_EQ_U(e.rip, KENTRY);
	CHECK_EQ_U(e.rax, MULTIBOOT_BOOTLOADER_MAGIC);
	CHECK_EQ_U(e.rbx, MV_GPA_MULTIBOOT_INFO);
	check_segment(g, im, 0);
	check_segment(g, im, 1);
	{
		char want[128];

		snprintf(want, sizeof(want), "%s console=ttyS0 quiet", path);
		CHECK_STREQ(guest_str(g, MV_GPA_CMDLINE), want);
	}
	CHECK_EQ(rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mods_count)), 2);
	list = rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mods_addr));
	CHECK_EQ_U(rd32(g, list), KEND_PAGE);
	CHECK_EQ_U(rd32(g, list + 4), KEND_PAGE + 4);
	CHECK(memcmp(lf_byte(g, KEND_PAGE), "zero", 4) == 0);
	CHECK_STREQ(guest_str(g, rd32(g, list + 8)), m0_string);
	CHECK_EQ_U(rd32(g, list + 16), KEND_PAGE + 0x1000);
	CHECK_EQ_U(rd32(g, list + 20), KEND_PAGE + 0x1000 + 5);
	CHECK(memcmp(lf_byte(g, KEND_PAGE + 0x1000), "one!!", 5) == 0);
	CHECK_STREQ(guest_str(g, rd32(g, list + 24)), m1);
	check_low_memory_untouched(g);
	unlink(path);
	unlink(m0);
	unlink(m1);
}

TEST(load_files_without_arguments_or_modules)
{
	struct img *im = img_std();
	size_t size = img_finish(im);
	struct lf_guest *g = guest_init(ADJACENT_GPA);
	struct boot_entry e;
	char path[64];
	int ret;

	lf_temp_file(path, sizeof(path), "/tmp/tmb.XXXXXX", im->buf, size);
	ret = multiboot_load_files(&g->m, &g->gm, path, "", NULL, &e);
	CHECK_EQ(ret, 0);
	CHECK_STREQ(guest_str(g, MV_GPA_CMDLINE), path);        /* no trailing space */
	CHECK_EQ(rd32(g, MV_GPA_MULTIBOOT_INFO + offsetof(struct multiboot_info, mods_count)), 0);
	ret = multiboot_load_files(&g->m, &g->gm, path, NULL, NULL, &e);
	unlink(path);
	CHECK_EQ(ret, 0);
	CHECK_STREQ(guest_str(g, MV_GPA_CMDLINE), path);
}
