/* SPDX-License-Identifier: MIT */
/* The live trace stream as a pipeline subscriber: batches of Chrome JSON to every /trace client,
 * each client's snapshot on arrival, and the per-client forms (E for spans it got open, flow ends
 * only after their start). */
#include "ws-trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ws-json.h"

#define BATCH_BYTES (64u * 1024)   /* a message is about this big: one write per client */
#define FLUSH_NS (50u * 1000 * 1000) /* and no event waits longer than this in a batch */
#define FLOWS_MAX (1u << 20)

struct rtc_ws_open_key {
	uint64_t thread_number, span_seq;
	uint32_t pid, tid;
	bool used;
};

/* ---- per-client open spans: open addressing, backward-shift deletion ---- */

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint64_t key_hash(uint32_t pid, uint32_t tid, uint64_t tn, uint64_t seq)
{
	return mix(seq * 0x9e3779b97f4a7c15ull ^ mix(tn) ^ ((uint64_t)pid << 32 | tid));
}

static bool key_eq(const struct rtc_ws_open_key *k, const struct rtc_out *o)
{
	return k->span_seq == o->span_seq && k->thread_number == o->thread_number && k->pid == o->pid &&
	       k->tid == o->tid;
}

static void opens_put(struct rtc_ws_open_key *slots, size_t cap, const struct rtc_ws_open_key *k)
{
	size_t i = key_hash(k->pid, k->tid, k->thread_number, k->span_seq) & (cap - 1);

	while (slots[i].used)
		i = (i + 1) & (cap - 1);
	slots[i] = *k;
}

int rtc_ws_opens_add(struct rtc_ws_opens *s, const struct rtc_out *o)
{
	struct rtc_ws_open_key k = { o->thread_number, o->span_seq, o->pid, o->tid, true };

	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct rtc_ws_open_key *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i].used)
				opens_put(ns, ncap, &s->slots[i]);
		free(s->slots);
		s->slots = ns;
		s->cap = ncap;
	}
	for (size_t i = key_hash(k.pid, k.tid, k.thread_number, k.span_seq) & (s->cap - 1); s->slots[i].used;
	     i = (i + 1) & (s->cap - 1))
		if (key_eq(&s->slots[i], o))
			return 0; /* given twice: one E is enough */
	opens_put(s->slots, s->cap, &k);
	s->n++;
	return 0;
}

bool rtc_ws_opens_take(struct rtc_ws_opens *s, const struct rtc_out *o)
{
	size_t mask = s->cap - 1, i, j;

	if (!s->n)
		return false;
	for (i = key_hash(o->pid, o->tid, o->thread_number, o->span_seq) & mask;; i = (i + 1) & mask) {
		if (!s->slots[i].used)
			return false;
		if (key_eq(&s->slots[i], o))
			break;
	}
	/* Shift later members of the cluster back over the hole so that probes stay unbroken. */
	for (j = i;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!s->slots[j].used)
			break;
		home = key_hash(s->slots[j].pid, s->slots[j].tid, s->slots[j].thread_number, s->slots[j].span_seq) & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		s->slots[i] = s->slots[j];
		i = j;
	}
	s->slots[i].used = false;
	s->n--;
	return true;
}

void rtc_ws_opens_free(struct rtc_ws_opens *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

/* ---- flow starts: id -> seq of the event that started it ---- */

struct flow_slot {
	uint64_t id, seq; /* seq 0 = empty */
};

struct flows {
	struct flow_slot *slots;
	size_t cap, n;
};

static void flows_put(struct flows *f, uint64_t id, uint64_t seq)
{
	size_t i;

	if ((f->n + 1) * 2 > f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 64;
		struct flow_slot *ns;

		if (f->n >= FLOWS_MAX || !(ns = calloc(ncap, sizeof(*ns))))
			return; /* its end then reaches no client: valid, only the arrow is missing */
		for (size_t k = 0; k < f->cap; k++) {
			if (!f->slots[k].seq)
				continue;
			for (i = mix(f->slots[k].id) & (ncap - 1); ns[i].seq; i = (i + 1) & (ncap - 1))
				;
			ns[i] = f->slots[k];
		}
		free(f->slots);
		f->slots = ns;
		f->cap = ncap;
	}
	for (i = mix(id) & (f->cap - 1); f->slots[i].seq; i = (i + 1) & (f->cap - 1))
		if (f->slots[i].id == id) {
			f->slots[i].seq = seq; /* started again: the latest start counts */
			return;
		}
	f->slots[i].id = id;
	f->slots[i].seq = seq;
	f->n++;
}

/* The start's seq, forgotten; 0 if unknown. */
static uint64_t flows_take(struct flows *f, uint64_t id)
{
	size_t mask = f->cap - 1, i, j;
	uint64_t seq;

	if (!f->n)
		return 0;
	for (i = mix(id) & mask; f->slots[i].id != id || !f->slots[i].seq; i = (i + 1) & mask)
		if (!f->slots[i].seq)
			return 0;
	seq = f->slots[i].seq;
	for (j = i;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!f->slots[j].seq)
			break;
		home = mix(f->slots[j].id) & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		f->slots[i] = f->slots[j];
		i = j;
	}
	f->slots[i].seq = 0;
	f->n--;
	return seq;
}

