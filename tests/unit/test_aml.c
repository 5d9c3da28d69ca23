/*
 * Unit tests for vmm/aml.c: PkgLength encoding at every size boundary, the shortest-encoding
 * choice when a package ends, names, integers, strings, EISA ids, resource descriptors, and the
 * sticky errors (bad names, a full buffer, unbalanced begin/end). Expected bytes are assembled by
 * hand from the ACPI 6.3 grammar (chapter 20) and descriptor formats (6.4).
 */
#include <errno.h>
#include <stdlib.h>

#include "aml.h"
#include "error.h"

#include "mvtest.h"

#define CHECK_ERROR(substr) \
	do { \
		if (!strstr(mv_error(), (substr))) \
			mvt_fail(__FILE__, __LINE__, "expected an error containing \"%s\", got \"%s\"", \
				 (substr), mv_error()); \
	} while (0)

/* a's bytes must be exactly want[0..n). */
#define CHECK_BYTES(a, want) check_bytes(__LINE__, (a), (want), sizeof(want))

static void check_bytes(int line, const struct aml *a, const uint8_t *want, size_t n)
{
	if (a->err)
		mvt_fail(__FILE__, line, "AML error %d: %s", a->err, mv_error());
	if (a->len != n)
		mvt_fail(__FILE__, line, "AML is %zu bytes, expected %zu", a->len, n);
	for (size_t i = 0; i < n; i++)
		if (a->buf[i] != want[i])
			mvt_fail(__FILE__, line, "AML byte %zu is %#04x, expected %#04x", i, a->buf[i],
				 want[i]);
}

/* ---- errors first ---- */

TEST(pkglen_beyond_28_bits_is_rejected)
{
	uint8_t out[4];

	mv_error_clear();
	CHECK_EQ(aml_pkglen_encode(AML_PKGLEN_MAX + 1, out), -EINVAL);
	CHECK_ERROR("exceeds the largest");
	CHECK_EQ(aml_pkglen_encode(UINT32_MAX, out), -EINVAL);
}

TEST(bad_names_are_rejected_and_sticky)
{
	static const char *const bad[] = {
		"", "1ABC", "ABCDE", "a", "\\_SB..X", "_SB.", ".A", "AB-C", "\\\\A",
	};
	uint8_t buf[64];
	struct aml a;
	size_t len;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		mv_error_clear();
		aml_name_string(&a, bad[i]);
		CHECK_EQ(a.err, -EINVAL);
		CHECK_ERROR("AML name");
		CHECK_EQ_U(a.len, 0);
		/* Later calls append nothing and the first message stays. */
		aml_integer(&a, 5);
		aml_name_string(&a, "_HID");
		CHECK_EQ_U(a.len, 0);
		CHECK_ERROR("AML name");
		CHECK_EQ(aml_finish(&a, &len), -EINVAL);
	}
}

TEST(full_buffer_is_enospc_and_nothing_written_past_it)
{
	uint8_t buf[16];
	struct aml a;
	size_t len;

	memset(buf, 0xcc, sizeof(buf));
	aml_init(&a, buf, 8);
	mv_error_clear();
	aml_name_str(&a, "_HID", "LNRO0005");     /* 1 + 4 + 10 bytes */
	CHECK_EQ(a.err, -ENOSPC);
	CHECK_ERROR("do not fit");
	CHECK_EQ(aml_finish(&a, &len), -ENOSPC);
	CHECK(len <= 8);
	for (size_t i = 8; i < sizeof(buf); i++)
		CHECK_EQ_U(buf[i], 0xcc);
}

TEST(end_without_begin_is_rejected)
{
	uint8_t buf[16];
	struct aml a;
	size_t len;

	aml_init(&a, buf, sizeof(buf));
	mv_error_clear();
	aml_end(&a);
	CHECK_EQ(aml_finish(&a, &len), -EINVAL);
	CHECK_ERROR("end without");
}

