/*
 * loader_pvh.c — the PVH ELF loader (loader.h). Owns nothing beyond the call: it reads an
 * untrusted image, validates all of it, and only then copies the segments into guest memory.
 * No locks, no global state.
 *
 * How it is read: every multi-byte field is read byte by byte as little-endian at the offset
 * <elf.h> gives it (offsetof(Elf64_Phdr, p_offset), ...), so nothing depends on the image's
 * alignment or the host's byte order, and ELF32 and ELF64 are normalised into one struct
 * pvh_seg per program header. Every range check is written as `len <= limit - off` after
 * `off <= limit`, never as `off + len <= limit`, so no sum of image values can wrap.
 *
 * Order of checks (the first failure is reported):
 *   1. ELF header: size, magic, class, byte order, version, type, machine, phentsize, phnum,
 *      the program header table inside the file.
 *   2. Each PT_LOAD: file range inside the image, filesz <= memsz, and (when memsz > 0) its
 *      guest range does not wrap, starts at or above MV_GPA_KERNEL_MIN and is guest RAM.
 *      Each PT_NOTE: file range inside the image.
 *   3. PT_LOADs pairwise disjoint; at least one with memsz > 0.
 *   4. Notes: well-formed, and a Xen PHYS32_ENTRY note found; the entry inside a loaded
 *      segment's file bytes.
 *   5. Copy and zero. Nothing before this step writes guest memory.
 */
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memvisor/layout.h>
#include <memvisor/pvh.h>

#include "error.h"

/* One program header, whatever the class. */
struct pvh_seg {
	uint32_t type;
	uint64_t offset;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t paddr;
	uint64_t align;
};

/* The image being loaded and its normalised program headers. */
struct pvh_elf {
	const uint8_t *img;
	size_t size;
	unsigned cls;                       /* ELFCLASS32 / ELFCLASS64 */
	uint64_t phoff;
	unsigned phnum;
	struct pvh_seg seg[PVH_MAX_PHDRS];
};

/* ---- little-endian field readers and range helpers ----------------------------------------- */

static uint64_t rd_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = bytes; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

#define RD32(p) ((uint32_t)rd_le((p), 4))

/* Field `field` of struct `type` at p, whatever its width (1, 2, 4 or 8 bytes). */
#define RD_FIELD(p, type, field) \
	rd_le((p) + offsetof(type, field), sizeof(((type *)0)->field))

/* [off, off + len) lies inside [0, limit), written so that nothing can wrap. */
static bool range_inside(uint64_t off, uint64_t len, uint64_t limit)
{
	return off <= limit && len <= limit - off;
}

/* [a, a + alen) and [b, b + blen) intersect (both ends known not to wrap). */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* ---- guest memory: ranges that may run across regions that touch ---------------------------- */

/*
 * Whether [gpa, gpa + len) is all guest RAM: regions are walked in address order, so a range may
 * run from one region into the next when they touch (two nodes back to back), but not across a
 * hole. On failure *hole is the first gpa that is not RAM. The caller has checked gpa + len does
 * not wrap.
 */
static bool gm_range_is_ram(const struct guest_mem *gm, gpa_t gpa, uint64_t len, gpa_t *hole)
{
	while (len > 0) {
		const struct guest_mem_region *r = guest_mem_find(gm, gpa);
		uint64_t chunk;

		if (!r) {
			*hole = gpa;
			return false;
		}
		chunk = r->size - (gpa - r->gpa);
		if (chunk > len)
			chunk = len;
		gpa += chunk;
		len -= chunk;
	}
	return true;
}

/*
 * Copy src[0..len) to guest [gpa, gpa + len), or zero it when src is NULL, region by region.
 * Only called on ranges gm_range_is_ram() accepted; each chunk still goes through
 * guest_mem_ptr(), so a bug here cannot write outside guest RAM. Returns false if a chunk was
 * refused (which validation makes impossible).
 */
