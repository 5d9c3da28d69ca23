/*
 * tests/unit/test_fault_attr.c — mm/fault_attr: Linux's fault-injection knobs, decided the way
 * lib/fault-inject.c's should_fail_ex() decides (times, then space, then interval, then
 * probability), the boot-parameter parser, and concurrent callers.
 */
#include <pthread.h>
#include <string.h>

#include "mm/fault_attr.h"
#include "mvtest.h"

static struct fault_knobs knobs(uint32_t probability, uint32_t interval, int64_t times,
				int64_t space)
{
	struct fault_knobs k = { probability, interval, times, space, 1, 0 };
	return k;
}

static void set(struct fault_attr *fa, struct fault_knobs k)
{
	int err = fault_attr_set(fa, &k);

	CHECK_EQ(err, 0);
}

/* Count failures in n calls of size bytes. */
static unsigned fails(struct fault_attr *fa, unsigned n, uint64_t size)
{
	unsigned f = 0;

	for (unsigned i = 0; i < n; i++)
		f += fault_attr_should_fail(fa, size);
	return f;
}

TEST(set_rejects_out_of_range_knobs)
{
	struct fault_attr fa;
	struct fault_knobs k, got;

	fault_attr_init(&fa, "site", 1);
	k = knobs(101, 1, 1, 0);
	CHECK_EQ(fault_attr_set(&fa, &k), -MM_EINVAL);
	CHECK_REPORTED("probability");
	k = knobs(50, 1, -2, 0);
	CHECK_EQ(fault_attr_set(&fa, &k), -MM_EINVAL);
	CHECK_REPORTED("times");
	k = knobs(50, 1, 1, -1);
	CHECK_EQ(fault_attr_set(&fa, &k), -MM_EINVAL);
	CHECK_REPORTED("space");
	k = knobs(50, 1, 1, 0);
	k.verbose = 3;
	CHECK_EQ(fault_attr_set(&fa, &k), -MM_EINVAL);
	CHECK_REPORTED("verbose");
	fault_attr_get(&fa, &got);          /* unchanged: Linux's defaults */
	CHECK_EQ(got.probability, 0);
	CHECK_EQ(got.interval, 1);
	CHECK_EQ(got.times, 1);
	CHECK_EQ(got.space, 0);
}

TEST(defaults_never_fail)
{
	struct fault_attr fa;

	fault_attr_init(&fa, "site", 1);
	CHECK_EQ(fails(&fa, 1000, 1), 0);
	CHECK_EQ_U(fa.calls, 1000);
	CHECK_EQ_U(fa.failures, 0);
}

TEST(times_bounds_the_failures_and_minus_one_is_unlimited)
{
	struct fault_attr fa;
	struct fault_knobs got;

	fault_attr_init(&fa, "site", 1);
	set(&fa, knobs(100, 1, 3, 0));
	CHECK_EQ(fails(&fa, 10, 1), 3);
	CHECK(!fault_attr_should_fail(&fa, 1));     /* spent: times == 0 */
	fault_attr_get(&fa, &got);
	CHECK_EQ(got.times, 0);
	set(&fa, knobs(100, 1, FAULT_ATTR_TIMES_UNLIMITED, 0));
	CHECK_EQ(fails(&fa, 1000, 1), 1000);
	fault_attr_get(&fa, &got);
	CHECK_EQ(got.times, -1);
	CHECK_EQ_U(fa.failures, 1003);
}

TEST(space_lets_that_many_bytes_pass_first)
{
	struct fault_attr fa;

	/* Linux: while space > size, subtract size and pass. 10000 bytes of 4096-byte calls: the
	 * first two pass (10000 -> 5904 -> 1808), the third (1808 <= 4096) may fail. */
	fault_attr_init(&fa, "site", 1);
	set(&fa, knobs(100, 1, -1, 10000));
	CHECK(!fault_attr_should_fail(&fa, 4096));
	CHECK(!fault_attr_should_fail(&fa, 4096));
	CHECK(fault_attr_should_fail(&fa, 4096));
	/* the failing call took nothing: a small call is still paid from the 1808 left */
	CHECK(!fault_attr_should_fail(&fa, 1));
	CHECK(fault_attr_should_fail(&fa, 1807));   /* 1807 left, not > 1807 */
}

