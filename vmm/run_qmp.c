/*
 * run_qmp.c — `memvisor run --qmp` (run_qmp.h): the QMP server's operations on the running
 * machine. stop/cont pause the vCPUs (vm_pause), quit ends the VM with status 0, the memory
 * commands are gmem calls (memreq_run, gmem_set_budget) made on the QMP thread, which is not a
 * fault-service thread and may therefore unmap guest RAM.
 * Lock: none of its own (vm.lock and gmem.lock are taken by the calls it makes).
 */
#include "run_qmp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static int rq_stop(void *ctx)
{
	return vm_pause(((struct run_qmp *)ctx)->vm);
}

static int rq_cont(void *ctx)
{
	vm_resume(((struct run_qmp *)ctx)->vm);
	return 0;
}

static bool rq_running(void *ctx)
{
	return !vm_paused(((struct run_qmp *)ctx)->vm);
}

static void rq_quit(void *ctx)
{
	struct run_qmp *rq = ctx;

	__atomic_store_n(&rq->quit, true, __ATOMIC_RELEASE);
	fprintf(stderr, "memvisor: quit requested over QMP\n");
	vm_stop(rq->vm, 0);
}

static int rq_vcpu_thread_id(void *ctx, unsigned cpu)
{
	struct run_qmp *rq = ctx;

	return cpu < MACHINE_MAX_VCPUS ? __atomic_load_n(&rq->vm->vcpus[cpu].tid, __ATOMIC_ACQUIRE)
				       : 0;
}

static void rq_mem_stats(void *ctx, struct gmem_stats *st, unsigned *cluster_pages)
{
	struct run_qmp *rq = ctx;

	gmem_get_stats(rq->g, st);
	*cluster_pages = rq->g->cluster_pages;
}

static int rq_mem_request(void *ctx, const struct memreq *r, uint64_t *pages)
{
	return memreq_run(((struct run_qmp *)ctx)->g, r, pages);
}

static int rq_set_budget(void *ctx, unsigned node, uint64_t bytes)
{
	return gmem_set_budget(((struct run_qmp *)ctx)->g, node, bytes);
}

static int rq_balloon_set(void *ctx, uint64_t bytes)
{
	virtio_balloon_set_target(((struct run_qmp *)ctx)->balloon, bytes);
	return 0;
}

static uint64_t rq_balloon_size(void *ctx)
{
	struct virtio_balloon_stats st;

	virtio_balloon_get_stats(((struct run_qmp *)ctx)->balloon, &st);
	return (uint64_t)st.actual << VIRTIO_BALLOON_PFN_SHIFT;
}

static void rq_balloon_guest_stats(void *ctx, struct qmp_guest_stats *gs)
{
	struct virtio_balloon_stats st;

	_Static_assert(QMP_GUEST_STATS_NR == VIRTIO_BALLOON_S_NR, "one name per virtio tag");
	virtio_balloon_get_stats(((struct run_qmp *)ctx)->balloon, &st);
	for (unsigned i = 0; i < QMP_GUEST_STATS_NR; i++)
		gs->val[i] = st.guest_stat_seen >> i & 1 ? st.guest_stat[i] : UINT64_MAX;
	gs->last_update = st.stats_last_update;
}

static unsigned rq_balloon_get_interval(void *ctx)
{
	return virtio_balloon_interval(((struct run_qmp *)ctx)->balloon);
}

static int rq_balloon_set_interval(void *ctx, uint64_t seconds)
{
	return virtio_balloon_set_interval(((struct run_qmp *)ctx)->balloon, seconds);
}

/* The device's hook, on the vCPU thread that wrote `actual` (device lock → qmp lock). */
static void rq_balloon_changed(void *arg, uint64_t balloon_bytes)
{
	qmp_balloon_changed(&((struct run_qmp *)arg)->q, balloon_bytes);
}

#define RUN_QMP_OPS \
	.stop = rq_stop, .cont = rq_cont, .running = rq_running, .quit = rq_quit, \
	.vcpu_thread_id = rq_vcpu_thread_id, .mem_stats = rq_mem_stats, \
	.mem_request = rq_mem_request, .set_budget = rq_set_budget

static const struct qmp_ops run_qmp_ops = { RUN_QMP_OPS };

