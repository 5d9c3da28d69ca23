/*
 * fuzz_qmp — libFuzzer target for the JSON parser (vmm/json.h) and the QMP dispatcher
 * (vmm/qmp.h). Each input is one message as a client would send it. Checked, else abort:
 *   - a refusal records a message; a parsed value written back out parses again to the same
 *     text (the writer and parser agree);
 *   - in stream mode a value ends inside the input;
 *   - the dispatcher answers every input, for a client before and after negotiation, with one
 *     JSON object holding exactly "return" or "error" (plus "id"), against a fake machine that
 *     accepts everything (so every command's reply path runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_ASSERT(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_qmp: %s:%d: %s (last error: %s)\n", __FILE__, \
				__LINE__, #cond, mv_error()); \
			abort(); \
		} \
	} while (0)

static bool fz_running = true;

static int fz_stop(void *ctx) { fz_running = false; return 0; }
static int fz_cont(void *ctx) { fz_running = true; return 0; }
static bool fz_is_running(void *ctx) { return fz_running; }
static void fz_quit(void *ctx) { }
static int fz_tid(void *ctx, unsigned cpu) { return (int)cpu + 1; }

static void fz_stats(void *ctx, struct gmem_stats *st, unsigned *cluster_pages)
{
	memset(st, 0, sizeof(*st));
	st->nr_nodes = 2;
	*cluster_pages = 16;
}

static int fz_request(void *ctx, const struct memreq *r, uint64_t *pages)
{
	*pages = r->len / 4096;
	return r->gpa & 1 ? mv_fail(22, "odd gpa (fake)") : 0;
}

static int fz_budget(void *ctx, unsigned node, uint64_t bytes) { return 0; }

static unsigned fz_interval;

static int fz_balloon_set(void *ctx, uint64_t bytes) { return 0; }
static uint64_t fz_balloon_size(void *ctx) { return 4096; }

static void fz_guest_stats(void *ctx, struct qmp_guest_stats *gs)
{
	for (unsigned i = 0; i < QMP_GUEST_STATS_NR; i++)
		gs->val[i] = i & 1 ? UINT64_MAX : i;
	gs->last_update = 1;
}

static unsigned fz_get_interval(void *ctx) { return fz_interval; }

static int fz_set_interval(void *ctx, uint64_t s)
{
	if (s > 3600)
		return mv_fail(22, "too long (fake)");
	fz_interval = (unsigned)s;
	return 0;
}

static const struct qmp_ops fz_ops = {
	.stop = fz_stop, .cont = fz_cont, .running = fz_is_running, .quit = fz_quit,
	.vcpu_thread_id = fz_tid, .mem_stats = fz_stats, .mem_request = fz_request,
	.set_budget = fz_budget, .balloon_set = fz_balloon_set, .balloon_size = fz_balloon_size,
	.balloon_guest_stats = fz_guest_stats, .balloon_get_interval = fz_get_interval,
	.balloon_set_interval = fz_set_interval,
};

static void check_roundtrip(const struct json *v)
{
	struct json_writer w1, w2;
	struct json *v2;
	const char *t1, *t2;
	size_t len;

	json_writer_init(&w1);
	json_value(&w1, v);
	t1 = json_writer_text(&w1, &len);
	FZ_ASSERT(t1);
	FZ_ASSERT(json_parse(t1, len, false, &v2, NULL) == 0);
	json_writer_init(&w2);
	json_value(&w2, v2);
	t2 = json_writer_text(&w2, NULL);
	FZ_ASSERT(t2 && strcmp(t1, t2) == 0);
	json_free(v2);
	json_writer_free(&w1);
	json_writer_free(&w2);
}

/* The reply is one object with "return" or "error" (and maybe "id"). */
static void check_reply(struct json_writer *w)
{
	size_t len;
	const char *text = json_writer_text(w, &len);
	struct json *r;

	FZ_ASSERT(text);
	FZ_ASSERT(json_parse(text, len, false, &r, NULL) == 0);
	FZ_ASSERT(r->type == JSON_OBJECT);
	FZ_ASSERT(!json_get(r, "return") != !json_get(r, "error"));
	FZ_ASSERT(r->u.obj.n == 1 + (json_get(r, "id") != NULL));
	if (json_get(r, "error")) {
		const struct json *e = json_get(r, "error");

		FZ_ASSERT(json_get(e, "class") && json_get(e, "class")->type == JSON_STRING);
		FZ_ASSERT(json_get(e, "desc") && json_get(e, "desc")->u.str.len > 0);
	}
	json_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct machine_config m;
	static struct qmp q;
	static struct faultinj fi;      /* the fault-injection commands arm sites nobody asks */
	static bool init;
	struct qmp_client c = { .fd = -1 };
	const char *text = (const char *)data;
	struct json_writer w;
	struct json *v;
	size_t end;
	int err;

	if (!init) {
		machine_init(&m);
		FZ_ASSERT(machine_finish(&m) == 0);
		FZ_ASSERT(qmp_init(&q, &m, &fz_ops, NULL) == 0);
		faultinj_init(&fi, 1);
		q.fi = &fi;
		init = true;
	}
	mv_error_clear();
	err = json_parse(text, size, false, &v, NULL);
	if (err) {
		FZ_ASSERT(v == NULL && mv_error()[0]);
	} else {
		check_roundtrip(v);
		json_free(v);
	}
	if (json_parse(text, size, true, &v, &end) == 0) {
		FZ_ASSERT(end <= size);
		json_free(v);
	}
	for (int negotiated = 0; negotiated < 2; negotiated++) {
		c.negotiated = negotiated;
		json_writer_init(&w);
		qmp_handle_message(&q, &c, text, size, &w);
		check_reply(&w);
		json_writer_free(&w);
	}
	return 0;
}
