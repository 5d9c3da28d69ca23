/*
 * bench_gmem — the host-side guest memory engine (vmm/gmem.c over vmm/swap.c) against raw
 * userfaultfd and file-I/O peers measured in the same run, with the same CPU pinning.
 *
 *   1. zero-fill fault, cluster_pages = 1: latency of a thread's first write to a fresh guest page
 *      vs a raw userfaultfd round trip whose server answers each MISSING fault with UFFDIO_COPY
 *      of one zero page.                                          target: memvisor/raw <= 1.2
 *   2. fault-around throughput, clusters of 16 and of 512 pages: pages/s of a thread writing one
 *      byte to every page of fresh guest RAM vs a raw server that answers each fault with one
 *      eager UFFDIO_COPY of the 512-page block around it.         target: memvisor/raw >= 0.7
 *      (Both sides have a thread touching every page. Shown for scale, not as the reference:
 *      the same copies done by a loop with no faulting thread, which touches no page.)
 *   3. swap-out throughput, clusters of 16 and 512: gmem_page_out of 64 MiB of mapped guest RAM
 *      vs pwrite of the same bytes in the same chunk sizes to a preallocated file in the same
 *      directory.                                                 target: memvisor/raw >= 0.8
 *   4. swap-in latency, cluster_pages = 1: a write to a swapped-out page vs a raw round trip whose
 *      server preads the page from a file and UFFDIO_COPYs it.    target: memvisor/raw <= 1.2
 *
 * The thread that touches guest RAM plays the vCPU (there is no KVM here); the engine's fault
 * service thread and the raw peers' server thread answer it.
 *
 * Pinning. Every case runs twice: "same CPU" (faulter and server both on CPU 0: a fault is a
 * context switch on one CPU, the setup the host-path measurements recommend) and "split"
 * (faulter on CPU 0, server on CPU 1: a cross-CPU wake-up each way, which is what a vCPU thread
 * and a separate service thread get on an idle host). The engine's threads are started with
 * the creating thread pinned to the server CPU (threads inherit affinity), the raw servers the
 * same way; the faulting / requesting thread is the main thread on CPU 0.
 *
 * Files and page cache. The swap file and the peer's file are in the same directory (argv[1],
 * default: the working directory, i.e. the build tree) so they are on the same file system.
 * Both are preallocated and both are *warm*: every timed write overwrites pages already in the
 * page cache (one untimed warm-up round writes them first), every timed read hits the page
 * cache. Neither side syncs. Cold reads would time the disk, not the engine.
 *
 * Noise. Rounds of memvisor and of its peer alternate, so load from other processes falls on
 * both. Two clocks: wall time (what a vCPU waits; latencies are the median of every fault timed
 * one by one — a clock read is ~0.1 us — throughputs the median of the per-round figures) and
 * CPU time of the whole process, all threads (the median over rounds of the round's mean). CPU
 * time leaves out time spent waiting while other processes run, so its ratios hold on a loaded
 * machine; on an idle one it also leaves out idle waits (cross-CPU wake-ups). Each target is
 * printed for both; the wall line is the target, the CPU line the check.
 *
 * Last, "pieces": the system calls the engine's paths are made of, timed alone on CPU 0, so the
 * tables above can be explained from measurement (docs/benchmarks.md).
 *
 * Usage: bench_gmem [DIR]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <mm/pgtable.h>

#include "bench.h"
#include "error.h"
#include "gmem.h"
#include "ram.h"
#include "swap.h"

#define PAGE            UINT64_C(4096)
#define MIB             (UINT64_C(1) << 20)
#define HUGE_BYTES      (2 * MIB)

#define B1_FAULTS       1024            /* faults per round */
#define B1_ROUNDS       15
#define B2_PAGES        4096            /* 16 MiB touched per round */
#define B2_ROUNDS       11
#define B3_BYTES        (64 * MIB)
#define B3_ROUNDS       9
#define B4_PAGES        1024
#define B4_ROUNDS       15
#define RAW_BLOCK       512             /* pages per UFFDIO_COPY of the fault-around peer */

static const char *dir = ".";
static char swap_path[4096], peer_path[4096];

static void die(const char *what)
{
	fprintf(stderr, "bench_gmem: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void die_mv(const char *what)
{
	fprintf(stderr, "bench_gmem: %s: %s\n", what, mv_error());
	exit(1);
}

/* ---- samples ------------------------------------------------------------------------------ */

struct samples {
	double *v;
	size_t n, cap;
};

static void samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = realloc(s->v, s->cap * sizeof(s->v[0]));
		if (!s->v)
			die("realloc");
	}
	s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The pct-th percentile (0..100) of the samples (sorts them). */
static double samples_pct(struct samples *s, unsigned pct)
{
	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(s->v[0]), cmp_double);
	return s->v[(s->n - 1) * pct / 100];
}

static double samples_median(struct samples *s)
{
	return samples_pct(s, 50);
}

static void samples_free(struct samples *s)
{
	free(s->v);
	*s = (struct samples){ 0 };
}

/* ---- pinning ------------------------------------------------------------------------------ */

struct pinning {
	const char *name;
	int fault_cpu, server_cpu;
};

static const struct pinning pinnings[] = {
	{ "same CPU (faulter and server on CPU 0)", 0, 0 },
	{ "split (faulter on CPU 0, server on CPU 1)", 0, 1 },
};

/* ---- memory helpers ----------------------------------------------------------------------- */

/* An anonymous, unpopulated mapping of size bytes aligned to align (a power of two). */
static uint8_t *map_aligned(uint64_t size, uint64_t align)
{
	uint8_t *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *a;

	if (p == MAP_FAILED)
		die("mmap");
	a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + size, (size_t)(p + align - a));
	return a;
}

/* Write one byte to each of n pages from base, timing each write in ns. */
static void touch_timed(uint8_t *base, uint64_t n, struct samples *s)
{
	for (uint64_t i = 0; i < n; i++) {
		volatile uint8_t *p = base + i * PAGE + 8;
		uint64_t t0 = bench_now_ns();

		*p = 1;
		samples_add(s, (double)(bench_now_ns() - t0));
	}
}

