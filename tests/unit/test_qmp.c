/*
 * test_qmp.c — the QMP server (vmm/qmp.h) over socketpairs and its Unix socket, without KVM: a
 * fake machine records what the commands ask of it. Each test reads the server's replies line
 * by line (QMP ends every message with CRLF) and checks them as text; the protocol is text.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mvtest.h"

#include "error.h"
#include "qmp.h"

#define WAIT_MS 5000

/* ---- the fake machine --------------------------------------------------------------------- */

/*
 * The QMP thread calls these: the counters and `running` are read and written atomically
 * (a test may look before or without a reply that would order it after the call).
 */
struct fake {
	bool running;
	int stops, conts, quits;
	struct memreq last;
	int requests;
	int request_err;                /* what mem_request returns */
	unsigned budget_node;
	uint64_t budget_bytes;
	uint64_t balloon_target;        /* what balloon_set was given */
	uint64_t balloon_held;          /* what balloon_size answers */
	struct qmp_guest_stats gs;      /* what balloon_guest_stats answers */
	unsigned interval;              /* the polling interval; set_interval refuses above 60 */
};

static struct fake fake;

static int f_stop(void *ctx)
{
	__atomic_add_fetch(&fake.stops, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&fake.running, false, __ATOMIC_RELEASE);
	return 0;
}

static int f_cont(void *ctx)
{
	__atomic_add_fetch(&fake.conts, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&fake.running, true, __ATOMIC_RELEASE);
	return 0;
}

static bool f_running(void *ctx)
{
	return __atomic_load_n(&fake.running, __ATOMIC_ACQUIRE);
}

static void f_quit(void *ctx)
{
	__atomic_add_fetch(&fake.quits, 1, __ATOMIC_RELEASE);
}

static int f_tid(void *ctx, unsigned cpu)
{
	return 1000 + (int)cpu;
}

static void f_stats(void *ctx, struct gmem_stats *st, unsigned *cluster_pages)
{
	memset(st, 0, sizeof(*st));
	st->nr_nodes = 2;
	st->node[0].frames_total = 4096;
	st->node[1].pages_swapped = 77;
	st->uffd_faults = 12345;
	*cluster_pages = 16;
}

static int f_request(void *ctx, const struct memreq *r, uint64_t *pages)
{
	fake.last = *r;
	__atomic_add_fetch(&fake.requests, 1, __ATOMIC_RELEASE);     /* publishes last */
	*pages = 48;
	if (fake.request_err)
		return mv_fail(-fake.request_err, "swap is full (fake)");
	return 0;
}

static int f_budget(void *ctx, unsigned node, uint64_t bytes)
{
	fake.budget_node = node;
	fake.budget_bytes = bytes;
	if (bytes == 4096)
		return mv_fail(EINVAL, "node %u: budget 4096 is not a multiple of the cluster", node);
	return 0;
}

static int f_balloon_set(void *ctx, uint64_t bytes)
{
	fake.balloon_target = bytes;
	return 0;
}

static uint64_t f_balloon_size(void *ctx)
{
	return fake.balloon_held;
}

static void f_guest_stats(void *ctx, struct qmp_guest_stats *gs)
{
	(void)ctx;
	*gs = fake.gs;
}

static unsigned f_get_interval(void *ctx)
{
	(void)ctx;
	return fake.interval;
}

static int f_set_interval(void *ctx, uint64_t seconds)
{
	(void)ctx;
	if (seconds > 60)
		return mv_fail(EINVAL, "interval %" PRIu64 " refused by the device", seconds);
	fake.interval = (unsigned)seconds;
	return 0;
}

#define FAKE_OPS \
	.stop = f_stop, .cont = f_cont, .running = f_running, .quit = f_quit, \
	.vcpu_thread_id = f_tid, .mem_stats = f_stats, .mem_request = f_request, \
	.set_budget = f_budget

static const struct qmp_ops fake_ops = { FAKE_OPS };

/* The same machine with a balloon. */
static const struct qmp_ops fake_balloon_ops = {
	FAKE_OPS, .balloon_set = f_balloon_set, .balloon_size = f_balloon_size,
	.balloon_guest_stats = f_guest_stats, .balloon_get_interval = f_get_interval,
	.balloon_set_interval = f_set_interval,
};

/* ---- fixture: a server with a 2-vCPU, 2-node machine -------------------------------------- */

struct fx {
	struct machine_config m;
	struct qmp q;
};

/* The machine and a fresh fake; no server yet. */
static void fx_machine(struct fx *f)
{
	memset(&fake, 0, sizeof(fake));
	fake.running = true;
	alarm(60);
	signal(SIGPIPE, SIG_IGN);       /* a test writing to a connection the server closed */
	machine_init(&f->m);
	CHECK_EQ(machine_parse_numa(&f->m, "size=8M,cpus=0"), 0);
	CHECK_EQ(machine_parse_numa(&f->m, "size=8M,cpus=1"), 0);
	CHECK_EQ(machine_finish(&f->m), 0);
}

