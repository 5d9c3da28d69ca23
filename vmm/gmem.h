/*
 * gmem.h — the host-side guest memory engine: which host frame backs each guest-physical page.
 *
 * Picture (docs/architecture.md has the whole house):
 *
 *   guest RAM (hva, one anonymous mapping per node range, a KVM memslot each)
 *     │  registered with userfaultfd (MISSING): touching an unbacked page raises a fault
 *     ▼
 *   fault-service threads ── stage-2 table (mm/ EPT format, the source of truth)
 *     │                        gpa → frame (pfn in the frame space) | swap slot | none
 *     │                     ── frame pools: one memfd per guest node, bound to a host NUMA
 *     │                        node, frames handed out by the mm/ buddy allocator
 *     ▼
 *   mmap(MAP_FIXED | MAP_SHARED, pool memfd, frame offset) over the faulting cluster, then
 *   UFFDIO_WAKE: the pool frame *is* the guest page (KVM follows through its MMU notifier).
 *
 * Unit of work: a *cluster* of cluster_pages (power of two, 1..512) guest pages, aligned in
 * guest-physical space. A cluster is backed as a whole by one aligned buddy block of the same
 * order, so the pool pages behind neighbouring guest pages are contiguous, host mappings merge,
 * and the VMM's mapping count stays at most about two per cluster whatever the guest does.
 * A fault maps the whole cluster (fault-around); eviction writes the whole cluster to swap.
 *
 * States of a cluster, as the stage-2 table records them for each of its pages:
 *   none        never touched (zero entries); the guest sees zeros on first touch
 *   mapped      present, frames = the block; A set ⇔ the cluster is mapped in the guest's
 *               address space right now. A clear means the reclaim scan unmapped it to observe
 *               whether the guest touches it again (CLOCK over an emulated accessed bit, as
 *               KVM's own access tracking does on EPT without A/D bits); a touch remaps it
 *   swap        contents in host swap, slots slot..slot+cluster_pages-1
 *   ballooned   given to the host by the guest's balloon (gmem_balloon): no frames, no slots;
 *               a touch faults in zeroed frames like `none` (a guest that touches a page it
 *               ballooned without deflating gets zeros, never another's data)
 *   discarded   reported free by the guest (free page reporting): the same, except that the
 *               guest may reuse it without telling anyone, so a touch is normal, not a bug
 *
 * Threads: fault-service thread(s) read the userfaultfd; a reclaim thread frees frames when a
 * pool runs dry; callers of gmem_page_out/_in/_migrate do their work on their own thread.
 * Rule: a thread that reads the userfaultfd never touches guest RAM through its guest
 * mapping and never unmaps guest RAM (unmapping posts a UFFD_EVENT_REMAP that only a reader can
 * complete); everything else may.
 *
 * Lock: one mutex (gmem.lock) over the stage-2 table, the buddy allocator, the reverse map, the
 * cluster flags and the statistics. It is never held across a system call that maps, unmaps or
 * does I/O: a cluster being worked on is marked BUSY instead, and a fault on a busy cluster is
 * left waiting until its owner clears BUSY and wakes the cluster's range. Swap has its own lock
 * (swap.h), taken inside gmem.lock.
 */
#ifndef MV_GMEM_H
#define MV_GMEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mm/buddy.h>
#include <mm/pgtable.h>

#include "guest_mem.h"
#include "machine.h"
#include "ratelimit.h"
struct swap_dev;                         /* swap.h */
struct faultinj;                         /* faultinj.h */

#define GMEM_MAX_CLUSTER_PAGES  512        /* 2 MiB */
#define GMEM_DEFAULT_CLUSTER    16         /* 64 KiB, Linux's default fault_around_bytes */
#define GMEM_MAX_FAULT_THREADS  8
#define GMEM_MAX_WAITING        256        /* > vCPUs + VMM threads that can fault at once */

/* Exit status when guest memory cannot be served (no frame and nothing to evict, swap I/O). */
#define GMEM_STATUS_FATAL       10

struct gmem_config {
	unsigned cluster_pages;         /* 0 = GMEM_DEFAULT_CLUSTER, or the largest power of two
					   below it that divides every node range */
	unsigned fault_threads;         /* 0 = 1 */
	bool prefault;                  /* back every cluster that fits the budgets at start */
	struct swap_dev *swap;          /* NULL: no swap (a full pool is then fatal) */
	struct faultinj *fi;            /* host fault-injection sites (faultinj.h); NULL: none */
};

