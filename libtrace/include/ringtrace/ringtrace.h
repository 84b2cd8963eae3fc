/* SPDX-License-Identifier: MIT */
/* ringtrace producer API: tasks, nested spans, logs, contexts and ID stacks, recorded per thread
 * into shared-memory rings that a separate consumer process reads. */
#ifndef RINGTRACE_RINGTRACE_H
#define RINGTRACE_RINGTRACE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/error.h>
#include <ringtrace/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RT_API __attribute__((visibility("default")))
/* The entry points a span's call site reaches: called through the GOT, not through a PLT stub
 * (one indirect jump less per call; 0.8 ns per span with libringtrace.so, docs/performance.md). */
#if defined(__has_attribute)
#if __has_attribute(noplt)
#define RT__HOT_API RT_API __attribute__((noplt))
#endif
#endif
#ifndef RT__HOT_API
#define RT__HOT_API RT_API
#endif

/** A task: a unit of work that may span threads. A small value; copy it freely.
 *  The id is process-unique and never 0 for a real task. */
struct rt_task {
	uint64_t id;
};

/** What a thread is working on: its current task and innermost span. A small value type,
 *  captured with rt_context_current() and continued elsewhere with rt_context_adopt(). */
struct rt_context {
	uint64_t task_id;
	uint64_t thread_number; /**< thread that captured it */
	uint64_t span_seq;      /**< its innermost tracked span then, 0 if none */
};

/* ---- Internal fast-path state. Layout is part of the ABI (versioned by the symbol names:
 *      rt__fast_v2, 0.2, added stack_depth to rt__fast_v1's depth and tracked). ---- */

struct rt__fast {
	uint32_t depth;   /* open spans of this thread, tracked or not */
	uint32_t pad;
	uint64_t tracked; /* bit d-1 set: span at depth d is tracked by the library (bits at and
	                   * above `depth` are clear: an end clears its span's bit) */
	/* The thread's open-span stack depth in shared memory, which the end of a tracked span
	 * decrements inline while the process only tracks (active word 2); NULL while ends must
	 * reach the library (thread not registered or exiting, its spans sample CPU counters, forked
	 * child). */
	uint32_t *stack_depth;
};

/* Points at the traced process's `active` word in shared memory (enum rt_shm_active): nonzero
 * when something records or tracks. Relaxed loads: a call site may see a change late, which only
 * moves the point where recording starts or stops by a few calls. */
extern RT_API const uint32_t *rt__active_v1;
extern RT_API __thread struct rt__fast rt__fast_v2 __attribute__((tls_model("initial-exec")));

