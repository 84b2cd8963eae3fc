/* SPDX-License-Identifier: MIT */
/* Reads one producer thread's ring from another process: copies whole committed records out,
 * validates them against concurrent overwrite, and accounts exactly for what it missed.
 * One reader per ring (it owns the ring's read_pos). */
#ifndef RTC_RING_READER_H
#define RTC_RING_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/shm-format.h>

struct rtc_ring_reader {
	struct rt_shm_ring *hdr; /* untrusted mapping */
	size_t map_size;
	uint32_t sb_size, sb_count, mode, clock;
	uint32_t abi_minor;
	uint64_t data_size;
	uint32_t pid, tid;
	uint64_t thread_number;
	uint64_t created_ts;
	struct rt_shm_subbuf *sb;
	uint8_t *data;
	uint64_t pos;        /* virtual read position */
	uint64_t records;    /* records delivered (ring-wide index of the next one) */
	uint64_t lost;       /* records overwritten before we read them */
	uint64_t lost_events; /* times a gap was found */
	uint64_t ts;         /* running timestamp: base for the next record's delta */
	uint8_t *chunk;      /* private copy of what is being decoded */
};

/* A contiguous run of records copied out of the ring. `base_ts` is the timestamp the first
 * record's delta applies to; `lost_before` records were overwritten just before it. */
struct rtc_ring_chunk {
	const uint8_t *data;
	size_t len;
	uint64_t base_ts;
	uint64_t lost_before;
	uint64_t first_record; /* ring-wide index of the first record */
	uint64_t lost_first_ts; /* when lost_before > 0: base_ts of the sub-buffer after the gap */
};

/* Open and validate ring segment `shm_name` of producer pid. Returns 0, -ENOENT, -EACCES,
 * -RT_EBADMAGIC, -RT_EABI, -RT_ECORRUPT or -errno. */
int rtc_ring_reader_open(struct rtc_ring_reader *r, const char *shm_name, uint32_t expect_pid);
void rtc_ring_reader_close(struct rtc_ring_reader *r);

/* Copy out the next run of committed records. Returns 1 with *chunk filled, 0 when nothing new is
 * committed, -RT_ECORRUPT when the producer's state is inconsistent, -EFAULT when the segment was
 * truncated. The chunk is valid until the next call. The caller reports how many records and
 * the timestamp it decoded with rtc_ring_reader_consumed(). */
int rtc_ring_reader_next(struct rtc_ring_reader *r, struct rtc_ring_chunk *chunk);

/* After decoding a chunk: records in it and the timestamp of its last record. */
void rtc_ring_reader_consumed(struct rtc_ring_reader *r, uint64_t records, uint64_t last_ts);

/* The producer thread finished and everything committed has been read. */
bool rtc_ring_reader_done(struct rtc_ring_reader *r);

/* After rtc_ring_reader_done(): records the producer dropped after the last LOSS record it could
 * write (ABI 1.1; 0 from older producers). */
uint64_t rtc_ring_reader_unreported(struct rtc_ring_reader *r);

/* A consistent copy of the ring's open-span stack (seqlock read). Returns the number of entries
 * (<= max), or -EAGAIN if the producer kept changing it. */
int rtc_ring_reader_stack(struct rtc_ring_reader *r, struct rt_shm_stack_entry *out, size_t max, uint64_t *task,
			  uint64_t *span_seq);

#endif
