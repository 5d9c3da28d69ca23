/*
 * guest/smp_scenario.c — `scenario=smp` (guest/README.md): after smp_boot() has started every
 * MADT CPU, check them from the inside:
 *
 *   1. per CPU: online, its own LAPIC ID register equals the MADT's APIC id; one machine-readable
 *      line "smp: cpu I apic=A node=N" each (N from the SRAT), which the tests compare with the
 *      topology they asked for;
 *   2. SMP_ROUNDS smp_call_all() rounds: every CPU counts in its own struct percpu (so a wrong
 *      GS base shows as counts on the wrong CPU), each must count exactly SMP_ROUNDS, and every
 *      other CPU must have taken at least SMP_ROUNDS call IPIs;
 *   3. a ticket lock under contention: every CPU adds 1 to a shared counter SMP_LOCK_ITERS times
 *      inside the lock, as a load, a pause and a store (a broken lock loses updates); the total
 *      must be exact;
 *   4. TLB shootdown: a scratch mapping at SCRATCH_VA (PML4 slot 1, outside boot.S's map) that
 *      every CPU reads, so each caches it; the leaf entries are switched to another page and
 *      tlb_shootdown() must make every CPU read the new page: one page (invlpg) and then
 *      SCRATCH_PAGES pages (above SMP_TLB_INVLPG_MAX: CR3 reload).
 *
 * Runs on the BSP with interrupts off; the checked functions run on every CPU.
 */
#include "smp.h"
#include "spinlock.h"

#define SMP_ROUNDS       100
#define SMP_LOCK_ITERS   250
#define SCRATCH_VA       (UINT64_C(1) << 39)     /* PML4 entry 1: 512 GiB */
#define SCRATCH_PAGES    64                      /* > SMP_TLB_INVLPG_MAX */
#define PAGE_SIZE        UINT64_C(4096)
#define PTE_P            UINT64_C(1)
#define PTE_W            (UINT64_C(1) << 1)
#define PTE_ADDR_MASK    UINT64_C(0x000ffffffffff000)
#define PT_INDEX_MASK    UINT64_C(0x1ff)
#define PML4_SHIFT       39
#define MAGIC_A          UINT64_C(0xa11ce0000000000a)
#define MAGIC_B          UINT64_C(0xb0b0000000000b0b)

/* The scratch mapping's PDPT, PD, PT and the two pages it maps (identity-mapped .bss). */
static uint64_t scratch_tables[3][512] __attribute__((aligned(4096)));
static uint64_t page_a[512] __attribute__((aligned(4096)));
static uint64_t page_b[512] __attribute__((aligned(4096)));
static uint64_t seen[SMP_MAX_CPUS];             /* what each CPU read at the scratch VA */

static struct spinlock test_lock = SPINLOCK_INIT;
static uint64_t shared_count;                   /* under test_lock */

static void count_hit(void *arg)
{
	(void)arg;
	this_cpu()->test_hits++;
}

static void add_under_lock(void *arg)
{
	unsigned iters = *(const unsigned *)arg;

	for (unsigned i = 0; i < iters; i++) {
		uint64_t flags = 0, v;

		if (i & 1)                              /* both flavours, half each */
			flags = spin_lock_irqsave(&test_lock);
		else
			spin_lock(&test_lock);
		v = __atomic_load_n(&shared_count, __ATOMIC_RELAXED);
		cpu_relax();                            /* widen the window a broken lock leaves */
		__atomic_store_n(&shared_count, v + 1, __ATOMIC_RELAXED);
		if (i & 1)
			spin_unlock_irqrestore(&test_lock, flags);
		else
			spin_unlock(&test_lock);
	}
}

/* Read the word at SCRATCH_VA + *arg into seen[cpu]. */
static void read_scratch(void *arg)
{
	uint64_t off = *(const uint64_t *)arg;

	seen[cpu_id()] = *(volatile const uint64_t *)(uintptr_t)(SCRATCH_VA + off);
}

static void check_cpus(const struct topo *t)
{
	unsigned n = t->nr_cpus < SMP_MAX_CPUS ? t->nr_cpus : SMP_MAX_CPUS;

	for (unsigned i = 0; i < n; i++) {
		const struct percpu *pc = percpu_of(i);

		tap_check(pc->online && pc->cpu == i && pc->lapic_id == t->cpus[i],
			  "smp: cpu %u online, its LAPIC ID register reads %u, MADT APIC id %u", i,
			  pc->lapic_id, t->cpus[i]);
		kprintf("smp: cpu %u apic=%u node=%u\n", i, pc->apic_id, pc->node);
	}
}

