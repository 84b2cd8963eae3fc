/* SPDX-License-Identifier: MIT */
/* The statistics for people and spreadsheets: aligned text tables (human units, whole names, a top-N
 * limit that says what it left out, open spans with their running time) and CSV. */
#include "stats-impl.h"
#include "text-table.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

const char *rtc_stats_format_ns(uint64_t ns, char *buf, size_t cap)
{
	static const struct {
		double scale;
		const char *unit;
	} units[] = { { 1e3, "µs" }, { 1e6, "ms" }, { 1e9, "s" } };
	double v;

	if (ns < 1000) {
		snprintf(buf, cap, "%" PRIu64 "ns", ns);
		return buf;
	}
	if (ns < 59999500000ull) {
		for (size_t i = 0; i < 3; i++) {
			v = (double)ns / units[i].scale;
			if (v >= 999.5 && i < 2)
				continue;
			snprintf(buf, cap, v < 9.995 ? "%.2f%s" : v < 99.95 ? "%.1f%s" : "%.0f%s", v, units[i].unit);
			return buf;
		}
	}
	v = (double)ns / 1e9 + 0.5;
	if (v < 3600)
		snprintf(buf, cap, "%um%02us", (unsigned)(v / 60), (unsigned)v % 60);
	else if (v < 360000000.0)
		snprintf(buf, cap, "%uh%02um", (unsigned)(v / 3600), (unsigned)(v / 60) % 60);
	else
		snprintf(buf, cap, "%.3gh", v / 3600);
	return buf;
}

static const char *dur(uint64_t ns, char *buf)
{
	return rtc_stats_format_ns(ns, buf, 24);
}

static void more_line(FILE *f, size_t shown, size_t total, const char *what)
{
	if (shown < total)
		fprintf(f, "... %zu more %s (of %zu; --top 0 shows all)\n", total - shown, what, total);
}

static void span_table(const struct rtc_stats_view *v, size_t top, FILE *f, struct rtc_tt *t)
{
	static const char *sorts[] = { "total", "self", "count", "mean", "p50", "p99", "max", "name" };
	static const char *cols[] = { "count", "total", "self", "mean", "stddev", "min", "p50", "p90", "p99",
				      "p99.9", "max" };
	size_t n, shown, c;
	const struct rtc_stats_span_row *rows = rtc_stats_view_spans(v, &n);
	bool pid = false, cpu = false, flagged = false, open = false;
	char left[20], b[24];
	char **row;

	shown = top && top < n ? top : n;
	for (size_t i = 0; i < n; i++) {
		pid |= rows[i].pid != 0;
		cpu |= rows[i].cpu_spans != 0;
		flagged |= rows[i].flagged != 0;
		open |= rows[i].open != 0;
	}
	fprintf(f, "Spans (%s, by %s): %zu name%s\n", pid ? "per process" : "all processes",
		sorts[v->sort <= RTC_STATS_SORT_NAME ? v->sort : 0], n, n == 1 ? "" : "s");
	memset(left, 'r', sizeof(left));
	left[0] = 'l';
	rtc_tt_init(t, 12 + pid + 3 * cpu + flagged + open, left);
	row = rtc_tt_row(t);
	c = 0;
	rtc_tt_set(t, row, c++, "name");
	if (pid)
		rtc_tt_set(t, row, c++, "pid");
	for (size_t k = 0; k < 11; k++)
		rtc_tt_set(t, row, c++, "%s", cols[k]);
	if (cpu) {
		rtc_tt_set(t, row, c++, "on-cpu");
		rtc_tt_set(t, row, c++, "off-cpu");
		rtc_tt_set(t, row, c++, "csw");
	}
	if (flagged)
		rtc_tt_set(t, row, c++, "flagged");
	if (open)
		rtc_tt_set(t, row, c++, "open (longest)");
	for (size_t i = 0; i < shown; i++) {
		const struct rtc_stats_span_row *r = &rows[i];
		uint64_t d[8] = { r->d.total_ns, r->self_ns, rtc__stats_ns(r->d.mean_ns),
				  rtc__stats_ns(r->d.stddev_ns), r->d.min_ns, r->d.p50_ns, r->d.p90_ns, r->d.p99_ns };

		row = rtc_tt_row(t);
		c = 0;
		rtc_tt_name(t, row, c++, r->name, r->name_len);
		if (pid)
			rtc_tt_set(t, row, c++, "%u", r->pid);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->d.count);
		rtc_tt_set(t, row, c++, "%s", dur(d[0], b));
		rtc_tt_set(t, row, c++, "%s", dur(d[1], b));
		for (size_t k = 2; k < 8; k++)
			rtc_tt_set(t, row, c++, "%s", r->d.count > (k == 3) ? dur(d[k], b) : "-");
		rtc_tt_set(t, row, c++, "%s", r->d.count ? dur(r->d.p999_ns, b) : "-");
		rtc_tt_set(t, row, c++, "%s", r->d.count ? dur(r->d.max_ns, b) : "-");
		if (cpu) {
			rtc_tt_set(t, row, c++, "%s", r->cpu_spans ? dur(r->on_cpu_ns, b) : "-");
			rtc_tt_set(t, row, c++, "%s", r->cpu_spans ? dur(r->off_cpu_ns, b) : "-");
			rtc_tt_set(t, row, c++, "%" PRIu64, r->ctx_voluntary + r->ctx_involuntary);
		}
		if (flagged)
			rtc_tt_set(t, row, c++, "%" PRIu64, r->flagged);
		if (open) {
			if (r->open)
				rtc_tt_set(t, row, c++, "%" PRIu64 " (%s)", r->open, dur(r->open_longest_ns, b));
			else
				rtc_tt_set(t, row, c++, "%s", "");
		}
	}
	rtc_tt_print(t, f);
	more_line(f, shown, n, "span names");
	if (flagged)
		fputs("flagged: spans begun before attach, begun at an unknown time, repaired, still open at the end or "
		      "with their end lost: counted apart, not in count, total, self or percentiles\n", f);
}

