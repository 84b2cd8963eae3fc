/* SPDX-License-Identifier: MIT */
/* The host core's state beside each measured slice: how fast a burst of plain stores retires, and
 * the slices of a run split by it (docs/performance.md, "Two states of the host core"). */
#ifndef RT_BENCH_HOST_STATE_H
#define RT_BENCH_HOST_STATE_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "bench-util.h"

/*
 * On a shared x86 host (a VM whose vCPU's sibling hyperthread runs someone else) the core
 * alternates, over milliseconds to minutes, between retiring about two 8-byte stores per cycle
 * and about one; instructions issued next to a `rdtsc` then overlap its latency less, and the
 * more a record does around its timestamp the more it costs. A slice whose store time is more
 * than HOST_SLOW_FACTOR times the fastest of the whole run counts as run in the slow state.
 */
#define HOST_SLOW_FACTOR 1.25
#define HOST_STORES_PER_ITER 32

static uint64_t host_store_block[32] __attribute__((aligned(64)));

static inline double host_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define HOST_STORE8(o)                                                                             \
	__asm__ volatile("mov %1, " #o "+0(%0)\n\tmov %1, " #o "+8(%0)\n\tmov %1, " #o "+16(%0)\n\t" \
			 "mov %1, " #o "+24(%0)\n\tmov %1, " #o "+32(%0)\n\tmov %1, " #o "+40(%0)\n\t" \
			 "mov %1, " #o "+48(%0)\n\tmov %1, " #o "+56(%0)"                              \
			 :                                                                             \
			 : "r"(host_store_block), "r"(i)                                               \
			 : "memory")

/* Thread CPU ns per store over n iterations of 32 independent 8-byte stores to four cache lines:
 * in assembly, so that no compiler turns it into something else. */
__attribute__((noinline, unused)) static double host_store_ns(long n)
{
	double t0 = host_thread_cpu_ns();

	for (long i = 0; i < n; i++) {
		HOST_STORE8(0);
		HOST_STORE8(64);
		HOST_STORE8(128);
		HOST_STORE8(192);
	}
	return (host_thread_cpu_ns() - t0) / (double)(n * HOST_STORES_PER_ITER);
}

/* Slices of one configuration, split by the host state each ran in. */
struct host_split {
	double fast[4096], slow[4096];
	int nfast, nslow;
};

static inline void host_split_add(struct host_split *h, double threshold, const double *store, const double *ratio, int n)
{
	for (int k = 0; k < n; k++) {
		if (store[k] <= 0)
			continue;
		if (store[k] > threshold && h->nslow < 4096)
			h->slow[h->nslow++] = ratio[k];
		else if (store[k] <= threshold && h->nfast < 4096)
			h->fast[h->nfast++] = ratio[k];
	}
}

static inline void host_split_print(const char *label, struct host_split *h)
{
	printf("  %-32s fast: %4d slices, median %5.2f   slow: %4d slices, median %5.2f\n", label, h->nfast,
	       h->nfast ? bench_median(h->fast, h->nfast) : 0.0, h->nslow,
	       h->nslow ? bench_median(h->slow, h->nslow) : 0.0);
}

#endif
