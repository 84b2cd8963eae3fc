/* SPDX-License-Identifier: MIT */
/* A log-linear (HDR-style) histogram of nanosecond durations: every value from 0 to 2^42 ns (73 min) is
 * kept within 0.78% relative error, in a fixed 19 KB, with exact count, min, max, sum and sum of squares. */
#ifndef RTC_HIST_H
#define RTC_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Layout. Values below 128 ns have a bucket each (exact). Above, each power of two [2^e, 2^(e+1)) is cut
 * into 64 equal buckets of width 2^(e-6), up to e = 41; values of 2^42 ns and more are counted in the last
 * bucket (min, max, sum stay exact). A bucket's value is its low bound plus half its width, so a value is
 * reported at most 2^(e-7) / 2^e = 1/128 = 0.78125% away from itself, over the whole range (1 ns .. 1 h is
 * inside it). Percentiles are further clamped to [min, max], which makes p0 and p100 exact.
 *
 * Memory: RTC_HIST_BUCKETS (2368) 64-bit counters plus a 64-byte header: rtc_hist_bytes() = 19,008 bytes,
 * whatever the number of values. No allocation after create.
 *
 * Thread safety: none; a histogram is used by one thread at a time (merge/compare read their inputs only).
 */
#define RTC_HIST_SUB_BITS 6                            /* 64 buckets per power of two */
#define RTC_HIST_MAX_EXP 41                            /* last power of two with its own buckets */
#define RTC_HIST_BUCKETS ((RTC_HIST_MAX_EXP - 4) << RTC_HIST_SUB_BITS) /* 2368 */
#define RTC_HIST_RANGE_NS (1ull << (RTC_HIST_MAX_EXP + 1)) /* values from here share the last bucket */
#define RTC_HIST_MAX_REL_ERROR (1.0 / 128)             /* bound on |reported - true| / true */

struct rtc_hist;

/* One non-empty bucket: the values in [low, high] (inclusive) were seen `count` times. */
struct rtc_hist_bucket {
	uint32_t index;
	uint64_t low, high;
	uint64_t value; /* what the bucket reports: low + width / 2 */
	uint64_t count;
};

/* Iteration cursor, caller-allocated: start with { 0 }. */
struct rtc_hist_iter {
	uint32_t next;
};

/* \return a new empty histogram, or NULL with errno = ENOMEM. */
struct rtc_hist *rtc_hist_create(void);
void rtc_hist_destroy(struct rtc_hist *h);
/* Bytes one histogram takes (the allocation made by create). */
size_t rtc_hist_bytes(void);
void rtc_hist_reset(struct rtc_hist *h);
/* dst becomes a copy of src. */
void rtc_hist_copy(struct rtc_hist *dst, const struct rtc_hist *src);

/* Record one value / n times the same value. Sums saturate at their type's maximum instead of wrapping. */
void rtc_hist_add(struct rtc_hist *h, uint64_t ns);
void rtc_hist_add_n(struct rtc_hist *h, uint64_t ns, uint64_t n);

/* dst += src. Counts saturate (never wrap). */
void rtc_hist_merge(struct rtc_hist *dst, const struct rtc_hist *src);
/* dst -= src, for sliding windows (window = total since start - the seconds that left it). src must have
 * been merged into dst before: every bucket of src at most that of dst.
 * min and max of the result stay exact when the extreme values are not in src; otherwise they become the
 * bound of the new extreme bucket (still within it, so percentiles keep their error bound).
 * \return 0, or -EINVAL (src is not part of dst; dst unchanged). */
int rtc_hist_subtract(struct rtc_hist *dst, const struct rtc_hist *src);

uint64_t rtc_hist_count(const struct rtc_hist *h);
uint64_t rtc_hist_min(const struct rtc_hist *h); /* 0 when empty */
uint64_t rtc_hist_max(const struct rtc_hist *h); /* 0 when empty */
uint64_t rtc_hist_sum(const struct rtc_hist *h); /* UINT64_MAX when saturated */
double rtc_hist_mean(const struct rtc_hist *h);  /* 0 when empty */
/* Sample standard deviation (n - 1 denominator), exact from the sums (not from buckets); 0 below 2 values. */
double rtc_hist_stddev(const struct rtc_hist *h);

/* The q-quantile, q in [0, 1] (clamped), nearest-rank definition: the value of rank max(1, ceil(q * n)) in
 * sorted order, reported as its bucket's value and clamped to [min, max]. 0 when empty. */
uint64_t rtc_hist_percentile(const struct rtc_hist *h, double q);
/* Several at once in one pass: q[] ascending. */
void rtc_hist_percentiles(const struct rtc_hist *h, const double *q, uint64_t *out, size_t n);

/* Next non-empty bucket in ascending order. \return false at the end. */
bool rtc_hist_next(const struct rtc_hist *h, struct rtc_hist_iter *it, struct rtc_hist_bucket *out);
/* Bucket arithmetic, for readers of saved histograms and for tests. */
uint32_t rtc_hist_index(uint64_t ns);
uint64_t rtc_hist_bucket_low(uint32_t index);
uint64_t rtc_hist_bucket_high(uint32_t index); /* inclusive; UINT64_MAX for the last */
uint64_t rtc_hist_bucket_value(uint32_t index);
uint64_t rtc_hist_bucket_count(const struct rtc_hist *h, uint32_t index);

/*
 * Compact JSON, sparse:
 *   {"layout":"log2-64","count":N,"min":A,"max":B,"sum":S,"sumsq":Q,"buckets":[i,c,i,c,...]}
 * with bucket indices i ascending and counts c > 0; sumsq is an exact integer up to 2^128. See
 * docs/statistics.md.
 * \return 0, or -EIO when the stream reports an error.
 */
int rtc_hist_write_json(const struct rtc_hist *h, FILE *f);

struct rtc_json;
/* Reads one histogram object from a JSON reader (see json.h) into h (reset first). The input is
 * untrusted: every field is checked (known layout, indices ascending and in range, counts adding up to
 * count, min and max in the first and last buckets, sum between count*min and count*max), unknown keys are
 * skipped, nothing is allocated. \return 0, or -EPROTO (malformed or inconsistent; h is left empty). */
int rtc_hist_read_json(struct rtc_hist *h, struct rtc_json *j);
/* The same from a buffer holding just the object. */
int rtc_hist_parse_json(struct rtc_hist *h, const char *buf, size_t len);

#endif
