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
 *   MV_GPA_KERNEL_MIN (1 MiB) the protected-mode kernel (all the bytes after the setup sectors)
 *   initrd                   page-aligned, as high as it fits in one run of RAM (regions that
 *                            touch count as one) below initrd_addr_max + 1 and
 *                            MV_GPA_LOW_RAM_END, above the kernel window
 *
 * The kernel window is the memory the kernel uses before it reads its memory map: from 1 MiB to
 * the end of whichever is higher, its bytes or init_size from 1 MiB, or init_size from where it
 * decompresses itself (arch/x86/boot/compressed/head_64.S: a relocatable kernel at 1 MiB aligned
 * up to kernel_alignment but not below pref_address, a non-relocatable one at pref_address). It
 * must all be guest RAM. For a distribution kernel (pref_address 16 MiB, init_size ~64 MiB) that
 * is ~80 MiB from 0.
 *
 * The zero page is a clean struct boot_params with the image's setup header copied in (its
 * length from the jump at 0x200, bounded by sizeof(struct setup_header)), then: type_of_loader
 * 0xff, cmd_line_ptr (always, empty line included), ramdisk_image/size and their ext_ high
 * halves, setup_data 0, acpi_rsdp_addr (protocol 2.14+), e820_table/e820_entries. loadflags
 * and heap_end_ptr are left as the image has them: the 64-bit entry uses no real-mode heap.
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
	uint64_t init_size;     /* setup_header.init_size: memory it needs where it runs */
	gpa_t kernel_end;       /* the kernel window is [kernel_gpa, kernel_end) */
	gpa_t initrd_gpa;       /* 0 if none */
	uint64_t initrd_size;
};

/*
 * Load kernel[0..ksize) (a bzImage) and initrd[0..isize) (may be NULL/0) into guest memory,
 * write the zero page, command line (NULL: empty), GDT and page tables, and fill *e for a
 * BOOT_LINUX entry. rsdp_gpa: the ACPI RSDP (given to the kernel in acpi_rsdp_addr from protocol
 * 2.14 on; 0: none, otherwise 36 bytes there must be RAM). out may be NULL. Returns 0, or with
 * mv_error() naming the field and values:
 *   -ENOEXEC  not a bzImage, truncated (setup sectors or syssize past the end of the file),
 *             malformed setup header (no short jump at 0x200 or a header ending before
 *             init_size, syssize 0, kernel_alignment of a relocatable kernel not a power of
 *             two), a zImage (no LOADED_HIGH), protocol below LINUX_MIN_PROTOCOL or no 64-bit
 *             entry (XLF_KERNEL_64)
 *   -EINVAL   does not fit this guest: kernel window not all RAM, a non-relocatable kernel
 *             below 1 MiB, initrd too large for the RAM below the limit, command line longer
 *             than min(cmdline_size, MV_CMDLINE_MAX - 1), boot pages or RSDP not RAM, an
 *             invalid machine (pvh_build_memmap's errors), a NULL argument
 *   -EFAULT   internal error (a placement that validation should have refused)
 * On any error guest memory has not been written.
 */
int linux_load(const struct machine_config *m, struct guest_mem *gm, const uint8_t *kernel,
	       size_t ksize, const uint8_t *initrd, size_t isize, const char *cmdline,
	       uint64_t rsdp_gpa, struct boot_entry *e, struct linux_image *out);

/*
 * linux_load() of the files at kernel_path and initrd_path (NULL: none), each a regular file of
 * at most LINUX_MAX_FILE_SIZE bytes (-EFBIG otherwise). Read errors, and load errors about the
 * image or the initrd, are prefixed with that file's path.
 */
int linux_load_files(const struct machine_config *m, struct guest_mem *gm,
		     const char *kernel_path, const char *initrd_path, const char *cmdline,
		     uint64_t rsdp_gpa, struct boot_entry *e, struct linux_image *out);

#endif /* MV_BOOT_LINUX_H */
