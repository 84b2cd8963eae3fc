/* SPDX-License-Identifier: MIT */
/* The statistics model: rebuilt events in, per span name, task name, thread and process counters and
 * histograms out; bounded tables, flagged spans kept apart from the distributions. */
#include "stats-impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- lifecycle ---- */

struct rtc_stats *rtc_stats_create(const struct rtc_stats_options *opt)
{
	struct rtc_stats *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (opt)
		s->opt = *opt;
	if (!s->opt.max_spans)
		s->opt.max_spans = 4096;
	if (!s->opt.max_tasks)
		s->opt.max_tasks = 1024;
	if (!s->opt.max_threads)
		s->opt.max_threads = 65536;
	if (!s->opt.max_open)
		s->opt.max_open = 1u << 20;
	s->info.first_ns = UINT64_MAX;
	return s;
}

static void free_items(struct ptab *t, void (*fn)(void *))
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->item[i])
			fn(t->item[i]);
	rtc__ptab_free(t);
}

static void free_span(void *p)
{
	struct span_entry *e = p;

	rtc_hist_destroy(e->hist);
	free(e->name);
	free(e);
}

static void free_task(void *p)
{
	struct task_entry *e = p;

	rtc_hist_destroy(e->hist);
	free(e->name);
	free(e);
}

static void free_named(void *p)
{
	struct thread_entry *t = p;

	free(t->name);
	free(t);
}

static void free_process(void *p)
{
	struct process_entry *e = p;

	free(e->name);
	free(e);
}

void rtc_stats_destroy(struct rtc_stats *s)
{
	if (!s)
		return;
	free_items(&s->spans, free_span);
	free_items(&s->tasks, free_task);
	free_items(&s->threads, free_named);
	free_items(&s->processes, free_process);
	free(s->live.slot);
	free_items(&s->open, free);
	free(s->clock);
	free(s->host);
	free(s->tool);
	free(s);
}

static void keep_cstr(char **dst, const char *src)
{
	if (src) {
		rtc__stats_setstr(dst, src, strlen(src)); /* on ENOMEM the previous value stays */
		return;
	}
	free(*dst);
	*dst = NULL;
}

void rtc_stats_begin(struct rtc_stats *s, const struct rtc_trace_info *info)
{
	/* name_keys are per trace. */
	memset(s->key_cache, 0, sizeof(s->key_cache));
	s->info.origin_ns = info->origin_ns;
	s->info.attach_ns = info->attach_ns;
	s->info.live = info->live;
	keep_cstr(&s->clock, info->clock);
	keep_cstr(&s->host, info->host);
	keep_cstr(&s->tool, info->tool);
	s->info.clock = s->clock;
	s->info.host = s->host;
	s->info.tool = s->tool;
}

void rtc_stats_end(struct rtc_stats *s, const struct rtc_summary *sum)
{
	s->info.summary = *sum;
	/* The summary knows the clock the records used; a live run's begin did not yet. */
	if (sum->clock)
		keep_cstr(&s->clock, sum->clock);
	s->info.clock = s->clock;
	s->info.summary.clock = s->clock; /* the summary's strings live only for the call */
	s->info.summary.thread_loss = NULL;
	s->info.summary.nthread_loss = 0;
	s->info.summary.process_loss = NULL;
	s->info.summary.nprocess_loss = 0;
	s->info.ended = true;
	for (size_t i = 0; i < sum->nthread_loss; i++) {
		const struct rtc_thread_loss *l = &sum->thread_loss[i];
		struct thread_entry *t = rtc__stats_thread(s, l->pid, l->tid);
		uint64_t total = l->full + l->signal + l->overwritten + l->full_at_exit + l->not_recorded;

		if (!t)
			continue;
		t->loss_reported = total;
		if (total > t->lost)
			t->lost = total;
	}
	for (size_t i = 0; i < sum->nprocess_loss; i++) {
		struct process_entry *p = rtc__stats_process(s, sum->process_loss[i].pid);

		if (p)
			p->loss = sum->process_loss[i];
	}
}

