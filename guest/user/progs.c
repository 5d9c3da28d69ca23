/*
 * guest/user/progs.c — the user programs of the process scenarios (guest/proctest.c runs them;
 * enum uprog in guest/uapi.h). Each checks what it can see from ring 3 with u_check (TAP lines
 * the kernel numbers); the kernel checks the rest (exit status, kill reason and address, its
 * own counters, leaks) after the process ended.
 */
#include "ulib.h"

#define AREA      0x200000000UL        /* 8 GiB: the vma/fault programs' fixed addresses */
#define AREA_SPAN (64 * PAGE)          /* maps lines starting in [AREA, AREA + AREA_SPAN) */
#define SEGV_AT   0x300000000UL        /* 12 GiB: the segv programs' mappings */
#define MMAP_BASE (0x7ffffffff000UL - (128UL << 20))   /* mm_space_default_config's */

static char maps[8192];

/* ---- vma ----------------------------------------------------------------------------------- */

struct vline {
	unsigned long first, last;     /* pages from AREA: [first, last) */
	const char *perms;
};

/*
 * The maps lines starting inside [AREA, AREA + AREA_SPAN) must be exactly want[0..n) (each line
 * "start-end perms 00000000 00:00 0", anonymous). On a mismatch both are printed.
 */
static bool maps_are(const char *step, const struct vline *want, unsigned n)
{
	long len = u_maps(maps, sizeof(maps));
	unsigned seen = 0;
	bool ok = len > 0 && len < (long)sizeof(maps);

	for (char *line = maps; ok && *line;) {
		char *nl = line;
		unsigned long start = 0;

		while (*nl && *nl != '\n')
			nl++;
		for (char *c = line; *c != '-'; c++)
			start = start * 16 + (unsigned long)(*c <= '9' ? *c - '0' : *c - 'a' + 10);
		if (start >= AREA && start < AREA + AREA_SPAN) {
			char exp[80];
			int el;

			if (seen == n) {
				ok = false;
				break;
			}
			el = u_snprintf(exp, sizeof(exp), "%08lx-%08lx %s 00000000 00:00 0",
					AREA + want[seen].first * PAGE, AREA + want[seen].last * PAGE,
					want[seen].perms);
			ok = nl - line >= el && !memcmp(line, exp, (size_t)el);
			seen++;
		}
		line = *nl ? nl + 1 : nl;
	}
	ok &= seen == n;
	if (!ok) {
		u_printf("# vma %s: expected (pages from 0x%lx):\n", step, AREA);
		for (unsigned i = 0; i < n; i++)
			u_printf("#   %lu-%lu %s\n", want[i].first, want[i].last, want[i].perms);
		u_maps(0, 0);                  /* the kernel prints the whole maps */
	}
	return u_check(ok, "maps %s: %u VMAs as expected", step, n);
}

static bool fill(unsigned long addr, unsigned long pages, unsigned long tag)
{
	for (unsigned long i = 0; i < pages; i++)
		*(volatile unsigned long *)(addr + i * PAGE) = tag + i;
	return true;
}

/* Pages [first, last) of AREA hold tag + page index (from fill at AREA with tag). */
static bool holds(unsigned long first, unsigned long last, unsigned long tag)
{
	bool ok = true;

	for (unsigned long i = first; i < last; i++)
		ok &= *(volatile unsigned long *)(AREA + i * PAGE) == tag + i;
	return ok;
}

