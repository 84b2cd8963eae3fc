/* SPDX-License-Identifier: MIT */
/* The public producer API: spans, tasks, logs, contexts, inherited threads and ID stacks, built on
 * the thread and ring modules. Every record path is: busy flag, timestamp, reserve, encode, commit. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include <ringtrace/ringtrace.h>

#include "clock.h"
#include "cpu-stats.h"
#include "encode.h"
#include "idle-clock.h"
#include "names.h"
#include "task.h"
#include "thread.h"

#define LOG_MESSAGE_MAX 1024

/* Signal safety: a handler that interrupts a record on the same thread sees busy set and drops
 * its own records (counted). The signal fences keep the compiler from moving ring writes outside
 * the busy window; no hardware ordering is needed within one thread. */
static inline bool enter(struct rt__thread *t)
{
	if (__builtin_expect(t->busy, 0))
		return false;
	t->busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	return true;
}

static inline void leave(struct rt__thread *t)
{
	atomic_signal_fence(memory_order_seq_cst);
	t->busy = 0;
}

static void nested_drop(struct rt__thread *t)
{
	/* Counted here, reported by the interrupted thread's next LOSS record. */
	if (rt__active_now() == RT_SHM_ACTIVE_ON)
		rt__thread_lost_nested(t);
}

static uint32_t intern(struct rt__thread *t, const char *name)
{
	bool truncated;
	uint32_t id;

	if (!rt__process_ensure())
		return RT_NAME_ID_NULL;
	id = rt__names_intern(rt__proc.ctl, name, &truncated);
	if (t && !t->busy && (truncated || !name)) {
		t->busy = 1;
		rt__thread_emit_misuse(t, name ? RT_MISUSE_NAME_TRUNCATED : RT_MISUSE_NULL_NAME, id);
		t->busy = 0;
	}
	return id;
}

uint32_t rt_name_intern(const char *name)
{
	return intern(rt__thread_peek(), name);
}

uint32_t rt__name_site(uint32_t *site, const char *name)
{
	uint32_t id = intern(rt__thread_peek(), name);

	/* Relaxed: the cache holds a value, not a pointer to data; racing sites store the same id.
	 * Nothing is cached while the library is inert: it may come alive later. */
	if (id != RT_NAME_ID_OVERFLOW && rt__proc.ctl)
		__atomic_store_n(site, id + 1, __ATOMIC_RELAXED);
	return id;
}

/* ---- Spans ---- */

/*
 * The call site (ringtrace.h) claimed depth d = rt__fast_v1.depth - 1 for this span and saw the
 * process's `active` word nonzero. Bit d of rt__fast_v1.tracked says the span has an entry on the
 * shared open-span stack, so its end must come here too. Bits at and above the depth are clear:
 * ends clear theirs (the inline end, scope repair), and every path below that does not track the
 * span clears its bit as well (headers of earlier versions cleared it at the call site instead).
 *
 * rt__span_begin_id() and rt__span_end_tracked() handle the common cases (recording with the TSC,
 * tracking while idle) in leaf code: everything else is a tail call to the *_slow functions, so
 * the common path saves no registers and makes no call.
 *
 * CPU statistics (cpu-stats.h) take the slow paths: t->gate is nonzero while a record is being
 * written (busy) or when the thread's spans sample CPU counters (cpu), and the fast paths test the
 * gate where they tested busy, so with CPU statistics off they run exactly as without them.
 */

/* The CPU counters into a span record's optional fields (all four present). */
#define PUT_CPU(rec, kind, c)                                                                         \
	do {                                                                                          \
		(rec).cpu_src = (c)->src;                                                             \
		(rec).cpu_ns = (c)->ns;                                                               \
		(rec).csw_vol = (c)->vol;                                                             \
		(rec).csw_invol = (c)->invol;                                                         \
		(rec).present |= 1u << RT_RECF_##kind##_cpu_src | 1u << RT_RECF_##kind##_cpu_ns |      \
				 1u << RT_RECF_##kind##_csw_vol | 1u << RT_RECF_##kind##_csw_invol;   \
	} while (0)

