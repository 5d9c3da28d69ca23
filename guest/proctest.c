/*
 * guest/proctest.c — the process scenarios (`scenario=NAME`, guest/README.md): each sets up the
 * memory manager (pmem, vmem, kmem as mmtest.c does), ring 3 (uarch.c) and processes (proc.c),
 * runs user programs (guest/user/progs.c) one after another on the boot CPU, checks how each
 * ended and its page table against its VMAs and counters, and finally that every frame and
 * kernel table page came back.
 *
 *   vma     scripted mmap/munmap/mprotect/brk; the program compares its maps after each step
 *   fault   one fault per first-touched page, none on re-touch, none with MAP_POPULATE,
 *           MADV_DONTNEED drops pages, set_mempolicy places new pages; again with the process
 *           created bound to node 1 (if any)
 *   stack   the stack grows page by page to its limit, the next page kills the process; a
 *           mapping below the stack stops it at the guard gap
 *   segv    each bad access (no VMA, write to read-only, execute NX, PROT_NONE, kernel
 *           addresses, non-canonical) kills only that process; a new process then runs fine
 *   cow     fork: parent and child write, pages shared until written, copies counted; wait
 *           returns the exit status and a child's SIGSEGV
 *   interleave  6 processes runnable together on the boot CPU, switching at sched_yield and
 *           the tick, all using the same addresses for their own data
 *   shared  MAP_SHARED | MAP_ANONYMOUS across a fork: writes visible to both, private ones not
 *   churn   4000 random mmap/munmap/mprotect/madvise/touch/fork operations per process (three
 *           fixed seeds) checked against the program's model: data, rss, maps
 *   mbind   mbind's errors; bind / interleave / bind ranges and the process policy place each
 *           page on the node they say (the program's rss per node, the kernel's page table
 *           walk); the maps dump shows the policies; MPOL_DEFAULT merges the VMAs back
 *   stress  STRESS_PER_CPU processes per CPU run by the scheduler on every CPU at once
 *           (smp_run_all), preempted by the tick: map, fill, protect, verify, fork, unmap; every
 *           CPU ran processes, the tick preempted some, all exited 0, and each node's free
 *           pages come back exactly
 *
 * All but stress run on the boot CPU after smp_boot while the other CPUs idle (they load the
 * GDT/TSS though); cow and shared run without preemption (their counts depend on who runs
 * first).
 */
#include <mm/buddy.h>

#include "mem.h"
#include "proc.h"
#include "smp.h"

#define STACK_LIMIT     (UINT64_C(1) << 20)     /* the stack scenario's RLIMIT_STACK */
#define SEGV_AT         UINT64_C(0x300000000)   /* guest/user/progs.c */
#define GUARD_PAGE      (USER_TOP - (UINT64_C(1280) << 10))
#define GUARD_STOP      (GUARD_PAGE + MM_PAGE_SIZE + MM_DEFAULT_STACK_GUARD_GAP)
#define GUARD_FAULTS    ((USER_TOP - GUARD_STOP) / MM_PAGE_SIZE - 1)
#define NONCANONICAL    UINT64_C(0x800000000000)
#define HELLO_EXIT      42
/* The fault program's faults: 64 written + 16 read + 16 after MADV_DONTNEED + 8 of heap
 * (+ 8 under set_mempolicy when there is a node 1). */
#define FAULT_PROG_FAULTS 104

enum { PT_VMA, PT_FAULT, PT_STACK, PT_SEGV, PT_COW, PT_CHURN, PT_INTERLEAVE, PT_SHARED,
       PT_STRESS, PT_MBIND };

static const char *const names[] = {
	[PT_VMA] = "vma", [PT_FAULT] = "fault", [PT_STACK] = "stack", [PT_SEGV] = "segv",
	[PT_COW] = "cow", [PT_CHURN] = "churn", [PT_INTERLEAVE] = "interleave",
	[PT_SHARED] = "shared", [PT_STRESS] = "stress", [PT_MBIND] = "mbind",
};

