/*
 * kvm_probe.c — proof that the machine the kvm-labelled tests run on (tools/sandbox: directly
 * where /dev/kvm exists, else a nested KVM host under QEMU TCG) gives real KVM and userfaultfd,
 * the two kernel services memvisor's VMM is built on. Run it through tools/sandbox; outside KVM
 * every KVM test fails (on purpose: a kvm test never skips).
 *
 * The guests are a few bytes of 16-bit real-mode code at GPA 0x1000 with CS=DS=0; each test
 * checks the exact sequence of exits it must see. Each test owns its fds and threads; nothing is
 * shared between tests, so there is no lock order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mvtest.h"

#define PAGE_SIZE 4096ul
#define CODE_GPA 0x1000ul  /* guest code page, slot 0 */
#define DATA_GPA 0x8000ul  /* uffd-backed data page, slot 1 (guest_write_faults_through_uffd) */

struct vm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	void *code;  /* host mapping of the code page */
};

/* Opens /dev/kvm, creates a VM with one code page holding @code and one vCPU in real mode at
 * CODE_GPA. */
static void vm_create(struct vm *v, const uint8_t *code, size_t len)
{
	struct kvm_userspace_memory_region slot = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	int size;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		mvt_fail(__FILE__, __LINE__, "open /dev/kvm: %s (run through tools/sandbox)",
			 strerror(errno));
	CHECK_EQ(ioctl(v->kvm, KVM_GET_API_VERSION, 0), KVM_API_VERSION);
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	CHECK_GE(v->vm, 0);

	v->code = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(v->code != MAP_FAILED);
	CHECK_LE(len, PAGE_SIZE);
	memcpy(v->code, code, len);
	slot.slot = 0;
	slot.guest_phys_addr = CODE_GPA;
	slot.memory_size = PAGE_SIZE;
	slot.userspace_addr = (uint64_t)(uintptr_t)v->code;
	CHECK_EQ(ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &slot), 0);

	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	CHECK_GE(v->vcpu, 0);
	size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	CHECK_GE(size, (int)sizeof(struct kvm_run));
	v->run_size = (size_t)size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	CHECK(v->run != MAP_FAILED);

	CHECK_EQ(ioctl(v->vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	CHECK_EQ(ioctl(v->vcpu, KVM_SET_SREGS, &sregs), 0);
	regs.rip = CODE_GPA;
	regs.rflags = 0x2;  /* bit 1 is reserved and must be set */
	CHECK_EQ(ioctl(v->vcpu, KVM_SET_REGS, &regs), 0);
}

static void vm_destroy(struct vm *v)
{
	munmap(v->run, v->run_size);
	munmap(v->code, PAGE_SIZE);
	close(v->vcpu);
	close(v->vm);
	close(v->kvm);
}

/* Runs the vCPU to its next exit and returns the exit reason. */
static uint32_t vm_run(struct vm *v)
{
	CHECK_EQ(ioctl(v->vcpu, KVM_RUN, 0), 0);
	return v->run->exit_reason;
}

/* The value of a single OUT the vCPU just exited on (@size bytes to @port). */
static uint32_t io_out_value(struct vm *v, uint16_t port, uint8_t size)
{
	const uint8_t *data = (const uint8_t *)v->run + v->run->io.data_offset;
	uint32_t value = 0;

	CHECK_EQ(v->run->io.direction, KVM_EXIT_IO_OUT);
	CHECK_EQ_U(v->run->io.port, port);
	CHECK_EQ(v->run->io.size, size);
	CHECK_EQ(v->run->io.count, 1);
	memcpy(&value, data, size);
	return value;
}

TEST(no_device_fails_cleanly)
{
	/* Error case first: a path that is not a KVM device must not answer KVM ioctls. */
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	CHECK_GE(fd, 0);
	CHECK_EQ(ioctl(fd, KVM_GET_API_VERSION, 0), -1);
	CHECK_EQ(errno, ENOTTY);
	close(fd);
}

TEST(api_version_and_memslots)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0)
		mvt_fail(__FILE__, __LINE__, "open /dev/kvm: %s (run through tools/sandbox)",
			 strerror(errno));
	CHECK_EQ(ioctl(kvm, KVM_GET_API_VERSION, 0), 12);
	CHECK_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
	/* memvisor maps guest memory with many slots; KVM must offer well over a handful. */
	CHECK_GE(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS), 509);
	close(kvm);
}