static void fx_setup(struct fx *f)
{
	fx_machine(f);
	CHECK_EQ(qmp_init(&f->q, &f->m, &fake_ops, NULL), 0);
	CHECK_EQ(qmp_start(&f->q), 0);
}

static void fx_teardown(struct fx *f)
{
	qmp_destroy(&f->q);
	alarm(0);
}

/* A connected client: the other end of a socketpair handed to the server. */
static int client(struct fx *f)
{
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_EQ(qmp_attach(&f->q, sv[1]), 0);
	return sv[0];
}

/* One message from the server (up to CRLF) into buf; "" on EOF. */
static const char *recv_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, WAIT_MS) != 1)
			mvt_fail(__FILE__, __LINE__, "no reply within %d ms (so far: '%.*s')", WAIT_MS,
				 (int)n, buf);
		r = read(fd, buf + n, 1);
		if (r <= 0)
			break;
		if (++n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n') {
			n -= 2;
			break;
		}
		if (n == size - 1)
			mvt_fail(__FILE__, __LINE__, "reply longer than %zu bytes", size);
	}
	buf[n] = '\0';
	return buf;
}

static void send_text(int fd, const char *text)
{
	CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
}

/* Send a message and return the next line. */
static const char *cmd(int fd, const char *text, char *buf, size_t size)
{
	send_text(fd, text);
	return recv_line(fd, buf, size);
}

/* A client past the greeting and capabilities negotiation. */
static int ready_client(struct fx *f)
{
	char buf[512];
	int fd = client(f);

	CHECK_CONTAINS(recv_line(fd, buf, sizeof(buf)), "\"QMP\"");
	CHECK_STREQ(cmd(fd, "{\"execute\": \"qmp_capabilities\"}\n", buf, sizeof(buf)),
		    "{\"return\": {}}");
	return fd;
}

/* The server closed the connection: EOF within WAIT_MS. */
static void check_closed(int fd)
{
	char buf[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	CHECK_EQ(poll(&p, 1, WAIT_MS), 1);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 0);
}

/* Wait up to WAIT_MS for a counter the server thread bumps to reach `want`. */
static bool wait_for(const int *counter, int want)
{
	for (unsigned ms = 0; ms < WAIT_MS; ms++) {
		if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) == want)
			return true;
		usleep(1000);
	}
	return __atomic_load_n(counter, __ATOMIC_ACQUIRE) == want;
}

#define BUF char buf[4096]
#define CMD(fd, text) cmd(fd, text, buf, sizeof(buf))

/* ---- --qmp values ------------------------------------------------------------------------- */

TEST(spec_rejects_non_unix_and_bad_keys)
{
	struct qmp_spec s;

	CHECK_EQ(qmp_parse_spec("tcp:localhost:4444", &s), -EINVAL);
	CHECK_CONTAINS(mv_error(), "does not start with unix:");
	CHECK_EQ(qmp_parse_spec("unix:", &s), -EINVAL);
	CHECK_CONTAINS(mv_error(), "unix: needs a socket path");
	CHECK_EQ(qmp_parse_spec("unix:/tmp/q,server=off", &s), -EINVAL);
	CHECK_CONTAINS(mv_error(), "server=off (connecting out to a client) is not supported");
	CHECK_EQ(qmp_parse_spec("unix:/tmp/q,wait=maybe", &s), -EINVAL);
	CHECK_CONTAINS(mv_error(), "wait=maybe: expected on or off");
	CHECK_EQ(qmp_parse_spec("unix:/tmp/q,colour=red", &s), -EINVAL);
	CHECK_CONTAINS(mv_error(), "unknown key 'colour'");
	CHECK_EQ(qmp_parse_spec("unix:/tmp/q,nowait", &s), -EINVAL);
	CHECK_CONTAINS(mv_error(), "'nowait' is not KEY=VALUE");
}

TEST(spec_accepts_qemu_shape)
{
	struct qmp_spec s;

	CHECK_EQ(qmp_parse_spec("unix:/tmp/q.sock", &s), 0);
	CHECK_STREQ(s.path, "/tmp/q.sock");
	CHECK(s.wait);                                  /* QEMU's default */
	CHECK_EQ(qmp_parse_spec("unix:/tmp/q.sock,server=on,wait=off", &s), 0);
	CHECK(!s.wait);
}

/* ---- protocol errors ---------------------------------------------------------------------- */

TEST(commands_before_negotiation_are_refused)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = client(&f);
	recv_line(fd, buf, sizeof(buf));
	CHECK_STREQ(CMD(fd, "{\"execute\": \"query-status\", \"id\": 1}"),
		    "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities "
		    "negotiation with 'qmp_capabilities'\"}, \"id\": 1}");
	CHECK_EQ(__atomic_load_n(&fake.stops, __ATOMIC_ACQUIRE), 0);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": "
			"[\"oob\"]}}"),
		    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Capability 'oob' not "
		    "available\"}}");
	CHECK_STREQ(CMD(fd, "{\"execute\": \"qmp_capabilities\"}"), "{\"return\": {}}");
	CHECK_STREQ(CMD(fd, "{\"execute\": \"qmp_capabilities\"}"),
		    "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities "
		    "negotiation is already complete, command ignored\"}}");
	close(fd);
	fx_teardown(&f);
}

