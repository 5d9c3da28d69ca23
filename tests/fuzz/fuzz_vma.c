/*
 * fuzz_vma — libFuzzer target for mm/vma: the input is decoded into a sequence of address-space
 * operations (mmap in all its forms, munmap, mprotect, stack growth, brk, gap searches, the
 * split/merge/insert/erase primitives, bad arguments) that run on a real mm_space and on the
 * sorted-array model of tests/unit/vma_model.h; after every operation the return codes, lookups,
 * the whole layout, the counters and vma_check() must agree. Any disagreement aborts.
 *
 * Input format: byte 0 picks the layout (bit 0: bottom-up) and the allocator's failure period
 * (bits 1-2: never, every 3rd, 5th or 9th VMA allocation); then 13 bytes per operation: the
 * operation byte and three little-endian 32-bit operands. At most 512 operations per input.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../unit/vma_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OP_BYTES 13
#define MAX_OPS  512

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static __attribute__((noreturn)) void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_vma: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned fail_period[4] = { 0, 3, 5, 9 };
	static struct vharness h;           /* the model array is large: not on the stack */
	size_t ops;

	if (size < 1)
		return 0;
	if (vharness_init(&h, !(data[0] & 1), fail_period[(data[0] >> 1) & 3]))
		fuzz_fail("vharness_init failed");
	ops = (size - 1) / OP_BYTES;
	if (ops > MAX_OPS)
		ops = MAX_OPS;
	for (size_t i = 0; i < ops; i++) {
		const uint8_t *p = data + 1 + i * OP_BYTES;
		uint64_t r[4] = { p[0], le32(p + 1), le32(p + 5), le32(p + 9) };
		const char *err = vharness_step(&h, r);

		if (!err)
			err = vharness_compare(&h);
		if (err)
			fuzz_fail(err);
	}
	vharness_destroy(&h);
	if (h.live != 0 || h.mm.map_count != 0)
		fuzz_fail("VMAs leaked after mm_space_destroy");
	return 0;
}
