/*
 * Unit tests for mm/vma.h: argument checking, limits, allocation failure, the checker, then the
 * split/merge scenarios of Linux's tools/testing/vma, stack growth, gap search, brk, counters,
 * lookups, the maps formatter and tree balance.
 *
 * Layout diagrams: one column per page starting at BASE; CHECK_LAYOUT(mm, "AAB..C") renders the
 * VMAs intersecting the window with letters in address order ('A' the first, 'B' the next, ...)
 * and '.' for unmapped pages, so each diagram in a comment is checked literally.
 */
#include <mm/vma.h>
#include <mm/env.h>

#include <stdlib.h>

#include "mvtest.h"

#define PG(n)  ((gva_t)(n) << MM_PAGE_SHIFT)
#define BASE   UINT64_C(0x40000000)
#define AT(c)  (BASE + PG(c))            /* address of diagram column c */

/* Common flag sets: what mmap with PROT_* and MAP_PRIVATE gives (all VM_MAY* set). */
#define MAY    (VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC)
#define F_R    (VM_READ | MAY)
#define F_RW   (VM_READ | VM_WRITE | MAY)
#define F_RX   (VM_READ | VM_EXEC | MAY)
#define F_NONE (MAY)

/* ---- Test allocator: malloc with a live count and a programmable failure ------------------- */

struct talloc {
	long live;          /* VMAs handed out and not returned */
	long calls;         /* alloc calls so far */
	long fail_at;       /* fail the call with this number (calls + 1 == fail_at); 0 = never */
};

static struct vma *t_alloc(void *ctx)
{
	struct talloc *t = ctx;
	struct vma *v;

	if (++t->calls == t->fail_at)
		return NULL;
	v = malloc(sizeof(*v));
	if (v)
		t->live++;
	return v;
}

static void t_free(void *ctx, struct vma *v)
{
	struct talloc *t = ctx;

	t->live--;
	free(v);
}

static void config(struct mm_space_config *cfg, struct talloc *t)
{
	mm_space_default_config(cfg);
	cfg->alloc.alloc = t_alloc;
	cfg->alloc.free = t_free;
	cfg->alloc.ctx = t;
}

static void setup(struct mm_space *mm, struct talloc *t)
{
	struct mm_space_config cfg;

	*t = (struct talloc){ 0, 0, 0 };
	config(&cfg, t);
	CHECK_EQ(mm_space_init(mm, &cfg), 0);
}

static void teardown(struct mm_space *mm, struct talloc *t)
{
	CHECK_EQ(vma_check(mm), 0);
	mm_space_destroy(mm);
	CHECK_EQ(mm->map_count, 0);
	CHECK_EQ(mm->total_vm, 0);
	CHECK_EQ(t->live, 0);
}

/* mmap at a fixed diagram column range [c0, c1). */
static int map(struct mm_space *mm, int c0, int c1, uint64_t flags)
{
	gva_t out = 0;
	int ret = mm_mmap(mm, AT(c0), PG(c1 - c0), flags, MM_MAP_FIXED, NULL, 0, &out);

	if (ret == 0)
		CHECK_EQ_U(out, AT(c0));
	return ret;
}

static int map_file(struct mm_space *mm, int c0, int c1, uint64_t flags, const void *file,
		    uint64_t pgoff)
{
	gva_t out = 0;

	return mm_mmap(mm, AT(c0), PG(c1 - c0), flags, MM_MAP_FIXED, file, pgoff, &out);
}

static struct vma *at(struct mm_space *mm, int c)
{
	return vma_lookup(mm, AT(c));
}

/* Render [BASE, BASE + strlen(expect) pages) as letters and compare. */
static void check_layout_(const char *file, int line, struct mm_space *mm, const char *expect)
{
	char got[128];
	size_t n = strlen(expect);
	struct vma *v = vma_find(mm, BASE);
	char letter = 'A';

	if (n >= sizeof(got))
		mvt_fail(file, line, "layout string too long");
	memset(got, '.', n);
	got[n] = '\0';
	for (; v && v->vm_start < BASE + PG(n); v = vma_next(mm, v), letter++)
		for (size_t c = 0; c < n; c++)
			if (AT(c) >= v->vm_start && AT(c) < v->vm_end)
				got[c] = letter;
	if (strcmp(got, expect) != 0)
		mvt_fail(file, line, "layout \"%s\", expected \"%s\"", got, expect);
	if (vma_check(mm) != 0)
		mvt_fail(file, line, "vma_check failed: %s", mvt_last_report());
}
#define CHECK_LAYOUT(mm, s) check_layout_(__FILE__, __LINE__, (mm), (s))

/* Snapshot of everything visible, for "nothing changed" checks. */
struct snap {
	char maps[4096];
	uint64_t c[6];
};

static void take(struct mm_space *mm, struct snap *s)
{
	CHECK_LT(mm_format_maps(mm, s->maps, sizeof(s->maps), NULL, NULL), (long)sizeof(s->maps));
	s->c[0] = mm->total_vm;
	s->c[1] = mm->locked_vm;
	s->c[2] = mm->data_vm;
	s->c[3] = mm->exec_vm;
	s->c[4] = mm->stack_vm;
	s->c[5] = mm->map_count;
}

static void check_unchanged_(const char *file, int line, struct mm_space *mm,
			     const struct snap *before)
{
	struct snap now;

	take(mm, &now);
	if (strcmp(now.maps, before->maps) != 0)
		mvt_fail(file, line, "layout changed:\n%s\nwas:\n%s", now.maps, before->maps);
	if (memcmp(now.c, before->c, sizeof(now.c)) != 0)
		mvt_fail(file, line, "counters changed");
	if (vma_check(mm) != 0)
		mvt_fail(file, line, "vma_check failed: %s", mvt_last_report());
}
#define CHECK_UNCHANGED(mm, s) check_unchanged_(__FILE__, __LINE__, (mm), (s))

/* ======================================= error cases ======================================= */

TEST(init_rejects_bad_config)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };

	config(&cfg, &t);
	CHECK_EQ(mm_space_init(NULL, &cfg), -MM_EINVAL);
	CHECK_REPORTED("NULL");
	cfg.alloc.free = NULL;
	CHECK_EQ(mm_space_init(&mm, &cfg), -MM_EINVAL);
	CHECK_REPORTED("allocator");
	config(&cfg, &t);
	cfg.task_size += 1;
	CHECK_EQ(mm_space_init(&mm, &cfg), -MM_EINVAL);
	CHECK_REPORTED("task_size");
	config(&cfg, &t);
	cfg.stack_guard_gap = 100;
	CHECK_EQ(mm_space_init(&mm, &cfg), -MM_EINVAL);
	CHECK_REPORTED("not page aligned");
	config(&cfg, &t);
	cfg.mmap_base = cfg.task_size + MM_PAGE_SIZE;
	CHECK_EQ(mm_space_init(&mm, &cfg), -MM_EINVAL);
	CHECK_REPORTED("mmap_base");
	config(&cfg, &t);
	cfg.start_brk = cfg.task_size;
	CHECK_EQ(mm_space_init(&mm, &cfg), -MM_EINVAL);
	CHECK_REPORTED("start_brk");
	config(&cfg, &t);
	cfg.max_map_count = 0;
	CHECK_EQ(mm_space_init(&mm, &cfg), -MM_EINVAL);
	CHECK_REPORTED("max_map_count");
}

