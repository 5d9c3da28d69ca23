/*
 * faultinj.c — the host fault-injection registry (faultinj.h): site names, the --fault-inject
 * parser, arming sites, the decision with its verbose line, and the end-of-run counts.
 *
 * Owns: the struct fault_attr of every site, slow-fault's delay, the verbose log's rate limit.
 * Lock order: log_lock is a leaf, taken only to print a verbose line; the decisions are
 * lock-free (mm/fault_attr.c).
 */
#include "faultinj.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

#define FI_OPT_MAX 64                   /* longest KEY=VALUE item accepted */

static const struct {
	const char *name;
	const char *help;
} sites[FI_NR_SITES] = {
	[FI_FRAME_ALLOC]       = { "frame-alloc", "a frame pool acts empty for one allocation" },
	[FI_SWAP_WRITE_EIO]    = { "swap-write-eio", "a swap write fails with EIO (nothing written)" },
	[FI_SWAP_WRITE_ENOSPC] = { "swap-write-enospc",
				   "a swap write fails with ENOSPC (nothing written)" },
	[FI_SWAP_WRITE_SHORT]  = { "swap-write-short",
				   "a swap pwrite writes half, the continuation fails with ENOSPC" },
	[FI_SWAP_READ_EIO]     = { "swap-read-eio", "a swap read fails with EIO (nothing read)" },
	[FI_UFFD_EAGAIN]       = { "uffd-eagain", "UFFDIO_WAKE fails with EAGAIN (transient)" },
	[FI_UFFD_FAIL]         = { "uffd-fail",
				   "UFFDIO_WAKE / UFFDIO_REGISTER fail with EINVAL (hard)" },
	[FI_MMAP]              = { "mmap", "mapping pool frames over guest RAM fails with ENOMEM" },
	[FI_SLOW_FAULT]        = { "slow-fault", "fault service sleeps delay-us before serving" },
};

void faultinj_init(struct faultinj *fi, uint64_t seed)
{
	memset(fi, 0, sizeof(*fi));
	fi->seed = seed;
	fi->delay_us = FAULTINJ_DEFAULT_DELAY_US;
	pthread_mutex_init(&fi->log_lock, NULL);
	/* every site its own stream: the same seed must not make the sites fail in lockstep */
	for (unsigned s = 0; s < FI_NR_SITES; s++)
		fault_attr_init(&fi->site[s], sites[s].name, seed * FI_NR_SITES + s);
}

void faultinj_destroy(struct faultinj *fi)
{
	pthread_mutex_destroy(&fi->log_lock);
}

void faultinj_reseed(struct faultinj *fi, uint64_t seed)
{
	fi->seed = seed;
	for (unsigned s = 0; s < FI_NR_SITES; s++)
		fault_attr_reseed(&fi->site[s], seed * FI_NR_SITES + s);
}

int faultinj_site_by_name(const char *name, size_t len)
{
	for (unsigned s = 0; s < FI_NR_SITES; s++)
		if (strlen(sites[s].name) == len && memcmp(sites[s].name, name, len) == 0)
			return (int)s;
	return -1;
}

const char *faultinj_site_name(enum faultinj_site s)
{
	return (unsigned)s < FI_NR_SITES ? sites[s].name : "?";
}

const char *faultinj_site_help(enum faultinj_site s)
{
	return (unsigned)s < FI_NR_SITES ? sites[s].help : "?";
}

void faultinj_print_help(FILE *f)
{
	fputs("fault-injection sites (docs/fault-injection.md):\n", f);
	for (unsigned s = 0; s < FI_NR_SITES; s++)
		fprintf(f, "  %-18s %s\n", sites[s].name, sites[s].help);
	fputs("keys: probability=0..100 (100), interval=N (1), times=-1|N (1), space=BYTES (0),\n"
	      "      verbose=0..2 (1), delay-us=1..1000000 (slow-fault only, 1000)\n", f);
}

/* ---- parsing -------------------------------------------------------------------------------- */

/* A decimal integer in [lo, hi], the whole of s. */
static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *v)
{
	char *end;
	long long x;

	if (!*s)
		return false;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return false;
	*v = x;
	return true;
}

