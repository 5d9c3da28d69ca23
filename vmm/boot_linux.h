/*
 * boot_linux.h — loading a Linux bzImage by the x86 boot protocol (Documentation/arch/x86/
 * boot.rst) and entering it at its 64-bit entry point. The image and initrd are untrusted input:
 * everything is validated before the first byte is written to guest memory, which is reached only
 * through guest_mem. The ABI structs come from the kernel's uapi <asm/bootparam.h>.
 *
 * Placement (memvisor/layout.h):
 *   MV_GPA_LINUX_ZERO_PAGE   struct boot_params: the image's setup header copied in, then
 *                            type_of_loader, cmd_line_ptr, ramdisk_*, acpi_rsdp_addr, the E820
 *                            map (pvh_build_memmap's: the same map PVH guests get)
 *   MV_GPA_CMDLINE           the command line (at most the kernel's cmdline_size bytes)
 *   MV_GPA_LINUX_GDT         the boot GDT; MV_GPA_LINUX_PAGE_TABLES the identity map of 4 GiB
 *   MV_GPA_KERNEL_MIN (1 MiB) the protected-mode kernel (the bytes after the setup sectors)
 *   initrd                   page-aligned, as high as it fits in RAM below initrd_addr_max and
 *                            MV_GPA_LOW_RAM_END, clear of the kernel's init_size
 *
 * No locks, no state: runs on the loader thread while the machine is built.
 */
#ifndef MV_BOOT_LINUX_H
#define MV_BOOT_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "guest_mem.h"
#include "machine.h"

#define LINUX_MIN_PROTOCOL     0x020c                  /* 2.12: XLF_KERNEL_64 exists */
#define LINUX_MAX_FILE_SIZE    (UINT64_C(256) << 20)   /* bzImage and initrd, each */

/* Where linux_load() put things. */
struct linux_image {
	uint16_t protocol;      /* setup_header.version */
	gpa_t kernel_gpa;       /* the protected-mode kernel */
	uint64_t kernel_size;   /* its bytes in the file */
	uint64_t init_size;     /* setup_header.init_size: memory it needs from kernel_gpa */
	gpa_t initrd_gpa;       /* 0 if none */
	uint64_t initrd_size;
};

/*
 * Load kernel[0..ksize) (a bzImage) and initrd[0..isize) (may be NULL/0) into guest memory,
 * write the zero page, command line (NULL: empty), GDT and page tables, and fill *e for a
 * BOOT_LINUX entry. rsdp_gpa: the ACPI RSDP (given to the kernel in acpi_rsdp_addr from protocol
 * 2.14 on). Returns 0, or with mv_error() naming the field and values:
 *   -ENOEXEC  not a bzImage, truncated, malformed setup header, protocol below
 *             LINUX_MIN_PROTOCOL or no 64-bit entry (XLF_KERNEL_64)
 *   -EINVAL   does not fit this guest: kernel outside RAM, initrd too large for the RAM below
 *             the limit, kernel and initrd overlapping, command line longer than cmdline_size
 * On any error guest memory has not been written.
 */
int linux_load(const struct machine_config *m, struct guest_mem *gm, const uint8_t *kernel,
	       size_t ksize, const uint8_t *initrd, size_t isize, const char *cmdline,
	       uint64_t rsdp_gpa, struct boot_entry *e, struct linux_image *out);

/* linux_load() of the files at kernel_path and initrd_path (NULL: none); read errors name the path. */
int linux_load_files(const struct machine_config *m, struct guest_mem *gm,
		     const char *kernel_path, const char *initrd_path, const char *cmdline,
		     uint64_t rsdp_gpa, struct boot_entry *e, struct linux_image *out);

#endif /* MV_BOOT_LINUX_H */