TEST(begin_without_end_is_rejected)
{
	uint8_t buf[32];
	struct aml a;
	size_t len;

	aml_init(&a, buf, sizeof(buf));
	aml_device_begin(&a, "COM1");
	mv_error_clear();
	CHECK_EQ(aml_finish(&a, &len), -EINVAL);
	CHECK_ERROR("begun but not ended");
}

TEST(nesting_deeper_than_max_is_rejected)
{
	uint8_t buf[256];
	struct aml a;
	size_t len;

	aml_init(&a, buf, sizeof(buf));
	mv_error_clear();
	for (int i = 0; i <= AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "S");
	CHECK_EQ(aml_finish(&a, &len), -EINVAL);
	CHECK_ERROR("nested");
}

TEST(bad_eisaids_are_rejected)
{
	static const char *const bad[] = { "PNP050", "PNP05011", "pnp0501", "PN10501", "PNP050G" };
	uint8_t buf[16];
	struct aml a;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		mv_error_clear();
		aml_eisaid(&a, bad[i]);
		CHECK_EQ(a.err, -EINVAL);
		CHECK_ERROR("EISA id");
		CHECK_EQ_U(a.len, 0);
	}
}

TEST(non_ascii_string_is_rejected)
{
	uint8_t buf[16];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	mv_error_clear();
	aml_string(&a, "ab\xc3\xa9");
	CHECK_EQ(a.err, -EINVAL);
	CHECK_ERROR("not ASCII");
}

TEST(bad_resource_descriptors_are_rejected)
{
	uint8_t buf[64];
	struct aml_res r;
	struct aml a;

	aml_res_init(&r);
	mv_error_clear();
	aml_res_irq_noflags(&r, 16);
	CHECK_EQ(r.err, -EINVAL);
	CHECK_ERROR("not an ISA IRQ");

	aml_res_init(&r);
	aml_res_interrupt(&r, 5, 1u << 4);
	CHECK_EQ(r.err, -EINVAL);
	CHECK_ERROR("unknown flags");

	/* The template's error reaches the AML, which writes nothing. */
	aml_init(&a, buf, sizeof(buf));
	aml_name_resources(&a, "_CRS", &r);
	CHECK_EQ(a.err, -EINVAL);
	CHECK_EQ_U(a.len, 0);

	aml_res_init(&r);
	mv_error_clear();
	for (int i = 0; i < AML_RES_MAX; i++)
		aml_res_irq_noflags(&r, 3);
	CHECK_EQ(r.err, -ENOSPC);
	CHECK_ERROR("more than");
	CHECK(r.len <= AML_RES_MAX);
}

/* ---- encodings ---- */

TEST(pkglen_encoding_at_every_boundary)
{
	static const struct {
		uint32_t len;
		int n;
		uint8_t b[4];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 63, 1, { 0x3f } },
		{ 64, 2, { 0x40, 0x04 } },
		{ 4095, 2, { 0x4f, 0xff } },
		{ 4096, 3, { 0x80, 0x00, 0x01 } },
		{ 0xfffff, 3, { 0x8f, 0xff, 0xff } },
		{ 0x100000, 4, { 0xc0, 0x00, 0x00, 0x01 } },       /* 1 MiB */
		{ 0x123456, 4, { 0xc6, 0x45, 0x23, 0x01 } },
		{ AML_PKGLEN_MAX, 4, { 0xcf, 0xff, 0xff, 0xff } },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[4] = { 0 };

		CHECK_EQ(aml_pkglen_encode(cases[i].len, out), cases[i].n);
		for (int j = 0; j < cases[i].n; j++)
			CHECK_EQ_U(out[j], cases[i].b[j]);
	}
}

/*
 * Scope (SCOP) { body_bytes of filler }: the body after PkgLength is the 4-byte name plus the
 * filler, so PkgLength = 4 + filler + n. Check the shortest n is chosen, its bytes, and that the
 * body slid down intact.
 */
