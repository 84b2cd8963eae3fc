/* SPDX-License-Identifier: MIT */
/* The statistics as `top`, `diff` and `stats FILE...` use them: the sliding window against a model of
 * the same seconds, merging models, name keys against names, many tasks begun and ended interleaved,
 * process counts past the thread limit, and the diff's rows and gate. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats/diff.h"
#include "stats/stats.h"
#include "stats/window.h"

static struct rtc_out span(uint32_t pid, uint32_t tid, const char *name, uint64_t dur, uint64_t key)
{
	return (struct rtc_out){ .kind = RTC_OUT_SPAN, .pid = pid, .tid = tid, .name = name,
				 .name_len = (uint32_t)strlen(name), .ts = 1000, .dur = dur, .self_ns = dur,
				 .name_key = key };
}

static const struct rtc_stats_span_row *row(const struct rtc_stats_view *v, const char *name, uint32_t pid)
{
	size_t n;
	const struct rtc_stats_span_row *r = rtc_stats_view_spans(v, &n);

	for (size_t i = 0; i < n; i++)
		if (r[i].pid == pid && r[i].name_len == strlen(name) && !memcmp(r[i].name, name, r[i].name_len))
			return &r[i];
	fail_msg("no row %s/%u", name, pid);
	return NULL;
}

/* ---- the window ---- */

/* Second k has k spans "a" of k µs and, in even seconds, one "b". After each roll the window's rows
 * equal a model fed only the last `seconds` completed seconds. */
static void test_window_matches_the_last_seconds(void **state)
{
	enum { SECONDS = 3, TOTAL = 12 };
	struct rtc_stats_window *w = rtc_stats_window_create(SECONDS, 0);

	(void)state;
	assert_non_null(w);
	for (unsigned sec = 1; sec <= TOTAL; sec++) {
		struct rtc_stats_window_rows rows;
		struct rtc_stats_window_info info;
		uint64_t want_a = 0, want_b = 0, want_total = 0;

		for (unsigned k = 0; k < sec; k++) {
			struct rtc_out ev = span(7, 7, "a", 1000ull * sec, 0);

			rtc_stats_window_event(w, &ev);
		}
		if (sec % 2 == 0) {
			struct rtc_out ev = span(7, 7, "b", 5, 0);

			rtc_stats_window_event(w, &ev);
		}
		{
			/* Flagged spans never count. */
			struct rtc_out ev = span(7, 7, "a", 1, 0);

			ev.flags = RTC_F_INCOMPLETE;
			rtc_stats_window_event(w, &ev);
		}
		rtc_stats_window_roll(w);
		for (unsigned k = sec > SECONDS ? sec - SECONDS + 1 : 1; k <= sec; k++) {
			want_a += k;
			want_total += (uint64_t)k * 1000 * k;
			want_b += k % 2 == 0;
		}
		rtc_stats_window_info(w, &info);
		assert_int_equal(info.covered_ns, (sec < SECONDS ? sec : SECONDS) * 1000000000ull);
		assert_int_equal(rtc_stats_window_rows(w, false, RTC_STATS_SORT_TOTAL, &rows), want_b ? 2 : 1);
		assert_string_equal(rows.rows[0].name, "a"); /* sorted by total */
		assert_int_equal(rows.rows[0].d.count, want_a);
		assert_int_equal(rows.rows[0].d.total_ns, want_total);
		assert_int_equal(rows.rows[0].d.max_ns, 1000ull * sec);
		if (want_b)
			assert_int_equal(rows.rows[1].d.count, want_b);
		rtc_stats_window_rows_free(&rows);
	}
	rtc_stats_window_destroy(w);
}

