/* SPDX-License-Identifier: MIT */
/* Reading Chrome trace-event JSON back (consumer/chrome-read.c): both top-level forms, any layout, strings
 * holding braces, self times from depths, task durations, otherData's counts, and untrusted input
 * (truncated, not JSON, random bytes) refused or skipped without harm. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chrome-read.h"

struct seen {
	unsigned spans, tasks_begun, tasks_ended, logs, flows, procs, threads, ends;
	uint64_t self[8], dur[8], task_dur;
	char names[8][32];
	uint64_t records;
};

static void on_event(void *ctx, const struct rtc_out *ev)
{
	struct seen *s = ctx;

	switch (ev->kind) {
	case RTC_OUT_SPAN:
		if (s->spans < 8) {
			s->self[s->spans] = ev->self_ns;
			s->dur[s->spans] = ev->dur;
			snprintf(s->names[s->spans], sizeof(s->names[0]), "%.*s", (int)ev->name_len, ev->name);
		}
		s->spans++;
		break;
	case RTC_OUT_TASK_BEGIN:
		s->tasks_begun++;
		break;
	case RTC_OUT_TASK_END:
		s->tasks_ended++;
		s->task_dur = ev->dur;
		break;
	case RTC_OUT_LOG:
		s->logs++;
		break;
	case RTC_OUT_FLOW:
		s->flows++;
		break;
	case RTC_OUT_PROCESS:
		s->procs++;
		break;
	case RTC_OUT_THREAD:
		s->threads++;
		break;
	default:
		break;
	}
}

static void on_end(void *ctx, const struct rtc_summary *sum)
{
	struct seen *s = ctx;

	s->ends++;
	s->records = sum->records;
}

static const struct rtc_sink_ops ops = { .version = RTC_SINK_VERSION, .event = on_event, .end = on_end };

static int read_text(const char *text, size_t len, struct seen *s, struct rtc_chrome_read_counts *c, char *err)
{
	char path[] = "/tmp/rt-chrome-read-XXXXXX";
	int fd = mkstemp(path), rc;
	struct rtc_sink sink = { &ops, s, "test" };

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	memset(s, 0, sizeof(*s));
	rc = rtc_chrome_read(path, &sink, c, err, 256);
	unlink(path);
	return rc;
}

#define READ(text, s, c, err) read_text((text), strlen(text), (s), (c), (err))

static void test_object_form(void **state)
{
	/* Nested spans as the writer orders them (by end), otherData first, odd spacing, a name with braces
	 * and quotes, an unknown phase, a flow's binding slice. */
	static const char text[] =
		" {\"otherData\":{\"records\":42,\"clock\":\"tsc\",\"stats\":{\"top\":[{\"name\":\"]}\"}]}},\n"
		"\"traceEvents\" : [\n"
		"{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":\"srv\"}},"
		"{\"ph\":\"M\",\"pid\":1,\"tid\":2,\"name\":\"thread_name\",\"args\":{\"name\":\"main\"}},"
		"{\"ph\":\"b\",\"pid\":1,\"tid\":2,\"cat\":\"task\",\"name\":\"req\",\"id\":\"1:7\",\"ts\":1.000,\"args\":{\"task\":7,\"parent\":0}},"
		"{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"name\":\"c{]\\\"\",\"ts\":2.000,\"dur\":1.000,\"args\":{\"task\":7,\"span\":\"1-3\",\"depth\":2}},"
		"{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"name\":\"b\",\"ts\":1.500,\"dur\":2.500,\"args\":{\"task\":7,\"span\":\"1-2\",\"depth\":1}},"
		"{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"name\":\"b2\",\"ts\":4.500,\"dur\":0.250,\"args\":{\"task\":7,\"span\":\"1-4\",\"depth\":1}},"
		"{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"cat\":\"span\",\"name\":\"a\",\"ts\":1.000,\"dur\":10.000,\"args\":{\"span\":\"1-1\",\"depth\":0,\"cpu_us\":4.5,\"cs_vol\":1,\"cs_invol\":2}},"
		"{\"ph\":\"X\",\"pid\":1,\"tid\":2,\"cat\":\"flow\",\"name\":\"adopt\",\"ts\":3.0,\"dur\":0},"
		"{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":2,\"cat\":\"flow\",\"name\":\"adopt\",\"id\":5,\"ts\":3.0},"
		"{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":2,\"cat\":\"log\",\"name\":\"app\",\"ts\":3.0,\"args\":{\"message\":\"hi }\"}},"
		"{\"ph\":\"Z\",\"pid\":1,\"tid\":2},"
		"{\"ph\":\"e\",\"pid\":1,\"tid\":2,\"cat\":\"task\",\"name\":\"req\",\"id\":\"1:7\",\"ts\":12.500,\"args\":{\"task\":7}}\n"
		"] , \"displayTimeUnit\":\"ns\" }\n";
	struct rtc_chrome_read_counts c;
	struct seen s;
	char err[256];

	(void)state;
	assert_int_equal(READ(text, &s, &c, err), 0);
	assert_int_equal(s.spans, 4);
	assert_string_equal(s.names[0], "c{]\"");
	assert_int_equal(s.self[0], 1000);        /* c: no children */
	assert_int_equal(s.self[1], 1500);        /* b: 2500 - c's 1000 */
	assert_int_equal(s.self[2], 250);         /* b2 */
	assert_int_equal(s.self[3], 10000 - 2750); /* a: minus b and b2 */
	assert_int_equal(s.dur[3], 10000);
	assert_int_equal(s.tasks_begun, 1);
	assert_int_equal(s.tasks_ended, 1);
	assert_int_equal(s.task_dur, 11500);
	assert_int_equal(s.logs, 1);
	assert_int_equal(s.flows, 1);
	assert_int_equal(s.procs, 1);
	assert_int_equal(s.threads, 1);
	assert_int_equal(s.ends, 1);
	assert_int_equal(s.records, 42);
	assert_int_equal(c.events, 12);
	assert_int_equal(c.skipped, 1); /* the "Z" */
	assert_int_equal(c.no_depth, 0);
}

