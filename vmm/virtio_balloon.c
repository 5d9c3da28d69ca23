/*
 * virtio_balloon.c — the virtio-balloon device model (virtio_balloon.h) on virtio_mmio.c.
 *
 * Inflate / deflate requests are handled a batch of PFNs at a time: copied out of guest RAM
 * once, validated, sorted, deduplicated, applied to the bitmap; then the granules (gmem
 * clusters) that became wholly ballooned — or stopped being so — are merged into ranges and
 * handed to the backend. Sorting first means one backend call per run of granules, not per page.
 *
 *   balloon bitmap, granule = 4 pages:   granule:  0     1     2     3
 *   after inflating pfns 4-7, 9, 12-15             ....  ####  .#..  ####
 *   backend inflate calls:                               [4,8)             [12,16)
 *   (granule 2 stays backed: the host frees whole granules only)
 *
 * Lock: the transport's (virtio_mmio.h); every function here runs with it held but the public
 * entry points, which take it.
 */
#include "virtio_balloon.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "error.h"
#include "machine.h"
#include "seccomp_filter.h"

#define VB_QUEUE_MAX   256            /* QueueNumMax of every balloon queue */
#define VB_MAX_INTERVAL 3600          /* stats-interval upper bound, seconds */

_Static_assert(sizeof(struct virtio_balloon_config) == 16, "virtio 5.5.4 config layout");
_Static_assert(sizeof(struct virtio_balloon_stat) == 10, "virtio 5.5.6.3 stat is packed");

/* ---- options -------------------------------------------------------------------------------- */

static int vb_parse_onoff(const char *key, const char *v, bool *out)
{
	if (!strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "off"))
		*out = false;
	else
		return mv_fail(EINVAL, "--balloon %s=%s: expected on or off", key, v);
	return 0;
}

int virtio_balloon_parse(struct virtio_balloon_opts *o, const char *spec)
{
	char buf[256], *save = NULL;
	int err = 0;

	o->given = true;
	o->stats_interval_s = 0;
	if (strlen(spec) >= sizeof(buf))
		return mv_fail(EINVAL, "--balloon: option too long");
	strcpy(buf, spec);
	for (char *kv = strtok_r(buf, ",", &save); kv && !err; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');

		if (!v)
			return mv_fail(EINVAL, "--balloon: '%s' is not KEY=VALUE", kv);
		*v++ = '\0';
		if (!strcmp(kv, "target")) {
			if (machine_parse_size(v, &o->target))
				return mv_fail(EINVAL, "--balloon target=%s: not a size (e.g. 64M)", v);
		} else if (!strcmp(kv, "stats-interval")) {
			char *end;
			unsigned long s = strtoul(v, &end, 10);

			if (!*v || *end || s > VB_MAX_INTERVAL)
				return mv_fail(EINVAL, "--balloon stats-interval=%s: expected seconds "
					       "0..%d", v, VB_MAX_INTERVAL);
			o->stats_interval_s = (unsigned)s;
		} else if (!strcmp(kv, "deflate-on-oom")) {
			err = vb_parse_onoff(kv, v, &o->deflate_on_oom);
		} else if (!strcmp(kv, "free-page-reporting")) {
			err = vb_parse_onoff(kv, v, &o->reporting);
		} else {
			return mv_fail(EINVAL, "--balloon: unknown key '%s' (target, stats-interval, "
				       "deflate-on-oom, free-page-reporting)", kv);
		}
	}
	return err;
}

/* ---- bitmap --------------------------------------------------------------------------------- */

static bool vb_test(const struct virtio_balloon *b, uint64_t p)
{
	return b->bitmap[p / 64] & (UINT64_C(1) << (p % 64));
}

static void vb_assign(struct virtio_balloon *b, uint64_t p, bool on)
{
	if (on)
		b->bitmap[p / 64] |= UINT64_C(1) << (p % 64);
	else
		b->bitmap[p / 64] &= ~(UINT64_C(1) << (p % 64));
}

