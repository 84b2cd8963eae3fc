/* SPDX-License-Identifier: MIT */
/* The live side of the consumer: attaches to running producers, keeps their leases, drains their
 * rings and hands what it read on as the message stream of a raw capture (rawfile.h). */
#ifndef RTC_LIVE_H
#define RTC_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "stream.h"

struct rtc_live_options {
	bool all;   /* attach to every traced process of this user, new ones too (not those of another
		     * consumer's recording session) */
	bool status; /* live one-line status on stderr */
	pid_t self; /* in-process engine: the pid it runs in (the draining thread's own ring is skipped) */
	FILE *log;  /* messages naming the process; NULL: stderr */
	/* For the status line: bytes read but not yet written out, or NULL. */
	size_t (*backlog)(void *ctx);
	void *backlog_ctx;
};

/* Threads: one thread calls everything below; the stream goes to `out` from that thread. A helper
 * thread started by rtc_live_start() heartbeats the leases (it reads the process registry under
 * RCU, liburcu), so a slow drain never lets a lease expire, and draws the status line. */
struct rtc_live;

/* NULL on allocation failure. `out` (with out_ctx) receives the stream and must outlive the handle. */
struct rtc_live *rtc_live_create(const struct rtc_live_options *o, const struct rtc_stream_ops *out, void *out_ctx);

/* Detaches from every process still attached and stops the helper thread. */
void rtc_live_destroy(struct rtc_live *l);

/* Attach to a running traced process. 0, or a negative error already reported (-EBUSY when an
 * earlier attempt was refused). */
int rtc_live_attach(struct rtc_live *l, pid_t pid);

/* A program we launched (with rtc_live_session_env() in its environment): recording goes on while
 * it runs, and it and everything it starts (fork, exec, a shell) are attached as their segments
 * appear, from their first record, also those that ended meanwhile. */
void rtc_live_expect(struct rtc_live *l, pid_t pid);

/* The value of RINGTRACE_SESSION (RT_SHM_SESSION_VAR) for programs we launch. 0, or -ENOENT (no
 * session: the in-process engine). */
int rtc_live_session_env(const struct rtc_live *l, char *buf, size_t len);

/* Earliest start time (CLOCK_MONOTONIC ns) of the processes attached so far, 0 if none. */
uint64_t rtc_live_origin(const struct rtc_live *l);

/* Start the lease and status thread. 0 or -errno. */
int rtc_live_start(struct rtc_live *l);

struct rtc_live_poll {
	uint64_t now;  /* CLOCK_MONOTONIC ns the poll started */
	bool backlog;  /* a ring was left with records in it: poll again at once */
	bool attached; /* some process is attached or awaited */
};

/* Drain every attached process once (with read_rings false only look for new and exited
 * processes: the caller is applying back-pressure) and end with a watermark message. */
void rtc_live_poll(struct rtc_live *l, bool read_rings, struct rtc_live_poll *res);

/* From now on every poll reads each ring to its last committed record, the sub-buffer its writer
 * is filling included (for the final drain; before, a ring whose writer closed a sub-buffer since
 * the last poll has that one read at the next). */
void rtc_live_read_all(struct rtc_live *l);

/* When the last poll ended (CLOCK_MONOTONIC ns), 0 before the first; any thread. */
uint64_t rtc_live_last_poll(const struct rtc_live *l);

/* End of recording at end_ns: the last watermark and the end message; detach from everything. */
void rtc_live_finish(struct rtc_live *l, uint64_t end_ns);

struct rtc_live_counts {
	uint64_t records, bytes, lost; /* read from the rings; lost: reported by finished rings */
	const char *clock;             /* "tsc" if any producer uses the TSC, else "monotonic" */
};

void rtc_live_counts(const struct rtc_live *l, struct rtc_live_counts *c);

#endif
