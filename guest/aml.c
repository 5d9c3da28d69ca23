/*
 * guest/aml.c — the structural AML walk of aml.h: Device objects and their _HID, _UID and _CRS.
 *
 * Encodings (ACPI 6.3 chapter 20): a PkgLength's lead byte holds in bits 7-6 how many bytes
 * follow (0-3); with none, bits 5-0 are the length, else bits 3-0 are its low nibble and each
 * following byte the next 8 bits. The length counts itself and everything up to the end of the
 * package. A NameString is an optional '\' or '^'... prefix, then a NameSeg (4 bytes), a
 * DualNamePrefix + 2, a MultiNamePrefix + count + count segments, or NullName.
 *
 * Every read goes through struct cursor, whose end is the innermost container's end: a length
 * that runs past it makes the walk MALFORMED before any byte outside is touched.
 *
 * No state, no locks; no library calls either (the host unit test builds this file as it is).
 */
#include "aml.h"

/* Opcodes (ACPI 6.3, 20.3). Extended ones follow AML_EXT_PREFIX. */
#define AML_ZERO_OP         0x00
#define AML_ONE_OP          0x01
#define AML_ALIAS_OP        0x06
#define AML_NAME_OP         0x08
#define AML_BYTE_PREFIX     0x0a
#define AML_WORD_PREFIX     0x0b
#define AML_DWORD_PREFIX    0x0c
#define AML_STRING_PREFIX   0x0d
#define AML_QWORD_PREFIX    0x0e
#define AML_SCOPE_OP        0x10
#define AML_BUFFER_OP       0x11
#define AML_PACKAGE_OP      0x12
#define AML_VAR_PACKAGE_OP  0x13
#define AML_METHOD_OP       0x14
#define AML_EXTERNAL_OP     0x15
#define AML_DUAL_NAME       0x2e
#define AML_MULTI_NAME      0x2f
#define AML_EXT_PREFIX      0x5b
#define AML_ROOT_CHAR       0x5c
#define AML_PARENT_CHAR     0x5e
#define AML_IF_OP           0xa0
#define AML_ELSE_OP         0xa1
#define AML_WHILE_OP        0xa2
#define AML_ONES_OP         0xff
/* after AML_EXT_PREFIX */
#define AML_MUTEX_OP        0x01
#define AML_EVENT_OP        0x02
#define AML_REVISION_OP     0x30
#define AML_REGION_OP       0x80
#define AML_FIELD_OP        0x81
#define AML_DEVICE_OP       0x82
#define AML_PROCESSOR_OP    0x83
#define AML_POWER_RES_OP    0x84
#define AML_THERMAL_OP      0x85
#define AML_INDEX_FIELD_OP  0x86
#define AML_BANK_FIELD_OP   0x87

#define PKGLEN_FOLLOW_SHIFT 6
#define PKGLEN_SHORT_MASK   0x3f
#define PKGLEN_NIBBLE_MASK  0x0f

/* Resource descriptors (ACPI 6.3, 6.4): small items carry type and length in the tag byte. */
#define RES_LARGE           0x80
#define RES_SMALL_TYPE(t)   (((t) >> 3) & 0x0f)
#define RES_SMALL_LEN(t)    ((t) & 0x07)
#define RES_SMALL_IRQ       0x04
#define RES_SMALL_END       0x0f
#define RES_LARGE_TYPE(t)   ((t) & 0x7f)
#define RES_LARGE_MEM32_FIXED  0x06
#define RES_LARGE_DWORD_ADDR   0x07
#define RES_LARGE_EXT_IRQ      0x09
#define RES_LARGE_QWORD_ADDR   0x0a
#define RES_ADDR_MEMORY        0      /* address space descriptor: resource type memory */

/* EISA id: three 5-bit letters (+ 0x40) and four hex digits, in a byte-swapped dword. */
#define EISA_LETTER_BASE    0x40
#define EISA_LETTER_MASK    0x1f

struct cursor {
	const uint8_t *base;            /* the whole AML, for offsets in diagnostics */
	const uint8_t *p, *end;
};

struct walker {
	void (*fn)(void *arg, const struct aml_device *dev);
	void *arg;
	struct aml_walk *w;
};

/* What a Name's data object was. */
enum data_kind { DATA_INTEGER, DATA_STRING, DATA_BUFFER, DATA_OTHER };

struct data {
	enum data_kind kind;
	uint64_t value;                 /* INTEGER */
	const uint8_t *bytes;           /* STRING (without its NUL) / BUFFER contents */
	size_t len;
};

static bool failed(const struct walker *wk)
{
	return wk->w->result != AML_WALK_DONE;
}

static void malformed(struct walker *wk, const struct cursor *c)
{
	if (failed(wk))
		return;
	wk->w->result = AML_WALK_MALFORMED;
	wk->w->offset = (size_t)(c->p - c->base);
}

