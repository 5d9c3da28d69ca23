/*
 * mm/pgtable.h — multi-level page tables: one generic walker (mm/pgtable.c) over three hardware
 * formats, each described by a small struct pgtable_format:
 *
 *   pgtable_x86_64    x86-64 4-level paging (guest page tables)        mm/pte_x86.h, pgtable_x86.c
 *   pgtable_ept       Intel EPT, 4-level (the VMM's stage-2 table)     mm/ept.h,     ept.c
 *   pgtable_arm64_s2  ARM64 VMSAv8-64 stage 2, 4 KiB granule, 48-bit  mm/s2_arm64.h, s2_arm64.c
 *
 * The walker knows levels, indices and the operation's rules; the format knows the bits. Design,
 * software states and splitting rules: docs/mm-pgtable.md.
 *
 * Addresses. Every call takes an *input address* (`addr`): a guest-virtual address for the x86
 * format (must be canonical), a guest-physical address for EPT and stage 2 (must be below 2^48).
 * Output addresses (`pa`) must be below 2^pa_bits of the format (52 for x86/EPT, 48 for ARM64).
 * Levels count from the leaf: level 0 holds 4 KiB entries, 1 holds 2 MiB, 2 holds 1 GiB, 3 is
 * the root (PML4 / ARM level 0).
 *
 * Table memory. Table pages come from the caller through struct pgtable_mem: alloc() returns the
 * physical address of a zeroed, 4 KiB-aligned page, free() takes one back, and phys_to_virt()
 * turns a table's physical address into a pointer mm/ can use. That is how the same code builds
 * tables in guest memory from the VMM, inside the guest itself, and in the tests.
 *
 * Atomicity. A mutating call is all-or-nothing: it first walks the range without writing
 * (detecting -MM_EEXIST and counting the table pages it will need), then allocates all of them,
 * then applies. On -MM_ENOMEM or -MM_EEXIST the table is exactly as it was. Only after that
 * point can nothing fail.
 *
 * TLB flushing. mm/ has no CPU access and never flushes. Every mutating call accumulates into an
 * optional struct pgtable_flush what the caller must invalidate: see its comment.
 *
 * Concurrency. No lock inside: the caller serialises all calls that modify one table (one
 * writer); pgtable_translate() and a pgtable_walk() without clear flags may run alongside each
 * other but not alongside a writer. Hardware walkers may use the table at any time: every entry
 * is written with one 64-bit store, a new table page is filled completely before the store that
 * links it, and entries the hardware may update (A/D bits) are changed with compare-and-swap.
 * ARM64 additionally needs break-before-make (or FEAT_BBM level 2) when a live block is split:
 * mm/ does not do it, see docs/mm-pgtable.md.
 */
#ifndef MM_PGTABLE_H
#define MM_PGTABLE_H

#include "types.h"

#define PT_LEVEL_BITS 9                             /* index bits per level */
#define PT_ENTRIES    (1u << PT_LEVEL_BITS)          /* 512 eight-byte entries per table page */
#define PT_MAX_LEVELS 4
#define PT_LEVEL_SHIFT(level) (MM_PAGE_SHIFT + PT_LEVEL_BITS * (level))
#define PT_LEVEL_SIZE(level)  (UINT64_C(1) << PT_LEVEL_SHIFT(level))
#define PT_SIZE_4K PT_LEVEL_SIZE(0)
#define PT_SIZE_2M PT_LEVEL_SIZE(1)
#define PT_SIZE_1G PT_LEVEL_SIZE(2)

/*
 * Portable attributes: struct pgtable_attr.flags. Each format maps them onto its bits and
 * rejects (-MM_EINVAL, with a report) what it cannot express.
 */
#define PT_R    (1u << 0)   /* readable. x86: always (required); ARM64: S2AP[0] */
#define PT_W    (1u << 1)   /* writable. EPT: needs PT_R (W without R is a misconfiguration) */
#define PT_X    (1u << 2)   /* executable (x86 NX, ARM64 XN are the inverse) */
#define PT_U    (1u << 3)   /* x86 only: user-accessible (U/S) */
#define PT_G    (1u << 4)   /* x86 only: global */
#define PT_IPAT (1u << 5)   /* EPT only: ignore guest PAT */
#define PT_A    (1u << 6)   /* accessed (x86 A, EPT bit 8, ARM64 AF) */
#define PT_D    (1u << 7)   /* dirty (x86 D, EPT bit 9, ARM64 DBM write-clean/dirty) */
#define PT_ATTR_ALL (PT_R | PT_W | PT_X | PT_U | PT_G | PT_IPAT | PT_A | PT_D)

