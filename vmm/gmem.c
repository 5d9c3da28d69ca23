/*
 * gmem.c — the guest memory engine (gmem.h): frame pools, the stage-2 table, userfaultfd fault
 * service, reclaim to host swap, and the page-out / page-in / migrate requests.
 *
 * Lock order: gmem.lock → swap's lock (swap.h) → buddy zone locks (mm/). reserve_lock is taken
 * alone. No lock is held across mmap/mremap/pread/pwrite/fallocate: the cluster is BUSY instead.
 *
 * Cluster life (all transitions happen with the cluster BUSY, state written under gmem.lock):
 *
 *          fault (zero)             reclaim scan: A set          reclaim scan: A clear
 *   none ───────────────► mapped+A ─────────────────► mapped ──────────────────────► swap
 *                          ▲  │       clear A, unmap     │  write out, free frames    ▲ │
 *                          │  │                          │                            │ │
 *                          │  └── page-out request, or the scan after a turn ─────────┘ │
 *                          │      without a victim (evict even with A set)              │
 *                          ├──── fault: remap (minor) ◄──┘                              │
 *                          └──── fault or page-in request: read back ◄──────────────────┘
 *   (migration: mapped → unmapped → copied to another pool's block → mapped+A)
 *
 * "Unmap" replaces the cluster's host mapping with a piece of an unpopulated, registered
 * anonymous reserve moved there with mremap(): atomic under the mm's mmap lock, and the moved
 * range keeps its userfaultfd registration (UFFD_FEATURE_EVENT_REMAP), so the next touch is a
 * userfaultfd fault again. A plain mmap() there would leave an unregistered window in which a
 * vCPU would get a fresh zero page instead of its data.
 *
 * Failures (docs/fault-injection.md; the fault-injection sites of faultinj.h sit at the same
 * calls): a swap write that fails leaves its cluster resident and reclaim moves on to another
 * (GMEM_WRITE_FAIL_ROUNDS rounds of nothing but failures: out of memory, service stops); a swap
 * read is tried GMEM_SWAP_READ_TRIES times, then service stops (the cluster stays BUSY, so no
 * vCPU ever sees a wrong or zero page); a frame allocation refused below the budget is retried
 * like a full pool, GMEM_ALLOC_FAIL_LIMIT times in a row stops service; an mmap of pool frames
 * is tried GMEM_MAP_TRIES times, an EAGAIN from UFFDIO_WAKE GMEM_UFFD_TRIES times, then service
 * stops; any other userfaultfd ioctl error stops it at once.
 */
#define _GNU_SOURCE
#include "gmem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "faultinj.h"
#include "gmem_internal.h"
#include "ram.h"
#include "ratelimit.h"
#include "swap.h"
#include "seccomp_filter.h"
#include "tsan.h"

#define GMEM_RESERVE_SIZE (UINT64_C(32) << 20)   /* spare registered range for unmaps */
#define GMEM_MSG_BATCH    16
#define GMEM_RECLAIM_BLOCKS 8            /* blocks the reclaim thread frees per wake-up */
#define GMEM_BUSY_RETRY_US  1000         /* every block busy: retry the waiters after this */
#define GMEM_BUDGET_TRIES   1000         /* gmem_set_budget: rounds of all-busy before -EBUSY */

/* ---- small helpers ------------------------------------------------------------------------ */

/* The guest-physical address behind a host address of guest RAM. */
static bool hva_to_gpa(const struct gmem *g, uint64_t hva, gpa_t *gpa)
{
	for (unsigned i = 0; i < g->gm->nr; i++) {
		const struct guest_mem_region *r = &g->gm->r[i];
		uint64_t start = (uint64_t)(uintptr_t)r->hva;

		if (hva >= start && hva - start < r->size) {
			*gpa = r->gpa + (hva - start);
			return true;
		}
	}
	return false;
}

/* Record in stage 2 that cluster c is backed by the block at pfn (A: mapped in the guest). */
static void s2_map_locked(struct gmem *g, gpa_t c, pfn_t pfn, bool accessed)
{
	struct pgtable_attr attr = { .flags = PT_R | PT_W | PT_X | (accessed ? PT_A : 0),
				     .memtype = PT_MT_WB };
	struct pgtable_flush fl = { 0 };

	/* The only failure is running out of table pages (malloc): nothing sane to do then. */
	if (pgtable_map(&g->s2, c, pfn << MM_PAGE_SHIFT, g->cluster_size, PT_SIZE_4K, &attr,
			PT_MAP_REPLACE, &fl))
		mm_env_bug(__FILE__, __LINE__, "stage-2 map failed (out of memory for tables)");
}

static void s2_set_swap_locked(struct gmem *g, gpa_t c, uint64_t slot)
{
	struct pgtable_flush fl = { 0 };

	if (pgtable_set_state(&g->s2, c, g->cluster_size, PT_SIZE_4K, PT_STATE_SWAP, slot, &fl))
		mm_env_bug(__FILE__, __LINE__, "stage-2 set_state failed (out of memory for tables)");
}

static void gmem_fail_locked(struct gmem *g, int err);
static void gmem_notify_fatal(struct gmem *g);

/* Add one to a statistic from a path that does not hold the lock (a retry: rare). */
static void stat_inc(struct gmem *g, uint64_t *counter)
{
	pthread_mutex_lock(&g->lock);
	(*counter)++;
	pthread_mutex_unlock(&g->lock);
}

/* One UFFDIO_WAKE of r, through the uffd-fail and uffd-eagain sites: 0 or a positive errno. */
static int wake_once(struct gmem *g, struct uffdio_range *r, gpa_t c, bool *injected)
{
	*injected = true;
	if (faultinj_should_fail(g->fi, FI_UFFD_FAIL, r->len, "UFFDIO_WAKE at gpa", c))
		return EINVAL;
	if (faultinj_should_fail(g->fi, FI_UFFD_EAGAIN, r->len, "UFFDIO_WAKE at gpa", c))
		return EAGAIN;
	*injected = false;
	return ioctl(g->uffd, UFFDIO_WAKE, r) ? errno : 0;
}

/*
 * Wake the threads waiting on the n clusters from c (one region: one registered range; no lock
 * held). EAGAIN is tried again, up to
 * GMEM_UFFD_TRIES times; any other error (or EAGAIN for good) stops service: the threads waiting
 * on c would otherwise wait for ever. A last real UFFDIO_WAKE then lets them fault again, find
 * the failure and be refused (gmem_refuse_after_fatal) instead of waiting.
 */
static void wake_clusters(struct gmem *g, gpa_t c, unsigned n)
{
	struct uffdio_range r = { .start = (uint64_t)(uintptr_t)cluster_hva(g, c),
				  .len = (uint64_t)n * g->cluster_size };
	unsigned tries = 0;
	bool injected;
	int err;

	if (__atomic_load_n(&g->fatal, __ATOMIC_ACQUIRE)) {
		/* service has stopped: a wake only releases waiters to be refused */
		ioctl(g->uffd, UFFDIO_WAKE, &r);
		return;
	}
	while ((err = wake_once(g, &r, c, &injected)) == EAGAIN && ++tries < GMEM_UFFD_TRIES) {
		stat_inc(g, &g->st.uffd_retries);
		usleep(GMEM_UFFD_RETRY_US);
	}
	if (!err)
		return;
	pthread_mutex_lock(&g->lock);
	mv_fail(err, "UFFDIO_WAKE of gpa 0x%" PRIx64 " failed: %s%s%s", c, strerror(err),
		err == EAGAIN ? ", every try" : "", injected ? " (injected)" : "");
	gmem_fail_locked(g, err);
	pthread_mutex_unlock(&g->lock);
	gmem_notify_fatal(g);
	ioctl(g->uffd, UFFDIO_WAKE, &r);
}

static void wake_range(struct gmem *g, gpa_t c)
{
	wake_clusters(g, c, 1);
}

/* Clear BUSY (lock held), let waiting requests look again; the caller wakes the range after. */
static void cluster_unbusy_locked(struct gmem *g, gpa_t c)
{
	g->cflags[cluster_index(g, c)] &= (uint8_t)~GMEM_C_BUSY;
	pthread_cond_broadcast(&g->busy_cond);
}

/*
 * Service stops for good: remember the first reason, tell the owner once (outside the lock).
 * err is an errno of either sign (callers pass what swap_write/host_map returned, -errno, or a
 * positive one); g->fatal is always positive: reclaim_pool_locked returns -g->fatal as failure.
 */
static void gmem_fail_locked(struct gmem *g, int err)
{
	if (g->fatal)
		return;
	/* atomic: written under gmem.lock but also read without it (after the unlock in
	 * request_cluster, run.c's vCPU loop, run_qmp.c): a plain store raced with those (TSan) */
	snprintf(g->fatal_reason, sizeof(g->fatal_reason), "%s", mv_error());
	__atomic_store_n(&g->fatal, err < 0 ? -err : err ? err : EIO, __ATOMIC_RELEASE);
	fprintf(stderr, "memvisor: guest memory: %s\n", g->fatal_reason);
}

const char *gmem_fatal_reason(struct gmem *g)
{
	/* written once, before the release store of fatal that readers acquire */
	return __atomic_load_n(&g->fatal, __ATOMIC_ACQUIRE) ? g->fatal_reason : "";
}

/* Tell the owner, once, that service has stopped (no lock held). */
static void gmem_notify_fatal(struct gmem *g)
{
	if (!__atomic_exchange_n(&g->fatal_notified, true, __ATOMIC_ACQ_REL) && g->on_fatal)
		g->on_fatal(g->on_fatal_arg);
}

/* ---- host mappings -------------------------------------------------------------------------- */

/*
 * Make the block at pfn the host memory behind cluster c. A failed mmap (ENOMEM: the host is
 * short of memory or of mappings, vm.max_map_count) is tried GMEM_MAP_TRIES times in all,
 * GMEM_MAP_RETRY_US apart; then the caller stops service. (A MAP_FIXED mmap that fails may
 * have unmapped the range: a vCPU touching it meanwhile gets EFAULT from KVM, never data.)
 */
