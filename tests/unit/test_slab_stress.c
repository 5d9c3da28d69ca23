/*
 * mm/slab.c under load: threads allocating and freeing with remote frees (objects freed on another
 * CPU, some on another node), and a randomized model test (fixed seed, 200,000 operations) that
 * checks no two live objects overlap and that every object's contents survive until it is freed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab_fixture.h"

/* ---- threads ------------------------------------------------------------------------------ */

#define NTHREADS  4
#define TH_OPS    40000
#define INBOX_CAP 512
#define TH_LOCAL  256

struct inbox {
	pthread_mutex_t lock;
	void *obj[INBOX_CAP];
	int kind[INBOX_CAP];
	unsigned n;
};

struct th_shared {
	struct slab_fix *f;
	struct kmem_cache *cache, *dcache;   /* a plain and a SLAB_DEBUG cache shared by all */
	struct inbox inbox[NTHREADS];
	pthread_barrier_t barrier;
};

struct th_ctx {
	struct th_shared *sh;
	unsigned id;
	uint64_t cache_allocs, cache_frees, dcache_allocs, dcache_frees, kmalloc_allocs,
		 kmalloc_frees, remote_frees, bad_tags;
};

enum { K_CACHE, K_DCACHE, K_KMALLOC };
#define TH_OBJ 72

/* Every object starts with its allocating thread's tag and a checksum word. */
static void tag_obj(void *p, unsigned id, uint64_t seq)
{
	uint64_t *w = p;

	w[0] = ((uint64_t)id << 56) | seq;
	w[1] = ~w[0];
}

static bool tag_ok(const void *p)
{
	const uint64_t *w = p;

	return w[1] == ~w[0] && (w[0] >> 56) < NTHREADS;
}

static void free_kind(struct th_ctx *t, void *p, int kind)
{
	struct th_shared *sh = t->sh;

	if (!tag_ok(p))
		t->bad_tags++;
	if (kind == K_CACHE) {
		if (kmem_cache_free(sh->cache, p) == 0)
			t->cache_frees++;
	} else if (kind == K_DCACHE) {
		if (kmem_cache_free(sh->dcache, p) == 0)
			t->dcache_frees++;
	} else if (kfree(&sh->f->a, p) == 0) {
		t->kmalloc_frees++;
	}
}

static void drain_inbox(struct th_ctx *t)
{
	struct inbox *in = &t->sh->inbox[t->id];

	pthread_mutex_lock(&in->lock);
	while (in->n) {
		in->n--;
		free_kind(t, in->obj[in->n], in->kind[in->n]);
		t->remote_frees++;
	}
	pthread_mutex_unlock(&in->lock);
}

