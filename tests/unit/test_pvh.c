/*
 * Unit tests for the PVH ELF loader (vmm/loader.h) and the PVH boot info writer
 * (vmm/boot_pvh.h).
 *
 * Images are built in memory by the small ELF builder below (ELF32 or ELF64, program headers,
 * note segments), then the test breaks one field and checks the loader names it. Guest memory
 * is two malloc-free static buffers, each between guard bytes, every byte primed with 0xa5:
 *
 *   adjacent (default)                         with a hole (guest_init(HOLE_GPA))
 *   0        4 MiB            8 MiB            0        4 MiB    12 MiB          16 MiB
 *   | region 0 | region 1     |                | region 0 |  hole  | region 1     |
 *   | node 0   | node 1       |                | node 0   |        | node 1       |
 *
 * Every rejection test also checks that guest memory is untouched and guards are intact, and
 * every success test that the guards are intact.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memvisor/layout.h>
#include <memvisor/pvh.h>

#include "boot_pvh.h"
#include "error.h"
#include "loader.h"
#include "machine.h"
#include "mvtest.h"
#include "loader_fixture.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

/* The last mv_error() contains substr. */
#define CHECK_ERROR(substr) \
	do { \
		const char *mvt_e_ = mv_error(); \
		if (!strstr(mvt_e_, (substr))) \
			mvt_fail(__FILE__, __LINE__, "expected an error containing \"%s\", got \"%s\"", \
				 (substr), mvt_e_); \
	} while (0)

/* ---- guest memory fixture (loader_fixture.h) ----------------------------------------------- */

#define REGION_SIZE  (4 * MIB)
#define ADJACENT_GPA (4 * MIB)      /* region 1 right after region 0 */
#define HOLE_GPA     (12 * MIB)     /* region 1 after an 8 MiB hole */

static uint8_t backing[2][LF_GUARD + REGION_SIZE + LF_GUARD];

static void guest_init(struct lf_guest *g, gpa_t region1_gpa)
{
	lf_init_two(g, backing[0], backing[1], REGION_SIZE, region1_gpa);
}

/* ---- ELF image builder --------------------------------------------------------------------- */

#define IMG_CAP       (64 * KIB)
#define IMG_MAX_PH    16
#define IMG_DATA      0x400          /* data starts past the header and 16 ELF64 phdrs */
#define KBASE         (2 * MIB)      /* where the standard image loads */
#define KENTRY        (KBASE + 0x10)

struct tphdr {
	uint32_t type;
	uint64_t offset, filesz, memsz, paddr, align;
};

/* Header fields are plain members so a test can break one before img_finish() writes them. */
struct img {
	unsigned cls;
	uint8_t ident_class, ident_data, ident_version;
	uint16_t type, machine, phentsize, phnum;
	uint32_t version;
	uint64_t phoff;
	struct tphdr ph[IMG_MAX_PH];
	size_t size;
	uint8_t buf[IMG_CAP];
};

static struct img the_img;

static struct img *img_new(unsigned cls)
{
	struct img *im = &the_img;

	memset(im, 0, sizeof(*im));
	im->cls = cls;
	im->ident_class = (uint8_t)cls;
	im->ident_data = ELFDATA2LSB;
	im->ident_version = EV_CURRENT;
	im->type = ET_EXEC;
	im->machine = EM_X86_64;
	im->version = EV_CURRENT;
	im->phentsize = cls == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	im->phoff = cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	im->size = IMG_DATA;
	return im;
}

/* Append len bytes (16-aligned start) and return their file offset. */
static uint64_t img_append(struct img *im, const void *data, size_t len)
{
	uint64_t off = (im->size + 15) & ~(uint64_t)15;

	if (off + len > IMG_CAP)
		mvt_fail(__FILE__, __LINE__, "test bug: image builder out of room");
	memcpy(im->buf + off, data, len);
	im->size = off + len;
	return off;
}

static unsigned img_add_ph(struct img *im, struct tphdr ph)
{
	if (im->phnum == IMG_MAX_PH)
		mvt_fail(__FILE__, __LINE__, "test bug: too many program headers");
	im->ph[im->phnum] = ph;
	return im->phnum++;
}

/* A PT_LOAD of filesz bytes from data (NULL: a pattern) at paddr, memsz in memory. */
static unsigned img_add_load(struct img *im, uint64_t paddr, const void *data, uint64_t filesz,
			     uint64_t memsz)
{
	static uint8_t pattern[IMG_CAP];
	uint64_t off;

	if (!data) {
		for (size_t i = 0; i < filesz && i < sizeof(pattern); i++)
			pattern[i] = (uint8_t)(i * 7 + 3 + im->phnum);
		data = pattern;
	}
	off = img_append(im, data, filesz);
	return img_add_ph(im, (struct tphdr){ .type = PT_LOAD, .offset = off, .filesz = filesz,
					      .memsz = memsz, .paddr = paddr, .align = 0x1000 });
}

/* A note blob: notes appended with their name and desc padded to `align`. */
struct notes {
	unsigned align;
	size_t len;
	uint8_t b[1024];
};

static void notes_put(struct notes *n, const void *p, size_t len, bool pad)
{
	memcpy(n->b + n->len, p, len);
	n->len += len;
	if (pad)
		while (n->len % n->align)
			n->b[n->len++] = 0;
}

static void notes_add(struct notes *n, const char *name, uint32_t namesz, uint32_t type,
		      const void *desc, uint32_t descsz)
{
	uint32_t hdr[3] = { namesz, descsz, type };

	notes_put(n, hdr, sizeof(hdr), false);
	notes_put(n, name, namesz, true);
	notes_put(n, desc, descsz, true);
}

static void notes_add_entry32(struct notes *n, uint32_t entry)
{
	notes_add(n, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);
}

static unsigned img_add_notes(struct img *im, const struct notes *n)
{
	uint64_t off = img_append(im, n->b, n->len);

	return img_add_ph(im, (struct tphdr){ .type = PT_NOTE, .offset = off, .filesz = n->len,
					      .align = n->align });
}

/* Write the header and program headers; returns the image size. */
static size_t img_finish(struct img *im)
{
	uint8_t ident[EI_NIDENT] = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, im->ident_class,
				     im->ident_data, im->ident_version };

	if (im->cls == ELFCLASS64) {
		Elf64_Ehdr h = { .e_type = im->type, .e_machine = im->machine,
				 .e_version = im->version, .e_phoff = im->phoff,
				 .e_ehsize = sizeof(h), .e_phentsize = im->phentsize,
				 .e_phnum = im->phnum };

		memcpy(h.e_ident, ident, EI_NIDENT);
		memcpy(im->buf, &h, sizeof(h));
		for (unsigned i = 0; i < im->phnum && i < IMG_MAX_PH; i++) {
			const struct tphdr *t = &im->ph[i];
			Elf64_Phdr p = { .p_type = t->type, .p_offset = t->offset,
					 .p_paddr = t->paddr, .p_vaddr = t->paddr | (UINT64_C(0xffff) << 48),
					 .p_filesz = t->filesz, .p_memsz = t->memsz,
					 .p_align = t->align, .p_flags = PF_R };

			memcpy(im->buf + sizeof(h) + i * sizeof(p), &p, sizeof(p));
		}
	} else {
		Elf32_Ehdr h = { .e_type = im->type, .e_machine = im->machine,
				 .e_version = im->version, .e_phoff = (uint32_t)im->phoff,
				 .e_ehsize = sizeof(h), .e_phentsize = im->phentsize,
				 .e_phnum = im->phnum };

		memcpy(h.e_ident, ident, EI_NIDENT);
		memcpy(im->buf, &h, sizeof(h));
		for (unsigned i = 0; i < im->phnum && i < IMG_MAX_PH; i++) {
			const struct tphdr *t = &im->ph[i];
			Elf32_Phdr p = { .p_type = t->type, .p_offset = (uint32_t)t->offset,
					 .p_paddr = (uint32_t)t->paddr, .p_vaddr = (uint32_t)t->paddr,
					 .p_filesz = (uint32_t)t->filesz,
					 .p_memsz = (uint32_t)t->memsz, .p_align = (uint32_t)t->align,
					 .p_flags = PF_R };

			memcpy(im->buf + sizeof(h) + i * sizeof(p), &p, sizeof(p));
		}
	}
	return im->size;
}

