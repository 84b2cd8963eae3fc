/* SPDX-License-Identifier: MIT */
/* speedscope's own file format (https://www.speedscope.app/file-format-schema.json): one evented
 * profile per thread, frames shared and keyed by span name only, so that its Left Heavy and
 * Sandwich views aggregate every span of a name (the Chrome JSON's per-span ids would not). */
#include "speedscope.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../chrome-format.h"
#include "outfile.h"

/* One span (ns since the origin). */
struct mark {
	uint64_t begin, end;
	uint32_t frame;
	uint32_t depth;
};

struct profile {
	uint32_t pid, tid;
	char name[64];
	struct mark *marks;
	size_t n, cap;
};

struct speedscope {
	struct rtc_outfile *out;
	uint64_t origin;
	struct {
		char *name;
		uint32_t len;
	} *frames;
	uint32_t nframes, frames_cap;
	uint32_t *index; /* open addressing over frames, index_cap a power of two; 0 = empty, else frame + 1 */
	uint32_t index_cap;
	struct profile *profiles;
	size_t nprofiles, profiles_cap;
	char procname[64];
	int err;
};

static uint32_t hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* The frame of a name (added if new); UINT32_MAX when out of memory. */
static uint32_t frame_of(struct speedscope *s, const char *name, uint32_t len)
{
	uint32_t h = hash(name, len), i;

	if (s->nframes * 2 >= s->index_cap) {
		uint32_t cap = s->index_cap ? s->index_cap * 2 : 256;
		uint32_t *n = calloc(cap, sizeof(*n));

		if (!n)
			return UINT32_MAX;
		for (uint32_t f = 0; f < s->nframes; f++) {
			for (i = hash(s->frames[f].name, s->frames[f].len) & (cap - 1); n[i]; i = (i + 1) & (cap - 1))
				;
			n[i] = f + 1;
		}
		free(s->index);
		s->index = n;
		s->index_cap = cap;
	}
	for (i = h & (s->index_cap - 1); s->index[i]; i = (i + 1) & (s->index_cap - 1)) {
		uint32_t f = s->index[i] - 1;

		if (s->frames[f].len == len && memcmp(s->frames[f].name, name, len) == 0)
			return f;
	}
	if (s->nframes == s->frames_cap) {
		uint32_t cap = s->frames_cap ? s->frames_cap * 2 : 64;
		__typeof__(s->frames) n = realloc(s->frames, cap * sizeof(*n));

		if (!n)
			return UINT32_MAX;
		s->frames = n;
		s->frames_cap = cap;
	}
	s->frames[s->nframes].name = malloc(len + 1);
	if (!s->frames[s->nframes].name)
		return UINT32_MAX;
	memcpy(s->frames[s->nframes].name, name, len);
	s->frames[s->nframes].name[len] = 0;
	s->frames[s->nframes].len = len;
	s->index[i] = ++s->nframes;
	return s->nframes - 1;
}

static struct profile *profile_of(struct speedscope *s, uint32_t pid, uint32_t tid)
{
	for (size_t i = s->nprofiles; i-- > 0;)
		if (s->profiles[i].pid == pid && s->profiles[i].tid == tid)
			return &s->profiles[i];
	if (s->nprofiles == s->profiles_cap) {
		size_t cap = s->profiles_cap ? s->profiles_cap * 2 : 16;
		struct profile *n = realloc(s->profiles, cap * sizeof(*n));

		if (!n)
			return NULL;
		s->profiles = n;
		s->profiles_cap = cap;
	}
	memset(&s->profiles[s->nprofiles], 0, sizeof(s->profiles[0]));
	s->profiles[s->nprofiles].pid = pid;
	s->profiles[s->nprofiles].tid = tid;
	snprintf(s->profiles[s->nprofiles].name, sizeof(s->profiles[0].name), "%u/%u", pid, tid);
	return &s->profiles[s->nprofiles++];
}

static int add_mark(struct profile *p, uint64_t begin, uint64_t end, uint32_t frame, uint32_t depth)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		struct mark *n = realloc(p->marks, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->marks = n;
		p->cap = cap;
	}
	p->marks[p->n++] = (struct mark){ begin, end, frame, depth };
	return 0;
}

static void on_begin(void *ctx, const struct rtc_trace_info *info)
{
	((struct speedscope *)ctx)->origin = info->origin_ns;
}

static void on_event(void *ctx, const struct rtc_out *ev)
{
	struct speedscope *s = ctx;
	struct profile *p;
	uint64_t at;
	uint32_t f;

	if (s->err)
		return;
	if (ev->kind == RTC_OUT_THREAD) {
		p = profile_of(s, ev->pid, ev->tid);
		if (p)
			snprintf(p->name, sizeof(p->name), "%.*s (%u/%u)", (int)(ev->text_len < 40 ? ev->text_len : 40),
				 ev->text, ev->pid, ev->tid);
		return;
	}
	if (ev->kind != RTC_OUT_SPAN)
		return;
	p = profile_of(s, ev->pid, ev->tid);
	f = frame_of(s, ev->name, ev->name_len);
	at = ev->ts > s->origin ? ev->ts - s->origin : 0;
	if (!p || f == UINT32_MAX || add_mark(p, at, at + ev->dur, f, ev->depth))
		s->err = -ENOMEM;
}

/* Spans by begin, outer ones first at equal begins. */
static int cmp_mark(const void *a, const void *b)
{
	const struct mark *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->depth < y->depth ? -1 : x->depth > y->depth;
}

