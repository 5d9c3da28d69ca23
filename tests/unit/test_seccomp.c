/*
 * tests/unit/test_seccomp.c — vmm/seccomp_filter: the filters memvisor's vCPU, memory and
 * control threads run under.
 *
 * A loaded filter cannot be removed, so every case runs in a forked child: the child sets the
 * filters up, enters a kind, makes its calls and reports by exit status; the parent reads the
 * status and what the child wrote on stderr (the SIGSYS handler's message).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "seccomp_filter.h"
#include "mvtest.h"

struct child {
	int status;                 /* exit status, or 128 + signal */
	char err[1024];             /* what it wrote on stderr */
};

/* Run fn(arg) in a child whose stderr is captured; the child exits with fn's return value. */
static struct child run_child(int (*fn)(void *), void *arg)
{
	struct child c = { 0 };
	int pipefd[2], ws;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	CHECK_EQ(pipe(pipefd), 0);
	fflush(NULL);
	pid = fork();
	CHECK_GE(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		_exit(fn(arg));
	}
	close(pipefd[1]);
	while (len + 1 < sizeof(c.err) &&
	       (n = read(pipefd[0], c.err + len, sizeof(c.err) - 1 - len)) > 0)
		len += (size_t)n;
	c.err[len] = '\0';
	close(pipefd[0]);
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	c.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return c;
}

/* Set up in `mode` and enter `kind` as "test-thread"; 90 when setup fails. */
static int enter(enum seccomp_mode mode, enum thread_kind kind)
{
	if (seccomp_setup(mode)) {
		fprintf(stderr, "setup: %s\n", mv_error());
		return 90;
	}
	seccomp_enter(kind, "test-thread");
	return 0;
}

TEST(parse_names_the_bad_word)
{
	enum seccomp_mode m = SECCOMP_MODE_OFF;

	CHECK_EQ(seccomp_parse("true", &m), 0);
	CHECK_EQ(m, SECCOMP_MODE_ON);
	CHECK_EQ(seccomp_parse("log", &m), 0);
	CHECK_EQ(m, SECCOMP_MODE_LOG);
	CHECK_EQ(seccomp_parse("false", &m), 0);
	CHECK_EQ(m, SECCOMP_MODE_OFF);
	CHECK_EQ(seccomp_parse("on", &m), -EINVAL);
	CHECK_CONTAINS(mv_error(), "--seccomp on: expected true, false or log");
	CHECK_EQ(m, SECCOMP_MODE_OFF);
}

/* What a vCPU thread does: write, its own heap, guest memory, KVM_RUN (here on a bad fd). */
static int vcpu_allowed(void *arg)
{
	int err = enter(SECCOMP_MODE_ON, THREAD_VCPU);
	void *p;
	char *heap;

	(void)arg;
	if (err)
		return err;
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || madvise(p, 1 << 20, MADV_DONTNEED) || munmap(p, 1 << 20))
		return 91;
	heap = malloc(1 << 16);
	if (!heap)
		return 92;
	memset(heap, 1, 1 << 16);
	free(heap);
	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)   /* allowed: the kernel says EBADF */
		return 93;
	if (write(STDERR_FILENO, "still here\n", 11) != 11)
		return 94;
	return 0;
}

TEST(vcpu_filter_allows_what_a_vcpu_does)
{
	struct child c = run_child(vcpu_allowed, NULL);

	CHECK_STREQ(c.err, "still here\n");
	CHECK_EQ(c.status, 0);
}

static int make_socket(void *arg)
{
	int err = enter(*(enum seccomp_mode *)arg, THREAD_VCPU);
	int fd;

	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	return fd >= 0 ? 0 : 95;
}

TEST(forbidden_call_ends_the_process_naming_thread_and_call)
{
	enum seccomp_mode mode = SECCOMP_MODE_ON;
	struct child c = run_child(make_socket, &mode);

	CHECK_EQ(c.status, MV_EXIT_SECCOMP);
	CHECK_CONTAINS(c.err, "memvisor: seccomp: thread 'test-thread' made a system call its "
		       "filter forbids: socket (41)");
}

