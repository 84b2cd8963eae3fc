/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON checker for the fuzz targets: one pass of the strict JSON reader over the
 * whole file, every object's keys unique, and per event the fields its phase needs. */
#include "chrome-check.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/json.h"

struct ctx {
	struct rtc_json j;
	const char *start;
	char *why;
	size_t why_len;
	char str[64 * 1024]; /* a string value, unescaped (names are at most 4096 bytes of input) */
};

static int fail(struct ctx *c, const char *what)
{
	snprintf(c->why, c->why_len, "%s at byte %zu", what, (size_t)(c->j.p - c->start));
	return -1;
}

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Keys of one object, to find duplicates (JSON.parse keeps the last; the others are lost). */
struct keys {
	uint64_t *h;
	size_t n, cap;
};

static int keys_add(struct ctx *c, struct keys *k, const char *key)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 32;
		uint64_t *h = realloc(k->h, cap * sizeof(*h));

		if (!h)
			abort();
		k->h = h;
		k->cap = cap;
	}
	k->h[k->n++] = hash(key);
	(void)c;
	return 0;
}

static int keys_done(struct ctx *c, struct keys *k)
{
	int err = 0;

	qsort(k->h, k->n, sizeof(*k->h), cmp_u64);
	for (size_t i = 1; i < k->n && !err; i++)
		if (k->h[i] == k->h[i - 1])
			err = fail(c, "duplicate key in an object");
	free(k->h);
	return err;
}

/* Any value, with every object's keys unique. */
static int value(struct ctx *c)
{
	char key[256];
	struct keys k = { 0 };
	int r;

	switch (rtc_json_peek(&c->j)) {
	case RTC_JSON_OBJECT:
		if (rtc_json_object_begin(&c->j))
			return fail(c, "bad object");
		while ((r = rtc_json_object_next(&c->j, key, sizeof(key))) == 1) {
			keys_add(c, &k, key);
			if (value(c)) {
				free(k.h);
				return -1;
			}
		}
		if (r < 0) {
			free(k.h);
			return fail(c, "bad object");
		}
		return keys_done(c, &k);
	case RTC_JSON_ARRAY:
		if (rtc_json_array_begin(&c->j))
			return fail(c, "bad array");
		while ((r = rtc_json_array_next(&c->j)) == 1)
			if (value(c))
				return -1;
		return r < 0 ? fail(c, "bad array") : 0;
	default:
		return rtc_json_skip(&c->j) ? fail(c, "bad value") : 0;
	}
}

enum {
	F_PH = 1 << 0, F_PID = 1 << 1, F_TID = 1 << 2, F_TS = 1 << 3, F_DUR = 1 << 4, F_NAME = 1 << 5,
	F_CAT = 1 << 6, F_ID = 1 << 7, F_BP = 1 << 8, F_S = 1 << 9, F_ARGS = 1 << 10,
};

struct event {
	unsigned have;
	char ph;
	uint64_t pid, tid;
	double ts, dur;
	char cat[16], name[32], bp[4];
};

static int u32_field(struct ctx *c, uint64_t *v, const char *what)
{
	if (rtc_json_u64(&c->j, v) || *v > UINT32_MAX)
		return fail(c, what);
	return 0;
}

static int time_field(struct ctx *c, double *v, const char *what)
{
	if (rtc_json_double(&c->j, v) || !isfinite(*v) || *v < 0)
		return fail(c, what);
	return 0;
}

/* A short string field, kept (truncated) for the checks below. */
static int str_field(struct ctx *c, char *out, size_t cap, const char *what)
{
	size_t len;

	if (rtc_json_string(&c->j, c->str, sizeof(c->str), &len))
		return fail(c, what);
	snprintf(out, cap, "%s", c->str);
	return 0;
}

