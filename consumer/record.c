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

int rtc_decoder_next(struct rtc_decoder *d, struct rtc_record *rec)
{
	msgpack_object obj;
	msgpack_unpack_return ret;
	size_t off = d->off;
	int err;

	if (d->off >= d->len)
		return 0;
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
