/*
 * Unit tests for the buddy allocator's per-CPU lists, watermarks and concurrency: refill and
 * drain batches, drains of the local CPU, of an exited thread's CPU and on request, the retry
 * after a failed allocation, Linux's default watermark formula, watermark levels per flag, and
 * several threads (each its own CPU id) allocating and freeing with the checker clean after.
 */
#include "buddy_util.h"

#include <pthread.h>

static unsigned current_cpu(void)
{
	unsigned long fl;
	unsigned cpu = mm_env_cpu_enter(&fl);

	mm_env_cpu_exit(fl);
	return cpu;
}

static void *pcp_instance(struct buddy *b, const struct buddy_range *r, unsigned nr,
			  unsigned batch, unsigned high)
{
	struct buddy_config cfg = {
		.ranges = r, .nr_ranges = nr, .flags = BUDDY_CFG_NO_WATERMARKS,
		.pcp_batch = batch, .pcp_high = high,
	};

	return bt_init_cfg(b, &cfg);
}

/* ---- per-CPU lists ---- */

TEST(pcp_refills_a_batch_then_hits)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = pcp_instance(&b, &r, 1, 4, 8);
	struct buddy_stats st;
	pfn_t p[2];

	p[0] = bt_alloc(&b, 0, 0, 0);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.pcp_batch, 4);
	CHECK_EQ(st.pcp_high, 8);
	CHECK_EQ(st.pcp_refills, 1);
	CHECK_EQ(st.pcp_hits, 0);
	CHECK_EQ(st.pcp_pages, 3);
	CHECK_EQ(st.free_pages, 60);          /* frames on per-CPU lists are not zone-free */
	p[1] = bt_alloc(&b, 0, 0, 0);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.pcp_refills, 1);
	CHECK_EQ(st.pcp_hits, 1);
	CHECK_EQ(st.pcp_pages, 2);
	CHECK_EQ(p[1], p[0] + 1);             /* a refill hands out ascending frames */
	CHECK_EQ(buddy_check(&b), 0);
	CHECK_EQ(buddy_free(&b, p[0], 0), 0);
	CHECK_EQ(buddy_free(&b, p[1], 0), 0);
	CHECK_EQ(buddy_drain_local(&b), 4);
	CHECK_EQ(bt_free_order(&b, 0), 6);
	free(meta);
}

TEST(pcp_free_drains_a_batch_above_high)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = pcp_instance(&b, &r, 1, 4, 8);
	struct buddy_stats st;
	pfn_t p[12];

	for (unsigned i = 0; i < 12; i++)
		p[i] = bt_alloc(&b, 0, 0, 0);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.pcp_refills, 3);
	CHECK_EQ(st.pcp_pages, 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(buddy_free(&b, p[i], 0), 0);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.pcp_pages, 8);            /* at high: kept */
	CHECK_EQ(st.pcp_drains, 0);
	CHECK_EQ(buddy_free(&b, p[8], 0), 0); /* 9 > high: the 4 coldest go back */
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.pcp_pages, 5);
	CHECK_EQ(st.pcp_drains, 1);
	CHECK_EQ(st.free_pages, 52 + 4);
	CHECK_EQ(buddy_check(&b), 0);
	for (unsigned i = 9; i < 12; i++)
		CHECK_EQ(buddy_free(&b, p[i], 0), 0);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).pcp_pages, 8);
	CHECK_EQ(buddy_drain_local(&b), 8);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.pcp_pages, 0);
	CHECK_EQ(st.free_pages, 64);
	CHECK_EQ(bt_free_order(&b, 0), 6);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

struct worker {
	struct buddy *b;
	unsigned cpu;
	pthread_barrier_t *bar;
	unsigned order;
	long result;
};

/* Leave frames on this thread's per-CPU list, then exit. */
static void *fill_and_exit(void *arg)
{
	struct worker *w = arg;
	pfn_t p;

	w->cpu = current_cpu();
	w->result = buddy_alloc(w->b, 0, 0, 0, &p);
	if (!w->result)
		w->result = buddy_free(w->b, p, 0);
	return NULL;
}

