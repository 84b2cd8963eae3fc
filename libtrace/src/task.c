/* SPDX-License-Identifier: MIT */
/* Lock-free task table: a fixed array indexed by id, each slot guarded by its id (seqlock style). */
#include "task.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#include "process.h"

#define TASK_SLOTS (1u << 16)
#define SLOT_BUSY UINT64_MAX

struct slot {
	_Atomic uint64_t id; /* 0 empty, SLOT_BUSY while being filled */
	_Atomic uint64_t parent;
	_Atomic uint32_t name_id;
	_Atomic uint32_t ended;
};

static struct slot *slots;

int rt__tasks_init(void)
{
	void *p;

	if (slots)
		return 0;
	/* Untouched pages cost nothing; a slot's page is faulted in when first used. */
	p = mmap(NULL, TASK_SLOTS * sizeof(struct slot), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	slots = p;
	return 0;
}

uint64_t rt__tasks_add(uint64_t parent, uint32_t name_id)
{
	uint64_t id = rt__process_next_task_id();
	struct slot *s;
	uint64_t old;

	if (!slots)
		return id | RT_TASK_UNSLOTTED;
	s = &slots[id & (TASK_SLOTS - 1)];
	old = atomic_load_explicit(&s->id, memory_order_acquire);
	/* A slot is reusable once its task ended; a live task 65536 ids older keeps it. */
	if (old == SLOT_BUSY || (old != 0 && !atomic_load_explicit(&s->ended, memory_order_relaxed)))
		return id | RT_TASK_UNSLOTTED;
	if (!atomic_compare_exchange_strong_explicit(&s->id, &old, SLOT_BUSY, memory_order_acquire,
						    memory_order_relaxed))
		return id | RT_TASK_UNSLOTTED;
	atomic_store_explicit(&s->parent, parent, memory_order_relaxed);
	atomic_store_explicit(&s->name_id, name_id, memory_order_relaxed);
	atomic_store_explicit(&s->ended, 0, memory_order_relaxed);
	/* Release: the fields above are complete for anyone who acquires the id. */
	atomic_store_explicit(&s->id, id, memory_order_release);
	return id;
}

bool rt__tasks_get(uint64_t id, struct rt__task_info *out)
{
	struct slot *s;

	if (!slots || id == 0 || (id & RT_TASK_UNSLOTTED))
		return false;
	s = &slots[id & (TASK_SLOTS - 1)];
	/* Acquire pairs with the publishing release in rt__tasks_add(). */
	if (atomic_load_explicit(&s->id, memory_order_acquire) != id)
		return false;
	out->id = id;
	out->parent = atomic_load_explicit(&s->parent, memory_order_relaxed);
	out->name_id = atomic_load_explicit(&s->name_id, memory_order_relaxed);
	out->ended = atomic_load_explicit(&s->ended, memory_order_relaxed) != 0;
	/* The fields must still belong to `id`: fence, then re-check (the slot may be reused). */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&s->id, memory_order_relaxed) == id;
}

enum rt__task_end_result rt__tasks_end(uint64_t id)
{
	struct slot *s;
	uint32_t expect = 0;

	if (id & RT_TASK_UNSLOTTED)
		return RT_TASK_ENDED;
	if (!slots || id == 0)
		return RT_TASK_UNKNOWN;
	s = &slots[id & (TASK_SLOTS - 1)];
	if (atomic_load_explicit(&s->id, memory_order_acquire) != id)
		return RT_TASK_UNKNOWN;
	/* The CAS decides which of two concurrent ends is the first (Go: only the first counts). */
	if (!atomic_compare_exchange_strong_explicit(&s->ended, &expect, 1, memory_order_acq_rel,
						    memory_order_relaxed))
		return RT_TASK_ALREADY_ENDED;
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
