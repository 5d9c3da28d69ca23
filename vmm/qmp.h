/*
 * qmp.h — the QMP control socket (docs/qmp.md): `--qmp unix:PATH[,server=on][,wait=on|off]`.
 *
 * A listener thread accepts up to QMP_MAX_CLIENTS clients on a Unix socket and serves them all
 * with poll(). Each client gets QEMU's greeting, must negotiate with qmp_capabilities, then
 * sends commands {"execute": NAME, "arguments": {...}, "id": ANY} and gets {"return": ...} or
 * {"error": {"class": ..., "desc": ...}} (with the id echoed), as QEMU answers them. Events
 * ({"event", "data", "timestamp"}) go to every negotiated client.
 *
 * What the commands act on comes from the owner through struct qmp_ops (run.c wires the VM and
 * the guest memory engine; unit tests wire fakes), so this file needs no KVM.
 *
 * Adding a command: one entry in qmp.c's table (name, argument specs, handler); arguments are
 * checked against the specs before the handler runs (missing, unexpected, wrong type). A device
 * with its own commands (the balloon) adds its ops to struct qmp_ops and its entries to the table;
 * its events go through qmp_event().
 *
 * Threads and locks: commands run on the listener thread, one at a time (a long page-out delays
 * the other clients' replies, not the guest). qmp.lock guards the client table and every write
 * to a client socket, so an event from another thread (qmp_event) never interleaves with a
 * reply. Writes never block: a client that does not read its replies/events (its socket buffer
 * full) is disconnected. Lock order: qmp.lock → nothing (ops are called without it).
 */
#ifndef MV_QMP_H
#define MV_QMP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "faultinj.h"
#include "gmem.h"
#include "json.h"
#include "machine.h"
#include "memreq.h"

#define QMP_MAX_CLIENTS   8
#define QMP_MAX_MESSAGE   (64 * 1024)      /* one command's bytes; more: error, disconnect */
#define QMP_PATH_MAX      108              /* sun_path */

/* What --qmp asked for. */
struct qmp_spec {
	char path[QMP_PATH_MAX];
	bool wait;                      /* wait=on (QEMU's default): start the guest only once a
					   client has connected */
};

/* The QOM path of the balloon for qom-get / qom-set: QEMU's for `-device ...,id=balloon0`. */
#define QMP_BALLOON_PATH     "/machine/peripheral/balloon0"
#define QMP_GUEST_STATS_NR   10          /* VIRTIO_BALLOON_S_NR of linux/virtio_balloon.h */

/* What the guest's balloon driver last reported, as QEMU's guest-stats property shows it. */
struct qmp_guest_stats {
	uint64_t val[QMP_GUEST_STATS_NR];    /* by virtio tag; UINT64_MAX: not reported (QEMU's -1) */
	int64_t last_update;                 /* wall-clock seconds; 0: no report yet */
};

/* The machine a QMP server controls. Every op is called on the listener thread without qmp.lock. */
struct qmp_ops {
	int (*stop)(void *ctx);                    /* pause every vCPU (0 / -errno, mv_error) */
	int (*cont)(void *ctx);                    /* resume them */
	bool (*running)(void *ctx);
	void (*quit)(void *ctx);                   /* end the VM cleanly (status 0) */
	int (*vcpu_thread_id)(void *ctx, unsigned cpu);   /* host thread id, or 0 if not started */
	void (*mem_stats)(void *ctx, struct gmem_stats *st, unsigned *cluster_pages);
	/* page-out / page-in / migrate, as --mem-request does it (memreq_run) */
	int (*mem_request)(void *ctx, const struct memreq *r, uint64_t *pages);
	int (*set_budget)(void *ctx, unsigned node, uint64_t bytes);
	/* The balloon; both NULL when the VM has none (the commands answer DeviceNotActive). Ask
	 * the guest to give back `bytes`; the bytes its balloon holds now. */
	int (*balloon_set)(void *ctx, uint64_t bytes);
	uint64_t (*balloon_size)(void *ctx);
	/* The balloon's guest statistics (qom-get guest-stats) and their polling interval
	 * (guest-stats-polling-interval: get, and set: 0 / -errno with mv_error()). NULL with
	 * balloon_set. */
	void (*balloon_guest_stats)(void *ctx, struct qmp_guest_stats *gs);
	unsigned (*balloon_get_interval)(void *ctx);
	int (*balloon_set_interval)(void *ctx, uint64_t seconds);
};

struct qmp_client {
	int fd;                         /* -1: free slot */
	bool negotiated;                /* qmp_capabilities done: commands and events allowed */
	char *in;                       /* bytes received, not yet a whole message */
	size_t in_len;
};

struct qmp {
	const struct machine_config *m;
	const struct qmp_ops *ops;
	void *ctx;
	struct faultinj *fi;            /* the fault-injection commands' sites; NULL: they answer
					   GenericError (set by the owner after qmp_init) */
	int listen_fd;                  /* -1 when none (tests attach clients directly) */
	char path[QMP_PATH_MAX];        /* unlinked by qmp_destroy */
	int wake_fd;                    /* eventfd: stop, or a new attached client */
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t cond;            /* a client connected (qmp_wait_client) */
	bool stopping;
	unsigned connects;              /* clients accepted so far */
	struct qmp_client clients[QMP_MAX_CLIENTS];
	int pending[QMP_MAX_CLIENTS];   /* fds attached by qmp_attach, not yet polled */
	unsigned nr_pending;
	const char *err_class;          /* a failing command's QEMU error class, NULL: from errno
					   (listener thread only) */
};

/* Parse the value of --qmp. 0 or -EINVAL with mv_error() naming the problem. */
int qmp_parse_spec(const char *s, struct qmp_spec *spec);

/* Set up a server without a socket yet. 0 or -errno with mv_error(). */
int qmp_init(struct qmp *q, const struct machine_config *m, const struct qmp_ops *ops, void *ctx);

/* Create and listen on the Unix socket (an old socket file at the path is replaced). */
int qmp_listen(struct qmp *q, const struct qmp_spec *spec);

/* Start the listener thread. */
int qmp_start(struct qmp *q);

/* Serve an already connected socket (tests: one end of a socketpair). Takes ownership of fd. */
int qmp_attach(struct qmp *q, int fd);

/* Block until the first client has connected (wait=on). */
void qmp_wait_client(struct qmp *q);

/*
 * Send event `name` to every negotiated client; data (may be NULL: no "data" member) writes
 * the members of the data object. Thread-safe.
 */
void qmp_event(struct qmp *q, const char *name,
	       void (*data)(struct json_writer *w, void *arg), void *arg);

/* BALLOON_CHANGE {"actual": guest RAM less balloon_bytes}, QEMU's event when the guest's
 * balloon changed size. Thread-safe; takes the server lock only to send (so a device may call
 * it holding its own lock: device lock → qmp lock). */
void qmp_balloon_changed(struct qmp *q, uint64_t balloon_bytes);

/* Stop the thread, close every client and the socket, unlink its path. */
void qmp_destroy(struct qmp *q);

/*
 * The dispatcher alone (for the fuzzer): handle one whole message `text` from client c and
 * write the reply to w. A "quit" is answered but not acted on.
 */
void qmp_handle_message(struct qmp *q, struct qmp_client *c, const char *text, size_t len,
			struct json_writer *w);

#endif /* MV_QMP_H */