/* Memory types. Zero is write-back, so a zero-initialised attr is ordinary RAM. */
enum pt_memtype {
	PT_MT_WB = 0,   /* write-back */
	PT_MT_WT,       /* write-through */
	PT_MT_WC,       /* write-combining (ARM64: Normal non-cacheable) */
	PT_MT_WP,       /* write-protect (x86 and EPT only) */
	PT_MT_UC,       /* uncacheable (ARM64: Device-nGnRE) */
	PT_MT_COUNT
};

struct pgtable_attr {
	uint32_t flags;     /* PT_R ... PT_D */
	uint32_t memtype;   /* enum pt_memtype */
};

/*
 * What an entry holds. Non-present entries carry software state in bits the hardware ignores:
 * a zero entry is "never touched"; otherwise a 2-bit code (PT_SW_CODE_*) at the format's
 * _SW_STATE_SHIFT says swap / ballooned / discarded, and a swap entry carries its slot number at
 * the format's _SW_SLOT_SHIFT. State entries may sit at any level a leaf may (a 2 MiB swap entry
 * stands for 512 consecutive slots, see pgtable_set_state()).
 */
enum pt_state {
	PT_STATE_NONE = 0,      /* zero entry: never touched, or unmapped */
	PT_STATE_MAPPED,        /* present leaf */
	PT_STATE_SWAP,          /* contents live in a swap slot */
	PT_STATE_BALLOONED,     /* given to the host by the balloon */
	PT_STATE_DISCARDED,     /* contents dropped (free page reporting, MADV_DONTNEED-like) */
};

/* The 2-bit state code stored in non-present entries (0 never appears in a non-zero entry). */
#define PT_SW_CODE_SWAP      1u
#define PT_SW_CODE_BALLOONED 2u
#define PT_SW_CODE_DISCARDED 3u
#define PT_SW_CODE_MASK      3u

/* Between enum pt_state and the stored code (formats use these; 0 = not a software state). */
static inline unsigned pt_state_code(enum pt_state st)
{
	switch (st) {
	case PT_STATE_SWAP:
		return PT_SW_CODE_SWAP;
	case PT_STATE_BALLOONED:
		return PT_SW_CODE_BALLOONED;
	case PT_STATE_DISCARDED:
		return PT_SW_CODE_DISCARDED;
	case PT_STATE_NONE:
	case PT_STATE_MAPPED:
		break;
	}
	return 0;
}

static inline enum pt_state pt_code_state(unsigned code)
{
	switch (code) {
	case PT_SW_CODE_SWAP:
		return PT_STATE_SWAP;
	case PT_SW_CODE_BALLOONED:
		return PT_STATE_BALLOONED;
	case PT_SW_CODE_DISCARDED:
		return PT_STATE_DISCARDED;
	}
	return PT_STATE_NONE;
}

/* Swap slots are 40-bit in every format (bits 51:12 of the non-present entry). */
#define PT_SW_SLOT_BITS 40
#define PT_SW_SLOT_MAX  ((UINT64_C(1) << PT_SW_SLOT_BITS) - 1)

/*
 * A hardware format. Entries are uint64_t; `level` is 0 for 4 KiB entries. The generic walker
 * calls only these; none of them sees more than one entry.
 */
struct pgtable_format {
	const char *name;
	unsigned levels;        /* table levels; input addresses have 12 + 9 * levels bits */
	unsigned leaf_levels;   /* bit L set: leaves and state entries allowed at level L */
	unsigned pa_bits;       /* output addresses (and table pages) lie below 1 << pa_bits */
	bool canonical;         /* input addresses sign-extend their top bit (x86 virtual) */

