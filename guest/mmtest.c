/*
 * guest/mmtest.c — the memory-manager scenarios (`scenario=NAME`, guest/README.md): each sets up
 * the guest's own memory manager (pmem.c, vmem.c, kmem.c), exercises one layer, checks it with
 * TAP lines and mm/'s own checkers, and returns to main.c, which prints the plan and exits.
 *
 *   buddy      every order; watermarks (ordinary < HIGH < NO_WMARK); exhaustion; everything
 *              freed coalesces back to the initial free counts per order; buddy_check
 *   oom        exhaust memory, then one ordinary allocation: the OOM report fails the run
 *   numa       placement per policy checked by each frame's node (and its SRAT range),
 *              interleave spreads evenly, numastat adds up
 *   slab       cache create/destroy (busy destroy refused), objects patterned and checked,
 *              kmalloc of every size class and large sizes, kmem_cache_check
 *   vmalloc    small and large areas patterned through vmalloc and checked through the direct
 *              map, freed in mixed order; no frame or table page leaked
 *   integrity  every free page of every node patterned through the direct map and read back
 *   hostagree  HOSTAGREE_PAGES pages bound to node 1, every byte written through the direct map,
 *              each frame's node checked; one "hostagree: node 1 pages=N first=.. last=.." line
 *              for the host side (tests/kvm/hostagree_check.sh holds it against --stats)
 *   balloon    the virtio-balloon driver against the device's target (balloon.c)
 *
 * `break=buddy` (self-test) marks one allocated frame free behind the allocator's back right
 * after setup; buddy_check() must find it and the run ends "Bail out!".
 *
 * Runs on the boot CPU; the state here is static (.bss).
 */
#include <mm/buddy.h>
#include <mm/numa.h>

#include "mem.h"
#include "smp.h"

#define MAX_BLOCKS   8192                 /* blocks one exhaustion may hold */
#define MIX_MUL1     UINT64_C(0xbf58476d1ce4e5b9)   /* splitmix64, as memtest.c */
#define MIX_MUL2     UINT64_C(0x94d049bb133111eb)

struct block {
	pfn_t pfn;
	unsigned order;
};

static struct block blocks[MAX_BLOCKS];
static unsigned nr_blocks;
static uint64_t seed;

static uint64_t mix(uint64_t x)
{
	x ^= seed;
	x = (x ^ (x >> 30)) * MIX_MUL1;
	x = (x ^ (x >> 27)) * MIX_MUL2;
	return x ^ (x >> 31);
}

static uint64_t free_total(void)
{
	struct buddy_stats st;

	MM_BUG_ON(buddy_stats(&pmem_buddy, &st) != 0);
	return st.free_pages + st.pcp_pages;
}

/*
 * Run mm/'s checker, drain the per-CPU lists, check again: a corrupt allocator ends the run. The
 * first check comes before the drain because draining frees frames, and a free that merges with
 * a corrupted buddy follows its (poisoned) links before anything could report it. Both need no
 * other CPU inside a section of the allocator: they run under stop-machine.
 */
static int check_result;

static void check_drain_check(void *arg)
{
	(void)arg;
	check_result = buddy_check(&pmem_buddy);
	if (check_result == 0) {
		buddy_drain_all(&pmem_buddy);
		check_result = buddy_check(&pmem_buddy);
	}
}

void mmtest_check_buddy(const char *when)
{
	if (!smp_stop_machine(check_drain_check, NULL))
		tap_bail("buddy_check %s: the other CPUs did not stop", when);
	if (check_result)
		tap_bail("buddy_check %s: %d (corrupted allocator)", when, check_result);
	tap_check(true, "buddy_check %s", when);
}

static void drain_all(void *arg)
{
	(void)arg;
	buddy_drain_all(&pmem_buddy);
}

/* Every CPU's per-CPU frames back in the zones (stop-machine). */
static void drain_pcp(void)
{
	if (!smp_stop_machine(drain_all, NULL))
		tap_bail("buddy_drain_all: the other CPUs did not stop");
}

static void slab_flush_this_cpu(void *arg)
{
	(void)arg;
	slab_flush_cpu(&kmem);
}

/* Free pages once every CPU's cached slab objects and per-CPU frames are back: the slab lists
 * flushed on each CPU (a call), every cache's empty slabs freed, the per-CPU frames drained. */
static uint64_t settled_free(void)
{
	if (!smp_call_all(slab_flush_this_cpu, NULL))
		tap_bail("slab_flush_cpu: not every CPU ran it");
	slab_shrink_all(&kmem);
	drain_pcp();
	return free_total();
}

/* Allocate until nothing is left (flags, policy pol), highest order first; blocks[] holds them. */
static void exhaust(struct numa_policy *pol, unsigned flags)
{
	for (unsigned order = pmem_buddy.nr_orders; order-- > 0;) {
		pfn_t pfn;

		while (nr_blocks < MAX_BLOCKS &&
		       page_alloc(pol, order, flags | PAGE_ALLOC_MAY_FAIL, &pfn) == 0)
			blocks[nr_blocks++] = (struct block){ pfn, order };
	}
}

static uint64_t blocks_pages(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < nr_blocks; i++)
		n += UINT64_C(1) << blocks[i].order;
	return n;
}

static void release_blocks(void)
{
	for (unsigned i = nr_blocks; i-- > 0;)    /* reverse: exercises merging upwards */
		page_free(blocks[i].pfn, blocks[i].order);
	nr_blocks = 0;
}

/* ---- work on every CPU at once (smp_run_all) --------------------------------------------------- */

/* What one CPU's share of a concurrent round did; each CPU writes only its own slot. */
struct cpu_result {
	bool ran;
	unsigned node;              /* the CPU's SRAT node */
	uint64_t ops;               /* allocations (or objects, areas) it made */
	uint64_t bad;               /* stamps or patterns found overwritten */
	uint64_t failed;            /* allocations that failed */
	uint64_t local;             /* pages that came from its own node */
	long drained;               /* frames its per-CPU lists held at the end */
	uint64_t seen;              /* vmalloc: reads through the shared area that saw the new frame */
};

