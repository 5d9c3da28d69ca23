/*
 * memvisor/layout.h — the guest-physical memory map and I/O ports of a memvisor machine (x86-64).
 * Shared by the VMM (which builds the machine) and the guest (which finds everything through
 * hvm_start_info and ACPI, and uses these constants only to cross-check or for fixed devices).
 * Freestanding: <stdint.h> only. Every address a component relies on is named here.
 *
 *   guest-physical                     what                                       E820 type
 *   0x0000_0000 ─ 0x0000_0fff  real-mode IVT/BDA page; never written by the VMM   RAM
 *   0x0000_6000 ─ 0x0000_6fff  MV_GPA_START_INFO: hvm_start_info, then its memory
 *                              map entries (at most MV_START_INFO_MAX_MEMMAP)     RAM (guest must
 *   0x0000_7000 ─ 0x0000_7fff  MV_GPA_CMDLINE: the command line, NUL-terminated      copy before reuse)
 *                              (Linux: the zero page at 0x6000, command line at 0x7000;
 *                              multiboot: the information structure at 0x6000, its strings
 *                              at 0x7000)
 *   0x0000_8000 ─ 0x0000_8fff  MV_GPA_AP_TRAMPOLINE: guest-owned; the memvisor guest  RAM
 *                              copies its AP start code here (SIPI vector 0x08) while
 *                              it starts its APs; the VMM never writes it (nor, for
 *                              PVH and multiboot images, anything up to 0xe000)
 *   0x0000_9000 ─ 0x0000_ffff  Linux only: the boot GDT (0x9000) and the identity     RAM
 *                              page tables (0xa000: PML4, PDPT, 4 PDs of 2 MiB pages)
 *   0x0009_fc00 ─ 0x000f_ffff  legacy hole (EBDA, VGA, option ROMs)               reserved
 *     0x000e_0000 ─ 0x000f_ffff  MV_GPA_ACPI: RSDP first, then XSDT, FADT, DSDT,  ACPI (3,
 *                                MADT, SRAT, SLIT (a guest finds them from RSDP)   reclaimable)
 *   0x0010_0000 ─              MV_GPA_KERNEL_MIN: lowest address an image may load RAM
 *   ...                        RAM, nodes laid out in id order from 0
 *   0xc000_0000                MV_GPA_LOW_RAM_END: RAM stops at 3 GiB
 *   0xc000_0000 ─ 0xfebf_ffff  MV_GPA_MMIO_BASE: device MMIO windows              (not in E820)
 *     0xd000_0000 ─              MV_GPA_VIRTIO_BASE: virtio-mmio devices, one 4 KiB window
 *                                each (MV_VIRTIO_MMIO_SIZE), described in the DSDT
 *       0xd000_0000 ─ 0xd000_0fff  MV_GPA_VIRTIO_BALLOON: virtio-balloon, GSI 16
 *   0xfec0_0000 ─ 0xfec0_0fff  IOAPIC                                              (not in E820)
 *   0xfee0_0000 ─ 0xfee0_0fff  local APIC                                          (not in E820)
 *   0xff00_0000 ─ 0xff00_ffff  MV_GPA_TESTDEV_IOMEM: 64 KiB of RAM-like MMIO (QEMU's   (not in E820)
 *                              pc-testdev iomem; every access is an exit)
 *   0xfffb_c000 ─ 0xfffb_cfff  MV_GPA_KVM_IDENTITY_MAP: KVM's identity page table   (not in E820)
 *                              (Intel real mode only; set so KVM never picks its own)
 *   0xfffb_d000 ─ 0xfffb_ffff  MV_GPA_KVM_TSS: KVM's 3-page real-mode TSS (Intel)   (not in E820)
 *   0x1_0000_0000 ─            MV_GPA_HIGH_RAM_BASE: RAM continues above 4 GiB     RAM
 *
 * NUMA nodes are placed back to back in id order starting at 0; a node whose RAM crosses 3 GiB
 * continues at 4 GiB, so one node may be two ranges (and two KVM memory slots). Node 0 must hold
 * the low area and the kernel, so it is at least MV_NODE0_MIN bytes.
 */
#ifndef MEMVISOR_LAYOUT_H
#define MEMVISOR_LAYOUT_H

#include <stdint.h>

#define MV_GPA_START_INFO      UINT64_C(0x6000)
#define MV_GPA_CMDLINE         UINT64_C(0x7000)
#define MV_CMDLINE_MAX         UINT64_C(0x1000)       /* bytes, including the NUL */
/* Guest-owned: guest/smp.c's AP trampoline (a SIPI starts an AP at vector << 12, below 1 MiB).
 * In use only while the guest starts its APs; RAM like any other afterwards. */