static void task_table(const struct rtc_stats_view *v, size_t top, FILE *f, struct rtc_tt *t)
{
	static const char left[] = "lrrrrrrrrrrrrr";
	size_t n, shown, c;
	const struct rtc_stats_task_row *rows = rtc_stats_view_tasks(v, &n);
	bool pid = false;
	char b[24], **row;

	shown = top && top < n ? top : n;
	for (size_t i = 0; i < n; i++)
		pid |= rows[i].pid != 0;
	fprintf(f, "Tasks (%s): %zu name%s; durations of complete tasks\n", pid ? "per process" : "all processes", n,
		n == 1 ? "" : "s");
	rtc_tt_init(t, 13 + pid, left);
	row = rtc_tt_row(t);
	c = 0;
	rtc_tt_set(t, row, c++, "task");
	if (pid)
		rtc_tt_set(t, row, c++, "pid");
	{
		static const char *cols[] = { "count", "complete", "incomplete", "open", "total", "mean", "p50",
					      "p90", "p99", "max", "spans", "threads" };

		for (size_t k = 0; k < 12; k++)
			rtc_tt_set(t, row, c++, "%s", cols[k]);
	}
	for (size_t i = 0; i < shown; i++) {
		const struct rtc_stats_task_row *r = &rows[i];
		bool any = r->d.count > 0;

		row = rtc_tt_row(t);
		c = 0;
		rtc_tt_name(t, row, c++, r->name, r->name_len);
		if (pid)
			rtc_tt_set(t, row, c++, "%u", r->pid);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->count);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->complete);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->incomplete);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->open);
		rtc_tt_set(t, row, c++, "%s", dur(r->d.total_ns, b));
		rtc_tt_set(t, row, c++, "%s", any ? dur(rtc__stats_ns(r->d.mean_ns), b) : "-");
		rtc_tt_set(t, row, c++, "%s", any ? dur(r->d.p50_ns, b) : "-");
		rtc_tt_set(t, row, c++, "%s", any ? dur(r->d.p90_ns, b) : "-");
		rtc_tt_set(t, row, c++, "%s", any ? dur(r->d.p99_ns, b) : "-");
		rtc_tt_set(t, row, c++, "%s", any ? dur(r->d.max_ns, b) : "-");
		rtc_tt_set(t, row, c++, r->spans_more ? "%zu+" : "%zu", r->nspans);
		rtc_tt_set(t, row, c++, r->threads_more ? "%zu+" : "%zu", r->nthreads);
	}
	rtc_tt_print(t, f);
	more_line(f, shown, n, "task names");
}

