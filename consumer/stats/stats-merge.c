/* SPDX-License-Identifier: MIT */
/* Merging one statistics model into another (several runs read from files, one side of a `diff`):
 * entries matched by name and pid, histograms and counters added, task lists joined. */
#include "stats-impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void add_sat(uint64_t *sum, uint64_t v)
{
	if (__builtin_add_overflow(*sum, v, sum))
		*sum = UINT64_MAX;
}

static void keep_name(char **dst, const char *src, int *err)
{
	if (!*dst && src && rtc__stats_setstr(dst, src, strlen(src)))
		*err = -ENOMEM;
}

static void merge_processes(struct rtc_stats *dst, const struct rtc_stats *src, int *err)
{
	for (size_t i = 0; i < src->processes.cap; i++) {
		const struct process_entry *p = src->processes.item[i];
		struct process_entry *d;

		if (!p)
			continue;
		if (!(d = rtc__stats_process(dst, p->pid))) {
			*err = -E2BIG;
			continue;
		}
		if (!d->parent)
			d->parent = p->parent;
		keep_name(&d->name, p->name, err);
		add_sat(&d->events, p->events);
		add_sat(&d->spans, p->spans);
		add_sat(&d->flagged, p->flagged);
		add_sat(&d->lost, p->lost);
		add_sat(&d->busy_ns, p->busy_ns);
		add_sat(&d->loss.threads_untraced, p->loss.threads_untraced);
		add_sat(&d->loss.names_overflowed, p->loss.names_overflowed);
		add_sat(&d->loss.tasks_untracked, p->loss.tasks_untracked);
		add_sat(&d->loss.overwritten, p->loss.overwritten);
		add_sat(&d->loss.stack_overflows, p->loss.stack_overflows);
	}
}

static void merge_threads(struct rtc_stats *dst, const struct rtc_stats *src, int *err)
{
	for (size_t i = 0; i < src->threads.cap; i++) {
		const struct thread_entry *t = src->threads.item[i];
		struct thread_entry *d;

		if (!t)
			continue;
		if (!(d = rtc__stats_thread(dst, t->pid, t->tid))) {
			dst->info.other_threads++;
			continue;
		}
		keep_name(&d->name, t->name, err);
		if (!d->thread_number)
			d->thread_number = t->thread_number;
		add_sat(&d->busy_ns, t->busy_ns);
		add_sat(&d->spans, t->spans);
		add_sat(&d->flagged, t->flagged);
		add_sat(&d->events, t->events);
		add_sat(&d->lost, t->lost);
		add_sat(&d->loss_reported, t->loss_reported);
		add_sat(&d->cpu_spans, t->cpu_spans);
		add_sat(&d->on_cpu_ns, t->on_cpu_ns);
		add_sat(&d->off_cpu_ns, t->off_cpu_ns);
		add_sat(&d->ctx_voluntary, t->ctx_voluntary);
		add_sat(&d->ctx_involuntary, t->ctx_involuntary);
		if (t->first_ns < d->first_ns)
			d->first_ns = t->first_ns;
		if (t->last_ns > d->last_ns)
			d->last_ns = t->last_ns;
	}
}

static void merge_spans(struct rtc_stats *dst, const struct rtc_stats *src, int *err)
{
	for (size_t i = 0; i < src->spans.cap; i++) {
		const struct span_entry *e = src->spans.item[i];
		struct span_entry *d;

		if (!e)
			continue;
		if (!(d = rtc__stats_span(dst, e->pid, e->name, e->name_len))) {
			*err = -ENOMEM;
			continue;
		}
		if (e->hist && rtc_hist_count(e->hist)) {
			if (!rtc__stats_hist(&d->hist)) {
				*err = -ENOMEM;
				continue;
			}
			rtc_hist_merge(d->hist, e->hist);
		}
		add_sat(&d->self_ns, e->self_ns);
		add_sat(&d->flagged, e->flagged);
		add_sat(&d->flagged_ns, e->flagged_ns);
		add_sat(&d->before_attach, e->before_attach);
		add_sat(&d->begin_unknown, e->begin_unknown);
		add_sat(&d->repaired, e->repaired);
		add_sat(&d->incomplete, e->incomplete);
		add_sat(&d->lost_end, e->lost_end);
		add_sat(&d->cpu_spans, e->cpu_spans);
		add_sat(&d->on_cpu_ns, e->on_cpu_ns);
		add_sat(&d->off_cpu_ns, e->off_cpu_ns);
		add_sat(&d->ctx_voluntary, e->ctx_voluntary);
		add_sat(&d->ctx_involuntary, e->ctx_involuntary);
	}
}

