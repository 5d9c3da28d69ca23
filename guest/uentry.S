/*
 * guest/uentry.S — ring 3 entry and exit: user_run (kernel → user), user_return (back into the
 * user_run that started the process, from a system call or an exception handler), and
 * syscall_entry (the SYSCALL target, uarch.c's LSTAR).
 *
 * struct user_regs (proc.h), lowest address first — every layout here must match it:
 *   r15 r14 r13 r12 r11 r10 r9 r8 rdi rsi rbp rbx rdx rcx rax  rip rflags rsp
 *
 * Constants repeated from C (this file cannot include the headers): the per-CPU offsets of
 * smp.h (PERCPU_KERNEL_RSP_OFF, PERCPU_USER_RSP_OFF) and the user selectors of proc.h.
 */
#include "gprs.S.h"
#define PERCPU_KERNEL_RSP_OFF 16
#define PERCPU_USER_RSP_OFF   24
#define SEL_UDATA_RPL3        0x23
#define SEL_UCODE_RPL3        0x2b
#define UR_RIP                120        /* offsetof(struct user_regs, rip) */
#define UR_RFLAGS             128
#define UR_RSP                136

	.text
	.code64

/*
 * uint64_t user_run(struct kctx *k, const struct user_regs *r): save the kernel's callee-saved
 * registers and RSP in k, then enter ring 3 with every register from r (iretq: CS/SS user
 * selectors, RFLAGS as given — the C side sanitises it). Returns, with the value given to
 * user_return(k, value), when the process exits or is killed.
 */
	.globl user_run
user_run:
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, (%rdi)
	pushq	$SEL_UDATA_RPL3
	pushq	UR_RSP(%rsi)
	pushq	UR_RFLAGS(%rsi)
	pushq	$SEL_UCODE_RPL3
	pushq	UR_RIP(%rsi)
	mov	0(%rsi), %r15
	mov	8(%rsi), %r14
	mov	16(%rsi), %r13
	mov	24(%rsi), %r12
	mov	32(%rsi), %r11
	mov	40(%rsi), %r10
	mov	48(%rsi), %r9
	mov	56(%rsi), %r8
	mov	64(%rsi), %rdi
	mov	80(%rsi), %rbp
	mov	88(%rsi), %rbx
	mov	96(%rsi), %rdx
	mov	104(%rsi), %rcx
	mov	112(%rsi), %rax
	mov	72(%rsi), %rsi               /* last: it was the pointer */
	iretq

/* noreturn void user_return(struct kctx *k, uint64_t value): back into user_run's caller. */
	.globl user_return
user_return:
	mov	(%rdi), %rsp
	mov	%rsi, %rax
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	ret

/*
 * SYSCALL: RCX = user RIP, R11 = user RFLAGS, IF/DF/TF/AC cleared (SFMASK), RSP still the
 * user's. Switch to the process's kernel stack (percpu kernel_rsp), build a struct user_regs
 * there (RCX and R11 are saved as the RIP and RFLAGS they hold: Linux clobbers them the same
 * way), call syscall_dispatch(regs), which puts the result in regs->rax, restore and SYSRET.
 * 18 quadwords keep the 16-byte alignment of kernel_rsp at the call.
 */
	.globl syscall_entry
syscall_entry:
	mov	%rsp, %gs:PERCPU_USER_RSP_OFF
	mov	%gs:PERCPU_KERNEL_RSP_OFF, %rsp
	pushq	%gs:PERCPU_USER_RSP_OFF      /* rsp */
	push	%r11                          /* rflags */
	push	%rcx                          /* rip */
	PUSH_GPRS
	mov	%rsp, %rdi
	cld
	call	syscall_dispatch
	POP_GPRS
	pop	%rcx                          /* rip */
	pop	%r11                          /* rflags */
	pop	%rsp                          /* the user's: nothing may interrupt from here (IF=0) */
	sysretq

/*
 * void switch_to(uint64_t *save_rsp, uint64_t rsp): the kernel context switch (proc.c's
 * scheduler). Saves the callee-saved registers on the current stack and its RSP in *save_rsp,
 * then continues on rsp, which holds the same layout (a switch_to of its own, or a new
 * process's first frame: six registers then proc_kthread_entry as the return address).
 */
	.globl switch_to
switch_to:
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, (%rdi)
	mov	%rsi, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	ret

/* A new process's first switch_to lands here with its struct proc in RBX (proc.c). */
	.globl proc_kthread_entry
proc_kthread_entry:
	mov	%rbx, %rdi
	call	proc_kthread                /* never returns */
	ud2
