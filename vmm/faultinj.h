/*
 * faultinj.h — host fault injection: the named places in the VMM where guest-memory service can
 * fail, each a struct fault_attr (mm/fault_attr.h: Linux's knobs probability, interval, times,
 * space, verbose, decided as Linux's should_fail_ex), plus a run-wide seed. docs/fault-injection.md
 * says, per site, what the failure simulates and what memvisor does when it fires.
 *
 *   site               where                                   `size` (the space knob) counts
 *   frame-alloc        gmem frames_alloc: the pool acts empty  bytes of the cluster's block
 *   swap-write-eio     swap_write fails with EIO, no I/O       bytes of the write
 *   swap-write-enospc  swap_write fails with ENOSPC, no I/O    bytes of the write
 *   swap-write-short   swap_write writes half, then ENOSPC     bytes of the write
 *   swap-read-eio      swap_read fails with EIO, no I/O        bytes of the read
 *   uffd-eagain        UFFDIO_WAKE fails with EAGAIN           bytes of the woken range
 *   uffd-fail          UFFDIO_WAKE / UFFDIO_REGISTER: EINVAL   bytes of the range
 *   mmap               host_map's MAP_FIXED mmap: ENOMEM       bytes of the cluster
 *   slow-fault         fault service sleeps delay-us first     bytes of the cluster
 *
 * One struct faultinj per VM (no global: tests make many). The sites are lock-free (fault_attr
 * is atomics only); the verbose lines share one rate-limited log under fi->log_lock, a leaf lock
 * (callers may hold gmem.lock or swap's lock; nothing is taken under it). A NULL struct faultinj
 * pointer means "no injection": every faultinj_ call accepts it.
 *
 * Errors (parsing, QMP arguments): -EINVAL with mv_error() naming the option/key/value.
 */
#ifndef MV_FAULTINJ_H
#define MV_FAULTINJ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mm/fault_attr.h>

#include "ratelimit.h"

enum faultinj_site {
	FI_FRAME_ALLOC,
	FI_SWAP_WRITE_EIO,
	FI_SWAP_WRITE_ENOSPC,
	FI_SWAP_WRITE_SHORT,
	FI_SWAP_READ_EIO,
	FI_UFFD_EAGAIN,
	FI_UFFD_FAIL,
	FI_MMAP,
	FI_SLOW_FAULT,
	FI_NR_SITES
};

#define FAULTINJ_DEFAULT_SEED      1u
#define FAULTINJ_DEFAULT_DELAY_US  1000u        /* slow-fault: 1 ms */
#define FAULTINJ_MAX_DELAY_US      1000000u     /* slow-fault: at most 1 s per fault */
#define FAULTINJ_LOG_BURST         20u          /* verbose lines per window ... */
#define FAULTINJ_LOG_WINDOW_NS     1000000000u  /* ... of one second */

struct faultinj {
	uint64_t seed;
	struct fault_attr site[FI_NR_SITES];
	uint64_t delay_us;              /* slow-fault's added delay (atomic) */

	pthread_mutex_t log_lock;       /* leaf: the two fields below */
	struct ratelimit rl;
	uint64_t suppressed;            /* verbose lines not printed in the current window */
};

/* One --fault-inject / x-memvisor-fault-inject request: the site and the knobs it sets. */
struct faultinj_spec {
	enum faultinj_site site;
	struct fault_knobs k;           /* complete: unset keys hold the CLI defaults */
	bool delay_given;
	uint64_t delay_us;
};

/* Every site off (Linux's defaults: probability 0, interval 1, times 1), verbose 1. */
void faultinj_init(struct faultinj *fi, uint64_t seed);
void faultinj_destroy(struct faultinj *fi);
/* Restart every site's random stream from seed (knobs and statistics kept). */
void faultinj_reseed(struct faultinj *fi, uint64_t seed);

/* The site called `name` (len bytes), or -1. */
int faultinj_site_by_name(const char *name, size_t len);
const char *faultinj_site_name(enum faultinj_site s);
/* One line: what the site simulates. */
const char *faultinj_site_help(enum faultinj_site s);
/* `--fault-inject help`: every site with its line, and the keys. */
void faultinj_print_help(FILE *f);

/*
 * Parse "SITE[,probability=P][,interval=N][,times=T][,space=S][,verbose=V][,delay-us=D]".
 * Unset keys: probability 100, interval 1, times 1, space 0, verbose 1 — so a bare SITE fails
 * its next call once. delay-us only for slow-fault (1..FAULTINJ_MAX_DELAY_US). A key twice, an
 * unknown key or site, a value out of range: -EINVAL, mv_error() "--fault-inject: ..." naming it.
 */
int faultinj_parse(const char *arg, struct faultinj_spec *spec);

/* Check a spec's values (the ranges above); -EINVAL naming the knob, with prefix "who: ". */
int faultinj_check(const struct faultinj_spec *spec, const char *who);

/* Arm the site as spec says (checked first: -EINVAL naming the knob, site unchanged). */
int faultinj_apply(struct faultinj *fi, const struct faultinj_spec *spec);

/*
 * Should this call at site s fail? size: see the table above. On a failure with verbose >= 1,
 * one line "memvisor: fault injection: SITE: OP at 0xADDR: injected" (verbose 2 adds the site's
 * counters) goes to stderr, at most FAULTINJ_LOG_BURST a second (then a count of the dropped).
 * fi NULL: false.
 */
bool faultinj_should_fail(struct faultinj *fi, enum faultinj_site s, uint64_t size,
			  const char *op, uint64_t addr);

/* slow-fault's delay in microseconds. */
uint64_t faultinj_delay_us(struct faultinj *fi);

/* Counters of site s (calls asked, failures injected). */
void faultinj_counts(struct faultinj *fi, enum faultinj_site s, uint64_t *calls,
		     uint64_t *failures);

/* End of run: one line per site that was armed or asked ("  fault injection: SITE: ..."). */
void faultinj_print_stats(struct faultinj *fi, FILE *out);

#endif /* MV_FAULTINJ_H */
