/* SPDX-License-Identifier: MIT */
/* The merge of every thread's decoded events onto one timeline: per-thread FIFO queues and a k-way
 * heap, emitting in (timestamp, process, thread, arrival) order up to a watermark. */
#ifndef RTC_MERGE_H
#define RTC_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "rebuild.h"

/* One thread at a time: the processing thread owns the merge. */
struct rtc_merge;

struct rtc_merge *rtc_merge_create(void);

/* Frees every event still queued (their strings and stacks included). */
void rtc_merge_destroy(struct rtc_merge *m);

/* Declare thread index `thread` (dense, from 0) of process index `proc` (the tie breaker). 0 or
 * -ENOMEM. */
int rtc_merge_thread(struct rtc_merge *m, uint32_t thread, uint32_t proc);

/* An event at the tail of thread's queue with its thread set and no str or stack; the caller sets
 * ts, kind and the fields of its kind. NULL on allocation failure or an undeclared thread. */
struct rtc_event *rtc_merge_push(struct rtc_merge *m, uint32_t thread);

/* Emit, in order, every queued event with ts <= watermark to fn, then free its str and stack.
 * An event older than one already emitted (committed after the watermark passed it) still comes
 * out, in its thread's order, and is counted as late. Returns how many were emitted. pause(pause_ctx), if
 * not NULL, is called every 4096 events: a chance for the caller to step aside. */
size_t rtc_merge_until(struct rtc_merge *m, uint64_t watermark, void (*fn)(void *ctx, const struct rtc_event *ev),
		       void *ctx, void (*pause)(void *pause_ctx), void *pause_ctx);

/* The threads whose queue the last rtc_merge_until() emptied (valid until the next call). */
const uint32_t *rtc_merge_drained(const struct rtc_merge *m, size_t *n);

/* Events queued on a thread, and in all. */
size_t rtc_merge_queued(const struct rtc_merge *m, uint32_t thread);
size_t rtc_merge_total(const struct rtc_merge *m);

/* Newest timestamp emitted so far, and late events. */
uint64_t rtc_merge_emitted_ts(const struct rtc_merge *m);
uint64_t rtc_merge_late(const struct rtc_merge *m);

#endif
