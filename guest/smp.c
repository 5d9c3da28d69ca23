/*
 * guest/smp.c — the guest's CPUs (smp.h): per-CPU data behind GS, the local APIC (xAPIC MMIO),
 * starting the APs with INIT-SIPI-SIPI, the call IPI, TLB shootdown and stopping the APs.
 *
 * Starting an AP: the BSP copies trampoline.S's code to MV_GPA_AP_TRAMPOLINE, writes the AP's
 * stack and per-CPU pointer into its parameter block, sends INIT, then two SIPIs with vector
 * MV_GPA_AP_TRAMPOLINE >> 12, and waits for the AP to set its `online` flag in ap_main(). One
 * AP at a time, so one parameter block suffices; after the last AP the page is unused again
 * (an AP that never came up was sent INIT and waits for a SIPI nobody sends), which is what
 * lets the memtest test that page like any other RAM.
 *
 * APs idle in `sti; hlt`. Two ways to give them work, both woken by one IPI to all CPUs but
 * the sender (ICR destination shorthand, vector SMP_VECTOR_CALL):
 *   - smp_call_all() fills each online CPU's mailbox; the IPI handler runs it (interrupt
 *     context, IF off) and clears it. Short things: TLB flushes, CR3 loads, stop-machine holds.
 *   - smp_run_all() fills each online CPU's work slot; the IPI only wakes the CPU, whose idle
 *     loop then runs the work with interrupts on, so a CPU busy with work still answers calls
 *     (a vfree on one CPU shoots down the TLBs of the others while they run their share).
 * The sender runs the function itself too, then waits for every slot to be cleared. A CPU that
 * was never started is in wait-for-SIPI and ignores the IPI; a parked one has interrupts off
 * and leaves it pending.
 *
 * Deadlock freedom: a CPU waits for others only in smp_call_all/smp_run_all/smp_stop_machine,
 * and every such wait either has interrupts on or runs its own mailbox while it waits; locks
 * that are held with interrupts off (mm/'s sections, kpt_lock) are never held across a wait.
 *
 * Time and the tick. Every CPU's LAPIC timer runs periodic, unmasked, on SMP_VECTOR_TIMER every
 * SMP_TICK_MS: the scheduler's preemption tick (smp_set_tick_hook; the handler is EOI, a count
 * and, only when it interrupted ring 3, the hook). It takes no lock and touches nothing but this
 * CPU's counters otherwise, so a tick landing anywhere interrupts are on is harmless; where they
 * are off (mm/'s per-CPU sections, call handlers, the BSP's kmain, system calls) it stays pending
 * in the LAPIC and is taken at the next STI/IRETQ/SYSRET.
 * smp_clock_ns() is the TSC, calibrated once on the BSP against SMP_CLOCK_CALIBRATE_MS of its
 * LAPIC timer (one-shot, masked) before the tick starts. Why not count ticks: a CPU with
 * interrupts off (the BSP starts the APs that way, waiting with delay_ns) takes no ticks, so a
 * tick count would stall and the timer's current count alone wraps every tick; the TSC runs
 * regardless. Each CPU keeps its last value and never returns less (monotonic per CPU even if
 * the vCPUs' TSCs were slightly apart). KVM's and QEMU's APIC timers tick at 1 GHz (1 ns per
 * count at divide-by-1), which the calibration and the tick period assume; elsewhere both scale
 * with the APIC bus clock.
 * The LAPIC page lies in boot.S's identity map (2 MiB pages, write-back: harmless in a VM,
 * where LAPIC accesses trap regardless of the memory type).
 *
 * Lock order: run_lock → call_lock → (nothing).
 */
#include <memvisor/layout.h>

#include "mem.h"
#include "smp.h"
#include "spinlock.h"

#define MSR_GS_BASE          0xc0000101
#define MSR_EFER             0xc0000080

