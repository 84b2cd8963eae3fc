/* SPDX-License-Identifier: MIT */
/* The span API, the producer's hot path: begin and end recorded with the TSC or tracked on the
 * open-span stack while idle, in leaf code, with every other case in the *_slow functions. */
#include <stdint.h>
#include <x86intrin.h>

#include <ringtrace/ringtrace.h>

#include "clock.h"
#include "cpu-stats.h"
#include "encode.h"
#include "idle-clock.h"
#include "names.h"
#include "record-guard.h"
#include "thread.h"


/*
 * The call site (ringtrace.h) claimed depth d = rt__fast_v2.depth - 1 for this span and saw the
 * process's `active` word nonzero. Bit d of rt__fast_v2.tracked says the span has an entry on the
 * shared open-span stack, so its end must come here too. Bits at and above the depth are clear:
 * ends clear theirs (the inline end, scope repair), and every path below that does not track the
 * span clears its bit as well (headers of earlier versions cleared it at the call site instead).
 *
 * rt__span_begin_id() and rt__span_end_tracked() handle the common cases (recording with the TSC,
 * tracking while idle) in leaf code: everything else is a tail call to the *_slow functions, so
 * the common path saves no registers and makes no call.
 *
 * CPU statistics (cpu-stats.h) take the slow paths: the fast paths test rt__gated() (busy in a
 * record, or the thread's spans sample CPU counters, t->cpu) where they tested busy alone.
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
 * counters of this span (recorded with them, it is marked and t->cpu becomes 2). */
static __attribute__((noinline)) void begin_slow_cpu(uint32_t name_id, bool mark)
{
	struct rt__fast *f = &rt__fast_v2;
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
	if (!record_enter(t)) {
		record_nested_drop(t);
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
				if (mark) {
					/* Set while busy: a handler's span ending in between cannot
					 * clear it before the mark exists. */
					rt__cpu_mark(sd);
					t->cpu = 2;
					rt__thread_sync_fast(t);
				}
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
	record_leave(t);
}

static __attribute__((noinline)) void begin_slow(uint32_t name_id)
{
	begin_slow_cpu(name_id, false);
}

/* A recording begin whose reservation needs the slow path: busy is set, ts taken. */
static __attribute__((noinline)) void begin_record_slow(struct rt__thread *t, uint32_t name_id, uint64_t ts)
{
	struct rt__fast *f = &rt__fast_v2;
	struct rt_shm_ring *r = t->ring;
	uint8_t *p = rt__thread_reserve_slow(t, RT_REC_MAX_span_begin, ts);
	uint32_t sd;

	if (p) {
		struct rt_rec_span_begin rec = { .name_id = name_id };

		rt__ring_commit_from(&t->w, p, rt_rec_put_span_begin(p, rt__ring_delta(&t->w, ts), &rec));
	} else {
		rt__thread_lost(t, ts, RT_LOSS_FULL);
	}
	/* Read again, so checked again (the caller's check costs its fast path nothing this way): the
	 * depth is in shared memory, which any process of the user can write. */
	sd = __atomic_load_n(&r->stack_depth, __ATOMIC_RELAXED);
	if (__builtin_expect(sd < RT_SHM_STACK_MAX, 1)) {
		rt__stack_push(r, sd, ts, name_id, t->task, 0);
		f->tracked |= depth_bit(f->depth - 1);
	}
	record_leave(t);
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
		record_leave(t);
		return begin_slow(name_id);
	}
	/* The bit first (handlers stay out while busy): `depth` need not live across the push. */
	rt__fast_v2.tracked |= 1ull << depth;
	rt__stack_push(r, sd, w & ~(uint64_t)1, name_id, t->task, RT_SHM_STACK_COARSE);
	record_leave(t);
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
		record_leave(t);
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
	rt__fast_v2.tracked |= 1ull << depth;
	record_leave(t);
}

/* The claimed depth d (the span's index is d - 1) and the `active` word the call site read. */
static inline __attribute__((always_inline)) void begin_fast(uint32_t name_id, uint32_t active, uint32_t d)
{
	struct rt__thread *t = rt__thread_current;
	uint32_t depth = d - 1;

	/* The gate: busy, or the thread's spans sample CPU counters. */
	if (__builtin_expect(!t || rt__gated(t) || depth >= 64, 0))
		return begin_slow(name_id);
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

/* Call sites compiled with earlier headers (before rt__span_begin_at()): the depth and the word
 * are read again here. */
void rt__span_begin_id(uint32_t name_id)
{
	begin_fast(name_id, rt__active_now(), rt__fast_v2.depth);
}

void rt__span_begin_at(uint32_t name_id, uint32_t active, uint32_t depth)
{
	begin_fast(name_id, active, depth);
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
				/* Bounded: the depth is in shared memory, which any process of the
				 * user can write (this thread keeps it at most RT_SHM_STACK_MAX). */
				struct rt_rec_span_end_seq rec = {
					.span_seq = sd <= RT_SHM_STACK_MAX ? r->stack[sd - 1].span_seq : 0
				};

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
	if (t->cpu == 2 && !rt__cpu_marked()) {
		t->cpu = 0;
		rt__thread_sync_fast(t);
	}
}

static __attribute__((noinline)) void end_slow(struct rt__thread *t, uint32_t sd)
{
	end_tracked(t, sd, false);
	record_leave(t);
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
	record_leave(t);
}

void rt__span_end_tracked(void)
{
	struct rt__thread *t = rt__thread_current;
	struct rt_shm_ring *r;
	uint32_t sd;
	uint64_t ts;
	uint8_t *p;

	/* The gate (end_gated()): busy, or spans that sample CPU counters. */
	if (__builtin_expect(!t || rt__gated(t), 0))
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
		record_leave(t);
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
	record_leave(t);
}

void rt__span_end_misuse(void)
{
	/* Registers the thread if this is its first call: an end before anything began is misuse too. */
	struct rt__thread *t = rt__thread_self();

	if (!t || !record_enter(t))
		return;
	rt__thread_emit_misuse(t, RT_MISUSE_SPAN_END_EMPTY, 0);
	record_leave(t);
}

void (rt_span_begin)(const char *name)
{
	rt_span_begin(name);
}


/* rt_span_begin_cpu(): with every span sampling (t->cpu 1) an ordinary begin; else this span is
 * marked when recorded with its counters, and t->cpu 2 (set with the mark, while busy) sends the
 * thread's span ends to the gated path until the last marked span ended. */
void rt__span_begin_cpu_id(uint32_t name_id)
{
	struct rt__thread *t = rt__thread_current;

	if (!t || t->cpu == 1 || t->busy)
		return begin_slow(name_id);
	begin_slow_cpu(name_id, true);
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
	struct rt__fast *f = &rt__fast_v2;
	struct rt__thread *t = rt__thread_peek();
	bool first = true;

	if (f->depth < depth) {
		/* The scope's own span was already ended by an explicit rt_span_end(). */
		if (t && record_enter(t)) {
			rt__thread_emit_misuse(t, RT_MISUSE_SPAN_END_MISSING, depth);
			record_leave(t);
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
		if (!record_enter(t))
			continue;
		if (first) {
			rt__thread_emit_misuse(t, RT_MISUSE_SPAN_END_ORDER, f->depth);
			first = false;
		}
		sd = t->ring->stack_depth;
		if (sd > 0)
			end_tracked(t, sd, true);
		record_leave(t);
	}
}
