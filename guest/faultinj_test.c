/*
 * guest/faultinj_test.c — `scenario=faultinj`: the guest integrity workload that runs while the
 * fault-injection sites of the command line (faultinj.h) fail allocations, and the TAP verdict.
 *
 * Everything the workload holds carries a pattern derived from a key it keeps beside it, and is
 * verified word by word before it is freed and at the end:
 *
 *   kernel rounds  every CPU at once (smp_run_all): page blocks of orders 0-3 bound to each node
 *                  in turn, kmalloc objects of every size class plus large sizes and objects of
 *                  a cache of its own; each round verifies what it holds, frees about half and
 *                  allocates into the empty slots. A failed allocation is counted and the slot
 *                  stays empty until a later round (an injected failure is an ordinary one).
 *   BSP, per round a vmalloc area; the balloon (when the machine has a virtio-balloon device)
 *                  inflated and deflated by BALLOON_STEP pages, its page count kept exact against
 *                  what inflate/deflate said they did; a user process (UPROG_FAULTINJ) that maps,
 *                  touches and verifies, forks a child that checks the pages, unmaps, grows and
 *                  shrinks its heap. A process may end killed "out of memory" (a fault found no
 *                  frame) or not be created at all; one that read a wrong page exits 1.
 *
 * The end: every CPU verifies and frees all it holds; `# faultinj SITE calls N failures M` per
 * site set; injection stopped (faultinj_disarm), the balloon deflated to 0; then the checks: every pattern intact, no
 * process read a wrong page, free pages and kernel page-table pages back to their start,
 * buddy_check, no OOM report (injected failures never make one).
 *
 * Locking: each CPU touches only its own struct fi_cpu; the BSP's parts run while the others idle.
 */
#include "faultinj.h"
#include "mem.h"
#include "proc.h"
#include "smp.h"

#define ROUNDS          4
#define PAGE_SLOTS      48          /* page blocks per CPU */
#define OBJ_SLOTS       64          /* slab objects per CPU */
#define MAX_ORDER_USED  3
#define VMALLOC_PAGES   8
#define BALLOON_STEP    512         /* pages inflated then deflated per round */
#define PROC_ROUNDS     4           /* UPROG_FAULTINJ's rounds per process */

static const size_t obj_sizes[] = { 1, 8, 24, 64, 96, 100, 128, 192, 256, 512, 1000, 2048, 4096,
				    8192, 12000, 40000 };
#define NR_SIZES        (sizeof(obj_sizes) / sizeof(obj_sizes[0]))

struct fi_page {
	pfn_t pfn;
	unsigned order;
	bool held;
	uint64_t key;
};

struct fi_obj {
	void *p;                    /* NULL: the slot is empty */
	size_t size;
	bool from_cache;            /* own_cache, else kmalloc */
	uint64_t key;
};

struct fi_cpu {
	struct fi_page pages[PAGE_SLOTS];
	struct fi_obj objs[OBJ_SLOTS];
	unsigned round;
	bool ran;
	uint64_t allocs, failures;  /* allocations tried, failed */
	uint64_t verified, bad;     /* patterns checked, found wrong */
} __attribute__((aligned(64)));

static struct fi_cpu cpus[SMP_MAX_CPUS];
static struct kmem_cache *own_cache;
static uint64_t seed;
static unsigned mem_nodes[MM_MAX_NODES], nr_mem_nodes;     /* the nodes with memory */

#define OWN_SIZE 200

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* ---- patterns ------------------------------------------------------------------------------- */

/* bytes at p: 8-byte words mix(key + i), the tail bytes the low bytes of the next word. */
void faultinj_pattern_write(void *p, size_t bytes, uint64_t key)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < bytes / 8; i++)
		w[i] = mix(key + i);
	for (size_t b = i * 8; b < bytes; b++)
		((uint8_t *)p)[b] = (uint8_t)(mix(key + i) >> ((b & 7) * 8));
}

bool faultinj_pattern_ok(const void *p, size_t bytes, uint64_t key)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < bytes / 8; i++)
		if (w[i] != mix(key + i))
			return false;
	for (size_t b = i * 8; b < bytes; b++)
		if (((const uint8_t *)p)[b] != (uint8_t)(mix(key + i) >> ((b & 7) * 8)))
			return false;
	return true;
}