static int host_map(struct gmem *g, gpa_t c, pfn_t pfn)
{
	const struct gmem_pool *p = &g->pool[pfn_pool(g, pfn)];
	void *want = cluster_hva(g, c);
	unsigned tries = 0;
	bool injected;
	int err;

	for (;;) {
		void *got = MAP_FAILED;

		injected = faultinj_should_fail(g->fi, FI_MMAP, g->cluster_size,
						"mmap of pool frames at gpa", c);
		if (!injected) {
			MV_TSAN_MAPPING_BEGIN();    /* the kernel orders the vCPUs after this:
						       vmm/tsan.h */
			got = mmap(want, g->cluster_size, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_FIXED, p->memfd, (off_t)pfn_offset(g, pfn));
			MV_TSAN_MAPPING_END();
		}
		if (got != MAP_FAILED)
			break;
		err = injected ? ENOMEM : errno;
		if (++tries == GMEM_MAP_TRIES)
			return mv_fail(err, "mapping pool frames at gpa 0x%" PRIx64 ": %s, %u tries%s "
				       "(host mappings: see vm.max_map_count)", c, strerror(err),
				       tries, injected ? " (injected)" : "");
		stat_inc(g, &g->st.map_retries);
		usleep(GMEM_MAP_RETRY_US);
	}
	/* Map every page now, in one call, instead of one host fault per page. Only an
	 * optimisation (a kernel without MADV_POPULATE_WRITE faults them in as before), so the
	 * result is ignored. */
	(void)madvise(want, g->cluster_size, MADV_POPULATE_WRITE);
	return 0;
}

/*
 * Take [c, c + len) (whole clusters of one region, len <= GMEM_RESERVE_SIZE) out of the guest's
 * address space: move a piece of the registered reserve over it. Never called by a userfaultfd reader (the REMAP event needs one to complete).
 */