/* ---- the stream ---- */

struct wt_client {
	struct rtc_ws_client *c;
	uint64_t join_seq; /* events given to the sink before its snapshot */
	struct rtc_ws_opens opens;
	bool gets_e;
};

/* A snapshot event, formatted, waiting to be sorted. */
struct snap_item {
	uint64_t ts;
	size_t off, len, order;
	bool meta;
};

struct rtc_ws_trace {
	struct rtc_ws *ws;
	rtc_ws_snapshot_cb snapshot;
	void *snapshot_ctx;
	uint64_t origin;
	bool begun, ended;
	uint64_t seq;
	struct rtc_ws_buf batch, one, two;
	struct wt_client **cl;
	size_t ncl, capcl;
	size_t opens_total;
	uint64_t min_join, max_join;
	struct flows flows;
	uint64_t last_flush_ns;
	unsigned since_clock;
	/* the snapshot being taken */
	struct wt_client *joining;
	struct rtc_ws_buf snap;
	struct snap_item *items;
	size_t nitems, capitems;
};

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void flush(struct rtc_ws_trace *t)
{
	if (t->batch.len)
		rtc_ws_send(t->ws, t->batch.p, t->batch.len); /* -ENOMEM: this batch is lost for all */
	t->batch.len = 0;
	t->last_flush_ns = coarse_ns();
}

/* Format o alone into b (emptied first). */
static int format_one(struct rtc_ws_trace *t, struct rtc_ws_buf *b, const struct rtc_out *o,
		      enum rtc_ws_span_phase ph)
{
	b->len = 0;
	return rtc_ws_json_event(b, o, t->origin, ph);
}

/* A span that some clients got open: they get E, the others X. True if handled here. */
static bool span_per_client(struct rtc_ws_trace *t, const struct rtc_out *o)
{
	bool any = false;

	for (size_t i = 0; i < t->ncl; i++) {
		struct wt_client *w = t->cl[i];

		w->gets_e = w->opens.n && rtc_ws_opens_take(&w->opens, o);
		if (w->gets_e) {
			t->opens_total--;
			any = true;
		}
	}
	if (!any)
		return false;
	flush(t);
	if (format_one(t, &t->one, o, RTC_WS_SPAN_X) || format_one(t, &t->two, o, RTC_WS_SPAN_E))
		return true;
	for (size_t i = 0; i < t->ncl; i++) {
		struct rtc_ws_buf *b = t->cl[i]->gets_e ? &t->two : &t->one;

		rtc_ws_client_send(t->cl[i]->c, b->p, b->len);
	}
	return true;
}

/* A flow end: only clients that joined before its start get it. True if handled here. */
static bool flow_end(struct rtc_ws_trace *t, const struct rtc_out *o)
{
	uint64_t start = flows_take(&t->flows, o->id);

	if (start > t->max_join)
		return false; /* every client has its start */
	if (start <= t->min_join)
		return true; /* none has */
	flush(t);
	if (format_one(t, &t->one, o, RTC_WS_SPAN_X))
		return true;
	for (size_t i = 0; i < t->ncl; i++)
		if (start > t->cl[i]->join_seq)
			rtc_ws_client_send(t->cl[i]->c, t->one.p, t->one.len);
	return true;
}

static void sink_begin(void *ctx, const struct rtc_trace_info *info)
{
	struct rtc_ws_trace *t = ctx;

	t->origin = info->origin_ns;
	t->begun = true;
}