void rtc_stats_clear_open(struct rtc_stats *s)
{
	free_items(&s->open, free);
}

/* ---- events ---- */

/* Durations come from the producer: sums saturate rather than wrap (as the histograms' do). */
static inline void add_sat(uint64_t *sum, uint64_t v)
{
	if (__builtin_add_overflow(*sum, v, sum))
		*sum = UINT64_MAX;
}

static uint64_t end_of(const struct rtc_out *ev)
{
	return ev->ts + ev->dur < ev->ts ? UINT64_MAX : ev->ts + ev->dur;
}

/* The first and latest times seen: the thread's when there is one (views fold the threads' into the
 * model's), else the model's. */
static void seen_time(struct rtc_stats *s, struct thread_entry *t, const struct rtc_out *ev)
{
	uint64_t end = end_of(ev), *first = t ? &t->first_ns : &s->info.first_ns, *last = t ? &t->last_ns : &s->info.last_ns;

	if (ev->ts < *first)
		*first = ev->ts;
	if (end > *last)
		*last = end;
}

/* Adds item to a task's list unless there (the set beside the list finds it in O(1)); counts it past the
 * list's size. */
bool rtc__stats_add_ref(void **list, const void **set, uint32_t *n, uint64_t *more, void *item)
{
	size_t mask = 2 * RTC_STATS_TASK_REFS - 1, i = (size_t)(((uintptr_t)item >> 4) * 0x9e3779b97f4a7c15ull >> 58);

	for (i &= mask; set[i]; i = (i + 1) & mask)
		if (set[i] == item)
			return true;
	if (*n < RTC_STATS_TASK_REFS) {
		set[i] = item;
		list[(*n)++] = item;
		return true;
	}
	(*more)++;
	return false;
}

/* ev is restrict: nothing the model writes is part of it, so its fields are loaded once. */
static __attribute__((noinline)) void on_span(struct rtc_stats *restrict s, const struct rtc_out *restrict ev)
{
	struct thread_entry *t = rtc__stats_thread(s, ev->pid, ev->tid);
	struct span_entry *e = rtc__stats_span_of(s, ev);
	uint32_t flags = ev->flags & RTC_STATS_FLAGGED;

	seen_time(s, t, ev);
	s->info.spans++;
	if (t) {
		t->spans++;
		t->events++;
		t->flagged += flags != 0;
		if (ev->depth == 0) {
			add_sat(&t->busy_ns, ev->dur);
			if (ev->flags & RTC_F_CPU) {
				uint64_t on = ev->cpu_ns < ev->dur ? ev->cpu_ns : ev->dur;

				t->cpu_spans++;
				add_sat(&t->on_cpu_ns, on);
				add_sat(&t->off_cpu_ns, ev->dur - on);
				t->ctx_voluntary += ev->ctx_voluntary;
				t->ctx_involuntary += ev->ctx_involuntary;
			}
		}
	} else {
		/* No thread entry (limit): counted in the process itself; those of its threads are
		 * added up in the views. */
		struct process_entry *p = rtc__stats_process(s, ev->pid);

		s->info.other_threads++;
		if (p) {
			p->spans++;
			p->events++;
			p->flagged += flags != 0;
			if (ev->depth == 0)
				add_sat(&p->busy_ns, ev->dur);
		}
	}
	if (!e) {
		s->info.dropped++;
		return;
	}
	if (flags) {
		s->info.flagged++;
		e->flagged++;
		add_sat(&e->flagged_ns, ev->dur);
		e->before_attach += !!(flags & RTC_F_BEFORE_ATTACH);
		e->begin_unknown += !!(flags & RTC_F_BEGIN_UNKNOWN);
		e->repaired += !!(flags & RTC_F_REPAIRED);
		e->incomplete += !!(flags & RTC_F_INCOMPLETE);
		e->lost_end += !!(flags & RTC_F_LOST_END);
	} else if (rtc__stats_hist(&e->hist)) {
		rtc_hist_add(e->hist, ev->dur);
		add_sat(&e->self_ns, ev->self_ns < ev->dur ? ev->self_ns : ev->dur);
		if (ev->flags & RTC_F_CPU) {
			uint64_t on = ev->cpu_ns < ev->dur ? ev->cpu_ns : ev->dur;

			e->cpu_spans++;
			add_sat(&e->on_cpu_ns, on);
			add_sat(&e->off_cpu_ns, ev->dur - on);
			e->ctx_voluntary += ev->ctx_voluntary;
			e->ctx_involuntary += ev->ctx_involuntary;
		}
	} else {
		s->info.dropped++;
	}
	if (s->open.n) {
		struct live_key k = { ev->pid, ev->tid, ev->span_seq };
		uint64_t h = rtc__stats_id_hash(ev->pid, ev->tid, ev->span_seq);
		struct open_span *o;

		/* Closed only because recording stopped: it is still open, it has run this long. */
		if ((ev->flags & RTC_F_INCOMPLETE) && !(ev->flags & RTC_F_THREAD_EXIT) &&
		    (o = rtc__ptab_find(&s->open, h, rtc__stats_open_eq, &k)) != NULL)
			o->running_ns = ev->dur;
		else
			free(rtc__ptab_remove(&s->open, h, rtc__stats_open_eq, &k));
	}
	if (ev->task && s->live.n) {
		struct live_task *lt = rtc__live_find(&s->live, ev->pid, ev->task, t ? t->live_hint : SIZE_MAX);

		if (lt) {
			struct task_entry *te = lt->task;

			if (t)
				t->live_hint = (size_t)(lt - s->live.slot);
			/* Each remembers the task name it was last added to: the sets are only asked on a change. */
			if (e->ref_task != te &&
			    rtc__stats_add_ref((void **)te->spans, te->seen[0], &te->nspans, &te->spans_more, e))
				e->ref_task = te;
			if (t && t->ref_task != te &&
			    rtc__stats_add_ref((void **)te->threads, te->seen[1], &te->nthreads, &te->threads_more, t))
				t->ref_task = te;
		}
	}
}

