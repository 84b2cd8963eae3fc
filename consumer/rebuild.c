/* SPDX-License-Identifier: MIT */
/* Span/task reconstruction over the merged record stream (docs/consumer.md "Rebuild"). */
#include "rebuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringtrace/shm-format.h>

struct open_span {
	uint64_t begin;
	uint64_t seq;
	uint64_t task;
	uint64_t child_ns;
	uint32_t name_id;
	uint32_t flags;
};

struct tstate {
	bool declared;
	bool synced; /* the open-span stack is known (STACK seen, or the thread's first record) */
	bool done;
	struct rtc_thread_meta meta;
	struct open_span *stack;
	size_t depth, cap;
	uint64_t span_seq;
	uint64_t task;
	uint64_t lost;
	uint64_t lost_first_ts;
	bool after_loss;
};

struct task {
	uint64_t key_proc; /* proc + 1; 0 = empty slot */
	uint64_t id;
	uint64_t parent;
	uint64_t begin;
	uint32_t name_id;
	uint32_t pid, tid;
	bool synthetic;
};

struct proc {
	bool declared;
	uint32_t pid;
};

struct rtc_rebuild {
	const char *(*names)(void *ctx, uint32_t proc, uint32_t id);
	void *names_ctx;
	struct rtc_sink sinks[4];
	size_t nsinks;
	struct tstate *threads;
	size_t nthreads;
	struct proc *procs;
	size_t nprocs;
	struct task *tasks;
	size_t task_cap, task_count;
	uint64_t next_flow;
	struct rtc_rebuild_counts counts;
};

struct rtc_rebuild *rtc_rebuild_create(const char *(*names)(void *ctx, uint32_t proc, uint32_t id), void *names_ctx)
{
	struct rtc_rebuild *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->names = names;
	r->names_ctx = names_ctx;
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
	free(r->threads);
	free(r->procs);
	free(r->tasks);
	free(r);
}

int rtc_rebuild_add_sink(struct rtc_rebuild *r, struct rtc_sink sink)
{
	if (r->nsinks == sizeof(r->sinks) / sizeof(r->sinks[0]))
		return -1;
	r->sinks[r->nsinks++] = sink;
	return 0;
}

