/* SPDX-License-Identifier: MIT */
/* The ring records, one table per kind: named fields with their types, shared by the producer's
 * encoder (libtrace/src/encode.h), the consumer's decoder (consumer/record.c) and rebuild. */
#ifndef RINGTRACE_RECORDS_H
#define RINGTRACE_RECORDS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Every record is a msgpack array: [kind, dt, field...], dt the timestamp delta to the thread's
 * previous record (docs/format.md "Records"). The fields of each kind are listed below, in wire
 * order, as F(ctx, type, name):
 *   U   unsigned integer (msgpack positive int, smallest encoding)
 *   S   string (msgpack str)
 *   K   the open-span entries of a STACK record (array of RT_REC_STACK_ENTRY_FIELDS arrays)
 *   OU  optional unsigned integer: a trailing field added by a later minor version. A reader
 *       accepts records without it (0, and its bit clear in `present`); a writer may omit it, and
 *       omits it whenever it omits an earlier optional field.
 * A reader also accepts (and ignores) more trailing fields than it knows: that is how fields are
 * added without breaking older consumers. Adding a field means adding it here, at the end of its
 * kind, as OU; the encoder, decoder and the generated structs follow.
 */

#define RT_RECORD_KINDS(R)                                  \
	R(1, THREAD_START, thread_start)                    \
	R(2, THREAD_NAME, thread_name)                      \
	R(3, THREAD_EXIT, thread_exit)                      \
	R(4, SPAN_BEGIN, span_begin)                        \
	R(5, SPAN_END, span_end)                            \
	R(6, SPAN_END_SEQ, span_end_seq)                    \
	R(7, TASK_BEGIN, task_begin)                        \
	R(8, TASK_END, task_end)                            \
	R(9, LOG, log)                                      \
	R(10, ADOPT, adopt)                                 \
	R(11, LOSS, loss)                                   \
	R(12, STACK, stack)                                 \
	R(13, MISUSE, misuse)                               \
	R(15, CONTEXT, context)

/* The thread's first record. */
#define RT_REC_FIELDS_thread_start(F, x) F(x, U, tid) F(x, U, thread_number) F(x, S, name) F(x, U, pid)
/* rt_thread_set_name(). */
#define RT_REC_FIELDS_thread_name(F, x) F(x, S, name)
/* The thread's last record. */
#define RT_REC_FIELDS_thread_exit(F, x)
/* Spans. With CPU statistics (RINGTRACE_CPU_STATS, rt_span_begin_cpu()) begins and ends also carry
 * the thread's CPU counters, all four or none (RT_REC_CPU_FIELDS below). */
#define RT_REC_CPU_FIELDS(F, x) F(x, OU, cpu_src) F(x, OU, cpu_ns) F(x, OU, csw_vol) F(x, OU, csw_invol)
#define RT_REC_FIELDS_span_begin(F, x) F(x, U, name_id) RT_REC_CPU_FIELDS(F, x)
/* Ends the innermost open span. */
#define RT_REC_FIELDS_span_end(F, x) RT_REC_CPU_FIELDS(F, x)
/* Ends span `span_seq` and every span opened inside it (a scope repair). */
#define RT_REC_FIELDS_span_end_seq(F, x) F(x, U, span_seq) RT_REC_CPU_FIELDS(F, x)
#define RT_REC_FIELDS_task_begin(F, x) F(x, U, task_id) F(x, U, parent_id) F(x, U, name_id)
/* current_task_after: the thread's task once this one ended. */
#define RT_REC_FIELDS_task_end(F, x) F(x, U, task_id) F(x, U, current_task_after)
/* flags: enum rt_log_flags. */
#define RT_REC_FIELDS_log(F, x) F(x, U, category_id) F(x, S, message) F(x, U, flags)
/* The thread continues task_id, handed over from span from_span_seq of thread from_thread
 * (enum rt_adopt_how `how`). */
#define RT_REC_FIELDS_adopt(F, x) F(x, U, task_id) F(x, U, from_thread) F(x, U, from_span_seq) F(x, U, how)
/* records were dropped since first_ts (raw clock), for reasons (enum rt_loss_reason bits). */
#define RT_REC_FIELDS_loss(F, x) F(x, U, records) F(x, U, first_ts) F(x, U, reasons)
/* The thread's state just before the next record: current task, last span number handed out, and
 * its open spans outermost first. */
#define RT_REC_FIELDS_stack(F, x) F(x, U, current_task) F(x, U, span_seq) F(x, K, entries)
/* code: enum rt_misuse_code. */
#define RT_REC_FIELDS_misuse(F, x) F(x, U, code) F(x, U, detail)
/* rt_context_current() while recording: where a hand-off starts (ABI 1.2). */
#define RT_REC_FIELDS_context(F, x) F(x, U, task_id) F(x, U, span_seq)

/* One open span of a STACK record; begin_ts 0 = unknown; flags: enum rt_shm_stack_flags (ABI 1.2,
 * optional). */
#define RT_REC_STACK_ENTRY_FIELDS(F, x) F(x, U, name_id) F(x, U, span_seq) F(x, U, begin_ts) F(x, U, task_id) F(x, OU, flags)

/* Kind 14 is reserved (it was announced for calibration records and never written). */
enum rt_rec_kind {
#define RT__REC_ENUM(num, NAME, name) RT_REC_##NAME = num,
	RT_RECORD_KINDS(RT__REC_ENUM)
#undef RT__REC_ENUM
	RT_REC_KIND_MAX = 15,
};