static void stopped(struct walker *wk, size_t at, unsigned opcode)
{
	if (failed(wk))
		return;
	wk->w->result = AML_WALK_STOPPED;
	wk->w->offset = at;
	wk->w->opcode = opcode;
}

static bool take(struct walker *wk, struct cursor *c, size_t n, const uint8_t **out)
{
	if ((size_t)(c->end - c->p) < n) {
		malformed(wk, c);
		return false;
	}
	if (out)
		*out = c->p;
	c->p += n;
	return true;
}

static void copy(char *dst, const uint8_t *src, size_t n)
{
	while (n--)
		*dst++ = (char)*src++;
}

static bool is_name(const char name[5], const char *want)
{
	return name[0] == want[0] && name[1] == want[1] && name[2] == want[2] && name[3] == want[3];
}

static uint64_t le(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | b[n];
	return v;
}

/* A PkgLength at c->p: the package's end (from the PkgLength's first byte), inside c->end. */
static bool pkg_end(struct walker *wk, struct cursor *c, const uint8_t **end)
{
	const uint8_t *start = c->p, *lead, *more;
	unsigned follow;
	uint64_t len;

	if (!take(wk, c, 1, &lead))
		return false;
	follow = *lead >> PKGLEN_FOLLOW_SHIFT;
	if (!take(wk, c, follow, &more))
		return false;
	len = follow ? (*lead & PKGLEN_NIBBLE_MASK) | le(more, follow) << 4 : *lead & PKGLEN_SHORT_MASK;
	if (len < 1u + follow || len > (uint64_t)(c->end - start)) {
		c->p = start;
		malformed(wk, c);
		return false;
	}
	*end = start + len;
	return true;
}

/* A NameString; its last segment (or "" for NullName) in last. */
static bool name_string(struct walker *wk, struct cursor *c, char last[5])
{
	const uint8_t *b, *seg;
	unsigned segs = 1;

	last[0] = '\0';
	if (!take(wk, c, 1, &b))
		return false;
	if (*b == AML_ROOT_CHAR) {
		if (!take(wk, c, 1, &b))
			return false;
	} else {
		while (*b == AML_PARENT_CHAR)
			if (!take(wk, c, 1, &b))
				return false;
	}
	if (*b == AML_ZERO_OP)                  /* NullName */
		return true;
	if (*b == AML_DUAL_NAME) {
		segs = 2;
	} else if (*b == AML_MULTI_NAME) {
		if (!take(wk, c, 1, &b))
			return false;
		segs = *b;
	} else {
		c->p--;                         /* the lead byte starts the NameSeg */
	}
	if (segs == 0 || !take(wk, c, 4 * (size_t)segs, &seg))
		return segs == 0;
	copy(last, seg + 4 * (segs - 1), 4);
	last[4] = '\0';
	return true;
}

/* An integer data object (ZeroOp, OneOp, OnesOp, Byte/Word/DWord/QWord constants). */
static bool integer(struct walker *wk, struct cursor *c, bool *is_int, uint64_t *v)
{
	static const unsigned width[] = { [AML_BYTE_PREFIX] = 1, [AML_WORD_PREFIX] = 2,
					  [AML_DWORD_PREFIX] = 4, [AML_QWORD_PREFIX] = 8 };
	const uint8_t *op, *b;

	*is_int = false;
	if (c->p >= c->end)
		return take(wk, c, 1, NULL);
	op = c->p;
	if (*op == AML_ZERO_OP || *op == AML_ONE_OP || *op == AML_ONES_OP) {
		c->p++;
		*v = *op == AML_ONES_OP ? UINT64_MAX : *op;
		*is_int = true;
		return true;
	}
	if (*op >= AML_BYTE_PREFIX && *op <= AML_QWORD_PREFIX && *op != AML_STRING_PREFIX) {
		c->p++;
		if (!take(wk, c, width[*op], &b))
			return false;
		*v = le(b, width[*op]);
		*is_int = true;
	}
	return true;
}