/*
 * The standard image: segment 0 is 0x100 pattern bytes at KBASE with 0x3000 bytes in memory
 * (0x2f00 of bss), segment 1 the notes with a 4-byte PHYS32_ENTRY of KENTRY.
 */
static struct img *img_pvh(unsigned cls)
{
	struct img *im = img_new(cls);
	struct notes n = { .align = 4 };

	img_add_load(im, KBASE, NULL, 0x100, 0x3000);
	notes_add_entry32(&n, KENTRY);
	img_add_notes(im, &n);
	return im;
}

/* Load im into a fresh guest (region 1 at region1_gpa); returns pvh_load's result. */
static int load_into(struct lf_guest *g, gpa_t region1_gpa, struct img *im, struct pvh_image *out)
{
	size_t size = img_finish(im);

	guest_init(g, region1_gpa);
	mv_error_clear();
	return pvh_load(im->buf, size, &g->gm, out);
}

/* im must be rejected with -err, an error containing what, and guest memory untouched. */
static void expect_reject(struct img *im, gpa_t region1_gpa, int err, const char *what)
{
	struct pvh_image out;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, region1_gpa, im, &out), -err);
	CHECK_ERROR(what);
	lf_check_untouched(&g);
}

/* ---- loader: arguments and the ELF header -------------------------------------------------- */

TEST(load_rejects_null_arguments)
{
	struct img *im = img_pvh(ELFCLASS64);
	size_t size = img_finish(im);
	struct pvh_image out;
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_load(NULL, size, &g.gm, &out), -EINVAL);
	CHECK_ERROR("must not be NULL");
	CHECK_EQ(pvh_load(im->buf, size, NULL, &out), -EINVAL);
	CHECK_EQ(pvh_load(im->buf, size, &g.gm, NULL), -EINVAL);
	lf_check_untouched(&g);
}

TEST(load_rejects_image_smaller_than_ident)
{
	struct img *im = img_pvh(ELFCLASS64);
	struct pvh_image out;
	struct lf_guest g;

	img_finish(im);
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_load(im->buf, EI_NIDENT - 1, &g.gm, &out), -ENOEXEC);
	CHECK_ERROR("image is 15 bytes, too small for an ELF header");
	lf_check_untouched(&g);
}

TEST(load_rejects_bad_magic)
{
	struct img *im = img_pvh(ELFCLASS64);

	img_finish(im);
	im->buf[1] = 'e';
	CHECK_EQ(pvh_load(im->buf, im->size, &(struct guest_mem){ 0 }, &(struct pvh_image){ 0 }),
		 -ENOEXEC);
	CHECK_ERROR("bad magic 7f 65 4c 46");
}

TEST(load_rejects_bzimage_with_a_hint)
{
	static uint8_t bz[0x400];
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	bz[0] = 'M';
	bz[1] = 'Z';
	memcpy(bz + 0x202, "HdrS", 4);
	CHECK_EQ(pvh_load(bz, sizeof(bz), &g.gm, &(struct pvh_image){ 0 }), -ENOEXEC);
	CHECK_ERROR("bad magic 4d 5a 00 00");
	CHECK_ERROR("this is a bzImage (vmlinuz): boot the uncompressed vmlinux");
	lf_check_untouched(&g);
}

TEST(load_rejects_unknown_class)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ident_class = 3;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "ELF class (e_ident[EI_CLASS]) 3 is neither");
}

TEST(load_rejects_big_endian)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ident_data = ELFDATA2MSB;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "e_ident[EI_DATA]) 2 is not little-endian");
}

TEST(load_rejects_bad_ident_version)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ident_version = 2;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "(e_ident[EI_VERSION]) 2 is not EV_CURRENT");
}

TEST(load_rejects_truncated_elf64_header)
{
	struct img *im = img_pvh(ELFCLASS64);
	struct pvh_image out;
	struct lf_guest g;

	img_finish(im);
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_load(im->buf, sizeof(Elf64_Ehdr) - 1, &g.gm, &out), -ENOEXEC);
	CHECK_ERROR("image is 63 bytes, too small for an ELF64 header (64)");
	lf_check_untouched(&g);
}

TEST(load_rejects_truncated_elf32_header)
{
	struct img *im = img_pvh(ELFCLASS32);
	struct pvh_image out;
	struct lf_guest g;

	img_finish(im);
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_load(im->buf, sizeof(Elf32_Ehdr) - 1, &g.gm, &out), -ENOEXEC);
	CHECK_ERROR("image is 51 bytes, too small for an ELF32 header (52)");
	lf_check_untouched(&g);
}

TEST(load_rejects_bad_e_version)
{
	struct img *im = img_pvh(ELFCLASS32);

	im->version = 0;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "e_version 0 is not EV_CURRENT");
}

TEST(load_rejects_non_executable_type)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->type = ET_DYN;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "e_type 3 is not ET_EXEC (2)");
}

TEST(load_rejects_foreign_machine)
{
	struct img *im = img_pvh(ELFCLASS32);

	im->machine = EM_ARM;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "e_machine 40 is not EM_X86_64 (62) or EM_386 (3)");
}

TEST(load_rejects_elf64_em386)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->machine = EM_386;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "e_machine 3 is not EM_X86_64 (62)");
}

TEST(load_rejects_bad_phentsize)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->phentsize = sizeof(Elf32_Phdr);
	expect_reject(im, ADJACENT_GPA, ENOEXEC,
		      "e_phentsize 32 is not the ELF64 program header size 56");
}

TEST(load_rejects_zero_phnum)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->phnum = 0;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "e_phnum is 0");
}

TEST(load_rejects_too_many_program_headers)
{
	struct img *im = img_pvh(ELFCLASS64);
	size_t size = img_finish(im);
	uint16_t phnum = PVH_MAX_PHDRS + 1;
	struct lf_guest g;

	/* PN_XNUM (0xffff, extended numbering) is refused by the same check. */
	memcpy(im->buf + offsetof(Elf64_Ehdr, e_phnum), &phnum, sizeof(phnum));
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_load(im->buf, size, &g.gm, &(struct pvh_image){ 0 }), -ENOEXEC);
	CHECK_ERROR("e_phnum 129 is more than the 128 program headers");
	lf_check_untouched(&g);
}

TEST(load_rejects_phdr_table_past_end)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->phoff = IMG_DATA;       /* the table would end past the last data byte */
	im->size = IMG_DATA + 8;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "program header table 0x400+0x70 (e_phoff, "
		      "e_phnum * e_phentsize) is past the end of the image (size 0x408)");
}

TEST(load_rejects_phoff_that_wraps)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->phoff = UINT64_MAX - 8;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "program header table 0xfffffffffffffff7+0x70");
}

/* ---- loader: segments ---------------------------------------------------------------------- */

TEST(load_rejects_segment_past_end_of_image)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[0].filesz = 0x2000;      /* the image is 0x400 + 0x100 + notes */
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segment 0: file range 0x400+0x2000 is past the "
		      "end of the image (size 0x");
}

TEST(load_rejects_segment_offset_that_wraps)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[0].offset = UINT64_MAX - 0x10;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segment 0: file range 0xffffffffffffffef+0x100 "
		      "is past the end of the image");
}

TEST(load_rejects_filesz_above_memsz)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[0].memsz = 0xff;
	expect_reject(im, ADJACENT_GPA, ENOEXEC,
		      "segment 0: p_filesz 0x100 is larger than p_memsz 0xff");
}

TEST(load_rejects_segment_below_kernel_min)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };

	img_add_load(im, MV_GPA_KERNEL_MIN - 0x1000, NULL, 0x100, 0x100);
	notes_add_entry32(&n, MV_GPA_KERNEL_MIN - 0x1000);
	img_add_notes(im, &n);
	expect_reject(im, ADJACENT_GPA, EINVAL, "segment 0: p_paddr 0xff000 is below "
		      "MV_GPA_KERNEL_MIN 0x100000: the first MiB holds the start info, command "
		      "line and ACPI tables");
}

TEST(load_rejects_segment_outside_ram)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[0].paddr = 8 * MIB - 0x1000;     /* runs 0x2000 past the end of region 1 */
	expect_reject(im, ADJACENT_GPA, EINVAL, "segment 0: guest range 0x7ff000+0x3000 is not all "
		      "guest RAM (0x800000 is not RAM)");
}

