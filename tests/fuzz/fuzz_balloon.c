/*
 * fuzz_balloon — libFuzzer target for the virtio-balloon device model behind its virtio-mmio
 * transport (vmm/virtio_balloon.c, virtio_mmio.c, virtqueue.c): the input is a hostile driver's
 * program of register accesses, guest-RAM writes (rings, descriptors, PFN arrays, stats
 * buffers), queue notifications, statistics polls and target changes.
 *
 *   fake guest-physical space (two malloc'd buffers of exactly their size: ASan reports any
 *   access the device makes outside guest RAM)
 *
 *   0                 128 KiB        512 KiB         512 KiB + 64 KiB
 *   | region 0 (ram0)  | gap: not RAM |  region 1 (ram1) |
 *     0x1000 + q * 0x1000: where the "bring-up" op puts queue q's rings (size 16)
 *
 * Program: one op per step, op byte % 7:
 *   0 MMIO write   [off/4 (1 byte, 0..255 → 0..0x3fc)] [value, 4 bytes]
 *   1 MMIO read    [off/4]
 *   2 RAM write    [region 0 offset, 2 bytes LE] [n (1 byte, 1..32)] [n bytes]
 *   3 bring-up     [features, 1 byte: VERSION_1 always, bits pick INDIRECT, EVENT_IDX,
 *                   STATS_VQ, DEFLATE_ON_OOM, REPORTING] — the whole status sequence and four
 *                   queues at the addresses above, so the later ops reach the request paths
 *   4 notify       [queue]
 *   5 poll stats
 *   6 set target   [pages, 2 bytes]
 *
 * The backend (standing in for gmem) checks what the device hands it: whole granules of guest
 * RAM only, an inflate never of a granule already inflated, a deflate only of one that is. The
 * device's own count of held pages must cover every granule it inflated.
 */
#include <endian.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "error.h"
#include "virtio_balloon.h"

#define KIB       UINT64_C(1024)
#define R0_SIZE   (128 * KIB)
#define R1_GPA    (512 * KIB)
#define R1_SIZE   (64 * KIB)
#define RAM_END   (R1_GPA + R1_SIZE)
#define GRANULE   4                             /* pages: stands for gmem's cluster */
#define GRAN_SIZE (GRANULE * VIRTIO_BALLOON_PAGE)
#define NR_GRAN   (RAM_END / GRAN_SIZE)
#define QSIZE     16
#define QBASE(q)  (UINT64_C(0x1000) + (q) * UINT64_C(0x1000))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram0, *ram1;
static bool inflated[NR_GRAN];
static unsigned nr_inflated;
static struct guest_mem gm;

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "fuzz_balloon: %s\n", #c); abort(); } } while (0)

static void check_range(gpa_t gpa, uint64_t len)
{
	ASSERT(len && gpa % GRAN_SIZE == 0 && len % GRAN_SIZE == 0);
	ASSERT(guest_mem_ptr(&gm, gpa, len) != NULL);
}

static int be_inflate(void *a, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	(void)a;
	check_range(gpa, len);
	for (uint64_t g = gpa / GRAN_SIZE; g < (gpa + len) / GRAN_SIZE; g++) {
		ASSERT(!inflated[g]);
		inflated[g] = true;
		nr_inflated++;
	}
	*pages = len / VIRTIO_BALLOON_PAGE;
	return 0;
}

static int be_deflate(void *a, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	(void)a;
	check_range(gpa, len);
	for (uint64_t g = gpa / GRAN_SIZE; g < (gpa + len) / GRAN_SIZE; g++) {
		ASSERT(inflated[g]);
		inflated[g] = false;
		nr_inflated--;
	}
	*pages = len / VIRTIO_BALLOON_PAGE;
	return 0;
}

static int be_discard(void *a, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	(void)a;
	check_range(gpa, len);
	*pages = len / VIRTIO_BALLOON_PAGE;
	return 0;
}

static void irq(void *arg, uint32_t gsi)
{
	(void)arg;
	(void)gsi;
}

