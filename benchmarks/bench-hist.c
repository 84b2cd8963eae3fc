/* SPDX-License-Identifier: MIT */
/* Cost of the statistics histogram: ns per recorded value (against a same-run loop that only reads the
 * values), ns per set of percentiles, per merge, and the bytes per histogram. RT_BENCH_REPS sets the runs. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench-util.h"
#include "stats/hist.h"

#define VALUES (1 << 20)

static uint64_t rng = 42;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int main(void)
{
	const char *env = getenv("RT_BENCH_REPS");
	int reps = env ? atoi(env) : 15;
	uint64_t *v = malloc(VALUES * sizeof(*v));
	double *add = malloc((size_t)reps * sizeof(double)), *base = malloc((size_t)reps * sizeof(double)),
	       *pct = malloc((size_t)reps * sizeof(double)), *merge = malloc((size_t)reps * sizeof(double));
	struct rtc_hist *h = rtc_hist_create(), *m = rtc_hist_create();
	static const double q[] = { 0.5, 0.9, 0.99, 0.999 };
	uint64_t out[4], sink = 0;

	if (reps < 1 || !v || !add || !base || !pct || !merge || !h || !m)
		return 1;
	/* Log-uniform over 100 ns .. 100 ms: many buckets touched, as a mix of span names would. */
	for (size_t i = 0; i < VALUES; i++)
		v[i] = (uint64_t)exp(log(100.0) + (log(1e8) - log(100.0)) * (double)(rnd() >> 11) / 9007199254740992.0);
	for (int r = 0; r < reps; r++) {
		double t0 = bench_now_ns(), t1, t2, t3, t4;

		for (size_t i = 0; i < VALUES; i++)
			sink += v[i] >> 3;
		__asm__ volatile("" : : "r"(sink) : "memory");
		t1 = bench_now_ns();
		rtc_hist_reset(h);
		for (size_t i = 0; i < VALUES; i++)
			rtc_hist_add(h, v[i]);
		t2 = bench_now_ns();
		for (int k = 0; k < 1000; k++) {
			rtc_hist_percentiles(h, q, out, 4);
			sink += out[k & 3];
		}
		t3 = bench_now_ns();
		for (int k = 0; k < 1000; k++)
			rtc_hist_merge(m, h);
		t4 = bench_now_ns();
		base[r] = (t1 - t0) / VALUES;
		add[r] = (t2 - t1) / VALUES;
		pct[r] = (t3 - t2) / 1000;
		merge[r] = (t4 - t3) / 1000;
	}
	printf("histogram: %zu bytes each (%d buckets), %d runs of %d values, min/median/max:\n", rtc_hist_bytes(),
	       RTC_HIST_BUCKETS, reps, VALUES);
#define REPORT(label, a)                                                                                      \
	do {                                                                                                  \
		double lo = a[0];                                                                             \
		for (int i = 1; i < reps; i++)                                                                \
			lo = a[i] < lo ? a[i] : lo;                                                           \
		printf("  %-34s %8.2f %8.2f %8.2f\n", label, lo, bench_median(a, reps), bench_max(a, reps)); \
	} while (0)
	REPORT("ns per add", add);
	REPORT("ns per value, read-only baseline", base);
	REPORT("ns per 4 percentiles (p50..p99.9)", pct);
	REPORT("ns per merge", merge);
	fprintf(stderr, "%llu\n", (unsigned long long)(sink & 1));
	free(v);
	free(add);
	free(base);
	free(pct);
	free(merge);
	rtc_hist_destroy(h);
	rtc_hist_destroy(m);
	return 0;
}