TEST(load_rejects_segment_across_a_hole)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[0].paddr = 4 * MIB - 0x1000;     /* region 0 ends at 4 MiB, region 1 is at 12 */
	expect_reject(im, HOLE_GPA, EINVAL, "segment 0: guest range 0x3ff000+0x3000 is not all "
		      "guest RAM (0x400000 is not RAM)");
}

TEST(load_rejects_guest_range_that_wraps)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[0].paddr = UINT64_MAX - 0x1000;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segment 0: guest range 0xffffffffffffefff+0x3000 "
		      "wraps past the end of the address space");
}

TEST(load_rejects_overlapping_segments)
{
	struct img *im = img_pvh(ELFCLASS64);

	img_add_load(im, 3 * MIB, NULL, 0x10, 0x1000);
	img_add_load(im, KBASE + 0x2fff, NULL, 0x10, 0x10);    /* last byte of segment 0's bss */
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segments 0 and 3 overlap in guest memory: "
		      "0x200000+0x3000 and 0x202fff+0x10");
}

TEST(load_rejects_image_without_loadable_bytes)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[0].filesz = 0;
	im->ph[0].memsz = 0;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "no PT_LOAD segment with p_memsz > 0");
}

TEST(load_rejects_a_valid_segment_then_a_bad_one_without_writing)
{
	struct img *im = img_pvh(ELFCLASS64);

	/* Segment 0 alone would load; segment 2 lies past RAM, so nothing may be written. */
	img_add_load(im, 16 * MIB, NULL, 0x40, 0x40);
	expect_reject(im, ADJACENT_GPA, EINVAL, "segment 2: guest range 0x1000000+0x40 is not all "
		      "guest RAM");
}

/* ---- loader: notes and the entry ----------------------------------------------------------- */

TEST(load_rejects_note_segment_past_end_of_image)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[1].offset = IMG_CAP;
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segment 1: file range 0x10000+0x14 is past the "
		      "end of the image");
}

TEST(load_rejects_image_without_note_segment)
{
	struct img *im = img_new(ELFCLASS64);

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
}

TEST(load_rejects_notes_without_xen_entry)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };
	uint32_t entry = KENTRY;

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	notes_add(&n, "GNU", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);  /* right type, not Xen */
	notes_add(&n, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY - 1, &entry, 4); /* Xen, other type */
	notes_add(&n, "Xen", 3, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);  /* owner without NUL */
	img_add_notes(im, &n);
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
}

TEST(load_rejects_truncated_note_header)
{
	struct img *im = img_pvh(ELFCLASS64);

	img_append(im, (uint8_t[16]){ 0 }, 16);
	im->ph[1].filesz = 0x14 + 8;    /* a second note would start, with 8 of its 12 bytes */
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segment 1: note at offset 0x14: header runs past "
		      "the end of the segment (0x8 bytes left)");
}

TEST(load_rejects_note_name_past_segment)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	notes_add_entry32(&n, KENTRY);
	notes_add(&n, "Xen", 4, 6, "abcd", 4);
	memcpy(n.b + 0x14, &(uint32_t){ 0xfffffff0 }, 4);       /* second note's namesz */
	img_add_notes(im, &n);
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segment 1: note at offset 0x14: name of "
		      "4294967280 bytes runs past the end of the segment");
}

TEST(load_rejects_note_desc_past_segment)
{
	struct img *im = img_pvh(ELFCLASS64);

	im->ph[1].filesz = 0x13;        /* cuts the entry's 4-byte desc */
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segment 1: note at offset 0x0: desc of 4 bytes "
		      "runs past the end of the segment");
}

TEST(load_rejects_entry_desc_of_wrong_size)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	notes_add(&n, "Linux", 6, 1, "6.1", 4);
	notes_add(&n, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &(uint16_t){ 0x10 }, 2);
	img_add_notes(im, &n);
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "segment 1: note at offset 0x18: "
		      "XEN_ELFNOTE_PHYS32_ENTRY has a 2-byte desc (expected 4 or 8)");
}

TEST(load_rejects_entry_above_4g)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };
	uint64_t entry = (UINT64_C(1) << 32) | KENTRY;

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	notes_add(&n, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 8);
	img_add_notes(im, &n);
	expect_reject(im, ADJACENT_GPA, ENOEXEC, "XEN_ELFNOTE_PHYS32_ENTRY 0x100200010 does not "
		      "fit 32 bits");
}

TEST(load_rejects_disagreeing_entry_notes)
{
	struct img *im = img_pvh(ELFCLASS64);
	struct notes n = { .align = 4 };

	notes_add_entry32(&n, KENTRY + 4);
	img_add_notes(im, &n);
	expect_reject(im, ADJACENT_GPA, ENOEXEC,
		      "XEN_ELFNOTE_PHYS32_ENTRY notes disagree: 0x200010 and 0x200014");
}

TEST(load_rejects_entry_outside_segments)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	notes_add_entry32(&n, KBASE + 0x100);   /* one past the segment */
	img_add_notes(im, &n);
	expect_reject(im, ADJACENT_GPA, ENOEXEC,
		      "PVH entry 0x200100 is not inside the file bytes of any PT_LOAD segment");
}

TEST(load_rejects_entry_in_bss)
{
	struct img *im = img_new(ELFCLASS32);
	struct notes n = { .align = 4 };

	img_add_load(im, KBASE, NULL, 0x100, 0x1000);
	notes_add_entry32(&n, KBASE + 0x800);   /* inside memsz, past filesz: zeroes, not code */
	img_add_notes(im, &n);
	expect_reject(im, ADJACENT_GPA, ENOEXEC,
		      "PVH entry 0x200800 is not inside the file bytes of any PT_LOAD segment");
}

/* ---- loader: images that load -------------------------------------------------------------- */

/* Segment i of im is in guest memory: its file bytes at paddr, zeroes up to memsz. */
static void check_segment_loaded(struct lf_guest *g, const struct img *im, unsigned i)
{
	const struct tphdr *s = &im->ph[i];

	for (uint64_t b = 0; b < s->filesz; b++)
		if (*lf_byte(g, s->paddr + b) != im->buf[s->offset + b])
			mvt_fail(__FILE__, __LINE__, "segment %u byte %#llx: %#x, expected %#x", i,
				 (unsigned long long)b, *lf_byte(g, s->paddr + b),
				 im->buf[s->offset + b]);
	for (uint64_t b = s->filesz; b < s->memsz; b++)
		if (*lf_byte(g, s->paddr + b) != 0)
			mvt_fail(__FILE__, __LINE__, "segment %u bss byte %#llx is %#x, not 0", i,
				 (unsigned long long)b, *lf_byte(g, s->paddr + b));
}

/* ... and the bytes just around it were not written. */
static void check_segment_alone(struct lf_guest *g, const struct img *im, unsigned i)
{
	const struct tphdr *s = &im->ph[i];

	check_segment_loaded(g, im, i);
	CHECK_EQ_U(*lf_byte(g, s->paddr - 1), LF_PRIME);
	CHECK_EQ_U(*lf_byte(g, s->paddr + s->memsz), LF_PRIME);
}

static void check_standard_image_loaded(unsigned cls)
{
	struct img *im = img_pvh(cls);
	struct pvh_image out;
	struct lf_guest g;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ_U(out.entry, KENTRY);
	CHECK_EQ_U(out.load_start, KBASE);
	CHECK_EQ_U(out.load_end, KBASE + 0x3000);
	CHECK_EQ(out.nr_segments, 1);
	CHECK_EQ(out.elf_class, cls);
	check_segment_alone(&g, im, 0);
	lf_check_guards(&g);
}

TEST(load_elf64_copies_bytes_and_zeroes_bss)
{
	check_standard_image_loaded(ELFCLASS64);
}

TEST(load_elf32_copies_bytes_and_zeroes_bss)
{
	check_standard_image_loaded(ELFCLASS32);
}

TEST(load_elf32_em386)
{
	struct img *im = img_pvh(ELFCLASS32);
	struct pvh_image out;
	struct lf_guest g;

	im->machine = EM_386;
	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ_U(out.entry, KENTRY);
	check_segment_alone(&g, im, 0);
}

TEST(load_entry_from_8_byte_desc)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };
	uint64_t entry = KBASE + 0x850;         /* as Linux's vmlinux: .quad */
	struct pvh_image out;
	struct lf_guest g;

	img_add_load(im, KBASE, NULL, 0x1000, 0x1000);
	notes_add(&n, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 8);
	img_add_notes(im, &n);
	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ_U(out.entry, KBASE + 0x850);
}

