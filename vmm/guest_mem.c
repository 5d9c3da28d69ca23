/*
 * guest_mem.c — bounds-checked access to guest RAM (guest_mem.h). Regions are few (≤ 32), so a
 * linear scan is the clearest correct choice.
 */
#include "guest_mem.h"

const struct guest_mem_region *guest_mem_find(const struct guest_mem *gm, gpa_t gpa)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct guest_mem_region *r = &gm->r[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *guest_mem_ptr(const struct guest_mem *gm, gpa_t gpa, uint64_t len)
{
	const struct guest_mem_region *r = guest_mem_find(gm, gpa);
	uint64_t off;

	if (!r || len == 0)
		return NULL;
	off = gpa - r->gpa;
	if (len > r->size - off)     /* written so it cannot overflow */
		return NULL;
	return r->hva + off;
}