TEST(interval_fails_only_every_nth_call)
{
	struct fault_attr fa;

	fault_attr_init(&fa, "site", 1);
	set(&fa, knobs(100, 4, -1, 0));
	for (unsigned i = 1; i <= 20; i++)
		CHECK_EQ(fault_attr_should_fail(&fa, 1), i % 4 == 0);
}

TEST(probability_is_a_percentage_and_a_seed_repeats_a_run)
{
	struct fault_attr a, b;
	unsigned fa_, n = 100000;
	bool same = true;

	fault_attr_init(&a, "a", 42);
	fault_attr_init(&b, "b", 42);
	set(&a, knobs(1, 1, -1, 0));
	set(&b, knobs(1, 1, -1, 0));
	fa_ = 0;
	for (unsigned i = 0; i < n; i++) {
		bool x = fault_attr_should_fail(&a, 1), y = fault_attr_should_fail(&b, 1);

		fa_ += x;
		same &= x == y;
	}
	CHECK(same);
	/* 1% of 100,000: mean 1000, sd ~31.5; +-200 is over 6 sd */
	CHECK_GT(fa_, 800);
	CHECK_LT(fa_, 1200);
	fault_attr_reseed(&b, 43);                  /* another seed, another stream */
	same = true;
	for (unsigned i = 0; i < n; i++)
		same &= fault_attr_should_fail(&a, 1) == fault_attr_should_fail(&b, 1);
	CHECK(!same);
}

TEST(fifty_percent_fails_about_half)
{
	struct fault_attr fa;
	unsigned f;

	fault_attr_init(&fa, "site", 7);
	set(&fa, knobs(50, 1, -1, 0));
	f = fails(&fa, 100000, 1);
	CHECK_GT(f, 49000);                 /* sd ~158 */
	CHECK_LT(f, 51000);
}

TEST(parse_linux_boot_form)
{
	struct fault_knobs k = knobs(0, 1, 1, 0);
	static const struct { const char *s, *what; } bad[] = {
		{ "", "interval" }, { "1,100,0", "four" }, { "1,100,0,1,", "after" },
		{ "x,100,0,1", "interval" }, { "4294967296,1,0,1", "interval" },
		{ "1,101,0,1", "probability" }, { "1,-1,0,1", "probability" },
		{ "1,100,-5,1", "space" }, { "1,100,0,-2", "times" }, { "1,100,0,", "times" },
		{ "1 ,100,0,1", "four" }, { "1,100,99999999999999999999,1", "space" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(fault_knobs_parse_linux(&k, bad[i].s, strlen(bad[i].s)), -MM_EINVAL);
		CHECK_REPORTED(bad[i].what);
	}
	CHECK_EQ(k.probability, 0);         /* untouched by the failures */
	CHECK_EQ(fault_knobs_parse_linux(&k, "10,25,4096,-1", 13), 0);
	CHECK_EQ(k.interval, 10);
	CHECK_EQ(k.probability, 25);
	CHECK_EQ(k.space, 4096);
	CHECK_EQ(k.times, -1);
	CHECK_EQ(fault_knobs_parse_linux(&k, "1,100,0,1 trailing", 9), 0);  /* len bounds it */
	CHECK_EQ(k.times, 1);
}

/* ---- concurrency: times is never overspent, whatever the interleaving ----------------------- */

struct racer { struct fault_attr *fa; unsigned fails; };

static void *race(void *arg)
{
	struct racer *r = arg;

	r->fails = fails(r->fa, 200000, 1);
	return NULL;
}

TEST(concurrent_callers_never_exceed_times)
{
	struct fault_attr fa;
	struct racer r[4];
	pthread_t t[4];
	unsigned total = 0;

	fault_attr_init(&fa, "site", 3);
	set(&fa, knobs(30, 1, 5000, 0));
	for (unsigned i = 0; i < 4; i++) {
		r[i].fa = &fa;
		CHECK_EQ(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += r[i].fails;
	}
	CHECK_EQ(total, 5000);
	CHECK_EQ_U(fa.failures, 5000);
	CHECK_EQ_U(fa.calls, 800000);
}
