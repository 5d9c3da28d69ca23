/*
 * guest/soak.c — `scenario=soak`: the guest half of issue 8's soak (tools/soak drives the host
 * half: swap, balloon target cycling, migration, page-out/in and host fault injection over QMP).
 * Runs for `soak_seconds=N` (default SOAK_DEFAULT_SECONDS) by the guest's clock, in rounds, and
 * judges every round's work as it ends and everything again at the end.
 *
 * It reuses the existing workloads rather than copying them:
 *
 *   hold       (this file) HOLD_PERCENT of the free pages at start, in 64 KiB blocks bound to
 *              each node in turn, each block patterned (faultinj_pattern_write) with a key of
 *              its own. Every round each CPU verifies and rewrites (new key) its share of one
 *              HOLD_SLICES-th of the blocks, so the held memory is read and dirtied again and
 *              again while the host swaps, migrates and pages it out. Held to the end: verified
 *              whole, freed.
 *   kernel     faultinj_test.c's kernel round on every CPU at once: page blocks of orders 0-3
 *              bound to each node, kmalloc/cache objects of every size, verified, half freed
 *              and refilled (faultinj_work_round).
 *   processes  SOAK_PROCS_PER_CPU user processes per CPU per round, run by every CPU's
 *              scheduler at once (preempted by the tick): the `stress` program (map, fill,
 *              mprotect, verify, fork + COW check, MADV_DONTNEED, unmap, heap sums), or with
 *              guest fault-injection sites given, the `faultinj` program (made to survive failed
 *              allocations). Each must exit 0 with its checks passed and a page table matching
 *              its VMAs; only under guest injection may one be killed out of memory or not be
 *              created (counted).
 *   balloon    on the boot CPU, when the machine has a virtio-balloon device: before and after
 *              its kernel round it follows the device's target (balloon_follow: inflate or
 *              deflate toward it, at most BALLOON_STEP pages a call, `actual` per batch,
 *              statistics answered), with deflate-on-OOM when negotiated and a free page report
 *              every progress period. The host cycles the target; a cycle here is the balloon
 *              going from empty to holding pages and back to empty.
 *
 * Guest fault-injection sites (fail_page_alloc=, failslab=, fail_balloon=) are armed after the
 * setup and disarmed before the final checks, as in scenario=faultinj.
 *
 * Output: a `# soak: T s: ...` progress comment every SOAK_PROGRESS_S seconds (rounds, patterns
 * verified, mismatches); at the end TAP checks: every round's CPUs all ran; every pattern intact
 * (a single wrong word anywhere is `not ok`); every process exited 0; the balloon's count exact,
 * deflated fully; free pages and kernel table pages back to their start; no OOM report.
 *
 * Locking: each CPU touches only its own struct soak_cpu and its own share of the hold blocks
 * (block i belongs to CPU i mod nr_cpus); the balloon only on the boot CPU; the rest runs on the
 * boot CPU between rounds while the others idle.
 */
#include "faultinj.h"
#include "mem.h"
#include "proc.h"
#include "smp.h"

#define SOAK_DEFAULT_SECONDS 60
#define SOAK_MAX_SECONDS     86400
#define SOAK_PROGRESS_S      10
#define HOLD_PERCENT         40          /* of the free pages at start */
#define HOLD_ORDER           4           /* 64 KiB blocks */
#define HOLD_SLICES          8           /* a round verifies and rewrites 1/8 of the blocks */
#define BALLOON_STEP         8192        /* pages per balloon_follow call: 32 MiB */
#define SOAK_PROCS_PER_CPU   2
#define SOAK_STRESS_ITERS    64          /* the stress program's iterations: 4 forks */
#define SOAK_FAULTINJ_ROUNDS 2           /* the faultinj program's rounds */
#define SOAK_MAX_PROCS       (SOAK_PROCS_PER_CPU * SMP_MAX_CPUS)

struct soak_block {
	pfn_t pfn;
	uint64_t key;
};

struct soak_cpu {
	bool ran;
	uint64_t verified, bad;          /* hold blocks checked, found wrong */
} __attribute__((aligned(64)));

static struct soak_cpu cpus[SMP_MAX_CPUS];
static struct soak_block *hold;
static uint64_t nr_hold, seed, round_no;
static struct balloon *balloon;
static uint64_t soak_seconds = SOAK_DEFAULT_SECONDS;
static bool soak_seconds_bad;            /* a bad soak_seconds=: the soak does not run */