/* Every page of the granule holding page p is in the balloon. */
static bool vb_granule_full(const struct virtio_balloon *b, uint64_t p)
{
	uint64_t first = p & ~(uint64_t)(b->be.granule_pages - 1);

	for (uint64_t q = first; q < first + b->be.granule_pages; q++)
		if (q >= b->nr_pages || !vb_test(b, q))
			return false;
	return true;
}

/* ---- backend calls on merged granule ranges ------------------------------------------------ */

typedef int (*vb_backend_fn)(void *arg, gpa_t gpa, uint64_t len, uint64_t *pages);

/* Accumulates granules into one range; flushes when a non-adjacent one comes. */
struct vb_range {
	uint64_t first, end;          /* pages */
	vb_backend_fn fn;
	uint64_t *counter;
};

static void vb_range_flush(struct virtio_balloon *b, struct vb_range *r)
{
	uint64_t pages = 0;

	if (r->first == r->end)
		return;
	if (r->fn(b->be.arg, r->first * VIRTIO_BALLOON_PAGE, (r->end - r->first) * VIRTIO_BALLOON_PAGE,
		  &pages)) {
		b->st.backend_errors++;
		virtio_mmio_log_locked(&b->t, "host could not take back pages 0x%" PRIx64 "+0x%"
				       PRIx64 ": %s", r->first, r->end - r->first, mv_error());
	}
	*r->counter += pages;
	r->first = r->end = 0;
}

static void vb_range_add(struct virtio_balloon *b, struct vb_range *r, uint64_t granule_first)
{
	if (r->first != r->end && r->end != granule_first)
		vb_range_flush(b, r);
	if (r->first == r->end)
		r->first = granule_first;
	r->end = granule_first + b->be.granule_pages;
}

/* ---- inflate / deflate ---------------------------------------------------------------------- */

static int vb_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* A PFN the guest may give: its page is guest RAM. */
static bool vb_pfn_valid(const struct virtio_balloon *b, uint32_t pfn)
{
	gpa_t gpa = (gpa_t)pfn << VIRTIO_BALLOON_PFN_SHIFT;

	return pfn < b->nr_pages && guest_mem_ptr(b->gm, gpa, VIRTIO_BALLOON_PAGE);
}

/* Apply one batch of n PFNs (in b->pfns) to the balloon: inflate or deflate. */
static void vb_batch(struct virtio_balloon *b, unsigned n, bool inflate)
{
	struct vb_range r = { .fn = inflate ? b->be.inflate : b->be.deflate,
			      .counter = inflate ? &b->st.host_inflated : &b->st.host_deflated };
	uint64_t last_granule = UINT64_MAX;
	unsigned bad = 0, dups = 0;

	qsort(b->pfns, n, sizeof(b->pfns[0]), vb_cmp_u32);
	for (unsigned i = 0; i < n; i++) {
		uint32_t pfn = b->pfns[i];
		uint64_t granule = pfn & ~(uint64_t)(b->be.granule_pages - 1);

		if (!vb_pfn_valid(b, pfn)) {
			bad++;
			continue;
		}
		if (i && b->pfns[i - 1] == pfn) {          /* the same page twice in one request */
			dups++;
			continue;
		}
		if (vb_test(b, pfn) == inflate) {          /* already in (inflate) / out (deflate) */
			dups++;
			continue;
		}
		/* deflate: the granule was the host's before this page leaves it */
		if (!inflate && granule != last_granule && vb_granule_full(b, pfn)) {
			vb_range_add(b, &r, granule);
			last_granule = granule;
		}
		vb_assign(b, pfn, inflate);
		if (inflate) {
			b->st.inflated++;
			if (++b->st.held > b->num_pages)
				b->st.over_target++;
		} else {
			b->st.deflated++;
			b->st.held--;
		}
		if (inflate && granule != last_granule && vb_granule_full(b, pfn)) {
			vb_range_add(b, &r, granule);
			last_granule = granule;
		}
	}
	vb_range_flush(b, &r);
	b->st.bad_pfns += bad;
	if (inflate)
		b->st.duplicates += dups;
	else
		b->st.not_held += dups;
	if (bad || dups)
		virtio_mmio_log_locked(&b->t, "%s: %u PFNs outside guest RAM, %u %s; ignored",
				       inflate ? "inflate" : "deflate", bad, dups,
				       inflate ? "already in the balloon" : "not in the balloon");
}

