/*
 * testdev.h — QEMU's test-device conventions, so test kernels built for QEMU (kvm-unit-tests
 * style, multiboot or PVH) run unchanged: fw_cfg's legacy port interface, the Bochs shutdown
 * port, pc-testdev's latch and flush-page ports and its 64 KiB of RAM-like MMIO. Ports and
 * addresses are in memvisor/layout.h (MV_PORT_FW_CFG_*, MV_PORT_BOCHS_SHUTDOWN,
 * MV_PORT_TESTDEV_*, MV_GPA_TESTDEV_IOMEM); the isa-debug-exit port stays in vm.c.
 *
 * fw_cfg items (little-endian, as QEMU's): 0x00 signature "QEMU", 0x01 interface id (1: the
 * traditional interface, no DMA), 0x03 RAM size (u64, bytes of guest RAM), 0x05 CPU count
 * (u16), 0x0f max CPUs (u16), 0x11 max RAM (u64: the end of the highest RAM range, what a test
 * may probe up to). Selecting a key resets the read offset; reads past an item's end (or of an
 * unknown key) return 0; writes to the data port are ignored.
 *
 * Threads: every vCPU thread calls in; testdev.lock (a leaf) guards the state.
 */
#ifndef MV_TESTDEV_H
#define MV_TESTDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <memvisor/layout.h>
#include <mm/types.h>

#include "machine.h"

struct testdev_ops {
	void (*shutdown)(void *arg);              /* "Shutdown" at MV_PORT_BOCHS_SHUTDOWN, or
	                                             ACPI S5 at MV_PORT_ACPI_SLEEP */
	int (*flush_page)(void *arg, gpa_t gpa);  /* write-protect and restore the page; 0/-errno */
	void *arg;
};

struct testdev_stats {
	uint64_t fw_cfg_reads;     /* data-port bytes read */
	uint64_t latch_writes;
	uint64_t flushes;          /* flush-page writes that flushed a RAM page */
	uint64_t flush_refused;    /* flush-page writes naming no RAM page */
	uint64_t iomem_accesses;
};

struct testdev {
	pthread_mutex_t lock;
	struct testdev_ops ops;
	uint64_t ram_size, ram_end;
	uint16_t nr_cpus;
	uint16_t fw_cfg_key;
	uint32_t fw_cfg_offset;
	uint32_t latch;
	unsigned shutdown_matched;          /* bytes of "Shutdown" seen in order */
	uint8_t iomem[MV_TESTDEV_IOMEM_SIZE];
	struct testdev_stats stats;
};

void testdev_init(struct testdev *t, const struct machine_config *m, const struct testdev_ops *ops);
void testdev_destroy(struct testdev *t);

/* A port access of size 1, 2 or 4 at data (little-endian). True if the port is the device's. */
bool testdev_pio(struct testdev *t, uint16_t port, bool out, unsigned size, uint8_t *data);

/* The iomem window (vm_add_mmio's access callback): offset < MV_TESTDEV_IOMEM_SIZE. */
void testdev_iomem_access(void *t, uint64_t offset, uint8_t *data, unsigned len, bool write);

void testdev_get_stats(struct testdev *t, struct testdev_stats *out);

#endif /* MV_TESTDEV_H */
