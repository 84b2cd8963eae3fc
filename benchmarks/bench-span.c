/* SPDX-License-Identifier: MIT */
/* Producer cost per span (begin+end) disabled, recording in discard mode with a reader draining,
 * and in overwrite mode, on 1 and 2 threads, against baselines measured in the same run.
 * Each configuration runs in a child process (the mode is fixed at library load). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <msgpack.h>

#include <ringtrace/ringtrace.h>

#include "bench-util.h"
#include "encode.h"
#include "producer.h"
#include "ring-reader.h"

#define MAX_THREADS 2

static long spans_per_rep(void)
{
	const char *s = getenv("RT_BENCH_SPANS");

	return s ? atol(s) : 2000000;
}

static int reps(void)
{
	const char *s = getenv("RT_BENCH_REPS");
	int n = s ? atoi(s) : 7;

	return n < 5 ? 5 : n;
}

/* ---- baselines ---- */

static volatile uint64_t sink;

static double base_empty(long n)
{
	double t0 = bench_now_ns();

	for (long i = 0; i < n; i++)
		__asm__ volatile("" ::: "memory");
	return (bench_now_ns() - t0) / (double)n;
}

static double base_rdtsc2(long n)
{
	double t0 = bench_now_ns();
	uint64_t acc = 0;

	for (long i = 0; i < n; i++) {
		uint64_t a = __rdtsc();
		__asm__ volatile("" ::: "memory");
		acc += __rdtsc() - a;
	}
	sink = acc;
	return (bench_now_ns() - t0) / (double)n;
}

static double base_clock2(long n)
{
	double t0 = bench_now_ns();
	struct timespec a, b;
	uint64_t acc = 0;

	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		clock_gettime(CLOCK_MONOTONIC, &b);
		acc += (uint64_t)(b.tv_nsec - a.tv_nsec);
	}
	sink = acc;
	return (bench_now_ns() - t0) / (double)n;
}

/* ---- the measured loop ---- */

struct worker {
	pthread_t th;
	long n;
	double ns_per_span;
	pthread_barrier_t *start;
};

static void *span_loop(void *arg)
{
	struct worker *w = arg;
	double t0;

	rt_thread_register("bench");
	pthread_barrier_wait(w->start);
	t0 = bench_now_ns();
	for (long i = 0; i < w->n; i++) {
		rt_span_begin("bench-span");
		rt_span_end();
	}
	w->ns_per_span = (bench_now_ns() - t0) / (double)w->n;
	return NULL;
}

static unsigned drain_interval_us(void)
{
	const char *s = getenv("RT_BENCH_DRAIN_US");

	return s ? (unsigned)atoi(s) : 1000;
}

/* A consumer thread in the producer process: drains every ring, counting bytes. */
struct drainer {
	struct rtc_producer p;
	pthread_t th;
	_Atomic int stop;
	uint64_t bytes;
	struct {
		int open;
		uint64_t thread_number;
		struct rtc_ring_reader r;
	} rings[64];
};

static void *drain_loop(void *arg)
{
	struct drainer *d = arg;
	struct rtc_thread_info info[64];

	while (!atomic_load(&d->stop)) {
		size_t n = rtc_producer_threads(&d->p, info, 64);

		rtc_producer_heartbeat(&d->p);
		for (size_t i = 0; i < n; i++) {
			unsigned s = info[i].slot % 64;
			struct rtc_ring_chunk c;
			char name[128];

			if (!d->rings[s].open) {
				rtc_producer_ring_name(&d->p, info[i].thread_number, name, sizeof(name));
				if (rtc_ring_reader_open(&d->rings[s].r, name, (uint32_t)getpid()) < 0)
					continue;
				d->rings[s].open = 1;
			}
			while (rtc_ring_reader_next(&d->rings[s].r, &c, NULL, NULL) > 0)
				d->bytes += c.len;
		}
		usleep(drain_interval_us());
	}
	return NULL;
}