	bool (*is_present)(uint64_t e);
	/* e present and level > 0: does it map memory (a block) rather than point to a table? */
	bool (*is_leaf)(uint64_t e, unsigned level);
	uint64_t (*make_table)(phys_addr_t table);
	phys_addr_t (*table_addr)(uint64_t e);
	/* a is valid for the format (check_attr returned NULL); pa aligned to the level's size. */
	uint64_t (*make_leaf)(phys_addr_t pa, unsigned level, const struct pgtable_attr *a);
	phys_addr_t (*leaf_addr)(uint64_t e, unsigned level);
	void (*leaf_attr)(uint64_t e, unsigned level, struct pgtable_attr *a);
	/* NULL if the format can express a; otherwise what is wrong with it. */
	const char *(*check_attr)(const struct pgtable_attr *a);
	/* state is SWAP, BALLOONED or DISCARDED; slot <= PT_SW_SLOT_MAX (ignored unless SWAP). */
	uint64_t (*make_state)(enum pt_state state, uint64_t slot);
	/* e non-zero and not present: its state (PT_STATE_NONE if the code is invalid). */
	enum pt_state (*state)(uint64_t e, uint64_t *slot);
};

extern const struct pgtable_format pgtable_x86_64;
extern const struct pgtable_format pgtable_ept;
extern const struct pgtable_format pgtable_arm64_s2;

/* Table-page memory supplied by the caller (see the top of this file). */
struct pgtable_mem {
	/* Store a zeroed, 4 KiB-aligned page's physical address in *table; 0 or -MM_ENOMEM. */
	int (*alloc)(void *arg, phys_addr_t *table);
	/*
	 * Take a table page back. Called during the operation, after the page is unlinked; if
	 * hardware may still hold it in a paging-structure cache, the caller must not reuse it before
	 * its TLB flush (pgtable_flush.tables_freed says one is due).
	 */
	void (*free)(void *arg, phys_addr_t table);
	void *(*phys_to_virt)(void *arg, phys_addr_t pa);
	void *arg;
};

/* One page table. Owned by the caller; no field is meant to be written from outside. */
struct pgtable {
	const struct pgtable_format *fmt;
	struct pgtable_mem mem;
	phys_addr_t root;       /* the root table: CR3 / EPTP / VTTBR address field */
	uint64_t tables;        /* table pages held, root included */
};

/*
 * What the caller must invalidate after one or more mutating calls. Calls *accumulate* into it,
 * so a caller can batch several and flush once; zero it before the first.
 *
 *   changed        present entries that hardware could see before the call and that the call
 *                  removed or modified (unmap, permission/memtype change, A/D clear, replace, or
 *                  a large leaf turned into a table by a split — counted once, whole leaf).
 *                  Turning a non-present entry into a present one is not counted.
 *   tables_freed   table pages freed; hardware may still cache entries pointing at them.
 *   first, last    an inclusive input-address range covering all of the above.
 *
 * Contract: when pgtable_flush_needed(), invalidate [first, last] (x86: INVLPG per page or a
 * full flush; EPT: INVEPT; ARM64: TLBI IPAS2E1IS per page + TLBI VMALLE1IS, after DSB) before
 * relying on the new contents, and before reusing freed table pages or unmapped frames.
 */
struct pgtable_flush {
	uint64_t changed;
	uint64_t tables_freed;
	uint64_t first, last;
};

static inline bool pgtable_flush_needed(const struct pgtable_flush *fl)
{
	return fl->changed || fl->tables_freed;
}

/* What one entry holds, as reported by pgtable_translate() and pgtable_walk(). */
struct pgtable_info {
	uint64_t addr;          /* first input address the entry covers */
	uint64_t size;          /* bytes it covers (for NONE: the whole empty entry's span) */
	unsigned level;         /* level of the entry the walk stopped at */
	enum pt_state state;
	phys_addr_t pa;         /* MAPPED: output address (translate: of the queried address) */
	struct pgtable_attr attr;   /* MAPPED: attributes, including A/D */
	uint64_t slot;          /* SWAP: slot of the 4 KiB page (translate: the queried page's) */
	uint64_t raw;           /* the entry itself */
};

/* pgtable_map() flags */
#define PT_MAP_REPLACE (1u << 0)    /* overwrite existing present mappings in the range */