/*
 * Notes before the entry whose name and desc need padding:
 *
 *   0x00 hdr(6, 3, 1)  "Linux\0" + 2 pad   "6.1" + 1 pad      (0x18 bytes)
 *   0x18 hdr(4, 5, 7)  "Xen\0"             "abcde" + 3 pad    (0x18 bytes)
 *   0x30 hdr(4, 4, 18) "Xen\0"             entry              (0x14 bytes)
 */
TEST(load_notes_with_padding)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };
	struct pvh_image out;
	struct lf_guest g;

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	notes_add(&n, "Linux", 6, 1, "6.1", 3);
	notes_add(&n, "Xen", 4, 7, "abcde", 5);
	notes_add_entry32(&n, KBASE + 0x20);
	CHECK_EQ(n.len, 0x44);
	img_add_notes(im, &n);
	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ_U(out.entry, KBASE + 0x20);
}

/*
 * A PT_NOTE with p_align 8 aligns desc and next note to 8 (GNU property notes do this):
 *
 *   0x00 hdr(4, 4, 5)  "GNU\0"  "abcd" + 4 pad     (0x18 bytes; with 4-alignment: 0x14)
 *   0x18 hdr(4, 8, 18) "Xen\0"  entry              (0x18 bytes)
 */
TEST(load_notes_aligned_to_8)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 8 };
	uint64_t entry = KBASE + 0x30;
	struct pvh_image out;
	struct lf_guest g;

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	notes_add(&n, "GNU", 4, 5, "abcd", 4);
	notes_add(&n, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 8);
	CHECK_EQ(n.len, 0x30);
	img_add_notes(im, &n);
	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ_U(out.entry, KBASE + 0x30);
}

TEST(load_last_note_may_lack_padding)
{
	struct img *im = img_new(ELFCLASS32);
	struct notes n = { .align = 4 };
	struct pvh_image out;
	struct lf_guest g;

	img_add_load(im, KBASE, NULL, 0x100, 0x100);
	notes_add_entry32(&n, KBASE);
	notes_add(&n, "Linux", 6, 1, "x", 1);
	n.len -= 3;                             /* the segment ends right after the desc */
	img_add_notes(im, &n);
	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ_U(out.entry, KBASE);
}

TEST(load_agreeing_duplicate_entry_notes)
{
	struct img *im = img_pvh(ELFCLASS64);
	struct notes n = { .align = 4 };
	uint64_t entry = KENTRY;
	struct pvh_image out;
	struct lf_guest g;

	notes_add(&n, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 8);
	img_add_notes(im, &n);
	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ_U(out.entry, KENTRY);
}

/*
 * A segment across the boundary of two regions that touch (node 0 | node 1):
 *
 *   4 MiB - 0x800          4 MiB          4 MiB + 0x1000   + 0x1800
 *   |  file bytes (region 0) | file (r1) |   bss (region 1)  |
 */
TEST(load_segment_across_adjacent_regions)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };
	struct pvh_image out;
	struct lf_guest g;

	img_add_load(im, 4 * MIB - 0x800, NULL, 0x1800, 0x2000);
	notes_add_entry32(&n, 4 * MIB - 0x800);
	img_add_notes(im, &n);
	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	check_segment_alone(&g, im, 0);
	CHECK_EQ_U(out.load_end, 4 * MIB + 0x1800);
	lf_check_guards(&g);
}

TEST(load_several_segments_reports_their_extent)
{
	struct img *im = img_new(ELFCLASS64);
	struct notes n = { .align = 4 };
	struct pvh_image out;
	struct lf_guest g;

	img_add_ph(im, (struct tphdr){ .type = PT_GNU_STACK });          /* ignored */
	img_add_load(im, 6 * MIB, NULL, 0x300, 0x400);
	img_add_load(im, 7 * MIB, NULL, 0, 0);                            /* empty: ignored */
	img_add_load(im, 3 * MIB, NULL, 0x200, 0x200);
	img_add_load(im, 3 * MIB + 0x200, NULL, 0x10, 0x1000);            /* touches the previous */
	notes_add_entry32(&n, 3 * MIB + 0x1ff);
	img_add_notes(im, &n);
	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ(out.nr_segments, 3);
	CHECK_EQ_U(out.load_start, 3 * MIB);
	CHECK_EQ_U(out.load_end, 6 * MIB + 0x400);
	CHECK_EQ_U(out.entry, 3 * MIB + 0x1ff);
	check_segment_alone(&g, im, 1);
	check_segment_loaded(&g, im, 3);
	check_segment_loaded(&g, im, 4);
	CHECK_EQ_U(*lf_byte(&g, 3 * MIB - 1), LF_PRIME);
	CHECK_EQ_U(*lf_byte(&g, 3 * MIB + 0x1200), LF_PRIME);
	CHECK_EQ_U(*lf_byte(&g, 7 * MIB), LF_PRIME);     /* the empty segment wrote nothing */
	lf_check_guards(&g);
}

/* ---- loader: files ------------------------------------------------------------------------- */

#define TEMP_FILE "/tmp/test_pvh.XXXXXX"     /* lf_temp_file()'s template */

TEST(load_file_reads_the_image)
{
	struct img *im = img_pvh(ELFCLASS64);
	size_t size = img_finish(im);
	struct pvh_image out;
	struct lf_guest g;
	char path[64];
	int ret;

	lf_temp_file(path, sizeof(path), TEMP_FILE, im->buf, size);
	guest_init(&g, ADJACENT_GPA);
	ret = pvh_load_file(path, &g.gm, &out);
	unlink(path);
	CHECK_EQ(ret, 0);
	CHECK_EQ_U(out.entry, KENTRY);
	check_segment_alone(&g, im, 0);
}

TEST(load_file_names_a_missing_path)
{
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_load_file("/nonexistent/vmlinux", &g.gm, &(struct pvh_image){ 0 }), -ENOENT);
	CHECK_ERROR("/nonexistent/vmlinux: cannot open: No such file or directory");
}

TEST(load_file_rejects_a_directory)
{
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_load_file("/", &g.gm, &(struct pvh_image){ 0 }), -EINVAL);
	CHECK_ERROR("/: not a regular file");
}

TEST(load_file_rejects_an_oversized_file)
{
	struct lf_guest g;
	char path[64];
	int ret;

	lf_temp_file(path, sizeof(path), TEMP_FILE, "", 0);
	CHECK_EQ(truncate(path, PVH_MAX_FILE_SIZE + 1), 0);     /* sparse: costs no disk */
	guest_init(&g, ADJACENT_GPA);
	ret = pvh_load_file(path, &g.gm, &(struct pvh_image){ 0 });
	unlink(path);
	CHECK_EQ(ret, -EFBIG);
	CHECK_ERROR("268435457 bytes is more than the 256 MiB a kernel image may have");
	CHECK(strncmp(mv_error(), path, strlen(path)) == 0);
}

TEST(load_file_prefixes_load_errors_with_the_path)
{
	struct img *im = img_pvh(ELFCLASS64);
	size_t size;
	struct lf_guest g;
	char path[64], want[128];
	int ret;

	im->type = ET_REL;
	size = img_finish(im);
	lf_temp_file(path, sizeof(path), TEMP_FILE, im->buf, size);
	guest_init(&g, ADJACENT_GPA);
	ret = pvh_load_file(path, &g.gm, &(struct pvh_image){ 0 });
	unlink(path);
	CHECK_EQ(ret, -ENOEXEC);
	snprintf(want, sizeof(want), "%s: e_type 1 is not ET_EXEC", path);
	CHECK_ERROR(want);
	lf_check_untouched(&g);
}

/* ---- memory map ---------------------------------------------------------------------------- */

/* A machine with no nodes; mc_range() adds them. */
static void mc_init(struct machine_config *m)
{
	memset(m, 0, sizeof(*m));
	m->nr_cpus = 1;
}

/* Give node `node` (creating it and every lower one) one more range [gpa, gpa + size). */
static void mc_range(struct machine_config *m, unsigned node, gpa_t gpa, uint64_t size)
{
	struct machine_node *nd = &m->nodes[node];

	if (node + 1 > m->nr_nodes)
		m->nr_nodes = node + 1;
	nd->ranges[nd->nr_ranges++] = (struct machine_range){ .gpa = gpa, .size = size };
	nd->size += size;
	nd->host_node = -1;
	if (gpa + size > m->ram_end)
		m->ram_end = gpa + size;
}

