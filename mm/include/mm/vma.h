/*
 * mm/vma.h — virtual memory areas (VMAs) and the address-space object that owns them.
 *
 * Owns: struct vma (one mapped range [vm_start, vm_end) with Linux VM_* flags and a backing
 * identity), struct mm_space (Linux's mm_struct for this project: the VMA tree, the usage
 * counters, mmap layout, brk bounds and resource limits) and the operations on them: lookup,
 * gap search (get_unmapped_area), mmap / munmap / mprotect / a NUMA policy per range (mbind)
 * with Linux's split and merge rules,
 * stack growth with a guard gap, brk, a consistency checker and a /proc/PID/maps formatter.
 *
 * Locking: there is no lock inside. The caller serialises every call on one mm_space (the guest
 * holds its mmap lock: lookups under the read side may run concurrently with each other, every
 * function that changes the space needs the write side). Lock order: none taken here.
 *
 * Memory: VMA objects come from the caller's allocator (struct vma_allocator); mm/ itself never
 * allocates. Every operation that needs new VMAs obtains all of them before it changes anything,
 * so a failing allocator yields -MM_ENOMEM with the address space exactly as it was.
 *
 * Tree: an AVL tree threaded through the VMAs themselves, augmented with the largest free gap in
 * each subtree (see the header of mm/vma_tree.c for why); plus an address-ordered list for
 * neighbour access. find/intersection/gap search are O(log n), insert/erase O(log n), split and
 * merge O(log n). Design notes and the merge rules: docs/mm-vma.md.
 *
 * Units: addresses and lengths are bytes and must be page aligned where stated; page offsets
 * (vm_pgoff) and the counters are in pages, as in Linux.
 */
#ifndef MM_VMA_H
#define MM_VMA_H

#include "types.h"
#include "errno.h"
#include "list.h"

/*
 * VM_* flags: Linux's bit values (include/linux/mm.h). VM_GROWSUP uses Linux's VM_ARCH_1 bit,
 * which is what it is on the architectures with upward-growing stacks.
 */
#define VM_NONE       UINT64_C(0x00000000)
#define VM_READ       UINT64_C(0x00000001)
#define VM_WRITE      UINT64_C(0x00000002)
#define VM_EXEC       UINT64_C(0x00000004)
#define VM_SHARED     UINT64_C(0x00000008)
#define VM_MAYREAD    UINT64_C(0x00000010)  /* the MAY bits limit what mprotect may add */
#define VM_MAYWRITE   UINT64_C(0x00000020)
#define VM_MAYEXEC    UINT64_C(0x00000040)
#define VM_MAYSHARE   UINT64_C(0x00000080)
#define VM_GROWSDOWN  UINT64_C(0x00000100)  /* stack: grows down on a fault below vm_start */
#define VM_PFNMAP     UINT64_C(0x00000400)
#define VM_LOCKED     UINT64_C(0x00002000)
#define VM_IO         UINT64_C(0x00004000)
#define VM_DONTCOPY   UINT64_C(0x00020000)
#define VM_DONTEXPAND UINT64_C(0x00040000)
#define VM_ACCOUNT    UINT64_C(0x00100000)  /* carried only: mm/ does no commit accounting */
#define VM_NORESERVE  UINT64_C(0x00200000)
#define VM_GROWSUP    UINT64_C(0x01000000)  /* Linux VM_ARCH_1 on upward-stack architectures */
#define VM_MIXEDMAP   UINT64_C(0x10000000)

