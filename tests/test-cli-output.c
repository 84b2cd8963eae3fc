/* SPDX-License-Identifier: MIT */
/* `ringtrace record` and `convert` outputs as a user meets them: -o - into a JSON parser, .json.gz
 * read back with zlib, a FIFO and devices written in place and left what they are, refusals before
 * recording starts, and nothing left behind when writing fails. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "cli-run.h"

/* ---- outputs ---- */

/* `record -- producer` writing to -o OUTPUT; returns the exit status. Run again when another
 * consumer on this machine (another `record -a`) took the producer first. */
static int record_producer(const char *output, const char *err, long fsize)
{
	const char *argv[] = { tool, "record", "-q", "-o", output, "--", producer, "--threads", "2", "--spans", SPANS, NULL };
	int status;

	for (int attempt = 0;; attempt++) {
		status = finish(start(argv, NULL, err, fsize), 60000);
		if (attempt == 4 || !taken_by_another_consumer(err))
			return status;
	}
}

static void test_output_stdout_into_json_parser(void **state)
{
	char cmd[1200], out[300], *rc;
	int status;

	(void)state;
	path(out, sizeof(out), "stdout.json");
	/* The JSON goes through a pipe into a JSON parser; the summary goes to stderr. */
	snprintf(cmd, sizeof(cmd),
		 "{ %s record -o - -- %s --threads 2 --spans " SPANS " 2>%s/summary.txt; echo $? >%s/rc; } | "
		 "python3 -c 'import json,sys; d=json.load(sys.stdin); "
		 "print(sum(1 for e in d[\"traceEvents\"] if e[\"ph\"] == \"X\" and e.get(\"cat\", \"span\") == \"span\"))' >%s/parsed",
		 tool, producer, dir, dir, dir);
	for (int attempt = 0; attempt < 5; attempt++) {
		status = system(cmd);
		if (!taken_by_another_consumer("summary.txt"))
			break;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	rc = text("rc");
	assert_status(atoi(rc), 0, "summary.txt");
	free(rc);
	assert_contains("parsed", "4000\n");
	assert_contains("summary.txt", "recorded ");
	assert_int_equal(access(out, F_OK), -1);
}

static void test_output_json_gz_read_back(void **state)
{
	char gzpath[300], json[300], buf[1 << 16];
	gzFile gz;
	FILE *f;
	int n;

	(void)state;
	path(gzpath, sizeof(gzpath), "trace.json.gz");
	path(json, sizeof(json), "from-gz.json");
	assert_status(record_producer(gzpath, "gz.err", 0), 0, "gz.err");
	assert_empty("gz.err");
	gz = gzopen(gzpath, "rb");
	assert_non_null(gz);
	assert_int_equal(gzdirect(gz), 0); /* really compressed */
	f = fopen(json, "wb");
	while ((n = gzread(gz, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, f);
	assert_int_equal(n, 0);
	fclose(f);
	gzclose(gz);
	assert_int_equal(checked_spans(json), EXPECTED_SPANS);
}

/* Record into the FIFO while reading it; returns the recorder's exit status, the bytes in *data. */
static int record_through_fifo(const char *fifo, char *data, size_t cap, size_t *len)
{
	const char *argv[] = { tool, "record", "-q", "-o", fifo, "--", producer, "--threads", "2", "--spans", SPANS, NULL };
	int rd = open(fifo, O_RDONLY | O_NONBLOCK), status = -1;
	pid_t rec;

	assert_true(rd >= 0);
	rec = start(argv, NULL, "fifo.err", 0);
	*len = 0;
	for (int i = 0; i < 60000; i++) {
		ssize_t n = read(rd, data + *len, cap - *len);

		if (n > 0) {
			*len += (size_t)n;
			continue;
		}
		if (n == 0 && status >= 0)
			break; /* the writer is gone and everything was read */
		if (status < 0 && waitpid(rec, &status, WNOHANG) == rec)
			status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		else
			usleep(1000);
	}
	close(rd);
	return status;
}

static void test_output_fifo_streamed(void **state)
{
	char fifo[300], json[300], *data = malloc(64 << 20);
	struct stat st;
	size_t len = 0;
	int status;
	FILE *f;

	(void)state;
	path(fifo, sizeof(fifo), "trace.fifo");
	path(json, sizeof(json), "from-fifo.json");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* No reader: refused at once, nothing launched. */
	assert_status(record_producer(fifo, "fifo.err", 0), 1, "fifo.err");
	assert_contains("fifo.err", "a FIFO with no reader");
	for (int attempt = 0; attempt < 5; attempt++) {
		status = record_through_fifo(fifo, data, 64 << 20, &len);
		if (!taken_by_another_consumer("fifo.err"))
			break;
	}
	assert_status(status, 0, "fifo.err");
	f = fopen(json, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
	free(data);
	assert_int_equal(checked_spans(json), EXPECTED_SPANS);
	assert_int_equal(lstat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
}

static void assert_char_device(const char *p, unsigned maj, unsigned min)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), maj);
	assert_int_equal(minor(st.st_rdev), min);
}

static void test_output_devices_stay_devices(void **state)
{
	(void)state;
	assert_status(record_producer("/dev/null", "null.err", 0), 0, "null.err");
	assert_empty("null.err");
	assert_char_device("/dev/null", 1, 3);
	/* Writing fails (the device is full): an error, and the device is still the device. */
	assert_status(record_producer("/dev/full", "full.err", 0), 1, "full.err");
	assert_contains("full.err", "/dev/full");
	assert_char_device("/dev/full", 1, 7);
}

/* A refused output stops everything before the program is even launched (a marker it would make
 * stays absent) and leaves the directory as it was. */
static void test_output_refused_before_recording(void **state)
{
	char sub[300], missing[300], marker[300];

	(void)state;
	path(sub, sizeof(sub), "sub");
	path(missing, sizeof(missing), "no/such/dir/x.json");
	path(marker, sizeof(marker), "launched");
	assert_int_equal(mkdir(sub, 0755), 0);
	{
		const char *argv[] = { tool, "record", "-o", sub, "--", "/bin/touch", marker, NULL };

		assert_status(run(argv, NULL, "refused.err"), 1, "refused.err");
		assert_contains("refused.err", "-o ");
		assert_contains("refused.err", "cannot write there: is a directory");
	}
	{
		const char *argv[] = { tool, "record", "-o", missing, "--", "/bin/touch", marker, NULL };

		assert_status(run(argv, NULL, "refused.err"), 1, "refused.err");
		assert_contains("refused.err", "cannot write there: no such directory");
	}
	{
		const char *argv[] = { tool, "record", "--raw", sub, "--", "/bin/touch", marker, NULL };

		assert_status(run(argv, NULL, "refused.err"), 1, "refused.err");
		assert_contains("refused.err", "--raw ");
	}
	{
		const char *argv[] = { tool, "convert", "whatever.rtrace", "-o", sub, NULL };

		assert_status(run(argv, NULL, "refused.err"), 1, "refused.err");
		assert_contains("refused.err", "is a directory");
	}
	assert_int_equal(access(marker, F_OK), -1);
	assert_int_equal(entries(sub), 0);
}

/* Writing fails midway (files of at most 64 KiB for the recorder; its launched program raises
 * the limit again): an error naming the output, the old file intact, no temporary file left. */
static void test_failed_output_leaves_nothing(void **state)
{
	char sub[300], json[300], script[600], *t;
	size_t n;

	(void)state;
	path(sub, sizeof(sub), "fail");
	assert_int_equal(mkdir(sub, 0755), 0);
	path(json, sizeof(json), "fail/trace.json");
	{
		FILE *f = fopen(json, "w");

		fputs("old", f);
		fclose(f);
	}
	snprintf(script, sizeof(script), "ulimit -f unlimited && exec %s --threads 2 --spans 20000", producer);
	{
		const char *argv[] = { tool, "record", "-q", "-o", json, "--", "/bin/sh", "-c", script, NULL };
		pid_t rec = start(argv, NULL, "efbig.err", 64 << 10);

		assert_status(finish(rec, 60000), 1, "efbig.err");
	}
	assert_contains("efbig.err", "trace.json");
	assert_contains("efbig.err", "File too large");
	assert_int_equal(entries(sub), 1);
	t = slurp(json, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(t, "old", 3);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_stdout_into_json_parser),
		cmocka_unit_test(test_output_json_gz_read_back),
		cmocka_unit_test(test_output_fifo_streamed),
		cmocka_unit_test(test_output_devices_stay_devices),
		cmocka_unit_test(test_output_refused_before_recording),
		cmocka_unit_test(test_failed_output_leaves_nothing),
	};

	if (cli_run_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
