/* SPDX-License-Identifier: MIT */
/* The producer's configuration: RINGTRACE_* environment variables read once at library load,
 * clamped to the format's limits (docs/format.md section 7). */
#ifndef RT_CONFIG_H
#define RT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct rt__config {
	uint32_t mode;        /* enum rt_shm_mode */
	uint32_t ring_size;   /* bytes per thread ring */
	uint32_t sb_count;
	uint32_t idle_active; /* enum rt_shm_active with no consumer */
	bool track_tsc;       /* RINGTRACE_TRACK_SPANS=1: idle begin times from the process clock,
	                       * not the coarse clock */
	uint32_t clock;       /* enum rt_shm_clock */
	uint32_t task_slots;  /* shared task table size (power of two) */
	uint32_t keep_dead;   /* overwrite mode: dead processes' segments kept for post-mortem reading */
	uint64_t keep_dead_bytes; /* ... and their total size */
	uint32_t lease_ms;    /* a consumer whose heartbeat stops this long is dropped */
	uint32_t exit_wait_ms; /* recording early at exit: how long to wait for the consumer to attach */
	bool disabled;        /* RINGTRACE_DISABLE=1: create nothing */
	bool from_start;      /* RINGTRACE_RECORD_FROM_START=1: record before a consumer attaches,
	                       * and at exit give a consumer launching us time to attach */
	/* Recording session (RINGTRACE_SESSION, or the user's marker for `record -a`): record from the
	 * first record, and keep the segments for that consumer. session_pid 0: none. */
	pid_t session_pid;
	uint64_t session_token;
	uint32_t session_flags; /* enum rt_shm_session_flags */
};

/* Parse a size with optional K/M/G suffix; 0 on error. */
uint64_t rt__parse_size(const char *s);

/* Read RINGTRACE_* variables into cfg (the session comes from rt__session_find()). */
void rt__config_from_env(struct rt__config *cfg);

/* Parse "<pid>:<token hex>" (RINGTRACE_SESSION and marker contents). Returns 0 or -EINVAL. */
int rt__session_parse(const char *s, pid_t *pid, uint64_t *token);

/* Find this process's recording session: RINGTRACE_SESSION, else the user's marker in /dev/shm
 * naming a live consumer (`record -a`). Fills cfg's session fields. Reads the marker with read(),
 * never maps it: a hostile or truncated file cannot fault the program. */
void rt__session_find(struct rt__config *cfg, uid_t uid);

/* Is the session's consumer still alive (and not a later process that reused its pid: it must have
 * started before this process)? */
bool rt__session_alive(const struct rt__config *cfg);

#endif
