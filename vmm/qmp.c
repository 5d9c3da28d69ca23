/*
 * qmp.c — the QMP control socket (qmp.h, docs/qmp.md): the listener thread, message framing,
 * the dispatcher with its command table, and events.
 *
 * Framing: a client's bytes accumulate in its input buffer; each complete JSON value at its
 * front is one message (json_parse in prefix mode says "incomplete" until it is whole). A
 * message longer than QMP_MAX_MESSAGE gets an error reply and the connection is closed (there is
 * no way to resynchronise inside it). A syntax error gets an error reply and the input up to
 * the next newline is dropped, so a line-oriented client (socat, tools/qmp-client) goes on.
 *
 * Lock order: qmp.lock → nothing. The lock is held for the client table and for writes to
 * client sockets; never while a command runs.
 */
#define _GNU_SOURCE                     /* accept4 */
#include "qmp.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "seccomp_filter.h"

#define QMP_VERSION_MAJOR  0
#define QMP_VERSION_MINOR  1
#define QMP_VERSION_MICRO  0
#define QMP_PACKAGE        "memvisor 0.1.0"
#define QMP_READ_CHUNK     4096

/* ---- --qmp unix:PATH[,server=on][,wait=on|off] -------------------------------------------- */

static int parse_onoff(const char *key, const char *val, bool *out)
{
	if (strcmp(val, "on") == 0)
		*out = true;
	else if (strcmp(val, "off") == 0)
		*out = false;
	else
		return mv_fail(EINVAL, "--qmp: %s=%s: expected on or off", key, val);
	return 0;
}

int qmp_parse_spec(const char *s, struct qmp_spec *spec)
{
	char buf[QMP_PATH_MAX + 64], *save = NULL, *tok;
	bool server = true;
	int err;

	memset(spec, 0, sizeof(*spec));
	spec->wait = true;
	if (strncmp(s, "unix:", 5) != 0)
		return mv_fail(EINVAL, "--qmp: '%s' does not start with unix: (only Unix sockets are "
			       "supported)", s);
	if (strlen(s) >= sizeof(buf))
		return mv_fail(EINVAL, "--qmp: value longer than %zu characters", sizeof(buf) - 1);
	snprintf(buf, sizeof(buf), "%s", s + 5);
	tok = strtok_r(buf, ",", &save);
	if (!tok || !*tok || buf[0] == ',')
		return mv_fail(EINVAL, "--qmp: unix: needs a socket path");
	if (strlen(tok) >= QMP_PATH_MAX)
		return mv_fail(EINVAL, "--qmp: socket path longer than %d bytes", QMP_PATH_MAX - 1);
	snprintf(spec->path, sizeof(spec->path), "%s", tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq)
			return mv_fail(EINVAL, "--qmp: '%s' is not KEY=VALUE", tok);
		*eq = '\0';
		if (strcmp(tok, "server") == 0)
			err = parse_onoff(tok, eq + 1, &server);
		else if (strcmp(tok, "wait") == 0)
			err = parse_onoff(tok, eq + 1, &spec->wait);
		else
			err = mv_fail(EINVAL, "--qmp: unknown key '%s' (known: server, wait)", tok);
		if (err)
			return err;
	}
	if (!server)
		return mv_fail(EINVAL, "--qmp: server=off (connecting out to a client) is not "
			       "supported; memvisor listens");
	return 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

/*
 * Write a whole message plus "\r\n" (QEMU ends each with CRLF) without blocking; lock held.
 * A client that cannot take it now is shut down (the listener then closes it): a half-written
 * message would leave its stream unparseable.
 */
static void send_locked(struct qmp_client *c, const char *text, size_t len)
{
	struct iovec iov[2] = { { (void *)text, len }, { (void *)"\r\n", 2 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	if (c->fd < 0)
		return;
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)(len + 2))
		shutdown(c->fd, SHUT_RDWR);
}

static void send_writer(struct qmp *q, struct qmp_client *c, struct json_writer *w)
{
	size_t len;
	const char *text = json_writer_text(w, &len);

	pthread_mutex_lock(&q->lock);
	if (text)
		send_locked(c, text, len);
	else if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);     /* no memory for the reply: drop the client */
	pthread_mutex_unlock(&q->lock);
}

static void timestamp(struct json_writer *w)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	json_key(w, "timestamp");
	json_obj_begin(w);
	json_kv_int(w, "seconds", (int64_t)t.tv_sec);
	json_kv_int(w, "microseconds", t.tv_nsec / 1000);
	json_obj_end(w);
}

void qmp_event(struct qmp *q, const char *name,
	       void (*data)(struct json_writer *w, void *arg), void *arg)
{
	struct json_writer w;
	const char *text;
	size_t len;

	json_writer_init(&w);
	json_obj_begin(&w);
	json_kv_str(&w, "event", name);
	if (data) {
		json_key(&w, "data");
		json_obj_begin(&w);
		data(&w, arg);
		json_obj_end(&w);
	}
	timestamp(&w);
	json_obj_end(&w);
	text = json_writer_text(&w, &len);
	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; text && i < QMP_MAX_CLIENTS; i++)
		if (q->clients[i].negotiated)
			send_locked(&q->clients[i], text, len);
	pthread_mutex_unlock(&q->lock);
	json_writer_free(&w);
}

