/*
 * vm.c — the KVM virtual machine and its vCPU threads (vm.h).
 *
 * Ending the VM: whoever ends it (a vCPU thread on an exit-port write, a shutdown or an
 * unexpected exit; the main thread when every vCPU has halted; QMP quit) calls vm_end(), which
 * records the first status, sets vm.stopping and wakes the main thread; the main thread then
 * kicks every vCPU out of KVM_RUN. Every vCPU looks at vm.stopping before each KVM_RUN, so the
 * vCPU whose port write ended the machine never runs another guest instruction. A kick is
 * `run->immediate_exit = 1` followed by SIGUSR1 to the thread: the signal interrupts a running
 * KVM_RUN, and immediate_exit makes a KVM_RUN that has not started yet return -EINTR at once, so
 * no kick is lost between the flag check and the ioctl.
 *
 * Halt detection: with an in-kernel LAPIC, HLT never exits to user space, so every
 * VM_HALT_CHECK_MS the main thread takes a snapshot of every vCPU (vm_all_halted): it kicks each
 * with check_wanted set, each kicked vCPU holds out of KVM_RUN (vcpu.check_parked), and only once
 * ALL are out does each read its MP state and RFLAGS.IF. A vCPU halted with interrupts off (or
 * an AP never started) can be woken only by another vCPU (an IPI, INIT, or KVM's paravirtual
 * unhalt, which Linux's PV spinlocks use: a waiter halts with interrupts off until the holder's
 * KVM_HC_KICK_CPU) or an NMI, which nothing else in this machine sends. So if every vCPU is in
 * that state at one instant, the VM has ended cleanly (status 0). The instant matters: states
 * read one vCPU at a time while the others run would see two vCPUs handing a PV lock back and
 * forth as both halted (Linux booting on 2 vCPUs did exactly that).
 *
 * Pausing (vm_pause, for QMP stop): vm.paused is set under vm.lock and every vCPU kicked; a
 * kicked vCPU that sees it parks on vm.cond (vcpu.parked) until vm_resume clears it or the VM
 * stops. The main thread skips halt checks while paused.
 *
 * Lock order: vm.lock → (nothing). Device handlers (serial.lock) run without vm.lock.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <memvisor/layout.h>

#include "cpuid.h"
#include "error.h"
#include "exit_reason.h"
#include "hostmem_pv.h"
#include "ram.h"
#include "seccomp_filter.h"
#include "testdev.h"

#define VM_KICK_SIGNAL     SIGUSR1
#define VM_CHECK_WAIT_MS   1000            /* a vCPU that does not answer a check in time */
#define X86_RFLAGS_IF      (UINT64_C(1) << 9)
#define X86_RFLAGS_FIXED   (UINT64_C(1) << 1)
#define X86_CR0_PE         (UINT64_C(1) << 0)
#define X86_CR0_ET         (UINT64_C(1) << 4)
#define X86_CR0_PG         (UINT64_C(1) << 31)
#define X86_CR4_PAE        (UINT64_C(1) << 5)
#define X86_EFER_LME       (UINT64_C(1) << 8)
#define X86_EFER_LMA       (UINT64_C(1) << 10)
#define X86_BOOT_CS        0x10                    /* Linux's __BOOT_CS; PVH and multiboot too */
#define X86_BOOT_DS        0x18                    /* __BOOT_DS */
#define X86_SEG_CODE_XRA   0xb                     /* execute/read, accessed */
#define X86_SEG_DATA_RWA   0x3                     /* read/write, accessed */
#define X86_SEG_TSS_BUSY   0xb                     /* busy 32/64-bit TSS */
#define X86_RESET_RIP      UINT64_C(0xfff0)        /* x86 state after RESET/INIT */
#define X86_RESET_CS_BASE  UINT64_C(0xffff0000)

/* Every capability memvisor relies on, by name, with why. */
static const struct vm_cap {
	int cap;
	const char *name;
	const char *why;
} vm_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "the in-kernel PIC, IOAPIC and LAPICs" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", "routing the PIT to IOAPIC pin 2" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2", "the in-kernel PIT" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM in memvisor's address space" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "placing KVM's TSS in the MMIO hole" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR",
	  "placing KVM's identity map in the MMIO hole" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", "detecting halted vCPUs" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs without races" },
};

