/* SPDX-License-Identifier: MIT */
/* Test and benchmark driver for the live server: publishes a synthetic, well-formed trace (two
 * processes, nested spans, tasks, logs, flows) and statistics, driven by commands on stdin. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ws-trace.h"
#include "ws.h"

/*
 * Options: --port N --token T --queue BYTES --rate EVENTS_PER_S (0: only bursts) --procs N
 * --threads N (per process) --no-snapshot --quiet.
 * Commands (one per line): "rate N", "burst N" (N events at full speed, replies "burst-done SEQ"),
 * "count" ("count SEQ"), "counters" ("counters JSON"), "end" (ends every open span, task and flow,
 * ends the trace: "ended SEQ"), "quit". SIGINT / SIGTERM: shut down cleanly, exit 0.
 * Unprompted lines: "url URL", "port P" at start, "snapshot SEQ EVENTS" whenever a client got its
 * start (SEQ events were given to the sink before it).
 */

#define MAX_DEPTH 6
#define MAX_THREADS 64

static const char *const span_names[] = { "main-loop", "request", "parse", "query", "io", "compute", "encode" };
#define NNAMES (sizeof(span_names) / sizeof(span_names[0]))

struct open_span {
	uint64_t ts, seq;
	unsigned name;
};

struct sim_thread {
	uint32_t pid, tid;
	uint64_t number;
	char name[32];
	struct open_span stack[MAX_DEPTH];
	int depth;
	uint64_t span_seq;
	uint64_t task;         /* open task id, 0 none */
	uint64_t task_ts;
	uint64_t flow_in;      /* a flow started elsewhere, ended at this thread's next request */
	uint64_t steps;
};

static struct sim {
	struct rtc_ws *ws;
	struct rtc_ws_trace *wt;
	struct rtc_sink sink;
	struct sim_thread th[MAX_THREADS];
	unsigned nth, nprocs;
	uint64_t next_task, next_flow, rng;
	uint64_t count[NNAMES], total[NNAMES], min[NNAMES], max[NNAMES];
	bool ended;
	const char *proc_names[8];
} S;

static volatile sig_atomic_t stop_signal;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(void)
{
	S.rng ^= S.rng << 13;
	S.rng ^= S.rng >> 7;
	S.rng ^= S.rng << 17;
	return S.rng;
}

static void emit(const struct rtc_out *o)
{
	S.sink.ops->event(S.sink.ctx, o);
}

static struct rtc_out base(const struct sim_thread *t, enum rtc_out_kind kind, uint64_t ts)
{
	struct rtc_out o;

	memset(&o, 0, sizeof(o));
	o.kind = kind;
	o.pid = t->pid;
	o.tid = t->tid;
	o.ts = ts;
	o.thread_number = t->number;
	o.task = t->task;
	return o;
}

static void push(struct sim_thread *t, unsigned name, uint64_t ts)
{
	t->stack[t->depth].ts = ts;
	t->stack[t->depth].seq = ++t->span_seq;
	t->stack[t->depth].name = name;
	t->depth++;
}

static void pop(struct sim_thread *t, uint64_t ts)
{
	struct open_span *s = &t->stack[--t->depth];
	struct rtc_out o = base(t, RTC_OUT_SPAN, s->ts);

	o.dur = ts - s->ts;
	o.name = span_names[s->name];
	o.name_len = (uint32_t)strlen(o.name);
	o.span_seq = s->seq;
	o.depth = (uint32_t)t->depth;
	emit(&o);
	S.count[s->name]++;
	S.total[s->name] += o.dur;
	if (!S.min[s->name] || o.dur < S.min[s->name])
		S.min[s->name] = o.dur;
	if (o.dur > S.max[s->name])
		S.max[s->name] = o.dur;
}

static void task_event(struct sim_thread *t, bool begin, uint64_t ts)
{
	struct rtc_out o = base(t, begin ? RTC_OUT_TASK_BEGIN : RTC_OUT_TASK_END, ts);

	o.id = t->task;
	o.name = "job";
	o.name_len = 3;
	if (!begin)
		o.dur = ts - t->task_ts;
	emit(&o);
}

