/* SPDX-License-Identifier: MIT */
/* The stream queue: one heap-allocated copy per message on liburcu's wait-free concurrent queue
 * (wfcqueue), handed over in batches; a condition variable only for waiting when it is empty. */
#include "stream-queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/wfcqueue.h>

/* liburcu is not built with ThreadSanitizer, so the hand-over inside cds_wfcq_enqueue() (a full
 * barrier before linking the node) and the dequeue (which reads the link) are invisible to it: tell
 * it the message is published here and acquired there. */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define PUBLISHED(m) __tsan_release(m)
#define ACQUIRED(m) __tsan_acquire(m)
#else
#define PUBLISHED(m) ((void)(m))
#define ACQUIRED(m) ((void)(m))
#endif

enum kind { K_PROCESS, K_NAME, K_CALIB, K_THREAD, K_CHUNK, K_WATERMARK, K_THREAD_DONE, K_TASK, K_COUNTS, K_GAP, K_STACK, K_END };

struct message {
	struct cds_wfcq_node node;
	enum kind kind;
	union {
		struct rtc_stream_process process; /* .name points into bytes */
		struct rtc_stream_thread thread;   /* .name points into bytes */
		struct {
			uint32_t proc, id;
		} name;
		struct {
			uint32_t proc;
			struct rt_shm_calib_point pt;
		} calib;
		struct rtc_stream_chunk chunk; /* .data points into bytes */
		struct {
			uint32_t thread;
			uint64_t ts, unreported_lost;
		} done;
		struct rtc_stream_task task;
		struct rtc_stream_counts counts;
		struct rtc_stream_gap gap;
		struct rtc_stream_stack stack; /* .entries points into bytes */
		uint64_t ns; /* watermark, end */
	} u;
	size_t len; /* of bytes (a string's bytes are followed by a NUL not counted here) */
	uint8_t bytes[];
};

struct rtc_stream_queue {
	struct __cds_wfcq_head head; /* no dequeue lock: one delivering thread */
	struct cds_wfcq_tail tail;
	struct message *pending; /* input side: chunk buffer handed out, not yet queued */
	/* Delivering side: taken off the queue, not delivered yet (a call stopped at its byte limit). */
	struct __cds_wfcq_head batch_head;
	struct cds_wfcq_tail batch_tail;
	/* Relaxed: a gauge for back-pressure and status, it orders nothing. */
	_Atomic size_t bytes;
	_Atomic uint64_t failed;
	pthread_mutex_t lock; /* only around waiting and waking */
	pthread_cond_t cond;
};

static struct message *message_alloc(struct rtc_stream_queue *q, enum kind kind, size_t len)
{
	struct message *m = malloc(sizeof(*m) + len + 1);

	if (!m) {
		atomic_fetch_add_explicit(&q->failed, 1, memory_order_relaxed);
		return NULL;
	}
	cds_wfcq_node_init(&m->node);
	m->kind = kind;
	m->len = len;
	m->bytes[len] = 0;
	return m;
}

static struct message *message_new(struct rtc_stream_queue *q, enum kind kind, const void *bytes, size_t len)
{
	struct message *m = message_alloc(q, kind, len);

	if (m && len)
		memcpy(m->bytes, bytes, len);
	return m;
}

static void push(struct rtc_stream_queue *q, struct message *m)
{
	if (!m)
		return;
	atomic_fetch_add_explicit(&q->bytes, sizeof(*m) + m->len, memory_order_relaxed);
	PUBLISHED(m);
	/* The enqueue's full barrier orders every store to *m before the node becomes reachable. */
	cds_wfcq_enqueue(&q->head, &q->tail, &m->node);
}

static void in_process(void *ctx, const struct rtc_stream_process *p)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_PROCESS, p->name, strlen(p->name));

	if (m) {
		m->u.process = *p;
		m->u.process.name = (const char *)m->bytes;
	}
	push(q, m);
}

