/*
 * Unit tests for the two stage-2 formats behind the generic walker: Intel EPT (SDM Vol. 3C
 * §29.3) and ARM64 VMSAv8-64 stage 2 with a 4 KiB granule (Arm ARM D8.3). Bit positions are
 * checked against the manuals' numbers, then the same walker operations are run on both.
 *
 * Diagrams: address ranges left to right; |====| a mapping, |~~~~| a software state.
 */
#include <mm/pgtable.h>
#include <mm/ept.h>
#include <mm/s2_arm64.h>
#include <mm/env.h>

#include "mvtest.h"
#include "pgtable_testmem.h"

#define K4 PT_SIZE_4K
#define M2 PT_SIZE_2M
#define G1 PT_SIZE_1G
#define RW (PT_R | PT_W)
#define RWX (PT_R | PT_W | PT_X)
#define BIT(n) (UINT64_C(1) << (n))

static struct ptmem mem;
static struct pgtable pt;

static void setup(const struct pgtable_format *f)
{
	ptfix_setup(&mem, &pt, f);
}

static void teardown(void)
{
	ptfix_teardown(&mem, &pt);
}

static struct pgtable_info tr(uint64_t addr)
{
	return ptfix_translate(&pt, addr);
}

static int map(uint64_t addr, phys_addr_t pa, uint64_t len, uint64_t size, uint32_t flags,
	       uint32_t mt)
{
	struct pgtable_attr a = pt_attr(flags, mt);

	return pgtable_map(&pt, addr, pa, len, size, &a, 0, NULL);
}

/* The entry that maps addr (a leaf or state entry), found by hand through the format. */
static uint64_t *entry_ptr(uint64_t addr)
{
	const struct pgtable_format *f = pt.fmt;
	uint64_t *t = ptmem_virt(&mem, pt.root);

	for (unsigned level = f->levels - 1;; level--) {
		uint64_t *p = &t[(addr >> PT_LEVEL_SHIFT(level)) & (PT_ENTRIES - 1)];

		if (level == 0 || !f->is_present(*p) || f->is_leaf(*p, level))
			return p;
		t = ptmem_virt(&mem, f->table_addr(*p));
	}
}

#define CHECK_MAPPED(addr, level_, pa_, flags_, mt_) \
	do { \
		struct pgtable_info i_ = tr(addr); \
		CHECK_EQ(i_.state, PT_STATE_MAPPED); \
		CHECK_EQ(i_.level, (level_)); \
		CHECK_EQ_U(i_.pa, (pa_)); \
		CHECK_EQ_U(i_.attr.flags, (flags_)); \
		CHECK_EQ(i_.attr.memtype, (mt_)); \
	} while (0)

/* ---- EPT: error cases ------------------------------------------------------------------- */

