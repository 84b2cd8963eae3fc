/* SPDX-License-Identifier: MIT */
/* The consumer lease on a producer (docs/format.md 5): attach, heartbeat, detach and the exit
 * check, every access to the producer's segment under the SIGBUS guard. */
#include "producer.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "safe-copy.h"
#include "segments.h"

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

struct lease_call {
	struct rtc_producer *p;
	uint32_t token;
	int err;
};

static void attach_call(void *arg)
{
	struct lease_call *a = arg;
	struct rt_shm_control *c = a->p->ctl;
	uint32_t cur = 0;

	/* acq_rel: we read the previous consumer's state if we take over, and our consumer_pid and
	 * heartbeat writes below are ordered after winning. */
	if (!atomic_compare_exchange_strong_explicit(&c->session, &cur, a->token, memory_order_acq_rel,
						    memory_order_acquire)) {
		uint32_t holder = atomic_load_explicit(&c->consumer_pid, memory_order_relaxed);

		if (holder != 0 && pid_alive((pid_t)holder)) {
			a->err = -RT_EBUSY_CONSUMER;
			return;
		}
		/* The holder died without detaching: take its lease over. */
		if (!atomic_compare_exchange_strong_explicit(&c->session, &cur, a->token, memory_order_acq_rel,
							    memory_order_acquire)) {
			a->err = -RT_EBUSY_CONSUMER;
			return;
		}
	}
	atomic_store_explicit(&c->consumer_pid, (uint32_t)getpid(), memory_order_relaxed);
	atomic_fetch_add_explicit(&c->heartbeat, 1, memory_order_relaxed);
	/* Relaxed: a producer exiting only asks whether anyone ever attached (then it does not wait
	 * for one at exit); `session`, set above, already says so while we are attached. */
	atomic_fetch_add_explicit(&c->attaches, 1, memory_order_relaxed);
	/* Relaxed: producers only test the word; they snapshot their stacks when they next see
	 * the new session. */
	atomic_store_explicit(&c->active, RT_SHM_ACTIVE_ON, memory_order_relaxed);
	a->err = 0;
}

int rtc_producer_attach(struct rtc_producer *p)
{
	struct lease_call a = { p, 0, 0 };

	if (getrandom(&a.token, sizeof(a.token), GRND_NONBLOCK) != (ssize_t)sizeof(a.token)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		a.token = ((uint32_t)getpid() << 8) ^ (uint32_t)ts.tv_nsec;
	}
	if (a.token == 0)
		a.token = 1;
	if (rtc_safe_call(attach_call, &a) < 0)
		return -EFAULT;
	if (a.err == 0)
		atomic_store_explicit(&p->session, a.token, memory_order_relaxed);
	return a.err;
}

static void heartbeat_call(void *arg)
{
	struct rtc_producer *p = arg;

	atomic_fetch_add_explicit(&p->ctl->heartbeat, 1, memory_order_relaxed);
}

int rtc_producer_heartbeat(struct rtc_producer *p)
{
	if (!atomic_load_explicit(&p->session, memory_order_relaxed))
		return 0;
	return rtc_safe_call(heartbeat_call, p);
}

static void detach_call(void *arg)
{
	struct lease_call *a = arg;
	struct rt_shm_control *c = a->p->ctl;

	/* Only if the lease is still ours (the producer may have expired it). */
	if (atomic_compare_exchange_strong_explicit(&c->session, &a->token, 0, memory_order_acq_rel,
						   memory_order_relaxed)) {
		atomic_store_explicit(&c->active, a->p->idle_active, memory_order_relaxed);
		atomic_store_explicit(&c->consumer_pid, 0, memory_order_relaxed);
	}
}

int rtc_producer_detach(struct rtc_producer *p)
{
	struct lease_call a = { p, atomic_exchange_explicit(&p->session, 0, memory_order_relaxed), 0 };

	if (!a.token || !p->ctl)
		return 0;
	return rtc_safe_call(detach_call, &a);
}

struct load32 {
	const _Atomic uint32_t *p;
	uint32_t v;
};

static void load32_acquire(void *arg)
{
	struct load32 *l = arg;

	l->v = atomic_load_explicit(l->p, memory_order_acquire);
}

bool rtc_producer_exited(const struct rtc_producer *p)
{
	/* Acquire pairs with the producer's release of `exited` after finishing its rings. */
	struct load32 l = { &p->ctl->exited, 0 };

	if (rtc_safe_call(load32_acquire, &l) < 0)
		return true; /* its segment is gone from under us: nothing more will come */
	return l.v != 0 || !rtc_segments_pid_is(p->pid, p->start_mono_ns);
}


struct held_call {
	struct rtc_producer *p;
	uint32_t token;
	bool held;
};

static void held_call(void *arg)
{
	struct held_call *a = arg;

	/* Relaxed: a hint, re-checked by the attach CAS if we take it back. */
	a->held = atomic_load_explicit(&a->p->ctl->session, memory_order_relaxed) == a->token;
}

bool rtc_producer_lease_held(struct rtc_producer *p)
{
	struct held_call a = { p, atomic_load_explicit(&p->session, memory_order_relaxed), false };

	if (!a.token || !p->ctl || rtc_safe_call(held_call, &a) < 0)
		return false;
	return a.held;
}
