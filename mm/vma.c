/*
 * mm/vma.c — address-space operations on an mm_space with Linux's semantics: mmap (MAP_FIXED
 * replaces), munmap (holes split VMAs), mprotect (split at the range ends, merge changed pieces
 * back), merging of compatible neighbours, stack growth with a guard gap, brk, the VMA-level
 * primitives (insert/erase/split/merge), get_unmapped_area and the maps formatter. The tree
 * itself lives in vma_tree.c.
 *
 * Locking: none; the caller serialises on the mm_space (mm/vma.h). Lock order: none taken.
 *
 * All-or-nothing: every operation validates, checks limits and obtains all the VMAs it may need
 * from the allocator (struct vma_pool) before it changes anything. After that point nothing
 * can fail. Unused VMAs go back to the allocator at the end.
 */
#include "vma_internal.h"
#include "mm/numa.h"

/* ---- VMA objects ------------------------------------------------------------------------- */

/* At most three new VMAs per operation (mmap over the middle of a VMA: one split + one new). */
struct vma_pool {
	struct vma *v[3];
	unsigned n;
};

static void vma_free(struct mm_space *mm, struct vma *vma)
{
	mm->alloc.free(mm->alloc.ctx, vma);
}

static void pool_drain(struct mm_space *mm, struct vma_pool *pool)
{
	while (pool->n)
		vma_free(mm, pool->v[--pool->n]);
}

/* Get n VMAs or none: -MM_ENOMEM with the pool empty. */
static int pool_fill(struct mm_space *mm, struct vma_pool *pool, unsigned n)
{
	MM_BUG_ON(n > MM_ARRAY_SIZE(pool->v));
	pool->n = 0;
	while (pool->n < n) {
		struct vma *v = mm->alloc.alloc(mm->alloc.ctx);

		if (!v) {
			pool_drain(mm, pool);
			return -MM_ENOMEM;
		}
		pool->v[pool->n++] = v;
	}
	return 0;
}

static struct vma *pool_take(struct vma_pool *pool)
{
	MM_BUG_ON(pool->n == 0);
	return pool->v[--pool->n];
}

/* Fill an unlinked VMA with a range and attributes; tree fields are set when it is linked. */
static void vma_init(struct vma *v, gva_t start, gva_t end, uint64_t flags, const void *file,
		     uint64_t pgoff)
{
	v->vm_child[0] = v->vm_child[1] = v->vm_parent = NULL;
	v->vm_start = start;
	v->vm_end = end;
	v->vm_gap = 0;
	v->vm_child_gap[0] = v->vm_child_gap[1] = 0;
	v->vm_list.next = v->vm_list.prev = NULL;
	v->vm_flags = flags;
	v->vm_pgoff = pgoff;
	v->vm_file = file;
	v->vm_mm = NULL;
	v->vm_policy = (struct vma_policy){ 0, 0, 0 };
}

/* ---- Merge and split ----------------------------------------------------------------------- */

/* Linux is_mergeable_vma() + contiguous pgoff (can_vma_merge_before/after); NULL-safe. */
static bool mergeable(const struct vma *prev, const struct vma *next)
{
	return prev && next && prev->vm_end == next->vm_start &&
	       prev->vm_flags == next->vm_flags && !(prev->vm_flags & VM_SPECIAL) &&
	       prev->vm_file == next->vm_file &&
	       vma_policy_equal(&prev->vm_policy, &next->vm_policy) &&
	       next->vm_pgoff == prev->vm_pgoff + vma_pages(prev);
}

bool vma_can_merge(const struct vma *prev, const struct vma *next)
{
	if (!prev || !next)
		return mm_env_report(__func__, "prev or next is NULL"), false;
	return mergeable(prev, next);
}

/* Merge v with prev and/or next where allowed; returns the VMA now covering v's range. */
static struct vma *merge_neighbours(struct mm_space *mm, struct vma *v)
{
	struct vma *prev = vma_prev(mm, v), *next;

	/*
	 * Absorbing: the survivor first covers both ranges, then the absorbed VMA is unlinked,
	 * so the gap above them is recomputed against the same end and does not change.
	 */
	if (mergeable(prev, v)) {
		prev->vm_end = v->vm_end;
		vma_tree_unlink(mm, v);
		vma_free(mm, v);
		v = prev;
	}
	next = vma_next(mm, v);
	if (mergeable(v, next)) {
		v->vm_end = next->vm_end;
		vma_tree_unlink(mm, next);
		vma_free(mm, next);
	}
	return v;
}

/*
 * v keeps [vm_start, addr); upper (unlinked) takes [addr, vm_end). Counters are unchanged.
 * v's end moves without refreshing the gap above it: upper ends where v ended, so once upper
 * is linked that gap is what it was.
 */
static void split_at(struct mm_space *mm, struct vma *v, gva_t addr, struct vma *upper)
{
	MM_BUG_ON(addr <= v->vm_start || addr >= v->vm_end);
	vma_init(upper, addr, v->vm_end, v->vm_flags, v->vm_file,
		 v->vm_pgoff + ((addr - v->vm_start) >> MM_PAGE_SHIFT));
	upper->vm_policy = v->vm_policy;
	v->vm_end = addr;
	vma_tree_link_after(mm, upper, v);
}

/*
 * The part of v inside [s, e), cut off with at most two splits (blocks from pool): what
 * mprotect and mbind change, one VMA at a time (Linux's vma_modify()).
 */