/* ---- replies ------------------------------------------------------------------------------ */

static void reply_id(struct json_writer *w, const struct json *id)
{
	if (id) {
		json_key(w, "id");
		json_value(w, id);
	}
}

static void reply_error(struct json_writer *w, const char *cls, const char *desc,
			const struct json *id)
{
	json_obj_begin(w);
	json_key(w, "error");
	json_obj_begin(w);
	json_kv_str(w, "class", cls);
	json_kv_str(w, "desc", desc);
	json_obj_end(w);
	reply_id(w, id);
	json_obj_end(w);
}

/* ---- argument checking -------------------------------------------------------------------- */

enum qmp_arg_type { QA_UINT, QA_INT, QA_STR, QA_BOOL, QA_ARRAY, QA_ANY };

struct qmp_arg {
	const char *name;
	enum qmp_arg_type type;
	bool required;
};

#define QMP_MAX_ARGS 8

/* QEMU's wording (qobject-input-visitor.c) for each failure. */
static int check_args(const struct qmp_arg *spec, const struct json *args)
{
	static const char *const expected[] = {
		[QA_UINT] = "integer", [QA_INT] = "integer", [QA_STR] = "string", [QA_BOOL] = "boolean",
		[QA_ARRAY] = "array", [QA_ANY] = "any",
	};
	size_t nargs = args ? args->u.obj.n : 0;

	for (size_t i = 0; i < nargs; i++) {
		const char *key = args->u.obj.m[i].key;
		bool known = false;

		for (unsigned a = 0; a < QMP_MAX_ARGS && spec[a].name; a++)
			known |= strcmp(spec[a].name, key) == 0;
		if (!known)
			return mv_fail(EINVAL, "Parameter '%s' is unexpected", key);
	}
	for (unsigned a = 0; a < QMP_MAX_ARGS && spec[a].name; a++) {
		const struct json *v = json_get(args, spec[a].name);
		bool ok;

		if (!v) {
			if (spec[a].required)
				return mv_fail(EINVAL, "Parameter '%s' is missing", spec[a].name);
			continue;
		}
		switch (spec[a].type) {
		case QA_UINT:
			ok = v->type == JSON_NUMBER && v->u.num.is_int;
			if (ok && v->u.num.i < 0)
				return mv_fail(EINVAL, "Parameter '%s' expects uint64", spec[a].name);
			break;
		case QA_INT:
			ok = v->type == JSON_NUMBER && v->u.num.is_int;
			break;
		case QA_STR:
			ok = v->type == JSON_STRING;
			break;
		case QA_BOOL:
			ok = v->type == JSON_BOOL;
			break;
		case QA_ANY:                 /* the handler checks it (qom-set's value) */
			ok = true;
			break;
		default:
			ok = v->type == JSON_ARRAY;
			break;
		}
		if (!ok)
			return mv_fail(EINVAL, "Invalid parameter type for '%s', expected: %s",
				       spec[a].name, expected[spec[a].type]);
	}
	return 0;
}

/* A checked QA_UINT argument; false if absent. */
static bool arg_u64(const struct json *args, const char *name, uint64_t *v)
{
	const struct json *j = json_get(args, name);

	if (!j)
		return false;
	*v = (uint64_t)j->u.num.i;
	return true;
}

/* ---- commands ----------------------------------------------------------------------------- */

/* A handler writes exactly one value (the "return") to w, or fails with mv_fail(). */
typedef int (*qmp_handler)(struct qmp *q, const struct json *args, struct json_writer *w);

struct qmp_cmd {
	const char *name;
	qmp_handler fn;
	struct qmp_arg args[QMP_MAX_ARGS];
};

static int cmd_capabilities(struct qmp *q, const struct json *args, struct json_writer *w)
{
	const struct json *en = json_get(args, "enable");

	for (size_t i = 0; en && i < en->u.arr.n; i++) {
		const struct json *cap = en->u.arr.v[i];

		if (cap->type != JSON_STRING)
			return mv_fail(EINVAL, "Invalid parameter type for 'enable', expected: "
				       "string");
		return mv_fail(EINVAL, "Capability '%s' not available", cap->u.str.s);
	}
	json_obj_begin(w);
	json_obj_end(w);
	return 0;
}

static int cmd_query_status(struct qmp *q, const struct json *args, struct json_writer *w)
{
	bool running = q->ops->running(q->ctx);

	json_obj_begin(w);
	json_kv_bool(w, "running", running);
	json_kv_str(w, "status", running ? "running" : "paused");
	json_obj_end(w);
	return 0;
}

static int cmd_stop(struct qmp *q, const struct json *args, struct json_writer *w)
{
	bool was_running = q->ops->running(q->ctx);
	int err = q->ops->stop(q->ctx);

	if (err)
		return err;
	if (was_running)
		qmp_event(q, "STOP", NULL, NULL);
	json_obj_begin(w);
	json_obj_end(w);
	return 0;
}

static int cmd_cont(struct qmp *q, const struct json *args, struct json_writer *w)
{
	bool was_running = q->ops->running(q->ctx);
	int err = q->ops->cont(q->ctx);

	if (err)
		return err;
	if (!was_running)
		qmp_event(q, "RESUME", NULL, NULL);
	json_obj_begin(w);
	json_obj_end(w);
	return 0;
}