/* RT_REC_ADOPT how. */
enum rt_adopt_how {
	RT_ADOPT_CONTEXT = 0, /* rt_context_adopt() */
	RT_ADOPT_INHERIT = 1, /* thread started by rt_thread_create(): inherits its creator's task */
	RT_ADOPT_RESTORE = 2, /* rt_context_adopt() of a saved context, returning to earlier work */
};

/* RT_REC_LOSS `reasons` bits. */
enum rt_loss_reason {
	RT_LOSS_FULL = 1u << 0,   /* discard mode, ring full */
	RT_LOSS_NESTED = 1u << 1, /* signal handler interrupted a record on the same thread */
};

/* RT_REC_LOG `flags` bits. */
enum rt_log_flags {
	RT_LOG_TRUNCATED = 1u << 0,
};

/*
 * The CPU counters of span records: cumulative values of the thread at the record's time.
 *   cpu_src    (generation << 2) | kind. A span's breakdown is end - begin, valid when its begin and its
 *              end carry the same cpu_src (the generation changes when the source lost track, e.g. perf
 *              switch records were lost in between).
 *   cpu_ns     kind RT_CPU_SRC_OFF: time the thread spent off CPU (perf context-switch records: on-CPU =
 *              duration - off); RT_CPU_SRC_ON: time on CPU (getrusage: microseconds; the thread CPU
 *              clock: nanoseconds).
 *   csw_vol, csw_invol  voluntary and involuntary context switches (0 when the source has none).
 */
enum rt_cpu_src_kind {
	RT_CPU_SRC_OFF = 1, /* cpu_ns: cumulative off-CPU time */
	RT_CPU_SRC_ON = 2,  /* cpu_ns: cumulative on-CPU time */
};
#define RT_CPU_SRC_KIND(src) ((src) & 3u)

/* RT_REC_MISUSE codes. */
enum rt_misuse_code {
	RT_MISUSE_SPAN_END_EMPTY = 1,    /* span end with no open span (or begun before recording) */
	RT_MISUSE_SPAN_END_ORDER = 2,    /* a scoped span ended while spans opened inside it were open */
	RT_MISUSE_TASK_END_TWICE = 3,    /* detail: task id */
	RT_MISUSE_TASK_END_UNKNOWN = 4,  /* detail: task id never begun in this process (or evicted) */
	RT_MISUSE_NULL_NAME = 5,
	RT_MISUSE_NAME_TRUNCATED = 6,    /* detail: name id */
	RT_MISUSE_STACK_OVERFLOW = 7,    /* detail: depth */
	RT_MISUSE_SPAN_END_MISSING = 8,  /* a scoped span's seq was not on the stack; detail: seq */
};

/* ---- C views of the records ---- */

struct rt_rec_str {
	const char *ptr; /* not NUL-terminated */
	uint32_t len;
};

struct rt_rec_stack_entry {
	uint64_t name_id, span_seq, begin_ts, task_id, flags;
};

/* Encoder: the producer's stack entries (struct rt_shm_stack_entry); decoder: an array of struct
 * rt_rec_stack_entry it owns. */
struct rt_rec_entries {
	const void *entries;
	uint32_t count;
};

#define RT__REC_MEMBER_U(n) uint64_t n;
#define RT__REC_MEMBER_OU(n) uint64_t n;
#define RT__REC_MEMBER_S(n) struct rt_rec_str n;
#define RT__REC_MEMBER_K(n) struct rt_rec_entries n;
#define RT__REC_MEMBER(x, t, n) RT__REC_MEMBER_##t(n)

/* struct rt_rec_<name>: `present` has bit i set when field i was present (always for required
 * fields). */
#define RT__REC_STRUCT(num, NAME, name)                                          \
	struct rt_rec_##name {                                                   \
		uint32_t present;                                                \
		RT_REC_FIELDS_##name(RT__REC_MEMBER, name)                       \
	};
RT_RECORD_KINDS(RT__REC_STRUCT)
#undef RT__REC_STRUCT

/* Field indices: RT_RECF_<kind>_<field>, for `present` bits (RT_REC_HAS). */
#define RT__REC_INDEX(x, t, n) RT_RECF_##x##_##n,
#define RT__REC_INDICES(num, NAME, name) enum { RT_REC_FIELDS_##name(RT__REC_INDEX, name) RT_RECF_##name##__count };
RT_RECORD_KINDS(RT__REC_INDICES)
#undef RT__REC_INDICES
#undef RT__REC_INDEX
#define RT_REC_HAS(rec, kind, field) (((rec)->present >> RT_RECF_##kind##_##field) & 1u)

/* The fields of any record; `present` overlays every kind's own. */
union rt_rec_body {
	uint32_t present;
#define RT__REC_UNION(num, NAME, name) struct rt_rec_##name name;
	RT_RECORD_KINDS(RT__REC_UNION)
#undef RT__REC_UNION
};

/* ---- Sizes ---- */

/* Largest encoding of a record of each kind, strings and stack entries aside: RT_REC_MAX_<name>.
 * Array header (3) + kind (1) + dt (9), then 9 per integer, the 5-byte header per string and the
 * 3-byte header of the stack array. Add each string's length, and RT_REC_STACK_ENTRY_MAX per entry. */
#define RT__REC_SIZE_U 9
#define RT__REC_SIZE_OU 9
#define RT__REC_SIZE_S 5
#define RT__REC_SIZE_K 3
#define RT__REC_SIZE(x, t, n) +RT__REC_SIZE_##t
#define RT__REC_MAXSIZE(num, NAME, name) RT_REC_MAX_##name = 13 RT_REC_FIELDS_##name(RT__REC_SIZE, name),
enum { RT_RECORD_KINDS(RT__REC_MAXSIZE) RT_REC_STACK_ENTRY_MAX = 1 + 5 * 9 };
#undef RT__REC_MAXSIZE

#endif
