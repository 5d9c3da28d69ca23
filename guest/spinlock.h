/*
 * guest/spinlock.h — ticket spinlocks for the guest kernel's CPUs.
 *
 * A lock is two counters: `next` hands out tickets, `owner` is the ticket being served. Taking
 * the lock takes a ticket and spins until owner reaches it, so CPUs get the lock in the order
 * they asked (fair under contention, which the smp scenario's counter test relies on). Releasing
 * advances owner. Both counters wrap at 2^32, far above the number of CPUs that can wait at once.
 *
 * spin_lock() leaves the interrupt flag alone: use it only where the lock is never taken from an
 * interrupt handler on the same CPU, or with interrupts already off. spin_lock_irqsave() turns
 * interrupts off first (a handler on this CPU that wants the lock would spin forever otherwise)
 * and returns the RFLAGS value spin_unlock_irqrestore() puts back.
 *
 * Memory order: taking a lock is an acquire (loads and stores inside the section stay after it),
 * releasing it a release. x86 gives both for plain loads and stores; the __atomic builtins also
 * keep the compiler from moving accesses across.
 */
#ifndef GUEST_SPINLOCK_H
#define GUEST_SPINLOCK_H

#include "kernel.h"

struct spinlock {
	uint32_t owner;             /* the ticket holding the lock (or next to get it) */
	uint32_t next;              /* the ticket the next spin_lock() takes */
};
_Static_assert(sizeof(struct spinlock) == 8, "a ticket lock is two 32-bit counters");

#define SPINLOCK_INIT { 0, 0 }

static inline void spin_lock(struct spinlock *l)
{
	uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);

	while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket)
		cpu_relax();
}

/* Take the lock only if nobody holds or waits for it; true when taken. */
static inline bool spin_trylock(struct spinlock *l)
{
	uint32_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
	uint32_t ticket = owner;

	/* next == owner means free: taking ticket `owner` makes this CPU the holder at once. */
	return __atomic_compare_exchange_n(&l->next, &ticket, owner + 1, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

static inline void spin_unlock(struct spinlock *l)
{
	/* Only the holder writes owner, so a plain read of it is its own latest value. */
	__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

static inline uint64_t spin_lock_irqsave(struct spinlock *l)
{
	uint64_t flags = irq_save();

	spin_lock(l);
	return flags;
}

static inline void spin_unlock_irqrestore(struct spinlock *l, uint64_t flags)
{
	spin_unlock(l);
	irq_restore(flags);
}

#endif /* GUEST_SPINLOCK_H */
