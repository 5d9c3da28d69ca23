/*
 * kvm_vm.c — the VMM core (vmm/vm.c) under real KVM: machine creation with the default NUMA
 * layout, the PVH entry state, the 16550, the exit port, CPUID topology, halt detection and
 * triple-fault reporting. The guests are a few instructions (vm_guests.S) copied to 1 MiB, so
 * these tests depend on nothing but vm.c; booting real images is tested by kvm_boot.
 * Each test owns its machine; nothing is shared, so there is no lock order.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <memvisor/layout.h>

#include "error.h"
#include "machine.h"
#include "mvtest.h"
#include "ram.h"
#include "vm.h"

extern const char guest_hello[], guest_hello_end[];
extern const char guest_halt[], guest_halt_end[];
extern const char guest_triple[], guest_triple_end[];
extern const char guest_mmio[], guest_mmio_end[];

/* A device on the MMIO bus for guest_mmio: reads answer "virt", writes are recorded. */
struct fake_mmio {
	unsigned reads, writes;
	uint64_t last_off;
	unsigned last_len;
	uint32_t last_val;
};

static void fake_mmio_access(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool write)
{
	struct fake_mmio *f = opaque;

	f->last_off = off;
	f->last_len = len;
	if (write) {
		f->writes++;
		f->last_val = 0;
		memcpy(&f->last_val, data, len < 4 ? len : 4);
	} else {
		f->reads++;
		memcpy(data, "virt", len < 4 ? len : 4);
	}
}

/* Run `code` at MV_GPA_KERNEL_MIN on a machine of `cpus` vCPUs and the default nodes; returns
 * the status; the serial output is left in out. */
static int run_guest_dev(const char *code, const char *end, unsigned cpus, char *out,
			 size_t outlen, struct fake_mmio *dev)
{
	struct machine_config m;
	struct guest_mem mem;
	struct vm vm;
	FILE *f = tmpfile();
	void *dst;
	size_t n;
	int status;

	CHECK_NOT_NULL(f);
	machine_init(&m);
	m.nr_cpus = cpus;
	CHECK_EQ(machine_finish(&m), 0);
	CHECK_EQ(ram_create(&m, &mem), 0);
	dst = guest_mem_ptr(&mem, MV_GPA_KERNEL_MIN, (uint64_t)(end - code));
	CHECK_NOT_NULL(dst);
	memcpy(dst, code, (size_t)(end - code));
	if (vm_create(&vm, &m, &mem, fileno(f)) != 0)
		mvt_fail(__FILE__, __LINE__, "vm_create: %s", mv_error());
	if (dev)
		CHECK_EQ(vm_add_mmio(&vm, MV_GPA_VIRTIO_BASE, MV_VIRTIO_MMIO_SIZE, fake_mmio_access,
				     dev), 0);
	status = vm_run(&vm, &(struct boot_entry){ .protocol = BOOT_PVH, .rip = MV_GPA_KERNEL_MIN,
						   .rbx = MV_GPA_START_INFO });
	vm_destroy(&vm);
	ram_destroy(&mem);
	rewind(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	return status;
}

static int run_guest(const char *code, const char *end, unsigned cpus, char *out, size_t outlen)
{
	return run_guest_dev(code, end, cpus, out, outlen, NULL);
}

TEST(mmio_bus_routes_guest_accesses_to_the_device)
{
	struct fake_mmio dev = { 0 };
	char out[256];

	CHECK_EQ(run_guest_dev(guest_mmio, guest_mmio_end, 1, out, sizeof(out), &dev), (9 << 1) | 1);
	CHECK_STREQ(out, "virt\xff");           /* the device's word, then no device: all ones */
	CHECK_EQ(dev.reads, 1);
	CHECK_EQ(dev.writes, 1);
	CHECK_EQ_U(dev.last_off, 0x10);
	CHECK_EQ(dev.last_len, 4);
	CHECK_EQ_U(dev.last_val, 0x74726976);
}

TEST(exit_port_ends_the_vm_with_qemu_status_and_serial_shows_pvh_state)
{
	char out[256];

	CHECK_EQ(run_guest(guest_hello, guest_hello_end, 2, out, sizeof(out)), (21 << 1) | 1);
	CHECK_STREQ(out, "hi`0\n\xff");
}

TEST(every_vcpu_halted_with_interrupts_off_is_a_clean_end)
{
	char out[256];

	/* 3 vCPUs: the APs are never started (waiting for SIPI) and must not keep the VM alive. */
	CHECK_EQ(run_guest(guest_halt, guest_halt_end, 3, out, sizeof(out)), 0);
	CHECK_STREQ(out, "bye\n");
}

TEST(triple_fault_is_reported_as_shutdown)
{
	char out[256];

	CHECK_EQ(run_guest(guest_triple, guest_triple_end, 1, out, sizeof(out)), VM_STATUS_SHUTDOWN);
	CHECK_STREQ(out, "");
}

TEST(memory_slots_follow_the_numa_layout)
{
	struct machine_config m;
	struct guest_mem mem;
	struct vm vm;
	FILE *f = tmpfile();

	machine_init(&m);
	m.nr_cpus = 1;
	CHECK_EQ(machine_parse_numa(&m, "size=3G"), 0);
	CHECK_EQ(machine_parse_numa(&m, "size=8M,host-node=1"), 0);
	CHECK_EQ(machine_finish(&m), 0);
	CHECK_EQ(ram_create(&m, &mem), 0);
	CHECK_EQ(mem.nr, 2);
	CHECK_EQ_U(mem.r[1].gpa, MV_GPA_HIGH_RAM_BASE);
	CHECK_EQ(mem.r[1].node, 1);
	/* 3 GiB + 8 MiB of slots, never touched: MAP_NORESERVE keeps this cheap. */
	if (vm_create(&vm, &m, &mem, fileno(f)) != 0)
		mvt_fail(__FILE__, __LINE__, "vm_create: %s", mv_error());
	vm_destroy(&vm);
	ram_destroy(&mem);
	fclose(f);
}

TEST(missing_host_node_is_named)
{
	struct machine_config m;
	struct guest_mem mem;

	machine_init(&m);
	CHECK_EQ(machine_parse_numa(&m, "size=8M,host-node=1000"), 0);
	CHECK_EQ(machine_finish(&m), 0);
	CHECK_EQ(ram_create(&m, &mem), -EINVAL);
	CHECK_CONTAINS(mv_error(), "host-node=1000: this host has no NUMA node 1000");
}
