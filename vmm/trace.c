/*
 * vmm/trace.c — the `--trace` sampler (vmm/trace.h, docs/trace.md).
 *
 * Owns: the trace file, the sampler thread and its stop flag. Lock order: trace.lock →
 * gmem.lock (gmem_get_counters takes gmem's lock; trace.lock is never held across a sample).
 */
#define _GNU_SOURCE
#include "trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "seccomp_filter.h"

#define TRACE_SPEC_MAX 4096

static int parse_uint(const char *key, const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (!*v || *end || errno || *v == '-' || x < lo || x > hi)
		return mv_fail(EINVAL, "--trace %s=%s: expected a number in %u..%u", key, v, lo, hi);
	*out = (unsigned)x;
	return 0;
}

int trace_parse_spec(const char *arg, struct trace_spec *s)
{
	static char buf[TRACE_SPEC_MAX];    /* the path points into it: one --trace per run */
	char *save, *kv;

	s->path = NULL;
	s->interval_ms = TRACE_DEFAULT_INTERVAL_MS;
	s->progress_s = TRACE_DEFAULT_PROGRESS_S;
	if (!arg || !*arg || *arg == ',')
		return mv_fail(EINVAL, "--trace: no FILE (expected FILE[,interval=MS][,progress=S])");
	if (strlen(arg) >= sizeof(buf))
		return mv_fail(EINVAL, "--trace: the value is longer than %zu bytes", sizeof(buf) - 1);
	strcpy(buf, arg);
	s->path = strtok_r(buf, ",", &save);
	while ((kv = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(kv, '=');
		int err;

		if (!eq)
			return mv_fail(EINVAL, "--trace: '%s' is not KEY=VALUE (interval, progress)", kv);
		*eq = '\0';
		if (!strcmp(kv, "interval"))
			err = parse_uint("interval", eq + 1, 1, TRACE_MAX_INTERVAL_MS, &s->interval_ms);
		else if (!strcmp(kv, "progress"))
			err = parse_uint("progress", eq + 1, 0, TRACE_MAX_PROGRESS_S, &s->progress_s);
		else
			err = mv_fail(EINVAL, "--trace: unknown key '%s' (interval, progress)", kv);
		if (err)
			return err;
	}
	return 0;
}

int trace_open(struct trace *t, const struct trace_spec *s, struct gmem *g,
	       void (*extra)(FILE *f, void *arg), void *extra_arg)
{
	pthread_condattr_t ca;

	memset(t, 0, sizeof(*t));
	t->spec = *s;
	t->g = g;
	t->extra = extra;
	t->extra_arg = extra_arg;
	t->f = fopen(s->path, "we");
	if (!t->f)
		return mv_fail(errno, "--trace %s: %s", s->path, strerror(errno));
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

static uint64_t ms_since(const struct timespec *a, const struct timespec *b)
{
	return (uint64_t)(b->tv_sec - a->tv_sec) * 1000 +
	       (uint64_t)((b->tv_nsec - a->tv_nsec) / 1000000);
}

/* One JSON line: {"t_ms": T, "nodes": [{...}, ...], <global counters>, <extra>}. */
static void sample(struct trace *t, uint64_t t_ms, struct gmem_stats *st)
{
	FILE *f = t->f;

	gmem_get_counters(t->g, st);
	fprintf(f, "{\"t_ms\": %" PRIu64 ", \"nodes\": [", t_ms);
	for (unsigned n = 0; n < st->nr_nodes; n++) {
		const struct gmem_node_stats *s = &st->node[n];

		fprintf(f, "%s{\"node\": %u", n ? ", " : "", n);
#define X(field) fprintf(f, ", \"" #field "\": %" PRIu64, s->field);
		GMEM_NODE_STAT_FIELDS(X)
#undef X
		fputc('}', f);
	}
	fputc(']', f);
#define X(field) fprintf(f, ", \"" #field "\": %" PRIu64, st->field);
	GMEM_STAT_FIELDS(X)
#undef X
	if (t->extra)
		t->extra(f, t->extra_arg);
	fputs("}\n", f);
	if ((fflush(f) || ferror(f)) && !t->write_err)
		t->write_err = errno ? errno : EIO;
	t->lines++;
}

/* "memvisor: trace 10 s: node 0 8000/8192 KiB used, 128 KiB swapped, 0 KiB ballooned; ..." */
static void progress(const struct trace *t, uint64_t t_ms, const struct gmem_stats *st)
{
	uint64_t faults = 0, outs = 0, ins = 0, migr = 0;
	const uint64_t kib = MM_PAGE_SIZE >> 10;

	fprintf(stderr, "memvisor: trace %" PRIu64 " s:", t_ms / 1000);
	for (unsigned n = 0; n < st->nr_nodes; n++) {
		const struct gmem_node_stats *s = &st->node[n];

		fprintf(stderr, "%s node %u %" PRIu64 "/%" PRIu64 " KiB used, %" PRIu64
			" KiB swapped, %" PRIu64 " KiB ballooned", n ? ";" : "", n,
			s->frames_used * kib, s->frames_total * kib, s->pages_swapped * kib,
			s->pages_ballooned * kib);
		faults += s->faults_zero + s->faults_swapin + s->faults_minor + s->faults_balloon;
		outs += s->swap_outs;
		ins += s->swap_ins;
		migr += s->migrations_in;
	}
	fprintf(stderr, "; faults %" PRIu64 ", swap-outs %" PRIu64 ", swap-ins %" PRIu64
		", migrations %" PRIu64 " (%" PRIu64 " samples in %s)\n", faults, outs, ins, migr,
		t->lines, t->spec.path);
}

static void *trace_thread(void *arg)
{
	struct trace *t = arg;
	struct timespec next = t->start, now;
	uint64_t next_progress_ms = (uint64_t)t->spec.progress_s * 1000;
	struct gmem_stats st;

	seccomp_enter(THREAD_MEMORY, "trace");
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		uint64_t t_ms;

		pthread_mutex_unlock(&t->lock);
		clock_gettime(CLOCK_MONOTONIC, &now);
		t_ms = ms_since(&t->start, &now);
		sample(t, t_ms, &st);
		if (t->spec.progress_s && t_ms >= next_progress_ms) {
			progress(t, t_ms, &st);
			next_progress_ms += (uint64_t)t->spec.progress_s * 1000;
		}
		next.tv_nsec += (long)(t->spec.interval_ms % 1000) * 1000000;
		next.tv_sec += t->spec.interval_ms / 1000 + next.tv_nsec / 1000000000;
		next.tv_nsec %= 1000000000;
		pthread_mutex_lock(&t->lock);
		while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, &next) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int trace_start(struct trace *t)
{
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t->start);
	err = pthread_create(&t->thread, NULL, trace_thread, t);
	if (err)
		return mv_fail(err, "--trace: cannot start the sampler thread: %s", strerror(err));
	t->started = true;
	return 0;
}

int trace_close(struct trace *t)
{
	struct gmem_stats st;
	struct timespec now;
	int err = 0;

	if (!t->f)
		return 0;
	if (t->started) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		sample(t, ms_since(&t->start, &now), &st);      /* the state at the end */
	}
	if (fclose(t->f) && !t->write_err)
		t->write_err = errno ? errno : EIO;
	t->f = NULL;
	if (t->write_err)
		err = mv_fail(t->write_err, "--trace %s: writing failed: %s", t->spec.path,
			      strerror(t->write_err));
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	return err;
}