#define VM_ACCESS_FLAGS (VM_READ | VM_WRITE | VM_EXEC)
#define VM_MAY_SHIFT    4                   /* VM_MAYx == VM_x << VM_MAY_SHIFT */
#define VM_STACK        VM_GROWSDOWN        /* x86: what vm_stat_account counts as stack */
/* Linux's VM_SPECIAL: such VMAs never merge (and VM_LOCKED is dropped when mapping them). */
#define VM_SPECIAL      (VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP)
/* Every flag mm/ knows; any other bit is rejected with -MM_EINVAL. */
#define VM_KNOWN_FLAGS  (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED | VM_MAYREAD | VM_MAYWRITE | \
			 VM_MAYEXEC | VM_MAYSHARE | VM_GROWSDOWN | VM_PFNMAP | VM_LOCKED | VM_IO | \
			 VM_DONTCOPY | VM_DONTEXPAND | VM_ACCOUNT | VM_NORESERVE | VM_GROWSUP | \
			 VM_MIXEDMAP)
/* The flags brk gives the heap: Linux's VM_DATA_DEFAULT_FLAGS (x86-64) | VM_ACCOUNT. */
#define VM_BRK_FLAGS    (VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT)

/* mmap flags (Linux values). Without either FIXED flag the address is only a hint. */
#define MM_MAP_FIXED           UINT32_C(0x000010)  /* exactly here; replaces what is there */
#define MM_MAP_FIXED_NOREPLACE UINT32_C(0x100000)  /* exactly here; -MM_EEXIST if occupied */

#define MM_RLIM_INFINITY UINT64_MAX
#define MM_DEFAULT_STACK_GUARD_GAP (UINT64_C(256) << MM_PAGE_SHIFT)  /* Linux stack_guard_gap */

struct mm_space;

/*
 * One mapped range. The caller may read every field; it may write vm_start, vm_end, vm_flags,
 * vm_file and vm_pgoff only on a VMA that is not linked (before vma_insert()). vm_child,
 * vm_parent, vm_gap and vm_child_gap are the tree's. They share the first 64 bytes with
 * vm_start/vm_end: lookups and gap walks read one cache line per node (find_vma only the first
 * 32 bytes), and a node's balance and subtree gaps are known without touching its children.
 *
 * vm_gap and vm_child_gap hold gaps, which are page multiples; their low MM_PAGE_SHIFT bits
 * carry the tree's metadata (VMA_TREE_META_MASK), so a word compares against a page-multiple
 * length exactly as its gap does:
 *   vm_gap          = free bytes right below this VMA (vma_start_gap(this) - vma_end_gap(prev),
 *                     or from 0 for the first VMA; 0 when guard gaps overlap)
 *                     | VMA_GAP_GROWSDOWN / VMA_GAP_GROWSUP (copies of the VM_GROWS* flags);
 *   vm_child_gap[i] = largest gap in child i's subtree | that subtree's AVL height (0: no child).
 */
#define VMA_TREE_META_MASK (MM_PAGE_SIZE - 1)
#define VMA_GAP_GROWSDOWN  UINT64_C(1)
#define VMA_GAP_GROWSUP    UINT64_C(2)

/*
 * A VMA's NUMA memory policy (Linux's vma->vm_policy, set by mbind), held by value so splits copy
 * it and merges compare it (Linux's mpol_equal). mode is an enum numa_policy_mode (mm/numa.h):
 * NUMA_POLICY_DEFAULT (= 0, what a new VMA has) means "none: the process's policy applies", and
 * then nodes is 0; the other modes need a non-empty nodes. mm/ does not know the machine's
 * nodes: the caller checks them against its allocator (numa_policy_init) before mm_set_policy.
 */
struct vma_policy {
	uint32_t mode;
	uint32_t reserved;          /* 0 */
	nodemask_t nodes;
};
_Static_assert(sizeof(struct vma_policy) == 16, "struct vma_policy is two words");