/* Write one byte to each of n pages from base; returns the ns it all took. */
static uint64_t touch_all(uint8_t *base, uint64_t n)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++)
		((volatile uint8_t *)base)[i * PAGE + 8] = 1;
	return bench_now_ns() - t0;
}

/* CPU time of every thread of this process (faulter, servers, the engine's threads), in ns. */
static uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int userfaultfd_open(int flags, uint64_t features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | flags);

	if (fd < 0)
		die("userfaultfd (needs root or vm.unprivileged_userfaultfd=1)");
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		die("UFFDIO_API");
	return fd;
}

static void uffd_register(int uffd, void *p, uint64_t len)
{
	struct uffdio_register reg = { .range = { .start = (uint64_t)(uintptr_t)p, .len = len },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };

	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		die("UFFDIO_REGISTER");
}

/* ---- the engine under test ---------------------------------------------------------------- */

struct engine {
	struct machine_config m;
	struct guest_mem gm;
	struct gmem g;
	struct swap_dev sw;
	bool has_swap;
	uint8_t *ram;           /* the one RAM region's host mapping, gpa 0 */
};

static void engine_fatal(void *arg)
{
	(void)arg;
	fprintf(stderr, "bench_gmem: guest memory service failed: %s\n", mv_error());
	_exit(1);
}

/* One node of size bytes (budget = size: no reclaim), clusters of cp pages, optional swap. */
static void engine_up(struct engine *e, uint64_t size, unsigned cp, uint64_t swap_size,
		      const struct pinning *pin)
{
	struct gmem_config cfg = { .cluster_pages = cp };
	char spec[64];

	memset(e, 0, sizeof(*e));
	machine_init(&e->m);
	snprintf(spec, sizeof(spec), "size=%" PRIu64 "M", size / MIB);
	if (machine_parse_numa(&e->m, spec) || machine_finish(&e->m))
		die_mv("machine");
	if (ram_create(&e->m, &e->gm))
		die_mv("ram_create");
	if (e->gm.nr != 1 || e->gm.r[0].gpa != 0)
		die("unexpected RAM layout");
	if (swap_size) {
		if (swap_open(&e->sw, swap_path, swap_size, cp))
			die_mv("swap_open");
		e->has_swap = true;
		cfg.swap = &e->sw;
	}
	bench_pin_cpu(pin->server_cpu);         /* the engine's threads inherit this */
	if (gmem_create(&e->g, &e->m, &e->gm, &cfg))
		die_mv("gmem_create");
	bench_pin_cpu(pin->fault_cpu);
	gmem_set_fatal_handler(&e->g, engine_fatal, NULL);
	e->ram = e->gm.r[0].hva;
}

/* Check the engine's books agree (a benchmark of a broken engine would mean nothing). */
static void engine_down(struct engine *e)
{
	if (gmem_check(&e->g))
		die_mv("gmem_check after the benchmark");
	gmem_destroy(&e->g);
	if (e->has_swap) {
		swap_close(&e->sw);
		unlink(swap_path);
	}
	ram_destroy(&e->gm);
}

/* ---- the raw userfaultfd peer ------------------------------------------------------------- */

/*
 * A registered anonymous area and one server thread that answers each MISSING fault with one
 * UFFDIO_COPY (which also wakes the faulter) of the block_pages-aligned block around it: zeros,
 * or (file_fd >= 0, block_pages 1) the area's page read from file_fd with pread. The server
 * reads the userfaultfd with a blocking read() — the cheapest way to wait — or, with use_poll,
 * with poll() then a non-blocking read() as gmem's reader does. The block after the area is the
 * stop block: touching it ends the server.
 */
struct raw {
	int uffd;
	uint8_t *area;
	uint64_t size;
	unsigned block_pages;
	bool use_poll;
	int file_fd;
	uint8_t *zero;          /* block_pages zero-filled pages */
	uint8_t *buf;           /* one page for pread */
	pthread_t th;
};

static void *raw_server(void *arg)
{
	struct raw *r = arg;
	uint64_t block = r->block_pages * PAGE;
	struct uffd_msg msg[16];

	for (;;) {
		ssize_t n;

		if (r->use_poll) {
			struct pollfd pfd = { .fd = r->uffd, .events = POLLIN };

			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				die("raw server: poll");
		}
		n = read(r->uffd, msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("raw server: read");
		}
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
			uint64_t addr, off;
			struct uffdio_copy c;
			bool last;

			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			addr = msg[i].arg.pagefault.address & ~(block - 1);
			off = addr - (uint64_t)(uintptr_t)r->area;
			last = off >= r->size;
			c = (struct uffdio_copy){ .dst = addr, .src = (uint64_t)(uintptr_t)r->zero,
						  .len = block };
			if (!last && r->file_fd >= 0) {
				if (pread(r->file_fd, r->buf, PAGE, (off_t)off) != (ssize_t)PAGE)
					die("raw server: pread");
				c.src = (uint64_t)(uintptr_t)r->buf;
			}
			if (ioctl(r->uffd, UFFDIO_COPY, &c) < 0) {
				struct uffdio_range w = { .start = addr, .len = block };

				if (errno != EEXIST)
					die("raw server: UFFDIO_COPY");
				ioctl(r->uffd, UFFDIO_WAKE, &w);
			}
			if (last)
				return NULL;
		}
	}
}

static void raw_up(struct raw *r, uint64_t size, unsigned block_pages, bool use_poll, int file_fd,
		   const struct pinning *pin)
{
	uint64_t block = block_pages * PAGE;

	memset(r, 0, sizeof(*r));
	r->size = size;
	r->block_pages = block_pages;
	r->use_poll = use_poll;
	r->file_fd = file_fd;
	r->uffd = userfaultfd_open(use_poll ? O_NONBLOCK : 0, 0);
	r->area = map_aligned(size + block, HUGE_BYTES);
	uffd_register(r->uffd, r->area, size + block);
	r->zero = aligned_alloc(PAGE, block);
	r->buf = aligned_alloc(PAGE, PAGE);
	if (!r->zero || !r->buf)
		die("aligned_alloc");
	memset(r->zero, 0, block);
	memset(r->buf, 0, PAGE);
	bench_pin_cpu(pin->server_cpu);         /* the server inherits this, like gmem's */
	if (pthread_create(&r->th, NULL, raw_server, r))
		die("pthread_create");
	bench_pin_cpu(pin->fault_cpu);
}

