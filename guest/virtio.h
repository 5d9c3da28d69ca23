/*
 * guest/virtio.h — the guest's virtio-mmio transport (virtio 1.x, modern register layout) and
 * split virtqueues, polled: the driver sets VRING_AVAIL_F_NO_INTERRUPT and waits on the used
 * ring, so no interrupt routing is needed. Devices come from the DSDT (acpi.c / aml.c:
 * struct topo's virtio[]); the register layout, status bits and ring formats are the kernel's
 * uapi headers'.
 *
 * One driver per device, on the CPU that runs it: a struct virtio_dev and its queues are not
 * shared between CPUs (no locks). Ring memory comes from page_alloc and is reached through the
 * direct map (pmem.c, vmem.c must be up).
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <linux/virtio_ring.h>

#include "acpi.h"

#define VIRTQ_MAX_SIZE  128             /* entries used per queue (at most QueueNumMax) */

struct virtq {
	unsigned index;                 /* the device's queue number */
	unsigned num;                   /* entries */
	struct vring_desc *desc;        /* each table one page of its own, direct-mapped */
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t free_head, nr_free;    /* free descriptors: a list through desc[].next */
	uint16_t last_used;             /* used->idx value consumed so far */
	uint64_t submitted, completed;  /* chains, for the scenario's counters */
};

struct virtio_dev {
	volatile uint8_t *regs;         /* the register window (identity-mapped, below 4 GiB) */
	const struct topo_virtio *at;   /* its DSDT entry */
	uint32_t device_id;
	uint64_t offered, features;     /* device features; the negotiated subset */
};

/* The first DSDT virtio-mmio device (magic "virt", version 2) whose DeviceID is device_id;
 * false (no check printed) when there is none. */
bool virtio_find(const struct topo *t, uint32_t device_id, struct virtio_dev *dev);

/*
 * Reset, ACKNOWLEDGE, DRIVER, then accept (offered ∩ wanted) | VERSION_1 and set FEATURES_OK;
 * false after a failed TAP check if the device lacks VERSION_1 or refuses the subset.
 */
bool virtio_negotiate(struct virtio_dev *dev, uint64_t wanted);

/* Set up queue `index` with min(QueueNumMax, VIRTQ_MAX_SIZE) entries; false after a failed
 * check (no such queue, no memory). Before virtio_driver_ok. */
bool virtq_setup(struct virtio_dev *dev, struct virtq *q, unsigned index);
void virtio_driver_ok(struct virtio_dev *dev);

/* Device status, and a reset (status 0; the device drops its queues). */
uint32_t virtio_status(struct virtio_dev *dev);
void virtio_reset(struct virtio_dev *dev);
/* Free a queue's ring pages (after a reset). */
void virtq_free(struct virtq *q);

/* A 32-bit field of the device config space, read consistently (ConfigGeneration), or written. */
uint32_t virtio_config_read32(struct virtio_dev *dev, unsigned offset);
void virtio_config_write32(struct virtio_dev *dev, unsigned offset, uint32_t v);

/*
 * Make one chain of n buffers (guest-physical pa[i], len[i]; device-writable where write is set)
 * available and notify the device without waiting: its head descriptor, or -1 after a
 * "# virtio:" diagnostic (not enough free descriptors). For a buffer the device holds on to
 * (the balloon's statistics buffer); virtq_get_used() collects it later.
 */
int virtq_add(struct virtio_dev *dev, struct virtq *q, const uint64_t *pa, const uint32_t *len,
	      bool write, unsigned n);

/*
 * The next chain the device returned, if any: its head and the bytes it wrote; its descriptors
 * are free again (a head out of range is reported and nothing freed). false: none returned yet.
 */
bool virtq_get_used(struct virtq *q, uint16_t *head, uint32_t *written);

/*
 * virtq_add, then wait up to timeout_ms for the chain to come back in the used ring (nothing
 * else may be outstanding on q). The bytes the device wrote, or -1 after a "# virtio:" diagnostic (no free
 * descriptors, timeout, or a used entry that is not this chain).
 */
long virtq_exchange(struct virtio_dev *dev, struct virtq *q, const uint64_t *pa,
		    const uint32_t *len, bool write, unsigned n, uint64_t timeout_ms);

#endif /* GUEST_VIRTIO_H */
