/* SPDX-License-Identifier: MIT */
/* Stream processing: per-process names and clocks, threads and their ends, the watermark merge,
 * rebuild, and the summary (the decoding of chunks is processor-decode.c). */
#include "processor-private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ringtrace/ringtrace.h>

#include "rawfile.h"
#include "rebuild.h"

void pr_say(struct rtc_processor *pr, const char *fmt, ...)
{
	va_list ap;

	fputs("ringtrace: ", pr->log);
	va_start(ap, fmt);
	vfprintf(pr->log, fmt, ap);
	va_end(ap);
	fputc('\n', pr->log);
}

static const char *name_of(void *ctx, uint32_t proc, uint32_t id, uint32_t *len)
{
	struct rtc_processor *pr = ctx;
	const struct rtc_name *n = proc < pr->nprocs && pr->procs[proc] ? rtc_name_table_get(&pr->procs[proc]->names, id)
									: NULL;

	if (!n) {
		*len = 9;
		return "<unknown>";
	}
	*len = n->len;
	return n->s;
}

static void emit(void *ctx, const struct rtc_out *o)
{
	struct rtc_processor *pr = ctx;

	rtc_pipeline_event(pr->pipe, o);
}

struct rtc_processor *rtc_processor_create(struct rtc_pipeline *p, FILE *log)
{
	struct rtc_processor *pr = calloc(1, sizeof(*pr));

	if (!pr)
		return NULL;
	pr->pipe = p;
	pr->log = log ? log : stderr;
	pr->merge = rtc_merge_create();
	pr->rb = rtc_rebuild_create(name_of, pr, emit, pr);
	if (!pr->merge || !pr->rb) {
		rtc_processor_destroy(pr);
		errno = ENOMEM;
		return NULL;
	}
	rtc_pipeline_set_snapshot(p, NULL, NULL);
	return pr;
}

void rtc_processor_destroy(struct rtc_processor *pr)
{
	if (!pr)
		return;
	for (uint32_t i = 0; i < pr->nprocs; i++) {
		if (!pr->procs[i])
			continue;
		rtc_name_table_fini(&pr->procs[i]->names);
		rtc_clockmap_fini(&pr->procs[i]->clock);
		free(pr->procs[i]);
	}
	free(pr->procs);
	free(pr->threads);
	free(pr->done);
	free(pr->loss_out);
	rtc_merge_destroy(pr->merge);
	rtc_rebuild_destroy(pr->rb);
	free(pr);
}

static void snapshot(void *ctx, const struct rtc_sink *sink)
{
	struct rtc_processor *pr = ctx;

	if (sink->ops->event)
		rtc_rebuild_snapshot(pr->rb, rtc_merge_emitted_ts(pr->merge), sink->ops->event, sink->ctx);
}

void rtc_processor_begin(struct rtc_processor *pr, const struct rtc_trace_info *info)
{
	rtc_pipeline_set_snapshot(pr->pipe, snapshot, pr);
	rtc_pipeline_begin(pr->pipe, info);
}

void rtc_processor_set_decode(struct rtc_processor *pr, bool decode)
{
	pr->no_decode = !decode;
}

void rtc_processor_set_pause(struct rtc_processor *pr, void (*pause)(void *ctx), void *ctx)
{
	pr->pause = pause;
	pr->pause_ctx = ctx;
}

/* ---- processes and threads ---- */