int proctest_lookup(const char *name, size_t len)
{
	for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
		size_t n = 0;

		while (names[i][n])
			n++;
		if (n == len && !memcmp(names[i], name, len))
			return (int)i;
	}
	return -1;
}

static void flush_cpu_slab(void *arg)
{
	(void)arg;
	slab_flush_cpu(&kmem);
}

/*
 * Free pages once per-CPU lists and empty slabs are given back: every CPU's slab lists (objects
 * processes freed on other CPUs sit there), every kmalloc class and the VMA cache, then the
 * allocator's off-slab descriptor cache (large slabs just freed returned their descriptors
 * there, so it is shrunk last).
 */
static uint64_t settled_free(void)
{
	struct buddy_stats st;

	if (!smp_call_all(flush_cpu_slab, NULL))
		kprintf("# proc: not every CPU flushed its slab lists\n");
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++)
		if (kmem.kmalloc[i])
			kmem_cache_shrink(kmem.kmalloc[i]);
	proc_caches_shrink();
	kmem_cache_shrink(&kmem.desc_cache);
	buddy_drain_all(&pmem_buddy);
	MM_BUG_ON(buddy_stats(&pmem_buddy, &st) != 0);
	return st.free_pages + st.pcp_pages;
}

static void check_buddy(const char *when)
{
	int ret = buddy_check(&pmem_buddy);

	if (ret)
		tap_bail("buddy_check %s: %d (corrupted allocator)", when, ret);
	tap_check(true, "buddy_check %s", when);
}

/* Create and run one process to its end; NULL after a failed check. */
static struct proc *run(enum uprog prog, const char *name, uint64_t arg,
			const struct proc_opts *o)
{
	struct proc *p = proc_create(prog, name, arg, o);

	if (!tap_check(p != NULL, "proc: %s created", name))
		return NULL;
	kprintf("# proc: running pid %u (%s)\n", p->pid, p->name);
	proc_run(p);
	return p;
}

/* The page table agrees with the VMAs and counters; then free the process. */
static void finish(struct proc *p)
{
	tap_check(proc_check(p) == 0, "%s: page table matches its VMAs and counters (rss %lu, "
		  "minflt %lu)", p->name, p->rss, p->minflt);
	proc_destroy(p);
}

static bool exited_ok(struct proc *p, int code)
{
	return tap_check(p->state == PROC_EXITED && p->exit_code == code && p->checks_failed == 0,
			 "%s: exited with %d (expected %d) after %lu checks, %lu failed", p->name,
			 p->state == PROC_EXITED ? p->exit_code : -1, code, p->checks,
			 p->checks_failed);
}

/* ---- scenarios ------------------------------------------------------------------------------ */

static void scenario_vma(void)
{
	struct proc *p = run(UPROG_VMA, "vma", 0, NULL);

	if (!p)
		return;
	exited_ok(p, 0);
	tap_check(p->checks >= 30, "vma: the program made %lu checks (>= 30)", p->checks);
	proc_print_maps(p);
	finish(p);
}

static void scenario_fault(void)
{
	bool node1 = pmem_buddy.mem_nodes >> 1 & 1;
	uint64_t want = FAULT_PROG_FAULTS + (node1 ? 8 : 0);
	struct numa_policy bind1;
	struct proc *p = run(UPROG_FAULT, "fault", node1, NULL);

	if (!p)
		return;
	exited_ok(p, 0);
	tap_check(p->minflt == want && p->cowflt == 0,
		  "fault: the kernel counted %lu faults (%lu), %lu copy-on-write", p->minflt, want,
		  p->cowflt);
	finish(p);

	if (!node1) {
		tap_check(true, "fault: # SKIP no node 1 for set_mempolicy and the bound run");
		return;
	}
	MM_BUG_ON(numa_policy_init(&bind1, &pmem_buddy, NUMA_POLICY_BIND, (nodemask_t)1 << 1));
	p = run(UPROG_FAULT, "fault-node1", 0, &(struct proc_opts){ .policy = &bind1 });
	if (!p)
		return;
	exited_ok(p, 0);
	tap_check(p->rss > 0 && p->rss_node[1] == p->rss,
		  "fault-node1: every page of the process bound to node 1 is there (%lu of %lu)",
		  p->rss_node[1], p->rss);
	finish(p);
}