/* xAPIC registers: byte offsets from the LAPIC base (Intel SDM vol. 3, table 11-1). */
#define LAPIC_ID             0x020
#define LAPIC_ID_SHIFT       24
#define LAPIC_TPR            0x080
#define LAPIC_EOI            0x0b0
#define LAPIC_SVR            0x0f0
#define LAPIC_SVR_ENABLE     (UINT32_C(1) << 8)
#define LAPIC_ESR            0x280
#define LAPIC_ICR_LO         0x300
#define LAPIC_ICR_HI         0x310
#define LAPIC_ICR_DEST_SHIFT 24              /* in ICR_HI: the destination APIC id */
#define LAPIC_ICR_FIXED      (UINT32_C(0) << 8)
#define LAPIC_ICR_INIT       (UINT32_C(5) << 8)
#define LAPIC_ICR_STARTUP    (UINT32_C(6) << 8)
#define LAPIC_ICR_BUSY       (UINT32_C(1) << 12)  /* delivery status: send pending */
#define LAPIC_ICR_ASSERT     (UINT32_C(1) << 14)
#define LAPIC_ICR_ALL_BUT_SELF (UINT32_C(3) << 18)
#define LAPIC_LVT_TIMER      0x320
#define LAPIC_LVT_MASKED     (UINT32_C(1) << 16)
#define LAPIC_LVT_PERIODIC   (UINT32_C(1) << 17)
#define LAPIC_TIMER_INIT     0x380
#define LAPIC_TIMER_CUR      0x390
#define LAPIC_TIMER_DIV      0x3e0
#define LAPIC_TIMER_DIV_1    0xb
#define LAPIC_TIMER_NS_PER_COUNT 1     /* KVM and QEMU: 1 GHz at divide-by-1 (see the top) */

/* The legacy 8259 PICs (master, slave): command and data ports, initialisation words. */
#define PIC1_CMD             0x20
#define PIC1_DATA            0x21
#define PIC2_CMD             0xa0
#define PIC2_DATA            0xa1
#define PIC_ICW1_INIT_ICW4   0x11      /* edge triggered, cascaded, ICW4 follows */
#define PIC_ICW3_SLAVE_AT_2  0x04      /* master: slave on IRQ 2 */
#define PIC_ICW3_SLAVE_ID    0x02      /* slave: its cascade identity */
#define PIC_ICW4_8086        0x01
#define PIC_MASK_ALL         0xff
#define PIC_VECTOR_BASE      0x20      /* IRQ 0-15 -> vectors 0x20-0x2f, clear of exceptions */

#define NS_PER_MS            UINT64_C(1000000)
#define NS_PER_US            UINT64_C(1000)
#define SMP_INIT_DELAY_MS    10        /* INIT → first SIPI (Intel's MP init sequence) */
#define SMP_SIPI_DELAY_US    200       /* between the two SIPIs */
#define SMP_AP_TIMEOUT_MS    10000     /* an AP must reach ap_main() within this (generous:
					  nested TCG on a loaded host is slow) */
#define SMP_CALL_TIMEOUT_MS  20000     /* every CPU must finish a call within this */
#define SMP_RUN_TIMEOUT_MS   300000    /* ... and its share of smp_run_all() work */
#define SMP_ICR_POLLS        1000000   /* bound on waiting for the ICR's delivery status */
#define SMP_CLOCK_CALIBRATE_MS 10      /* the TSC measured over this much LAPIC timer */

/* trampoline.S's parameter block (same order and offsets). */
struct ap_tramp_params {
	uint32_t cr3;               /* the BSP's page tables (below 4 GiB: boot.S's .bss) */
	uint32_t cr4;
	uint32_t efer;              /* low half of the BSP's EFER: LME, NXE */
	uint32_t reserved;
	uint64_t stack;             /* the AP's initial RSP */
	uint64_t entry;             /* ap_start64 */
	uint64_t arg;               /* the AP's struct percpu */
};
_Static_assert(sizeof(struct ap_tramp_params) == 40, "struct ap_tramp_params mirrors trampoline.S");

