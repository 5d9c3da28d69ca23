/*
 * guest/user/ulib.h — the user programs' tiny runtime: system call wrappers (Linux x86-64
 * convention, guest/uapi.h), a printf to fd 1, and TAP checks through MV_SYS_CHECK (the kernel
 * numbers and prints them: "ok N - <process name>: <text>").
 */
#ifndef GUEST_USER_ULIB_H
#define GUEST_USER_ULIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../uapi.h"

#define PAGE 4096UL

static inline long syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10),
			 "r"(r8), "r"(r9) : "rcx", "r11", "memory");
	return ret;
}

static inline long u_mmap(unsigned long addr, unsigned long len, long prot, long flags)
{
	return syscall6(SYS_mmap, (long)addr, (long)len, prot, flags, -1, 0);
}

static inline long u_munmap(unsigned long addr, unsigned long len)
{
	return syscall6(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0);
}

static inline long u_mprotect(unsigned long addr, unsigned long len, long prot)
{
	return syscall6(SYS_mprotect, (long)addr, (long)len, prot, 0, 0, 0);
}

static inline long u_madvise(unsigned long addr, unsigned long len, long advice)
{
	return syscall6(SYS_madvise, (long)addr, (long)len, advice, 0, 0, 0);
}

static inline unsigned long u_brk(unsigned long brk)
{
	return (unsigned long)syscall6(SYS_brk, (long)brk, 0, 0, 0, 0, 0);
}

static inline long u_getpid(void)
{
	return syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
}

static inline long u_fork(void)
{
	return syscall6(SYS_fork, 0, 0, 0, 0, 0, 0);
}

static inline long u_wait(long pid, int *status)
{
	return syscall6(SYS_wait4, pid, (long)status, 0, 0, 0, 0);
}

static inline long u_set_mempolicy(long mode, unsigned long nodes)
{
	return syscall6(SYS_set_mempolicy, mode, (long)&nodes, 65, 0, 0, 0);
}

/* mbind(addr, len, mode, &nodes, 65, flags): a 64-bit node mask. */
static inline long u_mbind(unsigned long addr, unsigned long len, long mode, unsigned long nodes,
			   long flags)
{
	return syscall6(SYS_mbind, (long)addr, (long)len, mode, (long)&nodes, 65, flags);
}

static inline long u_maps(char *buf, unsigned long size)
{
	return syscall6(MV_SYS_MAPS, (long)buf, (long)size, 0, 0, 0, 0);
}

static inline void u_stats(struct mv_proc_stats *st)
{
	syscall6(MV_SYS_STATS, (long)st, 0, 0, 0, 0, 0);
}

static inline __attribute__((noreturn)) void u_exit(int code)
{
	syscall6(SYS_exit, code, 0, 0, 0, 0, 0);
	__builtin_unreachable();
}

/* An anonymous private mapping: MAP_PRIVATE | MAP_ANONYMOUS | flags. */
static inline long u_anon(unsigned long addr, unsigned long len, long prot, long flags)
{
	return u_mmap(addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags);
}

/* A system call result that is an error: [-4095, -1]. */
static inline bool u_err(long r)
{
	return r < 0 && r >= -MAP_FAILED_MAX;
}

size_t u_strlen(const char *s);
int u_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4))) int u_snprintf(char *buf, size_t size, const char *fmt, ...);
/* printf to fd 1 (%s %c %d %u %x %p %%, l/z modifiers, width and the 0 flag). */
__attribute__((format(printf, 1, 2))) void u_printf(const char *fmt, ...);
/* A TAP check through the kernel; returns ok. */
__attribute__((format(printf, 2, 3))) bool u_check(bool ok, const char *fmt, ...);

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif /* GUEST_USER_ULIB_H */