/* A Name's data: integers, strings and buffers are read, packages skipped, anything else stops. */
static bool data_object(struct walker *wk, struct cursor *c, struct data *d)
{
	const uint8_t *op = c->p, *end, *s;
	bool is_int;

	d->kind = DATA_OTHER;
	if (!integer(wk, c, &is_int, &d->value))
		return false;
	if (is_int) {
		d->kind = DATA_INTEGER;
		return true;
	}
	if (!take(wk, c, 1, NULL))
		return false;
	switch (*op) {
	case AML_STRING_PREFIX:
		for (s = c->p; s < c->end && *s; s++)
			;
		if (s == c->end) {
			malformed(wk, c);
			return false;
		}
		d->kind = DATA_STRING;
		d->bytes = c->p;
		d->len = (size_t)(s - c->p);
		c->p = s + 1;
		return true;
	case AML_BUFFER_OP: {
		struct cursor in;
		uint64_t size;

		if (!pkg_end(wk, c, &end))
			return false;
		in = (struct cursor){ c->base, c->p, end };
		if (!integer(wk, &in, &is_int, &size))
			return false;
		if (!is_int) {                  /* a computed size: not data we can read */
			stopped(wk, (size_t)(in.p - c->base), *in.p);
			return false;
		}
		d->kind = DATA_BUFFER;
		d->bytes = in.p;
		d->len = (size_t)(end - in.p) < size ? (size_t)(end - in.p) : (size_t)size;
		c->p = end;
		return true;
	}
	case AML_PACKAGE_OP:
	case AML_VAR_PACKAGE_OP:
		if (!pkg_end(wk, c, &end))
			return false;
		c->p = end;
		return true;
	case AML_EXT_PREFIX:
		if (!take(wk, c, 1, &s))
			return false;
		if (*s == AML_REVISION_OP)
			return true;
		stopped(wk, (size_t)(op - c->base), AML_EXT_PREFIX << 8 | *s);
		return false;
	default:
		stopped(wk, (size_t)(op - c->base), *op);
		return false;
	}
}

/* "PNP0501" from the EISA id integer v. */
static void eisa_id(uint32_t v, char out[9])
{
	static const char hex[] = "0123456789ABCDEF";
	uint32_t id = (v >> 24) | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | (v << 24);

	out[0] = (char)(EISA_LETTER_BASE + (id >> 26 & EISA_LETTER_MASK));
	out[1] = (char)(EISA_LETTER_BASE + (id >> 21 & EISA_LETTER_MASK));
	out[2] = (char)(EISA_LETTER_BASE + (id >> 16 & EISA_LETTER_MASK));
	for (int i = 0; i < 4; i++)
		out[3 + i] = hex[id >> (12 - 4 * i) & 0xf];
	out[7] = '\0';
}

/* The first memory range and interrupt of a resource template. */
static void resources(struct aml_device *dev, const uint8_t *b, size_t len)
{
	const uint8_t *end = b + len;

	while (b < end) {
		uint8_t tag = *b;
		size_t n;

		if (!(tag & RES_LARGE)) {
			n = RES_SMALL_LEN(tag);
			if ((size_t)(end - b) < 1 + n || RES_SMALL_TYPE(tag) == RES_SMALL_END)
				return;
			if (RES_SMALL_TYPE(tag) == RES_SMALL_IRQ && n >= 2 && !dev->has_irq) {
				uint16_t mask = (uint16_t)le(b + 1, 2);

				for (unsigned i = 0; i < 16; i++)
					if (mask >> i & 1) {
						dev->irq = i;
						dev->has_irq = true;
						break;
					}
			}
			b += 1 + n;
			continue;
		}
		if ((size_t)(end - b) < 3)
			return;
		n = (size_t)le(b + 1, 2);
		if ((size_t)(end - b) - 3 < n)
			return;
		switch (RES_LARGE_TYPE(tag)) {
		case RES_LARGE_MEM32_FIXED:     /* info, base, length */
			if (n >= 9 && !dev->has_mmio) {
				dev->mmio_base = le(b + 4, 4);
				dev->mmio_size = le(b + 8, 4);
				dev->has_mmio = true;
			}
			break;
		case RES_LARGE_DWORD_ADDR:      /* type, flags x2, granularity, min, max, translation, length */
			if (n >= 23 && b[3] == RES_ADDR_MEMORY && !dev->has_mmio) {
				dev->mmio_base = le(b + 10, 4);
				dev->mmio_size = le(b + 22, 4);
				dev->has_mmio = true;
			}
			break;
		case RES_LARGE_QWORD_ADDR:
			if (n >= 43 && b[3] == RES_ADDR_MEMORY && !dev->has_mmio) {
				dev->mmio_base = le(b + 14, 8);
				dev->mmio_size = le(b + 38, 8);
				dev->has_mmio = true;
			}
			break;
		case RES_LARGE_EXT_IRQ:         /* flags, count, interrupts */
			if (n >= 6 && b[4] >= 1 && !dev->has_irq) {
				dev->irq = (uint32_t)le(b + 5, 4);
				dev->has_irq = true;
			}
			break;
		default:
			break;
		}
		b += 3 + n;
	}
}

/* Name(NAME, data) inside a Device: the properties this walk reads. */
static void device_name(struct aml_device *dev, const char name[5], const struct data *d)
{
	if (is_name(name, "_HID")) {
		if (d->kind == DATA_INTEGER) {
			eisa_id((uint32_t)d->value, dev->hid);
		} else if (d->kind == DATA_STRING) {
			size_t n = d->len < sizeof(dev->hid) - 1 ? d->len : sizeof(dev->hid) - 1;

			copy(dev->hid, d->bytes, n);
			dev->hid[n] = '\0';
		}
	} else if (is_name(name, "_UID") && d->kind == DATA_INTEGER) {
		dev->uid = d->value;
		dev->has_uid = true;
	} else if (is_name(name, "_CRS") && d->kind == DATA_BUFFER) {
		resources(dev, d->bytes, d->len);
	}
}

