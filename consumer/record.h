/* SPDX-License-Identifier: MIT */
/* Decoding of ring records (one msgpack array each, docs/format.md "Records") with msgpack-c,
 * checking every type and length: a malformed record is reported, never trusted. */
#ifndef RTC_RECORD_H
#define RTC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include <ringtrace/shm-format.h>

struct rtc_stack_item {
	uint32_t name_id;
	uint64_t span_seq;
	uint64_t begin_ts;
	uint64_t task_id;
};

#define RTC_STACK_MAX RT_SHM_STACK_MAX

struct rtc_record {
	uint32_t kind; /* enum rt_rec_kind */
	uint64_t ts;   /* absolute, raw clock units */
	uint64_t a, b, c, d; /* kind-specific integers, in the order of docs/format.md */
	const char *str;     /* THREAD_START/THREAD_NAME name, LOG message; not NUL-terminated */
	uint32_t str_len;
	uint32_t stack_len; /* STACK entries */
	struct rtc_stack_item stack[RTC_STACK_MAX];
};

/* Decoder over one chunk of records. */
struct rtc_decoder {
	msgpack_zone zone;
	const uint8_t *data;
	size_t len;
	size_t off;
	uint64_t ts;
	uint64_t records;
};

int rtc_decoder_init(struct rtc_decoder *d);
void rtc_decoder_fini(struct rtc_decoder *d);

/* Start decoding `len` bytes whose first record's delta is relative to base_ts. */
void rtc_decoder_reset(struct rtc_decoder *d, const uint8_t *data, size_t len, uint64_t base_ts);

/* Decode the next record. Returns 1 with *rec filled, 0 at the end of the data, -RT_ECORRUPT for
 * bytes that are not a well-formed record (the rest of the chunk is then skipped). */
int rtc_decoder_next(struct rtc_decoder *d, struct rtc_record *rec);

/* Validate one already-unpacked record object; updates *ts with its delta. */
int rtc_record_from_object(const msgpack_object *o, uint64_t *ts, struct rtc_record *rec);

const char *rtc_record_kind_name(uint32_t kind);

#endif