TEST(mmap_rejects_bad_arguments)
{
	struct mm_space mm;
	struct talloc t;
	gva_t out;
	static const char file;

	setup(&mm, &t);
	CHECK_EQ(mm_mmap(&mm, AT(0) + 1, PG(1), F_RW, MM_MAP_FIXED, NULL, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("addr is not page aligned");
	CHECK_EQ(mm_mmap(&mm, AT(0), 0, F_RW, MM_MAP_FIXED, NULL, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("len is zero");
	CHECK_EQ(mm_mmap(&mm, AT(0), 100, F_RW, MM_MAP_FIXED, NULL, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("not page aligned");
	CHECK_EQ(mm_mmap(&mm, UINT64_MAX & MM_PAGE_MASK, PG(2), F_RW, MM_MAP_FIXED, NULL, 0, &out),
		 -MM_EINVAL);
	CHECK_REPORTED("overflows");
	CHECK_EQ(mm_mmap(&mm, mm.task_size - PG(1), PG(2), F_RW, MM_MAP_FIXED, NULL, 0, &out),
		 -MM_EINVAL);
	CHECK_REPORTED("beyond task_size");
	CHECK_EQ(mm_mmap(&mm, PG(1), PG(1), F_RW, MM_MAP_FIXED, NULL, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("below mmap_min_addr");
	CHECK_EQ(mm_mmap(&mm, AT(0), PG(1), F_RW | (UINT64_C(1) << 40), MM_MAP_FIXED, NULL, 0, &out),
		 -MM_EINVAL);
	CHECK_REPORTED("unknown bits in vm_flags");
	CHECK_EQ(mm_mmap(&mm, AT(0), PG(1), F_RW, 0x2, NULL, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("unknown map_flags");
	CHECK_EQ(mm_mmap(&mm, AT(0), PG(1), VM_READ | VM_WRITE | VM_MAYREAD, MM_MAP_FIXED, NULL, 0,
			 &out), -MM_EINVAL);
	CHECK_REPORTED("without its VM_MAY");
	CHECK_EQ(mm_mmap(&mm, AT(0), PG(1), F_RW | VM_SHARED, MM_MAP_FIXED, &file, 0, &out),
		 -MM_EINVAL);
	CHECK_REPORTED("VM_SHARED without VM_MAYSHARE");
	CHECK_EQ(mm_mmap(&mm, AT(0), PG(1), F_RW | VM_SHARED | VM_MAYSHARE, MM_MAP_FIXED, NULL, 0,
			 &out), -MM_EINVAL);
	CHECK_REPORTED("without a backing object");
	CHECK_EQ(mm_mmap(&mm, AT(0), PG(1), F_RW | VM_GROWSDOWN | VM_GROWSUP, MM_MAP_FIXED, NULL, 0,
			 &out), -MM_EINVAL);
	CHECK_REPORTED("both VM_GROWSDOWN and VM_GROWSUP");
	CHECK_EQ(mm_mmap(&mm, AT(0), PG(2), F_RW, MM_MAP_FIXED, &file, UINT64_MAX, &out),
		 -MM_EINVAL);
	CHECK_REPORTED("pgoff");
	CHECK_EQ(mm_mmap(NULL, AT(0), PG(1), F_RW, MM_MAP_FIXED, NULL, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("NULL");
	CHECK_EQ(mm.map_count, 0);
	teardown(&mm, &t);
}

TEST(munmap_rejects_bad_ranges)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(mm_munmap(&mm, AT(0) + 8, PG(1)), -MM_EINVAL);
	CHECK_REPORTED("addr is not page aligned");
	CHECK_EQ(mm_munmap(&mm, AT(0), 0), -MM_EINVAL);
	CHECK_REPORTED("len is zero");
	CHECK_EQ(mm_munmap(&mm, AT(0), PG(1) + 1), -MM_EINVAL);
	CHECK_REPORTED("len is not page aligned");
	CHECK_EQ(mm_munmap(&mm, mm.task_size, PG(1)), -MM_EINVAL);
	CHECK_REPORTED("beyond task_size");
	CHECK_EQ(mm_munmap(&mm, PG(4), UINT64_MAX & MM_PAGE_MASK), -MM_EINVAL);
	CHECK_REPORTED("overflows");
	/* Unmapping nothing is fine (Linux). */
	CHECK_EQ(mm_munmap(&mm, AT(0), PG(4)), 0);
	teardown(&mm, &t);
}

TEST(mprotect_rejects_bad_arguments)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 4, F_RW), 0);
	CHECK_EQ(mm_mprotect(&mm, AT(0) + 1, PG(1), VM_READ), -MM_EINVAL);
	CHECK_REPORTED("addr is not page aligned");
	CHECK_EQ(mm_mprotect(&mm, AT(0), 0, VM_READ), -MM_EINVAL);
	CHECK_REPORTED("len is zero");
	CHECK_EQ(mm_mprotect(&mm, AT(0), 17, VM_READ), -MM_EINVAL);
	CHECK_REPORTED("len is not page aligned");
	CHECK_EQ(mm_mprotect(&mm, AT(0), PG(1), VM_READ | VM_SHARED), -MM_EINVAL);
	CHECK_REPORTED("prot has bits");
	CHECK_EQ(mm_mprotect(&mm, mm.task_size - PG(1), PG(2), VM_READ), -MM_EINVAL);
	CHECK_REPORTED("beyond task_size");
	CHECK_LAYOUT(&mm, "AAAA");
	CHECK_EQ_U(at(&mm, 0)->vm_flags, F_RW);
	teardown(&mm, &t);
}

/*
 *  0123
 *  AAAA     read-only mapping without VM_MAYWRITE (a file opened read-only)
 *  mprotect(RW) of 1..2 is refused and nothing is split.
 */
TEST(mprotect_refuses_permissions_beyond_may_flags)
{
	struct mm_space mm;
	struct talloc t;
	struct snap s;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 4, VM_READ | VM_MAYREAD | VM_MAYEXEC), 0);
	take(&mm, &s);
	CHECK_EQ(mm_mprotect(&mm, AT(1), PG(2), VM_READ | VM_WRITE), -MM_EACCES);
	CHECK_UNCHANGED(&mm, &s);
	/* What VM_MAY* allows works: add exec. */
	CHECK_EQ(mm_mprotect(&mm, AT(1), PG(2), VM_READ | VM_EXEC), 0);
	CHECK_LAYOUT(&mm, "ABBC");
	teardown(&mm, &t);
}

/*
 *  0123456
 *  AAA.BBB   mprotect of 1..5 spans the hole at 3: -ENOMEM, nothing changed (Linux would
 *            have changed A before noticing the hole).
 */
TEST(mprotect_over_a_hole_fails_and_changes_nothing)
{
	struct mm_space mm;
	struct talloc t;
	struct snap s;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 4, 7, F_RW), 0);
	take(&mm, &s);
	CHECK_EQ(mm_mprotect(&mm, AT(1), PG(4), VM_READ), -MM_ENOMEM);
	CHECK_UNCHANGED(&mm, &s);
	CHECK_EQ(mm_mprotect(&mm, AT(4), PG(4), VM_READ), -MM_ENOMEM);    /* runs off the end */
	CHECK_UNCHANGED(&mm, &s);
	CHECK_EQ(mm_mprotect(&mm, AT(3), PG(1), VM_READ), -MM_ENOMEM);    /* only the hole */
	CHECK_UNCHANGED(&mm, &s);
	teardown(&mm, &t);
}

TEST(brk_rejects_below_start_and_above_task_size)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(mm_brk(&mm, mm.start_brk - 1), -MM_EINVAL);
	CHECK_REPORTED("below start_brk");
	CHECK_EQ(mm_brk(&mm, mm.task_size + 1), -MM_EINVAL);
	CHECK_REPORTED("above task_size");
	CHECK_EQ(mm_brk(NULL, 0), -MM_EINVAL);
	CHECK_REPORTED("NULL");
	CHECK_EQ_U(mm.brk, mm.start_brk);
	teardown(&mm, &t);
}

TEST(gap_search_rejects_bad_requests)
{
	struct mm_space mm;
	struct talloc t;
	struct vma_unmapped_area_info info = { 0, PG(1), PG(16), PG(64), 0, 0 };
	gva_t out;

	setup(&mm, &t);
	CHECK_EQ(mm_get_unmapped_area(&mm, 0, PG(1), 3 * MM_PAGE_SIZE, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("power of two");
	CHECK_EQ(mm_get_unmapped_area(&mm, 0, PG(1), 2048, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("power of two");
	CHECK_EQ(mm_get_unmapped_area(&mm, 0, 0, 0, 0, &out), -MM_EINVAL);
	CHECK_REPORTED("len is zero");
	CHECK_EQ(mm_get_unmapped_area(&mm, AT(0) + 1, PG(1), 0, MM_MAP_FIXED, &out), -MM_EINVAL);
	CHECK_REPORTED("addr is not page aligned");
	CHECK_EQ(mm_get_unmapped_area(&mm, PG(1), PG(1), 0, MM_MAP_FIXED, &out), -MM_EINVAL);
	CHECK_REPORTED("below mmap_min_addr");
	CHECK_EQ(mm_get_unmapped_area(&mm, 0, PG(1), 0, 0x40, &out), -MM_EINVAL);
	CHECK_REPORTED("unknown map_flags");
	/* Too long for the whole space is not an argument error but no room. */
	CHECK_EQ(mm_get_unmapped_area(&mm, 0, mm.task_size, 0, 0, &out), -MM_ENOMEM);

	info.flags = 4;
	CHECK_EQ(vma_unmapped_area(&mm, &info, &out), -MM_EINVAL);
	CHECK_REPORTED("unknown flags");
	info.flags = 0;
	info.length = 5;
	CHECK_EQ(vma_unmapped_area(&mm, &info, &out), -MM_EINVAL);
	CHECK_REPORTED("length");
	info.length = PG(1);
	info.low_limit = PG(80);
	CHECK_EQ(vma_unmapped_area(&mm, &info, &out), -MM_EINVAL);
	CHECK_REPORTED("out of order");
	info.low_limit = PG(16);
	info.align_mask = 7;
	CHECK_EQ(vma_unmapped_area(&mm, &info, &out), -MM_EINVAL);
	CHECK_REPORTED("align_mask");
	info.align_mask = 0;
	CHECK_EQ(vma_unmapped_area(&mm, &info, NULL), -MM_EINVAL);
	CHECK_REPORTED("NULL");
	CHECK_EQ(vma_unmapped_area(&mm, &info, &out), 0);
	CHECK_EQ_U(out, PG(16));
	teardown(&mm, &t);
}

TEST(primitives_reject_bad_vmas)
{
	struct mm_space mm;
	struct talloc t;
	struct vma *v, *up = NULL, *w = calloc(1, sizeof(*w));

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 4, F_RW), 0);
	v = at(&mm, 0);
	CHECK_NOT_NULL(w);

	w->vm_start = AT(2);
	w->vm_end = AT(6);
	w->vm_flags = F_RW;
	CHECK_EQ(vma_insert(&mm, w), -MM_EEXIST);            /* overlaps the tail of A */
	w->vm_start = AT(4) + 12;
	CHECK_EQ(vma_insert(&mm, w), -MM_EINVAL);
	CHECK_REPORTED("addr is not page aligned");
	w->vm_start = AT(6);
	CHECK_EQ(vma_insert(&mm, w), -MM_EINVAL);
	CHECK_REPORTED("vm_start >= vm_end");
	w->vm_end = AT(8);
	w->vm_flags = F_RW | (UINT64_C(1) << 50);
	CHECK_EQ(vma_insert(&mm, w), -MM_EINVAL);
	CHECK_REPORTED("unknown bits");
	w->vm_flags = F_RW;
	CHECK_EQ(vma_insert(&mm, v), -MM_EINVAL);             /* already linked */
	CHECK_REPORTED("already linked");

	CHECK_EQ(vma_split(&mm, v, AT(0), &up), -MM_EINVAL);
	CHECK_REPORTED("strictly inside");
	CHECK_EQ(vma_split(&mm, v, AT(4), &up), -MM_EINVAL);
	CHECK_REPORTED("strictly inside");
	CHECK_EQ(vma_split(&mm, v, AT(1) + 4, &up), -MM_EINVAL);
	CHECK_REPORTED("not page aligned");
	CHECK_EQ(vma_split(&mm, w, AT(7), &up), -MM_EINVAL);  /* w is not linked */
	CHECK_REPORTED("not linked");

	mvt_clear_reports();
	vma_erase(&mm, w);
	CHECK_REPORTED("not linked");
	CHECK_NULL(vma_merge_neighbours(&mm, w));
	CHECK_REPORTED("not linked");
	CHECK(!vma_can_merge(NULL, v));
	CHECK_REPORTED("NULL");
	CHECK_LAYOUT(&mm, "AAAA....");
	free(w);
	teardown(&mm, &t);
}

/*
 * Every operation that needs new VMAs gets them all before changing anything: failing the
 * first or the second allocation leaves the layout, the counters and the allocator balance as
 * they were.
 *
 *  0123456789
 *  AAAAAAAAAA   munmap(3..5) needs 1 (the piece above the hole)
 *               mmap FIXED(3..5, R) needs 2 (the piece above + the new VMA)
 *               mprotect(3..5, R) needs 2 (a three-way split)
 *               vma_split needs 1, brk growth needs 1
 */
TEST(allocation_failure_leaves_space_unchanged)
{
	struct mm_space mm;
	struct talloc t;
	struct snap s;
	struct vma *up = NULL;
	gva_t out;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 10, F_RW), 0);
	take(&mm, &s);
	for (long k = 1; k <= 2; k++) {
		long live = t.live;

		t.fail_at = t.calls + k;
		if (k == 1) {
			CHECK_EQ(mm_munmap(&mm, AT(3), PG(2)), -MM_ENOMEM);
			CHECK_UNCHANGED(&mm, &s);
			t.fail_at = t.calls + k;
			CHECK_EQ(vma_split(&mm, at(&mm, 0), AT(3), &up), -MM_ENOMEM);
			CHECK_UNCHANGED(&mm, &s);
			t.fail_at = t.calls + k;
		}
		CHECK_EQ(mm_mmap(&mm, AT(3), PG(2), F_R, MM_MAP_FIXED, NULL, 0, &out), -MM_ENOMEM);
		CHECK_UNCHANGED(&mm, &s);
		t.fail_at = t.calls + k;
		CHECK_EQ(mm_mprotect(&mm, AT(3), PG(2), VM_READ), -MM_ENOMEM);
		CHECK_UNCHANGED(&mm, &s);
		CHECK_EQ(t.live, live);
	}
	t.fail_at = t.calls + 1;
	CHECK_EQ(mm_brk(&mm, mm.start_brk + PG(3)), -MM_ENOMEM);
	CHECK_EQ_U(mm.brk, mm.start_brk);
	CHECK_UNCHANGED(&mm, &s);
	/* With a working allocator the same calls succeed. */
	t.fail_at = 0;
	CHECK_EQ(mm_mprotect(&mm, AT(3), PG(2), VM_READ), 0);
	CHECK_LAYOUT(&mm, "AAABBCCCCC");
	teardown(&mm, &t);
}

TEST(map_count_limit)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };
	struct snap s;

	config(&cfg, &t);
	cfg.max_map_count = 2;
	CHECK_EQ(mm_space_init(&mm, &cfg), 0);
	CHECK_EQ(map(&mm, 0, 4, F_RW), 0);
	CHECK_EQ(map(&mm, 6, 8, F_R), 0);
	take(&mm, &s);
	/* Punching a hole would make a third VMA. */
	CHECK_EQ(mm_munmap(&mm, AT(1), PG(1)), -MM_ENOMEM);
	CHECK_EQ(mm_mprotect(&mm, AT(1), PG(1), VM_READ), -MM_ENOMEM);
	CHECK_UNCHANGED(&mm, &s);
	/* Trimming does not. Linux lets mmap start while map_count <= the limit. */
	CHECK_EQ(mm_munmap(&mm, AT(0), PG(1)), 0);
	CHECK_EQ(map(&mm, 10, 11, F_RX), 0);
	CHECK_EQ(mm.map_count, 3);
	CHECK_EQ(map(&mm, 12, 13, F_RW), -MM_ENOMEM);
	teardown(&mm, &t);
}

TEST(address_space_and_data_limits)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };

	config(&cfg, &t);
	cfg.rlimit_as = PG(8);
	cfg.rlimit_data = PG(4);
	CHECK_EQ(mm_space_init(&mm, &cfg), 0);
	CHECK_EQ(map(&mm, 0, 4, F_RW), 0);                  /* 4 data pages: at the limit */
	CHECK_EQ(map(&mm, 4, 5, F_RW), -MM_ENOMEM);         /* data limit */
	CHECK_EQ(map(&mm, 4, 8, F_R), 0);                   /* not data: fine, AS now full */
	CHECK_EQ(map(&mm, 8, 9, F_R), -MM_ENOMEM);          /* AS limit */
	/* Replacing mapped pages does not grow the space (Linux counts the overlap). */
	CHECK_EQ(map(&mm, 4, 6, F_RX), 0);
	/* mprotect turning read-only pages into data is held to the data limit too. */
	CHECK_EQ(mm_mprotect(&mm, AT(6), PG(1), VM_READ | VM_WRITE), -MM_ENOMEM);
	CHECK_EQ(mm_munmap(&mm, AT(0), PG(1)), 0);
	CHECK_EQ(mm_mprotect(&mm, AT(6), PG(1), VM_READ | VM_WRITE), 0);
	CHECK_EQ(mm.data_vm, 4);
	/* brk is held to the data limit as well. */
	CHECK_EQ(mm_brk(&mm, mm.start_brk + PG(5)), -MM_ENOMEM);
	teardown(&mm, &t);
}

