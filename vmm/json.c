/*
 * json.c — strict JSON parser and writer (json.h). A recursive-descent parser over a bounded
 * buffer: every read checks the end first, so any byte sequence is safe to hand it; recursion
 * is bounded by JSON_MAX_DEPTH. No locks, no global state.
 */
#include "json.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct json_parser {
	const char *p;
	size_t len, pos;
	bool stream;                    /* more bytes may follow len (json_parse's prefix) */
};

/* Input ended inside a value: the caller may get more bytes. */
static int incomplete(const struct json_parser *ps)
{
	return mv_fail(EAGAIN, "JSON incomplete: input ends at offset %zu inside a value", ps->len);
}

__attribute__((format(printf, 2, 3)))
static int bad(const struct json_parser *ps, const char *fmt, ...);

static int bad(const struct json_parser *ps, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mv_fail(EINVAL, "JSON parse error at offset %zu: %s", ps->pos, msg);
}

/* A byte for an error message: 'x' when printable ASCII, else byte 0xNN (the reply is JSON). */
struct byte_name {
	char s[16];
};

static struct byte_name byte_name(char c)
{
	struct byte_name n;
	unsigned char u = (unsigned char)c;

	if (u >= 0x20 && u < 0x7f)
		snprintf(n.s, sizeof(n.s), "'%c'", c);
	else
		snprintf(n.s, sizeof(n.s), "byte 0x%02x", u);
	return n;
}

static void skip_ws(struct json_parser *ps)
{
	while (ps->pos < ps->len) {
		char c = ps->p[ps->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		ps->pos++;
	}
}

static struct json *new_value(enum json_type t)
{
	struct json *v = calloc(1, sizeof(*v));

	if (v)
		v->type = t;
	return v;
}

void json_free(struct json *v)
{
	if (!v)
		return;
	switch (v->type) {
	case JSON_STRING:
		free(v->u.str.s);
		break;
	case JSON_ARRAY:
		for (size_t i = 0; i < v->u.arr.n; i++)
			json_free(v->u.arr.v[i]);
		free(v->u.arr.v);
		break;
	case JSON_OBJECT:
		for (size_t i = 0; i < v->u.obj.n; i++) {
			free(v->u.obj.m[i].key);
			json_free(v->u.obj.m[i].value);
		}
		free(v->u.obj.m);
		break;
	default:
		break;
	}
	free(v);
}

static int parse_value(struct json_parser *ps, unsigned depth, struct json **out);

/* A literal (true, false, null): the whole word must match. */
static int parse_word(struct json_parser *ps, const char *word, struct json **out)
{
	size_t n = strlen(word), avail = ps->len - ps->pos;

	if (memcmp(ps->p + ps->pos, word, avail < n ? avail : n) != 0)
		return bad(ps, "unexpected character %s", byte_name(ps->p[ps->pos]).s);
	if (avail < n)
		return incomplete(ps);
	ps->pos += n;
	*out = new_value(word[0] == 'n' ? JSON_NULL : JSON_BOOL);
	if (!*out)
		return mv_fail(ENOMEM, "JSON: out of memory");
	(*out)->u.b = word[0] == 't';
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT ) */
static int parse_number(struct json_parser *ps, struct json **out)
{
	size_t start = ps->pos;
	bool is_int = true;
	char buf[64];
	struct json *v;
	double d;

#define NEED_DIGIT(what) do { \
		if (ps->pos == ps->len) return incomplete(ps); \
		if (!is_digit(ps->p[ps->pos])) return bad(ps, "a digit must follow %s", what); \
	} while (0)
	if (ps->p[ps->pos] == '-')
		ps->pos++;
	NEED_DIGIT("'-'");
	if (ps->p[ps->pos] == '0') {
		ps->pos++;
		if (ps->pos < ps->len && is_digit(ps->p[ps->pos]))
			return bad(ps, "numbers may not have leading zeros");
	} else {
		while (ps->pos < ps->len && is_digit(ps->p[ps->pos]))
			ps->pos++;
	}
	if (ps->pos < ps->len && ps->p[ps->pos] == '.') {
		ps->pos++;
		is_int = false;
		NEED_DIGIT("the decimal point");
		while (ps->pos < ps->len && is_digit(ps->p[ps->pos]))
			ps->pos++;
	}
	if (ps->pos < ps->len && (ps->p[ps->pos] == 'e' || ps->p[ps->pos] == 'E')) {
		ps->pos++;
		is_int = false;
		if (ps->pos < ps->len && (ps->p[ps->pos] == '+' || ps->p[ps->pos] == '-'))
			ps->pos++;
		NEED_DIGIT("the exponent");
		while (ps->pos < ps->len && is_digit(ps->p[ps->pos]))
			ps->pos++;
	}
#undef NEED_DIGIT
	/* A stream may end right after "12": more digits could follow. */
	if (ps->pos == ps->len && ps->stream)
		return incomplete(ps);
	if (ps->pos - start >= sizeof(buf)) {
		ps->pos = start;
		return bad(ps, "number longer than %zu characters", sizeof(buf) - 1);
	}
	memcpy(buf, ps->p + start, ps->pos - start);
	buf[ps->pos - start] = '\0';
	d = strtod(buf, NULL);
	if (d > DBL_MAX || d < -DBL_MAX) {
		ps->pos = start;
		return bad(ps, "number %s is out of range", buf);
	}
	v = new_value(JSON_NUMBER);
	if (!v)
		return mv_fail(ENOMEM, "JSON: out of memory");
	v->u.num.d = d;
	if (is_int) {
		errno = 0;
		v->u.num.i = strtoll(buf, NULL, 10);
		v->u.num.is_int = errno == 0;   /* beyond int64: a double like any other */
	}
	*out = v;
	return 0;
}

