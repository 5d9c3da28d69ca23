/*
 * vma_model.h — a deliberately naive reference model of an mm_space for the randomized unit test
 * (test_vma_model.c) and the fuzzer (tests/fuzz/fuzz_vma.c): a sorted array of VMA records,
 * every operation a linear scan or an array copy. It restates Linux's rules (munmap trims,
 * MAP_FIXED replaces then merges with the neighbours, mprotect and mm_set_policy cut changed
 * VMAs to the range and merge them (equal policies only), stack growth, gap search for the highest/lowest gap that holds
 * length + align_mask inside the limits) without sharing any code with mm/vma*.c.
 *
 * Limits (rlimits, max_map_count) are not modelled: the tests configure them out of reach.
 * Header-only (static functions) so both users compile it with their own flags.
 */
#ifndef VMA_MODEL_H
#define VMA_MODEL_H

#include <mm/vma.h>

#include <stdint.h>
#include <string.h>

#define VMODEL_MAX 8192

struct vmodel_rec {
	uint64_t start, end, flags, pgoff;
	const void *file;
	struct vma_policy pol;          /* zero: none (every new record) */
};

struct vmodel {
	struct vmodel_rec r[VMODEL_MAX];
	int n;
	uint64_t task_size, mmap_min_addr, mmap_base, legacy_base, guard, start_brk, brk;
	bool topdown;
};

static inline void vmodel_init(struct vmodel *m, const struct mm_space *mm)
{
	m->n = 0;
	m->task_size = mm->task_size;
	m->mmap_min_addr = mm->mmap_min_addr;
	m->mmap_base = mm->mmap_base;
	m->legacy_base = mm->mmap_legacy_base;
	m->guard = mm->stack_guard_gap;
	m->start_brk = m->brk = mm->start_brk;
	m->topdown = mm->mmap_topdown;
}

static inline uint64_t vmodel_pages(const struct vmodel_rec *r)
{
	return (r->end - r->start) >> MM_PAGE_SHIFT;
}

static inline bool vmodel_mergeable(const struct vmodel_rec *a, const struct vmodel_rec *b)
{
	return a->end == b->start && a->flags == b->flags && !(a->flags & VM_SPECIAL) &&
	       a->file == b->file && b->pgoff == a->pgoff + vmodel_pages(a) &&
	       a->pol.mode == b->pol.mode && a->pol.nodes == b->pol.nodes;
}

static inline uint64_t vmodel_start_gap(const struct vmodel *m, const struct vmodel_rec *r)
{
	if (!(r->flags & VM_GROWSDOWN))
		return r->start;
	return r->start >= m->guard ? r->start - m->guard : 0;
}

static inline uint64_t vmodel_end_gap(const struct vmodel *m, const struct vmodel_rec *r)
{
	if (!(r->flags & VM_GROWSUP))
		return r->end;
	return r->end + m->guard >= r->end ? r->end + m->guard : (uint64_t)0 - MM_PAGE_SIZE;
}

/* Index of the first record with end > addr (n if none). */
static inline int vmodel_find(const struct vmodel *m, uint64_t addr)
{
	int i = 0;

	while (i < m->n && m->r[i].end <= addr)
		i++;
	return i;
}

static inline void vmodel_insert_at(struct vmodel *m, int i, struct vmodel_rec rec)
{
	memmove(&m->r[i + 1], &m->r[i], (size_t)(m->n - i) * sizeof(rec));
	m->r[i] = rec;
	m->n++;
}

static inline void vmodel_remove_at(struct vmodel *m, int i)
{
	memmove(&m->r[i], &m->r[i + 1], (size_t)(m->n - i - 1) * sizeof(m->r[0]));
	m->n--;
}

/* Merge record i with i-1 and then with i+1 where allowed; returns the index covering it. */
static inline int vmodel_merge(struct vmodel *m, int i)
{
	if (i > 0 && vmodel_mergeable(&m->r[i - 1], &m->r[i])) {
		m->r[i - 1].end = m->r[i].end;
		vmodel_remove_at(m, i);
		i--;
	}
	if (i + 1 < m->n && vmodel_mergeable(&m->r[i], &m->r[i + 1])) {
		m->r[i].end = m->r[i + 1].end;
		vmodel_remove_at(m, i + 1);
	}
	return i;
}

static inline void vmodel_unmap(struct vmodel *m, uint64_t s, uint64_t e)
{
	static struct vmodel_rec out[VMODEL_MAX];
	int n = 0;

	for (int i = 0; i < m->n; i++) {
		struct vmodel_rec r = m->r[i];

		if (r.end <= s || r.start >= e) {
			out[n++] = r;
			continue;
		}
		if (r.start < s) {
			struct vmodel_rec lo = r;

			lo.end = s;
			out[n++] = lo;
		}
		if (r.end > e) {
			struct vmodel_rec hi = r;

			hi.pgoff += (e - r.start) >> MM_PAGE_SHIFT;
			hi.start = e;
			out[n++] = hi;
		}
	}
	memcpy(m->r, out, (size_t)n * sizeof(out[0]));
	m->n = n;
}