static void sink_event(void *ctx, const struct rtc_out *o)
{
	struct rtc_ws_trace *t = ctx;
	size_t at;

	t->seq++;
	if (o->kind == RTC_OUT_SPAN_OPEN)
		return; /* snapshot only */
	if (!t->ncl) {
		if (o->kind == RTC_OUT_FLOW && !o->count)
			flows_put(&t->flows, o->id, t->seq);
		return; /* nobody to send to (not even the file yet) */
	}
	if (o->kind == RTC_OUT_SPAN && t->opens_total && span_per_client(t, o))
		return;
	if (o->kind == RTC_OUT_FLOW) {
		if (!o->count)
			flows_put(&t->flows, o->id, t->seq);
		else if (flow_end(t, o))
			return;
	}
	at = t->batch.len;
	if (at && rtc_ws_buf_reserve(&t->batch, 1) == 0)
		t->batch.p[t->batch.len++] = ',';
	if (rtc_ws_json_event(&t->batch, o, t->origin, RTC_WS_SPAN_X)) {
		t->batch.len = at;
		return;
	}
	if (t->batch.len >= BATCH_BYTES)
		flush(t);
	else if (++t->since_clock >= 256) {
		t->since_clock = 0;
		if (coarse_ns() - t->last_flush_ns >= FLUSH_NS)
			flush(t);
	}
}

static void sink_end(void *ctx, const struct rtc_summary *s)
{
	struct rtc_ws_trace *t = ctx;
	char other[512];

	flush(t);
	snprintf(other, sizeof(other),
		 "\"complete\":true,\"records\":%llu,\"lost\":%llu,\"spans\":%llu,\"tasks\":%llu,\"processes\":%llu,"
		 "\"threads\":%llu",
		 (unsigned long long)s->records, (unsigned long long)s->lost, (unsigned long long)s->spans,
		 (unsigned long long)s->tasks, (unsigned long long)s->processes, (unsigned long long)s->threads);
	rtc_ws_set_other(t->ws, other);
}

static int sink_close(void *ctx, bool ok)
{
	(void)ok;
	struct rtc_ws_trace *t = ctx;

	flush(t);
	t->ended = true;
	return 0;
}

static const struct rtc_sink_ops sink_ops = {
	.version = RTC_SINK_VERSION,
	.begin = sink_begin,
	.event = sink_event,
	.end = sink_end,
	.close = sink_close,
};

struct rtc_sink rtc_ws_trace_sink(struct rtc_ws_trace *t)
{
	struct rtc_sink s = { &sink_ops, t, "live trace stream" };

	return s;
}

/* ---- arrivals ---- */

static void snap_event(void *ctx, const struct rtc_out *o)
{
	struct rtc_ws_trace *t = ctx;
	struct snap_item *it;
	size_t at = t->snap.len;

	if (t->nitems == t->capitems) {
		size_t ncap = t->capitems ? t->capitems * 2 : 64;
		struct snap_item *ni = realloc(t->items, ncap * sizeof(*ni));

		if (!ni)
			return;
		t->items = ni;
		t->capitems = ncap;
	}
	if (rtc_ws_json_event(&t->snap, o, t->origin, RTC_WS_SPAN_B))
		return;
	if (o->kind == RTC_OUT_SPAN_OPEN) {
		if (rtc_ws_opens_add(&t->joining->opens, o)) {
			t->snap.len = at; /* could not remember it: better no B than a B without E */
			return;
		}
		t->opens_total++;
	}
	it = &t->items[t->nitems];
	it->meta = o->kind == RTC_OUT_PROCESS || o->kind == RTC_OUT_THREAD;
	it->ts = o->ts;
	it->off = at;
	it->len = t->snap.len - at;
	it->order = t->nitems++;
}

