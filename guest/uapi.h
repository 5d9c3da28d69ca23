/*
 * guest/uapi.h — the ABI between the guest kernel and its user programs (guest/user/): system
 * call numbers, their flag values, the programs the image carries, and the one struct the
 * kernel writes into user memory. Linux's numbers and values wherever Linux has the call; the
 * memvisor-only calls sit above Linux's range (MV_SYS_*).
 *
 * Calling convention (Linux x86-64): `syscall` with the number in RAX, arguments in RDI, RSI,
 * RDX, R10, R8, R9; the result in RAX, a negative errno (-EINVAL ...) on failure; RCX and R11
 * are clobbered, every other register is preserved.
 *
 * Included by the kernel (C, freestanding) and the user programs; needs only <stdint.h>.
 */
#ifndef GUEST_UAPI_H
#define GUEST_UAPI_H

#include <stdint.h>

/* ---- system call numbers (Linux x86-64) ---------------------------------------------------- */
#define SYS_write        1
#define SYS_mmap         9
#define SYS_mprotect     10
#define SYS_munmap       11
#define SYS_brk          12
#define SYS_sched_yield  24
#define SYS_madvise      28
#define SYS_getpid       39
#define SYS_fork         57
#define SYS_exit         60
#define SYS_wait4        61
#define SYS_exit_group   231
#define SYS_mbind        237
#define SYS_set_mempolicy 238

/* memvisor-only calls (no Linux meaning; Linux would return -ENOSYS for them). */
#define MV_SYS_CHECK     1000   /* (ok, msg, len): a TAP check "ok N - <name>: <msg>"; returns ok */
#define MV_SYS_MAPS      1001   /* (buf, size): /proc/self/maps text into buf (NUL-terminated,
				 * truncated); buf NULL: print it on the serial port. Returns the
				 * full length */
#define MV_SYS_STATS     1002   /* (struct mv_proc_stats *): this process's counters */

/* ---- errno (Linux values) -------------------------------------------------------------------- */
#define UAPI_EPERM   1
#define UAPI_EBADF   9
#define UAPI_ECHILD  10
#define UAPI_EAGAIN  11
#define UAPI_ENOMEM  12
#define UAPI_EACCES  13
#define UAPI_EFAULT  14
#define UAPI_EEXIST  17
#define UAPI_EINVAL  22
#define UAPI_ENOSYS  38

/* ---- mmap / mprotect / madvise (Linux values) ------------------------------------------------ */
#define PROT_NONE        0x0
#define PROT_READ        0x1
#define PROT_WRITE       0x2
#define PROT_EXEC        0x4

#define MAP_SHARED       0x01
#define MAP_PRIVATE      0x02
#define MAP_TYPE         0x0f
#define MAP_FIXED        0x10
#define MAP_ANONYMOUS    0x20
#define MAP_NORESERVE    0x4000
#define MAP_POPULATE     0x8000
#define MAP_FIXED_NOREPLACE 0x100000
#define MAP_FAILED_MAX   4095   /* results in [-4095, -1] are errors, as in Linux */

#define MADV_DONTNEED    4

/* set_mempolicy / mbind modes (Linux). MPOL_LOCAL, the mode flags and mbind's MPOL_MF_* flags
 * (page migration) are not supported: -EINVAL. */
#define MPOL_DEFAULT     0
#define MPOL_PREFERRED   1
#define MPOL_BIND        2
#define MPOL_INTERLEAVE  3

/* ---- the user programs in the image (guest/user/progs.c); _start gets one in RDI ----------- */
enum uprog {
	UPROG_VMA,              /* scripted mmap/munmap/mprotect/brk, maps compared */
	UPROG_FAULT,            /* fault counts per first touch, MAP_POPULATE, MADV_DONTNEED;
				 * RSI != 0: also set_mempolicy(MPOL_BIND, node 1) */
	UPROG_STACK,            /* touch the stack downwards until killed (RSI: a page to map
				 * read-only first, whose guard gap stops the stack) */
	UPROG_SEGV_UNMAPPED,    /* read an address with no VMA */
	UPROG_SEGV_WRITE_RO,    /* write to a PROT_READ mapping */
	UPROG_SEGV_EXEC_NX,     /* jump into a PROT_READ|PROT_WRITE mapping */
	UPROG_SEGV_PROT_NONE,   /* read a PROT_NONE mapping */
	UPROG_SEGV_KERNEL,      /* read the kernel's direct map (RSI: the address) */
	UPROG_SEGV_BELOW_USER,  /* read the identity map below 4 GiB (the kernel image) */
	UPROG_HELLO,            /* write a line, check getpid, exit(RSI) */
	UPROG_COW,              /* fork; parent and child write, pages shared until written */
	UPROG_CHURN,            /* random operations checked against a model (RSI: the seed) */
	UPROG_INTERLEAVE,       /* RSI iterations of map, write, yield, check, protect, unmap */
	UPROG_SHARED,           /* MAP_SHARED | MAP_ANONYMOUS across a fork */
	UPROG_MBIND,            /* mbind errors, then placement per range at AREA (the kernel
				 * checks the nodes of the pages it leaves mapped) */
	UPROG_STRESS,           /* RSI iterations of map, fill, protect, verify, fork, unmap
				 * (several at once on every CPU, preempted by the tick) */
	UPROG_FAULTINJ,         /* RSI rounds of mmap, touch, verify, fork, munmap, brk up/down,
				 * tolerating -ENOMEM (scenario=faultinj): exit 0 all data intact,
				 * 1 a page read back wrong, 2 an unexpected system-call result */
	UPROG_BWORK,            /* the balloon scenario's process workload: RSI iterations of
				 * map, fill, verify, fork every 8th, unmap, each stamped in the
				 * log at MV_BWORK_LOG (guest/balloon.c) */
	UPROG_COUNT
};

/*
 * UPROG_BWORK's log: one page mapped at this fixed address, where iteration i stores the TSC
 * (rdtsc) at its end in word i; the kernel reads it through the process's page table after the
 * exit. At most MV_BWORK_MAX_ITERS iterations (one page of words).
 */
#define MV_BWORK_LOG        UINT64_C(0x380000000)      /* 14 GiB: no other program's range */
#define MV_BWORK_MAX_ITERS  512

/* wait4 status words (Linux): exited: code << 8; killed: the signal number. */
#define WSTATUS_EXITED(code)   ((code) << 8)
#define SIGILL   4
#define SIGFPE   8
#define SIGSEGV  11

/* MV_SYS_STATS: counters since the process was created. */
#define MV_STATS_NODES 8
struct mv_proc_stats {
	uint64_t minflt;                    /* page faults that installed a page (Linux min_flt) */
	uint64_t cowflt;                    /* of them, copy-on-write faults */
	uint64_t rss;                       /* pages mapped */
	uint64_t rss_node[MV_STATS_NODES];  /* ... per NUMA node */
	uint64_t pid;
};
_Static_assert(sizeof(struct mv_proc_stats) == 12 * 8, "mv_proc_stats is an ABI struct");

#endif /* GUEST_UAPI_H */
