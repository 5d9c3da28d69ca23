/*
 * buddy_shape.h — the free-block "shape" of a buddy instance, read straight from its frame
 * array: shared by the unit-test helpers (buddy_util.h) and the bitmap model (buddy_model.h),
 * which each wrap it with their own assertion. Reads only; the caller keeps the instance still.
 */
#ifndef BUDDY_SHAPE_H
#define BUDDY_SHAPE_H

#include <mm/buddy.h>

/*
 * Writes (pfn << 8 | order) of every free block, in pfn order, into out[0..max) and returns how
 * many free blocks there are. A result above max means out was too small: only the first max
 * were written.
 */
static inline unsigned buddy_shape(const struct buddy *b, uint64_t *out, unsigned max)
{
	unsigned n = 0;

	for (uint64_t si = 0; si < b->nr_sections; si++) {
		const struct buddy_section *s = &b->sections[si];

		for (uint64_t off = 0; off < s->nr; off++) {
			const struct buddy_frame *f = &s->frames[off];

			if ((f->flags & BUDDY_FRAME_STATE_MASK) != BUDDY_FRAME_FREE)
				continue;
			if (n < max)
				out[n] = (s->start + off) << 8 | f->order;
			n++;
		}
	}
	return n;
}

#endif /* BUDDY_SHAPE_H */