static int prog_vma(void)
{
	const unsigned long tag = 0x5eed0000;
	long r;

	/*
	 * 1. 16 pages read-write at AREA (MAP_FIXED_NOREPLACE):
	 *      0                                              16
	 *      |==================== rw-p ====================|
	 */
	r = u_anon(AREA, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_FIXED_NOREPLACE);
	u_check(r == (long)AREA, "mmap 16 pages at 0x%lx returned 0x%lx", AREA, r);
	fill(AREA, 16, tag);
	maps_are("after mmap", (const struct vline[]){ { 0, 16, "rw-p" } }, 1);
	r = u_anon(AREA + 8 * PAGE, PAGE, PROT_READ, MAP_FIXED_NOREPLACE);
	u_check(r == -UAPI_EEXIST, "MAP_FIXED_NOREPLACE over a mapping: %ld (-EEXIST)", r);

	/*
	 * 2. munmap pages 4-5: a hole splits the VMA.
	 *      0          4     6                             16
	 *      |== rw-p ==|     |========== rw-p ============|
	 */
	r = u_munmap(AREA + 4 * PAGE, 2 * PAGE);
	u_check(r == 0, "munmap of pages 4-5: %ld", r);
	maps_are("after the hole", (const struct vline[]){ { 0, 4, "rw-p" }, { 6, 16, "rw-p" } }, 2);

	/*
	 * 3. mprotect pages 8-9 read-only: the right VMA splits in three.
	 *      0          4     6     8     10                16
	 *      |== rw-p ==|     |rw-p |r--p |===== rw-p =====|
	 */
	r = u_mprotect(AREA + 8 * PAGE, 2 * PAGE, PROT_READ);
	u_check(r == 0, "mprotect of pages 8-9 to PROT_READ: %ld", r);
	maps_are("after mprotect read-only", (const struct vline[]){ { 0, 4, "rw-p" },
		 { 6, 8, "rw-p" }, { 8, 10, "r--p" }, { 10, 16, "rw-p" } }, 4);

	/*
	 * 4. mprotect them back: the three merge again.
	 *      0          4     6                             16
	 *      |== rw-p ==|     |========== rw-p ============|
	 */
	r = u_mprotect(AREA + 8 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE);
	u_check(r == 0, "mprotect of pages 8-9 back to read-write: %ld", r);
	maps_are("after mprotect back", (const struct vline[]){ { 0, 4, "rw-p" },
		 { 6, 16, "rw-p" } }, 2);

	/*
	 * 5. mmap the hole again (MAP_FIXED): it merges with both neighbours (anonymous pgoff
	 *    = address >> 12 lines up), and reads zero while the rest kept its data.
	 *      0                                              16
	 *      |==================== rw-p ====================|
	 */
	r = u_anon(AREA + 4 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_FIXED);
	u_check(r == (long)(AREA + 4 * PAGE), "MAP_FIXED into the hole: 0x%lx", r);
	maps_are("after filling the hole", (const struct vline[]){ { 0, 16, "rw-p" } }, 1);
	u_check(holds(0, 4, tag) && holds(6, 16, tag) &&
		*(volatile unsigned long *)(AREA + 4 * PAGE) == 0 &&
		*(volatile unsigned long *)(AREA + 5 * PAGE) == 0,
		"the refilled hole reads zero, the other 14 pages kept their data");

	/*
	 * 6. PROT_NONE over pages 2-13, then 7. a read-only MAP_FIXED over pages 1-2 replaces part
	 *    of both the first piece and the PROT_NONE one:
	 *      0    2                                   14    16
	 * 6.   |rw-p|================ ---p ==============|rw-p |
	 *      0 1    3                                 14    16
	 * 7.   |r|r--p|============= ---p ==============|rw-p |
	 *       w
	 */
	r = u_mprotect(AREA + 2 * PAGE, 12 * PAGE, PROT_NONE);
	u_check(r == 0, "mprotect of pages 2-13 to PROT_NONE: %ld", r);
	maps_are("after PROT_NONE", (const struct vline[]){ { 0, 2, "rw-p" }, { 2, 14, "---p" },
		 { 14, 16, "rw-p" } }, 3);
	{
		long w1 = syscall6(SYS_write, 1, (long)(AREA + 5 * PAGE), 8, 0, 0, 0);
		long w2 = syscall6(SYS_write, 1, (long)0xffff888000000000UL, 8, 0, 0, 0);
		long w3 = syscall6(SYS_write, 1, (long)(AREA + 20 * PAGE), 8, 0, 0, 0);
		long w4 = syscall6(SYS_write, 3, (long)AREA, 8, 0, 0, 0);

		u_check(w1 == -UAPI_EFAULT && w2 == -UAPI_EFAULT && w3 == -UAPI_EFAULT &&
			w4 == -UAPI_EBADF, "write() from PROT_NONE, kernel and unmapped buffers: %ld "
			"%ld %ld (-EFAULT), to fd 3: %ld (-EBADF)", w1, w2, w3, w4);
	}
	r = u_anon(AREA + PAGE, 2 * PAGE, PROT_READ, MAP_FIXED);
	u_check(r == (long)(AREA + PAGE), "read-only MAP_FIXED over pages 1-2: 0x%lx", r);
	maps_are("after the read-only replacement", (const struct vline[]){ { 0, 1, "rw-p" },
		 { 1, 3, "r--p" }, { 3, 14, "---p" }, { 14, 16, "rw-p" } }, 4);
	u_check(holds(0, 1, tag) && holds(14, 16, tag) &&
		*(volatile unsigned long *)(AREA + PAGE) == 0,
		"pages 0 and 14-15 kept their data, the replaced page 1 reads zero");

	/* 8. errors: nothing changes. */
	r = u_mprotect(AREA + 15 * PAGE, 4 * PAGE, PROT_READ);
	u_check(r == -UAPI_ENOMEM, "mprotect over the end of the mapping: %ld (-ENOMEM)", r);
	r = u_munmap(AREA + 100, PAGE);
	u_check(r == -UAPI_EINVAL, "munmap of an unaligned address: %ld (-EINVAL)", r);
	r = u_anon(0x10000, PAGE, PROT_READ, MAP_FIXED);
	u_check(r == -UAPI_EINVAL, "MAP_FIXED below user space (64 KiB): %ld (-EINVAL)", r);
	r = u_mmap(0, PAGE, PROT_READ, MAP_SHARED);
	u_check(r == -UAPI_EBADF, "MAP_SHARED of a file (there are none): %ld (-EBADF)", r);
	r = u_mmap(0, PAGE, PROT_READ, MAP_ANONYMOUS);
	u_check(r == -UAPI_EINVAL, "neither MAP_PRIVATE nor MAP_SHARED: %ld (-EINVAL)", r);
	maps_are("after the failed calls", (const struct vline[]){ { 0, 1, "rw-p" },
		 { 1, 3, "r--p" }, { 3, 14, "---p" }, { 14, 16, "rw-p" } }, 4);

	/* 9. munmap across all four: nothing left in the area. */
	r = u_munmap(AREA, 16 * PAGE);
	u_check(r == 0, "munmap of all 16 pages: %ld", r);
	maps_are("after munmap of everything", (const struct vline[]){ { 0, 0, "" } }, 0);

	/* Placement: a free hint is taken as is; an occupied one is not; no hint: top-down. */
	r = u_anon(AREA + 32 * PAGE, 4 * PAGE, PROT_READ, 0);
	u_check(r == (long)(AREA + 32 * PAGE), "a free hint 0x%lx is used: 0x%lx",
		AREA + 32 * PAGE, r);
	{
		long r2 = u_anon(AREA + 32 * PAGE, 4 * PAGE, PROT_READ, 0);
		long r3 = u_anon(0, 4 * PAGE, PROT_READ, 0);

		u_check(!u_err(r2) && r2 != r, "an occupied hint gives another address: 0x%lx",
			r2);
		u_check(r3 == (long)(MMAP_BASE - 8 * PAGE),
			"no hint: top-down below mmap_base: 0x%lx (expected 0x%lx, below the "
			"previous one)", r3, MMAP_BASE - 8 * PAGE);
		u_check(u_munmap((unsigned long)r, 4 * PAGE) == 0 &&
			u_munmap((unsigned long)r2, 4 * PAGE) == 0 &&
			u_munmap((unsigned long)r3, 4 * PAGE) == 0, "the three unmapped");
	}

	/* brk: a [heap] VMA from start_brk, grown past a page boundary, then shrunk away. */
	{
		unsigned long b0 = u_brk(0), want = b0 + 3 * PAGE + 100;
		unsigned long b1 = u_brk(want);
		long n = u_maps(maps, sizeof(maps));
		char exp[64];
		bool heap;

		u_snprintf(exp, sizeof(exp), "%08lx-%08lx rw-p", b0, b0 + 4 * PAGE);
		heap = false;
		for (long i = 0; i + 20 < n && !heap; i++)
			heap = !memcmp(maps + i, exp, u_strlen(exp));
		u_check(b0 % PAGE == 0 && b1 == want && heap,
			"brk 0x%lx -> 0x%lx: [heap] VMA %s", b0, b1, exp);
		*(volatile char *)(want - 1) = 1;
		u_check(u_brk(b0) == b0, "brk back to 0x%lx", b0);
		u_check(u_brk(b0 - PAGE) == b0, "brk below start_brk is refused (stays 0x%lx)",
			b0);
	}
	return 0;
}

/* ---- fault ---------------------------------------------------------------------------------- */

static struct mv_proc_stats st;

static unsigned long faults_since(unsigned long *last)
{
	unsigned long d;

	u_stats(&st);
	d = st.minflt - *last;
	*last = st.minflt;
	return d;
}