static int vm_check_caps(struct vm *vm)
{
	const struct machine_config *m = vm->m;
	int slots, vcpus;

	for (size_t i = 0; i < sizeof(vm_caps) / sizeof(vm_caps[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, vm_caps[i].cap) <= 0)
			return mv_fail(ENOTSUP, "KVM lacks %s (needed for %s)", vm_caps[i].name,
				       vm_caps[i].why);
	slots = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	if (slots < GUEST_MEM_MAX_REGIONS)
		return mv_fail(ENOTSUP, "KVM_CAP_NR_MEMSLOTS is %d; memvisor needs %d", slots,
			       GUEST_MEM_MAX_REGIONS);
	vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (vcpus <= 0)
		vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (vcpus < (int)m->nr_cpus)
		return mv_fail(ENOTSUP, "KVM allows %d vCPUs per VM (KVM_CAP_MAX_VCPUS); --cpus %u "
			       "asks for more", vcpus, m->nr_cpus);
	return 0;
}

static int vm_open_kvm(struct vm *vm)
{
	int version;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		if (errno == ENOENT)
			return mv_fail(ENODEV, "/dev/kvm does not exist: this host has no KVM. Run "
				       "memvisor inside the nested KVM sandbox: tools/sandbox -- "
				       "memvisor run ... (docs/sandbox.md)");
		return mv_fail(errno, "cannot open /dev/kvm: %s%s", strerror(errno),
			       errno == EACCES ? " (run as root or join group kvm)" : "");
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION)
		return mv_fail(ENOTSUP, "KVM API version %d; memvisor needs %d", version,
			       KVM_API_VERSION);
	return 0;
}

/* KVM_GET_SUPPORTED_CPUID, growing the buffer until it fits. */
static int vm_get_cpuid(struct vm *vm)
{
	for (uint32_t nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return mv_fail(ENOMEM, "out of memory for CPUID");
		c->nent = nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return mv_fail(errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	}
	return mv_fail(E2BIG, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

static int vcpu_create(struct vm *vm, unsigned id)
{
	struct vcpu *v = &vm->vcpus[id];
	size_t size = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	struct kvm_cpuid2 *c;
	int err = 0;

	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0)
		return mv_fail(errno, "KVM_CREATE_VCPU %u: %s", id, strerror(errno));
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return mv_fail(errno, "vCPU %u: mmap of kvm_run: %s", id, strerror(errno));
	}
	c = malloc(size);
	if (!c)
		return mv_fail(ENOMEM, "out of memory for CPUID");
	memcpy(c, vm->cpuid, size);
	cpuid_set_topology(c, id, vm->m->nr_cpus);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		err = mv_fail(errno, "vCPU %u: KVM_SET_CPUID2: %s", id, strerror(errno));
	free(c);
	return err;
}

/*
 * GSI routing as on a PC (and QEMU): ISA IRQs 0-15 to the 8259 pair except the cascade (2), and
 * GSIs 0-23 to the IOAPIC with GSI 0 — where the in-kernel PIT fires — on pin 2, GSI 2 nowhere.
 * The MADT's interrupt source override IRQ 0 → GSI 2 states exactly this (acpi.c). KVM's default
 * would put GSI 0 on pin 0 and make that override a lie.
 */
static int vm_set_gsi_routing(struct vm *vm)
{
	enum { MAX_ROUTES = 16 + MV_IOAPIC_PINS };
	struct kvm_irq_routing *r;
	unsigned n = 0;
	int err = 0;

	r = calloc(1, sizeof(*r) + MAX_ROUTES * sizeof(r->entries[0]));
	if (!r)
		return mv_fail(ENOMEM, "KVM_SET_GSI_ROUTING: out of memory");
	for (unsigned irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue;
		r->entries[n].gsi = irq;
		r->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		r->entries[n].u.irqchip.irqchip = irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		r->entries[n].u.irqchip.pin = irq % 8;
		n++;
	}
	for (unsigned gsi = 0; gsi < MV_IOAPIC_PINS; gsi++) {
		if (gsi == 2)
			continue;
		r->entries[n].gsi = gsi;
		r->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		r->entries[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		r->entries[n].u.irqchip.pin = gsi == 0 ? 2 : gsi;
		n++;
	}
	r->nr = n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0)
		err = mv_fail(errno, "KVM_SET_GSI_ROUTING: %s", strerror(errno));
	free(r);
	return err;
}

static void serial_irq(void *opaque, bool level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = MV_IRQ_COM1, .level = level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);   /* cannot fail for an ISA IRQ once irqchip exists */
}