static uint64_t depth_bit(uint32_t depth)
{
	return depth < 64 ? 1ull << depth : 0;
}

/* Every case of a span begin (busy not set yet). mark: rt_span_begin_cpu() asked for the CPU
 * counters of this span (t->cpu is 2 then). */
static __attribute__((noinline)) void begin_slow_cpu(uint32_t name_id, bool mark)
{
	struct rt__fast *f = &rt__fast_v1;
	uint32_t depth = f->depth - 1;
	uint64_t bit = depth_bit(depth);
	/* First: in a fork()ed child this creates the segment rt__active_now() reads. */
	struct rt__thread *t = rt__thread_self();
	struct rt_shm_ring *r;
	uint32_t active, sd;
	uint64_t ts;
	uint8_t *p;

	f->tracked &= ~bit;
	if (!t)
		return;
	if (!enter(t)) {
		nested_drop(t);
		return;
	}
	active = rt__active_now();
	r = t->ring;
	sd = r->stack_depth;
	if (active == RT_SHM_ACTIVE_OFF)
		goto out;
	if (!bit || sd >= RT_SHM_STACK_MAX) {
		/* Deeper than the shared stack: counted, recorded as misuse, not tracked. */
		atomic_fetch_add_explicit(&r->stack_overflows, 1, memory_order_relaxed);
		rt__thread_emit_misuse(t, RT_MISUSE_STACK_OVERFLOW, depth);
		goto out;
	}
	if (active == RT_SHM_ACTIVE_ON) {
		ts = rt__now();
		/* Record first, then push: a STACK snapshot written by the reserve describes the
		 * state before this record. */
		p = rt__thread_reserve(t, RT_REC_MAX_span_begin, ts);
		if (p) {
			struct rt_rec_span_begin rec = { .name_id = name_id };
			struct rt__cpu_sample c;

			/* Every span (t->cpu 1) or this one (mark). */
			if ((t->cpu == 1 || mark) && rt__cpu_sample(&c)) {
				PUT_CPU(rec, span_begin, &c);
				if (mark)
					rt__cpu_mark(sd);
			}
			rt__ring_commit_from(&t->w, p, rt_rec_put_span_begin(p, rt__ring_delta(&t->w, ts), &rec));
		} else {
			rt__thread_lost(t, ts, RT_LOSS_FULL);
		}
		rt__stack_push(r, sd, ts, name_id, t->task, 0);
	} else if (rt__proc.cfg.track_tsc) {
		rt__stack_push(r, sd, rt__now(), name_id, t->task, 0);
	} else {
		rt__stack_push(r, sd, rt__idle_now(), name_id, t->task, RT_SHM_STACK_COARSE);
	}
	f->tracked |= bit;
out:
	leave(t);
}

static __attribute__((noinline)) void begin_slow(uint32_t name_id)
{
	begin_slow_cpu(name_id, false);
}

/* A recording begin whose reservation needs the slow path: busy is set, ts taken. */
static __attribute__((noinline)) void begin_record_slow(struct rt__thread *t, uint32_t name_id, uint64_t ts)
{
	struct rt__fast *f = &rt__fast_v1;
	struct rt_shm_ring *r = t->ring;
	uint8_t *p = rt__thread_reserve_slow(t, RT_REC_MAX_span_begin, ts);

	if (p) {
		struct rt_rec_span_begin rec = { .name_id = name_id };

		rt__ring_commit_from(&t->w, p, rt_rec_put_span_begin(p, rt__ring_delta(&t->w, ts), &rec));
	} else {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
	}
	rt__stack_push(r, r->stack_depth, ts, name_id, t->task, 0);
	f->tracked |= depth_bit(f->depth - 1);
	leave(t);
}

/* Tracking while nothing records (the idle default): the idle clock's cached time, flagged. The
 * caller checked t, busy and the depth; w is the idle clock's word, fresh (bit 0 set). */