TEST(ept_rejects_write_without_read)
{
	struct pgtable_attr wx = pt_attr(PT_W | PT_X, PT_MT_WB);

	setup(&pgtable_ept);
	CHECK_EQ(map(0, 0, K4, K4, PT_W, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("EPT write without read is a misconfiguration");
	CHECK_EQ(pgtable_map(&pt, 0, 0, M2, M2, &wx, 0, NULL), -MM_EINVAL);
	CHECK_REPORTED("write without read");
	CHECK_EQ(map(0, 0, K4, K4, RW, PT_MT_WB), 0);
	CHECK_EQ(pgtable_protect(&pt, 0, K4, &wx, NULL), -MM_EINVAL);
	CHECK_REPORTED("write without read");
	CHECK_EQ(tr(0).attr.flags, RW);
	teardown();
}

TEST(ept_rejects_x86_only_and_empty_attributes)
{
	setup(&pgtable_ept);
	CHECK_EQ(map(0, 0, K4, K4, PT_R | PT_U, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("x86 attributes, not EPT");
	CHECK_EQ(map(0, 0, K4, K4, PT_R | PT_G, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("x86 attributes, not EPT");
	CHECK_EQ(map(0, 0, K4, K4, 0, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("no access rights");
	CHECK_EQ(map(0, 0, K4, K4, PT_A | PT_D, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("no access rights");
	CHECK_EQ_U(mem.outstanding, 1);
	teardown();
}

TEST(ept_rejects_addresses_beyond_limits)
{
	setup(&pgtable_ept);
	/* Guest-physical input: 48 bits with a 4-level EPT; no canonical form. */
	CHECK_EQ(map(BIT(48), 0, K4, K4, RW, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("beyond the format's input-address range");
	CHECK_EQ(map(BIT(48) - K4, 0, 2 * K4, K4, RW, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("range ends beyond");
	/* Host-physical output: MAXPHYADDR 52. */
	CHECK_EQ(map(0, BIT(52), K4, K4, RW, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("physical address beyond");
	CHECK_EQ(map(0, BIT(52) - M2, 2 * M2, M2, RW, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("physical address beyond");
	/* The top of both spaces is usable; an x86-style "upper half" address is not canonical. */
	CHECK_EQ(map(BIT(48) - G1, BIT(52) - G1, G1, G1, RW, PT_MT_WB), 0);
	CHECK_MAPPED(BIT(48) - 1, 2, BIT(52) - 1, RW, PT_MT_WB);
	CHECK_EQ(map(UINT64_C(0xffff800000000000), 0, K4, K4, RW, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("beyond the format's input-address range");
	teardown();
}

/* ---- EPT: encodings (SDM Vol. 3C, Tables 29-1 .. 29-6) ------------------------------------ */

TEST(ept_bit_positions_match_sdm)
{
	CHECK_EQ_U(EPT_R, BIT(0));
	CHECK_EQ_U(EPT_W, BIT(1));
	CHECK_EQ_U(EPT_X, BIT(2));
	CHECK_EQ_U(EPT_MT_MASK, BIT(3) | BIT(4) | BIT(5));
	CHECK_EQ_U(EPT_IPAT, BIT(6));
	CHECK_EQ_U(EPT_LARGE, BIT(7));
	CHECK_EQ_U(EPT_A, BIT(8));
	CHECK_EQ_U(EPT_D, BIT(9));
	CHECK_EQ(EPT_MT_UC, 0);
	CHECK_EQ(EPT_MT_WC, 1);
	CHECK_EQ(EPT_MT_WT, 4);
	CHECK_EQ(EPT_MT_WP, 5);
	CHECK_EQ(EPT_MT_WB, 6);
	CHECK_EQ_U(EPT_ADDR_MASK, UINT64_C(0x000ffffffffff000));
	CHECK_EQ_U(EPT_SW_STATE_MASK, BIT(3) | BIT(4));
	CHECK_EQ(pgtable_ept.pa_bits, 52);
}

TEST(ept_leaf_encoding_per_level)
{
	static const struct { uint32_t mt; uint64_t bits; } mts[] = {
		{ PT_MT_UC, 0 }, { PT_MT_WC, 1 }, { PT_MT_WT, 4 }, { PT_MT_WP, 5 }, { PT_MT_WB, 6 },
	};
	const struct pgtable_format *f = &pgtable_ept;
	struct pgtable_attr back;

	CHECK_EQ_U(f->make_table(UINT64_C(0xabcdef000)), UINT64_C(0xabcdef000) | 0x7);
	for (unsigned level = 0; level < 3; level++) {
		phys_addr_t pa = UINT64_C(0x000f000000000000) + 5 * PT_LEVEL_SIZE(level);

		for (unsigned m = 0; m < MM_ARRAY_SIZE(mts); m++) {
			struct pgtable_attr a = pt_attr(RWX | PT_IPAT | PT_A | PT_D, mts[m].mt);
			uint64_t want = pa | 0x7 | (mts[m].bits << 3) | BIT(6) | BIT(8) | BIT(9) |
					(level ? BIT(7) : 0);
			uint64_t e = f->make_leaf(pa, level, &a);

			CHECK_EQ_U(e, want);
			CHECK(f->is_present(e));
			CHECK(f->is_leaf(e, level));
			CHECK_EQ_U(f->leaf_addr(e, level), pa);
			f->leaf_attr(e, level, &back);
			CHECK_EQ_U(back.flags, a.flags);
			CHECK_EQ(back.memtype, a.memtype);
		}
	}
	/* Only what was asked for: read-only, no IPAT/A/D, WB. */
	CHECK_EQ_U(f->make_leaf(0x5000, 0, &(struct pgtable_attr){ PT_R, PT_MT_WB }),
		   0x5000 | BIT(0) | (UINT64_C(6) << 3));
	CHECK(!f->is_leaf(f->make_table(0x5000), 1));
}

TEST(ept_execute_only_mapping)
{
	setup(&pgtable_ept);
	CHECK_EQ(map(0, 0x7000, K4, K4, PT_X, PT_MT_WB), 0);
	CHECK_EQ_U(tr(0).raw & EPT_RWX, EPT_X);
	CHECK_MAPPED(0x10, 0, 0x7010, PT_X, PT_MT_WB);
	teardown();
}

TEST(ept_software_state_keeps_rwx_clear)
{
	const struct pgtable_format *f = &pgtable_ept;
	uint64_t e, slot;

	e = f->make_state(PT_STATE_SWAP, UINT64_C(0xfedcba9876));
	CHECK_EQ_U(e & EPT_RWX, 0);                  /* not present to the CPU */
	CHECK_EQ_U(e & BIT(10), 0);                  /* nor with mode-based execute control */
	CHECK_EQ_U(e & BIT(63), 0);
	CHECK_EQ_U((e >> 3) & 3, PT_SW_CODE_SWAP);
	CHECK_EQ_U(e >> 12, UINT64_C(0xfedcba9876));
	CHECK(!f->is_present(e));
	CHECK_EQ(f->state(e, &slot), PT_STATE_SWAP);
	CHECK_EQ_U(slot, UINT64_C(0xfedcba9876));
	CHECK_EQ_U(f->make_state(PT_STATE_BALLOONED, 1), 2u << 3);
	CHECK_EQ_U(f->make_state(PT_STATE_DISCARDED, 1), 3u << 3);

	setup(f);
	CHECK_EQ(pgtable_set_state(&pt, M2, M2, M2, PT_STATE_SWAP, 77, NULL), 0);
	CHECK_EQ_U(tr(M2).raw, f->make_state(PT_STATE_SWAP, 77));
	CHECK_EQ_U(tr(M2 + 3 * K4).slot, 80);
	teardown();
}

/*
 * before:  0                                              1G
 *          |========= 1G leaf RX, WT, IPAT, A, D ==========|
 * unmap 4K at 4K:
 * after:   |=| |== 4K x 510 ==|========= 2M x 511 =========|   all RX WT IPAT A D
 *            ^ hole
 */
TEST(ept_split_preserves_memtype_ipat_ad)
{
	uint32_t flags = PT_R | PT_X | PT_IPAT | PT_A | PT_D;
	struct pgtable_flush fl = { 0 };

	setup(&pgtable_ept);
	CHECK_EQ(map(0, 0x40000000, G1, G1, flags, PT_MT_WT), 0);
	CHECK_EQ(pgtable_unmap(&pt, K4, K4, &fl), 0);
	CHECK_MAPPED(0, 0, 0x40000000, flags, PT_MT_WT);
	CHECK_EQ(tr(K4).state, PT_STATE_NONE);
	CHECK_MAPPED(2 * K4, 0, 0x40002000, flags, PT_MT_WT);
	CHECK_MAPPED(M2, 1, 0x40200000, flags, PT_MT_WT);
	CHECK_EQ_U(tr(2 * K4).raw & ~EPT_ADDR_MASK,
		   EPT_R | EPT_X | ((uint64_t)EPT_MT_WT << 3) | EPT_IPAT | EPT_A | EPT_D);
	CHECK_EQ_U(tr(M2).raw & EPT_LARGE, EPT_LARGE);
	CHECK_EQ_U(fl.changed, 1);
	teardown();
}

TEST(eptp_layout)
{
	/* EPTP: bits 2:0 memory type (6 = WB), 5:3 page-walk length - 1, bit 6 A/D enable. */
	CHECK_EQ_U(ept_eptp(0x123456000, true), 0x123456000 | 6 | (3 << 3) | BIT(6));
	CHECK_EQ_U(ept_eptp(0x123456000, false), 0x123456000 | 6 | (3 << 3));
}

/* ---- ARM64 stage 2: error cases ---------------------------------------------------------- */

TEST(arm64_rejects_inexpressible_attributes)
{
	setup(&pgtable_arm64_s2);
	CHECK_EQ(map(0, 0, K4, K4, RW, PT_MT_WP), -MM_EINVAL);
	CHECK_REPORTED("write-protect memory type has no ARM64 stage-2 encoding");
	CHECK_EQ(map(0, 0, K4, K4, PT_R | PT_D, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("dirty without write");
	CHECK_EQ(map(0, 0, K4, K4, PT_R | PT_U, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("no ARM64 stage-2 encoding");
	CHECK_EQ(map(0, 0, K4, K4, PT_R | PT_IPAT, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("no ARM64 stage-2 encoding");
	CHECK_EQ(map(0, 0, K4, K4, PT_A, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("no access rights");
	CHECK_EQ_U(mem.outstanding, 1);
	teardown();
}

TEST(arm64_rejects_pa_beyond_48_bits)
{
	setup(&pgtable_arm64_s2);
	CHECK_EQ(map(0, BIT(48), K4, K4, RW, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("physical address beyond");
	CHECK_EQ(map(0, BIT(48) - K4, 2 * K4, K4, RW, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("physical address beyond");
	CHECK_EQ(map(BIT(48), 0, K4, K4, RW, PT_MT_WB), -MM_EINVAL);
	CHECK_REPORTED("input-address range");
	CHECK_EQ(map(0, BIT(48) - M2, M2, M2, RW, PT_MT_WB), 0);
	CHECK_MAPPED(M2 - 1, 1, BIT(48) - 1, RW, PT_MT_WB);
	teardown();
}

/* ---- ARM64 stage 2: encodings (Arm ARM D8.3) --------------------------------------------- */

TEST(arm64_bit_positions_match_arm_arm)
{
	CHECK_EQ_U(S2_VALID, BIT(0));
	CHECK_EQ_U(S2_TABLE, BIT(1));
	CHECK_EQ_U(S2_PAGE, BIT(1));
	CHECK_EQ_U(S2_MEMATTR_MASK, BIT(2) | BIT(3) | BIT(4) | BIT(5));
	CHECK_EQ_U(S2AP_MASK, BIT(6) | BIT(7));
	CHECK_EQ_U(S2AP_R, BIT(6));
	CHECK_EQ_U(S2AP_W, BIT(7));
	CHECK_EQ_U(S2_SH_MASK, BIT(8) | BIT(9));
	CHECK_EQ_U(S2_AF, BIT(10));
	CHECK_EQ_U(S2_DBM, BIT(51));
	CHECK_EQ_U(S2_XN_MASK, BIT(53) | BIT(54));
	CHECK_EQ_U(S2_XN, BIT(54));
	CHECK_EQ_U(S2_ADDR_MASK, UINT64_C(0x0000fffffffff000));
	CHECK_EQ_U(S2_SW_STATE_MASK, BIT(1) | BIT(2));
	CHECK_EQ(pgtable_arm64_s2.pa_bits, 48);
}

TEST(arm64_page_block_table_descriptors)
{
	const struct pgtable_format *f = &pgtable_arm64_s2;
	struct pgtable_attr a = pt_attr(PT_R | PT_X | PT_A, PT_MT_WB);
	uint64_t page = f->make_leaf(UINT64_C(0x123456789000), 0, &a);
	uint64_t blk2m = f->make_leaf(UINT64_C(0x123456600000), 1, &a);
	uint64_t blk1g = f->make_leaf(UINT64_C(0x123440000000), 2, &a);
	uint64_t table = f->make_table(UINT64_C(0xfedcba987000));

	CHECK_EQ_U(page & 3, 3);    /* page descriptor: bits 1:0 = 11 at lookup level 3 */
	CHECK_EQ_U(blk2m & 3, 1);   /* block descriptor: bits 1:0 = 01 */
	CHECK_EQ_U(blk1g & 3, 1);
	CHECK_EQ_U(table, UINT64_C(0xfedcba987000) | 3);
	CHECK(f->is_leaf(page, 0));
	CHECK(!f->is_leaf(page & ~S2_PAGE, 0));     /* 01 at level 3 is reserved */
	CHECK(f->is_leaf(blk2m, 1));
	CHECK(!f->is_leaf(table, 1));
	CHECK_EQ_U(f->leaf_addr(page, 0), UINT64_C(0x123456789000));
	CHECK_EQ_U(f->leaf_addr(blk2m, 1), UINT64_C(0x123456600000));
	CHECK_EQ_U(f->leaf_addr(blk1g, 2), UINT64_C(0x123440000000));
	CHECK_EQ_U(f->table_addr(table), UINT64_C(0xfedcba987000));
	/* Everything besides address and type: MemAttr WB, S2AP read-only, ISH, AF, executable. */
	CHECK_EQ_U(page & ~S2_ADDR_MASK & ~UINT64_C(3),
		   (UINT64_C(0xf) << 2) | BIT(6) | (UINT64_C(3) << 8) | BIT(10));
}

TEST(arm64_attribute_encoding)
{
	static const struct { uint32_t mt; uint64_t memattr; } mts[] = {
		{ PT_MT_WB, 0xf }, { PT_MT_WT, 0xa }, { PT_MT_WC, 0x5 }, { PT_MT_UC, 0x1 },
	};
	static const struct { uint32_t flags; uint64_t s2ap, dbm, xn, af; } perms[] = {
		{ PT_R,               1, 0, 2, 0 },
		{ PT_R | PT_X,        1, 0, 0, 0 },
		{ RW | PT_A,          1, 1, 2, 1 },     /* writable-clean: S2AP = RO + DBM */
		{ RW | PT_D,          3, 1, 2, 0 },     /* dirty: S2AP = RW */
		{ PT_W | PT_D,        2, 1, 2, 0 },     /* write-only is legal on ARM64 */
		{ PT_X,               0, 0, 0, 0 },     /* execute-only */
	};
	const struct pgtable_format *f = &pgtable_arm64_s2;
	struct pgtable_attr back;

	for (unsigned m = 0; m < MM_ARRAY_SIZE(mts); m++) {
		for (unsigned p = 0; p < MM_ARRAY_SIZE(perms); p++) {
			struct pgtable_attr a = pt_attr(perms[p].flags, mts[m].mt);
			uint64_t e = f->make_leaf(0, 1, &a);

			CHECK_EQ_U((e >> 2) & 0xf, mts[m].memattr);
			CHECK_EQ_U((e >> 6) & 3, perms[p].s2ap);
			CHECK_EQ_U((e >> 8) & 3, 3);    /* inner shareable */
			CHECK_EQ_U((e >> 10) & 1, perms[p].af);
			CHECK_EQ_U((e >> 51) & 1, perms[p].dbm);
			CHECK_EQ_U((e >> 53) & 3, perms[p].xn);
			f->leaf_attr(e, 1, &back);
			CHECK_EQ_U(back.flags, a.flags);
			CHECK_EQ(back.memtype, a.memtype);
		}
	}
}

static int count_visit(void *arg, const struct pgtable_info *info)
{
	(void)info;
	(*(unsigned *)arg)++;
	return 0;
}

/*
 * The DBM scheme: a writable-clean page has S2AP[1] = 0 and DBM = 1; the hardware sets S2AP[1]
 * on the first write (simulated here by setting bit 7 by hand). Clearing D write-cleans it
 * again; making it read-only drops DBM and with it the dirty state.
 */
TEST(arm64_dirty_is_dbm_write_clean)
{
	struct pgtable_attr ro = pt_attr(PT_R, PT_MT_WB);
	struct pgtable_flush fl = { 0 };
	unsigned visits = 0;
	uint64_t *e;

	setup(&pgtable_arm64_s2);
	CHECK_EQ(map(0, 0x9000, K4, K4, RW | PT_A, PT_MT_WB), 0);
	e = entry_ptr(0);
	CHECK_EQ_U(*e & (S2AP_W | S2_DBM), S2_DBM);
	CHECK_EQ_U(tr(0).attr.flags, RW | PT_A);
	*e |= S2AP_W;                               /* the guest wrote to it */
	CHECK_EQ_U(tr(0).attr.flags, RW | PT_A | PT_D);
	CHECK_EQ(pgtable_walk(&pt, 0, K4, PT_WALK_CLEAR_D, count_visit, &visits, &fl), 0);
	CHECK_EQ(visits, 1);
	CHECK_EQ_U(fl.changed, 1);
	CHECK_EQ_U(*e & (S2AP_W | S2_DBM), S2_DBM);    /* writable-clean again */
	CHECK_EQ_U(tr(0).attr.flags, RW | PT_A);
	*e |= S2AP_W;
	CHECK_EQ(pgtable_protect(&pt, 0, K4, &ro, &fl), 0);
	CHECK_EQ_U(*e & (S2AP_W | S2_DBM | S2AP_R), S2AP_R);
	CHECK_EQ_U(tr(0).attr.flags, PT_R | PT_A);
	teardown();
}

TEST(arm64_software_state_encoding)
{
	const struct pgtable_format *f = &pgtable_arm64_s2;
	uint64_t e, slot;

	e = f->make_state(PT_STATE_SWAP, UINT64_C(0x123456789a));
	CHECK_EQ_U(e & S2_VALID, 0);                /* invalid descriptor: hardware ignores 63:1 */
	CHECK_EQ_U((e >> 1) & 3, PT_SW_CODE_SWAP);
	CHECK_EQ_U(e >> 12, UINT64_C(0x123456789a));
	CHECK_EQ(f->state(e, &slot), PT_STATE_SWAP);
	CHECK_EQ_U(slot, UINT64_C(0x123456789a));
	CHECK_EQ_U(f->make_state(PT_STATE_BALLOONED, 5), 2u << 1);
	CHECK_EQ_U(f->make_state(PT_STATE_DISCARDED, 5), 3u << 1);
	CHECK_EQ(f->state(3u << 1, &slot), PT_STATE_DISCARDED);
	CHECK_EQ(f->state(1u << 5, &slot), PT_STATE_NONE);
}

/*
 * before:  0                     2M                                   1G
 *          |=== 2M block, RW ===|~~~~~~~~ 1G.. ballooned 2M x 511 ~~~~|   (1G block at 1G)
 * unmap 4K at 4K; map 4K at 2M + 4K over the balloon; unmap 4K at 1G + 4K:
 * after:   |=| |= page x 510 =|~|=|~ page x 510 ~|~~~~ 2M x 510 ~~~~~|
 *          and 1G: |=| |= page x 510 =|== 2M block x 511 ==|
 * Pages get descriptor type 11, blocks stay 01, attributes are unchanged.
 */
TEST(arm64_split_block_into_pages)
{
	uint32_t flags = RW | PT_A | PT_D;

	setup(&pgtable_arm64_s2);
	CHECK_EQ(map(0, 0x40000000, M2, M2, flags, PT_MT_WC), 0);
	CHECK_EQ(pgtable_set_state(&pt, M2, G1 - M2, M2, PT_STATE_BALLOONED, 0, NULL), 0);
	CHECK_EQ(map(G1, 0x80000000, G1, G1, PT_R | PT_X, PT_MT_WB), 0);
	CHECK_EQ(pgtable_unmap(&pt, K4, K4, NULL), 0);
	CHECK_EQ(map(M2 + K4, 0x1000, K4, K4, RW, PT_MT_UC), 0);
	CHECK_EQ(pgtable_unmap(&pt, G1 + K4, K4, NULL), 0);

	CHECK_MAPPED(0, 0, 0x40000000, flags, PT_MT_WC);
	CHECK_EQ_U(tr(0).raw & 3, 3);
	CHECK_EQ(tr(K4).state, PT_STATE_NONE);
	CHECK_MAPPED(M2 - K4, 0, 0x401ff000, flags, PT_MT_WC);
	CHECK_EQ(tr(M2).state, PT_STATE_BALLOONED);
	CHECK_EQ(tr(M2).level, 0);
	CHECK_MAPPED(M2 + K4, 0, 0x1000, RW, PT_MT_UC);
	CHECK_EQ(tr(2 * M2).state, PT_STATE_BALLOONED);
	CHECK_EQ(tr(2 * M2).level, 1);
	CHECK_MAPPED(G1, 0, 0x80000000, PT_R | PT_X, PT_MT_WB);
	CHECK_EQ_U(tr(G1).raw & 3, 3);
	CHECK_MAPPED(G1 + M2, 1, 0x80200000, PT_R | PT_X, PT_MT_WB);
	CHECK_EQ_U(tr(G1 + M2).raw & 3, 1);
	teardown();
}

/* ---- one walker, two stage-2 formats ------------------------------------------------------ */

/*
 * The same sequence of operations on EPT and on ARM64 stage 2 gives the same translations for
 * every page (attributes both formats can express).
 */
TEST(stage2_formats_agree_on_same_operations)
{
	static const uint64_t probes[] = {
		0, K4, 2 * K4, M2 - K4, M2, M2 + K4, 3 * M2, G1, G1 + K4, G1 + M2, 2 * G1 - K4,
		2 * G1, 2 * G1 + 5 * K4, 3 * G1 - K4,
	};
	struct pgtable_info want[MM_ARRAY_SIZE(probes)];
	const struct pgtable_format *fmts[2] = { &pgtable_ept, &pgtable_arm64_s2 };
	struct pgtable_attr ro = pt_attr(PT_R, PT_MT_WT);

	for (unsigned k = 0; k < 2; k++) {
		setup(fmts[k]);
		CHECK_EQ(map(0, 0x100000000, 4 * M2, M2, RW | PT_A, PT_MT_WB), 0);
		CHECK_EQ(map(G1, 0x200000000, G1, G1, PT_R | PT_X, PT_MT_UC), 0);
		CHECK_EQ(pgtable_set_state(&pt, 2 * G1, G1, M2, PT_STATE_SWAP, 4096, NULL), 0);
		CHECK_EQ(pgtable_protect(&pt, K4, M2, &ro, NULL), 0);
		CHECK_EQ(pgtable_unmap(&pt, G1 + K4, K4, NULL), 0);
		CHECK_EQ(pgtable_set_state(&pt, 2 * G1 + 4 * K4, K4, K4, PT_STATE_DISCARDED, 0, NULL),
			 0);
		CHECK_EQ(pgtable_check(&pt), (long)pt.tables);
		for (unsigned i = 0; i < MM_ARRAY_SIZE(probes); i++) {
			struct pgtable_info got = tr(probes[i]);

			if (k == 0) {
				want[i] = got;
				continue;
			}
			CHECK_EQ(got.state, want[i].state);
			CHECK_EQ(got.level, want[i].level);
			CHECK_EQ_U(got.pa, want[i].pa);
			CHECK_EQ_U(got.slot, want[i].slot);
			CHECK_EQ_U(got.attr.flags, want[i].attr.flags);
			CHECK_EQ(got.attr.memtype, want[i].attr.memtype);
		}
		teardown();
	}
	CHECK_EQ(want[1].attr.flags, PT_R | PT_A);
	CHECK_EQ_U(want[12].slot, 4096 + 5);
	CHECK_EQ_U(want[13].slot, 4096 + G1 / K4 - 1);
}
