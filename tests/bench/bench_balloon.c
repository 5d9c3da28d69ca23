/*
 * bench_balloon — inflating the virtio-balloon (vmm/virtio_balloon.c over vmm/gmem.c) against
 * giving the same memory back with plain system calls, in the same run.
 *
 *   1. inflate throughput (pages/s): 48 MiB of backed guest RAM (one node, 64 KiB clusters)
 *      handed to the device by a driver played by this thread: PFN arrays in guest RAM, one
 *      chain and one QueueNotify per batch, the device doing exactly what it does for a vCPU's
 *      MMIO exit (copy, sort, bitmap, gmem_balloon per merged run: mremap + hole punch).
 *      Peers: madvise(MADV_DONTNEED) of populated anonymous memory (as the host maps it, THP,
 *      and with 4 KiB pages like memvisor's guest RAM), and fallocate(PUNCH_HOLE) of a
 *      populated memfd, in the same batch-sized ranges.
 *                              target: memvisor/MADV_DONTNEED of 4 KiB pages >= 0.5
 *   2. MMIO exits per MiB inflated: the register accesses the driver needs (QueueNotify, then
 *      for the used-buffer interrupt InterruptStatus and InterruptACK, as Linux's virtio_mmio
 *      handler does), counted, for Linux's batch (256 PFNs: VIRTIO_BALLOON_ARRAY_PFNS_MAX) and
 *      for one page of PFNs (1024) per chain.      target: <= 1 exit per MiB
 *      (Counted on the device model, not measured under KVM: every one of these accesses is one
 *      KVM_EXIT_MMIO on real hardware; the interrupt itself is not an exit with an in-kernel
 *      irqchip.)
 *
 * Rounds alternate memvisor and peers; medians are printed. Between rounds the balloon is
 * deflated (untimed) and the RAM touched again so every round starts from backed memory.
 *
 * Usage: bench_balloon
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include <memvisor/layout.h>

#include "bench.h"
#include "error.h"
#include "gmem.h"
#include "machine.h"
#include "ram.h"
#include "virtio_balloon.h"

#define MIB        (UINT64_C(1) << 20)
#define RAM        (64 * MIB)
#define RING_GPA   UINT64_C(0x100000)     /* desc; avail +0x1000; used +0x2000 */
#define PFN_GPA    UINT64_C(0x200000)     /* PFN arrays */
#define BAL_START  (16 * MIB)             /* what is inflated: [16 MiB, 64 MiB) */
#define BAL_BYTES  (RAM - BAL_START)
#define QSIZE      256
#define ROUNDS     5

static struct machine_config m;
static struct guest_mem gm;
static struct gmem g;
static struct virtio_balloon b;
static uint64_t mmio_accesses;
static uint16_t avail_idx;

static void die_mv(const char *what)
{
	fprintf(stderr, "bench_balloon: %s: %s\n", what, mv_error());
	exit(1);
}

static int be_inflate(void *a, gpa_t gpa, uint64_t len, uint64_t *p) { return gmem_balloon(a, gpa, len, false, p); }
static int be_discard(void *a, gpa_t gpa, uint64_t len, uint64_t *p) { return gmem_balloon(a, gpa, len, true, p); }
static int be_deflate(void *a, gpa_t gpa, uint64_t len, uint64_t *p) { return gmem_deflate(a, gpa, len, p); }

static uint32_t mmio(uint64_t off, uint32_t v, bool write)
{
	uint8_t d[4];

	mmio_accesses++;
	memcpy(d, &v, 4);
	virtio_mmio_access(&b.t, off, d, 4, write);
	memcpy(&v, d, 4);
	return v;
}

static void driver_up(void)
{
	uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	mmio(VIRTIO_MMIO_STATUS, 0, true);
	mmio(VIRTIO_MMIO_STATUS, st, true);
	mmio(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1, true);
	mmio(VIRTIO_MMIO_DRIVER_FEATURES, 1, true);              /* VIRTIO_F_VERSION_1 */
	mmio(VIRTIO_MMIO_STATUS, st |= VIRTIO_CONFIG_S_FEATURES_OK, true);
	for (unsigned q = 0; q < 2; q++) {
		gpa_t base = RING_GPA + q * 0x4000;

		mmio(VIRTIO_MMIO_QUEUE_SEL, q, true);
		mmio(VIRTIO_MMIO_QUEUE_NUM, QSIZE, true);
		mmio(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base, true);
		mmio(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(base + 0x1000), true);
		mmio(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(base + 0x2000), true);
		mmio(VIRTIO_MMIO_QUEUE_READY, 1, true);
	}
	mmio(VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK, true);
	avail_idx = 0;
}

