/* SPDX-License-Identifier: MIT */
/* The CPU breakdown end to end: spans that sleep are off CPU for nearly all their time, spans that burn
 * 20 ms of thread CPU time are on CPU for at least that, with each source (perf context-switch records,
 * the thread CPU clock, getrusage) and with rt_span_begin_cpu() alone; counts of sampled spans are exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli-run.h"
#include "stats/stats.h"

#define NSPANS 5
#define MS 20
#define MS_NS (MS * 1000000ull)

static const char *prog;

/* `ringtrace stats --json` of the test program with RINGTRACE_CPU_STATS=mode (NULL: unset). */
static struct rtc_stats *run_prog(const char *mode)
{
	char o[300], *t, err[256] = "";
	const char *argv[] = { tool, "stats", "--json", "--merge", "-q", "-o", o, "--", prog, "--spans", "5", "--ms", "20",
			       NULL };
	struct rtc_stats *s = NULL;
	size_t n;
	int status;

	if (mode)
		setenv("RINGTRACE_CPU_STATS", mode, 1);
	else
		unsetenv("RINGTRACE_CPU_STATS");
	path(o, sizeof(o), "cpu.json");
	for (int attempt = 0;; attempt++) {
		status = run(argv, NULL, "cpu.err");
		if (attempt == 4 || !taken_by_another_consumer("cpu.err"))
			break;
	}
	unsetenv("RINGTRACE_CPU_STATS");
	assert_status(status, 0, "cpu.err");
	t = slurp(o, &n);
	assert_non_null(t);
	if (rtc_stats_read_json(t, n, NULL, &s, err, sizeof(err)))
		fail_msg("cpu.json: %s", err);
	free(t);
	return s;
}

static const struct rtc_stats_span_row *row(const struct rtc_stats_view *v, const char *name)
{
	size_t n;
	const struct rtc_stats_span_row *r = rtc_stats_view_spans(v, &n);

	for (size_t i = 0; i < n; i++)
		if (r[i].name_len == strlen(name) && !memcmp(r[i].name, name, r[i].name_len))
			return &r[i];
	fail_msg("no row %s", name);
	return NULL;
}

static void print_row(const char *mode, const struct rtc_stats_span_row *r)
{
	printf("%-7s %-9.*s spans %llu, with CPU %llu: wall %.2f ms, on %.2f ms, off %.2f ms, csw %llu+%llu\n", mode,
	       (int)r->name_len, r->name, (unsigned long long)r->d.count, (unsigned long long)r->cpu_spans,
	       r->d.total_ns / 1e6, r->on_cpu_ns / 1e6, r->off_cpu_ns / 1e6, (unsigned long long)r->ctx_voluntary,
	       (unsigned long long)r->ctx_involuntary);
}

/* A span that slept MS: off CPU for nearly all of it (a loaded machine only adds to the wait). */
static void check_sleep(const char *mode, const struct rtc_stats_span_row *r)
{
	print_row(mode, r);
	assert_int_equal(r->cpu_spans, NSPANS);
	assert_true(r->off_cpu_ns >= NSPANS * MS_NS * 9 / 10);
	assert_true(r->on_cpu_ns * 4 <= r->d.total_ns);
	assert_int_equal(r->on_cpu_ns + r->off_cpu_ns, r->d.total_ns);
}

/* A span that burned MS of thread CPU time: at least that on CPU, however long it took. */
static void check_spin(const char *mode, const struct rtc_stats_span_row *r)
{
	print_row(mode, r);
	assert_int_equal(r->cpu_spans, NSPANS);
	assert_true(r->on_cpu_ns >= NSPANS * MS_NS * 9 / 10);
	assert_int_equal(r->on_cpu_ns + r->off_cpu_ns, r->d.total_ns);
}

static void every_span(const char *mode)
{
	struct rtc_stats *s = run_prog(mode);
	struct rtc_stats_view_options vo = { .merge_processes = true };
	struct rtc_stats_view *v = rtc_stats_view_create(s, &vo);
	const struct rtc_stats_span_row *sleep = row(v, "sleep");

	check_sleep(mode, sleep);
	check_spin(mode, row(v, "spin"));
	check_spin(mode, row(v, "spin.cpu"));
	assert_int_equal(row(v, "plain")->cpu_spans, NSPANS);
	/* perf and getrusage count switches: each sleep is one voluntary switch at least. The clock has
	 * none, and perf falls back to it where perf_event_open() is refused. */
	if (!strcmp(mode, "rusage"))
		assert_true(sleep->ctx_voluntary >= NSPANS);
	else if (!strcmp(mode, "perf") && sleep->ctx_voluntary == 0)
		printf("(perf_event_open() refused here: the clock was used)\n");
	else if (!strcmp(mode, "perf"))
		assert_true(sleep->ctx_voluntary >= NSPANS);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

static void test_cpu_perf(void **state)
{
	(void)state;
	every_span("perf");
}

static void test_cpu_clock(void **state)
{
	(void)state;
	every_span("clock");
}

static void test_cpu_rusage_switches(void **state)
{
	struct rtc_stats *s = run_prog("rusage");
	struct rtc_stats_view_options vo = { .merge_processes = true };
	struct rtc_stats_view *v = rtc_stats_view_create(s, &vo);
	const struct rtc_stats_span_row *sleep = row(v, "sleep");

	(void)state;
	/* Its CPU time moves at scheduler ticks only: the switches are what it is for. */
	print_row("rusage", sleep);
	assert_int_equal(sleep->cpu_spans, NSPANS);
	assert_true(sleep->ctx_voluntary >= NSPANS);
	assert_int_equal(row(v, "spin")->cpu_spans, NSPANS);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

/* Without the variable only rt_span_begin_cpu() spans are sampled (the plain span inside one too not). */
static void test_cpu_one_span(void **state)
{
	struct rtc_stats *s = run_prog(NULL);
	struct rtc_stats_view_options vo = { .merge_processes = true };
	struct rtc_stats_view *v = rtc_stats_view_create(s, &vo);

	(void)state;
	check_spin("span", row(v, "spin.cpu"));
	assert_int_equal(row(v, "spin")->cpu_spans, 0);
	assert_int_equal(row(v, "sleep")->cpu_spans, 0);
	assert_int_equal(row(v, "plain")->cpu_spans, 0);
	assert_int_equal(row(v, "plain")->d.count, NSPANS);
	rtc_stats_view_destroy(v);
	rtc_stats_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_perf),
		cmocka_unit_test(test_cpu_clock),
		cmocka_unit_test(test_cpu_rusage_switches),
		cmocka_unit_test(test_cpu_one_span),
	};

	prog = getenv("RT_CPU_PROG");
	if (cli_run_init() < 0 || !prog) {
		fprintf(stderr, "RT_CPU_PROG must be set (meson test does)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
