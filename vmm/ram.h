/*
 * ram.h — host memory behind guest RAM, for now: one anonymous mapping per node range, bound to
 * the node's host NUMA node (mbind MPOL_BIND) when it names one, registered with KVM as one
 * memory slot per range. Pages are populated by the host kernel on first touch. (Issue 4 replaces
 * first-touch with memvisor's own per-node frame pools, userfaultfd and the stage-2 table.)
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

/* Does host NUMA node `node` exist (online)? */
int ram_host_node_online(int node);

#endif /* MV_RAM_H */
