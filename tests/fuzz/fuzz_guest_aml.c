/*
 * fuzz_guest_aml — libFuzzer target for guest/aml.c, the guest's walk of DSDT devices: the input
 * is the AML. The input is copied into a buffer of exactly its size (so ASan sees any read past
 * it); every walk must end DONE, STOPPED or MALFORMED with its offset inside the input, and every
 * device reported must have NUL-terminated name and _HID strings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest/aml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static __attribute__((noreturn)) void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_guest_aml: %s\n", what);
	abort();
}

static void check_device(void *arg, const struct aml_device *dev)
{
	(void)arg;
	if (memchr(dev->name, '\0', sizeof(dev->name)) == NULL ||
	    memchr(dev->hid, '\0', sizeof(dev->hid)) == NULL)
		fuzz_fail("a device string is not terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct aml_walk w;

	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	aml_walk_devices(copy, size, check_device, NULL, &w);
	if (w.result != AML_WALK_DONE && w.offset > size)
		fuzz_fail("the failure offset lies outside the input");
	if (w.result == AML_WALK_DONE && w.offset != 0)
		fuzz_fail("a complete walk reports an offset");
	free(copy);
	return 0;
}
