/*
 * memreq.c — --mem-request (memreq.h): parsing, and one thread that sleeps until each request
 * is due and hands it to gmem. Lock: memreq_list.lock guards `stop` only (the runner's sleep).
 */
#include "memreq.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "machine.h"
#include "seccomp_filter.h"

#define MEMREQ_SPEC_MAX  256
#define MEMREQ_MAX_MS    3600000u

static const char *const memreq_names[] = {
	[MEMREQ_PAGE_OUT] = "page-out", [MEMREQ_PAGE_IN] = "page-in", [MEMREQ_MIGRATE] = "migrate",
	[MEMREQ_BALLOON_TARGET] = "balloon-target",
};

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

/* One KEY=VALUE of a request; *seen collects the keys given (bit per key below). */
enum { K_AT = 1, K_NODE = 2, K_GPA = 4, K_LEN = 8, K_TO = 16, K_SIZE = 32 };

static int parse_kv(struct memreq *r, const char *key, const char *val, unsigned *seen)
{
	uint64_t v;

	if (strcmp(key, "at") == 0) {
		if (parse_u64(val, &v) || v > MEMREQ_MAX_MS)
			return mv_fail(EINVAL, "--mem-request: at=%s is not 0..%u ms", val, MEMREQ_MAX_MS);
		r->at_ms = v;
		*seen |= K_AT;
	} else if (strcmp(key, "node") == 0 || strcmp(key, "to") == 0) {
		bool to = key[0] == 't';

		if (parse_u64(val, &v) || v >= MM_MAX_NODES)
			return mv_fail(EINVAL, "--mem-request: %s=%s is not a node id 0..%d", key, val,
				       MM_MAX_NODES - 1);
		if (to)
			r->to = (unsigned)v;
		else
			r->node = (unsigned)v;
		*seen |= to ? K_TO : K_NODE;
	} else if (strcmp(key, "gpa") == 0) {
		if (parse_u64(val, &v) || v % MM_PAGE_SIZE)
			return mv_fail(EINVAL, "--mem-request: gpa=%s is not a page-aligned address",
				       val);
		r->gpa = v;
		*seen |= K_GPA;
	} else if (strcmp(key, "len") == 0) {
		if (machine_parse_size(val, &v) || !v || v % MM_PAGE_SIZE)
			return mv_fail(EINVAL, "--mem-request: len=%s is not a non-zero multiple of "
				       "4 KiB", val);
		r->len = v;
		*seen |= K_LEN;
	} else if (strcmp(key, "size") == 0) {
		if (machine_parse_size(val, &v))
			return mv_fail(EINVAL, "--mem-request: size=%s is not a size (e.g. 64M)", val);
		r->len = v;
		*seen |= K_SIZE;
	} else {
		return mv_fail(EINVAL, "--mem-request: unknown key '%s' (known: at, node, gpa, len, "
			       "to, size)", key);
	}
	return 0;
}

int memreq_parse(struct memreq_list *l, const char *spec)
{
	char buf[MEMREQ_SPEC_MAX], *save = NULL, *tok;
	struct memreq r = { 0 };
	unsigned seen = 0, a;
	int err;

	if (l->nr == MEMREQ_MAX)
		return mv_fail(EINVAL, "--mem-request: at most %d requests", MEMREQ_MAX);
	if (strlen(spec) >= sizeof(buf))
		return mv_fail(EINVAL, "--mem-request: value longer than %d characters",
			       MEMREQ_SPEC_MAX - 1);
	snprintf(buf, sizeof(buf), "%s", spec);
	tok = strtok_r(buf, ",", &save);
	for (a = 0; tok && a < sizeof(memreq_names) / sizeof(memreq_names[0]); a++)
		if (strcmp(tok, memreq_names[a]) == 0)
			break;
	if (!tok || a == sizeof(memreq_names) / sizeof(memreq_names[0]))
		return mv_fail(EINVAL, "--mem-request: '%s' does not start with page-out, page-in, "
			       "migrate or balloon-target", spec);
	r.action = (enum memreq_action)a;
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq)
			return mv_fail(EINVAL, "--mem-request: '%s' is not KEY=VALUE", tok);
		*eq = '\0';
		err = parse_kv(&r, tok, eq + 1, &seen);
		if (err)
			return err;
	}
	if (!(seen & K_AT))
		return mv_fail(EINVAL, "--mem-request: at=MS is required");
	if (r.action == MEMREQ_BALLOON_TARGET) {
		if (seen != (K_AT | K_SIZE))
			return mv_fail(EINVAL, "--mem-request: balloon-target takes at=MS and size=SIZE "
				       "only");
		l->r[l->nr++] = r;
		return 0;
	}
	if (seen & K_SIZE)
		return mv_fail(EINVAL, "--mem-request: size= is only for balloon-target");
	if (!!(seen & K_NODE) == !!(seen & (K_GPA | K_LEN)) ||
	    (!(seen & K_NODE) && (seen & (K_GPA | K_LEN)) != (K_GPA | K_LEN)))
		return mv_fail(EINVAL, "--mem-request: give either node=N or both gpa= and len=");
	if ((r.action == MEMREQ_MIGRATE) != !!(seen & K_TO))
		return mv_fail(EINVAL, "--mem-request: to=N is %s", r.action == MEMREQ_MIGRATE ?
			       "required by migrate" : "only for migrate");
	r.by_node = seen & K_NODE;
	l->r[l->nr++] = r;
	return 0;
}

