/* SPDX-License-Identifier: MIT */
/* Thread registration, thread exit, and the slow part of record emission (sub-buffer switches,
 * loss and stack-snapshot records, periodic checks). */
#include "thread.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu-stats.h"
#include "encode.h"
#include "idle-clock.h"
#include "names.h"
#include "shm.h"
#include "task.h"
#include "thread-dir.h"
#include "thread-list.h"

#define STACK_RECORD_MAX (RT_REC_MAX_stack + RT_SHM_STACK_MAX * RT_REC_STACK_ENTRY_MAX)
#define LOSS_RECORD_MAX RT_REC_MAX_loss

__thread struct rt__thread *rt__thread_current __attribute__((tls_model("initial-exec")));
/* 1: registration failed or the thread is exiting; 2: registration in progress. */
static __thread int self_state __attribute__((tls_model("initial-exec")));

static void write_thread_start(struct rt__thread *t, uint64_t ts)
{
	struct rt_rec_thread_start rec = {
		.tid = t->tid,
		.thread_number = t->thread_number,
		.name = { t->slot->name.c, (uint32_t)strnlen(t->slot->name.c, RT_SHM_THREAD_NAME_LEN) },
		.pid = (uint64_t)rt__proc.pid,
	};

	/* A fresh ring always has room for the first record. */
	rt__ring_commit(&t->w, rt_rec_put_thread_start(rt__ring_ptr(&t->w), rt__ring_delta(&t->w, ts), &rec));
}

/* Create the thread's ring: under its usual name, or a salted one when another user planted a
 * segment there (the salt goes into the slot for consumers). */
static int create_ring(struct rt__thread *t, const struct rt__ring_config *cfg, uint64_t ts)
{
	uint64_t salt = 0;
	int err;

	for (int i = 0; i < 4; i++) {
		rt__shm_ring_name(t->ring_name, sizeof(t->ring_name), rt__proc.uid, rt__proc.pid, t->thread_number, salt);
		err = rt__ring_create(&t->w, t->ring_name, cfg, ts);
		if (err != -EEXIST)
			break;
		salt = rt__shm_random();
	}
	atomic_store_explicit(&t->slot->ring_salt, err < 0 ? 0 : salt, memory_order_relaxed);
	return err;
}

static struct rt__thread *register_thread(const char *name)
{
	struct rt_shm_control *ctl = rt__proc.ctl;
	struct rt__ring_config cfg;
	struct rt__thread *t;
	char kname[RT_SHM_THREAD_NAME_LEN] = "";
	uint64_t ts;

	self_state = 2;
	/* Whole cache lines of its own: another thread's state next to it in the heap would share
	 * a line with the words every span writes (busy, the ring writer). */
	if (posix_memalign((void **)&t, 64, (sizeof(*t) + 63) & ~(size_t)63) != 0)
		goto error;
	memset(t, 0, sizeof(*t));
	t->slot = rt__dir_claim(ctl);
	if (!t->slot)
		goto error_free;
	t->tid = (uint32_t)syscall(SYS_gettid);
	/* Relaxed: the counter only hands out unique numbers. */
	t->thread_number = atomic_fetch_add_explicit(&ctl->next_thread_number, 1, memory_order_relaxed) + 1;

	cfg = (struct rt__ring_config){
		.ring_size = rt__proc.cfg.ring_size,
		.sb_count = rt__proc.cfg.sb_count,
		.mode = rt__proc.cfg.mode,
		.clock = rt__proc.cfg.clock,
		.pid = (uint32_t)rt__proc.pid,
		.tid = t->tid,
		.thread_number = t->thread_number,
	};
	ts = rt__now();
	if (create_ring(t, &cfg, ts) < 0) {
		/* No memory for it (a full /dev/shm): this thread goes untraced, and says so. */
		atomic_fetch_add_explicit(&ctl->ring_failures, 1, memory_order_relaxed);
		goto error_slot;
	}
	t->ring = t->w.hdr;
	t->subbufs_claimed = 1; /* the first, with the segment */

	if (name)
		rt__dir_set_name(t->slot, name);
	else if (prctl(PR_GET_NAME, kname, 0, 0, 0) == 0)
		rt__dir_set_name(t->slot, kname);
	else
		rt__dir_set_name(t->slot, "thread");
	atomic_store_explicit(&t->slot->tid, t->tid, memory_order_relaxed);
	atomic_store_explicit(&t->slot->thread_number, t->thread_number, memory_order_relaxed);
	/* Release: tid, name, salt and thread number are complete before a consumer sees ACTIVE. */
	atomic_store_explicit(&t->slot->state, RT_SHM_THREAD_ACTIVE, memory_order_release);

