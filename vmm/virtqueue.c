/*
 * virtqueue.c — split virtqueue processing (virtqueue.h). The ring layouts come from
 * <linux/virtio_ring.h>; the event-index fields sit after each ring:
 *
 *   desc   16 × size                         struct vring_desc[size]
 *   avail   4 + 2 × size + 2                 flags, idx, ring[size], used_event
 *   used    4 + 8 × size + 2                 flags, idx, ring[size] (id, len), avail_event
 *
 * Every ring field is accessed with a single __atomic load or store on its own: the guest writes
 * the same memory concurrently, and a plain access could be split, merged or re-read by the
 * compiler. Lock: none of its own (the owning device's).
 */
#include "virtqueue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "error.h"

_Static_assert(sizeof(struct vring_desc) == 16, "vring_desc is 16 bytes (virtio 2.7.5)");
_Static_assert(sizeof(struct vring_used_elem) == 8, "vring_used_elem is 8 bytes (virtio 2.7.8)");

static uint64_t virtq_desc_bytes(uint16_t size)  { return UINT64_C(16) * size; }
static uint64_t virtq_avail_bytes(uint16_t size) { return 6 + UINT64_C(2) * size; }
static uint64_t virtq_used_bytes(uint16_t size)  { return 6 + UINT64_C(8) * size; }

void virtq_reset(struct virtq *q, const struct guest_mem *gm)
{
	memset(q, 0, sizeof(*q));
	q->gm = gm;
}

int virtq_check(const struct virtq *q, uint16_t max)
{
	if (q->size == 0 || q->size > max || (q->size & (q->size - 1)))
		return mv_fail(EINVAL, "queue size %u is not a power of two in 1..%u", q->size, max);
	if (q->desc % VRING_DESC_ALIGN_SIZE || q->avail % VRING_AVAIL_ALIGN_SIZE ||
	    q->used % VRING_USED_ALIGN_SIZE)
		return mv_fail(EINVAL, "ring addresses desc 0x%" PRIx64 " avail 0x%" PRIx64 " used 0x%"
			       PRIx64 " are not aligned to 16 / 2 / 4", q->desc, q->avail, q->used);
	if (!guest_mem_ptr(q->gm, q->desc, virtq_desc_bytes(q->size)))
		return mv_fail(EINVAL, "descriptor table 0x%" PRIx64 "+0x%" PRIx64 " is not guest RAM",
			       q->desc, virtq_desc_bytes(q->size));
	if (!guest_mem_ptr(q->gm, q->avail, virtq_avail_bytes(q->size)))
		return mv_fail(EINVAL, "available ring 0x%" PRIx64 "+0x%" PRIx64 " is not guest RAM",
			       q->avail, virtq_avail_bytes(q->size));
	if (!guest_mem_ptr(q->gm, q->used, virtq_used_bytes(q->size)))
		return mv_fail(EINVAL, "used ring 0x%" PRIx64 "+0x%" PRIx64 " is not guest RAM",
			       q->used, virtq_used_bytes(q->size));
	return 0;
}

/* The rings' host views; virtq_check made them valid and regions never move. */
static struct vring_avail *virtq_avail(const struct virtq *q)
{
	return guest_mem_ptr(q->gm, q->avail, virtq_avail_bytes(q->size));
}

static struct vring_used *virtq_used(const struct virtq *q)
{
	return guest_mem_ptr(q->gm, q->used, virtq_used_bytes(q->size));
}

/* Add one buffer to e (zero-length buffers carry nothing and are dropped). */
static int virtq_add_buf(const struct virtq *q, struct virtq_elem *e, const struct vring_desc *d)
{
	bool write = d->flags & VRING_DESC_F_WRITE;
	struct virtq_buf *b;

	if (d->len == 0)
		return 0;
	if (!write && e->nr_in)
		return mv_fail(EINVAL, "chain %u: a device-readable buffer follows a device-writable "
			       "one", e->head);
	if (e->nr_out + e->nr_in >= VIRTQ_MAX_SEGS)
		return mv_fail(EINVAL, "chain %u: more than %d buffers", e->head, VIRTQ_MAX_SEGS);
	b = &e->buf[e->nr_out + e->nr_in];
	b->gpa = d->addr;
	b->len = d->len;
	b->hva = guest_mem_ptr(q->gm, d->addr, d->len);
	if (!b->hva)
		return mv_fail(EINVAL, "chain %u: buffer 0x%llx+0x%x is not guest RAM", e->head,
			       (unsigned long long)d->addr, d->len);
	if (write) {
		e->nr_in++;
		e->in_len += d->len;
	} else {
		e->nr_out++;
		e->out_len += d->len;
	}
	return 0;
}