static __attribute__((noinline)) void begin_idle(struct rt__thread *t, uint32_t depth, uint32_t name_id, uint64_t w)
{
	struct rt_shm_ring *r = t->ring;
	uint32_t sd;

	t->busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	/* Read once busy: a handler that left a span open before that moved it. */
	sd = r->stack_depth;
	if (__builtin_expect(sd >= RT_SHM_STACK_MAX, 0)) {
		leave(t);
		return begin_slow(name_id);
	}
	/* The bit first (handlers stay out while busy): `depth` need not live across the push. */
	rt__fast_v1.tracked |= 1ull << depth;
	rt__stack_push(r, sd, w & ~(uint64_t)1, name_id, t->task, RT_SHM_STACK_COARSE);
	leave(t);
}

/* Recording with the TSC; the caller checked t, busy and the depth. */
static __attribute__((noinline)) void begin_record(struct rt__thread *t, struct rt_shm_ring *r, uint32_t depth,
						   uint32_t name_id)
{
	uint32_t sd;
	uint64_t ts;
	uint8_t *p;

	t->busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	sd = r->stack_depth;
	if (__builtin_expect(sd >= RT_SHM_STACK_MAX, 0)) {
		leave(t);
		return begin_slow(name_id);
	}
	ts = __rdtsc(); /* rt__now() with the TSC (checked by the caller) */
	/* Record first, then push: a STACK snapshot written by the reserve describes the state before
	 * this record. */
	p = rt__thread_reserve_fast(t, RT_REC_MAX_span_begin, ts);
	if (__builtin_expect(p == NULL, 0))
		return begin_record_slow(t, name_id, ts);
	{
		struct rt_rec_span_begin rec = { .name_id = name_id };

		rt__ring_commit_from(&t->w, p, rt_rec_put_span_begin(p, rt__ring_delta(&t->w, ts), &rec));
	}
	rt__stack_push(r, sd, ts, name_id, t->task, 0);
	rt__fast_v1.tracked |= 1ull << depth;
	leave(t);
}

void rt__span_begin_id(uint32_t name_id)
{
	struct rt__thread *t = rt__thread_current;
	uint32_t depth = rt__fast_v1.depth - 1;
	uint32_t active;

	/* The gate: busy, or the thread's spans sample CPU counters. */
	if (__builtin_expect(!t || t->gate || depth >= 64, 0))
		return begin_slow(name_id);
	active = rt__active_now();
	if (active == RT_SHM_ACTIVE_TRACK) {
		/* Never fresh with RINGTRACE_TRACK_SPANS=1: no helper thread then. */
		uint64_t w = atomic_load_explicit(&rt__idle_clock_word, memory_order_relaxed);

		if (__builtin_expect(w & 1, 1))
			return begin_idle(t, depth, name_id, w);
	} else if (__builtin_expect(active == RT_SHM_ACTIVE_ON && rt__clock_tsc, 1)) {
		return begin_record(t, t->ring, depth, name_id);
	}
	begin_slow(name_id);
}

/* Pop the innermost tracked span (stack depth sd > 0), recording its end (as END_SEQ when
 * `seq_form`), with the CPU counters when the thread samples them and this span wants them. Busy
 * is set. */
