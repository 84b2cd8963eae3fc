/* SPDX-License-Identifier: MIT */
/* The hot-path msgpack encoders: every integer width boundary and string size decodes with
 * msgpack-c's msgpack_unpack_next() to exactly what was encoded. */
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

static void test_uint_boundaries(void **state)
{
	static const uint64_t values[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffffull,
					   0x100000000ull, UINT64_MAX - 1, UINT64_MAX };
	static const size_t sizes[] = { 1, 1, 1, 2, 2, 3, 3, 5, 5, 9, 9, 9 };

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint8_t buf[16];
		size_t len = (size_t)(rt_mp_uint(buf, values[i]) - buf), off = 0;
		msgpack_unpacked u;

		assert_int_equal(len, sizes[i]);
		msgpack_unpacked_init(&u);
		assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, len, &off), MSGPACK_UNPACK_SUCCESS);
		assert_int_equal(off, len);
		assert_int_equal(u.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
		assert_true(u.data.via.u64 == values[i]);
		msgpack_unpacked_destroy(&u);
	}
}

static void test_arrays_and_strings(void **state)
{
	static const uint32_t lens[] = { 0, 1, 31, 32, 255, 256, 1024, 65535 };
	static char text[65536];
	static uint8_t buf[70000];

	(void)state;
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t *p = rt_mp_array(buf, 17);
		size_t off = 0;
		msgpack_unpacked u;

		p = rt_mp_str(p, text, lens[i]);
		for (int k = 0; k < 16; k++)
			p = rt_mp_uint(p, (uint64_t)k << (k * 4));
		msgpack_unpacked_init(&u);
		assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, (size_t)(p - buf), &off),
				 MSGPACK_UNPACK_SUCCESS);
		assert_int_equal(off, (size_t)(p - buf));
		assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
		assert_int_equal(u.data.via.array.size, 17);
		assert_int_equal(u.data.via.array.ptr[0].type, MSGPACK_OBJECT_STR);
		assert_int_equal(u.data.via.array.ptr[0].via.str.size, lens[i]);
		assert_memory_equal(u.data.via.array.ptr[0].via.str.ptr, text, lens[i]);
		for (int k = 0; k < 16; k++)
			assert_true(u.data.via.array.ptr[1 + k].via.u64 == (uint64_t)k << (k * 4));
		msgpack_unpacked_destroy(&u);
	}
}

static uint64_t rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* A value of random width: fixint, uint8, uint16, uint32 or uint64. */
static uint64_t any_width(uint64_t *state)
{
	static const uint64_t masks[] = { 0x7f, 0xff, 0xffff, 0xffffffffull, UINT64_MAX };

	return rnd(state) & masks[rnd(state) % 5];
}

/* The consumer's decoder (with its integer fast path) and msgpack-c agree on every record the
 * producer writes, and reject every truncation of one. */
static void test_decoder_matches_msgpack_c(void **state)
{
	static const uint8_t kinds[] = { RT_REC_THREAD_EXIT, RT_REC_SPAN_BEGIN, RT_REC_SPAN_END, RT_REC_SPAN_END_SEQ,
					 RT_REC_TASK_BEGIN, RT_REC_TASK_END, RT_REC_ADOPT, RT_REC_LOSS, RT_REC_MISUSE };
	static const uint8_t fields[] = { 2, 3, 2, 3, 5, 4, 6, 5, 4 };
	struct rtc_decoder d;
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	(void)state;
	assert_int_equal(rtc_decoder_init(&d), 0);
	for (int iter = 0; iter < 20000; iter++) {
		size_t k = rnd(&seed) % sizeof(kinds);
		uint8_t buf[64], *p = buf;
		uint64_t v[6];
		struct rtc_record fast, slow;
		msgpack_unpacked u;
		size_t off = 0, len;
		uint64_t ts = 0;

		p = rt_mp_array(p, fields[k]);
		*p++ = kinds[k];
		for (int i = 1; i < fields[k]; i++) {
			v[i] = any_width(&seed);
			p = rt_mp_uint(p, v[i]);
		}
		len = (size_t)(p - buf);
		rtc_decoder_reset(&d, buf, len, 1000);
		assert_int_equal(rtc_decoder_next(&d, &fast), 1);
		assert_int_equal(d.off, len);
		msgpack_unpacked_init(&u);
		assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, len, &off), MSGPACK_UNPACK_SUCCESS);
		ts = 1000;
		assert_int_equal(rtc_record_from_object(&u.data, &ts, &slow), 0);
		msgpack_unpacked_destroy(&u);
		assert_int_equal(fast.kind, slow.kind);
		assert_true(fast.ts == slow.ts && fast.ts == 1000 + v[1]);
		assert_true(fast.a == slow.a && fast.b == slow.b && fast.c == slow.c && fast.d == slow.d);
		if (fields[k] > 2)
			assert_true(fast.a == v[2]);
		/* Every proper prefix is an error, never a record. */
		for (size_t cut = 1; cut < len; cut++) {
			rtc_decoder_reset(&d, buf, cut, 0);
			assert_int_equal(rtc_decoder_next(&d, &fast), -RT_ECORRUPT);
		}
	}
	rtc_decoder_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uint_boundaries),
		cmocka_unit_test(test_arrays_and_strings),
		cmocka_unit_test(test_decoder_matches_msgpack_c),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
