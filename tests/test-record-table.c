/* SPDX-License-Identifier: MIT */
/* The record table (ringtrace/records.h) checked end to end: the producer's generated encoders and
 * the consumer's table-driven decoder agree with msgpack-c's own decoding on every kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include <ringtrace/ringtrace.h>

#include "encode.h"
#include "record.h"

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A value of random width: fixint, uint8, uint16, uint32 or uint64. */
static uint64_t any_width(uint64_t *s)
{
	static const uint64_t masks[] = { 0x7f, 0xff, 0xffff, 0xffffffffull, UINT64_MAX };

	return rnd(s) & masks[rnd(s) % 5];
}

struct gen {
	uint64_t seed;
	char text[4][300];
	int ntext;
	struct rt_shm_stack_entry entries[RT_SHM_STACK_MAX];
};

#define GEN_U(x, n) r->n = any_width(&g->seed);
#define GEN_OU(x, n) r->n = any_width(&g->seed);
#define GEN_S(x, n)                                                                 \
	{                                                                           \
		char *t = g->text[g->ntext++ % 4];                                  \
		uint32_t len = (uint32_t)(rnd(&g->seed) % 300);                     \
		for (uint32_t i = 0; i < len; i++)                                  \
			t[i] = (char)(' ' + rnd(&g->seed) % 90);                    \
		r->n.ptr = t;                                                       \
		r->n.len = len;                                                     \
	}
#define GEN_K(x, n)                                                                       \
	{                                                                                 \
		uint32_t cnt = (uint32_t)(rnd(&g->seed) % (RT_SHM_STACK_MAX + 1));        \
		for (uint32_t i = 0; i < cnt; i++)                                        \
			g->entries[i] = (struct rt_shm_stack_entry){ any_width(&g->seed), any_width(&g->seed), \
								     any_width(&g->seed), (uint32_t)any_width(&g->seed), \
								     (uint32_t)(rnd(&g->seed) % 2) }; \
		r->n.entries = g->entries;                                                \
		r->n.count = cnt;                                                         \
	}
#define GEN_FIELD(x, t, n) GEN_##t(x, n)
/* Fill a random record of every field of kind `name`, encode it, return its end. */
#define GEN_KIND(num, NAME, name)                                                  \
	static uint8_t *gen_##name(struct gen *g, uint8_t *p, uint64_t dt)          \
	{                                                                          \
		struct rt_rec_##name rec, *r = &rec;                               \
		memset(r, 0, sizeof(*r));                                          \
		r->present = ~0u;                                                  \
		RT_REC_FIELDS_##name(GEN_FIELD, name)(void) g;                     \
		return rt_rec_put_##name(p, dt, r);                                \
	}
RT_RECORD_KINDS(GEN_KIND)

struct kind_gen {
	uint32_t kind;
	uint8_t *(*fn)(struct gen *g, uint8_t *p, uint64_t dt);
};

#define KIND_ENTRY(num, NAME, name) { num, gen_##name },
static const struct kind_gen kinds[] = { RT_RECORD_KINDS(KIND_ENTRY) };

/* Every field the decoder reports equals msgpack-c's decoding of the same bytes. */
static void compare(const struct rtc_record *rec, const msgpack_object *o)
{
	struct rtc_field f[8];
	size_t n = rtc_record_fields(rec, f, 8);

	assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
	assert_true(o->via.array.size >= 2);
	assert_int_equal(o->via.array.ptr[0].via.u64, rec->kind);
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *v;

		if (!f[i].present) {
			assert_true(o->via.array.size <= 2 + i);
			continue;
		}
		v = &o->via.array.ptr[2 + i];
		switch (f[i].type) {
		case RTC_FIELD_UINT:
			assert_int_equal(v->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
			assert_true(v->via.u64 == f[i].u);
			break;
		case RTC_FIELD_STR:
			assert_int_equal(v->type, MSGPACK_OBJECT_STR);
			assert_int_equal(v->via.str.size, f[i].s.len);
			assert_memory_equal(v->via.str.ptr, f[i].s.ptr, f[i].s.len);
			break;
		case RTC_FIELD_ENTRIES:
			assert_int_equal(v->type, MSGPACK_OBJECT_ARRAY);
			assert_int_equal(v->via.array.size, f[i].entries);
			for (uint32_t k = 0; k < f[i].entries; k++) {
				const msgpack_object *e = v->via.array.ptr[k].via.array.ptr;

				assert_true(e[0].via.u64 == rec->stack[k].name_id);
				assert_true(e[1].via.u64 == rec->stack[k].span_seq);
				assert_true(e[2].via.u64 == rec->stack[k].begin_ts);
				assert_true(e[3].via.u64 == rec->stack[k].task_id);
				assert_true((v->via.array.ptr[k].via.array.size > 4 ? e[4].via.u64 : 0) == rec->stack[k].flags);
			}
			break;
		}
	}
}

