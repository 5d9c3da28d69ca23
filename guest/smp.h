/*
 * guest/smp.h — the guest's CPUs: per-CPU data, starting the APs, running a function on every
 * CPU, TLB shootdown, and stopping the APs before the guest exits (smp.c).
 *
 * CPU index = position among the MADT's enabled CPUs (struct topo's cpus[]); the BSP is
 * whichever of them runs kmain(). Each CPU's struct percpu is reached through its GS base
 * (IA32_GS_BASE), so this_cpu() and cpu_id() are one load each.
 *
 * Lock order: smp.c's call lock → (nothing). The console is the BSP's alone (kernel.h).
 */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include <stddef.h>

#include "acpi.h"

#define SMP_MAX_CPUS       32          /* CPUs the guest starts: static stacks and per-CPU data */
#define SMP_AP_STACK_SIZE  8192
#define SMP_VECTOR_CALL    0xf0        /* the IPI of smp_call_all() and smp_stop_others() */
#define SMP_VECTOR_SPURIOUS 0xff       /* the LAPIC's spurious-interrupt vector */
#define SMP_VECTOR_TIMER   0xe0        /* the LAPIC timer's tick (priority class below the IPI's) */
#define SMP_TICK_MS        10          /* the tick period on every CPU */

struct percpu {
	struct percpu *self;        /* offset 0: this_cpu() loads it through GS */
	unsigned cpu;               /* offset 8: cpu_id() */
	/* Ring 3 (guest/uarch.c, uentry.S): the kernel stack syscall_entry switches to (the
	 * running process's; TSS.RSP0 holds the same) and the user RSP it saves meanwhile. */
	uint64_t kernel_rsp;        /* offset 16 */
	uint64_t user_rsp;          /* offset 24 */
	uint32_t apic_id;           /* from the MADT */
	uint32_t node;              /* from the SRAT (0 without one) */
	uint32_t lapic_id;          /* what this CPU's LAPIC ID register read when it came up */
	bool online;                /* set by the CPU itself once it can take IPIs */
	bool parked;                /* set by the CPU itself before it halts for good (IF off) */
	/* Mailbox: the caller of smp_call_all() writes fn and arg, then sets pending; this CPU
	 * runs fn(arg) from its IPI handler and clears pending. */
	void (*mbox_fn)(void *);
	void *mbox_arg;
	bool mbox_pending;
	/* Work slot of smp_run_all(): the same protocol, but fn runs in the CPU's idle loop
	 * (normal context, interrupts on) rather than in the IPI handler. */
	void (*work_fn)(void *);
	void *work_arg;
	bool work_pending;
	/* Counters this CPU alone writes (the smp scenario reads them). */
	uint64_t ipis;              /* SMP_VECTOR_CALL interrupts taken */
	uint64_t calls;             /* mailbox functions run (as the caller too) */
	uint64_t tlb_flushes;       /* tlb_shootdown() rounds run */
	uint64_t test_hits;         /* for the smp scenario's smp_call_all rounds */
	uint64_t ticks;             /* LAPIC timer ticks taken */
	uint64_t user_ticks;        /* ... of them, ticks that interrupted ring 3 (the hook ran) */
	uint64_t clock_ns;          /* smp_clock_ns(): the last value this CPU returned */
	uint8_t *stack_top;         /* APs: the top of their stack in smp.c's .bss */
};
#define PERCPU_SELF_OFF  0
#define PERCPU_CPU_OFF   8
#define PERCPU_KERNEL_RSP_OFF 16
#define PERCPU_USER_RSP_OFF   24
_Static_assert(offsetof(struct percpu, self) == PERCPU_SELF_OFF, "this_cpu() loads %gs:0");
_Static_assert(offsetof(struct percpu, cpu) == PERCPU_CPU_OFF, "cpu_id() loads %gs:8");
_Static_assert(offsetof(struct percpu, kernel_rsp) == PERCPU_KERNEL_RSP_OFF, "uentry.S");
_Static_assert(offsetof(struct percpu, user_rsp) == PERCPU_USER_RSP_OFF, "uentry.S");

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;

	__asm__ volatile("movq %%gs:" STR(PERCPU_SELF_OFF) ", %0" : "=r"(p));
	return p;
}