extern const char ap_trampoline[], ap_trampoline_end[], ap_trampoline_params[];  /* trampoline.S */
void ap_start64(void);                                                            /* trampoline.S */
void irq_ipi_entry(void);                                                          /* isr.S */
void irq_spurious_entry(void);                                                     /* isr.S */
void irq_timer_entry(void);                                                        /* isr.S */
void smp_timer_handler(uint64_t cs);                                               /* isr.S */
__attribute__((noreturn)) void ap_main(struct percpu *pc);                         /* trampoline.S */
void smp_ipi_handler(void);                                                        /* isr.S */

static struct percpu percpus[SMP_MAX_CPUS];
static uint8_t ap_stacks[SMP_MAX_CPUS][SMP_AP_STACK_SIZE] __attribute__((aligned(16)));
static volatile uint32_t *lapic;               /* NULL until smp_boot() found the MADT's */
static unsigned nr_online = 1;                 /* CPUs with online && !parked */
static unsigned nr_known;                      /* percpus[] slots in use (MADT CPUs, capped) */
static bool stopping;                          /* smp_stop_others(): park on the next IPI */
static struct spinlock call_lock = SPINLOCK_INIT;
static struct spinlock run_lock = SPINLOCK_INIT;
static uint64_t tsc_base, tsc_per_ms;          /* smp_clock_ns(): set once by clock_calibrate */
static void (*tick_hook)(void);                /* smp_set_tick_hook() */

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static uint32_t lapic_read(unsigned reg)
{
	return lapic[reg / 4];
}

static void lapic_write(unsigned reg, uint32_t v)
{
	lapic[reg / 4] = v;
}

unsigned cpu_id(void)
{
	unsigned cpu;

	__asm__ volatile("movl %%gs:" STR(PERCPU_CPU_OFF) ", %0" : "=r"(cpu));
	return cpu;
}

unsigned nr_cpus_online(void)
{
	return __atomic_load_n(&nr_online, __ATOMIC_ACQUIRE);
}

struct percpu *percpu_of(unsigned cpu)
{
	return &percpus[cpu];
}

static void percpu_enter(struct percpu *pc)
{
	pc->self = pc;
	wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)pc);
}

void percpu_init_bsp(void)
{
	percpus[0].cpu = 0;
	percpu_enter(&percpus[0]);
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* BSP, once, interrupts off: TSC ticks per ms, against the LAPIC timer (one-shot, masked). */
static void clock_calibrate(void)
{
	const uint32_t span = SMP_CLOCK_CALIBRATE_MS * NS_PER_MS / LAPIC_TIMER_NS_PER_COUNT;
	uint32_t c0, c;
	uint64_t t0, t1;

	lapic_write(LAPIC_TIMER_DIV, LAPIC_TIMER_DIV_1);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_TIMER_INIT, UINT32_MAX);
	c0 = lapic_read(LAPIC_TIMER_CUR);
	t0 = rdtsc();
	do
		c = lapic_read(LAPIC_TIMER_CUR);
	while (c0 - c < span && c != 0);
	t1 = rdtsc();
	if (c0 == c || t1 <= t0)
		tap_bail("smp: no clock: the LAPIC timer (%u -> %u) or the TSC (%lu -> %lu) stands "
			 "still", c0, c, t0, t1);
	tsc_per_ms = (t1 - t0) * NS_PER_MS / ((uint64_t)(c0 - c) * LAPIC_TIMER_NS_PER_COUNT);
	if (tsc_per_ms == 0)
		tsc_per_ms = 1;
	tsc_base = t0;
	kprintf("smp: clock: TSC at %lu kHz (against the LAPIC timer), tick %u ms\n", tsc_per_ms,
		SMP_TICK_MS);
}

