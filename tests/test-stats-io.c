/* SPDX-License-Identifier: MIT */
/* The statistics' outputs: JSON written, read back and written again identically (and refused when bad or
 * past limits), the aligned text table with its top-N note and open spans, CSV, durations in human units. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats/compare.h"
#include "stats/stats.h"

static uint64_t rng_state = 1;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void ev(struct rtc_stats *s, struct rtc_out e)
{
	if (e.name && !e.name_len)
		e.name_len = (uint32_t)strlen(e.name);
	if (e.text && !e.text_len)
		e.text_len = (uint32_t)strlen(e.text);
	rtc_stats_event(s, &e);
}

#define LONG_NAME "a_span_name_that_is_much_longer_than_any_column_would_be_and_must_still_be_shown_whole_in_the_table"

/* A model with a bit of everything. */
static struct rtc_stats *sample(void)
{
	struct rtc_stats *s = rtc_stats_create(NULL);
	struct rtc_trace_info info = { .origin_ns = 1000, .attach_ns = 2000, .clock = "tsc", .host = "box",
				       .tool = "ringtrace 0.1.0", .live = true };
	struct rtc_thread_loss tl[] = { { .pid = 10, .tid = 11, .full = 4 } };
	struct rtc_process_loss pl[] = { { .pid = 10, .threads_untraced = 1, .names_overflowed = 2 } };
	struct rtc_summary sum = { .start_ns = 2000, .end_ns = 9000000000, .records = 12345, .lost = 4,
				   .thread_loss = tl, .nthread_loss = 1, .process_loss = pl, .nprocess_loss = 1 };
	static const char *names[] = { "parse", "say \"hi\"\n", "caf\xc3\xa9", "bad\xff", LONG_NAME, "io" };

	rtc_stats_begin(s, &info);
	ev(s, (struct rtc_out){ .kind = RTC_OUT_PROCESS, .pid = 10, .text = "server", .parent = 1 });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_PROCESS, .pid = 20, .text = "worker" });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_THREAD, .pid = 10, .tid = 11, .text = "main", .thread_number = 1 });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = 10, .tid = 11, .id = 1, .name = "req", .ts = 3000 });
	for (int i = 0; i < 3000; i++) {
		uint32_t pid = i % 2 ? 10 : 20, tid = pid + 1 + (uint32_t)((i / 7) % 2);
		uint64_t dur = 1000 + rnd() % 1000000;
		struct rtc_out e = { .kind = RTC_OUT_SPAN, .pid = pid, .tid = tid, .name = names[(i / 2) % 6],
				     .ts = 5000 + (uint64_t)i * 2000000, .dur = dur, .self_ns = dur / 2,
				     .depth = (uint32_t)(i % 2), .task = pid == 10 ? 1 : 0 };

		if (i % 97 == 0)
			e.flags = RTC_F_REPAIRED;
		if (i % 5 == 0) {
			e.flags |= RTC_F_CPU;
			e.cpu_ns = dur / 3;
			e.ctx_voluntary = 1;
		}
		ev(s, e);
	}
	ev(s, (struct rtc_out){ .kind = RTC_OUT_TASK_END, .pid = 10, .tid = 11, .id = 1, .dur = 777777 });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = 10, .tid = 11, .id = 2, .name = "req", .ts = 4000 });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_SPAN_OPEN, .pid = 10, .tid = 11, .span_seq = 77, .name = "serve",
				.ts = 1000000, .dur = 5000, .flags = RTC_F_OPEN });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_LOG, .pid = 10, .tid = 11, .ts = 7000 });
	rtc_stats_end(s, &sum);
	return s;
}

static char *json_of(const struct rtc_stats *s, const struct rtc_stats_json_options *o, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	assert_int_equal(rtc_stats_write_json(s, o, f), 0);
	fclose(f);
	return buf;
}

