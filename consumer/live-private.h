/* SPDX-License-Identifier: MIT */
/* Internals shared by the live side's two halves: live.c (draining, the lease thread, the stream's
 * watermarks) and live-attach.c (finding processes, attaching, following a recording session). */
#ifndef RTC_LIVE_PRIVATE_H
#define RTC_LIVE_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include "clockmap.h"
#include "live.h"
#include "producer.h"
#include "ring-reader.h"
#include "segments.h"

/* liburcu is not built with ThreadSanitizer: the publication of a process in the registry
 * (cds_lfht_add's store-release, the helper's dependent load) and the grace period that retires
 * it (synchronize_rcu) are invisible to it. These say where they are. */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define RCU_PUBLISHED(p) __tsan_release(p)
#define RCU_ACQUIRED(p) __tsan_acquire(p)
#else
#define RCU_PUBLISHED(p) ((void)(p))
#define RCU_ACQUIRED(p) ((void)(p))
#endif

struct lproc {
	struct cds_lfht_node node; /* in l->registry while attached (the lease thread beats it) */
	uint32_t index;            /* the stream's process index once attached: dense over attached ones */
	pid_t pid;
	bool attached;  /* the producer handle is open and attached */
	bool gone;      /* exited and drained, or refused */
	bool refused;   /* attach failed; -a retries it after retry_ns */
	bool retired;   /* done with for good: a new segment of this pid is a new process */
	bool from_start; /* launched by us or in our session: recorded from its first record */
	uint64_t retry_ns;
	uint64_t sampled_ns;
	uint64_t lease_ok_ns; /* the last poll that found the lease still ours */
	struct rtc_producer p;
	struct rtc_clockmap clock;
	uint64_t attach_ns;
	uint32_t names_sent;
	struct rtc_producer_counts counts_sent;
	uint64_t counts_ns; /* when the counters were last looked at */
	/* Directory slot -> thread index (-1 none) and the thread number it held; grows with the
	 * slots the producer uses (extensions go up to 65,792). */
	int32_t *slot_thread;
	uint64_t *slot_number;
	uint32_t nslots;
	char name[RT_SHM_PROCESS_NAME_LEN + 1];
	char segment[RT_SHM_NAME_MAX]; /* its control segment's name, once attached */
};

struct lthread {
	uint32_t proc;
	uint32_t slot;
	uint64_t thread_number;
	bool open;    /* ring reader open */
	bool backlog; /* the last poll stopped before the end of its ring */
	struct rtc_ring_reader r;
	uint64_t records_seen; /* of r.records, already counted in l->records */
	uint64_t last_ts; /* CLOCK_MONOTONIC ns: no record still to read from it is older */
	uint64_t lost;    /* dropped by the producer plus overwritten before we read, so far */
	/* Its shared open-span stack, read once while it commits nothing (live.c, send_stack()), and
	 * once more after each lease retake (the producer tracked spans without recording). */
	uint64_t open_commit;  /* its commit position when we opened it (or retook the lease) */
	uint32_t quiet_gen, quiet_depth; /* the stack as the previous poll saw it, if quiet */
	bool quiet, stack_done;
	bool retaken; /* open_commit is to be taken again */
};

/* Control segment names: those not ours to attach (another session's, squatted, refused), not
 * opened again before `until`; those not complete yet, looked at again at the next poll. */
struct lname {
	char name[RT_SHM_NAME_MAX];
	uint64_t until;
};

struct lnames {
	struct lname *v;
	size_t n, cap;
};

struct rtc_live {
	struct rtc_live_options o;
	const struct rtc_stream_ops *out;
	void *out_ctx;
	struct cds_lfht *registry; /* pid -> lproc, read by the helper thread under RCU */
	struct lproc **procs;
	size_t nprocs, procs_cap;
	uint32_t next_index; /* stream process indices handed out */
	struct lthread *threads;
	size_t nthreads, threads_cap;
	pid_t *expected;     /* launched programs: recording goes on while they live */
	size_t nexpected;
	bool read_all;       /* rtc_live_read_all(): no ring's open sub-buffer is left for later */
	struct rtc_session session; /* token 0: none (the in-process engine) */
	struct lnames skip, pending;
	int inotify_fd;       /* /dev/shm watched for new names, or -1 */
	uint64_t rescan_ns;   /* next time /dev/shm is read whole */
	uint64_t origin_ns;
	uint64_t start_ns;
	uint64_t lost_closed; /* of rings already closed */
	bool tsc;
	/* Written by the draining thread, read by the helper for the status line (relaxed:
	 * gauges, they order nothing). */
	_Atomic uint64_t records, bytes, lost;
	_Atomic uint64_t polled_ns; /* end of the last poll (relaxed: a hint for the processing thread) */
	pthread_t helper;
	_Atomic int helper_stop;
	bool helper_running;
};

uint64_t rtc_live_mono_ns(void);
void rtc_live_say(struct rtc_live *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* live-attach.c */
struct lproc *rtc_live_new_proc(struct rtc_live *l, pid_t pid);
int rtc_live_attach_proc(struct rtc_live *l, struct lproc *p, const char *shm_name, bool quiet);
/* Start watching /dev/shm (at create). */
void rtc_live_watch(struct rtc_live *l);
/* Look for processes to attach (-a, the session, launched programs), once per poll. */
void rtc_live_find(struct rtc_live *l);
/* Names published since the last call. */
void rtc_live_send_names(struct rtc_live *l, struct lproc *p);
/* The producer's counters when they changed; a lease the producer dropped taken back (with a gap
 * in the stream). 0, or -EBUSY: another consumer has the process now (stop reading it). */
int rtc_live_proc_state(struct rtc_live *l, struct lproc *p, uint64_t now);
/* The counters once more (a process done with, or the end of recording). */
void rtc_live_final_counts(struct rtc_live *l, struct lproc *p);

#endif
