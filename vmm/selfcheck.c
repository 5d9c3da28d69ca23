/*
 * selfcheck.c — `memvisor selfcheck`: drive every mm/ module the way a kernel stacks them, on
 * host memory that stands in for guest RAM, and run every consistency checker.
 *
 * Layout (guest-physical addresses; one host mapping stands in for the guest's direct map):
 *
 *   0        1 MiB               1 MiB + N MiB        4 GiB          4 GiB + N MiB
 *   |reserved|  node 0 (DMA32)   |   ...  hole  ...   | node 1 (NORMAL) |
 *
 * Stack: buddy (frames of both nodes, per-CPU lists) -> numa policies -> slab (pages from buddy
 * through slab_buddy) -> VMA tree (VMA objects from a slab cache) -> EPT stage-2 table (table
 * pages from buddy, mapping guest pages to frames of node 1). Every frame handed out is written
 * and read back through the linear map, so the figures are about real memory. At the end
 * everything is freed and the free counts must equal the initial ones.
 *
 * Single-threaded; owns only its local state.
 */
#define _GNU_SOURCE
#include "selfcheck.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <mm/buddy.h>
#include <mm/numa.h>
#include <mm/pgtable.h>
#include <mm/slab.h>
#include <mm/slab_buddy.h>
#include <mm/vma.h>

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)

struct selfcheck {
	unsigned node_mib;
	uint8_t *direct_map;         /* guest-physical 0 maps here */
	uint64_t map_len;
	void *meta;
	struct buddy buddy;
	uint64_t initial_free;
	void **owners;
	struct slab_buddy sb;
	struct slab_allocator *slab;
	int failures;
};

#define SC_CHECK(sc, cond, ...) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "selfcheck: FAILED: " __VA_ARGS__); \
			fputc('\n', stderr); \
			(sc)->failures++; \
		} \
	} while (0)

static void *sc_virt(struct selfcheck *sc, pfn_t pfn)
{
	return sc->direct_map + (pfn << MM_PAGE_SHIFT);
}

static uint64_t sc_free_pages(struct selfcheck *sc)
{
	struct buddy_stats st;

	if (buddy_stats(&sc->buddy, &st) != 0)
		return 0;
	return st.free_pages + st.pcp_pages;
}

/* ---- buddy + NUMA --------------------------------------------------------------------------- */

static int sc_buddy_init(struct selfcheck *sc)
{
	uint64_t node_pages = (uint64_t)sc->node_mib * MIB >> MM_PAGE_SHIFT;
	struct buddy_range ranges[2] = {
		{ .start = MIB >> MM_PAGE_SHIFT, .nr_pages = node_pages, .node = 0 },
		{ .start = (4 * GIB) >> MM_PAGE_SHIFT, .nr_pages = node_pages, .node = 1 },
	};
	struct buddy_config cfg = { .ranges = ranges, .nr_ranges = 2 };
	size_t meta_size = buddy_meta_size(ranges, 2);

	sc->map_len = 4 * GIB + (uint64_t)sc->node_mib * MIB;
	sc->direct_map = mmap(NULL, sc->map_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sc->direct_map == MAP_FAILED) {
		perror("selfcheck: mmap of the stand-in RAM");
		return -1;
	}
	sc->meta = malloc(meta_size);
	if (!sc->meta || buddy_init(&sc->buddy, &cfg, sc->meta, meta_size) != 0) {
		fprintf(stderr, "selfcheck: buddy_init failed\n");
		return -1;
	}
	sc->initial_free = sc_free_pages(sc);
	printf("layout: node 0 [1 MiB, %u MiB) DMA32, node 1 [4 GiB, 4 GiB + %u MiB) NORMAL, "
	       "distance 20; %" PRIu64 " frames\n", sc->node_mib + 1, sc->node_mib, sc->initial_free);
	return 0;
}

static const char *const policy_names[] = { "default", "bind(1)", "preferred(1)",
					    "interleave(0,1)" };