static void test_json_roundtrip(void **state)
{
	struct rtc_stats *s = sample(), *r = NULL;
	struct rtc_stats_json_options opts[2] = { { 0 }, { .merge_processes = true, .sort = RTC_STATS_SORT_NAME } };
	char err[200];

	(void)state;
	for (int k = 0; k < 2; k++) {
		size_t len, len2;
		char *a = json_of(s, &opts[k], &len), *b;

		if (rtc_stats_read_json(a, len, NULL, &r, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n%s\n", err, a);
			fail();
		}
		b = json_of(r, &opts[k], &len2);
		if (len != len2 || memcmp(a, b, len) != 0) {
			fprintf(stderr, "first:\n%s\nsecond:\n%s\n", a, b);
			fail();
		}
		if (k == 0) {
			/* The histograms read back compare as identical. */
			struct rtc_stats_view *va = rtc_stats_view_create(s, NULL), *vb = rtc_stats_view_create(r, NULL);
			size_t na, nb;
			const struct rtc_stats_span_row *ra = rtc_stats_view_spans(va, &na), *rb = rtc_stats_view_spans(vb, &nb);
			struct rtc_compare c;

			assert_int_equal(na, nb);
			assert_int_equal(na, 13); /* 6 names in 2 processes, the open "serve" */
			for (size_t i = 0; i < na; i++) {
				assert_int_equal(ra[i].d.count, rb[i].d.count);
				if (!ra[i].d.count)
					continue;
				assert_int_equal(rtc_compare_hists(ra[i].d.hist, rb[i].d.hist, 0.05, &c), 0);
				assert_true(c.test.p_value == 1 && c.p50_change == 0);
			}
			printf("# stats JSON: %zu bytes for %zu span rows\n", len, na);
			rtc_stats_view_destroy(va);
			rtc_stats_view_destroy(vb);
		}
		rtc_stats_destroy(r);
		free(a);
		free(b);
	}
	rtc_stats_destroy(s);
}

/* A thread that was named but never ran is written with "first_ns":0 (no time): read back, that 0 is no
 * time either, neither the earliest time of the file written again nor of a merge (fuzz-capture). */
static void test_json_thread_without_events(void **state)
{
	struct rtc_stats *s = rtc_stats_create(NULL), *r = NULL, *m = rtc_stats_create(NULL);
	struct rtc_trace_info info = { .origin_ns = 1000, .attach_ns = 2000 };
	size_t len, len2;
	char *a, *b, err[200];
	struct rtc_stats_view *v;

	(void)state;
	rtc_stats_begin(s, &info);
	ev(s, (struct rtc_out){ .kind = RTC_OUT_PROCESS, .pid = 10, .text = "server" });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_THREAD, .pid = 10, .tid = 11, .text = "main", .thread_number = 1 });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_THREAD, .pid = 10, .tid = 12, .text = "idle", .thread_number = 2 });
	ev(s, (struct rtc_out){ .kind = RTC_OUT_SPAN, .pid = 10, .tid = 11, .name = "parse", .ts = 5000, .dur = 300,
				.self_ns = 300 });
	rtc_stats_end(s, &(struct rtc_summary){ .start_ns = 2000, .end_ns = 6000, .records = 2 });
	a = json_of(s, NULL, &len);
	assert_non_null(strstr(a, "\"first_ns\":5000,"));
	assert_non_null(strstr(a, "\"tid\":12,\"name\":\"idle\""));
	assert_int_equal(rtc_stats_read_json(a, len, NULL, &r, err, sizeof(err)), 0);
	b = json_of(r, NULL, &len2);
	if (len != len2 || memcmp(a, b, len) != 0) {
		fprintf(stderr, "first:\n%s\nsecond:\n%s\n", a, b);
		fail();
	}
	assert_int_equal(rtc_stats_merge(m, r), 0);
	v = rtc_stats_view_create(m, NULL);
	assert_non_null(v);
	assert_int_equal(rtc_stats_view_info(v)->first_ns, 5000);
	assert_int_equal(rtc_stats_view_info(v)->last_ns, 5300);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(m);
	rtc_stats_destroy(r);
	rtc_stats_destroy(s);
	free(a);
	free(b);
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	char *out;

	assert_non_null(at);
	out = malloc(strlen(s) - strlen(from) + strlen(to) + 1);
	memcpy(out, s, (size_t)(at - s));
	strcpy(out + (at - s), to);
	strcat(out, at + strlen(from));
	return out;
}