static bool gm_fill(const struct guest_mem *gm, gpa_t gpa, const uint8_t *src, uint64_t len)
{
	while (len > 0) {
		const struct guest_mem_region *r = guest_mem_find(gm, gpa);
		uint64_t chunk;
		uint8_t *dst;

		if (!r)
			return false;
		chunk = r->size - (gpa - r->gpa);
		if (chunk > len)
			chunk = len;
		dst = guest_mem_ptr(gm, gpa, chunk);
		if (!dst)
			return false;
		if (src) {
			memcpy(dst, src, chunk);
			src += chunk;
		} else {
			memset(dst, 0, chunk);
		}
		gpa += chunk;
		len -= chunk;
	}
	return true;
}

/* ---- 1. the ELF header and the program header table --------------------------------------- */

/* A Linux bzImage: "HdrS" at 0x202 (Documentation/x86/boot.rst). Only used for a hint. */
static bool pvh_is_bzimage(const struct pvh_elf *e)
{
	return e->size >= 0x206 && memcmp(e->img + 0x202, "HdrS", 4) == 0;
}

static int pvh_check_ident(const struct pvh_elf *e)
{
	const uint8_t *id = e->img;

	if (e->size < EI_NIDENT)
		return mv_fail(ENOEXEC, "image is %zu bytes, too small for an ELF header", e->size);
	if (memcmp(id, ELFMAG, SELFMAG) != 0)
		return mv_fail(ENOEXEC, "not an ELF image: bad magic %02x %02x %02x %02x "
			       "(expected 7f 45 4c 46)%s", id[0], id[1], id[2], id[3],
			       pvh_is_bzimage(e) ? "; this is a bzImage (vmlinuz): boot the "
			       "uncompressed vmlinux ELF instead" : "");
	if (id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64)
		return mv_fail(ENOEXEC, "ELF class (e_ident[EI_CLASS]) %u is neither ELFCLASS32 (1) "
			       "nor ELFCLASS64 (2)", id[EI_CLASS]);
	if (id[EI_DATA] != ELFDATA2LSB)
		return mv_fail(ENOEXEC, "ELF data encoding (e_ident[EI_DATA]) %u is not "
			       "little-endian (ELFDATA2LSB, 1)", id[EI_DATA]);
	if (id[EI_VERSION] != EV_CURRENT)
		return mv_fail(ENOEXEC, "ELF version (e_ident[EI_VERSION]) %u is not EV_CURRENT (1)",
			       id[EI_VERSION]);
	return 0;
}

/* The header fields we use, by class. */
struct pvh_ehdr {
	uint64_t type, machine, version, phoff, phentsize, phnum, ehdr_size, phdr_size;
};

static void pvh_read_ehdr(const struct pvh_elf *e, struct pvh_ehdr *h)
{
	const uint8_t *p = e->img;

	if (e->cls == ELFCLASS64) {
		h->type = RD_FIELD(p, Elf64_Ehdr, e_type);
		h->machine = RD_FIELD(p, Elf64_Ehdr, e_machine);
		h->version = RD_FIELD(p, Elf64_Ehdr, e_version);
		h->phoff = RD_FIELD(p, Elf64_Ehdr, e_phoff);
		h->phentsize = RD_FIELD(p, Elf64_Ehdr, e_phentsize);
		h->phnum = RD_FIELD(p, Elf64_Ehdr, e_phnum);
		h->ehdr_size = sizeof(Elf64_Ehdr);
		h->phdr_size = sizeof(Elf64_Phdr);
	} else {
		h->type = RD_FIELD(p, Elf32_Ehdr, e_type);
		h->machine = RD_FIELD(p, Elf32_Ehdr, e_machine);
		h->version = RD_FIELD(p, Elf32_Ehdr, e_version);
		h->phoff = RD_FIELD(p, Elf32_Ehdr, e_phoff);
		h->phentsize = RD_FIELD(p, Elf32_Ehdr, e_phentsize);
		h->phnum = RD_FIELD(p, Elf32_Ehdr, e_phnum);
		h->ehdr_size = sizeof(Elf32_Ehdr);
		h->phdr_size = sizeof(Elf32_Phdr);
	}
}