TEST(malformed_json_gets_an_error_and_the_connection_goes_on)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_CONTAINS(CMD(fd, "{\"execute\": 'stop'}\n"), "{\"error\": {\"class\": \"GenericError\", "
		       "\"desc\": \"JSON parse error at offset 12: unexpected character '''");
	CHECK_CONTAINS(CMD(fd, "{\"a\": 1,}\n"), "expected a string key in an object, got '}'");
	CHECK_STREQ(CMD(fd, "{\"execute\": \"query-status\"}\n"),
		    "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	CHECK_EQ(__atomic_load_n(&fake.stops, __ATOMIC_ACQUIRE), 0);
	close(fd);
	fx_teardown(&f);
}

TEST(badly_shaped_messages_are_refused_with_qemus_words)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_CONTAINS(CMD(fd, "[1]"), "\"desc\": \"QMP input must be a JSON object\"");
	CHECK_CONTAINS(CMD(fd, "{\"id\": 3}"), "\"desc\": \"QMP input lacks member 'execute'\"}, "
		       "\"id\": 3}");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": 1}"),
		       "\"desc\": \"QMP input member 'execute' must be a string\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"stop\", \"arguments\": []}"),
		       "\"desc\": \"QMP input member 'arguments' must be an object\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"stop\", \"colour\": 1}"),
		       "\"desc\": \"QMP input member 'colour' is unexpected\"");
	CHECK_EQ(__atomic_load_n(&fake.stops, __ATOMIC_ACQUIRE), 0);
	close(fd);
	fx_teardown(&f);
}

TEST(unknown_command_is_command_not_found)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"frobnicate\", \"id\": \"x\"}"),
		    "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command frobnicate "
		    "has not been found\"}, \"id\": \"x\"}");
	close(fd);
	fx_teardown(&f);
}

TEST(arguments_missing_unexpected_or_of_the_wrong_type)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-set-budget\", \"arguments\": "
			   "{\"node\": 0}}"), "\"desc\": \"Parameter 'size' is missing\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"stop\", \"arguments\": {\"now\": true}}"),
		       "\"desc\": \"Parameter 'now' is unexpected\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-page-out\", \"arguments\": "
			   "{\"node\": \"0\"}}"),
		       "\"desc\": \"Invalid parameter type for 'node', expected: integer\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-page-out\", \"arguments\": "
			   "{\"node\": 1.5}}"),
		       "\"desc\": \"Invalid parameter type for 'node', expected: integer\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-page-out\", \"arguments\": "
			   "{\"node\": -1}}"), "\"desc\": \"Parameter 'node' expects uint64\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-page-out\", \"arguments\": "
			   "{\"node\": 0, \"gpa\": 0}}"),
		       "\"desc\": \"give either 'node' or both 'gpa' and 'len'\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-page-in\", \"arguments\": "
			   "{\"gpa\": 4096}}"), "give either 'node' or both 'gpa' and 'len'");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-page-in\", \"arguments\": {}}"),
		       "give either 'node' or both 'gpa' and 'len'");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-migrate\", \"arguments\": "
			   "{\"node\": 0}}"), "\"desc\": \"Parameter 'to' is missing\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-migrate\", \"arguments\": "
			   "{\"node\": 0, \"to\": 2}}"),
		       "\"desc\": \"Parameter 'to': node 2 does not exist (the machine has 2)\"");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-page-out\", \"arguments\": "
			   "{\"node\": 9}}"), "Parameter 'node': node 9 does not exist");
	CHECK_EQ(__atomic_load_n(&fake.requests, __ATOMIC_ACQUIRE), 0);
	CHECK_EQ(__atomic_load_n(&fake.stops, __ATOMIC_ACQUIRE), 0);
	close(fd);
	fx_teardown(&f);
}

TEST(oversize_message_gets_an_error_and_the_connection_closes)
{
	struct fx f;
	BUF;
	char *big = malloc(QMP_MAX_MESSAGE + 200);
	int fd, other;

	CHECK_NOT_NULL(big);
	fx_setup(&f);
	fd = ready_client(&f);
	other = ready_client(&f);
	memset(big, ' ', QMP_MAX_MESSAGE + 199);
	memcpy(big, "{\"execute\": \"stop\", \"id\": \"", 27);
	memset(big + 27, 'x', QMP_MAX_MESSAGE + 100);   /* a string that never ends */
	big[QMP_MAX_MESSAGE + 199] = '\0';
	send_text(fd, big);
	CHECK_STREQ(recv_line(fd, buf, sizeof(buf)), "{\"error\": {\"class\": \"GenericError\", "
		    "\"desc\": \"JSON message too long (limit 65536 bytes); closing the connection\"}}");
	check_closed(fd);
	close(fd);
	/* the server goes on serving the others */
	CHECK_CONTAINS(CMD(other, "{\"execute\": \"query-status\"}"), "\"running\": true");
	CHECK_EQ(__atomic_load_n(&fake.stops, __ATOMIC_ACQUIRE), 0);
	close(other);
	fx_teardown(&f);
	free(big);
}

