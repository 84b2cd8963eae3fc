/* SPDX-License-Identifier: MIT */
/* The consumer engine: the processing side (decode, watermark merge, rebuild, sinks) fed by a raw
 * capture or, live, by the stream of rtc_live through a queue (docs/consumer.md). */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include <ringtrace/ringtrace.h>

#include "chrome.h"
#include "clockmap.h"
#include "live.h"
#include "rawfile.h"
#include "record.h"
#include "stats.h"
#include "stream-queue.h"

#define DEFAULT_MAX_BACKLOG (512u << 20)
/* Processing and writing lag behind into memory without harm; draining late loses records. So the
 * threads that process and write yield the CPU to the draining thread (and to the traced program,
 * in-process) whenever it wants it. */
#define BACKGROUND_NICE 10

/* Everything below is touched only by the thread processing the stream, except where noted. */
struct eproc {
	uint32_t index;
	pid_t pid;
	bool gone; /* an index no process message filled */
	struct rtc_clockmap clock;
	char **names;
	uint32_t names_cap;
	char name[RT_SHM_PROCESS_NAME_LEN + 1];
};

struct ethread {
	uint32_t proc;
	uint64_t thread_number;
	uint32_t tid;
	bool finished; /* no more records will come */
	bool notified; /* rebuild told the thread is done */
	struct rtc_event *q; /* FIFO of decoded, not yet merged events */
	size_t qhead, qlen, qcap;
	uint64_t order;
	uint64_t last_ts; /* ns of its newest decoded record */
	uint64_t unreported_lost; /* from its thread-done message */
};

