/* bench.c — implementation of bench.h: monotonic clock, medians, table printing. */
#define _GNU_SOURCE
#include "bench.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median_ns(bench_fn fn, void *arg, uint64_t iters, unsigned reps)
{
	double v[64];

	if (reps == 0 || reps > 64)
		reps = 9;
	fn(arg, iters);
	for (unsigned i = 0; i < reps; i++) {
		uint64_t t0 = bench_now_ns();

		fn(arg, iters);
		v[i] = (double)(bench_now_ns() - t0) / (double)iters;
	}
	qsort(v, reps, sizeof(v[0]), cmp_double);
	return v[reps / 2];
}

void bench_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

void bench_table_begin(const char *title, const char *unit)
{
	printf("\n### %s\n\n| %-44s | %12s | %10s | %s\n|%s|%s|%s|%s\n", title, "case", unit, "ratio",
	       "note |", "----------------------------------------------", "--------------",
	       "------------", "------|");
}

void bench_table_row(const char *name, double value, double ratio_ref, const char *note)
{
	char ratio[32] = "";

	if (ratio_ref > 0)
		snprintf(ratio, sizeof(ratio), "%.2fx", value / ratio_ref);
	printf("| %-44s | %12.2f | %10s | %s |\n", name, value, ratio, note ? note : "");
	fflush(stdout);
}

int bench_target(const char *what, double value, double limit, int lower_is_better)
{
	int met = lower_is_better ? value <= limit : value >= limit;

	printf("target: %s — %s (%.2f vs limit %.2f)\n", what, met ? "met" : "NOT MET", value, limit);
	return met;
}
