/* SPDX-License-Identifier: MIT */
/* Per-thread producer state: registration in the thread directory, the thread's ring, its
 * open-span stack in shared memory, and the record emission helpers used by the API. */
#ifndef RT_THREAD_H
#define RT_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
	/* The fast reservation's bound: w.sb_end while nothing is due, 0 when a LOSS or STACK record
	 * is pending or a signal handler dropped records (0 until the first record, which goes
	 * through rt__thread_reserve_slow()). Written by handlers too: relaxed atomic accesses. */
	uint64_t fast_end;
	struct rt_shm_ring *ring;
	struct rt_shm_thread_slot *slot;
	uint64_t thread_number;
	uint32_t tid;
	/* Either set: a span takes span.c's gated path (rt__gated(), one test on the fast paths). */
	uint8_t busy; /* inside a record: a signal handler's records are dropped */
	uint8_t cpu;  /* spans sample CPU counters (cpu-stats.h) */
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
	char ring_name[RT_SHM_NAME_MAX];
	uint32_t subbufs_claimed; /* sub-buffers of the ring backed by memory (the first lap's) */
	uint64_t claim_retry_ts;  /* after a failed claim, when to try again */
};

/* The calling thread's state once registered, else NULL. Written only by the thread itself
 * (registration, exit) and by the fork handler; read inline on every record. */
extern __thread struct rt__thread *rt__thread_current __attribute__((tls_model("initial-exec")));

struct rt__thread *rt__thread_self_slow(void);

/* The calling thread's state, registering it on first use. NULL when the library is inert or the
 * thread could not be registered (directory full, no memory): callers then do nothing. */
static inline struct rt__thread *rt__thread_self(void)
{
	struct rt__thread *t = rt__thread_current;

	if (__builtin_expect(t != NULL, 1))
		return t;
	return rt__thread_self_slow();
}

/* The calling thread's state if already registered, else NULL; never registers. */
static inline struct rt__thread *rt__thread_peek(void)
{
	return rt__thread_current;
}

/* A span must take the gated path: inside a record, or the thread's spans sample CPU counters.
 * Two byte loads, not one 16-bit load of both: each is then forwarded from the byte store that
 * set or cleared it in the previous record, where a wider load of a byte just stored cannot be
 * forwarded and waits for the store to reach the cache (that was +3.1 ns per recorded span and
 * +3.8 ns per idle one on the development VM, docs/performance.md). */
static inline bool rt__gated(const struct rt__thread *t)
{
	return (t->busy | t->cpu) != 0;
}

/* Let the call sites end the calling thread's tracked spans inline while only tracking
 * (rt__fast_v2.stack_depth, ringtrace.h), unless its spans sample CPU counters: those ends must
 * come here. t NULL: none may (the thread's ring is going away). Call on every change of t->cpu. */
static inline void rt__thread_sync_fast(const struct rt__thread *t)
{
	rt__fast_v2.stack_depth = t && !t->cpu ? &t->ring->stack_depth : NULL;
}

/* Current value of the process's active word (the one the call sites read: 0 while the library
 * is inert). */
