/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON back to rebuilt events: the outer structure scanned byte by byte (any layout,
 * plain or gzip), each event parsed alone, self times rebuilt from depths, task durations from b/e. */
#include "chrome-read.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "stats/json.h"

#define CHUNK (1u << 20)
#define EVENT_MAX (16u << 20)
#define STR_CAP (3 * 65536 + 1) /* names as the writer cuts them, each invalid byte as U+FFFD */
#define DEPTH_MAX 4096          /* deeper spans: self = duration */
#define THREADS_MAX (1u << 20)
#define TASKS_MAX (1u << 20)

/* Per thread: the time spent in finished spans of each depth since their parent's last sibling ended. */
struct tacc {
	uint32_t pid, tid;
	uint32_t cap; /* 0: free slot */
	uint64_t *acc;
};

struct open_task {
	uint32_t pid;
	bool used;
	uint64_t id, ts;
};

struct event {
	char ph;
	char cat[64], reason[64];
	size_t name_len, text_len;
	uint64_t pid, tid, task, parent, depth, id, count, cs_vol, cs_invol;
	uint64_t thread_number, span_seq;
	double ts, dur, cpu_us, since;
	uint32_t flags;
	bool has_depth, has_dur, has_id, truncated;
};

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
	/* event parsing */
	char *name, *text;
	struct event ev;
	struct tacc *threads;
	size_t nthreads, threads_cap;
	struct open_task *tasks;
	size_t ntasks, tasks_cap;
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

static uint64_t hash2(uint64_t a, uint64_t b)
{
	uint64_t h = a * 0x9e3779b97f4a7c15ull ^ b * 0xbf58476d1ce4e5b9ull;

	h ^= h >> 31;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 29);
}

/* ---- per-thread depth accumulators ---- */

static struct tacc *thread_acc(struct reader *r, uint32_t pid, uint32_t tid)
{
	size_t mask, i;

	if (r->nthreads * 2 >= r->threads_cap) {
		size_t ncap = r->threads_cap ? 2 * r->threads_cap : 64;
		struct tacc *n;

		if (r->nthreads >= THREADS_MAX || !(n = calloc(ncap, sizeof(*n))))
			goto find_only;
		for (size_t k = 0; k < r->threads_cap; k++) {
			struct tacc *t = &r->threads[k];

			if (!t->cap)
				continue;
			for (i = hash2(t->pid, t->tid) & (ncap - 1); n[i].cap; i = (i + 1) & (ncap - 1))
				;
			n[i] = *t;
		}
		free(r->threads);
		r->threads = n;
		r->threads_cap = ncap;
	}
find_only:
	if (!r->threads_cap)
		return NULL;
	mask = r->threads_cap - 1;
	for (i = hash2(pid, tid) & mask; r->threads[i].cap; i = (i + 1) & mask)
		if (r->threads[i].pid == pid && r->threads[i].tid == tid)
			return &r->threads[i];
	if (r->nthreads * 2 >= r->threads_cap)
		return NULL; /* full: no more threads tracked */
	r->threads[i] = (struct tacc){ pid, tid, 8, calloc(8, sizeof(uint64_t)) };
	if (!r->threads[i].acc) {
		r->threads[i].cap = 0;
		return NULL;
	}
	r->nthreads++;
	return &r->threads[i];
}

/* Room for depth d + 1 in t's accumulators. */
static bool acc_room(struct tacc *t, uint64_t d)
{
	uint32_t ncap = t->cap;
	uint64_t *n;

	if (d + 1 < t->cap)
		return true;
	if (d + 1 >= DEPTH_MAX)
		return false;
	while (ncap <= d + 1)
		ncap *= 2;
	if (!(n = realloc(t->acc, ncap * sizeof(*n))))
		return false;
	memset(n + t->cap, 0, (ncap - t->cap) * sizeof(*n));
	t->acc = n;
	t->cap = ncap;
	return true;
}