static struct cpu_result results[SMP_MAX_CPUS];

static void results_reset(void)
{
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
		results[i] = (struct cpu_result){ 0 };
}

static struct cpu_result *my_result(void)
{
	struct cpu_result *r = &results[cpu_id()];

	r->ran = true;
	r->node = pmem_cpu_node(cpu_id());
	return r;
}

/* The CPUs that ran the last round; false (and a diagnostic) unless every online CPU did. */
static bool all_cpus_ran(const char *what)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
		n += results[i].ran;
	if (n != nr_cpus_online())
		kprintf("# %s: %u of %u online CPUs ran their share\n", what, n, nr_cpus_online());
	return n == nr_cpus_online();
}

/* A stamp naming the CPU, the round and the slot: another CPU's write would change it. */
static uint64_t stamp(unsigned cpu, unsigned round, unsigned i)
{
	return mix((uint64_t)cpu << 48 | (uint64_t)round << 32 | i);
}

#define PCP_ROUNDS  32
#define PCP_PAGES   192            /* blocks per round; every 8th of order 1..3, the rest 0 */

static unsigned pcp_order(unsigned i)
{
	return i % 8 == 7 ? 1 + i / 8 % 3 : 0;
}

/*
 * One CPU's share: rounds of PCP_PAGES blocks by the default (local) policy, each block's words
 * stamped through the direct map, all stamps checked (two CPUs handed one frame would overwrite
 * each other's), then freed odd slots first. The order-0 frees land on this CPU's per-CPU list;
 * at the end it drains its own lists and records how many frames they held.
 */
static void buddy_worker(void *arg)
{
	static pfn_t pages[SMP_MAX_CPUS][PCP_PAGES];
	struct cpu_result *r = my_result();
	unsigned cpu = cpu_id();

	(void)arg;
	for (unsigned round = 0; round < PCP_ROUNDS; round++) {
		unsigned n = 0;

		for (; n < PCP_PAGES; n++) {
			unsigned order = pcp_order(n);
			uint64_t *w;

			if (page_alloc(NULL, order, PAGE_ALLOC_MAY_FAIL, &pages[cpu][n])) {
				r->failed++;
				break;
			}
			r->ops++;
			r->local += buddy_pfn_to_frame(&pmem_buddy, pages[cpu][n])->node == r->node;
			w = phys_to_direct(pages[cpu][n] << MM_PAGE_SHIFT);
			for (uint64_t j = 0; j < (MM_PAGE_SIZE << order) / 8; j += 64)
				w[j] = stamp(cpu, round, n);
		}
		for (unsigned i = 0; i < n; i++) {
			const uint64_t *w = phys_to_direct(pages[cpu][i] << MM_PAGE_SHIFT);

			for (uint64_t j = 0; j < (MM_PAGE_SIZE << pcp_order(i)) / 8; j += 64)
				r->bad += w[j] != stamp(cpu, round, i);
		}
		for (unsigned i = 1; i < n; i += 2)
			page_free(pages[cpu][i], pcp_order(i));
		for (unsigned i = 0; i < n; i += 2)
			page_free(pages[cpu][i], pcp_order(i));
	}
	r->drained = buddy_drain_local(&pmem_buddy);
}

/*
 * Every CPU allocates and frees through its own per-CPU lists at the same time (buddy_worker);
 * afterwards everything coalesces back to total0 free pages.
 */
static void buddy_all_cpus(uint64_t total0)
{
	bool ran, ok = true, local = true;

	results_reset();
	ran = smp_run_all(buddy_worker, NULL) && all_cpus_ran("buddy");
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
		const struct cpu_result *r = &results[i];

		if (!r->ran)
			continue;
		kprintf("# buddy: cpu %u (node %u): %lu blocks, %lu local, %lu failed, %lu stamps "
			"overwritten, its per-CPU lists held %ld frames\n", i, r->node, r->ops, r->local,
			r->failed, r->bad, r->drained);
		ok &= r->ops == (uint64_t)PCP_ROUNDS * PCP_PAGES && r->failed == 0 && r->bad == 0 &&
		      r->drained > 0;
		local &= r->local == r->ops;
	}
	tap_check(ran && ok, "buddy: %u CPUs at once: %u rounds of %u blocks each, every stamp "
		  "intact, every CPU's own per-CPU lists used", nr_cpus_online(), PCP_ROUNDS, PCP_PAGES);
	tap_check(ran && local, "buddy: the default policy gave every CPU pages of its own node");
	mmtest_check_buddy("after all CPUs");
	tap_check(free_total() == total0, "buddy: free pages back to %lu after all CPUs (%lu)",
		  total0, free_total());
}

/* ---- buddy ----------------------------------------------------------------------------------- */

