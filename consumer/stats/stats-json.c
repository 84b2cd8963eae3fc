/* SPDX-License-Identifier: MIT */
/* The statistics as JSON: the writer of the format `ringtrace stats --json` prints, `record --stats-file`
 * writes and `diff` reads (stats-json-read.c reads it back). */
#include "stats-impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"


/* ---- writer ---- */

static void key_u64(FILE *f, const char *key, uint64_t v)
{
	fprintf(f, ",\"%s\":", key);
	rtc_json_put_u64(f, v);
}

static void key_str(FILE *f, const char *key, const char *s, size_t n)
{
	fprintf(f, ",\"%s\":", key);
	rtc_json_put_str(f, s, n, RTC_STATS_MAX_NAME);
}

static void key_cstr(FILE *f, const char *key, const char *s)
{
	if (s)
		key_str(f, key, s, strlen(s));
}

/* From "count" on, without a leading comma. */
static void write_dist(FILE *f, const struct rtc_stats_dist *d, bool hist)
{
	fputs("\"count\":", f);
	rtc_json_put_u64(f, d->count);
	key_u64(f, "total_ns", d->total_ns);
	fputs(",\"mean_ns\":", f);
	rtc_json_put_double(f, d->mean_ns);
	fputs(",\"stddev_ns\":", f);
	rtc_json_put_double(f, d->stddev_ns);
	key_u64(f, "min_ns", d->min_ns);
	key_u64(f, "p50_ns", d->p50_ns);
	key_u64(f, "p90_ns", d->p90_ns);
	key_u64(f, "p99_ns", d->p99_ns);
	key_u64(f, "p999_ns", d->p999_ns);
	key_u64(f, "max_ns", d->max_ns);
	if (hist) {
		fputs(",\"hist\":", f);
		rtc_hist_write_json(d->hist, f);
	}
}

static void write_span(FILE *f, const struct rtc_stats_span_row *r, bool hist)
{
	fputs("{\"name\":", f);
	rtc_json_put_str(f, r->name, r->name_len, RTC_STATS_MAX_NAME);
	key_u64(f, "pid", r->pid);
	key_cstr(f, "process", r->process);
	putc(',', f);
	write_dist(f, &r->d, false);
	key_u64(f, "self_ns", r->self_ns);
	fprintf(f, ",\"flagged\":{\"count\":%llu", (unsigned long long)r->flagged);
	key_u64(f, "ns", r->flagged_ns);
	key_u64(f, "before_attach", r->before_attach);
	key_u64(f, "begin_unknown", r->begin_unknown);
	key_u64(f, "repaired", r->repaired);
	key_u64(f, "incomplete", r->incomplete);
	key_u64(f, "lost_end", r->lost_end);
	fprintf(f, "},\"open\":{\"count\":%llu", (unsigned long long)r->open);
	key_u64(f, "longest_ns", r->open_longest_ns);
	fprintf(f, "},\"cpu\":{\"spans\":%llu", (unsigned long long)r->cpu_spans);
	key_u64(f, "on_ns", r->on_cpu_ns);
	key_u64(f, "off_ns", r->off_cpu_ns);
	key_u64(f, "ctx_voluntary", r->ctx_voluntary);
	key_u64(f, "ctx_involuntary", r->ctx_involuntary);
	putc('}', f);
	if (hist) {
		fputs(",\"hist\":", f);
		rtc_hist_write_json(r->d.hist, f);
	}
	putc('}', f);
}