struct vma {
	struct vma *vm_child[2];    /* tree: [0] lower addresses, [1] higher */
	gva_t vm_start;             /* first byte, page aligned */
	gva_t vm_end;               /* one past the last byte, page aligned, > vm_start */
	struct vma *vm_parent;      /* tree: NULL for the root */
	uint64_t vm_gap;            /* tree: gap below | VMA_GAP_GROWS* (see above) */
	uint64_t vm_child_gap[2];   /* tree: per child: max gap | height (see above) */
	struct list_head vm_list;   /* in mm_space.vmas, in address order */
	uint64_t vm_flags;          /* VM_* */
	uint64_t vm_pgoff;          /* offset in the backing, in pages; anonymous: vm_start >> 12 */
	const void *vm_file;        /* backing identity, opaque to mm/; NULL = anonymous */
	struct mm_space *vm_mm;     /* owner while linked, NULL otherwise */
	struct vma_policy vm_policy;    /* mbind's; all zero: none (new VMAs) */
};
_Static_assert(offsetof(struct vma, vm_list) == 64, "the tree's fields fill the first 64 bytes");

/*
 * Where VMA objects come from (the guest backs this with slab, tests with malloc). alloc returns
 * NULL on failure; free gets back only objects alloc returned. Called without any mm/ lock held
 * by mm/ (the caller's own mmap lock may be held).
 */
struct vma_allocator {
	struct vma *(*alloc)(void *ctx);
	void (*free)(void *ctx, struct vma *vma);
	void *ctx;
};

/* Construction parameters of an address space; mm_space_default_config() fills x86-64 values. */
struct mm_space_config {
	gva_t task_size;            /* exclusive top of user addresses, page aligned */
	gva_t mmap_min_addr;        /* lowest mappable address, page aligned (Linux 64 KiB) */
	gva_t mmap_base;            /* top-down: highest end of a searched mapping;
				     * bottom-up: lowest start */
	gva_t mmap_legacy_base;     /* bottom-up base, and the top-down search's fallback */
	bool mmap_topdown;          /* Linux's default layout: search down from mmap_base */
	gva_t start_brk;            /* heap start, page aligned; brk starts here */
	gva_t start_stack;          /* only used to name [stack] in the maps output */
	uint64_t stack_guard_gap;   /* bytes kept free below a VM_GROWSDOWN VMA, page multiple */
	uint64_t rlimit_as;         /* bytes; MM_RLIM_INFINITY for no limit (RLIMIT_AS) */
	uint64_t rlimit_data;       /* bytes of data mappings + heap (RLIMIT_DATA) */
	uint64_t rlimit_stack;      /* bytes one stack VMA may grow to (RLIMIT_STACK) */
	uint64_t rlimit_memlock;    /* bytes of VM_LOCKED mappings (RLIMIT_MEMLOCK) */
	uint64_t max_map_count;     /* most VMAs (vm.max_map_count, Linux 65530) */
	struct vma_allocator alloc;
};

/*
 * The address space. Read-only for callers except through the functions below.
 * Counters are in pages and always equal the sums over the VMAs with Linux's vm_stat_account()
 * classification: exec = VM_EXEC without VM_WRITE/VM_STACK, stack = VM_STACK,
 * data = VM_WRITE without VM_SHARED/VM_STACK; locked = VM_LOCKED; total = everything.
 */
struct mm_space {
	struct vma *vma_root;       /* AVL root, NULL when empty */
	uint64_t vma_root_gap;      /* the root's subtree: max gap | height, like vm_child_gap */
	struct list_head vmas;      /* every VMA in address order */
	uint64_t map_count;         /* number of VMAs */
	gva_t highest_vm_end;       /* vma_end_gap() of the last VMA; 0 when empty */

	uint64_t total_vm, locked_vm, data_vm, exec_vm, stack_vm;

	gva_t task_size, mmap_min_addr, mmap_base, mmap_legacy_base;
	bool mmap_topdown;
	gva_t start_brk, brk;       /* heap is [start_brk, PAGE_ALIGN(brk)); brk is exact */
	gva_t start_stack;
	uint64_t stack_guard_gap;
	uint64_t rlimit_as, rlimit_data, rlimit_stack, rlimit_memlock, max_map_count;
	struct vma_allocator alloc;
};

