/* SPDX-License-Identifier: MIT */
/* The idle clock: a cached CLOCK_MONOTONIC time, kept fresh by a helper thread, that stamps the
 * begin of spans opened while nothing records. */
#ifndef RT_IDLE_CLOCK_H
#define RT_IDLE_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * Begin times of spans opened while nothing records (RT_SHM_STACK_COARSE).
 * Reading even the coarse clock costs more than the whole of such a span may (docs/performance.md),
 * so a helper thread, started with the first traced thread, stores CLOCK_MONOTONIC every
 * RT_IDLE_CLOCK_TICK_NS into rt__idle_clock_word, with bit 0 set while it keeps doing so. It runs
 * for a second (longer when it keeps being woken soon after parking), then parks; a begin that
 * finds it parked reads the coarse clock itself and wakes it. So an idle begin time is CLOCK_MONOTONIC nanoseconds at most
 * rt__idle_clock_res_ns() before the true begin (later only if the helper thread is starved of
 * CPU for longer than that), and never after it.
 *
 * Synchronization (ticker = the helper thread, reader = any thread beginning a span):
 *   ticker store  vs  reader load : none needed; the word is one atomic value (relaxed both ways)
 *   park / wake                   : park word, exchanged by the reader, futex-waited by the ticker
 */
#define RT_IDLE_CLOCK_TICK_NS 4000000u

extern _Atomic uint64_t rt__idle_clock_word;

uint64_t rt__idle_clock_slow(void);

static inline uint64_t rt__idle_now(void)
{
	/* Relaxed: a timestamp, nothing is read through it. */
	uint64_t w = atomic_load_explicit(&rt__idle_clock_word, memory_order_relaxed);

	if (__builtin_expect(w & 1, 1))
		return w & ~(uint64_t)1;
	return rt__idle_clock_slow();
}

/* Start the helper thread if idle tracking with the coarse clock is configured and it is not
 * running. Not async-signal-safe (it creates a thread): called where a thread registers. */
void rt__idle_clock_start(void);

/* Worst lag of rt__idle_now() behind CLOCK_MONOTONIC, in ns (what the control segment's
 * coarse_res_ns states). */
uint32_t rt__idle_clock_res_ns(void);

/* In a fork()ed child (a fork handler): the helper thread did not survive, and none is started
 * in the child; its idle begins read the coarse clock themselves. */
void rt__idle_clock_forget(void);

#endif
