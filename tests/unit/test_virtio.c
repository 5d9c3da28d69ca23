/*
 * test_virtio.c — the virtio-mmio transport (vmm/virtio_mmio.c), split virtqueues
 * (vmm/virtqueue.c) and the balloon device model (vmm/virtio_balloon.c) driven by a hostile
 * guest, without KVM: the test writes the registers as a vCPU's MMIO exits would and builds the
 * rings itself in fake guest RAM. A recorder stands in for gmem.
 *
 *   fake guest-physical space (two malloc'd buffers of exactly their size, so ASan catches any
 *   access outside guest RAM):
 *
 *   0                 256 KiB          1 MiB           1 MiB + 64 KiB
 *   | region 0 (ram0)  |  gap: not RAM  | region 1 (ram1) |
 *     0x10000 + q * 0x4000: queue q (desc, +0x1000 avail, +0x2000 used), size QSIZE
 *     0x20000..: buffers
 *
 * The balloon's granule is 4 pages (4 × 4 KiB), standing for gmem's cluster.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "error.h"
#include "mvtest.h"
#include "virtio_balloon.h"
#include "virtqueue.h"

#define KIB          UINT64_C(1024)
#define R0_SIZE      (256 * KIB)
#define R1_GPA       (1024 * KIB)
#define R1_SIZE      (64 * KIB)
#define QSIZE        16
#define QBASE(q)     (UINT64_C(0x10000) + (q) * UINT64_C(0x4000))
#define BUF_GPA      UINT64_C(0x20000)
#define GRANULE      4
#define GSI          16
#define MAX_CALLS    256
#define F(bit)       (UINT64_C(1) << (bit))

enum call_kind { CALL_INFLATE, CALL_DEFLATE, CALL_DISCARD };

struct call {
	enum call_kind kind;
	gpa_t gpa;
	uint64_t len;
};

struct fx {
	uint8_t *ram0, *ram1;
	struct guest_mem gm;
	struct virtio_balloon b;
	struct call calls[MAX_CALLS];
	unsigned nr_calls;
	unsigned irqs;
	char *logbuf;
	size_t loglen;
	FILE *log;
	uint16_t avail_idx[VB_Q_NR];
};

static struct fx *fx_cur;

static int rec(enum call_kind k, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	struct fx *f = fx_cur;

	/* the device must only ever hand over whole granules of guest RAM */
	CHECK_EQ_U(gpa % (GRANULE * VIRTIO_BALLOON_PAGE), 0);
	CHECK_EQ_U(len % (GRANULE * VIRTIO_BALLOON_PAGE), 0);
	CHECK(guest_mem_ptr(&f->gm, gpa, len) != NULL);
	if (f->nr_calls < MAX_CALLS)
		f->calls[f->nr_calls++] = (struct call){ k, gpa, len };
	*pages = len / VIRTIO_BALLOON_PAGE;
	return 0;
}

static int rec_inflate(void *a, gpa_t g, uint64_t l, uint64_t *p) { (void)a; return rec(CALL_INFLATE, g, l, p); }
static int rec_deflate(void *a, gpa_t g, uint64_t l, uint64_t *p) { (void)a; return rec(CALL_DEFLATE, g, l, p); }
static int rec_discard(void *a, gpa_t g, uint64_t l, uint64_t *p) { (void)a; return rec(CALL_DISCARD, g, l, p); }

static void fx_irq(void *arg, uint32_t gsi)
{
	struct fx *f = arg;

	CHECK_EQ(gsi, GSI);
	f->irqs++;
}

static void fx_setup_opts(struct fx *f, const char *opts)
{
	struct virtio_balloon_backend be = { .granule_pages = GRANULE, .inflate = rec_inflate,
					     .deflate = rec_deflate, .discard = rec_discard };
	struct virtio_balloon_opts o = { 0 };

	memset(f, 0, sizeof(*f));
	fx_cur = f;
	f->ram0 = calloc(1, R0_SIZE);
	f->ram1 = calloc(1, R1_SIZE);
	CHECK(f->ram0 && f->ram1);
	f->gm.nr = 2;
	f->gm.r[0] = (struct guest_mem_region){ .gpa = 0, .size = R0_SIZE, .hva = f->ram0 };
	f->gm.r[1] = (struct guest_mem_region){ .gpa = R1_GPA, .size = R1_SIZE, .hva = f->ram1,
						.node = 1 };
	CHECK_EQ(virtio_balloon_parse(&o, opts), 0);
	CHECK_EQ(virtio_balloon_init(&f->b, &o, &be, &f->gm, R1_GPA + R1_SIZE, 0xd0000000, GSI,
				     fx_irq, f), 0);
	f->log = open_memstream(&f->logbuf, &f->loglen);
	f->b.t.log = f->log;
}

static void fx_setup(struct fx *f)
{
	fx_setup_opts(f, "target=64K,stats-interval=1,free-page-reporting=on,deflate-on-oom=on");
}

static void fx_teardown(struct fx *f)
{
	virtio_balloon_destroy(&f->b);
	fclose(f->log);
	free(f->logbuf);
	free(f->ram0);
	free(f->ram1);
}

static uint32_t r32(struct fx *f, uint64_t off)
{
	uint8_t d[4];
	uint32_t v;

	virtio_mmio_access(&f->b.t, off, d, 4, false);
	memcpy(&v, d, 4);
	return v;
}

static void w32(struct fx *f, uint64_t off, uint32_t v)
{
	uint8_t d[4];

	memcpy(d, &v, 4);
	virtio_mmio_access(&f->b.t, off, d, 4, true);
}