static struct pproc *proc_at(struct rtc_processor *pr, uint32_t index, bool create)
{
	if (index >= pr->nprocs) {
		uint32_t cap = pr->procs_cap ? pr->procs_cap : 8;
		struct pproc **n;

		/* Process indices are dense (the stream checks): the array is as large as the
		 * processes actually seen. */
		if (!create || index > pr->nprocs || index >= RTC_RAW_MAX_PROCESSES)
			return NULL;
		if (index >= pr->procs_cap) {
			while (cap <= index)
				cap *= 2;
			n = realloc(pr->procs, cap * sizeof(*n));
			if (!n)
				return NULL;
			memset(n + pr->procs_cap, 0, (cap - pr->procs_cap) * sizeof(*n));
			pr->procs = n;
			pr->procs_cap = cap;
		}
		pr->nprocs = index + 1;
	}
	if (!pr->procs[index] && create) {
		pr->procs[index] = calloc(1, sizeof(struct pproc));
		if (pr->procs[index])
			rtc_name_table_init(&pr->procs[index]->names);
	}
	return pr->procs[index];
}

static void on_process(void *ctx, const struct rtc_stream_process *sp)
{
	struct rtc_processor *pr = ctx;
	struct pproc *p = proc_at(pr, sp->index, true);

	if (!p)
		return;
	p->pid = sp->pid;
	p->declared = true;
	p->loss.pid = sp->pid;
	p->coarse_resolution_ns = sp->coarse_resolution_ns;
	if (sp->coarse_resolution_ns > pr->coarse_resolution_ns)
		pr->coarse_resolution_ns = sp->coarse_resolution_ns;
	snprintf(p->name, sizeof(p->name), "%s", sp->name);
	rtc_clockmap_fini(&p->clock); /* declared again: its clock starts afresh */
	rtc_clockmap_init(&p->clock, sp->clock);
	pr->tsc |= sp->clock == RT_SHM_CLOCK_TSC;
	pr->any_clock = true;
	rtc_rebuild_process(pr->rb, sp->index, sp->pid, p->name, sp->parent_pid);
}

static void on_name(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len)
{
	struct rtc_processor *pr = ctx;
	struct pproc *p = proc_at(pr, proc, false);

	if (p)
		rtc_name_table_set(&p->names, id, s, len);
}

static void on_calib(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt)
{
	struct rtc_processor *pr = ctx;
	struct pproc *p = proc_at(pr, proc, false);

	if (p)
		rtc_clockmap_add(&p->clock, pt, 1);
}

static void on_thread(void *ctx, const struct rtc_stream_thread *st)
{
	struct rtc_processor *pr = ctx;
	struct pproc *p = proc_at(pr, st->proc, false);
	struct rtc_thread_meta meta;

	/* Thread indices are dense too (the stream checks). */
	if (!p || st->index > pr->nthreads || st->index >= RTC_RAW_MAX_THREADS)
		return;
	if (st->index >= pr->threads_cap) {
		uint32_t cap = pr->threads_cap ? pr->threads_cap * 2 : 64;
		struct pthread_ *n = realloc(pr->threads, cap * sizeof(*n));

		if (!n)
			return;
		memset(n + pr->threads_cap, 0, (cap - pr->threads_cap) * sizeof(*n));
		pr->threads = n;
		pr->threads_cap = cap;
	}
	if (rtc_merge_thread(pr->merge, st->index, st->proc) < 0)
		return;
	if (st->index == pr->nthreads)
		pr->nthreads++;
	memset(&pr->threads[st->index], 0, sizeof(pr->threads[0]));
	pr->threads[st->index].proc = st->proc;
	pr->threads[st->index].declared = true;
	meta = (struct rtc_thread_meta){ .pid = p->pid, .tid = st->tid, .thread_number = st->thread_number,
					 .proc = st->proc, .attach_ts = st->attach_ts };
	rtc_rebuild_thread(pr->rb, st->index, &meta, st->name);
}

struct pthread_ *pr_thread_at(struct rtc_processor *pr, uint32_t index)
{
	return index < pr->nthreads && pr->threads[index].declared ? &pr->threads[index] : NULL;
}

/* ---- merge, thread ends ---- */

static void rebuild_one(void *ctx, const struct rtc_event *ev)
{
	struct rtc_processor *pr = ctx;

	rtc_rebuild_event(pr->rb, ev);
}

