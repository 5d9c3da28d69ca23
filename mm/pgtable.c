/*
 * mm/pgtable.c — the generic page-table walker behind mm/pgtable.h. It owns levels, indices,
 * table pages and the rules of each operation (map / unmap / protect / set-state, splitting,
 * freeing, flush accounting); the bits of an entry belong to the format (pgtable_x86.c, ept.c,
 * s2_arm64.c), reached only through struct pgtable_format.
 *
 * Locking: none. The caller serialises writers on one table (see mm/pgtable.h). Lock order: n/a.
 *
 * How a mutating operation runs (run_op):
 *   1. a dry run walks the range exactly as the real run will, but writes nothing: it stops at
 *      the first conflict (-MM_EEXIST) and counts the table pages the real run will take.
 *      Tables the real run would create do not exist yet; the dry run reads their entries as
 *      computed from the entry they would replace (a "virtual" table, struct tview.t == NULL);
 *   2. that many pages are allocated up front (on failure: freed again, -MM_ENOMEM, untouched);
 *   3. the real run applies the operation; from here nothing can fail.
 * Both runs share one decision function per operation, so they cannot disagree about what
 * needs a table page.
 *
 * Invariants (checked by pgtable_check):
 *   - a non-root table page has at least one non-zero entry (unmap frees a page that empties;
 *     software-state entries are non-zero, so a page holding only swap entries stays);
 *   - leaves and state entries sit only at the format's leaf levels;
 *   - pgtable.tables equals the number of table pages reachable from the root.
 */
#include "mm/pgtable.h"
#include "mm/env.h"

/* ---- addresses and entries --------------------------------------------------------------- */

/* Input addresses are handled internally as their low 12 + 9 * levels bits ("ia"). */
static inline uint64_t ia_limit(const struct pgtable_format *f)
{
	return PT_LEVEL_SIZE(f->levels);
}

static inline uint64_t to_ia(const struct pgtable_format *f, uint64_t addr)
{
	return addr & (ia_limit(f) - 1);
}

/* Back to the caller's form: sign-extended for canonical (x86 virtual) formats. */
static inline uint64_t to_addr(const struct pgtable_format *f, uint64_t ia)
{
	if (f->canonical && (ia & (ia_limit(f) >> 1)))
		return ia | ~(ia_limit(f) - 1);
	return ia;
}

static inline unsigned pt_index(uint64_t ia, unsigned level)
{
	return (unsigned)(ia >> PT_LEVEL_SHIFT(level)) & (PT_ENTRIES - 1);
}

static inline uint64_t *table_ptr(const struct pgtable *pt, phys_addr_t table)
{
	return pt->mem.phys_to_virt(pt->mem.arg, table);
}

/* Single 64-bit accesses: hardware walkers (and A/D updates) may race with us. */
static inline uint64_t ent_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Release: a table page's contents are visible before the store that links it. */
static inline void ent_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

enum ent_kind { ENT_ZERO, ENT_TABLE, ENT_LEAF, ENT_STATE };

static enum ent_kind ent_kind(const struct pgtable_format *f, uint64_t e, unsigned level)
{
	if (e == 0)
		return ENT_ZERO;
	if (!f->is_present(e))
		return ENT_STATE;
	if (level == 0 || f->is_leaf(e, level))
		return ENT_LEAF;
	return ENT_TABLE;
}

/*
 * Entry idx of the table a split of `parent` (an entry at level) would produce: the same
 * mapping or state, one level down, advanced to idx's part (address or swap slot).
 */
static uint64_t split_child(const struct pgtable_format *f, uint64_t parent, unsigned level,
			    unsigned idx)
{
	unsigned cl = level - 1;
	struct pgtable_attr a;
	uint64_t slot;
	enum pt_state st;

	if (parent == 0)
		return 0;
	if (f->is_present(parent)) {
		f->leaf_attr(parent, level, &a);
		return f->make_leaf(f->leaf_addr(parent, level) + (uint64_t)idx * PT_LEVEL_SIZE(cl),
				    cl, &a);
	}
	st = f->state(parent, &slot);
	return f->make_state(st, slot + ((uint64_t)idx << (PT_LEVEL_BITS * cl)));
}