/* One request on queue q of n PFNs from `first`, then the interrupt handling a driver does. */
static void driver_send(unsigned q, uint32_t first, unsigned n)
{
	gpa_t base = RING_GPA + q * 0x4000;
	uint32_t *pfns = guest_mem_ptr(&gm, PFN_GPA, 4 * (uint64_t)n);
	struct vring_desc *d = guest_mem_ptr(&gm, base, 16);
	struct vring_avail *a = guest_mem_ptr(&gm, base + 0x1000, 4 + 2 * QSIZE);

	for (unsigned i = 0; i < n; i++)
		pfns[i] = htole32(first + i);
	*d = (struct vring_desc){ .addr = PFN_GPA, .len = 4 * n };
	a->ring[avail_idx % QSIZE] = 0;
	__atomic_store_n(&a->idx, ++avail_idx, __ATOMIC_RELEASE);
	mmio(VIRTIO_MMIO_QUEUE_NOTIFY, q, true);
	mmio(VIRTIO_MMIO_INTERRUPT_ACK, mmio(VIRTIO_MMIO_INTERRUPT_STATUS, 0, false), true);
}

static void touch(uint8_t *p, uint64_t len)
{
	for (uint64_t o = 0; o < len; o += 4096)
		p[o] = 1;
}

/* Inflate [BAL_START, RAM) in batches; returns ns. Deflates and re-backs after (untimed). */
static uint64_t inflate_round(unsigned batch)
{
	uint32_t first = BAL_START / 4096, pages = BAL_BYTES / 4096;
	uint64_t t0, t;

	t0 = bench_now_ns();
	for (uint32_t p = 0; p < pages; p += batch)
		driver_send(0, first + p, batch);
	t = bench_now_ns() - t0;
	if (b.st.host_inflated == 0)
		die_mv("nothing was ballooned");
	for (uint32_t p = 0; p < pages; p += 1024)
		driver_send(1, first + p, 1024);
	touch(guest_mem_ptr(&gm, BAL_START, BAL_BYTES), BAL_BYTES);
	return t;
}

/*
 * MADV_DONTNEED of populated anonymous memory in batch-sized ranges. huge: as the host gives it
 * (THP `always` here: a 4 MiB range clears two huge-page entries); !huge: MADV_NOHUGEPAGE first,
 * so it is mapped with 4 KiB pages like memvisor's guest RAM (memfd pools; shmem THP is off), the
 * like-for-like peer.
 */
static uint64_t dontneed_round(unsigned batch, bool huge)
{
	uint8_t *p = mmap(NULL, BAL_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t t0, t;

	if (p == MAP_FAILED || (!huge && madvise(p, BAL_BYTES, MADV_NOHUGEPAGE)))
		die_mv("anonymous memory for the MADV_DONTNEED peer");
	touch(p, BAL_BYTES);
	t0 = bench_now_ns();
	for (uint64_t o = 0; o < BAL_BYTES; o += 4096 * (uint64_t)batch)
		madvise(p + o, 4096 * (uint64_t)batch, MADV_DONTNEED);
	t = bench_now_ns() - t0;
	munmap(p, BAL_BYTES);
	return t;
}

static uint64_t punch_round(unsigned batch)
{
	int fd = memfd_create("bench-balloon", 0);
	uint8_t *p;
	uint64_t t0, t;

	if (fd < 0 || ftruncate(fd, (off_t)BAL_BYTES))
		die_mv("memfd");
	p = mmap(NULL, BAL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	touch(p, BAL_BYTES);
	munmap(p, BAL_BYTES);           /* gmem's pools are not mapped where it punches either */
	t0 = bench_now_ns();
	for (uint64_t o = 0; o < BAL_BYTES; o += 4096 * (uint64_t)batch)
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)o,
			  (off_t)(4096 * (uint64_t)batch));
	t = bench_now_ns() - t0;
	close(fd);
	return t;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;

	return a < c ? -1 : a > c;
}

