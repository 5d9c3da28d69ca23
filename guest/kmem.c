/*
 * guest/kmem.c — slab caches and kmalloc for the guest kernel: mm/slab on the guest's buddy
 * allocator (pmem.c) through mm/slab_buddy, whose linear map is vmem.c's direct map. The owner
 * words (one per frame up to the highest RAM frame) come from the bump region.
 *
 * Every CPU's home node is its SRAT node (pmem_cpu_node). Locking is mm/slab's.
 */
#include <mm/slab_buddy.h>

#include "mem.h"

struct slab_allocator kmem;
static struct slab_buddy kmem_sb;

bool kmem_init(void)
{
	struct slab_page_provider p;
	uint64_t n = slab_buddy_owner_pages(&pmem_buddy);
	void **owners = pmem_boot_alloc(n * sizeof(void *), sizeof(void *));
	int ret;

	if (!tap_check(owners != NULL, "kmem: %lu slab owner words in the bump region", n))
		return false;
	ret = slab_buddy_provider(&p, &kmem_sb, &pmem_buddy, DIRECT_MAP_BASE, owners, n);
	if (ret == 0)
		ret = slab_allocator_init(&kmem, &p, 0);
	for (unsigned cpu = 0; ret == 0 && cpu < MM_MAX_CPUS; cpu++)
		ret = slab_set_cpu_node(&kmem, cpu, pmem_cpu_node(cpu));
	return tap_check(ret == 0, "kmem: slab allocator over the buddy and the direct map: %d", ret);
}
