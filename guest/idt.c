/*
 * guest/idt.c — the 64-bit IDT: one interrupt gate per exception vector (0..31), each leading
 * through isr.S to exception_handler(). An exception in ring 3 goes to the process code
 * (proc_user_exception, proc.c: a demand fault is resolved, anything else kills the process).
 * An exception in the kernel prints the CPU state on the serial port and exits with
 * MV_GUEST_EXIT_EXCEPTION: nothing is recoverable there, the kernel expects none. The
 * interrupt vectors smp.c uses (its IPI and the LAPIC's spurious vector) get their own entry
 * stubs through idt_set_handler(); every other vector is not present (a #NP dump if it fires).
 * One IDT serves every CPU: the BSP builds it before starting the APs, which only load it.
 *
 * Dump format (TAP: a "Bail out!" line, then diagnostics):
 *   Bail out! exception 14 #PF (page fault) error=0x0
 *   # RIP=0x... CS=0x8 RFLAGS=0x...
 *   # RSP=0x... SS=0x10 CR2=0x... CR3=0x...
 *   # RAX=0x... RBX=0x... RCX=0x... RDX=0x...     (then RSI RDI RBP R8, R9-R12, R13-R15)
 * Registers are printed as 0x plus 16 hex digits.
 */
#include <memvisor/layout.h>

#include "kernel.h"
#include "proc.h"

#define NR_EXCEPTIONS     32
#define NR_VECTORS        256
#define SEL_CODE64        0x08                     /* boot.S's GDT */

/* 64-bit interrupt gate (Intel SDM vol. 3, 6.14.1), as two little-endian quadwords. */
#define GATE_OFF_LO_MASK  UINT64_C(0xffff)         /* handler bits 0..15 → bits 0..15 */
#define GATE_SEL_SHIFT    16
#define GATE_TYPE_INTR    (UINT64_C(0xe) << 40)    /* 64-bit interrupt gate: IF cleared */
#define GATE_P            (UINT64_C(1) << 47)
#define GATE_OFF_MID_MASK UINT64_C(0xffff0000)     /* handler bits 16..31 → bits 48..63 */
#define GATE_OFF_MID_SHIFT 32
#define GATE_OFF_HI_SHIFT 32                       /* handler bits 32..63 → second quadword */

struct idt_gate {
	uint64_t lo;
	uint64_t hi;
};
_Static_assert(sizeof(struct idt_gate) == 16, "a 64-bit IDT gate is 16 bytes");

struct idt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_ptr) == 10, "lidt takes a 10-byte operand in long mode");

/* The stack isr.S builds; field order is its push order reversed. */
struct exc_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct exc_frame) == 22 * 8, "struct exc_frame mirrors isr.S");

extern const uint64_t isr_table[NR_EXCEPTIONS];    /* isr.S */

static struct idt_gate idt[NR_VECTORS];

static const char *const exc_names[NR_EXCEPTIONS] = {
	[0] = "#DE (divide error)",        [1] = "#DB (debug)",
	[2] = "NMI (non-maskable interrupt)", [3] = "#BP (breakpoint)",
	[4] = "#OF (overflow)",            [5] = "#BR (bound range exceeded)",
	[6] = "#UD (invalid opcode)",      [7] = "#NM (device not available)",
	[8] = "#DF (double fault)",        [9] = "coprocessor segment overrun",
	[10] = "#TS (invalid TSS)",        [11] = "#NP (segment not present)",
	[12] = "#SS (stack-segment fault)", [13] = "#GP (general protection)",
	[14] = "#PF (page fault)",         [15] = "reserved vector 15",
	[16] = "#MF (x87 floating-point)", [17] = "#AC (alignment check)",
	[18] = "#MC (machine check)",      [19] = "#XM (SIMD floating-point)",
	[20] = "#VE (virtualization)",     [21] = "#CP (control protection)",
	[22] = "reserved vector 22",       [23] = "reserved vector 23",
	[24] = "reserved vector 24",       [25] = "reserved vector 25",
	[26] = "reserved vector 26",       [27] = "reserved vector 27",
	[28] = "#HV (hypervisor injection)", [29] = "#VC (VMM communication)",
	[30] = "#SX (security)",           [31] = "reserved vector 31",
};