static inline void vmodel_map_fixed(struct vmodel *m, uint64_t s, uint64_t e, uint64_t flags,
				    const void *file, uint64_t pgoff)
{
	struct vmodel_rec rec = { s, e, flags, file ? pgoff : s >> MM_PAGE_SHIFT, file,
				  { 0, 0, 0 } };
	int i;

	if (flags & VM_SPECIAL)
		rec.flags &= ~VM_LOCKED;
	vmodel_unmap(m, s, e);
	i = vmodel_find(m, s);
	vmodel_insert_at(m, i, rec);
	vmodel_merge(m, i);
}

/* Does the gap [gs, ge) hold L bytes inside [low, high)? (high - low >= L checked by caller) */
static inline bool vmodel_gap_fits(uint64_t gs, uint64_t ge, uint64_t L, uint64_t low,
				   uint64_t high)
{
	uint64_t lo = gs > low ? gs : low, hi = ge < high ? ge : high;

	return hi > lo && hi - lo >= L;
}

/* vma_unmapped_area(): the lowest/highest qualifying gap. Returns 0 or -MM_ENOMEM. */
static inline int vmodel_unmapped_area(const struct vmodel *m,
				       const struct vma_unmapped_area_info *info, uint64_t *addr)
{
	uint64_t L = info->length + info->align_mask;
	bool topdown = info->flags & VMA_UNMAPPED_AREA_TOPDOWN;
	int found = -1;

	if (L < info->length || info->high_limit < L || info->high_limit - L < info->low_limit)
		return -MM_ENOMEM;
	/* Gap i lies below record i; gap n is above the last record. */
	for (int i = 0; i <= m->n; i++) {
		uint64_t gs = i ? vmodel_end_gap(m, &m->r[i - 1]) : 0;
		uint64_t ge = i < m->n ? vmodel_start_gap(m, &m->r[i]) : UINT64_MAX;

		if (vmodel_gap_fits(gs, ge, L, info->low_limit, info->high_limit)) {
			found = i;
			if (!topdown)
				break;
		}
	}
	if (found < 0)
		return -MM_ENOMEM;
	if (topdown) {
		uint64_t ge = found < m->n ? vmodel_start_gap(m, &m->r[found]) : UINT64_MAX;

		if (ge > info->high_limit)
			ge = info->high_limit;
		ge -= info->length;
		ge -= (ge - info->align_offset) & info->align_mask;
		*addr = ge;
	} else {
		uint64_t gs = found ? vmodel_end_gap(m, &m->r[found - 1]) : 0;

		if (gs < info->low_limit)
			gs = info->low_limit;
		gs += (info->align_offset - gs) & info->align_mask;
		*addr = gs;
	}
	return 0;
}

/* mm_get_unmapped_area() without MAP_FIXED; align >= page, power of two. */
static inline int vmodel_get_unmapped_area(const struct vmodel *m, uint64_t hint, uint64_t len,
					   uint64_t align, uint64_t *addr)
{
	struct vma_unmapped_area_info info = { 0, len, 0, 0, align - MM_PAGE_SIZE, 0 };
	int ret;

	if (len > m->task_size - m->mmap_min_addr)
		return -MM_ENOMEM;
	if (hint) {
		uint64_t h = (hint + align - 1) & ~(align - 1);

		if (h >= hint && h >= m->mmap_min_addr && h <= m->task_size - len) {
			/* Linux checks the guard-extended ranges of the two neighbours only. */
			int i = vmodel_find(m, h);
			bool ok = (i == m->n || h + len <= vmodel_start_gap(m, &m->r[i])) &&
				  (i == 0 || h >= vmodel_end_gap(m, &m->r[i - 1]));

			if (ok) {
				*addr = h;
				return 0;
			}
		}
	}
	if (m->topdown) {
		info.flags = VMA_UNMAPPED_AREA_TOPDOWN;
		info.low_limit = m->mmap_min_addr > MM_PAGE_SIZE ? m->mmap_min_addr : MM_PAGE_SIZE;
		info.high_limit = m->mmap_base;
		ret = vmodel_unmapped_area(m, &info, addr);
		if (ret == 0)
			return 0;
		info.flags = 0;
		info.low_limit = m->legacy_base;
		info.high_limit = m->task_size;
		return vmodel_unmapped_area(m, &info, addr);
	}
	info.low_limit = m->mmap_base;
	info.high_limit = m->task_size;
	return vmodel_unmapped_area(m, &info, addr);
}

