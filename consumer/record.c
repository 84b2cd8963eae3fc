/* SPDX-License-Identifier: MIT */
/* Strict msgpack-c decoding of ring records. */
#include "record.h"

#include <errno.h>
#include <string.h>

#include <ringtrace/ringtrace.h>

int rtc_decoder_init(struct rtc_decoder *d)
{
	memset(d, 0, sizeof(*d));
	return msgpack_zone_init(&d->zone, 4096) ? 0 : -ENOMEM;
}

void rtc_decoder_fini(struct rtc_decoder *d)
{
	msgpack_zone_destroy(&d->zone);
}

void rtc_decoder_reset(struct rtc_decoder *d, const uint8_t *data, size_t len, uint64_t base_ts)
{
	d->data = data;
	d->len = len;
	d->off = 0;
	d->ts = base_ts;
	d->records = 0;
}

static int u64(const msgpack_object *o, uint64_t *out)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -1;
	*out = o->via.u64;
	return 0;
}

/* Expected element counts per kind (minimum; later minors may append fields). */
static const uint8_t min_fields[RT_REC_KIND_MAX + 1] = {
	[RT_REC_THREAD_START] = 6, [RT_REC_THREAD_NAME] = 3, [RT_REC_THREAD_EXIT] = 2,
	[RT_REC_SPAN_BEGIN] = 3,   [RT_REC_SPAN_END] = 2,    [RT_REC_SPAN_END_SEQ] = 3,
	[RT_REC_TASK_BEGIN] = 5,   [RT_REC_TASK_END] = 4,    [RT_REC_LOG] = 5,
	[RT_REC_ADOPT] = 6,        [RT_REC_LOSS] = 5,        [RT_REC_STACK] = 5,
	[RT_REC_MISUSE] = 4,       [RT_REC_CALIB] = 4,
};

int rtc_record_from_object(const msgpack_object *o, uint64_t *ts, struct rtc_record *rec)
{
	const msgpack_object *f;
	uint64_t kind, dt, v[4] = { 0, 0, 0, 0 };
	uint32_t n, ints = 0, str_at = 0;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2)
		return -RT_ECORRUPT;
	f = o->via.array.ptr;
	n = o->via.array.size;
	if (u64(&f[0], &kind) || kind == 0 || kind > RT_REC_KIND_MAX || n < min_fields[kind] || u64(&f[1], &dt))
		return -RT_ECORRUPT;
	rec->kind = (uint32_t)kind;
	rec->str = NULL;
	rec->str_len = 0;
	rec->stack_len = 0;
	switch (kind) {
	case RT_REC_THREAD_START: ints = 2; str_at = 4; break; /* tid, thread_number, name, pid */
	case RT_REC_THREAD_NAME: str_at = 2; break;
	case RT_REC_LOG: ints = 1; str_at = 3; break;          /* category, message, flags */
	case RT_REC_STACK: ints = 2; break;                     /* task, span_seq, [entries] */
	default: ints = min_fields[kind] - 2; break;
	}
	for (uint32_t i = 0; i < ints && i < 4; i++)
		if (u64(&f[2 + i], &v[i]))
			return -RT_ECORRUPT;
	if (str_at) {
		if (f[str_at].type != MSGPACK_OBJECT_STR)
			return -RT_ECORRUPT;
		rec->str = f[str_at].via.str.ptr;
		rec->str_len = f[str_at].via.str.size;
	}
	if (kind == RT_REC_THREAD_START && u64(&f[5], &v[2]))
		return -RT_ECORRUPT;
	if (kind == RT_REC_LOG && u64(&f[4], &v[1]))
		return -RT_ECORRUPT;
	if (kind == RT_REC_STACK) {
		const msgpack_object *arr = &f[4];

		if (arr->type != MSGPACK_OBJECT_ARRAY || arr->via.array.size > RTC_STACK_MAX)
			return -RT_ECORRUPT;
		for (uint32_t i = 0; i < arr->via.array.size; i++) {
			const msgpack_object *e = &arr->via.array.ptr[i];
			uint64_t name;

			if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 4 || u64(&e->via.array.ptr[0], &name) ||
			    name > UINT32_MAX || u64(&e->via.array.ptr[1], &rec->stack[i].span_seq) ||
			    u64(&e->via.array.ptr[2], &rec->stack[i].begin_ts) ||
			    u64(&e->via.array.ptr[3], &rec->stack[i].task_id))
				return -RT_ECORRUPT;
			rec->stack[i].name_id = (uint32_t)name;
		}
		rec->stack_len = arr->via.array.size;
	}
	*ts += dt;
	rec->ts = *ts;
	rec->a = v[0];
	rec->b = v[1];
	rec->c = v[2];
	rec->d = v[3];
	return 0;
}

