/*
 * fuzz_slab.c — operation-sequence fuzzer for mm/slab.c.
 *
 * Each input is a program: every byte pair picks an operation (create/destroy a cache, alloc,
 * free, kmalloc of any size, kfree, shrink, flush, check, a deliberate double free in a debug
 * cache, a foreign-pointer free) and its argument. A model tracks every live object with a tag
 * pattern; the fuzzer aborts (a finding) when
 *   - an object's contents changed while it was live, or a constructed object is handed out
 *     unconstructed;
 *   - two live objects overlap, or one lies outside the provider region;
 *   - kmem_cache_check() or the statistics disagree with the model;
 *   - an invalid operation is not rejected, or a valid one is;
 *   - tearing everything down leaves a page with slab (provider pages_out != 0).
 * mm_env_bug (MM_BUG_ON) aborts too; ASan sees slab touching pages it gave back (the test
 * provider poisons them).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mm/slab.h>

#include "mvtest.h"
#include "../lib/slab_test_provider.h"

#define MAX_LIVE   256
#define MAX_CACHES 4
#define NODES      2

struct obj {
	char *p;
	uint32_t size;
	int cache;          /* index into caches[], or -1 for kmalloc */
	uint32_t id;
};

struct fcache {
	struct kmem_cache *s;
	uint32_t size;
	bool ctor, debug;
	uint64_t live, allocs, frees;
};

static struct slab_test_provider tp;
static struct slab_allocator alloc;
static struct obj live[MAX_LIVE];
static unsigned nlive;
static struct fcache caches[MAX_CACHES];
static uint32_t next_id;

#define FUZZ_ASSERT(c) do { if (!(c)) abort(); } while (0)

static void ctor_fill(void *p)
{
	/* Every ctor cache is at least 8 bytes: the constructed state is its first word. */
	memcpy(p, "ctorctor", 8);
}

static uint8_t tag_byte(uint32_t id)
{
	return (uint8_t)(id * 167u + 13u);
}

static void fill(const struct obj *o)
{
	memset(o->p, tag_byte(o->id), o->size);
}

/* memcmp against a pattern, not a byte loop: coverage hooks on every byte made it crawl. */
static void verify(const struct obj *o)
{
	static uint8_t pattern[1 << 17];

	FUZZ_ASSERT(o->size <= sizeof(pattern));
	memset(pattern, tag_byte(o->id), o->size);
	FUZZ_ASSERT(memcmp(o->p, pattern, o->size) == 0);
}

static void track(char *p, uint32_t size, int cache)
{
	struct obj *o = &live[nlive++];

	FUZZ_ASSERT((uintptr_t)p - tp.p.base < tp.p.npages * MM_PAGE_SIZE);
	FUZZ_ASSERT(ksize(&alloc, p) >= size);
	for (unsigned i = 0; i + 1 < nlive; i++)   /* no overlap with any live object */
		FUZZ_ASSERT(p + size <= live[i].p || live[i].p + live[i].size <= p);
	*o = (struct obj){ .p = p, .size = size, .cache = cache, .id = next_id++ };
	if (cache >= 0 && caches[cache].ctor)
		FUZZ_ASSERT(memcmp(p, "ctorctor", 8) == 0);
	fill(o);
}

static void release(unsigned i)
{
	struct obj o = live[i];

	verify(&o);
	live[i] = live[--nlive];
	if (o.cache < 0) {
		FUZZ_ASSERT(kfree(&alloc, o.p) == 0);
		return;
	}
	if (caches[o.cache].ctor)
		ctor_fill(o.p);            /* objects go back in their constructed state */
	FUZZ_ASSERT(kmem_cache_free(caches[o.cache].s, o.p) == 0);
	caches[o.cache].live--;
	caches[o.cache].frees++;
}

static void cache_create(unsigned k, const uint8_t *arg)
{
	struct fcache *c = &caches[k];
	uint32_t size = 8 + ((uint32_t)arg[0] << 4 | (arg[1] & 15)) % 6000;
	size_t align = (arg[1] >> 4) < 13 ? (size_t)1 << (arg[1] >> 4) : 0;
	unsigned flags = arg[0] & 1 ? SLAB_DEBUG : 0;

	if (c->s)
		return;
	*c = (struct fcache){ .size = size, .ctor = arg[0] & 2, .debug = flags & SLAB_DEBUG };
	c->s = kmem_cache_create(&alloc, "fuzz", size, align, flags, c->ctor ? ctor_fill : NULL);
	FUZZ_ASSERT(c->s);
}

static void cache_destroy(unsigned k)
{
	struct fcache *c = &caches[k];

	if (!c->s)
		return;
	for (unsigned i = nlive; i-- > 0;)
		if (live[i].cache == (int)k)
			release(i);
	FUZZ_ASSERT(kmem_cache_check(c->s) == 0);
	FUZZ_ASSERT(kmem_cache_destroy(c->s) == 0);
	c->s = NULL;
}

