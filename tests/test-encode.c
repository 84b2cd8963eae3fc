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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uint_boundaries),
		cmocka_unit_test(test_arrays_and_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
