/*
 * mm/list.h — intrusive circular doubly linked lists (the kernel's list_head), used by the buddy
 * free lists, slab partial lists and per-CPU page lists.
 *
 * An empty list is a head pointing at itself. Nodes removed with list_del() are poisoned so a
 * second removal trips MM_BUG_ON in list_check_node() (debug builds) instead of corrupting.
 */
#ifndef MM_LIST_H
#define MM_LIST_H

#include "types.h"

struct list_head {
	struct list_head *next, *prev;
};

#define LIST_POISON_NEXT ((struct list_head *)(uintptr_t)0xdead000000000100ull)
#define LIST_POISON_PREV ((struct list_head *)(uintptr_t)0xdead000000000122ull)

#define LIST_HEAD_INIT(name) { &(name), &(name) }

static inline void list_init(struct list_head *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool list_empty(const struct list_head *h)
{
	return h->next == h;
}

static inline void list_insert_between_(struct list_head *n, struct list_head *prev,
					struct list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}

/* Insert n right after h (stack order). */
static inline void list_add(struct list_head *n, struct list_head *h)
{
	list_insert_between_(n, h, h->next);
}

/* Insert n right before h, i.e. at the tail of the list headed by h (queue order). */
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	list_insert_between_(n, h->prev, h);
}

static inline void list_del(struct list_head *n)
{
	n->next->prev = n->prev;
	n->prev->next = n->next;
	n->next = LIST_POISON_NEXT;
	n->prev = LIST_POISON_PREV;
}

/* Move every node of src to the front of dst; src becomes empty. */
static inline void list_splice_init(struct list_head *src, struct list_head *dst)
{
	if (list_empty(src))
		return;
	src->next->prev = dst;
	src->prev->next = dst->next;
	dst->next->prev = src->prev;
	dst->next = src->next;
	list_init(src);
}

#define list_entry(ptr, type, member) MM_CONTAINER_OF(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)

#define list_for_each(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
/* Safe against removal of pos. */
#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

/*
 * Walk the list checking every link is reciprocal and no poisoned node is linked.
 * Returns the number of nodes, or -MM_EUCLEAN if the list is corrupt (after reporting).
 * Stops after max_nodes to survive cycles that bypass the head.
 */
long list_check(const struct list_head *h, unsigned long max_nodes);

#endif /* MM_LIST_H */
