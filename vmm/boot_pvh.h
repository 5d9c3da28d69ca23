/*
 * boot_pvh.h — the PVH boot information a memvisor guest finds in EBX at its entry: struct
 * hvm_start_info (memvisor/pvh.h) at MV_GPA_START_INFO, its memory map right after it in the
 * same page, with an initrd the module list right after the map, and the command line at
 * MV_GPA_CMDLINE (memvisor/layout.h). No locks, no state: called on the main thread while the
 * machine is built, before any vCPU runs.
 *
 * Modules: an initrd is module 0, as QEMU, Cloud Hypervisor and Firecracker pass it and as
 * Linux's PVH entry (arch/x86/platform/pvh/enlighten.c) takes it for its ramdisk: one struct
 * hvm_modlist_entry { paddr, size, cmdline_paddr 0, reserved 0 }, nr_modules 1. The initrd's
 * bytes go page-aligned as high as they fit in one run of guest RAM (regions that touch form
 * one run) above the loaded image and below MV_GPA_LOW_RAM_END (3 GiB). Without one,
 * nr_modules and modlist_paddr are 0.
 *
 * Memory map policy (sorted by address, E820 types):
 *
 *   [0, MV_GPA_LEGACY_HOLE)                  RAM       real-mode area, start info, command line
 *   [MV_GPA_LEGACY_HOLE, MV_GPA_ACPI)        reserved  EBDA / VGA / option-ROM hole
 *   [MV_GPA_ACPI, MV_GPA_ACPI + MV_ACPI_SIZE) ACPI     E820_TYPE_ACPI (3, "ACPI reclaimable"):
 *                                                      the RSDP and tables live there; a guest
 *                                                      may reuse it once it has parsed them
 *   then one RAM entry per node range, in address order; the range at gpa 0 (node 0's first)
 *   contributes only its part above 1 MiB.
 *
 * Node ranges are NOT merged even where two nodes touch: one entry per range lets a reader (and
 * a test) see the node boundaries, and E820 consumers merge adjacent RAM themselves. The MMIO
 * hole [MV_GPA_LOW_RAM_END, MV_GPA_HIGH_RAM_BASE), the IOAPIC and the LAPIC are not in the map.
 */
#ifndef MV_BOOT_PVH_H
#define MV_BOOT_PVH_H

#include <stdint.h>

#include <memvisor/pvh.h>

#include <mm/types.h>

#include "guest_mem.h"
#include "machine.h"

/* The most entries pvh_build_memmap() can produce: the three low ones and every node range. */
#define PVH_MEMMAP_MAX (3 + 2 * MACHINE_MAX_NODES)
/* The most modules the start info lists: the initrd. */
#define PVH_MAX_MODULES 1

/*
 * Fill map[0..cap) with m's memory map (policy above); a pure function of m's node ranges.
 * Returns the number of entries, or -EINVAL (m NULL, node count or ranges invalid: empty,
 * wrapping, in the MMIO hole, overlapping each other, or no range covering the first MiB) or
 * -ENOSPC (more than cap entries), with mv_error() naming the node and range.
 */
int pvh_build_memmap(const struct machine_config *m, struct hvm_memmap_table_entry *map,
		     unsigned cap);

/*
 * Write the start info (version 1, flags 0, no modules), the memory map and cmdline into guest
 * memory. rsdp_gpa is the ACPI RSDP (0: none; otherwise 36 bytes there must be guest RAM).
 * cmdline NULL: cmdline_paddr is 0; otherwise it must be at most MV_CMDLINE_MAX - 1 bytes.
 * Everything is checked before anything is written. Returns 0, or -EINVAL / -ENOSPC with
 * mv_error() naming the problem.
 */
int pvh_write_boot_info(const struct machine_config *m, struct guest_mem *gm, uint64_t rsdp_gpa,
			const char *cmdline);

/*
 * pvh_write_boot_info(), and initrd[0..isize) as module 0 (policy above): placed above
 * image_end (struct pvh_image.load_end of the image already loaded; never below
 * MV_GPA_KERNEL_MIN) and copied there; *initrd_gpa (may be NULL) is where. isize 0 means no
 * initrd (nr_modules 0), as for the Linux loader. Checked in order, before anything is written:
 * the arguments (initrd NULL with isize > 0 is -EINVAL), then pvh_write_boot_info()'s checks,
 * then the placement: an initrd that fits no run is -EINVAL, "initrd of N bytes does not fit in
 * guest RAM below 0xc0000000 (largest room: R bytes, above the image ending at 0x...)".
 */
int pvh_write_boot_info_initrd(const struct machine_config *m, struct guest_mem *gm,
			       uint64_t rsdp_gpa, const char *cmdline, gpa_t image_end,
			       const uint8_t *initrd, uint64_t isize, gpa_t *initrd_gpa);

/*
 * pvh_write_boot_info_initrd() with the initrd read from initrd_path (NULL: none), a regular
 * file of at most PVH_MAX_FILE_SIZE bytes (loader.h; -EFBIG beyond). Errors reading it, and the
 * placement error, are prefixed by the path; an empty file is no initrd.
 */
int pvh_write_boot_info_file(const struct machine_config *m, struct guest_mem *gm,
			     uint64_t rsdp_gpa, const char *cmdline, gpa_t image_end,
			     const char *initrd_path, gpa_t *initrd_gpa);

#endif /* MV_BOOT_PVH_H */