static int pvh_check_ehdr(struct pvh_elf *e)
{
	const char *cname;
	struct pvh_ehdr h;
	int ret;

	ret = pvh_check_ident(e);
	if (ret)
		return ret;
	e->cls = e->img[EI_CLASS];
	cname = e->cls == ELFCLASS64 ? "ELF64" : "ELF32";
	if (e->size < (e->cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return mv_fail(ENOEXEC, "image is %zu bytes, too small for an %s header (%zu)",
			       e->size, cname,
			       e->cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr));
	pvh_read_ehdr(e, &h);

	if (h.version != EV_CURRENT)
		return mv_fail(ENOEXEC, "e_version %" PRIu64 " is not EV_CURRENT (1)", h.version);
	if (h.type != ET_EXEC)
		return mv_fail(ENOEXEC, "e_type %" PRIu64 " is not ET_EXEC (2): only executables "
			       "with fixed physical addresses can be loaded", h.type);
	/* x86-64 code in either class (ELF32 x86-64 images exist: objcopy -O elf32-x86-64). */
	if (h.machine != EM_X86_64 && !(e->cls == ELFCLASS32 && h.machine == EM_386))
		return mv_fail(ENOEXEC, "e_machine %" PRIu64 " is not %s", h.machine,
			       e->cls == ELFCLASS64 ? "EM_X86_64 (62)"
						    : "EM_X86_64 (62) or EM_386 (3)");
	if (h.phentsize != h.phdr_size)
		return mv_fail(ENOEXEC, "e_phentsize %" PRIu64 " is not the %s program header "
			       "size %" PRIu64, h.phentsize, cname, h.phdr_size);
	if (h.phnum == 0)
		return mv_fail(ENOEXEC, "e_phnum is 0: the image has no program headers");
	if (h.phnum > PVH_MAX_PHDRS)
		return mv_fail(ENOEXEC, "e_phnum %" PRIu64 " is more than the %u program headers "
			       "an image may have", h.phnum, PVH_MAX_PHDRS);
	/* phnum * phentsize <= 128 * 56: no overflow. */
	if (!range_inside(h.phoff, h.phnum * h.phentsize, e->size))
		return mv_fail(ENOEXEC, "program header table 0x%" PRIx64 "+0x%" PRIx64 " (e_phoff, "
			       "e_phnum * e_phentsize) is past the end of the image (size 0x%zx)",
			       h.phoff, h.phnum * h.phentsize, e->size);
	e->phoff = h.phoff;
	e->phnum = (unsigned)h.phnum;
	return 0;
}

static void pvh_read_phdrs(struct pvh_elf *e)
{
	for (unsigned i = 0; i < e->phnum; i++) {
		struct pvh_seg *s = &e->seg[i];

		if (e->cls == ELFCLASS64) {
			const uint8_t *p = e->img + e->phoff + (uint64_t)i * sizeof(Elf64_Phdr);

			s->type = (uint32_t)RD_FIELD(p, Elf64_Phdr, p_type);
			s->offset = RD_FIELD(p, Elf64_Phdr, p_offset);
			s->filesz = RD_FIELD(p, Elf64_Phdr, p_filesz);
			s->memsz = RD_FIELD(p, Elf64_Phdr, p_memsz);
			s->paddr = RD_FIELD(p, Elf64_Phdr, p_paddr);
			s->align = RD_FIELD(p, Elf64_Phdr, p_align);
		} else {
			const uint8_t *p = e->img + e->phoff + (uint64_t)i * sizeof(Elf32_Phdr);

			s->type = (uint32_t)RD_FIELD(p, Elf32_Phdr, p_type);
			s->offset = RD_FIELD(p, Elf32_Phdr, p_offset);
			s->filesz = RD_FIELD(p, Elf32_Phdr, p_filesz);
			s->memsz = RD_FIELD(p, Elf32_Phdr, p_memsz);
			s->paddr = RD_FIELD(p, Elf32_Phdr, p_paddr);
			s->align = RD_FIELD(p, Elf32_Phdr, p_align);
		}
	}
}

/* ---- 2./3. segments ----------------------------------------------------------------------- */

static int pvh_check_file_range(const struct pvh_elf *e, unsigned i)
{
	const struct pvh_seg *s = &e->seg[i];

	if (!range_inside(s->offset, s->filesz, e->size))
		return mv_fail(ENOEXEC, "segment %u: file range 0x%" PRIx64 "+0x%" PRIx64 " is past "
			       "the end of the image (size 0x%zx)", i, s->offset, s->filesz, e->size);
	return 0;
}

static int pvh_check_load(const struct pvh_elf *e, unsigned i, const struct guest_mem *gm)
{
	const struct pvh_seg *s = &e->seg[i];
	gpa_t hole;

	if (s->filesz > s->memsz)
		return mv_fail(ENOEXEC, "segment %u: p_filesz 0x%" PRIx64 " is larger than "
			       "p_memsz 0x%" PRIx64, i, s->filesz, s->memsz);
	if (s->memsz == 0)
		return 0;       /* nothing to load: placement does not matter */
	if (s->paddr > UINT64_MAX - s->memsz)
		return mv_fail(ENOEXEC, "segment %u: guest range 0x%" PRIx64 "+0x%" PRIx64 " wraps "
			       "past the end of the address space", i, s->paddr, s->memsz);
	if (s->paddr < MV_GPA_KERNEL_MIN)
		return mv_fail(EINVAL, "segment %u: p_paddr 0x%" PRIx64 " is below MV_GPA_KERNEL_MIN "
			       "0x%" PRIx64 ": the first MiB holds the start info, command line and "
			       "ACPI tables", i, s->paddr, MV_GPA_KERNEL_MIN);
	if (!gm_range_is_ram(gm, s->paddr, s->memsz, &hole))
		return mv_fail(EINVAL, "segment %u: guest range 0x%" PRIx64 "+0x%" PRIx64 " is not "
			       "all guest RAM (0x%" PRIx64 " is not RAM)", i, s->paddr, s->memsz, hole);
	return 0;
}

static int pvh_check_segments(const struct pvh_elf *e, const struct guest_mem *gm)
{
	unsigned loaded = 0;
	int ret;

	for (unsigned i = 0; i < e->phnum; i++) {
		const struct pvh_seg *s = &e->seg[i];

		if (s->type != PT_LOAD && s->type != PT_NOTE)
			continue;       /* PT_GNU_STACK, PT_PHDR, ...: nothing to do for a kernel */
		ret = pvh_check_file_range(e, i);
		if (ret)
			return ret;
		if (s->type == PT_LOAD) {
			ret = pvh_check_load(e, i, gm);
			if (ret)
				return ret;
			loaded += s->memsz > 0;
		}
	}
	if (loaded == 0)
		return mv_fail(ENOEXEC, "no PT_LOAD segment with p_memsz > 0: nothing to load");

	for (unsigned i = 0; i < e->phnum; i++) {
		const struct pvh_seg *a = &e->seg[i];

		if (a->type != PT_LOAD || a->memsz == 0)
			continue;
		for (unsigned j = i + 1; j < e->phnum; j++) {
			const struct pvh_seg *b = &e->seg[j];

			if (b->type != PT_LOAD || b->memsz == 0)
				continue;
			if (ranges_overlap(a->paddr, a->memsz, b->paddr, b->memsz))
				return mv_fail(ENOEXEC, "segments %u and %u overlap in guest memory: "
					       "0x%" PRIx64 "+0x%" PRIx64 " and 0x%" PRIx64
					       "+0x%" PRIx64, i, j, a->paddr, a->memsz, b->paddr,
					       b->memsz);
		}
	}
	return 0;
}

/* ---- 4. notes and the entry --------------------------------------------------------------- */

/* v rounded up to a multiple of a (a power of two); callers keep v far below 2^64. */
static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* The PHYS32_ENTRY note's desc[0..descsz) as an entry; *found / *entry carry earlier notes. */
static int pvh_take_entry(unsigned i, uint64_t note_off, const uint8_t *desc, uint32_t descsz,
			  bool *found, uint32_t *entry)
{
	uint64_t v;

	if (descsz != 4 && descsz != 8)
		return mv_fail(ENOEXEC, "segment %u: note at offset 0x%" PRIx64 ": "
			       "XEN_ELFNOTE_PHYS32_ENTRY has a %" PRIu32 "-byte desc (expected 4 "
			       "or 8)", i, note_off, descsz);
	v = rd_le(desc, descsz);
	if (v > UINT32_MAX)
		return mv_fail(ENOEXEC, "segment %u: XEN_ELFNOTE_PHYS32_ENTRY 0x%" PRIx64 " does not "
			       "fit 32 bits (the entry runs in 32-bit protected mode)", i, v);
	if (*found && *entry != v)
		return mv_fail(ENOEXEC, "XEN_ELFNOTE_PHYS32_ENTRY notes disagree: 0x%" PRIx32
			       " and 0x%" PRIx64, *entry, v);
	*found = true;
	*entry = (uint32_t)v;
	return 0;
}

/*
 * Walk the notes of PT_NOTE segment i: each is a 12-byte header (namesz, descsz, type), the
 * name, padding up to the note alignment, the desc, padding again; offsets are aligned relative
 * to the segment start, as binutils' ELF_NOTE_DESC_OFFSET / ELF_NOTE_NEXT_OFFSET do. The
 * alignment is 8 when the segment says p_align 8 (GNU property notes) and 4 otherwise: 4 is
 * what every x86 toolchain uses, ELF64 included, whatever the gABI says. The last desc's
 * padding may be cut off by the end of the segment.
 */
static int pvh_walk_notes(const struct pvh_elf *e, unsigned i, bool *found, uint32_t *entry)
{
	const struct pvh_seg *s = &e->seg[i];
	const uint8_t *base = e->img + s->offset;
	uint64_t a = s->align == 8 ? 8 : 4;
	uint64_t off = 0;
	int ret;

	while (off < s->filesz) {
		uint64_t left = s->filesz - off;
		uint32_t namesz, descsz, type;
		uint64_t desc_rel, desc_off, next;

		if (left < sizeof(Elf64_Nhdr))
			return mv_fail(ENOEXEC, "segment %u: note at offset 0x%" PRIx64 ": header "
				       "runs past the end of the segment (0x%" PRIx64 " bytes left)",
				       i, off, left);
		namesz = RD32(base + off);
		descsz = RD32(base + off + 4);
		type = RD32(base + off + 8);
		/* < 2^33: no wrap; off is aligned, so off + desc_rel is too. */
		desc_rel = align_up(sizeof(Elf64_Nhdr) + (uint64_t)namesz, a);
		if (desc_rel > left)
			return mv_fail(ENOEXEC, "segment %u: note at offset 0x%" PRIx64 ": name of "
				       "%" PRIu32 " bytes runs past the end of the segment", i, off,
				       namesz);
		desc_off = off + desc_rel;
		if (descsz > s->filesz - desc_off)
			return mv_fail(ENOEXEC, "segment %u: note at offset 0x%" PRIx64 ": desc of "
				       "%" PRIu32 " bytes runs past the end of the segment", i, off,
				       descsz);
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == sizeof(XEN_ELFNOTE_OWNER) &&
		    memcmp(base + off + sizeof(Elf64_Nhdr), XEN_ELFNOTE_OWNER,
			   sizeof(XEN_ELFNOTE_OWNER)) == 0) {
			ret = pvh_take_entry(i, off, base + desc_off, descsz, found, entry);
			if (ret)
				return ret;
		}
		next = align_up(desc_off + descsz, a);  /* desc_off + descsz <= filesz: no wrap */
		if (next >= s->filesz)
			break;          /* the last note (its padding may be missing) */
		off = next;
	}
	return 0;
}

