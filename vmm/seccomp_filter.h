/*
 * vmm/seccomp_filter.h — seccomp filters for memvisor's long-lived threads (libseccomp).
 *
 * Every thread that runs while the guest runs — vCPUs, userfaultfd readers, the reclaimer, the
 * request and balloon-timer threads, the QMP thread — enters a filter that allows only the
 * system calls its kind uses (vmm/seccomp_filter.c lists them, with why). The main thread (which opens
 * files and /dev/kvm, builds the VM and prints the report) and the short-lived image loader run
 * unfiltered, as in Firecracker before its VMM thread starts serving.
 *
 * A forbidden call raises SIGSYS; the handler prints the thread's name and the call's name and
 * the process exits with MV_EXIT_SECCOMP (a memvisor bug: the list missed a call). `log` mode
 * lets every call through and has the kernel log the ones the filter would have refused
 * (seccomp's SECCOMP_RET_LOG, visible in dmesg/audit): that is how a missing call is found.
 *
 * Use: main calls seccomp_setup(mode) once before any such thread starts; each thread calls
 * seccomp_enter(kind, name) first thing. Modes and kinds are fixed after setup.
 */
#ifndef MV_SECCOMP_FILTER_H
#define MV_SECCOMP_FILTER_H

#define MV_EXIT_SECCOMP 12          /* a filtered thread made a forbidden system call */

enum seccomp_mode {
	SECCOMP_MODE_OFF,           /* --seccomp false: no filters (the library's default) */
	SECCOMP_MODE_ON,            /* --seccomp true (memvisor run's default) */
	SECCOMP_MODE_LOG,           /* --seccomp log: allow, but the kernel logs what would fail */
};

enum thread_kind {
	THREAD_VCPU,                /* KVM_RUN and the device emulation its exits call */
	THREAD_MEMORY,              /* userfaultfd readers, reclaimer, requests, balloon timer */
	THREAD_CONTROL,             /* the QMP socket: memory's calls plus sockets and /proc reads */
	THREAD_KINDS
};

/* "true", "false" or "log" (Cloud Hypervisor's --seccomp words); -EINVAL with mv_error() set. */
int seccomp_parse(const char *arg, enum seccomp_mode *mode);

/*
 * Build every kind's filter and install the SIGSYS handler (the filters are loaded by
 * seccomp_enter). 0, or -errno with mv_error() naming what failed (libseccomp missing a call
 * name, no memory). Mode OFF builds nothing.
 */
int seccomp_setup(enum seccomp_mode mode);

/*
 * Name the calling thread (`name`, cut to 15 characters: /proc/PID/task/TID/comm) and load its
 * kind's filter. A filter that cannot be loaded ends the process with MV_EXIT_SECCOMP and a
 * message: running unconfined would silently break the promise above.
 */
void seccomp_enter(enum thread_kind kind, const char *name);

/* The mode seccomp_setup was given (OFF before it). */
enum seccomp_mode seccomp_mode(void);

#endif /* MV_SECCOMP_FILTER_H */
