/* SPDX-License-Identifier: MIT */
/* The subscriber list: owned by the processing thread, changed through a mutex-protected request
 * queue that the processing thread applies at its sync points. */
#include "pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sub {
	int64_t id;
	struct rtc_sink sink;
};

struct request {
	struct request *next;
	int64_t id;
	struct rtc_sink sink; /* add */
	unsigned flags;
	bool remove;
	bool waiter; /* someone waits for done/result */
	bool done;
	int result;
};

struct rtc_pipeline {
	pthread_mutex_t lock; /* guards everything down to `closed` */
	pthread_cond_t cond;
	struct request *head, **tail;
	int64_t next_id;
	bool begun, ended, closed;
	bool have_thread;
	pthread_t processing;
	/* Release when a request is queued, acquire at sync: tells the processing thread to look
	 * (the requests themselves are handed over under the lock). */
	_Atomic int dirty;

	/* Processing thread only. */
	struct sub *subs;
	size_t nsubs, cap;
	struct rtc_trace_info info;
	char *info_clock, *info_host, *info_tool;
	void (*snapshot)(void *ctx, const struct rtc_sink *sink);
	void *snapshot_ctx;
};

struct rtc_pipeline *rtc_pipeline_create(void)
{
	struct rtc_pipeline *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->tail = &p->head;
	return p;
}

static void free_info(struct rtc_pipeline *p)
{
	free(p->info_clock);
	free(p->info_host);
	free(p->info_tool);
	p->info_clock = p->info_host = p->info_tool = NULL;
}