static void test_json_refused(void **state)
{
	struct rtc_stats *s = sample(), *r;
	size_t len;
	char *a = json_of(s, NULL, &len), err[200];
	static const char *edits[][2] = {
		{ "\"format\":\"ringtrace-stats\"", "\"format\":\"chrome\"" },
		{ "\"version\":1", "\"version\":2" },
		{ "\"spans\":[\n{\"name\":", "\"spans\":[\n{\"pid\":10},{\"name\":" },
		{ "\"self_ns\":", "\"self_ns\":99999999999999" },
		{ "\"count\":", "\"count\":1" },
		{ "\"live\":true", "\"live\":1" },
		{ "\"hist\":{\"layout\":\"log2-64\"", "\"hist\":{\"layout\":\"log10\"" },
		{ "\"pid\":10", "\"pid\":4294967296" },
		{ "\"spans\":[\n", "\"spans\":[\n{\"name\":\"x\",\"pid\":1,\"count\":0,\"total_ns\":0,\"hist\":{\"layout\":"
				   "\"log2-64\",\"count\":0,\"min\":0,\"max\":0,\"sum\":0,\"sumsq\":0,\"buckets\":[]},"
				   "\"flagged\":{\"count\":1,\"repaired\":2}}," },
		{ "\"tasks\":[\n{", "\"tasks\":[\n{\"spans\":[1]," },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *b = replace(a, edits[i][0], edits[i][1]);
		int rc = rtc_stats_read_json(b, strlen(b), NULL, &r, err, sizeof(err));

		printf("# refused: %s\n", err);
		assert_int_equal(rc, -EPROTO);
		assert_null(r);
		assert_true(err[0] != 0);
		free(b);
	}
	/* The same span twice. */
	{
		const char *first = strstr(a, "\n{\"name\":") + 1, *end = strstr(first, "},\n{") + 1;
		char *dup = malloc((size_t)(end - first) + 2), *b;

		memcpy(dup, first, (size_t)(end - first));
		strcpy(dup + (end - first), ",");
		b = replace(a, "\"spans\":[\n", "\"spans\":[\n");
		free(b);
		b = malloc(len + strlen(dup) + 1);
		memcpy(b, a, (size_t)(first - a));
		strcpy(b + (first - a), dup);
		strcat(b, first);
		assert_int_equal(rtc_stats_read_json(b, strlen(b), NULL, &r, err, sizeof(err)), -EPROTO);
		assert_non_null(strstr(err, "twice"));
		free(b);
		free(dup);
	}
	/* Past the limits of the reader's options. */
	assert_int_equal(rtc_stats_read_json(a, len, &(struct rtc_stats_options){ .max_spans = 4 }, &r, err,
					     sizeof(err)),
			 -E2BIG);
	assert_int_equal(rtc_stats_read_json(a, len, &(struct rtc_stats_options){ .max_threads = 2 }, &r, err,
					     sizeof(err)),
			 -E2BIG);
	/* Every truncation. */
	for (size_t cut = 0; cut < len; cut += cut < 3000 ? 1 : 61)
		assert_int_equal(rtc_stats_read_json(a, cut, NULL, &r, NULL, 0), -EPROTO);
	/* Random damage: refused, or a model whose outputs work. */
	for (int i = 0; i < 1500; i++) {
		char *b = malloc(len);
		int rc;

		memcpy(b, a, len);
		for (int k = 0; k < 1 + i % 4; k++)
			b[rnd() % len] = i % 2 ? "0123456789,:[]{}\"-.e tfn"[rnd() % 25] : (char)rnd();
		rc = rtc_stats_read_json(b, len, NULL, &r, err, sizeof(err));
		assert_true(rc == 0 || rc == -EPROTO || rc == -E2BIG);
		if (rc == 0) {
			struct rtc_stats_view *v = rtc_stats_view_create(r, NULL);
			FILE *f = fopen("/dev/null", "w");

			assert_non_null(v);
			assert_int_equal(rtc_stats_write_table(v, NULL, f), 0);
			assert_int_equal(rtc_stats_write_json(r, NULL, f), 0);
			fclose(f);
			rtc_stats_view_destroy(v);
			rtc_stats_destroy(r);
		}
		free(b);
	}
	free(a);
	rtc_stats_destroy(s);
}

static char *table_of(const struct rtc_stats_view *v, const struct rtc_stats_table_options *o)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(rtc_stats_write_table(v, o, f), 0);
	fclose(f);
	{
		char *copy = strdup(buf);

		free(buf);
		return copy;
	}
}

/* The width of a line in code points. */
static size_t cols(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		w += ((unsigned char)s[i] & 0xc0) != 0x80;
	return w;
}

