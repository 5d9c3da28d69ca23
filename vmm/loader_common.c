/*
 * loader_common.c — the loaders' shared pieces (loader_common.h): image files, ELF header and
 * program header parsing, segment validation and copy, guest ranges across touching regions,
 * initrd placement.
 * Owns nothing beyond the call; no locks, no global state. ELF32 and ELF64 are normalised into
 * one struct loader_seg per program header; the order of checks (and so which failure is
 * reported first) is the one loader_common.h documents.
 */
#include "loader_common.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memvisor/layout.h>

#include "error.h"

/* Field `field` of struct `type` at p, whatever its width (1, 2, 4 or 8 bytes). */
#define RD_FIELD(p, type, field) \
	loader_rd_le((p) + offsetof(type, field), sizeof(((type *)0)->field))

/* [a, a + alen) and [b, b + blen) intersect (both ends known not to wrap). */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* ---- image files ----------------------------------------------------------------------------- */

/* Read len bytes of fd into buf, fewer only at end of file: *got says how many. */
static int read_upto(const char *path, int fd, uint8_t *buf, size_t len, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = read(fd, buf + *got, len - *got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			return mv_fail(err, "%s: cannot read: %s", path, strerror(err));
		}
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

/* Read all of fd (size bytes) into a new buffer; *buf is the caller's to free. */
static int read_fd(const char *path, int fd, size_t size, uint8_t **buf)
{
	size_t done;
	int ret;

	*buf = malloc(size ? size : 1);
	if (!*buf)
		return mv_fail(ENOMEM, "%s: no memory for a %zu-byte image", path, size);
	ret = read_upto(path, fd, *buf, size, &done);
	if (!ret && done < size)
		ret = mv_fail(EIO, "%s: file shrank while being read (%zu of %zu bytes)", path,
			      done, size);
	return ret;
}

int loader_read_head(const char *path, uint8_t *buf, size_t len, size_t *got)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	*got = 0;
	if (fd < 0) {
		int err = errno;

		return mv_fail(err, "%s: cannot open: %s", path, strerror(err));
	}
	ret = read_upto(path, fd, buf, len, got);
	close(fd);
	return ret;
}

int loader_read_file(const char *path, uint64_t max, const char *what, uint8_t **buf,
		     size_t *size)
{
	struct stat st;
	int fd, ret;

	*buf = NULL;
	*size = 0;
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
	if ((uint64_t)st.st_size > max) {
		ret = mv_fail(EFBIG, "%s: %" PRIu64 " bytes is more than the %" PRIu64 " MiB %s "
			      "may have", path, (uint64_t)st.st_size, max >> 20, what);
		goto out;
	}
	ret = read_fd(path, fd, (size_t)st.st_size, buf);
	if (ret) {
		free(*buf);
		*buf = NULL;
		goto out;
	}
	*size = (size_t)st.st_size;
out:
	close(fd);
	return ret;
}

/* ---- guest memory: ranges that may run across regions that touch ---------------------------- */

bool loader_gm_is_ram(const struct guest_mem *gm, gpa_t gpa, uint64_t len, gpa_t *hole)
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

bool loader_place_top(const struct guest_mem *gm, gpa_t lo, gpa_t limit, uint64_t size,
		      gpa_t *gpa, uint64_t *room)
{
	const uint64_t mask = LOADER_PLACE_ALIGN - 1;
	bool found = false;

	*room = 0;
	for (unsigned i = 0; i < gm->nr;) {
		gpa_t start = gm->r[i].gpa, end = gm->r[i].gpa + gm->r[i].size;
		uint64_t base, top, at;

		for (i++; i < gm->nr && gm->r[i].gpa == end; i++)
			end += gm->r[i].size;           /* regions that touch: one run */
		base = loader_align_up(start > lo ? start : lo, LOADER_PLACE_ALIGN);
		top = end < limit ? end : limit;
		if (base >= top)
			continue;
		if (top - base > *room)
			*room = top - base;
		if (size > top - base)
			continue;
		at = (top - size) & ~mask;      /* >= base: base is aligned and <= top - size */
		if (!found || at > *gpa) {
			*gpa = at;
			found = true;
		}
	}
	return found;
}