static void scenario_buddy(void)
{
	struct buddy_stats st0, st;
	uint64_t total0, after_low, after_high;
	bool ok = true;
	pfn_t pfn;
	int ret;

	drain_pcp();
	MM_BUG_ON(buddy_stats(&pmem_buddy, &st0) != 0);
	total0 = st0.free_pages;
	kprintf("# buddy: %lu managed, %lu free, watermarks min %lu low %lu high %lu\n",
		st0.managed_pages, total0, st0.wmark[BUDDY_WMARK_MIN], st0.wmark[BUDDY_WMARK_LOW],
		st0.wmark[BUDDY_WMARK_HIGH]);

	for (unsigned order = 0; order < pmem_buddy.nr_orders; order++) {
		const struct buddy_frame *f;

		ret = page_alloc(NULL, order, 0, &pfn);
		f = ret ? NULL : buddy_pfn_to_frame(&pmem_buddy, pfn);
		if (ret || (pfn & ((UINT64_C(1) << order) - 1)) || !f || f->order != order ||
		    !(f->flags & BUDDY_FRAME_ALLOC)) {
			kprintf("# buddy: order %u: ret %d pfn 0x%lx\n", order, ret, pfn);
			ok = false;
		}
		if (ret == 0) {
			memset(phys_to_direct(pfn << MM_PAGE_SHIFT), 0x5a, MM_PAGE_SIZE << order);
			page_free(pfn, order);
		}
	}
	tap_check(ok, "buddy: every order 0..%u allocates an aligned, allocated block and frees it",
		  pmem_buddy.nr_orders - 1);

	/* Watermarks: ordinary allocations stop above low, HIGH may go to min, NO_WMARK to 0. */
	exhaust(NULL, 0);
	after_low = free_total();
	exhaust(NULL, BUDDY_ALLOC_HIGH);
	after_high = free_total();
	exhaust(NULL, BUDDY_ALLOC_NO_WMARK);
	MM_BUG_ON(buddy_stats(&pmem_buddy, &st) != 0);
	tap_check(after_low >= st0.wmark[BUDDY_WMARK_LOW] && after_low > after_high &&
		  after_high >= st0.wmark[BUDDY_WMARK_MIN] && st.wmark_skips > 0,
		  "buddy: ordinary allocations stop at the low watermarks (%lu pages left, low %lu), "
		  "HIGH ones at min (%lu left, min %lu)", after_low, st0.wmark[BUDDY_WMARK_LOW],
		  after_high, st0.wmark[BUDDY_WMARK_MIN]);
	tap_check(nr_blocks < MAX_BLOCKS && st.free_pages + st.pcp_pages == 0 &&
		  blocks_pages() == total0,
		  "buddy: exhaustion takes all %lu free pages in %u blocks (%lu left)", total0,
		  nr_blocks, st.free_pages + st.pcp_pages);
	ret = page_alloc(NULL, 0, BUDDY_ALLOC_NO_WMARK | PAGE_ALLOC_MAY_FAIL, &pfn);
	tap_check(ret == -MM_ENOMEM, "buddy: an allocation from exhausted memory fails: %d", ret);
	mmtest_check_buddy("while exhausted");

	release_blocks();
	mmtest_check_buddy("after freeing everything");
	MM_BUG_ON(buddy_stats(&pmem_buddy, &st) != 0);
	ok = st.free_pages == total0 && st.pcp_pages == 0;
	for (unsigned order = 0; order < pmem_buddy.nr_orders; order++)
		if (st.nr_free[order] != st0.nr_free[order]) {
			kprintf("# buddy: order %u: %lu free blocks, %lu at start\n", order,
				st.nr_free[order], st0.nr_free[order]);
			ok = false;
		}
	tap_check(ok, "buddy: everything coalesced back to the initial %lu free pages and blocks per order",
		  total0);
	buddy_all_cpus(total0);
}

/* ---- oom ------------------------------------------------------------------------------------- */

static void scenario_oom(void)
{
	pfn_t pfn;
	int ret;

	exhaust(NULL, BUDDY_ALLOC_NO_WMARK);
	tap_check(free_total() == 0, "oom: memory exhausted (%lu pages in %u blocks)", blocks_pages(),
		  nr_blocks);
	ret = page_alloc(NULL, 0, 0, &pfn);     /* the OOM report: a "not ok" line */
	tap_check(ret == -MM_ENOMEM, "oom: the allocation returned %d", ret);
	release_blocks();
	mmtest_check_buddy("after the OOM");
}

/* ---- numa ------------------------------------------------------------------------------------ */

/* The node the SRAT gives physical address pa (the topology's view, independent of mm/). */
static unsigned srat_node(const struct topo *t, uint64_t pa)
{
	for (unsigned i = 0; t->have_srat && i < t->nr_ranges; i++)
		if (pa >= t->ranges[i].base && pa - t->ranges[i].base < t->ranges[i].size)
			return t->ranges[i].node;
	return 0;
}

#define NUMA_PAGES 64

/* Allocate NUMA_PAGES order-0 pages by pol; count per node (mm/'s and the SRAT's must agree). */
static bool numa_batch(const struct topo *t, struct numa_policy *pol, uint64_t *per_node)
{
	bool agree = true;

	for (unsigned i = 0; i < MM_MAX_NODES; i++)
		per_node[i] = 0;
	for (unsigned i = 0; i < NUMA_PAGES; i++) {
		pfn_t pfn;
		unsigned node;

		if (page_alloc(pol, 0, 0, &pfn))
			break;
		node = buddy_pfn_to_frame(&pmem_buddy, pfn)->node;
		agree &= node == srat_node(t, pfn << MM_PAGE_SHIFT);
		per_node[node]++;
		blocks[nr_blocks++] = (struct block){ pfn, 0 };
	}
	release_blocks();
	return agree;
}

static void numa_stats_sum(struct numa_stat *sum, struct numa_stat *per)
{
	*sum = (struct numa_stat){ 0 };
	for (unsigned n = 0; n < pmem_buddy.nr_nodes; n++) {
		numa_stat_read(&pmem_buddy, n, &per[n]);
		sum->numa_hit += per[n].numa_hit;
		sum->numa_miss += per[n].numa_miss;
		sum->numa_foreign += per[n].numa_foreign;
		sum->interleave_hit += per[n].interleave_hit;
		sum->local_node += per[n].local_node;
		sum->other_node += per[n].other_node;
	}
}

