/*
 * guest/balloon.c — the guest's virtio-balloon driver (virtio 1.x, 5.5) and `scenario=balloon`.
 *
 * Inflating takes aligned blocks of 2^BALLOON_ORDER frames from the buddy allocator (single
 * frames once those run out), interleaved over the nodes with memory (mm/numa interleave
 * policy), and hands their 4 KiB page numbers to the device in batches of up to BALLOON_BATCH
 * little-endian u32s on the inflate queue; deflating tells the device first
 * (deflate queue) and only then frees the frames (MUST_TELL_HOST is honoured whether negotiated
 * or not). `actual` in config space follows every batch. Free page reporting (REPORTING): free
 * blocks of order REPORT_ORDER are taken off the buddy, offered to the device in one chain,
 * and freed again once it has used them — the host may drop their contents meanwhile.
 *
 * Queue numbering is dense over the negotiated queues, as Linux's driver does: inflate 0,
 * deflate 1, stats 2 (when STATS_VQ is negotiated; it is whenever offered, so that a device that
 * always creates its stats queue at 2 agrees), reporting next.
 *
 * Statistics (STATS_VQ, virtio 5.5.6.3): one buffer of BALLOON_NR_STATS tagged values is posted
 * at start and stays with the device; the device returns it (used ring) when it wants fresh
 * values, and the driver refills and re-posts it. The queues are polled, so the driver answers
 * in balloon_poll(), which runs wherever the driver's CPU waits or works: the wait for a target,
 * after every inflate/deflate batch, and the scenario's waits. A request is answered within one
 * of those; none is lost (the buffer simply stays in the used ring until then). Values:
 * SWAP_IN/SWAP_OUT/MAJFLT 0 (no swap, no file-backed pages: every fault is minor), MINFLT the
 * ring-3 page faults since boot (idt.c), MEMFREE the buddy's free pages (per-CPU lists
 * included), MEMTOT its managed pages (the balloon's pages count as used, not as removed: Linux
 * does the same with DEFLATE_ON_OOM), AVAIL = MEMFREE (nothing reclaimable: no page cache),
 * CACHES 0. Each refill prints "# balloon: stats #N: ..." with the figures sent.
 *
 * DEFLATE_ON_OOM: the driver is pmem.c's OOM notifier and gives OOM_DEFLATE pages back before an
 * allocation that may not fail would fail (the device was told it may do so by the feature).
 *
 * One CPU drives the device (the scenario's, which calls balloon_init): the notifier backs off
 * on any other CPU and while an inflate or deflate is running.
 *
 * The scenario inflates and deflates while the other CPUs run workloads (balloon_phase):
 * ring-3 processes (proc.c's scheduler on those CPUs, user program UPROG_BWORK) and kernel slab
 * rounds, each checking its own data; the free-page counts must still come back exactly, so
 * every process is reaped and freed before a count. Lock order: balloon.c takes no lock of its
 * own.
 */
#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>

#include "faultinj.h"
#include "mem.h"
#include "proc.h"
#include "smp.h"
#include "virtio.h"

#define BALLOON_BATCH     1024           /* page numbers per buffer: one page of u32s */
#define BALLOON_ORDER     4              /* inflate in 64 KiB blocks where it can: a host that
					    frees whole clusters (memvisor's default) gets them */
#define REPORT_ORDER      9              /* 2 MiB blocks, Linux's pageblock order */
#define REPORT_BLOCKS     16             /* blocks per report */
#define EXCHANGE_MS       10000          /* the device must use a buffer within this */
#define TARGET_WAIT_MS    30000          /* scenario: how long a target of 0 is waited on */
#define OOM_DEFLATE       256            /* pages given back per OOM notification (Linux's
					    VIRTIO_BALLOON_OOM_NR_PAGES) */
#define HOG_MAX_BLOCKS    4096           /* scenario: blocks the memory hog may hold */
#define STATS_WAIT_MS     10000          /* scenario: how long a stats request is waited for */

/* The statistics the driver reports, in buffer order (linux/virtio_balloon.h tags). */
static const uint16_t stat_tags[] = {
	VIRTIO_BALLOON_S_SWAP_IN, VIRTIO_BALLOON_S_SWAP_OUT, VIRTIO_BALLOON_S_MAJFLT,
	VIRTIO_BALLOON_S_MINFLT, VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT,
	VIRTIO_BALLOON_S_AVAIL, VIRTIO_BALLOON_S_CACHES,
};
#define BALLOON_NR_STATS  ARRAY_SIZE(stat_tags)
_Static_assert(sizeof(struct virtio_balloon_stat) == 10, "virtio 5.5.6.3: a packed tag/value");

struct balloon_block {
	pfn_t pfn;
	unsigned order;
};

struct balloon {
	struct virtio_dev dev;
	struct virtq inflate, deflate, stats, report;
	bool have_stats, have_report, deflate_on_oom;
	bool busy;                       /* an inflate/deflate is running: the notifier stays out */
	uint64_t oom_deflated;           /* pages given back on OOM notifications */
	struct balloon_block *blocks;    /* what the balloon holds (vmalloc), nr_blocks of them */
	uint64_t nr_blocks;
	uint64_t nr, max;                /* pages in the balloon; at most this many */
	uint32_t *pfns;                  /* the batch buffer: one page, direct-mapped */
	uint64_t pfns_pa;
	uint64_t per_node[MM_MAX_NODES];
	unsigned cpu;                    /* the CPU that drives the device */
	struct virtio_balloon_stat *stats_buf;   /* BALLOON_NR_STATS entries, a page of its own */
	uint64_t stats_pa;
	bool stats_posted;               /* the stats buffer is with the device */
	uint64_t stats_requests;         /* times the device returned it for fresh values */
	uint64_t stats_free, stats_total;/* the last values sent (bytes) */
};

