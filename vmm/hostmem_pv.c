/*
 * hostmem_pv.c — the paravirtual host-memory device (hostmem_pv.h, ABI in memvisor/hostmem.h).
 *
 * A request goes: LO write → block address from the vCPU's latch → the block is located with
 * guest_mem_ptr() (the only way to guest RAM) and copied out ONCE into a local → the copy is
 * validated → the engine is called with values from the copy → status and pages are stored
 * back. The guest owns the block and may rewrite it at any moment (another vCPU, a DMA-like
 * race): after the copy nothing of the block is read again, so what was validated is exactly
 * what the engine gets, and the write-back touches no field but `status` and `pages`.
 *
 * Lock order: pv.lock only (a leaf around the log rate limit); the engine is called unlocked.
 */
#include "hostmem_pv.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <memvisor/hostmem.h>

#include "error.h"

#define HOSTMEM_PV_BLOCK_ALIGN 8

static uint64_t hostmem_pv_monotonic_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * UINT64_C(1000000000) + (uint64_t)t.tv_nsec;
}

static void hostmem_pv_inc(atomic_uint_least64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

int hostmem_pv_init(struct hostmem_pv *pv, const struct machine_config *m,
		    const struct guest_mem *gm, const struct hostmem_pv_ops *ops, void *arg)
{
	if (!ops || !ops->page_out || !ops->page_in || !ops->node_page_out || !ops->node_page_in)
		return mv_fail(EINVAL, "hostmem: the engine ops table is incomplete");
	for (unsigned i = 0; i < gm->nr; i++)
		if ((uintptr_t)gm->r[i].hva % HOSTMEM_PV_BLOCK_ALIGN)
			return mv_fail(EINVAL, "hostmem: guest RAM region %u's host address %p is not "
				       "8-byte aligned", i, (void *)gm->r[i].hva);
	memset(pv, 0, sizeof(*pv));
	pv->m = m;
	pv->gm = gm;
	pv->ops = ops;
	pv->arg = arg;
	pv->now_ns = hostmem_pv_monotonic_ns;
	pv->log = stderr;
	pthread_mutex_init(&pv->lock, NULL);
	return 0;
}

/* ---- the rate-limited log ------------------------------------------------------------------ */

/*
 * At most HOSTMEM_PV_LOG_BURST lines per window of HOSTMEM_PV_LOG_INTERVAL_NS; a window begins
 * with the first line after the previous one ended. Lines beyond the burst are counted, and the
 * count is printed as one "suppressed" line when the next window begins (or at destroy), so a
 * guest hammering the ports cannot flood the host log yet nothing is silently lost.
 */
static void hostmem_pv_flush_suppressed_locked(struct hostmem_pv *pv)
{
	if (pv->window_suppressed)
		fprintf(pv->log, "memvisor: hostmem: %llu messages suppressed\n",
			(unsigned long long)pv->window_suppressed);
	pv->window_suppressed = 0;
}

static void hostmem_pv_log(struct hostmem_pv *pv, unsigned cpu, gpa_t block, const char *what)
{
	uint64_t now = pv->now_ns();
	bool allowed, opened;

	pthread_mutex_lock(&pv->lock);
	allowed = ratelimit_take(&pv->window, now, HOSTMEM_PV_LOG_INTERVAL_NS, HOSTMEM_PV_LOG_BURST,
				 &opened);
	if (opened)
		hostmem_pv_flush_suppressed_locked(pv);
	if (allowed) {
		fprintf(pv->log, "memvisor: hostmem: vCPU %u, block 0x%llx: %s\n", cpu,
			(unsigned long long)block, what);
	} else {
		pv->window_suppressed++;
		hostmem_pv_inc(&pv->count.log_suppressed, 1);
	}
	pthread_mutex_unlock(&pv->lock);
}

/* ---- validation ---------------------------------------------------------------------------- */

/* Host view of the block at gpa, or NULL (mv_error() says why) if the guest cannot have one. */
static const void *hostmem_pv_block(const struct hostmem_pv *pv, gpa_t gpa)
{
	const void *p;

	if (gpa % HOSTMEM_PV_BLOCK_ALIGN) {
		mv_fail(EINVAL, "request block is not 8-byte aligned; ignored");
		return NULL;
	}
	if (gpa % MM_PAGE_SIZE > MM_PAGE_SIZE - sizeof(struct mv_hostmem_req)) {
		mv_fail(EINVAL, "request block crosses a 4 KiB page; ignored");
		return NULL;
	}
	p = guest_mem_ptr(pv->gm, gpa, sizeof(struct mv_hostmem_req));
	if (!p)
		mv_fail(ERANGE, "request block is not in guest RAM; ignored");
	return p;
}

/* Is [gpa, gpa + len) wholly RAM? len > 0 and no overflow (checked by the caller). */
static int hostmem_pv_check_ram(const struct guest_mem *gm, gpa_t gpa, uint64_t len)
{
	gpa_t end = gpa + len, cur = gpa;

	/* Regions are disjoint, so each step moves cur past one region: at most gm->nr steps. */
	for (;;) {
		const struct guest_mem_region *r = guest_mem_find(gm, cur);

		if (!r)
			return mv_fail(ERANGE, "range [0x%llx, 0x%llx) is not wholly guest RAM: 0x%llx "
				       "is not RAM", (unsigned long long)gpa, (unsigned long long)end,
				       (unsigned long long)cur);
		if (end - r->gpa <= r->size)   /* end - r->gpa > 0: cur >= r->gpa, end > cur */
			return 0;
		cur = r->gpa + r->size;        /* < end, so no overflow; next region must start here */
	}
}

static int hostmem_pv_check_range(const struct hostmem_pv *pv, const struct mv_hostmem_req *q)
{
	if (q->node)
		return mv_fail(EINVAL, "node is %u without MV_HOSTMEM_F_NODE (must be 0)", q->node);
	if (q->gpa % MM_PAGE_SIZE)
		return mv_fail(EINVAL, "gpa 0x%llx is not page-aligned", (unsigned long long)q->gpa);
	if (q->len % MM_PAGE_SIZE)
		return mv_fail(EINVAL, "len 0x%llx is not page-aligned", (unsigned long long)q->len);
	if (q->len == 0)
		return mv_fail(EINVAL, "len is 0");
	if (q->len > UINT64_MAX - q->gpa)
		return mv_fail(ERANGE, "range gpa 0x%llx + len 0x%llx overflows",
			       (unsigned long long)q->gpa, (unsigned long long)q->len);
	return hostmem_pv_check_ram(pv->gm, q->gpa, q->len);
}

static int hostmem_pv_check_node(const struct hostmem_pv *pv, const struct mv_hostmem_req *q)
{
	if (q->gpa || q->len)
		return mv_fail(EINVAL, "MV_HOSTMEM_F_NODE with gpa 0x%llx, len 0x%llx (both must "
			       "be 0)", (unsigned long long)q->gpa, (unsigned long long)q->len);
	if (q->node >= pv->m->nr_nodes)
		return mv_fail(ERANGE, "node %u does not exist (the machine has %u)", q->node,
			       pv->m->nr_nodes);
	return 0;
}

/* 0 if the engine may be called with q's values; else -EINVAL/-ERANGE with mv_error() set. */
static int hostmem_pv_validate(const struct hostmem_pv *pv, const struct mv_hostmem_req *q)
{
	if (q->op != MV_HOSTMEM_OP_PAGE_OUT && q->op != MV_HOSTMEM_OP_PAGE_IN)
		return mv_fail(EINVAL, "op %u is neither PAGE_OUT (1) nor PAGE_IN (2)", q->op);
	if (q->flags & ~MV_HOSTMEM_F_VALID)
		return mv_fail(EINVAL, "flags 0x%x has unknown bits 0x%x", q->flags,
			       q->flags & ~MV_HOSTMEM_F_VALID);
	if (q->reserved0)
		return mv_fail(EINVAL, "reserved0 is 0x%x (must be 0)", q->reserved0);
	for (unsigned i = 0; i < MM_ARRAY_SIZE(q->reserved1); i++)
		if (q->reserved1[i])
			return mv_fail(EINVAL, "reserved1[%u] is 0x%llx (must be 0)", i,
				       (unsigned long long)q->reserved1[i]);
	if (q->flags & MV_HOSTMEM_F_NODE)
		return hostmem_pv_check_node(pv, q);
	return hostmem_pv_check_range(pv, q);
}

/* ---- the request --------------------------------------------------------------------------- */

/* The ABI status for an engine's (or the validation's) -errno; anything unknown is EIO. */
static int32_t hostmem_pv_status(int err)
{
	switch (err) {
	case 0:       return MV_HOSTMEM_OK;
	case -EINVAL: return MV_HOSTMEM_EINVAL;
	case -ERANGE: return MV_HOSTMEM_ERANGE;
	case -ENOSPC: return MV_HOSTMEM_ENOSPC;
	case -ENOMEM: return MV_HOSTMEM_ENOMEM;
	default:      return MV_HOSTMEM_EIO;
	}
}

/* Call the engine for the validated request q. */
static int hostmem_pv_call(struct hostmem_pv *pv, const struct mv_hostmem_req *q, uint64_t *pages)
{
	const struct hostmem_pv_ops *ops = pv->ops;
	bool node = q->flags & MV_HOSTMEM_F_NODE;

	if (q->op == MV_HOSTMEM_OP_PAGE_OUT) {
		hostmem_pv_inc(&pv->count.page_outs, 1);
		return node ? ops->node_page_out(pv->arg, q->node, pages) :
			      ops->page_out(pv->arg, q->gpa, q->len, pages);
	}
	hostmem_pv_inc(&pv->count.page_ins, 1);
	return node ? ops->node_page_in(pv->arg, q->node, pages) :
		      ops->page_in(pv->arg, q->gpa, q->len, pages);
}

/*
 * Store status and pages into the block (the only fields the VMM writes). pages goes first and
 * status with release order, so a guest that polls status from another vCPU sees pages too.
 */
static void hostmem_pv_reply(struct hostmem_pv *pv, gpa_t block, int32_t status, uint64_t pages)
{
	struct mv_hostmem_req *q = guest_mem_ptr(pv->gm, block, sizeof(*q));

	if (!q)         /* cannot happen: it was readable and regions never move */
		return;
	__atomic_store_n(&q->pages, pages, __ATOMIC_RELAXED);
	__atomic_store_n(&q->status, status, __ATOMIC_RELEASE);
	hostmem_pv_inc(&pv->count.pages, pages);
}

static void hostmem_pv_request(struct hostmem_pv *pv, unsigned cpu, gpa_t block)
{
	const void *src = hostmem_pv_block(pv, block);
	struct mv_hostmem_req q;
	uint64_t pages = 0;
	char what[640];
	int err;

	if (!src) {
		hostmem_pv_inc(&pv->count.blocks_ignored, 1);
		hostmem_pv_log(pv, cpu, block, mv_error());
		return;
	}
	memcpy(&q, src, sizeof(q));    /* the one read of the block: everything below uses q */
	if (q.magic != MV_HOSTMEM_MAGIC) {
		hostmem_pv_inc(&pv->count.blocks_ignored, 1);
		snprintf(what, sizeof(what), "bad magic 0x%x; ignored", q.magic);
		hostmem_pv_log(pv, cpu, block, what);
		return;
	}
	hostmem_pv_inc(&pv->count.requests, 1);
	err = hostmem_pv_validate(pv, &q);
	if (err) {
		hostmem_pv_inc(&pv->count.rejected, 1);
		snprintf(what, sizeof(what), "rejected: %s", mv_error());
		hostmem_pv_log(pv, cpu, block, what);
		hostmem_pv_reply(pv, block, hostmem_pv_status(err), 0);
		return;
	}
	err = hostmem_pv_call(pv, &q, &pages);
	if (err) {
		hostmem_pv_inc(&pv->count.failed, 1);
		snprintf(what, sizeof(what), "%s %s failed: %s (status %d, %llu pages changed)",
			 q.op == MV_HOSTMEM_OP_PAGE_OUT ? "PAGE_OUT" : "PAGE_IN",
			 q.flags & MV_HOSTMEM_F_NODE ? "of a node" : "of a range",
			 err < 0 && err > -4096 ? strerror(-err) : "not an -errno",
			 hostmem_pv_status(err),
			 (unsigned long long)pages);
		hostmem_pv_log(pv, cpu, block, what);
	}
	hostmem_pv_reply(pv, block, hostmem_pv_status(err), pages);
}

/* ---- the ports ----------------------------------------------------------------------------- */

static bool hostmem_pv_port_ours(uint16_t port)
{
	return (port >= MV_PORT_HOSTMEM_HI && port < MV_PORT_HOSTMEM_HI + 4) ||
	       (port >= MV_PORT_HOSTMEM_LO && port < MV_PORT_HOSTMEM_LO + 4);
}

bool hostmem_pv_pio(struct hostmem_pv *pv, unsigned cpu, uint16_t port, bool out, unsigned size,
		    uint8_t *data)
{
	uint32_t val;

	if (!hostmem_pv_port_ours(port))
		return false;
	if (!out) {
		memset(data, 0xff, size);
		return true;
	}
	if (size != 4 || (port != MV_PORT_HOSTMEM_HI && port != MV_PORT_HOSTMEM_LO) ||
	    cpu >= MACHINE_MAX_VCPUS) {
		hostmem_pv_inc(&pv->count.accesses_ignored, 1);
		return true;
	}
	val = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	      (uint32_t)data[3] << 24;
	if (port == MV_PORT_HOSTMEM_HI) {
		pv->hi[cpu] = val;
		return true;
	}
	hostmem_pv_request(pv, cpu, (gpa_t)pv->hi[cpu] << 32 | val);
	pv->hi[cpu] = 0;
	return true;
}

void hostmem_pv_get_stats(struct hostmem_pv *pv, struct hostmem_pv_stats *st)
{
	st->requests = atomic_load(&pv->count.requests);
	st->page_outs = atomic_load(&pv->count.page_outs);
	st->page_ins = atomic_load(&pv->count.page_ins);
	st->rejected = atomic_load(&pv->count.rejected);
	st->failed = atomic_load(&pv->count.failed);
	st->blocks_ignored = atomic_load(&pv->count.blocks_ignored);
	st->accesses_ignored = atomic_load(&pv->count.accesses_ignored);
	st->pages = atomic_load(&pv->count.pages);
	st->log_suppressed = atomic_load(&pv->count.log_suppressed);
}

void hostmem_pv_destroy(struct hostmem_pv *pv)
{
	pthread_mutex_lock(&pv->lock);
	hostmem_pv_flush_suppressed_locked(pv);
	pthread_mutex_unlock(&pv->lock);
	pthread_mutex_destroy(&pv->lock);
}
