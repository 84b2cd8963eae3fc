/* SPDX-License-Identifier: MIT */
/* Rebuild's indexes of threads, so that no record costs a pass over every thread: (process, thread
 * number) -> thread for hand-offs (a keyed hash), and each process's threads not done, for gaps. */
#include "rebuild-private.h"

#include <stdlib.h>

#include "keyed-hash.h"

static size_t slot_of(const struct rtc_rebuild *r, uint32_t proc, uint64_t thread_number)
{
	/* proc goes through the keyed hash too: no choice of thread numbers across processes
	 * can make their keys equal. */
	return (size_t)rtc_hash_u64(r->seed, thread_number ^ rtc_hash_u64(r->seed, proc)) & (r->thread_map_cap - 1);
}

static struct thread_key *find(struct rtc_rebuild *r, uint32_t proc, uint64_t thread_number)
{
	size_t mask = r->thread_map_cap - 1;

	for (size_t i = slot_of(r, proc, thread_number);; i = (i + 1) & mask) {
		struct thread_key *k = &r->thread_map[i];

		if (!k->index1 || (k->proc == proc && k->thread_number == thread_number))
			return k;
	}
}

static int map_grow(struct rtc_rebuild *r)
{
	struct thread_key *old = r->thread_map;
	size_t old_cap = r->thread_map_cap, cap = old_cap ? 2 * old_cap : 64;
	struct thread_key *fresh = calloc(cap, sizeof(*fresh));

	if (!fresh)
		return -1;
	r->thread_map = fresh;
	r->thread_map_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].index1)
			*find(r, old[i].proc, old[i].thread_number) = old[i];
	free(old);
	return 0;
}

static void map_put(struct rtc_rebuild *r, uint32_t proc, uint64_t thread_number, uint32_t idx)
{
	struct thread_key *k;

	if ((r->thread_map_count + 1) * 2 > r->thread_map_cap && map_grow(r) < 0)
		return;
	k = find(r, proc, thread_number);
	if (!k->index1)
		r->thread_map_count++;
	*k = (struct thread_key){ .thread_number = thread_number, .proc = proc, .index1 = idx + 1 };
}

int rb_find_thread(struct rtc_rebuild *r, uint32_t proc, uint64_t thread_number)
{
	const struct thread_key *k;
	const struct tstate *t;

	if (!r->thread_map_cap)
		return -1;
	k = find(r, proc, thread_number);
	if (!k->index1)
		return -1;
	/* Declared again since with other numbers (only a corrupt stream does that): not it. */
	t = &r->threads[k->index1 - 1];
	return t->declared && t->meta.proc == proc && t->meta.thread_number == thread_number ? (int)(k->index1 - 1) : -1;
}

static void unlink_live(struct rtc_rebuild *r, uint32_t idx)
{
	struct tstate *t = &r->threads[idx];
	struct proc *p = &r->procs[t->live_proc];

	if (t->live_prev)
		r->threads[t->live_prev - 1].live_next = t->live_next;
	else
		p->live_head = t->live_next;
	if (t->live_next)
		r->threads[t->live_next - 1].live_prev = t->live_prev;
	else
		p->live_tail = t->live_prev;
	t->live = false;
	t->live_prev = t->live_next = 0;
}

static void link_live(struct rtc_rebuild *r, uint32_t idx, uint32_t proc)
{
	struct tstate *t = &r->threads[idx];
	struct proc *p;

	if (proc >= r->nprocs) {
		size_t cap = r->nprocs;

		if (rb_grow((void **)&r->procs, &cap, (size_t)proc + 1, sizeof(*r->procs)) < 0)
			return;
		r->nprocs = cap;
	}
	p = &r->procs[proc];
	t->live = true;
	t->live_proc = proc;
	t->live_prev = p->live_tail;
	t->live_next = 0;
	if (p->live_tail)
		r->threads[p->live_tail - 1].live_next = idx + 1;
	else
		p->live_head = idx + 1;
	p->live_tail = idx + 1;
}

void rb_index_thread(struct rtc_rebuild *r, uint32_t idx)
{
	struct tstate *t = &r->threads[idx];

	if (t->live && t->live_proc != t->meta.proc)
		unlink_live(r, idx);
	if (!t->live && !t->done)
		link_live(r, idx, t->meta.proc);
	map_put(r, t->meta.proc, t->meta.thread_number, idx);
}

void rb_index_done(struct rtc_rebuild *r, uint32_t idx)
{
	if (r->threads[idx].live)
		unlink_live(r, idx);
}

struct tstate *rb_first_live(struct rtc_rebuild *r, uint32_t proc)
{
	return proc < r->nprocs && r->procs[proc].live_head ? &r->threads[r->procs[proc].live_head - 1] : NULL;
}

void rb_index_fini(struct rtc_rebuild *r)
{
	free(r->thread_map);
}