TEST(memlock_limit_is_eagain)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };

	config(&cfg, &t);
	cfg.rlimit_memlock = PG(4);
	CHECK_EQ(mm_space_init(&mm, &cfg), 0);
	CHECK_EQ(map(&mm, 0, 3, F_RW | VM_LOCKED), 0);
	CHECK_EQ(mm.locked_vm, 3);
	CHECK_EQ(map(&mm, 4, 6, F_RW | VM_LOCKED), -MM_EAGAIN);
	/* VM_SPECIAL mappings never stay locked (Linux mmap_region). */
	CHECK_EQ(map(&mm, 6, 7, F_RW | VM_LOCKED | VM_IO), 0);
	CHECK_EQ_U(at(&mm, 6)->vm_flags, F_RW | VM_IO);
	CHECK_EQ(mm.locked_vm, 3);
	teardown(&mm, &t);
}

TEST(checker_catches_corruption)
{
	struct mm_space mm;
	struct talloc t;
	struct vma *a, *b;

	setup(&mm, &t);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(map(&mm, 2 * i, 2 * i + 1, i & 1 ? F_R : F_RW), 0);
	CHECK_EQ(vma_check(&mm), 0);
	a = at(&mm, 10);
	b = at(&mm, 12);

	a->vm_gap += MM_PAGE_SIZE;
	CHECK_EQ(vma_check(&mm), -MM_EUCLEAN);
	CHECK_REPORTED("gap");          /* the own gap or the subtree maximum it feeds */
	a->vm_gap -= MM_PAGE_SIZE;

	a->vm_child_gap[0] += 1;        /* the left subtree's height, as a keeps it */
	CHECK_EQ(vma_check(&mm), -MM_EUCLEAN);
	CHECK_REPORTED("height");
	a->vm_child_gap[0] -= 1;

	mm.data_vm += 1;
	CHECK_EQ(vma_check(&mm), -MM_EUCLEAN);
	CHECK_REPORTED("data_vm");
	mm.data_vm -= 1;

	a->vm_end = b->vm_start + MM_PAGE_SIZE;          /* overlap with the next VMA */
	CHECK_EQ(vma_check(&mm), -MM_EUCLEAN);
	CHECK_REPORTED("overlap");
	a->vm_end = AT(11);

	mm.vma_root_gap += MM_PAGE_SIZE;
	CHECK_EQ(vma_check(&mm), -MM_EUCLEAN);
	CHECK_REPORTED("vma_root_gap");
	mm.vma_root_gap -= MM_PAGE_SIZE;

	a->vm_gap |= VMA_GAP_GROWSUP;   /* a guard flag bit that vm_flags does not have */
	CHECK_EQ(vma_check(&mm), -MM_EUCLEAN);
	CHECK_REPORTED("guard flag");
	a->vm_gap &= ~VMA_GAP_GROWSUP;

	mm.map_count++;
	CHECK_EQ(vma_check(&mm), -MM_EUCLEAN);
	CHECK_REPORTED("map_count");
	mm.map_count--;
	CHECK_EQ(vma_check(&mm), 0);
	teardown(&mm, &t);
}

