/*
 * guest/vmem.c — the kernel's virtual memory, on mm/pgtable (x86-64 format). Layout:
 *
 *   0x0000000000000000 - 0x00000000ffffffff   identity map of low memory [0, 4 GiB), as boot.S
 *                                             had it: kernel (linked at 1 MiB), its stack, the
 *                                             bump region, ACPI tables, LAPIC/IOAPIC. RWX.
 *   0xffff888000000000 + pa                   direct map of every memory-map RAM page, with
 *                                             1 GiB pages (CPUID pdpe1gb) or 2 MiB pages where
 *                                             aligned, 4 KiB elsewhere. RW, NX when EFER.NXE.
 *   0xffffc90000000000 .. + VMALLOC_SIZE      vmalloc areas: 4 KiB pages of any frames, each
 *                                             area followed by an unmapped guard page. RW, NX.
 *
 * vmem_init builds the table from buddy frames (below 4 GiB until the switch, so the identity
 * map reaches them), then every online CPU loads it into CR3 (smp_call_all); after that table
 * pages are reached via the direct map. The low identity map is the same in the boot table, so
 * nothing a CPU is running moves.
 *
 * Locking: kpt_lock (interrupts off) serialises every change of the kernel page table
 * (mm/pgtable has one writer); table pages are allocated under it (lock order: kpt_lock ->
 * per-CPU section -> zone lock). area_lock protects the vmalloc area list; it is never held with
 * kpt_lock. Frames leave a vmalloc area only after their mapping is gone from every TLB: the
 * calling CPU flushes, then tlb_shootdown_others() (guest/smp.c) for the other CPUs.
 */
#include <mm/list.h>
#include <mm/pgtable.h>

#include "mem.h"
#include "smp.h"

#define CPUID_EXT_LEAF     UINT32_C(0x80000001)
#define CPUID_EXT_PAGE1GB  (UINT32_C(1) << 26)      /* EDX: 1 GiB pages */
#define MSR_EFER           UINT32_C(0xc0000080)
#define EFER_NXE           (UINT64_C(1) << 11)
#define FLUSH_BATCH        64                       /* pages unmapped per TLB flush in vfree */
#define INVLPG_MAX         32                       /* more pages than this: reload CR3 */

struct vm_area {
	struct list_head list;  /* on areas, sorted by start, under area_lock */
	uint64_t start;
	uint64_t pages;         /* mapped pages; the guard page after them is not counted */
};

static struct pgtable kpt;
static struct kmem_cache *area_cache;                 /* struct vm_area (vmem_cache_init) */
static struct mm_lock kpt_lock, area_lock;
static struct list_head areas = LIST_HEAD_INIT(areas);
static bool kpt_live;                                 /* CR3 holds kpt: use the direct map */
static bool have_1g, have_nx;
static uint64_t vmalloc_pages;                        /* relaxed atomic */
static unsigned cpus_switched;                        /* CPUs that loaded kpt (relaxed atomic) */

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void write_cr3(uint64_t root)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(root) : "memory");
}