static struct vma *cut_to_range(struct mm_space *mm, struct vma *v, gva_t s, gva_t e,
				struct vma_pool *pool)
{
	if (v->vm_start < s) {
		struct vma *upper = pool_take(pool);

		split_at(mm, v, s, upper);
		v = upper;
	}
	if (v->vm_end > e)
		split_at(mm, v, e, pool_take(pool));
	return v;
}

/* ---- Limits (Linux may_expand_vm() and friends) ------------------------------------------- */

static bool may_expand_vm(const struct mm_space *mm, uint64_t flags, uint64_t npages)
{
	if (mm->total_vm + npages > mm->rlimit_as >> MM_PAGE_SHIFT)
		return false;
	if (vma_is_data_mapping(flags) && mm->data_vm + npages > mm->rlimit_data >> MM_PAGE_SHIFT)
		return false;
	return true;
}

/* Pages of [s, e) that are mapped (Linux count_vma_pages_range()). */
static uint64_t mapped_pages(const struct mm_space *mm, gva_t s, gva_t e)
{
	uint64_t n = 0;
	struct vma *v;

	for (v = vma_tree_find(mm, s); v && v->vm_start < e; v = vma_next(mm, v)) {
		gva_t lo = v->vm_start > s ? v->vm_start : s;
		gva_t hi = v->vm_end < e ? v->vm_end : e;

		n += (hi - lo) >> MM_PAGE_SHIFT;
	}
	return n;
}

/* Does unmapping [s, e) punch a hole into one VMA (and so need a new VMA for the top part)? */
static bool needs_punch(const struct mm_space *mm, gva_t s, gva_t e)
{
	struct vma *v = vma_tree_find(mm, s);

	return v && v->vm_start < s && v->vm_end > e;
}

/* ---- Argument checks ----------------------------------------------------------------------- */

/* addr/len describe a non-empty page-aligned range inside [0, task_size). */
static int check_range(const struct mm_space *mm, const char *func, gva_t addr, uint64_t len)
{
	const char *what = NULL;

	if (!MM_IS_ALIGNED(addr, MM_PAGE_SIZE))
		what = "addr is not page aligned";
	else if (len == 0)
		what = "len is zero";
	else if (!MM_IS_ALIGNED(len, MM_PAGE_SIZE))
		what = "len is not page aligned";
	else if (addr + len < addr)
		what = "addr + len overflows";
	else if (addr + len > mm->task_size)
		what = "range reaches beyond task_size";
	if (!what)
		return 0;
	mm_env_report(func, what);
	return -MM_EINVAL;
}

/* A MAP_FIXED range must also start at or above mmap_min_addr. */
static int check_fixed(const struct mm_space *mm, const char *func, gva_t addr, uint64_t len)
{
	int ret = check_range(mm, func, addr, len);

	if (ret)
		return ret;
	if (addr < mm->mmap_min_addr) {
		mm_env_report(func, "fixed address below mmap_min_addr");
		return -MM_EINVAL;
	}
	return 0;
}

/* vm_flags a caller may hand to mmap or vma_insert. */
static int check_vm_flags(const char *func, uint64_t flags, const void *file)
{
	const char *what = NULL;

	if (flags & ~VM_KNOWN_FLAGS)
		what = "unknown bits in vm_flags";
	else if ((flags & VM_ACCESS_FLAGS) & ~(flags >> VM_MAY_SHIFT))
		what = "access flag without its VM_MAY* flag";
	else if ((flags & VM_SHARED) && !(flags & VM_MAYSHARE))
		what = "VM_SHARED without VM_MAYSHARE";
	else if ((flags & VM_SHARED) && !file)
		what = "shared mapping without a backing object";
	else if ((flags & VM_GROWSDOWN) && (flags & VM_GROWSUP))
		what = "both VM_GROWSDOWN and VM_GROWSUP";
	if (!what)
		return 0;
	mm_env_report(func, what);
	return -MM_EINVAL;
}

/* ---- Address space lifetime ----------------------------------------------------------------- */

void mm_space_default_config(struct mm_space_config *cfg)
{
	gva_t top = UINT64_C(0x7ffffffff000);   /* x86-64 TASK_SIZE_MAX, 4-level paging */

	if (!cfg) {
		mm_env_report(__func__, "cfg is NULL");
		return;
	}
	*cfg = (struct mm_space_config){ 0 };
	cfg->task_size = top;
	cfg->mmap_min_addr = UINT64_C(0x10000);
	cfg->mmap_base = top - (UINT64_C(128) << 20);
	cfg->mmap_legacy_base = MM_ALIGN_UP(top / 3, MM_PAGE_SIZE);
	cfg->mmap_topdown = true;
	cfg->start_brk = UINT64_C(0x10000000);
	cfg->start_stack = 0;
	cfg->stack_guard_gap = MM_DEFAULT_STACK_GUARD_GAP;
	cfg->rlimit_as = MM_RLIM_INFINITY;
	cfg->rlimit_data = MM_RLIM_INFINITY;
	cfg->rlimit_stack = UINT64_C(8) << 20;
	cfg->rlimit_memlock = UINT64_C(8) << 20;
	cfg->max_map_count = 65530;
}

