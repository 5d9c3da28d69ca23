/*
 * virtio_mmio.h — the virtio-mmio transport, version 2 ("modern", virtio 1.x 4.2.2), shared by
 * every virtio device of the VMM. A device model (e.g. virtio_balloon.c) supplies a
 * struct virtio_dev_ops; the transport owns the register block, feature negotiation, the device
 * status state machine, the queues (virtqueue.h) and the interrupt.
 *
 * Register block at `base` (0x200 bytes, MV_VIRTIO_MMIO_SIZE): registers below 0x100 are 32-bit
 * and must be accessed as aligned 32-bit words; the device's config space from 0x100 takes
 * 1/2/4-byte accesses inside its size. Anything else — a wrong width, a read of a write-only or
 * a write of a read-only register, a legacy (version 1) register, a step out of the order of
 * virtio 3.1.1 — is ignored and counted, with a rate-limited log line. A protocol error the
 * device cannot recover from (a bad ring, a malformed chain, DRIVER_OK without FEATURES_OK) sets
 * DEVICE_NEEDS_RESET (virtio 2.1.2), stops every queue and, if DRIVER_OK, raises a config
 * interrupt; only a reset (status 0) clears it.
 *
 * Features: the transport adds VIRTIO_F_VERSION_1 (required: a driver not accepting it is
 * refused FEATURES_OK), VIRTIO_RING_F_INDIRECT_DESC and VIRTIO_RING_F_EVENT_IDX to what the device
 * offers. The accepted set must be a subset of the offered one.
 *
 * Interrupt: edge-triggered on IOAPIC pin `gsi` (as the DSDT says, acpi.c): every time
 * InterruptStatus gains a bit the transport pulses the line; the driver reads InterruptStatus
 * and writes InterruptACK. Edges arriving while the vector is in service are latched by the
 * IOAPIC/LAPIC, and the driver always re-reads the status register, so none is lost.
 *
 * Lock: virtio_mmio.lock (one per device) covers the registers, the queues and the device
 * model: every ops call is made with it held, and a device's own threads (timers, target
 * changes) take it through virtio_mmio_lock(). Order: virtio_mmio.lock → gmem.lock. The irq
 * callback is called with it held (KVM_IRQ_LINE takes no lock of ours).
 */
#ifndef MV_VIRTIO_MMIO_H
#define MV_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mm/types.h>

#include "guest_mem.h"
#include "ratelimit.h"
#include "virtqueue.h"

#define VIRTIO_MMIO_MAX_QUEUES   8
#define VIRTIO_MMIO_VENDOR       0x5652564du       /* "MVRV" read as little-endian bytes */
#define VIRTIO_MMIO_LOG_BURST    10                /* log lines per window ... */
#define VIRTIO_MMIO_LOG_WINDOW_NS UINT64_C(1000000000)   /* ... of one second */

struct virtio_mmio;

/* A device model. Every call is made with the transport's lock held. */
struct virtio_dev_ops {
	const char *name;                  /* for log lines: "balloon" */
	uint32_t device_id;                /* VIRTIO_ID_* (<linux/virtio_ids.h>) */
	unsigned nr_queues;                /* queues the device may have, ≤ VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_max;                /* QueueNumMax, ≤ VIRTQ_MAX_SIZE */
	uint32_t config_size;              /* bytes of config space */
	uint64_t (*features)(struct virtio_mmio *t);  /* device-specific feature bits offered */
	/* FEATURES_OK: the driver accepted `features` (a subset of the offered); false refuses */
	bool (*features_ok)(struct virtio_mmio *t, uint64_t features);
	/* config space; off + len ≤ config_size, len 1, 2 or 4, little-endian bytes */
	void (*config_read)(struct virtio_mmio *t, uint32_t off, uint8_t *data, unsigned len);
	void (*config_write)(struct virtio_mmio *t, uint32_t off, const uint8_t *data, unsigned len);
	/* optional: queue q (< nr_queues) exists with the features negotiated so far (NULL: all) */
	bool (*queue_exists)(struct virtio_mmio *t, unsigned q);
	void (*queue_notify)(struct virtio_mmio *t, unsigned q);    /* q is ready */
	void (*reset)(struct virtio_mmio *t);                        /* status 0 was written */
};

struct virtio_mmio_stats {
	uint64_t bad_accesses;             /* wrong width/alignment, outside config, write-only read */
	uint64_t ro_writes;                /* writes to read-only registers */
	uint64_t bad_sequence;             /* steps out of order (ignored) */
	uint64_t needs_reset;              /* times DEVICE_NEEDS_RESET was set */
	uint64_t notifies;                 /* QueueNotify writes acted on */
	uint64_t interrupts;               /* line pulses */
	uint64_t interrupts_suppressed;    /* used buffers the driver asked not to hear of */
	uint64_t resets;
	uint64_t log_suppressed;
};

struct virtio_mmio {
	const struct virtio_dev_ops *ops;
	void *dev;                         /* the device model's state */
	const struct guest_mem *gm;
	gpa_t base;
	uint32_t gsi;
	void (*irq)(void *arg, uint32_t gsi);   /* pulse the line */
	void *irq_arg;
	FILE *log;
	uint64_t (*now_ns)(void);          /* the log rate limit's clock */

	pthread_mutex_t lock;
	uint32_t status;                   /* VIRTIO_CONFIG_S_* */
	uint32_t dev_features_sel, drv_features_sel, queue_sel;
	uint64_t driver_features;          /* as written; the negotiated set once FEATURES_OK */
	uint32_t interrupt_status;         /* VIRTIO_MMIO_INT_* */
	uint32_t config_generation;
	struct virtq q[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_stats st;
	struct ratelimit log_window;
};

/*
 * Set up the transport for device model ops/dev at [base, base + MV_VIRTIO_MMIO_SIZE) with
 * interrupt gsi. irq may be NULL (no interrupt: unit tests count them instead). 0 or -EINVAL.
 */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
		     const struct guest_mem *gm, gpa_t base, uint32_t gsi,
		     void (*irq)(void *arg, uint32_t gsi), void *irq_arg);
void virtio_mmio_destroy(struct virtio_mmio *t);

/* One guest access at offset from base (the MMIO bus handler). Reads fill data (len bytes). */
void virtio_mmio_access(struct virtio_mmio *t, uint64_t offset, uint8_t *data, unsigned len,
			bool write);

void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);
void virtio_mmio_get_stats(struct virtio_mmio *t, struct virtio_mmio_stats *st);

/* ---- for device models, lock held ------------------------------------------------------------ */

/* Queue q if it is ready and the device is live (DRIVER_OK, not NEEDS_RESET), else NULL. */
struct virtq *virtio_mmio_queue_locked(struct virtio_mmio *t, unsigned q);
/* After pushing used buffers on q: interrupt the driver unless it suppressed it. */
void virtio_mmio_used_locked(struct virtio_mmio *t, unsigned q);
/* The config space changed: new generation, config interrupt (if DRIVER_OK). */
void virtio_mmio_config_changed_locked(struct virtio_mmio *t);
/* Unrecoverable protocol error (why: mv_error()-style text): NEEDS_RESET, queues stopped. */
void virtio_mmio_needs_reset_locked(struct virtio_mmio *t, const char *why);
/* A rate-limited log line "memvisor: virtio-NAME: ..." */
__attribute__((format(printf, 2, 3)))
void virtio_mmio_log_locked(struct virtio_mmio *t, const char *fmt, ...);

#endif /* MV_VIRTIO_MMIO_H */
