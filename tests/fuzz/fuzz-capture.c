/* SPDX-License-Identifier: MIT */
/* Fuzz target: the fuzzer's bytes as a raw capture (.rtrace), converted by the real engine
 * (rtc_engine_convert: reader, decode, merge, rebuild, Chrome JSON, speedscope, statistics, a raw
 * copy). Oracles: strict Chrome JSON, a speedscope file speedscope loads, the copy converts to the
 * same events, the statistics JSON reads back the same, memory follows the bytes present. */
#include <errno.h>
#include <fcntl.h>
#include <sanitizer/allocator_interface.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "chrome-check.h"
#include "engine.h"
#include "rawfile.h"
#include "sinks/speedscope.h"
#include "sinks/stats-sink.h"
#include "speedscope-check.h"
#include "stats/json.h"
#include "stats/stats.h"

#define CHECK(cond)                                                                                    \
	do {                                                                                           \
		if (!(cond)) {                                                                         \
			fprintf(stderr, "fuzz-capture: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                       \
		}                                                                                      \
	} while (0)

/* Heap in use, and its peak, counted by ASan's allocation hooks (every thread: the output files'
 * writers too). Relaxed: plain counters. */
static _Atomic size_t heap_now, heap_peak;

static void on_malloc(const volatile void *p, size_t size)
{
	size_t now = atomic_fetch_add_explicit(&heap_now, size, memory_order_relaxed) + size;
	size_t peak = atomic_load_explicit(&heap_peak, memory_order_relaxed);

	(void)p;
	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&heap_peak, &peak, now, memory_order_relaxed, memory_order_relaxed))
		;
}

static void on_free(const volatile void *p)
{
	atomic_fetch_sub_explicit(&heap_now, __sanitizer_get_allocated_size(p), memory_order_relaxed);
}

/* What a conversion may take beyond what it holds per byte of capture: the output files' buffers
 * (sinks/outfile.h: 16 MiB each, a Chrome file and a raw copy), the statistics model's histograms
 * of span names (4096 at most, 19 KB each) and small fixed tables. */
#define HEAP_FIXED (128u << 20)
/* Per byte of capture: a thread declared in ~20 bytes costs ~5 KB (decode, merge, rebuild). */
#define HEAP_PER_BYTE 1024u

static char dir[64], in_path[128], json_path[128], copy_path[128], json2_path[128], speedscope_path[128];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/rt-fuzz-capture.XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(in_path, sizeof(in_path), "%s/in.rtrace", dir);
	snprintf(json_path, sizeof(json_path), "%s/out.json", dir);
	snprintf(copy_path, sizeof(copy_path), "%s/copy.rtrace", dir);
	snprintf(json2_path, sizeof(json2_path), "%s/copy.json", dir);
	snprintf(speedscope_path, sizeof(speedscope_path), "%s/speedscope.json", dir);
	devnull = fopen("/dev/null", "w");
	CHECK(devnull != NULL);
	CHECK(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0);
	return 0;
}

__attribute__((destructor)) static void cleanup(void)
{
	if (!dir[0])
		return;
	unlink(in_path);
	unlink(json_path);
	unlink(copy_path);
	unlink(json2_path);
	unlink(speedscope_path);
	rmdir(dir);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);
}