/*
 * Five byte OUTs to port 0x10 with values 1..5 from a loop, one word OUT of 0xbeef to port 0x11,
 * then HLT: exactly 6 IO exits, in that order, then one HLT exit.
 */
TEST(real_mode_out_exits)
{
	static const uint8_t code[] = {
		0xb0, 0x01,             /* 0: mov al, 1 */
		0xe6, 0x10,             /* 2: out 0x10, al */
		0xfe, 0xc0,             /* 4: inc al */
		0x3c, 0x06,             /* 6: cmp al, 6 */
		0x75, 0xf8,             /* 8: jne 2 */
		0xb8, 0xef, 0xbe,       /* a: mov ax, 0xbeef */
		0xe7, 0x11,             /* d: out 0x11, ax */
		0xf4,                   /* f: hlt */
	};
	struct vm v;
	uint32_t i;

	vm_create(&v, code, sizeof(code));
	for (i = 1; i <= 5; i++) {
		CHECK_EQ(vm_run(&v), KVM_EXIT_IO);
		CHECK_EQ_U(io_out_value(&v, 0x10, 1), i);
	}
	CHECK_EQ(vm_run(&v), KVM_EXIT_IO);
	CHECK_EQ_U(io_out_value(&v, 0x11, 2), 0xbeef);
	CHECK_EQ(vm_run(&v), KVM_EXIT_HLT);
	vm_destroy(&v);
}

/* ---- userfaultfd ---------------------------------------------------------------------------- */

struct uffd_server {
	int uffd;
	unsigned expected;     /* faults to answer before returning */
	unsigned served;
	uint64_t addrs[8];     /* page addresses of the faults, in order */
	void *base;            /* start of the registered region */
	uint8_t *src;          /* the page UFFDIO_COPY copies from (page-aligned) */
	pthread_t thread;
	int error;             /* errno of the first failure, 0 if none */
};

static int uffd_open(void)
{
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };

	if (uffd < 0)
		mvt_fail(__FILE__, __LINE__, "userfaultfd: %s", strerror(errno));
	CHECK_EQ(ioctl(uffd, UFFDIO_API, &api), 0);
	CHECK(api.ioctls & (1ull << _UFFDIO_REGISTER));
	return uffd;
}

static void uffd_register_missing(int uffd, void *base, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)base, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	CHECK_EQ(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);
	CHECK(reg.ioctls & (1ull << _UFFDIO_COPY));
}

/* Answers each MISSING fault with UFFDIO_COPY of a page whose bytes all equal
 * 0xa0 + (page index in the region), so the faulting side can tell which copy it got. */