static int prog_fault(bool bind_node1)
{
	unsigned long f = 0, rss0, d;
	long a, b, c;

	faults_since(&f);
	rss0 = st.rss;
	a = u_anon(0, 64 * PAGE, PROT_READ | PROT_WRITE, 0);
	d = faults_since(&f);
	u_check(!u_err(a) && d == 0 && st.rss == rss0,
		"mmap of 64 pages faults nothing (%lu faults, rss %lu)", d, st.rss);

	for (unsigned long i = 0; i < 64; i++)
		*(volatile unsigned long *)(a + (long)(i * PAGE) + 8) = i * 3;
	d = faults_since(&f);
	u_check(d == 64 && st.rss == rss0 + 64,
		"first write to each of 64 pages: %lu faults (64), rss +%lu", d, st.rss - rss0);

	for (unsigned long i = 0; i < 64; i++)
		*(volatile unsigned long *)(a + (long)(i * PAGE) + 16) =
			*(volatile unsigned long *)(a + (long)(i * PAGE) + 8) + 1;
	d = faults_since(&f);
	u_check(d == 0, "re-touching the 64 pages: %lu faults (0)", d);

	b = u_anon(0, 16 * PAGE, PROT_READ, 0);
	{
		unsigned long sum = 0;

		for (unsigned long i = 0; i < 16; i++)
			sum += *(volatile unsigned long *)(b + (long)(i * PAGE));
		d = faults_since(&f);
		u_check(sum == 0 && d == 16, "first read of 16 read-only pages: %lu faults "
			"(16), all zero", d);
	}

	c = u_anon(0, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_POPULATE);
	d = faults_since(&f);
	u_check(!u_err(c) && d == 0 && st.rss == rss0 + 64 + 16 + 32,
		"MAP_POPULATE of 32 pages: %lu faults (0), rss +%lu (112)", d, st.rss - rss0);
	for (unsigned long i = 0; i < 32; i++)
		*(volatile unsigned long *)(c + (long)(i * PAGE)) = i;
	d = faults_since(&f);
	u_check(d == 0, "writing the 32 populated pages: %lu faults (0)", d);

	u_check(u_madvise((unsigned long)a, 16 * PAGE, MADV_DONTNEED) == 0,
		"madvise(MADV_DONTNEED) of 16 pages");
	u_stats(&st);
	u_check(st.rss == rss0 + 48 + 16 + 32, "rss dropped by 16 (+%lu)", st.rss - rss0);
	{
		bool zero = true, kept = true;

		for (unsigned long i = 0; i < 64; i++) {
			unsigned long v = *(volatile unsigned long *)(a + (long)(i * PAGE) + 8);

			if (i < 16)
				zero &= v == 0;
			else
				kept &= v == i * 3;
		}
		d = faults_since(&f);
		u_check(zero && kept && d == 16, "the 16 dropped pages read zero again with "
			"%lu faults (16), the other 48 kept their data", d);
	}

	{
		unsigned long b0 = u_brk(0);

		u_brk(b0 + 8 * PAGE);
		for (unsigned long i = 0; i < 8; i++)
			*(volatile char *)(b0 + i * PAGE) = 1;
		d = faults_since(&f);
		u_check(d == 8, "8 pages of heap from brk: %lu faults (8)", d);
		u_brk(b0);
	}

	if (bind_node1) {
		long r1 = u_set_mempolicy(MPOL_BIND, 1UL << 1);
		unsigned long before;
		long m;

		u_stats(&st);
		before = st.rss_node[1];
		m = u_anon(0, 8 * PAGE, PROT_READ | PROT_WRITE, 0);
		for (unsigned long i = 0; i < 8; i++)
			*(volatile char *)(m + (long)(i * PAGE)) = 1;
		d = faults_since(&f);
		u_check(r1 == 0 && d == 8 && st.rss_node[1] == before + 8,
			"set_mempolicy(MPOL_BIND, node 1): %ld; 8 new pages faulted, %lu on node 1",
			r1, st.rss_node[1] - before);
		u_check(u_set_mempolicy(MPOL_BIND, 1UL << 40) == -UAPI_EINVAL &&
			u_set_mempolicy(MPOL_BIND, 0) == -UAPI_EINVAL &&
			u_set_mempolicy(7, 1) == -UAPI_EINVAL,
			"set_mempolicy refuses a node without memory, an empty set, mode 7: -EINVAL");
		u_check(u_set_mempolicy(MPOL_DEFAULT, 0) == 0 && u_munmap((unsigned long)m, 8 * PAGE) == 0,
			"set_mempolicy(MPOL_DEFAULT) and the 8 pages unmapped");
	}
	u_check(u_munmap((unsigned long)a, 64 * PAGE) == 0 &&
		u_munmap((unsigned long)b, 16 * PAGE) == 0 &&
		u_munmap((unsigned long)c, 32 * PAGE) == 0, "everything unmapped");
	u_stats(&st);
	u_check(st.rss == rss0, "rss back to %lu (%lu)", rss0, st.rss);
	return 0;
}

/* ---- stack ------------------------------------------------------------------------------------ */

/* Touch the stack a page at a time downwards from the current page: the kernel grows the stack
 * VMA on each fault until its limit (or the guard gap above a read-only page mapped at
 * guard_page, if not 0) and then kills the process. Never returns. */
static int prog_stack(unsigned long guard_page)
{
	unsigned long sp;

	if (guard_page && u_anon(guard_page, PAGE, PROT_READ, MAP_FIXED) != (long)guard_page)
		return 2;

	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	for (volatile char *p = (volatile char *)(sp & ~(PAGE - 1)) - PAGE;; p -= PAGE)
		*p = 1;
	return 1;
}

/* ---- segv --------------------------------------------------------------------------------------- */

static int prog_segv(enum uprog which, unsigned long arg)
{
	long m;

	switch (which) {
	case UPROG_SEGV_UNMAPPED:
		return (int)*(volatile long *)SEGV_AT;
	case UPROG_SEGV_WRITE_RO:
		m = u_anon(SEGV_AT, PAGE, PROT_READ, MAP_FIXED);
		(void)*(volatile long *)m;             /* reading works */
		*(volatile long *)m = 1;
		return 1;
	case UPROG_SEGV_EXEC_NX:
		m = u_anon(SEGV_AT, PAGE, PROT_READ | PROT_WRITE, MAP_FIXED);
		*(volatile unsigned char *)m = 0xc3;    /* ret */
		((void (*)(void))m)();
		return 1;                              /* returns here only without NX */
	case UPROG_SEGV_PROT_NONE:
		m = u_anon(SEGV_AT, PAGE, PROT_NONE, MAP_FIXED);
		return (int)*(volatile long *)m;
	case UPROG_SEGV_KERNEL:
		return (int)*(volatile long *)arg;
	case UPROG_SEGV_BELOW_USER:
		return (int)*(volatile long *)0x100000UL;
	default:
		return 1;
	}
}

static int prog_hello(unsigned long arg)
{
	long pid = u_getpid();

	u_printf("# hello from pid %ld\n", pid);
	u_check(pid > 0, "getpid() = %ld", pid);
	return (int)arg;
}

/* ---- cow -------------------------------------------------------------------------------------- */

#define COW_PAGES 32
#define COW_A     0xa000UL                     /* the pattern before the fork */
#define COW_B     0xb000UL                     /* the parent's after it */
#define COW_C     0xc000UL                     /* the child's */

static unsigned long word(long base, unsigned long i)
{
	return *(volatile unsigned long *)(base + (long)(i * PAGE));
}

static void set_word(long base, unsigned long i, unsigned long v)
{
	*(volatile unsigned long *)(base + (long)(i * PAGE)) = v;
}

/* Pages [first, last) of base hold tag + index. */
static bool cow_holds(long base, unsigned long first, unsigned long last, unsigned long tag)
{
	bool ok = true;

	for (unsigned long i = first; i < last; i++)
		ok &= word(base, i) == tag + i;
	return ok;
}

/*
 * The child: runs when the parent waits, after the parent wrote pages 0-7. It must still see
 * pattern A everywhere; pages 0-7 are its alone by then (the parent copied), so writing them
 * reuses the frames; pages 8-15 are still shared, so writing them copies: 8 COW faults.
 */