	t->seen_session = atomic_load_explicit(&ctl->session, memory_order_relaxed);
	/* A consumer between taking the lease and turning recording on: until this thread sees it on,
	 * it tracks spans without records, so its first record must carry a STACK record, which the
	 * session it saw would not ask for (a consumer counts spans from THREAD_START otherwise). */
	if (t->seen_session && rt__active_now() != RT_SHM_ACTIVE_ON)
		t->seen_session = 0;
	t->next_check_ts = ts + rt__proc.check_interval;
	t->cpu = rt__cpu_thread_default();
	write_thread_start(t, ts);
	rt__thread_list_add(t);
	rt__thread_current = t;
	rt__thread_sync_fast(t);
	self_state = 0;
	return t;

error_slot:
	rt__dir_release(t->slot);
error_free:
	free(t);
error:
	self_state = 1;
	return NULL;
}

struct rt__thread *rt__thread_self_slow(void)
{
	if (rt__thread_current)
		return rt__thread_current;
	if (self_state != 0 || !rt__process_ensure())
		return NULL;
	rt__idle_clock_start();
	return register_thread(NULL);
}

int rt_thread_register(const char *name)
{
	if (rt__thread_current) {
		rt_thread_set_name(name);
		return 0;
	}
	if (!rt__process_ensure())
		return -ENODEV;
	if (self_state == 1)
		return -ENOSPC;
	rt__idle_clock_start();
	return register_thread(name) ? 0 : -ENOSPC;
}

void rt_thread_set_name(const char *name)
{
	struct rt__thread *t = rt__thread_self();
	uint64_t ts;
	uint8_t *p, *q;

	if (!t || t->busy || !name)
		return;
	t->busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	rt__dir_set_name(t->slot, name);
	if (rt__active_now() == RT_SHM_ACTIVE_ON) {
		ts = rt__now();
		p = rt__thread_reserve(t, RT_REC_MAX_thread_name + RT_SHM_THREAD_NAME_LEN, ts);
		if (p) {
			struct rt_rec_thread_name rec = {
				.name = { t->slot->name.c, (uint32_t)strnlen(t->slot->name.c, RT_SHM_THREAD_NAME_LEN) },
			};

			q = rt_rec_put_thread_name(p, rt__ring_delta(&t->w, ts), &rec);
			rt__ring_commit(&t->w, q);
		} else {
			rt__thread_lost(t, ts, RT_LOSS_FULL);
		}
	}
	atomic_signal_fence(memory_order_seq_cst);
	t->busy = 0;
}

void rt__thread_lost(struct rt__thread *t, uint64_t ts, uint32_t reason)
{
	if (t->lost == 0)
		t->lost_first_ts = ts;
	t->lost++;
	t->lost_reasons |= reason;
	t->pending |= RT_PENDING_LOSS | RT_PENDING_STACK;
	__atomic_store_n(&t->fast_end, 0, __ATOMIC_RELAXED);
	atomic_fetch_add_explicit(&t->ring->dropped, 1, memory_order_relaxed);
}

void rt__thread_lost_nested(struct rt__thread *t)
{
	t->nested_lost = t->nested_lost + 1;
	/* The interrupted thread's next record takes the slow path, which reports it. Relaxed: the
	 * same thread reads it (see rt__thread_reserve_slow()). */
	__atomic_store_n(&t->fast_end, 0, __ATOMIC_RELAXED);
	atomic_fetch_add_explicit(&t->ring->nested_dropped, 1, memory_order_relaxed);
}

static void write_loss(struct rt__thread *t, uint64_t ts, uint64_t nested)
{
	uint64_t n = nested - t->nested_reported;
	struct rt_rec_loss rec = {
		.records = t->lost + n,
		/* Handlers do not record when they dropped; the interval then starts at the last record. */
		.first_ts = t->lost ? t->lost_first_ts : t->w.last_ts,
		.reasons = t->lost_reasons | (n ? RT_LOSS_NESTED : 0),
	};

	rt__ring_commit(&t->w, rt_rec_put_loss(rt__ring_ptr(&t->w), rt__ring_delta(&t->w, ts), &rec));
	t->lost = 0;
	t->lost_reasons = 0;
	t->nested_reported = nested;
}

/* A snapshot of the open-span stack: readers that lost records, start mid-ring or attach late
 * resynchronise from it. */