/* ==================================== merge scenarios ==================================== */

/*
 *  0123456
 *  AAA....   mmap(3..5) with the same flags: merges with prev
 *  AAAAA..
 */
TEST(mmap_merges_with_prev)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 3, 5, F_RW), 0);
	CHECK_LAYOUT(&mm, "AAAAA..");
	CHECK_EQ(mm.map_count, 1);
	CHECK_EQ(t.live, 1);
	teardown(&mm, &t);
}

/*
 *  0123456
 *  ...BBB.   mmap(1..3): merges with next; next's pgoff moves down with its start
 *  .AAAAA.
 */
TEST(mmap_merges_with_next)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 3, 6, F_RW), 0);
	CHECK_EQ(map(&mm, 1, 3, F_RW), 0);
	CHECK_LAYOUT(&mm, ".AAAAA.");
	CHECK_EQ_U(at(&mm, 1)->vm_pgoff, AT(1) >> MM_PAGE_SHIFT);
	teardown(&mm, &t);
}

/*
 *  0123456
 *  AA..BBB   mmap(2..4) fills the hole: prev, new and next become one VMA
 *  AAAAAAA
 */
TEST(mmap_merges_with_both)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 2, F_RW), 0);
	CHECK_EQ(map(&mm, 4, 7, F_RW), 0);
	CHECK_EQ(map(&mm, 2, 4, F_RW), 0);
	CHECK_LAYOUT(&mm, "AAAAAAA");
	CHECK_EQ(mm.map_count, 1);
	CHECK_EQ(mm.total_vm, 7);
	CHECK_EQ(t.live, 1);
	teardown(&mm, &t);
}

/*
 *  0123456789ab
 *  AA           rw
 *    BB         r-      different flags: no merge
 *      CC       rw, file X   different backing: no merge
 *        DD     rw, file X, pgoff not contiguous with C: no merge
 *          EE   rw | VM_DONTEXPAND (VM_SPECIAL): never merges
 */
TEST(no_merge_when_flags_backing_pgoff_differ_or_special)
{
	struct mm_space mm;
	struct talloc t;
	static const char x;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 2, F_RW), 0);
	CHECK_EQ(map(&mm, 2, 4, F_R), 0);
	CHECK_EQ(map_file(&mm, 4, 6, F_RW, &x, 100), 0);
	CHECK_EQ(map_file(&mm, 6, 8, F_RW, &x, 200), 0);
	CHECK_EQ(map(&mm, 8, 10, F_RW | VM_DONTEXPAND), 0);
	CHECK_EQ(map(&mm, 10, 12, F_RW | VM_DONTEXPAND), 0);
	CHECK_LAYOUT(&mm, "AABBCCDDEEFF");
	CHECK_EQ(mm.map_count, 6);
	teardown(&mm, &t);
}

/*
 *  01234567
 *  AAAA....   file X at pgoff 10
 *      BB..   file X at pgoff 14 (contiguous): merges
 *        CC   file Y at pgoff 16: different backing, stays apart
 *  AAAAAABB
 */
TEST(file_mappings_merge_only_with_contiguous_pgoff)
{
	struct mm_space mm;
	struct talloc t;
	static const char x, y;

	setup(&mm, &t);
	CHECK_EQ(map_file(&mm, 0, 4, F_R, &x, 10), 0);
	CHECK_EQ(map_file(&mm, 4, 6, F_R, &x, 14), 0);
	CHECK_EQ(map_file(&mm, 6, 8, F_R, &y, 16), 0);
	CHECK_LAYOUT(&mm, "AAAAAABB");
	CHECK_EQ_U(at(&mm, 5)->vm_pgoff, 10);
	CHECK_EQ_PTR(at(&mm, 5)->vm_file, &x);
	teardown(&mm, &t);
}

/* ==================================== munmap scenarios ==================================== */

/*
 *  0123456789
 *  AAAAAAAAAA
 *  munmap(0..2)   head:   ..AAAAAAAA   (pgoff advances by 2)
 *  munmap(8..10)  tail:   ..AAAAAA..
 *  munmap(4..6)   middle: ..AA..BB..   (one VMA becomes two)
 *  munmap(0..10)  whole:  ..........
 */
TEST(munmap_head_tail_middle_whole)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 10, F_RW), 0);
	CHECK_EQ(mm_munmap(&mm, AT(0), PG(2)), 0);
	CHECK_LAYOUT(&mm, "..AAAAAAAA");
	CHECK_EQ_U(at(&mm, 2)->vm_pgoff, AT(2) >> MM_PAGE_SHIFT);
	CHECK_EQ(mm_munmap(&mm, AT(8), PG(2)), 0);
	CHECK_LAYOUT(&mm, "..AAAAAA..");
	CHECK_EQ(mm_munmap(&mm, AT(4), PG(2)), 0);
	CHECK_LAYOUT(&mm, "..AA..BB..");
	CHECK_EQ_U(at(&mm, 6)->vm_pgoff, AT(6) >> MM_PAGE_SHIFT);
	CHECK_EQ(mm.total_vm, 4);
	CHECK_EQ(mm.data_vm, 4);
	CHECK_EQ(mm_munmap(&mm, AT(0), PG(10)), 0);
	CHECK_LAYOUT(&mm, "..........");
	CHECK_EQ(mm.total_vm, 0);
	CHECK_EQ(t.live, 0);
	teardown(&mm, &t);
}

/*
 *  0123456789abc
 *  AAA.BB.CCC.DD
 *  munmap(1..9) trims A, removes B, trims C:
 *  A........CDD
 */
TEST(munmap_spanning_several_vmas)
{
	struct mm_space mm;
	struct talloc t;
	static const char x;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 4, 6, F_RX), 0);
	CHECK_EQ(map_file(&mm, 7, 10, F_R, &x, 50), 0);
	CHECK_EQ(map(&mm, 11, 13, F_RW), 0);
	CHECK_EQ(mm_munmap(&mm, AT(1), PG(8)), 0);
	CHECK_LAYOUT(&mm, "A........B.CC");
	CHECK_EQ_U(at(&mm, 9)->vm_pgoff, 52);        /* file offset follows the cut */
	CHECK_EQ(mm.total_vm, 4);
	CHECK_EQ(mm.exec_vm, 0);
	teardown(&mm, &t);
}

/* =================================== mprotect scenarios =================================== */

/*
 *  0123456789
 *  AAAAAAAAAA   rw
 *  mprotect(3..6, r): three-way split
 *  AAABBBCCCC   rw r rw
 *  mprotect(3..6, rw): the middle merges back with both sides
 *  AAAAAAAAAA
 */
TEST(mprotect_middle_splits_three_ways_and_remerges)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 10, F_RW), 0);
	CHECK_EQ(mm_mprotect(&mm, AT(3), PG(3), VM_READ), 0);
	CHECK_LAYOUT(&mm, "AAABBBCCCC");
	CHECK_EQ_U(at(&mm, 4)->vm_flags, F_R);
	CHECK_EQ_U(at(&mm, 7)->vm_flags, F_RW);
	CHECK_EQ_U(at(&mm, 7)->vm_pgoff, AT(6) >> MM_PAGE_SHIFT);
	CHECK_EQ(mm.data_vm, 7);
	CHECK_EQ(mm_mprotect(&mm, AT(3), PG(3), VM_READ | VM_WRITE), 0);
	CHECK_LAYOUT(&mm, "AAAAAAAAAA");
	CHECK_EQ(mm.data_vm, 10);
	CHECK_EQ(t.live, 1);
	teardown(&mm, &t);
}

/*
 *  0123456789
 *  AAABBBBCCC   rw r rw
 *  mprotect(0..10, rw): B changes and merges with A and C
 *  AAAAAAAAAA
 *  mprotect(2..8, rx): one VMA cut at both ends
 *  AABBBBBBCC
 */
TEST(mprotect_across_vmas_merges_them)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 3, 7, F_R), 0);
	CHECK_EQ(map(&mm, 7, 10, F_RW), 0);
	CHECK_LAYOUT(&mm, "AAABBBBCCC");
	CHECK_EQ(mm_mprotect(&mm, AT(0), PG(10), VM_READ | VM_WRITE), 0);
	CHECK_LAYOUT(&mm, "AAAAAAAAAA");
	CHECK_EQ(mm_mprotect(&mm, AT(2), PG(6), VM_READ | VM_EXEC), 0);
	CHECK_LAYOUT(&mm, "AABBBBBBCC");
	CHECK_EQ(mm.exec_vm, 6);
	CHECK_EQ(mm.data_vm, 4);
	teardown(&mm, &t);
}