static void *stress_thread(void *arg)
{
	struct th_ctx *t = arg;
	struct th_shared *sh = t->sh;
	struct mvt_rng rng;
	void *local[TH_LOCAL];
	int kind[TH_LOCAL];
	unsigned nlocal = 0;

	mvt_rng_seed(&rng, 1000 + t->id);
	/* Threads 0 and 2 live on node 0, 1 and 3 on node 1: some remote frees cross nodes. */
	if (slab_set_cpu_node(&sh->f->a, fix_cpu(), t->id % 2) != 0)
		t->bad_tags++;
	pthread_barrier_wait(&sh->barrier);
	for (uint64_t op = 0; op < TH_OPS; op++) {
		uint64_t r = mvt_rng_next(&rng);
		void *p;
		int k = (int)(r % 8 == 0 ? K_DCACHE : r % 2 ? K_CACHE : K_KMALLOC);

		if (nlocal == TH_LOCAL || (nlocal && (r >> 8) % 2)) {
			unsigned i = (unsigned)((r >> 16) % nlocal);
			unsigned dst = (unsigned)((r >> 32) % NTHREADS);
			struct inbox *in = &sh->inbox[dst];

			p = local[i];
			k = kind[i];
			local[i] = local[--nlocal];
			kind[i] = kind[nlocal];
			/* Half the frees happen on another thread: post it to its inbox. */
			if (dst != t->id && (r >> 40) % 2) {
				pthread_mutex_lock(&in->lock);
				if (in->n < INBOX_CAP) {
					in->obj[in->n] = p;
					in->kind[in->n++] = k;
					p = NULL;
				}
				pthread_mutex_unlock(&in->lock);
			}
			if (p)
				free_kind(t, p, k);
			continue;
		}
		if (k == K_CACHE) {
			p = kmem_cache_alloc(sh->cache);
			t->cache_allocs += p != NULL;
		} else if (k == K_DCACHE) {
			p = kmem_cache_alloc(sh->dcache);
			t->dcache_allocs += p != NULL;
		} else {
			p = kmalloc(&sh->f->a, 16 + (r >> 20) % 2000);
			t->kmalloc_allocs += p != NULL;
		}
		if (!p) {
			t->bad_tags++;
			continue;
		}
		tag_obj(p, t->id, op);
		local[nlocal] = p;
		kind[nlocal++] = k;
		if (op % 64 == 0)
			drain_inbox(t);
	}
	/* Everyone stops posting, then everyone empties its inbox and its own list. */
	pthread_barrier_wait(&sh->barrier);
	drain_inbox(t);
	while (nlocal) {
		nlocal--;
		free_kind(t, local[nlocal], kind[nlocal]);
	}
	return NULL;
}

static uint64_t kmalloc_counts(struct slab_allocator *a, bool frees)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++) {
		struct slab_stats st;

		if (kmem_cache_stats(a->kmalloc[i], &st) != 0)
			return UINT64_MAX;
		n += frees ? st.free_fast + st.free_slow : st.alloc_fast + st.alloc_slow;
	}
	return n;
}

TEST(threads_with_remote_frees_keep_statistics_consistent)
{
	struct th_shared *sh = fix_zalloc(sizeof(*sh));
	struct th_ctx ctx[NTHREADS];
	pthread_t th[NTHREADS];
	struct slab_stats st, dst;
	uint64_t k_alloc0, k_free0, sum[8] = { 0 };

	sh->f = fix_new(2, 0);
	sh->cache = kmem_cache_create(&sh->f->a, "stress", TH_OBJ, 0, 0, NULL);
	sh->dcache = kmem_cache_create(&sh->f->a, "stress-debug", TH_OBJ, 0, SLAB_DEBUG, NULL);
	CHECK_NOT_NULL(sh->cache);
	CHECK_NOT_NULL(sh->dcache);
	k_alloc0 = kmalloc_counts(&sh->f->a, false);
	k_free0 = kmalloc_counts(&sh->f->a, true);
	pthread_barrier_init(&sh->barrier, NULL, NTHREADS);
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_mutex_init(&sh->inbox[i].lock, NULL);
		ctx[i] = (struct th_ctx){ .sh = sh, .id = i };
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, stress_thread, &ctx[i]), 0);
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < NTHREADS; i++) {
		CHECK_EQ(ctx[i].bad_tags, 0);
		sum[0] += ctx[i].cache_allocs;
		sum[1] += ctx[i].cache_frees;
		sum[2] += ctx[i].dcache_allocs;
		sum[3] += ctx[i].dcache_frees;
		sum[4] += ctx[i].kmalloc_allocs;
		sum[5] += ctx[i].kmalloc_frees;
		sum[6] += ctx[i].remote_frees;
	}
	CHECK_GT(sum[6], 1000);                      /* remote frees really happened */
	CHECK_EQ(sum[0], sum[1]);
	CHECK_EQ(sum[2], sum[3]);
	CHECK_EQ(sum[4], sum[5]);
	/* The allocator's own counters agree with the threads' (exited CPUs' lists still count). */
	CHECK_EQ(kmem_cache_stats(sh->cache, &st), 0);
	CHECK_EQ(st.alloc_fast + st.alloc_slow, sum[0]);
	CHECK_EQ(st.free_fast + st.free_slow, sum[1]);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(st.num_objs, st.num_slabs * st.objperslab);
	CHECK_GT(st.alloc_fast, st.alloc_slow);
	CHECK_EQ(kmem_cache_stats(sh->dcache, &dst), 0);
	CHECK_EQ(dst.alloc_fast + dst.free_fast, 0);  /* debug caches never use per-CPU lists */
	CHECK_EQ(dst.alloc_slow, sum[2]);
	CHECK_EQ(dst.free_slow, sum[3]);
	CHECK_EQ(dst.active_objs, 0);
	CHECK_EQ(kmalloc_counts(&sh->f->a, false) - k_alloc0, sum[4]);
	CHECK_EQ(kmalloc_counts(&sh->f->a, true) - k_free0, sum[5]);
	CHECK_EQ(kmem_cache_check(sh->cache), 0);
	CHECK_EQ(kmem_cache_check(sh->dcache), 0);
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++)
		CHECK_EQ(kmem_cache_check(sh->f->a.kmalloc[i]), 0);
	CHECK_EQ(kmem_cache_destroy(sh->cache), 0);
	CHECK_EQ(kmem_cache_destroy(sh->dcache), 0);
	pthread_barrier_destroy(&sh->barrier);
	fix_free(sh->f);
	free(sh);
}

