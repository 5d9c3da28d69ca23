/*
 * Model-based randomized test of mm/pgtable.c, run once per format (x86-64, EPT, ARM64 stage 2).
 *
 * The model is a dictionary from every 4 KiB page of a 4 GiB window to what the page should be:
 * never touched, mapped (output address, attributes, memory type), swapped (slot), ballooned or
 * discarded. 100,000 operations per format, with fixed seeds, pick map / map-replace / unmap /
 * protect / set-swap / set-ballooned / set-discarded / access-scan at 4 KiB, 2 MiB and 1 GiB
 * granularity (and 4 KiB-granular ranges of up to 4 MiB, which split large leaves). Each operation
 * is applied to both; the expected return value (-MM_EEXIST for an overlapping map) and the flush
 * report are checked; some runs inject allocation failures (then -MM_ENOMEM must leave the table
 * as the model still says). After every operation a few pages are translated and compared; every
 * 2,000 operations a full walk of the table is compared page by page with the model and the
 * consistency checker runs (no empty table pages, table count == pages the allocator handed out).
 *
 * The window straddles a top-level (512 GiB) boundary; for x86 it lies in the upper half.
 */
#include <mm/pgtable.h>
#include <mm/env.h>

#include <stdlib.h>
#include <string.h>

#include "mvtest.h"
#include "pgtable_testmem.h"

#define K4 PT_SIZE_4K
#define M2 PT_SIZE_2M
#define G1 PT_SIZE_1G

#define SPACE      (4 * G1)
#define NPAGES     (SPACE / K4)
#define OPS        100000
#define FULL_EVERY 2000

struct mpage {
	uint64_t val;       /* MAPPED: output address; SWAP: slot */
	uint16_t flags;
	uint8_t state;
	uint8_t memtype;
};

struct model {
	const struct pgtable_format *f;
	uint64_t base;
	struct mpage *pg;
	struct mvt_rng rng;
	struct ptmem mem;
	struct pgtable pt;
	/* statistics, so the test can insist it exercised what it claims */
	unsigned long splits, eexist, enomem, ops_by_size[3];
};

enum mop { M_MAP, M_REPLACE, M_UNMAP, M_PROTECT, M_SWAP, M_BALLOON, M_DISCARD, M_SCAN };

static uint64_t below(struct model *m, uint64_t n)
{
	return mvt_rng_below(&m->rng, n);
}

/* Random attributes the format can express (protect: without A/D). */
static struct pgtable_attr rand_attr(struct model *m, bool for_protect)
{
	uint32_t fl = (uint32_t)below(m, 256) & PT_ATTR_ALL;
	struct pgtable_attr a;

	if (m->f == &pgtable_x86_64) {
		fl = (fl & ~PT_IPAT) | PT_R;
	} else if (m->f == &pgtable_ept) {
		fl &= ~(PT_U | PT_G);
		if (fl & PT_W)
			fl |= PT_R;
		if (!(fl & (PT_R | PT_X)))
			fl |= PT_R;
	} else {
		fl &= ~(PT_U | PT_G | PT_IPAT);
		if (!(fl & PT_W))
			fl &= ~PT_D;
		if (!(fl & (PT_R | PT_W | PT_X)))
			fl |= PT_R;
	}
	if (for_protect)
		fl &= ~(PT_A | PT_D);
	a.flags = fl;
	a.memtype = (uint32_t)below(m, PT_MT_COUNT);
	if (m->f == &pgtable_arm64_s2 && a.memtype == PT_MT_WP)
		a.memtype = PT_MT_WB;
	return a;
}

/* What protect makes of a mapped page's flags. */
static uint16_t protected_flags(const struct model *m, uint16_t old, uint32_t prot)
{
	uint32_t fl = prot | (old & (PT_A | PT_D));

	if (m->f == &pgtable_arm64_s2 && !(fl & PT_W))
		fl &= ~PT_D;    /* DBM: a non-writable stage-2 page has no dirty state */
	return (uint16_t)fl;
}

static void check_page(struct model *m, uint64_t off)
{
	const struct mpage *p = &m->pg[off / K4];
	struct pgtable_info i;

	CHECK_EQ(pgtable_translate(&m->pt, m->base + off, &i), 0);
	CHECK_EQ(i.state, p->state);
	CHECK(i.addr <= m->base + off && m->base + off - i.addr < i.size);
	if (p->state == PT_STATE_MAPPED) {
		CHECK_EQ_U(i.pa, p->val);
		CHECK_EQ_U(i.attr.flags, p->flags);
		CHECK_EQ(i.attr.memtype, p->memtype);
	} else if (p->state == PT_STATE_SWAP) {
		CHECK_EQ_U(i.slot, p->val);
	}
}

struct full_ctx {
	struct model *m;
	uint64_t covered;
};

