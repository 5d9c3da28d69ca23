/*
 * mm/pgtable_x86.c — the x86-64 4-level paging format (pgtable_x86_64): how portable attributes
 * and software states become PTE bits (mm/pte_x86.h). Pure functions of one entry; no state, no
 * locks. The walk itself is mm/pgtable.c.
 *
 * Mapping of portable attributes:
 *   PT_R  required (x86 cannot map a page that is not readable)
 *   PT_W  RW        PT_U  US        PT_G  G        PT_X  !NX
 *   PT_A  A         PT_D  D         memtype  PAT index via PAT:PCD:PWT (X86_PAT_MSR_VALUE)
 * Table entries are P|RW|US (the leaf decides). UC- (PAT 2, 6) is reported as UC.
 */
#include "mm/pgtable.h"
#include "mm/pte_x86.h"

static bool x86_is_present(uint64_t e)
{
	return e & X86_PTE_P;
}

static bool x86_is_leaf(uint64_t e, unsigned level)
{
	return level == 0 || (e & X86_PTE_PS);
}

static uint64_t x86_make_table(phys_addr_t table)
{
	return (table & X86_PTE_ADDR_MASK) | X86_PTE_P | X86_PTE_RW | X86_PTE_US;
}

static phys_addr_t x86_table_addr(uint64_t e)
{
	return e & X86_PTE_ADDR_MASK;
}

/* Address bits of a leaf: 51:12, 51:21 or 51:30 (in a large leaf bit 12 is PAT). */
static uint64_t leaf_addr_mask(unsigned level)
{
	return X86_PTE_ADDR_MASK & ~(PT_LEVEL_SIZE(level) - 1);
}

static uint64_t pat_bit(unsigned level)
{
	return level ? X86_PTE_PAT_LARGE : X86_PTE_PAT;
}

static const uint8_t pat_index_of[PT_MT_COUNT] = {
	[PT_MT_WB] = X86_PAT_IDX_WB, [PT_MT_WT] = X86_PAT_IDX_WT, [PT_MT_WC] = X86_PAT_IDX_WC,
	[PT_MT_WP] = X86_PAT_IDX_WP, [PT_MT_UC] = X86_PAT_IDX_UC,
};

/* Index 0..7 = PAT:PCD:PWT, for IA32_PAT = X86_PAT_MSR_VALUE. */
static const uint8_t memtype_of[8] = {
	PT_MT_WB, PT_MT_WC, PT_MT_UC, PT_MT_UC, PT_MT_WB, PT_MT_WP, PT_MT_UC, PT_MT_WT,
};

static uint64_t x86_make_leaf(phys_addr_t pa, unsigned level, const struct pgtable_attr *a)
{
	unsigned idx = pat_index_of[a->memtype];
	uint64_t e = (pa & leaf_addr_mask(level)) | X86_PTE_P;

	if (a->flags & PT_W)
		e |= X86_PTE_RW;
	if (a->flags & PT_U)
		e |= X86_PTE_US;
	if (a->flags & PT_G)
		e |= X86_PTE_G;
	if (!(a->flags & PT_X))
		e |= X86_PTE_NX;
	if (a->flags & PT_A)
		e |= X86_PTE_A;
	if (a->flags & PT_D)
		e |= X86_PTE_D;
	if (idx & 1)
		e |= X86_PTE_PWT;
	if (idx & 2)
		e |= X86_PTE_PCD;
	if (idx & 4)
		e |= pat_bit(level);
	if (level)
		e |= X86_PTE_PS;
	return e;
}

static phys_addr_t x86_leaf_addr(uint64_t e, unsigned level)
{
	return e & leaf_addr_mask(level);
}

static void x86_leaf_attr(uint64_t e, unsigned level, struct pgtable_attr *a)
{
	unsigned idx = ((e & X86_PTE_PWT) ? 1u : 0) | ((e & X86_PTE_PCD) ? 2u : 0) |
		       ((e & pat_bit(level)) ? 4u : 0);

	a->flags = PT_R | ((e & X86_PTE_RW) ? PT_W : 0) | ((e & X86_PTE_US) ? PT_U : 0) |
		   ((e & X86_PTE_G) ? PT_G : 0) | ((e & X86_PTE_NX) ? 0 : PT_X) |
		   ((e & X86_PTE_A) ? PT_A : 0) | ((e & X86_PTE_D) ? PT_D : 0);
	a->memtype = memtype_of[idx];
}

static const char *x86_check_attr(const struct pgtable_attr *a)
{
	if (!(a->flags & PT_R))
		return "x86 mappings are always readable: PT_R is required";
	if (a->flags & PT_IPAT)
		return "ignore-PAT (PT_IPAT) is an EPT attribute, not x86";
	return NULL;
}

static uint64_t x86_make_state(enum pt_state state, uint64_t slot)
{
	uint64_t e = (uint64_t)pt_state_code(state) << X86_PTE_SW_STATE_SHIFT;

	if (state == PT_STATE_SWAP)
		e |= (~slot << X86_PTE_SW_SLOT_SHIFT) & X86_PTE_SW_SLOT_MASK;
	return e;
}

static enum pt_state x86_state(uint64_t e, uint64_t *slot)
{
	enum pt_state st = pt_code_state((unsigned)((e & X86_PTE_SW_STATE_MASK) >>
						   X86_PTE_SW_STATE_SHIFT));

	*slot = st == PT_STATE_SWAP ? (~e & X86_PTE_SW_SLOT_MASK) >> X86_PTE_SW_SLOT_SHIFT : 0;
	return st;
}

const struct pgtable_format pgtable_x86_64 = {
	.name = "x86-64",
	.levels = 4,
	.leaf_levels = 0x7,         /* 4 KiB, 2 MiB, 1 GiB (1 GiB needs CPUID pdpe1gb) */
	.pa_bits = X86_MAXPHYADDR,
	.canonical = true,
	.is_present = x86_is_present,
	.is_leaf = x86_is_leaf,
	.make_table = x86_make_table,
	.table_addr = x86_table_addr,
	.make_leaf = x86_make_leaf,
	.leaf_addr = x86_leaf_addr,
	.leaf_attr = x86_leaf_attr,
	.check_attr = x86_check_attr,
	.make_state = x86_make_state,
	.state = x86_state,
};
