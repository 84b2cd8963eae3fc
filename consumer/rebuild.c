/* SPDX-License-Identifier: MIT */
/* Span reconstruction over the merged record stream, per thread (docs/consumer.md "Rebuild"); tasks
 * are in rebuild-tasks.c, hand-offs in rebuild-flows.c. Every step costs at most O(log depth). */
#include "rebuild-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringtrace/shm-format.h>

#include "keyed-hash.h"

struct rtc_rebuild *rtc_rebuild_create(const char *(*names)(void *ctx, uint32_t proc, uint32_t id, uint32_t *len),
				       void *names_ctx, void (*emit)(void *ctx, const struct rtc_out *ev), void *emit_ctx)
{
	struct rtc_rebuild *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->names = names;
	r->names_ctx = names_ctx;
	r->emit = emit;
	r->emit_ctx = emit_ctx;
	r->seed = rtc_hash_seed();
	r->task_cap = 1024;
	r->tasks = calloc(r->task_cap, sizeof(*r->tasks));
	if (!r->tasks) {
		free(r);
		return NULL;
	}
	return r;
}

void rtc_rebuild_destroy(struct rtc_rebuild *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nthreads; i++)
		free(r->threads[i].stack);
	rb_index_fini(r);
	free(r->threads);
	free(r->procs);
	free(r->tasks);
	free(r->held);
	free(r->loss_out);
	free(r);
}

int rb_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (!p)
		return -1;
	memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
	*arr = p;
	*cap = n;
	return 0;
}

struct tstate *rb_thread(struct rtc_rebuild *r, uint32_t idx)
{
	if (idx >= r->nthreads) {
		size_t cap = r->nthreads;

		if (rb_grow((void **)&r->threads, &cap, (size_t)idx + 1, sizeof(*r->threads)) < 0)
			return NULL;
		r->nthreads = cap;
	}
	return &r->threads[idx];
}

static struct rtc_out process_event(const struct proc *p)
{
	return (struct rtc_out){ .kind = RTC_OUT_PROCESS, .pid = p->pid, .tid = p->pid, .text = p->name,
				 .text_len = (uint32_t)strlen(p->name), .parent = p->parent_pid };
}

static struct rtc_out thread_event(const struct tstate *t)
{
	return (struct rtc_out){ .kind = RTC_OUT_THREAD, .pid = t->meta.pid, .tid = t->meta.tid, .text = t->name,
				 .text_len = (uint32_t)strlen(t->name), .thread_number = t->meta.thread_number };
}

void rtc_rebuild_process(struct rtc_rebuild *r, uint32_t proc, uint32_t pid, const char *name, uint32_t parent_pid)
{
	struct rtc_out o;

	if (proc >= r->nprocs) {
		size_t cap = r->nprocs;

		if (rb_grow((void **)&r->procs, &cap, (size_t)proc + 1, sizeof(*r->procs)) < 0)
			return;
		r->nprocs = cap;
	}
	if (!r->procs[proc].declared || r->procs[proc].pid != pid)
		r->procs[proc].gen = rb_index_pid(r, pid);
	r->procs[proc].declared = true;
	r->procs[proc].pid = pid;
	r->procs[proc].parent_pid = parent_pid;
	snprintf(r->procs[proc].name, sizeof(r->procs[proc].name), "%s", name);
	o = process_event(&r->procs[proc]);
	rb_emit(r, &o);
}

void rtc_rebuild_thread(struct rtc_rebuild *r, uint32_t thread, const struct rtc_thread_meta *meta, const char *name)
{
	struct tstate *t = rb_thread(r, thread);
	struct rtc_out o;

	if (!t)
		return;
	if (!t->declared)
		r->counts.threads++;
	t->declared = true;
	t->meta = *meta;
	t->loss.pid = meta->pid;
	t->loss.tid = meta->tid;
	t->loss.thread_number = meta->thread_number;
	snprintf(t->name, sizeof(t->name), "%s", name);
	rb_index_thread(r, thread);
	o = thread_event(t);
	rb_emit(r, &o);
}

/* ---- spans ---- */

void rb_push_span(struct rtc_rebuild *r, struct tstate *t, const struct open_span *s)
{
	if (t->depth >= RTC_REBUILD_MAX_DEPTH) {
		r->counts.depth_overflows++;
		return;
	}
	if (rb_grow((void **)&t->stack, &t->cap, t->depth + 1, sizeof(*t->stack)) < 0)
		return;
	t->stack[t->depth] = *s;
	t->stack[t->depth].child_ns = 0;
	t->depth++;
}