static int host_unmap(struct gmem *g, gpa_t c, uint64_t len)
{
	uint8_t *src = NULL;
	void *got;
	int err = 0;

	pthread_mutex_lock(&g->reserve_lock);
	if (g->reserve_left < len) {
		void *r = mmap(NULL, GMEM_RESERVE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		struct uffdio_register reg = { .range = { .start = (uint64_t)(uintptr_t)r,
							  .len = GMEM_RESERVE_SIZE },
					       .mode = UFFDIO_REGISTER_MODE_MISSING };

		bool injected = r != MAP_FAILED &&
				faultinj_should_fail(g->fi, FI_UFFD_FAIL, GMEM_RESERVE_SIZE,
						     "UFFDIO_REGISTER of the reserve for gpa", c);

		if (injected)
			errno = EINVAL;
		if (r == MAP_FAILED || injected || ioctl(g->uffd, UFFDIO_REGISTER, &reg) < 0) {
			err = mv_fail(errno, "cannot make spare registered memory for unmapping: %s%s",
				      strerror(errno), injected ? " (injected)" : "");
			if (r != MAP_FAILED)
				munmap(r, GMEM_RESERVE_SIZE);
			goto out;
		}
		if (g->reserve_left)
			munmap(g->reserve, g->reserve_left);
		g->reserve = r;
		g->reserve_left = GMEM_RESERVE_SIZE;
	}
	g->reserve_left -= len;
	src = g->reserve + g->reserve_left;
out:
	pthread_mutex_unlock(&g->reserve_lock);
	if (err)
		return err;
	got = mremap(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, cluster_hva(g, c));
	if (got == MAP_FAILED)
		return mv_fail(errno, "unmapping gpa 0x%" PRIx64 " (mremap): %s", c, strerror(errno));
	return 0;
}


/*
 * Frame contents move through the memfd with pread/pwrite and a per-thread bounce buffer, never
 * through the pool's own mapping (view): a frame the view had touched would carry page-table
 * entries there, and punching its hole later would have to tear them down (measured at ~20 µs a
 * page on this kind of host, docs/benchmarks.md), where an untouched one costs nothing.
 */
static pthread_key_t io_key;
static pthread_once_t io_once = PTHREAD_ONCE_INIT;

static void io_key_create(void)
{
	if (pthread_key_create(&io_key, free))
		mm_env_bug(__FILE__, __LINE__, "pthread_key_create failed");
}

static uint8_t *io_buffer(void)
{
	uint8_t *buf;

	pthread_once(&io_once, io_key_create);
	buf = pthread_getspecific(io_key);
	if (!buf) {
		buf = malloc((size_t)GMEM_MAX_CLUSTER_PAGES << MM_PAGE_SHIFT);
		if (buf && pthread_setspecific(io_key, buf)) {
			free(buf);
			buf = NULL;
		}
	}
	return buf;
}

/* Copy the block at pfn out of (write = false) or into (write = true) its pool's memfd. */
static int frames_io(struct gmem *g, pfn_t pfn, uint8_t *buf, bool write)
{
	int fd = g->pool[pfn_pool(g, pfn)].memfd;
	uint64_t off = pfn_offset(g, pfn), done = 0;

	while (done < g->cluster_size) {
		ssize_t n = write ? pwrite(fd, buf + done, g->cluster_size - done, (off_t)(off + done))
				  : pread(fd, buf + done, g->cluster_size - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mv_fail(n < 0 ? errno : EIO, "frame pool %s at pfn 0x%" PRIx64 ": %s",
				       write ? "write" : "read", pfn, n < 0 ? strerror(errno) : "short");
		done += (uint64_t)n;
	}
	return 0;
}

/* Read the block at pfn into this thread's bounce buffer, returned in *buf. */
static int frames_load(struct gmem *g, pfn_t pfn, uint8_t **buf)
{
	*buf = io_buffer();
	if (!*buf)
		return mv_fail(ENOMEM, "no memory for a bounce buffer");
	return frames_io(g, pfn, *buf, false);
}

/*
 * Give the host memory of nr consecutive blocks from pfn back, all in one pool (their frames
 * read as zero when next handed out): one hole punch for all of them.
 */
static int frames_release_blocks(struct gmem *g, pfn_t pfn, unsigned nr)
{
	const struct gmem_pool *p = &g->pool[pfn_pool(g, pfn)];
	uint8_t *buf;
	int err = 0;

	/* tmpfs always supports punching holes; should it fail, write zeros instead: the
	 * invariant "a free frame reads as zero" must hold either way. */
	if (!fallocate(p->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       (off_t)pfn_offset(g, pfn), (off_t)((uint64_t)nr * g->cluster_size)))
		return 0;
	buf = io_buffer();
	if (!buf)
		return mv_fail(ENOMEM, "cannot clear a freed block: no buffer");
	memset(buf, 0, g->cluster_size);
	for (unsigned i = 0; i < nr && !err; i++)
		err = frames_io(g, pfn + (pfn_t)i * g->cluster_pages, buf, true);
	return err;
}

/* Give a block's host memory back. */
static int frames_release(struct gmem *g, pfn_t pfn)
{
	return frames_release_blocks(g, pfn, 1);
}

/* ---- frames ------------------------------------------------------------------------------- */

/*
 * A refused allocation while node's pool is below its budget (the frame-alloc site, or the
 * allocator failing with frames free) counts towards GMEM_ALLOC_FAIL_LIMIT; the reclaimer stops
 * service there instead of waking the fault for ever.
 */
static int alloc_refused_locked(struct gmem *g, unsigned node, bool injected)
{
	if (g->pool[node].used < g->pool[node].limit) {
		g->st.alloc_failures++;
		g->alloc_fail_streak++;
		g->alloc_fail_injected = injected;
	}
	return -ENOMEM;
}

/* A block for cluster c of guest node `node`, following its policy. */
static int frames_alloc_locked(struct gmem *g, unsigned node, gpa_t c, pfn_t *pfn)
{
	unsigned flags = BUDDY_ALLOC_NO_WMARK;
	unsigned pool;
	int err;

	if (faultinj_should_fail(g->fi, FI_FRAME_ALLOC, g->cluster_size,
				 "frame allocation at gpa", c))
		return alloc_refused_locked(g, node, true);
	if (g->m->nodes[node].policy == MACHINE_POLICY_STRICT)
		flags |= BUDDY_ALLOC_THISNODE;
	err = buddy_alloc(&g->frames, node, g->cluster_order, flags, pfn);
	if (err)
		return g->pool[node].used + g->cluster_pages <= g->pool[node].limit &&
		       g->m->nodes[node].policy == MACHINE_POLICY_STRICT
			? alloc_refused_locked(g, node, false) : -ENOMEM;
	pool = pfn_pool(g, *pfn);
	if (g->pool[pool].used + g->cluster_pages > g->pool[pool].limit) {
		/* free frames, but above the pool's budget (gmem_set_budget lowered it) */
		if (buddy_free(&g->frames, *pfn, g->cluster_order))
			mm_env_bug(__FILE__, __LINE__, "buddy_free refused a block just allocated");
		return -ENOMEM;
	}
	g->pool[pool].used += g->cluster_pages;
	if (pool != node)
		g->st.node[pool].remote_allocs++;
	g->alloc_fail_streak = 0;
	return 0;
}

static void frames_free_locked(struct gmem *g, pfn_t pfn)
{
	unsigned pool = pfn_pool(g, pfn);

	g->rmap[block_index(g, pfn)] = GMEM_NO_GPA;
	g->pool[pool].used -= g->cluster_pages;
	if (buddy_free(&g->frames, pfn, g->cluster_order))
		mm_env_bug(__FILE__, __LINE__, "buddy_free refused a block gmem allocated");
}

/* Remember that a fault on c waits for a frame; the reclaim thread wakes it. */
static void wait_for_frame_locked(struct gmem *g, gpa_t c, unsigned node)
{
	uint8_t *f = &g->cflags[cluster_index(g, c)];

	g->st.faults_waited++;
	g->want_frames |= UINT32_C(1) << node;
	if (!(*f & GMEM_C_WAITING)) {
		*f |= GMEM_C_WAITING;
		if (g->nr_waiting < GMEM_MAX_WAITING)
			g->waiting[g->nr_waiting++] = c;
		else
			g->waiting_overflow = true;
	}
	pthread_cond_signal(&g->reclaim_cond);
}

/* Wake every fault waiting for a frame (they fault again and find one, or wait again). */
static void wake_waiters(struct gmem *g)
{
	gpa_t w[GMEM_MAX_WAITING];
	unsigned n;
	bool scan;

	pthread_mutex_lock(&g->lock);
	n = g->nr_waiting;
	memcpy(w, g->waiting, n * sizeof(w[0]));
	scan = g->waiting_overflow;
	g->nr_waiting = 0;
	g->waiting_overflow = false;
	for (unsigned i = 0; i < n; i++)
		g->cflags[cluster_index(g, w[i])] &= (uint8_t)~GMEM_C_WAITING;
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < n; i++)
		wake_range(g, w[i]);
	if (!scan)
		return;
	for (uint64_t ci = 0; ci < g->nr_clusters; ci++) {
		gpa_t c = ci << (MM_PAGE_SHIFT + g->cluster_order);
		bool was;

		pthread_mutex_lock(&g->lock);
		was = g->cflags[ci] & GMEM_C_WAITING;
		g->cflags[ci] &= (uint8_t)~GMEM_C_WAITING;
		pthread_mutex_unlock(&g->lock);
		if (was)
			wake_range(g, c);
	}
}

/* Balloon state counters of node `node`: add delta pages to the one for state st. */
static void balloon_count_locked(struct gmem *g, unsigned node, enum pt_state st, int64_t delta)
{
	uint64_t *c = st == PT_STATE_BALLOONED ? &g->st.node[node].pages_ballooned
					       : &g->st.node[node].pages_discarded;

	*c = (uint64_t)((int64_t)*c + delta);
}

/* ---- backing a cluster (faults and page-in) ------------------------------------------------- */

/*
 * Read cluster c's contents from swap slot `slot` into buf: GMEM_SWAP_READ_TRIES tries, then
 * an error naming the gpa (the guest never gets a page that was not read whole). No lock held.
 */
static int swap_in_read(struct gmem *g, gpa_t c, uint64_t slot, uint8_t *buf)
{
	char why[512];
	unsigned tries = 0;
	int err;

	while ((err = swap_read(g->swap, slot, buf, g->cluster_pages)) &&
	       ++tries < GMEM_SWAP_READ_TRIES)
		stat_inc(g, &g->st.swap_read_retries);
	if (!err)
		return 0;
	snprintf(why, sizeof(why), "%s", mv_error());      /* mv_fail rewrites it */
	return mv_fail(-err, "reading gpa 0x%" PRIx64 " back from swap failed %u times: %s", c,
		       GMEM_SWAP_READ_TRIES, why);
}

/*
 * Back cluster c (state none or swap, BUSY held by the caller, lock held) with the block at pfn:
 * read it from swap if needed, map it, record it. Drops and retakes the lock. On an I/O or
 * mapping error (after their retries) service fails; the cluster stays BUSY, so nothing stale
 * is ever mapped and its contents stay in their swap slot.
 */
static int cluster_back_locked(struct gmem *g, gpa_t c, pfn_t pfn, const struct cstate *cs,
			       bool fault)
{
	unsigned node = cluster_node(g, c);
	int err = 0;

	g->rmap[block_index(g, pfn)] = c;
	pthread_mutex_unlock(&g->lock);
	if (cs->state == PT_STATE_SWAP) {
		uint8_t *buf = io_buffer();

		err = buf ? swap_in_read(g, c, cs->slot, buf)
			  : mv_fail(ENOMEM, "no memory for a swap-in buffer");
		if (!err)
			err = frames_io(g, pfn, buf, true);
	}
	if (!err)
		err = host_map(g, c, pfn);
	pthread_mutex_lock(&g->lock);
	if (err) {
		gmem_fail_locked(g, err);
		return err;
	}
	s2_map_locked(g, c, pfn, true);
	if (cs->state == PT_STATE_SWAP) {
		swap_free(g->swap, cs->slot);
		g->st.node[node].pages_swapped -= g->cluster_pages;
		g->st.node[node].swap_ins++;
		g->st.node[node].swap_in_bytes += g->cluster_size;
		if (fault)
			g->st.node[node].faults_swapin++;
	} else if (cs->state == PT_STATE_BALLOONED || cs->state == PT_STATE_DISCARDED) {
		balloon_count_locked(g, node, cs->state, -(int64_t)g->cluster_pages);
		g->st.node[node].faults_balloon++;
	} else if (fault) {
		g->st.node[node].faults_zero++;
	}
	g->st.node[node].clusters_mapped++;
	cluster_unbusy_locked(g, c);
	return 0;
}

/* A mapped cluster whose A bit was cleared by a sample: map the same frames again. */
static int cluster_remap_locked(struct gmem *g, gpa_t c, pfn_t pfn)
{
	int err;

	pthread_mutex_unlock(&g->lock);
	err = host_map(g, c, pfn);
	pthread_mutex_lock(&g->lock);
	if (err) {
		gmem_fail_locked(g, err);
		return err;
	}
	s2_map_locked(g, c, pfn, true);
	g->st.node[cluster_node(g, c)].faults_minor++;
	cluster_unbusy_locked(g, c);
	return 0;
}

/* After fatal failure: make the cluster inaccessible so a waiting vCPU gets -EFAULT, not data. */
static void fault_refuse(struct gmem *g, gpa_t c)
{
	MV_TSAN_MAPPING_BEGIN();        /* as in host_map: vmm/tsan.h */
	mmap(cluster_hva(g, c), g->cluster_size, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	MV_TSAN_MAPPING_END();
	wake_range(g, c);
}

/* One userfaultfd page fault at host address hva (reader thread). */
static void gmem_fault(struct gmem *g, uint64_t hva)
{
	struct cstate cs;
	gpa_t gpa, c;
	pfn_t pfn;
	uint8_t *f;
	bool notify = false, wake = true, refuse;

	if (!hva_to_gpa(g, hva, &gpa))
		return;                 /* the reserve is never touched; nothing else is registered */
	c = gpa & ~(gpa_t)(g->cluster_size - 1);
	if (faultinj_should_fail(g->fi, FI_SLOW_FAULT, g->cluster_size, "fault service at gpa",
				 gpa))
		usleep((useconds_t)faultinj_delay_us(g->fi));
	f = &g->cflags[cluster_index(g, c)];
	pthread_mutex_lock(&g->lock);
	g->st.uffd_faults++;
	if (g->fatal) {
		refuse = g->refuse_after_fatal;
		pthread_mutex_unlock(&g->lock);
		gmem_notify_fatal(g);   /* the owner knows before any vCPU sees EFAULT */
		if (refuse)
			fault_refuse(g, c);
		return;         /* else it waits until gmem_destroy closes the userfaultfd */
	}
	if (*f & GMEM_C_BUSY) {         /* its owner wakes the range when done */
		g->st.faults_waited++;
		pthread_mutex_unlock(&g->lock);
		return;
	}
	cluster_state_locked(g, c, &cs);
	if (cs.state == PT_STATE_MAPPED) {
		if (!cs.accessed) {
			*f |= GMEM_C_BUSY;
			notify = cluster_remap_locked(g, c, cs.pfn) != 0;
		}
	} else if (frames_alloc_locked(g, cluster_node(g, c), c, &pfn)) {
		wait_for_frame_locked(g, c, cluster_node(g, c));
		wake = false;
	} else {
		*f |= GMEM_C_BUSY;
		notify = cluster_back_locked(g, c, pfn, &cs, true) != 0;
	}
	refuse = g->refuse_after_fatal;
	pthread_mutex_unlock(&g->lock);
	if (notify) {
		gmem_notify_fatal(g);
		/* the faulting thread must not wait for a cluster that will never be served */
		if (refuse)
			fault_refuse(g, c);
	} else if (wake) {
		wake_range(g, c);
	}
}

static void *gmem_reader(void *arg)
{
	struct gmem *g = arg;
	struct uffd_msg msg[GMEM_MSG_BATCH];

	seccomp_enter(THREAD_MEMORY, "uffd");

	for (;;) {
		struct pollfd pfd[2] = { { .fd = g->uffd, .events = POLLIN },
					 { .fd = g->stop_efd, .events = POLLIN } };
		ssize_t n;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		n = read(g->uffd, msg, sizeof(msg));
		if (n < 0)
			continue;       /* EAGAIN: another reader took it */
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
			if (msg[i].event == UFFD_EVENT_PAGEFAULT) {
				gmem_fault(g, msg[i].arg.pagefault.address);
			} else {
				/* REMAP from our own unmaps (read to let them complete); REMOVE
				 * only concerns registered ranges, which are never populated. */
				pthread_mutex_lock(&g->lock);
				g->st.uffd_events++;
				pthread_mutex_unlock(&g->lock);
			}
		}
	}
	return NULL;
}

/* ---- eviction and sampling ------------------------------------------------------------------ */

/*
 * A swap-out's write failed (no lock held; mv_error() is swap's message): count it, say so
 * (rate-limited), tell the owner (the MEMVISOR_SWAP_FAILURE event). The cluster stays resident:
 * its frames still hold the data, as Linux keeps a page whose swap write failed dirty in memory.
 */
static void swap_write_failed(struct gmem *g, gpa_t c)
{
	static const uint64_t window_ns = UINT64_C(1000000000);
	void (*fn)(void *, const char *);
	struct timespec ts;
	char msg[512];
	bool opened, print;
	void *arg;

	snprintf(msg, sizeof(msg), "%s", mv_error());
	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&g->lock);
	g->st.swap_write_failures++;
	print = ratelimit_take(&g->swap_fail_rl, (uint64_t)ts.tv_sec * 1000000000u +
			       (uint64_t)ts.tv_nsec, window_ns, 5, &opened);
	fn = g->on_swap_failure;
	arg = g->on_swap_failure_arg;
	pthread_mutex_unlock(&g->lock);
	if (print)
		fprintf(stderr, "memvisor: guest memory: swap-out of gpa 0x%" PRIx64 " failed, it "
			"stays in memory: %s\n", c, msg);
	if (fn)
		fn(arg, msg);
}