static void write_stack(struct rt__thread *t, uint64_t ts)
{
	struct rt_shm_ring *r = t->ring;
	struct rt_rec_stack rec = {
		.current_task = t->task,
		.span_seq = r->stack_span_seq,
		.entries = { r->stack, r->stack_depth < RT_SHM_STACK_MAX ? r->stack_depth : RT_SHM_STACK_MAX },
	};

	rt__ring_commit(&t->w, rt_rec_put_stack(rt__ring_ptr(&t->w), rt__ring_delta(&t->w, ts), &rec));
}

/* Before the writer first enters a sub-buffer, back it with memory: a full /dev/shm then drops
 * (and counts) records instead of faulting the program. Once per sub-buffer, on the first lap. */
static bool claim_next_subbuf(struct rt__thread *t, uint64_t ts)
{
	struct rt__ring_writer *w = &t->w;
	uint64_t next = w->sb_index + 1;

	if (next >= w->sb_count || next < t->subbufs_claimed)
		return true;
	if (ts < t->claim_retry_ts)
		return false;
	if (rt__shm_claim(t->ring_name, 0, (size_t)(w->data - (uint8_t *)w->hdr) + next * w->sb_size, w->sb_size) < 0) {
		t->claim_retry_ts = ts + rt__proc.check_interval;
		return false;
	}
	t->subbufs_claimed = (uint32_t)next + 1;
	return true;
}

uint8_t *rt__thread_reserve_slow(struct rt__thread *t, size_t max, uint64_t ts)
{
	struct rt__ring_writer *w = &t->w;
	uint64_t nested = t->nested_lost; /* one snapshot: handlers may add more meanwhile */
	uint32_t session;
	size_t need;

	if (nested != t->nested_reported)
		t->pending |= RT_PENDING_LOSS | RT_PENDING_STACK;
	if (ts >= t->next_check_ts) {
		t->next_check_ts = ts + rt__proc.check_interval;
		rt__process_periodic(ts);
	}
	/* Relaxed: see rt__thread_reserve(). */
	session = atomic_load_explicit(&rt__proc.ctl->session, memory_order_relaxed);
	if (session != t->seen_session) {
		t->seen_session = session;
		if (session)
			t->pending |= RT_PENDING_STACK;
	}
	need = max + ((t->pending & RT_PENDING_LOSS) ? LOSS_RECORD_MAX : 0) +
	       ((t->pending & RT_PENDING_STACK) ? STACK_RECORD_MAX : 0);
	if (!rt__ring_fits(w, need)) {
		if (!claim_next_subbuf(t, ts) || !rt__ring_switch(w, ts))
			return NULL;
		/* A consumer will read the sub-buffer just closed: hand it over out of our caches
		 * (nobody reading, the flight recorder's lines stay where our next lap writes). */
		if (session)
			rt__ring_hand_over(w, w->sb_index - 1);
		/* In overwrite mode any sub-buffer may become a reader's first: start each with the
		 * open spans. */
		if (w->mode == RT_SHM_MODE_OVERWRITE)
			t->pending |= RT_PENDING_STACK;
		need = max + ((t->pending & RT_PENDING_LOSS) ? LOSS_RECORD_MAX : 0) +
		       ((t->pending & RT_PENDING_STACK) ? STACK_RECORD_MAX : 0);
		rt_assert(rt__ring_fits(w, need));
	}
	if (t->pending & RT_PENDING_LOSS)
		write_loss(t, ts, nested);
	if (t->pending & RT_PENDING_STACK)
		write_stack(t, ts);
	t->pending = 0;
	__atomic_store_n(&t->fast_end, w->sb_end, __ATOMIC_RELAXED);
	/* A handler that dropped records after the snapshot above may have cleared fast_end just
	 * before that store: clear it again so that the next record reports them. The fence keeps
	 * the compiler from moving the re-read above the store. */
	atomic_signal_fence(memory_order_seq_cst);
	if (t->nested_lost != nested)
		__atomic_store_n(&t->fast_end, 0, __ATOMIC_RELAXED);
	return rt__ring_ptr(w);
}

void rt__thread_emit_misuse(struct rt__thread *t, uint32_t code, uint64_t detail)
{
	struct rt_rec_misuse rec = { .code = code, .detail = detail };
	uint64_t ts;
	uint8_t *p;

	atomic_fetch_add_explicit(&t->ring->misuse, 1, memory_order_relaxed);
	if (rt__active_now() != RT_SHM_ACTIVE_ON)
		return;
	ts = rt__now();
	p = rt__thread_reserve(t, RT_REC_MAX_misuse, ts);
	if (!p) {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
		return;
	}
	rt__ring_commit(&t->w, rt_rec_put_misuse(p, rt__ring_delta(&t->w, ts), &rec));
}