TEST(client_leaving_mid_command_does_not_disturb_the_others)
{
	struct fx f;
	BUF;
	int fd, other;

	fx_setup(&f);
	fd = ready_client(&f);
	other = ready_client(&f);
	send_text(fd, "{\"execute\": \"x-memvisor-page-out\", \"argu");
	close(fd);
	fd = ready_client(&f);
	send_text(fd, "{\"execute\": \"x-memvisor-page-out\", \"arguments\": {\"node\": 1}}");
	close(fd);                      /* gone before the reply: its write fails, quietly */
	CHECK_CONTAINS(CMD(other, "{\"execute\": \"query-status\"}"), "\"running\": true");
	/* the whole message was in before the close: it runs (perhaps after other's command) */
	CHECK(wait_for(&fake.requests, 1));
	close(other);
	fx_teardown(&f);
}

TEST(more_clients_than_the_limit_are_told_and_closed)
{
	struct fx f;
	BUF;
	int fds[QMP_MAX_CLIENTS], extra;

	fx_setup(&f);
	for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++)
		fds[i] = ready_client(&f);
	extra = client(&f);
	CHECK_STREQ(recv_line(extra, buf, sizeof(buf)), "{\"error\": {\"class\": \"GenericError\", "
		    "\"desc\": \"too many QMP clients (at most 8)\"}}");
	check_closed(extra);
	close(extra);
	for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++)
		CHECK_CONTAINS(CMD(fds[i], "{\"execute\": \"query-status\"}"), "\"running\": true");
	close(fds[0]);                  /* a slot frees up once the server has seen the close */
	fds[0] = -1;
	for (unsigned tries = 0; fds[0] < 0 && tries < 500; tries++) {
		extra = client(&f);
		if (strstr(recv_line(extra, buf, sizeof(buf)), "\"QMP\"")) {
			fds[0] = extra;
		} else {
			close(extra);
			usleep(10000);
		}
	}
	CHECK_GE(fds[0], 0);
	CHECK_STREQ(CMD(fds[0], "{\"execute\": \"qmp_capabilities\"}"), "{\"return\": {}}");
	for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++)
		close(fds[i]);
	fx_teardown(&f);
}

/* ---- commands ----------------------------------------------------------------------------- */

TEST(greeting_is_qemus_shape)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = client(&f);
	CHECK_STREQ(recv_line(fd, buf, sizeof(buf)), "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, "
		    "\"minor\": 1, \"major\": 0}, \"package\": \"memvisor 0.1.0\"}, \"capabilities\": []}}");
	close(fd);
	fx_teardown(&f);
}

TEST(stop_and_cont_pause_the_machine_with_events_and_ids)
{
	struct fx f;
	BUF;
	int fd, watcher, unnegotiated;

	fx_setup(&f);
	fd = ready_client(&f);
	watcher = ready_client(&f);
	unnegotiated = client(&f);
	recv_line(unnegotiated, buf, sizeof(buf));
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"stop\", \"id\": {\"n\": [1, \"a\"]}}"),
		       "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": ");
	CHECK_STREQ(recv_line(fd, buf, sizeof(buf)), "{\"return\": {}, \"id\": {\"n\": [1, \"a\"]}}");
	CHECK_CONTAINS(recv_line(watcher, buf, sizeof(buf)), "{\"event\": \"STOP\"");
	CHECK_EQ(__atomic_load_n(&fake.stops, __ATOMIC_ACQUIRE), 1);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"query-status\"}"),
		    "{\"return\": {\"running\": false, \"status\": \"paused\"}}");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"cont\", \"id\": 5}"), "{\"event\": \"RESUME\"");
	CHECK_STREQ(recv_line(fd, buf, sizeof(buf)), "{\"return\": {}, \"id\": 5}");
	CHECK_CONTAINS(recv_line(watcher, buf, sizeof(buf)), "{\"event\": \"RESUME\"");
	CHECK_EQ(__atomic_load_n(&fake.conts, __ATOMIC_ACQUIRE), 1);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"query-status\"}"),
		    "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	/* events go only to negotiated clients: this one still gets its first reply next */
	CHECK_CONTAINS(CMD(unnegotiated, "{\"execute\": \"stop\"}"), "CommandNotFound");
	close(fd);
	close(watcher);
	close(unnegotiated);
	fx_teardown(&f);
}

TEST(quit_replies_then_sends_shutdown)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"quit\"}"), "{\"return\": {}}");
	CHECK_CONTAINS(recv_line(fd, buf, sizeof(buf)), "{\"event\": \"SHUTDOWN\", \"data\": "
		       "{\"guest\": false, \"reason\": \"host-qmp-quit\"}, \"timestamp\": ");
	CHECK(wait_for(&fake.quits, 1));                /* the machine is told after the event */
	close(fd);
	fx_teardown(&f);
}

