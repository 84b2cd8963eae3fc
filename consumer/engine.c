/* SPDX-License-Identifier: MIT */
/* Engine wiring: outputs subscribed to the pipeline, the processing thread fed by the stream queue
 * (live) or by a capture (convert), the drain loop with back-pressure, and the report. */
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

#include "live.h"
#include "processor.h"
#include "rebuild.h"
#include "rawfile.h"
#include "sinks/chrome.h"
#include "sinks/outfile.h"
#include "sinks/raw.h"
#include "sinks/serve.h"
#include "sinks/speedscope.h"
#include "sinks/stats-file.h"
#include "sinks/stats-sink.h"
#include "stats/stats.h"
#include "stream-queue.h"
#include "error.h"

#define DEFAULT_MAX_BACKLOG (512u << 20)
/* What the processing thread decodes between two ticks of the outputs, at most (plus one
 * message): 1 MiB of records is ~35 ms here (about 300,000 records). A watermark message may merge
 * and rebuild more at once: everything decoded since the previous one. */
#define DELIVER_PIECE_BYTES (1u << 20)
/* Processing and writing lag behind into memory without harm; draining late loses records. So the
 * threads that process and write yield the CPU to the draining thread (and to the traced program,
 * in-process) whenever it wants it. */
#define BACKGROUND_NICE 10

struct rtc_engine {
	struct rtc_engine_options o;
	FILE *log;
	struct rtc_pipeline *pipe;
	struct rtc_processor *proc;
	struct rtc_stats *stats;
	/* Live: drained by the thread in rtc_engine_run(), processed by e->processor. */
	struct rtc_live *live;
	struct rtc_stream_queue *queue;
	pthread_t processor;
	_Atomic int input_done; /* release: every message is queued */
	bool live_run;
	uint64_t yield_after_ns;
	struct rtc_trace_info info;
	char host[256];
	uint64_t start_ns, end_ns;
	size_t backlog_peak; /* bytes queued for processing, most seen (drainer's thread) */
	struct rtc_summary summary;
	bool finished;
	int output_err;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
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

static size_t backlog_bytes(void *ctx)
{
	return rtc_stream_queue_bytes(ctx);
}

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
	e->pipe = rtc_pipeline_create();
	e->stats = rtc_stats_create(NULL);
	e->queue = rtc_stream_queue_create();
	e->proc = e->pipe ? rtc_processor_create(e->pipe, e->log) : NULL;
	if (e->queue) {
		struct rtc_live_options lo = { .all = o->all, .status = o->status, .self = o->self, .log = e->log,
					       .backlog = backlog_bytes, .backlog_ctx = e->queue };

		e->live = rtc_live_create(&lo, rtc_stream_queue_input(), e->queue);
	}
	if (!e->pipe || !e->stats || !e->proc || !e->live) {
		rtc_engine_destroy(e);
		return NULL;
	}
	e->start_ns = mono_ns();
	return e;
}