TEST(drain_cpu_returns_an_exited_threads_frames)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = pcp_instance(&b, &r, 1, 4, 8);
	struct worker w = { .b = &b };
	unsigned self = current_cpu();     /* claim ours first: ids of exited threads are reused */
	pthread_t t;

	CHECK_EQ(pthread_create(&t, NULL, fill_and_exit, &w), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.result, 0);
	CHECK_NE(w.cpu, self);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).pcp_pages, 4);
	CHECK_EQ(buddy_check(&b), 0);
	CHECK_EQ(buddy_drain_local(&b), 0);   /* not ours */
	CHECK_EQ(buddy_drain_cpu(&b, w.cpu), 4);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).free_pages, 64);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

/* Park frames on our list, let the main thread act, then do one more operation. */
static void *fill_wait_operate(void *arg)
{
	struct worker *w = arg;
	pfn_t p;

	w->cpu = current_cpu();
	w->result = buddy_alloc(w->b, 0, 0, 0, &p);
	if (!w->result)
		w->result = buddy_free(w->b, p, 0);
	pthread_barrier_wait(w->bar);          /* 1: frames parked */
	pthread_barrier_wait(w->bar);          /* 2: main asked for them */
	if (!w->result)
		w->result = buddy_alloc(w->b, 0, w->order, 0, &p);
	if (!w->result)
		w->result = buddy_free(w->b, p, w->order);
	pthread_barrier_wait(w->bar);          /* 3: done */
	return NULL;
}

TEST(drain_request_is_served_at_the_other_cpus_next_operation)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = pcp_instance(&b, &r, 1, 4, 8);
	pthread_barrier_t bar;
	struct worker w = { .b = &b, .bar = &bar, .order = 1 };
	struct buddy_stats st;
	pthread_t t;

	CHECK_EQ(pthread_barrier_init(&bar, NULL, 2), 0);
	CHECK_EQ(pthread_create(&t, NULL, fill_wait_operate, &w), 0);
	pthread_barrier_wait(&bar);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).pcp_pages, 4);
	CHECK_EQ(buddy_drain_request_all(&b), 0);   /* our own lists are empty */
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).pcp_pages, 4);
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.result, 0);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.pcp_pages, 0);                  /* the order-1 call drained first */
	CHECK_EQ(st.free_pages, 64);
	CHECK_EQ(st.pcp_drains, 1);
	CHECK_EQ(buddy_check(&b), 0);
	pthread_barrier_destroy(&bar);
	free(meta);
}

TEST(failed_allocation_drains_local_lists_and_retries)
{
	/* 16 frames parked on our list; an order-6 request needs all 64 */
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = pcp_instance(&b, &r, 1, 16, 32);
	pfn_t p = bt_alloc(&b, 0, 0, 0);

	CHECK_EQ(buddy_free(&b, p, 0), 0);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).pcp_pages, 16);
	p = bt_alloc(&b, 0, 6, 0);
	CHECK_EQ(p, 0);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32).pcp_pages, 0);
	CHECK_EQ(buddy_free(&b, p, 6), 0);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(failed_allocation_asks_other_cpus_to_give_back_their_lists)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = pcp_instance(&b, &r, 1, 16, 32);
	pthread_barrier_t bar;
	struct worker w = { .b = &b, .bar = &bar, .order = 1 };
	pthread_t t;
	pfn_t p;

	CHECK_EQ(pthread_barrier_init(&bar, NULL, 2), 0);
	CHECK_EQ(pthread_create(&t, NULL, fill_wait_operate, &w), 0);
	pthread_barrier_wait(&bar);
	CHECK_EQ(buddy_alloc(&b, 0, 6, 0, &p), -MM_ENOMEM);   /* the worker holds 16 */
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);                           /* its next call gave them back */
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.result, 0);
	p = bt_alloc(&b, 0, 6, 0);
	CHECK_EQ(buddy_free(&b, p, 6), 0);
	CHECK_EQ(buddy_drain_all(&b), 0);
	CHECK_EQ(bt_free_order(&b, 0), 6);
	CHECK_EQ(buddy_check(&b), 0);
	pthread_barrier_destroy(&bar);
	free(meta);
}

