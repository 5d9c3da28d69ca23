/*
 * cpuid.h — the CPUID a vCPU sees: KVM_GET_SUPPORTED_CPUID, with the topology leaves made
 * consistent with memvisor's machine (machine.h: vCPU i has APIC id i; one thread per core,
 * every vCPU a core of one package). NUMA placement is not in CPUID: guests get it from SRAT.
 */
#ifndef MV_CPUID_H
#define MV_CPUID_H

#include <linux/kvm.h>

/* Rewrite the topology fields of `c` (in place) for the vCPU with `apic_id` of `nr_cpus`. */
void cpuid_set_topology(struct kvm_cpuid2 *c, unsigned apic_id, unsigned nr_cpus);

/* Bits needed to number nr_cpus cores (0 for 1, 1 for 2, 2 for 3..4, ...). */
unsigned cpuid_core_bits(unsigned nr_cpus);

#endif /* MV_CPUID_H */
