/*
 * test_faultinj.c — the host fault-injection registry (vmm/faultinj.c): the --fault-inject
 * parser (every error names the bad key or value), arming a site, its counters, and the
 * run-wide seed. What each site does to guest memory is tested in test_gmem.c / test_swap.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "faultinj.h"
#include "mvtest.h"

/* Parse arg, expecting -EINVAL and a message containing `text`. */
#define CHECK_PARSE_FAILS(arg, text) \
	do { \
		struct faultinj_spec sp_; \
		mv_error_clear(); \
		CHECK_EQ(faultinj_parse((arg), &sp_), -EINVAL); \
		CHECK_CONTAINS(mv_error(), (text)); \
	} while (0)

TEST(parse_rejects_empty_unknown_site_and_empty_items)
{
	CHECK_PARSE_FAILS("", "--fault-inject: empty value");
	CHECK_PARSE_FAILS(NULL, "--fault-inject: empty value");
	CHECK_PARSE_FAILS("disk", "unknown site 'disk'");
	CHECK_PARSE_FAILS("mmap2", "unknown site 'mmap2'");
	CHECK_PARSE_FAILS(",times=1", "unknown site ''");
	CHECK_PARSE_FAILS("mmap,", "empty option after ','");
	CHECK_PARSE_FAILS("mmap,,times=1", "empty option after ','");
	CHECK_PARSE_FAILS("mmap,times=1111111111111111111111111111111111111111111111111111111111111111",
			  "is too long");
}

TEST(parse_rejects_bad_keys_and_values_naming_them)
{
	CHECK_PARSE_FAILS("mmap,often=1", "unknown key 'often'");
	CHECK_PARSE_FAILS("mmap,times", "times needs a value");
	CHECK_PARSE_FAILS("mmap,times=1,times=2", "times= is given twice");
	CHECK_PARSE_FAILS("mmap,probability=101", "probability='101' is not a number in 0..100");
	CHECK_PARSE_FAILS("mmap,probability=-1", "probability='-1' is not a number");
	CHECK_PARSE_FAILS("mmap,probability=", "probability='' is not a number");
	CHECK_PARSE_FAILS("mmap,interval=4294967296", "interval='4294967296'");
	CHECK_PARSE_FAILS("mmap,times=-2", "times='-2' is not a number in -1..");
	CHECK_PARSE_FAILS("mmap,space=-5", "space='-5'");
	CHECK_PARSE_FAILS("mmap,space=1k", "space='1k'");
	CHECK_PARSE_FAILS("mmap,verbose=3", "verbose='3' is not a number in 0..2");
	CHECK_PARSE_FAILS("mmap,delay-us=5", "delay-us applies only to site slow-fault, not mmap");
	CHECK_PARSE_FAILS("slow-fault,delay-us=0", "delay-us='0' is not a number in 1..1000000");
	CHECK_PARSE_FAILS("slow-fault,delay-us=1000001", "delay-us='1000001'");
}

TEST(parse_bare_site_fails_its_next_call_once)
{
	struct faultinj_spec sp;

	CHECK_EQ(faultinj_parse("swap-write-eio", &sp), 0);
	CHECK_EQ(sp.site, FI_SWAP_WRITE_EIO);
	CHECK_EQ_U(sp.k.probability, 100);
	CHECK_EQ_U(sp.k.interval, 1);
	CHECK_EQ(sp.k.times, 1);
	CHECK_EQ(sp.k.space, 0);
	CHECK_EQ_U(sp.k.verbose, 1);
	CHECK(!sp.delay_given);
}

TEST(parse_every_key)
{
	struct faultinj_spec sp;

	CHECK_EQ(faultinj_parse("slow-fault,probability=1,interval=7,times=-1,space=65536,"
				"verbose=2,delay-us=2500", &sp), 0);
	CHECK_EQ(sp.site, FI_SLOW_FAULT);
	CHECK_EQ_U(sp.k.probability, 1);
	CHECK_EQ_U(sp.k.interval, 7);
	CHECK_EQ(sp.k.times, -1);
	CHECK_EQ(sp.k.space, 65536);
	CHECK_EQ_U(sp.k.verbose, 2);
	CHECK(sp.delay_given);
	CHECK_EQ_U(sp.delay_us, 2500);
}

TEST(every_site_has_a_name_that_parses_back_and_help_lists_it)
{
	char buf[4096] = { 0 };
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	CHECK_NOT_NULL(f);
	faultinj_print_help(f);
	fclose(f);
	for (unsigned s = 0; s < FI_NR_SITES; s++) {
		const char *n = faultinj_site_name(s);

		CHECK_EQ(faultinj_site_by_name(n, strlen(n)), (int)s);
		CHECK_CONTAINS(buf, n);
		CHECK_CONTAINS(buf, faultinj_site_help(s));
	}
	CHECK_EQ(faultinj_site_by_name("mmap", 3), -1);
}

