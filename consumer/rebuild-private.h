/* SPDX-License-Identifier: MIT */
/* Rebuild's state, shared by its files: rebuild.c (threads and spans), rebuild-resync.c (STACK
 * snapshots), rebuild-tasks.c (the task table), rebuild-flows.c (hand-offs between threads) and
 * rebuild-index.c (finding threads). */
#ifndef RTC_REBUILD_PRIVATE_H
#define RTC_REBUILD_PRIVATE_H

#include "rebuild.h"

/* rtc_out.name_key of a name of the process numbered proc in this trace. */
#define RB_NAME_KEY(proc, name_id) (((uint64_t)(proc) + 1) << 32 | (uint32_t)(name_id))

/* The thread's CPU counters a span record carried (records.h RT_REC_CPU_FIELDS); src 0: none. */
struct cpu_counters {
	uint64_t src, ns, vol, invol;
};

struct open_span {
	uint64_t begin;
	uint64_t seq;
	uint64_t task;
	uint64_t child_ns;
	uint32_t name_id;
	uint32_t flags;
	struct cpu_counters cpu; /* at its begin */
};

/* Where a thread captured a context (CONTEXT records), kept until adopted or pushed out. */
#define CAPTURES_KEPT 32
struct capture {
	uint64_t ts, task, span_seq;
	bool used;
};

struct tstate {
	bool declared;
	bool synced; /* the open-span stack is known (STACK seen, or the thread's first record) */
	bool done;
	struct rtc_thread_meta meta;
	char name[RT_SHM_THREAD_NAME_LEN + 1];
	struct open_span *stack;
	size_t depth, cap;
	uint64_t too_deep; /* spans open beyond RTC_REBUILD_MAX_DEPTH: not kept, their ends skipped */
	uint64_t span_seq;
	uint64_t task;
	struct rtc_thread_loss loss;
	uint64_t lost_first_ts;
	uint64_t last_rec_ts; /* of its last record other than LOSS or STACK: what it shows open was open then */
	bool unmatched_end;   /* an END matched no span while its span numbers were unknown */
	bool after_loss;
	struct capture captures[CAPTURES_KEPT];
	uint32_t ncaptures; /* total ever; the ring holds the last CAPTURES_KEPT */
	/* Its place in its process's list of threads not done (indices + 1, 0 = none). */
	bool live;
	uint32_t live_proc, live_prev, live_next;
};

struct held_task {
	uint32_t proc, name_id, flags, tid;
	uint64_t id, parent, begin;
};

struct task {
	uint64_t key_proc; /* proc + 1; 0 = empty slot */
	uint64_t id;
	uint64_t parent;
	uint64_t begin;
	uint32_t name_id;
	uint32_t pid, tid;
	uint32_t flags; /* RTC_F_* of its begin */
	bool named;     /* name_id is known (not only seen ending) */
};

struct proc {
	bool declared;
	uint32_t pid, parent_pid;
	uint32_t gen; /* how many processes of the trace had this pid before it (reuse, exec) */
	char name[RT_SHM_PROCESS_NAME_LEN + 1];
	uint32_t live_head, live_tail; /* its threads not done, in declaration order (indices + 1) */
};

/* pid -> processes of the trace that had it, less one. */
struct pid_key {
	uint32_t pid, seen;
	bool used;
};

/* (process, thread number) -> the thread declared last with them. */
struct thread_key {
	uint64_t thread_number;
	uint32_t proc;
	uint32_t index1; /* thread index + 1; 0 = empty slot */
};

struct rtc_rebuild {
	const char *(*names)(void *ctx, uint32_t proc, uint32_t id, uint32_t *len);
	void *names_ctx;
	void (*emit)(void *ctx, const struct rtc_out *ev);
	void *emit_ctx;
	struct tstate *threads;
	size_t nthreads;
	struct proc *procs;
	size_t nprocs;
	uint64_t seed; /* of the keyed hashes (keyed-hash.h): the task table's and thread_map's */
	struct task *tasks;
	size_t task_cap, task_count;
	struct thread_key *thread_map;
	size_t thread_map_cap, thread_map_count;
	struct pid_key *pid_map; /* pid -> how many processes of the trace had it */
	size_t pid_map_cap, pid_map_count;
	uint64_t next_flow;
	uint64_t now; /* latest ts of the merged events seen */
	/* Tasks open at attach, waiting for the stream to reach their begin (rebuild-tasks.c),
	 * [held_head, nheld) sorted by begin unless held_unsorted. */
	struct held_task *held;
	size_t nheld, held_head, held_cap;
	bool held_unsorted;
	struct rtc_rebuild_counts counts;
	struct rtc_thread_loss *loss_out;
};

static inline void rb_emit(struct rtc_rebuild *r, const struct rtc_out *o)
{
	r->emit(r->emit_ctx, o);
}

int rb_grow(void **arr, size_t *cap, size_t need, size_t elem);
struct tstate *rb_thread(struct rtc_rebuild *r, uint32_t idx);

/* rebuild-index.c: constant time whatever the number of threads. */
/* Thread idx was (re)declared with its meta (or is done): update the indexes. */
void rb_index_thread(struct rtc_rebuild *r, uint32_t idx);
void rb_index_done(struct rtc_rebuild *r, uint32_t idx);
/* The thread declared last with (proc, thread_number), or -1. */
int rb_find_thread(struct rtc_rebuild *r, uint32_t proc, uint64_t thread_number);
/* The first declared thread of proc that is not done, or NULL. */
struct tstate *rb_first_live(struct rtc_rebuild *r, uint32_t proc);
void rb_index_fini(struct rtc_rebuild *r);
/* A process with pid declared: how many declared before it had that pid (0 for the first). */
uint32_t rb_index_pid(struct rtc_rebuild *r, uint32_t pid);

/* rebuild-tasks.c */
struct task *rb_task_find(struct rtc_rebuild *r, uint32_t proc, uint64_t id, bool create);
void rb_task_begin(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev);
void rb_task_end(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev);
void rb_tasks_finish(struct rtc_rebuild *r, uint64_t ts);
/* Tasks open at attach whose begin is at or before ts come out; the stream reached ts. */
void rb_tasks_release(struct rtc_rebuild *r, uint64_t ts);
void rb_tasks_snapshot(struct rtc_rebuild *r, void (*fn)(void *ctx, const struct rtc_out *ev), void *ctx);

/* rebuild.c: a span opened on t, and t's open span i closed at end (with those inside it). */
void rb_push_span(struct rtc_rebuild *r, struct tstate *t, const struct open_span *s);
void rb_close_at(struct rtc_rebuild *r, struct tstate *t, size_t i, uint64_t end, uint32_t extra_flags);

/* rebuild-resync.c */
/* Index of t's open span numbered seq, or -1. */
long rb_find_seq(const struct tstate *t, uint64_t seq);
/* A STACK snapshot (RT_REC_STACK) is the truth about the thread just before its next record. */
void rb_resync(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev);
/* The consumer's read of a blocked thread's shared stack (RTC_EV_SHARED_STACK). */
void rb_resync_shared(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev);

/* rebuild-flows.c */
void rb_capture(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev);
void rb_adopt(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev);

#endif
