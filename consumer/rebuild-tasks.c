/* SPDX-License-Identifier: MIT */
/* Rebuild of tasks: a hash table of the tasks open now (per process ids, keyed hashing: the ids
 * come from the producer), their begins (recorded, or read from the producer's task table at
 * attach), ends and snapshot. */
#include "rebuild-private.h"

#include <stdlib.h>
#include <string.h>

#include "keyed-hash.h"

static uint64_t task_hash(const struct rtc_rebuild *r, uint32_t proc, uint64_t id)
{
	return rtc_hash_u64(r->seed, id ^ rtc_hash_u64(r->seed, proc));
}

struct task *rb_task_find(struct rtc_rebuild *r, uint32_t proc, uint64_t id, bool create)
{
	size_t mask = r->task_cap - 1;

	for (size_t i = task_hash(r, proc, id) & mask;; i = (i + 1) & mask) {
		struct task *t = &r->tasks[i];

		if (t->key_proc == 0) {
			if (!create)
				return NULL;
			if ((r->task_count + 1) * 2 > r->task_cap) {
				/* Grow and retry. */
				struct task *old = r->tasks;
				size_t old_cap = r->task_cap;
				struct task *fresh = calloc(old_cap * 2, sizeof(*fresh));

				if (!fresh)
					return NULL;
				r->tasks = fresh;
				r->task_cap = old_cap * 2;
				r->task_count = 0;
				for (size_t k = 0; k < old_cap; k++)
					if (old[k].key_proc) {
						struct task *n = rb_task_find(r, (uint32_t)(old[k].key_proc - 1), old[k].id, true);

						*n = old[k];
					}
				free(old);
				return rb_task_find(r, proc, id, true);
			}
			memset(t, 0, sizeof(*t));
			t->key_proc = (uint64_t)proc + 1;
			t->id = id;
			r->task_count++;
			return t;
		}
		if (t->key_proc == (uint64_t)proc + 1 && t->id == id)
			return t;
	}
}

/* Remove a task (linear probing: shift later members of the cluster back into the hole). The
 * producer never sends a second TASK_END for a task (a double end is a MISUSE record), so ended
 * tasks need not be remembered, and the table stays as small as the set of live tasks. */
