/*
 * guest/uarch.c — the CPU state ring 3 needs: a GDT with user segments and one 64-bit TSS per
 * CPU (RSP0: the stack an interrupt or exception from ring 3 lands on), and the SYSCALL MSRs
 * (EFER.SCE, STAR, LSTAR, SFMASK). Entry and exit code: uentry.S.
 *
 * GDT (replaces boot.S's three-entry GDT on every CPU; the kernel selectors keep their values):
 *
 *   0x00 null   0x08 kernel code64 (SEL_KCODE)   0x10 kernel data (SEL_KDATA)
 *   0x18 null (where SYSRET's 32-bit user code would be)
 *   0x20 user data, DPL 3 (SEL_UDATA | 3 = 0x23)   0x28 user code64, DPL 3 (0x2b)
 *   0x30 + 16 * cpu   CPU cpu's TSS (a 16-byte system descriptor)
 *
 * STAR[47:32] = 0x08: SYSCALL loads CS 0x08, SS 0x10. STAR[63:48] = 0x18: SYSRET loads
 * CS 0x18 + 16 = 0x28 | 3 and SS 0x18 + 8 = 0x20 | 3. SFMASK clears IF, DF, TF and AC on entry.
 *
 * uarch_init runs once (boot CPU, after smp_boot); every online CPU then loads the GDT, its TR
 * and the MSRs through smp_call_all. Locking: none; tss[cpu] is written only by CPU cpu.
 */
#include "proc.h"
#include "smp.h"

#define MSR_EFER          UINT32_C(0xc0000080)
#define MSR_STAR          UINT32_C(0xc0000081)
#define MSR_LSTAR         UINT32_C(0xc0000082)
#define MSR_SFMASK        UINT32_C(0xc0000084)
#define EFER_SCE          (UINT64_C(1) << 0)
#define STAR_SYSCALL_SHIFT 32
#define STAR_SYSRET_SHIFT  48
#define SFMASK_BITS       (UINT64_C(1) << 8 | UINT64_C(1) << 9 | UINT64_C(1) << 10 | \
			   UINT64_C(1) << 18)            /* TF IF DF AC */

/* Segment descriptor bits (Intel SDM vol. 3, 3.4.5 and 7.2.3). */
#define DESC_TYPE_CODE    (UINT64_C(0xa) << 40)          /* execute/read */
#define DESC_TYPE_DATA    (UINT64_C(0x2) << 40)          /* read/write */
#define DESC_TYPE_TSS     (UINT64_C(0x9) << 40)          /* 64-bit TSS, available */
#define DESC_S            (UINT64_C(1) << 44)
#define DESC_DPL3         (UINT64_C(3) << 45)
#define DESC_P            (UINT64_C(1) << 47)
#define DESC_L            (UINT64_C(1) << 53)
#define DESC_DB           (UINT64_C(1) << 54)
#define DESC_G            (UINT64_C(1) << 55)
#define DESC_LIMIT_MAX    (UINT64_C(0xffff) | UINT64_C(0xf) << 48)
#define DESC_LIMIT_LO_MASK UINT64_C(0xffff)
#define DESC_BASE_LO_MASK UINT64_C(0xffffff)                /* base 23:0 → bits 39:16 */
#define DESC_BASE_LO_SHIFT 16
#define DESC_BASE_MID_MASK UINT64_C(0xff000000)             /* base 31:24 → bits 63:56 */
#define DESC_BASE_MID_SHIFT 32


#define GDT_TSS_FIRST     6                                 /* entry index of CPU 0's TSS */
#define GDT_ENTRIES       (GDT_TSS_FIRST + 2 * SMP_MAX_CPUS)

/* The 64-bit TSS (Intel SDM vol. 3, 8.7). */
struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;    /* = sizeof(struct tss): no I/O permission bitmap */
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "the 64-bit TSS is 104 bytes");

struct gdt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));
_Static_assert(sizeof(struct gdt_ptr) == 10, "lgdt takes a 10-byte operand in long mode");

static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss tss[SMP_MAX_CPUS] __attribute__((aligned(16)));
static bool ready;

void syscall_entry(void);       /* uentry.S */

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static void set_tss_desc(unsigned cpu)
{
	uint64_t base = (uint64_t)(uintptr_t)&tss[cpu], limit = sizeof(struct tss) - 1;
	unsigned i = GDT_TSS_FIRST + 2 * cpu;

	gdt[i] = (limit & DESC_LIMIT_LO_MASK) | (base & DESC_BASE_LO_MASK) << DESC_BASE_LO_SHIFT |
		 DESC_TYPE_TSS | DESC_P | (base & DESC_BASE_MID_MASK) << DESC_BASE_MID_SHIFT;
	gdt[i + 1] = base >> 32;
}

/* On every CPU (smp_call_all): load the GDT, this CPU's TR and the SYSCALL MSRs. */
static void uarch_cpu_init(void *arg)
{
	struct gdt_ptr ptr = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt };
	uint16_t tr = (uint16_t)((GDT_TSS_FIRST + 2 * cpu_id()) * 8);

	(void)arg;
	__asm__ volatile("lgdt %0" : : "m"(ptr) : "memory");
	__asm__ volatile("ltr %0" : : "r"(tr) : "memory");
	wrmsr(MSR_STAR, (uint64_t)SEL_KCODE << STAR_SYSCALL_SHIFT |
			(uint64_t)(SEL_UDATA - 8) << STAR_SYSRET_SHIFT);
	wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)syscall_entry);
	wrmsr(MSR_SFMASK, SFMASK_BITS);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

bool uarch_init(void)
{
	if (ready)
		return true;
	/* Ring 3 runs with IF=1: smp_boot() has already moved the legacy PICs off the exception
	 * vectors and masked them (the PIT would otherwise arrive as vector 8, like a #DF). */
	gdt[SEL_KCODE / 8] = DESC_P | DESC_S | DESC_TYPE_CODE | DESC_L | DESC_G | DESC_LIMIT_MAX;
	gdt[SEL_KDATA / 8] = DESC_P | DESC_S | DESC_TYPE_DATA | DESC_DB | DESC_G | DESC_LIMIT_MAX;
	gdt[SEL_UDATA / 8] = DESC_P | DESC_S | DESC_DPL3 | DESC_TYPE_DATA | DESC_DB | DESC_G |
			     DESC_LIMIT_MAX;
	gdt[SEL_UCODE / 8] = DESC_P | DESC_S | DESC_DPL3 | DESC_TYPE_CODE | DESC_L | DESC_G |
			     DESC_LIMIT_MAX;
	for (unsigned cpu = 0; cpu < SMP_MAX_CPUS; cpu++) {
		tss[cpu].iomap_base = sizeof(struct tss);
		set_tss_desc(cpu);
	}
	ready = smp_call_all(uarch_cpu_init, NULL);
	return tap_check(ready, "proc: GDT with user segments, a TSS and the SYSCALL MSRs on all "
			 "%u CPUs", nr_cpus_online());
}

void uarch_set_kernel_stack(uint64_t top)
{
	tss[cpu_id()].rsp[0] = top;
	this_cpu()->kernel_rsp = top;
}