int vm_create(struct vm *vm, const struct machine_config *m, const struct guest_mem *mem,
	      int serial_fd)
{
	struct kvm_pit_config pit = { .flags = 0 };
	uint64_t identity = MV_GPA_KVM_IDENTITY_MAP;
	int err;

	memset(vm, 0, sizeof(*vm));
	vm->m = m;
	vm->mem = mem;
	vm->kvm_fd = vm->vm_fd = -1;
	for (unsigned i = 0; i < MACHINE_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	serial_init(&vm->serial, serial_fd, serial_irq, vm);

	err = vm_open_kvm(vm);
	if (!err)
		err = vm_check_caps(vm);
	if (err)
		goto out;
	vm->run_size = (size_t)ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		err = mv_fail(errno, "KVM_CREATE_VM: %s", strerror(errno));
		goto out;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)MV_GPA_KVM_TSS) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		err = mv_fail(errno, "setting up the VM (TSS, identity map, irqchip, PIT): %s",
			      strerror(errno));
		goto out;
	}
	err = vm_set_gsi_routing(vm);
	if (!err)
		err = ram_register(mem, vm->vm_fd);
	if (!err)
		err = vm_get_cpuid(vm);
	for (unsigned i = 0; !err && i < m->nr_cpus; i++)
		err = vcpu_create(vm, i);
out:
	if (err)
		vm_destroy(vm);
	return err;
}

/*
 * Record the end of the guest (the first one wins), stop every vCPU at its next look at
 * vm.stopping, and wake the main thread and every vCPU waiting on vm.cond.
 */
static void vm_end(struct vm *vm, int status)
{
	pthread_mutex_lock(&vm->lock);
	if (!atomic_load(&vm->stopping)) {
		vm->status = status;
		atomic_store(&vm->stopping, true);
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm_stop(struct vm *vm, int status)
{
	vm_end(vm, status);
}

static void vcpu_dump(struct vcpu *v, FILE *f)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(f, "  (registers unavailable: %s)\n", strerror(errno));
		return;
	}
	fprintf(f, "  rip %016llx  rsp %016llx  rflags %08llx\n"
		"  rax %016llx  rbx %016llx  rcx %016llx  rdx %016llx\n"
		"  rsi %016llx  rdi %016llx  rbp %016llx  r8  %016llx\n"
		"  r9  %016llx  r10 %016llx  r11 %016llx  r12 %016llx\n"
		"  r13 %016llx  r14 %016llx  r15 %016llx\n"
		"  cr0 %016llx  cr2 %016llx  cr3 %016llx  cr4 %016llx  efer %llx\n"
		"  cs %04x (base %llx, l=%u db=%u)  ss %04x  ds %04x  tr %04x\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8,
		r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
		s.cs.selector, s.cs.base, s.cs.l, s.cs.db, s.ss.selector, s.ds.selector,
		s.tr.selector);
	if (r.rip == X86_RESET_RIP && s.cs.base == X86_RESET_CS_BASE)
		fprintf(f, "  (these are reset values: on AMD, KVM reinitialises the vCPU when it "
			"intercepts a shutdown, so the faulting state is lost)\n");
}