static void raw_down(struct raw *r)
{
	((volatile uint8_t *)r->area)[r->size] = 1;     /* the stop block */
	pthread_join(r->th, NULL);
	munmap(r->area, r->size + r->block_pages * PAGE);
	close(r->uffd);
	free(r->zero);
	free(r->buf);
}


/*
 * What one side of a comparison measured: wall-clock ns per operation (one sample per fault for
 * latencies, per round for throughputs) and CPU ns per operation of the whole process, all threads
 * (one sample per round). The CPU figure does not count time spent waiting while other processes
 * run, so it survives a loaded machine; the wall figure is what a vCPU would see.
 */
struct side {
	struct samples wall, cpu;
};

static void side_free(struct side *sd)
{
	samples_free(&sd->wall);
	samples_free(&sd->cpu);
}

/* "p10 a, p90 b" of the wall samples, in us. */
static const char *spread(struct side *sd, char *buf, size_t len)
{
	snprintf(buf, len, "p10 %.1f, p90 %.1f", samples_pct(&sd->wall, 10) / 1e3,
		 samples_pct(&sd->wall, 90) / 1e3);
	return buf;
}

/* Latency rows (us per op) for sides[0] (the reference) .. sides[n-1], wall then CPU. */
static void latency_rows(struct side *sides, const char *const *names, unsigned n)
{
	double ref_wall = samples_median(&sides[0].wall) / 1e3;
	double ref_cpu = samples_median(&sides[0].cpu) / 1e3;
	char note[64], name[96];

	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s, wall", names[i]);
		bench_table_row(name, samples_median(&sides[i].wall) / 1e3, ref_wall,
				spread(&sides[i], note, sizeof(note)));
	}
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s, CPU", names[i]);
		bench_table_row(name, samples_median(&sides[i].cpu) / 1e3, ref_cpu,
				"all threads of the process");
	}
}

/* Target lines on the wall ratio (the target) and on the CPU ratio (the load-proof check). */
static void targets(const char *what, const struct pinning *pin, double wall_ratio,
		    double cpu_ratio, double limit, int lower_is_better)
{
	char line[256];

	snprintf(line, sizeof(line), "%s, %s, wall", what, pin->name);
	bench_target(line, wall_ratio, limit, lower_is_better);
	snprintf(line, sizeof(line), "%s, %s, CPU time", what, pin->name);
	bench_target(line, cpu_ratio, limit, lower_is_better);
}

/* Touch n fresh pages from base, one wall sample per fault, one CPU sample for the round. */
static void fault_round(uint8_t *base, uint64_t n, struct side *sd, bool keep)
{
	struct side junk;
	uint64_t c0;

	memset(&junk, 0, sizeof(junk));
	c0 = cpu_now_ns();

	touch_timed(base, n, keep ? &sd->wall : &junk.wall);
	samples_add(keep ? &sd->cpu : &junk.cpu, (double)(cpu_now_ns() - c0) / (double)n);
	side_free(&junk);
}

/* ---- 1. zero-fill fault latency -------------------------------------------------------------- */

static void bench_zero_fault(const struct pinning *pin)
{
	static const char *const names[] = { "raw: read() + UFFDIO_COPY of 1 zero page",
					     "raw: poll() + read() + UFFDIO_COPY",
					     "memvisor gmem zero-fill fault" };
	uint64_t size = ((uint64_t)(B1_ROUNDS + 1) * B1_FAULTS * PAGE + MIB - 1) & ~(MIB - 1);
	struct side sd[3];
	struct engine e;
	struct raw raw, rpoll;

	memset(sd, 0, sizeof(sd));
	engine_up(&e, size, 1, 0, pin);
	raw_up(&raw, size, 1, false, -1, pin);
	raw_up(&rpoll, size, 1, true, -1, pin);
	for (int round = 0; round <= B1_ROUNDS; round++) {     /* round 0 warms up */
		uint64_t off = (uint64_t)round * B1_FAULTS * PAGE;

		fault_round(raw.area + off, B1_FAULTS, &sd[0], round);
		fault_round(rpoll.area + off, B1_FAULTS, &sd[1], round);
		fault_round(e.ram + off, B1_FAULTS, &sd[2], round);
	}
	raw_down(&raw);
	raw_down(&rpoll);
	engine_down(&e);

	printf("\n1. zero-fill fault, cluster_pages = 1, %s: wall = median of %d faults timed one by "
	       "one, CPU = median of %d rounds\n", pin->name, B1_ROUNDS * B1_FAULTS, B1_ROUNDS);
	bench_table_begin("zero-fill fault latency (ratio: to raw read() + UFFDIO_COPY)", "us/fault");
	latency_rows(sd, names, 3);
	targets("memvisor/raw zero-fill fault <= 1.2x", pin,
		samples_median(&sd[2].wall) / samples_median(&sd[0].wall),
		samples_median(&sd[2].cpu) / samples_median(&sd[0].cpu), 1.2, 1);
	for (unsigned i = 0; i < 3; i++)
		side_free(&sd[i]);
}

/* ---- 2. fault-around throughput ------------------------------------------------------------ */

/* The no-fault reference: this thread UFFDIO_COPYs 512 zero pages per call over fresh memory. */
static void eager_copy(int uffd, uint8_t *at, const uint8_t *zero, uint64_t pages)
{
	for (uint64_t p = 0; p < pages; p += RAW_BLOCK) {
		struct uffdio_copy c = { .dst = (uint64_t)(uintptr_t)(at + p * PAGE),
					 .src = (uint64_t)(uintptr_t)zero,
					 .len = RAW_BLOCK * PAGE, .mode = UFFDIO_COPY_MODE_DONTWAKE };

		if (ioctl(uffd, UFFDIO_COPY, &c) < 0)
			die("eager UFFDIO_COPY");
	}
}

/* One throughput round: wall and CPU ns per page of touching n pages (or eager-copying them). */
static void throughput_round(uint8_t *base, uint64_t n, struct side *sd, bool keep, int eager_uffd,
			     const uint8_t *zero)
{
	uint64_t c0 = cpu_now_ns(), t0 = bench_now_ns(), t1, c1;

	if (eager_uffd >= 0)
		eager_copy(eager_uffd, base, zero, n);
	else
		touch_all(base, n);
	t1 = bench_now_ns();
	c1 = cpu_now_ns();
	if (keep) {
		samples_add(&sd->wall, (double)(t1 - t0) / (double)n);
		samples_add(&sd->cpu, (double)(c1 - c0) / (double)n);
	}
}