static int event(struct ctx *c, struct event *ev)
{
	static const struct {
		char ph;
		unsigned need;
	} rules[] = {
		{ 'X', F_TS | F_DUR | F_NAME },      { 'B', F_TS | F_NAME | F_CAT },
		{ 'E', F_TS | F_NAME | F_CAT },      { 'b', F_TS | F_NAME | F_CAT | F_ID },
		{ 'e', F_TS | F_NAME | F_CAT | F_ID }, { 'i', F_TS | F_NAME | F_S },
		{ 's', F_TS | F_NAME | F_CAT | F_ID }, { 'f', F_TS | F_NAME | F_CAT | F_ID | F_BP },
		{ 'M', F_NAME | F_ARGS },
	};
	char key[256], ph[4] = "";
	struct keys k = { 0 };
	int r, err = 0;

	memset(ev, 0, sizeof(*ev));
	if (rtc_json_peek(&c->j) != RTC_JSON_OBJECT || rtc_json_object_begin(&c->j))
		return fail(c, "an event is not an object");
	while (!err && (r = rtc_json_object_next(&c->j, key, sizeof(key))) == 1) {
		keys_add(c, &k, key);
		if (strcmp(key, "ph") == 0) {
			ev->have |= F_PH;
			err = str_field(c, ph, sizeof(ph), "bad ph");
		} else if (strcmp(key, "pid") == 0) {
			ev->have |= F_PID;
			err = u32_field(c, &ev->pid, "pid not a 32-bit integer");
		} else if (strcmp(key, "tid") == 0) {
			ev->have |= F_TID;
			err = u32_field(c, &ev->tid, "tid not a 32-bit integer");
		} else if (strcmp(key, "ts") == 0) {
			ev->have |= F_TS;
			err = time_field(c, &ev->ts, "ts not a time");
		} else if (strcmp(key, "dur") == 0) {
			ev->have |= F_DUR;
			err = time_field(c, &ev->dur, "dur not a time");
		} else if (strcmp(key, "name") == 0) {
			ev->have |= F_NAME;
			err = str_field(c, ev->name, sizeof(ev->name), "name not a string");
		} else if (strcmp(key, "cat") == 0) {
			ev->have |= F_CAT;
			err = str_field(c, ev->cat, sizeof(ev->cat), "cat not a string");
		} else if (strcmp(key, "bp") == 0) {
			ev->have |= F_BP;
			err = str_field(c, ev->bp, sizeof(ev->bp), "bp not a string");
		} else {
			ev->have |= strcmp(key, "id") == 0 ? F_ID : strcmp(key, "s") == 0 ? F_S
								  : strcmp(key, "args") == 0 ? F_ARGS : 0;
			err = value(c);
		}
	}
	if (err || r < 0) {
		free(k.h);
		return err ? err : fail(c, "bad event object");
	}
	if (keys_done(c, &k))
		return -1;
	if ((ev->have & (F_PH | F_PID | F_TID)) != (F_PH | F_PID | F_TID) || strlen(ph) != 1)
		return fail(c, "an event without ph, pid or tid");
	ev->ph = ph[0];
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].ph == ev->ph)
			return (ev->have & rules[i].need) == rules[i].need ? 0 : fail(c, "an event misses a field its phase needs");
	return fail(c, "unknown phase");
}

/* DevTools binds a flow event only to a slice with the same ts, pid, tid and cat: the writer puts
 * that slice just before it. */
static int flow_bound(struct ctx *c, const struct event *prev, const struct event *ev)
{
	if (ev->ph != 's' && ev->ph != 'f')
		return 0;
	if (ev->ph == 'f' && strcmp(ev->bp, "e") != 0)
		return fail(c, "flow end without bp e");
	if (prev->ph != 'X' || prev->pid != ev->pid || prev->tid != ev->tid || prev->ts != ev->ts ||
	    strcmp(prev->cat, ev->cat) != 0)
		return fail(c, "flow event without its slice");
	return 0;
}

static int trace(struct ctx *c)
{
	char key[256];
	struct keys k = { 0 };
	bool events = false;
	int r, err = 0;

	if (rtc_json_peek(&c->j) != RTC_JSON_OBJECT || rtc_json_object_begin(&c->j))
		return fail(c, "not a JSON object");
	while (!err && (r = rtc_json_object_next(&c->j, key, sizeof(key))) == 1) {
		keys_add(c, &k, key);
		if (strcmp(key, "traceEvents") == 0) {
			struct event prev = { 0 }, ev;

			events = true;
			if (rtc_json_array_begin(&c->j))
				err = fail(c, "traceEvents not an array");
			while (!err && (r = rtc_json_array_next(&c->j)) == 1) {
				err = event(c, &ev) || flow_bound(c, &prev, &ev);
				prev = ev;
			}
			if (!err && r < 0)
				err = fail(c, "bad traceEvents array");
		} else {
			err = value(c);
		}
	}
	if (err || r < 0) {
		free(k.h);
		return err ? -1 : fail(c, "bad top-level object");
	}
	if (keys_done(c, &k))
		return -1;
	if (!events)
		return fail(c, "no traceEvents");
	return rtc_json_finish(&c->j) ? fail(c, "bytes after the trace") : 0;
}

int chrome_check(const char *buf, size_t len, char *why, size_t why_len)
{
	struct ctx *c = malloc(sizeof(*c));
	int err;

	if (!c)
		abort();
	rtc_json_init(&c->j, buf, len);
	c->start = buf;
	c->why = why;
	c->why_len = why_len;
	err = trace(c);
	free(c);
	return err;
}