static void flow_event(struct sim_thread *t, uint64_t id, bool end, uint64_t ts)
{
	struct rtc_out o = base(t, RTC_OUT_FLOW, ts);

	o.id = id;
	o.count = end;
	o.name = "adopt";
	o.name_len = 5;
	o.cat = "flow";
	emit(&o);
}

/* One step of one thread: at least one event. */
static void step(struct sim_thread *t)
{
	uint64_t ts = now_ns(), r = rnd();

	t->steps++;
	if (t->depth == 1) {
		/* a request begins, as a task; a flow handed to this thread ends here */
		push(t, 1, ts);
		t->task = ++S.next_task;
		t->task_ts = ts;
		task_event(t, true, ts);
		if (t->flow_in) {
			flow_event(t, t->flow_in, true, ts);
			t->flow_in = 0;
		}
	} else if (t->depth < MAX_DEPTH && r % 3 != 0) {
		struct rtc_out o = base(t, RTC_OUT_LOG, ts);
		char text[48];

		push(t, 2 + (unsigned)(r >> 8) % (NNAMES - 2), ts);
		snprintf(text, sizeof(text), "step %" PRIu64 " \"quoted\" \xc3\xa9", t->steps);
		o.name = "app";
		o.name_len = 3;
		o.text = text;
		o.text_len = (uint32_t)strlen(text);
		o.span_seq = t->stack[t->depth - 1].seq;
		o.cat = "app";
		emit(&o);
	} else {
		pop(t, ts);
		if (t->depth == 1) {
			struct sim_thread *to = &S.th[(r >> 16) % S.nth];

			task_event(t, false, ts);
			t->task = 0;
			if (to != t && !to->flow_in && r % 4 == 0) {
				to->flow_in = ++S.next_flow;
				flow_event(t, to->flow_in, false, ts);
			}
		}
	}
}

static void snapshot(void *ctx, const struct rtc_sink *into)
{
	uint64_t now = now_ns();
	size_t n = 0;

	/* Tasks first and spans after, threads interleaved: the server sorts them. */
	for (unsigned i = 0; i < S.nth; i++) {
		struct sim_thread *t = &S.th[i];
		struct rtc_out o;

		if (!t->task)
			continue;
		o = base(t, RTC_OUT_TASK_BEGIN, t->task_ts);
		o.id = t->task;
		o.name = "job";
		o.name_len = 3;
		into->ops->event(into->ctx, &o);
		n++;
	}
	for (int d = 0; d < MAX_DEPTH; d++)
		for (unsigned i = 0; i < S.nth; i++) {
			struct sim_thread *t = &S.th[i];
			struct rtc_out o;

			if (d >= t->depth)
				continue;
			o = base(t, RTC_OUT_SPAN_OPEN, t->stack[d].ts);
			o.dur = now - t->stack[d].ts;
			o.name = span_names[t->stack[d].name];
			o.name_len = (uint32_t)strlen(o.name);
			o.span_seq = t->stack[d].seq;
			o.depth = (uint32_t)d;
			o.flags = RTC_F_OPEN;
			into->ops->event(into->ctx, &o);
			n++;
		}
	for (unsigned i = 0; i < S.nth; i++) {
		struct sim_thread *t = &S.th[i];
		struct rtc_out o = base(t, RTC_OUT_THREAD, 0);

		if (t->tid == t->pid) {
			struct rtc_out p = base(t, RTC_OUT_PROCESS, 0);

			p.text = S.proc_names[(t->pid - 1000) / 100];
			p.text_len = (uint32_t)strlen(p.text);
			into->ops->event(into->ctx, &p);
			n++;
		}
		o.text = t->name;
		o.text_len = (uint32_t)strlen(t->name);
		into->ops->event(into->ctx, &o);
		n++;
	}
	printf("snapshot %" PRIu64 " %zu\n", rtc_ws_trace_events(S.wt), n);
	fflush(stdout);
	(void)ctx;
}

