/*
 * test_json.c — the strict JSON parser and writer (vmm/json.h): every refusal names its
 * problem, truncated input is "incomplete" (not an error), and what the writer writes parses
 * back to the same text.
 */
#include <errno.h>
#include <string.h>

#include "mvtest.h"

#include "error.h"
#include "json.h"

/* Parse a whole text; returns json_parse's result, the tree in *v (caller frees). */
static int parse(const char *text, struct json **v)
{
	mv_error_clear();
	return json_parse(text, strlen(text), false, v, NULL);
}

/* Parse text, expect -EINVAL with a message containing `what`. */
#define CHECK_REFUSED(text, what) \
	do { \
		struct json *v_; \
		CHECK_EQ(parse(text, &v_), -EINVAL); \
		CHECK_NULL(v_); \
		CHECK_CONTAINS(mv_error(), what); \
	} while (0)

/* Serialise v with the writer (caller frees w). */
static const char *write_value(struct json_writer *w, const struct json *v)
{
	json_writer_init(w);
	json_value(w, v);
	return json_writer_text(w, NULL);
}

TEST(refuses_trailing_commas)
{
	CHECK_REFUSED("[1, 2,]", "unexpected character ']'");
	CHECK_REFUSED("{\"a\": 1,}", "expected a string key in an object, got '}'");
}

TEST(refuses_leading_zeros_and_bare_signs)
{
	CHECK_REFUSED("012", "leading zeros");
	CHECK_REFUSED("-x", "a digit must follow '-'");
	CHECK_REFUSED("1.e5", "a digit must follow the decimal point");
	CHECK_REFUSED("1e+x", "a digit must follow the exponent");
	CHECK_REFUSED("+1", "unexpected character '+'");
	CHECK_REFUSED("[1e400]", "number 1e400 is out of range");
}

TEST(refuses_single_quotes_and_bare_words)
{
	CHECK_REFUSED("'a'", "strings take double quotes");
	CHECK_REFUSED("nil", "unexpected character 'n'");
	CHECK_REFUSED("truex", "unexpected 'x' after the value");
	CHECK_REFUSED("True", "unexpected character 'T'");
}

TEST(refuses_control_characters_and_bad_escapes)
{
	CHECK_REFUSED("\"a\tb\"", "control character 0x09");
	CHECK_REFUSED("\"\\x41\"", "unknown escape '\\x'");
	CHECK_REFUSED("\"\\u12G4\"", "\\u needs four hex digits");
}

TEST(refuses_invalid_utf8)
{
	CHECK_REFUSED("\"\xc0\x80\"", "invalid UTF-8 byte 0xc0");          /* overlong NUL */
	CHECK_REFUSED("\"\xed\xa0\x80\"", "invalid UTF-8 byte 0xed");      /* surrogate */
	CHECK_REFUSED("\"\xf5\x80\x80\x80\"", "invalid UTF-8 byte 0xf5");  /* > U+10FFFF */
	CHECK_REFUSED("\"\x80\"", "invalid UTF-8 byte 0x80");              /* stray continuation */
}

TEST(refuses_lone_surrogates)
{
	CHECK_REFUSED("\"\\udc00\"", "lone low surrogate \\udc00");
	CHECK_REFUSED("\"\\ud800x\"", "high surrogate \\ud800 not followed by a low one");
	CHECK_REFUSED("\"\\ud800\\u0041\"", "high surrogate \\ud800 followed by \\u0041");
}

TEST(refuses_duplicate_keys_and_nul_in_keys)
{
	CHECK_REFUSED("{\"a\": 1, \"a\": 2}", "duplicate key 'a'");
	CHECK_REFUSED("{\"a\\u0000b\": 1}", "object key contains \\u0000");
}

TEST(refuses_nesting_beyond_the_limit)
{
	char deep[2 * JSON_MAX_DEPTH + 8];
	struct json *v;
	size_t n = 0;

	for (unsigned i = 0; i < JSON_MAX_DEPTH; i++)
		deep[n++] = '[';
	for (unsigned i = 0; i < JSON_MAX_DEPTH; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	CHECK_EQ(parse(deep, &v), 0);                   /* exactly the limit is fine */
	json_free(v);
	memmove(deep + 1, deep, n + 1);
	deep[0] = '[';
	deep[n + 1] = ']';
	deep[n + 2] = '\0';
	CHECK_REFUSED(deep, "nesting deeper than 32");
}

TEST(refuses_missing_separators)
{
	CHECK_REFUSED("[1 2]", "expected ',' or ']' in an array, got '2'");
	CHECK_REFUSED("{\"a\" 1}", "expected ':' after key 'a', got '1'");
	CHECK_REFUSED("{\"a\": 1 \"b\": 2}", "expected ',' or '}' in an object, got '\"'");
	CHECK_REFUSED("{1: 2}", "expected a string key in an object, got '1'");
}

TEST(every_truncation_of_a_message_is_incomplete)
{
	static const char msg[] = "{\"execute\": \"x-memvisor-page-out\", \"arguments\": "
				  "{\"gpa\": 1048576, \"len\": -4.5e-3, \"s\": \"\\u00e9\\ud83d\\ude00\xc3\xa9\", "
				  "\"a\": [true, false, null]}, \"id\": 7}";
	struct json *v;

	for (size_t len = 0; len < sizeof(msg) - 1; len++) {
		mv_error_clear();
		if (json_parse(msg, len, true, &v, NULL) != -EAGAIN)
			mvt_fail(__FILE__, __LINE__, "prefix of %zu bytes: not incomplete: %s", len,
				 mv_error());
		CHECK_NULL(v);
	}
	CHECK_EQ(json_parse(msg, sizeof(msg) - 1, true, &v, NULL), 0);
	json_free(v);
}

TEST(a_stream_yields_one_value_at_a_time)
{
	static const char two[] = "{\"a\": 1} {\"b\": [2]}\n";
	struct json *v;
	size_t end;

	CHECK_EQ(json_parse(two, sizeof(two) - 1, true, &v, &end), 0);
	CHECK_EQ(json_get(v, "a")->u.num.i, 1);
	json_free(v);
	CHECK_EQ(end, 9);
	CHECK_EQ(json_parse(two + end, sizeof(two) - 1 - end, true, &v, &end), 0);
	CHECK_EQ(json_get(v, "b")->u.arr.n, 1);
	json_free(v);
	/* in a stream a number at the very end may go on: incomplete; in a whole text it is not */
	CHECK_EQ(json_parse("12", 2, true, &v, NULL), -EAGAIN);
	CHECK_EQ(json_parse("12", 2, false, &v, NULL), 0);
	json_free(v);
}

TEST(numbers_keep_int64_exactly_and_the_rest_as_double)
{
	struct json *v;

	CHECK_EQ(parse("[9223372036854775807, -9223372036854775808, 9223372036854775808, 2.5, 1e3]",
		       &v), 0);
	CHECK(v->u.arr.v[0]->u.num.is_int);
	CHECK_EQ(v->u.arr.v[0]->u.num.i, INT64_MAX);
	CHECK(v->u.arr.v[1]->u.num.is_int);
	CHECK_EQ(v->u.arr.v[1]->u.num.i, INT64_MIN);
	CHECK(!v->u.arr.v[2]->u.num.is_int);            /* 2^63: beyond int64 */
	CHECK(!v->u.arr.v[3]->u.num.is_int);
	CHECK(v->u.arr.v[3]->u.num.d == 2.5);
	CHECK(!v->u.arr.v[4]->u.num.is_int);            /* an exponent makes it a double */
	CHECK(v->u.arr.v[4]->u.num.d == 1000.0);
	json_free(v);
}

TEST(strings_decode_escapes_and_surrogate_pairs)
{
	struct json *v;

	CHECK_EQ(parse("\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\\u0000z\"", &v), 0);
	CHECK_EQ(v->type, JSON_STRING);
	CHECK_EQ(v->u.str.len, 17);
	CHECK(memcmp(v->u.str.s, "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\0z", 17) == 0);
	json_free(v);
}

TEST(get_finds_members_and_only_in_objects)
{
	struct json *v;

	CHECK_EQ(parse("{\"x\": {\"y\": \"z\"}, \"n\": null}", &v), 0);
	CHECK_EQ(json_get(v, "n")->type, JSON_NULL);
	CHECK_STREQ(json_get(json_get(v, "x"), "y")->u.str.s, "z");
	CHECK_NULL(json_get(v, "y"));
	CHECK_NULL(json_get(json_get(v, "n"), "y"));
	json_free(v);
}

TEST(writer_places_commas_and_escapes)
{
	struct json_writer w;

	json_writer_init(&w);
	json_obj_begin(&w);
	json_kv_str(&w, "s", "q\"b\\c\x01\x7f");
	json_key(&w, "a");
	json_arr_begin(&w);
	json_int(&w, -3);
	json_uint(&w, UINT64_MAX);
	json_obj_begin(&w);
	json_obj_end(&w);
	json_arr_begin(&w);
	json_arr_end(&w);
	json_null(&w);
	json_arr_end(&w);
	json_kv_bool(&w, "t", true);
	json_obj_end(&w);
	CHECK_STREQ(json_writer_text(&w, NULL), "{\"s\": \"q\\\"b\\\\c\\u0001\\u007f\", \"a\": [-3, "
		    "18446744073709551615, {}, [], null], \"t\": true}");
	json_writer_free(&w);
}

TEST(what_the_writer_writes_parses_back_the_same)
{
	static const char text[] = "{\"a\": [1, -2, 0.5, \"\\u0000\\n\xc3\xa9\", true, false, null], "
				   "\"b\": {\"c\": {}}, \"d\": []}";
	struct json_writer w1, w2;
	struct json *v, *v2;
	const char *out;

	CHECK_EQ(parse(text, &v), 0);
	out = write_value(&w1, v);
	CHECK_NOT_NULL(out);
	CHECK_EQ(parse(out, &v2), 0);
	CHECK_STREQ(write_value(&w2, v2), out);
	CHECK_EQ(json_get(v2, "a")->u.arr.v[3]->u.str.len, 4);
	json_writer_free(&w1);
	json_writer_free(&w2);
	json_free(v);
	json_free(v2);
}

TEST(writer_turns_invalid_utf8_into_replacement_characters)
{
	struct json_writer w;

	json_writer_init(&w);
	json_str(&w, "a\xc3\xa9\x89z\xe2\x82");         /* é, a stray byte, a cut sequence */
	CHECK_STREQ(json_writer_text(&w, NULL), "\"a\xc3\xa9\\ufffdz\\ufffd\\ufffd\"");
	json_writer_free(&w);
}

TEST(error_messages_name_bytes_that_are_not_printable)
{
	CHECK_REFUSED("[1\x89]", "expected ',' or ']' in an array, got byte 0x89");
	CHECK_REFUSED("\x01", "unexpected character byte 0x01");
}

TEST(doubles_are_written_so_they_read_back_as_doubles)
{
	struct json_writer w;
	struct json *v;

	CHECK_EQ(parse("[1e3, -0e0, 0.25]", &v), 0);
	CHECK_STREQ(write_value(&w, v), "[1000.0, -0.0, 0.25]");
	json_writer_free(&w);
	json_free(v);
}