static struct rtc_out span_event(struct rtc_rebuild *r, const struct tstate *t, const struct open_span *s, size_t depth)
{
	uint32_t len;
	const char *name = r->names(r->names_ctx, t->meta.proc, s->name_id, &len);

	return (struct rtc_out){ .kind = RTC_OUT_SPAN, .pid = t->meta.pid, .tid = t->meta.tid, .ts = s->begin,
				 .name = name, .name_len = len, .task = s->task, .thread_number = t->meta.thread_number,
				 .span_seq = s->seq, .depth = (uint32_t)depth, .flags = s->flags, .cat = "span",
				 .name_key = RB_NAME_KEY(t->meta.proc, s->name_id) };
}

/* The span's CPU breakdown from the counters at its begin and end (same source and generation). */
static void cpu_breakdown(struct rtc_out *o, const struct cpu_counters *b, const struct cpu_counters *e)
{
	uint64_t d;

	if (!e || !b->src || b->src != e->src || e->ns < b->ns || e->vol < b->vol || e->invol < b->invol)
		return;
	d = e->ns - b->ns;
	if (RT_CPU_SRC_KIND(b->src) == RT_CPU_SRC_OFF)
		o->cpu_ns = d < o->dur ? o->dur - d : 0; /* on-CPU = duration - off-CPU */
	else if (RT_CPU_SRC_KIND(b->src) == RT_CPU_SRC_ON)
		o->cpu_ns = d < o->dur ? d : o->dur;
	else
		return;
	o->ctx_voluntary = e->vol - b->vol > UINT32_MAX ? UINT32_MAX : (uint32_t)(e->vol - b->vol);
	o->ctx_involuntary = e->invol - b->invol > UINT32_MAX ? UINT32_MAX : (uint32_t)(e->invol - b->invol);
	o->flags |= RTC_F_CPU;
}

/* Emit open span i as ended at `end`, its duration counted in its parent's children. The caller
 * removes it from the stack. cpu: the counters its end record carried, or NULL. */
static void close_at_cpu(struct rtc_rebuild *r, struct tstate *t, size_t i, uint64_t end, uint32_t extra_flags,
			 const struct cpu_counters *cpu)
{
	struct open_span *s = &t->stack[i];
	struct rtc_out o = span_event(r, t, s, i);

	if (end < s->begin)
		end = s->begin;
	o.dur = end - s->begin;
	o.flags |= extra_flags;
	o.self_ns = o.dur > s->child_ns ? o.dur - s->child_ns : 0;
	cpu_breakdown(&o, &s->cpu, cpu);
	if (i > 0)
		t->stack[i - 1].child_ns += o.dur;
	r->counts.spans++;
	if (o.flags & RTC_F_INCOMPLETE)
		r->counts.spans_incomplete++;
	if (o.flags & RTC_F_REPAIRED)
		r->counts.spans_repaired++;
	if (o.flags & RTC_F_BEFORE_ATTACH)
		r->counts.spans_before_attach++;
	if (o.flags & RTC_F_BEGIN_UNKNOWN)
		r->counts.spans_begin_unknown++;
	rb_emit(r, &o);
}

void rb_close_at(struct rtc_rebuild *r, struct tstate *t, size_t i, uint64_t end, uint32_t extra_flags)
{
	close_at_cpu(r, t, i, end, extra_flags, NULL);
}

static void close_top_cpu(struct rtc_rebuild *r, struct tstate *t, uint64_t end, uint32_t extra_flags,
			  const struct cpu_counters *cpu)
{
	close_at_cpu(r, t, t->depth - 1, end, extra_flags, cpu);
	t->depth--;
}

static void close_top(struct rtc_rebuild *r, struct tstate *t, uint64_t end, uint32_t extra_flags)
{
	close_top_cpu(r, t, end, extra_flags, NULL);
}

/* The CPU counters of a span record, if it has them (all four: records.h). */
#define CPU_OF(rec, kind, out)                                                                           \
	(RT_REC_HAS(rec, kind, cpu_src) && RT_REC_HAS(rec, kind, csw_invol)                               \
		 ? (*(out) = (struct cpu_counters){ (rec)->cpu_src, (rec)->cpu_ns, (rec)->csw_vol, (rec)->csw_invol }, \
		    (out))                                                                                \
		 : NULL)

static void loss(struct rtc_rebuild *r, struct tstate *t, uint64_t ts, uint64_t count, uint64_t since, const char *why,
		 uint64_t *counter)
{
	struct rtc_out o = { .kind = RTC_OUT_LOSS, .pid = t->meta.pid, .tid = t->meta.tid, .ts = ts, .count = count,
			     .since = since, .thread_number = t->meta.thread_number, .cat = why };

	*counter += count;
	if (!t->after_loss)
		t->lost_first_ts = since ? since : ts;
	t->after_loss = true;
	r->counts.lost += count;
	r->counts.loss_events++;
	rb_emit(r, &o);
}

