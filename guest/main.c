/*
 * guest/main.c — the PVH ELF note and kmain(): check the start info, copy the memory map and the
 * command line out of low memory, report the modules the VMM passed (an initrd: size and CRC-32,
 * read before anything can reuse their RAM), then run the scenario the command line selects
 * (guest/README.md): the topology report (default), a deliberate exception, the memtest, or a
 * memory-manager scenario (scenario=NAME, mmtest.c), a process scenario (scenario=NAME,
 * proctest.c), the fault-injection workload (scenario=faultinj with fail_*= options,
 * faultinj_test.c) or the soak (scenario=soak soak_seconds=N, soak.c).
 *
 * Everything from the boot environment is validated before use; an unusable start info is a TAP
 * "Bail out!" and exit MV_GUEST_EXIT_BAIL, never a silent hang or crash.
 */
#include <memvisor/layout.h>
#include <memvisor/pvh.h>

#include "faultinj.h"
#include "mem.h"
#include "memtest.h"
#include "proc.h"
#include "smp.h"

/*
 * The ELF note that makes this a PVH image: owner "Xen", type XEN_ELFNOTE_PHYS32_ENTRY, desc the
 * 32-bit physical address of pvh_start32 (boot.S). Written in asm because C cannot truncate an
 * address to 32 bits in a static initializer; the linker script puts .note.Xen in a PT_NOTE.
 */
__asm__(".pushsection .note.Xen, \"a\", @note\n"
	".balign 4\n"
	".long 2f - 1f\n"                       /* namesz */
	".long 4\n"                             /* descsz */
	".long " STR(XEN_ELFNOTE_PHYS32_ENTRY) "\n"
	"1: .asciz \"" XEN_ELFNOTE_OWNER "\"\n"
	"2: .balign 4\n"
	".long pvh_start32\n"
	".popsection");

static struct memmap memmap;
static char cmdline[MV_CMDLINE_MAX];
static struct topo topo;

/* Start info magic and version: anything else means EBX does not point at a start info. */
static void check_start_info(const struct hvm_start_info *si)
{
	kprintf("# start info at %p\n", (const void *)si);
	if (!tap_check(si->magic == HVM_START_MAGIC_VALUE, "start info magic (0x%x)", si->magic))
		tap_bail("start info magic is 0x%x, expected 0x%x: not a PVH boot", si->magic,
			 HVM_START_MAGIC_VALUE);
	if (!tap_check(si->version >= 1, "start info version >= 1 (%u)", si->version))
		tap_bail("start info version %u has no memory map", si->version);
}

static const char *e820_name(uint32_t type)
{
	switch (type) {
	case E820_TYPE_RAM:      return "ram";
	case E820_TYPE_RESERVED: return "reserved";
	case E820_TYPE_ACPI:     return "acpi";
	case E820_TYPE_NVS:      return "nvs";
	case E820_TYPE_UNUSABLE: return "unusable";
	default:                 return "unknown";
	}
}

/* Copy the memory map (at most GUEST_MAX_MEMMAP entries), sort it by address and print it. */
static void read_memmap(const struct hvm_start_info *si)
{
	const struct hvm_memmap_table_entry *e;
	uint64_t bytes = (uint64_t)si->memmap_entries * sizeof(*e);
	bool sorted = true, disjoint = true;

	e = phys_ptr(si->memmap_paddr, bytes);
	if (!tap_check(e && si->memmap_entries >= 1 && si->memmap_entries <= GUEST_MAX_MEMMAP,
		       "memory map: 1..%u entries, mapped (%u at 0x%lx)", GUEST_MAX_MEMMAP,
		       si->memmap_entries, si->memmap_paddr))
		tap_bail("no usable memory map");
	/* Entries of size 0 describe nothing (QEMU's microvm passes one): dropped, as Linux's
	 * e820 sanitizing does, with a diagnostic. */
	memmap.n = 0;
	for (unsigned i = 0; i < si->memmap_entries; i++)
		if (e[i].size)
			memmap.e[memmap.n++] = e[i];
		else
			kprintf("# memmap: entry %u (0x%lx, type %u) is empty: dropped\n", i, e[i].addr,
				e[i].type);

	for (unsigned i = 1; i < memmap.n; i++)
		for (unsigned j = i; j > 0 && memmap.e[j - 1].addr > memmap.e[j].addr; j--) {
			struct hvm_memmap_table_entry x = memmap.e[j];

			memmap.e[j] = memmap.e[j - 1];
			memmap.e[j - 1] = x;
			sorted = false;
		}
	for (unsigned i = 0; i < memmap.n; i++) {
		const struct hvm_memmap_table_entry *m = &memmap.e[i];

		kprintf("# memmap: 0x%lx-0x%lx %s\n", m->addr, m->addr + m->size - 1,
			e820_name(m->type));
		if (i && memmap.e[i - 1].addr + memmap.e[i - 1].size > m->addr)
			disjoint = false;
	}
	tap_check(sorted, "memory map is sorted by address");
	tap_check(disjoint, "memory map entries do not overlap");
}

