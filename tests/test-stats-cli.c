/* SPDX-License-Identifier: MIT */
/* `ringtrace stats` on every input it reads (raw capture, Chrome JSON, .json.gz, statistics JSON, a live
 * run) with exact counts, the JSON round trip, merging files, the table's options and the Chrome JSON's
 * otherData summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "cli-run.h"
#include "stats/stats.h"

#define THREADS 2
#define PER_THREAD 1000 /* SPANS: "work" spans per thread, each with one "inner" */
#define TASKS "50"      /* "job" tasks per thread */

/* Record the producer once into every output kind. */
static int record_all(void)
{
	char json[300], raw[300], st[300];
	const char *argv[] = { tool, "record", "-q", "-o", json, "--raw", raw, "--stats-file", st, "--", producer,
			       "--threads", "2", "--spans", SPANS, "--tasks", TASKS, NULL };
	int status;

	path(json, sizeof(json), "t.json");
	path(raw, sizeof(raw), "t.rtrace");
	path(st, sizeof(st), "s.json");
	for (int attempt = 0;; attempt++) {
		status = run(argv, NULL, "record.err");
		if (attempt == 4 || !taken_by_another_consumer("record.err"))
			return status;
	}
}

static void gzip_copy(const char *from, const char *to)
{
	char a[300], b[300], *t;
	size_t n;
	gzFile gz;

	path(a, sizeof(a), from);
	path(b, sizeof(b), to);
	t = slurp(a, &n);
	assert_non_null(t);
	gz = gzopen(b, "wb1");
	assert_non_null(gz);
	assert_int_equal(gzwrite(gz, t, (unsigned)n), (int)n);
	assert_int_equal(gzclose(gz), Z_OK);
	free(t);
}

/* The statistics JSON file `name` of the scratch directory, read back. */
static struct rtc_stats *load(const char *name)
{
	struct rtc_stats *s = NULL;
	char p[300], err[256] = "", *t;
	size_t n;

	path(p, sizeof(p), name);
	t = slurp(p, &n);
	assert_non_null(t);
	if (rtc_stats_read_json(t, n, NULL, &s, err, sizeof(err)) != 0)
		fail_msg("%s: %s", name, err);
	free(t);
	return s;
}

static const struct rtc_stats_span_row *span(const struct rtc_stats_view *v, const char *name)
{
	size_t n;
	const struct rtc_stats_span_row *r = rtc_stats_view_spans(v, &n);

	for (size_t i = 0; i < n; i++)
		if (r[i].name_len == strlen(name) && !memcmp(r[i].name, name, r[i].name_len))
			return &r[i];
	fail_msg("no span row %s", name);
	return NULL;
}

static const struct rtc_stats_task_row *task(const struct rtc_stats_view *v, const char *name)
{
	size_t n;
	const struct rtc_stats_task_row *r = rtc_stats_view_tasks(v, &n);

	for (size_t i = 0; i < n; i++)
		if (r[i].name_len == strlen(name) && !memcmp(r[i].name, name, r[i].name_len))
			return &r[i];
	fail_msg("no task row %s", name);
	return NULL;
}

