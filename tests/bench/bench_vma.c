/*
 * bench_vma.c — memvisor's VMA tree (mm/vma.h) against the two trees Linux has used for VMAs:
 * the maple tree of 6.1 and the augmented rbtree of <= 6.0 (tests/bench/peers/).
 *
 * Owns: the process-like layouts, the five timed operations, the correctness cross-check and the
 * report (one table per size, then bench_target lines). Single-threaded; no locks.
 *
 * Every tree runs behind the same struct vma_peer_ops, so each operation pays the same indirect
 * call. Per size (64, 1k, 10k, 100k VMAs, or the sizes given on the command line):
 *
 *   insert        build the tree from scratch, ids in a shuffled order (--topdown: in
 *                 descending address order, as top-down mmap creates them); ns per insert
 *   find_vma      first VMA with end > addr, addr uniform over the layout
 *   gap search    top-down unmapped area of a random length inside [first start, last end)
 *   erase+insert  unlink a random VMA and link it back
 *   split+merge   split a random VMA (>= 3 pages) in three at random page boundaries, then merge
 *                 the three back into one, as an mprotect of the middle and its undo do
 *
 * Before and after the timed runs, every tree is checked against an oracle computed from the
 * layout arrays (find and gap answers); memvisor's tree also runs vma_check(). A mismatch is a
 * failure (exit 1): a fast wrong tree is not a result. Targets that are not met print NOT MET
 * and do not change the exit status.
 *
 * Layout (fixed seed), bottom-up from LAYOUT_BASE, each VMA 1..16 pages, each gap 1..4 pages
 * (7 of 8) or 5..64 pages (1 of 8), so small gaps are common and large ones are spread out:
 *
 *   LAYOUT_BASE
 *   |[vma 0]..[vma 1].[vma 2]............[vma 3]..[vma 4] ... [vma n-1]|
 *    ^ low = start of vma 0                            high = end of vma n-1 ^
 *
 * Gap lengths are uniform in 1..(largest gap) pages, so every search succeeds, short ones near
 * the top and long ones after a deeper descent.
 *
 * VMA objects are 192 bytes apart, cache-line aligned, in first-insert order in every tree
 * (peers/vma_peer.h), so at 100k VMAs (19 MB of objects) each pointer-tree level is a likely
 * cache miss for memvisor and the rbtree alike, while the maple tree's 256-byte nodes hold up to
 * 16 entries each. The maple tree's nodes come from peers/peer_slab.c (a SLUB-like freelist).
 */
#include <mm/vma.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mvtest.h"
#include "peers/vma_peer.h"

#define PAGE             UINT64_C(4096)
#define LAYOUT_BASE      UINT64_C(0x7e0000000000)   /* below x86-64 mmap_base; 6 GiB is enough */
#define SEED             UINT64_C(0x766d61)          /* "vma" */
#define NQ               (1u << 14)                  /* queries per kind, used cyclically */
#define NCHECK_FIND      4096u                       /* oracle checks per verification */
#define NCHECK_GAP       512u
#define REPS             11u
#define FIND_NONE        (-1)                        /* find_vma found nothing */

/* ---- The layout and the queries --------------------------------------------------------------- */

struct layout {
	uint32_t nr;
	uint64_t *start, *end;      /* by id; ids are in address order */
	uint32_t *order;            /* insertion order: a permutation of the ids */
	uint64_t low, high;         /* gap-search window */
	uint64_t max_gap;           /* largest gap between two VMAs, bytes */
};

struct queries {
	uint64_t addr[NQ];          /* find_vma */
	uint64_t len[NQ];           /* gap search */
	uint32_t id[NQ];            /* erase+insert */
	uint32_t sm_id[NQ];         /* split+merge: VMA and the two split points */
	uint64_t sm_a[NQ], sm_b[NQ];
	int64_t find_ans[NCHECK_FIND];
	uint64_t gap_ans[NCHECK_GAP];
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		fprintf(stderr, "bench_vma: out of memory\n");
		exit(1);
	}
	return p;
}