static void end_tracked(struct rt__thread *t, uint32_t sd, bool seq_form)
{
	struct rt_shm_ring *r = t->ring;
	struct rt__cpu_sample c;
	bool sampled = false;

	/* Every span (t->cpu 1), or one begun with rt_span_begin_cpu() (t->cpu 2, marked). */
	if (__builtin_expect(t->cpu != 0, 0) && (rt__cpu_take(sd - 1) || t->cpu == 1))
		sampled = rt__cpu_sample(&c);
	/* Record first, then pop (see rt__span_begin_id()). */
	if (rt__active_now() == RT_SHM_ACTIVE_ON) {
		uint64_t ts = rt__now();
		uint8_t *p = rt__thread_reserve(t, RT_REC_MAX_span_end_seq, ts);

		if (p) {
			uint64_t dt = rt__ring_delta(&t->w, ts);
			uint8_t *q;

			if (seq_form) {
				struct rt_rec_span_end_seq rec = { .span_seq = r->stack[sd - 1].span_seq };

				if (sampled)
					PUT_CPU(rec, span_end_seq, &c);
				q = rt_rec_put_span_end_seq(p, dt, &rec);
			} else {
				struct rt_rec_span_end rec = { 0 };

				if (sampled)
					PUT_CPU(rec, span_end, &c);
				q = rt_rec_put_span_end(p, dt, &rec);
			}
			rt__ring_commit_from(&t->w, p, q);
		} else {
			rt__thread_lost(t, ts, RT_LOSS_FULL);
		}
	}
	rt__stack_pop(r, sd);
	/* The last rt_span_begin_cpu() span ended: the thread's spans take the fast paths again. */
	if (t->cpu == 2 && !rt__cpu_marked())
		t->cpu = 0;
}

static __attribute__((noinline)) void end_slow(struct rt__thread *t, uint32_t sd)
{
	end_tracked(t, sd, false);
	leave(t);
}

/* The gate was set at an end: nested in a record (nothing to do: a handler's begin was dropped
 * while busy, so this is not its end), or a thread whose spans sample CPU counters. */
static __attribute__((noinline)) void end_gated(struct rt__thread *t)
{
	uint32_t sd;

	if (!t || t->busy)
		return;
	t->busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	sd = t->ring->stack_depth;
	if (sd != 0)
		end_tracked(t, sd, false);
	leave(t);
}

void rt__span_end_tracked(void)
{
	struct rt__thread *t = rt__thread_current;
	struct rt_shm_ring *r;
	uint32_t sd;
	uint64_t ts;
	uint8_t *p;

	/* The gate (end_gated()): busy, or spans that sample CPU counters. */
	if (__builtin_expect(!t || t->gate, 0))
		return end_gated(t);
	r = t->ring;
	if (rt__active_now() != RT_SHM_ACTIVE_ON) {
		/* Tracking only: the pop is all there is. A handler's spans in between load and store
		 * are balanced (their begin and end both come here, or neither). */
		sd = r->stack_depth;
		if (__builtin_expect(sd != 0, 1))
			rt__stack_pop(r, sd);
		return;
	}
	t->busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	sd = r->stack_depth;
	if (__builtin_expect(sd == 0, 0)) {
		leave(t);
		return;
	}
	if (__builtin_expect(!rt__clock_tsc, 0))
		return end_slow(t, sd);
	ts = __rdtsc();
	p = rt__thread_reserve_fast(t, RT_REC_MAX_span_end_seq, ts);
	if (__builtin_expect(p == NULL, 0))
		return end_slow(t, sd);
	{
		struct rt_rec_span_end rec = { 0 };

		rt__ring_commit_from(&t->w, p, rt_rec_put_span_end(p, rt__ring_delta(&t->w, ts), &rec));
	}
	rt__stack_pop(r, sd);
	leave(t);
}

void rt__span_end_misuse(void)
{
	/* Registers the thread if this is its first call: an end before anything began is misuse too. */
	struct rt__thread *t = rt__thread_self();

	if (!t || !enter(t))
		return;
	rt__thread_emit_misuse(t, RT_MISUSE_SPAN_END_EMPTY, 0);
	leave(t);
}

void (rt_span_begin)(const char *name)
{
	rt_span_begin(name);
}


/* rt_span_begin_cpu(): with every span sampling (t->cpu 1) an ordinary begin; else this span is
 * marked, and t->cpu 2 sends the thread's span ends to the gated path until it ended. */
void rt__span_begin_cpu_id(uint32_t name_id)
{
	struct rt__thread *t = rt__thread_current;

	if (!t || t->cpu == 1 || t->busy)
		return begin_slow(name_id);
	t->cpu = 2;
	begin_slow_cpu(name_id, true);
	if (!rt__cpu_marked())
		t->cpu = 0; /* not recorded (or no source): nothing to remember */
}