static int pvh_find_entry(const struct pvh_elf *e, uint32_t *entry)
{
	bool found = false;
	int ret;

	for (unsigned i = 0; i < e->phnum; i++) {
		if (e->seg[i].type != PT_NOTE)
			continue;
		ret = pvh_walk_notes(e, i, &found, entry);
		if (ret)
			return ret;
	}
	if (!found)
		return mv_fail(ENOEXEC, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) in any PT_NOTE "
			       "segment: the image is not a PVH kernel");
	for (unsigned i = 0; i < e->phnum; i++) {
		const struct pvh_seg *s = &e->seg[i];

		if (s->type == PT_LOAD && *entry >= s->paddr && *entry - s->paddr < s->filesz)
			return 0;
	}
	return mv_fail(ENOEXEC, "PVH entry 0x%" PRIx32 " is not inside the file bytes of any "
		       "PT_LOAD segment", *entry);
}

/* ---- 5. loading --------------------------------------------------------------------------- */

static int pvh_copy(const struct pvh_elf *e, const struct guest_mem *gm, struct pvh_image *out)
{
	out->load_start = UINT64_MAX;
	out->load_end = 0;
	out->nr_segments = 0;
	for (unsigned i = 0; i < e->phnum; i++) {
		const struct pvh_seg *s = &e->seg[i];

		if (s->type != PT_LOAD || s->memsz == 0)
			continue;
		if (!gm_fill(gm, s->paddr, e->img + s->offset, s->filesz) ||
		    !gm_fill(gm, s->paddr + s->filesz, NULL, s->memsz - s->filesz))
			return mv_fail(EFAULT, "segment %u: internal error: guest range 0x%" PRIx64
				       "+0x%" PRIx64 " was accepted but cannot be written", i,
				       s->paddr, s->memsz);
		if (s->paddr < out->load_start)
			out->load_start = s->paddr;
		if (s->paddr + s->memsz > out->load_end)
			out->load_end = s->paddr + s->memsz;
		out->nr_segments++;
	}
	return 0;
}

