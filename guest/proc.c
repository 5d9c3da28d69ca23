/*
 * guest/proc.c — user processes: creation from the user image (an ELF linked into the kernel,
 * user_blob.S), running one in ring 3, its system calls, its page faults, and tearing it down.
 * Design and the address-space layout: docs/guest-processes.md.
 *
 * Address space: mm/vma's struct mm_space holds the VMAs (Linux's split/merge rules, stack
 * growth, brk); the page table is a process table from vmem.c (user half own, kernel shared).
 * Pages arrive only through do_fault(), shaped like Linux's handle_mm_fault/handle_pte_fault:
 *
 *   address outside [USER_START, USER_TOP)        → kill: kernel address
 *   no VMA at or above it                          → kill: unmapped
 *   below a VMA: VM_GROWSDOWN → mm_expand_stack    → kill: stack limit when it cannot grow
 *                (only within rlimit_stack + the guard gap of the stack's top; farther
 *                below counts as unmapped)
 *   access not allowed by the VMA's flags          → kill: not readable/writable/executable
 *   PTE present (a write to a write-protected page) → do_wp_page: reuse if the frame has one
 *                                                    reference, else copy (copy-on-write)
 *   PTE absent: anonymous VMA → a zeroed frame (do_anonymous_page); image VMA → a frame
 *               filled from the image (the file part of the segment, zero beyond); shared
 *               VMA → the backing object's frame for that page (allocated on first touch)
 *
 * Frames come from page_alloc with the VMA's NUMA policy (mbind) or else the process's
 * (set_mempolicy; fault_policy), one reference per mapping
 * (buddy_frame_get/put). A PROT_NONE page stays mapped but supervisor-only (x86 has no
 * present-but-inaccessible user PTE; mm/pgtable cannot write Linux's PROTNONE encoding), so the
 * user's access faults with P=1 and the VMA check refuses it.
 *
 * Kernel access to user memory (system call buffers): user_range_ok() faults the pages in
 * first, the way the user's own access would (these faults count), so the kernel never takes
 * a page fault; the process's CR3 is loaded while it is in a system call and SMAP is off.
 *
 * Contexts: a process's system calls and faults run on its kernel stack with interrupts off
 * (SFMASK, interrupt gates), on the one CPU running it; the scheduler (below) moves processes
 * between CPUs only at switches, under sched_lock. Freeing a frame after only a local TLB flush
 * is safe because of the TLB invariant (proc.h): the process's mappings are cached nowhere else,
 * and nothing runs its user code until the system call or fault returns, after the flush.
 * Frames shared between processes (COW after fork, shared objects) are reference-counted
 * atomically by the buddy; a shared object's page slots are filled with compare-and-swap.
 *
 * Known limits (said, not hidden): no swapgs — user code runs with the kernel's GS base and a
 * program that loads %gs would break the next kernel entry; no IST stacks.
 */
#include <mm/buddy.h>

#include "mem.h"
#include "proc.h"
#include "smp.h"
#include "spinlock.h"

#define PF_ERR_P        (UINT64_C(1) << 0)      /* the page was present: a protection fault */
#define PF_ERR_W        (UINT64_C(1) << 1)      /* write access */
#define PF_ERR_U        (UINT64_C(1) << 2)      /* from ring 3 */
#define PF_ERR_I        (UINT64_C(1) << 4)      /* instruction fetch (with NX) */
#define VEC_DE          0
#define VEC_UD          6
#define VEC_GP          13
#define VEC_PF          14
#define USER_RFLAGS     (RFLAGS_IF | UINT64_C(0x2))     /* bit 1 always reads 1 */
#define USER_RFLAGS_KEEP UINT64_C(0xcd5)        /* CF PF AF ZF SF DF OF: the user's own */
#define STACK_DEFAULT_LIMIT (UINT64_C(8) << 20)
#define MAPS_BUF        8192
#define MAX_SEGMENTS    4
#define VM_MAY_ALL      (VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC)
#define SHM_MAX_PAGES   (UINT64_C(1) << 18)     /* 1 GiB per shared mapping (its page array) */

/* ---- the user image: an ELF64 executable linked for the user range (guest/user/) -------------- */

#define ELF_MAGIC       UINT32_C(0x464c457f)    /* "\x7fELF" little-endian */
#define ELF_CLASS64     2
#define ELF_DATA_LSB    1
#define ELF_MACHINE_X86_64 62
#define ELF_PT_LOAD     1
#define ELF_PF_X        1u
#define ELF_PF_W        2u
#define ELF_PF_R        4u

struct elf64_ehdr {
	uint32_t magic;
	uint8_t class, data, version, osabi, pad[8];
	uint16_t type, machine;
	uint32_t version2;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "ELF64 file header");

struct elf64_phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
_Static_assert(sizeof(struct elf64_phdr) == 56, "ELF64 program header");

/* One PT_LOAD segment; its VMAs carry a pointer to it as vm_file (their backing identity). */
struct user_segment {
	uint64_t vaddr, memsz, offset, filesz;
	uint64_t vm_flags;
};

extern const uint8_t user_elf_start[], user_elf_end[];     /* user_blob.S */

static struct user_segment segs[MAX_SEGMENTS];
static unsigned nr_segs;
static uint64_t user_entry, image_end;

static struct kmem_cache *vma_cache;
static unsigned next_pid = 1;
static struct proc *current_of[SMP_MAX_CPUS];

static const char *const kill_texts[] = {
	[KILL_NONE] = "not killed",
	[KILL_UNMAPPED] = "no VMA at the address",
	[KILL_KERNEL_ADDR] = "kernel address (outside user space)",
	[KILL_NO_READ] = "VMA not readable",
	[KILL_NO_WRITE] = "VMA not writable",
	[KILL_NO_EXEC] = "VMA not executable",
	[KILL_STACK_LIMIT] = "stack cannot grow (limit or guard gap)",
	[KILL_OOM] = "out of memory",
	[KILL_GP] = "general protection fault",
	[KILL_OTHER_EXC] = "exception",
	[KILL_BAD_SYSCALL_RIP] = "syscall from the last user page",
};

const char *proc_kill_text(enum proc_kill k)
{
	return (unsigned)k < ARRAY_SIZE(kill_texts) ? kill_texts[k] : "?";
}

/* Validate the embedded ELF and record its PT_LOAD segments. */
static bool image_parse(void)
{
	const struct elf64_ehdr *eh = (const void *)user_elf_start;
	uint64_t size = (uint64_t)(user_elf_end - user_elf_start);

	if (size < sizeof(*eh) || eh->magic != ELF_MAGIC || eh->class != ELF_CLASS64 ||
	    eh->data != ELF_DATA_LSB || eh->machine != ELF_MACHINE_X86_64 ||
	    eh->phentsize != sizeof(struct elf64_phdr) || eh->phoff > size ||
	    (size - eh->phoff) / sizeof(struct elf64_phdr) < eh->phnum)
		return false;
	for (unsigned i = 0; i < eh->phnum; i++) {
		const struct elf64_phdr *ph = (const void *)(user_elf_start + eh->phoff +
							     i * sizeof(*ph));
		struct user_segment *s = &segs[nr_segs];

		if (ph->type != ELF_PT_LOAD || ph->memsz == 0)
			continue;
		if (nr_segs == MAX_SEGMENTS || ph->filesz > ph->memsz || ph->offset > size ||
		    ph->filesz > size - ph->offset || ph->vaddr < USER_START ||
		    ph->memsz > USER_TOP - ph->vaddr ||
		    (ph->vaddr & (MM_PAGE_SIZE - 1)) != (ph->offset & (MM_PAGE_SIZE - 1)) ||
		    (nr_segs && MM_ALIGN_DOWN(ph->vaddr, MM_PAGE_SIZE) < image_end))
			return false;
		*s = (struct user_segment){ ph->vaddr, ph->memsz, ph->offset, ph->filesz, VM_MAY_ALL };
		s->vm_flags |= (ph->flags & ELF_PF_R ? VM_READ : 0) |
			       (ph->flags & ELF_PF_W ? VM_WRITE : 0) |
			       (ph->flags & ELF_PF_X ? VM_EXEC : 0);
		image_end = MM_ALIGN_UP(ph->vaddr + ph->memsz, MM_PAGE_SIZE);
		nr_segs++;
	}
	user_entry = eh->entry;
	return nr_segs > 0 && user_entry >= segs[0].vaddr && user_entry < image_end;
}