static int full_visit(void *arg, const struct pgtable_info *i)
{
	struct full_ctx *c = arg;
	struct model *m = c->m;
	uint64_t first = (i->addr - m->base) / K4, n = i->size / K4;

	CHECK(i->addr >= m->base && i->addr - m->base + i->size <= SPACE);
	for (uint64_t k = 0; k < n; k++) {
		const struct mpage *p = &m->pg[first + k];

		CHECK_EQ(p->state, i->state);
		if (p->state == PT_STATE_MAPPED) {
			CHECK_EQ_U(p->val, i->pa + k * K4);
			CHECK_EQ_U(p->flags, i->attr.flags);
			CHECK_EQ(p->memtype, i->attr.memtype);
		} else if (p->state == PT_STATE_SWAP) {
			CHECK_EQ_U(p->val, i->slot + k);
		}
	}
	c->covered += n;
	return 0;
}

static void check_full(struct model *m)
{
	struct full_ctx c = { m, 0 };
	uint64_t used = 0;

	CHECK_EQ(pgtable_walk(&m->pt, m->base, SPACE, 0, full_visit, &c, NULL), 0);
	for (uint64_t k = 0; k < NPAGES; k++)
		used += m->pg[k].state != PT_STATE_NONE;
	CHECK_EQ_U(c.covered, used);    /* every page the model knows was visited, no others */
	CHECK_EQ(pgtable_check(&m->pt), (long)m->mem.outstanding);
}

/* Apply one operation to the model. Returns whether a present page's translation changed. */
static bool model_apply(struct model *m, enum mop op, uint64_t off, uint64_t len,
			const struct pgtable_attr *a, phys_addr_t pa, uint64_t slot, unsigned scan,
			uint64_t *chg_first, uint64_t *chg_last)
{
	bool changed = false;

	for (uint64_t k = off / K4; k < (off + len) / K4; k++) {
		struct mpage *p = &m->pg[k], old = *p;
		uint64_t o = k * K4 - off;

		switch (op) {
		case M_MAP:
		case M_REPLACE:
			p->state = PT_STATE_MAPPED;
			p->val = pa + o;
			p->flags = (uint16_t)a->flags;
			p->memtype = (uint8_t)a->memtype;
			break;
		case M_UNMAP:
			memset(p, 0, sizeof(*p));
			break;
		case M_PROTECT:
			if (p->state == PT_STATE_MAPPED) {
				p->flags = protected_flags(m, p->flags, a->flags);
				p->memtype = (uint8_t)a->memtype;
			}
			break;
		case M_SWAP:
		case M_BALLOON:
		case M_DISCARD:
			memset(p, 0, sizeof(*p));
			p->state = op == M_SWAP ? PT_STATE_SWAP :
				   op == M_BALLOON ? PT_STATE_BALLOONED : PT_STATE_DISCARDED;
			p->val = op == M_SWAP ? slot + o / K4 : 0;
			break;
		case M_SCAN:
			if (p->state == PT_STATE_MAPPED)
				p->flags &= (uint16_t)~(((scan & PT_WALK_CLEAR_A) ? PT_A : 0) |
							((scan & PT_WALK_CLEAR_D) ? PT_D : 0));
			break;
		}
		if (old.state == PT_STATE_MAPPED && memcmp(&old, p, sizeof(old)) != 0) {
			if (!changed)
				*chg_first = k * K4;
			*chg_last = k * K4 + K4 - 1;
			changed = true;
		}
	}
	return changed;
}

static bool any_mapped(const struct model *m, uint64_t off, uint64_t len)
{
	for (uint64_t k = off / K4; k < (off + len) / K4; k++)
		if (m->pg[k].state == PT_STATE_MAPPED)
			return true;
	return false;
}

static int scan_visit(void *arg, const struct pgtable_info *i)
{
	(void)arg;
	(void)i;
	return 0;
}