/* An inflate or deflate chain: its device-readable bytes are PFNs. */
static void vb_pfn_request(struct virtio_balloon *b, const struct virtq_elem *e, bool inflate)
{
	unsigned n = 0;

	if (e->out_len % sizeof(uint32_t) || e->nr_in) {
		b->st.bad_requests++;
		virtio_mmio_log_locked(&b->t, "%s request of %" PRIu64 " bytes (%u writable buffers): "
				       "not whole PFNs; the partial one is ignored",
				       inflate ? "inflate" : "deflate", e->out_len, e->nr_in);
	}
	for (unsigned i = 0; i < e->nr_out; i++) {
		const struct virtq_buf *buf = &e->buf[i];

		/* a PFN split over two buffers is dropped (the driver never does that) */
		for (uint32_t off = 0; off + sizeof(uint32_t) <= buf->len; off += sizeof(uint32_t)) {
			uint32_t pfn;

			memcpy(&pfn, buf->hva + off, sizeof(pfn));       /* one fetch */
			b->pfns[n++] = le32toh(pfn);
			if (n == VIRTIO_BALLOON_BATCH) {
				vb_batch(b, n, inflate);
				n = 0;
			}
		}
	}
	if (n)
		vb_batch(b, n, inflate);
}

/* A free page report: each device-writable buffer is a free range the host may discard. */
static void vb_report(struct virtio_balloon *b, const struct virtq_elem *e)
{
	struct vb_range r = { .fn = b->be.discard, .counter = &b->st.reported };
	uint64_t gsize = (uint64_t)b->be.granule_pages * VIRTIO_BALLOON_PAGE;

	for (unsigned i = e->nr_out; i < e->nr_out + e->nr_in; i++) {
		gpa_t start = (e->buf[i].gpa + gsize - 1) & ~(gsize - 1);
		gpa_t end = (e->buf[i].gpa + e->buf[i].len) & ~(gsize - 1);

		for (gpa_t g = start; g < end; g += gsize)
			vb_range_add(b, &r, g / VIRTIO_BALLOON_PAGE);
	}
	vb_range_flush(b, &r);
}

/* A stats buffer: record what it says and keep it until the next poll. */
static void vb_stats(struct virtio_balloon *b, struct virtq *q, const struct virtq_elem *e)
{
	if (b->stats_held) {                 /* a second buffer: give the first back */
		b->st.bad_requests++;
		virtio_mmio_log_locked(&b->t, "a second stats buffer while one is held");
		virtq_push(q, b->stats_head, 0);
	}
	for (unsigned i = 0; i < e->nr_out; i++) {
		const struct virtq_buf *buf = &e->buf[i];

		for (uint32_t off = 0; off + sizeof(struct virtio_balloon_stat) <= buf->len;
		     off += sizeof(struct virtio_balloon_stat)) {
			struct virtio_balloon_stat s;

			memcpy(&s, buf->hva + off, sizeof(s));
			if (le16toh(s.tag) < VIRTIO_BALLOON_S_NR) {   /* unknown tags are allowed */
				b->st.guest_stat[le16toh(s.tag)] = le64toh(s.val);
				b->st.guest_stat_seen |= UINT32_C(1) << le16toh(s.tag);
			}
		}
	}
	b->st.stats_updates++;
	b->st.stats_last_update = (int64_t)time(NULL);
	b->stats_held = true;
	b->stats_head = e->head;
}

