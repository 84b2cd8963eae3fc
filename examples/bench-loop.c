/* SPDX-License-Identifier: MIT */
/* A benchmark loop timed with spans, for docs/benchmarking.md: each iteration "encode"s (slowed down by
 * BENCH_SLOWDOWN_PERCENT, or --slowdown) and "checksum"s (never slowed), inside an "iteration" span. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringtrace/ringtrace.h>

/* The "second build" of the docs is this program compiled with -DBENCH_SLOWDOWN_PERCENT=10. */
#ifndef BENCH_SLOWDOWN_PERCENT
#define BENCH_SLOWDOWN_PERCENT 0
#endif

static volatile uint64_t sink;

/* CPU-bound work proportional to units (about a nanosecond each), with a dependency chain the
 * compiler cannot shorten. */
static void work(uint64_t units)
{
	uint64_t h = 1469598103934665603ull;

	for (uint64_t i = 0; i < units; i++)
		h = (h ^ i) * 1099511628211ull;
	sink += h;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

static unsigned long arg(const char *s, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end) {
		fprintf(stderr, "bench-loop: %s: not a number: %s\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long iterations = 2000, units = 20000, slowdown = BENCH_SLOWDOWN_PERCENT, pause_us = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
			iterations = arg(argv[++i], "--iterations");
		else if (!strcmp(argv[i], "--units") && i + 1 < argc)
			units = arg(argv[++i], "--units");
		else if (!strcmp(argv[i], "--slowdown") && i + 1 < argc)
			slowdown = arg(argv[++i], "--slowdown");
		else if (!strcmp(argv[i], "--pause-us") && i + 1 < argc)
			pause_us = arg(argv[++i], "--pause-us");
		else {
			fprintf(stderr, "usage: bench-loop [--iterations N] [--units N] [--slowdown PERCENT] [--pause-us N]\n");
			return 2;
		}
	}
	for (unsigned long i = 0; i < iterations; i++) {
		RT_SPAN("iteration");
		{
			RT_SPAN("encode");
			work(units * (100 + slowdown) / 100);
		}
		{
			RT_SPAN("checksum");
			work(units / 2);
		}
		if (pause_us)
			sleep_us((unsigned)pause_us);
	}
	return 0;
}