#define E(a, s, t) { .addr = (a), .size = (s), .type = E820_TYPE_##t }

/* The three entries every map starts with. */
#define LOW_ENTRIES \
	E(0, MV_GPA_LEGACY_HOLE, RAM), \
	E(MV_GPA_LEGACY_HOLE, MV_GPA_ACPI - MV_GPA_LEGACY_HOLE, RESERVED), \
	E(MV_GPA_ACPI, MV_ACPI_SIZE, ACPI)

static void check_map(const struct hvm_memmap_table_entry *got, int n,
		      const struct hvm_memmap_table_entry *want, unsigned nw)
{
	CHECK_EQ(n, nw);
	for (unsigned i = 0; i < nw; i++)
		if (got[i].addr != want[i].addr || got[i].size != want[i].size ||
		    got[i].type != want[i].type || got[i].reserved != 0)
			mvt_fail(__FILE__, __LINE__, "entry %u: %#llx+%#llx type %u reserved %u, "
				 "expected %#llx+%#llx type %u reserved 0", i,
				 (unsigned long long)got[i].addr, (unsigned long long)got[i].size,
				 got[i].type, got[i].reserved, (unsigned long long)want[i].addr,
				 (unsigned long long)want[i].size, want[i].type);
}

static int build(const struct machine_config *m, struct hvm_memmap_table_entry *map)
{
	mv_error_clear();
	return pvh_build_memmap(m, map, MV_START_INFO_MAX_MEMMAP);
}

TEST(memmap_rejects_null_and_bad_node_count)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	CHECK_EQ(pvh_build_memmap(NULL, map, 4), -EINVAL);
	CHECK_ERROR("machine or map is NULL");
	mc_init(&m);
	mc_range(&m, 0, 0, 64 * MIB);
	CHECK_EQ(pvh_build_memmap(&m, NULL, 4), -EINVAL);
	CHECK_ERROR("machine or map is NULL");
	m.nr_nodes = 0;
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("nr_nodes 0 is not in 1..16");
	m.nr_nodes = MACHINE_MAX_NODES + 1;
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("nr_nodes 17 is not in 1..16");
}

TEST(memmap_rejects_bad_range_count)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 64 * MIB);
	m.nr_nodes = 2;                         /* node 1 has no range */
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 1 has 0 ranges (expected 1 or 2)");
	m.nodes[1].nr_ranges = 3;
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 1 has 3 ranges (expected 1 or 2)");
}

TEST(memmap_rejects_empty_range)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 64 * MIB);
	mc_range(&m, 1, 64 * MIB, 0);
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 1 range 0 at 0x4000000 is empty");
}

TEST(memmap_rejects_range_that_wraps)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 64 * MIB);
	mc_range(&m, 0, UINT64_MAX - 0xfff, 0x2000);
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 0 range 1 0xfffffffffffff000+0x2000 wraps");
}

TEST(memmap_rejects_range_in_mmio_hole)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 2 * GIB);
	mc_range(&m, 1, 2 * GIB, GIB + 0x1000);  /* one page past 3 GiB */
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 1 range 0 0x80000000+0x40001000 runs into the MMIO hole "
		    "[0xc0000000, 0x100000000)");
	m.nodes[1].ranges[0] = (struct machine_range){ .gpa = MV_GPA_LAPIC, .size = 0x1000 };
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 1 range 0 0xfee00000+0x1000 runs into the MMIO hole");
}

TEST(memmap_rejects_overlapping_ranges)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 64 * MIB);
	mc_range(&m, 1, 64 * MIB - 0x1000, 64 * MIB);
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 1 range 0 0x3fff000+0x4000000 overlaps node 0 range 0 "
		    "0x100000+0x3f00000");
}

TEST(memmap_rejects_range_inside_first_mib)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 64 * MIB);
	mc_range(&m, 1, MV_GPA_ACPI, 0x1000);
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 1 range 0 0xe0000+0x1000 overlaps the first MiB 0xe0000+0x20000");
}

TEST(memmap_rejects_no_range_at_zero)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 2 * MIB, 64 * MIB);
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("no node range starts at gpa 0");
}

TEST(memmap_rejects_range_at_zero_smaller_than_1mib)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, MIB - 0x1000);
	CHECK_EQ(build(&m, map), -EINVAL);
	CHECK_ERROR("node 0 range 0 at gpa 0 is 0xff000 bytes: it must cover the first MiB");
}

TEST(memmap_rejects_too_small_capacity)
{
	struct hvm_memmap_table_entry map[5];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 64 * MIB);
	mc_range(&m, 1, 64 * MIB, 64 * MIB);
	CHECK_EQ(pvh_build_memmap(&m, map, 4), -ENOSPC);
	CHECK_ERROR("the memory map needs 5 entries, more than the 4 given");
	CHECK_EQ(pvh_build_memmap(&m, map, 5), 5);
}

/*
 *   0        0x9fc00   0xe0000   1 MiB              64 MiB             128 MiB
 *   |  RAM   | reserved |  ACPI  | RAM (node 0)      | RAM (node 1)      |
 */
TEST(memmap_two_nodes)
{
	static const struct hvm_memmap_table_entry want[] = {
		LOW_ENTRIES,
		E(MIB, 63 * MIB, RAM),
		E(64 * MIB, 64 * MIB, RAM),
	};
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 64 * MIB);
	mc_range(&m, 1, 64 * MIB, 64 * MIB);
	check_map(map, build(&m, map), want, MM_ARRAY_SIZE(want));
}

/*
 * Node 1 (3 GiB) crosses 3 GiB and continues at 4 GiB:
 *
 *   0 .. 1 MiB   1 MiB     1 GiB          3 GiB      4 GiB       5 GiB        6 GiB
 *   | low 3 |    node 0    |   node 1 r0   |   MMIO   | node 1 r1 |   node 2   |
 */
TEST(memmap_three_nodes_one_split_across_the_mmio_hole)
{
	static const struct hvm_memmap_table_entry want[] = {
		LOW_ENTRIES,
		E(MIB, GIB - MIB, RAM),
		E(GIB, 2 * GIB, RAM),
		E(4 * GIB, GIB, RAM),
		E(5 * GIB, GIB, RAM),
	};
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, GIB);
	mc_range(&m, 1, GIB, 2 * GIB);
	mc_range(&m, 1, 4 * GIB, GIB);
	mc_range(&m, 2, 5 * GIB, GIB);
	check_map(map, build(&m, map), want, MM_ARRAY_SIZE(want));
}

TEST(memmap_sorts_ranges_by_address)
{
	static const struct hvm_memmap_table_entry want[] = {
		LOW_ENTRIES,
		E(MIB, 15 * MIB, RAM),
		E(16 * MIB, 16 * MIB, RAM),
		E(4 * GIB, 16 * MIB, RAM),
	};
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, 16 * MIB);
	mc_range(&m, 0, 4 * GIB, 16 * MIB);     /* node 0's second range is above node 1 */
	mc_range(&m, 1, 16 * MIB, 16 * MIB);
	check_map(map, build(&m, map), want, MM_ARRAY_SIZE(want));
}

TEST(memmap_range_at_zero_of_exactly_1mib_adds_no_ram_entry)
{
	static const struct hvm_memmap_table_entry want[] = {
		LOW_ENTRIES,
		E(MIB, 8 * MIB, RAM),
	};
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;

	mc_init(&m);
	mc_range(&m, 0, 0, MIB);
	mc_range(&m, 1, MIB, 8 * MIB);
	check_map(map, build(&m, map), want, MM_ARRAY_SIZE(want));
}

TEST(memmap_sixteen_split_nodes_fit_the_start_info_page)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct machine_config m;
	int n;

	mc_init(&m);
	for (unsigned i = 0; i < MACHINE_MAX_NODES; i++) {
		mc_range(&m, i, i * 128 * MIB, 64 * MIB);
		mc_range(&m, i, 4 * GIB + i * 128 * MIB, 64 * MIB);
	}
	n = build(&m, map);
	CHECK_EQ(n, PVH_MEMMAP_MAX);
	for (int i = 1; i < n; i++)
		CHECK(map[i - 1].addr + map[i - 1].size <= map[i].addr);
}

/* ---- boot info ----------------------------------------------------------------------------- */

