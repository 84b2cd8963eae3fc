/* SPDX-License-Identifier: MIT */
/* bench-span's report: the table of every configuration's repetitions, 2 threads against 1, the
 * cost around real work, the slices split by the host core's state, and the compared binary. */
#include <stdio.h>

#include "bench-host-state.h"
#include "bench-span.h"
#include "bench-util.h"

static double field(const struct sample *s, size_t off)
{
	return *(const double *)((const char *)s + off);
}

/* min, median, max of one field, or of the ratio of two fields, over the repetitions. */
static void stats(const struct series *v, size_t off, size_t div_off, double out[3])
{
	double x[MAX_REPS];

	for (int i = 0; i < v->n; i++)
		x[i] = field(&v->s[i], off) / (div_off == (size_t)-1 ? 1.0 : field(&v->s[i], div_off));
	out[1] = bench_median(x, v->n);
	out[0] = x[0];
	out[2] = x[v->n - 1];
}

#define F(name) offsetof(struct sample, name)
#define NONE ((size_t)-1)

void print_table(const char *title, struct series res[NSTATES][MAX_THREADS + 1], int max_threads)
{
	printf("\n%s\n", title);
	printf("%-32s %3s %21s %13s %9s %13s %8s %6s %9s %6s %5s\n", "", "", "wall ns/span", "x two rdtsc",
	       "cpu ns", "x two rdtsc", "two", "", "", "", "");
	printf("%-32s %3s %21s %13s %9s %13s %8s %6s %9s %6s %5s\n", "state", "thr", "min    med    max",
	       "med   max", "med", "med   max", "rdtsc", "bytes", "lost", "faults", "csw");
	for (size_t s = 0; s < NSTATES; s++) {
		for (int t = 1; t <= max_threads; t++) {
			const struct series *v = &res[s][t];
			double wall[3], ratio[3], cpu[3], cratio[3], base[3], bytes[3], lost[3], faults[3], csw[3];

			if (!v->n)
				continue;
			stats(v, F(wall), NONE, wall);
			stats(v, F(wall), F(rdtsc2), ratio);
			stats(v, F(cpu), NONE, cpu);
			stats(v, F(cpu), F(rdtsc2_cpu), cratio);
			stats(v, F(rdtsc2_cpu), NONE, base);
			stats(v, F(bytes), NONE, bytes);
			stats(v, F(lost), NONE, lost);
			stats(v, F(faults), NONE, faults);
			stats(v, F(csw), NONE, csw);
			printf("%-32s %3d %6.2f %6.2f %7.2f %6.2f %6.2f %9.2f %6.2f %6.2f %8.2f %6.2f %9.0f %6.0f %5.0f\n",
			       states[s].label, t, wall[0], wall[1], wall[2], ratio[1], ratio[2], cpu[1], cratio[1], cratio[2],
			       base[1], bytes[1], lost[2], faults[1], csw[1]);
		}
	}
	if (max_threads >= 2) {
		printf("2 threads vs 1, per-thread cost (medians):");
		for (size_t s = 0; s < NSTATES; s++) {
			double w1[3], w2[3], c1[3], c2[3], r1[3], r2[3];

			if (!res[s][1].n || !res[s][2].n)
				continue;
			stats(&res[s][1], F(wall), NONE, w1);
			stats(&res[s][2], F(wall), NONE, w2);
			stats(&res[s][1], F(cpu), NONE, c1);
			stats(&res[s][2], F(cpu), NONE, c2);
			stats(&res[s][1], F(cpu), F(rdtsc2_cpu), r1);
			stats(&res[s][2], F(cpu), F(rdtsc2_cpu), r2);
			printf("\n  %-32s wall %+6.1f%%  cpu %+6.1f%%  cpu x two rdtsc %+6.1f%%", states[s].label,
			       100.0 * (w2[1] / w1[1] - 1), 100.0 * (c2[1] / c1[1] - 1), 100.0 * (r2[1] / r1[1] - 1));
		}
		printf("\n");
	}
	printf("around real work, 1 thread: ns added per span (thread CPU time, medians; the bare loop in\n"
	       "slices alternating with the spans' in the same repetition)\n");
	for (size_t s = 0; s < NSTATES; s++) {
		const struct series *v = &res[s][1];
		double ws[3], wl[3], add_s[MAX_REPS], add_l[MAX_REPS];

		if (!v->n)
			continue;
		stats(v, F(work_small), NONE, ws);
		stats(v, F(work_large), NONE, wl);
		for (int i = 0; i < v->n; i++) {
			add_s[i] = v->s[i].span_small - v->s[i].work_small;
			add_l[i] = v->s[i].span_large - v->s[i].work_large;
		}
		printf("  %-32s FNV-1a %d B (%.1f ns): %+6.2f   FNV-1a %d B (%.1f ns): %+6.2f\n", states[s].label,
		       WORK_SMALL, ws[1], bench_median(add_s, v->n), WORK_LARGE, wl[1], bench_median(add_l, v->n));
	}
}