static void scenario_stack(void)
{
	struct proc *p = run(UPROG_STACK, "stack", 0, &(struct proc_opts){ .stack_limit = STACK_LIMIT });
	struct vma *v;

	if (!p)
		return;
	v = vma_lookup(&p->mm, USER_TOP - 1);
	tap_check(p->state == PROC_KILLED && p->kill_reason == KILL_STACK_LIMIT &&
		  p->kill_addr == USER_TOP - STACK_LIMIT - MM_PAGE_SIZE,
		  "stack: killed (%s) at 0x%lx, the first page past the %lu KiB limit (0x%lx)",
		  proc_kill_text(p->kill_reason), p->kill_addr, STACK_LIMIT >> 10,
		  USER_TOP - STACK_LIMIT - MM_PAGE_SIZE);
	tap_check(v && v->vm_start == USER_TOP - STACK_LIMIT && v->vm_end == USER_TOP &&
		  (v->vm_flags & VM_GROWSDOWN),
		  "stack: the stack VMA grew to 0x%lx-0x%lx (the limit)", v ? v->vm_start : 0,
		  v ? v->vm_end : 0);
	tap_check(p->minflt == STACK_LIMIT / MM_PAGE_SIZE - 1,
		  "stack: one fault per page grown: %lu (%lu)", p->minflt,
		  STACK_LIMIT / MM_PAGE_SIZE - 1);
	finish(p);

	/*
	 * The guard gap: a read-only page M at USER_TOP - 1280 KiB and a 2 MiB limit. The stack may
	 * only grow while stack_guard_gap (1 MiB) stays free above M, so it stops at
	 * M + 4 KiB + 1 MiB = USER_TOP - 252 KiB (63 pages, 62 faults) and the next page kills.
	 *
	 *   M  M+4K                       top-252K           top
	 *   |r|<------ guard gap 1 MiB ------>|==== stack ====|
	 */
	p = run(UPROG_STACK, "stack-guard", GUARD_PAGE, &(struct proc_opts){ .stack_limit = 2 * STACK_LIMIT });
	if (p) {
		tap_check(p->state == PROC_KILLED && p->kill_reason == KILL_STACK_LIMIT &&
			  p->kill_addr == GUARD_STOP - MM_PAGE_SIZE && p->minflt == GUARD_FAULTS,
			  "stack-guard: killed (%s) at 0x%lx (0x%lx) after %lu faults (%lu): the guard "
			  "gap above the page at 0x%lx held", proc_kill_text(p->kill_reason),
			  p->kill_addr, GUARD_STOP - MM_PAGE_SIZE, p->minflt, GUARD_FAULTS, GUARD_PAGE);
		finish(p);
	}
	p = run(UPROG_HELLO, "hello", HELLO_EXIT, NULL);
	if (p) {
		exited_ok(p, HELLO_EXIT);
		finish(p);
	}
}

struct segv_case {
	enum uprog prog;
	const char *name;
	uint64_t arg;
	enum proc_kill why;
	uint64_t vector;
	uint64_t addr;          /* the fault address; 0: not a #PF (the RIP is recorded) */
};