/*
 *  012345
 *  AAABBB   rw r
 *  mprotect(1..5, r): A's tail changes and joins B; B itself is unchanged (no split of B)
 *  ABBBBB
 */
TEST(mprotect_head_joins_next_and_unchanged_vma_is_not_split)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 3, 6, F_R), 0);
	CHECK_EQ(mm_mprotect(&mm, AT(1), PG(4), VM_READ), 0);
	CHECK_LAYOUT(&mm, "ABBBBB");
	CHECK_EQ_U(at(&mm, 1)->vm_pgoff, AT(1) >> MM_PAGE_SHIFT);
	CHECK_EQ(mm.map_count, 2);
	teardown(&mm, &t);
}

/* ====================================== MAP_FIXED ====================================== */

/*
 *  0123456789ab
 *  AAA.BBB.CCC.
 *  mmap FIXED(2..10, rx) unmaps what is there first:
 *  AABBBBBBBBC.
 */
TEST(map_fixed_replaces_several_vmas)
{
	struct mm_space mm;
	struct talloc t;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 4, 7, F_R), 0);
	CHECK_EQ(map(&mm, 8, 11, F_RW), 0);
	CHECK_EQ(map(&mm, 2, 10, F_RX), 0);
	CHECK_LAYOUT(&mm, "AABBBBBBBBC.");
	CHECK_EQ(mm.total_vm, 11);
	CHECK_EQ(mm.exec_vm, 8);
	CHECK_EQ(mm.data_vm, 3);
	CHECK_EQ(t.live, 3);
	teardown(&mm, &t);
}

/*
 *  012345
 *  ..AA..   MAP_FIXED_NOREPLACE over 1..3 overlaps A: -EEXIST; next to it: fine
 */
TEST(map_fixed_noreplace_refuses_occupied)
{
	struct mm_space mm;
	struct talloc t;
	gva_t out;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 2, 4, F_RW), 0);
	CHECK_EQ(mm_mmap(&mm, AT(1), PG(2), F_R, MM_MAP_FIXED_NOREPLACE, NULL, 0, &out), -MM_EEXIST);
	CHECK_LAYOUT(&mm, "..AA..");
	CHECK_EQ(mm_mmap(&mm, AT(4), PG(2), F_R, MM_MAP_FIXED_NOREPLACE, NULL, 0, &out), 0);
	CHECK_EQ_U(out, AT(4));
	CHECK_LAYOUT(&mm, "..AABB");
	teardown(&mm, &t);
}

/* ===================================== stack growth ===================================== */

/*
 * Guard gap 4 pages (configured; Linux's default is 256).
 *
 *  0123456789abcdef
 *  AA..........SSSS   A rw, S rw|GROWSDOWN
 *  fault at 8: S grows down to 8 (4 pages above A's end: the guard gap is kept)
 *  AA......SSSSSSSS
 *  fault at 5: would leave 3 < 4 pages: refused; S unchanged
 *  A PROT_NONE neighbour does not count (Linux: only accessible VMAs need the gap).
 */
TEST(stack_grows_down_to_guard_gap_and_no_further)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };
	struct vma *v = NULL;

	config(&cfg, &t);
	cfg.stack_guard_gap = PG(4);
	CHECK_EQ(mm_space_init(&mm, &cfg), 0);
	CHECK_EQ(map(&mm, 0, 2, F_RW), 0);
	CHECK_EQ(map(&mm, 12, 16, F_RW | VM_GROWSDOWN), 0);
	CHECK_EQ(mm.stack_vm, 4);
	CHECK_EQ(mm_expand_stack(&mm, AT(8) + 123, &v), 0);
	CHECK_LAYOUT(&mm, "AA......BBBBBBBB");
	CHECK_EQ_U(v->vm_start, AT(8));
	CHECK_EQ_U(v->vm_pgoff, AT(8) >> MM_PAGE_SHIFT);
	CHECK_EQ(mm.stack_vm, 8);
	CHECK_EQ(mm.data_vm, 2);
	CHECK_EQ(mm_expand_stack(&mm, AT(5), &v), -MM_ENOMEM);
	CHECK_LAYOUT(&mm, "AA......BBBBBBBB");
	CHECK_EQ(mm_expand_stack(&mm, AT(6), &v), 0);         /* exactly 4 pages above A */
	CHECK_LAYOUT(&mm, "AA....BBBBBBBBBB");
	/* Inside the stack: nothing to do. Above everything: no stack to grow. */
	CHECK_EQ(mm_expand_stack(&mm, AT(10), &v), 0);
	CHECK_EQ_U(v->vm_start, AT(6));
	CHECK_EQ(mm_expand_stack(&mm, AT(20), &v), -MM_EFAULT);
	/* A non-stack VMA above the address cannot grow down. */
	CHECK_EQ(mm_expand_stack(&mm, AT(0) - PG(1), &v), -MM_EFAULT);
	/* Make A inaccessible: the guard gap no longer applies to it. */
	CHECK_EQ(mm_mprotect(&mm, AT(0), PG(2), 0), 0);
	CHECK_EQ(mm_expand_stack(&mm, AT(2), &v), 0);
	CHECK_LAYOUT(&mm, "AABBBBBBBBBBBBBB");
	teardown(&mm, &t);
}

TEST(stack_growth_respects_rlimit_stack_and_memlock)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };
	struct vma *v = NULL;

	config(&cfg, &t);
	cfg.rlimit_stack = PG(6);
	cfg.rlimit_memlock = PG(5);
	CHECK_EQ(mm_space_init(&mm, &cfg), 0);
	CHECK_EQ(map(&mm, 12, 16, F_RW | VM_GROWSDOWN | VM_LOCKED), 0);
	CHECK_EQ(mm_expand_stack(&mm, AT(9), &v), -MM_ENOMEM);   /* 7 pages > stack limit */
	CHECK_EQ(mm_expand_stack(&mm, AT(10), &v), -MM_ENOMEM);  /* 6 locked > memlock */
	CHECK_EQ(mm_expand_stack(&mm, AT(11), &v), 0);
	CHECK_EQ(mm.locked_vm, 5);
	CHECK_EQ(mm.stack_vm, 5);
	CHECK_EQ(mm_expand_stack(&mm, mm.task_size, &v), -MM_EINVAL);
	CHECK_REPORTED("task_size");
	teardown(&mm, &t);
}

/*
 *  0123456789
 *  SS......AA   S rw|GROWSUP, A rw; guard gap 4
 *  fault at 3: S grows up over 2..3
 *  SSSS....AA
 *  fault at 4: the page after would leave less than 4 pages to A: refused
 */
TEST(growsup_stack_grows_up_to_guard_gap)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };
	struct vma *v = NULL;

	config(&cfg, &t);
	cfg.stack_guard_gap = PG(4);
	CHECK_EQ(mm_space_init(&mm, &cfg), 0);
	CHECK_EQ(map(&mm, 0, 2, F_RW | VM_GROWSUP), 0);
	CHECK_EQ(map(&mm, 8, 10, F_RW), 0);
	CHECK_EQ(mm_expand_stack(&mm, AT(3) + 5, &v), 0);
	CHECK_LAYOUT(&mm, "AAAA....BB");
	CHECK_EQ(mm_expand_stack(&mm, AT(4), &v), -MM_ENOMEM);
	CHECK_LAYOUT(&mm, "AAAA....BB");
	/* The searcher keeps the guard gap free above a GROWSUP VMA too. */
	CHECK_EQ_U(mm.highest_vm_end, AT(10));
	CHECK_EQ_U(vma_end_gap(&mm, at(&mm, 0)), AT(8));
	teardown(&mm, &t);
}

/* ====================================== gap search ====================================== */

/*
 * A small space for layout-dependent searches: task size 1024 pages, mmap_min_addr 16 pages,
 * top-down below mmap_base = 960 pages, legacy base 256 pages, guard gap 8 pages.
 */
static void small_space(struct mm_space *mm, struct talloc *t, bool topdown)
{
	struct mm_space_config cfg;

	*t = (struct talloc){ 0, 0, 0 };
	config(&cfg, t);
	cfg.task_size = PG(1024);
	cfg.mmap_min_addr = PG(16);
	cfg.mmap_base = PG(960);
	cfg.mmap_legacy_base = PG(256);
	cfg.mmap_topdown = topdown;
	cfg.start_brk = PG(64);
	cfg.stack_guard_gap = PG(8);
	CHECK_EQ(mm_space_init(mm, &cfg), 0);
}

static gva_t gua(struct mm_space *mm, gva_t hint, uint64_t pages, uint64_t align)
{
	gva_t out = 0;

	CHECK_EQ(mm_get_unmapped_area(mm, hint, PG(pages), align, 0, &out), 0);
	return out;
}

static void fixed(struct mm_space *mm, uint64_t p0, uint64_t p1, uint64_t flags)
{
	gva_t out;

	CHECK_EQ(mm_mmap(mm, PG(p0), PG(p1 - p0), flags, MM_MAP_FIXED, NULL, 0, &out), 0);
}