static void verify(struct fi_cpu *c, const void *p, size_t bytes, uint64_t key, const char *what)
{
	c->verified++;
	if (faultinj_pattern_ok(p, bytes, key))
		return;
	c->bad++;
	kprintf("# faultinj: cpu %u: %s at %p (%lu bytes) does not hold its pattern\n", cpu_id(),
		what, p, (uint64_t)bytes);
}

/* ---- kernel rounds (every CPU) ---------------------------------------------------------------- */

/* A held slot: verified, freed if free_it. An empty one: filled unless last (the final pass). */
static void page_slot(struct fi_cpu *c, unsigned cpu, unsigned i, bool free_it, bool last)
{
	struct fi_page *s = &c->pages[i];
	struct numa_policy pol;
	unsigned node;

	if (s->held) {
		verify(c, phys_to_direct(s->pfn << MM_PAGE_SHIFT), MM_PAGE_SIZE << s->order, s->key,
		       "page block");
		if (!free_it)
			return;
		page_free(s->pfn, s->order);
		s->held = false;
		return;
	}
	if (last)
		return;
	/* Each slot binds to the next node with memory in turn: every node gets blocks. */
	node = mem_nodes[(i + c->round) % nr_mem_nodes];
	MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_BIND, UINT64_C(1) << node) != 0);
	s->order = (i + c->round) % (MAX_ORDER_USED + 1);
	c->allocs++;
	if (page_alloc(&pol, s->order, 0, &s->pfn) != 0) {
		c->failures++;
		return;
	}
	s->held = true;
	s->key = mix(seed ^ ((uint64_t)cpu << 48) ^ ((uint64_t)c->round << 32) ^ i);
	faultinj_pattern_write(phys_to_direct(s->pfn << MM_PAGE_SHIFT), MM_PAGE_SIZE << s->order,
			       s->key);
}

static void obj_slot(struct fi_cpu *c, unsigned cpu, unsigned i, bool free_it, bool last)
{
	struct fi_obj *s = &c->objs[i];
	unsigned k = (i + c->round) % (NR_SIZES + 1);

	if (s->p) {
		verify(c, s->p, s->size, s->key, s->from_cache ? "cache object" : "kmalloc object");
		if (!free_it)
			return;
		MM_BUG_ON((s->from_cache ? kmem_cache_free(own_cache, s->p) : kfree(&kmem, s->p)) != 0);
		s->p = NULL;
		return;
	}
	if (last)
		return;
	s->from_cache = k == NR_SIZES;
	s->size = s->from_cache ? OWN_SIZE : obj_sizes[k];
	c->allocs++;
	s->p = s->from_cache ? kmem_cache_alloc(own_cache) : kmalloc(&kmem, s->size);
	if (!s->p) {
		c->failures++;
		return;
	}
	s->key = mix(seed ^ ((uint64_t)cpu << 48) ^ ((uint64_t)c->round << 32) ^ (i + 0x10000));
	faultinj_pattern_write(s->p, s->size, s->key);
}

/* One round on this CPU: every slot verified, about half freed, the empty ones filled. */
static void kernel_round(void *arg)
{
	unsigned cpu = cpu_id();
	struct fi_cpu *c = &cpus[cpu];
	bool last = arg != NULL;        /* the final pass: verify and free everything */

	c->ran = true;
	for (unsigned i = 0; i < PAGE_SLOTS; i++)
		page_slot(c, cpu, i, last || (mix(seed + c->round * PAGE_SLOTS + i) & 1), last);
	for (unsigned i = 0; i < OBJ_SLOTS; i++)
		obj_slot(c, cpu, i, last || (mix(~seed + c->round * OBJ_SLOTS + i) & 1), last);
	if (last) {
		for (unsigned i = 0; i < PAGE_SLOTS; i++)
			MM_BUG_ON(c->pages[i].held);
		for (unsigned i = 0; i < OBJ_SLOTS; i++)
			MM_BUG_ON(c->objs[i].p != NULL);
	}
	c->round++;
}

/* ---- the BSP's parts -------------------------------------------------------------------------- */

struct bsp_counts {
	uint64_t vmalloc_tries, vmalloc_failures;
	uint64_t balloon_in, balloon_out, balloon_short;   /* pages in / out; batches short */
	bool balloon_exact;
	uint64_t proc_exited, proc_oom, proc_not_created, proc_bad;
};