/* Report an exit memvisor cannot continue from, with the registers, and end the VM. */
__attribute__((format(printf, 3, 4)))
static void vcpu_fatal(struct vcpu *v, int status, const char *fmt, ...)
{
	va_list ap;

	serial_flush(&v->vm->serial);
	pthread_mutex_lock(&v->vm->lock);        /* one report at a time */
	fprintf(stderr, "memvisor: vCPU %u: ", v->id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	vcpu_dump(v, stderr);
	pthread_mutex_unlock(&v->vm->lock);
	vm_end(v->vm, status);
}

/* One port access of `size` bytes at `data` (little-endian, as x86 puts it). */
static void vcpu_pio_one(struct vcpu *v, uint16_t port, unsigned size, bool out, uint8_t *data)
{
	struct vm *vm = v->vm;

	if (port >= MV_PORT_COM1 && port < MV_PORT_COM1 + SERIAL_NR_REGS) {
		for (unsigned b = 0; b < size; b++) {     /* a wide access touches next registers */
			unsigned reg = port - MV_PORT_COM1 + b;

			if (out)
				serial_write(&vm->serial, reg, data[b]);
			else
				data[b] = serial_read(&vm->serial, reg);
		}
		return;
	}
	if (port == MV_PORT_EXIT && out) {
		uint32_t code = 0;

		for (unsigned b = 0; b < size; b++)
			code |= (uint32_t)data[b] << (8 * b);
		serial_flush(&vm->serial);
		vm_end(vm, (int)(((code << 1) | 1) & 0xff));   /* exit(2) keeps 8 bits, as QEMU */
		return;
	}
	if (vm->hostmem && hostmem_pv_pio(vm->hostmem, v->id, port, out, size, data))
		return;
	if (vm->testdev && testdev_pio(vm->testdev, port, out, size, data))
		return;
	if (!out)
		memset(data, 0xff, size);                 /* nothing answers: a floating bus */
	pthread_mutex_lock(&vm->lock);
	if (vm->unhandled_pio++ == 0)
		vm->first_unhandled_port = port;
	pthread_mutex_unlock(&vm->lock);
}

static void vcpu_pio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	if (run->io.size == 0 || run->io.data_offset > v->vm->run_size ||
	    bytes > v->vm->run_size - run->io.data_offset) {
		vcpu_fatal(v, VM_STATUS_UNEXPECTED, "KVM_EXIT_IO with a malformed data area");
		return;
	}
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		vcpu_pio_one(v, run->io.port, run->io.size, run->io.direction == KVM_EXIT_IO_OUT,
			     data);
}

int vm_add_mmio(struct vm *vm, gpa_t base, uint64_t size,
		void (*access)(void *opaque, uint64_t offset, uint8_t *data, unsigned len,
			       bool write), void *opaque)
{
	if (vm->nr_mmio == VM_MAX_MMIO_DEVS || !size || base + size < base)
		return mv_fail(EINVAL, "MMIO bus: no room for a device at 0x%llx+0x%llx",
			       (unsigned long long)base, (unsigned long long)size);
	for (unsigned i = 0; i < vm->nr_mmio; i++)
		if (base < vm->mmio[i].base + vm->mmio[i].size && vm->mmio[i].base < base + size)
			return mv_fail(EINVAL, "MMIO bus: 0x%llx+0x%llx overlaps another device",
				       (unsigned long long)base, (unsigned long long)size);
	vm->mmio[vm->nr_mmio++] = (struct vm_mmio_dev){ base, size, access, opaque };
	return 0;
}

void vm_irq_pulse(struct vm *vm, uint32_t gsi)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = 1 };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);      /* cannot fail for a routed IOAPIC pin */
	irq.level = 0;
	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static void vcpu_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	uint64_t addr = run->mmio.phys_addr;
	unsigned len = run->mmio.len;

	for (unsigned i = 0; i < vm->nr_mmio; i++) {
		const struct vm_mmio_dev *d = &vm->mmio[i];

		if (addr >= d->base && addr - d->base < d->size && len <= sizeof(run->mmio.data) &&
		    len <= d->size - (addr - d->base)) {
			d->access(d->opaque, addr - d->base, run->mmio.data, len, run->mmio.is_write);
			return;
		}
	}
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
	pthread_mutex_lock(&vm->lock);
	if (vm->unhandled_mmio++ == 0)
		vm->first_unhandled_mmio = run->mmio.phys_addr;
	pthread_mutex_unlock(&vm->lock);
}