static void bench_fault_around(const struct pinning *pin)
{
	static const char *const names[] = { "raw: UFFDIO_COPY of the 512-page block",
					     "raw: UFFDIO_COPY of the 16-page block",
					     "raw: eager UFFDIO_COPY 512/call, no faults",
					     "memvisor gmem, cluster 16 (default)",
					     "memvisor gmem, cluster 512" };
	uint64_t size = (uint64_t)(B2_ROUNDS + 1) * B2_PAGES * PAGE;
	struct side sd[5];
	struct engine e16, e512;
	struct raw raw, raw16;
	int euffd = userfaultfd_open(0, 0);
	uint8_t *earea = map_aligned(size, HUGE_BYTES);
	uint8_t *ezero = aligned_alloc(PAGE, RAW_BLOCK * PAGE);
	double ref_wall, ref_cpu;
	char name[96], note[64];

	if (!ezero)
		die("aligned_alloc");
	memset(sd, 0, sizeof(sd));
	memset(ezero, 0, RAW_BLOCK * PAGE);
	uffd_register(euffd, earea, size);
	engine_up(&e16, size, 16, 0, pin);
	engine_up(&e512, size, 512, 0, pin);
	raw_up(&raw, size, RAW_BLOCK, false, -1, pin);
	raw_up(&raw16, size, 16, false, -1, pin);
	for (int round = 0; round <= B2_ROUNDS; round++) {
		uint64_t off = (uint64_t)round * B2_PAGES * PAGE;

		throughput_round(raw.area + off, B2_PAGES, &sd[0], round, -1, NULL);
		throughput_round(raw16.area + off, B2_PAGES, &sd[1], round, -1, NULL);
		throughput_round(earea + off, B2_PAGES, &sd[2], round, euffd, ezero);
		throughput_round(e16.ram + off, B2_PAGES, &sd[3], round, -1, NULL);
		throughput_round(e512.ram + off, B2_PAGES, &sd[4], round, -1, NULL);
	}
	raw_down(&raw);
	raw_down(&raw16);
	engine_down(&e16);
	engine_down(&e512);
	munmap(earea, size);
	close(euffd);
	free(ezero);

	printf("\n2. fault-around: one thread writes a byte to each of %d fresh pages per round, %s: "
	       "median of %d rounds\n", B2_PAGES, pin->name, B2_ROUNDS);
	bench_table_begin("fault-around throughput (ratio: to raw 512-page UFFDIO_COPY per fault)",
			  "kpages/s");
	ref_wall = 1e6 / samples_median(&sd[0].wall);
	ref_cpu = 1e6 / samples_median(&sd[0].cpu);
	for (unsigned i = 0; i < 5; i++) {
		double v = 1e6 / samples_median(&sd[i].wall);

		snprintf(name, sizeof(name), "%s, wall", names[i]);
		snprintf(note, sizeof(note), "%.2f us/page", 1e3 / v);
		bench_table_row(name, v, ref_wall, note);
	}
	for (unsigned i = 0; i < 5; i++) {
		double v = 1e6 / samples_median(&sd[i].cpu);

		snprintf(name, sizeof(name), "%s, CPU", names[i]);
		snprintf(note, sizeof(note), "%.2f us/page", 1e3 / v);
		bench_table_row(name, v, ref_cpu, note);
	}
	for (unsigned i = 3; i < 5; i++) {
		snprintf(name, sizeof(name), "memvisor/raw fault-around pages/s, cluster %d, >= 0.7x",
			 i == 3 ? 16 : 512);
		targets(name, pin, samples_median(&sd[0].wall) / samples_median(&sd[i].wall),
			samples_median(&sd[0].cpu) / samples_median(&sd[i].cpu), 0.7, 0);
	}
	for (unsigned i = 0; i < 5; i++)
		side_free(&sd[i]);
}

/* ---- 3. swap-out throughput ---------------------------------------------------------------- */

/* A preallocated file of size bytes at path, opened read-write. */
static int file_prealloc(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		die(path);
	if (posix_fallocate(fd, 0, (off_t)size))
		die("posix_fallocate");
	return fd;
}