static void check_call_all(const struct topo *t)
{
	unsigned n = t->nr_cpus < SMP_MAX_CPUS ? t->nr_cpus : SMP_MAX_CPUS;
	unsigned done = 0;

	for (unsigned r = 0; r < SMP_ROUNDS; r++)
		done += smp_call_all(count_hit, NULL);
	tap_check(done == SMP_ROUNDS, "smp_call_all: %u of %u rounds finished on every CPU", done,
		  SMP_ROUNDS);
	for (unsigned i = 0; i < n; i++) {
		const struct percpu *pc = percpu_of(i);
		bool ipis_ok = i == cpu_id() || pc->ipis >= SMP_ROUNDS;

		tap_check(pc->test_hits == SMP_ROUNDS && ipis_ok,
			  "smp_call_all: cpu %u ran %lu of %u calls (%lu call IPIs)", i,
			  pc->test_hits, SMP_ROUNDS, pc->ipis);
	}
}

static void check_spinlock(void)
{
	unsigned iters = SMP_LOCK_ITERS;
	uint64_t want = (uint64_t)SMP_LOCK_ITERS * nr_cpus_online();
	bool done = smp_call_all(add_under_lock, &iters);

	tap_check(done && shared_count == want,
		  "spinlock: %u CPUs x %u increments under contention = %lu (expected %lu)",
		  nr_cpus_online(), SMP_LOCK_ITERS, shared_count, want);
}

/* Every CPU reads SCRATCH_VA + off; true when all saw `want` (mismatches printed). */
static bool all_read(uint64_t off, uint64_t want)
{
	unsigned n = nr_cpus_online();
	bool ok = smp_call_all(read_scratch, &off);

	for (unsigned i = 0; i < SMP_MAX_CPUS && n; i++) {
		if (!percpu_of(i)->online || percpu_of(i)->parked)
			continue;
		n--;
		if (seen[i] != want) {
			kprintf("# tlb: cpu %u read 0x%lx at 0x%lx, expected 0x%lx\n", i, seen[i],
				SCRATCH_VA + off, want);
			ok = false;
		}
	}
	return ok;
}

static void set_scratch(unsigned pages, const uint64_t *page)
{
	uint64_t *pt = scratch_tables[2];

	for (unsigned i = 0; i < pages; i++)
		__atomic_store_n(&pt[i], ((uint64_t)(uintptr_t)page & PTE_ADDR_MASK) | PTE_P | PTE_W,
				 __ATOMIC_RELEASE);
}

static void check_tlb_shootdown(void)
{
	uint64_t cr3, *pml4, last = (SCRATCH_PAGES - 1) * PAGE_SIZE, flushes_before[SMP_MAX_CPUS];
	unsigned slot = (unsigned)(SCRATCH_VA >> PML4_SHIFT & PT_INDEX_MASK);
	bool ok;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(uintptr_t)(cr3 & PTE_ADDR_MASK);
	if (!tap_check(pml4[slot] == 0, "tlb: PML4 entry %u is free for the scratch mapping", slot))
		return;
	page_a[0] = MAGIC_A;
	page_b[0] = MAGIC_B;
	scratch_tables[0][0] = (uint64_t)(uintptr_t)scratch_tables[1] | PTE_P | PTE_W;
	scratch_tables[1][0] = (uint64_t)(uintptr_t)scratch_tables[2] | PTE_P | PTE_W;
	set_scratch(SCRATCH_PAGES, page_a);
	pml4[slot] = (uint64_t)(uintptr_t)scratch_tables[0] | PTE_P | PTE_W;
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++)
		flushes_before[i] = percpu_of(i)->tlb_flushes;

	/* Every CPU caches both ends of the mapping, then sees the new pages after a shootdown. */
	ok = all_read(0, MAGIC_A) && all_read(last, MAGIC_A);
	tap_check(ok, "tlb: every CPU reads page A through the scratch mapping");
	set_scratch(1, page_b);
	ok = tlb_shootdown(SCRATCH_VA, SCRATCH_VA + PAGE_SIZE) && all_read(0, MAGIC_B);
	tap_check(ok, "tlb_shootdown: 1 page (invlpg): every CPU reads the new page");
	set_scratch(SCRATCH_PAGES, page_b);
	ok = tlb_shootdown(SCRATCH_VA, SCRATCH_VA + SCRATCH_PAGES * PAGE_SIZE) &&
	     all_read(last, MAGIC_B);
	tap_check(ok, "tlb_shootdown: %u pages (CR3 reload): every CPU reads the new page",
		  SCRATCH_PAGES);

	ok = true;
	for (unsigned i = 0; i < SMP_MAX_CPUS; i++) {
		const struct percpu *pc = percpu_of(i);

		if (pc->online && !pc->parked && pc->tlb_flushes - flushes_before[i] != 2) {
			kprintf("# tlb: cpu %u ran %lu shootdowns, expected 2\n", i,
				pc->tlb_flushes - flushes_before[i]);
			ok = false;
		}
	}
	tap_check(ok, "tlb_shootdown: each of the %u CPUs ran both rounds", nr_cpus_online());
	pml4[slot] = 0;
	tlb_shootdown(SCRATCH_VA, SCRATCH_VA + SCRATCH_PAGES * PAGE_SIZE);
}

void smp_scenario_run(const struct topo *t)
{
	kprintf("# scenario smp: %u online CPUs\n", nr_cpus_online());
	check_cpus(t);
	check_call_all(t);
	check_spinlock();
	check_tlb_shootdown();
}