static void term_list(struct walker *wk, struct cursor *c, unsigned depth, struct aml_device *dev);

/* Scope or Device: PkgLength NameString TermList. */
static void scope_like(struct walker *wk, struct cursor *c, unsigned depth, bool device)
{
	struct aml_device d = { 0 };
	const uint8_t *end;
	struct cursor in;
	char name[5];

	if (!pkg_end(wk, c, &end))
		return;
	in = (struct cursor){ c->base, c->p, end };
	if (!name_string(wk, &in, name))
		return;
	c->p = end;
	if (depth >= AML_DEVICE_MAX_DEPTH) {
		stopped(wk, (size_t)(in.p - in.base), device ? AML_EXT_PREFIX << 8 | AML_DEVICE_OP
								 : AML_SCOPE_OP);
		return;
	}
	if (!device) {
		term_list(wk, &in, depth + 1, NULL);
		return;
	}
	copy(d.name, (const uint8_t *)name, sizeof(d.name));
	term_list(wk, &in, depth + 1, &d);
	wk->w->devices++;
	wk->fn(wk->arg, &d);
}

/* Skip a term whose body is one package: PkgLength, then anything. */
static void skip_package(struct walker *wk, struct cursor *c)
{
	const uint8_t *end;

	if (pkg_end(wk, c, &end))
		c->p = end;
}

static void ext_term(struct walker *wk, struct cursor *c, size_t at, unsigned depth)
{
	const uint8_t *op, *b;
	struct data d;
	char name[5];

	if (!take(wk, c, 1, &op))
		return;
	switch (*op) {
	case AML_DEVICE_OP:
		scope_like(wk, c, depth, true);
		return;
	case AML_FIELD_OP:
	case AML_INDEX_FIELD_OP:
	case AML_BANK_FIELD_OP:
	case AML_PROCESSOR_OP:
	case AML_POWER_RES_OP:
	case AML_THERMAL_OP:
		skip_package(wk, c);
		return;
	case AML_MUTEX_OP:                      /* NameString SyncFlags */
		if (name_string(wk, c, name))
			take(wk, c, 1, NULL);
		return;
	case AML_EVENT_OP:
		name_string(wk, c, name);
		return;
	case AML_REGION_OP:                     /* NameString RegionSpace Offset Length */
		if (!name_string(wk, c, name) || !take(wk, c, 1, &b))
			return;
		for (int i = 0; i < 2 && !failed(wk); i++)
			if (data_object(wk, c, &d) && d.kind != DATA_INTEGER)
				stopped(wk, at, AML_EXT_PREFIX << 8 | *op);
		return;
	default:
		stopped(wk, at, AML_EXT_PREFIX << 8 | *op);
		return;
	}
}

/* The term objects of one TermList, until c->end or the walk fails. */
static void term_list(struct walker *wk, struct cursor *c, unsigned depth, struct aml_device *dev)
{
	while (c->p < c->end && !failed(wk)) {
		size_t at = (size_t)(c->p - c->base);
		const uint8_t *op = c->p++;
		struct data d;
		char name[5], alias[5];

		switch (*op) {
		case AML_SCOPE_OP:
			scope_like(wk, c, depth, false);
			break;
		case AML_NAME_OP:
			if (name_string(wk, c, name) && data_object(wk, c, &d) && dev)
				device_name(dev, name, &d);
			break;
		case AML_METHOD_OP:
		case AML_IF_OP:                 /* conditional definitions are not evaluated */
		case AML_ELSE_OP:
		case AML_WHILE_OP:
			skip_package(wk, c);
			break;
		case AML_ALIAS_OP:
			if (name_string(wk, c, name))
				name_string(wk, c, alias);
			break;
		case AML_EXTERNAL_OP:           /* NameString ObjectType ArgumentCount */
			if (name_string(wk, c, name))
				take(wk, c, 2, NULL);
			break;
		case AML_EXT_PREFIX:
			ext_term(wk, c, at, depth);
			break;
		default:
			stopped(wk, at, *op);
			break;
		}
	}
}

void aml_walk_devices(const uint8_t *aml, size_t len,
		      void (*fn)(void *arg, const struct aml_device *dev), void *arg,
		      struct aml_walk *w)
{
	struct walker wk = { fn, arg, w };
	struct cursor c = { aml, aml, aml + len };

	*w = (struct aml_walk){ AML_WALK_DONE, 0, 0, 0 };
	term_list(&wk, &c, 0, NULL);
}