/* Allocate `count` pages under each policy from a CPU on node 0; show where they landed. */
static void sc_numa(struct selfcheck *sc)
{
	static const nodemask_t masks[] = { 0, 1u << 1, 1u << 1, 3 };
	enum { COUNT = 1024 };
	pfn_t *pfns = calloc(COUNT, sizeof(*pfns));

	if (!pfns) {
		sc->failures++;
		return;
	}
	printf("\nNUMA placement of %d order-0 pages allocated from a CPU on node 0:\n", COUNT);
	printf("  %-16s %8s %8s\n", "policy", "node 0", "node 1");
	for (unsigned mode = 0; mode < NUMA_NR_POLICY_MODES; mode++) {
		struct numa_policy pol;
		unsigned on[2] = { 0, 0 };
		int n = 0;

		if (numa_policy_init(&pol, &sc->buddy, mode, masks[mode]) != 0) {
			sc->failures++;
			continue;
		}
		for (; n < COUNT; n++) {
			if (numa_alloc_pages(&sc->buddy, &pol, 0, 0, 0, &pfns[n]) != 0)
				break;
			on[buddy_pfn_to_frame(&sc->buddy, pfns[n])->node]++;
			memset(sc_virt(sc, pfns[n]), (int)mode + 1, MM_PAGE_SIZE);
		}
		SC_CHECK(sc, n == COUNT, "%s: only %d of %d allocations", policy_names[mode], n, COUNT);
		printf("  %-16s %8u %8u\n", policy_names[mode], on[0], on[1]);
		for (int i = 0; i < n; i++) {
			const uint8_t *p = sc_virt(sc, pfns[i]);

			SC_CHECK(sc, p[0] == mode + 1 && p[MM_PAGE_SIZE - 1] == mode + 1,
				 "frame %#" PRIx64 " lost its contents", pfns[i]);
			SC_CHECK(sc, buddy_free(&sc->buddy, pfns[i], 0) == 0, "free failed");
		}
	}
	free(pfns);

	printf("\nnumastat (allocations, Linux semantics):\n  %-15s %10s %10s\n", "", "node0",
	       "node1");
	struct numa_stat st[2];

	for (unsigned node = 0; node < 2; node++)
		SC_CHECK(sc, numa_stat_read(&sc->buddy, node, &st[node]) == 0, "numa_stat_read");
#define ROW(field) printf("  %-15s %10" PRIu64 " %10" PRIu64 "\n", #field, st[0].field, st[1].field)
	ROW(numa_hit);
	ROW(numa_miss);
	ROW(numa_foreign);
	ROW(interleave_hit);
	ROW(local_node);
	ROW(other_node);
#undef ROW
	SC_CHECK(sc, st[0].numa_miss + st[1].numa_miss == st[0].numa_foreign + st[1].numa_foreign,
		 "numa_miss and numa_foreign sums differ");
}

/* ---- slab ----------------------------------------------------------------------------------- */

struct sc_obj {
	uint64_t magic;
	char payload[40];
};

static void sc_obj_ctor(void *p)
{
	((struct sc_obj *)p)->magic = 0x5ca1ab1e;
}

static int sc_slab_init(struct selfcheck *sc)
{
	struct slab_page_provider prov;
	uint64_t n = slab_buddy_owner_pages(&sc->buddy);

	sc->owners = calloc(n, sizeof(void *));
	sc->slab = aligned_alloc(128, MM_ALIGN_UP(sizeof(*sc->slab), 128));
	if (!sc->owners || !sc->slab ||
	    slab_buddy_provider(&prov, &sc->sb, &sc->buddy, (uintptr_t)sc->direct_map, sc->owners,
				n) != 0 ||
	    slab_allocator_init(sc->slab, &prov, 0) != 0) {
		fprintf(stderr, "selfcheck: slab over buddy failed to initialise\n");
		return -1;
	}
	return 0;
}

