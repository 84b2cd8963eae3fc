/* SPDX-License-Identifier: MIT */
/* Raw captures (.rtrace): the consumer's message stream (stream.h) on disk, the records exactly as
 * read from the rings, framed in msgpack. docs/consumer.md "Raw captures" specifies the messages. */
#ifndef RTC_RAWFILE_H
#define RTC_RAWFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

#define RTC_RAW_MAGIC "ringtrace-raw"
#define RTC_RAW_VERSION 2 /* 2 adds chunk flags/skip, tasks, producer counts and gaps; 1 is still read */

/* Limits on what a capture may claim, so that reading costs memory and time in proportion to the
 * data present. Indices are dense: each new process or thread takes the next index. */
#define RTC_RAW_MAX_PROCESSES 65536
#define RTC_RAW_MAX_THREADS (1u << 22)

struct rtc_raw_writer;

/* Write a capture to path (through sinks/outfile.h: put in place on close). origin_ns is ts
 * 0 of the trace, start_ns when recording started (both CLOCK_MONOTONIC). NULL + errno. */
struct rtc_raw_writer *rtc_raw_writer_open(const char *path, uint64_t origin_ns, uint64_t start_ns);

/* The writer as a stream receiver: ctx is the writer. */
const struct rtc_stream_ops *rtc_raw_writer_ops(void);

/* Finish the file (commit the output). 0 or -errno; the writer is freed either way. With
 * keep = false the output is abandoned (nothing is left behind). */
int rtc_raw_writer_close(struct rtc_raw_writer *w, bool keep);

/* Check the file's header. 0, -errno, -RT_EBADMAGIC or -RT_EABI; *start_ns is 0 in captures made
 * before it was recorded. */
int rtc_raw_read_header(const char *path, uint64_t *origin_ns, uint64_t *start_ns);

/* Replay every message in order. 0, -errno, or -RT_ECORRUPT at the first malformed message (the
 * messages before it were delivered); *where gets its byte offset when not NULL. */
int rtc_raw_read(const char *path, const struct rtc_stream_ops *ops, void *ctx, uint64_t *where);

#endif