static void start_trace(void)
{
	struct rtc_trace_info info = { 0 };
	uint64_t ts = now_ns();

	info.origin_ns = ts;
	info.attach_ns = ts;
	info.clock = "monotonic";
	info.host = "test";
	info.tool = "ws-driver";
	info.live = true;
	S.sink.ops->begin(S.sink.ctx, &info);
	rtc_ws_trace_pump(S.wt); /* the file joins before the first event: /trace.json has them all */
	for (unsigned i = 0; i < S.nth; i++) {
		struct sim_thread *t = &S.th[i];
		struct rtc_out o = base(t, RTC_OUT_THREAD, ts);

		if (t->tid == t->pid) {
			struct rtc_out p = base(t, RTC_OUT_PROCESS, ts);

			p.text = S.proc_names[(t->pid - 1000) / 100];
			p.text_len = (uint32_t)strlen(p.text);
			emit(&p);
		}
		o.text = t->name;
		o.text_len = (uint32_t)strlen(t->name);
		emit(&o);
		push(t, 0, ts); /* main-loop: open until the end */
	}
}

static void end_trace(void)
{
	struct rtc_summary sum = { 0 };
	uint64_t ts;

	if (S.ended)
		return;
	S.ended = true;
	for (unsigned i = 0; i < S.nth; i++) {
		struct sim_thread *t = &S.th[i];

		ts = now_ns();
		while (t->depth) {
			pop(t, ts);
			if (t->depth == 1 && t->task) {
				task_event(t, false, ts);
				t->task = 0;
			}
		}
		if (t->flow_in) {
			flow_event(t, t->flow_in, true, ts);
			t->flow_in = 0;
		}
	}
	sum.records = rtc_ws_trace_events(S.wt);
	sum.processes = S.nprocs;
	sum.threads = S.nth;
	S.sink.ops->end(S.sink.ctx, &sum);
	S.sink.ops->close(S.sink.ctx, true);
}

static void publish_stats(void)
{
	char buf[4096];
	size_t n = 0;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"spans\":[");
	for (unsigned i = 0; i < NNAMES; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "%s{\"name\":\"%s\",\"count\":%" PRIu64 ",\"total_ns\":%" PRIu64
				      ",\"mean_ns\":%" PRIu64 ",\"min_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 "}",
				      i ? "," : "", span_names[i], S.count[i], S.total[i],
				      S.count[i] ? S.total[i] / S.count[i] : 0, S.min[i], S.max[i]);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "],\"threads\":[");
	for (unsigned i = 0; i < S.nth && n < sizeof(buf) - 200; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s{\"pid\":%u,\"tid\":%u,\"name\":\"%s\",\"steps\":%" PRIu64 "}",
				      i ? "," : "", S.th[i].pid, S.th[i].tid, S.th[i].name, S.th[i].steps);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "],\"events\":%" PRIu64 "}", rtc_ws_trace_events(S.wt));
	rtc_ws_publish_stats(S.ws, buf, n);
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void reply_counters(void)
{
	struct rtc_ws_counters k;

	rtc_ws_get_counters(S.ws, &k);
	printf("counters {\"trace_clients\":%" PRIu64 ",\"stats_clients\":%" PRIu64 ",\"clients_total\":%" PRIu64
	       ",\"slow_disconnects\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64
	       ",\"file_bytes\":%" PRIu64 "}\n",
	       k.trace_clients, k.stats_clients, k.clients_total, k.slow_disconnects, k.refused, k.messages, k.bytes,
	       k.file_bytes);
}

/* Returns false on "quit" or end of input. */
static bool command(char *line, double *rate)
{
	unsigned long long n;

	if (sscanf(line, "rate %llu", &n) == 1) {
		*rate = (double)n;
	} else if (sscanf(line, "burst %llu", &n) == 1) {
		for (unsigned long long i = 0; i < n && !S.ended; i++) {
			step(&S.th[i % S.nth]);
			if (i % 4096 == 4095)
				rtc_ws_trace_pump(S.wt);
		}
		rtc_ws_trace_pump(S.wt);
		printf("burst-done %" PRIu64 "\n", rtc_ws_trace_events(S.wt));
	} else if (!strcmp(line, "counters")) {
		reply_counters();
	} else if (!strcmp(line, "count")) {
		printf("count %" PRIu64 "\n", rtc_ws_trace_events(S.wt));
	} else if (!strcmp(line, "end")) {
		end_trace();
		rtc_ws_trace_pump(S.wt);
		printf("ended %" PRIu64 "\n", rtc_ws_trace_events(S.wt));
	} else if (!strcmp(line, "quit")) {
		return false;
	} else {
		printf("error unknown command: %s\n", line);
	}
	fflush(stdout);
	return true;
}

