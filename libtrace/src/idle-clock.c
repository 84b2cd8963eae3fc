/* SPDX-License-Identifier: MIT */
/* The idle clock's helper thread: it keeps a cached CLOCK_MONOTONIC time fresh while spans are
 * begun with nothing recording, parks when that stops, and is woken by the next such begin. */
#include "idle-clock.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "process.h"

/* The first run after a wake lasts this long; runs double while wakes come soon after parking. */
#define RUN_MIN_NS 1000000000ull
#define RUN_MAX_NS (64 * RUN_MIN_NS)

/* CLOCK_MONOTONIC ns with bit 0 set while the ticker keeps it fresh; bit 0 clear: read the
 * clock yourself. 0 until a ticker runs. */
_Atomic uint64_t rt__idle_clock_word;

/* 1 while the ticker is parked (futex word): the reader that exchanges it to 0 wakes it. */
static _Atomic uint32_t parked;
/* 0: no ticker yet; 1: started (or never to be, in a fork()ed child). */
static _Atomic uint32_t started;
/* The fork handler is registered once per process image (children inherit it). */
static _Atomic uint32_t fork_handler;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	rt__clock_gettime_fast(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void publish(uint64_t now)
{
	/* Relaxed: readers only take the value. */
	atomic_store_explicit(&rt__idle_clock_word, now | 1, memory_order_relaxed);
}

static void park(uint64_t now)
{
	/* Parked first, then the clear bit 0 readers react to. Release: a reader that sees bit 0
	 * clear (its load pairs with this store) also sees parked = 1 and wakes us. */
	atomic_store_explicit(&parked, 1, memory_order_relaxed);
	atomic_store_explicit(&rt__idle_clock_word, now & ~(uint64_t)1, memory_order_release);
	/* Acquire pairs with the waking reader's exchange. A spurious or early return re-checks. */
	while (atomic_load_explicit(&parked, memory_order_acquire) == 1)
		syscall(SYS_futex, &parked, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
}

static void *ticker(void *arg)
{
	const struct timespec tick = { 0, RT_IDLE_CLOCK_TICK_NS };
	uint64_t run = RUN_MIN_NS;

	(void)arg;
	prctl(PR_SET_NAME, "ringtrace-clock", 0, 0, 0);
	for (;;) {
		uint64_t now = mono_ns(), until = now + run, parked_at, woken_at;

		publish(now);
		while (now < until) {
			nanosleep(&tick, NULL);
			now = mono_ns();
			publish(now);
		}
		parked_at = now;
		park(now);
		woken_at = mono_ns();
		/* Woken soon after parking: spans keep coming, run longer next time. */
		if (woken_at - parked_at < run / 4)
			run = run * 2 < RUN_MAX_NS ? run * 2 : RUN_MAX_NS;
		else
			run = RUN_MIN_NS;
	}
	return NULL;
}

uint64_t rt__idle_clock_slow(void)
{
	/* The coarse clock lags CLOCK_MONOTONIC by up to a tick: never go below what the ticker
	 * published last, so a span never seems to begin before one begun earlier. */
	uint64_t now = rt__coarse_ns(), last = atomic_load_explicit(&rt__idle_clock_word, memory_order_relaxed) & ~1ull;

	if (last > now)
		now = last;

	/* Relaxed check first: only one of the readers that find the ticker parked makes the call.
	 * The exchange's acquire/release pairs with park(). */
	if (atomic_load_explicit(&parked, memory_order_relaxed) == 1 &&
	    atomic_exchange_explicit(&parked, 0, memory_order_acq_rel) == 1)
		syscall(SYS_futex, &parked, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return now;
}

void rt__idle_clock_start(void)
{
	uint32_t expect = 0;
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t th;
	int err;

	if (rt__proc.cfg.idle_active != RT_SHM_ACTIVE_TRACK || rt__proc.cfg.track_tsc)
		return;
	if (atomic_load_explicit(&started, memory_order_relaxed) ||
	    !atomic_compare_exchange_strong_explicit(&started, &expect, 1, memory_order_relaxed, memory_order_relaxed))
		return;
	if (!atomic_exchange_explicit(&fork_handler, 1, memory_order_relaxed))
		pthread_atfork(NULL, NULL, rt__idle_clock_forget);
	/* The helper takes no signal of the application's: it is created with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	err = pthread_create(&th, &attr, ticker, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Without it, every idle begin reads the coarse clock itself (rt__idle_clock_slow()). */
	(void)err;
}

uint32_t rt__idle_clock_res_ns(void)
{
	uint32_t coarse = rt__clock_coarse_res_ns();

	return coarse > RT_IDLE_CLOCK_TICK_NS ? coarse : RT_IDLE_CLOCK_TICK_NS;
}

void rt__idle_clock_forget(void)
{
	atomic_store_explicit(&rt__idle_clock_word, 0, memory_order_relaxed);
	atomic_store_explicit(&parked, 0, memory_order_relaxed);
	/* `started` stays 1: the parent had a helper thread, so it was multithreaded, and until it
	 * calls exec() the child may not create threads (POSIX: only async-signal-safe calls after
	 * such a fork; ThreadSanitizer refuses it). This child reads the coarse clock at each idle
	 * begin instead (rt__idle_clock_slow()). */
}
