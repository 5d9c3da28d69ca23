/*
 * ram.h — the guest RAM address range: one anonymous mapping per node range, registered with KVM
 * as one memory slot per range. Nothing populates it: gmem (gmem.h) registers it with
 * userfaultfd and maps its frame pools' pages over it, so the NUMA binding lives on the pools
 * (ram_bind), and the residency report reads where those pages are.
 *
 * Built once before any vCPU runs; read-only afterwards, so no lock.
 */
#ifndef MV_RAM_H
#define MV_RAM_H

#include <stdio.h>

#include "guest_mem.h"
#include "machine.h"

/* Map every node range into gm (gm->nr = 0 on entry). 0 or -errno with mv_error() set. */
int ram_create(const struct machine_config *m, struct guest_mem *gm);

/* Register gm's regions as KVM memory slots 0..nr-1 of vm_fd. */
int ram_register(const struct guest_mem *gm, int vm_fd) __attribute__((warn_unused_result));

/* Per guest node: size, host binding, and how much is resident on which host node. */
void ram_report(const struct machine_config *m, const struct guest_mem *gm, FILE *out);

void ram_destroy(struct guest_mem *gm);

/* mbind(MPOL_BIND) [p, p + size) to host NUMA node host_node. 0 or -errno. */
int ram_bind(void *p, uint64_t size, int host_node);

/* Does host NUMA node `node` exist (online)? */
int ram_host_node_online(int node);

#endif /* MV_RAM_H */
