/*
 * aml.c — the AML encoder (aml.h). Owns only the caller's struct aml / struct aml_res; no locks.
 *
 * Invariants: a->len <= a->size; once a->err is set nothing more is written and a->err never
 * changes; a->open[0..depth) are increasing offsets, each the start of 4 reserved PkgLength bytes
 * followed by that package's body so far.
 */
#include "aml.h"

#include <errno.h>
#include <string.h>

#include "error.h"

/* Opcodes and prefixes (ACPI 6.3, 20.2). */
#define AML_ZERO_OP          0x00
#define AML_ONE_OP           0x01
#define AML_NAME_OP          0x08
#define AML_BYTE_PREFIX      0x0a
#define AML_WORD_PREFIX      0x0b
#define AML_DWORD_PREFIX     0x0c
#define AML_STRING_PREFIX    0x0d
#define AML_QWORD_PREFIX     0x0e
#define AML_SCOPE_OP         0x10
#define AML_BUFFER_OP        0x11
#define AML_METHOD_OP        0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX    0x5b
#define AML_DEVICE_OP        0x82     /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR        0x5c
#define AML_NULL_NAME        0x00
#define AML_RETURN_OP        0xa4
#define AML_ONES_OP          0xff

#define AML_PKGLEN_RESERVE   4        /* bytes reserved at begin(), the longest encoding */
#define AML_MAX_SEGS         255      /* MultiNamePrefix SegCount is a byte */

/* Resource descriptor tags (ACPI 6.3, 6.4). */
#define RES_IRQ_NOFLAGS      0x22     /* small item 0x04, 2 bytes follow */
#define RES_IO               0x47     /* small item 0x08, 7 bytes follow */
#define RES_END_TAG          0x79     /* small item 0x0f, 1 byte follows (checksum, 0: none) */
#define RES_MEMORY32_FIXED   0x86     /* large item 0x06 */
#define RES_EXT_INTERRUPT    0x89     /* large item 0x09 */
#define RES_IO_DECODE16      0x01
#define RES_MEM_WRITABLE     0x01
#define RES_INT_CONSUMER     0x01

static bool aml_ok(const struct aml *a)
{
	return a->err == 0;
}

/* Record the first failure; later ones are consequences of it and keep its message. */
void aml_fail(struct aml *a, int err)
{
	if (a->err == 0)
		a->err = err;
}

void aml_init(struct aml *a, void *buf, size_t size)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->size = size;
}

int aml_finish(struct aml *a, size_t *len)
{
	if (aml_ok(a) && a->depth != 0)
		aml_fail(a, mv_fail(EINVAL, "AML: %u Scope/Device/Method begun but not ended",
				     a->depth));
	*len = a->len;
	return a->err;
}