static const char *config_problem(const struct mm_space_config *cfg)
{
	if (!cfg->alloc.alloc || !cfg->alloc.free)
		return "allocator callbacks missing";
	if (cfg->task_size == 0 || !MM_IS_ALIGNED(cfg->task_size, MM_PAGE_SIZE))
		return "task_size zero or not page aligned";
	if (!MM_IS_ALIGNED(cfg->mmap_min_addr | cfg->mmap_base | cfg->mmap_legacy_base |
			   cfg->start_brk | cfg->stack_guard_gap, MM_PAGE_SIZE))
		return "mmap_min_addr, bases, start_brk or stack_guard_gap not page aligned";
	if (cfg->mmap_min_addr >= cfg->task_size)
		return "mmap_min_addr at or above task_size";
	if (cfg->mmap_base <= cfg->mmap_min_addr || cfg->mmap_base > cfg->task_size)
		return "mmap_base outside (mmap_min_addr, task_size]";
	if (cfg->mmap_legacy_base < cfg->mmap_min_addr || cfg->mmap_legacy_base >= cfg->task_size)
		return "mmap_legacy_base outside [mmap_min_addr, task_size)";
	if (cfg->start_brk < cfg->mmap_min_addr || cfg->start_brk >= cfg->task_size)
		return "start_brk outside [mmap_min_addr, task_size)";
	if (cfg->max_map_count == 0)
		return "max_map_count is zero";
	return NULL;
}

int mm_space_init(struct mm_space *mm, const struct mm_space_config *cfg)
{
	const char *problem;

	if (!mm || !cfg)
		return MM_INVAL("mm or cfg is NULL");
	problem = config_problem(cfg);
	if (problem)
		return MM_INVAL(problem);
	*mm = (struct mm_space){ 0 };
	list_init(&mm->vmas);
	mm->task_size = cfg->task_size;
	mm->mmap_min_addr = cfg->mmap_min_addr;
	mm->mmap_base = cfg->mmap_base;
	mm->mmap_legacy_base = cfg->mmap_legacy_base;
	mm->mmap_topdown = cfg->mmap_topdown;
	mm->start_brk = mm->brk = cfg->start_brk;
	mm->start_stack = cfg->start_stack;
	mm->stack_guard_gap = cfg->stack_guard_gap;
	mm->rlimit_as = cfg->rlimit_as;
	mm->rlimit_data = cfg->rlimit_data;
	mm->rlimit_stack = cfg->rlimit_stack;
	mm->rlimit_memlock = cfg->rlimit_memlock;
	mm->max_map_count = cfg->max_map_count;
	mm->alloc = cfg->alloc;
	return 0;
}

void mm_space_destroy(struct mm_space *mm)
{
	struct vma *v;

	if (!mm) {
		mm_env_report(__func__, "mm is NULL");
		return;
	}
	/* From the top: the last VMA has no right child, so no successor swap is ever needed. */
	while ((v = vma_tree_last(mm)) != NULL) {
		vma_account(mm, v->vm_flags, -(int64_t)vma_pages(v));
		vma_tree_unlink(mm, v);
		vma_free(mm, v);
	}
	mm->brk = mm->start_brk;
}

/* ---- VMA-level primitives ------------------------------------------------------------------- */

int vma_insert(struct mm_space *mm, struct vma *vma)
{
	struct vma *n, *parent = NULL, *prev = NULL, *next = NULL;
	int side = 0;
	int ret;

	if (!mm || !vma)
		return MM_INVAL("mm or vma is NULL");
	if (vma->vm_mm)
		return MM_INVAL("vma is already linked");
	if (vma->vm_start >= vma->vm_end)
		return MM_INVAL("vm_start >= vm_end");
	ret = check_fixed(mm, __func__, vma->vm_start, vma->vm_end - vma->vm_start);
	if (ret)
		return ret;
	ret = check_vm_flags(__func__, vma->vm_flags, vma->vm_file);
	if (ret)
		return ret;
	if (vma->vm_pgoff + vma_pages(vma) < vma->vm_pgoff)
		return MM_INVAL("vm_pgoff + pages overflows");

	/*
	 * One descent finds the slot and both neighbours: the last node we went right at is the
	 * previous VMA, the last one we went left at the next (the in-order neighbours of a leaf
	 * slot are always on the path to it).
	 */
	for (n = mm->vma_root; n; ) {
		/* Branch-free, one dependent load per level: see find_vma() in vma_tree.c. */
		uintptr_t lo = (uintptr_t)n->vm_child[0], hi = (uintptr_t)n->vm_child[1];

		side = n->vm_end <= vma->vm_start;
		prev = side ? n : prev;
		next = side ? next : n;
		parent = n;
		n = (struct vma *)(lo ^ ((lo ^ hi) & -(uintptr_t)side));
	}
	/* next is the first VMA ending above vm_start: the only one that can overlap. */
	if (next && next->vm_start < vma->vm_end)
		return -MM_EEXIST;
	vma_tree_link_at(mm, vma, parent, side, prev, next);
	vma_account(mm, vma->vm_flags, (int64_t)vma_pages(vma));
	return 0;
}

void vma_erase(struct mm_space *mm, struct vma *vma)
{
	if (!mm || !vma || vma->vm_mm != mm) {
		mm_env_report(__func__, "vma is NULL or not linked into this mm");
		return;
	}
	vma_tree_unlink(mm, vma);
	vma_account(mm, vma->vm_flags, -(int64_t)vma_pages(vma));
}