/* Fill the page at page_va of segment s into dst: the file bytes it covers, zero elsewhere. */
static void image_fill(const struct user_segment *s, uint64_t page_va, uint8_t *dst)
{
	uint64_t lo = page_va > s->vaddr ? page_va : s->vaddr;
	uint64_t hi = page_va + MM_PAGE_SIZE;

	memset(dst, 0, MM_PAGE_SIZE);
	if (hi > s->vaddr + s->filesz)
		hi = s->vaddr + s->filesz;
	if (lo < hi)
		memcpy(dst + (lo - page_va), user_elf_start + s->offset + (lo - s->vaddr), hi - lo);
}

static bool is_image_vma(const struct vma *v)
{
	return v->vm_file >= (const void *)&segs[0] && v->vm_file < (const void *)&segs[nr_segs];
}

/* ---- VMA objects and setup ------------------------------------------------------------------ */

static struct vma *vma_alloc_cb(void *ctx)
{
	(void)ctx;
	return kmem_cache_alloc(vma_cache);
}

static void vma_free_cb(void *ctx, struct vma *v)
{
	(void)ctx;
	MM_BUG_ON(kmem_cache_free(vma_cache, v) != 0);
}

bool proc_init(void)
{
	bool ok;

	if (vma_cache)
		return true;
	vma_cache = kmem_cache_create(&kmem, "vma", sizeof(struct vma), 0, 0, NULL);
	if (!tap_check(vma_cache != NULL, "proc: VMA cache created"))
		return false;
	ok = image_parse();
	if (!tap_check(ok, "proc: user image (%lu bytes): %u PT_LOAD segments, entry 0x%lx, end "
		       "0x%lx", (uint64_t)(user_elf_end - user_elf_start), nr_segs, user_entry,
		       image_end))
		return false;
	return vmem_user_prepare();
}

void proc_caches_shrink(void)
{
	if (vma_cache)
		kmem_cache_shrink(vma_cache);
}

/* ---- pages ---------------------------------------------------------------------------------- */

/* The PTE attributes of a page of a VMA with vm_flags (x86: readable is implied). */
static struct pgtable_attr vma_attr(uint64_t vm_flags)
{
	struct pgtable_attr a = { PT_R, PT_MT_WB };

	if (!vmem_have_nx())
		a.flags |= PT_X;                /* without EFER.NXE the NX bit is reserved */
	if (!(vm_flags & VM_ACCESS_FLAGS))
		return a;                       /* PROT_NONE: mapped supervisor-only */
	a.flags |= PT_U;
	if (vm_flags & VM_WRITE)
		a.flags |= PT_W;
	if (vm_flags & VM_EXEC)
		a.flags |= PT_X;
	return a;
}

