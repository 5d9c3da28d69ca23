/*
 * gmem_stats.c — the engine's consistency check and statistics (gmem.h): gmem_check() compares
 * stage 2, the buddy allocator, the reverse map, swap and the host mappings (/proc/self/smaps);
 * gmem_get_stats / _print_stats / _write_stats_json report the counters gmem.c keeps.
 * Everything runs under gmem.lock (the smaps read included: no thread holds the process's mmap
 * lock while waiting for gmem.lock, so that order is safe).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gmem_internal.h"
#include "swap.h"

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
				 uint64_t *swapped, uint64_t *ballooned, uint64_t *discarded)
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
			} else if (!err && cs.state == PT_STATE_BALLOONED) {
				ballooned[r->node] += g->cluster_pages;
			} else if (!err && cs.state == PT_STATE_DISCARDED) {
				discarded[r->node] += g->cluster_pages;
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
	uint64_t ballooned[MM_MAX_NODES] = { 0 }, discarded[MM_MAX_NODES] = { 0 };
	struct gmem_vmas vs = { 0 };
	int err;

	pthread_mutex_lock(&g->lock);
	err = g->fatal ? 0 : vmas_read(&vs);    /* after a failure clusters may be PROT_NONE */
	if (!err && buddy_check(&g->frames))
		err = mv_fail(EUCLEAN, "frame allocator: buddy_check failed");
	if (!err && pgtable_check(&g->s2) < 0)
		err = mv_fail(EUCLEAN, "stage 2: pgtable_check failed");
	if (!err)
		err = check_clusters_locked(g, g->fatal ? NULL : &vs, used, swapped, ballooned,
					    discarded);
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
		else if (ballooned[n] != g->st.node[n].pages_ballooned ||
			 discarded[n] != g->st.node[n].pages_discarded)
			err = mv_fail(EUCLEAN, "node %u: %" PRIu64 " ballooned / %" PRIu64 " discarded "
				      "pages by the counters, %" PRIu64 " / %" PRIu64 " by stage 2", n,
				      g->st.node[n].pages_ballooned, g->st.node[n].pages_discarded,
				      ballooned[n], discarded[n]);
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

	gmem_get_counters(g, st);
	st->host_mappings = maps;
}

void gmem_get_counters(struct gmem *g, struct gmem_stats *st)
{
	pthread_mutex_lock(&g->lock);
	*st = g->st;
	for (unsigned n = 0; n < g->m->nr_nodes; n++) {
		st->node[n].frames_total = g->pool[n].limit;   /* the budget now */
		st->node[n].frames_used = g->pool[n].used;
		st->node[n].frames_free = g->pool[n].limit > g->pool[n].used ?
					  g->pool[n].limit - g->pool[n].used : 0;
	}
	pthread_mutex_unlock(&g->lock);
	st->host_mappings = 0;
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
		"swap-in  migr-in migr-out remote balloon discard ball-f\n", g->cluster_size >> 10);
	for (unsigned n = 0; n < st.nr_nodes; n++) {
		const struct gmem_node_stats *s = &st.node[n];

		fprintf(out, "  %4u %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %7" PRIu64
			" %8" PRIu64 " %7" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
			" %6" PRIu64 " %7" PRIu64 " %7" PRIu64 " %6" PRIu64 "\n", n,
			s->frames_total * 4, s->frames_used * 4,
			s->frames_free * 4, s->pages_swapped * 4, s->faults_zero, s->faults_swapin,
			s->faults_minor, s->swap_out_bytes >> 10, s->swap_in_bytes >> 10,
			s->migrations_in, s->migrations_out, s->remote_allocs,
			s->pages_ballooned * 4, s->pages_discarded * 4, s->faults_balloon);
	}
	fprintf(out, "  userfaultfd faults %" PRIu64 " (waited %" PRIu64 "), other events %" PRIu64
		", samples %" PRIu64 ", reclaim scans %" PRIu64 ", requests %" PRIu64
		" (rejected %" PRIu64 "), host mappings %" PRIu64 ", swap slots %" PRIu64 "/%" PRIu64
		"\n", st.uffd_faults, st.faults_waited, st.uffd_events, st.samples, st.reclaim_scans,
		st.requests, st.requests_rejected, st.host_mappings, st.swap_slots_used,
		st.swap_slots_total);
	fprintf(out, "  failures survived: swap writes %" PRIu64 ", swap-read retries %" PRIu64
		", allocations refused %" PRIu64 ", mmap retries %" PRIu64 ", UFFDIO_WAKE retries %"
		PRIu64 "\n", st.swap_write_failures, st.swap_read_retries, st.alloc_failures,
		st.map_retries, st.uffd_retries);
}

int gmem_write_stats_json(struct gmem *g, const char *path)
{
	return gmem_write_stats_json_extra(g, path, NULL, NULL);
}

int gmem_write_stats_json_extra(struct gmem *g, const char *path,
				void (*extra)(FILE *f, void *arg), void *arg)
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

		fprintf(f, "    {\"node\": %u", n);
#define X(field) fprintf(f, ", \"" #field "\": %" PRIu64, s->field);
		GMEM_NODE_STAT_FIELDS(X)
#undef X
		fprintf(f, "}%s\n", n + 1 < st.nr_nodes ? "," : "");
	}
	fprintf(f, "  ]");
#define X(field) fprintf(f, ",\n  \"" #field "\": %" PRIu64, st.field);
	GMEM_STAT_FIELDS(X)
#undef X
	if (extra)
		extra(f, arg);
	fprintf(f, "\n}\n");
	if (fclose(f))
		return mv_fail(errno, "--stats %s: %s", path, strerror(errno));
	return 0;
}