static void emit(struct rtc_rebuild *r, const struct rtc_out *o)
{
	for (size_t i = 0; i < r->nsinks; i++)
		if (r->sinks[i].ops->event)
			r->sinks[i].ops->event(r->sinks[i].ctx, o);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
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

static struct tstate *thread_at(struct rtc_rebuild *r, uint32_t idx)
{
	if (idx >= r->nthreads) {
		size_t cap = r->nthreads;

		if (grow((void **)&r->threads, &cap, (size_t)idx + 1, sizeof(*r->threads)) < 0)
			return NULL;
		r->nthreads = cap;
	}
	return &r->threads[idx];
}

void rtc_rebuild_process(struct rtc_rebuild *r, uint32_t proc, uint32_t pid, const char *name)
{
	struct rtc_out o = { .kind = RTC_OUT_PROCESS, .pid = pid, .text = name, .text_len = (uint32_t)strlen(name) };

	if (proc >= r->nprocs) {
		size_t cap = r->nprocs;

		if (grow((void **)&r->procs, &cap, (size_t)proc + 1, sizeof(*r->procs)) < 0)
			return;
		r->nprocs = cap;
	}
	r->procs[proc].declared = true;
	r->procs[proc].pid = pid;
	emit(r, &o);
}

void rtc_rebuild_thread(struct rtc_rebuild *r, uint32_t thread, const struct rtc_thread_meta *meta, const char *name)
{
	struct tstate *t = thread_at(r, thread);
	struct rtc_out o = { .kind = RTC_OUT_THREAD, .pid = meta->pid, .tid = meta->tid, .text = name,
			     .text_len = (uint32_t)strlen(name), .thread_number = meta->thread_number };

	if (!t)
		return;
	if (!t->declared)
		r->counts.threads++;
	t->declared = true;
	t->meta = *meta;
	emit(r, &o);
}

/* ---- tasks ---- */

static uint64_t task_hash(uint32_t proc, uint64_t id)
{
	uint64_t h = (id ^ ((uint64_t)proc << 40)) * 0x9e3779b97f4a7c15ull;

	return h ^ (h >> 29);
}

static struct task *task_find(struct rtc_rebuild *r, uint32_t proc, uint64_t id, bool create)
{
	size_t mask = r->task_cap - 1;

	for (size_t i = task_hash(proc, id) & mask;; i = (i + 1) & mask) {
		struct task *t = &r->tasks[i];

		if (t->key_proc == 0) {
			if (!create)
				return NULL;
			if ((r->task_count + 1) * 2 > r->task_cap) {
				/* Grow and retry. */
				struct task *old = r->tasks;
				size_t old_cap = r->task_cap;
				struct task *fresh = calloc(old_cap * 2, sizeof(*fresh));

				if (!fresh)
					return NULL;
				r->tasks = fresh;
				r->task_cap = old_cap * 2;
				r->task_count = 0;
				for (size_t k = 0; k < old_cap; k++)
					if (old[k].key_proc) {
						struct task *n = task_find(r, (uint32_t)(old[k].key_proc - 1), old[k].id, true);

						*n = old[k];
					}
				free(old);
				return task_find(r, proc, id, true);
			}
			t->key_proc = (uint64_t)proc + 1;
			t->id = id;
			r->task_count++;
			return t;
		}
		if (t->key_proc == (uint64_t)proc + 1 && t->id == id)
			return t;
	}
}

/* Remove a task (linear probing: shift later members of the cluster back into the hole). The
 * producer never sends a second TASK_END for a task (a double end is a MISUSE record), so ended
 * tasks need not be remembered, and the table stays as small as the set of live tasks. */
static void task_remove(struct rtc_rebuild *r, struct task *k)
{
	size_t mask = r->task_cap - 1, hole = (size_t)(k - r->tasks);

	for (size_t i = (hole + 1) & mask; r->tasks[i].key_proc; i = (i + 1) & mask) {
		size_t home = task_hash((uint32_t)(r->tasks[i].key_proc - 1), r->tasks[i].id) & mask;

		/* Move it if its home is not within (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			r->tasks[hole] = r->tasks[i];
			hole = i;
		}
	}
	memset(&r->tasks[hole], 0, sizeof(r->tasks[hole]));
	r->task_count--;
}

/* ---- spans ---- */

static void push_span(struct tstate *t, uint64_t begin, uint64_t seq, uint64_t task, uint32_t name_id, uint32_t flags)
{
	struct open_span *s;

	if (grow((void **)&t->stack, &t->cap, t->depth + 1, sizeof(*t->stack)) < 0)
		return;
	s = &t->stack[t->depth++];
	s->begin = begin;
	s->seq = seq;
	s->task = task;
	s->child_ns = 0;
	s->name_id = name_id;
	s->flags = flags;
}

static void close_top(struct rtc_rebuild *r, struct tstate *t, uint64_t end, uint32_t extra_flags)
{
	struct open_span *s = &t->stack[t->depth - 1];
	const char *name = r->names(r->names_ctx, t->meta.proc, s->name_id);
	struct rtc_out o = {
		.kind = RTC_OUT_SPAN,
		.pid = t->meta.pid,
		.tid = t->meta.tid,
		.ts = s->begin,
		.dur = end > s->begin ? end - s->begin : 0,
		.name = name,
		.name_len = (uint32_t)strlen(name),
		.task = s->task,
		.thread_number = t->meta.thread_number,
		.span_seq = s->seq,
		.depth = (uint32_t)(t->depth - 1),
		.flags = s->flags | extra_flags,
	};

	o.self_ns = o.dur > s->child_ns ? o.dur - s->child_ns : 0;
	t->depth--;
	if (t->depth > 0)
		t->stack[t->depth - 1].child_ns += o.dur;
	r->counts.spans++;
	if (o.flags & RTC_F_INCOMPLETE)
		r->counts.spans_incomplete++;
	if (o.flags & RTC_F_REPAIRED)
		r->counts.spans_repaired++;
	if (o.flags & RTC_F_BEFORE_ATTACH)
		r->counts.spans_before_attach++;
	if (o.flags & RTC_F_BEGIN_UNKNOWN)
		r->counts.spans_begin_unknown++;
	emit(r, &o);
}

static uint32_t begin_flags(const struct tstate *t, uint64_t *begin)
{
	if (*begin == 0) {
		*begin = t->meta.attach_ts;
		return RTC_F_BEGIN_UNKNOWN;
	}
	return *begin < t->meta.attach_ts ? RTC_F_BEFORE_ATTACH : 0;
}

/* A STACK snapshot is the truth about the thread just before the next record. */
static void resync(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	struct open_span *keep = NULL;
	size_t nkeep = 0;
	uint64_t close_at = t->after_loss && t->lost_first_ts ? t->lost_first_ts : ev->ts;

	const struct rt_rec_stack *st = &ev->u.stack;
	uint32_t nst = st->entries.count;

	if (nst) {
		keep = calloc(nst, sizeof(*keep));
		if (!keep)
			return;
	}
	/* Ours that the snapshot does not have ended unseen (inside lost records). */
	for (size_t i = t->depth; i-- > 0;) {
		bool found = false;

		for (uint32_t k = 0; k < nst && !found; k++)
			found = ev->stack[k].span_seq == t->stack[i].seq;
		if (!found) {
			/* Close it at the top of the stack: inner ones first. */
			struct open_span tmp = t->stack[i];

			memmove(&t->stack[i], &t->stack[i + 1], (t->depth - i - 1) * sizeof(tmp));
			t->stack[t->depth - 1] = tmp;
			close_top(r, t, close_at < tmp.begin ? tmp.begin : close_at, RTC_F_LOST_END);
		}
	}
	for (uint32_t k = 0; k < nst; k++) {
		const struct rt_rec_stack_entry *it = &ev->stack[k];
		size_t i;

		for (i = 0; i < t->depth && t->stack[i].seq != it->span_seq; i++)
			;
		if (i < t->depth) {
			keep[nkeep++] = t->stack[i];
		} else {
			uint64_t begin = it->begin_ts;
			uint32_t flags = begin_flags(t, &begin);

			keep[nkeep++] = (struct open_span){ .begin = begin, .seq = it->span_seq, .task = it->task_id,
							    .name_id = (uint32_t)it->name_id, .flags = flags };
		}
	}
	t->depth = 0;
	for (size_t i = 0; i < nkeep; i++)
		push_span(t, keep[i].begin, keep[i].seq, keep[i].task, keep[i].name_id, keep[i].flags);
	for (size_t i = 0; i < nkeep && i < t->depth; i++)
		t->stack[i].child_ns = keep[i].child_ns;
	free(keep);
	t->span_seq = st->span_seq;
	t->task = st->current_task;
	t->synced = true;
	t->after_loss = false;
}

static void task_begin(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	const struct rt_rec_task_begin *tb = &ev->u.task_begin;
	struct task *k = task_find(r, t->meta.proc, tb->task_id, true);
	const char *name = r->names(r->names_ctx, t->meta.proc, (uint32_t)tb->name_id);
	struct rtc_out o = { .kind = RTC_OUT_TASK_BEGIN, .pid = t->meta.pid, .tid = t->meta.tid, .ts = ev->ts,
			     .name = name, .name_len = (uint32_t)strlen(name), .id = tb->task_id, .parent = tb->parent_id,
			     .thread_number = t->meta.thread_number };

	if (!k)
		return;
	k->parent = tb->parent_id;
	k->begin = ev->ts;
	k->name_id = (uint32_t)tb->name_id;
	k->pid = t->meta.pid;
	k->tid = t->meta.tid;
	k->synthetic = false;
	r->counts.tasks++;
	emit(r, &o);
	t->task = tb->task_id;
}

static void task_end_out(struct rtc_rebuild *r, struct task *k, uint32_t proc, uint64_t ts, uint32_t flags)
{
	const char *name = k->synthetic ? "task" : r->names(r->names_ctx, proc, k->name_id);
	struct rtc_out o = { .kind = RTC_OUT_TASK_END, .pid = k->pid, .tid = k->tid, .ts = ts,
			     .dur = ts > k->begin ? ts - k->begin : 0, .name = name, .name_len = (uint32_t)strlen(name),
			     .id = k->id, .parent = k->parent, .flags = flags };

	if (flags & RTC_F_INCOMPLETE)
		r->counts.tasks_incomplete++;
	emit(r, &o);
	task_remove(r, k);
}

static void task_end(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	const struct rt_rec_task_end *te = &ev->u.task_end;
	struct task *k = task_find(r, t->meta.proc, te->task_id, false);

	{
		if (!k) {
			/* Begun before we attached: it starts at attach time, flagged. */
			struct rtc_out o = { .kind = RTC_OUT_TASK_BEGIN, .pid = t->meta.pid, .tid = t->meta.tid,
					     .ts = t->meta.attach_ts < ev->ts ? t->meta.attach_ts : ev->ts,
					     .name = "task", .name_len = 4, .id = te->task_id,
					     .flags = RTC_F_BEGIN_UNKNOWN, .thread_number = t->meta.thread_number };

			k = task_find(r, t->meta.proc, te->task_id, true);
			if (!k)
				return;
			k->begin = o.ts;
			k->pid = t->meta.pid;
			k->tid = t->meta.tid;
			k->synthetic = true;
			r->counts.tasks++;
			emit(r, &o);
		}
		task_end_out(r, k, t->meta.proc, ev->ts, k->synthetic ? RTC_F_BEGIN_UNKNOWN : 0);
	}
	t->task = te->current_task_after;
}

static int find_thread(struct rtc_rebuild *r, uint32_t proc, uint64_t thread_number)
{
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].declared && r->threads[i].meta.proc == proc &&
		    r->threads[i].meta.thread_number == thread_number)
			return (int)i;
	return -1;
}

static void adopt(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	const struct rt_rec_adopt *ad = &ev->u.adopt;
	int from = ad->from_thread ? find_thread(r, t->meta.proc, ad->from_thread) : -1;

	t->task = ad->task_id;
	if (from >= 0 && ad->how != RT_ADOPT_RESTORE && r->threads[from].meta.tid != t->meta.tid) {
		struct tstate *f = &r->threads[from];
		uint64_t id = ++r->next_flow;
		const char *what = ad->how == RT_ADOPT_INHERIT ? "inherit" : "adopt";
		struct rtc_out s = { .kind = RTC_OUT_FLOW, .pid = f->meta.pid, .tid = f->meta.tid, .ts = ev->ts,
				     .name = what, .name_len = (uint32_t)strlen(what), .id = id, .task = ad->task_id,
				     .count = 0, .cat = "flow" };
		struct rtc_out e = s;

		e.pid = t->meta.pid;
		e.tid = t->meta.tid;
		e.count = 1;
		r->counts.flows++;
		emit(r, &s);
		emit(r, &e);
	}
}

static void loss(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev, uint64_t count, uint64_t since,
		 const char *why)
{
	struct rtc_out o = { .kind = RTC_OUT_LOSS, .pid = t->meta.pid, .tid = t->meta.tid, .ts = ev->ts, .count = count,
			     .since = since, .thread_number = t->meta.thread_number, .cat = why };

	t->lost += count;
	if (!t->after_loss)
		t->lost_first_ts = since ? since : ev->ts;
	t->after_loss = true;
	r->counts.lost += count;
	r->counts.loss_events++;
	emit(r, &o);
}

void rtc_rebuild_event(struct rtc_rebuild *r, const struct rtc_event *ev)
{
	struct tstate *t = thread_at(r, ev->thread);

	if (!t || !t->declared)
		return;
	if (ev->kind < RTC_EV_GAP)
		r->counts.records++;
	switch (ev->kind) {
	case RT_REC_THREAD_START:
		/* A thread's first record: nothing can be open before it. Its name is the one the
		 * thread started with; the directory's (given at declaration) is newer. */
		t->synced = true;
		break;
	case RT_REC_THREAD_NAME:
		if (ev->str) {
			const struct rt_rec_str *nm = &ev->u.thread_name.name;

			struct rtc_out o = { .kind = RTC_OUT_THREAD, .pid = t->meta.pid, .tid = t->meta.tid,
					     .text = nm->ptr, .text_len = nm->len,
					     .thread_number = t->meta.thread_number };

			emit(r, &o);
		}
		break;
	case RT_REC_THREAD_EXIT:
		while (t->depth)
			close_top(r, t, ev->ts, RTC_F_INCOMPLETE | RTC_F_THREAD_EXIT);
		break;
	case RT_REC_SPAN_BEGIN: {
		uint64_t begin = ev->ts;

		push_span(t, begin, ++t->span_seq, t->task, (uint32_t)ev->u.span_begin.name_id, begin < t->meta.attach_ts ? RTC_F_BEFORE_ATTACH : 0);
		break;
	}
	case RT_REC_SPAN_END:
		if (t->depth)
			close_top(r, t, ev->ts, 0);
		else
			r->counts.unmatched_ends++; /* begun before recording (Go ignores these too) */
		break;
	case RT_REC_SPAN_END_SEQ: {
		size_t i;

		for (i = t->depth; i > 0 && t->stack[i - 1].seq != ev->u.span_end_seq.span_seq; i--)
			;
		if (i == 0) {
			r->counts.unmatched_ends++;
			break;
		}
		while (t->depth > i)
			close_top(r, t, ev->ts, RTC_F_REPAIRED);
		close_top(r, t, ev->ts, 0);
		break;
	}
	case RT_REC_TASK_BEGIN:
		task_begin(r, t, ev);
		break;
	case RT_REC_TASK_END:
		task_end(r, t, ev);
		break;
	case RT_REC_LOG: {
		const struct rt_rec_log *lg = &ev->u.log;
		const char *cat = r->names(r->names_ctx, t->meta.proc, (uint32_t)lg->category_id);
		struct rtc_out o = { .kind = RTC_OUT_LOG, .pid = t->meta.pid, .tid = t->meta.tid, .ts = ev->ts,
				     .name = cat, .name_len = (uint32_t)strlen(cat), .task = t->task, .text = lg->message.ptr,
				     .text_len = lg->message.len, .flags = (uint32_t)lg->flags,
				     .thread_number = t->meta.thread_number,
				     .span_seq = t->depth ? t->stack[t->depth - 1].seq : 0 };

		r->counts.logs++;
		emit(r, &o);
		break;
	}
	case RT_REC_ADOPT:
		adopt(r, t, ev);
		break;
	case RT_REC_LOSS:
		loss(r, t, ev, ev->u.loss.records, ev->u.loss.first_ts,
		     (ev->u.loss.reasons & RT_LOSS_NESTED) && !(ev->u.loss.reasons & RT_LOSS_FULL) ? "signal" : "full");
		break;
	case RTC_EV_GAP:
		loss(r, t, ev, ev->u.loss.records, ev->ts, "overwritten");
		break;
	case RTC_EV_UNREPORTED:
		loss(r, t, ev, ev->u.loss.records, ev->ts, "full-at-exit");
		break;
	case RT_REC_STACK:
		resync(r, t, ev);
		break;
	case RT_REC_MISUSE:
		r->counts.misuse++;
		break;
	default:
		break;
	}
}

void rtc_rebuild_thread_done(struct rtc_rebuild *r, uint32_t thread, uint64_t ts)
{
	struct tstate *t = thread_at(r, thread);

	if (!t || t->done)
		return;
	while (t->depth)
		close_top(r, t, ts < t->stack[t->depth - 1].begin ? t->stack[t->depth - 1].begin : ts,
			  RTC_F_INCOMPLETE | RTC_F_THREAD_EXIT);
	t->done = true;
}

void rtc_rebuild_finish(struct rtc_rebuild *r, uint64_t ts)
{
	for (size_t i = 0; i < r->nthreads; i++) {
		struct tstate *t = &r->threads[i];

		while (t->depth)
			close_top(r, t, ts < t->stack[t->depth - 1].begin ? t->stack[t->depth - 1].begin : ts,
				  RTC_F_INCOMPLETE);
	}
	for (size_t i = 0; i < r->task_cap; i++) {
		struct task *k = &r->tasks[i];

		/* Ending removes the task and shifts entries back into slot i: look at it again. */
		while (k->key_proc)
			task_end_out(r, k, (uint32_t)(k->key_proc - 1), ts < k->begin ? k->begin : ts, RTC_F_INCOMPLETE);
	}
}

void rtc_rebuild_counts(const struct rtc_rebuild *r, struct rtc_rebuild_counts *out)
{
	*out = r->counts;
}

void rtc_rebuild_each_loss(const struct rtc_rebuild *r, void (*fn)(void *ctx, const struct rtc_thread_meta *m, uint64_t lost),
			   void *ctx)
{
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].declared && r->threads[i].lost)
			fn(ctx, &r->threads[i].meta, r->threads[i].lost);
}