/* An interrupt gate (IF cleared on entry) at vector v leading to off. */
static void set_gate(unsigned v, uint64_t off)
{
	idt[v].lo = (off & GATE_OFF_LO_MASK) | ((uint64_t)SEL_CODE64 << GATE_SEL_SHIFT) |
		    GATE_TYPE_INTR | GATE_P | ((off & GATE_OFF_MID_MASK) << GATE_OFF_MID_SHIFT);
	idt[v].hi = off >> GATE_OFF_HI_SHIFT;
}

void idt_load(void)
{
	struct idt_ptr ptr = { .limit = sizeof(idt) - 1, .base = (uintptr_t)idt };

	__asm__ volatile("lidt %0" : : "m"(ptr));
}

void idt_init(void)
{
	for (unsigned v = 0; v < NR_EXCEPTIONS; v++)
		set_gate(v, isr_table[v]);
	idt_load();
}

void idt_set_handler(uint8_t vector, void (*stub)(void))
{
	if (vector < NR_EXCEPTIONS)
		tap_bail("idt_set_handler: vector %u is an exception vector", vector);
	set_gate(vector, (uint64_t)(uintptr_t)stub);
}

static uint64_t read_cr2(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static uint64_t read_cr3(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

void exception_handler(const struct exc_frame *f);   /* isr.S */

static uint64_t idt_user_page_faults;     /* ring-3 #PFs: idt_user_page_fault_count() */

uint64_t idt_user_page_fault_count(void)
{
	return __atomic_load_n(&idt_user_page_faults, __ATOMIC_RELAXED);
}

void exception_handler(const struct exc_frame *f)
{
	static bool nested;
	uint64_t cr2 = read_cr2();   /* first: nothing below may fault, but be sure */

	/* From ring 3: the process's business (proc.c): resolved (return, isr.S resumes it) or
	 * the process is killed (does not return here). The kernel's own faults stay fatal. */
	if ((f->cs & 3) == 3) {
		if (f->vector == 14)
			__atomic_fetch_add(&idt_user_page_faults, 1, __ATOMIC_RELAXED);
		proc_user_exception(f->vector, f->error, cr2, f->rip);
		return;
	}
	if (nested)                  /* the dump itself faulted: exit without printing again */
		guest_exit(MV_GUEST_EXIT_EXCEPTION);
	nested = true;

	kprintf("Bail out! exception %lu %s error=0x%lx\n", f->vector,
		f->vector < NR_EXCEPTIONS ? exc_names[f->vector] : "(bad vector)", f->error);
	kprintf("# RIP=0x%016lx CS=0x%lx RFLAGS=0x%016lx\n", f->rip, f->cs, f->rflags);
	kprintf("# RSP=0x%016lx SS=0x%lx CR2=0x%016lx CR3=0x%016lx\n", f->rsp, f->ss, cr2,
		read_cr3());
	kprintf("# RAX=0x%016lx RBX=0x%016lx RCX=0x%016lx RDX=0x%016lx\n",
		f->rax, f->rbx, f->rcx, f->rdx);
	kprintf("# RSI=0x%016lx RDI=0x%016lx RBP=0x%016lx R8=0x%016lx\n",
		f->rsi, f->rdi, f->rbp, f->r8);
	kprintf("# R9=0x%016lx R10=0x%016lx R11=0x%016lx R12=0x%016lx\n",
		f->r9, f->r10, f->r11, f->r12);
	kprintf("# R13=0x%016lx R14=0x%016lx R15=0x%016lx\n", f->r13, f->r14, f->r15);
	guest_exit(MV_GUEST_EXIT_EXCEPTION);
}