void rt__thread_set_task(struct rt__thread *t, uint64_t task)
{
	uint32_t g;

	t->task = task;
	g = rt__stack_write_begin(t->ring);
	__atomic_store_n(&t->ring->stack_task, task, __ATOMIC_RELAXED); /* see rt__stack_push() */
	rt__stack_write_end(t->ring, g);
}

/* Close the thread's ring for good: the consumer drains what is committed, then frees the slot. */
void rt__thread_finish(struct rt__thread *t, bool exiting_thread)
{
	struct rt_shm_control *ctl = rt__proc.ctl;
	/* A consumer attached, or one whose lease we dropped while it was stopped: it takes the lease
	 * back when it runs again, and reads what this thread recorded for it. Not for a thread begun
	 * after the drop, which it cannot know and which recorded nothing for it (in overwrite mode,
	 * only flight-recorder history): that one ends as if no consumer were there. A thread per
	 * request under a consumer stopped for an hour would otherwise keep a ring each in /dev/shm
	 * for as long as it stays stopped. */
	bool consumer = atomic_load_explicit(&ctl->session, memory_order_relaxed) != 0 ||
			rt__process_dropped_consumer_knows(t->thread_number);
	uint64_t ts;
	uint8_t *p;

	if (exiting_thread && rt__active_now() == RT_SHM_ACTIVE_ON) {
		ts = rt__now();
		p = rt__thread_reserve(t, RT_REC_MAX_thread_exit, ts);
		if (p) {
			struct rt_rec_thread_exit rec = { 0 };

			rt__ring_commit(&t->w, rt_rec_put_thread_exit(p, rt__ring_delta(&t->w, ts), &rec));
		} else {
			rt__thread_lost(t, ts, RT_LOSS_FULL);
		}
	}
	atomic_store_explicit(&t->ring->records, t->w.rec_seq + t->w.sb_records, memory_order_relaxed);
	/* Drops a LOSS record would have reported had there been room again. Relaxed: the release
	 * store of state below publishes it. */
	atomic_store_explicit(&t->ring->unreported_dropped, t->lost + (t->nested_lost - t->nested_reported),
			      memory_order_relaxed);
	if ((!consumer && rt__proc.cfg.mode == RT_SHM_MODE_DISCARD && !rt__process_records_early()) ||
	    (!consumer && !rt__process_records_early() && !rt__dir_keep_finished())) {
		/* Nobody reads (discard mode: nothing was recorded since; overwrite mode: enough
		 * finished rings are kept already): give the slot straight back. */
		atomic_store_explicit(&t->ring->state, RT_SHM_THREAD_FINISHED, memory_order_release);
		shm_unlink(t->ring_name);
		rt__dir_release(t->slot);
		return;
	}
	/* The slot first, then the ring: a consumer that finds the ring finished and read to its end
	 * hands the slot back with a CAS from FINISHED, which must not find it still ACTIVE. Both
	 * release: every commit above happens before a consumer sees FINISHED and decides that
	 * commit_pos is final (it acquires the ring's state). */
	atomic_store_explicit(&t->slot->state, RT_SHM_THREAD_FINISHED, memory_order_release);
	atomic_store_explicit(&t->ring->state, RT_SHM_THREAD_FINISHED, memory_order_release);
}

/* pthread key destructor: runs at thread exit while the thread's TLS is still valid. */
void rt__thread_exit(void *arg)
{
	struct rt__thread *t = arg;

	if (t != rt__thread_current)
		return;
	t->busy = 1;
	rt__thread_sync_fast(NULL); /* before the ring is unmapped */
	rt__cpu_forget();
	rt__thread_finish(t, true);
	rt__thread_list_remove(t);
	/* Forget t before it goes: a signal handler from here on finds no thread state (and must not
	 * read a freed one or an unmapped ring), and later TLS destructors that trace must not
	 * register the thread again (self_state first: a handler in between must not either). */
	self_state = 1;
	atomic_signal_fence(memory_order_seq_cst);
	rt__thread_current = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	rt__ring_destroy(&t->w, NULL);
	free(t);
}

/* In a fork()ed child: forget the parent's rings without touching them. */
void rt__thread_forget_all(void)
{
	struct rt__thread *t;

	/* First: the call sites must not pop a stack of the parent's, mapped or not. (The fork
	 * handler has also set the active word aside and cleared the tracked bits by then.) */
	rt__thread_sync_fast(NULL);
	while ((t = rt__thread_list_pop()) != NULL) {
		rt__ring_destroy(&t->w, NULL);
		if (t != rt__thread_current)
			free(t);
	}
	free(rt__thread_current);
	rt__thread_current = NULL;
	self_state = 0;
	rt__dir_forget();
	rt__cpu_forget(); /* the parent thread's perf ring is not this thread's */
}
