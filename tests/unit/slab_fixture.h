/*
 * slab_fixture.h — shared set-up for the slab unit tests: an allocator over the hosted test
 * provider (tests/lib/slab_test_provider.h), torn down with checks that nothing leaked.
 */
#ifndef SLAB_FIXTURE_H
#define SLAB_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include <mm/slab.h>

#include "mvtest.h"
#include "../lib/slab_test_provider.h"

struct slab_fix {
	struct slab_test_provider tp;
	struct slab_allocator a;
};

/* The allocator must be 128-byte aligned (struct kmem_cache says so): no calloc. */
static inline void *fix_zalloc(size_t size)
{
	void *p = aligned_alloc(128, (size + 127) & ~(size_t)127);

	CHECK_NOT_NULL(p);
	memset(p, 0, size);
	return p;
}

static inline struct slab_fix *fix_new_mb(unsigned nodes, unsigned flags, size_t mb_per_node)
{
	struct slab_fix *f = fix_zalloc(sizeof(*f));

	CHECK_EQ(stp_init(&f->tp, mb_per_node << 20, nodes), 0);
	CHECK_EQ(slab_allocator_init(&f->a, &f->tp.p, flags), 0);
	return f;
}

static inline struct slab_fix *fix_new(unsigned nodes, unsigned flags)
{
	return fix_new_mb(nodes, flags, 64);
}

/* Destroy the allocator; every page must be back with the provider. */
static inline void fix_free(struct slab_fix *f)
{
	CHECK_EQ(slab_allocator_destroy(&f->a), 0);
	CHECK_EQ_U(stp_pages_out(&f->tp), 0);
	stp_destroy(&f->tp);
	free(f);
}

/* The calling thread's CPU id in the hosted environment. */
static inline unsigned fix_cpu(void)
{
	unsigned long flags;
	unsigned cpu = mm_env_cpu_enter(&flags);

	mm_env_cpu_exit(flags);
	return cpu;
}

#endif