/* Every slice of configuration s at t threads (each worker's), split by the host state. */
static void split_slices(struct host_split *h, const struct series *v, int t, double threshold)
{
	h->nfast = h->nslow = 0;
	for (int i = 0; i < v->n; i++)
		for (int w = 0; w < t; w++)
			host_split_add(h, threshold, v->s[i].slice_store[w], v->s[i].slice_ratio[w], SLICES);
}

static double split_median(double *x, int n)
{
	return n ? bench_median(x, n) : 0.0;
}

/* Two threads against one within each host state: a run that spent more of its slices in the
 * slow state would otherwise look like a cost of the second thread. */
static void print_host_threads(const char *label, struct host_split *one, struct host_split *two)
{
	double f1 = split_median(one->fast, one->nfast), s1 = split_median(one->slow, one->nslow);
	double f2 = split_median(two->fast, two->nfast), s2 = split_median(two->slow, two->nslow);

	printf("  %-32s 2 threads: fast: %4d slices, median %5.2f", label, two->nfast, f2);
	if (one->nfast && two->nfast)
		printf(" (%+5.1f%%)", 100.0 * (f2 / f1 - 1));
	else
		printf("          ");
	printf("   slow: %4d slices, median %5.2f", two->nslow, s2);
	if (one->nslow && two->nslow)
		printf(" (%+5.1f%%)", 100.0 * (s2 / s1 - 1));
	printf("\n");
}

void print_host_state(struct series res[2][NSTATES][MAX_THREADS + 1], int nbin, const char *other, int max_threads)
{
	static struct host_split one, two;
	double fastest = 0;

	for (int b = 0; b < nbin; b++)
		for (size_t s = 0; s < NSTATES; s++)
			for (int t = 1; t <= max_threads; t++)
				for (int i = 0; i < res[b][s][t].n; i++)
					for (int w = 0; w < t; w++)
						for (int k = 0; k < SLICES; k++) {
							double x = res[b][s][t].s[i].slice_store[w][k];

							if (x > 0 && (fastest == 0 || x < fastest))
								fastest = x;
						}
	if (fastest == 0)
		return;
	printf("\nhost state (bench-host-state.h): a store took %.3f ns at the fastest; slices whose store burst\n"
	       "took over %.2fx that ran in the slow state. Tight loop, thread CPU time x two rdtsc per slice\n"
	       "(with 2 threads, each worker's slices; in parentheses, against 1 thread in the same state):\n",
	       fastest, HOST_SLOW_FACTOR);
	for (int b = 0; b < nbin; b++) {
		if (nbin > 1)
			printf(" %s\n", b ? other : "this binary");
		for (size_t s = 0; s < NSTATES; s++) {
			if (!res[b][s][1].n)
				continue;
			split_slices(&one, &res[b][s][1], 1, fastest * HOST_SLOW_FACTOR);
			host_split_print(states[s].label, &one);
			if (max_threads < 2 || !res[b][s][2].n)
				continue;
			split_slices(&two, &res[b][s][2], 2, fastest * HOST_SLOW_FACTOR);
			print_host_threads("", &one, &two);
		}
	}
}

void print_compare(struct series res[2][NSTATES][MAX_THREADS + 1], int max_threads)
{
	printf("\nthis binary / compared, per state (median over rounds of the per-round wall ratio):\n");
	for (size_t s = 0; s < NSTATES; s++)
		for (int t = 1; t <= max_threads; t++) {
			double x[MAX_REPS];
			int n = res[0][s][t].n < res[1][s][t].n ? res[0][s][t].n : res[1][s][t].n;

			if (!n)
				continue;
			for (int i = 0; i < n; i++)
				x[i] = res[0][s][t].s[i].wall / res[1][s][t].s[i].wall;
			printf("  %-32s %d thread(s): x%.3f\n", states[s].label, t, bench_median(x, n));
		}
}
