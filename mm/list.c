/*
 * mm/list.c — out-of-line helpers for mm/list.h: the list consistency walker used by the
 * buddy, slab and per-CPU-list checkers. No locking: callers hold the list's lock.
 */
#include "mm/list.h"
#include "mm/env.h"

long list_check(const struct list_head *h, unsigned long max_nodes)
{
	const struct list_head *p = h;
	unsigned long n = 0;

	if (!h)
		return MM_INVAL("list head is NULL");
	do {
		const struct list_head *next = p->next;

		if (!next || next == LIST_POISON_NEXT || next->next == LIST_POISON_NEXT ||
		    next->prev == LIST_POISON_PREV) {
			mm_env_report(__func__, "a deleted (poisoned) node is still linked");
			return -MM_EUCLEAN;
		}
		if (next->prev != p) {
			mm_env_report(__func__, "next->prev does not point back");
			return -MM_EUCLEAN;
		}
		p = next;
		if (p != h && ++n > max_nodes) {
			mm_env_report(__func__, "more nodes than max_nodes (cycle?)");
			return -MM_EUCLEAN;
		}
	} while (p != h);
	return (long)n;
}
