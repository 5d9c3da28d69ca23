/*
 * guest/env.c — the services mm/ needs from its host (mm/env.h), for the guest kernel.
 *
 *   mm_env_bug     "Bail out! mm BUG at file:line: what" on the serial port, exit
 *                  MV_GUEST_EXIT_BAIL: a broken mm/ invariant ends the run, never hangs it.
 *   mm_env_report  "# mm: func: what" (a caller passed a bad argument; mm/ returns -MM_EINVAL).
 *   locks          test-and-set spinlocks with `pause` while waiting. They do not touch the
 *                  interrupt flag: mm/ takes zone and slab-node locks only inside a per-CPU
 *                  section, which already runs with interrupts off (below).
 *   per-CPU        mm_env_cpu_enter saves RFLAGS and disables interrupts, so nothing on this
 *                  CPU can enter a second section (sections do not nest, mm/env.h) and the CPU
 *                  cannot change under the caller; the id is cpu_id(). mm_env_cpu_exit restores
 *                  the saved interrupt flag.
 *
 * cpu_id() belongs to the SMP code (guest/smp.c): one GS-relative load.
 *
 * Lock order: none of its own; these are mm/'s locks.
 */
#include <memvisor/layout.h>

#include <mm/env.h>

#include "mem.h"

void mm_env_bug(const char *file, int line, const char *what)
{
	__asm__ volatile("cli");
	kprintf("Bail out! mm BUG at %s:%d: %s\n", file, line, what);
	guest_exit(MV_GUEST_EXIT_BAIL);
}

void mm_env_report(const char *func, const char *what)
{
	kprintf("# mm: %s: %s\n", func, what);
}

void mm_env_lock_init(struct mm_lock *lock)
{
	__atomic_store_n(&lock->word, 0, __ATOMIC_RELAXED);
	lock->owner = 0;
}

void mm_env_lock(struct mm_lock *lock)
{
	while (__atomic_exchange_n(&lock->word, 1, __ATOMIC_ACQUIRE) != 0)
		/* Wait on a plain load (no bus-locked write per spin) until it looks free. */
		while (__atomic_load_n(&lock->word, __ATOMIC_RELAXED) != 0)
			__builtin_ia32_pause();
	lock->owner = cpu_id() + 1;
}

void mm_env_unlock(struct mm_lock *lock)
{
	lock->owner = 0;
	__atomic_store_n(&lock->word, 0, __ATOMIC_RELEASE);
}

unsigned mm_env_cpu_enter(unsigned long *flags)
{
	uint64_t rflags;

	__asm__ volatile("pushfq; popq %0; cli" : "=r"(rflags) : : "memory");
	*flags = (unsigned long)rflags;
	return cpu_id();
}

void mm_env_cpu_exit(unsigned long flags)
{
	if (flags & RFLAGS_IF)
		__asm__ volatile("sti" : : : "memory");
	else
		__asm__ volatile("" : : : "memory");
}