static void check_bytes(const uint8_t *buf, size_t len, uint64_t dt)
{
	struct rtc_decoder d;
	struct rtc_record rec;
	msgpack_unpacked u;
	size_t off = 0;

	rtc_decoder_reset(&d, buf, len, 1000);
	assert_int_equal(rtc_decoder_next(&d, &rec), 1);
	assert_int_equal(d.off, len);
	assert_true(rec.ts == 1000 + dt);
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, len, &off), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, len);
	compare(&rec, &u.data);
	msgpack_unpacked_destroy(&u);
	/* Every proper prefix is an error, never a record. */
	for (size_t cut = 1; cut < len; cut++) {
		rtc_decoder_reset(&d, buf, cut, 0);
		assert_int_equal(rtc_decoder_next(&d, &rec), -RT_ECORRUPT);
	}
}

static void test_every_kind_matches_msgpack_c(void **state)
{
	static struct gen g = { .seed = 0x9e3779b97f4a7c15ull };
	static uint8_t buf[8192];

	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		const struct kind_gen *k = &kinds[(size_t)iter % (sizeof(kinds) / sizeof(kinds[0]))];
		uint64_t dt = any_width(&g.seed);
		uint8_t *end = k->fn(&g, buf, dt);

		assert_int_equal(buf[1], k->kind);
		check_bytes(buf, (size_t)(end - buf), dt);
	}
}

/* Fields a later version appends (any msgpack type, nested) are skipped: both decoders end at the
 * same byte, and the known fields are unchanged. */
static void test_trailing_fields_of_later_versions_are_skipped(void **state)
{
	static struct gen g = { .seed = 12345 };
	static uint8_t buf[8192];

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		const struct kind_gen *k = &kinds[(size_t)iter % (sizeof(kinds) / sizeof(kinds[0]))];
		uint64_t dt = any_width(&g.seed);
		uint8_t *end = k->fn(&g, buf, dt);
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_unpacked u;
		size_t off = 0, extra = 1 + rnd(&g.seed) % 3;

		/* Re-pack the record with `extra` more elements of assorted types. */
		msgpack_unpacked_init(&u);
		assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, (size_t)(end - buf), &off), MSGPACK_UNPACK_SUCCESS);
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, u.data.via.array.size + (uint32_t)extra);
		for (uint32_t i = 0; i < u.data.via.array.size; i++)
			msgpack_pack_object(&pk, u.data.via.array.ptr[i]);
		for (size_t i = 0; i < extra; i++) {
			switch (rnd(&g.seed) % 6) {
			case 0: msgpack_pack_nil(&pk); break;
			case 1: msgpack_pack_double(&pk, 1.5); break;
			case 2: msgpack_pack_int64(&pk, -(int64_t)(rnd(&g.seed) % 100000)); break;
			case 3: msgpack_pack_bin(&pk, 3); msgpack_pack_bin_body(&pk, "abc", 3); break;
			case 4:
				msgpack_pack_map(&pk, 1);
				msgpack_pack_array(&pk, 2);
				msgpack_pack_true(&pk);
				msgpack_pack_str(&pk, 2);
				msgpack_pack_str_body(&pk, "hi", 2);
				msgpack_pack_ext(&pk, 5, 7);
				msgpack_pack_ext_body(&pk, "12345", 5);
				break;
			default: msgpack_pack_float(&pk, 2.0f); break;
			}
		}
		msgpack_unpacked_destroy(&u);
		check_bytes((const uint8_t *)sb.data, sb.size, dt);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* Random bytes: whenever our decoder accepts a record, msgpack-c decodes the same bytes to the same
 * values; a record we reject may be valid msgpack but never a valid record. */
