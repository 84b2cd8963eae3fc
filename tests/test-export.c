/* SPDX-License-Identifier: MIT */
/* Exports: Go benchmark lines checked against the format's rules (golang.org/design/14313) with awkward
 * span names, and Google Benchmark JSON read by our JSON reader and by Google Benchmark's compare.py. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stats/export.h"
#include "stats/json.h"

static struct rtc_export_row row(const char *name, size_t len, uint32_t pid, double scale)
{
	return (struct rtc_export_row){
		.name = name, .name_len = len, .pid = pid, .count = 1000,
		.total_ns = (uint64_t)(1000 * 100000 * scale), .self_ns = (uint64_t)(1000 * 60000 * scale),
		.mean_ns = 100000 * scale, .stddev_ns = 5000 * scale, .min_ns = (uint64_t)(80000 * scale),
		.p50_ns = (uint64_t)(99000 * scale), .p90_ns = (uint64_t)(107000 * scale),
		.p99_ns = (uint64_t)(150000 * scale), .p999_ns = (uint64_t)(290000 * scale),
		.max_ns = (uint64_t)(310000 * scale),
	};
}

#define ROW(s, pid) row(s, sizeof(s) - 1, pid, 1.0)

static char *capture(int (*fn)(FILE *, const struct rtc_export_context *, const struct rtc_export_row *, size_t),
		     const struct rtc_export_context *ctx, const struct rtc_export_row *rows, size_t n, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	assert_int_equal(fn(f, ctx, rows, n), 0);
	fclose(f);
	return buf;
}

static bool valid_utf8(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = rtc_utf8_len((const unsigned char *)s + i, n - i);

		if (!l)
			return false;
		i += l;
	}
	return true;
}

static bool go_space(const unsigned char *p) /* ASCII and the UTF-8 forms of Go's unicode.IsSpace */
{
	static const char *u[] = { "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
				   "\xe2\x81\x9f", "\xe3\x80\x80" };

	if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
		return true;
	if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0x80 && p[2] <= 0x8a)
		return true;
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (strncmp((const char *)p, u[i], strlen(u[i])) == 0)
			return true;
	return false;
}

/* Checks every line against the format; returns the result lines' names (up to max). */
static size_t check_go_format(char *text, char **names, size_t max)
{
	size_t n = 0;

	assert_true(valid_utf8(text, strlen(text)));
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *fields[64];
		size_t nf = 0;
		char *colon = strchr(line, ':');

		if (line[0] == '#' || line[0] == 0)
			continue;
		if (strncmp(line, "Benchmark", 9) != 0) { /* configuration line: "key: value", key lower case */
			assert_non_null(colon);
			assert_true(line[0] >= 'a' && line[0] <= 'z');
			for (char *k = line; k < colon; k++)
				assert_true(!go_space((unsigned char *)k) && !(*k >= 'A' && *k <= 'Z'));
			continue;
		}
		/* Result line: fields separated by white space, an even number, at least 4. */
		for (unsigned char *p = (unsigned char *)line; *p;) {
			while (*p && go_space(p))
				p++;
			if (!*p)
				break;
			assert_true(nf < 64);
			fields[nf++] = (char *)p;
			while (*p && !go_space(p))
				p++;
			if (*p)
				*p++ = 0;
		}
		assert_true(nf >= 4 && nf % 2 == 0);
		assert_true(fields[0][9] >= 'A' && fields[0][9] <= 'Z');
		{
			char *end;
			size_t len = strlen(fields[0]), i = len;

			strtoull(fields[1], &end, 10);
			assert_true(*end == 0 && end != fields[1]);
			for (size_t k = 2; k < nf; k += 2) {
				double v = strtod(fields[k], &end);

				assert_true(*end == 0 && end != fields[k] && isfinite(v));
				assert_true(strlen(fields[k + 1]) > 0);
			}
			/* No "-<digits>" at the end (benchstat would read GOMAXPROCS). */
			while (i > 0 && fields[0][i - 1] >= '0' && fields[0][i - 1] <= '9')
				i--;
			assert_false(i < len && i > 0 && fields[0][i - 1] == '-');
		}
		if (n < max)
			names[n] = strdup(fields[0]);
		n++;
	}
	return n;
}