TEST(cpus_and_memory_size_describe_the_machine)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"query-cpus-fast\"}"),
		    "{\"return\": [{\"cpu-index\": 0, \"qom-path\": \"/machine/unattached/device[0]\", "
		    "\"thread-id\": 1000, \"props\": {\"node-id\": 0, \"socket-id\": 0, \"core-id\": 0, "
		    "\"thread-id\": 0}, \"target\": \"x86_64\"}, {\"cpu-index\": 1, \"qom-path\": "
		    "\"/machine/unattached/device[1]\", \"thread-id\": 1001, \"props\": {\"node-id\": 1, "
		    "\"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0}, \"target\": \"x86_64\"}]}");
	CHECK_STREQ(CMD(fd, "{\"execute\": \"query-memory-size-summary\"}"),
		    "{\"return\": {\"base-memory\": 16777216, \"plugged-memory\": 0}}");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"query-commands\"}"),
		       "{\"name\": \"x-memvisor-set-budget\"}");
	close(fd);
	fx_teardown(&f);
}

TEST(memory_statistics_carry_the_stats_json_names)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CMD(fd, "{\"execute\": \"x-memvisor-query-memory\"}");
	CHECK_CONTAINS(buf, "{\"return\": {\"page_size\": 4096, \"cluster_pages\": 16, \"nodes\": "
		       "[{\"node\": 0, \"size\": 8388608, \"frames_total\": 4096, ");
	CHECK_CONTAINS(buf, "{\"node\": 1, \"size\": 8388608, \"frames_total\": 0, \"frames_free\": "
		       "0, \"frames_used\": 0, \"clusters_mapped\": 0, \"pages_swapped\": 77, ");
	CHECK_CONTAINS(buf, "\"uffd_faults\": 12345, ");
	CHECK_CONTAINS(buf, "\"uffd_retries\": 0}}");        /* the last of GMEM_STAT_FIELDS */
	close(fd);
	fx_teardown(&f);
}

TEST(page_out_page_in_and_migrate_become_memreqs)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-page-out\", \"arguments\": {\"node\": 1}}"),
		    "{\"return\": {\"pages\": 48}}");
	CHECK_EQ(fake.last.action, MEMREQ_PAGE_OUT);
	CHECK(fake.last.by_node);
	CHECK_EQ(fake.last.node, 1);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-page-in\", \"arguments\": {\"gpa\": "
			"1048576, \"len\": 65536}}"), "{\"return\": {\"pages\": 48}}");
	CHECK_EQ(fake.last.action, MEMREQ_PAGE_IN);
	CHECK(!fake.last.by_node);
	CHECK_EQ_U(fake.last.gpa, 1048576);
	CHECK_EQ_U(fake.last.len, 65536);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-migrate\", \"arguments\": {\"node\": 0, "
			"\"to\": 1}}"), "{\"return\": {\"pages\": 48}}");
	CHECK_EQ(fake.last.action, MEMREQ_MIGRATE);
	CHECK_EQ(fake.last.to, 1);
	fake.request_err = -ENOSPC;
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-page-out\", \"arguments\": {\"node\": 0}, "
			"\"id\": 9}"), "{\"error\": {\"class\": \"GenericError\", \"desc\": \"swap is "
		    "full (fake)\"}, \"id\": 9}");
	CHECK_EQ(__atomic_load_n(&fake.requests, __ATOMIC_ACQUIRE), 4);
	close(fd);
	fx_teardown(&f);
}

TEST(set_budget_passes_node_and_bytes_and_reports_refusals)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-set-budget\", \"arguments\": {\"node\": 1, "
			"\"size\": 4194304}}"), "{\"return\": {}}");
	CHECK_EQ(fake.budget_node, 1);
	CHECK_EQ_U(fake.budget_bytes, 4194304);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-set-budget\", \"arguments\": {\"node\": 0, "
			"\"size\": 4096}}"), "{\"error\": {\"class\": \"GenericError\", \"desc\": "
		    "\"node 0: budget 4096 is not a multiple of the cluster\"}}");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-set-budget\", \"arguments\": {\"node\": 5, "
			   "\"size\": 4096}}"), "Parameter 'node': node 5 does not exist");
	close(fd);
	fx_teardown(&f);
}

/* Without a fault-injection registry (q.fi NULL) both commands say so. */
TEST(fault_commands_without_sites_are_refused)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-query-faults\"}"),
		    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"fault injection is not "
		    "available in this VM\"}}");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": "
			   "{\"site\": \"mmap\"}}"), "fault injection is not available");
	close(fd);
	fx_teardown(&f);
}