int vma_split(struct mm_space *mm, struct vma *vma, gva_t addr, struct vma **upper)
{
	struct vma_pool pool;

	if (!mm || !vma || !upper || vma->vm_mm != mm)
		return MM_INVAL("NULL argument or vma not linked into this mm");
	if (!MM_IS_ALIGNED(addr, MM_PAGE_SIZE))
		return MM_INVAL("addr is not page aligned");
	if (addr <= vma->vm_start || addr >= vma->vm_end)
		return MM_INVAL("addr is not strictly inside the vma");
	if (mm->map_count >= mm->max_map_count)
		return -MM_ENOMEM;
	if (pool_fill(mm, &pool, 1))
		return -MM_ENOMEM;
	*upper = pool_take(&pool);
	split_at(mm, vma, addr, *upper);
	return 0;
}

struct vma *vma_merge_neighbours(struct mm_space *mm, struct vma *vma)
{
	if (!mm || !vma || vma->vm_mm != mm)
		return mm_env_report(__func__, "vma is NULL or not linked into this mm"), NULL;
	return merge_neighbours(mm, vma);
}

/* ---- munmap ------------------------------------------------------------------------------------ */

/*
 * Remove [s, e) from every VMA: trim the one straddling s, drop the ones inside, trim the one
 * straddling e. If one VMA straddles both, its top part becomes a new VMA from the pool.
 */
static void unmap_range(struct mm_space *mm, gva_t s, gva_t e, struct vma_pool *pool)
{
	struct vma *v = vma_tree_find(mm, s);

	if (!v || v->vm_start >= e)
		return;
	if (v->vm_start < s) {
		if (v->vm_end > e)
			split_at(mm, v, e, pool_take(pool));
		vma_account(mm, v->vm_flags, -(int64_t)((v->vm_end - s) >> MM_PAGE_SHIFT));
		vma_tree_set_end(mm, v, s);
		v = vma_next(mm, v);
	}
	while (v && v->vm_end <= e) {
		struct vma *next = vma_next(mm, v);

		vma_account(mm, v->vm_flags, -(int64_t)vma_pages(v));
		vma_tree_unlink(mm, v);
		vma_free(mm, v);
		v = next;
	}
	if (v && v->vm_start < e) {
		uint64_t cut = (e - v->vm_start) >> MM_PAGE_SHIFT;

		vma_account(mm, v->vm_flags, -(int64_t)cut);
		v->vm_pgoff += cut;
		vma_tree_set_start(mm, v, e);
	}
}

int mm_munmap(struct mm_space *mm, gva_t addr, uint64_t len)
{
	struct vma_pool pool = { { NULL }, 0 };
	int ret;

	if (!mm)
		return MM_INVAL("mm is NULL");
	ret = check_range(mm, __func__, addr, len);
	if (ret)
		return ret;
	if (needs_punch(mm, addr, addr + len)) {
		if (mm->map_count >= mm->max_map_count)
			return -MM_ENOMEM;
		if (pool_fill(mm, &pool, 1))
			return -MM_ENOMEM;
	}
	unmap_range(mm, addr, addr + len, &pool);
	pool_drain(mm, &pool);
	return 0;
}

/* ---- get_unmapped_area --------------------------------------------------------------------------- */

/* Linux's hint test: [addr, addr + len) free, guard gaps of the neighbours respected. */
static bool hint_fits(const struct mm_space *mm, gva_t addr, uint64_t len)
{
	struct vma *next, *prev;

	if (addr < mm->mmap_min_addr || addr > mm->task_size - len)
		return false;
	next = vma_tree_find(mm, addr);
	prev = next ? vma_prev(mm, next) : vma_tree_last(mm);
	return (!next || addr + len <= vma_start_gap(mm, next)) &&
	       (!prev || addr >= vma_end_gap(mm, prev));
}

/* The search part of get_unmapped_area (len and align already valid). */
static int search_area(const struct mm_space *mm, gva_t hint, uint64_t len, uint64_t align,
		       gva_t *addr)
{
	struct vma_unmapped_area_info info;
	int ret;

	if (len > mm->task_size - mm->mmap_min_addr)
		return -MM_ENOMEM;
	if (hint) {
		gva_t h = MM_ALIGN_UP(hint, align);

		if (h >= hint && hint_fits(mm, h, len)) {
			*addr = h;
			return 0;
		}
	}
	info.length = len;
	info.align_mask = align - MM_PAGE_SIZE;
	info.align_offset = 0;
	if (mm->mmap_topdown) {
		info.flags = VMA_UNMAPPED_AREA_TOPDOWN;
		info.low_limit = mm->mmap_min_addr > MM_PAGE_SIZE ? mm->mmap_min_addr : MM_PAGE_SIZE;
		info.high_limit = mm->mmap_base;
		ret = vma_tree_unmapped_area(mm, &info, addr);
		if (ret != -MM_ENOMEM)
			return ret;
		/* Linux falls back to a bottom-up search from the legacy base. */
		info.flags = 0;
		info.low_limit = mm->mmap_legacy_base;
		info.high_limit = mm->task_size;
		return vma_tree_unmapped_area(mm, &info, addr);
	}
	info.flags = 0;
	info.low_limit = mm->mmap_base;
	info.high_limit = mm->task_size;
	return vma_tree_unmapped_area(mm, &info, addr);
}

