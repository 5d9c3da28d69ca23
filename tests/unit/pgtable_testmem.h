/*
 * pgtable_testmem.h — table-page memory for the page-table tests: a pool of 4 KiB pages with
 * made-up physical addresses (high enough to exercise the upper address bits of every format),
 * counters of outstanding pages, failure injection, snapshots of a whole table tree, and the
 * set-up/tear-down of one table over its own pool that test_pgtable.c and test_stage2.c share.
 */
#ifndef PGTABLE_TESTMEM_H
#define PGTABLE_TESTMEM_H

#include <mm/pgtable.h>

#define PTMEM_PHYS_BASE UINT64_C(0x8a5c00000000)   /* below 2^48, so valid for ARM64 too */

struct ptmem {
	uint8_t *pool;          /* npages * 4096 bytes, page aligned */
	uint8_t *used;          /* one byte per page */
	uint64_t npages;
	uint64_t next;          /* next-fit cursor */
	uint64_t outstanding;   /* pages handed out and not freed */
	uint64_t allocs, frees;
	long fail_after;        /* < 0: never fail; else this many more allocations succeed */
};

void ptmem_init(struct ptmem *m, uint64_t npages);
void ptmem_fini(struct ptmem *m);
void ptmem_ops(struct ptmem *m, struct pgtable_mem *ops);
/* The host pointer behind a table page's physical address (fails the test if not a live page). */
uint64_t *ptmem_virt(struct ptmem *m, phys_addr_t pa);

/* Every table page reachable from the root, copied in depth-first order. */
struct ptsnap {
	uint64_t *words;
	size_t n;
};
void ptsnap_take(const struct pgtable *pt, struct ptsnap *s);
int ptsnap_equal(const struct ptsnap *a, const struct ptsnap *b);
void ptsnap_free(struct ptsnap *s);

/*
 * The per-test fixture: pt initialised in format f over a fresh 2048-page pool m. Teardown checks
 * that the checker counts exactly pt->tables table pages, destroys pt, checks that every table
 * page came back to the pool, and frees the pool. Both fail the test on any error.
 */
void ptfix_setup(struct ptmem *m, struct pgtable *pt, const struct pgtable_format *f);
void ptfix_teardown(struct ptmem *m, struct pgtable *pt);
/* pgtable_translate(pt, addr) that must succeed. */
struct pgtable_info ptfix_translate(struct pgtable *pt, uint64_t addr);

static inline struct pgtable_attr pt_attr(uint32_t flags, uint32_t memtype)
{
	struct pgtable_attr a = { flags, memtype };

	return a;
}

#endif /* PGTABLE_TESTMEM_H */