TEST(fault_inject_rejects_bad_sites_and_knobs_naming_them)
{
	struct fx f;
	struct faultinj fi;
	struct fault_knobs k;
	BUF;
	int fd;

	fx_setup(&f);
	faultinj_init(&fi, 1);
	f.q.fi = &fi;
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			"\"disk\"}}"), "{\"error\": {\"class\": \"GenericError\", \"desc\": "
		    "\"Parameter 'site': no fault-injection site 'disk'\"}}");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\"}"),
		       "Parameter 'site' is missing");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			   "\"mmap\", \"probability\": 101}}"),
		       "Parameter 'probability': 101 is not in 0..100");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			   "\"mmap\", \"times\": -2}}"), "Parameter 'times': -2 is not -1 or >= 0");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			   "\"mmap\", \"verbose\": 3}}"), "Parameter 'verbose': 3 is not 0, 1 or 2");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			   "\"mmap\", \"space\": -1}}"), "Parameter 'space' expects uint64");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			   "\"mmap\", \"delay-us\": 5}}"),
		       "delay-us applies only to site slow-fault, not mmap");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			   "\"slow-fault\", \"delay-us\": 0}}"), "delay-us=0 is not in 1..1000000");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			   "\"mmap\", \"when\": 1}}"), "Parameter 'when' is unexpected");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			   "1}}"), "Invalid parameter type for 'site', expected: string");
	/* nothing was armed by any of them */
	fault_attr_get(&fi.site[FI_MMAP], &k);
	CHECK_EQ_U(k.probability, 0);
	close(fd);
	fx_teardown(&f);
	faultinj_destroy(&fi);
}

TEST(fault_inject_arms_a_site_and_query_faults_reports_every_site)
{
	struct fx f;
	struct faultinj fi;
	struct fault_knobs k;
	BUF;
	int fd;

	fx_setup(&f);
	faultinj_init(&fi, 1);
	f.q.fi = &fi;
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			"\"swap-read-eio\", \"probability\": 50, \"interval\": 2, \"times\": -1, "
			"\"space\": 8192, \"verbose\": 0}, \"id\": 3}"), "{\"return\": {}, \"id\": 3}");
	fault_attr_get(&fi.site[FI_SWAP_READ_EIO], &k);
	CHECK_EQ_U(k.probability, 50);
	CHECK_EQ_U(k.interval, 2);
	CHECK_EQ(k.times, -1);
	CHECK_EQ(k.space, 8192);
	CHECK_EQ_U(k.verbose, 0);
	/* unset knobs take --fault-inject's defaults: fail the next call, once */
	CHECK_STREQ(CMD(fd, "{\"execute\": \"x-memvisor-fault-inject\", \"arguments\": {\"site\": "
			"\"slow-fault\", \"delay-us\": 250}}"), "{\"return\": {}}");
	CHECK(faultinj_should_fail(&fi, FI_SLOW_FAULT, 1, "test at", 0));
	CHECK(!faultinj_should_fail(&fi, FI_SLOW_FAULT, 1, "test at", 0));
	CHECK_EQ_U(faultinj_delay_us(&fi), 250);
	CMD(fd, "{\"execute\": \"x-memvisor-query-faults\"}");
	CHECK_CONTAINS(buf, "{\"return\": [{\"site\": \"frame-alloc\", \"probability\": 0, "
		       "\"interval\": 1, \"times\": 1, \"space\": 0, \"verbose\": 1, \"calls\": 0, "
		       "\"failures\": 0}, ");
	CHECK_CONTAINS(buf, "{\"site\": \"swap-read-eio\", \"probability\": 50, \"interval\": 2, "
		       "\"times\": -1, \"space\": 8192, \"verbose\": 0, \"calls\": 0, "
		       "\"failures\": 0}");
	CHECK_CONTAINS(buf, "{\"site\": \"slow-fault\", \"probability\": 100, \"interval\": 1, "
		       "\"times\": 0, \"space\": 0, \"verbose\": 1, \"delay-us\": 250, \"calls\": 2, "
		       "\"failures\": 1}]}");
	for (unsigned s = 0; s < FI_NR_SITES; s++) {
		char name[64];

		snprintf(name, sizeof(name), "\"site\": \"%s\"", faultinj_site_name(s));
		CHECK_CONTAINS(buf, name);
	}
	close(fd);
	fx_teardown(&f);
	faultinj_destroy(&fi);
}

TEST(balloon_commands_without_a_balloon_are_device_not_active)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 8388608}}"),
		    "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has "
		    "been activated\"}}");
	CHECK_STREQ(CMD(fd, "{\"execute\": \"query-balloon\"}"),
		    "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has "
		    "been activated\"}}");
	close(fd);
	fx_teardown(&f);
}

/*
 * QEMU's meaning: "balloon" value = the memory the guest keeps; query-balloon and BALLOON_CHANGE
 * say how much it has (16 MiB of RAM here).
 *
 *   RAM 16 MiB:  [ kept: value 12 MiB ........ | balloon target 4 MiB ]
 */