int mm_get_unmapped_area(const struct mm_space *mm, gva_t hint, uint64_t len, uint64_t align,
			 uint32_t map_flags, gva_t *addr)
{
	if (!mm || !addr)
		return MM_INVAL("mm or addr is NULL");
	if (map_flags & ~(MM_MAP_FIXED | MM_MAP_FIXED_NOREPLACE))
		return MM_INVAL("unknown map_flags");
	if (len == 0 || !MM_IS_ALIGNED(len, MM_PAGE_SIZE))
		return MM_INVAL("len is zero or not page aligned");
	if (align && (align < MM_PAGE_SIZE || (align & (align - 1))))
		return MM_INVAL("align is not a power of two >= page size");
	if (map_flags) {
		int ret = check_fixed(mm, __func__, hint, len);

		if (ret)
			return ret;
		*addr = hint;
		return 0;
	}
	return search_area(mm, hint, len, align ? align : MM_PAGE_SIZE, addr);
}

/* ---- mmap ---------------------------------------------------------------------------------------- */

/*
 * Map [s, e) with the given attributes over whatever is there (MAP_FIXED semantics): unmap,
 * then merge with the VMA ending at s and/or starting at e, or link a new VMA.
 * The caller checked every limit and filled the pool (punch + 1 VMAs).
 */
static void map_fixed(struct mm_space *mm, gva_t s, gva_t e, uint64_t flags, const void *file,
		      uint64_t pgoff, struct vma_pool *pool)
{
	struct vma proto, *next, *prev;
	bool with_prev, with_next;

	unmap_range(mm, s, e, pool);
	next = vma_tree_find(mm, s);
	prev = next ? vma_prev(mm, next) : vma_tree_last(mm);
	vma_init(&proto, s, e, flags, file, pgoff);
	with_prev = mergeable(prev, &proto);
	with_next = mergeable(&proto, next);
	if (with_prev && with_next) {
		gva_t end = next->vm_end;

		prev->vm_end = end;         /* absorb next, see merge_neighbours() */
		vma_tree_unlink(mm, next);
		vma_free(mm, next);
	} else if (with_prev) {
		vma_tree_set_end(mm, prev, e);
	} else if (with_next) {
		next->vm_pgoff = pgoff;
		vma_tree_set_start(mm, next, s);
	} else {
		struct vma *v = pool_take(pool);

		vma_init(v, s, e, flags, file, pgoff);
		vma_tree_link_after(mm, v, prev);
	}
	vma_account(mm, flags, (int64_t)((e - s) >> MM_PAGE_SHIFT));
}

int mm_mmap(struct mm_space *mm, gva_t addr, uint64_t len, uint64_t vm_flags,
	    uint32_t map_flags, const void *file, uint64_t pgoff, gva_t *out)
{
	struct vma_pool pool;
	uint64_t npages;
	bool punch;
	int ret;

	if (!mm || !out)
		return MM_INVAL("mm or out is NULL");
	if (map_flags & ~(MM_MAP_FIXED | MM_MAP_FIXED_NOREPLACE))
		return MM_INVAL("unknown map_flags");
	if (len == 0 || !MM_IS_ALIGNED(len, MM_PAGE_SIZE))
		return MM_INVAL("len is zero or not page aligned");
	ret = check_vm_flags(__func__, vm_flags, file);
	if (ret)
		return ret;
	npages = len >> MM_PAGE_SHIFT;
	if (file && pgoff + npages < pgoff)
		return MM_INVAL("pgoff + pages overflows");
	if (map_flags) {
		ret = check_fixed(mm, __func__, addr, len);
		if (ret)
			return ret;
	}
	if (mm->map_count > mm->max_map_count)
		return -MM_ENOMEM;
	if (!map_flags) {
		ret = search_area(mm, addr, len, MM_PAGE_SIZE, &addr);
		if (ret)
			return ret;
	} else if (map_flags & MM_MAP_FIXED_NOREPLACE) {
		struct vma *there = vma_tree_find(mm, addr);

		if (there && there->vm_start < addr + len)
			return -MM_EEXIST;
	}
	if ((vm_flags & VM_LOCKED) &&
	    mm->locked_vm + npages > mm->rlimit_memlock >> MM_PAGE_SHIFT)
		return -MM_EAGAIN;
	if (!may_expand_vm(mm, vm_flags, npages) &&
	    !may_expand_vm(mm, vm_flags, npages - mapped_pages(mm, addr, addr + len)))
		return -MM_ENOMEM;
	punch = needs_punch(mm, addr, addr + len);
	if (punch && mm->map_count >= mm->max_map_count)
		return -MM_ENOMEM;
	if (pool_fill(mm, &pool, 1 + punch))
		return -MM_ENOMEM;

	/* Linux never keeps VM_LOCKED on special mappings. */
	if (vm_flags & VM_SPECIAL)
		vm_flags &= ~VM_LOCKED;
	if (!file)
		pgoff = addr >> MM_PAGE_SHIFT;
	map_fixed(mm, addr, addr + len, vm_flags, file, pgoff, &pool);
	pool_drain(mm, &pool);
	*out = addr;
	return 0;
}

/* ---- mprotect ----------------------------------------------------------------------------------- */

static uint64_t prot_flags(uint64_t flags, uint64_t prot)
{
	return (flags & ~VM_ACCESS_FLAGS) | prot;
}

/*
 * Check [s, e) is mapped without holes and every VMA may take prot; count the splits needed
 * (only the first and last VMA can need one, and only if their flags change) and the pages
 * that turn into data mappings.
 */
