/*
 * guest/proc.h — user processes: ring 3 (uarch.c, uentry.S), the process object with its address
 * space (mm/vma + a process page table from vmem.c), system calls and the page-fault handler
 * (proc.c), and the process scenarios (proctest.c). Design: docs/guest-processes.md.
 *
 * Each process has a kernel thread on its own kernel stack: it enters ring 3 and, after exit or
 * a kill, wakes its parent and switches away for good. sched_run() runs processes on the calling
 * CPU; several CPUs may run it at once (smp_run_all), sharing one run queue. A process is switched
 * out when it yields, sleeps in wait4, ends, or when the LAPIC tick interrupts it in ring 3
 * (preemption); it may resume on any CPU. System calls and faults run on the process's kernel
 * stack with interrupts off. fork makes a copy-on-write child that is runnable at once; wait4
 * sleeps until a child has ended and reaps it.
 *
 * TLB invariant: a process's user mappings are in the TLB of at most one CPU, the one running it
 * (p->on_cpu), because every switch writes CR3 (to the next process's table or the kernel's) and
 * user PTEs are not global (no PCID). So a process changing its own page table flushes only its
 * CPU (vmem_user_flush), and a table nobody runs needs no flush at all.
 *
 * Lock order: proc.c's sched_lock (interrupts off; held across switch_to, see proc.c) → console
 * (only a bail-out prints under it); nothing allocates or takes mm/'s locks under sched_lock. A
 * process's mm_space and page table are touched only by the CPU running it (its system calls
 * and faults; user_flush checks) or by its creator before it runs / its reaper after it ended.
 * Children are not reparented: a process must be reaped after its children ended (proc_free
 * BUGs on a child that may still run); the scenarios' programs wait for theirs.
 */
#ifndef GUEST_PROC_H
#define GUEST_PROC_H

#include <mm/list.h>
#include <mm/numa.h>
#include <mm/pgtable.h>
#include <mm/vma.h>

#include "kernel.h"
#include "uapi.h"

/* GDT selectors (uarch.c). */
#define SEL_KCODE  0x08             /* = boot.S's SEL_CODE64 */
#define SEL_KDATA  0x10
#define SEL_UDATA  0x20             /* DPL 3; with RPL 3: 0x23 */
#define SEL_UCODE  0x28             /* DPL 3; with RPL 3: 0x2b */

/* Every general register of a process, as uentry.S saves and restores them. */
struct user_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t rip, rflags, rsp;
};
_Static_assert(sizeof(struct user_regs) == 18 * 8, "struct user_regs mirrors uentry.S");
_Static_assert(offsetof(struct user_regs, rip) == 120, "uentry.S UR_RIP");

/* The kernel context user_run saves (its RSP; the callee-saved registers are on that stack). */
struct kctx {
	uint64_t rsp;
};

/*
 * NEW (created) → RUNNABLE (on the run queue) → RUNNING (on a CPU) → back to RUNNABLE
 * (sched_yield), SLEEPING (wait4 with no finished child; a child's end wakes it) or the end:
 * EXITED / KILLED (a zombie until its parent reaps it or it is destroyed).
 */
enum proc_state { PROC_NEW, PROC_RUNNABLE, PROC_RUNNING, PROC_SLEEPING, PROC_EXITED,
		  PROC_KILLED };

/* Why a process was killed (proc->kill_reason; the kill message prints the text). */
enum proc_kill {
	KILL_NONE,
	KILL_UNMAPPED,          /* no VMA at the address */
	KILL_KERNEL_ADDR,       /* an address outside [USER_START, USER_TOP) */
	KILL_NO_READ,           /* read of a VMA without VM_READ */
	KILL_NO_WRITE,          /* write to a VMA without VM_WRITE */
	KILL_NO_EXEC,           /* instruction fetch from a VMA without VM_EXEC */
	KILL_STACK_LIMIT,       /* below a VM_GROWSDOWN VMA that cannot grow that far */
	KILL_OOM,               /* no frame for the page */
	KILL_GP,                /* #GP (e.g. a non-canonical address) */
	KILL_OTHER_EXC,         /* any other exception */
	KILL_BAD_SYSCALL_RIP,   /* SYSCALL from where SYSRET could not return */
};

#define PROC_KSTACK_SIZE 16384
/* The top of the kernel stack holds the process's kernel thread (proc_kthread → user_run);
 * system calls, exceptions and interrupts from ring 3 start below it. */
#define PROC_KSTACK_RESERVE 512
#define PROC_NAME_MAX    24
#define PROC_MAX_SHM     16     /* shared anonymous objects one process may have attached */

struct shmem;