/* quit: the reply goes out first (qmp_dispatch), then SHUTDOWN, then the VM ends. */
static int cmd_quit(struct qmp *q, const struct json *args, struct json_writer *w)
{
	json_obj_begin(w);
	json_obj_end(w);
	return 0;
}

static void shutdown_data(struct json_writer *w, void *arg)
{
	json_kv_bool(w, "guest", false);
	json_kv_str(w, "reason", "host-qmp-quit");
}

static int cmd_query_cpus_fast(struct qmp *q, const struct json *args, struct json_writer *w)
{
	char path[64];

	json_arr_begin(w);
	for (unsigned i = 0; i < q->m->nr_cpus; i++) {
		json_obj_begin(w);
		json_kv_uint(w, "cpu-index", i);
		snprintf(path, sizeof(path), "/machine/unattached/device[%u]", i);
		json_kv_str(w, "qom-path", path);
		json_kv_int(w, "thread-id", q->ops->vcpu_thread_id(q->ctx, i));
		json_key(w, "props");
		json_obj_begin(w);
		json_kv_uint(w, "node-id", machine_cpu_node(q->m, i));
		json_kv_uint(w, "socket-id", 0);
		json_kv_uint(w, "core-id", i);
		json_kv_uint(w, "thread-id", 0);
		json_obj_end(w);
		json_kv_str(w, "target", "x86_64");
		json_obj_end(w);
	}
	json_arr_end(w);
	return 0;
}

/* Guest RAM in bytes: the base of query-memory-size-summary and of QEMU's balloon values. */
static uint64_t ram_bytes(const struct qmp *q)
{
	uint64_t total = 0;

	for (unsigned n = 0; n < q->m->nr_nodes; n++)
		total += q->m->nodes[n].size;
	return total;
}

static int cmd_query_memory_size_summary(struct qmp *q, const struct json *args,
					 struct json_writer *w)
{
	json_obj_begin(w);
	json_kv_uint(w, "base-memory", ram_bytes(q));
	json_kv_uint(w, "plugged-memory", 0);
	json_obj_end(w);
	return 0;
}

static int cmd_query_commands(struct qmp *q, const struct json *args, struct json_writer *w);

/* x-memvisor-query-memory: what --stats writes (same names), plus each node's size and budget. */
static int cmd_query_memory(struct qmp *q, const struct json *args, struct json_writer *w)
{
	struct gmem_stats st;
	unsigned cluster_pages = 0;

	q->ops->mem_stats(q->ctx, &st, &cluster_pages);
	json_obj_begin(w);
	json_kv_uint(w, "page_size", MM_PAGE_SIZE);
	json_kv_uint(w, "cluster_pages", cluster_pages);
	json_key(w, "nodes");
	json_arr_begin(w);
	for (unsigned n = 0; n < st.nr_nodes && n < q->m->nr_nodes; n++) {
		const struct gmem_node_stats *s = &st.node[n];

		json_obj_begin(w);
		json_kv_uint(w, "node", n);
		json_kv_uint(w, "size", q->m->nodes[n].size);
#define X(field) json_kv_uint(w, #field, s->field);
		GMEM_NODE_STAT_FIELDS(X)
#undef X
		json_obj_end(w);
	}
	json_arr_end(w);
#define X(field) json_kv_uint(w, #field, st.field);
	GMEM_STAT_FIELDS(X)
#undef X
	json_obj_end(w);
	return 0;
}

/* The request named by a page-out / page-in / migrate command's arguments (checked). */
static int mem_request_args(struct qmp *q, const struct json *args, enum memreq_action act,
			    struct memreq *r)
{
	uint64_t v = 0;
	bool node = arg_u64(args, "node", &v), gpa = json_get(args, "gpa") != NULL,
	     len = json_get(args, "len") != NULL;

	memset(r, 0, sizeof(*r));
	r->action = act;
	if (node == (gpa || len) || (!node && !(gpa && len)))
		return mv_fail(EINVAL, "give either 'node' or both 'gpa' and 'len'");
	if (node) {
		if (v >= q->m->nr_nodes)
			return mv_fail(EINVAL, "Parameter 'node': node %" PRIu64 " does not exist "
				       "(the machine has %u)", v, q->m->nr_nodes);
		r->by_node = true;
		r->node = (unsigned)v;
	} else {
		arg_u64(args, "gpa", &r->gpa);
		arg_u64(args, "len", &r->len);
	}
	if (act == MEMREQ_MIGRATE) {
		arg_u64(args, "to", &v);
		if (v >= q->m->nr_nodes)
			return mv_fail(EINVAL, "Parameter 'to': node %" PRIu64 " does not exist (the "
				       "machine has %u)", v, q->m->nr_nodes);
		r->to = (unsigned)v;
	}
	return 0;
}

static int mem_request(struct qmp *q, const struct json *args, struct json_writer *w,
		       enum memreq_action act)
{
	struct memreq r;
	uint64_t pages = 0;
	int err = mem_request_args(q, args, act, &r);

	if (!err)
		err = q->ops->mem_request(q->ctx, &r, &pages);
	if (err)
		return err;
	json_obj_begin(w);
	json_kv_uint(w, "pages", pages);
	json_obj_end(w);
	return 0;
}

