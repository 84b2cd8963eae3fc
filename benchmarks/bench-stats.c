/* SPDX-License-Identifier: MIT */
/* Cost of the statistics model per rebuilt span event (what the statistics sink adds to the consumer), for
 * a stream of 64 span names over 8 threads, nested 3 deep. RT_BENCH_REPS sets the runs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"
#include "stats/stats.h"

#define EVENTS (1 << 20)
#define NAMES 64

static uint64_t rng = 7;

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
	int reps = env ? atoi(env) : 11;
	struct rtc_out *ev = calloc(EVENTS, sizeof(*ev));
	static char names[NAMES][32];
	double *per = malloc((size_t)(reps > 0 ? reps : 1) * sizeof(double));
	double *per_task = malloc((size_t)(reps > 0 ? reps : 1) * sizeof(double));

	if (reps < 1 || !ev || !per || !per_task)
		return 1;
	for (int i = 0; i < NAMES; i++)
		snprintf(names[i], sizeof(names[i]), "module%02d::function_%d", i, i * 7);
	/* Threads take turns in bursts of 16 events; each burst is a small tree (two children, a parent). */
	for (size_t i = 0; i < EVENTS; i++) {
		uint32_t tid = (uint32_t)((i / 16) % 8), depth = (uint32_t)(i % 3 == 2 ? 0 : 1);
		int name = (int)((tid * 8 + (i % 16) / 2 + (rnd() % 4 == 0 ? rnd() % NAMES : 0)) % NAMES);
		uint64_t dur = 500 + rnd() % 200000;

		ev[i] = (struct rtc_out){ .kind = RTC_OUT_SPAN, .pid = 4242, .tid = 100 + tid, .ts = i * 1000,
					  .dur = dur, .self_ns = dur / 2, .depth = depth, .name = names[name],
					  .name_len = (uint32_t)strlen(names[name]), .span_seq = i };
	}
	for (int r = 0; r < reps; r++) {
		struct rtc_stats *s = rtc_stats_create(NULL);
		double t0, t1, t2;

		t0 = bench_now_ns();
		for (size_t i = 0; i < EVENTS; i++)
			rtc_stats_event(s, &ev[i]);
		t1 = bench_now_ns();
		/* The same stream with every span inside one of 1000 live tasks. */
		for (uint64_t k = 1; k <= 1000; k++)
			rtc_stats_event(s, &(struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = 4242, .tid = 100, .id = k,
							      .name = "request", .name_len = 7 });
		for (size_t i = 0; i < EVENTS; i++) {
			ev[i].task = 1 + i % 1000;
			rtc_stats_event(s, &ev[i]);
			ev[i].task = 0;
		}
		t2 = bench_now_ns();
		per[r] = (t1 - t0) / EVENTS;
		per_task[r] = (t2 - t1) / EVENTS;
		rtc_stats_destroy(s);
	}
	{
		double lo = per[0], lo2 = per_task[0];

		for (int i = 1; i < reps; i++) {
			lo = per[i] < lo ? per[i] : lo;
			lo2 = per_task[i] < lo2 ? per_task[i] : lo2;
		}
		printf("statistics model, %d runs of %d span events (64 names, 8 threads), min/median/max:\n", reps,
		       EVENTS);
		printf("  ns per span event                 %8.2f %8.2f %8.2f\n", lo, bench_median(per, reps),
		       bench_max(per, reps));
		printf("  ns per span event inside a task   %8.2f %8.2f %8.2f\n", lo2, bench_median(per_task, reps),
		       bench_max(per_task, reps));
	}
	free(ev);
	free(per);
	free(per_task);
	return 0;
}
