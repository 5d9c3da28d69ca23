/*
 * guest/user/ustart.S — the user image's entry. The kernel starts a process here with
 * RDI = the program (enum uprog, guest/uapi.h), RSI = its argument, RSP 16-byte aligned; umain's
 * return value becomes the exit status.
 */
#define SYS_exit 60                 /* guest/uapi.h */

	.section .text.start, "ax"
	.globl _start
_start:
	xor	%ebp, %ebp
	call	umain                       /* umain sees RSP = 8 mod 16, as the ABI wants */
	mov	%eax, %edi
	mov	$SYS_exit, %eax
	syscall
	ud2                                 /* exit does not return */