static int cmd_page_out(struct qmp *q, const struct json *args, struct json_writer *w)
{
	return mem_request(q, args, w, MEMREQ_PAGE_OUT);
}

static int cmd_page_in(struct qmp *q, const struct json *args, struct json_writer *w)
{
	return mem_request(q, args, w, MEMREQ_PAGE_IN);
}

static int cmd_migrate(struct qmp *q, const struct json *args, struct json_writer *w)
{
	return mem_request(q, args, w, MEMREQ_MIGRATE);
}

static int cmd_set_budget(struct qmp *q, const struct json *args, struct json_writer *w)
{
	uint64_t node = 0, size = 0;         /* both required: check_args saw them */
	int err;

	arg_u64(args, "node", &node);
	arg_u64(args, "size", &size);
	if (node >= q->m->nr_nodes)
		return mv_fail(EINVAL, "Parameter 'node': node %" PRIu64 " does not exist (the "
			       "machine has %u)", node, q->m->nr_nodes);
	err = q->ops->set_budget(q->ctx, (unsigned)node, size);
	if (err)
		return err;
	json_obj_begin(w);
	json_obj_end(w);
	return 0;
}

/* QEMU's message and (dispatch) class for a VM without a balloon. */
static int no_balloon(void)
{
	return mv_fail(ENODEV, "No balloon device has been activated");
}

/* "balloon" {"value": bytes}: the memory the guest should be left with (QEMU's meaning); the
 * balloon's target is the rest of guest RAM. */
static int cmd_balloon(struct qmp *q, const struct json *args, struct json_writer *w)
{
	uint64_t value = 0, ram = ram_bytes(q);
	int err;

	arg_u64(args, "value", &value);
	if (!q->ops->balloon_set)
		return no_balloon();
	if (value == 0)
		return mv_fail(EINVAL, "Parameter 'value' expects a size above 0");
	err = q->ops->balloon_set(q->ctx, value >= ram ? 0 : ram - value);
	if (err)
		return err;
	json_obj_begin(w);
	json_obj_end(w);
	return 0;
}

/* "query-balloon": {"actual": guest RAM less what the balloon holds}, as QEMU reports it. */
static int cmd_query_balloon(struct qmp *q, const struct json *args, struct json_writer *w)
{
	uint64_t ram = ram_bytes(q), held;

	if (!q->ops->balloon_size)
		return no_balloon();
	held = q->ops->balloon_size(q->ctx);
	json_obj_begin(w);
	json_kv_uint(w, "actual", held >= ram ? 0 : ram - held);
	json_obj_end(w);
	return 0;
}

static void balloon_change_data(struct json_writer *w, void *arg)
{
	json_kv_uint(w, "actual", *(const uint64_t *)arg);
}

void qmp_balloon_changed(struct qmp *q, uint64_t balloon_bytes)
{
	uint64_t ram = ram_bytes(q), actual = balloon_bytes >= ram ? 0 : ram - balloon_bytes;

	qmp_event(q, "BALLOON_CHANGE", balloon_change_data, &actual);
}

/*
 * qom-get / qom-set on the balloon, the two properties QEMU's virtio-balloon has for its guest
 * statistics: "guest-stats" (read-only: {"stats": {"stat-NAME": value, ...}, "last-update": s})
 * and "guest-stats-polling-interval" (seconds, 0 = off). Only QMP_BALLOON_PATH exists; other
 * paths get QEMU's DeviceNotFound, other properties its "Property ... not found".
 */
static const char *const guest_stat_names[QMP_GUEST_STATS_NR] = {
	"stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults",
	"stat-free-memory", "stat-total-memory", "stat-available-memory", "stat-disk-caches",
	"stat-htlb-pgalloc", "stat-htlb-pgfail",
};

#define PROP_STATS     "guest-stats"
#define PROP_INTERVAL  "guest-stats-polling-interval"

/* The property named by args (path and property both checked); NULL after mv_fail. */
static const char *qom_property(struct qmp *q, const struct json *args)
{
	const char *path = json_get(args, "path")->u.str.s;
	const char *prop = json_get(args, "property")->u.str.s;

	if (!q->ops->balloon_guest_stats || !q->ops->balloon_get_interval ||
	    !q->ops->balloon_set_interval || strcmp(path, QMP_BALLOON_PATH)) {
		q->err_class = "DeviceNotFound";
		mv_fail(ENOENT, "Device '%s' not found", path);
		return NULL;
	}
	if (strcmp(prop, PROP_STATS) && strcmp(prop, PROP_INTERVAL)) {
		mv_fail(EINVAL, "Property 'virtio-balloon-device.%s' not found", prop);
		return NULL;
	}
	return prop;
}

static int cmd_qom_get(struct qmp *q, const struct json *args, struct json_writer *w)
{
	const char *prop = qom_property(q, args);
	struct qmp_guest_stats gs;

	if (!prop)
		return -EINVAL;
	if (!strcmp(prop, PROP_INTERVAL)) {
		json_uint(w, q->ops->balloon_get_interval(q->ctx));
		return 0;
	}
	q->ops->balloon_guest_stats(q->ctx, &gs);
	json_obj_begin(w);
	json_key(w, "stats");
	json_obj_begin(w);
	for (unsigned i = 0; i < QMP_GUEST_STATS_NR; i++)
		json_kv_uint(w, guest_stat_names[i], gs.val[i]);
	json_obj_end(w);
	json_kv_int(w, "last-update", gs.last_update);
	json_obj_end(w);
	return 0;
}