/* Fill a fresh table page with the split of parent (all zero for parent == 0). */
static void split_fill(const struct pgtable_format *f, uint64_t parent, unsigned level,
		       uint64_t *t)
{
	unsigned cl = level - 1;
	struct pgtable_attr a;
	phys_addr_t pa;
	uint64_t slot;
	enum pt_state st;

	if (parent == 0)
		return;     /* alloc() returned a zeroed page */
	if (f->is_present(parent)) {
		f->leaf_attr(parent, level, &a);
		pa = f->leaf_addr(parent, level);
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			t[i] = f->make_leaf(pa + (uint64_t)i * PT_LEVEL_SIZE(cl), cl, &a);
		return;
	}
	st = f->state(parent, &slot);
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		t[i] = f->make_state(st, slot + ((uint64_t)i << (PT_LEVEL_BITS * cl)));
}

/*
 * True when every entry of t is zero. The scan starts at `start`, the first entry the unmap
 * touched: an upper-level entry it passed through is usually still non-zero, and a cleared leaf
 * usually has a live neighbour right after it, so unmapping page by page costs a step or two per
 * table instead of a scan of 512 entries.
 */
static bool table_empty(const uint64_t *t, unsigned start)
{
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		if (ent_load(&t[(start + i) & (PT_ENTRIES - 1)]))
			return false;
	return true;
}

/* ---- flush accounting -------------------------------------------------------------------- */

static void flush_extend(const struct pgtable_format *f, struct pgtable_flush *fl, uint64_t ia,
			 uint64_t size)
{
	uint64_t first = to_addr(f, ia), last = to_addr(f, ia + size - 1);

	if (!pgtable_flush_needed(fl) || first < fl->first)
		fl->first = first;
	if (!pgtable_flush_needed(fl) || last > fl->last)
		fl->last = last;
}

/* ---- one operation ----------------------------------------------------------------------- */

enum op_kind { OP_MAP, OP_UNMAP, OP_PROTECT, OP_STATE };

struct pt_op {
	struct pgtable *pt;
	const struct pgtable_format *f;
	enum op_kind kind;
	bool dry;               /* pass 1: decide and count, write nothing */
	bool replace;           /* OP_MAP: PT_MAP_REPLACE */
	unsigned target;        /* OP_MAP / OP_STATE: level of the entries written */
	uint64_t ia;            /* start of the whole operation (for pa / slot offsets) */
	phys_addr_t pa;         /* OP_MAP: output address of ia */
	struct pgtable_attr attr;   /* OP_MAP / OP_PROTECT */
	enum pt_state state;    /* OP_STATE */
	uint64_t slot;          /* OP_STATE, SWAP: slot of ia's page */
	int err;                /* pass 1: first conflict */
	uint64_t need;          /* pass 1: table pages pass 2 will take */
	phys_addr_t cache;      /* pass 2: preallocated pages, chained through their word 0 */
	uint64_t ncache;
	unsigned unlinked;      /* > 0 while working inside a table not yet linked in */
	struct pgtable_flush *flush;    /* may be NULL */
};

/*
 * A table as the operation sees it. t == NULL only in the dry run, for a table the real run
 * would create: its entries are split_child(parent, level + 1, idx).
 */
struct tview {
	uint64_t *t;
	uint64_t parent;
	unsigned level;         /* level of the entries in this table */
};

/* The entry an operation is looking at and the part [s, e) of its span the operation covers. */
struct ent_ref {
	struct tview *tv;
	unsigned idx;
	uint64_t old;
	enum ent_kind kind;
	uint64_t base, size;    /* the entry's span */
	uint64_t s, e;
	bool full;              /* [s, e) is the whole span */
};

static void op_range(struct pt_op *op, struct tview *tv, uint64_t s, uint64_t e);

static uint64_t tv_get(const struct pt_op *op, const struct tview *tv, unsigned idx)
{
	if (tv->t)
		return ent_load(&tv->t[idx]);
	return split_child(op->f, tv->parent, tv->level + 1, idx);
}

static void note_change(struct pt_op *op, uint64_t ia, uint64_t size)
{
	if (op->dry || op->unlinked || !op->flush)
		return;
	flush_extend(op->f, op->flush, ia, size);
	op->flush->changed++;
}

static void note_table_freed(struct pgtable *pt, struct pgtable_flush *fl, uint64_t ia,
			     uint64_t size)
{
	if (!fl)
		return;
	flush_extend(pt->fmt, fl, ia, size);
	fl->tables_freed++;
}

static void table_free(struct pgtable *pt, phys_addr_t table)
{
	MM_BUG_ON(pt->tables == 0);
	pt->tables--;
	pt->mem.free(pt->mem.arg, table);
}

/* Preallocate n table pages (pass 2 takes exactly the number pass 1 counted). */
static void cache_drain(struct pt_op *op);

