/*
 * mm_env_host.c — the parts of mm/env.h that every hosted program shares (the VMM, tests,
 * benchmarks, fuzzers): locks and per-thread CPU ids. The BUG and report hooks differ per program
 * (the VMM logs and aborts; tests capture) and live with each program.
 *
 * - Locks: test-and-test-and-set spinlock (fast path inline in mm/env.h) with sched_yield()
 *   under contention. mm/ holds them only for short, non-sleeping sections.
 * - CPU ids: each thread gets its own id on first use (so per-CPU sections need no interrupt
 *   masking; mm_env_cpu_enter/exit are inline in mm/env.h for MM_ENV_HOSTED builds). Ids are
 *   recycled when a thread exits; its per-CPU caches pass to the next thread that gets the id.
 *   More than MM_MAX_CPUS live threads using mm/ at once aborts.
 */
#include <mm/env.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

void mm_env_lock_init(struct mm_lock *lock)
{
	lock->word = 0;
	lock->owner = 0;
}

/* The inline fast path in env.h lost the exchange: spin on plain loads, yield when long. */
void mm_env_lock_contended(struct mm_lock *lock)
{
	do {
		for (unsigned spins = 0; __atomic_load_n(&lock->word, __ATOMIC_RELAXED); spins++)
			if (spins > 64)
				sched_yield();
	} while (__atomic_exchange_n(&lock->word, 1, __ATOMIC_ACQUIRE) != 0);
}

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
			fprintf(stderr, "memvisor: more than %d live threads use mm/\n", MM_MAX_CPUS);
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

