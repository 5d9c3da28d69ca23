/*
 * mm/ept.h — Intel EPT entry bits (Intel SDM Vol. 3C §29.3.2, Tables 29-1..29-6) and the EPTP
 * field layout. Used by mm/ept.c; the generic walker never looks at them.
 *
 * An entry is present when any of R/W/X (bits 2:0) is set. Leaves: level 0 (4 KiB), and levels
 * 1 and 2 with bit 7 set (2 MiB, 1 GiB). Memory type and ignore-PAT exist only in leaves; A/D
 * (bits 8/9) only count when EPTP bit 6 enables them (D in leaves only). W without R is an EPT
 * misconfiguration; execute-only (X without R) needs IA32_VMX_EPT_VPID_CAP bit 0.
 * Not used by mm/: bit 10 (user-execute, mode-based execute control), bit 63 (suppress #VE).
 */
#ifndef MM_EPT_H
#define MM_EPT_H

#include "types.h"

#define EPT_R_SHIFT     0
#define EPT_W_SHIFT     1
#define EPT_X_SHIFT     2
#define EPT_MT_SHIFT    3       /* bits 5:3 memory type (leaves) */
#define EPT_IPAT_SHIFT  6       /* ignore guest PAT (leaves) */
#define EPT_LARGE_SHIFT 7       /* 2 MiB / 1 GiB leaf */
#define EPT_A_SHIFT     8
#define EPT_D_SHIFT     9

#define EPT_R       (UINT64_C(1) << EPT_R_SHIFT)
#define EPT_W       (UINT64_C(1) << EPT_W_SHIFT)
#define EPT_X       (UINT64_C(1) << EPT_X_SHIFT)
#define EPT_RWX     (EPT_R | EPT_W | EPT_X)
#define EPT_MT_MASK (UINT64_C(7) << EPT_MT_SHIFT)
#define EPT_IPAT    (UINT64_C(1) << EPT_IPAT_SHIFT)
#define EPT_LARGE   (UINT64_C(1) << EPT_LARGE_SHIFT)
#define EPT_A       (UINT64_C(1) << EPT_A_SHIFT)
#define EPT_D       (UINT64_C(1) << EPT_D_SHIFT)

/* EPT memory-type encodings (2, 3 and 7 are reserved). */
#define EPT_MT_UC 0u
#define EPT_MT_WC 1u
#define EPT_MT_WT 4u
#define EPT_MT_WP 5u
#define EPT_MT_WB 6u

#define EPT_MAXPHYADDR 52
#define EPT_ADDR_MASK  (((UINT64_C(1) << EPT_MAXPHYADDR) - 1) & ~UINT64_C(0xfff))

/*
 * Non-present entry (bits 2:0 zero; bit 10 and bit 63 also left zero, see above):
 *   bits 4:3   state code (PT_SW_CODE_*)
 *   bits 51:12 swap slot
 */
#define EPT_SW_STATE_SHIFT 3
#define EPT_SW_STATE_MASK  (UINT64_C(3) << EPT_SW_STATE_SHIFT)
#define EPT_SW_SLOT_SHIFT  12
#define EPT_SW_SLOT_MASK   (((UINT64_C(1) << 40) - 1) << EPT_SW_SLOT_SHIFT)

/* EPTP (VMCS field): memory type of the walk, page-walk length - 1, A/D enable, root address. */
#define EPTP_MT_SHIFT  0
#define EPTP_PWL_SHIFT 3
#define EPTP_AD_SHIFT  6
#define EPTP_AD        (UINT64_C(1) << EPTP_AD_SHIFT)

/* The EPTP for a 4-level, write-back-walked table rooted at root (pgtable.root). */
static inline uint64_t ept_eptp(phys_addr_t root, bool ad)
{
	return (root & EPT_ADDR_MASK) | ((uint64_t)EPT_MT_WB << EPTP_MT_SHIFT) |
	       (UINT64_C(3) << EPTP_PWL_SHIFT) | (ad ? EPTP_AD : 0);
}

#endif /* MM_EPT_H */
