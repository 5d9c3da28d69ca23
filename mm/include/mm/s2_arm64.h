/*
 * mm/s2_arm64.h — ARM64 VMSAv8-64 stage-2 descriptor bits, 4 KiB granule (Arm ARM D8.3,
 * "Translation table descriptor formats"; stage-2 attributes D8.5). Used by mm/s2_arm64.c.
 *
 * 48-bit IPA with four levels (VTCR_EL2.T0SZ = 16, SL0 = 2: start at lookup level 0). The
 * generic walker's level 0 is ARM lookup level 3 (pages); 1 and 2 are lookup levels 2 and 1
 * (2 MiB and 1 GiB blocks). Bit 1 distinguishes table (1) from block (0) at lookup levels 0-2,
 * and must be 1 (page) at lookup level 3.
 *
 * Attributes (FEAT_S2FWB off): MemAttr[3:0] in bits 5:2, S2AP[1:0] in bits 7:6 (bit 6 read,
 * bit 7 write), SH in 9:8, AF bit 10, DBM bit 51, XN[1:0] in bits 54:53 (without FEAT_XNX only
 * XN[1] = bit 54 matters). Dirty state is the DBM scheme: a writable mapping has DBM set and is
 * "writable-clean" while S2AP[1] = 0; the hardware (VTCR_EL2.HD) sets S2AP[1] on the first write.
 */
#ifndef MM_S2_ARM64_H
#define MM_S2_ARM64_H

#include "types.h"

#define S2_VALID_SHIFT   0
#define S2_TABLE_SHIFT   1      /* table (levels 1-3 here) / page (level 0 here) */
#define S2_MEMATTR_SHIFT 2      /* bits 5:2 */
#define S2AP_SHIFT       6      /* bits 7:6 */
#define S2AP_R_SHIFT     6
#define S2AP_W_SHIFT     7
#define S2_SH_SHIFT      8      /* bits 9:8 */
#define S2_AF_SHIFT      10
#define S2_DBM_SHIFT     51
#define S2_XN_SHIFT      53     /* bits 54:53 */

#define S2_VALID        (UINT64_C(1) << S2_VALID_SHIFT)
#define S2_TABLE        (UINT64_C(1) << S2_TABLE_SHIFT)
#define S2_PAGE         S2_TABLE
#define S2_MEMATTR_MASK (UINT64_C(0xf) << S2_MEMATTR_SHIFT)
#define S2AP_MASK       (UINT64_C(3) << S2AP_SHIFT)
#define S2AP_R          (UINT64_C(1) << S2AP_R_SHIFT)
#define S2AP_W          (UINT64_C(1) << S2AP_W_SHIFT)
#define S2_SH_MASK      (UINT64_C(3) << S2_SH_SHIFT)
#define S2_SH_ISH       (UINT64_C(3) << S2_SH_SHIFT)  /* inner shareable */
#define S2_AF           (UINT64_C(1) << S2_AF_SHIFT)
#define S2_DBM          (UINT64_C(1) << S2_DBM_SHIFT)
#define S2_XN_MASK      (UINT64_C(3) << S2_XN_SHIFT)
#define S2_XN           (UINT64_C(2) << S2_XN_SHIFT)  /* XN[1]: not executable at EL1 or EL0 */

/* MemAttr[3:0] values used (outer in [3:2], inner in [1:0]; 00xx is Device memory). */
#define S2_MEMATTR_DEVICE_nGnRE 0x1u
#define S2_MEMATTR_NORMAL_NC    0x5u
#define S2_MEMATTR_NORMAL_WT    0xau
#define S2_MEMATTR_NORMAL_WB    0xfu

#define S2_PA_BITS    48
#define S2_ADDR_MASK  (((UINT64_C(1) << S2_PA_BITS) - 1) & ~UINT64_C(0xfff))

/*
 * Non-present (invalid: bit 0 = 0, the hardware ignores bits 63:1) software state:
 *   bits 2:1   state code (PT_SW_CODE_*)
 *   bits 51:12 swap slot
 */
#define S2_SW_STATE_SHIFT 1
#define S2_SW_STATE_MASK  (UINT64_C(3) << S2_SW_STATE_SHIFT)
#define S2_SW_SLOT_SHIFT  12
#define S2_SW_SLOT_MASK   (((UINT64_C(1) << 40) - 1) << S2_SW_SLOT_SHIFT)

#endif /* MM_S2_ARM64_H */
