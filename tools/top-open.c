/* SPDX-License-Identifier: MIT */
/* `ringtrace top`'s "inside now" section: each thread's open spans from a snapshot (rebuild's
 * RTC_OUT_SPAN_OPEN events, outermost first per thread), the longest running innermost first. */
#include "top-open.h"

#include <stdint.h>
#include <string.h>

#include "sink.h"
#include "stats/stats.h"
#include "stats/text-table.h"

#define TOP_OPEN_KEEP 64
#define PATH_MAX_BYTES 240

struct open_thread {
	uint32_t pid, tid;
	uint32_t depth;      /* spans open on the thread */
	uint64_t running_ns; /* of the innermost */
	uint32_t flags;      /* of the innermost: begin unknown means running at least this long */
	size_t path_len;
	char path[PATH_MAX_BYTES]; /* "outer > ... > inner", cut at PATH_MAX_BYTES */
};

struct collect {
	struct open_thread keep[TOP_OPEN_KEEP]; /* longest running first */
	size_t nkeep, threads;
	uint64_t now_ns;
	struct open_thread cur;
	bool have;
};

static void path_add(struct open_thread *t, const char *s, size_t len)
{
	size_t room = sizeof(t->path) - t->path_len;

	if (t->path_len && room > 3) {
		memcpy(t->path + t->path_len, " > ", 3);
		t->path_len += 3;
		room -= 3;
	}
	if (len > room)
		len = room;
	memcpy(t->path + t->path_len, s, len);
	t->path_len += len;
}

/* The thread just read goes among the kept ones if it runs longer than the shortest kept. */
static void flush(struct collect *c)
{
	size_t i;

	if (!c->have)
		return;
	c->have = false;
	c->threads++;
	if (c->nkeep == TOP_OPEN_KEEP && c->keep[TOP_OPEN_KEEP - 1].running_ns >= c->cur.running_ns)
		return;
	i = c->nkeep < TOP_OPEN_KEEP ? c->nkeep++ : TOP_OPEN_KEEP - 1;
	for (; i > 0 && c->keep[i - 1].running_ns < c->cur.running_ns; i--)
		c->keep[i] = c->keep[i - 1];
	c->keep[i] = c->cur;
}

static void on_event(void *ctx, const struct rtc_out *ev)
{
	struct collect *c = ctx;

	if (ev->kind != RTC_OUT_SPAN_OPEN)
		return;
	if (!c->have || ev->pid != c->cur.pid || ev->tid != c->cur.tid) {
		flush(c);
		c->cur = (struct open_thread){ .pid = ev->pid, .tid = ev->tid };
		c->have = true;
	}
	path_add(&c->cur, ev->name, ev->name_len);
	c->cur.depth++;
	/* From its begin to now: the snapshot's own "now" is the latest time in the merged stream,
	 * which stands still while every thread is blocked. */
	c->cur.running_ns = c->now_ns > ev->ts ? c->now_ns - ev->ts : ev->dur;
	c->cur.flags = ev->flags;
}

static const struct rtc_sink_ops collect_ops = { .version = RTC_SINK_VERSION, .event = on_event };

size_t top_open_print(struct rtc_pipeline *p, FILE *f, size_t max_rows, size_t width, uint64_t now_ns)
{
	static struct collect c; /* one processing thread; too large for its stack */
	const struct rtc_sink sink = { &collect_ops, &c, "top" };
	struct rtc_tt t;
	char **row, buf[32];
	size_t shown;

	c.nkeep = c.threads = 0;
	c.have = false;
	c.now_ns = now_ns;
	rtc_pipeline_snapshot(p, &sink);
	flush(&c);
	if (!c.threads || !max_rows)
		return 0;
	shown = c.nkeep < max_rows ? c.nkeep : max_rows;
	fprintf(f, "inside now: %zu thread%s in spans, longest running first\n", c.threads, c.threads == 1 ? "" : "s");
	rtc_tt_init(&t, 5, "rrrrl");
	row = rtc_tt_row(&t);
	rtc_tt_set(&t, row, 0, "pid");
	rtc_tt_set(&t, row, 1, "tid");
	rtc_tt_set(&t, row, 2, "running");
	rtc_tt_set(&t, row, 3, "depth");
	rtc_tt_set(&t, row, 4, "spans (outermost > innermost)");
	for (size_t i = 0; i < shown; i++) {
		const struct open_thread *o = &c.keep[i];

		row = rtc_tt_row(&t);
		rtc_tt_set(&t, row, 0, "%u", o->pid);
		rtc_tt_set(&t, row, 1, "%u", o->tid);
		rtc_tt_set(&t, row, 2, "%s%s", rtc_stats_format_ns(o->running_ns, buf, sizeof(buf)),
			   o->flags & RTC_F_BEGIN_UNKNOWN ? "+" : "");
		rtc_tt_set(&t, row, 3, "%u", o->depth);
		rtc_tt_name(&t, row, 4, o->path, o->path_len);
	}
	rtc_tt_print_cut(&t, f, width);
	rtc_tt_free(&t);
	if (shown < c.threads)
		fprintf(f, "... %zu more threads in spans\n", c.threads - shown);
	return 2 + shown + (shown < c.threads);
}
