/* SPDX-License-Identifier: MIT */
/* JSON pull reader for untrusted statistics files and the string and number writers shared by the
 * statistics outputs. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void rtc_json_init(struct rtc_json *j, const char *buf, size_t len)
{
	memset(j, 0, sizeof(*j));
	j->p = buf;
	j->end = buf + len;
}

static int string_token(struct rtc_json *j, char *buf, size_t cap, size_t *len);

static int fail(struct rtc_json *j)
{
	j->err = -EPROTO;
	return j->err;
}

static void skip_ws(struct rtc_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

int rtc_json_finish(struct rtc_json *j)
{
	if (j->err)
		return j->err;
	skip_ws(j);
	return j->p == j->end && j->depth == 0 ? 0 : fail(j);
}

enum rtc_json_type rtc_json_peek(struct rtc_json *j)
{
	if (j->err)
		return RTC_JSON_NONE;
	skip_ws(j);
	if (j->p >= j->end)
		return RTC_JSON_NONE;
	switch (*j->p) {
	case 'n':
		return RTC_JSON_NULL;
	case 't':
	case 'f':
		return RTC_JSON_BOOL;
	case '"':
		return RTC_JSON_STRING;
	case '[':
		return RTC_JSON_ARRAY;
	case '{':
		return RTC_JSON_OBJECT;
	default:
		return (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) ? RTC_JSON_NUMBER : RTC_JSON_NONE;
	}
}

static int expect(struct rtc_json *j, char c)
{
	if (j->err)
		return j->err;
	skip_ws(j);
	if (j->p >= j->end || *j->p != c)
		return fail(j);
	j->p++;
	return 0;
}

static int open_container(struct rtc_json *j, char c)
{
	if (expect(j, c))
		return j->err;
	if (j->depth >= RTC_JSON_MAX_DEPTH)
		return fail(j);
	j->depth++;
	j->first[j->depth] = true;
	return 0;
}

/* 1 when another item follows (separator consumed), 0 when the container closed. */
static int next_item(struct rtc_json *j, char close)
{
	if (j->err)
		return j->err;
	if (j->depth <= 0)
		return fail(j);
	skip_ws(j);
	if (j->p >= j->end)
		return fail(j);
	if (*j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	if (!j->first[j->depth] && expect(j, ','))
		return j->err;
	j->first[j->depth] = false;
	return 1;
}

int rtc_json_object_begin(struct rtc_json *j)
{
	return open_container(j, '{');
}

int rtc_json_array_begin(struct rtc_json *j)
{
	return open_container(j, '[');
}

int rtc_json_array_next(struct rtc_json *j)
{
	return next_item(j, ']');
}

int rtc_json_object_next(struct rtc_json *j, char *key, size_t key_cap)
{
	int r = next_item(j, '}');

	if (r != 1)
		return r;
	if (string_token(j, key, key_cap, NULL) || expect(j, ':'))
		return j->err;
	return 1;
}

size_t rtc_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int hex4(struct rtc_json *j, uint32_t *v)
{
	*v = 0;
	if (j->end - j->p < 4)
		return fail(j);
	for (int i = 0; i < 4; i++) {
		char c = *j->p++;

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return fail(j);
	}
	return 0;
}

/* Appends the UTF-8 encoding of cp (nothing when buf is NULL); false when it does not fit. */
static bool put_cp(char *buf, size_t cap, size_t *n, uint32_t cp)
{
	unsigned char tmp[4];
	size_t l;

	if (cp < 0x80) {
		tmp[0] = (unsigned char)cp;
		l = 1;
	} else if (cp < 0x800) {
		tmp[0] = (unsigned char)(0xc0 | (cp >> 6));
		tmp[1] = (unsigned char)(0x80 | (cp & 0x3f));
		l = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (unsigned char)(0xe0 | (cp >> 12));
		tmp[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[2] = (unsigned char)(0x80 | (cp & 0x3f));
		l = 3;
	} else {
		tmp[0] = (unsigned char)(0xf0 | (cp >> 18));
		tmp[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		tmp[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[3] = (unsigned char)(0x80 | (cp & 0x3f));
		l = 4;
	}
	if (!buf)
		return true;
	if (cap - *n < l + 1)
		return false;
	memcpy(buf + *n, tmp, l);
	*n += l;
	return true;
}

/* A string token, decoded into buf (or only checked when buf is NULL). */
static int string_token(struct rtc_json *j, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;

	if ((buf && cap == 0) || expect(j, '"'))
		return j->err ? j->err : fail(j);
	for (;;) {
		unsigned char c;

		if (j->p >= j->end)
			return fail(j);
		c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			break;
		}
		if (c < 0x20)
			return fail(j);
		if (c == '\\') {
			uint32_t cp;

			if (j->end - j->p < 2)
				return fail(j);
			j->p++;
			switch (*j->p++) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (hex4(j, &cp))
					return j->err;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return fail(j);
				if (cp >= 0xd800 && cp <= 0xdbff) {
					uint32_t lo;

					if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
						return fail(j);
					j->p += 2;
					if (hex4(j, &lo))
						return j->err;
					if (lo < 0xdc00 || lo > 0xdfff)
						return fail(j);
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				break;
			default:
				return fail(j);
			}
			if (!put_cp(buf, cap, &n, cp))
				return fail(j);
			continue;
		}
		{
			size_t l = rtc_utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));

			if (l == 0 || (buf && cap - n < l + 1))
				return fail(j);
			if (buf)
				memcpy(buf + n, j->p, l);
			n += l;
			j->p += l;
		}
	}
	if (buf)
		buf[n] = 0;
	if (len)
		*len = n;
	return 0;
}

int rtc_json_string(struct rtc_json *j, char *buf, size_t cap, size_t *len)
{
	if (!buf)
		return fail(j);
	return string_token(j, buf, cap, len);
}

/* The span of a number token, checked against the JSON grammar. */
static int number_token(struct rtc_json *j, const char **start, size_t *len, bool *integer)
{
	const char *p;

	if (j->err)
		return j->err;
	skip_ws(j);
	p = j->p;
	*integer = true;
	if (p < j->end && *p == '-')
		p++;
	if (p >= j->end || *p < '0' || *p > '9')
		return fail(j);
	if (*p == '0')
		p++;
	else
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	if (p < j->end && *p == '.') {
		*integer = false;
		p++;
		if (p >= j->end || *p < '0' || *p > '9')
			return fail(j);
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		*integer = false;
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= j->end || *p < '0' || *p > '9')
			return fail(j);
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	*start = j->p;
	*len = (size_t)(p - j->p);
	j->p = p;
	return 0;
}

int rtc_json_u128(struct rtc_json *j, unsigned __int128 *v)
{
	const char *s;
	size_t len;
	bool integer;
	unsigned __int128 x = 0;

	if (number_token(j, &s, &len, &integer))
		return j->err;
	if (!integer || s[0] == '-')
		return fail(j);
	for (size_t i = 0; i < len; i++) {
		unsigned __int128 d = (unsigned __int128)(s[i] - '0');

		if (x > (~(unsigned __int128)0 - d) / 10)
			return fail(j);
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int rtc_json_u64(struct rtc_json *j, uint64_t *v)
{
	unsigned __int128 x;

	if (rtc_json_u128(j, &x))
		return j->err;
	if (x > UINT64_MAX)
		return fail(j);
	*v = (uint64_t)x;
	return 0;
}

int rtc_json_double(struct rtc_json *j, double *v)
{
	const char *s;
	size_t len;
	bool integer;
	char tmp[64];
	char *endp;

	if (number_token(j, &s, &len, &integer))
		return j->err;
	if (len >= sizeof(tmp))
		return fail(j);
	memcpy(tmp, s, len);
	tmp[len] = 0;
	*v = strtod(tmp, &endp);
	if (endp != tmp + len || !isfinite(*v))
		return fail(j);
	return 0;
}

static int literal(struct rtc_json *j, const char *word)
{
	size_t n = strlen(word);

	if (j->err)
		return j->err;
	skip_ws(j);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return fail(j);
	j->p += n;
	return 0;
}

int rtc_json_bool(struct rtc_json *j, bool *v)
{
	if (rtc_json_peek(j) != RTC_JSON_BOOL)
		return fail(j);
	*v = *j->p == 't';
	return literal(j, *v ? "true" : "false");
}

int rtc_json_skip(struct rtc_json *j)
{
	int r;

	switch (rtc_json_peek(j)) {
	case RTC_JSON_NULL:
		return literal(j, "null");
	case RTC_JSON_BOOL: {
		bool b;

		return rtc_json_bool(j, &b);
	}
	case RTC_JSON_NUMBER: {
		const char *s;
		size_t len;
		bool integer;

		return number_token(j, &s, &len, &integer);
	}
	case RTC_JSON_STRING:
		return string_token(j, NULL, 0, NULL);
	case RTC_JSON_ARRAY:
		if (rtc_json_array_begin(j))
			return j->err;
		while ((r = rtc_json_array_next(j)) == 1)
			if (rtc_json_skip(j))
				return j->err;
		return r;
	case RTC_JSON_OBJECT:
		if (rtc_json_object_begin(j))
			return j->err;
		while ((r = rtc_json_object_next(j, NULL, 0)) == 1)
			if (rtc_json_skip(j))
				return j->err;
		return r;
	default:
		return fail(j);
	}
}

void rtc_json_put_str(FILE *f, const char *s, size_t n, size_t max_len)
{
	putc('"', f);
	rtc_json_put_str_body(f, s, n, max_len);
	putc('"', f);
}

void rtc_json_put_str_body(FILE *f, const char *s, size_t n, size_t max_len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	if (max_len && n > max_len)
		n = max_len;
	for (size_t i = 0; i < n;) {
		unsigned char ch = p[i];
		size_t l;

		if (ch == '"' || ch == '\\') {
			putc('\\', f);
			putc(ch, f);
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			char e[7] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15], 0 };

			fputs(e, f);
			i++;
		} else if (ch < 0x80) {
			size_t k = i;

			while (k < n && p[k] >= 0x20 && p[k] < 0x7f && p[k] != '"' && p[k] != '\\')
				k++;
			fwrite(s + i, 1, k - i, f);
			i = k;
		} else if ((l = rtc_utf8_len(p + i, n - i)) != 0) {
			fwrite(s + i, 1, l, f);
			i += l;
		} else {
			fputs("\xef\xbf\xbd", f); /* U+FFFD, as the reader will give it back */
			i++;
		}
	}
}

void rtc_json_put_u128(FILE *f, unsigned __int128 v)
{
	char tmp[48];
	size_t i = sizeof(tmp);

	tmp[--i] = 0;
	do {
		tmp[--i] = (char)('0' + (unsigned)(v % 10));
		v /= 10;
	} while (v);
	fputs(tmp + i, f);
}

void rtc_json_put_u64(FILE *f, uint64_t v)
{
	rtc_json_put_u128(f, v);
}

void rtc_json_put_double(FILE *f, double v)
{
	char tmp[40];

	if (!isfinite(v))
		v = 0;
	/* Integral values (most durations) print without a fraction; others in the shortest round-trip form. */
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		fprintf(f, "%.0f", v);
		return;
	}
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	fputs(tmp, f);
}
