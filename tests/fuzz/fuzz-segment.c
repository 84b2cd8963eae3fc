/* SPDX-License-Identifier: MIT */
/* Fuzz target: real shared-memory segments (a control segment, rings and directory extensions under
 * this process's pid) built from the fuzzer's bytes (segment-image.h), attached, drained and cut
 * short by the consumer as `ringtrace record` does (live.c into processing and a Chrome file). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sanitizer/allocator_interface.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include <ringtrace/ringtrace.h>

#include "chrome-check.h"
#include "live.h"
#include "pipeline.h"
#include "processor.h"
#include "producer.h"
#include "segment-image.h"
#include "sinks/chrome.h"
#include "segments.h"

#define CHECK(cond)                                                                                    \
	do {                                                                                           \
		if (!(cond)) {                                                                         \
			fprintf(stderr, "fuzz-segment: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                       \
		}                                                                                      \
	} while (0)

/* Heap in use and its peak (ASan's allocation hooks, every thread). Relaxed: plain counters. */
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

/* What draining may hold whatever segments claim: a copy of one sub-buffer per ring (16 MiB at
 * most each, docs/format.md), the output file's buffers (16 MiB) and the statistics' tables. */
#define HEAP_MAX (256u << 20)

static char json_path[128];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	/* Segments under a prefix of our own: no other consumer on the machine sees them. */
	{
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "rtfuzz%d", (int)getpid());
		setenv(RT_SHM_PREFIX_VAR, prefix, 1);
	}
	snprintf(json_path, sizeof(json_path), "%s/rt-fuzz-segment.%d.json", tmp && strlen(tmp) < 64 ? tmp : "/tmp",
		 (int)getpid());
	devnull = getenv("FUZZ_SEGMENT_VERBOSE") ? stderr : fopen("/dev/null", "w");
	CHECK(devnull != NULL);
	CHECK(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0);
	urcu_memb_register_thread();
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The names the consumer will look for: our pid's control segment and its threads' rings. */
static void control_name(char *buf, size_t len)
{
	snprintf(buf, len, RT_SHM_CONTROL_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)getpid());
}

static void ring_name(uint64_t thread_number, char *buf, size_t len)
{
	struct rtc_producer p;

	memset(&p, 0, sizeof(p));
	p.pid = getpid();
	p.uid = geteuid();
	control_name(p.shm_name, sizeof(p.shm_name));
	rtc_producer_ring_name(&p, thread_number, buf, len);
}

static int create(const char *name, size_t len)
{
	int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 && errno == EEXIST) {
		shm_unlink(name);
		fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	}
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)len) == 0);
	return fd;
}

/* Our pid (and uid) where the segment says whose it is. */
static void adopt(int fd, size_t len, size_t pid_off, size_t uid_off)
{
	uint32_t pid = (uint32_t)getpid(), uid = (uint32_t)geteuid();

	if (pid_off + 4 <= len)
		CHECK(pwrite(fd, &pid, 4, (off_t)pid_off) == 4);
	if (uid_off != SIZE_MAX && uid_off + 4 <= len)
		CHECK(pwrite(fd, &uid, 4, (off_t)uid_off) == 4);
}

/* Thread numbers of the directory slots in use at [offset, offset + capacity slots) of a segment
 * image as written (bounds-checked here: the image is whatever the fuzzer made), appended to
 * numbers (n of max so far). */
static unsigned slot_numbers(int fd, size_t len, uint64_t offset, uint64_t capacity, uint64_t *numbers, unsigned n,
			     unsigned max)
{
	for (uint64_t i = 0; i < capacity && i < 4096 && n < max; i++) {
		struct rt_shm_thread_slot slot;
		uint64_t off = offset + i * sizeof(slot);

		if (off + sizeof(slot) > len || pread(fd, &slot, sizeof(slot), (off_t)off) != (ssize_t)sizeof(slot))
			break;
		if (atomic_load_explicit(&slot.state, memory_order_relaxed) != RT_SHM_THREAD_FREE)
			numbers[n++] = atomic_load_explicit(&slot.thread_number, memory_order_relaxed);
	}
	return n;
}

