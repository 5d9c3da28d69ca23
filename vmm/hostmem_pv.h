/*
 * hostmem_pv.h — the VMM side of the paravirtual host-memory interface whose guest ABI is
 * include/memvisor/hostmem.h: the two I/O ports, reading and validating the guest's request
 * block, calling the memory engine, writing `status` and `pages` back. The engine is reached only
 * through struct hostmem_pv_ops, so this device knows nothing of how pages move.
 *
 * Port semantics (the parts the ABI leaves to the device):
 *   - Ports MV_PORT_HOSTMEM_HI..+3 and MV_PORT_HOSTMEM_LO..+3 are ours.
 *   - A 32-bit write at HI latches the high dword of the block address for the writing vCPU
 *     (the latch is per vCPU, so vCPUs issuing requests at the same time do not mix).
 *   - A 32-bit write at LO performs the request at (latch << 32) | value, synchronously, and
 *     resets that vCPU's latch to 0 (as QEMU's fw_cfg DMA interface does): a block below 4 GiB
 *     needs only the LO write, and a stale HI from an abandoned request cannot leak into the next.
 *   - Reads of any of the 8 ports return all ones (a floating bus: there is no register; the
 *     answer goes into the block). They change nothing and are not counted.
 *   - Writes of another size (1, 2 bytes), writes at the other 6 ports, and accesses from a vCPU
 *     id >= MACHINE_MAX_VCPUS are ignored and counted in accesses_ignored.
 * A block that cannot be read (not wholly guest RAM, not 8-byte aligned, crossing a 4 KiB page)
 * or has a bad magic is ignored: nothing is written back, blocks_ignored counts it, and a
 * rate-limited line goes to the log. A request refused by validation gets MV_HOSTMEM_EINVAL or
 * MV_HOSTMEM_ERANGE with pages = 0, and is counted (rejected) and logged.
 *
 * Threads and locks: hostmem_pv_pio() is called from any vCPU thread, concurrently. hi[cpu] is
 * touched only by vCPU cpu's thread; the counters are atomics; pv.lock guards the log rate limit
 * and is a leaf, never held while calling an op. The ops are called without any lock held and
 * may run concurrently (the engine is thread-safe). guest_mem and machine_config are read-only.
 */
#ifndef MV_HOSTMEM_PV_H
#define MV_HOSTMEM_PV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mm/types.h>

#include "guest_mem.h"
#include "machine.h"
#include "ratelimit.h"

#define HOSTMEM_PV_LOG_BURST        10                          /* lines per interval */
#define HOSTMEM_PV_LOG_INTERVAL_NS  UINT64_C(1000000000)        /* 1 s */

/*
 * The memory engine. Each op returns 0 or -errno (-EINVAL, -ERANGE, -ENOSPC, -ENOMEM, -EIO) and
 * sets *pages to the 4 KiB pages that changed state (also on failure: the work already done).
 * Ranges passed are validated: page-aligned, len > 0, wholly guest RAM; nodes < nr_nodes.
 * Called from vCPU threads, concurrently.
 */
struct hostmem_pv_ops {
	int (*page_out)(void *arg, gpa_t gpa, uint64_t len, uint64_t *pages);
	int (*page_in)(void *arg, gpa_t gpa, uint64_t len, uint64_t *pages);
	int (*node_page_out)(void *arg, unsigned node, uint64_t *pages);
	int (*node_page_in)(void *arg, unsigned node, uint64_t *pages);
};

struct hostmem_pv_stats {
	uint64_t requests;          /* blocks read with the right magic: each got a status */
	uint64_t page_outs;         /* engine calls for PAGE_OUT (range or node) */
	uint64_t page_ins;          /* engine calls for PAGE_IN (range or node) */
	uint64_t rejected;          /* requests refused by validation; the engine was not called */
	uint64_t failed;            /* engine calls that returned an error */
	uint64_t blocks_ignored;    /* LO writes whose block was unreadable or had a bad magic */
	uint64_t accesses_ignored;  /* port writes not 32 bits at HI/LO, or from a bad vCPU id */
	uint64_t pages;             /* sum of the `pages` values written back */
	uint64_t log_suppressed;    /* log lines dropped by the rate limit */
};

struct hostmem_pv {
	const struct machine_config *m;
	const struct guest_mem *gm;
	const struct hostmem_pv_ops *ops;
	void *arg;
	/* Set by hostmem_pv_init to CLOCK_MONOTONIC and stderr; a test may replace them. */
	uint64_t (*now_ns)(void);               /* the log rate limit's clock */
	FILE *log;                              /* where log lines go */

	uint32_t hi[MACHINE_MAX_VCPUS];         /* latched high dword; hi[i] only by vCPU i */

	struct {
		atomic_uint_least64_t requests, page_outs, page_ins, rejected, failed,
				      blocks_ignored, accesses_ignored, pages, log_suppressed;
	} count;

	pthread_mutex_t lock;                   /* the rate limit below, and writes to log */
	struct ratelimit window;                /* under lock: the log's rate-limit window */
	uint64_t window_suppressed;             /* under lock: lines dropped in this window */
};

/*
 * Set pv up over the machine m and its RAM gm (both borrowed, read-only, outliving pv). Every op
 * must be set, and every region's hva 8-byte aligned (ram.c maps them page-aligned), because
 * status and pages are written back as single aligned stores. 0, or -EINVAL with mv_error()
 * naming what is wrong.
 */
int hostmem_pv_init(struct hostmem_pv *pv, const struct machine_config *m,
		    const struct guest_mem *gm, const struct hostmem_pv_ops *ops, void *arg)
	mm_must_check;

/*
 * One port access of `size` bytes at `data` (little-endian, as KVM_EXIT_IO gives it) from vCPU
 * `cpu`. Returns false, touching nothing, if the port is not one of ours; true otherwise (see
 * the port semantics above). Writing LO performs the request before returning.
 */
bool hostmem_pv_pio(struct hostmem_pv *pv, unsigned cpu, uint16_t port, bool out, unsigned size,
		    uint8_t *data);

/* A snapshot of the counters (each read atomically; the set is not one instant). */
void hostmem_pv_get_stats(struct hostmem_pv *pv, struct hostmem_pv_stats *st);

/* Log the count of lines still held back by the rate limit, if any; release pv's lock. */
void hostmem_pv_destroy(struct hostmem_pv *pv);

#endif /* MV_HOSTMEM_PV_H */