static void check_all(void)
{
	for (unsigned k = 0; k < MAX_CACHES; k++) {
		struct slab_stats st;

		if (!caches[k].s)
			continue;
		FUZZ_ASSERT(kmem_cache_check(caches[k].s) == 0);
		FUZZ_ASSERT(kmem_cache_stats(caches[k].s, &st) == 0);
		FUZZ_ASSERT(st.active_objs == caches[k].live);
		FUZZ_ASSERT(st.alloc_fast + st.alloc_slow == caches[k].allocs);
		FUZZ_ASSERT(st.free_fast + st.free_slow == caches[k].frees);
	}
	for (unsigned i = 0; i < KMALLOC_NR_CLASSES; i++)
		FUZZ_ASSERT(kmem_cache_check(alloc.kmalloc[i]) == 0);
	for (unsigned i = 0; i < nlive; i++)
		verify(&live[i]);
}

static void step(uint8_t op, const uint8_t *arg)
{
	unsigned k = arg[0] % MAX_CACHES;

	switch (op % 12) {
	case 0:
		cache_create(k, arg);
		break;
	case 1: case 2: {                             /* allocate from a cache */
		struct fcache *c = &caches[k];
		unsigned node = arg[1] % (NODES + 1);
		char *p;

		if (!c->s || nlive == MAX_LIVE)
			break;
		p = node == NODES ? kmem_cache_alloc(c->s) : kmem_cache_alloc_node(c->s, node);
		FUZZ_ASSERT(p);
		if (node < NODES)
			FUZZ_ASSERT(stp_node_of(&tp, p) == (int)node);
		c->live++;
		c->allocs++;
		track(p, c->size, (int)k);
		break;
	}
	case 3: case 4: {                             /* kmalloc, now and then a large one */
		uint32_t size = arg[1] & 0x80 ? 1 + ((uint32_t)arg[0] << 8 | arg[1]) % 70000
					      : 1 + ((uint32_t)arg[0] << 5 | (arg[1] & 31)) % 8200;
		char *p;

		if (nlive == MAX_LIVE)
			break;
		p = arg[1] & 0x40 ? kmalloc_node(&alloc, size, arg[0] % NODES) : kmalloc(&alloc, size);
		FUZZ_ASSERT(p);
		track(p, size, -1);
		break;
	}
	case 5: case 6: case 7:                       /* free something */
		if (nlive)
			release(((unsigned)arg[0] << 8 | arg[1]) % nlive);
		break;
	case 8:
		if (caches[k].s)
			FUZZ_ASSERT(kmem_cache_shrink(caches[k].s) >= 0);
		break;
	case 9:
		if (arg[1] & 1)
			cache_destroy(k);
		else
			slab_flush_cpu(&alloc);
		break;
	case 10: {                                    /* double free in a debug cache is refused */
		struct fcache *c = &caches[k];
		char *p;
		int rc;

		if (!c->s || !c->debug)
			break;
		p = kmem_cache_alloc(c->s);
		FUZZ_ASSERT(p);
		if (c->ctor)
			FUZZ_ASSERT(memcmp(p, "ctorctor", 8) == 0);
		FUZZ_ASSERT(kmem_cache_free(c->s, p) == 0);
		rc = kmem_cache_free(c->s, p);
		FUZZ_ASSERT(rc == -MM_EINVAL);
		c->allocs++;
		c->frees++;
		break;
	}
	default: {                                    /* foreign pointers are refused */
		int on_stack;

		FUZZ_ASSERT(kfree(&alloc, &on_stack) == -MM_EINVAL);
		check_all();
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool provider_ready;
	unsigned long flags;
	unsigned cpu = mm_env_cpu_enter(&flags);

	mm_env_cpu_exit(flags);
	/* The test provider never coalesces and lives across inputs: give it room to strand. */
	if (!provider_ready) {
		FUZZ_ASSERT(stp_init(&tp, (size_t)256 << 20, NODES) == 0);
		provider_ready = true;
	}
	FUZZ_ASSERT(slab_allocator_init(&alloc, &tp.p, size && (data[0] & 1) ? SLAB_DEBUG : 0) == 0);
	FUZZ_ASSERT(slab_set_cpu_node(&alloc, cpu, size > 1 ? data[1] % NODES : 0) == 0);
	nlive = 0;
	next_id = 1;
	memset(caches, 0, sizeof(caches));
	for (size_t i = 2; i + 3 <= size; i += 3)
		step(data[i], &data[i + 1]);
	check_all();
	while (nlive)
		release(nlive - 1);
	for (unsigned k = 0; k < MAX_CACHES; k++)
		cache_destroy(k);
	FUZZ_ASSERT(slab_allocator_destroy(&alloc) == 0);
	FUZZ_ASSERT(stp_pages_out(&tp) == 0);
	return 0;
}