int faultinj_check(const struct faultinj_spec *spec, const char *who)
{
	const struct fault_knobs *k = &spec->k;

	if ((unsigned)spec->site >= FI_NR_SITES)
		return mv_fail(EINVAL, "%s: no such site", who);
	if (k->probability > FAULT_ATTR_PROBABILITY_MAX)
		return mv_fail(EINVAL, "%s: probability=%" PRIu32 " is not in 0..100", who,
			       k->probability);
	if (k->times < FAULT_ATTR_TIMES_UNLIMITED)
		return mv_fail(EINVAL, "%s: times=%" PRId64 " is not -1 or >= 0", who, k->times);
	if (k->space < 0)
		return mv_fail(EINVAL, "%s: space=%" PRId64 " is negative", who, k->space);
	if (k->verbose > 2)
		return mv_fail(EINVAL, "%s: verbose=%" PRIu32 " is not 0, 1 or 2", who, k->verbose);
	if (spec->delay_given && spec->site != FI_SLOW_FAULT)
		return mv_fail(EINVAL, "%s: delay-us applies only to site slow-fault, not %s", who,
			       sites[spec->site].name);
	if (spec->delay_given && (spec->delay_us < 1 || spec->delay_us > FAULTINJ_MAX_DELAY_US))
		return mv_fail(EINVAL, "%s: delay-us=%" PRIu64 " is not in 1..%u", who,
			       spec->delay_us, FAULTINJ_MAX_DELAY_US);
	return 0;
}

/* One KEY=VALUE item of --fault-inject; seen: bit per key already given. */
static int parse_item(const char *item, struct faultinj_spec *spec, unsigned *seen)
{
	static const char *const keys[] = { "probability", "interval", "times", "space", "verbose",
					    "delay-us" };
	static const int64_t lo[] = { 0, 0, -1, 0, 0, 1 };
	static const int64_t hi[] = { 100, UINT32_MAX, INT64_MAX, INT64_MAX, 2,
				      FAULTINJ_MAX_DELAY_US };
	const char *eq = strchr(item, '=');
	size_t klen = eq ? (size_t)(eq - item) : strlen(item);
	int64_t v;
	unsigned i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i]) == klen && strncmp(item, keys[i], klen) == 0)
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return mv_fail(EINVAL, "--fault-inject: unknown key '%.*s' (known: probability, "
			       "interval, times, space, verbose, delay-us)", (int)klen, item);
	if (!eq)
		return mv_fail(EINVAL, "--fault-inject: %s needs a value (%s=N)", keys[i], keys[i]);
	if (*seen & (1u << i))
		return mv_fail(EINVAL, "--fault-inject: %s= is given twice", keys[i]);
	*seen |= 1u << i;
	if (!parse_i64(eq + 1, lo[i], hi[i], &v))
		return mv_fail(EINVAL, "--fault-inject: %s='%s' is not a number in %" PRId64 "..%"
			       PRId64, keys[i], eq + 1, lo[i], hi[i]);
	switch (i) {
	case 0: spec->k.probability = (uint32_t)v; break;
	case 1: spec->k.interval = (uint32_t)v; break;
	case 2: spec->k.times = v; break;
	case 3: spec->k.space = v; break;
	case 4: spec->k.verbose = (uint32_t)v; break;
	default:
		if (spec->site != FI_SLOW_FAULT)
			return mv_fail(EINVAL, "--fault-inject: delay-us applies only to site "
				       "slow-fault, not %s", sites[spec->site].name);
		spec->delay_given = true;
		spec->delay_us = (uint64_t)v;
		break;
	}
	return 0;
}

int faultinj_parse(const char *arg, struct faultinj_spec *spec)
{
	const char *comma, *item;
	unsigned seen = 0;
	size_t nlen;
	int site, err;

	memset(spec, 0, sizeof(*spec));
	spec->k = (struct fault_knobs){ .probability = 100, .interval = 1, .times = 1,
					.verbose = 1 };
	if (!arg || !*arg)
		return mv_fail(EINVAL, "--fault-inject: empty value (expected SITE[,KEY=VALUE...]; "
			       "--fault-inject help lists the sites)");
	comma = strchr(arg, ',');
	nlen = comma ? (size_t)(comma - arg) : strlen(arg);
	site = faultinj_site_by_name(arg, nlen);
	if (site < 0)
		return mv_fail(EINVAL, "--fault-inject: unknown site '%.*s' (--fault-inject help "
			       "lists them)", (int)nlen, arg);
	spec->site = (enum faultinj_site)site;
	for (item = comma; item; item = comma) {
		char buf[FI_OPT_MAX];
		size_t ilen;

		item++;
		comma = strchr(item, ',');
		ilen = comma ? (size_t)(comma - item) : strlen(item);
		if (ilen == 0)
			return mv_fail(EINVAL, "--fault-inject: empty option after ',' in '%s'", arg);
		if (ilen >= sizeof(buf))
			return mv_fail(EINVAL, "--fault-inject: option '%.24s...' is too long", item);
		memcpy(buf, item, ilen);
		buf[ilen] = '\0';
		err = parse_item(buf, spec, &seen);
		if (err)
			return err;
	}
	return 0;
}