static void scenario_segv(void)
{
	const struct segv_case cases[] = {
		{ UPROG_SEGV_UNMAPPED, "segv-unmapped", 0, KILL_UNMAPPED, 14, SEGV_AT },
		{ UPROG_SEGV_WRITE_RO, "segv-write-ro", 0, KILL_NO_WRITE, 14, SEGV_AT },
		{ UPROG_SEGV_EXEC_NX, "segv-exec-nx", 0, KILL_NO_EXEC, 14, SEGV_AT },
		{ UPROG_SEGV_PROT_NONE, "segv-prot-none", 0, KILL_NO_READ, 14, SEGV_AT },
		{ UPROG_SEGV_KERNEL, "segv-direct-map", DIRECT_MAP_BASE + (UINT64_C(1) << 20),
		  KILL_KERNEL_ADDR, 14, DIRECT_MAP_BASE + (UINT64_C(1) << 20) },
		{ UPROG_SEGV_BELOW_USER, "segv-kernel-image", 0, KILL_KERNEL_ADDR, 14,
		  UINT64_C(0x100000) },
		{ UPROG_SEGV_KERNEL, "segv-noncanonical", NONCANONICAL, KILL_GP, 13, 0 },
	};
	struct proc *p;

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct segv_case *c = &cases[i];

		if (c->prog == UPROG_SEGV_EXEC_NX && !vmem_have_nx()) {
			tap_check(true, "%s: # SKIP no NX (EFER.NXE off)", c->name);
			continue;
		}
		p = run(c->prog, c->name, c->arg, NULL);
		if (!p)
			continue;
		tap_check(p->state == PROC_KILLED && p->kill_reason == c->why &&
			  p->kill_vector == c->vector && (c->addr == 0 || p->kill_addr == c->addr),
			  "%s: killed by vector %lu (%lu) at 0x%lx (0x%lx): %s (%s)", c->name,
			  p->kill_vector, c->vector, p->kill_addr, c->addr,
			  proc_kill_text(p->kill_reason), proc_kill_text(c->why));
		finish(p);
	}
	p = run(UPROG_HELLO, "hello", HELLO_EXIT, NULL);
	if (p) {
		exited_ok(p, HELLO_EXIT);
		finish(p);
	}
}

/* The cow program forks twice; its children run inside its wait4 calls and are reaped there. */
static void scenario_cow(void)
{
	/* Exact copy counts need the parent to run until its wait4: no preemption. */
	struct proc *p = run(UPROG_COW, "cow", 0, &(struct proc_opts){ .no_preempt = true });

	if (!p)
		return;
	exited_ok(p, 0);
	tap_check(p->checks == 7 && list_empty(&p->children),
		  "cow: the parent made %lu checks (7; its child's are its own), no child left",
		  p->checks);
	tap_check(p->cowflt >= 8, "cow: the parent copied %lu pages on write (>= 8)", p->cowflt);
	finish(p);
}

/* Random operations against the program's model, three seeds (fixed: reproducible). */
static void scenario_churn(void)
{
	static const uint64_t seeds[] = { 0x9e3779b97f4a7c15, 0x2545f4914f6cdd1d, 0x5851f42d4c957f2d };

	for (unsigned i = 0; i < ARRAY_SIZE(seeds); i++) {
		struct proc *p = run(UPROG_CHURN, "churn", seeds[i], NULL);

		if (!p)
			continue;
		exited_ok(p, 0);
		finish(p);
	}
}

#define INTERLEAVE_PROCS 6
#define INTERLEAVE_ITERS 200

/* INTERLEAVE_PROCS processes started together, switching at each sched_yield. */
static void scenario_interleave(void)
{
	struct proc *procs[INTERLEAVE_PROCS];
	unsigned n = 0;
	uint64_t sw0;

	for (unsigned i = 0; i < INTERLEAVE_PROCS; i++) {
		procs[n] = proc_create(UPROG_INTERLEAVE, "interleave", INTERLEAVE_ITERS, NULL);
		if (!tap_check(procs[n] != NULL, "proc: interleave %u created", i))
			continue;
		proc_start(procs[n++]);
	}
	sw0 = sched_switches;
	kprintf("# proc: %u processes runnable, the scheduler switches at each sched_yield\n", n);
	sched_run();
	tap_check(sched_switches - sw0 >= (uint64_t)n * 2 * INTERLEAVE_ITERS - n,
		  "interleave: %lu switches between processes (>= %u: every yield but the last "
		  "ones went to another process)", sched_switches - sw0,
		  n * 2 * INTERLEAVE_ITERS - n);
	for (unsigned i = 0; i < n; i++) {
		exited_ok(procs[i], 0);
		finish(procs[i]);
	}
}