static void notify_done(struct rtc_processor *pr, uint32_t ti)
{
	struct pthread_ *t = pr_thread_at(pr, ti);

	if (t && t->finished && !t->notified && rtc_merge_queued(pr->merge, ti) == 0) {
		rtc_rebuild_thread_done(pr->rb, ti, t->last_ns);
		t->notified = true;
	}
}

/* Rebuild hears that a thread ended once its last events are merged. A finished thread is looked
 * at when its end arrives and when the merge empties its queue, never at every watermark. */
static void finish_threads(struct rtc_processor *pr)
{
	size_t n;
	const uint32_t *drained = rtc_merge_drained(pr->merge, &n);

	for (size_t i = 0; i < n; i++)
		notify_done(pr, drained[i]);
	for (size_t i = 0; i < pr->ndone; i++)
		notify_done(pr, pr->done[i]);
	pr->ndone = 0;
}

static void on_watermark(void *ctx, uint64_t watermark)
{
	struct rtc_processor *pr = ctx;

	rtc_merge_until(pr->merge, watermark, rebuild_one, pr, pr->pause, pr->pause_ctx);
	rtc_rebuild_advance(pr->rb, watermark);
	finish_threads(pr);
	rtc_pipeline_sync(pr->pipe);
}

static void on_thread_done(void *ctx, uint32_t thread, uint64_t ts, uint64_t unreported_lost)
{
	struct rtc_processor *pr = ctx;
	struct pthread_ *t = pr_thread_at(pr, thread);

	(void)ts; /* rebuild closes it at its last record */
	if (!t)
		return;
	if (!t->finished && pr->ndone == pr->done_cap) {
		size_t cap = pr->done_cap ? 2 * pr->done_cap : 64;
		uint32_t *n = realloc(pr->done, cap * sizeof(*n));

		if (!n)
			return;
		pr->done = n;
		pr->done_cap = cap;
	}
	if (!t->finished)
		pr->done[pr->ndone++] = thread;
	t->finished = true;
	t->unreported_lost = unreported_lost;
	if (unreported_lost) {
		/* Dropped after the last LOSS record the producer could write: reported where the
		 * thread's records end, like any other loss, and not before what was merged already. */
		struct rtc_event *ev = rtc_merge_push(pr->merge, thread);

		if (t->last_ns < rtc_merge_emitted_ts(pr->merge))
			t->last_ns = rtc_merge_emitted_ts(pr->merge);
		if (ev) {
			ev->ts = t->last_ns;
			ev->kind = RTC_EV_UNREPORTED;
			ev->u.loss.records = unreported_lost;
		}
	}
}

static void on_task(void *ctx, const struct rtc_stream_task *st)
{
	struct rtc_processor *pr = ctx;
	struct pproc *p = proc_at(pr, st->proc, false);
	uint64_t begin;

	if (!p)
		return;
	begin = !st->begin ? 0 : (st->flags & RT_SHM_STACK_COARSE) ? st->begin : rtc_clockmap_ns(&p->clock, st->begin);
	rtc_rebuild_task_open(pr->rb, st->proc, st->id, st->parent, st->name_id, begin,
			      (st->flags & RT_SHM_STACK_COARSE) ? RTC_F_COARSE_BEGIN : 0, st->tid);
}