static void one_op(struct model *m)
{
	static const uint64_t sizes[3] = { K4, M2, G1 };
	uint64_t r = below(m, 1000), size, count, off, len, slot = 0, chg_first = 0, chg_last = 0;
	unsigned sz = r < 700 ? 0 : r < 995 ? 1 : 2, scan = 0;
	struct pgtable_attr a = { 0, 0 };
	struct pgtable_flush fl = { 0 };
	struct pgtable_info before;
	phys_addr_t pa = 0;
	bool exist, present, changed, inject;
	enum mop op;
	int want, ret = 0;

	r = below(m, 100);
	op = r < 30 ? M_MAP : r < 38 ? M_REPLACE : r < 59 ? M_UNMAP : r < 74 ? M_PROTECT :
	     r < 86 ? M_SWAP : r < 94 ? M_BALLOON : r < 99 ? M_DISCARD : M_SCAN;
	size = sizes[sz];
	count = sz == 0 ? 1 + below(m, 16) : sz == 1 ? 1 + below(m, 3) : 1;
	if ((op == M_UNMAP || op == M_PROTECT) && below(m, 10) == 0) {
		sz = 0;     /* a 4K-granular range of up to 4 MiB: splits at both ends */
		size = K4;
		count = 1 + below(m, 1024);
	}
	if (op == M_SCAN) {
		sz = 2;
		size = G1;
		count = 1;
		scan = 1 + (unsigned)below(m, 3);
	}
	m->ops_by_size[sz]++;
	len = size * count;
	off = below(m, (SPACE - len) / size + 1) * size;

	/* A 4K-granular operation on a large leaf or state entry splits it (unless nothing changes). */
	CHECK_EQ(pgtable_translate(&m->pt, m->base + off, &before), 0);
	if (sz == 0 && before.level > 0 && before.state != PT_STATE_NONE)
		m->splits++;

	switch (op) {
	case M_MAP:
	case M_REPLACE:
		a = rand_attr(m, false);
		pa = below(m, (UINT64_C(1) << 40) / size) * size;
		break;
	case M_PROTECT:
		a = rand_attr(m, true);
		break;
	case M_SWAP:
		slot = below(m, UINT64_C(1) << 36);
		break;
	default:
		break;
	}

	present = any_mapped(m, off, len);
	exist = op == M_MAP && present;
	want = exist ? -MM_EEXIST : 0;
	inject = !exist && below(m, 33) == 0;
	if (inject)
		m->mem.fail_after = (long)below(m, 3);

	switch (op) {
	case M_MAP:
	case M_REPLACE:
		ret = pgtable_map(&m->pt, m->base + off, pa, len, size, &a,
				  op == M_REPLACE ? PT_MAP_REPLACE : 0, &fl);
		break;
	case M_UNMAP:
		ret = pgtable_unmap(&m->pt, m->base + off, len, &fl);
		break;
	case M_PROTECT:
		ret = pgtable_protect(&m->pt, m->base + off, len, &a, &fl);
		break;
	case M_SWAP:
		ret = pgtable_set_state(&m->pt, m->base + off, len, size, PT_STATE_SWAP, slot, &fl);
		break;
	case M_BALLOON:
		ret = pgtable_set_state(&m->pt, m->base + off, len, size, PT_STATE_BALLOONED, 0, &fl);
		break;
	case M_DISCARD:
		ret = pgtable_set_state(&m->pt, m->base + off, len, size, PT_STATE_DISCARDED, 0, &fl);
		break;
	case M_SCAN:
		ret = pgtable_walk(&m->pt, m->base + off, len, scan, scan_visit, NULL, &fl);
		break;
	}
	m->mem.fail_after = -1;

	if (inject && ret == -MM_ENOMEM) {
		m->enomem++;
		CHECK(!pgtable_flush_needed(&fl));
	} else {
		CHECK_EQ(ret, want);
		if (ret == -MM_EEXIST) {
			m->eexist++;
			CHECK(!pgtable_flush_needed(&fl));
		} else {
			changed = model_apply(m, op, off, len, &a, pa, slot, scan, &chg_first,
					      &chg_last);
			if (changed) {
				CHECK_GT(fl.changed, 0);
				CHECK(fl.first <= m->base + chg_first);
				CHECK(fl.last >= m->base + chg_last);
			}
			if (!present)
				CHECK_EQ_U(fl.changed, 0);
		}
	}

	check_page(m, off);
	check_page(m, off + len - K4);
	check_page(m, off + below(m, len / K4) * K4);
	check_page(m, below(m, NPAGES) * K4);
}

static void run_model(const struct pgtable_format *f, uint64_t base, uint64_t seed)
{
	struct model *m = calloc(1, sizeof(*m));
	struct pgtable_mem ops;

	CHECK_NOT_NULL(m);
	m->f = f;
	m->base = base;
	m->pg = calloc(NPAGES, sizeof(*m->pg));
	CHECK_NOT_NULL(m->pg);
	mvt_rng_seed(&m->rng, seed);
	ptmem_init(&m->mem, 4096);
	ptmem_ops(&m->mem, &ops);
	CHECK_EQ(pgtable_init(&m->pt, f, &ops), 0);

	for (unsigned n = 1; n <= OPS; n++) {
		one_op(m);
		if (n % FULL_EVERY == 0)
			check_full(m);
	}
	printf("%s: %d ops (4K %lu, 2M %lu, 1G %lu), splits %lu, EEXIST %lu, ENOMEM %lu, "
	       "tables %llu\n", f->name, OPS, m->ops_by_size[0], m->ops_by_size[1],
	       m->ops_by_size[2], m->splits, m->eexist, m->enomem,
	       (unsigned long long)m->pt.tables);
	/* The run must have exercised what it claims to. */
	CHECK_GT(m->splits, 1000);
	CHECK_GT(m->eexist, 1000);
	CHECK_GT(m->enomem, 100);

	CHECK_EQ(pgtable_unmap(&m->pt, base, SPACE, NULL), 0);
	CHECK_EQ_U(m->mem.outstanding, 1);  /* only the root is left */
	CHECK_EQ(pgtable_destroy(&m->pt), 0);
	CHECK_EQ_U(m->mem.outstanding, 0);
	ptmem_fini(&m->mem);
	free(m->pg);
	free(m);
}

TEST(model_x86)
{
	run_model(&pgtable_x86_64, UINT64_C(0xffffff7f80000000), 0x5eed0001);
}

TEST(model_ept)
{
	run_model(&pgtable_ept, UINT64_C(0x7f80000000), 0x5eed0002);
}

TEST(model_arm64)
{
	run_model(&pgtable_arm64_s2, UINT64_C(0x7f80000000), 0x5eed0003);
}
