/*
 * loader_fixture.h — the guest memory that the image loader tests (test_pvh, test_linux,
 * test_multiboot) and fuzzers (fuzz_pvh, fuzz_bzimage, fuzz_multiboot) load into: a few static
 * buffers described to the loader as guest_mem regions and, for the memory map, as the matching
 * machine_config (one node range per region, nodes in region order).
 *
 * Every region sits in a buffer of its own, between `guard` bytes on either side:
 *
 *   buf                 buf + guard                 buf + guard + size
 *   | guard (primed)    | region (primed)           | guard (primed)    |
 *
 * lf_prime() fills whole buffers, guards included, with LF_PRIME; a test then checks that a
 * rejected image wrote nothing (lf_check_untouched) and that an accepted one wrote nothing
 * outside guest RAM (lf_check_guards). The fuzzers use guard 0 and one exact-size global per
 * region instead: ASan's redzones around globals are their guards, and report the write itself.
 *
 * Two layouts:
 *   lf_init_two()   (unit tests) two regions of rsize bytes in the caller's buffers:
 *                   region 0 at 0 (node 0), region 1 at region1_gpa (node 1)
 *   lf_init_three() (fuzzers) three regions in this header's static buffers:
 *                     0        4 MiB    5 MiB     6 MiB    7 MiB
 *                     | node 0 | node 1 |  hole   | node 1 |
 *
 * Contracts: regions are sorted by gpa and disjoint (guest_mem's own rule); buffers are static
 * and outlive every struct lf_guest describing them. Single-threaded, like the tests.
 * The failing helpers (lf_byte, lf_check_*, lf_temp_file) exist only where mvtest.h is
 * included first: the fuzzers never reach mvtest's failure path and do their own checks on
 * lf_host().
 */
#ifndef LOADER_FIXTURE_H
#define LOADER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest_mem.h"
#include "machine.h"

#define LF_PRIME        0xa5
#define LF_GUARD        (UINT64_C(64) << 10)    /* guard bytes of the unit tests' buffers */
#define LF_MAX_REGIONS  3
#define LF_MIB          (UINT64_C(1) << 20)

/* One region of a layout: guest [gpa, gpa + size) on node `node`, backed by buf (see above). */
struct lf_region {
	gpa_t gpa;
	uint64_t size;
	unsigned node;
	uint8_t *buf;
};

struct lf_guest {
	struct guest_mem gm;            /* what the loader is given */
	struct machine_config m;        /* the same RAM as NUMA nodes, for memory maps */
	uint64_t guard;                 /* bytes before and after each region in its buffer */
};

_Static_assert(LF_MAX_REGIONS <= GUEST_MEM_MAX_REGIONS, "guest_mem holds every region");

/* Describe r[0..nr) (at most LF_MAX_REGIONS; at most 2 per node) in g. Writes no guest byte. */
static inline void lf_init(struct lf_guest *g, const struct lf_region *r, unsigned nr,
			   uint64_t guard)
{
	memset(g, 0, sizeof(*g));
	g->guard = guard;
	g->gm.nr = nr;
	g->m.nr_cpus = 1;
	for (unsigned i = 0; i < nr; i++) {
		struct machine_node *n = &g->m.nodes[r[i].node];

		g->gm.r[i] = (struct guest_mem_region){ .gpa = r[i].gpa, .size = r[i].size,
							 .hva = r[i].buf + guard,
							 .node = r[i].node };
		n->host_node = -1;
		n->size += r[i].size;
		n->ranges[n->nr_ranges++] = (struct machine_range){ .gpa = r[i].gpa,
								     .size = r[i].size };
		if (r[i].node + 1 > g->m.nr_nodes)
			g->m.nr_nodes = r[i].node + 1;
		if (r[i].gpa + r[i].size > g->m.ram_end)
			g->m.ram_end = r[i].gpa + r[i].size;
	}
}

/* Start of region i's buffer (its front guard) and the buffer's length. */
static inline uint8_t *lf_buf(const struct lf_guest *g, unsigned i)
{
	return g->gm.r[i].hva - g->guard;
}

static inline uint64_t lf_buf_len(const struct lf_guest *g, unsigned i)
{
	return g->guard + g->gm.r[i].size + g->guard;
}

/* Every byte of every buffer, guards included, becomes LF_PRIME. */
static inline void lf_prime(const struct lf_guest *g)
{
	for (unsigned i = 0; i < g->gm.nr; i++)
		memset(lf_buf(g, i), LF_PRIME, lf_buf_len(g, i));
}

/*
 * Index of the first byte of b[0..len) that is not LF_PRIME, or len. Compared a block at a time
 * with memcmp: a byte loop is ~50× slower under ASan, and the fuzzers run this over all guest
 * memory after every rejected input.
 */
