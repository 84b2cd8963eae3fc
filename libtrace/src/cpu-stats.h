/* SPDX-License-Identifier: MIT */
/* CPU statistics of spans (RINGTRACE_CPU_STATS, rt_span_begin_cpu()): the thread's cumulative off-CPU or
 * on-CPU time and context switches, sampled at span begin and end, on a path of its own. */
#ifndef RT_CPU_STATS_H
#define RT_CPU_STATS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Sources, cheapest first (docs/statistics.md "CPU breakdown" has the costs):
 *  - perf: a perf_event_open() dummy event of the thread with context-switch records (PERF_RECORD_SWITCH,
 *    CLOCK_MONOTONIC time stamps) into a small ring mapped in the process. A sample reads the ring's head;
 *    only when the thread was switched out since the last sample are the new records read: their
 *    off-CPU intervals and the preemption flag (involuntary switches). No system call per span.
 *  - clock: clock_gettime(CLOCK_THREAD_CPUTIME_ID): on-CPU nanoseconds as the scheduler counts them, no
 *    context switches; one system call per sample.
 *  - rusage: getrusage(RUSAGE_THREAD): both context-switch counts, exact, but an on-CPU time that only
 *    advances at scheduler ticks and switches (the kernel does not bring it up to date for a running
 *    thread): right for long spans only; one system call per sample.
 * RINGTRACE_CPU_STATS=1 (or "auto") takes perf where the kernel allows it, else clock, per thread (the
 * perf rings count against the user's locked-memory limit); "perf", "clock" and "rusage" force one (perf
 * falling back to clock). Unset or 0: only spans begun with rt_span_begin_cpu() are sampled.
 *
 * Everything here runs on the calling thread inside its busy window (api.c), so signal handlers never
 * interleave with it; it allocates nothing (system calls only) and is async-signal-safe in that sense.
 */

struct rt__cpu_sample {
	uint64_t src;        /* (generation << 2) | enum rt_cpu_src_kind (records.h) */
	uint64_t ns;         /* cumulative off-CPU or on-CPU time, by kind */
	uint64_t vol, invol; /* cumulative context switches */
};

/* For a thread being registered (on it): 1 when every span of it samples (RINGTRACE_CPU_STATS set; the
 * source is opened now), else 0. */
uint8_t rt__cpu_thread_default(void);

/* Sample the calling thread now. false when no source works in this thread. */
bool rt__cpu_sample(struct rt__cpu_sample *s);

/* Spans asked for with rt_span_begin_cpu() while the variable is unset: the one at open-span stack index
 * sd began with a sample (mark), or ends (take: was it marked? it and deeper ones are cleared).
 * rt__cpu_marked() says whether any is open. */
void rt__cpu_mark(uint32_t sd);
bool rt__cpu_take(uint32_t sd);
bool rt__cpu_marked(void);

/* Forget the thread's source (fork()ed child: the parent's ring is not ours). */
void rt__cpu_forget(void);

#endif