/* Copy the NUL-terminated command line (none when cmdline_paddr is 0). */
static void read_cmdline(const struct hvm_start_info *si)
{
	const char *src;
	uint64_t max = MV_CMDLINE_MAX;
	size_t len = 0;

	if (si->cmdline_paddr == 0)
		return;
	if (si->cmdline_paddr < GUEST_MAPPED_END && GUEST_MAPPED_END - si->cmdline_paddr < max)
		max = GUEST_MAPPED_END - si->cmdline_paddr;     /* stop at the end of the map */
	src = phys_ptr(si->cmdline_paddr, max);
	if (src)
		while (len < max && src[len])
			len++;
	if (!tap_check(src && len < max, "command line is mapped and NUL-terminated within %lu bytes",
		       (unsigned long)MV_CMDLINE_MAX))
		len = 0;
	memcpy(cmdline, src, len);
	cmdline[len] = '\0';
}

/* Modules listed in the start info beyond this many are a failed check and not read. */
#define GUEST_MAX_MODULES 16

#define CRC32_POLY_REFLECTED 0xedb88320u         /* IEEE 802.3 CRC-32, bit-reversed */

/* zlib's crc32() of p[0..len): reflected, initial value and final xor 0xffffffff. */
static uint32_t crc32_ieee(const uint8_t *p, uint64_t len)
{
	static uint32_t table[256];
	uint32_t crc = 0xffffffffu;

	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? CRC32_POLY_REFLECTED ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	for (uint64_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

/*
 * The modules in the start info (none: nothing printed). Each one's place, size and CRC-32 are
 * printed ("# module I: paddr 0x.. size N crc32 0x........") for the host to compare with the
 * file it passed, with TAP checks that it lies in RAM of the memory map and in the boot identity
 * map. Called before any scenario: the memtest and the memory manager reuse that RAM.
 */
static void read_modules(const struct hvm_start_info *si)
{
	const struct hvm_modlist_entry *mod;

	if (si->nr_modules == 0)
		return;
	kprintf("# modules: %u at 0x%lx\n", si->nr_modules, si->modlist_paddr);
	mod = phys_ptr(si->modlist_paddr, (uint64_t)si->nr_modules * sizeof(*mod));
	if (!tap_check(mod && si->nr_modules <= GUEST_MAX_MODULES,
		       "module list: 1..%u entries, mapped (%u at 0x%lx)", GUEST_MAX_MODULES,
		       si->nr_modules, si->modlist_paddr))
		return;
	for (unsigned i = 0; i < si->nr_modules; i++) {
		struct hvm_modlist_entry m = mod[i];
		const uint8_t *p = phys_ptr(m.paddr, m.size);

		if (p)
			kprintf("# module %u: paddr 0x%lx size %lu crc32 0x%08x\n", i, m.paddr,
				m.size, crc32_ieee(p, m.size));
		else
			kprintf("# module %u: paddr 0x%lx size %lu (not mapped)\n", i, m.paddr,
				m.size);
		tap_check(memmap_has_ram(&memmap, m.paddr, m.size), "module %u 0x%lx+0x%lx lies in RAM of "
			  "the memory map", i, m.paddr, m.size);
		tap_check(p != NULL, "module %u lies below 0x%lx, in the boot identity map", i,
			  GUEST_MAPPED_END);
	}
}

enum scenario { SCENARIO_TOPOLOGY, SCENARIO_EXC_UD, SCENARIO_EXC_PF, SCENARIO_MEMTEST,
		SCENARIO_SMP, SCENARIO_MM, SCENARIO_PROC, SCENARIO_FAULTINJ, SCENARIO_SOAK };

struct options {
	enum scenario sc;           /* the last scenario option wins */
	unsigned memtest;           /* MEMTEST_* flags of the options after "memtest" */
	int mm;                     /* SCENARIO_MM: mmtest_lookup() index of scenario=NAME */
	int proc;                   /* SCENARIO_PROC: proctest_lookup() index of scenario=NAME */
	bool break_buddy;           /* break=buddy: the mm self-test (mmtest.c) */
	bool soak_seconds;          /* soak_seconds= given (soak.c keeps the value) */
};

/* Space-separated options; see guest/README.md. */
static struct options parse_cmdline(void)
{
	struct options o = { SCENARIO_TOPOLOGY, 0, -1, -1, false, false };
	bool known = true;

	for (char *p = cmdline; *p;) {
		char *word = p;
		size_t n = 0;

		while (word[n] && word[n] != ' ')
			n++;
		p = word[n] ? word + n + 1 : word + n;
		if (n == 12 && !memcmp(word, "exception=ud", n)) {
			o.sc = SCENARIO_EXC_UD;
		} else if (n == 12 && !memcmp(word, "exception=pf", n)) {
			o.sc = SCENARIO_EXC_PF;
		} else if (n == 7 && !memcmp(word, "memtest", n)) {
			o.sc = SCENARIO_MEMTEST;
		} else if (n == 12 && !memcmp(word, "scenario=smp", n)) {
			o.sc = SCENARIO_SMP;
		} else if (n == 16 && !memcmp(word, "scenario=memtest", n)) {
			o.sc = SCENARIO_MEMTEST;
		} else if (n == 17 && !memcmp(word, "scenario=topology", n)) {
			o.sc = SCENARIO_TOPOLOGY;
		} else if (n == 17 && !memcmp(word, "scenario=faultinj", n)) {
			o.sc = SCENARIO_FAULTINJ;       /* faultinj_test.c */
		} else if (n == 13 && !memcmp(word, "scenario=soak", n)) {
			o.sc = SCENARIO_SOAK;           /* soak.c */
		} else if (soak_option(word, n)) {
			o.soak_seconds = true;          /* soak_seconds= */
		} else if (faultinj_option(word, n)) {
			;                               /* fail_*=, fault_seed=, fault_verbose= */
		} else if (n == 7 && !memcmp(word, "pageout", n)) {
			o.memtest |= MEMTEST_PAGEOUT;
		} else if (n == 7 && !memcmp(word, "corrupt", n)) {
			o.memtest |= MEMTEST_CORRUPT;
		} else if (n > 9 && !memcmp(word, "scenario=", 9) &&
			   (o.mm = mmtest_lookup(word + 9, n - 9)) >= 0) {
			o.sc = SCENARIO_MM;             /* memory-manager scenarios: mmtest.c */
		} else if (n > 9 && !memcmp(word, "scenario=", 9) &&
			   (o.proc = proctest_lookup(word + 9, n - 9)) >= 0) {
			o.sc = SCENARIO_PROC;           /* process scenarios: proctest.c */
		} else if (n == 11 && !memcmp(word, "break=buddy", n)) {
			o.break_buddy = true;
		} else if (n) {
			kprintf("# unknown option '%.*s'\n", (int)n, word);
			known = false;
		}
	}
	tap_check(known, "command line options are known");
	if (o.memtest && o.sc != SCENARIO_MEMTEST)
		tap_check(false, "options 'pageout' and 'corrupt' come with 'memtest'");
	if (o.break_buddy && o.sc != SCENARIO_MM)
		tap_check(false, "option 'break=buddy' comes with a 'scenario='");
	if (faultinj_configured() && o.sc != SCENARIO_FAULTINJ && o.sc != SCENARIO_SOAK)
		tap_check(false, "fault-injection options (fail_page_alloc=, failslab=, "
			  "fail_balloon=) come with 'scenario=faultinj' or 'scenario=soak'");
	if (o.soak_seconds && o.sc != SCENARIO_SOAK)
		tap_check(false, "option 'soak_seconds=' comes with 'scenario=soak'");
	return o;
}

__attribute__((noreturn)) void kmain(const struct hvm_start_info *si);  /* boot.S */

void kmain(const struct hvm_start_info *si)
{
	struct options opt;
	unsigned others;

	percpu_init_bsp();          /* GS base: cpu_id() works from here on */
	serial_init();
	idt_init();
	kprintf("TAP version 13\n");
	check_start_info(si);
	read_memmap(si);
	read_cmdline(si);
	kprintf("# cmdline: \"%s\"\n", cmdline);
	read_modules(si);

	opt = parse_cmdline();
	switch (opt.sc) {
	case SCENARIO_EXC_UD:
		kprintf("# scenario exception=ud: executing ud2\n");
		exc_trigger_ud();
	case SCENARIO_EXC_PF:
		kprintf("# scenario exception=pf: reading unmapped 0xbadc0de0000\n");
		exc_trigger_pf();
	case SCENARIO_TOPOLOGY:
	case SCENARIO_MEMTEST:
	case SCENARIO_SMP:
	case SCENARIO_MM:
	case SCENARIO_PROC:
	case SCENARIO_FAULTINJ:
	case SCENARIO_SOAK:
		break;
	}
	acpi_parse(si->rsdp_paddr, &topo);
	topo_report(&topo, &memmap);
	smp_boot(&topo, &memmap);   /* every scenario runs on all CPUs; trampoline page free after */
	if (opt.sc == SCENARIO_SMP)
		smp_scenario_run(&topo);
	if (opt.sc == SCENARIO_MEMTEST)
		memtest_run(&topo, &memmap, opt.memtest);     /* overwrites the start info: last */
	if (opt.sc == SCENARIO_MM)
		mmtest_run(opt.mm, opt.break_buddy, &topo, &memmap);  /* reuses low RAM: last */
	if (opt.sc == SCENARIO_PROC)
		proctest_run(opt.proc, &topo, &memmap);               /* reuses low RAM: last */
	if (opt.sc == SCENARIO_FAULTINJ)
		faultinj_scenario(&topo, &memmap);                    /* reuses low RAM: last */
	if (opt.sc == SCENARIO_SOAK)
		soak_scenario(&topo, &memmap);                        /* reuses low RAM: last */
	others = nr_cpus_online() - 1;
	if (others)                 /* before the exit port write: APs halted, interrupts off */
		tap_check(smp_stop_others(), "smp: the other %u CPUs halted with interrupts off",
			  others);
	tap_finish();
}
