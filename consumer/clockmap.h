/* SPDX-License-Identifier: MIT */
/* Maps a producer's raw timestamps (TSC ticks or CLOCK_MONOTONIC ns) to CLOCK_MONOTONIC
 * nanoseconds, piecewise linearly between calibration points. */
#ifndef RTC_CLOCKMAP_H
#define RTC_CLOCKMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/shm-format.h>

#define RTC_CLOCKMAP_MAX 256

struct rtc_clockmap {
	uint32_t clock; /* enum rt_shm_clock */
	size_t n, cap;
	/* Sorted by raw value, strictly increasing; allocated as points come (at most
	 * RTC_CLOCKMAP_MAX): a process costs memory for the points it has, not for the most it may. */
	struct rt_shm_calib_point *pts;
	double rate;    /* raw ticks per ns over the widest span (extrapolation) */
};

/* Initialise m (a new one, or one finished with rtc_clockmap_fini). */
void rtc_clockmap_init(struct rtc_clockmap *m, uint32_t clock);

/* Free its points (m may be zeroed, or initialised). */
void rtc_clockmap_fini(struct rtc_clockmap *m);

/* Add points (any order, duplicates ignored, implausible ones rejected; without memory, dropped). */
void rtc_clockmap_add(struct rtc_clockmap *m, const struct rt_shm_calib_point *pts, size_t n);

/* Add a point measured now by this process (same machine, so the same TSC) and copy it to *out
 * (may be NULL). False, and nothing added, for a clock that needs no calibration, or when no try
 * bracketed the TSC read within 20 us (the sampler was descheduled: try again later). */
bool rtc_clockmap_sample(struct rtc_clockmap *m, struct rt_shm_calib_point *out);

/* CLOCK_MONOTONIC ns of raw timestamp t. */
uint64_t rtc_clockmap_ns(const struct rtc_clockmap *m, uint64_t t);

/* Raw value this process's clock reads now (rdtsc or monotonic ns). */
uint64_t rtc_clockmap_raw_now(const struct rtc_clockmap *m);

#endif