/* MAP_SHARED | MAP_ANONYMOUS: the program checks sharing; here its end and the object's frames. */
static void scenario_shared(void)
{
	struct proc *p = run(UPROG_SHARED, "shared", 0, &(struct proc_opts){ .no_preempt = true });

	if (!p)
		return;
	exited_ok(p, 0);
	tap_check(p->checks == 8, "shared: the parent made %lu checks (8)", p->checks);
	finish(p);
}

#define MBIND_AREA      UINT64_C(0x200000000)  /* guest/user/progs.c's AREA */
#define MBIND_PAGES     16                      /* per range */

/* The node of the frame mapped at va in p, or -1. */
static int page_node(struct proc *p, gva_t va)
{
	struct pgtable_info info;

	if (pgtable_translate(&p->pt, va, &info) != 0 || info.state != PT_STATE_MAPPED)
		return -1;
	return (int)buddy_pfn_to_frame(&pmem_buddy, info.pa >> MM_PAGE_SHIFT)->node;
}

/* The program's four ranges (progs.c, prog_mbind), checked page by page after its exit. */
static void scenario_mbind(void)
{
	static const char *const what[] = { "bind 1", "interleave 0-1", "bind 0",
					    "the process's bind 1" };
	struct proc *p;

	if (!(pmem_buddy.mem_nodes >> 1 & 1)) {
		tap_check(true, "mbind: # SKIP no node 1");
		return;
	}
	p = run(UPROG_MBIND, "mbind", 0, NULL);
	if (!p)
		return;
	exited_ok(p, 0);
	for (unsigned r = 0; r < 4; r++) {
		unsigned bad = 0;

		for (unsigned i = 0; i < MBIND_PAGES; i++) {
			unsigned idx = r * MBIND_PAGES + i;
			int want = r == 0 || r == 3 ? 1 : r == 2 ? 0 : (int)(idx % 2);

			bad += page_node(p, MBIND_AREA + (uint64_t)idx * MM_PAGE_SIZE) != want;
		}
		tap_check(bad == 0, "mbind: range %u (%s): every page on its node (%u misplaced)", r,
			  what[r], bad);
	}
	finish(p);
}

#define STRESS_PER_CPU  3
#define STRESS_ITERS    600
#define STRESS_MAX      (STRESS_PER_CPU * SMP_MAX_CPUS)

/* Free pages of node n once settled (settled_free() drained the per-CPU lists first). */
static uint64_t node_free(unsigned n)
{
	uint64_t sum = 0;

	for (unsigned z = 0; z < BUDDY_NR_ZONES; z++) {
		struct buddy_stats st;

		if (pmem_buddy.zone_of[n][z] != BUDDY_NO_ZONE &&
		    buddy_zone_stats(&pmem_buddy, n, z, &st) == 0)
			sum += st.free_pages + st.pcp_pages;
	}
	return sum;
}

static void stress_cpu(void *arg)
{
	(void)arg;
	sched_run();
}