TEST(pcp_disabled_sends_order0_straight_to_the_zone)
{
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	struct buddy_stats st;
	pfn_t p = bt_alloc(&b, 0, 0, 0);

	CHECK_EQ(buddy_free(&b, p, 0), 0);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.pcp_high, 0);
	CHECK_EQ(st.pcp_pages, 0);
	CHECK_EQ(st.pcp_refills, 0);
	CHECK_EQ(st.free_pages, 64);
	free(meta);
}

/* ---- watermarks ---- */

/* A zone's min, low and high watermarks, one CHECK each so a failure names the one that is off. */
#define CHECK_WMARKS(st, min, low, high) \
	do { \
		CHECK_EQ((st).wmark[BUDDY_WMARK_MIN], (min)); \
		CHECK_EQ((st).wmark[BUDDY_WMARK_LOW], (low)); \
		CHECK_EQ((st).wmark[BUDDY_WMARK_HIGH], (high)); \
	} while (0)

static void *wmark_instance(struct buddy *b, const struct buddy_range *r, uint64_t min_free)
{
	struct buddy_config cfg = { .ranges = r, .nr_ranges = 1, .min_free_pages = min_free };

	return bt_init_cfg(b, &cfg);
}

TEST(default_watermarks_follow_linux_formula)
{
	/*
	 * 1 GiB in one zone: min_free_kbytes = sqrt(16 * 1048576) = 4096 KiB = 1024 pages;
	 * d = max(1024 / 4, 262144 * 10 / 10000 = 262) = 262 -> low 1286, high 1548.
	 * pcp batch: min(262144 >> 10, 256) / 4 = 64 -> 64 + 32 = 96 -> 64 - 1 = 63; high 4 * 63.
	 */
	struct buddy_range r = BT_R(0, 262144, 0);
	struct buddy b;
	void *meta = wmark_instance(&b, &r, 0);
	struct buddy_stats st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);

	CHECK_WMARKS(st, 1024, 1286, 1548);
	CHECK_EQ(st.pcp_batch, 63);
	CHECK_EQ(st.pcp_high, 252);
	free(meta);
}

TEST(default_watermarks_are_shared_among_zones_by_size_and_clamped)
{
	/*
	 * 768 MiB DMA32 + 256 MiB NORMAL: 1024 min pages shared 3:1 -> 768 and 256.
	 *   DMA32:  d = max(192, 196608 * 10 / 10000 = 196) = 196 -> 964, 1160
	 *   NORMAL: d = max(64, 65536 * 10 / 10000 = 65) = 65    -> 321, 386
	 * 64 frames: sqrt(16 * 256 KiB) = 64 KiB, clamped up to 128 KiB = 32 pages; d = 8.
	 */
	struct buddy_range r = BT_R(BUDDY_DMA32_END_PFN - 196608, 262144, 0);
	struct buddy_range tiny = BT_R(0, 64, 0);
	struct buddy b, c;
	void *mb = wmark_instance(&b, &r, 0), *mc = wmark_instance(&c, &tiny, 0);
	struct buddy_stats d32 = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	struct buddy_stats nor = bt_zone_stats(&b, 0, BUDDY_ZONE_NORMAL);
	struct buddy_stats t = bt_zone_stats(&c, 0, BUDDY_ZONE_DMA32);

	CHECK_WMARKS(d32, 768, 964, 1160);
	CHECK_WMARKS(nor, 256, 321, 386);
	CHECK_WMARKS(t, 32, 40, 48);
	free(mb);
	free(mc);
}