/* The counts every input of the one recording must give; `times` recordings merged. */
static void check_counts(const char *json, uint64_t times)
{
	struct rtc_stats *s = load(json);
	struct rtc_stats_view_options vo = { .merge_processes = true };
	struct rtc_stats_view *v = rtc_stats_view_create(s, &vo);
	const struct rtc_stats_span_row *work = span(v, "work"), *inner = span(v, "inner");
	size_t n;

	assert_int_equal(work->d.count, times * THREADS * PER_THREAD);
	assert_int_equal(inner->d.count, times * THREADS * PER_THREAD);
	assert_int_equal(work->flagged + inner->flagged, 0);
	/* "inner" is the only child of "work": self = total minus the children, to the nanosecond. */
	assert_int_equal(work->self_ns, work->d.total_ns - inner->d.total_ns);
	assert_int_equal(inner->self_ns, inner->d.total_ns);
	assert_int_equal(task(v, "job")->complete, times * THREADS * atoi(TASKS));
	assert_int_equal(task(v, "job")->incomplete + task(v, "job")->open, 0);
	assert_int_equal(task(v, "top")->complete, times);
	rtc_stats_view_spans(v, &n);
	assert_int_equal(n, 2);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

static void stats_json(const char *out, const char *err, const char *in1, const char *in2, int want)
{
	char o[300], a[300], b[300];
	const char *argv[] = { tool, "stats", "--json", "--merge", "-o", o, a, in2 ? b : NULL, NULL };

	path(o, sizeof(o), out);
	path(a, sizeof(a), in1);
	if (in2)
		path(b, sizeof(b), in2);
	assert_status(run(argv, NULL, err), want, err);
}

static void test_stats_every_input_kind(void **state)
{
	static const char *const inputs[] = { "t.rtrace", "t.json", "t.json.gz", "s.json" };

	(void)state;
	assert_status(record_all(), 0, "record.err");
	gzip_copy("t.json", "t.json.gz");
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		printf("(stats of %s)\n", inputs[i]);
		stats_json("out.json", "stats.err", inputs[i], NULL, 0);
		assert_empty("stats.err");
		check_counts("out.json", 1);
	}
}

/* The spans and tasks sections of a statistics JSON (the rest says how it was made). */
static char *sections(const char *name)
{
	char *t = text(name), *from = strstr(t, "\n\"spans\":["), *to = strstr(t, "],\n\"threads\":[");

	assert_non_null(from);
	assert_non_null(to);
	*to = 0;
	memmove(t, from, strlen(from) + 1);
	return t;
}

static void test_stats_json_round_trip(void **state)
{
	char o[300], in[300];
	const char *argv[] = { tool, "stats", "--json", "-o", o, in, NULL };
	char *a, *b, *c;

	(void)state;
	path(in, sizeof(in), "s.json");
	path(o, sizeof(o), "r1.json");
	assert_status(run(argv, NULL, "rt.err"), 0, "rt.err");
	path(in, sizeof(in), "r1.json");
	path(o, sizeof(o), "r2.json");
	assert_status(run(argv, NULL, "rt.err"), 0, "rt.err");
	a = text("r1.json");
	b = text("r2.json");
	assert_string_equal(a, b); /* read and written again: the same bytes */
	free(a);
	free(b);
	/* The live run's statistics and the capture's replay agree on every span and task. */
	path(in, sizeof(in), "t.rtrace");
	path(o, sizeof(o), "r3.json");
	assert_status(run(argv, NULL, "rt.err"), 0, "rt.err");
	a = sections("r1.json");
	c = sections("r3.json");
	assert_string_equal(a, c);
	free(a);
	free(c);
}

static void test_stats_merges_files(void **state)
{
	(void)state;
	stats_json("twice.json", "merge.err", "s.json", "t.rtrace", 0);
	check_counts("twice.json", 2);
	/* A file with no time at all ("first_ns":0, "last_ns":0) changes no time of the merge: its
	 * 0 once became the merge's first time. */
	{
		char empty[300];
		FILE *f;

		path(empty, sizeof(empty), "empty.json");
		f = fopen(empty, "w");
		assert_non_null(f);
		fputs("{\"traceEvents\":[]}\n", f);
		assert_int_equal(fclose(f), 0);
		stats_json("empty-stats.json", "merge.err", "empty.json", NULL, 0);
		stats_json("alone.json", "merge.err", "s.json", NULL, 0);
		stats_json("with-empty.json", "merge.err", "s.json", "empty-stats.json", 0);
		{
			struct rtc_stats *a = load("alone.json"), *b = load("with-empty.json");
			struct rtc_stats_view_options vo = { .merge_processes = true };
			struct rtc_stats_view *va = rtc_stats_view_create(a, &vo), *vb = rtc_stats_view_create(b, &vo);

			assert_true(rtc_stats_view_info(va)->first_ns > 0);
			assert_int_equal(rtc_stats_view_info(vb)->first_ns, rtc_stats_view_info(va)->first_ns);
			assert_int_equal(rtc_stats_view_info(vb)->last_ns, rtc_stats_view_info(va)->last_ns);
			rtc_stats_view_destroy(va);
			rtc_stats_view_destroy(vb);
			rtc_stats_destroy(a);
			rtc_stats_destroy(b);
		}
	}
}

