/*
 * mm/ept.c — the Intel EPT format (pgtable_ept): portable attributes and software states as EPT
 * entry bits (mm/ept.h). Pure functions of one entry; no state, no locks. The walk itself is
 * mm/pgtable.c.
 *
 * Mapping of portable attributes:
 *   PT_R/W/X  bits 0/1/2 (W without R rejected: misconfiguration; X alone = execute-only)
 *   memtype   bits 5:3 (UC 0, WC 1, WT 4, WP 5, WB 6)      PT_IPAT  bit 6
 *   PT_A/D    bits 8/9 (meaningful when EPTP enables A/D)  PT_U, PT_G  rejected (x86 only)
 * Table entries are R|W|X (the leaf decides).
 */
#include "mm/pgtable.h"
#include "mm/ept.h"

static bool ept_is_present(uint64_t e)
{
	return e & EPT_RWX;
}

static bool ept_is_leaf(uint64_t e, unsigned level)
{
	return level == 0 || (e & EPT_LARGE);
}

static uint64_t ept_make_table(phys_addr_t table)
{
	return (table & EPT_ADDR_MASK) | EPT_RWX;
}

static phys_addr_t ept_table_addr(uint64_t e)
{
	return e & EPT_ADDR_MASK;
}

static uint64_t leaf_addr_mask(unsigned level)
{
	return EPT_ADDR_MASK & ~(PT_LEVEL_SIZE(level) - 1);
}

static const uint8_t ept_mt_of[PT_MT_COUNT] = {
	[PT_MT_WB] = EPT_MT_WB, [PT_MT_WT] = EPT_MT_WT, [PT_MT_WC] = EPT_MT_WC,
	[PT_MT_WP] = EPT_MT_WP, [PT_MT_UC] = EPT_MT_UC,
};

/* Reserved encodings (2, 3, 7) never come from make_leaf; they read back as UC. */
static const uint8_t memtype_of[8] = {
	PT_MT_UC, PT_MT_WC, PT_MT_UC, PT_MT_UC, PT_MT_WT, PT_MT_WP, PT_MT_WB, PT_MT_UC,
};

static uint64_t ept_make_leaf(phys_addr_t pa, unsigned level, const struct pgtable_attr *a)
{
	uint64_t e = (pa & leaf_addr_mask(level)) | ((uint64_t)ept_mt_of[a->memtype] << EPT_MT_SHIFT);

	if (a->flags & PT_R)
		e |= EPT_R;
	if (a->flags & PT_W)
		e |= EPT_W;
	if (a->flags & PT_X)
		e |= EPT_X;
	if (a->flags & PT_IPAT)
		e |= EPT_IPAT;
	if (a->flags & PT_A)
		e |= EPT_A;
	if (a->flags & PT_D)
		e |= EPT_D;
	if (level)
		e |= EPT_LARGE;
	return e;
}

static phys_addr_t ept_leaf_addr(uint64_t e, unsigned level)
{
	return e & leaf_addr_mask(level);
}

static void ept_leaf_attr(uint64_t e, unsigned level, struct pgtable_attr *a)
{
	(void)level;
	a->flags = ((e & EPT_R) ? PT_R : 0) | ((e & EPT_W) ? PT_W : 0) | ((e & EPT_X) ? PT_X : 0) |
		   ((e & EPT_IPAT) ? PT_IPAT : 0) | ((e & EPT_A) ? PT_A : 0) |
		   ((e & EPT_D) ? PT_D : 0);
	a->memtype = memtype_of[(e & EPT_MT_MASK) >> EPT_MT_SHIFT];
}

static const char *ept_check_attr(const struct pgtable_attr *a)
{
	if (a->flags & (PT_U | PT_G))
		return "user (PT_U) and global (PT_G) are x86 attributes, not EPT";
	if ((a->flags & PT_W) && !(a->flags & PT_R))
		return "EPT write without read is a misconfiguration";
	if (!(a->flags & (PT_R | PT_X)))
		return "no access rights (R, W or X): use pgtable_unmap";
	return NULL;
}

static uint64_t ept_make_state(enum pt_state state, uint64_t slot)
{
	uint64_t e = (uint64_t)pt_state_code(state) << EPT_SW_STATE_SHIFT;

	if (state == PT_STATE_SWAP)
		e |= (slot << EPT_SW_SLOT_SHIFT) & EPT_SW_SLOT_MASK;
	return e;
}

static enum pt_state ept_state(uint64_t e, uint64_t *slot)
{
	enum pt_state st = pt_code_state((unsigned)((e & EPT_SW_STATE_MASK) >> EPT_SW_STATE_SHIFT));

	*slot = st == PT_STATE_SWAP ? (e & EPT_SW_SLOT_MASK) >> EPT_SW_SLOT_SHIFT : 0;
	return st;
}

const struct pgtable_format pgtable_ept = {
	.name = "EPT",
	.levels = 4,
	.leaf_levels = 0x7,
	.pa_bits = EPT_MAXPHYADDR,
	.canonical = false,
	.is_present = ept_is_present,
	.is_leaf = ept_is_leaf,
	.make_table = ept_make_table,
	.table_addr = ept_table_addr,
	.make_leaf = ept_make_leaf,
	.leaf_addr = ept_leaf_addr,
	.leaf_attr = ept_leaf_attr,
	.check_attr = ept_check_attr,
	.make_state = ept_make_state,
	.state = ept_state,
};