TEST(balloon_sets_the_target_query_and_event_report_what_the_guest_keeps)
{
	struct fx f;
	BUF;
	int fd;

	fx_machine(&f);
	CHECK_EQ(qmp_init(&f.q, &f.m, &fake_balloon_ops, NULL), 0);
	CHECK_EQ(qmp_start(&f.q), 0);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 12582912}, "
			"\"id\": 7}"), "{\"return\": {}, \"id\": 7}");
	CHECK_EQ_U(fake.balloon_target, 4 << 20);
	CHECK_STREQ(CMD(fd, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 33554432}}"),
		    "{\"return\": {}}");
	CHECK_EQ_U(fake.balloon_target, 0);                      /* more than RAM: nothing back */
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}}"),
		       "Parameter 'value' expects a size above 0");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"balloon\", \"arguments\": {\"value\": \"1G\"}}"),
		       "GenericError");
	fake.balloon_held = 3 << 20;
	CHECK_STREQ(CMD(fd, "{\"execute\": \"query-balloon\"}"),
		    "{\"return\": {\"actual\": 13631488}}");
	qmp_balloon_changed(&f.q, 1 << 20);
	CHECK_CONTAINS(recv_line(fd, buf, sizeof(buf)),
		       "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 15728640}, "
		       "\"timestamp\": {\"seconds\": ");
	close(fd);
	fx_teardown(&f);
}

#define QOM_GET(prop) "{\"execute\": \"qom-get\", \"arguments\": {\"path\": " \
	"\"/machine/peripheral/balloon0\", \"property\": \"" prop "\"}}"
#define QOM_SET(prop, value) "{\"execute\": \"qom-set\", \"arguments\": {\"path\": " \
	"\"/machine/peripheral/balloon0\", \"property\": \"" prop "\", \"value\": " value "}}"

TEST(qom_on_a_machine_without_a_balloon_finds_no_device)
{
	struct fx f;
	BUF;
	int fd;

	fx_setup(&f);
	fd = ready_client(&f);
	CHECK_STREQ(CMD(fd, QOM_GET("guest-stats")),
		    "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device "
		    "'/machine/peripheral/balloon0' not found\"}}");
	CHECK_STREQ(CMD(fd, QOM_SET("guest-stats-polling-interval", "2")),
		    "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device "
		    "'/machine/peripheral/balloon0' not found\"}}");
	close(fd);
	fx_teardown(&f);
}

TEST(qom_refuses_other_paths_properties_and_bad_values)
{
	struct fx f;
	BUF;
	int fd;

	fx_machine(&f);
	CHECK_EQ(qmp_init(&f.q, &f.m, &fake_balloon_ops, NULL), 0);
	CHECK_EQ(qmp_start(&f.q), 0);
	fd = ready_client(&f);
	fake.interval = 5;
	CHECK_STREQ(CMD(fd, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine\", "
			"\"property\": \"guest-stats\"}}"),
		    "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '/machine' "
		    "not found\"}}");
	CHECK_STREQ(CMD(fd, QOM_GET("actual")),
		    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property "
		    "'virtio-balloon-device.actual' not found\"}}");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": 1, "
			   "\"property\": \"guest-stats\"}}"),
		       "Invalid parameter type for 'path', expected: string");
	CHECK_CONTAINS(CMD(fd, "{\"execute\": \"qom-set\", \"arguments\": {\"path\": "
			   "\"/machine/peripheral/balloon0\", \"property\": \"guest-stats\"}}"),
		       "Parameter 'value' is missing");
	CHECK_CONTAINS(CMD(fd, QOM_SET("guest-stats", "1")),
		       "Property 'guest-stats' is not writable");
	CHECK_CONTAINS(CMD(fd, QOM_SET("guest-stats-polling-interval", "\"2\"")),
		       "Invalid parameter type for 'value', expected: integer");
	CHECK_CONTAINS(CMD(fd, QOM_SET("guest-stats-polling-interval", "1.5")),
		       "Invalid parameter type for 'value', expected: integer");
	CHECK_CONTAINS(CMD(fd, QOM_SET("guest-stats-polling-interval", "-1")),
		       "timer value must be greater than zero");
	CHECK_CONTAINS(CMD(fd, QOM_SET("guest-stats-polling-interval", "61")),
		       "interval 61 refused by the device");
	CHECK_EQ(fake.interval, 5);                           /* none of them changed it */
	close(fd);
	fx_teardown(&f);
}

/* QEMU's shapes: guest-stats {"stats": {"stat-...": n, ...}, "last-update": s}, a value never
 * reported is -1 as an unsigned 64-bit number; the interval a bare integer. */
TEST(qom_reads_guest_stats_and_sets_the_polling_interval)
{
	struct fx f;
	BUF;
	int fd;

	fx_machine(&f);
	CHECK_EQ(qmp_init(&f.q, &f.m, &fake_balloon_ops, NULL), 0);
	CHECK_EQ(qmp_start(&f.q), 0);
	fd = ready_client(&f);
	for (unsigned i = 0; i < QMP_GUEST_STATS_NR; i++)
		fake.gs.val[i] = UINT64_MAX;
	fake.gs.val[4] = 1000;
	fake.gs.val[5] = 4096;
	fake.gs.last_update = 1700000000;
	fake.interval = 0;
	CHECK_STREQ(CMD(fd, QOM_GET("guest-stats")),
		    "{\"return\": {\"stats\": {\"stat-swap-in\": 18446744073709551615, "
		    "\"stat-swap-out\": 18446744073709551615, \"stat-major-faults\": "
		    "18446744073709551615, \"stat-minor-faults\": 18446744073709551615, "
		    "\"stat-free-memory\": 1000, \"stat-total-memory\": 4096, "
		    "\"stat-available-memory\": 18446744073709551615, \"stat-disk-caches\": "
		    "18446744073709551615, \"stat-htlb-pgalloc\": 18446744073709551615, "
		    "\"stat-htlb-pgfail\": 18446744073709551615}, \"last-update\": 1700000000}}");
	CHECK_STREQ(CMD(fd, QOM_GET("guest-stats-polling-interval")), "{\"return\": 0}");
	CHECK_STREQ(CMD(fd, QOM_SET("guest-stats-polling-interval", "3")), "{\"return\": {}}");
	CHECK_EQ(fake.interval, 3);
	CHECK_STREQ(CMD(fd, QOM_GET("guest-stats-polling-interval")), "{\"return\": 3}");
	close(fd);
	fx_teardown(&f);
}