bool loader_gm_fill(const struct guest_mem *gm, gpa_t gpa, const uint8_t *src, uint64_t len)
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

/* ---- the ELF header and the program header table ------------------------------------------ */

/* A Linux bzImage: "HdrS" at 0x202 (Documentation/x86/boot.rst). Only used for a hint. */
static bool is_bzimage(const struct loader_elf *e)
{
	return e->size >= 0x206 && memcmp(e->img + 0x202, "HdrS", 4) == 0;
}

static int check_ident(const struct loader_elf *e, const struct loader_elf_rules *r)
{
	const uint8_t *id = e->img;
	unsigned cls;

	if (e->size < EI_NIDENT)
		return mv_fail(ENOEXEC, "image is %zu bytes, too small for an ELF header", e->size);
	if (memcmp(id, ELFMAG, SELFMAG) != 0)
		return mv_fail(ENOEXEC, "not an ELF image: bad magic %02x %02x %02x %02x "
			       "(expected 7f 45 4c 46)%s", id[0], id[1], id[2], id[3],
			       is_bzimage(e) ? "; this is a bzImage (vmlinuz): boot the "
			       "uncompressed vmlinux ELF instead" : "");
	cls = id[EI_CLASS];
	if (r->class32 && r->class64 && cls != ELFCLASS32 && cls != ELFCLASS64)
		return mv_fail(ENOEXEC, "ELF class (e_ident[EI_CLASS]) %u is neither ELFCLASS32 (1) "
			       "nor ELFCLASS64 (2)", cls);
	if (!(r->class32 && r->class64) &&
	    !(cls == ELFCLASS32 && r->class32) && !(cls == ELFCLASS64 && r->class64))
		return mv_fail(ENOEXEC, "ELF class (e_ident[EI_CLASS]) %u is not %s%s", cls,
			       r->class32 ? "ELFCLASS32 (1)" : "ELFCLASS64 (2)",
			       (cls == ELFCLASS32 || cls == ELFCLASS64) && r->class_hint ?
			       r->class_hint : "");
	if (id[EI_DATA] != ELFDATA2LSB)
		return mv_fail(ENOEXEC, "ELF data encoding (e_ident[EI_DATA]) %u is not "
			       "little-endian (ELFDATA2LSB, 1)", id[EI_DATA]);
	if (id[EI_VERSION] != EV_CURRENT)
		return mv_fail(ENOEXEC, "ELF version (e_ident[EI_VERSION]) %u is not EV_CURRENT (1)",
			       id[EI_VERSION]);
	return 0;
}

/* The header fields we use, by class. */
struct ehdr {
	uint64_t type, machine, version, entry, phoff, phentsize, phnum, ehdr_size, phdr_size;
};

static void read_ehdr(const struct loader_elf *e, struct ehdr *h)
{
	const uint8_t *p = e->img;

	if (e->cls == ELFCLASS64) {
		h->type = RD_FIELD(p, Elf64_Ehdr, e_type);
		h->machine = RD_FIELD(p, Elf64_Ehdr, e_machine);
		h->version = RD_FIELD(p, Elf64_Ehdr, e_version);
		h->entry = RD_FIELD(p, Elf64_Ehdr, e_entry);
		h->phoff = RD_FIELD(p, Elf64_Ehdr, e_phoff);
		h->phentsize = RD_FIELD(p, Elf64_Ehdr, e_phentsize);
		h->phnum = RD_FIELD(p, Elf64_Ehdr, e_phnum);
		h->ehdr_size = sizeof(Elf64_Ehdr);
		h->phdr_size = sizeof(Elf64_Phdr);
	} else {
		h->type = RD_FIELD(p, Elf32_Ehdr, e_type);
		h->machine = RD_FIELD(p, Elf32_Ehdr, e_machine);
		h->version = RD_FIELD(p, Elf32_Ehdr, e_version);
		h->entry = RD_FIELD(p, Elf32_Ehdr, e_entry);
		h->phoff = RD_FIELD(p, Elf32_Ehdr, e_phoff);
		h->phentsize = RD_FIELD(p, Elf32_Ehdr, e_phentsize);
		h->phnum = RD_FIELD(p, Elf32_Ehdr, e_phnum);
		h->ehdr_size = sizeof(Elf32_Ehdr);
		h->phdr_size = sizeof(Elf32_Phdr);
	}
}