static void scenario_numa(const struct topo *t)
{
	static struct numa_stat per0[MM_MAX_NODES], per1[MM_MAX_NODES];
	struct numa_stat s0, s1;
	uint64_t per_node[MM_MAX_NODES], allocs = 0;
	nodemask_t mem = pmem_buddy.mem_nodes;
	unsigned local = pmem_cpu_node(cpu_id()), nr_mem = numa_nodemask_weight(mem);
	struct numa_policy pol;
	bool ok;

	numa_stats_sum(&s0, per0);
	kprintf("# numa: %u nodes with memory, this CPU on node %u\n", nr_mem, local);

	ok = numa_batch(t, NULL, per_node);
	allocs += NUMA_PAGES;
	tap_check(ok && per_node[local] == NUMA_PAGES, "numa: default policy: %lu of %u pages on "
		  "the local node %u", per_node[local], NUMA_PAGES, local);
	for (unsigned n = 0; n < MM_MAX_NODES; n++) {
		if (!(mem >> n & 1))
			continue;
		MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_BIND, (nodemask_t)1 << n));
		ok = numa_batch(t, &pol, per_node);
		tap_check(ok && per_node[n] == NUMA_PAGES, "numa: bind to node %u: %lu of %u pages "
			  "there (frame node = SRAT node)", n, per_node[n], NUMA_PAGES);
		MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_PREFERRED,
					   (nodemask_t)1 << n));
		ok = numa_batch(t, &pol, per_node);
		tap_check(ok && per_node[n] == NUMA_PAGES, "numa: preferred node %u: %lu of %u pages "
			  "there", n, per_node[n], NUMA_PAGES);
		allocs += 2 * NUMA_PAGES;
	}
	MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_INTERLEAVE, mem));
	ok = numa_batch(t, &pol, per_node);
	allocs += NUMA_PAGES;
	for (unsigned n = 0; n < MM_MAX_NODES; n++)
		if (mem >> n & 1) {
			ok &= per_node[n] == NUMA_PAGES / nr_mem;
			kprintf("# numa: interleave: node %u got %lu\n", n, per_node[n]);
		}
	tap_check(ok || NUMA_PAGES % nr_mem, "numa: interleave over %u nodes spreads %u pages evenly",
		  nr_mem, NUMA_PAGES);

	numa_stats_sum(&s1, per1);
	for (unsigned n = 0; n < pmem_buddy.nr_nodes; n++)
		kprintf("# numastat node %u: hit %lu miss %lu foreign %lu interleave_hit %lu local %lu other %lu\n",
			n, per1[n].numa_hit, per1[n].numa_miss, per1[n].numa_foreign,
			per1[n].interleave_hit, per1[n].local_node, per1[n].other_node);
	tap_check(s1.numa_hit - s0.numa_hit + s1.numa_miss - s0.numa_miss >= allocs &&
		  s1.numa_hit + s1.numa_miss == s1.local_node + s1.other_node &&
		  s1.numa_miss == s1.numa_foreign &&
		  s1.interleave_hit - s0.interleave_hit == (nr_mem ? NUMA_PAGES : 0),
		  "numa: counters add up: hit+miss grew by %lu >= %lu allocations, hit+miss = "
		  "local+other, miss = foreign, interleave_hit grew by %lu",
		  s1.numa_hit - s0.numa_hit + s1.numa_miss - s0.numa_miss, allocs,
		  s1.interleave_hit - s0.interleave_hit);
	mmtest_check_buddy("after the policies");
}

/* ---- slab on every CPU at once --------------------------------------------------------------- */

#define SLAB_ROUNDS     16
#define SLAB_CONC_OBJS  128        /* objects of the shared cache per CPU per round */
#define SLAB_OWN_OBJS   64         /* objects of the CPU's own cache per round */

static const size_t kmalloc_sizes[] = { 1, 8, 9, 16, 32, 64, 96, 100, 128, 192, 256, 512, 1024,
					2048, 4096, 8192, 8193, 16384, 65536 };

/* Per CPU: the objects it leaves for the next CPU to check and free (even slots of the shared
 * cache, then one kmalloc object per size). Written in phase A, taken in phase B. */
#define SLAB_HANDOFF (SLAB_CONC_OBJS / 2 + ARRAY_SIZE(kmalloc_sizes))
static void *handoff[SMP_MAX_CPUS][SLAB_HANDOFF];
static unsigned handoff_round;
static struct kmem_cache *shared_cache;

/* Stamp the first and (from 16 bytes) the last word of an object of `bytes` (>= 8) usable
 * bytes; check them. */
static void obj_stamp(void *p, size_t bytes, uint64_t v)
{
	((uint64_t *)p)[0] = v;
	if (bytes >= 16)
		((uint64_t *)p)[bytes / 8 - 1] = ~v;
}

static bool obj_stamped(const void *p, size_t bytes, uint64_t v)
{
	const uint64_t *w = p;

	return w[0] == v && (bytes < 16 || w[bytes / 8 - 1] == ~v);
}

/*
 * Phase A, on every CPU: a cache of its own created, used and destroyed (concurrently with the
 * other CPUs' creates and destroys); SLAB_CONC_OBJS objects of the shared cache and one kmalloc
 * object of every size stamped; the odd shared objects freed here, the rest handed off.
 */
static void slab_phase_alloc(void *arg)
{
	static void *own[SMP_MAX_CPUS][SLAB_OWN_OBJS], *objs[SMP_MAX_CPUS][SLAB_CONC_OBJS];
	struct cpu_result *r = my_result();
	unsigned cpu = cpu_id(), h = 0;
	struct kmem_cache *c = kmem_cache_create(&kmem, "mmtest-own", 64 + 8 * cpu, 0, 0, NULL);

	(void)arg;
	if (!c) {
		r->failed++;
		return;
	}
	for (unsigned i = 0; i < SLAB_OWN_OBJS; i++) {
		own[cpu][i] = kmem_cache_alloc(c);
		if (own[cpu][i])
			obj_stamp(own[cpu][i], 64, stamp(cpu, handoff_round, i));
		r->failed += own[cpu][i] == NULL;
	}
	for (unsigned i = 0; i < SLAB_OWN_OBJS; i++)
		if (own[cpu][i]) {
			r->bad += !obj_stamped(own[cpu][i], 64, stamp(cpu, handoff_round, i));
			r->failed += kmem_cache_free(c, own[cpu][i]) != 0;
		}
	r->failed += kmem_cache_destroy(c) != 0;

	for (unsigned i = 0; i < SLAB_CONC_OBJS; i++) {
		objs[cpu][i] = kmem_cache_alloc(shared_cache);
		if (!objs[cpu][i]) {
			r->failed++;
			continue;
		}
		r->ops++;
		obj_stamp(objs[cpu][i], 200, stamp(cpu, handoff_round, i));
	}
	for (unsigned i = 0; i < ARRAY_SIZE(kmalloc_sizes); i++) {
		void *p = kmalloc(&kmem, kmalloc_sizes[i]);

		handoff[cpu][SLAB_CONC_OBJS / 2 + i] = p;
		if (!p) {
			r->failed++;
			continue;
		}
		r->ops++;
		obj_stamp(p, ksize(&kmem, p), stamp(cpu, handoff_round, 1000 + i));
	}
	for (unsigned i = 0; i < SLAB_CONC_OBJS; i++) {
		if (!objs[cpu][i])
			continue;
		r->bad += !obj_stamped(objs[cpu][i], 200, stamp(cpu, handoff_round, i));
		if (i % 2)
			r->failed += kmem_cache_free(shared_cache, objs[cpu][i]) != 0;
		else
			handoff[cpu][h++] = objs[cpu][i];
	}
	while (h < SLAB_CONC_OBJS / 2)
		handoff[cpu][h++] = NULL;
}