static inline uint32_t rt__active_now(void)
{
	/* Relaxed: only decides whether this call records; no data is read through it. */
	return __atomic_load_n(__atomic_load_n(&rt__active_v1, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

/* Reserve room for a record of at most `max` bytes at ts, writing pending LOSS/STACK records
 * first. NULL when the record must be dropped (counted by the caller with rt__thread_lost()). */
uint8_t *rt__thread_reserve_slow(struct rt__thread *t, size_t max, uint64_t ts);

/* The reservation when nothing else is due: room in the sub-buffer, no LOSS or STACK record
 * pending and no drop by a signal handler to report (fast_end), the same consumer session, no
 * periodic check due. NULL otherwise (then rt__thread_reserve_slow()). */
static inline uint8_t *rt__thread_reserve_fast(struct rt__thread *t, size_t max, uint64_t ts)
{
	/* Relaxed: a new session only means a stack snapshot goes out; no data hangs off it. */
	uint32_t session = atomic_load_explicit(&rt__proc.ctl->session, memory_order_relaxed);

	if (__builtin_expect(t->w.pos + max <= __atomic_load_n(&t->fast_end, __ATOMIC_RELAXED) &&
				     session == t->seen_session && ts < t->next_check_ts,
			     1))
		return rt__ring_ptr(&t->w);
	return NULL;
}

static inline uint8_t *rt__thread_reserve(struct rt__thread *t, size_t max, uint64_t ts)
{
	uint8_t *p = rt__thread_reserve_fast(t, max, ts);

	if (__builtin_expect(p != NULL, 1))
		return p;
	return rt__thread_reserve_slow(t, max, ts);
}

/* Count a record the calling thread could not write (ring full). Not for signal handlers. */
void rt__thread_lost(struct rt__thread *t, uint64_t ts, uint32_t reason);

/* Count a record dropped by a signal handler that interrupted t inside a record: touches only
 * the handler-owned counters, never the interrupted thread's ring state. */
void rt__thread_lost_nested(struct rt__thread *t);

/*
 * The shared open-span stack (struct rt_shm_ring: stack_gen, stack_depth, stack_task,
 * stack_span_seq, stack[]) is written only by its thread and read by consumers with a seqlock
 * (docs/format.md 3, "Stack"):
 *   push, set task      : stack_gen odd, the fields, stack_gen even (rt__stack_write_begin/end)
 *   pop                 : one store of stack_depth, outside the seqlock. It changes no entry, so a
 *                         reader that loaded the larger depth copied a state that existed just
 *                         before the pop; a push that then rewrites an entry bumps stack_gen first.
 */
static inline uint32_t rt__stack_write_begin(struct rt_shm_ring *r)
{
	/* Relaxed: only this thread writes the generation. */
	uint32_t g = atomic_load_explicit(&r->stack_gen, memory_order_relaxed);

	atomic_store_explicit(&r->stack_gen, g + 1, memory_order_relaxed);
	/* Orders the odd generation before the entry stores that follow; pairs with the consumer's
	 * acquire fence between copying entries and re-reading the generation. A no-op on x86. */
	atomic_thread_fence(memory_order_release);
	return g;
}

static inline void rt__stack_write_end(struct rt_shm_ring *r, uint32_t g)
{
	/* Release: the entries are complete before the generation turns even again; pairs with the
	 * consumer's acquire load of stack_gen before it copies. */
	atomic_store_explicit(&r->stack_gen, g + 2, memory_order_release);
}

/* Push an open span at index sd (< RT_SHM_STACK_MAX, the current stack_depth). */
static inline void rt__stack_push(struct rt_shm_ring *r, uint32_t sd, uint64_t begin_ts, uint32_t name_id,
				  uint64_t task, uint32_t flags)
{
	uint64_t seq = r->stack_span_seq + 1;
	uint32_t g = rt__stack_write_begin(r);

	struct rt_shm_stack_entry *e = &r->stack[sd];

	/* Relaxed atomic stores, plain moves on x86: a consumer copies the entries while this thread
	 * may rewrite them (the seqlock discards such a copy), and says so with atomic loads. */
	__atomic_store_n(&e->begin_ts, begin_ts, __ATOMIC_RELAXED);
	__atomic_store_n(&e->span_seq, seq, __ATOMIC_RELAXED);
	__atomic_store_n(&e->task_id, task, __ATOMIC_RELAXED);
	__atomic_store_n(&e->name_id, name_id, __ATOMIC_RELAXED);
	__atomic_store_n(&e->flags, flags, __ATOMIC_RELAXED);
	__atomic_store_n(&r->stack_span_seq, seq, __ATOMIC_RELAXED);
	/* Atomic (relaxed) like the pop's store: readers load the depth without the lock held. */
	__atomic_store_n(&r->stack_depth, sd + 1, __ATOMIC_RELAXED);
	rt__stack_write_end(r, g);
}

/* Pop the innermost entry (stack_depth sd > 0). */
static inline void rt__stack_pop(struct rt_shm_ring *r, uint32_t sd)
{
	/* Relaxed, no generation change: see the table above. */
	__atomic_store_n(&r->stack_depth, sd - 1, __ATOMIC_RELAXED);
}

/* Record helpers shared by the API (each takes care of busy/reserve/commit). */
void rt__thread_emit_misuse(struct rt__thread *t, uint32_t code, uint64_t detail);
void rt__thread_set_task(struct rt__thread *t, uint64_t task);



/* Lifecycle hooks used by the process module. */
void rt__thread_finish(struct rt__thread *t, bool exiting_thread);
void rt__thread_exit(void *arg);
void rt__thread_forget_all(void);
#endif