/*
 * The vCPU's part of a halt check (vm_all_halted): hold out of KVM_RUN; once main says every
 * vCPU is out (vm.check_read), read the MP state and RFLAGS.IF; hold until main releases all.
 */
static void vcpu_check(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_mp_state mp = { 0 };
	struct kvm_regs regs = { 0 };
	bool read, ok;

	pthread_mutex_lock(&vm->lock);
	v->check_parked = true;
	pthread_cond_broadcast(&vm->cond);
	while (vm->check_hold && !vm->check_read && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->cond, &vm->lock);
	read = vm->check_hold && vm->check_read;
	pthread_mutex_unlock(&vm->lock);
	if (read) {
		ok = ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0 &&
		     ioctl(v->fd, KVM_GET_REGS, &regs) == 0;
		pthread_mutex_lock(&vm->lock);
		v->mp_state = ok ? mp.mp_state : KVM_MP_STATE_RUNNABLE;   /* unknown: alive */
		v->interrupts_on = !ok || (regs.rflags & X86_RFLAGS_IF);
		v->check_done = true;
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
	}
	pthread_mutex_lock(&vm->lock);
	while (vm->check_hold && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->cond, &vm->lock);
	v->check_parked = false;
	pthread_mutex_unlock(&vm->lock);
}

/* Handle one exit; false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_pio(v);   /* a write that ends the machine sets vm.stopping (vm_end) */
		return true;
	case KVM_EXIT_MMIO:
		vcpu_mmio(v);
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fatal(v, VM_STATUS_SHUTDOWN, "guest shutdown (triple fault): "
			   "KVM_EXIT_SHUTDOWN");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fatal(v, VM_STATUS_UNEXPECTED, "KVM_EXIT_FAIL_ENTRY: hardware entry failure "
			   "reason 0x%llx",
			   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_fatal(v, VM_STATUS_UNEXPECTED, "KVM_EXIT_INTERNAL_ERROR: suberror %u%s",
			   run->internal.suberror,
			   run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			   " (instruction emulation failed)" : "");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_fatal(v, run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ?
			   VM_STATUS_SHUTDOWN : VM_STATUS_UNEXPECTED,
			   "KVM_EXIT_SYSTEM_EVENT type %u", run->system_event.type);
		return false;
	default:
		vcpu_fatal(v, VM_STATUS_UNEXPECTED, "unexpected exit %s (%u)",
			   kvm_exit_reason_name(run->exit_reason), run->exit_reason);
		return false;
	}
}