static uint64_t feature(unsigned bit)
{
	return UINT64_C(1) << bit;
}

/* Fill the stats buffer with the values of now (see the file comment for each). */
static void stats_fill(struct balloon *b)
{
	uint64_t val[VIRTIO_BALLOON_S_NR] = { 0 };
	struct buddy_stats st;

	MM_BUG_ON(buddy_stats(&pmem_buddy, &st) != 0);
	val[VIRTIO_BALLOON_S_MINFLT] = idt_user_page_fault_count();
	val[VIRTIO_BALLOON_S_MEMFREE] = (st.free_pages + st.pcp_pages) * MM_PAGE_SIZE;
	val[VIRTIO_BALLOON_S_MEMTOT] = st.managed_pages * MM_PAGE_SIZE;
	val[VIRTIO_BALLOON_S_AVAIL] = val[VIRTIO_BALLOON_S_MEMFREE];
	for (unsigned i = 0; i < BALLOON_NR_STATS; i++) {
		b->stats_buf[i].tag = stat_tags[i];          /* x86: little-endian as virtio 1 is */
		b->stats_buf[i].val = val[stat_tags[i]];
	}
	b->stats_free = val[VIRTIO_BALLOON_S_MEMFREE];
	b->stats_total = val[VIRTIO_BALLOON_S_MEMTOT];
	kprintf("# balloon: stats #%lu: free=%lu total=%lu avail=%lu minflt=%lu\n",
		b->stats_requests, b->stats_free, b->stats_total, val[VIRTIO_BALLOON_S_AVAIL],
		val[VIRTIO_BALLOON_S_MINFLT]);
}

/* Fill the stats buffer and hand it to the device, which keeps it until it wants new values. */
static void stats_post(struct balloon *b)
{
	uint64_t pa = b->stats_pa;
	uint32_t len = BALLOON_NR_STATS * sizeof(struct virtio_balloon_stat);

	stats_fill(b);
	b->stats_posted = virtq_add(&b->dev, &b->stats, &pa, &len, false, 1) >= 0;
}

/*
 * The driver's poll point (the queues raise no interrupts): if the device returned the stats
 * buffer, it wants fresh values: refill and re-post. On the driver's CPU only.
 */
static void balloon_poll(struct balloon *b)
{
	uint16_t head;
	uint32_t written;

	if (!b->stats_posted || !virtq_get_used(&b->stats, &head, &written))
		return;
	b->stats_requests++;
	stats_post(b);
}

static bool balloon_init(const struct topo *t, struct balloon *b)
{
	unsigned next = 2;
	pfn_t pfn;

	if (!tap_check(virtio_find(t, VIRTIO_ID_BALLOON, &b->dev), "balloon: a virtio-balloon "
		       "device among the DSDT's %u virtio-mmio devices", t->nr_virtio))
		return false;
	if (!virtio_negotiate(&b->dev, feature(VIRTIO_BALLOON_F_MUST_TELL_HOST) |
			      feature(VIRTIO_BALLOON_F_STATS_VQ) |
			      feature(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
			      feature(VIRTIO_BALLOON_F_REPORTING)))
		return false;
	b->have_stats = b->dev.features & feature(VIRTIO_BALLOON_F_STATS_VQ);
	b->have_report = b->dev.features & feature(VIRTIO_BALLOON_F_REPORTING);
	b->deflate_on_oom = b->dev.features & feature(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	if (!virtq_setup(&b->dev, &b->inflate, 0) || !virtq_setup(&b->dev, &b->deflate, 1) ||
	    (b->have_stats && !virtq_setup(&b->dev, &b->stats, next++)) ||
	    (b->have_report && !virtq_setup(&b->dev, &b->report, next++)))
		return false;
	virtio_driver_ok(&b->dev);
	b->cpu = cpu_id();
	if (!tap_check(page_alloc(NULL, 0, 0, &pfn) == 0, "balloon: a page for page-number batches"))
		return false;
	b->pfns_pa = pfn << MM_PAGE_SHIFT;
	b->pfns = phys_to_direct(b->pfns_pa);
	if (b->have_stats) {
		if (!tap_check(page_alloc(NULL, 0, 0, &pfn) == 0, "balloon: a page for statistics"))
			return false;
		b->stats_pa = pfn << MM_PAGE_SHIFT;
		b->stats_buf = phys_to_direct(b->stats_pa);
		stats_post(b);                   /* 5.5.6.3: the driver offers it at start */
		if (!tap_check(b->stats_posted, "balloon: the statistics buffer posted"))
			return false;
	}
	{
		struct buddy_stats st;

		MM_BUG_ON(buddy_stats(&pmem_buddy, &st) != 0);
		b->max = st.managed_pages;
	}
	b->blocks = vmalloc(b->max * sizeof(*b->blocks));
	return tap_check(b->blocks != NULL, "balloon: device %u ready (features 0x%lx, %u queues), "
			 "room for %lu pages", b->dev.device_id, b->dev.features,
			 next, b->max);
}

/* Hand pfns[0..n) to the device on q; false after a diagnostic. */
static bool send_batch(struct balloon *b, struct virtq *q, unsigned n)
{
	uint32_t len = n * (uint32_t)sizeof(uint32_t);

	return virtq_exchange(&b->dev, q, &b->pfns_pa, &len, false, 1, EXCHANGE_MS) >= 0;
}

/* Inflate by up to n pages (fewer when memory runs out); the pages added. */
static uint64_t balloon_inflate(struct balloon *b, uint64_t n)
{
	struct numa_policy pol;
	uint64_t added = 0;
	unsigned order = BALLOON_ORDER;

	b->busy = true;                  /* inflating allocates with PAGE_ALLOC_MAY_FAIL anyway */
	MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_INTERLEAVE,
				   pmem_buddy.mem_nodes) != 0);
	while (added < n) {
		uint64_t first_block = b->nr_blocks;
		unsigned batch = 0;

		/* Fill one batch with whole blocks; smaller blocks once the larger ones run out. */
		while (added + batch < n && batch < BALLOON_BATCH) {
			uint64_t room = n - added - batch;
			unsigned pages;
			pfn_t pfn;

			if (room > BALLOON_BATCH - batch)
				room = BALLOON_BATCH - batch;
			while ((UINT64_C(1) << order) > room)       /* room >= 1: ends at order 0 */
				order--;
			if (page_alloc(&pol, order, PAGE_ALLOC_MAY_FAIL, &pfn)) {
				if (order == 0)
					break;
				order--;
				continue;
			}
			pages = 1u << order;
			for (unsigned i = 0; i < pages; i++)
				b->pfns[batch + i] = (uint32_t)(pfn + i);
			b->blocks[b->nr_blocks++] = (struct balloon_block){ pfn, order };
			b->per_node[buddy_pfn_to_frame(&pmem_buddy, pfn)->node] += pages;
			batch += pages;
		}
		if (batch == 0)
			break;
		/* fail_balloon: the batch's submission fails; as a real one, the frames go back and
		 * the device never hears of them */
		if (faultinj_should_fail(FAULTINJ_BALLOON, (uint64_t)batch << MM_PAGE_SHIFT,
					 "inflate batch") ||
		    !send_batch(b, &b->inflate, batch)) {
			while (b->nr_blocks > first_block) {     /* the device did not take them */
				const struct balloon_block *k = &b->blocks[--b->nr_blocks];

				b->per_node[buddy_pfn_to_frame(&pmem_buddy, k->pfn)->node] -=
					UINT64_C(1) << k->order;
				page_free(k->pfn, k->order);
			}
			break;
		}
		b->nr += batch;
		added += batch;
		virtio_config_write32(&b->dev, offsetof(struct virtio_balloon_config, actual),
				      (uint32_t)b->nr);
		balloon_poll(b);
		order = BALLOON_ORDER;
	}
	b->busy = false;
	return added;
}