void (rt_span_begin_cpu)(const char *name)
{
	rt_span_begin_cpu(name);
}

void (rt_span_end)(void)
{
	rt_span_end();
}

void rt__span_scope_repair(uint32_t depth)
{
	struct rt__fast *f = &rt__fast_v1;
	struct rt__thread *t = rt__thread_peek();
	bool first = true;

	if (f->depth < depth) {
		/* The scope's own span was already ended by an explicit rt_span_end(). */
		if (t && enter(t)) {
			rt__thread_emit_misuse(t, RT_MISUSE_SPAN_END_MISSING, depth);
			leave(t);
		}
		return;
	}
	/* Spans opened inside the scope are still open: close them with the scope's span, innermost
	 * first, recorded as misuse so the consumer marks them repaired. */
	while (f->depth >= depth && f->depth > 0) {
		uint32_t d = f->depth;
		uint64_t bit = d <= 64 ? 1ull << (d - 1) : 0;
		bool tracked = (f->tracked & bit) != 0;
		uint32_t sd;

		/* As the inline end: the bit is cleared before the depth is given back. */
		f->tracked &= ~bit;
		atomic_signal_fence(memory_order_seq_cst);
		f->depth = d - 1;
		if (!tracked || !t)
			continue;
		if (!enter(t))
			continue;
		if (first) {
			rt__thread_emit_misuse(t, RT_MISUSE_SPAN_END_ORDER, f->depth);
			first = false;
		}
		sd = t->ring->stack_depth;
		if (sd > 0)
			end_tracked(t, sd, true);
		leave(t);
	}
}

/* ---- Tasks ---- */

static void write_task_begin(struct rt__thread *t, uint64_t id, uint64_t parent, uint32_t name_id)
{
	struct rt_rec_task_begin rec = { .task_id = id, .parent_id = parent, .name_id = name_id };
	uint64_t ts;
	uint8_t *p;

	if (rt__active_now() != RT_SHM_ACTIVE_ON)
		return;
	ts = rt__now();
	p = rt__thread_reserve(t, RT_REC_MAX_task_begin, ts);
	if (!p) {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
		return;
	}
	rt__ring_commit(&t->w, rt_rec_put_task_begin(p, rt__ring_delta(&t->w, ts), &rec));
}

static void write_task_end(struct rt__thread *t, uint64_t id, uint64_t after)
{
	struct rt_rec_task_end rec = { .task_id = id, .current_task_after = after };
	uint64_t ts;
	uint8_t *p;

	if (rt__active_now() != RT_SHM_ACTIVE_ON)
		return;
	ts = rt__now();
	p = rt__thread_reserve(t, RT_REC_MAX_task_end, ts);
	if (!p) {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
		return;
	}
	rt__ring_commit(&t->w, rt_rec_put_task_end(p, rt__ring_delta(&t->w, ts), &rec));
}

struct rt_task rt__task_begin_id(uint32_t name_id)
{
	struct rt__thread *t = rt__thread_self();
	uint64_t parent = t ? rt__tasks_live_ancestor(t->task) : 0;
	struct rt_task task = { rt__tasks_add(parent, name_id) };

	if (!t)
		return task;
	if (!enter(t)) {
		/* From a handler that interrupted a record: the task exists, unrecorded. */
		nested_drop(t);
		return task;
	}
	write_task_begin(t, task.id, parent, name_id);
	rt__thread_set_task(t, task.id);
	leave(t);
	return task;
}

struct rt_task (rt_task_begin)(const char *name)
{
	return rt__task_begin_id(intern(rt__thread_peek(), name));
}

