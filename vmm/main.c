/*
 * main.c — the memvisor command line: parse the subcommand and its options, dispatch, and turn
 * results into exit statuses. The only place that may die(): everything below returns errors.
 *
 * Exit statuses: 0 success, 1 a check or run failed, 2 bad usage (named on stderr).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "faultinj.h"
#include "machine.h"
#include "run.h"
#include "selfcheck.h"

#define MEMVISOR_VERSION "0.1.0"

__attribute__((noreturn, format(printf, 1, 2))) static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("memvisor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see memvisor --help)\n", stderr);
	exit(2);
}

static void usage(FILE *f)
{
	fputs("usage: memvisor COMMAND [OPTIONS]\n"
	      "\n"
	      "commands:\n"
	      "  run IMAGE [OPTIONS]        boot an image under KVM (docs/cli.md): a Linux bzImage,\n"
	      "                             a multiboot v1 ELF32 or a PVH ELF (told by its bytes)\n"
	      "      --kernel IMAGE         the image, as an option (QEMU's name)\n"
	      "      --initrd FILE          Linux, PVH: the initrd; multiboot: modules \"path args,...\"\n"
	      "      --append STRING        the same as --cmdline (QEMU's name)\n"
	      "      --cpus N               vCPUs, 1..64 (default 2)\n"
	      "      --numa SPEC            one NUMA node, repeatable (default: 2 nodes of 64 MiB):\n"
	      "                             node=ID,size=SIZE[,cpus=A-B:C][,host-node=N]\n"
	      "                             [,distances=NODE@DIST:NODE@DIST][,budget=SIZE]\n"
	      "                             [,policy=strict|preferred]\n"
	      "      --cmdline STRING       the guest's command line\n"
	      "      --serial FILE          COM1 output to FILE instead of stdout\n"
	      "      --memory-report        print host memory per guest node at the end\n"
	      "      --swap FILE[,size=SIZE] host swap for guest pages (default size: all RAM)\n"
	      "      --stats FILE           guest memory statistics as JSON at the end\n"
	      "      --fault-around PAGES   pages backed per fault, 1..512, power of 2 (16)\n"
	      "      --fault-threads N      userfaultfd service threads, 1..8 (1)\n"
	      "      --prefault             back guest RAM up to the budgets before booting\n"
	      "      --mem-request SPEC     page-out|page-in|migrate,at=MS,node=N|gpa=A,len=L\n"
	      "                             [,to=N]: act on guest memory while it runs;\n"
	      "                             balloon-target,at=MS,size=SIZE: a new balloon target\n"
	      "      --balloon [SPEC]       a virtio-balloon device; SPEC: target=SIZE,\n"
	      "                             stats-interval=SECONDS,deflate-on-oom=on|off,\n"
	      "                             free-page-reporting=on|off (defaults 0, 0, off, off)\n"
	      "      --qmp unix:PATH[,server=on][,wait=on|off]\n"
	      "                             QMP control socket (docs/qmp.md); wait=on (default)\n"
	      "                             starts the guest once a client has connected\n"
	      "      --trace FILE[,interval=MS][,progress=S]\n"
	      "                             memory figures over time as JSON lines (default\n"
	      "                             every 100 ms; a progress line every 10 s)\n"
	      "      --seccomp true|false|log  system-call filters on the vCPU and device\n"
	      "                             threads (default true; log: allow, kernel logs)\n"
	      "      --fault-inject SITE[,probability=P][,interval=N][,times=T][,space=S]\n"
	      "                     [,verbose=V][,delay-us=D]  make a host site fail (repeatable;\n"
	      "                             docs/fault-injection.md; 'help' lists the sites)\n"
	      "      --fault-seed N         seed of the injection decisions (default 1)\n"
	      "    exit status: 0 all vCPUs halted; (c<<1)|1 the guest wrote c to port 0xf4;\n"
	      "    2 bad usage or image; 4 guest shutdown (triple fault); 6 unexpected exit;\n"
	      "    8 the VM could not be built (no /dev/kvm, missing capability, host memory);\n"
	      "    10 guest memory could not be served (budget used up without swap, swap I/O);\n"
	      "    12 a thread made a system call its seccomp filter forbids (--seccomp)\n"
	      "  selfcheck [--node-mib N]   drive the mm/ library (buddy, NUMA policies, slab,\n"
	      "                             VMA tree, EPT stage-2) over two host-memory NUMA nodes of\n"
	      "                             N MiB each (default 64, 4..4096) and run every checker\n"
	      "  --version                  print the version\n"
	      "  --help                     this text\n",
	      f);
}

/* Parse a decimal unsigned in [lo, hi] for option `opt`, or die naming the option. */
static unsigned parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v;

	if (!s)
		die_usage("%s needs a value", opt);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		die_usage("%s: '%s' is not a number in %u..%u", opt, s, lo, hi);
	return (unsigned)v;
}