static void sc_slab(struct selfcheck *sc)
{
	static const size_t sizes[] = { 8, 24, 64, 96, 100, 192, 256, 700, 1024, 3000, 8192, 20000 };
	enum { PER = 200 };
	void *ptrs[MM_ARRAY_SIZE(sizes)][PER];
	struct kmem_cache *cache = kmem_cache_create(sc->slab, "selfcheck_obj",
						     sizeof(struct sc_obj), 0, 0, sc_obj_ctor);
	struct sc_obj *objs[PER];

	SC_CHECK(sc, cache != NULL, "kmem_cache_create");
	if (!cache)
		return;
	for (int i = 0; i < PER; i++) {
		objs[i] = kmem_cache_alloc_node(cache, (unsigned)i & 1);
		SC_CHECK(sc, objs[i] && objs[i]->magic == 0x5ca1ab1e, "cache object %d", i);
	}
	for (size_t c = 0; c < MM_ARRAY_SIZE(sizes); c++)
		for (int i = 0; i < PER; i++) {
			ptrs[c][i] = kmalloc(sc->slab, sizes[c]);
			SC_CHECK(sc, ptrs[c][i] != NULL, "kmalloc(%zu)", sizes[c]);
			if (ptrs[c][i])
				memset(ptrs[c][i], (int)(c + i) & 0xff, sizes[c]);
		}

	char *info = malloc(1 << 16);

	if (info) {
		slab_format_info(sc->slab, info, 1 << 16);
		printf("\nslabinfo with %d objects of each kind live:\n%s", PER, info);
		free(info);
	}
	SC_CHECK(sc, kmem_cache_check(cache) == 0, "kmem_cache_check");

	for (size_t c = 0; c < MM_ARRAY_SIZE(sizes); c++)
		for (int i = 0; i < PER; i++) {
			const uint8_t *p = ptrs[c][i];

			if (!p)
				continue;
			SC_CHECK(sc, p[0] == ((c + i) & 0xff) && p[sizes[c] - 1] == ((c + i) & 0xff),
				 "kmalloc(%zu) object %d lost its contents", sizes[c], i);
			SC_CHECK(sc, kfree(sc->slab, ptrs[c][i]) == 0, "kfree");
		}
	for (int i = 0; i < PER; i++)
		if (objs[i])
			SC_CHECK(sc, kmem_cache_free(cache, objs[i]) == 0, "kmem_cache_free");
	SC_CHECK(sc, kmem_cache_destroy(cache) == 0, "kmem_cache_destroy");
}

/* ---- VMA tree ------------------------------------------------------------------------------- */

static struct vma *sc_vma_alloc(void *ctx)
{
	return kmalloc(ctx, sizeof(struct vma));
}

static void sc_vma_free(void *ctx, struct vma *vma)
{
	kfree(ctx, vma);
}

static void sc_vma(struct selfcheck *sc)
{
	struct mm_space_config cfg;
	struct mm_space mm;
	gva_t a = 0, b = 0, c = 0;
	char maps[2048];

	mm_space_default_config(&cfg);
	cfg.alloc = (struct vma_allocator){ sc_vma_alloc, sc_vma_free, sc->slab };
	if (mm_space_init(&mm, &cfg) != 0) {
		SC_CHECK(sc, 0, "mm_space_init");
		return;
	}
	uint64_t rw = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

	/* Three anonymous mappings; protect the middle of one (3-way split); unmap a hole. */
	SC_CHECK(sc, mm_mmap(&mm, 0, 64 * MM_PAGE_SIZE, rw, 0, NULL, 0, &a) == 0, "mmap a");
	SC_CHECK(sc, mm_mmap(&mm, 0, 16 * MM_PAGE_SIZE, rw, 0, NULL, 0, &b) == 0, "mmap b");
	SC_CHECK(sc, mm_mmap(&mm, 0x400000, 8 * MM_PAGE_SIZE, VM_READ | VM_EXEC | VM_MAYREAD |
			     VM_MAYEXEC, MM_MAP_FIXED, "selfcheck-text", 0, &c) == 0, "mmap c");
	SC_CHECK(sc, mm_mprotect(&mm, a + 16 * MM_PAGE_SIZE, 8 * MM_PAGE_SIZE, VM_READ) == 0,
		 "mprotect");
	SC_CHECK(sc, mm_munmap(&mm, a + 40 * MM_PAGE_SIZE, 4 * MM_PAGE_SIZE) == 0, "munmap");
	SC_CHECK(sc, mm_brk(&mm, cfg.start_brk + 32 * MM_PAGE_SIZE) == 0, "brk");
	SC_CHECK(sc, vma_check(&mm) == 0, "vma_check");
	if (mm_format_maps(&mm, maps, sizeof(maps), NULL, NULL) > 0)
		printf("\naddress space after mmap x3, mprotect (3-way split), munmap (hole), brk:\n%s",
		       maps);
	printf("  map_count %" PRIu64 ", total_vm %" PRIu64 " pages\n", (uint64_t)mm.map_count,
	       (uint64_t)mm.total_vm);
	/* Protect the middle back: the three pieces merge into one VMA again. */
	SC_CHECK(sc, mm_mprotect(&mm, a + 16 * MM_PAGE_SIZE, 8 * MM_PAGE_SIZE,
				 VM_READ | VM_WRITE) == 0, "mprotect back");
	SC_CHECK(sc, vma_check(&mm) == 0, "vma_check after re-merge");
	mm_space_destroy(&mm);
}