static int cache_fill(struct pt_op *op, uint64_t n)
{
	struct pgtable *pt = op->pt;
	phys_addr_t p;
	uint64_t *t;

	while (op->ncache < n) {
		if (pt->mem.alloc(pt->mem.arg, &p) != 0) {
			cache_drain(op);
			return -MM_ENOMEM;
		}
		MM_BUG_ON(!MM_IS_ALIGNED(p, MM_PAGE_SIZE));
		MM_BUG_ON(p >> op->f->pa_bits);
		t = table_ptr(pt, p);
#ifdef MM_DEBUG
		MM_BUG_ON(!table_empty(t, 0));      /* alloc() must hand out zeroed pages */
#endif
		t[0] = op->cache;
		op->cache = p;
		op->ncache++;
	}
	return 0;
}

static phys_addr_t cache_take(struct pt_op *op)
{
	phys_addr_t p = op->cache;
	uint64_t *t;

	MM_BUG_ON(op->ncache == 0);     /* pass 1 under-counted */
	t = table_ptr(op->pt, p);
	op->cache = t[0];
	t[0] = 0;
	op->ncache--;
	op->pt->tables++;
	return p;
}

static void cache_drain(struct pt_op *op)
{
	while (op->ncache) {
		phys_addr_t p = cache_take(op);

		table_free(op->pt, p);
	}
}

/*
 * Free a whole subtree: the table at `table` holding level-`level` entries, covering ia.
 * Present leaves in it are counted as changes (the caller has already unlinked it).
 */
static void free_subtree(struct pgtable *pt, struct pt_op *op, phys_addr_t table,
			 unsigned level, uint64_t ia)
{
	const struct pgtable_format *f = pt->fmt;
	uint64_t *t = table_ptr(pt, table);
	uint64_t size = PT_LEVEL_SIZE(level);

	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		uint64_t e = ent_load(&t[i]);

		switch (ent_kind(f, e, level)) {
		case ENT_TABLE:
			free_subtree(pt, op, f->table_addr(e), level - 1, ia + i * size);
			break;
		case ENT_LEAF:
			if (op)
				note_change(op, ia + i * size, size);
			break;
		case ENT_ZERO:
		case ENT_STATE:
			break;
		}
	}
	table_free(pt, table);
	if (op)
		note_table_freed(pt, op->flush, ia, size * PT_ENTRIES);
}

static bool subtree_has_present(const struct pgtable *pt, phys_addr_t table, unsigned level)
{
	const struct pgtable_format *f = pt->fmt;
	const uint64_t *t = table_ptr(pt, table);

	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		uint64_t e = ent_load(&t[i]);

		switch (ent_kind(f, e, level)) {
		case ENT_LEAF:
			return true;
		case ENT_TABLE:
			if (subtree_has_present(pt, f->table_addr(e), level - 1))
				return true;
			break;
		case ENT_ZERO:
		case ENT_STATE:
			break;
		}
	}
	return false;
}

/* Write v over r's entry (a leaf, state or zero entry); a present leaf overwritten is a change. */
static void set_entry(struct pt_op *op, struct ent_ref *r, uint64_t v)
{
	if (op->dry || v == r->old)
		return;
	if (r->kind == ENT_LEAF)
		note_change(op, r->base, r->size);
	ent_store(&r->tv->t[r->idx], v);
}

/* Replace r's table entry by v (zero or a leaf/state entry) and free the table it pointed at. */
static void replace_subtree(struct pt_op *op, struct ent_ref *r, uint64_t v)
{
	if (op->dry)
		return;
	ent_store(&r->tv->t[r->idx], v);        /* unlink first: hardware never sees a freed page */
	free_subtree(op->pt, op, op->f->table_addr(r->old), r->tv->level - 1, r->base);
}

/*
 * Carry the operation one level down for [r->s, r->e): into the existing table if r is one,
 * otherwise into a new table made from `parent` (0: empty; r->old: split it). A new table is
 * filled and updated before it is linked, so hardware switches from the old entry to the
 * finished subtree with one store.
 */
