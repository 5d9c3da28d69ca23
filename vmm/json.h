/*
 * json.h — a small strict JSON (RFC 8259) parser and writer for the QMP control socket (qmp.h).
 *
 * Parser: json_parse() turns one JSON text into a tree of struct json (malloc'd; json_free).
 * Strict: no comments, no trailing commas, no leading zeros, no single quotes, no control
 * characters in strings, valid UTF-8 only, \u escapes with surrogate pairs checked, no duplicate
 * object keys. Limits: JSON_MAX_DEPTH nested arrays/objects, and whatever length the caller
 * gives (qmp.c caps a message at QMP_MAX_MESSAGE). Errors are mv_fail() messages naming the
 * problem and its byte offset; an input that stops inside a value gives -EAGAIN ("incomplete"),
 * so a stream reader can wait for more bytes.
 *
 * Numbers: an integer literal (no fraction, no exponent) that fits int64_t is kept exactly
 * (is_int); anything else is a double.
 *
 * Writer: struct json_writer appends to a growing buffer and places the commas itself;
 * allocation failure is sticky (json_writer_finish reports it). No global state; thread-safe
 * as long as each tree/writer has one user.
 */
#ifndef MV_JSON_H
#define MV_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH  32

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json;

struct json_member {
	char *key;                      /* NUL-terminated; keys containing \u0000 are refused */
	struct json *value;
};

struct json {
	enum json_type type;
	union {
		bool b;
		struct {
			bool is_int;
			int64_t i;      /* is_int */
			double d;       /* always set */
		} num;
		struct {
			char *s;        /* NUL-terminated copy ... */
			size_t len;     /* ... that may hold NULs (\u0000): len is the truth */
		} str;
		struct {
			struct json **v;
			size_t n;
		} arr;
		struct {
			struct json_member *m;
			size_t n;
		} obj;
	} u;
};

/*
 * Parse exactly one JSON value from text[0, len) (leading and trailing whitespace allowed).
 * *end (if not NULL) gets the offset just past the value. With `prefix`, bytes after the value
 * are allowed (a stream: the caller continues at *end); without, they are an error.
 * 0 with *out set, -EAGAIN when the text ends inside the value (or holds only whitespace),
 * -EINVAL for anything else wrong, -ENOMEM; mv_error() names the problem and its offset.
 */
int json_parse(const char *text, size_t len, bool prefix, struct json **out, size_t *end);

void json_free(struct json *v);

/* Object member `key`, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);

/* "object", "string", ... (for error messages). */
const char *json_type_name(enum json_type t);

/* ---- writer ------------------------------------------------------------------------------- */

struct json_writer {
	char *buf;
	size_t len, cap;
	bool oom;
	unsigned depth;
	uint64_t has_items;             /* bit d: the container at depth d has an item already */
	bool after_key;                 /* a key was written; its value comes next (no comma) */
};

void json_writer_init(struct json_writer *w);
void json_obj_begin(struct json_writer *w);
void json_obj_end(struct json_writer *w);
void json_arr_begin(struct json_writer *w);
void json_arr_end(struct json_writer *w);
void json_key(struct json_writer *w, const char *key);
void json_str(struct json_writer *w, const char *s);
void json_str_len(struct json_writer *w, const char *s, size_t len);
void json_int(struct json_writer *w, int64_t v);
void json_uint(struct json_writer *w, uint64_t v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/* A value already serialised by another writer (a command's return value). */
void json_raw(struct json_writer *w, const char *text);
/* Write a parsed value back out (QMP echoes a command's "id" as given). */
void json_value(struct json_writer *w, const struct json *v);
/* Shorthands for "key": value members. */
void json_kv_str(struct json_writer *w, const char *key, const char *s);
void json_kv_int(struct json_writer *w, const char *key, int64_t v);
void json_kv_uint(struct json_writer *w, const char *key, uint64_t v);
void json_kv_bool(struct json_writer *w, const char *key, bool v);

/*
 * The text written so far (NUL-terminated, owned by the writer; its length in *len when len is
 * given), or NULL if an allocation failed on the way. json_writer_free releases it.
 */
const char *json_writer_text(struct json_writer *w, size_t *len);
void json_writer_free(struct json_writer *w);

#endif /* MV_JSON_H */
