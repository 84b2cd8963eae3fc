/* SPDX-License-Identifier: MIT */
/* Process-wide producer state: the control segment, the consumer lease, calibration points,
 * recording sessions, and the exit and fork handlers. */
#ifndef RT_PROCESS_H
#define RT_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/shm-format.h>

#include "config.h"

/* The control segment's layout as this process made it. The producer reads its own copy and
 * never the segment's: any process of the same user can write there (a consumer with a bug, a
 * stray tool), and nothing written there may send the producer's accesses out of bounds. */
struct rt__control_layout {
	uint32_t names_offset, names_capacity, hash_offset, hash_slots, arena_offset, arena_size;
	uint32_t threads_offset, threads_capacity, calib_offset, calib_capacity;
	uint32_t dir_ext_offset, dir_ext_capacity, dir_ext_max;
};

struct rt__process {
	struct rt_shm_control *ctl; /* NULL when the library is inert */
	struct rt__control_layout layout; /* ctl's, kept here (see above) */
	size_t ctl_size;
	char ctl_name[RT_SHM_NAME_MAX];
	uint64_t ctl_ino;         /* for claiming arena memory by name (rt__shm_claim()) */
	struct rt_shm_task_slot *tasks; /* the control segment's task table, NULL when none */
	uint32_t tasks_mask;      /* tasks_capacity - 1 */
	pid_t pid;
	uid_t uid;                /* effective uid: the owner of our segments, and in their names */
	struct rt__config cfg;
	double ticks_per_ns;      /* raw clock ticks per nanosecond (1.0 for monotonic) */
	uint64_t check_interval;  /* ticks between lease/calibration checks (~100 ms) */
	uint64_t lease_timeout;   /* ticks without a heartbeat before a consumer is dropped (lease_ms) */
	uint64_t calib_interval;  /* ticks between calibration points (~1 s) */
};

extern struct rt__process rt__proc;

/* Create the control segment for the current pid. Returns 0 or -errno; on error the library stays
 * inert (every call is a cheap no-op). */
int rt__process_init(void);

/* The control segment, creating it first in a fork()ed child that has not traced yet. NULL when
 * the library is inert. Cheap (one load) once created. */
struct rt_shm_control *rt__process_ensure(void);

/* Periodic work done by whichever recording thread passes `ts` first: consumer lease expiry,
 * calibration points, giving up early recording nobody attached to. Lock-free; cheap when early. */
void rt__process_periodic(uint64_t ts);

/* Next task id (process-unique). */
uint64_t rt__process_next_task_id(void);

/* Does this process record before a consumer attaches (launched by a consumer, or part of a
 * recording session) and keep what it wrote for that consumer? */
bool rt__process_records_early(void);
/* A consumer whose lease we dropped (its heartbeat stopped) is alive and nobody attached since: it
 * will take the lease back and read what we leave. A system call; not for hot paths. */
bool rt__process_dropped_consumer_alive(void);
/* That consumer is alive and thread thread_number began before it was dropped (it may know it). */
bool rt__process_dropped_consumer_knows(uint64_t thread_number);

/* Back ctl's name arena with memory up to byte `end` (names.c, before writing there). 0 or -errno;
 * after a failure every later call fails at once (names then overflow, counted). */
int rt__process_claim_arena(struct rt_shm_control *ctl, uint32_t end);
/* Bytes of the name arena backed by memory so far. */
uint32_t rt__process_arena_claimed(void);

#endif