/*
 * Pages (top-down, mmap_base 960):
 *   ... [900,940) A ... [944,950) B .. 960
 *   len 4 -> the highest fit ending at 960: 956?  no: B ends at 950, gap [950,960) holds 4 -> 956
 *   len 12 -> [940,944) too small, [...,900) -> 888
 *   len 4 aligned to 16 pages -> inside [950,960): 16-page boundaries 944, 960: none fits;
 *     below A: 896 (end 900)
 */
TEST(get_unmapped_area_topdown_with_alignment)
{
	struct mm_space mm;
	struct talloc t;

	small_space(&mm, &t, true);
	fixed(&mm, 900, 940, F_RW);
	fixed(&mm, 944, 950, F_RW);
	CHECK_EQ_U(gua(&mm, 0, 4, 0), PG(956));
	CHECK_EQ_U(gua(&mm, 0, 12, 0), PG(888));
	CHECK_EQ_U(gua(&mm, 0, 4, PG(16)), PG(896));
	CHECK_EQ_U(gua(&mm, 0, 2, PG(2)), PG(958));
	teardown(&mm, &t);
}

/*
 * Bottom-up from mmap_base (legacy layout: base = 960 pages here, so use a low base):
 * the lowest fit at or above the base, honouring alignment.
 */
TEST(get_unmapped_area_bottomup_with_alignment)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };

	config(&cfg, &t);
	cfg.task_size = PG(1024);
	cfg.mmap_min_addr = PG(16);
	cfg.mmap_base = PG(100);
	cfg.mmap_legacy_base = PG(100);
	cfg.mmap_topdown = false;
	cfg.start_brk = PG(64);
	CHECK_EQ(mm_space_init(&mm, &cfg), 0);
	fixed(&mm, 100, 104, F_RW);
	fixed(&mm, 106, 120, F_RW);
	CHECK_EQ_U(gua(&mm, 0, 2, 0), PG(104));
	CHECK_EQ_U(gua(&mm, 0, 3, 0), PG(120));
	CHECK_EQ_U(gua(&mm, 0, 3, PG(8)), PG(120));
	CHECK_EQ_U(gua(&mm, 0, 3, PG(32)), PG(128));
	CHECK_EQ_U(gua(&mm, 0, 1, PG(64)), PG(128));
	teardown(&mm, &t);
}

/*
 *  Hints: a free hint is taken (rounded up to the alignment); an occupied one, or one that
 *  would sit in a stack's guard gap, falls back to the search.
 */
TEST(get_unmapped_area_hints)
{
	struct mm_space mm;
	struct talloc t;
	gva_t out;

	small_space(&mm, &t, true);
	fixed(&mm, 500, 510, F_RW);
	fixed(&mm, 600, 610, F_RW | VM_GROWSDOWN);
	CHECK_EQ_U(gua(&mm, PG(300), 4, 0), PG(300));
	CHECK_EQ_U(gua(&mm, PG(300) + 5, 4, 0), PG(301));           /* rounded up to a page */
	CHECK_EQ_U(gua(&mm, PG(301), 4, PG(8)), PG(304));           /* and to the alignment */
	CHECK_EQ_U(gua(&mm, PG(505), 4, 0), PG(956));               /* occupied: search */
	CHECK_EQ_U(gua(&mm, PG(590), 4, 0), PG(956));               /* in the guard gap */
	CHECK_EQ_U(gua(&mm, PG(588), 4, 0), PG(588));               /* just below it */
	CHECK_EQ_U(gua(&mm, PG(8), 4, 0), PG(956));                 /* below mmap_min_addr */
	/* MAP_FIXED: the hint is the answer, occupied or not. */
	CHECK_EQ(mm_get_unmapped_area(&mm, PG(505), PG(4), 0, MM_MAP_FIXED, &out), 0);
	CHECK_EQ_U(out, PG(505));
	teardown(&mm, &t);
}

/*
 * Holes fill: top-down mappings stack downwards from mmap_base; unmapping one leaves a hole
 * that the next mapping of that size (or smaller) takes before going lower. The guard gap
 * below a stack is never handed out; when nothing fits below mmap_base the search falls back
 * to bottom-up above the legacy base.
 */
TEST(get_unmapped_area_fills_holes_and_falls_back)
{
	struct mm_space mm;
	struct talloc t;
	gva_t a[4], out;

	small_space(&mm, &t, true);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(mm_mmap(&mm, 0, PG(10), F_RW | (i & 1 ? 0 : VM_LOCKED), 0, NULL, 0, &a[i]), 0);
	CHECK_EQ_U(a[0], PG(950));
	CHECK_EQ_U(a[3], PG(920));
	CHECK_EQ(mm_munmap(&mm, a[1], PG(10)), 0);
	CHECK_EQ(mm_mmap(&mm, 0, PG(6), F_R, 0, NULL, 0, &out), 0);
	CHECK_EQ_U(out, PG(944));                                    /* top of the hole */
	CHECK_EQ(mm_mmap(&mm, 0, PG(5), F_R, 0, NULL, 0, &out), 0);
	CHECK_EQ_U(out, PG(915));                                    /* hole too small now */
	/*
	 * A stack at [880, 890): the 25 pages above it are free, but its 8-page guard gap
	 * [872, 880) is not handed out: 30 pages go below it, not at 850.
	 */
	fixed(&mm, 880, 890, F_RW | VM_GROWSDOWN);
	CHECK_EQ(mm_mmap(&mm, 0, PG(30), F_R, 0, NULL, 0, &out), 0);
	CHECK_EQ_U(out, PG(842));
	/* Fill everything below mmap_base; the next search goes bottom-up from 256. */
	fixed(&mm, 16, 842, F_R);
	fixed(&mm, 890, 915, F_R);
	fixed(&mm, 940, 944, F_R);
	CHECK_EQ(mm_mmap(&mm, 0, PG(4), F_R, 0, NULL, 0, &out), 0);
	CHECK_EQ_U(out, PG(960));
	CHECK_EQ(mm_mmap(&mm, 0, PG(100), F_R, 0, NULL, 0, &out), -MM_ENOMEM);
	teardown(&mm, &t);
}

/* ========================================= brk ========================================= */

/*
 * start_brk = page 64 of the small space.
 *   brk(+2.5 pages) -> heap [64, 67) (page-rounded), mm->brk exact
 *   brk(+5 pages)   -> the heap VMA grows in place
 *   a mapping at 72: brk may reach 71 but not 72 (Linux keeps a free page below a mapping)
 *   brk back down   -> the heap shrinks; below start_brk is refused
 */
TEST(brk_grows_and_shrinks)
{
	struct mm_space mm;
	struct talloc t;
	gva_t sb;

	small_space(&mm, &t, true);
	sb = mm.start_brk;
	CHECK_EQ(mm_brk(&mm, sb + PG(2) + 2048), 0);
	CHECK_EQ_U(mm.brk, sb + PG(2) + 2048);
	CHECK_NOT_NULL(vma_lookup(&mm, sb + PG(2)));
	CHECK_EQ_U(vma_lookup(&mm, sb)->vm_end, sb + PG(3));
	CHECK_EQ_U(vma_lookup(&mm, sb)->vm_flags, VM_BRK_FLAGS);
	CHECK_EQ(mm.data_vm, 3);
	CHECK_EQ(mm_brk(&mm, sb + PG(5)), 0);
	CHECK_EQ(mm.map_count, 1);
	CHECK_EQ_U(vma_lookup(&mm, sb)->vm_end, sb + PG(5));
	fixed(&mm, 72, 74, F_R);
	CHECK_EQ(mm_brk(&mm, PG(72)), -MM_ENOMEM);
	CHECK_EQ(mm_brk(&mm, PG(71) + 1), -MM_ENOMEM);
	CHECK_EQ_U(mm.brk, sb + PG(5));
	CHECK_EQ(mm_brk(&mm, PG(71)), 0);
	CHECK_EQ_U(vma_lookup(&mm, sb)->vm_end, PG(71));
	CHECK_EQ(mm_brk(&mm, sb + 1), 0);
	CHECK_EQ_U(vma_lookup(&mm, sb)->vm_end, sb + PG(1));
	CHECK_EQ(mm.data_vm, 1);
	CHECK_EQ(mm_brk(&mm, sb), 0);
	CHECK_NULL(vma_lookup(&mm, sb));
	CHECK_EQ(mm.data_vm, 0);
	/* Below a stack the guard gap counts as well. */
	fixed(&mm, 84, 90, F_RW | VM_GROWSDOWN);
	CHECK_EQ(mm_munmap(&mm, PG(72), PG(2)), 0);
	CHECK_EQ(mm_brk(&mm, PG(76)), -MM_ENOMEM);
	CHECK_EQ(mm_brk(&mm, PG(75)), 0);
	teardown(&mm, &t);
}

/* ================================== counters and lookups ================================== */

