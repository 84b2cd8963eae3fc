/* SPDX-License-Identifier: MIT */
/* The log-linear histogram: its bucket layout, percentiles against exact sorted percentiles on known
 * distributions, merge/subtract for sliding windows, and its JSON form read back (and refused when bad). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats/hist.h"
#include "stats/json.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unif(void) /* (0, 1) */
{
	return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
	return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double worst_error; /* largest relative percentile error seen, over all streams */

/* Every percentile of interest within 1/128 of the exact nearest-rank value; exact stats. */
static void check_stream(const char *what, uint64_t *v, size_t n)
{
	static const double qs[] = { 0, 0.0001, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1 };
	struct rtc_hist *h = rtc_hist_create();
	uint64_t out[sizeof(qs) / sizeof(qs[0])];
	long double sum = 0, sumsq = 0;
	double worst = 0;

	assert_non_null(h);
	for (size_t i = 0; i < n; i++) {
		rtc_hist_add(h, v[i]);
		sum += v[i];
		sumsq += (long double)v[i] * v[i];
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	assert_int_equal(rtc_hist_count(h), n);
	assert_int_equal(rtc_hist_min(h), v[0]);
	assert_int_equal(rtc_hist_max(h), v[n - 1]);
	assert_true(fabsl((long double)rtc_hist_sum(h) - sum) < 0.5L);
	assert_true(fabs(rtc_hist_mean(h) - (double)(sum / n)) <= 1e-9 * (double)(sum / n) + 1e-9);
	if (n > 1) {
		long double var = (sumsq - sum * sum / n) / (n - 1);
		double sd = var > 0 ? (double)sqrtl(var) : 0;

		assert_true(fabs(rtc_hist_stddev(h) - sd) <= 1e-6 * sd + 1e-6);
	}
	rtc_hist_percentiles(h, qs, out, sizeof(qs) / sizeof(qs[0]));
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		double r = ceil(qs[k] * (double)n);
		size_t rank = r < 1 ? 1 : r > (double)n ? n : (size_t)r;
		uint64_t exact = v[rank - 1];
		double err = exact ? fabs((double)out[k] - (double)exact) / (double)exact : (double)out[k];

		if (err > worst)
			worst = err;
		if (err > RTC_HIST_MAX_REL_ERROR) {
			fprintf(stderr, "%s: q=%g exact %llu got %llu (%.3f%%)\n", what, qs[k],
				(unsigned long long)exact, (unsigned long long)out[k], err * 100);
			fail();
		}
		assert_int_equal(out[k], rtc_hist_percentile(h, qs[k]));
	}
	assert_int_equal(out[0], v[0]);
	assert_int_equal(out[sizeof(qs) / sizeof(qs[0]) - 1], v[n - 1]);
	if (worst > worst_error)
		worst_error = worst;
	printf("# %-12s n=%zu worst percentile error %.4f%%\n", what, n, worst * 100);
	rtc_hist_destroy(h);
}

static void test_layout(void **state)
{
	(void)state;
	assert_int_equal(RTC_HIST_BUCKETS, 2368);
	assert_int_equal(rtc_hist_bytes(), 19008);
	for (uint32_t i = 0; i < RTC_HIST_BUCKETS; i++) {
		uint64_t lo = rtc_hist_bucket_low(i), hi = rtc_hist_bucket_high(i), v = rtc_hist_bucket_value(i);

		assert_int_equal(rtc_hist_index(lo), i);
		assert_int_equal(rtc_hist_index(hi), i);
		assert_true(lo <= v && v <= hi);
		/* The formula docs/statistics.md gives readers of saved histograms. */
		if (i >= 128) {
			assert_int_equal(lo, (uint64_t)(64 + i % 64) << (i / 64 - 1));
			if (i + 1 < RTC_HIST_BUCKETS)
				assert_int_equal(hi - lo + 1, 1ull << (i / 64 - 1));
		}
		if (i + 1 < RTC_HIST_BUCKETS) {
			assert_int_equal(rtc_hist_bucket_low(i + 1), hi + 1);
			/* Worst case of a bucket: its ends. */
			if (lo)
				assert_true((double)(v - lo) / (double)lo <= RTC_HIST_MAX_REL_ERROR);
			if (hi)
				assert_true((double)(hi - v) / (double)hi <= RTC_HIST_MAX_REL_ERROR);
		}
	}
	assert_int_equal(rtc_hist_bucket_low(0), 0);
	assert_int_equal(rtc_hist_index(127), 127);
	assert_int_equal(rtc_hist_index(128), 128);
	assert_int_equal(rtc_hist_index(RTC_HIST_RANGE_NS - 1), RTC_HIST_BUCKETS - 1);
	assert_int_equal(rtc_hist_index(RTC_HIST_RANGE_NS), RTC_HIST_BUCKETS - 1);
	assert_int_equal(rtc_hist_index(UINT64_MAX), RTC_HIST_BUCKETS - 1);
	assert_int_equal(rtc_hist_bucket_high(RTC_HIST_BUCKETS - 1), UINT64_MAX);
	/* One hour is inside the range with its own bucket. */
	assert_true(3600ull * 1000000000ull < RTC_HIST_RANGE_NS);
}

#define N 200000

static void test_uniform(void **state)
{
	uint64_t *v = malloc(N * sizeof(*v));

	(void)state;
	rng_state = 1;
	for (size_t i = 0; i < N; i++)
		v[i] = 1000 + rnd() % 10000000; /* 1 us .. 10 ms */
	check_stream("uniform", v, N);
	for (size_t i = 0; i < N; i++)
		v[i] = rnd() % 300; /* the exact region and just above */
	check_stream("uniform-low", v, N);
	free(v);
}

static void test_bimodal(void **state)
{
	uint64_t *v = malloc(N * sizeof(*v));

	(void)state;
	rng_state = 2;
	for (size_t i = 0; i < N; i++) {
		double x = (rnd() % 10 < 7) ? 50000 + 2000 * normal() : 5000000 + 300000 * normal();

		v[i] = x < 1 ? 1 : (uint64_t)x;
	}
	check_stream("bimodal", v, N);
	free(v);
}

static void test_pareto(void **state)
{
	uint64_t *v = malloc(N * sizeof(*v));

	(void)state;
	rng_state = 3;
	for (size_t i = 0; i < N; i++) {
		double x = 1000.0 / pow(unif(), 1 / 1.1); /* xm = 1 us, alpha = 1.1: heavy tail */

		v[i] = x > 3.6e12 ? 3600000000000ull : (uint64_t)x;
	}
	check_stream("pareto", v, N);
	for (size_t i = 0; i < N; i++)
		v[i] = (uint64_t)exp(7 + 2.5 * normal()); /* lognormal over many decades */
	check_stream("lognormal", v, N);
	free(v);
}

static void test_constant_and_edges(void **state)
{
	static const uint64_t edges[] = { 0, 1, 2, 63, 64, 127, 128, 129, 255, 256, 1000, 999999, 1000000,
					  (1ull << 41) - 1, 1ull << 41, RTC_HIST_RANGE_NS - 1,
					  3600000000000ull };
	uint64_t *v = malloc(N * sizeof(*v));

	(void)state;
	for (size_t i = 0; i < 1000; i++)
		v[i] = 1234567;
	check_stream("constant", v, 1000);
	v[0] = 1;
	check_stream("single", v, 1);
	for (size_t i = 0; i < 17 * 50; i++)
		v[i] = edges[i % 17];
	check_stream("edges", v, 17 * 50);
	for (size_t i = 0; i < 1000; i++)
		v[i] = i < 500 ? 1 : 3600000000000ull; /* 1 ns and 1 h */
	check_stream("1ns-1h", v, 1000);
	free(v);
}

static void test_beyond_range(void **state)
{
	struct rtc_hist *h = rtc_hist_create();

	(void)state;
	rtc_hist_add(h, UINT64_MAX);
	rtc_hist_add(h, UINT64_MAX);
	assert_int_equal(rtc_hist_count(h), 2);
	assert_int_equal(rtc_hist_sum(h), UINT64_MAX); /* saturated, not wrapped */
	assert_int_equal(rtc_hist_percentile(h, 0.5), UINT64_MAX);
	rtc_hist_reset(h);
	rtc_hist_add_n(h, 1000, 5);
	rtc_hist_add_n(h, 3000, 0);
	assert_int_equal(rtc_hist_count(h), 5);
	assert_int_equal(rtc_hist_sum(h), 5000);
	assert_int_equal(rtc_hist_max(h), 1000);
	assert_true(rtc_hist_stddev(h) == 0);
	rtc_hist_reset(h);
	assert_int_equal(rtc_hist_percentile(h, 0.5), 0);
	assert_true(rtc_hist_mean(h) == 0);
	rtc_hist_destroy(h);
}

static void assert_same(const struct rtc_hist *a, const struct rtc_hist *b)
{
	assert_int_equal(rtc_hist_count(a), rtc_hist_count(b));
	assert_int_equal(rtc_hist_min(a), rtc_hist_min(b));
	assert_int_equal(rtc_hist_max(a), rtc_hist_max(b));
	assert_int_equal(rtc_hist_sum(a), rtc_hist_sum(b));
	assert_true(rtc_hist_stddev(a) == rtc_hist_stddev(b));
	for (uint32_t i = 0; i < RTC_HIST_BUCKETS; i++)
		assert_int_equal(rtc_hist_bucket_count(a, i), rtc_hist_bucket_count(b, i));
}

static void test_merge_subtract(void **state)
{
	struct rtc_hist *a = rtc_hist_create(), *b = rtc_hist_create(), *u = rtc_hist_create(),
			*m = rtc_hist_create();

	(void)state;
	rng_state = 4;
	for (int i = 0; i < 10000; i++) {
		uint64_t x = 100 + rnd() % 100000, y = 5000 + rnd() % 10000000;

		rtc_hist_add(a, x);
		rtc_hist_add(b, y);
		rtc_hist_add(u, x);
		rtc_hist_add(u, y);
	}
	rtc_hist_copy(m, a);
	rtc_hist_merge(m, b);
	assert_same(m, u);
	/* (a + b) - b = a, exactly in counts and sums; min stays exact (a has the smaller values). */
	assert_int_equal(rtc_hist_subtract(m, b), 0);
	assert_int_equal(rtc_hist_count(m), rtc_hist_count(a));
	assert_int_equal(rtc_hist_sum(m), rtc_hist_sum(a));
	assert_int_equal(rtc_hist_min(m), rtc_hist_min(a));
	for (uint32_t i = 0; i < RTC_HIST_BUCKETS; i++)
		assert_int_equal(rtc_hist_bucket_count(m, i), rtc_hist_bucket_count(a, i));
	/* The max went away with b: it is now within a's top bucket. */
	assert_int_equal(rtc_hist_index(rtc_hist_max(m)), rtc_hist_index(rtc_hist_max(a)));
	assert_true(rtc_hist_max(m) >= rtc_hist_max(a));
	/* (a + b) - a = b. */
	rtc_hist_copy(m, u);
	assert_int_equal(rtc_hist_subtract(m, a), 0);
	assert_int_equal(rtc_hist_max(m), rtc_hist_max(b));
	assert_int_equal(rtc_hist_index(rtc_hist_min(m)), rtc_hist_index(rtc_hist_min(b)));
	/* Not a part: refused, unchanged. */
	rtc_hist_copy(m, a);
	assert_int_equal(rtc_hist_subtract(m, b), -EINVAL);
	assert_same(m, a);
	assert_int_equal(rtc_hist_subtract(m, m), -EINVAL);
	/* Everything away: empty. */
	assert_int_equal(rtc_hist_subtract(m, a), 0);
	assert_int_equal(rtc_hist_count(m), 0);
	assert_int_equal(rtc_hist_min(m), 0);
	rtc_hist_destroy(a);
	rtc_hist_destroy(b);
	rtc_hist_destroy(u);
	rtc_hist_destroy(m);
}

/* The last 5 seconds as a running window (merge the new second, subtract the one leaving) equals the
 * same 5 seconds merged afresh, and its percentiles keep the error bound. */
static void test_sliding_window(void **state)
{
	enum { SECONDS = 30, WINDOW = 5, PER = 3000 };
	struct rtc_hist *sec[SECONDS], *win = rtc_hist_create(), *fresh = rtc_hist_create();
	uint64_t vals[WINDOW * PER];

	(void)state;
	rng_state = 5;
	for (int s = 0; s < SECONDS; s++) {
		sec[s] = rtc_hist_create();
		for (int i = 0; i < PER; i++)
			rtc_hist_add(sec[s], (uint64_t)(1000 * (s + 1)) + rnd() % (100000 * (uint64_t)(s % 7 + 1)));
		rtc_hist_merge(win, sec[s]);
		if (s >= WINDOW)
			assert_int_equal(rtc_hist_subtract(win, sec[s - WINDOW]), 0);
		rtc_hist_reset(fresh);
		for (int k = s < WINDOW - 1 ? 0 : s - WINDOW + 1; k <= s; k++)
			rtc_hist_merge(fresh, sec[k]);
		assert_int_equal(rtc_hist_count(win), rtc_hist_count(fresh));
		assert_int_equal(rtc_hist_sum(win), rtc_hist_sum(fresh));
		for (uint32_t i = 0; i < RTC_HIST_BUCKETS; i++)
			assert_int_equal(rtc_hist_bucket_count(win, i), rtc_hist_bucket_count(fresh, i));
		assert_true(rtc_hist_min(win) <= rtc_hist_percentile(fresh, 0.0001));
		for (double q = 0.05; q < 1; q += 0.05) {
			uint64_t a = rtc_hist_percentile(win, q), b = rtc_hist_percentile(fresh, q);

			assert_int_equal(rtc_hist_index(a), rtc_hist_index(b));
		}
	}
	(void)vals;
	for (int s = 0; s < SECONDS; s++)
		rtc_hist_destroy(sec[s]);
	rtc_hist_destroy(win);
	rtc_hist_destroy(fresh);
}

static void test_iterate(void **state)
{
	struct rtc_hist *h = rtc_hist_create();
	struct rtc_hist_iter it = { 0 };
	struct rtc_hist_bucket b;
	uint64_t total = 0, buckets = 0;
	int64_t prev = -1;

	(void)state;
	assert_false(rtc_hist_next(h, &it, &b));
	it.next = 0;
	for (uint64_t x = 1; x < 100000000; x = x * 3 + 1)
		rtc_hist_add_n(h, x, x % 5 + 1);
	while (rtc_hist_next(h, &it, &b)) {
		assert_true((int64_t)b.index > prev);
		assert_true(b.count > 0);
		assert_int_equal(b.low, rtc_hist_bucket_low(b.index));
		prev = b.index;
		total += b.count;
		buckets++;
	}
	assert_int_equal(total, rtc_hist_count(h));
	assert_int_equal(buckets, 17); /* 1, 4, 13, ..., 64570081: 17 distinct values, far enough apart */
	rtc_hist_destroy(h);
}

static char *to_json(const struct rtc_hist *h, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	assert_int_equal(rtc_hist_write_json(h, f), 0);
	fclose(f);
	return buf;
}

static void test_json_roundtrip(void **state)
{
	struct rtc_hist *h = rtc_hist_create(), *r = rtc_hist_create();
	size_t len;
	char *js;

	(void)state;
	js = to_json(h, &len);
	assert_string_equal(js, "{\"layout\":\"log2-64\",\"count\":0,\"min\":0,\"max\":0,\"sum\":0,\"sumsq\":0,"
				"\"buckets\":[]}");
	assert_int_equal(rtc_hist_parse_json(r, js, len), 0);
	assert_same(r, h);
	free(js);
	rng_state = 6;
	for (int i = 0; i < 5000; i++)
		rtc_hist_add(h, (uint64_t)exp(3 + 20 * unif()));
	rtc_hist_add(h, 3600000000000ull);
	js = to_json(h, &len);
	assert_int_equal(rtc_hist_parse_json(r, js, len), 0);
	assert_same(r, h);
	assert_int_equal(rtc_hist_percentile(r, 0.99), rtc_hist_percentile(h, 0.99));
	printf("# json: %zu bytes for %llu values\n", len, (unsigned long long)rtc_hist_count(h));
	/* Every truncation is refused. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(rtc_hist_parse_json(r, js, cut), -EPROTO);
	/* Random byte changes: refused, or read back as a consistent histogram. */
	for (int i = 0; i < 3000; i++) {
		char *m = malloc(len);
		int rc;

		memcpy(m, js, len);
		for (int k = 0; k < 1 + i % 3; k++)
			m[rnd() % len] = (char)(i % 2 ? "0123456789,[]{}\":-e."[rnd() % 20] : (char)rnd());
		rc = rtc_hist_parse_json(r, m, len);
		assert_true(rc == 0 || rc == -EPROTO);
		if (rc == 0) {
			struct rtc_hist_iter it = { 0 };
			struct rtc_hist_bucket b;
			uint64_t total = 0;

			while (rtc_hist_next(r, &it, &b))
				total += b.count;
			assert_int_equal(total, rtc_hist_count(r));
			assert_true(rtc_hist_min(r) <= rtc_hist_percentile(r, 0.5));
			assert_true(rtc_hist_percentile(r, 0.5) <= rtc_hist_max(r));
		} else {
			assert_int_equal(rtc_hist_count(r), 0);
		}
		free(m);
	}
	free(js);
	rtc_hist_destroy(h);
	rtc_hist_destroy(r);
}

static void test_json_refused(void **state)
{
	static const char *bad[] = {
		"",
		"[]",
		"{}",
		/* wrong layout */
		"{\"layout\":\"log10-5\",\"count\":1,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5,1]}",
		/* index out of range */
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[2368,1]}",
		/* counts do not add up */
		"{\"layout\":\"log2-64\",\"count\":2,\"min\":5,\"max\":5,\"sum\":10,\"sumsq\":50,\"buckets\":[5,1]}",
		/* indices not ascending */
		"{\"layout\":\"log2-64\",\"count\":2,\"min\":5,\"max\":6,\"sum\":11,\"sumsq\":61,\"buckets\":[6,1,5,1]}",
		/* zero count bucket */
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5,1,6,0]}",
		/* min not in the first bucket */
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":4,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5,1]}",
		/* impossible sum */
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":5,\"max\":5,\"sum\":9,\"sumsq\":81,\"buckets\":[5,1]}",
		/* impossible sum of squares */
		"{\"layout\":\"log2-64\",\"count\":2,\"min\":5,\"max\":6,\"sum\":11,\"sumsq\":1000,\"buckets\":[5,1,6,1]}",
		/* negative, fractional, too large */
		"{\"layout\":\"log2-64\",\"count\":-1,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5,1]}",
		"{\"layout\":\"log2-64\",\"count\":1.0,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5,1]}",
		"{\"layout\":\"log2-64\",\"count\":18446744073709551616,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,"
		"\"buckets\":[5,1]}",
		/* missing field, duplicated buckets, trailing garbage, odd bucket array */
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":5,\"max\":5,\"sum\":5,\"buckets\":[5,1]}",
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5,1],"
		"\"buckets\":[5,1]}",
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5,1]} x",
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5]}",
		/* empty with values */
		"{\"layout\":\"log2-64\",\"count\":0,\"min\":5,\"max\":5,\"sum\":0,\"sumsq\":0,\"buckets\":[]}",
		/* an unknown key nested too deep, bad escape, invalid UTF-8, control character */
		"{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],\"layout\":\"log2-64\","
		"\"count\":0,\"min\":0,\"max\":0,\"sum\":0,\"sumsq\":0,\"buckets\":[]}",
		"{\"x\":\"\\q\",\"layout\":\"log2-64\",\"count\":0,\"min\":0,\"max\":0,\"sum\":0,\"sumsq\":0,\"buckets\":[]}",
		"{\"x\":\"\xc3\x28\",\"layout\":\"log2-64\",\"count\":0,\"min\":0,\"max\":0,\"sum\":0,\"sumsq\":0,"
		"\"buckets\":[]}",
		"{\"x\":\"\x01\",\"layout\":\"log2-64\",\"count\":0,\"min\":0,\"max\":0,\"sum\":0,\"sumsq\":0,\"buckets\":[]}",
	};
	static const char *good[] = {
		"{\"layout\":\"log2-64\",\"count\":1,\"min\":5,\"max\":5,\"sum\":5,\"sumsq\":25,\"buckets\":[5,1]}",
		/* unknown keys of every type are skipped, keys in any order, white space anywhere */
		" { \"buckets\" : [ 5 , 1 , 6 , 2 ] , \"x\" : {\"y\":[1,2.5e3,-3,true,false,null,\"\\u00e9\\ud83d\\ude00\"]},"
		"\"layout\":\"log2-64\",\"count\":3,\"min\":5,\"max\":6,\"sum\":17,\"sumsq\":97} ",
	};
	struct rtc_hist *h = rtc_hist_create();

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = rtc_hist_parse_json(h, bad[i], strlen(bad[i]));

		if (rc != -EPROTO)
			fprintf(stderr, "accepted bad input %zu: %s\n", i, bad[i]);
		assert_int_equal(rc, -EPROTO);
		assert_int_equal(rtc_hist_count(h), 0);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(rtc_hist_parse_json(h, good[i], strlen(good[i])), 0);
	assert_int_equal(rtc_hist_count(h), 3);
	assert_int_equal(rtc_hist_percentile(h, 0.5), 6);
	rtc_hist_destroy(h);
}