struct proc {
	unsigned pid;
	char name[PROC_NAME_MAX];
	enum proc_state state;
	struct mm_space mm;             /* the VMAs (mm/vma) */
	struct pgtable pt;              /* the page table (vmem.c's user half) */
	struct numa_policy *policy;     /* page placement; NULL: default (the CPU's node) */
	struct numa_policy own_policy;  /* set_mempolicy's (policy points here then) */
	struct shmem *shm[PROC_MAX_SHM];        /* shared anonymous objects attached (proc.c) */
	struct user_regs regs;          /* where the process starts */
	struct kctx kctx;               /* its kernel thread's context while in ring 3 */
	uint64_t ksp;                   /* saved kernel RSP while switched out (switch_to) */
	struct list_head runq;          /* on the run queue while RUNNABLE */
	uint8_t *kstack;                /* PROC_KSTACK_SIZE bytes, kmalloc'd */
	/* Scheduler state (sched_lock): the CPU running it (PROC_NO_CPU: none), whether it has
	 * switched away for good after its end (only then may its parent reap it), the CPUs it
	 * ran on (bit per CPU index), and how often the tick preempted it. */
	unsigned on_cpu;
	bool zombie;
	uint64_t cpus_ran;
	uint64_t preempts;
	bool no_preempt;                /* struct proc_opts; inherited by fork */
	/* Counters (struct mv_proc_stats). */
	uint64_t minflt, cowflt, rss;
	uint64_t rss_node[MV_STATS_NODES];
	/* The end: exit status or what killed it. */
	int exit_code;
	enum proc_kill kill_reason;
	uint64_t kill_vector;           /* exception vector */
	uint64_t kill_addr;             /* the faulting address (#PF) or RIP */
	uint64_t kill_error;            /* the exception's error code */
	/* TAP checks the process made through MV_SYS_CHECK, and how many failed. */
	uint64_t checks, checks_failed;
	/* fork/wait: children not yet reaped (sibling links them), NULL parent for the first. */
	struct proc *parent;
	struct list_head children;
	struct list_head sibling;
};

/* Options of proc_create; zero = defaults (8 MiB stack limit, default NUMA policy, preemptible). */
struct proc_opts {
	uint64_t stack_limit;           /* RLIMIT_STACK in bytes */
	struct numa_policy *policy;
	bool no_preempt;                /* the tick never switches it out (nor its children): for
					   scenarios whose exact counts depend on who runs first */
};

/* uarch.c: the GDT, TSSes and SYSCALL MSRs on every online CPU (once; a TAP check). */
bool uarch_init(void);
/* This CPU's ring-0 stack for the next entry from ring 3 (TSS.RSP0 and the SYSCALL stack). */
void uarch_set_kernel_stack(uint64_t top);

/* uentry.S */
uint64_t user_run(struct kctx *k, const struct user_regs *r);
__attribute__((noreturn)) void user_return(struct kctx *k, uint64_t value);
void switch_to(uint64_t *save_rsp, uint64_t rsp);
void proc_kthread_entry(void);

/* proc.c: set up the VMA cache and vmem's sharing (once, after kmem_init and uarch_init). */
bool proc_init(void);
/* Give the VMA cache's empty slabs back (before counting free pages). */
void proc_caches_shrink(void);
/*
 * A process running program prog (enum uprog) of the user image with RSI = arg: its ELF
 * segments copied into private file-backed VMAs, a one-page stack VMA (VM_GROWSDOWN) below
 * USER_TOP, brk right after the image. NULL (after a "# proc:" line) when out of memory.
 */
struct proc *proc_create(enum uprog prog, const char *name, uint64_t arg,
			 const struct proc_opts *o);
/* Make a NEW process runnable. */
void proc_start(struct proc *p);
#define PROC_NO_CPU      UINT32_MAX
/*
 * The scheduler on this CPU: run processes from the shared run queue (round robin: a yielding or
 * preempted process goes to the back) until every started process has ended. With nothing
 * runnable but processes running elsewhere, it halts until the next tick. Processes that all
 * sleep with none running or runnable is a deadlock: Bail out. Any number of CPUs may run it at
 * once (smp_run_all); smp_boot and proc_init must have run (the tick wakes the halt).
 */
void sched_run(void);
/* Times sched_run switched to a process other than the one it ran last (all CPUs). */
extern uint64_t sched_switches;
/* Per CPU: processes switched to, and tick preemptions (a process switched out by the tick). */
struct sched_cpu_stats {
	uint64_t runs;
	uint64_t preempts;
};
void sched_cpu_stats(unsigned cpu, struct sched_cpu_stats *st);
/* proc_start(p), then sched_run(): p and whatever it forked run until all are done. */
void proc_run(struct proc *p);
/* Free everything p and its unreaped children hold (frames, table pages, VMAs, stacks). */
void proc_destroy(struct proc *p);
/* The user half of p's page table against its VMAs and counters: every present leaf is a user
 * page inside a VMA with attributes matching the VMA's flags, and the leaves add up to rss and
 * rss_node. 0, or -1 after "# proc:" lines naming what is wrong. */
int proc_check(struct proc *p);
/* Print p's maps (/proc/PID/maps format) on the serial port, each line prefixed "# ". */
void proc_print_maps(struct proc *p);
/* Text of a kill reason. */
const char *proc_kill_text(enum proc_kill k);

/* idt.c → proc.c: an exception in ring 3 (returns only if it was resolved). */
void proc_user_exception(uint64_t vector, uint64_t error, uint64_t cr2, uint64_t rip);

/* proctest.c: the process scenarios (scenario=vma|fault|stack|segv). */
int proctest_lookup(const char *name, size_t len);
struct topo;
struct memmap;
void proctest_run(int sc, const struct topo *t, const struct memmap *mm);

/* soak.c: scenario=soak (guest/README.md). soak_option consumes `soak_seconds=N` (true; a TAP
 * check says whether N is valid), false for any other word. */
bool soak_option(const char *word, size_t n);
void soak_scenario(const struct topo *t, const struct memmap *mm);

#endif /* GUEST_PROC_H */
