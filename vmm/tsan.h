/*
 * tsan.h — what ThreadSanitizer cannot see of the kernel's ordering of guest RAM, said to it.
 * Every macro here is empty unless the file is compiled with -fsanitize=thread (MV_TSAN=ON).
 *
 * Guest RAM is a host mapping that the engine (vmm/gmem.c) replaces under the vCPUs' feet:
 * a userfaultfd reader mmap()s a pool block over a cluster, then wakes the vCPUs blocked on it.
 * TSan's mmap interceptor records a MAP_FIXED mapping as a *write* of the whole range by the
 * mapping thread. Every later access by a vCPU thread is then "racing" with the reader, although
 * the kernel orders it: a vCPU cannot reach the range before the mapping exists (it blocks in
 * the kernel on the userfaultfd until UFFDIO_WAKE, or finds the new page-table entries), and
 * what the mapping shows (the block's contents) was put there through the memfd, not through
 * this address. TSan sees neither the page tables nor the wake.
 *
 * Why not release before the wake and acquire in the vCPU after its access: a vCPU that did not
 * fault (another thread already had the cluster mapped) reaches the memory with no acquire in
 * between, and even one that acquires before each access can run between the mmap and the
 * release and be reported. The honest model is the one TSan already applies to fresh memory:
 * a mapping starts a new life for its range. TSan does exactly that (MemoryResetRange instead
 * of an imitated write) for an mmap made while the calling thread ignores its own writes, so:
 *
 *   MV_TSAN_MAPPING_BEGIN();
 *   got = mmap(cluster_hva, ..., MAP_FIXED, ...);     // guest RAM only: the shadow is reset
 *   MV_TSAN_MAPPING_END();
 *
 * Use it only around calls that replace guest RAM (a range the vCPUs reach only through the
 * kernel's fault handling). Races between threads that touch guest RAM while it stays mapped
 * (two vCPU threads, a device thread and a vCPU) are still checked in full.
 */
#ifndef MV_TSAN_H
#define MV_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define MV_TSAN_ENABLED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MV_TSAN_ENABLED 1
#endif
#endif

#ifdef MV_TSAN_ENABLED
/* The TSan runtime's annotation entry points (tsan_interface_ann.cpp); no header ships them. */
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define MV_TSAN_MAPPING_BEGIN() AnnotateIgnoreWritesBegin(__FILE__, __LINE__)
#define MV_TSAN_MAPPING_END()   AnnotateIgnoreWritesEnd(__FILE__, __LINE__)
#else
#define MV_TSAN_MAPPING_BEGIN() ((void)0)
#define MV_TSAN_MAPPING_END()   ((void)0)
#endif

#endif /* MV_TSAN_H */