/* Linux's is_cow_mapping(): private and possibly writable. */
static bool is_cow(const struct vma *v)
{
	return (v->vm_flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
}

static unsigned frame_node(pfn_t pfn)
{
	unsigned n = buddy_pfn_to_frame(&pmem_buddy, pfn)->node;

	return n < MV_STATS_NODES ? n : MV_STATS_NODES - 1;
}

static void rss_add(struct proc *p, pfn_t pfn, int delta)
{
	p->rss += (uint64_t)(int64_t)delta;
	p->rss_node[frame_node(pfn)] += (uint64_t)(int64_t)delta;
}

/*
 * The policy a fault at va in v allocates with (Linux get_vma_policy): the VMA's when mbind gave
 * it one, else the process's (set_mempolicy, or NULL: local). A VMA policy is turned into a
 * numa_policy in *tmp; for INTERLEAVE the node is chosen by the page's offset in the mapping,
 * as Linux's offset_il_node, so placement does not depend on the order pages are touched: the
 * cursor is set to the node before the (index mod weight)-th node of the mask.
 */
static struct numa_policy *fault_policy(struct proc *p, const struct vma *v, gva_t va,
					struct numa_policy *tmp)
{
	nodemask_t nodes = v->vm_policy.nodes;
	unsigned w, k;

	if (v->vm_policy.mode == NUMA_POLICY_DEFAULT)
		return p->policy;
	*tmp = (struct numa_policy){ v->vm_policy.mode, 0, nodes };
	if (v->vm_policy.mode != NUMA_POLICY_INTERLEAVE)
		return tmp;
	w = numa_nodemask_weight(nodes);
	k = (unsigned)((v->vm_pgoff + ((va - v->vm_start) >> MM_PAGE_SHIFT) + w - 1) % w);
	while (k--)
		nodes &= nodes - 1;             /* drop the lowest node k times */
	tmp->il_prev = (unsigned)__builtin_ctzll(nodes);
	return tmp;
}

/*
 * After p changed its own page table: flush this CPU's TLB (vmem_user_flush does, when p's table
 * is loaded here). Enough by the TLB invariant (proc.h), which this checks: p runs here or
 * nowhere (a new child, a process being torn down).
 */
static void user_flush(struct proc *p, const struct pgtable_flush *fl)
{
	unsigned on = __atomic_load_n(&p->on_cpu, __ATOMIC_RELAXED);

	MM_BUG_ON(on != PROC_NO_CPU && on != cpu_id());
	vmem_user_flush(&p->pt, fl);
}

/* ---- shared anonymous memory (MAP_SHARED | MAP_ANONYMOUS) ---------------------------------------
 *
 * The backing object (Linux gives such a mapping a shmem file): one frame per page once touched,
 * the object holding one reference to each, every mapping of it one more. Its VMAs carry it as
 * vm_file with vm_pgoff = the page index of their start (splits keep that right). mm/vma does not
 * tell us when VMAs go, so an object counts the processes it is attached to: attached at mmap and
 * fork, detached when the process has no VMA of it left (shm_gc after munmap and a MAP_FIXED
 * replacement) or is freed; the last detach frees it and its frames.
 */
struct shmem {
	uint64_t refs;                  /* processes attached (atomic: parent and child may run on
					   two CPUs) */
	uint64_t npages;
	pfn_t pages[];                  /* 0: not allocated yet (pfn 0 is never a buddy frame) */
};

static bool is_shm_vma(const struct vma *v)
{
	return v->vm_file && !is_image_vma(v);
}

static void shm_put(struct shmem *o)
{
	if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (uint64_t i = 0; i < o->npages; i++)
		if (o->pages[i])
			MM_BUG_ON(buddy_frame_put(&pmem_buddy, o->pages[i]) != 0);
	MM_BUG_ON(kfree(&kmem, o) != 0);
}

static bool shm_attach(struct proc *p, struct shmem *o)
{
	for (unsigned i = 0; i < PROC_MAX_SHM; i++)
		if (!p->shm[i]) {
			p->shm[i] = o;
			__atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
			return true;
		}
	return false;
}

/* Detach every object p has no VMA of any more. */
static void shm_gc(struct proc *p)
{
	for (unsigned i = 0; i < PROC_MAX_SHM; i++) {
		struct vma *v;
		bool used = false;

		if (!p->shm[i])
			continue;
		vma_for_each(&p->mm, v)
			used |= v->vm_file == p->shm[i];
		if (!used) {
			shm_put(p->shm[i]);
			p->shm[i] = NULL;
		}
	}
}

/* The object's frame for the page at va of the shared VMA v, allocated (zeroed) if new. */
static int shm_page(struct proc *p, const struct vma *v, gva_t va, pfn_t *pfn)
{
	struct shmem *o = (struct shmem *)(uintptr_t)v->vm_file;
	uint64_t idx = v->vm_pgoff + ((va - v->vm_start) >> MM_PAGE_SHIFT);

	pfn_t have, mine;

	MM_BUG_ON(idx >= o->npages);
	have = __atomic_load_n(&o->pages[idx], __ATOMIC_ACQUIRE);
	if (!have) {
		/* Two processes of the object may fault the page at once on two CPUs: the first
		 * to install its zeroed frame wins, the other frees its own and uses that. */
		struct numa_policy tmp;

		if (page_alloc(fault_policy(p, v, va, &tmp), 0, PAGE_ALLOC_MAY_FAIL, &mine))
			return -MM_ENOMEM;
		memset(phys_to_direct(mine << MM_PAGE_SHIFT), 0, MM_PAGE_SIZE);
		if (__atomic_compare_exchange_n(&o->pages[idx], &have, mine, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			have = mine;
		else
			page_free(mine, 0);
	}
	*pfn = have;
	MM_BUG_ON(buddy_frame_get(&pmem_buddy, *pfn) != 0);   /* the mapping's reference */
	return 0;
}

/* A new frame for the page at va of v: zeroed (anonymous) or filled from the image. */
static int new_page(struct proc *p, const struct vma *v, gva_t va, pfn_t *pfn)
{
	struct numa_policy tmp;
	uint8_t *dst;

	if (page_alloc(fault_policy(p, v, va, &tmp), 0, PAGE_ALLOC_MAY_FAIL, pfn))
		return -MM_ENOMEM;
	dst = phys_to_direct(*pfn << MM_PAGE_SHIFT);
	if (is_image_vma(v))
		image_fill(v->vm_file, va, dst);
	else
		memset(dst, 0, MM_PAGE_SIZE);
	return 0;
}

/* do_anonymous_page / the image's read fault: map a new frame at the absent page va. */
static enum proc_kill do_absent_page(struct proc *p, const struct vma *v, gva_t va)
{
	struct pgtable_attr a = vma_attr(v->vm_flags);
	pfn_t pfn;

	if (is_shm_vma(v) ? shm_page(p, v, va, &pfn) : new_page(p, v, va, &pfn))
		return KILL_OOM;
	if (pgtable_map(&p->pt, va, pfn << MM_PAGE_SHIFT, MM_PAGE_SIZE, PT_SIZE_4K, &a, 0, NULL)) {
		MM_BUG_ON(buddy_frame_put(&pmem_buddy, pfn) != 0);
		return KILL_OOM;                /* no page for a table */
	}
	rss_add(p, pfn, 1);
	return KILL_NONE;
}

/*
 * do_wp_page: a write to a present page the VMA allows writing. In a shared VMA, or when this
 * mapping alone references the frame, it is made writable in place; a frame shared
 * copy-on-write is copied into a new frame that replaces it here, and the old reference dropped.
 */
static enum proc_kill do_wp_page(struct proc *p, const struct vma *v, gva_t va)
{
	struct pgtable_attr a = vma_attr(v->vm_flags);
	struct pgtable_flush fl = { 0 };
	struct pgtable_info info;
	struct numa_policy tmp;
	pfn_t old, pfn;

	MM_BUG_ON(pgtable_translate(&p->pt, va, &info) != 0 || info.state != PT_STATE_MAPPED);
	old = info.pa >> MM_PAGE_SHIFT;
	if (!is_cow(v) ||
	    __atomic_load_n(&buddy_pfn_to_frame(&pmem_buddy, old)->refcount, __ATOMIC_ACQUIRE) == 1) {
		MM_BUG_ON(pgtable_protect(&p->pt, va, MM_PAGE_SIZE, &a, &fl) != 0);
		user_flush(p, &fl);
		return KILL_NONE;
	}
	if (page_alloc(fault_policy(p, v, va, &tmp), 0, PAGE_ALLOC_MAY_FAIL, &pfn))
		return KILL_OOM;
	memcpy(phys_to_direct(pfn << MM_PAGE_SHIFT), phys_to_direct(old << MM_PAGE_SHIFT),
	       MM_PAGE_SIZE);
	MM_BUG_ON(pgtable_map(&p->pt, va, pfn << MM_PAGE_SHIFT, MM_PAGE_SIZE, PT_SIZE_4K, &a,
			      PT_MAP_REPLACE, &fl) != 0);   /* a leaf in place: no table needed */
	user_flush(p, &fl);
	rss_add(p, old, -1);
	rss_add(p, pfn, 1);
	MM_BUG_ON(buddy_frame_put(&pmem_buddy, old) != 0);
	p->cowflt++;
	return KILL_NONE;
}

/*
 * The fault handler (see the top of this file). err: the #PF error code bits. count: a fault
 * the process took (counted in minflt), not a populate. *vp: the VMA involved, or NULL.
 */
static enum proc_kill do_fault(struct proc *p, gva_t addr, uint64_t err, bool count,
			       struct vma **vp)
{
	gva_t va = MM_ALIGN_DOWN(addr, MM_PAGE_SIZE);
	enum proc_kill why;
	struct vma *v;

	*vp = NULL;
	if (addr < USER_START || addr >= USER_TOP)
		return KILL_KERNEL_ADDR;
	v = vma_find(&p->mm, addr);
	if (!v)
		return KILL_UNMAPPED;
	if (addr < v->vm_start) {
		/* Below a stack: a growth attempt only within its limit plus the guard gap of
		 * its top (Linux tries any address; this keeps "no VMA" for wild accesses far
		 * below the stack, where the message would otherwise blame the stack). */
		if (!(v->vm_flags & VM_GROWSDOWN) ||
		    v->vm_end - addr > p->mm.rlimit_stack + p->mm.stack_guard_gap)
			return KILL_UNMAPPED;
		*vp = v;
		if (mm_expand_stack(&p->mm, addr, &v) != 0)
			return KILL_STACK_LIMIT;
	}
	*vp = v;
	if (err & PF_ERR_I) {
		if (!(v->vm_flags & VM_EXEC))
			return KILL_NO_EXEC;
	} else if (err & PF_ERR_W) {
		if (!(v->vm_flags & VM_WRITE))
			return KILL_NO_WRITE;
	} else if (!(v->vm_flags & VM_ACCESS_FLAGS)) {
		return KILL_NO_READ;
	}
	if (err & PF_ERR_P) {
		if (!(err & PF_ERR_W)) {
			/* Readable per the VMA yet faulted while present: a stale TLB entry. */
			__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
			return KILL_NONE;
		}
		why = do_wp_page(p, v, va);
	} else {
		why = do_absent_page(p, v, va);
	}
	if (why == KILL_NONE && count)
		p->minflt++;
	return why;
}

/* Is va mapped so that an access (write or not) from ring 3 works without a fault? */
static bool page_ready(struct proc *p, gva_t va, bool write, bool *present)
{
	struct pgtable_info info;

	*present = pgtable_translate(&p->pt, va, &info) == 0 && info.state == PT_STATE_MAPPED;
	return *present && (info.attr.flags & PT_U) && (!write || (info.attr.flags & PT_W));
}

/*
 * Make [addr, addr + len) accessible to the kernel as the process could access it, faulting
 * pages in as its own access would. 0 or -EFAULT (the process could not access it).
 */
static int user_range_ok(struct proc *p, gva_t addr, uint64_t len, bool write)
{
	struct vma *v;
	bool present;

	if (len == 0)
		return 0;
	if (addr < USER_START || addr >= USER_TOP || len > USER_TOP - addr)
		return -UAPI_EFAULT;
	for (gva_t va = MM_ALIGN_DOWN(addr, MM_PAGE_SIZE); va < addr + len; va += MM_PAGE_SIZE) {
		uint64_t err = PF_ERR_U | (write ? PF_ERR_W : 0);

		if (page_ready(p, va, write, &present))
			continue;
		if (do_fault(p, va, err | (present ? PF_ERR_P : 0), true, &v) != KILL_NONE)
			return -UAPI_EFAULT;
	}
	return 0;
}

/* MAP_POPULATE: fault in every page of [start, start + len) without counting faults (Linux's
 * populate goes through GUP, which does not count min_flt). Stops at the first failure. */
static void populate(struct proc *p, gva_t start, uint64_t len)
{
	for (gva_t va = start; va < start + len; va += MM_PAGE_SIZE) {
		struct vma *v = vma_lookup(&p->mm, va);
		bool present, write = v && (v->vm_flags & VM_WRITE);

		if (!v || !(v->vm_flags & VM_ACCESS_FLAGS))
			continue;               /* PROT_NONE: Linux does not populate it either */
		if (page_ready(p, va, write, &present))
			continue;
		if (do_fault(p, va, PF_ERR_U | (write ? PF_ERR_W : 0) | (present ? PF_ERR_P : 0),
			     false, &v) != KILL_NONE)
			return;
	}
}

static int zap_visit(void *arg, const struct pgtable_info *info)
{
	struct proc *p = arg;
	pfn_t pfn = info->pa >> MM_PAGE_SHIFT;

	MM_BUG_ON(info->state != PT_STATE_MAPPED || info->size != PT_SIZE_4K);
	rss_add(p, pfn, -1);
	MM_BUG_ON(buddy_frame_put(&pmem_buddy, pfn) != 0);
	return 0;
}

/* Unmap every page of [start, start + len) and drop the frames' references (see the top). */
static void zap(struct proc *p, gva_t start, uint64_t len)
{
	struct pgtable_flush fl = { 0 };

	MM_BUG_ON(pgtable_walk(&p->pt, start, len, 0, zap_visit, p, NULL) != 0);
	MM_BUG_ON(pgtable_unmap(&p->pt, start, len, &fl) != 0);   /* 4 KiB leaves: no split */
	user_flush(p, &fl);
}

struct reprot {
	struct proc *p;
	struct pgtable_flush fl;
};

static int reprot_visit(void *arg, const struct pgtable_info *info)
{
	struct reprot *r = arg;
	struct vma *v = vma_lookup(&r->p->mm, info->addr);
	struct pgtable_attr a;

	MM_BUG_ON(v == NULL);
	a = vma_attr(v->vm_flags);
	/* A frame shared copy-on-write stays read-only until do_wp_page copies it. */
	if (is_cow(v) && buddy_pfn_to_frame(&pmem_buddy, info->pa >> MM_PAGE_SHIFT)->refcount > 1)
		a.flags &= ~PT_W;
	MM_BUG_ON(pgtable_protect(&r->p->pt, info->addr, MM_PAGE_SIZE, &a, &r->fl) != 0);
	return 0;
}

/* After mprotect: every present page of [start, start + len) gets its VMA's attributes. */
static void reprotect(struct proc *p, gva_t start, uint64_t len)
{
	struct reprot r = { p, { 0 } };

	MM_BUG_ON(pgtable_walk(&p->pt, start, len, 0, reprot_visit, &r, NULL) != 0);
	user_flush(p, &r.fl);
}

/* ---- processes ------------------------------------------------------------------------------ */

static const char *maps_name(const struct vma *v, void *arg)
{
	(void)arg;
	return is_image_vma(v) ? "/memvisor/user.elf" : is_shm_vma(v) ? "/dev/zero (deleted)" : NULL;
}

/* A VMA policy as Linux's /proc/PID/numa_maps writes it ("bind:0,1"); "" for none. */
static const char *policy_text(const struct vma_policy *vp, char *buf, size_t size)
{
	static const char *const names[] = {
		[NUMA_POLICY_DEFAULT] = "", [NUMA_POLICY_BIND] = "bind",
		[NUMA_POLICY_PREFERRED] = "prefer", [NUMA_POLICY_INTERLEAVE] = "interleave",
	};
	size_t n = 0;

	buf[0] = '\0';
	if (vp->mode == NUMA_POLICY_DEFAULT || vp->mode >= ARRAY_SIZE(names))
		return buf;
	for (const char *c = names[vp->mode]; *c && n < size - 1; c++)
		buf[n++] = *c;
	for (unsigned node = 0; node < 64 && n + 4 < size; node++)
		if (vp->nodes >> node & 1) {
			char sep = buf[n - 1] >= '0' && buf[n - 1] <= '9' ? ',' : ':';

			buf[n++] = sep;
			if (node >= 10)
				buf[n++] = (char)('0' + node / 10);
			buf[n++] = (char)('0' + node % 10);
		}
	buf[n] = '\0';
	return buf;
}

/* The maps lines, each with the VMA's mbind policy appended (the format has one line per VMA,
 * in address order, so the lines and the VMA list are walked together). */
void proc_print_maps(struct proc *p)
{
	char *buf = kmalloc(&kmem, MAPS_BUF);
	struct vma *v = vma_find(&p->mm, 0);
	char pol[48];
	long n;

	if (!buf)
		return;
	n = mm_format_maps(&p->mm, buf, MAPS_BUF, maps_name, NULL);
	kprintf("# maps of pid %u (%s)%s:\n", p->pid, p->name, n >= MAPS_BUF ? " (truncated)" : "");
	for (char *line = buf; *line;) {
		char *nl = line;

		while (*nl && *nl != '\n')
			nl++;
		if (*nl && v) {
			policy_text(&v->vm_policy, pol, sizeof(pol));
			kprintf("#   %.*s%s%s\n", (int)(nl - line), line, pol[0] ? "  policy " : "",
				pol);
			v = vma_next(&p->mm, v);
		} else {
			kprintf("#   %.*s\n", (int)(nl - line), line);
		}
		line = *nl ? nl + 1 : nl;
	}
	MM_BUG_ON(kfree(&kmem, buf) != 0);
}

static void proc_free(struct proc *p)
{
	while (!list_empty(&p->children)) {
		struct proc *c = list_entry(p->children.next, struct proc, sibling);

		MM_BUG_ON(c->state != PROC_NEW && !c->zombie);   /* never one that may still run */
		proc_free(c);                   /* unlinks itself */
	}
	if (p->parent)
		list_del(&p->sibling);
	if (p->pt.root) {
		zap(p, USER_START, USER_TOP - USER_START);
		vmem_user_table_destroy(&p->pt);
	}
	mm_space_destroy(&p->mm);
	shm_gc(p);                              /* no VMA left: detaches everything */
	if (p->kstack)
		MM_BUG_ON(kfree(&kmem, p->kstack) != 0);
	MM_BUG_ON(kfree(&kmem, p) != 0);
}

/*
 * A process object with an empty address space configured by cfg (its allocator is filled in
 * here), a kernel stack and a page table. NULL when out of memory.
 */
static struct proc *proc_alloc(const char *name, struct mm_space_config *cfg,
			       struct numa_policy *policy)
{
	struct proc *p = kmalloc(&kmem, sizeof(*p));

	if (!p)
		return NULL;
	*p = (struct proc){ .pid = __atomic_fetch_add(&next_pid, 1, __ATOMIC_RELAXED),
			    .state = PROC_NEW, .policy = policy, .on_cpu = PROC_NO_CPU };
	list_init(&p->children);
	for (unsigned i = 0; name[i] && i < PROC_NAME_MAX - 1; i++)
		p->name[i] = name[i];
	cfg->alloc = (struct vma_allocator){ vma_alloc_cb, vma_free_cb, NULL };
	MM_BUG_ON(mm_space_init(&p->mm, cfg) != 0);
	p->kstack = kmalloc(&kmem, PROC_KSTACK_SIZE);
	if (!p->kstack || vmem_user_table_init(&p->pt) != 0) {
		proc_free(p);
		return NULL;
	}
	return p;
}

struct proc *proc_create(enum uprog prog, const char *name, uint64_t arg,
			 const struct proc_opts *o)
{
	struct mm_space_config cfg;
	struct proc *p;
	const char *what = "the image's VMAs";
	gva_t at;
	int ret;

	mm_space_default_config(&cfg);
	cfg.mmap_min_addr = USER_START;
	cfg.task_size = USER_TOP;
	cfg.start_brk = image_end;
	cfg.start_stack = USER_TOP;
	cfg.rlimit_stack = o && o->stack_limit ? o->stack_limit : STACK_DEFAULT_LIMIT;
	p = proc_alloc(name, &cfg, o ? o->policy : NULL);
	if (!p) {
		kprintf("# proc: cannot create %s: out of memory for the process\n", name);
		return NULL;
	}
	p->no_preempt = o && o->no_preempt;
	for (unsigned i = 0; i < nr_segs; i++) {
		gva_t start = MM_ALIGN_DOWN(segs[i].vaddr, MM_PAGE_SIZE);
		uint64_t len = MM_ALIGN_UP(segs[i].vaddr + segs[i].memsz, MM_PAGE_SIZE) - start;

		ret = mm_mmap(&p->mm, start, len, segs[i].vm_flags, MM_MAP_FIXED_NOREPLACE, &segs[i],
			      MM_ALIGN_DOWN(segs[i].offset, MM_PAGE_SIZE) >> MM_PAGE_SHIFT, &at);
		if (ret)
			goto fail;
		populate(p, start, len);
	}
	what = "the stack VMA";
	ret = mm_mmap(&p->mm, USER_TOP - MM_PAGE_SIZE, MM_PAGE_SIZE,
		      VM_READ | VM_WRITE | VM_MAY_ALL | VM_GROWSDOWN, MM_MAP_FIXED_NOREPLACE, NULL,
		      0, &at);
	if (ret)
		goto fail;
	populate(p, at, MM_PAGE_SIZE);
	p->regs.rip = user_entry;
	p->regs.rsp = USER_TOP - 64;            /* 16-byte aligned; _start calls umain */
	p->regs.rflags = USER_RFLAGS;
	p->regs.rdi = prog;
	p->regs.rsi = arg;
	return p;

fail:
	kprintf("# proc: cannot create %s: %s: %d\n", name, what, ret);
	proc_free(p);
	return NULL;
}

void proc_destroy(struct proc *p)
{
	MM_BUG_ON(p->state != PROC_NEW && !p->zombie);
	proc_free(p);
}

static void enter_mm(struct proc *p)
{
	current_of[cpu_id()] = p;
	uarch_set_kernel_stack(p ? (uint64_t)(uintptr_t)(p->kstack + PROC_KSTACK_SIZE -
							 PROC_KSTACK_RESERVE) : 0);
	vmem_user_load(p ? &p->pt : NULL);
}

/* ---- the scheduler (see proc.h) ---------------------------------------------------------------
 *
 * One run queue for all CPUs (not per-CPU queues with stealing): the guest has a handful of CPUs
 * and switches at most every tick per CPU, so one lock costs nothing measurable, balances load
 * by construction and keeps wakeups simple; per-CPU queues would pay off only with many CPUs.
 *
 * sched_lock protects the run queue, every process's state/on_cpu/zombie, the counts below and
 * wakeups. It is taken with interrupts off and held ACROSS switch_to: the CPU switching holds it;
 * the context switched to releases it (a process where its sched_out_locked() returns or at its
 * first run in proc_kthread, the scheduler loop after its switch_to returns). So no CPU can pick,
 * wake or reap a process that is halfway through a switch on another CPU: a process that sleeps
 * or ends is off its kernel stack before anyone else sees it sleeping or a zombie.
 */

static struct spinlock sched_lock = SPINLOCK_INIT;
static struct list_head runq = LIST_HEAD_INIT(runq);
static unsigned nr_live;        /* started (proc_start) and not yet switched away for good */
static unsigned nr_sleeping;    /* of them, asleep in wait4 */
static unsigned nr_running;     /* of them, on a CPU */
uint64_t sched_switches;

/* Per CPU: its scheduler loop's saved context and counters (written by that CPU only). */
static struct sched_cpu {
	uint64_t ksp;
	uint64_t runs, preempts;
} sched_cpu[SMP_MAX_CPUS];

void sched_cpu_stats(unsigned cpu, struct sched_cpu_stats *st)
{
	MM_BUG_ON(cpu >= SMP_MAX_CPUS);
	st->runs = __atomic_load_n(&sched_cpu[cpu].runs, __ATOMIC_RELAXED);
	st->preempts = __atomic_load_n(&sched_cpu[cpu].preempts, __ATOMIC_RELAXED);
}

/* sched_lock held. */
static void runq_add_locked(struct proc *p)
{
	p->state = PROC_RUNNABLE;
	list_add_tail(&p->runq, &runq);
}

/* sched_lock held. */
static void wake_locked(struct proc *p)
{
	if (p->state != PROC_SLEEPING)
		return;
	nr_sleeping--;
	runq_add_locked(p);
}

/* Switch from the running process p back to this CPU's scheduler loop, sched_lock held (it stays
 * held through the switch); returns when p runs again, on whichever CPU, with sched_lock held
 * again (by the CPU that switched to it). */
static void sched_out_locked(struct proc *p)
{
	unsigned cpu = cpu_id();

	MM_BUG_ON(p->on_cpu != cpu || irqs_enabled());
	switch_to(&p->ksp, sched_cpu[cpu].ksp);
}

void proc_kthread(struct proc *p);      /* uentry.S's proc_kthread_entry */

/* A process's kernel thread: ring 3 until the end, then wake a waiting parent and leave. */
void proc_kthread(struct proc *p)
{
	spin_unlock(&sched_lock);               /* the scheduler that switched here took it */
	user_run(&p->kctx, &p->regs);           /* returns after exit or a kill (state set) */
	spin_lock(&sched_lock);                 /* interrupts are off: a system call or fault */
	p->zombie = true;
	nr_live--;
	if (p->parent)
		wake_locked(p->parent);
	sched_out_locked(p);
	tap_bail("proc: pid %u ran again after its end", p->pid);
}

void proc_start(struct proc *p)
{
	/* The first switch_to pops six registers (RBX = p) and returns to proc_kthread_entry,
	 * leaving RSP at the 16-byte aligned top. */
	uint64_t *sp = (uint64_t *)(uintptr_t)(p->kstack + PROC_KSTACK_SIZE) - 7;
	uint64_t irq;

	MM_BUG_ON(p->state != PROC_NEW);
	for (unsigned i = 0; i < 5; i++)
		sp[i] = 0;
	sp[5] = (uint64_t)(uintptr_t)p;
	sp[6] = (uint64_t)(uintptr_t)proc_kthread_entry;
	p->ksp = (uint64_t)(uintptr_t)sp;
	irq = spin_lock_irqsave(&sched_lock);
	nr_live++;
	runq_add_locked(p);
	spin_unlock_irqrestore(&sched_lock, irq);
}

/*
 * The tick hook (smp_set_tick_hook): the tick interrupted the process running here in ring 3.
 * If another process is runnable, p goes to the back of the run queue and this CPU switches to
 * its scheduler loop; p resumes here (maybe on another CPU) and returns to ring 3 through the
 * interrupt's IRETQ. System calls and faults run with interrupts off, so a tick arriving during
 * one stays pending and is taken on the first user instruction after it: that is the
 * need-resched check on the way back to user mode.
 */
static void sched_tick(void)
{
	unsigned cpu = cpu_id();
	struct proc *p = current_of[cpu];

	if (!p)
		tap_bail("sched: a tick from ring 3 with no process on cpu %u", cpu);
	spin_lock(&sched_lock);
	if (!p->no_preempt && !list_empty(&runq)) {
		p->preempts++;
		sched_cpu[cpu].preempts++;
		runq_add_locked(p);
		sched_out_locked(p);
	}
	spin_unlock(&sched_lock);
}

void sched_run(void)
{
	unsigned cpu = cpu_id();
	uint64_t irq = irq_save();
	struct proc *last = NULL;

	smp_set_tick_hook(sched_tick);
	spin_lock(&sched_lock);
	for (;;) {
		struct proc *p;

		if (list_empty(&runq)) {
			if (nr_live == 0)
				break;
			if (nr_running == 0)
				tap_bail("sched: %u processes sleep and none can run (deadlock)",
					 nr_sleeping);
			/* Runnable work appears when a process elsewhere forks, yields or ends, or
			 * a tick preempts it: look again after this CPU's next tick. */
			spin_unlock(&sched_lock);
			__asm__ volatile("sti; hlt; cli" : : : "memory");
			spin_lock(&sched_lock);
			continue;
		}
		p = list_entry(runq.next, struct proc, runq);
		list_del(&p->runq);
		MM_BUG_ON(p->on_cpu != PROC_NO_CPU);     /* the TLB invariant (proc.h) */
		if (p != last)
			sched_switches++;
		last = p;
		p->state = PROC_RUNNING;
		p->on_cpu = cpu;
		p->cpus_ran |= UINT64_C(1) << (cpu % 64);
		nr_running++;
		sched_cpu[cpu].runs++;
		enter_mm(p);                    /* CR3 written on every switch: the TLB invariant */
		switch_to(&sched_cpu[cpu].ksp, p->ksp);
		/* p switched back (yield, sleep, tick or its end) with sched_lock held. */
		enter_mm(NULL);
		p->on_cpu = PROC_NO_CPU;
		nr_running--;
	}
	spin_unlock(&sched_lock);
	irq_restore(irq);
}

void proc_run(struct proc *p)
{
	proc_start(p);
	sched_run();
}

static uint64_t signal_of(uint64_t vector)
{
	switch (vector) {
	case VEC_DE: return SIGFPE;
	case VEC_UD: return SIGILL;
	default:     return SIGSEGV;
	}
}

static const char *signal_name(uint64_t vector)
{
	switch (signal_of(vector)) {
	case SIGFPE: return "SIGFPE";
	case SIGILL: return "SIGILL";
	default:     return "SIGSEGV";
	}
}

/* End the running process p: the kill message, its maps, back to proc_run. */
static __attribute__((noreturn)) void proc_kill(struct proc *p, enum proc_kill why,
						uint64_t vector, uint64_t addr, uint64_t err,
						const struct vma *v)
{
	const char *access = err & PF_ERR_I ? "execute" : err & PF_ERR_W ? "write" : "read";

	p->state = PROC_KILLED;
	p->kill_reason = why;
	p->kill_vector = vector;
	p->kill_addr = addr;
	p->kill_error = err;
	if (vector != VEC_PF)
		kprintf("proc: pid %u (%s) killed by %s: exception %lu error 0x%lx at RIP 0x%lx: %s\n",
			p->pid, p->name, signal_name(vector), vector, err, addr, proc_kill_text(why));
	else if (v)
		kprintf("proc: pid %u (%s) killed by %s: %s at 0x%lx in VMA 0x%lx-0x%lx %c%c%c%c: %s\n",
			p->pid, p->name, signal_name(vector), access, addr, v->vm_start, v->vm_end,
			v->vm_flags & VM_READ ? 'r' : '-', v->vm_flags & VM_WRITE ? 'w' : '-',
			v->vm_flags & VM_EXEC ? 'x' : '-', v->vm_flags & VM_SHARED ? 's' : 'p',
			proc_kill_text(why));
	else
		kprintf("proc: pid %u (%s) killed by %s: %s at 0x%lx in VMA none: %s\n", p->pid,
			p->name, signal_name(vector), access, addr, proc_kill_text(why));
	proc_print_maps(p);
	user_return(&p->kctx, 1);
}

void proc_user_exception(uint64_t vector, uint64_t error, uint64_t cr2, uint64_t rip)
{
	struct proc *p = current_of[cpu_id()];
	enum proc_kill why;
	struct vma *v = NULL;

	if (!p)
		tap_bail("exception %lu from ring 3 with no process on cpu %u", vector, cpu_id());
	if (vector != VEC_PF)
		proc_kill(p, vector == VEC_GP ? KILL_GP : KILL_OTHER_EXC, vector, rip, error, NULL);
	why = do_fault(p, cr2, error, true, &v);
	if (why != KILL_NONE)
		proc_kill(p, why, vector, cr2, error, v);
}

int proc_check(struct proc *p)
{
	gva_t va = USER_START;
	uint64_t rss = 0, node[MV_STATS_NODES] = { 0 };
	int bad = vma_check(&p->mm) ? 1 : 0;

	for (;;) {
		struct pgtable_info info;
		struct vma *v;
		struct pgtable_attr want;

		/* Translate-walk the user half: skip empty spans the table reports. */
		if (va >= USER_TOP || pgtable_translate(&p->pt, va, &info) != 0)
			break;
		if (info.state == PT_STATE_NONE) {
			va = info.addr + info.size;
			continue;
		}
		v = vma_lookup(&p->mm, va);
		want = v ? vma_attr(v->vm_flags) : (struct pgtable_attr){ 0, 0 };
		/* Shared frames are never writable; in a COW VMA a frame left alone by a fork
		 * may still be write-protected (do_wp_page reuses it on the next write). */
		if (info.state == PT_STATE_MAPPED && v && info.size == PT_SIZE_4K && is_cow(v) &&
		    (buddy_pfn_to_frame(&pmem_buddy, info.pa >> MM_PAGE_SHIFT)->refcount > 1 ||
		     !(info.attr.flags & PT_W)))
			want.flags &= ~PT_W;
		if (info.state != PT_STATE_MAPPED || !v || info.size != PT_SIZE_4K ||
		    (info.attr.flags & ~(PT_A | PT_D)) != want.flags) {
			kprintf("# proc: pid %u: page 0x%lx: state %u size 0x%lx attr 0x%x, VMA %s "
				"wants 0x%x\n", p->pid, va, info.state, info.size, info.attr.flags,
				v ? "found" : "none", want.flags);
			bad++;
		} else {
			rss++;
			node[frame_node(info.pa >> MM_PAGE_SHIFT)]++;
		}
		va += MM_PAGE_SIZE;
	}
	for (unsigned n = 0; n < MV_STATS_NODES; n++)
		if (node[n] != p->rss_node[n]) {
			kprintf("# proc: pid %u: %lu pages on node %u, rss_node says %lu\n", p->pid,
				node[n], n, p->rss_node[n]);
			bad++;
		}
	if (rss != p->rss) {
		kprintf("# proc: pid %u: %lu pages mapped, rss says %lu\n", p->pid, rss, p->rss);
		bad++;
	}
	return bad ? -1 : 0;
}

/* ---- system calls ----------------------------------------------------------------------------- */

static uint64_t prot_to_vm(uint64_t prot)
{
	return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) |
	       (prot & PROT_EXEC ? VM_EXEC : 0);
}

static int64_t sys_write(struct proc *p, uint64_t fd, gva_t buf, uint64_t len)
{
	if (fd != 1 && fd != 2)
		return -UAPI_EBADF;
	if (user_range_ok(p, buf, len, false))
		return -UAPI_EFAULT;
	kprintf("%.*s", (int)(len > INT32_MAX ? INT32_MAX : len), (const char *)(uintptr_t)buf);
	return (int64_t)len;
}

static int64_t sys_mmap(struct proc *p, gva_t addr, uint64_t len, uint64_t prot, uint64_t flags,
			uint64_t fd, uint64_t off)
{
	uint32_t map_flags = (uint32_t)(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE));
	uint64_t vm_flags = prot_to_vm(prot) | VM_MAY_ALL;
	struct shmem *shm = NULL;
	gva_t at;
	int ret;

	(void)fd;
	(void)off;
	if (prot & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC))
		return -UAPI_EINVAL;
	if ((flags & MAP_TYPE) != MAP_PRIVATE && (flags & MAP_TYPE) != MAP_SHARED)
		return -UAPI_EINVAL;
	if (!(flags & MAP_ANONYMOUS))
		return -UAPI_EBADF;             /* no files */
	if (len == 0)
		return -UAPI_EINVAL;
	if (len > USER_TOP)
		return -UAPI_ENOMEM;
	len = MM_ALIGN_UP(len, MM_PAGE_SIZE);
	if ((flags & MAP_TYPE) == MAP_SHARED) {
		if (len / MM_PAGE_SIZE > SHM_MAX_PAGES)
			return -UAPI_ENOMEM;
		shm = kmalloc(&kmem, sizeof(*shm) + len / MM_PAGE_SIZE * sizeof(pfn_t));
		if (!shm)
			return -UAPI_ENOMEM;
		memset(shm, 0, sizeof(*shm) + len / MM_PAGE_SIZE * sizeof(pfn_t));
		shm->npages = len / MM_PAGE_SIZE;
		shm->refs = 1;                  /* ours until attached */
		if (!shm_attach(p, shm)) {
			shm_put(shm);
			return -UAPI_ENOMEM;    /* PROC_MAX_SHM objects attached */
		}
		shm_put(shm);                   /* now the attachment's */
		vm_flags |= VM_SHARED | VM_MAYSHARE;
	}
	ret = mm_mmap(&p->mm, addr, len, vm_flags, map_flags, shm, 0, &at);
	if (ret) {
		shm_gc(p);                      /* drops the unused object again */
		return ret;
	}
	zap(p, at, len);                        /* what a MAP_FIXED mapping replaced */
	shm_gc(p);
	if (flags & MAP_POPULATE)
		populate(p, at, len);
	return (int64_t)at;
}

