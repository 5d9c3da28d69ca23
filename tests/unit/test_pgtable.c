/*
 * Unit tests for mm/pgtable.c through the x86-64 format: argument checks, the x86 bit encodings
 * against the SDM's bit positions, map/translate/unmap at every page size, splits, protect,
 * software states, table-page freeing, flush reporting, walks and the consistency checker.
 * EPT and ARM64 stage 2 are in test_stage2.c; the randomized model test in test_pgtable_model.c.
 *
 * Diagrams: address ranges left to right; |====| a mapping, |~~~~| a software state.
 */
#include <mm/pgtable.h>
#include <mm/pte_x86.h>
#include <mm/env.h>

#include "mvtest.h"
#include "pgtable_testmem.h"

#define K4 PT_SIZE_4K
#define M2 PT_SIZE_2M
#define G1 PT_SIZE_1G
#define RW (PT_R | PT_W)
#define RWX (PT_R | PT_W | PT_X)

static struct ptmem mem;
static struct pgtable pt;

static void setup(const struct pgtable_format *f)
{
	ptfix_setup(&mem, &pt, f);
	CHECK_EQ_U(mem.outstanding, 1);   /* just the root page */
}

static void teardown(void)
{
	ptfix_teardown(&mem, &pt);
}

static struct pgtable_info tr(uint64_t addr)
{
	return ptfix_translate(&pt, addr);
}

static void map_ok(uint64_t addr, phys_addr_t pa, uint64_t len, uint64_t size, uint32_t flags,
		   uint32_t mt)
{
	struct pgtable_attr a = pt_attr(flags, mt);

	CHECK_EQ(pgtable_map(&pt, addr, pa, len, size, &a, 0, NULL), 0);
}

/* Check that addr is mapped by a level-`level` leaf to pa with exactly these attributes. */
#define CHECK_MAPPED(addr, level_, pa_, flags_, mt_) \
	do { \
		struct pgtable_info i_ = tr(addr); \
		CHECK_EQ(i_.state, PT_STATE_MAPPED); \
		CHECK_EQ(i_.level, (level_)); \
		CHECK_EQ_U(i_.pa, (pa_)); \
		CHECK_EQ_U(i_.attr.flags, (flags_)); \
		CHECK_EQ(i_.attr.memtype, (mt_)); \
	} while (0)

#define CHECK_STATE(addr, state_, level_) \
	do { \
		struct pgtable_info i_ = tr(addr); \
		CHECK_EQ(i_.state, (state_)); \
		CHECK_EQ(i_.level, (level_)); \
	} while (0)

static int noop_visit(void *arg, const struct pgtable_info *info)
{
	(void)arg;
	(void)info;
	return 0;
}

/* ---- error cases ------------------------------------------------------------------------- */