/* The self time of a span that just ended at depth d on its thread (spans arrive as they ended). */
static uint64_t self_time(struct reader *r, uint32_t pid, uint32_t tid, uint64_t d, uint64_t dur)
{
	struct tacc *t = thread_acc(r, pid, tid);
	uint64_t children;

	if (!t || !acc_room(t, d))
		return dur;
	children = t->acc[d + 1];
	t->acc[d + 1] = 0;
	t->acc[d] = t->acc[d] + dur < t->acc[d] ? UINT64_MAX : t->acc[d] + dur;
	return dur > children ? dur - children : 0;
}

/* ---- open tasks: (pid, id) -> begin ts, open addressing with backward-shift deletion ---- */

static struct open_task *task_slot(struct reader *r, uint32_t pid, uint64_t id, bool add)
{
	size_t mask, i;

	if (add && r->ntasks * 2 >= r->tasks_cap) {
		size_t ncap = r->tasks_cap ? 2 * r->tasks_cap : 256;
		struct open_task *n;

		if (r->ntasks >= TASKS_MAX || !(n = calloc(ncap, sizeof(*n))))
			return NULL;
		for (size_t k = 0; k < r->tasks_cap; k++) {
			if (!r->tasks[k].used)
				continue;
			for (i = hash2(r->tasks[k].pid, r->tasks[k].id) & (ncap - 1); n[i].used; i = (i + 1) & (ncap - 1))
				;
			n[i] = r->tasks[k];
		}
		free(r->tasks);
		r->tasks = n;
		r->tasks_cap = ncap;
	}
	if (!r->tasks_cap)
		return NULL;
	mask = r->tasks_cap - 1;
	for (i = hash2(pid, id) & mask; r->tasks[i].used; i = (i + 1) & mask)
		if (r->tasks[i].pid == pid && r->tasks[i].id == id)
			return &r->tasks[i];
	if (!add)
		return NULL;
	r->tasks[i] = (struct open_task){ pid, true, id, 0 };
	r->ntasks++;
	return &r->tasks[i];
}

static void task_remove(struct reader *r, struct open_task *slot)
{
	size_t mask = r->tasks_cap - 1, i = (size_t)(slot - r->tasks), j = i;

	slot->used = false;
	r->ntasks--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!r->tasks[j].used)
			return;
		home = hash2(r->tasks[j].pid, r->tasks[j].id) & mask;
		/* Move j back into the hole at i unless its home lies cyclically in (i, j]. */
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
			r->tasks[i] = r->tasks[j];
			r->tasks[j].used = false;
			i = j;
		}
	}
}

/* ---- one event ---- */

static uint64_t us_to_ns(double us)
{
	double ns = us * 1000.0;

	if (!(ns > 0))
		return 0;
	return ns >= 1.8e19 ? UINT64_MAX : (uint64_t)llround(ns);
}

static int read_string(struct rtc_json *j, char *buf, size_t cap, size_t *len)
{
	return rtc_json_string(j, buf, cap, len);
}

/* A small string (truncated into buf if longer is an error of the event). */
static int read_small(struct rtc_json *j, char *buf, size_t cap)
{
	size_t len;

	return rtc_json_string(j, buf, cap, &len);
}

static const struct {
	const char *key;
	uint32_t flag;
} flag_args[] = {
	{ "incomplete", RTC_F_INCOMPLETE },     { "repaired", RTC_F_REPAIRED },
	{ "before_attach", RTC_F_BEFORE_ATTACH }, { "begin_unknown", RTC_F_BEGIN_UNKNOWN },
	{ "begin_coarse", RTC_F_COARSE_BEGIN },   { "end_lost", RTC_F_LOST_END },
	{ "thread_exited", RTC_F_THREAD_EXIT },
};

