/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON formatting: X events for spans, b/e for tasks, i for logs and losses, M
 * for names, s/f for hand-offs with the slices they bind to (DevTools binds a flow event only to a
 * slice of the same ts, pid, tid and cat). */
#include "chrome-format.h"

#include <string.h>

#include "stats/json.h" /* rtc_utf8_len() */

struct out {
	char *p;
};

static inline void put(struct out *o, const char *s, size_t n)
{
	memcpy(o->p, s, n);
	o->p += n;
}

#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

static const char digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
			       "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
			       "8081828384858687888990919293949596979899";

static const uint64_t powers_of_10[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull, 1000000000ull,
	10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull, 100000000000000ull,
	1000000000000000ull, 10000000000000000ull, 100000000000000000ull, 1000000000000000000ull,
	10000000000000000000ull,
};

/* Decimal digits of v: from its bit length (log10(2) ~ 1233/4096), corrected by one compare. */
static inline unsigned ndigits(uint64_t v)
{
	unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
	unsigned n = (bits * 1233) >> 12;

	return v < 10 ? 1 : n + (v >= powers_of_10[n]);
}

/* Digits written straight into the output, last pair first: no scratch buffer to copy from (a
 * copy of freshly stored bytes stalls on store forwarding, the formatter's largest cost). */
static void put_u64(struct out *o, uint64_t v)
{
	unsigned n = ndigits(v);
	char *p = o->p + n;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		p -= 2;
		p[0] = digits2[2 * r];
		p[1] = digits2[2 * r + 1];
	}
	if (v >= 10) {
		p -= 2;
		p[0] = digits2[2 * v];
		p[1] = digits2[2 * v + 1];
	} else {
		*--p = (char)('0' + v);
	}
	o->p += n;
}

/* Nanoseconds as microseconds with three decimals: full precision. */
static void put_us(struct out *o, uint64_t ns)
{
	uint64_t r = ns % 1000;

	put_u64(o, ns / 1000);
	o->p[0] = '.';
	o->p[1] = (char)('0' + r / 100);
	o->p[2] = (char)('0' + r / 10 % 10);
	o->p[3] = (char)('0' + r % 10);
	o->p += 4;
}

static void put_ts(const struct rtc_chrome_fmt *f, struct out *o, uint64_t ns)
{
	put_us(o, ns > f->origin ? ns - f->origin : 0);
}

size_t rtc_json_quote(char *buf, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	struct out o = { buf };

	if (n > 4096)
		n = 4096;
	*o.p++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char ch = p[i];
		size_t l;

		if (ch == '"' || ch == '\\') {
			*o.p++ = '\\';
			*o.p++ = (char)ch;
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			/* DEL too: legal in JSON, but not what a terminal should get raw. */
			char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

			put(&o, e, 6);
			i++;
		} else if (ch < 0x7f) {
			size_t j = i;

			while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\')
				j++;
			put(&o, s + i, j - i);
			i = j;
		} else if ((l = rtc_utf8_len(p + i, n - i)) != 0) {
			put(&o, s + i, l);
			i += l;
		} else {
			PUTS(&o, "\\ufffd");
			i++;
		}
	}
	*o.p++ = '"';
	return (size_t)(o.p - buf);
}

static void put_str(struct out *o, const char *s, size_t n)
{
	o->p += rtc_json_quote(o->p, s ? s : "", s ? n : 0);
}

static void put_cstr(struct out *o, const char *s)
{
	put_str(o, s, s ? strlen(s) : 0);
}

void rtc_chrome_fmt_init(struct rtc_chrome_fmt *f, uint64_t origin_ns)
{
	memset(f, 0, sizeof(*f));
	f->origin = origin_ns;
}

static void head(struct rtc_chrome_fmt *f, struct out *o, char ph, uint32_t pid, uint32_t tid)
{
	unsigned slot = (tid * 2654435761u ^ pid) & 63;

	PUTS(o, "{\"ph\":\"");
	*o->p++ = ph;
	*o->p++ = '"';
	/* ',"pid":P,"tid":T' of recent threads, formatted once. */
	if (f->ids[slot].len == 0 || f->ids[slot].pid != pid || f->ids[slot].tid != tid) {
		char *at = o->p;

		PUTS(o, ",\"pid\":");
		put_u64(o, pid);
		PUTS(o, ",\"tid\":");
		put_u64(o, tid);
		f->ids[slot].pid = pid;
		f->ids[slot].tid = tid;
		f->ids[slot].len = (uint8_t)(o->p - at);
		memcpy(f->ids[slot].text, at, f->ids[slot].len);
	} else {
		/* A constant-size copy (inlined; the buffer always has room), then the real length. */
		memcpy(o->p, f->ids[slot].text, sizeof(f->ids[slot].text));
		o->p += f->ids[slot].len;
	}
}

