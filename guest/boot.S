/*
 * guest/boot.S — the PVH entry: 32-bit protected mode to 64-bit long mode, then kmain().
 *
 * Entry contract (include/memvisor/pvh.h): flat 32-bit segments, paging off, CR4 = EFER = 0,
 * EBX = physical address of struct hvm_start_info. The ELF note naming pvh_start32 is in main.c.
 *
 *   1. zero .bss ourselves (the page tables and the stack live there; do not trust the loader);
 *   2. CPUID: no long mode → "Bail out!" on COM1 and exit MV_GUEST_EXIT_BAIL (a silent triple
 *      fault otherwise, when EFER.LME is written);
 *   3. page tables identity-mapping [0, 4 GiB) with 2 MiB pages: PML4[0] → PDPT, PDPT[0..3] →
 *      four page directories of 512 entries (paging.c adds PDPT[4..] for RAM above 4 GiB);
 *   4. CR4.PAE, CR3, EFER.LME (and EFER.NXE when CPUID has NX), 64-bit GDT, CR0.PG;
 *   5. far jump to 64-bit code, data segments, stack, kmain(start info) with EBX's value.
 *
 * This file cannot include memvisor/layout.h (it pulls in <stdint.h>), so the three constants it
 * shares with C are repeated below with the name of their C definition.
 */
#define PORT_COM1        0x3f8        /* MV_PORT_COM1 */
#define PORT_EXIT        0xf4         /* MV_PORT_EXIT */
#define EXIT_BAIL        0x02         /* MV_GUEST_EXIT_BAIL */
#define UART_LSR         5
#define UART_LSR_THRE    0x20

#define CR0_PG           (1 << 31)
#define CR4_PAE          (1 << 5)
#define MSR_EFER         0xc0000080
#define EFER_LME         (1 << 8)
#define EFER_NXE         (1 << 11)
#define CPUID_EXT_LEAF   0x80000001   /* EDX: NX bit 20, LM bit 29 */
#define CPUID_EXT_NX     (1 << 20)
#define CPUID_EXT_LM     (1 << 29)

#define PTE_P            (1 << 0)
#define PTE_W            (1 << 1)
#define PTE_PS           (1 << 7)     /* in a PD entry: a 2 MiB page */
#define PAGE_SIZE        4096
#define HUGE_SHIFT       21           /* 2 MiB */
#define NR_PDS           4            /* one page directory per GiB */

/* Segment descriptor bits (Intel SDM vol. 3, 3.4.5). */
#define DESC_TYPE_CODE   (0xa << 40)  /* execute/read */
#define DESC_TYPE_DATA   (0x2 << 40)  /* read/write */
#define DESC_S           (1 << 44)    /* code or data, not system */
#define DESC_P           (1 << 47)
#define DESC_L           (1 << 53)    /* 64-bit code */
#define DESC_DB          (1 << 54)
#define DESC_G           (1 << 55)
#define DESC_LIMIT_MAX   (0xffff | (0xf << 48))

#define SEL_CODE64       0x08         /* GDT index 1; idt.c uses it for the gates */
#define SEL_DATA         0x10         /* GDT index 2 */

#define BOOT_STACK_SIZE  16384

	.section .text.boot, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	mov	%ebx, %esi                  /* start info: CPUID clobbers EBX, rep stosl EDI */

	mov	$__bss_start, %edi
	mov	$__bss_end, %ecx
	sub	%edi, %ecx
	shr	$2, %ecx                    /* the linker script aligns .bss to 4 KiB */
	xor	%eax, %eax
	rep stosl

	mov	$0x80000000, %eax           /* highest extended CPUID leaf */
	cpuid
	cmp	$CPUID_EXT_LEAF, %eax
	jb	no_long_mode
	mov	$CPUID_EXT_LEAF, %eax
	cpuid
	test	$CPUID_EXT_LM, %edx
	jz	no_long_mode
	mov	%edx, %ebp                  /* keep the NX bit for EFER below */

	/* PML4[0] → PDPT; PDPT[i] → boot_pd + i pages (i < NR_PDS). */
	movl	$(boot_pdpt + PTE_P + PTE_W), boot_pml4
	xor	%ecx, %ecx
