/* SPDX-License-Identifier: MIT */
/* Per-thread producer state: registration in the thread directory, the thread's ring, its
 * open-span stack in shared memory, and the record emission helpers used by the API. */
#ifndef RT_THREAD_H
#define RT_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include <ringtrace/ringtrace.h>
#include <ringtrace/shm-format.h>

#include "clock.h"
#include "process.h"
#include "ring.h"

enum rt__pending {
	RT_PENDING_LOSS = 1u << 0,  /* write a LOSS record before the next one */
	RT_PENDING_STACK = 1u << 1, /* write a STACK snapshot before the next one */
};

struct rt__thread {
	struct rt__ring_writer w;
	struct rt_shm_ring *ring;
	struct rt_shm_thread_slot *slot;
	uint64_t thread_number;
	uint32_t tid;
	/* gate: nonzero when a span must take api.c's gated path (one test on the span fast paths). */
	union {
		uint16_t gate;
		struct {
			uint8_t busy; /* inside a record: a signal handler's records are dropped */
			uint8_t cpu;  /* spans sample CPU counters (cpu-stats.h) */
		};
	};
	uint32_t pending;      /* enum rt__pending */
	uint32_t seen_session; /* control->session when this thread last recorded */
	uint64_t task;         /* current task id, 0 = background */
	uint64_t lost;         /* records lost since the last LOSS record (not by handlers) */
	/* Records dropped by signal handlers that interrupted this thread inside a record. Only
	 * handlers increment it; the thread reports the difference to nested_reported. */
	volatile uint64_t nested_lost;
	uint64_t nested_reported;
	uint64_t lost_first_ts;
	uint32_t lost_reasons;
	uint64_t next_check_ts;
	char ring_name[96];
};

/* The calling thread's state, registering it on first use. NULL when the library is inert or the
 * thread could not be registered (directory full, no memory): callers then do nothing. */
struct rt__thread *rt__thread_self(void);

/* The calling thread's state if already registered, else NULL; never registers. */
struct rt__thread *rt__thread_peek(void);

/* Current value of the process's active word. */
static inline uint32_t rt__active_now(void)
{
	/* Relaxed: only decides whether this call records; no data is read through it. */
	return atomic_load_explicit(&rt__proc.ctl->active, memory_order_relaxed);
}

/* Reserve room for a record of at most `max` bytes at ts, writing pending LOSS/STACK records
 * first. NULL when the record must be dropped (counted by the caller with rt__thread_lost()). */
uint8_t *rt__thread_reserve_slow(struct rt__thread *t, size_t max, uint64_t ts);

static inline uint8_t *rt__thread_reserve(struct rt__thread *t, size_t max, uint64_t ts)
{
	/* Relaxed: a new session only means a stack snapshot goes out; no data hangs off it. */
	uint32_t session = atomic_load_explicit(&rt__proc.ctl->session, memory_order_relaxed);

	if (__builtin_expect(rt__ring_fits(&t->w, max) && !t->pending && session == t->seen_session &&
				     ts < t->next_check_ts && t->nested_lost == t->nested_reported,
			     1))
		return rt__ring_ptr(&t->w);
	return rt__thread_reserve_slow(t, max, ts);
}

/* Count a record the calling thread could not write (ring full). Not for signal handlers. */
void rt__thread_lost(struct rt__thread *t, uint64_t ts, uint32_t reason);

/* Count a record dropped by a signal handler that interrupted t inside a record: touches only
 * the handler-owned counters, never the interrupted thread's ring state. */
void rt__thread_lost_nested(struct rt__thread *t);

/* Seqlock around changes to the shared open-span stack. */
static inline void rt__stack_write_begin(struct rt_shm_ring *r)
{
	uint32_t g = atomic_load_explicit(&r->stack_gen, memory_order_relaxed);

	atomic_store_explicit(&r->stack_gen, g + 1, memory_order_relaxed);
	/* Orders the odd generation before the entry stores that follow; pairs with the consumer's
	 * acquire fence between copying entries and re-reading the generation. */
	atomic_thread_fence(memory_order_release);
}

static inline void rt__stack_write_end(struct rt_shm_ring *r)
{
	uint32_t g = atomic_load_explicit(&r->stack_gen, memory_order_relaxed);

	/* Release: the entries are complete before the generation turns even again. */
	atomic_store_explicit(&r->stack_gen, g + 1, memory_order_release);
}

/* Record helpers shared by the API (each takes care of busy/reserve/commit). */
void rt__thread_emit_misuse(struct rt__thread *t, uint32_t code, uint64_t detail);
void rt__thread_set_task(struct rt__thread *t, uint64_t task);



/* Lifecycle hooks used by the process module. */
void rt__thread_finish(struct rt__thread *t, bool exiting_thread);
void rt__thread_exit(void *arg);
void rt__thread_forget_all(void);
#endif