static double median_rate(uint64_t *ns)
{
	qsort(ns, ROUNDS, sizeof(ns[0]), cmp_u64);
	return (double)(BAL_BYTES / 4096) / ((double)ns[ROUNDS / 2] / 1e9);
}

int main(void)
{
	struct virtio_balloon_backend be = { .granule_pages = 16, .inflate = be_inflate,
					     .deflate = be_deflate, .discard = be_discard, .arg = &g };
	struct virtio_balloon_opts o = { .given = true };
	struct gmem_config cfg = { .cluster_pages = 16 };
	static const unsigned batches[] = { 256, 1024 };
	double exits[2];
	int met = 1;   /* the throughput target, for the summary line */

	bench_pin_cpu(0);
	machine_init(&m);
	if (machine_parse_numa(&m, "size=64M") || machine_finish(&m) || ram_create(&m, &gm) ||
	    gmem_create(&g, &m, &gm, &cfg))
		die_mv("machine");
	if (virtio_balloon_init(&b, &o, &be, &gm, m.ram_end, MV_GPA_VIRTIO_BALLOON, MV_GSI_VIRTIO_BALLOON,
				NULL, NULL))
		die_mv("balloon");
	b.t.log = NULL;
	touch(guest_mem_ptr(&gm, 0, RAM), RAM);
	driver_up();

	for (unsigned k = 0; k < 2; k++) {
		uint64_t bal[ROUNDS], dn[ROUNDS], dn4k[ROUNDS], ph[ROUNDS], before;
		char title[128];

		for (unsigned r = 0; r < ROUNDS; r++) {
			before = mmio_accesses;
			bal[r] = inflate_round(batches[k]);
			if (r == 0)
				exits[k] = (double)(mmio_accesses - before -
						    3 * (BAL_BYTES / 4096 / 1024)) /   /* the deflate */
					   (double)(BAL_BYTES / MIB);
			dn[r] = dontneed_round(batches[k], true);
			dn4k[r] = dontneed_round(batches[k], false);
			ph[r] = punch_round(batches[k]);
		}
		snprintf(title, sizeof(title), "inflate 48 MiB, %u PFNs per request (pages/s, "
			 "ratio to MADV_DONTNEED of 4 KiB pages)", batches[k]);
		bench_table_begin(title, "pages/s");
		bench_table_row("MADV_DONTNEED (anonymous, THP)", median_rate(dn), median_rate(dn4k),
				"peer");
		bench_table_row("MADV_DONTNEED (anonymous, 4 KiB)", median_rate(dn4k),
				median_rate(dn4k), "peer");
		bench_table_row("PUNCH_HOLE (memfd, unmapped)", median_rate(ph), median_rate(dn4k),
				"peer");
		bench_table_row("memvisor balloon inflate", median_rate(bal), median_rate(dn4k), "");
		snprintf(title, sizeof(title), "balloon inflate / MADV_DONTNEED of 4 KiB pages, %u "
			 "PFNs per request, >= 0.5", batches[k]);
		met &= bench_target(title, median_rate(bal) / median_rate(dn4k), 0.5, 0);
		printf("  (against THP-backed memory: %.2fx)\n", median_rate(bal) / median_rate(dn));
	}
	printf("MMIO exits per MiB inflated: %.2f (256 PFNs per request), %.2f (1024)\n",
	       exits[0], exits[1]);
	bench_target("MMIO exits per MiB, Linux batch of 256 PFNs", exits[0], 1.0, 1);
	bench_target("MMIO exits per MiB, a page of 1024 PFNs per request", exits[1], 1.0, 1);
	if (gmem_check(&g))
		die_mv("gmem_check after the benchmark");
	virtio_balloon_destroy(&b);
	gmem_destroy(&g);
	ram_destroy(&gm);
	return 0;          /* targets are reported (docs/benchmarks.md), not enforced */
}
