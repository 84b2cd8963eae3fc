/* SPDX-License-Identifier: MIT */
/* Piecewise-linear raw-clock to CLOCK_MONOTONIC mapping from calibration points. */
#include "clockmap.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rtc_clockmap_init(struct rtc_clockmap *m, uint32_t clock)
{
	memset(m, 0, sizeof(*m));
	m->clock = clock;
	m->rate = 1.0;
}

void rtc_clockmap_fini(struct rtc_clockmap *m)
{
	free(m->pts);
	memset(m, 0, sizeof(*m));
}

static void update_rate(struct rtc_clockmap *m)
{
	if (m->n >= 2 && m->pts[m->n - 1].mono_ns > m->pts[0].mono_ns)
		m->rate = (double)(m->pts[m->n - 1].tsc - m->pts[0].tsc) /
			  (double)(m->pts[m->n - 1].mono_ns - m->pts[0].mono_ns);
	if (!(m->rate > 0.01 && m->rate < 100.0))
		m->rate = 1.0;
}

static void insert(struct rtc_clockmap *m, const struct rt_shm_calib_point *p)
{
	size_t i;

	if (p->mono_ns == 0 || (m->clock == RT_SHM_CLOCK_MONOTONIC && p->tsc != p->mono_ns))
		return;
	for (i = 0; i < m->n && m->pts[i].tsc < p->tsc; i++)
		;
	if (i < m->n && m->pts[i].tsc == p->tsc)
		return;
	/* Both clocks only go forward: a point out of order with its neighbours is bad input. */
	if ((i > 0 && m->pts[i - 1].mono_ns >= p->mono_ns) || (i < m->n && m->pts[i].mono_ns <= p->mono_ns))
		return;
	if (m->n == m->cap && m->cap < RTC_CLOCKMAP_MAX) {
		size_t cap = m->cap ? 2 * m->cap : 8;
		struct rt_shm_calib_point *n = realloc(m->pts, cap * sizeof(*n));

		if (!n)
			return;
		m->pts = n;
		m->cap = cap;
	}
	if (m->n == RTC_CLOCKMAP_MAX) {
		/* Keep the first point (widest span) and drop the second oldest. */
		memmove(&m->pts[1], &m->pts[2], (m->n - 2) * sizeof(m->pts[0]));
		m->n--;
		if (i > 1)
			i--;
	}
	memmove(&m->pts[i + 1], &m->pts[i], (m->n - i) * sizeof(m->pts[0]));
	m->pts[i] = *p;
	m->n++;
}

void rtc_clockmap_add(struct rtc_clockmap *m, const struct rt_shm_calib_point *pts, size_t n)
{
	for (size_t k = 0; k < n; k++)
		insert(m, &pts[k]);
	update_rate(m);
}

uint64_t rtc_clockmap_raw_now(const struct rtc_clockmap *m)
{
	return m->clock == RT_SHM_CLOCK_TSC ? __rdtsc() : mono_ns();
}

/* A point is the TSC read between two CLOCK_MONOTONIC reads, placed at their midpoint: a sampler
 * descheduled between them would put it off by half the time it was away (milliseconds on a
 * loaded machine), and interpolation through such a point moves every timestamp near it: records
 * of one process then land out of order with the other processes'. The narrowest of a few tries
 * is kept, and none at all if even that one is wide: the next poll samples again. */
#define SAMPLE_TRIES 4
#define SAMPLE_GOOD_NS 2000u
#define SAMPLE_MAX_NS 20000u

bool rtc_clockmap_sample(struct rtc_clockmap *m, struct rt_shm_calib_point *out)
{
	struct rt_shm_calib_point p = { 0 };
	uint64_t width = UINT64_MAX;

	if (m->clock != RT_SHM_CLOCK_TSC)
		return false; /* nothing to calibrate */
	for (int k = 0; k < SAMPLE_TRIES && width > SAMPLE_GOOD_NS; k++) {
		uint64_t a = mono_ns(), tsc = __rdtsc(), b = mono_ns();

		if (b >= a && b - a < width) {
			width = b - a;
			p.tsc = tsc;
			p.mono_ns = a + (b - a) / 2;
		}
	}
	if (width > SAMPLE_MAX_NS)
		return false;
	rtc_clockmap_add(m, &p, 1);
	if (out)
		*out = p;
	return true;
}

/* ns as a time: a double past the range of uint64_t does not convert (undefined), and fuzzed points,
 * rates and timestamps reach past it either way: the result saturates at 0 and UINT64_MAX. */
static uint64_t saturate(double ns)
{
	return !(ns > 0) ? 0 : ns >= 0x1p64 ? UINT64_MAX : (uint64_t)ns;
}

/* Time t extrapolated from point a at the widest span's rate, before it or after it. */
static uint64_t extrapolate(const struct rtc_clockmap *m, const struct rt_shm_calib_point *a, uint64_t t)
{
	uint64_t ns;

	if (t <= a->tsc)
		return saturate((double)a->mono_ns - (double)(a->tsc - t) / m->rate);
	return __builtin_add_overflow(a->mono_ns, saturate((double)(t - a->tsc) / m->rate), &ns) ? UINT64_MAX : ns;
}

uint64_t rtc_clockmap_ns(const struct rtc_clockmap *m, uint64_t t)
{
	const struct rt_shm_calib_point *a, *b;
	size_t lo = 0, hi;
	double ns;

	if (m->clock != RT_SHM_CLOCK_TSC)
		return t;
	if (m->n == 0)
		return saturate((double)t / m->rate);
	if (m->n == 1 || t <= m->pts[0].tsc)
		return extrapolate(m, &m->pts[0], t);
	if (t >= m->pts[m->n - 1].tsc)
		return extrapolate(m, &m->pts[m->n - 1], t);
	/* Live records are nearly always in the newest segment: try it before searching. */
	if (t >= m->pts[m->n - 2].tsc) {
		lo = m->n - 2;
		hi = m->n - 1;
		goto interpolate;
	}
	hi = m->n - 1;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (m->pts[mid].tsc <= t)
			lo = mid;
		else
			hi = mid;
	}
interpolate:
	a = &m->pts[lo];
	b = &m->pts[hi];
	ns = (double)a->mono_ns + (double)(t - a->tsc) * (double)(b->mono_ns - a->mono_ns) / (double)(b->tsc - a->tsc);
	return saturate(ns);
}
