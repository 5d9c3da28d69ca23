/*
 * loader_common.h — what the image loaders (loader_pvh.c, loader_multiboot.c, loader_linux.c,
 * boot_pvh.c) and run.c's protocol detection share: reading an image file or its head, parsing
 * and validating an ELF executable's header and program headers, checking and filling guest
 * ranges, placing an initrd at the top of RAM. Internal to the loaders and run.c; no state, no
 * locks (runs on the loader thread while the machine is built).
 *
 * Contracts: every multi-byte image field is read byte by byte as little-endian at the offset
 * <elf.h> gives it, so nothing depends on the image's alignment or the host's byte order; every
 * range check is `off <= limit && len <= limit - off`, never `off + len <= limit`, so no sum of
 * image values can wrap. Nothing here writes guest memory except loader_gm_fill() and
 * loader_elf_copy(), which the loaders call only once every check has passed.
 */
#ifndef MV_LOADER_COMMON_H
#define MV_LOADER_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mm/types.h>

#include "guest_mem.h"

#define LOADER_ELF_MAX_PHDRS 128               /* program headers an image may have */

/* One program header, whatever the class. */
struct loader_seg {
	uint32_t type;
	uint32_t flags;          /* PF_X, PF_W, PF_R */
	uint64_t offset;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t paddr;
	uint64_t vaddr;
	uint64_t align;
};

/* What a loader accepts: classes, and the machines of each class (as e_machine values). */
struct loader_elf_rules {
	bool class32, class64;
	bool (*machine_ok)(unsigned cls, uint64_t machine);
	const char *(*machine_expected)(unsigned cls);   /* "EM_X86_64 (62)" for the message */
	const char *class_hint;    /* appended when the class is ELF32/64 but not accepted */
};

/* An image being loaded and its normalised program headers. */
struct loader_elf {
	const uint8_t *img;
	size_t size;
	unsigned cls;                       /* ELFCLASS32 / ELFCLASS64 */
	uint64_t entry;                     /* e_entry */
	uint64_t phoff;
	unsigned phnum;
	struct loader_seg seg[LOADER_ELF_MAX_PHDRS];
};

/* The little-endian value of p[0..bytes) (bytes <= 8). */
static inline uint64_t loader_rd_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = bytes; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* [off, off + len) lies inside [0, limit), written so that nothing can wrap. */
static inline bool loader_range_inside(uint64_t off, uint64_t len, uint64_t limit)
{
	return off <= limit && len <= limit - off;
}

/* v rounded up to a multiple of a (a power of two); callers keep v far below 2^64. */
static inline uint64_t loader_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * Read the regular file at path (at most max bytes) into a new buffer: *buf (the caller frees
 * it) and *size. `what` names the file in the too-large message ("a kernel image"). Returns 0
 * or -errno with mv_error() naming the path: open/stat/read failures with strerror(), not a
 * regular file -EINVAL, larger than max -EFBIG.
 */
int loader_read_file(const char *path, uint64_t max, const char *what, uint8_t **buf,
		     size_t *size);

/*
 * Read the first len bytes of the file at path into buf (fewer when the file is shorter; *got
 * says how many): enough to tell its boot protocol (boot_detect). Returns 0 or -errno with
 * mv_error() naming the path and strerror() of the failing open or read.
 */
int loader_read_head(const char *path, uint8_t *buf, size_t len, size_t *got);

/*
 * Whether [gpa, gpa + len) is all guest RAM: regions are walked in address order, so a range may
 * run from one region into the next when they touch (two nodes back to back), but not across a
 * hole. On failure *hole is the first gpa that is not RAM. The caller has checked gpa + len does
 * not wrap.
 */
bool loader_gm_is_ram(const struct guest_mem *gm, gpa_t gpa, uint64_t len, gpa_t *hole);

/* Where loader_place_top() puts a blob: page-aligned, as Linux wants its initrd. */
#define LOADER_PLACE_ALIGN MM_PAGE_SIZE

/*
 * Place size bytes (size > 0) LOADER_PLACE_ALIGN-aligned as high as they fit in one run of guest
 * RAM inside [lo, limit). A run is a maximal sequence of regions that touch (two nodes back to
 * back form one run; a hole ends it); inside a run the usable part starts at max(run start, lo)
 * rounded up to the alignment and ends at min(run end, limit):
 *
 *   run start       lo (aligned up)                            min(run end, limit)
 *   |  not usable   |             room                                  |
 *                   |        free        | blob (size bytes)       |pad |
 *                                        ^ align_down(end - size)
 *
 * Of all runs with room for size bytes the highest address wins, so the blob sits at the top of
 * the highest run below limit. Returns true with *gpa set (gpa >= lo, gpa + size <= limit, all
 * RAM), or false when no run has room. Either way *room is the largest usable part of any run
 * (0: none), for the caller's "does not fit" message. lo and limit are the caller's: both
 * callers keep them at most MV_GPA_LOW_RAM_END, far from wrapping. Writes no guest memory.
 */
bool loader_place_top(const struct guest_mem *gm, gpa_t lo, gpa_t limit, uint64_t size,
		      gpa_t *gpa, uint64_t *room);

/*
 * Copy src[0..len) to guest [gpa, gpa + len), or zero it when src is NULL, region by region.
 * Only called on ranges loader_gm_is_ram() accepted; each chunk still goes through
 * guest_mem_ptr(), so a bug here cannot write outside guest RAM. Returns false if a chunk was
 * refused (which validation makes impossible).
 */
bool loader_gm_fill(const struct guest_mem *gm, gpa_t gpa, const uint8_t *src, uint64_t len);

/*
 * Check e->img[0..e->size)'s ELF header against rules and read its program headers into e->seg
 * (e->img and e->size set by the caller). Checks, in order, the first failure reported: size,
 * magic, class, byte order, version, type ET_EXEC, machine, phentsize, phnum (1 ..
 * LOADER_ELF_MAX_PHDRS), the program header table inside the file. Returns 0 or -ENOEXEC.
 */
int loader_elf_parse(struct loader_elf *e, const struct loader_elf_rules *rules);

/*
 * Check the segments of a parsed image: each PT_LOAD's and PT_NOTE's file range inside the
 * image; each PT_LOAD with filesz <= memsz and, when memsz > 0, a guest range that does not
 * wrap, starts at or above MV_GPA_KERNEL_MIN (-EINVAL) and is guest RAM (-EINVAL); PT_LOADs
 * pairwise disjoint; at least one with memsz > 0. Returns 0, -ENOEXEC or -EINVAL.
 */
int loader_elf_check_segments(const struct loader_elf *e, const struct guest_mem *gm);

/* Whether gpa lies in the file-backed bytes [p_paddr, p_paddr + p_filesz) of a PT_LOAD. */
bool loader_elf_in_file_bytes(const struct loader_elf *e, uint64_t gpa);

/* The extent of the PT_LOADs with memsz > 0 of a checked image: [*start, *end); 0 if none. */
unsigned loader_elf_extent(const struct loader_elf *e, gpa_t *start, gpa_t *end);

/*
 * Copy every checked PT_LOAD with memsz > 0 into guest memory: filesz bytes at p_paddr, zeroes
 * up to p_paddr + memsz. *start / *end: the lowest loaded byte and one past the highest; *nr:
 * segments loaded. Returns 0, or -EFAULT if a checked range could not be written (a bug).
 */
int loader_elf_copy(const struct loader_elf *e, const struct guest_mem *gm, gpa_t *start,
		    gpa_t *end, unsigned *nr);

#endif /* MV_LOADER_COMMON_H */