/* The CPU after cpu among those that ran phase A (cyclic). */
static unsigned next_cpu(unsigned cpu)
{
	for (unsigned i = 1; i <= SMP_MAX_CPUS; i++)
		if (results[(cpu + i) % SMP_MAX_CPUS].ran)
			return (cpu + i) % SMP_MAX_CPUS;
	return cpu;
}

/* Phase B, on every CPU: check and free what the next CPU handed off (cross-CPU frees). */
static void slab_phase_free(void *arg)
{
	unsigned cpu = cpu_id(), from = next_cpu(cpu);
	struct cpu_result *r = &results[cpu];

	(void)arg;
	for (unsigned i = 0; i < SLAB_CONC_OBJS / 2; i++) {
		void *p = handoff[from][i];

		if (!p)
			continue;
		r->bad += !obj_stamped(p, 200, stamp(from, handoff_round, 2 * i));
		r->failed += kmem_cache_free(shared_cache, p) != 0;
		r->seen++;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(kmalloc_sizes); i++) {
		void *p = handoff[from][SLAB_CONC_OBJS / 2 + i];

		if (!p)
			continue;
		r->bad += !obj_stamped(p, ksize(&kmem, p), stamp(from, handoff_round, 1000 + i));
		r->failed += kfree(&kmem, p) != 0;
		r->seen++;
	}
}

/*
 * Every CPU allocates and frees at once, in SLAB_ROUNDS rounds of two phases: its own cache
 * created and destroyed; the shared cache and kmalloc of every size, half freed by the
 * allocating CPU, half by the next one. Then nothing may be left: the shared cache checks clean,
 * is destroyed, and free pages return to where they were.
 */
static void slab_all_cpus(void)
{
	uint64_t free0 = settled_free();
	bool ran = true, ok = true;
	struct slab_stats st;
	int ret;

	shared_cache = kmem_cache_create(&kmem, "mmtest-shared", 200, 0, 0, NULL);
	if (!tap_check(shared_cache != NULL, "slab: cache mmtest-shared created"))
		return;
	results_reset();
	for (handoff_round = 0; handoff_round < SLAB_ROUNDS && ran; handoff_round++)
		ran = smp_run_all(slab_phase_alloc, NULL) && all_cpus_ran("slab") &&
		      smp_run_all(slab_phase_free, NULL);
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
		const struct cpu_result *r = &results[i];

		if (!r->ran)
			continue;
		kprintf("# slab: cpu %u: %lu objects allocated, %lu freed for cpu %u, %lu stamps "
			"overwritten, %lu failures\n", i, r->ops, r->seen, next_cpu(i), r->bad,
			r->failed);
		ok &= r->ops == (uint64_t)SLAB_ROUNDS * (SLAB_CONC_OBJS + ARRAY_SIZE(kmalloc_sizes)) &&
		      r->seen == (uint64_t)SLAB_ROUNDS * SLAB_HANDOFF && r->bad == 0 && r->failed == 0;
	}
	tap_check(ran && ok, "slab: %u CPUs at once, %u rounds: own caches created and destroyed, "
		  "shared cache and every kmalloc size allocated, half freed by another CPU, every "
		  "stamp intact", nr_cpus_online(), SLAB_ROUNDS);
	if (!smp_call_all(slab_flush_this_cpu, NULL))
		tap_bail("slab_flush_cpu: not every CPU ran it");
	ret = kmem_cache_check(shared_cache);
	if (ret == 0)
		ret = kmem_cache_stats(shared_cache, &st);
	tap_check(ret == 0 && st.active_objs == 0 && st.cpu_cached == 0,
		  "slab: the shared cache checks clean with no object in use or cached (%d)", ret);
	ret = kmem_cache_destroy(shared_cache);
	tap_check(ret == 0, "slab: shared cache destroyed: %d", ret);
	tap_check(settled_free() == free0, "slab: free pages back to %lu after all CPUs (%lu)", free0,
		  settled_free());
	mmtest_check_buddy("after slab on all CPUs");
}

/* ---- slab ------------------------------------------------------------------------------------ */

#define SLAB_OBJS 1000

