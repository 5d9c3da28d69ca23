/*
 * ratelimit.h — the window of a rate-limited log: at most `burst` lines per window of
 * `window_ns`; a window begins with the first line after the previous one ended. Used by the
 * devices a guest can make talk (hostmem_pv.c, virtio_mmio.c), each with its own reporting of
 * what was suppressed.
 *
 * No locking of its own: the caller holds whatever lock guards its struct ratelimit.
 */
#ifndef MV_RATELIMIT_H
#define MV_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	bool open;                      /* a window has begun */
	uint64_t start_ns;              /* when */
	unsigned lines;                 /* lines allowed in it so far */
};

/*
 * Whether one more line may be printed at `now` (it is then counted). *opened: this call began
 * a new window (the caller reports what the previous one suppressed before printing).
 */
static inline bool ratelimit_take(struct ratelimit *rl, uint64_t now, uint64_t window_ns,
				  unsigned burst, bool *opened)
{
	*opened = !rl->open || now - rl->start_ns >= window_ns;
	if (*opened) {
		rl->open = true;
		rl->start_ns = now;
		rl->lines = 0;
	}
	if (rl->lines >= burst)
		return false;
	rl->lines++;
	return true;
}

#endif /* MV_RATELIMIT_H */