/* Deflate by at least n pages (whole blocks) or all: the device is told before a frame is
 * reused. The pages removed. */
static uint64_t balloon_deflate(struct balloon *b, uint64_t n)
{
	uint64_t removed = 0;

	while (removed < n && b->nr_blocks > 0) {
		uint64_t last = b->nr_blocks;
		unsigned batch = 0;

		while (last > 0 && removed + batch < n &&
		       batch + (1u << b->blocks[last - 1].order) <= BALLOON_BATCH) {
			const struct balloon_block *k = &b->blocks[--last];

			for (unsigned i = 0; i < 1u << k->order; i++)
				b->pfns[batch++] = (uint32_t)(k->pfn + i);
		}
		/* fail_balloon: the device is not told, so the frames stay in the balloon */
		if (faultinj_should_fail(FAULTINJ_BALLOON, (uint64_t)batch << MM_PAGE_SHIFT,
					 "deflate batch") ||
		    !send_batch(b, &b->deflate, batch))
			break;
		while (b->nr_blocks > last) {
			const struct balloon_block *k = &b->blocks[--b->nr_blocks];

			b->per_node[buddy_pfn_to_frame(&pmem_buddy, k->pfn)->node] -=
				UINT64_C(1) << k->order;
			page_free(k->pfn, k->order);
		}
		b->nr -= batch;
		removed += batch;
		virtio_config_write32(&b->dev, offsetof(struct virtio_balloon_config, actual),
				      (uint32_t)b->nr);
		balloon_poll(b);
	}
	return removed;
}

/* Free page reporting: up to REPORT_BLOCKS free blocks of REPORT_ORDER offered in one chain,
 * then freed. The blocks reported, or -1 when the device did not use the chain. */
/* pmem.c's OOM notifier: deflate by OOM_DEFLATE pages (at least the `pages` needed). */
static uint64_t balloon_oom(void *arg, uint64_t pages)
{
	struct balloon *b = arg;
	uint64_t freed;

	if (b->busy || b->nr == 0 || cpu_id() != b->cpu)     /* virtio.h: one CPU per device */
		return 0;
	b->busy = true;
	freed = balloon_deflate(b, pages > OOM_DEFLATE ? pages : OOM_DEFLATE);
	b->busy = false;
	b->oom_deflated += freed;
	return freed;
}

/*
 * A memory hog: every free page taken (PAGE_ALLOC_MAY_FAIL), then ordinary allocations, which
 * the OOM notifier must serve from the balloon (no OOM report) until `want` pages came back.
 * Returns whether all was as expected; everything is freed again.
 */
