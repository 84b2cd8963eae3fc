/* SPDX-License-Identifier: MIT */
/* Watermark merge: power-of-two ring queues per thread (grown by realloc) and a binary heap of the
 * threads with queued events, keyed by their oldest event, kept across calls: a watermark costs
 * what it emits (and the threads that got events since the last), never a pass over every thread. */
#include "merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mthread {
	uint32_t proc;
	bool declared;
	bool in_heap; /* in the heap, or waiting in `pending` to enter it */
	struct rtc_event *q; /* FIFO ring, qcap a power of two */
	size_t qhead, qlen, qcap;
};

/* A heap entry carries its thread's oldest timestamp and tie key, so that comparing two entries
 * touches no queue. */
struct hentry {
	uint64_t ts;
	uint64_t tie; /* process index << 32 | thread index: deterministic order of equal times */
};

struct rtc_merge {
	struct mthread *threads;
	size_t nthreads, threads_cap;
	struct hentry *heap; /* threads with queued events */
	size_t heap_len; /* capacity: threads_cap */
	/* Threads whose queue went from empty to not empty since the last merge: they enter the heap
	 * then, once the caller has set their first event's time. */
	uint32_t *pending;
	size_t npending;
	uint32_t *drained; /* threads whose queue the last merge emptied */
	size_t ndrained;
	size_t total;
	uint64_t emitted_ts;
	uint64_t late;
};

struct rtc_merge *rtc_merge_create(void)
{
	return calloc(1, sizeof(struct rtc_merge));
}

static void free_event(struct rtc_event *ev)
{
	free(ev->str);
	free(ev->stack);
}

void rtc_merge_destroy(struct rtc_merge *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nthreads; i++) {
		struct mthread *t = &m->threads[i];

		for (size_t k = 0; k < t->qlen; k++)
			free_event(&t->q[(t->qhead + k) & (t->qcap - 1)]);
		free(t->q);
	}
	free(m->threads);
	free(m->heap);
	free(m->pending);
	free(m->drained);
	free(m);
}

static int grow_u32(uint32_t **arr, size_t cap)
{
	uint32_t *n = realloc(*arr, cap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	*arr = n;
	return 0;
}

static int grow_heap(struct rtc_merge *m, size_t cap)
{
	struct hentry *n = realloc(m->heap, cap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	m->heap = n;
	return 0;
}

int rtc_merge_thread(struct rtc_merge *m, uint32_t thread, uint32_t proc)
{
	if (thread >= m->threads_cap) {
		size_t cap = m->threads_cap ? m->threads_cap : 64;
		struct mthread *n;

		while (cap <= thread)
			cap *= 2;
		/* Each thread is at most once in the heap, the pending and the drained lists. */
		if (grow_u32(&m->pending, cap) < 0 || grow_u32(&m->drained, cap) < 0 || grow_heap(m, cap) < 0)
			return -ENOMEM;
		n = realloc(m->threads, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + m->threads_cap, 0, (cap - m->threads_cap) * sizeof(*n));
		m->threads = n;
		m->threads_cap = cap;
	}
	if (thread >= m->nthreads)
		m->nthreads = (size_t)thread + 1;
	m->threads[thread].proc = proc;
	m->threads[thread].declared = true;
	return 0;
}

struct rtc_event *rtc_merge_push(struct rtc_merge *m, uint32_t thread)
{
	struct mthread *t;
	struct rtc_event *ev;

	if (thread >= m->nthreads || !m->threads[thread].declared)
		return NULL;
	t = &m->threads[thread];
	if (t->qlen == t->qcap) {
		/* realloc() of a large block moves pages (mremap) instead of copying them and faulting
		 * in fresh ones; then only the wrapped part of the ring is moved up. Small at first:
		 * a thread costs memory in proportion to its events. */
		size_t old = t->qcap, cap = old ? old * 2 : 16;
		struct rtc_event *n = realloc(t->q, cap * sizeof(*n));

		if (!n)
			return NULL;
		if (t->qhead + t->qlen > old)
			memcpy(n + old, n, (t->qhead + t->qlen - old) * sizeof(*n));
		t->q = n;
		t->qcap = cap;
	}
	if (!t->in_heap) {
		t->in_heap = true;
		m->pending[m->npending++] = thread;
	}
	ev = &t->q[(t->qhead + t->qlen) & (t->qcap - 1)];
	t->qlen++;
	m->total++;
	/* Not zeroed (the caller sets ts, kind and the fields of its kind): only what the merge and
	 * the frees rely on. */
	ev->thread = thread;
	ev->str = NULL;
	ev->stack = NULL;
	return ev;
}

static bool before(const struct hentry *x, const struct hentry *y)
{
	return x->ts != y->ts ? x->ts < y->ts : x->tie < y->tie;
}

static void sift_down(struct rtc_merge *m, size_t i)
{
	struct hentry *h = m->heap, v = h[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = l;

		if (l >= m->heap_len)
			break;
		if (r < m->heap_len && before(&h[r], &h[l]))
			s = r;
		if (!before(&h[s], &v))
			break;
		h[i] = h[s];
		i = s;
	}
	h[i] = v;
}

static struct hentry entry(const struct rtc_merge *m, uint32_t ti)
{
	const struct mthread *t = &m->threads[ti];

	return (struct hentry){ t->q[t->qhead].ts, (uint64_t)t->proc << 32 | ti };
}

static void sift_up(struct rtc_merge *m, size_t i)
{
	struct hentry *h = m->heap, v = h[i];

	while (i > 0 && before(&v, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = v;
}

size_t rtc_merge_until(struct rtc_merge *m, uint64_t watermark, void (*fn)(void *ctx, const struct rtc_event *ev),
		       void *ctx, void (*pause)(void *pause_ctx), void *pause_ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < m->npending; i++) {
		m->heap[m->heap_len] = entry(m, m->pending[i]);
		sift_up(m, m->heap_len++);
	}
	m->npending = 0;
	m->ndrained = 0;
	while (m->heap_len) {
		uint32_t ti = (uint32_t)m->heap[0].tie;
		struct mthread *t = &m->threads[ti];
		struct rtc_event *ev = &t->q[t->qhead];

		if (ev->ts > watermark)
			break;
		if (ev->ts < m->emitted_ts)
			m->late++; /* committed after the watermark passed it: still emitted, in thread order */
		else
			m->emitted_ts = ev->ts;
		fn(ctx, ev);
		free_event(ev);
		t->qhead = (t->qhead + 1) & (t->qcap - 1);
		t->qlen--;
		m->total--;
		/* The thread's next event replaces it at the top, or the thread leaves the heap. */
		if (t->qlen) {
			m->heap[0].ts = t->q[t->qhead].ts;
		} else {
			m->heap[0] = m->heap[--m->heap_len];
			t->in_heap = false;
			m->drained[m->ndrained++] = ti;
		}
		if (m->heap_len)
			sift_down(m, 0);
		if (++n % 4096 == 0 && pause)
			pause(pause_ctx);
	}
	return n;
}

size_t rtc_merge_queued(const struct rtc_merge *m, uint32_t thread)
{
	return thread < m->nthreads ? m->threads[thread].qlen : 0;
}

const uint32_t *rtc_merge_drained(const struct rtc_merge *m, size_t *n)
{
	*n = m->ndrained;
	return m->drained;
}

size_t rtc_merge_total(const struct rtc_merge *m)
{
	return m->total;
}

uint64_t rtc_merge_emitted_ts(const struct rtc_merge *m)
{
	return m->emitted_ts;
}

uint64_t rtc_merge_late(const struct rtc_merge *m)
{
	return m->late;
}
