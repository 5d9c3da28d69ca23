/*
 * guest/faultinj.c — the guest's fault-injection sites (see faultinj.h): command-line parsing,
 * arming, the decision with its verbose line, and the end-of-scenario counters.
 *
 * Owns: one struct fault_attr per site (mm/fault_attr.h decides), the knobs given on the command
 * line until faultinj_arm applies them, and the slab hook (mm/slab's failslab hook on kmem).
 *
 * Verbose lines are rate-limited by count, not time (the guest's clocks are per CPU): the first
 * VERBOSE_BURST failures of a site print a line each, after that only failures whose number is a
 * power of two, with the count of lines left out, so a site failing every call prints O(log n).
 *
 * Locking: none. Parsing and arming run on the boot CPU before other CPUs allocate; the decision
 * and the counters are fault_attr's relaxed atomics; `armed` is published with release/acquire.
 */
#include "faultinj.h"
#include "mem.h"

#define VERBOSE_BURST  10u          /* lines per site before the power-of-two thinning */
#define DEFAULT_SEED   1u

static const char *const site_names[FAULTINJ_NR] = {
	[FAULTINJ_PAGE_ALLOC] = "fail_page_alloc",
	[FAULTINJ_SLAB] = "failslab",
	[FAULTINJ_BALLOON] = "fail_balloon",
};

static struct fault_attr sites[FAULTINJ_NR];
static struct fault_knobs given[FAULTINJ_NR];    /* from the command line, until armed */
static bool given_any[FAULTINJ_NR];
static uint64_t seed = DEFAULT_SEED;
static uint32_t verbose = 1;
static bool armed;

/* Decimal u64 in s[0..n); false on anything else or overflow. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* word[0..n) starts with "key=": the length of the key part with '=', else 0. */
static size_t key_len(const char *word, size_t n, const char *key)
{
	size_t k = 0;

	while (key[k])
		k++;
	return n > k && !memcmp(word, key, k) && word[k] == '=' ? k + 1 : 0;
}

bool faultinj_option(const char *word, size_t n)
{
	size_t k;
	uint64_t v = 0;

	for (unsigned i = 0; i < FAULTINJ_NR; i++) {
		struct fault_knobs kn = { 0, 1, 1, 0, 1, 0 };

		k = key_len(word, n, site_names[i]);
		if (!k)
			continue;
		/* mm/fault_attr reports what is wrong ("# mm: ..."); the check names the option */
		if (tap_check(fault_knobs_parse_linux(&kn, word + k, n - k) == 0,
			      "faultinj: %.*s is <interval>,<probability>,<space>,<times>",
			      (int)n, word)) {
			given[i] = kn;
			given_any[i] = true;
		}
		return true;
	}
	if ((k = key_len(word, n, "fault_seed"))) {
		if (tap_check(parse_u64(word + k, n - k, &v), "faultinj: %.*s is a decimal number",
			      (int)n, word))
			seed = v;
		return true;
	}
	if ((k = key_len(word, n, "fault_verbose"))) {
		if (tap_check(parse_u64(word + k, n - k, &v) && v <= 2,
			      "faultinj: %.*s is 0, 1 or 2", (int)n, word))
			verbose = (uint32_t)v;
		return true;
	}
	return false;
}

bool faultinj_configured(void)
{
	for (unsigned i = 0; i < FAULTINJ_NR; i++)
		if (given_any[i])
			return true;
	return false;
}

/* mm/slab's failslab hook on kmem: the cache name is the verbose line's caller. */
static bool slab_hook(void *arg, const char *cache, size_t size)
{
	(void)arg;
	return faultinj_should_fail(FAULTINJ_SLAB, size, cache);
}

void faultinj_arm(void)
{
	for (unsigned i = 0; i < FAULTINJ_NR; i++) {
		fault_attr_init(&sites[i], site_names[i], seed + i);
		if (!given_any[i])
			continue;
		given[i].verbose = verbose;
		MM_BUG_ON(fault_attr_set(&sites[i], &given[i]) != 0);   /* parsed: in range */
		kprintf("# faultinj: %s armed: interval %u probability %u%% space %ld times %ld, "
			"seed %lu, verbose %u\n", site_names[i], given[i].interval,
			given[i].probability, given[i].space, given[i].times, seed + i, verbose);
	}
	if (faultinj_armed(FAULTINJ_SLAB))
		MM_BUG_ON(slab_set_fail_hook(&kmem, slab_hook, NULL) != 0);
	__atomic_store_n(&armed, true, __ATOMIC_RELEASE);
}

void faultinj_disarm(void)
{
	__atomic_store_n(&armed, false, __ATOMIC_RELEASE);
	if (faultinj_armed(FAULTINJ_SLAB))
		MM_BUG_ON(slab_set_fail_hook(&kmem, NULL, NULL) != 0);
}

bool faultinj_armed(enum faultinj_site site)
{
	return site < FAULTINJ_NR && given_any[site] && given[site].probability > 0;
}

/* The verbose line of failure number nth (1-based), thinned as the header says. */
static void verbose_line(const struct fault_attr *fa, uint32_t level, uint64_t nth,
			 uint64_t size, const char *what)
{
	if (nth > VERBOSE_BURST && (nth & (nth - 1)) != 0)
		return;
	kprintf("# faultinj: %s: failing %s (%lu bytes), failure %lu%s\n", fa->name,
		what ? what : "?", size, nth,
		nth > VERBOSE_BURST ? " (lines thinned: powers of two only)" : "");
	if (level >= 2)
		kprintf("# faultinj: %s: calls %lu failures %lu\n", fa->name,
			__atomic_load_n(&fa->calls, __ATOMIC_RELAXED), nth);
}

bool faultinj_should_fail(enum faultinj_site site, uint64_t size, const char *what)
{
	struct fault_attr *fa;
	uint32_t level;

	if (!__atomic_load_n(&armed, __ATOMIC_ACQUIRE) || !faultinj_armed(site))
		return false;
	fa = &sites[site];
	if (!fault_attr_should_fail(fa, size))
		return false;
	level = __atomic_load_n(&fa->k.verbose, __ATOMIC_RELAXED);
	if (level)
		verbose_line(fa, level, __atomic_load_n(&fa->failures, __ATOMIC_RELAXED), size, what);
	return true;
}

uint64_t faultinj_calls(enum faultinj_site site)
{
	return site < FAULTINJ_NR ? __atomic_load_n(&sites[site].calls, __ATOMIC_RELAXED) : 0;
}

uint64_t faultinj_failures(enum faultinj_site site)
{
	return site < FAULTINJ_NR ? __atomic_load_n(&sites[site].failures, __ATOMIC_RELAXED) : 0;
}

void faultinj_report(void)
{
	for (unsigned i = 0; i < FAULTINJ_NR; i++)
		if (given_any[i])
			kprintf("# faultinj %s calls %lu failures %lu\n", site_names[i],
				faultinj_calls(i), faultinj_failures(i));
}
