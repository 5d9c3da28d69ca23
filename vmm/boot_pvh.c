/*
 * boot_pvh.c — the PVH start info, memory map, module list, command line and initrd
 * (boot_pvh.h). Owns nothing beyond the call; no locks. The memory map is built, the initrd
 * placed and every input checked before the first byte of guest memory is written.
 *
 * The start-info page (MV_GPA_START_INFO):
 *
 *   +0                 struct hvm_start_info (56 bytes)
 *   +56                memory map: memmap_entries × struct hvm_memmap_table_entry (24 bytes)
 *   +56 + 24 × n       module list (only with an initrd): one struct hvm_modlist_entry
 *   ...                zero to the end of the page
 */
#include "boot_pvh.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>

#include "error.h"
#include "loader.h"
#include "loader_common.h"

_Static_assert(sizeof(struct hvm_start_info) +
	       MV_START_INFO_MAX_MEMMAP * sizeof(struct hvm_memmap_table_entry) <= MM_PAGE_SIZE,
	       "the start info and its memory map share one page");
_Static_assert(MV_GPA_START_INFO + MM_PAGE_SIZE <= MV_GPA_CMDLINE &&
	       MV_GPA_CMDLINE + MV_CMDLINE_MAX <= MV_GPA_LEGACY_HOLE,
	       "start info page and command line lie apart, below the legacy hole");
_Static_assert(MV_GPA_LEGACY_HOLE < MV_GPA_ACPI && MV_GPA_ACPI + MV_ACPI_SIZE == MV_GPA_KERNEL_MIN,
	       "the low entries of the memory map tile [0, 1 MiB)");
_Static_assert(PVH_MEMMAP_MAX <= MV_START_INFO_MAX_MEMMAP,
	       "every memory map pvh_build_memmap() can produce fits the start info page");
_Static_assert(sizeof(struct hvm_start_info) +
	       PVH_MEMMAP_MAX * sizeof(struct hvm_memmap_table_entry) +
	       PVH_MAX_MODULES * sizeof(struct hvm_modlist_entry) <= MM_PAGE_SIZE,
	       "the module list fits the start info page after the largest memory map");
_Static_assert(sizeof(struct hvm_start_info) % 8 == 0 &&
	       sizeof(struct hvm_memmap_table_entry) % 8 == 0,
	       "the module list after the memory map is 8-byte aligned");

#define LOW_END       MV_GPA_KERNEL_MIN          /* the fixed entries cover [0, 1 MiB) */
#define RSDP_V2_SIZE  36                         /* ACPI 2.0+ RSDP */

/* A memory map entry under construction and where it came from (for messages). */
struct mm_entry {
	struct hvm_memmap_table_entry e;
	int node;             /* -1: one of the fixed entries below 1 MiB */
	unsigned range;
};

static void add_entry(struct mm_entry *v, unsigned *n, uint64_t addr, uint64_t size,
		      uint32_t type, int node, unsigned range)
{
	v[*n] = (struct mm_entry){ .e = { .addr = addr, .size = size, .type = type },
				   .node = node, .range = range };
	(*n)++;
}

/* One node range checked and added (its part above 1 MiB if it starts at 0). */
static int add_range(struct mm_entry *v, unsigned *n, unsigned node, unsigned k,
		     const struct machine_range *r, bool *have_low)
{
	if (r->size == 0)
		return mv_fail(EINVAL, "node %u range %u at 0x%" PRIx64 " is empty", node, k, r->gpa);
	if (r->gpa > UINT64_MAX - r->size)
		return mv_fail(EINVAL, "node %u range %u 0x%" PRIx64 "+0x%" PRIx64 " wraps past the "
			       "end of the address space", node, k, r->gpa, r->size);
	if (r->gpa < MV_GPA_HIGH_RAM_BASE && r->gpa + r->size > MV_GPA_LOW_RAM_END)
		return mv_fail(EINVAL, "node %u range %u 0x%" PRIx64 "+0x%" PRIx64 " runs into the "
			       "MMIO hole [0x%" PRIx64 ", 0x%" PRIx64 ")", node, k, r->gpa, r->size,
			       MV_GPA_LOW_RAM_END, MV_GPA_HIGH_RAM_BASE);
	if (r->gpa != 0) {
		add_entry(v, n, r->gpa, r->size, E820_TYPE_RAM, (int)node, k);
		return 0;
	}
	if (r->size < LOW_END)
		return mv_fail(EINVAL, "node %u range %u at gpa 0 is 0x%" PRIx64 " bytes: it must "
			       "cover the first MiB (start info, command line, ACPI tables)", node,
			       k, r->size);
	*have_low = true;
	if (r->size > LOW_END)
		add_entry(v, n, LOW_END, r->size - LOW_END, E820_TYPE_RAM, (int)node, k);
	return 0;
}

