/* SPDX-License-Identifier: MIT */
/* The consumer's view of one traced process: its validated control segment, the attach/detach
 * lease, the thread directory (with its extensions), the task table, the name table and the
 * producer's loss counters. Everything read from the segment is untrusted: every access is
 * bounds-checked and runs under the SIGBUS guard (a truncated segment makes calls fail with
 * -EFAULT, never kills the consumer). One thread at a time per handle, except that
 * rtc_producer_heartbeat() may run in another thread concurrently. */
#ifndef RTC_PRODUCER_H
#define RTC_PRODUCER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/shm-format.h>

struct rtc_dir_ext {
	struct rt_shm_dir_ext *hdr; /* mapping of an untrusted extension segment */
	struct rt_shm_thread_slot *slots;
	size_t map_size;
};

struct rtc_producer {
	pid_t pid;
	uid_t uid;                  /* the producer's effective uid (owner of its segments) */
	char shm_name[RT_SHM_NAME_MAX];
	struct rt_shm_control *ctl; /* mapping of the untrusted segment */
	size_t map_size;
	/* Validated copies of the immutable header (1.2 fields are 0 for older producers). */
	uint32_t abi_minor, header_size;
	uint32_t mode, clock, idle_active;
	uint32_t ring_size, subbuf_size, subbuf_count;
	uint32_t names_capacity, names_offset, arena_offset, arena_size;
	uint32_t threads_offset, threads_capacity, calib_offset, calib_capacity;
	uint32_t tasks_offset, tasks_capacity;
	uint32_t dir_ext_offset, dir_ext_max, dir_ext_capacity;
	uint32_t parent_pid;
	uint32_t session_pid;   /* the recording session's consumer (0: none) */
	uint32_t session_flags; /* enum rt_shm_session_flags */
	uint64_t session_token; /* the recording session it belongs to (0: none) */
	uint64_t start_real_ns, start_mono_ns;
	uint32_t coarse_res_ns; /* resolution of begins taken from the idle clock (0 unknown) */
	char process_name[RT_SHM_PROCESS_NAME_LEN + 1];
	/* Ours while attached, else 0. Atomic: a heartbeat thread reads it while another thread
	 * attaches or detaches (relaxed: it guards no other data). */
	_Atomic uint32_t session;
	/* Name cache: id -> NUL-terminated copy (NULL until read); grows with the ids asked for. */
	char **names;
	uint32_t names_cached;
	/* Directory extensions mapped so far. */
	struct rtc_dir_ext ext[RT_SHM_DIR_EXT_MAX];
	uint32_t ext_mapped;
	/* Rings with a salted name seen by enumeration: thread number -> salt (rtc_producer_ring_name). */
	struct {
		uint64_t thread_number, salt;
	} salted[16];
	uint32_t nsalted;
	/* Why the last open or extension mapping was refused, naming the check or limit. */
	char why[256];
};

struct rtc_thread_info {
	uint32_t slot;  /* global slot index: control directory first, then extensions */
	uint32_t state; /* enum rt_shm_thread_state */
	uint32_t tid;
	uint64_t thread_number;
	uint64_t ring_salt;                 /* 0, or the ring's name is salted (ABI 1.2) */
	char name[RT_SHM_THREAD_NAME_LEN + 1];
	char ring_name[RT_SHM_NAME_MAX];    /* the ring segment's name, ready for rtc_ring_reader_open */
};

/* A task open in the producer (ABI 1.2 task table). */
struct rtc_task_info {
	uint64_t id;
	uint64_t parent;   /* 0: none */
	uint64_t begin_ts; /* the process clock; CLOCK_MONOTONIC ns if coarse */
	uint32_t name_id;
	bool coarse;       /* begin_ts is the idle clock's CLOCK_MONOTONIC ns, at most coarse_res_ns
	                    * early (it began while nothing recorded) */
};

/* What the producer could not record (control segment counters; 1.2 ones are 0 for older
 * producers). */
struct rtc_producer_counts {
	uint64_t thread_overflows; /* threads with no directory slot: not traced */
	uint64_t ring_failures;    /* threads whose ring could not be created (full /dev/shm): not traced */
	uint64_t name_overflows;   /* names refused (table or arena full): recorded as "<overflow>" */
	uint64_t task_overflows;   /* tasks with no table slot: unseen by a consumer attaching later */
	uint64_t lease_expiries;   /* consumers dropped because their heartbeat stopped */
	uint64_t reclaimed;        /* dead processes whose segments this producer removed */
	uint32_t names_count;      /* name ids handed out (at most names_capacity) */
	uint32_t dir_ext_count;    /* directory extensions published */
	uint32_t threads_capacity; /* slots in the directory now, extensions included */
};