/* This CPU's LAPIC: enabled, every interrupt class accepted, the timer ticking (see the top). */
static void lapic_init_this_cpu(void)
{
	struct percpu *me = this_cpu();

	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | SMP_VECTOR_SPURIOUS);
	lapic_write(LAPIC_TPR, 0);
	if (!tsc_per_ms)
		clock_calibrate();
	me->clock_ns = 0;
	lapic_write(LAPIC_TIMER_DIV, LAPIC_TIMER_DIV_1);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_PERIODIC | SMP_VECTOR_TIMER);
	lapic_write(LAPIC_TIMER_INIT, SMP_TICK_MS * NS_PER_MS / LAPIC_TIMER_NS_PER_COUNT);
	me->lapic_id = lapic_read(LAPIC_ID) >> LAPIC_ID_SHIFT;
}

uint64_t smp_clock_ns(void)
{
	struct percpu *me = this_cpu();
	uint64_t d, ns;

	if (!tsc_per_ms)
		return 0;
	d = rdtsc() - tsc_base;
	if ((int64_t)d < 0)
		d = 0;                          /* a TSC a little behind the BSP's at boot */
	/* d * 10^6 / tsc_per_ms without overflow (no 128-bit division in the guest). */
	ns = d / tsc_per_ms * NS_PER_MS + d % tsc_per_ms * NS_PER_MS / tsc_per_ms;
	if (ns < me->clock_ns)
		ns = me->clock_ns;              /* never backwards on this CPU */
	me->clock_ns = ns;
	return ns;
}

void smp_set_tick_hook(void (*hook)(void))
{
	__atomic_store_n(&tick_hook, hook, __ATOMIC_RELEASE);
}

/* SMP_VECTOR_TIMER (isr.S's irq_timer_entry), IF off; cs: the interrupted code's CS. EOI first:
 * the hook may switch to another process and come back much later (or on another CPU). */
void smp_timer_handler(uint64_t cs)
{
	struct percpu *me = this_cpu();
	void (*hook)(void) = __atomic_load_n(&tick_hook, __ATOMIC_ACQUIRE);

	lapic_write(LAPIC_EOI, 0);
	me->ticks++;
	if ((cs & 3) == 3 && hook) {
		me->user_ticks++;
		hook();
	}
}

static void delay_ns(uint64_t ns)
{
	uint64_t end = smp_clock_ns() + ns;

	while (smp_clock_ns() < end)
		cpu_relax();
}

/* Send an IPI: ICR_HI first (the write to ICR_LO sends). False if the previous one never left. */
static bool lapic_send(uint32_t apic_id, uint32_t icr_lo)
{
	unsigned polls = 0;

	while (lapic_read(LAPIC_ICR_LO) & LAPIC_ICR_BUSY)
		if (++polls == SMP_ICR_POLLS)
			return false;
	lapic_write(LAPIC_ICR_HI, apic_id << LAPIC_ICR_DEST_SHIFT);
	lapic_write(LAPIC_ICR_LO, icr_lo);
	return true;
}

/* Run this CPU's mailbox if it holds a call. Interrupts off (handler or a waiting caller). */
static void mailbox_run(struct percpu *me)
{
	if (!__atomic_load_n(&me->mbox_pending, __ATOMIC_ACQUIRE))
		return;
	me->mbox_fn(me->mbox_arg);
	me->calls++;
	__atomic_store_n(&me->mbox_pending, false, __ATOMIC_RELEASE);
}