void rtc_pipeline_destroy(struct rtc_pipeline *p)
{
	struct request *r, *next;

	if (!p)
		return;
	if (!p->closed)
		rtc_pipeline_close(p, false, NULL, NULL);
	for (r = p->head; r; r = next) {
		next = r->next;
		free(r);
	}
	free(p->subs);
	free_info(p);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void rtc_pipeline_set_snapshot(struct rtc_pipeline *p, void (*fn)(void *ctx, const struct rtc_sink *sink), void *ctx)
{
	p->snapshot = fn;
	p->snapshot_ctx = ctx;
}

/* Under the lock. */
static void enqueue(struct rtc_pipeline *p, struct request *r)
{
	*p->tail = r;
	p->tail = &r->next;
	atomic_store_explicit(&p->dirty, 1, memory_order_release);
}

static bool on_processing_thread(struct rtc_pipeline *p)
{
	return p->have_thread && pthread_equal(p->processing, pthread_self());
}

int64_t rtc_pipeline_subscribe(struct rtc_pipeline *p, struct rtc_sink sink, unsigned flags)
{
	struct request *r = calloc(1, sizeof(*r));
	int64_t id;

	if (!r)
		return -ENOMEM;
	pthread_mutex_lock(&p->lock);
	if (p->ended || p->closed || (sink.ops->stream && p->begun)) {
		pthread_mutex_unlock(&p->lock);
		free(r);
		return -EBUSY;
	}
	id = ++p->next_id;
	r->id = id;
	r->sink = sink;
	r->flags = flags;
	enqueue(p, r);
	pthread_mutex_unlock(&p->lock);
	return id;
}

static void add(struct rtc_pipeline *p, const struct request *r)
{
	if (p->nsubs == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct sub *n = realloc(p->subs, cap * sizeof(*n));

		if (!n) {
			/* Cannot keep it: it never sees an event, and is closed as failed. */
			if (r->sink.ops->close)
				r->sink.ops->close(r->sink.ctx, false);
			return;
		}
		p->subs = n;
		p->cap = cap;
	}
	p->subs[p->nsubs++] = (struct sub){ r->id, r->sink };
	if (!p->begun)
		return; /* begin reaches it with the others */
	if (r->sink.ops->begin)
		r->sink.ops->begin(r->sink.ctx, &p->info);
	if ((r->flags & RTC_SUBSCRIBE_SNAPSHOT) && p->snapshot)
		p->snapshot(p->snapshot_ctx, &r->sink);
}

/* Close and forget sink id; -ENOENT if it is not subscribed. */
static int drop(struct rtc_pipeline *p, int64_t id)
{
	for (size_t i = 0; i < p->nsubs; i++) {
		if (p->subs[i].id != id)
			continue;
		struct rtc_sink s = p->subs[i].sink;

		/* Keep the others in subscription order. */
		memmove(&p->subs[i], &p->subs[i + 1], (p->nsubs - i - 1) * sizeof(p->subs[0]));
		p->nsubs--;
		return s.ops->close ? s.ops->close(s.ctx, true) : 0;
	}
	return -ENOENT;
}

int rtc_pipeline_unsubscribe(struct rtc_pipeline *p, int64_t id)
{
	struct request *r;
	int result;

	pthread_mutex_lock(&p->lock);
	if (p->closed) {
		pthread_mutex_unlock(&p->lock);
		return -ENOENT;
	}
	if (p->ended) {
		/* Nothing is delivered any more; the close of the pipeline closes it. */
		pthread_mutex_unlock(&p->lock);
		return -EBUSY;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		pthread_mutex_unlock(&p->lock);
		return -ENOMEM;
	}
	r->id = id;
	r->remove = true;
	if (!p->have_thread) {
		/* Nothing processes yet: the sink is still a pending request; take it back here. */
		struct request **at = &p->head, *found = NULL;

		for (; *at; at = &(*at)->next) {
			if (!(*at)->remove && (*at)->id == id) {
				found = *at;
				*at = found->next;
				break;
			}
		}
		p->tail = &p->head;
		while (*p->tail)
			p->tail = &(*p->tail)->next;
		pthread_mutex_unlock(&p->lock);
		free(r);
		if (!found)
			return -ENOENT;
		result = found->sink.ops->close ? found->sink.ops->close(found->sink.ctx, true) : 0;
		free(found);
		return result;
	}
	if (on_processing_thread(p)) {
		/* From a sink callback: applied at the next sync point. */
		enqueue(p, r);
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	r->waiter = true;
	enqueue(p, r);
	while (!r->done)
		pthread_cond_wait(&p->cond, &p->lock);
	result = r->result;
	pthread_mutex_unlock(&p->lock);
	free(r);
	return result;
}

void rtc_pipeline_sync(struct rtc_pipeline *p)
{
	struct request *list, *r, *next;

	/* Acquire pairs with the release in enqueue(); the list itself is taken under the lock. */
	if (!atomic_load_explicit(&p->dirty, memory_order_acquire))
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store_explicit(&p->dirty, 0, memory_order_relaxed);
	list = p->head;
	p->head = NULL;
	p->tail = &p->head;
	pthread_mutex_unlock(&p->lock);
	/* Sinks are called without the lock: they may subscribe or unsubscribe themselves. */
	for (r = list; r; r = next) {
		int result = 0;

		next = r->next;
		if (r->remove)
			result = drop(p, r->id);
		else
			add(p, r);
		if (r->waiter) {
			pthread_mutex_lock(&p->lock);
			r->result = result;
			r->done = true;
			pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
		} else {
			free(r);
		}
	}
}

void rtc_pipeline_snapshot(struct rtc_pipeline *p, const struct rtc_sink *into)
{
	if (p->snapshot)
		p->snapshot(p->snapshot_ctx, into);
}

void rtc_pipeline_tick(struct rtc_pipeline *p, uint64_t now_ns)
{
	rtc_pipeline_sync(p);
	for (size_t i = 0; i < p->nsubs; i++)
		if (p->subs[i].sink.ops->tick)
			p->subs[i].sink.ops->tick(p->subs[i].sink.ctx, now_ns);
}

void rtc_pipeline_begin(struct rtc_pipeline *p, const struct rtc_trace_info *info)
{
	pthread_mutex_lock(&p->lock);
	p->processing = pthread_self();
	p->have_thread = true;
	pthread_mutex_unlock(&p->lock);
	rtc_pipeline_sync(p);
	p->info = *info;
	p->info_clock = info->clock ? strdup(info->clock) : NULL;
	p->info_host = info->host ? strdup(info->host) : NULL;
	p->info_tool = info->tool ? strdup(info->tool) : NULL;
	p->info.clock = p->info_clock;
	p->info.host = p->info_host;
	p->info.tool = p->info_tool;
	for (size_t i = 0; i < p->nsubs; i++)
		if (p->subs[i].sink.ops->begin)
			p->subs[i].sink.ops->begin(p->subs[i].sink.ctx, &p->info);
	pthread_mutex_lock(&p->lock);
	p->begun = true;
	pthread_mutex_unlock(&p->lock);
}

void rtc_pipeline_event(struct rtc_pipeline *p, const struct rtc_out *ev)
{
	for (size_t i = 0; i < p->nsubs; i++)
		if (p->subs[i].sink.ops->event)
			p->subs[i].sink.ops->event(p->subs[i].sink.ctx, ev);
}

void rtc_pipeline_end(struct rtc_pipeline *p, const struct rtc_summary *summary)
{
	/* Requests made before this point are applied now; later ones are refused (-EBUSY). */
	pthread_mutex_lock(&p->lock);
	p->ended = true;
	pthread_mutex_unlock(&p->lock);
	rtc_pipeline_sync(p);
	for (size_t i = 0; i < p->nsubs; i++)
		if (p->subs[i].sink.ops->end)
			p->subs[i].sink.ops->end(p->subs[i].sink.ctx, summary);
}

int rtc_pipeline_close(struct rtc_pipeline *p, bool ok, void (*report)(void *ctx, const char *name, int err), void *ctx)
{
	struct request *r, *next;
	int first = 0;

	rtc_pipeline_sync(p);
	for (size_t i = 0; i < p->nsubs; i++) {
		struct rtc_sink *s = &p->subs[i].sink;
		int err = s->ops->close ? s->ops->close(s->ctx, ok) : 0;

		if (err < 0) {
			if (report)
				report(ctx, s->name, err);
			if (!first)
				first = err;
		}
	}
	p->nsubs = 0;
	pthread_mutex_lock(&p->lock);
	p->closed = true;
	/* Requests that came in since the last sync: waiters learn their sink is gone. */
	for (r = p->head; r; r = next) {
		next = r->next;
		if (!r->remove && r->sink.ops->close)
			r->sink.ops->close(r->sink.ctx, false);
		if (r->waiter) {
			r->result = -ENOENT;
			r->done = true;
		} else {
			free(r);
		}
	}
	p->head = NULL;
	p->tail = &p->head;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return first;
}

size_t rtc_pipeline_count(const struct rtc_pipeline *p)
{
	return p->nsubs;
}

/* ---- the raw stream, for capture sinks ---- */

#define FAN_OUT(op, ...)                                                                 \
	do {                                                                             \
		struct rtc_pipeline *p = ctx;                                            \
		for (size_t i = 0; i < p->nsubs; i++) {                                  \
			const struct rtc_stream_ops *so = p->subs[i].sink.ops->stream;   \
			if (so && so->op)                                                \
				so->op(p->subs[i].sink.ctx, __VA_ARGS__);                \
		}                                                                        \
	} while (0)

static void s_process(void *ctx, const struct rtc_stream_process *m) { FAN_OUT(process, m); }
static void s_name(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len) { FAN_OUT(name, proc, id, s, len); }
static void s_calib(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt) { FAN_OUT(calib, proc, pt); }
static void s_thread(void *ctx, const struct rtc_stream_thread *m) { FAN_OUT(thread, m); }
static void s_chunk(void *ctx, const struct rtc_stream_chunk *m) { FAN_OUT(chunk, m); }
static void s_watermark(void *ctx, uint64_t ns) { FAN_OUT(watermark, ns); }
static void s_thread_done(void *ctx, uint32_t t, uint64_t ts, uint64_t lost) { FAN_OUT(thread_done, t, ts, lost); }
static void s_task(void *ctx, const struct rtc_stream_task *m) { FAN_OUT(task, m); }
static void s_counts(void *ctx, const struct rtc_stream_counts *m) { FAN_OUT(counts, m); }
static void s_gap(void *ctx, const struct rtc_stream_gap *m) { FAN_OUT(gap, m); }
static void s_stack(void *ctx, const struct rtc_stream_stack *m) { FAN_OUT(stack, m); }
static void s_end(void *ctx, uint64_t ns) { FAN_OUT(end, ns); }

static const struct rtc_stream_ops stream_ops = {
	.process = s_process,
	.name = s_name,
	.calib = s_calib,
	.thread = s_thread,
	.chunk = s_chunk,
	.watermark = s_watermark,
	.thread_done = s_thread_done,
	.task = s_task,
	.counts = s_counts,
	.gap = s_gap,
	.stack = s_stack,
	.end = s_end,
};

const struct rtc_stream_ops *rtc_pipeline_stream_ops(void)
{
	return &stream_ops;
}
