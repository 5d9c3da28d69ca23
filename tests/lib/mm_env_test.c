/*
 * mm_env_test.c — mm/env.h implemented for hosted tests, benchmarks and fuzzers.
 *
 * - mm_env_bug(): longjmps to an armed CHECK_BUG(), otherwise prints and aborts.
 * - mm_env_report(): remembers the last report per thread (mvt_last_report); prints it when
 *   MVTEST_VERBOSE is set.
 * - Locks: test-and-test-and-set spinlock with sched_yield() under contention.
 * - CPU ids: each thread gets its own id on first use (so per-CPU sections need no locking;
 *   mm_env_cpu_enter/exit are inline in mm/env.h for MM_ENV_HOSTED builds);
 *   more than MM_MAX_CPUS threads is a test bug and aborts.
 */
#include <mm/env.h>

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvtest.h"

__thread jmp_buf *mvt_bug_jmp;
__thread const char *mvt_bug_what;

static __thread char last_report[256];
static __thread unsigned report_count;

void mm_env_bug(const char *file, int line, const char *what)
{
	if (mvt_bug_jmp) {
		jmp_buf *jb = mvt_bug_jmp;

		mvt_bug_what = what;
		mvt_bug_jmp = NULL;
		longjmp(*jb, 1);
	}
	fprintf(stderr, "mm BUG at %s:%d: %s\n", file, line, what);
	abort();
}

void mm_env_report(const char *func, const char *what)
{
	snprintf(last_report, sizeof(last_report), "%s: %s", func, what);
	report_count++;
	if (getenv("MVTEST_VERBOSE"))
		fprintf(stderr, "mm report: %s\n", last_report);
}

const char *mvt_last_report(void) { return last_report; }
unsigned mvt_report_count(void) { return report_count; }
void mvt_clear_reports(void) { last_report[0] = '\0'; report_count = 0; }

void mm_env_lock_init(struct mm_lock *lock)
{
	lock->word = 0;
	lock->owner = 0;
}

void mm_env_lock(struct mm_lock *lock)
{
	for (;;) {
		if (__atomic_exchange_n(&lock->word, 1, __ATOMIC_ACQUIRE) == 0)
			return;
		for (unsigned spins = 0; __atomic_load_n(&lock->word, __ATOMIC_RELAXED); spins++)
			if (spins > 64)
				sched_yield();
	}
}

void mm_env_unlock(struct mm_lock *lock)
{
	__atomic_store_n(&lock->word, 0, __ATOMIC_RELEASE);
}

/* CPU ids are recycled when a thread exits (its per-CPU caches pass to the next thread). */
static uint64_t cpu_ids_used;
static pthread_key_t cpu_key;
static pthread_once_t cpu_key_once = PTHREAD_ONCE_INIT;
_Thread_local unsigned mm_env_cpu_plus1;

static void cpu_id_release(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg - 1;

	__atomic_fetch_and(&cpu_ids_used, ~(UINT64_C(1) << id), __ATOMIC_RELEASE);
}

static void cpu_key_create(void)
{
	if (pthread_key_create(&cpu_key, cpu_id_release) != 0)
		abort();
}

unsigned mm_env_cpu_claim(void)
{
	_Static_assert(MM_MAX_CPUS <= 64, "cpu_ids_used is one 64-bit word");
	pthread_once(&cpu_key_once, cpu_key_create);
	for (;;) {
		uint64_t used = __atomic_load_n(&cpu_ids_used, __ATOMIC_ACQUIRE);
		unsigned id;

		id = ~used ? (unsigned)__builtin_ctzll(~used) : 64;
		if (id >= MM_MAX_CPUS) {
			fprintf(stderr, "mm_env_test: more than %d live threads use mm/\n", MM_MAX_CPUS);
			abort();
		}
		if (__atomic_compare_exchange_n(&cpu_ids_used, &used, used | (UINT64_C(1) << id), false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			pthread_setspecific(cpu_key, (void *)(uintptr_t)(id + 1));
			mm_env_cpu_plus1 = id + 1;
			return id;
		}
	}
}