static int hex4(struct json_parser *ps, unsigned *cp)
{
	*cp = 0;
	for (unsigned i = 0; i < 4; i++, ps->pos++) {
		char c;

		if (ps->pos == ps->len)
			return incomplete(ps);
		c = ps->p[ps->pos];
		*cp <<= 4;
		if (c >= '0' && c <= '9')
			*cp |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*cp |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*cp |= (unsigned)(c - 'A' + 10);
		else
			return bad(ps, "\\u needs four hex digits");
	}
	return 0;
}

/* Append code point cp as UTF-8 to out (room for 4 bytes is guaranteed by the caller). */
static size_t put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One \escape (ps at the backslash); the decoded bytes go to out + *n. */
static int parse_escape(struct json_parser *ps, char *out, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	unsigned cp, lo;
	int err;

	if (++ps->pos == ps->len)
		return incomplete(ps);
	e = strchr(from, ps->p[ps->pos]);
	if (e && *e) {
		out[(*n)++] = to[e - from];
		ps->pos++;
		return 0;
	}
	if (ps->p[ps->pos] != 'u')
		return bad(ps, "unknown escape '\\%c'", ps->p[ps->pos]);
	ps->pos++;
	err = hex4(ps, &cp);
	if (err)
		return err;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return bad(ps, "lone low surrogate \\u%04x", cp);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->len - ps->pos < 2)
			return incomplete(ps);
		if (ps->p[ps->pos] != '\\' || ps->p[ps->pos + 1] != 'u')
			return bad(ps, "high surrogate \\u%04x not followed by a low one", cp);
		ps->pos += 2;
		err = hex4(ps, &lo);
		if (err)
			return err;
		if (lo < 0xdc00 || lo > 0xdfff)
			return bad(ps, "high surrogate \\u%04x followed by \\u%04x", cp, lo);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	*n += put_utf8(out + *n, cp);
	return 0;
}