struct rtc_engine {
	struct rtc_engine_options o;
	FILE *log;
	/* Live: drained by the thread in rtc_engine_run(), processed by e->processor. */
	struct rtc_live *live;
	struct rtc_stream_queue *queue;
	pthread_t processor;
	_Atomic int input_done; /* release: every message is queued */
	bool ended;             /* the end message was processed */
	struct eproc **procs;
	size_t nprocs, procs_cap;
	struct ethread *threads;
	size_t nthreads, threads_cap;
	int32_t *thread_map; /* stream thread index -> engine thread index */
	size_t map_cap;
	bool decode;         /* decode chunks (not a raw-to-raw copy) */
	bool live_run;          /* rtc_engine_run(), not convert */
	bool yielding;          /* live: step aside when the draining thread is overdue */
	uint64_t yield_after_ns;
	struct rtc_decoder dec;
	struct rtc_rebuild *rb;
	struct rtc_chrome *json;
	struct rtc_stats *stats;
	struct rtc_raw_writer *raw;
	uint32_t *heap; /* thread indices with queued events */
	size_t heap_len, heap_cap;
	uint64_t emitted_ts;
	uint64_t late;
	uint64_t origin_ns;
	uint64_t start_ns, end_ns;
	uint64_t bytes;
	size_t backlog_peak; /* bytes queued for processing, most seen (drainer's thread) */
	const char *clock;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void say(struct rtc_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct rtc_engine *e, const char *fmt, ...)
{
	va_list ap;

	fputs("ringtrace: ", e->log);
	va_start(ap, fmt);
	vfprintf(e->log, fmt, ap);
	va_end(ap);
	fputc('\n', e->log);
}

static const char *name_of(void *ctx, uint32_t proc, uint32_t id)
{
	struct rtc_engine *e = ctx;
	struct eproc *p;

	if (proc >= e->nprocs)
		return "<unknown>";
	p = e->procs[proc];
	return id < p->names_cap && p->names[id] ? p->names[id] : "<unknown>";
}

static size_t backlog_bytes(void *ctx)
{
	return rtc_stream_queue_bytes(ctx);
}

/* ---- creation ---- */

struct rtc_engine *rtc_engine_create(const struct rtc_engine_options *o)
{
	struct rtc_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->o = *o;
	if (!e->o.poll_us)
		e->o.poll_us = 1000;
	if (!e->o.max_backlog)
		e->o.max_backlog = DEFAULT_MAX_BACKLOG;
	e->yield_after_ns = 4000ull * e->o.poll_us;
	e->log = o->log ? o->log : stderr;
	e->clock = "capture";
	e->rb = rtc_rebuild_create(name_of, e);
	e->stats = rtc_stats_create();
	e->queue = rtc_stream_queue_create();
	if (e->queue) {
		struct rtc_live_options lo = { .all = o->all, .status = o->status, .self = o->self, .log = e->log,
					       .backlog = backlog_bytes, .backlog_ctx = e->queue };

		e->live = rtc_live_create(&lo, rtc_stream_queue_input(e->queue));
	}
	if (!e->rb || !e->stats || !e->live) {
		rtc_engine_destroy(e);
		return NULL;
	}
	rtc_rebuild_add_sink(e->rb, rtc_stats_sink(e->stats));
	e->start_ns = mono_ns();
	return e;
}

static void free_proc(struct eproc *p)
{
	for (uint32_t i = 0; i < p->names_cap; i++)
		free(p->names[i]);
	free(p->names);
	free(p);
}

void rtc_engine_destroy(struct rtc_engine *e)
{
	if (!e)
		return;
	rtc_live_destroy(e->live);
	rtc_stream_queue_destroy(e->queue);
	for (size_t i = 0; i < e->nthreads; i++) {
		struct ethread *t = &e->threads[i];

		for (size_t k = 0; k < t->qlen; k++) {
			struct rtc_event *ev = &t->q[(t->qhead + k) & (t->qcap - 1)];

			free(ev->str);
			free(ev->stack);
		}
		free(t->q);
	}
	free(e->threads);
	free(e->thread_map);
	for (size_t i = 0; i < e->nprocs; i++)
		free_proc(e->procs[i]);
	free(e->procs);
	free(e->heap);
	rtc_rebuild_destroy(e->rb);
	rtc_stats_destroy(e->stats);
	free(e);
}

int rtc_engine_attach(struct rtc_engine *e, pid_t pid)
{
	return rtc_live_attach(e->live, pid);
}

void rtc_engine_expect(struct rtc_engine *e, pid_t pid)
{
	rtc_live_expect(e->live, pid);
}

/* ---- processes and threads ---- */

static struct eproc *new_proc(struct rtc_engine *e)
{
	struct eproc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (e->nprocs == e->procs_cap) {
		size_t cap = e->procs_cap ? e->procs_cap * 2 : 8;
		struct eproc **n = realloc(e->procs, cap * sizeof(*n));

		if (!n) {
			free(p);
			return NULL;
		}
		e->procs = n;
		e->procs_cap = cap;
	}
	p->index = (uint32_t)e->nprocs;
	p->gone = true;
	e->procs[e->nprocs++] = p;
	return p;
}

static int new_thread(struct rtc_engine *e, uint32_t proc, uint64_t thread_number, uint32_t tid)
{
	struct ethread *t;

	if (e->nthreads == e->threads_cap) {
		size_t cap = e->threads_cap ? e->threads_cap * 2 : 64;
		struct ethread *n = realloc(e->threads, cap * sizeof(*n));

		if (!n)
			return -1;
		e->threads = n;
		e->threads_cap = cap;
	}
	t = &e->threads[e->nthreads];
	memset(t, 0, sizeof(*t));
	t->proc = proc;
	t->thread_number = thread_number;
	t->tid = tid;
	return (int)e->nthreads++;
}

/* ---- queues and merge ---- */

static struct rtc_event *enqueue(struct ethread *t)
{
	struct rtc_event *ev;

