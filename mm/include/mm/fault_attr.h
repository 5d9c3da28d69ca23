/*
 * mm/fault_attr.h — fault-injection decisions with Linux's knobs (lib/fault-inject.c).
 *
 * One struct fault_attr per named failure site ("fail_page_alloc", "swap_write_eio", ...); the
 * site asks fault_attr_should_fail() before doing the real work and, on true, fails the way the
 * real failure would. The VMM and the guest share this file, so a knob means the same on both
 * sides and the same as in Linux's Documentation/fault-injection/fault-injection.rst:
 *
 *   probability  percent of eligible calls that fail (0..100); 0 = the site never fails
 *   interval     only every interval-th eligible call may fail (0 and 1 mean every call)
 *   times        failures left; -1 = no limit; 0 = the site is spent
 *   space        bytes that pass first: while space > size, a call subtracts its size and passes
 *   verbose      0 silent, 1 one line per failure, 2 the line plus the site's counters (the caller
 *                prints: mm/ has no console; fault_attr_should_fail only decides)
 *
 * The decision follows Linux's should_fail_ex() step for step: times == 0 → pass; space > size →
 * space -= size, pass; interval > 1 → count++, pass unless count % interval == 0; then fail with
 * the given probability; a failure decrements times (unless -1). The random draw is a per-site
 * xorshift64* stream from a seed, so a run is reproducible given its seed and call order.
 *
 * Concurrency: every field a call reads or writes is an atomic (relaxed: the knobs are advisory
 * and a site is decided independently per call), so many threads or CPUs may ask at once and
 * fault_attr_set may change the knobs meanwhile. No lock, no allocation, no mm_env call.
 */
#ifndef MM_FAULT_ATTR_H
#define MM_FAULT_ATTR_H

#include "types.h"
#include "errno.h"

#define FAULT_ATTR_TIMES_UNLIMITED  (-1)
#define FAULT_ATTR_PROBABILITY_MAX  100u

/* The knobs, as a value a caller can build, parse into and print. */
struct fault_knobs {
	uint32_t probability;       /* percent, 0..100 */
	uint32_t interval;          /* 0 and 1: every call */
	int64_t times;              /* -1 unlimited, else >= 0 */
	int64_t space;              /* >= 0 */
	uint32_t verbose;           /* 0, 1 or 2 */
	uint32_t pad;
};
_Static_assert(sizeof(struct fault_knobs) == 32, "struct fault_knobs is 4 words");

struct fault_attr {
	const char *name;           /* the site's name, for the caller's messages */
	struct fault_knobs k;       /* atomically read and written field by field */
	uint64_t count;             /* eligible calls counted for interval */
	uint64_t rng;               /* xorshift64* state, never 0 */
	uint64_t calls;             /* statistics: fault_attr_should_fail calls */
	uint64_t failures;          /* statistics: calls that returned true */
};
_Static_assert(sizeof(struct fault_attr) == 72, "struct fault_attr: name, knobs, 4 counters");

/* Linux's defaults (FAULT_ATTR_INITIALIZER) except verbose 1: probability 0, interval 1, times 1. */
void fault_attr_init(struct fault_attr *fa, const char *name, uint64_t seed);

/* Set all knobs at once (a call racing with this sees old or new values field by field).
 * -MM_EINVAL (reported, naming the knob) for probability > 100, times < -1, space < 0,
 * verbose > 2; the site is unchanged then. */
int fault_attr_set(struct fault_attr *fa, const struct fault_knobs *k) mm_must_check;
void fault_attr_get(const struct fault_attr *fa, struct fault_knobs *k);

/* Restart the random stream and the interval count (statistics are kept). */
void fault_attr_reseed(struct fault_attr *fa, uint64_t seed);

/* Should this call of `size` bytes (1 where size means nothing) fail? See the header. */
bool fault_attr_should_fail(struct fault_attr *fa, uint64_t size);

/*
 * Parse Linux's boot-parameter form "<interval>,<probability>,<space>,<times>" (e.g.
 * fail_page_alloc=1,100,0,1) — exactly four decimal fields, times may be -1 — into *k (verbose
 * left as it was). The string is s[0..len), not necessarily NUL-terminated. -MM_EINVAL (reported,
 * naming the field) on anything else; *k is unchanged then.
 */
int fault_knobs_parse_linux(struct fault_knobs *k, const char *s, size_t len) mm_must_check;

#endif