/*
 * Evict mapped cluster c (lock held, not BUSY): unmap it if the guest has it mapped, write it to
 * swap, free its frames. Returns 0, -ENOSPC (no swap, or full), -EAGAIN (the swap write failed:
 * the cluster stays resident, unmapped with A clear; service goes on), or the error that stopped
 * service. The lock is dropped and retaken.
 */
static int cluster_evict_locked(struct gmem *g, gpa_t c, const struct cstate *cs)
{
	unsigned node = cluster_node(g, c);
	uint64_t slot;
	int err, rel_err = 0;
	bool write_failed = false;

	if (!g->swap)
		return -ENOSPC;
	if (swap_alloc(g->swap, &slot))
		return -ENOSPC;
	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	pthread_mutex_unlock(&g->lock);
	err = cs->accessed ? host_unmap(g, c, g->cluster_size) : 0;
	if (!err) {
		uint8_t *buf;

		err = frames_load(g, cs->pfn, &buf);
		if (!err) {
			err = swap_write(g->swap, slot, buf, g->cluster_pages);
			write_failed = err != 0;
		}
	}
	if (write_failed)
		swap_write_failed(g, c);
	if (!err)
		rel_err = frames_release(g, cs->pfn);
	pthread_mutex_lock(&g->lock);
	if (err) {
		swap_free(g->swap, slot);       /* a failed write's slot holds nothing of use */
		if (cs->accessed)       /* unmapped but still backed: record A clear */
			s2_map_locked(g, c, cs->pfn, false);
		if (!write_failed)
			gmem_fail_locked(g, err);
		cluster_unbusy_locked(g, c);
		return write_failed ? -EAGAIN : err;
	}
	s2_set_swap_locked(g, c, slot);
	frames_free_locked(g, cs->pfn);
	g->st.node[node].clusters_mapped--;
	g->st.node[node].pages_swapped += g->cluster_pages;
	g->st.node[node].swap_outs++;
	g->st.node[node].swap_out_bytes += g->cluster_size;
	if (rel_err)                    /* the contents are safe in swap; the pool is not */
		gmem_fail_locked(g, rel_err);
	cluster_unbusy_locked(g, c);
	return rel_err;
}

/* CLOCK step on a mapped, accessed cluster: clear A and unmap it to see if it is touched again. */
static int cluster_sample_locked(struct gmem *g, gpa_t c, pfn_t pfn)
{
	int err;

	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	s2_map_locked(g, c, pfn, false);
	pthread_mutex_unlock(&g->lock);
	err = host_unmap(g, c, g->cluster_size);
	pthread_mutex_lock(&g->lock);
	if (err) {
		gmem_fail_locked(g, err);
		return err;
	}
	g->st.samples++;
	cluster_unbusy_locked(g, c);
	return 0;
}

/*
 * Free up to `want` blocks of pool `pool` with CLOCK: the hand walks the pool's blocks; an
 * accessed cluster gets a second chance (A cleared, unmapped: a sample), one not touched since
 * its last sample is written to swap. After a whole turn without a victim — every cluster was
 * touched again before the hand came back, i.e. more hot clusters than blocks — the hand evicts
 * whatever it meets next, accessed or not (CLOCK degrading to FIFO): the guest thrashes, but its
 * memory is still served. A cluster whose swap write fails stays; the hand moves on. Lock held
 * (dropped while working on a cluster). Returns blocks freed (0: every block was busy, try
 * again), -ENOSPC (no swap, or it is full), -EAGAIN (nothing freed, and swap writes failed:
 * mv_error() is the last one), or -errno when service failed.
 */
static long reclaim_pool_locked(struct gmem *g, unsigned pool, unsigned want)
{
	struct gmem_pool *p = &g->pool[pool];
	uint64_t nblocks = p->nr_frames >> g->cluster_order;
	long freed = 0;
	bool write_failed = false;

	for (uint64_t step = 0; step < 2 * nblocks && (unsigned long)freed < want; step++) {
		pfn_t pfn = p->base + (p->hand << g->cluster_order);
		gpa_t c = g->rmap[block_index(g, pfn)];
		bool evict;
		struct cstate cs;
		int err;

		p->hand = (p->hand + 1) % nblocks;
		g->st.reclaim_scans++;
		if (c == GMEM_NO_GPA || (g->cflags[cluster_index(g, c)] & GMEM_C_BUSY))
			continue;
		cluster_state_locked(g, c, &cs);
		if (cs.state != PT_STATE_MAPPED || cs.pfn != pfn)
			mm_env_bug(__FILE__, __LINE__, "reverse map disagrees with stage 2");
		evict = !cs.accessed || step >= nblocks;
		err = evict ? cluster_evict_locked(g, c, &cs) : cluster_sample_locked(g, c, pfn);
		pthread_mutex_unlock(&g->lock);
		wake_range(g, c);
		pthread_mutex_lock(&g->lock);
		if (g->fatal)
			return -g->fatal;
		if (err == -ENOSPC)
			return freed ? freed : -ENOSPC;
		write_failed |= err == -EAGAIN;
		if (!err && evict)
			freed++;
	}
	return !freed && write_failed ? -EAGAIN : freed;
}

