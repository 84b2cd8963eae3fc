/* SPDX-License-Identifier: MIT */
/* Rebuild of hand-offs: a context captured on one thread (CONTEXT record) and adopted on another
 * (ADOPT record) becomes one flow, from the capture to the adoption. */
#include "rebuild-private.h"

#include <string.h>

void rb_capture(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	struct capture *c = &t->captures[t->ncaptures++ % CAPTURES_KEPT];

	(void)r;
	c->ts = ev->ts;
	c->task = ev->u.context.task_id;
	c->span_seq = ev->u.context.span_seq;
	c->used = false;
}

/* The newest capture on f of (task, span) not adopted yet, else the newest adopted one (a context
 * handed to several workers), else NULL (captured before we attached, or pushed out). */
static struct capture *find_capture(struct tstate *f, uint64_t task, uint64_t span_seq)
{
	struct capture *fallback = NULL;
	uint32_t n = f->ncaptures < CAPTURES_KEPT ? f->ncaptures : CAPTURES_KEPT;

	for (uint32_t k = 0; k < n; k++) {
		struct capture *c = &f->captures[(f->ncaptures - 1 - k) % CAPTURES_KEPT];

		if (c->task != task || c->span_seq != span_seq)
			continue;
		if (!c->used)
			return c;
		if (!fallback)
			fallback = c;
	}
	return fallback;
}

void rb_adopt(struct rtc_rebuild *r, struct tstate *t, const struct rtc_event *ev)
{
	const struct rt_rec_adopt *ad = &ev->u.adopt;
	int from = ad->from_thread ? rb_find_thread(r, t->meta.proc, ad->from_thread) : -1;
	struct tstate *f;
	struct capture *c;
	const char *what;
	struct rtc_out s, e;

	t->task = ad->task_id;
	if (from < 0 || ad->how == RT_ADOPT_RESTORE || r->threads[from].meta.tid == t->meta.tid)
		return;
	f = &r->threads[from];
	c = find_capture(f, ad->task_id, ad->from_span_seq);
	what = ad->how == RT_ADOPT_INHERIT ? "inherit" : "adopt";
	/* Start where the context was captured; without its capture record (it happened before we
	 * attached), at the adoption's time on the capturing thread. The flow's ends are anchored
	 * by the output format (consumer/chrome-format.c writes a slice each end binds to). */
	s = (struct rtc_out){ .kind = RTC_OUT_FLOW, .pid = f->meta.pid, .tid = f->meta.tid,
			      .ts = c && c->ts <= ev->ts ? c->ts : ev->ts, .name = what, .name_len = (uint32_t)strlen(what),
			      .id = ++r->next_flow, .task = ad->task_id, .thread_number = f->meta.thread_number,
			      .span_seq = ad->from_span_seq, .count = 0, .cat = "flow" };
	e = s;
	e.pid = t->meta.pid;
	e.tid = t->meta.tid;
	e.ts = ev->ts;
	e.thread_number = t->meta.thread_number;
	e.span_seq = t->depth ? t->stack[t->depth - 1].seq : 0;
	e.count = 1;
	if (c)
		c->used = true;
	r->counts.flows++;
	rb_emit(r, &s);
	rb_emit(r, &e);
}
