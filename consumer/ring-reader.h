/* SPDX-License-Identifier: MIT */
/* Reads one producer thread's ring from another process: copies whole committed records out,
 * validates them against concurrent overwrite, and accounts exactly for what it missed, without
 * decoding a record. One reader per ring (it owns the ring's read_pos). */
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
	uint64_t pos;       /* virtual read position */
	uint64_t skip_to;   /* an earlier reader delivered everything before this position */
	uint64_t records;   /* records in the sub-buffers read to their end (a gauge) */
	uint64_t resume_rec0; /* index the first sub-buffer we read starts at, if intact at open; then UINT64_MAX */
	uint64_t jumps;     /* times the writer lapped us and we skipped ahead (overwrite mode) */
	uint64_t lower_ts;  /* raw clock: no record still to be read is older (base of the current sub-buffer) */
	uint8_t *own;       /* a private buffer of sb_size, when the caller gives none */
	/* Set by the caller: leave the sub-buffer the writer is still filling for a later call, as
	 * long as rtc_ring_reader_may_defer(r, read_now) allows. `deferred` says that one was left
	 * with records in it. */
	bool defer_open, deferred;
	uint64_t read_now;  /* bytes returned since the caller last zeroed it (once per poll) */
};

/* A contiguous run of committed records copied out of the ring. The reader never decodes: whoever
 * decodes the chunks counts records from `rec0` on and so finds exactly what was overwritten. */
struct rtc_ring_chunk {
	uint8_t *data;
	size_t len;
	uint64_t base_ts;  /* raw clock: base of the sub-buffer the chunk is in */
	bool continues;    /* it continues the previous chunk inside that sub-buffer */
	bool closed;       /* it ends its sub-buffer (the writer went on to the next) */
	uint32_t skip;     /* leading bytes an earlier reader already delivered */
	uint64_t rec0;     /* !continues: ring-wide index of the sub-buffer's first record */
	/* First chunk of this reader: the index reading started at (UINT64_MAX: unknown), so that
	 * what the writer overwrote before the first copy counts as lost too. */
	uint64_t resume_rec0;
};

/* Open and validate ring segment `shm_name` of producer pid. Returns 0, -ENOENT, -EACCES,
 * -RT_EBADMAGIC, -RT_EABI, -RT_ECORRUPT or -errno. Nothing is allocated for the data. */
int rtc_ring_reader_open(struct rtc_ring_reader *r, const char *shm_name, uint32_t expect_pid);
void rtc_ring_reader_close(struct rtc_ring_reader *r);

/* Copy out the next run of committed records into buffer(ctx, len) (a buffer of the reader's own
 * when buffer is NULL; valid until the next call). Returns 1 with *chunk filled, 0 when nothing new
 * is committed (or only in the open sub-buffer while defer_open is set), -RT_ECORRUPT when the producer's state is inconsistent, -EFAULT when the segment was
 * truncated, -ENOMEM. */
int rtc_ring_reader_next(struct rtc_ring_reader *r, struct rtc_ring_chunk *chunk,
			 uint8_t *(*buffer)(void *ctx, size_t len), void *ctx);

/* Whether the open sub-buffer may be left for a later call (defer_open) without losing more to
 * an overwriting writer, `read_now` bytes having been read since the caller's last poll. */
bool rtc_ring_reader_may_defer(const struct rtc_ring_reader *r, uint64_t read_now);

/* The producer thread finished and everything committed has been read. */
bool rtc_ring_reader_done(struct rtc_ring_reader *r);

/* After rtc_ring_reader_done(): records the producer dropped after the last LOSS record it could
 * write (ABI 1.1; 0 from older producers). */
uint64_t rtc_ring_reader_unreported(struct rtc_ring_reader *r);

/* A consistent copy of the ring's open-span stack (seqlock read), under the caller's SIGBUS guard
 * (rtc_safe_call()). Returns the number of entries (<= max), or -EAGAIN if the producer kept
 * changing it. */
int rtc_ring_reader_stack(struct rtc_ring_reader *r, struct rt_shm_stack_entry *out, size_t max, uint64_t *task,
			  uint64_t *span_seq);

#endif