/* How the trees are built (and so where VMA objects sit in memory: first-insert order). */
enum build_order {
	ORDER_SHUFFLED,             /* default: random order, objects scattered like after churn */
	ORDER_TOPDOWN,              /* descending addresses, as a process mmapping top-down does */
};

static void layout_make(struct layout *L, uint32_t nr, enum build_order order,
			struct mvt_rng *rng)
{
	uint64_t addr = LAYOUT_BASE;

	L->nr = nr;
	L->start = xcalloc(nr, sizeof(*L->start));
	L->end = xcalloc(nr, sizeof(*L->end));
	L->order = xcalloc(nr, sizeof(*L->order));
	L->max_gap = 0;
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t gap = mvt_rng_below(rng, 8) ? 1 + mvt_rng_below(rng, 4)
						     : 5 + mvt_rng_below(rng, 60);

		if (i > 0) {
			addr += gap * PAGE;
			if (gap * PAGE > L->max_gap)
				L->max_gap = gap * PAGE;
		}
		L->start[i] = addr;
		addr += (1 + mvt_rng_below(rng, 16)) * PAGE;
		L->end[i] = addr;
		L->order[i] = order == ORDER_TOPDOWN ? nr - 1 - i : i;
	}
	for (uint32_t i = nr - 1; order == ORDER_SHUFFLED && i > 0; i--) {   /* Fisher-Yates */
		uint32_t j = (uint32_t)mvt_rng_below(rng, (uint64_t)i + 1), t = L->order[i];

		L->order[i] = L->order[j];
		L->order[j] = t;
	}
	L->low = L->start[0];
	L->high = L->end[nr - 1];
}

static void layout_free(struct layout *L)
{
	free(L->start);
	free(L->end);
	free(L->order);
}

/* Oracle find_vma: binary search for the first id with end > addr. */
static int64_t oracle_find(const struct layout *L, uint64_t addr)
{
	uint32_t lo = 0, hi = L->nr;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (L->end[mid] > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < L->nr ? (int64_t)lo : FIND_NONE;
}

/* Oracle top-down gap search inside [low, high): the highest gap between VMAs that fits. */
static uint64_t oracle_gap(const struct layout *L, uint64_t len)
{
	for (uint32_t i = L->nr - 1; i > 0; i--)
		if (L->start[i] - L->end[i - 1] >= len)
			return L->start[i] - len;
	return 0;   /* unreachable: len <= max_gap */
}

static void queries_make(struct queries *Q, const struct layout *L, struct mvt_rng *rng)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < NQ; i++) {
		Q->addr[i] = L->low + mvt_rng_below(rng, L->high - L->low);
		Q->len[i] = (1 + mvt_rng_below(rng, L->max_gap / PAGE)) * PAGE;
		Q->id[i] = (uint32_t)mvt_rng_below(rng, L->nr);
	}
	while (n < NQ) {
		uint32_t id = (uint32_t)mvt_rng_below(rng, L->nr);
		uint64_t pages = (L->end[id] - L->start[id]) / PAGE, i, j;

		if (pages < 3)
			continue;
		i = 1 + mvt_rng_below(rng, pages - 2);            /* 1 .. pages-2 */
		j = i + 1 + mvt_rng_below(rng, pages - 1 - i);    /* i+1 .. pages-1 */
		Q->sm_id[n] = id;
		Q->sm_a[n] = L->start[id] + i * PAGE;
		Q->sm_b[n] = L->start[id] + j * PAGE;
		n++;
	}
	for (uint32_t i = 0; i < NCHECK_FIND; i++)
		Q->find_ans[i] = oracle_find(L, Q->addr[i]);
	for (uint32_t i = 0; i < NCHECK_GAP; i++)
		Q->gap_ans[i] = oracle_gap(L, Q->len[i]);
}

/* ---- memvisor's tree behind the peer interface --------------------------------------------------- */