static int64_t sys_munmap(struct proc *p, gva_t addr, uint64_t len)
{
	int ret;

	if (len == 0 || len > USER_TOP || (addr & (MM_PAGE_SIZE - 1)))
		return -UAPI_EINVAL;
	len = MM_ALIGN_UP(len, MM_PAGE_SIZE);
	ret = mm_munmap(&p->mm, addr, len);
	if (ret == 0) {
		zap(p, addr, len);
		shm_gc(p);
	}
	return ret;
}

static int64_t sys_mprotect(struct proc *p, gva_t addr, uint64_t len, uint64_t prot)
{
	int ret;

	if ((addr & (MM_PAGE_SIZE - 1)) || (prot & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -UAPI_EINVAL;
	if (len == 0)
		return 0;
	if (len > USER_TOP)
		return -UAPI_ENOMEM;
	len = MM_ALIGN_UP(len, MM_PAGE_SIZE);
	ret = mm_mprotect(&p->mm, addr, len, prot_to_vm(prot));
	if (ret == 0)
		reprotect(p, addr, len);
	return ret;
}

/* brk returns the break after the call (the old one when it could not move), as Linux. */
static int64_t sys_brk(struct proc *p, gva_t brk)
{
	gva_t old_end = MM_ALIGN_UP(p->mm.brk, MM_PAGE_SIZE);

	if (brk < p->mm.start_brk || brk >= USER_TOP || mm_brk(&p->mm, brk) != 0)
		return (int64_t)p->mm.brk;
	if (MM_ALIGN_UP(brk, MM_PAGE_SIZE) < old_end)
		zap(p, MM_ALIGN_UP(brk, MM_PAGE_SIZE), old_end - MM_ALIGN_UP(brk, MM_PAGE_SIZE));
	return (int64_t)p->mm.brk;
}

/* MADV_DONTNEED: drop the pages of every VMA in the range (-ENOMEM if part is unmapped). */
static int64_t sys_madvise(struct proc *p, gva_t addr, uint64_t len, uint64_t advice)
{
	gva_t end, at;
	struct vma *v;
	bool hole = false;

	if (advice != MADV_DONTNEED || (addr & (MM_PAGE_SIZE - 1)) || len > USER_TOP)
		return -UAPI_EINVAL;
	end = addr + MM_ALIGN_UP(len, MM_PAGE_SIZE);
	if (len == 0)
		return 0;
	if (addr < USER_START || end > USER_TOP)
		return -UAPI_ENOMEM;
	at = addr;
	for (v = vma_find(&p->mm, addr); v && v->vm_start < end; v = vma_next(&p->mm, v)) {
		gva_t s = v->vm_start > addr ? v->vm_start : addr;
		gva_t e = v->vm_end < end ? v->vm_end : end;

		hole |= s > at;
		zap(p, s, e - s);
		at = e;
	}
	return hole || at < end ? -UAPI_ENOMEM : 0;
}

static const unsigned mpol_modes[] = {
	[MPOL_DEFAULT] = NUMA_POLICY_DEFAULT, [MPOL_PREFERRED] = NUMA_POLICY_PREFERRED,
	[MPOL_BIND] = NUMA_POLICY_BIND, [MPOL_INTERLEAVE] = NUMA_POLICY_INTERLEAVE,
};

/*
 * Linux's get_nodes(): the node mask of set_mempolicy/mbind. nodemask holds maxnode - 1 bits
 * (Linux's off-by-one); at most the first 64 are read (MV_STATS_NODES < 64 nodes exist). No
 * mask or maxnode <= 1: empty. 0, or -EFAULT when the process cannot read the word.
 */
static int64_t user_nodes(struct proc *p, gva_t nodemask, uint64_t maxnode, nodemask_t *nodes)
{
	uint64_t bits = maxnode > 1 ? maxnode - 1 : 0;

	*nodes = 0;
	if (!bits || !nodemask)
		return 0;
	if (user_range_ok(p, nodemask, sizeof(uint64_t), false))
		return -UAPI_EFAULT;
	*nodes = *(const uint64_t *)(uintptr_t)nodemask;
	if (bits < 64)
		*nodes &= (UINT64_C(1) << bits) - 1;
	return 0;
}

/*
 * set_mempolicy(mode, nodemask, maxnode): the process's placement for pages it faults from now
 * on (pages already there stay). MPOL_DEFAULT ignores the mask; an empty or unknown node set is
 * -EINVAL.
 */
static int64_t sys_set_mempolicy(struct proc *p, uint64_t mode, gva_t nodemask, uint64_t maxnode)
{
	struct numa_policy pol;
	nodemask_t nodes;

	if (mode >= ARRAY_SIZE(mpol_modes))
		return -UAPI_EINVAL;
	if (mode == MPOL_DEFAULT) {
		p->policy = NULL;
		return 0;
	}
	if (user_nodes(p, nodemask, maxnode, &nodes))
		return -UAPI_EFAULT;
	if (nodes == 0 || (nodes & ~pmem_buddy.mem_nodes) ||
	    numa_policy_init(&pol, &pmem_buddy, mpol_modes[mode], nodes) != 0)
		return -UAPI_EINVAL;
	p->own_policy = pol;
	p->policy = &p->own_policy;
	return 0;
}

/*
 * mbind(start, len, mode, nodemask, maxnode, flags) (Linux do_mbind, checks in its order): the
 * policy of every page of [start, start + len) faulted from now on; the VMAs are split at the
 * range's ends and merge again with neighbours of equal policy (mm_set_policy). MPOL_DEFAULT
 * removes the range's policy (the process's applies again). -EINVAL: flags (MPOL_MF_*: no page
 * migration here), unknown mode, start not page aligned, start + len wrapping, DEFAULT with
 * nodes, another mode with none or with a node that has no memory; PREFERRED with several nodes
 * takes the first, as Linux. -EFAULT: the mask unreadable, or a hole in the range. len 0: 0.
 */
static int64_t sys_mbind(struct proc *p, gva_t start, uint64_t len, uint64_t mode,
			 gva_t nodemask, uint64_t maxnode, uint64_t flags)
{
	struct vma_policy vp = { NUMA_POLICY_DEFAULT, 0, 0 };
	struct numa_policy check;
	nodemask_t nodes;
	gva_t end;

	if (flags || mode >= ARRAY_SIZE(mpol_modes) || (start & (MM_PAGE_SIZE - 1)))
		return -UAPI_EINVAL;
	if (len > UINT64_MAX - (MM_PAGE_SIZE - 1))
		return -UAPI_EINVAL;
	end = start + MM_ALIGN_UP(len, MM_PAGE_SIZE);
	if (end < start)
		return -UAPI_EINVAL;
	if (end == start)
		return 0;
	if (user_nodes(p, nodemask, maxnode, &nodes))
		return -UAPI_EFAULT;
	if (mode == MPOL_DEFAULT) {
		if (nodes)
			return -UAPI_EINVAL;
	} else {
		if (mode == MPOL_PREFERRED)
			nodes &= ~(nodes - 1);  /* Linux: first_node() */
		if (nodes == 0 || (nodes & ~pmem_buddy.mem_nodes) ||
		    numa_policy_init(&check, &pmem_buddy, mpol_modes[mode], nodes) != 0)
			return -UAPI_EINVAL;
		vp = (struct vma_policy){ mpol_modes[mode], 0, nodes };
	}
	if (start < USER_START || end > USER_TOP)
		return -UAPI_EFAULT;            /* nothing of the process is mapped there */
	return mm_set_policy(&p->mm, start, end - start, &vp);  /* -EFAULT, -ENOMEM as Linux */
}

static int64_t sys_check(struct proc *p, uint64_t ok, gva_t msg, uint64_t len)
{
	if (len > 200)
		len = 200;
	if (user_range_ok(p, msg, len, false))
		return -UAPI_EFAULT;
	p->checks++;
	p->checks_failed += !ok;
	tap_check(ok != 0, "%s: %.*s", p->name, (int)len, (const char *)(uintptr_t)msg);
	return ok != 0;
}

static int64_t sys_maps(struct proc *p, gva_t buf, uint64_t size)
{
	if (buf == 0) {
		proc_print_maps(p);
		return mm_format_maps(&p->mm, NULL, 0, maps_name, NULL);
	}
	if (size == 0 || user_range_ok(p, buf, size, true))
		return -UAPI_EFAULT;
	return mm_format_maps(&p->mm, (char *)(uintptr_t)buf, size, maps_name, NULL);
}

static int64_t sys_stats(struct proc *p, gva_t buf)
{
	struct mv_proc_stats *st = (struct mv_proc_stats *)(uintptr_t)buf;

	if (user_range_ok(p, buf, sizeof(*st), true))
		return -UAPI_EFAULT;
	st->minflt = p->minflt;
	st->cowflt = p->cowflt;
	st->rss = p->rss;
	for (unsigned n = 0; n < MV_STATS_NODES; n++)
		st->rss_node[n] = p->rss_node[n];
	st->pid = p->pid;
	return 0;
}

/* ---- fork and wait ------------------------------------------------------------------------ */

struct fork_ctx {
	struct proc *parent, *child;
	int ret;
};

/* Parent leaf → the same frame in the child (one more reference), write-protected in COW VMAs. */
static int fork_visit(void *arg, const struct pgtable_info *info)
{
	struct fork_ctx *c = arg;
	const struct vma *v = vma_lookup(&c->parent->mm, info->addr);
	struct pgtable_attr a = info->attr;
	pfn_t pfn = info->pa >> MM_PAGE_SHIFT;

	MM_BUG_ON(v == NULL || info->state != PT_STATE_MAPPED || info->size != PT_SIZE_4K);
	if (v->vm_flags & VM_DONTCOPY)
		return 0;
	a.flags &= ~(PT_A | PT_D);
	if (is_cow(v))
		a.flags &= ~PT_W;
	c->ret = pgtable_map(&c->child->pt, info->addr, info->pa, MM_PAGE_SIZE, PT_SIZE_4K, &a, 0,
			     NULL);
	if (c->ret)
		return c->ret;                  /* -MM_ENOMEM: stops the walk */
	MM_BUG_ON(buddy_frame_get(&pmem_buddy, pfn) != 0);
	rss_add(c->child, pfn, 1);
	return 0;
}

/*
 * fork (Linux dup_mmap + copy_page_range): the child gets a copy of every VMA and maps the same
 * frames; in private writable VMAs both sides lose write access, so the first write on either
 * side goes through do_wp_page (copy while shared, reuse once alone). The child resumes from
 * the same system call with RAX = 0.
 */
static int64_t sys_fork(struct proc *parent, const struct user_regs *r)
{
	struct mm_space_config cfg = {
		.task_size = parent->mm.task_size, .mmap_min_addr = parent->mm.mmap_min_addr,
		.mmap_base = parent->mm.mmap_base, .mmap_legacy_base = parent->mm.mmap_legacy_base,
		.mmap_topdown = parent->mm.mmap_topdown, .start_brk = parent->mm.start_brk,
		.start_stack = parent->mm.start_stack, .stack_guard_gap = parent->mm.stack_guard_gap,
		.rlimit_as = parent->mm.rlimit_as, .rlimit_data = parent->mm.rlimit_data,
		.rlimit_stack = parent->mm.rlimit_stack, .rlimit_memlock = parent->mm.rlimit_memlock,
		.max_map_count = parent->mm.max_map_count,
	};
	struct proc *child = proc_alloc(parent->name, &cfg, parent->policy);
	struct pgtable_flush fl = { 0 };
	struct fork_ctx c = { parent, child, 0 };
	struct vma *v;

	if (!child)
		return -UAPI_ENOMEM;
	child->parent = parent;
	child->no_preempt = parent->no_preempt;
	list_add_tail(&child->sibling, &parent->children);
	for (unsigned i = 0; i < PROC_MAX_SHM; i++)
		if (parent->shm[i])
			MM_BUG_ON(!shm_attach(child, parent->shm[i]));   /* same slots free */
	if (parent->policy == &parent->own_policy) {     /* set_mempolicy's is inherited */
		child->own_policy = parent->own_policy;
		child->policy = &child->own_policy;
	}
	vma_for_each(&parent->mm, v) {
		struct vma *n;

		if (v->vm_flags & VM_DONTCOPY)
			continue;
		n = vma_alloc_cb(NULL);
		if (!n)
			goto nomem;
		*n = (struct vma){ .vm_start = v->vm_start, .vm_end = v->vm_end,
				   .vm_flags = v->vm_flags, .vm_pgoff = v->vm_pgoff,
				   .vm_file = v->vm_file, .vm_policy = v->vm_policy };
		MM_BUG_ON(vma_insert(&child->mm, n) != 0);   /* the parent's VMAs do not overlap */
	}
	/* brk is exact (the heap VMA only covers it page-aligned); mm/ has no setter: copy it, as
	 * Linux's dup_mmap copies the whole mm_struct. */
	child->mm.brk = parent->mm.brk;
	if (pgtable_walk(&parent->pt, USER_START, USER_TOP - USER_START, 0, fork_visit, &c, NULL))
		goto nomem;
	/* Only now, when nothing can fail: write-protect the parent's COW pages. */
	vma_for_each(&parent->mm, v)
		if (is_cow(v) && (v->vm_flags & VM_WRITE)) {
			struct pgtable_attr a = vma_attr(v->vm_flags);

			a.flags &= ~PT_W;
			MM_BUG_ON(pgtable_protect(&parent->pt, v->vm_start, v->vm_end - v->vm_start,
						  &a, &fl) != 0);
		}
	user_flush(parent, &fl);
	child->regs = *r;
	child->regs.rax = 0;
	child->regs.rflags = (r->rflags & USER_RFLAGS_KEEP) | USER_RFLAGS;
	proc_start(child);                      /* runnable now; the parent carries on first */
	return child->pid;

nomem:
	proc_free(child);                       /* drops the references it took */
	return -UAPI_ENOMEM;
}

/*
 * wait4(pid, wstatus, options, rusage): pid -1 = any child. Sleeps until a matching child has
 * ended, then reaps it. options and rusage are ignored. -ECHILD without such a child.
 */
static int64_t sys_wait4(struct proc *p, int64_t pid, gva_t wstatus)
{
	for (;;) {
		struct proc *c = NULL;
		struct list_head *pos;
		bool any = false;
		uint32_t status;
		int64_t ret;

		/* The scan and the sleep are one sched_lock section: a child ending meanwhile
		 * either is seen as a zombie here or finds this process asleep and wakes it. Only
		 * this process adds to (fork) or removes from (here) its children list. */
		spin_lock(&sched_lock);
		list_for_each(pos, &p->children) {
			struct proc *k = list_entry(pos, struct proc, sibling);

			if (pid != -1 && (pid <= 0 || k->pid != (uint64_t)pid))
				continue;
			any = true;
			if (k->zombie) {
				c = k;
				break;
			}
		}
		if (!c && any) {
			p->state = PROC_SLEEPING;       /* a child's end wakes it */
			nr_sleeping++;
			sched_out_locked(p);
			spin_unlock(&sched_lock);
			continue;
		}
		spin_unlock(&sched_lock);
		if (!any)
			return -UAPI_ECHILD;
		status = c->state == PROC_EXITED ? (uint32_t)WSTATUS_EXITED(c->exit_code) :
						   (uint32_t)signal_of(c->kill_vector);
		if (wstatus) {
			if (user_range_ok(p, wstatus, sizeof(status), true))
				return -UAPI_EFAULT;    /* the child stays unreaped, as in Linux */
			*(uint32_t *)(uintptr_t)wstatus = status;
		}
		ret = c->pid;
		proc_free(c);
		return ret;
	}
}

/* sched_yield: to the back of the run queue. */
static int64_t sys_sched_yield(struct proc *p)
{
	spin_lock(&sched_lock);                 /* interrupts are off in a system call */
	runq_add_locked(p);
	sched_out_locked(p);
	spin_unlock(&sched_lock);
	return 0;
}

void syscall_dispatch(struct user_regs *r);     /* uentry.S */

void syscall_dispatch(struct user_regs *r)
{
	struct proc *p = current_of[cpu_id()];
	int64_t ret;

	if (!p)
		tap_bail("syscall %lu with no process on cpu %u", r->rax, cpu_id());
	if (r->rip >= USER_TOP)                 /* SYSRET to a non-canonical RIP would #GP in ring 0 */
		proc_kill(p, KILL_BAD_SYSCALL_RIP, VEC_GP, r->rip, 0, NULL);
	switch (r->rax) {
	case SYS_write:    ret = sys_write(p, r->rdi, r->rsi, r->rdx); break;
	case SYS_mmap:     ret = sys_mmap(p, r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9); break;
	case SYS_mprotect: ret = sys_mprotect(p, r->rdi, r->rsi, r->rdx); break;
	case SYS_munmap:   ret = sys_munmap(p, r->rdi, r->rsi); break;
	case SYS_brk:      ret = sys_brk(p, r->rdi); break;
	case SYS_madvise:  ret = sys_madvise(p, r->rdi, r->rsi, r->rdx); break;
	case SYS_getpid:   ret = p->pid; break;
	case SYS_fork:     ret = sys_fork(p, r); break;
	case SYS_wait4:    ret = sys_wait4(p, (int64_t)r->rdi, r->rsi); break;
	case SYS_sched_yield: ret = sys_sched_yield(p); break;
	case SYS_set_mempolicy:
		ret = sys_set_mempolicy(p, r->rdi, r->rsi, r->rdx);
		break;
	case SYS_mbind:
		ret = sys_mbind(p, r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9);
		break;
	case SYS_exit:
	case SYS_exit_group:
		p->exit_code = (int)(r->rdi & 0xff);
		p->state = PROC_EXITED;
		user_return(&p->kctx, 0);
	case MV_SYS_CHECK: ret = sys_check(p, r->rdi, r->rsi, r->rdx); break;
	case MV_SYS_MAPS:  ret = sys_maps(p, r->rdi, r->rsi); break;
	case MV_SYS_STATS: ret = sys_stats(p, r->rdi); break;
	default:           ret = -UAPI_ENOSYS; break;
	}
	r->rax = (uint64_t)ret;
}
