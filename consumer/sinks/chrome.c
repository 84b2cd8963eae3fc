/* SPDX-License-Identifier: MIT */
/* Chrome JSON file sink: events formatted straight into the output file's large buffers, which its
 * writer thread hands to write(2) (sinks/outfile.h), so formatting goes on while the kernel copies. */
#include "chrome.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../chrome-format.h"
#include "outfile.h"

struct chrome {
	struct rtc_outfile *out; /* events are formatted straight into its buffers */
	char *buf;               /* room in the output file's current buffer */
	size_t len, cap;
	uint64_t events;
	struct rtc_chrome_fmt fmt;
	struct rtc_trace_info info;
	char host[256], tool[64];
	rtc_chrome_other_cb other;
	void *other_ctx;
};

/* Hand what was formatted to the output file (sinks/outfile.h) and continue in fresh room. */
static void flush(struct chrome *c)
{
	rtc_outfile_advance(c->out, c->len);
	c->buf = rtc_outfile_reserve(c->out, RTC_CHROME_EVENT_MAX, &c->cap);
	c->len = 0;
}

static void room(struct chrome *c)
{
	if (c->cap - c->len < RTC_CHROME_EVENT_MAX)
		flush(c);
}

static void append(struct chrome *c, const char *s, size_t n)
{
	room(c);
	memcpy(c->buf + c->len, s, n);
	c->len += n;
}

#define APPEND(c, lit) append((c), (lit), sizeof(lit) - 1)

/* Any length, in pieces that fit the room append() guarantees. */
static void append_long(struct chrome *c, const char *s, size_t n)
{
	while (n) {
		size_t k = n < RTC_CHROME_EVENT_MAX ? n : RTC_CHROME_EVENT_MAX;

		append(c, s, k);
		s += k;
		n -= k;
	}
}

static void on_begin(void *ctx, const struct rtc_trace_info *info)
{
	struct chrome *c = ctx;

	c->info = *info;
	snprintf(c->host, sizeof(c->host), "%s", info->host ? info->host : "");
	snprintf(c->tool, sizeof(c->tool), "%s", info->tool ? info->tool : "ringtrace");
	rtc_chrome_fmt_init(&c->fmt, info->origin_ns);
	APPEND(c, "{\"traceEvents\":[\n");
}

static void on_event(void *ctx, const struct rtc_out *ev)
{
	struct chrome *c = ctx;
	size_t at, n;

	room(c);
	at = c->len + (c->events ? 2 : 0);
	n = rtc_chrome_fmt_event(&c->fmt, ev, c->buf + at);
	if (!n)
		return;
	if (c->events)
		memcpy(c->buf + c->len, ",\n", 2);
	c->len = at + n;
	c->events++;
}

/* ---- otherData ---- */

/* Keys name a thread by pid and tid, a process by pid: the kernel reuses both, so a long recording
 * (or a corrupt one) may hold two threads or processes under one key. They are summed, so that every
 * key appears once (JSON.parse would keep only the last). Sorted by key; left out when there is no
 * memory for the copy (rather than written twice). */