static int mprotect_plan(const struct mm_space *mm, gva_t s, gva_t e, uint64_t prot,
			 unsigned *splits, uint64_t *new_data)
{
	struct vma *first = vma_tree_find(mm, s), *v, *last = NULL;
	gva_t covered = s;

	if (!first || first->vm_start > s)
		return -MM_ENOMEM;
	*new_data = 0;
	for (v = first; v && v->vm_start < e; v = vma_next(mm, v)) {
		uint64_t nf = prot_flags(v->vm_flags, prot);

		if (v->vm_start > covered)
			return -MM_ENOMEM;
		if ((nf & ~(nf >> VM_MAY_SHIFT)) & VM_ACCESS_FLAGS)
			return -MM_EACCES;
		if (vma_is_data_mapping(nf) && !vma_is_data_mapping(v->vm_flags)) {
			gva_t lo = v->vm_start > s ? v->vm_start : s;
			gva_t hi = v->vm_end < e ? v->vm_end : e;

			*new_data += (hi - lo) >> MM_PAGE_SHIFT;
		}
		covered = v->vm_end;
		last = v;
	}
	if (covered < e)
		return -MM_ENOMEM;
	*splits = (first->vm_start < s && prot_flags(first->vm_flags, prot) != first->vm_flags) +
		  (last->vm_end > e && prot_flags(last->vm_flags, prot) != last->vm_flags);
	return 0;
}

int mm_mprotect(struct mm_space *mm, gva_t addr, uint64_t len, uint64_t prot)
{
	struct vma_pool pool;
	gva_t s = addr, e = addr + len;
	uint64_t new_data;
	unsigned splits;
	struct vma *v;
	int ret;

	if (!mm)
		return MM_INVAL("mm is NULL");
	ret = check_range(mm, __func__, addr, len);
	if (ret)
		return ret;
	if (prot & ~VM_ACCESS_FLAGS)
		return MM_INVAL("prot has bits other than VM_READ|VM_WRITE|VM_EXEC");
	ret = mprotect_plan(mm, s, e, prot, &splits, &new_data);
	if (ret)
		return ret;
	if (new_data && mm->data_vm + new_data > mm->rlimit_data >> MM_PAGE_SHIFT)
		return -MM_ENOMEM;
	if (mm->map_count + splits > mm->max_map_count)
		return -MM_ENOMEM;
	if (pool_fill(mm, &pool, splits))
		return -MM_ENOMEM;

	/*
	 * Linux mprotect_fixup() per VMA: unchanged VMAs are left alone; a changed one is cut to
	 * the range, takes the new flags and merges with its neighbours. A merge may swallow the
	 * next VMA only if that one already has the same flags, i.e. needs no change.
	 */
	for (v = vma_tree_find(mm, s); v && v->vm_start < e; v = vma_next(mm, v)) {
		uint64_t nf = prot_flags(v->vm_flags, prot);
		int64_t n;

		if (nf == v->vm_flags)
			continue;
		v = cut_to_range(mm, v, s, e, &pool);
		n = (int64_t)vma_pages(v);
		vma_account(mm, v->vm_flags, -n);
		v->vm_flags = nf;
		vma_account(mm, nf, n);
		v = merge_neighbours(mm, v);
	}
	pool_drain(mm, &pool);
	return 0;
}

/* ---- mbind --------------------------------------------------------------------------------------- */

/* [s, e) mapped without holes? Count the splits needed: only the first and last VMA can need
 * one, and only if their policy changes. */
static int policy_plan(const struct mm_space *mm, gva_t s, gva_t e, const struct vma_policy *pol,
		       unsigned *splits)
{
	struct vma *first = vma_tree_find(mm, s), *v, *last = NULL;
	gva_t covered = s;

	if (!first || first->vm_start > s)
		return -MM_EFAULT;
	for (v = first; v && v->vm_start < e; v = vma_next(mm, v)) {
		if (v->vm_start > covered)
			return -MM_EFAULT;
		covered = v->vm_end;
		last = v;
	}
	if (covered < e)
		return -MM_EFAULT;
	*splits = (first->vm_start < s && !vma_policy_equal(&first->vm_policy, pol)) +
		  (last->vm_end > e && !vma_policy_equal(&last->vm_policy, pol));
	return 0;
}

int mm_set_policy(struct mm_space *mm, gva_t addr, uint64_t len, const struct vma_policy *pol)
{
	struct vma_pool pool;
	gva_t s = addr, e = addr + len;
	unsigned splits;
	struct vma *v;
	int ret;

	if (!mm || !pol)
		return MM_INVAL("mm or pol is NULL");
	ret = check_range(mm, __func__, addr, len);
	if (ret)
		return ret;
	if (pol->mode >= NUMA_NR_POLICY_MODES)
		return MM_INVAL("pol->mode is not a numa_policy_mode");
	if (pol->reserved)
		return MM_INVAL("pol->reserved is not 0");
	if ((pol->mode == NUMA_POLICY_DEFAULT) != (pol->nodes == 0))
		return MM_INVAL("pol->nodes must be empty exactly for the default mode");
	ret = policy_plan(mm, s, e, pol, &splits);
	if (ret)
		return ret;
	if (mm->map_count + splits > mm->max_map_count)
		return -MM_ENOMEM;
	if (pool_fill(mm, &pool, splits))
		return -MM_ENOMEM;

	/* Linux mbind_range(): like mprotect_fixup, per VMA whose policy changes: cut to the
	 * range, take the policy, merge with neighbours that now match. */
	for (v = vma_tree_find(mm, s); v && v->vm_start < e; v = vma_next(mm, v)) {
		if (vma_policy_equal(&v->vm_policy, pol))
			continue;
		v = cut_to_range(mm, v, s, e, &pool);
		v->vm_policy = *pol;
		v = merge_neighbours(mm, v);
	}
	pool_drain(mm, &pool);
	return 0;
}