static bool control_header(int fd, size_t len, struct rt_shm_control *h)
{
	return len >= sizeof(*h) && pread(fd, h, sizeof(*h), 0) == (ssize_t)sizeof(*h);
}

/* The name of directory extension k as the consumer builds it, from the control image's salts
 * (ABI 1.2). False when the image announces none. */
static bool dir_name(int ctl_fd, size_t ctl_len, unsigned k, char *buf, size_t len)
{
	struct rt_shm_control h;
	uint64_t salt, off;

	if (!control_header(ctl_fd, ctl_len, &h) || k >= h.dir_ext_max)
		return false;
	off = h.dir_ext_offset + 8ull * k;
	if (off + 8 > ctl_len || pread(ctl_fd, &salt, 8, (off_t)off) != 8)
		return false;
	snprintf(buf, len, RT_SHM_DIR_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)getpid(), k, salt);
	return true;
}

static void check_json(void)
{
	struct stat st;
	char *buf, why[256];
	int fd = open(json_path, O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 1);
	CHECK(buf && read(fd, buf, (size_t)st.st_size) == st.st_size);
	close(fd);
	if (chrome_check(buf, (size_t)st.st_size, why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz-segment: the Chrome JSON is not valid: %s\n", why);
		abort();
	}
	free(buf);
	unlink(json_path);
}

/* Attach, drain, cut the segments short as asked, drain again, finish: as `record` does. */
static void consume(int ctl_fd, const struct segment_image *img, int *fds, unsigned nrings, unsigned ndirs)
{
	struct rtc_live_options lo = { .log = devnull };
	struct rtc_trace_info info = { .clock = "see otherData", .host = "fuzz", .tool = "fuzz-segment", .live = true };
	struct rtc_summary summary;
	struct rtc_pipeline *pipe = rtc_pipeline_create();
	struct rtc_processor *proc;
	struct rtc_live *live;
	struct rtc_live_poll res;
	struct rtc_sink sink;

	CHECK(pipe != NULL);
	CHECK(rtc_chrome_sink_open(json_path, &sink) == 0);
	CHECK(rtc_pipeline_subscribe(pipe, sink, 0) > 0);
	proc = rtc_processor_create(pipe, devnull);
	CHECK(proc != NULL);
	live = rtc_live_create(&lo, rtc_processor_ops(), proc);
	CHECK(live != NULL);
	info.origin_ns = info.attach_ns = mono_ns();
	rtc_processor_begin(proc, &info);
	if (rtc_live_attach(live, getpid()) == 0) {
		for (int i = 0; i < 2; i++)
			rtc_live_poll(live, true, &res);
		/* A producer that dies or misbehaves truncates its segments under the consumer. */
		if (img->control_cut)
			CHECK(ftruncate(ctl_fd, (off_t)((img->control_cut - 1) % img->control_len)) == 0);
		for (unsigned k = 0; img->ring_cut && k < nrings; k++)
			CHECK(ftruncate(fds[k], (off_t)((img->ring_cut - 1) % img->ring_len[k])) == 0);
		for (unsigned k = 0; img->ring_cut && k < ndirs; k++)
			CHECK(ftruncate(fds[SEGMENT_IMAGE_RINGS + k], (off_t)((img->ring_cut - 1) % img->ring_len[0])) == 0);
		for (int i = 0; i < 2; i++)
			rtc_live_poll(live, true, &res);
	}
	rtc_live_finish(live, mono_ns());
	memset(&summary, 0, sizeof(summary));
	rtc_processor_finish(proc, 0, &summary);
	if (getenv("FUZZ_SEGMENT_VERBOSE"))
		fprintf(stderr, "fuzz-segment: %u rings, %llu records, %llu spans, %llu threads\n", nrings, (unsigned long long)summary.records, (unsigned long long)summary.spans, (unsigned long long)summary.threads);
	CHECK(rtc_pipeline_close(pipe, true, NULL, NULL) == 0);
	rtc_live_destroy(live);
	rtc_processor_destroy(proc);
	rtc_pipeline_destroy(pipe);
	check_json();
}

/* Create segment `name` of len bytes from the image's runs for `segment`. */
static int build(const uint8_t *data, size_t size, const struct segment_image *img, size_t off, unsigned segment,
		 const char *name, size_t len)
{
	struct segment_run run;
	int fd = create(name, len);

	for (size_t at = off; segment_image_next(data, size, img, &at, &run);)
		if (run.segment == segment && run.len)
			CHECK(pwrite(fd, run.data, run.len, (off_t)run.offset) == (ssize_t)run.len);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct segment_image img;
	struct rt_shm_control h;
	char ctl_name[RT_SHM_NAME_MAX_LEN], rings[SEGMENT_IMAGE_RINGS][RT_SHM_NAME_MAX_LEN];
	char dirs[SEGMENT_IMAGE_DIRS][RT_SHM_NAME_MAX_LEN];
	uint64_t numbers[SEGMENT_IMAGE_RINGS];
	/* Rings first, then directory extensions: all are cut short by ring_cut. */
	int ctl_fd, fds[SEGMENT_IMAGE_RINGS + SEGMENT_IMAGE_DIRS];
	unsigned nrings = 0, ndirs = 0;
	size_t off, base;

	if (!segment_image_header(data, size, &img, &off))
		return 0;
	control_name(ctl_name, sizeof(ctl_name));
	ctl_fd = build(data, size, &img, off, 0, ctl_name, img.control_len);
	if (!img.foreign)
		adopt(ctl_fd, img.control_len, offsetof(struct rt_shm_control, pid), offsetof(struct rt_shm_control, uid));
	if (control_header(ctl_fd, img.control_len, &h))
		nrings = slot_numbers(ctl_fd, img.control_len, h.threads_offset, h.threads_capacity, numbers, 0,
				      img.nrings);
	while (ndirs < img.ndirs && dir_name(ctl_fd, img.control_len, ndirs, dirs[ndirs], sizeof(dirs[0]))) {
		int fd = build(data, size, &img, off, img.nrings + 1 + ndirs, dirs[ndirs], img.ring_len[0]);
		struct rt_shm_dir_ext x;

		if (!img.foreign)
			adopt(fd, img.ring_len[0], offsetof(struct rt_shm_dir_ext, pid), SIZE_MAX);
		/* Threads in the extension have rings too. */
		if (pread(fd, &x, sizeof(x), 0) == (ssize_t)sizeof(x))
			nrings = slot_numbers(fd, img.ring_len[0], x.slots_offset, x.capacity, numbers, nrings, img.nrings);
		fds[SEGMENT_IMAGE_RINGS + ndirs++] = fd;
	}
	for (unsigned k = 0; k < nrings; k++) {
		ring_name(numbers[k], rings[k], sizeof(rings[k]));
		fds[k] = build(data, size, &img, off, k + 1, rings[k], img.ring_len[k]);
		if (!img.foreign)
			adopt(fds[k], img.ring_len[k], offsetof(struct rt_shm_ring, pid), SIZE_MAX);
	}
	base = atomic_load_explicit(&heap_now, memory_order_relaxed);
	atomic_store_explicit(&heap_peak, base, memory_order_relaxed);
	consume(ctl_fd, &img, fds, nrings, ndirs);
	if (atomic_load_explicit(&heap_peak, memory_order_relaxed) - base > HEAP_MAX) {
		fprintf(stderr, "fuzz-segment: segments took %zu bytes of heap\n",
			atomic_load_explicit(&heap_peak, memory_order_relaxed) - base);
		abort();
	}
	for (unsigned k = 0; k < nrings; k++) {
		close(fds[k]);
		shm_unlink(rings[k]);
	}
	for (unsigned k = 0; k < ndirs; k++) {
		close(fds[SEGMENT_IMAGE_RINGS + k]);
		shm_unlink(dirs[k]);
	}
	close(ctl_fd);
	shm_unlink(ctl_name);
	return 0;
}
