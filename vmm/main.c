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
	      "  selfcheck [--node-mib N]   drive the mm/ library (buddy, NUMA policies, slab,\n"
	      "                             VMA tree, EPT stage-2) over two host-memory NUMA nodes of\n"
	      "                             N MiB each (default 64, 4..4096) and run every checker\n"
	      "  --version                  print the version\n"
	      "  --help                     this text\n"
	      "\n"
	      "Booting guests (memvisor run) arrives with the VMM core; see docs/architecture.md.\n",
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
	die_usage("unknown command '%s'", argv[1]);
}
