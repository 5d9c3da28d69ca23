/*
 * virtio_mmio.c — the virtio-mmio version 2 transport (virtio_mmio.h). Register offsets and
 * status bits come from <linux/virtio_mmio.h> and <linux/virtio_config.h>.
 *
 * Device status, as this transport enforces it (virtio 3.1.1; anything else is ignored and
 * counted as bad_sequence):
 *
 *   0 ──ACK──► ACK ──DRIVER──► +DRIVER ──features, FEATURES_OK──► +FEATURES_OK (if accepted)
 *     ──queues set up──► +DRIVER_OK (live: notifications processed, interrupts sent)
 *   any ──write 0──► reset        any ──protocol error──► +NEEDS_RESET (queues stopped)
 *
 * A status write may only add bits (the driver never clears one but by writing 0); driver
 * features may be written only between DRIVER and FEATURES_OK; queue registers only after
 * FEATURES_OK while the selected queue is not ready.
 *
 * Lock: virtio_mmio.lock (see the header); the only lock taken here.
 */
#include "virtio_mmio.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "error.h"

#define VIRTIO_MMIO_MAGIC    0x74726976u    /* "virt" */
#define VIRTIO_MMIO_VERSION_MODERN 2u
#define VIRTIO_MMIO_NO_SHM   0xffffffffu    /* SHMLen of a region that does not exist */

/* Feature bits the transport itself offers on top of the device's. */
#define VIRTIO_MMIO_TRANSPORT_FEATURES \
	((UINT64_C(1) << VIRTIO_F_VERSION_1) | (UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX))