static void task_remove(struct rtc_rebuild *r, struct task *k)
{
	size_t mask = r->task_cap - 1, hole = (size_t)(k - r->tasks);

	for (size_t i = (hole + 1) & mask; r->tasks[i].key_proc; i = (i + 1) & mask) {
		size_t home = task_hash(r, (uint32_t)(r->tasks[i].key_proc - 1), r->tasks[i].id) & mask;

		/* Move it if its home is not within (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			r->tasks[hole] = r->tasks[i];
			hole = i;
		}
	}
	memset(&r->tasks[hole], 0, sizeof(r->tasks[hole]));
	r->task_count--;
}

static struct rtc_out begin_event(struct rtc_rebuild *r, const struct task *k, uint32_t proc)
{
	uint32_t len = 4;
	const char *name = k->named ? r->names(r->names_ctx, proc, k->name_id, &len) : "task";

	return (struct rtc_out){ .kind = RTC_OUT_TASK_BEGIN, .pid = k->pid, .tid = k->tid, .ts = k->begin, .name = name,
				 .name_len = len, .id = k->id, .parent = k->parent, .flags = k->flags,
				 .name_key = k->named ? RB_NAME_KEY(proc, k->name_id) : 0,
				 .pid_gen = proc < r->nprocs ? r->procs[proc].gen : 0 };
}

static void count_begin(struct rtc_rebuild *r, const struct task *k)
{
	r->counts.tasks++;
	if (k->flags & RTC_F_BEGIN_UNKNOWN)
		r->counts.tasks_begin_unknown++;
}

void rb_task_begin(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	const struct rt_rec_task_begin *tb = &ev->u.task_begin;
	struct task *k = rb_task_find(r, t->meta.proc, tb->task_id, false);
	struct rtc_out o;

	t->task = tb->task_id;
	/* Already known from the producer's task table at attach (a flight recorder's history may
	 * hold the begin of a task the table also listed): it began once. */
	if (k)
		return;
	k = rb_task_find(r, t->meta.proc, tb->task_id, true);
	if (!k)
		return;
	k->parent = tb->parent_id;
	k->begin = ev->ts;
	k->name_id = (uint32_t)tb->name_id;
	k->named = true;
	k->pid = t->meta.pid;
	k->tid = t->meta.tid;
	k->flags = 0;
	o = begin_event(r, k, t->meta.proc);
	o.thread_number = t->meta.thread_number;
	count_begin(r, k);
	rb_emit(r, &o);
}

static void task_open(struct rtc_rebuild *r, uint32_t proc, uint64_t id, uint64_t parent, uint32_t name_id,
		      uint64_t begin, uint32_t flags, uint32_t tid)
{
	struct task *k;
	struct rtc_out o;

	if (proc >= r->nprocs || !r->procs[proc].declared || rb_task_find(r, proc, id, false))
		return;
	k = rb_task_find(r, proc, id, true);
	if (!k)
		return;
	k->parent = parent;
	k->name_id = name_id;
	k->named = true;
	k->pid = r->procs[proc].pid;
	k->tid = tid ? tid : k->pid;
	k->begin = begin;
	k->flags = RTC_F_BEFORE_ATTACH | flags;
	if (!begin) {
		k->flags = RTC_F_BEGIN_UNKNOWN;
		k->begin = 0;
	}
	o = begin_event(r, k, proc);
	count_begin(r, k);
	rb_emit(r, &o);
}

/* A task open at attach began while the consumer was attaching, often after events of other
 * processes that the merge has not let out yet (they wait for the watermark): its begin event waits
 * for them. Held ones are few (one attach's task table at most) and sorted once. */
void rtc_rebuild_task_open(struct rtc_rebuild *r, uint32_t proc, uint64_t id, uint64_t parent, uint32_t name_id,
			   uint64_t begin, uint32_t flags, uint32_t tid)
{
	struct held_task *h;

	if (!begin || begin <= r->now || rb_grow((void **)&r->held, &r->held_cap, r->nheld + 1, sizeof(*r->held)) < 0) {
		task_open(r, proc, id, parent, name_id, begin, flags, tid);
		return;
	}
	h = &r->held[r->nheld++];
	*h = (struct held_task){ .proc = proc, .name_id = name_id, .flags = flags, .tid = tid, .id = id,
				 .parent = parent, .begin = begin };
	if (r->nheld - r->held_head > 1 && h[-1].begin > begin)
		r->held_unsorted = true;
}

static int cmp_held(const void *a, const void *b)
{
	const struct held_task *x = a, *y = b;

	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

void rb_tasks_release(struct rtc_rebuild *r, uint64_t ts)
{
	if (r->held_head == r->nheld)
		return;
	if (r->held_unsorted) {
		qsort(r->held + r->held_head, r->nheld - r->held_head, sizeof(*r->held), cmp_held);
		r->held_unsorted = false;
	}
	while (r->held_head < r->nheld && r->held[r->held_head].begin <= ts) {
		const struct held_task *h = &r->held[r->held_head++];

		task_open(r, h->proc, h->id, h->parent, h->name_id, h->begin, h->flags, h->tid);
	}
	if (r->held_head == r->nheld)
		r->held_head = r->nheld = 0;
}

void rtc_rebuild_advance(struct rtc_rebuild *r, uint64_t ts)
{
	rb_tasks_release(r, ts);
	if (ts > r->now && ts != UINT64_MAX)
		r->now = ts;
}

static void end_out(struct rtc_rebuild *r, struct task *k, uint32_t proc, uint64_t ts, uint32_t flags)
{
	uint32_t len = 4;
	const char *name = k->named ? r->names(r->names_ctx, proc, k->name_id, &len) : "task";
	struct rtc_out o = { .kind = RTC_OUT_TASK_END, .pid = k->pid, .tid = k->tid, .ts = ts,
			     .dur = ts > k->begin ? ts - k->begin : 0, .name = name, .name_len = len,
			     .id = k->id, .parent = k->parent, .flags = flags | k->flags,
			     .name_key = k->named ? RB_NAME_KEY(proc, k->name_id) : 0,
			     .pid_gen = proc < r->nprocs ? r->procs[proc].gen : 0 };

	if (flags & RTC_F_INCOMPLETE)
		r->counts.tasks_incomplete++;
	rb_emit(r, &o);
	task_remove(r, k);
}

void rb_task_end(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	const struct rt_rec_task_end *te = &ev->u.task_end;
	struct task *k = rb_task_find(r, t->meta.proc, te->task_id, false);

	if (!k) {
		/* Begun before we attached and not in the producer's table: it starts at attach
		 * time, nameless, flagged. */
		struct rtc_out o;

		k = rb_task_find(r, t->meta.proc, te->task_id, true);
		if (!k)
			return;
		k->begin = t->meta.attach_ts < ev->ts ? t->meta.attach_ts : ev->ts;
		k->pid = t->meta.pid;
		k->tid = t->meta.tid;
		k->flags = RTC_F_BEGIN_UNKNOWN;
		o = begin_event(r, k, t->meta.proc);
		o.thread_number = t->meta.thread_number;
		count_begin(r, k);
		rb_emit(r, &o);
	}
	end_out(r, k, t->meta.proc, ev->ts, 0);
	t->task = te->current_task_after;
}

/* The open tasks in a fixed order (begin, process, id) whatever the table's seed, so that a
 * capture converts to the same file every time. NULL (and *n 0) when there are none or no memory. */
static int cmp_task(const void *a, const void *b)
{
	const struct task *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->key_proc != y->key_proc)
		return x->key_proc < y->key_proc ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static struct task *open_tasks(struct rtc_rebuild *r, size_t *n)
{
	struct task *v = r->task_count ? malloc(r->task_count * sizeof(*v)) : NULL;

	*n = 0;
	for (size_t i = 0; v && i < r->task_cap; i++)
		if (r->tasks[i].key_proc)
			v[(*n)++] = r->tasks[i];
	if (v)
		qsort(v, *n, sizeof(*v), cmp_task);
	return v;
}

void rb_tasks_finish(struct rtc_rebuild *r, uint64_t ts)
{
	size_t n;
	struct task *v = open_tasks(r, &n);

	for (size_t i = 0; i < n; i++) {
		uint32_t proc = (uint32_t)(v[i].key_proc - 1);
		struct task *k = rb_task_find(r, proc, v[i].id, false);

		end_out(r, k, proc, ts < k->begin ? k->begin : ts, RTC_F_INCOMPLETE);
	}
	free(v);
	/* Without memory for the sorted copy: in table order. */
	for (size_t i = 0; i < r->task_cap; i++) {
		struct task *k = &r->tasks[i];

		/* Ending removes the task and shifts entries back into slot i: look at it again. */
		while (k->key_proc)
			end_out(r, k, (uint32_t)(k->key_proc - 1), ts < k->begin ? k->begin : ts, RTC_F_INCOMPLETE);
	}
}

void rb_tasks_snapshot(struct rtc_rebuild *r, void (*fn)(void *ctx, const struct rtc_out *ev), void *ctx)
{
	size_t n;
	struct task *v = open_tasks(r, &n);

	for (size_t i = 0; i < n; i++) {
		struct rtc_out o = begin_event(r, &v[i], (uint32_t)(v[i].key_proc - 1));

		fn(ctx, &o);
	}
	/* Without memory for the sorted copy: in table order. */
	for (size_t i = 0; !v && i < r->task_cap; i++) {
		struct rtc_out o;

		if (!r->tasks[i].key_proc)
			continue;
		o = begin_event(r, &r->tasks[i], (uint32_t)(r->tasks[i].key_proc - 1));
		fn(ctx, &o);
	}
	free(v);
}
