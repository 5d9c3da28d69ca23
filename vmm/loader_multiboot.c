/*
 * loader_multiboot.c — the multiboot v1 loader (boot_multiboot.h), after QEMU's
 * hw/i386/multiboot.c. Owns nothing beyond the call; no locks, no global state. The image and
 * modules are untrusted: every check below passes before the first byte of guest memory is
 * written, and guest memory is reached only through guest_mem (via loader_common.h).
 *
 * Order of checks (the first failure is reported):
 *   1. Arguments; at most MULTIBOOT_MAX_MODULES modules.
 *   2. The multiboot header: the first 4-byte aligned magic in the first MULTIBOOT_SEARCH bytes
 *      whose checksum holds (QEMU skips magics whose checksum does not); the header wholly in
 *      those bytes; flag 16 (address fields) clear; no required bit (0-15) but PAGE_ALIGN and
 *      MEMORY_INFO (VIDEO_MODE included: there is no video).
 *   3. The image: an ELF32 little-endian ET_EXEC EM_386 executable (loader_common.h), its
 *      segments in guest RAM at or above MV_GPA_KERNEL_MIN and disjoint; the entry (e_entry,
 *      turned into a physical address as QEMU does when an executable segment's p_vaddr and
 *      p_paddr differ) inside a loaded segment's file bytes.
 *   4. The memory map (pvh_build_memmap) of the machine.
 *   5. The strings fit the MV_GPA_CMDLINE page; the modules fit guest RAM below
 *      MV_GPA_LOW_RAM_END; the two boot pages are guest RAM.
 *   6. Write: segments (BSS zeroed), modules, the information page, the strings page.
 *
 * Boot pages (the second is zeroed, then filled; so is the first):
 *
 *   MV_GPA_MULTIBOOT_INFO (0x6000)            MV_GPA_CMDLINE (0x7000)
 *   +-------------------------------+         +--------------------------------------+
 *   | struct multiboot_info (116)   |         | command line "image[ args]" NUL      |
 *   | mmap: n x 24-byte entries     |         | "memvisor" NUL (boot_loader_name)    |
 *   | mods: nr_mods x 16-byte       |         | module 0's string NUL, module 1's... |
 *   +-------------------------------+         +--------------------------------------+
 *
 * Modules go page-aligned, in order, from the first page boundary at or above the kernel's
 * highest loaded byte.
 */
#include "boot_multiboot.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>
#include <memvisor/multiboot.h>
#include <memvisor/pvh.h>

#include "boot_pvh.h"
#include "error.h"
#include "loader_common.h"

#define MB_HEADER_SIZE      sizeof(struct multiboot_header)
#define MB_KNOWN_REQUIRED   (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO)
#define MB_INFO_FLAGS       (MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | \
			     MULTIBOOT_INFO_MODS | MULTIBOOT_INFO_MEM_MAP | \
			     MULTIBOOT_INFO_LOADER_NAME)
#define MB_LOADER_NAME      "memvisor"
#define MB_MMAP_ENTRY_SIZE  (sizeof(struct multiboot_mmap_entry) - sizeof(uint32_t))
#define MB_PAGE             MM_PAGE_SIZE
#define KIB_SHIFT           10

_Static_assert(sizeof(struct multiboot_info) +
	       PVH_MEMMAP_MAX * sizeof(struct multiboot_mmap_entry) +
	       MULTIBOOT_MAX_MODULES * sizeof(struct multiboot_mod_list) <= MB_PAGE,
	       "the information structure, the largest memory map and module list share a page");
_Static_assert(MV_GPA_MULTIBOOT_INFO + MB_PAGE <= MV_GPA_CMDLINE &&
	       MV_GPA_CMDLINE + MV_CMDLINE_MAX <= MV_GPA_AP_TRAMPOLINE,
	       "the two boot pages lie apart, below the AP trampoline");
_Static_assert(MV_GPA_LOW_RAM_END <= UINT32_MAX, "modules below MV_GPA_LOW_RAM_END have 32-bit "
	       "addresses");