/* The balloon as the boot CPU saw it move (all on the boot CPU). */
static struct {
	uint64_t in, out;                /* pages inflated / deflated by balloon_follow */
	uint64_t cycles;                 /* empty -> holding -> empty */
	uint64_t max;                    /* the most pages it held */
	bool held_some;
} bl;

bool soak_option(const char *word, size_t n)
{
	static const char key[] = "soak_seconds=";
	const size_t k = sizeof(key) - 1;
	uint64_t v = 0;
	bool ok = n > k;

	if (n < k || memcmp(word, key, k) != 0)
		return false;
	for (size_t i = k; i < n && ok; i++) {
		ok = word[i] >= '0' && word[i] <= '9';
		v = v * 10 + (uint64_t)(word[i] - '0');
		ok &= v <= SOAK_MAX_SECONDS;
	}
	if (tap_check(ok && v > 0, "soak: %.*s is 1..%u seconds", (int)n, word, SOAK_MAX_SECONDS))
		soak_seconds = v;
	else
		soak_seconds_bad = true;
	return true;
}

/* ---- the held blocks ---------------------------------------------------------------------- */

static uint64_t block_key(uint64_t i, uint64_t gen)
{
	return seed ^ (i << 24) ^ (gen * UINT64_C(0x9e3779b97f4a7c15));
}

static void *block_ptr(const struct soak_block *k)
{
	return phys_to_direct(k->pfn << MM_PAGE_SHIFT);
}

/* Verify block i; rewrite it with the next key if rewrite. */
static void hold_check(struct soak_cpu *c, uint64_t i, bool rewrite)
{
	struct soak_block *k = &hold[i];

	c->verified++;
	if (!faultinj_pattern_ok(block_ptr(k), MM_PAGE_SIZE << HOLD_ORDER, k->key)) {
		c->bad++;
		kprintf("# soak: cpu %u: held block %lu at pfn 0x%lx does not hold its pattern\n",
			cpu_id(), i, k->pfn);
	}
	if (!rewrite)
		return;
	k->key = block_key(i, round_no + 1);
	faultinj_pattern_write(block_ptr(k), MM_PAGE_SIZE << HOLD_ORDER, k->key);
}

/* HOLD_PERCENT of free pages in blocks bound to each node in turn; false after a TAP line. */
static bool hold_fill(uint64_t free_pages)
{
	uint64_t want = free_pages * HOLD_PERCENT / 100 >> HOLD_ORDER;
	unsigned nodes[MM_MAX_NODES], nr_nodes = 0;

	for (unsigned n = 0; n < MM_MAX_NODES; n++)
		if (pmem_buddy.mem_nodes >> n & 1)
			nodes[nr_nodes++] = n;
	hold = vmalloc(want * sizeof(*hold) + 1);   /* + 1: never a 0-byte request */
	if (!tap_check(hold != NULL, "soak: room for %lu held blocks", want))
		return false;
	for (nr_hold = 0; nr_hold < want; nr_hold++) {
		struct soak_block *k = &hold[nr_hold];
		struct numa_policy pol;

		MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_BIND,
					   UINT64_C(1) << nodes[nr_hold % nr_nodes]) != 0);
		if (page_alloc(&pol, HOLD_ORDER, PAGE_ALLOC_MAY_FAIL, &k->pfn) != 0)
			break;
		k->key = block_key(nr_hold, 0);
		faultinj_pattern_write(block_ptr(k), MM_PAGE_SIZE << HOLD_ORDER, k->key);
	}
	return tap_check(nr_hold > 0, "soak: %lu blocks of %u KiB held and patterned (%lu MiB, %u%% "
			 "of the free pages)", nr_hold, (unsigned)(MM_PAGE_SIZE << HOLD_ORDER) >> 10,
			 (nr_hold << HOLD_ORDER) >> (20 - MM_PAGE_SHIFT), HOLD_PERCENT);
}

/* This CPU's share of this round's slice (last: every block, verified and not rewritten). */
static void hold_round(unsigned cpu, bool last)
{
	unsigned ncpus = nr_cpus_online();
	uint64_t slice = (nr_hold + HOLD_SLICES - 1) / HOLD_SLICES;
	uint64_t first = last ? 0 : (round_no % HOLD_SLICES) * slice;
	uint64_t end = last ? nr_hold : first + slice;

	if (end > nr_hold)
		end = nr_hold;
	for (uint64_t i = first; i < end; i++)
		if (i % ncpus == cpu)
			hold_check(&cpus[cpu], i, !last);
}

static void hold_free(void)
{
	for (uint64_t i = 0; i < nr_hold; i++)
		page_free(hold[i].pfn, HOLD_ORDER);
	vfree(hold);
	hold = NULL;
	nr_hold = 0;
}