/* Child: one configuration, printing "median_ns bytes_per_span dropped" per line. */
static int child(const char *state, int threads)
{
	long n = spans_per_rep();
	int r = reps();
	double per_rep[64];
	struct drainer *d = NULL;
	double bytes_per_span = 0;
	uint64_t lost = 0;

	if (strcmp(state, "recording") == 0) {
		d = calloc(1, sizeof(*d));
		if (!d || rtc_producer_open(&d->p, getpid(), getuid()) < 0 || rtc_producer_attach(&d->p) < 0) {
			fprintf(stderr, "bench: cannot attach to self\n");
			return 1;
		}
		pthread_create(&d->th, NULL, drain_loop, d);
	}
	for (int k = 0; k < r && k < 64; k++) {
		struct worker w[MAX_THREADS];
		pthread_barrier_t start;
		double sum = 0;
		uint64_t b0 = d ? d->bytes : 0;

		pthread_barrier_init(&start, NULL, (unsigned)threads);
		for (int t = 0; t < threads; t++) {
			w[t].n = n;
			w[t].start = &start;
			pthread_create(&w[t].th, NULL, span_loop, &w[t]);
		}
		for (int t = 0; t < threads; t++) {
			pthread_join(w[t].th, NULL);
			sum += w[t].ns_per_span;
		}
		pthread_barrier_destroy(&start);
		per_rep[k] = sum / threads;
		if (d) {
			usleep(20000); /* let the drainer catch up */
			bytes_per_span = (double)(d->bytes - b0) / ((double)n * threads);
		}
	}
	if (d) {
		struct rtc_thread_info info[64];
		size_t nt;

		atomic_store(&d->stop, 1);
		pthread_join(d->th, NULL);
		nt = rtc_producer_threads(&d->p, info, 64);
		(void)nt;
		for (int s = 0; s < 64; s++)
			if (d->rings[s].open) {
				lost += atomic_load(&d->rings[s].r.hdr->dropped);
				rtc_ring_reader_close(&d->rings[s].r);
			}
		rtc_producer_close(&d->p);
	}
	if (strcmp(state, "overwrite") == 0) {
		/* Bytes per span from the ring of a fresh thread. */
		struct rtc_producer p;
		struct rtc_thread_info info[64];
		struct worker w = { .n = n };
		pthread_barrier_t start;

		pthread_barrier_init(&start, NULL, 1);
		w.start = &start;
		if (rtc_producer_open(&p, getpid(), getuid()) == 0) {
			size_t nt;

			pthread_create(&w.th, NULL, span_loop, &w);
			pthread_join(w.th, NULL);
			nt = rtc_producer_threads(&p, info, 64);
			for (size_t i = 0; i < nt; i++) {
				struct rtc_ring_reader rr;
				char name[128];

				rtc_producer_ring_name(&p, info[i].thread_number, name, sizeof(name));
				if (rtc_ring_reader_open(&rr, name, (uint32_t)getpid()) < 0)
					continue;
				if (info[i].thread_number == nt) /* the newest ring: the thread just run */
					bytes_per_span = (double)atomic_load(&rr.hdr->commit_pos) / (double)n;
				rtc_ring_reader_close(&rr);
			}
			rtc_producer_close(&p);
		}
		pthread_barrier_destroy(&start);
	}
	printf("%.3f %.2f %" PRIu64 "\n", bench_median(per_rep, r < 64 ? r : 64), bytes_per_span, lost);
	return 0;
}

struct result {
	double ns, bytes;
	uint64_t lost;
};

static int run_child(const char *self, const char *state, int threads, struct result *res)
{
	char cmd[1024];
	FILE *f;
	int ok;

	snprintf(cmd, sizeof(cmd), "RINGTRACE_MODE=%s %s --child %s %d",
		 strcmp(state, "overwrite") == 0 ? "overwrite" : "discard", self, state, threads);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%lf %lf %" SCNu64, &res->ns, &res->bytes, &res->lost) == 3;
	return pclose(f) == 0 && ok ? 0 : -1;
}

/* The encoding choice docs/format.md explains: the hand-written encoder libtrace uses against
 * msgpack-c's packer with a write callback into the same buffer, both encoding span-begin records
 * back to back. */
struct slot {
	uint8_t *p;
};

static int slot_write(void *data, const char *buf, size_t len)
{
	struct slot *s = data;

	memcpy(s->p, buf, len);
	s->p += len;
	return 0;
}