static bool balloon_hog(struct balloon *b, uint64_t want)
{
	static struct balloon_block hog[HOG_MAX_BLOCKS];
	uint64_t n = 0, held0 = b->nr, reports0 = pmem_oom_reports, served = 0;
	bool ok = true;

	for (unsigned order = pmem_buddy.nr_orders; order-- > 0;) {
		pfn_t pfn;

		while (n < HOG_MAX_BLOCKS &&
		       page_alloc(NULL, order, BUDDY_ALLOC_NO_WMARK | PAGE_ALLOC_MAY_FAIL, &pfn) == 0)
			hog[n++] = (struct balloon_block){ pfn, order };
	}
	ok &= n < HOG_MAX_BLOCKS;
	while (ok && served < want && n < HOG_MAX_BLOCKS) {
		pfn_t pfn;

		if (page_alloc(NULL, 0, BUDDY_ALLOC_NO_WMARK, &pfn)) {
			ok = false;
			break;
		}
		hog[n++] = (struct balloon_block){ pfn, 0 };
		served++;
	}
	kprintf("# balloon: hog took %lu blocks; %lu ordinary pages served after memory ran out, "
		"balloon %lu -> %lu pages\n", n, served, held0, b->nr);
	ok &= served == want && b->nr < held0 && b->oom_deflated == held0 - b->nr &&
	      pmem_oom_reports == reports0;
	while (n > 0) {
		n--;
		page_free(hog[n].pfn, hog[n].order);
	}
	return ok;
}

static long balloon_report(struct balloon *b)
{
	uint64_t pa[REPORT_BLOCKS];
	uint32_t len[REPORT_BLOCKS];
	unsigned n = 0;
	long ret;

	while (n < REPORT_BLOCKS) {
		pfn_t pfn;

		if (page_alloc(NULL, REPORT_ORDER, PAGE_ALLOC_MAY_FAIL, &pfn))
			break;
		pa[n] = pfn << MM_PAGE_SHIFT;
		len[n++] = MM_PAGE_SIZE << REPORT_ORDER;
	}
	if (n == 0)
		return 0;
	ret = virtq_exchange(&b->dev, &b->report, pa, len, true, n, EXCHANGE_MS);
	for (unsigned i = 0; i < n; i++)
		page_free(pa[i] >> MM_PAGE_SHIFT, REPORT_ORDER);
	return ret < 0 ? -1 : (long)n;
}

static void slab_flush_this_cpu(void *arg)
{
	(void)arg;
	slab_flush_cpu(&kmem);
}

/* Free pages once every CPU's cached slab objects are back and empty slabs freed (so that the
 * other CPUs' slab workload leaves no trace in the count); per-CPU frames count as free. */
static uint64_t free_pages(void)
{
	struct buddy_stats st;

	if (!smp_call_all(slab_flush_this_cpu, NULL))
		tap_bail("balloon: slab_flush_cpu did not run on every CPU");
	slab_shrink_all(&kmem);
	MM_BUG_ON(buddy_stats(&pmem_buddy, &st) != 0);
	return st.free_pages + st.pcp_pages;
}

/* ---- the integrity pattern on pages the balloon does not take --------------------------------- */

#define KEEP_PAGES        512            /* held by the scenario, interleaved over the nodes */

static pfn_t keep[KEEP_PAGES];
static unsigned nr_keep;

static uint64_t keep_word(pfn_t pfn, unsigned i)
{
	uint64_t x = (uint64_t)pfn << 12 | i;

	x = (x ^ (x >> 31)) * UINT64_C(0x9e3779b97f4a7c15);    /* distinct per page and word */
	return x ^ (x >> 29);
}

/* Take KEEP_PAGES pages over the nodes and fill each with its pattern; false after a check. */
static bool keep_fill(void)
{
	struct numa_policy pol;
	uint64_t on_node[MM_MAX_NODES] = { 0 };

	MM_BUG_ON(numa_policy_init(&pol, &pmem_buddy, NUMA_POLICY_INTERLEAVE,
				   pmem_buddy.mem_nodes) != 0);
	for (nr_keep = 0; nr_keep < KEEP_PAGES; nr_keep++) {
		uint64_t *w;

		if (page_alloc(&pol, 0, PAGE_ALLOC_MAY_FAIL, &keep[nr_keep]))
			break;
		w = phys_to_direct(keep[nr_keep] << MM_PAGE_SHIFT);
		for (unsigned i = 0; i < MM_PAGE_SIZE / 8; i++)
			w[i] = keep_word(keep[nr_keep], i);
		on_node[buddy_pfn_to_frame(&pmem_buddy, keep[nr_keep])->node]++;
	}
	return tap_check(nr_keep == KEEP_PAGES, "balloon: %u pages filled with a per-page pattern "
			 "(node 0: %lu, node 1: %lu) before inflating", nr_keep, on_node[0],
			 on_node[1]);
}

/* Every word of every kept page: the words found changed. */
static uint64_t keep_check(void)
{
	uint64_t bad = 0;

	for (unsigned k = 0; k < nr_keep; k++) {
		const uint64_t *w = phys_to_direct(keep[k] << MM_PAGE_SHIFT);

		for (unsigned i = 0; i < MM_PAGE_SIZE / 8; i++)
			bad += w[i] != keep_word(keep[k], i);
	}
	return bad;
}

static void keep_free(void)
{
	while (nr_keep > 0)
		page_free(keep[--nr_keep], 0);
}

/* ---- workloads on the other CPUs while the driver's CPU inflates or deflates ------------------ */