static int read_args(struct reader *r, struct rtc_json *j, struct event *e)
{
	char key[40];
	int more;

	if (rtc_json_object_begin(j))
		return -EPROTO;
	while ((more = rtc_json_object_next(j, key, sizeof(key))) == 1) {
		int rc = 0;
		bool b = false;

		if (!strcmp(key, "task"))
			rc = rtc_json_u64(j, &e->task);
		else if (!strcmp(key, "parent"))
			rc = rtc_json_u64(j, &e->parent);
		else if (!strcmp(key, "depth"))
			rc = rtc_json_u64(j, &e->depth), e->has_depth = true;
		else if (!strcmp(key, "cpu_us"))
			rc = rtc_json_double(j, &e->cpu_us), e->flags |= RTC_F_CPU;
		else if (!strcmp(key, "cs_vol"))
			rc = rtc_json_u64(j, &e->cs_vol);
		else if (!strcmp(key, "cs_invol"))
			rc = rtc_json_u64(j, &e->cs_invol);
		else if (!strcmp(key, "count"))
			rc = rtc_json_u64(j, &e->count);
		else if (!strcmp(key, "since"))
			rc = rtc_json_double(j, &e->since);
		else if (!strcmp(key, "reason"))
			rc = read_small(j, e->reason, sizeof(e->reason));
		else if (!strcmp(key, "name") || !strcmp(key, "message"))
			rc = read_string(j, r->text, STR_CAP, &e->text_len);
		else if (!strcmp(key, "span") && rtc_json_peek(j) == RTC_JSON_STRING) {
			char id[48];
			unsigned long long a = 0, s = 0;

			rc = read_small(j, id, sizeof(id));
			if (!rc && sscanf(id, "%llu-%llu", &a, &s) == 2) {
				e->thread_number = a;
				e->span_seq = s;
			}
		} else if (!strcmp(key, "truncated")) {
			rc = rtc_json_bool(j, &e->truncated);
		} else {
			size_t k;

			for (k = 0; k < sizeof(flag_args) / sizeof(flag_args[0]); k++)
				if (!strcmp(key, flag_args[k].key))
					break;
			if (k < sizeof(flag_args) / sizeof(flag_args[0])) {
				rc = rtc_json_bool(j, &b);
				if (b)
					e->flags |= flag_args[k].flag;
			} else {
				rc = rtc_json_skip(j);
			}
		}
		if (rc)
			return -EPROTO;
	}
	return more ? -EPROTO : 0;
}

/* "id": a number (flows) or "pid:id" (tasks). */
static int read_id(struct rtc_json *j, struct event *e)
{
	char buf[48], *colon;

	if (rtc_json_peek(j) == RTC_JSON_NUMBER) {
		e->has_id = true;
		return rtc_json_u64(j, &e->id);
	}
	if (read_small(j, buf, sizeof(buf)))
		return -EPROTO;
	colon = strchr(buf, ':');
	e->id = strtoull(colon ? colon + 1 : buf, NULL, 10);
	e->has_id = true;
	return 0;
}

static int parse_event(struct reader *r, struct rtc_json *j, struct event *e)
{
	char key[40], ph[8];
	int more, rc;

	memset(e, 0, sizeof(*e));
	if (rtc_json_object_begin(j))
		return -EPROTO;
	while ((more = rtc_json_object_next(j, key, sizeof(key))) == 1) {
		if (!strcmp(key, "ph")) {
			rc = read_small(j, ph, sizeof(ph));
			e->ph = rc ? 0 : ph[0];
		} else if (!strcmp(key, "cat")) {
			rc = read_small(j, e->cat, sizeof(e->cat));
		} else if (!strcmp(key, "name")) {
			rc = read_string(j, r->name, STR_CAP, &e->name_len);
		} else if (!strcmp(key, "pid")) {
			rc = rtc_json_u64(j, &e->pid);
		} else if (!strcmp(key, "tid")) {
			rc = rtc_json_u64(j, &e->tid);
		} else if (!strcmp(key, "ts")) {
			rc = rtc_json_double(j, &e->ts);
		} else if (!strcmp(key, "dur")) {
			rc = rtc_json_double(j, &e->dur);
			e->has_dur = true;
		} else if (!strcmp(key, "id")) {
			rc = read_id(j, e);
		} else if (!strcmp(key, "args") && rtc_json_peek(j) == RTC_JSON_OBJECT) {
			rc = read_args(r, j, e);
		} else {
			rc = rtc_json_skip(j);
		}
		if (rc)
			return -EPROTO;
	}
	if (more || e->pid > UINT32_MAX || e->tid > UINT32_MAX)
		return -EPROTO;
	return 0;
}

