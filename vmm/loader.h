/*
 * loader.h — loading a guest kernel image into guest RAM. Today one format: a PVH ELF (an ELF
 * executable carrying a Xen XEN_ELFNOTE_PHYS32_ENTRY note, as Linux's vmlinux with CONFIG_PVH
 * and memvisor's own guest are built). The image is untrusted input: every field is checked
 * before the first byte is written to guest memory, and guest memory is reached only through
 * guest_mem (guest_mem.h), so no image can make the VMM touch host memory outside the guest's.
 *
 * No locks, no global state: runs on the main thread while the machine is built.
 */
#ifndef MV_LOADER_H
#define MV_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include <mm/types.h>

#include "guest_mem.h"

#define PVH_MAX_PHDRS      128                     /* program headers an image may have */
#define PVH_MAX_FILE_SIZE  (UINT64_C(256) << 20)   /* pvh_load_file reads at most this much */

/* What pvh_load() loaded. */
struct pvh_image {
	uint32_t entry;          /* XEN_ELFNOTE_PHYS32_ENTRY: 32-bit protected-mode entry gpa */
	gpa_t load_start;        /* lowest guest-physical byte of any loaded segment */
	gpa_t load_end;          /* one past the highest (paddr + memsz) */
	unsigned nr_segments;    /* PT_LOAD segments loaded (those with memsz > 0) */
	unsigned elf_class;      /* ELFCLASS32 or ELFCLASS64 */
};

/*
 * Load the PVH ELF image[0..size) into guest memory: for every PT_LOAD with memsz > 0, copy its
 * filesz bytes to [p_paddr, p_paddr + filesz) and zero up to p_paddr + memsz. Physical addresses
 * (p_paddr) are used, not virtual ones. Accepted: ELF32 or ELF64, little-endian, ET_EXEC,
 * EM_X86_64 (either class) or EM_386 (ELF32 only); at most PVH_MAX_PHDRS program headers.
 *
 * Every segment must lie in guest RAM (it may run across regions that touch, e.g. two nodes, but
 * not across a hole), at or above MV_GPA_KERNEL_MIN (below it are the start info, command line
 * and ACPI tables), and not overlap another segment. The entry comes from the first PT_NOTE note
 * owned by "Xen" of type XEN_ELFNOTE_PHYS32_ENTRY (desc of 4 or 8 bytes; a value that does not
 * fit 32 bits is refused; several such notes must agree), and must lie in the file-backed bytes
 * of a loaded segment. e_entry is ignored (for Linux it is the 64-bit entry).
 *
 * Returns 0 and fills *out, or, with mv_error() naming the field and the values:
 *   -ENOEXEC  the image is not a well-formed PVH ELF (bad header, tables or notes out of the
 *             file, overlapping segments, no entry note, entry outside the loaded bytes)
 *   -EINVAL   a well-formed image that does not fit this guest (segment not in guest RAM or
 *             below MV_GPA_KERNEL_MIN), or a NULL argument
 * On any error guest memory has not been written.
 */
int pvh_load(const void *image, size_t size, struct guest_mem *gm, struct pvh_image *out);

/*
 * Read the file at path (a regular file of at most PVH_MAX_FILE_SIZE bytes) and pvh_load() it.
 * Errors of open/read are returned as -errno with mv_error() naming the path and strerror();
 * a file too large is -EFBIG.
 */
int pvh_load_file(const char *path, struct guest_mem *gm, struct pvh_image *out);

#endif /* MV_LOADER_H */
