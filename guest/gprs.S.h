/*
 * guest/gprs.S.h — assembler macros that save and restore the 15 general-purpose registers in
 * one order, for isr.S (exception frames) and uentry.S (system-call frames). Pushed rax first,
 * so in memory, lowest address first: r15, r14, ..., rcx, rax — the start of struct
 * exc_frame (idt.c) and of struct user_regs (proc.h); both layouts depend on it.
 */
.macro PUSH_GPRS
	push	%rax
	push	%rcx
	push	%rdx
	push	%rbx
	push	%rbp
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
.endm

.macro POP_GPRS
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rbp
	pop	%rbx
	pop	%rdx
	pop	%rcx
	pop	%rax
.endm