/* Bounded retries of the failures a VMM may see go away (docs/fault-injection.md). */
#define GMEM_SWAP_READ_TRIES    3       /* swap-in read attempts before service stops */
#define GMEM_MAP_TRIES          3       /* mmap of pool frames over a cluster */
#define GMEM_MAP_RETRY_US       1000
#define GMEM_UFFD_TRIES         100     /* UFFDIO_WAKE answered EAGAIN */
#define GMEM_UFFD_RETRY_US      100
#define GMEM_ALLOC_FAIL_LIMIT   64      /* frame allocations refused in a row with the pool
					   below its budget: service stops */
#define GMEM_WRITE_FAIL_ROUNDS  8       /* reclaim rounds in a row in which every eviction's
					   swap write failed: service stops (out of memory) */

struct gmem_node_stats {
	uint64_t frames_total, frames_free, frames_used;
	uint64_t clusters_mapped;       /* clusters of this node's RAM backed by some pool */
	uint64_t pages_swapped;         /* pages of this node's RAM in swap */
	uint64_t faults_zero;           /* clusters first backed by a zero-fill fault */
	uint64_t faults_swapin;         /* clusters read back from swap by a fault */
	uint64_t faults_minor;          /* refaults after an access-bit sample (no copy) */
	uint64_t swap_outs, swap_ins;   /* clusters written / read (faults + requests) */
	uint64_t swap_out_bytes, swap_in_bytes;
	uint64_t migrations_in, migrations_out;  /* clusters moved into / out of this pool */
	uint64_t remote_allocs;         /* blocks this pool gave to another node's RAM (preferred) */
	uint64_t pages_ballooned;       /* pages of this node's RAM in state ballooned (now) */
	uint64_t pages_discarded;       /* ... in state discarded (now) */
	uint64_t faults_balloon;        /* clusters refaulted from ballooned / discarded */
};

/* The per-node and global counters by name: --stats JSON and QMP write them with these names. */
#define GMEM_NODE_STAT_FIELDS(X) \
	X(frames_total) X(frames_free) X(frames_used) X(clusters_mapped) X(pages_swapped) \
	X(faults_zero) X(faults_swapin) X(faults_minor) X(swap_outs) X(swap_ins) \
	X(swap_out_bytes) X(swap_in_bytes) X(migrations_in) X(migrations_out) X(remote_allocs) \
	X(pages_ballooned) X(pages_discarded) X(faults_balloon)
#define GMEM_STAT_FIELDS(X) \
	X(uffd_faults) X(uffd_events) X(faults_waited) X(samples) X(reclaim_scans) X(requests) \
	X(requests_rejected) X(host_mappings) X(swap_slots_total) X(swap_slots_used) \
	X(swap_write_failures) X(swap_read_retries) X(alloc_failures) X(map_retries) \
	X(uffd_retries)

struct gmem_stats {
	unsigned nr_nodes;
	struct gmem_node_stats node[MM_MAX_NODES];
	uint64_t uffd_faults;           /* fault messages read */
	uint64_t uffd_events;           /* other events (REMAP from our own unmaps, REMOVE) */
	uint64_t faults_waited;         /* faults left waiting (busy cluster or empty pool) */
	uint64_t samples;               /* clusters unmapped to sample their accessed bit */
	uint64_t reclaim_scans;         /* clusters the CLOCK hand looked at */
	uint64_t requests, requests_rejected;
	uint64_t host_mappings;         /* lines in /proc/self/maps when the stats were taken */
	uint64_t swap_slots_total, swap_slots_used;
	uint64_t swap_write_failures;   /* swap-outs whose write failed (the cluster stayed) */
	uint64_t swap_read_retries;     /* swap-in reads tried again after an error */
	uint64_t alloc_failures;        /* frame allocations refused below the pool's budget */
	uint64_t map_retries;           /* host_map mmaps tried again after an error */
	uint64_t uffd_retries;          /* UFFDIO_WAKE tried again after EAGAIN */
};

struct gmem_pool {
	int memfd;
	uint8_t *view;                  /* the whole memfd, MAP_SHARED: carries the mbind policy;
					   gmem never touches frames through it (gmem.c, frames_io) */
	pfn_t base;                     /* first pfn of the pool in the frame space */
	uint64_t nr_frames;             /* the pool's size: the budget at start */
	uint64_t limit;                 /* frames it may have in use: the budget now (<= nr_frames,
					   gmem_set_budget) */
	uint64_t hand;                  /* CLOCK hand: next block (index within the pool) */
	uint64_t used;                  /* frames allocated */
	unsigned long ino;              /* the memfd's inode (gmem_check finds it in smaps) */
};

struct gmem {
	const struct machine_config *m;
	struct guest_mem *gm;
	unsigned cluster_pages, cluster_order;
	uint64_t cluster_size;
	struct swap_dev *swap;
	struct faultinj *fi;