/* mm_set_policy() on a valid range and policy. Returns 0 or -MM_EFAULT (hole). */
static inline int vmodel_set_policy(struct vmodel *m, uint64_t s, uint64_t e,
				    const struct vma_policy *pol)
{
	uint64_t covered = s;
	int i = vmodel_find(m, s);

	if (i == m->n || m->r[i].start > s)
		return -MM_EFAULT;
	for (int j = i; j < m->n && m->r[j].start < e; j++) {
		if (m->r[j].start > covered)
			return -MM_EFAULT;
		covered = m->r[j].end;
	}
	if (covered < e)
		return -MM_EFAULT;
	for (; i < m->n && m->r[i].start < e; i++) {
		if (m->r[i].pol.mode == pol->mode && m->r[i].pol.nodes == pol->nodes)
			continue;
		if (m->r[i].start < s) {
			struct vmodel_rec hi = m->r[i];

			hi.pgoff += (s - hi.start) >> MM_PAGE_SHIFT;
			hi.start = s;
			m->r[i].end = s;
			vmodel_insert_at(m, ++i, hi);
		}
		if (m->r[i].end > e) {
			struct vmodel_rec hi = m->r[i];

			hi.pgoff += (e - hi.start) >> MM_PAGE_SHIFT;
			hi.start = e;
			m->r[i].end = e;
			vmodel_insert_at(m, i + 1, hi);
		}
		m->r[i].pol = *pol;
		i = vmodel_merge(m, i);
	}
	return 0;
}

/* mm_mprotect() on a valid range. Returns 0, -MM_ENOMEM (hole) or -MM_EACCES. */
static inline int vmodel_mprotect(struct vmodel *m, uint64_t s, uint64_t e, uint64_t prot)
{
	uint64_t covered = s;
	int i = vmodel_find(m, s);

	if (i == m->n || m->r[i].start > s)
		return -MM_ENOMEM;
	for (int j = i; j < m->n && m->r[j].start < e; j++) {
		uint64_t nf = (m->r[j].flags & ~VM_ACCESS_FLAGS) | prot;

		if (m->r[j].start > covered)
			return -MM_ENOMEM;
		if ((nf & ~(nf >> VM_MAY_SHIFT)) & VM_ACCESS_FLAGS)
			return -MM_EACCES;
		covered = m->r[j].end;
	}
	if (covered < e)
		return -MM_ENOMEM;
	for (; i < m->n && m->r[i].start < e; i++) {
		uint64_t nf = (m->r[i].flags & ~VM_ACCESS_FLAGS) | prot;

		if (nf == m->r[i].flags)
			continue;
		if (m->r[i].start < s) {
			struct vmodel_rec hi = m->r[i];

			hi.pgoff += (s - hi.start) >> MM_PAGE_SHIFT;
			hi.start = s;
			m->r[i].end = s;
			vmodel_insert_at(m, ++i, hi);
		}
		if (m->r[i].end > e) {
			struct vmodel_rec hi = m->r[i];

			hi.pgoff += (e - hi.start) >> MM_PAGE_SHIFT;
			hi.start = e;
			m->r[i].end = e;
			vmodel_insert_at(m, i + 1, hi);
		}
		m->r[i].flags = nf;
		i = vmodel_merge(m, i);
	}
	return 0;
}

/* mm_expand_stack() with limits out of reach (except the pgoff underflow rule). */
static inline int vmodel_expand_stack(struct vmodel *m, uint64_t addr)
{
	int i;

	addr &= MM_PAGE_MASK;
	i = vmodel_find(m, addr);
	if (i < m->n && m->r[i].start <= addr)
		return 0;
	if (i < m->n && (m->r[i].flags & VM_GROWSDOWN)) {
		struct vmodel_rec *v = &m->r[i], *p = i ? &m->r[i - 1] : NULL;
		uint64_t grow = (v->start - addr) >> MM_PAGE_SHIFT;

		if (addr < m->mmap_min_addr)
			return -MM_ENOMEM;
		if (p && !(p->flags & VM_GROWSDOWN) && (p->flags & VM_ACCESS_FLAGS) &&
		    addr - p->end < m->guard)
			return -MM_ENOMEM;
		if (grow > v->pgoff)
			return -MM_ENOMEM;
		v->pgoff -= grow;
		v->start = addr;
		return 0;
	}
	if (i > 0 && (m->r[i - 1].flags & VM_GROWSUP)) {
		struct vmodel_rec *v = &m->r[i - 1], *nx = i < m->n ? &m->r[i] : NULL;
		uint64_t end = addr + MM_PAGE_SIZE, gap_end = end + m->guard;

		if (gap_end < end || gap_end > m->task_size)
			gap_end = m->task_size;
		if (nx && nx->start < gap_end && (nx->flags & VM_ACCESS_FLAGS) &&
		    !(nx->flags & VM_GROWSUP))
			return -MM_ENOMEM;
		v->end = end;
		return 0;
	}
	return -MM_EFAULT;
}

