/* SPDX-License-Identifier: MIT */
/* Producer timestamps: invariant TSC when the CPU has one (calibrated against CLOCK_MONOTONIC),
 * CLOCK_MONOTONIC nanoseconds otherwise or when RINGTRACE_CLOCK=monotonic; and the coarse clock. */
#ifndef RT_CLOCK_H
#define RT_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>

#include <ringtrace/shm-format.h>

/* Chosen once at library load; read-only afterwards. */
extern int rt__clock_tsc;
/* The vDSO's clock_gettime, called directly (glibc's wrapper adds about a nanosecond); glibc's
 * clock_gettime when there is no vDSO (valgrind, some sandboxes). Set at library load. */
extern int (*rt__clock_gettime_fast)(clockid_t, struct timespec *);

static inline uint64_t rt__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t rt__real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Not serialising: rdtsc may execute a few instructions early, which is below what a span can
 * resolve anyway, and an lfence would double its cost. */
static inline uint64_t rt__now(void)
{
	if (__builtin_expect(rt__clock_tsc, 1))
		return __rdtsc();
	return rt__mono_ns();
}

/* CLOCK_MONOTONIC_COARSE nanoseconds: the kernel's time at its last tick, read without a
 * hardware timer (about 3.5 ns through the vDSO on the machine of docs/performance.md, against
 * 9.5 ns for rdtsc). Same epoch as CLOCK_MONOTONIC; resolution rt__clock_coarse_res_ns(). */
static inline uint64_t rt__coarse_ns(void)
{
	struct timespec ts;

	rt__clock_gettime_fast(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Resolution of rt__coarse_ns() (clock_getres), in ns; 0 if unknown. */
uint32_t rt__clock_coarse_res_ns(void);

/* Decide the clock: `forced` is RINGTRACE_CLOCK's value or NULL. Returns enum rt_shm_clock. */
int rt__clock_init(const char *forced);

/* True when /proc/cpuinfo lists both constant_tsc and nonstop_tsc. */
bool rt__clock_tsc_invariant(void);

/* Take a calibration point: the clock's raw value bracketed by CLOCK_MONOTONIC reads, the
 * narrowest of a few tries. Returns the bracket's width in ns (UINT64_MAX: no usable try); a point
 * wider than RT_CLOCK_SAMPLE_MAX_NS is better left out where another can be taken later. */
#define RT_CLOCK_SAMPLE_TRIES 4
#define RT_CLOCK_SAMPLE_GOOD_NS 2000u
#define RT_CLOCK_SAMPLE_MAX_NS 20000u
uint64_t rt__clock_sample(struct rt_shm_calib_point *out);

/* Raw ticks per nanosecond, from points a and b (1.0 for the monotonic clock). */
double rt__clock_rate(const struct rt_shm_calib_point *a, const struct rt_shm_calib_point *b);

#endif
