/* SPDX-License-Identifier: MIT */
/* Integration: nothing lost in silence. Whatever a recording lacks (records a full ring or a slow
 * output dropped, a flight recorder's overwritten history, names past the producer's table, the
 * time a stalled consumer lost its lease) is counted exactly, in the summary, otherData and events. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "record-harness.h"
#include "segments.h"

/* Output far slower than the producer with a 1 MB --max-backlog: reading pauses (said once), the
 * queue stays near the limit, and every record the producer made is either in the file or
 * counted lost, including drops after a thread's last LOSS record. The records of a run are 4
 * per iteration, the fixed ones around them (from a small run that loses nothing), a LOSS record
 * per loss the producer could report, and open-span snapshots (STACK records, after each loss
 * and when a thread first sees the consumer: how many of the latter depends on whether the
 * thread's ring existed before the attach, so they are counted apart, from otherData). */
static void test_backlog_limit_pauses_reading_and_counts_every_loss(void **state)
{
	/* A poll reads up to a ring per thread: with 4 MiB rings one poll of a producer writing flat
	 * out queues more than the 1 MB limit, whatever the machine's speed. */
	static const char *const env[] = { "RINGTRACE_BUFFER_SIZE=4M", NULL };
	static const char *const limit[] = { "--max-backlog", "1", NULL };
	char *small, *big, log[300], *text;
	long fixed, records, lost, reported;

	(void)state;
	small = launch_and_check("backlog-small.json", "1000", NULL, NULL);
	assert_non_null(small);
	assert_int_equal(jint(small, "lost_records"), 0);
	fixed = jint(small, "records") - jint(small, "resync_records") - 4 * 1000;
	assert_true(fixed > 0);
	big = launch_and_check("backlog-big.json", "1000000", limit, env);
	assert_non_null(big);
	records = jint(big, "records") - jint(big, "resync_records");
	lost = jint(big, "lost_records");
	/* Absent when the ring filled once and stayed full to the end: all reported at exit. */
	reported = jint(big, "loss.full") < 0 ? 0 : jint(big, "loss.full");
	assert_true(lost > 0);
	assert_int_equal(records + lost, 4 * 1000000 + fixed + reported);
	/* One poll may queue up to a ring (4 MiB) per thread past the limit before it is seen; the
	 * run's 14 MB of records would queue unbounded. */
	assert_true(jint(big, "backlog_peak_bytes") >= (1 << 20));
	assert_true(jint(big, "backlog_peak_bytes") < (1 << 20) + (4 << 20) + (1 << 20));
	path(log, sizeof(log), "backlog-big.json.out");
	text = slurp(log);
	assert_non_null(strstr(text, "reading pauses"));
	assert_null(strstr(strstr(text, "reading pauses") + 1, "reading pauses"));
	free(text);
	free(small);
	free(big);
}

/* What the producer could not record at all (here: names past its table, recorded as
 * "<overflow>") is in the summary, in otherData and as events, exactly its own count. */
static void test_names_past_the_table_reported(void **state)
{
	const char *cmd[] = { producer, "--names", "66000", "--report", NULL };
	char log[300], *out, *text;
	const char *at;
	long refused;

	(void)state;
	out = launch_cmd("names.json", cmd, 120000);
	assert_non_null(out);
	path(log, sizeof(log), "names.json.out");
	text = slurp(log);
	assert_non_null(text);
	at = strstr(text, "refused_names=");
	assert_non_null(at);
	refused = strtol(at + strlen("refused_names="), NULL, 10);
	assert_true(refused > 0);
	assert_int_equal(jint(out, "untraced.names-overflowed"), refused); /* the events */
	at = strstr(out, "\"names_overflowed.");                            /* otherData */
	assert_non_null(at);
	at = strstr(at, "\": ");
	assert_non_null(at);
	assert_int_equal(strtol(at + 3, NULL, 10), refused);
	{
		char said[96];

		snprintf(said, sizeof(said), "%ld names recorded as <overflow>", refused);
		assert_non_null(strstr(text, said)); /* the summary */
	}
	free(text);
	free(out);
}

/* A consumer stopped longer than the producer's lease (SIGSTOP, a starved process): the producer
 * stops recording for it; when it runs again it takes the lease back, records again and marks
 * the gap in the trace and the summary. */
