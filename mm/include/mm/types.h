/*
 * mm/types.h — scalar types shared by every mm/ module.
 *
 * Address kinds are distinct typedefs so a reader can tell a guest-physical address from a host
 * virtual one at a glance (the compiler cannot: they are all uint64_t).
 */
#ifndef MM_TYPES_H
#define MM_TYPES_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

typedef uint64_t phys_addr_t;   /* a physical address in whatever space the caller manages */
typedef uint64_t pfn_t;         /* physical frame number: phys_addr_t >> MM_PAGE_SHIFT */
typedef uint64_t gpa_t;         /* guest-physical address */
typedef uint64_t gva_t;         /* guest-virtual address */
typedef uint64_t hva_t;         /* host-virtual address (VMM process) */
typedef uint64_t hpa_t;         /* host-physical / host-frame address */
typedef uint64_t nodemask_t;    /* bit n set = NUMA node n; only bits < MM_MAX_NODES are valid */

#define MM_PAGE_SHIFT 12
#define MM_PAGE_SIZE  (UINT64_C(1) << MM_PAGE_SHIFT)
#define MM_PAGE_MASK  (~(MM_PAGE_SIZE - 1))

#define MM_MAX_NODES  16        /* NUMA nodes one allocator instance can describe */
#define MM_MAX_CPUS   64        /* CPU ids handed out by mm_env_cpu_enter() are below this */

#define MM_ALIGN_UP(x, a)   (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define MM_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MM_IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define MM_ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))

#define MM_CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define mm_likely(x)   __builtin_expect(!!(x), 1)
#define mm_unlikely(x) __builtin_expect(!!(x), 0)
#define mm_must_check  __attribute__((warn_unused_result))

#endif /* MM_TYPES_H */