static void test_random_bytes_never_disagree(void **state)
{
	uint64_t seed = 777;
	uint8_t buf[64];
	unsigned accepted = 0;

	(void)state;
	for (int iter = 0; iter < 200000; iter++) {
		struct rtc_decoder d;
		struct rtc_record rec;
		size_t len = 2 + rnd(&seed) % (sizeof(buf) - 2);

		/* Mostly small integers, with every other byte value mixed in. */
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(rnd(&seed) % 4 ? rnd(&seed) % 0x80 : rnd(&seed));
		/* Bias toward plausible records: an array header and a real kind. */
		buf[0] = (uint8_t)(0x92 + rnd(&seed) % 5);
		buf[1] = (uint8_t)(1 + rnd(&seed) % RT_REC_KIND_MAX);
		rtc_decoder_reset(&d, buf, len, 0);
		if (rtc_decoder_next(&d, &rec) == 1) {
			msgpack_unpacked u;
			size_t off = 0;

			accepted++;
			msgpack_unpacked_init(&u);
			assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, d.off, &off), MSGPACK_UNPACK_SUCCESS);
			assert_int_equal(off, d.off);
			compare(&rec, &u.data);
			msgpack_unpacked_destroy(&u);
		}
	}
	/* The generator must actually exercise acceptance, or this test proves nothing. */
	assert_true(accepted > 1000);
}

static void test_malformed_records_are_corrupt(void **state)
{
	/* [4, 1] misses the name; a str where an int belongs; a truncated uint32; kind 99; kind 14
	 * (reserved); a negative int where an unsigned belongs; a STACK with 65 entries. */
	static const uint8_t missing[] = { 0x92, 0x04, 0x01 };
	static const uint8_t wrongtype[] = { 0x93, 0x04, 0x01, 0xa1, 'x' };
	static const uint8_t truncated[] = { 0x93, 0x04, 0xce, 0x00 };
	static const uint8_t badkind[] = { 0x92, 0x63, 0x01 };
	static const uint8_t reserved[] = { 0x94, 0x0e, 0x01, 0x01, 0x01 };
	static const uint8_t negative[] = { 0x93, 0x04, 0x01, 0xff };
	static const uint8_t deep_stack[] = { 0x95, 0x0c, 0x00, 0x00, 0x00, 0xdc, 0x00, 0x41 };
	const struct {
		const uint8_t *p;
		size_t n;
	} bad[] = { { missing, sizeof(missing) }, { wrongtype, sizeof(wrongtype) }, { truncated, sizeof(truncated) },
		    { badkind, sizeof(badkind) },  { reserved, sizeof(reserved) },   { negative, sizeof(negative) },
		    { deep_stack, sizeof(deep_stack) } };
	static const uint8_t signed_ok[] = { 0x93, 0x04, 0xd0, 0x05, 0xd1, 0x00, 0x07 };
	struct rtc_decoder d;
	struct rtc_record rec;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rtc_decoder_reset(&d, bad[i].p, bad[i].n, 0);
		assert_int_equal(rtc_decoder_next(&d, &rec), -RT_ECORRUPT);
		assert_int_equal(rtc_decoder_next(&d, &rec), 0); /* the rest of the chunk is skipped */
	}
	/* Non-negative values in signed encodings are integers for msgpack-c, so for us too. */
	rtc_decoder_reset(&d, signed_ok, sizeof(signed_ok), 10);
	assert_int_equal(rtc_decoder_next(&d, &rec), 1);
	assert_int_equal(rec.ts, 15);
	assert_int_equal(rec.u.span_begin.name_id, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind_matches_msgpack_c),
		cmocka_unit_test(test_trailing_fields_of_later_versions_are_skipped),
		cmocka_unit_test(test_random_bytes_never_disagree),
		cmocka_unit_test(test_malformed_records_are_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