/*
 * balloon_phase() runs `op` on the driver's CPU while every other CPU runs a workload until op
 * is done. op runs in steps of PHASE_STEP pages, each begun only once every workload made
 * progress since the previous one (a slab round, a ring-3 page fault): the vCPUs are host
 * threads that the host may deschedule, and a whole inflate can take less than a host time
 * slice, so without this the op could finish while another CPU's workload did not run at all.
 * Workloads are a table: the k-th CPU other than the driver's (k = 0, 1, ...) runs
 * workloads[k % NR_WORKLOADS], so with N other CPUs the first N kinds run at once; the process
 * workload comes first because a run with one other CPU can only have one kind, and ring 3 on
 * top of the balloon is the harder case. A kind with no CPU is said in a "#" line. Each CPU
 * writes only its own struct work_result.
 */
struct work_result {
	bool ran;
	uint64_t rounds;                 /* rounds completed */
	uint64_t during;                 /* rounds begun before op was done */
	uint64_t ops, bad, failed;       /* slab: allocations, bytes found changed, failures;
					    processes: run, ended otherwise than exit 0 with their
					    table right, not created */
	uint64_t iters, meanwhile;       /* processes: iterations logged; of them, those that
					    ended between op's start and end (TSC stamps) */
	uint64_t progress;               /* slab: rounds, atomically (the driver's CPU reads it) */
};

struct phase {
	struct balloon *b;
	uint64_t (*op)(struct balloon *b, uint64_t n);
	uint64_t n, done;                /* op's argument and result */
	int kind[SMP_MAX_CPUS];          /* the workload each CPU runs; -1: none (the driver's) */
	unsigned proc_cpus;              /* CPUs running the process workload */
	uint64_t faults;                 /* ... taken while op ran (any CPU) */
	uint64_t tsc_start, tsc_end;     /* op's start and end; 0 until then */
	uint64_t seen_faults;            /* progress at op's previous step: the ring-3 faults */
	uint64_t seen[SMP_MAX_CPUS];     /* ... and each CPU's work_result.progress */
	unsigned started;                /* other CPUs in their workload: op waits for all */
	bool stop;                       /* op is done: workloads finish their round and return */
	struct work_result res[SMP_MAX_CPUS];
};

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

#define SLAB_WORK_OBJS    64

static const uint32_t slab_work_sizes[] = { 16, 48, 96, 200, 512, 1000, 2048, 4000 };

/* One CPU's slab workload: rounds of kmalloc, stamp every byte, check, kfree. */
static void slab_work(struct phase *ph, struct work_result *r)
{
	unsigned cpu = cpu_id();
	uint8_t *obj[SLAB_WORK_OBJS];

	do {
		bool during = !__atomic_load_n(&ph->stop, __ATOMIC_ACQUIRE);

		for (unsigned i = 0; i < SLAB_WORK_OBJS; i++) {
			uint32_t size = slab_work_sizes[(i + r->rounds) % ARRAY_SIZE(slab_work_sizes)];

			obj[i] = kmalloc(&kmem, size);
			r->ops++;
			if (!obj[i]) {
				r->failed++;
				continue;
			}
			memset(obj[i], (int)(cpu * 31 + r->rounds + i) & 0xff, size);
		}
		for (unsigned i = 0; i < SLAB_WORK_OBJS; i++) {
			uint32_t size = slab_work_sizes[(i + r->rounds) % ARRAY_SIZE(slab_work_sizes)];
			uint8_t want = (uint8_t)(cpu * 31 + r->rounds + i);

			if (!obj[i])
				continue;
			for (uint32_t j = 0; j < size; j++)
				r->bad += obj[i][j] != want;
			r->failed += kfree(&kmem, obj[i]) != 0;
		}
		r->rounds++;
		r->during += during;
		__atomic_store_n(&r->progress, r->rounds, __ATOMIC_RELEASE);
	} while (!__atomic_load_n(&ph->stop, __ATOMIC_ACQUIRE));
}

static bool slab_report(unsigned cpu, const char *what, const struct work_result *r)
{
	kprintf("# balloon: cpu %u ran slab while the balloon %s: %lu rounds (%lu begun "
		"meanwhile), %lu allocations, %lu bytes changed, %lu failures\n", cpu, what,
		r->rounds, r->during, r->ops, r->bad, r->failed);
	return r->during > 0 && r->bad == 0 && r->failed == 0;
}

/*
 * The process workload: rounds of PROC_WORK_PROCS ring-3 processes running UPROG_BWORK
 * (guest/user/progs.c: map, fill every word, verify, fork with copy-on-write every 8th
 * iteration, unmap) for PROC_WORK_ITERS iterations each, run by this CPU's scheduler
 * (sched_run: it returns once every started process ended, so with several process CPUs one
 * may also run another's processes, which changes nothing here). After a round each process
 * must have exited 0 with its page table matching its VMAs (proc_check), and its log says when
 * each iteration ended: those between op's TSC stamps count as done while the balloon changed.
 * Every page of it (frames, tables, kernel stack, VMAs) is freed before the next round.
 */
#define PROC_WORK_PROCS   2
#define PROC_WORK_ITERS   24
_Static_assert(PROC_WORK_ITERS <= MV_BWORK_MAX_ITERS, "one log page per process");

/* The iterations p logged (*iters grows by them) and how many of them ended within
 * [start, end]; start 0: op had not begun when p was reaped; end 0: op had not ended, so it
 * ends after every stamp here. Read through p's page table after its exit (the log page is
 * its own: written after every fork, so never a frame shared with a child). */