static void encoders(long n, double *hand, double *packer)
{
	static uint8_t area[1 << 20];
	uint8_t *end = area + sizeof(area) - 64;
	double a[7], b[7];

	for (int k = 0; k < 7; k++) {
		uint8_t *p = area;
		struct slot sl = { area };
		msgpack_packer pk;
		double t0 = bench_now_ns();

		for (long i = 0; i < n; i++) {
			p = rt_mp_array(p, 3);
			*p++ = 4;
			p = rt_mp_uint(p, 300 + (uint64_t)(i * 7 & 0x3fff));
			p = rt_mp_uint(p, (uint64_t)(i & 3) + 5);
			if (p > end)
				p = area;
		}
		a[k] = (bench_now_ns() - t0) / (double)n;
		sink = (uint64_t)(p - area);
		msgpack_packer_init(&pk, &sl, slot_write);
		t0 = bench_now_ns();
		for (long i = 0; i < n; i++) {
			msgpack_pack_array(&pk, 3);
			msgpack_pack_uint64(&pk, 4);
			msgpack_pack_uint64(&pk, 300 + (uint64_t)(i * 7 & 0x3fff));
			msgpack_pack_uint64(&pk, (uint64_t)(i & 3) + 5);
			if (sl.p > end)
				sl.p = area;
		}
		b[k] = (bench_now_ns() - t0) / (double)n;
		sink = (uint64_t)(sl.p - area);
	}
	*hand = bench_median(a, 7);
	*packer = bench_median(b, 7);
}

int main(int argc, char **argv)
{
	static const char *states[] = { "disabled", "recording", "overwrite" };
	long n = spans_per_rep();
	double e[9], r2[9], c2[9], empty, rdtsc2, clock2, hand, packer;
	struct result res[3][MAX_THREADS + 1], packer_lib[MAX_THREADS + 1];

	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return child(argv[2], atoi(argv[3]));

	for (int k = 0; k < 9; k++) {
		e[k] = base_empty(n);
		r2[k] = base_rdtsc2(n);
		c2[k] = base_clock2(n / 4);
	}
	empty = bench_median(e, 9);
	rdtsc2 = bench_median(r2, 9);
	clock2 = bench_median(c2, 9);
	for (int s = 0; s < 3; s++)
		for (int t = 1; t <= MAX_THREADS; t++)
			if (run_child(argv[0], states[s], t, &res[s][t]) < 0) {
				fprintf(stderr, "bench: configuration %s/%d failed\n", states[s], t);
				return 1;
			}
	encoders(n, &hand, &packer);
	{
		/* The whole library built with the hand-written encoder, same configurations. */
		char alt[900];

		snprintf(alt, sizeof(alt), "%s-hand", argv[0]);
		for (int t = 1; t <= MAX_THREADS; t++)
			if (access(alt, X_OK) != 0 || run_child(alt, "overwrite", t, &packer_lib[t]) < 0)
				packer_lib[t].ns = 0;
	}

	printf("ringtrace span benchmark: %ld spans per repetition, median of %d repetitions\n", n, reps());
	printf("baselines (same run): empty loop %.2f ns, two rdtsc %.2f ns, two clock_gettime %.2f ns\n", empty,
	       rdtsc2, clock2);
	printf("%-22s %8s %12s %14s %10s %12s\n", "state", "threads", "ns/span", "x two rdtsc", "bytes/span",
	       "lost");
	for (int s = 0; s < 3; s++)
		for (int t = 1; t <= MAX_THREADS; t++)
			printf("%-22s %8d %12.2f %14.2f %10.2f %12" PRIu64 "\n",
			       s == 0 ? "disabled" : s == 1 ? "recording (discard)" : "overwrite", t, res[s][t].ns,
			       res[s][t].ns / rdtsc2, res[s][t].bytes, res[s][t].lost);
	for (int s = 0; s < 3; s++)
		printf("2 threads vs 1, %-10s %+.1f%%\n", states[s], 100.0 * (res[s][2].ns / res[s][1].ns - 1));
	printf("record encoding alone (tight loop): rt_mp_* (msgpack-c packer per field) %.2f ns, one msgpack-c packer "
	       "object %.2f ns\n", hand, packer);
	for (int t = 1; t <= MAX_THREADS; t++)
		if (packer_lib[t].ns > 0)
			printf("library built with a hand-written encoder, overwrite, %d thread(s): %.2f ns/span (x%.2f of "
			       "the msgpack-c packer library above)\n", t, packer_lib[t].ns, packer_lib[t].ns / res[2][t].ns);
	return 0;
}
