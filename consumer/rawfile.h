/* SPDX-License-Identifier: MIT */
/* Raw captures (.rtrace): the records exactly as read from the rings, framed in msgpack with what
 * is needed to decode them later (processes, names, threads, calibration, merge watermarks).
 * docs/consumer.md "Raw captures" specifies the messages. */
#ifndef RTC_RAWFILE_H
#define RTC_RAWFILE_H

#include <stddef.h>
#include <stdint.h>

#include <ringtrace/shm-format.h>

#define RTC_RAW_MAGIC "ringtrace-raw"
#define RTC_RAW_VERSION 1

struct rtc_raw_writer;

/* Written through sinks/outfile.h (put in place by rtc_raw_writer_close()). NULL + errno on error. */
struct rtc_raw_writer *rtc_raw_writer_open(const char *path, uint64_t origin_ns);
void rtc_raw_write_process(struct rtc_raw_writer *w, uint32_t index, uint32_t pid, const char *name, uint32_t clock,
			   uint32_t mode, uint64_t start_real_ns, uint64_t start_mono_ns, uint32_t parent_pid);
void rtc_raw_write_calib(struct rtc_raw_writer *w, uint32_t proc, const struct rt_shm_calib_point *pt);
void rtc_raw_write_name(struct rtc_raw_writer *w, uint32_t proc, uint32_t id, const char *name);
void rtc_raw_write_thread(struct rtc_raw_writer *w, uint32_t proc, uint32_t index, uint64_t thread_number, uint32_t tid,
			  const char *name, uint64_t attach_ts);
void rtc_raw_write_chunk(struct rtc_raw_writer *w, uint32_t thread, uint64_t base_ts, uint64_t lost_before,
			 uint64_t lost_first_ts, const uint8_t *data, size_t len);
void rtc_raw_write_watermark(struct rtc_raw_writer *w, uint64_t watermark_ns);
void rtc_raw_write_thread_done(struct rtc_raw_writer *w, uint32_t thread, uint64_t ts, uint64_t unreported_lost);
void rtc_raw_write_end(struct rtc_raw_writer *w, uint64_t end_ns);
/* Flush and put in place. 0 or -errno. */
int rtc_raw_writer_close(struct rtc_raw_writer *w);

struct rtc_raw_process {
	uint32_t index, pid, clock, mode, parent_pid;
	const char *name;
	uint64_t start_real_ns, start_mono_ns;
};

struct rtc_raw_thread {
	uint32_t proc, index, tid;
	uint64_t thread_number, attach_ts;
	const char *name;
};

struct rtc_raw_callbacks {
	void (*process)(void *ctx, const struct rtc_raw_process *p);
	void (*name)(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len);
	void (*calib)(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt);
	void (*thread)(void *ctx, const struct rtc_raw_thread *t);
	void (*chunk)(void *ctx, uint32_t thread, uint64_t base_ts, uint64_t lost_before, uint64_t lost_first_ts,
		      const uint8_t *data, size_t len);
	void (*watermark)(void *ctx, uint64_t watermark_ns);
	/* The thread's records end at ts; unreported_lost records were dropped after its last LOSS
	 * record could be written (the ring stayed full until it finished). */
	void (*thread_done)(void *ctx, uint32_t thread, uint64_t ts, uint64_t unreported_lost);
	void (*end)(void *ctx, uint64_t end_ns);
	void *ctx;
};

/* Check the file's header. 0, -errno, -RT_EBADMAGIC or -RT_EABI. */
int rtc_raw_read_header(const char *path, uint64_t *origin_ns);

/* Replay every message in order. 0, -errno, or -RT_ECORRUPT at the first malformed message (the
 * messages before it were delivered). */
int rtc_raw_read(const char *path, const struct rtc_raw_callbacks *cb);

#endif