TEST(counters_follow_vm_stat_account)
{
	struct mm_space mm;
	struct talloc t;
	static const char x;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 1, F_RX), 0);                                   /* exec */
	CHECK_EQ(map(&mm, 2, 4, F_RW | VM_EXEC), 0);                         /* data (W wins) */
	CHECK_EQ(map(&mm, 5, 8, F_RW | VM_GROWSDOWN), 0);                    /* stack */
	CHECK_EQ(map_file(&mm, 9, 13, F_RW | VM_SHARED | VM_MAYSHARE, &x, 0), 0); /* shared: none */
	CHECK_EQ(map(&mm, 14, 19, F_R | VM_LOCKED), 0);                      /* locked only */
	CHECK_EQ(map(&mm, 20, 21, F_RX | VM_GROWSDOWN), 0);                  /* stack, not exec */
	CHECK_EQ(mm.total_vm, 1 + 2 + 3 + 4 + 5 + 1);
	CHECK_EQ(mm.exec_vm, 1);
	CHECK_EQ(mm.data_vm, 2);
	CHECK_EQ(mm.stack_vm, 4);
	CHECK_EQ(mm.locked_vm, 5);
	/* mprotect moves pages between classes. */
	CHECK_EQ(mm_mprotect(&mm, AT(0), PG(1), VM_READ | VM_WRITE), 0);
	CHECK_EQ(mm.exec_vm, 0);
	CHECK_EQ(mm.data_vm, 3);
	CHECK_EQ(mm_munmap(&mm, AT(14), PG(2)), 0);
	CHECK_EQ(mm.locked_vm, 3);
	teardown(&mm, &t);
}

/*
 *  0123456789
 *  .AA...BB..
 */
TEST(find_lookup_and_intersection)
{
	struct mm_space mm;
	struct talloc t;
	struct vma *a, *b, *prev = NULL;

	setup(&mm, &t);
	CHECK_NULL(vma_find(&mm, 0));
	CHECK_NULL(vma_first(&mm));
	CHECK_EQ(map(&mm, 1, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 6, 8, F_R), 0);
	a = at(&mm, 1);
	b = at(&mm, 6);
	CHECK_EQ_PTR(vma_find(&mm, AT(0)), a);
	CHECK_EQ_PTR(vma_find(&mm, AT(2) + 100), a);
	CHECK_EQ_PTR(vma_find(&mm, AT(3)), b);        /* in the hole: the next VMA */
	CHECK_NULL(vma_find(&mm, AT(8)));
	CHECK_NULL(vma_lookup(&mm, AT(4)));
	CHECK_EQ_PTR(vma_lookup(&mm, AT(7) + 4095), b);
	CHECK_EQ_PTR(vma_find_prev(&mm, AT(4), &prev), b);
	CHECK_EQ_PTR(prev, a);
	CHECK_NULL(vma_find_prev(&mm, AT(9), &prev));
	CHECK_EQ_PTR(prev, b);
	CHECK_NULL(vma_find_intersection(&mm, AT(3), AT(6)));
	CHECK_EQ_PTR(vma_find_intersection(&mm, AT(3), AT(6) + 1), b);
	CHECK_EQ_PTR(vma_find_intersection(&mm, AT(0), AT(9)), a);
	CHECK_NULL(vma_find_intersection(&mm, AT(5), AT(5)));
	CHECK_REPORTED("empty range");
	CHECK_EQ_PTR(vma_next(&mm, a), b);
	CHECK_NULL(vma_next(&mm, b));
	CHECK_EQ_PTR(vma_prev(&mm, b), a);
	CHECK_NULL(vma_prev(&mm, a));
	teardown(&mm, &t);
}

static const char *name_x(const struct vma *v, void *arg)
{
	return v->vm_file == arg ? "/usr/lib/libx.so" : NULL;
}

TEST(maps_format_matches_linux)
{
	struct mm_space mm;
	struct talloc t;
	static const char x;
	char buf[1024], small[40];
	long n;
	const char *expect =
		"10000000-10002000 rw-p 00000000 00:00 0                                  [heap]\n"
		"40000000-40003000 r-xp 00005000 00:00 0                                  /usr/lib/libx.so\n"
		"40004000-40005000 rw-s 00000000 00:00 0 \n"
		"7fff00000000-7fff00021000 rw-p 00000000 00:00 0                          [stack]\n";

	setup(&mm, &t);
	mm.start_stack = UINT64_C(0x7fff00020000);
	CHECK_EQ(mm_brk(&mm, mm.start_brk + PG(2)), 0);
	CHECK_EQ(map_file(&mm, 0, 3, F_RX, &x, 5), 0);
	CHECK_EQ(map_file(&mm, 4, 5, F_RW | VM_SHARED | VM_MAYSHARE, &t, 0), 0);
	CHECK_EQ(mm_mmap(&mm, UINT64_C(0x7fff00000000), PG(0x21), F_RW | VM_GROWSDOWN, MM_MAP_FIXED,
			 NULL, 0, &(gva_t){ 0 }), 0);
	n = mm_format_maps(&mm, buf, sizeof(buf), name_x, (void *)&x);
	CHECK_STREQ(buf, expect);
	CHECK_EQ(n, (long)strlen(expect));
	/* Truncation: NUL-terminated, and the return value is the full length. */
	n = mm_format_maps(&mm, small, sizeof(small), name_x, (void *)&x);
	CHECK_EQ(n, (long)strlen(expect));
	CHECK_EQ((long)strlen(small), (long)sizeof(small) - 1);
	CHECK(strncmp(small, expect, sizeof(small) - 1) == 0);
	/* Without the name callback the file line loses its padding and name (49 bytes). */
	CHECK_EQ(mm_format_maps(&mm, NULL, 0, NULL, NULL), (long)strlen(expect) - 49);
	CHECK_EQ(mm_format_maps(&mm, NULL, 5, NULL, NULL), -MM_EINVAL);
	CHECK_REPORTED("buf is NULL");
	teardown(&mm, &t);
}

/* =================================== tree primitives =================================== */

/* Sequential inserts are an unbalanced BST's worst case: the AVL height must stay logarithmic. */
TEST(tree_stays_balanced_under_sequential_inserts_and_erases)
{
	struct mm_space mm;
	struct talloc t;
	enum { N = 4096 };
	static struct vma *v[N];

	setup(&mm, &t);
	for (int i = 0; i < N; i++) {
		v[i] = t_alloc(&t);
		CHECK_NOT_NULL(v[i]);
		memset(v[i], 0, sizeof(*v[i]));
		v[i]->vm_start = AT(2 * i);
		v[i]->vm_end = AT(2 * i + 1);
		v[i]->vm_flags = i % 3 ? F_RW : F_R;
		CHECK_EQ(vma_insert(&mm, v[i]), 0);
	}
	CHECK_EQ(vma_check(&mm), 0);
	/* Height and max gap of the whole tree: mm->vma_root_gap. */
	CHECK_LE(mm.vma_root_gap & VMA_TREE_META_MASK, 18); /* 1.44 log2(4096) + 1 */
	CHECK_EQ_U(mm.vma_root_gap & ~VMA_TREE_META_MASK, AT(0)); /* below the first VMA */
	/* Erase every other VMA from the front: gaps widen to 3 pages. */
	for (int i = 0; i < N; i += 2) {
		vma_erase(&mm, v[i]);
		t_free(&t, v[i]);
		if (i % 512 == 0)
			CHECK_EQ(vma_check(&mm), 0);
	}
	CHECK_EQ(mm.map_count, N / 2);
	CHECK_EQ(vma_check(&mm), 0);
	CHECK_LE(mm.vma_root_gap & VMA_TREE_META_MASK, 17);
	teardown(&mm, &t);
}

/*
 *  01234567
 *  AAAAAAAA   vma_split at 3, then at 5: AAABBCCC
 *             vma_merge_neighbours(B) puts it back together: AAAAAAAA
 */
TEST(split_and_merge_primitives)
{
	struct mm_space mm;
	struct talloc t;
	struct vma *a, *b = NULL, *c = NULL;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 8, F_RW), 0);
	a = at(&mm, 0);
	CHECK_EQ(vma_split(&mm, a, AT(3), &b), 0);
	CHECK_EQ(vma_split(&mm, b, AT(5), &c), 0);
	CHECK_LAYOUT(&mm, "AAABBCCC");
	CHECK_EQ_U(c->vm_pgoff, AT(5) >> MM_PAGE_SHIFT);
	CHECK(vma_can_merge(a, b));
	CHECK(vma_can_merge(b, c));
	CHECK(!vma_can_merge(a, c));                        /* not adjacent */
	CHECK_EQ(mm.total_vm, 8);
	CHECK_EQ_PTR(vma_merge_neighbours(&mm, b), a);
	CHECK_LAYOUT(&mm, "AAAAAAAA");
	CHECK_EQ(t.live, 1);
	teardown(&mm, &t);
}

/* ---- mm_set_policy (mbind) ----------------------------------------------------------------- */

#define POL(m, n) ((struct vma_policy){ (m), 0, (n) })
#define POL_NONE  POL(0, 0)
#define POL_BIND1 POL(1, 2)             /* NUMA_POLICY_BIND, node 1 */
#define POL_IL01  POL(3, 3)             /* NUMA_POLICY_INTERLEAVE, nodes 0-1 */

