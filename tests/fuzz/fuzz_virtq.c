/*
 * fuzz_virtq — libFuzzer target for split-virtqueue parsing (vmm/virtqueue.h): the input IS the
 * guest's RAM, so every descriptor, ring index, flag and indirect table is the fuzzer's choice.
 *
 *   input: [0] log2 of the queue size (mod 9: 1..256)   [1] bit 0 INDIRECT_DESC, bit 1 EVENT_IDX
 *          [2..] copied over region 0, then region 1
 *
 *   0          16 KiB        64 KiB       68 KiB
 *   | region 0  |    gap      | region 1   |        desc at 0, avail at 0x1000, used at 0x2000
 *
 * Each region is its own static buffer of exactly its size (ASan redzones between globals), so
 * any access outside guest RAM is reported. After every successful pop the chain must satisfy
 * the contract: every buffer wholly inside one region with hva matching its gpa, readable ones
 * first, at most VIRTQ_MAX_SEGS, the lengths summing up. A failed pop must have set an error.
 * Any mismatch aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "virtqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define R0_SIZE 0x4000
#define R1_GPA  0x10000
#define R1_SIZE 0x1000

static uint8_t ram0[R0_SIZE], ram1[R1_SIZE];

#define FZ_ASSERT(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_virtq: %s:%d: %s (last error: %s)\n", __FILE__, \
				__LINE__, #cond, mv_error()); \
			abort(); \
		} \
	} while (0)

static void check_elem(const struct guest_mem *gm, const struct virtq_elem *e, uint16_t qsize)
{
	uint64_t out = 0, in = 0;

	FZ_ASSERT(e->head < qsize);
	FZ_ASSERT(e->nr_out + e->nr_in <= VIRTQ_MAX_SEGS);
	for (unsigned i = 0; i < e->nr_out + e->nr_in; i++) {
		const struct virtq_buf *b = &e->buf[i];

		FZ_ASSERT(b->len > 0);
		FZ_ASSERT(guest_mem_ptr(gm, b->gpa, b->len) == b->hva);
		if (i < e->nr_out)
			out += b->len;
		else
			in += b->len;
	}
	FZ_ASSERT(out == e->out_len && in == e->in_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_elem e;
	struct guest_mem gm = { .nr = 2 };
	struct virtq q;
	size_t n0, n1;

	if (size < 2)
		return 0;
	memset(ram0, 0, sizeof(ram0));
	memset(ram1, 0, sizeof(ram1));
	n0 = size - 2 < R0_SIZE ? size - 2 : R0_SIZE;
	memcpy(ram0, data + 2, n0);
	n1 = size - 2 - n0 < R1_SIZE ? size - 2 - n0 : R1_SIZE;
	memcpy(ram1, data + 2 + n0, n1);
	gm.r[0] = (struct guest_mem_region){ .gpa = 0, .size = R0_SIZE, .hva = ram0 };
	gm.r[1] = (struct guest_mem_region){ .gpa = R1_GPA, .size = R1_SIZE, .hva = ram1, .node = 1 };

	virtq_reset(&q, &gm);
	q.size = (uint16_t)(1u << (data[0] % 9));
	q.desc = 0;
	q.avail = 0x1000;
	q.used = 0x2000;
	q.indirect = data[1] & 1;
	q.event_idx = data[1] & 2;
	FZ_ASSERT(virtq_check(&q, VIRTQ_MAX_SIZE) == 0);
	q.ready = true;
	for (unsigned round = 0; round < 2 * VIRTQ_MAX_SIZE; round++) {
		int r;

		(void)mv_fail(0, "%s", "");      /* clear the message: a failure must set one */
		r = virtq_pop(&q, &e);
		if (r < 0) {
			FZ_ASSERT(mv_error()[0] != '\0');
			break;
		}
		if (r == 0 && !virtq_enable_notify(&q))
			break;
		if (r == 1) {
			check_elem(&gm, &e, q.size);
			virtq_push(&q, e.head, (uint32_t)e.in_len);
			(void)virtq_should_interrupt(&q);
		}
	}
	return 0;
}
