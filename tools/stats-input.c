/* SPDX-License-Identifier: MIT */
/* Loading statistics from any input the statistics commands accept, and writing their outputs. */
#include "stats-input.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include <ringtrace/error.h>

#include "chrome-read.h"
#include "stats/json.h"
#include "engine.h"
#include "rawfile.h"
#include "sinks/outfile.h"
#include "sinks/stats-sink.h"

#define STATS_FILE_MAX (1ull << 30) /* a statistics JSON is at most some MB */

static gzFile open_gz(const char *path)
{
	int fd;
	gzFile gz;

	if (strcmp(path, "-"))
		return gzopen(path, "rb");
	if ((fd = dup(0)) < 0)
		return NULL;
	if (!(gz = gzdopen(fd, "rb")))
		close(fd);
	return gz;
}

/* The first bytes of the (decompressed) file, NUL-terminated. 0 or -errno. */
static int peek(const char *path, char *buf, size_t cap, size_t *len)
{
	gzFile gz = open_gz(path);
	int n;

	if (!gz)
		return errno ? -errno : -ENOMEM;
	n = gzread(gz, buf, (unsigned)(cap - 1));
	gzclose(gz);
	if (n < 0)
		return -EIO;
	buf[n] = 0;
	*len = (size_t)n;
	return 0;
}

enum stats_input_kind stats_input_kind(const char *path)
{
	uint64_t origin, start;
	char buf[4096], key[16], value[32];
	size_t len = 0, vlen;
	struct rtc_json j;

	if (strcmp(path, "-") && rtc_raw_read_header(path, &origin, &start) != -RT_EBADMAGIC) {
		/* A capture (possibly of another format version, said when replayed), or unreadable. */
		return rtc_raw_read_header(path, &origin, &start) == 0 || access(path, R_OK) == 0 ? STATS_INPUT_CAPTURE
												 : STATS_INPUT_NONE;
	}
	if (peek(path, buf, sizeof(buf), &len) < 0 || !len)
		return STATS_INPUT_NONE;
	rtc_json_init(&j, buf, len);
	if (rtc_json_peek(&j) == RTC_JSON_ARRAY)
		return STATS_INPUT_CHROME;
	if (rtc_json_peek(&j) != RTC_JSON_OBJECT)
		return STATS_INPUT_NONE;
	/* The statistics writer puts "format" first; a trace begins with "traceEvents" (or anything else). */
	if (rtc_json_object_begin(&j) == 0 && rtc_json_object_next(&j, key, sizeof(key)) == 1 && !strcmp(key, "format") &&
	    rtc_json_string(&j, value, sizeof(value), &vlen) == 0 && !strcmp(value, "ringtrace-stats"))
		return STATS_INPUT_STATS;
	return STATS_INPUT_CHROME;
}

