/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON back to rebuilt events: the outer structure scanned byte by byte (any layout,
 * plain or gzip), each event parsed alone, self times rebuilt from depths, task durations from b/e. */
#include "chrome-read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "chrome-read-event.h"
#include "stats/json.h"

#define CHUNK (1u << 20)
#define EVENT_MAX (16u << 20)

struct reader {
	gzFile gz;
	const struct rtc_sink *sink;
	struct rtc_chrome_read_counts *c;
	char *err;
	size_t err_len;
	int rc;
	/* outer scanner */
	int depth;
	bool in_str, esc, started, done, top_array, in_events;
	int events_depth;
	char key[32];
	size_t key_len;
	bool key_tracking;
	/* the object being captured (an event, or otherData) */
	char *obj;
	size_t obj_len, obj_cap;
	int cap_depth; /* -1: not capturing */
	bool cap_other;
	struct rtc_chrome_events *events; /* event parsing (chrome-read-event.h) */
	struct rtc_summary summary;
	char clock[32];
};

static int bad(struct reader *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct reader *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (r->rc)
		return r->rc;
	r->rc = rc;
	if (r->err && r->err_len) {
		va_start(ap, fmt);
		vsnprintf(r->err, r->err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void on_event_object(struct reader *r)
{
	struct rtc_out o;
	int rc;

	r->c->events++;
	rc = rtc__chrome_event(r->events, r->obj, r->obj_len, &o);
	if (rc < 0) {
		r->c->skipped++;
		return;
	}
	if (rc == 0)
		return;
	r->c->used++;
	if (r->sink->ops->event)
		r->sink->ops->event(r->sink->ctx, &o);
}

/* otherData: the counts the writer put there, as the summary. */
static void on_other_object(struct reader *r)
{
	static const struct {
		const char *key;
		size_t off;
	} map[] = {
#define M(k, f) { k, offsetof(struct rtc_summary, f) }
		M("processes", processes), M("threads", threads), M("records", records), M("lost_records", lost),
		M("spans", spans), M("spans_incomplete", spans_incomplete), M("spans_repaired", spans_repaired),
		M("spans_before_attach", spans_before_attach), M("spans_begin_unknown", spans_begin_unknown),
		M("unmatched_ends", unmatched_ends), M("tasks", tasks), M("tasks_incomplete", tasks_incomplete),
		M("tasks_begin_unknown", tasks_begin_unknown), M("logs", logs), M("flows", flows), M("misuse", misuse),
		M("late_records", late_records), M("recording_gaps", gaps), M("backlog_peak_bytes", backlog_peak),
		M("coarse_resolution_ns", coarse_resolution_ns),
#undef M
	};
	struct rtc_json j;
	char key[64];
	uint64_t v, dur_us = 0, attach_us = 0;
	int more;

	rtc_json_init(&j, r->obj, r->obj_len);
	if (rtc_json_object_begin(&j))
		return;
	while ((more = rtc_json_object_next(&j, key, sizeof(key))) == 1) {
		size_t k;

		for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
			if (!strcmp(key, map[k].key))
				break;
		if (k < sizeof(map) / sizeof(map[0]) && rtc_json_peek(&j) == RTC_JSON_NUMBER && !rtc_json_u64(&j, &v))
			memcpy((char *)&r->summary + map[k].off, &v, sizeof(v));
		else if (!strcmp(key, "duration_us") && rtc_json_peek(&j) == RTC_JSON_NUMBER)
			rtc_json_u64(&j, &dur_us);
		else if (!strcmp(key, "attach_us") && rtc_json_peek(&j) == RTC_JSON_NUMBER)
			rtc_json_u64(&j, &attach_us);
		else if (!strcmp(key, "clock") && rtc_json_peek(&j) == RTC_JSON_STRING)
			rtc_json_string(&j, r->clock, sizeof(r->clock), &(size_t){ 0 });
		else
			rtc_json_skip(&j);
		if (j.err)
			return;
	}
	r->summary.start_ns = attach_us * 1000;
	r->summary.end_ns = (attach_us + dur_us) * 1000;
	if (r->clock[0])
		r->summary.clock = r->clock;
}

/* ---- the outer scanner ---- */

static void capture_start(struct reader *r, bool other)
{
	r->obj_len = 0;
	r->cap_depth = r->depth;
	r->cap_other = other;
}

static bool capture(struct reader *r, const char *p, size_t n)
{
	if (r->obj_len + n > r->obj_cap) {
		size_t ncap = r->obj_cap ? r->obj_cap : 4096;
		char *b;

		while (ncap < r->obj_len + n)
			ncap *= 2;
		if (ncap > EVENT_MAX) {
			bad(r, -E2BIG, "an event of more than %u MiB", EVENT_MAX >> 20);
			return false;
		}
		if (!(b = realloc(r->obj, ncap))) {
			bad(r, -ENOMEM, "out of memory");
			return false;
		}
		r->obj = b;
		r->obj_cap = ncap;
	}
	memcpy(r->obj + r->obj_len, p, n);
	r->obj_len += n;
	return true;
}

static void open_container(struct reader *r, char c)
{
	if (r->depth == 0) {
		r->top_array = c == '[';
		r->in_events = r->top_array;
		r->events_depth = 1;
	} else if (r->cap_depth < 0) {
		if (c == '{' && r->in_events && r->depth == r->events_depth)
			capture_start(r, false);
		else if (r->depth == 1 && !r->top_array && c == '[' && r->key_len == 11 &&
			 !memcmp(r->key, "traceEvents", 11)) {
			r->in_events = true;
			r->events_depth = 2;
		} else if (r->depth == 1 && !r->top_array && c == '{' && r->key_len == 9 && !memcmp(r->key, "otherData", 9))
			capture_start(r, true);
	}
	r->depth++;
}

static void close_container(struct reader *r, char c)
{
	if (--r->depth < 0) {
		bad(r, -EPROTO, "unbalanced '%c' at byte %llu", c, (unsigned long long)r->c->bytes);
		return;
	}
	if (r->cap_depth >= 0 && r->depth == r->cap_depth) {
		if (r->cap_other)
			on_other_object(r);
		else
			on_event_object(r);
		r->cap_depth = -1;
	}
	if (c == ']' && r->in_events && r->depth == r->events_depth - 1)
		r->in_events = false;
	if (r->depth == 0)
		r->done = true;
}

static void scan(struct reader *r, const char *buf, size_t n)
{
	size_t from = 0; /* start of the bytes not yet captured */

	for (size_t i = 0; i < n && !r->rc; i++) {
		char c = buf[i];

		if (r->in_str) {
			if (r->esc)
				r->esc = false;
			else if (c == '\\')
				r->esc = true;
			else if (c == '"')
				r->in_str = false;
			else if (r->key_tracking && r->key_len < sizeof(r->key))
				r->key[r->key_len++] = c;
			continue;
		}
		switch (c) {
		case ' ': case '\t': case '\n': case '\r':
			break;
		case '"':
			if (r->done)
				goto trailing;
			r->in_str = true;
			r->key_tracking = r->depth == 1 && !r->top_array;
			if (r->key_tracking)
				r->key_len = 0;
			break;
		case '{':
		case '[':
			if (r->done)
				goto trailing;
			r->started = true;
			if (r->cap_depth < 0) {
				open_container(r, c);
				if (r->cap_depth >= 0)
					from = i; /* a capture starts with this brace */
			} else {
				r->depth++;
			}
			break;
		case '}':
		case ']':
			if (r->cap_depth >= 0 && r->depth - 1 == r->cap_depth) {
				if (!capture(r, buf + from, i + 1 - from))
					return;
				from = n;
			}
			close_container(r, c);
			break;
		default:
			if (!r->started) {
				bad(r, -EPROTO, "not a trace-event JSON file (no object or array at the start)");
				return;
			}
			if (r->done)
				goto trailing;
			break;
		}
		continue;
trailing:
		bad(r, -EPROTO, "data after the end of the JSON at byte %llu", (unsigned long long)(r->c->bytes + i));
		return;
	}
	if (r->cap_depth >= 0 && from < n)
		capture(r, buf + from, n - from);
}

int rtc_chrome_read(const char *path, const struct rtc_sink *sink, struct rtc_chrome_read_counts *counts,
		    char *err, size_t err_len)
{
	struct rtc_chrome_read_counts local;
	struct reader r = { .sink = sink, .err = err, .err_len = err_len, .cap_depth = -1 };
	struct rtc_trace_info info = { .clock = NULL, .live = false };
	char *chunk = NULL;
	int fd, rc;

	if (err && err_len)
		err[0] = 0;
	r.c = counts ? counts : &local;
	memset(r.c, 0, sizeof(*r.c));
	fd = strcmp(path, "-") ? -1 : dup(0);
	r.gz = fd >= 0 ? gzdopen(fd, "rb") : gzopen(path, "rb");
	if (!r.gz) {
		rc = errno ? -errno : -ENOMEM;
		if (fd >= 0)
			close(fd);
		return bad(&r, rc, "%s", strerror(-rc));
	}
	gzbuffer(r.gz, 256u << 10);
	chunk = malloc(CHUNK);
	r.events = rtc__chrome_events_create();
	if (!chunk || !r.events) {
		bad(&r, -ENOMEM, "out of memory");
		goto out;
	}
	if (sink->ops->begin)
		sink->ops->begin(sink->ctx, &info);
	for (;;) {
		int n = gzread(r.gz, chunk, CHUNK);

		if (n < 0) {
			int zerr;
			const char *msg = gzerror(r.gz, &zerr);

			bad(&r, zerr == Z_ERRNO ? -errno : -EPROTO, "%s", zerr == Z_ERRNO ? strerror(errno) : msg);
			break;
		}
		if (n == 0)
			break;
		scan(&r, chunk, (size_t)n);
		r.c->bytes += (uint64_t)n;
		if (r.rc)
			break;
	}
	if (!r.rc && (!r.started || r.depth != 0))
		bad(&r, -EPROTO, r.started ? "truncated: the JSON ends inside %s" : "empty: %s",
		    r.started ? "an object or array" : "no JSON");
	if (sink->ops->end)
		sink->ops->end(sink->ctx, &r.summary);
out:
	gzclose(r.gz);
	if (r.events)
		r.c->no_depth = rtc__chrome_events_no_depth(r.events);
	rtc__chrome_events_destroy(r.events);
	free(r.obj);
	free(chunk);
	return r.rc;
}