/* Fast path for records made only of unsigned integers (spans, tasks, adopts, losses, misuse):
 * a bounds-checked reader of exactly the encodings the format allows. Anything else (strings,
 * STACK arrays, records longer than this version knows, a malformed byte) returns 0 and the
 * record goes through msgpack-c, which also produces the error. */
static int read_uint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	size_t o = *off;
	uint8_t b;

	if (o >= len)
		return 0;
	b = p[o];
	if (b < 0x80) {
		*v = b;
		*off = o + 1;
		return 1;
	}
	switch (b) {
	case 0xcc:
		if (len - o < 2)
			return 0;
		*v = p[o + 1];
		*off = o + 2;
		return 1;
	case 0xcd:
		if (len - o < 3)
			return 0;
		*v = (uint64_t)p[o + 1] << 8 | p[o + 2];
		*off = o + 3;
		return 1;
	case 0xce:
		if (len - o < 5)
			return 0;
		*v = (uint64_t)p[o + 1] << 24 | (uint64_t)p[o + 2] << 16 | (uint64_t)p[o + 3] << 8 | p[o + 4];
		*off = o + 5;
		return 1;
	case 0xcf:
		if (len - o < 9)
			return 0;
		*v = 0;
		for (int i = 1; i <= 8; i++)
			*v = *v << 8 | p[o + i];
		*off = o + 9;
		return 1;
	default:
		return 0;
	}
}

static int fast_record(struct rtc_decoder *d, struct rtc_record *rec)
{
	static const uint8_t int_fields[RT_REC_KIND_MAX + 1] = {
		[RT_REC_THREAD_EXIT] = 2, [RT_REC_SPAN_BEGIN] = 3, [RT_REC_SPAN_END] = 2, [RT_REC_SPAN_END_SEQ] = 3,
		[RT_REC_TASK_BEGIN] = 5,  [RT_REC_TASK_END] = 4,   [RT_REC_ADOPT] = 6,    [RT_REC_LOSS] = 5,
		[RT_REC_MISUSE] = 4,
	};
	const uint8_t *p = d->data;
	size_t off = d->off, n;
	uint64_t v[6] = { 0, 0, 0, 0, 0, 0 };
	uint8_t kind;

	if (off + 2 > d->len || (p[off] & 0xf0) != 0x90)
		return 0;
	n = p[off] & 0x0f;
	kind = p[off + 1];
	if (kind > RT_REC_KIND_MAX || int_fields[kind] == 0 || n != int_fields[kind])
		return 0;
	off += 2;
	for (size_t i = 1; i < n; i++)
		if (!read_uint(p, d->len, &off, &v[i]))
			return 0;
	rec->kind = kind;
	d->ts += v[1];
	rec->ts = d->ts;
	rec->a = n > 2 ? v[2] : 0;
	rec->b = n > 3 ? v[3] : 0;
	rec->c = n > 4 ? v[4] : 0;
	rec->d = n > 5 ? v[5] : 0;
	rec->str = NULL;
	rec->str_len = 0;
	rec->stack_len = 0;
	d->off = off;
	d->records++;
	return 1;
}

int rtc_decoder_next(struct rtc_decoder *d, struct rtc_record *rec)
{
	msgpack_object obj;
	msgpack_unpack_return ret;
	size_t off = d->off;
	int err;

	if (d->off >= d->len)
		return 0;
	if (fast_record(d, rec))
		return 1;
	msgpack_zone_clear(&d->zone);
	ret = msgpack_unpack((const char *)d->data, d->len, &off, &d->zone, &obj);
	if (ret != MSGPACK_UNPACK_SUCCESS && ret != MSGPACK_UNPACK_EXTRA_BYTES) {
		d->off = d->len;
		return -RT_ECORRUPT;
	}
	d->off = off;
	err = rtc_record_from_object(&obj, &d->ts, rec);
	if (err < 0) {
		d->off = d->len;
		return err;
	}
	d->records++;
	return 1;
}

const char *rtc_record_kind_name(uint32_t kind)
{
	static const char *const names[RT_REC_KIND_MAX + 1] = {
		[RT_REC_THREAD_START] = "thread_start", [RT_REC_THREAD_NAME] = "thread_name",
		[RT_REC_THREAD_EXIT] = "thread_exit",   [RT_REC_SPAN_BEGIN] = "span_begin",
		[RT_REC_SPAN_END] = "span_end",         [RT_REC_SPAN_END_SEQ] = "span_end_seq",
		[RT_REC_TASK_BEGIN] = "task_begin",     [RT_REC_TASK_END] = "task_end",
		[RT_REC_LOG] = "log",                   [RT_REC_ADOPT] = "adopt",
		[RT_REC_LOSS] = "loss",                 [RT_REC_STACK] = "stack",
		[RT_REC_MISUSE] = "misuse",             [RT_REC_CALIB] = "calib",
	};

	return kind <= RT_REC_KIND_MAX && names[kind] ? names[kind] : "unknown";
}
