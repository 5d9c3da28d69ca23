/*
 * aml.h — a small ACPI Machine Language (AML, ACPI 6.3 chapter 20) encoder: just enough terms to
 * describe memvisor's devices in the DSDT. It appends encoded bytes to a caller-given buffer:
 *
 *   struct aml a;
 *   aml_init(&a, buf, size);
 *   aml_scope_begin(&a, "\\_SB");                       Scope (\_SB) {
 *     aml_device_begin(&a, "COM1");                       Device (COM1) {
 *       aml_name_eisaid(&a, "_HID", "PNP0501");             Name (_HID, EisaId ("PNP0501"))
 *     aml_end(&a);                                        }
 *   aml_end(&a);                                        }
 *   err = aml_finish(&a, &len);
 *
 * Errors are sticky: the first failure (a bad name, a full buffer, unbalanced begin/end) is
 * recorded with mv_fail() and every later call does nothing, so a sequence of calls needs one
 * check, at aml_finish(). Nothing is ever written outside [buf, buf + size).
 *
 * Package lengths (PkgLength, 20.2.4) are not known when a Scope/Device/Method/Buffer begins:
 * begin reserves 4 bytes, end encodes the length in the fewest bytes (1..4) and moves the body
 * down over the unused ones. No locks: one builder per thread.
 */
#ifndef MV_AML_H
#define MV_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH    8                           /* nested begin()s */
#define AML_PKGLEN_MAX   ((UINT32_C(1) << 28) - 1)   /* largest PkgLength (4 bytes) */

struct aml {
	uint8_t *buf;
	size_t size;
	size_t len;                 /* bytes appended so far */
	int err;                    /* 0, or the first failure's -errno (message in mv_error()) */
	unsigned depth;             /* open packages */
	size_t open[AML_MAX_DEPTH]; /* offset of each open package's 4 reserved PkgLength bytes */
};

void aml_init(struct aml *a, void *buf, size_t size);

/* 0 and the length appended, or the first error (-EINVAL if a begin() was never ended). */
int aml_finish(struct aml *a, size_t *len);

/*
 * Encode PkgLength value `len` (which counts the PkgLength bytes themselves) into out[];
 * returns how many bytes (1: len <= 63, 2: <= 4095, 3: <= 2^20-1, 4: <= 2^28-1) or -EINVAL.
 */
int aml_pkglen_encode(uint32_t len, uint8_t out[4]);

/* Record err (a -errno from mv_fail()) as *a's failure unless one is already recorded; for
 * callers that validate their own arguments before emitting AML. */
void aml_fail(struct aml *a, int err);

/* Append already-encoded AML. */
void aml_raw(struct aml *a, const void *bytes, size_t n);

/*
 * A NameString: an optional leading '\' (root), then dot-separated segments of 1..4 characters
 * (first A-Z or '_', then A-Z, 0-9, '_'), each padded to 4 with '_': "\\_SB.COM1", "_HID".
 */
void aml_name_string(struct aml *a, const char *path);

/* Data objects: an integer in its shortest encoding (Zero/One/Ones/Byte/Word/DWord/QWord), a
 * NUL-terminated ASCII string, an EISA id "AAA####" (3 capitals, 4 hex digits) as a DWord. */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
void aml_eisaid(struct aml *a, const char *id);

/* Name (name, value) */
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_str(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* Scope (path) { ... }, Device (name) { ... }: the body follows, closed by aml_end(). */
void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *name);
void aml_end(struct aml *a);

/* Method (name, 0, NotSerialized) { Return (v) } — e.g. _STA. */
void aml_method_return_integer(struct aml *a, const char *name, uint64_t v);

/*
 * Resource templates (6.4): descriptors are collected in a struct aml_res, then
 * aml_name_resources() appends Name (name, ResourceTemplate () { ... }) with the End Tag added.
 * Errors are sticky in the struct aml_res and passed to the struct aml by aml_name_resources().
 */
#define AML_RES_MAX 128

struct aml_res {
	uint8_t b[AML_RES_MAX];
	size_t len;
	int err;
};

/* Extended Interrupt flags (6.4.3.6); the descriptor is always a ResourceConsumer. */
#define AML_INT_EDGE        (1u << 1)   /* clear: level-triggered */
#define AML_INT_ACTIVE_LOW  (1u << 2)   /* clear: active-high */
#define AML_INT_SHARED      (1u << 3)   /* clear: exclusive */

void aml_res_init(struct aml_res *r);
/* IO (Decode16, base, base, 1, len): a fixed range of `len` ports. */
void aml_res_io(struct aml_res *r, uint16_t base, uint8_t len);
/* IRQNoFlags () { irq }: an ISA IRQ 0..15, edge-triggered, active-high, exclusive. */
void aml_res_irq_noflags(struct aml_res *r, unsigned irq);
/* Memory32Fixed (ReadWrite or ReadOnly, base, size) */
void aml_res_memory32_fixed(struct aml_res *r, uint32_t base, uint32_t size, bool writable);
/* Interrupt (ResourceConsumer, flags...) { gsi } */
void aml_res_interrupt(struct aml_res *r, uint32_t gsi, unsigned flags);

void aml_name_resources(struct aml *a, const char *name, const struct aml_res *r);

#endif /* MV_AML_H */