static void read_phdrs(struct loader_elf *e)
{
	for (unsigned i = 0; i < e->phnum; i++) {
		struct loader_seg *s = &e->seg[i];

		if (e->cls == ELFCLASS64) {
			const uint8_t *p = e->img + e->phoff + (uint64_t)i * sizeof(Elf64_Phdr);

			s->type = (uint32_t)RD_FIELD(p, Elf64_Phdr, p_type);
			s->flags = (uint32_t)RD_FIELD(p, Elf64_Phdr, p_flags);
			s->offset = RD_FIELD(p, Elf64_Phdr, p_offset);
			s->filesz = RD_FIELD(p, Elf64_Phdr, p_filesz);
			s->memsz = RD_FIELD(p, Elf64_Phdr, p_memsz);
			s->paddr = RD_FIELD(p, Elf64_Phdr, p_paddr);
			s->vaddr = RD_FIELD(p, Elf64_Phdr, p_vaddr);
			s->align = RD_FIELD(p, Elf64_Phdr, p_align);
		} else {
			const uint8_t *p = e->img + e->phoff + (uint64_t)i * sizeof(Elf32_Phdr);

			s->type = (uint32_t)RD_FIELD(p, Elf32_Phdr, p_type);
			s->flags = (uint32_t)RD_FIELD(p, Elf32_Phdr, p_flags);
			s->offset = RD_FIELD(p, Elf32_Phdr, p_offset);
			s->filesz = RD_FIELD(p, Elf32_Phdr, p_filesz);
			s->memsz = RD_FIELD(p, Elf32_Phdr, p_memsz);
			s->paddr = RD_FIELD(p, Elf32_Phdr, p_paddr);
			s->vaddr = RD_FIELD(p, Elf32_Phdr, p_vaddr);
			s->align = RD_FIELD(p, Elf32_Phdr, p_align);
		}
	}
}