int pvh_load(const void *image, size_t size, struct guest_mem *gm, struct pvh_image *out)
{
	struct pvh_elf e = { .img = image, .size = size };
	uint32_t entry = 0;
	int ret;

	if (!image || !gm || !out)
		return mv_fail(EINVAL, "pvh_load: image, guest memory and result must not be NULL");
	ret = pvh_check_ehdr(&e);
	if (ret)
		return ret;
	pvh_read_phdrs(&e);
	ret = pvh_check_segments(&e, gm);
	if (ret)
		return ret;
	ret = pvh_find_entry(&e, &entry);
	if (ret)
		return ret;
	ret = pvh_copy(&e, gm, out);
	if (ret)
		return ret;
	out->entry = entry;
	out->elf_class = e.cls;
	return 0;
}

/* ---- reading an image file ---------------------------------------------------------------- */

/* Read all of fd (st_size bytes) into a new buffer; *buf is the caller's to free. */
static int pvh_read_fd(const char *path, int fd, size_t size, uint8_t **buf)
{
	size_t done = 0;

	*buf = malloc(size ? size : 1);
	if (!*buf)
		return mv_fail(ENOMEM, "%s: no memory for a %zu-byte image", path, size);
	while (done < size) {
		ssize_t n = read(fd, *buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			return mv_fail(err, "%s: cannot read: %s", path, strerror(err));
		}
		if (n == 0)
			return mv_fail(EIO, "%s: file shrank while being read (%zu of %zu bytes)",
				       path, done, size);
		done += (size_t)n;
	}
	return 0;
}