static void scenario_slab(void)
{
	static void *objs[SLAB_OBJS];
	struct kmem_cache *c = kmem_cache_create(&kmem, "mmtest-200", 200, 0, 0, NULL);
	bool ok = true;
	int ret;

	if (!tap_check(c != NULL, "slab: cache mmtest-200 created"))
		return;
	for (unsigned i = 0; i < SLAB_OBJS; i++) {
		objs[i] = kmem_cache_alloc(c);
		if (!objs[i]) {
			ok = false;
			break;
		}
		for (unsigned w = 0; w < 200 / 8; w++)
			((uint64_t *)objs[i])[w] = mix((uint64_t)(uintptr_t)objs[i] + w);
	}
	for (unsigned i = 0; ok && i < SLAB_OBJS; i++)
		for (unsigned w = 0; w < 200 / 8; w++)
			ok &= ((uint64_t *)objs[i])[w] == mix((uint64_t)(uintptr_t)objs[i] + w);
	tap_check(ok, "slab: %u objects of 200 bytes allocated, patterned, read back", SLAB_OBJS);
	ret = kmem_cache_destroy(c);
	tap_check(ret == -MM_EBUSY, "slab: destroying a cache with live objects is refused: %d", ret);
	for (unsigned i = 0; i < SLAB_OBJS; i += 2)          /* every other one, then the rest */
		ok &= kmem_cache_free(c, objs[i]) == 0;
	for (unsigned i = 1; i < SLAB_OBJS; i += 2)
		ok &= kmem_cache_free(c, objs[i]) == 0;
	ret = kmem_cache_check(c);
	tap_check(ok && ret == 0, "slab: all freed, kmem_cache_check: %d", ret);
	ret = kmem_cache_destroy(c);
	tap_check(ret == 0, "slab: cache destroyed: %d", ret);

	ok = true;
	for (unsigned i = 0; i < ARRAY_SIZE(kmalloc_sizes); i++) {
		uint8_t *p = kmalloc(&kmem, kmalloc_sizes[i]);
		size_t usable = p ? ksize(&kmem, p) : 0;
		bool pow2 = (kmalloc_sizes[i] & (kmalloc_sizes[i] - 1)) == 0;
		size_t align = kmalloc_sizes[i] < MM_PAGE_SIZE ? kmalloc_sizes[i] : MM_PAGE_SIZE;

		if (!p || usable < kmalloc_sizes[i] || (pow2 && ((uintptr_t)p & (align - 1)))) {
			kprintf("# slab: kmalloc(%lu) = %p, ksize %lu\n", (uint64_t)kmalloc_sizes[i], (void *)p,
				(uint64_t)usable);
			ok = false;
			continue;
		}
		memset(p, 0xa7, usable);
		for (size_t b = 0; b < usable; b++)
			ok &= p[b] == 0xa7;
		ok &= kfree(&kmem, p) == 0;
	}
	tap_check(ok, "slab: kmalloc of every size class 8..8192 and large sizes up to 64 KiB");
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++)
		if (kmem.kmalloc[i])
			ok &= kmem_cache_check(kmem.kmalloc[i]) == 0;
	tap_check(ok && slab_large_pages(&kmem) == 0,
		  "slab: kmalloc caches check clean, no large block left");
	mmtest_check_buddy("after slab");
	slab_all_cpus();
}

/* ---- vmalloc on every CPU, TLB shootdown ------------------------------------------------------ */

#define VM_ROUNDS     64
#define VM_MAX_PAGES  16

static void *shoot_area;          /* the area every CPU reads in vmalloc_shootdown */

/* On every CPU: read the first word of shoot_area; count the reads that saw *arg. */
static void shoot_read(void *arg)
{
	struct cpu_result *r = my_result();

	r->seen += *(volatile uint64_t *)shoot_area == *(const uint64_t *)arg;
}

/*
 * TLB shootdown, observed. Every CPU reads a one-page area (its TLB now maps va -> old frame);
 * vfree unmaps it (and must flush every CPU); the old frame is taken out of circulation and
 * overwritten; a new area at the same address gets another frame with another value. Every CPU
 * must now read the new value: one with a stale entry would read the old frame.
 *
 *   before:  va ---> old frame [v1]          after:  va ---> new frame [v2]
 *                                                   old frame [v_stale] (held, not mapped)
 */
static void vmalloc_shootdown(void)
{
	uint64_t v1 = mix(1), v2 = mix(2), old_pa, new_pa, held_pa = VMEM_NO_PHYS;
	void *va;
	bool ran, first, second;
	pfn_t held;

	shoot_area = vmalloc(MM_PAGE_SIZE);
	if (!tap_check(shoot_area != NULL, "vmalloc: one-page area for the shootdown check"))
		return;
	va = shoot_area;
	old_pa = vmem_virt_to_phys(va);
	*(volatile uint64_t *)va = v1;
	results_reset();
	ran = smp_run_all(shoot_read, &v1) && all_cpus_ran("vmalloc");
	first = true;
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
		first &= !results[i].ran || results[i].seen == 1;
	vfree(va);
	/* The old frame went to this CPU's per-CPU list; take order-0 frames until it is held. */
	for (unsigned i = 0; i < 64 && held_pa != old_pa; i++) {
		if (page_alloc(NULL, 0, 0, &held))
			break;
		if ((held << MM_PAGE_SHIFT) == old_pa) {
			held_pa = old_pa;
			*(volatile uint64_t *)phys_to_direct(held_pa) = mix(3);
		} else {
			blocks[nr_blocks++] = (struct block){ held, 0 };
		}
	}
	release_blocks();
	shoot_area = vmalloc(MM_PAGE_SIZE);
	new_pa = shoot_area ? vmem_virt_to_phys(shoot_area) : VMEM_NO_PHYS;
	if (!tap_check(shoot_area == va && held_pa == old_pa && new_pa != old_pa,
		       "vmalloc: the area is remapped at %p (was %p) to frame 0x%lx (was 0x%lx, "
		       "now held)", shoot_area, va, new_pa, old_pa))
		return;
	*(volatile uint64_t *)shoot_area = v2;
	results_reset();
	ran &= smp_run_all(shoot_read, &v2) && all_cpus_ran("vmalloc");
	second = true;
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
		if (results[i].ran && results[i].seen != 1) {
			kprintf("# vmalloc: cpu %u read 0x%lx through the remapped area, not 0x%lx\n",
				i, *(volatile uint64_t *)phys_to_direct(held_pa), v2);
			second = false;
		}
	tap_check(ran && first && second, "vmalloc: after vfree every CPU (%u) reads the new frame "
		  "through the reused address: the TLB shootdown reached them all", nr_cpus_online());
	vfree(shoot_area);
	page_free(held_pa >> MM_PAGE_SHIFT, 0);
}

/* One CPU's share: VM_ROUNDS areas of 1..VM_MAX_PAGES pages, patterned, checked, freed (each
 * vfree shoots down the other CPUs' TLBs while they run their own share). */
