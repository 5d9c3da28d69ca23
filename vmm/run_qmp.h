/*
 * run_qmp.h — the QMP server of `memvisor run --qmp` wired to the VM (vm.h) and the guest memory
 * engine (gmem.h). run.c starts it once both exist, before the vCPUs run, and stops it after.
 *
 * Events it sends besides the command replies (docs/qmp.md): SHUTDOWN when the VM ends other
 * than by QMP quit (which sends its own); BALLOON_CHANGE when the guest's balloon changes size;
 * MEMVISOR_OOM or
 * MEMVISOR_SWAP_FAILURE when guest memory can no longer be served (gmem's fatal paths, "fatal":
 * true), and MEMVISOR_SWAP_FAILURE "fatal": false when a swap-out's write failed and the cluster
 * stayed in memory.
 */
#ifndef MV_RUN_QMP_H
#define MV_RUN_QMP_H

#include <stdbool.h>

#include "faultinj.h"
#include "gmem.h"
#include "qmp.h"
#include "virtio_balloon.h"
#include "vm.h"

struct run_qmp {
	struct qmp q;
	struct vm *vm;
	struct gmem *g;
	struct virtio_balloon *balloon;  /* NULL without --balloon */
	bool started;
	bool quit;                      /* atomic: a QMP quit ended the VM */
	char fatal_msg[512];            /* the engine's reason, for the memory-failure event */
};

/*
 * Listen, start the thread, become g's fatal handler (in place of run.c's plain vm_stop) and,
 * with a balloon (b, not started yet), the source of its BALLOON_CHANGE events; with
 * spec->wait block until a client connects. fi (may be NULL): the sites the fault-injection
 * commands control. 0 or -errno with mv_error().
 */
int run_qmp_start(struct run_qmp *rq, const struct machine_config *m, const struct qmp_spec *spec,
		  struct vm *vm, struct gmem *g, struct virtio_balloon *b, struct faultinj *fi);

/* The gmem fatal handler run_qmp_start installs: the event, then vm_stop. */
void run_qmp_mem_failed(void *arg);

/*
 * After vm_run (status: its result): SHUTDOWN unless quit sent it — guest-shutdown, or
 * host-error when guest memory failed (GMEM_STATUS_FATAL) — then close every client and the
 * socket. The engine's fatal handler is removed first.
 */
void run_qmp_stop(struct run_qmp *rq, int status);

#endif /* MV_RUN_QMP_H */
