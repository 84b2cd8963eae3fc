/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON writer with a hand-written formatter (no printf per event). */
#include "chrome.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OTHER_MAX 64

struct rtc_chrome {
	FILE *f;
	bool own;
	char *path, *partial;
	uint64_t origin;
	uint64_t events;
	char *buf; /* one event is formatted here, then written */
	size_t cap, len;
	char *other[OTHER_MAX]; /* "key":value pairs, already JSON */
	size_t nother;
	int err;
};

#define EVENT_CAP (1u << 16)

static struct rtc_chrome *create(FILE *f, uint64_t origin)
{
	struct rtc_chrome *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->f = f;
	c->origin = origin;
	c->cap = EVENT_CAP;
	c->buf = malloc(c->cap);
	if (!c->buf) {
		free(c);
		return NULL;
	}
	fputs("{\"traceEvents\":[\n", f);
	return c;
}

struct rtc_chrome *rtc_chrome_open(const char *path, uint64_t origin_ns)
{
	struct rtc_chrome *c;
	size_t n = strlen(path);
	char *partial = malloc(n + 9);
	FILE *f;

	if (!partial)
		return NULL;
	memcpy(partial, path, n);
	memcpy(partial + n, ".partial", 9);
	f = fopen(partial, "we");
	if (!f) {
		free(partial);
		return NULL;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	c = create(f, origin_ns);
	if (!c) {
		fclose(f);
		unlink(partial);
		free(partial);
		errno = ENOMEM;
		return NULL;
	}
	c->own = true;
	c->partial = partial;
	c->path = strdup(path);
	return c;
}

struct rtc_chrome *rtc_chrome_open_stream(FILE *f, uint64_t origin_ns)
{
	return create(f, origin_ns);
}

/* ---- formatting ---- */

static void put(struct rtc_chrome *c, const char *s, size_t n)
{
	if (c->len + n > c->cap)
		n = c->cap - c->len; /* the per-field limits below keep this from happening */
	memcpy(c->buf + c->len, s, n);
	c->len += n;
}

#define PUTS(c, lit) put((c), (lit), sizeof(lit) - 1)

static void put_u64(struct rtc_chrome *c, uint64_t v)
{
	char tmp[24];
	int i = (int)sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(c, &tmp[i], sizeof(tmp) - (size_t)i);
}

/* Nanoseconds as microseconds with three decimals: full precision. */
static void put_us(struct rtc_chrome *c, uint64_t ns)
{
	char frac[4] = { '.', 0, 0, 0 };
	uint64_t r = ns % 1000;

	put_u64(c, ns / 1000);
	frac[1] = (char)('0' + r / 100);
	frac[2] = (char)('0' + r / 10 % 10);
	frac[3] = (char)('0' + r % 10);
	put(c, frac, 4);
}

static void put_ts(struct rtc_chrome *c, uint64_t ns)
{
	put_us(c, ns > c->origin ? ns - c->origin : 0);
}

/* Length of the valid UTF-8 sequence at s (max n bytes), 0 if invalid. */
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

/* A JSON string from untrusted bytes: escaped, invalid UTF-8 replaced by U+FFFD. */
static void put_str(struct rtc_chrome *c, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	if (n > 4096)
		n = 4096;
	PUTS(c, "\"");
	for (size_t i = 0; i < n;) {
		unsigned char ch = p[i];
		size_t l;

		if (ch == '"' || ch == '\\') {
			char e[2] = { '\\', (char)ch };

			put(c, e, 2);
			i++;
		} else if (ch < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

			put(c, e, 6);
			i++;
		} else if (ch < 0x80) {
			size_t j = i;

			while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
				j++;
			put(c, s + i, j - i);
			i = j;
		} else if ((l = utf8_len(p + i, n - i)) != 0) {
			put(c, s + i, l);
			i += l;
		} else {
			PUTS(c, "\\ufffd");
			i++;
		}
	}
	PUTS(c, "\"");
}

static void put_cstr(struct rtc_chrome *c, const char *s)
{
	put_str(c, s ? s : "", s ? strlen(s) : 0);
}

static void head(struct rtc_chrome *c, const char *ph, const struct rtc_out *o)
{
	c->len = 0;
	if (c->events)
		PUTS(c, ",\n");
	PUTS(c, "{\"ph\":\"");
	put(c, ph, strlen(ph));
	PUTS(c, "\",\"pid\":");
	put_u64(c, o->pid);
	PUTS(c, ",\"tid\":");
	put_u64(c, o->tid);
}

static void finish(struct rtc_chrome *c)
{
	PUTS(c, "}");
	if (fwrite(c->buf, 1, c->len, c->f) != c->len && !c->err)
		c->err = errno ? -errno : -EIO;
	c->events++;
}

static void flag_args(struct rtc_chrome *c, uint32_t flags)
{
	if (flags & RTC_F_INCOMPLETE)
		PUTS(c, ",\"incomplete\":true");
	if (flags & RTC_F_REPAIRED)
		PUTS(c, ",\"repaired\":true");
	if (flags & RTC_F_BEFORE_ATTACH)
		PUTS(c, ",\"before_attach\":true");
	if (flags & RTC_F_BEGIN_UNKNOWN)
		PUTS(c, ",\"begin_unknown\":true");
	if (flags & RTC_F_LOST_END)
		PUTS(c, ",\"end_lost\":true");
	if (flags & RTC_F_THREAD_EXIT)
		PUTS(c, ",\"thread_exited\":true");
}

static void task_id(struct rtc_chrome *c, uint32_t pid, uint64_t id)
{
	/* Task ids are per process: make them unique across processes. */
	PUTS(c, ",\"id\":\"");
	put_u64(c, pid);
	PUTS(c, ":");
	put_u64(c, id);
	PUTS(c, "\"");
}

static void emit(void *ctx, const struct rtc_out *o)
{
	struct rtc_chrome *c = ctx;

	switch (o->kind) {
	case RTC_OUT_PROCESS:
		head(c, "M", o);
		PUTS(c, ",\"name\":\"process_name\",\"args\":{\"name\":");
		put_str(c, o->text, o->text_len);
		PUTS(c, "}");
		break;
	case RTC_OUT_THREAD:
		head(c, "M", o);
		PUTS(c, ",\"name\":\"thread_name\",\"args\":{\"name\":");
		put_str(c, o->text, o->text_len);
		PUTS(c, "}");
		break;
	case RTC_OUT_SPAN:
		head(c, "X", o);
		PUTS(c, ",\"cat\":\"span\",\"name\":");
		put_str(c, o->name, o->name_len);
		PUTS(c, ",\"ts\":");
		put_ts(c, o->ts);
		PUTS(c, ",\"dur\":");
		put_us(c, o->dur);
		PUTS(c, ",\"args\":{\"task\":");
		put_u64(c, o->task);
		PUTS(c, ",\"span\":\"");
		put_u64(c, o->thread_number);
		PUTS(c, "-");
		put_u64(c, o->span_seq);
		PUTS(c, "\"");
		flag_args(c, o->flags);
		PUTS(c, "}");
		break;
	case RTC_OUT_TASK_BEGIN:
	case RTC_OUT_TASK_END:
		head(c, o->kind == RTC_OUT_TASK_BEGIN ? "b" : "e", o);
		PUTS(c, ",\"cat\":\"task\",\"name\":");
		put_str(c, o->name, o->name_len);
		task_id(c, o->pid, o->id);
		PUTS(c, ",\"ts\":");
		put_ts(c, o->ts);
		PUTS(c, ",\"args\":{\"task\":");
		put_u64(c, o->id);
		if (o->kind == RTC_OUT_TASK_BEGIN) {
			PUTS(c, ",\"parent\":");
			put_u64(c, o->parent);
		}
		flag_args(c, o->flags);
		PUTS(c, "}");
		break;
	case RTC_OUT_LOG:
		head(c, "i", o);
		PUTS(c, ",\"s\":\"t\",\"cat\":\"log\",\"name\":");
		put_str(c, o->name, o->name_len);
		PUTS(c, ",\"ts\":");
		put_ts(c, o->ts);
		PUTS(c, ",\"args\":{\"message\":");
		put_str(c, o->text, o->text_len);
		PUTS(c, ",\"task\":");
		put_u64(c, o->task);
		if (o->span_seq) {
			PUTS(c, ",\"span\":\"");
			put_u64(c, o->thread_number);
			PUTS(c, "-");
			put_u64(c, o->span_seq);
			PUTS(c, "\"");
		}
		if (o->flags & 1)
			PUTS(c, ",\"truncated\":true");
		PUTS(c, "}");
		break;
	case RTC_OUT_LOSS:
		head(c, "i", o);
		PUTS(c, ",\"s\":\"t\",\"cat\":\"loss\",\"name\":\"records lost\",\"ts\":");
		put_ts(c, o->ts);
		PUTS(c, ",\"args\":{\"count\":");
		put_u64(c, o->count);
		PUTS(c, ",\"since\":");
		put_ts(c, o->id ? o->id : o->ts);
		PUTS(c, ",\"reason\":");
		put_cstr(c, o->cat);
		PUTS(c, "}");
		break;
	case RTC_OUT_FLOW:
		head(c, o->count ? "f" : "s", o);
		PUTS(c, ",\"cat\":\"flow\",\"name\":");
		put_str(c, o->name, o->name_len);
		PUTS(c, ",\"id\":");
		put_u64(c, o->id);
		if (o->count)
			PUTS(c, ",\"bp\":\"e\"");
		PUTS(c, ",\"ts\":");
		put_ts(c, o->ts);
		PUTS(c, ",\"args\":{\"task\":");
		put_u64(c, o->task);
		PUTS(c, "}");
		break;
	}
	finish(c);
}

struct rtc_sink rtc_chrome_sink(struct rtc_chrome *c)
{
	struct rtc_sink s = { emit, c };

