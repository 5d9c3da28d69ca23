/*
 * mm/slab_debug.c — reports, SLAB_DEBUG mode and the consistency checker of mm/slab.c.
 *
 * Debug slots carry red zones around the object, a state word (FREE/ALLOC) after its free
 * pointer and, without a constructor, poison while free (layout: cache_layout() in slab.c).
 * Every check repairs what it reports, so one corruption is reported once.
 * Locks: the per-object checks run under the slab's node lock (the callers take it);
 * kmem_cache_check() takes each node lock in turn.
 */
#include "slab_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Messages: reports name the cache and the object, without libc.                            */
/* ------------------------------------------------------------------------------------------ */

void slab_msg_str(struct slab_msg *m, const char *str)
{
	while (*str && m->len + 1 < sizeof(m->buf))
		m->buf[m->len++] = *str++;
	m->buf[m->len] = '\0';
}

void slab_msg_hex(struct slab_msg *m, uint64_t v)
{
	char tmp[19];
	int i = 18;

	tmp[i] = '\0';
	do {
		tmp[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	tmp[--i] = 'x';
	tmp[--i] = '0';
	slab_msg_str(m, tmp + i);
}

void slab_msg_dec(struct slab_msg *m, uint64_t v)
{
	char tmp[21];
	int i = 20;

	tmp[i] = '\0';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	slab_msg_str(m, tmp + i);
}

/* "<what> <obj> in cache "<name>"<tail>" */
void slab_report_obj(const char *func, const char *what, const struct kmem_cache *s,
		     const void *obj, const char *tail)
{
	struct slab_msg m = { .len = 0 };

	slab_msg_str(&m, what);
	slab_msg_str(&m, " ");
	slab_msg_hex(&m, (uintptr_t)obj);
	slab_msg_str(&m, " in cache \"");
	slab_msg_str(&m, s->name);
	slab_msg_str(&m, "\"");
	if (tail)
		slab_msg_str(&m, tail);
	mm_env_report(func, m.buf);
}

/* "<what> in cache "<name>"" */
void slab_report_cache(const char *func, const char *what, const struct kmem_cache *s)
{
	struct slab_msg m = { .len = 0 };

	slab_msg_str(&m, what);
	slab_msg_str(&m, " in cache \"");
	slab_msg_str(&m, s->name);
	slab_msg_str(&m, "\"");
	mm_env_report(func, m.buf);
}

/* ------------------------------------------------------------------------------------------ */
/* Debug mode: red zones, poison, state words                                                 */
/* ------------------------------------------------------------------------------------------ */

static inline uint64_t *debug_state(const struct kmem_cache *s, void *obj)
{
	return (uint64_t *)(void *)((char *)obj + s->fp_offset + 8);
}

/* Offset of the first byte in [p, p+len) that is not v, or -1. Scans a word at a time. */
static long find_not(const void *p, size_t len, uint8_t v)
{
	const uint8_t *b = p;
	uint64_t word = UINT64_C(0x0101010101010101) * v;
	size_t i = 0;

	for (; i < len && ((uintptr_t)(b + i) & 7); i++)
		if (b[i] != v)
			return (long)i;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		__builtin_memcpy(&w, b + i, 8);
		if (w != word)
			break;
	}
	for (; i < len; i++)
		if (b[i] != v)
			return (long)i;
	return -1;
}

static bool poisoned(const struct kmem_cache *s)
{
	return !s->ctor;
}

static void debug_poison(const struct kmem_cache *s, void *obj)
{
	__builtin_memset(obj, SLAB_POISON_FREE, s->object_size - 1);
	((uint8_t *)obj)[s->object_size - 1] = SLAB_POISON_END;
}

/* Red zones of a slot: left, right (after the object), tail (after the state word). */
static void debug_redzones(const struct kmem_cache *s, void *obj, char **p, size_t *len)
{
	char *slot = (char *)obj - s->obj_offset;

	p[0] = slot;
	len[0] = s->obj_offset;
	p[1] = (char *)obj + s->object_size;
	len[1] = s->fp_offset - s->object_size;
	p[2] = (char *)obj + s->fp_offset + 16;
	len[2] = s->size - s->obj_offset - s->fp_offset - 16;
}

void slab_debug_init(const struct kmem_cache *s, void *obj)
{
	char *p[3];
	size_t len[3];

	debug_redzones(s, obj, p, len);
	for (int i = 0; i < 3; i++)
		__builtin_memset(p[i], SLAB_RED_BYTE, len[i]);
	if (poisoned(s))
		debug_poison(s, obj);
	*debug_state(s, obj) = SLAB_STATE_FREE;
}

/* Check (and repair) the red zones; reports and returns false if one was overwritten. */
bool slab_debug_check_redzones(const char *func, const struct kmem_cache *s, void *obj)
{
	static const char *const where[3] = {
		" (before the object)", " (after the object)", " (after the object's metadata)",
	};
	char *p[3];
	size_t len[3];
	bool ok = true;

	debug_redzones(s, obj, p, len);
	for (int i = 0; i < 3; i++) {
		if (find_not(p[i], len[i], SLAB_RED_BYTE) < 0)
			continue;
		slab_report_obj(func, "red zone overwritten around object", s, obj, where[i]);
		__builtin_memset(p[i], SLAB_RED_BYTE, len[i]);
		ok = false;
	}
	return ok;
}

/* Check (and restore) a free object's poison; reports a write after free. */
bool slab_debug_check_poison(const char *func, const struct kmem_cache *s, void *obj)
{
	long bad;

	if (!poisoned(s))
		return true;
	bad = find_not(obj, s->object_size - 1, SLAB_POISON_FREE);
	if (bad < 0 && ((uint8_t *)obj)[s->object_size - 1] == SLAB_POISON_END)
		return true;
	slab_report_obj(func, "write after free to object", s, obj, " (poison overwritten)");
	debug_poison(s, obj);
	return false;
}

/* Is obj the start of an object of slab? (debug and checker only: divides) */
bool slab_obj_index_ok(const struct kmem_cache *s, const struct slab *slab, const void *obj)
{
	uintptr_t first = (uintptr_t)slab_obj(s, slab, 0);
	uintptr_t p = (uintptr_t)obj;

	return p >= first && (p - first) % s->size == 0 && (p - first) / s->size < s->objperslab;
}

/* A free object is about to be handed out: verify it was left alone while free. */
void slab_debug_alloc(const struct kmem_cache *s, void *obj)
{
	uint64_t *state = debug_state(s, obj);

	if (*state != SLAB_STATE_FREE)
		slab_report_obj(__func__, "free object", s, obj, ": state word overwritten");
	(void)slab_debug_check_redzones(__func__, s, obj);
	(void)slab_debug_check_poison(__func__, s, obj);
	*state = SLAB_STATE_ALLOC;
}

/*
 * Checks before freeing obj (a debug cache, node lock held). -MM_EINVAL: not freed (not an object
 * start, double free). -MM_EUCLEAN: red zone damage reported and repaired, free goes on. 0: fine.
 */
int slab_debug_free(const struct kmem_cache *s, const struct slab *slab, void *obj)
{
	uint64_t *state;
	int rc = 0;

	if (!slab_obj_index_ok(s, slab, obj)) {
		slab_report_obj(__func__, "invalid free: pointer", s, obj, " is not at an object start");
		return -MM_EINVAL;
	}
	state = debug_state(s, obj);
	if (*state == SLAB_STATE_FREE) {
		slab_report_obj(__func__, "double free of object", s, obj, NULL);
		return -MM_EINVAL;
	}
	if (*state != SLAB_STATE_ALLOC) {
		slab_report_obj(__func__, "red zone overwritten around object", s, obj,
				" (state word after the object)");
		rc = -MM_EUCLEAN;
	}
	if (!slab_debug_check_redzones(__func__, s, obj))
		rc = -MM_EUCLEAN;
	if (poisoned(s))
		debug_poison(s, obj);
	*state = SLAB_STATE_FREE;
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Consistency checker                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Checker for one slab (node lock held). Returns false after reporting a problem. */
static bool check_slab(const struct kmem_cache *s, const struct slab *slab, unsigned node,
		       enum slab_list list)
{
	unsigned nfree = 0, nstate_free = 0;

	if (slab->magic != SLAB_MAGIC || slab->cache != s || slab->node != node ||
	    slab->list != list) {
		slab_report_obj(__func__, "corrupt slab descriptor", s, slab, NULL);
		return false;
	}
	if (list_for_inuse(s, slab) != list) {
		slab_report_obj(__func__, "slab", s, slab, " is on the wrong list for its use count");
		return false;
	}
	for (void *p = slab->freelist; p; p = fp_get(s, p)) {
		if (!slab_obj_index_ok(s, slab, p) || ++nfree > s->objperslab) {
			slab_report_obj(__func__, "corrupt free pointer in slab", s, slab, NULL);
			return false;
		}
		if (!fp_get(s, p) && p != slab->fl_tail) {
			slab_report_obj(__func__, "stale freelist tail in slab", s, slab, NULL);
			return false;
		}
	}
	if (nfree != s->objperslab - slab->inuse) {
		slab_report_obj(__func__, "free count disagrees with use count in slab", s, slab, NULL);
		return false;
	}
	if (!(s->flags & SLAB_DEBUG))
		return true;
	for (unsigned i = 0; i < s->objperslab; i++) {
		void *obj = slab_obj(s, slab, i);
		uint64_t state = *debug_state(s, obj);

		if (!slab_debug_check_redzones(__func__, s, obj))
			return false;
		if (state == SLAB_STATE_FREE) {
			nstate_free++;
			if (!slab_debug_check_poison(__func__, s, obj))
				return false;
		} else if (state != SLAB_STATE_ALLOC) {
			slab_report_obj(__func__, "red zone overwritten around object", s, obj,
					" (state word after the object)");
			return false;
		}
	}
	if (nstate_free != nfree) {
		slab_report_obj(__func__, "free objects and freelist disagree in slab", s, slab, NULL);
		return false;
	}
	return true;
}

/* Walk one node list (bounded, so a cycle cannot hang us) and every slab on it. */
static bool check_list(const struct kmem_cache *s, unsigned node, const struct list_head *h,
		       enum slab_list list, uint32_t nr, uint64_t *inuse)
{
	const struct list_head *p = h;
	uint32_t seen = 0;

	for (;;) {
		const struct list_head *next = p->next;

		if (!next || next->prev != p || next == LIST_POISON_NEXT) {
			slab_report_cache(__func__, "slab list links are corrupt", s);
			return false;
		}
		if (next == h)
			break;
		if (++seen > nr) {
			slab_report_cache(__func__, "slab list longer than its count", s);
			return false;
		}
		if (!check_slab(s, list_entry(next, struct slab, link), node, list))
			return false;
		*inuse += list_entry(next, struct slab, link)->inuse;
		p = next;
	}
	if (seen != nr) {
		slab_report_cache(__func__, "slab list shorter than its count", s);
		return false;
	}
	return true;
}

int kmem_cache_check(struct kmem_cache *s)
{
	if (!s)
		return MM_INVAL("cache is NULL");
	for (unsigned node = 0; node < s->alloc->provider.nr_nodes; node++) {
		struct slab_node *n = &s->node[node];
		unsigned long flags;
		uint64_t inuse = 0;
		bool ok;

		node_lock(n, &flags);
		ok = check_list(s, node, &n->partial, SLAB_LIST_PARTIAL, n->nr_partial, &inuse) &&
		     check_list(s, node, &n->empty, SLAB_LIST_EMPTY, n->nr_empty, &inuse) &&
		     check_list(s, node, &n->full, SLAB_LIST_FULL, n->nr_full, &inuse);
		if (ok && inuse != n->inuse) {
			slab_report_cache(__func__, "node use count disagrees with its slabs", s);
			ok = false;
		}
		node_unlock(n, flags);
		if (!ok)
			return -MM_EUCLEAN;
	}
	return 0;
}