int main(int argc, char **argv)
{
	struct rtc_ws_options o = { 0 };
	bool use_snapshot = true, running = true;
	double rate = 2000;
	unsigned threads = 2;
	char line[256];
	size_t linelen = 0;
	uint64_t t0, emitted = 0, last_stats = 0;
	int err;

	S.nprocs = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--port") && v)
			o.port = atoi(argv[++i]);
		else if (!strcmp(a, "--token") && v)
			o.token = argv[++i];
		else if (!strcmp(a, "--queue") && v)
			o.client_queue_max = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--rate") && v)
			rate = atof(argv[++i]);
		else if (!strcmp(a, "--procs") && v)
			S.nprocs = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--threads") && v)
			threads = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--no-snapshot"))
			use_snapshot = false;
		else if (!strcmp(a, "--quiet"))
			o.quiet = true;
		else {
			fprintf(stderr, "ws-driver: unknown option %s\n", a);
			return 2;
		}
	}
	if (S.nprocs < 1 || S.nprocs > 8 || threads < 1 || S.nprocs * threads > MAX_THREADS)
		return 2;
	S.proc_names[0] = "server";
	S.proc_names[1] = "worker \"w\"";
	for (unsigned i = 2; i < S.nprocs; i++)
		S.proc_names[i] = "helper";
	S.rng = 0x9e3779b97f4a7c15ull;
	for (unsigned p = 0; p < S.nprocs; p++)
		for (unsigned k = 0; k < threads; k++) {
			struct sim_thread *t = &S.th[S.nth++];

			t->pid = 1000 + 100 * p;
			t->tid = t->pid + k;
			t->number = k + 1;
			snprintf(t->name, sizeof(t->name), k ? "worker-%u" : "main", k);
		}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	err = rtc_ws_create(&o, &S.ws);
	if (err) {
		fprintf(stderr, "ws-driver: cannot serve: %s\n", strerror(-err));
		return 1;
	}
	if (rtc_ws_trace_create(S.ws, use_snapshot ? snapshot : NULL, NULL, &S.wt))
		return 1;
	S.sink = rtc_ws_trace_sink(S.wt);
	printf("url %s\nport %d\n", rtc_ws_url(S.ws), rtc_ws_port(S.ws));
	fflush(stdout);
	start_trace();
	t0 = now_ns();
	while (running && !stop_signal) {
		struct pollfd p = { 0, POLLIN, 0 };
		uint64_t now = now_ns();

		if (rate > 0 && !S.ended) {
			/* Paced: catch up with the rate since start, at most 20000 events per round. */
			uint64_t due = (uint64_t)((double)(now - t0) / 1e9 * rate);
			unsigned k = 0;

			if (due > emitted + 20000)
				emitted = due - 20000;
			while (emitted < due && k++ < 20000) {
				step(&S.th[emitted % S.nth]);
				emitted++;
			}
		} else {
			t0 = now;
			emitted = 0;
		}
		rtc_ws_trace_pump(S.wt);
		if (now - last_stats >= 1000000000u) {
			last_stats = now;
			publish_stats();
		}
		if (poll(&p, 1, rate > 0 && !S.ended ? 2 : 20) > 0) {
			ssize_t r = read(0, line + linelen, sizeof(line) - 1 - linelen);

			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				break; /* stdin closed: same as quit */
			}
			linelen += (size_t)r;
			line[linelen] = 0;
			for (char *nl; running && (nl = strchr(line, '\n'));) {
				*nl = 0;
				running = command(line, &rate);
				memmove(line, nl + 1, linelen - (size_t)(nl + 1 - line) + 1);
				linelen -= (size_t)(nl + 1 - line);
			}
			if (linelen == sizeof(line) - 1)
				linelen = 0;
		}
	}
	end_trace();
	rtc_ws_trace_pump(S.wt);
	rtc_ws_trace_destroy(S.wt);
	rtc_ws_destroy(S.ws);
	return 0;
}
