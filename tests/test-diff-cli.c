/* SPDX-License-Identifier: MIT */
/* `ringtrace diff` on runs of examples/bench-loop.c, the second side twice as slow in "encode" (its
 * --slowdown 100): a 40% gate flags it and leaves the unchanged "checksum" alone, and two sets of
 * runs of the same program are not flagged. Each program runs once first (not kept), then runs
 * rotate between the sides and several are merged per side; medians of spans of some 25 µs are
 * compared. Even so, on a shared VM a whole set of runs can be slower than another set of the
 * same program: +15.0 … +17.2% in every row's median (ASan build, quiet Zen 3 VM, 2026-11-29),
 * +7.8% beside a CPU hog. The docs' 10% slowdown against a 5% gate holds on a quiet, steady
 * machine only, and this test must not need one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli-run.h"

#define RUNS 3

#define SLOWDOWN "100"
#define GATE "40%"

static const char *fast, *compare_py, *python;
static const char slow_side[] = "bench-loop --slowdown " SLOWDOWN;

/* prog: the program, or slow_side for it with --slowdown SLOWDOWN. */
static void record_run(const char *prog, const char *out)
{
	char o[300];
	bool slower = prog == slow_side;
	const char *argv[] = { tool, "record", "-q", "--stats-file", o, "--", slower ? fast : prog,
			       slower ? "--slowdown" : NULL, SLOWDOWN, NULL };
	int status;

	path(o, sizeof(o), out);
	for (int attempt = 0;; attempt++) {
		status = run(argv, NULL, "record.err");
		if (attempt == 4 || !taken_by_another_consumer("record.err"))
			break;
	}
	assert_status(status, 0, "record.err");
}

/* RUNS runs of each of the n (<= RUNS) programs, merged into one statistics file per program.
 * One run of each first, not kept: the first runs after a build start cold. Then round r starts
 * with program r % n, so that no side always runs after the same one or first. */
static void record_sides(const char *const progs[], const char *const names[], size_t n)
{
	char files[RUNS][RUNS][64];

	for (size_t p = 0; p < n; p++)
		record_run(progs[p], "warm-up.json");
	for (int r = 0; r < RUNS; r++)
		for (size_t k = 0; k < n; k++) {
			size_t p = ((size_t)r + k) % n;

			snprintf(files[p][r], sizeof(files[p][r]), "%s-%d.json", names[p], r);
			record_run(progs[p], files[p][r]);
		}
	for (size_t p = 0; p < n; p++) {
		char o[300], in[RUNS][300], side[64];
		const char *argv[6 + RUNS + 1] = { tool, "stats", "--json", "--merge", "-o", o };

		snprintf(side, sizeof(side), "%s.json", names[p]);
		path(o, sizeof(o), side);
		for (int r = 0; r < RUNS; r++) {
			path(in[r], sizeof(in[r]), files[p][r]);
			argv[6 + r] = in[r];
		}
		argv[6 + RUNS] = NULL;
		assert_status(run(argv, NULL, "merge.err"), 0, "merge.err");
	}
}

/* The line of the diff's table that starts with `name` (malloc'd). */
static char *row_of(const char *file, const char *name)
{
	char *t = text(file), *line = NULL;

	for (char *p = strtok(t, "\n"); p; p = strtok(NULL, "\n"))
		if (!strncmp(p, name, strlen(name)) && p[strlen(name)] == ' ') {
			line = strdup(p);
			break;
		}
	free(t);
	if (!line)
		fail_msg("no row %s in %s", name, file);
	return line;
}

/* The diff's exit status; its table is shown when it is not `want`. */
static int diff(const char *a, const char *b, const char *out, int want)
{
	char pa[300], pb[300];
	const char *argv[] = { tool, "diff", "--fail-on-regression", GATE, pa, pb, NULL };
	int status;

	path(pa, sizeof(pa), a);
	path(pb, sizeof(pb), b);
	status = run(argv, out, "diff.err");
	if (status != want) {
		char *t = text(out);

		fprintf(stderr, "diff %s %s exited %d, not %d:\n%s\n", a, b, status, want, t);
		free(t);
	}
	return status;
}

static void test_diff_flags_a_real_slowdown(void **state)
{
	static const char *const names[] = { "old", "new", "same" };
	const char *progs[] = { fast, slow_side, fast };
	char *row;

	(void)state;
	record_sides(progs, names, 3);
	assert_status(diff("old.json", "new.json", "slower.txt", 1), 1, "diff.err");
	assert_contains("slower.txt", "test: Mann-Whitney U, two-sided");
	row = row_of("slower.txt", "encode");
	if (!strstr(row, "REGRESSION"))
		fail_msg("encode is " SLOWDOWN "%% slower and not flagged: %s", row);
	free(row);
	row = row_of("slower.txt", "checksum");
	if (strstr(row, "REGRESSION"))
		fail_msg("checksum did not change and is flagged: %s", row);
	assert_non_null(strstr(row, " 6000  6000 "));
	free(row);
}

static void test_diff_same_build_not_flagged(void **state)
{
	char *t;

	(void)state;
	assert_status(diff("old.json", "same.json", "same.txt", 0), 0, "diff.err");
	assert_contains("same.txt", ": 0 regressions");
	t = text("same.txt");
	if (strstr(t, "REGRESSION"))
		fail_msg("two sets of runs of one build flagged: %s", t);
	free(t);
}

static void test_diff_exports(void **state)
{
	char pa[300], pb[300], prefix[300], cmd[1200];
	const char *gob[] = { tool, "diff", "--format", "gobench", "-o", prefix, pa, pb, NULL };
	const char *gbj[] = { tool, "diff", "--format", "gbench-json", "-o", prefix, pa, pb, NULL };
	const char *no_prefix[] = { tool, "diff", "--format", "gobench", pa, pb, NULL };
	const char *bad_pct[] = { tool, "diff", "--fail-on-regression", "five", pa, pb, NULL };
	const char *one[] = { tool, "diff", pa, NULL };

	(void)state;
	path(pa, sizeof(pa), "old.json");
	path(pb, sizeof(pb), "new.json");
	path(prefix, sizeof(prefix), "export");
	assert_status(run(gob, "gob.txt", "gob.err"), 0, "gob.err");
	assert_contains("export.old.txt", "BenchmarkSpan/encode\t6000\t");
	assert_contains("export.new.txt", "BenchmarkSpan/checksum\t6000\t");
	assert_status(run(gbj, "gbj.txt", "gbj.err"), 0, "gbj.err");
	assert_contains("export.old.json", "{\"name\":\"Span/encode\",");
	assert_status(run(no_prefix, NULL, "np.err"), 2, "np.err");
	assert_status(run(bad_pct, NULL, "pct.err"), 2, "pct.err");
	assert_status(run(one, NULL, "one.err"), 2, "one.err");
	if (!compare_py || !python || access(compare_py, R_OK)) {
		printf("(Google Benchmark's compare.py not found: RT_GBENCH_COMPARE)\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s %s benchmarks %s/export.old.json %s/export.new.json > %s/compare.txt 2>&1", python,
		 compare_py, dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	assert_contains("compare.txt", "Span/encode_median");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_flags_a_real_slowdown),
		cmocka_unit_test(test_diff_same_build_not_flagged),
		cmocka_unit_test(test_diff_exports),
	};

	fast = getenv("RT_BENCH_LOOP");
	compare_py = getenv("RT_GBENCH_COMPARE");
	python = getenv("RT_PYTHON");
	if (cli_run_init() < 0 || !fast) {
		fprintf(stderr, "RT_BENCH_LOOP must be set (meson test does)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