/* A VMA object with the id the benchmark knows it by. */
struct mv_vma {
	struct vma vma;
	uint32_t id;
};

/* The same object stride and alignment as the peers' VMAs (vma_peer.h). */
union mv_slot {
	struct mv_vma m;
	char stride[VMA_PEER_OBJ_STRIDE];
};
_Static_assert(sizeof(union mv_slot) == VMA_PEER_OBJ_STRIDE, "object stride");

struct mv_tree {
	struct mm_space mm;
	uint32_t nr;
	struct mv_vma **by_id;      /* id -> the object now carrying it (NULL: not linked) */
	union mv_slot *objs;        /* the allocator's objects */
	struct mv_vma **free_objs;  /* stack of free objects */
	uint32_t nfree;
};

#define MV_VMA_FLAGS (VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC)
/* Each split+merge holds at most two extra objects; the rest is slack. */
#define MV_EXTRA_OBJS 8u

static struct mv_vma *mv_of(struct vma *v)
{
	return (struct mv_vma *)((char *)v - offsetof(struct mv_vma, vma));
}

static struct vma *mv_alloc(void *ctx)
{
	struct mv_tree *t = ctx;

	return t->nfree ? &t->free_objs[--t->nfree]->vma : NULL;
}

static void mv_free(void *ctx, struct vma *v)
{
	struct mv_tree *t = ctx;

	t->free_objs[t->nfree++] = mv_of(v);
}

/*
 * Every object free, stacked so that they come out as objs[0], objs[1], ...: memory order is
 * insertion order, as for the peers' objects (see vma_peer.h).
 */
static void mv_pool_fill(struct mv_tree *t)
{
	uint32_t nobj = t->nr + MV_EXTRA_OBJS;

	t->nfree = 0;
	for (uint32_t i = 0; i < nobj; i++)
		t->free_objs[t->nfree++] = &t->objs[nobj - 1 - i].m;
}

static void *mv_create(uint32_t nr)
{
	struct mv_tree *t = xcalloc(1, sizeof(*t));
	uint32_t nobj = nr + MV_EXTRA_OBJS;
	struct mm_space_config cfg;

	t->nr = nr;
	t->by_id = xcalloc(nr, sizeof(*t->by_id));
	t->objs = vma_peer_alloc_objects(nobj);
	if (!t->objs) {
		fprintf(stderr, "bench_vma: out of memory\n");
		exit(1);
	}
	t->free_objs = xcalloc(nobj, sizeof(*t->free_objs));
	mv_pool_fill(t);

	mm_space_default_config(&cfg);
	cfg.max_map_count = (uint64_t)nobj;
	cfg.alloc.alloc = mv_alloc;
	cfg.alloc.free = mv_free;
	cfg.alloc.ctx = t;
	if (mm_space_init(&t->mm, &cfg) != 0) {
		fprintf(stderr, "bench_vma: mm_space_init failed\n");
		exit(1);
	}
	return t;
}

static void mv_reset(void *tree)
{
	struct mv_tree *t = tree;

	mm_space_destroy(&t->mm);   /* every object is free again, in whatever order */
	mv_pool_fill(t);
	memset(t->by_id, 0, t->nr * sizeof(*t->by_id));
}

static void mv_destroy(void *tree)
{
	struct mv_tree *t = tree;

	mm_space_destroy(&t->mm);
	free(t->by_id);
	free(t->objs);
	free(t->free_objs);
	free(t);
}

static int mv_insert(void *tree, uint32_t id, uint64_t start, uint64_t end)
{
	struct mv_tree *t = tree;
	struct vma *v = mv_alloc(t);
	int err;

	if (!v)
		return -MM_ENOMEM;
	v->vm_start = start;
	v->vm_end = end;
	v->vm_flags = MV_VMA_FLAGS;
	v->vm_pgoff = start >> MM_PAGE_SHIFT;
	v->vm_file = NULL;
	err = vma_insert(&t->mm, v);
	if (err) {
		mv_free(t, v);
		return err;
	}
	mv_of(v)->id = id;
	t->by_id[id] = mv_of(v);
	return 0;
}

