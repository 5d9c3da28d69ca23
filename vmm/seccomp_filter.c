/*
 * vmm/seccomp_filter.c — the system calls each kind of memvisor thread may make (vmm/seccomp_filter.h).
 *
 * Owns: the allow lists below, the libseccomp contexts built from them at setup, the SIGSYS
 * handler and the table of call names it prints. Lock order: load_lock alone (seccomp_load
 * regenerates BPF from a shared context, so two threads must not load at once).
 *
 * The lists were taken from strace of memvisor runs covering swap, eviction, page-out/in and
 * migration requests, the balloon with statistics and free page reporting, QMP sessions and the
 * OOM stop (kept by the kvm cases, which all run filtered), then cut to what the code calls:
 *  - every kind: memory management of its own heap and of guest memory (mmap/mremap/madvise/
 *    fallocate on the pool memfds, pread/pwrite for swap and frames, userfaultfd wake/register),
 *    locks and sleeps (futex, clock_nanosleep), stdio to already open descriptors, sending QMP
 *    events (sendmsg/shutdown on the client socket), raising an interrupt (KVM_IRQ_LINE for
 *    balloon configuration and statistics requests), kicking another thread (tgkill), exiting;
 *  - vCPU: KVM_RUN and the state reads its exits need (MP state, registers for a dump);
 *  - memory threads: poll/read of the userfaultfd and eventfds;
 *  - control (QMP): accept, poll, close, fcntl and read-only opens (/proc/self/maps for the
 *    memory statistics).
 * Nothing may map or make memory executable (mmap/mprotect with PROT_EXEC are refused), open a
 * file for writing, create sockets, fork or exec.
 */
#define _GNU_SOURCE
#include "seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"

#define MAX_SYSCALL_NR 512          /* above every x86-64 system call number (Linux 6.x: ~460) */

struct allow_list {
	const char *const *calls;   /* plain allow, any arguments; NULL-terminated */
	const unsigned long *ioctls;        /* ioctl requests allowed; 0-terminated */
};

/* Every kind. */
static const char *const common_calls[] = {
	"read", "write", "writev", "pread64", "pwrite64", "fallocate", "futex", "munmap",
	"mremap", "madvise", "brk", "rseq", "set_robust_list", "rt_sigprocmask", "rt_sigreturn",
	"sigaltstack", "exit", "exit_group", "gettid", "getpid", "tgkill", "clock_gettime",
	"clock_nanosleep", "nanosleep", "sched_yield", "restart_syscall", "sysinfo", "fstat",
	"newfstatat", "getrandom", "sendmsg", "shutdown", NULL,
};
static const unsigned long common_ioctls[] = { UFFDIO_WAKE, UFFDIO_REGISTER, KVM_IRQ_LINE, 0 };

static const char *const vcpu_calls[] = { NULL };
static const unsigned long vcpu_ioctls[] = {
	KVM_RUN, KVM_GET_MP_STATE, KVM_GET_REGS, KVM_GET_SREGS, 0,
};

static const char *const memory_calls[] = { "poll", "ppoll", NULL };
static const unsigned long no_ioctls[] = { 0 };

static const char *const control_calls[] = {
	"poll", "ppoll", "accept4", "close", "fcntl", "lseek", NULL,
};

static const struct allow_list kind_lists[THREAD_KINDS] = {
	[THREAD_VCPU] = { vcpu_calls, vcpu_ioctls },
	[THREAD_MEMORY] = { memory_calls, no_ioctls },
	[THREAD_CONTROL] = { control_calls, no_ioctls },
};

static const char *const kind_names[THREAD_KINDS] = { "vcpu", "memory", "control" };

static enum seccomp_mode mode = SECCOMP_MODE_OFF;
static scmp_filter_ctx contexts[THREAD_KINDS];
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static char *call_names[MAX_SYSCALL_NR];     /* resolved at setup: the handler cannot allocate */
static _Thread_local char thread_name[16] = "?";

int seccomp_parse(const char *arg, enum seccomp_mode *m)
{
	if (!strcmp(arg, "true"))
		*m = SECCOMP_MODE_ON;
	else if (!strcmp(arg, "false"))
		*m = SECCOMP_MODE_OFF;
	else if (!strcmp(arg, "log"))
		*m = SECCOMP_MODE_LOG;
	else
		return mv_fail(EINVAL, "--seccomp %s: expected true, false or log", arg);
	return 0;
}

enum seccomp_mode seccomp_mode(void)
{
	return mode;
}

/* ---- SIGSYS: name the thread and the call, then end the process ---------------------------- */

static void put(const char *s)
{
	ssize_t unused = write(STDERR_FILENO, s, strlen(s));

	(void)unused;
}