static void check_scope_pkglen(size_t filler, int want_n, uint32_t want_len)
{
	size_t size = filler + 64, len;
	uint8_t *buf = malloc(size), *fill = malloc(filler), enc[4];
	struct aml a;

	CHECK_NOT_NULL(buf);
	CHECK_NOT_NULL(fill);
	for (size_t i = 0; i < filler; i++)
		fill[i] = (uint8_t)(i * 7 + 1);
	aml_init(&a, buf, size);
	aml_scope_begin(&a, "SCOP");
	aml_raw(&a, fill, filler);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a, &len), 0);
	CHECK_EQ_U(len, 1 + (size_t)want_n + 4 + filler);
	CHECK_EQ_U(buf[0], 0x10);                          /* ScopeOp */
	CHECK_EQ(aml_pkglen_encode(want_len, enc), want_n);
	CHECK_EQ_U(4 + filler + (size_t)want_n, want_len);
	CHECK_EQ(memcmp(buf + 1, enc, (size_t)want_n), 0);
	CHECK_EQ(memcmp(buf + 1 + want_n, "SCOP", 4), 0);
	CHECK_EQ(memcmp(buf + 1 + want_n + 4, fill, filler), 0);
	free(buf);
	free(fill);
}

TEST(package_end_picks_the_shortest_pkglen)
{
	check_scope_pkglen(0, 1, 5);
	check_scope_pkglen(58, 1, 63);           /* 4 + 58 + 1 = 63: still one byte */
	check_scope_pkglen(59, 2, 65);           /* 4 + 59 + 1 = 64 does not fit one byte */
	check_scope_pkglen(4089, 2, 4095);
	check_scope_pkglen(4090, 3, 4097);       /* 4 + 4090 + 2 = 4096 does not fit two */
	check_scope_pkglen(0xfffff - 7, 3, 0xfffff);
	check_scope_pkglen(0xfffff - 6, 4, 0x100001);   /* 1 MiB */
}

TEST(nested_packages_move_with_their_parent)
{
	/* Scope (OUT) { Device (IN) { 60 bytes } }: the Device's PkgLength is 2 + 4 + 60 = 66, two
	 * bytes, so the Device is 68 bytes and the Scope's PkgLength 2 + 4 + 68 = 74. */
	uint8_t buf[128], fill[60];
	struct aml a;
	size_t len, inner;

	memset(fill, 0xab, sizeof(fill));
	aml_init(&a, buf, sizeof(buf));
	aml_scope_begin(&a, "OUT");
	aml_device_begin(&a, "IN");
	aml_raw(&a, fill, sizeof(fill));
	aml_end(&a);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a, &len), 0);
	inner = 2 + 2 + 4 + sizeof(fill);                  /* 5B 82, PkgLength(2), name, body */
	/* Outer: 10, PkgLength(2: 2 + 4 + inner = 74 > 63), "OUT_", inner. */
	CHECK_EQ_U(len, 1 + 2 + 4 + inner);
	CHECK_EQ_U(buf[0], 0x10);
	CHECK_EQ_U(buf[1], 0x40 | ((2 + 4 + inner) & 0xf));
	CHECK_EQ_U(buf[2], (2 + 4 + inner) >> 4);
	CHECK_EQ(memcmp(buf + 3, "OUT_", 4), 0);
	CHECK_EQ_U(buf[7], 0x5b);
	CHECK_EQ_U(buf[8], 0x82);
	CHECK_EQ_U(buf[9], 0x40 | ((2 + 4 + sizeof(fill)) & 0xf));
	CHECK_EQ_U(buf[10], (2 + 4 + sizeof(fill)) >> 4);
	CHECK_EQ(memcmp(buf + 11, "IN__", 4), 0);
	CHECK_EQ(memcmp(buf + 15, fill, sizeof(fill)), 0);
}