static inline size_t lf_first_unprimed(const uint8_t *b, size_t len)
{
	static uint8_t block[64 * 1024];
	size_t off = 0;

	if (block[0] != LF_PRIME)
		memset(block, LF_PRIME, sizeof(block));
	for (; off < len; off += sizeof(block)) {
		size_t n = len - off < sizeof(block) ? len - off : sizeof(block);

		if (memcmp(b + off, block, n) != 0)
			break;
	}
	for (; off < len; off++)
		if (b[off] != LF_PRIME)
			return off;
	return len;
}

/* Whether every buffer, guards included, still holds LF_PRIME everywhere. */
static inline bool lf_all_primed(const struct lf_guest *g)
{
	for (unsigned i = 0; i < g->gm.nr; i++)
		if (lf_first_unprimed(lf_buf(g, i), lf_buf_len(g, i)) != lf_buf_len(g, i))
			return false;
	return true;
}

/* Host pointer to guest byte gpa, or NULL outside the regions (the test's own view, independent
 * of guest_mem_ptr, which is what is under test). */
static inline uint8_t *lf_host(const struct lf_guest *g, gpa_t gpa)
{
	for (unsigned i = 0; i < g->gm.nr; i++)
		if (gpa >= g->gm.r[i].gpa && gpa - g->gm.r[i].gpa < g->gm.r[i].size)
			return g->gm.r[i].hva + (gpa - g->gm.r[i].gpa);
	return NULL;
}

/* The unit tests' layout over buf0 and buf1, each of at least LF_GUARD + rsize + LF_GUARD
 * bytes, primed. */
static inline void lf_init_two(struct lf_guest *g, uint8_t *buf0, uint8_t *buf1, uint64_t rsize,
			       gpa_t region1_gpa)
{
	const struct lf_region r[2] = {
		{ .gpa = 0, .size = rsize, .node = 0, .buf = buf0 },
		{ .gpa = region1_gpa, .size = rsize, .node = 1, .buf = buf1 },
	};

	lf_init(g, r, 2, LF_GUARD);
	lf_prime(g);
}

/* The fuzzers' layout (see the top), unprimed: each region is its own exact-size global. */
static inline void lf_init_three(struct lf_guest *g)
{
	static uint8_t ram0[4 * LF_MIB];        /* [0, 4 MiB) */
	static uint8_t ram1[LF_MIB];            /* [4 MiB, 5 MiB) */
	static uint8_t ram2[LF_MIB];            /* [6 MiB, 7 MiB) */
	const struct lf_region r[3] = {
		{ .gpa = 0, .size = sizeof(ram0), .node = 0, .buf = ram0 },
		{ .gpa = 4 * LF_MIB, .size = sizeof(ram1), .node = 1, .buf = ram1 },
		{ .gpa = 6 * LF_MIB, .size = sizeof(ram2), .node = 1, .buf = ram2 },
	};

	lf_init(g, r, 3, 0);
}

#ifdef MVTEST_H
/* Host pointer to guest byte gpa; a gpa outside the fixture is a bug in the test and fails it. */
static inline uint8_t *lf_byte(const struct lf_guest *g, gpa_t gpa)
{
	uint8_t *p = lf_host(g, gpa);

	if (!p)
		mvt_fail(__FILE__, __LINE__, "test bug: gpa %#llx is not in the fixture",
			 (unsigned long long)gpa);
	return p;
}

/* No byte was written outside guest RAM: every guard still primed. */
static inline void lf_check_guards(const struct lf_guest *g)
{
	for (unsigned i = 0; i < g->gm.nr; i++) {
		CHECK_EQ_U(lf_first_unprimed(lf_buf(g, i), g->guard), g->guard);
		CHECK_EQ_U(lf_first_unprimed(g->gm.r[i].hva + g->gm.r[i].size, g->guard),
			   g->guard);
	}
}

/* No byte was written at all: every buffer, guards included, still primed. */
static inline void lf_check_untouched(const struct lf_guest *g)
{
	for (unsigned i = 0; i < g->gm.nr; i++)
		CHECK_EQ_U(lf_first_unprimed(lf_buf(g, i), lf_buf_len(g, i)), lf_buf_len(g, i));
}

/* Guest [gpa, gpa + len) still holds LF_PRIME everywhere. */
static inline void lf_check_primed(const struct lf_guest *g, gpa_t gpa, uint64_t len)
{
	CHECK_EQ_U(lf_first_unprimed(lf_byte(g, gpa), len), len);
}

/*
 * A fresh file holding data[0..len), for the *_load_files() tests: templ is mkstemp()'s
 * template ("/tmp/name.XXXXXX"); the file's path goes to path[0..cap). The caller unlinks it.
 */
static inline void lf_temp_file(char *path, size_t cap, const char *templ, const void *data,
				size_t len)
{
	int fd;

	CHECK(snprintf(path, cap, "%s", templ) < (int)cap);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, data, len), (long long)len);
	close(fd);
}
#endif /* MVTEST_H */

#endif /* LOADER_FIXTURE_H */