/* Length of the valid UTF-8 sequence at s[0, avail), 0 if invalid, -1 if cut short. */
static int utf8_len(const unsigned char *s, size_t avail)
{
	unsigned c = s[0], need, cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	for (unsigned i = 1; i <= need; i++) {
		if (i >= avail)
			return -1;
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return (int)need + 1;
}

/* A string (ps at the opening quote) into a malloc'd NUL-terminated copy. */
static int parse_string(struct json_parser *ps, char **out, size_t *out_len)
{
	size_t start = ++ps->pos, n = 0;
	char *s;
	int err = 0;

	/* Decoded text is never longer than its source (an escape of 6 or 12 bytes → ≤ 4). */
	s = malloc(ps->len - start + 1);
	if (!s)
		return mv_fail(ENOMEM, "JSON: out of memory");
	for (;;) {
		unsigned char c;
		int l;

		if (ps->pos == ps->len) {
			err = incomplete(ps);
			break;
		}
		c = (unsigned char)ps->p[ps->pos];
		if (c == '"') {
			ps->pos++;
			break;
		}
		if (c < 0x20) {
			err = bad(ps, "control character 0x%02x in a string (escape it)", c);
			break;
		}
		if (c == '\\') {
			err = parse_escape(ps, s, &n);
			if (err)
				break;
			continue;
		}
		l = utf8_len((const unsigned char *)ps->p + ps->pos, ps->len - ps->pos);
		if (l < 0) {
			err = incomplete(ps);
			break;
		}
		if (l == 0) {
			err = bad(ps, "invalid UTF-8 byte 0x%02x in a string", c);
			break;
		}
		memcpy(s + n, ps->p + ps->pos, (size_t)l);
		n += (size_t)l;
		ps->pos += (size_t)l;
	}
	if (err) {
		free(s);
		return err;
	}
	s[n] = '\0';
	*out = s;
	*out_len = n;
	return 0;
}

/* Grow *arr (of `size`-byte items, *n used) so one more fits. */
static int grow(void **arr, size_t n, size_t size)
{
	void *p;

	if (n && (n & (n - 1)))         /* capacity: n rounded up to a power of two */
		return 0;
	p = realloc(*arr, (n ? 2 * n : 1) * size);
	if (!p)
		return mv_fail(ENOMEM, "JSON: out of memory");
	*arr = p;
	return 0;
}

/* One element of an array: its value, appended. */
static int parse_element(struct json_parser *ps, unsigned depth, struct json *a)
{
	struct json *item;
	int err = grow((void **)&a->u.arr.v, a->u.arr.n, sizeof(item));

	if (!err)
		err = parse_value(ps, depth + 1, &item);
	if (err)
		return err;
	a->u.arr.v[a->u.arr.n++] = item;
	return 0;
}

static int parse_member(struct json_parser *ps, unsigned depth, struct json *o)
{
	struct json_member *m;
	size_t klen, at = ps->pos;
	char *key;
	int err;

	skip_ws(ps);
	if (ps->pos == ps->len)
		return incomplete(ps);
	if (ps->p[ps->pos] != '"')
		return bad(ps, "expected a string key in an object, got %s",
			   byte_name(ps->p[ps->pos]).s);
	at = ps->pos;
	err = parse_string(ps, &key, &klen);
	if (err)
		return err;
	if (strlen(key) != klen) {
		free(key);
		ps->pos = at;
		return bad(ps, "object key contains \\u0000");
	}
	if (json_get(o, key)) {
		ps->pos = at;
		err = bad(ps, "duplicate key '%s'", key);
		free(key);
		return err;
	}
	err = grow((void **)&o->u.obj.m, o->u.obj.n, sizeof(*m));
	if (err) {
		free(key);
		return err;
	}
	m = &o->u.obj.m[o->u.obj.n++];
	m->key = key;
	m->value = NULL;
	skip_ws(ps);
	if (ps->pos == ps->len)
		return incomplete(ps);
	if (ps->p[ps->pos] != ':')
		return bad(ps, "expected ':' after key '%s', got %s", key,
			   byte_name(ps->p[ps->pos]).s);
	ps->pos++;
	return parse_value(ps, depth + 1, &m->value);
}

/*
 * The items of an array or an object (`what`), from its opening byte to `close`, separated by
 * ',': item() parses one (an element or a member) into v.
 */
static int parse_items(struct json_parser *ps, unsigned depth, struct json *v, char close,
		       const char *what,
		       int (*item)(struct json_parser *ps, unsigned depth, struct json *v))
{
	ps->pos++;                      /* '[' or '{' */
	skip_ws(ps);
	if (ps->pos == ps->len)
		return incomplete(ps);
	if (ps->p[ps->pos] == close) {
		ps->pos++;
		return 0;
	}
	for (;;) {
		int err = item(ps, depth, v);

		if (err)
			return err;
		skip_ws(ps);
		if (ps->pos == ps->len)
			return incomplete(ps);
		if (ps->p[ps->pos] == close) {
			ps->pos++;
			return 0;
		}
		if (ps->p[ps->pos] != ',')
			return bad(ps, "expected ',' or '%c' in %s, got %s", close, what,
				   byte_name(ps->p[ps->pos]).s);
		ps->pos++;
	}
}

static int parse_value(struct json_parser *ps, unsigned depth, struct json **out)
{
	struct json *v;
	char c;
	int err;

	*out = NULL;
	skip_ws(ps);
	if (ps->pos == ps->len)
		return incomplete(ps);
	c = ps->p[ps->pos];
	switch (c) {
	case 't':
		return parse_word(ps, "true", out);
	case 'f':
		return parse_word(ps, "false", out);
	case 'n':
		return parse_word(ps, "null", out);
	case '"':
		v = new_value(JSON_STRING);
		if (!v)
			return mv_fail(ENOMEM, "JSON: out of memory");
		err = parse_string(ps, &v->u.str.s, &v->u.str.len);
		break;
	case '[':
	case '{':
		if (depth >= JSON_MAX_DEPTH)
			return bad(ps, "nesting deeper than %d", JSON_MAX_DEPTH);
		v = new_value(c == '[' ? JSON_ARRAY : JSON_OBJECT);
		if (!v)
			return mv_fail(ENOMEM, "JSON: out of memory");
		err = c == '[' ? parse_items(ps, depth, v, ']', "an array", parse_element)
			       : parse_items(ps, depth, v, '}', "an object", parse_member);
		break;
	default:
		if (c == '-' || is_digit(c))
			return parse_number(ps, out);
		return bad(ps, "unexpected character %s%s", byte_name(c).s,
			   c == '\'' ? " (strings take double quotes)" : "");
	}
	if (err) {
		json_free(v);
		return err;
	}
	*out = v;
	return 0;
}

int json_parse(const char *text, size_t len, bool prefix, struct json **out, size_t *end)
{
	struct json_parser ps = { .p = text, .len = len, .pos = 0, .stream = prefix };
	struct json *v;
	int err;

	*out = NULL;
	err = parse_value(&ps, 0, &v);
	if (err)
		return err;
	skip_ws(&ps);
	if (!prefix && ps.pos != len) {
		json_free(v);
		return bad(&ps, "unexpected %s after the value", byte_name(text[ps.pos]).s);
	}
	if (end)
		*end = ps.pos;
	*out = v;
	return 0;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->u.obj.n; i++)
		if (strcmp(obj->u.obj.m[i].key, key) == 0)
			return obj->u.obj.m[i].value;
	return NULL;
}

