/*
 * vm_guests.S — tiny 32-bit guests for kvm_vm.c, entered at the PVH entry state
 * (include/memvisor/pvh.h: flat protected mode, EBX = start-info address). Assembled as data
 * into the test binary; the test copies one to guest-physical 1 MiB and runs it.
 */
	.section .rodata
	.code32

/* Print "hi", the high byte of EBX (0x60 = '`' for MV_GPA_START_INFO 0x6000), this vCPU's APIC
 * id from CPUID leaf 1 as a digit, a newline; then read a port nothing answers (0x80) and print
 * it as-is (0xff); then write 21 to the exit port. */
	.globl guest_hello, guest_hello_end
guest_hello:
	mov	$0x3f8, %dx
	mov	$'h', %al
	out	%al, %dx
	mov	$'i', %al
	out	%al, %dx
	mov	%bh, %al
	out	%al, %dx
	mov	$1, %eax
	cpuid				/* clobbers EDX: the port goes back in below */
	mov	$0x3f8, %dx
	shr	$24, %ebx
	lea	'0'(%ebx), %eax
	out	%al, %dx
	mov	$'\n', %al
	out	%al, %dx
	in	$0x80, %al
	out	%al, %dx
	mov	$0xf4, %dx
	mov	$21, %al
	out	%al, %dx
1:	jmp	1b			/* never reached: the exit port ends the VM */
guest_hello_end:

/* Print "bye\n" and halt with interrupts off: the VMM must notice and end with status 0. */
	.globl guest_halt, guest_halt_end
guest_halt:
	mov	$0x3f8, %dx
	mov	$'b', %al
	out	%al, %dx
	mov	$'y', %al
	out	%al, %dx
	mov	$'e', %al
	out	%al, %dx
	mov	$'\n', %al
	out	%al, %dx
	cli
2:	hlt
	jmp	2b
guest_halt_end:

/* ud2 with the reset IDT (base 0, all zero): #UD → #NP → #DF → triple fault. */
	.globl guest_triple, guest_triple_end
guest_triple:
	ud2
guest_triple_end:

/* MMIO bus: read the word at 0xd0000000 and print its 4 bytes, store it back at 0xd0000010, read
 * 0xd0001000 (no device: all ones) and print its low byte; then write 9 to the exit port. */
	.globl guest_mmio, guest_mmio_end
guest_mmio:
	mov	0xd0000000, %ecx
	mov	$0x3f8, %dx
	mov	$4, %esi
3:	mov	%cl, %al
	out	%al, %dx
	ror	$8, %ecx
	dec	%esi
	jnz	3b
	mov	%ecx, 0xd0000010
	mov	0xd0001000, %eax
	out	%al, %dx
	mov	$0xf4, %dx
	mov	$9, %al
	out	%al, %dx
4:	jmp	4b
guest_mmio_end:

	.code64
	.section .note.GNU-stack, "", @progbits
