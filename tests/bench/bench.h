/*
 * bench.h — timing and reporting for tests/bench.
 *
 * Every figure is the median over `reps` repetitions of a timed loop, in ns per operation, and
 * every table compares against peers measured in the same process run: this machine is itself a
 * guest, so only same-run ratios are meaningful (see docs/benchmarks.md).
 *
 *   static void pair(void *arg, uint64_t n) { ... n operations ... }
 *   double ns = bench_median_ns(pair, &ctx, 1 << 20, 9);
 *   bench_table_begin("buddy order-0 alloc+free pair", "ns/op");
 *   bench_table_row("memvisor buddy (pcp)", ns, ns_peer, "Linux anchor");
 */
#ifndef MV_BENCH_H
#define MV_BENCH_H

#include <stdint.h>

typedef void (*bench_fn)(void *arg, uint64_t iters);

uint64_t bench_now_ns(void);
/* Median ns per iteration of fn(arg, iters) over reps runs (one untimed warm-up run first). */
double bench_median_ns(bench_fn fn, void *arg, uint64_t iters, unsigned reps);
/* Pin the calling thread to one CPU so runs are comparable (no-op if it fails). */
void bench_pin_cpu(int cpu);

/* A table: one header, rows of "name  value  ratio-to-reference". */
void bench_table_begin(const char *title, const char *unit);
/* ratio_ref <= 0 prints no ratio column; note may be NULL. */
void bench_table_row(const char *name, double value, double ratio_ref, const char *note);
/* A target line: "target: <what> — met/NOT MET (value vs limit)". Returns 1 if met. */
int bench_target(const char *what, double value, double limit, int lower_is_better);

/* Keep the optimiser from deleting a computed value. */
static inline void bench_keep(const void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

#endif /* MV_BENCH_H */