int memreq_check(const struct memreq_list *l, const struct machine_config *m)
{
	for (unsigned i = 0; i < l->nr; i++) {
		const struct memreq *r = &l->r[i];

		if ((r->by_node && r->node >= m->nr_nodes) ||
		    (r->action == MEMREQ_MIGRATE && r->to >= m->nr_nodes))
			return mv_fail(EINVAL, "--mem-request %u: node %u does not exist (the machine "
				       "has %u nodes)", i + 1, r->by_node && r->node >= m->nr_nodes ?
				       r->node : r->to, m->nr_nodes);
	}
	return 0;
}

bool memreq_wants_balloon(const struct memreq_list *l)
{
	for (unsigned i = 0; i < l->nr; i++)
		if (l->r[i].action == MEMREQ_BALLOON_TARGET)
			return true;
	return false;
}

int memreq_run(struct gmem *g, const struct memreq *r, uint64_t *pages)
{
	switch (r->action) {
	case MEMREQ_BALLOON_TARGET:
		break;                  /* a device request, not the engine's: memreq_do */
	case MEMREQ_PAGE_OUT:
		return r->by_node ? gmem_node_page_out(g, r->node, pages)
				  : gmem_page_out(g, r->gpa, r->len, pages);
	case MEMREQ_PAGE_IN:
		return r->by_node ? gmem_node_page_in(g, r->node, pages)
				  : gmem_page_in(g, r->gpa, r->len, pages);
	case MEMREQ_MIGRATE:
		return r->by_node ? gmem_node_migrate(g, r->node, r->to, pages)
				  : gmem_migrate(g, r->gpa, r->len, r->to, pages);
	}
	return mv_fail(EINVAL, "not a guest-memory engine request");
}

/* One request of the --mem-request list: the balloon's target, or the engine's memreq_run. */
static int memreq_do(struct memreq_list *l, const struct memreq *r, uint64_t *pages)
{
	if (r->action != MEMREQ_BALLOON_TARGET)
		return memreq_run(l->g, r, pages);
	if (!l->balloon_target)
		return mv_fail(ENODEV, "no balloon device (give --balloon)");
	l->balloon_target(l->balloon_arg, r->len);
	*pages = r->len / MM_PAGE_SIZE;
	return 0;
}

static void memreq_describe(const struct memreq *r, char *buf, size_t size)
{
	int n;

	if (r->action == MEMREQ_BALLOON_TARGET) {
		snprintf(buf, size, "balloon-target %" PRIu64 " KiB", r->len >> 10);
		return;
	}
	n = r->by_node ? snprintf(buf, size, "%s node %u", memreq_names[r->action], r->node)
			   : snprintf(buf, size, "%s 0x%" PRIx64 "+0x%" PRIx64,
				      memreq_names[r->action], r->gpa, r->len);

	if (r->action == MEMREQ_MIGRATE && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " to node %u", r->to);
}

static void *memreq_thread(void *arg)
{
	struct memreq_list *l = arg;
	struct timespec start;

	seccomp_enter(THREAD_MEMORY, "mem-request");
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned i = 0; i < l->nr; i++) {
		const struct memreq *r = &l->r[i];
		struct timespec due = start;
		char what[128];
		uint64_t pages = 0;
		bool stop = false;
		int err;

		due.tv_sec += (time_t)(r->at_ms / 1000);
		due.tv_nsec += (long)(r->at_ms % 1000) * 1000000L;
		if (due.tv_nsec >= 1000000000L) {
			due.tv_sec++;
			due.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&l->lock);
		while (!l->stop && pthread_cond_timedwait(&l->cond, &l->lock, &due) != ETIMEDOUT)
			;
		stop = l->stop;
		pthread_mutex_unlock(&l->lock);
		memreq_describe(r, what, sizeof(what));
		if (stop) {
			fprintf(stderr, "memvisor: request %s at %" PRIu64 " ms: not run (the guest "
				"ended first)\n", what, r->at_ms);
			continue;
		}
		err = memreq_do(l, r, &pages);
		if (err)
			fprintf(stderr, "memvisor: request %s at %" PRIu64 " ms: failed after %" PRIu64
				" pages: %s\n", what, r->at_ms, pages, mv_error());
		else
			fprintf(stderr, "memvisor: request %s at %" PRIu64 " ms: done, %" PRIu64
				" pages\n", what, r->at_ms, pages);
	}
	return NULL;
}

int memreq_start(struct memreq_list *l, struct gmem *g)
{
	pthread_condattr_t ca;
	int err;

	if (!l->nr)
		return 0;
	l->g = g;
	l->stop = false;
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&l->thread, NULL, memreq_thread, l);
	if (err)
		return mv_fail(err, "cannot start the --mem-request thread: %s", strerror(err));
	l->started = true;
	return 0;
}

void memreq_stop(struct memreq_list *l)
{
	if (!l->started)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	l->started = false;
}