TEST(init_rejects_bad_arguments)
{
	struct pgtable p;
	struct pgtable_mem ops, bad;
	struct pgtable_format shape = pgtable_x86_64;
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB);

	ptmem_init(&mem, 4);
	ptmem_ops(&mem, &ops);
	CHECK_EQ(pgtable_init(NULL, &pgtable_x86_64, &ops), -MM_EINVAL);
	CHECK_REPORTED("page table is NULL");
	CHECK_EQ(pgtable_init(&p, NULL, &ops), -MM_EINVAL);
	CHECK_REPORTED("format is NULL");
	shape.levels = 5;
	CHECK_EQ(pgtable_init(&p, &shape, &ops), -MM_EINVAL);
	CHECK_REPORTED("unsupported shape");
	shape = pgtable_x86_64;
	shape.leaf_levels = 0xf;    /* 512 GiB leaves in the root: no such hardware */
	CHECK_EQ(pgtable_init(&p, &shape, &ops), -MM_EINVAL);
	CHECK_REPORTED("unsupported shape");
	shape.leaf_levels = 0x6;    /* no 4 KiB leaves */
	CHECK_EQ(pgtable_init(&p, &shape, &ops), -MM_EINVAL);
	CHECK_REPORTED("unsupported shape");
	shape = pgtable_x86_64;
	shape.state = NULL;
	CHECK_EQ(pgtable_init(&p, &shape, &ops), -MM_EINVAL);
	CHECK_REPORTED("lacks one of its entry operations");
	CHECK_EQ(pgtable_init(&p, &pgtable_x86_64, NULL), -MM_EINVAL);
	CHECK_REPORTED("callbacks missing");
	bad = ops;
	bad.phys_to_virt = NULL;
	CHECK_EQ(pgtable_init(&p, &pgtable_x86_64, &bad), -MM_EINVAL);
	CHECK_REPORTED("callbacks missing");
	CHECK_EQ(pgtable_destroy(NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL or not initialised");
	CHECK_EQ_U(mem.outstanding, 0);

	/* No page for the root: -MM_ENOMEM, and the table stays unusable rather than half-made. */
	mem.fail_after = 0;
	CHECK_EQ(pgtable_init(&p, &pgtable_x86_64, &ops), -MM_ENOMEM);
	CHECK_EQ_U(mem.outstanding, 0);
	CHECK_EQ(pgtable_map(&p, 0, 0, K4, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("not initialised");
	ptmem_fini(&mem);
}

TEST(map_rejects_unaligned_input)
{
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB);

	setup(&pgtable_x86_64);
	CHECK_EQ(pgtable_map(&pt, 0x1001, 0, K4, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("address not aligned to the page size");
	CHECK_EQ(pgtable_map(&pt, 0x1000, 0, M2, M2, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("address not aligned to the page size");
	CHECK_EQ(pgtable_map(&pt, M2, 0x1000, M2, M2, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("physical address not aligned");
	CHECK_EQ(pgtable_map(&pt, G1, M2, G1, G1, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("physical address not aligned");
	CHECK_EQ(pgtable_map(&pt, 0, 0, 0x1800, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("length not a multiple of the page size");
	CHECK_EQ(pgtable_map(&pt, 0, 0, K4, M2, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("length not a multiple of the page size");
	CHECK_EQ(pgtable_map(&pt, 0, 0, 0, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("length is zero");
	CHECK_EQ(pgtable_unmap(&pt, 0x800, K4, NULL), -MM_EINVAL);
	CHECK_REPORTED("address not aligned");
	CHECK_EQ(pgtable_unmap(&pt, 0, 0x10, NULL), -MM_EINVAL);
	CHECK_REPORTED("length not a multiple");
	CHECK_EQ_U(mem.outstanding, 1);     /* nothing was allocated */
	teardown();
}

TEST(map_rejects_noncanonical_addresses)
{
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB);

	setup(&pgtable_x86_64);
	CHECK_EQ(pgtable_map(&pt, UINT64_C(0x0000800000000000), 0, K4, K4, &a, 0, NULL),
		 -MM_EINVAL);
	CHECK_REPORTED("non-canonical address");
	CHECK_EQ(pgtable_map(&pt, UINT64_C(0xffff7ffffffff000), 0, K4, K4, &a, 0, NULL),
		 -MM_EINVAL);
	CHECK_REPORTED("non-canonical address");
	/* The last lower-half page plus one more runs into the hole. */
	CHECK_EQ(pgtable_map(&pt, UINT64_C(0x00007ffffffff000), 0, 2 * K4, K4, &a, 0, NULL),
		 -MM_EINVAL);
	CHECK_REPORTED("range ends at a non-canonical address");
	/* Both ends canonical, but the range would jump the hole. */
	CHECK_EQ(pgtable_unmap(&pt, UINT64_C(0x00007ffffffff000), UINT64_C(0xffff000000002000),
			       NULL), -MM_EINVAL);
	CHECK_REPORTED("crosses the non-canonical hole");
	CHECK_EQ(pgtable_unmap(&pt, UINT64_C(0xfffffffffffff000), 2 * K4, NULL), -MM_EINVAL);
	CHECK_REPORTED("wraps around");
	/* The edges themselves are fine. */
	map_ok(UINT64_C(0x00007ffffffff000), 0x1000, K4, K4, RW, PT_MT_WB);
	map_ok(UINT64_C(0xffff800000000000), 0x2000, K4, K4, RW, PT_MT_WB);
	map_ok(UINT64_C(0xfffffffffffff000), 0x3000, K4, K4, RW, PT_MT_WB);
	CHECK_MAPPED(UINT64_C(0x00007fffffffffff), 0, 0x1fff, RW, PT_MT_WB);
	CHECK_MAPPED(UINT64_C(0xffff800000000000), 0, 0x2000, RW, PT_MT_WB);
	CHECK_MAPPED(UINT64_C(0xffffffffffffffff), 0, 0x3fff, RW, PT_MT_WB);
	teardown();
}

TEST(map_rejects_pa_beyond_maxphyaddr)
{
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB);
	phys_addr_t top = UINT64_C(1) << X86_MAXPHYADDR;

	setup(&pgtable_x86_64);
	CHECK_EQ(pgtable_map(&pt, 0, top, K4, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("physical address beyond");
	CHECK_EQ(pgtable_map(&pt, 0, top - K4, 2 * K4, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("physical address beyond");
	CHECK_EQ(pgtable_map(&pt, 0, top - G1, G1, G1, &a, 0, NULL), 0);
	CHECK_MAPPED(G1 - 1, 2, top - 1, RW, PT_MT_WB);
	teardown();
}

TEST(map_rejects_unsupported_page_size)
{
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB);
	struct pgtable_format no1g = pgtable_x86_64;    /* a CPU without pdpe1gb */
	struct pgtable_mem ops;
	struct pgtable p;

	setup(&pgtable_x86_64);
	CHECK_EQ(pgtable_map(&pt, 0, 0, 2 * K4, 2 * K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("page size not supported");
	CHECK_EQ(pgtable_map(&pt, 0, 0, PT_LEVEL_SIZE(3), PT_LEVEL_SIZE(3), &a, 0, NULL),
		 -MM_EINVAL);
	CHECK_REPORTED("page size not supported");
	CHECK_EQ(pgtable_map(&pt, 0, 0, K4, 0, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("page size not supported");
	CHECK_EQ(pgtable_set_state(&pt, 0, K4, 3, PT_STATE_SWAP, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("page size not supported");

	no1g.leaf_levels = 0x3;
	ptmem_ops(&mem, &ops);
	CHECK_EQ(pgtable_init(&p, &no1g, &ops), 0);
	CHECK_EQ(pgtable_map(&p, 0, 0, G1, G1, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("page size not supported");
	CHECK_EQ(pgtable_map(&p, 0, 0, G1, M2, &a, 0, NULL), 0);
	CHECK_EQ(pgtable_destroy(&p), 0);
	teardown();
}

TEST(map_rejects_inexpressible_attributes)
{
	struct pgtable_attr a;

	setup(&pgtable_x86_64);
	a = pt_attr(PT_W, PT_MT_WB);
	CHECK_EQ(pgtable_map(&pt, 0, 0, K4, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("PT_R is required");
	a = pt_attr(PT_R | PT_IPAT, PT_MT_WB);
	CHECK_EQ(pgtable_map(&pt, 0, 0, K4, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("EPT attribute");
	a = pt_attr(PT_R, PT_MT_COUNT);
	CHECK_EQ(pgtable_map(&pt, 0, 0, K4, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("unknown memory type");
	a = pt_attr(PT_R | (1u << 20), PT_MT_WB);
	CHECK_EQ(pgtable_map(&pt, 0, 0, K4, K4, &a, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("unknown attribute flag");
	CHECK_EQ(pgtable_map(&pt, 0, 0, K4, K4, NULL, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("attributes are NULL");
	a = pt_attr(PT_R, PT_MT_WB);
	CHECK_EQ(pgtable_map(&pt, 0, 0, K4, K4, &a, 0x80, NULL), -MM_EINVAL);
	CHECK_REPORTED("unknown map flag");
	CHECK_EQ(pgtable_protect(&pt, 0, K4, &(struct pgtable_attr){ PT_X, 0 }, NULL), -MM_EINVAL);
	CHECK_REPORTED("PT_R is required");
	CHECK_EQ_U(mem.outstanding, 1);
	teardown();
}

/*
 *   0     4K        2M          4M              1G                    2G
 *   |=====|         |===========|               |=====================|
 *   4K leaf         2M leaf                     1G leaf
 * Every overlapping map without PT_MAP_REPLACE fails with -MM_EEXIST and changes nothing.
 */
TEST(map_over_mapping_needs_replace)
{
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB);
	struct ptsnap before, after;
	struct pgtable_flush fl = { 0 };

	setup(&pgtable_x86_64);
	map_ok(0, 0x100000, K4, K4, RW, PT_MT_WB);
	map_ok(M2, 0x200000, M2, M2, RW, PT_MT_WB);
	map_ok(G1, 0x40000000, G1, G1, RW, PT_MT_WB);
	ptsnap_take(&pt, &before);
	CHECK_EQ(pgtable_map(&pt, 0, 0x900000, K4, K4, &a, 0, NULL), -MM_EEXIST);
	CHECK_EQ(pgtable_map(&pt, 0, 0x800000, M2, M2, &a, 0, NULL), -MM_EEXIST);   /* over a table */
	CHECK_EQ(pgtable_map(&pt, M2 + K4, 0x5000, K4, K4, &a, 0, NULL), -MM_EEXIST); /* in a 2M leaf */
	CHECK_EQ(pgtable_map(&pt, 0, 0, G1, G1, &a, 0, NULL), -MM_EEXIST);          /* over PD */
	CHECK_EQ(pgtable_map(&pt, G1 + G1 - K4, 0x6000, 2 * K4, K4, &a, 0, NULL), -MM_EEXIST);
	/* Page 2 of [4K, 4M) is free but page 3 is inside the 2M leaf: all or nothing. */
	CHECK_EQ(pgtable_map(&pt, K4, 0x7000, 4 * M2 / 2 - K4, K4, &a, 0, NULL), -MM_EEXIST);
	ptsnap_take(&pt, &after);
	CHECK(ptsnap_equal(&before, &after));
	ptsnap_free(&after);
	CHECK_STATE(K4, PT_STATE_NONE, 0);
	CHECK_EQ_U(mem.outstanding, 4);     /* root, PDPT, PD, PT: no split happened */

	/* With PT_MAP_REPLACE: the 2M leaf splits, its page 1 moves, page 0 keeps its target. */
	a = pt_attr(PT_R, PT_MT_UC);
	CHECK_EQ(pgtable_map(&pt, M2 + K4, 0x5000, K4, K4, &a, PT_MAP_REPLACE, &fl), 0);
	CHECK_MAPPED(M2, 0, 0x200000, RW, PT_MT_WB);
	CHECK_MAPPED(M2 + K4 + 8, 0, 0x5008, PT_R, PT_MT_UC);
	CHECK_MAPPED(M2 + 2 * K4, 0, 0x202000, RW, PT_MT_WB);
	CHECK_EQ_U(fl.changed, 1);  /* the 2M leaf, replaced by a table */
	CHECK_EQ_U(fl.first, M2);
	CHECK_EQ_U(fl.last, 2 * M2 - 1);
	ptsnap_free(&before);
	teardown();
}

TEST(protect_set_state_walk_reject_bad_input)
{
	struct pgtable_attr a = pt_attr(PT_R | PT_A, PT_MT_WB);

	setup(&pgtable_x86_64);
	CHECK_EQ(pgtable_protect(&pt, 0, K4, &a, NULL), -MM_EINVAL);
	CHECK_REPORTED("A/D are hardware state");
	a = pt_attr(PT_R, PT_MT_WB);
	CHECK_EQ(pgtable_protect(&pt, 0, 0, &a, NULL), -MM_EINVAL);
	CHECK_REPORTED("length is zero");
	CHECK_EQ(pgtable_protect(&pt, 0, K4, NULL, NULL), -MM_EINVAL);
	CHECK_REPORTED("attributes are NULL");
	CHECK_EQ(pgtable_set_state(&pt, 0, K4, K4, PT_STATE_NONE, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("state must be SWAP, BALLOONED or DISCARDED");
	CHECK_EQ(pgtable_set_state(&pt, 0, K4, K4, PT_STATE_MAPPED, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("state must be SWAP, BALLOONED or DISCARDED");
	CHECK_EQ(pgtable_set_state(&pt, 0, K4, K4, PT_STATE_SWAP, PT_SW_SLOT_MAX + 1, NULL),
		 -MM_EINVAL);
	CHECK_REPORTED("swap slot beyond");
	/* Two pages need slots MAX and MAX + 1. */
	CHECK_EQ(pgtable_set_state(&pt, 0, 2 * K4, K4, PT_STATE_SWAP, PT_SW_SLOT_MAX, NULL),
		 -MM_EINVAL);
	CHECK_REPORTED("swap slot beyond");
	CHECK_EQ(pgtable_set_state(&pt, 0, M2, M2, PT_STATE_SWAP, PT_SW_SLOT_MAX - 510, NULL),
		 -MM_EINVAL);
	CHECK_REPORTED("swap slot beyond");
	CHECK_EQ(pgtable_set_state(&pt, 0x100, K4, K4, PT_STATE_BALLOONED, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("address not aligned");
	CHECK_EQ(pgtable_walk(&pt, 0, K4, 0, NULL, NULL, NULL), -MM_EINVAL);
	CHECK_REPORTED("visit function is NULL");
	CHECK_EQ(pgtable_walk(&pt, 0, K4, 4, noop_visit, NULL, NULL), -MM_EINVAL);
	CHECK_REPORTED("unknown walk flag");
	CHECK_EQ(pgtable_walk(&pt, UINT64_C(0x0000900000000000), K4, 0, noop_visit, NULL,
			      NULL), -MM_EINVAL);
	CHECK_REPORTED("non-canonical");
	CHECK_EQ(pgtable_unmap(NULL, 0, K4, NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL or not initialised");
	CHECK_EQ(pgtable_set_state(&pt, 0, M2, M2, PT_STATE_SWAP, PT_SW_SLOT_MAX - 511, NULL), 0);
	CHECK_EQ_U(tr(M2 - K4).slot, PT_SW_SLOT_MAX);
	teardown();
}

TEST(translate_and_check_reject_bad_input)
{
	struct pgtable_info i;

	setup(&pgtable_x86_64);
	CHECK_EQ(pgtable_translate(NULL, 0, &i), -MM_EINVAL);
	CHECK_REPORTED("NULL or not initialised");
	CHECK_EQ(pgtable_translate(&pt, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("info is NULL");
	CHECK_EQ(pgtable_translate(&pt, UINT64_C(0x8000000000000000), &i), -MM_EINVAL);
	CHECK_REPORTED("non-canonical address");
	CHECK_EQ(pgtable_check(NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL or not initialised");
	teardown();
}

/*
 * Allocation failure at every point of operations that need table pages: each fails with
 * -MM_ENOMEM, frees what it had taken, and leaves every table page byte-for-byte as before.
 *
 *   0    4K                          1G                                     2G
 *   |====|                           |=====================================|  1G leaf
 *   a) map 4K at 512G + 4M           needs PDPT + PD + PT         (3 pages)
 *   b) unmap 4K at 1G + 2M + 4K      splits 1G -> 2M -> 4K        (2 pages)
 *   c) protect, d) set_state there   the same splits              (2 pages)
 */
TEST(enomem_at_every_allocation_leaves_table_unchanged)
{
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB), ro = pt_attr(PT_R, PT_MT_WB);
	uint64_t inner = G1 + M2 + K4;

	for (int op = 0; op < 4; op++) {
		unsigned need = op == 0 ? 3 : 2;

		setup(&pgtable_x86_64);
		map_ok(0, 0x1000, K4, K4, RW, PT_MT_WB);
		map_ok(G1, 0x80000000, G1, G1, RW | PT_G, PT_MT_WT);
		for (unsigned fail = 0; fail <= need; fail++) {
			struct ptsnap before, after;
			uint64_t held = mem.outstanding;
			int ret = -1;

			ptsnap_take(&pt, &before);
			mem.fail_after = fail;
			switch (op) {
			case 0:
				ret = pgtable_map(&pt, 512 * G1 + 2 * M2, 0x7000, K4, K4, &a, 0, NULL);
				break;
			case 1:
				ret = pgtable_unmap(&pt, inner, K4, NULL);
				break;
			case 2:
				ret = pgtable_protect(&pt, inner, K4, &ro, NULL);
				break;
			case 3:
				ret = pgtable_set_state(&pt, inner, K4, K4, PT_STATE_BALLOONED, 0, NULL);
				break;
			}
			mem.fail_after = -1;
			if (fail < need) {
				CHECK_EQ(ret, -MM_ENOMEM);
				ptsnap_take(&pt, &after);
				CHECK(ptsnap_equal(&before, &after));
				ptsnap_free(&after);
				CHECK_EQ_U(mem.outstanding, held);
				CHECK_EQ_U(pt.tables, held);
			} else {
				CHECK_EQ(ret, 0);
				CHECK_EQ_U(mem.outstanding, held + need);
			}
			ptsnap_free(&before);
		}
		CHECK_MAPPED(0, 0, 0x1000, RW, PT_MT_WB);
		if (op > 0)
			CHECK_MAPPED(inner - K4, 0, 0x80000000 + M2, RW | PT_G, PT_MT_WT);
		teardown();
	}
}

/* ---- x86 encodings (Intel SDM Vol. 3A, Tables 4-15 .. 4-20) ---------------------------- */

TEST(x86_bit_positions_match_sdm)
{
	CHECK_EQ_U(X86_PTE_P, UINT64_C(1) << 0);
	CHECK_EQ_U(X86_PTE_RW, UINT64_C(1) << 1);
	CHECK_EQ_U(X86_PTE_US, UINT64_C(1) << 2);
	CHECK_EQ_U(X86_PTE_PWT, UINT64_C(1) << 3);
	CHECK_EQ_U(X86_PTE_PCD, UINT64_C(1) << 4);
	CHECK_EQ_U(X86_PTE_A, UINT64_C(1) << 5);
	CHECK_EQ_U(X86_PTE_D, UINT64_C(1) << 6);
	CHECK_EQ_U(X86_PTE_PS, UINT64_C(1) << 7);
	CHECK_EQ_U(X86_PTE_PAT, UINT64_C(1) << 7);
	CHECK_EQ_U(X86_PTE_G, UINT64_C(1) << 8);
	CHECK_EQ_U(X86_PTE_PAT_LARGE, UINT64_C(1) << 12);
	CHECK_EQ_U(X86_PTE_NX, UINT64_C(1) << 63);
	CHECK_EQ_U(X86_PTE_ADDR_MASK, UINT64_C(0x000ffffffffff000));
	CHECK_EQ_U(X86_PTE_SW_STATE_MASK, UINT64_C(0x6));
	CHECK_EQ_U(X86_PTE_SW_SLOT_MASK, UINT64_C(0x000ffffffffff000));
	CHECK_EQ(pgtable_x86_64.pa_bits, 52);
}

TEST(x86_leaf_encoding_per_level)
{
	const struct pgtable_format *f = &pgtable_x86_64;
	struct pgtable_attr all = pt_attr(RWX | PT_U | PT_G | PT_A | PT_D, PT_MT_WB), back;
	struct pgtable_attr ro = pt_attr(PT_R, PT_MT_WB);
	uint64_t pa4k = UINT64_C(0x000f123456789000);
	uint64_t pa2m = UINT64_C(0x000f123456600000);
	uint64_t pa1g = UINT64_C(0x000f123440000000);

	/* 4 KiB PTE: P RW US A D G, no NX (executable), no PS. */
	CHECK_EQ_U(f->make_leaf(pa4k, 0, &all), pa4k | 0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0x100);
	/* 2 MiB PDE: P PS NX. */
	CHECK_EQ_U(f->make_leaf(pa2m, 1, &ro), pa2m | 0x1 | 0x80 | (UINT64_C(1) << 63));
	/* 1 GiB PDPTE: P RW PS. */
	CHECK_EQ_U(f->make_leaf(pa1g, 2, &(struct pgtable_attr){ RWX, PT_MT_WB }),
		   pa1g | 0x1 | 0x2 | 0x80);
	/* Table entries: P RW US and the address; nothing else. */
	CHECK_EQ_U(f->make_table(0x123000), 0x123000 | 0x7);
	CHECK(f->is_leaf(f->make_leaf(pa2m, 1, &ro), 1));
	CHECK(!f->is_leaf(f->make_table(0x123000), 1));

	for (unsigned level = 0; level < 3; level++) {
		phys_addr_t pa = level == 0 ? pa4k : level == 1 ? pa2m : pa1g;
		uint64_t e = f->make_leaf(pa, level, &all);

		CHECK_EQ_U(f->leaf_addr(e, level), pa);
		f->leaf_attr(e, level, &back);
		CHECK_EQ_U(back.flags, all.flags);
		CHECK_EQ(back.memtype, all.memtype);
	}

	/* The same encodings come out of the walker. */
	setup(f);
	map_ok(0, pa4k, K4, K4, all.flags, PT_MT_WB);
	map_ok(M2, pa2m, M2, M2, PT_R, PT_MT_WB);
	map_ok(G1, pa1g, G1, G1, RWX, PT_MT_WB);
	CHECK_EQ_U(tr(0).raw, pa4k | 0x167);
	CHECK_EQ_U(tr(M2).raw, pa2m | 0x81 | (UINT64_C(1) << 63));
	CHECK_EQ_U(tr(G1).raw, pa1g | 0x83);
	teardown();
}

/* PAT:PCD:PWT index -> IA32_PAT entry; each must hold the architectural type code. */
TEST(x86_memtype_selects_pat_entry)
{
	static const struct { uint32_t mt; unsigned idx; unsigned code; } cases[] = {
		{ PT_MT_WB, 0, 6 }, { PT_MT_WC, 1, 1 }, { PT_MT_UC, 3, 0 },
		{ PT_MT_WP, 5, 5 }, { PT_MT_WT, 7, 4 },
	};
	const struct pgtable_format *f = &pgtable_x86_64;

	for (unsigned c = 0; c < MM_ARRAY_SIZE(cases); c++) {
		struct pgtable_attr a = pt_attr(PT_R, cases[c].mt), back;
		unsigned code = (unsigned)(X86_PAT_MSR_VALUE >> (8 * cases[c].idx)) & 0xff;

		CHECK_EQ(code, cases[c].code);
		for (unsigned level = 0; level < 3; level++) {
			uint64_t e = f->make_leaf(0, level, &a);
			uint64_t pat = level == 0 ? (UINT64_C(1) << 7) : (UINT64_C(1) << 12);
			unsigned idx = ((e >> 3) & 1) | (((e >> 4) & 1) << 1) | ((e & pat) ? 4 : 0);

			CHECK_EQ(idx, cases[c].idx);
			CHECK_EQ((e & (UINT64_C(1) << 7)) != 0, level != 0 || (cases[c].idx & 4));
			f->leaf_attr(e, level, &back);
			CHECK_EQ(back.memtype, cases[c].mt);
			CHECK_EQ_U(f->leaf_addr(e, level), 0);     /* PAT bit 12 is not address */
		}
	}
}

TEST(x86_software_state_encoding)
{
	const struct pgtable_format *f = &pgtable_x86_64;
	uint64_t e, slot;

	e = f->make_state(PT_STATE_SWAP, 0x12345);
	CHECK_EQ_U(e & X86_PTE_P, 0);
	CHECK_EQ_U((e >> 1) & 3, PT_SW_CODE_SWAP);
	/* Slot in bits 51:12, inverted (L1TF): the address field points above any real memory. */
	CHECK_EQ_U((e >> 12) & ((UINT64_C(1) << 40) - 1), ~UINT64_C(0x12345) & ((UINT64_C(1) << 40) - 1));
	CHECK_EQ_U(e & ~UINT64_C(0x000ffffffffff006), 0);
	CHECK_EQ(f->state(e, &slot), PT_STATE_SWAP);
	CHECK_EQ_U(slot, 0x12345);
	CHECK_EQ_U(f->make_state(PT_STATE_BALLOONED, 77), 2u << 1);
	CHECK_EQ_U(f->make_state(PT_STATE_DISCARDED, 0), 3u << 1);
	CHECK_EQ(f->state(2u << 1, &slot), PT_STATE_BALLOONED);
	CHECK_EQ(f->state(3u << 1, &slot), PT_STATE_DISCARDED);
	CHECK_EQ(f->state(1u << 5, &slot), PT_STATE_NONE);  /* non-zero, but no state code */
	for (uint64_t s = 0; s < 3; s++) {
		uint64_t want = s == 0 ? 0 : s == 1 ? PT_SW_SLOT_MAX : 0x5555555555ull;

		CHECK(f->make_state(PT_STATE_SWAP, want) != 0);
		CHECK_EQ(f->state(f->make_state(PT_STATE_SWAP, want), &slot), PT_STATE_SWAP);
		CHECK_EQ_U(slot, want);
	}
}

/* ---- map / translate / unmap ------------------------------------------------------------ */

/*
 *   0x7f0000200000  +4K      +8K      +12K     +16K
 *   |  none  |=======|=======|=======|  none  |      3 x 4K -> pa 0x5000..
 */
TEST(map_translate_unmap_4k)
{
	uint64_t va = UINT64_C(0x7f0000200000);
	struct pgtable_info i;

	setup(&pgtable_x86_64);
	map_ok(va + K4, 0x5000, 3 * K4, K4, RW | PT_U, PT_MT_WB);
	CHECK_EQ_U(mem.outstanding, 4);     /* root, PDPT, PD, PT */
	CHECK_EQ(pgtable_check(&pt), 4);
	for (unsigned n = 0; n < 3; n++) {
		CHECK_MAPPED(va + (n + 1) * K4, 0, 0x5000 + n * K4, RW | PT_U, PT_MT_WB);
		CHECK_MAPPED(va + (n + 1) * K4 + 0xabc, 0, 0x5abc + n * K4, RW | PT_U, PT_MT_WB);
	}
	i = tr(va + K4 + 0xabc);
	CHECK_EQ_U(i.addr, va + K4);
	CHECK_EQ_U(i.size, K4);
	CHECK_STATE(va, PT_STATE_NONE, 0);
	CHECK_STATE(va + 4 * K4, PT_STATE_NONE, 0);

	CHECK_EQ(pgtable_unmap(&pt, va + 2 * K4, K4, NULL), 0);
	CHECK_STATE(va + 2 * K4, PT_STATE_NONE, 0);
	CHECK_MAPPED(va + K4, 0, 0x5000, RW | PT_U, PT_MT_WB);
	CHECK_MAPPED(va + 3 * K4, 0, 0x7000, RW | PT_U, PT_MT_WB);
	CHECK_EQ_U(mem.outstanding, 4);
	CHECK_EQ(pgtable_unmap(&pt, va, 8 * K4, NULL), 0);
	CHECK_EQ_U(mem.outstanding, 1);     /* PT, PD and PDPT became empty and were freed */
	i = tr(va + K4);
	CHECK_EQ(i.state, PT_STATE_NONE);
	CHECK_EQ(i.level, 3);
	CHECK_EQ_U(i.size, PT_LEVEL_SIZE(3));
	teardown();
}

TEST(map_translate_unmap_2m_and_1g)
{
	setup(&pgtable_x86_64);
	map_ok(M2, 0x40000000, M2, M2, RW, PT_MT_WB);
	map_ok(G1, 0x80000000, 2 * G1, G1, PT_R | PT_X, PT_MT_WB);
	CHECK_EQ_U(mem.outstanding, 3);     /* root, PDPT, PD: no PT for large leaves */
	CHECK_MAPPED(M2 + 0x12345, 1, 0x40012345, RW, PT_MT_WB);
	CHECK_MAPPED(G1 + 0x3456789, 2, 0x83456789, PT_R | PT_X, PT_MT_WB);
	CHECK_MAPPED(2 * G1 + 5, 2, 0xc0000005, PT_R | PT_X, PT_MT_WB);
	CHECK_EQ_U(tr(M2 + 0x12345).size, M2);
	CHECK_EQ_U(tr(G1 + 0x3456789).addr, G1);
	CHECK_STATE(0, PT_STATE_NONE, 1);
	CHECK_STATE(3 * G1, PT_STATE_NONE, 2);

	CHECK_EQ(pgtable_unmap(&pt, M2, M2, NULL), 0);
	CHECK_EQ_U(mem.outstanding, 2);     /* the PD held only that leaf */
	CHECK_EQ(pgtable_unmap(&pt, G1, 2 * G1, NULL), 0);
	CHECK_EQ_U(mem.outstanding, 1);
	teardown();
}

/*
 * translate reports the level where the walk stopped, for mappings, states and holes:
 *
 *   level 3 hole: 512G..        level 2: [0,1G) PDPT entries   level 1: 2M entries  level 0
 *   0        2M       4M   6M    1G            2G           4G           5G
 *   |= 2M ==|  hole  |=4K| ...   |==== 1G ====|   hole     |~~ swap 1G ~~|
 */
TEST(translate_reports_every_level)
{
	struct pgtable_info i;

	setup(&pgtable_x86_64);
	i = tr(0);
	CHECK_EQ(i.state, PT_STATE_NONE);
	CHECK_EQ(i.level, 3);
	CHECK_EQ_U(i.size, PT_LEVEL_SIZE(3));

	map_ok(0, 0x200000, M2, M2, RW, PT_MT_WB);
	map_ok(2 * M2, 0x9000, K4, K4, RW, PT_MT_WB);
	map_ok(G1, 0x40000000, G1, G1, RW, PT_MT_WB);
	CHECK_EQ(pgtable_set_state(&pt, 4 * G1, G1, G1, PT_STATE_SWAP, 1000, NULL), 0);
	CHECK_EQ(pgtable_set_state(&pt, 4 * M2, M2, M2, PT_STATE_DISCARDED, 0, NULL), 0);
	CHECK_EQ(pgtable_set_state(&pt, 2 * M2 + K4, K4, K4, PT_STATE_BALLOONED, 0, NULL), 0);

	CHECK_MAPPED(0x1234, 1, 0x201234, RW, PT_MT_WB);
	CHECK_MAPPED(2 * M2 + 7, 0, 0x9007, RW, PT_MT_WB);
	CHECK_MAPPED(G1 + 0x10000, 2, 0x40010000, RW, PT_MT_WB);
	CHECK_STATE(M2, PT_STATE_NONE, 1);
	CHECK_STATE(2 * M2 + 2 * K4, PT_STATE_NONE, 0);
	CHECK_STATE(2 * G1, PT_STATE_NONE, 2);
	CHECK_STATE(PT_LEVEL_SIZE(3), PT_STATE_NONE, 3);
	CHECK_STATE(2 * M2 + K4, PT_STATE_BALLOONED, 0);
	CHECK_STATE(4 * M2 + 5 * K4, PT_STATE_DISCARDED, 1);
	i = tr(4 * G1 + 3 * K4 + 17);
	CHECK_EQ(i.state, PT_STATE_SWAP);
	CHECK_EQ(i.level, 2);
	CHECK_EQ_U(i.slot, 1003);   /* slot of the queried 4K page */
	CHECK_EQ_U(i.addr, 4 * G1);
	teardown();
}

TEST(upper_half_addresses_sign_extend)
{
	uint64_t kva = UINT64_C(0xffffffff80000000);
	struct pgtable_flush fl = { 0 };
	const uint64_t *root;
	struct pgtable_info i;

	setup(&pgtable_x86_64);
	map_ok(kva, 0x1000000, 2 * M2, M2, RWX | PT_G, PT_MT_WB);
	i = tr(kva + M2 + 0x42);
	CHECK_EQ(i.state, PT_STATE_MAPPED);
	CHECK_EQ_U(i.addr, kva + M2);       /* reported in canonical form */
	CHECK_EQ_U(i.pa, 0x1200042);
	root = ptmem_virt(&mem, pt.root);
	CHECK_NE_U(root[511], 0);           /* PML4 index 511 */
	CHECK_EQ_U(root[255], 0);
	/* Both leaves go, then the PD and the PDPT (PML4 slot 511: the top 512G) empty out. */
	CHECK_EQ(pgtable_unmap(&pt, kva, 2 * M2, &fl), 0);
	CHECK_EQ_U(fl.changed, 2);
	CHECK_EQ_U(fl.tables_freed, 2);
	CHECK_EQ_U(fl.first, UINT64_C(0xffffff8000000000));
	CHECK_EQ_U(fl.last, UINT64_C(0xffffffffffffffff));
	teardown();
}

/* ---- splits ------------------------------------------------------------------------------ */

/*
 * before:  1G                                                              2G
 *          |==================== one 1G leaf -> 0x80000000, RW G A D, WT ===|
 * unmap 4K at 1G + 2M + 4K:
 * after:   1G        1G+2M                     1G+4M                       2G
 *          |== 2M ==|=|  |=====...=====| (4K)|== 2M ==|== ... 510 x 2M ==|
 *                       ^ hole
 * Every untouched byte keeps its target and attributes; only the hole is gone.
 */
TEST(unmap_4k_splits_1g_preserving_attributes)
{
	uint32_t fl_ = RW | PT_G | PT_A | PT_D;
	struct pgtable_flush fl = { 0 };

	setup(&pgtable_x86_64);
	map_ok(G1, 0x80000000, G1, G1, fl_, PT_MT_WT);
	CHECK_EQ_U(mem.outstanding, 2);
	CHECK_EQ(pgtable_unmap(&pt, G1 + M2 + K4, K4, &fl), 0);
	CHECK_EQ_U(mem.outstanding, 4);     /* + PD from the 1G split, + PT from the 2M split */
	CHECK_MAPPED(G1, 1, 0x80000000, fl_, PT_MT_WT);
	CHECK_MAPPED(G1 + M2, 0, 0x80200000, fl_, PT_MT_WT);
	CHECK_STATE(G1 + M2 + K4, PT_STATE_NONE, 0);
	CHECK_MAPPED(G1 + M2 + 2 * K4 + 9, 0, 0x80202009, fl_, PT_MT_WT);
	CHECK_MAPPED(G1 + 2 * M2 - 1, 0, 0x803fffff, fl_, PT_MT_WT);
	CHECK_MAPPED(G1 + 2 * M2, 1, 0x80400000, fl_, PT_MT_WT);
	CHECK_MAPPED(2 * G1 - 1, 1, 0xbfffffff, fl_, PT_MT_WT);
	CHECK_EQ_U(fl.changed, 1);          /* the 1G leaf, once */
	CHECK_EQ_U(fl.first, G1);
	CHECK_EQ_U(fl.last, 2 * G1 - 1);
	CHECK_EQ(pgtable_check(&pt), 4);
	teardown();
}

/*
 * before:  0                                                2M
 *          |================ one 2M leaf, RWX ===============|
 * protect [0, 4K) RWX (unchanged): nothing happens, no split.
 * protect [4K, 8K) R:
 * after:   0     4K    8K                                    2M
 *          | RWX | R  | RWX  ...  (512 x 4K)            RWX |
 */
TEST(protect_splits_2m_only_when_attributes_change)
{
	struct pgtable_attr same = pt_attr(RWX, PT_MT_WB), ro = pt_attr(PT_R, PT_MT_WB);
	struct pgtable_flush fl = { 0 };

	setup(&pgtable_x86_64);
	map_ok(0, 0x600000, M2, M2, RWX, PT_MT_WB);
	CHECK_EQ(pgtable_protect(&pt, 0, K4, &same, &fl), 0);
	CHECK(!pgtable_flush_needed(&fl));
	CHECK_EQ_U(mem.outstanding, 3);
	CHECK_MAPPED(0, 1, 0x600000, RWX, PT_MT_WB);

	CHECK_EQ(pgtable_protect(&pt, K4, K4, &ro, &fl), 0);
	CHECK_EQ_U(mem.outstanding, 4);
	CHECK_MAPPED(0, 0, 0x600000, RWX, PT_MT_WB);
	CHECK_MAPPED(K4, 0, 0x601000, PT_R, PT_MT_WB);
	CHECK_MAPPED(2 * K4, 0, 0x602000, RWX, PT_MT_WB);
	CHECK_MAPPED(M2 - K4, 0, 0x7ff000, RWX, PT_MT_WB);
	CHECK_EQ_U(fl.changed, 1);
	CHECK_EQ_U(fl.first, 0);
	CHECK_EQ_U(fl.last, M2 - 1);
	teardown();
}

/*
 *   0    4K   16K        2M         4M                1G      1G+2M              2G
 *   |=4K=|=4K x 3=|      |==== 2M ===|                |=========== 1G ===========|
 *   protect [4K, 1G + 2M) to read-only + UC:
 *   |=RW=|== R ===|      |==== R ====|                |== R ==|====== RW (2M x 511)|
 *         in place        in place                     the 1G leaf splits into 2M leaves
 */
TEST(protect_across_leaf_sizes)
{
	struct pgtable_attr ro = pt_attr(PT_R, PT_MT_UC);
	struct pgtable_flush fl = { 0 };

	setup(&pgtable_x86_64);
	map_ok(0, 0x10000, 4 * K4, K4, RW, PT_MT_WB);
	map_ok(M2, 0x200000, M2, M2, RW | PT_A, PT_MT_WB);
	map_ok(G1, 0x40000000, G1, G1, RW, PT_MT_WB);
	CHECK_EQ(pgtable_protect(&pt, K4, G1 + M2 - K4, &ro, &fl), 0);
	CHECK_MAPPED(0, 0, 0x10000, RW, PT_MT_WB);
	for (unsigned n = 1; n < 4; n++)
		CHECK_MAPPED(n * K4, 0, 0x10000 + n * K4, PT_R, PT_MT_UC);
	CHECK_MAPPED(M2 + 5, 1, 0x200005, PT_R | PT_A, PT_MT_UC);   /* A kept */
	CHECK_MAPPED(G1, 1, 0x40000000, PT_R, PT_MT_UC);
	CHECK_MAPPED(G1 + M2, 1, 0x40200000, RW, PT_MT_WB);
	CHECK_MAPPED(2 * G1 - 1, 1, 0x7fffffff, RW, PT_MT_WB);
	CHECK_EQ_U(fl.changed, 3 + 1 + 1);  /* three PTEs, the 2M leaf, the split 1G leaf */
	CHECK_EQ_U(fl.first, K4);
	CHECK_EQ_U(fl.last, 2 * G1 - 1);
	CHECK_EQ_U(mem.outstanding, 5);     /* root, PDPT, PD(0..1G), PT, PD from the split */
	teardown();
}

/* ---- software states ---------------------------------------------------------------------- */

/*
 * before:  2M                                            4M
 *          |~~~~~~~ one 2M swap entry, slots 1000..1511 ~~|
 * unmap 4K at 2M + 28K (page 7):
 * after:   |~ 1000..1006 ~|  none  |~~ 1008..1511 ~~~~~~~|   (512 x 4K entries)
 *
 * before:  1G                                            2G
 *          |~~~~~~~~~~~~ one 1G ballooned entry ~~~~~~~~~|
 * map 4K at 1G + 2M (a page comes back from the balloon; no REPLACE needed):
 * after:   |~ 2M ~|=|~ 4K x 511 ~|~~ 2M x 510 ~~~~~~~~~~~|
 */
TEST(software_states_round_trip_and_survive_splits)
{
	struct pgtable_flush fl = { 0 };
	struct pgtable_info i;

	setup(&pgtable_x86_64);
	CHECK_EQ(pgtable_set_state(&pt, M2, M2, M2, PT_STATE_SWAP, 1000, &fl), 0);
	i = tr(M2 + 5 * K4);
	CHECK_EQ(i.state, PT_STATE_SWAP);
	CHECK_EQ(i.level, 1);
	CHECK_EQ_U(i.slot, 1005);
	CHECK_EQ(pgtable_unmap(&pt, M2 + 7 * K4, K4, &fl), 0);
	i = tr(M2 + 6 * K4);
	CHECK_EQ(i.state, PT_STATE_SWAP);
	CHECK_EQ(i.level, 0);
	CHECK_EQ_U(i.slot, 1006);
	CHECK_STATE(M2 + 7 * K4, PT_STATE_NONE, 0);
	CHECK_EQ_U(tr(M2 + 8 * K4).slot, 1008);
	CHECK_EQ_U(tr(2 * M2 - K4).slot, 1511);

	CHECK_EQ(pgtable_set_state(&pt, G1, G1, G1, PT_STATE_BALLOONED, 0, &fl), 0);
	map_ok(G1 + M2, 0x3000, K4, K4, RW, PT_MT_WB);
	CHECK_STATE(G1, PT_STATE_BALLOONED, 1);
	CHECK_MAPPED(G1 + M2, 0, 0x3000, RW, PT_MT_WB);
	CHECK_STATE(G1 + M2 + K4, PT_STATE_BALLOONED, 0);
	CHECK_STATE(2 * G1 - K4, PT_STATE_BALLOONED, 1);

	CHECK_EQ(pgtable_set_state(&pt, 0, K4, K4, PT_STATE_DISCARDED, 0, &fl), 0);
	CHECK_STATE(0, PT_STATE_DISCARDED, 0);
	CHECK_EQ(pgtable_set_state(&pt, K4, K4, K4, PT_STATE_SWAP, PT_SW_SLOT_MAX, &fl), 0);
	CHECK_EQ_U(tr(K4).slot, PT_SW_SLOT_MAX);
	CHECK(!pgtable_flush_needed(&fl));  /* nothing present was touched */

	/* Swap-in: a mapping over a swap entry needs no flag; a swap-out over a mapping counts. */
	map_ok(K4, 0x4000, K4, K4, RW, PT_MT_WB);
	CHECK_MAPPED(K4, 0, 0x4000, RW, PT_MT_WB);
	CHECK(!pgtable_flush_needed(&fl));
	CHECK_EQ(pgtable_set_state(&pt, K4, K4, K4, PT_STATE_SWAP, 42, &fl), 0);
	CHECK_EQ_U(fl.changed, 1);
	CHECK_EQ_U(tr(K4).slot, 42);
	teardown();
}

/* ---- table pages ---------------------------------------------------------------------------- */

/*
 *   2M        +16K               4M
 *   |=4K x 4=|~swap~|            |        map 2M at 2M with REPLACE: the PT below goes
 *   |================ 2M =======|        (4 present entries counted, one table freed)
 *   4M: |~swap~| only              map 2M at 4M without REPLACE: no present entry, allowed
 */
TEST(replace_large_leaf_over_table_frees_subtree)
{
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB);
	struct pgtable_flush fl = { 0 };

	setup(&pgtable_x86_64);
	map_ok(M2, 0x10000, 4 * K4, K4, RW, PT_MT_WB);
	CHECK_EQ(pgtable_set_state(&pt, M2 + 4 * K4, K4, K4, PT_STATE_SWAP, 9, NULL), 0);
	CHECK_EQ_U(mem.outstanding, 4);
	CHECK_EQ(pgtable_map(&pt, M2, 0x400000, M2, M2, &a, PT_MAP_REPLACE, &fl), 0);
	CHECK_EQ_U(mem.outstanding, 3);
	CHECK_EQ_U(fl.changed, 4);
	CHECK_EQ_U(fl.tables_freed, 1);
	CHECK_MAPPED(M2 + 4 * K4, 1, 0x404000, RW, PT_MT_WB);

	CHECK_EQ(pgtable_set_state(&pt, 2 * M2 + K4, K4, K4, PT_STATE_SWAP, 10, NULL), 0);
	CHECK_EQ_U(mem.outstanding, 4);
	CHECK_EQ(pgtable_map(&pt, 2 * M2, 0x600000, M2, M2, &a, 0, NULL), 0);
	CHECK_EQ_U(mem.outstanding, 3);
	CHECK_MAPPED(2 * M2 + K4, 1, 0x601000, RW, PT_MT_WB);
	teardown();
}

/*
 *   0     4K    8K    12K
 *   |=====|     |~swap~|      one PT: unmap [0, 4K) leaves it (a swap entry is not empty);
 *                             unmap [8K, 12K) empties it: PT, PD and PDPT are freed.
 */
TEST(unmap_frees_empty_tables_keeps_state_tables)
{
	struct pgtable_flush fl = { 0 };

	setup(&pgtable_x86_64);
	map_ok(0, 0x1000, K4, K4, RW, PT_MT_WB);
	CHECK_EQ(pgtable_set_state(&pt, 2 * K4, K4, K4, PT_STATE_SWAP, 5, NULL), 0);
	CHECK_EQ(pgtable_unmap(&pt, 0, K4, &fl), 0);
	CHECK_EQ_U(mem.outstanding, 4);
	CHECK_EQ_U(fl.tables_freed, 0);
	CHECK_EQ_U(tr(2 * K4).slot, 5);
	CHECK_EQ(pgtable_unmap(&pt, 2 * K4, K4, &fl), 0);
	CHECK_EQ_U(mem.outstanding, 1);
	CHECK_EQ_U(fl.tables_freed, 3);
	CHECK_EQ_U(fl.changed, 1);

	/* Unmapping nothing allocates nothing; unmapping everything frees all but the root. */
	CHECK_EQ(pgtable_unmap(&pt, 0, G1, NULL), 0);
	CHECK_EQ_U(mem.outstanding, 1);
	map_ok(0, 0, 8 * K4, K4, RW, PT_MT_WB);
	map_ok(5 * G1, 0, G1, M2, RW, PT_MT_WB);
	map_ok(UINT64_C(0xffff800000000000), 0, G1, G1, RW, PT_MT_WB);
	CHECK_EQ(pgtable_unmap(&pt, 0, UINT64_C(0x800000000000), NULL), 0);
	CHECK_EQ_U(mem.outstanding, 2);     /* root + the upper-half PDPT */
	CHECK_EQ(pgtable_unmap(&pt, UINT64_C(0xffff800000000000), UINT64_C(0x800000000000), NULL),
		 0);
	CHECK_EQ_U(mem.outstanding, 1);
	teardown();
}

TEST(destroy_frees_every_table_page)
{
	setup(&pgtable_x86_64);
	map_ok(0, 0, 600 * K4, K4, RW, PT_MT_WB);                /* spans two PTs */
	map_ok(G1, 0, G1, M2, RW, PT_MT_WB);
	map_ok(4 * G1, 0, 3 * G1, G1, RW, PT_MT_WB);
	map_ok(UINT64_C(0xffffffff80000000), 0, M2, K4, RWX, PT_MT_WB);
	CHECK_EQ(pgtable_set_state(&pt, 100 * G1, G1, M2, PT_STATE_SWAP, 0, NULL), 0);
	CHECK_EQ(pgtable_check(&pt), (long)mem.outstanding);
	CHECK_GT(mem.outstanding, 8);
	CHECK_EQ(pgtable_destroy(&pt), 0);
	CHECK_EQ_U(mem.outstanding, 0);
	CHECK_EQ_U(mem.allocs, mem.frees);
	CHECK_EQ(pgtable_destroy(&pt), -MM_EINVAL);     /* the struct is dead now */
	CHECK_REPORTED("not initialised");
	ptmem_fini(&mem);
}

/* ---- flush reporting ---------------------------------------------------------------------- */

TEST(flush_reports_changes_and_ranges)
{
	struct pgtable_attr a = pt_attr(RW, PT_MT_WB), ro = pt_attr(PT_R, PT_MT_WB);
	struct pgtable_flush fl = { 0 };

	setup(&pgtable_x86_64);
	CHECK_EQ(pgtable_map(&pt, 0x10000, 0x1000, K4, K4, &a, 0, &fl), 0);
	CHECK(!pgtable_flush_needed(&fl));  /* non-present -> present needs no flush */
	CHECK_EQ(pgtable_map(&pt, 0x10000, 0x2000, K4, K4, &a, PT_MAP_REPLACE, &fl), 0);
	CHECK_EQ_U(fl.changed, 1);
	CHECK_EQ_U(fl.first, 0x10000);
	CHECK_EQ_U(fl.last, 0x10fff);
	/* Re-mapping identically changes nothing. */
	CHECK_EQ(pgtable_map(&pt, 0x10000, 0x2000, K4, K4, &a, PT_MAP_REPLACE, &fl), 0);
	CHECK_EQ_U(fl.changed, 1);
	/* Protect over a present and an absent page: one change; the range accumulates. */
	CHECK_EQ(pgtable_protect(&pt, 0xf000, 2 * K4, &ro, &fl), 0);
	CHECK_EQ_U(fl.changed, 2);
	CHECK_EQ_U(fl.first, 0x10000);
	CHECK_EQ(pgtable_set_state(&pt, 0x10000, K4, K4, PT_STATE_DISCARDED, 0, &fl), 0);
	CHECK_EQ_U(fl.changed, 3);
	map_ok(0x400000, 0, K4, K4, RW, PT_MT_WB);
	CHECK_EQ(pgtable_unmap(&pt, 0x400000, K4, &fl), 0);
	CHECK_EQ_U(fl.changed, 4);
	CHECK_EQ_U(fl.tables_freed, 1);     /* the PT of 4M..6M */
	CHECK_EQ_U(fl.first, 0x10000);
	CHECK_EQ_U(fl.last, 0x5fffff);      /* the freed PT's span */
	teardown();
}

/* ---- walk and access tracking ------------------------------------------------------------- */

struct seen {
	unsigned n;
	struct pgtable_info e[16];
	unsigned stop_after;
};

static int record(void *arg, const struct pgtable_info *info)
{
	struct seen *s = arg;

	if (s->n < MM_ARRAY_SIZE(s->e))
		s->e[s->n] = *info;
	s->n++;
	return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

/*
 *   0      8K        2M         4M           1G          2G
 *   |=A D=|~swap~|   |=== A ====|            |==== D ====|
 */
TEST(walk_visits_in_order_and_clears_accessed_dirty)
{
	struct pgtable_flush fl = { 0 };
	struct seen s = { 0 };

	setup(&pgtable_x86_64);
	map_ok(0, 0x1000, K4, K4, RW | PT_A | PT_D, PT_MT_WB);
	CHECK_EQ(pgtable_set_state(&pt, 2 * K4, K4, K4, PT_STATE_SWAP, 3, NULL), 0);
	map_ok(M2, 0x200000, M2, M2, RW | PT_A, PT_MT_WB);
	map_ok(G1, 0x40000000, G1, G1, RW | PT_D, PT_MT_WB);

	CHECK_EQ(pgtable_walk(&pt, 0, 2 * G1, 0, record, &s, NULL), 0);
	CHECK_EQ(s.n, 4);
	CHECK_EQ_U(s.e[0].addr, 0);
	CHECK_EQ_U(s.e[0].attr.flags, RW | PT_A | PT_D);
	CHECK_EQ_U(s.e[1].addr, 2 * K4);
	CHECK_EQ(s.e[1].state, PT_STATE_SWAP);
	CHECK_EQ_U(s.e[1].slot, 3);
	CHECK_EQ_U(s.e[2].addr, M2);
	CHECK_EQ_U(s.e[2].size, M2);
	CHECK_EQ_U(s.e[3].pa, 0x40000000);
	CHECK_EQ_U(s.e[3].size, G1);

	/* Access scan: clear A, see the old values, count what needs a flush. */
	s.n = 0;
	CHECK_EQ(pgtable_walk(&pt, 0, 2 * G1, PT_WALK_CLEAR_A, record, &s, &fl), 0);
	CHECK_EQ_U(s.e[0].attr.flags, RW | PT_A | PT_D);
	CHECK_EQ_U(s.e[2].attr.flags, RW | PT_A);
	CHECK_EQ_U(fl.changed, 2);
	CHECK_EQ_U(tr(0).attr.flags, RW | PT_D);
	CHECK_EQ_U(tr(M2).attr.flags, RW);
	CHECK_EQ_U(tr(G1).attr.flags, RW | PT_D);
	CHECK_EQ(pgtable_walk(&pt, 0, 2 * G1, PT_WALK_CLEAR_D, record, &s, &fl), 0);
	CHECK_EQ_U(fl.changed, 4);
	CHECK_EQ_U(tr(0).attr.flags, RW);
	CHECK_EQ_U(tr(G1).attr.flags, RW);

	/* A range inside a large leaf visits the whole leaf; a non-zero return stops the walk. */
	s.n = 0;
	CHECK_EQ(pgtable_walk(&pt, M2 + K4, K4, 0, record, &s, NULL), 0);
	CHECK_EQ(s.n, 1);
	CHECK_EQ_U(s.e[0].addr, M2);
	s.n = 0;
	s.stop_after = 2;
	CHECK_EQ(pgtable_walk(&pt, 0, 2 * G1, 0, record, &s, NULL), 7);
	CHECK_EQ(s.n, 2);
	teardown();
}

/* ---- consistency checker ------------------------------------------------------------------ */

TEST(check_detects_corruption)
{
	uint64_t *root, *pdpt, *pd, *ptab, saved;

	setup(&pgtable_x86_64);
	map_ok(0, 0x1000, K4, K4, RW, PT_MT_WB);
	CHECK_EQ(pgtable_check(&pt), 4);
	root = ptmem_virt(&mem, pt.root);
	pdpt = ptmem_virt(&mem, root[0] & X86_PTE_ADDR_MASK);
	pd = ptmem_virt(&mem, pdpt[0] & X86_PTE_ADDR_MASK);
	ptab = ptmem_virt(&mem, pd[0] & X86_PTE_ADDR_MASK);

	saved = ptab[0];
	ptab[0] = 0;
	CHECK_EQ(pgtable_check(&pt), -MM_EUCLEAN);
	CHECK_REPORTED("empty table page left in the tree");
	ptab[0] = X86_PTE_A;        /* non-present, non-zero, no state code */
	CHECK_EQ(pgtable_check(&pt), -MM_EUCLEAN);
	CHECK_REPORTED("invalid state code");
	ptab[0] = saved;
	root[1] = X86_PTE_P | X86_PTE_PS;   /* a 512G "leaf" in the PML4 */
	CHECK_EQ(pgtable_check(&pt), -MM_EUCLEAN);
	CHECK_REPORTED("leaf at a level the format does not allow");
	root[1] = 2u << 1;                  /* a ballooned state entry in the PML4 */
	CHECK_EQ(pgtable_check(&pt), -MM_EUCLEAN);
	CHECK_REPORTED("software state at a non-leaf level");
	root[1] = 0;
	pt.tables++;
	CHECK_EQ(pgtable_check(&pt), -MM_EUCLEAN);
	CHECK_REPORTED("count does not match");
	pt.tables--;
	teardown();
}
