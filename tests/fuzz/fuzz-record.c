/* SPDX-License-Identifier: MIT */
/* Fuzz target: the ring record decoder (consumer/record.c over mpcursor.h) against msgpack-c. What it
 * accepts msgpack-c decodes to the same values; what msgpack-c decodes that fits the table it accepts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <ringtrace/ringtrace.h>

#include "mpcursor.h"
#include "record.h"

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "fuzz-record: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

/* msgpack-c's unpacker stack (MSGPACK_EMBED_STACK_SIZE in msgpack/unpack_define.h). */
#define MSGPACK_C_DEPTH 32

/* The record table as this oracle reads records.h, independently of record.c's own table. */
enum ftype { FT_U, FT_OU, FT_S, FT_K };
struct kind {
	bool known;
	uint8_t nfields, nrequired;
	uint8_t type[16];
};
#define K_TYPE(x, t, n) FT_##t,
#define K_COUNT(x, t, n) +1
#define K_REQ_U 1
#define K_REQ_S 1
#define K_REQ_K 1
#define K_REQ_OU 0
#define K_NREQ(x, t, n) +K_REQ_##t
#define K_ENTRY(num, NAME, name)                                                                          \
	[num] = { true, 0 RT_REC_FIELDS_##name(K_COUNT, name), 0 RT_REC_FIELDS_##name(K_NREQ, name),       \
		  { RT_REC_FIELDS_##name(K_TYPE, name) } },
static const struct kind table[RT_REC_KIND_MAX + 1] = { RT_RECORD_KINDS(K_ENTRY) };

static bool is_uint(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

/* Whether msgpack-c's object is a record the table allows. */
static bool conforms(const msgpack_object *o)
{
	const msgpack_object *a;
	const struct kind *k;
	uint32_t fields;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2)
		return false;
	a = o->via.array.ptr;
	if (!is_uint(&a[0]) || a[0].via.u64 > RT_REC_KIND_MAX || !table[a[0].via.u64].known || !is_uint(&a[1]))
		return false;
	k = &table[a[0].via.u64];
	fields = o->via.array.size - 2;
	if (fields < k->nrequired)
		return false;
	for (uint32_t i = 0; i < k->nfields && i < fields; i++) {
		const msgpack_object *v = &a[2 + i];

		switch (k->type[i]) {
		case FT_U:
		case FT_OU:
			if (!is_uint(v))
				return false;
			break;
		case FT_S:
			if (v->type != MSGPACK_OBJECT_STR)
				return false;
			break;
		default:
			if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size > RTC_STACK_MAX)
				return false;
			for (uint32_t e = 0; e < v->via.array.size; e++) {
				const msgpack_object *en = &v->via.array.ptr[e];

				if (en->type != MSGPACK_OBJECT_ARRAY || en->via.array.size < 4)
					return false;
				for (uint32_t f = 0; f < 5 && f < en->via.array.size; f++)
					if (!is_uint(&en->via.array.ptr[f]))
						return false;
			}
			break;
		}
	}
	return true;
}

/* Every field of rec equals msgpack-c's decoding of the same bytes (o), dt included. */
static void compare(const struct rtc_record *rec, uint64_t dt, const msgpack_object *o)
{
	struct rtc_field f[16];
	size_t n = rtc_record_fields(rec, f, 16);
	const msgpack_object *a;

	CHECK(conforms(o));
	a = o->via.array.ptr;
	CHECK(a[0].via.u64 == rec->kind);
	CHECK(a[1].via.u64 == dt);
	CHECK(n == table[rec->kind].nfields);
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *v;

		if (!f[i].present) {
			CHECK(o->via.array.size <= 2 + i);
			CHECK(table[rec->kind].type[i] == FT_OU);
			continue;
		}
		CHECK(o->via.array.size > 2 + i);
		v = &a[2 + i];
		switch (f[i].type) {
		case RTC_FIELD_UINT:
			CHECK(v->via.u64 == f[i].u);
			break;
		case RTC_FIELD_STR:
			CHECK(v->via.str.size == f[i].s.len);
			CHECK(!f[i].s.len || memcmp(v->via.str.ptr, f[i].s.ptr, f[i].s.len) == 0);
			break;
		case RTC_FIELD_ENTRIES:
			CHECK(v->via.array.size == f[i].entries);
			for (uint32_t k = 0; k < f[i].entries; k++) {
				const msgpack_object *en = &v->via.array.ptr[k];
				const msgpack_object *e = en->via.array.ptr;

				CHECK(e[0].via.u64 == rec->stack[k].name_id);
				CHECK(e[1].via.u64 == rec->stack[k].span_seq);
				CHECK(e[2].via.u64 == rec->stack[k].begin_ts);
				CHECK(e[3].via.u64 == rec->stack[k].task_id);
				CHECK((en->via.array.size > 4 ? e[4].via.u64 : 0) == rec->stack[k].flags);
			}
			break;
		}
	}
}

