/*
 * guest/trampoline.S — how an AP (application processor) gets from its startup IPI to C.
 *
 * A SIPI with vector V starts the AP in 16-bit real mode at CS = V << 8, IP = 0: physical
 * address V << 12. The code between ap_trampoline and ap_trampoline_end is therefore never run
 * where it is linked: smp.c copies it to MV_GPA_AP_TRAMPOLINE (include/memvisor/layout.h; a page
 * of low RAM the guest owns) and fills its parameter block before each SIPI. Every address the
 * copy uses is absolute (TRAMP + offset within the copy) or relative to CS in real mode.
 *
 *   1. real mode: CS = 0x800; DS = CS; load the trampoline's own GDT; CR0.PE;
 *   2. far jump to 32-bit protected mode (TR_CODE32); flat data segments;
 *   3. CR4 (PAE, from the BSP), CR3 = the BSP's page tables, EFER (LME, NXE as on the BSP),
 *      CR0.PG: long mode; far jump to 64-bit code (TR_CODE64);
 *   4. RSP = the AP's stack, RDI = its struct percpu, jump to ap_start64 (kernel text);
 *   5. ap_start64: the kernel's GDT (boot.S), reload every segment register, call ap_main().
 *
 * The parameter block is struct ap_tramp_params in smp.c (same order, same offsets): the BSP
 * starts one AP at a time and waits for it to reach ap_main() before rewriting it.
 *
 * This file cannot include memvisor/layout.h (see boot.S), so the constants it shares with C
 * are repeated with the name of their C definition.
 */
#define TRAMP            0x8000       /* MV_GPA_AP_TRAMPOLINE */
#define SEL_CODE64       0x08         /* boot.S's GDT */
#define SEL_DATA         0x10         /* boot.S's GDT */

#define CR0_PE           (1 << 0)
#define CR0_PG           (1 << 31)
#define MSR_EFER         0xc0000080

/* The trampoline's GDT (Intel SDM vol. 3, 3.4.5): flat 4 GiB segments. */
#define DESC_TYPE_CODE   (0xa << 40)  /* execute/read */
#define DESC_TYPE_DATA   (0x2 << 40)  /* read/write */
#define DESC_S           (1 << 44)
#define DESC_P           (1 << 47)
#define DESC_L           (1 << 53)
#define DESC_DB          (1 << 54)
#define DESC_G           (1 << 55)
#define DESC_LIMIT_MAX   (0xffff | (0xf << 48))
#define TR_CODE32        0x08
#define TR_DATA          0x10
#define TR_CODE64        0x18

/* Where label x of the trampoline is in the copy; OFF(x) its offset from CS in real mode. */
#define OFF(x)           ((x) - ap_trampoline)
#define ABS(x)           (TRAMP + OFF(x))

	/* Data to the kernel: it is copied, never executed in place. */
	.section .rodata
	.balign 16
	.globl ap_trampoline, ap_trampoline_end, ap_trampoline_params
	.code16
ap_trampoline:
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	OFF(tr_gdt_ptr)
	mov	%cr0, %eax
	or	$CR0_PE, %eax
	mov	%eax, %cr0
	ljmpl	$TR_CODE32, $ABS(tr_32)

	.code32
tr_32:
	mov	$TR_DATA, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	ABS(tr_cr4), %eax
	mov	%eax, %cr4
	mov	ABS(tr_cr3), %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	mov	ABS(tr_efer), %eax
	xor	%edx, %edx
	wrmsr
	mov	%cr0, %eax
	or	$CR0_PG, %eax
	mov	%eax, %cr0
	ljmp	$TR_CODE64, $ABS(tr_64)

	.code64
tr_64:
	mov	ABS(tr_stack), %rsp
	mov	ABS(tr_arg), %rdi
	mov	ABS(tr_entry), %rax
	jmp	*%rax

	.balign 8
tr_gdt:
	.quad	0
	.quad	DESC_P + DESC_S + DESC_TYPE_CODE + DESC_DB + DESC_G + DESC_LIMIT_MAX   /* TR_CODE32 */
	.quad	DESC_P + DESC_S + DESC_TYPE_DATA + DESC_DB + DESC_G + DESC_LIMIT_MAX   /* TR_DATA */
	.quad	DESC_P + DESC_S + DESC_TYPE_CODE + DESC_L + DESC_G + DESC_LIMIT_MAX    /* TR_CODE64 */
tr_gdt_end:
tr_gdt_ptr:
	.word	tr_gdt_end - tr_gdt - 1
	.long	ABS(tr_gdt)

	.balign 8
ap_trampoline_params:                   /* struct ap_tramp_params (smp.c) */
tr_cr3:	.long	0
tr_cr4:	.long	0
tr_efer: .long	0
	.long	0
tr_stack: .quad	0
tr_entry: .quad	0
tr_arg:	.quad	0
ap_trampoline_end:

/*
 * ap_start64(struct percpu *pc) — in the kernel's text, entered from the trampoline's 64-bit
 * code with CS = TR_CODE64 of the trampoline's GDT. Switch to boot.S's GDT and reload every
 * segment register from it (an iretq would otherwise reload CS = 0x18, which boot.S's GDT does
 * not have), then ap_main(pc) (smp.c), which never returns.
 */
	.text
	.code64
	.globl ap_start64
ap_start64:
	lgdt	boot_gdt_ptr
	mov	$SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs                   /* before smp.c writes the GS base MSR */
	pushq	$SEL_CODE64
	lea	1f(%rip), %rax
	push	%rax
	lretq
1:	call	ap_main                     /* RSP was 16-byte aligned: ap_main sees 8 mod 16 */
2:	cli
	hlt
	jmp	2b