/* ---- the balloon (boot CPU) -------------------------------------------------------------- */

static void balloon_step(void)
{
	int64_t moved;

	if (!balloon)
		return;
	moved = balloon_follow(balloon, BALLOON_STEP);
	if (moved > 0)
		bl.in += (uint64_t)moved;
	else
		bl.out += (uint64_t)-moved;
	if (balloon_pages(balloon) > bl.max)
		bl.max = balloon_pages(balloon);
	if (balloon_pages(balloon) > 0) {
		bl.held_some = true;
	} else if (bl.held_some) {
		bl.held_some = false;
		bl.cycles++;
	}
}

/* ---- one round on every CPU ---------------------------------------------------------------- */

static void soak_cpu(void *arg)
{
	unsigned cpu = cpu_id();
	bool last = arg != NULL;

	cpus[cpu].ran = true;
	if (cpu == 0 && !last)
		balloon_step();
	faultinj_work_round(last);
	hold_round(cpu, last);
	if (cpu == 0 && !last)
		balloon_step();
	if (!last)
		sched_run();             /* this round's processes, on every CPU */
}

static bool all_ran(void)
{
	bool ok = faultinj_work_all_ran();

	for (unsigned i = 0; i < nr_cpus_online(); i++) {
		ok &= cpus[i].ran;
		cpus[i].ran = false;
	}
	return ok;
}

struct proc_counts {
	uint64_t created, exited, oom, not_created, bad;
};

static unsigned procs_create(struct proc **procs, struct proc_counts *n)
{
	bool injecting = faultinj_configured();
	unsigned want = SOAK_PROCS_PER_CPU * nr_cpus_online(), got = 0;

	for (unsigned i = 0; i < want && i < SOAK_MAX_PROCS; i++) {
		struct proc *p = injecting ?
			proc_create(UPROG_FAULTINJ, "soak-faultinj", SOAK_FAULTINJ_ROUNDS, NULL) :
			proc_create(UPROG_STRESS, "soak-stress", SOAK_STRESS_ITERS, NULL);

		if (!p) {
			n->not_created++;        /* judged at the end: only injection may cause it */
			continue;
		}
		n->created++;
		proc_start(p);
		procs[got++] = p;
	}
	return got;
}

static void procs_judge(struct proc **procs, unsigned nr, struct proc_counts *n)
{
	for (unsigned i = 0; i < nr; i++) {
		struct proc *p = procs[i];

		if (p->state == PROC_EXITED && p->exit_code == 0 && p->checks_failed == 0 &&
		    list_empty(&p->children)) {
			n->exited++;
		} else if (p->state == PROC_KILLED && p->kill_reason == KILL_OOM) {
			n->oom++;        /* judged at the end: only injection may cause it */
		} else {
			n->bad++;
			kprintf("# soak: round %lu: pid %u (%s) %s with %d (%s)\n", round_no, p->pid,
				p->name, p->state == PROC_EXITED ? "exited" : "was killed",
				p->state == PROC_EXITED ? p->exit_code : -1,
				p->state == PROC_EXITED ? "checks failed" :
				proc_kill_text(p->kill_reason));
		}
		if (proc_check(p) != 0) {
			n->bad++;
			kprintf("# soak: round %lu: pid %u's page table disagrees with its VMAs\n",
				round_no, p->pid);
		}
		proc_destroy(p);
	}
}

static uint64_t mismatches(void)
{
	struct faultinj_work_totals t;
	uint64_t bad = 0;

	faultinj_work_totals(&t);
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
		bad += cpus[i].bad;
	return bad + t.bad;
}

static uint64_t verified(void)
{
	struct faultinj_work_totals t;
	uint64_t v = 0;

	faultinj_work_totals(&t);
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
		v += cpus[i].verified;
	return v + t.verified;
}

static void progress(uint64_t t0, const struct proc_counts *n)
{
	kprintf("# soak: %lu s: %lu rounds, %lu patterns verified, %lu mismatches, %lu processes "
		"exited 0 (%lu bad), balloon %lu pages (target %lu, %lu cycles)\n",
		(smp_clock_ns() - t0) / 1000000000, round_no, verified(), mismatches(), n->exited,
		n->bad, balloon ? balloon_pages(balloon) : 0, balloon ? balloon_target(balloon) : 0,
		bl.cycles);
}

/* ---- the end: deflate fully, the checks ---------------------------------------------------- */

static uint64_t balloon_empty(void)
{
	uint64_t left = 0;

	for (unsigned tries = 0; tries < 8 && balloon_pages(balloon) > 0; tries++)
		left += balloon_shrink(balloon, balloon_pages(balloon));
	return left;
}