/* Stay out of KVM_RUN while the VM is paused (vm_pause). */
static void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	while (vm->paused && !atomic_load(&vm->stopping)) {
		if (!v->parked) {
			v->parked = true;
			pthread_cond_broadcast(&vm->cond);
		}
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
	v->parked = false;
	pthread_mutex_unlock(&vm->lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	seccomp_enter(THREAD_VCPU, name);
	__atomic_store_n(&v->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	vcpu_park(v);                            /* a VM stopped before it started stays so */
	for (;;) {
		if (atomic_load(&vm->stopping))
			break;
		if (ioctl(v->fd, KVM_RUN, 0) == 0) {
			if (!vcpu_handle_exit(v))
				break;
			continue;
		}
		if (errno == EFAULT && atomic_load(&vm->stopping))
			break;          /* guest memory service stopped (gmem.h) and refuses faults */
		if (errno != EINTR && errno != EAGAIN) {
			vcpu_fatal(v, VM_STATUS_UNEXPECTED, "KVM_RUN failed: %s", strerror(errno));
			break;
		}
		/* Kicked: clear the kick first, then look at why (see the header). */
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (atomic_load(&vm->stopping))
			break;
		if (atomic_exchange(&v->check_wanted, false))
			vcpu_check(v);
		vcpu_park(v);
	}
	return NULL;
}

static void vcpu_kick(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VM_KICK_SIGNAL);
}

static void vm_kick_handler(int sig)
{
	(void)sig;                               /* its only job is to interrupt KVM_RUN */
}

/*
 * The boot vCPU in the state its protocol promises (boot.h): flat 32-bit protected mode for PVH
 * and multiboot; for Linux, 64-bit long mode over the loader's identity page tables and GDT.
 * The descriptor caches are loaded directly, so the GDT in guest memory only matters once the
 * guest reloads a selector.
 */
static int vcpu_set_boot_entry(struct vcpu *v, const struct boot_entry *e)
{
	struct kvm_sregs s;
	struct kvm_regs r = { 0 };
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = X86_BOOT_CS, .type = X86_SEG_CODE_XRA,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return mv_fail(errno, "vCPU 0: KVM_GET_SREGS: %s", strerror(errno));
	data.selector = X86_BOOT_DS;
	data.type = X86_SEG_DATA_RWA;
	s.tr.type = X86_SEG_TSS_BUSY;            /* a busy TSS, as VMX entry requires */
	s.tr.present = 1;
	s.cr0 = X86_CR0_PE | X86_CR0_ET;
	s.cr4 = 0;
	s.efer = 0;
	if (e->protocol == BOOT_LINUX) {
		code.l = 1;                      /* 64-bit code: L set, D/B clear */
		code.db = 0;
		s.cr0 |= X86_CR0_PG;
		s.cr3 = e->cr3;
		s.cr4 = X86_CR4_PAE;
		s.efer = X86_EFER_LME | X86_EFER_LMA;
		s.gdt.base = e->gdt;
		s.gdt.limit = e->gdt_limit;
	}
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	r.rflags = X86_RFLAGS_FIXED;
	r.rip = e->rip;
	r.rax = e->rax;
	r.rbx = e->rbx;
	r.rsi = e->rsi;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0 || ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return mv_fail(errno, "vCPU 0: setting the %s entry state: %s",
			       boot_protocol_name(e->protocol), strerror(errno));
	return 0;
}

/* Under vm.lock: wait until pred holds for every vCPU, the VM ends or the deadline passes. */
static bool vm_wait_all_locked(struct vm *vm, bool (*pred)(const struct vcpu *v),
			       const struct timespec *deadline)
{
	bool all = false;

	while (!atomic_load(&vm->stopping)) {
		all = true;
		for (unsigned i = 0; i < vm->m->nr_cpus; i++)
			all &= pred(&vm->vcpus[i]);
		if (all || pthread_cond_timedwait(&vm->cond, &vm->lock, deadline) == ETIMEDOUT)
			break;
	}
	return all && !atomic_load(&vm->stopping);
}

static bool vcpu_is_check_parked(const struct vcpu *v)
{
	return v->check_parked;
}

static bool vcpu_is_check_done(const struct vcpu *v)
{
	return v->check_done;
}

/* The halt check (see the header): true if every vCPU was halted for good at one instant. */
static bool vm_all_halted(struct vm *vm)
{
	const struct machine_config *m = vm->m;
	struct timespec deadline;
	bool answered, dead = true;

	pthread_mutex_lock(&vm->lock);
	vm->check_hold = true;
	vm->check_read = false;
	for (unsigned i = 0; i < m->nr_cpus; i++)
		vm->vcpus[i].check_done = false;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < m->nr_cpus; i++) {
		atomic_store(&vm->vcpus[i].check_wanted, true);
		vcpu_kick(&vm->vcpus[i]);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += VM_CHECK_WAIT_MS / 1000;
	pthread_mutex_lock(&vm->lock);
	answered = vm_wait_all_locked(vm, vcpu_is_check_parked, &deadline);
	if (answered) {                          /* every vCPU is out of KVM_RUN: read them */
		vm->check_read = true;
		pthread_cond_broadcast(&vm->cond);
		answered = vm_wait_all_locked(vm, vcpu_is_check_done, &deadline);
	}
	for (unsigned i = 0; answered && i < m->nr_cpus; i++) {
		const struct vcpu *v = &vm->vcpus[i];
		bool halted_off = v->mp_state == KVM_MP_STATE_HALTED && !v->interrupts_on;
		bool never_started = v->mp_state == KVM_MP_STATE_UNINITIALIZED ||
				     v->mp_state == KVM_MP_STATE_INIT_RECEIVED;

		dead &= halted_off || (i > 0 && never_started);
	}
	vm->check_hold = false;                  /* release every vCPU */
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return answered && dead;
}

int vm_run(struct vm *vm, const struct boot_entry *entry)
{
	const struct machine_config *m = vm->m;
	struct sigaction sa = { .sa_handler = vm_kick_handler };   /* no SA_RESTART */
	int status, err;

	err = vcpu_set_boot_entry(&vm->vcpus[0], entry);
	if (err) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		return VM_STATUS_UNEXPECTED;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(VM_KICK_SIGNAL, &sa, NULL);
	for (unsigned i = 0; i < m->nr_cpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		err = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (err) {
			fprintf(stderr, "memvisor: cannot start vCPU %u's thread: %s\n", i,
				strerror(err));
			vm_end(vm, VM_STATUS_UNEXPECTED);
			break;
		}
		pthread_mutex_lock(&vm->lock);  /* vm_pause reads it from another thread */
		v->thread_started = true;
		pthread_mutex_unlock(&vm->lock);
	}

	pthread_mutex_lock(&vm->lock);
	while (!atomic_load(&vm->stopping)) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += VM_HALT_CHECK_MS * 1000000L;
		t.tv_sec += t.tv_nsec / 1000000000L;
		t.tv_nsec %= 1000000000L;
		if (pthread_cond_timedwait(&vm->cond, &vm->lock, &t) == 0 ||
		    atomic_load(&vm->stopping) || vm->paused)
			continue;
		pthread_mutex_unlock(&vm->lock);
		if (vm_all_halted(vm))
			vm_end(vm, 0);
		pthread_mutex_lock(&vm->lock);
	}
	status = vm->status;
	pthread_mutex_unlock(&vm->lock);

	for (unsigned i = 0; i < m->nr_cpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_kick(&vm->vcpus[i]);
	for (unsigned i = 0; i < m->nr_cpus; i++)
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
	serial_flush(&vm->serial);
	if (vm->unhandled_pio)
		fprintf(stderr, "memvisor: %llu guest accesses to I/O ports without a device (first: "
			"port 0x%x); reads returned all ones\n",
			(unsigned long long)vm->unhandled_pio, vm->first_unhandled_port);
	if (vm->unhandled_mmio)
		fprintf(stderr, "memvisor: %llu guest accesses to MMIO without a device (first: gpa "
			"0x%llx); reads returned all ones\n", (unsigned long long)vm->unhandled_mmio,
			(unsigned long long)vm->first_unhandled_mmio);
	if (vm->serial.write_error)
		fprintf(stderr, "memvisor: serial output was cut short: %s\n",
			strerror(vm->serial.write_error));
	return status;
}

int vm_pause(struct vm *vm)
{
	const struct machine_config *m = vm->m;
	struct timespec deadline;
	bool all = false;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += VM_PAUSE_WAIT_MS / 1000;
	pthread_mutex_lock(&vm->lock);
	vm->paused = true;
	for (unsigned i = 0; i < m->nr_cpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_kick(&vm->vcpus[i]);
	for (;;) {
		all = true;
		for (unsigned i = 0; i < m->nr_cpus; i++)
			all &= !vm->vcpus[i].thread_started || vm->vcpus[i].parked;
		if (all || atomic_load(&vm->stopping) || !vm->paused ||
		    pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&vm->lock);
	if (!all && !atomic_load(&vm->stopping))
		return mv_fail(ETIMEDOUT, "not every vCPU stopped within %d ms (each stops when it "
			       "leaves KVM_RUN)", VM_PAUSE_WAIT_MS);
	return 0;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->paused = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

bool vm_paused(struct vm *vm)
{
	bool paused;

	pthread_mutex_lock(&vm->lock);
	paused = vm->paused;
	pthread_mutex_unlock(&vm->lock);
	return paused;
}

void vm_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < MACHINE_MAX_VCPUS; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			munmap(v->run, vm->run_size);
		if (v->fd >= 0)
			close(v->fd);
		v->run = NULL;
		v->fd = -1;
	}
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->vm_fd = vm->kvm_fd = -1;
	free(vm->cpuid);
	vm->cpuid = NULL;
	serial_destroy(&vm->serial);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
}