static int cmd_qom_set(struct qmp *q, const struct json *args, struct json_writer *w)
{
	const char *prop = qom_property(q, args);
	const struct json *v = json_get(args, "value");
	int err;

	if (!prop)
		return -EINVAL;
	if (!strcmp(prop, PROP_STATS))
		return mv_fail(EINVAL, "Property '" PROP_STATS "' is not writable");
	if (v->type != JSON_NUMBER || !v->u.num.is_int)
		return mv_fail(EINVAL, "Invalid parameter type for 'value', expected: integer");
	if (v->u.num.i < 0)                  /* QEMU's words */
		return mv_fail(EINVAL, "timer value must be greater than zero");
	err = q->ops->balloon_set_interval(q->ctx, (uint64_t)v->u.num.i);
	if (err)
		return err;
	json_obj_begin(w);
	json_obj_end(w);
	return 0;
}

/* ---- fault injection ---------------------------------------------------------------------- */

static int no_faultinj(void)
{
	return mv_fail(EINVAL, "fault injection is not available in this VM");
}

/*
 * x-memvisor-fault-inject {"site": S, "probability"?, "interval"?, "times"?, "space"?,
 * "verbose"?, "delay-us"?}: arm site S exactly as --fault-inject S,... would (unset knobs take
 * the same defaults: probability 100, interval 1, times 1, space 0, verbose 1).
 */
static int cmd_fault_inject(struct qmp *q, const struct json *args, struct json_writer *w)
{
	const struct json *site = json_get(args, "site"), *times = json_get(args, "times");
	struct faultinj_spec spec = { .k = { .probability = 100, .interval = 1, .times = 1,
					     .verbose = 1 } };
	uint64_t v;
	int s, err;

	if (!q->fi)
		return no_faultinj();
	s = faultinj_site_by_name(site->u.str.s, site->u.str.len);
	if (s < 0 || strlen(site->u.str.s) != site->u.str.len)
		return mv_fail(EINVAL, "Parameter 'site': no fault-injection site '%.64s'",
			       site->u.str.s);
	spec.site = (enum faultinj_site)s;
	if (arg_u64(args, "probability", &v)) {
		if (v > FAULT_ATTR_PROBABILITY_MAX)
			return mv_fail(EINVAL, "Parameter 'probability': %" PRIu64 " is not in 0..100",
				       v);
		spec.k.probability = (uint32_t)v;
	}
	if (arg_u64(args, "interval", &v)) {
		if (v > UINT32_MAX)
			return mv_fail(EINVAL, "Parameter 'interval': %" PRIu64 " is too large", v);
		spec.k.interval = (uint32_t)v;
	}
	if (times) {
		if (times->u.num.i < FAULT_ATTR_TIMES_UNLIMITED)
			return mv_fail(EINVAL, "Parameter 'times': %" PRId64 " is not -1 or >= 0",
				       times->u.num.i);
		spec.k.times = times->u.num.i;
	}
	if (arg_u64(args, "space", &v))
		spec.k.space = (int64_t)v;       /* check_args: a non-negative int64 */
	if (arg_u64(args, "verbose", &v)) {
		if (v > 2)
			return mv_fail(EINVAL, "Parameter 'verbose': %" PRIu64 " is not 0, 1 or 2", v);
		spec.k.verbose = (uint32_t)v;
	}
	if (arg_u64(args, "delay-us", &v)) {
		spec.delay_given = true;
		spec.delay_us = v;
	}
	err = faultinj_check(&spec, "x-memvisor-fault-inject");
	if (!err)
		err = faultinj_apply(q->fi, &spec);
	if (err)
		return err;
	json_obj_begin(w);
	json_obj_end(w);
	return 0;
}

/* x-memvisor-query-faults: every site, its knobs and counters. */
static int cmd_query_faults(struct qmp *q, const struct json *args, struct json_writer *w)
{
	if (!q->fi)
		return no_faultinj();
	json_arr_begin(w);
	for (unsigned s = 0; s < FI_NR_SITES; s++) {
		struct fault_knobs k;
		uint64_t calls, failures;

		fault_attr_get(&q->fi->site[s], &k);
		faultinj_counts(q->fi, s, &calls, &failures);
		json_obj_begin(w);
		json_kv_str(w, "site", faultinj_site_name(s));
		json_kv_uint(w, "probability", k.probability);
		json_kv_uint(w, "interval", k.interval);
		json_kv_int(w, "times", k.times);
		json_kv_int(w, "space", k.space);
		json_kv_uint(w, "verbose", k.verbose);
		if (s == FI_SLOW_FAULT)
			json_kv_uint(w, "delay-us", faultinj_delay_us(q->fi));
		json_kv_uint(w, "calls", calls);
		json_kv_uint(w, "failures", failures);
		json_obj_end(w);
	}
	json_arr_end(w);
	return 0;
}

#define REQ(n, t) { n, t, true }
#define OPT(n, t) { n, t, false }

/*
 * Every command. memvisor's own carry QEMU's "x-" prefix for unstable interfaces plus the
 * program name (docs/qmp.md says why).
 */