RT_API uint32_t rt__name_site(uint32_t *site, const char *name);
RT__HOT_API void rt__span_begin_id(uint32_t name_id);
RT__HOT_API void rt__span_begin_at(uint32_t name_id, uint32_t active, uint32_t depth);
RT_API void rt__span_begin_cpu_id(uint32_t name_id);
RT__HOT_API void rt__span_end_tracked(void);
RT_API void rt__span_end_misuse(void);
RT_API void rt__span_scope_repair(uint32_t depth);
RT_API struct rt_task rt__task_begin_id(uint32_t name_id);
RT_API void rt__log_id(uint32_t category_id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline uint32_t rt__active_word(void)
{
	const uint32_t *word = __atomic_load_n(&rt__active_v1, __ATOMIC_RELAXED);
	return __atomic_load_n(word, __ATOMIC_RELAXED);
}
static inline int rt__on(void)
{
	return __builtin_expect(rt__active_word() != 0, 0);
}

/* Name id of `name`: literals are interned once per call site into a static cache (benign race:
 * interning is idempotent); other strings are looked up on every call. */
#define RT__NAME_ID(name)                                                                   \
	(__builtin_constant_p(name) ? __extension__({                                         \
		static uint32_t rt__site;                                                     \
		uint32_t rt__v = __atomic_load_n(&rt__site, __ATOMIC_RELAXED);                \
		__builtin_expect(rt__v != 0, 1) ? rt__v - 1 : rt__name_site(&rt__site, (name)); \
	})                                                                                    \
				    : rt_name_intern(name))

#define RT__CAT2(a, b) a##b
#define RT__CAT(a, b) RT__CAT2(a, b)
#define RT__UNIQ(prefix) RT__CAT(prefix, __LINE__)

/* ---- Names ---- */

/**
 * Intern a name into the process's name table and return its small integer id.
 * \param name any string; NULL gives the reserved "<null>" id, names longer than 255 bytes are
 *             truncated (flagged in the table and counted as misuse).
 * \return the id; the reserved "<overflow>" id when the table is full.
 * Thread-safe, lock-free; async-signal-safe once the table is created (after library load).
 * \since 0.1
 */
RT_API uint32_t rt_name_intern(const char *name);

/* ---- Spans ---- */

/**
 * Begin a span on the calling thread, nested in its innermost open span, inside its current task
 * (a background task 0 when it has none). While nothing records this only counts the depth.
 * A string literal is interned once per call site; other names are copied into the name table.
 * Thread-safe (per thread), async-signal-safe (a record interrupted by a signal handler on the
 * same thread makes the handler's records drop and be counted).
 * \since 0.1
 */
RT_API void rt_span_begin(const char *name);
/* The depth is claimed before anything else, so a signal handler's balanced spans in between
 * use the next index and leave this one alone. The span's tracked bit is already clear. */
#define rt_span_begin(name)                                                          \
	do {                                                                         \
		struct rt__fast *rt__f = &rt__fast_v2;                               \
		uint32_t rt__d = rt__f->depth + 1, rt__a;                            \
		rt__f->depth = rt__d;                                                \
		__atomic_signal_fence(__ATOMIC_SEQ_CST);                             \
		rt__a = rt__active_word();                                           \
		if (__builtin_expect(rt__a != 0, 0))                                 \
			rt__span_begin_at(RT__NAME_ID(name), rt__a, rt__d);          \
	} while (0)

/**
 * End the calling thread's innermost open span. With no open span this is recorded as misuse
 * and otherwise ignored. Thread-safe (per thread), async-signal-safe.
 * \since 0.1
 */
RT_API void rt_span_end(void);
static inline void rt__span_end_inline(void)
{
	struct rt__fast *f = &rt__fast_v2;
	uint32_t d = f->depth;
	uint64_t bit;

	if (__builtin_expect(d == 0, 0)) {
		rt__span_end_misuse();
		return;
	}
	bit = d <= 64 ? 1ull << (d - 1) : 0;
	if (__builtin_expect((f->tracked & bit) == 0, 1)) {
		f->depth = d - 1;
		return;
	}
	/* Clear the bit before giving the depth back: a handler may reuse the index after. */
	f->tracked &= ~bit;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	f->depth = d - 1;
	{
		uint32_t *sd = f->stack_depth;

		/* Tracking only (the active word is 2): the end is the stack's pop, done here. Relaxed,
		 * as the library's pop: only this thread writes the depth, and the consumer's seqlock
		 * read tolerates it (docs/format.md 3). A handler's spans in between load and store are
		 * balanced and leave the depth as they found it. */
		if (__builtin_expect(sd != NULL && rt__active_word() == 2, 1)) {
			uint32_t n = __atomic_load_n(sd, __ATOMIC_RELAXED);

			if (__builtin_expect(n != 0, 1)) {
				__atomic_store_n(sd, n - 1, __ATOMIC_RELAXED);
				return;
			}
		}
	}
	rt__span_end_tracked();
}
#define rt_span_end() rt__span_end_inline()

struct rt__span_scope {
	uint32_t depth; /* depth after this span began */
};
static inline void rt__span_scope_end(struct rt__span_scope *s)
{
	if (__builtin_expect(rt__fast_v2.depth == s->depth, 1))
		rt__span_end_inline();
	else
		rt__span_scope_repair(s->depth);
}
static inline struct rt__span_scope rt__span_scope_enter(void)
{
	struct rt__span_scope s = { rt__fast_v2.depth };
	return s;
}

/** Open a span that ends when the enclosing scope exits. Ends of spans opened inside it and left
 *  open are repaired (recorded as misuse and closed). \since 0.1 */
#define RT_SPAN(name)                                                                   \
	rt_span_begin(name);                                                            \
	struct rt__span_scope RT__UNIQ(rt__span_scope_)                                   \
		__attribute__((cleanup(rt__span_scope_end), unused)) = rt__span_scope_enter()

/* ---- CPU statistics of one span ---- */

/**
 * Begin a span as rt_span_begin() does, and record the thread's CPU counters at its begin and end, so
 * that statistics show its on-CPU and off-CPU time and context switches even when the process does not
 * sample every span (RINGTRACE_CPU_STATS). End it with rt_span_end(). It takes the library's slower path,
 * recording or not, and while recording samples the counters (docs/statistics.md gives the costs).
 * Thread-safe (per thread), async-signal-safe.
 * \since 0.1
 */
RT_API void rt_span_begin_cpu(const char *name);
#define rt_span_begin_cpu(name)                                                      \
	do {                                                                         \
		struct rt__fast *rt__f = &rt__fast_v2;                               \
		uint32_t rt__d = rt__f->depth;                                       \
		rt__f->depth = rt__d + 1;                                            \
		__atomic_signal_fence(__ATOMIC_SEQ_CST);                             \
		if (rt__on())                                                        \
			rt__span_begin_cpu_id(RT__NAME_ID(name));                    \
		else if (rt__d < 64)                                                 \
			rt__f->tracked &= ~(1ull << rt__d);                          \
	} while (0)

/** RT_SPAN() with the CPU counters of rt_span_begin_cpu(). \since 0.1 */
#define RT_SPAN_CPU(name)                                                               \
	rt_span_begin_cpu(name);                                                        \
	struct rt__span_scope RT__UNIQ(rt__span_scope_)                                   \
		__attribute__((cleanup(rt__span_scope_end), unused)) = rt__span_scope_enter()

/* ---- Tasks ---- */

/**
 * Begin a task whose parent is the calling thread's current task, and make it the thread's
 * current task. Tasks are tracked whether or not anything records, so contexts and ID stacks
 * always work. Thread-safe, lock-free, async-signal-safe.
 * \return the task; its id is process-unique.
 * \since 0.1
 */
RT_API struct rt_task rt_task_begin(const char *name);
#define rt_task_begin(name) rt__task_begin_id(RT__NAME_ID(name))

/**
 * End a task, from any thread. On the thread where it is current, the current task returns to
 * its nearest ancestor that has not ended. Ending a task twice, or a task that was never begun,
 * is recorded as misuse and otherwise ignored. Thread-safe, async-signal-safe.
 * \since 0.1
 */
RT_API void rt_task_end(struct rt_task task);

static inline void rt__task_scope_end(struct rt_task *t)
{
	rt_task_end(*t);
}

/** Begin a task that ends when the enclosing scope exits. \since 0.1 */
#define RT_TASK(name)                                                                   \
	struct rt_task RT__UNIQ(rt__task_scope_)                                          \
		__attribute__((cleanup(rt__task_scope_end), unused)) = rt_task_begin(name)

/** The calling thread's current task; id 0 when it has none. Thread-safe, async-signal-safe.
 *  \since 0.1 */
RT_API struct rt_task rt_task_current(void);

/* ---- Logs ---- */

/**
 * Record a log message tied to the calling thread's current task and span. The message is
 * formatted (at most 1 KiB, longer is truncated and flagged) only when the record will be kept.
 * Thread-safe; NOT async-signal-safe (it formats with vsnprintf).
 * \since 0.1
 */
RT_API void rt_log(const char *category, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rt_log(category, ...)                                                         \
	do {                                                                          \
		if (rt__on())                                                         \
			rt__log_id(RT__NAME_ID(category), __VA_ARGS__);               \
	} while (0)

/* ---- Contexts and threads ---- */

/** Capture the calling thread's current task and innermost span. Thread-safe,
 *  async-signal-safe. \since 0.1 */
RT_API struct rt_context rt_context_current(void);

/**
 * Make the calling thread continue the context's task (a worker or thread-pool job doing work
 * for it), recording the link from where it was captured.
 * \return the context the thread had before, to adopt again when the job is done.
 * Thread-safe, async-signal-safe.
 * \since 0.1
 */
RT_API struct rt_context rt_context_adopt(struct rt_context ctx);

/**
 * pthread_create() whose new thread starts in its creator's current task (as a goroutine
 * inherits its creator's task in Go's tracer); the link is recorded.
 * \return 0 or a positive error number, as pthread_create(). Thread-safe.
 * \since 0.1
 */
RT_API int rt_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg);

/**
 * Register the calling thread now (creating its ring) rather than at its first record, and name
 * it (NULL keeps the kernel's thread name). Needed before the thread's first record is made from a
 * signal handler. \return 0, or -ENOMEM / -ENOSPC (directory full) / -errno of shm_open or mmap.
 * Thread-safe; not async-signal-safe. \since 0.1
 */
RT_API int rt_thread_register(const char *name);

/** Rename the calling thread in the trace. Thread-safe; not async-signal-safe. \since 0.1 */
RT_API void rt_thread_set_name(const char *name);

/**
 * Write the calling thread's ID stack in zrepl's form, root task first: `1$4$9.3-17.3-18` is task
 * 9 (child of 4, child of 1) with spans 17 and 18 of thread 3 open. Spans are listed only while
 * tracked (begun while something records or tracks).
 * \return the length of the full string (excluding NUL), as snprintf; it is truncated when that
 *         is >= len. -EINVAL if buf is NULL and len > 0.
 * Thread-safe, async-signal-safe.
 * \since 0.1
 */
RT_API int rt_id_stack(char *buf, size_t len);

/** Check at run time that the loaded library is compatible with the headers the caller was
 *  built with (same major, library minor >= caller's). \return 0 or RT_EABI negated.
 *  Thread-safe, async-signal-safe. \since 0.1 */
RT_API int rt_check_library_version(int major, int minor, int micro);

/** The loaded library's version string. Thread-safe, async-signal-safe. \since 0.1 */
RT_API const char *rt_library_version(void);

#ifdef __cplusplus
}
#endif

#endif
