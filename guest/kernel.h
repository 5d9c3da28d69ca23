/*
 * guest/kernel.h — what every file of the memvisor guest kernel shares: port I/O, the serial
 * console and its printf, TAP output, exit, and the memory helpers the compiler may call.
 *
 * The boot CPU (BSP) runs kmain() with interrupts off; smp.c starts the other CPUs (APs), which
 * idle with interrupts on and run work the BSP sends them (smp.h). Any CPU may print: each
 * kprintf and TAP line is whole (console.c's lock); the scenarios print from the BSP. Physical memory
 * below 4 GiB is identity-mapped (boot.S): a physical address below GUEST_MAPPED_END is also a
 * valid pointer; anything at or above it faults (#PF dump, see idt.c) until the memtest scenario
 * extends the map with paging_map_up_to(). phys_ptr() keeps to the boot map: the boot
 * environment's pointers are read before any extension.
 */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MAPPED_END  (UINT64_C(1) << 32)   /* boot.S identity-maps [0, 4 GiB) */

#define ARRAY_SIZE(a)     (sizeof(a) / sizeof((a)[0]))
#define STR_(x)           #x
#define STR(x)            STR_(x)

/* The interrupt flag (RFLAGS.IF). irq_save() returns RFLAGS and clears IF; irq_restore() puts
 * IF back as it was in flags. "memory": no load or store moves across them. */
#define RFLAGS_IF         (UINT64_C(1) << 9)

static inline void irq_enable(void)
{
	__asm__ volatile("sti" : : : "memory");
}

static inline void irq_disable(void)
{
	__asm__ volatile("cli" : : : "memory");
}

static inline uint64_t irq_save(void)
{
	uint64_t flags;

	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
	return flags;
}

static inline void irq_restore(uint64_t flags)
{
	if (flags & RFLAGS_IF)
		irq_enable();
}

static inline bool irqs_enabled(void)
{
	uint64_t flags;

	__asm__ volatile("pushfq; popq %0" : "=r"(flags));
	return flags & RFLAGS_IF;
}

/* The PAUSE hint for spin-wait loops. */
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/* smp.c: this CPU's index (its position among the MADT's enabled CPUs; the BSP's before the
 * MADT is read: 0) and the number of CPUs online (1 until smp_boot() has started the APs). */
unsigned cpu_id(void);
unsigned nr_cpus_online(void);

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	/* "memory": a port write may make the VMM read or write guest RAM (hostmem.h requests). */
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/*
 * A pointer to len bytes at physical address pa, or NULL when [pa, pa + len) is not entirely
 * inside the identity map. Every pointer the guest takes from the boot environment (start info,
 * ACPI) goes through here, so a bad address is reported instead of faulting.
 */
static inline const void *phys_ptr(uint64_t pa, uint64_t len)
{
	if (pa > GUEST_MAPPED_END || len > GUEST_MAPPED_END - pa)
		return NULL;
	return (const void *)(uintptr_t)pa;
}

/* console.c: polled 16550 at MV_PORT_COM1 and a small printf (%d %i %u %x %X %p %s %c %%,
 * the 0 flag, a field width, precision (.N or .*) for %s, and the l/ll/z length modifiers). */
void serial_init(void);
void serial_putc(char c);
__attribute__((format(printf, 1, 0))) void kvprintf(const char *fmt, va_list ap);
__attribute__((format(printf, 1, 2))) void kprintf(const char *fmt, ...);

/* console.c: TAP version 13 on the serial port. Checks are numbered from 1; the plan comes last. */
__attribute__((format(printf, 2, 3))) bool tap_check(bool ok, const char *fmt, ...);
/* tap_check in pieces: prints "[not ]ok N - " and counts the check; the caller prints the rest of
 * the description and the '\n'. Returns ok. */
bool tap_begin(bool ok);
__attribute__((noreturn)) void tap_finish(void);   /* "1..N", exit PASS or FAIL */
__attribute__((noreturn, format(printf, 1, 2))) void tap_bail(const char *fmt, ...);

/* console.c: write code to MV_PORT_EXIT (an MV_GUEST_EXIT_*); halts if the VMM ignores it. */
__attribute__((noreturn)) void guest_exit(uint8_t code);

/*
 * paging.c: identity-map [0, end) (rounded up to 1 GiB) on top of boot.S's [0, 4 GiB), with
 * 1 GiB pages where CPUID has them (up to 512 GiB), else 2 MiB pages (up to 64 GiB). Returns the
 * end of the identity map afterwards: below `end` when `end` is beyond what the guest can map.
 */
uint64_t paging_map_up_to(uint64_t end);

/* idt.c: build and load the IDT; every exception vector dumps state and exits
 * MV_GUEST_EXIT_EXCEPTION; vectors above 31 are absent until idt_set_handler() installs an entry
 * stub (isr.S) for them. idt_load() loads the same IDT on an AP. */
void idt_init(void);
void idt_load(void);
void idt_set_handler(uint8_t vector, void (*stub)(void));
/* #PF exceptions taken in ring 3 since boot, on every CPU (the balloon's fault statistic: every
 * user fault is minor, the guest has no swap and no file-backed pages). */
uint64_t idt_user_page_fault_count(void);

/* isr.S: deliberate faults for the exception scenarios (guest/README.md). */
__attribute__((noreturn)) void exc_trigger_ud(void);
__attribute__((noreturn)) void exc_trigger_pf(void);

/* string.c: the four functions a freestanding compiler may emit calls to. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif /* GUEST_KERNEL_H */
