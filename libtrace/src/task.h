/* SPDX-License-Identifier: MIT */
/* The process's task table, in the control segment (docs/format.md 2.4): ids, parents, names, begin
 * times and ended flags of tasks, so that any thread can end a task, find a parent that has not
 * ended, print an ID stack, and a consumer attaching late sees every open task. Lock-free. */
#ifndef RT_TASK_H
#define RT_TASK_H

#include <stdbool.h>
#include <stdint.h>

/* Task ids with this bit had no free table slot: they work, but their end is not checked (counted
 * in the control segment's task_overflows). */
#define RT_TASK_UNSLOTTED (1ull << 62)

struct rt__task_info {
	uint64_t id;
	uint64_t parent;
	uint32_t name_id;
	bool ended;
};

/* New task: returns its id (never 0). Its begin time is the process clock while recording (or with
 * RINGTRACE_TRACK_SPANS=1), else the idle clock's CLOCK_MONOTONIC time (flagged), as for spans. */
uint64_t rt__tasks_add(uint64_t parent, uint32_t name_id);

/* Look a task up; false when unknown (never begun, or its slot was reused after it ended). */
bool rt__tasks_get(uint64_t id, struct rt__task_info *out);

enum rt__task_end_result {
	RT_TASK_ENDED = 0,
	RT_TASK_ALREADY_ENDED = 1,
	RT_TASK_UNKNOWN = 2,
};

enum rt__task_end_result rt__tasks_end(uint64_t id);

/* id itself if it has not ended, else its nearest ancestor that has not (0 for none). */
uint64_t rt__tasks_live_ancestor(uint64_t id);

#endif
