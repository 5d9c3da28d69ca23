/* slab_test_provider.c — see slab_test_provider.h. Lock: tp->lock (a leaf). */
#define _GNU_SOURCE
#include "slab_test_provider.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define STP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STP_ASAN 1
#endif
#endif
#ifdef STP_ASAN
#include <sanitizer/asan_interface.h>
#define STP_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define STP_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define STP_POISON(p, n)   ((void)(p), (void)(n))
#define STP_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define STP_ALIGN ((size_t)MM_PAGE_SIZE << STP_MAX_ORDER)

static void *stp_alloc(void *ctx, unsigned order, unsigned node)
{
	struct slab_test_provider *tp = ctx;
	size_t bytes = (size_t)MM_PAGE_SIZE << order;
	struct stp_node *n;
	void *p = NULL;

	if (order > STP_MAX_ORDER || node >= tp->nr_nodes)
		abort();   /* slab broke the provider contract */
	n = &tp->node[node];
	pthread_mutex_lock(&tp->lock);
	if (tp->page_limit && tp->pages_out + (UINT64_C(1) << order) > tp->page_limit)
		goto out;
	if (n->free[order]) {
		p = n->free[order];
		STP_UNPOISON(p, sizeof(void *));
		n->free[order] = *(void **)p;
	} else {
		uintptr_t at = (n->bump + bytes - 1) & ~(uintptr_t)(bytes - 1);

		if (at + bytes > n->end)
			goto out;
		n->bump = at + bytes;
		p = (void *)at;
	}
	tp->pages_out += UINT64_C(1) << order;
	tp->allocs++;
	STP_UNPOISON(p, bytes);
out:
	pthread_mutex_unlock(&tp->lock);
	return p;
}

static void stp_free(void *ctx, void *addr, unsigned order)
{
	struct slab_test_provider *tp = ctx;
	int node = stp_node_of(tp, addr);
	size_t bytes = (size_t)MM_PAGE_SIZE << order;

	if (node < 0 || order > STP_MAX_ORDER || ((uintptr_t)addr & (bytes - 1)))
		abort();
	for (uint64_t i = 0; i < (UINT64_C(1) << order); i++)   /* slab must clear its owner words */
		if (*(void **)((char *)tp->p.owner0 +
			       ((((uintptr_t)addr - tp->p.base) >> MM_PAGE_SHIFT) + i) * tp->p.owner_stride))
			abort();
	pthread_mutex_lock(&tp->lock);
	*(void **)addr = tp->node[node].free[order];
	tp->node[node].free[order] = addr;
	tp->pages_out -= UINT64_C(1) << order;
	tp->frees++;
	STP_POISON(addr, bytes);
	pthread_mutex_unlock(&tp->lock);
}

#define STP_GAP_BYTE 0x5c

int stp_init(struct slab_test_provider *tp, size_t bytes_per_node, unsigned nr_nodes)
{
	return stp_init_stride(tp, bytes_per_node, nr_nodes, sizeof(void *));
}

int stp_init_stride(struct slab_test_provider *tp, size_t bytes_per_node, unsigned nr_nodes,
		    size_t stride)
{
	size_t per = (bytes_per_node + STP_ALIGN - 1) & ~(STP_ALIGN - 1);
	uintptr_t base;
	size_t npages;

	memset(tp, 0, sizeof(*tp));
	if (nr_nodes == 0 || nr_nodes > MM_MAX_NODES)
		return -1;
	tp->map_bytes = per * nr_nodes + STP_ALIGN;
	tp->map = mmap(NULL, tp->map_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (tp->map == MAP_FAILED)
		return -1;
	base = ((uintptr_t)tp->map + STP_ALIGN - 1) & ~(uintptr_t)(STP_ALIGN - 1);
	npages = per * nr_nodes >> MM_PAGE_SHIFT;
	tp->nr_nodes = nr_nodes;
	for (unsigned i = 0; i < nr_nodes; i++) {
		tp->node[i].start = tp->node[i].bump = base + i * per;
		tp->node[i].end = base + (i + 1) * per;
	}
	pthread_mutex_init(&tp->lock, NULL);
	tp->p.alloc_pages = stp_alloc;
	tp->p.free_pages = stp_free;
	tp->p.ctx = tp;
	tp->p.base = base;
	tp->p.npages = npages;
	tp->p.owner0 = calloc(npages, stride);
	tp->p.owner_stride = stride;
	tp->p.nr_nodes = nr_nodes;
	tp->p.max_order = STP_MAX_ORDER;
	if (!tp->p.owner0) {
		munmap(tp->map, tp->map_bytes);
		return -1;
	}
	if (stride > sizeof(void *))
		for (size_t i = 0; i < npages; i++)
			memset((char *)tp->p.owner0 + i * stride + sizeof(void *), STP_GAP_BYTE,
			       stride - sizeof(void *));
	STP_POISON((void *)base, per * nr_nodes);
	return 0;
}

void stp_destroy(struct slab_test_provider *tp)
{
	STP_UNPOISON((void *)tp->p.base, tp->p.npages << MM_PAGE_SHIFT);
	munmap(tp->map, tp->map_bytes);
	free(tp->p.owner0);
	pthread_mutex_destroy(&tp->lock);
}

int stp_check_gaps(const struct slab_test_provider *tp)
{
	const unsigned char *t = tp->p.owner0;

	for (size_t i = 0; i < tp->p.npages; i++)
		for (size_t b = sizeof(void *); b < tp->p.owner_stride; b++)
			if (t[i * tp->p.owner_stride + b] != STP_GAP_BYTE)
				return -1;
	return 0;
}

int stp_node_of(const struct slab_test_provider *tp, const void *addr)
{
	for (unsigned i = 0; i < tp->nr_nodes; i++)
		if ((uintptr_t)addr >= tp->node[i].start && (uintptr_t)addr < tp->node[i].end)
			return (int)i;
	return -1;
}

uint64_t stp_pages_out(struct slab_test_provider *tp)
{
	uint64_t n;

	pthread_mutex_lock(&tp->lock);
	n = tp->pages_out;
	pthread_mutex_unlock(&tp->lock);
	return n;
}

void stp_set_limit(struct slab_test_provider *tp, uint64_t pages)
{
	pthread_mutex_lock(&tp->lock);
	tp->page_limit = pages;
	pthread_mutex_unlock(&tp->lock);
}