/* pgtable_walk() flags: clear bits in the present leaves visited (atomically, after reading) */
#define PT_WALK_CLEAR_A (1u << 0)
#define PT_WALK_CLEAR_D (1u << 1)

/* Returns 0 to continue the walk; anything else stops it and is returned by pgtable_walk(). */
typedef int (*pgtable_visit_fn)(void *arg, const struct pgtable_info *info);

/* Allocate the root table. 0, -MM_ENOMEM, or -MM_EINVAL for a bad format or callbacks. */
mm_must_check int pgtable_init(struct pgtable *pt, const struct pgtable_format *fmt,
			       const struct pgtable_mem *mem);
/* Free every table page, root included. The frames the leaves mapped are the caller's. */
int pgtable_destroy(struct pgtable *pt);

/*
 * Map [addr, addr + len) to [pa, pa + len) with entries of page_size (4 KiB, 2 MiB or 1 GiB);
 * addr, pa and len must be multiples of it. Larger existing leaves that partly overlap the range
 * are split (keeping the rest of their mapping). Present mappings in the range are an error
 * (-MM_EEXIST, nothing changed) unless PT_MAP_REPLACE; non-present software-state entries are
 * simply overwritten (mapping a swapped page back in needs no flag).
 */
mm_must_check int pgtable_map(struct pgtable *pt, uint64_t addr, phys_addr_t pa, uint64_t len,
			      uint64_t page_size, const struct pgtable_attr *attr, unsigned flags,
			      struct pgtable_flush *flush);
/*
 * Clear [addr, addr + len) (4 KiB granularity) back to never-touched: mappings and software
 * states alike. Large leaves partly inside are split; table pages left empty are freed.
 * -MM_ENOMEM only if a split needs a page and none is available (nothing changed).
 */
mm_must_check int pgtable_unmap(struct pgtable *pt, uint64_t addr, uint64_t len,
				struct pgtable_flush *flush);
/*
 * Give every present mapping in [addr, addr + len) the permissions and memory type of attr
 * (PT_A/PT_D are not allowed there: A/D are kept from each entry). Non-present entries are left
 * alone. A large leaf partly inside is split only if its attributes actually change.
 * ARM64: a mapping made non-writable loses its dirty state (DBM); read it first.
 */
mm_must_check int pgtable_protect(struct pgtable *pt, uint64_t addr, uint64_t len,
				  const struct pgtable_attr *attr, struct pgtable_flush *flush);
/*
 * Turn [addr, addr + len) into non-present entries of page_size holding state (SWAP, BALLOONED
 * or DISCARDED), replacing whatever was there (present mappings are counted in flush). For SWAP,
 * the 4 KiB page at addr + i * 4096 gets slot + i, so a 2 MiB swap entry stands for 512
 * consecutive slots and keeps that meaning when it is split.
 */
mm_must_check int pgtable_set_state(struct pgtable *pt, uint64_t addr, uint64_t len,
				    uint64_t page_size, enum pt_state state, uint64_t slot,
				    struct pgtable_flush *flush);
/* Walk one address: fills *info (state NONE with the empty entry's level and span if unmapped). */
int pgtable_translate(const struct pgtable *pt, uint64_t addr, struct pgtable_info *info);
/*
 * Call fn for every non-zero leaf-level entry (mapping or software state) overlapping
 * [addr, addr + len), in address order; info->addr may lie below addr for a large entry. flags
 * PT_WALK_CLEAR_A / _D clear those bits in each present leaf visited (the whole leaf, even if it
 * extends past the range); info shows the values read before clearing, and flush (may be NULL)
 * counts the entries cleared. A walk stopped by fn keeps the clears done so far.
 */
int pgtable_walk(struct pgtable *pt, uint64_t addr, uint64_t len, unsigned flags,
		 pgtable_visit_fn fn, void *arg, struct pgtable_flush *flush);
/*
 * Consistency check of the whole tree: every non-root table has a non-zero entry, leaves and
 * state entries only at leaf levels, valid state codes, addresses within pa_bits, and the table
 * count matches. Returns the number of table pages, or -MM_EUCLEAN (after a report).
 */
long pgtable_check(const struct pgtable *pt);

#endif /* MM_PGTABLE_H */