TEST(min_free_pages_overrides_the_formula)
{
	/* min 100 of 1000 frames: d = max(25, 1) = 25 */
	struct buddy_range r = BT_R(0, 1000, 0);
	struct buddy b;
	void *meta = wmark_instance(&b, &r, 100);
	struct buddy_stats st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);

	CHECK_WMARKS(st, 100, 125, 150);
	free(meta);
}

TEST(flags_choose_the_watermark_that_must_hold)
{
	/*
	 * 64 frames, min 8 / low 16 / high 24:
	 *   ordinary allocations stop when taking one more would leave < 16 free (48 succeed),
	 *   BUDDY_ALLOC_HIGH may go down to 8 (8 more), BUDDY_ALLOC_NO_WMARK takes the rest.
	 */
	struct buddy_range r = BT_R(0, 64, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);
	struct buddy_stats st;
	unsigned n = 0;
	pfn_t p;

	CHECK_EQ(buddy_set_watermarks(&b, 0, BUDDY_ZONE_DMA32, 8, 16, 24), 0);
	while (buddy_alloc(&b, 0, 0, 0, &p) == 0)
		n++;
	CHECK_EQ(n, 48);
	st = bt_zone_stats(&b, 0, BUDDY_ZONE_DMA32);
	CHECK_EQ(st.free_pages, 16);
	CHECK_GE(st.wmark_skips, 1);
	while (buddy_alloc(&b, 0, 0, BUDDY_ALLOC_HIGH, &p) == 0)
		n++;
	CHECK_EQ(n, 56);
	while (buddy_alloc(&b, 0, 0, BUDDY_ALLOC_NO_WMARK, &p) == 0)
		n++;
	CHECK_EQ(n, 64);
	CHECK_EQ(bt_free_pages(&b), 0);
	CHECK_EQ(buddy_check(&b), 0);
	free(meta);
}

TEST(watermark_failure_falls_back_to_the_next_zone)
{
	/* NORMAL below its low mark: an ordinary request is served by DMA32 instead */
	struct buddy_range r = BT_R(BUDDY_DMA32_END_PFN - 64, 128, 0);
	struct buddy b;
	void *meta = bt_init(&b, &r, 1, BUDDY_CFG_NO_PCP, 0);

	CHECK_EQ(buddy_set_watermarks(&b, 0, BUDDY_ZONE_NORMAL, 64, 64, 64), 0);
	CHECK_LT(bt_alloc(&b, 0, 0, 0), BUDDY_DMA32_END_PFN);
	CHECK_LT(bt_alloc(&b, 0, 0, BUDDY_ALLOC_HIGH), BUDDY_DMA32_END_PFN);
	CHECK_GE(bt_alloc(&b, 0, 0, BUDDY_ALLOC_NO_WMARK), BUDDY_DMA32_END_PFN);
	CHECK_EQ(bt_zone_stats(&b, 0, BUDDY_ZONE_NORMAL).wmark_skips, 2);
	free(meta);
}

/* ---- threads ---- */

#define MT_THREADS 4
#define MT_OPS     25000
#define MT_LIVE    48

struct mt_ctx {
	struct buddy *b;
	uint64_t *owned;            /* one bit per pfn below MT_SPAN, atomically set/cleared */
	unsigned id;
	unsigned long errors, allocs, failures;
};

#define MT_SPAN 16384

/* Claim (set) or release (clear) the bits of a block; count bits already in the wrong state. */
static unsigned long mt_mark(uint64_t *bits, pfn_t pfn, unsigned order, bool set)
{
	unsigned long wrong = 0;

	for (pfn_t p = pfn; p < pfn + (UINT64_C(1) << order); p++) {
		uint64_t bit = UINT64_C(1) << (p % 64), old;

		if (p >= MT_SPAN)
			return wrong + 1;
		if (set)
			old = __atomic_fetch_or(&bits[p / 64], bit, __ATOMIC_RELAXED);
		else
			old = __atomic_fetch_and(&bits[p / 64], ~bit, __ATOMIC_RELAXED);
		wrong += !!(old & bit) == set;
	}
	return wrong;
}

