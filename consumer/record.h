/* SPDX-License-Identifier: MIT */
/* Decoding of ring records (one msgpack array each, ringtrace/records.h and docs/format.md
 * "Records"): a bounds-checked reader driven by the record table, checking every type and length. */
#ifndef RTC_RECORD_H
#define RTC_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/shm-format.h>

#define RTC_STACK_MAX RT_SHM_STACK_MAX

/* One decoded record. Strings point into the decoded bytes; a STACK record's entries into `stack`. */
struct rtc_record {
	uint32_t kind; /* enum rt_rec_kind */
	uint64_t ts;   /* absolute, raw clock units */
	union rt_rec_body u;
	struct rt_rec_stack_entry stack[RTC_STACK_MAX];
};

/* Decoder over one chunk of records. */
struct rtc_decoder {
	const uint8_t *data;
	size_t len;
	size_t off;
	uint64_t ts;
	uint64_t records;
};

void rtc_decoder_reset(struct rtc_decoder *d, const uint8_t *data, size_t len, uint64_t base_ts);

/* Decode the next record. Returns 1 with *rec filled, 0 at the end of the data, -RT_ECORRUPT for
 * bytes that are not a well-formed record (the rest of the chunk is then skipped). Unknown kinds
 * are corrupt; known kinds may carry trailing fields of later versions (skipped). */
int rtc_decoder_next(struct rtc_decoder *d, struct rtc_record *rec);

const char *rtc_record_kind_name(uint32_t kind);

/* Decoding one thread's chunks in order: a chunk that continues its sub-buffer starts from the
 * previous chunk's last timestamp (unknown when that one ended in a malformed record), and the
 * records decoded, counted from each sub-buffer's first index, tell exactly how many the writer
 * overwrote before they were read. Start zeroed. */
struct rtc_chunk_cursor {
	uint64_t raw_ts;
	uint64_t next_rec; /* ring-wide index of the next record */
	bool ts_known, rec_known;
};

/* Reset d for a chunk. rec0: for a chunk that does not continue, its sub-buffer's first record
 * index (UINT64_MAX unknown); resume_rec0: on a reader's first chunk, the index it started at
 * (UINT64_MAX unknown). *lost: records overwritten unread just before it. False when it cannot
 * be decoded (it continues an undecodable one). */
bool rtc_chunk_start(struct rtc_chunk_cursor *cc, struct rtc_decoder *d, const uint8_t *data, size_t len,
		     uint64_t base_ts, bool continues, uint64_t rec0, uint64_t resume_rec0, uint64_t *lost);

/* After decoding the chunk (ret: rtc_decoder_next()'s last return). */
void rtc_chunk_done(struct rtc_chunk_cursor *cc, const struct rtc_decoder *d, int ret);

/* A field of a decoded record, for generic printing (`ringtrace dump`). */
enum rtc_field_type {
	RTC_FIELD_UINT,
	RTC_FIELD_STR,
	RTC_FIELD_ENTRIES,
};

struct rtc_field {
	const char *name;
	enum rtc_field_type type;
	bool present;
	uint64_t u;          /* RTC_FIELD_UINT */
	struct rt_rec_str s; /* RTC_FIELD_STR */
	uint32_t entries;    /* RTC_FIELD_ENTRIES: how many */
};

/* The fields of rec's kind in wire order (at most max). Returns how many. */
size_t rtc_record_fields(const struct rtc_record *rec, struct rtc_field *out, size_t max);

#endif