static void test_stats_table_options(void **state)
{
	char in[300], missing[300];
	const char *top[] = { tool, "stats", "--top", "1", "--sort", "count", in, NULL };
	const char *csv[] = { tool, "stats", "--csv", in, NULL };
	const char *bad_sort[] = { tool, "stats", "--sort", "bogus", in, NULL };
	const char *nothing[] = { tool, "stats", NULL };
	const char *gone[] = { tool, "stats", missing, NULL };
	const char *mixed[] = { tool, "stats", "-p", "1", in, NULL };

	(void)state;
	path(in, sizeof(in), "t.rtrace");
	path(missing, sizeof(missing), "missing.json");
	assert_status(run(top, "top.txt", "top.err"), 0, "top.err");
	assert_contains("top.txt", "... 1 more span names (of 2; --top 0 shows all)");
	assert_contains("top.txt", "4000 spans (0 flagged)");
	assert_status(run(csv, "csv.txt", "csv.err"), 0, "csv.err");
	assert_contains("csv.txt", "name,pid,process,count,total_ns,");
	assert_contains("csv.txt", "\"work\",");
	assert_status(run(bad_sort, NULL, "bad.err"), 2, "bad.err");
	assert_contains("bad.err", "--sort bogus");
	assert_status(run(nothing, NULL, "nothing.err"), 2, "nothing.err");
	assert_status(run(gone, NULL, "gone.err"), 1, "gone.err");
	assert_contains("gone.err", "No such file or directory");
	assert_status(run(mixed, NULL, "mixed.err"), 2, "mixed.err");
}

static void test_stats_live(void **state)
{
	char o[300];
	const char *argv[] = { tool, "stats", "--json", "--merge", "-q", "-o", o, "--", producer, "--threads", "2",
			       "--spans", SPANS, "--tasks", TASKS, NULL };
	int status;

	(void)state;
	path(o, sizeof(o), "live.json");
	for (int attempt = 0;; attempt++) {
		status = run(argv, NULL, "live.err");
		if (attempt == 4 || !taken_by_another_consumer("live.err"))
			break;
	}
	assert_status(status, 0, "live.err");
	check_counts("live.json", 1);
	{
		/* The clock the records used, known only at the end of a live run (it once kept the
		 * placeholder of its beginning). */
		size_t n;
		char *text = slurp(o, &n);

		assert_non_null(text);
		assert_true(strstr(text, "\"clock\":\"tsc\"") || strstr(text, "\"clock\":\"monotonic\""));
		free(text);
	}
}

static void test_chrome_otherdata_summary(void **state)
{
	char json[300];

	(void)state;
	path(json, sizeof(json), "t.json");
	assert_contains("t.json", "\"stats\":{\"format\":\"ringtrace-stats-summary\",\"span_rows\":2,\"spans\":4000,");
	assert_contains("t.json", "\"depth\":1");
	assert_int_equal(checked_spans(json), 4000); /* the format checker still accepts it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_every_input_kind),
		cmocka_unit_test(test_stats_json_round_trip),
		cmocka_unit_test(test_stats_merges_files),
		cmocka_unit_test(test_stats_table_options),
		cmocka_unit_test(test_stats_live),
		cmocka_unit_test(test_chrome_otherdata_summary),
	};

	if (cli_run_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
