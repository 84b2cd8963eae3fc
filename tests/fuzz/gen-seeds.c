/* SPDX-License-Identifier: MIT */
/* Seed generator for the fuzz targets: real captures recorded by the in-process engine from real
 * producer threads (one scenario per child process, each with its own environment), their chunks,
 * and the real shared-memory segments of such a process (segment-image.h's sparse form). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "engine.h"
#include "producer.h"
#include "rawfile.h"
#include "record.h"
#include "segment-image.h"
#include "segments.h"

/* Seeds are kept small: the targets' -max_len, and a few KB in the repository each. */
#define RECORD_SEED_MAX 4096
#define CAPTURE_SEED_MAX 16384

struct scenario {
	const char *name;
	const char *env[4];
	unsigned poll_us;
	void (*run)(void);
	void (*before)(void); /* before the consumer attaches (may be NULL) */
	bool segments;        /* also dump this process's segments as a segment seed */
	bool no_engine;       /* no consumer: the records stay in the rings (RECORD_FROM_START) */
};

static atomic_int stop;
static struct rtc_engine *engine;

static void *drain(void *arg)
{
	(void)arg;
	rtc_engine_run(engine, &stop);
	return NULL;
}

/* ---- what the producer threads do ---- */

static void nested(int depth)
{
	RT_SPAN("nested");
	if (depth > 0)
		nested(depth - 1);
}

static void *worker(void *arg)
{
	struct rt_context *ctx = arg;
	struct rt_context before = rt_context_adopt(*ctx);

	rt_thread_set_name("worker \xc3\xa9\x01\"q\"");
	{
		RT_SPAN("job");
		rt_log("work", "job for %d", 7);
	}
	rt_context_adopt(before);
	return NULL;
}

static void spans_tasks_logs(void)
{
	struct rt_task t = rt_task_begin("request");
	struct rt_context ctx;
	pthread_t th;

	rt_thread_set_name("main");
	for (int i = 0; i < 6; i++) {
		RT_SPAN("parse");
		nested(i % 4);
		rt_log("http", "queued %d", i);
	}
	ctx = rt_context_current();
	pthread_create(&th, NULL, worker, &ctx);
	pthread_join(th, NULL);
	rt_task_end(t);
}

static void *inherit_child(void *arg)
{
	(void)arg;
	RT_SPAN("child");
	return NULL;
}

