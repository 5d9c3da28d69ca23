/*
 * guest/isr.S — the 32 exception entry stubs and the deliberate faults of the exception
 * scenarios.
 *
 * Each stub makes the stack look the same for every vector, then isr_common saves the general
 * registers and calls exception_handler(frame) (idt.c). That returns only for an exception
 * from ring 3 the process code resolved (a demand fault): the registers are restored and iretq
 * resumes the process. Everything else ends the guest or the process there. The frame, from the
 * lowest address (struct exc_frame in idt.c must match):
 *   r15 r14 r13 r12 r11 r10 r9 r8 rdi rsi rbp rbx rdx rcx rax   (pushed by isr_common)
 *   vector error                                                (pushed by the stub; error 0 if
 *                                                                the CPU pushes none)
 *   rip cs rflags rsp ss                                        (pushed by the CPU)
 */
#include "gprs.S.h"

/* Vectors for which the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30. */
.macro ISR_NOERR vec
isr_\vec:
	pushq	$0
	pushq	$\vec
	jmp	isr_common
.endm
.macro ISR_ERR vec
isr_\vec:
	pushq	$\vec
	jmp	isr_common
.endm

	.text
	.code64
ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR   21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR   29
ISR_ERR   30
ISR_NOERR 31

isr_common:
	PUSH_GPRS
	mov	%rsp, %rdi
	mov	%rsp, %rbx                  /* callee-saved: the frame again after the call */
	cld
	and	$-16, %rsp                  /* the C ABI's alignment */
	call	exception_handler           /* returns only after a user-mode fault it resolved */
	mov	%rbx, %rsp
	POP_GPRS
	add	$16, %rsp                   /* vector and error code */
	iretq

/* isr_table[v]: the entry stub of vector v (idt.c builds the gates from it). */
	.section .rodata
	.balign 8
	.globl isr_table
isr_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad	isr_\v
	.endr

/*
 * The exception scenarios: every general register except RSP gets a marker, 0x0101010101010101
 * times its number below (RAX 1, RBX 2, ... R15 15), so a test can check the dump maps each
 * saved register to its name. Then the faulting instruction, at a global label the test finds
 * with nm and compares with the dumped RIP:
 *   exc_ud_insn  ud2                                   → #UD
 *   exc_pf_insn  load from 0xbadc0de0000 (unmapped,    → #PF, error code 0, CR2 = 0xbadc0de0000
 *                canonical, above the 4 GiB identity map)
 */
#define MARK 0x0101010101010101
.macro SET_MARKERS
	movabs	$(MARK * 1), %rax
	movabs	$(MARK * 2), %rbx
	movabs	$(MARK * 3), %rcx
	movabs	$(MARK * 4), %rdx
	movabs	$(MARK * 5), %rsi
	movabs	$(MARK * 6), %rdi
	movabs	$(MARK * 7), %rbp
	movabs	$(MARK * 8), %r8
	movabs	$(MARK * 9), %r9
	movabs	$(MARK * 10), %r10
	movabs	$(MARK * 11), %r11
	movabs	$(MARK * 12), %r12
	movabs	$(MARK * 13), %r13
	movabs	$(MARK * 14), %r14
	movabs	$(MARK * 15), %r15
.endm

	.text
	.globl exc_trigger_ud, exc_ud_insn
exc_trigger_ud:
	SET_MARKERS
exc_ud_insn:
	ud2

	.globl exc_trigger_pf, exc_pf_insn
exc_trigger_pf:
	SET_MARKERS
exc_pf_insn:
	movabs	0xbadc0de0000, %al          /* moffs64 form: no register holds the address */
	ud2                                 /* not reached: the load faults */

/*
 * Interrupt entry stubs (idt_set_handler() installs them; smp.c names the vectors). An interrupt
 * may arrive between any two instructions of interrupted code, so the stub saves every register
 * the C ABI lets the handler clobber (the nine caller-saved ones; the guest has no FPU/SSE
 * state: -mgeneral-regs-only), calls the handler, restores them and returns with iretq.
 * Alignment: the CPU aligns RSP to 16 bytes before pushing its 5-quadword frame (40 bytes), the
 * 9 pushes make it 112 bytes: RSP is 16-byte aligned at the call, as the ABI wants.
 * The handler's first argument (RDI) is the interrupted CS (its low bits: the ring), 80(%rsp)
 * after the pushes (9 registers, then the CPU's RIP).
 */
.macro IRQ_STUB name, handler
	.globl \name
\name:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	mov	80(%rsp), %rdi
	cld
	call	\handler
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	iretq
.endm

	.text
IRQ_STUB irq_ipi_entry, smp_ipi_handler
IRQ_STUB irq_timer_entry, smp_timer_handler

/* The LAPIC's spurious vector: nothing to do, and no EOI (Intel SDM vol. 3, 11.9). */
	.globl irq_spurious_entry
irq_spurious_entry:
	iretq
