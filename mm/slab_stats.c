/*
 * mm/slab_stats.c — slabinfo-style statistics of mm/slab.c caches.
 *
 * Per-node counters are read under each node lock in turn; per-CPU list lengths and fast-path
 * counters with READ_ONCE-style loads, so a snapshot is exact only while no CPU uses the cache.
 * slab_for_each_cache() holds the allocator lock (lock order: allocator -> node).
 */
#include "slab_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Statistics                                                                                 */
/* ------------------------------------------------------------------------------------------ */

void slab_stats_sum(struct kmem_cache *s, struct slab_stats *st)
{
	uint64_t inuse = 0, cached = 0;

	*st = (struct slab_stats){ .name = s->name };
	for (unsigned node = 0; node < s->alloc->provider.nr_nodes; node++) {
		struct slab_node *n = &s->node[node];
		unsigned long flags;

		node_lock(n, &flags);
		st->num_slabs += (uint64_t)n->nr_partial + n->nr_empty + n->nr_full;
		st->active_slabs += (uint64_t)n->nr_partial + n->nr_full;
		inuse += n->inuse;
		st->alloc_slow += n->alloc_slow;
		st->free_slow += n->free_slow;
		node_unlock(n, flags);
	}
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
		struct slab_cpu *c = &s->cpu[cpu];

		uint64_t len = cpu_len(s, c), alloc_fast = PCPU_READ(c->alloc_fast);

		cached += len;
		st->alloc_fast += alloc_fast;
		st->free_fast += (uint64_t)((int64_t)(len + alloc_fast) - PCPU_READ(c->adj));
	}
	st->cpu_cached = cached;
	st->active_objs = inuse > cached ? inuse - cached : 0;
	st->objsize = s->size;
	st->objperslab = s->objperslab;
	st->pagesperslab = UINT64_C(1) << s->order;
	st->num_objs = st->num_slabs * s->objperslab;
}

int kmem_cache_stats(struct kmem_cache *s, struct slab_stats *st)
{
	if (!s || !st)
		return MM_INVAL(!s ? "cache is NULL" : "stats pointer is NULL");
	slab_stats_sum(s, st);
	return 0;
}

int slab_for_each_cache(struct slab_allocator *a, int (*fn)(const struct slab_stats *, void *),
			void *arg)
{
	struct list_head *p;
	int rc = 0;

	if (!a || !fn)
		return MM_INVAL(!a ? "allocator is NULL" : "callback is NULL");
	mm_env_lock(&a->lock);
	list_for_each(p, &a->caches) {
		struct slab_stats st;

		slab_stats_sum(list_entry(p, struct kmem_cache, list), &st);
		rc = fn(&st, arg);
		if (rc)
			break;
	}
	mm_env_unlock(&a->lock);
	return rc;
}

/* Text output: appends with truncation, counting what the whole text needs. */
struct text_out {
	char *buf;
	size_t len, pos;
};

static void out_str(struct text_out *o, const char *str, unsigned width)
{
	unsigned n = 0;

	for (; *str; str++, n++, o->pos++)
		if (o->pos + 1 < o->len)
			o->buf[o->pos] = *str;
	for (; n < width; n++, o->pos++)
		if (o->pos + 1 < o->len)
			o->buf[o->pos] = ' ';
}

static void out_dec(struct text_out *o, uint64_t v, unsigned width)
{
	struct slab_msg m = { .len = 0 };

	slab_msg_dec(&m, v);
	out_str(o, " ", 0);
	for (size_t n = m.len; n < width; n++)
		out_str(o, " ", 0);
	out_str(o, m.buf, 0);
}

static int format_one(const struct slab_stats *st, void *arg)
{
	struct text_out *o = arg;

	out_str(o, st->name, 18);
	out_dec(o, st->active_objs, 8);
	out_dec(o, st->num_objs, 8);
	out_dec(o, st->objsize, 6);
	out_dec(o, st->objperslab, 4);
	out_dec(o, st->pagesperslab, 2);
	out_str(o, " : slabdata", 0);
	out_dec(o, st->active_slabs, 6);
	out_dec(o, st->num_slabs, 6);
	out_str(o, " : stats", 0);
	out_dec(o, st->alloc_fast, 10);
	out_dec(o, st->alloc_slow, 8);
	out_dec(o, st->free_fast, 10);
	out_dec(o, st->free_slow, 8);
	out_dec(o, st->cpu_cached, 6);
	out_str(o, "\n", 0);
	return 0;
}

size_t slab_format_info(struct slab_allocator *a, char *buf, size_t len)
{
	struct text_out o = { .buf = buf, .len = buf ? len : 0, .pos = 0 };

	if (!a) {
		mm_env_report(__func__, "allocator is NULL");
		return 0;
	}
	out_str(&o, "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
		    " : slabdata <active_slabs> <num_slabs>"
		    " : stats <alloc_fast> <alloc_slow> <free_fast> <free_slow> <cpu_cached>\n", 0);
	(void)slab_for_each_cache(a, format_one, &o);
	if (o.len)
		o.buf[o.pos < o.len ? o.pos : o.len - 1] = '\0';
	return o.pos;
}

