/* SPDX-License-Identifier: MIT */
/* The consumer's message stream: what draining reads from producers (processes, names, calibration
 * points, threads, chunks of raw records, watermarks, ...) in the order processing must see it. A
 * raw capture (rawfile.h) is this stream on disk; docs/consumer.md "Raw captures" gives each message. */
#ifndef RTC_STREAM_H
#define RTC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <ringtrace/records.h>
#include <ringtrace/shm-format.h>

struct rtc_stream_process {
	uint32_t index; /* the stream's process index */
	uint32_t pid, clock, mode, parent_pid;
	const char *name;
	uint64_t start_real_ns, start_mono_ns;
	uint64_t coarse_resolution_ns; /* of begins the producer took while idle; 0 unknown */
};

struct rtc_stream_thread {
	uint32_t proc, index, tid;
	uint64_t thread_number;
	uint64_t attach_ts; /* ns: when reading this thread started (spans begun before are "before attach") */
	const char *name;
};

enum rtc_chunk_flags {
	/* The chunk continues the previous chunk of its thread inside one sub-buffer: its first
	 * record's delta is relative to the previous chunk's last record, not to base_ts. */
	RTC_CHUNK_CONTINUES = 1u << 0,
};

struct rtc_stream_chunk {
	uint32_t thread;
	uint32_t flags;        /* enum rtc_chunk_flags */
	uint64_t base_ts;      /* raw clock: base of the first record's delta (unless it continues) */
	/* Unless it continues: the ring-wide index of its sub-buffer's first record. Counting records
	 * from there, whoever decodes finds exactly how many were overwritten unread (UINT64_MAX:
	 * unknown, in captures of version 1, which give lost_before instead). */
	uint64_t rec0;
	uint64_t resume_rec0;  /* a ring's first chunk: the index reading it started at (UINT64_MAX unknown) */
	uint64_t lost_before;  /* version 1 captures: records overwritten just before this chunk */
	uint64_t lost_first_ts; /* version 1 captures: raw clock, when lost_before > 0 */
	uint32_t skip;         /* leading bytes already delivered by an earlier reader: decode, do not emit */
	const uint8_t *data;
	size_t len;
};

/* A task that was open when the consumer attached (read from the producer's task table). */
struct rtc_stream_task {
	uint32_t proc;
	uint64_t id, parent;
	uint32_t name_id;
	uint32_t flags;   /* RT_SHM_STACK_COARSE: begin is CLOCK_MONOTONIC_COARSE ns */
	uint64_t begin;   /* raw clock (or coarse ns), 0 unknown */
	uint32_t tid;     /* thread that began it, 0 unknown */
};

/* The open spans of a thread that committed no record since reading it started, read from its
 * shared open-span stack: a thread blocked inside a span writes no STACK record of its own. The
 * same truth as a STACK record, just before the thread's next record. */
struct rtc_stream_stack {
	uint32_t thread;
	uint64_t ts;           /* ns on the stream's timeline: when it was read */
	uint64_t current_task; /* the thread's task */
	uint64_t span_seq;     /* the thread's last span number */
	uint32_t count;        /* <= RT_SHM_STACK_MAX */
	const struct rt_rec_stack_entry *entries; /* begin_ts raw clock, or coarse ns (flags) */
};

/* What a producer counted about records and threads it could not record. */
struct rtc_stream_counts {
	uint32_t proc;
	uint64_t threads_untraced, names_overflowed, tasks_untracked, stack_overflows;
	uint64_t overwritten; /* flight recorder: overwritten before anyone read them */
};

/* Recording of a process stopped (lease lost) and resumed: records in [from_ns, to_ns) missing. */
struct rtc_stream_gap {
	uint32_t proc;
	uint64_t from_ns, to_ns;
	uint64_t not_recorded; /* records the producer counted as not written meanwhile, if it knows */
};

/* Receivers of the stream. Any op may be NULL. */
struct rtc_stream_ops {
	void (*process)(void *ctx, const struct rtc_stream_process *p);
	void (*name)(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len);
	void (*calib)(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt);
	void (*thread)(void *ctx, const struct rtc_stream_thread *t);
	void (*chunk)(void *ctx, const struct rtc_stream_chunk *c);
	/* Every record older than ns has been delivered. */
	void (*watermark)(void *ctx, uint64_t ns);
	/* The thread's records end at ts; unreported_lost records were dropped after its last LOSS
	 * record could be written (the ring stayed full until it finished). */
	void (*thread_done)(void *ctx, uint32_t thread, uint64_t ts, uint64_t unreported_lost);
	void (*task)(void *ctx, const struct rtc_stream_task *t);
	void (*counts)(void *ctx, const struct rtc_stream_counts *c);
	void (*gap)(void *ctx, const struct rtc_stream_gap *g);
	void (*stack)(void *ctx, const struct rtc_stream_stack *s);
	void (*end)(void *ctx, uint64_t end_ns);
	/* Optional, for zero-copy: memory of len bytes the next chunk's data may be read into (the
	 * receiver then recognises its own buffer). NULL: the sender uses its own. */
	uint8_t *(*chunk_buffer)(void *ctx, size_t len);
};

#endif
