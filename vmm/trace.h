/*
 * vmm/trace.h — `--trace FILE`: guest-memory figures over time, as JSON lines (docs/trace.md).
 *
 * A sampler thread ("trace", seccomp kind memory) writes one line every interval: the time since
 * the guest started, every per-node and global counter of gmem (the names of --stats), and what
 * the owner's extra callback adds (the balloon's target and size). The last line is written when
 * the run ends, so a short run still has a first and a last sample. Every `progress` seconds it
 * also prints one line on stderr, so long runs (soak) show they are alive.
 *
 * tools/plot-trace renders a trace as a PNG with gnuplot.
 *
 * Lock order: trace.lock → gmem.lock (the sample reads gmem's counters under gmem's own lock;
 * trace.lock only guards stop).
 */
#ifndef MV_TRACE_H
#define MV_TRACE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "gmem.h"

#define TRACE_DEFAULT_INTERVAL_MS 100
#define TRACE_MAX_INTERVAL_MS     60000
#define TRACE_DEFAULT_PROGRESS_S  10
#define TRACE_MAX_PROGRESS_S      3600

struct trace_spec {
	const char *path;
	unsigned interval_ms;       /* 1..TRACE_MAX_INTERVAL_MS */
	unsigned progress_s;        /* 0 = no progress lines */
};

struct trace {
	struct trace_spec spec;
	FILE *f;
	struct gmem *g;
	void (*extra)(FILE *f, void *arg);  /* writes `, "key": value` pairs, no newline */
	void *extra_arg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* CLOCK_MONOTONIC: stop wakes the sampler early */
	bool stop, started;
	struct timespec start;      /* when the guest started (trace_start) */
	uint64_t lines;
	int write_err;              /* first failed write (errno), reported by trace_stop */
};

/* "FILE[,interval=MS][,progress=S]"; -EINVAL with mv_error() naming the bad part. */
int trace_parse_spec(const char *arg, struct trace_spec *s);

/* Open (truncate) the file; -errno with mv_error() naming the path. Nothing runs yet. */
int trace_open(struct trace *t, const struct trace_spec *s, struct gmem *g,
	       void (*extra)(FILE *f, void *arg), void *extra_arg)
	__attribute__((warn_unused_result));

/* Start sampling now (time 0). -errno with mv_error() set. */
int trace_start(struct trace *t) __attribute__((warn_unused_result));

/*
 * Write the last sample, stop the thread (if started) and close the file. 0, or -errno with
 * mv_error() naming the path when a write failed during the run.
 */
int trace_close(struct trace *t);

#endif /* MV_TRACE_H */