static void test_gobench(void **state)
{
	struct rtc_export_row rows[] = {
		ROW("parse", 0),
		ROW("with space\tand tab", 0),
		ROW("a/b", 0),
		ROW("a_b", 0), /* the same name as "a/b" once sanitised: gets #01 */
		ROW("", 0),
		ROW("retry-3", 0),
		ROW("bad\xff\xfeutf8", 0),
		ROW("nbsp\xc2\xa0ideo\xe3\x80\x80x", 0),
		ROW("caf\xc3\xa9", 0),
		ROW("parse", 1234),
		ROW("parse", 99),
		ROW("idle", 0),
	};
	const char *want[] = {
		"BenchmarkSpan/parse", "BenchmarkSpan/with_space_and_tab", "BenchmarkSpan/a_b", "BenchmarkSpan/a_b#01",
		"BenchmarkSpan/_", "BenchmarkSpan/retry_3", "BenchmarkSpan/bad??utf8", "BenchmarkSpan/nbsp_ideo_x",
		"BenchmarkSpan/caf\xc3\xa9", "BenchmarkSpan/parse/pid=1234", "BenchmarkSpan/parse/proc=worker_2",
	};
	struct rtc_export_context ctx = { .date = "2024-05-01T10:00:00+0000", .host = "host\nname", .tool = "ringtrace 0.1.0",
					  .executable = "/bin/prog", .cpu = "Test CPU @ 1GHz" };
	size_t n = sizeof(rows) / sizeof(rows[0]), len;
	char *names[16], *text, *line;

	(void)state;
	rows[3].name = "a_b";
	rows[10].process = "worker-2";
	rows[11].count = 0;
	rows[0].has_cpu = true;
	rows[0].on_cpu_ns = 30000;
	rows[0].off_cpu_ns = 70000;
	text = capture(rtc_export_gobench, &ctx, rows, n, &len);
	line = strstr(text, "BenchmarkSpan/parse\t");
	assert_non_null(line);
	{
		const char *want_line = "BenchmarkSpan/parse\t1000\t100000.0 ns/op\t60000.0 self-ns/op\t80000 min-ns\t"
					"99000 p50-ns\t107000 p90-ns\t150000 p99-ns\t290000 p99.9-ns\t310000 max-ns\t"
					"30000.0 on-cpu-ns/op\t70000.0 off-cpu-ns/op\n";

		assert_true(strncmp(line, want_line, strlen(want_line)) == 0);
	}
	assert_non_null(strstr(text, "\ngoos: linux\ngoarch: "));
	assert_non_null(strstr(text, "\ncpu: Test CPU @ 1GHz\n"));
	assert_non_null(strstr(text, "# host: host name\n")); /* one line whatever the value */
	assert_non_null(strstr(text, "# BenchmarkSpan/idle: no complete spans\n"));
	assert_int_equal(check_go_format(text, names, 16), 11);
	for (size_t i = 0; i < 11; i++) {
		assert_string_equal(names[i], want[i]);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(names[i], names[k]);
	}
	for (size_t i = 0; i < 11; i++)
		free(names[i]);
	{
		char buf[8];

		assert_int_equal(rtc_export_go_name(&rows[0], buf, sizeof(buf)), 19);
		assert_string_equal(buf, "Benchma");
	}
	free(text);
}