int faultinj_apply(struct faultinj *fi, const struct faultinj_spec *spec)
{
	int err = faultinj_check(spec, faultinj_site_name(spec->site));

	if (err)
		return err;
	if (spec->delay_given)
		__atomic_store_n(&fi->delay_us, spec->delay_us, __ATOMIC_RELAXED);
	/* checked above: fault_attr_set cannot refuse it */
	if (fault_attr_set(&fi->site[spec->site], &spec->k))
		return mv_fail(EINVAL, "%s: the knobs were refused", sites[spec->site].name);
	return 0;
}

/* ---- the decision --------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void log_failure(struct faultinj *fi, enum faultinj_site s, const char *op, uint64_t addr,
			uint32_t verbose)
{
	uint64_t calls, failures, dropped = 0;
	bool opened, print;

	faultinj_counts(fi, s, &calls, &failures);
	pthread_mutex_lock(&fi->log_lock);
	print = ratelimit_take(&fi->rl, now_ns(), FAULTINJ_LOG_WINDOW_NS, FAULTINJ_LOG_BURST,
			       &opened);
	if (opened) {
		dropped = fi->suppressed;
		fi->suppressed = 0;
	}
	if (!print)
		fi->suppressed++;
	if (dropped)
		fprintf(stderr, "memvisor: fault injection: %" PRIu64 " lines suppressed\n",
			dropped);
	if (print && verbose >= 2)
		fprintf(stderr, "memvisor: fault injection: %s: %s 0x%" PRIx64 ": injected "
			"(calls %" PRIu64 ", failures %" PRIu64 ")\n", sites[s].name, op, addr,
			calls, failures);
	else if (print)
		fprintf(stderr, "memvisor: fault injection: %s: %s 0x%" PRIx64 ": injected\n",
			sites[s].name, op, addr);
	pthread_mutex_unlock(&fi->log_lock);
}

bool faultinj_should_fail(struct faultinj *fi, enum faultinj_site s, uint64_t size,
			  const char *op, uint64_t addr)
{
	uint32_t verbose;

	if (!fi || !fault_attr_should_fail(&fi->site[s], size))
		return false;
	verbose = __atomic_load_n(&fi->site[s].k.verbose, __ATOMIC_RELAXED);
	if (verbose)
		log_failure(fi, s, op, addr, verbose);
	return true;
}

uint64_t faultinj_delay_us(struct faultinj *fi)
{
	return fi ? __atomic_load_n(&fi->delay_us, __ATOMIC_RELAXED) : 0;
}

void faultinj_counts(struct faultinj *fi, enum faultinj_site s, uint64_t *calls,
		     uint64_t *failures)
{
	*calls = __atomic_load_n(&fi->site[s].calls, __ATOMIC_RELAXED);
	*failures = __atomic_load_n(&fi->site[s].failures, __ATOMIC_RELAXED);
}

void faultinj_print_stats(struct faultinj *fi, FILE *out)
{
	if (!fi)
		return;
	for (unsigned s = 0; s < FI_NR_SITES; s++) {
		struct fault_knobs k;
		uint64_t calls, failures;

		fault_attr_get(&fi->site[s], &k);
		faultinj_counts(fi, s, &calls, &failures);
		if (!k.probability && !failures)
			continue;
		fprintf(out, "  fault injection: %s: probability %" PRIu32 ", interval %" PRIu32
			", times %" PRId64 ", space %" PRId64 "; calls %" PRIu64 ", failures %"
			PRIu64 "\n", sites[s].name, k.probability, k.interval, k.times, k.space,
			calls, failures);
	}
}
