/*
 * guest/virtio.c — virtio-mmio transport and polled split virtqueues (virtio.h).
 *
 * Initialisation follows the virtio 1.x driver sequence (3.1.1): reset; ACKNOWLEDGE; DRIVER;
 * features; FEATURES_OK, read back; queues; DRIVER_OK. Register accesses are 32-bit (4.2.2);
 * 64-bit ring addresses are written as low/high halves. Ring updates: descriptors and the avail
 * ring entry are written before avail->idx (release), the used ring is read after used->idx
 * (acquire), and the notify write comes after avail->idx (a full fence: MMIO is not ordered with
 * ordinary stores by the compiler otherwise).
 *
 * No locks: one driver per device on one CPU (virtio.h).
 */
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "mem.h"
#include "smp.h"
#include "virtio.h"

#define VIRTIO_MMIO_MAGIC     0x74726976      /* "virt" */
#define VIRTIO_MMIO_MODERN    2
#define NS_PER_MS             UINT64_C(1000000)

static uint32_t rd(struct virtio_dev *dev, unsigned reg)
{
	return *(volatile uint32_t *)(dev->regs + reg);
}

static void wr(struct virtio_dev *dev, unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(dev->regs + reg) = v;
}

bool virtio_find(const struct topo *t, uint32_t device_id, struct virtio_dev *dev)
{
	for (unsigned i = 0; i < t->nr_virtio; i++) {
		struct virtio_dev d = { (volatile uint8_t *)(uintptr_t)t->virtio[i].base,
					&t->virtio[i], 0, 0, 0 };

		if (t->virtio[i].base >= LOW_IDENTITY_END || t->virtio[i].size < VIRTIO_MMIO_CONFIG)
			continue;
		if (rd(&d, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
		    rd(&d, VIRTIO_MMIO_VERSION) != VIRTIO_MMIO_MODERN)
			continue;
		d.device_id = rd(&d, VIRTIO_MMIO_DEVICE_ID);
		if (d.device_id == device_id) {
			*dev = d;
			return true;
		}
	}
	return false;
}

uint32_t virtio_status(struct virtio_dev *dev)
{
	return rd(dev, VIRTIO_MMIO_STATUS);
}

void virtio_reset(struct virtio_dev *dev)
{
	wr(dev, VIRTIO_MMIO_STATUS, 0);
	while (rd(dev, VIRTIO_MMIO_STATUS) != 0)     /* the reset completes when it reads 0 */
		cpu_relax();
}

bool virtio_negotiate(struct virtio_dev *dev, uint64_t wanted)
{
	uint32_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	virtio_reset(dev);
	wr(dev, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(dev, VIRTIO_MMIO_STATUS, status);
	wr(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	dev->offered = rd(dev, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	dev->offered |= (uint64_t)rd(dev, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	if (!tap_check(dev->offered >> VIRTIO_F_VERSION_1 & 1, "virtio: device %u at 0x%lx offers "
		       "VERSION_1 (features 0x%lx)", dev->device_id, dev->at->base, dev->offered))
		return false;
	dev->features = (dev->offered & wanted) | UINT64_C(1) << VIRTIO_F_VERSION_1;
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)dev->features);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(dev->features >> 32));
	status |= VIRTIO_CONFIG_S_FEATURES_OK;
	wr(dev, VIRTIO_MMIO_STATUS, status);
	return tap_check(rd(dev, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK,
			 "virtio: device %u accepts features 0x%lx", dev->device_id, dev->features);
}

static void *ring_page(uint64_t *pa)
{
	pfn_t pfn;

	if (page_alloc(NULL, 0, 0, &pfn))
		return NULL;
	*pa = pfn << MM_PAGE_SHIFT;
	memset(phys_to_direct(*pa), 0, MM_PAGE_SIZE);
	return phys_to_direct(*pa);
}

static void write_addr(struct virtio_dev *dev, unsigned low_reg, uint64_t pa)
{
	wr(dev, low_reg, (uint32_t)pa);
	wr(dev, low_reg + 4, (uint32_t)(pa >> 32));
}

bool virtq_setup(struct virtio_dev *dev, struct virtq *q, unsigned index)
{
	uint64_t desc_pa = 0, avail_pa = 0, used_pa = 0;
	uint32_t max;

	*q = (struct virtq){ .index = index };
	wr(dev, VIRTIO_MMIO_QUEUE_SEL, index);
	max = rd(dev, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (!tap_check(max > 0 && !rd(dev, VIRTIO_MMIO_QUEUE_READY), "virtio: device %u queue %u "
		       "exists and is not live (QueueNumMax %u)", dev->device_id, index, max))
		return false;
	q->num = max < VIRTQ_MAX_SIZE ? max : VIRTQ_MAX_SIZE;
	q->desc = ring_page(&desc_pa);
	q->avail = ring_page(&avail_pa);
	q->used = ring_page(&used_pa);
	if (!tap_check(q->desc && q->avail && q->used, "virtio: queue %u ring pages", index)) {
		virtq_free(q);
		return false;
	}
	for (unsigned i = 0; i < q->num; i++)
		q->desc[i].next = (uint16_t)(i + 1);
	q->nr_free = (uint16_t)q->num;
	q->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;       /* polled */
	wr(dev, VIRTIO_MMIO_QUEUE_NUM, q->num);
	write_addr(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, desc_pa);
	write_addr(dev, VIRTIO_MMIO_QUEUE_AVAIL_LOW, avail_pa);
	write_addr(dev, VIRTIO_MMIO_QUEUE_USED_LOW, used_pa);
	wr(dev, VIRTIO_MMIO_QUEUE_READY, 1);
	return true;
}

void virtq_free(struct virtq *q)
{
	void *pages[] = { q->desc, q->avail, q->used };

	for (unsigned i = 0; i < 3; i++)
		if (pages[i])
			page_free(direct_to_phys(pages[i]) >> MM_PAGE_SHIFT, 0);
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
}

void virtio_driver_ok(struct virtio_dev *dev)
{
	wr(dev, VIRTIO_MMIO_STATUS, rd(dev, VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
}

uint32_t virtio_config_read32(struct virtio_dev *dev, unsigned offset)
{
	uint32_t gen, v;

	do {
		gen = rd(dev, VIRTIO_MMIO_CONFIG_GENERATION);
		v = rd(dev, VIRTIO_MMIO_CONFIG + offset);
	} while (gen != rd(dev, VIRTIO_MMIO_CONFIG_GENERATION));
	return v;
}

void virtio_config_write32(struct virtio_dev *dev, unsigned offset, uint32_t v)
{
	wr(dev, VIRTIO_MMIO_CONFIG + offset, v);
}

int virtq_add(struct virtio_dev *dev, struct virtq *q, const uint64_t *pa, const uint32_t *len,
	      bool write, unsigned n)
{
	uint16_t head = q->free_head, d = head;

	if (n == 0 || n > q->nr_free) {
		kprintf("# virtio: queue %u: %u buffers, %u descriptors free\n", q->index, n,
			q->nr_free);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		q->desc[d].addr = pa[i];
		q->desc[d].len = len[i];
		q->desc[d].flags = (uint16_t)((write ? VRING_DESC_F_WRITE : 0) |
					      (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		d = q->desc[d].next;
	}
	q->free_head = d;
	q->nr_free = (uint16_t)(q->nr_free - n);
	q->avail->ring[q->avail->idx % q->num] = head;
	__atomic_store_n(&q->avail->idx, (uint16_t)(q->avail->idx + 1), __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr(dev, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
	q->submitted++;
	return head;
}

bool virtq_get_used(struct virtq *q, uint16_t *head, uint32_t *written)
{
	const struct vring_used_elem *u;
	uint16_t d, n = 1;

	if (__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) == q->last_used)
		return false;
	u = &q->used->ring[q->last_used % q->num];
	*head = (uint16_t)u->id;
	*written = u->len;
	q->last_used++;
	if (*head >= q->num) {           /* not a chain of ours: nothing to put back */
		kprintf("# virtio: queue %u: used id %u out of range\n", q->index, *head);
		return true;
	}
	/* The chain back on the free list: its descriptors are the driver's, linked by NEXT. */
	for (d = *head; q->desc[d].flags & VRING_DESC_F_NEXT && n < q->num; n++)
		d = q->desc[d].next;
	q->desc[d].next = q->free_head;
	q->free_head = *head;
	q->nr_free = (uint16_t)(q->nr_free + n);
	q->completed++;
	return true;
}

long virtq_exchange(struct virtio_dev *dev, struct virtq *q, const uint64_t *pa,
		    const uint32_t *len, bool write, unsigned n, uint64_t timeout_ms)
{
	int head = virtq_add(dev, q, pa, len, write, n);
	uint64_t end = smp_clock_ns() + timeout_ms * NS_PER_MS;
	uint32_t written;
	uint16_t id;

	if (head < 0)
		return -1;
	while (!virtq_get_used(q, &id, &written))
		if (smp_clock_ns() >= end) {
			kprintf("# virtio: queue %u: no used buffer within %lu ms\n", q->index,
				timeout_ms);
			return -1;
		} else {
			cpu_relax();
		}
	if (id != head) {
		kprintf("# virtio: queue %u: used id %u, expected %d\n", q->index, id, head);
		return -1;
	}
	return written;
}