static uint64_t device_features(struct fx *f)
{
	w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint64_t lo = r32(f, VIRTIO_MMIO_DEVICE_FEATURES);
	w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return lo | (uint64_t)r32(f, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

static void write_features(struct fx *f, uint64_t feat)
{
	w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
	w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
}

static void setup_queue(struct fx *f, unsigned q, uint32_t size, gpa_t desc, gpa_t avail,
			gpa_t used)
{
	w32(f, VIRTIO_MMIO_QUEUE_SEL, q);
	w32(f, VIRTIO_MMIO_QUEUE_NUM, size);
	w32(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	w32(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	w32(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	w32(f, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	w32(f, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	w32(f, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	w32(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* The whole driver bring-up of virtio 3.1.1 accepting `feat`, with `nq` queues. */
static void drv_init(struct fx *f, uint64_t feat, unsigned nq)
{
	w32(f, VIRTIO_MMIO_STATUS, 0);
	w32(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	w32(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	write_features(f, feat);
	w32(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < nq; q++)
		setup_queue(f, q, QSIZE, QBASE(q), QBASE(q) + 0x1000, QBASE(q) + 0x2000);
	w32(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	memset(f->avail_idx, 0, sizeof(f->avail_idx));
}

static void drv_init_all(struct fx *f)
{
	drv_init(f, device_features(f), 4);
}

static void *gptr(struct fx *f, gpa_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&f->gm, gpa, len);

	CHECK(p != NULL);
	return p;
}

static void set_desc(struct fx *f, unsigned q, unsigned i, gpa_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc *d = gptr(f, QBASE(q) + 16 * i, 16);

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void make_avail(struct fx *f, unsigned q, uint16_t head)
{
	struct vring_avail *a = gptr(f, QBASE(q) + 0x1000, 6 + 2 * QSIZE);

	a->ring[f->avail_idx[q] % QSIZE] = head;
	f->avail_idx[q]++;
	__atomic_store_n(&a->idx, f->avail_idx[q], __ATOMIC_RELEASE);
}

static void notify(struct fx *f, unsigned q)
{
	w32(f, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
	struct vring_used *u = gptr(f, QBASE(q) + 0x2000, 6 + 8 * QSIZE);

	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);    /* the device thread publishes it */
}

/* Put the PFNs in a buffer at BUF_GPA and submit one chain of one descriptor on queue q. */
static void send_pfns(struct fx *f, unsigned q, const uint32_t *pfns, unsigned n)
{
	uint32_t *buf = gptr(f, BUF_GPA, 4 * (uint64_t)n);

	for (unsigned i = 0; i < n; i++)
		buf[i] = htole32(pfns[i]);
	set_desc(f, q, 0, BUF_GPA, 4 * n, 0, 0);
	make_avail(f, q, 0);
	notify(f, q);
}

static bool needs_reset(struct fx *f)
{
	return r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static struct virtio_mmio_stats tstats(struct fx *f)
{
	struct virtio_mmio_stats st;

	virtio_mmio_get_stats(&f->b.t, &st);
	return st;
}

static struct virtio_balloon_stats bstats(struct fx *f)
{
	struct virtio_balloon_stats st;

	virtio_balloon_get_stats(&f->b, &st);
	return st;
}

/* ---- options ------------------------------------------------------------------------------ */

TEST(parse_rejects_unknown_key)
{
	struct virtio_balloon_opts o = { 0 };

	CHECK_EQ(virtio_balloon_parse(&o, "size=1M"), -EINVAL);
	CHECK_CONTAINS(mv_error(), "unknown key 'size'");
}

TEST(parse_rejects_bad_values)
{
	struct virtio_balloon_opts o = { 0 };

	CHECK_EQ(virtio_balloon_parse(&o, "target=lots"), -EINVAL);
	CHECK_CONTAINS(mv_error(), "target=lots");
	CHECK_EQ(virtio_balloon_parse(&o, "stats-interval=-1"), -EINVAL);
	CHECK_CONTAINS(mv_error(), "stats-interval");
	CHECK_EQ(virtio_balloon_parse(&o, "deflate-on-oom=yes"), -EINVAL);
	CHECK_CONTAINS(mv_error(), "on or off");
	CHECK_EQ(virtio_balloon_parse(&o, "target"), -EINVAL);
	CHECK_CONTAINS(mv_error(), "KEY=VALUE");
}

TEST(parse_accepts_all_keys)
{
	struct virtio_balloon_opts o = { 0 };

	CHECK_EQ(virtio_balloon_parse(&o, "target=32M,stats-interval=5,deflate-on-oom=on,"
				      "free-page-reporting=on"), 0);
	CHECK_EQ_U(o.target, 32 << 20);
	CHECK_EQ(o.stats_interval_s, 5);
	CHECK(o.deflate_on_oom && o.reporting && o.given);
}

/* ---- transport: identity, registers, sequence ------------------------------------------------ */

TEST(identity_registers)
{
	struct fx f;

	fx_setup(&f);
	CHECK_EQ_U(r32(&f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_VERSION), 2);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
	CHECK_EQ_U(r32(&f, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	CHECK_EQ_U(device_features(&f), F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC) |
		   F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_BALLOON_F_STATS_VQ) |
		   F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | F(VIRTIO_BALLOON_F_REPORTING));
	w32(&f, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	w32(&f, VIRTIO_MMIO_QUEUE_SEL, 7);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);      /* no such queue */
	fx_teardown(&f);
}

TEST(features_follow_options)
{
	struct fx f;

	fx_setup_opts(&f, "target=0");
	CHECK_EQ_U(device_features(&f), F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC) |
		   F(VIRTIO_RING_F_EVENT_IDX));
	fx_teardown(&f);
}

TEST(queues_exist_by_negotiated_features)
{
	struct fx f;

	fx_setup(&f);
	drv_init(&f, F(VIRTIO_F_VERSION_1) | F(VIRTIO_BALLOON_F_REPORTING), 0);
	w32(&f, VIRTIO_MMIO_QUEUE_SEL, 2);               /* reporting: stats was not accepted */
	CHECK_EQ(r32(&f, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	w32(&f, VIRTIO_MMIO_QUEUE_SEL, 3);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	w32(&f, VIRTIO_MMIO_QUEUE_NUM, 8);
	CHECK_EQ(tstats(&f).bad_sequence, 1);
	CHECK_EQ(f.b.role[2], VB_Q_REPORT);
	fx_teardown(&f);
}

TEST(read_only_register_writes_are_ignored_and_counted)
{
	struct fx f;

	fx_setup(&f);
	w32(&f, VIRTIO_MMIO_MAGIC_VALUE, 0);
	w32(&f, VIRTIO_MMIO_DEVICE_ID, 1);
	w32(&f, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	w32(&f, VIRTIO_MMIO_CONFIG_GENERATION, 9);
	CHECK_EQ_U(r32(&f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	CHECK_EQ(tstats(&f).ro_writes, 4);
	fflush(f.log);
	CHECK_CONTAINS(f.logbuf, "read-only register 0x000");
	fx_teardown(&f);
}

TEST(narrow_and_unaligned_register_accesses_are_ignored)
{
	struct fx f;
	uint8_t d[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	fx_setup(&f);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_MAGIC_VALUE, d, 2, false);
	CHECK_EQ(d[0], 0);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_STATUS + 1, d, 4, true);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_STATUS, d, 8, true);
	virtio_mmio_access(&f.b.t, 0x028, d, 4, true);       /* legacy GuestPageSize */
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_QUEUE_DESC_LOW, d, 4, false);   /* write-only */
	CHECK_EQ(r32(&f, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(tstats(&f).bad_accesses, 5);
	fx_teardown(&f);
}

TEST(config_access_outside_config_space_is_ignored)
{
	struct fx f;
	uint8_t d[4] = { 0xff, 0xff, 0xff, 0xff };

	fx_setup(&f);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG + 14, d, 4, false);
	CHECK_EQ_U(d[0] | d[1] | d[2] | d[3], 0);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG + 0xe00, d, 1, true);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG, d, 3, false);
	CHECK_EQ(tstats(&f).bad_accesses, 3);
	fx_teardown(&f);
}

TEST(legacy_driver_is_refused_features_ok)
{
	struct fx f;

	fx_setup(&f);
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	write_features(&f, F(VIRTIO_BALLOON_F_STATS_VQ));           /* no VERSION_1 */
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	fflush(f.log);
	CHECK_CONTAINS(f.logbuf, "VIRTIO_F_VERSION_1");
	fx_teardown(&f);
}

TEST(features_never_offered_are_refused)
{
	struct fx f;

	fx_setup_opts(&f, "target=0");
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	write_features(&f, F(VIRTIO_F_VERSION_1) | F(VIRTIO_BALLOON_F_REPORTING));
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	fx_teardown(&f);
}

TEST(features_after_features_ok_are_ignored)
{
	struct fx f;

	fx_setup(&f);
	drv_init(&f, F(VIRTIO_F_VERSION_1), 2);
	write_features(&f, F(VIRTIO_F_VERSION_1) | F(VIRTIO_BALLOON_F_REPORTING));
	CHECK_EQ(tstats(&f).bad_sequence, 2);
	CHECK_EQ_U(f.b.t.driver_features, F(VIRTIO_F_VERSION_1));
	fx_teardown(&f);
}

TEST(driver_ok_without_features_ok_needs_reset)
{
	struct fx f;

	fx_setup(&f);
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(needs_reset(&f));
	CHECK_EQ(r32(&f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK, 0);
	CHECK_EQ(tstats(&f).needs_reset, 1);
	w32(&f, VIRTIO_MMIO_STATUS, 0);                  /* only a reset clears it */
	CHECK_EQ(r32(&f, VIRTIO_MMIO_STATUS), 0);
	fx_teardown(&f);
}

TEST(status_bits_cannot_be_cleared_without_reset)
{
	struct fx f;

	fx_setup(&f);
	drv_init_all(&f);
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK(r32(&f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
	w32(&f, VIRTIO_MMIO_STATUS, r32(&f, VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(!needs_reset(&f));
	CHECK_EQ(tstats(&f).bad_sequence, 2);
	fx_teardown(&f);
}

TEST(queue_registers_need_features_ok_and_an_unready_queue)
{
	struct fx f;

	fx_setup(&f);
	w32(&f, VIRTIO_MMIO_QUEUE_SEL, 0);
	w32(&f, VIRTIO_MMIO_QUEUE_NUM, 8);                /* before FEATURES_OK */
	CHECK_EQ(f.b.t.q[0].size, 0);
	drv_init_all(&f);
	w32(&f, VIRTIO_MMIO_QUEUE_SEL, 0);
	w32(&f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);      /* queue is ready */
	CHECK_EQ_U(f.b.t.q[0].desc, QBASE(0));
	w32(&f, VIRTIO_MMIO_QUEUE_SEL, 6);
	w32(&f, VIRTIO_MMIO_QUEUE_NUM, 8);                /* no such queue */
	CHECK_EQ(tstats(&f).bad_sequence, 3);
	fx_teardown(&f);
}

TEST(ring_outside_guest_ram_needs_reset)
{
	struct fx f;

	fx_setup(&f);
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	write_features(&f, F(VIRTIO_F_VERSION_1));
	w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_FEATURES_OK);
	/* the used ring would end 6 + 8 * 16 bytes past the end of region 0 */
	setup_queue(&f, 0, QSIZE, QBASE(0), QBASE(0) + 0x1000, R0_SIZE - 64);
	CHECK(needs_reset(&f));
	CHECK(!f.b.t.q[0].ready);
	fflush(f.log);
	CHECK_CONTAINS(f.logbuf, "used ring");
	fx_teardown(&f);
}

TEST(ring_in_the_gap_or_misaligned_or_odd_size_needs_reset)
{
	static const struct { uint32_t size; gpa_t desc; } bad[] = {
		{ QSIZE, 512 * KIB },          /* the gap */
		{ QSIZE, QBASE(0) + 8 },       /* not 16-aligned */
		{ 12, QBASE(0) },              /* not a power of two */
		{ 512, QBASE(0) },             /* above QueueNumMax */
		{ 0, QBASE(0) },
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fx f;

		fx_setup(&f);
		w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
		write_features(&f, F(VIRTIO_F_VERSION_1));
		w32(&f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		    VIRTIO_CONFIG_S_FEATURES_OK);
		setup_queue(&f, 0, bad[i].size, bad[i].desc, QBASE(0) + 0x1000, QBASE(0) + 0x2000);
		CHECK(needs_reset(&f));
		fx_teardown(&f);
	}
}

TEST(notify_before_driver_ok_is_ignored)
{
	struct fx f;
	uint32_t pfn = 4;

	fx_setup(&f);
	send_pfns(&f, 0, &pfn, 1);
	CHECK_EQ(tstats(&f).bad_sequence, 1);
	CHECK_EQ(bstats(&f).inflated, 0);
	fx_teardown(&f);
}

TEST(log_is_rate_limited_and_counts_the_rest)
{
	struct fx f;
	size_t lines = 0;

	fx_setup(&f);
	for (int i = 0; i < 1000; i++)
		w32(&f, VIRTIO_MMIO_VERSION, 1);
	fflush(f.log);
	for (size_t i = 0; i < f.loglen; i++)
		lines += f.logbuf[i] == '\n';
	CHECK_EQ(lines, VIRTIO_MMIO_LOG_BURST);
	CHECK_EQ(tstats(&f).ro_writes, 1000);
	CHECK_EQ(tstats(&f).log_suppressed, 1000 - VIRTIO_MMIO_LOG_BURST);
	fx_teardown(&f);
}

/* ---- virtqueue: hostile chains ------------------------------------------------------------------ */

/* Submit chain head 0 on the inflate queue after the test built its descriptors. */
static void submit0(struct fx *f)
{
	make_avail(f, 0, 0);
	notify(f, 0);
}

TEST(looping_chain_needs_reset)
{
	struct fx f;

	fx_setup(&f);
	drv_init_all(&f);
	set_desc(&f, 0, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
	set_desc(&f, 0, 1, BUF_GPA, 4, VRING_DESC_F_NEXT, 0);   /* back to 0 */
	submit0(&f);
	CHECK(needs_reset(&f));
	fflush(f.log);
	CHECK_CONTAINS(f.logbuf, "a loop");
	fx_teardown(&f);
}

TEST(next_index_outside_table_needs_reset)
{
	struct fx f;

	fx_setup(&f);
	drv_init_all(&f);
	set_desc(&f, 0, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, QSIZE);
	submit0(&f);
	CHECK(needs_reset(&f));
	fx_teardown(&f);
}

TEST(buffer_outside_guest_ram_needs_reset)
{
	static const struct { gpa_t gpa; uint32_t len; } bad[] = {
		{ R0_SIZE - 2, 4 },             /* straddles the end of region 0 */
		{ 512 * KIB, 4 },               /* in the gap */
		{ R1_GPA + R1_SIZE, 4 },        /* past the end of RAM */
		{ UINT64_C(0xfffffffffffffffc), 8 },   /* wraps */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fx f;

		fx_setup(&f);
		drv_init_all(&f);
		set_desc(&f, 0, 0, bad[i].gpa, bad[i].len, 0, 0);
		submit0(&f);
		CHECK(needs_reset(&f));
		CHECK_EQ(f.nr_calls, 0);
		fx_teardown(&f);
	}
}

TEST(avail_index_too_far_ahead_needs_reset)
{
	struct fx f;
	struct vring_avail *a;

	fx_setup(&f);
	drv_init_all(&f);
	a = gptr(&f, QBASE(0) + 0x1000, 6 + 2 * QSIZE);
	a->idx = QSIZE + 1;
	notify(&f, 0);
	CHECK(needs_reset(&f));
	fx_teardown(&f);
}

TEST(head_outside_table_needs_reset)
{
	struct fx f;

	fx_setup(&f);
	drv_init_all(&f);
	make_avail(&f, 0, QSIZE + 3);
	notify(&f, 0);
	CHECK(needs_reset(&f));
	fx_teardown(&f);
}

TEST(readable_after_writable_needs_reset)
{
	struct fx f;

	fx_setup(&f);
	drv_init_all(&f);
	set_desc(&f, 0, 0, BUF_GPA, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&f, 0, 1, BUF_GPA + 4, 4, 0, 0);
	submit0(&f);
	CHECK(needs_reset(&f));
	fx_teardown(&f);
}

TEST(indirect_without_negotiation_needs_reset)
{
	struct fx f;

	fx_setup(&f);
	drv_init(&f, F(VIRTIO_F_VERSION_1), 2);
	set_desc(&f, 0, 0, BUF_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	submit0(&f);
	CHECK(needs_reset(&f));
	fflush(f.log);
	CHECK_CONTAINS(f.logbuf, "INDIRECT_DESC was not negotiated");
	fx_teardown(&f);
}

TEST(bad_indirect_tables_need_reset)
{
	static const struct { gpa_t gpa; uint32_t len; uint16_t flags; } bad[] = {
		{ BUF_GPA, 0, VRING_DESC_F_INDIRECT },                      /* empty */
		{ BUF_GPA, 24, VRING_DESC_F_INDIRECT },                     /* not 16 × n */
		{ BUF_GPA, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT }, /* both */
		{ R0_SIZE - 16, 32, VRING_DESC_F_INDIRECT },                /* leaves RAM */
		{ BUF_GPA, 16 * 2048, VRING_DESC_F_INDIRECT },              /* too many entries */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fx f;

		fx_setup(&f);
		drv_init_all(&f);
		set_desc(&f, 0, 0, bad[i].gpa, bad[i].len, bad[i].flags, 1);
		set_desc(&f, 0, 1, BUF_GPA, 4, 0, 0);
		submit0(&f);
		CHECK(needs_reset(&f));
		fx_teardown(&f);
	}
}

TEST(nested_and_looping_indirect_need_reset)
{
	for (int nested = 0; nested < 2; nested++) {
		struct fx f;
		struct vring_desc *t;

		fx_setup(&f);
		drv_init_all(&f);
		t = gptr(&f, BUF_GPA + 0x1000, 32);
		t[0] = (struct vring_desc){ .addr = BUF_GPA, .len = nested ? 32 : 4,
					    .flags = nested ? VRING_DESC_F_INDIRECT
							    : VRING_DESC_F_NEXT, .next = 1 };
		t[1] = (struct vring_desc){ .addr = BUF_GPA, .len = 4, .flags = VRING_DESC_F_NEXT,
					    .next = 0 };
		set_desc(&f, 0, 0, BUF_GPA + 0x1000, 32, VRING_DESC_F_INDIRECT, 0);
		submit0(&f);
		CHECK(needs_reset(&f));
		fx_teardown(&f);
	}
}

TEST(indirect_chain_is_followed)
{
	struct fx f;
	struct vring_desc *t;
	uint32_t *pfns;

	fx_setup(&f);
	drv_init_all(&f);
	pfns = gptr(&f, BUF_GPA, 16);
	for (unsigned i = 0; i < 4; i++)
		pfns[i] = htole32(8 + i);
	t = gptr(&f, BUF_GPA + 0x1000, 32);
	t[0] = (struct vring_desc){ .addr = BUF_GPA, .len = 8, .flags = VRING_DESC_F_NEXT,
				    .next = 1 };
	t[1] = (struct vring_desc){ .addr = BUF_GPA + 8, .len = 8 };
	set_desc(&f, 0, 0, BUF_GPA + 0x1000, 32, VRING_DESC_F_INDIRECT, 0);
	submit0(&f);
	CHECK(!needs_reset(&f));
	CHECK_EQ(used_idx(&f, 0), 1);
	CHECK_EQ(f.nr_calls, 1);
	CHECK_EQ_U(f.calls[0].gpa, 8 * VIRTIO_BALLOON_PAGE);
	fx_teardown(&f);
}

TEST(chain_with_too_many_buffers_needs_reset)
{
	struct fx f;
	struct vring_desc *t;

	fx_setup(&f);
	drv_init_all(&f);
	t = gptr(&f, BUF_GPA + 0x1000, 16 * (VIRTQ_MAX_SEGS + 1));
	for (unsigned i = 0; i <= VIRTQ_MAX_SEGS; i++)
		t[i] = (struct vring_desc){ .addr = BUF_GPA, .len = 4,
					    .flags = i < VIRTQ_MAX_SEGS ? VRING_DESC_F_NEXT : 0,
					    .next = (uint16_t)(i + 1) };
	set_desc(&f, 0, 0, BUF_GPA + 0x1000, 16 * (VIRTQ_MAX_SEGS + 1), VRING_DESC_F_INDIRECT, 0);
	submit0(&f);
	CHECK(needs_reset(&f));
	fx_teardown(&f);
}

/* ---- virtqueue: notification and interrupt suppression -------------------------------------- */

TEST(no_interrupt_flag_suppresses_interrupts)
{
	struct fx f;
	struct vring_avail *a;
	uint32_t pfn = 8;

	fx_setup(&f);
	drv_init(&f, F(VIRTIO_F_VERSION_1), 2);
	a = gptr(&f, QBASE(0) + 0x1000, 6 + 2 * QSIZE);
	a->flags = VRING_AVAIL_F_NO_INTERRUPT;
	send_pfns(&f, 0, &pfn, 1);
	CHECK_EQ(used_idx(&f, 0), 1);
	CHECK_EQ(f.irqs, 0);
	CHECK_EQ(tstats(&f).interrupts_suppressed, 1);
	a->flags = 0;
	send_pfns(&f, 0, &pfn, 1);
	CHECK_EQ(f.irqs, 1);
	CHECK_EQ_U(r32(&f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	w32(&f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	fx_teardown(&f);
}

TEST(event_idx_interrupts_only_when_used_event_is_passed)
{
	struct fx f;
	struct vring_avail *a;
	uint16_t *avail_event;
	uint32_t pfn = 8;

	fx_setup(&f);
	drv_init(&f, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX), 2);
	a = gptr(&f, QBASE(0) + 0x1000, 6 + 2 * QSIZE + 2);
	avail_event = gptr(&f, QBASE(0) + 0x2000 + 4 + 8 * QSIZE, 2);
	a->ring[QSIZE] = 2;              /* used_event: interrupt once used idx passes 2 */
	send_pfns(&f, 0, &pfn, 1);       /* first one always interrupts (nothing signalled yet) */
	CHECK_EQ(f.irqs, 1);
	CHECK_EQ(*avail_event, 1);       /* the device asks to be notified at the next buffer */
	send_pfns(&f, 0, &pfn, 1);       /* used idx 2: not past used_event 2 */
	CHECK_EQ(f.irqs, 1);
	send_pfns(&f, 0, &pfn, 1);       /* used idx 3 > 2 */
	CHECK_EQ(f.irqs, 2);
	CHECK_EQ(*avail_event, 3);
	fx_teardown(&f);
}

/* ---- balloon --------------------------------------------------------------------------------- */

TEST(inflate_hands_whole_granules_in_merged_ranges)
{
	struct fx f;
	/* granules: 1 (4-7) whole, 2 (9 only) partial, 3 (12-15) whole, shuffled */
	static const uint32_t pfns[] = { 13, 5, 9, 4, 15, 7, 12, 6, 14 };

	fx_setup(&f);
	drv_init_all(&f);
	send_pfns(&f, 0, pfns, 9);
	CHECK_EQ(f.nr_calls, 2);
	CHECK_EQ(f.calls[0].kind, CALL_INFLATE);
	CHECK_EQ_U(f.calls[0].gpa, 4 * VIRTIO_BALLOON_PAGE);
	CHECK_EQ_U(f.calls[0].len, 4 * VIRTIO_BALLOON_PAGE);
	CHECK_EQ_U(f.calls[1].gpa, 12 * VIRTIO_BALLOON_PAGE);
	CHECK_EQ(bstats(&f).held, 9);
	CHECK_EQ(bstats(&f).host_inflated, 8);
	CHECK_EQ(used_idx(&f, 0), 1);
	fx_teardown(&f);
}

TEST(adjacent_granules_merge_into_one_call)
{
	struct fx f;
	uint32_t pfns[16];

	fx_setup(&f);
	drv_init_all(&f);
	for (unsigned i = 0; i < 16; i++)
		pfns[i] = 47 - i;             /* granules 8..11, descending */
	send_pfns(&f, 0, pfns, 16);
	CHECK_EQ(f.nr_calls, 1);
	CHECK_EQ_U(f.calls[0].gpa, 32 * VIRTIO_BALLOON_PAGE);
	CHECK_EQ_U(f.calls[0].len, 16 * VIRTIO_BALLOON_PAGE);
	fx_teardown(&f);
}

TEST(granule_completed_by_a_later_request)
{
	struct fx f;
	static const uint32_t a[] = { 4, 5, 6 }, b[] = { 7 };

	fx_setup(&f);
	drv_init_all(&f);
	send_pfns(&f, 0, a, 3);
	CHECK_EQ(f.nr_calls, 0);
	send_pfns(&f, 0, b, 1);
	CHECK_EQ(f.nr_calls, 1);
	CHECK_EQ_U(f.calls[0].gpa, 4 * VIRTIO_BALLOON_PAGE);
	fx_teardown(&f);
}

TEST(pfns_outside_guest_ram_are_ignored_and_counted)
{
	struct fx f;
	/* 64..255: the gap; 272: past RAM; 0xffffffff: far past */
	static const uint32_t pfns[] = { 64, 100, 255, 272, 0xffffffff, 256, 257, 258, 259 };

	fx_setup(&f);
	drv_init_all(&f);
	send_pfns(&f, 0, pfns, 9);
	CHECK_EQ(bstats(&f).bad_pfns, 5);
	CHECK_EQ(f.nr_calls, 1);               /* 256-259: region 1's first granule */
	CHECK_EQ_U(f.calls[0].gpa, R1_GPA);
	CHECK(!needs_reset(&f));
	fx_teardown(&f);
}

TEST(duplicates_are_ignored_and_counted)
{
	struct fx f;
	static const uint32_t pfns[] = { 4, 4, 5, 6, 7, 4 };

	fx_setup(&f);
	drv_init_all(&f);
	send_pfns(&f, 0, pfns, 6);
	CHECK_EQ(bstats(&f).duplicates, 2);
	CHECK_EQ(bstats(&f).held, 4);
	send_pfns(&f, 0, pfns, 1);             /* already in the balloon */
	CHECK_EQ(bstats(&f).duplicates, 3);
	CHECK_EQ(f.nr_calls, 1);
	fx_teardown(&f);
}

TEST(inflating_past_the_target_is_counted)
{
	struct fx f;
	uint32_t pfns[20];

	fx_setup_opts(&f, "target=64K");      /* 16 pages */
	drv_init_all(&f);
	for (unsigned i = 0; i < 20; i++)
		pfns[i] = i;
	send_pfns(&f, 0, pfns, 20);
	CHECK_EQ(bstats(&f).held, 20);
	CHECK_EQ(bstats(&f).over_target, 4);
	fx_teardown(&f);
}

TEST(request_of_partial_pfn_is_counted)
{
	struct fx f;

	fx_setup(&f);
	drv_init_all(&f);
	set_desc(&f, 0, 0, BUF_GPA, 6, 0, 0);
	submit0(&f);
	CHECK_EQ(bstats(&f).bad_requests, 1);
	CHECK_EQ(bstats(&f).inflated, 1);      /* the whole PFN in it still counts */
	CHECK(!needs_reset(&f));
	fx_teardown(&f);
}

TEST(deflate_returns_whole_granules_and_counts_strangers)
{
	struct fx f;
	static const uint32_t in[] = { 4, 5, 6, 7, 8, 9, 10, 11 }, out[] = { 5, 9, 20, 21 };

	fx_setup(&f);
	drv_init_all(&f);
	send_pfns(&f, 0, in, 8);
	f.nr_calls = 0;
	send_pfns(&f, 1, out, 4);
	CHECK_EQ(f.nr_calls, 1);               /* granules 1 and 2, merged */
	CHECK_EQ(f.calls[0].kind, CALL_DEFLATE);
	CHECK_EQ_U(f.calls[0].gpa, 4 * VIRTIO_BALLOON_PAGE);
	CHECK_EQ_U(f.calls[0].len, 8 * VIRTIO_BALLOON_PAGE);
	CHECK_EQ(bstats(&f).not_held, 2);
	CHECK_EQ(bstats(&f).held, 6);
	/* deflating the rest of a partial granule hands nothing more to the host */
	send_pfns(&f, 1, in, 1);
	CHECK_EQ(f.nr_calls, 1);
	fx_teardown(&f);
}

TEST(reset_deflates_what_the_balloon_held)
{
	struct fx f;
	static const uint32_t in[] = { 4, 5, 6, 7, 9 };

	fx_setup(&f);
	drv_init_all(&f);
	send_pfns(&f, 0, in, 5);
	f.nr_calls = 0;
	w32(&f, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(f.nr_calls, 1);
	CHECK_EQ(f.calls[0].kind, CALL_DEFLATE);
	CHECK_EQ(bstats(&f).held, 0);
	fx_teardown(&f);
}

TEST(free_page_reports_discard_whole_granules)
{
	struct fx f;

	fx_setup(&f);
	drv_init_all(&f);
	/* report queue is 3 (stats is 2): [16K+4K, 16K+4K+40K) holds granules 2..3 wholly */
	set_desc(&f, 3, 0, 20 * KIB, 40 * KIB, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&f, 3, 1, R1_GPA, 16 * KIB, VRING_DESC_F_WRITE, 0);
	make_avail(&f, 3, 0);
	notify(&f, 3);
	CHECK_EQ(f.nr_calls, 2);
	CHECK_EQ(f.calls[0].kind, CALL_DISCARD);
	CHECK_EQ_U(f.calls[0].gpa, 32 * KIB);
	CHECK_EQ_U(f.calls[0].len, 16 * KIB);
	CHECK_EQ_U(f.calls[1].gpa, R1_GPA);
	CHECK_EQ(bstats(&f).reported, 8);
	CHECK_EQ(used_idx(&f, 3), 1);
	fx_teardown(&f);
}

TEST(stats_buffer_is_held_until_polled)
{
	struct fx f;
	uint8_t *s;

	fx_setup(&f);
	drv_init_all(&f);
	s = gptr(&f, BUF_GPA, 30);
	for (unsigned i = 0; i < 3; i++) {
		struct virtio_balloon_stat st = { .tag = htole16(i == 2 ? 99 : VIRTIO_BALLOON_S_MEMFREE + i),
						  .val = htole64(1000 + i) };

		memcpy(s + 10 * i, &st, 10);
	}
	set_desc(&f, 2, 0, BUF_GPA, 30, 0, 0);
	make_avail(&f, 2, 0);
	notify(&f, 2);
	CHECK_EQ(used_idx(&f, 2), 0);                   /* held */
	CHECK_EQ_U(bstats(&f).guest_stat[VIRTIO_BALLOON_S_MEMFREE], 1000);
	CHECK_EQ_U(bstats(&f).guest_stat[VIRTIO_BALLOON_S_MEMTOT], 1001);
	CHECK_EQ(bstats(&f).stats_updates, 1);
	virtio_balloon_poll_stats(&f.b);
	CHECK_EQ(used_idx(&f, 2), 1);
	CHECK_EQ(f.irqs, 1);
	virtio_balloon_poll_stats(&f.b);                /* nothing held: nothing returned */
	CHECK_EQ(used_idx(&f, 2), 1);
	fx_teardown(&f);
}

TEST(stats_interval_change_refused_without_a_timer_or_above_an_hour)
{
	struct fx f;

	fx_setup(&f);                                   /* virtio_balloon_start not called */
	CHECK_EQ(virtio_balloon_set_interval(&f.b, 2), -EINVAL);
	CHECK_CONTAINS(mv_error(), "no statistics queue");
	CHECK_EQ(virtio_balloon_interval(&f.b), 1);
	CHECK_EQ(virtio_balloon_start(&f.b), 0);
	CHECK_EQ(virtio_balloon_set_interval(&f.b, 3601), -EINVAL);
	CHECK_CONTAINS(mv_error(), "guest-stats-polling-interval 3601 is above 3600 s");
	CHECK_EQ(virtio_balloon_interval(&f.b), 1);
	fx_teardown(&f);
}

/* The timer paused (interval 0) keeps the buffer; a new interval returns it after that long,
 * and the time of the guest's report is kept for QMP's last-update. */
TEST(stats_timer_follows_interval_changes)
{
	struct fx f;
	struct virtio_balloon_stat st = { .tag = htole16(VIRTIO_BALLOON_S_MEMFREE),
					  .val = htole64(77) };
	int64_t before = (int64_t)time(NULL);

	fx_setup(&f);
	drv_init_all(&f);
	memcpy(gptr(&f, BUF_GPA, 10), &st, 10);
	CHECK_EQ(virtio_balloon_start(&f.b), 0);
	CHECK_EQ(virtio_balloon_set_interval(&f.b, 0), 0);
	set_desc(&f, 2, 0, BUF_GPA, 10, 0, 0);
	make_avail(&f, 2, 0);
	notify(&f, 2);
	CHECK(bstats(&f).stats_last_update >= before);
	CHECK(bstats(&f).stats_last_update <= (int64_t)time(NULL));
	usleep(1300 * 1000);                            /* past the old 1 s interval */
	CHECK_EQ(used_idx(&f, 2), 0);                   /* paused: still held */
	CHECK_EQ(virtio_balloon_set_interval(&f.b, 1), 0);
	for (unsigned ms = 0; ms < 3000 && used_idx(&f, 2) == 0; ms += 10)
		usleep(10 * 1000);
	CHECK_EQ(used_idx(&f, 2), 1);
	virtio_balloon_stop(&f.b);
	fx_teardown(&f);
}

TEST(config_space_target_read_only_actual_writable)
{
	struct fx f;
	uint8_t d[4];
	uint32_t v = htole32(1234);

	fx_setup(&f);
	drv_init_all(&f);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG + 0, d, 4, false);
	CHECK_EQ(le32toh(*(uint32_t *)d), 16);          /* target=64K */
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG + 0, (uint8_t *)&v, 4, true);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG + 4, (uint8_t *)&v, 4, true);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG + 0, d, 4, false);
	CHECK_EQ(le32toh(*(uint32_t *)d), 16);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG + 4, d, 2, false);
	CHECK_EQ(d[0] | d[1] << 8, 1234);
	CHECK_EQ(tstats(&f).ro_writes, 1);
	fx_teardown(&f);
}

TEST(target_change_raises_config_interrupt)
{
	struct fx f;
	uint8_t d[4];

	fx_setup(&f);
	drv_init_all(&f);
	virtio_balloon_set_target(&f.b, 128 * KIB);
	CHECK_EQ(f.irqs, 1);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(r32(&f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	virtio_mmio_access(&f.b.t, VIRTIO_MMIO_CONFIG, d, 4, false);
	CHECK_EQ(le32toh(*(uint32_t *)d), 32);
	virtio_balloon_set_target(&f.b, UINT64_C(1) << 40);   /* clamped to guest RAM */
	CHECK_EQ(bstats(&f).num_pages, (R1_GPA + R1_SIZE) / VIRTIO_BALLOON_PAGE);
	fx_teardown(&f);
}

/*
 * Randomized hostile guest: random bytes in every ring and buffer, random register writes, for
 * 100,000 steps with a fixed seed. Nothing may crash or touch memory outside the two RAM buffers
 * (ASan), every backend call is whole granules of RAM (checked in rec()), and the bitmap count
 * agrees with `held`.
 */
TEST(random_hostile_guest)
{
	struct fx f;
	struct mvt_rng rng;

	mvt_rng_seed(&rng, 7);
	fx_setup(&f);
	drv_init_all(&f);
	for (unsigned step = 0; step < 100000; step++) {
		uint64_t r = mvt_rng_next(&rng);
		unsigned q = (unsigned)(r % 4);

		switch ((r >> 8) % 16) {
		case 0: {      /* scribble on a ring byte */
			gpa_t at = QBASE(q) + mvt_rng_below(&rng, 0x3000);

			f.ram0[at] = (uint8_t)mvt_rng_next(&rng);
			break;
		}
		case 1:        /* a register write, any offset, any value */
			w32(&f, mvt_rng_below(&rng, 0x100) & ~UINT64_C(3), (uint32_t)mvt_rng_next(&rng));
			break;
		case 2:        /* start again */
			drv_init_all(&f);
			f.nr_calls = 0;
			break;
		default: {     /* a plausible chain of 1-3 descriptors with random contents */
			unsigned n = 1 + (unsigned)mvt_rng_below(&rng, 3);

			for (unsigned i = 0; i < n; i++) {
				uint16_t flags = (uint16_t)(mvt_rng_below(&rng, 8) == 0 ?
							    mvt_rng_next(&rng) :
							    (i + 1 < n ? VRING_DESC_F_NEXT : 0));
				set_desc(&f, q, i, BUF_GPA + mvt_rng_below(&rng, 0x100) * 4,
					 (uint32_t)mvt_rng_below(&rng, 64) * 4, flags,
					 (uint16_t)(i + 1));
			}
			for (unsigned i = 0; i < 16; i++)
				((uint32_t *)(f.ram0 + BUF_GPA))[mvt_rng_below(&rng, 0x140)] =
					(uint32_t)mvt_rng_below(&rng, 300);
			make_avail(&f, q, (uint16_t)(mvt_rng_below(&rng, 16) ? 0 : mvt_rng_next(&rng)));
			notify(&f, q);
			break;
		}
		}
		if (f.nr_calls >= MAX_CALLS - 8)
			f.nr_calls = 0;
	}
	{
		uint64_t bits = 0;

		for (uint64_t p = 0; p < f.b.nr_pages; p++)
			bits += (f.b.bitmap[p / 64] >> (p % 64)) & 1;
		CHECK_EQ(bits, bstats(&f).held);
		/* the walk reached every path, not just the first refusal */
		CHECK_GT(bstats(&f).inflated, 10000);
		CHECK_GT(bstats(&f).deflated, 1000);
		CHECK_GT(bstats(&f).bad_pfns, 10000);
		CHECK_GT(tstats(&f).needs_reset, 1000);
	}
	fx_teardown(&f);
}