/* Walks the Google Benchmark JSON with our reader: the structure compare.py relies on. */
static void test_gbench_json(void **state)
{
	struct rtc_export_row rows[] = { ROW("parse", 0), ROW("bad\xffname", 0), ROW("parse", 7), ROW("none", 0) };
	size_t len, runs = 0, aggregates = 0;
	char *text, key[64], str[256];
	struct rtc_json j;
	int r;

	(void)state;
	rows[3].count = 0;
	text = capture(rtc_export_gbench_json, NULL, rows, 4, &len);
	rtc_json_init(&j, text, len);
	assert_int_equal(rtc_json_object_begin(&j), 0);
	while ((r = rtc_json_object_next(&j, key, sizeof(key))) == 1) {
		if (strcmp(key, "benchmarks") != 0) {
			assert_int_equal(rtc_json_skip(&j), 0);
			continue;
		}
		assert_int_equal(rtc_json_array_begin(&j), 0);
		while (rtc_json_array_next(&j) == 1) {
			bool agg = false, has[4] = { 0 };

			assert_int_equal(rtc_json_object_begin(&j), 0);
			while (rtc_json_object_next(&j, key, sizeof(key)) == 1) {
				if (strcmp(key, "name") == 0) {
					assert_int_equal(rtc_json_string(&j, str, sizeof(str), NULL), 0);
					has[0] = true;
					if (runs + aggregates == 7)
						assert_string_equal(str, "Span/bad\xef\xbf\xbdname");
					if (runs + aggregates == 14)
						assert_string_equal(str, "Span/parse/pid:7");
					if (runs + aggregates == 15)
						assert_string_equal(str, "Span/parse/pid:7_mean");
				} else if (strcmp(key, "run_type") == 0) {
					assert_int_equal(rtc_json_string(&j, str, sizeof(str), NULL), 0);
					agg = strcmp(str, "aggregate") == 0;
				} else if (strcmp(key, "real_time") == 0 || strcmp(key, "cpu_time") == 0) {
					double v;

					assert_int_equal(rtc_json_double(&j, &v), 0);
					assert_true(v > 0);
					has[key[0] == 'r' ? 1 : 2] = true;
				} else if (strcmp(key, "time_unit") == 0) {
					assert_int_equal(rtc_json_string(&j, str, sizeof(str), NULL), 0);
					assert_string_equal(str, "ns");
					has[3] = true;
				} else {
					assert_int_equal(rtc_json_skip(&j), 0);
				}
			}
			assert_true(has[0] && has[1] && has[2] && has[3]);
			if (agg)
				aggregates++;
			else
				runs++;
		}
	}
	assert_int_equal(r, 0);
	assert_int_equal(rtc_json_finish(&j), 0);
	assert_int_equal(runs, 3);
	assert_int_equal(aggregates, 18);
	free(text);
}

static void write_file(const char *path, const struct rtc_export_row *rows, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(rtc_export_gbench_json(f, NULL, rows, n), 0);
	assert_int_equal(fclose(f), 0);
}

/* Google Benchmark's own tools/compare.py (Debian's libbenchmark-tools) reads two runs and shows the
 * 10% slowdown of every statistic. */
static void test_gbench_compare_py(void **state)
{
	const char *py = getenv("RT_PYTHON"), *compare = getenv("RT_GBENCH_COMPARE");
	char dir[] = "/tmp/rt-export-XXXXXX", a[64], b[64], cmd[512], line[1024];
	struct rtc_export_row ra[] = { ROW("parse", 0), ROW("with space", 0) };
	struct rtc_export_row rb[] = { row("parse", 5, 0, 1.1), row("with space", 10, 0, 1.1) };
	int seen = 0, slower = 0;
	FILE *p;

	(void)state;
	if (!py || !compare || access(compare, R_OK) != 0) {
		fprintf(stderr, "compare.py not found (RT_GBENCH_COMPARE=%s): run scripts/install-deps.sh\n",
			compare ? compare : "");
		fail();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.json", dir);
	snprintf(b, sizeof(b), "%s/b.json", dir);
	write_file(a, ra, 2);
	write_file(b, rb, 2);
	snprintf(cmd, sizeof(cmd), "%s %s --no-color benchmarks %s %s 2>&1", py, compare, a, b);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		printf("# %s", line);
		if (strncmp(line, "Span/", 5) != 0)
			continue;
		seen++;
		if (strstr(line, " +0.1000 ") || strstr(line, " +0.0999 ") || strstr(line, " +0.1001 "))
			slower++;
	}
	assert_int_equal(pclose(p), 0);
	unlink(a);
	unlink(b);
	rmdir(dir);
	/* 2 spans x (1 run + 6 aggregates), every one 10% slower. */
	assert_int_equal(seen, 14);
	assert_int_equal(slower, 14);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gobench),
		cmocka_unit_test(test_gbench_json),
		cmocka_unit_test(test_gbench_compare_py),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
