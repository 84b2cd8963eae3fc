/* SPDX-License-Identifier: MIT */
/* Unit tests of the live stream's pieces that need no network: the JSON of one event (escaping,
 * times, B/E forms) and the per-client set of spans a client got open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws-json.h"
#include "ws-trace.h"

static char *format(const struct rtc_out *o, enum rtc_ws_span_phase ph)
{
	static struct rtc_ws_buf b;

	b.len = 0;
	assert_int_equal(rtc_ws_json_event(&b, o, 1000, ph), 0);
	assert_int_equal(rtc_ws_buf_reserve(&b, 1), 0);
	b.p[b.len] = 0;
	return b.p;
}

static struct rtc_out span(void)
{
	struct rtc_out o;

	memset(&o, 0, sizeof(o));
	o.kind = RTC_OUT_SPAN;
	o.pid = 7;
	o.tid = 8;
	o.ts = 1000 + 1234567; /* 1234.567 us after the origin */
	o.dur = 2000001;
	o.name = "work";
	o.name_len = 4;
	o.task = 3;
	o.thread_number = 2;
	o.span_seq = 9;
	return o;
}

static void test_span_forms(void **state)
{
	struct rtc_out o = span();

	(void)state;
	assert_string_equal(format(&o, RTC_WS_SPAN_X),
			    "{\"ph\":\"X\",\"pid\":7,\"tid\":8,\"name\":\"work\",\"ts\":1234.567,"
			    "\"dur\":2000.001,\"args\":{\"task\":3,\"span\":\"2-9\",\"depth\":0}}");
	assert_string_equal(format(&o, RTC_WS_SPAN_E),
			    "{\"ph\":\"E\",\"pid\":7,\"tid\":8,\"cat\":\"span\",\"name\":\"work\",\"ts\":3234.568,"
			    "\"args\":{\"task\":3,\"span\":\"2-9\",\"depth\":0}}");
	o.kind = RTC_OUT_SPAN_OPEN;
	o.flags = RTC_F_OPEN | RTC_F_BEFORE_ATTACH;
	assert_string_equal(format(&o, RTC_WS_SPAN_X),
			    "{\"ph\":\"B\",\"pid\":7,\"tid\":8,\"cat\":\"span\",\"name\":\"work\",\"ts\":1234.567,"
			    "\"args\":{\"task\":3,\"span\":\"2-9\",\"depth\":0,\"before_attach\":true,\"open\":true}}");
	o.ts = 10; /* before the origin: clamped to 0 */
	assert_string_equal(format(&o, RTC_WS_SPAN_B),
			    "{\"ph\":\"B\",\"pid\":7,\"tid\":8,\"cat\":\"span\",\"name\":\"work\",\"ts\":0.000,"
			    "\"args\":{\"task\":3,\"span\":\"2-9\",\"depth\":0,\"before_attach\":true,\"open\":true}}");
}

static void test_untrusted_strings(void **state)
{
	struct rtc_out o;
	static const char name[] = "a\"b\\c\n\x01\x7f\xc3\xa9\xff\xed\xa0\x80z";
	char *big = malloc(10000);

	(void)state;
	memset(&o, 0, sizeof(o));
	o.kind = RTC_OUT_THREAD;
	o.pid = 1;
	o.tid = 2;
	o.text = name;
	o.text_len = sizeof(name) - 1;
	/* quote, backslash, controls and DEL escaped; valid UTF-8 kept; invalid bytes replaced */
	assert_string_equal(format(&o, RTC_WS_SPAN_X),
			    "{\"ph\":\"M\",\"pid\":1,\"tid\":2,\"name\":\"thread_name\",\"args\":{\"name\":"
			    "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9\\ufffd\\ufffd\\ufffd\\ufffdz\"}}");
	/* cut at 4096 bytes */
	memset(big, 'x', 10000);
	o.text = big;
	o.text_len = 10000;
	assert_int_equal(strlen(format(&o, RTC_WS_SPAN_X)), strlen("{\"ph\":\"M\",\"pid\":1,\"tid\":2,\"name\":"
								    "\"thread_name\",\"args\":{\"name\":\"\"}}") + 4096);
	free(big);
}

static void test_other_kinds(void **state)
{
	struct rtc_out o;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.kind = RTC_OUT_FLOW;
	o.pid = 1;
	o.tid = 2;
	o.ts = 3000;
	o.id = 5;
	o.count = 1;
	o.name = "adopt";
	o.name_len = 5;
	/* A flow event comes with the zero-length slice it binds to (same ts, pid, tid, cat). */
	assert_string_equal(format(&o, RTC_WS_SPAN_X),
			    "{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"cat\":\"flow\",\"name\":\"adopt\",\"ts\":2.000,\"dur\":0,"
			    "\"args\":{\"task\":0,\"flow\":5}},\n"
			    "{\"ph\":\"f\",\"pid\":1,\"tid\":2,\"bp\":\"e\",\"cat\":\"flow\",\"name\":\"adopt\",\"id\":5,"
			    "\"ts\":2.000}");
	o.kind = RTC_OUT_TASK_BEGIN;
	o.name = "job";
	o.name_len = 3;
	o.parent = 4;
	assert_string_equal(format(&o, RTC_WS_SPAN_X),
			    "{\"ph\":\"b\",\"pid\":1,\"tid\":2,\"cat\":\"task\",\"name\":\"job\",\"id\":\"1:5\",\"ts\":2.000,"
			    "\"args\":{\"task\":5,\"parent\":4}}");
	o.kind = RTC_OUT_LOSS;
	o.count = 12;
	o.since = 2000;
	o.cat = "full";
	assert_string_equal(format(&o, RTC_WS_SPAN_X),
			    "{\"ph\":\"i\",\"pid\":1,\"tid\":2,\"s\":\"t\",\"cat\":\"loss\",\"name\":\"records lost\","
			    "\"ts\":2.000,\"args\":{\"count\":12,\"since\":1.000,\"reason\":\"full\"}}");
}

/* Every span added is taken exactly once, in any order, through growth and deletions. */
static void test_opens(void **state)
{
	struct rtc_ws_opens s = { 0 };
	struct rtc_out o = span();
	enum { N = 5000 };
	unsigned order[N];

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		o.thread_number = i % 7;
		o.span_seq = i;
		o.tid = 8 + i % 3;
		assert_int_equal(rtc_ws_opens_add(&s, &o), 0);
		order[i] = i;
	}
	assert_int_equal(rtc_ws_opens_add(&s, &o), 0); /* twice: kept once */
	assert_int_equal(s.n, N);
	srand(42);
	for (unsigned i = N - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned k = 0; k < N; k++) {
		unsigned i = order[k];

		o.thread_number = i % 7;
		o.span_seq = i;
		o.tid = 8 + i % 3;
		o.pid = 7;
		assert_true(rtc_ws_opens_take(&s, &o));
		assert_false(rtc_ws_opens_take(&s, &o));
		o.pid = 8; /* same span numbers in another process: not it */
		assert_false(rtc_ws_opens_take(&s, &o));
	}
	assert_int_equal(s.n, 0);
	rtc_ws_opens_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_span_forms),
		cmocka_unit_test(test_untrusted_strings),
		cmocka_unit_test(test_other_kinds),
		cmocka_unit_test(test_opens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
