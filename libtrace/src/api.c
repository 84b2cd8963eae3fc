/* SPDX-License-Identifier: MIT */
/* The producer API but spans (span.c): names, tasks, logs, contexts, inherited threads, ID stacks.
 * Every record path is: busy flag (record-guard.h), timestamp, reserve, encode, commit. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringtrace/ringtrace.h>

#include "clock.h"
#include "cpu-stats.h"
#include "encode.h"
#include "idle-clock.h"
#include "names.h"
#include "record-guard.h"
#include "task.h"
#include "thread.h"

#define LOG_MESSAGE_MAX 1024

static uint32_t intern(struct rt__thread *t, const char *name)
{
	bool truncated;
	uint32_t id;

	if (!rt__process_ensure())
		return RT_NAME_ID_NULL;
	id = rt__names_intern(rt__proc.ctl, name, &truncated);
	if (t && !t->busy && (truncated || !name)) {
		t->busy = 1;
		rt__thread_emit_misuse(t, name ? RT_MISUSE_NAME_TRUNCATED : RT_MISUSE_NULL_NAME, id);
		t->busy = 0;
	}
	return id;
}

uint32_t rt_name_intern(const char *name)
{
	return intern(rt__thread_peek(), name);
}

uint32_t rt__name_site(uint32_t *site, const char *name)
{
	uint32_t id = intern(rt__thread_peek(), name);

	/* Relaxed: the cache holds a value, not a pointer to data; racing sites store the same id.
	 * Nothing is cached while the library is inert: it may come alive later. */
	if (id != RT_NAME_ID_OVERFLOW && rt__proc.ctl)
		__atomic_store_n(site, id + 1, __ATOMIC_RELAXED);
	return id;
}

/* ---- Tasks ---- */

static void write_task_begin(struct rt__thread *t, uint64_t id, uint64_t parent, uint32_t name_id)
{
	struct rt_rec_task_begin rec = { .task_id = id, .parent_id = parent, .name_id = name_id };
	uint64_t ts;
	uint8_t *p;

	if (rt__active_now() != RT_SHM_ACTIVE_ON)
		return;
	ts = rt__now();
	p = rt__thread_reserve(t, RT_REC_MAX_task_begin, ts);
	if (!p) {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
		return;
	}
	rt__ring_commit(&t->w, rt_rec_put_task_begin(p, rt__ring_delta(&t->w, ts), &rec));
}

static void write_task_end(struct rt__thread *t, uint64_t id, uint64_t after)
{
	struct rt_rec_task_end rec = { .task_id = id, .current_task_after = after };
	uint64_t ts;
	uint8_t *p;

	if (rt__active_now() != RT_SHM_ACTIVE_ON)
		return;
	ts = rt__now();
	p = rt__thread_reserve(t, RT_REC_MAX_task_end, ts);
	if (!p) {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
		return;
	}
	rt__ring_commit(&t->w, rt_rec_put_task_end(p, rt__ring_delta(&t->w, ts), &rec));
}

struct rt_task rt__task_begin_id(uint32_t name_id)
{
	struct rt__thread *t = rt__thread_self();
	uint64_t parent = t ? rt__tasks_live_ancestor(t->task) : 0;
	struct rt_task task = { rt__tasks_add(parent, name_id) };

	if (!t)
		return task;
	if (!record_enter(t)) {
		/* From a handler that interrupted a record: the task exists, unrecorded. */
		record_nested_drop(t);
		return task;
	}
	write_task_begin(t, task.id, parent, name_id);
	rt__thread_set_task(t, task.id);
	record_leave(t);
	return task;
}

struct rt_task (rt_task_begin)(const char *name)
{
	return rt__task_begin_id(intern(rt__thread_peek(), name));
}

