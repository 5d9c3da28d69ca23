/*
 * virtio_balloon.h — the virtio-balloon device (virtio 1.x 5.5) on the virtio-mmio transport.
 *
 * What the guest sees (docs/cli.md, --balloon): device id 5 at MV_GPA_VIRTIO_BALLOON, GSI
 * MV_GSI_VIRTIO_BALLOON (layout.h). Features offered: VIRTIO_F_VERSION_1,
 * VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX (transport), VIRTIO_BALLOON_F_STATS_VQ
 * (stats-interval > 0), VIRTIO_BALLOON_F_DEFLATE_ON_OOM (deflate-on-oom=on),
 * VIRTIO_BALLOON_F_REPORTING (free-page-reporting=on). Not offered: MUST_TELL_HOST (a page the
 * guest reuses before telling simply faults in zeros), FREE_PAGE_HINT, PAGE_POISON.
 * Queues, numbered by what was negotiated: 0 inflate, 1 deflate, then stats, then reporting.
 * Config space: num_pages (the target, read-only), actual (the driver's count, read-write).
 *
 * Pages are 4 KiB page frame numbers (little-endian u32). The host gives memory back in units
 * of `granule_pages` (gmem's cluster): the device keeps a bitmap of the pages in the balloon and
 * hands the backend (gmem_balloon) every granule that becomes wholly ballooned, sorted and merged
 * into ranges; deflating a page of a whole granule hands that granule to gmem_deflate. Reported
 * free ranges (reporting queue) go to the backend as discards (whole granules inside them).
 *
 * Hostile guest: a PFN outside guest RAM, a duplicate, a deflate of a page not in the balloon,
 * a length that is not a multiple of 4 — ignored and counted (bad_pfns, duplicates, not_held,
 * bad_requests) with a rate-limited log line; inflating past the target is accepted (the memory
 * is the host's gain) and counted (over_target). Malformed chains: NEEDS_RESET (transport).
 *
 * Statistics: the driver's buffer is held and handed back every interval_s seconds by a timer
 * thread (QMP may change the interval: virtio_balloon_set_interval); the last values and the
 * time they came are in the statistics (guest_stat, stats_last_update).
 *
 * Threads and locks: everything under the transport's lock (virtio_mmio.h), which the stats
 * timer thread and virtio_balloon_set_target also take. Order: virtio_mmio.lock → gmem.lock.
 */
#ifndef MV_VIRTIO_BALLOON_H
#define MV_VIRTIO_BALLOON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_balloon.h>

#include "virtio_mmio.h"

#define VIRTIO_BALLOON_PAGE     (UINT64_C(1) << VIRTIO_BALLOON_PFN_SHIFT)
#define VIRTIO_BALLOON_BATCH    1024          /* PFNs handled per pass */

/* --balloon, parsed (virtio_balloon_parse). */
struct virtio_balloon_opts {
	bool given;
	uint64_t target;                      /* bytes the host wants back at start */
	unsigned stats_interval_s;            /* 0: no stats queue */
	bool deflate_on_oom;
	bool reporting;
};

/* Where the memory goes: gmem in `memvisor run`, a recorder in the unit tests. */
struct virtio_balloon_backend {
	unsigned granule_pages;               /* power of two: pages the host frees as one */
	int (*inflate)(void *arg, gpa_t gpa, uint64_t len, uint64_t *pages);
	int (*deflate)(void *arg, gpa_t gpa, uint64_t len, uint64_t *pages);
	int (*discard)(void *arg, gpa_t gpa, uint64_t len, uint64_t *pages);
	void *arg;
};

