/*
 * ram.c — anonymous host mappings for guest RAM, their NUMA binding, KVM memory slots, and the
 * per-node residency report (ram.h). Residency is asked of the kernel with move_pages(2) in query
 * mode (nodes == NULL), which reports each page's host node, or -ENOENT if it was never touched.
 * No lock (built before vCPUs start; the report reads only kernel state).
 */
#include "ram.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/mempolicy.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"

#define RAM_MAX_HOST_NODES 1024
#define RAM_REPORT_BATCH   4096           /* pages asked of move_pages per call */

int ram_host_node_online(int node)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", node);
	return access(path, F_OK) == 0;
}

int ram_bind(void *p, uint64_t size, int host_node)
{
	unsigned long mask[RAM_MAX_HOST_NODES / (8 * sizeof(unsigned long))] = { 0 };
	const unsigned bits = 8 * sizeof(unsigned long);

	mask[host_node / bits] |= 1UL << (host_node % bits);
	if (syscall(SYS_mbind, p, size, MPOL_BIND, mask, (unsigned long)RAM_MAX_HOST_NODES, 0))
		return -errno;
	return 0;
}

int ram_create(const struct machine_config *m, struct guest_mem *gm)
{
	int err = 0;

	gm->nr = 0;
	for (unsigned n = 0; n < m->nr_nodes; n++) {
		const struct machine_node *node = &m->nodes[n];

		if (node->host_node >= 0 && !ram_host_node_online(node->host_node)) {
			err = mv_fail(EINVAL, "--numa node=%u: host-node=%d: this host has no NUMA "
				      "node %d (see /sys/devices/system/node/online)", n,
				      node->host_node, node->host_node);
			goto out;
		}
		for (unsigned r = 0; r < node->nr_ranges; r++) {
			const struct machine_range *range = &node->ranges[r];
			void *p = mmap(NULL, range->size, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

			if (p == MAP_FAILED) {
				err = mv_fail(errno, "node %u: cannot map %llu MiB of host memory: %s",
					      n, (unsigned long long)(range->size >> 20),
					      strerror(errno));
				goto out;
			}
			gm->r[gm->nr++] = (struct guest_mem_region){
				.gpa = range->gpa, .size = range->size, .hva = p, .node = n };
		}
	}
out:
	if (err)
		ram_destroy(gm);
	return err;
}

int ram_register(const struct guest_mem *gm, int vm_fd)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = gm->r[i].gpa,
			.memory_size = gm->r[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)gm->r[i].hva,
		};

		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return mv_fail(errno, "KVM_SET_USER_MEMORY_REGION slot %u (gpa 0x%llx, %llu "
				       "MiB): %s", i, (unsigned long long)slot.guest_phys_addr,
				       (unsigned long long)(slot.memory_size >> 20), strerror(errno));
	}
	return 0;
}

/* Add region r's resident pages to per_host[host node]; returns resident pages. */
static uint64_t ram_count_resident(const struct guest_mem_region *r, uint64_t *per_host)
{
	void *pages[RAM_REPORT_BATCH];
	int status[RAM_REPORT_BATCH];
	uint64_t npages = r->size / MM_PAGE_SIZE, resident = 0;

	for (uint64_t first = 0; first < npages; first += RAM_REPORT_BATCH) {
		unsigned long count = npages - first < RAM_REPORT_BATCH ? npages - first
									 : RAM_REPORT_BATCH;

		for (unsigned long i = 0; i < count; i++)
			pages[i] = r->hva + (first + i) * MM_PAGE_SIZE;
		if (syscall(SYS_move_pages, 0, count, pages, NULL, status, 0) < 0)
			return resident;              /* no NUMA support: report what we have */
		for (unsigned long i = 0; i < count; i++) {
			if (status[i] >= 0 && status[i] < RAM_MAX_HOST_NODES) {
				per_host[status[i]]++;
				resident++;
			}
		}
	}
	return resident;
}

void ram_report(const struct machine_config *m, const struct guest_mem *gm, FILE *out)
{
	static uint64_t per_host[RAM_MAX_HOST_NODES];

	fprintf(out, "host memory per guest node (resident = touched pages, by host NUMA node):\n");
	for (unsigned n = 0; n < m->nr_nodes; n++) {
		const struct machine_node *node = &m->nodes[n];
		uint64_t resident = 0;

		memset(per_host, 0, sizeof(per_host));
		for (unsigned i = 0; i < gm->nr; i++)
			if (gm->r[i].node == n)
				resident += ram_count_resident(&gm->r[i], per_host);
		fprintf(out, "  guest node %u: %llu KiB, ", n, (unsigned long long)(node->size >> 10));
		if (node->host_node >= 0)
			fprintf(out, "bound to host node %d", node->host_node);
		else
			fprintf(out, "not bound");
		fprintf(out, ", resident %llu KiB", (unsigned long long)(resident * MM_PAGE_SIZE >> 10));
		for (int h = 0; h < RAM_MAX_HOST_NODES; h++)
			if (per_host[h])
				fprintf(out, " [host node %d: %llu KiB]", h,
					(unsigned long long)(per_host[h] * MM_PAGE_SIZE >> 10));
		fputc('\n', out);
	}
}

void ram_destroy(struct guest_mem *gm)
{
	for (unsigned i = 0; i < gm->nr; i++)
		munmap(gm->r[i].hva, gm->r[i].size);
	gm->nr = 0;
}