static void on_span_open(struct rtc_stats *s, const struct rtc_out *ev)
{
	struct live_key k = { ev->pid, ev->tid, ev->span_seq };
	uint64_t h = rtc__stats_id_hash(ev->pid, ev->tid, ev->span_seq);
	struct open_span *o = rtc__ptab_find(&s->open, h, rtc__stats_open_eq, &k);

	seen_time(s, NULL, ev);
	if (!o) {
		if (s->open.n + s->live.n >= s->opt.max_open || !(o = calloc(1, sizeof(*o)))) {
			s->info.untracked_open++;
			return;
		}
		o->pid = ev->pid;
		o->tid = ev->tid;
		o->span_seq = ev->span_seq;
		if (rtc__ptab_add(&s->open, h, o)) {
			free(o);
			s->info.untracked_open++;
			return;
		}
	}
	o->span = rtc__stats_span(s, ev->pid, ev->name, ev->name_len);
	o->begin_ns = ev->ts;
	o->running_ns = ev->dur;
	if (!o->span)
		free(rtc__ptab_remove(&s->open, h, rtc__stats_open_eq, &k));
}

static __attribute__((noinline)) void on_task_begin(struct rtc_stats *restrict s, const struct rtc_out *restrict ev)
{
	struct task_entry *e = rtc__stats_task_of(s, ev);
	struct live_task *lt;

	seen_time(s, NULL, ev);
	if (!e) {
		s->info.untracked_tasks++;
		return;
	}
	if (s->open.n + s->live.n >= s->opt.max_open) {
		if (!(lt = rtc__live_find(&s->live, ev->pid, ev->id, SIZE_MAX))) {
			s->info.untracked_tasks++;
			return;
		}
	} else if (!(lt = rtc__live_add(&s->live, ev->pid, ev->id))) {
		s->info.untracked_tasks++;
		return;
	}
	if (lt->task) { /* a second begin of the same id: the first one never ended */
		lt->task->open--;
		lt->task->incomplete++;
	}
	lt->task = e;
	lt->begin_ns = ev->ts;
	lt->begin_flags = ev->flags;
	e->open++;
}