static void thread_table(const struct rtc_stats_view *v, size_t top, FILE *f, struct rtc_tt *t)
{
	static const char left[] = "rrlrrrrrrrr";
	size_t n, shown, c;
	const struct rtc_stats_thread_row *rows = rtc_stats_view_threads(v, &n);
	bool cpu = false;
	char b[24], **row;

	shown = top && top < n ? top : n;
	for (size_t i = 0; i < n; i++)
		cpu |= rows[i].cpu_spans != 0;
	fprintf(f, "Threads (by busy time: inside outermost spans): %zu\n", n);
	rtc_tt_init(t, 8 + 3 * cpu, left);
	row = rtc_tt_row(t);
	c = 0;
	{
		static const char *cols[] = { "pid", "tid", "thread", "busy", "spans", "flagged", "events", "lost",
					      "on-cpu", "off-cpu", "csw" };

		for (size_t k = 0; k < 8 + 3 * (size_t)cpu; k++)
			rtc_tt_set(t, row, c++, "%s", cols[k]);
	}
	for (size_t i = 0; i < shown; i++) {
		const struct rtc_stats_thread_row *r = &rows[i];

		row = rtc_tt_row(t);
		c = 0;
		rtc_tt_set(t, row, c++, "%u", r->pid);
		rtc_tt_set(t, row, c++, "%u", r->tid);
		if (r->name)
			rtc_tt_name(t, row, c++, r->name, strlen(r->name));
		else
			rtc_tt_set(t, row, c++, "%s", "");
		rtc_tt_set(t, row, c++, "%s", dur(r->busy_ns, b));
		rtc_tt_set(t, row, c++, "%" PRIu64, r->spans);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->flagged);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->events);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->lost);
		if (cpu) {
			rtc_tt_set(t, row, c++, "%s", r->cpu_spans ? dur(r->on_cpu_ns, b) : "-");
			rtc_tt_set(t, row, c++, "%s", r->cpu_spans ? dur(r->off_cpu_ns, b) : "-");
			rtc_tt_set(t, row, c++, "%" PRIu64, r->ctx_voluntary + r->ctx_involuntary);
		}
	}
	rtc_tt_print(t, f);
	more_line(f, shown, n, "threads");
}

static void process_table(const struct rtc_stats_view *v, FILE *f, struct rtc_tt *t)
{
	static const char left[] = "rlrrrrrrr";
	size_t n, c;
	const struct rtc_stats_process_row *rows = rtc_stats_view_processes(v, &n);
	char b[24], **row;

	fprintf(f, "Processes: %zu\n", n);
	rtc_tt_init(t, 9, left);
	row = rtc_tt_row(t);
	c = 0;
	{
		static const char *cols[] = { "pid", "process", "threads", "busy", "spans", "flagged", "events", "lost",
					      "untraced" };

		for (size_t k = 0; k < 9; k++)
			rtc_tt_set(t, row, c++, "%s", cols[k]);
	}
	for (size_t i = 0; i < n; i++) {
		const struct rtc_stats_process_row *r = &rows[i];

		row = rtc_tt_row(t);
		c = 0;
		rtc_tt_set(t, row, c++, "%u", r->pid);
		if (r->name)
			rtc_tt_name(t, row, c++, r->name, strlen(r->name));
		else
			rtc_tt_set(t, row, c++, "%s", "");
		rtc_tt_set(t, row, c++, "%" PRIu64, r->threads);
		rtc_tt_set(t, row, c++, "%s", dur(r->busy_ns, b));
		rtc_tt_set(t, row, c++, "%" PRIu64, r->spans);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->flagged);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->events);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->lost);
		rtc_tt_set(t, row, c++, "%" PRIu64, r->threads_untraced);
	}
	rtc_tt_print(t, f);
}

static void open_table(const struct rtc_stats_view *v, size_t top, FILE *f, struct rtc_tt *t)
{
	static const char left[] = "lrrr";
	size_t n, shown;
	const struct rtc_stats_open_row *rows = rtc_stats_view_open(v, &n);
	char b[24], **row;

	shown = top && top < n ? top : n;
	fprintf(f, "Open spans (running now, longest first): %zu\n", n);
	rtc_tt_init(t, 4, left);
	row = rtc_tt_row(t);
	rtc_tt_set(t, row, 0, "span");
	rtc_tt_set(t, row, 1, "pid");
	rtc_tt_set(t, row, 2, "tid");
	rtc_tt_set(t, row, 3, "running for");
	for (size_t i = 0; i < shown; i++) {
		row = rtc_tt_row(t);
		rtc_tt_name(t, row, 0, rows[i].name, rows[i].name_len);
		rtc_tt_set(t, row, 1, "%u", rows[i].pid);
		rtc_tt_set(t, row, 2, "%u", rows[i].tid);
		rtc_tt_set(t, row, 3, "open, %s", dur(rows[i].running_ns, b));
	}
	rtc_tt_print(t, f);
	more_line(f, shown, n, "open spans");
}