#define RSDP_GPA MV_GPA_ACPI

static void two_node_machine(struct machine_config *m)
{
	mc_init(m);
	mc_range(m, 0, 0, 4 * MIB);
	mc_range(m, 1, 4 * MIB, 4 * MIB);
}

static struct hvm_start_info read_start_info(struct lf_guest *g)
{
	struct hvm_start_info si;

	memcpy(&si, lf_byte(g, MV_GPA_START_INFO), sizeof(si));
	return si;
}

TEST(boot_info_rejects_null_guest_memory)
{
	struct machine_config m;

	two_node_machine(&m);
	CHECK_EQ(pvh_write_boot_info(&m, NULL, 0, ""), -EINVAL);
	CHECK_ERROR("guest memory is NULL");
}

TEST(boot_info_rejects_long_cmdline)
{
	static char cl[MV_CMDLINE_MAX + 1];
	struct machine_config m;
	struct lf_guest g;

	two_node_machine(&m);
	guest_init(&g, ADJACENT_GPA);
	memset(cl, 'x', MV_CMDLINE_MAX);
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, RSDP_GPA, cl), -EINVAL);
	CHECK_ERROR("command line is 4096 bytes, longer than the 4095 that fit at 0x7000");
	lf_check_untouched(&g);
}

TEST(boot_info_rejects_bad_machine_without_writing)
{
	struct machine_config m;
	struct lf_guest g;

	two_node_machine(&m);
	m.nodes[1].ranges[0].gpa = 2 * MIB;
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, RSDP_GPA, ""), -EINVAL);
	CHECK_ERROR("overlaps node 0 range 0");
	lf_check_untouched(&g);
}

TEST(boot_info_rejects_start_info_outside_ram)
{
	struct machine_config m;
	struct lf_guest g;

	two_node_machine(&m);
	guest_init(&g, ADJACENT_GPA);
	g.gm.r[0].gpa = MV_GPA_START_INFO + 0x800;      /* the page is cut */
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, 0, ""), -EINVAL);
	CHECK_ERROR("start info page 0x6000 is not guest RAM");
	lf_check_untouched(&g);
}

TEST(boot_info_rejects_cmdline_outside_ram)
{
	struct machine_config m;
	struct lf_guest g;

	two_node_machine(&m);
	guest_init(&g, ADJACENT_GPA);
	g.gm.r[0].size = MV_GPA_CMDLINE + 0x100;        /* region 0 ends inside the line */
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, 0, ""), -EINVAL);
	CHECK_ERROR("command line page 0x7000 is not guest RAM");
	lf_check_untouched(&g);
}

TEST(boot_info_rejects_rsdp_outside_ram)
{
	struct machine_config m;
	struct lf_guest g;

	two_node_machine(&m);
	guest_init(&g, HOLE_GPA);
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, 4 * MIB - 16, ""), -EINVAL);
	CHECK_ERROR("RSDP at 0x3ffff0+36 is not guest RAM");
	lf_check_untouched(&g);
}

TEST(boot_info_writes_start_info)
{
	struct machine_config m;
	struct hvm_start_info si;
	struct lf_guest g;

	two_node_machine(&m);
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, RSDP_GPA, "console=ttyS0"), 0);
	si = read_start_info(&g);
	CHECK_EQ_U(si.magic, HVM_START_MAGIC_VALUE);
	CHECK_EQ(si.version, 1);
	CHECK_EQ_U(si.flags, 0);
	CHECK_EQ(si.nr_modules, 0);
	CHECK_EQ_U(si.modlist_paddr, 0);
	CHECK_EQ_U(si.cmdline_paddr, MV_GPA_CMDLINE);
	CHECK_EQ_U(si.rsdp_paddr, RSDP_GPA);
	CHECK_EQ_U(si.memmap_paddr, MV_GPA_START_INFO + 56);
	CHECK_EQ(si.memmap_entries, 5);
	CHECK_EQ_U(si.reserved, 0);
	CHECK_STREQ((const char *)lf_byte(&g, MV_GPA_CMDLINE), "console=ttyS0");
	lf_check_guards(&g);
}

TEST(boot_info_writes_the_memory_map_after_the_start_info)
{
	static const struct hvm_memmap_table_entry want[] = {
		LOW_ENTRIES,
		E(MIB, 3 * MIB, RAM),
		E(4 * MIB, 4 * MIB, RAM),
	};
	struct hvm_memmap_table_entry map[MM_ARRAY_SIZE(want)];
	struct machine_config m;
	struct hvm_start_info si;
	struct lf_guest g;

	two_node_machine(&m);
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, 0, NULL), 0);
	si = read_start_info(&g);
	memcpy(map, lf_byte(&g, si.memmap_paddr), sizeof(map));
	check_map(map, (int)si.memmap_entries, want, MM_ARRAY_SIZE(want));
	/* The rest of the page is zero, and nothing was written past it. */
	CHECK_EQ(*lf_byte(&g, si.memmap_paddr + sizeof(map)), 0);
	CHECK_EQ(*lf_byte(&g, MV_GPA_START_INFO + 0xfff), 0);
	CHECK_EQ_U(*lf_byte(&g, MV_GPA_START_INFO - 1), LF_PRIME);
}

TEST(boot_info_without_cmdline_or_rsdp)
{
	struct machine_config m;
	struct hvm_start_info si;
	struct lf_guest g;

	two_node_machine(&m);
	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, 0, NULL), 0);
	si = read_start_info(&g);
	CHECK_EQ_U(si.cmdline_paddr, 0);
	CHECK_EQ_U(si.rsdp_paddr, 0);
	CHECK_EQ(*lf_byte(&g, MV_GPA_CMDLINE), 0);
}

TEST(boot_info_accepts_longest_cmdline)
{
	static char cl[MV_CMDLINE_MAX];
	struct machine_config m;
	struct lf_guest g;

	two_node_machine(&m);
	guest_init(&g, ADJACENT_GPA);
	memset(cl, 'y', MV_CMDLINE_MAX - 1);
	CHECK_EQ(pvh_write_boot_info(&m, &g.gm, RSDP_GPA, cl), 0);
	CHECK_EQ(strlen((const char *)lf_byte(&g, MV_GPA_CMDLINE)), MV_CMDLINE_MAX - 1);
	CHECK_EQ_U(*lf_byte(&g, MV_GPA_CMDLINE + MV_CMDLINE_MAX), LF_PRIME);
}

/* ---- boot info: the initrd as module 0 ----------------------------------------------------- */

/*
 * pvh_write_boot_info_initrd() takes the end of the image already loaded (image_end, struct
 * pvh_image.load_end) and puts the initrd page-aligned at the top of the highest run of RAM
 * above it, below 3 GiB. The fixture's layouts (file comment), with the image ending at IMG_END:
 *
 *   adjacent: 0 .. 1 MiB | image ..IMG_END |          free           | initrd |pad| 8 MiB
 *   hole:     0 .. 1 MiB | image ..IMG_END | free | 4 MiB   hole   12 MiB | free | initrd |pad|
 */
#define IMG_END    (KBASE + 0x3000)         /* img_pvh()'s load_end */
#define INITRD_MAX (8 * MIB)

static uint8_t the_initrd[INITRD_MAX];

/* An initrd of len pattern bytes (never LF_PRIME-only, so a copy shows). */
static const uint8_t *initrd_of(size_t len)
{
	if (len > sizeof(the_initrd))
		mvt_fail(__FILE__, __LINE__, "test bug: initrd of %zu bytes is too large", len);
	for (size_t i = 0; i < len; i++)
		the_initrd[i] = (uint8_t)(i * 31 + 7);
	return the_initrd;
}

/* Write the boot info with isize bytes of initrd into g (initialised by the caller). */
static int write_initrd(struct lf_guest *g, gpa_t image_end, uint64_t isize, gpa_t *gpa)
{
	mv_error_clear();
	return pvh_write_boot_info_initrd(&g->m, &g->gm, RSDP_GPA, "initrd=module0", image_end,
					  isize ? initrd_of(isize) : NULL, isize, gpa);
}