	pthread_mutex_t lock;
	pthread_cond_t reclaim_cond;    /* reclaim thread: work or stop */
	pthread_cond_t busy_cond;       /* a cluster's BUSY flag was cleared */
	struct pgtable s2;
	struct buddy frames;
	void *buddy_meta;
	struct gmem_pool pool[MM_MAX_NODES];
	uint64_t nr_pfns;               /* frame space: [0, nr_pfns) */
	gpa_t *rmap;                    /* per block: the cluster gpa it backs, or GMEM_NO_GPA */
	uint8_t *cflags;                /* per guest cluster (gpa >> cluster shift): GMEM_C_* */
	uint64_t nr_clusters;           /* ram_end >> cluster shift */
	uint32_t want_frames;           /* bit n: a fault of node n waits for a frame */
	unsigned nr_waiting;            /* clusters whose faults wait for a frame ... */
	gpa_t waiting[GMEM_MAX_WAITING];/* ... (flag GMEM_C_WAITING; beyond the array: a scan) */
	bool waiting_overflow;
	struct gmem_stats st;
	bool stopping;
	int fatal;                      /* 0, or the errno of the failure that stopped service */
	char fatal_reason[512];         /* its message (set with fatal, under lock; then fixed) */
	bool fatal_notified;
	bool refuse_after_fatal;        /* gmem_refuse_after_fatal() */
	unsigned alloc_fail_streak;     /* frame allocations refused in a row below the budget */
	bool alloc_fail_injected;       /* the last of them was injected */
	unsigned write_fail_rounds;     /* reclaim rounds in a row that only met write failures */
	struct ratelimit swap_fail_rl;  /* the swap-out failure lines */

	int uffd;
	int stop_efd;
	unsigned nr_readers;
	pthread_t readers[GMEM_MAX_FAULT_THREADS];
	pthread_t reclaimer;
	bool reclaimer_started;

	pthread_mutex_t reserve_lock;   /* the spare registered range unmaps are made from */
	uint8_t *reserve;
	uint64_t reserve_left;          /* bytes left at the start of reserve */

	void (*on_fatal)(void *arg);    /* called once when service stops for good */
	void *on_fatal_arg;
	/* called (no lock held) when a swap-out's write failed and the cluster stayed resident */
	void (*on_swap_failure)(void *arg, const char *msg);
	void *on_swap_failure_arg;
};

/*
 * Build the pools (sized by each node's budget, bound to its host node), the stage-2 table and
 * the userfaultfd over gm's regions (created by ram_create), and start the service threads.
 * From then on any access to guest RAM is served by the engine. 0 or -errno with mv_error().
 */
int gmem_create(struct gmem *g, const struct machine_config *m, struct guest_mem *gm,
		const struct gmem_config *cfg) __attribute__((warn_unused_result));
/* The cluster gmem_create uses for a gmem_config.cluster_pages of `requested` (0: default). */
unsigned gmem_cluster_pages(const struct machine_config *m, unsigned requested);

/* Stop the threads and free everything; guest RAM mappings stay (ram_destroy unmaps them). */
void gmem_destroy(struct gmem *g);

/*
 * Called (from an engine thread, once) when guest memory can no longer be served. The thread is
 * not always the one that failed (another may notice first): the reason is gmem_fatal_reason().
 */
void gmem_set_fatal_handler(struct gmem *g, void (*fn)(void *arg), void *arg);

/* Why service stopped ("" while it has not): the failing thread's message, kept. */
const char *gmem_fatal_reason(struct gmem *g);
/* Called (from the evicting thread, no lock held) each time a swap-out's write fails: the
 * cluster stays in memory and service goes on; msg names the swap error. */
void gmem_set_swap_failure_handler(struct gmem *g, void (*fn)(void *arg, const char *msg),
				   void *arg);

/*
 * Requests on [gpa, gpa + len) (page-aligned, wholly guest RAM; every cluster the range
 * overlaps is acted on as a whole). *pages: pages that changed state.
 *   page_out  write mapped clusters to swap and free their frames  (-ENOSPC: swap full/none)
 *   page_in   read swapped clusters back now                       (-ENOMEM: no frame)
 *   migrate   move mapped clusters to node `to`'s pool              (-ENOMEM: no frame there)
 * -EINVAL / -ERANGE for a bad range (counted as rejected requests), -EIO for swap I/O errors.
 * A page-out whose swap write fails (-EIO, -ENOSPC) leaves that cluster and the rest of its run
 * resident (nothing lost) and fails the request; service goes on.
 */
