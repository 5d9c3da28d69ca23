/*
 * memreq.h — operator requests on guest memory from the command line (--mem-request): page a
 * range or a node out to host swap, page it back in, or migrate it to another node's pool, at a
 * given time after the guest starts. The QMP control socket (qmp.h) runs the same requests on
 * demand through memreq_run().
 *
 *   --mem-request ACTION,at=MS,node=N[,to=M]
 *   --mem-request ACTION,at=MS,gpa=ADDR,len=SIZE[,to=M]
 *   --mem-request balloon-target,at=MS,size=SIZE
 *     ACTION   page-out | page-in | migrate (migrate needs to=M, the others refuse it)
 *     balloon-target   set the balloon's target to SIZE bytes (needs --balloon; a test hook
 *              until the control socket can do it)
 *     at=MS    milliseconds after the vCPUs start (0..3600000)
 *     ADDR     hex (0x...) or decimal; SIZE as --numa sizes (64M); both page-aligned
 *
 * The requests run in order on one thread of their own (not a fault-service thread, so they may
 * unmap guest RAM), each reported on stderr with its result. Parsing is single-threaded.
 */
#ifndef MV_MEMREQ_H
#define MV_MEMREQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gmem.h"

#define MEMREQ_MAX 16

enum memreq_action { MEMREQ_PAGE_OUT, MEMREQ_PAGE_IN, MEMREQ_MIGRATE, MEMREQ_BALLOON_TARGET };

struct memreq {
	enum memreq_action action;
	uint64_t at_ms;
	bool by_node;
	unsigned node;          /* by_node */
	gpa_t gpa;              /* !by_node */
	uint64_t len;           /* !by_node; balloon-target: the target in bytes */
	unsigned to;            /* migrate */
};

struct memreq_list {
	unsigned nr;
	struct memreq r[MEMREQ_MAX];
	/* runner state */
	struct gmem *g;
	void (*balloon_target)(void *arg, uint64_t bytes);   /* set by run.c with --balloon */
	void *balloon_arg;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

/* Add one --mem-request value. 0 or -EINVAL with mv_error() naming the bad part. */
int memreq_parse(struct memreq_list *l, const char *spec);

/* Nodes named exist in m (after machine_finish). 0 or -EINVAL with mv_error(). */
int memreq_check(const struct memreq_list *l, const struct machine_config *m);

/* Some request is balloon-target (main.c refuses it without --balloon). */
bool memreq_wants_balloon(const struct memreq_list *l);

/*
 * Run one request now on the calling thread (not a fault-service thread): the gmem call it names.
 * 0 or -errno with mv_error(); *pages: pages that changed state.
 */
int memreq_run(struct gmem *g, const struct memreq *r, uint64_t *pages);

/* Start running the requests against g (times count from now). 0 or -errno with mv_error(). */
int memreq_start(struct memreq_list *l, struct gmem *g);

/* Stop (requests not yet due are dropped, with a line saying so) and join. */
void memreq_stop(struct memreq_list *l);

#endif /* MV_MEMREQ_H */