/* ---- randomized model --------------------------------------------------------------------- */

#define MODEL_OPS   200000
#define MODEL_LIVE  3000
#define MODEL_CACHES 4

struct live {
	char *p;
	size_t size;
	int cache;          /* -1: kmalloc */
	uint32_t id;
};

static void model_ctor(void *p)
{
	memset(p, 0xc7, 64);
}

static void fill(const struct live *l)
{
	memset(l->p, (int)(l->id * 131u & 0xff), l->size);
	if (l->size >= 4)
		memcpy(l->p, &l->id, 4);
}

static bool intact(const struct live *l)
{
	uint8_t v = (uint8_t)(l->id * 131u & 0xff);
	size_t i = 0;

	if (l->size >= 4) {
		uint32_t id;

		memcpy(&id, l->p, 4);
		if (id != l->id)
			return false;
		i = 4;
	}
	for (; i < l->size; i++)
		if ((uint8_t)l->p[i] != v)
			return false;
	return true;
}

static int cmp_live(const void *x, const void *y)
{
	const struct live *a = x, *b = y;

	return (a->p > b->p) - (a->p < b->p);
}

static void check_no_overlap(struct live *live, unsigned n)
{
	static struct live sorted[MODEL_LIVE];

	memcpy(sorted, live, n * sizeof(*live));
	qsort(sorted, n, sizeof(*sorted), cmp_live);
	for (unsigned i = 1; i < n; i++)
		CHECK_LE((uintptr_t)sorted[i - 1].p + sorted[i - 1].size, (uintptr_t)sorted[i].p);
}

static size_t model_kmalloc_size(struct mvt_rng *r)
{
	uint64_t x = mvt_rng_below(r, 1000);

	if (x < 700)
		return 1 + mvt_rng_below(r, 256);
	if (x < 950)
		return 257 + mvt_rng_below(r, 1792);
	if (x < 995)
		return 2049 + mvt_rng_below(r, KMALLOC_MAX_CACHE - 2048 + 100);
	return 8300 + mvt_rng_below(r, 60000);
}