static void vmalloc_worker(void *arg)
{
	struct cpu_result *r = my_result();
	unsigned cpu = cpu_id();

	(void)arg;
	for (unsigned round = 0; round < VM_ROUNDS; round++) {
		size_t bytes = (size_t)(stamp(cpu, round, 0) % VM_MAX_PAGES + 1) * MM_PAGE_SIZE;
		uint64_t *w = vmalloc(bytes);

		if (!w) {
			r->failed++;
			continue;
		}
		r->ops++;
		for (size_t j = 0; j < bytes / 8; j += 512)
			w[j] = stamp(cpu, round, (unsigned)j);
		for (size_t j = 0; j < bytes / 8; j += 512)
			r->bad += w[j] != stamp(cpu, round, (unsigned)j);
		vfree(w);
	}
}

/* vmalloc/vfree on every CPU at once; then no frame or table page may be left over. */
static void vmalloc_all_cpus(void)
{
	uint64_t free0 = settled_free(), tables0 = vmem_table_pages();
	bool ran, ok = true;

	results_reset();
	ran = smp_run_all(vmalloc_worker, NULL) && all_cpus_ran("vmalloc");
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
		const struct cpu_result *r = &results[i];

		if (!r->ran)
			continue;
		kprintf("# vmalloc: cpu %u: %lu areas, %lu patterns broken, %lu failures, %lu TLB "
			"shootdowns taken\n", i, r->ops, r->bad, r->failed, percpu_of(i)->tlb_flushes);
		ok &= r->ops == VM_ROUNDS && r->bad == 0 && r->failed == 0;
	}
	tap_check(ran && ok, "vmalloc: %u CPUs at once, %u areas each, every pattern intact",
		  nr_cpus_online(), VM_ROUNDS);
	tap_check(vmem_vmalloc_pages() == 0 && settled_free() == free0 &&
		  vmem_table_pages() == tables0,
		  "vmalloc: after all CPUs no frame is mapped (%lu), free pages back to %lu (%lu), "
		  "table pages back to %lu (%lu)", vmem_vmalloc_pages(), free0, settled_free(),
		  tables0, vmem_table_pages());
	mmtest_check_buddy("after vmalloc on all CPUs");
}

/* ---- vmalloc --------------------------------------------------------------------------------- */

#define VM_SMALL 100

static bool vm_pattern(void *p, size_t bytes, bool write)
{
	uint64_t *w = p;
	bool ok = true;

	for (size_t i = 0; i < bytes / 8; i += 64)       /* a word per 512 bytes */
		if (write)
			w[i] = mix((uint64_t)(uintptr_t)&w[i]);
		else
			ok &= w[i] == mix((uint64_t)(uintptr_t)&w[i]);
	return ok;
}


static void scenario_vmalloc(void)
{
	static void *small[VM_SMALL];
	const size_t big = UINT64_C(24) << 20;
	uint64_t free0, tables0 = vmem_table_pages(), pages = 0;
	void *large;
	bool ok = true;

	vfree(vmalloc(1));                                /* first use: slab pages for areas */
	free0 = settled_free();
	tables0 = vmem_table_pages();
	large = vmalloc(big);
	if (!tap_check(large != NULL, "vmalloc: %lu MiB area at %p", (uint64_t)big >> 20, large))
		return;
	pages += big / MM_PAGE_SIZE;
	for (unsigned i = 0; i < VM_SMALL; i++) {
		size_t bytes = (i % 7 + 1) * MM_PAGE_SIZE - i;

		small[i] = vmalloc(bytes);
		ok &= small[i] != NULL && vm_pattern(small[i], bytes, true);
		pages += (bytes + MM_PAGE_SIZE - 1) / MM_PAGE_SIZE;
	}
	ok &= vm_pattern(large, big, true);
	tap_check(ok && vmem_vmalloc_pages() == pages && free_total() + pages <= free0,
		  "vmalloc: %u small areas and the large one map %lu frames (%lu expected)",
		  VM_SMALL, vmem_vmalloc_pages(), pages);
	ok = vm_pattern(large, big, false);
	for (unsigned i = 0; i < VM_SMALL; i++)
		ok &= vm_pattern(small[i], (i % 7 + 1) * MM_PAGE_SIZE - i, false);
	tap_check(ok, "vmalloc: every area reads back its pattern");

	for (unsigned i = 0; i < VM_SMALL; i += 2)
		vfree(small[i]);
	vfree(large);
	for (unsigned i = 0; i < VM_SMALL; i += 2)        /* refill the holes, then free all */
		small[i] = vmalloc(MM_PAGE_SIZE * 3);
	for (unsigned i = 0; i < VM_SMALL; i++)
		vfree(small[i]);
	tap_check(vmem_vmalloc_pages() == 0 && settled_free() == free0 &&
		  vmem_table_pages() == tables0,
		  "vmalloc: after vfree no frame is mapped (%lu), free pages back to %lu (%lu), "
		  "table pages back to %lu (%lu)", vmem_vmalloc_pages(), free0, settled_free(),
		  tables0, vmem_table_pages());
	mmtest_check_buddy("after vmalloc");
	vmalloc_shootdown();
	vmalloc_all_cpus();
}

/* ---- integrity ------------------------------------------------------------------------------- */

static void scenario_integrity(void)
{
	nodemask_t mem = pmem_buddy.mem_nodes;

	for (unsigned n = 0; n < MM_MAX_NODES; n++) {
		struct numa_policy pol;
		uint64_t bad = 0, first_bad = 0, low_checked = 0;

		if (!(mem >> n & 1))
			continue;
		MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_BIND, (nodemask_t)1 << n));
		drain_pcp();
		exhaust(&pol, BUDDY_ALLOC_NO_WMARK);
		for (unsigned i = 0; i < nr_blocks; i++) {
			uint64_t pa = blocks[i].pfn << MM_PAGE_SHIFT;
			uint64_t *w = phys_to_direct(pa);

			for (uint64_t j = 0; j < (MM_PAGE_SIZE << blocks[i].order) / 8; j++)
				w[j] = mix(pa + j * 8);
		}
		for (unsigned i = 0; i < nr_blocks; i++) {
			uint64_t pa = blocks[i].pfn << MM_PAGE_SHIFT;
			const uint64_t *w = phys_to_direct(pa);

			for (uint64_t j = 0; j < (MM_PAGE_SIZE << blocks[i].order) / 8; j++)
				if (w[j] != mix(pa + j * 8) && bad++ == 0)
					first_bad = pa + j * 8;
			/* Low memory is also identity-mapped: both views must show one frame. */
			if (pa < LOW_IDENTITY_END) {
				low_checked++;
				if (*(const volatile uint64_t *)(uintptr_t)pa != mix(pa) && bad++ == 0)
					first_bad = pa;
			}
		}
		tap_check(bad == 0 && nr_blocks < MAX_BLOCKS,
			  "integrity: node %u: %lu free pages in %u blocks written and read back "
			  "through the direct map (first word of %lu blocks also via the identity map), %lu mismatches, first at 0x%lx",
			  n, blocks_pages(), nr_blocks, low_checked, bad, first_bad);
		release_blocks();
	}
	mmtest_check_buddy("after integrity");
}