/* A container header at c: its element count (a map's keys and values) in *n. */
static bool container(struct mp_cursor *c, uint64_t *n)
{
	uint8_t b = c->p[c->off];
	unsigned w = b == 0xdc || b == 0xde ? 2 : b == 0xdd || b == 0xdf ? 4 : 0;
	bool map = (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;

	if ((b & 0xe0) == 0x80) {
		*n = b & 0x0f;
	} else if (w) {
		CHECK(mp_need(c, 1 + w));
		*n = mp_be(c->p + c->off + 1, (int)w);
	} else {
		return false;
	}
	c->off += 1 + w;
	if (map)
		*n *= 2;
	return true;
}

/* Whether one well-formed value at p opens a container while 32 are open: msgpack-c's fixed stack
 * (MSGPACK_C_DEPTH) refuses that with NOMEM, a limit of the oracle and not of the bytes. */
static bool too_deep_for_msgpack_c(const uint8_t *p, size_t len)
{
	struct mp_cursor c = { p, len, 0 };
	uint64_t left[MSGPACK_C_DEPTH], items = 1, n;
	int open = 0;

	while (items || open) {
		if (!items) {
			items = left[--open];
			continue;
		}
		items--;
		CHECK(c.off < len);
		if (!container(&c, &n)) {
			CHECK(mp_skip(&c, 1));
			continue;
		}
		if (open >= MSGPACK_C_DEPTH)
			return true;
		if (n) {
			left[open++] = items;
			items = n;
		}
	}
	return false;
}

/* mpcursor's skip (used for trailing fields and by the capture reader) agrees with msgpack-c on
 * where the first value ends. Only called on bytes mp_skip accepted: those claim no more items than
 * they hold, so msgpack-c's up-front allocation stays small. */
static bool first_value(const uint8_t *data, size_t size, msgpack_unpacked *u, size_t *end)
{
	struct mp_cursor c = { data, size, 0 };
	size_t off = 0;
	msgpack_unpack_return ret;

	if (!mp_skip(&c, 1))
		return false;
	ret = msgpack_unpack_next(u, (const char *)data, size, &off);
	if (ret == MSGPACK_UNPACK_NOMEM_ERROR && too_deep_for_msgpack_c(data, c.off))
		return false;
	CHECK(ret == MSGPACK_UNPACK_SUCCESS);
	CHECK(off == c.off);
	*end = off;
	return true;
}

static void check_table(const uint8_t *data, size_t size)
{
	msgpack_unpacked u;
	size_t end;

	msgpack_unpacked_init(&u);
	if (first_value(data, size, &u, &end) && conforms(&u.data)) {
		struct rtc_decoder d;
		struct rtc_record rec;

		/* A record the table allows: accepted, to the same byte, with the same values. */
		rtc_decoder_reset(&d, data, size, 0);
		CHECK(rtc_decoder_next(&d, &rec) == 1);
		CHECK(d.off == end);
		compare(&rec, rec.ts, &u.data);
	}
	msgpack_unpacked_destroy(&u);
}

/* The decoder over the input as one chunk: each record it accepts is msgpack-c's, and after the
 * first malformed one the rest of the chunk is skipped. */
static void check_chunk(const uint8_t *data, size_t size, uint64_t base)
{
	struct rtc_decoder d;
	struct rtc_record rec;
	struct rtc_chunk_cursor cc;
	uint64_t lost, prev = base, records = 0;
	size_t start = 0;
	int ret;

	memset(&cc, 0, sizeof(cc));
	CHECK(rtc_chunk_start(&cc, &d, data, size, base, false, 7, UINT64_MAX, &lost));
	CHECK(lost == 0);
	while ((ret = rtc_decoder_next(&d, &rec)) == 1) {
		msgpack_unpacked u;
		size_t off = 0;

		records++;
		CHECK(d.off > start && d.off <= size);
		msgpack_unpacked_init(&u);
		ret = msgpack_unpack_next(&u, (const char *)data + start, d.off - start, &off);
		if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
			/* Trailing fields nested deeper than msgpack-c's stack: valid, but no oracle. */
			CHECK(too_deep_for_msgpack_c(data + start, d.off - start));
		} else {
			CHECK(ret == MSGPACK_UNPACK_SUCCESS);
			CHECK(off == d.off - start);
			compare(&rec, rec.ts - prev, &u.data);
		}
		msgpack_unpacked_destroy(&u);
		CHECK(strcmp(rtc_record_kind_name(rec.kind), "unknown") != 0);
		prev = rec.ts;
		start = d.off;
	}
	CHECK(ret == 0 || ret == -RT_ECORRUPT);
	CHECK(d.records == records);
	rtc_chunk_done(&cc, &d, ret);
	CHECK(cc.ts_known == (ret == 0));
	CHECK(cc.rec_known == (ret == 0));
	if (ret < 0) {
		CHECK(d.off == size);
		CHECK(rtc_decoder_next(&d, &rec) == 0);
	} else {
		CHECK(cc.next_rec == 7 + records);
		CHECK(cc.raw_ts == prev);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_table(data, size);
	check_chunk(data, size, size ? data[0] : 0);
	return 0;
}