static __attribute__((noreturn)) void park(struct percpu *me)
{
	irq_disable();
	__atomic_sub_fetch(&nr_online, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&me->parked, true, __ATOMIC_RELEASE);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* SMP_VECTOR_CALL (isr.S's irq_ipi_entry), IF off. EOI first: nothing below re-enables
 * interrupts, and park() never returns. */
void smp_ipi_handler(void)
{
	struct percpu *me = this_cpu();

	lapic_write(LAPIC_EOI, 0);
	me->ipis++;
	mailbox_run(me);
	if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
		park(me);
}

void ap_main(struct percpu *pc)
{
	percpu_enter(pc);
	idt_load();
	lapic_init_this_cpu();
	__atomic_add_fetch(&nr_online, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&pc->online, true, __ATOMIC_RELEASE);
	for (;;) {
		/* Work posted after the check below raises an IPI that stays pending until sti,
		 * whose one-instruction shadow covers hlt: the CPU wakes, it never sleeps on it. */
		__asm__ volatile("sti; hlt; cli" : : : "memory");
		if (__atomic_load_n(&pc->work_pending, __ATOMIC_ACQUIRE)) {
			irq_enable();
			pc->work_fn(pc->work_arg);
			irq_disable();
			__atomic_store_n(&pc->work_pending, false, __ATOMIC_RELEASE);
		}
	}
}

/* Wait until *flag is true, at most timeout_ms; whether it became true. */
static bool wait_flag(const bool *flag, uint64_t timeout_ms)
{
	uint64_t end = smp_clock_ns() + timeout_ms * NS_PER_MS;

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		if (smp_clock_ns() >= end)
			return false;
		else
			cpu_relax();
	return true;
}

static uint64_t read_cr(int which)
{
	uint64_t v = 0;

	if (which == 3)
		__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	else
		__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

/* INIT-SIPI-SIPI for percpus[i]; true when it reached ap_main() in time. */
static bool start_ap(struct percpu *pc)
{
	struct ap_tramp_params *p = (struct ap_tramp_params *)(uintptr_t)
		(MV_GPA_AP_TRAMPOLINE + (uint64_t)(ap_trampoline_params - ap_trampoline));
	uint32_t sipi = LAPIC_ICR_STARTUP | (uint32_t)(MV_GPA_AP_TRAMPOLINE >> 12);
	bool sent;

	p->cr3 = (uint32_t)read_cr(3);
	p->cr4 = (uint32_t)read_cr(4);
	p->efer = (uint32_t)rdmsr(MSR_EFER);
	p->stack = (uint64_t)(uintptr_t)pc->stack_top;
	p->entry = (uint64_t)(uintptr_t)ap_start64;
	p->arg = (uint64_t)(uintptr_t)pc;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);   /* the block is written before the SIPI */

	lapic_write(LAPIC_ESR, 0);
	sent = lapic_send(pc->apic_id, LAPIC_ICR_INIT | LAPIC_ICR_ASSERT);
	delay_ns(SMP_INIT_DELAY_MS * NS_PER_MS);
	/* An AP already running ignores the second SIPI (only wait-for-SIPI accepts one). */
	sent = sent && lapic_send(pc->apic_id, sipi);
	delay_ns(SMP_SIPI_DELAY_US * NS_PER_US);
	sent = sent && lapic_send(pc->apic_id, sipi);
	if (!sent)
		kprintf("# smp: APIC id %u: the ICR stayed busy\n", pc->apic_id);
	if (wait_flag(&pc->online, SMP_AP_TIMEOUT_MS))
		return true;
	/* Back to wait-for-SIPI: it must not run the trampoline after the page is reused. */
	lapic_send(pc->apic_id, LAPIC_ICR_INIT | LAPIC_ICR_ASSERT);
	return false;
}

static uint32_t node_of(const struct topo *t, uint32_t apic_id)
{
	if (t->have_srat)
		for (unsigned i = 0; i < t->nr_cpu_nodes; i++)
			if (t->cpu_nodes[i].apic_id == apic_id)
				return t->cpu_nodes[i].node;
	return 0;
}

/*
 * The BSP's LAPIC starts in virtual-wire mode (LINT0 = ExtINT): with interrupts on, the PIT's
 * IRQ 0 would arrive through the 8259 at its reset vector 8, which is #DF's. Move the PICs to
 * vectors 0x20-0x2f (a spurious IRQ 7/15 then lands on a harmless vector) and mask every line:
 * the guest takes only LAPIC interrupts (IPIs).
 */
static void pic_disable(void)
{
	outb(PIC1_CMD, PIC_ICW1_INIT_ICW4);
	outb(PIC2_CMD, PIC_ICW1_INIT_ICW4);
	outb(PIC1_DATA, PIC_VECTOR_BASE);
	outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC1_DATA, PIC_ICW3_SLAVE_AT_2);
	outb(PIC2_DATA, PIC_ICW3_SLAVE_ID);
	outb(PIC1_DATA, PIC_ICW4_8086);
	outb(PIC2_DATA, PIC_ICW4_8086);
	outb(PIC1_DATA, PIC_MASK_ALL);
	outb(PIC2_DATA, PIC_MASK_ALL);
	idt_set_handler(PIC_VECTOR_BASE + 7, irq_spurious_entry);
	idt_set_handler(PIC_VECTOR_BASE + 15, irq_spurious_entry);
}

void smp_boot(const struct topo *t, const struct memmap *mm)
{
	unsigned bsp = SMP_MAX_CPUS, bsp_apic;
	size_t tramp_len = (size_t)(ap_trampoline_end - ap_trampoline);

	if (!t->have_madt || !t->lapic_address) {
		tap_check(false, "smp: a MADT with a local APIC address to start the CPUs with");
		return;
	}
	lapic = (volatile uint32_t *)(uintptr_t)t->lapic_address;
	bsp_apic = lapic_read(LAPIC_ID) >> LAPIC_ID_SHIFT;
	nr_known = t->nr_cpus < SMP_MAX_CPUS ? t->nr_cpus : SMP_MAX_CPUS;
	for (unsigned i = 0; i < t->nr_cpus; i++) {
		if (i >= SMP_MAX_CPUS) {
			tap_check(false, "smp: cpu %u (APIC id %u) is beyond the guest's %u CPUs, "
				  "not started", i, t->cpus[i], SMP_MAX_CPUS);
			continue;
		}
		percpus[i].cpu = i;
		percpus[i].apic_id = t->cpus[i];
		percpus[i].node = node_of(t, t->cpus[i]);
		percpus[i].stack_top = ap_stacks[i] + SMP_AP_STACK_SIZE;
		if (t->cpus[i] == bsp_apic && bsp == SMP_MAX_CPUS)
			bsp = i;
	}
	if (!tap_check(bsp < SMP_MAX_CPUS, "smp: the boot CPU's APIC id %u is a MADT CPU", bsp_apic))
		return;
	percpu_enter(&percpus[bsp]);   /* its MADT position: slot 0 until now */
	pic_disable();
	idt_set_handler(SMP_VECTOR_TIMER, irq_timer_entry);   /* before any LAPIC ticks */
	lapic_init_this_cpu();
	percpus[bsp].online = true;
	idt_set_handler(SMP_VECTOR_CALL, irq_ipi_entry);
	idt_set_handler(SMP_VECTOR_SPURIOUS, irq_spurious_entry);

	if (nr_known > 1) {
		if (!tap_check(tramp_len <= MV_AP_TRAMPOLINE_SIZE &&
			       memmap_has_ram(mm, MV_GPA_AP_TRAMPOLINE, MV_AP_TRAMPOLINE_SIZE),
			       "smp: AP trampoline (%lu bytes) fits the RAM page at 0x%lx",
			       (unsigned long)tramp_len, MV_GPA_AP_TRAMPOLINE))
			return;
		memcpy((void *)(uintptr_t)MV_GPA_AP_TRAMPOLINE, ap_trampoline, tramp_len);
	}
	for (unsigned i = 0; i < nr_known; i++) {
		if (i == bsp)
			continue;
		tap_check(start_ap(&percpus[i]), "smp: cpu %u (APIC id %u) came online", i,
			  percpus[i].apic_id);
	}
	kprintf("smp: cpus=%u online=%u\n", t->nr_cpus, nr_cpus_online());
}

/* Run this CPU's mailbox from a waiting loop: interrupts off around it, so the call IPI cannot
 * run the same mailbox a second time while this one is at it. */
static void mailbox_poll(struct percpu *me)
{
	uint64_t irq = irq_save();

	mailbox_run(me);
	irq_restore(irq);
}

/* Take call_lock; a CPU waiting for it runs its own mailbox (the holder may be waiting for it). */
static void call_lock_take(struct percpu *me)
{
	while (!spin_trylock(&call_lock)) {
		mailbox_poll(me);
		cpu_relax();
	}
}

/* Post fn(arg) to every other online CPU's mailbox (call_lock held) and send the IPI. */
static void call_post_others(struct percpu *me, void (*fn)(void *), void *arg)
{
	for (unsigned i = 0; i < nr_known; i++) {
		struct percpu *c = &percpus[i];

		if (c == me || !c->online || c->parked)
			continue;
		c->mbox_fn = fn;
		c->mbox_arg = arg;
		__atomic_store_n(&c->mbox_pending, true, __ATOMIC_RELEASE);
	}
	if (nr_cpus_online() > 1 && !lapic_send(0, LAPIC_ICR_FIXED | LAPIC_ICR_ALL_BUT_SELF |
						SMP_VECTOR_CALL))
		kprintf("# smp: cpu %u: the ICR stayed busy, no call IPI sent\n", me->cpu);
}

/*
 * Wait until every CPU has cleared the flag at offset off of its struct percpu, at most
 * timeout_ms in all, running this CPU's mailbox meanwhile. False after naming the CPUs that
 * did not, with `what`.
 */
static bool wait_cleared(struct percpu *me, size_t off, uint64_t timeout_ms, const char *what)
{
	uint64_t end = smp_clock_ns() + timeout_ms * NS_PER_MS;
	bool all = true;

	for (unsigned i = 0; i < nr_known; i++) {
		const bool *flag = (const bool *)((const char *)&percpus[i] + off);

		while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) && smp_clock_ns() < end) {
			mailbox_poll(me);
			cpu_relax();
		}
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
			kprintf("# smp: cpu %u (APIC id %u) did not finish %s in %lu ms\n", i,
				percpus[i].apic_id, what, timeout_ms);
			all = false;
		}
	}
	return all;
}

