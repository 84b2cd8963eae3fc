/* SPDX-License-Identifier: MIT */
/* Fuzz target: real shared-memory segments (a control segment and rings under this process's pid)
 * built from the fuzzer's bytes (segment-image.h), attached, drained and cut short by the consumer
 * as `ringtrace record` does (live.c into processing and a Chrome file). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sanitizer/allocator_interface.h>
#include <stdatomic.h>
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
#ifdef RT_SHM_CONTROL_NAME_FMT
#include "segments.h" /* ABI 1.2: names under a prefix */
#endif

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
#ifdef RT_SHM_PREFIX_VAR
	/* Segments under a prefix of our own: no other consumer on the machine sees them. */
	{
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "rtfuzz%d", (int)getpid());
		setenv(RT_SHM_PREFIX_VAR, prefix, 1);
	}
#endif
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
#ifdef RT_SHM_CONTROL_NAME_FMT
	snprintf(buf, len, RT_SHM_CONTROL_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)getpid());
#else
	snprintf(buf, len, RT_SHM_CONTROL_FMT, (unsigned)geteuid(), (unsigned)getpid());
#endif
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

/* Thread numbers of the first directory slots in use, read from the control image as written
 * (bounds-checked here: the image is whatever the fuzzer made). */
static unsigned slot_numbers(int fd, size_t len, uint64_t *numbers, unsigned max)
{
	struct rt_shm_control h;
	unsigned n = 0;

	if (len < sizeof(h) || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return 0;
	for (uint64_t i = 0; i < h.threads_capacity && i < 4096 && n < max; i++) {
		struct rt_shm_thread_slot slot;
		uint64_t off = h.threads_offset + i * sizeof(slot);

		if (off + sizeof(slot) > len || pread(fd, &slot, sizeof(slot), (off_t)off) != (ssize_t)sizeof(slot))
			break;
		if (atomic_load_explicit(&slot.state, memory_order_relaxed) != RT_SHM_THREAD_FREE)
			numbers[n++] = atomic_load_explicit(&slot.thread_number, memory_order_relaxed);
	}
	return n;
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
static void consume(int ctl_fd, const struct segment_image *img, int *ring_fds, unsigned nrings)
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
			CHECK(ftruncate(ring_fds[k], (off_t)((img->ring_cut - 1) % img->ring_len[k])) == 0);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct segment_image img;
	struct segment_run run;
	char ctl_name[RT_SHM_NAME_MAX_LEN], rings[SEGMENT_IMAGE_RINGS][RT_SHM_NAME_MAX_LEN];
	uint64_t numbers[SEGMENT_IMAGE_RINGS];
	int ctl_fd, ring_fds[SEGMENT_IMAGE_RINGS];
	unsigned nrings;
	size_t off, base;

	if (!segment_image_header(data, size, &img, &off))
		return 0;
	control_name(ctl_name, sizeof(ctl_name));
	ctl_fd = create(ctl_name, img.control_len);
	for (size_t at = off; segment_image_next(data, size, &img, &at, &run);)
		if (run.segment == 0 && run.len)
			CHECK(pwrite(ctl_fd, run.data, run.len, (off_t)run.offset) == (ssize_t)run.len);
	if (!img.foreign)
		adopt(ctl_fd, img.control_len, offsetof(struct rt_shm_control, pid), offsetof(struct rt_shm_control, uid));
	nrings = slot_numbers(ctl_fd, img.control_len, numbers, img.nrings);
	for (unsigned k = 0; k < nrings; k++) {
		ring_name(numbers[k], rings[k], sizeof(rings[k]));
		ring_fds[k] = create(rings[k], img.ring_len[k]);
		for (size_t at = off; segment_image_next(data, size, &img, &at, &run);)
			if (run.segment == k + 1 && run.len)
				CHECK(pwrite(ring_fds[k], run.data, run.len, (off_t)run.offset) == (ssize_t)run.len);
		if (!img.foreign)
			adopt(ring_fds[k], img.ring_len[k], offsetof(struct rt_shm_ring, pid), SIZE_MAX);
	}
	base = atomic_load_explicit(&heap_now, memory_order_relaxed);
	atomic_store_explicit(&heap_peak, base, memory_order_relaxed);
	consume(ctl_fd, &img, ring_fds, nrings);
	if (atomic_load_explicit(&heap_peak, memory_order_relaxed) - base > HEAP_MAX) {
		fprintf(stderr, "fuzz-segment: segments took %zu bytes of heap\n",
			atomic_load_explicit(&heap_peak, memory_order_relaxed) - base);
		abort();
	}
	for (unsigned k = 0; k < nrings; k++) {
		close(ring_fds[k]);
		shm_unlink(rings[k]);
	}
	close(ctl_fd);
	shm_unlink(ctl_name);
	return 0;
}
