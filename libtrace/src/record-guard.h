/* SPDX-License-Identifier: MIT */
/* The record guard shared by every producer API file: a thread's busy flag around each record
 * (signal safety), and the count of records a signal handler dropped because of it. */
#ifndef RT_RECORD_GUARD_H
#define RT_RECORD_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>

#include "thread.h"

/* Signal safety: a handler that interrupts a record on the same thread sees busy set and drops
 * its own records (counted). The signal fences keep the compiler from moving ring writes outside
 * the busy window; no hardware ordering is needed within one thread. */
static inline bool record_enter(struct rt__thread *t)
{
	if (__builtin_expect(t->busy, 0))
		return false;
	t->busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	return true;
}

static inline void record_leave(struct rt__thread *t)
{
	atomic_signal_fence(memory_order_seq_cst);
	t->busy = 0;
}

static inline void record_nested_drop(struct rt__thread *t)
{
	/* Counted here, reported by the interrupted thread's next LOSS record. */
	if (rt__active_now() == RT_SHM_ACTIVE_ON)
		rt__thread_lost_nested(t);
}

#endif
