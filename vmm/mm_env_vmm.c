/*
 * mm_env_vmm.c — the VMM's BUG and report hooks for mm/ (locks and CPU ids: mm_env_host.c).
 * A BUG in mm/ means the VMM's view of memory is corrupt: print and abort, never carry on.
 * Reports (bad arguments) are logged on stderr; the failing call returns -EINVAL to its caller.
 */
#include <mm/env.h>

#include <stdio.h>
#include <stdlib.h>

void mm_env_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "memvisor: mm BUG at %s:%d: %s\n", file, line, what);
	abort();
}

void mm_env_report(const char *func, const char *what)
{
	fprintf(stderr, "memvisor: mm: %s: %s\n", func, what);
}