static void mv_erase(void *tree, uint32_t id)
{
	struct mv_tree *t = tree;
	struct vma *v = &t->by_id[id]->vma;

	vma_erase(&t->mm, v);
	mv_free(t, v);
	t->by_id[id] = NULL;
}

static const void *mv_find(void *tree, uint64_t addr)
{
	struct mv_tree *t = tree;

	return vma_find(&t->mm, addr);
}

static uint32_t mv_id_of(void *tree, const void *vma)
{
	const char *obj = (const char *)vma - offsetof(struct mv_vma, vma);

	return ((const struct mv_vma *)obj)->id;
}

static int mv_gap_topdown(void *tree, uint64_t len, uint64_t low, uint64_t high, uint64_t *addr)
{
	struct mv_tree *t = tree;
	struct vma_unmapped_area_info info = {
		.flags = VMA_UNMAPPED_AREA_TOPDOWN,
		.length = len,
		.low_limit = low,
		.high_limit = high,
	};

	return vma_unmapped_area(&t->mm, &info, addr);
}

static int mv_split_merge(void *tree, uint32_t id, uint64_t a, uint64_t b)
{
	struct mv_tree *t = tree;
	struct vma *v = &t->by_id[id]->vma, *mid, *hi, *merged;
	int err;

	err = vma_split(&t->mm, v, a, &mid);
	if (err)
		return err;
	err = vma_split(&t->mm, mid, b, &hi);
	if (err)
		return err;
	merged = vma_merge_neighbours(&t->mm, mid);
	mv_of(merged)->id = id;
	t->by_id[id] = mv_of(merged);
	return 0;
}

static const struct vma_peer_ops vma_peer_memvisor = {
	.name = "memvisor AVL gap tree",
	.note = NULL,
	.create = mv_create,
	.destroy = mv_destroy,
	.reset = mv_reset,
	.insert = mv_insert,
	.erase = mv_erase,
	.find = mv_find,
	.id_of = mv_id_of,
	.gap_topdown = mv_gap_topdown,
	.split_merge = mv_split_merge,
};

/* ---- Timed loops ------------------------------------------------------------------------------ */

enum { T_MV, T_MAPLE, T_RB, NTREES };
static const struct vma_peer_ops *const trees[NTREES] = {
	[T_MV] = &vma_peer_memvisor, [T_MAPLE] = &vma_peer_maple, [T_RB] = &vma_peer_rbtree,
};
static const char *const tree_short[NTREES] = { "memvisor", "maple 6.1", "rbtree <=6.0" };

enum { OP_INSERT, OP_FIND, OP_GAP, OP_ERASE_INSERT, OP_SPLIT_MERGE, NOPS };
static const char *const op_name[NOPS] = {
	"insert (build from scratch)", "find_vma (random address)", "gap search (top-down)",
	"erase+insert (random VMA)", "split+merge (mprotect-style)",
};

struct run {
	const struct vma_peer_ops *ops;
	void *tree;
	const struct layout *L;
	const struct queries *Q;
	uint32_t pos;               /* next query; runs continue where the last one stopped */
};

static volatile uint64_t sink;

static __attribute__((noreturn)) void die_op(const struct run *r, const char *what, int err)
{
	fprintf(stderr, "bench_vma: %s: %s failed (%d)\n", r->ops->name, what, err);
	exit(1);
}

static void loop_find(void *arg, uint64_t iters)
{
	struct run *r = arg;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++)
		sum += (uintptr_t)r->ops->find(r->tree, r->Q->addr[r->pos++ % NQ]);
	sink = sum;
}

static void loop_gap(void *arg, uint64_t iters)
{
	struct run *r = arg;
	uint64_t sum = 0, addr = 0;

	for (uint64_t i = 0; i < iters; i++) {
		int err = r->ops->gap_topdown(r->tree, r->Q->len[r->pos++ % NQ], r->L->low,
					      r->L->high, &addr);

		if (err)
			die_op(r, "gap search", err);
		sum += addr;
	}
	sink = sum;
}