static void w32(struct virtio_balloon *b, uint64_t off, uint32_t v)
{
	uint8_t d[4];

	memcpy(d, &v, 4);
	virtio_mmio_access(&b->t, off, d, 4, true);
}

static void bring_up(struct virtio_balloon *b, uint8_t pick)
{
	static const unsigned bits[] = { VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX,
					 VIRTIO_BALLOON_F_STATS_VQ, VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
					 VIRTIO_BALLOON_F_REPORTING };
	uint64_t feat = UINT64_C(1) << VIRTIO_F_VERSION_1;
	uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	for (unsigned i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (pick & (1u << i))
			feat |= UINT64_C(1) << bits[i];
	w32(b, VIRTIO_MMIO_STATUS, 0);
	w32(b, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	w32(b, VIRTIO_MMIO_STATUS, st);
	w32(b, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(b, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
	w32(b, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(b, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
	w32(b, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < 4; q++) {
		w32(b, VIRTIO_MMIO_QUEUE_SEL, q);
		w32(b, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		w32(b, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)QBASE(q));
		w32(b, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
		w32(b, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(QBASE(q) + 0x400));
		w32(b, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
		w32(b, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(QBASE(q) + 0x800));
		w32(b, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
		w32(b, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	w32(b, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_balloon_backend be = { .granule_pages = GRANULE, .inflate = be_inflate,
					     .deflate = be_deflate, .discard = be_discard };
	struct virtio_balloon_opts o = { 0 };
	struct virtio_balloon b;
	struct virtio_balloon_stats st;
	size_t p = 0;

	if (!ram0) {
		ram0 = malloc(R0_SIZE);
		ram1 = malloc(R1_SIZE);
		gm.nr = 2;
		gm.r[0] = (struct guest_mem_region){ .gpa = 0, .size = R0_SIZE, .hva = ram0 };
		gm.r[1] = (struct guest_mem_region){ .gpa = R1_GPA, .size = R1_SIZE, .hva = ram1,
						     .node = 1 };
	}
	memset(ram0, 0, R0_SIZE);
	memset(ram1, 0, R1_SIZE);
	memset(inflated, 0, sizeof(inflated));
	nr_inflated = 0;
	if (virtio_balloon_parse(&o, "target=256K,stats-interval=1,free-page-reporting=on,"
				 "deflate-on-oom=on") ||
	    virtio_balloon_init(&b, &o, &be, &gm, RAM_END, 0xd0000000, 16, irq, NULL))
		abort();
	b.t.log = NULL;
	while (p < size) {
		uint8_t op = data[p++] % 7;

		switch (op) {
		case 0:
			if (p + 5 <= size) {
				uint32_t v;

				memcpy(&v, data + p + 1, 4);
				w32(&b, (uint64_t)data[p] * 4, v);
			}
			p += 5;
			break;
		case 1:
			if (p < size) {
				uint8_t d[4];

				virtio_mmio_access(&b.t, (uint64_t)data[p] * 4, d, 4, false);
			}
			p += 1;
			break;
		case 2:
			if (p + 3 <= size) {
				size_t off = (size_t)(data[p] | data[p + 1] << 8);
				size_t n = 1 + data[p + 2] % 32;

				p += 3;
				if (n > size - p)
					n = size - p;
				if (off + n <= R0_SIZE)
					memcpy(ram0 + off, data + p, n);
				p += n;
			} else {
				p = size;
			}
			break;
		case 3:
			if (p < size)
				bring_up(&b, data[p]);
			p += 1;
			break;
		case 4:
			if (p < size)
				w32(&b, VIRTIO_MMIO_QUEUE_NOTIFY, data[p] % 5);
			p += 1;
			break;
		case 5:
			virtio_balloon_poll_stats(&b);
			break;
		default:
			if (p + 2 <= size)
				virtio_balloon_set_target(&b, (uint64_t)(data[p] | data[p + 1] << 8) *
							  VIRTIO_BALLOON_PAGE);
			p += 2;
			break;
		}
		virtio_balloon_get_stats(&b, &st);
		ASSERT(st.held >= (uint64_t)nr_inflated * GRANULE);
	}
	virtio_balloon_destroy(&b);
	return 0;
}