void rt_task_end(struct rt_task task)
{
	struct rt__thread *t = rt__thread_self();
	enum rt__task_end_result res = rt__tasks_end(task.id);
	struct rt__task_info info;

	if (!t)
		return;
	if (!enter(t)) {
		nested_drop(t);
		return;
	}
	if (res == RT_TASK_ALREADY_ENDED || res == RT_TASK_UNKNOWN) {
		rt__thread_emit_misuse(t, res == RT_TASK_UNKNOWN ? RT_MISUSE_TASK_END_UNKNOWN : RT_MISUSE_TASK_END_TWICE,
				       task.id);
		leave(t);
		return;
	}
	{
		uint64_t after = t->task;

		if (t->task == task.id)
			after = rt__tasks_live_ancestor(rt__tasks_get(task.id, &info) ? info.parent : 0);
		write_task_end(t, task.id, after);
		if (after != t->task)
			rt__thread_set_task(t, after);
	}
	leave(t);
}

struct rt_task rt_task_current(void)
{
	struct rt__thread *t = rt__thread_peek();
	struct rt_task task = { t ? t->task : 0 };

	return task;
}

/* ---- Logs ---- */

void rt__log_id(uint32_t category_id, const char *fmt, ...)
{
	struct rt__thread *t = rt__thread_self();
	char msg[LOG_MESSAGE_MAX + 1];
	uint32_t flags = 0;
	va_list ap;
	uint64_t ts;
	uint8_t *p, *q;
	int n;

	if (!t || rt__active_now() != RT_SHM_ACTIVE_ON)
		return;
	if (!enter(t)) {
		nested_drop(t);
		return;
	}
	ts = rt__now();
	/* Reserve first so that a full ring costs no formatting. */
	p = rt__thread_reserve(t, RT_REC_MAX_log + LOG_MESSAGE_MAX, ts);
	if (!p) {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
		leave(t);
		return;
	}
	va_start(ap, fmt);
	n = fmt ? vsnprintf(msg, sizeof(msg), fmt, ap) : snprintf(msg, sizeof(msg), "<null>");
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > LOG_MESSAGE_MAX) {
		n = LOG_MESSAGE_MAX;
		flags |= RT_LOG_TRUNCATED;
	}
	{
		struct rt_rec_log rec = { .category_id = category_id, .message = { msg, (uint32_t)n }, .flags = flags };

		q = rt_rec_put_log(p, rt__ring_delta(&t->w, ts), &rec);
	}
	rt__ring_commit(&t->w, q);
	leave(t);
}

void (rt_log)(const char *category, const char *fmt, ...)
{
	char msg[LOG_MESSAGE_MAX + 2];
	va_list ap;

	if (!rt__on())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt ? fmt : "<null>", ap);
	va_end(ap);
	rt__log_id(intern(rt__thread_peek(), category), "%s", msg);
}

/* ---- Contexts ---- */

static uint64_t top_span_seq(struct rt__thread *t)
{
	struct rt_shm_ring *r = t->ring;

	return r->stack_depth ? r->stack[r->stack_depth - 1].span_seq : 0;
}

struct rt_context rt_context_current(void)
{
	struct rt__thread *t = rt__thread_self();
	struct rt_context ctx = { 0, 0, 0 };

	if (!t)
		return ctx;
	ctx.task_id = t->task;
	ctx.thread_number = t->thread_number;
	ctx.span_seq = top_span_seq(t);
	/* Recorded so that the consumer can start the hand-off's flow where it was captured. */
	if (rt__active_now() == RT_SHM_ACTIVE_ON && enter(t)) {
		uint64_t ts = rt__now();
		uint8_t *p = rt__thread_reserve(t, RT_REC_MAX_context, ts);

		if (p) {
			struct rt_rec_context rec = { .task_id = ctx.task_id, .span_seq = ctx.span_seq };

			rt__ring_commit(&t->w, rt_rec_put_context(p, rt__ring_delta(&t->w, ts), &rec));
		} else {
			rt__thread_lost(t, ts, RT_LOSS_FULL);
		}
		leave(t);
	}
	return ctx;
}

static struct rt_context adopt(struct rt_context ctx, uint32_t how)
{
	struct rt__thread *t = rt__thread_self();
	struct rt_context prev = { 0, 0, 0 };
	uint64_t ts;
	uint8_t *p, *q;

