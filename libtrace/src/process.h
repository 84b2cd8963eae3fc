/* SPDX-License-Identifier: MIT */
/* Process-wide producer state: configuration from the environment, the control segment, the
 * consumer lease, calibration points, and the exit and fork handlers. */
#ifndef RT_PROCESS_H
#define RT_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/shm-format.h>

struct rt__config {
	uint32_t mode;        /* enum rt_shm_mode */
	uint32_t ring_size;   /* bytes per thread ring */
	uint32_t sb_count;
	uint32_t idle_active; /* enum rt_shm_active with no consumer */
	bool track_tsc;       /* RINGTRACE_TRACK_SPANS=1: idle begin times from the process clock,
	                       * not the coarse clock */
	uint32_t clock;       /* enum rt_shm_clock */
	bool disabled;        /* RINGTRACE_DISABLE=1: create nothing */
	bool from_start;      /* RINGTRACE_RECORD_FROM_START=1: record before a consumer attaches,
	                       * and at exit give a consumer launching us time to attach */
};

struct rt__process {
	struct rt_shm_control *ctl; /* NULL when the library is inert */
	size_t ctl_size;
	char ctl_name[96];
	pid_t pid;
	uid_t uid;
	struct rt__config cfg;
	double ticks_per_ns;      /* raw clock ticks per nanosecond (1.0 for monotonic) */
	uint64_t check_interval;  /* ticks between lease/calibration checks (~100 ms) */
	uint64_t lease_timeout;   /* ticks without a heartbeat before a consumer is dropped (~1 s) */
	uint64_t calib_interval;  /* ticks between calibration points (~1 s) */
};

extern struct rt__process rt__proc;

/* Parse a size with optional K/M/G suffix; 0 on error. */
uint64_t rt__parse_size(const char *s);

/* Read RINGTRACE_* variables into cfg. */
void rt__config_from_env(struct rt__config *cfg);

/* Create the control segment for the current pid. Returns 0 or -errno; on error the library stays
 * inert (every call is a cheap no-op). */
int rt__process_init(void);

/* The control segment, creating it first in a fork()ed child that has not traced yet. NULL when
 * the library is inert. Cheap (one load) once created. */
struct rt_shm_control *rt__process_ensure(void);

/* Periodic work done by whichever recording thread passes `ts` first: consumer lease expiry and
 * calibration points. Lock-free; cheap when called early. */
void rt__process_periodic(uint64_t ts);

/* Next task id (process-unique). */
uint64_t rt__process_next_task_id(void);

#endif
