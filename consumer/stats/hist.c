/* SPDX-License-Identifier: MIT */
/* Log-linear histogram of nanosecond durations (64 buckets per power of two, 0.78% worst error), its
 * merge/subtract for sliding windows, and its sparse JSON form. */
#include "hist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define SUB (1u << RTC_HIST_SUB_BITS)

struct rtc_hist {
	uint64_t count;
	uint64_t min, max; /* valid when count > 0 */
	uint64_t sum;      /* saturating */
	unsigned __int128 sumsq; /* saturating */
	uint32_t lo, hi;   /* lowest and highest bucket that may be non-empty (lo > hi: none) */
	uint64_t counts[RTC_HIST_BUCKETS];
};

uint32_t rtc_hist_index(uint64_t ns)
{
	unsigned e;

	if (ns < 2 * SUB)
		return (uint32_t)ns;
	if (ns >= RTC_HIST_RANGE_NS)
		return RTC_HIST_BUCKETS - 1;
	e = 63u - (unsigned)__builtin_clzll(ns); /* 2^e <= ns < 2^(e+1), e >= 7 */
	return ((e - RTC_HIST_SUB_BITS + 1) << RTC_HIST_SUB_BITS) + (uint32_t)((ns >> (e - RTC_HIST_SUB_BITS)) & (SUB - 1));
}

uint64_t rtc_hist_bucket_low(uint32_t index)
{
	unsigned e;

	if (index < 2 * SUB)
		return index;
	if (index >= RTC_HIST_BUCKETS)
		index = RTC_HIST_BUCKETS - 1;
	e = (index >> RTC_HIST_SUB_BITS) + RTC_HIST_SUB_BITS - 1;
	return (uint64_t)(SUB + (index & (SUB - 1))) << (e - RTC_HIST_SUB_BITS);
}

static uint64_t bucket_width(uint32_t index)
{
	if (index < 2 * SUB)
		return 1;
	return 1ull << ((index >> RTC_HIST_SUB_BITS) - 1);
}

uint64_t rtc_hist_bucket_high(uint32_t index)
{
	if (index >= RTC_HIST_BUCKETS - 1)
		return UINT64_MAX;
	return rtc_hist_bucket_low(index) + bucket_width(index) - 1;
}

uint64_t rtc_hist_bucket_value(uint32_t index)
{
	if (index >= RTC_HIST_BUCKETS)
		index = RTC_HIST_BUCKETS - 1;
	return rtc_hist_bucket_low(index) + bucket_width(index) / 2;
}

size_t rtc_hist_bytes(void)
{
	return sizeof(struct rtc_hist);
}

void rtc_hist_reset(struct rtc_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->lo = RTC_HIST_BUCKETS;
	h->hi = 0;
}

struct rtc_hist *rtc_hist_create(void)
{
	struct rtc_hist *h = malloc(sizeof(*h));

	if (h)
		rtc_hist_reset(h);
	return h;
}

void rtc_hist_destroy(struct rtc_hist *h)
{
	free(h);
}