TEST(the_unix_socket_serves_several_messages_in_one_write)
{
	struct fx f;
	struct qmp_spec spec;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	BUF;
	int fd;

	fx_machine(&f);
	CHECK_EQ(qmp_parse_spec("unix:/tmp/test_qmp.sock,server=on,wait=on", &spec), 0);
	snprintf(spec.path, sizeof(spec.path), "/tmp/test_qmp.%d.sock", (int)getpid());
	CHECK_EQ(qmp_init(&f.q, &f.m, &fake_ops, NULL), 0);
	CHECK_EQ(qmp_listen(&f.q, &spec), 0);
	CHECK_EQ(qmp_start(&f.q), 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", spec.path);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	qmp_wait_client(&f.q);                          /* wait=on: returns once we are in */
	CHECK_CONTAINS(recv_line(fd, buf, sizeof(buf)), "{\"QMP\": ");
	send_text(fd, "{\"execute\": \"qmp_capabilities\"}\r\n{\"execute\": \"query-status\", "
		  "\"id\": 1}{\"execute\": \"stop\", \"id\": 2}");
	CHECK_STREQ(recv_line(fd, buf, sizeof(buf)), "{\"return\": {}}");
	CHECK_STREQ(recv_line(fd, buf, sizeof(buf)),
		    "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": 1}");
	CHECK_CONTAINS(recv_line(fd, buf, sizeof(buf)), "{\"event\": \"STOP\"");
	CHECK_STREQ(recv_line(fd, buf, sizeof(buf)), "{\"return\": {}, \"id\": 2}");
	close(fd);
	fx_teardown(&f);
	CHECK_EQ(access(spec.path, F_OK), -1);          /* the socket file is gone */
}

/* tools/qmp-client against a real server: several commands on one connection, exit statuses. */
TEST(qmp_client_script_prints_one_reply_per_command)
{
	struct fx f;
	struct qmp_spec spec;
	char cmdline[1024], out[4096];
	size_t n;
	FILE *p;
	int status;

	fx_machine(&f);
	CHECK_EQ(qmp_parse_spec("unix:/tmp/x,wait=off", &spec), 0);
	snprintf(spec.path, sizeof(spec.path), "/tmp/test_qmp_client.%d.sock", (int)getpid());
	CHECK_EQ(qmp_init(&f.q, &f.m, &fake_ops, NULL), 0);
	CHECK_EQ(qmp_listen(&f.q, &spec), 0);
	CHECK_EQ(qmp_start(&f.q), 0);
	snprintf(cmdline, sizeof(cmdline), "python3 %s/tools/qmp-client --events %s stop -- "
		 "x-memvisor-page-out '{\"node\": 1}' -- --raw '{\"execute\": oops}' -- --sleep 0.1 "
		 "-- query-status",
		 MV_SOURCE_DIR, spec.path);
	p = popen(cmdline, "r");
	CHECK_NOT_NULL(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	status = pclose(p);
	CHECK_CONTAINS(out, "{\"event\": \"STOP\"");
	CHECK_CONTAINS(out, "\n{\"return\": {}}\n{\"return\": {\"pages\": 48}}\n{\"error\": "
		       "{\"class\": \"GenericError\", \"desc\": \"JSON parse error at offset 12: "
		       "unexpected character 'o'\"}}\n{\"return\": {\"running\": false, \"status\": "
		       "\"paused\"}}\n");
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 1);               /* one command got an error */
	CHECK_EQ(__atomic_load_n(&fake.requests, __ATOMIC_ACQUIRE), 1);
	snprintf(cmdline, sizeof(cmdline), "python3 %s/tools/qmp-client %s cont >/dev/null",
		 MV_SOURCE_DIR, spec.path);
	CHECK_EQ(system(cmdline), 0);
	CHECK(__atomic_load_n(&fake.running, __ATOMIC_ACQUIRE));
	snprintf(cmdline, sizeof(cmdline), "python3 %s/tools/qmp-client %s query-status -- "
		 "--sleep -1 2>/dev/null", MV_SOURCE_DIR, spec.path);
	status = system(cmdline);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 2);               /* bad usage: a negative sleep */
	fx_teardown(&f);
}