static void test_json_strings(void **state)
{
	char *buf = NULL, out[64];
	size_t len, n;
	FILE *f = open_memstream(&buf, &len);
	struct rtc_json j;

	(void)state;
	rtc_json_put_str(f, "a\"b\\c\n\x01\xff\xc3\xa9z", 11, 0);
	rtc_json_put_str(f, "abcdef", 6, 3);
	fclose(f);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\u000a\\u0001\xef\xbf\xbd\xc3\xa9z\"\"abc\"");
	rtc_json_init(&j, buf, len);
	assert_int_equal(rtc_json_string(&j, out, sizeof(out), &n), 0);
	assert_int_equal(n, 13);
	assert_memory_equal(out, "a\"b\\c\n\x01\xef\xbf\xbd\xc3\xa9z", 13);
	assert_int_equal(rtc_json_string(&j, out, 3, &n), -EPROTO); /* does not fit */
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_pareto),
		cmocka_unit_test(test_constant_and_edges),
		cmocka_unit_test(test_beyond_range),
		cmocka_unit_test(test_merge_subtract),
		cmocka_unit_test(test_sliding_window),
		cmocka_unit_test(test_iterate),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_refused),
		cmocka_unit_test(test_json_strings),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	printf("# worst percentile error over all streams: %.4f%% (bound %.4f%%)\n", worst_error * 100,
	       RTC_HIST_MAX_REL_ERROR * 100);
	return rc;
}