static uint64_t bwork_meanwhile(struct proc *p, uint64_t start, uint64_t end, uint64_t *iters)
{
	struct pgtable_info info;
	const uint64_t *log;
	uint64_t n = 0;

	if (pgtable_translate(&p->pt, MV_BWORK_LOG, &info) != 0 || info.state != PT_STATE_MAPPED)
		return 0;
	log = phys_to_direct(MM_ALIGN_DOWN(info.pa, MM_PAGE_SIZE));
	for (unsigned i = 0; i < PROC_WORK_ITERS; i++) {
		if (log[i] == 0)
			continue;
		(*iters)++;
		n += start != 0 && log[i] >= start && (end == 0 || log[i] <= end);
	}
	return n;
}

static void proc_work(struct phase *ph, struct work_result *r)
{
	do {
		struct proc *procs[PROC_WORK_PROCS];
		bool during = !__atomic_load_n(&ph->stop, __ATOMIC_ACQUIRE);
		uint64_t start, end;
		unsigned n = 0;

		for (unsigned i = 0; i < PROC_WORK_PROCS; i++) {
			procs[n] = proc_create(UPROG_BWORK, "bwork", PROC_WORK_ITERS, NULL);
			if (!procs[n]) {
				r->failed++;
				continue;
			}
			proc_start(procs[n++]);
		}
		sched_run();
		end = __atomic_load_n(&ph->tsc_end, __ATOMIC_ACQUIRE);   /* before start: an */
		start = __atomic_load_n(&ph->tsc_start, __ATOMIC_ACQUIRE); /* end implies a start */
		for (unsigned i = 0; i < n; i++) {
			struct proc *p = procs[i];
			bool ok = p->state == PROC_EXITED && p->exit_code == 0 &&
				  p->checks_failed == 0 && list_empty(&p->children);

			ok &= proc_check(p) == 0;
			if (!ok)
				kprintf("# balloon: pid %u %s with %d\n", p->pid,
					p->state == PROC_EXITED ? "exited" : "was killed",
					p->exit_code);
			r->ops++;
			r->bad += !ok;
			r->meanwhile += bwork_meanwhile(p, start, end, &r->iters);
			proc_destroy(p);
		}
		r->rounds++;
		r->during += during;
	} while (!__atomic_load_n(&ph->stop, __ATOMIC_ACQUIRE));
}

static bool proc_report(unsigned cpu, const char *what, const struct work_result *r)
{
	kprintf("# balloon: cpu %u ran processes while the balloon %s: %lu rounds (%lu begun "
		"meanwhile), %lu processes, %lu of their %lu iterations ended meanwhile, %lu ended "
		"badly, %lu not created\n", cpu, what, r->rounds, r->during, r->ops, r->meanwhile,
		r->iters, r->bad, r->failed);
	return r->during > 0 && r->meanwhile > 0 && r->bad == 0 && r->failed == 0 &&
	       r->iters == r->ops * PROC_WORK_ITERS;
}

static const struct workload {
	const char *name;
	void (*run)(struct phase *ph, struct work_result *r);
	bool (*report)(unsigned cpu, const char *what, const struct work_result *r);
} workloads[] = {
	{ "processes", proc_work, proc_report },
	{ "slab", slab_work, slab_report },
};
#define NR_WORKLOADS ARRAY_SIZE(workloads)
#define WORK_PROCS   0                   /* workloads[] index of the process workload */

#define PHASE_STEP        BALLOON_BATCH  /* pages of op per step */
#define PROGRESS_WAIT_MS  2000           /* how long a step waits for the workloads */
#define PROGRESS_FAULTS   10             /* ring-3 faults a step waits for */

/*
 * Whether every workload progressed since op's previous step (a slab round; for processes,
 * PROGRESS_FAULTS ring-3 faults on any CPU); if so, that becomes the new reference. Why 10: an
 * iteration faults 4-7 times, at most about 25 with its fork (the child's and the parent's
 * copies of 7 pages, both stacks, the log page, a data page), so a window in which no iteration
 * ends holds at most ~25 faults per process, 50 for a process CPU's round. The 6 steps after the
 * first of an op of 7 steps or more (the scenario's ops: 6656 pages and more) wait for 60 faults
 * inside op: with one process CPU, some iteration must end during op, whatever the host's
 * scheduling of the vCPUs.
 */
static bool phase_progressed(struct phase *ph)
{
	uint64_t faults = idt_user_page_fault_count(), now[SMP_MAX_CPUS];

	if (ph->proc_cpus > 0 && faults < ph->seen_faults + PROGRESS_FAULTS)
		return false;
	for (unsigned c = 0; c < SMP_MAX_CPUS; c++) {
		now[c] = __atomic_load_n(&ph->res[c].progress, __ATOMIC_ACQUIRE);
		if (ph->kind[c] >= 0 && ph->kind[c] != WORK_PROCS && now[c] == ph->seen[c])
			return false;
	}
	ph->seen_faults = faults;
	for (unsigned c = 0; c < SMP_MAX_CPUS; c++)
		ph->seen[c] = now[c];
	return true;
}

/* Wait (bounded; balloon_phase's checks fail if a workload never ran) until pred(ph). */
static void phase_wait(struct phase *ph, bool (*pred)(struct phase *ph), uint64_t ms)
{
	uint64_t end = smp_clock_ns() + ms * UINT64_C(1000000);

	while (!pred(ph) && smp_clock_ns() < end)
		cpu_relax();
}

static bool phase_all_started(struct phase *ph)
{
	return __atomic_load_n(&ph->started, __ATOMIC_ACQUIRE) + 1 >= nr_cpus_online();
}

