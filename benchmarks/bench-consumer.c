/* SPDX-License-Identifier: MIT */
/* Consumer throughput: a synthetic raw capture of RT_BENCH_RECORDS records (default 10 M) converted
 * to Chrome JSON and re-captured raw, on one core, against a decode-only baseline measured in the
 * same run; then end to end, one producer thread at fixed span rates while `ringtrace record`
 * writes JSON, reporting records lost at each rate. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <ringtrace/ringtrace.h>

#include "bench-util.h"
#include "encode.h"
#include "engine.h"
#include "rawfile.h"
#include "record.h"

#define THREADS 4
#define ROUNDS 5

enum stage { S_DECODE, S_PROCESS, S_STATS, S_FORMAT, S_WRITE, S_RAW, S_WRITE_NOSTATS, S_COUNT };
static const char *const stage_names[S_COUNT] = {
	"decode only (baseline)",
	"+ merge by watermark, rebuild (no output)",
	"+ statistics",
	"+ Chrome JSON formatted (to /dev/null)",
	"+ written to a file (a full `convert`)",
	"raw capture -> raw capture (copy, alone)",
	"a full `convert` without statistics",
};
static uint64_t synthesized_spans;
#define CHUNK (64 * 1024)

/* A capture like a busy service: per thread, nested spans inside tasks, a log now and then. */
static uint64_t synthesize(const char *path, uint64_t records)
{
	struct rtc_raw_writer *w = rtc_raw_writer_open(path, 1000, 1000);
	const struct rtc_stream_ops *o = rtc_raw_writer_ops();
	static uint8_t buf[THREADS][CHUNK + 256];
	size_t len[THREADS] = { 0 };
	uint64_t base[THREADS], ts[THREADS], task[THREADS], written = 0, next_task = 1;
	struct rt_shm_calib_point pts[2] = { { 0, 1000, 1000, 0 }, { 0, 1000000000000ull, 1000000000000ull, 0 } };
	static const char *names[] = { "<null>", "<overflow>", "request", "handle", "db.query", "render", "log" };

	if (!w)
		return 0;
	o->process(w, &(struct rtc_stream_process){ .index = 0, .pid = 4242, .name = "synthetic", .clock = RT_SHM_CLOCK_MONOTONIC,
						  .mode = RT_SHM_MODE_DISCARD, .start_mono_ns = 1000 });
	for (int i = 0; i < 2; i++)
		o->calib(w, 0, &pts[i]);
	for (uint32_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		o->name(w, 0, i, names[i], strlen(names[i]));
	for (uint32_t t = 0; t < THREADS; t++) {
		char tn[16];

		snprintf(tn, sizeof(tn), "worker-%u", t);
		o->thread(w, &(struct rtc_stream_thread){ .proc = 0, .index = t, .thread_number = t + 1, .tid = 100 + t,
						  .name = tn, .attach_ts = 1000 });
		base[t] = ts[t] = 2000 + t;
		task[t] = 0;
	}
	while (written < records) {
		for (uint32_t t = 0; t < THREADS; t++) {
			uint8_t *p = buf[t] + len[t];
			uint64_t start = ts[t];

			/* One request: task, 3 nested spans, an occasional log: 9 or 10 records. */
#define DT(n) (ts[t] += (n), ts[t] - (ts[t] - (n)))
			task[t] = next_task++;
			p = rt_mp_array(p, 5), *p++ = RT_REC_TASK_BEGIN, p = rt_mp_uint(p, DT(350)),
			p = rt_mp_uint(p, task[t]), p = rt_mp_uint(p, 0), p = rt_mp_uint(p, 2);
			p = rt_mp_array(p, 3), *p++ = RT_REC_SPAN_BEGIN, p = rt_mp_uint(p, DT(120)), p = rt_mp_uint(p, 3);
			p = rt_mp_array(p, 3), *p++ = RT_REC_SPAN_BEGIN, p = rt_mp_uint(p, DT(80)), p = rt_mp_uint(p, 4);
			p = rt_mp_array(p, 2), *p++ = RT_REC_SPAN_END, p = rt_mp_uint(p, DT(2100));
			p = rt_mp_array(p, 3), *p++ = RT_REC_SPAN_BEGIN, p = rt_mp_uint(p, DT(60)), p = rt_mp_uint(p, 5);
			p = rt_mp_array(p, 2), *p++ = RT_REC_SPAN_END, p = rt_mp_uint(p, DT(900));
			p = rt_mp_array(p, 2), *p++ = RT_REC_SPAN_END, p = rt_mp_uint(p, DT(40));
			p = rt_mp_array(p, 4), *p++ = RT_REC_TASK_END, p = rt_mp_uint(p, DT(30)), p = rt_mp_uint(p, task[t]),
			p = rt_mp_uint(p, 0);
			written += 8;
			synthesized_spans += 3;
			if (task[t] % 16 == 0) {
				p = rt_mp_array(p, 5), *p++ = RT_REC_LOG, p = rt_mp_uint(p, DT(10)), p = rt_mp_uint(p, 6),
				p = rt_mp_str(p, "request done in a while", 23), p = rt_mp_uint(p, 0);
				written++;
			}
#undef DT
			(void)start;
			len[t] = (size_t)(p - buf[t]);
			if (len[t] >= CHUNK) {
				o->chunk(w, &(struct rtc_stream_chunk){ .thread = t, .base_ts = base[t], .data = buf[t], .len = len[t] });
				base[t] = ts[t];
				len[t] = 0;
			}
		}
		if (written % (THREADS * 8 * 2048) < THREADS * 9) {
			/* Only what every thread has already written out may be merged. */
			uint64_t wm = UINT64_MAX;

			for (uint32_t t = 0; t < THREADS; t++)
				if (base[t] < wm)
					wm = base[t];
			o->watermark(w, wm - 1);
		}
	}
	for (uint32_t t = 0; t < THREADS; t++)
		if (len[t])
			o->chunk(w, &(struct rtc_stream_chunk){ .thread = t, .base_ts = base[t], .data = buf[t], .len = len[t] });
	o->end(w, ts[0] + 1000);
	return rtc_raw_writer_close(w, true) == 0 ? written : 0;
}

/* Baseline: decode every record of the capture, no output (chunks of a capture never continue
 * one another: each starts at its base). */
static void count_chunk(void *ctx, const struct rtc_stream_chunk *c)
{
	struct rtc_decoder d;
	struct rtc_record rec;

	rtc_decoder_reset(&d, c->data, c->len, c->base_ts);
	while (rtc_decoder_next(&d, &rec) > 0)
		(*(uint64_t *)ctx)++;
}

static double run_convert(const char *in, const char *json, const char *raw, bool stats)
{
	struct rtc_engine_options o = { .json_path = json, .raw_path = raw, .no_stats = !stats };
	struct rtc_engine *e = rtc_engine_create(&o);
	double t0 = bench_now_s(), t;

	rtc_engine_convert(e, in);
	t = bench_now_s() - t0;
	rtc_engine_destroy(e);
	return t;
}

/* ---- end to end ---- */

/* Producer child: one thread, `rate` spans per second for `seconds`, paced by the clock. */
static int produce(double rate, double seconds)
{
	double t0 = bench_now_s(), interval = 1.0 / rate;
	uint64_t n = 0, total = (uint64_t)(rate * seconds);

	rt_thread_register("paced");
	while (n < total) {
		double due = t0 + (double)n * interval, now = bench_now_s();

		/* Ahead of schedule: sleep rather than spin, as a thread doing real work at this rate
		 * would leave the rest of its core to others. */
		if (now < due) {
			if (due - now > 60e-6) {
				struct timespec ts = { 0, 50000 };

				nanosleep(&ts, NULL);
			}
			continue;
		}
		/* Catch up in bursts of at most 64 when behind. */
		for (int k = 0; k < 64 && n < total && bench_now_s() >= t0 + (double)n * interval; k++, n++) {
			rt_span_begin("paced-span");
			rt_span_end();
		}
	}
	printf("%.0f\n", (double)n / (bench_now_s() - t0));
	return 0;
}

/* otherData sits at the end of the file: read counts from its tail (the file can be GBs). */
static unsigned long long tail_count(const char *path, const char *key)
{
	static char buf[16384];
	char pat[64];
	FILE *f = fopen(path, "r");
	long size;
	size_t n;
	const char *p;

	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(buf, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* Per rate, `runs` recordings: the median and the worst of the loss, the time the trace was
 * complete after the producer's `seconds` (the output's lag), and the output's peak backlog. */
static void end_to_end(const char *self, const char *tool, double seconds, int runs)
{
	static const double rates[] = { 1e6, 2e6, 5e6 };
	const char *json = "/tmp/ringtrace-bench-e2e.json";

	printf("\nend to end: one producer thread, 1 MiB ring, `ringtrace record` writing JSON, %.0f s per run, "
	       "%d runs per rate (median / worst)\n", seconds, runs);
	printf("%14s %16s %20s %20s %18s %16s\n", "spans/s asked", "spans recorded", "records lost", "lost %", "done after (s)",
	       "peak backlog MB");
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		double lost[16], pct[16], wall[16], backlog[16], spans[16];
		int n = 0;

		for (int k = 0; k < runs && k < 16; k++) {
			char cmd[1024];
			unsigned long long records, l;
			double t0 = bench_now_s();

			snprintf(cmd, sizeof(cmd),
				 "RINGTRACE_BUFFER_SIZE=1M %s record --quiet -o %s -- %s --produce %.0f %.1f >/dev/null", tool,
				 json, self, rates[i], seconds);
			if (system(cmd) != 0)
				continue;
			wall[n] = bench_now_s() - t0;
			records = tail_count(json, "records");
			l = tail_count(json, "lost_records");
			spans[n] = (double)tail_count(json, "spans");
			backlog[n] = (double)tail_count(json, "backlog_peak_bytes") / 1e6;
			lost[n] = (double)l;
			pct[n] = records + l ? 100.0 * (double)l / (double)(records + l) : 0.0;
			n++;
			unlink(json);
		}
		if (!n)
			continue;
		printf("%14.0f %16.0f %9.0f / %-8.0f %8.4f / %-8.4f %7.1f / %-8.1f %6.0f / %-6.0f\n", rates[i],
		       bench_median(spans, n), bench_median(lost, n), bench_max(lost, n), bench_median(pct, n),
		       bench_max(pct, n), bench_median(wall, n), bench_max(wall, n), bench_median(backlog, n),
		       bench_max(backlog, n));
	}
}

int main(int argc, char **argv)
{
	const char *s = getenv("RT_BENCH_RECORDS");
	uint64_t want = s ? strtoull(s, NULL, 10) : 10000000, n;
	const char *e2e = getenv("RT_BENCH_E2E_SECONDS");
	const char *e2e_runs = getenv("RT_BENCH_E2E_RUNS");
	double t[S_COUNT][ROUNDS];
	uint64_t json_bytes = 0, spans;
	char in[128], out[128], raw[128];

	if (argc == 4 && strcmp(argv[1], "--produce") == 0)
		return produce(atof(argv[2]), atof(argv[3]));
	if (argc == 4 && strcmp(argv[1], "--synthesize") == 0)
		return synthesize(argv[2], strtoull(argv[3], NULL, 10)) ? 0 : 1;
	/* One conversion of a capture, for instruction counts (valgrind --tool=callgrind): "rebuild" (no
	 * output), "stats" (and the statistics), "json" (and Chrome JSON to /dev/null). */
	if (argc == 4 && strcmp(argv[1], "--convert") == 0) {
		bool stats = strcmp(argv[3], "rebuild") != 0;

		run_convert(argv[2], strcmp(argv[3], "json") ? NULL : "/dev/null", NULL, stats);
		return 0;
	}

	snprintf(in, sizeof(in), "/tmp/ringtrace-bench.%d.rtrace", (int)getpid());
	snprintf(out, sizeof(out), "/tmp/ringtrace-bench.%d.json", (int)getpid());
	snprintf(raw, sizeof(raw), "/tmp/ringtrace-bench.%d.copy.rtrace", (int)getpid());
	n = synthesize(in, want);
	spans = synthesized_spans;
	if (!n) {
		fprintf(stderr, "bench-consumer: cannot write %s\n", in);
		return 1;
	}
	/* One core: every thread of the conversion (the file writer's included) and the kernel's
	 * copy into the page cache share it, as the target ("12 M records/s on one core") says. */
	{
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
		sched_setaffinity(0, sizeof(one), &one);
	}
	/* Stages, interleaved over the rounds: each adds one piece of the conversion to the last. */
	for (int k = 0; k < ROUNDS; k++) {
		static const struct rtc_stream_ops count_ops = { .chunk = count_chunk };
		uint64_t count = 0;
		double t0 = bench_now_s();

		rtc_raw_read(in, &count_ops, &count, NULL);
		t[S_DECODE][k] = bench_now_s() - t0;
		t[S_PROCESS][k] = run_convert(in, NULL, NULL, false);
		t[S_STATS][k] = run_convert(in, NULL, NULL, true);
		t[S_FORMAT][k] = run_convert(in, "/dev/null", NULL, true);
		t[S_WRITE][k] = run_convert(in, out, NULL, true);
		t[S_RAW][k] = run_convert(in, NULL, raw, false);
		t[S_WRITE_NOSTATS][k] = run_convert(in, out, NULL, false);
		if (k == 0) {
			struct stat st;

			json_bytes = stat(out, &st) == 0 ? (uint64_t)st.st_size : 0;
		}
	}
	unlink(in);
	unlink(out);
	unlink(raw);
	printf("consumer throughput: %" PRIu64 " records (%" PRIu64 " spans; synthetic capture, 4 threads), every thread on "
	       "one core, %d rounds: median (min - max)\n", n, spans, ROUNDS);
	printf("%-46s %22s %14s %12s %12s\n", "stage (each adds to the one above)", "seconds", "records/s", "ns/record",
	       "stage ns/rec");
	for (int st = 0; st < S_COUNT; st++) {
		double med = bench_median(t[st], ROUNDS), prev = st > 0 && st < S_RAW ? bench_median(t[st - 1], ROUNDS) : 0;

		if (st == S_WRITE_NOSTATS)
			prev = 0;

		printf("%-46s %6.3f (%5.3f - %5.3f) %14.0f %12.1f %12.1f\n", stage_names[st], med, bench_min(t[st], ROUNDS),
		       bench_max(t[st], ROUNDS), (double)n / med, med * 1e9 / (double)n,
		       (med - prev) * 1e9 / (double)n);
	}
	{
		/* What the statistics cost, round by round against the same round's run without them. */
		double keep[ROUNDS], share[ROUNDS];

		for (int k = 0; k < ROUNDS; k++) {
			keep[k] = t[S_WRITE_NOSTATS][k] / t[S_WRITE][k];
			share[k] = (t[S_STATS][k] - t[S_PROCESS][k]) / t[S_WRITE][k];
		}
		printf("statistics: a full convert's records/s with them / without them, per round: %.3f min, %.3f median, "
		       "%.3f max;\n            the statistics stage's time over a full convert's: %.1f%% min, %.1f%% median, "
		       "%.1f%% max\n",
		       bench_min(keep, ROUNDS), bench_median(keep, ROUNDS), bench_max(keep, ROUNDS),
		       100 * bench_min(share, ROUNDS), 100 * bench_median(share, ROUNDS), 100 * bench_max(share, ROUNDS));
	}
	printf("Chrome JSON: %.1f bytes per span (every event of the trace counted against its spans), %.1f per record\n",
	       (double)json_bytes / (double)spans, (double)json_bytes / (double)n);
	if (argc >= 2)
		end_to_end(argv[0], argv[1], e2e ? atof(e2e) : 10.0, e2e_runs ? atoi(e2e_runs) : 3);
	return 0;
}