static void descend(struct pt_op *op, struct ent_ref *r, uint64_t parent)
{
	const struct pgtable_format *f = op->f;
	unsigned level = r->tv->level;
	struct tview child = { NULL, parent, level - 1 };
	phys_addr_t p;

	MM_BUG_ON(level == 0);
	if (r->kind == ENT_TABLE) {
		child.t = table_ptr(op->pt, f->table_addr(r->old));
		op_range(op, &child, r->s, r->e);
		if (op->kind == OP_UNMAP && !op->dry &&
		    table_empty(child.t, pt_index(r->s, level - 1))) {
			ent_store(&r->tv->t[r->idx], 0);
			table_free(op->pt, f->table_addr(r->old));
			if (!op->unlinked)
				note_table_freed(op->pt, op->flush, r->base, r->size);
		}
		return;
	}
	if (op->dry) {
		op->need++;
		op_range(op, &child, r->s, r->e);
		return;
	}
	p = cache_take(op);
	child.t = table_ptr(op->pt, p);
	split_fill(f, parent, level, child.t);
	op->unlinked++;
	op_range(op, &child, r->s, r->e);
	op->unlinked--;
	MM_BUG_ON(op->kind == OP_UNMAP && table_empty(child.t, 0));
	set_entry(op, r, f->make_table(p));
}

/* ---- the four operations, one entry at a time --------------------------------------------- */

static void unmap_entry(struct pt_op *op, struct ent_ref *r)
{
	switch (r->kind) {
	case ENT_ZERO:
		return;
	case ENT_TABLE:
		if (r->full)
			replace_subtree(op, r, 0);
		else
			descend(op, r, 0);
		return;
	case ENT_LEAF:
	case ENT_STATE:
		if (r->full)
			set_entry(op, r, 0);
		else
			descend(op, r, r->old);     /* split, then clear the covered part */
		return;
	}
}

/* The leaf e with the operation's permissions and memory type, keeping its address and A/D. */
static uint64_t reprotect(const struct pt_op *op, uint64_t e, unsigned level)
{
	const struct pgtable_format *f = op->f;
	struct pgtable_attr a;

	f->leaf_attr(e, level, &a);
	a.flags = op->attr.flags | (a.flags & (PT_A | PT_D));
	a.memtype = op->attr.memtype;
	return f->make_leaf(f->leaf_addr(e, level), level, &a);
}