/* The whole output file, NULL when there is none. */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		CHECK(errno == ENOENT);
		return NULL;
	}
	CHECK(fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 1);
	CHECK(buf != NULL);
	CHECK(read(fd, buf, (size_t)st.st_size) == st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* The trace events of a Chrome file (otherData holds times of the conversion itself). */
static const char *events(const char *json, size_t len, size_t *n)
{
	const char *end = memmem(json, len, "\n],\n\"displayTimeUnit\"", 21);

	CHECK(end != NULL);
	*n = (size_t)(end - json);
	return json;
}

/* Where two writes of the statistics differ: from a little before the first differing byte, 240 bytes
 * of each (all of it with FUZZ_CAPTURE_VERBOSE=1). */
static void show_difference(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t at = 0, show = getenv("FUZZ_CAPTURE_VERBOSE") ? SIZE_MAX : 240;

	while (at < alen && at < blen && a[at] == b[at])
		at++;
	at = at > 80 ? at - 80 : 0;
	fprintf(stderr, "fuzz-capture: the statistics JSON reads back different (%zu, then %zu bytes):\n"
		"written: %.*s\nagain:   %.*s\n", alen, blen, (int)(alen - at < show ? alen - at : show), a + at,
		(int)(blen - at < show ? blen - at : show), b + at);
}

/* The statistics model as JSON (what `record --stats-file` writes, `diff` reads): valid, read back
 * without complaint, and written again byte for byte. */
static void check_stats(const struct rtc_stats *st)
{
	struct rtc_stats_json_options jo = { 0 };
	struct rtc_stats *back = NULL;
	struct rtc_json j;
	char *buf = NULL, *buf2 = NULL, err[256] = "";
	size_t len = 0, len2 = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f && rtc_stats_write_json(st, &jo, f) == 0 && fclose(f) == 0);
	rtc_json_init(&j, buf, len);
	CHECK(rtc_json_skip(&j) == 0 && rtc_json_finish(&j) == 0);
	if (rtc_stats_read_json(buf, len, NULL, &back, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz-capture: the statistics JSON does not read back: %s\n", err);
		abort();
	}
	f = open_memstream(&buf2, &len2);
	CHECK(f && rtc_stats_write_json(back, &jo, f) == 0 && fclose(f) == 0);
	if (len != len2 || memcmp(buf, buf2, len) != 0) {
		show_difference(buf, len, buf2, len2);
		abort();
	}
	rtc_stats_destroy(back);
	free(buf);
	free(buf2);
}

/* Convert `in` to json (and a raw copy, and our statistics model, when asked). */
static int convert(const char *in, const char *json, const char *copy, struct rtc_stats *st)
{
	struct rtc_engine_options o = { 0 };
	struct rtc_engine *e;
	int err;

	o.json_path = json;
	o.raw_path = copy;
	o.log = devnull;
	o.quiet = true;
	e = rtc_engine_create(&o);
	CHECK(e != NULL);
	if (st) {
		struct rtc_sink sp;

		CHECK(rtc_pipeline_subscribe(rtc_engine_pipeline(e), rtc_stats_model_sink(st), 0) > 0);
		/* The speedscope output of the same trace. */
		CHECK(rtc_speedscope_sink_open(speedscope_path, &sp) == 0);
		CHECK(rtc_pipeline_subscribe(rtc_engine_pipeline(e), sp, 0) > 0);
	}
	err = rtc_engine_convert(e, in);
	rtc_engine_report(e, devnull);
	rtc_engine_destroy(e);
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtc_stats *st = rtc_stats_create(NULL);
	uint64_t origin, start;
	char *json, *json2, why[256];
	size_t len = 0, len2 = 0, n, n2;
	int err, header;

	size_t base;

	CHECK(st != NULL);
	write_file(in_path, data, size);
	base = atomic_load_explicit(&heap_now, memory_order_relaxed);
	atomic_store_explicit(&heap_peak, base, memory_order_relaxed);
	err = convert(in_path, json_path, copy_path, st);
	if (atomic_load_explicit(&heap_peak, memory_order_relaxed) - base > HEAP_FIXED + HEAP_PER_BYTE * size) {
		fprintf(stderr, "fuzz-capture: %zu bytes of capture took %zu bytes of heap\n", size,
			atomic_load_explicit(&heap_peak, memory_order_relaxed) - base);
		abort();
	}
	header = rtc_raw_read_header(in_path, &origin, &start);
	/* Errors are about the input: a capture that is not one, or one that is malformed. */
	CHECK(err == 0 || err == -RT_EBADMAGIC || err == -RT_EABI || err == -RT_ECORRUPT);
	CHECK(header == 0 || err == header);
	json = read_file(json_path, &len);
	/* A capture with a valid header is converted, up to its first malformed message. */
	CHECK((json != NULL) == (header == 0));
	if (!json) {
		rtc_stats_destroy(st);
		return 0;
	}
	if (chrome_check(json, len, why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz-capture: the Chrome JSON is not valid: %s\n", why);
		abort();
	}
	check_stats(st);
	rtc_stats_destroy(st);
	json2 = read_file(speedscope_path, &len2);
	CHECK(json2 != NULL);
	if (speedscope_check(json2, len2, why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz-capture: the speedscope file is not valid: %s\n", why);
		abort();
	}
	free(json2);
	unlink(speedscope_path);
	/* The copy holds what was read (up to the first malformed message): the same trace. */
	CHECK(convert(copy_path, json2_path, NULL, NULL) == 0);
	json2 = read_file(json2_path, &len2);
	CHECK(json2 != NULL);
	events(json, len, &n);
	events(json2, len2, &n2);
	if (n != n2 || memcmp(json, json2, n) != 0) {
		fprintf(stderr, "fuzz-capture: the capture's copy converts to other events\n");
		abort();
	}
	free(json);
	free(json2);
	unlink(json_path);
	unlink(json2_path);
	unlink(copy_path);
	return 0;
}
