/*
 * mm/pte_x86.h — x86-64 4-level paging entry bits (Intel SDM Vol. 3A §4.5, Tables 4-15..4-20;
 * AMD APM Vol. 2 §5.3). Used by mm/pgtable_x86.c; the generic walker never looks at them.
 *
 * Leaf entries: PTE (level 0, 4 KiB), PDE with PS (level 1, 2 MiB), PDPTE with PS (level 2,
 * 1 GiB; needs CPUID pdpe1gb). The PAT bit is bit 7 in a PTE but bit 12 in a large leaf, where
 * bit 7 is PS. NX needs EFER.NXE. Memory types select a PAT entry through PAT:PCD:PWT; the
 * mapping below assumes the guest programs IA32_PAT with X86_PAT_MSR_VALUE (Linux's layout).
 */
#ifndef MM_PTE_X86_H
#define MM_PTE_X86_H

#include "types.h"

#define X86_PTE_P_SHIFT        0    /* present */
#define X86_PTE_RW_SHIFT       1    /* writable */
#define X86_PTE_US_SHIFT       2    /* user-accessible */
#define X86_PTE_PWT_SHIFT      3    /* page write-through (PAT index bit 0) */
#define X86_PTE_PCD_SHIFT      4    /* page cache disable (PAT index bit 1) */
#define X86_PTE_A_SHIFT        5    /* accessed */
#define X86_PTE_D_SHIFT        6    /* dirty (leaves only) */
#define X86_PTE_PS_SHIFT       7    /* page size: PDE/PDPTE maps a 2 MiB/1 GiB page */
#define X86_PTE_PAT_SHIFT      7    /* PAT index bit 2, 4 KiB PTE */
#define X86_PTE_G_SHIFT        8    /* global (leaves only) */
#define X86_PTE_PAT_LARGE_SHIFT 12  /* PAT index bit 2, 2 MiB/1 GiB leaf */
#define X86_PTE_NX_SHIFT       63   /* execute disable */

#define X86_PTE_P         (UINT64_C(1) << X86_PTE_P_SHIFT)
#define X86_PTE_RW        (UINT64_C(1) << X86_PTE_RW_SHIFT)
#define X86_PTE_US        (UINT64_C(1) << X86_PTE_US_SHIFT)
#define X86_PTE_PWT       (UINT64_C(1) << X86_PTE_PWT_SHIFT)
#define X86_PTE_PCD       (UINT64_C(1) << X86_PTE_PCD_SHIFT)
#define X86_PTE_A         (UINT64_C(1) << X86_PTE_A_SHIFT)
#define X86_PTE_D         (UINT64_C(1) << X86_PTE_D_SHIFT)
#define X86_PTE_PS        (UINT64_C(1) << X86_PTE_PS_SHIFT)
#define X86_PTE_PAT       (UINT64_C(1) << X86_PTE_PAT_SHIFT)
#define X86_PTE_G         (UINT64_C(1) << X86_PTE_G_SHIFT)
#define X86_PTE_PAT_LARGE (UINT64_C(1) << X86_PTE_PAT_LARGE_SHIFT)
#define X86_PTE_NX        (UINT64_C(1) << X86_PTE_NX_SHIFT)

#define X86_MAXPHYADDR     52
/* Address field, bits 51:12 (a large leaf uses only 51:21 or 51:30 of it). */
#define X86_PTE_ADDR_SHIFT 12
#define X86_PTE_ADDR_MASK  (((UINT64_C(1) << X86_MAXPHYADDR) - 1) & ~UINT64_C(0xfff))

#define X86_VA_BITS 48      /* 4-level paging: bits 63:47 of a canonical address are equal */

/*
 * PAT index (PAT:PCD:PWT) of each memory type, for IA32_PAT = X86_PAT_MSR_VALUE:
 *   PA0 WB  PA1 WC  PA2 UC-  PA3 UC  PA4 WB  PA5 WP  PA6 UC-  PA7 WT
 */
#define X86_PAT_MSR_VALUE  UINT64_C(0x0407050600070106)
#define X86_PAT_IDX_WB 0u
#define X86_PAT_IDX_WC 1u
#define X86_PAT_IDX_UC 3u
#define X86_PAT_IDX_WP 5u
#define X86_PAT_IDX_WT 7u

/*
 * Non-present entry (P = 0: the CPU ignores bits 63:1). Software state:
 *   bits 2:1   state code (PT_SW_CODE_*)
 *   bits 51:12 swap slot, stored inverted (~slot): like Linux's swap entries this keeps the
 *              address field pointing above installed memory, so an L1TF-speculated load from a
 *              non-present PTE cannot hit cached data.
 */
#define X86_PTE_SW_STATE_SHIFT 1
#define X86_PTE_SW_STATE_MASK  (UINT64_C(3) << X86_PTE_SW_STATE_SHIFT)
#define X86_PTE_SW_SLOT_SHIFT  12
#define X86_PTE_SW_SLOT_MASK   (((UINT64_C(1) << 40) - 1) << X86_PTE_SW_SLOT_SHIFT)

#endif /* MM_PTE_X86_H */
