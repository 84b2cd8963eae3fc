/* SPDX-License-Identifier: MIT */
/* Hands the message stream of a live drain (the raw-capture messages) from the thread that drains
 * the rings to the thread that decodes, merges and writes, so slow output never delays draining. */
#ifndef RTC_STREAM_QUEUE_H
#define RTC_STREAM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

/* Threads: exactly one thread feeds the input callbacks and calls rtc_stream_queue_wake(); exactly
 * one other thread calls rtc_stream_queue_deliver(). rtc_stream_queue_bytes() and _failed() may be
 * called from any thread. Messages come out in the order they went in. */
struct rtc_stream_queue;

/* NULL on allocation failure. */
struct rtc_stream_queue *rtc_stream_queue_create(void);

/* Frees the messages still queued. No thread may be using the queue. */
void rtc_stream_queue_destroy(struct rtc_stream_queue *q);

/* The input side (ctx: the queue): each call copies its message (strings and chunk bytes included)
 * onto the queue without blocking, except chunks read into its chunk_buffer, which are queued as
 * they are. A message that cannot be allocated is counted in rtc_stream_queue_failed(). */
const struct rtc_stream_ops *rtc_stream_queue_input(void);

/* After a batch of input: wake the delivering thread if it waits. */
void rtc_stream_queue_wake(struct rtc_stream_queue *q);

/* Deliver the queued messages to ops(ctx), in order, freeing each after its callback returns: all
 * of them, or (max_bytes > 0) until at least max_bytes of them were delivered, the rest coming
 * first at the next call, so that a caller with a long backlog gets back control between pieces
 * of it. When nothing is queued, wait up to timeout_ms for input. Returns the number of messages
 * delivered. */
size_t rtc_stream_queue_deliver(struct rtc_stream_queue *q, const struct rtc_stream_ops *ops, void *ctx,
				unsigned timeout_ms, size_t max_bytes);

/* Bytes of messages queued and not yet delivered (approximate while the other thread runs). */
size_t rtc_stream_queue_bytes(const struct rtc_stream_queue *q);

/* Messages that could not be queued for lack of memory. */
uint64_t rtc_stream_queue_failed(const struct rtc_stream_queue *q);

#endif
