/* SPDX-License-Identifier: MIT */
/* One Chrome trace event (a JSON object, untrusted) as a rebuilt event: parsed with the bounded reader,
 * self times from the per-thread depth accumulators, task durations from the open tasks. */
#include "chrome-read-event.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/json.h"

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

struct rtc_chrome_events {
	char *name, *text;
	struct event ev;
	struct tacc *threads;
	size_t nthreads, threads_cap;
	struct open_task *tasks;
	size_t ntasks, tasks_cap;
	uint64_t no_depth;
};

static uint64_t hash2(uint64_t a, uint64_t b)
{
	uint64_t h = a * 0x9e3779b97f4a7c15ull ^ b * 0xbf58476d1ce4e5b9ull;

	h ^= h >> 31;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 29);
}

/* ---- per-thread depth accumulators ---- */

static struct tacc *thread_acc(struct rtc_chrome_events *r, uint32_t pid, uint32_t tid)
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
static uint64_t self_time(struct rtc_chrome_events *r, uint32_t pid, uint32_t tid, uint64_t d, uint64_t dur)
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

static struct open_task *task_slot(struct rtc_chrome_events *r, uint32_t pid, uint64_t id, bool add)
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

static void task_remove(struct rtc_chrome_events *r, struct open_task *slot)
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

static int read_args(struct rtc_chrome_events *r, struct rtc_json *j, struct event *e)
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

static int parse_event(struct rtc_chrome_events *r, struct rtc_json *j, struct event *e)
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
static bool convert(struct rtc_chrome_events *r, const struct event *e, struct rtc_out *o)
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
			r->no_depth++;
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
		/* Records lost on a thread; the producer's process-wide counts of what it could not
		 * trace are only the summary's (they are in otherData too). */
		if (!strcmp(e->cat, "loss") && e->name_len == 12 && !memcmp(o->name, "records lost", 12)) {
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

struct rtc_chrome_events *rtc__chrome_events_create(void)
{
	struct rtc_chrome_events *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->name = malloc(STR_CAP);
	x->text = malloc(STR_CAP);
	if (!x->name || !x->text) {
		rtc__chrome_events_destroy(x);
		return NULL;
	}
	return x;
}

void rtc__chrome_events_destroy(struct rtc_chrome_events *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->threads_cap; i++)
		free(x->threads[i].acc);
	free(x->threads);
	free(x->tasks);
	free(x->name);
	free(x->text);
	free(x);
}

int rtc__chrome_event(struct rtc_chrome_events *x, const char *obj, size_t len, struct rtc_out *o)
{
	struct rtc_json j;

	rtc_json_init(&j, obj, len);
	if (parse_event(x, &j, &x->ev) || rtc_json_finish(&j))
		return -1;
	if (x->ev.ph == 'X' && !strcmp(x->ev.cat, "flow"))
		return 0; /* the slice a flow end binds to: the flow itself is the "f" */
	return convert(x, &x->ev, o) ? 1 : -1;
}

uint64_t rtc__chrome_events_no_depth(const struct rtc_chrome_events *x)
{
	return x->no_depth;
}