static const struct qmp_cmd qmp_cmds[] = {
	{ "qmp_capabilities", cmd_capabilities, { OPT("enable", QA_ARRAY) } },
	{ "query-commands", cmd_query_commands, { { 0 } } },
	{ "query-status", cmd_query_status, { { 0 } } },
	{ "stop", cmd_stop, { { 0 } } },
	{ "cont", cmd_cont, { { 0 } } },
	{ "quit", cmd_quit, { { 0 } } },
	{ "query-cpus-fast", cmd_query_cpus_fast, { { 0 } } },
	{ "query-memory-size-summary", cmd_query_memory_size_summary, { { 0 } } },
	{ "balloon", cmd_balloon, { REQ("value", QA_UINT) } },
	{ "query-balloon", cmd_query_balloon, { { 0 } } },
	{ "qom-get", cmd_qom_get, { REQ("path", QA_STR), REQ("property", QA_STR) } },
	{ "qom-set", cmd_qom_set,
	  { REQ("path", QA_STR), REQ("property", QA_STR), REQ("value", QA_ANY) } },
	{ "x-memvisor-query-memory", cmd_query_memory, { { 0 } } },
	{ "x-memvisor-page-out", cmd_page_out,
	  { OPT("node", QA_UINT), OPT("gpa", QA_UINT), OPT("len", QA_UINT) } },
	{ "x-memvisor-page-in", cmd_page_in,
	  { OPT("node", QA_UINT), OPT("gpa", QA_UINT), OPT("len", QA_UINT) } },
	{ "x-memvisor-migrate", cmd_migrate,
	  { OPT("node", QA_UINT), OPT("gpa", QA_UINT), OPT("len", QA_UINT), REQ("to", QA_UINT) } },
	{ "x-memvisor-set-budget", cmd_set_budget, { REQ("node", QA_UINT), REQ("size", QA_UINT) } },
	{ "x-memvisor-fault-inject", cmd_fault_inject,
	  { REQ("site", QA_STR), OPT("probability", QA_UINT), OPT("interval", QA_UINT),
	    OPT("times", QA_INT), OPT("space", QA_UINT), OPT("verbose", QA_UINT),
	    OPT("delay-us", QA_UINT) } },
	{ "x-memvisor-query-faults", cmd_query_faults, { { 0 } } },
};

#define QMP_NR_CMDS (sizeof(qmp_cmds) / sizeof(qmp_cmds[0]))

static int cmd_query_commands(struct qmp *q, const struct json *args, struct json_writer *w)
{
	json_arr_begin(w);
	for (size_t i = 0; i < QMP_NR_CMDS; i++) {
		json_obj_begin(w);
		json_kv_str(w, "name", qmp_cmds[i].name);
		json_obj_end(w);
	}
	json_arr_end(w);
	return 0;
}

static const struct qmp_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < QMP_NR_CMDS; i++)
		if (strcmp(qmp_cmds[i].name, name) == 0)
			return &qmp_cmds[i];
	return NULL;
}

/* ---- the dispatcher ----------------------------------------------------------------------- */

/* Check the message's shape (QEMU's qmp-dispatch.c wording); the command name in *name. */
static int check_message(const struct json *msg, const char **name, const struct json **args)
{
	const struct json *exec;

	if (msg->type != JSON_OBJECT)
		return mv_fail(EINVAL, "QMP input must be a JSON object");
	for (size_t i = 0; i < msg->u.obj.n; i++) {
		const char *k = msg->u.obj.m[i].key;

		if (strcmp(k, "execute") && strcmp(k, "arguments") && strcmp(k, "id"))
			return mv_fail(EINVAL, "QMP input member '%s' is unexpected", k);
	}
	exec = json_get(msg, "execute");
	if (!exec)
		return mv_fail(EINVAL, "QMP input lacks member 'execute'");
	if (exec->type != JSON_STRING || strlen(exec->u.str.s) != exec->u.str.len)
		return mv_fail(EINVAL, "QMP input member 'execute' must be a string");
	*args = json_get(msg, "arguments");
	if (*args && (*args)->type != JSON_OBJECT)
		return mv_fail(EINVAL, "QMP input member 'arguments' must be an object");
	*name = exec->u.str.s;
	return 0;
}

/* Handle one parsed message, the reply into w; *quit: it was a successful "quit". */
static void dispatch(struct qmp *q, struct qmp_client *c, const struct json *msg,
		     struct json_writer *w, bool *quit)
{
	const struct json *args = NULL, *id = json_get(msg, "id");
	const struct qmp_cmd *cmd;
	const char *name = NULL;
	struct json_writer ret;
	char desc[600];
	int err;