static int cow_child(long m)
{
	struct mv_proc_stats s0, s1;
	bool a;

	u_stats(&s0);
	a = cow_holds(m, 0, COW_PAGES, COW_A);
	for (unsigned long i = 0; i < 16; i++)
		set_word(m, i, COW_C + i);
	u_stats(&s1);
	u_check(a, "child: all %u pages still hold the pre-fork data", COW_PAGES);
	u_check(s1.minflt - s0.minflt == 16 && s1.cowflt - s0.cowflt == 8,
		"child: writing pages 0-15: %lu faults (16), %lu copies (8: pages 8-15 were still "
		"shared, 0-7 already its own)", s1.minflt - s0.minflt, s1.cowflt - s0.cowflt);
	u_check(cow_holds(m, 0, 16, COW_C) && cow_holds(m, 16, COW_PAGES, COW_A),
		"child: reads back its writes and the untouched pages");
	return 7;
}

static int prog_cow(void)
{
	struct mv_proc_stats s0, s1, s2;
	long m = u_anon(0, COW_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_POPULATE);
	long ro = u_anon(0, PAGE, PROT_READ, MAP_POPULATE);
	long pid, self = u_getpid(), w;
	int status = -1;

	for (unsigned long i = 0; i < COW_PAGES; i++)
		set_word(m, i, COW_A + i);
	pid = u_fork();
	if (pid == 0)
		return cow_child(m);
	u_check(pid > self, "fork returned child pid %ld to parent %ld", pid, self);
	u_stats(&s0);                          /* after the stack's own COW fault */
	for (unsigned long i = 0; i < 8; i++)
		set_word(m, i, COW_B + i);
	(void)*(volatile long *)ro;            /* a shared read-only page: no fault */
	u_stats(&s1);
	u_check(s1.minflt - s0.minflt == 8 && s1.cowflt - s0.cowflt == 8 && s1.rss == s0.rss,
		"parent: writing 8 shared pages: %lu faults, %lu copies (8, 8), rss unchanged",
		s1.minflt - s0.minflt, s1.cowflt - s0.cowflt);
	w = u_wait(-1, &status);
	u_check(w == pid && status == WSTATUS_EXITED(7),
		"wait: child %ld exited with status 0x%x (0x%x)", w, status, WSTATUS_EXITED(7));
	u_check(cow_holds(m, 0, 8, COW_B) && cow_holds(m, 8, COW_PAGES, COW_A),
		"parent: its pages 0-7 hold its writes, 8-31 the pre-fork data (the child's writes "
		"did not leak)");
	u_stats(&s1);
	for (unsigned long i = 16; i < COW_PAGES; i++)
		set_word(m, i, COW_B + i);
	u_stats(&s2);
	u_check(s2.minflt - s1.minflt == 16 && s2.cowflt == s1.cowflt,
		"parent: writing pages 16-31 after the child is gone: %lu faults, %lu copies (16, "
		"0: the frames are its alone again)", s2.minflt - s1.minflt, s2.cowflt - s1.cowflt);
	u_check(u_wait(-1, &status) == -UAPI_ECHILD, "wait without children: -ECHILD");
	pid = u_fork();
	if (pid == 0)
		return (int)*(volatile long *)0x300000000UL;   /* a child killed by SIGSEGV */
	w = u_wait(pid, &status);
	u_check(w == pid && status == SIGSEGV, "wait: child %ld killed, status %d (SIGSEGV %d)",
		w, status, SIGSEGV);
	return 0;
}

/* ---- churn ------------------------------------------------------------------------------------ */

/*
 * Random mmap / munmap / mprotect / madvise / touches / forks over CHURN_PAGES pages at AREA,
 * checked against a model: what each page should read, whether it is present (rss), and the
 * maps lines (anonymous VMAs with equal permissions next to each other are always merged: mmap
 * and mprotect merge with their neighbours, the others never make equal neighbours).
 */
#define CHURN_PAGES 48
#define CHURN_OPS   4000
#define UNMAPPED    (-1)

static unsigned long rng;
static int cprot[CHURN_PAGES];                 /* PROT_* or UNMAPPED */
static unsigned long cval[CHURN_PAGES];        /* the first word's expected value */
static bool cpresent[CHURN_PAGES];             /* touched since mapped or dropped */