TEST(name_strings_root_dual_multi)
{
	static const uint8_t want[] = {
		0x5c, '_', 'S', 'B', '_',                                  /* \_SB */
		'_', 'H', 'I', 'D',                                        /* _HID */
		0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1',        /* \_SB.COM1 */
		0x2f, 3, 'A', '_', '_', '_', 'B', 'C', '_', '_', 'D', '0', '9', '_', /* A.BC.D09 */
		0x5c, 0x00,                                                /* \ */
	};
	uint8_t buf[64];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_name_string(&a, "\\_SB");
	aml_name_string(&a, "_HID");
	aml_name_string(&a, "\\_SB.COM1");
	aml_name_string(&a, "A.BC.D09");
	aml_name_string(&a, "\\");
	CHECK_BYTES(&a, want);
}

TEST(integers_take_the_shortest_form)
{
	static const uint8_t want[] = {
		0x00,                                       /* 0: ZeroOp */
		0x01,                                       /* 1: OneOp */
		0x0a, 0x02,                                 /* 2 */
		0x0a, 0xff,
		0x0b, 0x00, 0x01,                           /* 0x100 */
		0x0b, 0xff, 0xff,
		0x0c, 0x00, 0x00, 0x01, 0x00,               /* 0x10000 */
		0x0c, 0xff, 0xff, 0xff, 0xff,
		0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  /* 2^32 */
		0x0e, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  /* 2^64 - 2 */
		0xff,                                       /* 2^64 - 1: OnesOp */
	};
	static const uint64_t v[] = { 0, 1, 2, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff,
				      UINT64_C(0x100000000), UINT64_MAX - 1, UINT64_MAX };
	uint8_t buf[64];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		aml_integer(&a, v[i]);
	CHECK_BYTES(&a, want);
}

TEST(names_with_string_eisaid_and_integer)
{
	static const uint8_t want[] = {
		0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,          /* PNP0501 */
		0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03,          /* PNP0A03 */
		0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,
		0x08, '_', 'U', 'I', 'D', 0x0a, 0x2a,
	};
	uint8_t buf[64];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_name_eisaid(&a, "_HID", "PNP0501");
	aml_name_eisaid(&a, "_CID", "PNP0A03");
	aml_name_str(&a, "_HID", "LNRO0005");
	aml_name_integer(&a, "_UID", 42);
	CHECK_BYTES(&a, want);
}

TEST(method_returning_a_constant)
{
	/* Method (_STA, 0, NotSerialized) { Return (0x0F) } */
	static const uint8_t want[] = { 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f };
	uint8_t buf[16];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_method_return_integer(&a, "_STA", 0x0f);
	CHECK_BYTES(&a, want);
}

TEST(resource_template_descriptors)
{
	/* Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4}
	 * Memory32Fixed (ReadWrite, 0xC0001000, 0x200) Interrupt (ResourceConsumer, Edge,
	 * ActiveHigh, Exclusive) {5} Memory32Fixed (ReadOnly, 0x10, 0x20) Interrupt (..., Level,
	 * ActiveLow, Shared) {0x12345678} }) */
	static const uint8_t want[] = {
		0x08, '_', 'C', 'R', 'S', 0x11, 0x3a, 0x0a, 0x37,   /* 55 bytes of descriptors */
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
		0x22, 0x10, 0x00,
		0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xc0, 0x00, 0x02, 0x00, 0x00,
		0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,
		0x86, 0x09, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
		0x89, 0x06, 0x00, 0x0d, 0x01, 0x78, 0x56, 0x34, 0x12,
		0x79, 0x00,
	};
	struct aml_res r;
	uint8_t buf[96];
	struct aml a;

	aml_res_init(&r);
	aml_res_io(&r, 0x3f8, 8);
	aml_res_irq_noflags(&r, 4);
	aml_res_memory32_fixed(&r, 0xc0001000, 0x200, true);
	aml_res_interrupt(&r, 5, AML_INT_EDGE);
	aml_res_memory32_fixed(&r, 0x10, 0x20, false);
	aml_res_interrupt(&r, 0x12345678, AML_INT_ACTIVE_LOW | AML_INT_SHARED);
	aml_init(&a, buf, sizeof(buf));
	aml_name_resources(&a, "_CRS", &r);
	CHECK_BYTES(&a, want);
}
