/*
 * vm.h — a KVM virtual machine: /dev/kvm and the capabilities memvisor needs, the VM with its
 * in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT, guest RAM (ram.h), the port-I/O devices
 * (16550 at MV_PORT_COM1, the isa-debug-exit port at MV_PORT_EXIT) and one thread per vCPU.
 *
 * Life cycle: the caller builds guest RAM (ram_create) and loads it (image, ACPI, boot info), then
 * vm_create → vm_run (returns when the guest ends) → vm_destroy; the RAM stays the caller's.
 * vm_run's result is the process exit status:
 *     0            every vCPU halted with interrupts off (or never started), or the guest powered
 *                  off (ACPI S5 or the Bochs port, testdev.h): a clean end
 *     (c<<1)|1     the guest wrote c to the exit port (QEMU isa-debug-exit convention; odd)
 *     VM_STATUS_SHUTDOWN   guest shutdown (triple fault), reported with the vCPU's registers
 *     VM_STATUS_UNEXPECTED an exit memvisor does not handle, reported by name with registers,
 *                          or a KVM call failing while the guest runs
 *
 * Threads and locks: the main thread runs vm_run (it starts the vCPU threads, checks for
 * halted vCPUs every VM_HALT_CHECK_MS, and tears down); each vCPU thread owns its vcpu fd and
 * kvm_run page. vm.lock protects the end state and the halt-check answers; serial.lock is taken
 * inside device handlers only (order: vm.lock is never held while calling a device).
 */
#ifndef MV_VM_H
#define MV_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot.h"
#include "guest_mem.h"
#include "machine.h"
#include "serial.h"

#define VM_STATUS_SHUTDOWN    4
#define VM_STATUS_UNEXPECTED  6
#define VM_HALT_CHECK_MS      100
#define VM_MAX_MMIO_DEVS      8

/*
 * The MMIO bus: a guest access to [base, base + size) goes to access(opaque, offset, ...) on the
 * vCPU's thread (no vm.lock held; the device locks itself). Devices are added before vm_run.
 */
struct vm_mmio_dev {
	gpa_t base;
	uint64_t size;
	void (*access)(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool write);
	void *opaque;
};

struct vm;
struct hostmem_pv;
struct testdev;

struct vcpu {
	struct vm *vm;
	unsigned id;                   /* = APIC id */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	atomic_bool check_wanted;      /* main asks: join the halt check at the next chance */
	/* the halt check (vm.c), under vm.lock */
	bool check_parked;             /* out of KVM_RUN for the check */
	bool check_done;               /* mp_state and interrupts_on read */
	uint32_t mp_state;             /* KVM_MP_STATE_* */
	bool interrupts_on;            /* RFLAGS.IF */
	bool parked;                   /* under vm.lock: out of KVM_RUN for vm_pause */
	int tid;                       /* host thread id (QMP query-cpus-fast), 0 until it runs */
};

struct vm {
	const struct machine_config *m;
	int kvm_fd, vm_fd;
	size_t run_size;               /* KVM_GET_VCPU_MMAP_SIZE */
	const struct guest_mem *mem;   /* the caller's; registered as memory slots */
	struct kvm_cpuid2 *cpuid;      /* KVM_GET_SUPPORTED_CPUID, patched per vCPU */
	struct vcpu vcpus[MACHINE_MAX_VCPUS];
	struct serial serial;
	struct vm_mmio_dev mmio[VM_MAX_MMIO_DEVS];
	unsigned nr_mmio;
	struct hostmem_pv *hostmem;    /* optional host-memory device (hostmem_pv.h), the caller's:
					* set after vm_create, before vm_run; NULL: ports unhandled */
	struct testdev *testdev;       /* QEMU's test-device ports (testdev.h), the caller's; set
					* like hostmem; NULL: none */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool stopping;          /* set under lock, read anywhere: the guest has ended
					* (vm_end); vCPU threads leave KVM_RUN */
	int status;                    /* under lock: the first end's exit status */
	bool paused;                   /* under lock: vm_pause() holds the vCPUs out of KVM_RUN */
	bool check_hold;               /* under lock: a halt check holds the vCPUs out of KVM_RUN */
	bool check_read;               /* under lock: all are out; each reads its state now */

	/* accesses nothing answered (under lock); reported at the end */
	uint64_t unhandled_pio, unhandled_mmio;
	uint16_t first_unhandled_port;
	uint64_t first_unhandled_mmio;
};

/*
 * Open /dev/kvm, check every capability, create the VM, irqchip, PIT, memory slots for mem,
 * vCPUs and devices. Serial output goes to serial_fd. 0 or -errno with mv_error() naming the
 * problem (no /dev/kvm, a missing capability by name).
 */
int vm_create(struct vm *vm, const struct machine_config *m, const struct guest_mem *mem,
	      int serial_fd);

/* Put the boot vCPU in entry's state (boot.h), start every vCPU and run until the guest ends;
 * returns the status. */
int vm_run(struct vm *vm, const struct boot_entry *entry);

/*
 * End the guest from another thread (e.g. guest memory service failed): vm_run returns status.
 * The first end wins. Thread-safe; returns at once.
 */
void vm_stop(struct vm *vm, int status);

/*
 * Pause / resume the guest from another thread (QMP stop / cont): vm_pause kicks every vCPU out
 * of KVM_RUN and returns once each is parked (or the VM ended); while paused no halt check runs
 * (a paused guest has not ended). Idempotent. vm_pause: 0, or -ETIMEDOUT with mv_error() if a
 * vCPU did not park within VM_PAUSE_WAIT_MS (it still parks when it can; the VM stays paused).
 */
#define VM_PAUSE_WAIT_MS 5000
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
bool vm_paused(struct vm *vm);

void vm_destroy(struct vm *vm);

/* Put a device on the MMIO bus (before vm_run). 0, or -EINVAL (full, overlapping, empty). */
int vm_add_mmio(struct vm *vm, gpa_t base, uint64_t size,
		void (*access)(void *opaque, uint64_t offset, uint8_t *data, unsigned len,
			       bool write), void *opaque);

/* An edge on IOAPIC pin gsi (KVM_IRQ_LINE high then low). Any thread. */
void vm_irq_pulse(struct vm *vm, uint32_t gsi);

#endif /* MV_VM_H */