/* An indirect descriptor d: the table it points to (n entries), checked. */
static int virtq_indirect(const struct virtq *q, const struct virtq_elem *e,
			  const struct vring_desc *d, const uint8_t **table, unsigned *n)
{
	if (!q->indirect)
		return mv_fail(EINVAL, "chain %u: indirect descriptor, but VIRTIO_RING_F_INDIRECT_DESC "
			       "was not negotiated", e->head);
	if (d->flags & VRING_DESC_F_NEXT)
		return mv_fail(EINVAL, "chain %u: descriptor has both INDIRECT and NEXT", e->head);
	if (d->len == 0 || d->len % sizeof(struct vring_desc) ||
	    d->len / sizeof(struct vring_desc) > VIRTQ_MAX_SIZE)
		return mv_fail(EINVAL, "chain %u: indirect table length %u is not a non-zero multiple "
			       "of 16 up to %d entries", e->head, d->len, VIRTQ_MAX_SIZE);
	*table = guest_mem_ptr(q->gm, d->addr, d->len);
	if (!*table)
		return mv_fail(EINVAL, "chain %u: indirect table 0x%llx+0x%x is not guest RAM",
			       e->head, (unsigned long long)d->addr, d->len);
	*n = d->len / sizeof(struct vring_desc);
	return 0;
}

/*
 * Follow chain e->head through the descriptor table (and at most one indirect table). A chain
 * visiting more descriptors than its table has must revisit one: that is the loop check.
 */
static int virtq_walk(const struct virtq *q, struct virtq_elem *e)
{
	const uint8_t *table = guest_mem_ptr(q->gm, q->desc, virtq_desc_bytes(q->size));
	unsigned n = q->size, seen = 0, i = e->head;
	bool indirect = false;
	int err;

	for (;;) {
		struct vring_desc d;

		memcpy(&d, table + (size_t)i * sizeof(d), sizeof(d));   /* one fetch, then checks */
		if (++seen > n)
			return mv_fail(EINVAL, "chain %u: longer than its table (%u entries): a loop",
				       e->head, n);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect)
				return mv_fail(EINVAL, "chain %u: nested indirect descriptor", e->head);
			err = virtq_indirect(q, e, &d, &table, &n);
			if (err)
				return err;
			indirect = true;
			seen = 0;
			i = 0;
			continue;
		}
		err = virtq_add_buf(q, e, &d);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
		if (i >= n)
			return mv_fail(EINVAL, "chain %u: next index %u is outside its table (%u "
				       "entries)", e->head, i, n);
	}
}

int virtq_pop(struct virtq *q, struct virtq_elem *e)
{
	struct vring_avail *avail = virtq_avail(q);
	uint16_t avail_idx, pending, head;

	if (!q->ready)
		return 0;
	/* acquire: the ring entries and descriptors the driver wrote before idx are visible */
	avail_idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return mv_fail(EINVAL, "avail index %u is %u entries ahead of the device's %u (queue "
			       "size %u)", avail_idx, pending, q->last_avail, q->size);
	head = __atomic_load_n(&avail->ring[q->last_avail & (q->size - 1)], __ATOMIC_RELAXED);
	if (head >= q->size)
		return mv_fail(EINVAL, "avail ring entry %u names descriptor %u (queue size %u)",
			       q->last_avail, head, q->size);
	q->last_avail++;
	memset(e, 0, offsetof(struct virtq_elem, buf));
	e->head = head;
	return virtq_walk(q, e) ? -EINVAL : 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	struct vring_used *used = virtq_used(q);
	struct vring_used_elem *u = &used->ring[q->used_idx & (q->size - 1)];

	__atomic_store_n(&u->id, (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, written, __ATOMIC_RELAXED);
	q->used_idx++;
	/* release: the element is visible before the index that hands it over */
	__atomic_store_n(&used->idx, q->used_idx, __ATOMIC_RELEASE);
}

bool virtq_enable_notify(struct virtq *q)
{
	struct vring_avail *avail = virtq_avail(q);

	if (!q->ready)
		return false;
	if (q->event_idx) {
		/* avail_event: the 16 bits right after used->ring[size - 1] */
		uint16_t *avail_event = (uint16_t *)((uint8_t *)virtq_used(q) + 4 +
						     UINT64_C(8) * q->size);

		__atomic_store_n(avail_event, q->last_avail, __ATOMIC_RELAXED);
	}
	/* the store above before the re-read below, or a buffer added meanwhile goes unnoticed */
	atomic_thread_fence(memory_order_seq_cst);
	return __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE) != q->last_avail;
}

bool virtq_should_interrupt(struct virtq *q)
{
	struct vring_avail *avail = virtq_avail(q);
	uint16_t old, used_event;
	bool valid;

	if (!q->ready)
		return false;
	/* used->idx is published before the driver's suppression fields are read */
	atomic_thread_fence(memory_order_seq_cst);
	if (!q->event_idx)
		return !(__atomic_load_n(&avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
	used_event = __atomic_load_n(&avail->ring[q->size], __ATOMIC_RELAXED);
	valid = q->signalled_valid;
	old = q->signalled_used;
	q->signalled_valid = true;
	q->signalled_used = q->used_idx;
	return !valid || vring_need_event(used_event, q->used_idx, old);
}