	if (t->qlen == t->qcap) {
		/* realloc() of a large block moves pages (mremap) instead of copying them and faulting
		 * in fresh ones; then only the wrapped part of the ring is moved up. */
		size_t old = t->qcap, cap = old ? old * 2 : 4096;
		struct rtc_event *n = realloc(t->q, cap * sizeof(*n));

		if (!n)
			return NULL;
		if (t->qhead + t->qlen > old)
			memcpy(n + old, n, (t->qhead + t->qlen - old) * sizeof(*n));
		t->q = n;
		t->qcap = cap;
	}
	/* qcap is a power of two. */
	ev = &t->q[(t->qhead + t->qlen) & (t->qcap - 1)];
	t->qlen++;
	return ev;
}

static bool before(struct rtc_engine *e, uint32_t a, uint32_t b)
{
	const struct ethread *x = &e->threads[a], *y = &e->threads[b];
	const struct rtc_event *ex = &x->q[x->qhead], *ey = &y->q[y->qhead];

	if (ex->ts != ey->ts)
		return ex->ts < ey->ts;
	/* Deterministic ties: process index, then thread index, then arrival. */
	if (x->proc != y->proc)
		return x->proc < y->proc;
	return a < b;
}

static void heap_push(struct rtc_engine *e, uint32_t t)
{
	size_t i;

	if (e->heap_len == e->heap_cap) {
		size_t cap = e->heap_cap ? e->heap_cap * 2 : 64;
		uint32_t *n = realloc(e->heap, cap * sizeof(*n));

		if (!n)
			return;
		e->heap = n;
		e->heap_cap = cap;
	}
	i = e->heap_len++;
	e->heap[i] = t;
	while (i > 0 && before(e, e->heap[i], e->heap[(i - 1) / 2])) {
		uint32_t tmp = e->heap[i];

		e->heap[i] = e->heap[(i - 1) / 2];
		e->heap[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
}

static uint32_t heap_pop(struct rtc_engine *e)
{
	uint32_t top = e->heap[0];
	size_t i = 0;

	e->heap[0] = e->heap[--e->heap_len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < e->heap_len && before(e, e->heap[l], e->heap[m]))
			m = l;
		if (r < e->heap_len && before(e, e->heap[r], e->heap[m]))
			m = r;
		if (m == i)
			break;
		uint32_t tmp = e->heap[i];
		e->heap[i] = e->heap[m];
		e->heap[m] = tmp;
		i = m;
	}
	return top;
}

/* Emit every queued event with ts <= watermark, in timestamp order. */
/* The scheduler does not always preempt this thread when the draining thread wakes up (seen: 30
 * ms on a 2-vCPU VM, a whole 1 MiB ring at 5 M spans/s). So it steps aside itself, at points
 * where that is cheap, whenever the drainer's last poll is overdue. */
static void yield_to_drain(struct rtc_engine *e)
{
	uint64_t last;

	if (!e->yielding)
		return;
	last = rtc_live_last_poll(e->live);
	if (last && mono_ns() - last > e->yield_after_ns)
		sched_yield();
}

static void merge(struct rtc_engine *e, uint64_t watermark)
{
	unsigned n = 0;

	e->heap_len = 0;
	for (uint32_t i = 0; i < e->nthreads; i++)
		if (e->threads[i].qlen)
			heap_push(e, i);
	while (e->heap_len) {
		uint32_t ti = e->heap[0];
		struct ethread *t = &e->threads[ti];
		struct rtc_event *ev = &t->q[t->qhead];

		if (ev->ts > watermark)
			break;
		heap_pop(e);
		if (++n % 4096 == 0)
			yield_to_drain(e);
		if (ev->ts < e->emitted_ts)
			e->late++; /* committed after the watermark passed it: still emitted, in thread order */
		else
			e->emitted_ts = ev->ts;
		rtc_rebuild_event(e->rb, ev);
		free(ev->str);
		free(ev->stack);
		t->qhead = (t->qhead + 1) & (t->qcap - 1);
		t->qlen--;
		if (t->qlen)
			heap_push(e, ti);
	}
}

/* ---- decoding ---- */

static void decode_chunk(struct rtc_engine *e, uint32_t ti, struct eproc *p, const uint8_t *data, size_t len,
			 uint64_t base_raw, uint64_t lost_before, uint64_t lost_first_raw)
{
	struct ethread *t = &e->threads[ti];
	struct rtc_record rec;
	int ret;

	if (lost_before) {
		struct rtc_event *ev = enqueue(t);

		if (ev) {
			memset(ev, 0, sizeof(*ev));
			ev->ts = rtc_clockmap_ns(&p->clock, lost_first_raw);
			if (ev->ts < t->last_ts)
				ev->ts = t->last_ts;
			ev->kind = RTC_EV_GAP;
			ev->u.loss.records = lost_before;
			ev->thread = ti;
			ev->order = t->order++;
		}
	}
	rtc_decoder_reset(&e->dec, data, len, base_raw);
	while ((ret = rtc_decoder_next(&e->dec, &rec)) > 0) {
		struct rtc_event *ev = enqueue(t);
		uint64_t prev_ts = t->last_ts;

		if (!ev)
			break;
		ev->ts = rtc_clockmap_ns(&p->clock, rec.ts);
		/* Per thread, time never goes back on our timeline (calibration updates). */
		if (ev->ts < t->last_ts)
			ev->ts = t->last_ts;
		t->last_ts = ev->ts;
		ev->order = t->order++;
		ev->thread = ti;
		ev->kind = rec.kind;
		ev->u = rec.u;
		ev->str = NULL;
		ev->stack = NULL;
		if (rec.kind == RT_REC_LOSS) {
			/* The first drop came after the thread's previous record and before this one,
			 * whatever calibration points arrived between their chunks. */
			uint64_t first = rec.u.loss.first_ts ? rtc_clockmap_ns(&p->clock, rec.u.loss.first_ts) : ev->ts;

			if (first < prev_ts)
				first = prev_ts;
			ev->u.loss.first_ts = first > ev->ts ? ev->ts : first;
		}
		{
			struct rt_rec_str *s = rec.kind == RT_REC_THREAD_NAME ? &ev->u.thread_name.name
					       : rec.kind == RT_REC_LOG       ? &ev->u.log.message
					       : rec.kind == RT_REC_THREAD_START ? &ev->u.thread_start.name
										: NULL;

			if (s) {
				ev->str = malloc((size_t)s->len + 1);
				if (ev->str) {
					memcpy(ev->str, s->ptr, s->len);
					ev->str[s->len] = 0;
					s->ptr = ev->str;
				} else {
					s->ptr = "";
					s->len = 0;
				}
			}
		}
		if (rec.kind == RT_REC_STACK) {
			uint32_t n = rec.u.stack.entries.count;

			ev->stack = n ? malloc(n * sizeof(*ev->stack)) : NULL;
			if (!ev->stack)
				n = 0;
			for (uint32_t k = 0; k < n; k++) {
				ev->stack[k] = rec.stack[k];
				ev->stack[k].begin_ts = rec.stack[k].begin_ts ? rtc_clockmap_ns(&p->clock, rec.stack[k].begin_ts) : 0;
			}
			ev->u.stack.entries.entries = ev->stack;
			ev->u.stack.entries.count = n;
		}
	}
	if (ret < 0)
		say(e, "pid %d thread %" PRIu64 ": malformed record, rest of its chunk skipped", (int)p->pid,
		    t->thread_number);
}

/* ---- the stream: processes, names, calibration, threads, chunks, watermarks ---- */

static void finish_threads(struct rtc_engine *e)
{
	for (uint32_t ti = 0; ti < e->nthreads; ti++) {
		struct ethread *t = &e->threads[ti];

		if (t->finished && !t->notified && t->qlen == 0) {
			rtc_rebuild_thread_done(e->rb, ti, t->last_ts);
			if (e->raw)
				rtc_raw_write_thread_done(e->raw, ti, t->last_ts, t->unreported_lost);
			t->notified = true;
		}
	}
}

static int map_thread(struct rtc_engine *e, uint32_t idx)
{
	return idx < e->map_cap ? e->thread_map[idx] : -1;
}

static void on_process(void *ctx, const struct rtc_raw_process *rp)
{
	struct rtc_engine *e = ctx;
	struct eproc *p;

	if (rp->index > (1u << 20))
		return;
	while (e->nprocs <= rp->index)
		if (!new_proc(e))
			return;
	p = e->procs[rp->index];
	p->pid = (pid_t)rp->pid;
	p->gone = false;
	snprintf(p->name, sizeof(p->name), "%s", rp->name);
	rtc_clockmap_init(&p->clock, rp->clock);
	rtc_rebuild_process(e->rb, p->index, rp->pid, p->name);
	if (e->raw)
		rtc_raw_write_process(e->raw, rp->index, rp->pid, p->name, rp->clock, rp->mode, rp->start_real_ns,
				      rp->start_mono_ns, rp->parent_pid);
}

static void on_name(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len)
{
	struct rtc_engine *e = ctx;
	struct eproc *p;

	if (proc >= e->nprocs || id > (1u << 24))
		return;
	p = e->procs[proc];
	if (id >= p->names_cap) {
		uint32_t cap = p->names_cap ? p->names_cap : 64;
		char **n;

		while (cap <= id)
			cap *= 2;
		n = realloc(p->names, cap * sizeof(*n));
		if (!n)
			return;
		memset(n + p->names_cap, 0, (cap - p->names_cap) * sizeof(*n));
		p->names = n;
		p->names_cap = cap;
	}
	free(p->names[id]);
	p->names[id] = strndup(s, len);
	if (e->raw && p->names[id])
		rtc_raw_write_name(e->raw, proc, id, p->names[id]);
}

static void on_calib(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt)
{
	struct rtc_engine *e = ctx;

	if (proc < e->nprocs)
		rtc_clockmap_add(&e->procs[proc]->clock, pt, 1);
	if (e->raw)
		rtc_raw_write_calib(e->raw, proc, pt);
}

static void on_thread(void *ctx, const struct rtc_raw_thread *rt)
{
	struct rtc_engine *e = ctx;
	struct rtc_thread_meta meta;
	int ti;

	if (rt->proc >= e->nprocs || rt->index > (1u << 20))
		return;
	if (rt->index >= e->map_cap) {
		size_t cap = e->map_cap ? e->map_cap : 64;
		int32_t *n;

		while (cap <= rt->index)
			cap *= 2;
		n = realloc(e->thread_map, cap * sizeof(*n));
		if (!n)
			return;
		for (size_t i = e->map_cap; i < cap; i++)
			n[i] = -1;
		e->thread_map = n;
		e->map_cap = cap;
	}
	ti = new_thread(e, rt->proc, rt->thread_number, rt->tid);
	if (ti < 0)
		return;
	e->thread_map[rt->index] = ti;
	if (e->raw)
		rtc_raw_write_thread(e->raw, rt->proc, (uint32_t)ti, rt->thread_number, rt->tid, rt->name, rt->attach_ts);
	meta = (struct rtc_thread_meta){ .pid = e->procs[rt->proc]->pid, .tid = rt->tid,
					 .thread_number = rt->thread_number, .proc = rt->proc,
					 .attach_ts = rt->attach_ts };
	rtc_rebuild_thread(e->rb, (uint32_t)ti, &meta, rt->name);
}

static void on_chunk(void *ctx, uint32_t thread, uint64_t base_ts, uint64_t lost_before, uint64_t lost_first_ts,
		     const uint8_t *data, size_t len)
{
	struct rtc_engine *e = ctx;
	int ti = map_thread(e, thread);

	if (ti < 0)
		return;
	e->bytes += len;
	if (e->raw)
		rtc_raw_write_chunk(e->raw, (uint32_t)ti, base_ts, lost_before, lost_first_ts, data, len);
	if (!e->decode)
		return; /* a raw re-capture only copies */
	yield_to_drain(e);
	decode_chunk(e, (uint32_t)ti, e->procs[e->threads[ti].proc], data, len, base_ts, lost_before,
		     lost_first_ts);
}

static void on_watermark(void *ctx, uint64_t watermark)
{
	struct rtc_engine *e = ctx;

	merge(e, watermark);
	finish_threads(e);
	if (e->raw)
		rtc_raw_write_watermark(e->raw, watermark);
}

static void on_thread_done(void *ctx, uint32_t thread, uint64_t ts, uint64_t unreported_lost)
{
	struct rtc_engine *e = ctx;
	int ti = map_thread(e, thread);
	struct ethread *t;

	(void)ts; /* rebuild closes it at its last record; the capture gets that from finish_threads() */
	if (ti < 0)
		return;
	t = &e->threads[ti];
	t->finished = true;
	t->unreported_lost = unreported_lost;
	if (unreported_lost) {
		/* Dropped after the last LOSS record the producer could write: reported where the
		 * thread's records end, like any other loss. */
		struct rtc_event *ev = enqueue(t);

		/* Not before what was merged already (it is not a late record), and the thread ends
		 * with it. */
		if (t->last_ts < e->emitted_ts)
			t->last_ts = e->emitted_ts;
		if (ev) {
			memset(ev, 0, sizeof(*ev));
			ev->ts = t->last_ts;
			ev->order = t->order++;
			ev->thread = (uint32_t)ti;
			ev->kind = RTC_EV_UNREPORTED;
			ev->u.loss.records = unreported_lost;
		}
	}
}

static void on_end(void *ctx, uint64_t end_ns)
{
	struct rtc_engine *e = ctx;

	e->end_ns = end_ns;
	e->ended = true;
	if (e->raw)
		rtc_raw_write_end(e->raw, end_ns);
}


/* ---- outputs ---- */

static int open_outputs(struct rtc_engine *e, uint64_t origin)
{
	if (e->o.json_path && !e->json) {
		e->json = rtc_chrome_open(e->o.json_path, origin);
		if (!e->json) {
			say(e, "cannot write %s: %s", e->o.json_path, strerror(errno));
			return -errno;
		}
		rtc_rebuild_add_sink(e->rb, rtc_chrome_sink(e->json));
	}
	return 0;
}

static void lost_other(void *ctx, const struct rtc_thread_meta *m, uint64_t lost)
{
	char key[64];

	snprintf(key, sizeof(key), "lost.%u.%u", m->pid, m->tid);
	rtc_chrome_other_u64(ctx, key, lost);
}

static int close_outputs(struct rtc_engine *e)
{
	struct rtc_rebuild_counts c;
	char host[256] = "";
	int err = 0;

	rtc_rebuild_counts(e->rb, &c);
	if (e->json) {
		gethostname(host, sizeof(host) - 1);
		rtc_chrome_other(e->json, "host", host);
		rtc_chrome_other(e->json, "clock", e->clock);
		rtc_chrome_other(e->json, "tool", "ringtrace " RT_VERSION_STRING);
		rtc_chrome_other_u64(e->json, "origin_monotonic_ns", e->origin_ns);
		rtc_chrome_other_u64(e->json, "attach_us", e->start_ns > e->origin_ns ? (e->start_ns - e->origin_ns) / 1000 : 0);
		rtc_chrome_other_u64(e->json, "records", c.records);
		rtc_chrome_other_u64(e->json, "lost_records", c.lost);
		rtc_chrome_other_u64(e->json, "spans", c.spans);
		rtc_chrome_other_u64(e->json, "spans_incomplete", c.spans_incomplete);
		rtc_chrome_other_u64(e->json, "spans_repaired", c.spans_repaired);
		rtc_chrome_other_u64(e->json, "tasks", c.tasks);
		rtc_chrome_other_u64(e->json, "late_records", e->late);
		if (e->live_run)
			rtc_chrome_other_u64(e->json, "backlog_peak_bytes", e->backlog_peak);
		rtc_rebuild_each_loss(e->rb, lost_other, e->json);
		err = rtc_chrome_close(e->json);
		e->json = NULL;
		if (err < 0)
			say(e, "writing %s failed: %s", e->o.json_path, strerror(-err));
	}
	if (e->raw) {
		int rerr = rtc_raw_writer_close(e->raw);

		e->raw = NULL;
		if (rerr < 0) {
			say(e, "writing %s failed: %s", e->o.raw_path, strerror(-rerr));
			err = err ? err : rerr;
		}
	}
	return err;
}

static const struct rtc_raw_callbacks stream_callbacks = {
	.process = on_process, .name = on_name, .calib = on_calib, .thread = on_thread, .chunk = on_chunk,
	.watermark = on_watermark, .thread_done = on_thread_done, .end = on_end,
};

/* ---- live ---- */

static void background_thread(void)
{
	/* Only this thread: Linux keeps a nice value per thread. Failure leaves it as it was. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), BACKGROUND_NICE);
}

/* The processing thread: decode, merge, rebuild and write what the draining thread queued. */
static void *processor(void *arg)
{
	struct rtc_engine *e = arg;
	struct rtc_raw_callbacks cb = stream_callbacks;

	cb.ctx = e;
	background_thread();
	e->yielding = true;
	while (!e->ended) {
		/* Acquire pairs with the release after the last message was queued: then one more
		 * delivery takes everything. */
		bool done = atomic_load_explicit(&e->input_done, memory_order_acquire);

		rtc_stream_queue_deliver(e->queue, &cb, done ? 0 : 100);
		if (done)
			break;
	}
	return NULL;
}

/* Sampled right after each poll queued what it read: the observed peak of output lag. */
static void note_backlog(struct rtc_engine *e)
{
	size_t b = rtc_stream_queue_bytes(e->queue);

	if (b > e->backlog_peak)
		e->backlog_peak = b;
}

int rtc_engine_run(struct rtc_engine *e, atomic_int *stop)
{
	uint64_t deadline = e->o.duration > 0 ? e->start_ns + (uint64_t)(e->o.duration * 1e9) : UINT64_MAX;
	struct rtc_live_counts lc;
	bool behind_said = false;
	int err;

	urcu_memb_register_thread();
	e->origin_ns = rtc_live_origin(e->live);
	if (!e->origin_ns)
		e->origin_ns = e->start_ns;
	e->decode = true; /* live, the summary and statistics are always computed */
	e->live_run = true;
	err = open_outputs(e, e->origin_ns);
	if (err == 0 && e->o.raw_path) {
		e->raw = rtc_raw_writer_open(e->o.raw_path, e->origin_ns);
		if (!e->raw) {
			err = -errno;
			say(e, "cannot write %s: %s", e->o.raw_path, strerror(errno));
		}
	}
	if (err == 0) {
		err = -pthread_create(&e->processor, NULL, processor, e);
		if (err < 0)
			say(e, "cannot start the processing thread: %s", strerror(-err));
	}
	if (err < 0) {
		urcu_memb_unregister_thread();
		return err;
	}
	rtc_live_start(e->live);
	for (;;) {
		/* Back-pressure: while too much read is still waiting to be written, leave the
		 * records in the rings (where loss is counted exactly) instead of growing memory. */
		bool room = rtc_stream_queue_bytes(e->queue) < e->o.max_backlog;
		struct rtc_live_poll res;

		if (!room && !behind_said) {
			say(e, "writing is %zu MB behind reading (--max-backlog): reading pauses, rings may fill",
			    e->o.max_backlog >> 20);
			behind_said = true;
		}
		rtc_live_poll(e->live, room, &res);
		rtc_stream_queue_wake(e->queue);
		note_backlog(e);
		if ((stop && atomic_load_explicit(stop, memory_order_relaxed)) || res.now >= deadline ||
		    (e->o.until_exit && !res.attached))
			break;
		if (res.backlog && room)
			continue; /* behind: poll again at once */
		usleep(e->o.poll_us);
	}
	/* Final drain: everything committed until now, then close everything at the end time. */
	for (int i = 0; i < 1000; i++) {
		struct rtc_live_poll res;

		rtc_live_poll(e->live, true, &res);
		rtc_stream_queue_wake(e->queue);
		note_backlog(e);
		if (!res.backlog)
			break;
	}
	rtc_live_finish(e->live, mono_ns());
	if (rtc_stream_queue_bytes(e->queue) >= (64u << 20))
		say(e, "reading stopped; writing the %zu MB of records still queued", rtc_stream_queue_bytes(e->queue) >> 20);
	/* Release: pairs with the processing thread's acquire; every message is queued. */
	atomic_store_explicit(&e->input_done, 1, memory_order_release);
	rtc_stream_queue_wake(e->queue);
	pthread_join(e->processor, NULL);
	/* Unregistered by the thread that registered (destroy may run elsewhere). */
	urcu_memb_unregister_thread();
	if (rtc_stream_queue_failed(e->queue))
		say(e, "out of memory: %" PRIu64 " pieces of the recording could not be kept",
		    rtc_stream_queue_failed(e->queue));
	rtc_live_counts(e->live, &lc);
	e->clock = lc.clock;
	merge(e, UINT64_MAX);
	finish_threads(e);
	rtc_rebuild_finish(e->rb, e->end_ns);
	return close_outputs(e);
}

/* ---- replay ---- */

int rtc_engine_convert(struct rtc_engine *e, const char *raw_path)
{
	struct rtc_raw_callbacks cb = stream_callbacks;
	uint64_t origin = 0;
	int err;

	cb.ctx = e;
	err = rtc_raw_read_header(raw_path, &origin);
	if (err < 0) {
		say(e, "%s: %s", raw_path, err == -RT_EBADMAGIC ? "not a ringtrace raw capture" : rt_strerror(err));
		return err;
	}
	e->origin_ns = origin;
	err = open_outputs(e, origin);
	if (err < 0)
		return err;
	e->decode = e->json != NULL;
	if (e->o.raw_path) {
		e->raw = rtc_raw_writer_open(e->o.raw_path, origin);
		if (!e->raw) {
			say(e, "cannot write %s: %s", e->o.raw_path, strerror(errno));
			return -errno;
		}
	}
	err = rtc_raw_read(raw_path, &cb);
	if (err < 0)
		say(e, "%s: %s; what was read is converted", raw_path,
		    err == -RT_ECORRUPT ? "corrupt or truncated capture" : rt_strerror(err));
	merge(e, UINT64_MAX);
	finish_threads(e);
	rtc_rebuild_finish(e->rb, e->end_ns ? e->end_ns : e->emitted_ts);
	{
		int cerr = close_outputs(e);

		return err < 0 ? err : cerr;
	}
}

/* ---- reporting ---- */

void rtc_engine_summary(const struct rtc_engine *e, struct rtc_engine_summary *s)
{
	memset(s, 0, sizeof(*s));
	rtc_rebuild_counts(e->rb, &s->rb);
	for (size_t i = 0; i < e->nprocs; i++)
		if (!e->procs[i]->gone)
			s->processes++;
	s->threads = s->rb.threads;
	s->bytes = e->bytes;
	s->late = e->late;
	s->backlog_peak = e->backlog_peak;
	s->seconds = (double)((e->end_ns ? e->end_ns : mono_ns()) - e->start_ns) / 1e9;
}

void rtc_engine_report(const struct rtc_engine *e, FILE *f)
{
	struct rtc_engine_summary s;

	rtc_engine_summary(e, &s);
	fprintf(f,
		"recorded %.1f s: %" PRIu64 " records (%.1f MB), %" PRIu64 " spans (%" PRIu64 " incomplete, %" PRIu64
		" repaired, %" PRIu64 " begun before attach), %" PRIu64 " tasks, %" PRIu64 " logs, %" PRIu64
		" threads in %" PRIu64 " process(es), %" PRIu64 " records lost, %" PRIu64 " misuse reports\n",
		s.seconds, s.rb.records, (double)s.bytes / 1e6, s.rb.spans, s.rb.spans_incomplete, s.rb.spans_repaired,
		s.rb.spans_before_attach + s.rb.spans_begin_unknown, s.rb.tasks, s.rb.logs, s.threads, s.processes,
		s.rb.lost, s.rb.misuse);
	if (e->live_run)
		fprintf(f, "output was at most %.1f MB of records behind reading\n", (double)s.backlog_peak / 1e6);
	fputc('\n', f);
	rtc_stats_print(e->stats, f, 20);
}