/* Rewrite a live leaf with compare-and-swap so an A/D bit the hardware sets meanwhile survives. */
static void protect_leaf(struct pt_op *op, struct ent_ref *r)
{
	uint64_t *p = &r->tv->t[r->idx];
	uint64_t old = r->old, new;

	do {
		new = reprotect(op, old, r->tv->level);
		if (new == old)
			return;
	} while (!__atomic_compare_exchange_n(p, &old, new, false, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	note_change(op, r->base, r->size);
}

static void protect_entry(struct pt_op *op, struct ent_ref *r)
{
	switch (r->kind) {
	case ENT_ZERO:
	case ENT_STATE:
		return;
	case ENT_TABLE:
		/* Inside a fully covered table nothing splits: the dry run need not look. */
		if (!(op->dry && r->full))
			descend(op, r, 0);
		return;
	case ENT_LEAF:
		if (reprotect(op, r->old, r->tv->level) == r->old)
			return;     /* unchanged: in particular, no split */
		if (!r->full)
			descend(op, r, r->old);
		else if (!op->dry)
			protect_leaf(op, r);
		return;
	}
}

static uint64_t new_entry(const struct pt_op *op, uint64_t ia)
{
	if (op->kind == OP_MAP)
		return op->f->make_leaf(op->pa + (ia - op->ia), op->target, &op->attr);
	return op->f->make_state(op->state, op->slot + ((ia - op->ia) >> MM_PAGE_SHIFT));
}

/* OP_MAP and OP_STATE: write target-level entries, descending (and splitting) above them. */
static void install_entry(struct pt_op *op, struct ent_ref *r)
{
	bool may_overwrite = op->kind == OP_STATE || op->replace;

	if (r->tv->level == op->target) {
		MM_BUG_ON(!r->full);    /* the range is aligned to the target size */
		if (r->kind == ENT_TABLE) {
			if (!may_overwrite &&
			    subtree_has_present(op->pt, op->f->table_addr(r->old), r->tv->level - 1)) {
				op->err = -MM_EEXIST;
				return;
			}
			replace_subtree(op, r, new_entry(op, r->s));
			return;
		}
		if (r->kind == ENT_LEAF && !may_overwrite) {
			op->err = -MM_EEXIST;
			return;
		}
		set_entry(op, r, new_entry(op, r->s));
		return;
	}
	if (r->kind == ENT_TABLE) {
		descend(op, r, 0);
		return;
	}
	if (r->kind == ENT_LEAF && !may_overwrite) {
		op->err = -MM_EEXIST;
		return;
	}
	/* Fully covered: everything below is rewritten, start from an empty table. */
	descend(op, r, r->full ? 0 : r->old);
}

static void op_range(struct pt_op *op, struct tview *tv, uint64_t s, uint64_t e)
{
	uint64_t size = PT_LEVEL_SIZE(tv->level);

	while (s < e && !op->err) {
		struct ent_ref r;
		uint64_t next = MM_ALIGN_DOWN(s, size) + size;

		r.tv = tv;
		r.idx = pt_index(s, tv->level);
		r.old = tv_get(op, tv, r.idx);
		r.kind = ent_kind(op->f, r.old, tv->level);
		r.base = next - size;
		r.size = size;
		r.s = s;
		r.e = next < e ? next : e;
		r.full = r.s == r.base && r.e == next;
		switch (op->kind) {
		case OP_UNMAP:
			unmap_entry(op, &r);
			break;
		case OP_PROTECT:
			protect_entry(op, &r);
			break;
		case OP_MAP:
		case OP_STATE:
			install_entry(op, &r);
			break;
		}
		s = r.e;
	}
}

/* The three passes described at the top of the file. */
static int run_op(struct pt_op *op, uint64_t s, uint64_t e)
{
	struct pgtable *pt = op->pt;
	struct tview root = { table_ptr(pt, pt->root), 0, pt->fmt->levels - 1 };
	int ret;

	op->f = pt->fmt;
	op->dry = true;
	op_range(op, &root, s, e);
	if (op->err)
		return op->err;
	ret = cache_fill(op, op->need);
	if (ret)
		return ret;
	op->dry = false;
	op_range(op, &root, s, e);
	MM_BUG_ON(op->err || op->ncache != 0);  /* pass 2 must do exactly what pass 1 planned */
	return 0;
}

/* ---- argument checks ---------------------------------------------------------------------- */

static const char *check_pt(const struct pgtable *pt)
{
	if (!pt || !pt->fmt)
		return "page table is NULL or not initialised";
	return NULL;
}

static bool is_canonical(const struct pgtable_format *f, uint64_t addr)
{
	return to_addr(f, to_ia(f, addr)) == addr;
}

static const char *check_addr(const struct pgtable_format *f, uint64_t addr)
{
	if (f->canonical)
		return is_canonical(f, addr) ? NULL : "non-canonical address";
	return addr < ia_limit(f) ? NULL : "address beyond the format's input-address range";
}

/* [addr, addr + len) in `align` units, within one contiguous part of the input space. */
static const char *check_range(const struct pgtable_format *f, uint64_t addr, uint64_t len,
			       uint64_t align)
{
	const char *why;
	uint64_t last;

	if (len == 0)
		return "length is zero";
	if (!MM_IS_ALIGNED(addr, align))
		return "address not aligned to the page size";
	if (!MM_IS_ALIGNED(len, align))
		return "length not a multiple of the page size";
	last = addr + len - 1;
	if (last < addr)
		return "range wraps around the address space";
	why = check_addr(f, addr);
	if (why)
		return why;
	if (f->canonical) {
		if (!is_canonical(f, last))
			return "range ends at a non-canonical address";
		if ((addr ^ last) >> 63)
			return "range crosses the non-canonical hole";
	} else if (last >= ia_limit(f)) {
		return "range ends beyond the format's input-address range";
	}
	return NULL;
}

static const char *check_page_size(const struct pgtable_format *f, uint64_t page_size,
				   unsigned *level)
{
	for (unsigned l = 0; l < f->levels; l++) {
		if (page_size == PT_LEVEL_SIZE(l)) {
			if (!(f->leaf_levels & (1u << l)))
				break;
			*level = l;
			return NULL;
		}
	}
	return "page size not supported by the format (4 KiB, 2 MiB or 1 GiB)";
}

/* An initialised table and a range in 4 KiB units: what unmap, protect and walk check first. */
static const char *check_pt_range(const struct pgtable *pt, uint64_t addr, uint64_t len)
{
	const char *why = check_pt(pt);

	return why ? why : check_range(pt->fmt, addr, len, MM_PAGE_SIZE);
}

/*
 * An initialised table, a page size the format can map (its level into *level) and a range in
 * units of that size: what map and set_state check first, in this order.
 */
static const char *check_pt_sized_range(const struct pgtable *pt, uint64_t addr, uint64_t len,
					uint64_t page_size, unsigned *level)
{
	const char *why = check_pt(pt);

	if (!why)
		why = check_page_size(pt->fmt, page_size, level);
	if (!why)
		why = check_range(pt->fmt, addr, len, page_size);
	return why;
}

static const char *check_attr(const struct pgtable_format *f, const struct pgtable_attr *attr)
{
	if (!attr)
		return "attributes are NULL";
	if (attr->flags & ~PT_ATTR_ALL)
		return "unknown attribute flag";
	if (attr->memtype >= PT_MT_COUNT)
		return "unknown memory type";
	return f->check_attr(attr);
}

/* ---- public API ---------------------------------------------------------------------------- */

int pgtable_init(struct pgtable *pt, const struct pgtable_format *fmt,
		 const struct pgtable_mem *mem)
{
	phys_addr_t root;

	if (!pt)
		return MM_INVAL("page table is NULL");
	/* 4 KiB leaves must exist and the root cannot hold leaves (no 512 GiB pages anywhere). */
	if (!fmt || fmt->levels < 2 || fmt->levels > PT_MAX_LEVELS || !(fmt->leaf_levels & 1) ||
	    (fmt->leaf_levels >> (fmt->levels - 1)) || fmt->pa_bits < MM_PAGE_SHIFT ||
	    fmt->pa_bits > 52)
		return MM_INVAL("format is NULL or describes an unsupported shape");
	if (!fmt->is_present || !fmt->is_leaf || !fmt->make_table || !fmt->table_addr ||
	    !fmt->make_leaf || !fmt->leaf_addr || !fmt->leaf_attr || !fmt->check_attr ||
	    !fmt->make_state || !fmt->state)
		return MM_INVAL("format lacks one of its entry operations");
	if (!mem || !mem->alloc || !mem->free || !mem->phys_to_virt)
		return MM_INVAL("memory callbacks missing (alloc, free and phys_to_virt are needed)");
	pt->fmt = NULL;
	pt->mem = *mem;
	pt->tables = 0;
	if (mem->alloc(mem->arg, &root) != 0)
		return -MM_ENOMEM;
	MM_BUG_ON(!MM_IS_ALIGNED(root, MM_PAGE_SIZE) || (root >> fmt->pa_bits));
	pt->root = root;
	pt->tables = 1;
	pt->fmt = fmt;
	return 0;
}

int pgtable_destroy(struct pgtable *pt)
{
	const char *why = check_pt(pt);

	if (why)
		return MM_INVAL(why);
	free_subtree(pt, NULL, pt->root, pt->fmt->levels - 1, 0);
	MM_BUG_ON(pt->tables != 0);
	pt->fmt = NULL;
	pt->root = 0;
	return 0;
}

int pgtable_map(struct pgtable *pt, uint64_t addr, phys_addr_t pa, uint64_t len,
		uint64_t page_size, const struct pgtable_attr *attr, unsigned flags,
		struct pgtable_flush *flush)
{
	struct pt_op op = { .kind = OP_MAP };
	const char *why = check_pt_sized_range(pt, addr, len, page_size, &op.target);

	if (why)
		return MM_INVAL(why);
	if (!MM_IS_ALIGNED(pa, page_size))
		return MM_INVAL("physical address not aligned to the page size");
	if ((pa >> pt->fmt->pa_bits) || ((pa + len - 1) >> pt->fmt->pa_bits))
		return MM_INVAL("physical address beyond the format's limit (MAXPHYADDR)");
	why = check_attr(pt->fmt, attr);
	if (why)
		return MM_INVAL(why);
	if (flags & ~PT_MAP_REPLACE)
		return MM_INVAL("unknown map flag");
	op.pt = pt;
	op.replace = flags & PT_MAP_REPLACE;
	op.ia = to_ia(pt->fmt, addr);
	op.pa = pa;
	op.attr = *attr;
	op.flush = flush;
	return run_op(&op, op.ia, op.ia + len);
}

int pgtable_unmap(struct pgtable *pt, uint64_t addr, uint64_t len, struct pgtable_flush *flush)
{
	struct pt_op op = { .kind = OP_UNMAP };
	const char *why = check_pt_range(pt, addr, len);

	if (why)
		return MM_INVAL(why);
	op.pt = pt;
	op.ia = to_ia(pt->fmt, addr);
	op.flush = flush;
	return run_op(&op, op.ia, op.ia + len);
}

int pgtable_protect(struct pgtable *pt, uint64_t addr, uint64_t len,
		    const struct pgtable_attr *attr, struct pgtable_flush *flush)
{
	struct pt_op op = { .kind = OP_PROTECT };
	const char *why = check_pt_range(pt, addr, len);

	if (why)
		return MM_INVAL(why);
	why = check_attr(pt->fmt, attr);
	if (why)
		return MM_INVAL(why);
	if (attr->flags & (PT_A | PT_D))
		return MM_INVAL("A/D are hardware state: protect keeps them (clear with pgtable_walk)");
	op.pt = pt;
	op.ia = to_ia(pt->fmt, addr);
	op.attr = *attr;
	op.flush = flush;
	return run_op(&op, op.ia, op.ia + len);
}

int pgtable_set_state(struct pgtable *pt, uint64_t addr, uint64_t len, uint64_t page_size,
		      enum pt_state state, uint64_t slot, struct pgtable_flush *flush)
{
	struct pt_op op = { .kind = OP_STATE };
	const char *why = check_pt_sized_range(pt, addr, len, page_size, &op.target);

	if (why)
		return MM_INVAL(why);
	if (state != PT_STATE_SWAP && state != PT_STATE_BALLOONED && state != PT_STATE_DISCARDED)
		return MM_INVAL("state must be SWAP, BALLOONED or DISCARDED (clear with pgtable_unmap)");
	if (state == PT_STATE_SWAP &&
	    (slot > PT_SW_SLOT_MAX || (len >> MM_PAGE_SHIFT) - 1 > PT_SW_SLOT_MAX - slot))
		return MM_INVAL("swap slot beyond the 40-bit slot field");
	op.pt = pt;
	op.ia = to_ia(pt->fmt, addr);
	op.state = state;
	op.slot = state == PT_STATE_SWAP ? slot : 0;
	op.flush = flush;
	return run_op(&op, op.ia, op.ia + len);
}

/* Describe entry e (of kind k, at level) as seen from input address ia. */
static void fill_info(const struct pgtable_format *f, uint64_t e, enum ent_kind k, unsigned level,
		      uint64_t ia, struct pgtable_info *info)
{
	uint64_t size = PT_LEVEL_SIZE(level), base = MM_ALIGN_DOWN(ia, size);

	info->addr = to_addr(f, base);
	info->size = size;
	info->level = level;
	info->raw = e;
	info->pa = 0;
	info->attr.flags = 0;
	info->attr.memtype = 0;
	info->slot = 0;
	switch (k) {
	case ENT_ZERO:
	case ENT_TABLE:
		info->state = PT_STATE_NONE;
		break;
	case ENT_LEAF:
		info->state = PT_STATE_MAPPED;
		info->pa = f->leaf_addr(e, level) + (ia - base);
		f->leaf_attr(e, level, &info->attr);
		break;
	case ENT_STATE:
		info->state = f->state(e, &info->slot);
		if (info->state == PT_STATE_SWAP)
			info->slot += (ia - base) >> MM_PAGE_SHIFT;
		break;
	}
}

int pgtable_translate(const struct pgtable *pt, uint64_t addr, struct pgtable_info *info)
{
	const struct pgtable_format *f;
	const char *why = check_pt(pt);
	const uint64_t *t;
	uint64_t ia;

	if (why)
		return MM_INVAL(why);
	f = pt->fmt;
	why = check_addr(f, addr);
	if (why)
		return MM_INVAL(why);
	if (!info)
		return MM_INVAL("info is NULL");
	ia = to_ia(f, addr);
	t = table_ptr(pt, pt->root);
	for (unsigned level = f->levels - 1;; level--) {
		uint64_t e = ent_load(&t[pt_index(ia, level)]);
		enum ent_kind k = ent_kind(f, e, level);

		if (k != ENT_TABLE) {
			fill_info(f, e, k, level, ia, info);
			return 0;
		}
		t = table_ptr(pt, f->table_addr(e));
	}
}

struct walk_ctx {
	struct pgtable *pt;
	unsigned flags;
	pgtable_visit_fn fn;
	void *arg;
	struct pgtable_flush *flush;
};

/* Clear the requested A/D bits of a live leaf; returns the value it held before. */
static uint64_t clear_ad(struct walk_ctx *w, uint64_t *p, uint64_t old, unsigned level,
			 uint64_t base)
{
	const struct pgtable_format *f = w->pt->fmt;
	uint64_t new;
	struct pgtable_attr a;
	uint32_t drop = ((w->flags & PT_WALK_CLEAR_A) ? PT_A : 0) |
			((w->flags & PT_WALK_CLEAR_D) ? PT_D : 0);

	/* On failure the CAS reloads old (the hardware set a bit meanwhile): recompute. */
	do {
		f->leaf_attr(old, level, &a);
		if (!(a.flags & drop))
			return old;
		a.flags &= ~drop;
		new = f->make_leaf(f->leaf_addr(old, level), level, &a);
	} while (!__atomic_compare_exchange_n(p, &old, new, false, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	if (w->flush) {
		flush_extend(f, w->flush, base, PT_LEVEL_SIZE(level));
		w->flush->changed++;
	}
	return old;
}

static int walk_table(struct walk_ctx *w, uint64_t *t, unsigned level, uint64_t s, uint64_t e)
{
	const struct pgtable_format *f = w->pt->fmt;
	uint64_t size = PT_LEVEL_SIZE(level);
	struct pgtable_info info;
	int ret;

	while (s < e) {
		uint64_t base = MM_ALIGN_DOWN(s, size), next = base + size;
		uint64_t *p = &t[pt_index(s, level)];
		uint64_t v = ent_load(p);
		enum ent_kind k = ent_kind(f, v, level);

		switch (k) {
		case ENT_ZERO:
			break;
		case ENT_TABLE:
			ret = walk_table(w, table_ptr(w->pt, f->table_addr(v)), level - 1, s,
					 next < e ? next : e);
			if (ret)
				return ret;
			break;
		case ENT_LEAF:
			if (w->flags)
				v = clear_ad(w, p, v, level, base);
			/* fall through */
		case ENT_STATE:
			fill_info(f, v, k, level, base, &info);
			ret = w->fn(w->arg, &info);
			if (ret)
				return ret;
			break;
		}
		s = next;
	}
	return 0;
}

int pgtable_walk(struct pgtable *pt, uint64_t addr, uint64_t len, unsigned flags,
		 pgtable_visit_fn fn, void *arg, struct pgtable_flush *flush)
{
	struct walk_ctx w = { pt, flags, fn, arg, flush };
	const char *why = check_pt_range(pt, addr, len);
	uint64_t ia;

	if (why)
		return MM_INVAL(why);
	if (!fn)
		return MM_INVAL("visit function is NULL");
	if (flags & ~(PT_WALK_CLEAR_A | PT_WALK_CLEAR_D))
		return MM_INVAL("unknown walk flag");
	ia = to_ia(pt->fmt, addr);
	return walk_table(&w, table_ptr(pt, pt->root), pt->fmt->levels - 1, ia, ia + len);
}

/* ---- consistency check --------------------------------------------------------------------- */

static long check_table(const struct pgtable *pt, phys_addr_t table, unsigned level, bool root)
{
	const struct pgtable_format *f = pt->fmt;
	const uint64_t *t = table_ptr(pt, table);
	bool leaf_ok = f->leaf_levels & (1u << level);
	long tables = 1, sub;
	unsigned used = 0;
	uint64_t slot;

	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		uint64_t e = ent_load(&t[i]);

		switch (ent_kind(f, e, level)) {
		case ENT_ZERO:
			continue;
		case ENT_TABLE:
			if (f->table_addr(e) >> f->pa_bits) {
				mm_env_report(__func__, "table address beyond pa_bits");
				return -MM_EUCLEAN;
			}
			sub = check_table(pt, f->table_addr(e), level - 1, false);
			if (sub < 0)
				return sub;
			tables += sub;
			break;
		case ENT_LEAF:
			if (!leaf_ok || !f->is_leaf(e, level)) {
				mm_env_report(__func__, "leaf at a level the format does not allow");
				return -MM_EUCLEAN;
			}
			if ((f->leaf_addr(e, level) + PT_LEVEL_SIZE(level) - 1) >> f->pa_bits) {
				mm_env_report(__func__, "leaf maps beyond pa_bits");
				return -MM_EUCLEAN;
			}
			break;
		case ENT_STATE:
			if (!leaf_ok) {
				mm_env_report(__func__, "software state at a non-leaf level");
				return -MM_EUCLEAN;
			}
			if (f->state(e, &slot) == PT_STATE_NONE) {
				mm_env_report(__func__, "non-present entry with an invalid state code");
				return -MM_EUCLEAN;
			}
			break;
		}
		used++;
	}
	if (!root && used == 0) {
		mm_env_report(__func__, "empty table page left in the tree");
		return -MM_EUCLEAN;
	}
	return tables;
}

long pgtable_check(const struct pgtable *pt)
{
	const char *why = check_pt(pt);
	long n;

	if (why)
		return MM_INVAL(why);
	n = check_table(pt, pt->root, pt->fmt->levels - 1, true);
	if (n >= 0 && (uint64_t)n != pt->tables) {
		mm_env_report(__func__, "table page count does not match the tree");
		return -MM_EUCLEAN;
	}
	return n;
}
