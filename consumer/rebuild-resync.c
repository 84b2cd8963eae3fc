/* SPDX-License-Identifier: MIT */
/* Rebuild's resynchronisation: a thread's open spans made to agree with a STACK snapshot (the
 * producer's own, or the consumer's read of a blocked thread's shared stack). */
#include "rebuild-private.h"

#include <stdlib.h>

#include <ringtrace/shm-format.h>

/* Index of the open span numbered seq, or -1. Open spans' numbers increase from outermost to
 * innermost (each begin takes the next), so this is a binary search. */
long rb_find_seq(const struct tstate *t, uint64_t seq)
{
	size_t lo = 0, hi = t->depth;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->stack[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->depth && t->stack[lo].seq == seq ? (long)lo : -1;
}

static uint32_t begin_flags(const struct tstate *t, uint64_t *begin, uint64_t entry_flags)
{
	uint32_t coarse = (entry_flags & RT_SHM_STACK_COARSE) ? RTC_F_COARSE_BEGIN : 0;

	if (*begin == 0) {
		*begin = t->meta.attach_ts;
		return RTC_F_BEGIN_UNKNOWN;
	}
	return (*begin < t->meta.attach_ts ? RTC_F_BEFORE_ATTACH : 0) | coarse;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool in_sorted(const uint64_t *v, size_t n, uint64_t x)
{
	return n && bsearch(&x, v, n, sizeof(*v), cmp_u64) != NULL;
}

/* A STACK snapshot is the truth about the thread just before the next record. */
void rb_resync(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	const struct rt_rec_stack *st = &ev->u.stack;
	uint32_t nst = st->entries.count;
	uint64_t when = t->after_loss && t->lost_first_ts ? t->lost_first_ts : ev->ts;
	uint64_t seqs[RTC_STACK_MAX];
	struct open_span keep[RTC_STACK_MAX];
	size_t nkeep = 0;

	uint64_t floor = 0;

	for (uint32_t k = 0; k < nst; k++)
		seqs[k] = ev->stack[k].span_seq;
	qsort(seqs, nst, sizeof(seqs[0]), cmp_u64);
	/*
	 * Ours that the snapshot does not have ended unseen (inside lost records, or while nothing
	 * recorded). A span the snapshot has and we do not began after they did (they were open
	 * before it, and are not now): its begin is at least `floor`, and theirs end no later than
	 * its begin. Such a begin is often from the idle clock, which may lag a few milliseconds:
	 * without this, a span begun just after the lease was dropped would seem to begin before
	 * the span it followed ended.
	 */
	for (size_t i = 0; i < t->depth; i++)
		if (!in_sorted(seqs, nst, t->stack[i].seq) && t->stack[i].begin > floor)
			floor = t->stack[i].begin;
	/* What the records show open at the thread's last record ended after it (a gap's start is
	 * our last poll, and the producer may have recorded until its lease expired). */
	if (floor && floor < t->last_rec_ts)
		floor = t->last_rec_ts;
	if (when < t->last_rec_ts)
		when = t->last_rec_ts;
	for (uint32_t k = 0; k < nst && floor; k++) {
		uint64_t begin = ev->stack[k].begin_ts;

		if (rb_find_seq(t, ev->stack[k].span_seq) < 0 &&
		    !(begin_flags(t, &begin, ev->stack[k].flags) & RTC_F_BEGIN_UNKNOWN)) {
			if (begin < floor)
				begin = floor;
			if (begin < when)
				when = begin;
		}
	}
	for (size_t i = t->depth; i-- > 0;)
		if (!in_sorted(seqs, nst, t->stack[i].seq))
			rb_close_at(r, t, i, when, RTC_F_LOST_END);
	for (uint32_t k = 0; k < nst; k++) {
		const struct rt_rec_stack_entry *it = &ev->stack[k];
		long i = rb_find_seq(t, it->span_seq);

		if (i >= 0) {
			keep[nkeep++] = t->stack[i];
		} else {
			uint64_t begin = it->begin_ts;
			uint32_t flags = begin_flags(t, &begin, it->flags);

			if (begin < floor)
				begin = floor;

			keep[nkeep++] = (struct open_span){ .begin = begin, .seq = it->span_seq, .task = it->task_id,
							    .name_id = (uint32_t)it->name_id, .flags = flags };
		}
	}
	t->depth = 0;
	for (size_t i = 0; i < nkeep; i++) {
		uint64_t child = keep[i].child_ns;

		rb_push_span(r, t, &keep[i]);
		if (t->depth)
			t->stack[t->depth - 1].child_ns = child;
	}
	t->too_deep = 0;
	t->span_seq = st->span_seq;
	t->task = st->current_task;
	t->synced = true;
	t->after_loss = false;
}

/*
 * The consumer's own read of a blocked thread's shared stack (live.c) can be one record off: the
 * producer commits a BEGIN or END, then pushes or pops. With the thread's span numbers known
 * (synced) that is made exact: entries our records already ended (numbered at most our last, no
 * longer open) are left out, and spans whose BEGIN we have but the stack not yet (numbered above
 * its last) are kept. Numbers not known and spans open (a reader that resumed a ring after its
 * STACK record): the read is dropped, as before such reads existed.
 */
void rb_resync_shared(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	struct rt_rec_stack_entry e[RTC_STACK_MAX];
	struct rtc_event fixed = *ev;
	uint64_t ours = t->span_seq, theirs = ev->u.stack.span_seq;
	uint32_t n = 0;

	if (!ev->u.stack.present)
		return;
	if (!t->synced) {
		/* Only a thread that showed no span yet: numbers we gave out would collide with the
		 * read's, and an END that matched nothing may have its pop still to come. */
		if (!t->depth && !t->span_seq && !t->unmatched_end)
			rb_resync(r, t, ev);
		return;
	}
	for (uint32_t k = 0; k < ev->u.stack.entries.count; k++)
		if (ev->stack[k].span_seq > ours || rb_find_seq(t, ev->stack[k].span_seq) >= 0)
			e[n++] = ev->stack[k];
	for (size_t i = 0; i < t->depth && n < RTC_STACK_MAX; i++)
		if (t->stack[i].seq > theirs)
			e[n++] = (struct rt_rec_stack_entry){ .span_seq = t->stack[i].seq };
	fixed.stack = e;
	fixed.u.stack.entries.count = n;
	fixed.u.stack.span_seq = ours > theirs ? ours : theirs;
	/* The producer records a task change before it makes it on the stack: the records' task is
	 * the newer (one changed without a record comes with a STACK record before the next). */
	fixed.u.stack.current_task = t->task;
	rb_resync(r, t, &fixed);
}