static int cmp_thread_loss(const void *a, const void *b)
{
	const struct rtc_thread_loss *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

static size_t merge_thread_loss(const struct rtc_thread_loss *in, size_t n, struct rtc_thread_loss **out)
{
	struct rtc_thread_loss *v = n ? malloc(n * sizeof(*v)) : NULL;
	size_t k = 0;

	if (!v) {
		*out = NULL;
		return 0;
	}
	memcpy(v, in, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_thread_loss);
	for (size_t i = 0; i < n; i++) {
		if (k && cmp_thread_loss(&v[k - 1], &v[i]) == 0) {
			v[k - 1].full += v[i].full;
			v[k - 1].signal += v[i].signal;
			v[k - 1].overwritten += v[i].overwritten;
			v[k - 1].full_at_exit += v[i].full_at_exit;
			v[k - 1].not_recorded += v[i].not_recorded;
		} else {
			v[k++] = v[i];
		}
	}
	*out = v;
	return k;
}

static int cmp_process_loss(const void *a, const void *b)
{
	const struct rtc_process_loss *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static size_t merge_process_loss(const struct rtc_process_loss *in, size_t n, struct rtc_process_loss **out)
{
	struct rtc_process_loss *v = n ? malloc(n * sizeof(*v)) : NULL;
	size_t k = 0;

	if (!v) {
		*out = NULL;
		return 0;
	}
	memcpy(v, in, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_process_loss);
	for (size_t i = 0; i < n; i++) {
		if (k && v[k - 1].pid == v[i].pid) {
			v[k - 1].threads_untraced += v[i].threads_untraced;
			v[k - 1].names_overflowed += v[i].names_overflowed;
			v[k - 1].tasks_untracked += v[i].tasks_untracked;
			v[k - 1].overwritten += v[i].overwritten;
			v[k - 1].stack_overflows += v[i].stack_overflows;
		} else {
			v[k++] = v[i];
		}
	}
	*out = v;
	return k;
}

static void other_sep(struct chrome *c, const char *key)
{
	char tmp[600];
	size_t n = 0;

	tmp[n++] = ',';
	n += rtc_json_quote(tmp + n, key, strlen(key));
	tmp[n++] = ':';
	append(c, tmp, n);
}

static void other_u64(struct chrome *c, const char *key, uint64_t v)
{
	char num[24];

	other_sep(c, key);
	append(c, num, (size_t)snprintf(num, sizeof(num), "%" PRIu64, v));
}

static void other_str(struct chrome *c, const char *key, const char *v)
{
	char tmp[600];

	other_sep(c, key);
	append(c, tmp, rtc_json_quote(tmp, v ? v : "", v ? strlen(v) : 0));
}

static void on_end(void *ctx, const struct rtc_summary *s)
{
	struct chrome *c = ctx;
	char key[96];

	APPEND(c, "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"format\":\"ringtrace\"");
	other_str(c, "host", c->host);
	other_str(c, "tool", c->tool);
	other_str(c, "clock", s->clock);
	other_u64(c, "origin_monotonic_ns", c->info.origin_ns);
	other_u64(c, "origin_realtime_ns", c->info.origin_real_ns);
	other_u64(c, "attach_us", c->info.attach_ns > c->info.origin_ns ? (c->info.attach_ns - c->info.origin_ns) / 1000 : 0);
	other_u64(c, "duration_us", s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0);
	other_u64(c, "coarse_resolution_ns", s->coarse_resolution_ns);
	other_u64(c, "processes", s->processes);
	other_u64(c, "threads", s->threads);
	other_u64(c, "records", s->records);
	other_u64(c, "resync_records", s->resync_records);
	other_u64(c, "lost_records", s->lost);
	other_u64(c, "spans", s->spans);
	other_u64(c, "spans_incomplete", s->spans_incomplete);
	other_u64(c, "spans_repaired", s->spans_repaired);
	other_u64(c, "spans_before_attach", s->spans_before_attach);
	other_u64(c, "spans_begin_unknown", s->spans_begin_unknown);
	other_u64(c, "spans_too_deep", s->spans_too_deep);
	other_u64(c, "unmatched_ends", s->unmatched_ends);
	other_u64(c, "tasks", s->tasks);
	other_u64(c, "tasks_incomplete", s->tasks_incomplete);
	other_u64(c, "tasks_begin_unknown", s->tasks_begin_unknown);
	other_u64(c, "logs", s->logs);
	other_u64(c, "flows", s->flows);
	other_u64(c, "misuse", s->misuse);
	other_u64(c, "late_records", s->late_records);
	other_u64(c, "recording_gaps", s->gaps);
	if (c->info.live)
		other_u64(c, "backlog_peak_bytes", s->backlog_peak);
	struct rtc_thread_loss *tl = NULL;
	struct rtc_process_loss *pl = NULL;
	size_t ntl = merge_thread_loss(s->thread_loss, s->nthread_loss, &tl);
	size_t npl = merge_process_loss(s->process_loss, s->nprocess_loss, &pl);

	for (size_t i = 0; i < ntl; i++) {
		const struct rtc_thread_loss *l = &tl[i];
		static const char *const why[] = { "full", "signal", "overwritten", "full_at_exit", "not_recorded" };
		uint64_t v[] = { l->full, l->signal, l->overwritten, l->full_at_exit, l->not_recorded };

		snprintf(key, sizeof(key), "lost.%u.%u", l->pid, l->tid);
		other_u64(c, key, v[0] + v[1] + v[2] + v[3] + v[4]);
		for (size_t k = 0; k < 5; k++) {
			if (!v[k])
				continue;
			snprintf(key, sizeof(key), "lost.%u.%u.%s", l->pid, l->tid, why[k]);
			other_u64(c, key, v[k]);
		}
	}
	for (size_t i = 0; i < npl; i++) {
		const struct rtc_process_loss *l = &pl[i];
		static const char *const what[] = { "threads_untraced", "names_overflowed", "tasks_untracked",
						    "overwritten", "stack_overflows" };
		uint64_t v[] = { l->threads_untraced, l->names_overflowed, l->tasks_untracked, l->overwritten,
				 l->stack_overflows };

		for (size_t k = 0; k < 5; k++) {
			if (!v[k])
				continue;
			snprintf(key, sizeof(key), "%s.%u", what[k], l->pid);
			other_u64(c, key, v[k]);
		}
	}
	free(tl);
	free(pl);
	if (c->other) {
		char *extra = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&extra, &len);

		if (f) {
			c->other(c->other_ctx, f);
			if (fclose(f) == 0 && len) {
				APPEND(c, ",");
				append_long(c, extra, len);
			}
		}
		free(extra);
	}
	APPEND(c, "}}\n");
}

static int on_close(void *ctx, bool ok)
{
	struct chrome *c = ctx;
	int err = 0;

	/* Complete, then put in place (sinks/outfile.h): a reader never sees a partial file. */
	rtc_outfile_advance(c->out, c->len);
	if (ok)
		err = rtc_outfile_commit(c->out);
	else
		rtc_outfile_abort(c->out);
	free(c);
	return err;
}

static const struct rtc_sink_ops chrome_ops = {
	.version = RTC_SINK_VERSION,
	.begin = on_begin,
	.event = on_event,
	.end = on_end,
	.close = on_close,
};

int rtc_chrome_sink_open(const char *path, struct rtc_sink *out)
{
	struct chrome *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	err = rtc_outfile_open(&c->out, path, RTC_OUTFILE_THREAD);
	if (err < 0) {
		free(c);
		return err;
	}
	c->buf = rtc_outfile_reserve(c->out, RTC_CHROME_EVENT_MAX, &c->cap);
	out->ops = &chrome_ops;
	out->ctx = c;
	/* The caller's string: the pipeline names the output in messages after close() freed c. */
	out->name = path;
	return 0;
}

void rtc_chrome_sink_set_other(struct rtc_sink *s, rtc_chrome_other_cb fn, void *ctx)
{
	struct chrome *c = s->ctx;

	if (s->ops != &chrome_ops)
		return; /* not a Chrome JSON sink */

	c->other = fn;
	c->other_ctx = ctx;
}