static void *gmem_reclaimer(void *arg)
{
	struct gmem *g = arg;

	seccomp_enter(THREAD_MEMORY, "reclaim");

	pthread_mutex_lock(&g->lock);
	for (;;) {
		uint32_t want;
		bool progress = false, notify = false;

		while (!g->stopping && !g->want_frames)
			pthread_cond_wait(&g->reclaim_cond, &g->lock);
		if (g->stopping)
			break;
		want = g->want_frames;
		g->want_frames = 0;
		for (unsigned n = 0; n < g->m->nr_nodes && !g->fatal; n++) {
			long freed;

			if (!(want & (UINT32_C(1) << n)))
				continue;
			if (g->alloc_fail_streak >= GMEM_ALLOC_FAIL_LIMIT) {
				mv_fail(ENOMEM, "node %u: frame allocation failed %u times in a row "
					"with frames free in the budget%s", n, g->alloc_fail_streak,
					g->alloc_fail_injected ? " (injected)" : "");
				gmem_fail_locked(g, ENOMEM);
				notify = true;
				break;
			}
			/* Blocks freed by the last batch may not be taken yet: the faults that
			 * asked again meanwhile only need waking, there is nothing to evict. */
			if (g->pool[n].used < g->pool[n].limit) {
				progress = true;
				continue;
			}
			freed = reclaim_pool_locked(g, n, GMEM_RECLAIM_BLOCKS);
			if (freed != -EAGAIN)
				g->write_fail_rounds = 0;
			if (freed > 0) {
				progress = true;
			} else if (freed == -EAGAIN &&
				   ++g->write_fail_rounds >= GMEM_WRITE_FAIL_ROUNDS) {
				char why[512];

				snprintf(why, sizeof(why), "%s", mv_error());
				mv_fail(ENOMEM, "node %u: host memory budget (%" PRIu64 " KiB) is used "
					"up and no cluster could be written to host swap (%u rounds; "
					"last: %s)", n, g->pool[n].limit * MM_PAGE_SIZE >> 10,
					g->write_fail_rounds, why);
				gmem_fail_locked(g, ENOMEM);
				notify = true;
			} else if (freed == 0 || freed == -EAGAIN) {
				/* Every block busy for a moment (being filled, written, moved): let
				 * the waiters retry shortly rather than spin on the lock. */
				pthread_mutex_unlock(&g->lock);
				usleep(GMEM_BUSY_RETRY_US);
				pthread_mutex_lock(&g->lock);
				progress = true;
			} else if (freed == -ENOSPC) {
				mv_fail(ENOMEM, "node %u: host memory budget (%" PRIu64 " KiB) is used up "
					"and nothing can be evicted (%s)", n,
					g->pool[n].limit * MM_PAGE_SIZE >> 10,
					g->swap ? "host swap is full" : "no host swap: give --swap");
				gmem_fail_locked(g, ENOMEM);
				notify = true;
			} else {
				notify = true;
			}
		}
		pthread_mutex_unlock(&g->lock);
		if (notify)
			gmem_notify_fatal(g);
		if (progress || notify)
			wake_waiters(g);        /* after fatal, their faults come back and are refused */
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* ---- requests: page-out, page-in, migrate --------------------------------------------------- */

enum gmem_op { GMEM_OP_PAGE_OUT, GMEM_OP_PAGE_IN, GMEM_OP_MIGRATE };

/* Move mapped cluster c to pool `to` (lock held, not BUSY): unmap, copy, map, free the old. */
static int cluster_migrate_locked(struct gmem *g, gpa_t c, const struct cstate *cs, unsigned to)
{
	unsigned from = pfn_pool(g, cs->pfn);
	pfn_t pfn;
	int err;

	if (g->pool[to].used + g->cluster_pages > g->pool[to].limit ||
	    buddy_alloc(&g->frames, to, g->cluster_order,
			BUDDY_ALLOC_NO_WMARK | BUDDY_ALLOC_THISNODE, &pfn))
		return mv_fail(ENOMEM, "node %u's pool has no free frame for the cluster at gpa "
			       "0x%" PRIx64 " (pages moved so far stay moved)", to, c);
	g->pool[to].used += g->cluster_pages;
	g->rmap[block_index(g, pfn)] = c;
	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	pthread_mutex_unlock(&g->lock);
	/* Unmapped during the copy: a guest write now waits for the new mapping, none is lost. */
	err = cs->accessed ? host_unmap(g, c, g->cluster_size) : 0;
	if (!err) {
		uint8_t *buf;

		err = frames_load(g, cs->pfn, &buf);
		if (!err)
			err = frames_io(g, pfn, buf, true);
		if (!err)
			err = host_map(g, c, pfn);
	}
	if (!err)
		err = frames_release(g, cs->pfn);
	pthread_mutex_lock(&g->lock);
	if (err) {
		gmem_fail_locked(g, err);
		return err;
	}
	s2_map_locked(g, c, pfn, true);
	frames_free_locked(g, cs->pfn);
	g->st.node[from].migrations_out++;
	g->st.node[to].migrations_in++;
	cluster_unbusy_locked(g, c);
	return 0;
}

/*
 * Page cluster c in now (lock held, not BUSY, state swap), reclaiming on this thread (a request
 * thread, never a reader) if the pool is full. *changed: this call read it back.
 */
static int cluster_page_in_locked(struct gmem *g, gpa_t c, struct cstate cs, bool *changed)
{
	unsigned node = cluster_node(g, c);
	pfn_t pfn;
	int err;

	*changed = false;
	if (frames_alloc_locked(g, node, c, &pfn)) {
		if (reclaim_pool_locked(g, node, 1) <= 0 || g->fatal ||
		    frames_alloc_locked(g, node, c, &pfn))
			return g->fatal ? -EIO : mv_fail(ENOMEM, "node %u's pool has no free "
							 "frame for the cluster at gpa 0x%" PRIx64
							 " and nothing can be evicted", node, c);
		/* the lock was dropped: the cluster may have been faulted in meanwhile */
		cluster_state_locked(g, c, &cs);
		if (cs.state != PT_STATE_SWAP || (g->cflags[cluster_index(g, c)] & GMEM_C_BUSY)) {
			frames_free_locked(g, pfn);
			return 0;
		}
	}
	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	err = cluster_back_locked(g, c, pfn, &cs, false);
	*changed = !err;
	return err;
}

/* Apply op to cluster c; *changed: it changed state. */
static int request_cluster(struct gmem *g, gpa_t c, enum gmem_op op, unsigned to, bool *changed)
{
	struct cstate cs;
	int err = 0;

	*changed = false;
	pthread_mutex_lock(&g->lock);
	while ((g->cflags[cluster_index(g, c)] & GMEM_C_BUSY) && !g->fatal)
		pthread_cond_wait(&g->busy_cond, &g->lock);
	if (g->fatal) {
		pthread_mutex_unlock(&g->lock);
		return -EIO;
	}
	cluster_state_locked(g, c, &cs);
	switch (op) {
	case GMEM_OP_PAGE_OUT:          /* done in runs by page_out_run() */
		break;
	case GMEM_OP_PAGE_IN:
		if (cs.state == PT_STATE_SWAP)
			err = cluster_page_in_locked(g, c, cs, changed);
		break;
	case GMEM_OP_MIGRATE:
		if (cs.state == PT_STATE_MAPPED && pfn_pool(g, cs.pfn) != to) {
			err = cluster_migrate_locked(g, c, &cs, to);
			*changed = !err;
		}
		break;
	}
	pthread_mutex_unlock(&g->lock);
	wake_range(g, c);
	if (__atomic_load_n(&g->fatal, __ATOMIC_ACQUIRE))
		gmem_notify_fatal(g);
	return err;
}

#define GMEM_PAGE_OUT_RUN 256              /* clusters handled with one unmap */

/* One cluster of a run (page-out, balloon). */
struct run_cluster {
	gpa_t c;
	struct cstate cs;
	uint64_t slot;
};

/*
 * Runs of clusters, shared by page-out and the balloon: each mremap costs a userfaultfd event
 * round trip, which per cluster dominated page-out (docs/benchmarks.md), so a run of up to
 * GMEM_PAGE_OUT_RUN consecutive clusters is taken BUSY under the lock (run_begin), worked on
 * outside it with ONE unmap, then settled cluster by cluster under the lock, unbusied, and its
 * range woken once (run_end). The operation says which clusters a run takes and what becomes
 * of each.
 */
struct run_ops {
	bool whole;         /* take only clusters wholly below `end` (else any that starts there) */
	/* lock held, rc->c and rc->cs filled: take it (true) or end the run before it (false;
	 * *err is the request's result when the run is empty) */
	bool (*take)(struct gmem *g, struct run_cluster *rc, unsigned n, void *arg, int *err);
	/* lock held, still BUSY: record run[i]'s new state */
	void (*settle)(struct gmem *g, const struct run_cluster *rc, unsigned i, void *arg);
};

/*
 * Take the run from c on (not past `end` nor c's region): a first cluster that is busy is waited
 * for, the run stops at the next busy one or where ops->take says. *next: where to go on. The
 * clusters taken (0: *err is the result).
 */
static unsigned run_begin(struct gmem *g, gpa_t c, gpa_t end, const struct run_ops *ops,
			  void *arg, struct run_cluster *run, gpa_t *next, int *err)
{
	const struct guest_mem_region *r = guest_mem_find(g->gm, c);
	unsigned max = GMEM_PAGE_OUT_RUN, n = 0;

	*err = 0;
	if (max > GMEM_RESERVE_SIZE / g->cluster_size)
		max = (unsigned)(GMEM_RESERVE_SIZE / g->cluster_size);
	pthread_mutex_lock(&g->lock);
	while ((g->cflags[cluster_index(g, c)] & GMEM_C_BUSY) && !g->fatal)
		pthread_cond_wait(&g->busy_cond, &g->lock);
	for (gpa_t x = c; !g->fatal && n < max && x < r->gpa + r->size &&
	     (ops->whole ? x + g->cluster_size <= end : x < end); x += g->cluster_size) {
		struct run_cluster *rc = &run[n];

		if (g->cflags[cluster_index(g, x)] & GMEM_C_BUSY)
			break;
		rc->c = x;
		cluster_state_locked(g, x, &rc->cs);
		if (!ops->take(g, rc, n, arg, err))
			break;
		g->cflags[cluster_index(g, x)] |= GMEM_C_BUSY;
		n++;
	}
	if (g->fatal)
		*err = -EIO;
	pthread_mutex_unlock(&g->lock);
	*next = c + (n ? n : 1) * g->cluster_size;
	return n;
}

/* Settle, unbusy and wake the run; err (0 or an errno) stops service for good. */
static void run_end(struct gmem *g, const struct run_cluster *run, unsigned n, int err,
		    const struct run_ops *ops, void *arg)
{
	pthread_mutex_lock(&g->lock);
	for (unsigned i = 0; i < n; i++) {
		ops->settle(g, &run[i], i, arg);
		cluster_unbusy_locked(g, run[i].c);
	}
	if (err)
		gmem_fail_locked(g, err);
	pthread_mutex_unlock(&g->lock);
	wake_clusters(g, run[0].c, n);
	if (err)
		gmem_notify_fatal(g);
}

/*
 * Write the run's clusters out, in order; returns how many are in swap (on an error in *err the
 * rest are still backed by their frames; *write_failed: the error was a swap write's).
 */
static unsigned page_out_run_io(struct gmem *g, const struct run_cluster *run, unsigned n,
				int *err, bool *write_failed)
{
	uint8_t *buf;

	*err = 0;
	*write_failed = false;
	for (unsigned i = 0; i < n; i++) {
		*err = frames_load(g, run[i].cs.pfn, &buf);
		if (!*err) {
			*err = swap_write(g->swap, run[i].slot, buf, g->cluster_pages);
			*write_failed = *err != 0;
		}
		if (*err)
			return i;
		*err = frames_release(g, run[i].cs.pfn);
		if (*err)
			return i + 1;   /* its contents are safe in swap: count it as paged out */
	}
	return n;
}

struct page_out_ctx {
	unsigned done;              /* run[0..done) are in swap */
	uint64_t *pages;
};

/* Page-out takes mapped clusters while there is swap for them. */
static bool page_out_take(struct gmem *g, struct run_cluster *rc, unsigned n, void *arg,
			  int *err)
{
	(void)arg;
	if (rc->cs.state != PT_STATE_MAPPED)
		return false;
	if (!g->swap || swap_alloc(g->swap, &rc->slot)) {
		*err = n ? 0 : -ENOSPC;
		return false;
	}
	return true;
}

static void page_out_settle(struct gmem *g, const struct run_cluster *rc, unsigned i, void *arg)
{
	struct page_out_ctx *ctx = arg;
	unsigned node = cluster_node(g, rc->c);

	if (i < ctx->done) {
		s2_set_swap_locked(g, rc->c, rc->slot);
		frames_free_locked(g, rc->cs.pfn);
		g->st.node[node].clusters_mapped--;
		g->st.node[node].pages_swapped += g->cluster_pages;
		g->st.node[node].swap_outs++;
		g->st.node[node].swap_out_bytes += g->cluster_size;
		*ctx->pages += g->cluster_pages;
	} else {
		/* still backed, no longer mapped: A clear says so */
		swap_free(g->swap, rc->slot);
		s2_map_locked(g, rc->c, rc->cs.pfn, false);
	}
}

static const struct run_ops page_out_ops = { false, page_out_take, page_out_settle };

/*
 * Page out the mapped clusters from c on (not past `end` nor c's region) as one run: a first
 * cluster that is busy is waited for, one not mapped is skipped. *next: where to go on.
 * Returns 0, -ENOSPC (no swap / full) or the error that stopped service.
 */
static int page_out_run(struct gmem *g, gpa_t c, gpa_t end, gpa_t *next, uint64_t *pages)
{
	struct run_cluster run[GMEM_PAGE_OUT_RUN];
	struct page_out_ctx ctx = { 0, pages };
	bool write_failed = false;
	unsigned n;
	int err;

	n = run_begin(g, c, end, &page_out_ops, &ctx, run, next, &err);
	if (!n)
		return err;
	err = host_unmap(g, c, n * g->cluster_size);
	ctx.done = err ? 0 : page_out_run_io(g, run, n, &err, &write_failed);
	if (write_failed)
		swap_write_failed(g, run[ctx.done].c);  /* mv_error() is still swap's message */
	/* a failed swap write fails this request only: the clusters stay in memory (not fatal) */
	run_end(g, run, n, write_failed ? 0 : err, &page_out_ops, &ctx);
	return err;
}

static int request_reject(struct gmem *g, int err, const char *fmt, gpa_t gpa, uint64_t len)
{
	pthread_mutex_lock(&g->lock);
	g->st.requests_rejected++;
	pthread_mutex_unlock(&g->lock);
	return mv_fail(err, fmt, gpa, len);
}

/* [gpa, gpa + len): page-aligned, non-empty, no overflow, wholly guest RAM. */
static int request_check_range(struct gmem *g, gpa_t gpa, uint64_t len)
{
	gpa_t cursor = gpa;

	if (!len || (gpa | len) % MM_PAGE_SIZE)
		return request_reject(g, EINVAL, "range 0x%" PRIx64 "+0x%" PRIx64 " is empty or not "
				      "page-aligned", gpa, len);
	if (gpa + len < gpa)
		return request_reject(g, ERANGE, "range 0x%" PRIx64 "+0x%" PRIx64 " overflows",
				      gpa, len);
	while (cursor < gpa + len) {
		const struct guest_mem_region *r = guest_mem_find(g->gm, cursor);

		if (!r)
			return request_reject(g, ERANGE, "range 0x%" PRIx64 "+0x%" PRIx64 " is not "
					      "wholly guest RAM", gpa, len);
		cursor = r->gpa + r->size;
	}
	return 0;
}

static int gmem_request(struct gmem *g, gpa_t gpa, uint64_t len, enum gmem_op op, unsigned to,
			uint64_t *pages)
{
	gpa_t first, end;
	int err;

	*pages = 0;
	err = request_check_range(g, gpa, len);
	if (err)
		return err;
	pthread_mutex_lock(&g->lock);
	g->st.requests++;
	pthread_mutex_unlock(&g->lock);
	first = gpa & ~(gpa_t)(g->cluster_size - 1);
	end = gpa + len;
	for (gpa_t c = first, next; c < end; c = next) {
		bool changed;

		if (op == GMEM_OP_PAGE_OUT) {
			err = page_out_run(g, c, end, &next, pages);
			if (err)
				return err;
			continue;
		}
		next = c + g->cluster_size;
		err = request_cluster(g, c, op, to, &changed);
		if (err)
			return err;
		if (changed)
			*pages += g->cluster_pages;
	}
	return 0;
}

int gmem_page_out(struct gmem *g, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	return gmem_request(g, gpa, len, GMEM_OP_PAGE_OUT, 0, pages);
}

int gmem_page_in(struct gmem *g, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	return gmem_request(g, gpa, len, GMEM_OP_PAGE_IN, 0, pages);
}

int gmem_migrate(struct gmem *g, gpa_t gpa, uint64_t len, unsigned to, uint64_t *pages)
{
	if (to >= g->m->nr_nodes) {
		*pages = 0;
		return request_reject(g, ERANGE, "migration target node of 0x%" PRIx64 "+0x%" PRIx64
				      " does not exist", gpa, len);
	}
	return gmem_request(g, gpa, len, GMEM_OP_MIGRATE, to, pages);
}

static int gmem_node_request(struct gmem *g, unsigned node, enum gmem_op op, unsigned to,
			     uint64_t *pages)
{
	const struct machine_node *n;

	*pages = 0;
	if (node >= g->m->nr_nodes || (op == GMEM_OP_MIGRATE && to >= g->m->nr_nodes)) {
		pthread_mutex_lock(&g->lock);
		g->st.requests_rejected++;
		pthread_mutex_unlock(&g->lock);
		return mv_fail(ERANGE, "node %u%s does not exist (the machine has %u nodes)",
			       node >= g->m->nr_nodes ? node : to,
			       node >= g->m->nr_nodes ? "" : " (migration target)", g->m->nr_nodes);
	}
	n = &g->m->nodes[node];
	for (unsigned r = 0; r < n->nr_ranges; r++) {
		uint64_t done;
		int err = gmem_request(g, n->ranges[r].gpa, n->ranges[r].size, op, to, &done);

		*pages += done;
		if (err)
			return err;
	}
	return 0;
}

int gmem_node_page_out(struct gmem *g, unsigned node, uint64_t *pages)
{
	return gmem_node_request(g, node, GMEM_OP_PAGE_OUT, 0, pages);
}

int gmem_node_page_in(struct gmem *g, unsigned node, uint64_t *pages)
{
	return gmem_node_request(g, node, GMEM_OP_PAGE_IN, 0, pages);
}

int gmem_node_migrate(struct gmem *g, unsigned node, unsigned to, uint64_t *pages)
{
	return gmem_node_request(g, node, GMEM_OP_MIGRATE, to, pages);
}

/* ---- balloon -------------------------------------------------------------------------------- */

/* Cluster rc (BUSY, lock held) leaves its old state for `to` (released: its frames are free). */
static void balloon_cluster_locked(struct gmem *g, const struct run_cluster *rc, enum pt_state to,
				   uint64_t *pages)
{
	unsigned node = cluster_node(g, rc->c);
	struct pgtable_flush fl = { 0 };

	switch (rc->cs.state) {
	case PT_STATE_MAPPED:
		frames_free_locked(g, rc->cs.pfn);
		g->st.node[node].clusters_mapped--;
		break;
	case PT_STATE_SWAP:
		swap_free(g->swap, rc->cs.slot);
		g->st.node[node].pages_swapped -= g->cluster_pages;
		break;
	case PT_STATE_BALLOONED:
	case PT_STATE_DISCARDED:
		balloon_count_locked(g, node, rc->cs.state, -(int64_t)g->cluster_pages);
		break;
	default:
		break;
	}
	balloon_count_locked(g, node, to, g->cluster_pages);
	if (rc->cs.state != to)
		*pages += g->cluster_pages;
	if (pgtable_set_state(&g->s2, rc->c, g->cluster_size, PT_SIZE_4K, to, 0, &fl))
		mm_env_bug(__FILE__, __LINE__, "stage-2 set_state failed (out of memory for tables)");
}

struct balloon_ctx {
	enum pt_state to;
	bool unmap;                 /* some cluster of the run is mapped in the guest */
	bool unmapped;              /* ... and the run was unmapped */
	unsigned released;          /* run[0..released) gave their frames back (or had none) */
	uint64_t *pages;
};

/* The balloon takes every cluster. */
static bool balloon_take(struct gmem *g, struct run_cluster *rc, unsigned n, void *arg,
			 int *err)
{
	struct balloon_ctx *ctx = arg;

	(void)g;
	(void)n;
	(void)err;
	ctx->unmap |= rc->cs.state == PT_STATE_MAPPED && rc->cs.accessed;
	return true;
}

static void balloon_settle(struct gmem *g, const struct run_cluster *rc, unsigned i, void *arg)
{
	const struct balloon_ctx *ctx = arg;

	if (i < ctx->released)
		balloon_cluster_locked(g, rc, ctx->to, ctx->pages);
	else if (ctx->unmapped && rc->cs.state == PT_STATE_MAPPED && rc->cs.accessed)
		s2_map_locked(g, rc->c, rc->cs.pfn, false);   /* unmapped, still backed */
}

static const struct run_ops balloon_ops = { true, balloon_take, balloon_settle };

/*
 * Give the frames of the run's mapped clusters back, those with consecutive blocks of one pool
 * in one hole punch each (a run of clusters the guest touched in order usually is one).
 * ctx->released: how many clusters from the first are done; *err stops it.
 */
static int balloon_release(struct gmem *g, const struct run_cluster *run, unsigned n,
			   struct balloon_ctx *ctx)
{
	int err = 0;

	while (!err && ctx->released < n) {
		const struct run_cluster *first = &run[ctx->released];
		unsigned k = 1;

		if (first->cs.state != PT_STATE_MAPPED) {
			ctx->released++;
			continue;
		}
		while (ctx->released + k < n && first[k].cs.state == PT_STATE_MAPPED &&
		       first[k].cs.pfn == first->cs.pfn + (pfn_t)k * g->cluster_pages &&
		       pfn_pool(g, first[k].cs.pfn) == pfn_pool(g, first->cs.pfn))
			k++;
		err = frames_release_blocks(g, first->cs.pfn, k);
		if (!err)                       /* on failure all k keep their frames */
			ctx->released += k;
	}
	return err;
}

/*
 * Balloon the whole clusters from c on (below `end`, inside c's region) as one run: unmap it
 * with ONE mremap if any is mapped in the guest, give the mapped ones' frames back (hole punches
 * merged over consecutive blocks), record state `to`. *next: where to go on.
 */
static int balloon_run(struct gmem *g, gpa_t c, gpa_t end, enum pt_state to, gpa_t *next,
		       uint64_t *pages)
{
	struct run_cluster run[GMEM_PAGE_OUT_RUN];
	struct balloon_ctx ctx = { .to = to, .pages = pages };
	unsigned n;
	int err;

	n = run_begin(g, c, end, &balloon_ops, &ctx, run, next, &err);
	if (!n)
		return err;
	/* Unmapped ones are registered reserve already; moving reserve over them is harmless. */
	err = ctx.unmap ? host_unmap(g, c, n * g->cluster_size) : 0;
	ctx.unmapped = ctx.unmap && !err;
	if (!err)
		err = balloon_release(g, run, n, &ctx);
	run_end(g, run, n, err, &balloon_ops, &ctx);
	return err;
}

int gmem_balloon(struct gmem *g, gpa_t gpa, uint64_t len, bool discard, uint64_t *pages)
{
	enum pt_state to = discard ? PT_STATE_DISCARDED : PT_STATE_BALLOONED;
	gpa_t first, end;
	int err;

	*pages = 0;
	err = request_check_range(g, gpa, len);
	if (err)
		return err;
	pthread_mutex_lock(&g->lock);
	g->st.requests++;
	pthread_mutex_unlock(&g->lock);
	first = (gpa + g->cluster_size - 1) & ~(gpa_t)(g->cluster_size - 1);
	end = (gpa + len) & ~(gpa_t)(g->cluster_size - 1);
	for (gpa_t c = first, next; c < end; c = next) {
		err = balloon_run(g, c, end, to, &next, pages);
		if (err)
			return err;
	}
	return 0;
}

int gmem_deflate(struct gmem *g, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	gpa_t first, end;
	int err;

	*pages = 0;
	err = request_check_range(g, gpa, len);
	if (err)
		return err;
	first = (gpa + g->cluster_size - 1) & ~(gpa_t)(g->cluster_size - 1);
	end = (gpa + len) & ~(gpa_t)(g->cluster_size - 1);
	pthread_mutex_lock(&g->lock);
	g->st.requests++;
	for (gpa_t c = first; c < end; c += g->cluster_size) {
		struct pgtable_flush fl = { 0 };
		struct cstate cs;

		while ((g->cflags[cluster_index(g, c)] & GMEM_C_BUSY) && !g->fatal)
			pthread_cond_wait(&g->busy_cond, &g->lock);
		if (g->fatal) {
			pthread_mutex_unlock(&g->lock);
			return -EIO;
		}
		cluster_state_locked(g, c, &cs);
		if (cs.state != PT_STATE_BALLOONED)
			continue;
		if (pgtable_unmap(&g->s2, c, g->cluster_size, &fl))
			mm_env_bug(__FILE__, __LINE__, "stage-2 unmap failed (out of memory for tables)");
		balloon_count_locked(g, cluster_node(g, c), cs.state, -(int64_t)g->cluster_pages);
		*pages += g->cluster_pages;
	}
	pthread_mutex_unlock(&g->lock);
	return 0;
}


int gmem_flush_page(struct gmem *g, gpa_t gpa)
{
	gpa_t page = gpa & ~(gpa_t)(MM_PAGE_SIZE - 1);
	gpa_t c = gpa & ~(gpa_t)(g->cluster_size - 1);
	uint8_t *hva = guest_mem_ptr(g->gm, page, MM_PAGE_SIZE);
	int err = 0;

	if (!hva)
		return mv_fail(EINVAL, "flush of gpa 0x%" PRIx64 ": not guest RAM", gpa);
	pthread_mutex_lock(&g->lock);
	while ((g->cflags[cluster_index(g, c)] & GMEM_C_BUSY) && !g->fatal)
		pthread_cond_wait(&g->busy_cond, &g->lock);
	if (g->fatal) {
		pthread_mutex_unlock(&g->lock);
		return -EIO;
	}
	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	pthread_mutex_unlock(&g->lock);
	if (mprotect(hva, MM_PAGE_SIZE, PROT_READ) < 0 ||
	    mprotect(hva, MM_PAGE_SIZE, PROT_READ | PROT_WRITE) < 0)
		err = mv_fail(errno, "flush of gpa 0x%" PRIx64 ": mprotect: %s", gpa, strerror(errno));
	pthread_mutex_lock(&g->lock);
	cluster_unbusy_locked(g, c);
	pthread_mutex_unlock(&g->lock);
	wake_range(g, c);               /* a vCPU may have faulted on it meanwhile */
	return err;
}
/* ---- budgets ------------------------------------------------------------------------------ */

int gmem_set_budget(struct gmem *g, unsigned node, uint64_t bytes)
{
	struct gmem_pool *p;
	uint64_t old, frames = bytes >> MM_PAGE_SHIFT;
	unsigned tries = 0;
	long freed;
	int err = 0;
	bool write_err = false;

	if (node >= g->m->nr_nodes)
		return mv_fail(ERANGE, "node %u does not exist (the machine has %u)", node,
			       g->m->nr_nodes);
	p = &g->pool[node];
	if (!bytes || bytes % g->cluster_size)
		return mv_fail(EINVAL, "node %u: budget %" PRIu64 " is not a non-zero multiple of "
			       "the cluster (%" PRIu64 " KiB)", node, bytes, g->cluster_size >> 10);
	if (frames > p->nr_frames)
		return mv_fail(EINVAL, "node %u: budget %" PRIu64 " KiB is above the pool made at "
			       "start (%" PRIu64 " KiB, the --numa budget); pools do not grow", node,
			       bytes >> 10, p->nr_frames << MM_PAGE_SHIFT >> 10);
	pthread_mutex_lock(&g->lock);
	old = p->limit;
	p->limit = frames;              /* from now no allocation takes the pool above it */
	while (!err && p->used > p->limit) {
		freed = g->fatal ? -g->fatal
				 : reclaim_pool_locked(g, node, (unsigned)((p->used - p->limit) >>
								  g->cluster_order));
		if (freed == 0 && ++tries < GMEM_BUDGET_TRIES) {
			pthread_mutex_unlock(&g->lock);     /* every block busy for a moment */
			usleep(GMEM_BUSY_RETRY_US);
			pthread_mutex_lock(&g->lock);
		} else if (freed == 0) {
			err = -EBUSY;
		} else if (freed == -EAGAIN) {
			err = -EIO;             /* swap writes failed: mv_error() says which */
			write_err = true;
		} else if (freed < 0) {
			err = (int)freed;
		}
	}
	if (err)
		p->limit = old;
	pthread_mutex_unlock(&g->lock);
	if (err == -ENOSPC)
		return mv_fail(ENOSPC, "node %u: cannot evict down to %" PRIu64 " KiB (%s); the budget "
			       "stays %" PRIu64 " KiB", node, bytes >> 10, g->swap ? "host swap is "
			       "full" : "no host swap", old << MM_PAGE_SHIFT >> 10);
	if (write_err) {
		char why[512];

		snprintf(why, sizeof(why), "%s", mv_error());
		return mv_fail(EIO, "node %u: cannot evict down to %" PRIu64 " KiB: %s; the budget "
			       "stays %" PRIu64 " KiB", node, bytes >> 10, why,
			       old << MM_PAGE_SHIFT >> 10);
	}
	if (err)
		return mv_fail(-err, "node %u: cannot evict down to %" PRIu64 " KiB: %s; the budget "
			       "stays %" PRIu64 " KiB", node, bytes >> 10, strerror(-err),
			       old << MM_PAGE_SHIFT >> 10);
	if (frames > old)
		wake_waiters(g);        /* faults waiting for a frame may find one now */
	return 0;
}

/* ---- setup and teardown --------------------------------------------------------------------- */

static int s2_table_alloc(void *arg, phys_addr_t *table)
{
	void *p = aligned_alloc(MM_PAGE_SIZE, MM_PAGE_SIZE);

	(void)arg;
	if (!p)
		return -MM_ENOMEM;
	memset(p, 0, MM_PAGE_SIZE);
	*table = (phys_addr_t)(uintptr_t)p;
	return 0;
}

static void s2_table_free(void *arg, phys_addr_t table)
{
	(void)arg;
	free((void *)(uintptr_t)table);
}

/* The VMM's stage-2 table pages live in its heap: their "physical" address is the pointer. */
static void *s2_phys_to_virt(void *arg, phys_addr_t pa)
{
	(void)arg;
	return (void *)(uintptr_t)pa;
}

static int pool_create(struct gmem *g, unsigned n, pfn_t base, uint64_t frames)
{
	struct gmem_pool *p = &g->pool[n];
	const struct machine_node *node = &g->m->nodes[n];
	uint64_t bytes = frames << MM_PAGE_SHIFT;
	char name[32];
	struct stat sb;
	int err;

	p->base = base;
	p->nr_frames = frames;
	p->limit = frames;
	snprintf(name, sizeof(name), "memvisor-node%u", n);
	p->memfd = memfd_create(name, MFD_CLOEXEC);
	if (p->memfd < 0 || ftruncate(p->memfd, (off_t)bytes) || fstat(p->memfd, &sb))
		return mv_fail(errno, "node %u: cannot create its frame pool (memfd, %" PRIu64
			       " KiB): %s", n, bytes >> 10, strerror(errno));
	p->ino = (unsigned long)sb.st_ino;
	p->view = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
	if (p->view == MAP_FAILED) {
		p->view = NULL;
		return mv_fail(errno, "node %u: cannot map its frame pool: %s", n, strerror(errno));
	}
	if (node->host_node >= 0) {
		/* on a shared memfd mapping this sets the file's shared policy: every mapping of
		 * its pages, the guest's included, allocates on host_node */
		err = ram_bind(p->view, bytes, node->host_node);
		if (err)
			return mv_fail(-err, "node %u: cannot bind its frame pool to host node %d: %s",
				       n, node->host_node, strerror(-err));
	}
	return 0;
}

static int frames_create(struct gmem *g)
{
	struct buddy_range ranges[MM_MAX_NODES];
	struct buddy_config cfg = { .ranges = ranges, .nr_ranges = g->m->nr_nodes,
				    .flags = BUDDY_CFG_NO_PCP | BUDDY_CFG_NO_WATERMARKS };
	struct numa_distance dist = { .nr_nodes = g->m->nr_nodes };
	size_t meta;
	int err;

	for (unsigned n = 0; n < g->m->nr_nodes; n++) {
		ranges[n] = (struct buddy_range){ .start = g->pool[n].base,
						  .nr_pages = g->pool[n].nr_frames, .node = n };
		for (unsigned j = 0; j < g->m->nr_nodes; j++)
			dist.d[n][j] = g->m->nodes[n].distance[j];
	}
	cfg.distance = &dist;       /* preferred policy falls back to the nearest pool first */
	meta = buddy_meta_size(ranges, g->m->nr_nodes);
	g->buddy_meta = meta ? malloc(meta) : NULL;
	if (!g->buddy_meta)
		return mv_fail(ENOMEM, "no memory for the frame allocator's metadata");
	err = buddy_init(&g->frames, &cfg, g->buddy_meta, meta);
	if (err)
		return mv_fail(EINVAL, "frame allocator: buddy_init failed (%d)", err);
	return 0;
}

unsigned gmem_cluster_pages(const struct machine_config *m, unsigned requested)
{
	unsigned cp;

	if (requested)
		return requested;
	for (cp = GMEM_DEFAULT_CLUSTER; cp > 1; cp /= 2) {
		uint64_t bytes = (uint64_t)cp << MM_PAGE_SHIFT;
		bool fits = true;

		for (unsigned n = 0; n < m->nr_nodes; n++)
			for (unsigned r = 0; r < m->nodes[n].nr_ranges; r++)
				fits &= (m->nodes[n].ranges[r].gpa | m->nodes[n].ranges[r].size) %
					bytes == 0;
		if (fits)
			break;
	}
	return cp;
}

/* Cluster size, budgets and region alignment: everything the engine relies on. */
static int gmem_check_config(struct gmem *g, const struct gmem_config *cfg)
{
	unsigned cp = gmem_cluster_pages(g->m, cfg->cluster_pages);

	if (cp > GMEM_MAX_CLUSTER_PAGES || (cp & (cp - 1)))
		return mv_fail(EINVAL, "cluster of %u pages: must be a power of two up to %d", cp,
			       GMEM_MAX_CLUSTER_PAGES);
	if (cfg->fault_threads > GMEM_MAX_FAULT_THREADS)
		return mv_fail(EINVAL, "%u fault threads: at most %d", cfg->fault_threads,
			       GMEM_MAX_FAULT_THREADS);
	g->cluster_pages = cp;
	g->cluster_order = (unsigned)__builtin_ctz(cp);
	g->cluster_size = (uint64_t)cp << MM_PAGE_SHIFT;
	for (unsigned i = 0; i < g->gm->nr; i++)
		if ((g->gm->r[i].gpa | g->gm->r[i].size) % g->cluster_size)
			return mv_fail(EINVAL, "node %u: RAM at 0x%" PRIx64 "+0x%" PRIx64 " is not a "
				       "multiple of the %" PRIu64 " KiB cluster", g->gm->r[i].node,
				       g->gm->r[i].gpa, g->gm->r[i].size, g->cluster_size >> 10);
	for (unsigned n = 0; n < g->m->nr_nodes; n++)
		if (g->m->nodes[n].budget < g->cluster_size)
			return mv_fail(EINVAL, "--numa node=%u: budget %" PRIu64 " KiB is smaller than "
				       "one %" PRIu64 " KiB cluster", n,
				       g->m->nodes[n].budget >> 10, g->cluster_size >> 10);
	return 0;
}

static int uffd_create(struct gmem *g)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE };

	g->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (g->uffd < 0)
		return mv_fail(errno, "userfaultfd: %s%s", strerror(errno),
			       errno == EPERM ? " (needs root or vm.unprivileged_userfaultfd=1)" : "");
	if (ioctl(g->uffd, UFFDIO_API, &api) < 0)
		return mv_fail(errno, "UFFDIO_API (features REMAP, REMOVE): %s", strerror(errno));
	for (unsigned i = 0; i < g->gm->nr; i++) {
		struct uffdio_register reg = {
			.range = { .start = (uint64_t)(uintptr_t)g->gm->r[i].hva,
				   .len = g->gm->r[i].size },
			.mode = UFFDIO_REGISTER_MODE_MISSING };

		if (ioctl(g->uffd, UFFDIO_REGISTER, &reg) < 0)
			return mv_fail(errno, "UFFDIO_REGISTER of node %u RAM: %s", g->gm->r[i].node,
				       strerror(errno));
		if (!(reg.ioctls & (UINT64_C(1) << _UFFDIO_WAKE)))
			return mv_fail(ENOTSUP, "userfaultfd cannot wake ranges (UFFDIO_WAKE)");
	}
	g->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (g->stop_efd < 0)
		return mv_fail(errno, "eventfd: %s", strerror(errno));
	return 0;
}

static int gmem_start_threads(struct gmem *g, unsigned readers)
{
	int err;

	for (g->nr_readers = 0; g->nr_readers < readers; g->nr_readers++) {
		err = pthread_create(&g->readers[g->nr_readers], NULL, gmem_reader, g);
		if (err)
			return mv_fail(err, "cannot start a fault-service thread: %s", strerror(err));
	}
	err = pthread_create(&g->reclaimer, NULL, gmem_reclaimer, g);
	if (err)
		return mv_fail(err, "cannot start the reclaim thread: %s", strerror(err));
	g->reclaimer_started = true;
	return 0;
}

/* Back every cluster, node by node in address order, while the node's budget allows. */
static int gmem_prefault(struct gmem *g)
{
	for (unsigned i = 0; i < g->gm->nr; i++) {
		const struct guest_mem_region *r = &g->gm->r[i];

		for (gpa_t c = r->gpa; c < r->gpa + r->size; c += g->cluster_size) {
			struct cstate cs;
			pfn_t pfn;
			int err = 0;

			pthread_mutex_lock(&g->lock);
			cluster_state_locked(g, c, &cs);
			if (cs.state == PT_STATE_NONE && !(g->cflags[cluster_index(g, c)] & GMEM_C_BUSY) &&
			    !frames_alloc_locked(g, r->node, c, &pfn)) {
				g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
				err = cluster_back_locked(g, c, pfn, &cs, false);
			}
			pthread_mutex_unlock(&g->lock);
			if (err)
				return err;
		}
	}
	return 0;
}

int gmem_create(struct gmem *g, const struct machine_config *m, struct guest_mem *gm,
		const struct gmem_config *cfg)
{
	struct pgtable_mem s2mem = { .alloc = s2_table_alloc, .free = s2_table_free,
				     .phys_to_virt = s2_phys_to_virt };
	pfn_t base = 0;
	int err;

	memset(g, 0, sizeof(*g));
	g->m = m;
	g->gm = gm;
	g->swap = cfg->swap;
	g->fi = cfg->fi;
	g->uffd = g->stop_efd = -1;
	for (unsigned n = 0; n < MM_MAX_NODES; n++)
		g->pool[n].memfd = -1;
	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->reserve_lock, NULL);
	pthread_cond_init(&g->reclaim_cond, NULL);
	pthread_cond_init(&g->busy_cond, NULL);
	g->st.nr_nodes = m->nr_nodes;

	err = gmem_check_config(g, cfg);
	if (err)
		goto out;
	if (g->swap && g->swap->cluster_pages != g->cluster_pages) {
		err = mv_fail(EINVAL, "swap device uses clusters of %u pages, memory %u",
			      g->swap->cluster_pages, g->cluster_pages);
		goto out;
	}
	for (unsigned n = 0; n < m->nr_nodes && !err; n++) {
		uint64_t frames = (m->nodes[n].budget / g->cluster_size) * g->cluster_pages;

		err = pool_create(g, n, base, frames);
		/* next pool on a 4 MiB boundary: blocks of any order we use stay inside one pool */
		base = (base + frames + 1023) & ~(pfn_t)1023;
	}
	if (err)
		goto out;
	g->nr_pfns = base;
	err = frames_create(g);
	if (err)
		goto out;
	if (pgtable_init(&g->s2, &pgtable_ept, &s2mem)) {
		err = mv_fail(ENOMEM, "cannot create the stage-2 table");
		goto out;
	}
	g->nr_clusters = cluster_index(g, m->ram_end + g->cluster_size - 1);
	g->rmap = malloc((g->nr_pfns >> g->cluster_order) * sizeof(g->rmap[0]));
	g->cflags = calloc(g->nr_clusters, 1);
	if (!g->rmap || !g->cflags) {
		err = mv_fail(ENOMEM, "no memory for the reverse map");
		goto out;
	}
	for (uint64_t i = 0; i < g->nr_pfns >> g->cluster_order; i++)
		g->rmap[i] = GMEM_NO_GPA;
	err = uffd_create(g);
	if (!err)
		err = gmem_start_threads(g, cfg->fault_threads ? cfg->fault_threads : 1);
	if (!err && cfg->prefault)
		err = gmem_prefault(g);
out:
	if (err)
		gmem_destroy(g);
	return err;
}

void gmem_destroy(struct gmem *g)
{
	uint64_t one = 1;

	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	pthread_cond_broadcast(&g->reclaim_cond);
	pthread_mutex_unlock(&g->lock);
	/* The reclaimer first: an unmap it is making posts a REMAP event that only a reader can
	 * complete, so the readers must outlive it (else it waits in mremap forever). */
	if (g->reclaimer_started)
		pthread_join(g->reclaimer, NULL);
	g->reclaimer_started = false;
	if (g->stop_efd >= 0 && write(g->stop_efd, &one, sizeof(one)) < 0)
		mm_env_bug(__FILE__, __LINE__, "eventfd write failed");
	for (unsigned i = 0; i < g->nr_readers; i++)
		pthread_join(g->readers[i], NULL);
	g->nr_readers = 0;
	if (g->uffd >= 0)
		close(g->uffd);
	if (g->stop_efd >= 0)
		close(g->stop_efd);
	g->uffd = g->stop_efd = -1;
	if (g->reserve_left)
		munmap(g->reserve, g->reserve_left);
	g->reserve_left = 0;
	for (unsigned n = 0; n < MM_MAX_NODES; n++) {
		struct gmem_pool *p = &g->pool[n];

		if (p->view)
			munmap(p->view, p->nr_frames << MM_PAGE_SHIFT);
		if (p->memfd >= 0)
			close(p->memfd);
		p->view = NULL;
		p->memfd = -1;
	}
	if (g->s2.fmt)
		pgtable_destroy(&g->s2);
	g->s2.fmt = NULL;
	free(g->buddy_meta);
	free(g->rmap);
	free(g->cflags);
	g->buddy_meta = NULL;
	g->rmap = NULL;
	g->cflags = NULL;
}

void gmem_set_fatal_handler(struct gmem *g, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&g->lock);
	g->on_fatal = fn;
	g->on_fatal_arg = arg;
	pthread_mutex_unlock(&g->lock);
}

void gmem_set_swap_failure_handler(struct gmem *g, void (*fn)(void *arg, const char *msg),
				   void *arg)
{
	pthread_mutex_lock(&g->lock);
	g->on_swap_failure = fn;
	g->on_swap_failure_arg = arg;
	pthread_mutex_unlock(&g->lock);
}

void gmem_refuse_after_fatal(struct gmem *g)
{
	pthread_mutex_lock(&g->lock);
	g->refuse_after_fatal = true;
	pthread_mutex_unlock(&g->lock);
}

const struct gmem_pool *gmem_pool(const struct gmem *g, unsigned node)
{
	return node < g->m->nr_nodes ? &g->pool[node] : NULL;
}
