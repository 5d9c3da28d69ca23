/*
 * guest/memtest.h — the memtest scenario (memtest.c) and the paravirtual host-memory requests it
 * makes with `pageout` (hostmem.c, include/memvisor/hostmem.h). Output formats: guest/README.md.
 */
#ifndef GUEST_MEMTEST_H
#define GUEST_MEMTEST_H

#include "acpi.h"

/* memtest_run flags (command-line options, guest/README.md) */
#define MEMTEST_PAGEOUT  (1u << 0)   /* `pageout`: hostmem requests between write and verify */
#define MEMTEST_CORRUPT  (1u << 1)   /* `corrupt`: flip one bit per node after the write pass,
				      * so verify must report exactly that word (a self-test) */

/*
 * memtest.c: write a pattern over all RAM of every node (topo_node_mask()), then verify it,
 * printing one TAP check and one "memtest: node I pages=P" line per node; MEMTEST_* flags.
 * Call after topo_report(): the start info and the ACPI tables are not used any more (their
 * RAM pages are tested too).
 */
void memtest_run(const struct topo *t, const struct memmap *mm, unsigned flags);

/*
 * hostmem.c: each sends one or more requests and prints one TAP check per request. A request
 * whose status field still holds the sentinel afterwards was answered by no device (not ok).
 *   hostmem_bad_requests   malformed requests, each must fail with hostmem.h's code; `ram` is
 *                          a page-aligned address of tested RAM for those that need a valid
 *                          range apart from the defect (0: those are left out), bad_node a
 *                          node the VMM does not have
 *   hostmem_range          one PAGE_OUT or PAGE_IN of [base, base + len)
 *   hostmem_node           PAGE_OUT of a whole node with MV_HOSTMEM_F_NODE; node_pages bounds
 *                          the `pages` it may report
 */
void hostmem_bad_requests(uint64_t ram, unsigned bad_node);
void hostmem_range(uint32_t op, uint64_t base, uint64_t len);
void hostmem_node(unsigned node, uint64_t node_pages);

#endif /* GUEST_MEMTEST_H */
