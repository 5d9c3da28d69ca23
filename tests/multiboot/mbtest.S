/*
 * mbtest.S — the multiboot test kernel's entry (tests/multiboot/mbtest.c has the checks): the
 * multiboot v1 header, the entry from the loader, and the AP trampoline the BSP copies below
 * 1 MiB before its SIPIs.
 *
 * Entry contract (Multiboot Specification 0.6.96, 3.2): 32-bit protected mode, paging off, flat
 * CS/DS, EAX = 0x2BADB002, EBX = the multiboot information; ESP, the GDT and the IDT are
 * undefined. So _start loads its own GDT and stack before calling mb_main(magic, info), and
 * keeps interrupts off throughout (there is no IDT).
 *
 * The header has no address fields (flag 16 clear): the loader must load the ELF by its program
 * headers. Flags: modules page-aligned, memory information wanted.
 *
 * This file cannot include memvisor/multiboot.h (C only), so the constants it shares are
 * repeated with the name of their C definition.
 */
#define MULTIBOOT_HEADER_MAGIC  0x1BADB002     /* memvisor/multiboot.h */
#define MULTIBOOT_PAGE_ALIGN    (1 << 0)
#define MULTIBOOT_MEMORY_INFO   (1 << 1)
#define MB_FLAGS                (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO)

#define SEL_CODE                0x08           /* gdt below */
#define SEL_DATA                0x10
#define STACK_SIZE              16384

	.section .multiboot, "a"
	.balign 4
	.long	MULTIBOOT_HEADER_MAGIC
	.long	MB_FLAGS
	.long	-(MULTIBOOT_HEADER_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	lgdt	gdt_ptr
	ljmp	$SEL_CODE, $1f
1:	mov	$SEL_DATA, %ecx
	mov	%ecx, %ds
	mov	%ecx, %es
	mov	%ecx, %ss
	mov	%ecx, %fs
	mov	%ecx, %gs
	mov	$stack_top, %esp
	push	%ebx                    /* mb_main(magic, info) */
	push	%eax
	call	mb_main
2:	hlt                             /* mb_main never returns */
	jmp	2b

	/* Flat 4 GiB segments (Intel SDM vol. 3, 3.4.5): base 0, limit 0xfffff, 4 KiB granular. */
	.section .rodata
	.balign 8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff      /* SEL_CODE: 32-bit code, execute/read */
	.quad	0x00cf92000000ffff      /* SEL_DATA: read/write */
gdt_end:
	.balign 4
	.short	0                       /* gdt_ptr's base field 4-byte aligned */
gdt_ptr:
	.short	gdt_end - gdt - 1
	.long	gdt

/*
 * The AP trampoline: data to the kernel, copied to 0x8000 (SIPI vector 0x08 starts an AP in
 * real mode at CS = 0x0800, IP = 0) and never run where it is linked. An AP stays in real mode:
 * it adds one to the 32-bit counter at the end of the copy (the BSP zeroes it before the SIPIs
 * and reads it at 0x8000 + ap_trampoline_counter - ap_trampoline), then halts with interrupts
 * off for good. Everything it touches is CS-relative.
 */
	.balign 16
	.globl ap_trampoline, ap_trampoline_end, ap_trampoline_counter
	.code16
ap_trampoline:
	cli
	lock incl %cs:(ap_trampoline_counter - ap_trampoline)
1:	hlt
	jmp	1b
	.balign 4
ap_trampoline_counter:
	.long	0
ap_trampoline_end:
	.code32

	.bss
	.balign 16
stack:
	.skip	STACK_SIZE
stack_top:

	.section .note.GNU-stack, "", @progbits