static void test_window_merges_processes(void **state)
{
	struct rtc_stats_window *w = rtc_stats_window_create(2, 0);
	struct rtc_stats_window_rows rows;
	struct rtc_out a = span(1, 1, "x", 100, 0), b = span(2, 2, "x", 300, 0), c = span(2, 2, "y", 50, 0);

	(void)state;
	rtc_stats_window_event(w, &a);
	rtc_stats_window_event(w, &b);
	rtc_stats_window_event(w, &c);
	rtc_stats_window_roll(w);
	assert_int_equal(rtc_stats_window_rows(w, false, RTC_STATS_SORT_NAME, &rows), 3);
	rtc_stats_window_rows_free(&rows);
	assert_int_equal(rtc_stats_window_rows(w, true, RTC_STATS_SORT_NAME, &rows), 2);
	assert_int_equal(rows.rows[0].pid, 0);
	assert_int_equal(rows.rows[0].d.count, 2);
	assert_int_equal(rows.rows[0].d.total_ns, 400);
	rtc_stats_window_rows_free(&rows);
	rtc_stats_window_destroy(w);
	assert_null(rtc_stats_window_create(0, 0));
}

/* ---- the model ---- */

/* The same spans with and without name keys give the same rows; a key is never taken for another
 * process's name, and the names past the limit are counted one by one. */
static void test_name_keys(void **state)
{
	struct rtc_stats_options o = { .max_spans = 3 };
	struct rtc_stats *a = rtc_stats_create(&o), *b = rtc_stats_create(&o);
	static const char *const names[] = { "one", "two", "three", "four", "five" };
	struct rtc_stats_view *va, *vb;
	size_t na, nb;

	(void)state;
	for (int round = 0; round < 100; round++)
		for (int k = 0; k < 5; k++) {
			struct rtc_out x = span(10 + (uint32_t)(k % 2), 1, names[k], (uint64_t)(round + k + 1), 0);
			struct rtc_out y = x;

			y.name_key = ((uint64_t)(k % 2) + 1) << 32 | (uint64_t)k;
			rtc_stats_event(a, &x);
			rtc_stats_event(b, &y);
		}
	va = rtc_stats_view_create(a, NULL);
	vb = rtc_stats_view_create(b, NULL);
	rtc_stats_view_spans(va, &na);
	rtc_stats_view_spans(vb, &nb);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		const struct rtc_stats_span_row *ra = &rtc_stats_view_spans(va, &na)[i];
		char name[32];
		const struct rtc_stats_span_row *rb;

		snprintf(name, sizeof(name), "%.*s", (int)ra->name_len, ra->name);
		rb = row(vb, name, ra->pid);
		assert_int_equal(ra->d.count, rb->d.count);
		assert_int_equal(ra->d.total_ns, rb->d.total_ns);
	}
	assert_int_equal(rtc_stats_view_info(va)->other_span_names, rtc_stats_view_info(vb)->other_span_names);
	assert_int_equal(rtc_stats_view_info(va)->other_span_names, 200); /* 2 names x 100 past the limit */
	rtc_stats_view_destroy(va);
	rtc_stats_view_destroy(vb);
	rtc_stats_destroy(a);
	rtc_stats_destroy(b);
}

/* One name_key with two pids (a capture's process index declared again for another pid, or a thread
 * declared with a pid of its own): each pid has its span and task rows, never one row for both, and a
 * task lists only its own process's spans and threads (fuzz-capture: the statistics did not read back). */
static void test_name_key_two_pids(void **state)
{
	struct rtc_stats *s = rtc_stats_create(NULL);
	struct rtc_stats_view *v;
	const struct rtc_stats_task_row *t;
	size_t n;

	(void)state;
	for (uint32_t pid = 10; pid <= 20; pid += 10) {
		struct rtc_out b = { .kind = RTC_OUT_TASK_BEGIN, .pid = pid, .tid = pid, .ts = 1, .id = 5, .name = "req",
				     .name_len = 3, .name_key = 1ull << 32 | 9 };
		struct rtc_out sp = span(pid, pid, "work", pid, 1ull << 32 | 9);

		rtc_stats_event(s, &b);
		sp.task = 5;
		rtc_stats_event(s, &sp);
	}
	v = rtc_stats_view_create(s, NULL);
	rtc_stats_view_spans(v, &n);
	assert_int_equal(n, 2);
	assert_int_equal(row(v, "work", 10)->d.count, 1);
	assert_int_equal(row(v, "work", 10)->d.total_ns, 10);
	assert_int_equal(row(v, "work", 20)->d.count, 1);
	assert_int_equal(row(v, "work", 20)->d.total_ns, 20);
	t = rtc_stats_view_tasks(v, &n);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(t[i].open, 1);
		assert_int_equal(t[i].nspans, 1);
		assert_int_equal(t[i].nthreads, 1);
		assert_int_equal(t[i].threads[0].pid, t[i].pid);
	}
	assert_int_not_equal(t[0].pid, t[1].pid);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