int loader_elf_parse(struct loader_elf *e, const struct loader_elf_rules *r)
{
	const char *cname;
	struct ehdr h;
	int ret;

	ret = check_ident(e, r);
	if (ret)
		return ret;
	e->cls = e->img[EI_CLASS];
	cname = e->cls == ELFCLASS64 ? "ELF64" : "ELF32";
	if (e->size < (e->cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return mv_fail(ENOEXEC, "image is %zu bytes, too small for an %s header (%zu)",
			       e->size, cname,
			       e->cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr));
	read_ehdr(e, &h);

	if (h.version != EV_CURRENT)
		return mv_fail(ENOEXEC, "e_version %" PRIu64 " is not EV_CURRENT (1)", h.version);
	if (h.type != ET_EXEC)
		return mv_fail(ENOEXEC, "e_type %" PRIu64 " is not ET_EXEC (2): only executables "
			       "with fixed physical addresses can be loaded", h.type);
	if (!r->machine_ok(e->cls, h.machine))
		return mv_fail(ENOEXEC, "e_machine %" PRIu64 " is not %s", h.machine,
			       r->machine_expected(e->cls));
	if (h.phentsize != h.phdr_size)
		return mv_fail(ENOEXEC, "e_phentsize %" PRIu64 " is not the %s program header "
			       "size %" PRIu64, h.phentsize, cname, h.phdr_size);
	if (h.phnum == 0)
		return mv_fail(ENOEXEC, "e_phnum is 0: the image has no program headers");
	if (h.phnum > LOADER_ELF_MAX_PHDRS)
		return mv_fail(ENOEXEC, "e_phnum %" PRIu64 " is more than the %u program headers "
			       "an image may have", h.phnum, LOADER_ELF_MAX_PHDRS);
	/* phnum * phentsize <= 128 * 56: no overflow. */
	if (!loader_range_inside(h.phoff, h.phnum * h.phentsize, e->size))
		return mv_fail(ENOEXEC, "program header table 0x%" PRIx64 "+0x%" PRIx64 " (e_phoff, "
			       "e_phnum * e_phentsize) is past the end of the image (size 0x%zx)",
			       h.phoff, h.phnum * h.phentsize, e->size);
	e->entry = h.entry;
	e->phoff = h.phoff;
	e->phnum = (unsigned)h.phnum;
	read_phdrs(e);
	return 0;
}

/* ---- segments ------------------------------------------------------------------------------- */

static int check_file_range(const struct loader_elf *e, unsigned i)
{
	const struct loader_seg *s = &e->seg[i];

	if (!loader_range_inside(s->offset, s->filesz, e->size))
		return mv_fail(ENOEXEC, "segment %u: file range 0x%" PRIx64 "+0x%" PRIx64 " is past "
			       "the end of the image (size 0x%zx)", i, s->offset, s->filesz, e->size);
	return 0;
}

static int check_load(const struct loader_elf *e, unsigned i, const struct guest_mem *gm)
{
	const struct loader_seg *s = &e->seg[i];
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
	if (!loader_gm_is_ram(gm, s->paddr, s->memsz, &hole))
		return mv_fail(EINVAL, "segment %u: guest range 0x%" PRIx64 "+0x%" PRIx64 " is not "
			       "all guest RAM (0x%" PRIx64 " is not RAM)", i, s->paddr, s->memsz, hole);
	return 0;
}

int loader_elf_check_segments(const struct loader_elf *e, const struct guest_mem *gm)
{
	unsigned loaded = 0;
	int ret;

	for (unsigned i = 0; i < e->phnum; i++) {
		const struct loader_seg *s = &e->seg[i];

		if (s->type != PT_LOAD && s->type != PT_NOTE)
			continue;       /* PT_GNU_STACK, PT_PHDR, ...: nothing to do for a kernel */
		ret = check_file_range(e, i);
		if (ret)
			return ret;
		if (s->type == PT_LOAD) {
			ret = check_load(e, i, gm);
			if (ret)
				return ret;
			loaded += s->memsz > 0;
		}
	}
	if (loaded == 0)
		return mv_fail(ENOEXEC, "no PT_LOAD segment with p_memsz > 0: nothing to load");

	for (unsigned i = 0; i < e->phnum; i++) {
		const struct loader_seg *a = &e->seg[i];

		if (a->type != PT_LOAD || a->memsz == 0)
			continue;
		for (unsigned j = i + 1; j < e->phnum; j++) {
			const struct loader_seg *b = &e->seg[j];

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

bool loader_elf_in_file_bytes(const struct loader_elf *e, uint64_t gpa)
{
	for (unsigned i = 0; i < e->phnum; i++) {
		const struct loader_seg *s = &e->seg[i];

		if (s->type == PT_LOAD && gpa >= s->paddr && gpa - s->paddr < s->filesz)
			return true;
	}
	return false;
}

unsigned loader_elf_extent(const struct loader_elf *e, gpa_t *start, gpa_t *end)
{
	unsigned n = 0;

	*start = UINT64_MAX;
	*end = 0;
	for (unsigned i = 0; i < e->phnum; i++) {
		const struct loader_seg *s = &e->seg[i];

		if (s->type != PT_LOAD || s->memsz == 0)
			continue;
		if (s->paddr < *start)
			*start = s->paddr;
		if (s->paddr + s->memsz > *end)
			*end = s->paddr + s->memsz;
		n++;
	}
	return n;
}

int loader_elf_copy(const struct loader_elf *e, const struct guest_mem *gm, gpa_t *start,
		    gpa_t *end, unsigned *nr)
{
	for (unsigned i = 0; i < e->phnum; i++) {
		const struct loader_seg *s = &e->seg[i];

		if (s->type != PT_LOAD || s->memsz == 0)
			continue;
		if (!loader_gm_fill(gm, s->paddr, e->img + s->offset, s->filesz) ||
		    !loader_gm_fill(gm, s->paddr + s->filesz, NULL, s->memsz - s->filesz))
			return mv_fail(EFAULT, "segment %u: internal error: guest range 0x%" PRIx64
				       "+0x%" PRIx64 " was accepted but cannot be written", i,
				       s->paddr, s->memsz);
	}
	*nr = loader_elf_extent(e, start, end);
	return 0;
}