/* mm_brk() for brk >= start_brk, <= task_size, limits out of reach. */
static inline int vmodel_brk(struct vmodel *m, uint64_t brk)
{
	uint64_t newbrk = (brk + MM_PAGE_SIZE - 1) & MM_PAGE_MASK;
	uint64_t oldbrk = (m->brk + MM_PAGE_SIZE - 1) & MM_PAGE_MASK;
	int i;

	if (newbrk == oldbrk) {
		m->brk = brk;
		return 0;
	}
	if (brk <= m->brk) {
		vmodel_unmap(m, newbrk, oldbrk);
		m->brk = brk;
		return 0;
	}
	i = vmodel_find(m, oldbrk);
	if (i < m->n && newbrk + MM_PAGE_SIZE > vmodel_start_gap(m, &m->r[i]))
		return -MM_ENOMEM;
	{
		struct vmodel_rec rec = { oldbrk, newbrk, VM_BRK_FLAGS, oldbrk >> MM_PAGE_SHIFT,
					  NULL, { 0, 0, 0 } };

		if (oldbrk > m->start_brk && i > 0 && vmodel_mergeable(&m->r[i - 1], &rec))
			m->r[i - 1].end = newbrk;
		else
			vmodel_insert_at(m, i, rec);
	}
	m->brk = brk;
	return 0;
}

/* Sum of pages by Linux's vm_stat_account classes: [total, locked, data, exec, stack]. */
static inline void vmodel_counters(const struct vmodel *m, uint64_t c[5])
{
	memset(c, 0, 5 * sizeof(c[0]));
	for (int i = 0; i < m->n; i++) {
		uint64_t f = m->r[i].flags, n = vmodel_pages(&m->r[i]);

		c[0] += n;
		if (f & VM_LOCKED)
			c[1] += n;
		if ((f & (VM_EXEC | VM_WRITE | VM_STACK)) == VM_EXEC)
			c[3] += n;
		else if ((f & VM_STACK) == VM_STACK)
			c[4] += n;
		else if ((f & (VM_WRITE | VM_SHARED | VM_STACK)) == VM_WRITE)
			c[2] += n;
	}
}

/*
 * Compare the whole layout and the counters; returns NULL when equal, else what differs
 * (index in *where).
 */
static inline const char *vmodel_compare(const struct vmodel *m, const struct mm_space *mm,
					 int *where)
{
	const struct vma *v = vma_first(mm);
	uint64_t c[5];
	int i = 0;

	for (; i < m->n; i++, v = vma_next(mm, v)) {
		*where = i;
		if (!v)
			return "mm has fewer VMAs than the model";
		if (v->vm_start != m->r[i].start || v->vm_end != m->r[i].end)
			return "VMA range differs";
		if (v->vm_flags != m->r[i].flags)
			return "VMA flags differ";
		if (v->vm_pgoff != m->r[i].pgoff)
			return "VMA pgoff differs";
		if (v->vm_file != m->r[i].file)
			return "VMA backing differs";
		if (!vma_policy_equal(&v->vm_policy, &m->r[i].pol))
			return "VMA policy differs";
	}
	*where = i;
	if (v)
		return "mm has more VMAs than the model";
	vmodel_counters(m, c);
	if (c[0] != mm->total_vm || c[1] != mm->locked_vm || c[2] != mm->data_vm ||
	    c[3] != mm->exec_vm || c[4] != mm->stack_vm)
		return "counters differ";
	if (m->brk != mm->brk)
		return "brk differs";
	return NULL;
}

/* ---- Harness: the real mm_space and the model driven by the same decoded operations ---- */

#include <stdio.h>
#include <stdlib.h>

struct vharness {
	struct mm_space mm;
	struct vmodel m;
	long live;                  /* VMAs obtained from the allocator and not yet freed */
	unsigned fail_every;        /* allocator fails every fail_every-th call; 0 = never */
	unsigned alloc_calls, alloc_failed;
	uint64_t ops;
	char msg[512];
};

static struct vma *vharness_alloc(void *ctx)
{
	struct vharness *h = ctx;
	struct vma *v;

	h->alloc_calls++;
	if (h->fail_every && h->alloc_calls % h->fail_every == 0) {
		h->alloc_failed++;
		return NULL;
	}
	v = malloc(sizeof(*v));
	if (v)
		h->live++;
	return v;
}

static void vharness_free(void *ctx, struct vma *v)
{
	struct vharness *h = ctx;

	h->live--;
	free(v);
}

/*
 * A small address space so that operations collide: 2048 pages, mmap_min_addr 16 pages,
 * mmap_base at 1792 pages, legacy base 512 pages, brk at 256 pages, guard gap 8 pages.
 */