void rtc_engine_destroy(struct rtc_engine *e)
{
	if (!e)
		return;
	rtc_live_destroy(e->live);
	rtc_stream_queue_destroy(e->queue);
	rtc_pipeline_destroy(e->pipe); /* closes (abandons) outputs never finished */
	rtc_processor_destroy(e->proc);
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

int rtc_engine_session_env(const struct rtc_engine *e, char *buf, size_t len)
{
	return rtc_live_session_env(e->live, buf, len);
}

struct rtc_pipeline *rtc_engine_pipeline(struct rtc_engine *e)
{
	return e->pipe;
}

/* ---- outputs ---- */

/* The Chrome JSON's otherData "stats": the busiest span names (every event reached the model by then). */
#define OTHERDATA_STATS_ROWS 20

static void chrome_other(void *ctx, FILE *f)
{
	struct rtc_engine *e = ctx;

	fputs("\"stats\":", f);
	if (rtc_stats_write_summary_json(e->stats, OTHERDATA_STATS_ROWS, f) < 0)
		fputs("null", f);
}

/* The live server's statistics, once a second on the processing thread (the model's thread). Without
 * histograms: the page shows them, nothing compares them. */
static char *serve_stats(void *ctx, size_t *len)
{
	struct rtc_engine *e = ctx;
	struct rtc_stats_json_options jo = { .no_hists = true };
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	int err;

	if (!f)
		return NULL;
	err = rtc_stats_write_json(e->stats, &jo, f);
	if (fclose(f) || err < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int subscribe_outputs(struct rtc_engine *e, uint64_t origin, uint64_t start)
{
	struct rtc_sink s;
	int err;

	if (e->o.json_path) {
		err = e->o.format == RTC_FORMAT_SPEEDSCOPE ? rtc_speedscope_sink_open(e->o.json_path, &s)
							     : rtc_chrome_sink_open(e->o.json_path, &s);
		if (err < 0) {
			say(e, "cannot write %s: %s", e->o.json_path, strerror(-err));
			return err;
		}
		if (!e->o.no_stats && e->o.format != RTC_FORMAT_SPEEDSCOPE)
			rtc_chrome_sink_set_other(&s, chrome_other, e);
		rtc_pipeline_subscribe(e->pipe, s, 0);
	}
	if (e->o.raw_path) {
		err = rtc_raw_sink_open(e->o.raw_path, origin, start, &s);
		if (err < 0) {
			say(e, "cannot write %s: %s", e->o.raw_path, strerror(-err));
			return err;
		}
		rtc_pipeline_subscribe(e->pipe, s, 0);
	}
	if (!e->o.no_stats)
		rtc_pipeline_subscribe(e->pipe, rtc_stats_model_sink(e->stats), 0);
	if (e->o.stats_path && !e->o.no_stats) {
		err = rtc_stats_file_sink_open(e->o.stats_path, e->stats, NULL, &s);
		if (err < 0) {
			say(e, "cannot write %s: %s", e->o.stats_path, rtc_outfile_strerror(err));
			return err;
		}
		rtc_pipeline_subscribe(e->pipe, s, 0);
	}
	if (e->o.listen || e->o.serve) {
		struct rtc_serve_options so = { .listen = e->o.listen, .quiet = e->o.quiet,
						.stats = e->o.no_stats ? NULL : serve_stats, .stats_ctx = e };

		err = rtc_serve_open(&so, e->pipe, &s);
		if (err < 0) {
			say(e, "cannot serve on %s: %s", e->o.listen ? e->o.listen : "127.0.0.1", strerror(-err));
			return err;
		}
		rtc_pipeline_subscribe(e->pipe, s, 0);
	}
	return 0;
}

static void report_close(void *ctx, const char *name, int err)
{
	say(ctx, "writing %s failed: %s", name ? name : "an output", strerror(-err));
}

/* On the processing thread: the end of the trace, then every output closed. */
static void finish(struct rtc_engine *e, uint64_t end_ns)
{
	/* What is still open at the end, for the statistics (shown as open, with the time it has run):
	 * the end then closes it as incomplete. */
	struct rtc_sink stats = rtc_stats_model_sink(e->stats);

	rtc_stats_clear_open(e->stats);
	rtc_pipeline_snapshot(e->pipe, &stats);
	e->summary.start_ns = e->start_ns;
	e->summary.backlog_peak = e->backlog_peak;
	rtc_processor_finish(e->proc, end_ns, &e->summary);
	/* A live run that attached to nothing writes no file: an earlier one at the path stays as
	 * it was (the command says why it recorded nothing). */
	e->output_err = rtc_pipeline_close(e->pipe, !e->live_run || e->summary.processes > 0, report_close, e);
	e->finished = true;
}

static void trace_info(struct rtc_engine *e, uint64_t origin, uint64_t start, bool live)
{
	uint64_t now_mono = mono_ns(), now_real = real_ns();

	gethostname(e->host, sizeof(e->host) - 1);
	e->info = (struct rtc_trace_info){
		.origin_ns = origin,
		.origin_real_ns = now_real - (now_mono > origin ? now_mono - origin : 0),
		.attach_ns = start,
		.clock = "see otherData",
		.host = e->host,
		.tool = "ringtrace " RT_VERSION_STRING,
		.live = live,
	};
}

/* ---- live ---- */

static void background_thread(void)
{
	/* Only this thread: Linux keeps a nice value per thread. Failure leaves it as it was. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), BACKGROUND_NICE);
}

/* The scheduler does not always preempt the processing thread when the draining thread wakes up
 * (seen: 30 ms on a 2-vCPU VM, a whole 1 MiB ring at 5 M spans/s). So it steps aside itself, at
 * points where that is cheap, whenever the drainer's last poll is overdue. */
static void yield_to_drain(void *ctx)
{
	struct rtc_engine *e = ctx;
	uint64_t last = rtc_live_last_poll(e->live);

	if (last && mono_ns() - last > e->yield_after_ns)
		sched_yield();
}

/* The processing thread: decode, merge, rebuild and write what the draining thread queued. */
static void *processor(void *arg)
{
	struct rtc_engine *e = arg;

	background_thread();
	rtc_processor_set_pause(e->proc, yield_to_drain, e);
	rtc_processor_begin(e->proc, &e->info);
	for (;;) {
		/* Acquire pairs with the release after the last message was queued: then deliveries
		 * until one finds nothing take everything. */
		bool done = atomic_load_explicit(&e->input_done, memory_order_acquire);

		/* In pieces: the outputs' ticks (a live view's keys and frames) keep coming while a
		 * backlog is worked off. */
		size_t n = rtc_stream_queue_deliver(e->queue, rtc_processor_ops(), e->proc, done ? 0 : 100,
						    DELIVER_PIECE_BYTES);

		rtc_pipeline_tick(e->pipe, mono_ns());
		if (done && n == 0)
			break;
	}
	finish(e, e->end_ns);
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
	uint64_t origin;
	bool behind_said = false;
	int err;

	urcu_memb_register_thread();
	origin = rtc_live_origin(e->live);
	if (!origin)
		origin = e->start_ns;
	e->live_run = true;
	trace_info(e, origin, e->start_ns, true);
	err = subscribe_outputs(e, origin, e->start_ns);
	if (err == 0) {
		err = -pthread_create(&e->processor, NULL, processor, e);
		if (err < 0)
			say(e, "cannot start the processing thread: %s", strerror(-err));
	}
	if (err < 0) {
		rtc_pipeline_close(e->pipe, false, NULL, NULL);
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
	rtc_live_read_all(e->live);
	for (int i = 0; i < 1000; i++) {
		struct rtc_live_poll res;

		rtc_live_poll(e->live, true, &res);
		rtc_stream_queue_wake(e->queue);
		note_backlog(e);
		if (!res.backlog)
			break;
	}
	e->end_ns = mono_ns();
	rtc_live_finish(e->live, e->end_ns);
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
	return e->output_err;
}

/* ---- replay ---- */

int rtc_engine_convert(struct rtc_engine *e, const char *raw_path)
{
	uint64_t origin = 0, start = 0, where = 0;
	int err;

	err = rtc_raw_read_header(raw_path, &origin, &start);
	if (err < 0) {
		say(e, "%s: %s", raw_path, err == -RT_EBADMAGIC ? "not a ringtrace raw capture" : rtc_strerror(err));
		return err;
	}
	/* The capture's own start, so that its summary is the one of the live run. */
	e->start_ns = start ? start : origin;
	trace_info(e, origin, e->start_ns, false);
	err = subscribe_outputs(e, origin, e->start_ns);
	if (err < 0) {
		rtc_pipeline_close(e->pipe, false, NULL, NULL);
		return err;
	}
	/* Nothing but a copy of the capture: no need to decode it. */
	rtc_processor_set_decode(e->proc, !(e->o.raw_path && !e->o.json_path && e->o.no_stats && !e->o.listen &&
					    !e->o.serve));
	rtc_processor_begin(e->proc, &e->info);
	err = rtc_raw_read(raw_path, rtc_processor_ops(), e->proc, &where);
	if (err < 0)
		say(e, "%s: %s at byte %" PRIu64 "; what was read before is converted", raw_path,
		    err == -RT_ECORRUPT ? "corrupt or truncated capture" : rtc_strerror(err), where);
	finish(e, rtc_processor_end_ns(e->proc));
	return err < 0 ? err : e->output_err;
}

/* ---- reporting ---- */

struct rtc_stats *rtc_engine_stats(const struct rtc_engine *e)
{
	return e->stats;
}

void rtc_engine_summary(const struct rtc_engine *e, struct rtc_engine_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->s = e->summary;
	s->live = e->live_run;
	if (e->summary.end_ns > e->summary.start_ns)
		s->seconds = (double)(e->summary.end_ns - e->summary.start_ns) / 1e9;
}

void rtc_engine_report(const struct rtc_engine *e, FILE *f)
{
	struct rtc_engine_summary es;
	const struct rtc_summary *s = &es.s;

	rtc_engine_summary(e, &es);
	fprintf(f,
		"recorded %.1f s: %" PRIu64 " records (%.1f MB), %" PRIu64 " spans (%" PRIu64 " incomplete, %" PRIu64
		" repaired, %" PRIu64 " begun before attach), %" PRIu64 " tasks, %" PRIu64 " logs, %" PRIu64
		" threads in %" PRIu64 " process(es), %" PRIu64 " records lost, %" PRIu64 " misuse reports\n",
		es.seconds, s->records, (double)s->bytes / 1e6, s->spans, s->spans_incomplete, s->spans_repaired,
		s->spans_before_attach + s->spans_begin_unknown, s->tasks, s->logs, s->threads, s->processes, s->lost,
		s->misuse);
	{
		/* What the trace lacks beyond lost records: said whenever it is not nothing. */
		uint64_t untraced = 0, overflowed = 0, untracked = 0;

		for (size_t i = 0; i < s->nprocess_loss; i++) {
			untraced += s->process_loss[i].threads_untraced;
			overflowed += s->process_loss[i].names_overflowed;
			untracked += s->process_loss[i].tasks_untracked;
		}
		if (untraced || overflowed || untracked || s->unmatched_ends || s->gaps)
			fprintf(f,
				"incomplete: %" PRIu64 " threads not traced, %" PRIu64 " names recorded as <overflow>, %" PRIu64
				" tasks not in the producer's table, %" PRIu64 " span ends whose begin was never seen, %" PRIu64
				" recording gaps\n",
				untraced, overflowed, untracked, s->unmatched_ends, s->gaps);
	}
	if (s->spans_too_deep)
		fprintf(f, "%" PRIu64 " spans nested more than %d deep were counted, not written\n", s->spans_too_deep,
			RTC_REBUILD_MAX_DEPTH);
	if (es.live)
		fprintf(f, "output was at most %.1f MB of records behind reading\n", (double)s->backlog_peak / 1e6);
	fputc('\n', f);
	{
		struct rtc_stats_view_options vo = { .sort = RTC_STATS_SORT_TOTAL };
		struct rtc_stats_table_options to = { 0 };
		struct rtc_stats_view *v = rtc_stats_view_create(e->stats, &vo);

		if (v) {
			rtc_stats_write_table(v, &to, f);
			rtc_stats_view_destroy(v);
		}
	}
}
