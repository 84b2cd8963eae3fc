/* SPDX-License-Identifier: MIT */
/* A small JSON pull reader for untrusted input (bounded depth, lengths and numbers, no allocation) and the
 * string and number writers the statistics files share. */
#ifndef RTC_JSON_H
#define RTC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RTC_JSON_MAX_DEPTH 32

/* Reader over a caller-owned buffer. Every call returns 0 (or 1 for "one more item") on success and
 * -EPROTO on malformed input or a value of the wrong type; after the first error every call fails. */
struct rtc_json {
	const char *p, *end;
	int depth;
	int err;
	bool first[RTC_JSON_MAX_DEPTH + 1]; /* per open container: no item read yet */
};

void rtc_json_init(struct rtc_json *j, const char *buf, size_t len);
/* 0 when only white space is left. */
int rtc_json_finish(struct rtc_json *j);

enum rtc_json_type {
	RTC_JSON_NONE, /* end of input or error */
	RTC_JSON_NULL,
	RTC_JSON_BOOL,
	RTC_JSON_NUMBER,
	RTC_JSON_STRING,
	RTC_JSON_ARRAY,
	RTC_JSON_OBJECT,
};
/* Type of the next value, without consuming it. */
enum rtc_json_type rtc_json_peek(struct rtc_json *j);

/* Objects: rtc_json_object_begin, then while rtc_json_object_next returns 1 the key is in key[] (NUL
 * terminated; longer keys are an error; key NULL: not kept) and the caller reads or skips its value.
 * 0 = closing brace read. */
int rtc_json_object_begin(struct rtc_json *j);
int rtc_json_object_next(struct rtc_json *j, char *key, size_t key_cap);
/* Arrays: the same, rtc_json_array_next returns 1 while a value follows. */
int rtc_json_array_begin(struct rtc_json *j);
int rtc_json_array_next(struct rtc_json *j);

/* A string, unescaped into buf (cap bytes, NUL added; invalid UTF-8 or a longer string is an error). */
int rtc_json_string(struct rtc_json *j, char *buf, size_t cap, size_t *len);
/* A non-negative integer without fraction or exponent that fits in 64 bits. */
int rtc_json_u64(struct rtc_json *j, uint64_t *v);
/* The same up to 2^128 - 1. */
int rtc_json_u128(struct rtc_json *j, unsigned __int128 *v);
/* Any finite number. */
int rtc_json_double(struct rtc_json *j, double *v);
int rtc_json_bool(struct rtc_json *j, bool *v);
/* Skip one value of any type (depth-bounded). */
int rtc_json_skip(struct rtc_json *j);

/* Writers to a stream (errors are seen with ferror by the caller). */
/* A JSON string from untrusted bytes: escaped, each invalid UTF-8 byte replaced by U+FFFD (raw, so that
 * what is read back writes the same), at most max_len bytes of input (0 = no limit). */
void rtc_json_put_str(FILE *f, const char *s, size_t len, size_t max_len);
/* The same without the quotes, to write one string in pieces. */
void rtc_json_put_str_body(FILE *f, const char *s, size_t len, size_t max_len);
void rtc_json_put_u64(FILE *f, uint64_t v);
void rtc_json_put_u128(FILE *f, unsigned __int128 v);
/* A finite double (NaN and infinities are written as 0), shortest form that reads back the same. */
void rtc_json_put_double(FILE *f, double v);

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t rtc_utf8_len(const unsigned char *s, size_t n);

#endif