/* ---- Address space lifetime ---------------------------------------------------------------- */

/*
 * x86-64 defaults without randomisation: 47-bit task size (0x7ffffffff000), mmap_min_addr
 * 64 KiB, top-down with mmap_base 128 MiB below the top, legacy base task_size / 3, brk at
 * 256 MiB, stack guard gap 256 pages, stack limit 8 MiB, memlock 8 MiB, no AS/data limit,
 * max_map_count 65530. The allocator is left zeroed: the caller must fill cfg->alloc.
 */
void mm_space_default_config(struct mm_space_config *cfg);

/* Initialise an empty address space. -MM_EINVAL (reported) for an inconsistent config. */
int mm_space_init(struct mm_space *mm, const struct mm_space_config *cfg) mm_must_check;

/* Unmap everything (VMAs go back to the allocator); the space is empty but usable. */
void mm_space_destroy(struct mm_space *mm);

/* ---- Lookup: O(log n) ------------------------------------------------------------------------ */

/* Linux find_vma(): the first VMA with vm_end > addr, or NULL. */
struct vma *vma_find(const struct mm_space *mm, gva_t addr);

/* Like vma_find(), and *prev = the VMA before the result (the last VMA if the result is NULL). */
struct vma *vma_find_prev(const struct mm_space *mm, gva_t addr, struct vma **prev);

/* The VMA containing addr, or NULL (Linux vma_lookup()). */
struct vma *vma_lookup(const struct mm_space *mm, gva_t addr);

/* The first (lowest) VMA intersecting [start, end), or NULL; start < end. */
struct vma *vma_find_intersection(const struct mm_space *mm, gva_t start, gva_t end);

/* Address-order neighbours, O(1); NULL at either end. */
struct vma *vma_first(const struct mm_space *mm);
struct vma *vma_next(const struct mm_space *mm, const struct vma *vma);
struct vma *vma_prev(const struct mm_space *mm, const struct vma *vma);

#define vma_for_each(mm, v) \
	for ((v) = vma_first(mm); (v); (v) = vma_next((mm), (v)))

static inline uint64_t vma_pages(const struct vma *vma)
{
	return (vma->vm_end - vma->vm_start) >> MM_PAGE_SHIFT;
}

/* Linux vm_start_gap()/vm_end_gap(): the range including the stack guard gap. */
gva_t vma_start_gap(const struct mm_space *mm, const struct vma *vma);
gva_t vma_end_gap(const struct mm_space *mm, const struct vma *vma);

/* ---- Gap search -------------------------------------------------------------------------------- */

#define VMA_UNMAPPED_AREA_TOPDOWN UINT32_C(1)

/*
 * Linux's struct vm_unmapped_area_info: find [addr, addr + length) inside
 * [low_limit, high_limit) that leaves every VMA's guard gap free, with
 * (addr & align_mask) == (align_offset & align_mask). Bottom-up returns the lowest such addr,
 * top-down the highest. As in Linux, a gap qualifies when it holds length + align_mask bytes.
 */
struct vma_unmapped_area_info {
	uint32_t flags;             /* VMA_UNMAPPED_AREA_TOPDOWN or 0 */
	uint64_t length;            /* bytes, page multiple, > 0 */
	gva_t low_limit;            /* page aligned */
	gva_t high_limit;           /* page aligned, <= task_size */
	uint64_t align_mask;        /* page multiple; e.g. 2 MiB - 4 KiB for 2 MiB alignment */
	uint64_t align_offset;
};

/* O(log n). 0 and *addr, -MM_ENOMEM if no gap fits, -MM_EINVAL for bad info. */
int vma_unmapped_area(const struct mm_space *mm, const struct vma_unmapped_area_info *info,
		      gva_t *addr) mm_must_check;