static void span_end_seq(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	long i = rb_find_seq(t, ev->u.span_end_seq.span_seq);
	struct cpu_counters c;

	if (i < 0) {
		r->counts.unmatched_ends++;
		return;
	}
	t->too_deep = 0; /* inside the ones it ends */
	while (t->depth > (size_t)i + 1)
		close_top(r, t, ev->ts, RTC_F_REPAIRED);
	close_top_cpu(r, t, ev->ts, 0, CPU_OF(&ev->u.span_end_seq, span_end_seq, &c));
}

static void log_event(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	const struct rt_rec_log *lg = &ev->u.log;
	uint32_t len;
	const char *cat = r->names(r->names_ctx, t->meta.proc, (uint32_t)lg->category_id, &len);
	struct rtc_out o = { .kind = RTC_OUT_LOG, .pid = t->meta.pid, .tid = t->meta.tid, .ts = ev->ts, .name = cat,
			     .name_len = len, .task = t->task, .text = lg->message.ptr, .text_len = lg->message.len,
			     .flags = (uint32_t)lg->flags, .thread_number = t->meta.thread_number,
			     .span_seq = t->depth ? t->stack[t->depth - 1].seq : 0, .cat = cat };

	r->counts.logs++;
	rb_emit(r, &o);
}

void rtc_rebuild_event(struct rtc_rebuild *r, const struct rtc_event *ev)
{
	struct tstate *t = ev->thread < r->nthreads ? &r->threads[ev->thread] : NULL;

	if (!t || !t->declared)
		return;
	/* Tasks open at attach that began before this event come first. */
	rb_tasks_release(r, ev->ts);
	if (ev->ts > r->now)
		r->now = ev->ts;
	if (ev->kind < RTC_EV_GAP)
		r->counts.records++;
	switch (ev->kind) {
	case RT_REC_THREAD_START:
		/* A thread's first record: nothing can be open before it. Its name is the one the
		 * thread started with; the directory's (given at declaration) is newer. */
		t->synced = true;
		break;
	case RT_REC_THREAD_NAME: {
		struct rtc_out o;

		snprintf(t->name, sizeof(t->name), "%.*s", (int)ev->u.thread_name.name.len, ev->u.thread_name.name.ptr);
		o = thread_event(t);
		rb_emit(r, &o);
		break;
	}
	case RT_REC_THREAD_EXIT:
		while (t->depth)
			close_top(r, t, ev->ts, RTC_F_INCOMPLETE | RTC_F_THREAD_EXIT);
		t->too_deep = 0;
		break;
	case RT_REC_SPAN_BEGIN: {
		/* Its begin is recorded, even if before the attach (a flight recorder's history). */
		struct open_span s = { .begin = ev->ts, .seq = ++t->span_seq, .task = t->task,
				       .name_id = (uint32_t)ev->u.span_begin.name_id };

		CPU_OF(&ev->u.span_begin, span_begin, &s.cpu);
		if (t->depth >= RTC_REBUILD_MAX_DEPTH || t->too_deep) {
			t->too_deep++;
			r->counts.depth_overflows++;
		} else {
			rb_push_span(r, t, &s);
		}
		break;
	}
	case RT_REC_SPAN_END: {
		struct cpu_counters c;

		if (t->too_deep)
			t->too_deep--; /* one of those not kept */
		else if (t->depth)
			close_top_cpu(r, t, ev->ts, 0, CPU_OF(&ev->u.span_end, span_end, &c));
		else {
			r->counts.unmatched_ends++; /* begun before recording (Go ignores these too) */
			t->unmatched_end |= !t->synced;
		}
		break;
	}
	case RT_REC_SPAN_END_SEQ:
		span_end_seq(r, t, ev);
		break;
	case RT_REC_TASK_BEGIN:
		rb_task_begin(r, t, ev);
		break;
	case RT_REC_TASK_END:
		rb_task_end(r, t, ev);
		break;
	case RT_REC_LOG:
		log_event(r, t, ev);
		break;
	case RT_REC_CONTEXT:
		rb_capture(r, t, ev);
		break;
	case RT_REC_ADOPT:
		rb_adopt(r, t, ev);
		break;
	case RT_REC_LOSS:
		if (ev->u.loss.reasons & RT_LOSS_FULL)
			loss(r, t, ev->ts, ev->u.loss.records, ev->u.loss.first_ts, "full", &t->loss.full);
		else
			loss(r, t, ev->ts, ev->u.loss.records, ev->u.loss.first_ts, "signal", &t->loss.signal);
		break;
	case RTC_EV_GAP:
		loss(r, t, ev->ts, ev->u.loss.records, ev->ts, "overwritten", &t->loss.overwritten);
		break;
	case RTC_EV_UNREPORTED:
		loss(r, t, ev->ts, ev->u.loss.records, ev->ts, "full-at-exit", &t->loss.full_at_exit);
		break;
	case RT_REC_STACK:
		r->counts.resync_records++;
		rb_resync(r, t, ev);
		break;
	case RTC_EV_SHARED_STACK:
		rb_resync_shared(r, t, ev);
		break;
	case RT_REC_MISUSE:
		r->counts.misuse++;
		break;
	default:
		break;
	}
	if (ev->kind < RTC_EV_GAP && ev->kind != RT_REC_LOSS && ev->kind != RT_REC_STACK && ev->ts > t->last_rec_ts)
		t->last_rec_ts = ev->ts;
}