static void write_task(FILE *f, const struct rtc_stats_task_row *r, bool hist)
{
	fputs("{\"name\":", f);
	rtc_json_put_str(f, r->name, r->name_len, RTC_STATS_MAX_NAME);
	key_u64(f, "pid", r->pid);
	key_cstr(f, "process", r->process);
	key_u64(f, "tasks", r->count);
	key_u64(f, "complete", r->complete);
	key_u64(f, "incomplete", r->incomplete);
	key_u64(f, "open", r->open);
	fputs(",\"durations\":{", f);
	write_dist(f, &r->d, hist);
	fputs("},\"spans\":[", f);
	for (size_t i = 0; i < r->nspans; i++) {
		if (i)
			putc(',', f);
		rtc_json_put_str(f, r->spans[i].name, r->spans[i].name_len, RTC_STATS_MAX_NAME);
	}
	fputs("]", f);
	key_u64(f, "spans_more", r->spans_more);
	fputs(",\"threads\":[", f);
	for (size_t i = 0; i < r->nthreads; i++)
		fprintf(f, "%s{\"pid\":%u,\"tid\":%u}", i ? "," : "", r->threads[i].pid, r->threads[i].tid);
	fputs("]", f);
	key_u64(f, "threads_more", r->threads_more);
	putc('}', f);
}

static void write_thread(FILE *f, const struct rtc_stats_thread_row *r)
{
	fprintf(f, "{\"pid\":%u,\"tid\":%u", r->pid, r->tid);
	key_cstr(f, "name", r->name);
	key_u64(f, "busy_ns", r->busy_ns);
	key_u64(f, "spans", r->spans);
	key_u64(f, "flagged", r->flagged);
	key_u64(f, "events", r->events);
	key_u64(f, "lost", r->lost);
	key_u64(f, "first_ns", r->first_ns);
	key_u64(f, "last_ns", r->last_ns);
	fprintf(f, ",\"cpu\":{\"spans\":%llu", (unsigned long long)r->cpu_spans);
	key_u64(f, "on_ns", r->on_cpu_ns);
	key_u64(f, "off_ns", r->off_cpu_ns);
	key_u64(f, "ctx_voluntary", r->ctx_voluntary);
	key_u64(f, "ctx_involuntary", r->ctx_involuntary);
	fputs("}}", f);
}

static void write_process(FILE *f, const struct rtc_stats_process_row *r)
{
	fprintf(f, "{\"pid\":%u,\"parent\":%u", r->pid, r->parent);
	key_cstr(f, "name", r->name);
	key_u64(f, "threads", r->threads);
	key_u64(f, "busy_ns", r->busy_ns);
	key_u64(f, "spans", r->spans);
	key_u64(f, "flagged", r->flagged);
	key_u64(f, "events", r->events);
	key_u64(f, "lost", r->lost);
	fprintf(f, ",\"producer\":{\"threads_untraced\":%llu", (unsigned long long)r->threads_untraced);
	key_u64(f, "names_overflowed", r->names_overflowed);
	key_u64(f, "tasks_untracked", r->tasks_untracked);
	key_u64(f, "overwritten", r->overwritten);
	key_u64(f, "stack_overflows", r->stack_overflows);
	fputs("}}", f);
}