const char *json_type_name(enum json_type t)
{
	static const char *const names[] = {
		[JSON_NULL] = "null", [JSON_BOOL] = "boolean", [JSON_NUMBER] = "number",
		[JSON_STRING] = "string", [JSON_ARRAY] = "array", [JSON_OBJECT] = "object",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* ---- writer ------------------------------------------------------------------------------- */

void json_writer_init(struct json_writer *w)
{
	memset(w, 0, sizeof(*w));
}

static void put(struct json_writer *w, const char *s, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		char *p;

		while (cap < w->len + n + 1)
			cap *= 2;
		p = realloc(w->buf, cap);
		if (!p) {
			w->oom = true;
			return;
		}
		w->buf = p;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/* Before any value or key: the comma, unless it is the first item or a key's value. */
static void item(struct json_writer *w)
{
	uint64_t bit = UINT64_C(1) << (w->depth & 63);

	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth && (w->has_items & bit))
		put(w, ", ", 2);
	w->has_items |= bit;
}

static void open_(struct json_writer *w, char c)
{
	item(w);
	put(w, &c, 1);
	w->depth++;
	w->has_items &= ~(UINT64_C(1) << (w->depth & 63));
}

static void close_(struct json_writer *w, char c)
{
	if (w->depth)
		w->depth--;
	put(w, &c, 1);
}

void json_obj_begin(struct json_writer *w) { open_(w, '{'); }
void json_obj_end(struct json_writer *w) { close_(w, '}'); }
void json_arr_begin(struct json_writer *w) { open_(w, '['); }
void json_arr_end(struct json_writer *w) { close_(w, ']'); }

static void put_string(struct json_writer *w, const char *s, size_t len)
{
	put(w, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(w, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
		} else if (c < 0x80) {
			put(w, s + i, 1);
		} else {
			/* text from elsewhere (a truncated message) may not be UTF-8: the output
			 * must be, so a bad sequence becomes U+FFFD */
			int l = utf8_len((const unsigned char *)s + i, len - i);

			if (l > 0) {
				put(w, s + i, (size_t)l);
				i += (size_t)l - 1;
			} else {
				put(w, "\\ufffd", 6);
			}
		}
	}
	put(w, "\"", 1);
}

void json_key(struct json_writer *w, const char *key)
{
	item(w);
	put_string(w, key, strlen(key));
	put(w, ": ", 2);
	w->after_key = true;
}

void json_str_len(struct json_writer *w, const char *s, size_t len)
{
	item(w);
	put_string(w, s, len);
}

void json_str(struct json_writer *w, const char *s)
{
	json_str_len(w, s, strlen(s));
}

void json_int(struct json_writer *w, int64_t v)
{
	char b[24];

	item(w);
	put(w, b, (size_t)snprintf(b, sizeof(b), "%" PRId64, v));
}

void json_uint(struct json_writer *w, uint64_t v)
{
	char b[24];

	item(w);
	put(w, b, (size_t)snprintf(b, sizeof(b), "%" PRIu64, v));
}

void json_bool(struct json_writer *w, bool v)
{
	item(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void json_null(struct json_writer *w)
{
	item(w);
	put(w, "null", 4);
}

void json_raw(struct json_writer *w, const char *text)
{
	item(w);
	put(w, text, strlen(text));
}

void json_value(struct json_writer *w, const struct json *v)
{
	char b[32];

	switch (v->type) {
	case JSON_NULL:
		json_null(w);
		break;
	case JSON_BOOL:
		json_bool(w, v->u.b);
		break;
	case JSON_NUMBER:
		if (v->u.num.is_int) {
			json_int(w, v->u.num.i);
		} else {
			/* a double stays a double: "1000" would read back as an integer */
			int n = snprintf(b, sizeof(b), "%.17g", v->u.num.d);

			if (!strpbrk(b, ".eE"))
				snprintf(b + n, sizeof(b) - (size_t)n, ".0");
			item(w);
			put(w, b, strlen(b));
		}
		break;
	case JSON_STRING:
		json_str_len(w, v->u.str.s, v->u.str.len);
		break;
	case JSON_ARRAY:
		json_arr_begin(w);
		for (size_t i = 0; i < v->u.arr.n; i++)
			json_value(w, v->u.arr.v[i]);
		json_arr_end(w);
		break;
	case JSON_OBJECT:
		json_obj_begin(w);
		for (size_t i = 0; i < v->u.obj.n; i++) {
			json_key(w, v->u.obj.m[i].key);
			json_value(w, v->u.obj.m[i].value);
		}
		json_obj_end(w);
		break;
	}
}

void json_kv_str(struct json_writer *w, const char *key, const char *s)
{
	json_key(w, key);
	json_str(w, s);
}

void json_kv_int(struct json_writer *w, const char *key, int64_t v)
{
	json_key(w, key);
	json_int(w, v);
}

void json_kv_uint(struct json_writer *w, const char *key, uint64_t v)
{
	json_key(w, key);
	json_uint(w, v);
}

void json_kv_bool(struct json_writer *w, const char *key, bool v)
{
	json_key(w, key);
	json_bool(w, v);
}

const char *json_writer_text(struct json_writer *w, size_t *len)
{
	if (w->oom)
		return NULL;
	if (!w->buf)
		put(w, "", 0);
	if (len)
		*len = w->len;
	return w->oom ? NULL : w->buf;
}

void json_writer_free(struct json_writer *w)
{
	free(w->buf);
	json_writer_init(w);
}