void rtc_rebuild_gap(struct rtc_rebuild *r, uint32_t proc, uint64_t from, uint64_t to, uint64_t not_recorded)
{
	struct tstate *first = rb_first_live(r, proc);

	if (first)
		loss(r, first, to, not_recorded, from, "not-recorded", &first->loss.not_recorded);
}

void rtc_rebuild_untraced(struct rtc_rebuild *r, uint32_t proc, uint64_t ts, uint64_t count, const char *what)
{
	struct rtc_out o = { .kind = RTC_OUT_UNTRACED, .ts = ts, .count = count, .cat = what };

	if (proc >= r->nprocs || !r->procs[proc].declared || !count)
		return;
	o.pid = r->procs[proc].pid;
	rb_emit(r, &o);
}

void rtc_rebuild_thread_done(struct rtc_rebuild *r, uint32_t thread, uint64_t ts)
{
	struct tstate *t = rb_thread(r, thread);

	if (!t || t->done)
		return;
	while (t->depth)
		close_top(r, t, ts, RTC_F_INCOMPLETE | RTC_F_THREAD_EXIT);
	t->too_deep = 0;
	t->done = true;
	rb_index_done(r, thread);
}

void rtc_rebuild_finish(struct rtc_rebuild *r, uint64_t ts)
{
	rb_tasks_release(r, UINT64_MAX);
	for (size_t i = 0; i < r->nthreads; i++) {
		struct tstate *t = &r->threads[i];

		while (t->depth)
			close_top(r, t, ts, RTC_F_INCOMPLETE);
		t->too_deep = 0;
	}
	rb_tasks_finish(r, ts);
}

void rtc_rebuild_snapshot(struct rtc_rebuild *r, uint64_t now, void (*fn)(void *ctx, const struct rtc_out *ev),
			  void *ctx)
{
	for (size_t i = 0; i < r->nprocs; i++) {
		struct rtc_out o;

		if (!r->procs[i].declared)
			continue;
		o = process_event(&r->procs[i]);
		fn(ctx, &o);
	}
	for (size_t i = 0; i < r->nthreads; i++) {
		struct rtc_out o;

		if (!r->threads[i].declared || r->threads[i].done)
			continue;
		o = thread_event(&r->threads[i]);
		fn(ctx, &o);
	}
	rb_tasks_snapshot(r, fn, ctx);
	for (size_t i = 0; i < r->nthreads; i++) {
		const struct tstate *t = &r->threads[i];

		for (size_t d = 0; t->declared && d < t->depth; d++) {
			struct rtc_out o = span_event(r, t, &t->stack[d], d);

			o.kind = RTC_OUT_SPAN_OPEN;
			o.dur = now > o.ts ? now - o.ts : 0;
			o.flags |= RTC_F_OPEN;
			fn(ctx, &o);
		}
	}
}

void rtc_rebuild_counts(const struct rtc_rebuild *r, struct rtc_rebuild_counts *out)
{
	*out = r->counts;
}

void rtc_rebuild_thread_loss(struct rtc_rebuild *r, const struct rtc_thread_loss **out, size_t *n)
{
	size_t k = 0;

	free(r->loss_out);
	r->loss_out = calloc(r->nthreads ? r->nthreads : 1, sizeof(*r->loss_out));
	for (size_t i = 0; i < r->nthreads && r->loss_out; i++) {
		const struct rtc_thread_loss *l = &r->threads[i].loss;

		if (r->threads[i].declared && (l->full || l->signal || l->overwritten || l->full_at_exit || l->not_recorded))
			r->loss_out[k++] = *l;
	}
	*out = r->loss_out;
	*n = k;
}