static void *uffd_serve(void *arg)
{
	struct uffd_server *s = arg;

	while (s->served < s->expected) {
		struct uffd_msg msg;
		struct uffdio_copy copy;
		uint64_t at;

		if (read(s->uffd, &msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
			s->error = errno ? errno : EIO;
			return NULL;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			s->error = EPROTO;
			return NULL;
		}
		at = msg.arg.pagefault.address & ~(PAGE_SIZE - 1);
		if (s->served < 8)
			s->addrs[s->served] = at;
		memset(s->src, 0xa0 + (int)((at - (uint64_t)(uintptr_t)s->base) / PAGE_SIZE), PAGE_SIZE);
		copy = (struct uffdio_copy){ .dst = at, .src = (uint64_t)(uintptr_t)s->src,
					     .len = PAGE_SIZE, .mode = 0 };
		if (ioctl(s->uffd, UFFDIO_COPY, &copy) != 0) {
			s->error = errno;
			return NULL;
		}
		s->served++;
	}
	return NULL;
}

static void uffd_server_start(struct uffd_server *s, void *base, size_t len, unsigned expected)
{
	memset(s, 0, sizeof(*s));
	s->uffd = uffd_open();
	s->base = base;
	s->expected = expected;
	s->src = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(s->src != MAP_FAILED);
	uffd_register_missing(s->uffd, base, len);
	CHECK_EQ(pthread_create(&s->thread, NULL, uffd_serve, s), 0);
}

static void uffd_server_stop(struct uffd_server *s)
{
	CHECK_EQ(pthread_join(s->thread, NULL), 0);
	close(s->uffd);
	munmap(s->src, PAGE_SIZE);
	CHECK_EQ(s->error, 0);
}

/*
 * Four registered pages, touched in the order 2, 0, 3, 1 by this thread: each read blocks
 * until the server thread copies that page in; each page then holds the server's pattern.
 */
TEST(uffd_missing_faults_resolved_by_copy)
{
	static const unsigned order[4] = { 2, 0, 3, 1 };
	struct uffd_server s;
	uint8_t *mem;
	unsigned i;

	mem = mmap(NULL, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED);
	uffd_server_start(&s, mem, 4 * PAGE_SIZE, 4);
	for (i = 0; i < 4; i++) {
		volatile uint8_t *p = mem + order[i] * PAGE_SIZE + 123;
		CHECK_EQ_U(*p, 0xa0 + order[i]);
	}
	uffd_server_stop(&s);
	CHECK_EQ(s.served, 4);
	for (i = 0; i < 4; i++)
		CHECK_EQ_U(s.addrs[i], (uint64_t)(uintptr_t)(mem + order[i] * PAGE_SIZE));
	/* Resolved pages are ordinary memory now: no more faults, the copy is intact. */
	CHECK_EQ_U(mem[3 * PAGE_SIZE + PAGE_SIZE - 1], 0xa3);
	munmap(mem, 4 * PAGE_SIZE);
}

/*
 * The VMM's fault path in miniature: slot 1 (DATA_GPA) is backed by a uffd-registered region.
 * The guest reads byte 0 of the data page into al, writes al+1 to byte 1 and halts. The read
 * faults in the host, KVM_RUN blocks until the server copies the page in (pattern 0xa0), and then
 * the guest finishes: exactly one uffd fault, at the data page, and the guest's write in place.
 */
TEST(guest_write_faults_through_uffd)
{
	static const uint8_t code[] = {
		0xa0, 0x00, 0x80,             /* mov al, [0x8000] */
		0xfe, 0xc0,                   /* inc al */
		0xa2, 0x01, 0x80,             /* mov [0x8001], al */
		0xf4,                         /* hlt */
	};
	struct kvm_userspace_memory_region slot = { 0 };
	struct uffd_server s;
	struct vm v;
	uint8_t *data;

	vm_create(&v, code, sizeof(code));
	data = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(data != MAP_FAILED);
	uffd_server_start(&s, data, PAGE_SIZE, 1);
	slot.slot = 1;
	slot.guest_phys_addr = DATA_GPA;
	slot.memory_size = PAGE_SIZE;
	slot.userspace_addr = (uint64_t)(uintptr_t)data;
	CHECK_EQ(ioctl(v.vm, KVM_SET_USER_MEMORY_REGION, &slot), 0);

	CHECK_EQ(vm_run(&v), KVM_EXIT_HLT);
	uffd_server_stop(&s);
	CHECK_EQ(s.served, 1);
	CHECK_EQ_U(s.addrs[0], (uint64_t)(uintptr_t)data);
	CHECK_EQ_U(data[0], 0xa0);
	CHECK_EQ_U(data[1], 0xa1);
	CHECK_EQ_U(data[2], 0xa0);
	vm_destroy(&v);
	munmap(data, PAGE_SIZE);
}