void aml_raw(struct aml *a, const void *bytes, size_t n)
{
	if (!aml_ok(a))
		return;
	if (n > a->size - a->len) {
		aml_fail(a, mv_fail(ENOSPC, "AML: %zu more bytes do not fit (%zu of %zu used)",
				     n, a->len, a->size));
		return;
	}
	memcpy(a->buf + a->len, bytes, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_raw(a, &b, 1);
}

/* Little-endian stores into a byte array: AML and resource descriptors are little-endian. */
static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * PkgLength (20.2.4): one byte holds 0..63 in bits 5:0. Longer: bits 7:6 of the lead byte say
 * how many bytes follow (1..3), bits 3:0 hold the low nibble, each following byte 8 more bits.
 */
int aml_pkglen_encode(uint32_t len, uint8_t out[4])
{
	int follow;

	if (len > AML_PKGLEN_MAX)
		return mv_fail(EINVAL, "AML: PkgLength %u exceeds the largest, %u",
			       (unsigned)len, (unsigned)AML_PKGLEN_MAX);
	if (len <= 0x3f) {
		out[0] = (uint8_t)len;
		return 1;
	}
	follow = len <= 0xfff ? 1 : len <= 0xfffff ? 2 : 3;
	out[0] = (uint8_t)((follow << 6) | (len & 0xf));
	for (int i = 1; i <= follow; i++)
		out[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
	return follow + 1;
}

/* Reserve a PkgLength for a package whose body follows; aml_end() fills it in. */
static void aml_pkg_begin(struct aml *a)
{
	static const uint8_t reserved[AML_PKGLEN_RESERVE];

	if (!aml_ok(a))
		return;
	if (a->depth == AML_MAX_DEPTH) {
		aml_fail(a, mv_fail(EINVAL, "AML: more than %d nested Scope/Device/Method/Buffer",
				     AML_MAX_DEPTH));
		return;
	}
	a->open[a->depth++] = a->len;
	aml_raw(a, reserved, sizeof(reserved));
}

/*
 * Close the innermost package: its PkgLength counts its own bytes plus the body, so pick the
 * smallest encoding n (1..4) with body + n representable in n bytes, then slide the body down
 * over the 4 - n reserved bytes it does not need.
 */
void aml_end(struct aml *a)
{
	size_t start, body;
	uint8_t enc[4];
	int n = 0;

	if (!aml_ok(a))
		return;
	if (a->depth == 0) {
		aml_fail(a, mv_fail(EINVAL, "AML: end without a Scope/Device/Method/Buffer begun"));
		return;
	}
	start = a->open[--a->depth];
	body = a->len - start - AML_PKGLEN_RESERVE;
	if (body > AML_PKGLEN_MAX - AML_PKGLEN_RESERVE) {
		aml_fail(a, mv_fail(EINVAL, "AML: a package of %zu bytes exceeds PkgLength's %u",
				     body, (unsigned)AML_PKGLEN_MAX));
		return;
	}
	for (uint32_t try = 1; try <= AML_PKGLEN_RESERVE; try++) {
		n = aml_pkglen_encode((uint32_t)body + try, enc);
		if (n == (int)try)
			break;
	}
	/* n is always found: body + 4 <= AML_PKGLEN_MAX needs at most 4 bytes. */
	memmove(a->buf + start + n, a->buf + start + AML_PKGLEN_RESERVE, body);
	memcpy(a->buf + start, enc, (size_t)n);
	a->len -= AML_PKGLEN_RESERVE - (size_t)n;
}

static bool seg_char_ok(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || c == '_')
		return true;
	return !first && c >= '0' && c <= '9';
}

/*
 * Check `path` and count its segments; 0 with *nsegs set, or -EINVAL naming the problem.
 * *rooted says whether it starts with '\'.
 */
static int name_parse(const char *path, bool *rooted, unsigned *nsegs)
{
	const char *p = path;
	unsigned segs = 0;

	*rooted = *p == '\\';
	if (*rooted)
		p++;
	if (*p == '\0') {
		*nsegs = 0;
		return *rooted ? 0 : mv_fail(EINVAL, "AML name '%s': empty", path);
	}
	for (;;) {
		unsigned n = 0;

		while (p[n] != '\0' && p[n] != '.') {
			if (n == 4 || !seg_char_ok(p[n], n == 0))
				return mv_fail(EINVAL, "AML name '%s': segment %u is not 1-4 of "
					       "A-Z, 0-9, _ (not starting with a digit)", path, segs);
			n++;
		}
		if (n == 0)
			return mv_fail(EINVAL, "AML name '%s': empty segment %u", path, segs);
		if (++segs > AML_MAX_SEGS)
			return mv_fail(EINVAL, "AML name '%s': more than %d segments", path,
				       AML_MAX_SEGS);
		p += n;
		if (*p == '\0')
			break;
		p++;
	}
	*nsegs = segs;
	return 0;
}

void aml_name_string(struct aml *a, const char *path)
{
	const char *p = path;
	unsigned nsegs = 0;
	bool rooted;
	int err;

	if (!aml_ok(a))
		return;
	err = name_parse(path, &rooted, &nsegs);
	if (err) {
		aml_fail(a, err);
		return;
	}
	if (rooted) {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	}
	if (nsegs == 0) {
		aml_byte(a, AML_NULL_NAME);
		return;
	}
	if (nsegs == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nsegs);
	}
	for (unsigned s = 0; s < nsegs; s++) {
		char seg[4] = { '_', '_', '_', '_' };

		for (unsigned i = 0; *p != '\0' && *p != '.'; i++)
			seg[i] = *p++;
		if (*p == '.')
			p++;
		aml_raw(a, seg, sizeof(seg));
	}
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	size_t n;

	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
		return;
	}
	if (v == 1) {
		aml_byte(a, AML_ONE_OP);
		return;
	}
	if (v == UINT64_MAX) {          /* Ones: all bits set in a revision-2 (64-bit) table */
		aml_byte(a, AML_ONES_OP);
		return;
	}
	if (v <= UINT8_MAX) {
		b[0] = AML_BYTE_PREFIX;
		b[1] = (uint8_t)v;
		n = 2;
	} else if (v <= UINT16_MAX) {
		b[0] = AML_WORD_PREFIX;
		put_le16(b + 1, (uint16_t)v);
		n = 3;
	} else if (v <= UINT32_MAX) {
		b[0] = AML_DWORD_PREFIX;
		put_le32(b + 1, (uint32_t)v);
		n = 5;
	} else {
		b[0] = AML_QWORD_PREFIX;
		put_le64(b + 1, v);
		n = 9;
	}
	aml_raw(a, b, n);
}

void aml_string(struct aml *a, const char *s)
{
	if (!aml_ok(a))
		return;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			aml_fail(a, mv_fail(EINVAL, "AML string: byte %#x at %zu is not ASCII",
					     (unsigned char)*p, (size_t)(p - s)));
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_raw(a, s, strlen(s) + 1);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * EISA id (19.6.35): three letters compressed to 5 bits each ('A' = 1) in bits 30:16, the
 * product number in bits 15:0; stored most significant byte first.
 */
void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;
	uint8_t b[5];

	if (!aml_ok(a))
		return;
	if (strlen(id) != 7)
		goto bad;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			goto bad;
		v |= (uint32_t)(id[i] - 'A' + 1) << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0)
			goto bad;
		v |= (uint32_t)d << (4 * (6 - i));
	}
	b[0] = AML_DWORD_PREFIX;
	b[1] = (uint8_t)(v >> 24);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 8);
	b[4] = (uint8_t)v;
	aml_raw(a, b, sizeof(b));
	return;