/* ---- Stack growth -------------------------------------------------------------------------------- */

/* Linux acct_stack_growth(): size is the stack's size after growing by grow pages. */
static int stack_growth_ok(const struct mm_space *mm, const struct vma *v, uint64_t size,
			   uint64_t grow)
{
	if (!may_expand_vm(mm, v->vm_flags, grow))
		return -MM_ENOMEM;
	if (size > mm->rlimit_stack)
		return -MM_ENOMEM;
	if ((v->vm_flags & VM_LOCKED) &&
	    mm->locked_vm + grow > mm->rlimit_memlock >> MM_PAGE_SHIFT)
		return -MM_ENOMEM;
	return 0;
}

/* Linux expand_downwards(): addr is page aligned and below v->vm_start. */
static int expand_down(struct mm_space *mm, struct vma *v, gva_t addr)
{
	struct vma *prev = vma_prev(mm, v);
	uint64_t grow = (v->vm_start - addr) >> MM_PAGE_SHIFT;
	int ret;

	if (addr < mm->mmap_min_addr)
		return -MM_ENOMEM;
	/* The guard gap applies to an accessible non-stack neighbour (prev->vm_end <= addr). */
	if (prev && !(prev->vm_flags & VM_GROWSDOWN) && (prev->vm_flags & VM_ACCESS_FLAGS) &&
	    addr - prev->vm_end < mm->stack_guard_gap)
		return -MM_ENOMEM;
	if (grow > v->vm_pgoff)
		return -MM_ENOMEM;
	ret = stack_growth_ok(mm, v, v->vm_end - addr, grow);
	if (ret)
		return ret;
	vma_account(mm, v->vm_flags, (int64_t)grow);
	v->vm_pgoff -= grow;
	vma_tree_set_start(mm, v, addr);
	return 0;
}

/* Linux expand_upwards(): the page holding addr becomes part of v (addr >= v->vm_end). */
static int expand_up(struct mm_space *mm, struct vma *v, gva_t addr)
{
	struct vma *next = vma_next(mm, v);
	gva_t end, gap_end;
	uint64_t grow;
	int ret;

	if (addr >= mm->task_size)
		return -MM_ENOMEM;
	end = addr + MM_PAGE_SIZE;
	gap_end = end + mm->stack_guard_gap;
	if (gap_end < end || gap_end > mm->task_size)
		gap_end = mm->task_size;
	/* next starts above addr (it was not found containing addr). */
	if (next && next->vm_start < gap_end && (next->vm_flags & VM_ACCESS_FLAGS) &&
	    !(next->vm_flags & VM_GROWSUP))
		return -MM_ENOMEM;
	grow = (end - v->vm_end) >> MM_PAGE_SHIFT;
	if (v->vm_pgoff + vma_pages(v) + grow < v->vm_pgoff)
		return -MM_ENOMEM;
	ret = stack_growth_ok(mm, v, end - v->vm_start, grow);
	if (ret)
		return ret;
	vma_account(mm, v->vm_flags, (int64_t)grow);
	vma_tree_set_end(mm, v, end);
	return 0;
}

int mm_expand_stack(struct mm_space *mm, gva_t addr, struct vma **vma)
{
	struct vma *v, *prev;
	int ret = -MM_EFAULT;

	if (!mm || !vma)
		return MM_INVAL("mm or vma is NULL");
	if (addr >= mm->task_size)
		return MM_INVAL("addr at or above task_size");
	addr &= MM_PAGE_MASK;
	v = vma_tree_find(mm, addr);
	if (v && v->vm_start <= addr) {
		*vma = v;
		return 0;
	}
	if (v && (v->vm_flags & VM_GROWSDOWN)) {
		ret = expand_down(mm, v, addr);
	} else {
		prev = v ? vma_prev(mm, v) : vma_tree_last(mm);
		if (prev && (prev->vm_flags & VM_GROWSUP)) {
			ret = expand_up(mm, prev, addr);
			v = prev;
		}
	}
	if (ret == 0)
		*vma = v;
	return ret;
}

/* ---- brk ---------------------------------------------------------------------------------------- */

/* Linux do_brk_flags(): [oldbrk, newbrk) is free; extend the heap VMA or start a new one. */
static void brk_grow(struct mm_space *mm, gva_t oldbrk, gva_t newbrk, struct vma_pool *pool)
{
	struct vma *next = vma_tree_find(mm, oldbrk);
	struct vma *prev = next ? vma_prev(mm, next) : vma_tree_last(mm);
	struct vma proto;

	vma_init(&proto, oldbrk, newbrk, VM_BRK_FLAGS, NULL, oldbrk >> MM_PAGE_SHIFT);
	/* Only a VMA inside the heap (ending above start_brk) is extended, never the data segment. */
	if (oldbrk > mm->start_brk && mergeable(prev, &proto)) {
		vma_tree_set_end(mm, prev, newbrk);
	} else {
		struct vma *v = pool_take(pool);

		vma_init(v, oldbrk, newbrk, VM_BRK_FLAGS, NULL, oldbrk >> MM_PAGE_SHIFT);
		vma_tree_link_after(mm, v, prev);
	}
	vma_account(mm, VM_BRK_FLAGS, (int64_t)((newbrk - oldbrk) >> MM_PAGE_SHIFT));
}