/* The event as a rebuilt one; false when it is not one that becomes an event. */
static bool convert(struct reader *r, const struct event *e, struct rtc_out *o)
{
	memset(o, 0, sizeof(*o));
	o->pid = (uint32_t)e->pid;
	o->tid = (uint32_t)e->tid;
	o->ts = us_to_ns(e->ts);
	o->name = r->name;
	o->name_len = (uint32_t)e->name_len;
	o->text = r->text;
	o->text_len = (uint32_t)e->text_len;
	o->task = e->task;
	o->flags = e->flags;
	o->thread_number = e->thread_number;
	o->span_seq = e->span_seq;
	switch (e->ph) {
	case 'M':
		if (e->name_len == 12 && !memcmp(r->name, "process_name", 12))
			o->kind = RTC_OUT_PROCESS;
		else if (e->name_len == 11 && !memcmp(r->name, "thread_name", 11))
			o->kind = RTC_OUT_THREAD;
		else
			return false;
		return true;
	case 'X':
		/* Spans carry cat "span" or none (the writer leaves it out of X events). */
		if ((e->cat[0] && strcmp(e->cat, "span")) || !e->has_dur || e->depth > UINT32_MAX)
			return false;
		o->kind = RTC_OUT_SPAN;
		o->dur = us_to_ns(e->dur);
		o->depth = (uint32_t)e->depth;
		if (e->has_depth) {
			o->self_ns = self_time(r, o->pid, o->tid, e->depth, o->dur);
		} else {
			o->self_ns = o->dur;
			r->c->no_depth++;
		}
		if (e->flags & RTC_F_CPU) {
			o->cpu_ns = us_to_ns(e->cpu_us);
			o->ctx_voluntary = e->cs_vol > UINT32_MAX ? UINT32_MAX : (uint32_t)e->cs_vol;
			o->ctx_involuntary = e->cs_invol > UINT32_MAX ? UINT32_MAX : (uint32_t)e->cs_invol;
		}
		return true;
	case 'b':
	case 'e': {
		struct open_task *t;

		if (strcmp(e->cat, "task") || !e->has_id)
			return false;
		o->id = e->task ? e->task : e->id;
		o->parent = e->parent;
		if (e->ph == 'b') {
			o->kind = RTC_OUT_TASK_BEGIN;
			if ((t = task_slot(r, o->pid, o->id, true)) != NULL)
				t->ts = o->ts;
			return true;
		}
		o->kind = RTC_OUT_TASK_END;
		if ((t = task_slot(r, o->pid, o->id, false)) != NULL) {
			o->dur = o->ts > t->ts ? o->ts - t->ts : 0;
			task_remove(r, t);
		}
		return true;
	}
	case 'i':
		if (!strcmp(e->cat, "log")) {
			o->kind = RTC_OUT_LOG;
			o->flags = e->truncated ? 1 : 0;
			return true;
		}
		if (!strcmp(e->cat, "loss")) {
			o->kind = RTC_OUT_LOSS;
			o->count = e->count;
			o->since = us_to_ns(e->since);
			o->cat = e->reason;
			return true;
		}
		return false;
	case 's':
	case 'f':
		if (strcmp(e->cat, "flow") || !e->has_id)
			return false;
		o->kind = RTC_OUT_FLOW;
		o->count = e->ph == 'f';
		o->id = e->id;
		o->cat = "flow";
		return true;
	default:
		return false;
	}
}

static void on_event_object(struct reader *r)
{
	struct rtc_json j;
	struct rtc_out o;

	r->c->events++;
	rtc_json_init(&j, r->obj, r->obj_len);
	if (parse_event(r, &j, &r->ev) || rtc_json_finish(&j)) {
		r->c->skipped++;
		return;
	}
	if (r->ev.ph == 'X' && !strcmp(r->ev.cat, "flow"))
		return; /* the slice a flow end binds to: the flow itself is the "f" */
	if (!convert(r, &r->ev, &o)) {
		r->c->skipped++;
		return;
	}
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
			read_small(&j, r->clock, sizeof(r->clock));
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
	r.name = malloc(STR_CAP);
	r.text = malloc(STR_CAP);
	if (!chunk || !r.name || !r.text) {
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
	for (size_t i = 0; i < r.threads_cap; i++)
		free(r.threads[i].acc);
	free(r.threads);
	free(r.tasks);
	free(r.obj);
	free(r.name);
	free(r.text);
	free(chunk);
	return r.rc;
}