/* What the checks worked out, for the write step. */
struct mb_plan {
	uint32_t header_off;
	struct loader_elf elf;
	uint32_t entry;
	struct hvm_memmap_table_entry map[PVH_MEMMAP_MAX];
	unsigned nr_map;
	uint32_t mem_lower, mem_upper;
	size_t cmdline_len;                      /* without the NUL */
	size_t strings_len;                      /* every string with its NUL */
	uint32_t mod_start[MULTIBOOT_MAX_MODULES];
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)loader_rd_le(p, 4);
}

/* ---- 2. the header --------------------------------------------------------------------------- */

static int mb_find_header(const uint8_t *img, size_t size, uint32_t *header_off)
{
	long bad = -1, late = -1;
	uint32_t bad_sum = 0;

	for (size_t off = 0;
	     off < MULTIBOOT_SEARCH && loader_range_inside(off, MB_HEADER_SIZE, size);
	     off += MULTIBOOT_HEADER_ALIGN) {
		uint32_t sum;

		if (rd32(img + off) != MULTIBOOT_HEADER_MAGIC)
			continue;
		if (!loader_range_inside(off, MB_HEADER_SIZE, MULTIBOOT_SEARCH)) {
			if (late < 0)
				late = (long)off;
			continue;
		}
		sum = MULTIBOOT_HEADER_MAGIC + rd32(img + off + 4) + rd32(img + off + 8);
		if (sum == 0) {
			*header_off = (uint32_t)off;
			return 0;
		}
		if (bad < 0) {
			bad = (long)off;
			bad_sum = sum;
		}
	}
	if (bad >= 0)
		return mv_fail(ENOEXEC, "multiboot header at offset %ld: bad checksum 0x%08" PRIx32
			       " (magic + flags + checksum is 0x%08" PRIx32 ", not 0)", bad,
			       rd32(img + bad + 8), bad_sum);
	if (late >= 0)
		return mv_fail(ENOEXEC, "multiboot header at offset %ld runs past the first %d bytes "
			       "of the image, where it must lie whole", late, MULTIBOOT_SEARCH);
	return mv_fail(ENOEXEC, "no multiboot header (magic 0x%08" PRIx32 ", 4-byte aligned) in the "
		       "first %d bytes of the image", MULTIBOOT_HEADER_MAGIC, MULTIBOOT_SEARCH);
}