static void on_counts(void *ctx, const struct rtc_stream_counts *c)
{
	struct rtc_processor *pr = ctx;
	struct pproc *p = proc_at(pr, c->proc, false);

	if (!p)
		return;
	/* Counters only grow: the newest report holds; what it adds is an event now. */
	if (c->threads_untraced > p->loss.threads_untraced)
		rtc_rebuild_untraced(pr->rb, c->proc, rtc_merge_emitted_ts(pr->merge),
				     c->threads_untraced - p->loss.threads_untraced, "threads-untraced");
	if (c->names_overflowed > p->loss.names_overflowed)
		rtc_rebuild_untraced(pr->rb, c->proc, rtc_merge_emitted_ts(pr->merge),
				     c->names_overflowed - p->loss.names_overflowed, "names-overflowed");
	if (c->tasks_untracked > p->loss.tasks_untracked)
		rtc_rebuild_untraced(pr->rb, c->proc, rtc_merge_emitted_ts(pr->merge),
				     c->tasks_untracked - p->loss.tasks_untracked, "tasks-untracked");
	p->loss.threads_untraced = c->threads_untraced;
	p->loss.names_overflowed = c->names_overflowed;
	p->loss.tasks_untracked = c->tasks_untracked;
	p->loss.stack_overflows = c->stack_overflows;
	p->loss.overwritten = c->overwritten;
}

static void on_gap(void *ctx, const struct rtc_stream_gap *g)
{
	struct rtc_processor *pr = ctx;
	struct pproc *p = proc_at(pr, g->proc, false);

	if (!p)
		return;
	pr->gaps++;
	rtc_rebuild_gap(pr->rb, g->proc, g->from_ns, g->to_ns, g->not_recorded);
}

/* A thread's open spans read from its shared stack: a STACK event after its last record. */
static void on_stack(void *ctx, const struct rtc_stream_stack *st)
{
	struct rtc_processor *pr = ctx;
	struct pthread_ *t = pr_thread_at(pr, st->thread);
	struct rtc_event *ev;

	/* Nothing after the thread's end: its state is final. */
	if (!t || t->finished || st->count > RTC_STACK_MAX || pr->no_decode)
		return;
	ev = rtc_merge_push(pr->merge, st->thread);
	if (!ev)
		return;
	/* Per thread, time never goes back on our timeline. */
	ev->ts = st->ts < t->last_ns ? t->last_ns : st->ts;
	t->last_ns = ev->ts;
	ev->kind = RTC_EV_SHARED_STACK;
	ev->u.stack.current_task = st->current_task;
	ev->u.stack.span_seq = st->span_seq;
	pr_own_stack(ev, st->entries, st->count, pr->procs[t->proc]);
	/* Without its entries (no memory) it would close every open span: `present` 0 drops it. */
	ev->u.stack.present = ev->u.stack.entries.count == st->count
				      ? (1u << RT_RECF_stack_current_task) | (1u << RT_RECF_stack_span_seq) |
						(1u << RT_RECF_stack_entries)
				      : 0;
}

static void on_end(void *ctx, uint64_t end_ns)
{
	struct rtc_processor *pr = ctx;

	pr->end_ns = end_ns;
	pr->ended = true;
}

/* Every message goes to the capture sinks first, then is processed. */
#define TEE(op, ...) rtc_pipeline_stream_ops()->op(((struct rtc_processor *)ctx)->pipe, __VA_ARGS__)

static void t_process(void *ctx, const struct rtc_stream_process *m) { TEE(process, m); on_process(ctx, m); }
static void t_name(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len) { TEE(name, proc, id, s, len); on_name(ctx, proc, id, s, len); }
static void t_calib(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt) { TEE(calib, proc, pt); on_calib(ctx, proc, pt); }
static void t_thread(void *ctx, const struct rtc_stream_thread *m) { TEE(thread, m); on_thread(ctx, m); }
static void t_chunk(void *ctx, const struct rtc_stream_chunk *m) { TEE(chunk, m); pr_on_chunk(ctx, m); }
static void t_watermark(void *ctx, uint64_t ns) { TEE(watermark, ns); on_watermark(ctx, ns); }
static void t_thread_done(void *ctx, uint32_t t, uint64_t ts, uint64_t lost) { TEE(thread_done, t, ts, lost); on_thread_done(ctx, t, ts, lost); }
static void t_task(void *ctx, const struct rtc_stream_task *m) { TEE(task, m); on_task(ctx, m); }
static void t_counts(void *ctx, const struct rtc_stream_counts *m) { TEE(counts, m); on_counts(ctx, m); }
static void t_gap(void *ctx, const struct rtc_stream_gap *m) { TEE(gap, m); on_gap(ctx, m); }
static void t_stack(void *ctx, const struct rtc_stream_stack *m) { TEE(stack, m); on_stack(ctx, m); }
static void t_end(void *ctx, uint64_t ns) { TEE(end, ns); on_end(ctx, ns); }

