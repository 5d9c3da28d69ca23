/*
 * guest_mem.h — the VMM's view of guest RAM as host-virtual ranges: which guest-physical ranges
 * are RAM, which NUMA node each belongs to, and where the VMM sees it. Loaders, the ACPI and
 * boot-info writers and devices reach guest memory only through guest_mem_ptr(), which refuses
 * any range not wholly inside one RAM region — so nothing the guest (or an image) says can make
 * the VMM touch host memory outside the guest's.
 *
 * Not thread-safe to modify; read-only once the machine is built (regions never move).
 */
#ifndef MV_GUEST_MEM_H
#define MV_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#include <mm/types.h>

#define GUEST_MEM_MAX_REGIONS (2 * MM_MAX_NODES)   /* a node is at most 2 ranges (layout.h) */

struct guest_mem_region {
	gpa_t gpa;          /* page-aligned */
	uint64_t size;      /* bytes, page-aligned, > 0 */
	uint8_t *hva;       /* where the VMM sees it */
	unsigned node;      /* guest NUMA node */
};

struct guest_mem {
	unsigned nr;        /* regions, sorted by gpa, disjoint */
	struct guest_mem_region r[GUEST_MEM_MAX_REGIONS];
};

/* Host pointer to [gpa, gpa+len) if it lies wholly inside one region, else NULL (len 0: NULL). */
void *guest_mem_ptr(const struct guest_mem *gm, gpa_t gpa, uint64_t len);

/* The region holding gpa, or NULL. */
const struct guest_mem_region *guest_mem_find(const struct guest_mem *gm, gpa_t gpa);

#endif /* MV_GUEST_MEM_H */