int rtc_stats_write_json(const struct rtc_stats *s, const struct rtc_stats_json_options *opt, FILE *f)
{
	struct rtc_stats_view_options vo = { opt && opt->merge_processes, opt ? opt->sort : RTC_STATS_SORT_TOTAL };
	struct rtc_stats_view *v = rtc_stats_view_create(s, &vo);
	const struct rtc_stats_info *in;
	bool hist = !(opt && opt->no_hists);

	if (!v)
		return -ENOMEM;
	in = &v->info;
	fprintf(f, "{\"format\":\"%s\",\"version\":%d", RTC_STATS_FORMAT_NAME, RTC_STATS_FORMAT_VERSION);
	key_cstr(f, "tool", in->tool);
	key_cstr(f, "host", in->host);
	key_cstr(f, "clock", in->clock);
	fprintf(f, ",\"live\":%s,\"ended\":%s,\"merged\":%s", in->live ? "true" : "false",
		in->ended ? "true" : "false", vo.merge_processes ? "true" : "false");
	key_u64(f, "origin_ns", in->origin_ns);
	key_u64(f, "attach_ns", in->attach_ns);
	key_u64(f, "first_ns", in->first_ns);
	key_u64(f, "last_ns", in->last_ns);
	fputs(",\n\"counts\":{", f);
	{
		const char *sep = "";

#define W(name)                                                                      \
	fprintf(f, "%s\"" #name "\":%llu", sep, (unsigned long long)in->name); \
	sep = ",";
		COUNT_FIELDS(W)
#undef W
	}
	putc('}', f);
	if (in->ended) {
		const char *sep = "";

		fputs(",\n\"summary\":{", f);
#define W(name)                                                                              \
	fprintf(f, "%s\"" #name "\":%llu", sep, (unsigned long long)in->summary.name); \
	sep = ",";
		SUMMARY_FIELDS(W)
#undef W
		putc('}', f);
	}
	fputs(",\n\"spans\":[", f);
	for (size_t i = 0; i < v->nspans; i++) {
		fputs(i ? ",\n" : "\n", f);
		write_span(f, &v->spans[i], hist);
	}
	fputs("],\n\"tasks\":[", f);
	for (size_t i = 0; i < v->ntasks; i++) {
		fputs(i ? ",\n" : "\n", f);
		write_task(f, &v->tasks[i], hist);
	}
	fputs("],\n\"threads\":[", f);
	for (size_t i = 0; i < v->nthreads; i++) {
		fputs(i ? ",\n" : "\n", f);
		write_thread(f, &v->threads[i]);
	}
	fputs("],\n\"processes\":[", f);
	for (size_t i = 0; i < v->nprocesses; i++) {
		fputs(i ? ",\n" : "\n", f);
		write_process(f, &v->processes[i]);
	}
	fputs("],\n\"open\":[", f);
	for (size_t i = 0; i < v->nopen; i++) {
		const struct rtc_stats_open_row *o = &v->open[i];

		fputs(i ? ",\n" : "\n", f);
		fputs("{\"name\":", f);
		rtc_json_put_str(f, o->name, o->name_len, RTC_STATS_MAX_NAME);
		fprintf(f, ",\"pid\":%u,\"tid\":%u", o->pid, o->tid);
		key_u64(f, "begin_ns", o->begin_ns);
		key_u64(f, "running_ns", o->running_ns);
		putc('}', f);
	}
	fputs("]}\n", f);
	rtc_stats_view_destroy(v);
	return ferror(f) ? -EIO : 0;
}

int rtc_stats_write_summary_json(const struct rtc_stats *s, size_t top, FILE *f)
{
	struct rtc_stats_view_options vo = { false, RTC_STATS_SORT_TOTAL };
	struct rtc_stats_view *v = rtc_stats_view_create(s, &vo);
	size_t n;

	if (!v)
		return -ENOMEM;
	n = v->nspans < top ? v->nspans : top;
	fputs("{\"format\":\"" RTC_STATS_FORMAT_NAME "-summary\",\"span_rows\":", f);
	rtc_json_put_u64(f, v->nspans);
	key_u64(f, "spans", v->info.spans);
	key_u64(f, "flagged", v->info.flagged);
	fputs(",\"top\":[", f);
	for (size_t i = 0; i < n; i++) {
		const struct rtc_stats_span_row *r = &v->spans[i];

		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		rtc_json_put_str(f, r->name, r->name_len, 1024);
		key_u64(f, "pid", r->pid);
		key_u64(f, "count", r->d.count);
		key_u64(f, "total_ns", r->d.total_ns);
		key_u64(f, "mean_ns", rtc__stats_ns(r->d.mean_ns));
		key_u64(f, "p50_ns", r->d.p50_ns);
		key_u64(f, "p90_ns", r->d.p90_ns);
		key_u64(f, "p99_ns", r->d.p99_ns);
		key_u64(f, "max_ns", r->d.max_ns);
		key_u64(f, "flagged", r->flagged);
		key_u64(f, "open", r->open);
		putc('}', f);
	}
	fputs("]}", f);
	rtc_stats_view_destroy(v);
	return ferror(f) ? -EIO : 0;
}