/* ---- hostagree ------------------------------------------------------------------------------ */

#define HOSTAGREE_PAGES 1024                     /* 4 MiB of order-0 pages */
#define HOSTAGREE_NODE  1u

/*
 * Touch HOSTAGREE_PAGES order-0 pages allocated with bind(node 1): every byte written through the
 * direct map (so the host must back each one), read back, and each frame's node checked. The
 * pages stay allocated (and touched) to the end; the host's per-node statistics must then hold
 * them in node 1's pool. Without a node 1 with memory: a TAP ok with "# SKIP".
 */
static void scenario_hostagree(void)
{
	struct numa_policy pol;
	uint64_t first = UINT64_MAX, last = 0, wrong_node = 0, bad = 0;
	unsigned n = HOSTAGREE_NODE;

	if (!(pmem_buddy.mem_nodes >> n & 1)) {
		tap_check(true, "hostagree: # SKIP no node %u with memory", n);
		return;
	}
	MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_BIND, (nodemask_t)1 << n));
	for (unsigned i = 0; i < HOSTAGREE_PAGES; i++) {
		pfn_t pfn;
		uint8_t *p;
		uint64_t pa;

		if (page_alloc(&pol, 0, 0, &pfn))
			break;
		blocks[nr_blocks++] = (struct block){ pfn, 0 };
		pa = pfn << MM_PAGE_SHIFT;
		wrong_node += buddy_pfn_to_frame(&pmem_buddy, pfn)->node != n;
		first = pa < first ? pa : first;
		last = pa + MM_PAGE_SIZE - 1 > last ? pa + MM_PAGE_SIZE - 1 : last;
		p = phys_to_direct(pa);
		for (uint64_t j = 0; j < MM_PAGE_SIZE; j++)          /* every byte, not just a word */
			p[j] = (uint8_t)mix(pa + j);
		for (uint64_t j = 0; j < MM_PAGE_SIZE; j++)
			bad += p[j] != (uint8_t)mix(pa + j);
	}
	tap_check(nr_blocks == HOSTAGREE_PAGES && wrong_node == 0 && bad == 0,
		  "hostagree: %u of %u pages bound to node %u, %lu on another node, every byte "
		  "written and read back through the direct map, %lu mismatches", nr_blocks,
		  HOSTAGREE_PAGES, n, wrong_node, bad);
	kprintf("hostagree: node %u pages=%u first=0x%lx last=0x%lx\n", n, nr_blocks, first, last);
	mmtest_check_buddy("after hostagree");
}

/* ---- entry ----------------------------------------------------------------------------------- */

static void break_buddy(void)
{
	pfn_t pfn;
	struct buddy_frame *f;
	uint16_t flags;

	MM_BUG_ON(page_alloc(NULL, 0, 0, &pfn) != 0);
	f = buddy_pfn_to_frame(&pmem_buddy, pfn);
	flags = (uint16_t)((f->flags & ~BUDDY_FRAME_STATE_MASK) | BUDDY_FRAME_FREE);
	kprintf("# break=buddy: frame 0x%lx marked free without being on a free list\n", pfn);
	__atomic_store_n(&f->flags, flags, __ATOMIC_RELAXED);
}

enum mm_scenario {
	MM_BUDDY, MM_OOM, MM_NUMA, MM_SLAB, MM_VMALLOC, MM_INTEGRITY, MM_HOSTAGREE, MM_BALLOON,
};

static const char *const mm_names[] = {
	[MM_BUDDY] = "buddy", [MM_OOM] = "oom", [MM_NUMA] = "numa", [MM_SLAB] = "slab",
	[MM_VMALLOC] = "vmalloc", [MM_INTEGRITY] = "integrity", [MM_HOSTAGREE] = "hostagree",
	[MM_BALLOON] = "balloon",
};

int mmtest_lookup(const char *name, size_t len)
{
	for (unsigned i = 0; i < ARRAY_SIZE(mm_names); i++) {
		size_t n = 0;

		while (mm_names[i][n])
			n++;
		if (n == len && !memcmp(mm_names[i], name, len))
			return (int)i;
	}
	return -1;
}

void mmtest_run(int sc, bool brk, const struct topo *t, const struct memmap *mm)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	seed = (uint64_t)hi << 32 | lo;
	kprintf("# scenario %s, seed 0x%lx\n", mm_names[sc], seed);
	if (!pmem_init(t, mm) || !vmem_init(mm) || !kmem_init() || !vmem_cache_init())
		return;
	if (brk)
		break_buddy();
	mmtest_check_buddy("after setup");
	switch ((enum mm_scenario)sc) {
	case MM_BUDDY:     scenario_buddy();     break;
	case MM_OOM:       scenario_oom();       break;
	case MM_NUMA:      scenario_numa(t);     break;
	case MM_SLAB:      scenario_slab();      break;
	case MM_VMALLOC:   scenario_vmalloc();   break;
	case MM_INTEGRITY: scenario_integrity(); break;
	case MM_HOSTAGREE: scenario_hostagree(); break;
	case MM_BALLOON:   balloon_scenario(t);  break;
	}
	tap_check(pmem_oom_reports == (sc == MM_OOM), "no unexpected out-of-memory report (%lu)",
		  pmem_oom_reports);
}