static void inherited_threads(void)
{
	RT_TASK("parent");
	pthread_t th[3];

	for (int i = 0; i < 3; i++)
		rt_thread_create(&th[i], NULL, inherit_child, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
}

static void misuse(void)
{
	struct rt_task t = rt_task_begin("twice");

	rt_span_end(); /* nothing open */
	rt_task_end(t);
	rt_task_end(t);
	rt_span_begin(NULL);
	rt_span_end();
	{
		char longname[400];

		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		rt_span_begin(longname);
		rt_span_end();
	}
}

/* Far more than one small ring holds between two polls: losses (discard) or overwrites. */
static void burst(void)
{
	for (int i = 0; i < 3000; i++) {
		RT_SPAN("burst");
	}
	rt_log("burst", "done");
}

/* More threads than the control segment's directory holds (ABI 1.2: 256): an extension. */
static void *one_span(void *arg)
{
	(void)arg;
	RT_SPAN("thread");
	return NULL;
}

static void many_threads(void)
{
	enum { N = 300 };
	static pthread_t th[N];

	for (int i = 0; i < N; i++)
		pthread_create(&th[i], NULL, one_span, NULL);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
}

static void deep(void)
{
	nested(70); /* deeper than the open-span stack keeps */
}

/* Open before the consumer attaches: a STACK record and an open task in the capture. */
static struct rt_task late_task;

static void open_before(void)
{
	late_task = rt_task_begin("before-attach");
	rt_span_begin("outer");
	rt_span_begin("inner");
}

static void close_after(void)
{
	{
		RT_SPAN("after");
	}
	rt_span_end();
	rt_span_end();
	rt_task_end(late_task);
}

static const struct scenario scenarios[] = {
	{ "basic", { NULL }, 1000, spans_tasks_logs, NULL, false, false },
	{ "monotonic", { "RINGTRACE_CLOCK=monotonic", NULL }, 1000, spans_tasks_logs, NULL, false, false },
	{ "inherit", { NULL }, 1000, inherited_threads, NULL, false, false },
	{ "misuse", { NULL }, 1000, misuse, NULL, false, false },
	{ "loss", { "RINGTRACE_BUFFER_SIZE=16K", "RINGTRACE_SUBBUFS=2", NULL }, 300000, burst, NULL, false, false },
	{ "overwrite", { "RINGTRACE_BUFFER_SIZE=16K", "RINGTRACE_SUBBUFS=2", "RINGTRACE_MODE=overwrite", NULL }, 300000,
	  burst, NULL, false, false },
	{ "deep", { NULL }, 1000, deep, NULL, false, false },
	{ "late", { "RINGTRACE_TRACK_SPANS=1", NULL }, 1000, close_after, open_before, true, false },
	/* Segments only (no capture): rings holding records no consumer read yet. */
	{ "segments", { "RINGTRACE_RECORD_FROM_START=1", "RINGTRACE_BUFFER_SIZE=16K", "RINGTRACE_SUBBUFS=2", NULL },
	  1000, spans_tasks_logs, NULL, true, true },
	{ "segments-overwrite",
	  { "RINGTRACE_MODE=overwrite", "RINGTRACE_BUFFER_SIZE=16K", "RINGTRACE_SUBBUFS=2", NULL },
	  1000, burst, NULL, true, true },
	{ "segments-attached", { "RINGTRACE_BUFFER_SIZE=16K", "RINGTRACE_SUBBUFS=2", NULL }, 1000, spans_tasks_logs,
	  NULL, true, false },
	{ "segments-many-threads", { "RINGTRACE_RECORD_FROM_START=1", "RINGTRACE_BUFFER_SIZE=16K", "RINGTRACE_SUBBUFS=2",
	  NULL }, 1000, many_threads, NULL, true, true },
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static int write_seed(const char *dir, const void *p, size_t n);
static const char *segment_dir;

/* This process's control segment and its first rings, read from /dev/shm, as a segment seed. */
static void *read_shm(const char *name, size_t *len)
{
	char path[300];
	struct stat st;
	void *buf;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return NULL; /* a ring drained and removed meanwhile */
	if (fd < 0 || fstat(fd, &st) < 0 || !(buf = calloc(1, (size_t)st.st_size + 1)) ||
	    pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		fprintf(stderr, "gen-seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void dump_segments(const char *dir)
{
	struct rtc_producer p;
	struct rtc_thread_info info[SEGMENT_IMAGE_RINGS];
	struct segment_image img = { 0 };
	size_t dir_len[SEGMENT_IMAGE_DIRS] = { 0 }, longest = 0;
	char ring[300];
	size_t n;
	int err = rtc_producer_open(&p, getpid(), getuid());

	if (err < 0) {
		fprintf(stderr, "gen-seeds: own control segment: %s\n", strerror(-err));
		exit(1);
	}
	img.control = read_shm(p.shm_name, &img.control_len);
	if (!img.control)
		exit(1);
	n = rtc_producer_threads(&p, info, SEGMENT_IMAGE_RINGS);
	for (size_t i = 0; i < n; i++) {
		rtc_producer_ring_name(&p, info[i].thread_number, ring, sizeof(ring));
		img.ring[img.nrings] = read_shm(ring, &img.ring_len[img.nrings]);
		if (img.ring[img.nrings])
			img.nrings++;
	}
	/* Thread directory extensions (ABI 1.2), named by their salts in the control segment. */
	{
		const struct rt_shm_control *h = (const void *)img.control;
		uint32_t count = atomic_load_explicit(&h->dir_ext_count, memory_order_relaxed);

		for (uint32_t k = 0; k < count && k < SEGMENT_IMAGE_DIRS; k++) {
			uint64_t salt;
			char name[300];

			memcpy(&salt, img.control + h->dir_ext_offset + 8 * k, 8);
			snprintf(name, sizeof(name), RT_SHM_DIR_NAME_FMT, rtc_shm_prefix(), (unsigned)p.uid,
				 (unsigned)p.pid, k, salt);
			img.dir[img.ndirs] = read_shm(name, &dir_len[img.ndirs]);
			if (img.dir[img.ndirs])
				img.ndirs++;
		}
	}
	rtc_producer_close(&p);
	/* Rings and extensions share one length in the image: pad to the longest. */
	for (unsigned k = 0; k < img.nrings + img.ndirs; k++) {
		size_t len = k < img.nrings ? img.ring_len[k] : dir_len[k - img.nrings];

		if (len > longest)
			longest = len;
	}
	for (unsigned k = 0; k < img.nrings + img.ndirs; k++) {
		uint8_t **seg = k < img.nrings ? &img.ring[k] : &img.dir[k - img.nrings];
		size_t len = k < img.nrings ? img.ring_len[k] : dir_len[k - img.nrings];
		uint8_t *padded = calloc(1, longest);

		if (!padded)
			exit(1);
		memcpy(padded, *seg, len);
		free(*seg);
		*seg = padded;
	}
	img.ring_len[0] = longest;
	{
		size_t len;
		uint8_t *seed = segment_image_encode(&img, &len);

		if (!seed || write_seed(dir, seed, len) < 0)
			exit(1);
		printf("segments: %zu bytes of seed for %zu + %zu bytes of segments\n", len, img.control_len,
		       img.nrings ? img.ring_len[0] : 0);
		free(seed);
	}
	free(img.control);
	for (unsigned i = 0; i < img.nrings; i++)
		free(img.ring[i]);
	for (unsigned i = 0; i < img.ndirs; i++)
		free(img.dir[i]);
}

/* In the child: record the scenario with the engine in this very process. */
static int record(const struct scenario *s, const char *raw)
{
	struct rtc_engine_options o = { 0 };
	pthread_t c;

	o.raw_path = raw;
	o.self = getpid();
	o.poll_us = s->poll_us;
	o.quiet = true;
	o.no_stats = true;
	if (s->before)
		s->before();
	if (s->no_engine) {
		s->run();
		dump_segments(segment_dir);
		return 0;
	}
	engine = rtc_engine_create(&o);
	if (!engine || rtc_engine_attach(engine, getpid()) < 0)
		return 1;
	pthread_create(&c, NULL, drain, NULL);
	usleep(50000); /* attached and polling */
	s->run();
	if (s->segments && segment_dir)
		dump_segments(segment_dir);
	usleep(2 * s->poll_us + 50000);
	atomic_store(&stop, 1);
	pthread_join(c, NULL);
	rtc_engine_destroy(engine);
	return 0;
}

/* ---- seeds from the captures ---- */

static uint64_t fnv(const void *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
	return h;
}

/* A file named after its content, as libFuzzer names corpus files (no extension). */
static int write_seed(const char *dir, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%016llx", dir, (unsigned long long)fnv(p, n));
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		fprintf(stderr, "gen-seeds: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static const char *record_dir;
static unsigned record_seeds;

/* A (cut) chunk's records: a record seed. */
static void on_chunk(void *ctx, const struct rtc_stream_chunk *c)
{
	(void)ctx;
	if (c->len && c->len <= RECORD_SEED_MAX && record_seeds < 64 && write_seed(record_dir, c->data, c->len) == 0)
		record_seeds++;
}

/* The capture again with each chunk cut to its first CHUNK_KEEP bytes (at a record boundary):
 * what is interesting about a chunk (a LOSS record after a full ring, overwrite counts in the
 * chunk message) is at its start, and the seeds stay small. */
#define CHUNK_KEEP 1024
static struct rtc_raw_writer *trim_out;

#define PASS(op, ...) rtc_raw_writer_ops()->op(trim_out, __VA_ARGS__)
static void t_process(void *c, const struct rtc_stream_process *m) { (void)c; PASS(process, m); }
static void t_name(void *c, uint32_t p, uint32_t id, const char *s, size_t n) { (void)c; PASS(name, p, id, s, n); }
static void t_calib(void *c, uint32_t p, const struct rt_shm_calib_point *pt) { (void)c; PASS(calib, p, pt); }
static void t_thread(void *c, const struct rtc_stream_thread *m) { (void)c; PASS(thread, m); }
static void t_watermark(void *c, uint64_t ns) { (void)c; PASS(watermark, ns); }
static void t_thread_done(void *c, uint32_t t, uint64_t ts, uint64_t l) { (void)c; PASS(thread_done, t, ts, l); }
static void t_task(void *c, const struct rtc_stream_task *m) { (void)c; PASS(task, m); }
static void t_counts(void *c, const struct rtc_stream_counts *m) { (void)c; PASS(counts, m); }
static void t_gap(void *c, const struct rtc_stream_gap *m) { (void)c; PASS(gap, m); }
static void t_stack(void *c, const struct rtc_stream_stack *m) { (void)c; PASS(stack, m); }
static void t_end(void *c, uint64_t ns) { (void)c; PASS(end, ns); }

static void t_chunk(void *ctx, const struct rtc_stream_chunk *c)
{
	struct rtc_stream_chunk cut = *c;
	struct rtc_decoder d;
	struct rtc_record rec;
	size_t end = 0;

	rtc_decoder_reset(&d, c->data, c->len, 0);
	while (rtc_decoder_next(&d, &rec) == 1 && d.off <= CHUNK_KEEP)
		end = d.off;
	if (c->len > CHUNK_KEEP) {
		cut.len = end;
		if (cut.skip > end)
			cut.skip = (uint32_t)end;
	}
	on_chunk(ctx, &cut);
	PASS(chunk, &cut);
}

static const struct rtc_stream_ops trim_ops = {
	.process = t_process, .name = t_name, .calib = t_calib, .thread = t_thread, .chunk = t_chunk,
	.watermark = t_watermark, .thread_done = t_thread_done, .task = t_task, .counts = t_counts,
	.gap = t_gap, .stack = t_stack, .end = t_end,
};

static int seeds_from(const char *raw, const char *trimmed, const char *capture_dir)
{
	static char buf[CAPTURE_SEED_MAX + 1];
	uint64_t origin, start;
	FILE *f;
	size_t n;

	if (rtc_raw_read_header(raw, &origin, &start) < 0 || !(trim_out = rtc_raw_writer_open(trimmed, origin, start)))
		return -1;
	if (rtc_raw_read(raw, &trim_ops, NULL, NULL) < 0 || rtc_raw_writer_close(trim_out, true) < 0)
		return -1;
	f = fopen(trimmed, "rb");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	unlink(trimmed);
	if (n > CAPTURE_SEED_MAX) {
		fprintf(stderr, "gen-seeds: %s is over %d bytes: not a seed\n", trimmed, CAPTURE_SEED_MAX);
		return -1;
	}
	return write_seed(capture_dir, buf, n);
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/rt-gen-seeds.XXXXXX", dir[4096], seg[4096], raw[4200];

	if (argc == 5 && strcmp(argv[1], "--scenario") == 0) {
		segment_dir = argv[4];
		return record(&scenarios[atoi(argv[2])], argv[3]);
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus: writes capture/ and record/ in it)\n", argv[0]);
		return 2;
	}
	if (!mkdtemp(tmp))
		return 1;
	/* The scenarios' segments under a prefix of their own (ABI 1.2): no other consumer sees them. */
	{
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "rtseeds%d", (int)getpid());
		setenv("RINGTRACE_SHM_PREFIX", prefix, 1);
	}
	snprintf(dir, sizeof(dir), "%s/capture", argv[1]);
	mkdir(dir, 0777);
	snprintf(seg, sizeof(seg), "%s/segment", argv[1]);
	mkdir(seg, 0777);
	snprintf(dir, sizeof(dir), "%s/record", argv[1]);
	mkdir(dir, 0777);
	record_dir = dir;
	for (size_t i = 0; i < NSCENARIOS; i++) {
		char capture_dir[4096], trimmed[4300], idx[16];
		pid_t pid;
		int status;

		snprintf(raw, sizeof(raw), "%s/%s.rtrace", tmp, scenarios[i].name);
		snprintf(idx, sizeof(idx), "%zu", i);
		pid = fork();
		if (pid == 0) {
			for (int k = 0; scenarios[i].env[k]; k++)
				putenv((char *)scenarios[i].env[k]);
			/* Re-executed: the library reads its environment when it loads. */
			execl("/proc/self/exe", argv[0], "--scenario", idx, raw, seg, (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "gen-seeds: scenario %s failed\n", scenarios[i].name);
			return 1;
		}
		if (scenarios[i].no_engine)
			continue; /* no capture */
		snprintf(capture_dir, sizeof(capture_dir), "%s/capture", argv[1]);
		snprintf(trimmed, sizeof(trimmed), "%s.trimmed", raw);
		if (seeds_from(raw, trimmed, capture_dir) < 0) {
			fprintf(stderr, "gen-seeds: scenario %s: no seed\n", scenarios[i].name);
			return 1;
		}
		printf("%s: %s\n", scenarios[i].name, raw);
		unlink(raw);
	}
	rmdir(tmp);
	printf("%u record seeds\n", record_seeds);
	return 0;
}