static void phase_cpu(void *arg)
{
	struct phase *ph = arg;
	unsigned cpu = cpu_id();

	if (ph->kind[cpu] >= 0) {
		ph->res[cpu].ran = true;
		__atomic_fetch_add(&ph->started, 1, __ATOMIC_ACQ_REL);
		workloads[ph->kind[cpu]].run(ph, &ph->res[cpu]);
		return;
	}
	if (cpu != ph->b->cpu)
		return;
	phase_wait(ph, phase_all_started, STATS_WAIT_MS);
	ph->faults = idt_user_page_fault_count();
	__atomic_store_n(&ph->tsc_start, rdtsc(), __ATOMIC_RELEASE);
	while (ph->done < ph->n) {
		uint64_t step = ph->n - ph->done < PHASE_STEP ? ph->n - ph->done : PHASE_STEP;
		uint64_t got;

		phase_wait(ph, phase_progressed, PROGRESS_WAIT_MS);
		got = ph->op(ph->b, step);
		ph->done += got;
		if (got < step)                  /* out of memory (inflate) or of blocks (deflate) */
			break;
	}
	__atomic_store_n(&ph->tsc_end, rdtsc(), __ATOMIC_RELEASE);
	ph->faults = idt_user_page_fault_count() - ph->faults;
	__atomic_store_n(&ph->stop, true, __ATOMIC_RELEASE);
}

/* Which workload each online CPU runs (see struct phase); the CPUs per kind in per_kind. */
static void phase_assign(struct phase *ph, unsigned per_kind[NR_WORKLOADS])
{
	unsigned k = 0;

	for (unsigned c = 0; c < SMP_MAX_CPUS; c++) {
		ph->kind[c] = -1;
		if (c == ph->b->cpu || !percpu_of(c)->online)
			continue;
		ph->kind[c] = (int)(k++ % NR_WORKLOADS);
		per_kind[ph->kind[c]]++;
	}
	ph->proc_cpus = per_kind[WORK_PROCS];
}

/*
 * op(b, n) with the workloads running on the other CPUs: a TAP check that all kept running with
 * every pattern intact, and one for the processes (they ran while op did). op's result.
 */
static uint64_t balloon_phase(struct balloon *b, const char *what,
			      uint64_t (*op)(struct balloon *b, uint64_t n), uint64_t n)
{
	static struct phase ph;
	unsigned per_kind[NR_WORKLOADS] = { 0 }, others = 0, good = 0, procs_good = 0;
	uint64_t procs = 0, iters = 0, meanwhile = 0;
	bool ran;

	ph = (struct phase){ .b = b, .op = op, .n = n };
	phase_assign(&ph, per_kind);
	ph.seen_faults = idt_user_page_fault_count();
	ran = smp_run_all(phase_cpu, &ph);
	for (unsigned c = 0; c < SMP_MAX_CPUS; c++) {
		const struct work_result *r = &ph.res[c];
		bool ok;

		if (!r->ran)
			continue;
		others++;
		ok = workloads[ph.kind[c]].report(c, what, r);
		good += ok;
		if (ph.kind[c] == WORK_PROCS) {
			procs_good += ok;
			procs += r->ops;
			iters += r->iters;
			meanwhile += r->meanwhile;
		}
	}
	for (unsigned w = 0; w < NR_WORKLOADS; w++)
		if (per_kind[w] == 0)
			kprintf("# balloon: no CPU left for the %s workload while the balloon %s "
				"(%u CPUs)\n", workloads[w].name, what, nr_cpus_online());
	if (nr_cpus_online() < 2) {
		tap_check(true, "balloon: # SKIP no other CPU to run workloads while the balloon %s",
			  what);
		tap_check(true, "balloon: # SKIP no other CPU to run processes while the balloon %s",
			  what);
		return ph.done;
	}
	tap_check(ran && others == nr_cpus_online() - 1 && good == others,
		  "balloon: workloads kept running on the %u other CPUs while the balloon %s, "
		  "every pattern intact", others, what);
	tap_check(ran && ph.proc_cpus > 0 && procs_good == ph.proc_cpus,
		  "balloon: ring-3 processes kept running on %u CPUs while the balloon %s: %lu "
		  "exited 0 with every pattern intact, %lu of their %lu iterations ended meanwhile "
		  "(%lu ring-3 page faults)", ph.proc_cpus, what, procs, meanwhile, iters, ph.faults);
	return ph.done;
}

/* Wait (answering the device) until it has asked for statistics at least `want` times in all. */
static void stats_wait(struct balloon *b, uint64_t want)
{
	uint64_t end = smp_clock_ns() + STATS_WAIT_MS * UINT64_C(1000000);

	while (b->stats_requests < want && smp_clock_ns() < end) {
		balloon_poll(b);
		cpu_relax();
	}
}