static void loop_erase_insert(void *arg, uint64_t iters)
{
	struct run *r = arg;

	for (uint64_t i = 0; i < iters; i++) {
		uint32_t id = r->Q->id[r->pos++ % NQ];
		int err;

		r->ops->erase(r->tree, id);
		err = r->ops->insert(r->tree, id, r->L->start[id], r->L->end[id]);
		if (err)
			die_op(r, "re-insert", err);
	}
}

static void loop_split_merge(void *arg, uint64_t iters)
{
	struct run *r = arg;

	for (uint64_t i = 0; i < iters; i++) {
		uint32_t q = r->pos++ % NQ;
		int err = r->ops->split_merge(r->tree, r->Q->sm_id[q], r->Q->sm_a[q], r->Q->sm_b[q]);

		if (err)
			die_op(r, "split+merge", err);
	}
}

/* Build the whole layout into an emptied tree; returns the ns spent in insert calls only. */
static uint64_t build(struct run *r)
{
	uint64_t t0;
	int err;

	r->ops->reset(r->tree);
	t0 = bench_now_ns();
	for (uint32_t i = 0; i < r->L->nr; i++) {
		uint32_t id = r->L->order[i];

		err = r->ops->insert(r->tree, id, r->L->start[id], r->L->end[id]);
		if (err)
			die_op(r, "insert", err);
	}
	return bench_now_ns() - t0;
}

/*
 * One insert sample: ns per insert over enough builds for at least 64k inserts, so small trees
 * are not timed at the clock's resolution. Leaves the tree built.
 */
static double sample_insert(struct run *r)
{
	uint32_t builds = (65536 + r->L->nr - 1) / r->L->nr;
	uint64_t ns = 0;

	for (uint32_t b = 0; b < builds; b++)
		ns += build(r);
	return (double)ns / ((double)builds * r->L->nr);
}