struct virtio_balloon_stats {
	uint64_t inflated, deflated;          /* pages taken into / out of the balloon */
	uint64_t held;                        /* pages in the balloon now */
	uint64_t host_inflated, host_deflated;/* pages the backend changed (whole granules) */
	uint64_t reported;                    /* pages discarded by free page reporting */
	uint64_t bad_pfns, duplicates, not_held, over_target, bad_requests;
	uint64_t backend_errors;
	uint64_t stats_updates;               /* stats buffers received */
	uint64_t guest_stat[VIRTIO_BALLOON_S_NR];   /* last values, by tag */
	uint32_t guest_stat_seen;             /* bit tag: guest_stat[tag] was reported */
	int64_t stats_last_update;            /* wall-clock seconds of the last stats buffer, 0:
						 none yet (QEMU's guest-stats "last-update") */
	uint32_t num_pages, actual;           /* config space */
};

enum virtio_balloon_queue { VB_Q_INFLATE, VB_Q_DEFLATE, VB_Q_STATS, VB_Q_REPORT, VB_Q_NR };

struct virtio_balloon {
	struct virtio_mmio t;
	struct virtio_balloon_opts opts;
	struct virtio_balloon_backend be;
	const struct guest_mem *gm;
	uint64_t nr_pages;                    /* bitmap covers pages [0, nr_pages) of gpa space */
	uint64_t *bitmap;                     /* bit p: page p is in the balloon */
	uint64_t features;                    /* negotiated device features */
	int role[VIRTIO_MMIO_MAX_QUEUES];     /* queue index → enum virtio_balloon_queue, -1 none */
	uint32_t num_pages, actual;
	/* Called (transport lock held) when the driver writes a new `actual`; set before the vCPUs
	 * run, cleared after they stop (run_qmp.c). */
	void (*actual_changed)(void *arg, uint64_t balloon_bytes);
	void *actual_arg;
	bool stats_held;                      /* the driver's stats buffer is with the device */
	uint16_t stats_head;
	struct virtio_balloon_stats st;
	struct virtq_elem elem;               /* scratch for the chain being handled */
	uint32_t pfns[VIRTIO_BALLOON_BATCH];  /* scratch: one batch of PFNs */
	/* stats timer: returns the held buffer every interval_s seconds (0: paused) */
	unsigned interval_s;
	pthread_t timer;
	bool timer_started, timer_stop;
	pthread_cond_t timer_cond;
};

/* "target=SIZE,stats-interval=S,deflate-on-oom=on|off,free-page-reporting=on|off". */
int virtio_balloon_parse(struct virtio_balloon_opts *o, const char *spec);

/*
 * Build the device over guest RAM gm (the bitmap covers gpa 0..ram_end) at base/gsi. 0 or -errno
 * with mv_error(). irq as virtio_mmio_init.
 */
int virtio_balloon_init(struct virtio_balloon *b, const struct virtio_balloon_opts *o,
			const struct virtio_balloon_backend *be, const struct guest_mem *gm,
			gpa_t ram_end, gpa_t base, uint32_t gsi,
			void (*irq)(void *arg, uint32_t gsi), void *irq_arg);
/* Start the stats timer (if stats-interval > 0). 0 or -errno. */
int virtio_balloon_start(struct virtio_balloon *b);
/* Stop the stats timer (before the VM its interrupts go to is destroyed). Idempotent. */
void virtio_balloon_stop(struct virtio_balloon *b);
void virtio_balloon_destroy(struct virtio_balloon *b);

/* A new target in bytes (rounded down to pages, at most guest RAM): config change interrupt. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint64_t bytes);
/*
 * The stats polling interval (QMP's guest-stats-polling-interval): 0 pauses polling. Only a
 * device started with stats-interval > 0 has a stats queue and a timer: otherwise, and above
 * 3600 s, -EINVAL with mv_error(). The new interval counts from now.
 */
int virtio_balloon_set_interval(struct virtio_balloon *b, uint64_t seconds);
unsigned virtio_balloon_interval(struct virtio_balloon *b);
/* Hand the held stats buffer back so the driver refills it (what the timer does). */
void virtio_balloon_poll_stats(struct virtio_balloon *b);
void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *st);

#endif /* MV_VIRTIO_BALLOON_H */