void balloon_scenario(const struct topo *t)
{
	static struct balloon b;
	uint64_t target, free0, end, got, bad;
	long reported;

	/* Ring 3 for the process workload; before anything is counted (proc_init pins a kernel
	 * table and creates the VMA cache for good). */
	if (!uarch_init() || !proc_init() || !balloon_init(t, &b))
		return;
	if (b.deflate_on_oom)
		pmem_set_oom_notifier(balloon_oom, &b);
	end = smp_clock_ns() + TARGET_WAIT_MS * UINT64_C(1000000);
	while ((target = virtio_config_read32(&b.dev, 0)) == 0 && smp_clock_ns() < end)
		balloon_poll(&b);
	kprintf("# balloon: target %lu pages\n", target);
	if (!tap_check(target > 0 && target < b.max, "balloon: the device asks for %lu of %lu pages "
		       "(within %u ms)", target, b.max, TARGET_WAIT_MS))
		return;
	if (!keep_fill())
		return;
	free0 = free_pages();
	got = balloon_phase(&b, "inflated", balloon_inflate, target);
	tap_check(got == target && b.nr == target &&
		  virtio_config_read32(&b.dev, offsetof(struct virtio_balloon_config, actual)) == target,
		  "balloon: inflated to %lu pages, actual %u", b.nr,
		  virtio_config_read32(&b.dev, offsetof(struct virtio_balloon_config, actual)));
	tap_check(free_pages() + target == free0, "balloon: the guest's free pages fell by the %lu "
		  "ballooned (%lu -> %lu)", target, free0, free_pages());
	bad = keep_check();
	tap_check(bad == 0, "balloon: the pattern on the %u pages not ballooned is intact after "
		  "inflating (%lu words changed)", nr_keep, bad);
	if (b.have_report) {
		reported = balloon_report(&b);
		tap_check(reported > 0, "balloon: %ld free blocks of %u KiB reported and used by the "
			  "device", reported, (unsigned)(MM_PAGE_SIZE << REPORT_ORDER) >> 10);
	}
	if (b.deflate_on_oom) {
		bool served = balloon_hog(&b, 2 * OOM_DEFLATE);

		tap_check(served, "balloon: a memory hog past free memory is served by "
			  "deflate-on-OOM (%lu pages back, no OOM report)", b.oom_deflated);
	} else {
		tap_check(true, "balloon: # SKIP the device does not offer DEFLATE_ON_OOM");
	}
	got = b.oom_deflated + balloon_phase(&b, "deflated", balloon_deflate, b.nr);
	tap_check(got == target && b.nr == 0 && free_pages() == free0,
		  "balloon: deflated %lu pages, free pages back to %lu (%lu)", got, free0,
		  free_pages());
	bad = keep_check();
	tap_check(bad == 0, "balloon: the pattern on the %u pages not ballooned is intact after "
		  "deflating (%lu words changed)", nr_keep, bad);
	keep_free();
	/* Inflated again and left so: the host's end-of-run statistics must hold these pages as
	 * ballooned, node by node (tests/kvm/balloon_check.sh). */
	got = balloon_inflate(&b, target);
	tap_check(got == target, "balloon: inflated again to %lu pages, left inflated", b.nr);
	for (unsigned n = 0; n < MM_MAX_NODES; n++)
		if (pmem_buddy.mem_nodes >> n & 1)
			kprintf("balloon: node %u pages=%lu\n", n, b.per_node[n]);
	tap_check(b.inflate.submitted == b.inflate.completed &&
		  b.deflate.submitted == b.deflate.completed,
		  "balloon: every buffer came back (%lu inflate, %lu deflate)", b.inflate.completed,
		  b.deflate.completed);
	if (!b.have_stats) {
		tap_check(true, "balloon: # SKIP the device does not offer STATS_VQ");
		return;
	}
	/* The device polls at its own interval: give it the time to ask once (more if it already
	 * did, so that a refill after the inflation is seen too). */
	stats_wait(&b, b.stats_requests + 1);
	if (b.stats_requests == 0)
		tap_check(true, "balloon: # SKIP the device did not ask for statistics within %u ms "
			  "(no polling interval set)", STATS_WAIT_MS);
	else
		tap_check(b.stats_total == b.max * MM_PAGE_SIZE,
			  "balloon: the device asked for statistics %lu times, each answered "
			  "(last: free %lu KiB of %lu KiB)", b.stats_requests, b.stats_free >> 10,
			  b.stats_total >> 10);
}

/* ---- for other scenarios (mem.h) ---------------------------------------------------------- */

struct balloon *balloon_open(const struct topo *t)
{
	static struct balloon b;
	struct virtio_dev probe;

	if (!virtio_find(t, VIRTIO_ID_BALLOON, &probe))
		return NULL;
	return balloon_init(t, &b) ? &b : NULL;
}

uint64_t balloon_grow(struct balloon *b, uint64_t n)
{
	return balloon_inflate(b, n);
}

uint64_t balloon_shrink(struct balloon *b, uint64_t n)
{
	return balloon_deflate(b, n);
}

uint64_t balloon_pages(const struct balloon *b)
{
	return b->nr;
}

/* The device's target (num_pages), at most what the balloon can hold. */
uint64_t balloon_target(struct balloon *b)
{
	uint64_t target = virtio_config_read32(&b->dev, offsetof(struct virtio_balloon_config,
								  num_pages));

	return target < b->max ? target : b->max;
}

/* Answer a statistics request, then move toward the target by at most step pages: the pages
 * inflated (> 0) or deflated (< 0). Fewer when memory or an injected failure stops a batch. */
int64_t balloon_follow(struct balloon *b, uint64_t step)
{
	uint64_t target, n;

	balloon_poll(b);
	target = balloon_target(b);
	if (target > b->nr) {
		n = target - b->nr < step ? target - b->nr : step;
		return (int64_t)balloon_inflate(b, n);
	}
	if (target < b->nr) {
		n = b->nr - target < step ? b->nr - target : step;
		return -(int64_t)balloon_deflate(b, n);
	}
	return 0;
}

bool balloon_use_deflate_on_oom(struct balloon *b)
{
	pmem_set_oom_notifier(b && b->deflate_on_oom ? balloon_oom : NULL, b);
	return b && b->deflate_on_oom;
}

uint64_t balloon_oom_deflated(const struct balloon *b)
{
	return b->oom_deflated;
}

long balloon_report_free(struct balloon *b)
{
	return b->have_report ? balloon_report(b) : -1;
}