	return s;
}

static void other(struct rtc_chrome *c, const char *key, const char *json_value, size_t n)
{
	char *e;

	if (c->nother == OTHER_MAX)
		return;
	c->len = 0;
	put_cstr(c, key);
	PUTS(c, ":");
	put(c, json_value, n);
	e = malloc(c->len + 1);
	if (!e)
		return;
	memcpy(e, c->buf, c->len);
	e[c->len] = 0;
	c->other[c->nother++] = e;
}

void rtc_chrome_other(struct rtc_chrome *c, const char *key, const char *value)
{
	struct rtc_chrome tmp = *c;

	/* Format the value as a JSON string with the same escaper. */
	tmp.len = 0;
	tmp.buf = malloc(EVENT_CAP);
	if (!tmp.buf)
		return;
	put_cstr(&tmp, value);
	other(c, key, tmp.buf, tmp.len);
	free(tmp.buf);
}

void rtc_chrome_other_u64(struct rtc_chrome *c, const char *key, uint64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)value);

	other(c, key, num, (size_t)n);
}

uint64_t rtc_chrome_events(const struct rtc_chrome *c)
{
	return c->events;
}

int rtc_chrome_close(struct rtc_chrome *c)
{
	int err;

	fputs("\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{", c->f);
	for (size_t i = 0; i < c->nother; i++) {
		fputs(i ? "," : "", c->f);
		fputs(c->other[i], c->f);
		free(c->other[i]);
	}
	fputs("}}\n", c->f);
	err = c->err;
	if (fflush(c->f) != 0 && !err)
		err = -errno;
	if (c->own) {
		if (fsync(fileno(c->f)) != 0 && !err)
			err = -errno;
		if (fclose(c->f) != 0 && !err)
			err = -errno;
		if (!err && rename(c->partial, c->path) != 0)
			err = -errno;
		if (err)
			unlink(c->partial);
	}
	free(c->partial);
	free(c->path);
	free(c->buf);
	free(c);
	return err;
}