int gmem_page_out(struct gmem *g, gpa_t gpa, uint64_t len, uint64_t *pages);
int gmem_page_in(struct gmem *g, gpa_t gpa, uint64_t len, uint64_t *pages);
int gmem_migrate(struct gmem *g, gpa_t gpa, uint64_t len, unsigned to, uint64_t *pages);
/* The same for every range of guest node `node` (-ERANGE: no such node). */
int gmem_node_page_out(struct gmem *g, unsigned node, uint64_t *pages);
int gmem_node_page_in(struct gmem *g, unsigned node, uint64_t *pages);
int gmem_node_migrate(struct gmem *g, unsigned node, unsigned to, uint64_t *pages);

/*
 * Balloon: every cluster wholly inside [gpa, gpa + len) (page-aligned, wholly guest RAM) gives
 * its host memory back — a mapped cluster is unmapped and its block freed to its pool (its
 * frames hole-punched), a swapped one frees its slots — and stage 2 records it BALLOONED, or
 * DISCARDED with `discard` (free page reporting). Clusters only partly inside are left alone:
 * the caller (virtio_balloon.c) collects pages until whole clusters are given. Runs of up to 256
 * consecutive clusters are unmapped with one mremap. *pages: pages whose state changed.
 * -EINVAL/-ERANGE for a bad range (counted as rejected requests).
 */
int gmem_balloon(struct gmem *g, gpa_t gpa, uint64_t len, bool discard, uint64_t *pages);

/*
 * Deflate: clusters wholly inside the range that are BALLOONED or DISCARDED become untouched
 * (`none`) again. Nothing is mapped now: the next touch faults in zeroed frames as it would have
 * anyway; deflating only ends the host's claim on the pages. *pages: pages changed.
 */
int gmem_deflate(struct gmem *g, gpa_t gpa, uint64_t len, uint64_t *pages);

/*
 * Write-protect and restore the host page behind gpa (QEMU pc-testdev's flush-page port): the
 * two mprotect calls make KVM's MMU notifier drop its mappings of that page, which the guest's
 * next access rebuilds; the contents stay. The cluster is held BUSY meanwhile, so no fault,
 * eviction or migration remaps it between the calls. 0, -EINVAL (not guest RAM), -EIO (service
 * has stopped), or mprotect's -errno; mv_error() names the gpa.
 */
int gmem_flush_page(struct gmem *g, gpa_t gpa);

/*
 * Set guest node `node`'s host memory budget to `bytes` (a non-zero multiple of the cluster, at
 * most the pool made at start: pools do not grow). Lowering it evicts clusters to swap on the
 * calling thread until the pool is within it (so call it from a request thread, never a
 * fault-service one); raising it wakes faults waiting for frames. 0, or -ERANGE (no such node),
 * -EINVAL (bad size), -ENOSPC (cannot evict enough: no swap or full; the budget is unchanged),
 * -EBUSY, -EIO; mv_error() says which.
 */
int gmem_set_budget(struct gmem *g, unsigned node, uint64_t bytes);

/*
 * Consistency check: stage-2 table, buddy allocator, reverse map, swap slots and the host
 * mappings (/proc/self/smaps) agree. 0, or -EUCLEAN with mv_error() naming the first problem.
 * Clusters busy at the time are skipped.
 */
int gmem_check(struct gmem *g);

/* Every counter; host_mappings counts the lines of /proc/self/maps (a file read). */
void gmem_get_stats(struct gmem *g, struct gmem_stats *st);
/* The same without the file read (host_mappings 0): cheap enough to sample often (--trace). */
void gmem_get_counters(struct gmem *g, struct gmem_stats *st);
void gmem_print_stats(struct gmem *g, FILE *out);
int gmem_write_stats_json(struct gmem *g, const char *path);
/* The same; extra (if not NULL) appends members (",\n  \"name\": ...") to the top object. */
int gmem_write_stats_json_extra(struct gmem *g, const char *path,
				void (*extra)(FILE *f, void *arg), void *arg);

/*
 * After service has failed, answer new faults by mapping the cluster PROT_NONE, so a vCPU gets
 * -EFAULT from KVM_RUN (and leaves) instead of waiting for ever; any other thread touching it
 * would get SIGSEGV, so call this only once nothing but vCPUs touches guest RAM. Before it,
 * faults after a failure wait until gmem_destroy() closes the userfaultfd (after which the
 * waiting thread sees unregistered memory: the owner must be discarding the guest).
 */
void gmem_refuse_after_fatal(struct gmem *g);

/* Where guest node n's frames live (for tests): the pool's memfd view and its frame count. */
const struct gmem_pool *gmem_pool(const struct gmem *g, unsigned node);

#endif /* MV_GMEM_H */