/* STRESS_PER_CPU processes per online CPU, run by every CPU's scheduler at once. */
static void scenario_stress(void)
{
	static struct proc *procs[STRESS_MAX];
	unsigned cpus = nr_cpus_online(), n = 0, moved = 0;
	struct sched_cpu_stats st0[SMP_MAX_CPUS], st1;
	uint64_t free0[MM_MAX_NODES], ticks0[SMP_MAX_CPUS], preempts = 0, t0;
	bool all_ran = true, all_ok = true;

	(void)settled_free();
	for (unsigned nd = 0; nd < MM_MAX_NODES; nd++)
		free0[nd] = node_free(nd);
	for (unsigned i = 0; i < STRESS_PER_CPU * cpus && i < STRESS_MAX; i++) {
		procs[n] = proc_create(UPROG_STRESS, "stress", STRESS_ITERS, NULL);
		if (!tap_check(procs[n] != NULL, "proc: stress %u created", i))
			continue;
		proc_start(procs[n++]);
	}
	for (unsigned c = 0; c < SMP_MAX_CPUS; c++) {
		sched_cpu_stats(c, &st0[c]);
		ticks0[c] = percpu_of(c)->ticks;
	}
	kprintf("# proc: %u processes, the scheduler runs on all %u CPUs, tick %u ms\n", n, cpus,
		SMP_TICK_MS);
	t0 = smp_clock_ns();
	tap_check(smp_run_all(stress_cpu, NULL), "stress: every CPU's scheduler finished");
	kprintf("# stress: %lu ms\n", (smp_clock_ns() - t0) / 1000000);
	for (unsigned c = 0; c < SMP_MAX_CPUS; c++) {
		struct percpu *pc = percpu_of(c);

		if (!pc->online)
			continue;
		sched_cpu_stats(c, &st1);
		kprintf("# stress: cpu %u: %lu switches to a process, %lu preemptions, %lu ticks\n",
			c, st1.runs - st0[c].runs, st1.preempts - st0[c].preempts,
			pc->ticks - ticks0[c]);
		all_ran &= st1.runs > st0[c].runs;
		preempts += st1.preempts - st0[c].preempts;
	}
	tap_check(all_ran, "stress: every one of the %u CPUs ran processes", cpus);
	tap_check(preempts > 0, "stress: the tick preempted processes %lu times", preempts);
	for (unsigned i = 0; i < n; i++) {
		struct proc *p = procs[i];

		moved += numa_nodemask_weight(p->cpus_ran) > 1;
		all_ok &= p->state == PROC_EXITED && p->exit_code == 0 && p->checks_failed == 0 &&
			  list_empty(&p->children);
		if (p->state != PROC_EXITED || p->exit_code != 0)
			kprintf("# stress: pid %u ended %s with %d\n", p->pid,
				p->state == PROC_EXITED ? "exited" : "killed", p->exit_code);
		finish(p);
	}
	tap_check(all_ok, "stress: all %u processes exited 0 with their checks passed", n);
	kprintf("# stress: %u of %u processes ran on more than one CPU\n", moved, n);
	(void)settled_free();
	for (unsigned nd = 0; nd < MM_MAX_NODES; nd++) {
		uint64_t f = node_free(nd);

		if (!(pmem_buddy.mem_nodes >> nd & 1))
			continue;
		tap_check(f == free0[nd], "stress: node %u: free pages back to %lu (%lu)", nd, free0[nd],
			  f);
	}
}

void proctest_run(int sc, const struct topo *t, const struct memmap *mm)
{
	uint64_t free0, tables0, free1, tables1;

	kprintf("# scenario %s (processes)\n", names[sc]);
	if (!pmem_init(t, mm) || !vmem_init(mm) || !kmem_init())
		return;
	check_buddy("after setup");
	if (!uarch_init() || !proc_init())
		return;
	free0 = settled_free();
	tables0 = vmem_table_pages();
	switch (sc) {
	case PT_VMA:   scenario_vma();   break;
	case PT_FAULT: scenario_fault(); break;
	case PT_STACK: scenario_stack(); break;
	case PT_SEGV:  scenario_segv();  break;
	case PT_COW:   scenario_cow();   break;
	case PT_CHURN: scenario_churn(); break;
	case PT_INTERLEAVE: scenario_interleave(); break;
	case PT_SHARED: scenario_shared(); break;
	case PT_STRESS: scenario_stress(); break;
	case PT_MBIND: scenario_mbind(); break;
	}
	free1 = settled_free();
	tables1 = vmem_table_pages();
	tap_check(free1 == free0 && tables1 == tables0,
		  "proc: free pages back to %lu (%lu), kernel table pages %lu (%lu)", free0, free1,
		  tables0, tables1);
	check_buddy("after the processes");
	tap_check(pmem_oom_reports == 0, "no unexpected out-of-memory report (%lu)",
		  pmem_oom_reports);
}