static void final_checks(struct proc_counts *n, bool ran, uint64_t free0, uint64_t tables0)
{
	struct faultinj_work_totals t;
	uint64_t free1, tables1, hold_bad = 0, hold_verified = 0;
	bool injecting = faultinj_configured();

	faultinj_work_totals(&t);
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
		hold_bad += cpus[i].bad;
		hold_verified += cpus[i].verified;
	}
	tap_check(ran, "soak: every CPU ran every one of the %lu rounds", round_no);
	tap_check(t.bad == 0 && hold_bad == 0 && hold_verified > 0 && t.verified > 0,
		  "soak: every pattern intact: %lu held-block and %lu kernel-allocation checks, %lu "
		  "mismatches; %lu of %lu kernel allocations failed and were retried later",
		  hold_verified, t.verified, hold_bad + t.bad, t.failures, t.allocs);
	tap_check(n->bad == 0 && n->exited > 0 &&
		  (injecting || (n->oom == 0 && n->not_created == 0)),
		  "soak: processes: %lu of %lu created exited 0 with their checks passed, %lu killed "
		  "out of memory, %lu not created%s; %lu wrong", n->exited, n->created, n->oom,
		  n->not_created, injecting ? " (guest fault injection on)" : "", n->bad);
	if (balloon) {
		uint64_t oom = balloon_oom_deflated(balloon), held = balloon_pages(balloon);
		uint64_t left = balloon_empty();

		tap_check(held + bl.out + oom == bl.in && balloon_pages(balloon) == 0,
			  "soak: balloon: %lu pages in, %lu out following the target, %lu given back "
			  "on OOM, %lu at the end deflated; %lu cycles, at most %lu pages; count "
			  "exact, now 0", bl.in, bl.out, oom, left, bl.cycles, bl.max);
		(void)balloon_use_deflate_on_oom(NULL);
	} else {
		tap_check(true, "soak: balloon # SKIP no virtio-balloon device");
	}
	free1 = faultinj_settled_free();
	tables1 = vmem_table_pages();
	tap_check(free1 == free0 && tables1 == tables0, "soak: free pages back to %lu (%lu), kernel "
		  "table pages %lu (%lu)", free0, free1, tables0, tables1);
	faultinj_work_fini();
	tap_check(pmem_oom_reports == 0, "no unexpected out-of-memory report (%lu)",
		  pmem_oom_reports);
}

void soak_scenario(const struct topo *t, const struct memmap *mm)
{
	static struct proc *procs[SOAK_MAX_PROCS];
	struct proc_counts n = { 0 };
	uint64_t free0, tables0, t0, end, next_progress;
	bool ran = true;
	uint32_t lo, hi;

	if (soak_seconds_bad) {
		kprintf("# scenario soak: not run (bad soak_seconds=)\n");
		return;
	}
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	seed = (uint64_t)hi << 32 | lo;
	kprintf("# scenario soak: %lu s, pattern seed 0x%lx\n", soak_seconds, seed);
	if (!pmem_init(t, mm) || !vmem_init(mm) || !kmem_init() || !vmem_cache_init())
		return;
	if (!uarch_init() || !proc_init())
		return;
	if (!faultinj_work_init(seed))
		return;
	balloon = balloon_open(t);
	kprintf("# soak: %s\n", !balloon ? "no virtio-balloon device: no balloon" :
		balloon_use_deflate_on_oom(balloon) ? "balloon found, deflate-on-OOM" :
		"balloon found");
	free0 = faultinj_settled_free();
	tables0 = vmem_table_pages();
	if (!hold_fill(free0))
		return;

	faultinj_arm();
	t0 = smp_clock_ns();
	end = t0 + soak_seconds * UINT64_C(1000000000);
	next_progress = t0 + SOAK_PROGRESS_S * UINT64_C(1000000000);
	while (smp_clock_ns() < end) {
		unsigned nr = procs_create(procs, &n);

		ran &= smp_run_all(soak_cpu, NULL) && all_ran();
		procs_judge(procs, nr, &n);
		round_no++;
		if (smp_clock_ns() >= next_progress) {
			next_progress += SOAK_PROGRESS_S * UINT64_C(1000000000);
			progress(t0, &n);
			if (balloon)
				(void)balloon_report_free(balloon);
		}
	}
	ran &= smp_run_all(soak_cpu, (void *)1) && all_ran();     /* verify all, free the kernel's */
	faultinj_report();
	faultinj_disarm();
	progress(t0, &n);
	hold_free();
	final_checks(&n, ran, free0, tables0);
}
