/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON writer with a hand-written formatter (no printf per event). */
#include "chrome.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/outfile.h"

#define OTHER_MAX 64

struct rtc_chrome {
	FILE *f;
	struct rtc_outfile *out; /* own files: events are formatted straight into its buffers */
	uint64_t origin;
	uint64_t events;
	char *buf; /* events are formatted here (own files: many, flushed when nearly full) */
	size_t cap, len;
	size_t start; /* where the event being formatted begins */
	char *other[OTHER_MAX]; /* "key":value pairs, already JSON */
	/* ',"pid":P,"tid":T' of recent threads, formatted once. */
	struct {
		uint32_t pid, tid;
		uint8_t len;
		char text[48];
	} ids[64];
	size_t nother;
	int err;
};

#define EVENT_CAP (1u << 16)

static struct rtc_chrome *create(FILE *f, struct rtc_outfile *out, uint64_t origin)
{
	struct rtc_chrome *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->f = f;
	c->out = out;
	c->origin = origin;
	if (out) {
		c->buf = rtc_outfile_reserve(out, EVENT_CAP, &c->cap);
		memcpy(c->buf, "{\"traceEvents\":[\n", 17);
		c->len = 17;
		return c;
	}
	c->cap = EVENT_CAP;
	c->buf = malloc(c->cap);
	if (!c->buf) {
		free(c);
		return NULL;
	}
	if (f)
		fputs("{\"traceEvents\":[\n", f);
	return c;
}

/* Hand what was formatted to the output file and continue in fresh room. */
static void flush_fd(struct rtc_chrome *c)
{
	rtc_outfile_advance(c->out, c->len);
	c->buf = rtc_outfile_reserve(c->out, EVENT_CAP, &c->cap);
	c->len = 0;
}

struct rtc_chrome *rtc_chrome_open(const char *path, uint64_t origin_ns)
{
	struct rtc_outfile *out;
	struct rtc_chrome *c;
	int err = rtc_outfile_open(&out, path, RTC_OUTFILE_THREAD);

	if (err < 0) {
		errno = -err;
		return NULL;
	}
	c = create(NULL, out, origin_ns);
	if (!c) {
		rtc_outfile_abort(out);
		errno = ENOMEM;
	}
	return c;
}

struct rtc_chrome *rtc_chrome_open_stream(FILE *f, uint64_t origin_ns)
{
	return create(f, NULL, origin_ns);
}

/* ---- formatting ---- */

static inline void put(struct rtc_chrome *c, const char *s, size_t n)
{
	if (c->len + n > c->cap)
		n = c->cap - c->len; /* the per-field limits below keep this from happening */
	memcpy(c->buf + c->len, s, n);
	c->len += n;
}

#define PUTS(c, lit) put((c), (lit), sizeof(lit) - 1)

static const char digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
			       "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
			       "8081828384858687888990919293949596979899";

static void put_u64(struct rtc_chrome *c, uint64_t v)
{
	char tmp[24];
	int i = (int)sizeof(tmp);

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		tmp[--i] = digits2[2 * r + 1];
		tmp[--i] = digits2[2 * r];
	}
	if (v >= 10) {
		tmp[--i] = digits2[2 * v + 1];
		tmp[--i] = digits2[2 * v];
	} else {
		tmp[--i] = (char)('0' + v);
	}
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
	if (!c->out)
		c->len = 0;
	else if (c->cap - c->len < EVENT_CAP)
		flush_fd(c);
	c->start = c->len;
	if (c->events)
		PUTS(c, ",\n");
	PUTS(c, "{\"ph\":\"");
	put(c, ph, 1);
	PUTS(c, "\"");
	{
		unsigned slot = (o->tid * 2654435761u ^ o->pid) & 63;

		if (c->ids[slot].len == 0 || c->ids[slot].pid != o->pid || c->ids[slot].tid != o->tid) {
			size_t at = c->len;

			PUTS(c, ",\"pid\":");
			put_u64(c, o->pid);
			PUTS(c, ",\"tid\":");
			put_u64(c, o->tid);
			c->ids[slot].pid = o->pid;
			c->ids[slot].tid = o->tid;
			c->ids[slot].len = (uint8_t)(c->len - at);
			memcpy(c->ids[slot].text, c->buf + at, c->ids[slot].len);
		} else {
			put(c, c->ids[slot].text, c->ids[slot].len);
		}
	}
}

static void finish(struct rtc_chrome *c)
{
	PUTS(c, "}");
	if (!c->out && fwrite(c->buf, 1, c->len, c->f) != c->len && !c->err)
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

/* Format into a scratch formatter so that the event buffer is left alone. */
static char *scratch_json(const char *key, const char *json_value, size_t n, const char *str_value)
{
	struct rtc_chrome tmp;
	char *e;

	memset(&tmp, 0, sizeof(tmp));
	tmp.cap = EVENT_CAP;
	tmp.buf = malloc(tmp.cap);
	if (!tmp.buf)
		return NULL;
	put_cstr(&tmp, key);
	PUTS(&tmp, ":");
	if (str_value)
		put_cstr(&tmp, str_value);
	else
		put(&tmp, json_value, n);
	e = malloc(tmp.len + 1);
	if (e) {
		memcpy(e, tmp.buf, tmp.len);
		e[tmp.len] = 0;
	}
	free(tmp.buf);
	return e;
}

static void other(struct rtc_chrome *c, const char *key, const char *json_value, size_t n, const char *str_value)
{
	char *e;

	if (c->nother == OTHER_MAX)
		return;
	e = scratch_json(key, json_value, n, str_value);
	if (e)
		c->other[c->nother++] = e;
}

void rtc_chrome_other(struct rtc_chrome *c, const char *key, const char *value)
{
	other(c, key, NULL, 0, value ? value : "");
}

void rtc_chrome_other_u64(struct rtc_chrome *c, const char *key, uint64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)value);

	other(c, key, num, (size_t)n, NULL);
}

uint64_t rtc_chrome_events(const struct rtc_chrome *c)
{
	return c->events;
}

int rtc_chrome_close(struct rtc_chrome *c)
{
	int err;

	if (!c->out)
		c->len = 0;
	PUTS(c, "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{");
	for (size_t i = 0; i < c->nother; i++) {
		if (c->out && c->cap - c->len < EVENT_CAP)
			flush_fd(c);
		if (i)
			PUTS(c, ",");
		put(c, c->other[i], strlen(c->other[i]));
		free(c->other[i]);
	}
	PUTS(c, "}}\n");
	if (c->out) {
		/* Complete, then put in place (sinks/outfile.h): a reader never sees a partial file. */
		rtc_outfile_advance(c->out, c->len);
		err = rtc_outfile_commit(c->out);
	} else {
		if (fwrite(c->buf, 1, c->len, c->f) != c->len || fflush(c->f) != 0)
			c->err = c->err ? c->err : -EIO;
		err = c->err;
		free(c->buf);
	}
	free(c);
	return err;
}
