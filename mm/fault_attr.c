/*
 * mm/fault_attr.c — fault-injection decisions with Linux's knobs (see mm/fault_attr.h).
 *
 * Owns: the decision of one site (fault_attr_should_fail), its knobs, random stream and
 * counters, and parsing Linux's boot-parameter form. Locking: none; every shared field is a
 * relaxed atomic (the header says why that is enough).
 */
#include "mm/fault_attr.h"
#include "mm/env.h"

#define LOAD(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)

static uint64_t seed_state(uint64_t seed)
{
	/* splitmix64 of the seed: nearby seeds give unrelated streams, and the state is never 0 */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z ? z : 1;
}

void fault_attr_init(struct fault_attr *fa, const char *name, uint64_t seed)
{
	fa->name = name;
	fa->k.probability = 0;
	fa->k.interval = 1;
	fa->k.times = 1;
	fa->k.space = 0;
	fa->k.verbose = 1;
	fa->k.pad = 0;
	fa->count = 0;
	fa->rng = seed_state(seed);
	fa->calls = 0;
	fa->failures = 0;
}

int fault_attr_set(struct fault_attr *fa, const struct fault_knobs *k)
{
	if (k->probability > FAULT_ATTR_PROBABILITY_MAX)
		return MM_INVAL("probability is a percentage: 0..100");
	if (k->times < FAULT_ATTR_TIMES_UNLIMITED)
		return MM_INVAL("times is -1 (no limit) or a count >= 0");
	if (k->space < 0)
		return MM_INVAL("space is a byte count >= 0");
	if (k->verbose > 2)
		return MM_INVAL("verbose is 0, 1 or 2");
	/* Probability last and first: a racing call sees the site off while the rest changes. */
	STORE(&fa->k.probability, 0u);
	STORE(&fa->k.interval, k->interval);
	STORE(&fa->k.times, k->times);
	STORE(&fa->k.space, k->space);
	STORE(&fa->k.verbose, k->verbose);
	STORE(&fa->count, (uint64_t)0);
	__atomic_store_n(&fa->k.probability, k->probability, __ATOMIC_RELEASE);
	return 0;
}

void fault_attr_get(const struct fault_attr *fa, struct fault_knobs *k)
{
	k->probability = LOAD(&fa->k.probability);
	k->interval = LOAD(&fa->k.interval);
	k->times = LOAD(&fa->k.times);
	k->space = LOAD(&fa->k.space);
	k->verbose = LOAD(&fa->k.verbose);
	k->pad = 0;
}

void fault_attr_reseed(struct fault_attr *fa, uint64_t seed)
{
	STORE(&fa->rng, seed_state(seed));
	STORE(&fa->count, (uint64_t)0);
}

/* xorshift64* step, taken atomically so concurrent callers never reuse one draw. */
static uint64_t next_random(struct fault_attr *fa)
{
	uint64_t old = LOAD(&fa->rng), x;

	do {
		x = old;
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
	} while (!__atomic_compare_exchange_n(&fa->rng, &old, x, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return x * 0x2545f4914f6cdd1dull;
}

/* Take size bytes from space while space > size (Linux: atomic_read then atomic_sub). */
static bool space_passes(struct fault_attr *fa, uint64_t size)
{
	int64_t space = LOAD(&fa->k.space);

	while (space > 0 && (uint64_t)space > size) {
		if (__atomic_compare_exchange_n(&fa->k.space, &space, space - (int64_t)size, true,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

/* Decrement times unless it is -1 or already 0; false when another caller spent the last one. */
static bool take_time(struct fault_attr *fa)
{
	int64_t times = LOAD(&fa->k.times);

	while (times != FAULT_ATTR_TIMES_UNLIMITED) {
		if (times == 0)
			return false;
		if (__atomic_compare_exchange_n(&fa->k.times, &times, times - 1, true,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	}
	return true;
}

bool fault_attr_should_fail(struct fault_attr *fa, uint64_t size)
{
	uint32_t probability = __atomic_load_n(&fa->k.probability, __ATOMIC_ACQUIRE);
	uint32_t interval;

	__atomic_fetch_add(&fa->calls, 1, __ATOMIC_RELAXED);
	if (probability == 0 || LOAD(&fa->k.times) == 0)
		return false;
	if (space_passes(fa, size))
		return false;
	interval = LOAD(&fa->k.interval);
	if (interval > 1 && (__atomic_add_fetch(&fa->count, 1, __ATOMIC_RELAXED) % interval) != 0)
		return false;
	/* 64-bit modulo: the bias of 2^64 mod 100 is below 1e-17 */
	if (probability < FAULT_ATTR_PROBABILITY_MAX && next_random(fa) % 100 >= probability)
		return false;
	if (!take_time(fa))
		return false;
	__atomic_fetch_add(&fa->failures, 1, __ATOMIC_RELAXED);
	return true;
}

/* ---- "<interval>,<probability>,<space>,<times>" ---------------------------------------------- */

/* One decimal field of s[*pos..len) up to a comma or the end; -1 allowed when may_be_minus_one. */
static int parse_field(const char *s, size_t len, size_t *pos, bool may_be_minus_one,
		       int64_t max, int64_t *out)
{
	size_t i = *pos;
	bool minus = false;
	int64_t v = 0;

	if (i < len && s[i] == '-') {
		minus = true;
		i++;
	}
	if (i == len || s[i] < '0' || s[i] > '9')
		return -1;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (max - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (minus && !(may_be_minus_one && v == 1))
		return -1;
	*out = minus ? -v : v;
	*pos = i;
	return 0;
}

int fault_knobs_parse_linux(struct fault_knobs *k, const char *s, size_t len)
{
	static const char *const bad[4] = {
		"fault knobs \"<interval>,<probability>,<space>,<times>\": interval is not a "
		"number below 2^32",
		"fault knobs \"<interval>,<probability>,<space>,<times>\": probability is not a "
		"percentage 0..100",
		"fault knobs \"<interval>,<probability>,<space>,<times>\": space is not a byte "
		"count >= 0",
		"fault knobs \"<interval>,<probability>,<space>,<times>\": times is not -1 or a "
		"count >= 0",
	};
	static const int64_t max[4] = { 0xffffffffll, 100, INT64_MAX, INT64_MAX };
	int64_t v[4];
	size_t pos = 0;

	for (unsigned f = 0; f < 4; f++) {
		if (parse_field(s, len, &pos, f == 3, max[f], &v[f]))
			return MM_INVAL(bad[f]);
		if (f < 3) {
			if (pos == len || s[pos] != ',')
				return MM_INVAL("fault knobs: expected four comma-separated fields "
						"\"<interval>,<probability>,<space>,<times>\"");
			pos++;
		}
	}
	if (pos != len)
		return MM_INVAL("fault knobs: text after the fourth field (times)");
	k->interval = (uint32_t)v[0];
	k->probability = (uint32_t)v[1];
	k->space = v[2];
	k->times = v[3];
	return 0;
}
