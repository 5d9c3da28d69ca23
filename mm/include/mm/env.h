/*
 * mm/env.h — the services mm/ needs from whoever hosts it.
 *
 * mm/ is freestanding C11. Everything it needs from its surroundings is declared here and
 * implemented three times: by the guest kernel (guest/), by the VMM (vmm/) and by the test
 * harness (tests/lib/mm_env_test.c). The freestanding library's only undefined symbols are the
 * functions below and memcpy/memset/memmove/memcmp; a ctest case (mm_freestanding_symbols)
 * enforces that.
 *
 * Contracts:
 *  - mm_env_bug() never returns: a broken invariant (a bug in mm/ or memory corruption).
 *  - mm_env_report() is for bad arguments from a caller: the function that calls it then returns
 *    -MM_EINVAL (see MM_INVAL). It must not allocate from mm/ and may be called with mm/ locks held.
 *  - Locks are non-recursive mutual exclusion; mm/ never sleeps while holding one. struct mm_lock's
 *    layout is fixed here so mm/ can embed it; only the environment interprets the word.
 *  - Per-CPU sections: between mm_env_cpu_enter() and mm_env_cpu_exit() the caller has exclusive
 *    use of CPU id's per-CPU data (the guest disables interrupts; hosted environments give every
 *    thread its own id). Sections do not nest. The id is < MM_MAX_CPUS. Hosted builds define
 *    MM_ENV_HOSTED and get the inline version below.
 */
#ifndef MM_ENV_H
#define MM_ENV_H

#include "types.h"
#include "errno.h"

struct mm_lock {
	uint32_t word;
	uint32_t owner;     /* environment's debugging aid (e.g. owner CPU + 1); 0 = free */
};
_Static_assert(sizeof(struct mm_lock) == 8, "struct mm_lock is part of mm/'s embedded layout");

__attribute__((noreturn)) void mm_env_bug(const char *file, int line, const char *what);
void mm_env_report(const char *func, const char *what);

void mm_env_lock_init(struct mm_lock *lock);

#ifdef MM_ENV_HOSTED
/*
 * Hosted locks: the uncontended acquire and the release are inline (one exchange, one store),
 * so zone and slab-node locks cost no call; mm_env_lock_contended() spins and yields.
 */
void mm_env_lock_contended(struct mm_lock *lock);

static inline void mm_env_lock(struct mm_lock *lock)
{
	if (__builtin_expect(__atomic_exchange_n(&lock->word, 1, __ATOMIC_ACQUIRE) != 0, 0))
		mm_env_lock_contended(lock);
}

static inline void mm_env_unlock(struct mm_lock *lock)
{
	__atomic_store_n(&lock->word, 0, __ATOMIC_RELEASE);
}

/*
 * Hosted environments (VMM, tests, benchmarks) give every thread its own CPU id, so a per-CPU
 * section needs no interrupt masking and the fast paths of slab and the per-CPU page lists stay
 * inline: one thread-local load. The environment defines mm_env_cpu_plus1 (0 until the thread's
 * first section) and mm_env_cpu_claim(), which assigns an id < MM_MAX_CPUS.
 */
extern _Thread_local unsigned mm_env_cpu_plus1;
unsigned mm_env_cpu_claim(void);

static inline unsigned mm_env_cpu_enter(unsigned long *flags)
{
	unsigned c = mm_env_cpu_plus1;

	*flags = 0;
	if (__builtin_expect(c == 0, 0))
		c = mm_env_cpu_claim() + 1;
	return c - 1;
}

static inline void mm_env_cpu_exit(unsigned long flags)
{
	(void)flags;
}
#else
void mm_env_lock(struct mm_lock *lock);
void mm_env_unlock(struct mm_lock *lock);
unsigned mm_env_cpu_enter(unsigned long *flags);
void mm_env_cpu_exit(unsigned long flags);
#endif

/* BUG_ON for invariants: a true condition means mm/ itself (or its memory) is broken. */
#define MM_BUG_ON(cond) \
	do { \
		if (mm_unlikely(cond)) \
			mm_env_bug(__FILE__, __LINE__, #cond); \
	} while (0)

/* Bad argument from the caller: report what is wrong and evaluate to -MM_EINVAL. */
#define MM_INVAL(what) (mm_env_report(__func__, (what)), -MM_EINVAL)

#endif /* MM_ENV_H */