static bool pol_is(struct mm_space *mm, int c, struct vma_policy want)
{
	struct vma *v = at(mm, c);

	return v && vma_policy_equal(&v->vm_policy, &want);
}

TEST(set_policy_rejects_bad_arguments)
{
	struct mm_space mm;
	struct talloc t;
	struct vma_policy p = POL_BIND1;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 4, F_RW), 0);
	CHECK_EQ(mm_set_policy(NULL, AT(0), PG(1), &p), -MM_EINVAL);
	CHECK_REPORTED("mm or pol is NULL");
	CHECK_EQ(mm_set_policy(&mm, AT(0), PG(1), NULL), -MM_EINVAL);
	CHECK_REPORTED("mm or pol is NULL");
	CHECK_EQ(mm_set_policy(&mm, AT(0) + 1, PG(1), &p), -MM_EINVAL);
	CHECK_REPORTED("addr is not page aligned");
	CHECK_EQ(mm_set_policy(&mm, AT(0), 0, &p), -MM_EINVAL);
	CHECK_REPORTED("len is zero");
	CHECK_EQ(mm_set_policy(&mm, mm.task_size - PG(1), PG(2), &p), -MM_EINVAL);
	CHECK_REPORTED("beyond task_size");
	p = POL(4, 1);
	CHECK_EQ(mm_set_policy(&mm, AT(0), PG(1), &p), -MM_EINVAL);
	CHECK_REPORTED("pol->mode is not a numa_policy_mode");
	p = POL(0, 1);
	CHECK_EQ(mm_set_policy(&mm, AT(0), PG(1), &p), -MM_EINVAL);
	CHECK_REPORTED("pol->nodes must be empty exactly for the default mode");
	p = POL(2, 0);
	CHECK_EQ(mm_set_policy(&mm, AT(0), PG(1), &p), -MM_EINVAL);
	CHECK_REPORTED("pol->nodes must be empty exactly for the default mode");
	p = (struct vma_policy){ 1, 7, 1 };
	CHECK_EQ(mm_set_policy(&mm, AT(0), PG(1), &p), -MM_EINVAL);
	CHECK_REPORTED("pol->reserved is not 0");
	CHECK_LAYOUT(&mm, "AAAA");
	CHECK(pol_is(&mm, 0, POL_NONE));
	teardown(&mm, &t);
}

/*
 *  0123456
 *  AAA.BBB   a policy over 1..5 spans the hole at 3: -EFAULT (Linux's mbind), nothing changed;
 *            so does a range running off the end or lying in the hole only.
 */
TEST(set_policy_over_a_hole_fails_and_changes_nothing)
{
	struct mm_space mm;
	struct talloc t;
	struct snap s;
	struct vma_policy p = POL_BIND1;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 4, 7, F_RW), 0);
	take(&mm, &s);
	CHECK_EQ(mm_set_policy(&mm, AT(1), PG(4), &p), -MM_EFAULT);
	CHECK_UNCHANGED(&mm, &s);
	CHECK_EQ(mm_set_policy(&mm, AT(4), PG(4), &p), -MM_EFAULT);
	CHECK_EQ(mm_set_policy(&mm, AT(3), PG(1), &p), -MM_EFAULT);
	CHECK_UNCHANGED(&mm, &s);
	CHECK(pol_is(&mm, 1, POL_NONE) && pol_is(&mm, 5, POL_NONE));
	teardown(&mm, &t);
}

/*
 *  0123456789
 *  AAAAAAAAAA   bind(1) over 3..6 splits three ways: AAABBBCCCC, only B has the policy
 *               (C keeps its pgoff); setting the same policy again changes nothing;
 *               default over 3..6 merges all back: AAAAAAAAAA
 */
TEST(set_policy_middle_splits_three_ways_and_remerges)
{
	struct mm_space mm;
	struct talloc t;
	struct vma_policy bind = POL_BIND1, none = POL_NONE;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 10, F_RW), 0);
	CHECK_EQ(mm_set_policy(&mm, AT(3), PG(3), &bind), 0);
	CHECK_LAYOUT(&mm, "AAABBBCCCC");
	CHECK(pol_is(&mm, 0, POL_NONE) && pol_is(&mm, 4, POL_BIND1) && pol_is(&mm, 7, POL_NONE));
	CHECK_EQ_U(at(&mm, 7)->vm_pgoff, AT(6) >> MM_PAGE_SHIFT);
	CHECK_EQ(mm.map_count, 3);
	CHECK_EQ(mm_set_policy(&mm, AT(3), PG(3), &bind), 0);
	CHECK_LAYOUT(&mm, "AAABBBCCCC");
	CHECK_EQ(mm_set_policy(&mm, AT(3), PG(3), &none), 0);
	CHECK_LAYOUT(&mm, "AAAAAAAAAA");
	CHECK_EQ(t.live, 1);
	teardown(&mm, &t);
}

/*
 *  0123456789
 *  AAABBBBCCC   rw r rw, no policies
 *  interleave(0-1) over 2..8: A and C cut, B whole, the three interleaved parts keep their
 *  own flags (no merge): AABCCCCDEE
 *  mprotect(0..10, rw): equal flags and policy merge, an unequal policy never does:
 *  AABBBBBBCC (rw none | rw interleave | rw none)
 */
TEST(set_policy_across_vmas_and_merge_needs_equal_policy)
{
	struct mm_space mm;
	struct talloc t;
	struct vma_policy il = POL_IL01;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(map(&mm, 3, 7, F_R), 0);
	CHECK_EQ(map(&mm, 7, 10, F_RW), 0);
	CHECK_EQ(mm_set_policy(&mm, AT(2), PG(6), &il), 0);
	CHECK_LAYOUT(&mm, "AABCCCCDEE");
	CHECK(pol_is(&mm, 1, POL_NONE) && pol_is(&mm, 2, POL_IL01) && pol_is(&mm, 5, POL_IL01) &&
	      pol_is(&mm, 7, POL_IL01) && pol_is(&mm, 8, POL_NONE));
	CHECK_EQ(mm_mprotect(&mm, AT(0), PG(10), VM_READ | VM_WRITE), 0);
	CHECK_LAYOUT(&mm, "AABBBBBBCC");
	CHECK(!vma_can_merge(at(&mm, 1), at(&mm, 2)));
	CHECK(pol_is(&mm, 4, POL_IL01));
	teardown(&mm, &t);
}

/*
 *  0123456
 *  AAA....   bind(1) on A; a new mapping right after it (3..6) has no policy and stays
 *  AAABBB.   separate; mprotect splitting A keeps the policy on both halves; munmap of the
 *            middle too
 */
TEST(set_policy_survives_splits_and_blocks_mmap_merge)
{
	struct mm_space mm;
	struct talloc t;
	struct vma_policy bind = POL_BIND1;

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 3, F_RW), 0);
	CHECK_EQ(mm_set_policy(&mm, AT(0), PG(3), &bind), 0);
	CHECK_EQ(map(&mm, 3, 6, F_RW), 0);
	CHECK_LAYOUT(&mm, "AAABBB.");
	CHECK(pol_is(&mm, 3, POL_NONE));
	CHECK_EQ(mm_mprotect(&mm, AT(1), PG(1), VM_READ), 0);
	CHECK_LAYOUT(&mm, "ABCDDD.");
	CHECK(pol_is(&mm, 0, POL_BIND1) && pol_is(&mm, 1, POL_BIND1) && pol_is(&mm, 2, POL_BIND1));
	CHECK_EQ(mm_munmap(&mm, AT(1), PG(1)), 0);
	CHECK(pol_is(&mm, 0, POL_BIND1) && pol_is(&mm, 2, POL_BIND1));
	teardown(&mm, &t);
}

/* Splits past max_map_count or a failing allocator: -ENOMEM, nothing changed. */
TEST(set_policy_limits_and_allocation_failure)
{
	struct mm_space mm;
	struct mm_space_config cfg;
	struct talloc t = { 0, 0, 0 };
	struct vma_policy bind = POL_BIND1;
	struct snap s;

	config(&cfg, &t);
	cfg.max_map_count = 2;
	CHECK_EQ(mm_space_init(&mm, &cfg), 0);
	CHECK_EQ(map(&mm, 0, 4, F_RW), 0);
	take(&mm, &s);
	CHECK_EQ(mm_set_policy(&mm, AT(1), PG(1), &bind), -MM_ENOMEM);     /* 3 VMAs */
	CHECK_UNCHANGED(&mm, &s);
	CHECK(pol_is(&mm, 1, POL_NONE));
	CHECK_EQ(mm_set_policy(&mm, AT(0), PG(1), &bind), 0);               /* 2 VMAs */
	CHECK_LAYOUT(&mm, "ABBB");
	teardown(&mm, &t);

	setup(&mm, &t);
	CHECK_EQ(map(&mm, 0, 4, F_RW), 0);
	take(&mm, &s);
	t.fail_at = t.calls + 2;                /* the second of the two VMAs the split needs */
	CHECK_EQ(mm_set_policy(&mm, AT(1), PG(2), &bind), -MM_ENOMEM);
	CHECK_UNCHANGED(&mm, &s);
	CHECK(pol_is(&mm, 1, POL_NONE));
	t.fail_at = 0;
	teardown(&mm, &t);
}
