/*
 * guest/faultinj.h — the guest kernel's fault-injection sites, configured on its command line the
 * way Linux's boot parameters configure them (Documentation/fault-injection/):
 *
 *   fail_page_alloc=<interval>,<probability>,<space>,<times>   pmem.c page_alloc (every order)
 *   failslab=<interval>,<probability>,<space>,<times>          mm/slab through kmem (failslab hook)
 *   fail_balloon=<interval>,<probability>,<space>,<times>      balloon.c: one inflate/deflate
 *                                                              batch's queue submission
 *   fault_seed=N       the random stream of every site (site i draws from N + i); default 1
 *   fault_verbose=N    0 silent, 1 a console line per failure (rate-limited), 2 plus counters
 *
 * The decision is mm/fault_attr.h's (Linux's should_fail_ex). docs/fault-injection.md (guest sites) says
 * what each site simulates, what `space` counts there and what the guest does when it fires.
 *
 * The options take effect only in scenario=faultinj (faultinj_test.c): it arms the sites once
 * the memory manager is set up, so boot-time setup (kernel page table, slab boot caches) is never
 * failed, and prints each armed site's counters at the end. Another scenario with one of these
 * options is a failed check.
 *
 * Concurrency: faultinj_should_fail may be called on any CPU at once (fault_attr is lock-free;
 * the rate limit is a per-site atomic window). faultinj_option and faultinj_arm run on the boot
 * CPU before the other CPUs allocate.
 */
#ifndef GUEST_FAULTINJ_H
#define GUEST_FAULTINJ_H

#include <mm/fault_attr.h>

enum faultinj_site {
	FAULTINJ_PAGE_ALLOC,        /* fail_page_alloc */
	FAULTINJ_SLAB,              /* failslab */
	FAULTINJ_BALLOON,           /* fail_balloon */
	FAULTINJ_NR
};

/*
 * A command-line word word[0..n): true if it is one of the options above (consumed; a bad value
 * is a failed TAP check naming the option), false if it is not one of them.
 */
bool faultinj_option(const char *word, size_t n);

/* Any fail_* option given (main.c checks they come with scenario=faultinj). */
bool faultinj_configured(void);

/* From now on the configured sites may fail (and the slab hook is installed). Once. */
void faultinj_arm(void);

/* Stop injecting (the slab hook removed); the counters stay. For a scenario's cleanup. */
void faultinj_disarm(void);

/* Is site armed with a non-zero probability? */
bool faultinj_armed(enum faultinj_site site);

/*
 * Should this call fail? size: the bytes `space` counts for it (docs); what: the caller, for the
 * verbose line. false until faultinj_arm. Safe on any CPU, with interrupts off, under locks
 * (prints through the console lock only).
 */
bool faultinj_should_fail(enum faultinj_site site, uint64_t size, const char *what);

/* Calls and failures of a site so far. */
uint64_t faultinj_calls(enum faultinj_site site);
uint64_t faultinj_failures(enum faultinj_site site);

/* "# faultinj SITE calls N failures M" for every armed site (the host tests read these). */
void faultinj_report(void);

/* scenario=faultinj (faultinj_test.c): the integrity workload under the armed sites. */
struct topo;
struct memmap;
void faultinj_scenario(const struct topo *t, const struct memmap *mm);

/*
 * faultinj_test.c's pieces for other workloads (soak.c), on the memory manager once set up:
 *   faultinj_pattern_write/_ok  the word pattern of key over bytes at p, and its check
 *   faultinj_settled_free       free pages with every CPU's slab caches flushed (a TAP
 *                               buddy_check line; the other CPUs idle)
 *   faultinj_work_init          the kernel rounds' cache and node list (a TAP line), seed
 *                               their patterns
 *   faultinj_work_round         one kernel round on this CPU (run on every CPU at once through
 *                               smp_run_all): verify all held, free about half, refill; last:
 *                               verify and free everything
 *   faultinj_work_all_ran       every online CPU ran a round since the last call
 *   faultinj_work_totals        allocations tried / failed, patterns verified / wrong, all CPUs
 *   faultinj_work_fini          destroy the cache (after a last round)
 */
void faultinj_pattern_write(void *p, size_t bytes, uint64_t key);
bool faultinj_pattern_ok(const void *p, size_t bytes, uint64_t key);
uint64_t faultinj_settled_free(void);
struct faultinj_work_totals {
	uint64_t allocs, failures, verified, bad;
};
bool faultinj_work_init(uint64_t pattern_seed);
void faultinj_work_round(bool last);
bool faultinj_work_all_ran(void);
void faultinj_work_totals(struct faultinj_work_totals *t);
void faultinj_work_fini(void);

#endif /* GUEST_FAULTINJ_H */