static void test_table(void **state)
{
	struct rtc_stats *s = sample();
	struct rtc_stats_view *v = rtc_stats_view_create(s, NULL);
	char *t = table_of(v, &(struct rtc_stats_table_options){ .top = 5 }), *line, *end;
	size_t width = 0, lines = 0;

	(void)state;
	printf("%s", t);
	assert_non_null(strstr(t, "Spans (per process, by total): 13 names\n"));
	assert_non_null(strstr(t, LONG_NAME));           /* whole */
	assert_non_null(strstr(t, "say \"hi\"?"));       /* control characters shown as '?' */
	assert_non_null(strstr(t, "caf\xc3\xa9"));
	assert_non_null(strstr(t, "... 8 more span names (of 13; --top 0 shows all)\n"));
	assert_non_null(strstr(t, "Open spans (running now, longest first): 1\n"));
	assert_non_null(strstr(t, "open, "));
	assert_non_null(strstr(t, "flagged: spans begun before attach"));
	assert_non_null(strstr(t, "Tasks (per process): 1 name"));
	assert_non_null(strstr(t, "Threads (by busy time"));
	assert_non_null(strstr(t, "server"));
	/* The span table's lines all have the same width (right-aligned last column). */
	line = strstr(t, "\nname ") + 1;
	for (; *line && strncmp(line, "...", 3); line = end + 1) {
		end = strchr(line, '\n');
		if (!width)
			width = cols(line, (size_t)(end - line));
		assert_int_equal(cols(line, (size_t)(end - line)), width);
		lines++;
	}
	assert_int_equal(lines, 6); /* header + 5 */
	free(t);
	/* All rows, merged, by name. */
	rtc_stats_view_destroy(v);
	v = rtc_stats_view_create(s, &(struct rtc_stats_view_options){ .merge_processes = true,
									.sort = RTC_STATS_SORT_NAME });
	t = table_of(v, &(struct rtc_stats_table_options){ .no_tasks = true, .no_threads = true });
	assert_non_null(strstr(t, "Spans (all processes, by name): 7 names\n"));
	assert_null(strstr(t, "more span names"));
	assert_null(strstr(t, "Tasks"));
	assert_non_null(strstr(t, "\nbad?"));
	assert_true(strstr(t, "\nbad?") < strstr(t, "\ncaf\xc3\xa9"));
	free(t);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

static void test_csv(void **state)
{
	struct rtc_stats *s = sample();
	struct rtc_stats_view *v = rtc_stats_view_create(s, &(struct rtc_stats_view_options){ .sort = RTC_STATS_SORT_NAME });
	char *buf = NULL;
	size_t len, rows = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_int_equal(rtc_stats_write_csv(v, f), 0);
	fclose(f);
	assert_true(strncmp(buf, "name,pid,process,count,total_ns,", 32) == 0);
	assert_non_null(strstr(buf, "\r\n\"say \"\"hi\"\"\n\",10,\"server\","));
	assert_non_null(strstr(buf, "\"bad\xef\xbf\xbd\""));
	for (char *p = buf; (p = strstr(p, "\r\n")); p += 2)
		rows++;
	assert_int_equal(rows, 14);
	free(buf);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

static void test_format_ns(void **state)
{
	static const struct {
		uint64_t ns;
		const char *want;
	} cases[] = {
		{ 0, "0ns" }, { 999, "999ns" }, { 1000, "1.00µs" }, { 12345, "12.3µs" }, { 999499, "999µs" },
		{ 999500, "1.00ms" }, { 45678901, "45.7ms" }, { 1500000000, "1.50s" }, { 59994999999, "60.0s" },
		{ 59999500000, "1m00s" }, { 125000000000, "2m05s" }, { 3725000000000, "1h02m" },
		{ UINT64_MAX, "5.12e+06h" },
	};
	char buf[24];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(rtc_stats_format_ns(cases[i].ns, buf, sizeof(buf)), cases[i].want);
}

static void test_sort_parse(void **state)
{
	enum rtc_stats_sort k;

	(void)state;
	assert_int_equal(rtc_stats_sort_parse("p99", &k), 0);
	assert_int_equal(k, RTC_STATS_SORT_P99);
	assert_int_equal(rtc_stats_sort_parse("name", &k), 0);
	assert_int_equal(k, RTC_STATS_SORT_NAME);
	assert_int_equal(rtc_stats_sort_parse("nope", &k), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_thread_without_events),
		cmocka_unit_test(test_json_refused),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_format_ns),
		cmocka_unit_test(test_sort_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
