/* SPDX-License-Identifier: MIT */
/* The consumer's view of one traced process: its validated control segment, the attach/detach
 * lease, the thread directory and the name table. Everything read from the segment is untrusted. */
#ifndef RTC_PRODUCER_H
#define RTC_PRODUCER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/shm-format.h>

struct rtc_producer {
	pid_t pid;
	uid_t uid;
	char shm_name[96];
	struct rt_shm_control *ctl; /* mapping of the untrusted segment */
	size_t map_size;
	/* Validated copies of the immutable header. */
	uint32_t mode, clock, idle_active;
	uint32_t ring_size, subbuf_size, subbuf_count;
	uint32_t names_capacity, names_offset, arena_offset, arena_size;
	uint32_t threads_offset, threads_capacity, calib_offset, calib_capacity;
	uint32_t parent_pid;
	uint64_t start_real_ns, start_mono_ns;
	char process_name[RT_SHM_PROCESS_NAME_LEN + 1];
	/* Ours while attached, else 0. Atomic: a heartbeat thread reads it while another thread
	 * attaches or detaches (relaxed: it guards no other data). */
	_Atomic uint32_t session;
	/* Name cache: id -> NUL-terminated copy (NULL until read). */
	char **names;
	uint32_t names_cached;
};

struct rtc_thread_info {
	uint32_t slot;
	uint32_t state; /* enum rt_shm_thread_state */
	uint32_t tid;
	uint64_t thread_number;
	char name[RT_SHM_THREAD_NAME_LEN + 1];
};

/* Open and validate the control segment of pid (owned by uid). Returns 0, -ENOENT (no segment),
 * -EACCES (another user's, and we are not root), -RT_EBADMAGIC, -RT_EABI, -RT_ECORRUPT, -errno. */
int rtc_producer_open(struct rtc_producer *p, pid_t pid, uid_t uid);

/* Same, by segment name ("/ringtrace.<uid>.<pid>"). */
int rtc_producer_open_name(struct rtc_producer *p, const char *shm_name);

void rtc_producer_close(struct rtc_producer *p);

/* Take the consumer lease and turn recording on. -RT_EBUSY_CONSUMER when a live consumer holds it
 * (a dead one's lease is taken over). */
int rtc_producer_attach(struct rtc_producer *p);

/* Keep the lease alive; call at least every 100 ms while attached. */
void rtc_producer_heartbeat(struct rtc_producer *p);

/* Give the lease back; recording returns to the producer's idle state. */
void rtc_producer_detach(struct rtc_producer *p);

/* Did the process exit (its handler ran, or the pid is gone)? */
bool rtc_producer_exited(const struct rtc_producer *p);

/* Copy out up to max directory slots that are not free. Returns how many. */
size_t rtc_producer_threads(struct rtc_producer *p, struct rtc_thread_info *out, size_t max);

/* Mark a finished thread's slot drained so the producer can reuse it, and remove its ring. With
 * dead set (the process is gone) the ring is removed whatever the slot's state. */
void rtc_producer_thread_drained(struct rtc_producer *p, uint32_t slot, uint64_t thread_number, bool dead);

/* Name of id, read (and validated) from the name table; "<unknown:N>" style text when the id is
 * out of range or not yet published. The string lives as long as p. */
const char *rtc_producer_name(struct rtc_producer *p, uint32_t id);

/* Current calibration points (stable copies), sorted by raw clock value. Returns count. */
size_t rtc_producer_calibration(struct rtc_producer *p, struct rt_shm_calib_point *out, size_t max);

/* Walk /dev/shm for this user's ringtrace segments: fn(ctx, pid, shm_name, control) for each, where
 * control tells the control segment from thread rings. Returns 0 or -errno. */
int rtc_producer_scan(void (*fn)(void *ctx, pid_t pid, const char *shm_name, bool control), void *ctx);

/* Ring segment name of one of the producer's threads. */
void rtc_producer_ring_name(const struct rtc_producer *p, uint64_t thread_number, char *buf, size_t len);

#endif
