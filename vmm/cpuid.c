/*
 * cpuid.c — topology leaves of CPUID (cpuid.h). Leaves are patched only if KVM reported them;
 * nothing is invented. Field positions follow the Intel SDM (leaves 1, 4, 0xb, 0x1f) and the
 * AMD APM (0x80000008, 0x8000001e); each is named below rather than written as a bare constant.
 */
#include "cpuid.h"

#include <stdint.h>

#define CPUID_1_EBX_APIC_ID_SHIFT      24
#define CPUID_1_EBX_NR_LOGICAL_SHIFT   16
#define CPUID_1_EBX_NR_LOGICAL_MASK    (UINT32_C(0xff) << CPUID_1_EBX_NR_LOGICAL_SHIFT)
#define CPUID_1_EBX_APIC_ID_MASK       (UINT32_C(0xff) << CPUID_1_EBX_APIC_ID_SHIFT)
#define CPUID_1_EDX_HTT                (UINT32_C(1) << 28)
#define CPUID_1_ECX_HYPERVISOR         (UINT32_C(1) << 31)

#define CPUID_4_EAX_CORES_SHIFT        26          /* cores per package - 1 */
#define CPUID_4_EAX_CORES_MASK         (UINT32_C(0x3f) << CPUID_4_EAX_CORES_SHIFT)
#define CPUID_4_EAX_SHARING_SHIFT      14          /* logical CPUs sharing this cache - 1 */
#define CPUID_4_EAX_SHARING_MASK       (UINT32_C(0xfff) << CPUID_4_EAX_SHARING_SHIFT)

#define CPUID_B_ECX_LEVEL_TYPE_SHIFT   8
#define CPUID_B_LEVEL_SMT              1
#define CPUID_B_LEVEL_CORE             2

#define CPUID_80000008_ECX_NC_MASK     UINT32_C(0xff)   /* cores - 1 */
#define CPUID_80000008_ECX_APICID_SIZE_SHIFT 12
#define CPUID_80000008_ECX_APICID_SIZE_MASK  (UINT32_C(0xf) << CPUID_80000008_ECX_APICID_SIZE_SHIFT)

#define CPUID_8000001E_EBX_CORE_ID_MASK      UINT32_C(0xff)
#define CPUID_8000001E_EBX_THREADS_SHIFT     8          /* threads per core - 1 */
#define CPUID_8000001E_EBX_THREADS_MASK      (UINT32_C(0xff) << CPUID_8000001E_EBX_THREADS_SHIFT)

unsigned cpuid_core_bits(unsigned nr_cpus)
{
	unsigned bits = 0;

	while ((1u << bits) < nr_cpus)
		bits++;
	return bits;
}

/* Leaf 0xb / 0x1f subleaf `index`: level 0 = SMT (1 thread), level 1 = core, above: invalid. */
static void set_x2apic_level(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned nr_cpus)
{
	e->edx = apic_id;
	switch (e->index) {
	case 0:
		e->eax = 0;                               /* no SMT bits in the APIC id */
		e->ebx = 1;
		e->ecx = (CPUID_B_LEVEL_SMT << CPUID_B_ECX_LEVEL_TYPE_SHIFT) | e->index;
		break;
	case 1:
		e->eax = cpuid_core_bits(nr_cpus);
		e->ebx = nr_cpus;
		e->ecx = (CPUID_B_LEVEL_CORE << CPUID_B_ECX_LEVEL_TYPE_SHIFT) | e->index;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;                        /* level type 0: no more levels */
		break;
	}
}

void cpuid_set_topology(struct kvm_cpuid2 *c, unsigned apic_id, unsigned nr_cpus)
{
	unsigned bits = cpuid_core_bits(nr_cpus);

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx &= ~(CPUID_1_EBX_APIC_ID_MASK | CPUID_1_EBX_NR_LOGICAL_MASK);
			e->ebx |= (uint32_t)apic_id << CPUID_1_EBX_APIC_ID_SHIFT;
			e->ebx |= (uint32_t)(1u << bits) << CPUID_1_EBX_NR_LOGICAL_SHIFT;
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (nr_cpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			if ((e->eax & 0x1f) == 0)             /* cache type 0: no more caches */
				break;
			e->eax &= ~(CPUID_4_EAX_CORES_MASK | CPUID_4_EAX_SHARING_MASK);
			e->eax |= (uint32_t)((1u << bits) - 1) << CPUID_4_EAX_CORES_SHIFT;
			break;
		case 0xb:
		case 0x1f:
			set_x2apic_level(e, apic_id, nr_cpus);
			break;
		case 0x80000008:
			e->ecx &= ~(CPUID_80000008_ECX_NC_MASK | CPUID_80000008_ECX_APICID_SIZE_MASK);
			e->ecx |= nr_cpus - 1;
			e->ecx |= (uint32_t)bits << CPUID_80000008_ECX_APICID_SIZE_SHIFT;
			break;
		case 0x8000001e:
			e->eax = apic_id;                     /* extended APIC id */
			e->ebx &= ~(CPUID_8000001E_EBX_CORE_ID_MASK | CPUID_8000001E_EBX_THREADS_MASK);
			e->ebx |= apic_id & CPUID_8000001E_EBX_CORE_ID_MASK;
			break;
		default:
			break;
		}
	}
}