static double sample_loop(struct run *r, bench_fn loop, uint64_t iters)
{
	uint64_t t0 = bench_now_ns();

	loop(r, iters);
	return (double)(bench_now_ns() - t0) / (double)iters;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * res[t][op] = median ns/op of tree t over REPS samples, after one warm-up sample. The trees take
 * turns sample by sample, so load changes on this shared machine hit all three alike.
 * loop == NULL times insert (tree rebuilt from scratch). Trees without the operation get -1.
 */
static void time_op(struct run runs[NTREES], int op, bench_fn loop, uint64_t iters,
		    double res[NTREES][NOPS])
{
	double v[NTREES][REPS];
	bool has[NTREES];

	for (int t = 0; t < NTREES; t++) {
		has[t] = op != OP_SPLIT_MERGE || runs[t].ops->split_merge;
		res[t][op] = -1;
	}
	for (unsigned s = 0; s <= REPS; s++) {
		for (int t = 0; t < NTREES; t++) {
			double ns;

			if (!has[t])
				continue;
			ns = loop ? sample_loop(&runs[t], loop, iters) : sample_insert(&runs[t]);
			if (s > 0)
				v[t][s - 1] = ns;
		}
	}
	for (int t = 0; t < NTREES; t++) {
		if (!has[t])
			continue;
		qsort(v[t], REPS, sizeof(v[t][0]), cmp_double);
		res[t][op] = v[t][REPS / 2];
	}
}

/* ---- Verification ------------------------------------------------------------------------------- */

static int verify(const struct run *r, const char *when)
{
	const struct queries *Q = r->Q;
	int bad = 0;

	for (uint32_t i = 0; i < NCHECK_FIND && bad < 5; i++) {
		const void *v = r->ops->find(r->tree, Q->addr[i]);
		int64_t got = v ? (int64_t)r->ops->id_of(r->tree, v) : FIND_NONE;

		if (got != Q->find_ans[i]) {
			fprintf(stderr, "MISMATCH %s (%s, %u VMAs): find_vma(%#llx) = %lld, expected %lld\n",
				r->ops->name, when, r->L->nr, (unsigned long long)Q->addr[i],
				(long long)got, (long long)Q->find_ans[i]);
			bad++;
		}
	}
	for (uint32_t i = 0; i < NCHECK_GAP && bad < 5; i++) {
		uint64_t got = 0;
		int err = r->ops->gap_topdown(r->tree, Q->len[i], r->L->low, r->L->high, &got);

		if (err || got != Q->gap_ans[i]) {
			fprintf(stderr, "MISMATCH %s (%s, %u VMAs): gap(len %#llx) = %d/%#llx, "
				"expected %#llx\n", r->ops->name, when, r->L->nr,
				(unsigned long long)Q->len[i], err, (unsigned long long)got,
				(unsigned long long)Q->gap_ans[i]);
			bad++;
		}
	}
	if (r->ops == &vma_peer_memvisor) {
		const struct mv_tree *t = r->tree;

		if (vma_check(&t->mm) != 0) {
			fprintf(stderr, "MISMATCH %s (%s): vma_check failed\n", r->ops->name, when);
			bad++;
		}
		if (t->mm.map_count != r->L->nr) {
			fprintf(stderr, "MISMATCH %s (%s): map_count %llu, expected %u\n",
				r->ops->name, when, (unsigned long long)t->mm.map_count, r->L->nr);
			bad++;
		}
	}
	return bad;
}

/* ---- Report ------------------------------------------------------------------------------------ */

static void print_table(uint32_t nr, double res[NTREES][NOPS])
{
	printf("\n### VMA tree, %u VMAs (ns/op, median of %u; ratio = memvisor / peer, "
	       "< 1 means memvisor is faster)\n\n", nr, REPS);
	printf("| %-30s | %9s | %9s | %12s | %9s | %12s |\n", "operation", tree_short[T_MV],
	       tree_short[T_MAPLE], tree_short[T_RB], "mv/maple", "mv/rbtree");
	printf("|%s|%s|%s|%s|%s|%s|\n", "--------------------------------", "----------:",
	       "----------:", "-------------:", "----------:", "-------------:");
	for (int op = 0; op < NOPS; op++) {
		char cell[NTREES][32], ratio[2][32];

		for (int t = 0; t < NTREES; t++) {
			if (res[t][op] < 0)
				snprintf(cell[t], sizeof(cell[t]), "–");
			else
				snprintf(cell[t], sizeof(cell[t]), "%.1f", res[t][op]);
		}
		for (int p = 0; p < 2; p++) {
			double peer = res[T_MAPLE + p][op];

			if (peer <= 0 || res[T_MV][op] < 0)
				snprintf(ratio[p], sizeof(ratio[p]), "–");
			else
				snprintf(ratio[p], sizeof(ratio[p]), "%.2fx", res[T_MV][op] / peer);
		}
		printf("| %-30s | %9s | %9s | %12s | %9s | %12s |\n", op_name[op], cell[T_MV],
		       cell[T_MAPLE], cell[T_RB], ratio[0], ratio[1]);
	}
	fflush(stdout);
}

static void print_targets(uint32_t nr, double res[NTREES][NOPS])
{
	char what[128];

	snprintf(what, sizeof(what), "VMA find <= maple tree at %u VMAs (ns/op)", nr);
	bench_target(what, res[T_MV][OP_FIND], res[T_MAPLE][OP_FIND], 1);
	snprintf(what, sizeof(what), "gap search <= rbtree at %u VMAs (ns/op)", nr);
	bench_target(what, res[T_MV][OP_GAP], res[T_RB][OP_GAP], 1);
	if (nr == 10000) {
		bench_target("insert <= 1.5x rbtree at 10000 VMAs (ns/op)", res[T_MV][OP_INSERT],
			     1.5 * res[T_RB][OP_INSERT], 1);
	}
	fflush(stdout);
}

/* ---- Driver -------------------------------------------------------------------------------------- */

static int bench_size(uint32_t nr, enum build_order order, struct mvt_rng *rng)
{
	static struct queries Q;
	struct layout L;
	struct run runs[NTREES];
	double res[NTREES][NOPS];
	int bad = 0;

	layout_make(&L, nr, order, rng);
	queries_make(&Q, &L, rng);

	for (int t = 0; t < NTREES; t++) {
		runs[t] = (struct run){ .ops = trees[t], .L = &L, .Q = &Q };
		runs[t].tree = trees[t]->create(nr);
		if (!runs[t].tree) {
			fprintf(stderr, "bench_vma: %s: create failed\n", trees[t]->name);
			exit(1);
		}
	}
	time_op(runs, OP_INSERT, NULL, 0, res);
	for (int t = 0; t < NTREES; t++)
		bad += verify(&runs[t], "after build");
	if (bad)
		goto out;

	/* Iterations per sample: 5-60 ms each on this machine. */
	time_op(runs, OP_FIND, loop_find, 200000, res);
	time_op(runs, OP_GAP, loop_gap, 200000, res);
	time_op(runs, OP_ERASE_INSERT, loop_erase_insert, 40000, res);
	time_op(runs, OP_SPLIT_MERGE, loop_split_merge, 40000, res);
	for (int t = 0; t < NTREES; t++)
		bad += verify(&runs[t], "after erase+insert and split+merge");
	if (bad)
		goto out;

	print_table(nr, res);
	print_targets(nr, res);
out:
	for (int t = 0; t < NTREES; t++)
		trees[t]->destroy(runs[t].tree);
	layout_free(&L);
	return bad;
}

static __attribute__((noreturn)) void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--topdown] [NR_VMAS (2..1000000)]...\n"
		"  --topdown  build in descending address order (default: shuffled)\n", argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	static const uint32_t default_sizes[] = { 64, 1000, 10000, 100000 };
	uint32_t sizes[16];
	unsigned nsizes = 0;
	enum build_order order = ORDER_SHUFFLED;
	struct mvt_rng rng;
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		char *end;
		long n;

		if (strcmp(argv[i], "--topdown") == 0) {
			order = ORDER_TOPDOWN;
			continue;
		}
		n = strtol(argv[i], &end, 0);
		if (*end || n < 2 || n > 1000000 || nsizes == sizeof(sizes) / sizeof(sizes[0]))
			usage(argv[0]);
		sizes[nsizes++] = (uint32_t)n;
	}
	if (nsizes == 0) {
		for (; nsizes < sizeof(default_sizes) / sizeof(default_sizes[0]); nsizes++)
			sizes[nsizes] = default_sizes[nsizes];
	}

	printf("# VMA trees: memvisor (mm/vma.c) vs Linux 6.1 maple tree vs Linux <=6.0 rbtree\n");
	printf("# layout: VMAs of 1-16 pages, gaps 1-4 pages (7/8) or 5-64 pages (1/8), seed %#llx;"
	       " built in %s order; VMA objects %u bytes apart in first-insert order\n",
	       (unsigned long long)SEED, order == ORDER_TOPDOWN ? "descending address" : "shuffled",
	       VMA_PEER_OBJ_STRIDE);
	for (int t = 0; t < NTREES; t++)
		if (trees[t]->note)
			printf("# note (%s): %s\n", trees[t]->name, trees[t]->note);
	printf("# note: rbtree find_vma is the tree walk without 5.x's per-thread vmacache; maple gap "
	       "search omits 6.1's stack-guard re-checks (no stacks here)\n");
	fflush(stdout);

	mvt_rng_seed(&rng, SEED);
	for (unsigned i = 0; i < nsizes; i++)
		bad += bench_size(sizes[i], order, &rng);
	if (bad) {
		fprintf(stderr, "bench_vma: %d mismatch(es): results not printed for those sizes\n",
			bad);
		return 1;
	}
	return 0;
}
