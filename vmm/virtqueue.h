/*
 * virtqueue.h — the device side of a split virtqueue (virtio 1.x, 2.7) over guest RAM.
 *
 * The rings live in guest RAM, which the guest may rewrite at any moment from another vCPU. The
 * rules this code keeps so that nothing the guest writes can make the VMM misbehave:
 *   - every guest address is turned into a host pointer by guest_mem_ptr() (vmm/guest_mem.h),
 *     which refuses anything not wholly inside one RAM region; ring areas are checked once, when
 *     the queue is made ready (virtq_check), buffers every time they are popped;
 *   - every ring field and descriptor is read ONCE into a local and validated there (no double
 *     fetch): avail->idx, then (acquire) the ring entry, then each descriptor as a 16-byte copy;
 *   - a chain is bounded: at most `size` descriptors in the ring (more means a loop), at most
 *     len/16 in an indirect table, at most VIRTQ_MAX_SEGS buffers in all; device-readable
 *     buffers come before device-writable ones; no nested indirection; an avail index more than
 *     `size` ahead of what was consumed is refused.
 * A violation makes virtq_pop return -EINVAL with mv_error() naming it; the transport then marks
 * the device DEVICE_NEEDS_RESET (virtio 1.x 2.1.2) and stops using the queue.
 *
 * Ordering (x86 host, but written with C11 fences so it is right anywhere): the used element is
 * written before used->idx (release); used->idx is published before the device reads
 * avail->flags / used_event to decide whether to interrupt (seq_cst fence), the mirror of the
 * driver's "write avail->idx, mb, read used->flags / avail_event".
 *
 * Not thread-safe: a queue belongs to its device, whose lock the caller holds.
 */
#ifndef MV_VIRTQUEUE_H
#define MV_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include <mm/types.h>

#include "guest_mem.h"

#define VIRTQ_MAX_SIZE   1024      /* the largest queue a device offers (QueueNumMax) */
#define VIRTQ_MAX_SEGS   128       /* buffers one chain may have after indirection */

struct virtq {
	const struct guest_mem *gm;
	uint16_t size;                 /* entries, a power of two, 1..VIRTQ_MAX_SIZE */
	gpa_t desc, avail, used;       /* ring addresses as the driver wrote them */
	bool ready;                    /* checked (virtq_check) and enabled */
	bool event_idx;                /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;                 /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint16_t last_avail;           /* next avail ring entry to consume */
	uint16_t used_idx;             /* the device's copy of used->idx */
	uint16_t signalled_used;       /* used_idx when the driver was last interrupted ... */
	bool signalled_valid;          /* ... if it was since the queue became ready */
};

/* One buffer of a popped chain: host view of [gpa, gpa + len), wholly guest RAM. */
struct virtq_buf {
	uint8_t *hva;
	gpa_t gpa;
	uint32_t len;
};

/* A popped chain: out[] device-readable buffers first, then in[] device-writable ones. */
struct virtq_elem {
	uint16_t head;                 /* what virtq_push returns to the driver */
	unsigned nr_out, nr_in;
	uint64_t out_len, in_len;      /* bytes in all out / in buffers */
	struct virtq_buf buf[VIRTQ_MAX_SEGS];   /* out: [0, nr_out), in: [nr_out, nr_out + nr_in) */
};

/* Forget everything (device reset): not ready, indices zero, addresses zero. */
void virtq_reset(struct virtq *q, const struct guest_mem *gm);

/*
 * Before enabling: size a power of two ≤ max, the three ring areas aligned (16 / 2 / 4) and
 * wholly guest RAM (with the event-index fields). 0 or -EINVAL with mv_error() naming which.
 */
int virtq_check(const struct virtq *q, uint16_t max);

/*
 * Take the next available chain. 1: *e filled; 0: nothing available; -EINVAL: the driver broke
 * the protocol (mv_error() says how); the queue must not be used again before a reset.
 */
int virtq_pop(struct virtq *q, struct virtq_elem *e);

/* Return chain `head` to the driver with `written` bytes written into its in-buffers. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/*
 * With no more work: tell the driver where to notify next (EVENT_IDX: avail_event = last_avail)
 * and check for a race with a new buffer. true: more became available, pop again.
 */
bool virtq_enable_notify(struct virtq *q);

/* After pushes: must the driver be interrupted (VRING_AVAIL_F_NO_INTERRUPT / used_event)? */
bool virtq_should_interrupt(struct virtq *q);

#endif /* MV_VIRTQUEUE_H */