static void vmalloc_round(struct fi_cpu *c, struct bsp_counts *n, unsigned round)
{
	size_t bytes = VMALLOC_PAGES * MM_PAGE_SIZE;
	uint64_t key = mix(seed ^ 0x5a5a ^ round);
	void *p;

	n->vmalloc_tries++;
	p = vmalloc(bytes);
	if (!p) {
		n->vmalloc_failures++;
		return;
	}
	faultinj_pattern_write(p, bytes, key);
	verify(c, p, bytes, key, "vmalloc area");
	vfree(p);
}

/* Inflate then deflate by BALLOON_STEP: the balloon's count must move by exactly what each call
 * said it did (a failed batch leaves no page counted that the device was not told of). */
static void balloon_round(struct balloon *b, struct bsp_counts *n)
{
	uint64_t before = balloon_pages(b), in, out;

	in = balloon_grow(b, BALLOON_STEP);
	n->balloon_exact &= balloon_pages(b) == before + in;
	out = balloon_shrink(b, in);
	n->balloon_exact &= balloon_pages(b) == before + in - out;
	n->balloon_in += in;
	n->balloon_out += out;
	n->balloon_short += (in < BALLOON_STEP) + (out < in);
}

/* One UPROG_FAULTINJ process, run to its end and judged. */
static void proc_round(struct bsp_counts *n, unsigned round)
{
	struct proc *p = proc_create(UPROG_FAULTINJ, "faultinj", PROC_ROUNDS, NULL);

	if (!p) {                       /* out of memory for the process: proc.c said so */
		n->proc_not_created++;
		return;
	}
	proc_run(p);
	if (p->state == PROC_EXITED && p->exit_code == 0 && p->checks_failed == 0) {
		n->proc_exited++;
	} else if (p->state == PROC_KILLED && p->kill_reason == KILL_OOM) {
		n->proc_oom++;
	} else {
		n->proc_bad++;
		kprintf("# faultinj: round %u: pid %u %s with %d (%s)\n", round, p->pid,
			p->state == PROC_EXITED ? "exited" : "was killed",
			p->state == PROC_EXITED ? p->exit_code : -1,
			p->state == PROC_EXITED ? "1: a page read back wrong, 2: an unexpected "
			"system-call result" : proc_kill_text(p->kill_reason));
	}
	if (proc_check(p) != 0) {
		n->proc_bad++;
		kprintf("# faultinj: round %u: pid %u's page table disagrees with its VMAs\n", round,
			p->pid);
	}
	proc_destroy(p);
}

/* ---- setup and the verdict --------------------------------------------------------------------- */

static void slab_flush_this_cpu(void *arg)
{
	(void)arg;
	slab_flush_cpu(&kmem);
}

/* Free pages with every CPU's cached objects, empty slabs and per-CPU frames given back. */
uint64_t faultinj_settled_free(void)
{
	struct buddy_stats st;

	if (!smp_call_all(slab_flush_this_cpu, NULL))
		tap_bail("slab_flush_cpu: not every CPU ran it");
	proc_caches_shrink();
	slab_shrink_all(&kmem);
	mmtest_check_buddy("while counting free pages");
	MM_BUG_ON(buddy_stats(&pmem_buddy, &st) != 0);
	return st.free_pages + st.pcp_pages;
}

static void sum_cpus(struct fi_cpu *sum)
{
	*sum = (struct fi_cpu){ 0 };
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
		sum->allocs += cpus[i].allocs;
		sum->failures += cpus[i].failures;
		sum->verified += cpus[i].verified;
		sum->bad += cpus[i].bad;
	}
}

static bool all_cpus_ran(void)
{
	bool ok = true;

	for (unsigned i = 0; i < nr_cpus_online(); i++) {
		ok &= cpus[i].ran;
		cpus[i].ran = false;
	}
	return ok;
}

/* ---- the kernel rounds for other workloads (faultinj.h; soak.c) ------------------------------ */