int rtc_stats_write_table(const struct rtc_stats_view *v, const struct rtc_stats_table_options *opt, FILE *f)
{
	struct rtc_stats_table_options none = { 0 };
	const struct rtc_stats_info *info = rtc_stats_view_info(v);
	struct rtc_tt t;
	bool oom = false;
	size_t n;
	char b[24];

	if (!opt)
		opt = &none;
	if (info->last_ns > info->first_ns)
		fprintf(f, "%" PRIu64 " spans (%" PRIu64 " flagged) over %s\n", info->spans, info->flagged,
			dur(info->last_ns - info->first_ns, b));
	span_table(v, opt->top, f, &t);
	oom |= t.oom;
	rtc_tt_free(&t);
	rtc_stats_view_open(v, &n);
	if (!opt->no_open && n) {
		putc('\n', f);
		open_table(v, opt->top, f, &t);
		oom |= t.oom;
		rtc_tt_free(&t);
	}
	rtc_stats_view_tasks(v, &n);
	if (!opt->no_tasks && n) {
		putc('\n', f);
		task_table(v, opt->top, f, &t);
		oom |= t.oom;
		rtc_tt_free(&t);
	}
	rtc_stats_view_threads(v, &n);
	if (!opt->no_threads && n) {
		putc('\n', f);
		thread_table(v, opt->top, f, &t);
		oom |= t.oom;
		rtc_tt_free(&t);
		putc('\n', f);
		process_table(v, f, &t);
		oom |= t.oom;
		rtc_tt_free(&t);
	}
	if (info->dropped || info->other_span_names || info->untracked_tasks || info->untracked_open)
		fprintf(f, "\nnot counted: %" PRIu64 " events (no memory), %" PRIu64 " spans past the name limit (in \"%s\"), "
			   "%" PRIu64 " tasks and %" PRIu64 " open spans past the tracking limit\n",
			info->dropped, info->other_span_names, RTC_STATS_OTHER_NAMES, info->untracked_tasks,
			info->untracked_open);
	if (oom)
		return -ENOMEM;
	return ferror(f) ? -EIO : 0;
}

/* ---- CSV ---- */

static void csv_str(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	putc('"', f);
	for (size_t i = 0; i < n;) {
		size_t l = rtc_utf8_len(p + i, n - i);

		if (l == 0) {
			fputs("\xef\xbf\xbd", f);
			i++;
			continue;
		}
		if (p[i] == '"')
			putc('"', f);
		fwrite(p + i, 1, l, f);
		i += l;
	}
	putc('"', f);
}

int rtc_stats_write_csv(const struct rtc_stats_view *v, FILE *f)
{
	size_t n;
	const struct rtc_stats_span_row *rows = rtc_stats_view_spans(v, &n);

	fputs("name,pid,process,count,total_ns,self_ns,mean_ns,stddev_ns,min_ns,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,"
	      "flagged,flagged_ns,before_attach,begin_unknown,repaired,incomplete,lost_end,open,open_longest_ns,"
	      "cpu_spans,on_cpu_ns,off_cpu_ns,ctx_voluntary,ctx_involuntary\r\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct rtc_stats_span_row *r = &rows[i];

		csv_str(f, r->name, r->name_len);
		fprintf(f, ",%u,", r->pid);
		if (r->process)
			csv_str(f, r->process, strlen(r->process));
		fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			   ",%" PRIu64 ",%" PRIu64,
			r->d.count, r->d.total_ns, r->self_ns, r->d.mean_ns, r->d.stddev_ns, r->d.min_ns, r->d.p50_ns,
			r->d.p90_ns, r->d.p99_ns, r->d.p999_ns, r->d.max_ns);
		fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			   ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n",
			r->flagged, r->flagged_ns, r->before_attach, r->begin_unknown, r->repaired, r->incomplete,
			r->lost_end, r->open, r->open_longest_ns, r->cpu_spans, r->on_cpu_ns, r->off_cpu_ns,
			r->ctx_voluntary, r->ctx_involuntary);
	}
	return ferror(f) ? -EIO : 0;
}