static void sort_entries(struct mm_entry *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		struct mm_entry x = v[i];
		unsigned j = i;

		for (; j > 0 && v[j - 1].e.addr > x.e.addr; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* "node 1 range 0" or "the first MiB" for messages. */
static const char *entry_name(const struct mm_entry *x, char *buf, size_t len)
{
	if (x->node < 0)
		return "the first MiB";
	snprintf(buf, len, "node %d range %u", x->node, x->range);
	return buf;
}

static int check_disjoint(const struct mm_entry *v, unsigned n)
{
	for (unsigned i = 0; i + 1 < n; i++) {
		const struct mm_entry *a = &v[i], *b = &v[i + 1];
		char an[32], bn[32];

		if (a->e.addr + a->e.size > b->e.addr)
			return mv_fail(EINVAL, "%s 0x%" PRIx64 "+0x%" PRIx64 " overlaps %s 0x%" PRIx64
				       "+0x%" PRIx64, entry_name(b, bn, sizeof(bn)), b->e.addr,
				       b->e.size, entry_name(a, an, sizeof(an)), a->e.addr,
				       a->e.size);
	}
	return 0;
}

int pvh_build_memmap(const struct machine_config *m, struct hvm_memmap_table_entry *map,
		     unsigned cap)
{
	struct mm_entry v[PVH_MEMMAP_MAX];
	bool have_low = false;
	unsigned n = 0;
	int ret;

	if (!m || (!map && cap))
		return mv_fail(EINVAL, "pvh_build_memmap: machine or map is NULL");
	if (m->nr_nodes == 0 || m->nr_nodes > MACHINE_MAX_NODES)
		return mv_fail(EINVAL, "nr_nodes %u is not in 1..%u", m->nr_nodes,
			       MACHINE_MAX_NODES);

	add_entry(v, &n, 0, MV_GPA_LEGACY_HOLE, E820_TYPE_RAM, -1, 0);
	add_entry(v, &n, MV_GPA_LEGACY_HOLE, MV_GPA_ACPI - MV_GPA_LEGACY_HOLE, E820_TYPE_RESERVED,
		  -1, 0);
	add_entry(v, &n, MV_GPA_ACPI, MV_ACPI_SIZE, E820_TYPE_ACPI, -1, 0);
	for (unsigned i = 0; i < m->nr_nodes; i++) {
		const struct machine_node *nd = &m->nodes[i];

		if (nd->nr_ranges == 0 || nd->nr_ranges > 2)
			return mv_fail(EINVAL, "node %u has %u ranges (expected 1 or 2)", i,
				       nd->nr_ranges);
		for (unsigned k = 0; k < nd->nr_ranges; k++) {
			ret = add_range(v, &n, i, k, &nd->ranges[k], &have_low);
			if (ret)
				return ret;
		}
	}
	if (!have_low)
		return mv_fail(EINVAL, "no node range starts at gpa 0: the first MiB (start info, "
			       "command line, ACPI tables) must be RAM");
	sort_entries(v, n);
	ret = check_disjoint(v, n);
	if (ret)
		return ret;
	if (n > cap)
		return mv_fail(ENOSPC, "the memory map needs %u entries, more than the %u given", n,
			       cap);
	for (unsigned i = 0; i < n; i++)
		map[i] = v[i].e;
	return (int)n;
}

/*
 * Place isize bytes of initrd page-aligned as high as they fit in one run of guest RAM inside
 * [max(image_end, MV_GPA_KERNEL_MIN), MV_GPA_LOW_RAM_END) (loader_place_top()):
 *
 *   0 .. 1 MiB              image        image_end                    run end or 3 GiB
 *   | start info, ACPI | ... | PVH image |    free    | initrd |pad|
 *                                                    ^ align_down(top - isize, 4 KiB)
 *
 * Below 1 MiB are the start info, command line and ACPI tables; the image's PT_LOADs all lie
 * below image_end. RAM below the image is never used (the Linux loader's rule for its kernel
 * window), so no image byte can be overwritten whatever its segments' gaps hold.
 */
static int pvh_place_initrd(const struct guest_mem *gm, gpa_t image_end, uint64_t isize,
			    gpa_t *gpa)
{
	gpa_t lo = image_end > MV_GPA_KERNEL_MIN ? image_end : MV_GPA_KERNEL_MIN;
	uint64_t room;
	gpa_t hole;

	if (!loader_place_top(gm, lo, MV_GPA_LOW_RAM_END, isize, gpa, &room))
		return mv_fail(EINVAL, "initrd of %" PRIu64 " bytes does not fit in guest RAM "
			       "below 0x%" PRIx64 " (largest room: %" PRIu64 " bytes, above the "
			       "image ending at 0x%" PRIx64 ")", isize, MV_GPA_LOW_RAM_END, room, lo);
	/* Impossible by construction; checked so a placement bug cannot corrupt the image. */
	if (*gpa < lo || !loader_gm_is_ram(gm, *gpa, isize, &hole))
		return mv_fail(EFAULT, "internal error: initrd placed at 0x%" PRIx64 "+0x%" PRIx64
			       " lies below 0x%" PRIx64 " or is not RAM", *gpa, isize, lo);
	return 0;
}

/* pvh_write_boot_info_initrd(), with iname (NULL: none) prefixed to errors about the initrd. */
static int pvh_write_named(const struct machine_config *m, struct guest_mem *gm,
			   uint64_t rsdp_gpa, const char *cmdline, gpa_t image_end,
			   const uint8_t *initrd, uint64_t isize, gpa_t *initrd_gpa,
			   const char *iname)
{
	struct hvm_memmap_table_entry map[MV_START_INFO_MAX_MEMMAP];
	struct hvm_modlist_entry mod = { 0 };
	struct hvm_start_info si;
	uint8_t *page, *cl;
	size_t cl_len = 0;
	gpa_t igpa = 0;
	int n, ret;

	if (!gm)
		return mv_fail(EINVAL, "pvh_write_boot_info: guest memory is NULL");
	if (!initrd && isize)
		return mv_fail(EINVAL, "pvh_write_boot_info: initrd is NULL but its size is "
			       "%" PRIu64, isize);
	if (cmdline) {
		cl_len = strlen(cmdline);
		if (cl_len > MV_CMDLINE_MAX - 1)
			return mv_fail(EINVAL, "command line is %zu bytes, longer than the %" PRIu64
				       " that fit at 0x%" PRIx64, cl_len, MV_CMDLINE_MAX - 1,
				       MV_GPA_CMDLINE);
	}
	n = pvh_build_memmap(m, map, MV_START_INFO_MAX_MEMMAP);
	if (n < 0)
		return n;
	page = guest_mem_ptr(gm, MV_GPA_START_INFO, MM_PAGE_SIZE);
	if (!page)
		return mv_fail(EINVAL, "start info page 0x%" PRIx64 " is not guest RAM",
			       MV_GPA_START_INFO);
	cl = guest_mem_ptr(gm, MV_GPA_CMDLINE, MV_CMDLINE_MAX);
	if (!cl)
		return mv_fail(EINVAL, "command line page 0x%" PRIx64 " is not guest RAM",
			       MV_GPA_CMDLINE);
	if (rsdp_gpa && !guest_mem_ptr(gm, rsdp_gpa, RSDP_V2_SIZE))
		return mv_fail(EINVAL, "RSDP at 0x%" PRIx64 "+%d is not guest RAM", rsdp_gpa,
			       RSDP_V2_SIZE);
	if (isize) {
		ret = mv_fail_prefix(pvh_place_initrd(gm, image_end, isize, &igpa), iname);
		if (ret)
			return ret;
		mod = (struct hvm_modlist_entry){ .paddr = igpa, .size = isize };
	}

	si = (struct hvm_start_info){
		.magic = HVM_START_MAGIC_VALUE,
		.version = HVM_START_INFO_VERSION,
		.nr_modules = isize ? 1 : 0,
		.modlist_paddr = isize ? MV_GPA_START_INFO + sizeof(si) +
					 (uint64_t)n * sizeof(map[0]) : 0,
		.cmdline_paddr = cmdline ? MV_GPA_CMDLINE : 0,
		.rsdp_paddr = rsdp_gpa,
		.memmap_paddr = MV_GPA_START_INFO + sizeof(si),
		.memmap_entries = (uint32_t)n,
	};
	memset(page, 0, MM_PAGE_SIZE);
	memcpy(page, &si, sizeof(si));
	memcpy(page + sizeof(si), map, (size_t)n * sizeof(map[0]));
	if (isize)
		memcpy(page + (si.modlist_paddr - MV_GPA_START_INFO), &mod, sizeof(mod));
	memset(cl, 0, MV_CMDLINE_MAX);
	if (cmdline)
		memcpy(cl, cmdline, cl_len);
	if (isize && !loader_gm_fill(gm, igpa, initrd, isize))
		return mv_fail(EFAULT, "internal error: initrd at 0x%" PRIx64 "+0x%" PRIx64 " was "
			       "accepted but cannot be written", igpa, isize);
	if (initrd_gpa)
		*initrd_gpa = igpa;
	return 0;
}

int pvh_write_boot_info(const struct machine_config *m, struct guest_mem *gm, uint64_t rsdp_gpa,
			const char *cmdline)
{
	return pvh_write_named(m, gm, rsdp_gpa, cmdline, 0, NULL, 0, NULL, NULL);
}

int pvh_write_boot_info_initrd(const struct machine_config *m, struct guest_mem *gm,
			       uint64_t rsdp_gpa, const char *cmdline, gpa_t image_end,
			       const uint8_t *initrd, uint64_t isize, gpa_t *initrd_gpa)
{
	return pvh_write_named(m, gm, rsdp_gpa, cmdline, image_end, initrd, isize, initrd_gpa,
			       NULL);
}

int pvh_write_boot_info_file(const struct machine_config *m, struct guest_mem *gm,
			     uint64_t rsdp_gpa, const char *cmdline, gpa_t image_end,
			     const char *initrd_path, gpa_t *initrd_gpa)
{
	uint8_t *initrd = NULL;
	size_t isize = 0;
	int ret;

	if (initrd_path) {
		ret = loader_read_file(initrd_path, PVH_MAX_FILE_SIZE, "an initrd", &initrd,
				       &isize);
		if (ret)
			return ret;
	}
	ret = pvh_write_named(m, gm, rsdp_gpa, cmdline, image_end, initrd, isize, initrd_gpa,
			      initrd_path);
	free(initrd);
	return ret;
}
