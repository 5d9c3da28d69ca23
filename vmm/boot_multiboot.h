/*
 * boot_multiboot.h — loading a multiboot v1 kernel (the Multiboot Specification 0.6.96, as QEMU's
 * -kernel loads one): an ELF32 image whose multiboot header has no address fields (flag 16
 * clear), loaded by its program headers with the BSS zeroed, entered in 32-bit protected mode
 * with EAX = MULTIBOOT_BOOTLOADER_MAGIC and EBX = the multiboot information (memvisor/multiboot.h).
 * The image and modules are untrusted input: everything is validated before the first byte is
 * written to guest memory, which is reached only through guest_mem.
 *
 * Placement (memvisor/layout.h): the information structure, its memory map and module list at
 * MV_GPA_MULTIBOOT_INFO, the strings (command line, boot loader name, module strings) at
 * MV_GPA_CMDLINE — both clear of page 0 and of 0x8000-0xe000, where test kernels put their
 * AP trampolines; modules page-aligned above the kernel's highest byte, in order.
 *
 * No locks, no state: runs on the loader thread while the machine is built.
 */
#ifndef MV_BOOT_MULTIBOOT_H
#define MV_BOOT_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "guest_mem.h"
#include "machine.h"

#define MULTIBOOT_MAX_MODULES   32
#define MULTIBOOT_MAX_FILE_SIZE (UINT64_C(256) << 20)   /* the image and each module */

/* One module: its bytes and its string (the module's "command line"). */
struct multiboot_module {
	const uint8_t *data;
	size_t size;
	const char *string;
};

/*
 * Load image[0..size) and mods[0..nr_mods) and write the information structure; fill *e for a
 * BOOT_MULTIBOOT entry. cmdline is the whole command line the kernel sees (by convention, as
 * QEMU does, the image name, then a space and the user's arguments if any).
 *
 * The header is the first 4-byte aligned MULTIBOOT_HEADER_MAGIC in the first MULTIBOOT_SEARCH
 * bytes whose checksum holds (QEMU skips magics whose checksum does not). The entry is e_entry;
 * as QEMU's ELF loader does, an e_entry inside the file bytes of an executable PT_LOAD whose
 * p_vaddr differs from its p_paddr is moved to the physical address (higher-half kernels). The
 * information structure says MEMORY (mem_lower: RAM from 0 up to the legacy hole, in KiB;
 * mem_upper: RAM from 1 MiB up to the first hole, in KiB), CMDLINE, MODS (mods_addr valid even
 * when mods_count is 0), MEM_MAP (pvh_build_memmap()'s entries) and LOADER_NAME ("memvisor").
 *
 * Returns 0, or with mv_error() naming the field and values: -ENOEXEC (no or bad multiboot
 * header, checksum, flag 16 set, unsupported required flags, not an ELF32 EM_386 ET_EXEC,
 * malformed or truncated, entry not in a loaded segment), -EINVAL (NULL arguments, segments
 * outside RAM or below MV_GPA_KERNEL_MIN, modules not fitting RAM below MV_GPA_LOW_RAM_END, too
 * many modules, strings not fitting the MV_GPA_CMDLINE page, a machine whose memory map is
 * invalid, boot pages that are not RAM). On any error guest memory and *e have not been written.
 */
int multiboot_load(const struct machine_config *m, struct guest_mem *gm, const uint8_t *image,
		   size_t size, const char *cmdline, const struct multiboot_module *mods,
		   unsigned nr_mods, struct boot_entry *e);

/*
 * multiboot_load() of the file at image_path, with the command line "image_path[ args]" (args
 * NULL or "": the path alone) and the modules of spec (QEMU's -initrd for multiboot:
 * comma-separated modules, each "path[ args]" whose string is the whole "path args" and whose
 * file is the part before the first space; ",," is a literal comma; NULL: none). Every item
 * needs a path, so "", a leading or trailing ',' and an item starting with a space are -EINVAL,
 * as are more than MULTIBOOT_MAX_MODULES items; the list is checked before any file is opened.
 * Files must be regular and at most MULTIBOOT_MAX_FILE_SIZE bytes (-EFBIG); open/read errors
 * are -errno. Every error names the file; errors of multiboot_load() are prefixed with
 * "image_path: ". All files are read before guest memory is written.
 */
int multiboot_load_files(const struct machine_config *m, struct guest_mem *gm,
			 const char *image_path, const char *args, const char *spec,
			 struct boot_entry *e);

#endif /* MV_BOOT_MULTIBOOT_H */