static void test_stalled_consumer_takes_the_lease_back(void **state)
{
	static const char *const env[] = { "RINGTRACE_LEASE_MS=400", NULL };
	char ready[300], json[300], pidbuf[16], *out;
	pid_t prod, rec;

	(void)state;
	path(ready, sizeof(ready), "ready-stall");
	path(json, sizeof(json), "stall.json");
	{
		const char *argv[] = { producer, "--ready", ready, "--spans", "10", "--forever", NULL };

		prod = spawn(argv, env, NULL);
	}
	assert_int_equal(wait_file(ready, 5000), 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		/* Stopped by SIGINT, not a --duration: on a loaded machine a duration could end before
		 * recording resumed after the stop. */
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, NULL };

		rec = spawn(argv, NULL, "stall.out");
	}
	/* Recording, and drained for a while, before the consumer stops. */
	assert_int_equal(wait_consumer_running(prod, 20000), 0);
	assert_int_equal(kill(rec, SIGSTOP), 0);
	{
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* The producer drops the stopped consumer (one lease time, 400 ms, and a check). */
		assert_int_equal(wait_lease_expiries(prod, 1, 20000), 0);
		/* Stopped for 1.5 s at least (the gap asserted below is at least 1 s). */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec < 2) {
			long ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;

			if (ms < 1500)
				usleep((useconds_t)(1500 - ms) * 1000);
		}
	}
	assert_int_equal(kill(rec, SIGCONT), 0);
	/* It took the lease back and has been draining again for three heartbeats. */
	assert_int_equal(wait_consumer_running(prod, 20000), 0);
	assert_int_equal(kill(rec, SIGINT), 0);
	assert_int_equal(wait_exit(rec, 20000), 0);
	kill(prod, SIGKILL);
	wait_exit(prod, 20000);
	remove_segments(prod); /* a killed process leaves them (the next start or `clean` reclaims them) */
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "recording_gaps"), 1);
	assert_int_equal(jint(out, "loss.not-recorded"), 1);
	/* The gap covers the stop, and recording went on after it. */
	assert_true(jnum(out, "gap_until") - jnum(out, "gap_since") >= 1000000.0);
	assert_true(jnum(out, "last.work") > jnum(out, "gap_until"));
	assert_true(jnum(out, "first.work") < jnum(out, "gap_since"));
	free(out);
	{
		char log[300], *text;

		path(log, sizeof(log), "stall.out");
		text = slurp(log);
		assert_non_null(text);
		assert_non_null(strstr(text, "dropped our lease"));
		assert_non_null(strstr(text, "1 recording gaps"));
		free(text);
	}
}

struct ring_count {
	pid_t pid;
	long rings;
};

static int count_rings(void *ctx, const struct rtc_segment *seg)
{
	struct ring_count *c = ctx;

	if (seg->pid == c->pid && seg->kind == RTC_SEG_RING)
		c->rings++;
	return 0;
}

/* While a stopped consumer's lease is dropped, threads that begin and end never recorded for it and
 * were never read: their rings go when they end, as with no consumer. A thread per request under a
 * consumer stopped for long once kept a ring each (64 KiB of /dev/shm) until it ran again. The
 * threads it knew keep theirs, and it gets their records when it runs again. */
static void test_threads_begun_while_the_consumer_is_stopped(void **state)
{
	static const char *const env[] = { "RINGTRACE_LEASE_MS=400", NULL };
	char ready[300], until[300], worked[300], hold[300], json[300], pidbuf[16], *out;
	struct ring_count c;
	pid_t prod, rec;

	(void)state;
	path(ready, sizeof(ready), "ready-seq");
	path(until, sizeof(until), "until-seq");
	path(worked, sizeof(worked), "worked-seq");
	path(hold, sizeof(hold), "hold-seq");
	path(json, sizeof(json), "seq.json");
	{
		/* One worker recording until `until`, then 300 threads one after the other. */
		const char *argv[] = { producer, "--ready", ready, "--spans", "10", "--until", until, "--sequential", "300",
				       "--worked", worked, "--hold", hold, NULL };

		prod = spawn(argv, env, NULL);
	}
	assert_int_equal(wait_file(ready, 5000), 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, NULL };

		rec = spawn(argv, NULL, "seq.out");
	}
	assert_int_equal(wait_consumer_running(prod, 20000), 0);
	assert_int_equal(kill(rec, SIGSTOP), 0);
	assert_int_equal(wait_lease_expiries(prod, 1, 20000), 0);
	touch(until);
	assert_int_equal(wait_file(worked, 60000), 0);
	/* Left: the main thread's ring and the first worker's (it recorded for the consumer). */
	c = (struct ring_count){ prod, 0 };
	assert_int_equal(rtc_segments_scan(false, count_rings, &c), 0);
	assert_int_equal(c.rings, 2);
	assert_int_equal(kill(rec, SIGCONT), 0);
	assert_int_equal(wait_consumer_running(prod, 20000), 0);
	touch(hold);
	assert_int_equal(wait_exit(prod, 20000), 0);
	assert_int_equal(kill(rec, SIGINT), 0);
	assert_int_equal(wait_exit(rec, 20000), 0);
	out = check(json);
	assert_non_null(out);
	/* The first worker's spans until the lease was dropped. */
	assert_true(jint(out, "work") >= 10);
	assert_int_equal(jint(out, "recording_gaps"), 1);
	/* The 300 threads recorded nothing for it: the trace has the two it knew. */
	assert_int_equal(jint(out, "threads"), 2);
	assert_int_equal(jint(out, "lost_records"), 0);
	free(out);
}