static void bench_swap_out(const struct pinning *pin)
{
	static const unsigned cps[] = { 16, 512 };
	struct side mv[2], raw[2];
	uint64_t events[2], clusters[2];
	uint8_t *buf = malloc(B3_BYTES);
	char name[96], note[96];

	if (!buf)
		die("malloc");
	memset(mv, 0, sizeof(mv));
	memset(raw, 0, sizeof(raw));
	memset(buf, 0x5a, B3_BYTES);
	for (unsigned k = 0; k < 2; k++) {
		uint64_t chunk = cps[k] * PAGE;
		int fd = file_prealloc(peer_path, B3_BYTES);
		struct gmem_stats st0, st1;
		struct engine e;

		/* swap exactly as large as RAM: every round rewrites the same, warm, file pages */
		engine_up(&e, B3_BYTES, cps[k], B3_BYTES, pin);
		for (int round = 0; round <= B3_ROUNDS; round++) {
			uint64_t pages = 0, t0, c0;

			touch_all(e.ram, B3_BYTES / PAGE);      /* map it all (swap-ins after round 0) */
			if (round == 1)
				gmem_get_stats(&e.g, &st0);
			c0 = cpu_now_ns();
			t0 = bench_now_ns();
			if (gmem_page_out(&e.g, 0, B3_BYTES, &pages))
				die_mv("gmem_page_out");
			if (round) {
				samples_add(&mv[k].wall, (double)(bench_now_ns() - t0) / B3_BYTES * MIB);
				samples_add(&mv[k].cpu, (double)(cpu_now_ns() - c0) / B3_BYTES * MIB);
			}
			if (round == B3_ROUNDS)
				gmem_get_stats(&e.g, &st1);
			if (pages != B3_BYTES / PAGE)
				die("gmem_page_out paged out a part only");
			c0 = cpu_now_ns();
			t0 = bench_now_ns();
			for (uint64_t off = 0; off < B3_BYTES; off += chunk)
				if (pwrite(fd, buf + off, chunk, (off_t)off) != (ssize_t)chunk)
					die("peer pwrite");
			if (round) {
				samples_add(&raw[k].wall, (double)(bench_now_ns() - t0) / B3_BYTES * MIB);
				samples_add(&raw[k].cpu, (double)(cpu_now_ns() - c0) / B3_BYTES * MIB);
			}
		}
		events[k] = st1.uffd_events - st0.uffd_events;
		clusters[k] = st1.node[0].swap_outs - st0.node[0].swap_outs;
		engine_down(&e);
		close(fd);
		unlink(peer_path);
	}
	free(buf);
	printf("\n3. swap-out of %" PRIu64 " MiB, warm page cache, %s: median of %d rounds\n",
	       B3_BYTES / MIB, pin->name, B3_ROUNDS);
	bench_table_begin("swap-out throughput (ratio: to raw pwrite of the same chunks)", "MiB/s");
	for (unsigned k = 0; k < 2; k++) {
		double rw = 1e9 / samples_median(&raw[k].wall), v = 1e9 / samples_median(&mv[k].wall);
		double us_chunk = (double)(cps[k] * PAGE) / MIB * 1e6;

		snprintf(name, sizeof(name), "raw: pwrite %u KiB chunks, wall", cps[k] * 4);
		snprintf(note, sizeof(note), "%.1f us/chunk", us_chunk / rw);
		bench_table_row(name, rw, rw, note);
		snprintf(name, sizeof(name), "memvisor gmem_page_out, cluster %u, wall", cps[k]);
		snprintf(note, sizeof(note), "%.1f us/cluster; %.2f uffd events/cluster", us_chunk / v,
			 (double)events[k] / (double)clusters[k]);
		bench_table_row(name, v, rw, note);
	}
	for (unsigned k = 0; k < 2; k++) {
		double rw = 1e9 / samples_median(&raw[k].cpu), v = 1e9 / samples_median(&mv[k].cpu);
		double us_chunk = (double)(cps[k] * PAGE) / MIB * 1e6;

		snprintf(name, sizeof(name), "raw: pwrite %u KiB chunks, CPU", cps[k] * 4);
		snprintf(note, sizeof(note), "%.1f us/chunk", us_chunk / rw);
		bench_table_row(name, rw, rw, note);
		snprintf(name, sizeof(name), "memvisor gmem_page_out, cluster %u, CPU", cps[k]);
		snprintf(note, sizeof(note), "%.1f us/cluster", us_chunk / v);
		bench_table_row(name, v, rw, note);
	}
	for (unsigned k = 0; k < 2; k++) {
		snprintf(name, sizeof(name), "memvisor/raw swap-out MiB/s, cluster %u, >= 0.8x", cps[k]);
		targets(name, pin, samples_median(&raw[k].wall) / samples_median(&mv[k].wall),
			samples_median(&raw[k].cpu) / samples_median(&mv[k].cpu), 0.8, 0);
		side_free(&mv[k]);
		side_free(&raw[k]);
	}
}

/* ---- 4. swap-in latency ------------------------------------------------------------------- */

