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
 * QEMU does, the image name, then a space and the user's arguments if any). Returns 0, or with
 * mv_error() naming the field and values: -ENOEXEC (no or bad multiboot header, checksum, flag 16
 * set, unsupported required flags, malformed or truncated ELF32), -EINVAL (segments outside RAM
 * or below MV_GPA_KERNEL_MIN, modules not fitting, too many modules). On any error guest memory
 * has not been written.
 */
int multiboot_load(const struct machine_config *m, struct guest_mem *gm, const uint8_t *image,
		   size_t size, const char *cmdline, const struct multiboot_module *mods,
		   unsigned nr_mods, struct boot_entry *e);

/*
 * multiboot_load() of the file at image_path, with the command line "image_path[ args]" and the
 * modules of spec (QEMU's -initrd for multiboot: comma-separated modules, each "path[ args]"
 * whose string is the whole "path args"; ",," is a literal comma; NULL: none).
 */
int multiboot_load_files(const struct machine_config *m, struct guest_mem *gm,
			 const char *image_path, const char *args, const char *spec,
			 struct boot_entry *e);

#endif /* MV_BOOT_MULTIBOOT_H */
