/*
 * fuzz_multiboot — libFuzzer target for the multiboot v1 loader (vmm/boot_multiboot.h). Each
 * input is split into a command line, at most one module and the image:
 *
 *   offset 0   le16  L: command line length     (clamped to what is left)
 *   offset 2   le32  M: module length           (clamped to what is left)
 *   offset 6   u8    bit 0: a module is given
 *   offset 7   L bytes of command line (cut at the first NUL), M bytes of module, the image
 *
 * Guest memory is loader_fixture.h's three regions, each its own static buffer, described the
 * same way to the loader's guest_mem and to the machine_config its memory map is built from:
 *
 *   0        4 MiB    5 MiB     6 MiB    7 MiB
 *   | node 0 | node 1 |  hole   | node 1 |
 *
 * Each buffer is exactly its region (ASan puts redzones between globals), so ASan reports any
 * access outside guest RAM. The first MiB is primed before each run. After a success the result
 * is checked against the contract: the entry state; the image has a valid header and is an
 * ELF32 i386 executable; every PT_LOAD's file bytes at its p_paddr and zeroes up to p_memsz; the
 * information structure, its memory map (pvh_build_memmap's), module list and strings; the
 * module page-aligned above the kernel with its bytes; nothing written below MV_GPA_MULTIBOOT_INFO
 * or between the strings page and 1 MiB. After a failure an error message must have been
 * recorded and the first MiB (where the information pages are) must be untouched. Any mismatch
 * aborts.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>
#include <memvisor/multiboot.h>
#include <memvisor/pvh.h>

#include "boot_multiboot.h"
#include "boot_pvh.h"
#include "error.h"
#include "../unit/loader_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAME 7                             /* bytes before the command line */

#define FZ_ASSERT(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_multiboot: %s:%d: %s (last error: %s)\n", __FILE__, \
				__LINE__, #cond, mv_error()); \
			abort(); \
		} \
	} while (0)

static struct lf_guest fz_g;

/* Host byte of guest address gpa, which must be RAM. */
static uint8_t *fz_byte(gpa_t gpa)
{
	uint8_t *p = lf_host(&fz_g, gpa);

	FZ_ASSERT(p);
	return p;
}

static uint32_t fz_rd32(gpa_t gpa)
{
	uint32_t v;

	memcpy(&v, fz_byte(gpa), sizeof(v));
	return v;
}

static uint32_t fz_img32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Guest [gpa, gpa + len), inside the first MiB, still holds LF_PRIME everywhere. */
static bool fz_primed(gpa_t gpa, uint64_t len)
{
	return lf_first_unprimed(fz_byte(gpa), len) == len;
}

/* The image has a header the loader may accept: magic, checksum, flags. */
static void fz_check_header(const uint8_t *img, size_t size)
{
	for (size_t off = 0; off + 12 <= size && off + 12 <= MULTIBOOT_SEARCH; off += 4) {
		uint32_t flags = fz_img32(img + off + 4);

		if (fz_img32(img + off) != MULTIBOOT_HEADER_MAGIC ||
		    MULTIBOOT_HEADER_MAGIC + flags + fz_img32(img + off + 8) != 0)
			continue;
		FZ_ASSERT(!(flags & MULTIBOOT_AOUT_KLUDGE));
		FZ_ASSERT(!(flags & MULTIBOOT_REQUIRED_MASK &
			    ~(MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO)));
		return;
	}
	FZ_ASSERT(!"no valid multiboot header in an accepted image");
}

/* Checks the loaded segments and entry; returns one past the highest loaded byte. */
static uint64_t fz_check_segments(const uint8_t *img, const struct boot_entry *e)
{
	Elf32_Ehdr h;
	uint64_t end = 0;
	bool entry_loaded = false;

	memcpy(&h, img, sizeof(h));
	FZ_ASSERT(h.e_ident[EI_CLASS] == ELFCLASS32 && h.e_machine == EM_386);
	FZ_ASSERT(h.e_type == ET_EXEC);
	for (unsigned i = 0; i < h.e_phnum; i++) {
		Elf32_Phdr p;

		memcpy(&p, img + h.e_phoff + (uint64_t)i * sizeof(p), sizeof(p));
		if (p.p_type != PT_LOAD)
			continue;
		if (e->rip >= p.p_paddr && e->rip - p.p_paddr < p.p_filesz)
			entry_loaded = true;
		if (p.p_memsz == 0)
			continue;
		FZ_ASSERT(p.p_paddr >= MV_GPA_KERNEL_MIN);
		for (uint64_t b = 0; b < p.p_filesz; b++)
			FZ_ASSERT(*fz_byte(p.p_paddr + b) == img[p.p_offset + b]);
		for (uint64_t b = p.p_filesz; b < p.p_memsz; b++)
			FZ_ASSERT(*fz_byte(p.p_paddr + b) == 0);
		if ((uint64_t)p.p_paddr + p.p_memsz > end)
			end = (uint64_t)p.p_paddr + p.p_memsz;
	}
	FZ_ASSERT(entry_loaded);
	return end;
}