static void in_name(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_NAME, s, len);

	if (m) {
		m->u.name.proc = proc;
		m->u.name.id = id;
	}
	push(q, m);
}

static void in_calib(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_CALIB, NULL, 0);

	if (m) {
		m->u.calib.proc = proc;
		m->u.calib.pt = *pt;
	}
	push(q, m);
}

static void in_thread(void *ctx, const struct rtc_stream_thread *t)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_THREAD, t->name, strlen(t->name));

	if (m) {
		m->u.thread = *t;
		m->u.thread.name = (const char *)m->bytes;
	}
	push(q, m);
}

/* Zero copy: the drain reads a ring straight into the message that will carry it. */
static uint8_t *in_chunk_buffer(void *ctx, size_t len)
{
	struct rtc_stream_queue *q = ctx;

	if (q->pending && q->pending->len >= len) {
		q->pending->len = len;
		return q->pending->bytes;
	}
	free(q->pending);
	q->pending = message_alloc(q, K_CHUNK, len);
	return q->pending ? q->pending->bytes : NULL;
}

static void in_chunk(void *ctx, const struct rtc_stream_chunk *c)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m;

	if (q->pending && c->data == q->pending->bytes && c->len <= q->pending->len) {
		m = q->pending;
		q->pending = NULL;
		m->len = c->len;
	} else {
		m = message_new(q, K_CHUNK, c->data, c->len);
	}
	if (m) {
		m->u.chunk = *c;
		m->u.chunk.data = m->bytes;
	}
	push(q, m);
}

static void in_watermark(void *ctx, uint64_t ns)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_WATERMARK, NULL, 0);

	if (m)
		m->u.ns = ns;
	push(q, m);
}

static void in_thread_done(void *ctx, uint32_t thread, uint64_t ts, uint64_t unreported_lost)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_THREAD_DONE, NULL, 0);

	if (m) {
		m->u.done.thread = thread;
		m->u.done.ts = ts;
		m->u.done.unreported_lost = unreported_lost;
	}
	push(q, m);
}

static void in_task(void *ctx, const struct rtc_stream_task *t)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_TASK, NULL, 0);

	if (m)
		m->u.task = *t;
	push(q, m);
}

static void in_counts(void *ctx, const struct rtc_stream_counts *c)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_COUNTS, NULL, 0);

	if (m)
		m->u.counts = *c;
	push(q, m);
}

static void in_gap(void *ctx, const struct rtc_stream_gap *g)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_GAP, NULL, 0);

	if (m)
		m->u.gap = *g;
	push(q, m);
}

static void in_stack(void *ctx, const struct rtc_stream_stack *st)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_STACK, st->entries, st->count * sizeof(*st->entries));

	if (m) {
		m->u.stack = *st;
		m->u.stack.entries = (const struct rt_rec_stack_entry *)(void *)m->bytes;
	}
	push(q, m);
}

static void in_end(void *ctx, uint64_t ns)
{
	struct rtc_stream_queue *q = ctx;
	struct message *m = message_new(q, K_END, NULL, 0);

	if (m)
		m->u.ns = ns;
	push(q, m);
}

static const struct rtc_stream_ops input_ops = {
	.process = in_process,
	.name = in_name,
	.calib = in_calib,
	.thread = in_thread,
	.chunk = in_chunk,
	.watermark = in_watermark,
	.thread_done = in_thread_done,
	.task = in_task,
	.counts = in_counts,
	.gap = in_gap,
	.stack = in_stack,
	.end = in_end,
	.chunk_buffer = in_chunk_buffer,
};

struct rtc_stream_queue *rtc_stream_queue_create(void)
{
	struct rtc_stream_queue *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;

	if (!q)
		return NULL;
	__cds_wfcq_init(&q->head, &q->tail);
	__cds_wfcq_init(&q->batch_head, &q->batch_tail);
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	return q;
}