/*
 * Linux get_unmapped_area() for anonymous and file mappings, with an alignment:
 *  - MM_MAP_FIXED / MM_MAP_FIXED_NOREPLACE in map_flags: hint is the answer if it is page
 *    aligned, at least mmap_min_addr and [hint, hint + len) lies below task_size (-MM_EINVAL
 *    otherwise); nothing is searched.
 *  - else a nonzero hint, rounded up to the alignment, is taken if the range is free (guard
 *    gaps included) and inside [mmap_min_addr, task_size);
 *  - else the layout's search: top-down below mmap_base (falling back to bottom-up from
 *    mmap_legacy_base), or bottom-up from mmap_base.
 * align is 0 (page) or a power of two >= MM_PAGE_SIZE. -MM_ENOMEM when nothing fits.
 */
int mm_get_unmapped_area(const struct mm_space *mm, gva_t hint, uint64_t len, uint64_t align,
			 uint32_t map_flags, gva_t *addr) mm_must_check;

/* ---- Address-space operations (Linux semantics; see docs/mm-vma.md) --------------------------- */

/*
 * mmap: map [addr, addr + len) with vm_flags and backing (file, pgoff); *out = the address.
 * Anonymous private mappings (file == NULL) get vm_pgoff = addr >> MM_PAGE_SHIFT like Linux;
 * shared mappings need a backing object (Linux gives shared anonymous memory a shmem file).
 * MM_MAP_FIXED first unmaps whatever is there. The new range merges with a compatible
 * neighbour. Errors: -MM_EINVAL bad arguments (reported), -MM_ENOMEM no room / VMA allocation
 * failed / AS, data or map-count limit, -MM_EAGAIN memlock limit, -MM_EEXIST occupied with
 * MM_MAP_FIXED_NOREPLACE. On any error nothing changed.
 */
int mm_mmap(struct mm_space *mm, gva_t addr, uint64_t len, uint64_t vm_flags,
	    uint32_t map_flags, const void *file, uint64_t pgoff, gva_t *out) mm_must_check;

/*
 * munmap: remove [addr, addr + len) from every VMA it touches; a hole inside one VMA splits it
 * in two. Unmapped parts are fine. -MM_EINVAL bad range, -MM_ENOMEM split impossible
 * (allocation or map count). All or nothing.
 */
int mm_munmap(struct mm_space *mm, gva_t addr, uint64_t len) mm_must_check;

/*
 * mprotect: set the access bits of [addr, addr + len) to prot (a subset of VM_ACCESS_FLAGS),
 * splitting VMAs at the range ends and merging changed pieces with compatible neighbours.
 * -MM_EACCES if a VMA's VM_MAY* flags forbid a bit, -MM_ENOMEM if part of the range is not
 * mapped or a split is impossible or the data limit would be exceeded. All or nothing (Linux
 * changes the VMAs before a hole; this refuses up front).
 */
int mm_mprotect(struct mm_space *mm, gva_t addr, uint64_t len, uint64_t prot) mm_must_check;

/*
 * mbind's address-space part (Linux mbind_range()): every VMA in [addr, addr + len) gets policy
 * *pol; VMAs straddling either end are split there first, and each changed VMA merges with
 * neighbours that are mergeable and have an equal policy. addr page aligned, len a non-zero page
 * multiple. -MM_EINVAL bad arguments or policy (mode unknown, DEFAULT with nodes, another mode
 * without), -MM_EFAULT when part of the range is unmapped (Linux's mbind error), -MM_ENOMEM
 * when the splits would pass max_map_count or the allocator fails; nothing changed on error.
 */
int mm_set_policy(struct mm_space *mm, gva_t addr, uint64_t len, const struct vma_policy *pol)
	mm_must_check;

/* Equal policies (Linux mpol_equal(); "none" equals only "none"). */
static inline bool vma_policy_equal(const struct vma_policy *a, const struct vma_policy *b)
{
	return a->mode == b->mode && a->nodes == b->nodes;
}