void rt_task_end(struct rt_task task)
{
	struct rt__thread *t = rt__thread_self();
	enum rt__task_end_result res = rt__tasks_end(task.id);
	struct rt__task_info info;

	if (!t)
		return;
	if (!record_enter(t)) {
		record_nested_drop(t);
		return;
	}
	if (res == RT_TASK_ALREADY_ENDED || res == RT_TASK_UNKNOWN) {
		rt__thread_emit_misuse(t, res == RT_TASK_UNKNOWN ? RT_MISUSE_TASK_END_UNKNOWN : RT_MISUSE_TASK_END_TWICE,
				       task.id);
		record_leave(t);
		return;
	}
	{
		uint64_t after = t->task;

		if (t->task == task.id)
			after = rt__tasks_live_ancestor(rt__tasks_get(task.id, &info) ? info.parent : 0);
		write_task_end(t, task.id, after);
		if (after != t->task)
			rt__thread_set_task(t, after);
	}
	record_leave(t);
}

struct rt_task rt_task_current(void)
{
	struct rt__thread *t = rt__thread_peek();
	struct rt_task task = { t ? t->task : 0 };

	return task;
}

/* ---- Logs ---- */

void rt__log_id(uint32_t category_id, const char *fmt, ...)
{
	struct rt__thread *t = rt__thread_self();
	char msg[LOG_MESSAGE_MAX + 1];
	uint32_t flags = 0;
	va_list ap;
	uint64_t ts;
	uint8_t *p, *q;
	int n;

	if (!t || rt__active_now() != RT_SHM_ACTIVE_ON)
		return;
	if (!record_enter(t)) {
		record_nested_drop(t);
		return;
	}
	ts = rt__now();
	/* Reserve first so that a full ring costs no formatting. */
	p = rt__thread_reserve(t, RT_REC_MAX_log + LOG_MESSAGE_MAX, ts);
	if (!p) {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
		record_leave(t);
		return;
	}
	va_start(ap, fmt);
	n = fmt ? vsnprintf(msg, sizeof(msg), fmt, ap) : snprintf(msg, sizeof(msg), "<null>");
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > LOG_MESSAGE_MAX) {
		n = LOG_MESSAGE_MAX;
		flags |= RT_LOG_TRUNCATED;
	}
	{
		struct rt_rec_log rec = { .category_id = category_id, .message = { msg, (uint32_t)n }, .flags = flags };

		q = rt_rec_put_log(p, rt__ring_delta(&t->w, ts), &rec);
	}
	rt__ring_commit(&t->w, q);
	record_leave(t);
}

void (rt_log)(const char *category, const char *fmt, ...)
{
	char msg[LOG_MESSAGE_MAX + 2];
	va_list ap;

	if (!rt__on())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt ? fmt : "<null>", ap);
	va_end(ap);
	rt__log_id(intern(rt__thread_peek(), category), "%s", msg);
}

/* ---- Contexts ---- */

static uint64_t top_span_seq(struct rt__thread *t)
{
	struct rt_shm_ring *r = t->ring;

	/* Read once and bounded: the depth is in shared memory, which any process of the user can
	 * write (this thread keeps it at most RT_SHM_STACK_MAX). Relaxed: only this thread stores it. */
	uint32_t sd = __atomic_load_n(&r->stack_depth, __ATOMIC_RELAXED);

	return sd && sd <= RT_SHM_STACK_MAX ? r->stack[sd - 1].span_seq : 0;
}

struct rt_context rt_context_current(void)
{
	struct rt__thread *t = rt__thread_self();
	struct rt_context ctx = { 0, 0, 0 };

	if (!t)
		return ctx;
	ctx.task_id = t->task;
	ctx.thread_number = t->thread_number;
	ctx.span_seq = top_span_seq(t);
	/* Recorded so that the consumer can start the hand-off's flow where it was captured. */
	if (rt__active_now() == RT_SHM_ACTIVE_ON && record_enter(t)) {
		uint64_t ts = rt__now();
		uint8_t *p = rt__thread_reserve(t, RT_REC_MAX_context, ts);

		if (p) {
			struct rt_rec_context rec = { .task_id = ctx.task_id, .span_seq = ctx.span_seq };

			rt__ring_commit(&t->w, rt_rec_put_context(p, rt__ring_delta(&t->w, ts), &rec));
		} else {
			rt__thread_lost(t, ts, RT_LOSS_FULL);
		}
		record_leave(t);
	}
	return ctx;
}

static struct rt_context adopt(struct rt_context ctx, uint32_t how)
{
	struct rt__thread *t = rt__thread_self();
	struct rt_context prev = { 0, 0, 0 };
	uint64_t ts;
	uint8_t *p, *q;

