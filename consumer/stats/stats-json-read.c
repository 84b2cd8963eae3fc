/* SPDX-License-Identifier: MIT */
/* Reads the statistics JSON back into a model, for `diff` and for showing a saved run: the file is
 * untrusted, so every object is checked (types, ranges, counts against histograms) and bounded. */
#include "stats-impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Names are written cut at RTC_STATS_MAX_NAME bytes, where each invalid byte became U+FFFD (3 bytes). */
#define NAME_CAP (3 * RTC_STATS_MAX_NAME + 1)

struct reader {
	struct rtc_json j;
	const char *base;
	struct rtc_stats *s;
	char *name; /* NAME_CAP bytes */
	struct rtc_hist *hist;
	char *err;
	size_t err_len;
	int rc;
	const char *where; /* "spans", "tasks", ... */
	size_t index;      /* item within it */
};

static int bad(struct reader *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (r->rc)
		return r->rc;
	r->rc = rc;
	if (r->err && r->err_len) {
		int n = r->where ? snprintf(r->err, r->err_len, "%s[%zu]: ", r->where, r->index) : 0;

		if (n < 0 || (size_t)n >= r->err_len)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(r->err + n, r->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int syntax(struct reader *r)
{
	return bad(r, -EPROTO, "malformed JSON or a value of the wrong type near byte %zu",
		   (size_t)(r->j.p - r->base));
}

struct field {
	const char *key;
	uint64_t *dst;
};

static const struct field *find_field(const struct field *f, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(key, f[i].key))
			return &f[i];
	return NULL;
}

/* An object of numbers: known keys into their fields, others skipped. */
static int read_fields(struct reader *r, const struct field *fields, size_t n)
{
	char key[40];
	int more;

	if (rtc_json_object_begin(&r->j))
		return syntax(r);
	while ((more = rtc_json_object_next(&r->j, key, sizeof(key))) == 1) {
		const struct field *f = find_field(fields, n, key);

		if (f ? rtc_json_u64(&r->j, f->dst) : rtc_json_skip(&r->j))
			return bad(r, -EPROTO, "\"%s\" is not a non-negative integer", key);
	}
	return more ? syntax(r) : 0;
}

/* A string into r->name. */
static int read_name(struct reader *r, size_t *len)
{
	if (rtc_json_string(&r->j, r->name, NAME_CAP, len))
		return bad(r, -EPROTO, "a name is not a string of at most %d bytes of valid UTF-8", NAME_CAP - 1);
	return 0;
}

/* A string, copied (it may hold NUL bytes: keep its length). */
static int read_copy(struct reader *r, char **dst, size_t *len)
{
	size_t n;

	free(*dst);
	*dst = NULL;
	if (read_name(r, &n))
		return r->rc;
	if (!(*dst = malloc(n + 1)))
		return bad(r, -ENOMEM, "out of memory");
	memcpy(*dst, r->name, n + 1);
	if (len)
		*len = n;
	return 0;
}

/* One object: numbers, objects of numbers, "name", "process", "hist" (into r->hist), and the rest handed to
 * other() (or skipped). */
struct entity {
	const struct field *plain;
	size_t nplain;
	const char *sub_key[2];
	const struct field *sub[2];
	size_t nsub[2];
	char *name, *process;
	size_t name_len;
	bool hist;
	int (*other)(struct reader *r, const char *key, void *ctx);
	void *ctx;
};

static int read_entity(struct reader *r, struct entity *e)
{
	char key[40];
	int more = 0;

	if (rtc_json_object_begin(&r->j))
		return syntax(r);
	while (!r->rc && (more = rtc_json_object_next(&r->j, key, sizeof(key))) == 1) {
		const struct field *f = find_field(e->plain, e->nplain, key);

		if (f) {
			if (rtc_json_u64(&r->j, f->dst))
				bad(r, -EPROTO, "\"%s\" is not a non-negative integer", key);
		} else if (!strcmp(key, "name")) {
			read_copy(r, &e->name, &e->name_len);
		} else if (!strcmp(key, "process")) {
			read_copy(r, &e->process, NULL);
		} else if (!strcmp(key, "hist")) {
			if (rtc_hist_read_json(r->hist, &r->j))
				bad(r, -EPROTO, "invalid histogram");
			e->hist = true;
		} else if (e->sub_key[0] && !strcmp(key, e->sub_key[0])) {
			read_fields(r, e->sub[0], e->nsub[0]);
		} else if (e->sub_key[1] && !strcmp(key, e->sub_key[1])) {
			read_fields(r, e->sub[1], e->nsub[1]);
		} else if (e->other) {
			e->other(r, key, e->ctx);
		} else if (rtc_json_skip(&r->j)) {
			syntax(r);
		}
	}
	if (!r->rc && more)
		syntax(r);
	return r->rc;
}

static int check_pid(struct reader *r, uint64_t pid, uint64_t tid)
{
	if (pid > UINT32_MAX || tid > UINT32_MAX)
		return bad(r, -EPROTO, "no pid (or tid) of 32 bits");
	return 0;
}

static void set_process_name(struct reader *r, uint32_t pid, const char *name)
{
	struct process_entry *p = rtc__stats_process(r->s, pid);

	if (!p)
		bad(r, -E2BIG, "too many processes");
	else if (!p->name && rtc__stats_setstr(&p->name, name, strlen(name)))
		bad(r, -ENOMEM, "out of memory");
}

/* Find or create a span entry within the limit (no "(other names)" fallback when reading). */
static struct span_entry *span_entry(struct reader *r, uint32_t pid, const char *name, size_t len)
{
	struct rtc_stats *s = r->s;
	struct span_entry *e;

	if (s->nspans >= s->opt.max_spans) {
		e = rtc__stats_span(s, pid, name, len);
		if (e && e->pid == pid && e->name_len == len && memcmp(e->name, name, len) == 0)
			return e;
		bad(r, -E2BIG, "more span names than the limit (%zu)", s->opt.max_spans);
		return NULL;
	}
	if (!(e = rtc__stats_span(s, pid, name, len)))
		bad(r, -ENOMEM, "out of memory");
	return e;
}

static bool hist_matches(const struct rtc_hist *h, uint64_t count, uint64_t total)
{
	return rtc_hist_count(h) == count && (rtc_hist_sum(h) == total || rtc_hist_sum(h) == UINT64_MAX);
}

static int read_span(struct reader *r)
{
	struct span_entry t = { 0 }, *e = NULL;
	uint64_t count = 0, total = 0, pid = UINT64_MAX;
	const struct field plain[] = { { "pid", &pid }, { "count", &count }, { "total_ns", &total },
				       { "self_ns", &t.self_ns } };
	const struct field flagged[] = { { "count", &t.flagged }, { "ns", &t.flagged_ns },
					 { "before_attach", &t.before_attach }, { "begin_unknown", &t.begin_unknown },
					 { "repaired", &t.repaired }, { "incomplete", &t.incomplete },
					 { "lost_end", &t.lost_end } };
	const struct field cpu[] = { { "spans", &t.cpu_spans }, { "on_ns", &t.on_cpu_ns }, { "off_ns", &t.off_cpu_ns },
				     { "ctx_voluntary", &t.ctx_voluntary }, { "ctx_involuntary", &t.ctx_involuntary } };
	struct entity en = { plain, 4, { "flagged", "cpu" }, { flagged, cpu }, { 7, 5 }, NULL, NULL, 0, false, NULL,
			     NULL };

	rtc_hist_reset(r->hist);
	if (read_entity(r, &en) == 0 && (!en.name || check_pid(r, pid, 0)))
		bad(r, -EPROTO, "a span needs a name and a pid");
	if (!r->rc && count && !en.hist)
		bad(r, -EPROTO, "no histogram (written without them?): cannot be compared");
	if (!r->rc && !hist_matches(r->hist, count, total))
		bad(r, -EPROTO, "count or total_ns differs from the histogram's");
	if (!r->rc && (t.self_ns > total || t.cpu_spans > count || t.before_attach > t.flagged ||
		       t.begin_unknown > t.flagged || t.repaired > t.flagged || t.incomplete > t.flagged ||
		       t.lost_end > t.flagged || t.on_cpu_ns > total || t.off_cpu_ns > total - t.on_cpu_ns))
		bad(r, -EPROTO, "inconsistent counts (self, cpu or flags)");
	if (!r->rc && en.process)
		set_process_name(r, (uint32_t)pid, en.process);
	if (!r->rc)
		e = span_entry(r, (uint32_t)pid, en.name, en.name_len);
	if (e && (e->flagged || (e->hist && rtc_hist_count(e->hist))))
		bad(r, -EPROTO, "the same span name and pid twice");
	else if (e && count && !rtc__stats_hist(&e->hist))
		bad(r, -ENOMEM, "out of memory");
	if (!r->rc && e) {
		if (count)
			rtc_hist_copy(e->hist, r->hist);
		t.hash = e->hash;
		t.name = e->name;
		t.name_len = e->name_len;
		t.pid = e->pid;
		t.hist = e->hist;
		*e = t;
	}
	free(en.name);
	free(en.process);
	return r->rc;
}

/* What a task object holds besides numbers. */
struct task_extra {
	struct strs {
		char *buf;
		size_t len, n;
	} spans;
	uint32_t tids[2 * RTC_STATS_TASK_REFS];
	size_t nthreads;
	uint64_t dcount, dtotal;
	bool hist;
};

static int task_other(struct reader *r, const char *key, void *ctx)
{
	struct task_extra *x = ctx;
	int more = 0;

	if (!strcmp(key, "durations")) {
		const struct field plain[] = { { "count", &x->dcount }, { "total_ns", &x->dtotal } };
		struct entity en = { .plain = plain, .nplain = 2 };

		read_entity(r, &en);
		x->hist = en.hist;
		free(en.name);
		free(en.process);
		return r->rc;
	}
	if (strcmp(key, "spans") && strcmp(key, "threads"))
		return rtc_json_skip(&r->j) ? syntax(r) : 0;
	if (rtc_json_array_begin(&r->j))
		return syntax(r);
	while (!r->rc && (more = rtc_json_array_next(&r->j)) == 1) {
		size_t len;

		if (key[0] == 's') {
			char *b;

			if (x->spans.n >= RTC_STATS_TASK_REFS)
				return bad(r, -EPROTO, "more than %d span names", RTC_STATS_TASK_REFS);
			if (read_name(r, &len))
				return r->rc;
			if (!(b = realloc(x->spans.buf, x->spans.len + sizeof(len) + len)))
				return bad(r, -ENOMEM, "out of memory");
			memcpy(b + x->spans.len, &len, sizeof(len));
			memcpy(b + x->spans.len + sizeof(len), r->name, len);
			x->spans.buf = b;
			x->spans.len += sizeof(len) + len;
			x->spans.n++;
		} else {
			uint64_t pid = UINT64_MAX, tid = UINT64_MAX;
			const struct field ids[] = { { "pid", &pid }, { "tid", &tid } };

			if (x->nthreads >= RTC_STATS_TASK_REFS)
				return bad(r, -EPROTO, "more than %d threads", RTC_STATS_TASK_REFS);
			if (read_fields(r, ids, 2) || check_pid(r, pid, tid))
				return r->rc;
			x->tids[2 * x->nthreads] = (uint32_t)pid;
			x->tids[2 * x->nthreads++ + 1] = (uint32_t)tid;
		}
	}
	return !r->rc && more ? syntax(r) : r->rc;
}

static void task_refs(struct reader *r, struct task_entry *e, const struct task_extra *x)
{
	for (size_t i = 0, at = 0; i < x->spans.n && !r->rc; i++) {
		size_t n;
		struct span_entry *se;

		memcpy(&n, x->spans.buf + at, sizeof(n));
		se = span_entry(r, e->pid, x->spans.buf + at + sizeof(n), n);
		at += sizeof(n) + n;
		if (se && e->nspans < RTC_STATS_TASK_REFS)
			e->spans[e->nspans++] = se;
	}
	for (size_t i = 0; i < x->nthreads && !r->rc; i++) {
		struct thread_entry *t = rtc__stats_thread(r->s, x->tids[2 * i], x->tids[2 * i + 1]);

		if (!t)
			bad(r, -E2BIG, "too many threads");
		else if (e->nthreads < RTC_STATS_TASK_REFS)
			e->threads[e->nthreads++] = t;
	}
}

static int read_task(struct reader *r)
{
	struct task_entry t = { 0 }, *e = NULL;
	struct task_extra x = { 0 };
	uint64_t pid = UINT64_MAX, ignored;
	const struct field plain[] = { { "pid", &pid }, { "complete", &t.complete }, { "incomplete", &t.incomplete },
				       { "open", &t.open }, { "spans_more", &t.spans_more },
				       { "threads_more", &t.threads_more }, { "tasks", &ignored } };
	struct entity en = { .plain = plain, .nplain = 7, .other = task_other, .ctx = &x };

	rtc_hist_reset(r->hist);
	if (read_entity(r, &en) == 0 && (!en.name || check_pid(r, pid, 0)))
		bad(r, -EPROTO, "a task needs a name and a pid");
	if (!r->rc && (!x.hist || x.dcount != t.complete || !hist_matches(r->hist, t.complete, x.dtotal)))
		bad(r, -EPROTO, "complete tasks differ from the histogram");
	if (!r->rc && en.process)
		set_process_name(r, (uint32_t)pid, en.process);
	if (!r->rc && r->s->ntasks >= r->s->opt.max_tasks)
		bad(r, -E2BIG, "more task names than the limit (%zu)", r->s->opt.max_tasks);
	if (!r->rc && !(e = rtc__stats_task(r->s, (uint32_t)pid, en.name, en.name_len)))
		bad(r, -ENOMEM, "out of memory");
	if (!r->rc && (e->complete || e->incomplete || e->open))
		bad(r, -EPROTO, "the same task name and pid twice");
	if (!r->rc && t.complete && !rtc__stats_hist(&e->hist))
		bad(r, -ENOMEM, "out of memory");
	if (!r->rc) {
		if (t.complete)
			rtc_hist_copy(e->hist, r->hist);
		e->complete = t.complete;
		e->incomplete = t.incomplete;
		e->open = t.open;
		e->spans_more = t.spans_more;
		e->threads_more = t.threads_more;
		task_refs(r, e, &x);
	}
	free(x.spans.buf);
	free(en.name);
	free(en.process);
	return r->rc;
}

static int read_thread(struct reader *r)
{
	struct thread_entry t = { 0 }, *e = NULL;
	uint64_t pid = UINT64_MAX, tid = UINT64_MAX;
	const struct field plain[] = { { "pid", &pid }, { "tid", &tid }, { "busy_ns", &t.busy_ns }, { "spans", &t.spans },
				       { "flagged", &t.flagged }, { "events", &t.events }, { "lost", &t.lost },
				       { "first_ns", &t.first_ns }, { "last_ns", &t.last_ns } };
	const struct field cpu[] = { { "spans", &t.cpu_spans }, { "on_ns", &t.on_cpu_ns }, { "off_ns", &t.off_cpu_ns },
				     { "ctx_voluntary", &t.ctx_voluntary }, { "ctx_involuntary", &t.ctx_involuntary } };
	struct entity en = { plain, 9, { "cpu", NULL }, { cpu, NULL }, { 5, 0 }, NULL, NULL, 0, false, NULL, NULL };

	if (read_entity(r, &en) == 0 && check_pid(r, pid, tid) == 0 && r->s->nthreads >= r->s->opt.max_threads)
		bad(r, -E2BIG, "more threads than the limit (%zu)", r->s->opt.max_threads);
	if (!r->rc && !(e = rtc__stats_thread(r->s, (uint32_t)pid, (uint32_t)tid)))
		bad(r, -ENOMEM, "out of memory");
	if (!r->rc) {
		t.pid = e->pid;
		t.tid = e->tid;
		t.proc = e->proc;
		t.thread_number = e->thread_number;
		t.name = en.name ? en.name : e->name;
		/* A thread that never ran is written with "first_ns":0 for no time; the model's no time is
		 * UINT64_MAX, the identity of the minimum views and merges take (a 0 kept would become the
		 * file's first time). A thread whose first time really was 0 loses nothing: the file's
		 * first_ns, read as it is, is already 0. */
		if (!t.first_ns)
			t.first_ns = UINT64_MAX;
		if (en.name)
			free(e->name);
		en.name = NULL;
		*e = t;
	}
	free(en.name);
	free(en.process);
	return r->rc;
}

static int read_process(struct reader *r)
{
	struct process_entry p = { 0 }, *e = NULL;
	uint64_t pid = UINT64_MAX, parent = 0, ignored;
	const struct field plain[] = { { "pid", &pid }, { "parent", &parent }, { "busy_ns", &p.busy_ns },
				       { "spans", &p.spans }, { "flagged", &p.flagged }, { "events", &p.events },
				       { "lost", &p.lost }, { "threads", &ignored } };
	const struct field producer[] = { { "threads_untraced", &p.loss.threads_untraced },
					  { "names_overflowed", &p.loss.names_overflowed },
					  { "tasks_untracked", &p.loss.tasks_untracked },
					  { "overwritten", &p.loss.overwritten },
					  { "stack_overflows", &p.loss.stack_overflows } };
	struct entity en = { plain, 8, { "producer", NULL }, { producer, NULL }, { 5, 0 }, NULL, NULL, 0, false, NULL,
			     NULL };

	if (read_entity(r, &en) == 0 && check_pid(r, pid, parent) == 0 && !(e = rtc__stats_process(r->s, (uint32_t)pid)))
		bad(r, -E2BIG, "too many processes");
	if (!r->rc) {
		p.pid = e->pid;
		p.loss.pid = e->pid;
		p.parent = (uint32_t)parent;
		p.other = e->other;
		p.name = en.name ? en.name : e->name;
		if (en.name)
			free(e->name);
		en.name = NULL;
		*e = p;
	}
	free(en.name);
	free(en.process);
	return r->rc;
}

static int read_open(struct reader *r)
{
	struct open_span o = { 0 }, *n;
	uint64_t pid = UINT64_MAX, tid = UINT64_MAX;
	const struct field plain[] = { { "pid", &pid }, { "tid", &tid }, { "begin_ns", &o.begin_ns },
				       { "running_ns", &o.running_ns } };
	struct entity en = { .plain = plain, .nplain = 4 };

	if (read_entity(r, &en) == 0 && (!en.name || check_pid(r, pid, tid)))
		bad(r, -EPROTO, "an open span needs a name, a pid and a tid");
	if (!r->rc && r->s->open.n >= r->s->opt.max_open)
		bad(r, -E2BIG, "more open spans than the limit (%zu)", r->s->opt.max_open);
	if (!r->rc) {
		/* Snapshots key open spans by (pid, tid, span_seq); a file has no span_seq: number them. */
		o.pid = (uint32_t)pid;
		o.tid = (uint32_t)tid;
		o.span_seq = UINT64_MAX - r->s->open.n;
		o.span = span_entry(r, o.pid, en.name, en.name_len);
	}
	if (!r->rc) {
		n = malloc(sizeof(*n));
		if (!n || rtc__ptab_add(&r->s->open, rtc__stats_id_hash(o.pid, o.tid, o.span_seq), n)) {
			free(n);
			bad(r, -ENOMEM, "out of memory");
		} else {
			*n = o;
		}
	}
	free(en.name);
	free(en.process);
	return r->rc;
}

static int read_array(struct reader *r, const char *where, int (*item)(struct reader *))
{
	int more = 0;

	r->where = where;
	r->index = 0;
	if (rtc_json_array_begin(&r->j))
		return syntax(r);
	while (!r->rc && (more = rtc_json_array_next(&r->j)) == 1) {
		item(r);
		r->index++;
	}
	if (!r->rc && more)
		syntax(r);
	if (!r->rc)
		r->where = NULL;
	return r->rc;
}

static int read_top(struct reader *r, const char *key, bool *format)
{
	struct rtc_stats_info *in = &r->s->info;
	size_t len;
	uint64_t version;
	bool b;
	const struct field numbers[] = {
#define F(name) { #name, &in->name },
		COUNT_FIELDS(F)
#undef F
	};
	const struct field summary[] = {
#define F(name) { #name, &in->summary.name },
		SUMMARY_FIELDS(F)
#undef F
	};
	const struct field times[] = { { "origin_ns", &in->origin_ns }, { "attach_ns", &in->attach_ns },
				       { "first_ns", &in->first_ns }, { "last_ns", &in->last_ns } };
	const struct field *f = find_field(times, 4, key);

	if (f)
		return rtc_json_u64(&r->j, f->dst) ? bad(r, -EPROTO, "\"%s\" is not a non-negative integer", key) : 0;
	if (!strcmp(key, "format")) {
		*format = !read_name(r, &len) && !strcmp(r->name, RTC_STATS_FORMAT_NAME);
		return *format ? 0 : bad(r, -EPROTO, "not a ringtrace statistics file (format is not \"%s\")",
					 RTC_STATS_FORMAT_NAME);
	}
	if (!strcmp(key, "version"))
		return rtc_json_u64(&r->j, &version) || version != RTC_STATS_FORMAT_VERSION
			       ? bad(r, -EPROTO, "format version is not %d", RTC_STATS_FORMAT_VERSION)
			       : 0;
	if (!strcmp(key, "tool") || !strcmp(key, "host") || !strcmp(key, "clock"))
		return read_copy(r, key[0] == 't' ? &r->s->tool : key[0] == 'h' ? &r->s->host : &r->s->clock, NULL);
	if (!strcmp(key, "live") || !strcmp(key, "ended") || !strcmp(key, "merged")) {
		if (rtc_json_bool(&r->j, &b))
			return bad(r, -EPROTO, "\"%s\" is not a boolean", key);
		if (key[0] == 'l')
			in->live = b;
		else if (key[0] == 'e')
			in->ended = b;
		return 0;
	}
	if (!strcmp(key, "counts"))
		return read_fields(r, numbers, sizeof(numbers) / sizeof(numbers[0]));
	if (!strcmp(key, "summary"))
		return read_fields(r, summary, sizeof(summary) / sizeof(summary[0]));
	if (!strcmp(key, "spans"))
		return read_array(r, "spans", read_span);
	if (!strcmp(key, "tasks"))
		return read_array(r, "tasks", read_task);
	if (!strcmp(key, "threads"))
		return read_array(r, "threads", read_thread);
	if (!strcmp(key, "processes"))
		return read_array(r, "processes", read_process);
	if (!strcmp(key, "open"))
		return read_array(r, "open", read_open);
	return rtc_json_skip(&r->j) ? syntax(r) : 0;
}

static uint64_t less(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* A process's counts in the file are totals over its threads; the model keeps only what is not in them
 * (views add the threads back). Totals below their threads' sum are taken as the threads' sum. */
static void processes_own(struct rtc_stats *s)
{
	for (size_t i = 0; i < s->threads.cap; i++) {
		const struct thread_entry *t = s->threads.item[i];
		struct process_entry *p = t ? t->proc : NULL;

		if (!p)
			continue;
		p->events = less(p->events, t->events);
		p->spans = less(p->spans, t->spans);
		p->flagged = less(p->flagged, t->flagged);
		p->lost = less(p->lost, t->lost);
		p->busy_ns = less(p->busy_ns, t->busy_ns);
	}
}

int rtc_stats_read_json(const char *buf, size_t len, const struct rtc_stats_options *opt, struct rtc_stats **out,
			char *err, size_t err_len)
{
	struct reader r = { .base = buf, .err = err, .err_len = err_len };
	bool format = false;
	char key[40];
	int more = 0;

	*out = NULL;
	if (err && err_len)
		err[0] = 0;
	rtc_json_init(&r.j, buf, len);
	r.s = rtc_stats_create(opt);
	r.name = malloc(NAME_CAP);
	r.hist = rtc_hist_create();
	if (!r.s || !r.name || !r.hist)
		bad(&r, -ENOMEM, "out of memory");
	else if (rtc_json_object_begin(&r.j))
		syntax(&r);
	while (!r.rc && (more = rtc_json_object_next(&r.j, key, sizeof(key))) == 1)
		read_top(&r, key, &format);
	if (!r.rc && (more || rtc_json_finish(&r.j)))
		syntax(&r);
	if (!r.rc && !format)
		bad(&r, -EPROTO, "not a ringtrace statistics file (no \"format\")");
	free(r.name);
	rtc_hist_destroy(r.hist);
	if (r.rc) {
		rtc_stats_destroy(r.s);
		return r.rc;
	}
	processes_own(r.s);
	/* A file with no time at all is written with "first_ns":0 and "last_ns":0; as for threads
	 * above, the model's no time is UINT64_MAX (a 0 kept would become the first time of every
	 * merge with this file). */
	if (!r.s->info.first_ns && !r.s->info.last_ns)
		r.s->info.first_ns = UINT64_MAX;
	r.s->info.clock = r.s->clock;
	r.s->info.host = r.s->host;
	r.s->info.tool = r.s->tool;
	*out = r.s;
	return 0;
}