static const struct rtc_stream_ops processor_ops = {
	.process = t_process,
	.name = t_name,
	.calib = t_calib,
	.thread = t_thread,
	.chunk = t_chunk,
	.watermark = t_watermark,
	.thread_done = t_thread_done,
	.task = t_task,
	.counts = t_counts,
	.gap = t_gap,
	.stack = t_stack,
	.end = t_end,
};

const struct rtc_stream_ops *rtc_processor_ops(void)
{
	return &processor_ops;
}

/* ---- the end ---- */

void rtc_processor_finish(struct rtc_processor *pr, uint64_t end_ns, struct rtc_summary *s)
{
	struct rtc_rebuild_counts c;
	uint32_t np = 0;

	rtc_merge_until(pr->merge, UINT64_MAX, rebuild_one, pr, NULL, NULL);
	finish_threads(pr);
	if (!end_ns)
		end_ns = pr->end_ns ? pr->end_ns : rtc_merge_emitted_ts(pr->merge);
	rtc_rebuild_finish(pr->rb, end_ns);
	rtc_rebuild_counts(pr->rb, &c);
	free(pr->loss_out);
	pr->loss_out = calloc(pr->nprocs ? pr->nprocs : 1, sizeof(*pr->loss_out));
	for (uint32_t i = 0; i < pr->nprocs && pr->loss_out; i++) {
		if (pr->procs[i] && pr->procs[i]->declared) {
			s->processes++;
			pr->loss_out[np++] = pr->procs[i]->loss;
		}
	}
	s->end_ns = end_ns;
	s->records = c.records;
	s->resync_records = c.resync_records;
	s->bytes = pr->bytes;
	s->threads = c.threads;
	s->spans = c.spans;
	s->spans_incomplete = c.spans_incomplete;
	s->spans_repaired = c.spans_repaired;
	s->spans_before_attach = c.spans_before_attach;
	s->spans_begin_unknown = c.spans_begin_unknown;
	s->spans_too_deep = c.depth_overflows;
	s->tasks = c.tasks;
	s->tasks_incomplete = c.tasks_incomplete;
	s->tasks_begin_unknown = c.tasks_begin_unknown;
	s->logs = c.logs;
	s->flows = c.flows;
	s->unmatched_ends = c.unmatched_ends;
	s->misuse = c.misuse;
	s->lost = c.lost;
	s->late_records = rtc_merge_late(pr->merge);
	s->gaps = pr->gaps;
	s->clock = rtc_processor_clock(pr);
	s->coarse_resolution_ns = pr->coarse_resolution_ns;
	rtc_rebuild_thread_loss(pr->rb, &s->thread_loss, &s->nthread_loss);
	s->process_loss = pr->loss_out;
	s->nprocess_loss = pr->loss_out ? np : 0;
	rtc_pipeline_end(pr->pipe, s);
}

uint64_t rtc_processor_records(const struct rtc_processor *pr)
{
	return atomic_load_explicit(&((struct rtc_processor *)pr)->records, memory_order_relaxed);
}

uint64_t rtc_processor_end_ns(const struct rtc_processor *pr)
{
	return pr->end_ns;
}

bool rtc_processor_ended(const struct rtc_processor *pr)
{
	return pr->ended;
}

const char *rtc_processor_clock(const struct rtc_processor *pr)
{
	return !pr->any_clock ? "none" : pr->tsc ? "tsc" : "monotonic";
}