static void flag_args(struct out *o, uint32_t flags)
{
	if (flags & RTC_F_INCOMPLETE)
		PUTS(o, ",\"incomplete\":true");
	if (flags & RTC_F_REPAIRED)
		PUTS(o, ",\"repaired\":true");
	if (flags & RTC_F_BEFORE_ATTACH)
		PUTS(o, ",\"before_attach\":true");
	if (flags & RTC_F_BEGIN_UNKNOWN)
		PUTS(o, ",\"begin_unknown\":true");
	if (flags & RTC_F_COARSE_BEGIN)
		PUTS(o, ",\"begin_coarse\":true");
	if (flags & RTC_F_LOST_END)
		PUTS(o, ",\"end_lost\":true");
	if (flags & RTC_F_THREAD_EXIT)
		PUTS(o, ",\"thread_exited\":true");
	if (flags & RTC_F_OPEN)
		PUTS(o, ",\"open\":true");
}

static void span_id(struct out *o, const struct rtc_out *ev)
{
	PUTS(o, "\"");
	put_u64(o, ev->thread_number);
	PUTS(o, "-");
	put_u64(o, ev->span_seq);
	PUTS(o, "\"");
}

static void task_id(struct out *o, uint32_t pid, uint64_t id)
{
	/* Task ids are per process: make them unique across processes. */
	PUTS(o, ",\"id\":\"");
	put_u64(o, pid);
	PUTS(o, ":");
	put_u64(o, id);
	PUTS(o, "\"");
}

/* name, ts and the span's args: shared by X, B and E. Complete (X) events go without a category
 * (it is optional, and a tenth of their bytes); B and E need it (DevTools pairs them by name and
 * category). */
static void span_body(struct rtc_chrome_fmt *f, struct out *o, const struct rtc_out *ev, uint64_t ts, bool cat)
{
	if (cat)
		PUTS(o, ",\"cat\":\"span\"");
	PUTS(o, ",\"name\":");
	put_str(o, ev->name, ev->name_len);
	PUTS(o, ",\"ts\":");
	put_ts(f, o, ts);
}

static void span_args(struct out *o, const struct rtc_out *ev)
{
	PUTS(o, ",\"args\":{\"task\":");
	put_u64(o, ev->task);
	PUTS(o, ",\"span\":");
	span_id(o, ev);
	/* Depth: readers of the file (ringtrace stats) compute self and busy time from it. */
	PUTS(o, ",\"depth\":");
	put_u64(o, ev->depth);
	flag_args(o, ev->flags);
	if (ev->flags & RTC_F_CPU) {
		PUTS(o, ",\"cpu_us\":");
		put_us(o, ev->cpu_ns);
		PUTS(o, ",\"cs_vol\":");
		put_u64(o, ev->ctx_voluntary);
		PUTS(o, ",\"cs_invol\":");
		put_u64(o, ev->ctx_involuntary);
	}
	PUTS(o, "}}");
}

/* A flow end: the zero-length slice it binds to (same ts, pid, tid, cat), then the flow event. */
static void flow(struct rtc_chrome_fmt *f, struct out *o, const struct rtc_out *ev)
{
	head(f, o, 'X', ev->pid, ev->tid);
	PUTS(o, ",\"cat\":\"flow\",\"name\":");
	put_str(o, ev->name, ev->name_len);
	PUTS(o, ",\"ts\":");
	put_ts(f, o, ev->ts);
	PUTS(o, ",\"dur\":0,\"args\":{\"task\":");
	put_u64(o, ev->task);
	PUTS(o, ",\"flow\":");
	put_u64(o, ev->id);
	PUTS(o, "}},\n");
	head(f, o, ev->count ? 'f' : 's', ev->pid, ev->tid);
	if (ev->count)
		PUTS(o, ",\"bp\":\"e\"");
	PUTS(o, ",\"cat\":\"flow\",\"name\":");
	put_str(o, ev->name, ev->name_len);
	PUTS(o, ",\"id\":");
	put_u64(o, ev->id);
	PUTS(o, ",\"ts\":");
	put_ts(f, o, ev->ts);
	PUTS(o, "}");
}

