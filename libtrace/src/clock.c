/* SPDX-License-Identifier: MIT */
/* Clock selection and calibration samples for producer timestamps. */
#include "clock.h"

#include <stdio.h>
#include <string.h>

int rt__clock_tsc;

bool rt__clock_tsc_invariant(void)
{
	char line[4096];
	bool constant = false, nonstop = false;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		constant = strstr(line, " constant_tsc") != NULL;
		nonstop = strstr(line, " nonstop_tsc") != NULL;
		break;
	}
	fclose(f);
	return constant && nonstop;
}

int rt__clock_init(const char *forced)
{
	if (forced && strcmp(forced, "monotonic") == 0)
		rt__clock_tsc = 0;
	else
		rt__clock_tsc = rt__clock_tsc_invariant();
	return rt__clock_tsc ? RT_SHM_CLOCK_TSC : RT_SHM_CLOCK_MONOTONIC;
}

void rt__clock_sample(struct rt_shm_calib_point *out)
{
	uint64_t m0, m1, raw;

	/* The raw read sits between two monotonic reads; use their midpoint. */
	m0 = rt__mono_ns();
	raw = rt__now();
	m1 = rt__mono_ns();
	out->tsc = raw;
	out->mono_ns = m0 + (m1 - m0) / 2;
	out->real_ns = rt__real_ns();
}

double rt__clock_rate(const struct rt_shm_calib_point *a, const struct rt_shm_calib_point *b)
{
	if (!rt__clock_tsc || b->mono_ns <= a->mono_ns || b->tsc <= a->tsc)
		return 1.0;
	return (double)(b->tsc - a->tsc) / (double)(b->mono_ns - a->mono_ns);
}