#define MV_GPA_AP_TRAMPOLINE   UINT64_C(0x8000)
#define MV_AP_TRAMPOLINE_SIZE  UINT64_C(0x1000)
#define MV_GPA_LEGACY_HOLE     UINT64_C(0x9fc00)      /* reserved from here to 1 MiB */
#define MV_GPA_ACPI            UINT64_C(0xe0000)
#define MV_ACPI_SIZE           UINT64_C(0x20000)      /* 128 KiB, up to 1 MiB */
#define MV_GPA_KERNEL_MIN      UINT64_C(0x100000)
#define MV_GPA_LOW_RAM_END     UINT64_C(0xc0000000)
#define MV_GPA_MMIO_BASE       UINT64_C(0xc0000000)
#define MV_GPA_MMIO_END        UINT64_C(0xfec00000)
/*
 * virtio-mmio devices (vmm/virtio_mmio.c): window i at MV_GPA_VIRTIO_BASE + i * MV_VIRTIO_MMIO_SIZE,
 * interrupt on IOAPIC pin MV_GSI_VIRTIO_BASE + i (edge-triggered, active high). A guest finds
 * them in the DSDT (_HID "LNRO0005"); these constants are for cross-checks.
 */
#define MV_GPA_VIRTIO_BASE     UINT64_C(0xd0000000)
#define MV_VIRTIO_MMIO_SIZE    UINT64_C(0x1000)
#define MV_GSI_VIRTIO_BASE     16                     /* first pin above the ISA IRQs */
#define MV_GPA_VIRTIO_BALLOON  (MV_GPA_VIRTIO_BASE + 0 * MV_VIRTIO_MMIO_SIZE)
#define MV_GSI_VIRTIO_BALLOON  (MV_GSI_VIRTIO_BASE + 0)
#define MV_GPA_KVM_IDENTITY_MAP UINT64_C(0xfffbc000)
#define MV_GPA_KVM_TSS         UINT64_C(0xfffbd000)
#define MV_GPA_IOAPIC          UINT64_C(0xfec00000)
#define MV_IOAPIC_PINS         24                     /* KVM's IOAPIC: GSIs 0..23 */
#define MV_GPA_LAPIC           UINT64_C(0xfee00000)
#define MV_GPA_HIGH_RAM_BASE   UINT64_C(0x100000000)
#define MV_GPA_TESTDEV_IOMEM   UINT64_C(0xff000000)
#define MV_TESTDEV_IOMEM_SIZE  UINT64_C(0x10000)

/* Linux boot protocol (vmm/boot_linux.h). */
#define MV_GPA_LINUX_ZERO_PAGE   MV_GPA_START_INFO    /* struct boot_params, 4 KiB */
#define MV_GPA_LINUX_GDT         UINT64_C(0x9000)
#define MV_GPA_LINUX_PAGE_TABLES UINT64_C(0xa000)     /* PML4, PDPT, 4 PDs: up to 0xffff */
/* Multiboot v1 (vmm/boot_multiboot.h): the information structure, its memory map and module
 * list in this page; its strings in the MV_GPA_CMDLINE page. */
#define MV_GPA_MULTIBOOT_INFO    MV_GPA_START_INFO

#define MV_NODE0_MIN           UINT64_C(0x200000)     /* 2 MiB: low area + a small kernel */

/* I/O ports. */
#define MV_PORT_COM1           0x3f8                  /* 16550 UART, 8 registers */
#define MV_PORT_EXIT           0xf4                   /* isa-debug-exit: write c → exit (c<<1)|1 */
#define MV_IRQ_COM1            4                      /* IOAPIC / ISA IRQ of COM1 */
/* Ports 0x5f0-0x5f7: the paravirtual host-memory interface, defined in memvisor/hostmem.h. */
/*
 * QEMU's test-device conventions (vmm/testdev.h), for test kernels built for QEMU:
 *   fw_cfg: write a 16-bit key to the selector, read its bytes from the data port;
 *   Bochs shutdown: writing the bytes of "Shutdown" in order powers the machine off;
 *   testdev latch: a 4-byte register reads back what was written;
 *   testdev flush page: a 4-byte write of a guest-physical address makes the host write-protect
 *   and restore that page (KVM's MMU notifier fires and drops its mappings).
 */
#define MV_PORT_FW_CFG_SEL       0x510
#define MV_PORT_FW_CFG_DATA      0x511
#define MV_PORT_BOCHS_SHUTDOWN   0x8900
#define MV_PORT_TESTDEV_LATCH    0xe0
#define MV_PORT_TESTDEV_FLUSH    0xe4
/*
 * ACPI hardware-reduced sleep control and sleep status registers (the FADT's sleep_control_reg
 * and sleep_status_reg, 8 bits each, both here as in Cloud Hypervisor): a 1-byte write of
 * SLP_EN with SLP_TYP 5 (the DSDT's \_S5) powers the machine off; reads return 0.
 */
#define MV_PORT_ACPI_SLEEP       0x600

/*
 * Codes the memvisor guest (guest/) writes to MV_PORT_EXIT. Under QEMU's isa-debug-exit the
 * process status is (code << 1) | 1: 1, 3, 5 and 255 respectively.
 */
#define MV_GUEST_EXIT_PASS       0x00   /* every TAP check passed */
#define MV_GUEST_EXIT_FAIL       0x01   /* at least one "not ok" */
#define MV_GUEST_EXIT_BAIL       0x02   /* unusable boot environment (start info, no long mode) */
#define MV_GUEST_EXIT_EXCEPTION  0x7f   /* CPU exception; register dump on the serial port */

#endif /* MEMVISOR_LAYOUT_H */
