/* SPDX-License-Identifier: MIT */
/* The library's environment variables read into its configuration: millisecond values clamped to
 * their documented ranges before narrowing, garbage meaning the default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "config.h"

struct case_ms {
	const char *value; /* NULL: unset */
	uint32_t lease_ms, exit_wait_ms;
};

static void test_milliseconds_clamped_before_narrowing(void **state)
{
	static const struct case_ms cases[] = {
		{ NULL, 1000, 2000 },
		{ "", 1000, 2000 },
		{ "abc", 1000, 2000 },
		{ "-5", 1000, 2000 },
		{ "0", 200, 0 },
		{ "150", 200, 150 },
		{ "250ms", 250, 250 },
		{ "600000", 600000, 600000 },
		{ "600001", 600000, 600000 },
		{ "4294967296", 600000, 600000 }, /* 2^32: was 0 after a 32-bit cast */
		{ "4294967496", 600000, 600000 },
		{ "99999999999999999999999", 600000, 600000 },
	};
	struct rt__config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].value) {
			setenv("RINGTRACE_LEASE_MS", cases[i].value, 1);
			setenv("RINGTRACE_EXIT_WAIT_MS", cases[i].value, 1);
		} else {
			unsetenv("RINGTRACE_LEASE_MS");
			unsetenv("RINGTRACE_EXIT_WAIT_MS");
		}
		rt__config_from_env(&cfg);
		assert_int_equal(cfg.lease_ms, cases[i].lease_ms);
		assert_int_equal(cfg.exit_wait_ms, cases[i].exit_wait_ms);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_milliseconds_clamped_before_narrowing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