size_t rtc_chrome_fmt_event(struct rtc_chrome_fmt *f, const struct rtc_out *ev, char *buf)
{
	struct out o = { buf };

	switch (ev->kind) {
	case RTC_OUT_PROCESS:
		head(f, &o, 'M', ev->pid, 0);
		PUTS(&o, ",\"name\":\"process_name\",\"args\":{\"name\":");
		put_str(&o, ev->text, ev->text_len);
		PUTS(&o, "}}");
		break;
	case RTC_OUT_THREAD:
		head(f, &o, 'M', ev->pid, ev->tid);
		PUTS(&o, ",\"name\":\"thread_name\",\"args\":{\"name\":");
		put_str(&o, ev->text, ev->text_len);
		PUTS(&o, "}}");
		break;
	case RTC_OUT_SPAN:
		head(f, &o, 'X', ev->pid, ev->tid);
		span_body(f, &o, ev, ev->ts, false);
		PUTS(&o, ",\"dur\":");
		put_us(&o, ev->dur);
		span_args(&o, ev);
		break;
	case RTC_OUT_SPAN_OPEN:
		return 0; /* for streams that joined late: rtc_chrome_fmt_begin() */
	case RTC_OUT_TASK_BEGIN:
	case RTC_OUT_TASK_END:
		head(f, &o, ev->kind == RTC_OUT_TASK_BEGIN ? 'b' : 'e', ev->pid, ev->tid);
		PUTS(&o, ",\"cat\":\"task\",\"name\":");
		put_str(&o, ev->name, ev->name_len);
		task_id(&o, ev->pid, ev->id);
		PUTS(&o, ",\"ts\":");
		put_ts(f, &o, ev->ts);
		PUTS(&o, ",\"args\":{\"task\":");
		put_u64(&o, ev->id);
		if (ev->kind == RTC_OUT_TASK_BEGIN) {
			PUTS(&o, ",\"parent\":");
			put_u64(&o, ev->parent);
		}
		flag_args(&o, ev->flags);
		PUTS(&o, "}}");
		break;
	case RTC_OUT_LOG:
		head(f, &o, 'i', ev->pid, ev->tid);
		PUTS(&o, ",\"s\":\"t\",\"cat\":\"log\",\"name\":");
		put_str(&o, ev->name, ev->name_len);
		PUTS(&o, ",\"ts\":");
		put_ts(f, &o, ev->ts);
		PUTS(&o, ",\"args\":{\"message\":");
		put_str(&o, ev->text, ev->text_len);
		PUTS(&o, ",\"task\":");
		put_u64(&o, ev->task);
		if (ev->span_seq) {
			PUTS(&o, ",\"span\":");
			span_id(&o, ev);
		}
		if (ev->flags & 1)
			PUTS(&o, ",\"truncated\":true");
		PUTS(&o, "}}");
		break;
	case RTC_OUT_LOSS:
		head(f, &o, 'i', ev->pid, ev->tid);
		PUTS(&o, ",\"s\":\"t\",\"cat\":\"loss\",\"name\":\"records lost\",\"ts\":");
		put_ts(f, &o, ev->ts);
		PUTS(&o, ",\"args\":{\"count\":");
		put_u64(&o, ev->count);
		PUTS(&o, ",\"since\":");
		put_ts(f, &o, ev->since ? ev->since : ev->ts);
		PUTS(&o, ",\"reason\":");
		put_cstr(&o, ev->cat);
		PUTS(&o, "}}");
		break;
	case RTC_OUT_FLOW:
		flow(f, &o, ev);
		break;
	case RTC_OUT_UNTRACED:
		/* Process-wide (no thread): named for what is missing, not counted as records lost. */
		head(f, &o, 'i', ev->pid, ev->pid);
		PUTS(&o, ",\"s\":\"p\",\"cat\":\"loss\",\"name\":");
		put_cstr(&o, ev->cat);
		PUTS(&o, ",\"ts\":");
		put_ts(f, &o, ev->ts);
		PUTS(&o, ",\"args\":{\"count\":");
		put_u64(&o, ev->count);
		PUTS(&o, ",\"reason\":");
		put_cstr(&o, ev->cat);
		PUTS(&o, "}}");
		break;
	}
	return (size_t)(o.p - buf);
}

size_t rtc_chrome_fmt_begin(struct rtc_chrome_fmt *f, const struct rtc_out *ev, char *buf)
{
	struct out o = { buf };

	head(f, &o, 'B', ev->pid, ev->tid);
	span_body(f, &o, ev, ev->ts, true);
	span_args(&o, ev);
	return (size_t)(o.p - buf);
}

size_t rtc_chrome_fmt_end(struct rtc_chrome_fmt *f, const struct rtc_out *ev, char *buf)
{
	struct out o = { buf };

	/* name and cat are repeated on E: the DevTools engine needs both (ANCHORS.md section 7). */
	head(f, &o, 'E', ev->pid, ev->tid);
	span_body(f, &o, ev, ev->ts + ev->dur, true);
	span_args(&o, ev);
	return (size_t)(o.p - buf);
}
