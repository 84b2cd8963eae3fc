/* SPDX-License-Identifier: MIT */
/* A traced program for the CPU-statistics test: spans that sleep (off CPU) and spans that burn a known
 * amount of thread CPU time (on CPU), sampled through RINGTRACE_CPU_STATS or rt_span_begin_cpu(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringtrace/ringtrace.h>

static volatile uint64_t sink;

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Burn ms of this thread's CPU time (however long that takes on a loaded machine). */
static void spin(unsigned ms)
{
	uint64_t until = thread_cpu_ns() + (uint64_t)ms * 1000000u;

	while (thread_cpu_ns() < until)
		for (int i = 0; i < 1000; i++)
			sink = sink * 31 + (uint64_t)i;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

int main(int argc, char **argv)
{
	unsigned spans = 5, ms = 20;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--spans"))
			spans = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--ms"))
			ms = (unsigned)atoi(argv[i + 1]);
	}
	rt_thread_register("main");
	for (unsigned i = 0; i < spans; i++) {
		rt_span_begin("sleep");
		sleep_ms(ms);
		rt_span_end();
		rt_span_begin("spin");
		spin(ms);
		rt_span_end();
		/* Sampled even when the process does not sample every span; a plain span nested in it. */
		rt_span_begin_cpu("spin.cpu");
		spin(ms);
		rt_span_begin("plain");
		rt_span_end();
		rt_span_end();
	}
	return 0;
}
