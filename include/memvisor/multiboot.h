/*
 * memvisor/multiboot.h — the multiboot v1 ABI (Multiboot Specification 0.6.96) as memvisor's
 * loader (vmm/loader_multiboot.c) writes it and test kernels (tests/multiboot/) read it.
 * Freestanding: <stdint.h> only. Every field is a uint32_t, so natural alignment gives the
 * specification's offsets; each structure has a _Static_assert on its size.
 */
#ifndef MEMVISOR_MULTIBOOT_H
#define MEMVISOR_MULTIBOOT_H

#include <stdint.h>

/* The header, 4-byte aligned, wholly inside the first MULTIBOOT_SEARCH bytes of the image. */
#define MULTIBOOT_SEARCH            8192
#define MULTIBOOT_HEADER_ALIGN      4
#define MULTIBOOT_HEADER_MAGIC      UINT32_C(0x1BADB002)
#define MULTIBOOT_BOOTLOADER_MAGIC  UINT32_C(0x2BADB002)   /* EAX at entry */

/* Header flags: bits 0-15 are requirements the loader must meet or refuse the image. */
#define MULTIBOOT_PAGE_ALIGN        (UINT32_C(1) << 0)     /* modules page-aligned */
#define MULTIBOOT_MEMORY_INFO       (UINT32_C(1) << 1)     /* mem_* and mmap_* wanted */
#define MULTIBOOT_VIDEO_MODE        (UINT32_C(1) << 2)     /* video mode fields wanted */
#define MULTIBOOT_AOUT_KLUDGE       (UINT32_C(1) << 16)    /* address fields valid */
#define MULTIBOOT_REQUIRED_MASK     UINT32_C(0x0000ffff)

struct multiboot_header {
	uint32_t magic;          /* MULTIBOOT_HEADER_MAGIC */
	uint32_t flags;
	uint32_t checksum;       /* magic + flags + checksum == 0 (mod 2^32) */
	/* address fields (MULTIBOOT_AOUT_KLUDGE) and video fields follow; memvisor reads neither */
};
_Static_assert(sizeof(struct multiboot_header) == 12, "multiboot header is 12 bytes");

/* multiboot_info.flags: which fields are valid. */
#define MULTIBOOT_INFO_MEMORY       (UINT32_C(1) << 0)     /* mem_lower, mem_upper */
#define MULTIBOOT_INFO_BOOTDEV      (UINT32_C(1) << 1)
#define MULTIBOOT_INFO_CMDLINE      (UINT32_C(1) << 2)
#define MULTIBOOT_INFO_MODS         (UINT32_C(1) << 3)
#define MULTIBOOT_INFO_MEM_MAP      (UINT32_C(1) << 6)
#define MULTIBOOT_INFO_LOADER_NAME  (UINT32_C(1) << 9)

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;      /* KiB of RAM from 0 (at most 640) */
	uint32_t mem_upper;      /* KiB of RAM from 1 MiB up to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;        /* gpa of a NUL-terminated string */
	uint32_t mods_count;
	uint32_t mods_addr;      /* gpa of struct multiboot_mod_list[mods_count] */
	uint32_t syms[4];
	uint32_t mmap_length;    /* bytes of the memory map */
	uint32_t mmap_addr;      /* gpa of the first struct multiboot_mmap_entry */
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe[4];         /* vbe_control_info .. vbe_interface_len: not provided */
	uint32_t framebuffer[7]; /* not provided */
};
_Static_assert(sizeof(struct multiboot_info) == 116, "multiboot_info up to the framebuffer fields");

struct multiboot_mod_list {
	uint32_t mod_start;
	uint32_t mod_end;        /* one past the last byte */
	uint32_t cmdline;        /* gpa of the module's string */
	uint32_t pad;
};
_Static_assert(sizeof(struct multiboot_mod_list) == 16, "multiboot module entry is 16 bytes");

/* One memory-map entry; `size` counts the bytes after itself (20), so the next is at +size+4. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint32_t addr_lo, addr_hi;
	uint32_t len_lo, len_hi;
	uint32_t type;           /* 1 RAM, 2 reserved, 3 ACPI reclaimable (E820 types) */
};
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot mmap entry is 24 bytes");

#endif /* MEMVISOR_MULTIBOOT_H */