/* Open and validate the control segment of pid, whatever user runs it. Refused with -EACCES unless
 * the segment is the caller's (same effective uid) or the caller may ptrace the process (root, or
 * CAP_SYS_PTRACE over it, as /proc/<pid>/mem access decides; a dead process's segments: root only).
 * A segment whose owner differs from the uid in its name (squatted, planted) is never opened.
 * Returns 0, -ENOENT (no segment), -EACCES, -RT_EBADMAGIC (not yet complete), -RT_EABI,
 * -RT_ECORRUPT, -RT_ELIMIT (a count or size beyond docs/format.md 2.5; p->why names it), -errno. */
int rtc_producer_open_pid(struct rtc_producer *p, pid_t pid);

/* Same as rtc_producer_open_pid(); uid is ignored (kept for existing callers). */
int rtc_producer_open(struct rtc_producer *p, pid_t pid, uid_t uid);

/* Same, by control segment name ("/<prefix>.<uid>.<pid>[.x<salt>]"). */
int rtc_producer_open_name(struct rtc_producer *p, const char *shm_name);

void rtc_producer_close(struct rtc_producer *p);

/* Take the consumer lease and turn recording on. -RT_EBUSY_CONSUMER when a live consumer holds it
 * (a dead one's lease is taken over), -EFAULT when the segment faulted. */
int rtc_producer_attach(struct rtc_producer *p);

/* Keep the lease alive; call at least every 100 ms while attached. Any thread. 0 or -EFAULT. */
int rtc_producer_heartbeat(struct rtc_producer *p);

/* Give the lease back; recording returns to the producer's idle state. 0 or -EFAULT (the segment
 * faulted: the lease is ours no more either way). */
int rtc_producer_detach(struct rtc_producer *p);

/* Did the process exit (its handler ran, the pid is gone, or its segment faulted)? */
bool rtc_producer_exited(const struct rtc_producer *p);

/* Call fn for every directory slot with a ring to read (active or finished), extensions included,
 * mapping new extensions as they are announced; each copy is consistent (seqlock-validated). fn
 * runs outside the SIGBUS guard and returns nonzero to stop. Returns how many slots fn was given,
 * or -EFAULT (the segment faulted: the slots before the fault were reported). */
int rtc_producer_each_thread(struct rtc_producer *p, int (*fn)(void *ctx, const struct rtc_thread_info *t),
			     void *ctx);

/* Copy out up to max directory slots that are active or finished. Returns how many. (Prefer
 * rtc_producer_each_thread(): it has no cap.) */
size_t rtc_producer_threads(struct rtc_producer *p, struct rtc_thread_info *out, size_t max);

/* Mark a finished thread's slot drained so the producer can reuse it, and remove its ring. With
 * dead set (the process is gone) the ring is removed whatever the slot's state. Returns 0 (handed
 * back), -EAGAIN when the slot is not finished yet (a 1.0/1.1 producer finishes its ring before its
 * slot: keep the reader and call again later, or the thread is seen a second time), -ESTALE when
 * the slot holds another thread, -EFAULT. */
int rtc_producer_thread_drained(struct rtc_producer *p, uint32_t slot, uint64_t thread_number, bool dead);

/* The process is gone and everything was read: remove its control segment and directory
 * extensions (its rings go with rtc_producer_thread_drained(dead)). 0, -EBUSY (still alive), -errno. */
int rtc_producer_remove(struct rtc_producer *p);

/* Is the lease we took still ours (the producer drops a consumer whose heartbeat stopped for its
 * lease time)? False when not attached or the segment faulted. */
bool rtc_producer_lease_held(struct rtc_producer *p);

/* Call fn for every task that has begun and not ended (ABI 1.2; nothing for older producers), each
 * copy consistent. fn runs outside the guard and returns nonzero to stop. Returns how many tasks
 * fn was given, or -EFAULT. */
int rtc_producer_each_task(struct rtc_producer *p, int (*fn)(void *ctx, const struct rtc_task_info *t), void *ctx);

/* The producer's loss counters. 0 or -EFAULT. */
int rtc_producer_counts(struct rtc_producer *p, struct rtc_producer_counts *c);

/* Name ids handed out so far (at most names_capacity); 0 when the segment faulted. */
uint32_t rtc_producer_names_count(struct rtc_producer *p);

/* Name of id, read (and validated) from the name table; "<unknown>" when the id is out of range or
 * not yet published. The string lives as long as p. */
const char *rtc_producer_name(struct rtc_producer *p, uint32_t id);

/* Current calibration points (stable copies), sorted by raw clock value. Returns count. */
size_t rtc_producer_calibration(struct rtc_producer *p, struct rt_shm_calib_point *out, size_t max);

/* Walk /dev/shm for this user's segments under the prefix: fn(ctx, pid, shm_name, control) for
 * each, where control tells control segments from the others. Returns 0 or -errno. (See
 * segments.h for the full listing, other users' segments and cleaning.) */
int rtc_producer_scan(void (*fn)(void *ctx, pid_t pid, const char *shm_name, bool control), void *ctx);

/* Ring segment name of one of the producer's threads (salted if enumeration saw it salted; prefer
 * rtc_thread_info.ring_name). */
void rtc_producer_ring_name(const struct rtc_producer *p, uint64_t thread_number, char *buf, size_t len);

#endif