	if (!t)
		return prev;
	prev.task_id = t->task;
	prev.thread_number = t->thread_number;
	prev.span_seq = top_span_seq(t);
	if (!record_enter(t)) {
		record_nested_drop(t);
		return prev;
	}
	if (how == RT_ADOPT_CONTEXT && ctx.thread_number == t->thread_number)
		how = RT_ADOPT_RESTORE;
	if (rt__active_now() == RT_SHM_ACTIVE_ON) {
		ts = rt__now();
		p = rt__thread_reserve(t, RT_REC_MAX_adopt, ts);
		if (p) {
			struct rt_rec_adopt rec = { .task_id = ctx.task_id, .from_thread = ctx.thread_number,
						    .from_span_seq = ctx.span_seq, .how = how };

			q = rt_rec_put_adopt(p, rt__ring_delta(&t->w, ts), &rec);
			rt__ring_commit(&t->w, q);
		} else {
			rt__thread_lost(t, ts, RT_LOSS_FULL);
		}
	}
	rt__thread_set_task(t, ctx.task_id);
	record_leave(t);
	return prev;
}

struct rt_context rt_context_adopt(struct rt_context ctx)
{
	return adopt(ctx, RT_ADOPT_CONTEXT);
}

struct thread_start {
	void *(*start)(void *);
	void *arg;
	struct rt_context ctx;
};

static void *thread_trampoline(void *p)
{
	struct thread_start ts = *(struct thread_start *)p;

	free(p);
	if (ts.ctx.task_id != 0 || ts.ctx.span_seq != 0)
		adopt(ts.ctx, RT_ADOPT_INHERIT);
	return ts.start(ts.arg);
}

int rt_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
	struct thread_start *ts = malloc(sizeof(*ts));
	int err;

	if (!ts)
		return ENOMEM;
	ts->start = start;
	ts->arg = arg;
	ts->ctx = rt_context_current();
	err = pthread_create(thread, attr, thread_trampoline, ts);
	if (err)
		free(ts);
	return err;
}

/* ---- ID stack ---- */

struct out {
	char *buf;
	size_t len;
	size_t n;
};

static void put(struct out *o, const char *s)
{
	for (; *s; s++, o->n++)
		if (o->n + 1 < o->len)
			o->buf[o->n] = *s;
}

static void put_u64(struct out *o, uint64_t v)
{
	char tmp[24];
	int i = (int)sizeof(tmp) - 1;

	tmp[i] = 0;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, &tmp[i]);
}

int rt_id_stack(char *buf, size_t len)
{
	struct rt__thread *t = rt__thread_peek();
	struct out o = { buf, len, 0 };
	uint64_t chain[64];
	int depth = 0;
	struct rt__task_info info;

	if (!buf && len > 0)
		return -EINVAL;
	if (t) {
		for (uint64_t id = t->task; id != 0 && depth < 64; id = info.parent) {
			chain[depth++] = id & ~RT_TASK_UNSLOTTED;
			if (!rt__tasks_get(id, &info))
				break;
		}
	}
	if (depth == 0)
		put(&o, "0");
	for (int i = depth - 1; i >= 0; i--) {
		put_u64(&o, chain[i]);
		if (i > 0)
			put(&o, "$");
	}
	if (t) {
		struct rt_shm_ring *r = t->ring;
		uint32_t sd = r->stack_depth < RT_SHM_STACK_MAX ? r->stack_depth : RT_SHM_STACK_MAX;

		for (uint32_t i = 0; i < sd; i++) {
			put(&o, ".");
			put_u64(&o, t->thread_number);
			put(&o, "-");
			put_u64(&o, r->stack[i].span_seq);
		}
	}
	if (len > 0)
		buf[o.n < len ? o.n : len - 1] = 0;
	return (int)o.n;
}

/* ---- Versions and errors ---- */

int rt_check_library_version(int major, int minor, int micro)
{
	(void)micro;
	if (major != RT_VERSION_MAJOR || minor > RT_VERSION_MINOR)
		return -RT_EABI;
	return 0;
}

const char *rt_library_version(void)
{
	return RT_VERSION_STRING;
}