static void *mt_worker(void *arg)
{
	struct mt_ctx *c = arg;
	struct mvt_rng rng;
	pfn_t live[MT_LIVE];
	unsigned order[MT_LIVE], n = 0;

	mvt_rng_seed(&rng, 1000 + c->id);
	for (unsigned op = 0; op < MT_OPS; op++) {
		bool do_alloc = n == 0 || (n < MT_LIVE && mvt_rng_below(&rng, 2));

		if (do_alloc) {
			unsigned o = mvt_rng_below(&rng, 4) ? 0 : (unsigned)mvt_rng_below(&rng, 4);
			pfn_t p;

			if (buddy_alloc(c->b, c->id % 2, o, 0, &p)) {
				c->failures++;
				continue;
			}
			c->allocs++;
			c->errors += mt_mark(c->owned, p, o, true);
			c->errors += (p & ((UINT64_C(1) << o) - 1)) != 0;
			live[n] = p;
			order[n++] = o;
		} else {
			unsigned i = (unsigned)mvt_rng_below(&rng, n);

			c->errors += mt_mark(c->owned, live[i], order[i], false);
			c->errors += buddy_free(c->b, live[i], order[i]) != 0;
			live[i] = live[--n];
			order[i] = order[n];
		}
	}
	while (n--) {
		c->errors += mt_mark(c->owned, live[n], order[n], false);
		c->errors += buddy_free(c->b, live[n], order[n]) != 0;
	}
	return NULL;
}

TEST(threads_allocate_and_free_concurrently_and_the_checker_stays_clean)
{
	/* two nodes with a hole each; small per-CPU batches so lists refill and drain often */
	struct buddy_range r[4] = {
		BT_R(0, 3000, 0), BT_R(3100, 1000, 0), BT_R(8192, 4000, 1), BT_R(12300, 3000, 1),
	};
	struct buddy_config cfg = {
		.ranges = r, .nr_ranges = 4, .flags = BUDDY_CFG_NO_WATERMARKS,
		.pcp_batch = 8, .pcp_high = 32,
	};
	struct buddy b;
	void *meta = bt_init_cfg(&b, &cfg);
	static uint64_t owned[MT_SPAN / 64];
	static uint64_t before[1024], after[1024];
	unsigned nb = bt_shape(&b, before, 1024), na;
	struct mt_ctx ctx[MT_THREADS];
	pthread_t t[MT_THREADS];
	struct buddy_stats st;
	unsigned long allocs = 0;

	memset(owned, 0, sizeof(owned));
	for (unsigned i = 0; i < MT_THREADS; i++) {
		ctx[i] = (struct mt_ctx){ .b = &b, .owned = owned, .id = i };
		CHECK_EQ(pthread_create(&t[i], NULL, mt_worker, &ctx[i]), 0);
	}
	for (unsigned i = 0; i < MT_THREADS; i++) {
		CHECK_EQ(pthread_join(t[i], NULL), 0);
		CHECK_EQ(ctx[i].errors, 0);
		allocs += ctx[i].allocs;
	}
	CHECK_EQ(buddy_check(&b), 0);
	CHECK_EQ(buddy_stats(&b, &st), 0);
	CHECK_EQ(st.allocs, allocs);
	CHECK_EQ(st.frees, allocs);
	CHECK_EQ(st.free_pages + st.pcp_pages, 11000);
	CHECK_GT(st.pcp_refills, 0);
	CHECK_GT(st.pcp_drains, 0);
	buddy_drain_all(&b);
	CHECK_EQ(buddy_check(&b), 0);
	na = bt_shape(&b, after, 1024);
	CHECK_EQ(na, nb);
	CHECK_EQ(memcmp(before, after, nb * sizeof(before[0])), 0);
	free(meta);
}