static void test_array_form_and_no_depth(void **state)
{
	static const char text[] = "[{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"name\":\"x\",\"ts\":0,\"dur\":2},\n"
				   "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"name\":\"y\",\"ts\":0,\"dur\":3}]";
	struct rtc_chrome_read_counts c;
	struct seen s;
	char err[256];

	(void)state;
	assert_int_equal(READ(text, &s, &c, err), 0);
	assert_int_equal(s.spans, 2);
	assert_int_equal(c.no_depth, 2);
	assert_int_equal(s.self[1], 3000); /* without depth: self = duration */
}

static void test_refused(void **state)
{
	struct rtc_chrome_read_counts c;
	struct seen s;
	char err[256];

	(void)state;
	assert_int_equal(READ("hello", &s, &c, err), -EPROTO);
	assert_non_null(strstr(err, "not a trace-event JSON file"));
	assert_int_equal(READ("", &s, &c, err), -EPROTO);
	/* Cut short: what was read is delivered, the error says so. */
	assert_int_equal(READ("{\"traceEvents\":[{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"name\":\"x\",\"ts\":0,\"dur\":2},{\"ph\":", &s, &c, err),
			 -EPROTO);
	assert_int_equal(s.spans, 1);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(READ("[]]", &s, &c, err), -EPROTO);
	assert_int_equal(READ("[] x", &s, &c, err), -EPROTO);
	assert_int_equal(s.ends, 1);
	{
		char missing[] = "/tmp/rt-chrome-read-missing-XXXXXX";
		struct rtc_sink sink = { &ops, &s, "test" };
		int fd = mkstemp(missing);

		close(fd);
		unlink(missing);
		assert_int_equal(rtc_chrome_read(missing, &sink, &c, err, sizeof(err)), -ENOENT);
	}
}

/* Random bytes, and random mutations of a valid trace: never a crash, never a hang, bounded. */
static void test_untrusted_bytes(void **state)
{
	static const char base[] = "{\"traceEvents\":[{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"name\":\"x\",\"ts\":1.5,\"dur\":2,"
				   "\"args\":{\"depth\":0}},{\"ph\":\"b\",\"cat\":\"task\",\"id\":\"1:2\",\"pid\":1,\"tid\":1,"
				   "\"name\":\"t\",\"ts\":1}],\"otherData\":{\"records\":1}}";
	struct rtc_chrome_read_counts c;
	struct seen s;
	char err[256], buf[sizeof(base)];
	uint64_t x = 88172645463325252ull;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		memcpy(buf, base, sizeof(base));
		for (int k = 0; k < 1 + i % 8; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[x % (sizeof(base) - 1)] = (char)(i < 1000 ? "{}[]\",:\\0x"[x % 10] : (char)(x >> 20));
		}
		read_text(buf, sizeof(base) - 1, &s, &c, err);
		assert_true(s.spans <= 1);
		assert_int_equal(s.ends, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_object_form),
		cmocka_unit_test(test_array_form_and_no_depth),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_untrusted_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