	if (!t)
		return prev;
	prev.task_id = t->task;
	prev.thread_number = t->thread_number;
	prev.span_seq = top_span_seq(t);
	if (!enter(t)) {
		nested_drop(t);
		return prev;
	}
	if (how == RT_ADOPT_CONTEXT && ctx.thread_number == t->thread_number)
		how = RT_ADOPT_RESTORE;
	if (rt__active_now() == RT_SHM_ACTIVE_ON) {
		ts = rt__now();
		p = rt__thread_reserve(t, RT_REC_MAX_adopt, ts);
		if (p) {
			struct rt_rec_adopt rec = { .task_id = ctx.task_id, .from_thread = ctx.thread_number,
						    .from_span_seq = ctx.span_seq, .how = how };

			q = rt_rec_put_adopt(p, rt__ring_delta(&t->w, ts), &rec);
			rt__ring_commit(&t->w, q);
		} else {
			rt__thread_lost(t, ts, RT_LOSS_FULL);
		}
	}
	rt__thread_set_task(t, ctx.task_id);
	leave(t);
	return prev;
}

struct rt_context rt_context_adopt(struct rt_context ctx)
{
	return adopt(ctx, RT_ADOPT_CONTEXT);
}

struct thread_start {
	void *(*start)(void *);
	void *arg;
	struct rt_context ctx;
};

static void *thread_trampoline(void *p)
{
	struct thread_start ts = *(struct thread_start *)p;

	free(p);
	if (ts.ctx.task_id != 0 || ts.ctx.span_seq != 0)
		adopt(ts.ctx, RT_ADOPT_INHERIT);
	return ts.start(ts.arg);
}

int rt_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
	struct thread_start *ts = malloc(sizeof(*ts));
	int err;

	if (!ts)
		return ENOMEM;
	ts->start = start;
	ts->arg = arg;
	ts->ctx = rt_context_current();
	err = pthread_create(thread, attr, thread_trampoline, ts);
	if (err)
		free(ts);
	return err;
}

/* ---- ID stack ---- */

struct out {
	char *buf;
	size_t len;
	size_t n;
};

static void put(struct out *o, const char *s)
{
	for (; *s; s++, o->n++)
		if (o->n + 1 < o->len)
			o->buf[o->n] = *s;
}

static void put_u64(struct out *o, uint64_t v)
{
	char tmp[24];
	int i = (int)sizeof(tmp) - 1;

	tmp[i] = 0;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, &tmp[i]);
}

int rt_id_stack(char *buf, size_t len)
{
	struct rt__thread *t = rt__thread_peek();
	struct out o = { buf, len, 0 };
	uint64_t chain[64];
	int depth = 0;
	struct rt__task_info info;

	if (!buf && len > 0)
		return -EINVAL;
	if (t) {
		for (uint64_t id = t->task; id != 0 && depth < 64; id = info.parent) {
			chain[depth++] = id & ~RT_TASK_UNSLOTTED;
			if (!rt__tasks_get(id, &info))
				break;
		}
	}
	if (depth == 0)
		put(&o, "0");
	for (int i = depth - 1; i >= 0; i--) {
		put_u64(&o, chain[i]);
		if (i > 0)
			put(&o, "$");
	}
	if (t) {
		struct rt_shm_ring *r = t->ring;
		uint32_t sd = r->stack_depth < RT_SHM_STACK_MAX ? r->stack_depth : RT_SHM_STACK_MAX;

		for (uint32_t i = 0; i < sd; i++) {
			put(&o, ".");
			put_u64(&o, t->thread_number);
			put(&o, "-");
			put_u64(&o, r->stack[i].span_seq);
		}
	}
	if (len > 0)
		buf[o.n < len ? o.n : len - 1] = 0;
	return (int)o.n;
}

/* ---- Versions and errors ---- */

int rt_check_library_version(int major, int minor, int micro)
{
	(void)micro;
	if (major != RT_VERSION_MAJOR || minor > RT_VERSION_MINOR)
		return -RT_EABI;
	return 0;
}

const char *rt_library_version(void)
{
	return RT_VERSION_STRING;
}