/* The start info lists exactly one module: the initrd at gpa, isize bytes, no command line. */
static void check_module(struct lf_guest *g, gpa_t gpa, uint64_t isize)
{
	struct hvm_start_info si = read_start_info(g);
	struct hvm_modlist_entry mod;

	CHECK_EQ(si.nr_modules, 1);
	CHECK_EQ_U(si.modlist_paddr, si.memmap_paddr +
		   si.memmap_entries * sizeof(struct hvm_memmap_table_entry));
	CHECK_EQ_U(si.modlist_paddr % 8, 0);
	CHECK_LE(si.modlist_paddr + sizeof(mod), MV_GPA_START_INFO + MM_PAGE_SIZE);
	memcpy(&mod, lf_byte(g, si.modlist_paddr), sizeof(mod));
	CHECK_EQ_U(mod.paddr, gpa);
	CHECK_EQ_U(mod.size, isize);
	CHECK_EQ_U(mod.cmdline_paddr, 0);
	CHECK_EQ_U(mod.reserved, 0);
	CHECK_EQ_U(gpa % MM_PAGE_SIZE, 0);
}

/* The initrd's bytes are at gpa (perhaps across touching regions), the bytes around it intact. */
static void check_initrd_at(struct lf_guest *g, gpa_t gpa, uint64_t isize)
{
	const uint8_t *want = initrd_of(isize);

	for (uint64_t i = 0; i < isize; i++)
		if (*lf_byte(g, gpa + i) != want[i]) {
			mvt_fail(__FILE__, __LINE__, "initrd byte %#llx at gpa %#llx is %#x, "
				 "expected %#x", (unsigned long long)i,
				 (unsigned long long)(gpa + i), *lf_byte(g, gpa + i), want[i]);
			return;
		}
	if (lf_host(g, gpa - 1))
		CHECK_EQ_U(*lf_byte(g, gpa - 1), LF_PRIME);
	if (lf_host(g, gpa + isize))
		CHECK_EQ_U(*lf_byte(g, gpa + isize), LF_PRIME);
	lf_check_guards(g);
}

TEST(initrd_rejects_null_data_with_a_size)
{
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_write_boot_info_initrd(&g.m, &g.gm, RSDP_GPA, NULL, IMG_END, NULL, 10, NULL),
		 -EINVAL);
	CHECK_ERROR("initrd is NULL but its size is 10");
	lf_check_untouched(&g);
}

/*
 * One byte more than the room above the image (8 MiB - IMG_END, the run of both touching
 * regions) is refused, with the sizes and the room, and nothing written:
 *
 *   0 .. 1 MiB | image ..IMG_END |        room 0x5fd000 bytes          | 8 MiB
 */
TEST(initrd_rejects_one_byte_more_than_the_room)
{
	const uint64_t room = 8 * MIB - IMG_END;
	struct lf_guest g;
	char want[200];

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(write_initrd(&g, IMG_END, room + 1, NULL), -EINVAL);
	snprintf(want, sizeof(want), "initrd of %llu bytes does not fit in guest RAM below "
		 "0xc0000000 (largest room: %llu bytes, above the image ending at 0x%llx)",
		 (unsigned long long)room + 1, (unsigned long long)room,
		 (unsigned long long)IMG_END);
	CHECK_ERROR(want);
	lf_check_untouched(&g);
}

/*
 * With a hole neither side has room for 4 MiB + 1: region 1 holds 4 MiB, region 0 less than
 * 2 MiB above the image. The message names the larger room.
 *
 *   0 .. | image | < 2 MiB | 4 MiB ... hole ... 12 MiB |      4 MiB       | 16 MiB
 */
TEST(initrd_rejects_too_large_for_either_side_of_a_hole)
{
	struct lf_guest g;

	guest_init(&g, HOLE_GPA);
	CHECK_EQ(write_initrd(&g, IMG_END, 4 * MIB + 1, NULL), -EINVAL);
	CHECK_ERROR("initrd of 4194305 bytes does not fit in guest RAM below 0xc0000000 (largest "
		    "room: 4194304 bytes, above the image ending at 0x203000)");
	lf_check_untouched(&g);
}

/*
 * RAM below the image is never used, however much there is: an image near the top of RAM
 * leaves only the pages above its (unaligned) end.
 *
 *   0 .. 1 MiB |          free, unused           | image ..8 MiB - 0x3800 |0x800| 0x3000 | 8 MiB
 *                                                                               ^ room starts
 */
TEST(initrd_rejects_to_go_below_the_image)
{
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(write_initrd(&g, 8 * MIB - 0x3800, 0x3001, NULL), -EINVAL);
	CHECK_ERROR("initrd of 12289 bytes does not fit in guest RAM below 0xc0000000 (largest "
		    "room: 12288 bytes, above the image ending at 0x7fc800)");
	lf_check_untouched(&g);
}

TEST(initrd_rejects_a_bad_cmdline_before_placing)
{
	static char cl[MV_CMDLINE_MAX + 1];
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	memset(cl, 'x', MV_CMDLINE_MAX);
	CHECK_EQ(pvh_write_boot_info_initrd(&g.m, &g.gm, RSDP_GPA, cl, IMG_END, initrd_of(0x1000),
					    0x1000, NULL), -EINVAL);
	CHECK_ERROR("command line is 4096 bytes");
	lf_check_untouched(&g);
}

TEST(initrd_rejects_a_bad_machine_without_writing)
{
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	g.m.nodes[1].ranges[0].gpa = 2 * MIB;
	CHECK_EQ(write_initrd(&g, IMG_END, 0x1000, NULL), -EINVAL);
	CHECK_ERROR("overlaps node 0 range 0");
	lf_check_untouched(&g);
}

/*
 * The two touching regions are one run [0, 8 MiB): a small initrd goes page-aligned to its top.
 *
 *   0 .. 1 MiB | image | free ...  4 MiB (node 0 | node 1) ... | initrd 0x2345 |pad| 8 MiB
 */
TEST(initrd_goes_to_the_top_of_touching_nodes_as_module_0)
{
	struct lf_guest g;
	gpa_t gpa = 0;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(write_initrd(&g, IMG_END, 0x2345, &gpa), 0);
	CHECK_EQ_U(gpa, 8 * MIB - 0x3000);
	check_module(&g, gpa, 0x2345);
	check_initrd_at(&g, gpa, 0x2345);
	/* the padding after the initrd is not written */
	lf_check_primed(&g, gpa + 0x2345, 0x3000 - 0x2345);
	CHECK_STREQ((const char *)lf_byte(&g, MV_GPA_CMDLINE), "initrd=module0");
	CHECK_EQ_U(read_start_info(&g).rsdp_paddr, RSDP_GPA);
}

/*
 * An initrd larger than node 1 runs across the boundary of the touching nodes:
 *
 *   0 .. | image | free | initrd (node 0) 3 MiB .. 4 MiB | initrd (node 1) ... | 8 MiB
 */
TEST(initrd_runs_across_touching_nodes)
{
	struct lf_guest g;
	gpa_t gpa = 0;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(write_initrd(&g, IMG_END, 5 * MIB - 0x10, &gpa), 0);
	CHECK_EQ_U(gpa, 3 * MIB);
	check_module(&g, gpa, 5 * MIB - 0x10);
	check_initrd_at(&g, gpa, 5 * MIB - 0x10);
}

/*
 * With a hole the higher run wins when the initrd fits there, however much room the lower one
 * has; exactly the size of region 1 still fits.
 *
 *   0 .. | image | free | 4 MiB ... hole ... 12 MiB | free | initrd |pad| 16 MiB
 */
TEST(initrd_goes_to_the_top_of_the_highest_run_across_a_hole)
{
	struct lf_guest g;
	gpa_t gpa = 0;

	guest_init(&g, HOLE_GPA);
	CHECK_EQ(write_initrd(&g, IMG_END, 0x2345, &gpa), 0);
	CHECK_EQ_U(gpa, 16 * MIB - 0x3000);
	check_module(&g, gpa, 0x2345);
	check_initrd_at(&g, gpa, 0x2345);
	lf_check_primed(&g, 4 * MIB - 0x1000, 0x1000);      /* the top of region 0: unused */

	guest_init(&g, HOLE_GPA);
	CHECK_EQ(write_initrd(&g, IMG_END, 4 * MIB, &gpa), 0);
	CHECK_EQ_U(gpa, HOLE_GPA);
	check_module(&g, gpa, 4 * MIB);
	check_initrd_at(&g, gpa, 4 * MIB);
}

/*
 * The image in region 1 (above the hole) leaves room only above its end; the whole of region 0
 * is below the image and unused, so the initrd goes right up to 16 MiB above the image.
 *
 *   0 .. 4 MiB (free, below the image) | hole | 12 MiB image ..14 MiB + 0x800 | free | initrd | 16
 */