static void put(struct speedscope *s, const char *p, size_t n)
{
	if (!s->err)
		s->err = rtc_outfile_write(s->out, p, n);
}

#define PUTS(s, lit) put((s), (lit), sizeof(lit) - 1)

/* What snprintf(buf, cap, ...) = n formatted; a cut one would be invalid JSON: an error. */
static void put_fmt(struct speedscope *s, const char *buf, size_t cap, int n)
{
	if (n < 0 || (size_t)n >= cap) {
		if (!s->err)
			s->err = -EOVERFLOW;
		return;
	}
	put(s, buf, (size_t)n);
}

static void put_json_string(struct speedscope *s, const char *str, size_t n)
{
	char *tmp = malloc(6 * (n < 4096 ? n : 4096) + 2);

	if (!tmp) {
		s->err = -ENOMEM;
		return;
	}
	put(s, tmp, rtc_json_quote(tmp, str, n));
	free(tmp);
}

static void event(struct speedscope *s, bool *first, char type, uint32_t frame, uint64_t at)
{
	char num[96];

	put_fmt(s, num, sizeof(num),
		snprintf(num, sizeof(num), "%s{\"type\":\"%c\",\"frame\":%u,\"at\":%" PRIu64 "}", *first ? "" : ",",
			 type, frame, at));
	*first = false;
}

/* Opens and closes from the spans' nesting (depth), not from sorting times: zero-length spans and
 * spans that end as the next begins come out properly nested. Times never go back (a span that
 * overlaps the next one at its depth, which well-formed input never has, is cut there). */
static void write_events(struct speedscope *s, struct profile *p)
{
	struct mark **stack = malloc((p->n + 1) * sizeof(*stack));
	size_t depth = 0;
	uint64_t last = 0;
	bool first = true;

	if (!stack) {
		s->err = -ENOMEM;
		return;
	}
	for (size_t k = 0; k <= p->n && !s->err; k++) {
		struct mark *m = k < p->n ? &p->marks[k] : NULL;

		/* Close what cannot contain the next span: as deep as it or deeper. */
		while (depth && (!m || stack[depth - 1]->depth >= m->depth)) {
			struct mark *c = stack[--depth];
			uint64_t at = c->end < last ? last : c->end;

			if (m && at > m->begin)
				at = m->begin > last ? m->begin : last;
			event(s, &first, 'C', c->frame, at);
			last = at;
		}
		if (!m)
			break;
		last = m->begin > last ? m->begin : last;
		event(s, &first, 'O', m->frame, last);
		stack[depth++] = m;
	}
	free(stack);
}

static void write_file(struct speedscope *s)
{
	/* A profile's header with two 20-digit times takes 98 bytes. */
	char num[128];

	PUTS(s, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"exporter\":\"ringtrace\","
		"\"name\":\"ringtrace\",\"activeProfileIndex\":0,\"shared\":{\"frames\":[");
	for (uint32_t f = 0; f < s->nframes; f++) {
		if (f)
			PUTS(s, ",");
		PUTS(s, "{\"name\":");
		put_json_string(s, s->frames[f].name, s->frames[f].len);
		PUTS(s, "}");
	}
	PUTS(s, "]},\"profiles\":[");
	for (size_t i = 0; i < s->nprofiles; i++) {
		struct profile *p = &s->profiles[i];
		uint64_t end = 0;

		if (p->n > 1) /* qsort(NULL, 0) is undefined */
			qsort(p->marks, p->n, sizeof(p->marks[0]), cmp_mark);
		for (size_t k = 0; k < p->n; k++)
			end = p->marks[k].end > end ? p->marks[k].end : end;
		if (i)
			PUTS(s, ",");
		PUTS(s, "{\"type\":\"evented\",\"name\":");
		put_json_string(s, p->name, strlen(p->name));
		put_fmt(s, num, sizeof(num),
			snprintf(num, sizeof(num), ",\"unit\":\"nanoseconds\",\"startValue\":%" PRIu64 ",\"endValue\":%" PRIu64
				 ",\"events\":[", p->n ? p->marks[0].begin : 0, end));
		write_events(s, p);
		PUTS(s, "]}");
	}
	PUTS(s, "]}\n");
}

static void on_end(void *ctx, const struct rtc_summary *summary)
{
	(void)summary;
	write_file(ctx);
}

static int on_close(void *ctx, bool ok)
{
	struct speedscope *s = ctx;
	int err = s->err;

	if (ok && !err)
		err = rtc_outfile_commit(s->out);
	else
		rtc_outfile_abort(s->out);
	for (uint32_t f = 0; f < s->nframes; f++)
		free(s->frames[f].name);
	free(s->frames);
	free(s->index);
	for (size_t i = 0; i < s->nprofiles; i++)
		free(s->profiles[i].marks);
	free(s->profiles);
	free(s);
	return err;
}

static const struct rtc_sink_ops speedscope_ops = {
	.version = RTC_SINK_VERSION,
	.begin = on_begin,
	.event = on_event,
	.end = on_end,
	.close = on_close,
};

int rtc_speedscope_sink_open(const char *path, struct rtc_sink *out)
{
	struct speedscope *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	err = rtc_outfile_open(&s->out, path, RTC_OUTFILE_THREAD);
	if (err < 0) {
		free(s);
		return err;
	}
	out->ops = &speedscope_ops;
	out->ctx = s;
	out->name = path;
	return 0;
}