1:	mov	%ecx, %eax
	shl	$12, %eax
	add	$(boot_pd + PTE_P + PTE_W), %eax
	mov	%eax, boot_pdpt(, %ecx, 8)
	inc	%ecx
	cmp	$NR_PDS, %ecx
	jb	1b

	/* PD entry j (over the four directories) maps j * 2 MiB; the high dwords stay 0. */
	xor	%ecx, %ecx
2:	mov	%ecx, %eax
	shl	$HUGE_SHIFT, %eax
	or	$(PTE_P + PTE_W + PTE_PS), %eax
	mov	%eax, boot_pd(, %ecx, 8)
	inc	%ecx
	cmp	$(NR_PDS * 512), %ecx
	jb	2b

	mov	$boot_pml4, %eax
	mov	%eax, %cr3
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	test	$CPUID_EXT_NX, %ebp
	jz	3f
	or	$EFER_NXE, %eax
3:	wrmsr
	lgdt	boot_gdt_ptr                /* reads the low 32 bits of the base in 32-bit mode */
	mov	%cr0, %eax
	or	$CR0_PG, %eax               /* with EFER.LME: long mode (compatibility until the jump) */
	mov	%eax, %cr0
	ljmp	$SEL_CODE64, $start64

/* Print no_lm_msg on COM1 (polling THR empty, bounded like console.c) and exit. */
no_long_mode:
	mov	$no_lm_msg, %esi
4:	lodsb
	test	%al, %al
	jz	6f
	mov	%al, %bl
	mov	$100000, %ecx
	mov	$(PORT_COM1 + UART_LSR), %dx
5:	inb	%dx, %al
	test	$UART_LSR_THRE, %al
	loopz	5b
	mov	%bl, %al
	mov	$PORT_COM1, %dx
	outb	%al, %dx
	jmp	4b
6:	mov	$EXIT_BAIL, %al
	outb	%al, $PORT_EXIT
7:	hlt
	jmp	7b

	.code64
start64:
	mov	$SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	lgdt	boot_gdt_ptr                /* again in 64-bit mode: the full 64-bit base */
	mov	$boot_stack_top, %rsp       /* 16-byte aligned: kmain sees RSP = 8 mod 16 */
	mov	%esi, %edi                  /* kmain(struct hvm_start_info *): EBX at entry */
	call	kmain
8:	cli                                 /* kmain does not return */
	hlt
	jmp	8b

	.section .rodata
no_lm_msg:
	.asciz	"Bail out! CPU has no long mode (CPUID 0x80000001 EDX.LM clear)\n"

	.section .data
	.balign 16
	.globl boot_gdt
boot_gdt:
	.quad	0
	.quad	DESC_P + DESC_S + DESC_TYPE_CODE + DESC_L + DESC_G + DESC_LIMIT_MAX    /* SEL_CODE64 */
	.quad	DESC_P + DESC_S + DESC_TYPE_DATA + DESC_DB + DESC_G + DESC_LIMIT_MAX   /* SEL_DATA */
boot_gdt_end:
	.balign 8
	.globl boot_gdt_ptr                 /* trampoline.S: the APs load it too */
boot_gdt_ptr:
	.word	boot_gdt_end - boot_gdt - 1
	.quad	boot_gdt

	.section .bss
	.balign PAGE_SIZE
boot_pml4:
	.skip	PAGE_SIZE
	.globl boot_pdpt                    /* paging.c adds entries 4.. for RAM above 4 GiB */
boot_pdpt:
	.skip	PAGE_SIZE
boot_pd:
	.skip	NR_PDS * PAGE_SIZE
	.globl boot_stack_top
boot_stack:
	.skip	BOOT_STACK_SIZE
boot_stack_top:
