/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON for the live stream: the same events, keys and escaping as the Chrome
 * file writer, plus B/E forms of spans; into memory, bounded per event. */
#include "ws-json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STR_MAX 4096u
#define CAT_MAX 256u
/* One event's worst case: name and text fully escaped (6 bytes per byte), the rest fixed. */
#define EVENT_MAX (2u * 6u * STR_MAX + 6u * CAT_MAX + 1024u)

int rtc_ws_buf_reserve(struct rtc_ws_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->cap - b->len >= n)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

void rtc_ws_buf_free(struct rtc_ws_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Writers below run after reserving EVENT_MAX: no bounds checks per byte. */
static inline void put(struct rtc_ws_buf *b, const char *s, size_t n)
{
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

#define PUTS(b, lit) put((b), (lit), sizeof(lit) - 1)

static void put_u64(struct rtc_ws_buf *b, uint64_t v)
{
	char tmp[24];
	int i = (int)sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(b, tmp + i, sizeof(tmp) - (size_t)i);
}

/* Nanoseconds as microseconds with three decimals: full precision. */
static void put_us(struct rtc_ws_buf *b, uint64_t ns)
{
	char frac[4] = { '.', (char)('0' + ns % 1000 / 100), (char)('0' + ns % 100 / 10), (char)('0' + ns % 10) };

	put_u64(b, ns / 1000);
	put(b, frac, 4);
}

static void put_ts(struct rtc_ws_buf *b, uint64_t ns, uint64_t origin)
{
	put_us(b, ns > origin ? ns - origin : 0);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
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

/* A JSON string from untrusted bytes: escaped, invalid UTF-8 replaced by U+FFFD, cut at max. */
static void put_str(struct rtc_ws_buf *b, const char *s, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	if (!s)
		n = 0;
	if (n > max)
		n = max;
	PUTS(b, "\"");
	for (size_t i = 0; i < n;) {
		unsigned char ch = p[i];
		size_t l;

		if (ch == '"' || ch == '\\') {
			char e[2] = { '\\', (char)ch };

			put(b, e, 2);
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

			put(b, e, 6);
			i++;
		} else if (ch < 0x80) {
			size_t j = i;

			while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\')
				j++;
			put(b, s + i, j - i);
			i = j;
		} else if ((l = utf8_len(p + i, n - i)) != 0) {
			put(b, s + i, l);
			i += l;
		} else {
			PUTS(b, "\\ufffd");
			i++;
		}
	}
	PUTS(b, "\"");
}

static void put_cstr(struct rtc_ws_buf *b, const char *s)
{
	put_str(b, s, s ? strnlen(s, CAT_MAX) : 0, CAT_MAX);
}

static void head(struct rtc_ws_buf *b, char ph, const struct rtc_out *o)
{
	PUTS(b, "{\"ph\":\"");
	put(b, &ph, 1);
	PUTS(b, "\",\"pid\":");
	put_u64(b, o->pid);
	PUTS(b, ",\"tid\":");
	put_u64(b, o->tid);
}

static void flag_args(struct rtc_ws_buf *b, uint32_t flags)
{
	if (flags & RTC_F_INCOMPLETE)
		PUTS(b, ",\"incomplete\":true");
	if (flags & RTC_F_REPAIRED)
		PUTS(b, ",\"repaired\":true");
	if (flags & RTC_F_BEFORE_ATTACH)
		PUTS(b, ",\"before_attach\":true");
	if (flags & RTC_F_BEGIN_UNKNOWN)
		PUTS(b, ",\"begin_unknown\":true");
	if (flags & RTC_F_LOST_END)
		PUTS(b, ",\"end_lost\":true");
	if (flags & RTC_F_THREAD_EXIT)
		PUTS(b, ",\"thread_exited\":true");
}

static void span_id(struct rtc_ws_buf *b, const struct rtc_out *o)
{
	PUTS(b, ",\"span\":\"");
	put_u64(b, o->thread_number);
	PUTS(b, "-");
	put_u64(b, o->span_seq);
	PUTS(b, "\"");
}

static void span(struct rtc_ws_buf *b, const struct rtc_out *o, uint64_t origin, enum rtc_ws_span_phase ph)
{
	head(b, ph == RTC_WS_SPAN_X ? 'X' : ph == RTC_WS_SPAN_B ? 'B' : 'E', o);
	/* name and cat on every form: the DevTools engine needs both on E events. */
	PUTS(b, ",\"cat\":\"span\",\"name\":");
	put_str(b, o->name, o->name_len, STR_MAX);
	PUTS(b, ",\"ts\":");
	put_ts(b, ph == RTC_WS_SPAN_E ? o->ts + o->dur : o->ts, origin);
	if (ph == RTC_WS_SPAN_X) {
		PUTS(b, ",\"dur\":");
		put_us(b, o->dur);
	}
	PUTS(b, ",\"args\":{\"task\":");
	put_u64(b, o->task);
	span_id(b, o);
	flag_args(b, ph == RTC_WS_SPAN_B ? o->flags & ~(uint32_t)RTC_F_INCOMPLETE : o->flags);
	PUTS(b, "}");
}

int rtc_ws_json_event(struct rtc_ws_buf *b, const struct rtc_out *o, uint64_t origin, enum rtc_ws_span_phase ph)
{
	if (rtc_ws_buf_reserve(b, EVENT_MAX))
		return -ENOMEM;
	switch (o->kind) {
	case RTC_OUT_PROCESS:
	case RTC_OUT_THREAD:
		head(b, 'M', o);
		if (o->kind == RTC_OUT_PROCESS)
			PUTS(b, ",\"name\":\"process_name\",\"args\":{\"name\":");
		else
			PUTS(b, ",\"name\":\"thread_name\",\"args\":{\"name\":");
		put_str(b, o->text, o->text_len, STR_MAX);
		PUTS(b, "}");
		break;
	case RTC_OUT_SPAN:
		span(b, o, origin, ph);
		break;
	case RTC_OUT_SPAN_OPEN:
		span(b, o, origin, RTC_WS_SPAN_B);
		break;
	case RTC_OUT_TASK_BEGIN:
	case RTC_OUT_TASK_END:
		head(b, o->kind == RTC_OUT_TASK_BEGIN ? 'b' : 'e', o);
		PUTS(b, ",\"cat\":\"task\",\"name\":");
		put_str(b, o->name, o->name_len, STR_MAX);
		/* Task ids are per process: unique across processes this way. */
		PUTS(b, ",\"id\":\"");
		put_u64(b, o->pid);
		PUTS(b, ":");
		put_u64(b, o->id);
		PUTS(b, "\",\"ts\":");
		put_ts(b, o->ts, origin);
		PUTS(b, ",\"args\":{\"task\":");
		put_u64(b, o->id);
		if (o->kind == RTC_OUT_TASK_BEGIN) {
			PUTS(b, ",\"parent\":");
			put_u64(b, o->parent);
		}
		flag_args(b, o->flags);
		PUTS(b, "}");
		break;
	case RTC_OUT_LOG:
		head(b, 'i', o);
		PUTS(b, ",\"s\":\"t\",\"cat\":\"log\",\"name\":");
		put_str(b, o->name, o->name_len, STR_MAX);
		PUTS(b, ",\"ts\":");
		put_ts(b, o->ts, origin);
		PUTS(b, ",\"args\":{\"message\":");
		put_str(b, o->text, o->text_len, STR_MAX);
		PUTS(b, ",\"task\":");
		put_u64(b, o->task);
		if (o->span_seq)
			span_id(b, o);
		PUTS(b, "}");
		break;
	case RTC_OUT_LOSS:
		head(b, 'i', o);
		PUTS(b, ",\"s\":\"t\",\"cat\":\"loss\",\"name\":\"records lost\",\"ts\":");
		put_ts(b, o->ts, origin);
		PUTS(b, ",\"args\":{\"count\":");
		put_u64(b, o->count);
		PUTS(b, ",\"since\":");
		put_ts(b, o->since ? o->since : o->ts, origin);
		PUTS(b, ",\"reason\":");
		put_cstr(b, o->cat ? o->cat : "unknown");
		PUTS(b, "}");
		break;
	case RTC_OUT_FLOW:
		head(b, o->count ? 'f' : 's', o);
		PUTS(b, ",\"cat\":\"flow\",\"name\":");
		put_str(b, o->name, o->name_len, STR_MAX);
		PUTS(b, ",\"id\":");
		put_u64(b, o->id);
		if (o->count)
			PUTS(b, ",\"bp\":\"e\"");
		PUTS(b, ",\"ts\":");
		put_ts(b, o->ts, origin);
		PUTS(b, ",\"args\":{\"task\":");
		put_u64(b, o->task);
		PUTS(b, "}");
		break;
	}
	PUTS(b, "}");
	return 0;
}