bad:
	aml_fail(a, mv_fail(EINVAL, "EISA id '%s': not 3 capitals and 4 hex digits (0-9, A-F)",
			     id));
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
	aml_integer(a, v);
}

void aml_name_str(struct aml *a, const char *name, const char *s)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
	aml_eisaid(a, id);
}

/* DefScope := ScopeOp PkgLength NameString TermList */
void aml_scope_begin(struct aml *a, const char *path)
{
	aml_byte(a, AML_SCOPE_OP);
	aml_pkg_begin(a);
	aml_name_string(a, path);
}

/* DefDevice := ExtOpPrefix DeviceOp PkgLength NameString TermList */
void aml_device_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	aml_pkg_begin(a);
	aml_name_string(a, name);
}

/*
 * DefMethod := MethodOp PkgLength NameString MethodFlags TermList; MethodFlags 0: no arguments,
 * NotSerialized, SyncLevel 0. The body is DefReturn := ReturnOp ArgObject.
 */
void aml_method_return_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, AML_METHOD_OP);
	aml_pkg_begin(a);
	aml_name_string(a, name);
	aml_byte(a, 0);
	aml_byte(a, AML_RETURN_OP);
	aml_integer(a, v);
	aml_end(a);
}

void aml_res_init(struct aml_res *r)
{
	memset(r, 0, sizeof(*r));
}

static void res_append(struct aml_res *r, const uint8_t *d, size_t n)
{
	if (r->err)
		return;
	if (n > sizeof(r->b) - r->len) {
		r->err = mv_fail(ENOSPC, "AML resource template: more than %zu bytes of descriptors",
				 sizeof(r->b));
		return;
	}
	memcpy(r->b + r->len, d, n);
	r->len += n;
}

void aml_res_io(struct aml_res *r, uint16_t base, uint8_t len)
{
	uint8_t d[8] = { RES_IO, RES_IO_DECODE16 };

	put_le16(d + 2, base);          /* _MIN */
	put_le16(d + 4, base);          /* _MAX: the range does not move */
	d[6] = 1;                       /* _ALN */
	d[7] = len;                     /* _LEN */
	res_append(r, d, sizeof(d));
}

void aml_res_irq_noflags(struct aml_res *r, unsigned irq)
{
	uint8_t d[3] = { RES_IRQ_NOFLAGS };

	if (!r->err && irq > 15) {
		r->err = mv_fail(EINVAL, "IRQNoFlags: IRQ %u is not an ISA IRQ (0-15)", irq);
		return;
	}
	put_le16(d + 1, (uint16_t)(1u << irq));
	res_append(r, d, sizeof(d));
}

void aml_res_memory32_fixed(struct aml_res *r, uint32_t base, uint32_t size, bool writable)
{
	uint8_t d[12] = { RES_MEMORY32_FIXED };

	put_le16(d + 1, sizeof(d) - 3); /* large item: length of what follows the 3-byte header */
	d[3] = writable ? RES_MEM_WRITABLE : 0;
	put_le32(d + 4, base);
	put_le32(d + 8, size);
	res_append(r, d, sizeof(d));
}

void aml_res_interrupt(struct aml_res *r, uint32_t gsi, unsigned flags)
{
	uint8_t d[9] = { RES_EXT_INTERRUPT };

	if (!r->err && (flags & ~(AML_INT_EDGE | AML_INT_ACTIVE_LOW | AML_INT_SHARED))) {
		r->err = mv_fail(EINVAL, "Interrupt: unknown flags %#x", flags);
		return;
	}
	put_le16(d + 1, sizeof(d) - 3);
	d[3] = (uint8_t)(RES_INT_CONSUMER | flags);
	d[4] = 1;                       /* interrupt table length */
	put_le32(d + 5, gsi);
	res_append(r, d, sizeof(d));
}

/* Name (name, Buffer (size) { descriptors, End Tag }) — DefBuffer := BufferOp PkgLength
 * BufferSize ByteList. */
void aml_name_resources(struct aml *a, const char *name, const struct aml_res *r)
{
	static const uint8_t end_tag[2] = { RES_END_TAG, 0 };

	if (!aml_ok(a))
		return;
	if (r->err) {
		aml_fail(a, r->err);
		return;
	}
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
	aml_byte(a, AML_BUFFER_OP);
	aml_pkg_begin(a);
	aml_integer(a, r->len + sizeof(end_tag));
	aml_raw(a, r->b, r->len);
	aml_raw(a, end_tag, sizeof(end_tag));
	aml_end(a);
}
