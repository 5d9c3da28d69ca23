/*
 * guest/user_blob.S — the user image (guest/user/: an ELF64 executable linked for the user
 * range) embedded in the kernel's read-only data, between user_elf_start and user_elf_end.
 * proc.c parses it and copies its segments into each process. USER_ELF_PATH comes from
 * guest/CMakeLists.txt.
 */
	.section .rodata.user, "a"
	.balign 4096
	.globl user_elf_start, user_elf_end
user_elf_start:
	.incbin USER_ELF_PATH
user_elf_end:
