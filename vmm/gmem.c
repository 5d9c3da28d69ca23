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
 *                            ▲      clear A, unmap       │  write out, free frames    │
 *                            └───────────────────────────┘                            │
 *                            └──── fault: remap (minor) ──────── fault: read back ◄───┘
 *
 * "Unmap" replaces the cluster's host mapping with a piece of an unpopulated, registered
 * anonymous reserve moved there with mremap(): atomic under the mm's mmap lock, and the moved
 * range keeps its userfaultfd registration (UFFD_FEATURE_EVENT_REMAP), so the next touch is a
 * userfaultfd fault again. A plain mmap() there would leave an unregistered window in which a
 * vCPU would get a fresh zero page instead of its data.
 */
#define _GNU_SOURCE
#include "gmem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mempolicy.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "swap.h"

#define GMEM_NO_GPA       (~(gpa_t)0)
#define GMEM_C_BUSY       (1u << 0)     /* a thread is changing the cluster (no lock held) */
#define GMEM_C_WAITING    (1u << 1)     /* a fault on it waits for a free frame */
#define GMEM_RESERVE_SIZE (UINT64_C(32) << 20)   /* spare registered range for unmaps */
#define GMEM_MSG_BATCH    16
#define GMEM_RECLAIM_BLOCKS 8            /* blocks the reclaim thread frees per wake-up */
#define GMEM_HOST_NODES   1024

/* ---- small helpers ------------------------------------------------------------------------ */

static uint64_t cluster_index(const struct gmem *g, gpa_t c)
{
	return c >> (MM_PAGE_SHIFT + g->cluster_order);
}

static uint8_t *cluster_hva(const struct gmem *g, gpa_t c)
{
	return guest_mem_ptr(g->gm, c, g->cluster_size);
}

static unsigned cluster_node(const struct gmem *g, gpa_t c)
{
	return guest_mem_find(g->gm, c)->node;
}

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

static unsigned pfn_pool(const struct gmem *g, pfn_t pfn)
{
	for (unsigned n = 0; n < g->m->nr_nodes; n++)
		if (pfn >= g->pool[n].base && pfn - g->pool[n].base < g->pool[n].nr_frames)
			return n;
	mm_env_bug(__FILE__, __LINE__, "pfn outside every pool");
}

static uint64_t pfn_offset(const struct gmem *g, pfn_t pfn)
{
	return (pfn - g->pool[pfn_pool(g, pfn)].base) << MM_PAGE_SHIFT;
}

static uint8_t *pfn_view(const struct gmem *g, pfn_t pfn)
{
	return g->pool[pfn_pool(g, pfn)].view + pfn_offset(g, pfn);
}

static uint64_t block_index(const struct gmem *g, pfn_t pfn)
{
	return pfn >> g->cluster_order;
}

/* The stage-2 view of a cluster: its first page's entry (gmem_check verifies the rest agree). */
struct cstate {
	enum pt_state state;
	pfn_t pfn;          /* MAPPED */
	bool accessed;      /* MAPPED: A bit, i.e. mapped in the guest's address space */
	uint64_t slot;      /* SWAP */
};

static void cluster_state_locked(struct gmem *g, gpa_t c, struct cstate *cs)
{
	struct pgtable_info info;

	pgtable_translate(&g->s2, c, &info);
	cs->state = info.state;
	cs->pfn = info.pa >> MM_PAGE_SHIFT;
	cs->accessed = info.attr.flags & PT_A;
	cs->slot = info.slot;
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

static void wake_range(struct gmem *g, gpa_t c)
{
	struct uffdio_range r = { .start = (uint64_t)(uintptr_t)cluster_hva(g, c),
				  .len = g->cluster_size };

	ioctl(g->uffd, UFFDIO_WAKE, &r);   /* cannot fail for a registered, aligned range */
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
	g->fatal = err < 0 ? -err : err ? err : EIO;
	fprintf(stderr, "memvisor: guest memory: %s\n", mv_error());
}

/* Tell the owner, once, that service has stopped (no lock held). */
static void gmem_notify_fatal(struct gmem *g)
{
	if (!__atomic_exchange_n(&g->fatal_notified, true, __ATOMIC_ACQ_REL) && g->on_fatal)
		g->on_fatal(g->on_fatal_arg);
}

/* ---- host mappings -------------------------------------------------------------------------- */

/* Make the block at pfn the host memory behind cluster c. */
static int host_map(struct gmem *g, gpa_t c, pfn_t pfn)
{
	const struct gmem_pool *p = &g->pool[pfn_pool(g, pfn)];
	void *want = cluster_hva(g, c);
	void *got = mmap(want, g->cluster_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 p->memfd, (off_t)pfn_offset(g, pfn));

	if (got == MAP_FAILED)
		return mv_fail(errno, "mapping pool frames at gpa 0x%" PRIx64 ": %s (host mappings: "
			       "see vm.max_map_count)", c, strerror(errno));
	return 0;
}

/*
 * Take cluster c out of the guest's address space: move a piece of the registered reserve over
 * it. Never called by a userfaultfd reader (the REMAP event needs one to complete).
 */
static int host_unmap(struct gmem *g, gpa_t c)
{
	uint8_t *src = NULL;
	void *got;
	int err = 0;

	pthread_mutex_lock(&g->reserve_lock);
	if (g->reserve_left < g->cluster_size) {
		void *r = mmap(NULL, GMEM_RESERVE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		struct uffdio_register reg = { .range = { .start = (uint64_t)(uintptr_t)r,
							  .len = GMEM_RESERVE_SIZE },
					       .mode = UFFDIO_REGISTER_MODE_MISSING };

		if (r == MAP_FAILED || ioctl(g->uffd, UFFDIO_REGISTER, &reg) < 0) {
			err = mv_fail(errno, "cannot make spare registered memory for unmapping: %s",
				      strerror(errno));
			if (r != MAP_FAILED)
				munmap(r, GMEM_RESERVE_SIZE);
			goto out;
		}
		if (g->reserve_left)
			munmap(g->reserve, g->reserve_left);
		g->reserve = r;
		g->reserve_left = GMEM_RESERVE_SIZE;
	}
	g->reserve_left -= g->cluster_size;
	src = g->reserve + g->reserve_left;
out:
	pthread_mutex_unlock(&g->reserve_lock);
	if (err)
		return err;
	got = mremap(src, g->cluster_size, g->cluster_size, MREMAP_MAYMOVE | MREMAP_FIXED,
		     cluster_hva(g, c));
	if (got == MAP_FAILED)
		return mv_fail(errno, "unmapping gpa 0x%" PRIx64 " (mremap): %s", c, strerror(errno));
	return 0;
}

/* Give a block's host memory back (its frames read as zero when next handed out). */
static void frames_release(struct gmem *g, pfn_t pfn)
{
	const struct gmem_pool *p = &g->pool[pfn_pool(g, pfn)];

	/* tmpfs always supports punching holes; on failure the frame just stays populated, so
	 * zero it instead: the invariant "a free frame reads as zero" must hold either way. */
	if (fallocate(p->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)pfn_offset(g, pfn), (off_t)g->cluster_size))
		memset(pfn_view(g, pfn), 0, g->cluster_size);
}

/* ---- frames ------------------------------------------------------------------------------- */

/* A block for a cluster of guest node `node`, following its policy. */
static int frames_alloc_locked(struct gmem *g, unsigned node, pfn_t *pfn)
{
	unsigned flags = BUDDY_ALLOC_NO_WMARK;
	unsigned pool;
	int err;

	if (g->m->nodes[node].policy == MACHINE_POLICY_STRICT)
		flags |= BUDDY_ALLOC_THISNODE;
	err = buddy_alloc(&g->frames, node, g->cluster_order, flags, pfn);
	if (err)
		return -ENOMEM;
	pool = pfn_pool(g, *pfn);
	g->pool[pool].used += g->cluster_pages;
	if (pool != node)
		g->st.node[pool].remote_allocs++;
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

/* ---- backing a cluster (faults and page-in) ------------------------------------------------- */

/*
 * Back cluster c (state none or swap, BUSY held by the caller, lock held) with the block at pfn:
 * read it from swap if needed, map it, record it. Drops and retakes the lock. On an I/O or
 * mapping error service fails (the cluster stays BUSY: nothing stale is ever mapped).
 */
static int cluster_back_locked(struct gmem *g, gpa_t c, pfn_t pfn, const struct cstate *cs,
			       bool fault)
{
	unsigned node = cluster_node(g, c);
	int err = 0;

	g->rmap[block_index(g, pfn)] = c;
	pthread_mutex_unlock(&g->lock);
	if (cs->state == PT_STATE_SWAP)
		err = swap_read(g->swap, cs->slot, pfn_view(g, pfn), g->cluster_pages);
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
	mmap(cluster_hva(g, c), g->cluster_size, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	wake_range(g, c);
}

/* One userfaultfd page fault at host address hva (reader thread). */
static void gmem_fault(struct gmem *g, uint64_t hva)
{
	struct cstate cs;
	gpa_t gpa, c;
	pfn_t pfn;
	uint8_t *f;
	bool notify = false, wake = true;

	if (!hva_to_gpa(g, hva, &gpa))
		return;                 /* the reserve is never touched; nothing else is registered */
	c = gpa & ~(gpa_t)(g->cluster_size - 1);
	f = &g->cflags[cluster_index(g, c)];
	pthread_mutex_lock(&g->lock);
	g->st.uffd_faults++;
	if (g->fatal) {
		pthread_mutex_unlock(&g->lock);
		fault_refuse(g, c);
		return;
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
	} else if (frames_alloc_locked(g, cluster_node(g, c), &pfn)) {
		wait_for_frame_locked(g, c, cluster_node(g, c));
		wake = false;
	} else {
		*f |= GMEM_C_BUSY;
		notify = cluster_back_locked(g, c, pfn, &cs, true) != 0;
	}
	pthread_mutex_unlock(&g->lock);
	if (notify)
		gmem_notify_fatal(g);
	else if (wake)
		wake_range(g, c);
}

static void *gmem_reader(void *arg)
{
	struct gmem *g = arg;
	struct uffd_msg msg[GMEM_MSG_BATCH];

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
 * Evict mapped cluster c (lock held, not BUSY): unmap it if the guest has it mapped, write it to
 * swap, free its frames. Returns 0, -ENOSPC (no swap, or full), or the error that stopped
 * service. The lock is dropped and retaken.
 */
static int cluster_evict_locked(struct gmem *g, gpa_t c, const struct cstate *cs)
{
	unsigned node = cluster_node(g, c);
	uint64_t slot;
	int err;

	if (!g->swap)
		return -ENOSPC;
	if (swap_alloc(g->swap, &slot))
		return -ENOSPC;
	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	pthread_mutex_unlock(&g->lock);
	err = cs->accessed ? host_unmap(g, c) : 0;
	if (!err)
		err = swap_write(g->swap, slot, pfn_view(g, cs->pfn), g->cluster_pages);
	if (!err)
		frames_release(g, cs->pfn);
	pthread_mutex_lock(&g->lock);
	if (err) {
		swap_free(g->swap, slot);
		if (cs->accessed)       /* unmapped but still backed: record A clear */
			s2_map_locked(g, c, cs->pfn, false);
		gmem_fail_locked(g, err);  /* swap failure policy: stop (docs/cli.md) */
		cluster_unbusy_locked(g, c);
		return err;
	}
	s2_set_swap_locked(g, c, slot);
	frames_free_locked(g, cs->pfn);
	g->st.node[node].clusters_mapped--;
	g->st.node[node].pages_swapped += g->cluster_pages;
	g->st.node[node].swap_outs++;
	g->st.node[node].swap_out_bytes += g->cluster_size;
	cluster_unbusy_locked(g, c);
	return 0;
}

/* CLOCK step on a mapped, accessed cluster: clear A and unmap it to see if it is touched again. */
static int cluster_sample_locked(struct gmem *g, gpa_t c, pfn_t pfn)
{
	int err;

	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	s2_map_locked(g, c, pfn, false);
	pthread_mutex_unlock(&g->lock);
	err = host_unmap(g, c);
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
 * accessed cluster gets a second chance (A cleared, unmapped), one not touched since its last
 * sample is written to swap. Two full turns without a victim end the attempt. Lock held
 * (dropped while working on a cluster). Returns blocks freed, or -errno if service failed.
 */
static long reclaim_pool_locked(struct gmem *g, unsigned pool, unsigned want)
{
	struct gmem_pool *p = &g->pool[pool];
	uint64_t nblocks = p->nr_frames >> g->cluster_order;
	long freed = 0;

	for (uint64_t step = 0; step < 2 * nblocks + 1 && (unsigned long)freed < want; step++) {
		pfn_t pfn = p->base + (p->hand << g->cluster_order);
		gpa_t c = g->rmap[block_index(g, pfn)];
		struct cstate cs;
		int err;

		p->hand = (p->hand + 1) % nblocks;
		g->st.reclaim_scans++;
		if (c == GMEM_NO_GPA || (g->cflags[cluster_index(g, c)] & GMEM_C_BUSY))
			continue;
		cluster_state_locked(g, c, &cs);
		if (cs.state != PT_STATE_MAPPED || cs.pfn != pfn)
			mm_env_bug(__FILE__, __LINE__, "reverse map disagrees with stage 2");
		err = cs.accessed ? cluster_sample_locked(g, c, pfn) : cluster_evict_locked(g, c, &cs);
		pthread_mutex_unlock(&g->lock);
		wake_range(g, c);
		pthread_mutex_lock(&g->lock);
		if (g->fatal)
			return -g->fatal;
		if (err == -ENOSPC)
			return freed;   /* no swap or swap full: nothing can be evicted */
		if (!err && !cs.accessed)
			freed++;
	}
	return freed;
}

static void *gmem_reclaimer(void *arg)
{
	struct gmem *g = arg;

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
			/* Blocks freed by the last batch may not be taken yet: the faults that
			 * asked again meanwhile only need waking, there is nothing to evict. */
			if (g->pool[n].used < g->pool[n].nr_frames) {
				progress = true;
				continue;
			}
			freed = reclaim_pool_locked(g, n, GMEM_RECLAIM_BLOCKS);
			if (freed > 0) {
				progress = true;
			} else if (!g->fatal) {
				mv_fail(ENOMEM, "node %u: host memory budget (%" PRIu64 " KiB) is used up "
					"and nothing can be evicted (%s)", n,
					g->pool[n].nr_frames * MM_PAGE_SIZE >> 10,
					g->swap ? "host swap is full" : "no host swap: give --swap");
				gmem_fail_locked(g, ENOMEM);
				notify = true;
			} else {
				notify = true;
			}
		}
		pthread_mutex_unlock(&g->lock);
		if (progress || notify)
			wake_waiters(g);        /* after fatal, their faults come back and are refused */
		if (notify)
			gmem_notify_fatal(g);
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

	if (buddy_alloc(&g->frames, to, g->cluster_order,
			BUDDY_ALLOC_NO_WMARK | BUDDY_ALLOC_THISNODE, &pfn))
		return -ENOMEM;
	g->pool[to].used += g->cluster_pages;
	g->rmap[block_index(g, pfn)] = c;
	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	pthread_mutex_unlock(&g->lock);
	/* Unmapped during the copy: a guest write now waits for the new mapping, none is lost. */
	err = cs->accessed ? host_unmap(g, c) : 0;
	if (!err) {
		memcpy(pfn_view(g, pfn), pfn_view(g, cs->pfn), g->cluster_size);
		err = host_map(g, c, pfn);
	}
	if (!err)
		frames_release(g, cs->pfn);
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

/* Page cluster c in now (lock held, not BUSY, state swap): direct reclaim once if needed. */
static int cluster_page_in_locked(struct gmem *g, gpa_t c, const struct cstate *cs)
{
	unsigned node = cluster_node(g, c);
	pfn_t pfn;

	if (frames_alloc_locked(g, node, &pfn)) {
		/* A request runs on its own thread, which may reclaim itself. */
		if (reclaim_pool_locked(g, node, 1) <= 0 || g->fatal ||
		    frames_alloc_locked(g, node, &pfn))
			return g->fatal ? -EIO : -ENOMEM;
		/* the lock was dropped: the cluster may have been faulted in meanwhile */
		struct cstate now;

		cluster_state_locked(g, c, &now);
		if (now.state != PT_STATE_SWAP || (g->cflags[cluster_index(g, c)] & GMEM_C_BUSY)) {
			g->pool[pfn_pool(g, pfn)].used -= g->cluster_pages;
			buddy_free(&g->frames, pfn, g->cluster_order);
			return 0;
		}
		cs = &now;
		g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
		return cluster_back_locked(g, c, pfn, cs, false);
	}
	g->cflags[cluster_index(g, c)] |= GMEM_C_BUSY;
	return cluster_back_locked(g, c, pfn, cs, false);
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
	case GMEM_OP_PAGE_OUT:
		if (cs.state == PT_STATE_MAPPED) {
			err = cluster_evict_locked(g, c, &cs);
			*changed = !err;
		}
		break;
	case GMEM_OP_PAGE_IN:
		if (cs.state == PT_STATE_SWAP) {
			err = cluster_page_in_locked(g, c, &cs);
			*changed = !err;
		}
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
	if (g->fatal)
		gmem_notify_fatal(g);
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
	for (gpa_t c = first; c < end; c += g->cluster_size) {
		bool changed;

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

static int pool_bind(struct gmem_pool *p, uint64_t bytes, int host_node)
{
	unsigned long mask[GMEM_HOST_NODES / (8 * sizeof(unsigned long))] = { 0 };
	const unsigned bits = 8 * sizeof(unsigned long);

	/* mbind on a shared memfd mapping sets the file's shared policy: every mapping of its
	 * pages, the guest's included, allocates on host_node. */
	mask[host_node / bits] |= 1UL << (host_node % bits);
	if (syscall(SYS_mbind, p->view, bytes, MPOL_BIND, mask, (unsigned long)GMEM_HOST_NODES, 0))
		return -errno;
	return 0;
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
		err = pool_bind(p, bytes, node->host_node);
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

/* Cluster size, budgets and region alignment: everything the engine relies on. */
static int gmem_check_config(struct gmem *g, const struct gmem_config *cfg)
{
	unsigned cp = cfg->cluster_pages ? cfg->cluster_pages : GMEM_DEFAULT_CLUSTER;

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
			    !frames_alloc_locked(g, r->node, &pfn)) {
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

const struct gmem_pool *gmem_pool(const struct gmem *g, unsigned node)
{
	return node < g->m->nr_nodes ? &g->pool[node] : NULL;
}

/* ---- consistency check ------------------------------------------------------------------- */

/* One host mapping as /proc/self/smaps describes it. */
struct gmem_vma {
	uint64_t start, end, offset;
	unsigned long ino;
	bool uffd_missing;      /* VmFlags "um" */
	bool writable;
};

struct gmem_vmas {
	struct gmem_vma *v;
	size_t nr, cap;
};

static int vmas_read(struct gmem_vmas *vs)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];

	if (!f)
		return mv_fail(errno, "/proc/self/smaps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off, ino;
		char perms[8];

		if (sscanf(line, "%llx-%llx %7s %llx %*s %llu", &start, &end, perms, &off, &ino) == 5) {
			if (vs->nr == vs->cap) {
				size_t cap = vs->cap ? 2 * vs->cap : 1024;
				struct gmem_vma *nv = realloc(vs->v, cap * sizeof(*nv));

				if (!nv) {
					fclose(f);
					return mv_fail(ENOMEM, "no memory to read smaps");
				}
				vs->v = nv;
				vs->cap = cap;
			}
			vs->v[vs->nr++] = (struct gmem_vma){ .start = start, .end = end, .offset = off,
							     .ino = (unsigned long)ino,
							     .writable = perms[1] == 'w' };
		} else if (strncmp(line, "VmFlags:", 8) == 0 && vs->nr) {
			vs->v[vs->nr - 1].uffd_missing = strstr(line, " um") != NULL;
		}
	}
	fclose(f);
	return 0;
}

static const struct gmem_vma *vmas_find(const struct gmem_vmas *vs, uint64_t addr)
{
	size_t lo = 0, hi = vs->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < vs->v[mid].start)
			hi = mid;
		else if (addr >= vs->v[mid].end)
			lo = mid + 1;
		else
			return &vs->v[mid];
	}
	return NULL;
}

/* Every page of cluster c agrees with its first (one block, consecutive frames or slots). */
static int check_cluster_uniform_locked(struct gmem *g, gpa_t c, const struct cstate *cs)
{
	for (unsigned i = 1; i < g->cluster_pages; i++) {
		struct pgtable_info info;
		gpa_t gpa = c + ((gpa_t)i << MM_PAGE_SHIFT);

		pgtable_translate(&g->s2, gpa, &info);
		if (info.state != cs->state ||
		    (cs->state == PT_STATE_MAPPED && (info.pa >> MM_PAGE_SHIFT != cs->pfn + i ||
						      !(info.attr.flags & PT_A) != !cs->accessed)) ||
		    (cs->state == PT_STATE_SWAP && info.slot != cs->slot + i))
			return mv_fail(EUCLEAN, "stage 2: page 0x%" PRIx64 " disagrees with the first "
				       "page of its cluster 0x%" PRIx64, gpa, c);
	}
	return 0;
}

/* The host mapping of a non-busy cluster is what stage 2 says. */
static int check_cluster_host_locked(struct gmem *g, const struct gmem_vmas *vs, gpa_t c,
				     const struct cstate *cs)
{
	uint64_t hva = (uint64_t)(uintptr_t)cluster_hva(g, c);
	const struct gmem_vma *v = vmas_find(vs, hva);

	if (!v || v->end < hva + g->cluster_size)
		return mv_fail(EUCLEAN, "host: cluster 0x%" PRIx64 " is not wholly mapped", c);
	if (cs->state == PT_STATE_MAPPED && cs->accessed) {
		const struct gmem_pool *p = &g->pool[pfn_pool(g, cs->pfn)];

		if (v->ino != p->ino || v->offset + (hva - v->start) != pfn_offset(g, cs->pfn) ||
		    !v->writable)
			return mv_fail(EUCLEAN, "host: cluster 0x%" PRIx64 " should map pool %u at "
				       "0x%" PRIx64 ", maps inode %lu at 0x%" PRIx64, c,
				       pfn_pool(g, cs->pfn), pfn_offset(g, cs->pfn), v->ino,
				       v->offset + (hva - v->start));
	} else if (v->ino != 0 || !v->uffd_missing) {
		return mv_fail(EUCLEAN, "host: cluster 0x%" PRIx64 " (not mapped in stage 2) should be "
			       "registered anonymous memory, is inode %lu%s", c, v->ino,
			       v->uffd_missing ? "" : " without userfaultfd");
	}
	return 0;
}

static int check_clusters_locked(struct gmem *g, const struct gmem_vmas *vs, uint64_t *used,
				 uint64_t *swapped)
{
	for (unsigned i = 0; i < g->gm->nr; i++) {
		const struct guest_mem_region *r = &g->gm->r[i];

		for (gpa_t c = r->gpa; c < r->gpa + r->size; c += g->cluster_size) {
			struct cstate cs;
			int err;

			if (g->cflags[cluster_index(g, c)] & GMEM_C_BUSY)
				continue;
			cluster_state_locked(g, c, &cs);
			err = check_cluster_uniform_locked(g, c, &cs);
			if (!err && cs.state == PT_STATE_MAPPED) {
				struct buddy_frame *f = buddy_pfn_to_frame(&g->frames, cs.pfn);

				if (cs.pfn % g->cluster_pages || !f ||
				    !(f->flags & BUDDY_FRAME_ALLOC) || f->order != g->cluster_order)
					err = mv_fail(EUCLEAN, "cluster 0x%" PRIx64 " maps pfn 0x%" PRIx64
						      ", not an allocated block", c, cs.pfn);
				else if (g->rmap[block_index(g, cs.pfn)] != c)
					err = mv_fail(EUCLEAN, "reverse map of pfn 0x%" PRIx64 " is 0x%"
						      PRIx64 ", stage 2 says 0x%" PRIx64, cs.pfn,
						      g->rmap[block_index(g, cs.pfn)], c);
				used[pfn_pool(g, cs.pfn)] += g->cluster_pages;
			} else if (!err && cs.state == PT_STATE_SWAP) {
				swapped[r->node] += g->cluster_pages;
			} else if (!err && cs.state != PT_STATE_NONE) {
				err = mv_fail(EUCLEAN, "cluster 0x%" PRIx64 " in state %d", c, cs.state);
			}
			if (!err && vs)
				err = check_cluster_host_locked(g, vs, c, &cs);
			if (err)
				return err;
		}
	}
	return 0;
}

int gmem_check(struct gmem *g)
{
	uint64_t used[MM_MAX_NODES] = { 0 }, swapped[MM_MAX_NODES] = { 0 }, busy_pages = 0;
	struct gmem_vmas vs = { 0 };
	int err;

	pthread_mutex_lock(&g->lock);
	err = g->fatal ? 0 : vmas_read(&vs);    /* after a failure clusters may be PROT_NONE */
	if (!err && buddy_check(&g->frames))
		err = mv_fail(EUCLEAN, "frame allocator: buddy_check failed");
	if (!err && pgtable_check(&g->s2) < 0)
		err = mv_fail(EUCLEAN, "stage 2: pgtable_check failed");
	if (!err)
		err = check_clusters_locked(g, g->fatal ? NULL : &vs, used, swapped);
	for (uint64_t ci = 0; ci < g->nr_clusters; ci++)
		if (g->cflags[ci] & GMEM_C_BUSY)
			busy_pages += g->cluster_pages;
	for (unsigned n = 0; !err && !busy_pages && n < g->m->nr_nodes; n++) {
		if (used[n] != g->pool[n].used)
			err = mv_fail(EUCLEAN, "pool %u: %" PRIu64 " frames allocated, stage 2 maps "
				      "%" PRIu64, n, g->pool[n].used, used[n]);
		else if (swapped[n] != g->st.node[n].pages_swapped)
			err = mv_fail(EUCLEAN, "node %u: %" PRIu64 " pages in swap by the counters, "
				      "%" PRIu64 " by stage 2", n, g->st.node[n].pages_swapped,
				      swapped[n]);
	}
	if (!err && !busy_pages && g->swap) {
		struct swap_stats ss;
		uint64_t total = 0;

		swap_get_stats(g->swap, &ss);
		for (unsigned n = 0; n < g->m->nr_nodes; n++)
			total += swapped[n];
		if (ss.slots_used != total)
			err = mv_fail(EUCLEAN, "swap: %" PRIu64 " slots used, stage 2 has %" PRIu64
				      " swapped pages", ss.slots_used, total);
		else if (swap_check(g->swap))
			err = -EUCLEAN;
	}
	pthread_mutex_unlock(&g->lock);
	free(vs.v);
	return err;
}

/* ---- statistics --------------------------------------------------------------------------- */

static uint64_t count_host_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uint64_t n = 0;
	int ch;

	if (!f)
		return 0;
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

void gmem_get_stats(struct gmem *g, struct gmem_stats *st)
{
	uint64_t maps = count_host_mappings();

	pthread_mutex_lock(&g->lock);
	*st = g->st;
	for (unsigned n = 0; n < g->m->nr_nodes; n++) {
		st->node[n].frames_total = g->pool[n].nr_frames;
		st->node[n].frames_used = g->pool[n].used;
		st->node[n].frames_free = g->pool[n].nr_frames - g->pool[n].used;
	}
	pthread_mutex_unlock(&g->lock);
	st->host_mappings = maps;
	if (g->swap) {
		struct swap_stats ss;

		swap_get_stats(g->swap, &ss);
		st->swap_slots_total = ss.slots_total;
		st->swap_slots_used = ss.slots_used;
	}
}

void gmem_print_stats(struct gmem *g, FILE *out)
{
	struct gmem_stats st;

	gmem_get_stats(g, &st);
	fprintf(out, "guest memory (host side; %" PRIu64 " KiB clusters; KiB unless named):\n"
		"  node   budget     used     free  swapped  zero-f swapin-f minor-f  swap-out  "
		"swap-in  migr-in migr-out remote\n", g->cluster_size >> 10);
	for (unsigned n = 0; n < st.nr_nodes; n++) {
		const struct gmem_node_stats *s = &st.node[n];

		fprintf(out, "  %4u %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %7" PRIu64
			" %8" PRIu64 " %7" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
			" %6" PRIu64 "\n", n, s->frames_total * 4, s->frames_used * 4,
			s->frames_free * 4, s->pages_swapped * 4, s->faults_zero, s->faults_swapin,
			s->faults_minor, s->swap_out_bytes >> 10, s->swap_in_bytes >> 10,
			s->migrations_in, s->migrations_out, s->remote_allocs);
	}
	fprintf(out, "  userfaultfd faults %" PRIu64 " (waited %" PRIu64 "), other events %" PRIu64
		", samples %" PRIu64 ", reclaim scans %" PRIu64 ", requests %" PRIu64
		" (rejected %" PRIu64 "), host mappings %" PRIu64 ", swap slots %" PRIu64 "/%" PRIu64
		"\n", st.uffd_faults, st.faults_waited, st.uffd_events, st.samples, st.reclaim_scans,
		st.requests, st.requests_rejected, st.host_mappings, st.swap_slots_used,
		st.swap_slots_total);
}

int gmem_write_stats_json(struct gmem *g, const char *path)
{
	struct gmem_stats st;
	FILE *f = fopen(path, "we");

	if (!f)
		return mv_fail(errno, "--stats %s: %s", path, strerror(errno));
	gmem_get_stats(g, &st);
	fprintf(f, "{\n  \"page_size\": %u,\n  \"cluster_pages\": %u,\n  \"nodes\": [\n",
		(unsigned)MM_PAGE_SIZE, g->cluster_pages);
	for (unsigned n = 0; n < st.nr_nodes; n++) {
		const struct gmem_node_stats *s = &st.node[n];

		fprintf(f, "    {\"node\": %u, \"frames_total\": %" PRIu64 ", \"frames_free\": %"
			PRIu64 ", \"frames_used\": %" PRIu64 ", \"clusters_mapped\": %" PRIu64
			", \"pages_swapped\": %" PRIu64 ", \"faults_zero\": %" PRIu64
			", \"faults_swapin\": %" PRIu64 ", \"faults_minor\": %" PRIu64
			", \"swap_outs\": %" PRIu64 ", \"swap_ins\": %" PRIu64
			", \"swap_out_bytes\": %" PRIu64 ", \"swap_in_bytes\": %" PRIu64
			", \"migrations_in\": %" PRIu64 ", \"migrations_out\": %" PRIu64
			", \"remote_allocs\": %" PRIu64 "}%s\n", n, s->frames_total, s->frames_free,
			s->frames_used, s->clusters_mapped, s->pages_swapped, s->faults_zero,
			s->faults_swapin, s->faults_minor, s->swap_outs, s->swap_ins,
			s->swap_out_bytes, s->swap_in_bytes, s->migrations_in, s->migrations_out,
			s->remote_allocs, n + 1 < st.nr_nodes ? "," : "");
	}
	fprintf(f, "  ],\n  \"uffd_faults\": %" PRIu64 ",\n  \"uffd_events\": %" PRIu64
		",\n  \"faults_waited\": %" PRIu64 ",\n  \"samples\": %" PRIu64
		",\n  \"reclaim_scans\": %" PRIu64 ",\n  \"requests\": %" PRIu64
		",\n  \"requests_rejected\": %" PRIu64 ",\n  \"host_mappings\": %" PRIu64
		",\n  \"swap_slots_total\": %" PRIu64 ",\n  \"swap_slots_used\": %" PRIu64 "\n}\n",
		st.uffd_faults, st.uffd_events, st.faults_waited, st.samples, st.reclaim_scans,
		st.requests, st.requests_rejected, st.host_mappings, st.swap_slots_total,
		st.swap_slots_used);
	if (fclose(f))
		return mv_fail(errno, "--stats %s: %s", path, strerror(errno));
	return 0;
}