/* "2, 5" for the set bits of v. */
static void mb_bit_list(uint32_t v, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned b = 0; b < 32 && used < len; b++) {
		int n;

		if (!(v & UINT32_C(1) << b))
			continue;
		n = snprintf(buf + used, len - used, "%s%u", used ? ", " : "", b);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int mb_check_flags(const uint8_t *img, uint32_t off)
{
	uint32_t flags = rd32(img + off + 4);
	uint32_t unknown = flags & MULTIBOOT_REQUIRED_MASK & ~MB_KNOWN_REQUIRED;
	char bits[128];

	if (flags & MULTIBOOT_AOUT_KLUDGE)
		return mv_fail(ENOEXEC, "multiboot header at offset %" PRIu32 " asks for address "
			       "fields (flag 16), which memvisor does not support: link the kernel "
			       "as ELF without them", off);
	if (unknown == MULTIBOOT_VIDEO_MODE)
		return mv_fail(ENOEXEC, "multiboot header at offset %" PRIu32 " requires a video "
			       "mode (flag 2): memvisor has no video", off);
	if (unknown) {
		mb_bit_list(unknown, bits, sizeof(bits));
		return mv_fail(ENOEXEC, "multiboot header at offset %" PRIu32 " requires flag bits "
			       "%s (flags 0x%08" PRIx32 "), which memvisor does not support: it "
			       "meets only bit 0 (page-aligned modules) and bit 1 (memory "
			       "information)%s", off, bits, flags,
			       unknown & MULTIBOOT_VIDEO_MODE ? "; bit 2 asks for video, which "
			       "memvisor does not have" : "");
	}
	return 0;
}

/* ---- 3. the image ---------------------------------------------------------------------------- */

static bool mb_machine_ok(unsigned cls, uint64_t machine)
{
	return cls == ELFCLASS32 && machine == EM_386;
}

static const char *mb_machine_expected(unsigned cls)
{
	(void)cls;
	return "EM_386 (3): a multiboot kernel is 32-bit i386 code";
}

static const struct loader_elf_rules mb_rules = {
	.class32 = true,
	.class64 = false,
	.machine_ok = mb_machine_ok,
	.machine_expected = mb_machine_expected,
	.class_hint = ": a multiboot kernel is an ELF32 image (QEMU refuses x86-64 ones too); "
		      "link it with -m elf_i386 or convert it with objcopy -O elf32-i386",
};

/*
 * e_entry as a physical address: like QEMU's load_elf, an entry inside the file bytes of an
 * executable PT_LOAD whose p_vaddr and p_paddr differ is moved by p_paddr - p_vaddr. It must
 * then lie in the file bytes of a loaded segment.
 */
static int mb_find_entry(const struct loader_elf *e, uint32_t *entry)
{
	uint64_t v = e->entry;

	for (unsigned i = 0; i < e->phnum; i++) {
		const struct loader_seg *s = &e->seg[i];

		if (s->type == PT_LOAD && (s->flags & PF_X) && s->vaddr != s->paddr &&
		    e->entry >= s->vaddr && e->entry - s->vaddr < s->filesz) {
			v = e->entry - s->vaddr + s->paddr;
			break;
		}
	}
	if (!loader_elf_in_file_bytes(e, v))
		return mv_fail(ENOEXEC, "entry 0x%" PRIx64 " (e_entry 0x%" PRIx64 ") is not inside "
			       "the file bytes of any PT_LOAD segment", v, e->entry);
	*entry = (uint32_t)v;   /* inside an ELF32 segment: below 4 GiB */
	return 0;
}

/* ---- 4. memory information ------------------------------------------------------------------- */

/* One past the end of the RAM that runs without a gap from gpa in map[0..n) (gpa if none). */
static uint64_t mb_map_ram_end(const struct hvm_memmap_table_entry *map, unsigned n, uint64_t gpa)
{
	bool grew = true;

	while (grew) {
		grew = false;
		for (unsigned i = 0; i < n; i++) {
			if (map[i].type == E820_TYPE_RAM && map[i].addr <= gpa &&
			    gpa - map[i].addr < map[i].size) {
				gpa = map[i].addr + map[i].size;
				grew = true;
			}
		}
	}
	return gpa;
}

static int mb_memory_info(const struct machine_config *m, struct mb_plan *p)
{
	uint64_t lower, upper;
	int n;

	n = pvh_build_memmap(m, p->map, PVH_MEMMAP_MAX);
	if (n < 0)
		return n;
	p->nr_map = (unsigned)n;
	lower = mb_map_ram_end(p->map, p->nr_map, 0);
	if (lower > MV_GPA_LEGACY_HOLE)
		lower = MV_GPA_LEGACY_HOLE;
	upper = mb_map_ram_end(p->map, p->nr_map, MV_GPA_KERNEL_MIN);
	/* RAM from 1 MiB stops at MV_GPA_LOW_RAM_END at the latest: the KiB fit 32 bits. */
	p->mem_lower = (uint32_t)(lower >> KIB_SHIFT);
	p->mem_upper = (uint32_t)((upper - MV_GPA_KERNEL_MIN) >> KIB_SHIFT);
	return 0;
}

/* ---- 5. strings and modules ------------------------------------------------------------------ */

static int mb_plan_strings(const char *cmdline, const struct multiboot_module *mods,
			   unsigned nr_mods, struct mb_plan *p)
{
	size_t used;

	p->cmdline_len = strlen(cmdline);
	if (p->cmdline_len > MV_CMDLINE_MAX - 1)
		return mv_fail(EINVAL, "the command line (%zu bytes and its NUL) does not fit the "
			       "%" PRIu64 "-byte strings page at 0x%" PRIx64, p->cmdline_len,
			       MV_CMDLINE_MAX, MV_GPA_CMDLINE);
	used = p->cmdline_len + 1 + sizeof(MB_LOADER_NAME);
	if (used > MV_CMDLINE_MAX)
		return mv_fail(EINVAL, "the boot loader name \"%s\" does not fit the %" PRIu64
			       "-byte strings page at 0x%" PRIx64 " after the %zu-byte command line",
			       MB_LOADER_NAME, MV_CMDLINE_MAX, MV_GPA_CMDLINE, p->cmdline_len);
	for (unsigned i = 0; i < nr_mods; i++) {
		size_t len = strlen(mods[i].string);

		if (len >= MV_CMDLINE_MAX - used)
			return mv_fail(EINVAL, "module %u's string (%zu bytes and its NUL) does not "
				       "fit the %" PRIu64 "-byte strings page at 0x%" PRIx64 ": %zu "
				       "bytes are used by the command line, the boot loader name and "
				       "the strings before it", i, len, MV_CMDLINE_MAX,
				       MV_GPA_CMDLINE, used);
		used += len + 1;
	}
	p->strings_len = used;
	return 0;
}

/* Bytes of guest RAM that run without a hole from gpa, counting none at or above limit. */
static uint64_t mb_gm_ram_run(const struct guest_mem *gm, gpa_t gpa, gpa_t limit)
{
	gpa_t end = gpa;

	while (end < limit) {
		const struct guest_mem_region *r = guest_mem_find(gm, end);

		if (!r)
			break;
		end = r->gpa + r->size;
	}
	if (end > limit)
		end = limit;
	return end > gpa ? end - gpa : 0;
}

static int mb_plan_modules(const struct guest_mem *gm, const struct multiboot_module *mods,
			   unsigned nr_mods, struct mb_plan *p)
{
	gpa_t start, end, at;

	loader_elf_extent(&p->elf, &start, &end);
	at = loader_align_up(end, MB_PAGE);      /* end <= MV_GPA_LOW_RAM_END: no wrap */
	for (unsigned i = 0; i < nr_mods; i++) {
		uint64_t room = at < MV_GPA_LOW_RAM_END ?
				mb_gm_ram_run(gm, at, MV_GPA_LOW_RAM_END) : 0;

		if (mods[i].size > room)
			return mv_fail(EINVAL, "module %u (\"%s\", %zu bytes) does not fit: it would "
				       "go at 0x%" PRIx64 ", where 0x%" PRIx64 " bytes of guest RAM "
				       "run without a hole below 0x%" PRIx64, i, mods[i].string,
				       mods[i].size, at, room, MV_GPA_LOW_RAM_END);
		p->mod_start[i] = (uint32_t)at;
		at = loader_align_up(at + mods[i].size, MB_PAGE);
	}
	return 0;
}

/* ---- 6. writing ------------------------------------------------------------------------------ */

static int mb_write(struct guest_mem *gm, const char *cmdline,
		    const struct multiboot_module *mods, unsigned nr_mods,
		    const struct mb_plan *p, uint8_t *info_page, uint8_t *str_page)
{
	uint32_t mmap_addr = (uint32_t)(MV_GPA_MULTIBOOT_INFO + sizeof(struct multiboot_info));
	uint32_t mods_addr = mmap_addr + p->nr_map * (uint32_t)sizeof(struct multiboot_mmap_entry);
	struct multiboot_info info;
	gpa_t start, end;
	unsigned nr_segs;
	size_t s_off;
	int ret;

	ret = loader_elf_copy(&p->elf, gm, &start, &end, &nr_segs);
	if (ret)
		return ret;
	for (unsigned i = 0; i < nr_mods; i++)
		if (!loader_gm_fill(gm, p->mod_start[i], mods[i].data, mods[i].size))
			return mv_fail(EFAULT, "module %u: internal error: guest range 0x%" PRIx32
				       "+0x%zx was accepted but cannot be written", i,
				       p->mod_start[i], mods[i].size);

	memset(str_page, 0, MV_CMDLINE_MAX);
	memcpy(str_page, cmdline, p->cmdline_len);
	s_off = p->cmdline_len + 1;
	memcpy(str_page + s_off, MB_LOADER_NAME, sizeof(MB_LOADER_NAME));
	info = (struct multiboot_info){
		.flags = MB_INFO_FLAGS,
		.mem_lower = p->mem_lower,
		.mem_upper = p->mem_upper,
		.cmdline = (uint32_t)MV_GPA_CMDLINE,
		.mods_count = nr_mods,
		.mods_addr = mods_addr,
		.mmap_length = p->nr_map * (uint32_t)sizeof(struct multiboot_mmap_entry),
		.mmap_addr = mmap_addr,
		.boot_loader_name = (uint32_t)(MV_GPA_CMDLINE + s_off),
	};
	s_off += sizeof(MB_LOADER_NAME);

	memset(info_page, 0, MB_PAGE);
	memcpy(info_page, &info, sizeof(info));
	for (unsigned i = 0; i < p->nr_map; i++) {
		const struct hvm_memmap_table_entry *x = &p->map[i];
		struct multiboot_mmap_entry me = {
			.size = MB_MMAP_ENTRY_SIZE,
			.addr_lo = (uint32_t)x->addr, .addr_hi = (uint32_t)(x->addr >> 32),
			.len_lo = (uint32_t)x->size, .len_hi = (uint32_t)(x->size >> 32),
			.type = x->type,
		};

		memcpy(info_page + (mmap_addr - MV_GPA_MULTIBOOT_INFO) + i * sizeof(me), &me,
		       sizeof(me));
	}
	for (unsigned i = 0; i < nr_mods; i++) {
		size_t len = strlen(mods[i].string);
		struct multiboot_mod_list ml = {
			.mod_start = p->mod_start[i],
			.mod_end = p->mod_start[i] + (uint32_t)mods[i].size,
			.cmdline = (uint32_t)(MV_GPA_CMDLINE + s_off),
		};

		memcpy(info_page + (mods_addr - MV_GPA_MULTIBOOT_INFO) + i * sizeof(ml), &ml,
		       sizeof(ml));
		memcpy(str_page + s_off, mods[i].string, len);
		s_off += len + 1;
	}
	return 0;
}

int multiboot_load(const struct machine_config *m, struct guest_mem *gm, const uint8_t *image,
		   size_t size, const char *cmdline, const struct multiboot_module *mods,
		   unsigned nr_mods, struct boot_entry *e)
{
	struct mb_plan *p;
	uint8_t *info_page, *str_page;
	int ret;

	if (!m || !gm || !image || !cmdline || !e || (nr_mods && !mods))
		return mv_fail(EINVAL, "multiboot_load: machine, guest memory, image, command line, "
			       "entry and modules must not be NULL");
	if (nr_mods > MULTIBOOT_MAX_MODULES)
		return mv_fail(EINVAL, "%u modules are more than the %d a multiboot kernel may be "
			       "given", nr_mods, MULTIBOOT_MAX_MODULES);
	for (unsigned i = 0; i < nr_mods; i++)
		if (!mods[i].string || (mods[i].size && !mods[i].data))
			return mv_fail(EINVAL, "multiboot_load: module %u has no string or no data",
				       i);
	p = calloc(1, sizeof(*p));
	if (!p)
		return mv_fail(ENOMEM, "multiboot_load: no memory for the load plan");
	p->elf.img = image;
	p->elf.size = size;

	ret = mb_find_header(image, size, &p->header_off);
	if (ret)
		goto out;
	ret = mb_check_flags(image, p->header_off);
	if (ret)
		goto out;
	ret = loader_elf_parse(&p->elf, &mb_rules);
	if (ret)
		goto out;
	ret = loader_elf_check_segments(&p->elf, gm);
	if (ret)
		goto out;
	ret = mb_find_entry(&p->elf, &p->entry);
	if (ret)
		goto out;
	ret = mb_memory_info(m, p);
	if (ret)
		goto out;
	ret = mb_plan_strings(cmdline, mods, nr_mods, p);
	if (ret)
		goto out;
	ret = mb_plan_modules(gm, mods, nr_mods, p);
	if (ret)
		goto out;
	info_page = guest_mem_ptr(gm, MV_GPA_MULTIBOOT_INFO, MB_PAGE);
	str_page = guest_mem_ptr(gm, MV_GPA_CMDLINE, MV_CMDLINE_MAX);
	if (!info_page || !str_page) {
		ret = mv_fail(EINVAL, "multiboot information page 0x%" PRIx64 " or strings page "
			      "0x%" PRIx64 " is not guest RAM", MV_GPA_MULTIBOOT_INFO,
			      MV_GPA_CMDLINE);
		goto out;
	}

	ret = mb_write(gm, cmdline, mods, nr_mods, p, info_page, str_page);
	if (ret)
		goto out;
	*e = (struct boot_entry){
		.protocol = BOOT_MULTIBOOT,
		.rip = p->entry,
		.rax = MULTIBOOT_BOOTLOADER_MAGIC,
		.rbx = MV_GPA_MULTIBOOT_INFO,
	};
out:
	free(p);
	return ret;
}

/* ---- files ----------------------------------------------------------------------------------- */

/*
 * Split spec (QEMU's -initrd for multiboot) into items: a ',' ends an item unless another ','
 * follows, and ",," is one literal ','. Every item must have a path (the part before its first
 * space). *buf (the caller frees it) holds the items, NUL-separated; items[0..*nr) point in it.
 */
static int mb_parse_spec(const char *spec, char **buf, const char **items, unsigned *nr)
{
	const char *s = spec;
	char *out;

	*nr = 0;
	*buf = out = malloc(strlen(spec) + 1);
	if (!out)
		return mv_fail(ENOMEM, "no memory for the module list");
	for (;;) {
		char *item = out;

		while (*s && !(*s == ',' && s[1] != ',')) {
			if (*s == ',')
				s++;            /* ",,": one literal ',' */
			*out++ = *s++;
		}
		*out++ = '\0';
		if (*nr == MULTIBOOT_MAX_MODULES)
			return mv_fail(EINVAL, "the module list names more than the %d modules a "
				       "multiboot kernel may be given", MULTIBOOT_MAX_MODULES);
		if (item[0] == '\0' || item[0] == ' ')
			return mv_fail(EINVAL, "module %u of the module list '%s' has no path (the "
				       "list is comma-separated; ',,' is a comma inside a name)",
				       *nr, spec);
		items[(*nr)++] = item;
		if (*s != ',')
			return 0;
		s++;
	}
}

int multiboot_load_files(const struct machine_config *m, struct guest_mem *gm,
			 const char *image_path, const char *args, const char *spec,
			 struct boot_entry *e)
{
	struct multiboot_module mods[MULTIBOOT_MAX_MODULES];
	uint8_t *mod_buf[MULTIBOOT_MAX_MODULES] = { NULL };
	const char *items[MULTIBOOT_MAX_MODULES];
	char *spec_buf = NULL, *cmdline = NULL, *path = NULL;
	uint8_t *img = NULL;
	unsigned nr = 0;
	size_t size, len;
	int ret;

	if (!image_path)
		return mv_fail(EINVAL, "multiboot_load_files: no image path");
	if (spec) {
		ret = mb_parse_spec(spec, &spec_buf, items, &nr);
		if (ret)
			goto out;
	}
	len = strlen(image_path) + (args && *args ? 1 + strlen(args) : 0);
	cmdline = malloc(len + 1);
	if (!cmdline) {
		ret = mv_fail(ENOMEM, "no memory for the command line");
		goto out;
	}
	snprintf(cmdline, len + 1, "%s%s%s", image_path, args && *args ? " " : "",
		 args && *args ? args : "");
	ret = loader_read_file(image_path, MULTIBOOT_MAX_FILE_SIZE, "a kernel image", &img, &size);
	if (ret)
		goto out;
	for (unsigned i = 0; i < nr; i++) {
		path = strndup(items[i], strcspn(items[i], " "));
		if (!path) {
			ret = mv_fail(ENOMEM, "no memory for a module path");
			goto out;
		}
		ret = loader_read_file(path, MULTIBOOT_MAX_FILE_SIZE, "a multiboot module",
				       &mod_buf[i], &mods[i].size);
		free(path);
		path = NULL;
		if (ret)
			goto out;
		mods[i].data = mod_buf[i];
		mods[i].string = items[i];
	}
	ret = mv_fail_prefix(multiboot_load(m, gm, img, size, cmdline, mods, nr, e), image_path);
out:
	for (unsigned i = 0; i < nr; i++)
		free(mod_buf[i]);
	free(img);
	free(cmdline);
	free(spec_buf);
	return ret;
}
