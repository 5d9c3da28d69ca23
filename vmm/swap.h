/*
 * swap.h — the VMM's host swap device: one preallocated regular file that guest pages are written
 * out to and read back from, in 4 KiB page slots. Pages go out in clusters of cluster_pages
 * consecutive pages (a power of two, 1..SWAP_MAX_CLUSTER_PAGES, fixed at swap_open): a cluster is
 * cluster_pages consecutive slots in the file, allocated and freed as a unit, and named by its
 * first slot (a multiple of cluster_pages).
 *
 *   file:  | cluster 0          | cluster 1          | ...  | cluster nr_clusters-1 |
 *   slots:   0 .. cp-1            cp .. 2cp-1                                         (cp = cluster_pages)
 *
 * Locking: sw->lock (a pthread mutex) protects the cluster bitmap, the used count and the next-fit
 * cursor, so swap_alloc/swap_free/swap_check/swap_get_stats may be called from any thread. It is a
 * leaf lock: nothing else is taken under it, and no I/O is done under it. swap_write/swap_read run
 * without it (pwrite/pread on different clusters proceed in parallel); their counters and the
 * fault-injection state are atomics. The caller owns the cluster between swap_alloc and
 * swap_free: I/O on a cluster racing with its free is a caller bug.
 *
 * Errors: 0 / -errno with mv_error() naming the file and what failed (error.h). Calls that only a
 * broken VMM can make (freeing or doing I/O on a cluster that is not allocated, slots out of
 * range) are BUGs: mm_env_bug() with a message, which aborts the VMM (tests catch it, CHECK_BUG).
 */
#ifndef MV_SWAP_H
#define MV_SWAP_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <mm/types.h>

struct faultinj;                        /* faultinj.h */

#define SWAP_PAGE_SIZE          MM_PAGE_SIZE     /* one slot */
#define SWAP_MAX_CLUSTER_PAGES  512u             /* 2 MiB: a huge page */

/* The --swap option: "FILE[,size=SIZE]". */
struct swap_spec {
	char path[PATH_MAX];
	uint64_t size;          /* bytes as given (not yet rounded); 0 = not given */
};

/*
 * Parse "FILE[,size=SIZE]" (SIZE: bytes or with a K/M/G/T suffix, as machine_parse_size) into
 * *spec. 0 or -EINVAL with mv_error() "--swap: ..." naming the bad part. FILE cannot contain ','.
 */
int swap_parse_spec(const char *arg, struct swap_spec *spec);

struct swap_stats {
	uint64_t slots_total, slots_used;               /* pages; used = allocated clusters * cp */
	uint64_t writes, reads;                         /* successful calls */
	uint64_t bytes_written, bytes_read;             /* by successful calls */
	uint64_t write_errors, read_errors;             /* failed calls (injected ones included) */
};

struct swap_dev {
	int fd;                         /* -1 when not open */
	char path[PATH_MAX];
	unsigned cluster_pages;
	uint64_t nr_clusters;           /* >= 1 */
	uint64_t size;                  /* bytes = nr_clusters * cluster_pages * SWAP_PAGE_SIZE */

	pthread_mutex_t lock;           /* protects the three fields below */
	uint64_t *bitmap;               /* bit c: cluster c is allocated */
	uint64_t used;                  /* clusters allocated == popcount(bitmap) */
	uint64_t cursor;                /* next-fit: the search for a free cluster starts here */

	/* atomics (__atomic builtins), updated without the lock */
	uint64_t writes, reads, bytes_written, bytes_read, write_errors, read_errors;

	/* Fault injection (faultinj.h): NULL = none. Set by the owner after swap_open; sites
	 * swap-write-eio, swap-write-enospc, swap-write-short, swap-read-eio. */
	struct faultinj *fi;
};

/*
 * Open path (creating it with mode 0600 if missing) as a swap device of size bytes, rounded down
 * to whole clusters; size 0 means "the existing file's size". Refuses anything but a regular file
 * (directory, device, fifo, socket), cluster_pages not a power of two in 1..512, and a size below
 * one cluster. The whole size is reserved up front with posix_fallocate (so swap-out never meets
 * ENOSPC later); a larger existing file is truncated to size. On error nothing is left behind: the
 * file is closed, unlinked if this call created it, or put back to its old length if it grew.
 * 0 or -errno with mv_error() naming the file (and the size where that is the problem).
 * swap_close() is safe after a failed swap_open().
 */
int swap_open(struct swap_dev *sw, const char *path, uint64_t size, unsigned cluster_pages)
	__attribute__((warn_unused_result));

/* Close the file (which stays, with its space reserved) and free the bitmap. Idempotent. */
void swap_close(struct swap_dev *sw);

/*
 * Allocate one cluster; *slot = its first page slot (a multiple of cluster_pages). Next-fit: the
 * search starts after the cluster allocated last and wraps, so consecutive allocations are
 * consecutive in the file while there is room. -ENOSPC (mv_error names the file) when full.
 */
int swap_alloc(struct swap_dev *sw, uint64_t *slot) __attribute__((warn_unused_result));

/* Free the cluster starting at slot. BUG if slot is not the first slot of an allocated cluster. */
void swap_free(struct swap_dev *sw, uint64_t slot);

/*
 * Write / read npages (1..cluster_pages) pages at slot, which must lie within one allocated
 * cluster (else BUG). One pwrite/pread of the whole length, retried on EINTR and on short
 * transfers. -errno (-EIO for a read that meets end of file, or a write that makes no progress)
 * with mv_error() naming the file, the slot and the error ("(injected)" when a fault-injection
 * site made it fail). After a failed write the slots' contents are undefined (a short write may
 * have written part); the caller must not read them back. Safe to call concurrently on
 * different clusters.
 */
int swap_write(struct swap_dev *sw, uint64_t slot, const void *buf, unsigned npages)
	__attribute__((warn_unused_result));
int swap_read(struct swap_dev *sw, uint64_t slot, void *buf, unsigned npages)
	__attribute__((warn_unused_result));

void swap_get_stats(struct swap_dev *sw, struct swap_stats *st);

/*
 * Consistency check: the bitmap's population count equals the used count, no bit is set past the
 * last cluster, the cursor is in range. 0 or -EUCLEAN with mv_error() saying what is wrong.
 */
int swap_check(struct swap_dev *sw);

#endif /* MV_SWAP_H */