/* The whole file, decompressed, at most STATS_FILE_MAX bytes. */
static int slurp(const char *path, char **out, size_t *len)
{
	gzFile gz = open_gz(path);
	size_t cap = 1u << 16, n = 0;
	char *buf = NULL;
	int err = 0;

	if (!gz)
		return errno ? -errno : -ENOMEM;
	for (;;) {
		int got;

		if (n == cap || !buf) {
			char *b;

			if (buf)
				cap *= 2;
			if (cap > STATS_FILE_MAX) {
				err = -EFBIG;
				break;
			}
			if (!(b = realloc(buf, cap))) {
				err = -ENOMEM;
				break;
			}
			buf = b;
		}
		got = gzread(gz, buf + n, (unsigned)(cap - n));
		if (got < 0) {
			err = -EIO;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	gzclose(gz);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int load_stats_json(const struct cli_command *cmd, const char *path, struct rtc_stats *dst)
{
	struct rtc_stats *s = NULL;
	char err[256], *buf = NULL;
	size_t len = 0;
	int rc = slurp(path, &buf, &len);

	if (rc < 0) {
		cli_error(cmd, "%s: %s", path, rc == -EFBIG ? "larger than 1 GiB" : strerror(-rc));
		return CLI_FAILED;
	}
	rc = rtc_stats_read_json(buf, len, NULL, &s, err, sizeof(err));
	free(buf);
	if (rc < 0) {
		cli_error(cmd, "%s: not a valid statistics file: %s", path, rc == -EPROTO ? err : strerror(-rc));
		return CLI_FAILED;
	}
	rc = rtc_stats_merge(dst, s);
	rtc_stats_destroy(s);
	if (rc < 0)
		cli_error(cmd, "%s: some statistics were left out: %s", path, strerror(-rc));
	return 0;
}

static int load_capture(const struct cli_command *cmd, const char *path, struct rtc_stats *dst, bool *partial)
{
	struct rtc_engine_options o = { .log = stderr, .quiet = true };
	struct rtc_engine_summary sum;
	struct rtc_engine *e = rtc_engine_create(&o);
	int rc;

	if (!e) {
		cli_error(cmd, "out of memory");
		return CLI_FAILED;
	}
	rc = rtc_engine_convert(e, path); /* says what went wrong */
	rtc_engine_summary(e, &sum);
	if (rc < 0 && !sum.s.records) {
		rtc_engine_destroy(e);
		return CLI_FAILED;
	}
	if (rc < 0)
		*partial = true;
	if (rtc_stats_merge(dst, rtc_engine_stats(e)) < 0)
		cli_error(cmd, "%s: some statistics were left out (limits or memory)", path);
	rtc_engine_destroy(e);
	return rc < 0 ? CLI_FAILED : 0;
}

static int load_chrome(const struct cli_command *cmd, const char *path, struct rtc_stats *dst, bool *partial)
{
	struct rtc_chrome_read_counts c;
	struct rtc_sink sink = rtc_stats_model_sink(dst);
	char err[256];
	int rc = rtc_chrome_read(path, &sink, &c, err, sizeof(err));

	if (rc < 0 && !c.used) {
		cli_error(cmd, "%s: %s", path, err[0] ? err : strerror(-rc));
		return CLI_FAILED;
	}
	if (rc < 0) {
		cli_error(cmd, "%s: %s; the %llu events read before are counted", path, err, (unsigned long long)c.used);
		*partial = true;
		return CLI_FAILED;
	}
	if (c.skipped)
		cli_error(cmd, "%s: %llu of %llu trace events were not understood and are left out", path,
			  (unsigned long long)c.skipped, (unsigned long long)c.events);
	if (c.no_depth)
		cli_error(cmd, "%s: %llu spans carry no depth (not written by this ringtrace): their self time is their "
			  "duration and each counts as outermost", path, (unsigned long long)c.no_depth);
	return 0;
}

int stats_input_load(const struct cli_command *cmd, const char *path, struct rtc_stats *dst, bool *partial)
{
	switch (stats_input_kind(path)) {
	case STATS_INPUT_CAPTURE:
		return load_capture(cmd, path, dst, partial);
	case STATS_INPUT_STATS:
		return load_stats_json(cmd, path, dst);
	case STATS_INPUT_CHROME:
		return load_chrome(cmd, path, dst, partial);
	default:
		if (strcmp(path, "-") && access(path, R_OK) != 0)
			cli_error(cmd, "%s: %s", path, strerror(errno));
		else
			cli_error(cmd, "%s: neither a raw capture, a trace-event JSON file nor a statistics file", path);
		return CLI_FAILED;
	}
}

int stats_output(const struct cli_command *cmd, const char *path, int (*fn)(void *ctx, FILE *f), void *ctx)
{
	struct rtc_outfile *out;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (!path || !strcmp(path, "-")) {
		rc = fn(ctx, stdout);
		if (fflush(stdout) || rc < 0) {
			cli_error(cmd, "writing the output failed: %s", strerror(rc < 0 ? -rc : errno));
			return CLI_FAILED;
		}
		return 0;
	}
	if (!(f = open_memstream(&buf, &len))) {
		cli_error(cmd, "out of memory");
		return CLI_FAILED;
	}
	rc = fn(ctx, f);
	if (fclose(f) && !rc)
		rc = -ENOMEM;
	if (!rc)
		rc = rtc_outfile_open(&out, path, 0);
	if (!rc) {
		rc = rtc_outfile_write(out, buf, len);
		if (rc)
			rtc_outfile_abort(out);
		else
			rc = rtc_outfile_commit(out);
	}
	free(buf);
	if (rc < 0) {
		cli_error(cmd, "cannot write %s: %s", path, rtc_outfile_strerror(rc));
		return CLI_FAILED;
	}
	return 0;
}