int mm_brk(struct mm_space *mm, gva_t brk)
{
	struct vma_pool pool = { { NULL }, 0 };
	gva_t oldbrk, newbrk;
	struct vma *next;

	if (!mm)
		return MM_INVAL("mm is NULL");
	if (brk < mm->start_brk)
		return MM_INVAL("brk below start_brk");
	if (brk > mm->task_size)
		return MM_INVAL("brk above task_size");
	if (brk - mm->start_brk > mm->rlimit_data)
		return -MM_ENOMEM;
	newbrk = MM_ALIGN_UP(brk, MM_PAGE_SIZE);
	oldbrk = MM_ALIGN_UP(mm->brk, MM_PAGE_SIZE);
	if (newbrk == oldbrk) {
		mm->brk = brk;
		return 0;
	}
	if (brk <= mm->brk) {
		/* Shrinking always works unless it must punch a hole and cannot. */
		if (needs_punch(mm, newbrk, oldbrk)) {
			if (mm->map_count >= mm->max_map_count || pool_fill(mm, &pool, 1))
				return -MM_ENOMEM;
		}
		unmap_range(mm, newbrk, oldbrk, &pool);
		pool_drain(mm, &pool);
		mm->brk = brk;
		return 0;
	}
	/* Linux keeps a page (plus the guard gap below a stack) free above the heap. */
	next = vma_tree_find(mm, oldbrk);
	if (next && newbrk + MM_PAGE_SIZE > vma_start_gap(mm, next))
		return -MM_ENOMEM;
	if (mm->map_count > mm->max_map_count)
		return -MM_ENOMEM;
	if (!may_expand_vm(mm, VM_BRK_FLAGS, (newbrk - oldbrk) >> MM_PAGE_SHIFT))
		return -MM_ENOMEM;
	if (pool_fill(mm, &pool, 1))
		return -MM_ENOMEM;
	brk_grow(mm, oldbrk, newbrk, &pool);
	pool_drain(mm, &pool);
	mm->brk = brk;
	return 0;
}

/* ---- /proc/PID/maps -------------------------------------------------------------------------- */

/* An output cursor that counts everything and stores what fits (keeping room for the NUL). */
struct maps_out {
	char *buf;
	size_t size;
	size_t len;
};

static void out_char(struct maps_out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_str(struct maps_out *o, const char *s)
{
	while (*s)
		out_char(o, *s++);
}

/* Lower-case hex with at least min_digits digits (Linux seq_put_hex_ll). */
static void out_hex(struct maps_out *o, uint64_t v, unsigned min_digits)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	unsigned n = 0;

	do {
		tmp[n++] = digits[v & 0xf];
		v >>= 4;
	} while (v);
	while (n < min_digits && n < sizeof(tmp))
		tmp[n++] = '0';
	while (n)
		out_char(o, tmp[--n]);
}

/* Linux show_map_vma(): "[heap]" overlapping [start_brk, brk], "[stack]" around start_stack. */
static const char *builtin_name(const struct mm_space *mm, const struct vma *v)
{
	if (v->vm_start <= mm->brk && v->vm_end >= mm->start_brk)
		return "[heap]";
	if (v->vm_start <= mm->start_stack && v->vm_end >= mm->start_stack)
		return "[stack]";
	return NULL;
}

#define MAPS_NAME_COLUMN 72     /* Linux: 25 + sizeof(void *) * 6 - 1 */

long mm_format_maps(const struct mm_space *mm, char *buf, size_t size, vma_name_fn name,
		    void *arg)
{
	struct maps_out o = { buf, size, 0 };
	const struct vma *v;

	if (!mm)
		return MM_INVAL("mm is NULL");
	if (!buf && size)
		return MM_INVAL("buf is NULL but size is not zero");
	vma_for_each(mm, v) {
		size_t line = o.len;
		const char *n = name ? name(v, arg) : NULL;

		if (!n && !v->vm_file)
			n = builtin_name(mm, v);
		out_hex(&o, v->vm_start, 8);
		out_char(&o, '-');
		out_hex(&o, v->vm_end, 8);
		out_char(&o, ' ');
		out_char(&o, v->vm_flags & VM_READ ? 'r' : '-');
		out_char(&o, v->vm_flags & VM_WRITE ? 'w' : '-');
		out_char(&o, v->vm_flags & VM_EXEC ? 'x' : '-');
		out_char(&o, v->vm_flags & VM_MAYSHARE ? 's' : 'p');
		out_char(&o, ' ');
		out_hex(&o, v->vm_file ? v->vm_pgoff << MM_PAGE_SHIFT : 0, 8);
		out_str(&o, " 00:00 0 ");
		if (n) {
			while (o.len - line < MAPS_NAME_COLUMN)
				out_char(&o, ' ');
			out_char(&o, ' ');
			out_str(&o, n);
		}
		out_char(&o, '\n');
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (long)o.len;
}