/* ---- EPT stage-2 ---------------------------------------------------------------------------- */

static int sc_table_alloc(void *arg, phys_addr_t *table)
{
	struct selfcheck *sc = arg;
	pfn_t pfn;

	if (buddy_alloc(&sc->buddy, 0, 0, 0, &pfn) != 0)
		return -MM_ENOMEM;
	memset(sc_virt(sc, pfn), 0, MM_PAGE_SIZE);
	*table = pfn << MM_PAGE_SHIFT;
	return 0;
}

static void sc_table_free(void *arg, phys_addr_t table)
{
	struct selfcheck *sc = arg;

	if (buddy_free(&sc->buddy, table >> MM_PAGE_SHIFT, 0) != 0)
		sc->failures++;
}

static void *sc_table_virt(void *arg, phys_addr_t pa)
{
	return ((struct selfcheck *)arg)->direct_map + pa;
}

/*
 * Back 4 MiB of a guest's address space with frames of node 1, the way the VMM's stage-2 table
 * will: one 2 MiB frame block as a large leaf, 512 single frames as 4 KiB leaves; then mark a
 * few pages swapped and ballooned, translate everything back, and tear it down.
 */
static void sc_stage2(struct selfcheck *sc)
{
	struct pgtable_mem mem = { sc_table_alloc, sc_table_free, sc_table_virt, sc };
	struct pgtable_attr rwx = { PT_R | PT_W | PT_X, PT_MT_WB };
	struct pgtable_flush fl = { 0, 0, 0, 0 };
	struct pgtable ept;
	pfn_t big, small[512];
	unsigned mapped = 0, states = 0;

	if (pgtable_init(&ept, &pgtable_ept, &mem) != 0 ||
	    buddy_alloc(&sc->buddy, 1, 9, BUDDY_ALLOC_THISNODE, &big) != 0) {
		SC_CHECK(sc, 0, "stage-2 setup");
		return;
	}
	SC_CHECK(sc, pgtable_map(&ept, 0, big << MM_PAGE_SHIFT, 2 * MIB, PT_SIZE_2M, &rwx, 0,
				 &fl) == 0, "map 2 MiB leaf");
	for (unsigned i = 0; i < 512; i++) {
		if (buddy_alloc(&sc->buddy, 1, 0, BUDDY_ALLOC_THISNODE, &small[i]) != 0) {
			SC_CHECK(sc, 0, "frame %u for stage-2", i);
			small[i] = 0;
			continue;
		}
		SC_CHECK(sc, pgtable_map(&ept, 2 * MIB + i * MM_PAGE_SIZE, small[i] << MM_PAGE_SHIFT,
					 MM_PAGE_SIZE, PT_SIZE_4K, &rwx, 0, &fl) == 0, "map 4K");
	}
	/*
	 * Guest pages 2 MiB + 0..15 go to swap slots 100.., 16..31 to the balloon: the entry changes
	 * first, then the frame goes back to the pool (never a mapping to a freed frame).
	 */
	SC_CHECK(sc, pgtable_set_state(&ept, 2 * MIB, 16 * MM_PAGE_SIZE, PT_SIZE_4K, PT_STATE_SWAP,
				       100, &fl) == 0, "set swap");
	SC_CHECK(sc, pgtable_set_state(&ept, 2 * MIB + 16 * MM_PAGE_SIZE, 16 * MM_PAGE_SIZE,
				       PT_SIZE_4K, PT_STATE_BALLOONED, 0, &fl) == 0, "set ballooned");
	for (unsigned i = 0; i < 32; i++) {
		SC_CHECK(sc, buddy_free(&sc->buddy, small[i], 0) == 0, "free swapped frame");
		small[i] = 0;
	}
	for (uint64_t gpa = 0; gpa < 4 * MIB; gpa += MM_PAGE_SIZE) {
		struct pgtable_info info;
		uint64_t i = gpa / MM_PAGE_SIZE;

		SC_CHECK(sc, pgtable_translate(&ept, gpa, &info) == 0, "translate %#" PRIx64, gpa);
		if (info.state == PT_STATE_MAPPED) {
			pfn_t want = i < 512 ? big + i : small[i - 512];

			SC_CHECK(sc, info.pa == want << MM_PAGE_SHIFT, "gpa %#" PRIx64 " maps to %#"
				 PRIx64 ", expected %#" PRIx64, gpa, info.pa, want << MM_PAGE_SHIFT);
			SC_CHECK(sc, buddy_pfn_to_frame(&sc->buddy, info.pa >> MM_PAGE_SHIFT)->node == 1,
				 "frame not on node 1");
			mapped++;
		} else {
			SC_CHECK(sc, (info.state == PT_STATE_SWAP && info.slot == 100 + i - 512) ||
				 info.state == PT_STATE_BALLOONED, "gpa %#" PRIx64 " state", gpa);
			states++;
		}
	}
	long tables = pgtable_check(&ept);

	SC_CHECK(sc, tables > 0, "pgtable_check");
	printf("\nEPT stage-2: 4 MiB of guest-physical space -> node 1 frames: %u pages mapped "
	       "(one 2 MiB leaf + 4 KiB leaves), %u in software states (swap, ballooned), "
	       "%ld table pages\n", mapped, states, tables);
	SC_CHECK(sc, pgtable_destroy(&ept) == 0, "pgtable_destroy");
	SC_CHECK(sc, buddy_free(&sc->buddy, big, 9) == 0, "free 2 MiB block");
	for (unsigned i = 0; i < 512; i++)
		if (small[i])
			SC_CHECK(sc, buddy_free(&sc->buddy, small[i], 0) == 0, "free frame");
}

