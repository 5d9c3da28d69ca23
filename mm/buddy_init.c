/*
 * mm/buddy_init.c — sizing and setting up a buddy allocator instance over caller memory:
 * range validation, the metadata layout (zones, per-CPU data, section table, descriptors),
 * Linux's default watermarks and per-CPU batch sizes, and the initial free lists.
 *
 * Locking: none. buddy_init() runs before the instance is shared; it initialises the zone locks.
 *
 * Metadata layout (from a 64-byte aligned start inside the caller's buffer):
 *
 *   [ zones: nr_zones x struct buddy_zone                  ]  64-byte aligned
 *   [ per-CPU data: nr_zones x MM_MAX_CPUS x struct buddy_pcp ]
 *   [ section table: nr_sections x struct buddy_section    ]
 *   [ descriptors: nr_frames x struct buddy_frame          ]
 *
 * Sections are the 2^BUDDY_SECTION_SHIFT-frame windows between the lowest and highest pfn. A
 * section with memory gets descriptors for [its first present pfn, its last present pfn], holes
 * in between included (marked BUDDY_FRAME_HOLE); a section without memory gets none. So the
 * descriptor array costs the present frames plus the holes inside partly-present sections, and
 * the section table 24 bytes per 128 MiB of address span.
 */
#include "buddy_internal.h"

struct buddy_layout {
	uint8_t sorted[BUDDY_MAX_RANGES];       /* range indices by start pfn */
	uint8_t zone_of[MM_MAX_NODES][BUDDY_NR_ZONES];
	unsigned nr_zones;
	unsigned max_node;
	uint64_t first_section, nr_sections, nr_frames;
	size_t off_pcp, off_sections, off_frames, total;
};

static inline pfn_t range_end(const struct buddy_range *r)
{
	return r->start + r->nr_pages;
}