	*quit = false;
	if (msg->type != JSON_OBJECT)
		id = NULL;
	if (check_message(msg, &name, &args)) {
		reply_error(w, "GenericError", mv_error(), id);
		return;
	}
	cmd = find_cmd(name);
	if (!c->negotiated && (!cmd || cmd->fn != cmd_capabilities)) {
		reply_error(w, "CommandNotFound", "Expecting capabilities negotiation with "
			    "'qmp_capabilities'", id);
		return;
	}
	if (!cmd) {
		snprintf(desc, sizeof(desc), "The command %s has not been found", name);
		reply_error(w, "CommandNotFound", desc, id);
		return;
	}
	if (c->negotiated && cmd->fn == cmd_capabilities) {
		reply_error(w, "CommandNotFound", "Capabilities negotiation is already complete, "
			    "command ignored", id);
		return;
	}
	json_writer_init(&ret);
	q->err_class = NULL;
	err = check_args(cmd->args, args);
	if (!err)
		err = cmd->fn(q, args, &ret);
	if (err) {
		snprintf(desc, sizeof(desc), "%s", mv_error());
		/* -ENODEV from a command: the device it needs is absent (QEMU's class for that);
		 * a command may name another class of QEMU's in err_class. */
		reply_error(w, q->err_class ? q->err_class :
			       err == -ENODEV ? "DeviceNotActive" : "GenericError", desc, id);
	} else {
		const char *text = json_writer_text(&ret, NULL);

		if (!text) {
			reply_error(w, "GenericError", "out of memory for the reply", id);
		} else {
			json_obj_begin(w);
			json_key(w, "return");
			json_raw(w, text);
			reply_id(w, id);
			json_obj_end(w);
			if (cmd->fn == cmd_capabilities)
				c->negotiated = true;
			*quit = cmd->fn == cmd_quit;
		}
	}
	json_writer_free(&ret);
}

void qmp_handle_message(struct qmp *q, struct qmp_client *c, const char *text, size_t len,
			struct json_writer *w)
{
	struct json *msg;
	bool quit = false;
	int err = json_parse(text, len, false, &msg, NULL);

	if (err) {
		reply_error(w, "GenericError", err == -EAGAIN ? "JSON parse error: the message "
			    "ends inside a value" : mv_error(), NULL);
		return;
	}
	dispatch(q, c, msg, w, &quit);
	json_free(msg);
}

/* ---- clients ------------------------------------------------------------------------------ */

static void client_close_locked(struct qmp_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void send_greeting(struct qmp *q, struct qmp_client *c)
{
	struct json_writer w;

	json_writer_init(&w);
	json_obj_begin(&w);
	json_key(&w, "QMP");
	json_obj_begin(&w);
	json_key(&w, "version");
	json_obj_begin(&w);
	json_key(&w, "qemu");
	json_obj_begin(&w);
	json_kv_int(&w, "micro", QMP_VERSION_MICRO);
	json_kv_int(&w, "minor", QMP_VERSION_MINOR);
	json_kv_int(&w, "major", QMP_VERSION_MAJOR);
	json_obj_end(&w);
	json_kv_str(&w, "package", QMP_PACKAGE);
	json_obj_end(&w);
	json_key(&w, "capabilities");
	json_arr_begin(&w);
	json_arr_end(&w);
	json_obj_end(&w);
	json_obj_end(&w);
	send_writer(q, c, &w);
	json_writer_free(&w);
}

/* A new connection: a free slot and the greeting, or an error and closed. */
static void client_add(struct qmp *q, int fd)
{
	struct qmp_client *c = NULL;

	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < QMP_MAX_CLIENTS && !c; i++)
		if (q->clients[i].fd < 0)
			c = &q->clients[i];
	if (!c) {
		static const char busy[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": "
					   "\"too many QMP clients (at most 8)\"}}";
		struct qmp_client tmp = { .fd = fd };

		send_locked(&tmp, busy, sizeof(busy) - 1);
		close(fd);
		pthread_mutex_unlock(&q->lock);
		return;
	}
	c->fd = fd;
	q->connects++;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	send_greeting(q, c);
}

/*
 * Handle every whole message at the front of c's input. Returns false when the client must be
 * closed (oversize message).
 */
static bool client_process(struct qmp *q, struct qmp_client *c, bool *quit)
{
	while (c->in_len && !*quit) {
		struct json_writer w;
		struct json *msg;
		size_t end = 0, skip = 0;
		int err;

		while (skip < c->in_len && strchr(" \t\r\n", c->in[skip]))
			skip++;
		memmove(c->in, c->in + skip, c->in_len - skip);
		c->in_len -= skip;
		if (!c->in_len)
			break;
		err = json_parse(c->in, c->in_len, true, &msg, &end);
		json_writer_init(&w);
		if (err == -EAGAIN) {
			if (c->in_len <= QMP_MAX_MESSAGE)
				break;          /* wait for the rest */
			reply_error(&w, "GenericError", "JSON message too long (limit 65536 bytes); "
				    "closing the connection", NULL);
			send_writer(q, c, &w);
			json_writer_free(&w);
			return false;
		}
		if (err) {
			char *nl = memchr(c->in, '\n', c->in_len);

			reply_error(&w, "GenericError", mv_error(), NULL);
			end = nl ? (size_t)(nl - c->in) + 1 : c->in_len;
		} else {
			dispatch(q, c, msg, &w, quit);
			json_free(msg);
		}
		send_writer(q, c, &w);
		json_writer_free(&w);
		memmove(c->in, c->in + end, c->in_len - end);
		c->in_len -= end;
	}
	return true;
}

/* Read what c has sent; false when it is gone (EOF, error, or oversize). */
static bool client_read(struct qmp *q, struct qmp_client *c, bool *quit)
{
	ssize_t n;

	if (!c->in) {
		c->in = malloc(QMP_MAX_MESSAGE + QMP_READ_CHUNK);
		if (!c->in)
			return false;
	}
	n = read(c->fd, c->in + c->in_len, QMP_MAX_MESSAGE + QMP_READ_CHUNK - c->in_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	c->in_len += (size_t)n;
	return client_process(q, c, quit);
}

static void do_quit(struct qmp *q)
{
	qmp_event(q, "SHUTDOWN", shutdown_data, NULL);
	q->ops->quit(q->ctx);
}

/* ---- the listener thread ------------------------------------------------------------------ */

static void take_pending(struct qmp *q)
{
	int fds[QMP_MAX_CLIENTS];
	unsigned n;

	pthread_mutex_lock(&q->lock);
	n = q->nr_pending;
	memcpy(fds, q->pending, n * sizeof(fds[0]));
	q->nr_pending = 0;
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < n; i++)
		client_add(q, fds[i]);
}

static void *qmp_thread(void *arg)
{
	struct qmp *q = arg;

	seccomp_enter(THREAD_CONTROL, "qmp");
	for (;;) {
		struct pollfd p[QMP_MAX_CLIENTS + 2];
		unsigned np = 0, idx[QMP_MAX_CLIENTS];
		bool stop;

		pthread_mutex_lock(&q->lock);
		stop = q->stopping;
		pthread_mutex_unlock(&q->lock);
		if (stop)
			break;
		p[np++] = (struct pollfd){ .fd = q->wake_fd, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = q->listen_fd, .events = POLLIN };
		for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++)
			if (q->clients[i].fd >= 0) {
				idx[np - 2] = i;
				p[np++] = (struct pollfd){ .fd = q->clients[i].fd, .events = POLLIN };
			}
		if (poll(p, np, -1) < 0)
			continue;
		if (p[0].revents) {
			uint64_t v;

			if (read(q->wake_fd, &v, sizeof(v)) < 0)
				v = 0;
			take_pending(q);
		}
		if (p[1].revents & POLLIN) {
			int fd = accept4(q->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				client_add(q, fd);
		}
		for (unsigned k = 2; k < np; k++) {
			struct qmp_client *c = &q->clients[idx[k - 2]];
			bool quit = false, keep;

			if (!p[k].revents)
				continue;
			keep = (p[k].revents & POLLIN) && client_read(q, c, &quit);
			if (!keep) {
				pthread_mutex_lock(&q->lock);
				client_close_locked(c);
				pthread_mutex_unlock(&q->lock);
			}
			if (quit)
				do_quit(q);
		}
	}
	return NULL;
}

/* ---- life cycle --------------------------------------------------------------------------- */

int qmp_init(struct qmp *q, const struct machine_config *m, const struct qmp_ops *ops, void *ctx)
{
	memset(q, 0, sizeof(*q));
	q->m = m;
	q->ops = ops;
	q->ctx = ctx;
	q->listen_fd = -1;
	for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++)
		q->clients[i].fd = -1;
	q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->wake_fd < 0)
		return mv_fail(errno, "QMP: eventfd: %s", strerror(errno));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return 0;
}