/* ---- driver --------------------------------------------------------------------------------- */

int selfcheck_run(unsigned node_mib)
{
	struct selfcheck sc = { .node_mib = node_mib };
	int rc = 1;

	printf("memvisor selfcheck: the mm/ library over 2 NUMA nodes of %u MiB "
	       "(host memory stands in for guest RAM)\n", node_mib);
	if (sc_buddy_init(&sc) != 0 || sc_slab_init(&sc) != 0)
		goto out;
	sc_numa(&sc);
	sc_slab(&sc);
	sc_vma(&sc);
	sc_stage2(&sc);

	SC_CHECK(&sc, slab_allocator_destroy(sc.slab) == 0, "slab_allocator_destroy");
	buddy_drain_all(&sc.buddy);
	SC_CHECK(&sc, buddy_check(&sc.buddy) == 0, "buddy_check");
	uint64_t now_free = sc_free_pages(&sc);

	SC_CHECK(&sc, now_free == sc.initial_free, "free frames %" PRIu64 " after teardown, %"
		 PRIu64 " at start (leak)", now_free, sc.initial_free);
	printf("\nconsistency: buddy_check, kmem_cache_check, vma_check, pgtable_check; "
	       "free frames after teardown %" PRIu64 " of %" PRIu64 "\n", now_free, sc.initial_free);
	rc = sc.failures ? 1 : 0;
	printf("%s\n", rc ? "selfcheck FAILED" : "selfcheck passed");
out:
	free(sc.owners);
	free(sc.slab);
	free(sc.meta);
	if (sc.direct_map && sc.direct_map != MAP_FAILED)
		munmap(sc.direct_map, sc.map_len);
	return rc;
}
