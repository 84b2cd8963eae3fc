/* SPDX-License-Identifier: MIT */
/* The raw capture's message kinds, shared by its writer (rawfile-write.c) and reader (rawfile.c);
 * the file's layout is docs/consumer.md's "Raw captures". */
#ifndef RTC_RAWFILE_PRIVATE_H
#define RTC_RAWFILE_PRIVATE_H

#include "rawfile.h"

enum msg {
	MSG_PROCESS = 1,     /* [1, index, pid, name, clock, mode, start_real_ns, start_mono_ns, parent_pid, coarse_res_ns (v2)] */
	MSG_NAME = 2,        /* [2, proc, id, name] */
	MSG_THREAD = 3,      /* [3, proc, index, thread_number, tid, name, attach_ns] */
	MSG_CALIB = 4,       /* [4, proc, raw, mono_ns, real_ns] */
	MSG_CHUNK = 5,       /* [5, thread, base_ts, lost_before, lost_first_ts, bin records, flags (v2), skip (v2), rec0 (v2), resume_rec0 (v2)] */
	MSG_WATERMARK = 6,   /* [6, watermark_ns] */
	MSG_THREAD_DONE = 7, /* [7, thread, ts_ns, unreported_lost (optional)] */
	MSG_END = 8,         /* [8, end_ns] */
	MSG_TASK = 9,        /* [9, proc, id, parent, name_id, flags, begin, tid] (v2) */
	MSG_COUNTS = 10,     /* [10, proc, threads_untraced, names_overflowed, tasks_untracked, stack_overflows, overwritten] (v2) */
	MSG_GAP = 11,        /* [11, proc, from_ns, to_ns, not_recorded] (v2) */
	MSG_STACK = 12,      /* [12, thread, ts_ns, current_task, span_seq, bin entries] (v2; readers before it skip it) */
};

/* A stack entry in a capture (MSG_STACK's bin): name_id, span_seq, begin_ts, task_id, flags, u64
 * little-endian. */
#define STACK_ENTRY_BYTES 40

#endif