TEST(model_random_ops_no_overlap_contents_survive)
{
	static struct live live[MODEL_LIVE];
	struct slab_fix *f = fix_new(2, 0);
	struct slab_allocator *a = &f->a;
	struct kmem_cache *c[MODEL_CACHES];
	static const size_t csize[MODEL_CACHES] = { 24, 64, 300, 100 };
	uint64_t allocs[MODEL_CACHES] = { 0 }, frees[MODEL_CACHES] = { 0 }, nlive[MODEL_CACHES] = { 0 };
	struct mvt_rng rng;
	unsigned n = 0;
	uint32_t next_id = 1;

	c[0] = kmem_cache_create(a, "model-24", 24, 0, 0, NULL);
	c[1] = kmem_cache_create(a, "model-ctor", 64, 0, 0, model_ctor);
	c[2] = kmem_cache_create(a, "model-debug", 300, 0, SLAB_DEBUG, NULL);
	c[3] = kmem_cache_create(a, "model-align", 100, 128, 0, NULL);
	mvt_rng_seed(&rng, 20260607);
	for (uint64_t op = 0; op < MODEL_OPS; op++) {
		uint64_t r = mvt_rng_below(&rng, 1000);

		if (r < 540 && n < MODEL_LIVE) {
			struct live *l = &live[n];
			int which = (int)mvt_rng_below(&rng, MODEL_CACHES + 2) - 2;   /* -2, -1: kmalloc */

			l->cache = which < 0 ? -1 : which;
			l->id = next_id++;
			if (l->cache < 0) {
				l->size = model_kmalloc_size(&rng);
				l->p = mvt_rng_below(&rng, 8) ? kmalloc(a, l->size)
				     : kmalloc_node(a, l->size, (unsigned)mvt_rng_below(&rng, 2));
			} else {
				l->size = csize[l->cache];
				l->p = kmem_cache_alloc(c[l->cache]);
				if (l->cache == 1)   /* constructed state handed out intact */
					for (int i = 0; i < 64; i++)
						CHECK_EQ((uint8_t)l->p[i], 0xc7);
				if (l->cache == 3)
					CHECK_EQ((uintptr_t)l->p % 128, 0);
				allocs[l->cache]++;
				nlive[l->cache]++;
			}
			CHECK_NOT_NULL(l->p);
			CHECK_GE(ksize(a, l->p), l->size);
			fill(l);
			n++;
		} else if (r < 990 && n > 0) {
			unsigned i = (unsigned)mvt_rng_below(&rng, n);
			struct live l = live[i];

			if (!intact(&l))
				CHECK(intact(&l));
			if (l.cache == 1)
				model_ctor(l.p);     /* freed in constructed state, as the contract says */
			if (l.cache < 0) {
				CHECK_EQ(kfree(a, l.p), 0);
			} else {
				CHECK_EQ(kmem_cache_free(c[l.cache], l.p), 0);
				frees[l.cache]++;
				nlive[l.cache]--;
			}
			live[i] = live[--n];
		} else if (r < 995) {
			CHECK_GE(kmem_cache_shrink(c[mvt_rng_below(&rng, MODEL_CACHES)]), 0);
		} else {
			slab_flush_cpu(a);
		}
		if (op % 10000 == 0) {
			check_no_overlap(live, n);
			for (unsigned i = 0; i < n; i++)
				CHECK(intact(&live[i]));
			for (int k = 0; k < MODEL_CACHES; k++) {
				struct slab_stats st;

				CHECK_EQ(kmem_cache_check(c[k]), 0);
				CHECK_EQ(kmem_cache_stats(c[k], &st), 0);
				CHECK_EQ(st.active_objs, nlive[k]);
				CHECK_EQ(st.alloc_fast + st.alloc_slow, allocs[k]);
				CHECK_EQ(st.free_fast + st.free_slow, frees[k]);
			}
		}
	}
	check_no_overlap(live, n);
	while (n) {
		struct live *l = &live[--n];

		CHECK(intact(l));
		if (l->cache == 1)
			model_ctor(l->p);
		if (l->cache < 0)
			CHECK_EQ(kfree(a, l->p), 0);
		else
			CHECK_EQ(kmem_cache_free(c[l->cache], l->p), 0);
	}
	for (int k = 0; k < MODEL_CACHES; k++)
		CHECK_EQ(kmem_cache_destroy(c[k]), 0);
	CHECK_EQ(mvt_report_count(), 0);
	fix_free(f);
}