static void bench_swap_in(const struct pinning *pin)
{
	static const char *const names[] = { "raw: read() + pread + UFFDIO_COPY",
					     "memvisor gmem swap-in fault" };
	struct side sd[2];
	uint8_t *page = aligned_alloc(PAGE, PAGE);
	int fd = open(peer_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct engine e;
	struct raw raw;

	if (fd < 0 || !page)
		die(peer_path);
	memset(sd, 0, sizeof(sd));
	/* The peer's file: page i holds i, written and read once so it is in the page cache. */
	for (uint64_t i = 0; i < B4_PAGES; i++) {
		memset(page, 0, PAGE);
		memcpy(page, &i, sizeof(i));
		if (pwrite(fd, page, PAGE, (off_t)(i * PAGE)) != (ssize_t)PAGE)
			die("pwrite");
	}
	for (uint64_t i = 0; i < B4_PAGES; i++)
		if (pread(fd, page, PAGE, (off_t)(i * PAGE)) != (ssize_t)PAGE)
			die("pread");
	/* Swap exactly as large as the pages paged out: every round reuses the same, warm, slots. */
	engine_up(&e, 64 * MIB, 1, B4_PAGES * PAGE, pin);
	raw_up(&raw, B4_PAGES * PAGE, 1, false, fd, pin);
	for (int round = 0; round <= B4_ROUNDS; round++) {
		uint64_t pages;

		for (uint64_t i = 0; i < B4_PAGES; i++)
			memcpy(e.ram + i * PAGE, &(uint64_t){ i + (uint64_t)round }, sizeof(uint64_t));
		if (gmem_page_out(&e.g, 0, B4_PAGES * PAGE, &pages) || pages != B4_PAGES)
			die_mv("gmem_page_out");
		if (madvise(raw.area, B4_PAGES * PAGE, MADV_DONTNEED))
			die("madvise");
		fault_round(raw.area, B4_PAGES, &sd[0], round);
		fault_round(e.ram, B4_PAGES, &sd[1], round);
		for (uint64_t i = 0; i < B4_PAGES; i++) {
			uint64_t got_mv, got_raw;

			memcpy(&got_mv, e.ram + i * PAGE, sizeof(got_mv));
			memcpy(&got_raw, raw.area + i * PAGE, sizeof(got_raw));
			if (got_mv != i + (uint64_t)round || got_raw != i)
				die("swapped-in data differs from what was written");
		}
	}
	raw_down(&raw);
	engine_down(&e);
	close(fd);
	unlink(peer_path);
	free(page);

	printf("\n4. swap-in fault, cluster_pages = 1, warm page cache, %s: wall = median of %d faults "
	       "timed one by one, CPU = median of %d rounds\n", pin->name, B4_ROUNDS * B4_PAGES,
	       B4_ROUNDS);
	bench_table_begin("swap-in fault latency (ratio: to raw read() + pread + UFFDIO_COPY)",
			  "us/fault");
	latency_rows(sd, names, 2);
	targets("memvisor/raw swap-in fault <= 1.2x", pin,
		samples_median(&sd[1].wall) / samples_median(&sd[0].wall),
		samples_median(&sd[1].cpu) / samples_median(&sd[0].cpu), 1.2, 1);
	side_free(&sd[0]);
	side_free(&sd[1]);
}

/* ---- pieces ------------------------------------------------------------------------------- */

#define PIECE_REPS      2000
#define PIECE_MEMFD     (4 * MIB)

static uint8_t *piece_target;           /* 2 MiB of anonymous memory that pieces map over */
static int piece_memfd;
static uint8_t *piece_view;             /* the whole memfd, MAP_SHARED, like a pool's view */

static void piece_row(const char *name, struct samples *s, const char *note)
{
	bench_table_row(name, samples_median(s) / 1e3, 0, note);
	samples_free(s);
}

static void target_reset(uint64_t len)
{
	if (mmap(piece_target, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		die("mmap anon");
}

static void target_map_memfd(uint64_t len, int flags)
{
	if (mmap(piece_target, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | flags,
		 piece_memfd, 0) == MAP_FAILED)
		die("mmap memfd");
}

static void memfd_punch(uint64_t off, uint64_t len)
{
	if (fallocate(piece_memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len))
		die("fallocate punch");
}

/* The userfaultfd calls alone, no fault pending: what a fault's service adds to its round trip. */
static void pieces_uffd(void)
{
	struct samples s = { 0 };
	int uffd = userfaultfd_open(0, 0);
	uint8_t *area = map_aligned(PIECE_REPS * PAGE, HUGE_BYTES);
	uint8_t *zero = aligned_alloc(PAGE, PAGE);

	if (!zero)
		die("aligned_alloc");
	memset(zero, 0, PAGE);
	uffd_register(uffd, area, PIECE_REPS * PAGE);
	for (unsigned i = 0; i < PIECE_REPS; i++) {
		struct uffdio_range r = { .start = (uint64_t)(uintptr_t)area, .len = PAGE };
		uint64_t t0 = bench_now_ns();

		if (ioctl(uffd, UFFDIO_WAKE, &r) < 0)
			die("UFFDIO_WAKE");
		samples_add(&s, (double)(bench_now_ns() - t0));
	}
	piece_row("UFFDIO_WAKE, 1 page, nobody waiting", &s, "gmem: every fault");
	for (unsigned i = 0; i < PIECE_REPS; i++) {
		struct uffdio_copy c = { .dst = (uint64_t)(uintptr_t)(area + i * PAGE),
					 .src = (uint64_t)(uintptr_t)zero, .len = PAGE,
					 .mode = UFFDIO_COPY_MODE_DONTWAKE };
		uint64_t t0 = bench_now_ns();

		if (ioctl(uffd, UFFDIO_COPY, &c) < 0)
			die("UFFDIO_COPY");
		samples_add(&s, (double)(bench_now_ns() - t0));
	}
	piece_row("UFFDIO_COPY, 1 fresh page, nobody waiting", &s, "raw peer: every fault");
	munmap(area, PIECE_REPS * PAGE);
	close(uffd);
	free(zero);
}

/* mmap of pool frames over the faulting cluster, and the faults that follow it. */
static void pieces_map(void)
{
	static const unsigned ns[] = { 1, 16, 512 };
	struct samples s = { 0 };
	char name[96];

	for (unsigned k = 0; k < 3; k++) {
		unsigned reps = ns[k] == 512 ? PIECE_REPS / 4 : PIECE_REPS;

		for (unsigned i = 0; i < reps; i++) {
			uint64_t t0 = bench_now_ns();

			target_map_memfd(ns[k] * PAGE, 0);
			samples_add(&s, (double)(bench_now_ns() - t0));
			target_reset(ns[k] * PAGE);
		}
		snprintf(name, sizeof(name), "mmap MAP_FIXED|MAP_SHARED memfd, %u pages", ns[k]);
		piece_row(name, &s, ns[k] == 1 ? "gmem: every fault (per call)" : "per call");
	}
	/* first write to a page that is a hole in the memfd: shmem allocates and zeroes it */
	for (unsigned r = 0; r < 8; r++) {
		target_map_memfd(512 * PAGE, 0);
		touch_timed(piece_target, 512, &s);
		target_reset(512 * PAGE);
		memfd_punch(0, 512 * PAGE);
	}
	piece_row("write fault, memfd hole (shmem allocates)", &s, "gmem zero-fill: every page");
	/* a page already in the memfd (swap-in read it there), mapped one page at a time */
	memset(piece_view, 1, 512 * PAGE);
	for (unsigned r = 0; r < 4; r++)
		for (unsigned i = 0; i < 512; i++) {
			volatile uint8_t *p = piece_target;
			uint64_t t0;

			if (mmap(piece_target, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				 piece_memfd, (off_t)(i * PAGE)) == MAP_FAILED)
				die("mmap memfd page");
			t0 = bench_now_ns();
			*p = 2;
			samples_add(&s, (double)(bench_now_ns() - t0));
		}
	target_reset(PAGE);
	piece_row("write fault, memfd page in page cache", &s, "gmem swap-in: the faulter's retry");
	memfd_punch(0, 512 * PAGE);
	/* the fix candidate: the server populates the cluster while mapping it */
	for (unsigned k = 1; k < 3; k++) {
		for (int populate = 0; populate < 3; populate++) {
			static const char *const how[] = { "", " MAP_POPULATE", " +MADV_POPULATE_WRITE" };
			unsigned reps = ns[k] == 512 ? 64 : 512;

			for (unsigned i = 0; i < reps; i++) {
				uint64_t t0 = bench_now_ns();

				target_map_memfd(ns[k] * PAGE, populate == 1 ? MAP_POPULATE : 0);
				if (populate == 2 &&
				    madvise(piece_target, ns[k] * PAGE, MADV_POPULATE_WRITE))
					die("MADV_POPULATE_WRITE");
				touch_all(piece_target, ns[k]);
				samples_add(&s, (double)(bench_now_ns() - t0) / ns[k]);
				target_reset(ns[k] * PAGE);
				memfd_punch(0, ns[k] * PAGE);
			}
			snprintf(name, sizeof(name), "mmap%s %u holes + write each, per page",
				 how[populate], ns[k]);
			piece_row(name, &s, populate ? "fix candidate: populate in the server"
					    : "gmem today");
		}
	}
}

/* Swap I/O and frame release as gmem does them. */
static void pieces_io(void)
{
	static const unsigned ns[] = { 1, 16, 32, 34, 512 };
	struct samples s = { 0 };
	uint8_t *buf = aligned_alloc(PAGE, PAGE), *big = aligned_alloc(PAGE, 512 * PAGE);
	int fd = open(peer_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char name[96];

	if (fd < 0 || !buf || !big)
		die(peer_path);
	memset(big, 5, 512 * PAGE);
	memset(buf, 3, PAGE);
	for (uint64_t i = 0; i < 256; i++)
		if (pwrite(fd, buf, PAGE, (off_t)(i * PAGE)) != (ssize_t)PAGE)
			die("pwrite");
	for (unsigned i = 0; i < PIECE_REPS; i++) {
		uint64_t t0 = bench_now_ns();

		if (pread(fd, buf, PAGE, (off_t)(i % 256 * PAGE)) != (ssize_t)PAGE)
			die("pread");
		samples_add(&s, (double)(bench_now_ns() - t0));
	}
	piece_row("pread 4 KiB, warm, into a populated buffer", &s, "raw peer: every swap-in");
	for (unsigned i = 0; i < PIECE_REPS; i++) {
		uint64_t off = i % 256 * PAGE, t0;

		memfd_punch(off, PAGE);
		t0 = bench_now_ns();
		if (pread(fd, piece_view + off, PAGE, (off_t)off) != (ssize_t)PAGE)
			die("pread");
		samples_add(&s, (double)(bench_now_ns() - t0));
	}
	piece_row("pread 4 KiB, warm, into a punched memfd page", &s, "gmem: every swap-in");
	for (unsigned i = 0; i < PIECE_REPS; i++) {
		uint64_t off = i % 256 * PAGE, t0;

		memfd_punch(off, PAGE);
		t0 = bench_now_ns();
		if (pread(fd, buf, PAGE, (off_t)off) != (ssize_t)PAGE ||
		    pwrite(piece_memfd, buf, PAGE, (off_t)off) != (ssize_t)PAGE)
			die("pread + pwrite");
		samples_add(&s, (double)(bench_now_ns() - t0));
	}
	piece_row("pread 4 KiB + pwrite it into the memfd hole", &s,
		  "fix candidate: swap-in through the fd");
	/* Tearing down populated PTEs is what costs: 1..34 pages shows how it scales (Linux
	 * invalidates page by page up to tlb_single_page_flush_ceiling = 33, then flushes all). */
	for (unsigned k = 0; k < 5; k++) {
		unsigned reps = ns[k] == 512 ? 200 : PIECE_REPS / 4;

		for (unsigned i = 0; i < reps; i++) {
			uint64_t t0;

			memset(piece_view, 4, ns[k] * PAGE);
			t0 = bench_now_ns();
			memfd_punch(0, ns[k] * PAGE);
			samples_add(&s, (double)(bench_now_ns() - t0));
		}
		snprintf(name, sizeof(name), "fallocate PUNCH_HOLE, %u pages mapped in a view", ns[k]);
		piece_row(name, &s, ns[k] == 16 || ns[k] == 512 ? "gmem: every swap-out (frames_release)"
				    : "how it scales");
		if (ns[k] != 16 && ns[k] != 512)
			continue;
		for (unsigned i = 0; i < reps; i++) {
			uint64_t t0;

			if (pwrite(piece_memfd, big, ns[k] * PAGE, 0) != (ssize_t)(ns[k] * PAGE))
				die("pwrite memfd");
			t0 = bench_now_ns();
			memfd_punch(0, ns[k] * PAGE);
			samples_add(&s, (double)(bench_now_ns() - t0));
		}
		snprintf(name, sizeof(name), "fallocate PUNCH_HOLE, %u pages mapped nowhere", ns[k]);
		piece_row(name, &s, "fix candidate: no view mapping of the frames");
	}
	for (int via_fd = 0; via_fd < 2; via_fd++) {
		for (unsigned i = 0; i < PIECE_REPS / 4; i++) {
			uint64_t t0;

			if (pwrite(piece_memfd, big, 16 * PAGE, 0) != (ssize_t)(16 * PAGE))
				die("pwrite memfd");
			t0 = bench_now_ns();
			if (via_fd ? pread(piece_memfd, big, 16 * PAGE, 0) != (ssize_t)(16 * PAGE) ||
				     pwrite(fd, big, 16 * PAGE, 0) != (ssize_t)(16 * PAGE)
				   : pwrite(fd, piece_view, 16 * PAGE, 0) != (ssize_t)(16 * PAGE))
				die("swap-out write");
			samples_add(&s, (double)(bench_now_ns() - t0));
			memfd_punch(0, 16 * PAGE);
		}
		piece_row(via_fd ? "pread memfd + pwrite file, 16 pages, bounce buffer"
				 : "pwrite file from the memfd view, 16 pages not mapped in it", &s,
			  via_fd ? "fix candidate: swap-out through the fd"
				 : "gmem: first swap-out of a zero-filled cluster");
	}
	close(fd);
	unlink(peer_path);
	free(buf);
	free(big);
}

static int s2_alloc(void *arg, phys_addr_t *table)
{
	void *p = aligned_alloc(PAGE, PAGE);

	(void)arg;
	if (!p)
		return -MM_ENOMEM;
	memset(p, 0, PAGE);
	*table = (phys_addr_t)(uintptr_t)p;
	return 0;
}

static void s2_free(void *arg, phys_addr_t table)
{
	(void)arg;
	free((void *)(uintptr_t)table);
}

static void *s2_virt(void *arg, phys_addr_t pa)
{
	(void)arg;
	return (void *)(uintptr_t)pa;
}

/* What a fault does to the stage-2 table: translate the cluster, map it (replacing). */
static void pieces_stage2(void)
{
	static const unsigned ns[] = { 1, 16, 512 };
	struct pgtable_mem mem = { .alloc = s2_alloc, .free = s2_free, .phys_to_virt = s2_virt };
	struct pgtable_attr attr = { .flags = PT_R | PT_W | PT_X | PT_A, .memtype = PT_MT_WB };
	struct samples s = { 0 };
	struct pgtable pt;
	char name[96];

	if (pgtable_init(&pt, &pgtable_ept, &mem))
		die("pgtable_init");
	for (unsigned k = 0; k < 3; k++) {
		uint64_t len = ns[k] * PAGE;

		for (unsigned i = 0; i < PIECE_REPS; i++) {
			uint64_t gpa = (uint64_t)(i % 256) * len;
			struct pgtable_flush fl = { 0 };
			struct pgtable_info info;
			uint64_t t0 = bench_now_ns();

			pgtable_translate(&pt, gpa, &info);
			if (pgtable_map(&pt, gpa, gpa + (UINT64_C(1) << 32), len, PAGE, &attr,
					PT_MAP_REPLACE, &fl))
				die("pgtable_map");
			samples_add(&s, (double)(bench_now_ns() - t0));
		}
		snprintf(name, sizeof(name), "stage 2: translate + map %u pages (EPT)", ns[k]);
		piece_row(name, &s, "gmem: every fault, under gmem.lock");
	}
	pgtable_destroy(&pt);
}

struct event_reader {
	int uffd, efd;
	pthread_t th;
};

static void *event_reader(void *arg)
{
	struct event_reader *r = arg;
	struct uffd_msg msg[16];

	for (;;) {
		struct pollfd pfd[2] = { { .fd = r->uffd, .events = POLLIN },
					 { .fd = r->efd, .events = POLLIN } };

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			die("event reader: poll");
		if (pfd[1].revents)
			return NULL;
		if (read(r->uffd, msg, sizeof(msg)) < 0 && errno != EAGAIN)
			die("event reader: read");
	}
}

/*
 * gmem's unmap (host_unmap): mremap a piece of a registered reserve over the cluster. With
 * UFFD_FEATURE_EVENT_REMAP the mremap waits until a reader has read the REMAP event (a thread
 * hand-off each way); without userfaultfd it is the move alone.
 */
static void pieces_unmap(const struct pinning *pin)
{
	static const unsigned ns[] = { 1, 16, 512 };
	struct event_reader r;
	struct samples s = { 0 };
	char name[96];

	for (int registered = 1; registered >= 0; registered--) {
		for (unsigned k = 0; k < 3; k++) {
			uint64_t len = ns[k] * PAGE;
			unsigned reps = ns[k] == 512 ? 100 : 1000;
			uint8_t *reserve = map_aligned(reps * len, HUGE_BYTES);
			uint64_t one = 1;

			if (registered) {
				r.uffd = userfaultfd_open(O_NONBLOCK, UFFD_FEATURE_EVENT_REMAP);
				r.efd = eventfd(0, EFD_CLOEXEC);
				if (r.efd < 0)
					die("eventfd");
				uffd_register(r.uffd, reserve, reps * len);
				bench_pin_cpu(pin->server_cpu);
				if (pthread_create(&r.th, NULL, event_reader, &r))
					die("pthread_create");
				bench_pin_cpu(pin->fault_cpu);
			}
			for (unsigned i = 0; i < reps; i++) {
				uint64_t t0;

				target_map_memfd(len, 0);
				touch_all(piece_target, ns[k]); /* populated, as a used guest cluster */
				t0 = bench_now_ns();
				if (mremap(reserve + i * len, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
					   piece_target) == MAP_FAILED)
					die("mremap");
				samples_add(&s, (double)(bench_now_ns() - t0));
			}
			if (registered) {
				if (write(r.efd, &one, sizeof(one)) != sizeof(one))
					die("eventfd write");
				pthread_join(r.th, NULL);
				close(r.uffd);
				close(r.efd);
			}
			munmap(reserve, reps * len);
			target_reset(2 * MIB);
			memfd_punch(0, PIECE_MEMFD);
			snprintf(name, sizeof(name), "mremap over %u populated pages, %s", ns[k],
				 registered ? "REMAP event" : "no userfaultfd");
			piece_row(name, &s, !registered ? "the move alone" : ns[k] < 512 ?
				  "gmem: every unmap (swap-out, sample)" :
				  "fix candidate: one move per run of clusters");
		}
	}
}

/* All pieces on CPU 0 with the first pinning; with the others, only the REMAP hand-off. */
static void bench_pieces(const struct pinning *pin, bool all)
{
	piece_target = map_aligned(2 * MIB, HUGE_BYTES);
	piece_memfd = memfd_create("bench_gmem", MFD_CLOEXEC);
	if (piece_memfd < 0 || ftruncate(piece_memfd, (off_t)PIECE_MEMFD))
		die("memfd");
	piece_view = mmap(NULL, PIECE_MEMFD, PROT_READ | PROT_WRITE, MAP_SHARED, piece_memfd, 0);
	if (piece_view == MAP_FAILED)
		die("mmap memfd view");
	printf("\npieces of the paths above, timed alone on CPU %d (the REMAP reader: %s)\n",
	       pin->fault_cpu, pin->name);
	bench_table_begin("pieces (median of individually timed calls)", "us/call");
	if (all) {
		pieces_uffd();
		pieces_map();
		pieces_io();
		pieces_stage2();
	}
	pieces_unmap(pin);
	munmap(piece_view, PIECE_MEMFD);
	munmap(piece_target, 2 * MIB);
	close(piece_memfd);
}

int main(int argc, char **argv)
{
	unsigned nr_pin = sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;

	if (argc > 1)
		dir = argv[1];
	snprintf(swap_path, sizeof(swap_path), "%s/bench_gmem.swap", dir);
	snprintf(peer_path, sizeof(peer_path), "%s/bench_gmem.peer", dir);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# bench_gmem: swap and peer files in %s (same file system); memvisor and its peer "
	       "alternate round by round\n", dir);
	if (nr_pin < 2)
		printf("# one CPU online: the split pinning is skipped\n");
	for (unsigned p = 0; p < nr_pin; p++) {
		printf("\n## pinning: %s\n", pinnings[p].name);
		bench_pin_cpu(pinnings[p].fault_cpu);
		bench_zero_fault(&pinnings[p]);
		bench_fault_around(&pinnings[p]);
		bench_swap_out(&pinnings[p]);
		bench_swap_in(&pinnings[p]);
		bench_pieces(&pinnings[p], p == 0);
	}
	return 0;
}