/* ---- device model ops ----------------------------------------------------------------------- */

static struct virtio_balloon *vb_of(struct virtio_mmio *t)
{
	return t->dev;
}

static uint64_t vb_features(struct virtio_mmio *t)
{
	const struct virtio_balloon *b = vb_of(t);
	uint64_t f = 0;

	if (b->opts.stats_interval_s)
		f |= UINT64_C(1) << VIRTIO_BALLOON_F_STATS_VQ;
	if (b->opts.deflate_on_oom)
		f |= UINT64_C(1) << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (b->opts.reporting)
		f |= UINT64_C(1) << VIRTIO_BALLOON_F_REPORTING;
	return f;
}

/* Queue index → role: inflate and deflate always, then the optional ones `features` has. */
static void vb_roles(struct virtio_balloon *b, uint64_t features)
{
	unsigned n = 0;

	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		b->role[i] = -1;
	b->role[n++] = VB_Q_INFLATE;
	b->role[n++] = VB_Q_DEFLATE;
	if (features & (UINT64_C(1) << VIRTIO_BALLOON_F_STATS_VQ))
		b->role[n++] = VB_Q_STATS;
	if (features & (UINT64_C(1) << VIRTIO_BALLOON_F_REPORTING))
		b->role[n++] = VB_Q_REPORT;
}

/* Queues are numbered by what was negotiated (as Linux's virtio_mmio and QEMU number them). */
static bool vb_features_ok(struct virtio_mmio *t, uint64_t features)
{
	struct virtio_balloon *b = vb_of(t);

	b->features = features;
	vb_roles(b, features);
	return true;
}

static bool vb_queue_exists(struct virtio_mmio *t, unsigned q)
{
	return vb_of(t)->role[q] >= 0;
}

static void vb_config_bytes(const struct virtio_balloon *b, uint8_t out[16])
{
	struct virtio_balloon_config c = { .num_pages = htole32(b->num_pages),
					   .actual = htole32(b->actual) };

	memcpy(out, &c, sizeof(c));
}

static void vb_config_read(struct virtio_mmio *t, uint32_t off, uint8_t *data, unsigned len)
{
	uint8_t c[16];

	vb_config_bytes(vb_of(t), c);
	memcpy(data, c + off, len);
}

/* Only `actual` (bytes 4..7) is the driver's to write. */
static void vb_config_write(struct virtio_mmio *t, uint32_t off, const uint8_t *data,
			    unsigned len)
{
	struct virtio_balloon *b = vb_of(t);
	const uint32_t a = offsetof(struct virtio_balloon_config, actual);
	uint8_t c[16];
	uint32_t actual;

	if (off < a || off + len > a + sizeof(uint32_t)) {
		t->st.ro_writes++;
		virtio_mmio_log_locked(t, "write to read-only config bytes %u..%u; ignored", off,
				       off + len - 1);
		return;
	}
	vb_config_bytes(b, c);
	memcpy(c + off, data, len);
	memcpy(&actual, c + a, sizeof(actual));
	actual = le32toh(actual);
	if (actual != b->actual && b->actual_changed)
		b->actual_changed(b->actual_arg, (uint64_t)actual << VIRTIO_BALLOON_PFN_SHIFT);
	b->actual = actual;
}

static void vb_queue_notify(struct virtio_mmio *t, unsigned qi)
{
	struct virtio_balloon *b = vb_of(t);
	struct virtq *q = virtio_mmio_queue_locked(t, qi);
	int role = b->role[qi], r;
	bool pushed = false;

	if (!q || role < 0)
		return;
	for (;;) {
		while ((r = virtq_pop(q, &b->elem)) > 0) {
			switch (role) {
			case VB_Q_INFLATE:
			case VB_Q_DEFLATE:
				vb_pfn_request(b, &b->elem, role == VB_Q_INFLATE);
				break;
			case VB_Q_REPORT:
				vb_report(b, &b->elem);
				break;
			case VB_Q_STATS:
				vb_stats(b, q, &b->elem);
				continue;               /* held, not returned now */
			}
			virtq_push(q, b->elem.head, 0);
			pushed = true;
		}
		if (r < 0) {
			virtio_mmio_needs_reset_locked(t, mv_error());
			return;
		}
		if (!virtq_enable_notify(q))
			break;
	}
	if (pushed)
		virtio_mmio_used_locked(t, qi);
}