/*
 * Grow the stack to cover addr (Linux expand_stack()): the VMA found above addr must be
 * VM_GROWSDOWN (or the one below VM_GROWSUP); the stack_guard_gap to the next accessible
 * non-stack VMA, RLIMIT_STACK, the AS limit and the memlock limit must hold. *vma = the VMA
 * now containing addr. 0 also when addr is already mapped. -MM_ENOMEM when it cannot grow,
 * -MM_EFAULT when there is no stack to grow.
 */
int mm_expand_stack(struct mm_space *mm, gva_t addr, struct vma **vma) mm_must_check;

/*
 * brk: move the program break to brk (exact value kept in mm->brk; the heap VMA covers up to
 * PAGE_ALIGN(brk)). Growing needs a free page above the new end (Linux keeps one) and the data
 * limit; shrinking always works. -MM_EINVAL below start_brk or above task_size,
 * -MM_ENOMEM when it cannot grow (mm->brk unchanged).
 */
int mm_brk(struct mm_space *mm, gva_t brk) mm_must_check;

/* ---- VMA-level primitives (used by the operations above; exposed for benchmarks and tests) ---- */

/*
 * Link a VMA the caller allocated from mm's allocator and filled in (vm_start, vm_end,
 * vm_flags, vm_file, vm_pgoff) into a free range. No merging; the counters are updated.
 * -MM_EINVAL bad range/flags, -MM_EEXIST overlap. O(log n).
 */
int vma_insert(struct mm_space *mm, struct vma *vma) mm_must_check;

/* Unlink vma from mm (not freed; counters updated). O(log n). */
void vma_erase(struct mm_space *mm, struct vma *vma);

/*
 * Split vma at addr (vm_start < addr < vm_end, page aligned): vma keeps [vm_start, addr), a new
 * VMA from the allocator gets [addr, vm_end) with the pgoff advanced; *upper = it.
 * -MM_ENOMEM (nothing changed) when the allocator fails or max_map_count is reached.
 */
int vma_split(struct mm_space *mm, struct vma *vma, gva_t addr, struct vma **upper)
	mm_must_check;

/*
 * Linux's mergeability: prev ends where next starts, same flags, same backing, next's pgoff ==
 * prev's pgoff + vma_pages(prev), equal policies, and neither has a VM_SPECIAL flag.
 */
bool vma_can_merge(const struct vma *prev, const struct vma *next);

/*
 * Merge vma with its previous and/or next VMA where vma_can_merge() allows; absorbed VMAs go
 * back to the allocator. Returns the VMA now covering vma's range.
 */
struct vma *vma_merge_neighbours(struct mm_space *mm, struct vma *vma);

/* ---- Checking and output ----------------------------------------------------------------------- */

/*
 * Full consistency check, O(n): tree links, AVL balance and heights, key order == list order,
 * no overlap, alignment, cached gaps and subtree gaps, highest_vm_end, map_count and every
 * counter against sums recomputed from the VMAs. 0, or -MM_EUCLEAN after reporting what broke.
 */
int vma_check(const struct mm_space *mm) mm_must_check;

/* Name of a VMA for the maps output (e.g. a file path), or NULL to let mm/ decide. */
typedef const char *(*vma_name_fn)(const struct vma *vma, void *arg);

/*
 * Write /proc/PID/maps lines for every VMA into buf (always NUL-terminated when size > 0,
 * truncated if short) in Linux's format:
 *   "00400000-0040b000 r-xp 00000000 00:00 0" + ' ' [+ padding to column 73 + ' ' + name] + '\n'
 * The name is name(vma, arg) when that is non-NULL, else "[heap]" / "[stack]" as Linux decides.
 * The offset column is vm_pgoff << 12 for file mappings, 0 for anonymous ones.
 * Returns the full length (excluding NUL) as snprintf does, or -MM_EINVAL.
 */
long mm_format_maps(const struct mm_space *mm, char *buf, size_t size, vma_name_fn name,
		    void *arg);

#endif /* MM_VMA_H */