bool faultinj_work_init(uint64_t pattern_seed)
{
	seed = pattern_seed;
	nr_mem_nodes = 0;
	for (unsigned i = 0; i < MM_MAX_NODES; i++)
		if (pmem_buddy.mem_nodes >> i & 1)
			mem_nodes[nr_mem_nodes++] = i;
	own_cache = kmem_cache_create(&kmem, "faultinj", OWN_SIZE, 0, 0, NULL);
	return tap_check(own_cache != NULL, "faultinj: a cache of %u-byte objects", OWN_SIZE);
}

void faultinj_work_round(bool last)
{
	kernel_round(last ? (void *)1 : NULL);
}

bool faultinj_work_all_ran(void)
{
	return all_cpus_ran();
}

void faultinj_work_totals(struct faultinj_work_totals *t)
{
	struct fi_cpu sum;

	sum_cpus(&sum);
	*t = (struct faultinj_work_totals){ .allocs = sum.allocs, .failures = sum.failures,
					    .verified = sum.verified, .bad = sum.bad };
}

void faultinj_work_fini(void)
{
	MM_BUG_ON(kmem_cache_destroy(own_cache) != 0);
	own_cache = NULL;
}

void faultinj_scenario(const struct topo *t, const struct memmap *mm)
{
	struct bsp_counts n = { .balloon_exact = true };
	uint64_t free0, tables0, free1, tables1;
	struct balloon *b;
	struct fi_cpu sum;
	bool ran = true;
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	seed = (uint64_t)hi << 32 | lo;         /* the patterns; the sites' stream is fault_seed */
	kprintf("# scenario faultinj, pattern seed 0x%lx\n", seed);
	if (!pmem_init(t, mm) || !vmem_init(mm) || !kmem_init() || !vmem_cache_init())
		return;
	mmtest_check_buddy("after setup");
	if (!uarch_init() || !proc_init())
		return;
	if (!faultinj_work_init(seed))
		return;
	b = balloon_open(t);            /* before arming: the driver's setup is not the subject */
	kprintf("# faultinj: %s\n", b ? "balloon device found: inflate/deflate rounds" :
		"no virtio-balloon device: no balloon rounds");
	free0 = faultinj_settled_free();
	tables0 = vmem_table_pages();

	faultinj_arm();
	for (unsigned r = 0; r < ROUNDS; r++) {
		ran &= smp_run_all(kernel_round, NULL) && all_cpus_ran();
		vmalloc_round(&cpus[cpu_id()], &n, r);
		if (b)
			balloon_round(b, &n);
		proc_round(&n, r);
	}
	ran &= smp_run_all(kernel_round, (void *)1) && all_cpus_ran();   /* verify, free all */
	faultinj_report();
	faultinj_disarm();

	tap_check(ran, "faultinj: every CPU ran every kernel round");
	sum_cpus(&sum);
	tap_check(sum.bad == 0 && cpus[0].verified > 0, "faultinj: every pattern intact: %lu "
		  "verified, %lu wrong; %lu of %lu kernel allocations failed and were retried later",
		  sum.verified, sum.bad, sum.failures, sum.allocs);
	kprintf("# faultinj: vmalloc: %lu of %lu areas failed\n", n.vmalloc_failures,
		n.vmalloc_tries);
	tap_check(n.proc_bad == 0, "faultinj: processes: %lu exited with their data intact, %lu "
		  "killed out of memory, %lu not created; %lu wrong", n.proc_exited, n.proc_oom,
		  n.proc_not_created, n.proc_bad);
	if (b) {
		uint64_t left = balloon_shrink(b, balloon_pages(b));

		tap_check(n.balloon_exact && balloon_pages(b) == 0, "faultinj: balloon: %lu pages in, "
			  "%lu out in rounds (%lu short), %lu at the end, its count exact throughout, "
			  "now 0", n.balloon_in, n.balloon_out, n.balloon_short, left);
	} else {
		tap_check(true, "faultinj: balloon # SKIP no virtio-balloon device");
	}
	free1 = faultinj_settled_free();         /* own_cache is empty: shrunk, as it was for free0 */
	tables1 = vmem_table_pages();
	tap_check(free1 == free0 && tables1 == tables0, "faultinj: free pages back to %lu (%lu), "
		  "kernel table pages %lu (%lu)", free0, free1, tables0, tables1);
	faultinj_work_fini();
	tap_check(pmem_oom_reports == 0, "no unexpected out-of-memory report (%lu)",
		  pmem_oom_reports);
}