/*
 * Reset: the driver forgets its balloon (Linux's probe/remove start from an empty one), so the
 * pages in it are the guest's again: deflate every whole granule still held.
 */
static void vb_reset(struct virtio_mmio *t)
{
	struct virtio_balloon *b = vb_of(t);
	struct vb_range r = { .fn = b->be.deflate, .counter = &b->st.host_deflated };

	for (uint64_t p = 0; p < b->nr_pages; p += b->be.granule_pages)
		if (vb_granule_full(b, p))
			vb_range_add(b, &r, p);
	vb_range_flush(b, &r);
	memset(b->bitmap, 0, ((b->nr_pages + 63) / 64) * sizeof(uint64_t));
	b->st.held = 0;
	b->actual = 0;
	b->stats_held = false;
	b->features = 0;
	vb_roles(b, 0);
}

static const struct virtio_dev_ops vb_ops = {
	.name = "balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.nr_queues = VB_Q_NR,
	.queue_max = VB_QUEUE_MAX,
	.config_size = sizeof(struct virtio_balloon_config),
	.features = vb_features,
	.features_ok = vb_features_ok,
	.config_read = vb_config_read,
	.config_write = vb_config_write,
	.queue_exists = vb_queue_exists,
	.queue_notify = vb_queue_notify,
	.reset = vb_reset,
};

/* ---- public ----------------------------------------------------------------------------------- */

static uint32_t vb_target_pages(const struct virtio_balloon *b, uint64_t bytes)
{
	uint64_t p = bytes / VIRTIO_BALLOON_PAGE;

	if (p > b->nr_pages)
		p = b->nr_pages;
	return p > UINT32_MAX ? UINT32_MAX : (uint32_t)p;
}

int virtio_balloon_init(struct virtio_balloon *b, const struct virtio_balloon_opts *o,
			const struct virtio_balloon_backend *be, const struct guest_mem *gm,
			gpa_t ram_end, gpa_t base, uint32_t gsi,
			void (*irq)(void *arg, uint32_t gsi), void *irq_arg)
{
	int err;

	if (!be || !be->inflate || !be->deflate || !be->discard || !be->granule_pages ||
	    (be->granule_pages & (be->granule_pages - 1)))
		return mv_fail(EINVAL, "balloon: backend incomplete or granule not a power of two");
	memset(b, 0, sizeof(*b));
	b->opts = *o;
	b->be = *be;
	b->gm = gm;
	b->nr_pages = ram_end / VIRTIO_BALLOON_PAGE;
	if (b->nr_pages > (UINT64_C(1) << 32))
		b->nr_pages = UINT64_C(1) << 32;          /* a u32 PFN reaches no further */
	b->bitmap = calloc((b->nr_pages + 63) / 64 + 1, sizeof(uint64_t));
	if (!b->bitmap)
		return mv_fail(ENOMEM, "balloon: no memory for the page bitmap");
	vb_roles(b, 0);
	b->num_pages = vb_target_pages(b, o->target);
	b->interval_s = o->stats_interval_s;
	pthread_cond_init(&b->timer_cond, NULL);
	err = virtio_mmio_init(&b->t, &vb_ops, b, gm, base, gsi, irq, irq_arg);
	if (err) {
		free(b->bitmap);
		pthread_cond_destroy(&b->timer_cond);
	}
	return err;
}

/*
 * The stats timer: every interval_s seconds hand the held buffer back. A change of interval
 * (or stop) broadcasts timer_cond: the wait starts over with the new interval.
 */