/* The same with the balloon commands. */
static const struct qmp_ops run_qmp_balloon_ops = {
	RUN_QMP_OPS, .balloon_set = rq_balloon_set, .balloon_size = rq_balloon_size,
	.balloon_guest_stats = rq_balloon_guest_stats,
	.balloon_get_interval = rq_balloon_get_interval,
	.balloon_set_interval = rq_balloon_set_interval,
};

static void run_qmp_swap_failed(void *arg, const char *msg);

int run_qmp_start(struct run_qmp *rq, const struct machine_config *m, const struct qmp_spec *spec,
		  struct vm *vm, struct gmem *g, struct virtio_balloon *b, struct faultinj *fi)
{
	int err;

	memset(rq, 0, sizeof(*rq));
	rq->vm = vm;
	rq->g = g;
	rq->balloon = b;
	err = qmp_init(&rq->q, m, b ? &run_qmp_balloon_ops : &run_qmp_ops, rq);
	if (err)
		return err;
	rq->q.fi = fi;
	err = qmp_listen(&rq->q, spec);
	if (!err)
		err = qmp_start(&rq->q);
	if (err) {
		qmp_destroy(&rq->q);
		return err;
	}
	rq->started = true;
	gmem_set_fatal_handler(g, run_qmp_mem_failed, rq);    /* vm_stop plus the event */
	gmem_set_swap_failure_handler(g, run_qmp_swap_failed, rq);
	if (b) {
		b->actual_changed = rq_balloon_changed;
		b->actual_arg = rq;
	}
	if (spec->wait) {
		fprintf(stderr, "memvisor: waiting for a QMP client on %s\n", spec->path);
		qmp_wait_client(&rq->q);
	}
	return 0;
}

struct mem_event {
	const char *desc;
	bool fatal;
};

static void mem_failed_data(struct json_writer *w, void *arg)
{
	const struct mem_event *e = arg;

	json_kv_str(w, "desc", e->desc);
	json_kv_bool(w, "fatal", e->fatal);
}

/* A swap-out's write failed, the cluster stayed in memory (any engine thread, no lock held). */
static void run_qmp_swap_failed(void *arg, const char *msg)
{
	struct run_qmp *rq = arg;
	struct mem_event e = { .desc = msg, .fatal = false };

	qmp_event(&rq->q, "MEMVISOR_SWAP_FAILURE", mem_failed_data, &e);
}

/* On an engine thread, once service stopped: gmem_fatal_reason() says why (gmem.h). */
void run_qmp_mem_failed(void *arg)
{
	struct run_qmp *rq = arg;
	int err = __atomic_load_n(&rq->g->fatal, __ATOMIC_ACQUIRE);
	struct mem_event e = { .desc = rq->fatal_msg, .fatal = true };

	snprintf(rq->fatal_msg, sizeof(rq->fatal_msg), "%s", gmem_fatal_reason(rq->g));
	qmp_event(&rq->q, err == ENOMEM || err == ENOSPC ? "MEMVISOR_OOM" : "MEMVISOR_SWAP_FAILURE",
		  mem_failed_data, &e);
	vm_stop(rq->vm, GMEM_STATUS_FATAL);
}

/* SHUTDOWN's data for an end that was not a QMP quit: QEMU's ShutdownCause names. */
static void end_data(struct json_writer *w, void *arg)
{
	bool host_error = *(const int *)arg == GMEM_STATUS_FATAL;

	json_kv_bool(w, "guest", !host_error);
	json_kv_str(w, "reason", host_error ? "host-error" : "guest-shutdown");
}

void run_qmp_stop(struct run_qmp *rq, int status)
{
	if (!rq->started)
		return;
	/* no more events from the engine into a server that is going away */
	gmem_set_fatal_handler(rq->g, NULL, NULL);
	gmem_set_swap_failure_handler(rq->g, NULL, NULL);
	if (rq->balloon)                /* the vCPUs have left: no config write can race this */
		rq->balloon->actual_changed = NULL;
	if (!__atomic_load_n(&rq->quit, __ATOMIC_ACQUIRE))
		qmp_event(&rq->q, "SHUTDOWN", end_data, &status);
	qmp_destroy(&rq->q);
	rq->started = false;
}