static unsigned long rnd(unsigned long n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static const char *perm_text(int prot)
{
	static const char *const t[] = { "---p", "r--p", "-w-p", "rw-p" };

	return t[prot & 3];
}

/* Every readable page reads its value, rss counts the present pages, the maps are the runs. */
static bool churn_verify(unsigned long rss0, const char *when)
{
	struct mv_proc_stats s;
	struct vline want[CHURN_PAGES];
	unsigned n = 0, present = 0;
	bool data = true;

	for (unsigned i = 0; i < CHURN_PAGES; i++)
		if (cprot[i] != UNMAPPED && (cprot[i] & PROT_READ)) {
			data &= *(volatile unsigned long *)(AREA + i * PAGE) == cval[i];
			cpresent[i] = true;
		}
	for (unsigned i = 0; i < CHURN_PAGES; i++) {
		present += cpresent[i];
		if (cprot[i] == UNMAPPED)
			continue;
		if (n && want[n - 1].last == i && !memcmp(want[n - 1].perms, perm_text(cprot[i]), 4))
			want[n - 1].last = i + 1;
		else
			want[n++] = (struct vline){ i, i + 1, perm_text(cprot[i]) };
	}
	u_stats(&s);
	return u_check(data && s.rss - rss0 == present, "%s: data as the model says, rss "
		       "+%lu (present %u)", when, s.rss - rss0, present) &&
	       maps_are(when, want, n);
}

static int prog_churn(unsigned long seed)
{
	struct mv_proc_stats s0;
	unsigned long forks = 0;
	bool ok = true;

	rng = seed | 1;
	for (unsigned i = 0; i < CHURN_PAGES; i++)
		cprot[i] = UNMAPPED;
	u_stats(&s0);
	for (unsigned op = 0; op < CHURN_OPS && ok; op++) {
		unsigned i = (unsigned)rnd(CHURN_PAGES), n = 1 + (unsigned)rnd(8);
		unsigned long a = AREA + i * PAGE;
		bool all_mapped = true;
		int prot = (int)rnd(4);             /* NONE, R, W (= RW on x86), RW */
		long r;

		if (i + n > CHURN_PAGES)
			n = CHURN_PAGES - i;
		for (unsigned k = i; k < i + n; k++)
			all_mapped &= cprot[k] != UNMAPPED;
		if (prot == PROT_WRITE)
			prot = PROT_READ | PROT_WRITE;
		switch (rnd(7)) {
		case 0:                              /* mmap (replaces what is there) */
			r = u_anon(a, n * PAGE, prot, MAP_FIXED);
			ok &= r == (long)a;
			for (unsigned k = i; k < i + n; k++) {
				cprot[k] = prot;
				cval[k] = 0;
				cpresent[k] = false;
			}
			break;
		case 1:                              /* munmap */
			ok &= u_munmap(a, n * PAGE) == 0;
			for (unsigned k = i; k < i + n; k++) {
				cprot[k] = UNMAPPED;
				cpresent[k] = false;
			}
			break;
		case 2:                              /* mprotect: all or nothing */
			r = u_mprotect(a, n * PAGE, prot);
			ok &= r == (all_mapped ? 0 : -UAPI_ENOMEM);
			for (unsigned k = i; all_mapped && k < i + n; k++)
				cprot[k] = prot;
			break;
		case 3:                              /* MADV_DONTNEED: drops the mapped pages */
			r = u_madvise(a, n * PAGE, MADV_DONTNEED);
			ok &= r == (all_mapped ? 0 : -UAPI_ENOMEM);
			for (unsigned k = i; k < i + n; k++)
				if (cprot[k] != UNMAPPED) {
					cval[k] = 0;
					cpresent[k] = false;
				}
			break;
		case 4:                              /* read */
		case 5:                              /* write */
			for (unsigned k = i; k < i + n; k++) {
				volatile unsigned long *w = (volatile unsigned long *)(AREA + k * PAGE);

				if (cprot[k] == UNMAPPED || !(cprot[k] & PROT_READ))
					continue;
				ok &= *w == cval[k];
				cpresent[k] = true;
				if ((cprot[k] & PROT_WRITE) && (op & 1)) {
					cval[k] = rng;
					*w = rng;
				}
			}
			break;
		case 6:                              /* now and then a fork: the child checks */
			if (rnd(100) >= 3)
				break;
			forks++;
			r = u_fork();
			if (r == 0) {
				for (unsigned k = 0; k < CHURN_PAGES; k++)
					if (cprot[k] != UNMAPPED && (cprot[k] & PROT_READ) &&
					    *(volatile unsigned long *)(AREA + k * PAGE) != cval[k])
						u_exit(1);
				for (unsigned k = 0; k < CHURN_PAGES; k++)   /* its writes stay its own */
					if (cprot[k] != UNMAPPED && (cprot[k] & PROT_WRITE))
						*(volatile unsigned long *)(AREA + k * PAGE) = ~cval[k];
				u_exit(0);
			} else {
				int status = -1;

				ok &= r > 0 && u_wait(r, &status) == r && status == 0;
			}
			break;
		}
		if (!ok)
			u_printf("# churn: op %u failed (page %u, %u pages, prot %d)\n", op, i, n, prot);
		if (op % 1000 == 999 && !churn_verify(s0.rss, "checkpoint"))
			ok = false;
	}
	u_check(ok, "%u random operations (seed 0x%lx) as the model says, %lu forks",
		CHURN_OPS, seed, forks);
	ok &= churn_verify(s0.rss, "at the end");
	u_munmap(AREA, CHURN_PAGES * PAGE);
	for (unsigned i = 0; i < CHURN_PAGES; i++) {
		cprot[i] = UNMAPPED;
		cpresent[i] = false;
	}
	return churn_verify(s0.rss, "after munmap of everything") && ok ? 0 : 1;
}

/* ---- interleave ---------------------------------------------------------------------------------- */

/*
 * Several of these run at once, switching at every sched_yield. All map the same addresses
 * (AREA, MAP_FIXED) with their own contents: after each switch a process must still read its
 * own data — address spaces, CR3 switches and TLB flushes are isolated.
 */
static int prog_interleave(unsigned long iters)
{
	long pid = u_getpid();
	unsigned long bad = 0, yields = 0;

	for (unsigned long it = 0; it < iters; it++) {
		unsigned long tag = (unsigned long)pid << 32 | it << 8;
		long m = u_anon(AREA, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_FIXED);

		bad += m != (long)AREA;
		for (unsigned long i = 0; i < 8; i++)
			*(volatile unsigned long *)(AREA + i * PAGE) = tag + i;
		syscall6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
		yields++;
		bad += !cow_holds(AREA, 0, 8, tag);
		bad += u_mprotect(AREA, 4 * PAGE, PROT_READ) != 0;
		syscall6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
		yields++;
		bad += !cow_holds(AREA, 0, 8, tag);
		bad += u_munmap(AREA, 8 * PAGE) != 0;
	}
	u_check(bad == 0, "pid %ld: %lu iterations, %lu yields, its own data at 0x%lx after every "
		"switch (%lu bad)", pid, iters, yields, AREA, bad);
	return bad ? 1 : 0;
}

/* ---- shared --------------------------------------------------------------------------------------- */

/*
 * MAP_SHARED | MAP_ANONYMOUS next to a private mapping across a fork: the child's writes show in
 * the parent's shared pages and not in its private ones; mprotect and MADV_DONTNEED keep the
 * shared data (it lives in the backing object); nothing is copied on write.
 */
static int prog_shared(void)
{
	struct mv_proc_stats s0, s1;
	long sh = u_mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
	long pv = u_anon(0, 4 * PAGE, PROT_READ | PROT_WRITE, 0);
	long pid, n;
	int status = -1;
	char exp[64];

	u_check(!u_err(sh) && !u_err(pv), "a shared and a private mapping: 0x%lx 0x%lx", sh, pv);
	for (unsigned long i = 0; i < 4; i++) {
		set_word(sh, i, COW_A + i);
		set_word(pv, i, COW_A + i);
	}
	n = u_maps(maps, sizeof(maps));
	u_snprintf(exp, sizeof(exp), "%08lx-%08lx rw-s 00000000 00:00 0", sh, sh + 4 * PAGE);
	{
		bool line = false;

		for (long i = 0; i + (long)u_strlen(exp) <= n && !line; i++)
			line = !memcmp(maps + i, exp, u_strlen(exp));
		u_check(line, "maps shows the shared mapping as %s", exp);
	}
	pid = u_fork();
	if (pid == 0) {
		bool a = cow_holds(sh, 0, 4, COW_A) && cow_holds(pv, 0, 4, COW_A);

		u_stats(&s0);
		for (unsigned long i = 0; i < 4; i++) {
			set_word(sh, i, COW_C + i);
			set_word(pv, i, COW_C + i);
		}
		u_stats(&s1);
		u_check(a && s1.cowflt - s0.cowflt == 4,
			"child: sees the pre-fork data; its writes copied only the 4 private pages "
			"(%lu copies)", s1.cowflt - s0.cowflt);
		return 0;
	}
	n = u_wait(pid, &status);
	u_check(n == pid && status == 0, "wait: child %ld ended with status 0x%x (0)", n, status);
	u_check(cow_holds(sh, 0, 4, COW_C) && cow_holds(pv, 0, 4, COW_A),
		"parent: the child's writes are in the shared pages, not in the private ones");
	u_stats(&s0);
	u_check(u_mprotect((unsigned long)sh, 4 * PAGE, PROT_READ) == 0 &&
		cow_holds(sh, 0, 4, COW_C) &&
		u_mprotect((unsigned long)sh, 4 * PAGE, PROT_READ | PROT_WRITE) == 0,
		"mprotect read-only and back keeps the shared data");
	for (unsigned long i = 0; i < 4; i++)
		set_word(sh, i, COW_B + i);
	u_stats(&s1);
	u_check(s1.cowflt == s0.cowflt, "writing the shared pages again copies nothing (%lu)",
		s1.cowflt - s0.cowflt);
	u_check(u_madvise((unsigned long)sh, 4 * PAGE, MADV_DONTNEED) == 0 &&
		cow_holds(sh, 0, 4, COW_B),
		"MADV_DONTNEED drops only the mappings: the shared data comes back");
	u_check(u_munmap((unsigned long)sh, 4 * PAGE) == 0 && u_munmap((unsigned long)pv, 4 * PAGE) == 0,
		"both unmapped");
	return 0;
}

/* ---- mbind ------------------------------------------------------------------------------------- */

/*
 * 64 pages at AREA in four ranges of 16, each placed differently, on a machine with nodes 0 and 1:
 *
 *   AREA  +16        +32        +48        +64
 *   | bind 1 | interleave 0-1 | bind 0 | (no VMA policy: the process's bind 1) |
 *
 * The errors come first (Linux's values), then the policies, the touches with the per-node rss
 * they must add, the maps (4 VMAs, printed by the kernel with the policies), and MPOL_DEFAULT on
 * the whole range merging it back into one VMA. The pages stay mapped: the kernel checks the
 * node of each one after the exit.
 */
#define MBIND_RANGE (16 * PAGE)

static unsigned maps_lines_in(unsigned long lo, unsigned long hi)
{
	long len = u_maps(maps, sizeof(maps));
	unsigned n = 0;

	for (long i = 0; i >= 0 && i < len; ) {
		unsigned long start = 0;
		long j = i;

		for (; j < len && maps[j] != '-'; j++)
			start = start * 16 + (unsigned long)(maps[j] <= '9' ? maps[j] - '0' :
							      maps[j] - 'a' + 10);
		n += start >= lo && start < hi;
		while (j < len && maps[j] != '\n')
			j++;
		i = j + 1;
	}
	return n;
}

/* Pages rss added per node while touching [a, a + len). */
static void touch_rss(unsigned long a, unsigned long len, unsigned long *n0, unsigned long *n1)
{
	struct mv_proc_stats s0, s1;

	u_stats(&s0);
	for (unsigned long off = 0; off < len; off += PAGE)
		*(volatile unsigned long *)(a + off) = a + off;
	u_stats(&s1);
	*n0 = s1.rss_node[0] - s0.rss_node[0];
	*n1 = s1.rss_node[1] - s0.rss_node[1];
}

static int prog_mbind(void)
{
	long m = u_anon(AREA, 4 * MBIND_RANGE, PROT_READ | PROT_WRITE, MAP_FIXED);
	unsigned long a = (unsigned long)m, n0, n1;

	if (!u_check(m == (long)AREA, "64 pages at 0x%lx", AREA))
		return 1;
	u_check(u_mbind(a + 1, PAGE, MPOL_BIND, 2, 0) == -UAPI_EINVAL, "unaligned start: -EINVAL");
	u_check(u_mbind(a, PAGE, 7, 2, 0) == -UAPI_EINVAL, "unknown mode 7: -EINVAL");
	u_check(u_mbind(a, PAGE, MPOL_BIND, 2, 2 /* MPOL_MF_MOVE */) == -UAPI_EINVAL,
		"MPOL_MF_MOVE (no migration): -EINVAL");
	u_check(u_mbind(a, PAGE, MPOL_BIND, 0, 0) == -UAPI_EINVAL, "BIND without nodes: -EINVAL");
	u_check(u_mbind(a, PAGE, MPOL_BIND, 1UL << 9, 0) == -UAPI_EINVAL,
		"BIND to node 9 (none): -EINVAL");
	u_check(u_mbind(a, PAGE, MPOL_DEFAULT, 1, 0) == -UAPI_EINVAL,
		"DEFAULT with nodes: -EINVAL");
	u_check(syscall6(SYS_mbind, (long)a, PAGE, MPOL_BIND, 0x10, 65, 0) == -UAPI_EFAULT,
		"unreadable nodemask: -EFAULT");
	u_check(u_mbind(a + 4 * MBIND_RANGE - PAGE, 2 * PAGE, MPOL_BIND, 2, 0) == -UAPI_EFAULT,
		"range running into a hole: -EFAULT");
	u_check(u_mbind(a, 0, MPOL_BIND, 2, 0) == 0, "len 0: 0, nothing done");
	u_check(maps_lines_in(AREA, AREA + 4 * MBIND_RANGE) == 1, "the errors left one VMA");

	u_check(u_set_mempolicy(MPOL_BIND, 2) == 0, "set_mempolicy(BIND, node 1) for the process");
	u_check(u_mbind(a, MBIND_RANGE, MPOL_BIND, 2, 0) == 0 &&
		u_mbind(a + MBIND_RANGE, MBIND_RANGE, MPOL_INTERLEAVE, 3, 0) == 0 &&
		u_mbind(a + 2 * MBIND_RANGE, MBIND_RANGE, MPOL_BIND, 1, 0) == 0,
		"mbind: bind 1, interleave 0-1, bind 0 on three ranges");
	u_check(maps_lines_in(AREA, AREA + 4 * MBIND_RANGE) == 4,
		"maps: four VMAs, one per policy (%u)", maps_lines_in(AREA, AREA + 4 * MBIND_RANGE));
	touch_rss(a, MBIND_RANGE, &n0, &n1);
	u_check(n0 == 0 && n1 == 16, "bind 1: 16 pages on node 1 (node 0 %lu, node 1 %lu)", n0, n1);
	touch_rss(a + MBIND_RANGE, MBIND_RANGE, &n0, &n1);
	u_check(n0 == 8 && n1 == 8, "interleave 0-1: 8 pages on each node (node 0 %lu, node 1 %lu)",
		n0, n1);
	touch_rss(a + 2 * MBIND_RANGE, MBIND_RANGE, &n0, &n1);
	u_check(n0 == 16 && n1 == 0, "bind 0 over the process's bind 1: 16 pages on node 0 (node 0 "
		"%lu, node 1 %lu)", n0, n1);
	touch_rss(a + 3 * MBIND_RANGE, MBIND_RANGE, &n0, &n1);
	u_check(n0 == 0 && n1 == 16, "no VMA policy: the process's bind 1 (node 0 %lu, node 1 %lu)",
		n0, n1);
	syscall6(MV_SYS_MAPS, 0, 0, 0, 0, 0, 0);        /* the kernel's dump, with the policies */
	u_check(u_mbind(a, 4 * MBIND_RANGE, MPOL_DEFAULT, 0, 0) == 0 &&
		maps_lines_in(AREA, AREA + 4 * MBIND_RANGE) == 1,
		"MPOL_DEFAULT over the whole range: merged back into one VMA");
	return 0;
}

/* ---- stress ------------------------------------------------------------------------------------ */

/*
 * Several run at once on every CPU and are preempted by the tick anywhere in ring 3, so each
 * check below is about this process's own memory surviving switches, migrations and the other
 * processes' work. Per iteration: map 4-11 pages anywhere, fill every page (first and last word)
 * with a pattern of (pid, iteration, page), protect the lower half read-only, verify, drop two
 * pages with MADV_DONTNEED (they read zero), every STRESS_FORK_EVERY-th iteration fork a child
 * that verifies the inherited data, overwrites it (copy-on-write) and exits 0 while the parent
 * overwrites its own writable half and checks it still reads its own data after the child's
 * end, then unmap. A persistent heap area (brk) accumulates a per-iteration sum checked every
 * iteration: a wrong frame or a lost write there shows up as a bad count.
 */
#define STRESS_FORK_EVERY 16
#define STRESS_HEAP_PAGES 4
#define STRESS_WORDS      (PAGE / sizeof(unsigned long))

static unsigned long stress_tag(long pid, unsigned long it, unsigned long page)
{
	return (unsigned long)pid << 40 | it << 16 | page;
}

static void stress_fill(long m, unsigned long pages, unsigned long tag0)
{
	for (unsigned long i = 0; i < pages; i++) {
		volatile unsigned long *w = (volatile unsigned long *)(m + (long)(i * PAGE));

		w[0] = tag0 + i;
		w[STRESS_WORDS - 1] = ~(tag0 + i);
	}
}

static unsigned long stress_bad(long m, unsigned long first, unsigned long last,
				unsigned long tag0)
{
	unsigned long bad = 0;

	for (unsigned long i = first; i < last; i++) {
		volatile unsigned long *w = (volatile unsigned long *)(m + (long)(i * PAGE));

		bad += w[0] != tag0 + i || w[STRESS_WORDS - 1] != ~(tag0 + i);
	}
	return bad;
}

/* The child of a stress fork: the parent's data, then its own copy. Exit status: bad pages. */
static int stress_child(long m, unsigned long pages, unsigned long tag0)
{
	long me = u_getpid();
	unsigned long bad = stress_bad(m, 0, pages, tag0);

	if (u_mprotect((unsigned long)m, pages * PAGE, PROT_READ | PROT_WRITE) != 0)
		bad++;
	stress_fill(m, pages, stress_tag(me, 0, 0));
	bad += stress_bad(m, 0, pages, stress_tag(me, 0, 0));
	return bad > 255 ? 255 : (int)bad;
}

static int prog_stress(unsigned long iters)
{
	long pid = u_getpid();
	unsigned long bad = 0, forks = 0, heap_bad = 0, sum = 0;
	unsigned long heap = u_brk(0);
	volatile unsigned long *acc;

	if (u_brk(heap + STRESS_HEAP_PAGES * PAGE) != heap + STRESS_HEAP_PAGES * PAGE) {
		u_check(false, "pid %ld: brk grows the heap", pid);
		return 1;
	}
	acc = (volatile unsigned long *)heap;
	for (unsigned long it = 0; it < iters; it++) {
		unsigned long pages = 4 + (it + (unsigned long)pid) % 8, half = pages / 2;
		unsigned long tag0 = stress_tag(pid, it, 0);
		long m = u_anon(0, pages * PAGE, PROT_READ | PROT_WRITE, 0);

		if (u_err(m)) {
			bad++;
			continue;
		}
		stress_fill(m, pages, tag0);
		bad += u_mprotect((unsigned long)m, half * PAGE, PROT_READ) != 0;
		bad += stress_bad(m, 0, pages, tag0);
		if (it % STRESS_FORK_EVERY == STRESS_FORK_EVERY - 1) {
			int status = -1;
			long child = u_fork();

			if (child == 0)
				return stress_child(m, pages, tag0);
			forks++;
			bad += child < 0;
			stress_fill(m + (long)(half * PAGE), pages - half, tag0 ^ 0xff00);
			bad += u_wait(child, &status) != child || status != WSTATUS_EXITED(0);
			bad += stress_bad(m, 0, half, tag0);
			bad += stress_bad(m + (long)(half * PAGE), 0, pages - half, tag0 ^ 0xff00);
		}
		bad += u_madvise((unsigned long)m + half * PAGE, 2 * PAGE, MADV_DONTNEED) != 0;
		bad += *(volatile unsigned long *)(m + (long)(half * PAGE)) != 0;
		bad += u_munmap((unsigned long)m, pages * PAGE) != 0;
		/* The heap: one word per page gets the iteration added; all must agree. */
		sum += it;
		for (unsigned long i = 0; i < STRESS_HEAP_PAGES; i++) {
			acc[i * STRESS_WORDS] += it;
			heap_bad += acc[i * STRESS_WORDS] != sum;
		}
	}
	u_check(bad == 0 && heap_bad == 0,
		"pid %ld: %lu iterations, %lu forks, %lu bad pages, %lu bad heap sums",
		pid, iters, forks, bad, heap_bad);
	return bad || heap_bad ? 1 : 0;
}


/* ---- faultinj ------------------------------------------------------------------------------------ */

#define FINJ_PAGES 32                          /* pages per mapping */
#define FINJ_BRK   8                           /* pages the heap grows by */

static unsigned long finj_tag(unsigned long round, unsigned long i, unsigned long kind)
{
	return 0xf1a7000000000000UL ^ (kind << 40) ^ (round << 16) ^ i;
}

/* Write every page of [a, a + n pages) (each first write may be the fault that kills this
 * process when the kernel has no frame: the injection's documented outcome), then read all
 * back: false if any page reads another page's or another round's value. */
static bool finj_touch(unsigned long a, unsigned long n, unsigned long round, unsigned long kind)
{
	bool ok = true;

	for (unsigned long i = 0; i < n; i++)
		*(volatile unsigned long *)(a + i * PAGE) = finj_tag(round, i, kind);
	for (unsigned long i = 0; i < n; i++)
		ok &= *(volatile unsigned long *)(a + i * PAGE) == finj_tag(round, i, kind);
	return ok;
}

/*
 * A child that reads the parent's pages (still shared) and writes its own copies. Its end:
 * exit 0 (intact), exit 1 (a page read wrong) or killed: SIGSEGV when a copy-on-write fault
 * found no frame (tolerated, counted). fork -ENOMEM and wait4 -EFAULT are counted too. 1 for
 * a wrong page or an unexpected result, else 0.
 */
static int finj_fork(unsigned long a, unsigned long round, unsigned long *enomem)
{
	int status = -1;
	long pid = u_fork(), r;

	if (pid == 0) {
		for (unsigned long i = 0; i < FINJ_PAGES; i++)
			if (*(volatile unsigned long *)(a + i * PAGE) != finj_tag(round, i, 1))
				u_exit(1);
		u_exit(finj_touch(a, FINJ_PAGES, round, 3) ? 0 : 1);
	}
	if (pid == -UAPI_ENOMEM) {
		(*enomem)++;
		return 0;
	}
	if (pid < 0) {
		u_printf("# faultinj: fork returned %ld\n", pid);
		return 1;
	}
	/* Writing the status may need a frame (our stack page is shared with the child until
	 * written): without one, wait4 is -EFAULT and the child stays unreaped, as in Linux. */
	for (unsigned tries = 0; (r = u_wait(pid, tries < 8 ? &status : NULL)) == -UAPI_EFAULT;
	     tries++)
		(*enomem)++;
	if (r != pid) {
		u_printf("# faultinj: wait returned %ld for child %ld\n", r, pid);
		return 1;
	}
	if (status == -1)               /* reaped without its status: its result is unknown */
		return 0;
	if (status == SIGSEGV) {
		(*enomem)++;
		return 0;
	}
	if (status != 0)
		u_printf("# faultinj: round %lu: the child ended with status 0x%x\n", round, status);
	/* the parent's pages still hold its own values after the child wrote its copies */
	return status == 0 && finj_touch(a, FINJ_PAGES, round, 1) ? 0 : 1;
}

/*
 * The process part of the fault-injection workload: a fresh mapping and a heap growth every
 * round, each written and read back, and a fork whose child checks the mapping. -ENOMEM from mmap and a break that does not move are
 * allocation failures the kernel may report under injection (counted, the round goes on);
 * anything else is an unexpected result.
 */
static int prog_faultinj(unsigned long rounds)
{
	unsigned long brk0 = u_brk(0), enomem = 0;

	for (unsigned long r = 0; r < rounds; r++) {
		long a = u_anon(0, FINJ_PAGES * PAGE, PROT_READ | PROT_WRITE, 0);
		unsigned long b;

		if (a == -UAPI_ENOMEM) {
			enomem++;
		} else if (u_err(a)) {
			u_printf("# faultinj: mmap returned %ld\n", a);
			return 2;
		} else {
			if (!finj_touch((unsigned long)a, FINJ_PAGES, r, 1)) {
				u_printf("# faultinj: round %lu: a mapped page read back wrong\n", r);
				return 1;
			}
			if (finj_fork((unsigned long)a, r, &enomem) != 0)
				return 1;
			if (u_munmap((unsigned long)a, FINJ_PAGES * PAGE) != 0) {
				u_printf("# faultinj: munmap of a whole mapping failed\n");
				return 2;
			}
		}
		b = u_brk(brk0 + FINJ_BRK * PAGE);
		if (b != brk0 + FINJ_BRK * PAGE) {
			enomem++;
			continue;
		}
		if (!finj_touch(brk0, FINJ_BRK, r, 2)) {
			u_printf("# faultinj: round %lu: a heap page read back wrong\n", r);
			return 1;
		}
		if (u_brk(brk0) != brk0)
			enomem++;               /* the heap stays; the next round's brk reuses it */
	}
	u_printf("# faultinj: pid %ld: %lu rounds, %lu allocation failures seen\n", u_getpid(),
		 rounds, enomem);
	return 0;
}

/* ---- bwork: the balloon scenario's process workload ------------------------------------------ */

/*
 * Runs on the CPUs that do not drive the balloon while it inflates or deflates (guest/balloon.c),
 * so every check is about this process's memory surviving the balloon taking and returning
 * frames around it. Per iteration: map 4-7 pages anywhere, fill every word with a pattern of
 * (pid, iteration, page, word), verify it; every BWORK_FORK_EVERY-th iteration fork a child that
 * verifies the inherited copy, overwrites it (copy-on-write) and verifies its own, exiting with
 * its bad-word count, while the parent overwrites its own copy and verifies it after the child's
 * end; unmap; stamp the iteration's end (rdtsc) in the log. No TAP line per process (there are
 * many): the exit status says it all, 0 or the bad words and failed calls (at most 255).
 */
#define BWORK_FORK_EVERY 8
#define BWORK_WORDS      (PAGE / sizeof(unsigned long))
#define BWORK_CHILD      (1UL << 30)    /* tag bits of the copies written after a fork */
#define BWORK_PARENT     (2UL << 30)

static unsigned long bwork_word(unsigned long tag, unsigned long page, unsigned long i)
{
	/* tag: pid << 40 | iteration << 16 (iteration < 512); page < 8; i < 512: the fields do not
	 * overlap and x >= 1 << 40, and an odd multiplier is a bijection, so every word of every
	 * page of every iteration and process differs, and none is 0 (a lost page reads 0). */
	unsigned long x = tag | page << 12 | i;

	return x * 0x9e3779b97f4a7c15UL;
}

static void bwork_fill(long m, unsigned long pages, unsigned long tag)
{
	for (unsigned long p = 0; p < pages; p++) {
		volatile unsigned long *w = (volatile unsigned long *)(m + (long)(p * PAGE));

		for (unsigned long i = 0; i < BWORK_WORDS; i++)
			w[i] = bwork_word(tag, p, i);
	}
}

static unsigned long bwork_bad(long m, unsigned long pages, unsigned long tag)
{
	unsigned long bad = 0;

	for (unsigned long p = 0; p < pages; p++) {
		volatile unsigned long *w = (volatile unsigned long *)(m + (long)(p * PAGE));

		for (unsigned long i = 0; i < BWORK_WORDS; i++)
			bad += w[i] != bwork_word(tag, p, i);
	}
	return bad;
}

static unsigned long rdtsc(void)
{
	unsigned int lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (unsigned long)hi << 32 | lo;
}

static int prog_bwork(unsigned long iters)
{
	long pid = u_getpid(), log;
	unsigned long bad = 0;

	if (iters > MV_BWORK_MAX_ITERS)
		return 255;
	log = u_anon(MV_BWORK_LOG, PAGE, PROT_READ | PROT_WRITE, MAP_FIXED_NOREPLACE);
	if (log != (long)MV_BWORK_LOG)
		return 255;
	for (unsigned long it = 0; it < iters; it++) {
		unsigned long pages = 4 + (it + (unsigned long)pid) % 4;
		unsigned long tag = (unsigned long)pid << 40 | it << 16;
		long m = u_anon(0, pages * PAGE, PROT_READ | PROT_WRITE, 0);

		if (u_err(m)) {
			bad++;
			continue;
		}
		bwork_fill(m, pages, tag);
		bad += bwork_bad(m, pages, tag);
		if (it % BWORK_FORK_EVERY == BWORK_FORK_EVERY - 1) {
			int status = -1;
			long child = u_fork();

			if (child == 0) {
				unsigned long cbad = bwork_bad(m, pages, tag);

				bwork_fill(m, pages, tag | BWORK_CHILD);
				cbad += bwork_bad(m, pages, tag | BWORK_CHILD);
				return cbad > 255 ? 255 : (int)cbad;
			}
			bad += child < 0;
			bwork_fill(m, pages, tag | BWORK_PARENT);
			bad += u_wait(child, &status) != child || status != WSTATUS_EXITED(0);
			bad += bwork_bad(m, pages, tag | BWORK_PARENT);
		}
		bad += u_munmap((unsigned long)m, pages * PAGE) != 0;
		((volatile unsigned long *)log)[it] = rdtsc();
	}
	return bad > 255 ? 255 : (int)bad;
}

int umain(unsigned long prog, unsigned long arg);

int umain(unsigned long prog, unsigned long arg)
{
	switch (prog) {
	case UPROG_VMA:   return prog_vma();
	case UPROG_FAULT: return prog_fault(arg != 0);
	case UPROG_STACK: return prog_stack(arg);
	case UPROG_HELLO: return prog_hello(arg);
	case UPROG_COW:   return prog_cow();
	case UPROG_CHURN: return prog_churn(arg);
	case UPROG_INTERLEAVE: return prog_interleave(arg);
	case UPROG_SHARED: return prog_shared();
	case UPROG_STRESS: return prog_stress(arg);
	case UPROG_MBIND: return prog_mbind();
	case UPROG_FAULTINJ: return prog_faultinj(arg);
	case UPROG_BWORK: return prog_bwork(arg);
	case UPROG_SEGV_UNMAPPED:
	case UPROG_SEGV_WRITE_RO:
	case UPROG_SEGV_EXEC_NX:
	case UPROG_SEGV_PROT_NONE:
	case UPROG_SEGV_KERNEL:
	case UPROG_SEGV_BELOW_USER:
		return prog_segv((enum uprog)prog, arg);
	default:
		return 127;
	}
}