/* A harness over a space of task_pages pages (>= 2048; the layout below assumes that). */
static inline int vharness_init_sized(struct vharness *h, bool topdown, unsigned fail_every,
				      uint64_t task_pages)
{
	struct mm_space_config cfg;

	memset(h, 0, sizeof(*h));
	mm_space_default_config(&cfg);
	cfg.task_size = task_pages * MM_PAGE_SIZE;
	cfg.mmap_min_addr = 16 * MM_PAGE_SIZE;
	cfg.mmap_base = 1792 * MM_PAGE_SIZE;
	cfg.mmap_legacy_base = 512 * MM_PAGE_SIZE;
	cfg.mmap_topdown = topdown;
	cfg.start_brk = 256 * MM_PAGE_SIZE;
	cfg.stack_guard_gap = 8 * MM_PAGE_SIZE;
	cfg.rlimit_stack = MM_RLIM_INFINITY;
	cfg.rlimit_memlock = MM_RLIM_INFINITY;
	cfg.max_map_count = UINT64_MAX;
	cfg.alloc.alloc = vharness_alloc;
	cfg.alloc.free = vharness_free;
	cfg.alloc.ctx = h;
	h->fail_every = fail_every;
	if (mm_space_init(&h->mm, &cfg))
		return -1;
	vmodel_init(&h->m, &h->mm);
	return 0;
}

static inline int vharness_init(struct vharness *h, bool topdown, unsigned fail_every)
{
	return vharness_init_sized(h, topdown, fail_every, 2048);
}

static inline void vharness_destroy(struct vharness *h)
{
	mm_space_destroy(&h->mm);
}

static const char vharness_file_a, vharness_file_b;

/* Flag combinations the operations draw from (all valid for mmap). */
static const uint64_t vharness_flags[] = {
	VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC,
	VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC,
	VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC,
	VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC,
	VM_READ | VM_MAYREAD,                                   /* mprotect +W/+X: -EACCES */
	VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_GROWSDOWN,
	VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_GROWSUP,
	VM_READ | VM_WRITE | VM_SHARED | VM_MAYSHARE | VM_MAYREAD | VM_MAYWRITE,
	VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_LOCKED,
	VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_DONTEXPAND | VM_LOCKED,
	VM_NONE | VM_MAYREAD | VM_MAYWRITE,
};

#define VH_FAIL(h, ...) (snprintf((h)->msg, sizeof((h)->msg), __VA_ARGS__), (h)->msg)

static inline uint64_t vh_pages(const struct vharness *h)
{
	return h->mm.task_size >> MM_PAGE_SHIFT;
}

/* An address mostly inside the space, page aligned. */
static inline uint64_t vh_addr(const struct vharness *h, uint64_t r)
{
	return (r % vh_pages(h)) << MM_PAGE_SHIFT;
}

/* 1..16 pages mostly, sometimes up to 256. */
static inline uint64_t vh_len(uint64_t r)
{
	return ((r & 7) ? 1 + (r >> 3) % 16 : 1 + (r >> 3) % 256) << MM_PAGE_SHIFT;
}

static inline struct vma *vh_nth(const struct vharness *h, int j)
{
	struct vma *v = vma_first(&h->mm);

	while (v && j--)
		v = vma_next(&h->mm, v);
	return v;
}

/* Compare vma_find / vma_lookup / vma_find_intersection at addresses derived from r. */
static inline const char *vharness_check_lookups(struct vharness *h, uint64_t r)
{
	for (int k = 0; k < 4; k++) {
		uint64_t addr = (r % h->mm.task_size) & ~(uint64_t)(k & 1 ? 0 : 0xfff);
		uint64_t end = addr + 1 + (r >> 7) % (64 * MM_PAGE_SIZE);
		int i = vmodel_find(&h->m, addr);
		const struct vma *v = vma_find(&h->mm, addr), *x;

		r = r * 6364136223846793005ull + 1442695040888963407ull;
		if ((i == h->m.n) != (v == NULL) ||
		    (v && (v->vm_start != h->m.r[i].start || v->vm_end != h->m.r[i].end)))
			return VH_FAIL(h, "find_vma(%#llx) differs from the model",
				       (unsigned long long)addr);
		x = vma_lookup(&h->mm, addr);
		if (x != (v && v->vm_start <= addr ? v : NULL))
			return VH_FAIL(h, "vma_lookup(%#llx) wrong", (unsigned long long)addr);
		x = vma_find_intersection(&h->mm, addr, end);
		if (x != (v && v->vm_start < end ? v : NULL))
			return VH_FAIL(h, "vma_find_intersection(%#llx, %#llx) wrong",
				       (unsigned long long)addr, (unsigned long long)end);
	}
	return NULL;
}

static inline const char *vharness_compare(struct vharness *h)
{
	int where;
	const char *d = vmodel_compare(&h->m, &h->mm, &where);

	if (d)
		return VH_FAIL(h, "after op %llu: %s at VMA #%d", (unsigned long long)h->ops, d,
			       where);
	if (vma_check(&h->mm))
		return VH_FAIL(h, "after op %llu: vma_check failed", (unsigned long long)h->ops);
	return NULL;
}

