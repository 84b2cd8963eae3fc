/* SPDX-License-Identifier: MIT */
/* Span statistics in the formats existing benchmark tools read: Go benchmark lines (benchstat) and Google
 * Benchmark JSON (its tools/compare.py). Plain rows in, no dependency on the pipeline. */
#ifndef RTC_EXPORT_H
#define RTC_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One span name (of one process, or merged over processes): what the writers take. Durations in ns. */
struct rtc_export_row {
	const char *name; /* any bytes: sanitised by the writers */
	size_t name_len;
	uint32_t pid;        /* 0: merged over processes */
	const char *process; /* optional process name (NUL-terminated), used instead of the pid when set */
	uint64_t count;      /* spans measured (flagged ones excluded); rows with 0 are written as comments */
	uint64_t total_ns, self_ns;
	double mean_ns, stddev_ns;
	uint64_t min_ns, p50_ns, p90_ns, p99_ns, p999_ns, max_ns;
	bool has_cpu;                  /* the spans carried CPU time */
	double on_cpu_ns, off_cpu_ns;  /* means per span */
};

/* Run description; any field may be 0/NULL. */
struct rtc_export_context {
	const char *date;       /* ISO 8601; NULL: now */
	const char *host;       /* NULL: this machine's name */
	const char *executable; /* the traced program or the capture read */
	const char *tool;       /* e.g. "ringtrace 0.2.0" */
	const char *cpu;        /* CPU model, written as the stable "cpu:" configuration of Go's format */
	unsigned num_cpus;      /* 0: this machine's */
};

/*
 * Go benchmark format (golang.org/design/14313-benchmark-format), one result line per row:
 *   BenchmarkSpan/<name>[/proc=<process>|/pid=<pid>] <count> <mean> ns/op <self mean> self-ns/op
 *       <min> min-ns <p50> p50-ns <p90> p90-ns <p99> p99-ns <p99.9> p99.9-ns <max> max-ns
 *       [<on-CPU mean> on-cpu-ns/op <off-CPU mean> off-cpu-ns/op]
 * preceded by "goos:", "goarch:" and (if given) "cpu:" configuration lines and '#' comments for the
 * date, host, tool and executable (which differ between runs and would split benchstat's tables).
 * Names: white space (Unicode's, as Go's unicode.IsSpace), control characters and '/' become '_',
 * invalid UTF-8 bytes '?', a trailing "-<digits>" (which benchstat reads as GOMAXPROCS) gets '_' for '-',
 * an empty name is "_", and a name repeated after that gets "#01", "#02", ... as Go's testing package does.
 * Concatenate the output of several runs into one file per side and run `benchstat old.txt new.txt`.
 * \return 0, -EIO (stream error), -ENOMEM.
 */
int rtc_export_gobench(FILE *f, const struct rtc_export_context *ctx, const struct rtc_export_row *rows, size_t n);

/*
 * Google Benchmark JSON ({"context": {...}, "benchmarks": [...]}), time_unit "ns". Per row, one
 * "iteration" run named Span/<name>[/proc:<process>|/pid:<pid>] (iterations = count, real_time = mean,
 * cpu_time = on-CPU mean when known, else the mean; counters min, p50, p90, p99, p999, max, self, total)
 * and "aggregate" runs <name>_mean, _median, _stddev, _p90, _p99, _p999 (real_time = cpu_time = that
 * statistic), so `compare.py benchmarks a.json b.json` compares the means, medians and tails. Names are
 * JSON-escaped (invalid UTF-8 as U+FFFD) and made unique as above.
 * \return 0, -EIO, -ENOMEM.
 */
int rtc_export_gbench_json(FILE *f, const struct rtc_export_context *ctx, const struct rtc_export_row *rows,
			   size_t n);

/* The Go benchmark name of one row, without the uniqueness suffix: NUL-terminated in buf (truncated to
 * cap - 1 bytes). \return the full length. */
size_t rtc_export_go_name(const struct rtc_export_row *row, char *buf, size_t cap);

#endif