TEST(log_mode_lets_the_call_through)
{
	enum seccomp_mode mode = SECCOMP_MODE_LOG;
	struct child c = run_child(make_socket, &mode);

	CHECK_STREQ(c.err, "");
	CHECK_EQ(c.status, 0);
}

TEST(off_mode_loads_nothing)
{
	enum seccomp_mode mode = SECCOMP_MODE_OFF;
	struct child c = run_child(make_socket, &mode);

	CHECK_EQ(c.status, 0);
}

static int ioctl_not_listed(void *arg)
{
	int err = enter(SECCOMP_MODE_ON, THREAD_VCPU);

	(void)arg;
	if (err)
		return err;
	ioctl(-1, KVM_CREATE_VM, 0);    /* a vCPU never makes VMs */
	return 0;
}

TEST(ioctl_requests_are_checked_one_by_one)
{
	struct child c = run_child(ioctl_not_listed, NULL);

	CHECK_EQ(c.status, MV_EXIT_SECCOMP);
	CHECK_CONTAINS(c.err, "forbids: ioctl (16)");
}

static int map_exec(void *arg)
{
	int err = enter(SECCOMP_MODE_ON, *(enum thread_kind *)arg);

	if (err)
		return err;
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

TEST(no_kind_may_map_executable_memory)
{
	for (enum thread_kind k = 0; k < THREAD_KINDS; k++) {
		struct child c = run_child(map_exec, &k);

		CHECK_EQ(c.status, MV_EXIT_SECCOMP);
		CHECK_CONTAINS(c.err, "forbids: mmap (9)");
	}
}

static int control_opens(void *arg)
{
	int err = enter(SECCOMP_MODE_ON, THREAD_CONTROL);
	FILE *f;
	char line[256];

	if (err)
		return err;
	f = fopen("/proc/self/maps", "r");      /* the memory statistics read it */
	if (!f || !fgets(line, sizeof(line), f))
		return 96;
	fclose(f);
	if (*(const bool *)arg)                 /* then try to write a file */
		open("/tmp/memvisor-seccomp-test", O_WRONLY | O_CREAT, 0600);
	return 0;
}

TEST(control_thread_opens_files_for_reading_only)
{
	bool write = false;
	struct child c = run_child(control_opens, &write);

	CHECK_EQ(c.status, 0);
	write = true;
	c = run_child(control_opens, &write);
	CHECK_EQ(c.status, MV_EXIT_SECCOMP);
	CHECK_CONTAINS(c.err, "forbids: openat (257)");
}

static int memory_opens(void *arg)
{
	int err = enter(SECCOMP_MODE_ON, THREAD_MEMORY);

	(void)arg;
	if (err)
		return err;
	open("/proc/self/maps", O_RDONLY);
	return 0;
}

TEST(memory_threads_open_nothing)
{
	struct child c = run_child(memory_opens, NULL);

	CHECK_EQ(c.status, MV_EXIT_SECCOMP);
	CHECK_CONTAINS(c.err, "forbids: openat");
}

/* The filter binds the thread that entered, not the process. */
static void *filtered_thread(void *arg)
{
	seccomp_enter(THREAD_MEMORY, "worker");
	*(int *)arg = 1;
	return NULL;
}

static int other_threads_unfiltered(void *arg)
{
	pthread_t t;
	int entered = 0, fd;

	(void)arg;
	if (seccomp_setup(SECCOMP_MODE_ON))
		return 90;
	if (pthread_create(&t, NULL, filtered_thread, &entered) || pthread_join(t, NULL))
		return 97;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);   /* the main thread is not filtered */
	return entered && fd >= 0 ? 0 : 98;
}

TEST(filters_bind_only_the_thread_that_entered)
{
	struct child c = run_child(other_threads_unfiltered, NULL);

	CHECK_STREQ(c.err, "");
	CHECK_EQ(c.status, 0);
}
