/* SPDX-License-Identifier: MIT */
/* Lock-free task table in the control segment: open addressing over a few probes from id % capacity,
 * each slot guarded by its id word (a seqlock whose sequence is the unique task id). */
#include "task.h"

#include <stdatomic.h>
#include <stddef.h>

#include "clock.h"
#include "idle-clock.h"
#include "process.h"

uint64_t rt__tasks_add(uint64_t parent, uint32_t name_id)
{
	struct rt_shm_control *ctl = rt__proc.ctl;
	struct rt_shm_task_slot *tab = rt__proc.tasks;
	uint32_t mask = rt__proc.tasks_mask;
	uint64_t id = rt__process_next_task_id();

	if (!tab)
		return id | RT_TASK_UNSLOTTED;
	for (uint32_t p = 0; p < RT_SHM_TASK_PROBES; p++) {
		struct rt_shm_task_slot *s = &tab[(id + p) & mask];
		uint64_t old = atomic_load_explicit(&s->id, memory_order_relaxed);
		uint32_t flags = 0;
		uint64_t ts;

		/* Free, or its task ended: a live task keeps its slot. */
		if (old != 0 && (old == RT_SHM_TASK_BUSY || !(old & RT_SHM_TASK_ENDED)))
			continue;
		/* Acquire: nothing of ours below is ordered before winning the slot. */
		if (!atomic_compare_exchange_strong_explicit(&s->id, &old, RT_SHM_TASK_BUSY, memory_order_acquire,
							    memory_order_relaxed))
			continue;
		/* Seqlock writer: BUSY is visible before any field changes; pairs with the acquire fence a
		 * reader issues before re-reading the id word (rt__tasks_get(), the consumer). */
		atomic_thread_fence(memory_order_release);
		/* The clock a span begun now would get (api.c): the process clock while recording
		 * or with RINGTRACE_TRACK_SPANS=1, else the idle clock, flagged. Relaxed: only decides
		 * which clock to read. */
		if (atomic_load_explicit(&ctl->active, memory_order_relaxed) == RT_SHM_ACTIVE_ON || rt__proc.cfg.track_tsc) {
			ts = rt__now();
		} else {
			ts = rt__idle_now();
			flags = RT_SHM_TASK_COARSE;
		}
		atomic_store_explicit(&s->parent, parent, memory_order_relaxed);
		atomic_store_explicit(&s->begin_ts, ts, memory_order_relaxed);
		atomic_store_explicit(&s->name_id, name_id, memory_order_relaxed);
		atomic_store_explicit(&s->flags, flags, memory_order_relaxed);
		/* Release: the fields above are complete for anyone who acquires the id. */
		atomic_store_explicit(&s->id, id, memory_order_release);
		return id;
	}
	atomic_fetch_add_explicit(&ctl->task_overflows, 1, memory_order_relaxed);
	return id | RT_TASK_UNSLOTTED;
}

/* The slot holding id (live or ended), or NULL. *word gets the id word seen (acquire). */
static inline struct rt_shm_task_slot *find(uint64_t id, uint64_t *word)
{
	struct rt_shm_task_slot *tab = rt__proc.tasks;

	if (id == 0 || (id & RT_TASK_UNSLOTTED) || !tab)
		return NULL;
	for (uint32_t p = 0; p < RT_SHM_TASK_PROBES; p++) {
		struct rt_shm_task_slot *s = &tab[(id + p) & rt__proc.tasks_mask];
		/* Acquire pairs with the publishing release in rt__tasks_add(). (BUSY, all ones, never
		 * matches: ids are below 2^62.) */
		uint64_t w = atomic_load_explicit(&s->id, memory_order_acquire);

		if ((w & ~RT_SHM_TASK_ENDED) == id) {
			*word = w;
			return s;
		}
	}
	return NULL;
}

bool rt__tasks_get(uint64_t id, struct rt__task_info *out)
{
	uint64_t w, w2;
	struct rt_shm_task_slot *s = find(id, &w);

	if (!s)
		return false;
	out->id = id;
	out->parent = atomic_load_explicit(&s->parent, memory_order_relaxed);
	out->name_id = atomic_load_explicit(&s->name_id, memory_order_relaxed);
	/* The fields must still belong to `id`: fence, then re-check (the slot may be reused). */
	atomic_thread_fence(memory_order_acquire);
	w2 = atomic_load_explicit(&s->id, memory_order_relaxed);
	if ((w2 & ~RT_SHM_TASK_ENDED) != id)
		return false;
	out->ended = (w2 & RT_SHM_TASK_ENDED) != 0;
	return true;
}

enum rt__task_end_result rt__tasks_end(uint64_t id)
{
	uint64_t w;
	struct rt_shm_task_slot *s;

	if (id & RT_TASK_UNSLOTTED)
		return RT_TASK_ENDED;
	s = find(id, &w);
	if (!s)
		return RT_TASK_UNKNOWN;
	/* The CAS on the id word decides which of two concurrent ends is the first (Go: only the first
	 * counts); ids are unique, so a reused slot can never match. acq_rel: pairs with the acquire
	 * of whoever reuses the slot after us. */
	if (w & RT_SHM_TASK_ENDED)
		return RT_TASK_ALREADY_ENDED;
	if (!atomic_compare_exchange_strong_explicit(&s->id, &w, id | RT_SHM_TASK_ENDED, memory_order_acq_rel,
						    memory_order_relaxed))
		return RT_TASK_ALREADY_ENDED; /* only an end changes a live task's word */
	return RT_TASK_ENDED;
}

uint64_t rt__tasks_live_ancestor(uint64_t id)
{
	struct rt__task_info info;

	for (int hops = 0; id != 0 && hops < 256; hops++) {
		if (!rt__tasks_get(id, &info))
			return (id & RT_TASK_UNSLOTTED) ? id : 0;
		if (!info.ended)
			return id;
		id = info.parent;
	}
	return 0;
}
