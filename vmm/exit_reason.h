/*
 * exit_reason.h — names for KVM_EXIT_* codes (linux/kvm.h), so every exit the VMM does not
 * handle is reported by name rather than by number.
 */
#ifndef MV_EXIT_REASON_H
#define MV_EXIT_REASON_H

#include <stdint.h>

/* "KVM_EXIT_MMIO" etc.; for a code this table does not know, "unknown exit reason" . */
const char *kvm_exit_reason_name(uint32_t reason);

#endif /* MV_EXIT_REASON_H */
