/* pgtable_testmem.c — see pgtable_testmem.h. Single-threaded, like the tests that use it. */
#include "pgtable_testmem.h"

#include <mm/errno.h>

#include <stdlib.h>
#include <string.h>

#include "mvtest.h"

void ptmem_init(struct ptmem *m, uint64_t npages)
{
	memset(m, 0, sizeof(*m));
	m->pool = aligned_alloc(4096, npages * 4096);
	m->used = calloc(npages, 1);
	if (!m->pool || !m->used)
		mvt_fail(__FILE__, __LINE__, "out of host memory for %llu pages",
			 (unsigned long long)npages);
	memset(m->pool, 0xa5, npages * 4096);  /* free pages are garbage until handed out */
	m->npages = npages;
	m->fail_after = -1;
}

void ptmem_fini(struct ptmem *m)
{
	free(m->pool);
	free(m->used);
	m->pool = NULL;
	m->used = NULL;
}

static uint64_t page_of(struct ptmem *m, phys_addr_t pa)
{
	uint64_t i = (pa - PTMEM_PHYS_BASE) >> 12;

	if (pa < PTMEM_PHYS_BASE || (pa & 0xfff) || i >= m->npages || !m->used[i])
		mvt_fail(__FILE__, __LINE__, "%#llx is not a live table page",
			 (unsigned long long)pa);
	return i;
}

static int mem_alloc(void *arg, phys_addr_t *table)
{
	struct ptmem *m = arg;

	if (m->fail_after == 0)
		return -MM_ENOMEM;
	if (m->fail_after > 0)
		m->fail_after--;
	for (uint64_t n = 0; n < m->npages; n++) {
		uint64_t i = (m->next + n) % m->npages;

		if (m->used[i])
			continue;
		m->used[i] = 1;
		m->next = i + 1;
		memset(m->pool + i * 4096, 0, 4096);
		m->outstanding++;
		m->allocs++;
		*table = PTMEM_PHYS_BASE + i * 4096;
		return 0;
	}
	return -MM_ENOMEM;
}

static void mem_free(void *arg, phys_addr_t table)
{
	struct ptmem *m = arg;
	uint64_t i = page_of(m, table);

	memset(m->pool + i * 4096, 0x5a, 4096);    /* a later read through a stale link shows */
	m->used[i] = 0;
	m->outstanding--;
	m->frees++;
}

uint64_t *ptmem_virt(struct ptmem *m, phys_addr_t pa)
{
	return (uint64_t *)(void *)(m->pool + page_of(m, pa) * 4096);
}

static void *mem_virt(void *arg, phys_addr_t pa)
{
	return ptmem_virt(arg, pa);
}

void ptmem_ops(struct ptmem *m, struct pgtable_mem *ops)
{
	ops->alloc = mem_alloc;
	ops->free = mem_free;
	ops->phys_to_virt = mem_virt;
	ops->arg = m;
}

static void snap_table(const struct pgtable *pt, phys_addr_t table, unsigned level,
		       struct ptsnap *s)
{
	const struct pgtable_format *f = pt->fmt;
	const uint64_t *t = pt->mem.phys_to_virt(pt->mem.arg, table);

	s->words = realloc(s->words, (s->n + PT_ENTRIES) * sizeof(uint64_t));
	memcpy(s->words + s->n, t, PT_ENTRIES * sizeof(uint64_t));
	s->n += PT_ENTRIES;
	if (level == 0)
		return;
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		if (f->is_present(t[i]) && !f->is_leaf(t[i], level))
			snap_table(pt, f->table_addr(t[i]), level - 1, s);
}

void ptsnap_take(const struct pgtable *pt, struct ptsnap *s)
{
	s->words = NULL;
	s->n = 0;
	snap_table(pt, pt->root, pt->fmt->levels - 1, s);
}

int ptsnap_equal(const struct ptsnap *a, const struct ptsnap *b)
{
	return a->n == b->n && memcmp(a->words, b->words, a->n * sizeof(uint64_t)) == 0;
}

void ptsnap_free(struct ptsnap *s)
{
	free(s->words);
	s->words = NULL;
	s->n = 0;
}

void ptfix_setup(struct ptmem *m, struct pgtable *pt, const struct pgtable_format *f)
{
	struct pgtable_mem ops;

	ptmem_init(m, 2048);
	ptmem_ops(m, &ops);
	CHECK_EQ(pgtable_init(pt, f, &ops), 0);
}

void ptfix_teardown(struct ptmem *m, struct pgtable *pt)
{
	CHECK_EQ(pgtable_check(pt), (long)pt->tables);
	CHECK_EQ(pgtable_destroy(pt), 0);
	CHECK_EQ_U(m->outstanding, 0);
	ptmem_fini(m);
}

struct pgtable_info ptfix_translate(struct pgtable *pt, uint64_t addr)
{
	struct pgtable_info i;

	CHECK_EQ(pgtable_translate(pt, addr, &i), 0);
	return i;
}