static void fz_check_info(const struct machine_config *m, const char *cmdline,
			  const struct multiboot_module *mod, unsigned nr, uint64_t kernel_end)
{
	struct hvm_memmap_table_entry map[PVH_MEMMAP_MAX];
	gpa_t info = MV_GPA_MULTIBOOT_INFO, mmap, list;
	int n = pvh_build_memmap(m, map, PVH_MEMMAP_MAX);

	FZ_ASSERT(n == 6);
	FZ_ASSERT(fz_rd32(info + offsetof(struct multiboot_info, flags)) ==
		  (MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
		   MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_LOADER_NAME));
	FZ_ASSERT(fz_rd32(info + offsetof(struct multiboot_info, mem_lower)) == 639);
	FZ_ASSERT(fz_rd32(info + offsetof(struct multiboot_info, mem_upper)) == 4 * 1024);
	FZ_ASSERT(fz_rd32(info + offsetof(struct multiboot_info, cmdline)) == MV_GPA_CMDLINE);
	FZ_ASSERT(strcmp((const char *)fz_byte(MV_GPA_CMDLINE), cmdline) == 0);
	FZ_ASSERT(strcmp((const char *)fz_byte(fz_rd32(info + offsetof(struct multiboot_info,
								       boot_loader_name))),
			 "memvisor") == 0);
	mmap = fz_rd32(info + offsetof(struct multiboot_info, mmap_addr));
	FZ_ASSERT(mmap == info + sizeof(struct multiboot_info));
	FZ_ASSERT(fz_rd32(info + offsetof(struct multiboot_info, mmap_length)) == 6 * 24);
	for (int i = 0; i < n; i++, mmap += 24) {
		FZ_ASSERT(fz_rd32(mmap) == 20);
		FZ_ASSERT((fz_rd32(mmap + 4) | (uint64_t)fz_rd32(mmap + 8) << 32) == map[i].addr);
		FZ_ASSERT((fz_rd32(mmap + 12) | (uint64_t)fz_rd32(mmap + 16) << 32) == map[i].size);
		FZ_ASSERT(fz_rd32(mmap + 20) == map[i].type);
	}
	list = fz_rd32(info + offsetof(struct multiboot_info, mods_addr));
	FZ_ASSERT(list == mmap);
	FZ_ASSERT(fz_rd32(info + offsetof(struct multiboot_info, mods_count)) == nr);
	if (nr) {
		uint32_t start = fz_rd32(list), end = fz_rd32(list + 4);

		FZ_ASSERT(start % MM_PAGE_SIZE == 0 && start >= kernel_end &&
			  start - kernel_end < MM_PAGE_SIZE);
		FZ_ASSERT(end - start == mod->size);
		for (uint64_t b = 0; b < mod->size; b++)
			FZ_ASSERT(*fz_byte(start + b) == mod->data[b]);
		FZ_ASSERT(strcmp((const char *)fz_byte(fz_rd32(list + 8)), mod->string) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct multiboot_module mod = { .string = "fuzz.mod arg=1" };
	struct boot_entry e = { 0 };
	size_t cl_len, mod_len, img_size;
	uint8_t *img, *mod_buf;
	unsigned nr;
	char *cmdline;
	int ret;

	if (size < FRAME)
		return 0;
	cl_len = (size_t)data[0] | (size_t)data[1] << 8;
	mod_len = (size_t)fz_img32(data + 2);
	nr = data[6] & 1;
	data += FRAME;
	size -= FRAME;
	if (cl_len > size)
		cl_len = size;
	if (mod_len > size - cl_len)
		mod_len = size - cl_len;
	img_size = size - cl_len - mod_len;

	/* Exact-size copies, so ASan also sees any read past the end of each. */
	cmdline = malloc(cl_len + 1);
	mod_buf = malloc(mod_len ? mod_len : 1);
	img = malloc(img_size ? img_size : 1);
	FZ_ASSERT(cmdline && mod_buf && img);
	memcpy(cmdline, data, cl_len);
	cmdline[cl_len] = '\0';
	memcpy(mod_buf, data + cl_len, mod_len);
	memcpy(img, data + cl_len + mod_len, img_size);
	mod.data = mod_buf;
	mod.size = mod_len;

	lf_init_three(&fz_g);
	memset(fz_byte(0), LF_PRIME, MV_GPA_KERNEL_MIN);
	mv_error_clear();
	ret = multiboot_load(&fz_g.m, &fz_g.gm, img, img_size, cmdline, &mod, nr, &e);
	if (ret == 0) {
		uint64_t kernel_end;

		FZ_ASSERT(e.protocol == BOOT_MULTIBOOT);
		FZ_ASSERT(e.rax == MULTIBOOT_BOOTLOADER_MAGIC && e.rbx == MV_GPA_MULTIBOOT_INFO);
		fz_check_header(img, img_size);
		kernel_end = fz_check_segments(img, &e);
		fz_check_info(&fz_g.m, cmdline, &mod, nr, kernel_end);
		FZ_ASSERT(fz_primed(0, MV_GPA_MULTIBOOT_INFO));
		FZ_ASSERT(fz_primed(MV_GPA_CMDLINE + MV_CMDLINE_MAX,
				    MV_GPA_KERNEL_MIN - MV_GPA_CMDLINE - MV_CMDLINE_MAX));
	} else {
		FZ_ASSERT(mv_error()[0] != '\0');
		FZ_ASSERT(fz_primed(0, MV_GPA_KERNEL_MIN));
	}
	free(img);
	free(mod_buf);
	free(cmdline);
	return 0;
}