int qmp_listen(struct qmp *q, const struct qmp_spec *spec)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", spec->path);
	/* Replace a stale socket (as QEMU does), never another kind of file. */
	if (lstat(spec->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return mv_fail(EEXIST, "--qmp %s: exists and is not a socket", spec->path);
		unlink(spec->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mv_fail(errno, "--qmp: socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, QMP_MAX_CLIENTS) < 0) {
		int err = errno;

		close(fd);
		return mv_fail(err, "--qmp %s: %s", spec->path, strerror(err));
	}
	q->listen_fd = fd;
	snprintf(q->path, sizeof(q->path), "%s", spec->path);
	return 0;
}

int qmp_start(struct qmp *q)
{
	int err = pthread_create(&q->thread, NULL, qmp_thread, q);

	if (err)
		return mv_fail(err, "cannot start the QMP thread: %s", strerror(err));
	q->started = true;
	return 0;
}

static void wake(struct qmp *q)
{
	uint64_t one = 1;

	if (write(q->wake_fd, &one, sizeof(one)) < 0)
		return;                 /* the counter is saturated: a wake-up is pending anyway */
}

int qmp_attach(struct qmp *q, int fd)
{
	pthread_mutex_lock(&q->lock);
	if (q->nr_pending == QMP_MAX_CLIENTS) {
		pthread_mutex_unlock(&q->lock);
		close(fd);
		return mv_fail(EBUSY, "QMP: too many clients being attached");
	}
	q->pending[q->nr_pending++] = fd;
	pthread_mutex_unlock(&q->lock);
	wake(q);
	return 0;
}

void qmp_wait_client(struct qmp *q)
{
	pthread_mutex_lock(&q->lock);
	while (!q->connects && !q->stopping)
		pthread_cond_wait(&q->cond, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

void qmp_destroy(struct qmp *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (q->started) {
		wake(q);
		pthread_join(q->thread, NULL);
		q->started = false;
	}
	for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++)
		client_close_locked(&q->clients[i]);
	for (unsigned i = 0; i < q->nr_pending; i++)
		close(q->pending[i]);
	q->nr_pending = 0;
	if (q->listen_fd >= 0) {
		close(q->listen_fd);
		unlink(q->path);
	}
	q->listen_fd = -1;
	if (q->wake_fd >= 0)
		close(q->wake_fd);
	q->wake_fd = -1;
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}