TEST(initrd_stays_above_an_image_loaded_high)
{
	struct lf_guest g;
	gpa_t gpa = 0;

	guest_init(&g, HOLE_GPA);
	CHECK_EQ(write_initrd(&g, 14 * MIB + 0x800, 2 * MIB - 0x1000, &gpa), 0);
	CHECK_EQ_U(gpa, 14 * MIB + 0x1000);
	check_module(&g, gpa, 2 * MIB - 0x1000);
	check_initrd_at(&g, gpa, 2 * MIB - 0x1000);

	guest_init(&g, HOLE_GPA);
	CHECK_EQ(write_initrd(&g, 14 * MIB + 0x800, 2 * MIB - 0xfff, NULL), -EINVAL);
	CHECK_ERROR("largest room: 2093056 bytes, above the image ending at 0xe00800");
	lf_check_untouched(&g);
}

/* Node 0 [0, 4 MiB) and node 1 at 4 GiB, above the MMIO hole (never used for the initrd). */
static void guest_init_high(struct lf_guest *g)
{
	const struct lf_region r[2] = {
		{ .gpa = 0, .size = REGION_SIZE, .node = 0, .buf = backing[0] },
		{ .gpa = MV_GPA_HIGH_RAM_BASE, .size = REGION_SIZE, .node = 1, .buf = backing[1] },
	};

	lf_init(g, r, 2, LF_GUARD);
	lf_prime(g);
}

/*
 * RAM above 4 GiB is never used: the initrd stays below 3 GiB even when node 1 lies higher.
 *
 *   0 .. 1 MiB | image | free | initrd | 4 MiB ... 3 GiB MMIO 4 GiB | node 1 (unused) | + 4 MiB
 */
TEST(initrd_stays_below_3gib)
{
	struct lf_guest g;
	gpa_t gpa = 0;

	guest_init_high(&g);
	CHECK_EQ(write_initrd(&g, IMG_END, 0x1000, &gpa), 0);
	CHECK_EQ_U(gpa, 4 * MIB - 0x1000);
	check_module(&g, gpa, 0x1000);
	check_initrd_at(&g, gpa, 0x1000);
	lf_check_primed(&g, MV_GPA_HIGH_RAM_BASE, REGION_SIZE);

	guest_init_high(&g);
	CHECK_EQ(write_initrd(&g, IMG_END, 2 * MIB, NULL), -EINVAL);
	CHECK_ERROR("does not fit in guest RAM below 0xc0000000 (largest room: 2084864 bytes");
	lf_check_untouched(&g);
}

/*
 * An image_end below 1 MiB (no image) never lets the initrd into the first MiB: of node 0's
 * 4 MiB only the 3 above 1 MiB are room.
 *
 *   0 | start info, ACPI | 1 MiB   initrd (3 MiB)   4 MiB | ... 4 GiB node 1 (unused)
 */
TEST(initrd_never_goes_below_1mib)
{
	struct lf_guest g;
	gpa_t gpa = 0;

	guest_init_high(&g);
	CHECK_EQ(write_initrd(&g, 0, 3 * MIB, &gpa), 0);
	CHECK_EQ_U(gpa, MIB);
	check_initrd_at(&g, gpa, 3 * MIB);

	guest_init_high(&g);
	CHECK_EQ(write_initrd(&g, 0, 3 * MIB + 1, NULL), -EINVAL);
	CHECK_ERROR("largest room: 3145728 bytes, above the image ending at 0x100000");
	lf_check_untouched(&g);
}

/* No initrd (size 0, or the plain writer): nr_modules and modlist_paddr 0, as before. */
TEST(initrd_absent_lists_no_module)
{
	struct hvm_start_info si;
	struct lf_guest g;
	gpa_t gpa = 1;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(write_initrd(&g, IMG_END, 0, &gpa), 0);
	si = read_start_info(&g);
	CHECK_EQ(si.nr_modules, 0);
	CHECK_EQ_U(si.modlist_paddr, 0);
	CHECK_EQ_U(gpa, 0);
	/* nothing after the memory map, nothing above the image */
	CHECK_EQ(*lf_byte(&g, si.memmap_paddr + si.memmap_entries *
			  sizeof(struct hvm_memmap_table_entry)), 0);
	lf_check_primed(&g, IMG_END, 4 * MIB - IMG_END);
	lf_check_primed(&g, 4 * MIB, 4 * MIB);
	lf_check_guards(&g);
}

/* ---- boot info: the initrd file ------------------------------------------------------------ */

TEST(initrd_file_names_a_missing_path)
{
	struct lf_guest g;

	guest_init(&g, ADJACENT_GPA);
	CHECK_EQ(pvh_write_boot_info_file(&g.m, &g.gm, RSDP_GPA, NULL, IMG_END,
					  "/nonexistent/initrd.img", NULL), -ENOENT);
	CHECK_ERROR("/nonexistent/initrd.img: cannot open: No such file or directory");
	lf_check_untouched(&g);
}

TEST(initrd_file_rejects_an_oversized_file)
{
	struct lf_guest g;
	char path[64];
	int ret;

	lf_temp_file(path, sizeof(path), TEMP_FILE, "", 0);
	CHECK_EQ(truncate(path, PVH_MAX_FILE_SIZE + 1), 0);     /* sparse: costs no disk */
	guest_init(&g, ADJACENT_GPA);
	ret = pvh_write_boot_info_file(&g.m, &g.gm, RSDP_GPA, NULL, IMG_END, path, NULL);
	unlink(path);
	CHECK_EQ(ret, -EFBIG);
	CHECK_ERROR("268435457 bytes is more than the 256 MiB an initrd may have");
	CHECK(strncmp(mv_error(), path, strlen(path)) == 0);
	lf_check_untouched(&g);
}

TEST(initrd_file_prefixes_the_placement_error_with_the_path)
{
	struct lf_guest g;
	char path[64], want[160];
	int ret;

	lf_temp_file(path, sizeof(path), TEMP_FILE, initrd_of(4 * MIB + 1), 4 * MIB + 1);
	guest_init(&g, HOLE_GPA);
	ret = pvh_write_boot_info_file(&g.m, &g.gm, RSDP_GPA, NULL, IMG_END, path, NULL);
	unlink(path);
	CHECK_EQ(ret, -EINVAL);
	snprintf(want, sizeof(want), "%s: initrd of 4194305 bytes does not fit", path);
	CHECK_ERROR(want);
	lf_check_untouched(&g);
}

TEST(initrd_file_empty_is_no_module)
{
	struct lf_guest g;
	char path[64];
	int ret;

	lf_temp_file(path, sizeof(path), TEMP_FILE, "", 0);
	guest_init(&g, ADJACENT_GPA);
	ret = pvh_write_boot_info_file(&g.m, &g.gm, RSDP_GPA, NULL, IMG_END, path, NULL);
	unlink(path);
	CHECK_EQ(ret, 0);
	CHECK_EQ(read_start_info(&g).nr_modules, 0);
	CHECK_EQ_U(read_start_info(&g).modlist_paddr, 0);
}

/* The path run.c takes: the image loaded, then the boot info with the initrd above its end. */
TEST(initrd_file_above_a_loaded_image)
{
	struct img *im = img_pvh(ELFCLASS64);
	struct pvh_image out;
	struct lf_guest g;
	char path[64];
	gpa_t gpa = 0;
	int ret;

	CHECK_EQ(load_into(&g, ADJACENT_GPA, im, &out), 0);
	CHECK_EQ_U(out.load_end, IMG_END);
	lf_temp_file(path, sizeof(path), TEMP_FILE, initrd_of(6 * MIB - 0x4321),
		     6 * MIB - 0x4321);
	ret = pvh_write_boot_info_file(&g.m, &g.gm, RSDP_GPA, "x", out.load_end, path, &gpa);
	unlink(path);
	CHECK_EQ(ret, 0);
	CHECK_EQ_U(gpa, 2 * MIB + 0x1000 * 4);  /* align_down(8 MiB - size): above IMG_END */
	CHECK_GE(gpa, out.load_end);
	check_module(&g, gpa, 6 * MIB - 0x4321);
	check_initrd_at(&g, gpa, 6 * MIB - 0x4321);
	check_segment_alone(&g, im, 0);
	lf_check_guards(&g);
}