static int cmd_selfcheck(int argc, char **argv)
{
	unsigned node_mib = 64;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--node-mib") == 0)
			node_mib = parse_uint("--node-mib", argv[++i], 4, 4096);
		else
			die_usage("selfcheck: unknown option '%s'", argv[i]);
	}
	return selfcheck_run(node_mib);
}

static int cmd_run(int argc, char **argv)
{
	struct machine_config m;
	struct run_options o = { .seccomp = SECCOMP_MODE_ON };
	struct faultinj fi;
	int status;

	machine_init(&m);
	faultinj_init(&fi, FAULTINJ_DEFAULT_SEED);
	o.fi = &fi;                     /* always: QMP may arm a site later */
	for (int i = 0; i < argc; i++) {
		const char *opt = argv[i];

		if (strcmp(opt, "--cpus") == 0) {
			m.nr_cpus = parse_uint(opt, argv[++i], 1, MACHINE_MAX_VCPUS);
		} else if (strcmp(opt, "--numa") == 0) {
			if (!argv[i + 1])
				die_usage("--numa needs a value");
			if (machine_parse_numa(&m, argv[++i]))
				die_usage("%s", mv_error());
		} else if (strcmp(opt, "--cmdline") == 0 || strcmp(opt, "--append") == 0) {
			if (!argv[i + 1])
				die_usage("%s needs a value", opt);
			m.cmdline = argv[++i];
		} else if (strcmp(opt, "--kernel") == 0) {
			if (!argv[i + 1])
				die_usage("--kernel needs a file name");
			if (o.image)
				die_usage("run: more than one image ('%s' and '%s')", o.image, argv[i + 1]);
			o.image = argv[++i];
		} else if (strcmp(opt, "--initrd") == 0) {
			if (!argv[i + 1])
				die_usage("--initrd needs a file name");
			o.initrd = argv[++i];
		} else if (strcmp(opt, "--serial") == 0) {
			if (!argv[i + 1])
				die_usage("--serial needs a file name");
			m.serial_path = argv[++i];
		} else if (strcmp(opt, "--memory-report") == 0) {
			o.memory_report = true;
		} else if (strcmp(opt, "--swap") == 0) {
			if (!argv[i + 1])
				die_usage("--swap needs FILE[,size=SIZE]");
			if (swap_parse_spec(argv[++i], &o.swap))
				die_usage("%s", mv_error());
			o.swap_given = true;
		} else if (strcmp(opt, "--stats") == 0) {
			if (!argv[i + 1])
				die_usage("--stats needs a file name");
			o.stats_path = argv[++i];
		} else if (strcmp(opt, "--fault-around") == 0) {
			o.mem.cluster_pages = parse_uint(opt, argv[++i], 1, GMEM_MAX_CLUSTER_PAGES);
			if (o.mem.cluster_pages & (o.mem.cluster_pages - 1))
				die_usage("--fault-around: %u is not a power of two", o.mem.cluster_pages);
		} else if (strcmp(opt, "--fault-threads") == 0) {
			o.mem.fault_threads = parse_uint(opt, argv[++i], 1, GMEM_MAX_FAULT_THREADS);
		} else if (strcmp(opt, "--prefault") == 0) {
			o.mem.prefault = true;
		} else if (strcmp(opt, "--mem-request") == 0) {
			if (!argv[i + 1])
				die_usage("--mem-request needs ACTION,at=MS,node=N|gpa=A,len=L[,to=N]");
			if (memreq_parse(&o.requests, argv[++i]))
				die_usage("%s", mv_error());
		} else if (strcmp(opt, "--balloon") == 0) {
			/* the value is optional: the next word is one if it has KEY=VALUE in it */
			const char *spec = argv[i + 1] && strchr(argv[i + 1], '=') ? argv[++i] : "";

			if (virtio_balloon_parse(&o.balloon, spec))
				die_usage("%s", mv_error());
		} else if (strcmp(opt, "--qmp") == 0) {
			if (!argv[i + 1])
				die_usage("--qmp needs unix:PATH[,server=on][,wait=on|off]");
			if (qmp_parse_spec(argv[++i], &o.qmp))
				die_usage("%s", mv_error());
			o.qmp_given = true;
		} else if (strcmp(opt, "--trace") == 0) {
			if (!argv[i + 1])
				die_usage("--trace needs FILE[,interval=MS][,progress=S]");
			if (trace_parse_spec(argv[++i], &o.trace))
				die_usage("%s", mv_error());
			o.trace_given = true;
		} else if (strcmp(opt, "--seccomp") == 0) {
			if (!argv[i + 1])
				die_usage("--seccomp needs true, false or log");
			if (seccomp_parse(argv[++i], &o.seccomp))
				die_usage("%s", mv_error());
		} else if (strcmp(opt, "--fault-inject") == 0) {
			struct faultinj_spec spec;

			if (!argv[i + 1])
				die_usage("--fault-inject needs SITE[,KEY=VALUE...] (or help)");
			if (strcmp(argv[++i], "help") == 0) {
				faultinj_print_help(stdout);
				exit(0);
			}
			if (faultinj_parse(argv[i], &spec) || faultinj_apply(&fi, &spec))
				die_usage("%s", mv_error());
		} else if (strcmp(opt, "--fault-seed") == 0) {
			char *end;
			unsigned long long seed;

			if (!argv[i + 1])
				die_usage("--fault-seed needs a number");
			errno = 0;
			seed = strtoull(argv[++i], &end, 0);
			if (errno || end == argv[i] || *end || argv[i][0] == '-')
				die_usage("--fault-seed: '%s' is not a number", argv[i]);
			faultinj_reseed(&fi, seed);
		} else if (opt[0] == '-' && opt[1]) {
			die_usage("run: unknown option '%s'", opt);
		} else if (o.image) {
			die_usage("run: more than one image ('%s' and '%s')", o.image, opt);
		} else {
			o.image = opt;
		}
	}
	if (!o.image)
		die_usage("run: no image given");
	if (machine_finish(&m) || memreq_check(&o.requests, &m))
		die_usage("%s", mv_error());
	if (memreq_wants_balloon(&o.requests) && !o.balloon.given)
		die_usage("--mem-request balloon-target needs --balloon");
	if (o.balloon.given) {
		uint64_t ram = 0;

		for (unsigned n = 0; n < m.nr_nodes; n++)
			ram += m.nodes[n].size;
		if (o.balloon.target > ram)
			die_usage("--balloon target=%llu bytes is more than guest RAM (%llu bytes)",
				  (unsigned long long)o.balloon.target, (unsigned long long)ram);
	}
	status = run_machine(&m, &o);
	faultinj_destroy(&fi);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die_usage("no command given");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("memvisor %s\n", MEMVISOR_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "selfcheck") == 0)
		return cmd_selfcheck(argc - 2, argv + 2);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	die_usage("unknown command '%s'", argv[1]);
}
