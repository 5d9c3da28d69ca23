/*
 * mvtest.h — the unit-test harness: registration, assertions that print both values, and
 * helpers to expect a BUG or a bad-argument report from mm/.
 *
 *   TEST(buddy_split) { CHECK_EQ(buddy_free_pages(&b), 1024); }
 *
 * Each TEST() becomes its own ctest case: mv_add_test_binary() in cmake/memvisor.cmake scans the
 * sources for lines starting with `TEST(name)` and registers `<binary> name` under that name.
 * Run `./test_buddy` for every test, `./test_buddy NAME` for one, `./test_buddy --list` to list.
 *
 * A failed CHECK ends the current test (longjmp back to the runner) after printing
 * file:line, the expression and both values.
 */
#ifndef MVTEST_H
#define MVTEST_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*mvt_fn)(void);
void mvt_register(const char *name, mvt_fn fn);
int mvt_main(int argc, char **argv);
__attribute__((noreturn)) void mvt_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define TEST(name) \
	static void mvt_test_##name(void); \
	__attribute__((constructor)) static void mvt_reg_##name(void) \
	{ mvt_register(#name, mvt_test_##name); } \
	static void mvt_test_##name(void)

#define CHECK(cond) \
	do { if (!(cond)) mvt_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond); } while (0)

#define MVT_CMP_(a, op, b, T, fmt) \
	do { \
		T mvt_a_ = (T)(a); \
		T mvt_b_ = (T)(b); \
		if (!(mvt_a_ op mvt_b_)) \
			mvt_fail(__FILE__, __LINE__, "CHECK(%s %s %s) failed: " fmt " vs " fmt, \
				 #a, #op, #b, mvt_a_, mvt_b_); \
	} while (0)

/* Signed and unsigned comparisons; both values are printed on failure. */
#define CHECK_EQ(a, b)  MVT_CMP_(a, ==, b, long long, "%lld")
#define CHECK_NE(a, b)  MVT_CMP_(a, !=, b, long long, "%lld")
#define CHECK_LT(a, b)  MVT_CMP_(a, <,  b, long long, "%lld")
#define CHECK_LE(a, b)  MVT_CMP_(a, <=, b, long long, "%lld")
#define CHECK_GT(a, b)  MVT_CMP_(a, >,  b, long long, "%lld")
#define CHECK_GE(a, b)  MVT_CMP_(a, >=, b, long long, "%lld")
#define CHECK_EQ_U(a, b) MVT_CMP_(a, ==, b, unsigned long long, "%#llx")
#define CHECK_NE_U(a, b) MVT_CMP_(a, !=, b, unsigned long long, "%#llx")
#define CHECK_EQ_PTR(a, b) MVT_CMP_(a, ==, b, const void *, "%p")
#define CHECK_NULL(a)     CHECK_EQ_PTR(a, NULL)
#define CHECK_NOT_NULL(a) MVT_CMP_(a, !=, NULL, const void *, "%p")
#define CHECK_STREQ(a, b) \
	do { \
		const char *mvt_a_ = (a), *mvt_b_ = (b); \
		if (strcmp(mvt_a_, mvt_b_) != 0) \
			mvt_fail(__FILE__, __LINE__, "CHECK_STREQ(%s, %s) failed: \"%s\" vs \"%s\"", \
				 #a, #b, mvt_a_, mvt_b_); \
	} while (0)

/* a contains b (a substring check, e.g. on an error message); both strings are printed. */
#define CHECK_CONTAINS(a, b) \
	do { \
		const char *mvt_a_ = (a), *mvt_b_ = (b); \
		if (!strstr(mvt_a_, mvt_b_)) \
			mvt_fail(__FILE__, __LINE__, "CHECK_CONTAINS(%s, %s) failed: \"%s\" lacks \"%s\"", \
				 #a, #b, mvt_a_, mvt_b_); \
	} while (0)

/*
 * Bad-argument reports (mm_env_report) and BUGs (mm_env_bug) raised by mm/ are captured:
 *
 *   CHECK_EQ(buddy_free_pfn(&b, 7, 0), -MM_EINVAL);
 *   CHECK_REPORTED("not allocated");          // last report's text contains this
 *   CHECK_BUG(buddy_check_corrupt(&b));       // the statement must hit MM_BUG_ON
 *
 * Reports are printed only with MVTEST_VERBOSE=1 in the environment.
 */
const char *mvt_last_report(void);      /* "func: what" of the last report, "" if none */
unsigned mvt_report_count(void);        /* reports since the current test started */
void mvt_clear_reports(void);

#define CHECK_REPORTED(substr) \
	do { \
		const char *mvt_r_ = mvt_last_report(); \
		if (!strstr(mvt_r_, (substr))) \
			mvt_fail(__FILE__, __LINE__, "expected a report containing \"%s\", last was \"%s\"", \
				 (substr), mvt_r_); \
	} while (0)

extern __thread jmp_buf *mvt_bug_jmp;     /* armed by CHECK_BUG */
extern __thread const char *mvt_bug_what;  /* the condition text of the last BUG caught */

#define CHECK_BUG(stmt) \
	do { \
		jmp_buf mvt_jb_; \
		mvt_bug_what = NULL; \
		mvt_bug_jmp = &mvt_jb_; \
		if (setjmp(mvt_jb_) == 0) { \
			stmt; \
			mvt_bug_jmp = NULL; \
			mvt_fail(__FILE__, __LINE__, "expected MM_BUG_ON from %s", #stmt); \
		} \
		mvt_bug_jmp = NULL; \
	} while (0)

/* Deterministic PRNG for model-based tests (splitmix64 seeded, xorshift-star). */
struct mvt_rng { uint64_t s; };
static inline void mvt_rng_seed(struct mvt_rng *r, uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	r->s = (z ^ (z >> 31)) | 1;
}
static inline uint64_t mvt_rng_next(struct mvt_rng *r)
{
	r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}
static inline uint64_t mvt_rng_below(struct mvt_rng *r, uint64_t n)
{
	return n ? mvt_rng_next(r) % n : 0;
}

#endif /* MVTEST_H */
