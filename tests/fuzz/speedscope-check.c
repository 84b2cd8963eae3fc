/* SPDX-License-Identifier: MIT */
/* Speedscope file checker for the fuzz targets: strict JSON, and evented profiles that speedscope
 * loads (every event names a frame, times in order and in range, opens and closes nested). */
#include "speedscope-check.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/json.h"

#define MAX_DEPTH 4096

struct ctx {
	struct rtc_json j;
	const char *start;
	char *why;
	size_t why_len;
	uint64_t frames;
	bool have_frames;
	uint64_t stack[MAX_DEPTH];
};

static int fail(struct ctx *c, const char *what)
{
	snprintf(c->why, c->why_len, "%s at byte %zu", what, (size_t)(c->j.p - c->start));
	return -1;
}

static int frames(struct ctx *c)
{
	char key[64];
	int r;

	if (rtc_json_object_begin(&c->j))
		return fail(c, "shared is not an object");
	while ((r = rtc_json_object_next(&c->j, key, sizeof(key))) == 1) {
		if (strcmp(key, "frames") != 0) {
			if (rtc_json_skip(&c->j))
				return fail(c, "bad value in shared");
			continue;
		}
		if (rtc_json_array_begin(&c->j))
			return fail(c, "frames is not an array");
		while ((r = rtc_json_array_next(&c->j)) == 1) {
			char fkey[16];
			bool named = false;

			if (rtc_json_object_begin(&c->j))
				return fail(c, "a frame is not an object");
			while ((r = rtc_json_object_next(&c->j, fkey, sizeof(fkey))) == 1) {
				named |= strcmp(fkey, "name") == 0 && rtc_json_peek(&c->j) == RTC_JSON_STRING;
				if (rtc_json_skip(&c->j))
					return fail(c, "bad frame field");
			}
			if (r < 0 || !named)
				return fail(c, "a frame without a name");
			c->frames++;
		}
		if (r < 0)
			return fail(c, "bad frames array");
		c->have_frames = true;
	}
	return r < 0 ? fail(c, "bad shared object") : 0;
}

/* One event of a profile: {"type":"O"|"C","frame":N,"at":T}. */
static int event(struct ctx *c, char *type, uint64_t *frame, uint64_t *at)
{
	char key[16], t[4] = "";
	unsigned have = 0;
	size_t len;
	int r;

	if (rtc_json_object_begin(&c->j))
		return fail(c, "an event is not an object");
	while ((r = rtc_json_object_next(&c->j, key, sizeof(key))) == 1) {
		if (strcmp(key, "type") == 0)
			have |= rtc_json_string(&c->j, t, sizeof(t), &len) == 0 ? 1 : 0;
		else if (strcmp(key, "frame") == 0)
			have |= rtc_json_u64(&c->j, frame) == 0 ? 2 : 0;
		else if (strcmp(key, "at") == 0)
			have |= rtc_json_u64(&c->j, at) == 0 ? 4 : 0;
		else if (rtc_json_skip(&c->j))
			return fail(c, "bad event field");
		if (c->j.err)
			return fail(c, "bad event field");
	}
	if (r < 0 || have != 7 || (strcmp(t, "O") != 0 && strcmp(t, "C") != 0))
		return fail(c, "an event without type O or C, frame and at");
	*type = t[0];
	return 0;
}

static int profile(struct ctx *c)
{
	char key[32], type[16] = "";
	uint64_t start = 0, end = 0, last = 0;
	size_t depth = 0, len;
	bool events = false;
	int r;

	if (!c->have_frames)
		return fail(c, "profiles before the frames");
	if (rtc_json_object_begin(&c->j))
		return fail(c, "a profile is not an object");
	while ((r = rtc_json_object_next(&c->j, key, sizeof(key))) == 1) {
		if (strcmp(key, "type") == 0) {
			if (rtc_json_string(&c->j, type, sizeof(type), &len))
				return fail(c, "bad profile type");
		} else if (strcmp(key, "startValue") == 0) {
			if (rtc_json_u64(&c->j, &start))
				return fail(c, "bad startValue");
			last = start;
		} else if (strcmp(key, "endValue") == 0) {
			if (rtc_json_u64(&c->j, &end))
				return fail(c, "bad endValue");
		} else if (strcmp(key, "events") == 0) {
			events = true;
			if (rtc_json_array_begin(&c->j))
				return fail(c, "events is not an array");
			while ((r = rtc_json_array_next(&c->j)) == 1) {
				uint64_t frame, at;
				char t;

				if (event(c, &t, &frame, &at))
					return -1;
				if (frame >= c->frames)
					return fail(c, "an event names no frame");
				if (at < last || at < start)
					return fail(c, "events go back in time");
				last = at;
				if (t == 'O') {
					if (depth == MAX_DEPTH)
						return fail(c, "too deep");
					c->stack[depth++] = frame;
				} else if (!depth || c->stack[--depth] != frame) {
					return fail(c, "a close that is not the innermost open frame");
				}
			}
			if (r < 0)
				return fail(c, "bad events array");
		} else if (rtc_json_skip(&c->j)) {
			return fail(c, "bad profile field");
		}
	}
	if (r < 0 || strcmp(type, "evented") != 0 || !events)
		return fail(c, "not an evented profile");
	if (depth)
		return fail(c, "frames left open");
	if (last > end || start > end)
		return fail(c, "events past endValue");
	return 0;
}

int speedscope_check(const char *buf, size_t len, char *why, size_t why_len)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char key[64];
	bool profiles = false;
	int r, err = 0;

	if (!c)
		abort();
	rtc_json_init(&c->j, buf, len);
	c->start = buf;
	c->why = why;
	c->why_len = why_len;
	if (rtc_json_object_begin(&c->j))
		err = fail(c, "not a JSON object");
	while (!err && (r = rtc_json_object_next(&c->j, key, sizeof(key))) == 1) {
		if (strcmp(key, "shared") == 0) {
			err = frames(c);
		} else if (strcmp(key, "profiles") == 0) {
			profiles = true;
			if (rtc_json_array_begin(&c->j))
				err = fail(c, "profiles is not an array");
			while (!err && (r = rtc_json_array_next(&c->j)) == 1)
				err = profile(c);
			if (!err && r < 0)
				err = fail(c, "bad profiles array");
		} else if (rtc_json_skip(&c->j)) {
			err = fail(c, "bad value");
		}
	}
	if (!err && (r < 0 || !profiles))
		err = fail(c, "no profiles");
	if (!err && rtc_json_finish(&c->j))
		err = fail(c, "bytes after the file");
	free(c);
	return err;
}
