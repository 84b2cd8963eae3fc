/* SPDX-License-Identifier: MIT */
/* The stream processor's decoding: a chunk's records into merge events on the process's timeline,
 * with the strings and STACK entries they carry copied out of the chunk. */
#include "processor-private.h"

#include <stdlib.h>
#include <string.h>

#include <ringtrace/ringtrace.h>

/* A STACK event's own copy of its n entries, begins converted to our timeline. */
void pr_own_stack(struct rtc_event *ev, const struct rt_rec_stack_entry *entries, uint32_t n, struct pproc *p)
{
	ev->stack = n ? malloc(n * sizeof(*ev->stack)) : NULL;
	if (!ev->stack)
		n = 0;
	for (uint32_t k = 0; k < n; k++) {
		ev->stack[k] = entries[k];
		/* Begins taken with the idle coarse clock are CLOCK_MONOTONIC ns already. */
		if (entries[k].begin_ts && !(entries[k].flags & RT_SHM_STACK_COARSE))
			ev->stack[k].begin_ts = rtc_clockmap_ns(&p->clock, entries[k].begin_ts);
	}
	ev->u.stack.entries.entries = ev->stack;
	ev->u.stack.entries.count = n;
}

/* Strings and STACK entries outlive the chunk they were decoded from: the event owns copies. */
static void own_payload(struct rtc_event *ev, const struct rtc_record *rec, struct pproc *p)
{
	struct rt_rec_str *s = rec->kind == RT_REC_THREAD_NAME    ? &ev->u.thread_name.name
			       : rec->kind == RT_REC_LOG          ? &ev->u.log.message
			       : rec->kind == RT_REC_THREAD_START ? &ev->u.thread_start.name
								  : NULL;

	if (s) {
		ev->str = malloc((size_t)s->len + 1);
		if (ev->str) {
			memcpy(ev->str, s->ptr, s->len);
			ev->str[s->len] = 0;
			s->ptr = ev->str;
		} else {
			s->ptr = "";
			s->len = 0;
		}
	}
	if (rec->kind == RT_REC_STACK)
		pr_own_stack(ev, rec->stack, rec->u.stack.entries.count, p);
}

static void lost_before(struct rtc_processor *pr, struct pthread_ *t, uint32_t thread, struct pproc *p, uint64_t n,
			uint64_t first_raw)
{
	struct rtc_event *ev = rtc_merge_push(pr->merge, thread);

	if (!ev)
		return;
	ev->ts = rtc_clockmap_ns(&p->clock, first_raw);
	if (ev->ts < t->last_ns)
		ev->ts = t->last_ns;
	ev->kind = RTC_EV_GAP;
	ev->u.loss.records = n;
}

void pr_on_chunk(void *ctx, const struct rtc_stream_chunk *c)
{
	struct rtc_processor *pr = ctx;
	struct pthread_ *t = pr_thread_at(pr, c->thread);
	struct pproc *p;
	struct rtc_decoder dec;
	struct rtc_record rec;
	uint64_t records = 0, lost;
	bool decodable;
	int ret;

	if (!t)
		return;
	p = pr->procs[t->proc];
	pr->bytes += c->len;
	if (pr->no_decode)
		return;
	decodable = rtc_chunk_start(&t->cursor, &dec, c->data, c->len, c->base_ts, c->flags & RTC_CHUNK_CONTINUES,
				    c->rec0, c->resume_rec0, &lost);
	/* Overwritten before they could be read (overwrite mode); version 1 captures say so. */
	if (lost)
		lost_before(pr, t, c->thread, p, lost, c->base_ts);
	else if (c->lost_before)
		lost_before(pr, t, c->thread, p, c->lost_before, c->lost_first_ts);
	if (!decodable)
		return; /* the start of this sub-buffer was undecodable: its rest is too */
	while ((ret = rtc_decoder_next(&dec, &rec)) > 0) {
		struct rtc_event *ev;
		uint64_t prev_ns = t->last_ns, ns;

		if (dec.off <= c->skip)
			continue; /* delivered by an earlier reader of this ring; decoded for its timestamp */
		ev = rtc_merge_push(pr->merge, c->thread);
		if (!ev)
			break;
		records++;
		ns = rtc_clockmap_ns(&p->clock, rec.ts);
		/* Per thread, time never goes back on our timeline (calibration updates). */
		ev->ts = ns < t->last_ns ? t->last_ns : ns;
		t->last_ns = ev->ts;
		ev->kind = rec.kind;
		ev->u = rec.u;
		if (rec.kind == RT_REC_LOSS) {
			/* The first drop came after the thread's previous record and before this one,
			 * whatever calibration points arrived between their chunks. */
			uint64_t first = rec.u.loss.first_ts ? rtc_clockmap_ns(&p->clock, rec.u.loss.first_ts) : ev->ts;

			if (first < prev_ns)
				first = prev_ns;
			ev->u.loss.first_ts = first > ev->ts ? ev->ts : first;
		} else if (rec.kind == RT_REC_LOG || rec.kind == RT_REC_THREAD_NAME || rec.kind == RT_REC_THREAD_START ||
			   rec.kind == RT_REC_STACK) {
			own_payload(ev, &rec, p);
		}
	}
	rtc_chunk_done(&t->cursor, &dec, ret);
	atomic_fetch_add_explicit(&pr->records, records, memory_order_relaxed);
	if (ret < 0) {
		pr->corrupt_chunks++;
		pr_say(pr, "pid %u thread index %u: malformed record at byte %zu of a %zu-byte chunk; the rest of its sub-buffer is skipped",
		    p->pid, c->thread, dec.off, c->len);
	}
	if (pr->pause)
		pr->pause(pr->pause_ctx);
}
