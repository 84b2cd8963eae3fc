/* SPDX-License-Identifier: MIT */
/* The live trace stream as a pipeline subscriber: rebuilt events to Chrome JSON batches for every
 * /trace client, each client's start from the pipeline's snapshot, and B/E for what it got open. */
#ifndef RTC_WS_TRACE_H
#define RTC_WS_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "sink.h"
#include "ws.h"

/*
 * Wiring (all on the pipeline's processing thread):
 *
 *   rtc_ws_create(&opts, &ws);
 *   rtc_ws_trace_create(ws, snapshot, pipeline, &wt);
 *   add rtc_ws_trace_sink(wt) to the pipeline, from the trace's begin on;
 *   right after the sink's begin, before the first event: rtc_ws_trace_pump(wt) (the /trace.json
 *   file joins at the first pump, like a client: what it misses before, it only has as snapshot);
 *   between two events, every 10-100 ms (also when idle): rtc_ws_trace_pump(wt);
 *   once a second: rtc_ws_publish_stats(ws, json, len);
 *   at the end: the pipeline calls the sink's end and close; then
 *   rtc_ws_trace_destroy(wt); rtc_ws_destroy(ws);
 *
 * `snapshot` is called from rtc_ws_trace_pump() when a client arrives. It feeds `into->ops->event`
 * with what is open after the last event the sink got: RTC_OUT_PROCESS and RTC_OUT_THREAD for every
 * known process and thread, RTC_OUT_SPAN_OPEN for every open span, RTC_OUT_TASK_BEGIN for every open
 * task, in any order (they are sorted by time, metadata first). Each span given open must later
 * arrive as RTC_OUT_SPAN with the same pid, tid, thread_number and span_seq: that client then gets
 * an "E" for it where every other client gets the "X". A flow end ("f") reaches only clients that
 * got its start. Everything else goes to every client as is.
 */
typedef void (*rtc_ws_snapshot_cb)(void *ctx, const struct rtc_sink *into);

struct rtc_ws_trace;

/* \return 0, -ENOMEM. snapshot may be NULL (clients then get only what follows their arrival). */
int rtc_ws_trace_create(struct rtc_ws *ws, rtc_ws_snapshot_cb snapshot, void *ctx, struct rtc_ws_trace **out);

/* The subscriber (RTC_SINK_VERSION). Its close flushes and returns 0; it does not free. */
struct rtc_sink rtc_ws_trace_sink(struct rtc_ws_trace *wt);

/**
 * Send what is batched, then admit new clients (each gets its snapshot) and forget departed ones.
 * Before the sink's begin, clients wait (times are relative to the trace's origin).
 * \return clients admitted.
 */
int rtc_ws_trace_pump(struct rtc_ws_trace *wt);

/* Events given to the sink so far (snapshots not counted). */
uint64_t rtc_ws_trace_events(const struct rtc_ws_trace *wt);

void rtc_ws_trace_destroy(struct rtc_ws_trace *wt);

/*
 * The per-client helper, for a caller that formats itself: the spans one client got open.
 * rtc_ws_opens_add() when its snapshot has an RTC_OUT_SPAN_OPEN; for each RTC_OUT_SPAN later,
 * rtc_ws_opens_take() says whether this client needs the "E" form (and forgets the span).
 */
struct rtc_ws_opens {
	struct rtc_ws_open_key *slots;
	size_t cap, n;
};

int rtc_ws_opens_add(struct rtc_ws_opens *s, const struct rtc_out *open_span);
bool rtc_ws_opens_take(struct rtc_ws_opens *s, const struct rtc_out *span);
void rtc_ws_opens_free(struct rtc_ws_opens *s);

#endif