static __attribute__((noinline)) void on_task_end(struct rtc_stats *restrict s, const struct rtc_out *restrict ev)
{
	struct live_task *lt = rtc__live_find(&s->live, ev->pid, ev->id, SIZE_MAX);
	struct task_entry *e;
	bool complete = lt && !((lt->begin_flags | ev->flags) & RTC_STATS_FLAGGED);

	/* A task end's ts is its end: its dur reaches back, not forward. */
	if (ev->ts < s->info.first_ns)
		s->info.first_ns = ev->ts;
	if (ev->ts > s->info.last_ns)
		s->info.last_ns = ev->ts;
	if (lt) {
		e = lt->task;
		e->open--;
		rtc__live_remove(&s->live, lt);
	} else if (ev->name_len) {
		e = rtc__stats_task(s, ev->pid, ev->name, ev->name_len);
	} else {
		e = rtc__stats_task(s, ev->pid, "(unknown task)", 14);
	}
	if (!e) {
		s->info.untracked_tasks++;
		return;
	}
	if (complete && rtc__stats_hist(&e->hist)) {
		rtc_hist_add(e->hist, ev->dur);
		e->complete++;
	} else {
		e->incomplete++;
	}
}

/* The rare kinds, apart: the common ones are tail calls from rtc_stats_event(), each with only the
 * registers it needs. */
static __attribute__((noinline)) void on_other(struct rtc_stats *s, const struct rtc_out *ev)
{
	struct thread_entry *t;

	switch (ev->kind) {
	case RTC_OUT_PROCESS: {
		struct process_entry *p = rtc__stats_process(s, ev->pid);

		if (p) {
			p->parent = (uint32_t)ev->parent;
			if (ev->text_len && rtc__stats_setstr(&p->name, ev->text, ev->text_len))
				s->info.dropped++;
		}
		break;
	}
	case RTC_OUT_THREAD:
		t = rtc__stats_thread(s, ev->pid, ev->tid);
		if (t) {
			t->thread_number = ev->thread_number;
			if (ev->text_len && rtc__stats_setstr(&t->name, ev->text, ev->text_len))
				s->info.dropped++;
		}
		break;
	case RTC_OUT_SPAN_OPEN:
		on_span_open(s, ev);
		break;
	case RTC_OUT_LOSS:
		t = rtc__stats_thread(s, ev->pid, ev->tid);
		if (t) {
			t->lost += ev->count;
		} else {
			struct process_entry *p = rtc__stats_process(s, ev->pid);

			if (p)
				p->lost += ev->count;
		}
		break;
	case RTC_OUT_LOG:
	case RTC_OUT_FLOW:
		t = rtc__stats_thread(s, ev->pid, ev->tid);
		if (t) {
			t->events++;
			seen_time(s, t, ev);
		} else {
			struct process_entry *p = rtc__stats_process(s, ev->pid);

			if (p)
				p->events++;
		}
		break;
	default:
		break;
	}
}

void rtc_stats_event(struct rtc_stats *s, const struct rtc_out *ev)
{
	rtc_stats_event_cb(s, ev);
}

void rtc_stats_event_cb(void *ctx, const struct rtc_out *ev)
{
	struct rtc_stats *s = ctx;

	s->info.events++;
	if (ev->kind == RTC_OUT_SPAN)
		on_span(s, ev);
	else if (ev->kind == RTC_OUT_TASK_BEGIN)
		on_task_begin(s, ev);
	else if (ev->kind == RTC_OUT_TASK_END)
		on_task_end(s, ev);
	else
		on_other(s, ev);
}

int rtc_stats_sort_parse(const char *word, enum rtc_stats_sort *out)
{
	static const char *names[] = { "total", "self", "count", "mean", "p50", "p99", "max", "name" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (word && strcmp(word, names[i]) == 0) {
			*out = (enum rtc_stats_sort)i;
			return 0;
		}
	return -EINVAL;
}
