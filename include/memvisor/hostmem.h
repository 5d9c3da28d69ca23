/*
 * memvisor/hostmem.h — the paravirtual host-memory interface: a guest asks the VMM to page a
 * guest-physical range (or a whole NUMA node) out to host swap, or back in, the way an operator
 * does with crosvm's `swap out` or a Linux process with MADV_PAGEOUT / MADV_WILLNEED.
 * Shared by the VMM (vmm/hostmem_pv.c) and the guest. Freestanding: <stdint.h> only.
 *
 * Protocol (like QEMU's fw_cfg DMA interface):
 *   1. the guest fills a struct mv_hostmem_req in its RAM: 8-byte aligned, wholly inside one
 *      4 KiB page, reserved fields zero;
 *   2. it writes the block's guest-physical address to the ports as two 32-bit `out`s: the high
 *      dword to MV_PORT_HOSTMEM_HI, then the low dword to MV_PORT_HOSTMEM_LO; the second write
 *      performs the request, synchronously: when the `out` instruction completes, `status` and
 *      `pages` have been written back into the block. The high dword is per vCPU and resets to 0
 *      after each LO write (as fw_cfg does), so a block below 4 GiB needs only the LO write.
 *   Detecting the device: reads of the ports return all ones, as for an absent device; pre-set
 *   `status` to a value the VMM never writes (e.g. 1): still 1 afterwards means no device.
 *   A block the VMM cannot read (not in guest RAM, misaligned, crossing a page, bad magic) is
 *   ignored apart from a rate-limited host log line and a statistics counter: there is nowhere
 *   to report to.
 *
 * Requests. A range is [gpa, gpa + len): page-aligned, len > 0, no overflow, wholly RAM (it may
 * span several nodes, not the MMIO hole). With MV_HOSTMEM_F_NODE the range fields must be zero
 * and `node` names the guest NUMA node instead.
 *   PAGE_OUT  write every present page of the range to host swap and free its host frame; the
 *             guest's next touch reads it back. Pages never touched stay untouched.
 *   PAGE_IN   bring every swapped page of the range back into host memory now (prefetch);
 *             never-touched pages stay untouched.
 * `pages` counts the 4 KiB pages that changed state, also when the request failed partway (a
 * range is worked through in address order; what was done before the failure stays done).
 */
#ifndef MEMVISOR_HOSTMEM_H
#define MEMVISOR_HOSTMEM_H

#include <stdint.h>

#define MV_PORT_HOSTMEM_HI     0x5f0   /* 32-bit: high dword of the request block's address */
#define MV_PORT_HOSTMEM_LO     0x5f4   /* 32-bit: low dword; writing it performs the request */

#define MV_HOSTMEM_MAGIC       UINT32_C(0x4d48564d)   /* "MVHM" little-endian */

#define MV_HOSTMEM_OP_PAGE_OUT 1u
#define MV_HOSTMEM_OP_PAGE_IN  2u

#define MV_HOSTMEM_F_NODE      (1u << 0)   /* operate on guest node `node`, not on a range */
#define MV_HOSTMEM_F_VALID     MV_HOSTMEM_F_NODE

/* Status codes written back (negated Linux errno values). */
#define MV_HOSTMEM_OK          0
#define MV_HOSTMEM_EIO         (-5)    /* host swap failed: guest memory service has stopped */
#define MV_HOSTMEM_ENOMEM      (-12)   /* PAGE_IN: no host frame could be found */
#define MV_HOSTMEM_EINVAL      (-22)   /* bad op, flags, reserved field, unaligned or empty range */
#define MV_HOSTMEM_ENOSPC      (-28)   /* PAGE_OUT: host swap is full (or there is none) */
#define MV_HOSTMEM_ERANGE      (-34)   /* range not wholly guest RAM, overflowing, or no such node */

struct mv_hostmem_req {
	uint32_t magic;         /* in: MV_HOSTMEM_MAGIC */
	uint32_t op;            /* in: MV_HOSTMEM_OP_* */
	uint32_t flags;         /* in: MV_HOSTMEM_F_* */
	uint32_t node;          /* in: guest node, with MV_HOSTMEM_F_NODE (else 0) */
	uint64_t gpa;           /* in: first byte of the range (page-aligned) */
	uint64_t len;           /* in: bytes (page-aligned, > 0) */
	int32_t status;         /* out: MV_HOSTMEM_OK or a MV_HOSTMEM_E* code */
	uint32_t reserved0;     /* in: 0 */
	uint64_t pages;         /* out: pages that changed state */
	uint64_t reserved1[2];  /* in: 0 */
};
_Static_assert(sizeof(struct mv_hostmem_req) == 64, "the request block is 64 bytes");

#endif /* MEMVISOR_HOSTMEM_H */