void rtc_stream_queue_destroy(struct rtc_stream_queue *q)
{
	struct cds_wfcq_node *node;

	if (!q)
		return;
	while ((node = __cds_wfcq_dequeue_blocking(&q->batch_head, &q->batch_tail)) != NULL)
		free(caa_container_of(node, struct message, node));
	while ((node = __cds_wfcq_dequeue_blocking(&q->head, &q->tail)) != NULL)
		free(caa_container_of(node, struct message, node));
	free(q->pending);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

const struct rtc_stream_ops *rtc_stream_queue_input(void)
{
	return &input_ops;
}

void rtc_stream_queue_wake(struct rtc_stream_queue *q)
{
	/* Under the lock: the waiter checks for input and starts waiting while holding it, so this
	 * signal cannot fall between its check and its wait. */
	pthread_mutex_lock(&q->lock);
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

#define CALL(op, ...)                            \
	do {                                     \
		if (ops->op)                     \
			ops->op(ctx, __VA_ARGS__); \
	} while (0)

static void dispatch(const struct message *m, const struct rtc_stream_ops *ops, void *ctx)
{
	switch (m->kind) {
	case K_PROCESS: CALL(process, &m->u.process); break;
	case K_NAME: CALL(name, m->u.name.proc, m->u.name.id, (const char *)m->bytes, m->len); break;
	case K_CALIB: CALL(calib, m->u.calib.proc, &m->u.calib.pt); break;
	case K_THREAD: CALL(thread, &m->u.thread); break;
	case K_CHUNK: CALL(chunk, &m->u.chunk); break;
	case K_WATERMARK: CALL(watermark, m->u.ns); break;
	case K_THREAD_DONE: CALL(thread_done, m->u.done.thread, m->u.done.ts, m->u.done.unreported_lost); break;
	case K_TASK: CALL(task, &m->u.task); break;
	case K_COUNTS: CALL(counts, &m->u.counts); break;
	case K_GAP: CALL(gap, &m->u.gap); break;
	case K_STACK: CALL(stack, &m->u.stack); break;
	case K_END: CALL(end, m->u.ns); break;
	}
}

size_t rtc_stream_queue_deliver(struct rtc_stream_queue *q, const struct rtc_stream_ops *ops, void *ctx,
				unsigned timeout_ms, size_t max_bytes)
{
	struct cds_wfcq_node *node;
	size_t n = 0, bytes = 0;

	if (timeout_ms && cds_wfcq_empty(&q->batch_head, &q->batch_tail) && cds_wfcq_empty(&q->head, &q->tail)) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&q->lock);
		if (cds_wfcq_empty(&q->head, &q->tail))
			pthread_cond_timedwait(&q->cond, &q->lock, &until);
		pthread_mutex_unlock(&q->lock);
	}
	/* What an earlier call left first, then everything queued now, taken in one step; the input
	 * side keeps appending to the emptied queue meanwhile. */
	if (cds_wfcq_empty(&q->batch_head, &q->batch_tail) &&
	    __cds_wfcq_splice_blocking(&q->batch_head, &q->batch_tail, &q->head, &q->tail) == CDS_WFCQ_RET_SRC_EMPTY)
		return 0;
	while ((!max_bytes || bytes < max_bytes) &&
	       (node = __cds_wfcq_dequeue_blocking(&q->batch_head, &q->batch_tail)) != NULL) {
		struct message *m = caa_container_of(node, struct message, node);

		ACQUIRED(m);
		dispatch(m, ops, ctx);
		atomic_fetch_sub_explicit(&q->bytes, sizeof(*m) + m->len, memory_order_relaxed);
		bytes += sizeof(*m) + m->len;
		free(m);
		n++;
	}
	return n;
}

size_t rtc_stream_queue_bytes(const struct rtc_stream_queue *q)
{
	return atomic_load_explicit(&q->bytes, memory_order_relaxed);
}

uint64_t rtc_stream_queue_failed(const struct rtc_stream_queue *q)
{
	return atomic_load_explicit(&q->failed, memory_order_relaxed);
}