static void merge_tasks(struct rtc_stats *dst, const struct rtc_stats *src, int *err)
{
	for (size_t i = 0; i < src->tasks.cap; i++) {
		const struct task_entry *e = src->tasks.item[i];
		struct task_entry *d;

		if (!e)
			continue;
		if (!(d = rtc__stats_task(dst, e->pid, e->name, e->name_len))) {
			dst->info.untracked_tasks += e->complete + e->incomplete + e->open;
			continue;
		}
		if (e->hist && rtc_hist_count(e->hist)) {
			if (!rtc__stats_hist(&d->hist)) {
				*err = -ENOMEM;
				continue;
			}
			rtc_hist_merge(d->hist, e->hist);
		}
		add_sat(&d->complete, e->complete);
		add_sat(&d->incomplete, e->incomplete);
		add_sat(&d->open, e->open);
		add_sat(&d->spans_more, e->spans_more);
		add_sat(&d->threads_more, e->threads_more);
		for (uint32_t k = 0; k < e->nspans; k++) {
			struct span_entry *se = rtc__stats_span(dst, e->spans[k]->pid, e->spans[k]->name,
								e->spans[k]->name_len);

			if (se)
				(void)rtc__stats_add_ref((void **)d->spans, d->seen[0], &d->nspans, &d->spans_more, se);
		}
		for (uint32_t k = 0; k < e->nthreads; k++) {
			struct thread_entry *te = rtc__stats_thread(dst, e->threads[k]->pid, e->threads[k]->tid);

			if (te)
				(void)rtc__stats_add_ref((void **)d->threads, d->seen[1], &d->nthreads, &d->threads_more, te);
		}
	}
}

static void merge_open(struct rtc_stats *dst, const struct rtc_stats *src, int *err)
{
	for (size_t i = 0; i < src->open.cap; i++) {
		const struct open_span *o = src->open.item[i];
		struct live_key k;
		struct open_span *d;
		uint64_t h;

		if (!o)
			continue;
		k = (struct live_key){ o->pid, o->tid, o->span_seq };
		h = rtc__stats_id_hash(o->pid, o->tid, o->span_seq);
		if (rtc__ptab_find(&dst->open, h, rtc__stats_open_eq, &k))
			continue; /* the same span in two inputs: the first one's */
		if (dst->open.n + dst->live.n >= dst->opt.max_open || !(d = calloc(1, sizeof(*d)))) {
			dst->info.untracked_open++;
			continue;
		}
		*d = *o;
		d->span = rtc__stats_span(dst, o->pid, o->span->name, o->span->name_len);
		if (!d->span || rtc__ptab_add(&dst->open, h, d)) {
			free(d);
			*err = -ENOMEM;
		}
	}
}

static void merge_info(struct rtc_stats *dst, const struct rtc_stats *src, bool dst_empty)
{
	struct rtc_stats_info *d = &dst->info;
	const struct rtc_stats_info *s = &src->info;

	if (dst_empty) {
		d->origin_ns = s->origin_ns;
		d->attach_ns = s->attach_ns;
		d->live = s->live;
		d->ended = s->ended;
		if (src->clock)
			rtc__stats_setstr(&dst->clock, src->clock, strlen(src->clock));
		if (src->host)
			rtc__stats_setstr(&dst->host, src->host, strlen(src->host));
		if (src->tool)
			rtc__stats_setstr(&dst->tool, src->tool, strlen(src->tool));
		d->clock = dst->clock;
		d->host = dst->host;
		d->tool = dst->tool;
	} else {
		d->ended = d->ended && s->ended;
		d->live = d->live || s->live;
	}
	if (s->first_ns < d->first_ns)
		d->first_ns = s->first_ns;
	if (s->last_ns > d->last_ns)
		d->last_ns = s->last_ns;
#define ADD(name) add_sat(&d->name, s->name);
	COUNT_FIELDS(ADD)
#undef ADD
	if (s->ended) {
		struct rtc_summary *ds = &d->summary;
		const struct rtc_summary *ss = &s->summary;
		uint64_t start = dst_empty || ss->start_ns < ds->start_ns ? ss->start_ns : ds->start_ns;
		uint64_t end = ss->end_ns > ds->end_ns ? ss->end_ns : ds->end_ns;
		uint64_t res = ss->coarse_resolution_ns > ds->coarse_resolution_ns ? ss->coarse_resolution_ns
										  : ds->coarse_resolution_ns;
		uint64_t peak = ss->backlog_peak > ds->backlog_peak ? ss->backlog_peak : ds->backlog_peak;

#define ADDS(name) add_sat(&ds->name, ss->name);
		SUMMARY_FIELDS(ADDS)
#undef ADDS
		ds->start_ns = start;
		ds->end_ns = end;
		ds->coarse_resolution_ns = res;
		ds->backlog_peak = peak;
		ds->clock = dst->clock;
	}
}

int rtc_stats_merge(struct rtc_stats *dst, const struct rtc_stats *src)
{
	bool dst_empty = dst->info.events == 0 && dst->nspans == 0 && dst->ntasks == 0 && dst->nthreads == 0 &&
			 !dst->info.ended;
	int err = 0;

	if (dst == src)
		return -EINVAL;
	merge_info(dst, src, dst_empty);
	merge_processes(dst, src, &err);
	merge_threads(dst, src, &err);
	merge_spans(dst, src, &err);
	merge_tasks(dst, src, &err);
	merge_open(dst, src, &err);
	return err;
}