bool smp_call_all(void (*fn)(void *), void *arg)
{
	struct percpu *me = this_cpu();
	bool all;

	call_lock_take(me);
	call_post_others(me, fn, arg);
	fn(arg);
	me->calls++;
	all = wait_cleared(me, offsetof(struct percpu, mbox_pending), SMP_CALL_TIMEOUT_MS, "a call");
	spin_unlock(&call_lock);
	return all;
}

/* Stop-machine state: one round at a time (call_lock held by the stopping CPU). */
static unsigned stop_arrived;
static bool stop_release;

static void stop_hold(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&stop_arrived, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&stop_release, __ATOMIC_ACQUIRE))
		cpu_relax();
}

bool smp_stop_machine(void (*fn)(void *), void *arg)
{
	struct percpu *me = this_cpu();
	unsigned others = 0;
	uint64_t end;
	bool all;

	call_lock_take(me);
	for (unsigned i = 0; i < nr_known; i++)
		others += &percpus[i] != me && percpus[i].online && !percpus[i].parked;
	__atomic_store_n(&stop_arrived, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&stop_release, false, __ATOMIC_RELEASE);
	call_post_others(me, stop_hold, NULL);
	end = smp_clock_ns() + SMP_CALL_TIMEOUT_MS * NS_PER_MS;
	while (__atomic_load_n(&stop_arrived, __ATOMIC_ACQUIRE) < others && smp_clock_ns() < end)
		cpu_relax();
	all = __atomic_load_n(&stop_arrived, __ATOMIC_ACQUIRE) == others;
	if (all)
		fn(arg);
	else
		kprintf("# smp: stop-machine: %u of %u CPUs stopped in %u ms; not run\n",
			stop_arrived, others, SMP_CALL_TIMEOUT_MS);
	__atomic_store_n(&stop_release, true, __ATOMIC_RELEASE);
	all &= wait_cleared(me, offsetof(struct percpu, mbox_pending), SMP_CALL_TIMEOUT_MS,
			    "a stop-machine hold");
	spin_unlock(&call_lock);
	return all;
}