int pvh_load_file(const char *path, struct guest_mem *gm, struct pvh_image *out)
{
	uint8_t *buf = NULL;
	struct stat st;
	int fd, ret;

	if (!path)
		return mv_fail(EINVAL, "pvh_load_file: no path");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		return mv_fail(err, "%s: cannot open: %s", path, strerror(err));
	}
	if (fstat(fd, &st) != 0) {
		int err = errno;

		ret = mv_fail(err, "%s: cannot stat: %s", path, strerror(err));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = mv_fail(EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > PVH_MAX_FILE_SIZE) {
		ret = mv_fail(EFBIG, "%s: %" PRIu64 " bytes is more than the %" PRIu64 " MiB a "
			      "kernel image may have", path, (uint64_t)st.st_size,
			      PVH_MAX_FILE_SIZE >> 20);
		goto out;
	}
	ret = pvh_read_fd(path, fd, (size_t)st.st_size, &buf);
	if (ret)
		goto out;
	ret = pvh_load(buf, (size_t)st.st_size, gm, out);
	if (ret) {
		char why[512];

		/* mv_error() is the buffer mv_fail() writes: copy it before prefixing the path. */
		snprintf(why, sizeof(why), "%s", mv_error());
		mv_fail(-ret, "%s: %s", path, why);
	}
out:
	free(buf);
	close(fd);
	return ret;
}
