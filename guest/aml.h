/*
 * guest/aml.h — a structural walk of a DSDT's AML (ACPI 6.3, chapter 20) that finds its Device
 * objects and reads their identification and resources: enough for the guest to find the
 * virtio-mmio devices the VMM describes (_HID "LNRO0005", like Linux's virtio_mmio driver does).
 *
 * Not an interpreter: nothing is evaluated. The walk understands the term objects that define
 * names and scopes (Scope, Device, Name, Method, OperationRegion, Field, Mutex, ...), skips the
 * bodies of those with a package length, and reads a Device's Name(_HID), Name(_UID) and
 * Name(_CRS, ResourceTemplate) when they are data, not methods. An opcode it does not know ends
 * the walk early (AML_WALK_STOPPED: the devices before it were reported); a length that runs
 * past its container ends it as malformed (AML_WALK_MALFORMED). It never reads outside
 * [aml, aml + len).
 *
 * Pure function of its input: no state, no locks; freestanding (memcmp only). The host unit test
 * (tests/unit/test_guest_aml.c) builds it hosted, against vmm/aml.c's output and iasl's.
 */
#ifndef GUEST_AML_H
#define GUEST_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_DEVICE_MAX_DEPTH  8         /* nested Scope/Device levels walked */

struct aml_device {
	char name[5];                   /* its last name segment, NUL-terminated */
	char hid[9];                    /* _HID as a string (EISA ids decoded: "PNP0501"), or "" */
	uint64_t uid;
	bool has_uid;
	bool has_mmio, has_irq;
	uint64_t mmio_base, mmio_size;  /* the first memory range of _CRS */
	uint32_t irq;                   /* the first interrupt of _CRS (GSI or ISA IRQ) */
};

enum aml_walk_result {
	AML_WALK_DONE,                  /* every byte walked */
	AML_WALK_STOPPED,               /* an opcode the walk does not know: stopped there */
	AML_WALK_MALFORMED,             /* a length or name runs past its container */
};

struct aml_walk {
	enum aml_walk_result result;
	size_t offset;                  /* STOPPED / MALFORMED: where, from the start of the AML */
	unsigned opcode;                /* STOPPED: the opcode (0x5bXX for extended ones) */
	unsigned devices;               /* Device objects found */
};

/*
 * Walk the AML bytes [aml, aml + len) (a DSDT or SSDT body, after its 36-byte header), calling
 * fn(arg, dev) for each Device once its body is walked (so nested devices come before their
 * parent). Fills *w.
 */
void aml_walk_devices(const uint8_t *aml, size_t len,
		      void (*fn)(void *arg, const struct aml_device *dev), void *arg,
		      struct aml_walk *w);

#endif /* GUEST_AML_H */