static int item_cmp(const void *a, const void *b)
{
	const struct snap_item *x = a, *y = b;

	if (x->meta != y->meta)
		return x->meta ? -1 : 1;
	if (!x->meta && x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void recompute_joins(struct rtc_ws_trace *t)
{
	t->min_join = UINT64_MAX;
	t->max_join = 0;
	for (size_t i = 0; i < t->ncl; i++) {
		if (t->cl[i]->join_seq < t->min_join)
			t->min_join = t->cl[i]->join_seq;
		if (t->cl[i]->join_seq > t->max_join)
			t->max_join = t->cl[i]->join_seq;
	}
	if (!t->ncl)
		t->min_join = 0;
}

static void on_join(void *ctx, struct rtc_ws_client *c)
{
	static const struct rtc_sink_ops snap_ops = { .version = RTC_SINK_VERSION, .event = snap_event };
	struct rtc_ws_trace *t = ctx;
	struct rtc_sink into = { &snap_ops, t, "snapshot" };
	struct wt_client *w = calloc(1, sizeof(*w));
	struct rtc_ws_buf out = { 0 };

	if (w && t->ncl == t->capcl) {
		size_t ncap = t->capcl ? t->capcl * 2 : 8;
		struct wt_client **n = realloc(t->cl, ncap * sizeof(*n));

		if (n) {
			t->cl = n;
			t->capcl = ncap;
		}
	}
	if (!w || t->ncl == t->capcl) {
		free(w);
		return; /* no memory: it stays connected and gets nothing */
	}
	w->c = c;
	w->join_seq = t->seq;
	rtc_ws_client_set_user(c, w);
	t->cl[t->ncl++] = w;
	recompute_joins(t);
	if (!t->snapshot)
		return;
	t->joining = w;
	t->snap.len = 0;
	t->nitems = 0;
	t->snapshot(t->snapshot_ctx, &into);
	t->joining = NULL;
	/* Metadata first, then by time: each thread's begins in order, whatever order they came in. */
	if (t->nitems) /* items is NULL until the first snapshot that had any */
		qsort(t->items, t->nitems, sizeof(*t->items), item_cmp);
	for (size_t i = 0; i < t->nitems; i++) {
		struct snap_item *it = &t->items[i];

		if (out.len + it->len + 1 > BATCH_BYTES && out.len) {
			rtc_ws_client_send(c, out.p, out.len);
			out.len = 0;
		}
		if (rtc_ws_buf_reserve(&out, it->len + 1))
			break;
		if (out.len)
			out.p[out.len++] = ',';
		memcpy(out.p + out.len, t->snap.p + it->off, it->len);
		out.len += it->len;
	}
	if (out.len)
		rtc_ws_client_send(c, out.p, out.len);
	rtc_ws_buf_free(&out);
	if (t->snap.cap > 4 * BATCH_BYTES)
		rtc_ws_buf_free(&t->snap); /* a large snapshot's memory is not kept */
}

static void on_leave(void *ctx, struct rtc_ws_client *c)
{
	struct rtc_ws_trace *t = ctx;
	struct wt_client *w = rtc_ws_client_user(c);

	for (size_t i = 0; i < t->ncl; i++) {
		if (t->cl[i] != w)
			continue;
		t->cl[i] = t->cl[--t->ncl];
		t->opens_total -= w->opens.n;
		rtc_ws_opens_free(&w->opens);
		free(w);
		break;
	}
	recompute_joins(t);
}

static const struct rtc_ws_publisher_ops publisher_ops = { .join = on_join, .leave = on_leave };

int rtc_ws_trace_pump(struct rtc_ws_trace *t)
{
	flush(t);
	if (!t->begun)
		return 0;
	return rtc_ws_pump(t->ws, &publisher_ops, t);
}

uint64_t rtc_ws_trace_events(const struct rtc_ws_trace *t)
{
	return t->seq;
}

int rtc_ws_trace_create(struct rtc_ws *ws, rtc_ws_snapshot_cb snapshot, void *ctx, struct rtc_ws_trace **out)
{
	struct rtc_ws_trace *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->ws = ws;
	t->snapshot = snapshot;
	t->snapshot_ctx = ctx;
	t->last_flush_ns = coarse_ns();
	*out = t;
	return 0;
}

void rtc_ws_trace_destroy(struct rtc_ws_trace *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncl; i++) {
		rtc_ws_client_set_user(t->cl[i]->c, NULL);
		rtc_ws_opens_free(&t->cl[i]->opens);
		free(t->cl[i]);
	}
	free(t->cl);
	free(t->flows.slots);
	free(t->items);
	rtc_ws_buf_free(&t->batch);
	rtc_ws_buf_free(&t->one);
	rtc_ws_buf_free(&t->two);
	rtc_ws_buf_free(&t->snap);
	free(t);
}