/* Thousands of tasks begun and ended in shuffled order, spans inside them on two threads: every task
 * counted once, the table never confused by its deletions. */
static void test_many_live_tasks(void **state)
{
	enum { N = 5000 };
	struct rtc_stats *s = rtc_stats_create(NULL);
	struct rtc_stats_view *v;
	const struct rtc_stats_task_row *t;
	uint64_t order[N];
	size_t n;

	(void)state;
	for (uint64_t i = 0; i < N; i++) {
		struct rtc_out b = { .kind = RTC_OUT_TASK_BEGIN, .pid = 3, .tid = 3, .ts = i, .id = i + 1, .name = "req",
				     .name_len = 3, .name_key = i % 2 ? 0 : 1ull << 32 | 9 };
		struct rtc_out sp = span(3, 3 + (uint32_t)(i % 2), "work", 10, 0);

		rtc_stats_event(s, &b);
		sp.task = i + 1;
		rtc_stats_event(s, &sp);
		order[i] = i + 1;
	}
	for (size_t i = N - 1; i > 0; i--) { /* a fixed shuffle */
		size_t j = (i * 2654435761u) % (i + 1);
		uint64_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	for (size_t i = 0; i < N; i++) {
		struct rtc_out e = { .kind = RTC_OUT_TASK_END, .pid = 3, .tid = 3, .ts = N + i, .id = order[i], .dur = 7,
				     .name = "req", .name_len = 3 };

		rtc_stats_event(s, &e);
	}
	v = rtc_stats_view_create(s, NULL);
	t = rtc_stats_view_tasks(v, &n);
	assert_int_equal(n, 1);
	assert_int_equal(t->complete, N);
	assert_int_equal(t->incomplete + t->open, 0);
	assert_int_equal(t->nspans, 1);
	assert_int_equal(t->nthreads, 2);
	assert_int_equal(t->d.count, N);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

/* Spans of threads past the limit are counted in their process; the views add the others'. */
static void test_process_counts(void **state)
{
	struct rtc_stats_options o = { .max_threads = 2 };
	struct rtc_stats *s = rtc_stats_create(&o);
	struct rtc_stats_view *v;
	const struct rtc_stats_process_row *p;
	size_t n;

	(void)state;
	for (uint32_t tid = 1; tid <= 4; tid++)
		for (int k = 0; k < 10; k++) {
			struct rtc_out ev = span(5, tid, "s", 100, 0);

			rtc_stats_event(s, &ev);
		}
	v = rtc_stats_view_create(s, NULL);
	p = rtc_stats_view_processes(v, &n);
	assert_int_equal(n, 1);
	assert_int_equal(p->spans, 40);
	assert_int_equal(p->busy_ns, 4000);
	assert_int_equal(p->threads, 2); /* tids 3 and 4 had no entry */
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

/* Two runs read back and merged: every count adds up, histograms included, and the JSON of the merge
 * reads back to the same rows. */
static void test_merge(void **state)
{
	struct rtc_stats *a = rtc_stats_create(NULL), *b = rtc_stats_create(NULL), *m = rtc_stats_create(NULL), *r = NULL;
	struct rtc_stats_view *v;
	const struct rtc_stats_span_row *x;
	char *buf = NULL, err[128];
	size_t len = 0;
	FILE *f;

	(void)state;
	for (int k = 0; k < 100; k++) {
		struct rtc_out e1 = span(1, 1, "op", 1000 + (uint64_t)k, 0), e2 = span(2, 2, "op", 2000 + (uint64_t)k, 0);

		rtc_stats_event(a, &e1);
		rtc_stats_event(b, &e2);
	}
	assert_int_equal(rtc_stats_merge(m, a), 0);
	assert_int_equal(rtc_stats_merge(m, b), 0);
	assert_int_equal(rtc_stats_merge(m, m), -EINVAL);
	v = rtc_stats_view_create(m, &(struct rtc_stats_view_options){ .merge_processes = true });
	x = row(v, "op", 0);
	assert_int_equal(x->d.count, 200);
	assert_int_equal(x->d.min_ns, 1000);
	assert_int_equal(x->d.max_ns, 2099);
	assert_int_equal(x->d.total_ns, 100 * 1000 + 4950 + 100 * 2000 + 4950);
	rtc_stats_view_destroy(v);
	f = open_memstream(&buf, &len);
	assert_int_equal(rtc_stats_write_json(m, NULL, f), 0);
	fclose(f);
	assert_int_equal(rtc_stats_read_json(buf, len, NULL, &r, err, sizeof(err)), 0);
	v = rtc_stats_view_create(r, NULL);
	assert_int_equal(row(v, "op", 1)->d.count, 100);
	assert_int_equal(row(v, "op", 2)->d.count, 100);
	assert_int_equal(rtc_stats_view_processes(v, &len)[0].spans, 100);
	rtc_stats_view_destroy(v);
	free(buf);
	rtc_stats_destroy(r);
	rtc_stats_destroy(a);
	rtc_stats_destroy(b);
	rtc_stats_destroy(m);
}

/* ---- diff ---- */

static void test_diff_rows_and_gate(void **state)
{
	struct rtc_stats *a = rtc_stats_create(NULL), *b = rtc_stats_create(NULL);
	struct rtc_stats_diff_options o = { .alpha = 0.05, .fail_on = 0.05 };
	struct rtc_stats_diff *d;
	const struct rtc_stats_diff_row *r;
	char *text = NULL;
	size_t n, len = 0;
	FILE *f;

	(void)state;
	for (int k = 0; k < 500; k++) {
		uint64_t base = 10000 + (uint64_t)(k % 50) * 10;
		struct rtc_out s1 = span(1, 1, "slower", base, 0), s2 = span(9, 9, "slower", base * 11 / 10, 0);
		struct rtc_out same1 = span(1, 1, "same", base, 0), same2 = span(9, 9, "same", base, 0);
		struct rtc_out gone = span(1, 1, "gone", 5, 0), fresh = span(9, 9, "new", 5, 0);

		rtc_stats_event(a, &s1);
		rtc_stats_event(b, &s2);
		rtc_stats_event(a, &same1);
		rtc_stats_event(b, &same2);
		rtc_stats_event(a, &gone);
		rtc_stats_event(b, &fresh);
	}
	d = rtc_stats_diff_create(a, b, &o);
	assert_non_null(d);
	r = rtc_stats_diff_rows(d, &n);
	assert_int_equal(n, 4);
	assert_int_equal(rtc_stats_diff_regressions(d), 1);
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(r[i].name, "slower", r[i].name_len)) {
			assert_true(r[i].regressed);
			assert_true(r[i].c.p50_change > 0.09 && r[i].c.p50_change < 0.11);
		} else if (!strncmp(r[i].name, "same", r[i].name_len)) {
			assert_false(r[i].regressed);
			assert_int_equal(r[i].c.change, RTC_CHANGE_NONE);
		} else if (!strncmp(r[i].name, "gone", r[i].name_len)) {
			assert_int_equal(r[i].state, RTC_DIFF_ONLY_A);
		} else {
			assert_int_equal(r[i].state, RTC_DIFF_ONLY_B);
			assert_int_equal(i, n - 1); /* names new in B come last */
		}
	}
	f = open_memstream(&text, &len);
	assert_int_equal(rtc_stats_diff_write(d, "a", "b", f), 0);
	fclose(f);
	assert_non_null(strstr(text, "test: Mann-Whitney U, two-sided"));
	assert_non_null(strstr(text, ": 1 regression\n"));
	assert_non_null(strstr(text, "slower: REGRESSION"));
	free(text);
	rtc_stats_diff_destroy(d);
	rtc_stats_destroy(a);
	rtc_stats_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_matches_the_last_seconds),
		cmocka_unit_test(test_window_merges_processes),
		cmocka_unit_test(test_name_keys),
		cmocka_unit_test(test_name_key_two_pids),
		cmocka_unit_test(test_many_live_tasks),
		cmocka_unit_test(test_process_counts),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_diff_rows_and_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
