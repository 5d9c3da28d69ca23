/*
 * mm_env_test.c — mm/env.h implemented for hosted tests, benchmarks and fuzzers.
 *
 * - mm_env_bug(): longjmps to an armed CHECK_BUG(), otherwise prints and aborts.
 * - mm_env_report(): remembers the last report per thread (mvt_last_report); prints it when
 *   MVTEST_VERBOSE is set.
 * - Locks and CPU ids come from vmm/mm_env_host.c, shared with the VMM.
 */
#include <mm/env.h>

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvtest.h"

__thread jmp_buf *mvt_bug_jmp;
__thread const char *mvt_bug_what;

static __thread char last_report[256];
static __thread unsigned report_count;

void mm_env_bug(const char *file, int line, const char *what)
{
	if (mvt_bug_jmp) {
		jmp_buf *jb = mvt_bug_jmp;

		mvt_bug_what = what;
		mvt_bug_jmp = NULL;
		longjmp(*jb, 1);
	}
	fprintf(stderr, "mm BUG at %s:%d: %s\n", file, line, what);
	abort();
}

void mm_env_report(const char *func, const char *what)
{
	snprintf(last_report, sizeof(last_report), "%s: %s", func, what);
	report_count++;
	if (getenv("MVTEST_VERBOSE"))
		fprintf(stderr, "mm report: %s\n", last_report);
}

const char *mvt_last_report(void) { return last_report; }
unsigned mvt_report_count(void) { return report_count; }
void mvt_clear_reports(void) { last_report[0] = '\0'; report_count = 0; }