enum {
	VOP_MMAP, VOP_MMAP_HINT, VOP_MMAP_FIXED, VOP_MMAP_NOREPLACE, VOP_MUNMAP, VOP_MPROTECT,
	VOP_MPROTECT2, VOP_STACK, VOP_BRK, VOP_GAP, VOP_GUA, VOP_SPLIT, VOP_MERGE, VOP_ERASE,
	VOP_INSERT, VOP_BAD, VOP_POLICY, VOP_COUNT
};

static inline int vh_mmap_model(struct vharness *h, uint64_t addr, uint64_t len, uint32_t mf,
				uint64_t flags, const void *file, uint64_t pgoff, uint64_t *out)
{
	struct vmodel *m = &h->m;

	if (mf) {
		int i = vmodel_find(m, addr);

		if ((mf & MM_MAP_FIXED_NOREPLACE) && i < m->n && m->r[i].start < addr + len)
			return -MM_EEXIST;
	} else {
		int ret = vmodel_get_unmapped_area(m, addr, len, MM_PAGE_SIZE, &addr);

		if (ret)
			return ret;
	}
	vmodel_map_fixed(m, addr, addr + len, flags, file, pgoff);
	*out = addr;
	return 0;
}

/* Run one operation decoded from r[0..3] on both; NULL if they agree. */
static inline const char *vharness_step(struct vharness *h, const uint64_t r[4])
{
	struct mm_space *mm = &h->mm;
	struct vmodel *m = &h->m;
	unsigned kind = (unsigned)(r[0] % VOP_COUNT);
	unsigned failed_before = h->alloc_failed;
	uint64_t addr = vh_addr(h, r[1]), len = vh_len(r[2]);
	int ret = 0, mret = 0;
	bool model_done = false;
	uint64_t out = 0, mout = 0;

	h->ops++;
	switch (kind) {
	case VOP_MMAP:
	case VOP_MMAP_HINT:
	case VOP_MMAP_FIXED:
	case VOP_MMAP_NOREPLACE: {
		uint64_t flags = vharness_flags[(r[3] >> 8) % MM_ARRAY_SIZE(vharness_flags)];
		const void *file = (r[3] & 3) == 0 ? NULL :
				   (r[3] & 3) == 1 ? (const void *)&vharness_file_a :
				   (r[3] & 3) == 2 ? (const void *)&vharness_file_b : NULL;
		uint64_t pgoff = (r[3] >> 4) & 1 ? addr >> MM_PAGE_SHIFT : (r[3] >> 16) % 64;
		uint32_t mf = kind == VOP_MMAP_FIXED ? MM_MAP_FIXED :
			      kind == VOP_MMAP_NOREPLACE ? MM_MAP_FIXED_NOREPLACE : 0;

		if ((flags & VM_SHARED) && !file)
			file = &vharness_file_a;
		if (kind == VOP_MMAP)
			addr = 0;
		if (mf && (addr < mm->mmap_min_addr || addr + len > mm->task_size))
			addr = mm->mmap_min_addr + (addr % (mm->task_size - mm->mmap_min_addr - len + 1) &
						    MM_PAGE_MASK);
		ret = mm_mmap(mm, addr, len, flags, mf, file, pgoff, &out);
		if (ret == -MM_ENOMEM && h->alloc_failed != failed_before)
			break;
		mret = vh_mmap_model(h, addr, len, mf, flags, file, pgoff, &mout);
		model_done = true;
		if (!ret && !mret && out != mout)
			return VH_FAIL(h, "op %llu mmap at %#llx, model %#llx",
				       (unsigned long long)h->ops, (unsigned long long)out,
				       (unsigned long long)mout);
		break;
	}
	case VOP_MUNMAP:
		if (addr + len > mm->task_size)
			len = mm->task_size - addr;
		if (!len)
			len = MM_PAGE_SIZE, addr -= MM_PAGE_SIZE;
		ret = mm_munmap(mm, addr, len);
		if (ret == -MM_ENOMEM && h->alloc_failed != failed_before)
			break;
		vmodel_unmap(m, addr, addr + len);
		model_done = true;
		break;
	case VOP_MPROTECT:
	case VOP_MPROTECT2: {
		uint64_t prot = r[3] & VM_ACCESS_FLAGS;

		/* Half the time cover an existing VMA exactly-ish so that the call succeeds. */
		if (kind == VOP_MPROTECT2 && m->n) {
			const struct vmodel_rec *x = &m->r[r[3] % (uint64_t)m->n];
			uint64_t pages = vmodel_pages(x);
			uint64_t lo = (r[1] % pages), hi = lo + 1 + (r[2] % (pages - lo + 2));

			addr = x->start + (lo << MM_PAGE_SHIFT);
			len = (hi - lo) << MM_PAGE_SHIFT;
		}
		if (addr + len > mm->task_size)
			len = mm->task_size - addr;
		if (!len)
			len = MM_PAGE_SIZE, addr -= MM_PAGE_SIZE;
		ret = mm_mprotect(mm, addr, len, prot);
		if (ret == -MM_ENOMEM && h->alloc_failed != failed_before)
			break;
		mret = vmodel_mprotect(m, addr, addr + len, prot);
		model_done = true;
		break;
	}
	case VOP_POLICY: {
		/* Few distinct policies, so equal neighbours (and merges) are common. */
		static const struct vma_policy pols[] = {
			{ 0, 0, 0 }, { 1, 0, 1 }, { 1, 0, 2 }, { 3, 0, 3 },
		};
		const struct vma_policy *pol = &pols[r[3] % MM_ARRAY_SIZE(pols)];

		/* Half the time inside an existing VMA, so that the call succeeds. */
		if ((r[3] & 0x10) && m->n) {
			const struct vmodel_rec *x = &m->r[(r[3] >> 8) % (uint64_t)m->n];
			uint64_t pages = vmodel_pages(x);
			uint64_t lo = (r[1] % pages), hi = lo + 1 + (r[2] % (pages - lo + 2));

			addr = x->start + (lo << MM_PAGE_SHIFT);
			len = (hi - lo) << MM_PAGE_SHIFT;
		}
		if (addr + len > mm->task_size)
			len = mm->task_size - addr;
		if (!len)
			len = MM_PAGE_SIZE, addr -= MM_PAGE_SIZE;
		ret = mm_set_policy(mm, addr, len, pol);
		if (ret == -MM_ENOMEM && h->alloc_failed != failed_before)
			break;
		mret = vmodel_set_policy(m, addr, addr + len, pol);
		model_done = true;
		break;
	}
	case VOP_STACK: {
		struct vma *v = NULL;

		/* Aim just below a random VMA (often a stack) or above one (GROWSUP). */
		if (m->n) {
			const struct vmodel_rec *x = &m->r[r[3] % (uint64_t)m->n];
			uint64_t d = ((r[2] % 24) + 1) << MM_PAGE_SHIFT;

			addr = r[3] & 0x100 ? x->end + d - MM_PAGE_SIZE + (r[1] & 0xfff) :
					      x->start - d + (r[1] & 0xfff);
			if (addr >= mm->task_size)
				addr = mm->task_size - 1;
		}
		ret = mm_expand_stack(mm, addr, &v);
		mret = vmodel_expand_stack(m, addr);
		model_done = true;
		if (!ret && (!v || v->vm_start > addr || v->vm_end <= addr))
			return VH_FAIL(h, "op %llu expand_stack returned a VMA not covering %#llx",
				       (unsigned long long)h->ops, (unsigned long long)addr);
		break;
	}
	case VOP_BRK: {
		uint64_t brk = m->start_brk + r[1] % (96 * MM_PAGE_SIZE);

		ret = mm_brk(mm, brk);
		if (ret == -MM_ENOMEM && h->alloc_failed != failed_before)
			break;
		mret = vmodel_brk(m, brk);
		model_done = true;
		break;
	}
	case VOP_GAP: {
		struct vma_unmapped_area_info info;
		uint64_t a = vh_addr(h, r[1]), b = vh_addr(h, r[2]);

		info.flags = r[3] & 1 ? VMA_UNMAPPED_AREA_TOPDOWN : 0;
		info.length = vh_len(r[3] >> 1);
		info.low_limit = a < b ? a : b;
		info.high_limit = a < b ? b : a;
		if (r[3] & 0x200)
			info.high_limit = mm->task_size;
		info.align_mask = ((UINT64_C(1) << ((r[3] >> 12) % 6)) - 1) << MM_PAGE_SHIFT;
		info.align_offset = ((r[3] >> 20) % 64) << MM_PAGE_SHIFT;
		ret = vma_unmapped_area(mm, &info, &out);
		mret = vmodel_unmapped_area(m, &info, &mout);
		if (!ret && !mret && out != mout)
			return VH_FAIL(h, "op %llu unmapped_area(%s len %#llx [%#llx,%#llx) mask %#llx) = %#llx, model %#llx",
				       (unsigned long long)h->ops, info.flags ? "topdown" : "bottomup",
				       (unsigned long long)info.length,
				       (unsigned long long)info.low_limit,
				       (unsigned long long)info.high_limit,
				       (unsigned long long)info.align_mask, (unsigned long long)out,
				       (unsigned long long)mout);
		model_done = true;
		break;
	}
	case VOP_GUA: {
		uint64_t align = MM_PAGE_SIZE << ((r[3] >> 2) % 6);
		uint64_t hint = r[3] & 1 ? addr + (r[2] & 0xfff) : 0;

		ret = mm_get_unmapped_area(mm, hint, len, align, 0, &out);
		mret = vmodel_get_unmapped_area(m, hint, len, align, &mout);
		if (!ret && !mret && out != mout)
			return VH_FAIL(h, "op %llu get_unmapped_area(hint %#llx len %#llx align %#llx) = %#llx, model %#llx",
				       (unsigned long long)h->ops, (unsigned long long)hint,
				       (unsigned long long)len, (unsigned long long)align,
				       (unsigned long long)out, (unsigned long long)mout);
		model_done = true;
		break;
	}
	case VOP_SPLIT: {
		int j = m->n ? (int)(r[3] % (uint64_t)m->n) : 0;
		struct vma *v = vh_nth(h, j), *up = NULL;
		uint64_t pages;

		if (!v || (pages = vma_pages(v)) < 2)
			return vharness_check_lookups(h, r[1]);
		addr = v->vm_start + ((1 + r[1] % (pages - 1)) << MM_PAGE_SHIFT);
		ret = vma_split(mm, v, addr, &up);
		if (ret == -MM_ENOMEM && h->alloc_failed != failed_before)
			break;
		if (!ret) {
			struct vmodel_rec hi = m->r[j];

			hi.pgoff += (addr - hi.start) >> MM_PAGE_SHIFT;
			hi.start = addr;
			m->r[j].end = addr;
			vmodel_insert_at(m, j + 1, hi);
		}
		model_done = true;
		mret = ret;
		break;
	}
	case VOP_MERGE: {
		int j = m->n ? (int)(r[3] % (uint64_t)m->n) : 0;
		struct vma *v = vh_nth(h, j);

		if (!v)
			return vharness_check_lookups(h, r[1]);
		v = vma_merge_neighbours(mm, v);
		j = vmodel_merge(m, j);
		model_done = true;
		if (!v || v->vm_start != m->r[j].start)
			return VH_FAIL(h, "op %llu merge returned the wrong VMA",
				       (unsigned long long)h->ops);
		break;
	}
	case VOP_ERASE: {
		int j = m->n ? (int)(r[3] % (uint64_t)m->n) : 0;
		struct vma *v = vh_nth(h, j);

		if (!v || (r[2] & 3))       /* rarer than the other operations */
			return vharness_check_lookups(h, r[1]);
		vma_erase(mm, v);
		vharness_free(h, v);
		vmodel_remove_at(m, j);
		model_done = true;
		break;
	}
	case VOP_INSERT: {
		struct vma *v = malloc(sizeof(*v));
		int i;

		if (!v)
			return "out of host memory";
		h->live++;
		if (addr < mm->mmap_min_addr)
			addr += mm->mmap_min_addr;
		if (addr >= mm->task_size)
			addr = mm->mmap_min_addr;
		if (addr + len > mm->task_size)
			len = mm->task_size - addr;
		memset(v, 0, sizeof(*v));
		v->vm_start = addr;
		v->vm_end = addr + len;
		v->vm_flags = vharness_flags[(r[3] >> 8) % MM_ARRAY_SIZE(vharness_flags)];
		v->vm_file = (v->vm_flags & VM_SHARED) ? &vharness_file_b : NULL;
		v->vm_pgoff = addr >> MM_PAGE_SHIFT;
		ret = vma_insert(mm, v);
		i = vmodel_find(m, addr);
		if (len == 0) {
			mret = -MM_EINVAL;
		} else if (i < m->n && m->r[i].start < addr + len) {
			mret = -MM_EEXIST;
		} else {
			struct vmodel_rec rec = { addr, addr + len, v->vm_flags, v->vm_pgoff,
						  v->vm_file, v->vm_policy };

			vmodel_insert_at(m, i, rec);
		}
		if (ret)
			vharness_free(h, v);
		model_done = true;
		break;
	}
	case VOP_BAD: {
		/* Unaligned or empty: every entry point must refuse with -MM_EINVAL. */
		uint64_t bad = addr | (1 + (r[3] & 0xffe));

		switch (r[3] >> 12 & 3) {
		case 0: ret = mm_munmap(mm, bad, len); break;
		case 1: ret = mm_mprotect(mm, addr, 0, VM_READ); break;
		case 2: ret = mm_mmap(mm, bad, len, vharness_flags[1], MM_MAP_FIXED, NULL, 0, &out);
			break;
		default: ret = mm_munmap(mm, addr, len | 0x10); break;
		}
		mret = -MM_EINVAL;
		model_done = true;
		break;
	}
	}
	if (!model_done) {
		/* The operation failed for lack of VMA objects: it must have changed nothing. */
		char what[160];
		const char *d = vharness_compare(h);

		if (!d)
			return NULL;
		snprintf(what, sizeof(what), "%.150s", d);
		return VH_FAIL(h, "op %llu (kind %u) failed to allocate and changed the space: %s",
			       (unsigned long long)h->ops, kind, what);
	}
	if (ret != mret)
		return VH_FAIL(h, "op %llu (kind %u, addr %#llx len %#llx): mm returned %d, model %d",
			       (unsigned long long)h->ops, kind, (unsigned long long)addr,
			       (unsigned long long)len, ret, mret);
	return vharness_check_lookups(h, r[1] ^ r[2]);
}

#endif /* VMA_MODEL_H */