void rtc_hist_copy(struct rtc_hist *dst, const struct rtc_hist *src)
{
	if (dst != src)
		memcpy(dst, src, sizeof(*dst));
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static unsigned __int128 sat_add128(unsigned __int128 a, unsigned __int128 b)
{
	unsigned __int128 r;

	return __builtin_add_overflow(a, b, &r) ? ~(unsigned __int128)0 : r;
}

static void note_range(struct rtc_hist *h, uint64_t min, uint64_t max, uint32_t lo, uint32_t hi)
{
	if (h->count == 0 || min < h->min)
		h->min = min;
	if (h->count == 0 || max > h->max)
		h->max = max;
	if (lo < h->lo)
		h->lo = lo;
	if (hi > h->hi)
		h->hi = hi;
}

void rtc_hist_add(struct rtc_hist *h, uint64_t ns)
{
	uint32_t i = rtc_hist_index(ns);

	/* note_range() for one value. lo and hi are the buckets of min and max (an invariant every
	 * operation keeps), so they move only with them: the common case is two comparisons. */
	if (__builtin_expect(h->count != 0, 1)) {
		if (ns < h->min) {
			h->min = ns;
			h->lo = i;
		} else if (ns > h->max) {
			h->max = ns;
			h->hi = i;
		}
	} else {
		h->min = h->max = ns;
		h->lo = h->hi = i;
	}
	h->counts[i]++;
	h->count++;
	h->sum = sat_add(h->sum, ns);
	h->sumsq = sat_add128(h->sumsq, (unsigned __int128)ns * ns);
}

void rtc_hist_add_n(struct rtc_hist *h, uint64_t ns, uint64_t n)
{
	uint32_t i = rtc_hist_index(ns);
	unsigned __int128 sq = (unsigned __int128)ns * ns, sqn;
	uint64_t s;

	if (n == 0)
		return;
	note_range(h, ns, ns, i, i);
	h->counts[i] = sat_add(h->counts[i], n);
	h->count = sat_add(h->count, n);
	h->sum = __builtin_mul_overflow(ns, n, &s) ? UINT64_MAX : sat_add(h->sum, s);
	h->sumsq = __builtin_mul_overflow(sq, (unsigned __int128)n, &sqn) ? ~(unsigned __int128)0
									  : sat_add128(h->sumsq, sqn);
}

void rtc_hist_merge(struct rtc_hist *dst, const struct rtc_hist *src)
{
	if (src->count == 0 || dst == src)
		return;
	note_range(dst, src->min, src->max, src->lo, src->hi);
	for (uint32_t i = src->lo; i <= src->hi; i++)
		dst->counts[i] = sat_add(dst->counts[i], src->counts[i]);
	dst->count = sat_add(dst->count, src->count);
	dst->sum = sat_add(dst->sum, src->sum);
	dst->sumsq = sat_add128(dst->sumsq, src->sumsq);
}

int rtc_hist_subtract(struct rtc_hist *dst, const struct rtc_hist *src)
{
	uint32_t lo = RTC_HIST_BUCKETS, hi = 0;

	if (src->count == 0)
		return 0;
	if (dst == src || src->count > dst->count || src->lo < dst->lo || src->hi > dst->hi)
		return -EINVAL;
	for (uint32_t i = src->lo; i <= src->hi; i++)
		if (src->counts[i] > dst->counts[i])
			return -EINVAL;
	for (uint32_t i = src->lo; i <= src->hi; i++)
		dst->counts[i] -= src->counts[i];
	dst->count -= src->count;
	/* Saturated sums cannot be taken apart: they stay saturated. */
	if (dst->sum != UINT64_MAX)
		dst->sum = dst->sum >= src->sum ? dst->sum - src->sum : 0;
	if (dst->sumsq != ~(unsigned __int128)0)
		dst->sumsq = dst->sumsq >= src->sumsq ? dst->sumsq - src->sumsq : 0;
	for (uint32_t i = dst->lo; i <= dst->hi && i < RTC_HIST_BUCKETS; i++)
		if (dst->counts[i]) {
			lo = i;
			break;
		}
	for (uint32_t i = dst->hi + 1; i-- > dst->lo;)
		if (dst->counts[i]) {
			hi = i;
			break;
		}
	if (dst->count == 0 || lo > hi) {
		rtc_hist_reset(dst);
		return 0;
	}
	/* An extreme smaller (larger) than all of src's cannot be among the values removed. */
	if (!(dst->min < src->min))
		dst->min = dst->min > rtc_hist_bucket_low(lo) ? dst->min : rtc_hist_bucket_low(lo);
	if (!(dst->max > src->max))
		dst->max = dst->max < rtc_hist_bucket_high(hi) ? dst->max : rtc_hist_bucket_high(hi);
	if (rtc_hist_index(dst->min) != lo)
		dst->min = rtc_hist_bucket_low(lo);
	if (rtc_hist_index(dst->max) != hi)
		dst->max = hi == RTC_HIST_BUCKETS - 1 ? rtc_hist_bucket_low(hi) : rtc_hist_bucket_high(hi);
	dst->lo = lo;
	dst->hi = hi;
	return 0;
}

uint64_t rtc_hist_count(const struct rtc_hist *h)
{
	return h->count;
}

uint64_t rtc_hist_min(const struct rtc_hist *h)
{
	return h->count ? h->min : 0;
}

uint64_t rtc_hist_max(const struct rtc_hist *h)
{
	return h->count ? h->max : 0;
}

uint64_t rtc_hist_sum(const struct rtc_hist *h)
{
	return h->sum;
}

double rtc_hist_mean(const struct rtc_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0;
}

double rtc_hist_stddev(const struct rtc_hist *h)
{
	long double n = (long double)h->count, s = (long double)h->sum, var;

	if (h->count < 2)
		return 0;
	var = ((long double)h->sumsq - s * s / n) / (n - 1);
	return var > 0 ? (double)sqrtl(var) : 0;
}

static uint64_t clamp_value(const struct rtc_hist *h, uint32_t i)
{
	uint64_t v = rtc_hist_bucket_value(i);

	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

static uint64_t rank_of(const struct rtc_hist *h, double q)
{
	double r;

	if (!(q > 0)) /* also NaN */
		return 1;
	if (q >= 1)
		return h->count;
	r = ceil(q * (double)h->count);
	if (r < 1)
		return 1;
	if (r >= (double)h->count)
		return h->count;
	return (uint64_t)r;
}

void rtc_hist_percentiles(const struct rtc_hist *h, const double *q, uint64_t *out, size_t n)
{
	uint64_t seen = 0;
	uint32_t i;
	size_t k = 0;

	if (h->count == 0) {
		for (k = 0; k < n; k++)
			out[k] = 0;
		return;
	}
	i = h->lo;
	seen = h->counts[i];
	for (k = 0; k < n; k++) {
		uint64_t want = rank_of(h, q[k]);

		if (want == h->count) {
			out[k] = h->max;
			continue;
		}
		while (seen < want && i < h->hi)
			seen += h->counts[++i];
		out[k] = want == 1 ? h->min : clamp_value(h, i);
	}
}

uint64_t rtc_hist_percentile(const struct rtc_hist *h, double q)
{
	uint64_t v;

	rtc_hist_percentiles(h, &q, &v, 1);
	return v;
}

bool rtc_hist_next(const struct rtc_hist *h, struct rtc_hist_iter *it, struct rtc_hist_bucket *out)
{
	uint32_t i = it->next < h->lo ? h->lo : it->next;

	for (; i <= h->hi && i < RTC_HIST_BUCKETS; i++) {
		if (!h->counts[i])
			continue;
		out->index = i;
		out->low = rtc_hist_bucket_low(i);
		out->high = rtc_hist_bucket_high(i);
		out->value = rtc_hist_bucket_value(i);
		out->count = h->counts[i];
		it->next = i + 1;
		return true;
	}
	it->next = RTC_HIST_BUCKETS;
	return false;
}

uint64_t rtc_hist_bucket_count(const struct rtc_hist *h, uint32_t index)
{
	return index < RTC_HIST_BUCKETS ? h->counts[index] : 0;
}

int rtc_hist_write_json(const struct rtc_hist *h, FILE *f)
{
	struct rtc_hist_iter it = { 0 };
	struct rtc_hist_bucket b;
	bool first = true;

	fputs("{\"layout\":\"log2-64\",\"count\":", f);
	rtc_json_put_u64(f, h->count);
	fputs(",\"min\":", f);
	rtc_json_put_u64(f, rtc_hist_min(h));
	fputs(",\"max\":", f);
	rtc_json_put_u64(f, rtc_hist_max(h));
	fputs(",\"sum\":", f);
	rtc_json_put_u64(f, h->sum);
	fputs(",\"sumsq\":", f);
	rtc_json_put_u128(f, h->sumsq);
	fputs(",\"buckets\":[", f);
	while (rtc_hist_next(h, &it, &b)) {
		if (!first)
			putc(',', f);
		first = false;
		rtc_json_put_u64(f, b.index);
		putc(',', f);
		rtc_json_put_u64(f, b.count);
	}
	fputs("]}", f);
	return ferror(f) ? -EIO : 0;
}

enum { HAVE_LAYOUT = 1, HAVE_COUNT = 2, HAVE_MIN = 4, HAVE_MAX = 8, HAVE_SUM = 16, HAVE_SUMSQ = 32,
       HAVE_BUCKETS = 64, HAVE_ALL = 127 };

static int read_buckets(struct rtc_hist *h, struct rtc_json *j, uint64_t *total)
{
	int r;
	int64_t prev = -1;

	*total = 0;
	if (rtc_json_array_begin(j))
		return -EPROTO;
	while ((r = rtc_json_array_next(j)) == 1) {
		uint64_t idx, c;

		if (rtc_json_u64(j, &idx) || rtc_json_array_next(j) != 1 || rtc_json_u64(j, &c))
			return -EPROTO;
		if (idx >= RTC_HIST_BUCKETS || (int64_t)idx <= prev || c == 0 ||
		    __builtin_add_overflow(*total, c, total))
			return -EPROTO;
		h->counts[idx] = c;
		if (prev < 0)
			h->lo = (uint32_t)idx;
		h->hi = (uint32_t)idx;
		prev = (int64_t)idx;
	}
	return r == 0 ? 0 : -EPROTO;
}

int rtc_hist_read_json(struct rtc_hist *h, struct rtc_json *j)
{
	char key[16], layout[16];
	unsigned have = 0;
	uint64_t total = 0;
	int r;

	rtc_hist_reset(h);
	if (rtc_json_object_begin(j))
		goto bad;
	while ((r = rtc_json_object_next(j, key, sizeof(key))) == 1) {
		int e;

		if (strcmp(key, "layout") == 0) {
			e = rtc_json_string(j, layout, sizeof(layout), NULL) || strcmp(layout, "log2-64") != 0;
			have |= HAVE_LAYOUT;
		} else if (strcmp(key, "count") == 0) {
			e = rtc_json_u64(j, &h->count);
			have |= HAVE_COUNT;
		} else if (strcmp(key, "min") == 0) {
			e = rtc_json_u64(j, &h->min);
			have |= HAVE_MIN;
		} else if (strcmp(key, "max") == 0) {
			e = rtc_json_u64(j, &h->max);
			have |= HAVE_MAX;
		} else if (strcmp(key, "sum") == 0) {
			e = rtc_json_u64(j, &h->sum);
			have |= HAVE_SUM;
		} else if (strcmp(key, "sumsq") == 0) {
			e = rtc_json_u128(j, &h->sumsq);
			have |= HAVE_SUMSQ;
		} else if (strcmp(key, "buckets") == 0) {
			e = (have & HAVE_BUCKETS) || read_buckets(h, j, &total);
			have |= HAVE_BUCKETS;
		} else {
			e = rtc_json_skip(j);
		}
		if (e)
			goto bad;
	}
	if (r != 0 || have != HAVE_ALL || total != h->count)
		goto bad;
	if (h->count == 0) {
		if (h->min || h->max || h->sum || h->sumsq)
			goto bad;
		rtc_hist_reset(h);
		return 0;
	}
	if (h->min > h->max || rtc_hist_index(h->min) != h->lo || rtc_hist_index(h->max) != h->hi)
		goto bad;
	/* The sums must be possible for these values (a saturated sum is kept as it is). */
	if (h->sum != UINT64_MAX) {
		unsigned __int128 lo = (unsigned __int128)h->min * h->count, hi = (unsigned __int128)h->max * h->count;

		if (h->sum < lo || h->sum > hi)
			goto bad;
		if (h->count == 1 && h->sumsq != (unsigned __int128)h->sum * h->sum)
			goto bad;
	}
	if (h->sumsq != ~(unsigned __int128)0) {
		unsigned __int128 lo2, hi2;

		if (!__builtin_mul_overflow((unsigned __int128)h->min * h->min, (unsigned __int128)h->count, &lo2) &&
		    h->sumsq < lo2)
			goto bad;
		if (!__builtin_mul_overflow((unsigned __int128)h->max * h->max, (unsigned __int128)h->count, &hi2) &&
		    h->sumsq > hi2)
			goto bad;
	}
	return 0;
bad:
	rtc_hist_reset(h);
	return -EPROTO;
}

int rtc_hist_parse_json(struct rtc_hist *h, const char *buf, size_t len)
{
	struct rtc_json j;

	rtc_json_init(&j, buf, len);
	if (rtc_hist_read_json(h, &j) || rtc_json_finish(&j)) {
		rtc_hist_reset(h);
		return -EPROTO;
	}
	return 0;
}
