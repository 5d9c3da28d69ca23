/*
 * mm/s2_arm64.c — the ARM64 VMSAv8-64 stage-2 format, 4 KiB granule, 48-bit IPA
 * (pgtable_arm64_s2): portable attributes and software states as descriptor bits
 * (mm/s2_arm64.h). Pure functions of one entry; no state, no locks. The walk is mm/pgtable.c.
 *
 * Mapping of portable attributes:
 *   PT_R      S2AP[0] (bit 6)
 *   PT_W      DBM (bit 51): writable. PT_D then decides S2AP[1] (bit 7): set = dirty, clear =
 *             writable-clean (the hardware sets it on the first write when VTCR_EL2.HD = 1;
 *             without HD the write faults and the VMM marks it dirty by re-mapping with PT_D).
 *             D without W is not expressible (rejected); a mapping made non-writable reads D = 0.
 *   PT_X      XN = 00 (else XN[1], bit 54)      PT_A  AF (bit 10)
 *   memtype   MemAttr: WB 1111, WT 1010, WC -> Normal-NC 0101, UC -> Device-nGnRE 0001; WP
 *             has no encoding (rejected). SH is always inner shareable (Device ignores it).
 *   PT_U, PT_G, PT_IPAT  rejected.
 * Table descriptors are bits 1:0 = 11 plus the address; stage 2 has no hierarchical attributes.
 */
#include "mm/pgtable.h"
#include "mm/s2_arm64.h"

static bool s2_is_present(uint64_t e)
{
	return e & S2_VALID;
}

/* Levels 1 and 2 (ARM lookup levels 2, 1): bit 1 clear = block. Level 0: bit 1 set = page. */
static bool s2_is_leaf(uint64_t e, unsigned level)
{
	return level == 0 ? (e & S2_PAGE) != 0 : !(e & S2_TABLE);
}

static uint64_t s2_make_table(phys_addr_t table)
{
	return (table & S2_ADDR_MASK) | S2_VALID | S2_TABLE;
}

static phys_addr_t s2_table_addr(uint64_t e)
{
	return e & S2_ADDR_MASK;
}

static uint64_t leaf_addr_mask(unsigned level)
{
	return S2_ADDR_MASK & ~(PT_LEVEL_SIZE(level) - 1);
}

static const uint8_t memattr_of[PT_MT_COUNT] = {
	[PT_MT_WB] = S2_MEMATTR_NORMAL_WB, [PT_MT_WT] = S2_MEMATTR_NORMAL_WT,
	[PT_MT_WC] = S2_MEMATTR_NORMAL_NC, [PT_MT_WP] = 0, /* rejected by check_attr */
	[PT_MT_UC] = S2_MEMATTR_DEVICE_nGnRE,
};

static uint64_t s2_make_leaf(phys_addr_t pa, unsigned level, const struct pgtable_attr *a)
{
	uint64_t e = (pa & leaf_addr_mask(level)) | S2_VALID | S2_SH_ISH |
		     ((uint64_t)memattr_of[a->memtype] << S2_MEMATTR_SHIFT);

	if (level == 0)
		e |= S2_PAGE;
	if (a->flags & PT_R)
		e |= S2AP_R;
	if (a->flags & PT_W) {
		e |= S2_DBM;
		if (a->flags & PT_D)
			e |= S2AP_W;
	}
	if (!(a->flags & PT_X))
		e |= S2_XN;
	if (a->flags & PT_A)
		e |= S2_AF;
	return e;
}

static phys_addr_t s2_leaf_addr(uint64_t e, unsigned level)
{
	return e & leaf_addr_mask(level);
}

/* Device memory (MemAttr[3:2] = 00) reads as UC; Normal by its inner cacheability. */
static uint32_t memtype_of(unsigned memattr)
{
	if ((memattr & 0xc) == 0)
		return PT_MT_UC;
	switch (memattr & 3) {
	case 1:
		return PT_MT_WC;
	case 2:
		return PT_MT_WT;
	case 3:
		return PT_MT_WB;
	}
	return PT_MT_UC;
}

static void s2_leaf_attr(uint64_t e, unsigned level, struct pgtable_attr *a)
{
	(void)level;
	a->flags = ((e & S2AP_R) ? PT_R : 0) | ((e & (S2AP_W | S2_DBM)) ? PT_W : 0) |
		   ((e & S2AP_W) ? PT_D : 0) | ((e & S2_XN_MASK) ? 0 : PT_X) |
		   ((e & S2_AF) ? PT_A : 0);
	a->memtype = memtype_of((unsigned)((e & S2_MEMATTR_MASK) >> S2_MEMATTR_SHIFT));
}

static const char *s2_check_attr(const struct pgtable_attr *a)
{
	if (a->flags & (PT_U | PT_G | PT_IPAT))
		return "user, global and ignore-PAT have no ARM64 stage-2 encoding";
	if (a->memtype == PT_MT_WP)
		return "write-protect memory type has no ARM64 stage-2 encoding";
	if ((a->flags & PT_D) && !(a->flags & PT_W))
		return "dirty without write is not expressible in ARM64 stage 2 (DBM)";
	if (!(a->flags & (PT_R | PT_W | PT_X)))
		return "no access rights (R, W or X): use pgtable_unmap";
	return NULL;
}

static uint64_t s2_make_state(enum pt_state state, uint64_t slot)
{
	uint64_t e = (uint64_t)pt_state_code(state) << S2_SW_STATE_SHIFT;

	if (state == PT_STATE_SWAP)
		e |= (slot << S2_SW_SLOT_SHIFT) & S2_SW_SLOT_MASK;
	return e;
}

static enum pt_state s2_state(uint64_t e, uint64_t *slot)
{
	enum pt_state st = pt_code_state((unsigned)((e & S2_SW_STATE_MASK) >> S2_SW_STATE_SHIFT));

	*slot = st == PT_STATE_SWAP ? (e & S2_SW_SLOT_MASK) >> S2_SW_SLOT_SHIFT : 0;
	return st;
}

const struct pgtable_format pgtable_arm64_s2 = {
	.name = "ARM64 stage 2",
	.levels = 4,
	.leaf_levels = 0x7,         /* pages, 2 MiB blocks (lookup level 2), 1 GiB (level 1) */
	.pa_bits = S2_PA_BITS,
	.canonical = false,
	.is_present = s2_is_present,
	.is_leaf = s2_is_leaf,
	.make_table = s2_make_table,
	.table_addr = s2_table_addr,
	.make_leaf = s2_make_leaf,
	.leaf_addr = s2_leaf_addr,
	.leaf_attr = s2_leaf_attr,
	.check_attr = s2_check_attr,
	.make_state = s2_make_state,
	.state = s2_state,
};