TEST(apply_arms_the_site_and_counts_calls_and_failures)
{
	struct faultinj fi;
	struct faultinj_spec sp;
	uint64_t calls, failures;

	faultinj_init(&fi, 1);
	CHECK(!faultinj_should_fail(&fi, FI_MMAP, 1, "test at", 0));       /* off by default */
	CHECK_EQ(faultinj_parse("mmap,times=2,verbose=0", &sp), 0);
	CHECK_EQ(faultinj_apply(&fi, &sp), 0);
	CHECK(faultinj_should_fail(&fi, FI_MMAP, 1, "test at", 0));
	CHECK(faultinj_should_fail(&fi, FI_MMAP, 1, "test at", 0));
	CHECK(!faultinj_should_fail(&fi, FI_MMAP, 1, "test at", 0));       /* times spent */
	CHECK(!faultinj_should_fail(&fi, FI_SWAP_READ_EIO, 1, "test at", 0));  /* others off */
	faultinj_counts(&fi, FI_MMAP, &calls, &failures);
	CHECK_EQ_U(calls, 4);
	CHECK_EQ_U(failures, 2);
	CHECK(!faultinj_should_fail(NULL, FI_MMAP, 1, "test at", 0));      /* no registry */
	CHECK_EQ_U(faultinj_delay_us(NULL), 0);
	CHECK_EQ_U(faultinj_delay_us(&fi), FAULTINJ_DEFAULT_DELAY_US);
	faultinj_destroy(&fi);
}

TEST(apply_refuses_what_check_refuses_and_leaves_the_site)
{
	struct faultinj fi;
	struct faultinj_spec sp = { .site = FI_MMAP, .k = { .probability = 200, .interval = 1 } };
	struct fault_knobs k;

	faultinj_init(&fi, 1);
	CHECK_EQ(faultinj_apply(&fi, &sp), -EINVAL);
	CHECK_CONTAINS(mv_error(), "mmap: probability=200 is not in 0..100");
	sp.k.probability = 5;
	sp.k.times = -3;
	CHECK_EQ(faultinj_apply(&fi, &sp), -EINVAL);
	CHECK_CONTAINS(mv_error(), "times=-3");
	sp.k.times = 1;
	sp.k.verbose = 9;
	CHECK_EQ(faultinj_apply(&fi, &sp), -EINVAL);
	CHECK_CONTAINS(mv_error(), "verbose=9");
	fault_attr_get(&fi.site[FI_MMAP], &k);
	CHECK_EQ_U(k.probability, 0);
	faultinj_destroy(&fi);
}

/* The same seed gives the same decisions; sites draw from streams of their own. */
static uint64_t pattern_of(uint64_t seed, enum faultinj_site s)
{
	struct faultinj fi;
	struct faultinj_spec sp = { .site = s, .k = { .probability = 50, .interval = 1,
						      .times = -1 } };
	uint64_t bits = 0;

	faultinj_init(&fi, seed);
	CHECK_EQ(faultinj_apply(&fi, &sp), 0);
	for (unsigned i = 0; i < 64; i++)
		bits |= (uint64_t)faultinj_should_fail(&fi, s, 1, "test at", i) << i;
	faultinj_destroy(&fi);
	return bits;
}

TEST(seed_makes_a_run_reproducible)
{
	struct faultinj fi;
	struct faultinj_spec sp = { .site = FI_MMAP, .k = { .probability = 50, .interval = 1,
							    .times = -1 } };
	uint64_t a = 0, b = 0;

	CHECK_EQ_U(pattern_of(5, FI_MMAP), pattern_of(5, FI_MMAP));
	CHECK(pattern_of(5, FI_MMAP) != pattern_of(6, FI_MMAP));
	CHECK(pattern_of(5, FI_MMAP) != pattern_of(5, FI_FRAME_ALLOC));
	/* reseeding restarts the stream */
	faultinj_init(&fi, 5);
	CHECK_EQ(faultinj_apply(&fi, &sp), 0);
	for (unsigned i = 0; i < 64; i++)
		a |= (uint64_t)faultinj_should_fail(&fi, FI_MMAP, 1, "test at", i) << i;
	faultinj_reseed(&fi, 5);
	for (unsigned i = 0; i < 64; i++)
		b |= (uint64_t)faultinj_should_fail(&fi, FI_MMAP, 1, "test at", i) << i;
	CHECK_EQ_U(a, b);
	CHECK_EQ_U(a, pattern_of(5, FI_MMAP));
	faultinj_destroy(&fi);
}