/* CPU i's data (i < SMP_MAX_CPUS), for reading another CPU's counters. */
struct percpu *percpu_of(unsigned cpu);

/* Point the BSP's GS base at per-CPU slot 0: first thing in kmain(), before any cpu_id(). */
void percpu_init_bsp(void);

/*
 * Start every enabled MADT CPU (INIT-SIPI-SIPI through the BSP's xAPIC at the MADT's address):
 * one TAP check per AP ("smp: cpu I (APIC id A) came online"), each waited for at most
 * SMP_AP_TIMEOUT_MS; an AP that does not come up gets an INIT (back to wait-for-SIPI, so it
 * never runs the trampoline later) and a "not ok". Then "smp: cpus=N online=M". The trampoline
 * page (MV_GPA_AP_TRAMPOLINE) is free again when this returns.
 */
void smp_boot(const struct topo *t, const struct memmap *mm);

/* Monotonic nanoseconds since boot on this CPU (the TSC calibrated against the LAPIC timer;
 * 0 before smp_boot() set it up). */
uint64_t smp_clock_ns(void);

/*
 * The tick (SMP_VECTOR_TIMER, every SMP_TICK_MS on every CPU): when it interrupted ring 3, the
 * handler calls hook() after its EOI, on the interrupted process's kernel stack with interrupts
 * off. The hook may switch to another context (preemption) and return much later, on another
 * CPU. NULL: no hook. Ticks in ring 0 are only counted.
 */
void smp_set_tick_hook(void (*hook)(void));

/*
 * Run fn(arg) on every online CPU: the others from their SMP_VECTOR_CALL handler (interrupt
 * context, IF off), the caller directly. Returns when all have finished, or false after
 * SMP_CALL_TIMEOUT_MS (a "# smp:" line names the CPUs that did not). Any CPU may call, with
 * interrupts on or off: a caller waiting for another caller's call runs its own mailbox.
 * fn must not call smp_call_all().
 */
bool smp_call_all(void (*fn)(void *), void *arg);

/*
 * Run fn(arg) on every online CPU at once, in normal context with interrupts on (so the CPUs
 * running it still take each other's calls and TLB shootdowns): the APs from their idle loop,
 * the caller directly. Returns when all have finished, or false after SMP_RUN_TIMEOUT_MS (a
 * "# smp:" line names the CPUs that did not). fn may allocate, free, vmalloc/vfree and call
 * smp_call_all() / tlb_shootdown(); it must not call smp_run_all(). One caller at a time: the
 * boot CPU, from a scenario.
 */
bool smp_run_all(void (*fn)(void *), void *arg);

/*
 * Stop-machine: run fn(arg) on the calling CPU while every other online CPU spins in its call
 * IPI handler with interrupts off. A CPU takes that IPI only outside mm/'s per-CPU sections
 * (they run with interrupts off), so fn may call what mm/ allows only with no other CPU inside
 * a section: buddy_check(), buddy_drain_all(). False (fn not run) if some CPU did not stop
 * within SMP_CALL_TIMEOUT_MS.
 */
bool smp_stop_machine(void (*fn)(void *), void *arg);

/* Invalidate the TLB entries of [start, end) on every online CPU: invlpg per page up to
 * SMP_TLB_INVLPG_MAX pages, else a CR3 reload (all non-global entries). */
#define SMP_TLB_INVLPG_MAX 32
bool tlb_shootdown(uint64_t start, uint64_t end);

/* Halt every other online CPU with interrupts off (they never run again); true when all
 * confirmed within SMP_CALL_TIMEOUT_MS. Before the exit port write. */
bool smp_stop_others(void);

/* smp_scenario.c: the `scenario=smp` checks (guest/README.md). */
void smp_scenario_run(const struct topo *t);

#endif /* GUEST_SMP_H */