static uint64_t virtio_mmio_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
		     const struct guest_mem *gm, gpa_t base, uint32_t gsi,
		     void (*irq)(void *arg, uint32_t gsi), void *irq_arg)
{
	if (!ops || !ops->features || !ops->features_ok || !ops->config_read ||
	    !ops->config_write || !ops->queue_notify || !ops->reset)
		return mv_fail(EINVAL, "virtio-mmio: the device ops table is incomplete");
	if (ops->nr_queues == 0 || ops->nr_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    ops->queue_max == 0 || ops->queue_max > VIRTQ_MAX_SIZE ||
	    (ops->queue_max & (ops->queue_max - 1)))
		return mv_fail(EINVAL, "virtio-%s: %u queues of at most %u entries (1..%d queues, a "
			       "power of two up to %d entries)", ops->name, ops->nr_queues,
			       ops->queue_max, VIRTIO_MMIO_MAX_QUEUES, VIRTQ_MAX_SIZE);
	if (ops->config_size > 0x1000 - VIRTIO_MMIO_CONFIG)
		return mv_fail(EINVAL, "virtio-%s: config space of %u bytes does not fit the window",
			       ops->name, ops->config_size);
	memset(t, 0, sizeof(*t));
	t->ops = ops;
	t->dev = dev;
	t->gm = gm;
	t->base = base;
	t->gsi = gsi;
	t->irq = irq;
	t->irq_arg = irq_arg;
	t->log = stderr;
	t->now_ns = virtio_mmio_monotonic_ns;
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		virtq_reset(&t->q[i], gm);
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	if (t->st.log_suppressed && t->log)
		fprintf(t->log, "memvisor: virtio-%s: %llu log lines were suppressed\n", t->ops->name,
			(unsigned long long)t->st.log_suppressed);
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_destroy(&t->lock);
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_get_stats(struct virtio_mmio *t, struct virtio_mmio_stats *st)
{
	pthread_mutex_lock(&t->lock);
	*st = t->st;
	pthread_mutex_unlock(&t->lock);
}

/* ---- log, interrupts, errors -------------------------------------------------------------- */

void virtio_mmio_log_locked(struct virtio_mmio *t, const char *fmt, ...)
{
	uint64_t now = t->now_ns();
	bool opened;
	va_list ap;

	if (!t->log || !ratelimit_take(&t->log_window, now, VIRTIO_MMIO_LOG_WINDOW_NS,
				       VIRTIO_MMIO_LOG_BURST, &opened)) {
		t->st.log_suppressed++;
		return;
	}
	fprintf(t->log, "memvisor: virtio-%s: ", t->ops->name);
	va_start(ap, fmt);
	vfprintf(t->log, fmt, ap);
	va_end(ap);
	fputc('\n', t->log);
}

static void virtio_mmio_interrupt_locked(struct virtio_mmio *t, uint32_t bits)
{
	t->interrupt_status |= bits;
	t->st.interrupts++;
	if (t->irq)
		t->irq(t->irq_arg, t->gsi);
}

static bool virtio_mmio_live_locked(const struct virtio_mmio *t)
{
	return (t->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

void virtio_mmio_needs_reset_locked(struct virtio_mmio *t, const char *why)
{
	t->st.needs_reset++;
	virtio_mmio_log_locked(t, "device needs reset: %s", why);
	if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		t->q[i].ready = false;
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_mmio_interrupt_locked(t, VIRTIO_MMIO_INT_CONFIG);
}

struct virtq *virtio_mmio_queue_locked(struct virtio_mmio *t, unsigned q)
{
	if (q >= t->ops->nr_queues || !virtio_mmio_live_locked(t) || !t->q[q].ready)
		return NULL;
	return &t->q[q];
}

void virtio_mmio_used_locked(struct virtio_mmio *t, unsigned q)
{
	if (q >= t->ops->nr_queues || !virtio_mmio_live_locked(t))
		return;
	if (virtq_should_interrupt(&t->q[q]))
		virtio_mmio_interrupt_locked(t, VIRTIO_MMIO_INT_VRING);
	else
		t->st.interrupts_suppressed++;
}

void virtio_mmio_config_changed_locked(struct virtio_mmio *t)
{
	t->config_generation++;
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_mmio_interrupt_locked(t, VIRTIO_MMIO_INT_CONFIG);
}

static void virtio_mmio_bad_sequence_locked(struct virtio_mmio *t, const char *what)
{
	t->st.bad_sequence++;
	virtio_mmio_log_locked(t, "%s (status 0x%x); ignored", what, t->status);
}

/* ---- status and features -------------------------------------------------------------------- */

static uint64_t virtio_mmio_offered(struct virtio_mmio *t)
{
	return t->ops->features(t) | VIRTIO_MMIO_TRANSPORT_FEATURES;
}

static void virtio_mmio_reset_locked(struct virtio_mmio *t)
{
	t->st.resets++;
	t->status = 0;
	t->dev_features_sel = t->drv_features_sel = t->queue_sel = 0;
	t->driver_features = 0;
	t->interrupt_status = 0;
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		virtq_reset(&t->q[i], t->gm);
	t->ops->reset(t);
}

/* FEATURES_OK: accept what the driver chose if it may (else the bit stays clear, 3.1.1 step 6). */
static bool virtio_mmio_negotiate_locked(struct virtio_mmio *t)
{
	uint64_t offered = virtio_mmio_offered(t), f = t->driver_features;

	if (f & ~offered) {
		virtio_mmio_log_locked(t, "driver accepted features 0x%llx never offered (0x%llx); "
				       "FEATURES_OK refused", (unsigned long long)f,
				       (unsigned long long)offered);
		return false;
	}
	if (!(f & (UINT64_C(1) << VIRTIO_F_VERSION_1))) {
		virtio_mmio_log_locked(t, "driver did not accept VIRTIO_F_VERSION_1 (a legacy "
				       "driver); FEATURES_OK refused");
		return false;
	}
	if (!t->ops->features_ok(t, f))
		return false;
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		t->q[i].event_idx = f & (UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX);
		t->q[i].indirect = f & (UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC);
	}
	return true;
}

static void virtio_mmio_write_status_locked(struct virtio_mmio *t, uint32_t v)
{
	uint32_t added = v & ~t->status;

	if (v == 0) {
		virtio_mmio_reset_locked(t);
		return;
	}
	if ((t->status & ~v) || v > 0xff) {
		virtio_mmio_bad_sequence_locked(t, "status write clears bits without a reset");
		return;
	}
	if (added & VIRTIO_CONFIG_S_NEEDS_RESET) {
		virtio_mmio_bad_sequence_locked(t, "driver set DEVICE_NEEDS_RESET");
		return;
	}
	if ((added & VIRTIO_CONFIG_S_FEATURES_OK) && !(v & VIRTIO_CONFIG_S_DRIVER)) {
		virtio_mmio_bad_sequence_locked(t, "FEATURES_OK before DRIVER");
		return;
	}
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(v & VIRTIO_CONFIG_S_FEATURES_OK)) {
		t->status = v & ~(uint32_t)VIRTIO_CONFIG_S_DRIVER_OK;
		virtio_mmio_needs_reset_locked(t, "DRIVER_OK without FEATURES_OK");
		return;
	}
	if ((added & VIRTIO_CONFIG_S_FEATURES_OK) && !virtio_mmio_negotiate_locked(t))
		v &= ~(uint32_t)VIRTIO_CONFIG_S_FEATURES_OK;
	t->status = v;
}

static void virtio_mmio_write_driver_features_locked(struct virtio_mmio *t, uint32_t v)
{
	if (!(t->status & VIRTIO_CONFIG_S_DRIVER) || (t->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		virtio_mmio_bad_sequence_locked(t, "driver features written outside DRIVER..FEATURES_OK");
		return;
	}
	if (t->drv_features_sel > 1) {
		if (v)   /* no feature bits exist beyond 63: accepting one is an error */
			virtio_mmio_bad_sequence_locked(t, "driver accepted features above bit 63");
		return;
	}
	t->driver_features &= ~(UINT64_C(0xffffffff) << (32 * t->drv_features_sel));
	t->driver_features |= (uint64_t)v << (32 * t->drv_features_sel);
}

/* ---- queues -------------------------------------------------------------------------------- */

static bool virtio_mmio_queue_exists_locked(struct virtio_mmio *t, uint32_t q)
{
	return q < t->ops->nr_queues && (!t->ops->queue_exists || t->ops->queue_exists(t, q));
}

/* The selected queue if its registers may be written now, else NULL (counted). */
static struct virtq *virtio_mmio_setup_queue_locked(struct virtio_mmio *t)
{
	if (!virtio_mmio_queue_exists_locked(t, t->queue_sel)) {
		virtio_mmio_bad_sequence_locked(t, "queue register written for a queue that does not "
						   "exist");
		return NULL;
	}
	if (!(t->status & VIRTIO_CONFIG_S_FEATURES_OK) ||
	    (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		virtio_mmio_bad_sequence_locked(t, "queue register written before FEATURES_OK");
		return NULL;
	}
	if (t->q[t->queue_sel].ready) {
		virtio_mmio_bad_sequence_locked(t, "queue register written while the queue is ready");
		return NULL;
	}
	return &t->q[t->queue_sel];
}

static void virtio_mmio_set_addr(gpa_t *a, uint32_t v, bool high)
{
	if (high)
		*a = (*a & UINT64_C(0xffffffff)) | ((uint64_t)v << 32);
	else
		*a = (*a & ~UINT64_C(0xffffffff)) | v;
}

static void virtio_mmio_write_ready_locked(struct virtio_mmio *t, uint32_t v)
{
	struct virtq *q;

	if (v == 0) {            /* disabling is allowed at any time for an existing queue */
		if (t->queue_sel < t->ops->nr_queues)
			t->q[t->queue_sel].ready = false;
		return;
	}
	q = virtio_mmio_setup_queue_locked(t);
	if (!q)
		return;
	if (virtq_check(q, t->ops->queue_max)) {
		virtio_mmio_needs_reset_locked(t, mv_error());
		return;
	}
	q->ready = true;
}

static void virtio_mmio_notify_locked(struct virtio_mmio *t, uint32_t v)
{
	if (v >= t->ops->nr_queues || !virtio_mmio_queue_locked(t, v)) {
		virtio_mmio_bad_sequence_locked(t, "notification of a queue that is not live");
		return;
	}
	t->st.notifies++;
	t->ops->queue_notify(t, v);
}

/* ---- register access ------------------------------------------------------------------------ */

static uint32_t virtio_mmio_read_reg_locked(struct virtio_mmio *t, uint32_t off)
{
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_MODERN;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return t->dev_features_sel > 1 ? 0 :
		       (uint32_t)(virtio_mmio_offered(t) >> (32 * t->dev_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return virtio_mmio_queue_exists_locked(t, t->queue_sel) ? t->ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return t->queue_sel < t->ops->nr_queues && t->q[t->queue_sel].ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return VIRTIO_MMIO_NO_SHM;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_generation;
	default:
		t->st.bad_accesses++;
		virtio_mmio_log_locked(t, "read of write-only or unknown register 0x%03x", off);
		return 0;
	}
}

static void virtio_mmio_write_reg_locked(struct virtio_mmio *t, uint32_t off, uint32_t v)
{
	struct virtq *q;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->dev_features_sel = v;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		virtio_mmio_write_driver_features_locked(t, v);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->drv_features_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_NUM:
		q = virtio_mmio_setup_queue_locked(t);
		if (q)
			q->size = v > 0xffff ? 0 : (uint16_t)v;   /* checked when made ready */
		return;
	case VIRTIO_MMIO_QUEUE_READY:
		virtio_mmio_write_ready_locked(t, v);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		virtio_mmio_notify_locked(t, v);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->interrupt_status &= ~v;
		return;
	case VIRTIO_MMIO_STATUS:
		virtio_mmio_write_status_locked(t, v);
		return;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		q = virtio_mmio_setup_queue_locked(t);
		if (!q)
			return;
		if (off <= VIRTIO_MMIO_QUEUE_DESC_HIGH)
			virtio_mmio_set_addr(&q->desc, v, off == VIRTIO_MMIO_QUEUE_DESC_HIGH);
		else if (off <= VIRTIO_MMIO_QUEUE_AVAIL_HIGH)
			virtio_mmio_set_addr(&q->avail, v, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH);
		else
			virtio_mmio_set_addr(&q->used, v, off == VIRTIO_MMIO_QUEUE_USED_HIGH);
		return;
	case VIRTIO_MMIO_SHM_SEL:
		return;                           /* no regions: every selection reads "none" */
	case VIRTIO_MMIO_MAGIC_VALUE:
	case VIRTIO_MMIO_VERSION:
	case VIRTIO_MMIO_DEVICE_ID:
	case VIRTIO_MMIO_VENDOR_ID:
	case VIRTIO_MMIO_DEVICE_FEATURES:
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
	case VIRTIO_MMIO_INTERRUPT_STATUS:
	case VIRTIO_MMIO_CONFIG_GENERATION:
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		t->st.ro_writes++;
		virtio_mmio_log_locked(t, "write of 0x%x to read-only register 0x%03x; ignored", v,
				       off);
		return;
	default:                                  /* legacy registers and holes */
		t->st.bad_accesses++;
		virtio_mmio_log_locked(t, "write to unknown register 0x%03x; ignored", off);
		return;
	}
}

static void virtio_mmio_config_access_locked(struct virtio_mmio *t, uint64_t off, uint8_t *data,
					     unsigned len, bool write)
{
	if ((len != 1 && len != 2 && len != 4) || off > t->ops->config_size ||
	    len > t->ops->config_size - off) {
		t->st.bad_accesses++;
		virtio_mmio_log_locked(t, "%u-byte config access at 0x%llx outside its %u bytes",
				       len, (unsigned long long)off, t->ops->config_size);
		if (!write)
			memset(data, 0, len);
		return;
	}
	if (write)
		t->ops->config_write(t, (uint32_t)off, data, len);
	else
		t->ops->config_read(t, (uint32_t)off, data, len);
}

void virtio_mmio_access(struct virtio_mmio *t, uint64_t offset, uint8_t *data, unsigned len,
			bool write)
{
	pthread_mutex_lock(&t->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		virtio_mmio_config_access_locked(t, offset - VIRTIO_MMIO_CONFIG, data, len, write);
	} else if (len != 4 || offset % 4) {
		t->st.bad_accesses++;
		virtio_mmio_log_locked(t, "%u-byte register access at 0x%03llx (registers are "
				       "aligned 32-bit words); ignored", len,
				       (unsigned long long)offset);
		if (!write)
			memset(data, 0, len);
	} else if (write) {
		uint32_t v;

		memcpy(&v, data, 4);              /* x86: little-endian like the register */
		virtio_mmio_write_reg_locked(t, (uint32_t)offset, v);
	} else {
		uint32_t v = virtio_mmio_read_reg_locked(t, (uint32_t)offset);

		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
}
