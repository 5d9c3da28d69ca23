/*
 * mvtest.c — the runner behind mvtest.h: a registry of TEST()s, selection by name, and
 * failure reporting. Single-threaded runner; tests may start threads of their own.
 */
#include "mvtest.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

#define MVT_MAX_TESTS 512

static struct { const char *name; mvt_fn fn; } tests[MVT_MAX_TESTS];
static unsigned nr_tests;
static jmp_buf fail_jmp;
static const char *current;

void mvt_register(const char *name, mvt_fn fn)
{
	if (nr_tests == MVT_MAX_TESTS) {
		fprintf(stderr, "mvtest: more than %d tests in one binary\n", MVT_MAX_TESTS);
		exit(2);
	}
	tests[nr_tests].name = name;
	tests[nr_tests].fn = fn;
	nr_tests++;
}

void mvt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s at %s:%d: ", current ? current : "?", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	longjmp(fail_jmp, 1);
}

static int run_one(unsigned i)
{
	current = tests[i].name;
	mvt_clear_reports();
	if (setjmp(fail_jmp) == 0) {
		tests[i].fn();
		printf("ok %s\n", tests[i].name);
		return 0;
	}
	printf("not ok %s\n", tests[i].name);
	return 1;
}

int mvt_main(int argc, char **argv)
{
	int failed = 0, ran = 0;

	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (unsigned i = 0; i < nr_tests; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	for (unsigned i = 0; i < nr_tests; i++) {
		bool wanted = argc <= 1;
		for (int a = 1; a < argc && !wanted; a++)
			wanted = strcmp(argv[a], tests[i].name) == 0;
		if (!wanted)
			continue;
		ran++;
		failed += run_one(i);
	}
	if (ran == 0) {
		fprintf(stderr, "mvtest: no test matched (try --list)\n");
		return 2;
	}
	printf("%d passed, %d failed\n", ran - failed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	return mvt_main(argc, argv);
}