bool smp_run_all(void (*fn)(void *), void *arg)
{
	struct percpu *me = this_cpu();
	uint64_t irq;
	bool all;

	spin_lock(&run_lock);
	for (unsigned i = 0; i < nr_known; i++) {
		struct percpu *c = &percpus[i];

		if (c == me || !c->online || c->parked)
			continue;
		c->work_fn = fn;
		c->work_arg = arg;
		__atomic_store_n(&c->work_pending, true, __ATOMIC_RELEASE);
	}
	/* The IPI only wakes the idle loops; their handler finds no mailbox. */
	if (nr_cpus_online() > 1 && !lapic_send(0, LAPIC_ICR_FIXED | LAPIC_ICR_ALL_BUT_SELF |
						SMP_VECTOR_CALL))
		kprintf("# smp: cpu %u: the ICR stayed busy, no wake-up IPI sent\n", me->cpu);
	irq = irq_save();
	irq_enable();           /* like the others: this CPU's share also answers calls */
	fn(arg);
	all = wait_cleared(me, offsetof(struct percpu, work_pending), SMP_RUN_TIMEOUT_MS,
			   "its share of smp_run_all work");
	irq_restore(irq);
	spin_unlock(&run_lock);
	return all;
}

struct tlb_range {
	uint64_t start, end;
};

