/*
 * loader_pvh.c — the PVH ELF loader (loader.h). Owns nothing beyond the call: it reads an
 * untrusted image, validates all of it, and only then copies the segments into guest memory.
 * No locks, no global state. The ELF header, program headers, segment checks, copy and file
 * reading are loader_common.h's (shared with the multiboot loader); the notes are read here.
 *
 * How it is read: every multi-byte field is read byte by byte as little-endian at the offset
 * <elf.h> gives it (offsetof(Elf64_Phdr, p_offset), ...), so nothing depends on the image's
 * alignment or the host's byte order, and ELF32 and ELF64 are normalised into one struct
 * loader_seg per program header. Every range check is written as `len <= limit - off` after
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
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>
#include <memvisor/pvh.h>

#include "error.h"
#include "loader_common.h"

_Static_assert(PVH_MAX_PHDRS == LOADER_ELF_MAX_PHDRS, "loader.h and loader_common.h agree");

#define RD32(p) ((uint32_t)loader_rd_le((p), 4))

/* ---- 1. the ELF header: both classes, x86-64 code (or i386 in ELF32) ---------------------- */

/* x86-64 code in either class (ELF32 x86-64 images exist: objcopy -O elf32-x86-64). */
static bool pvh_machine_ok(unsigned cls, uint64_t machine)
{
	return machine == EM_X86_64 || (cls == ELFCLASS32 && machine == EM_386);
}

static const char *pvh_machine_expected(unsigned cls)
{
	return cls == ELFCLASS64 ? "EM_X86_64 (62)" : "EM_X86_64 (62) or EM_386 (3)";
}

static const struct loader_elf_rules pvh_rules = {
	.class32 = true,
	.class64 = true,
	.machine_ok = pvh_machine_ok,
	.machine_expected = pvh_machine_expected,
};

/* ---- 4. notes and the entry --------------------------------------------------------------- */

/* The PHYS32_ENTRY note's desc[0..descsz) as an entry; *found / *entry carry earlier notes. */
static int pvh_take_entry(unsigned i, uint64_t note_off, const uint8_t *desc, uint32_t descsz,
			  bool *found, uint32_t *entry)
{
	uint64_t v;

	if (descsz != 4 && descsz != 8)
		return mv_fail(ENOEXEC, "segment %u: note at offset 0x%" PRIx64 ": "
			       "XEN_ELFNOTE_PHYS32_ENTRY has a %" PRIu32 "-byte desc (expected 4 "
			       "or 8)", i, note_off, descsz);
	v = loader_rd_le(desc, descsz);
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
static int pvh_walk_notes(const struct loader_elf *e, unsigned i, bool *found, uint32_t *entry)
{
	const struct loader_seg *s = &e->seg[i];
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
		desc_rel = loader_align_up(sizeof(Elf64_Nhdr) + (uint64_t)namesz, a);
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
		/* desc_off + descsz <= filesz: no wrap */
		next = loader_align_up(desc_off + descsz, a);
		if (next >= s->filesz)
			break;          /* the last note (its padding may be missing) */
		off = next;
	}
	return 0;
}

static int pvh_find_entry(const struct loader_elf *e, uint32_t *entry)
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
	if (loader_elf_in_file_bytes(e, *entry))
		return 0;
	return mv_fail(ENOEXEC, "PVH entry 0x%" PRIx32 " is not inside the file bytes of any "
		       "PT_LOAD segment", *entry);
}

/* ---- 2./3./5. segments and loading, then the file ------------------------------------------ */

int pvh_load(const void *image, size_t size, struct guest_mem *gm, struct pvh_image *out)
{
	struct loader_elf e = { .img = image, .size = size };
	uint32_t entry = 0;
	int ret;

	if (!image || !gm || !out)
		return mv_fail(EINVAL, "pvh_load: image, guest memory and result must not be NULL");
	ret = loader_elf_parse(&e, &pvh_rules);
	if (ret)
		return ret;
	ret = loader_elf_check_segments(&e, gm);
	if (ret)
		return ret;
	ret = pvh_find_entry(&e, &entry);
	if (ret)
		return ret;
	ret = loader_elf_copy(&e, gm, &out->load_start, &out->load_end, &out->nr_segments);
	if (ret)
		return ret;
	out->entry = entry;
	out->elf_class = e.cls;
	return 0;
}

int pvh_load_file(const char *path, struct guest_mem *gm, struct pvh_image *out)
{
	uint8_t *buf = NULL;
	size_t size;
	int ret;

	if (!path)
		return mv_fail(EINVAL, "pvh_load_file: no path");
	ret = loader_read_file(path, PVH_MAX_FILE_SIZE, "a kernel image", &buf, &size);
	if (ret)
		return ret;
	ret = mv_fail_prefix(pvh_load(buf, size, gm, out), path);
	free(buf);
	return ret;
}
