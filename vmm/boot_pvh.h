/*
 * boot_pvh.h — the PVH boot information a memvisor guest finds in EBX at its entry: struct
 * hvm_start_info (memvisor/pvh.h) at MV_GPA_START_INFO, its memory map right after it in the
 * same page, and the command line at MV_GPA_CMDLINE (memvisor/layout.h). No locks, no state:
 * called on the main thread while the machine is built, before any vCPU runs.
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

#include "guest_mem.h"
#include "machine.h"

/* The most entries pvh_build_memmap() can produce: the three low ones and every node range. */
#define PVH_MEMMAP_MAX (3 + 2 * MACHINE_MAX_NODES)

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

#endif /* MV_BOOT_PVH_H */