static void tlb_flush_this_cpu(void *arg)
{
	const struct tlb_range *r = arg;
	uint64_t page = r->start & ~UINT64_C(0xfff);
	uint64_t pages = r->end > page ? (r->end - page + 0xfff) >> 12 : 0;

	if (pages <= SMP_TLB_INVLPG_MAX) {
		for (uint64_t i = 0; i < pages; i++)
			__asm__ volatile("invlpg (%0)" : : "r"(page + (i << 12)) : "memory");
	} else {
		uint64_t cr3 = read_cr(3);

		__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
	}
	this_cpu()->tlb_flushes++;
}

bool tlb_shootdown(uint64_t start, uint64_t end)
{
	struct tlb_range r = { start, end };

	return smp_call_all(tlb_flush_this_cpu, &r);
}

bool smp_stop_others(void)
{
	struct percpu *me = this_cpu();
	bool all = true;

	if (nr_cpus_online() <= 1)
		return true;
	__atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
	if (!lapic_send(0, LAPIC_ICR_FIXED | LAPIC_ICR_ALL_BUT_SELF | SMP_VECTOR_CALL))
		return false;
	for (unsigned i = 0; i < nr_known; i++)
		if (&percpus[i] != me && percpus[i].online && !wait_flag(&percpus[i].parked,
									  SMP_CALL_TIMEOUT_MS)) {
			kprintf("# smp: cpu %u (APIC id %u) did not halt\n", i, percpus[i].apic_id);
			all = false;
		}
	return all;
}

/*
 * The memory manager's hook (guest/mem.h): after it removes kernel mappings in [first, last]
 * and flushed its own TLB, every other CPU flushes too (every CPU runs on vmem.c's kernel page
 * table once vmem_init has switched them). Flushing the calling CPU again is harmless.
 */
void tlb_shootdown_others(uint64_t first, uint64_t last)
{
	if (nr_cpus_online() > 1 && !tlb_shootdown(first, last + 1))
		kprintf("# smp: a TLB shootdown did not complete on every CPU\n");
}