static uint64_t read_cr3(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

/* Local flush of [first, last] after a pgtable call said one is due. */
static void flush_local(const struct pgtable_flush *fl)
{
	if (!pgtable_flush_needed(fl))
		return;
	if (fl->tables_freed || (fl->last - fl->first) / MM_PAGE_SIZE >= INVLPG_MAX) {
		write_cr3(read_cr3());
		return;
	}
	for (uint64_t va = fl->first; va <= fl->last && va >= fl->first; va += MM_PAGE_SIZE)
		__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static void flush_all_cpus(const struct pgtable_flush *fl)
{
	if (!pgtable_flush_needed(fl))
		return;
	flush_local(fl);
	tlb_shootdown_others(fl->first, fl->last);
}

/* ---- table memory: buddy frames ---------------------------------------------------------- */

static void *kpt_phys_to_virt(void *arg, phys_addr_t pa)
{
	(void)arg;
	return kpt_live ? phys_to_direct(pa) : (void *)(uintptr_t)pa;
}

static int kpt_alloc(void *arg, phys_addr_t *table)
{
	/* Before the switch only the identity map of [0, 4 GiB) reaches a new table page. */
	unsigned flags = BUDDY_ALLOC_HIGH | (kpt_live ? 0 : BUDDY_ALLOC_DMA32);
	pfn_t pfn;
	int ret = page_alloc(NULL, 0, flags, &pfn);

	if (ret)
		return ret;
	*table = pfn << MM_PAGE_SHIFT;
	memset(kpt_phys_to_virt(arg, *table), 0, MM_PAGE_SIZE);
	return 0;
}

static void kpt_free(void *arg, phys_addr_t table)
{
	(void)arg;
	page_free(table >> MM_PAGE_SHIFT, 0);
}

/* ---- building the table -------------------------------------------------------------------- */

/* Map [va, va + len) -> [pa, ...) with the largest pages alignment allows. kpt_lock held or boot. */
static int map_range(uint64_t va, uint64_t pa, uint64_t len, const struct pgtable_attr *attr,
		     struct pgtable_flush *fl)
{
	while (len) {
		uint64_t size = PT_SIZE_4K, run;
		int ret;

		if (have_1g && !((va | pa) & (PT_SIZE_1G - 1)) && len >= PT_SIZE_1G)
			size = PT_SIZE_1G;
		else if (!((va | pa) & (PT_SIZE_2M - 1)) && len >= PT_SIZE_2M)
			size = PT_SIZE_2M;
		/* Run of this size up to the next boundary where a larger page could start. */
		if (size == PT_SIZE_1G)
			run = len & ~(PT_SIZE_1G - 1);
		else if (size == PT_SIZE_2M)
			run = len & ~(PT_SIZE_2M - 1);
		else
			run = ((va | (PT_SIZE_2M - 1)) + 1) - va;
		if (size != PT_SIZE_1G && have_1g && ((va | (PT_SIZE_1G - 1)) + 1) - va < run)
			run = ((va | (PT_SIZE_1G - 1)) + 1) - va;
		if (run > len)
			run = len & ~(size - 1);
		ret = pgtable_map(&kpt, va, pa, run, size, attr, 0, fl);
		if (ret)
			return ret;
		va += run;
		pa += run;
		len -= run;
	}
	return 0;
}

static void detect_cpu(void)
{
	uint32_t a, b, c, d;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(CPUID_EXT_LEAF), "c"(0));
	have_1g = d & CPUID_EXT_PAGE1GB;
	have_nx = rdmsr(MSR_EFER) & EFER_NXE;
}

/* On every CPU (smp_call_all): load the kernel table; count the CPUs whose CR3 then holds it. */
static void load_kernel_cr3(void *arg)
{
	(void)arg;
	write_cr3(kpt.root);
	if (read_cr3() == kpt.root)
		__atomic_add_fetch(&cpus_switched, 1, __ATOMIC_RELAXED);
}

bool vmem_init(const struct memmap *mm)
{
	const struct pgtable_mem mem = { kpt_alloc, kpt_free, kpt_phys_to_virt, NULL };
	struct pgtable_attr rwx = { PT_R | PT_W | PT_X, PT_MT_WB };
	struct pgtable_attr rw = { 0, PT_MT_WB };
	struct pgtable_flush fl = { 0 };
	uint64_t direct = 0;
	bool all_switched;
	int ret;

	detect_cpu();
	rw.flags = PT_R | PT_W | (have_nx ? 0 : PT_X);
	mm_env_lock_init(&kpt_lock);
	mm_env_lock_init(&area_lock);
	ret = pgtable_init(&kpt, &pgtable_x86_64, &mem);
	if (!tap_check(ret == 0, "vmem: kernel page table root: %d", ret))
		return false;
	ret = map_range(0, 0, LOW_IDENTITY_END, &rwx, &fl);
	if (!tap_check(ret == 0, "vmem: identity map of [0, 4 GiB): %d", ret))
		return false;
	for (unsigned i = 0; i < mm->n && ret == 0; i++) {
		uint64_t a = (mm->e[i].addr + MM_PAGE_SIZE - 1) & MM_PAGE_MASK;
		uint64_t b = (mm->e[i].addr + mm->e[i].size) & MM_PAGE_MASK;

		if (mm->e[i].type != E820_TYPE_RAM || a >= b)
			continue;
		if (b > DIRECT_MAP_SIZE)
			b = DIRECT_MAP_SIZE;
		ret = map_range(DIRECT_MAP_BASE + a, a, b - a, &rw, &fl);
		direct += b - a;
	}
	if (!tap_check(ret == 0, "vmem: direct map of %lu MiB of RAM at 0x%lx (%s pages): %d",
		       direct >> 20, DIRECT_MAP_BASE, have_1g ? "1 GiB/2 MiB/4 KiB" : "2 MiB/4 KiB",
		       ret))
		return false;
	all_switched = smp_call_all(load_kernel_cr3, NULL);
	kpt_live = true;
	kprintf("# vmem: CR3 = 0x%lx, %lu table pages, NX %s\n", kpt.root, kpt.tables,
		have_nx ? "on" : "off");
	if (!tap_check(all_switched && cpus_switched == nr_cpus_online(),
		       "vmem: all %u online CPUs switched to the kernel page table (%u did)",
		       nr_cpus_online(), cpus_switched))
		return false;
	return tap_check(pgtable_check(&kpt) == (long)kpt.tables, "vmem: pgtable_check of the kernel table");
}

bool vmem_cache_init(void)
{
	area_cache = kmem_cache_create(&kmem, "vm_area", sizeof(struct vm_area), 0, 0, NULL);
	return tap_check(area_cache != NULL, "vmem: kmem cache vm_area for vmalloc area descriptors");
}

uint64_t vmem_table_pages(void)
{
	return kpt.tables;
}

uint64_t vmem_virt_to_phys(const void *va)
{
	struct pgtable_info info;
	uint64_t irq = irq_save();
	int ret;

	mm_env_lock(&kpt_lock);
	ret = pgtable_translate(&kpt, (uint64_t)(uintptr_t)va, &info);
	mm_env_unlock(&kpt_lock);
	irq_restore(irq);
	return ret == 0 && info.state == PT_STATE_MAPPED ? info.pa : VMEM_NO_PHYS;
}

uint64_t vmem_vmalloc_pages(void)
{
	return __atomic_load_n(&vmalloc_pages, __ATOMIC_RELAXED);
}

/* ---- vmalloc ------------------------------------------------------------------------------- */

/* First fit of pages + 1 guard page in the vmalloc area; 0 when full. area_lock held. */
static uint64_t area_find_locked(uint64_t pages, struct list_head **before)
{
	uint64_t at = VMALLOC_START, need = (pages + 1) * MM_PAGE_SIZE;
	struct list_head *pos;

	list_for_each(pos, &areas) {
		struct vm_area *a = list_entry(pos, struct vm_area, list);

		if (a->start - at >= need) {
			*before = &a->list;
			return at;
		}
		at = a->start + (a->pages + 1) * MM_PAGE_SIZE;
	}
	if (VMALLOC_START + VMALLOC_SIZE - at < need)
		return 0;
	*before = &areas;
	return at;
}

/* Unmap [start, start + pages) of a vmalloc area and free its frames (those mapped). */
static void area_unmap(uint64_t start, uint64_t pages)
{
	for (uint64_t done = 0; done < pages;) {
		uint64_t n = pages - done < FLUSH_BATCH ? pages - done : FLUSH_BATCH;
		uint64_t va = start + done * MM_PAGE_SIZE;
		pfn_t pfns[FLUSH_BATCH];
		struct pgtable_flush fl = { 0 };
		unsigned long irq = irq_save();
		int ret;

		mm_env_lock(&kpt_lock);
		for (uint64_t i = 0; i < n; i++) {
			struct pgtable_info info;

			pfns[i] = ~(pfn_t)0;
			if (pgtable_translate(&kpt, va + i * MM_PAGE_SIZE, &info) == 0 &&
			    info.state == PT_STATE_MAPPED)
				pfns[i] = info.pa >> MM_PAGE_SHIFT;
		}
		ret = pgtable_unmap(&kpt, va, n * MM_PAGE_SIZE, &fl);
		mm_env_unlock(&kpt_lock);
		MM_BUG_ON(ret != 0);    /* 4 KiB leaves only: unmapping never needs a page */
		flush_all_cpus(&fl);
		irq_restore(irq);
		for (uint64_t i = 0; i < n; i++)
			if (pfns[i] != ~(pfn_t)0) {
				page_free(pfns[i], 0);
				__atomic_fetch_sub(&vmalloc_pages, 1, __ATOMIC_RELAXED);
			}
		done += n;
	}
}

static void area_remove(struct vm_area *a)
{
	unsigned long irq = irq_save();

	mm_env_lock(&area_lock);
	list_del(&a->list);
	mm_env_unlock(&area_lock);
	irq_restore(irq);
	MM_BUG_ON(kmem_cache_free(area_cache, a) != 0);
}

void *vmalloc(size_t bytes)
{
	const struct pgtable_attr rw = { PT_R | PT_W | (have_nx ? 0 : PT_X), PT_MT_WB };
	uint64_t pages = (bytes + MM_PAGE_SIZE - 1) >> MM_PAGE_SHIFT;
	struct list_head *before = NULL;
	struct vm_area *a;
	unsigned long irq;

	if (bytes == 0 || pages > VMALLOC_SIZE / MM_PAGE_SIZE)
		return NULL;
	a = kmem_cache_alloc(area_cache);
	if (!a)
		return NULL;
	irq = irq_save();
	mm_env_lock(&area_lock);
	a->start = area_find_locked(pages, &before);
	a->pages = pages;
	if (a->start)
		list_add_tail(&a->list, before);
	mm_env_unlock(&area_lock);
	irq_restore(irq);
	if (!a->start) {
		tap_check(false, "out of vmalloc space: %lu pages", pages);
		MM_BUG_ON(kmem_cache_free(area_cache, a) != 0);
		return NULL;
	}
	for (uint64_t i = 0; i < pages; i++) {
		struct pgtable_flush fl = { 0 };
		pfn_t pfn;
		int ret = page_alloc(NULL, 0, 0, &pfn);

		if (ret == 0) {
			irq = irq_save();
			mm_env_lock(&kpt_lock);
			ret = pgtable_map(&kpt, a->start + i * MM_PAGE_SIZE, pfn << MM_PAGE_SHIFT,
					  MM_PAGE_SIZE, PT_SIZE_4K, &rw, 0, &fl);
			mm_env_unlock(&kpt_lock);
			irq_restore(irq);
			if (ret)
				page_free(pfn, 0);
			else
				__atomic_fetch_add(&vmalloc_pages, 1, __ATOMIC_RELAXED);
		}
		if (ret) {
			area_unmap(a->start, i);
			area_remove(a);
			return NULL;
		}
	}
	return (void *)(uintptr_t)a->start;
}

void vfree(void *p)
{
	uint64_t va = (uint64_t)(uintptr_t)p;
	struct vm_area *found = NULL;
	struct list_head *pos;
	unsigned long irq;

	if (!p)
		return;
	irq = irq_save();
	mm_env_lock(&area_lock);
	list_for_each(pos, &areas)
		if (list_entry(pos, struct vm_area, list)->start == va) {
			found = list_entry(pos, struct vm_area, list);
			break;
		}
	mm_env_unlock(&area_lock);
	irq_restore(irq);
	MM_BUG_ON(found == NULL);       /* vfree of something vmalloc did not return */
	area_unmap(found->start, found->pages);
	area_remove(found);
}

/* ==== user address spaces ====================================================================
 *
 * A process page table (proc.c) is an mm/pgtable of its own that shares the kernel's mappings:
 *
 *   PML4[0]        the process's own PDPT; its entries 0..3 are copies of the kernel PDPT's
 *                  (the identity map of [0, 4 GiB): supervisor-only leaves, or the kernel's page
 *                  directories), entries 4..511 are the process's ([4 GiB, 512 GiB) of user
 *                  space)
 *   PML4[1..255]   the process's own (user space up to USER_TOP)
 *   PML4[256..511] copies of the kernel root's entries (direct map, vmalloc)
 *
 * The copied entries point at kernel tables, which the process table must never free or count:
 * they sit where no user operation walks (below USER_START, above USER_TOP), and
 * vmem_user_table_destroy clears them before pgtable_destroy. Because of them pgtable_check
 * cannot be run on a process table (it would count the kernel's tables); proc.c checks the user
 * half with a walk instead.
 *
 * Sharing the kernel's upper-half PML4 entries is only correct if the kernel never adds one
 * after a process copied them: the direct map's are made by vmem_init, and vmem_user_prepare
 * pins the vmalloc PDPT (a 1 GiB "discarded" state entry right after the vmalloc area keeps it
 * non-empty forever), so later vmalloc mappings land below a PDPT every process shares.
 */

bool vmem_have_nx(void)
{
	return have_nx;
}

bool vmem_user_prepare(void)
{
	uint64_t pin = VMALLOC_START + VMALLOC_SIZE;
	struct pgtable_flush fl = { 0 };
	struct pgtable_info info;
	unsigned long irq = irq_save();
	int ret = 0;

	mm_env_lock(&kpt_lock);
	if (pgtable_translate(&kpt, pin, &info) != 0 || info.state != PT_STATE_DISCARDED)
		ret = pgtable_set_state(&kpt, pin, PT_SIZE_1G, PT_SIZE_1G, PT_STATE_DISCARDED, 0, &fl);
	mm_env_unlock(&kpt_lock);
	irq_restore(irq);
	return tap_check(ret == 0, "vmem: vmalloc's PML4 entry pinned for sharing with processes: %d",
			 ret);
}

static uint64_t *table_of(phys_addr_t pa)
{
	return phys_to_direct(pa);
}

int vmem_user_table_init(struct pgtable *pt)
{
	const struct pgtable_mem mem = { kpt_alloc, kpt_free, kpt_phys_to_virt, NULL };
	const struct pgtable_attr ro = { PT_R, PT_MT_WB };
	uint64_t *root, *pdpt, *kroot, *kpdpt;
	unsigned long irq;
	int ret;

	ret = pgtable_init(pt, &pgtable_x86_64, &mem);
	if (ret)
		return ret;
	/* PML4[0]'s PDPT: let mm/pgtable make it by mapping one page at USER_START, fill in the
	 * kernel's identity entries, then unmap the page: the PDPT stays (non-empty), counted. */
	ret = pgtable_map(pt, USER_START, 0, PT_SIZE_4K, PT_SIZE_4K, &ro, 0, NULL);
	if (ret) {
		MM_BUG_ON(pgtable_destroy(pt) != 0);
		return ret;
	}
	root = table_of(pt->root);
	pdpt = table_of(pgtable_x86_64.table_addr(root[0]));
	irq = irq_save();
	mm_env_lock(&kpt_lock);
	kroot = table_of(kpt.root);
	kpdpt = table_of(pgtable_x86_64.table_addr(kroot[0]));
	for (unsigned i = 0; i < LOW_IDENTITY_END / PT_SIZE_1G; i++)
		__atomic_store_n(&pdpt[i], kpdpt[i], __ATOMIC_RELEASE);
	for (unsigned i = PT_ENTRIES / 2; i < PT_ENTRIES; i++)
		__atomic_store_n(&root[i], kroot[i], __ATOMIC_RELEASE);
	mm_env_unlock(&kpt_lock);
	irq_restore(irq);
	MM_BUG_ON(pgtable_unmap(pt, USER_START, PT_SIZE_4K, NULL) != 0);
	MM_BUG_ON(pt->tables != 2);
	return 0;
}

void vmem_user_table_destroy(struct pgtable *pt)
{
	uint64_t *root = table_of(pt->root);
	uint64_t *pdpt = table_of(pgtable_x86_64.table_addr(root[0]));

	MM_BUG_ON(read_cr3() == pt->root);      /* the caller switched to the kernel's table */
	for (unsigned i = 0; i < LOW_IDENTITY_END / PT_SIZE_1G; i++)
		pdpt[i] = 0;
	for (unsigned i = PT_ENTRIES / 2; i < PT_ENTRIES; i++)
		root[i] = 0;
	MM_BUG_ON(pgtable_destroy(pt) != 0);
}

void vmem_user_load(const struct pgtable *pt)
{
	write_cr3(pt ? pt->root : kpt.root);
}

void vmem_user_flush(const struct pgtable *pt, const struct pgtable_flush *fl)
{
	if (read_cr3() == pt->root)
		flush_local(fl);
}