static void put_uint(unsigned long v)
{
	char buf[24];
	size_t n = sizeof(buf);

	buf[--n] = '\0';
	do {
		buf[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n);
	put(buf + n);
}

/* Async-signal-safe: write(2) and _exit(2) only, both allowed to every kind. */
static void sigsys_handler(int sig, siginfo_t *si, void *ctx)
{
	int nr = si->si_syscall;

	(void)sig;
	(void)ctx;
	put("memvisor: seccomp: thread '");
	put(thread_name);
	put("' made a system call its filter forbids: ");
	if (nr >= 0 && nr < MAX_SYSCALL_NR && call_names[nr])
		put(call_names[nr]);
	else
		put("(unknown)");
	put(" (");
	put_uint((unsigned long)nr);
	put("). This is a memvisor bug; --seccomp log finds the calls a filter misses.\n");
	_exit(MV_EXIT_SECCOMP);
}

/* ---- building the filters -------------------------------------------------------------------- */

static int add_call(scmp_filter_ctx ctx, const char *kind, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	int err;

	if (nr == __NR_SCMP_ERROR)
		return mv_fail(ENOSYS, "seccomp: libseccomp does not know the system call '%s'", name);
	err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	if (err)
		return mv_fail(-err, "seccomp: %s filter: allowing %s: %s", kind, name, strerror(-err));
	return 0;
}

/* One argument comparison, every field named (libseccomp's SCMP_An macros leave datum_b out). */
static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a,
				   scmp_datum_t b)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = op, .datum_a = a, .datum_b = b };

	return c;
}

static int add_ioctls(scmp_filter_ctx ctx, const char *kind, const unsigned long *req)
{
	for (; *req; req++) {
		struct scmp_arg_cmp c = arg_cmp(1, SCMP_CMP_EQ, *req, 0);
		int err = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &c);

		if (err)
			return mv_fail(-err, "seccomp: %s filter: allowing ioctl %#lx: %s", kind, *req,
				       strerror(-err));
	}
	return 0;
}

/*
 * The rules with argument checks: mmap/mprotect without PROT_EXEC; for control, openat for
 * reading only (no O_WRONLY/O_RDWR, no O_CREAT or O_TRUNC).
 */
static int add_checked(scmp_filter_ctx ctx, enum thread_kind kind)
{
	const char *name = kind_names[kind];
	struct scmp_arg_cmp no_exec = arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	struct scmp_arg_cmp read_only = arg_cmp(2, SCMP_CMP_MASKED_EQ,
						O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY);
	int err;

	err = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, &no_exec);
	if (!err)
		err = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, &no_exec);
	if (!err && kind == THREAD_CONTROL)
		err = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, &read_only);
	if (err)
		return mv_fail(-err, "seccomp: %s filter: argument rules: %s", name, strerror(-err));
	return 0;
}

static int build(enum thread_kind kind, uint32_t deny)
{
	const struct allow_list *l = &kind_lists[kind];
	const char *name = kind_names[kind];
	scmp_filter_ctx ctx = seccomp_init(deny);
	int err = 0;

	if (!ctx)
		return mv_fail(ENOMEM, "seccomp: cannot create the %s filter", name);
	/*
	 * SECCOMP_FILTER_FLAG_SPEC_ALLOW: without it, loading a filter also turns on the kernel's
	 * speculative-store-bypass mitigation (and STIBP) for the thread, as a side effect nobody
	 * asked for here: a vCPU thread then runs KVM_RUN under SSBD. Besides its cost, it made a
	 * Linux guest stall for good in the nested sandbox (kvm-amd under QEMU TCG), while the same
	 * run without filters booted (docs/boot.md).
	 */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
	if (err) {
		seccomp_release(ctx);
		return mv_fail(-err, "seccomp: %s filter: cannot keep the speculation mitigations "
			       "as they are (SCMP_FLTATR_CTL_SSB): %s", name, strerror(-err));
	}
	for (const char *const *c = common_calls; !err && *c; c++)
		err = add_call(ctx, name, *c);
	for (const char *const *c = l->calls; !err && *c; c++)
		err = add_call(ctx, name, *c);
	if (!err)
		err = add_ioctls(ctx, name, common_ioctls);
	if (!err)
		err = add_ioctls(ctx, name, l->ioctls);
	if (!err)
		err = add_checked(ctx, kind);
	if (err) {
		seccomp_release(ctx);
		return err;
	}
	contexts[kind] = ctx;
	return 0;
}

static void resolve_names(void)
{
	for (int nr = 0; nr < MAX_SYSCALL_NR; nr++)
		if (!call_names[nr])    /* NULL for numbers without a call */
			call_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

int seccomp_setup(enum seccomp_mode m)
{
	struct sigaction sa;
	uint32_t deny = m == SECCOMP_MODE_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	int err;

	if (m == SECCOMP_MODE_OFF) {
		mode = m;
		return 0;
	}
	for (unsigned k = 0; k < THREAD_KINDS; k++) {
		err = build((enum thread_kind)k, deny);
		if (err)
			return err;
	}
	resolve_names();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		return mv_fail(errno, "seccomp: cannot install the SIGSYS handler: %s",
			       strerror(errno));
	mode = m;
	return 0;
}

void seccomp_enter(enum thread_kind kind, const char *name)
{
	int err;

	snprintf(thread_name, sizeof(thread_name), "%s", name);
	pthread_setname_np(pthread_self(), thread_name);     /* best effort: a debugging aid */
	if (mode == SECCOMP_MODE_OFF)
		return;
	pthread_mutex_lock(&load_lock);
	err = seccomp_load(contexts[kind]);
	pthread_mutex_unlock(&load_lock);
	if (err) {
		fprintf(stderr, "memvisor: seccomp: cannot load the %s filter of thread '%s': %s\n",
			kind_names[kind], thread_name, strerror(-err));
		_exit(MV_EXIT_SECCOMP);
	}
}