/* The LOST column of `ringtrace list` for pid, -1 if it is not listed. */
static long listed_lost(pid_t pid)
{
	char cmd[400], line[512];
	long lost = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s list", tool);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[64], mode[16], threads[16], buffer[16], fill[16], records[32];

		if (atol(line) == (long)pid &&
		    sscanf(line, "%*d %63s %15s %15s %15s %15s %31s %ld", name, mode, threads, buffer, fill, records, &lost) != 7)
			lost = -1;
		if (atol(line) == (long)pid)
			break;
	}
	pclose(f);
	return lost;
}

/* Flight recorder: a consumer attaching to an overwrite-mode process reports what the ring
 * overwrote before it came, exactly the producer's count (`list` LOST), in the summary, in
 * otherData and as one loss event where the thread's retained history begins. */
static void test_flight_recorder_loss_reported(void **state)
{
	static const char *const env[] = { "RINGTRACE_MODE=overwrite", "RINGTRACE_BUFFER_SIZE=64K", NULL };
	char hold[300], worked[300], json[300], pidbuf[16], key[64], *out;
	long listed, work, inner;
	pid_t prod, rec;

	(void)state;
	path(hold, sizeof(hold), "hold-ow");
	path(worked, sizeof(worked), "worked-ow");
	path(json, sizeof(json), "overwrite.json");
	{
		const char *argv[] = { producer, "--hold", hold, "--worked", worked, "--spans", "20000", NULL };

		prod = spawn(argv, env, NULL);
	}
	assert_int_equal(wait_file(worked, 10000), 0);
	/* Everything is written: the producer's count no longer moves. */
	listed = listed_lost(prod);
	printf("# list shows %ld records lost by pid %d\n", listed, (int)prod);
	assert_true(listed > 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)prod);
	{
		const char *argv[] = { tool, "record", "-p", pidbuf, "-o", json, NULL };

		rec = spawn(argv, NULL, "record-ow.out");
	}
	usleep(300000);
	touch(hold);
	assert_int_equal(wait_exit(prod, 10000), 0);
	assert_int_equal(wait_exit(rec, 10000), 0);
	out = check(json);
	assert_non_null(out);
	assert_int_equal(jint(out, "lost_records"), listed); /* otherData */
	assert_int_equal(jint(out, "loss.overwritten"), 1);
	assert_int_equal(jint(out, "threads_overwritten"), 1);
	assert_int_equal(jint(out, "overwritten_at_history_start"), 1);
	{
		/* The events' counts add up to the same (check-chrome sums them after otherData). */
		const char *phases = strstr(out, "\"phases\"");

		assert_non_null(phases);
		assert_int_equal(jint(phases, "lost_records"), listed);
	}
	{
		/* Per thread and reason: "lost.PID.TID.overwritten": N */
		const char *at;

		snprintf(key, sizeof(key), "\"lost.%d.", (int)prod);
		at = strstr(out, key);
		assert_non_null(at);
		at = strstr(at + 1, "\"lost.");
		assert_non_null(at);
		at = strstr(at, ".overwritten\": ");
		assert_non_null(at);
		assert_int_equal(strtol(at + strlen(".overwritten\": "), NULL, 10), listed);
	}
	/* The retained history: the newest spans, each iteration's pair complete or cut at its start. */
	work = jint(out, "work");
	inner = jint(out, "inner");
	assert_in_range(work, 1, 19999);
	assert_in_range(inner - work + 1, 0, 2);
	free(out);
	{
		/* The summary printed at the end says it too. */
		char log[300], said[64], *text;

		path(log, sizeof(log), "record-ow.out");
		text = slurp(log);
		assert_non_null(text);
		snprintf(said, sizeof(said), ", %ld records lost,", listed);
		assert_non_null(strstr(text, said));
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_backlog_limit_pauses_reading_and_counts_every_loss, kill_children),
		cmocka_unit_test_teardown(test_flight_recorder_loss_reported, kill_children),
		cmocka_unit_test_teardown(test_names_past_the_table_reported, kill_children),
		cmocka_unit_test_teardown(test_stalled_consumer_takes_the_lease_back, kill_children),
		cmocka_unit_test_teardown(test_threads_begun_while_the_consumer_is_stopped, kill_children),
	};

	if (harness_init("test-accounting") < 0)
		return 1;
	return cmocka_run_group_tests(tests, harness_setup, harness_teardown);
}