static void *vb_timer(void *arg)
{
	struct virtio_balloon *b = arg;
	struct timespec t;

	seccomp_enter(THREAD_MEMORY, "balloon-stats");
	virtio_mmio_lock(&b->t);
	while (!b->timer_stop) {
		unsigned interval = b->interval_s;

		if (interval == 0) {                 /* paused: until a new interval or stop */
			pthread_cond_wait(&b->timer_cond, &b->t.lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += interval;
		if (pthread_cond_timedwait(&b->timer_cond, &b->t.lock, &t) != ETIMEDOUT)
			continue;                    /* woken: stop, a new interval, or spurious */
		virtio_mmio_unlock(&b->t);
		virtio_balloon_poll_stats(b);
		virtio_mmio_lock(&b->t);
	}
	virtio_mmio_unlock(&b->t);
	return NULL;
}

int virtio_balloon_start(struct virtio_balloon *b)
{
	pthread_condattr_t ca;
	int err;

	if (!b->opts.stats_interval_s)
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&b->timer_cond);
	pthread_cond_init(&b->timer_cond, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&b->timer, NULL, vb_timer, b);
	if (err)
		return mv_fail(err, "balloon: cannot start the stats timer: %s", strerror(err));
	b->timer_started = true;
	return 0;
}

void virtio_balloon_stop(struct virtio_balloon *b)
{
	if (!b->timer_started)
		return;
	virtio_mmio_lock(&b->t);
	b->timer_stop = true;
	pthread_cond_broadcast(&b->timer_cond);
	virtio_mmio_unlock(&b->t);
	pthread_join(b->timer, NULL);
	b->timer_started = false;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	virtio_balloon_stop(b);
	virtio_mmio_destroy(&b->t);
	pthread_cond_destroy(&b->timer_cond);
	free(b->bitmap);
	b->bitmap = NULL;
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint64_t bytes)
{
	virtio_mmio_lock(&b->t);
	b->num_pages = vb_target_pages(b, bytes);
	virtio_mmio_config_changed_locked(&b->t);
	virtio_mmio_unlock(&b->t);
}

int virtio_balloon_set_interval(struct virtio_balloon *b, uint64_t seconds)
{
	int err = 0;

	virtio_mmio_lock(&b->t);
	if (!b->timer_started)
		err = mv_fail(EINVAL, "the balloon has no statistics queue (give --balloon "
			      "stats-interval=S to have one)");
	else if (seconds > VB_MAX_INTERVAL)
		err = mv_fail(EINVAL, "guest-stats-polling-interval %" PRIu64 " is above %d s",
			      seconds, VB_MAX_INTERVAL);
	if (!err) {
		b->interval_s = (unsigned)seconds;
		pthread_cond_broadcast(&b->timer_cond);
	}
	virtio_mmio_unlock(&b->t);
	return err;
}

unsigned virtio_balloon_interval(struct virtio_balloon *b)
{
	unsigned s;

	virtio_mmio_lock(&b->t);
	s = b->interval_s;
	virtio_mmio_unlock(&b->t);
	return s;
}

void virtio_balloon_poll_stats(struct virtio_balloon *b)
{
	virtio_mmio_lock(&b->t);
	for (unsigned qi = 0; qi < VIRTIO_MMIO_MAX_QUEUES; qi++) {
		struct virtq *q;

		if (b->role[qi] != VB_Q_STATS || !b->stats_held)
			continue;
		q = virtio_mmio_queue_locked(&b->t, qi);
		if (!q)
			continue;
		b->stats_held = false;
		virtq_push(q, b->stats_head, 0);
		virtio_mmio_used_locked(&b->t, qi);
	}
	virtio_mmio_unlock(&b->t);
}

void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *st)
{
	virtio_mmio_lock(&b->t);
	*st = b->st;
	st->num_pages = b->num_pages;
	st->actual = b->actual;
	virtio_mmio_unlock(&b->t);
}
