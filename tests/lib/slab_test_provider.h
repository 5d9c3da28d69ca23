/*
 * slab_test_provider.h — a struct slab_page_provider over hosted memory, for slab's unit tests,
 * fuzzer and benchmark (mm/ itself may not mmap; this stands in for the buddy allocator).
 *
 * One mmap'd region split into nr_nodes equal parts, part n being "node n". Blocks of 2^order
 * pages are carved naturally aligned from a per-node bump pointer and recycled through per-order
 * LIFO free lists (no coalescing: enough for tests). The owner table is a flat void *[] (stride 8)
 * or, with stp_init_stride, one word per `stride` bytes, like a frame descriptor array.
 * Under AddressSanitizer, pages not lent out are poisoned, so slab touching a page it gave back is
 * caught. Counters let tests check that shrink/destroy really return pages.
 * Thread-safe (one mutex).
 */
#ifndef SLAB_TEST_PROVIDER_H
#define SLAB_TEST_PROVIDER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <mm/slab.h>

#define STP_MAX_ORDER 10

struct stp_node {
	uintptr_t start, end, bump;
	void *free[STP_MAX_ORDER + 1];   /* blocks linked through their first word */
};

struct slab_test_provider {
	struct slab_page_provider p;     /* hand &tp->p to slab_allocator_init */
	void *map;
	size_t map_bytes;
	unsigned nr_nodes;
	struct stp_node node[MM_MAX_NODES];
	pthread_mutex_t lock;
	uint64_t pages_out;              /* pages currently lent */
	uint64_t page_limit;             /* alloc fails if pages_out would exceed it (0 = none) */
	uint64_t allocs, frees;
};

/* bytes_per_node is rounded up to 4 MiB. Returns 0 or -1 (mmap failed). */
int stp_init(struct slab_test_provider *tp, size_t bytes_per_node, unsigned nr_nodes);
/* Same, with owner words `stride` bytes apart (as in a frame descriptor array; the words in
 * between are filled with a pattern that must survive). */
int stp_init_stride(struct slab_test_provider *tp, size_t bytes_per_node, unsigned nr_nodes,
		    size_t stride);
/* 0 if every byte between owner words still holds the pattern stp_init_stride wrote. */
int stp_check_gaps(const struct slab_test_provider *tp);
void stp_destroy(struct slab_test_provider *tp);
/* Node of an address inside the region, or -1. */
int stp_node_of(const struct slab_test_provider *tp, const void *addr);
uint64_t stp_pages_out(struct slab_test_provider *tp);
void stp_set_limit(struct slab_test_provider *tp, uint64_t pages);

#endif