static inline size_t align_up_size(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Validate the ranges and sort their indices by start pfn (insertion sort: nr <= 64). */
static int ranges_check(const struct buddy_range *r, unsigned nr, struct buddy_layout *l,
			const char *func)
{
	const char *bad = NULL;

	if (!r)
		bad = "ranges is NULL";
	else if (nr == 0)
		bad = "no ranges (nr_ranges is 0)";
	else if (nr > BUDDY_MAX_RANGES)
		bad = "more than BUDDY_MAX_RANGES ranges";
	for (unsigned i = 0; !bad && i < nr; i++) {
		if (r[i].nr_pages == 0)
			bad = "empty range (nr_pages is 0)";
		else if (r[i].node >= MM_MAX_NODES)
			bad = "range node out of range (>= MM_MAX_NODES)";
		else if (r[i].start >= BUDDY_MAX_PFN || r[i].nr_pages > BUDDY_MAX_PFN - r[i].start)
			bad = "range extends beyond BUDDY_MAX_PFN";
	}
	if (bad) {
		mm_env_report(func, bad);
		return -MM_EINVAL;
	}
	for (unsigned i = 0; i < nr; i++) {
		unsigned j = i;

		while (j > 0 && r[l->sorted[j - 1]].start > r[i].start) {
			l->sorted[j] = l->sorted[j - 1];
			j--;
		}
		l->sorted[j] = (uint8_t)i;
	}
	for (unsigned i = 1; i < nr; i++) {
		if (range_end(&r[l->sorted[i - 1]]) > r[l->sorted[i]].start) {
			mm_env_report(func, "ranges overlap");
			return -MM_EINVAL;
		}
	}
	return 0;
}

/*
 * Descriptors needed: per section with memory, its last present pfn + 1 minus its first.
 * Ranges are visited in pfn order; `cur_sec`/`cur_hi` track the section being extended.
 */
static uint64_t count_frames(const struct buddy_range *r, const struct buddy_layout *l,
			     unsigned nr)
{
	uint64_t frames = 0, cur_sec = UINT64_MAX, cur_hi = 0;

	for (unsigned k = 0; k < nr; k++) {
		const struct buddy_range *rg = &r[l->sorted[k]];
		pfn_t start = rg->start, end = range_end(rg);
		uint64_t s0 = start >> BUDDY_SECTION_SHIFT, s1 = (end - 1) >> BUDDY_SECTION_SHIFT;
		pfn_t first_hi = s0 == s1 ? end : (s0 + 1) << BUDDY_SECTION_SHIFT;

		if (s0 == cur_sec)
			frames += first_hi - cur_hi;        /* extends the section, hole included */
		else
			frames += first_hi - start;
		cur_sec = s0;
		cur_hi = first_hi;
		if (s1 > s0) {
			/* whole sections in between, then the start of the last one */
			frames += (s1 - s0 - 1) << BUDDY_SECTION_SHIFT;
			frames += end - (s1 << BUDDY_SECTION_SHIFT);
			cur_sec = s1;
			cur_hi = end;
		}
	}
	return frames;
}

static int layout_compute(const struct buddy_range *r, unsigned nr, struct buddy_layout *l,
			  const char *func)
{
	pfn_t lo = UINT64_MAX, hi = 0;
	size_t off;

	for (unsigned n = 0; n < MM_MAX_NODES; n++)
		for (unsigned z = 0; z < BUDDY_NR_ZONES; z++)
			l->zone_of[n][z] = BUDDY_NO_ZONE;
	l->nr_zones = 0;
	l->max_node = 0;
	if (ranges_check(r, nr, l, func))
		return -MM_EINVAL;
	for (unsigned i = 0; i < nr; i++) {
		if (r[i].start < BUDDY_DMA32_END_PFN)
			l->zone_of[r[i].node][BUDDY_ZONE_DMA32] = 0;
		if (range_end(&r[i]) > BUDDY_DMA32_END_PFN)
			l->zone_of[r[i].node][BUDDY_ZONE_NORMAL] = 0;
		if (r[i].node > l->max_node)
			l->max_node = r[i].node;
		if (r[i].start < lo)
			lo = r[i].start;
		if (range_end(&r[i]) > hi)
			hi = range_end(&r[i]);
	}
	/* number the populated zones node-major, DMA32 before NORMAL */
	for (unsigned n = 0; n < MM_MAX_NODES; n++)
		for (unsigned z = 0; z < BUDDY_NR_ZONES; z++)
			if (l->zone_of[n][z] != BUDDY_NO_ZONE)
				l->zone_of[n][z] = (uint8_t)l->nr_zones++;
	l->first_section = lo >> BUDDY_SECTION_SHIFT;
	l->nr_sections = ((hi - 1) >> BUDDY_SECTION_SHIFT) - l->first_section + 1;
	l->nr_frames = count_frames(r, l, nr);

	off = (size_t)l->nr_zones * sizeof(struct buddy_zone);
	l->off_pcp = align_up_size(off, BUDDY_CACHELINE);
	off = l->off_pcp + (size_t)l->nr_zones * MM_MAX_CPUS * sizeof(struct buddy_pcp);
	l->off_sections = align_up_size(off, 8);
	off = l->off_sections + (size_t)l->nr_sections * sizeof(struct buddy_section);
	l->off_frames = align_up_size(off, 8);
	off = l->off_frames + (size_t)l->nr_frames * sizeof(struct buddy_frame);
	l->total = off + BUDDY_CACHELINE - 1;   /* room to align the caller's buffer */
	return 0;
}

size_t buddy_meta_size(const struct buddy_range *ranges, unsigned nr)
{
	struct buddy_layout l;

	if (layout_compute(ranges, nr, &l, __func__))
		return 0;
	return l.total;
}

/* floor(sqrt(x)), digit by digit: no floating point in mm/. */
static uint64_t isqrt64(uint64_t x)
{
	uint64_t r = 0, bit = UINT64_C(1) << 62;

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

/*
 * Linux's calculate_min_free_kbytes() + __setup_per_zone_wmarks() (v6.1, no highmem,
 * watermark_scale_factor 10): min_free_kbytes = sqrt(16 * managed KiB) clamped to
 * [128 KiB, 256 MiB], shared among zones by size; low = min + d, high = min + 2d with
 * d = max(min / 4, managed * 0.1%). min_free_pages overrides the sqrt formula.
 */
static void setup_watermarks(struct buddy *b, uint64_t min_free_pages)
{
	uint64_t total = 0, pages_min;

	for (unsigned i = 0; i < b->nr_zones; i++)
		total += b->zones[i].managed_pages;
	if (min_free_pages) {
		pages_min = min_free_pages;
	} else {
		uint64_t kb = isqrt64(total * (MM_PAGE_SIZE >> 10) * 16);

		kb = kb < 128 ? 128 : kb > 262144 ? 262144 : kb;
		pages_min = kb >> (MM_PAGE_SHIFT - 10);
	}
	for (unsigned i = 0; i < b->nr_zones; i++) {
		struct buddy_zone *z = &b->zones[i];
		uint64_t min = pages_min * z->managed_pages / total;
		uint64_t d = z->managed_pages * 10 / 10000;

		if (b->flags & BUDDY_CFG_NO_WATERMARKS)
			continue;
		if (min / 4 > d)
			d = min / 4;
		z->wmark[BUDDY_WMARK_MIN] = min;
		z->wmark[BUDDY_WMARK_LOW] = min + d;
		z->wmark[BUDDY_WMARK_HIGH] = min + 2 * d;
	}
}

/* Linux's zone_batchsize(): ~0.1% of the zone, at most 1 MiB / 4, rounded to 2^n - 1. */
static unsigned default_batch(uint64_t managed)
{
	uint64_t batch = managed >> 10;

	if (batch > (1024 * 1024) / MM_PAGE_SIZE)
		batch = (1024 * 1024) / MM_PAGE_SIZE;
	batch /= 4;
	if (batch < 1)
		batch = 1;
	batch += batch / 2;
	batch = (UINT64_C(1) << (63 - __builtin_clzll(batch))) - 1;
	return batch < 1 ? 1 : (unsigned)batch;
}

static int config_check(const struct buddy_config *cfg, const struct buddy_layout *l,
			unsigned *nr_nodes)
{
	if (cfg->nr_orders > BUDDY_MAX_ORDERS)
		return MM_INVAL("nr_orders above BUDDY_MAX_ORDERS");
	if (cfg->flags & ~BUDDY_CFG_VALID)
		return MM_INVAL("unknown config flags");
	if (cfg->pcp_high && cfg->pcp_batch && cfg->pcp_high < cfg->pcp_batch)
		return MM_INVAL("pcp_high below pcp_batch");
	if (cfg->pcp_high > UINT32_MAX / 2 || cfg->pcp_batch > UINT32_MAX / 2)
		return MM_INVAL("pcp_high or pcp_batch too large");
	if (cfg->distance) {
		if (numa_distance_validate(cfg->distance, false))
			return -MM_EINVAL;
		if (l->max_node >= cfg->distance->nr_nodes)
			return MM_INVAL("a range's node is not in the distance table");
		*nr_nodes = cfg->distance->nr_nodes;
	} else {
		*nr_nodes = l->max_node + 1;
	}
	return 0;
}

static void init_zones(struct buddy *b, const struct buddy_config *cfg, char *base,
		       const struct buddy_layout *l)
{
	struct buddy_pcp *pcp = (struct buddy_pcp *)(void *)(base + l->off_pcp);

	for (unsigned n = 0; n < MM_MAX_NODES; n++) {
		for (unsigned zid = 0; zid < BUDDY_NR_ZONES; zid++) {
			unsigned idx = l->zone_of[n][zid];
			struct buddy_zone *z;

			b->zone_of[n][zid] = (uint8_t)idx;
			if (idx == BUDDY_NO_ZONE)
				continue;
			b->mem_nodes |= (nodemask_t)1 << n;
			z = &b->zones[idx];
			mm_env_lock_init(&z->lock);
			z->node = (uint8_t)n;
			z->zid = (uint8_t)zid;
			z->idx = (uint8_t)idx;
			z->span_start = UINT64_MAX;
			for (unsigned o = 0; o < BUDDY_MAX_ORDERS; o++)
				list_init(&z->free_list[o]);
			z->pcp = &pcp[(size_t)idx * MM_MAX_CPUS];
			for (unsigned c = 0; c < MM_MAX_CPUS; c++)
				list_init(&z->pcp[c].list);
		}
	}
	/* managed pages and spans, for watermarks and batch sizes */
	for (unsigned i = 0; i < cfg->nr_ranges; i++) {
		const struct buddy_range *r = &cfg->ranges[i];
		pfn_t split = BUDDY_DMA32_END_PFN;
		pfn_t parts[2][2] = {
			{ r->start, range_end(r) < split ? range_end(r) : split },
			{ r->start > split ? r->start : split, range_end(r) },
		};

		for (unsigned zid = 0; zid < BUDDY_NR_ZONES; zid++) {
			struct buddy_zone *z;

			if (parts[zid][0] >= parts[zid][1])
				continue;
			z = &b->zones[b->zone_of[r->node][zid]];
			z->managed_pages += parts[zid][1] - parts[zid][0];
			if (parts[zid][0] < z->span_start)
				z->span_start = parts[zid][0];
			if (parts[zid][1] > z->span_end)
				z->span_end = parts[zid][1];
		}
	}
	for (unsigned i = 0; i < b->nr_zones; i++) {
		struct buddy_zone *z = &b->zones[i];
		unsigned batch = cfg->pcp_batch ? cfg->pcp_batch : default_batch(z->managed_pages);
		unsigned high = cfg->pcp_high ? cfg->pcp_high : 4 * batch;

		if (batch > high)
			batch = high;
		if (b->flags & BUDDY_CFG_NO_PCP)
			high = batch = 0;
		z->pcp_high = high;
		z->pcp_batch = batch;
	}
	setup_watermarks(b, cfg->min_free_pages);
}

/* Fill the section table and mark every descriptor a hole; the ranges then claim theirs. */
static void init_sections(struct buddy *b, const struct buddy_range *r, unsigned nr,
			  const struct buddy_layout *l)
{
	struct buddy_frame *next = b->frames;

	for (uint64_t i = 0; i < b->nr_sections; i++) {
		b->sections[i].start = 0;
		b->sections[i].nr = 0;
		b->sections[i].frames = NULL;
	}
	for (unsigned k = 0; k < nr; k++) {
		const struct buddy_range *rg = &r[l->sorted[k]];
		pfn_t end = range_end(rg);

		for (pfn_t p = rg->start; p < end;) {
			uint64_t sn = p >> BUDDY_SECTION_SHIFT;
			struct buddy_section *s = &b->sections[sn - b->first_section];
			pfn_t sec_end = (sn + 1) << BUDDY_SECTION_SHIFT;
			pfn_t hi = end < sec_end ? end : sec_end;

			if (s->nr == 0) {
				s->start = p;
				s->frames = next;
			}
			next += hi - (s->start + s->nr);
			s->nr = hi - s->start;
			p = hi;
		}
	}
	MM_BUG_ON(next != b->frames + b->nr_frames);
	for (uint64_t i = 0; i < b->nr_sections; i++) {
		struct buddy_section *s = &b->sections[i];

		for (uint64_t off = 0; off < s->nr; off++) {
			struct buddy_frame *f = &s->frames[off];

			list_init(&f->lru);
			f->priv = NULL;
			f->refcount = 0;
			f->order = 0;
			f->flags = BUDDY_FRAME_HOLE;
			f->zone = BUDDY_NO_ZONE;
			f->node = 0xff;
			f->section = (uint32_t)i;
		}
	}
}

/*
 * Claim each range's descriptors and free its frames into the zones in the largest aligned
 * blocks; merging makes the result the unique fully-coalesced shape, even across adjacent
 * ranges of the same node and zone.
 */
static void free_ranges(struct buddy *b, const struct buddy_range *r, unsigned nr)
{
	for (unsigned i = 0; i < nr; i++) {
		pfn_t end = range_end(&r[i]);

		for (pfn_t p = r[i].start; p < end; p++) {
			struct buddy_section *s =
				&b->sections[(p >> BUDDY_SECTION_SHIFT) - b->first_section];
			struct buddy_frame *f = &s->frames[p - s->start];
			unsigned zid = p < BUDDY_DMA32_END_PFN ? BUDDY_ZONE_DMA32 : BUDDY_ZONE_NORMAL;

			f->flags = 0;
			f->node = (uint8_t)r[i].node;
			f->zone = b->zone_of[r[i].node][zid];
		}
		for (pfn_t p = r[i].start; p < end;) {
			unsigned zid = p < BUDDY_DMA32_END_PFN ? BUDDY_ZONE_DMA32 : BUDDY_ZONE_NORMAL;
			struct buddy_zone *z = &b->zones[b->zone_of[r[i].node][zid]];
			unsigned order = b->nr_orders - 1;
			pfn_t zone_end = zid == BUDDY_ZONE_DMA32 && end > BUDDY_DMA32_END_PFN ?
					 BUDDY_DMA32_END_PFN : end;

			while ((p & ((UINT64_C(1) << order) - 1)) ||
			       (UINT64_C(1) << order) > zone_end - p)
				order--;
			buddy_zone_free_locked_(b, z, buddy_pfn_to_frame(b, p), order);
			p += UINT64_C(1) << order;
		}
	}
}

int buddy_init(struct buddy *b, const struct buddy_config *cfg, void *meta, size_t meta_size)
{
	struct buddy_layout l;
	unsigned nr_nodes;
	char *base;

	if (!b || !cfg)
		return MM_INVAL("NULL allocator or config");
	if (layout_compute(cfg->ranges, cfg->nr_ranges, &l, __func__))
		return -MM_EINVAL;
	if (config_check(cfg, &l, &nr_nodes))
		return -MM_EINVAL;
	if (!meta)
		return MM_INVAL("metadata buffer is NULL");
	if (meta_size < l.total)
		return MM_INVAL("metadata buffer too small (see buddy_meta_size)");

	memset(b, 0, sizeof(*b));
	base = (char *)meta + ((BUDDY_CACHELINE - ((uintptr_t)meta & (BUDDY_CACHELINE - 1))) &
			       (BUDDY_CACHELINE - 1));
	memset(base, 0, l.off_sections);        /* zones and per-CPU data start zeroed */
	b->zones = (struct buddy_zone *)(void *)base;
	b->sections = (struct buddy_section *)(void *)(base + l.off_sections);
	b->frames = (struct buddy_frame *)(void *)(base + l.off_frames);
	b->first_section = l.first_section;
	b->nr_sections = l.nr_sections;
	b->nr_frames = l.nr_frames;
	b->nr_zones = l.nr_zones;
	b->nr_orders = cfg->nr_orders ? cfg->nr_orders : BUDDY_DEFAULT_ORDERS;
	b->nr_nodes = nr_nodes;
	b->flags = cfg->flags;
	if (cfg->distance)
		b->distance = *cfg->distance;
	else
		(void)numa_distance_init_default(&b->distance, nr_nodes);

	init_zones(b, cfg, base, &l);
	init_sections(b, cfg->ranges, cfg->nr_ranges, &l);
	free_ranges(b, cfg->ranges, cfg->nr_ranges);
	numa_build_zonelists_(b);
	return 0;
}
